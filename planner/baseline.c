/* baseline.c - prices the two policies a plan is compared with in its report: one model per GPU
 * (no sharing) and everything on A100-80GB (see report.h for their exact definitions).
 *
 * Both baselines are computed from the resolved problem, so they use exactly the footprints,
 * tensor-parallel degrees and pipeline stages the plan itself used: a difference in cost comes
 * from the policy, never from different memory math. The one-per-GPU baseline is a greedy pass
 * over replicas, largest first, each taking whole nodes of the cheapest node kind that still has
 * enough of them (inventory kinds exist once). The A100-80GB baseline builds a filtered copy of
 * the fleet and a copy of the manifest without allow-lists, and runs the same plan_problem_build
 * and plan_ffd as the plan: it is by construction what FFD buys on that GPU alone. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define A100_NAME "A100-80GB"

void plan_baselines_free(plan_baselines *b)
{
    if (!b) return;
    free(b->picks);
    b->picks = NULL;
    b->n_picks = 0;
}

/* The size used to order replicas, largest first: the biggest whole footprint over the node
 * kinds the model may use (0 when it fits none). */
static uint64_t group_size(const plan_problem *p, size_t g)
{
    uint64_t best = 0;
    for (size_t b = 0; b < p->n_bintypes; b++) {
        const plan_shape *s = &p->groups[g].shapes[b];
        if (s->ok && s->fp.total_bytes > best) best = s->fp.total_bytes;
    }
    return best;
}

typedef struct order_item {
    size_t group;
    uint64_t size;
} order_item;

static int cmp_order(const void *a, const void *b)
{
    const order_item *x = a, *y = b;
    if (x->size != y->size) return x->size > y->size ? -1 : 1;
    return x->group < y->group ? -1 : x->group > y->group;
}

static int one_per_gpu(const plan_problem *p, plan_baselines *out, vp_err *e)
{
    plan_baseline *bl = &out->one_per_gpu;
    int *left = calloc(p->n_bintypes ? p->n_bintypes : 1, sizeof *left);
    order_item *order = calloc(p->n_groups ? p->n_groups : 1, sizeof *order);
    if (!left || !order) {
        free(left);
        free(order);
        return vp_errf(e, -ENOMEM, "baseline one model per GPU: out of memory");
    }
    for (size_t b = 0; b < p->n_bintypes; b++)
        left[b] = p->bintypes[b].max_count;
    for (size_t g = 0; g < p->n_groups; g++)
        order[g] = (order_item){g, group_size(p, g)};
    qsort(order, p->n_groups, sizeof *order, cmp_order);
    bl->available = p->n_bintypes > 0;

    for (size_t k = 0; k < p->n_groups; k++) {
        size_t g = order[k].group;
        const plan_group *grp = &p->groups[g];
        plan_baseline_pick *pick = &out->picks[g];
        pick->bintype = -1;
        pick->nodes_per_replica = grp->pp ? grp->pp : 1;
        for (uint32_t r = 0; r < grp->replicas; r++) {
            int best = -1;
            double best_cost = 0;
            uint32_t need = 1;
            for (size_t b = 0; b < p->n_bintypes; b++) {
                const plan_shape *s = &grp->shapes[b];
                if (!s->ok) continue;
                uint32_t stages = s->pp ? s->pp : 1;
                if (left[b] >= 0 && (uint32_t)left[b] < stages) continue;
                double c = stages * p->bintypes[b].price_per_hour;
                if (best < 0 || c < best_cost) {
                    best = (int)b;
                    best_cost = c;
                    need = stages;
                }
            }
            if (best < 0) {
                bl->replicas_unplaced++;
                if (!bl->note[0])
                    snprintf(bl->note, sizeof bl->note, "%.63s: %.190s",
                             p->manifest->models[grp->model].name,
                             grp->why_not[0] ? grp->why_not
                                             : "no node kind left that holds it alone");
                continue;
            }
            if (left[best] >= 0) left[best] -= (int)need;
            if (pick->bintype < 0) {
                pick->bintype = best;
                pick->nodes_per_replica = need;
            }
            pick->cost_per_hour += best_cost;
            bl->cost_per_hour += best_cost;
            bl->nodes += need;
            bl->gpus += need * (uint32_t)p->bintypes[best].n_gpus;
            bl->replicas_placed++;
        }
    }
    free(left);
    free(order);
    return 0;
}

static bool is_a100(const plan_fleet *f, const char *gpu)
{
    const plan_gpu_model *g = plan_fleet_gpu(f, gpu);
    return g && !strcmp(g->name, A100_NAME);
}

/* Does model m's allow-list rule A100-80GB out (an fp8 model that needs Hopper, say)? */
static bool forbids_a100(const plan_fleet *f, const plan_model *m)
{
    if (!m->n_gpu_types) return false;
    for (size_t k = 0; k < m->n_gpu_types; k++)
        if (is_a100(f, m->gpu_types[k])) return false;
    return true;
}

/* Is GPU `gpu` on the allow-list of a model that may not run on A100-80GB? */
static bool needed_elsewhere(const plan_problem *p, const char *gpu)
{
    const plan_gpu_model *g = plan_fleet_gpu(p->fleet, gpu);
    for (size_t i = 0; g && i < p->manifest->n_models; i++) {
        const plan_model *m = &p->manifest->models[i];
        if (!forbids_a100(p->fleet, m)) continue;
        for (size_t k = 0; k < m->n_gpu_types; k++)
            if (plan_fleet_gpu(p->fleet, m->gpu_types[k]) == g) return true;
    }
    return false;
}

