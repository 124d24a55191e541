/* check.c - plan_check: does a plan keep every rule of the problem it was solved for?
 *
 * place_plan_validate checks what a plan says about itself (bytes per GPU, distinct GPUs, unique
 * ids); this checks it against the problem: every placement is a stage of a replica the problem
 * asks for, on a node of a bin type its model may use, with that bin type's TP degree and bytes
 * per GPU; every replica is either placed whole or listed unplaced, never both; spread replicas
 * sit on distinct nodes; no instance type is bought more often than max_count and no inventory
 * node appears twice; cost is what the used nodes cost, the bound is not above it, gap and
 * status agree with both. Benchmarks and tests run it on every plan they make. Pure; linear in
 * the plan apart from the replica table. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"

typedef struct chk {
    const plan_problem *p;
    vw_view v;
    int *nbt;         /* [node] bin type */
    const place_plan *plan;
    char *why;
    size_t cap;
    size_t *base;     /* [group] offset of its first replica in seen/node_of */
    uint32_t *seen;   /* [replica] bitmask of stages placed */
    size_t (*spread)[3]; /* (group, node, replica) of each placement of a spread model */
    size_t n_spread;
    bool *unplaced;   /* [replica] listed in plan->unplaced */
} chk;

static int fail(chk *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(chk *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, c->cap, fmt, ap);
    va_end(ap);
    return VP_EINPUT;
}

static int check_placement(chk *c, size_t k)
{
    const plan_problem *p = c->p;
    const place_placement *pl = &c->plan->placements[k];
    const place_node *nd = &c->plan->nodes[pl->node];
    int g = vw_group(&c->v, pl->model);
    if (g < 0) return fail(c, "placement %s: model not in the manifest", pl->id);
    const plan_group *gr = &p->groups[g];
    if (pl->replica >= gr->replicas)
        return fail(c, "placement %s: replica %u of %u", pl->id, pl->replica, gr->replicas);
    int b = c->nbt[pl->node];
    if (b < 0) return fail(c, "placement %s: node %s is of no known type", pl->id, nd->name);
    const plan_shape *s = &gr->shapes[b];
    const plan_bintype *bt = &p->bintypes[b];
    if (!s->ok) return fail(c, "placement %s: model may not use node %s", pl->id, nd->name);
    if (nd->n_gpus != bt->n_gpus || nd->price_per_hour != bt->price_per_hour)
        return fail(c, "node %s: %d GPUs at $%g, its type has %d at $%g", nd->name, nd->n_gpus,
                    nd->price_per_hour, bt->n_gpus, bt->price_per_hour);
    for (int q = 0; q < nd->n_gpus; q++)
        if (nd->gpus[q].usable_bytes != bt->usable_per_gpu)
            return fail(c, "node %s GPU %d: %llu usable bytes, its type %llu", nd->name, q,
                        (unsigned long long)nd->gpus[q].usable_bytes,
                        (unsigned long long)bt->usable_per_gpu);
    int stage = gr->pp > 1 ? pl->stage : (pl->stage < 0 ? 0 : -1);
    if (gr->pp > 1 && (pl->stage < 0 || (uint32_t)pl->stage >= gr->pp))
        return fail(c, "placement %s: stage %d of %u", pl->id, pl->stage, gr->pp);
    if (stage < 0) return fail(c, "placement %s: a stage on an unpipelined model", pl->id);
    if ((uint32_t)pl->n_gpus != s->tp)
        return fail(c, "placement %s: %d GPUs, tensor parallel %u", pl->id, pl->n_gpus, s->tp);
    if (pl->bytes_per_gpu != s->stage_bytes[stage])
        return fail(c, "placement %s: %llu bytes per GPU, the footprint is %llu", pl->id,
                    (unsigned long long)pl->bytes_per_gpu,
                    (unsigned long long)s->stage_bytes[stage]);
    size_t r = c->base[g] + pl->replica;
    if (c->seen[r] >> stage & 1u) return fail(c, "placement %s: placed twice", pl->id);
    c->seen[r] |= 1u << stage;
    if (p->manifest->models[gr->model].spread) {
        size_t *t = c->spread[c->n_spread++];
        t[0] = (size_t)g;
        t[1] = (size_t)pl->node;
        t[2] = pl->replica;
    }
    return 0;
}

