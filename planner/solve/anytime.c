/* anytime.c - plan_solve: one loop owns the time budget, progress reports and cancellation, and
 * runs the layers below it in the order that pays:
 *
 *   1. FFD: a plan within milliseconds, with the continuous bound;
 *   2. column generation at the root: the bound worth having (often it closes the gap alone),
 *      then residual diving on its columns, laid out, repaired and consolidated;
 *   3. the compact MIP when the model is small (exact; proves optimality), else the whole-node
 *      integer master when nodes have several GPUs;
 *   4. large neighbourhood search for whatever time is left.
 *
 * Each step offers its plan; the best one (fewest unplaced replicas, then cheapest) is kept, and
 * the loop stops as soon as its cost meets the rounded bound. A plan that breaks a latency
 * objective through co-location (only FFD looks at neighbours' bandwidth) gives way to FFD's.
 * At the end the best plan is settled once (settle.c), with the bound only when it places every
 * replica that can be placed. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "colgen.h"
#include "fill.h"
#include "local.h"
#include "lp.h"
#include "lns.h"
#include "mbs.h"
#include "mip.h"
#include "settle.h"
#include "state.h"

static int at_mip(ss_state *st, double share, vp_err *e)
{
    if (ss_closed(st)) return 0;
    bg_budget sub;
    bg_sub(&sub, &st->b, share);
    bg_phase(&st->b, "mip");
    mip_args a = {.warm = st->best, .max_moves = -1,
                  .known_bound = vw_places_all(&st->v, st->best) ? st->bound : 0};
    mip_result r;
    vp_err sub_e = {0};
    int rc = mip_solve(&st->v, &a, &sub, &r, &sub_e);
    if (rc == -ENOMEM) return vp_errf(e, rc, "%s", sub_e.msg);
    if (rc) return 0; /* a failed improvement step: the plans we have stand */
    if (r.plan && vw_places_all(&st->v, r.plan)) ss_bound(st, r.bound);
    ss_offer(st, r.plan, "ilp");
    return 0;
}

static int at_lns(ss_state *st, vp_err *e)
{
    if (ss_closed(st) || !st->best) return 0;
    bg_phase(&st->b, "lns");
    place_plan *work = place_plan_clone(st->best);
    ed_plan x;
    if (!work || ed_init(&x, &st->v, work)) {
        place_plan_free(work);
        return vp_errf(e, -ENOMEM, "out of memory");
    }
    lns_stats s;
    int rc = lns_run(&x, &st->b, ss_target(st), st->seed, &s);
    if (!rc && !ss_at_target(st, work)) rc = ls_consolidate(&x, &st->b, NULL);
    ed_free(&x);
    if (rc) {
        place_plan_free(work);
        return vp_errf(e, rc, "local search failed (%s)", vp_strerror(rc));
    }
    ss_offer(st, work, "lns");
    return 0;
}

/* Minimum bin slack on the plain bin-packing part of the plan: cheap, and where pieces fill GPUs
 * exactly it finds what first-fit and column generation both miss. */
#define MBS_SHARE 0.15 /* of the time left after FFD */

static int at_mbs(ss_state *st, vp_err *e)
{
    if (ss_closed(st) || !st->best) return 0;
    bg_phase(&st->b, "mbs");
    place_plan *work = place_plan_clone(st->best);
    ed_plan x;
    if (!work || ed_init(&x, &st->v, work)) {
        place_plan_free(work);
        return vp_errf(e, -ENOMEM, "out of memory");
    }
    long saved = 0;
    bg_budget sub; /* a share: on large mixes it would otherwise hold up the bound */
    bg_sub(&sub, &st->b, MBS_SHARE);
    int rc = mbs_run(&x, &sub, &saved);
    ed_free(&x);
    if (rc || !saved) {
        place_plan_free(work);
        return rc ? vp_errf(e, rc, "bin slack packing failed (%s)", vp_strerror(rc)) : 0;
    }
    place_plan_drop_idle(work);
    ss_offer(st, work, "mbs");
    return 0;
}