/* A fleet holding the GPU models of `f` and the A100-80GB instance types (of `f`, else of the
 * built-in catalog) without count limits, plus the fleet's own types for GPUs that models which
 * cannot run on A100-80GB are restricted to; no inventory. */
static int a100_fleet(const plan_problem *p, plan_fleet **out, bool *builtin_prices, vp_err *e)
{
    const plan_fleet *f = p->fleet;
    plan_fleet *builtin = plan_fleet_builtin();
    plan_fleet *a = calloc(1, sizeof *a);
    if (!builtin || !a) goto oom;
    a->gpus = malloc((f->n_gpus ? f->n_gpus : 1) * sizeof *a->gpus);
    if (!a->gpus) goto oom;
    memcpy(a->gpus, f->gpus, f->n_gpus * sizeof *a->gpus);
    a->n_gpus = f->n_gpus;
    a->util_ppm = f->util_ppm;
    snprintf(a->source, sizeof a->source, "%s instance types", A100_NAME);

    const plan_fleet *from = f;
    size_t n = 0;
    for (size_t i = 0; i < f->n_types; i++)
        n += is_a100(f, f->types[i].gpu);
    *builtin_prices = n == 0;
    if (n == 0) {
        from = builtin;
        for (size_t i = 0; i < builtin->n_types; i++)
            n += is_a100(f, builtin->types[i].gpu);
    }
    a->types = calloc(n + f->n_types + 1, sizeof *a->types);
    if (!a->types) goto oom;
    for (size_t i = 0; i < from->n_types; i++)
        if (is_a100(f, from->types[i].gpu)) {
            a->types[a->n_types] = from->types[i];
            a->types[a->n_types++].max_count = -1; /* the what-if buys as many as it needs */
        }
    for (size_t i = 0; i < f->n_types; i++)
        if (!is_a100(f, f->types[i].gpu) && needed_elsewhere(p, f->types[i].gpu))
            a->types[a->n_types++] = f->types[i];
    plan_fleet_free(builtin);
    *out = a;
    return 0;
oom:
    plan_fleet_free(builtin);
    plan_fleet_free(a);
    return vp_errf(e, -ENOMEM, "baseline %s: out of memory", A100_NAME);
}

static int a100(const plan_problem *p, plan_baselines *out, vp_err *e)
{
    plan_baseline *bl = &out->a100;
    plan_fleet *f = NULL;
    plan_problem *p2 = NULL;
    place_plan *plan = NULL;
    bool builtin_prices = false;
    int rc = a100_fleet(p, &f, &builtin_prices, e);
    if (rc) return rc;
    if (f->n_types == 0) {
        bl->available = false;
        snprintf(bl->note, sizeof bl->note, "no %s instance type is known", A100_NAME);
        plan_fleet_free(f);
        return 0;
    }
    /* A shallow copy: the models' strings and worker templates stay the original's. */
    plan_manifest m = *p->manifest;
    m.models = malloc((m.n_models ? m.n_models : 1) * sizeof *m.models);
    if (!m.models) {
        plan_fleet_free(f);
        return vp_errf(e, -ENOMEM, "baseline %s: out of memory", A100_NAME);
    }
    memcpy(m.models, p->manifest->models, m.n_models * sizeof *m.models);
    /* Everything that may run on A100-80GB goes there; a model whose allow-list rules it out
     * keeps its allow-list (and the fleet's types for those GPUs). */
    for (size_t i = 0; i < m.n_models; i++) {
        if (forbids_a100(p->fleet, &m.models[i])) continue;
        m.models[i].n_gpu_types = 1;
        snprintf(m.models[i].gpu_types[0], sizeof m.models[i].gpu_types[0], "%s", A100_NAME);
    }

    if ((rc = plan_problem_build(&m, f, &p2, e))) goto done;
    if ((rc = plan_ffd(p2, &plan, e))) goto done;
    bl->available = true;
    bl->cost_per_hour = plan->cost_per_hour;
    for (size_t i = 0; i < plan->n_nodes; i++) {
        if (!place_node_load(plan, i)) continue;
        bl->nodes++;
        bl->gpus += (uint32_t)plan->nodes[i].n_gpus;
    }
    for (size_t i = 0; i < plan->n_placements; i++)
        if (plan->placements[i].stage <= 0) bl->replicas_placed++;
    bl->replicas_unplaced = (uint32_t)plan->n_unplaced;
    if (builtin_prices)
        snprintf(bl->note, sizeof bl->note,
                 "the fleet sells no %s: priced from the built-in catalog", A100_NAME);
    else if (plan->n_unplaced)
        snprintf(bl->note, sizeof bl->note, "%.63s: %.190s", plan->unplaced[0].model,
                 plan->unplaced[0].reason);
done:
    place_plan_free(plan);
    plan_problem_free(p2);
    free(m.models);
    plan_fleet_free(f);
    return rc;
}

int plan_baselines_compute(const plan_problem *p, plan_baselines *out, vp_err *e)
{
    memset(out, 0, sizeof *out);
    out->picks = calloc(p->n_groups ? p->n_groups : 1, sizeof *out->picks);
    if (!out->picks) return vp_errf(e, -ENOMEM, "baselines: out of memory");
    out->n_picks = p->n_groups;
    for (size_t g = 0; g < p->n_groups; g++)
        out->picks[g].bintype = -1;
    int rc = one_per_gpu(p, out, e);
    if (rc) return rc;
    return a100(p, out, e);
}
