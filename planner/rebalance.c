/* rebalance.c - changing a running plan: placing what is missing, consolidating, rebalancing
 * under a migration budget, and the make-before-break move list.
 *
 * A replica of the current plan is running when every stage sits on a node that still exists
 * with the footprint the problem now gives it; those may stay put, and moving one spends one
 * unit of the budget. Everything else (new replicas, ones that were unplaced, ones on lost nodes
 * or with a changed footprint) is placed for free. plan_rebalance takes the cheapest of: the
 * current plan with what is missing placed by best fit (zero moves); that plan consolidated with
 * the budget; a fresh optimised plan relabelled to keep as many replicas in place as it can
 * (when the budget allows its moves); and, for fleets small enough, the MIP with one binary
 * "stays" per running replica and sum (1 - stays) <= max_moves, warm-started from the best of
 * the others, which can prove the result optimal.
 *
 * The move list simulates the fleet: removed replicas stop first, then every start or migration
 * runs as soon as its target GPUs have room with the old placement still running (start, then
 * stop); only when no pending step fits does one migration stop first and restart later, flagged
 * break_before_make. No step ever takes a GPU over its usable bytes. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilp.h"

static bool placeable(const plan_problem *p, size_t g)
{
    const plan_group *gr = &p->groups[g];
    if (gr->replicas == 0 || gr->why_not[0]) return false;
    for (size_t b = 0; b < p->n_bintypes; b++)
        if (gr->shapes[b].ok) return true;
    return false;
}

static const char *model_name(const plan_problem *p, size_t g)
{
    return p->manifest->models[p->groups[g].model].name;
}

/* Sorted index of a plan's placement ids, for O(log n) lookups. */
typedef struct id_ent {
    const char *id;
    size_t k;
} id_ent;

typedef struct id_index {
    const place_plan *plan;
    id_ent *ent;
    size_t n;
} id_index;

static int id_ent_cmp(const void *a, const void *b)
{
    return strcmp(((const id_ent *)a)->id, ((const id_ent *)b)->id);
}

static int id_index_new(const place_plan *plan, id_index *x)
{
    x->plan = plan;
    x->n = plan->n_placements;
    x->ent = malloc((x->n ? x->n : 1) * sizeof *x->ent);
    if (!x->ent) return -ENOMEM;
    for (size_t i = 0; i < x->n; i++)
        x->ent[i] = (id_ent){plan->placements[i].id, i};
    qsort(x->ent, x->n, sizeof *x->ent, id_ent_cmp);
    return 0;
}

static int id_index_find(const id_index *x, const char *id)
{
    id_ent key = {id, 0};
    const id_ent *f = x->n ? bsearch(&key, x->ent, x->n, sizeof key, id_ent_cmp) : NULL;
    return f ? (int)f->k : -1;
}

static void id_index_free(id_index *x)
{
    free(x->ent);
    x->ent = NULL;
}

static bool same_slot(const place_plan *a, const place_placement *x, const place_plan *b,
                      const place_placement *y)
{
    return strcmp(a->nodes[x->node].name, b->nodes[y->node].name) == 0 && x->n_gpus == y->n_gpus &&
           x->bytes_per_gpu == y->bytes_per_gpu && memcmp(x->gpus, y->gpus, (size_t)x->n_gpus) == 0;
}

/* ---------------------------------------------------------------- running replicas */

