/* state.c - the state one solve carries from step to step (see state.h): the best plan so far,
 * the best bound, the budget. Plans offered are validated and kept only when better: fewer
 * unplaced replicas first, then cheaper. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lp.h"
#include "settle.h"
#include "state.h"

int ss_init(ss_state *st, const plan_problem *p, const plan_options *o, vp_err *e)
{
    memset(st, 0, sizeof *st);
    st->p = p;
    st->quantum = st_quantum(p);
    st->seed = 0x5DEECE66DULL;
    bg_init(&st->b, o);
    if (vw_init(&st->v, p)) return vp_errf(e, -ENOMEM, "out of memory");
    return 0;
}

void ss_free(ss_state *st)
{
    place_plan_free(st->best);
    vw_free(&st->v);
}

bool ss_better(const place_plan *a, const place_plan *b)
{
    if (!b) return true;
    if (a->n_unplaced != b->n_unplaced) return a->n_unplaced < b->n_unplaced;
    return a->cost_per_hour < b->cost_per_hour - 1e-9 * (1 + b->cost_per_hour);
}

bool ss_offer(ss_state *st, place_plan *plan, const char *solver)
{
    if (!plan) return false;
    place_plan_update_cost(plan);
    char why[256];
    if (place_plan_validate(plan, why, sizeof why) || !ss_better(plan, st->best)) {
        place_plan_free(plan);
        return false;
    }
    snprintf(plan->solver, sizeof plan->solver, "%s", solver);
    place_plan_free(st->best);
    st->best = plan;
    bg_note(&st->b, solver, plan->cost_per_hour, -1, plan->n_unplaced);
    return true;
}

void ss_bound(ss_state *st, double bound)
{
    if (bound > st->bound) st->bound = bound;
    bg_note(&st->b, NULL, -1, ss_target(st), 0);
}

double ss_target(const ss_state *st)
{
    return st->bound > 0 ? lp_round_up(st->bound, st->quantum) : 0;
}

bool ss_at_target(const ss_state *st, place_plan *plan)
{
    place_plan_update_cost(plan);
    double t = ss_target(st);
    return vw_places_all(&st->v, plan) && plan->cost_per_hour <= t + SS_TARGET_TOL * (1 + t);
}

bool ss_closed(const ss_state *st)
{
    const place_plan *b = st->best;
    return b && vw_places_all(&st->v, b) &&
           b->cost_per_hour <= ss_target(st) + SS_TARGET_TOL * (1 + b->cost_per_hour);
}

