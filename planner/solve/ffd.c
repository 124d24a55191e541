/* ffd.c - first-fit decreasing over heterogeneous node types: the fast path and the warm start.
 *
 * Items are (model, replica, stage) slices sorted by size, largest first; each goes to the first
 * open node (inventory first) that has `tp` distinct GPUs with room, choosing among those GPUs by
 * best fit so large holes stay large. When nothing open fits, a node is bought: for every
 * instance type that can hold the item we simulate filling an empty node of that type with the
 * items still to come and buy the one that packs the most lower-bound value per dollar. A final
 * pass re-buys each node as the cheapest type that still holds everything on it.
 *
 * Identical items of a model are contiguous, and a node that refused one of them refuses the next
 * (nodes only fill up), so a per-(model, stage) cursor skips them: with G distinct models the
 * search is O(items + G x nodes) rather than O(items x nodes). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"

typedef struct item {
    uint32_t group, replica, stage;
    double key;
} item;

typedef struct ffd {
    const plan_problem *p;
    vw_view v;               /* model name -> group */
    place_plan *plan;
    int *node_bt;            /* bin type of each plan node */
    uint32_t **node_groups;  /* per node: groups of spread models placed there */
    size_t *node_ngroups;
    size_t cap_nodes;
    size_t n_tracked;        /* nodes whose node_groups entry is set (drop_idle may shrink the plan) */
    int *bought;             /* per bin type: nodes bought so far (what max_count limits) */
    int *seq;                /* per bin type: next number for a node's name */
    size_t *cursor;          /* [group * PLAN_MAX_PP + stage]: first node worth trying */
    uint64_t *rem;           /* [group * PLAN_MAX_PP + stage]: items still to place */
    double *lbval;           /* [group * PLAN_MAX_PP + stage]: lower-bound value of one item */
    int *buy_type;           /* [group * PLAN_MAX_PP + stage]: type last bought for it, -1 */
    uint64_t *buy_rem;       /* [group * PLAN_MAX_PP + stage]: items left at that time */
    uint32_t *order;         /* groups by decreasing key */
    size_t n_order;
    /* Latency objectives (slo.tpot_ms): per node and GPU, the decode bytes of every tenant and
     * the tightest tpot any tenant asks for (0 = none). */
    double (*gdec)[PLACE_MAX_GPUS];
    double (*gslo)[PLACE_MAX_GPUS];
} ffd;

static int cmp_item(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->key != y->key) return x->key > y->key ? -1 : 1;
    if (x->group != y->group) return x->group < y->group ? -1 : 1;
    if (x->replica != y->replica) return x->replica < y->replica ? -1 : 1;
    return x->stage < y->stage ? -1 : (x->stage > y->stage);
}

static uint64_t slice_bytes(const plan_shape *s, uint32_t stage)
{
    return s->stage_bytes[stage];
}

