/* planner.h - the planner's public face: manifests, fleets, the resolved packing problem, and the
 * solvers that turn them into a place_plan.
 *
 * Flow: plan_manifest_load + plan_fleet_load (or plan_fleet_builtin) -> plan_problem_build, which
 * resolves every model's footprint on every node kind it may use (tensor-parallel degree,
 * pipeline stages, bytes per GPU) -> plan_solve (FFD, MIP, column generation) -> place_plan.
 * Everything here is pure: files are read only when their path is handed in, time is measured
 * only as solve_ms. Objects have one owner; functions are safe to call from any thread on
 * distinct objects. */
#ifndef PLANNER_H
#define PLANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "footprint.h"
#include "placement.h"
#include "vp.h"

#define PLAN_MAX_FILE_BYTES (16u << 20) /* manifests and fleets larger than this are refused */
#define PLAN_MAX_MODELS 4096
#define PLAN_MAX_REPLICAS 1000000u      /* per model */
#define PLAN_MAX_TOTAL_REPLICAS 1000000u /* per manifest */
#define PLAN_MAX_GPU_TYPES 8            /* entries in a model's gpu_types allow-list */
#define PLAN_SOURCE_MAX 512             /* a model's source: repository id or path */

/* ---- fleet: GPU models, instance types that may be bought, nodes that exist ---- */

typedef struct plan_gpu_model {
    char name[PLACE_TYPE_MAX];   /* "H100" */
    uint64_t memory_bytes;       /* total as the driver reports it */
    uint32_t bandwidth_gbs;      /* datasheet GB/s (decimal) */
    uint64_t cuda_bytes;         /* total as CUDA reports it (cudaMemGetInfo), a few hundred MiB
                                    under memory_bytes: what engines apply their memory fraction
                                    to; 0 = unknown (memory_bytes is used) */
    uint32_t tflops_bf16;        /* datasheet dense BF16 tensor TFLOPS; 0 = unknown */
    uint32_t tflops_fp8;         /* datasheet dense FP8 tensor TFLOPS; 0 = unknown or none */
} plan_gpu_model;

/* How capacity is bought: on demand (default), spot (cheaper, may be reclaimed), reserved
 * (committed: paid whether used or not). */
typedef enum plan_tier { PLAN_TIER_ON_DEMAND, PLAN_TIER_SPOT, PLAN_TIER_RESERVED } plan_tier;

/* "on_demand" (also "on-demand"), "spot", "reserved" -> tier; 0 or VP_ENOTFOUND. */
int plan_tier_parse(const char *s, plan_tier *out);
const char *plan_tier_name(plan_tier t);

typedef struct plan_instance {
    char type[PLACE_TYPE_MAX];   /* "p5.48xlarge" */
    char gpu[PLACE_TYPE_MAX];    /* GPU model name */
    int n_gpus;
    double price_per_hour;
    int max_count;               /* how many may be bought; -1 = no limit */
    plan_tier tier;
    double interruptions_per_hour; /* spot: expected reclaims per node-hour; 0 otherwise */
} plan_instance;

typedef struct plan_inv_node {
    char name[PLACE_NAME_MAX];
    char type[PLACE_TYPE_MAX];   /* instance type, or "custom" */
    char gpu[PLACE_TYPE_MAX];
    int n_gpus;
    double price_per_hour;
    plan_tier tier;
    double interruptions_per_hour;
} plan_inv_node;

typedef struct plan_fleet {
    plan_gpu_model *gpus;   size_t n_gpus;
    plan_instance *types;   size_t n_types;
    plan_inv_node *nodes;   size_t n_nodes;
    uint32_t util_ppm;      /* gpu_memory_utilization in parts per million (900000) */
    char source[256];       /* "built-in catalog" or the file path */
} plan_fleet;

/* The built-in catalog: GPUs and common cloud instance types with sources (catalog.c).
 * Returns NULL when out of memory. Free with plan_fleet_free. */
plan_fleet *plan_fleet_builtin(void);

/* Parts of the built-in catalog a fleet may add ("include_builtin"): the on-demand types (what
 * plan_fleet_builtin holds), their spot variants, and instance types of specialised GPU clouds. */
enum { PLAN_CATALOG_ON_DEMAND = 1, PLAN_CATALOG_SPOT = 2, PLAN_CATALOG_GPU_CLOUDS = 4 };
/* Appends those parts to f's catalog; -ENOMEM. Types already in f are skipped. */
int plan_fleet_add_builtin(plan_fleet *f, unsigned parts);
/* Reads a fleet file. Its catalog/nodes replace the built-in ones; built-in GPU model names stay
 * available and the file may add more. */
