/* ctl_internal.h - the controller's internal pieces, shared by its files and white-box tests.
 *
 * Threads and ownership: the loop thread (ctl_run) owns every mutable field of struct ctl and is
 * the only writer. The API thread only reads, and only under ctl->mu; the loop thread takes mu
 * around each write so a reader never sees a half-updated plan, node or report. Planner solves
 * run on libuv's pool and see nothing of struct ctl but a snapshot (ctl_solve_req) the loop
 * built for them. The store (SQLite) is used by the loop thread only. */
#ifndef CTL_INTERNAL_H
#define CTL_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "controller.h"
#include "engine.h"
#include "placement.h"
#include "planner.h"
#include "proto.h"

/* ---- logging: the shared logger (vp_log.h); the wall clock (log.c) ----------------------- */

/* Wall-clock milliseconds since the epoch. */
uint64_t ctl_wall_ms(void);

/* ---- nodes -------------------------------------------------------------------------------- */

enum { CTL_NODE_READY = 0, CTL_NODE_LOST = 1 };

typedef struct ctl_gpu {
    uint32_t index; /* the agent's GPU index (what assigns name) */
    char model[PROTO_GPU_MODEL_MAX];
    char uuid[PROTO_UUID_MAX];
    uint64_t total_bytes;
} ctl_gpu;

/* An assign or release sent and not yet confirmed by a report: not re-sent before `at` +
 * the resend delay, so a slow agent is not flooded while the reconcile stays level-triggered. */
enum { CTL_SENT_ASSIGN = 1, CTL_SENT_RELEASE = 2 };
typedef struct ctl_sent {
    char id[PLACE_ID_MAX];
    char rev[PROTO_REV_MAX];
    int kind;
    uint64_t at; /* uv_now */
} ctl_sent;

/* Failures an agent reported for one instance on a node, for crash-loop detection. */
#define CTL_CRASH_MAX 16
typedef struct ctl_fail {
    char id[PLACE_ID_MAX];
    char rev[PROTO_REV_MAX];
    uint32_t last;                /* the agent's failure count when last seen */
    uint64_t at[CTL_CRASH_MAX];   /* uv_now of the newest failures, oldest first */
    int n;
    bool seen;                    /* in the current report (stale entries are dropped) */
} ctl_fail;

struct ctl_session;

typedef struct ctl_node {
    char name[PLACE_NAME_MAX];
    int state; /* CTL_NODE_* */
    char version[PROTO_VERSION_STR_MAX];
    int n_gpus;
    ctl_gpu gpus[PROTO_MAX_GPUS];  /* sorted by index; plan GPU k is gpus[k] */
    uint64_t last_hb_wall_ms;      /* wall clock of the last frame (API, store) */
    uint64_t persisted_hb_wall_ms; /* last_hb_wall_ms as last written to the store */
    uint64_t registered_wall_ms;
    uint64_t last_seen;       /* uv_now of the last frame: liveness */
    uint64_t lease_sent;      /* uv_now of the last lease renewal (welcome or lease frame) */
    uint32_t agent_lease_ms;  /* the lease the agent asked for in its hello */
    char host[64];            /* the agent's address as this controller sees it */
    char instance_type[PROTO_TYPE_MAX]; /* from its hello; "" when not given */
    double price_per_hour;    /* what the node costs (fleet file, catalog, or an estimate) */
    char price_source[96];    /* where price_per_hour comes from */
    uint32_t suspect;         /* bit per GPU (plan index) where a placement crash-looped */
    char suspect_why[PROTO_MAX_GPUS][PLACE_REASON_MAX];
    ctl_fail *fails;
    size_t n_fails, cap_fails;
    struct ctl_session *sess; /* live session, NULL when disconnected */
    bool reported;            /* a report arrived on the current session */
    proto_placement *rep;     /* last full report (owned) */
    size_t n_rep;
    ctl_sent *sent;
    size_t n_sent, cap_sent;
    size_t *want; /* indices into ctl->plan->placements on this node */
    size_t n_want, cap_want;
    bool dirty; /* row to write at the next flush */
} ctl_node;

