/* lns.h - large neighbourhood search (ruin and recreate) over a complete plan, for whatever time
 * is left: take every placement off a few nodes, put them back by best fit (repair), keep the
 * result when it is cheaper, or as cheap with the spare room gathered on fewer nodes. */
#ifndef SOLVE_LNS_H
#define SOLVE_LNS_H

#include "budget.h"
#include "edit.h"

typedef struct lns_stats {
    unsigned long rounds, accepted, improved;
} lns_stats;

/* Improves x's plan in place until the budget ends or its cost reaches `target` (a proven bound,
 * rounded). Never leaves it worse: fewer unplaced replicas first, then lower cost. seed makes
 * the run repeatable. 0 or -ENOMEM. */
int lns_run(ed_plan *x, bg_budget *b, double target, uint64_t seed, lns_stats *st);

#endif