int plan_current_scan(const plan_problem *p, const place_plan *current, plan_cur_rep **reps,
                      size_t *n, vp_err *e)
{
    *reps = NULL;
    *n = 0;
    id_index ix;
    if (id_index_new(current, &ix)) return vp_errf(e, -ENOMEM, "out of memory");
    int *nbt = malloc((current->n_nodes ? current->n_nodes : 1) * sizeof *nbt);
    size_t total = 0;
    for (size_t g = 0; g < p->n_groups; g++)
        total += p->groups[g].replicas;
    plan_cur_rep *v = malloc((total ? total : 1) * sizeof *v);
    if (!nbt || !v) {
        free(nbt);
        free(v);
        id_index_free(&ix);
        return vp_errf(e, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < current->n_nodes; i++)
        nbt[i] = plan_node_bintype(p, &current->nodes[i]);
    size_t k = 0;
    for (size_t g = 0; g < p->n_groups; g++) {
        if (!placeable(p, g)) continue;
        const plan_group *gr = &p->groups[g];
        for (uint32_t r = 0; r < gr->replicas; r++) {
            plan_cur_rep cr = {.group = g, .replica = r, .n_stages = (int)gr->pp};
            bool ok = gr->pp >= 1 && gr->pp <= PLAN_MAX_PP;
            for (uint32_t s = 0; s < gr->pp && ok; s++) {
                char id[PLACE_ID_MAX];
                place_make_id(id, sizeof id, model_name(p, g), r, gr->pp > 1 ? (int)s : -1);
                int at = id_index_find(&ix, id);
                if (at < 0) {
                    ok = false;
                    break;
                }
                const place_placement *pl = &current->placements[at];
                if (pl->node < 0 || (size_t)pl->node >= current->n_nodes) {
                    ok = false;
                    break;
                }
                int b = nbt[pl->node];
                if (b < 0) {
                    ok = false;
                    break;
                }
                const plan_shape *sh = &gr->shapes[b];
                const plan_bintype *bt = &p->bintypes[b];
                if (!sh->ok || sh->tp != (uint32_t)pl->n_gpus ||
                    sh->stage_bytes[s] != pl->bytes_per_gpu ||
                    current->nodes[pl->node].n_gpus != bt->n_gpus) {
                    ok = false;
                    break;
                }
                for (int t = 0; t < pl->n_gpus; t++)
                    if (pl->gpus[t] >= bt->n_gpus) ok = false;
                cr.pl[s] = (size_t)at;
            }
            if (ok) v[k++] = cr;
        }
    }
    free(nbt);
    id_index_free(&ix);
    *reps = v;
    *n = k;
    return 0;
}

/* ---------------------------------------------------------------- placing what is missing */

typedef struct nodeidx {
    int *head; /* [node] first placement index, -1 */
    int *next; /* [placement] next on the same node */
    size_t cap_pl, cap_nodes;
} nodeidx;

static int nodeidx_build(nodeidx *x, const place_plan *plan)
{
    size_t cn = plan->n_nodes + 16, cp = plan->n_placements + 16;
    x->head = malloc(cn * sizeof *x->head);
    x->next = malloc(cp * sizeof *x->next);
    if (!x->head || !x->next) return -ENOMEM;
    x->cap_nodes = cn;
    x->cap_pl = cp;
    for (size_t i = 0; i < cn; i++) /* nodes appended later start empty */
        x->head[i] = -1;
    for (size_t k = plan->n_placements; k-- > 0;) {
        int n = plan->placements[k].node;
        x->next[k] = x->head[n];
        x->head[n] = (int)k;
    }
    return 0;
}

static int nodeidx_grow(nodeidx *x, const place_plan *plan)
{
    if (plan->n_nodes > x->cap_nodes) {
        size_t old = x->cap_nodes, nc = plan->n_nodes * 2;
        int *h = realloc(x->head, nc * sizeof *h);
        if (!h) return -ENOMEM;
        x->head = h;
        for (size_t i = old; i < nc; i++)
            x->head[i] = -1;
        x->cap_nodes = nc;
    }
    if (plan->n_placements > x->cap_pl) {
        size_t nc = plan->n_placements * 2;
        int *nx = realloc(x->next, nc * sizeof *nx);
        if (!nx) return -ENOMEM;
        x->next = nx;
        x->cap_pl = nc;
    }
    return 0;
}

/* Call right after appending placement k (the last one). */
static void nodeidx_push(nodeidx *x, const place_plan *plan, size_t k)
{
    int n = plan->placements[k].node;
    x->next[k] = x->head[n];
    x->head[n] = (int)k;
}

/* Call right before place_plan_unassign of the LAST placement. */
static void nodeidx_pop_last(nodeidx *x, const place_plan *plan)
{
    size_t k = plan->n_placements - 1;
    int n = plan->placements[k].node;
    if (x->head[n] == (int)k) x->head[n] = x->next[k];
}

static void nodeidx_free(nodeidx *x)
{
    free(x->head);
    free(x->next);
}

/* Does node n host a unit of `model` (any replica when replica is UINT32_MAX)? */
static bool node_hosts(const place_plan *plan, const nodeidx *x, int n, const char *model,
                       uint32_t replica)
{
    for (int k = x->head[n]; k >= 0; k = x->next[k]) {
        const place_placement *pl = &plan->placements[k];
        if ((replica == UINT32_MAX || pl->replica == replica) && strcmp(pl->model, model) == 0)
            return true;
    }
    return false;
}

/* Tightest tp GPUs of node n with room for w; returns the slack left on them (bytes) or -1. */
static double pick_tight(const place_plan *plan, int n, uint32_t tp, uint64_t w, uint8_t *out)
{
    const place_node *nd = &plan->nodes[n];
    uint8_t cand[PLACE_MAX_GPUS];
    uint64_t room[PLACE_MAX_GPUS];
    int nc = 0;
    for (int g = 0; g < nd->n_gpus; g++) {
        const place_gpu *gp = &nd->gpus[g];
        if (gp->used_bytes > gp->usable_bytes || gp->usable_bytes - gp->used_bytes < w) continue;
        uint64_t r = gp->usable_bytes - gp->used_bytes;
        int k = nc++;
        while (k > 0 && room[k - 1] > r) {
            room[k] = room[k - 1];
            cand[k] = cand[k - 1];
            k--;
        }
        room[k] = r;
        cand[k] = (uint8_t)g;
    }
    if ((uint32_t)nc < tp) return -1;
    double slack = 0;
    for (uint32_t t = 0; t < tp; t++) {
        out[t] = cand[t];
        slack += (double)(room[t] - w);
    }
    return slack;
}

typedef struct missing {
    size_t group;
    uint32_t replica;
    uint32_t stages; /* bitmask of stages to place */
    double key;
} missing;

static int missing_cmp(const void *a, const void *b)
{
    const missing *x = a, *y = b;
    if (x->key != y->key) return x->key > y->key ? -1 : 1;
    if (x->group != y->group) return x->group < y->group ? -1 : 1;
    return x->replica < y->replica ? -1 : (x->replica > y->replica);
}

static int count_type(const place_plan *plan, const plan_problem *p, size_t b)
{
    int c = 0;
    for (size_t i = 0; i < plan->n_nodes; i++)
        if (plan_node_bintype(p, &plan->nodes[i]) == (int)b) c++;
    return c;
}

int plan_fill_missing(const plan_problem *p, place_plan *plan, vp_err *e)
{
    plan_names nm = {0};
    nodeidx x = {0};
    missing *miss = NULL;
    uint32_t **have = NULL;
    int *nbt = NULL, *bought = NULL;
    size_t *left = NULL;
    int rc = 0;
    if (plan_names_new(p, &nm) || nodeidx_build(&x, plan)) goto oom;
    size_t ng = p->n_groups ? p->n_groups : 1;
    have = calloc(ng, sizeof *have);
    left = calloc(ng * PLAN_MAX_PP, sizeof *left);
    bought = calloc(p->n_bintypes ? p->n_bintypes : 1, sizeof *bought);
    if (!have || !left || !bought) goto oom;
    for (size_t b = 0; b < p->n_bintypes; b++)
        if (!p->bintypes[b].inventory) bought[b] = count_type(plan, p, b);
    size_t nmiss = 0;
    for (size_t g = 0; g < p->n_groups; g++) {
        have[g] = calloc(p->groups[g].replicas ? p->groups[g].replicas : 1, sizeof **have);
        if (!have[g]) goto oom;
        nmiss += p->groups[g].replicas;
    }
    for (size_t k = 0; k < plan->n_placements; k++) {
        const place_placement *pl = &plan->placements[k];
        int g = plan_names_find(&nm, pl->model);
        if (g < 0 || pl->replica >= p->groups[g].replicas) continue;
        uint32_t st = pl->stage < 0 ? 0 : (uint32_t)pl->stage;
        if (st < 32) have[g][pl->replica] |= 1u << st;
    }
    plan->n_unplaced = 0;
    miss = malloc((nmiss ? nmiss : 1) * sizeof *miss);
    if (!miss) goto oom;
    nmiss = 0;
    for (size_t g = 0; g < p->n_groups; g++) {
        const plan_group *gr = &p->groups[g];
        if (!placeable(p, g)) {
            for (uint32_t r = 0; r < gr->replicas; r++)
                if (!have[g][r] &&
                    place_plan_add_unplaced(plan, model_name(p, g), r,
                                            gr->why_not[0] ? gr->why_not : "fits no node type"))
                    goto oom;
            continue;
        }
        uint32_t all = gr->pp >= 32 ? 0xffffffffu : (1u << gr->pp) - 1;
        double key = 0;
        for (size_t b = 0; b < p->n_bintypes; b++) {
            const plan_shape *s = &gr->shapes[b];
            if (!s->ok) continue;
            double bytes = 0;
            for (uint32_t st = 0; st < gr->pp; st++)
                bytes += (double)s->stage_bytes[st] * s->tp;
            if (bytes > key) key = bytes;
        }
        for (uint32_t r = 0; r < gr->replicas; r++) {
            uint32_t need = all & ~have[g][r];
            if (!need) continue;
            miss[nmiss++] = (missing){g, r, need, key};
            for (uint32_t st = 0; st < gr->pp; st++)
                if (need >> st & 1u) left[g * PLAN_MAX_PP + st]++;
        }
    }
    qsort(miss, nmiss, sizeof *miss, missing_cmp);
    nbt = malloc((plan->n_nodes + nmiss * PLAN_MAX_PP + 1) * sizeof *nbt);
    if (!nbt) goto oom;
    for (size_t i = 0; i < plan->n_nodes; i++)
        nbt[i] = plan_node_bintype(p, &plan->nodes[i]);

    for (size_t mi = 0; mi < nmiss; mi++) {
        const missing *ms = &miss[mi];
        const plan_group *gr = &p->groups[ms->group];
        const plan_model *md = &p->manifest->models[gr->model];
        size_t placed_now = 0;
        bool failed = false;
        for (uint32_t st = 0; st < gr->pp && !failed; st++) {
            if (!(ms->stages >> st & 1u)) continue;
            int best = -1;
            double best_slack = 0;
            uint8_t gpus[PLACE_MAX_GPUS], bg[PLACE_MAX_GPUS];
            for (size_t n = 0; n < plan->n_nodes; n++) {
                if (nbt[n] < 0 || x.head[n] < 0) continue; /* idle nodes cost money to open */
                const plan_shape *sh = &gr->shapes[nbt[n]];
                if (!sh->ok) continue;
                if (md->spread && node_hosts(plan, &x, (int)n, md->name, UINT32_MAX)) continue;
                if (gr->pp > 1 && node_hosts(plan, &x, (int)n, md->name, ms->replica)) continue;
                double sl = pick_tight(plan, (int)n, sh->tp, sh->stage_bytes[st], gpus);
                if (sl < 0) continue;
                sl /= (double)p->bintypes[nbt[n]].usable_per_gpu;
                if (best < 0 || sl < best_slack) {
                    best = (int)n;
                    best_slack = sl;
                    memcpy(bg, gpus, sizeof bg);
                }
            }
            if (best < 0) {
                /* Open a node: an idle one we already have, or buy the type that costs least per
                 * unit of this kind it can hold. */
                double best_eff = INFINITY;
                int best_idle = -1, best_b = -1;
                size_t want = left[ms->group * PLAN_MAX_PP + st];
                for (size_t n = 0; n < plan->n_nodes; n++) {
                    if (nbt[n] < 0 || x.head[n] >= 0) continue;
                    const plan_shape *sh = &gr->shapes[nbt[n]];
                    if (!sh->ok) continue;
                    const plan_bintype *bt = &p->bintypes[nbt[n]];
                    double units = floor((double)bt->n_gpus / sh->tp) *
                                   floor((double)bt->usable_per_gpu / (double)sh->stage_bytes[st]);
                    if (md->spread && units > 1) units = 1;
                    if (units > (double)want) units = (double)want;
                    if (units < 1) units = 1;
                    double eff = bt->price_per_hour / units;
                    if (eff < best_eff) {
                        best_eff = eff;
                        best_idle = (int)n;
                    }
                }
                for (size_t b = 0; b < p->n_bintypes; b++) {
                    const plan_bintype *bt = &p->bintypes[b];
                    const plan_shape *sh = &gr->shapes[b];
                    if (bt->inventory || !sh->ok) continue;
                    if (bt->max_count >= 0 && bought[b] >= bt->max_count) continue;
                    double units = floor((double)bt->n_gpus / sh->tp) *
                                   floor((double)bt->usable_per_gpu / (double)sh->stage_bytes[st]);
                    if (md->spread && units > 1) units = 1;
                    if (units > (double)want) units = (double)want;
                    if (units < 1) units = 1;
                    double eff = bt->price_per_hour / units;
                    if (eff < best_eff * (1 - 1e-12)) {
                        best_eff = eff;
                        best_b = (int)b;
                        best_idle = -1;
                    }
                }
                if (best_idle >= 0) {
                    best = best_idle;
                } else if (best_b >= 0) {
                    best = plan_add_fresh_node(p, plan, (size_t)best_b);
                    if (best < 0) goto oom;
                    bought[best_b]++;
                    nbt[best] = best_b;
                    if (nodeidx_grow(&x, plan)) goto oom;
                }
                if (best >= 0) {
                    const plan_shape *sh = &gr->shapes[nbt[best]];
                    if (pick_tight(plan, best, sh->tp, sh->stage_bytes[st], bg) < 0) best = -1;
                }
            }
            if (best < 0) {
                failed = true;
                break;
            }
            const plan_shape *sh = &gr->shapes[nbt[best]];
            int k = place_plan_assign(plan, md->name, ms->replica, gr->pp > 1 ? (int)st : -1,
                                      (int)gr->pp, best, bg, (int)sh->tp, sh->stage_bytes[st]);
            if (k < 0) {
                rc = vp_errf(e, k, "internal: placing %s/%u failed", md->name, ms->replica);
                goto done;
            }
            if (nodeidx_grow(&x, plan)) goto oom;
            nodeidx_push(&x, plan, (size_t)k);
            placed_now++;
            left[ms->group * PLAN_MAX_PP + st]--;
        }
        if (failed) {
            /* Take back this replica's stages placed just now (the last placements). */
            for (size_t q = 0; q < placed_now; q++) {
                nodeidx_pop_last(&x, plan);
                place_plan_unassign(plan, plan->n_placements - 1);
            }
            /* A partially placed replica from before is taken out too: it cannot run. */
            if (ms->stages != ((gr->pp >= 32 ? 0xffffffffu : (1u << gr->pp) - 1))) {
                for (uint32_t st = 0; st < gr->pp; st++) {
                    char id[PLACE_ID_MAX];
                    place_make_id(id, sizeof id, md->name, ms->replica, (int)st);
                    int k = place_plan_find(plan, id);
                    if (k >= 0) {
                        place_plan_unassign(plan, (size_t)k);
                        nodeidx_free(&x);
                        memset(&x, 0, sizeof x);
                        if (nodeidx_build(&x, plan)) goto oom;
                    }
                }
            }
            if (place_plan_add_unplaced(plan, md->name, ms->replica,
                                        "no room: every allowed node is full and no allowed "
                                        "instance type can be bought (inventory exhausted or "
                                        "max_count reached)"))
                goto oom;
        }
    }
    goto done;
oom:
    rc = vp_errf(e, -ENOMEM, "out of memory while placing");
done:
    for (size_t g = 0; have && g < p->n_groups; g++)
        free(have[g]);
    free(have);
    free(left);
    free(bought);
    free(miss);
    free(nbt);
    nodeidx_free(&x);
    plan_names_free(&nm);
    return rc;
}

/* ---------------------------------------------------------------- consolidation */

typedef struct sim_add {
    int node, n_gpus;
    uint8_t gpus[PLACE_MAX_GPUS];
    uint64_t bytes;
    const char *model;
    uint32_t replica;
} sim_add;

/* Does placement k sit where origin had it? */
static bool at_origin(const place_plan *plan, size_t k, const id_index *oix)
{
    if (!oix) return false;
    const place_placement *pl = &plan->placements[k];
    int o = id_index_find(oix, pl->id);
    return o >= 0 && same_slot(plan, pl, oix->plan, &oix->plan->placements[o]);
}

/* Moves that emptying node c would cost: replicas on c still entirely at origin. */
static long node_charge(const place_plan *plan, const nodeidx *x, int c, const id_index *oix)
{
    if (!oix) return 0;
    long charge = 0;
    for (int k = x->head[c]; k >= 0; k = x->next[k]) {
        const place_placement *pl = &plan->placements[k];
        if (!at_origin(plan, (size_t)k, oix)) continue;
        bool counted = false;
        /* Earlier stage of the same replica on this node already counted it. */
        for (int q = x->head[c]; q != k && q >= 0; q = x->next[q]) {
            const place_placement *o = &plan->placements[q];
            if (o->replica == pl->replica && !strcmp(o->model, pl->model) &&
                at_origin(plan, (size_t)q, oix))
                counted = true;
        }
        if (pl->stage >= 0 && !counted) {
            /* A stage elsewhere already off origin: the replica has moved already. */
            for (int s = 0; s < pl->n_stages && !counted; s++) {
                if (s == pl->stage) continue;
                char id[PLACE_ID_MAX];
                place_make_id(id, sizeof id, pl->model, pl->replica, s);
                int q = place_plan_find(plan, id);
                if (q >= 0 && !at_origin(plan, (size_t)q, oix)) counted = true;
            }
        }
        if (!counted) charge++;
    }
    return charge;
}

static int cmp_double_idx_asc(const void *a, const void *b)
{
    const double *x = a, *y = b;
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : (x[1] > y[1]);
}

/* Tries to move everything on node c to other nodes in use. Commits and returns 1 on success. */
static int try_empty(const plan_problem *p, place_plan *plan, nodeidx *x, const int *nbt,
                     const plan_names *nm, int c, sim_add *log, size_t cap_log)
{
    size_t nl = 0;
    int list[4096];
    int nlist = 0;
    for (int k = x->head[c]; k >= 0; k = x->next[k]) {
        if (nlist == (int)VP_ARRAY_LEN(list) || (size_t)nlist >= cap_log) return 0;
        list[nlist++] = k;
    }
    /* Largest first. */
    for (int a = 1; a < nlist; a++) {
        int v = list[a], b = a;
        uint64_t wv = plan->placements[v].bytes_per_gpu * (uint64_t)plan->placements[v].n_gpus;
        while (b > 0) {
            const place_placement *q = &plan->placements[list[b - 1]];
            if (q->bytes_per_gpu * (uint64_t)q->n_gpus >= wv) break;
            list[b] = list[b - 1];
            b--;
        }
        list[b] = v;
    }
    for (int li = 0; li < nlist; li++) {
        const place_placement *pl = &plan->placements[list[li]];
        int g = plan_names_find(nm, pl->model);
        if (g < 0) return 0;
        const plan_group *gr = &p->groups[g];
        const plan_model *md = &p->manifest->models[gr->model];
        uint32_t st = pl->stage < 0 ? 0 : (uint32_t)pl->stage;
        int best = -1;
        double best_slack = 0;
        uint8_t bg[PLACE_MAX_GPUS];
        for (size_t n = 0; n < plan->n_nodes; n++) {
            if ((int)n == c || nbt[n] < 0 || x->head[n] < 0) continue;
            const plan_shape *sh = &gr->shapes[nbt[n]];
            if (!sh->ok) continue;
            bool clash = false;
            if (md->spread && node_hosts(plan, x, (int)n, md->name, UINT32_MAX)) clash = true;
            if (gr->pp > 1 && node_hosts(plan, x, (int)n, md->name, pl->replica)) clash = true;
            for (size_t q = 0; q < nl && !clash; q++)
                if (log[q].node == (int)n && !strcmp(log[q].model, md->name) &&
                    (md->spread || log[q].replica == pl->replica))
                    clash = true;
            if (clash) continue;
            /* Room with the simulated additions. */
            const place_node *nd = &plan->nodes[n];
            uint64_t w = sh->stage_bytes[st];
            uint8_t cand[PLACE_MAX_GPUS];
            uint64_t room[PLACE_MAX_GPUS];
            int ncand = 0;
            for (int gg = 0; gg < nd->n_gpus; gg++) {
                uint64_t used = nd->gpus[gg].used_bytes;
                for (size_t q = 0; q < nl; q++)
                    if (log[q].node == (int)n)
                        for (int t = 0; t < log[q].n_gpus; t++)
                            if (log[q].gpus[t] == gg) used += log[q].bytes;
                if (used > nd->gpus[gg].usable_bytes || nd->gpus[gg].usable_bytes - used < w)
                    continue;
                uint64_t r = nd->gpus[gg].usable_bytes - used;
                int k = ncand++;
                while (k > 0 && room[k - 1] > r) {
                    room[k] = room[k - 1];
                    cand[k] = cand[k - 1];
                    k--;
                }
                room[k] = r;
                cand[k] = (uint8_t)gg;
            }
            if ((uint32_t)ncand < sh->tp) continue;
            double slack = 0;
            for (uint32_t t = 0; t < sh->tp; t++)
                slack += (double)(room[t] - w);
            slack /= (double)p->bintypes[nbt[n]].usable_per_gpu;
            if (best < 0 || slack < best_slack) {
                best = (int)n;
                best_slack = slack;
                memcpy(bg, cand, sh->tp);
            }
        }
        if (best < 0) return 0;
        const plan_shape *sh = &gr->shapes[nbt[best]];
        sim_add *a = &log[nl++];
        a->node = best;
        a->n_gpus = (int)sh->tp;
        memcpy(a->gpus, bg, sh->tp);
        a->bytes = sh->stage_bytes[st];
        a->model = md->name;
        a->replica = pl->replica;
    }
    /* Commit: unassign every placement of c (their indices shift, so go by id), then assign. */
    char(*ids)[PLACE_ID_MAX] = malloc((size_t)nlist * sizeof *ids);
    int *stage = malloc((size_t)nlist * sizeof *stage), *nst = malloc((size_t)nlist * sizeof *nst);
    if (!ids || !stage || !nst) {
        free(ids);
        free(stage);
        free(nst);
        return -ENOMEM;
    }
    for (int li = 0; li < nlist; li++) {
        memcpy(ids[li], plan->placements[list[li]].id, PLACE_ID_MAX);
        stage[li] = plan->placements[list[li]].stage;
        nst[li] = plan->placements[list[li]].n_stages;
    }
    for (int li = 0; li < nlist; li++) {
        int k = place_plan_find(plan, ids[li]);
        if (k >= 0) place_plan_unassign(plan, (size_t)k);
    }
    int rc = 1;
    for (int li = 0; li < nlist; li++) {
        const sim_add *a = &log[li];
        int r = place_plan_assign(plan, a->model, a->replica, stage[li], nst[li], a->node, a->gpus,
                                  a->n_gpus, a->bytes);
        if (r < 0) rc = r;
    }
    free(ids);
    free(stage);
    free(nst);
    return rc;
}

/* Lays a node's placements out on an empty node of type b (largest first); false if not all
 * fit. gpus_out[i] gets the GPUs of list[i]. */
static bool layout_on(const plan_problem *p, const place_plan *plan, const plan_names *nm,
                      const int *list, int nlist, size_t b, uint8_t (*gpus_out)[PLACE_MAX_GPUS],
                      uint64_t *bytes_out)
{
    const plan_bintype *bt = &p->bintypes[b];
    uint64_t freeb[PLACE_MAX_GPUS];
    for (int g = 0; g < bt->n_gpus; g++)
        freeb[g] = bt->usable_per_gpu;
    for (int li = 0; li < nlist; li++) {
        const place_placement *pl = &plan->placements[list[li]];
        int g = plan_names_find(nm, pl->model);
        if (g < 0) return false;
        const plan_shape *sh = &p->groups[g].shapes[b];
        uint32_t st = pl->stage < 0 ? 0 : (uint32_t)pl->stage;
        if (!sh->ok) return false;
        uint64_t w = sh->stage_bytes[st];
        /* Tightest GPUs that fit. */
        int order[PLACE_MAX_GPUS], no = 0;
        for (int gg = 0; gg < bt->n_gpus; gg++) {
            if (freeb[gg] < w) continue;
            int k = no++;
            while (k > 0 && freeb[order[k - 1]] > freeb[gg]) {
                order[k] = order[k - 1];
                k--;
            }
            order[k] = gg;
        }
        if ((uint32_t)no < sh->tp) return false;
        for (uint32_t t = 0; t < sh->tp; t++) {
            gpus_out[li][t] = (uint8_t)order[t];
            freeb[order[t]] -= w;
        }
        bytes_out[li] = w;
    }
    return true;
}

int plan_consolidate(const plan_problem *p, place_plan *plan, const place_plan *origin,
                     long *budget, double deadline_ms)
{
    plan_names nm = {0};
    nodeidx x = {0};
    id_index oix = {0};
    int *nbt = NULL;
    sim_add *log = NULL;
    double *order = NULL;
    int rc = 0;
    if (plan_names_new(p, &nm)) return -ENOMEM;
    if (origin && id_index_new(origin, &oix)) {
        rc = -ENOMEM;
        goto done;
    }
    const id_index *oi = origin ? &oix : NULL;
    log = malloc(4096 * sizeof *log);
    int *cnt_b = calloc(p->n_bintypes ? p->n_bintypes : 1, sizeof *cnt_b);
    if (!log || !cnt_b) {
        free(cnt_b);
        rc = -ENOMEM;
        goto done;
    }
    for (int pass = 0; pass < 50; pass++) {
        bool improved = false;
        nodeidx_free(&x);
        memset(&x, 0, sizeof x);
        free(nbt);
        free(order);
        nbt = malloc((plan->n_nodes + 1) * sizeof *nbt);
        order = malloc((plan->n_nodes + 1) * 2 * sizeof *order);
        if (!nbt || !order || nodeidx_build(&x, plan)) {
            rc = -ENOMEM;
            goto done_c;
        }
        size_t no = 0;
        for (size_t n = 0; n < plan->n_nodes; n++) {
            nbt[n] = plan_node_bintype(p, &plan->nodes[n]);
            if (x.head[n] < 0 || nbt[n] < 0) continue;
            double used = 0, tot = 0;
            for (int g = 0; g < plan->nodes[n].n_gpus; g++) {
                used += (double)plan->nodes[n].gpus[g].used_bytes;
                tot += (double)plan->nodes[n].gpus[g].usable_bytes;
            }
            order[2 * no] = tot > 0 ? used / tot : 1;
            order[2 * no + 1] = (double)n;
            no++;
        }
        qsort(order, no, 2 * sizeof *order, cmp_double_idx_asc);
        memset(cnt_b, 0, (p->n_bintypes ? p->n_bintypes : 1) * sizeof *cnt_b);
        double free_total = 0;
        for (size_t n = 0; n < plan->n_nodes; n++) {
            if (nbt[n] < 0) continue;
            cnt_b[nbt[n]]++;
            if (x.head[n] < 0) continue;
            for (int g = 0; g < plan->nodes[n].n_gpus; g++) {
                const place_gpu *gp = &plan->nodes[n].gpus[g];
                if (gp->usable_bytes > gp->used_bytes)
                    free_total += (double)(gp->usable_bytes - gp->used_bytes);
            }
        }
        /* 1. Empty nodes into room elsewhere, least used first; give up on a pass after many
         * failures in a row (the rest are fuller still). */
        int fails = 0;
        for (size_t i = 0; i < no && fails < 64; i++) {
            if (deadline_ms > 0 && plan_now_ms() > deadline_ms) goto done_c;
            int c = (int)order[2 * i + 1];
            if (x.head[c] < 0 || plan->nodes[c].price_per_hour <= 0) continue;
            double used_c = 0, free_c = 0;
            for (int g = 0; g < plan->nodes[c].n_gpus; g++) {
                const place_gpu *gp = &plan->nodes[c].gpus[g];
                used_c += (double)gp->used_bytes;
                if (gp->usable_bytes > gp->used_bytes)
                    free_c += (double)(gp->usable_bytes - gp->used_bytes);
            }
            if (used_c > free_total - free_c) {
                fails++;
                continue;
            }
            long charge = node_charge(plan, &x, c, oi);
            if (budget && *budget >= 0 && charge > *budget) {
                fails++;
                continue;
            }
            int r = try_empty(p, plan, &x, nbt, &nm, c, log, 4096);
            if (r < 0) {
                rc = r;
                goto done_c;
            }
            if (r == 0) fails++;
            if (r == 1) {
                fails = 0;
                free_total -= used_c; /* its load moved into room elsewhere; its room is gone */
                free_total -= free_c;
                if (budget && *budget >= 0) *budget -= charge;
                improved = true;
                nodeidx_free(&x);
                memset(&x, 0, sizeof x);
                if (nodeidx_build(&x, plan)) {
                    rc = -ENOMEM;
                    goto done_c;
                }
            }
        }
        /* 2. Rebuy a node as a cheaper type that holds all of it. */
        for (size_t n = 0; n < plan->n_nodes; n++) {
            if (deadline_ms > 0 && plan_now_ms() > deadline_ms) goto done_c;
            if (nbt[n] < 0 || x.head[n] < 0 || p->bintypes[nbt[n]].inventory) continue;
            int list[256], nlist = 0;
            bool too_many = false;
            for (int k = x.head[n]; k >= 0; k = x.next[k]) {
                if (nlist == 256) {
                    too_many = true;
                    break;
                }
                list[nlist++] = k;
            }
            if (too_many) continue;
            long charge = node_charge(plan, &x, (int)n, oi);
            if (budget && *budget >= 0 && charge > *budget) continue;
            int best_b = -1;
            double best_price = plan->nodes[n].price_per_hour;
            uint8_t gpus[256][PLACE_MAX_GPUS], bgpus[256][PLACE_MAX_GPUS];
            uint64_t bytes[256], bbytes[256];
            for (size_t b = 0; b < p->n_bintypes; b++) {
                const plan_bintype *bt = &p->bintypes[b];
                if (bt->inventory || bt->price_per_hour >= best_price - 1e-12) continue;
                if (bt->max_count >= 0 && cnt_b[b] >= bt->max_count) continue;
                if (!layout_on(p, plan, &nm, list, nlist, b, gpus, bytes)) continue;
                best_b = (int)b;
                best_price = bt->price_per_hour;
                memcpy(bgpus, gpus, (size_t)nlist * sizeof *gpus);
                memcpy(bbytes, bytes, (size_t)nlist * sizeof *bytes);
            }
            if (best_b < 0) continue;
            int idx = plan_add_fresh_node(p, plan, (size_t)best_b);
            if (idx < 0) {
                rc = idx;
                goto done_c;
            }
            cnt_b[best_b]++;
            char ids[256][PLACE_ID_MAX];
            const char *models[256];
            uint32_t reps[256], tps[256];
            int stg[256], nst[256];
            for (int li = 0; li < nlist; li++) {
                const place_placement *pl = &plan->placements[list[li]];
                memcpy(ids[li], pl->id, PLACE_ID_MAX);
                int g = plan_names_find(&nm, pl->model);
                models[li] = p->manifest->models[p->groups[g].model].name;
                tps[li] = p->groups[g].shapes[best_b].tp;
                reps[li] = pl->replica;
                stg[li] = pl->stage;
                nst[li] = pl->n_stages;
            }
            for (int li = 0; li < nlist; li++) {
                int k = place_plan_find(plan, ids[li]);
                if (k >= 0) place_plan_unassign(plan, (size_t)k);
            }
            for (int li = 0; li < nlist; li++) {
                int r = place_plan_assign(plan, models[li], reps[li], stg[li], nst[li], idx,
                                          bgpus[li], (int)tps[li], bbytes[li]);
                if (r < 0) {
                    rc = r;
                    goto done_c;
                }
            }
            if (budget && *budget >= 0) *budget -= charge;
            improved = true;
            /* Indices changed: rebuild the per-node lists before going on. */
            nodeidx_free(&x);
            memset(&x, 0, sizeof x);
            int *nb2 = realloc(nbt, (plan->n_nodes + 1) * sizeof *nb2);
            if (!nb2 || nodeidx_build(&x, plan)) {
                if (nb2) nbt = nb2;
                rc = -ENOMEM;
                goto done_c;
            }
            nbt = nb2;
            nbt[idx] = best_b;
        }
        if (!improved) break;
    }
done_c:
    free(cnt_b);
done:
    place_plan_drop_idle(plan);
    place_plan_update_cost(plan);
    free(nbt);
    free(order);
    free(log);
    nodeidx_free(&x);
    id_index_free(&oix);
    plan_names_free(&nm);
    return rc;
}

/* ---------------------------------------------------------------- migrations and moves */

size_t plan_count_migrations(const plan_problem *p, const place_plan *current,
                             const place_plan *next)
{
    plan_cur_rep *reps = NULL;
    size_t n = 0, moved = 0;
    if (plan_current_scan(p, current, &reps, &n, NULL)) return (size_t)-1;
    id_index nx;
    if (id_index_new(next, &nx)) {
        free(reps);
        return (size_t)-1;
    }
    for (size_t r = 0; r < n; r++) {
        bool present = false, differs = false;
        for (int s = 0; s < reps[r].n_stages; s++) {
            const place_placement *cp = &current->placements[reps[r].pl[s]];
            int k = id_index_find(&nx, cp->id);
            if (k < 0) {
                differs = true;
                continue;
            }
            present = true;
            if (!same_slot(current, cp, next, &next->placements[k])) differs = true;
        }
        if (present && differs) moved++;
    }
    id_index_free(&nx);
    free(reps);
    return moved;
}

void plan_moves_free(plan_moves *m)
{
    if (!m) return;
    free(m->v);
    memset(m, 0, sizeof *m);
}

static int moves_push(plan_moves *m, const plan_move *mv)
{
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        plan_move *v = realloc(m->v, nc * sizeof *v);
        if (!v) return -ENOMEM;
        m->v = v;
        m->cap = nc;
    }
    m->v[m->n++] = *mv;
    return 0;
}

