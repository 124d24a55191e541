/* report.h - the cost reviewer's report of a plan (`vrampack plan --report`) and the baselines it
 * is compared with.
 *
 * A report answers what a reviewer asks before buying GPUs: what each model needs (weights, KV
 * cache, overhead, CUDA context, per GPU), where it went, how full every node and GPU is, what the
 * plan costs per hour and per month (730 h), how far from optimal it can be (the lower bound and
 * the gap), and what two simpler policies would cost on the same manifest:
 *
 *  - "one model per GPU": no sharing. Every replica, largest first, takes whole nodes of the
 *    cheapest node kind still available whose GPUs hold it alone (one node per pipeline stage,
 *    tp GPUs of it used, the rest of the node idle but paid for). gpu_types allow-lists and
 *    inventory limits are honoured; nothing else shares the node.
 *  - "everything on A100-80GB": the same manifest packed with first-fit decreasing onto the
 *    A100-80GB instance types only (the fleet's own, or the built-in catalog's when the fleet
 *    sells none), as many as needed (max_count lifted), inventory left out: what standardising
 *    on that one GPU would cost. A model whose gpu_types rule A100-80GB out (an fp8 model that
 *    needs Hopper) cannot be standardised and stays on the fleet's types it allows.
 *
 * Sizes are printed in GiB (2^30 bytes) and the report says so; the JSON report keeps exact byte
 * counts. Pure: no I/O, no clocks. Thread-safe on distinct objects. */
#ifndef PLAN_REPORT_H
#define PLAN_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "placement.h"
#include "planner.h"
#include "vp.h"

#define PLAN_HOURS_PER_MONTH 730.0

typedef enum plan_report_fmt {
    PLAN_REPORT_TEXT,
    PLAN_REPORT_MD,
    PLAN_REPORT_JSON,
    PLAN_REPORT_HTML
} plan_report_fmt;

/* "text", "md" (or "markdown"), "json", "html" -> fmt. Returns 0 or VP_ENOTFOUND. */
int plan_report_parse_fmt(const char *s, plan_report_fmt *out);
const char *plan_report_fmt_name(plan_report_fmt f);

/* One baseline policy priced on the same manifest. */
typedef struct plan_baseline {
    bool available;       /* false when the policy has no node kind to use at all */
    double cost_per_hour; /* nodes bought (and inventory used), summed */
    uint32_t nodes;       /* nodes used */
    uint32_t gpus;        /* GPUs on those nodes, idle ones included */
    uint32_t replicas_placed;
    uint32_t replicas_unplaced;
    char note[PLACE_REASON_MAX]; /* e.g. where prices came from, or the first unplaced reason */
} plan_baseline;

/* What the one-model-per-GPU baseline chose for one model (manifest order). */
typedef struct plan_baseline_pick {
    int bintype;                /* index into problem->bintypes of replica 0's pick, -1 none */
    uint32_t nodes_per_replica; /* pipeline stages: one node each */
    double cost_per_hour;       /* all of this model's replicas */
} plan_baseline_pick;

typedef struct plan_baselines {
    plan_baseline one_per_gpu;
    plan_baseline a100;
    plan_baseline_pick *picks; /* [problem->n_groups], owned */
    size_t n_picks;
} plan_baselines;

/* Prices both baselines for problem p. Fills *out (caller releases it with plan_baselines_free,
 * also after a failure). Errors: out of memory, or a failure of plan_problem_build / plan_ffd on
 * the A100-80GB fleet (e filled). Replicas a baseline cannot place are counted, not errors. */
int plan_baselines_compute(const plan_problem *p, plan_baselines *out, vp_err *e);
void plan_baselines_free(plan_baselines *b);

/* What losing one node of the plan costs (the N+1 analysis). This module only renders it; the
 * analysis re-places the node's replicas with the solver's repair and fills one entry per node of
 * the plan. Strings are borrowed for the duration of the plan_report_render call. */
typedef struct plan_node_loss {
    const char *node;
    const char *const *replaced; /* placement ids that fit into spare room */
    size_t n_replaced;
    const char *const *needs_new_nodes; /* instance types that would be bought, one per node */
    size_t n_needs_new_nodes;
    const char *const *unplaced; /* placement ids that could not be placed */
    size_t n_unplaced;
    double extra_cost_per_hour; /* of the nodes bought */
} plan_node_loss;

/* Everything a report is made from; all borrowed. */
typedef struct plan_report_input {
    const plan_problem *problem;
    const place_plan *plan;          /* solved from problem */
    const plan_baselines *baselines; /* NULL: no baseline section */
    const plan_node_loss *node_loss; /* [n_node_loss]; NULL: the N+1 analysis was not run */
    size_t n_node_loss;
    size_t spare_nodes;              /* spare nodes the plan holds (plan --spare-nodes) */
    double plain_cost_per_hour;      /* with spare_nodes: the plan's cost without them */
} plan_report_input;

