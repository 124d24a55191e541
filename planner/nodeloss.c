/* nodeloss.c - the N+1 analysis and spare nodes (nodeloss.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nodeloss.h"

/* ---------------------------------------------------------------- owned strings */

static const char *keep(plan_nplus1 *x, const char *s)
{
    if (x->n_str == x->cap_str) {
        size_t cap = x->cap_str ? 2 * x->cap_str : 64;
        char **v = realloc(x->str, cap * sizeof *v);
        if (!v) return NULL;
        x->str = v;
        x->cap_str = cap;
    }
    char *d = strdup(s);
    if (d) x->str[x->n_str++] = d;
    return d;
}

/* A growing list of borrowed strings for one entry. */
typedef struct strv {
    const char **v;
    size_t n, cap;
} strv;

static int strv_add(strv *l, plan_nplus1 *x, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s)) return 0;
    const char *k = keep(x, s);
    if (!k) return -ENOMEM;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        const char **v = realloc(l->v, cap * sizeof *v);
        if (!v) return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = k;
    return 0;
}

void plan_nplus1_free(plan_nplus1 *x)
{
    for (size_t i = 0; i < x->n; i++) {
        free((void *)x->loss[i].replaced);
        free((void *)x->loss[i].needs_new_nodes);
        free((void *)x->loss[i].unplaced);
    }
    free(x->loss);
    for (size_t i = 0; i < x->n_str; i++)
        free(x->str[i]);
    free(x->str);
    memset(x, 0, sizeof *x);
}

bool plan_nplus1_survives(const plan_nplus1 *x)
{
    for (size_t i = 0; i < x->n; i++)
        if (x->loss[i].n_needs_new_nodes || x->loss[i].n_unplaced) return false;
    return true;
}

/* ---------------------------------------------------------------- one loss */

/* `plan` without node `lost` and the placements on it. Replicas with a stage there keep their
 * other stages: the repair sees them incomplete and places them again whole. */
static place_plan *without_node(const place_plan *plan, size_t lost)
{
    place_plan *t = place_plan_new();
    int *map = malloc((plan->n_nodes + 1) * sizeof *map);
    bool ok = t && map;
    for (size_t i = 0; ok && i < plan->n_nodes; i++) {
        map[i] = -1;
        if (i == lost) continue;
        place_node nd = plan->nodes[i];
        nd.n_placed = 0;
        for (int g = 0; g < nd.n_gpus; g++)
            nd.gpus[g].used_bytes = 0;
        ok = (map[i] = place_plan_add_node(t, &nd)) >= 0;
    }
    for (size_t k = 0; ok && k < plan->n_placements; k++) {
        const place_placement *pl = &plan->placements[k];
        if ((size_t)pl->node == lost) continue;
        ok = place_plan_assign(t, pl->model, pl->replica, pl->stage, pl->n_stages, map[pl->node],
                               pl->gpus, pl->n_gpus, pl->bytes_per_gpu) >= 0;
    }
    free(map);
    if (ok) {
        snprintf(t->solver, sizeof t->solver, "%s", plan->solver);
        place_plan_update_cost(t);
        return t;
    }
    place_plan_free(t);
    return NULL;
}

/* The placements of `plan` on node `lost` (a node holds few): *out (caller frees), their count. */
static size_t lost_placements(const place_plan *plan, size_t lost, size_t **out)
{
    size_t n = 0;
    *out = malloc((place_node_load(plan, lost) + 1) * sizeof **out);
    for (size_t k = 0; *out && k < plan->n_placements; k++)
        if ((size_t)plan->placements[k].node == lost) (*out)[n++] = k;
    return n;
}

/* q is a stage of a replica that ran on the lost node. */
static bool of_lost_replica(const place_plan *plan, const size_t *lp, size_t n, const char *model,
                            uint32_t replica)
{
    for (size_t i = 0; i < n; i++) {
        const place_placement *pl = &plan->placements[lp[i]];
        if (pl->replica == replica && !strcmp(pl->model, model)) return true;
    }
    return false;
}