/* The fleet during the move: every node of either plan by name, usage per GPU. */
typedef struct simnode {
    const char *name;
    double price;
    int n_gpus;
    uint64_t usable[PLACE_MAX_GPUS];
    uint64_t used[PLACE_MAX_GPUS];
    long count; /* placements on it */
} simnode;

typedef struct sim {
    simnode *v;
    size_t n;
    double cost;
} sim;

static int sim_find(const sim *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i].name, name)) return (int)i;
    return -1;
}

static void sim_add_pl(sim *s, int n, const uint8_t *gpus, int ng, uint64_t bytes, int sign)
{
    simnode *nd = &s->v[n];
    for (int t = 0; t < ng; t++) {
        if (sign > 0)
            nd->used[gpus[t]] += bytes;
        else
            nd->used[gpus[t]] -= bytes;
    }
    long before = nd->count;
    nd->count += sign;
    if (before == 0 && nd->count > 0) s->cost += nd->price;
    if (before > 0 && nd->count == 0) s->cost -= nd->price;
}

static bool sim_fits(const sim *s, int n, const uint8_t *gpus, int ng, uint64_t bytes)
{
    const simnode *nd = &s->v[n];
    for (int t = 0; t < ng; t++) {
        if (gpus[t] >= nd->n_gpus) return false;
        if (nd->used[gpus[t]] > nd->usable[gpus[t]] ||
            nd->usable[gpus[t]] - nd->used[gpus[t]] < bytes)
            return false;
    }
    return true;
}

