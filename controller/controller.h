/* controller.h - the vrampack control plane: agents' TCP port, durable desired state, reconcile,
 * node-loss recovery and the HTTP/JSON user API.
 *
 * One controller object runs one libuv loop (agent sessions, timers, reconcile) on the thread
 * that calls ctl_run, one libmicrohttpd thread for the user API, and planner solves on libuv's
 * thread pool. Desired state (manifest, plan, registered nodes, an event log) lives in SQLite
 * (WAL) and is committed before any assign that depends on it is sent, so a controller killed at
 * any point restarts on the same state file without losing or doubling a placement. The library
 * never prints: every log line goes to the configured callback. */
#ifndef CONTROLLER_H
#define CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "planner.h"
#include "vp.h"
#include "vp_log.h"

typedef struct ctl_config {
    char listen_host[256];  /* agents' port; "127.0.0.1" by default */
    uint16_t listen_port;   /* 0 = ephemeral (the bound port is logged and ctl_ports tells) */
    char api_host[256];     /* "127.0.0.1" by default; "" disables the API */
    uint16_t api_port;      /* 0 = ephemeral */
    char state_path[1024];  /* SQLite file; required */
    const char *fleet_path; /* optional fleet file: GPU models, utilisation, catalog */
    char agent_token[256];  /* what agents present in their hello; "" = none */
    char api_token[256];    /* the admin token API clients send as Bearer; "" = none */
    bool public_metrics;    /* /healthz and /metrics answer without the API token */
    bool insecure;          /* allow a non-loopback listen or API address without tokens */
    uint32_t heartbeat_ms;  /* interval agents are told to use; lost after 3 silent ones */
    /* Agents hold a lease renewed by every answered heartbeat; one that cannot renew it stops
     * its workers. A lost node's placements are re-placed only once its lease has surely run
     * out: lease_ms + 2 heartbeats (at least 1 s) after the last renewal. 0: 10000. */
    uint32_t lease_ms;
    plan_options solve;     /* solver for full plans (submit with nothing to keep) */
    size_t api_body_limit;  /* largest POST body; bigger is refused with 413 (4 MiB) */
    /* API hardening (libmicrohttpd's own limits). 0 takes the default shown. */
    unsigned api_threads;        /* thread pool: a slow request holds up one of them: 4 */
    unsigned api_conn_limit;     /* open connections in all: 4096 */
    unsigned api_per_ip_limit;   /* open connections from one address: 64 */
    unsigned api_timeout_s;      /* an idle connection is closed after this: 10 */
    int log_level;               /* VP_LOG_*: lines below it are dropped */
    vp_log_fn log;               /* whole lines (vp_log.h), never two at once; NULL: no logging */
    void *log_ud;
    bool handle_signals; /* SIGINT/SIGTERM stop the loop (the daemon); off for embedding */
    /* A placement that fails this many times within the window on one node is a crash loop:
     * it is placed elsewhere and the node's GPUs it used are marked suspect. 0: 3 and 600 s. */
    uint32_t crash_loop_failures;
    uint32_t crash_loop_window_ms;
    /* Live rebalancing. A submit, a node that joins and a periodic consolidation may move up to
     * max_moves running replicas (make-before-break) when that makes the fleet cheaper; a
     * consolidation is applied only when it saves at least min_saving $/h. Re-plans after a
     * node loss move nothing else. max_moves -1: any number; consolidate_every_ms 0: never. */
    long max_moves;               /* default 4 */
    uint32_t consolidate_every_ms; /* default 600000 */
    double min_saving;            /* $/h, default 1.0 */
} ctl_config;

/* Loopback defaults, heartbeat 1000 ms, 16 MiB body limit, solver auto with a 10 s limit. */
void ctl_config_default(ctl_config *c);

typedef struct ctl ctl;

/* Opens the state file (creating it, mode 0600), loads the desired state, binds both ports and
 * starts the API threads. A non-loopback address without the matching token is refused
 * (VP_EINPUT) unless cfg->insecure. On success *out is ready for ctl_run; the caller frees it with ctl_free. Errors:
 * VP_EINPUT (bad config, unreadable fleet), the SQLite failure as VP_ESTATE with e naming the
 * file, libuv/MHD bind errors (e names the address). Call from the thread that will run it. */
int ctl_new(const ctl_config *cfg, ctl **out, vp_err *e);

/* Runs the loop until ctl_stop (or a signal, with handle_signals). Returns 0 after a clean stop.
 * Same thread as ctl_new. */
int ctl_run(ctl *c);

/* Asks a running controller to stop; thread-safe (not async-signal-safe). */
void ctl_stop(ctl *c);

/* Ports actually bound (useful with port 0). Either pointer may be NULL. */
void ctl_ports(const ctl *c, uint16_t *agent_port, uint16_t *api_port);

/* Stops the API thread, closes connections and the store, frees everything. NULL is fine.
 * Same thread as ctl_run, after it returned. */
void ctl_free(ctl *c);

/* Reads a token file: first line, surrounding whitespace stripped, 1..255 bytes. */
int ctl_token_load(const char *path, char *out, size_t cap, vp_err *e);

#endif
