/* local.h - local search that never raises cost: empty nodes into room elsewhere, and rebuy a
 * node as a cheaper type that holds all of it. */
#ifndef SOLVE_LOCAL_H
#define SOLVE_LOCAL_H

#include "budget.h"
#include "edit.h"

typedef struct ls_opts {
    const place_plan *origin; /* rebalance: moving what still sits where origin had it costs */
    long *moves_left;         /* ... one unit of this per replica (NULL or < 0: unlimited) */
} ls_opts;

/* Improves x's plan in place until no move helps or the budget runs out, then drops idle bought
 * nodes (which renumbers nodes: x is re-initialised). o may be NULL. 0 or -ENOMEM. */
int ls_consolidate(ed_plan *x, bg_budget *b, const ls_opts *o);

#endif