static int node_by_name(const place_plan *plan, const char *name)
{
    for (size_t i = 0; i < plan->n_nodes; i++)
        if (!strcmp(plan->nodes[i].name, name)) return (int)i;
    return -1;
}

/* Sorts the repaired plan's placements of the lost replicas into spare room and new nodes;
 * the lost replicas it could not place are unplaced. Linear in the plans' sizes times the
 * placements the lost node held. */
static int classify(plan_nplus1 *x, const place_plan *plan, size_t lost, const place_plan *before,
                    const place_plan *after, strv *rep, strv *buy, strv *unp, double *extra)
{
    size_t *lp = NULL, nl = lost_placements(plan, lost, &lp);
    bool *counted = calloc(after->n_nodes + 1, 1);
    if (!counted || !lp) {
        free(counted);
        free(lp);
        return -ENOMEM;
    }
    int rc = 0;
    for (size_t k = 0; k < after->n_placements && !rc; k++) {
        const place_placement *q = &after->placements[k];
        if (!of_lost_replica(plan, lp, nl, q->model, q->replica)) continue;
        const place_node *nd = &after->nodes[q->node];
        int b = node_by_name(before, nd->name);
        bool paid_before =
            b >= 0 && (place_node_load(before, (size_t)b) > 0 || before->nodes[b].spare);
        if (b >= 0) rc = strv_add(rep, x, q->id);
        if (!rc && !paid_before && !counted[q->node]) {
            counted[q->node] = true;
            *extra += nd->price_per_hour;
            if (b < 0) rc = strv_add(buy, x, nd->type);
        }
    }
    free(counted);
    for (size_t u = 0; u < after->n_unplaced && !rc; u++) {
        const place_unplaced *w = &after->unplaced[u];
        if (!of_lost_replica(plan, lp, nl, w->model, w->replica)) continue;
        char id[PLACE_ID_MAX];
        place_make_id(id, sizeof id, w->model, w->replica, -1);
        rc = strv_add(unp, x, id);
    }
    free(lp);
    return rc;
}

/* The fleet without inventory node `name` (shallow: everything but the node list is borrowed). */
static int fleet_without(const plan_fleet *f, const char *name, plan_fleet *out)
{
    *out = *f;
    out->nodes = malloc((f->n_nodes ? f->n_nodes : 1) * sizeof *out->nodes);
    if (!out->nodes) return -ENOMEM;
    out->n_nodes = 0;
    for (size_t i = 0; i < f->n_nodes; i++)
        if (strcmp(f->nodes[i].name, name)) out->nodes[out->n_nodes++] = f->nodes[i];
    return 0;
}

static int repair_without(const plan_problem *p, const place_plan *before, const place_node *lost,
                          const plan_options *o, place_plan **after, vp_err *e)
{
    if (!lost->inventory) return plan_repair(p, before, o, after, NULL, e);
    plan_fleet f;
    plan_problem *q = NULL;
    if (fleet_without(p->fleet, lost->name, &f)) return vp_errf(e, -ENOMEM, "out of memory");
    int rc = plan_problem_build(p->manifest, &f, &q, e);
    if (!rc) rc = plan_repair(q, before, o, after, NULL, e);
    plan_problem_free(q);
    free(f.nodes);
    return rc;
}

static int analyse_one(plan_nplus1 *x, const plan_problem *p, const place_plan *plan, size_t lost,
                       const plan_options *o, vp_err *e)
{
    plan_node_loss *l = &x->loss[lost];
    memset(l, 0, sizeof *l);
    if (!(l->node = keep(x, plan->nodes[lost].name))) return vp_errf(e, -ENOMEM, "out of memory");
    if (!place_node_load(plan, lost)) return 0;
    place_plan *before = without_node(plan, lost), *after = NULL;
    if (!before) return vp_errf(e, -ENOMEM, "out of memory");
    int rc = repair_without(p, before, &plan->nodes[lost], o, &after, e);
    strv rep = {0}, buy = {0}, unp = {0};
    double extra = 0;
    if (!rc && classify(x, plan, lost, before, after, &rep, &buy, &unp, &extra))
        rc = vp_errf(e, -ENOMEM, "out of memory");
    l->replaced = rep.v, l->n_replaced = rep.n;
    l->needs_new_nodes = buy.v, l->n_needs_new_nodes = buy.n;
    l->unplaced = unp.v, l->n_unplaced = unp.n;
    l->extra_cost_per_hour = extra;
    place_plan_free(before);
    place_plan_free(after);
    return rc;
}

