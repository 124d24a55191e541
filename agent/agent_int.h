/* agent_int.h - the agent's private structures, shared by its files (not installed, not for
 * other modules).
 *
 * Ownership: the agent owns a list of placements (agent_pl). A placement owns at most one live
 * worker incarnation (agent_proc), which owns its process handle and stdout/stderr pipes; an
 * incarnation frees itself once its three handles are closed, so a placement can be removed
 * while an exited worker's pipes are still closing. Every handle lives on the agent's loop and
 * is touched only from the loop thread. */
#ifndef AGENT_INT_H
#define AGENT_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "agent.h"
#include "proto.h"

#define AGENT_LINE_MAX 65536 /* longest worker output line we parse; longer ones are skipped */

typedef struct agent_pl agent_pl;

typedef struct agent_proc {
    uv_process_t proc;
    uv_pipe_t out, err;
    int open_handles; /* frees itself when this drops to 0 */
    bool exited;
    agent_pl *pl; /* NULL once detached from its placement */
    char line[AGENT_LINE_MAX];
    size_t line_len;
    bool line_skip;  /* inside an over-long stdout line */
    char eline[512]; /* stderr line being assembled */
    size_t eline_len;
    char last_err[PROTO_TEXT_MAX / 2]; /* last non-empty stderr line */
} agent_proc;

struct agent_pl {
    struct agent *a;
    agent_pl *next;
    proto_msg spec;    /* the assign being served (type PROTO_ASSIGN; owns the command) */
    proto_msg pending; /* a changed assign for this id, started once the old worker exits;
                          type 0 when none */
    proto_state state;
    bool refused;  /* refused assign: holds no bytes, runs nothing */
    bool released; /* release received (or shutdown): remove once the worker exits */
    char error[PROTO_TEXT_MAX];
    agent_proc *proc; /* live worker, NULL when none */
    int pid;
    uint64_t start_ticks; /* /proc/<pid>/stat starttime, to recognise the process later */
    uint64_t spawned_ms;
    uint32_t backoff_ms; /* next restart delay */
    uint32_t restarts;
    uv_timer_t restart_timer; /* backoff before the next spawn */
    uv_timer_t kill_timer;    /* SIGKILL after the grace period */
    int open_timers;          /* the placement is freed when removed and this is 0 */
    bool removed;
};

typedef enum agent_conn_state {
    CONN_IDLE, /* waiting for the reconnect timer */
    CONN_RESOLVING,
    CONN_CONNECTING,
    CONN_HELLO_SENT, /* waiting for welcome */
    CONN_READY,
} agent_conn_state;

/* One TCP connection attempt; heap-allocated so a late close callback never touches the next
 * connection's handle. */
typedef struct agent_conn {
    uv_tcp_t tcp;
    uv_connect_t req;
    struct agent *a;
    proto_reader reader;
    bool closing;
} agent_conn;

struct agent {
    uv_loop_t loop;
    bool loop_ready;
    /* configuration (copied) */
    char node[PROTO_NAME_MAX];
    char host[256];
    char port[8];
    char token[PROTO_TOKEN_MAX];
    char worker_path[4096];
    char state_dir[4096];
    bool sim;
    int log_level;
    FILE *log;
    bool handle_signals;
    uint32_t stop_grace_ms, reconnect_min_ms, reconnect_max_ms, restart_min_ms, restart_max_ms;
    uint64_t sim_max_slice_bytes;
    /* node */
    int n_gpus;
    proto_gpu gpus[PROTO_MAX_GPUS];
    uint32_t util_ppm; /* usable = total x util_ppm / 1e6 */
    int lock_fd;
    /* placements */
    agent_pl *pls;
    /* connection */
    agent_conn_state cstate;
    agent_conn *conn;
    struct addrinfo *addrs, *next_addr;
    uv_getaddrinfo_t gai;
    uv_timer_t reconnect_timer, deadline_timer, heartbeat_timer, report_timer;
    uint32_t reconnect_ms;    /* next reconnect delay before jitter */
    uint32_t failed_attempts; /* connection attempts failed since the last welcome */
    uint32_t heartbeat_ms;
    uint64_t hb_seq;
    uint64_t rng;
    /* lifecycle */
    uv_async_t stop_async;
    uv_signal_t sigint, sigterm;
    bool stopping;
    bool finished; /* global handles closed (or closing) */
    int handles_closing;
};

/* log.c */
void agent_log(struct agent *a, int level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Quotes a value for a key=value log line when it needs it; returns one of eight rotating
 * thread-local buffers (valid until eight more calls). */
const char *agent_q(const char *s);

/* state.c */
int agent_state_init(struct agent *a, vp_err *e); /* mkdir, lock, stop old workers */
void agent_state_save(struct agent *a);           /* rewrites workers.json */
void agent_state_remove(struct agent *a);
uint64_t agent_proc_start_ticks(int pid); /* 0 when unknown */

/* worker.c */
int agent_worker_spawn(agent_pl *pl); /* starts pl->spec's worker */
void agent_worker_stop(agent_pl *pl); /* SIGTERM now, SIGKILL after the grace */
uint64_t agent_now_ms(struct agent *a);

/* conn.c */
void agent_conn_start(struct agent *a);    /* first connect */
void agent_conn_shutdown(struct agent *a); /* close and stop reconnecting */
int agent_conn_send(struct agent *a, const proto_msg *m);
void agent_report_soon(struct agent *a); /* coalesced full report */
bool agent_conn_ready(const struct agent *a);

/* agent.c */
void agent_on_assign(struct agent *a, const proto_assign *as);
void agent_on_release(struct agent *a, const char *id);
int agent_build_report(struct agent *a, proto_msg *m);
void agent_pl_worker_exited(agent_pl *pl, int64_t status, int term_signal);
void agent_pl_changed(agent_pl *pl);
void agent_maybe_finish(struct agent *a); /* shutdown completes when idle */

#endif
