/* harness.h - a tiny controller for the agent tests: a libuv TCP server on loopback that
 * accepts one agent connection at a time, decodes its frames into a queue, and lets a test wait
 * for a message (or a report that satisfies a predicate) with a timeout. Runs on the test's
 * thread; the agent under test runs on its own thread with its own loop. */
#ifndef AGENT_TEST_HARNESS_H
#define AGENT_TEST_HARNESS_H

#include <stdbool.h>
#include <uv.h>

#include "agent.h"
#include "proto.h"

typedef struct srv {
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_timer_t tick;
    int port;
    uv_tcp_t *client; /* current connection, NULL when none */
    int accepted;     /* connections accepted so far */
    proto_reader reader;
    proto_msg *queue;
    size_t n_queue, cap_queue, head;
    bool peer_closed;
    bool no_lease; /* do not answer heartbeats with a lease (a partition) */
    proto_msg last_report; /* copy of the newest report taken from the queue (type 0: none) */
} srv;

int srv_init(srv *s);
/* Same on a given loopback port (0: any); on failure nothing is left open. */
int srv_init_port(srv *s, int port);
void srv_free(srv *s);
/* Runs the loop until a (new) connection arrives; false on timeout. */
bool srv_wait_client(srv *s, int accepted_before, int timeout_ms);
/* Next message of `type`, dropping others; false on timeout. Caller frees *out. */
bool srv_expect(srv *s, proto_type type, int timeout_ms, proto_msg *out);
/* Waits until the agent's latest reported state satisfies pred(report, arg): the newest report
 * already seen is checked first, then new ones as they arrive. False on timeout. Caller frees
 * *out (a copy). */
typedef bool (*srv_report_pred)(const proto_report *r, const void *arg);
bool srv_expect_report(srv *s, srv_report_pred pred, const void *arg, int timeout_ms,
                       proto_msg *out);
int srv_send(srv *s, const proto_msg *m);
int srv_send_raw(srv *s, const void *bytes, size_t len);
/* Closes the current connection from the server side. */
void srv_close_client(srv *s);
/* Runs the server loop for ms milliseconds (so writes flush and the agent gets time). */
void srv_pump(srv *s, int ms);

/* The placement with this id in r, or NULL. */
const proto_placement *report_find(const proto_report *r, const char *id);

/* Agent on a thread. */
typedef struct agent_thread {
    agent *a;
    uv_thread_t tid;
    bool started;
} agent_thread;

int agent_thread_start(agent_thread *t, const agent_config *cfg, vp_err *e);
void agent_thread_stop(agent_thread *t);

#endif
