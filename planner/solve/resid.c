/* resid.c - the residual of a dive packed by minimum bin slack (see resid.h).
 *
 * Diving fixes one GPU pattern at a time and re-solves the master: many LP solves per plan, and
 * the last few GPUs are where the rounding goes wrong (the residual LP says 2.3 GPUs, no packing
 * of it takes 3). Packing the residual outright at every node costs a fraction of one LP solve
 * and turns every node into a complete plan: a dive whose first fixings were right is finished
 * there, whatever its last steps would have done. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mbs.h"
#include "resid.h"

/* Beyond this many replicas left a packing by items costs more than the dive it would save. */
#define RS_MAX_ITEMS 4096

typedef struct rs_item {
    uint64_t w;
    int j;
} rs_item;

typedef struct rs_work {
    rs_item *it;
    uint64_t *w;
    int *bin, *best_bin, *best_j, *cls, *best_cls;
    int n, best_n, best_bins;
    double best_cost;
} rs_work;

static int item_desc(const void *a, const void *b)
{
    const rs_item *x = a, *y = b;
    if (x->w != y->w) return x->w > y->w ? -1 : 1;
    return x->j - y->j;
}

void rs_set_free(rs_set *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* Class c takes kind j as a plain item: allowed, TP 1, not spread. */
static bool plain(const cg_master *m, size_t c, size_t j)
{
    const vw_view *v = m->v;
    size_t x = vw_ck(v, c, j);
    return v->ok[x] && v->tp[x] == 1 && !v->kinds[j].spread && v->w[x] <= v->cls[c].U;
}

static bool class_open(const cg_master *m, size_t c)
{
    return m->cap[c] < 0 || m->cap[c] >= 1 - 1e-9;
}

/* The residual's items on class c (sizes there), largest first; false when c cannot take one. */
static bool items_on(const cg_master *m, size_t c, rs_work *W)
{
    int n = 0;
    for (size_t j = 0; j < m->nk; j++) {
        if (m->d[j] <= 1e-6) continue;
        if (!plain(m, c, j)) return false;
        long k = (long)ceil(m->d[j] - 1e-9);
        for (long q = 0; q < k; q++)
            W->it[n++] = (rs_item){m->v->w[vw_ck(m->v, c, j)], (int)j};
    }
    qsort(W->it, (size_t)n, sizeof *W->it, item_desc);
    for (int i = 0; i < n; i++)
        W->w[i] = W->it[i].w;
    W->n = n;
    return true;
}

/* Each bin moved to the cheapest open class that takes its content (fill[b] and bad[b] are
 * scratch, one per bin). The total cost, or INFINITY when the capacities left cannot hold the
 * bins. O((items + bins) x classes). */
static double assign_classes(const cg_master *m, rs_work *W, int bins, double *left,
                             uint64_t *fill, bool *bad)
{
    const vw_view *v = m->v;
    double cost = 0;
    for (int b = 0; b < bins; b++)
        W->cls[b] = -1;
    for (size_t c = 0; c < m->nc; c++) {
        left[c] = m->cap[c] < 0 ? INFINITY : floor(m->cap[c] + 1e-9);
        memset(fill, 0, (size_t)bins * sizeof *fill);
        memset(bad, 0, (size_t)bins * sizeof *bad);
        for (int i = 0; i < W->n; i++) {
            size_t j = (size_t)W->it[i].j;
            if (plain(m, c, j)) fill[W->bin[i]] += v->w[vw_ck(v, c, j)];
            else bad[W->bin[i]] = true;
        }
        double pc = v->cls[c].price / v->cls[c].G;
        for (int b = 0; b < bins; b++) {
            int o = W->cls[b];
            if (bad[b] || fill[b] > v->cls[c].U) continue;
            if (o < 0 || pc < v->cls[o].price / v->cls[o].G) W->cls[b] = (int)c;
        }
    }
    /* Capacities: a packing that needs more GPUs of a capped class than are left does not
     * count (the packing on that class itself is tried too). */
    for (int b = 0; b < bins; b++) {
        int c = W->cls[b];
        if (c < 0) return INFINITY;
        if (left[c] < 1) return INFINITY;
        left[c] -= 1;
        cost += v->cls[c].price / v->cls[c].G;
    }
    return cost;
}

/* The patterns of the best packing: one per bin, copies merged. */
static int emit(cg_master *m, rs_work *W, rs_set *out)
{
    out->n = 0;
    out->cost = W->best_cost;
    for (int b = 0; b < W->best_bins; b++) {
        cg_ent ent[KP_MAX_ENT];
        int ne = 0;
        for (int i = 0; i < W->best_n; i++) {
            if (W->best_bin[i] != b) continue;
            int q = 0;
            while (q < ne && ent[q].j != W->best_j[i])
                q++;
            if (q == ne && ne == KP_MAX_ENT) return VP_EINPUT;
            if (q == ne) ent[ne++] = (cg_ent){W->best_j[i], 0};
            ent[q].a++;
        }
        int t = cg_add_pattern(m, W->best_cls[b], ent, ne);
        if (t < 0) return t;
        size_t k = 0;
        while (k < out->n && out->v[k].pat != t)
            k++;
        if (k == out->n) {
            if (vp_grow((void **)&out->v, &out->cap, out->n + 1, sizeof *out->v, 16))
                return -ENOMEM;
            out->v[out->n++] = (rs_use){t, 0};
        }
        out->v[k].copies++;
    }
    return 0;
}

static int run(cg_master *m, long effort, rs_work *W, double *left, uint64_t *fill, bool *bad)
{
    for (size_t c = 0; c < m->nc; c++) {
        if (!class_open(m, c) || !items_on(m, c, W)) continue;
        if (W->n == 0) {
            W->best_cost = 0, W->best_bins = 0, W->best_n = 0;
            return 0;
        }
        int bins = mbs_pack(W->w, W->n, m->v->cls[c].U, W->bin, effort, NULL);
        if (bins < 0) return -ENOMEM;
        double cost = assign_classes(m, W, bins, left, fill, bad);
        if (cost < W->best_cost - 1e-9) {
            W->best_cost = cost, W->best_bins = bins, W->best_n = W->n;
            memcpy(W->best_bin, W->bin, (size_t)W->n * sizeof *W->bin);
            for (int i = 0; i < W->n; i++)
                W->best_j[i] = W->it[i].j;
            memcpy(W->best_cls, W->cls, (size_t)bins * sizeof *W->cls);
        }
    }
    return 0;
}

int rs_complete(cg_master *m, long effort, double limit, rs_set *out)
{
    size_t n = 0;
    for (size_t j = 0; j < m->nk; j++)
        if (m->d[j] > 1e-6) n += (size_t)ceil(m->d[j] - 1e-9);
    if (n > RS_MAX_ITEMS) return 0;
    rs_work W = {.best_cost = INFINITY};
    W.it = malloc((n + 1) * sizeof *W.it);
    W.w = malloc((n + 1) * sizeof *W.w);
    W.bin = malloc((n + 1) * sizeof *W.bin);
    W.best_bin = malloc((n + 1) * sizeof *W.best_bin);
    W.best_j = malloc((n + 1) * sizeof *W.best_j);
    W.cls = malloc((n + 1) * sizeof *W.cls);
    W.best_cls = malloc((n + 1) * sizeof *W.best_cls);
    double *left = malloc((m->nc + 1) * sizeof *left);
    uint64_t *fill = malloc((n + 1) * sizeof *fill);
    bool *bad = malloc(n + 1);
    bool ok = W.it && W.w && W.bin && W.best_bin && W.best_j && W.cls && W.best_cls;
    int rc = ok && left && fill && bad ? 0 : -ENOMEM;
    if (!rc) rc = run(m, effort, &W, left, fill, bad);
    if (!rc && W.best_cost < limit - 1e-9) {
        rc = emit(m, &W, out);
        if (!rc) rc = 1;
    }
    free(W.it);
    free(W.w);
    free(W.bin);
    free(W.best_bin);
    free(W.best_j);
    free(W.cls);
    free(W.best_cls);
    free(left);
    free(fill);
    free(bad);
    return rc;
}