int plan_moves_build(const plan_problem *p, const place_plan *from, const place_plan *to,
                     plan_moves *out, vp_err *e)
{
    memset(out, 0, sizeof *out);
    sim s = {0};
    id_index fx = {0}, tx = {0};
    size_t *pend = NULL;
    bool *broken = NULL, *lost = NULL, *counted = NULL;
    plan_cur_rep *reps = NULL;
    size_t nreps = 0;
    int rc = 0;
    s.v = calloc(from->n_nodes + to->n_nodes + 1, sizeof *s.v);
    lost = calloc(from->n_nodes + 1, 1);
    counted = calloc(from->n_placements + 1, 1);
    if (!s.v || !lost || !counted || id_index_new(from, &fx) || id_index_new(to, &tx)) goto oom;
    /* Nodes the problem no longer has run nothing: their replicas start afresh elsewhere. */
    for (size_t i = 0; i < from->n_nodes; i++)
        lost[i] = plan_node_bintype(p, &from->nodes[i]) < 0;
    /* Running replicas (what max_moves counts). */
    rc = plan_current_scan(p, from, &reps, &nreps, e);
    if (rc) goto fail;
    for (size_t r = 0; r < nreps; r++)
        for (int st = 0; st < reps[r].n_stages; st++)
            counted[reps[r].pl[st]] = true;
    /* Nodes: `to`'s figures where a node is in both. */
    for (int pass = 0; pass < 2; pass++) {
        const place_plan *pl = pass == 0 ? to : from;
        for (size_t i = 0; i < pl->n_nodes; i++) {
            if (sim_find(&s, pl->nodes[i].name) >= 0) continue;
            simnode *nd = &s.v[s.n++];
            nd->name = pl->nodes[i].name;
            nd->price = pl->nodes[i].price_per_hour;
            nd->n_gpus = pl->nodes[i].n_gpus;
            for (int g = 0; g < nd->n_gpus; g++)
                nd->usable[g] = pl->nodes[i].gpus[g].usable_bytes;
        }
    }
    int *from_node = malloc((from->n_nodes + 1) * sizeof *from_node);
    int *to_node = malloc((to->n_nodes + 1) * sizeof *to_node);
    if (!from_node || !to_node) {
        free(from_node);
        free(to_node);
        goto oom;
    }
    for (size_t i = 0; i < from->n_nodes; i++)
        from_node[i] = sim_find(&s, from->nodes[i].name);
    for (size_t i = 0; i < to->n_nodes; i++)
        to_node[i] = sim_find(&s, to->nodes[i].name);
    for (size_t k = 0; k < from->n_placements; k++) {
        const place_placement *pl = &from->placements[k];
        if (lost[pl->node]) continue;
        sim_add_pl(&s, from_node[pl->node], pl->gpus, pl->n_gpus, pl->bytes_per_gpu, +1);
    }
    out->cost_before = s.cost;
    plan_move mv;
    /* 1. Stops of placements `to` does not have. */
    for (size_t k = 0; k < from->n_placements; k++) {
        const place_placement *pl = &from->placements[k];
        if (lost[pl->node] || id_index_find(&tx, pl->id) >= 0) continue;
        memset(&mv, 0, sizeof mv);
        mv.kind = PLAN_MOVE_STOP;
        snprintf(mv.id, sizeof mv.id, "%s", pl->id);
        snprintf(mv.model, sizeof mv.model, "%s", pl->model);
        mv.replica = pl->replica;
        mv.stage = pl->stage;
        snprintf(mv.from_node, sizeof mv.from_node, "%s", from->nodes[pl->node].name);
        memcpy(mv.from_gpus, pl->gpus, (size_t)pl->n_gpus);
        mv.n_from_gpus = pl->n_gpus;
        mv.bytes_per_gpu = pl->bytes_per_gpu;
        double before = s.cost;
        sim_add_pl(&s, from_node[pl->node], pl->gpus, pl->n_gpus, pl->bytes_per_gpu, -1);
        mv.saves_per_hour = before - s.cost;
        if (moves_push(out, &mv)) {
            free(from_node);
            free(to_node);
            goto oom;
        }
    }
    /* 2. Starts and migrations, each as soon as its target has room. */
    size_t np = 0;
    pend = malloc((to->n_placements + 1) * sizeof *pend);
    broken = calloc(to->n_placements + 1, 1);
    if (!pend || !broken) {
        free(from_node);
        free(to_node);
        goto oom;
    }
    for (size_t k = 0; k < to->n_placements; k++) {
        const place_placement *tp = &to->placements[k];
        int f = id_index_find(&fx, tp->id);
        if (f >= 0 && same_slot(from, &from->placements[f], to, tp)) continue;
        pend[np++] = k;
    }
    while (np) {
        bool progress = false;
        for (size_t q = 0; q < np;) {
            size_t k = pend[q];
            const place_placement *tp = &to->placements[k];
            int tn = to_node[tp->node];
            if (!sim_fits(&s, tn, tp->gpus, tp->n_gpus, tp->bytes_per_gpu)) {
                q++;
                continue;
            }
            int f = id_index_find(&fx, tp->id);
            if (f >= 0 && lost[from->placements[f].node]) f = -1;
            memset(&mv, 0, sizeof mv);
            mv.kind = f >= 0 ? PLAN_MOVE_MIGRATE : PLAN_MOVE_START;
            snprintf(mv.id, sizeof mv.id, "%s", tp->id);
            snprintf(mv.model, sizeof mv.model, "%s", tp->model);
            mv.replica = tp->replica;
            mv.stage = tp->stage;
            snprintf(mv.to_node, sizeof mv.to_node, "%s", to->nodes[tp->node].name);
            memcpy(mv.to_gpus, tp->gpus, (size_t)tp->n_gpus);
            mv.n_to_gpus = tp->n_gpus;
            mv.bytes_per_gpu = tp->bytes_per_gpu;
            double before = s.cost;
            sim_add_pl(&s, tn, tp->gpus, tp->n_gpus, tp->bytes_per_gpu, +1);
            if (f >= 0) {
                const place_placement *fp = &from->placements[f];
                snprintf(mv.from_node, sizeof mv.from_node, "%s", from->nodes[fp->node].name);
                memcpy(mv.from_gpus, fp->gpus, (size_t)fp->n_gpus);
                mv.n_from_gpus = fp->n_gpus;
                mv.break_before_make = broken[k];
                if (!broken[k])
                    sim_add_pl(&s, from_node[fp->node], fp->gpus, fp->n_gpus, fp->bytes_per_gpu,
                               -1);
            }
            mv.saves_per_hour = before - s.cost;
            if (moves_push(out, &mv)) {
                free(from_node);
                free(to_node);
                goto oom;
            }
            pend[q] = pend[--np];
            progress = true;
        }
        if (progress || !np) continue;
        /* Deadlock (a cycle of migrations): stop one migration's old placement first. */
        size_t pick = np;
        for (size_t q = 0; q < np && pick == np; q++) {
            int f = id_index_find(&fx, to->placements[pend[q]].id);
            if (!broken[pend[q]] && f >= 0 && !lost[from->placements[f].node]) pick = q;
        }
        if (pick == np) {
            rc = vp_errf(e, VP_ESTATE, "internal: move order stuck with %zu steps left", np);
            free(from_node);
            free(to_node);
            goto fail;
        }
        size_t k = pend[pick];
        const place_placement *fp = &from->placements[id_index_find(&fx, to->placements[k].id)];
        memset(&mv, 0, sizeof mv);
        mv.kind = PLAN_MOVE_STOP;
        snprintf(mv.id, sizeof mv.id, "%s", fp->id);
        snprintf(mv.model, sizeof mv.model, "%s", fp->model);
        mv.replica = fp->replica;
        mv.stage = fp->stage;
        snprintf(mv.from_node, sizeof mv.from_node, "%s", from->nodes[fp->node].name);
        memcpy(mv.from_gpus, fp->gpus, (size_t)fp->n_gpus);
        mv.n_from_gpus = fp->n_gpus;
        mv.bytes_per_gpu = fp->bytes_per_gpu;
        mv.break_before_make = true;
        double before = s.cost;
        sim_add_pl(&s, from_node[fp->node], fp->gpus, fp->n_gpus, fp->bytes_per_gpu, -1);
        mv.saves_per_hour = before - s.cost;
        broken[k] = true;
        if (moves_push(out, &mv)) {
            free(from_node);
            free(to_node);
            goto oom;
        }
    }
    free(from_node);
    free(to_node);
    out->cost_after = s.cost;
    /* Distinct running replicas among migrations. */
    for (size_t i = 0; i < out->n; i++) {
        if (out->v[i].kind != PLAN_MOVE_MIGRATE) continue;
        int f = id_index_find(&fx, out->v[i].id);
        if (f < 0 || !counted[f]) continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = out->v[j].kind == PLAN_MOVE_MIGRATE && out->v[j].replica == out->v[i].replica &&
                   !strcmp(out->v[j].model, out->v[i].model);
        if (!seen) out->migrated_replicas++;
    }
    goto done;
oom:
    rc = vp_errf(e, -ENOMEM, "out of memory");
fail:
    plan_moves_free(out);
done:
    free(s.v);
    free(pend);
    free(broken);
    free(lost);
    free(counted);
    free(reps);
    id_index_free(&fx);
    id_index_free(&tx);
    return rc;
}

