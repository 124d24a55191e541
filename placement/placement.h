/* placement.h - the plan data model: nodes, their GPUs, placements (slices) and what could not
 * be placed; validation and diff.
 *
 * A plan is plain data shared by the planner (which builds it), the controller (which stores and
 * enforces it) and the CLI (which prints it). It knows nothing about models' architecture: a
 * placement is (model name, replica, stage, node, GPU indices, bytes per GPU). Invariant kept by
 * place_plan_assign and checked by place_plan_validate: on every GPU the sum of bytes of the
 * placements on it never exceeds its usable bytes, and a placement's GPUs are distinct GPUs of one
 * node. Only libc; no I/O. Not thread-safe: one owner at a time. */
#ifndef PLACEMENT_H
#define PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PLACE_MAX_GPUS 16   /* GPUs per node */
#define PLACE_NAME_MAX 64   /* node and model names, including the NUL */
#define PLACE_TYPE_MAX 48   /* instance types and GPU model names */
#define PLACE_ID_MAX 96     /* "model/replica[/stage]" */
#define PLACE_REASON_MAX 256
#define PLACE_MAX_PER_NODE 4096 /* placements on one node (what one agent report can carry) */

typedef struct place_gpu {
    char model[PLACE_TYPE_MAX]; /* GPU model name, e.g. "H100" */
    uint64_t usable_bytes;      /* physical bytes x gpu_memory_utilization */
    uint64_t used_bytes;        /* sum of bytes_per_gpu of placements on this GPU */
    uint32_t bandwidth_gbs;     /* memory bandwidth, GB/s (decimal); 0 when unknown */
} place_gpu;

typedef struct place_node {
    char name[PLACE_NAME_MAX];
    char type[PLACE_TYPE_MAX]; /* instance type, e.g. "p5.48xlarge" */
    double price_per_hour;
    bool inventory;            /* it exists already (not bought by this plan) */
    bool spare;                /* bought empty and kept as room for a lost node's replicas
                                * (paid although it hosts nothing) */
    int n_gpus;
    place_gpu gpus[PLACE_MAX_GPUS];
    uint32_t n_placed;         /* placements on this node, kept by assign/unassign */
} place_node;

typedef struct place_placement {
    char id[PLACE_ID_MAX];      /* "model/replica" or "model/replica/stage" */
    char model[PLACE_NAME_MAX];
    uint32_t replica;
    int stage;                  /* pipeline stage, -1 when the model is not pipelined */
    int n_stages;               /* 1 when not pipelined */
    int node;                   /* index into plan->nodes */
    int n_gpus;                 /* tensor-parallel degree */
    uint8_t gpus[PLACE_MAX_GPUS];
    uint64_t bytes_per_gpu;
    double est_tpot_ms;         /* predicted time per output token on this slice; 0 = unknown */
} place_placement;

typedef struct place_unplaced {
    char model[PLACE_NAME_MAX];
    uint32_t replica;
    char reason[PLACE_REASON_MAX];
} place_unplaced;

typedef struct place_plan {
    char solver[16];            /* "ffd", "ilp", "colgen", ... */
    char status[16];            /* "optimal", "feasible", "heuristic", "infeasible" */
    double cost_per_hour;       /* sum of price_per_hour of nodes that host a placement */
    double lower_bound_per_hour;
    double gap;                 /* (cost - bound) / cost, 0 when cost is 0 */
    uint64_t solve_ms;
    place_node *nodes;
    size_t n_nodes, cap_nodes;
    place_placement *placements;
    size_t n_placements, cap_placements;
    place_unplaced *unplaced;
    size_t n_unplaced, cap_unplaced;
} place_plan;

/* Returns a new empty plan, or NULL when out of memory. Free with place_plan_free (NULL ok). */
place_plan *place_plan_new(void);
void place_plan_free(place_plan *p);
/* Deep copy; NULL when out of memory. Caller frees. */
place_plan *place_plan_clone(const place_plan *p);

/* Appends a node (copied); returns its index (>= 0) or a negative VP_E* code. used_bytes of the
 * copy are taken as given (normally 0). */
int place_plan_add_node(place_plan *p, const place_node *n);

/* 1 when gpu `g` of node `node` has room for `bytes` more. */
bool place_gpu_fits(const place_plan *p, int node, int g, uint64_t bytes);

/* Records a placement on node `node`, GPUs gpus[0..n_gpus-1], bytes on each, and adds the bytes
 * to those GPUs' used_bytes. Refuses (VP_ENOSPACE) a GPU that would be overcommitted and
 * (VP_EINPUT) repeated or out-of-range GPU indices, changing nothing. id is built from model,
 * replica and stage. VP_ENOSPACE too when the node already holds PLACE_MAX_PER_NODE placements.
 * Returns the placement's index or a negative code. */
int place_plan_assign(place_plan *p, const char *model, uint32_t replica, int stage, int n_stages,
                      int node, const uint8_t *gpus, int n_gpus, uint64_t bytes_per_gpu);

/* Removes placement i (swapping the last one into its slot) and gives its bytes back. */
void place_plan_unassign(place_plan *p, size_t i);

int place_plan_add_unplaced(place_plan *p, const char *model, uint32_t replica, const char *reason);

/* Index of the placement with this id, or -1. Linear. */
int place_plan_find(const place_plan *p, const char *id);

/* Number of placements on node i (nodes with none are idle and cost nothing, unless spare). */
size_t place_node_load(const place_plan *p, size_t i);

/* Recomputes cost_per_hour from the nodes that host at least one placement or are spare, and gap
 * from the bound. */
void place_plan_update_cost(place_plan *p);

/* Drops nodes that host nothing and are neither inventory nor spare, renumbering placements. */
int place_plan_drop_idle(place_plan *p);

/* Checks every invariant from scratch: recomputed used bytes equal the stored ones and never
 * exceed usable bytes, GPU indices in range and distinct, ids unique, pipeline stages of one
 * replica on distinct nodes. Returns 0 or VP_EINPUT with a description in why. */
int place_plan_validate(const place_plan *p, char *why, size_t why_cap);

/* Formats the canonical id into buf. */
void place_make_id(char *buf, size_t cap, const char *model, uint32_t replica, int stage);

/* What it takes to go from plan `from` to plan `to`, by placement id: a placement that exists in
 * both on the same node and GPUs stays; one only in `to` (or moved) starts; one only in `from`
 * (or moved) stops. Arrays index into the respective plans; caller frees with place_diff_free. */
typedef struct place_diff {
    size_t *start;  size_t n_start;  /* indices into to->placements */
    size_t *stop;   size_t n_stop;   /* indices into from->placements */
    size_t n_keep;
} place_diff;

int place_plan_diff(const place_plan *from, const place_plan *to, place_diff *out);
void place_diff_free(place_diff *d);

#ifdef __cplusplus
}
#endif

#endif
