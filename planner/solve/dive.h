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

/* Dives from the master's current state (which it restores before returning) and fills out with
 * the cheapest complete set found before the budget runs out, or leaves it empty. incumbent is
 * the cost to beat (INFINITY when none); target the rounded bound (nothing can cost less).
 * 0, or a negative code. */
int dv_search(cg_master *m, bg_budget *b, double incumbent, double target, dv_set *out,
              vp_err *e);
void dv_set_free(dv_set *s);

#endif
