/* settle.c - the one place that decides what a plan may claim: cost, lower bound, gap, status.
 *
 * Every solver hands its plan and the bound it proved to plan_settle, which recomputes the cost
 * from the nodes in use, raises the bound to the continuous bound over what the plan actually
 * placed, rounds it up to the prices' granularity (any plan's cost is a sum of prices), and
 * checks it: a bound above the cost means some solver proved something false, which is reported
 * as an internal error instead of being clipped to look right. Within floating-point noise the
 * two are taken as equal. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lp.h"
#include "settle.h"
#include "view.h"

double st_quantum(const plan_problem *p)
{
    static const double quanta[] = {1, 0.01, 0.001, 0.0001};
    for (size_t k = 0; k < sizeof quanta / sizeof quanta[0]; k++) {
        bool all = true;
        for (size_t b = 0; b < p->n_bintypes && all; b++) {
            double v = p->bintypes[b].price_per_hour / quanta[k];
            all = fabs(v - round(v)) <= 1e-6 * (1 + fabs(v));
        }
        if (all) return quanta[k];
    }
    return 0;
}

double st_round(const plan_problem *p, double bound)
{
    if (!(bound > 0)) return 0;
    return lp_round_up(bound, st_quantum(p));
}

double st_continuous(const plan_problem *p, const double *replicas)
{
    double lb = 0;
    for (size_t i = 0; i < p->n_groups; i++) {
        const plan_group *g = &p->groups[i];
        double best = -1;
        for (size_t b = 0; b < p->n_bintypes; b++) {
            const plan_shape *s = &g->shapes[b];
            const plan_bintype *bt = &p->bintypes[b];
            if (!s->ok || bt->usable_per_gpu == 0 || bt->max_count == 0) continue;
            double bytes = 0;
            for (uint32_t k = 0; k < s->pp; k++)
                bytes += (double)s->stage_bytes[k] * s->tp;
            double cost = bytes * bt->price_per_hour / ((double)bt->usable_per_gpu * bt->n_gpus);
            if (best < 0 || cost < best) best = cost;
        }
        if (best > 0) lb += best * (replicas ? replicas[i] : g->replicas);
    }
    return lb;
}

double plan_bound_continuous(const plan_problem *p)
{
    return st_continuous(p, NULL);
}

/* The continuous bound over the replicas the plan placed (stages count as fractions). */
static int placed_bound(const vw_view *v, const place_plan *plan, double *out)
{
    const plan_problem *p = v->p;
    double *placed = calloc(p->n_groups ? p->n_groups : 1, sizeof *placed);
    if (!placed) return -ENOMEM;
    for (size_t k = 0; k < plan->n_placements; k++) {
        const place_placement *pl = &plan->placements[k];
        int g = vw_group(v, pl->model);
        if (g >= 0) placed[g] += 1.0 / (pl->n_stages > 0 ? pl->n_stages : 1);
    }
    *out = st_continuous(p, placed);
    free(placed);
    return 0;
}

int plan_settle(const plan_problem *p, place_plan *plan, double bound, const char *otherwise,
                vp_err *e)
{
    vw_view v;
    double cont = 0;
    if (vw_init(&v, p)) return vp_errf(e, -ENOMEM, "out of memory");
    int rc = placed_bound(&v, plan, &cont);
    bool all = vw_places_all(&v, plan);
    vw_free(&v);
    if (rc) return vp_errf(e, rc, "out of memory");
    double lb = st_round(p, bound > cont ? bound : cont);
    double saved = plan->lower_bound_per_hour;
    place_plan_update_cost(plan);
    double cost = plan->cost_per_hour, tol = 1e-9 * (1 + cost);
    if (lb > cost + tol) {
        plan->lower_bound_per_hour = saved;
        place_plan_update_cost(plan);
        return vp_errf(e, VP_ESOLVER,
                       "internal error: lower bound $%.6f/hour proven above the plan's cost "
                       "$%.6f/hour (solver %s)",
                       lb, cost, plan->solver[0] ? plan->solver : "?");
    }
    plan->lower_bound_per_hour = lb > cost ? cost : lb; /* equal within rounding noise */
    place_plan_update_cost(plan);
    bool closed = cost - plan->lower_bound_per_hour <= tol;
    if (closed) {
        plan->lower_bound_per_hour = cost;
        place_plan_update_cost(plan);
    }
    snprintf(plan->status, sizeof plan->status, "%s", closed && all ? "optimal" : otherwise);
    return 0;
}
