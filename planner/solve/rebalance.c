/* rebalance.c - changing a running plan: plan_rebalance (a migration budget) and plan_repair
 * (nothing that runs moves).
 *
 * A replica of the current plan is running when every stage sits on a node that still exists
 * with the footprint the problem now gives it; those may stay put, and moving one spends one
 * unit of the budget. Everything else (new replicas, ones that were unplaced, ones on lost nodes
 * or with a changed footprint) is placed for free. The candidates: the current plan with what is
 * missing placed by best fit (zero moves); that plan consolidated within the budget; a fresh
 * plan from the anytime search relabelled to keep as many replicas in place as it can (when the
 * budget allows its moves); and, for fleets small enough, the compact MIP with one "stays"
 * binary per running replica, warm-started from the best of the others, which can prove the
 * result optimal under the budget. The bound then reported is for plans within the budget: the
 * unconstrained bound when the best plan meets it, or the proven optimum. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"
#include "current.h"
#include "fill.h"
#include "local.h"
#include "mip.h"
#include "relabel.h"
#include "settle.h"

typedef struct rb {
    ss_state *st;
    const place_plan *current;
    long max_moves;
    bool proven; /* the best plan is optimal under the budget */
} rb;

/* The current plan's running replicas on copies of its nodes, plus every inventory node. */
static int base_from_current(const rb *R, place_plan **out, vp_err *e)
{
    const plan_problem *p = R->st->p;
    const place_plan *cur = R->current;
    place_plan *b = place_plan_new();
    cur_rep *reps = NULL;
    size_t n = 0;
    int *map = malloc((cur->n_nodes + 1) * sizeof *map);
    int rc = b && map ? cur_scan(&R->st->v, cur, &reps, &n, e) : vp_errf(e, -ENOMEM, "out of memory");
    for (size_t bt = 0; bt < p->n_bintypes && !rc; bt++)
        if (p->bintypes[bt].inventory && vw_inventory_node(p, b, bt) < 0) rc = -ENOMEM;
    for (size_t i = 0; i < cur->n_nodes && !rc; i++) {
        int bt = plan_node_bintype(p, &cur->nodes[i]);
        map[i] = -1;
        if (bt < 0) continue;
        place_node nd;
        plan_node_from_bintype(p, (size_t)bt, 0, &nd);
        snprintf(nd.name, sizeof nd.name, "%s", cur->nodes[i].name);
        map[i] = p->bintypes[bt].inventory ? vw_inventory_node(p, b, (size_t)bt)
                                           : place_plan_add_node(b, &nd);
        if (map[i] < 0) rc = -ENOMEM;
    }
    for (size_t r = 0; r < n && !rc; r++) {
        int done = 0;
        for (int s = 0; s < reps[r].n_stages; s++, done++) {
            const place_placement *pl = &cur->placements[reps[r].pl[s]];
            if (place_plan_assign(b, pl->model, pl->replica, pl->stage, pl->n_stages,
                                  map[pl->node], pl->gpus, pl->n_gpus, pl->bytes_per_gpu) < 0)
                break; /* no longer fits (usable bytes shrank): displaced */
        }
        if (done < reps[r].n_stages)
            while (done-- > 0)
                place_plan_unassign(b, b->n_placements - 1);
    }
    free(map);
    free(reps);
    if (rc == -ENOMEM) rc = vp_errf(e, rc, "out of memory");
    if (rc) place_plan_free(b);
    else *out = b;
    return rc;
}

/* Within the budget: no more running replicas moved than allowed. */
static bool within(const rb *R, const place_plan *plan)
{
    if (R->max_moves < 0) return true;
    size_t mig = plan_count_migrations(R->st->p, R->current, plan);
    return mig != (size_t)-1 && mig <= (size_t)R->max_moves;
}

static int offer(rb *R, place_plan *plan, const char *solver)
{
    if (plan && !within(R, plan)) {
        place_plan_free(plan);
        return 0;
    }
    ss_offer(R->st, plan, solver);
    return 0;
}

/* The base with what is missing placed by best fit, and a consolidated copy. */
static int repair_and_consolidate(rb *R, place_plan *base, vp_err *e)
{
    ss_state *st = R->st;
    ed_plan x;
    if (ed_init(&x, &st->v, base)) return vp_errf(e, -ENOMEM, "out of memory");
    int rc = fl_fill(&x, e);
    ed_free(&x);
    if (rc) return rc;
    place_plan_drop_idle(base);
    place_plan *copy = R->max_moves != 0 ? place_plan_clone(base) : NULL;
    offer(R, base, "rebalance");
    if (!copy) return R->max_moves != 0 ? vp_errf(e, -ENOMEM, "out of memory") : 0;
    long moves = R->max_moves;
    ls_opts o = {.origin = R->current, .moves_left = &moves};
    bg_budget sub;
    bg_sub(&sub, &st->b, 0.3);
    if (ed_init(&x, &st->v, copy)) {
        place_plan_free(copy);
        return vp_errf(e, -ENOMEM, "out of memory");
    }
    rc = ls_consolidate(&x, &sub, &o);
    ed_free(&x);
    if (rc) {
        place_plan_free(copy);
        return vp_errf(e, rc, "consolidation failed (%s)", vp_strerror(rc));
    }
    return offer(R, copy, "rebalance");
}