static int cmp_triple(const void *a, const void *b)
{
    const size_t *x = a, *y = b;
    for (int i = 0; i < 3; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
}

/* Replicas of a spread model on distinct nodes: no (group, node) pair with two replicas. */
static int check_spread(chk *c)
{
    qsort(c->spread, c->n_spread, sizeof *c->spread, cmp_triple);
    for (size_t i = 1; i < c->n_spread; i++) {
        const size_t *x = c->spread[i - 1], *y = c->spread[i];
        if (x[0] == y[0] && x[1] == y[1] && x[2] != y[2])
            return fail(c, "spread model %s: replicas %zu and %zu share node %s",
                        c->p->manifest->models[c->p->groups[x[0]].model].name, x[2], y[2],
                        c->plan->nodes[x[1]].name);
    }
    return 0;
}

static int check_nodes(chk *c)
{
    const plan_problem *p = c->p;
    const place_plan *plan = c->plan;
    int *count = calloc(p->n_bintypes ? p->n_bintypes : 1, sizeof *count);
    size_t *load = calloc(plan->n_nodes + 1, sizeof *load);
    if (!count || !load) {
        free(count);
        free(load);
        return -ENOMEM;
    }
    for (size_t k = 0; k < plan->n_placements; k++)
        load[plan->placements[k].node]++;
    double cost = 0;
    int rc = 0;
    for (size_t i = 0; i < plan->n_nodes && !rc; i++) {
        const place_node *nd = &plan->nodes[i];
        int b = c->nbt[i];
        if (b < 0) {
            if (nd->n_placed) rc = fail(c, "node %s is of no known type", nd->name);
            continue;
        }
        if (nd->inventory != p->bintypes[b].inventory)
            rc = fail(c, "node %s: inventory flag differs from its type", nd->name);
        if (load[i] == 0 && !nd->spare) continue;
        cost += nd->price_per_hour;
        int mc = p->bintypes[b].max_count;
        if (++count[b] > mc && mc >= 0)
            rc = fail(c, "%s: %d nodes in use, at most %d", nd->name, count[b], mc);
    }
    free(count);
    free(load);
    if (rc) return rc;
    double tol = 1e-9 * (1 + fabs(cost));
    if (fabs(cost - plan->cost_per_hour) > tol)
        return fail(c, "cost_per_hour %.9g, the used nodes cost %.9g", plan->cost_per_hour, cost);
    if (plan->lower_bound_per_hour > cost + tol)
        return fail(c, "lower bound %.9g above the cost %.9g", plan->lower_bound_per_hour, cost);
    double gap = cost > 0 ? (cost - plan->lower_bound_per_hour) / cost : 0;
    if (fabs(gap - plan->gap) > 1e-6)
        return fail(c, "gap %.9g, cost and bound give %.9g", plan->gap, gap);
    if (!strcmp(plan->status, "optimal") && plan->gap > 1e-9)
        return fail(c, "status optimal with a gap of %.9g", plan->gap);
    return 0;
}

static int check_replicas(chk *c)
{
    const plan_problem *p = c->p;
    const place_plan *plan = c->plan;
    for (size_t u = 0; u < plan->n_unplaced; u++) {
        const place_unplaced *un = &plan->unplaced[u];
        int g = vw_group(&c->v, un->model);
        if (g < 0 || un->replica >= p->groups[g].replicas)
            return fail(c, "unplaced %s/%u: no such replica", un->model, un->replica);
        size_t r = c->base[g] + un->replica;
        if (c->unplaced[r]) return fail(c, "unplaced %s/%u listed twice", un->model, un->replica);
        c->unplaced[r] = true;
        if (c->seen[r]) return fail(c, "%s/%u is placed and unplaced", un->model, un->replica);
    }
    for (size_t g = 0; g < p->n_groups; g++) {
        const plan_group *gr = &p->groups[g];
        uint32_t all = (uint32_t)((1ull << gr->pp) - 1);
        for (uint32_t q = 0; q < gr->replicas; q++) {
            size_t r = c->base[g] + q;
            if (c->seen[r] != all && !c->unplaced[r])
                return fail(c, "%s/%u: %s", p->manifest->models[gr->model].name, q,
                            c->seen[r] ? "some stages missing" : "neither placed nor unplaced");
        }
    }
    return 0;
}

int plan_check(const plan_problem *p, const place_plan *plan, char *why, size_t cap)
{
    int rc = place_plan_validate(plan, why, cap);
    if (rc) return rc;
    chk c = {.p = p, .plan = plan, .why = why, .cap = cap};
    size_t total = 0;
    c.base = malloc((p->n_groups ? p->n_groups : 1) * sizeof *c.base);
    if (!c.base) return -ENOMEM;
    for (size_t g = 0; g < p->n_groups; g++) {
        c.base[g] = total;
        total += p->groups[g].replicas;
    }
    c.seen = calloc(total ? total : 1, sizeof *c.seen);
    c.spread = malloc((plan->n_placements ? plan->n_placements : 1) * sizeof *c.spread);
    c.nbt = malloc((plan->n_nodes + 1) * sizeof *c.nbt);
    if (!c.nbt || vw_init(&c.v, p)) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < plan->n_nodes; i++)
        c.nbt[i] = plan_node_bintype(p, &plan->nodes[i]);
    c.unplaced = calloc(total ? total : 1, sizeof *c.unplaced);
    if (!c.seen || !c.spread || !c.unplaced) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t k = 0; k < plan->n_placements && !rc; k++)
        rc = check_placement(&c, k);
    if (!rc) rc = check_spread(&c);
    if (!rc) rc = check_replicas(&c);
    if (!rc) rc = check_nodes(&c);
out:
    if (rc == -ENOMEM) snprintf(why, cap, "out of memory");
    free(c.base);
    free(c.seen);
    free(c.spread);
    free(c.nbt);
    vw_free(&c.v);
    free(c.unplaced);
    return rc;
}