/* Renders the report of in->plan in fmt. Returns a NUL-terminated string the caller frees, or
 * NULL when out of memory.
 *
 * Counts: a node is paid when it hosts at least one placement (cost_per_hour is the sum of those
 * nodes' prices); an inventory node that hosts nothing is idle, listed and not charged. Every
 * node and GPU count of the report, in every format, is one of these.
 *
 * Baselines are compared like for like: when a baseline does not place the same replicas as the
 * plan (or the report cannot tell), no saving is shown, and the report says why.
 *
 * JSON report (fmt PLAN_REPORT_JSON), report_version 1; bytes are exact integers, money in $:
 *   report_version, manifest, fleet, bytes_per_gib (1073741824), hours_per_month (730),
 *   solver, status, solve_ms, cost_per_hour, cost_per_month, lower_bound_per_hour, gap,
 *   max_above_optimal ((cost - bound) / bound, null when the bound is 0),
 *   replicas_requested, replicas_placed, replicas_unplaced,
 *   nodes_paid, gpus_paid, nodes_idle_inventory, gpus_idle_inventory,
 *   gpus_total (paid + idle), gpus_used (holding a slice), usable_bytes, used_bytes (over the
 *   nodes listed in nodes[]),
 *   models[] (manifest order): name, fixed, params, dtype, kv_dtype, seq_len, batch (the last
 *             four "" / 0 for memory_bytes models), weights_bytes, kv_cache_bytes,
 *             overhead_bytes, reserve_bytes, total_bytes (the footprint on the node kind of its
 *             first placement), tp, pp (of its first placement), per_gpu_bytes (the largest over
 *             its placements), replicas, placed, nodes[] (node names, in plan order, each once),
 *             colour ("#rrggbb", the model's colour in the HTML picture),
 *             baseline_one_per_gpu {type, nodes_per_replica, cost_per_hour} or null,
 *   nodes[]: name, type, inventory, paid, price_per_hour, gpu, gpus_total, gpus_used,
 *            usable_bytes, used_bytes, utilization, gpus[] {index, model, usable_bytes,
 *            used_bytes, utilization, placements[] (ids)},
 *   bill_of_materials[]: type, gpu, gpus_per_node, inventory, count, gpus, price_per_hour (each
 *            node), cost_per_hour (count x price); the lines add up to nodes_paid, gpus_paid
 *            and cost_per_hour,
 *   cost_by_tier: {on_demand, spot, reserved} each {nodes, gpus, cost_per_hour, cost_per_month}
 *            over the paid nodes (the three add up to cost_per_hour),
 *   spot_savings: {spot_cost_per_hour, on_demand_cost_per_hour (the same spot nodes bought on
 *            demand: the type without ":spot", else the cheapest on-demand type of the same GPUs),
 *            savings_per_hour, savings_per_month (over the nodes that have such a type),
 *            nodes_not_compared},
 *   interruption_exposure: {interruptions_per_day (expected over the paid spot nodes), nodes[]
 *            {node, interruptions_per_hour, interruptions_per_day, placements[] (ids it would
 *            stop)}},
 *   lora_bases[]: model, adapters, max_resident, rank, replicas_placed, slice_bytes (one replica
 *            with its resident adapters), separate_model_bytes (one adapter served as a model of
 *            its own), cost_per_gib_hour (cost_per_hour over the GiB the paid nodes hold),
 *            separate_cost_per_hour (adapters x separate_model_bytes at that price),
 *            plan_cost_per_hour (replicas_placed x slice_bytes at that price), savings_per_hour,
 *   training_jobs[]: model, method, optimizer, trainable_params, gpus_per_replica (the gang,
 *            data_parallel, on one node), per_gpu_bytes, replicas, placed,
 *   latency[] (one per placement): placement, model, class, tier, est_tpot_ms, est_ttft_ms (at
 *            slo.prompt_tokens, PLAN_PREFILL_MFU_PPM of datasheet TFLOPS; null when unknown),
 *   unplaced[]: model, replica, reason,
 *   baselines: {one_model_per_gpu, a100_80gb} each {available, description, note, cost_per_hour,
 *            cost_per_month, nodes, gpus, replicas_placed, replicas_unplaced, comparable,
 *            not_comparable_reason ("" when comparable), savings_per_hour, savings_per_month,
 *            savings_fraction (the three null when not comparable)}, or null when no baselines,
 *   node_loss: null when the N+1 analysis was not run, else [] of {node, replaced[],
 *            needs_new_nodes[], unplaced[], extra_cost_per_hour},
 *   spare_nodes (count; spare nodes also carry "spare": true in nodes[]),
 *   cost_without_spares_per_hour, spare_cost_per_hour (both null without spares),
 *   plan: the plan itself as plan_to_json_fleet writes it with the problem's fleet (planjson.h). */
char *plan_report_render(const plan_report_input *in, plan_report_fmt fmt);

/* plan_report_render without the N+1 analysis. b may be NULL (no baseline section). */
char *plan_report(const plan_problem *p, const place_plan *plan, const plan_baselines *b,
                  plan_report_fmt fmt);

#endif
