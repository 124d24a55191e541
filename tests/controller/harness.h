/* harness.h - runs real vrampack processes (controller, agents, their workers) on loopback for
 * the control-plane integration tests, and talks to them over the HTTP API and raw TCP.
 *
 * Every process is started in its own process group with its output in a log file under a
 * fresh temporary directory; the test process makes itself a child subreaper, so workers
 * orphaned by a `kill -9`ed agent come back to it and teardown can reap every last one. */
#ifndef TEST_HARNESS_H
#define TEST_HARNESS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define H_MAX_AGENTS 8

#define H_MAX_EXTRA 12

typedef struct h_agent {
    pid_t pid;
    char name[64];
    char sim[64];
    char log[512];
    char state_dir[512];
    char ports[32];               /* --ports, "" for the default */
    char controller[64];          /* where it connects; "" for the controller itself */
    char extra[H_MAX_EXTRA][256]; /* more arguments */
    int n_extra;
} h_agent;

typedef struct h_env {
    char dir[256];
    char bin[512];
    char state[512];
    char token[128]; /* the API (admin) token; "" = none */
    char token_file[512];
    char agent_token[128]; /* what agents present */
    char agent_token_file[512];
    int hb_ms;
    pid_t ctl_pid;
    int ctl_runs; /* how many controllers were started (log file suffix) */
    char ctl_log[512];
    uint16_t agent_port;
    char agents_addr[64];
    char api[64];
    h_agent agents[H_MAX_AGENTS];
    int n_agents;
    /* For agents started after it is set: agent i gets --ports ports_base+16i..+15 (0: the
     * default range) and these arguments. */
    int ports_base;
    const char *agent_extra[H_MAX_EXTRA];
    const char *agent_controller; /* e.g. a partition proxy; NULL: the controller's address */
} h_env;

/* 0 when bin/vrampack runs `controller` and `agent` (and the worker exists), else prints why
 * and returns 77 (skip). */
int h_available(void);

/* Creates the temp dir and (with_token) a token file. tag names the dir and the agents. */
int h_setup(h_env *h, const char *tag, int hb_ms, bool with_token);
/* Puts a fake `vllm` (tests/agent/fake_engine.py) first on PATH for the agents started after
 * this, with its records in h->dir/engines.log (copied into log) and a model load of load_ms. */
int h_fake_engines(h_env *h, int load_ms, char *log, size_t cap);
/* One engine launch from the fake engine's records: when it started, when (if) it exited on
 * SIGTERM, and the placement, model and node it ran for. */
typedef struct h_engine {
    int pid;
    char id[96], model[64], node[64];
    double start, exit; /* wall clock seconds; exit 1e300 while it runs */
} h_engine;
/* Reads the fake engines' records in log; returns how many launches (at most cap). */
int h_engines(const char *log, h_engine *out, int cap);
/* 0 when a python3 the fake engine can run is installed, else prints why and returns 77. */
int h_python_available(void);
/* Starts a controller on 127.0.0.1:listen_port (0 = ephemeral), API on an ephemeral port, and
 * waits for its `listening` line. extra: NULL-terminated additional arguments, may be NULL. */
int h_start_controller(h_env *h, uint16_t listen_port, const char *const *extra);
/* Starts an agent `NAME --sim SIM`; returns its index. */
int h_start_agent(h_env *h, const char *name, const char *sim);
/* Restarts agent i (same name, state dir). */
int h_restart_agent(h_env *h, int i);
/* SIGKILLs everything still running, reaps it, removes the temp dir. */
void h_teardown(h_env *h);

/* Sends sig to pid and waits up to timeout_ms for it to exit; returns its wait status or -1. */
int h_stop(pid_t pid, int sig, int timeout_ms);

/* GET path on the API (with the token when set); returns the parsed JSON (caller frees) or NULL,
 * *status gets the HTTP status (0 when there was no answer). */
cJSON *h_get(const h_env *h, const char *path, int *status);
/* Raw request; body_out (may be NULL) gets the answer (caller frees). */
int h_request(const h_env *h, const char *method, const char *path, const char *token,
              const char *body, size_t len, char **body_out);
/* POSTs the manifest file; returns the HTTP status, *answer the parsed body (caller frees). */
int h_submit(const h_env *h, const char *manifest_path, cJSON **answer);
/* The same with the manifest's text. */
int h_submit_text(const h_env *h, const char *text, cJSON **answer);

/* Polls pred every 25 ms until it returns true or timeout_ms passes. */
bool h_wait(bool (*pred)(h_env *h, void *ud), h_env *h, void *ud, int timeout_ms);
long long h_now_ms(void);

/* Number of ready+connected nodes per /v1/nodes. */
int h_nodes_connected(const h_env *h);
/* true when /v1/placements lists n placements, all running, none unplaced. */
bool h_all_running(h_env *h, void *n_expected);
/* Worker processes whose parent is pid. */
int h_count_workers(pid_t parent);
/* Worker processes whose parent is this test process (orphans of killed agents). */
int h_count_orphan_workers(void);

/* One metric's value from /metrics (the full series text before the value, e.g.
 * `vrampack_placements{state="running"}`); -1 when absent. */
double h_metric(const h_env *h, const char *series);

/* true when the log file has a line containing every one of the NULL-terminated needles. */
bool h_log_has(const char *path, const char *const *needles);

/* Small JSON helpers. */
const char *h_str(const cJSON *o, const char *key);

/* Starts n_agents agents named "<tag><pid>-a", "-b", ... with --sim `sim` and waits until all are
 * connected. 0 or -1. */
int h_start_fleet(h_env *h, const char *tag, int n_agents, const char *sim);

/* The element of array `arr` whose "id" is id, or NULL. */
const cJSON *h_find_id(const cJSON *arr, const char *id);
double h_num(const cJSON *o, const char *key);

#endif
