/* dive.h - residual diving with limited discrepancy search over the master's columns: a primal
 * heuristic that turns the LP into a set of patterns covering every kind. */
#ifndef SOLVE_DIVE_H
#define SOLVE_DIVE_H

#include "master.h"

typedef struct dv_fix {
    int pat;
    long copies;
} dv_fix;

typedef struct dv_set {
    dv_fix *v;
    size_t n, cap;
    double cost; /* sum of the patterns' GPU prices */
} dv_set;

/* Called between search nodes (the master mid-dive: only its patterns may be read). May lower
 * *incumbent (a plan found elsewhere). 1 stops the search (nothing left to find), 0 goes on, a
 * negative code fails it. */
typedef int (*dv_hook)(void *ctx, double *incumbent);

/* Dives from the master's current state (which it restores before returning) and fills out with
 * the cheapest complete set found before the budget runs out, or leaves it empty. incumbent is
 * the cost to beat (INFINITY when none); target the rounded bound (nothing can cost less). hook
 * (may be NULL) is called between nodes.
 * 0, or a negative code. */
int dv_search(cg_master *m, bg_budget *b, double incumbent, double target, dv_hook hook,
              void *hook_ctx, dv_set *out, vp_err *e);
void dv_set_free(dv_set *s);

#endif