/* Registered nodes by name (open addressing over indices; nodes are never removed). */
typedef struct ctl_nodes {
    ctl_node **v;
    size_t n, cap;
    int32_t *ht; /* -1 = empty */
    size_t ht_cap;
} ctl_nodes;

ctl_node *ctl_nodes_find(const ctl_nodes *ns, const char *name);
/* Finds or creates (zeroed, state ready). NULL when out of memory. */
ctl_node *ctl_nodes_get(ctl_nodes *ns, const char *name);
void ctl_nodes_free(ctl_nodes *ns);
void ctl_node_free_parts(ctl_node *n);
/* The report entry with this id (and revision, when rev is not NULL), or NULL. */
const proto_placement *ctl_node_reported(const ctl_node *n, const char *id, const char *rev);
/* Sets n's price from the fleet file (a node of that name), its instance type (fleet file
 * catalog, else the built-in one), else an estimate from the cheapest instance type with its
 * GPU model, else 1 $/h (nominal). catalog: the fleet file or the built-in catalog. */
void ctl_node_price(ctl_node *n, const plan_fleet *fleet_file, const plan_fleet *catalog);

/* ---- store (store.c): SQLite, WAL ------------------------------------------------------- */

typedef struct ctl_store ctl_store;

/* Opens or creates the state file, sets WAL + synchronous=FULL and creates the schema. */
int ctl_store_open(const char *path, ctl_store **out, vp_err *e);
void ctl_store_close(ctl_store *s);

/* Everything a restart needs. Loaded nodes have no session; the caller owns all of it. */
typedef struct ctl_loaded {
    char *manifest_text; /* NULL when nothing was ever submitted */
    place_plan *plan;    /* NULL when nothing was ever submitted */
    ctl_node **nodes;    /* heap array of heap nodes */
    size_t n_nodes;
    uint64_t replans_total;
} ctl_loaded;

int ctl_store_load(ctl_store *s, ctl_loaded *out, vp_err *e);
void ctl_loaded_free(ctl_loaded *l);

/* Replaces the desired state in ONE transaction: the manifest (when manifest_text is not NULL:
 * its self-contained text, and a models row for each model of `manifest`, its parse), the
 * plan's nodes and placements (unplaced ones with their reason), the given node rows (so every
 * registered node a plan names is on disk with it), the replans counter and one event row.
 * Nothing changes on failure. The store parses no manifest itself. */
int ctl_store_save_desired(ctl_store *s, const char *manifest_text, const plan_manifest *manifest,
                           const place_plan *plan, ctl_node *const *nodes, size_t n_nodes,
                           uint64_t replans_total, const char *event_kind,
                           const char *event_detail, vp_err *e);

/* Upserts node rows and appends queued events in one transaction. */
typedef struct ctl_event {
    uint64_t ts_ms;
    char kind[32];
    char node[PLACE_NAME_MAX];
    char detail[PLACE_REASON_MAX];
} ctl_event;
int ctl_store_flush(ctl_store *s, ctl_node *const *nodes, size_t n_nodes, const ctl_event *ev,
                    size_t n_ev, vp_err *e);

/* Events, newest last, at most `max` (for tests and inspection). Caller frees *out. */
int ctl_store_events(ctl_store *s, size_t max, ctl_event **out, size_t *n, vp_err *e);

/* ---- solving (solve.c): pure, runs on the thread pool ------------------------------------ */

/* A ready node as the solver sees it. */
typedef struct ctl_fleet_node {
    char name[PLACE_NAME_MAX];
    int n_gpus;
    char model[PROTO_GPU_MODEL_MAX]; /* of GPU 0; a node is planned as n_gpus of one model */
    uint64_t total_bytes;            /* smallest total among its GPUs */
    char type[PLACE_TYPE_MAX];       /* instance type, "agent" when unknown */
    double price_per_hour;
} ctl_fleet_node;

/* A placement that may not run on a node (it crash-looped there, or it must roll elsewhere);
 * `pending` until a re-plan has taken it off. */
