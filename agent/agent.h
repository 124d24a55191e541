/* agent.h - the node daemon: GPU discovery, the controller connection, worker lifecycle.
 *
 * One agent runs per GPU node. It connects to the controller, says hello (node name, token,
 * GPUs, instance type), reports the FULL state of its placements after every (re)connect and
 * after every change, sends heartbeats at the interval the controller's welcome gives, and
 * reconnects with exponential backoff plus jitter (100 ms doubling to 5 s) whenever the
 * connection drops or is refused.
 *
 * Workers. Each assigned placement runs as one process (uv_spawn, its own process group) with
 * CUDA_VISIBLE_DEVICES, VRAMPACK_NODE, VRAMPACK_PLACEMENT and VRAMPACK_REVISION set. Its command
 * line comes from the engine's launch profile (engine.h): the built-in worker, vLLM, SGLang,
 * llama.cpp or the manifest's template, with the binary found on PATH unless --engine NAME=PATH
 * names it, and a port from the agent's range (--ports, default 20000-29999) for engines that
 * serve HTTP. An engine is `running` once GET <health path> on 127.0.0.1:<port> answers 200 (the
 * built-in worker: once it prints {"event":"ready"}); one that is not ready within its ready
 * timeout (the manifest's, else the profile's) is stopped and failed with the reason; a running
 * one that stops answering is restarted. A crashed worker is restarted with backoff (0.5 s
 * doubling to 30 s) and reported failed meanwhile, with a failure count the controller uses to
 * detect crash loops. vLLM's version is probed once (`vllm --version`) to choose between
 * --kv-cache-memory-bytes and --gpu-memory-utilization and how its speculative flags are spelled.
 *
 * Memory. An assign that would put more bytes on a GPU than its usable bytes (total x
 * gpu_memory_utilization: 0.90 unless the welcome says otherwise) is refused with an `error`
 * frame and the placement is reported failed with the reason; it starts by itself when a release
 * later frees enough memory. A worker being stopped still holds its slice until it has exited.
 * Placements are keyed by (id, revision): an assign of an instance already served is a no-op,
 * a new revision of an id runs beside the old one (the controller releases the old one once the
 * new one runs: make-before-break), and a release without a revision stops every instance of
 * the id.
 *
 * Leases: the controller answers every heartbeat with a `lease` frame. An agent that has had no
 * renewal for the lease (the shorter of --lease-ms and the controller's, counted from the send
 * time of the heartbeat last answered) stops all its workers and reconnects: a partitioned node
 * fences itself before the controller, which waits for the lease plus a margin, places its work
 * elsewhere. A restarted agent holds a lease from its start until its first welcome.
 *
 * Restart safety: the agent records pid, process start time, port and assign of every worker in
 * STATE_DIR/workers.json (temp file + rename). A restarted agent adopts each listed engine that
 * still runs as the same process (same start time; VRAMPACK_PLACEMENT in its environment names
 * the placement): it keeps its pid and port, probes it, and reports it, so nothing is started
 * twice and loading a model is not repeated. Built-in workers end when the agent's stdout pipe
 * does, so any left are stopped (SIGTERM, SIGKILL after the grace period) and started again on
 * the controller's assign.
 *
 * Threads: an agent lives on the thread that calls agent_run; only agent_stop may be called
 * from another thread (or a signal handler). Logs go to the configured FILE (stderr), one line
 * per event: `ts=... level=info msg="..." key=value`. */
#ifndef AGENT_H
#define AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "engine.h"
#include "proto.h"
#include "vp.h"
#include "vp_log.h"

/* The shared logger's levels (vp_log.h); INFO is 0, so a zeroed agent_config logs at info. */
enum agent_log_level {
    AGENT_LOG_DEBUG = VP_LOG_DEBUG,
    AGENT_LOG_INFO = VP_LOG_INFO,
    AGENT_LOG_WARN = VP_LOG_WARN,
    AGENT_LOG_ERROR = VP_LOG_ERROR
};

#define AGENT_DEFAULT_UTIL_PPM 900000u /* 0.90 of total bytes usable, DESIGN.md */
#define AGENT_DEFAULT_SIM_MAX_SLICE (64ull << 20)

typedef struct agent_config {
    const char *controller;  /* "HOST:PORT" or "[V6]:PORT"; required */
    const char *node;        /* node name; required, PROTO_NAME_MAX-1 bytes, [A-Za-z0-9._-] */
    const char *sim;         /* "MODEL:COUNT[:BYTES][,...]" or NULL for real GPUs via NVML */
    const char *token;       /* shared token (the file's content), NULL or "" for none */
    const char *worker_path; /* built-in worker binary; NULL: agent_default_worker_path() */
    const char *state_dir;   /* NULL: /tmp/vrampack-agent-<node> */
    int log_level;           /* VP_LOG_* (AGENT_LOG_*); 0 is INFO */
    FILE *log;               /* where log lines go (vp_log.h format); NULL: stderr */
    bool handle_signals;     /* SIGINT/SIGTERM stop the agent (the CLI sets this) */
    /* Tunables; 0 takes the default shown. */
    uint32_t stop_grace_ms;    /* stop signal -> SIGKILL; 0: the engine profile's (10-30 s) */
    uint32_t reconnect_min_ms; /* 100 */
    uint32_t reconnect_max_ms; /* 5000 */
    uint32_t restart_min_ms;   /* worker restart backoff: 500 */
    uint32_t restart_max_ms;   /* 30000 */
    /* With --sim, the built-in worker is given min(bytes_per_gpu, this) as --slice-bytes so a
     * simulated fleet does not take real host memory for 80 GB slices; the accounting and the
     * reports still use the assigned bytes. Default AGENT_DEFAULT_SIM_MAX_SLICE. */
    uint64_t sim_max_slice_bytes;
    /* Engines. */
    const char *ports;         /* "LO-HI": serving ports handed to engines; NULL: 20000-29999 */
    const char *engine_bin[ENG_COUNT]; /* binary per engine; NULL: the profile's, via PATH */
    const char *instance_type; /* --type: the node's instance type, for its price; may be NULL */
    uint32_t probe_ms;         /* readiness probes while starting: 1000 */
    uint32_t live_probe_ms;    /* liveness probes while running: 5000 */
    uint32_t live_misses;      /* failed liveness probes in a row that restart it: 3 */
    /* Fencing: with no lease renewal from the controller for this long (measured from the
     * heartbeat it answered), the agent stops every worker, since the controller may be placing
     * them elsewhere. The controller's lease (in its welcome) applies when shorter. 10000. */
    uint32_t lease_ms;
    /* A file listing, one per line ('#' comments), the programs a `command` template may start
     * (its first item, as it is after expansion). Engine profiles and the built-in worker are
     * always allowed; without this file no template runs. NULL: none. */
    const char *allow_commands;
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

/* Parses "LO-HI" (1024 <= LO <= HI <= 65535) for --ports. 0 or VP_EUSAGE. */
int agent_ports_parse(const char *s, uint32_t *lo, uint32_t *hi);

/* Parses a log level name (debug|info|warn|error) into a VP_LOG_* value; VP_EINPUT when
 * unknown. The same as vp_log_level_parse. */
int agent_log_level_parse(const char *s, int *level);

#endif
