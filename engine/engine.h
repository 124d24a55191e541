/* engine.h - the serving engines a placement may run: names, command-template placeholders, and
 * one launch profile per engine.
 *
 * A manifest names its engine (`builtin`, `vllm`, `sglang`, `llama.cpp`, or `command` for a
 * template of its own). The planner checks templates with eng_template_check when it reads a
 * manifest, so an unknown placeholder is refused with the field named instead of reaching a
 * worker's command line verbatim. A launch profile (eng_profile) says everything the agent needs
 * to run an engine: the binary, how each placement field and the slice map to the engine's own
 * flags, the health endpoint that decides `running`, the default ready timeout and the stop
 * signal. eng_argv turns a profile and one placement (eng_launch) into the exact argv, so the
 * agent, the controller (which refuses a manifest an engine cannot run) and an exporter all build
 * the same command line from the same table.
 *
 * Pure and thread-safe: static tables, no I/O, no clocks, no environment. */
#ifndef VP_ENGINE_H
#define VP_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vp.h"

typedef enum eng_kind {
    ENG_BUILTIN,  /* vrampack-worker */
    ENG_VLLM,     /* vllm serve */
    ENG_SGLANG,   /* python3 -m sglang.launch_server */
    ENG_LLAMACPP, /* llama-server */
    ENG_COMMAND,  /* the manifest's worker.command template */
    ENG_COUNT
} eng_kind;

/* "builtin", "vllm", "sglang", "llama.cpp" (also "llamacpp", "llama-cpp"), "command" -> kind.
 * 0 or VP_ENOTFOUND. */
int eng_parse(const char *name, eng_kind *out);
/* Canonical name; never NULL. */
const char *eng_name(eng_kind k);
/* "builtin, vllm, sglang, llama.cpp, command": for messages and --help. */
const char *eng_names_list(void);

/* Placeholders a command template may hold, as "{name}". */
#define ENG_PLACEHOLDERS                                                                           \
    "{model} {id} {replica} {source} {tp} {pp} {max_seq_len} {max_batch} {kv_dtype} {kv_bytes} "   \
    "{bytes} {fraction} {port} {max_loras} {max_lora_rank} {draft} {spec_tokens}"

/* true when `name` (len bytes, without braces) is a known placeholder. */
bool eng_placeholder_known(const char *name, size_t len);

/* A placeholder is "{" + [a-z0-9_]+ + "}"; any other brace is literal text, so JSON arguments
 * such as '{"temperature": 0.5}' pass through. Length of the placeholder token at p (braces
 * included), or 0 when p does not start one. */
size_t eng_placeholder_at(const char *p);

/* Checks one template argument: every placeholder token is a known one. Returns 0, or VP_EINPUT
 * with e->msg "unknown placeholder {x} (known: ...)". */
int eng_template_check(const char *arg, vp_err *e);

/* ---- launch profiles ------------------------------------------------------------------------ */

/* When a profile argument is passed. */
typedef enum eng_when {
    ENG_ALWAYS,
    ENG_IF_KV_BYTES,    /* the installed engine accepts its KV-cache-bytes flag */
    ENG_IF_FRACTION,    /* it does not: the slice goes as a fraction of the GPU */
    ENG_IF_KV_DTYPE,    /* the KV dtype is not the engine's default (value: the mapped name) */
    ENG_IF_SOURCE_FILE, /* source is a file (absolute, ./ or .gguf) */
    ENG_IF_SOURCE_REPO, /* source is a repository id */
    ENG_IF_LORA,        /* the replica serves LoRA adapters (max_loras > 0) */
    ENG_IF_SPEC_CONFIG, /* a draft model, and the engine takes its speculative config as JSON */
    ENG_IF_SPEC_LEGACY, /* a draft model, and the engine is older than spec_config_since */
} eng_when;

/* One argument pair of a profile: `flag` (NULL: none) then `value` (a template; NULL: none). */
typedef struct eng_arg {
    eng_when when;
    const char *flag;
    const char *value;
} eng_arg;

/* A vrampack KV dtype and the engine's name for it; value NULL means "the engine's default"
 * (no flag is passed). A dtype missing from a profile's list is refused. */
typedef struct eng_kv_name {
    const char *dtype;
    const char *value;
} eng_kv_name;

typedef struct eng_profile {
    eng_kind kind;
    /* The executable, found through PATH (`agent --engine NAME=PATH` overrides it). NULL for the
     * built-in worker (the agent knows where it is) and for `command` (the template's first
     * item). */
    const char *binary;
    const eng_arg *args; /* in order; engine_args follow them */
    size_t n_args;
    const eng_kv_name *kv; /* KV dtypes it stores; NULL: any (passed as {kv_dtype}) */
    size_t n_kv;
    /* HTTP path whose 200 means ready; NULL: the worker prints {"event":"ready"} on stdout. */
    const char *health_path;
    uint32_t ready_timeout_s; /* default time to become ready (models load for minutes) */
    int stop_signal;          /* sent to the process group to stop it */
    uint32_t stop_grace_s;    /* then SIGKILL */
    /* Version probe: `binary version_arg` prints a version; the KV-bytes flag is accepted from
     * kv_bytes_since on. NULL: no probe (no KV-bytes flag, or always accepted). */
    const char *version_arg;
    const char *kv_bytes_since;
    /* The speculative decoding flags changed spelling: from this version on (vLLM 0.8.0) one
     * --speculative-config JSON object, before it --speculative-model and
     * --num-speculative-tokens. An unknown version gets the current spelling. */
    const char *spec_config_since;
    bool needs_port;     /* serves HTTP on a port the agent hands out */
    bool pipeline_nodes; /* can run one pipeline stage per node */
    bool adoptable;      /* outlives a dead agent (its stdout closing) and can be adopted */
} eng_profile;

