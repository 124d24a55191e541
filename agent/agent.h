/* agent.h - the node daemon: GPU discovery, the controller connection, worker lifecycle.
 *
 * One agent runs per GPU node. It connects to the controller, says hello (node name, token,
 * GPUs), reports the FULL state of its placements after every (re)connect and after every
 * change, sends heartbeats at the interval the controller's welcome gives, and reconnects with
 * exponential backoff plus jitter (100 ms doubling to 5 s) whenever the connection drops or is
 * refused. Each assigned placement runs as one worker process (uv_spawn, its own process group)
 * with CUDA_VISIBLE_DEVICES and VRAMPACK_PLACEMENT set; "event":"ready" on the worker's stdout
 * means running. A crashed worker is restarted with backoff (0.5 s doubling to 30 s) and
 * reported failed meanwhile. An assign that would put more bytes on a GPU than its usable bytes
 * (total x gpu_memory_utilization: 0.90 unless the welcome says otherwise) is refused with an
 * `error` frame and the placement is reported failed with the reason; it starts by itself when
 * a release later frees enough memory (until then it holds nothing). A worker being stopped
 * still holds its slice until it has exited. An assign of a placement already served is a
 * no-op; a changed assign for the same id replaces the worker (the new one starts after the old
 * one has exited).
 *
 * Restart safety: the agent records the pid, process start time and placement id of every
 * worker it starts in STATE_DIR/workers.json (temp file + rename). On start it stops (SIGTERM,
 * then SIGKILL after the grace period) every listed process that still runs AND is the same
 * process (same start time; VRAMPACK_PLACEMENT in its environment names the placement), then
 * lets the controller re-assign: exactly one worker per placement, never two. Adopting is not
 * possible anyway: the old worker's stdout pipe died with the old agent.
 *
 * Threads: an agent lives on the thread that calls agent_run; only agent_stop may be called
 * from another thread (or a signal handler). Logs go to the configured FILE (stderr), one line
 * per event: `ts=... level=info msg="..." key=value`. */
#ifndef AGENT_H
#define AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "proto.h"
#include "vp.h"

/* INFO is 0 so that a zeroed agent_config logs at info. */
enum agent_log_level { AGENT_LOG_DEBUG = -1, AGENT_LOG_INFO = 0, AGENT_LOG_WARN, AGENT_LOG_ERROR };

#define AGENT_DEFAULT_UTIL_PPM 900000u /* 0.90 of total bytes usable, DESIGN.md */
#define AGENT_DEFAULT_SIM_MAX_SLICE (64ull << 20)

typedef struct agent_config {
    const char *controller;  /* "HOST:PORT" or "[V6]:PORT"; required */
    const char *node;        /* node name; required, PROTO_NAME_MAX-1 bytes, [A-Za-z0-9._-] */
    const char *sim;         /* "MODEL:COUNT[:BYTES][,...]" or NULL for real GPUs via NVML */
    const char *token;       /* shared token (the file's content), NULL or "" for none */
    const char *worker_path; /* built-in worker binary; NULL: agent_default_worker_path() */
    const char *state_dir;   /* NULL: /tmp/vrampack-agent-<node> */
    int log_level;           /* AGENT_LOG_*; 0 is INFO */
    FILE *log;               /* NULL: stderr */
    bool handle_signals;     /* SIGINT/SIGTERM stop the agent (the CLI sets this) */
    /* Tunables; 0 takes the default shown. */
    uint32_t stop_grace_ms;    /* SIGTERM -> SIGKILL on release and shutdown: 10000 */
    uint32_t reconnect_min_ms; /* 100 */
    uint32_t reconnect_max_ms; /* 5000 */
    uint32_t restart_min_ms;   /* worker restart backoff: 500 */
    uint32_t restart_max_ms;   /* 30000 */
    /* With --sim, the built-in worker is given min(bytes_per_gpu, this) as --slice-bytes so a
     * simulated fleet does not take real host memory for 80 GB slices; the accounting and the
     * reports still use the assigned bytes. Default AGENT_DEFAULT_SIM_MAX_SLICE. */
    uint64_t sim_max_slice_bytes;
} agent_config;

typedef struct agent agent;

/* Validates cfg, discovers the GPUs (--sim or NVML), creates the state directory and stops the
 * workers a previous agent on this node left behind (blocking for at most the grace period).
 * Strings in cfg are copied. On success *out is a new agent the caller frees with agent_free;
 * on failure e names the problem (e.g. "no NVIDIA driver (libnvidia-ml.so.1): use --sim").
 * Call on the thread that will call agent_run. */
int agent_new(const agent_config *cfg, agent **out, vp_err *e);

/* Runs the event loop: connects, serves the controller, supervises workers, until agent_stop or
 * (with handle_signals) SIGINT/SIGTERM. On the way out every worker is stopped (SIGTERM, SIGKILL
 * after the grace period) and the state file is removed. Returns 0 or a negative code. */
int agent_run(agent *a);

/* Asks a running agent to shut down. Thread-safe and async-signal-safe. */
void agent_stop(agent *a);

/* Releases everything; NULL is fine. Only after agent_run has returned (or was never called). */
void agent_free(agent *a);

/* The GPUs the agent found (valid after agent_new). Owned by a. */
const proto_gpu *agent_gpus(const agent *a, int *n);

/* Parses a --sim spec into gpus[0..*n): "MODEL:COUNT[:BYTES]" items separated by commas. MODEL
 * is a built-in name (A10G, L4, L40S, A100-40GB, A100-80GB, H100-80GB, H200 and the aliases
 * H100, A100, A10, H200-141GB) whose total bytes the agent knows, or any name when BYTES (an
 * integer, optional K/M/G/Ki/Mi/Gi suffix) is given. At most PROTO_MAX_GPUS in all. */
int agent_sim_parse(const char *spec, proto_gpu *gpus, int *n, vp_err *e);

/* Finds the GPUs through NVML, loaded with dlopen("libnvidia-ml.so.1"); names are mapped to
 * the catalog's names (e.g. "NVIDIA H100 80GB HBM3" -> "H100-80GB") where recognised. Returns
 * -ENOENT with a message suggesting --sim when the library or a driver is missing. */
int agent_nvml_discover(proto_gpu *gpus, int *n, vp_err *e);

/* Default worker binary: the first executable `vrampack-worker` in the running executable's
 * directory, its parent (the build tree's root), ../kernels/ or ../bin/; else the bare name
 * (found through PATH). Writes into buf. */
void agent_default_worker_path(char *buf, size_t cap);

/* Substitutes {model}, {tp}, {fraction}, {port}, {id}, {replica} and {bytes} in one command
 * template item (unknown {names} stay as they are). Returns a malloc'd string or NULL. */
char *agent_expand_arg(const char *tmpl, const proto_assign *a);

/* Parses a log level name (debug|info|warn|error) into an AGENT_LOG_* value; VP_EINPUT when
 * unknown. */
int agent_log_level_parse(const char *s, int *level);

#endif