static void json_str(vp_sb *sb, const char *s)
{
    vp_sb_append(sb, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            vp_sb_printf(sb, "\\%c", c);
        else if (c < 0x20)
            vp_sb_printf(sb, "\\u%04x", c);
        else
            vp_sb_append(sb, (const char *)&c, 1);
    }
    vp_sb_append(sb, "\"", 1);
}

static void json_gpus(vp_sb *sb, const uint8_t *g, int n)
{
    vp_sb_append(sb, "[", 1);
    for (int i = 0; i < n; i++)
        vp_sb_printf(sb, "%s%u", i ? ", " : "", g[i]);
    vp_sb_append(sb, "]", 1);
}

char *plan_moves_to_json(const plan_moves *m)
{
    vp_sb sb = {0};
    static const char *kinds[] = {"start", "migrate", "stop"};
    vp_sb_printf(&sb,
                 "{\"migrated_replicas\": %zu, \"cost_before\": %.4f, \"cost_after\": %.4f, "
                 "\"moves\": [",
                 m->migrated_replicas, m->cost_before, m->cost_after);
    for (size_t i = 0; i < m->n; i++) {
        const plan_move *mv = &m->v[i];
        vp_sb_printf(&sb, "%s\n  {\"step\": %zu, \"action\": \"%s\", \"id\": ", i ? "," : "", i + 1,
                     kinds[mv->kind]);
        json_str(&sb, mv->id);
        vp_sb_printf(&sb, ", \"model\": ");
        json_str(&sb, mv->model);
        vp_sb_printf(&sb, ", \"replica\": %u", mv->replica);
        if (mv->stage >= 0) vp_sb_printf(&sb, ", \"stage\": %d", mv->stage);
        if (mv->from_node[0]) {
            vp_sb_printf(&sb, ", \"from\": {\"node\": ");
            json_str(&sb, mv->from_node);
            vp_sb_printf(&sb, ", \"gpus\": ");
            json_gpus(&sb, mv->from_gpus, mv->n_from_gpus);
            vp_sb_printf(&sb, "}");
        }
        if (mv->to_node[0]) {
            vp_sb_printf(&sb, ", \"to\": {\"node\": ");
            json_str(&sb, mv->to_node);
            vp_sb_printf(&sb, ", \"gpus\": ");
            json_gpus(&sb, mv->to_gpus, mv->n_to_gpus);
            vp_sb_printf(&sb, "}");
        }
        vp_sb_printf(&sb, ", \"bytes_per_gpu\": %llu, \"saves_per_hour\": %.4f",
                     (unsigned long long)mv->bytes_per_gpu, mv->saves_per_hour);
        if (mv->break_before_make) vp_sb_printf(&sb, ", \"break_before_make\": true");
        vp_sb_printf(&sb, "}");
    }
    vp_sb_printf(&sb, "%s]}\n", m->n ? "\n" : "");
    if (!vp_sb_ok(&sb)) {
        vp_sb_free(&sb);
        return NULL;
    }
    return vp_sb_steal(&sb);
}

