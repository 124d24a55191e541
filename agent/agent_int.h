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
#include "engine.h"
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

typedef struct agent_probe agent_probe;

/* One instance of a placement: (id, rev) is its key, so a roll in place runs the old and the new
 * revision of an id side by side. A live worker is either a child (proc) or a process a previous
 * agent started and this one adopted (adopted: no handle; its exit is noticed by polling /proc). */
struct agent_pl {
    struct agent *a;
    agent_pl *next;
    proto_msg spec;    /* the assign being served (type PROTO_ASSIGN; owns its lists) */
    proto_msg pending; /* a changed assign for this id, started once the old worker exits;
                          type 0 when none */
    eng_kind kind;      /* spec.engine parsed */
    bool bad_engine;    /* spec names an engine this agent does not know */
    proto_state state;
    bool refused;  /* refused assign: holds no bytes, runs nothing */
    bool released; /* release received (or shutdown): remove once the worker exits */
    bool fenced;   /* stopped because the lease ran out: SIGKILL comes early */
    char error[PROTO_TEXT_MAX];
    char stop_why[PROTO_TEXT_MAX / 2]; /* why the agent itself stopped the worker ("" if not) */
    agent_proc *proc; /* live child worker, NULL when none */
    bool adopted;     /* pid is a live worker adopted from a previous agent */
    int pid;          /* > 0 while a worker lives */
    uint64_t start_ticks; /* /proc/<pid>/stat starttime, to recognise the process later */
    uint64_t spawned_ms;
    uint32_t port;       /* serving port, kept across restarts; 0 when none */
    uint32_t backoff_ms; /* next restart delay */
    uint32_t restarts;
    uint32_t failures;       /* reported: worker deaths and ready timeouts since assigned */
    bool waiting_version;    /* start deferred until the engine's version is known */
    const char *health_path; /* NULL: ready is the JSON line */
    uint32_t probe_misses;   /* consecutive failed liveness probes */
    agent_probe *probe;      /* health request in flight, NULL when none */
    char probe_last[96];     /* last probe outcome, for messages */
    uv_timer_t restart_timer; /* backoff before the next spawn */
    uv_timer_t kill_timer;    /* SIGKILL after the grace period */
    uv_timer_t probe_timer;   /* health probes; /proc polling of adopted workers */
    uv_timer_t ready_timer;   /* the ready timeout */
    int open_timers;          /* the placement is freed when removed and this is 0 */
    bool removed;
};

static inline bool agent_pl_live(const agent_pl *pl)
{
    return pl->pid > 0;
}

/* An engine binary's version, probed once (engines.c). */
typedef struct agent_engine_ver {
    char binary[4096];
    int state; /* 0 probing, 1 known (version may be "") */
    char version[32];
    bool kv_bytes_flag;
    bool exited, eof;
    uv_process_t proc;
    uv_pipe_t out;
    uv_timer_t timer;
    int open_handles;
    char buf[4096];
    size_t len;
    struct agent *a;
    struct agent_engine_ver *next;
} agent_engine_ver;

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
    char engine_bin[ENG_COUNT][4096]; /* --engine NAME=PATH; "" = the profile's binary */
    char instance_type[PROTO_TYPE_MAX];
    uint32_t port_lo, port_hi, port_next;
    uint32_t probe_ms, live_probe_ms, live_misses;
    bool grace_set; /* stop_grace_ms given: it overrides the engine profiles' */
    agent_engine_ver *versions;
    char **allowed;  /* --allow-commands entries */
    size_t n_allowed;
    char allow_file[4096];
    vp_log log; /* lines carry node=NAME */
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
    uint64_t hb_sent[64];  /* uv_now each heartbeat seq was sent, by seq % 64 */
    uint32_t lease_cfg_ms; /* --lease-ms */
    uint32_t lease_ms;     /* in force: the shorter of ours and the controller's */
    uint64_t lease_until;  /* uv_now the lease runs out; 0: no lease held (nothing to fence) */
    uint64_t hello_sent;   /* uv_now of the last hello: a welcome's lease counts from it */
    uv_timer_t lease_timer;
    uint64_t rng;
    /* lifecycle */
    uv_async_t stop_async;
    uv_signal_t sigint, sigterm;
    bool stopping;
    bool finished; /* global handles closed (or closing) */
    int handles_closing;
};

