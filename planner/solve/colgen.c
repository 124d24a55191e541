/* colgen.c - column generation as a step of the anytime search (see colgen.h).
 *
 * The root master gets up to 40% of the time left, diving 70% of what remains after it, LNS the
 * rest. Its bound is a dual bound and holds however far it got (see master.h); it counts for
 * plans that place everything. Diving builds a set of GPU patterns; layout puts them on nodes,
 * repair places what the patterns could not (pipelines, leftovers), consolidation empties and
 * downsizes nodes. Up to once a second of diving (while that takes no more than 30% of the
 * dive's time), and once more after it, branch and cut over all the columns generated so far
 * (colip.h) looks for a cheaper cover: diving adds the columns an optimum needs long before it
 * finds the optimum itself (on Hard28, BPP40, BPP60 and BPP709 were never found by diving
 * within 10 s; with the integer master within 1.5 to 5 s). When nodes have several GPUs and the
 * plan still misses the bound, the whole-node integer master gets a turn. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "colgen.h"
#include "colip.h"
#include "dive.h"
#include "fill.h"
#include "layout.h"
#include "local.h"
#include "master.h"
#include "nodes.h"

#define DIVE_SHARE 0.7    /* of the time left after the root */
#define CI_EVERY_S 1.0    /* of the dive's time between two branch and cuts */
#define CI_PACE 0.3       /* of the dive's time, at most, goes to branch and cut */
#define CI_SHARE 0.15     /* of the time left, each branch and cut during the dive */
#define CI_LAST_SHARE 0.6 /* the one after the dive (the rest goes to local search) */
#define CI_MAX_S 2.0      /* seconds, any one call: CBC is not polled while it runs, so a stop
                           * request or a progress line waits at most this long */

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

/* A set of patterns laid out on nodes, repaired, consolidated and offered. */
static int offer_set(ss_state *st, cg_master *m, const dv_set *set, vp_err *e)
{
    if (!set->n) return 0;
    place_plan *plan = place_plan_new();
    if (!plan) return vp_errf(e, -ENOMEM, "out of memory");
    int rc = ly_build(m, set, plan, e);
    if (rc) {
        place_plan_free(plan);
        return rc;
    }
    return polish_and_offer(st, plan, "colgen", e);
}

static double incumbent(const ss_state *st)
{
    return vw_places_all(&st->v, st->best) ? st->best->cost_per_hour : INFINITY;
}

/* Branch and cut over every column generated so far, offered as a plan. */
static int int_master(ss_state *st, cg_master *m, double share, int variant, vp_err *e)
{
    bg_budget sub;
    double left = bg_left_s(&st->b);
    if (left > 0 && share * left > CI_MAX_S) share = CI_MAX_S / left;
    bg_sub(&sub, &st->b, share);
    const char *was = st->b.phase;
    bg_phase(&st->b, "columns");
    dv_set set = {0};
    int rc = ci_solve(m, &sub, incumbent(st), ss_target(st), st->bound, variant, &set, e);
    if (!rc) rc = offer_set(st, m, &set, e);
    dv_set_free(&set);
    bg_phase(&st->b, was);
    return rc;
}

/* The dive's hook: branch and cut over the columns at most once a second of the dive's time,
 * when diving has added at least 5% to them since the last time, and while branch and cut has
 * had no more than CI_PACE of the time since the dive began (where diving finds the optimum by
 * itself, as on the distinct-size families, each call is time the dive loses). */
typedef struct ci_sched {
    ss_state *st;
    cg_master *m;
    double start_s, next_s, spent_s;
    size_t seen;
    int calls;
    vp_err *e;
} ci_sched;

static int between_nodes(void *ctx, double *inc)
{
    ci_sched *c = ctx;
    double now = bg_spent_s(&c->st->b) - c->start_s;
    if (now < c->next_s || c->spent_s > CI_PACE * now) return 0;
    c->next_s = now + CI_EVERY_S;
    if (c->m->npat < c->seen + c->seen / 20) return 0;
    c->seen = c->m->npat;
    int rc = int_master(c->st, c->m, CI_SHARE, c->calls++, c->e);
    c->spent_s += bg_spent_s(&c->st->b) - c->start_s - now;
    if (rc) return rc == VP_ESOLVER ? 0 : rc; /* a failed step: the dive goes on */
    *inc = incumbent(c->st);
    return ss_closed(c->st) ? 1 : 0;
}

static int dive(ss_state *st, cg_master *m, vp_err *e)
{
    bg_budget sub;
    bg_sub(&sub, &st->b, DIVE_SHARE);
    bg_phase(&st->b, "dive");
    ci_sched sched = {.st = st, .m = m, .start_s = bg_spent_s(&st->b), .next_s = CI_EVERY_S,
                      .e = e};
    dv_set set = {0};
    int rc = dv_search(m, &sub, incumbent(st), ss_target(st), between_nodes, &sched, &set, e);
    if (!rc) rc = offer_set(st, m, &set, e);
    dv_set_free(&set);
    /* The columns the last part of the dive added. */
    if (!rc && !ss_closed(st) && !bg_over(&st->b) && m->npat > sched.seen)
        rc = int_master(st, m, CI_LAST_SHARE, sched.calls, e);
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
