/* planjson.h - the plan file with the GPU totals engines need (planjson.c).
 *
 * plan_to_json and plan_from_json (planner.h) write and read the plan file. A plan written with
 * its fleet also carries every GPU's physical memory_bytes, each placement's gpu_memory_bytes and
 * the fleet's gpu_memory_utilization: what an engine's memory flag is derived from
 * (bytes_per_gpu / gpu_memory_bytes). Pure; thread-safe on distinct objects. */
#ifndef PLAN_PLANJSON_H
#define PLAN_PLANJSON_H

#include "planner.h"

/* plan_to_json with the GPU totals of fleet f (NULL: none), for the GPU models f knows.
 * Caller frees the string. */
char *plan_to_json_fleet(const place_plan *p, const plan_fleet *f);

/* The GPU totals a plan file may carry. memory_bytes[i][g]: physical bytes of GPU g of node i
 * (plan order), 0 when the file does not say; gpu_memory_utilization 0 when absent. */
typedef struct plan_gpu_totals {
    uint64_t (*memory_bytes)[PLACE_MAX_GPUS];
    size_t n_nodes;
    double gpu_memory_utilization;
} plan_gpu_totals;

/* plan_from_json that also returns the totals; release them with plan_gpu_totals_free (also
 * after a failure). A GPU's memory_bytes below its usable_bytes is refused. */
int plan_from_json_totals(const char *buf, size_t len, const char *what, place_plan **out,
                          plan_gpu_totals *totals, vp_err *e);
void plan_gpu_totals_free(plan_gpu_totals *t);

#endif