/* Every placement of a model with slo.tpot_ms meets it, given what shares its GPUs. */
static bool meets_slos(const plan_problem *p, place_plan *plan)
{
    plan_estimate_latency(p, plan);
    for (size_t i = 0; i < plan->n_placements; i++) {
        const place_placement *pl = &plan->placements[i];
        int g = plan_group_find(p, pl->model);
        const plan_model *m = g < 0 ? NULL : &p->manifest->models[p->groups[g].model];
        if (m && m->tpot_ms > 0 && pl->est_tpot_ms > m->tpot_ms * (1 + 1e-9)) return false;
    }
    return true;
}

static bool has_slos(const plan_problem *p)
{
    for (size_t i = 0; i < p->manifest->n_models; i++)
        if (p->manifest->models[i].tpot_ms > 0) return true;
    return false;
}

/* The steps after FFD. */
static int search(ss_state *st, const plan_options *o, vp_err *e)
{
    int rc = 0;
    int rc0 = at_mbs(st, e);
    if (rc0) return rc0;
    size_t cols = mip_size(&st->v, st->best);
    if (o->solver == PLAN_SOLVER_ILP && cols > 0 && cols <= MIP_MAX_COLS)
        rc = at_mip(st, 0.75, e);
    if (!rc && !ss_closed(st) && !bg_over(&st->b)) rc = cgp_run(st, e);
    if (!rc && o->solver == PLAN_SOLVER_AUTO && cols > 0 && cols <= MIP_AUTO_COLS &&
        !bg_over(&st->b))
        rc = at_mip(st, 0.6, e);
    if (!rc && !bg_over(&st->b)) rc = at_lns(st, e);
    return rc;
}

/* FFD's plan is the fallback when the best one breaks a latency objective through neighbours. */
static int finish(ss_state *st, place_plan *ffd, vp_err *e)
{
    if (ffd && has_slos(st->p) && strcmp(st->best->solver, "ffd") != 0 &&
        !meets_slos(st->p, st->best)) {
        place_plan_free(st->best);
        st->best = place_plan_clone(ffd);
        if (!st->best) return vp_errf(e, -ENOMEM, "out of memory");
    }
    plan_estimate_latency(st->p, st->best);
    double bound = vw_places_all(&st->v, st->best) ? st->bound : 0;
    bool heur = !strcmp(st->best->solver, "ffd");
    int rc = plan_settle(st->p, st->best, bound, heur ? "heuristic" : "feasible", e);
    double ms = bg_elapsed_ms(&st->b);
    st->best->solve_ms = ms > 0 ? (uint64_t)ms : 0;
    return rc;
}

int plan_solve(const plan_problem *p, const plan_options *o, place_plan **out, vp_err *e)
{
    plan_options d;
    if (!o) plan_options_default(&d), o = &d;
    ss_state st;
    place_plan *ffd = NULL;
    int rc = ss_init(&st, p, o, e);
    if (!rc) rc = plan_ffd(p, &ffd, e);
    if (!rc && o->export_lp) {
        mip_args a = {.warm = ffd, .max_moves = -1, .export_lp = o->export_lp, .export_only = true};
        mip_result r;
        rc = mip_solve(&st.v, &a, &st.b, &r, e);
    }
    if (!rc) {
        /* FFD's plan is kept aside only when latency objectives may need it at the end (a copy
         * of a plan with 100,000 placements costs a good part of a second). */
        place_plan *first = ffd;
        if (o->solver != PLAN_SOLVER_FFD && has_slos(p)) first = place_plan_clone(ffd);
        else ffd = NULL;
        st.b.bound = plan_bound_continuous(p) > 0 ? st_round(p, plan_bound_continuous(p)) : 0;
        st.bound = plan_bound_continuous(p);
        ss_offer(&st, first, "ffd");
        if (!st.best) rc = vp_errf(e, -ENOMEM, "out of memory");
    }
    if (!rc && o->solver != PLAN_SOLVER_FFD) rc = search(&st, o, e);
    if (!rc) rc = finish(&st, ffd, e);
    if (!rc) *out = st.best, st.best = NULL;
    place_plan_free(ffd);
    ss_free(&st);
    return rc;
}
