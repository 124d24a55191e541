/* state.h - the state one solve carries from step to step: the best plan, the best bound, the
 * budget. plan_solve (anytime.c) and plan_rebalance both drive it. */
#ifndef SOLVE_STATE_H
#define SOLVE_STATE_H

#include "budget.h"
#include "view.h"

typedef struct ss_state {
    const plan_problem *p;
    vw_view v;
    bg_budget b;
    place_plan *best;  /* owned */
    double bound;      /* proven for plans that place every placeable replica (not rounded) */
    double quantum;
    uint64_t seed;
} ss_state;

int ss_init(ss_state *st, const plan_problem *p, const plan_options *o, vp_err *e);
void ss_free(ss_state *st);
/* a is better than b: fewer unplaced replicas, then cheaper. */
bool ss_better(const place_plan *a, const place_plan *b);
/* Offers a plan (taken over, NULL ok): kept when better than the best. Returns whether kept. */
bool ss_offer(ss_state *st, place_plan *plan, const char *solver);
/* Raises the bound. */
void ss_bound(ss_state *st, double bound);
/* The best plan meets the rounded bound and places everything: nothing left to find. */
/* How close (relative) a plan's cost must come to the rounded bound to count as meeting it: the
 * LP solvers' own tolerance, so a bound a few ulps under a price sum does not keep the search
 * running for its whole budget. */
#define SS_TARGET_TOL 1e-7

bool ss_closed(const ss_state *st);
/* plan (its cost brought up to date) places every replica and meets the rounded bound: nothing
 * left to gain, so no further polishing is worth its time. */
bool ss_at_target(const ss_state *st, place_plan *plan);
/* The rounded bound (what a plan must cost to close the gap). */
double ss_target(const ss_state *st);


#endif