/* Picks tp GPUs of node n with room for `bytes`, tightest first. Returns false if fewer. */
static bool pick_gpus_masked(const place_plan *plan, int n, uint32_t tp, uint64_t bytes,
                             unsigned mask, uint8_t *out)
{
    const place_node *nd = &plan->nodes[n];
    uint8_t cand[PLACE_MAX_GPUS];
    uint64_t room[PLACE_MAX_GPUS];
    int nc = 0;
    for (int g = 0; g < nd->n_gpus; g++) {
        const place_gpu *gp = &nd->gpus[g];
        if ((mask >> g & 1u) && gp->used_bytes + bytes <= gp->usable_bytes) {
            /* insertion sort by remaining room, ascending */
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
    }
    if ((uint32_t)nc < tp) return false;
    memcpy(out, cand, tp);
    return true;
}

/* GPUs of node n where a slice reading `dec` bytes per step with objective `slo` (0 = none)
 * keeps every tenant's predicted tpot within its objective. */
static unsigned slo_mask(const ffd *f, size_t n, double dec, double slo)
{
    const place_node *nd = &f->plan->nodes[n];
    unsigned mask = 0;
    for (int g = 0; g < nd->n_gpus; g++) {
        double tight = f->gslo[n][g];
        if (slo > 0 && (tight == 0 || slo < tight)) tight = slo;
        if (tight == 0 ||
            plan_tpot_ms((uint64_t)(f->gdec[n][g] + dec), nd->gpus[g].bandwidth_gbs) <= tight)
            mask |= 1u << g;
    }
    return mask;
}

static bool node_has_group(const ffd *f, size_t n, uint32_t g)
{
    for (size_t i = 0; i < f->node_ngroups[n]; i++)
        if (f->node_groups[n][i] == g) return true;
    return false;
}

static int note_group(ffd *f, size_t n, uint32_t g)
{
    uint32_t *a = realloc(f->node_groups[n], (f->node_ngroups[n] + 1) * sizeof *a);
    if (!a) return -ENOMEM;
    f->node_groups[n] = a;
    a[f->node_ngroups[n]++] = g;
    return 0;
}

/* A new node of bin type b whose name no inventory node already has. */
static void fresh_node(ffd *f, size_t b, place_node *nd)
{
    do
        plan_node_from_bintype(f->p, b, f->seq[b]++, nd);
    while (!f->p->bintypes[b].inventory && plan_is_inventory_name(f->p, nd->name));
    f->bought[b]++;
}

static int add_node(ffd *f, size_t b)
{
    place_node nd;
    fresh_node(f, b, &nd);
    if (f->plan->n_nodes == f->cap_nodes) {
        size_t nc = f->cap_nodes ? f->cap_nodes * 2 : 64;
        int *bt = realloc(f->node_bt, nc * sizeof *bt);
        if (bt) f->node_bt = bt;
        uint32_t **ng = realloc(f->node_groups, nc * sizeof *ng);
        if (ng) f->node_groups = ng;
        size_t *nn = realloc(f->node_ngroups, nc * sizeof *nn);
        if (nn) f->node_ngroups = nn;
        double(*gd)[PLACE_MAX_GPUS] = realloc(f->gdec, nc * sizeof *gd);
        if (gd) f->gdec = gd;
        double(*gs)[PLACE_MAX_GPUS] = realloc(f->gslo, nc * sizeof *gs);
        if (gs) f->gslo = gs;
        if (!bt || !ng || !nn || !gd || !gs) return -ENOMEM;
        f->cap_nodes = nc;
    }
    int idx = place_plan_add_node(f->plan, &nd);
    if (idx < 0) return idx;
    f->node_bt[idx] = (int)b;
    f->node_groups[idx] = NULL;
    f->node_ngroups[idx] = 0;
    f->n_tracked = (size_t)idx + 1;
    memset(f->gdec[idx], 0, sizeof f->gdec[idx]);
    memset(f->gslo[idx], 0, sizeof f->gslo[idx]);
    return idx;
}

/* Can item (g, stage) go on node n? Fills gpus when it can. */
static bool fits_node(const ffd *f, size_t n, uint32_t g, uint32_t stage, const int *stage_nodes,
                      uint8_t *gpus, bool *conflict)
{
    const plan_group *gr = &f->p->groups[g];
    const plan_shape *s = &gr->shapes[f->node_bt[n]];
    *conflict = false;
    if (!s->ok) return false;
    const plan_model *m = &f->p->manifest->models[gr->model];
    for (uint32_t k = 0; k < stage; k++)
        if (stage_nodes[k] == (int)n) { *conflict = true; return false; }
    if (m->spread && node_has_group(f, n, g)) return false;
    double dec = (double)plan_decode_bytes_per_gpu(s, stage);
    unsigned mask = slo_mask(f, n, dec, m->tpot_ms * 1.0 / (gr->pp ? gr->pp : 1));
    return pick_gpus_masked(f->plan, (int)n, s->tp, slice_bytes(s, stage), mask, gpus);
}

/* Simulates filling an empty node of bin type b with the items still to place, starting with
 * group g0 stage s0; returns the lower-bound value it would absorb. */
static double simulate(const ffd *f, size_t b, uint32_t g0, uint32_t s0)
{
    const plan_problem *p = f->p;
    const plan_bintype *bt = &p->bintypes[b];
    uint64_t freeb[PLACE_MAX_GPUS];
    for (int i = 0; i < bt->n_gpus; i++) freeb[i] = bt->usable_per_gpu;
    double value = 0;
    bool started = false;
    for (size_t oi = 0; oi < f->n_order; oi++) {
        uint32_t g = f->order[oi];
        if (!started && g != g0) continue;
        const plan_group *gr = &p->groups[g];
        const plan_shape *s = &gr->shapes[b];
        if (!s->ok) { started = true; continue; }
        const plan_model *m = &p->manifest->models[gr->model];
        for (uint32_t st = (!started ? s0 : 0); st < gr->pp; st++) {
            uint64_t cnt = f->rem[g * PLAN_MAX_PP + st];
            if (!cnt) continue;
            if (m->spread || gr->pp > 1) cnt = 1;
            uint64_t bytes = slice_bytes(s, st);
            if (bytes == 0) continue;
            /* k replicas of tp slices fit iff sum_g min(k, c_g) >= k * tp. */
            uint64_t c[PLACE_MAX_GPUS], hi = cnt, lo = 0;
            for (int i = 0; i < bt->n_gpus; i++) c[i] = freeb[i] / bytes;
            while (lo < hi) {
                uint64_t mid = lo + (hi - lo + 1) / 2, sum = 0;
                for (int i = 0; i < bt->n_gpus; i++) sum += c[i] < mid ? c[i] : mid;
                if (sum >= mid * s->tp) lo = mid; else hi = mid - 1;
            }
            if (!lo) continue;
            uint64_t slices = lo * s->tp;
            for (int i = 0; i < bt->n_gpus && slices; i++) {
                uint64_t take = c[i] < lo ? c[i] : lo;
                if (take > slices) take = slices;
                freeb[i] -= take * bytes;
                slices -= take;
            }
            value += (double)lo * f->lbval[g * PLAN_MAX_PP + st];
        }
        started = true;
    }
    return value;
}

static int buy_for(ffd *f, uint32_t g, uint32_t stage)
{
    const plan_problem *p = f->p;
    /* The last choice for this kind stands while at least half of what was left then is left:
     * simulating every type for every node bought is what made 100,000 replicas slow. */
    size_t ck = (size_t)g * PLAN_MAX_PP + stage;
    int cached = f->buy_type[ck];
    if (cached >= 0 && 2 * f->rem[ck] >= f->buy_rem[ck] &&
        (p->bintypes[cached].max_count < 0 || f->bought[cached] < p->bintypes[cached].max_count))
        return cached;
    int best = -1;
    double best_eff = -1;
    for (size_t b = 0; b < p->n_bintypes; b++) {
        const plan_bintype *bt = &p->bintypes[b];
        if (bt->inventory || !p->groups[g].shapes[b].ok) continue;
        if (bt->max_count >= 0 && f->bought[b] >= bt->max_count) continue;
        double v = simulate(f, b, g, stage);
        double eff = v / (bt->price_per_hour + 1e-9);
        if (eff > best_eff * (1 + 1e-12) ||
            (best >= 0 && eff >= best_eff * (1 - 1e-12) &&
             bt->price_per_hour < p->bintypes[best].price_per_hour)) {
            best_eff = eff;
            best = (int)b;
        }
    }
    f->buy_type[ck] = best;
    f->buy_rem[ck] = f->rem[ck];
    return best;
}

static void ffd_free(ffd *f)
{
    for (size_t n = 0; n < f->n_tracked && f->node_groups; n++) free(f->node_groups[n]);
    free(f->node_groups);
    free(f->node_ngroups);
    free(f->node_bt);
    free(f->bought);
    free(f->seq);
    free(f->cursor);
    free(f->rem);
    free(f->lbval);
    free(f->buy_type);
    free(f->buy_rem);
    free(f->order);
    free(f->gdec);
    free(f->gslo);
    vw_free(&f->v);
}

static bool node_has_slo(const ffd *f, size_t n)
{
    for (int g = 0; g < PLACE_MAX_GPUS; g++)
        if (f->gslo[n][g] > 0) return true;
    return false;
}

/* GPUs with no latency objective on them: the only ones consolidation may add load to. */
static unsigned slo_free_mask(const ffd *f, size_t n)
{
    unsigned mask = 0;
    for (int g = 0; g < PLACE_MAX_GPUS; g++)
        if (f->gslo[n][g] == 0) mask |= 1u << g;
    return mask;
}

/* Placements grouped by node: first[n]..first[n+1] index into idx. Rebuilt after moves. */
typedef struct by_node {
    size_t *first, *idx;
} by_node;

static int by_node_build(const place_plan *plan, by_node *bn)
{
    bn->first = calloc(plan->n_nodes + 2, sizeof *bn->first);
    bn->idx = malloc((plan->n_placements ? plan->n_placements : 1) * sizeof *bn->idx);
    if (!bn->first || !bn->idx) return -ENOMEM;
    for (size_t i = 0; i < plan->n_placements; i++) bn->first[plan->placements[i].node + 2]++;
    for (size_t n = 0; n < plan->n_nodes; n++) bn->first[n + 2] += bn->first[n + 1];
    for (size_t i = 0; i < plan->n_placements; i++)
        bn->idx[bn->first[plan->placements[i].node + 1]++] = i;
    return 0;
}

static void by_node_free(by_node *bn)
{
    free(bn->first);
    free(bn->idx);
}

/* Re-buys each bought node as the cheapest type that holds everything on it. Items stay
 * together, so spread and stage rules still hold. */
static void downsize(ffd *f)
{
    const plan_problem *p = f->p;
    place_plan *plan = f->plan;
    by_node bn;
    if (by_node_build(plan, &bn)) { by_node_free(&bn); return; }
    enum { MAXK = 1024 };
    uint8_t (*newg)[PLACE_MAX_GPUS] = malloc(MAXK * sizeof *newg);
    if (!newg) { by_node_free(&bn); return; }
    for (size_t n = 0; n < plan->n_nodes; n++) {
        int cur = f->node_bt[n];
        if (p->bintypes[cur].inventory || node_has_slo(f, n)) continue;
        size_t *idx = bn.idx + bn.first[n], k = bn.first[n + 1] - bn.first[n];
        if (!k || k > MAXK) continue;
        for (size_t b = 0; b < p->n_bintypes; b++) {
            const plan_bintype *bt = &p->bintypes[b];
            if (bt->inventory || bt->price_per_hour >= p->bintypes[cur].price_per_hour) continue;
            if (bt->max_count >= 0 && f->bought[b] >= bt->max_count) continue;
            uint64_t freeb[PLACE_MAX_GPUS];
            for (int i = 0; i < bt->n_gpus; i++) freeb[i] = bt->usable_per_gpu;
            bool ok = true;
            for (size_t j = 0; j < k && ok; j++) {
                const place_placement *pl = &plan->placements[idx[j]];
                int gi = vw_group(&f->v, pl->model);
                if (gi < 0) { ok = false; break; }
                const plan_shape *s = &p->groups[gi].shapes[b];
                uint32_t st = pl->stage < 0 ? 0 : (uint32_t)pl->stage;
                if (!s->ok || s->tp != (uint32_t)pl->n_gpus ||
                    s->stage_bytes[st] != pl->bytes_per_gpu) {
                    ok = false;
                    break;
                }
                /* Best fit: the tightest GPUs that still hold the slice. */
                int got = 0;
                while (got < pl->n_gpus) {
                    int pick = -1;
                    for (int gg = 0; gg < bt->n_gpus; gg++) {
                        bool used = false;
                        for (int t = 0; t < got; t++) used |= newg[j][t] == gg;
                        if (!used && freeb[gg] >= pl->bytes_per_gpu &&
                            (pick < 0 || freeb[gg] < freeb[pick]))
                            pick = gg;
                    }
                    if (pick < 0) break;
                    freeb[pick] -= pl->bytes_per_gpu;
                    newg[j][got++] = (uint8_t)pick;
                }
                if (got < pl->n_gpus) ok = false;
            }
            if (!ok) continue;
            place_node nd;
            fresh_node(f, b, &nd);
            nd.n_placed = plan->nodes[n].n_placed;
            plan->nodes[n] = nd;
            f->node_bt[n] = (int)b;
            for (size_t j = 0; j < k; j++) {
                place_placement *pl = &plan->placements[idx[j]];
                memcpy(pl->gpus, newg[j], (size_t)pl->n_gpus);
                for (int t = 0; t < pl->n_gpus; t++)
                    plan->nodes[n].gpus[pl->gpus[t]].used_bytes += pl->bytes_per_gpu;
            }
            cur = (int)b;
        }
    }
    free(newg);
    by_node_free(&bn);
}

typedef struct node_fill {
    double fill;
    size_t n;
} node_fill;

static int by_fill(const void *a, const void *b)
{
    const node_fill *x = a, *y = b;
    if (x->fill != y->fill) return x->fill < y->fill ? -1 : 1;
    return x->n < y->n ? -1 : (x->n > y->n);
}

/* Moves every placement of node n into other nodes' free space, or nothing. */
static bool empty_node(ffd *f, by_node *bn, size_t n, const bool *gone)
{
    const plan_problem *p = f->p;
    place_plan *plan = f->plan;
    size_t nn = plan->n_nodes, k = bn->first[n + 1] - bn->first[n], j;
    if (!k || k > 64) return false;
    /* Plan the moves; commit only when every placement found a home. */
    int dest[64];
    uint8_t dg[64][PLACE_MAX_GPUS];
    bool ok = true;
    for (j = 0; j < k && ok; j++) {
        const place_placement *pl = &plan->placements[bn->idx[bn->first[n] + j]];
        int gi = vw_group(&f->v, pl->model);
        const plan_model *m = gi < 0 ? NULL : &p->manifest->models[p->groups[gi].model];
        dest[j] = -1;
        if (!m || pl->stage >= 0) {
            ok = false;
            break;
        }
        for (size_t t = 0; t < nn && dest[j] < 0; t++) {
            if (t == n || gone[t]) continue;
            const plan_shape *s = &p->groups[gi].shapes[f->node_bt[t]];
            if (!s->ok || s->stage_bytes[0] != pl->bytes_per_gpu) continue;
            bool clash = false;
            for (size_t q = bn->first[t]; m->spread && q < bn->first[t + 1] && !clash; q++)
                clash = !strcmp(plan->placements[bn->idx[q]].model, pl->model);
            for (size_t q = 0; m->spread && q < j && !clash; q++)
                clash = dest[q] == (int)t &&
                        !strcmp(plan->placements[bn->idx[bn->first[n] + q]].model, pl->model);
            if (clash || !pick_gpus_masked(plan, (int)t, s->tp, pl->bytes_per_gpu,
                                           slo_free_mask(f, t), dg[j]))
                continue;
            dest[j] = (int)t;
            for (uint32_t g = 0; g < s->tp; g++)
                plan->nodes[t].gpus[dg[j][g]].used_bytes += pl->bytes_per_gpu;
        }
        if (dest[j] < 0) ok = false;
    }
    /* Undo the tentative reservations, then commit if everything fit. */
    for (size_t q = 0; q < j; q++) {
        const place_placement *pl = &plan->placements[bn->idx[bn->first[n] + q]];
        for (int g = 0; dest[q] >= 0 && g < pl->n_gpus; g++)
            plan->nodes[dest[q]].gpus[dg[q][g]].used_bytes -= pl->bytes_per_gpu;
    }
    for (size_t q = 0; ok && q < k; q++) {
        place_placement *pl = &plan->placements[bn->idx[bn->first[n] + q]];
        for (int g = 0; g < pl->n_gpus; g++)
            plan->nodes[n].gpus[pl->gpus[g]].used_bytes -= pl->bytes_per_gpu;
        plan->nodes[n].n_placed--;
        plan->nodes[dest[q]].n_placed++;
        pl->node = dest[q];
        memcpy(pl->gpus, dg[q], (size_t)pl->n_gpus);
        for (int g = 0; g < pl->n_gpus; g++)
            plan->nodes[dest[q]].gpus[pl->gpus[g]].used_bytes += pl->bytes_per_gpu;
    }
    return ok;
}

/* Tries to empty the emptiest bought nodes into other nodes' free space (no buying), so a tail
 * of half-filled nodes collapses. Only single-stage placements move; spread is respected. */
static void consolidate(ffd *f)
{
    place_plan *plan = f->plan;
    size_t nn = plan->n_nodes;
    if (nn < 2 || nn > 20000) return;
    node_fill *nf = malloc(nn * sizeof *nf);
    bool *gone = calloc(nn, 1);
    by_node bn = {0};
    if (!nf || !gone || by_node_build(plan, &bn)) goto out;
    for (size_t n = 0; n < nn; n++) {
        const place_node *nd = &plan->nodes[n];
        double used = 0, cap = 0;
        for (int g = 0; g < nd->n_gpus; g++) {
            used += (double)nd->gpus[g].used_bytes;
            cap += (double)nd->gpus[g].usable_bytes;
        }
        nf[n] = (node_fill){cap > 0 ? used / cap : 1, n};
    }
    qsort(nf, nn, sizeof *nf, by_fill); /* emptiest first */
    /* Each try scans every node for every placement: keep the work near linear in the fleet. */
    size_t tries = nn < 512 ? nn : (nn > 4000 ? 64 : 512);
    for (size_t oi = 0; oi < tries; oi++) {
        size_t n = nf[oi].n;
        if (f->p->bintypes[f->node_bt[n]].inventory || gone[n] || node_has_slo(f, n)) continue;
        if (nf[oi].fill > 0.75) break;
        if (!empty_node(f, &bn, n, gone)) continue;
        gone[n] = true;
        by_node_free(&bn);
        if (by_node_build(plan, &bn)) break;
    }
out:
    by_node_free(&bn);
    free(nf);
    free(gone);
}

/* Room for every placement and about as many nodes as the plan will need, up front: growing a
 * plan of tens of thousands of nodes by doubling copies and faults in far more memory. */
static int reserve(ffd *f, size_t n_items)
{
    const plan_problem *p = f->p;
    double nodes = 16;
    for (size_t g = 0; g < p->n_groups; g++) {
        const plan_group *gr = &p->groups[g];
        double best = -1;
        for (size_t b = 0; b < p->n_bintypes; b++) {
            const plan_shape *s = &gr->shapes[b];
            const plan_bintype *bt = &p->bintypes[b];
            if (!s->ok || !bt->usable_per_gpu) continue;
            double share = 0;
            for (uint32_t st = 0; st < gr->pp; st++)
                share += (double)s->stage_bytes[st] * s->tp;
            share /= (double)bt->usable_per_gpu * bt->n_gpus;
            if (best < 0 || share < best) best = share;
        }
        if (best > 0) nodes += best * gr->replicas;
    }
    place_plan *plan = f->plan;
    if (vp_grow((void **)&plan->placements, &plan->cap_placements, n_items + 1,
                sizeof *plan->placements, 16))
        return -ENOMEM;
    size_t want = plan->n_nodes + (size_t)(nodes * 1.25);
    return vp_grow((void **)&plan->nodes, &plan->cap_nodes, want, sizeof *plan->nodes, 16);
}

/* Items (one per stage of every replica), largest first, with per-item lower-bound values. */
static int make_items(ffd *f, item **out, size_t *n_out)
{
    const plan_problem *p = f->p;
    size_t n_items = 0, ni = 0;
    for (size_t g = 0; g < p->n_groups; g++)
        n_items += (size_t)p->groups[g].replicas * p->groups[g].pp;
    item *items = malloc((n_items ? n_items : 1) * sizeof *items);
    if (!items) return -ENOMEM;
    for (uint32_t g = 0; g < p->n_groups; g++) {
        const plan_group *gr = &p->groups[g];
        double key = -1;
        for (uint32_t st = 0; st < gr->pp; st++) {
            double best = -1;
            for (size_t b = 0; b < p->n_bintypes; b++) {
                const plan_shape *s = &gr->shapes[b];
                const plan_bintype *bt = &p->bintypes[b];
                if (!s->ok) continue;
                double bytes = (double)s->stage_bytes[st] * s->tp;
                double v = bytes * bt->price_per_hour / ((double)bt->usable_per_gpu * bt->n_gpus);
                if (best < 0 || v < best) best = v;
                double frac = bytes / ((double)bt->usable_per_gpu * bt->n_gpus);
                if (frac > key) key = frac;
            }
            f->lbval[g * PLAN_MAX_PP + st] = best < 0 ? 0 : best;
            f->rem[g * PLAN_MAX_PP + st] = gr->replicas;
        }
        for (uint32_t r = 0; r < gr->replicas; r++)
            for (uint32_t st = 0; st < gr->pp; st++)
                items[ni++] = (item){g, r, st, key};
    }
    qsort(items, ni, sizeof *items, cmp_item);
    for (size_t i = 0; i < ni; i++)
        if (i == 0 || items[i].group != items[i - 1].group) f->order[f->n_order++] = items[i].group;
    *out = items;
    *n_out = ni;
    return 0;
}

/* A replica that found no room: earlier stages are taken back and it is reported. */
static int give_up(ffd *f, const item *it, const plan_model *m)
{
    const plan_group *gr = &f->p->groups[it->group];
    for (uint32_t k = 0; k < gr->pp; k++)
        f->cursor[(size_t)it->group * PLAN_MAX_PP + k] = 0; /* freed room: try earlier nodes */
    for (int k = (int)it->stage - 1; k >= 0; k--) {
        char id[PLACE_ID_MAX];
        place_make_id(id, sizeof id, m->name, it->replica, k);
        int j = place_plan_find(f->plan, id);
        if (j >= 0) place_plan_unassign(f->plan, (size_t)j);
    }
    const char *why =
        m->spread ? "no room: spread needs a node without another replica of this model, every "
                    "such allowed node is full, and no allowed instance type can be bought "
                    "(inventory exhausted or max_count reached)"
                  : "no room: every allowed node is full and no allowed instance type can be "
                    "bought (inventory exhausted or max_count reached)";
    return place_plan_add_unplaced(f->plan, m->name, it->replica, why) ? -ENOMEM : 0;
}

/* The first open node that takes the item, else a node bought for it; -1 when none. */
static int find_node(ffd *f, const item *it, const int *stage_nodes, uint8_t *gpus)
{
    size_t ck = (size_t)it->group * PLAN_MAX_PP + it->stage;
    bool conflict;
    for (size_t n = f->cursor[ck]; n < f->plan->n_nodes; n++) {
        if (fits_node(f, n, it->group, it->stage, stage_nodes, gpus, &conflict)) return (int)n;
        if (n == f->cursor[ck] && !conflict) f->cursor[ck] = n + 1;
    }
    int b = buy_for(f, it->group, it->stage);
    if (b < 0) return -1;
    int node = add_node(f, (size_t)b);
    if (node < 0) return node;
    /* Cannot fail: the shape fits an empty node. */
    return fits_node(f, (size_t)node, it->group, it->stage, stage_nodes, gpus, &conflict) ? node
                                                                                          : -1;
}

/* Places one item; stage_nodes holds where this replica's earlier stages went. */
static int place_item(ffd *f, const item *it, int *stage_nodes, vp_err *e)
{
    const plan_group *gr = &f->p->groups[it->group];
    const plan_model *m = &f->p->manifest->models[gr->model];
    f->rem[(size_t)it->group * PLAN_MAX_PP + it->stage]--;
    if (it->stage == 0)
        for (int k = 0; k < PLAN_MAX_PP; k++)
            stage_nodes[k] = -1;
    if (gr->why_not[0])
        return it->stage == 0 && place_plan_add_unplaced(f->plan, m->name, it->replica, gr->why_not)
                   ? -ENOMEM
                   : 0;
    if (it->stage > 0 && stage_nodes[it->stage - 1] < 0) return 0; /* replica abandoned */
    uint8_t gpus[PLACE_MAX_GPUS];
    int node = find_node(f, it, stage_nodes, gpus);
    if (node < -1) return node;
    if (node < 0) {
        stage_nodes[it->stage] = -1;
        return give_up(f, it, m);
    }
    const plan_shape *s = &gr->shapes[f->node_bt[node]];
    int pl = place_plan_assign(f->plan, m->name, it->replica, gr->pp > 1 ? (int)it->stage : -1,
                               (int)gr->pp, node, gpus, (int)s->tp, slice_bytes(s, it->stage));
    if (pl < 0) return vp_errf(e, pl, "internal: assign failed");
    stage_nodes[it->stage] = node;
    double dec = (double)plan_decode_bytes_per_gpu(s, it->stage);
    double slo = m->tpot_ms / gr->pp;
    for (uint32_t k = 0; k < s->tp; k++) {
        f->gdec[node][gpus[k]] += dec;
        if (slo > 0 && (f->gslo[node][gpus[k]] == 0 || slo < f->gslo[node][gpus[k]]))
            f->gslo[node][gpus[k]] = slo;
    }
    if (m->spread && !node_has_group(f, (size_t)node, it->group) &&
        note_group(f, (size_t)node, it->group))
        return -ENOMEM;
    return 0;
}

int plan_ffd(const plan_problem *p, place_plan **out, vp_err *e)
{
    ffd f = {.p = p};
    item *items = NULL;
    size_t ni = 0;
    int rc = 0;
    f.plan = place_plan_new();
    size_t ng = p->n_groups ? p->n_groups : 1, nb = p->n_bintypes ? p->n_bintypes : 1;
    f.bought = calloc(nb, sizeof *f.bought);
    f.seq = calloc(nb, sizeof *f.seq);
    f.cursor = calloc(ng * PLAN_MAX_PP, sizeof *f.cursor);
    f.rem = calloc(ng * PLAN_MAX_PP, sizeof *f.rem);
    f.lbval = calloc(ng * PLAN_MAX_PP, sizeof *f.lbval);
    f.buy_type = malloc(ng * PLAN_MAX_PP * sizeof *f.buy_type);
    f.buy_rem = calloc(ng * PLAN_MAX_PP, sizeof *f.buy_rem);
    f.order = calloc(ng, sizeof *f.order);
    if (!f.plan || !f.bought || !f.seq || !f.cursor || !f.rem || !f.lbval || !f.order ||
        !f.buy_type || !f.buy_rem || vw_init(&f.v, p))
        goto oom;
    for (size_t k = 0; k < ng * PLAN_MAX_PP; k++)
        f.buy_type[k] = -1;
    snprintf(f.plan->solver, sizeof f.plan->solver, "ffd");
    /* Inventory nodes are open from the start. */
    for (size_t b = 0; b < p->n_bintypes; b++)
        if (p->bintypes[b].inventory && add_node(&f, b) < 0) goto oom;
    if (make_items(&f, &items, &ni)) goto oom;
    if (reserve(&f, ni)) goto oom;
    int stage_nodes[PLAN_MAX_PP];
    for (size_t i = 0; i < ni && !rc; i++)
        rc = place_item(&f, &items[i], stage_nodes, e);
    if (rc == -ENOMEM) goto oom;
    if (rc) goto fail;
    consolidate(&f);
    downsize(&f);
    place_plan_drop_idle(f.plan);
    plan_estimate_latency(p, f.plan);
    if ((rc = plan_settle(p, f.plan, 0, "heuristic", e))) goto fail;
    free(items);
    *out = f.plan;
    f.plan = NULL;
    ffd_free(&f);
    return 0;
oom:
    rc = vp_errf(e, -ENOMEM, "out of memory while packing");
fail:
    free(items);
    ffd_free(&f);
    place_plan_free(f.plan);
    return rc;
}