int plan_fleet_load(const char *path, plan_fleet **out, vp_err *e);
int plan_fleet_parse(const char *buf, size_t len, const char *what, plan_fleet **out, vp_err *e);
/* A fleet made of exactly these inventory nodes (the controller's registered agents). */
plan_fleet *plan_fleet_new_empty(void);
int plan_fleet_add_node(plan_fleet *f, const plan_inv_node *n);
void plan_fleet_free(plan_fleet *f);
const plan_gpu_model *plan_fleet_gpu(const plan_fleet *f, const char *name);
/* physical bytes x gpu_memory_utilization, rounded down. */
uint64_t plan_fleet_usable(const plan_fleet *f, const plan_gpu_model *g);
/* The total an engine sees on g: cuda_bytes when known, memory_bytes otherwise. */
uint64_t plan_gpu_cuda_bytes(const plan_gpu_model *g);

/* ---- manifest: the models to place ---- */

/* What a model's work tolerates: realtime serving must not be interrupted; batch inference and
 * fine-tuning may run on capacity that can be reclaimed. */
typedef enum plan_class { PLAN_CLASS_REALTIME, PLAN_CLASS_BATCH } plan_class;

typedef struct plan_model {
    char name[PLACE_NAME_MAX];
    bool fixed;                  /* memory_bytes given: footprint is exactly that, tp = pp = 1 */
    uint64_t memory_bytes;
    plan_arch arch;
    plan_fp_opts opts;           /* tp/pp 0 = "auto" */
    uint32_t replicas;
    char gpu_types[PLAN_MAX_GPU_TYPES][PLACE_TYPE_MAX];
    size_t n_gpu_types;          /* 0 = any */
    bool spread;                 /* replicas on distinct nodes */
    double tpot_ms;              /* 0 = no latency objective */
    double ttft_ms;              /* 0 = no time-to-first-token objective */
    uint32_t prompt_tokens;      /* prompt length ttft_ms is for (slo.prompt_tokens) */
    plan_class wclass;           /* `class`: realtime (default; batch for training jobs) */
    plan_arch *draft;            /* speculative draft (owned; opts.draft points at it) or NULL */
    char draft_source[PLAN_SOURCE_MAX]; /* speculative.source: what the engine loads as the draft;
                                         "" = not given (an engine that loads drafts refuses) */
    /* How a replica runs (engine.h): the engine, what it loads, extra arguments. */
    eng_kind engine;             /* ENG_BUILTIN unless the manifest names one */
    char source[PLAN_SOURCE_MAX];/* repository id or path the engine loads; default: name */
    char **engine_args;          /* NULL-terminated, appended verbatim; or NULL */
    char **worker_cmd;           /* engine "command": NULL-terminated argv template, or NULL */
    uint32_t ready_timeout_s;    /* how long a replica may take to become ready; 0 = default */
    char hf_config[256];         /* path as resolved, or "inline", for reports */
} plan_model;

typedef struct plan_manifest {
    plan_model *models;
    size_t n_models;
    char source[256];
} plan_manifest;

/* Reads a manifest; hf_config paths are relative to the manifest's directory. */
int plan_manifest_load(const char *path, plan_manifest **out, vp_err *e);
/* Parses manifest text; `what` names it in errors; base_dir resolves hf_config (NULL = cwd).
 * hf_config may be a path or the config object itself. */
int plan_manifest_parse(const char *buf, size_t len, const char *what, const char *base_dir,
                        plan_manifest **out, vp_err *e);
/* Parses a self-contained manifest (what an API receives): every hf_config must be an object;
 * a path is refused without being opened, so no file on the reader's host is ever named. */
int plan_manifest_parse_inline(const char *buf, size_t len, const char *what,
                               plan_manifest **out, vp_err *e);
/* Reads the manifest at path and returns it as self-contained JSON text: each hf_config path
 * is replaced by the config object it names. The result is checked with
 * plan_manifest_parse_inline before it is returned. Caller frees *out. */
int plan_manifest_inline_file(const char *path, char **out, vp_err *e);
/* The same for manifest text already read (a pipe, standard input): `what` names it in errors and
 * hf_config paths resolve against base_dir (NULL: the current directory). Caller frees *out. */
int plan_manifest_inline_buf(const char *buf, size_t len, const char *what, const char *base_dir,
                             char **out, vp_err *e);