typedef struct ctl_excl {
    char id[PLACE_ID_MAX];
    char node[PLACE_NAME_MAX];
    uint32_t gpus; /* the node's (plan) GPUs it may not use; 0: the whole node */
    char reason[PLACE_REASON_MAX];
    bool pending;
    uint64_t until; /* uv_now after which it lapses (once honoured) */
} ctl_excl;

typedef struct ctl_solve_req {
    bool submit;                     /* a new manifest: keep only models whose entry is unchanged */
    const plan_manifest *manifest;   /* desired models (borrowed; NULL = none known) */
    const plan_fleet *fleet_file;    /* borrowed, may be NULL */
    const ctl_fleet_node *ready;     /* borrowed */
    size_t n_ready;
    /* Registered nodes that are lost and whose lease ran out (borrowed): their placements are
     * taken off. (A lost node still within its lease is planned as ready.) */
    const char (*lost)[PLACE_NAME_MAX];
    size_t n_lost;
    const place_plan *base; /* current desired plan (borrowed), NULL = none */
    const ctl_excl *excl;   /* placements kept off nodes (borrowed) */
    size_t n_excl;
    long max_moves;         /* running replicas the plan may move (0: only place what is
                               missing; -1: any) */
    double time_limit_s;    /* for the planner's rebalance */
    plan_options opts;
} ctl_solve_req;

typedef struct ctl_solve_out {
    place_plan *plan;           /* caller frees */
    plan_moves moves;           /* make-before-break steps from base to plan; caller frees */
    bool full;                  /* nothing was placed before */
    size_t kept, moved, placed; /* placements kept, taken off lost nodes, newly placed */
    size_t evicted;             /* placements an exclusion moved to another node */
    double seconds;
} ctl_solve_out;

/* Computes the next desired plan.
 *
 * Policy: placements on lost nodes (lease run out) and on GPUs an exclusion names are taken off;
 * then the planner's rebalance (plan_rebalance, the code path of `plan --current --max-moves`)
 * keeps every replica that still runs with an unchanged footprint where it is unless moving it
 * (at most max_moves of them) makes the fleet cheaper, drops what the manifest no longer asks
 * for, and places what is missing; out->moves lists the make-before-break steps. Excluded
 * placements the rebalance put back on their excluded GPUs are moved by best fit, or stay when
 * nothing else has room. A piece that fits nowhere is listed as unplaced with the reason.
 * Errors only for input the planner refuses (VP_EINPUT with e) or memory. */
int ctl_solve(const ctl_solve_req *in, ctl_solve_out *out, vp_err *e);

/* The fleet the solver plans on: GPU models and utilisation from fleet_file (or the built-in
 * ones), each GPU model's memory lowered to the smallest total a ready node reports for it (so a
 * plan never promises more than an agent has), unknown models added, ready nodes as inventory
 * at price 1 (so plans use as few nodes as they can), plus fleet_file's catalog and those of its
 * inventory nodes that are neither registered-lost nor registered under the same name. */
int ctl_fleet_build(const plan_fleet *fleet_file, const ctl_fleet_node *ready, size_t n_ready,
                    const char (*lost)[PLACE_NAME_MAX], size_t n_lost, bool with_catalog,
                    plan_fleet **out, vp_err *e);

/* ---- the controller object (controller.c, server.c, api.c) ----------------------------- */

typedef struct ctl_session {
    uv_tcp_t tcp;
    struct ctl *c;
    struct ctl_session *prev, *next;
    proto_reader rd;
    ctl_node *node; /* after an accepted hello */
    bool closing;
    uint64_t opened; /* uv_now */
    char peer[64];
    char ip[48]; /* the peer's address alone */
} ctl_session;

/* A POST /v1/manifests waiting for the loop: created by the API thread, which suspends the
 * HTTP connection; the loop fills status/body under mu and resumes the connection. */
typedef struct ctl_submit {
    struct ctl_submit *next;
    struct MHD_Connection *conn;
    char *text;
    size_t len;
    plan_manifest *manifest; /* parsed by the API thread; the loop takes it over */
    bool dry_run;            /* answer with the diff; change nothing */
    bool done;
    unsigned http_status;
    char *body; /* response JSON */
} ctl_submit;