/* ---------------------------------------------------------------- rebalance */

/* The current plan's running replicas on fresh copies of its nodes, plus every inventory node. */
static int base_from_current(const plan_problem *p, const place_plan *current, place_plan **out,
                             vp_err *e)
{
    place_plan *b = place_plan_new();
    plan_cur_rep *reps = NULL;
    size_t n = 0;
    if (!b) return vp_errf(e, -ENOMEM, "out of memory");
    int rc = plan_current_scan(p, current, &reps, &n, e);
    if (rc) {
        place_plan_free(b);
        return rc;
    }
    int *map = malloc((current->n_nodes + 1) * sizeof *map);
    if (!map) goto oom;
    for (size_t bt = 0; bt < p->n_bintypes; bt++)
        if (p->bintypes[bt].inventory) {
            place_node nd;
            plan_node_from_bintype(p, bt, 0, &nd);
            if (place_plan_add_node(b, &nd) < 0) goto oom;
        }
    for (size_t i = 0; i < current->n_nodes; i++) {
        map[i] = -1;
        int bt = plan_node_bintype(p, &current->nodes[i]);
        if (bt < 0) continue;
        for (size_t k = 0; k < b->n_nodes && map[i] < 0; k++)
            if (!strcmp(b->nodes[k].name, current->nodes[i].name)) map[i] = (int)k;
        if (map[i] >= 0) continue;
        place_node nd;
        plan_node_from_bintype(p, (size_t)bt, 0, &nd);
        snprintf(nd.name, sizeof nd.name, "%s", current->nodes[i].name);
        map[i] = place_plan_add_node(b, &nd);
        if (map[i] < 0) goto oom;
    }
    for (size_t r = 0; r < n; r++) {
        int done = 0;
        for (int s = 0; s < reps[r].n_stages; s++) {
            const place_placement *pl = &current->placements[reps[r].pl[s]];
            int k = place_plan_assign(b, pl->model, pl->replica, pl->stage, pl->n_stages,
                                      map[pl->node], pl->gpus, pl->n_gpus, pl->bytes_per_gpu);
            if (k < 0) break; /* no longer fits (usable bytes shrank): displaced */
            done++;
        }
        if (done < reps[r].n_stages)
            while (done-- > 0)
                place_plan_unassign(b, b->n_placements - 1);
    }
    free(map);
    free(reps);
    *out = b;
    return 0;
oom:
    free(map);
    free(reps);
    place_plan_free(b);
    return vp_errf(e, -ENOMEM, "out of memory");
}