size_t plan_nodes_in_use(const place_plan *plan)
{
    bool *used = calloc(plan->n_nodes + 1, 1);
    if (!used) return plan->n_nodes; /* an upper bound will do */
    size_t n = 0;
    for (size_t k = 0; k < plan->n_placements; k++)
        used[plan->placements[k].node] = true;
    for (size_t i = 0; i < plan->n_nodes; i++)
        n += used[i];
    free(used);
    return n;
}

int plan_nplus1_analyse(const plan_problem *p, const place_plan *plan, const plan_options *o,
                        plan_nplus1 *out, vp_err *e)
{
    memset(out, 0, sizeof *out);
    plan_options sub;
    if (o)
        sub = *o;
    else
        plan_options_default(&sub);
    sub.progress = NULL;
    sub.export_lp = NULL;
    sub.deadline_ms = 0;
    size_t busy = plan_nodes_in_use(plan);
    sub.time_limit_s = (o ? o->time_limit_s : sub.time_limit_s) / (double)(busy ? busy : 1);
    out->loss = calloc(plan->n_nodes ? plan->n_nodes : 1, sizeof *out->loss);
    if (!out->loss) return vp_errf(e, -ENOMEM, "out of memory");
    out->n = plan->n_nodes;
    for (size_t i = 0; i < plan->n_nodes; i++) {
        int rc = analyse_one(out, p, plan, i, &sub, e);
        if (rc) return rc;
    }
    return 0;
}

/* ---------------------------------------------------------------- spare nodes */

static int count_of_type(const plan_problem *p, const place_plan *plan, size_t b)
{
    int n = 0;
    for (size_t i = 0; i < plan->n_nodes; i++) {
        const place_node *nd = &plan->nodes[i];
        if ((place_node_load(plan, i) || nd->spare) && plan_node_bintype(p, nd) == (int)b) n++;
    }
    return n;
}

/* plan + one empty spare node of purchasable bin type b, or NULL (max_count reached, or memory). */
static place_plan *with_spare(const plan_problem *p, const place_plan *plan, size_t b)
{
    const plan_bintype *bt = &p->bintypes[b];
    if (bt->inventory || (bt->max_count >= 0 && count_of_type(p, plan, b) >= bt->max_count))
        return NULL;
    place_node nd;
    int seq = 0;
    do
        plan_node_from_bintype(p, b, seq++, &nd);
    while (node_by_name(plan, nd.name) >= 0 || plan_is_inventory_name(p, nd.name));
    nd.spare = true;
    place_plan *t = place_plan_clone(plan);
    if (t && place_plan_add_node(t, &nd) < 0) {
        place_plan_free(t);
        return NULL;
    }
    if (t) place_plan_update_cost(t);
    return t;
}

/* 1 when plan survives any single loss, 0 when not, < 0 on error. */
static int survives(const plan_problem *p, const place_plan *plan, const plan_options *o, vp_err *e)
{
    plan_nplus1 x;
    int rc = plan_nplus1_analyse(p, plan, o, &x, e);
    if (!rc) rc = plan_nplus1_survives(&x);
    plan_nplus1_free(&x);
    return rc;
}

/* Bin type of a purchasable instance type by name, or -1. */
static int bintype_of(const plan_problem *p, const char *type)
{
    for (size_t b = 0; b < p->n_bintypes; b++)
        if (!p->bintypes[b].inventory && !strcmp(p->bintypes[b].type, type)) return (int)b;
    return -1;
}

/* The cheapest single spare among the types the losses would buy that makes plan survive:
 * *best (NULL when none does). */