enum { CTL_JOB_SUBMIT, CTL_JOB_REPLAN, CTL_JOB_CONSOLIDATE };

typedef struct ctl_job {
    uv_work_t work;
    struct ctl *c;
    int kind;        /* CTL_JOB_* */
    ctl_submit *sub; /* the submit, for CTL_JOB_SUBMIT */
    ctl_solve_req req;
    ctl_fleet_node *ready;
    ctl_excl *excl;
    char (*lost)[PLACE_NAME_MAX];
    place_plan *base;
    uint64_t epoch; /* fleet epoch when the snapshot was taken */
    int rc;
    vp_err err;
    ctl_solve_out out;
} ctl_job;

struct ctl {
    ctl_config cfg;
    vp_log log;
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t wake;  /* API thread and ctl_stop -> loop */
    uv_timer_t tick;  /* liveness, reconcile re-sends, re-plan trigger */
    uv_timer_t flush; /* batched node rows and events */
    uv_signal_t sigint, sigterm;
    bool loop_ok, listener_ok, wake_ok, tick_ok, flush_ok, sig_ok;
    uint16_t agent_port, api_port;
    struct MHD_Daemon *mhd;
    int api_open; /* open API connections (atomic; MHD's threads) */
    ctl_store *store;
    plan_fleet *fleet_file;
    uint32_t util_ppm;
    uint32_t tick_ms, resend_ms, hello_timeout_ms;
    uint64_t restart_grace_ms;
    uint32_t lease_margin_ms;   /* waited past a lost node's lease before re-placing its work */
    uint64_t last_tick;         /* uv_now of the previous tick: a longer gap is our own stall */

    pthread_mutex_t mu;  /* see the top of this file */
    bool stopping;       /* set under mu; no new submit is queued after it */
    bool stop_requested; /* set under mu by ctl_stop */
    bool wake_closed;    /* under mu: uv_async_send no longer allowed */

    /* desired state */
    char *manifest_text;
    plan_manifest *manifest;
    place_plan *plan;

    ctl_nodes nodes;
    ctl_session *sessions; /* all open sessions */
    size_t n_agents;       /* sessions with an accepted hello */

    ctl_submit *subq, *subq_tail;
    ctl_job *job;               /* the one solve in flight, or NULL */
    char (*revs)[PROTO_REV_MAX]; /* revision of each plan placement (ctl_index_plan) */
    size_t *by_id;              /* plan placement indices sorted by id */
    ctl_excl *excl;             /* placements kept off nodes */
    size_t n_excl, cap_excl;
    plan_fleet *catalog;        /* the built-in catalog, for prices when no fleet file */
    uint64_t fleet_epoch;       /* bumps when the set of ready nodes changes */
    uint64_t tried_epoch;       /* fleet epoch of the last re-plan that left something unplaced */
    uint64_t replan_not_before; /* uv_now; back-off after a failed re-plan */
    uint64_t next_consolidate;  /* uv_now of the next periodic consolidation; 0: none due */
    bool consolidate_due;       /* a node joined: look for a cheaper layout */
    char (*bbm)[PLACE_ID_MAX];  /* moves the last plan flagged break-before-make (a cycle) */
    size_t n_bbm;
    char rbuf[64 * 1024];       /* read buffer shared by all sessions (one thread) */
    struct {
        char ip[48];
        uint64_t at;
    } warned[256]; /* when each address last had a refusal logged as a warning */

    ctl_event *events; /* queued for the next flush */
    size_t n_events, cap_events;

    /* counters (under mu) */
    uint64_t replans_total, submits_total, solves_total, heartbeats_total, reports_total,
        frames_rejected, auth_failures, api_auth_failures, assigns_sent, releases_sent,
        sessions_total, nodes_lost_total, crash_loops_total, rolls_total, stalls_total,
        moves_total, consolidations_total;
    double saved_per_hour_total; /* $/h the applied consolidations and moves saved */
    double solve_seconds_sum, solve_seconds_last;
};

