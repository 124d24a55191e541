/* mip.h - the compact MIP: exact for TP groups, pipeline stages, spread, allow-lists, inventory
 * and max_count; the exact search for small fleets and for rebalancing under a move budget.
 *
 * Node slots: every inventory node, every bought node of the current plan (rebalance), then K_b
 * fresh slots per purchasable type b (bounded by max_count, by the incumbent's cost over b's
 * price, and by the units that may go on b). Per slot n and GPU g, z[j,n,g] counts units of kind
 * j that use GPU g; for tp > 1 an integer m[j,n] counts units on the node with sum_g z = tp x m
 * and z <= m, which is exactly "m units of tp distinct GPUs each". Per GPU, the bytes placed are
 * at most usable x y[n]. Pipeline stages of a replica need distinct nodes: sum_s m[s,n] <=
 * replicas per node (König), and extraction colours the stages x nodes multigraph to name the
 * replicas. Spread models get sum_s m[s,n] <= 1. Where capacity is finite a slack counts
 * unplaced replicas at a penalty above any plan's cost. Rebalance adds a binary "stays" per
 * running replica and sum (1 - stays) <= max_moves. Symmetry: identical slots are used in order,
 * the GPUs of a slot without pinned placements by non-increasing load. */
#ifndef SOLVE_MIP_H
#define SOLVE_MIP_H

#include <stdbool.h>
#include <stddef.h>

#include "budget.h"
#include "view.h"

#define MIP_MAX_COLS 20000          /* solved only below this many columns */
#define MIP_AUTO_COLS 3000          /* the anytime loop tries it only below this */
#define MIP_EXPORT_MAX_COLS 2000000 /* larger models are not written at all */

typedef struct mip_args {
    const place_plan *warm;    /* incumbent to start from (may be NULL) */
    const place_plan *current; /* rebalance: its running replicas may stay put (may be NULL) */
    long max_moves;            /* with current: running replicas that may move; -1 = any */
    const char *export_lp;     /* write the model here first (may be NULL) */
    bool export_only;          /* write and return */
    double known_bound;        /* proven elsewhere: stop once the incumbent meets it */
} mip_args;

typedef struct mip_result {
    place_plan *plan;   /* the incumbent as a plan (caller frees), NULL when none */
    double bound;       /* lower bound on cost for plans placing every placeable replica (0
                         * when the incumbent does not place them all) */
    bool optimal;
} mip_result;

/* Columns the model would have (0 on error). */
size_t mip_size(const vw_view *v, const place_plan *warm);

/* Builds and solves (or only writes). VP_ETOOBIG above MIP_MAX_COLS (the file is still written
 * below MIP_EXPORT_MAX_COLS). Out of budget is not an error: r->plan is the best incumbent, or
 * NULL. 0, or a negative code. */
int mip_solve(const vw_view *v, const mip_args *a, bg_budget *b, mip_result *r, vp_err *e);

#endif