void plan_manifest_free(plan_manifest *m);
/* The workload fields of an engine launch of m (engine.h): resident LoRA adapters and their
 * rank, the speculative draft (speculative.source; none when not given) and its tokens. The
 * controller's assigns and the exports both take them from here. Other fields are left as
 * they are; l->draft points into m. */
void plan_model_launch_workload(const plan_model *m, eng_launch *l);

/* ---- the resolved problem ---- */

/* A kind of node a plan may use: an instance type to buy (count up to max_count) or one
 * inventory node (max_count 1, inventory = true). */
typedef struct plan_bintype {
    char type[PLACE_TYPE_MAX];
    char inv_name[PLACE_NAME_MAX]; /* inventory node name, "" for purchasable types */
    bool inventory;
    int gpu;                       /* index into fleet->gpus */
    int n_gpus;
    uint64_t usable_per_gpu;
    double price_per_hour;
    int max_count;                 /* -1 = no limit */
    plan_tier tier;                /* how it is bought; realtime models never use spot */
    double interruptions_per_hour; /* spot: expected reclaims per node-hour */
} plan_bintype;

/* How one replica of a model sits on one bin type. For a training job tp is the gang: its
 * data_parallel GPUs, placed together on one node as one placement (each holds fp, a full copy). */
typedef struct plan_shape {
    bool ok;                       /* it fits and is allowed */
    uint32_t tp, pp;
    uint64_t stage_bytes[PLAN_MAX_PP]; /* per GPU, for each stage */
    plan_footprint fp;             /* whole footprint at this tp/pp */
} plan_shape;

typedef struct plan_group {
    size_t model;                  /* index into manifest->models */
    uint32_t replicas;
    uint32_t pp;                   /* stages (same on every bin type) */
    plan_shape *shapes;            /* [n_bintypes] */
    char why_not[PLACE_REASON_MAX];/* when no bin type can take it */
} plan_group;

typedef struct plan_problem {
    const plan_manifest *manifest; /* borrowed */
    const plan_fleet *fleet;       /* borrowed */
    plan_bintype *bintypes;   size_t n_bintypes;
    plan_group *groups;       size_t n_groups; /* one per model, manifest order */
} plan_problem;

/* Resolves footprints for every (model, bin type). Borrows m and f, which must outlive it.
 * Errors only on bad input (a model whose architecture is insufficient); a model that fits
 * nowhere is not an error (it ends up unplaced). */
int plan_problem_build(const plan_manifest *m, const plan_fleet *f, plan_problem **out, vp_err *e);
void plan_problem_free(plan_problem *p);

/* A node of bin type b, named after it, with empty GPUs. `seq` numbers bought nodes
 * ("<type>-<seq>"); callers skip a seq whose name plan_is_inventory_name reports taken. */
void plan_node_from_bintype(const plan_problem *p, size_t b, int seq, place_node *out);
bool plan_is_inventory_name(const plan_problem *p, const char *name);

/* Bin type of a plan node: inventory nodes by name, bought nodes by instance type. -1 when the
 * problem has no such bin type (a node that was lost, or a type no longer in the catalog). */
int plan_node_bintype(const plan_problem *p, const place_node *n);

/* KV cache bytes on each GPU of one replica of m at tp x pp (what an engine's KV-bytes flag is
 * given): each of a stage's tp GPUs holds ceil(kv_heads / tp) heads of that stage's layers; an MLA
 * latent is replicated on every rank. 0 for memory_bytes models. */
uint64_t plan_kv_bytes_per_gpu(const plan_model *m, uint32_t tp, uint32_t pp);

/* Index of the group whose model is named `model`, or -1. Linear in the number of models. */
int plan_group_find(const plan_problem *p, const char *model);

/* Bytes one decode step of a replica reads on each GPU of stage `stage` (active weights and the
 * KV cache at full context, split over the TP group and the stages); 0 for memory_bytes models,
 * whose architecture is unknown. */
uint64_t plan_decode_bytes_per_gpu(const plan_shape *s, uint32_t stage);
/* Prefill FLOPs of one request of prompt_tokens: 2 x active params x tokens for the matrices and
 * 2 x layers x tokens^2 x heads x head_dim for attention scores and values (causal: half of
 * 4 x ...). Saturates at UINT64_MAX. */
uint64_t plan_prefill_flops(const plan_arch *a, uint64_t prompt_tokens);
/* Time to first token in ms when tp GPUs of tflops (dense TFLOPS) run flops at mfu_ppm of peak;
 * 0 when tflops is 0 (unknown). */