/* Slot keys "model|node|gpus|bytes" of a plan's single-stage placements, sorted. */
typedef struct slot_ent {
    char key[PLACE_NAME_MAX * 2 + 96];
    size_t k;
} slot_ent;

static void slot_key(const place_plan *plan, const place_placement *pl, char *buf, size_t cap)
{
    int off = snprintf(buf, cap, "%s|%s|", pl->model, plan->nodes[pl->node].name);
    unsigned set = 0;
    for (int t = 0; t < pl->n_gpus; t++)
        set |= 1u << pl->gpus[t];
    for (int g = 0; g < PLACE_MAX_GPUS && off > 0 && (size_t)off < cap; g++)
        if (set >> g & 1u) off += snprintf(buf + off, cap - (size_t)off, "%d,", g);
    if (off > 0 && (size_t)off < cap)
        snprintf(buf + off, cap - (size_t)off, "|%llu", (unsigned long long)pl->bytes_per_gpu);
}

static int slot_ent_cmp(const void *a, const void *b)
{
    return strcmp(((const slot_ent *)a)->key, ((const slot_ent *)b)->key);
}

/* How well fresh node f's placements agree with current node c's (model, stage, bytes). */
static long node_affinity(const place_plan *fresh, const nodeidx *fx, size_t f,
                          const place_plan *current, const nodeidx *cx, size_t c, int gf, int gc)
{
    long score = 0;
    for (int a = fx->head[f]; a >= 0; a = fx->next[a]) {
        const place_placement *x = &fresh->placements[a];
        if (gf >= 0 && !memchr(x->gpus, gf, (size_t)x->n_gpus)) continue;
        for (int b = cx->head[c]; b >= 0; b = cx->next[b]) {
            const place_placement *y = &current->placements[b];
            if (gc >= 0 && !memchr(y->gpus, gc, (size_t)y->n_gpus)) continue;
            if (y->stage == x->stage && y->bytes_per_gpu == x->bytes_per_gpu &&
                !strcmp(x->model, y->model)) {
                score++;
                break;
            }
        }
    }
    return score;
}

/* Renames the bought nodes of a fresh plan after current ones of the same type, permutes their
 * GPUs and the replica numbers, so that as many replicas as possible keep their slot. Greedy;
 * any result is a valid plan with the same cost. */
static int relabel(const plan_problem *p, const place_plan *current, place_plan *fresh)
{
    size_t nf = fresh->n_nodes, nc = current->n_nodes;
    int *match = malloc((nf + 1) * sizeof *match);
    bool *taken = calloc(nc + 1, 1);
    int *cnbt = malloc((nc + 1) * sizeof *cnbt);
    nodeidx fx = {0}, cx = {0};
    slot_ent *cs = NULL;
    int rc = 0;
    if (!match || !taken || !cnbt || nodeidx_build(&fx, fresh) || nodeidx_build(&cx, current)) {
        rc = -ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < nc; i++)
        cnbt[i] = plan_node_bintype(p, &current->nodes[i]);
    for (size_t f = 0; f < nf; f++) {
        match[f] = -1;
        if (!fresh->nodes[f].inventory) continue;
        for (size_t c = 0; c < nc; c++)
            if (!strcmp(current->nodes[c].name, fresh->nodes[f].name)) match[f] = (int)c;
        if (match[f] >= 0) taken[match[f]] = true;
    }
    /* Bought nodes: greedy by affinity among current nodes of the same type (bounded work). */
    for (size_t f = 0; f < nf; f++) {
        if (fresh->nodes[f].inventory) continue;
        int bf = plan_node_bintype(p, &fresh->nodes[f]);
        int best = -1;
        long best_score = -1, tried = 0;
        for (size_t c = 0; c < nc && tried < 256; c++) {
            if (taken[c] || cnbt[c] != bf) continue;
            tried++;
            long sc = node_affinity(fresh, &fx, f, current, &cx, c, -1, -1);
            if (sc > best_score) {
                best = (int)c;
                best_score = sc;
            }
        }
        if (best >= 0) {
            match[f] = best;
            taken[best] = true;
        }
    }
    for (size_t f = 0; f < nf; f++)
        if (match[f] >= 0 && !fresh->nodes[f].inventory)
            snprintf(fresh->nodes[f].name, sizeof fresh->nodes[f].name, "%s",
                     current->nodes[match[f]].name);
    /* Unmatched bought nodes must not take a name current uses for another node. */
    for (size_t f = 0; f < nf; f++) {
        if (match[f] >= 0 || fresh->nodes[f].inventory) continue;
        for (int seq = -1;; seq++) {
            char nmb[PLACE_NAME_MAX];
            if (seq < 0)
                snprintf(nmb, sizeof nmb, "%s", fresh->nodes[f].name);
            else
                snprintf(nmb, sizeof nmb, "%s-%d", fresh->nodes[f].type, seq);
            bool used = false;
            for (size_t c = 0; c < nc && !used; c++)
                used = !strcmp(current->nodes[c].name, nmb);
            for (size_t o = 0; o < nf && !used; o++)
                used = o != f && !strcmp(fresh->nodes[o].name, nmb);
            if (!used) {
                snprintf(fresh->nodes[f].name, sizeof fresh->nodes[f].name, "%s", nmb);
                break;
            }
        }
    }
    /* GPU permutation of each matched bought node. */
    for (size_t f = 0; f < nf; f++) {
        if (match[f] < 0 || fresh->nodes[f].inventory) continue;
        size_t c = (size_t)match[f];
        int G = fresh->nodes[f].n_gpus;
        if (G != current->nodes[c].n_gpus) continue;
        int perm[PLACE_MAX_GPUS];
        bool used[PLACE_MAX_GPUS] = {0};
        for (int g = 0; g < G; g++) {
            int best = -1;
            long bs = -1;
            for (int h = 0; h < G; h++) {
                if (used[h]) continue;
                long sc = node_affinity(fresh, &fx, f, current, &cx, c, g, h);
                if (sc > bs) {
                    bs = sc;
                    best = h;
                }
            }
            perm[g] = best;
            used[best] = true;
        }
        place_gpu old[PLACE_MAX_GPUS];
        memcpy(old, fresh->nodes[f].gpus, sizeof old);
        for (int g = 0; g < G; g++)
            fresh->nodes[f].gpus[perm[g]] = old[g];
        for (int a = fx.head[f]; a >= 0; a = fx.next[a]) {
            place_placement *x = &fresh->placements[a];
            for (int t = 0; t < x->n_gpus; t++)
                x->gpus[t] = (uint8_t)perm[x->gpus[t]];
        }
    }
    /* Replica numbers of single-stage models: a fresh placement in a slot a current replica of
     * the same model holds takes that replica's number. */
    cs = malloc((current->n_placements ? current->n_placements : 1) * sizeof *cs);
    if (!cs) {
        rc = -ENOMEM;
        goto done;
    }
    size_t ncs = 0;
    for (size_t b = 0; b < current->n_placements; b++) {
        const place_placement *y = &current->placements[b];
        if (y->stage >= 0) continue;
        slot_key(current, y, cs[ncs].key, sizeof cs[ncs].key);
        cs[ncs++].k = b;
    }
    qsort(cs, ncs, sizeof *cs, slot_ent_cmp);
    for (size_t g = 0; g < p->n_groups; g++) {
        const plan_group *gr = &p->groups[g];
        if (gr->pp != 1 || gr->replicas == 0) continue;
        const char *name = model_name(p, g);
        uint32_t R = gr->replicas;
        int *newnum = malloc(R * sizeof *newnum);
        bool *claimed = calloc(R, 1);
        if (!newnum || !claimed) {
            free(newnum);
            free(claimed);
            rc = -ENOMEM;
            goto done;
        }
        for (uint32_t r = 0; r < R; r++)
            newnum[r] = -1;
        for (size_t a = 0; a < fresh->n_placements; a++) {
            const place_placement *x = &fresh->placements[a];
            if (x->stage >= 0 || x->replica >= R || strcmp(x->model, name)) continue;
            slot_ent key;
            slot_key(fresh, x, key.key, sizeof key.key);
            slot_ent *hit = bsearch(&key, cs, ncs, sizeof *cs, slot_ent_cmp);
            if (!hit) continue;
            /* Several current replicas may share a slot key (same GPUs): take an unclaimed one. */
            while (hit > cs && !strcmp(hit[-1].key, key.key))
                hit--;
            for (; hit < cs + ncs && !strcmp(hit->key, key.key); hit++) {
                const place_placement *y = &current->placements[hit->k];
                uint32_t cr = y->replica;
                if (cr < R && !claimed[cr]) {
                    newnum[x->replica] = (int)cr;
                    claimed[cr] = true;
                    /* The same GPUs, listed in current's order, so the slot compares equal. */
                    memcpy(fresh->placements[a].gpus, y->gpus, (size_t)y->n_gpus);
                    break;
                }
            }
        }
        uint32_t next = 0;
        for (uint32_t r = 0; r < R; r++) {
            if (newnum[r] >= 0) continue;
            while (next < R && claimed[next])
                next++;
            if (next < R) {
                newnum[r] = (int)next;
                claimed[next] = true;
            }
        }
        for (size_t a = 0; a < fresh->n_placements; a++) {
            place_placement *x = &fresh->placements[a];
            if (x->replica >= R || newnum[x->replica] < 0 || strcmp(x->model, name)) continue;
            x->replica = (uint32_t)newnum[x->replica];
            place_make_id(x->id, sizeof x->id, x->model, x->replica, x->stage);
        }
        for (size_t u = 0; u < fresh->n_unplaced; u++) {
            place_unplaced *x = &fresh->unplaced[u];
            if (x->replica < R && newnum[x->replica] >= 0 && !strcmp(x->model, name))
                x->replica = (uint32_t)newnum[x->replica];
        }
        free(newnum);
        free(claimed);
    }
done:
    free(cs);
    free(match);
    free(taken);
    free(cnbt);
    nodeidx_free(&fx);
    nodeidx_free(&cx);
    return rc;
}

