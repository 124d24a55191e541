/* solve.c - plan_solve: the front door that picks and combines solvers.
 *
 * ffd: first-fit decreasing only. auto: FFD first (fast, and the warm start), then column
 * generation and, when the model is small enough, the GLPK MIP within the time limit; the cheaper
 * plan wins, with the best lower bound any method proved. ilp: the same, insisting on the MIP.
 * Two guards sit on every answer: the bound never exceeds the cost (a plan with unplaced replicas
 * claims only the bound of what it placed), and a plan that breaks a latency objective through
 * co-location (the exact solvers see each model's GPU speed, not its neighbours) is dropped for
 * FFD's, which checks neighbours. */
#include <stdio.h>
#include <string.h>

#include "ilp.h"
#include "planner.h"

void plan_options_default(plan_options *o)
{
    o->solver = PLAN_SOLVER_AUTO;
    o->time_limit_s = 10.0;
    o->export_lp = NULL;
}

/* Every placement of a model with slo.tpot_ms meets it, given what shares its GPUs. */
static bool meets_slos(const plan_problem *p, const place_plan *plan)
{
    for (size_t i = 0; i < plan->n_placements; i++) {
        const place_placement *pl = &plan->placements[i];
        int g = plan_group_find(p, pl->model);
        const plan_model *m = g < 0 ? NULL : &p->manifest->models[p->groups[g].model];
        if (m && m->tpot_ms > 0 && pl->est_tpot_ms > m->tpot_ms * (1 + 1e-9)) return false;
    }
    return true;
}

int plan_solve(const plan_problem *p, const plan_options *o, place_plan **out, vp_err *e)
{
    double t0 = plan_now_ms();
    place_plan *ffd = NULL, *best = NULL;
    int rc = plan_ffd(p, &ffd, e);
    if (rc) return rc;
    if (o->solver == PLAN_SOLVER_FFD) {
        if (o->export_lp && (rc = plan_ilp_export(p, ffd, o->export_lp, e))) {
            place_plan_free(ffd);
            return rc;
        }
        *out = ffd;
        return 0;
    }
    if (o->solver == PLAN_SOLVER_ILP) {
        rc = plan_ilp(p, ffd, o->time_limit_s, o->export_lp, &best, e);
        if (rc == VP_ETOOBIG) {
            /* Too large for the MIP: column generation (the file, if asked, is written). */
            plan_options o2 = *o;
            o2.export_lp = NULL;
            rc = plan_optimize(p, ffd, &o2, &best, e);
        }
    } else {
        rc = plan_optimize(p, ffd, o, &best, e);
    }
    if (rc) {
        place_plan_free(ffd);
        return rc;
    }
    plan_estimate_latency(p, best);
    if (!meets_slos(p, best) || (best->n_unplaced > ffd->n_unplaced) ||
        (best->n_unplaced == ffd->n_unplaced && best->cost_per_hour > ffd->cost_per_hour)) {
        /* Keep FFD's plan, with the better bound. */
        double lb = best->lower_bound_per_hour > ffd->lower_bound_per_hour
                        ? best->lower_bound_per_hour
                        : ffd->lower_bound_per_hour;
        if (best->n_unplaced > ffd->n_unplaced) lb = ffd->lower_bound_per_hour;
        place_plan_free(best);
        best = ffd;
        best->lower_bound_per_hour = lb;
        ffd = NULL;
    }
    place_plan_free(ffd);
    plan_bound_settle(p, best);
    if (best->gap <= 1e-9 && best->n_unplaced == 0) snprintf(best->status, sizeof best->status, "optimal");
    double ms = plan_now_ms() - t0;
    best->solve_ms = ms > 0 ? (uint64_t)ms : 0;
    *out = best;
    return 0;
}