/* A fresh plan from the anytime search (half of the time left), relabelled. */
static int fresh(rb *R, vp_err *e)
{
    ss_state *st = R->st;
    plan_options o;
    plan_options_default(&o);
    o.clock = st->b.clock;
    o.clock_ctx = st->b.clock_ctx;
    o.progress = st->b.progress;
    o.progress_ctx = st->b.progress_ctx;
    o.time_limit_s = bg_left_s(&st->b) / 2;
    place_plan *cand = NULL;
    vp_err sub = {0};
    int rc = plan_solve(st->p, &o, &cand, &sub);
    if (rc == -ENOMEM) return vp_errf(e, rc, "%s", sub.msg);
    if (rc) return 0;
    if (vw_places_all(&st->v, cand)) ss_bound(st, cand->lower_bound_per_hour);
    if (rl_relabel(&st->v, R->current, cand)) {
        place_plan_free(cand);
        return vp_errf(e, -ENOMEM, "out of memory");
    }
    return offer(R, cand, "rebalance");
}

/* The MIP with "stays" binaries, when small enough: exact under the budget. */
static int exact(rb *R, vp_err *e)
{
    ss_state *st = R->st;
    if (ss_closed(st) || bg_left_s(&st->b) <= 0.05) return 0;
    mip_args a = {.warm = st->best, .current = R->current, .max_moves = R->max_moves,
                  .known_bound = vw_places_all(&st->v, st->best) ? st->bound : 0};
    mip_result r;
    vp_err sub = {0};
    bg_phase(&st->b, "mip");
    int rc = mip_solve(&st->v, &a, &st->b, &r, &sub);
    if (rc == -ENOMEM) return vp_errf(e, rc, "%s", sub.msg);
    if (rc || !r.plan) return 0;
    bool opt = r.optimal && within(R, r.plan);
    double cost = r.plan->cost_per_hour;
    size_t unplaced = r.plan->n_unplaced;
    offer(R, r.plan, "rebalance");
    /* Optimal under the budget, and the best plan is at least as good: it is optimal too. */
    if (opt && st->best->n_unplaced <= unplaced &&
        st->best->cost_per_hour <= cost + 1e-9 * (1 + cost))
        R->proven = true;
    return 0;
}

static int settle_rebalanced(rb *R, plan_moves *moves, place_plan **out, vp_err *e)
{
    ss_state *st = R->st;
    place_plan *best = st->best;
    bool all = vw_places_all(&st->v, best);
    /* Any plan, moved or not, costs at least the unconstrained bound; under a budget the proven
     * optimum is the bound that matters (the unconstrained one may lie below every plan within
     * the budget). */
    double bound = st->bound;
    if (R->proven && all) bound = best->cost_per_hour;
    int rc = plan_settle(st->p, best, all ? bound : 0, "feasible", e);
    if (!rc && moves) rc = plan_moves_build(st->p, R->current, best, moves, e);
    if (rc) return rc;
    double ms = bg_elapsed_ms(&st->b);
    best->solve_ms = ms > 0 ? (uint64_t)ms : 0;
    snprintf(best->solver, sizeof best->solver, "rebalance");
    *out = best;
    st->best = NULL;
    return 0;
}

int plan_rebalance(const plan_problem *p, const place_plan *current, long max_moves,
                   const plan_options *o, place_plan **out, plan_moves *moves, vp_err *e)
{
    ss_state st;
    rb R = {.st = &st, .current = current, .max_moves = max_moves};
    place_plan *base = NULL;
    if (moves) memset(moves, 0, sizeof *moves);
    int rc = ss_init(&st, p, o, e);
    if (!rc) rc = base_from_current(&R, &base, e);
    if (!rc) rc = repair_and_consolidate(&R, base, e);
    if (!rc) ss_bound(&st, plan_bound_continuous(p));
    if (!rc && max_moves != 0 && !ss_closed(&st)) rc = fresh(&R, e);
    if (!rc) rc = exact(&R, e);
    if (!rc && !st.best) rc = vp_errf(e, VP_ESOLVER, "rebalance: no plan");
    if (!rc) rc = settle_rebalanced(&R, moves, out, e);
    ss_free(&st);
    return rc;
}

int plan_repair(const plan_problem *p, const place_plan *current, const plan_options *o,
                place_plan **out, plan_moves *moves, vp_err *e)
{
    return plan_rebalance(p, current, 0, o, out, moves, e);
}