static int cheapest_single(const plan_problem *p, const place_plan *plan, const plan_nplus1 *x,
                           const plan_options *o, place_plan **best, vp_err *e)
{
    *best = NULL;
    size_t n = 0, *order = malloc((p->n_bintypes ? p->n_bintypes : 1) * sizeof *order);
    if (!order) return vp_errf(e, -ENOMEM, "out of memory");
    for (size_t b = 0; b < p->n_bintypes; b++) { /* named by a loss; by price, insertion */
        bool named = false;
        for (size_t i = 0; i < x->n && !named; i++)
            for (size_t k = 0; k < x->loss[i].n_needs_new_nodes && !named; k++)
                named = bintype_of(p, x->loss[i].needs_new_nodes[k]) == (int)b;
        if (!named) continue;
        size_t k = n++;
        for (; k > 0 && p->bintypes[order[k - 1]].price_per_hour > p->bintypes[b].price_per_hour;
             k--)
            order[k] = order[k - 1];
        order[k] = b;
    }
    int rc = 0;
    for (size_t k = 0; k < n && !rc && !*best; k++) {
        place_plan *t = with_spare(p, plan, order[k]);
        if (!t) continue;
        rc = survives(p, t, o, e);
        if (rc == 1)
            *best = t, rc = 0;
        else
            place_plan_free(t);
    }
    free(order);
    return rc < 0 ? rc : 0;
}

/* What covers every loss at once: of each type, as many spares as the loss that buys the most
 * of it would buy. NULL when a loss leaves replicas unplaced or max_count forbids it. */
static place_plan *cover_all(const plan_problem *p, const place_plan *plan, const plan_nplus1 *x)
{
    int *need = calloc(p->n_bintypes + 1, sizeof *need),
        *one = calloc(p->n_bintypes + 1, sizeof *one);
    place_plan *t = need && one ? place_plan_clone(plan) : NULL;
    for (size_t i = 0; t && i < x->n; i++) {
        if (x->loss[i].n_unplaced) goto fail;
        memset(one, 0, p->n_bintypes * sizeof *one);
        for (size_t k = 0; k < x->loss[i].n_needs_new_nodes; k++) {
            int b = bintype_of(p, x->loss[i].needs_new_nodes[k]);
            if (b < 0) goto fail;
            if (++one[b] > need[b]) need[b] = one[b];
        }
    }
    for (size_t b = 0; t && b < p->n_bintypes; b++)
        for (int c = 0; c < need[b]; c++) {
            place_plan *u = with_spare(p, t, b);
            place_plan_free(t);
            t = u;
        }
    free(need);
    free(one);
    return t;
fail:
    place_plan_free(t);
    free(need);
    free(one);
    return NULL;
}

int plan_add_spare_nodes(const plan_problem *p, place_plan *plan, const plan_options *o,
                         size_t *added, vp_err *e)
{
    *added = 0;
    plan_nplus1 x;
    int rc = plan_nplus1_analyse(p, plan, o, &x, e);
    if (rc || plan_nplus1_survives(&x)) {
        plan_nplus1_free(&x);
        return rc;
    }
    place_plan *best = NULL;
    rc = cheapest_single(p, plan, &x, o, &best, e);
    if (!rc && !best && (best = cover_all(p, plan, &x)) && (rc = survives(p, best, o, e)) <= 0) {
        place_plan_free(best);
        best = NULL;
    }
    plan_nplus1_free(&x);
    if (rc < 0) return rc;
    if (!best)
        return vp_errf(e, VP_EINPUT,
                       "--spare-nodes: no spare nodes the fleet allows let every single node "
                       "loss re-place its replicas (see the N+1 table of the plan without it)");
    for (size_t i = plan->n_nodes; i < best->n_nodes; i++) {
        if (place_plan_add_node(plan, &best->nodes[i]) < 0) {
            place_plan_free(best);
            return vp_errf(e, -ENOMEM, "out of memory");
        }
        ++*added;
    }
    place_plan_free(best);
    place_plan_update_cost(plan);
    if (plan->gap > 1e-9 && !strcmp(plan->status, "optimal"))
        snprintf(plan->status, sizeof plan->status, "feasible");
    return 0;
}