/* state.c */
int agent_state_init(struct agent *a, vp_err *e); /* mkdir, lock, adopt or stop old workers */
void agent_state_save(struct agent *a);           /* rewrites workers.json */
void agent_state_remove(struct agent *a);
uint64_t agent_proc_start_ticks(int pid); /* 0 when unknown */
/* pid runs (not a zombie) and, when ticks is not 0, started at that tick. */
bool agent_proc_alive(int pid, uint64_t ticks);

/* worker.c */
int agent_worker_spawn(agent_pl *pl); /* starts pl->spec's worker */
/* The engine's stop signal now, SIGKILL after the grace; why ("" or NULL: asked to) is kept as
 * the placement's error when the worker then exits. */
void agent_worker_stop(agent_pl *pl, const char *why);
uint64_t agent_now_ms(struct agent *a);
/* Fills l from pl's assign and what this agent knows (binary, port, version, slice cap).
 * Strings in l point into pl and a. */
void agent_launch_of(agent_pl *pl, eng_launch *l, const char **args_buf, const char **cmd_buf);

/* probe.c: readiness and liveness */
void agent_probe_start(agent_pl *pl);  /* a worker started (or was adopted): watch it */
void agent_probe_stop(agent_pl *pl);   /* the worker is going away */
void agent_pl_ready(agent_pl *pl, const char *how); /* starting -> running */

/* engines.c: binaries, versions, ports */
/* The engine's binary for pl (override or profile default). */
const char *agent_engine_binary(struct agent *a, eng_kind k);
/* 1 when the version is known (*kv_bytes_flag set, and *version, when not NULL, the version
 * found: "" or NULL when none), 0 when a probe is running (the placement is started again when
 * it ends). */
int agent_engine_version(struct agent *a, eng_kind k, bool *kv_bytes_flag, const char **version);
void agent_engines_close(struct agent *a);
/* A free port from the range (not held by a placement, bindable now); 0 when none. */
uint32_t agent_port_alloc(struct agent *a);
/* Reads --allow-commands. 0, or an error naming the file and line. */
int agent_allow_load(struct agent *a, const char *path, vp_err *e);
/* 0 when pl may run: not a template, or its program is listed; else VP_EAUTH with the reason in
 * pl->error. */
int agent_allow_check(agent_pl *pl);

/* conn.c */
void agent_conn_start(struct agent *a);    /* first connect */
void agent_conn_shutdown(struct agent *a); /* close and stop reconnecting */
int agent_conn_send(struct agent *a, const proto_msg *m);
void agent_report_soon(struct agent *a); /* coalesced full report */
bool agent_conn_ready(const struct agent *a);
/* Closes the connection (if any) and reconnects after the backoff. */
void agent_conn_drop(struct agent *a, const char *why);

/* agent.c */
void agent_on_assign(struct agent *a, const proto_assign *as);
void agent_on_release(struct agent *a, const char *id, const char *rev);
int agent_build_report(struct agent *a, proto_msg *m);
void agent_pl_worker_exited(agent_pl *pl, int64_t status, int term_signal);
void agent_pl_start(agent_pl *pl); /* (re)starts pl's worker now */
/* A new placement for as (copied), linked in; NULL when out of memory. */
agent_pl *agent_pl_new(struct agent *a, const proto_assign *as);
/* total x util_ppm / 1e6: what the agent hands out of a GPU. */
uint64_t agent_usable_bytes(const struct agent *a, const proto_gpu *g);
/* Unlinks pl and frees it once its timers are closed. Only without a live worker. */
void agent_pl_remove(agent_pl *pl);
/* Stops pl's worker (or removes pl when none runs); it goes once the worker has exited. */
void agent_pl_release(struct agent *a, agent_pl *pl);
void agent_pl_changed(agent_pl *pl);
void agent_maybe_finish(struct agent *a); /* shutdown completes when idle */
/* Extends the lease to base + lease_ms (never shortens it) and arms the fence timer. */
void agent_lease_renew(struct agent *a, uint64_t base);

#endif