double plan_ttft_ms(uint64_t flops, uint32_t tflops, uint32_t tp, uint32_t mfu_ppm);
/* The fraction of dense peak a prefill reaches, for slo.ttft_ms and the report's TTFT estimate:
 * 50%, a round figure inside the 40-60% that long-prompt prefill reaches on Hopper/Ampere with
 * FlashAttention kernels; a planning assumption, not a measurement. */
#define PLAN_PREFILL_MFU_PPM 500000u
/* Estimated ms to the first token of a replica of m with tp GPUs of g (pipeline stages run one
 * after another, so TTFT does not shrink with pp): its FP8 TFLOPS when the weights are fp8 and the
 * GPU has FP8 tensor cores, else BF16; 0 when unknown (memory_bytes model, no slo.prompt_tokens,
 * no TFLOPS for g). */
double plan_model_ttft_ms(const plan_model *m, const plan_gpu_model *g, uint32_t tp);

/* Predicted ms per output token when a GPU of bandwidth_gbs reads decode_bytes (the sum over all
 * slices that decode on it at once: co-located models share the bandwidth). */
double plan_tpot_ms(uint64_t decode_bytes, uint32_t bandwidth_gbs);
/* Fills est_tpot_ms of every placement from the GPUs' bandwidth and their co-tenants. */
void plan_estimate_latency(const plan_problem *p, place_plan *plan);

/* ---- solving (planner/solve/) ---- */

typedef enum plan_solver { PLAN_SOLVER_AUTO, PLAN_SOLVER_FFD, PLAN_SOLVER_ILP } plan_solver;

/* A monotonic clock owned by the caller, in milliseconds. The solvers never read a clock of
 * their own: time limits, progress and solve_ms all come from this one. */
typedef double (*plan_clock_fn)(void *ctx);

/* Where an anytime solve stands. cost_per_hour < 0 until a first plan exists. */
typedef struct plan_progress {
    double elapsed_s;
    double cost_per_hour;  /* best plan so far */
    double bound_per_hour; /* best proven lower bound */
    double gap;            /* (cost - bound) / cost */
    size_t unplaced;       /* replicas the best plan leaves out */
    const char *phase;     /* "ffd", "bound", "dive", "mip", "lns", ... (static string) */
} plan_progress;

/* Called from the solving thread at every check point (many times a second while the solve
 * runs, and at each new plan or bound); returning non-zero stops the solve, which then returns
 * the best plan it has, settled as usual. It must be cheap and must not call the planner. */
typedef int (*plan_progress_fn)(const plan_progress *pr, void *ctx);

typedef struct plan_options {
    plan_solver solver;
    double time_limit_s;         /* default 10 */
    const char *export_lp;       /* write the compact MIP to this file (CPLEX LP) when not NULL */
    plan_clock_fn clock;         /* NULL: no clock; effort limits proportional to time_limit_s
                                  * stand in for time, which makes the result deterministic */
    void *clock_ctx;
    double deadline_ms;          /* on the clock's scale; 0 = start + time_limit_s */
    plan_progress_fn progress;   /* may be NULL */
    void *progress_ctx;
} plan_options;

/* Defaults: auto, 10 s, no clock, no progress. */
void plan_options_default(plan_options *o);

/* Continuous lower bound on cost per hour: each group's bytes priced at the cheapest $/usable
 * byte among bin types it may use. Never above the optimum. */
double plan_bound_continuous(const plan_problem *p);

/* The one place where a plan's cost, lower bound, gap and status are set. `bound` is a lower
 * bound proven for plans that place every replica `plan` places (a larger set is fine too); it
 * is combined with the continuous bound over what the plan placed and rounded up to the prices'
 * granularity. Status: "optimal" when the gap is zero and every replica that can be placed is,
 * else `otherwise` ("feasible", "heuristic"). A bound above the cost is a bug somewhere upstream:
 * VP_ESOLVER, with the plan left as it was (never clamped). */
int plan_settle(const plan_problem *p, place_plan *plan, double bound, const char *otherwise,
                vp_err *e);

/* First-fit decreasing over heterogeneous node types: inventory first, then buys the node type
 * with the best price per useful byte. Returns a new plan (caller frees), settled. */
int plan_ffd(const plan_problem *p, place_plan **out, vp_err *e);

/* Checks a plan against the problem it was made for, beyond place_plan_validate: every placement
 * is a stage of a wanted replica on a node of a type its model may use, with that type's TP
 * degree and bytes per GPU; every replica placed whole or listed unplaced, never both; spread
 * replicas on distinct nodes; max_count and inventory respected; cost, bound, gap and status
 * consistent (bound never above cost). 0, VP_EINPUT with the first broken rule in why, or
 * -ENOMEM. */
