/* colgen.c - column generation as a step of the anytime search (see colgen.h).
 *
 * The root master gets up to 40% of the time left, diving 70% of what remains after it (on
 * Hard28 the dive is what finds the optimum; LNS gets the rest). Its bound is a dual bound and
 * holds however far it got (see master.h); it counts for plans that place everything. Diving
 * builds a set of GPU patterns; layout puts them on nodes, repair places what the patterns could
 * not (pipelines, leftovers), consolidation empties and downsizes nodes. When nodes have several
 * GPUs and the plan still misses the bound, the whole-node integer master gets a turn. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "colgen.h"
#include "dive.h"
#include "fill.h"
#include "layout.h"
#include "local.h"
#include "master.h"
#include "nodes.h"

/* Repair and consolidation of a partial plan, then offered. */
static int polish_and_offer(ss_state *st, place_plan *plan, const char *solver, vp_err *e)
{
    ed_plan x;
    if (ed_init(&x, &st->v, plan)) {
        place_plan_free(plan);
        return vp_errf(e, -ENOMEM, "out of memory");
    }
    int rc = fl_fill(&x, e);
    bg_budget sub;
    bg_sub(&sub, &st->b, 0.5);
    if (!rc && !ss_at_target(st, plan) && (rc = ls_consolidate(&x, &sub, NULL)))
        rc = vp_errf(e, rc, "consolidation failed (%s)", vp_strerror(rc));
    ed_free(&x);
    if (rc) {
        place_plan_free(plan);
        return rc;
    }
    ss_offer(st, plan, solver);
    return 0;
}

static int root(ss_state *st, cg_master *m, vp_err *e)
{
    bg_budget sub;
    bg_sub(&sub, &st->b, 0.4);
    bg_phase(&st->b, "bound");
    int rc = cg_init(m, &st->v, NULL, st->quantum, e);
    if (rc) return rc;
    if (vw_places_all(&st->v, st->best)) m->ub = st->best->cost_per_hour;
    if ((rc = cg_seed_plan(m, st->best)) || (rc = cg_seed_basic(m)))
        return vp_errf(e, rc, "column generation: seeding failed (%s)", vp_strerror(rc));
    rc = cg_run(m, &sub, 1000000, e);
    if (!rc) ss_bound(st, m->bound);
    return rc;
}

static int dive(ss_state *st, cg_master *m, vp_err *e)
{
    bg_budget sub;
    bg_sub(&sub, &st->b, 0.7); /* the rest: bin-packing search and local search */
    bg_phase(&st->b, "dive");
    dv_set set = {0};
    double inc = vw_places_all(&st->v, st->best) ? st->best->cost_per_hour : INFINITY;
    int rc = dv_search(m, &sub, inc, ss_target(st), &set, e);
    place_plan *plan = !rc && set.n ? place_plan_new() : NULL;
    if (!rc && set.n && !plan) rc = vp_errf(e, -ENOMEM, "out of memory");
    if (plan && !(rc = ly_build(m, &set, plan, e))) {
        rc = polish_and_offer(st, plan, "colgen", e);
        plan = NULL;
    }
    place_plan_free(plan);
    dv_set_free(&set);
    return rc;
}

static bool multi_gpu(const vw_view *v)
{
    for (size_t c = 0; c < v->nc; c++)
        if (v->cls[c].G > 1) return true;
    return false;
}

static int node_master(ss_state *st, cg_master *m, vp_err *e)
{
    bg_budget sub;
    bg_sub(&sub, &st->b, 0.5);
    bg_phase(&st->b, "nodes");
    const place_plan *seeds[1] = {st->best};
    place_plan *plan = NULL;
    int rc = nm_run(m, seeds, 1, ss_target(st), &sub, &plan, e);
    if (!rc && plan) rc = polish_and_offer(st, plan, "colgen", e);
    return rc;
}

int cgp_run(ss_state *st, vp_err *e)
{
    if (!st->v.nk) return 0;
    cg_master m;
    int rc = root(st, &m, e);
    if (!rc && !ss_closed(st) && !bg_over(&st->b)) rc = dive(st, &m, e);
    if (!rc && !ss_closed(st) && !bg_over(&st->b) && multi_gpu(&st->v))
        rc = node_master(st, &m, e);
    cg_free(&m);
    if (rc == VP_ESOLVER) rc = 0; /* the plans we have stand */
    return rc;
}