/* Every replica that fits some node type is placed. */
static bool plan_ub_all(const plan_problem *p, const place_plan *plan)
{
    plan_names nm;
    if (plan_names_new(p, &nm)) return false;
    bool all = true;
    for (size_t u = 0; u < plan->n_unplaced && all; u++) {
        int g = plan_names_find(&nm, plan->unplaced[u].model);
        if (g >= 0 && placeable(p, (size_t)g)) all = false;
    }
    plan_names_free(&nm);
    return all;
}

static bool better(const plan_problem *p, const place_plan *a, const place_plan *b)
{
    /* Fewer unplaced first, then cheaper. */
    (void)p;
    if (a->n_unplaced != b->n_unplaced) return a->n_unplaced < b->n_unplaced;
    return a->cost_per_hour < b->cost_per_hour - 1e-9 * (1 + b->cost_per_hour);
}

int plan_rebalance(const plan_problem *p, const place_plan *current, long max_moves,
                   double time_limit_s, place_plan **out, plan_moves *moves, vp_err *e)
{
    double t0 = plan_now_ms();
    double deadline = t0 + time_limit_s * 1000;
    place_plan *best = NULL, *cand = NULL;
    memset(moves, 0, sizeof *moves);
    int rc = base_from_current(p, current, &best, e);
    if (rc) return rc;
    rc = plan_fill_missing(p, best, e);
    if (rc) goto fail;
    place_plan_drop_idle(best);
    place_plan_update_cost(best);
    bool proven = false;
    double bound = 0;

    if (max_moves != 0) {
        /* Consolidate with the budget. */
        cand = place_plan_clone(best);
        if (!cand) goto oom;
        long budget = max_moves;
        rc = plan_consolidate(p, cand, current, &budget, deadline);
        if (rc) {
            rc = vp_errf(e, rc, "consolidation failed");
            goto fail;
        }
        if (better(p, cand, best) &&
            (max_moves < 0 || plan_count_migrations(p, current, cand) <= (size_t)max_moves)) {
            place_plan_free(best);
            best = cand;
        } else {
            place_plan_free(cand);
        }
        cand = NULL;
        /* A fresh plan, relabelled to keep what it can. */
        place_plan *ffd = NULL;
        vp_err sub = {0};
        if (plan_ffd(p, &ffd, &sub) == 0) {
            plan_options o;
            plan_options_default(&o);
            o.time_limit_s = time_limit_s / 2;
            if (plan_optimize(p, ffd, &o, &cand, &sub) == 0) {
                bound = cand->lower_bound_per_hour;
                if (relabel(p, current, cand) == 0) {
                    place_plan_update_cost(cand);
                    size_t mig = plan_count_migrations(p, current, cand);
                    char why[256];
                    if (place_plan_validate(cand, why, sizeof why) == 0 && better(p, cand, best) &&
                        (max_moves < 0 || mig <= (size_t)max_moves)) {
                        place_plan_free(best);
                        best = cand;
                        cand = NULL;
                    }
                }
                place_plan_free(cand);
                cand = NULL;
            }
            place_plan_free(ffd);
        }
    } else {
        place_plan *ffd = NULL;
        vp_err sub = {0};
        if (plan_ffd(p, &ffd, &sub) == 0) {
            bound = ffd->lower_bound_per_hour;
            place_plan_free(ffd);
        }
    }
    /* The MIP, when the fleet is small enough: exact, and it can prove it. */
    double left = (deadline - plan_now_ms()) / 1000.0;
    /* Any plan, moved or not, costs at least the unconstrained bound: when the best plan meets
     * it there is nothing left to prove. */
    bool met = best->n_unplaced == 0 && bound > 0 &&
               best->cost_per_hour <= plan_round_bound(p, bound) + 1e-9 * (1 + bound);
    if (met) proven = true;
    if (left > 0.05 && !met) {
        plan_ilp_args a = {.warm = best,
                           .current = current,
                           .max_moves = max_moves,
                           .time_limit_s = left,
                           .known_bound = bound};
        vp_err sub = {0};
        int r = plan_ilp_run(p, &a, &cand, &sub);
        if (r == 0) {
            size_t mig = plan_count_migrations(p, current, cand);
            if (max_moves < 0 || mig <= (size_t)max_moves) {
                if (!strcmp(cand->status, "optimal")) proven = true;
                if (better(p, cand, best) || (proven && !better(p, best, cand))) {
                    place_plan_free(best);
                    best = cand;
                    cand = NULL;
                }
            }
            place_plan_free(cand);
            cand = NULL;
        } else if (r == -ENOMEM) {
            rc = vp_errf(e, r, "%s", sub.msg);
            goto fail;
        }
    }
    best->lower_bound_per_hour = bound > 0 ? bound : 0;
    plan_finish(p, best, "rebalance", "feasible", t0);
    if (proven && strcmp(best->status, "optimal") != 0 && plan_ub_all(p, best)) {
        /* Proven optimal under the budget: that optimum is the bound that matters here (the
         * unconstrained one may lie below what any plan within the budget can reach). */
        best->lower_bound_per_hour = best->cost_per_hour;
        place_plan_update_cost(best);
        snprintf(best->status, sizeof best->status, "optimal");
    }
    rc = plan_moves_build(p, current, best, moves, e);
    if (rc) goto fail;
    *out = best;
    return 0;
oom:
    rc = vp_errf(e, -ENOMEM, "out of memory");
fail:
    place_plan_free(best);
    place_plan_free(cand);
    return rc;
}