/* The profile of an engine; never NULL for k < ENG_COUNT. */
const eng_profile *eng_profile_of(eng_kind k);

/* One placement as an engine sees it. Strings are borrowed. */
typedef struct eng_launch {
    eng_kind kind;
    const char *binary; /* NULL: the profile's (or, builtin, "vrampack-worker") */
    const char *model;  /* manifest name */
    const char *id;     /* placement id */
    const char *source; /* what the engine loads; NULL or "": the model name */
    uint32_t replica;
    uint32_t tp;          /* GPUs of this placement, >= 1 */
    uint32_t pp, stage;   /* pipeline stages (>= 1) and this placement's stage */
    uint64_t max_seq_len; /* 0: not given (the flag is left out) */
    uint64_t max_batch;
    const char *kv_dtype; /* vrampack dtype name ("fp16", "fp8", ...); NULL: fp16 */
    uint64_t kv_bytes;    /* KV cache bytes per GPU; 0: unknown */
    uint64_t bytes;       /* the slice: bytes per GPU */
    uint64_t gpu_bytes;   /* total bytes of the smallest of its GPUs (for the fraction) */
    uint32_t port;        /* 0 when none */
    bool kv_bytes_flag;   /* the installed engine accepts its KV-bytes flag */
    const char *version;  /* the installed engine's version ("0.7.3"); NULL: unknown (newest) */
    /* Workloads: LoRA adapters served on the base (0: none) and a speculative draft model. */
    uint32_t max_loras;     /* adapters resident at once (vLLM --max-loras) */
    uint32_t max_lora_rank; /* vLLM --max-lora-rank */
    const char *draft;      /* what the engine loads as the draft; NULL or "": none */
    uint32_t spec_tokens;   /* tokens the draft proposes per step; 0: 5 */
    /* built-in worker only */
    uint64_t slice_bytes; /* what the worker takes (the agent caps it on simulated GPUs) */
    const char *backend;  /* "cuda" or "cpu" */
    /* extra arguments, appended verbatim */
    const char *const *engine_args;
    size_t n_engine_args;
    /* ENG_COMMAND: the argv template */
    const char *const *command;
    size_t n_command;
} eng_launch;

/* The slice as a fraction of the GPU, rounded DOWN to 4 decimals ("0.4523"; at least "0.0001"):
 * an engine told a little less than its slice stays inside it. */
void eng_fraction(uint64_t bytes, uint64_t gpu_bytes, char *out, size_t cap);

/* Expands every placeholder of one template item for l. Unknown placeholders stay as they are
 * (manifests cannot hold any). Returns a malloc'd string (caller frees) or NULL when out of
 * memory. Besides the public placeholders, profiles use {context} (max_seq_len x max_batch),
 * {engine_kv_dtype}, {slice_bytes}, {backend} and {stage}. */
char *eng_expand(const char *tmpl, const eng_launch *l);

/* Builds the argv for l: binary, the profile's arguments whose condition holds (in table order),
 * then engine_args. *out is a NULL-terminated malloc'd array of malloc'd strings; free with
 * eng_argv_free. VP_EINPUT with a message naming the engine when the placement cannot run on it
 * (a KV dtype it cannot store, pipeline stages it cannot run across nodes, no port for an engine
 * that needs one, an empty command), -ENOMEM. */
int eng_argv(const eng_launch *l, char ***out, vp_err *e);
void eng_argv_free(char **argv);

/* Only the workload arguments of l's profile (LoRA adapters, speculative draft) whose condition
 * holds, in table order, without the binary: for a command line built elsewhere (an exporter)
 * that must spell these flags as the agent does. *out as for eng_argv (possibly just NULL);
 * -ENOMEM. */
int eng_argv_workload(const eng_launch *l, char ***out, vp_err *e);

/* true when l's engine loads a speculative draft from eng_launch.draft: its profile has draft
 * flags, or (command) its template has {draft}. A plan with a draft for such an engine needs
 * the draft's source. */
bool eng_loads_draft(const eng_launch *l);

/* The HTTP path that decides readiness for l, or NULL when readiness is the JSON ready line. A
 * `command` template is probed on /health when it has a {port}. */
const char *eng_health_path(const eng_launch *l);

/* Engine k's spelling of a vrampack KV-cache dtype ("fp8" -> "fp8_e4m3" for SGLang): NULL when
 * the engine is given no flag for it (its default, e.g. fp16) or cannot store it. The exports use
 * it so that they spell the KV dtype exactly as the agent's launches do. */
const char *eng_kv_dtype_value(eng_kind k, const char *kv_dtype);

/* Checks that l can run, without building anything (what eng_argv refuses). */
int eng_check(const eng_launch *l, vp_err *e);

/* A fingerprint of everything that shapes the process l starts on these GPUs (engine, binary
 * default, source, flags, engine_args, template, slice, GPUs), independent of the port and of
 * anything only the agent knows. Two placements with the same revision are interchangeable; a
 * changed one must be rolled. 16 lower-case hex digits into out (cap >= 17). */
void eng_revision(const eng_launch *l, const uint8_t *gpus, int n_gpus, char *out, size_t cap);

/* Finds a version "X.Y[.Z]" in an engine's --version output (the last one when several lines
 * name one) and writes it into out. 0, or VP_ENOTFOUND. */
int eng_version_find(const char *text, char *out, size_t cap);
/* Compares dotted versions numerically ("0.10.2" < "0.11" == "0.11.0"); a suffix such as "rc1"
 * or "+cu124" after the numbers is ignored. <0, 0, >0. */
int eng_version_cmp(const char *a, const char *b);

#endif
