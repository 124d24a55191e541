/* current.h - the running replicas of a current plan (rebalance and repair). */
#ifndef SOLVE_CURRENT_H
#define SOLVE_CURRENT_H

#include <stddef.h>

#include "view.h"

/* A replica of the current plan that runs: all its stages present, on nodes that still exist in
 * the problem, with the footprint the problem gives it there. */
typedef struct cur_rep {
    size_t group;
    uint32_t replica;
    int n_stages;
    size_t pl[PLAN_MAX_PP]; /* index into current->placements, per stage */
} cur_rep;

/* *reps is allocated (caller frees with free()); replicas p no longer wants are left out. */
int cur_scan(const vw_view *v, const place_plan *current, cur_rep **reps, size_t *n, vp_err *e);

/* Placement ids of a plan, sorted, for O(log n) lookups. */
typedef struct cur_ids {
    const place_plan *plan;
    struct cur_id {
        const char *id;
        size_t k;
    } *ent;
    size_t n;
} cur_ids;
int cur_ids_new(const place_plan *plan, cur_ids *x);
int cur_ids_find(const cur_ids *x, const char *id);
void cur_ids_free(cur_ids *x);
/* Placement x of plan a and placement y of plan b sit on the same node name, GPUs and bytes. */
bool cur_same_slot(const place_plan *a, const place_placement *x, const place_plan *b,
                   const place_placement *y);

#endif
