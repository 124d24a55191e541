/* anytime.h - the state one solve carries from step to step: the best plan, the best bound, the
 * budget. plan_solve and plan_rebalance both drive it. */
#ifndef SOLVE_ANYTIME_H
#define SOLVE_ANYTIME_H

#include "budget.h"
#include "view.h"

typedef struct at_state {
    const plan_problem *p;
    vw_view v;
    bg_budget b;
    place_plan *best;  /* owned */
    double bound;      /* proven for plans that place every placeable replica (not rounded) */
    double quantum;
    uint64_t seed;
} at_state;

int at_init(at_state *st, const plan_problem *p, const plan_options *o, vp_err *e);
void at_free(at_state *st);
/* a is better than b: fewer unplaced replicas, then cheaper. */
bool at_better(const place_plan *a, const place_plan *b);
/* Offers a plan (taken over, NULL ok): kept when better than the best. Returns whether kept. */
bool at_offer(at_state *st, place_plan *plan, const char *solver);
/* Raises the bound. */
void at_bound(at_state *st, double bound);
/* The best plan meets the rounded bound and places everything: nothing left to find. */
bool at_closed(const at_state *st);
/* The rounded bound (what a plan must cost to close the gap). */
double at_target(const at_state *st);

/* Search steps after FFD (column generation is colgen.h's), each within the budget, each
 * offering what it finds. */
int at_mip(at_state *st, double share, vp_err *e);
int at_lns(at_state *st, vp_err *e);

#endif