/* session.c */
int ctl_server_start(struct ctl *c, vp_err *e);
void ctl_server_close(struct ctl *c);
/* Queues one frame to the agent; a session that cannot take it is closed. 0 or a code. */
int ctl_sess_send(ctl_session *s, const proto_msg *m);
void ctl_sess_close(ctl_session *s, const char *why);
/* Sends one error frame, then closes once it is written: the peer learns why. */
void ctl_sess_fail(ctl_session *s, const char *code, const char *message);

/* reconcile.c */
void ctl_reconcile_node(struct ctl *c, ctl_node *n);
void ctl_reconcile_all(struct ctl *c);
void ctl_index_plan(struct ctl *c);
/* Index of the desired placement with this id (binary search), or -1. */
long ctl_desired_index(const struct ctl *c, const char *id);
/* Revision of placement i of plan p under manifest m (NULL: built-in worker). */
void ctl_plan_revision(const struct ctl *c, const plan_manifest *m, const place_plan *p, size_t i,
                       char *out, size_t cap);
/* Counts the failures n's latest report shows and acts on crash loops (reconcile.c). */
void ctl_note_failures(struct ctl *c, ctl_node *n);
/* An exclusion waits for a re-plan. */
bool ctl_excl_pending(const struct ctl *c);
/* Drops honoured exclusions whose time is up. */
void ctl_excl_expire(struct ctl *c);
/* Drops sent entries a report confirmed (assigned and present, released and gone) or too old. */
void ctl_sent_prune(const struct ctl *c, ctl_node *n, uint64_t now);
/* Placement state as the API shows it: pending|starting|running|failed|stopped. */
const char *ctl_placement_state(const struct ctl *c, const place_placement *p,
                                const proto_placement **rep);

/* jobs.c */
void ctl_tick(struct ctl *c);
/* uv_now at which a lost node's lease has surely run out (its work may move after it). */
uint64_t ctl_lease_over(const struct ctl *c, const ctl_node *n);
void ctl_maybe_start_job(struct ctl *c);
void ctl_event_add(struct ctl *c, const char *kind, const char *node, const char *detail);
void ctl_flush_soon(struct ctl *c);
void ctl_flush_now(struct ctl *c);

/* api.c */
int ctl_api_start(struct ctl *c, vp_err *e);
void ctl_api_stop(struct ctl *c);
/* Completes a queued submit: status and JSON body (taken over), then resumes the connection. */
void ctl_submit_finish(struct ctl *c, ctl_submit *s, unsigned status, char *body);

/* launch.c */
/* KV-cache bytes per GPU of a replica of m at tp x pp (0 for memory_bytes models). */
/* The eng_launch an agent will build for q (m may be NULL: built-in worker); strings borrowed. */
void ctl_launch_of(const plan_model *m, const place_placement *q, uint64_t gpu_total,
                   eng_launch *l);
void ctl_revision(const plan_model *m, const place_placement *q, uint64_t gpu_total, char *out,
                  size_t cap);
/* Fills the engine fields and revision of an assign for q. 0 or -ENOMEM. */
int ctl_assign_fill(const plan_model *m, const place_placement *q, uint64_t gpu_total,
                    proto_assign *a);
/* Every model of a manifest can run on its engine (eng_check), else VP_EINPUT naming it. */
int ctl_manifest_check_engines(const plan_manifest *m, vp_err *e);

/* diff.c */
/* Appends ,"added":[..],"removed":[..],"moved":[..],"roll":[..],"over_capacity":[..],
 * "cost_before":X,"cost_after":Y for going from the current plan to np (under manifest nm). */
void ctl_diff_json(const struct ctl *c, const place_plan *np, const plan_manifest *nm, vp_sb *sb);
/* true when p lists the replica of instance id ("model/replica[/stage]") as unplaced. */
bool ctl_over_capacity(const place_plan *p, const char *id);

/* JSON helpers shared by api.c and the store. */
void ctl_json_str(vp_sb *sb, const char *s);

#endif