int plan_check(const plan_problem *p, const place_plan *plan, char *why, size_t cap);

/* The front door: FFD, then (auto, ilp) the anytime search until the gap is proven zero, the
 * deadline passes or the progress callback says stop. Returns the best plan (caller frees) with
 * bound, gap, status and solve_ms settled. o may be NULL (defaults). Thread-safe on distinct
 * problems. */
int plan_solve(const plan_problem *p, const plan_options *o, place_plan **out, vp_err *e);

/* ---- changing a running plan ---- */

typedef enum plan_move_kind {
    PLAN_MOVE_START,   /* a replica that did not run (new, or displaced from a lost node) */
    PLAN_MOVE_MIGRATE, /* a running replica moves: start it at `to`, then stop it at `from` */
    PLAN_MOVE_STOP,    /* a replica no longer wanted */
} plan_move_kind;

/* One step, for one placement (one pipeline stage of a replica). */
typedef struct plan_move {
    plan_move_kind kind;
    char id[PLACE_ID_MAX];
    char model[PLACE_NAME_MAX];
    uint32_t replica;
    int stage;                      /* -1 when not pipelined */
    char from_node[PLACE_NAME_MAX]; /* "" for START */
    uint8_t from_gpus[PLACE_MAX_GPUS];
    int n_from_gpus;
    char to_node[PLACE_NAME_MAX]; /* "" for STOP */
    uint8_t to_gpus[PLACE_MAX_GPUS];
    int n_to_gpus;
    uint64_t bytes_per_gpu; /* at the destination (STOP: at the source) */
    /* $/hour the running fleet costs less once this step is done (negative when the step brings
     * a node into use). The steps' savings add up to current cost - new cost. */
    double saves_per_hour;
    /* Set only when migrations form a cycle with no room to start any of them first: a STOP
     * step with the flag stops a migrating replica early, and its MIGRATE step later carries the
     * flag too (its old placement is already gone). */
    bool break_before_make;
} plan_move;

typedef struct plan_moves {
    plan_move *v;
    size_t n, cap;
    size_t migrated_replicas;       /* running replicas among MIGRATE steps: what max_moves caps */
    double cost_before, cost_after; /* $/hour */
} plan_moves;

/* The cheapest plan for p that moves at most max_moves running replicas of `current` (-1 = no
 * limit; 0 = only place what is new, unplaced or displaced). A replica of current counts as
 * running when all its stages sit on nodes that still exist in p with its footprint unchanged;
 * others are displaced and re-placed for free. *out (caller frees) reuses current's node names
 * and is settled like plan_solve's; `moves` (may be NULL; else caller frees with
 * plan_moves_free) lists the steps in make-before-break order. Time, progress and cancellation
 * come from o (may be NULL). */
int plan_rebalance(const plan_problem *p, const place_plan *current, long max_moves,
                   const plan_options *o, place_plan **out, plan_moves *moves, vp_err *e);

/* After nodes are lost (p lists the nodes that remain): every running replica of `current` stays
 * exactly where it is, and what is missing (new, displaced, unplaced) is placed on room that is
 * left, buying nodes where the fleet allows. plan_rebalance with max_moves 0. */
int plan_repair(const plan_problem *p, const place_plan *current, const plan_options *o,
                place_plan **out, plan_moves *moves, vp_err *e);

/* Move list from `from` to `to` (nodes matched by name) in make-before-break order. */
int plan_moves_build(const plan_problem *p, const place_plan *from, const place_plan *to,
                     plan_moves *out, vp_err *e);
/* Running replicas of `current` that sit elsewhere (any stage on another node or GPUs) in
 * `next`: the quantity max_moves caps. */
size_t plan_count_migrations(const plan_problem *p, const place_plan *current,
                             const place_plan *next);
void plan_moves_free(plan_moves *m);
/* {"moves": [...], "migrated_replicas": N, "cost_before": X, "cost_after": Y}. Caller frees;
 * NULL when out of memory. */
char *plan_moves_to_json(const plan_moves *m);

/* ---- plan files ---- */

/* Plan JSON exactly as DESIGN.md "The plan". Caller frees the string. */
char *plan_to_json(const place_plan *p);
/* Reads a plan written by plan_to_json (for --current and the controller). */
int plan_from_json(const char *buf, size_t len, const char *what, place_plan **out, vp_err *e);

#endif
