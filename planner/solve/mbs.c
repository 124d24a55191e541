/* mbs.c - minimum bin slack packing (see mbs.h).
 *
 * Items sorted by decreasing size. A bin takes the largest item left, then a depth-first search
 * over the smaller ones for the fullest subset that fits what is left of it: items in decreasing
 * order, pruned when the rest cannot beat the best fill, and at every node a binary search for a
 * single item that fills the room exactly (so a bin made of three pieces costs one pass over the
 * items, not two). The search stops at an exact fill or after a node budget. Where sizes come
 * from cutting whole GPUs into pieces, exact fills are what first-fit never finds. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mbs.h"

#define MBS_NODES 2000000    /* per search (one bin, one size of subset) */
#define MBS_TOTAL 200000000L /* per packing: beyond this, exact fills are no longer sought */
#define MBS_EXACT_ITEMS 5 /* exact fills are looked for among subsets of at most this many */
#define MBS_MOVE_NODES 16
#define MBS_MOVE_ITEMS 128

typedef struct mb {
    const uint64_t *w; /* remaining sizes, decreasing */
    const uint64_t *pre; /* pre[i] = w[0] + ... + w[i - 1] */
    int n;
    uint64_t room, best;
    int *path, *best_path;
    int depth, best_depth;
    long nodes;
    long *total; /* shared by the searches of one packing */
    bg_budget *b; /* polled every 2^20 nodes (may be NULL) */
} mb;

static void keep(mb *s, uint64_t fill)
{
    if (fill <= s->best) return;
    s->best = fill;
    s->best_depth = s->depth;
    memcpy(s->best_path, s->path, (size_t)s->depth * sizeof *s->path);
}

/* Counts a node against the packing's total; true when the total or the budget is spent. */
static bool over(mb *s)
{
    if ((++*s->total & ((1L << 20) - 1)) == 0 && s->b && bg_over(s->b)) *s->total = MBS_TOTAL;
    return *s->total >= MBS_TOTAL;
}

/* First index at or after from whose size is <= v (sizes decrease). */
static int first_at_most(const mb *s, int from, uint64_t v)
{
    int lo = from, hi = s->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (s->w[mid] > v) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Exactly r items from index `from` on that sum to `left`: the largest candidates first, pruned
 * when even the r largest left cannot reach the sum. */
static bool exact(mb *s, int from, uint64_t left, int r)
{
    if (++s->nodes > MBS_NODES || over(s)) return false;
    int i = first_at_most(s, from, left);
    if (r == 1) {
        if (i >= s->n || s->w[i] != left) return false;
        s->path[s->depth++] = i;
        return true;
    }
    for (; i + r <= s->n; i++) {
        if (s->pre[i + r] - s->pre[i] < left) return false; /* smaller items from here on */
        s->path[s->depth++] = i;
        if (exact(s, i + 1, left - s->w[i], r - 1)) return true;
        s->depth--;
        if (s->nodes > MBS_NODES) return false;
    }
    return false;
}

/* Items are taken in increasing index order, so the path never holds an index >= from. */
static void dfs(mb *s, int from, uint64_t fill)
{
    keep(s, fill);
    if (s->best == s->room || ++s->nodes > MBS_NODES || over(s)) return;
    uint64_t left = s->room - fill;
    int i = first_at_most(s, from, left);
    if (i >= s->n) return;
    if (s->w[i] == left) { /* one item fills the room exactly */
        s->path[s->depth++] = i;
        keep(s, s->room);
        s->depth--;
        return;
    }
    for (; i < s->n && s->best < s->room && s->nodes <= MBS_NODES; i++) {
        if (fill + (uint64_t)(s->n - i) * s->w[i] <= s->best) break; /* the rest is smaller */
        s->path[s->depth++] = i;
        dfs(s, i + 1, fill + s->w[i]);
        s->depth--;
    }
}

typedef struct pk {
    uint64_t *r, *pre, C;
    int *id, *path, *best, *bin_of;
    bool *take;
    int m, bins;
    long total;
    bg_budget *b;
} pk;

/* Closes a bin: item a (index into the remaining ones) and the search's path after it. */
static void close_bin(pk *P, int a, const int *path, int depth)
{
    memset(P->take, 0, (size_t)P->m * sizeof *P->take);
    P->take[a] = true;
    P->bin_of[P->id[a]] = P->bins;
    for (int q = 0; q < depth; q++)
        P->take[a + 1 + path[q]] = true, P->bin_of[P->id[a + 1 + path[q]]] = P->bins;
    int k = 0;
    for (int i = 0; i < P->m; i++)
        if (!P->take[i]) P->r[k] = P->r[i], P->id[k++] = P->id[i];
    P->m = k;
    P->bins++;
}

/* A search over the items after a, for a's bin. */
static mb search_after(pk *P, int a)
{
    P->pre[0] = 0;
    for (int i = a + 1; i < P->m; i++)
        P->pre[i - a] = P->pre[i - a - 1] + P->r[i];
    return (mb){.w = P->r + a + 1, .pre = P->pre, .n = P->m - a - 1, .room = P->C - P->r[a],
                .path = P->path, .best_path = P->best, .total = &P->total, .b = P->b};
}

/* Exact bins with the fewest items first, over every anchor: a bin of few pieces that happens to
 * fill a GPU exactly is rare, one of many pieces less so, and taking those last (when few items
 * are left) keeps accidental fits from breaking up the bins that really belong together. */
static void exact_bins(pk *P)
{
    for (int k = 0; k <= MBS_EXACT_ITEMS && P->total < MBS_TOTAL; k++)
        for (int a = 0; a < P->m && P->total < MBS_TOTAL;) {
            mb s = search_after(P, a);
            bool hit = k == 0 ? s.room == 0 : exact(&s, 0, s.room, k);
            if (hit) close_bin(P, a, s.path, s.depth);
            else a++;
        }
}

/* Past the effort cap: the items that fit, in decreasing order (first-fit decreasing). */
static void greedy(mb *s)
{
    uint64_t left = s->room;
    for (int i = 0; i < s->n && left > 0; i++)
        if (s->w[i] <= left) left -= s->w[i], s->best_path[s->best_depth++] = i;
}

int mbs_pack(const uint64_t *w, int n, uint64_t C, int *bin_of, long effort, bg_budget *b)
{
    pk P = {.C = C, .bin_of = bin_of, .m = n, .b = b};
    if (effort > 0 && effort < MBS_TOTAL) P.total = MBS_TOTAL - effort;
    P.r = malloc(((size_t)n + 1) * sizeof *P.r);
    P.id = malloc(((size_t)n + 1) * sizeof *P.id);
    P.path = malloc(((size_t)n + 1) * sizeof *P.path);
    P.best = malloc(((size_t)n + 1) * sizeof *P.best);
    P.take = calloc((size_t)n + 1, sizeof *P.take);
    P.pre = malloc(((size_t)n + 2) * sizeof *P.pre);
    int bins = -1;
    if (P.r && P.id && P.path && P.best && P.take && P.pre) {
        memcpy(P.r, w, (size_t)n * sizeof *P.r);
        for (int i = 0; i < n; i++)
            P.id[i] = i;
        exact_bins(&P);
        while (P.m > 0) { /* the rest: largest item, then the fullest subset of the others */
            mb s = search_after(&P, 0);
            if (P.total < MBS_TOTAL) dfs(&s, 0, 0);
            else greedy(&s);
            close_bin(&P, 0, s.best_path, s.best_depth);
        }
        bins = P.bins;
    }
    free(P.r);
    free(P.id);
    free(P.path);
    free(P.best);
    free(P.take);
    free(P.pre);
    return bins;
}

/* A one-GPU node of type bt in use with only slices that may go anywhere. */
static bool eligible(const ed_plan *x, size_t n, int bt)
{
    const plan_problem *p = x->v->p;
    if (x->nbt[n] != bt || x->head[n] < 0 || x->plan->nodes[n].n_gpus != 1) return false;
    for (int k = x->head[n]; k >= 0; k = x->next[k]) {
        const place_placement *pl = &x->plan->placements[k];
        if (x->grp[k] < 0 || pl->stage >= 0 || pl->n_gpus != 1 ||
            p->manifest->models[p->groups[x->grp[k]].model].spread)
            return false;
    }
    return true;
}

typedef struct slice {
    uint64_t w;
    int k;
    int bin;
} slice;

static int by_size_desc(const void *a, const void *b)
{
    const slice *x = a, *y = b;
    if (x->w != y->w) return x->w < y->w ? 1 : -1;
    return x->k - y->k;
}

static int by_k_desc(const void *a, const void *b)
{
    return ((const slice *)b)->k - ((const slice *)a)->k;
}

/* Moves the slices to node_of[bin] (all off, highest index first, then all on). */
static int apply(ed_plan *x, slice *sl, int n, const int *node_of)
{
    struct {
        size_t g;
        uint32_t r;
        int node;
    } *mv = malloc(((size_t)n + 1) * sizeof *mv);
    if (!mv) return -ENOMEM;
    qsort(sl, (size_t)n, sizeof *sl, by_k_desc);
    for (int i = 0; i < n; i++) {
        mv[i].g = (size_t)x->grp[sl[i].k];
        mv[i].r = x->plan->placements[sl[i].k].replica;
        mv[i].node = node_of[sl[i].bin];
        ed_unassign(x, (size_t)sl[i].k);
    }
    int rc = 0;
    uint8_t gpu0 = 0;
    for (int i = 0; i < n && !rc; i++)
        if (ed_assign(x, mv[i].g, mv[i].r, 0, mv[i].node, &gpu0) < 0) rc = VP_ESOLVER;
    free(mv);
    return rc;
}

/* Repacks the eligible nodes of type bt; *saved += nodes emptied. */
static int run_type(ed_plan *x, bg_budget *b, int bt, long *saved)
{
    size_t nn = x->plan->n_nodes, np = x->plan->n_placements;
    int *node_of = malloc((nn + 1) * sizeof *node_of), nb = 0, n = 0, rc = 0;
    slice *sl = malloc((np + 1) * sizeof *sl);
    uint64_t *w = malloc((np + 1) * sizeof *w);
    int *bin = malloc((np + 1) * sizeof *bin);
    if (!node_of || !sl || !w || !bin) rc = -ENOMEM;
    uint64_t C = 0;
    for (size_t i = 0; !rc && i < nn; i++) {
        if (!eligible(x, i, bt)) continue;
        node_of[nb++] = (int)i;
        C = x->plan->nodes[i].gpus[0].usable_bytes;
        for (int k = x->head[i]; k >= 0; k = x->next[k])
            sl[n++] = (slice){x->plan->placements[k].bytes_per_gpu, k, -1};
    }
    if (!rc && nb > 1 && n <= 20000) {
        qsort(sl, (size_t)n, sizeof *sl, by_size_desc);
        for (int i = 0; i < n; i++)
            w[i] = sl[i].w;
        int bins = mbs_pack(w, n, C, bin, 0, b);
        if (bins < 0) rc = -ENOMEM;
        if (!rc && bins < nb) {
            for (int i = 0; i < n; i++)
                sl[i].bin = bin[i];
            rc = apply(x, sl, n, node_of);
            *saved += nb - bins;
        }
    }
    free(node_of);
    free(sl);
    free(w);
    free(bin);
    return rc;
}

int mbs_run(ed_plan *x, bg_budget *b, long *saved)
{
    const plan_problem *p = x->v->p;
    *saved = 0;
    int rc = 0;
    for (size_t bt = 0; bt < p->n_bintypes && !rc && !bg_over(b); bt++)
        if (p->bintypes[bt].n_gpus == 1) rc = run_type(x, b, (int)bt, saved);
    return rc;
}

/* ---------------------------------------------------------------- as a local-search move */

static uint64_t next_rand(uint64_t *r)
{
    *r ^= *r << 13;
    *r ^= *r >> 7;
    *r ^= *r << 17;
    return *r;
}

static double load_of(const ed_plan *x, int n)
{
    const place_gpu *g = &x->plan->nodes[n].gpus[0];
    return (double)g->used_bytes / (double)g->usable_bytes;
}

/* The two least-filled eligible nodes of a random one-GPU type and k - 2 random others. */
static int pick_nodes(const ed_plan *x, uint64_t *rng, int k, int *pick)
{
    size_t nn = x->plan->n_nodes;
    int bt = -1;
    for (int t = 0; t < 8 && bt < 0; t++) {
        size_t n = (size_t)(next_rand(rng) % (nn ? nn : 1));
        if (n < nn && eligible(x, n, x->nbt[n])) bt = x->nbt[n];
    }
    if (bt < 0) return 0;
    int low[2] = {-1, -1}, m = 0;
    for (size_t n = 0; n < nn; n++) {
        if (!eligible(x, n, bt)) continue;
        if (low[0] < 0 || load_of(x, (int)n) < load_of(x, low[0]))
            low[1] = low[0], low[0] = (int)n;
        else if (low[1] < 0 || load_of(x, (int)n) < load_of(x, low[1]))
            low[1] = (int)n;
    }
    for (int i = 0; i < 2; i++)
        if (low[i] >= 0) pick[m++] = low[i];
    for (int t = 0; m < k && t < 8 * k; t++) {
        int n = (int)(next_rand(rng) % nn);
        bool dup = !eligible(x, (size_t)n, bt);
        for (int i = 0; i < m && !dup; i++)
            dup = pick[i] == n;
        if (!dup) pick[m++] = n;
    }
    return m;
}

int mbs_move(ed_plan *x, uint64_t *rng, int k)
{
    int pick[MBS_MOVE_NODES];
    k = k > MBS_MOVE_NODES ? MBS_MOVE_NODES : k;
    int m = pick_nodes(x, rng, k, pick), n = 0, rc = 0;
    if (m < 2) return 0;
    slice sl[MBS_MOVE_ITEMS];
    uint64_t w[MBS_MOVE_ITEMS];
    int bin[MBS_MOVE_ITEMS];
    double before = 0, after = 0;
    for (int q = 0; q < m; q++) {
        before += load_of(x, pick[q]) * load_of(x, pick[q]);
        for (int kk = x->head[pick[q]]; kk >= 0; kk = x->next[kk]) {
            if (n == MBS_MOVE_ITEMS) return 0;
            sl[n++] = (slice){x->plan->placements[kk].bytes_per_gpu, kk, -1};
        }
    }
    uint64_t C = x->plan->nodes[pick[0]].gpus[0].usable_bytes;
    qsort(sl, (size_t)n, sizeof *sl, by_size_desc);
    for (int i = 0; i < n; i++)
        w[i] = sl[i].w;
    int bins = mbs_pack(w, n, C, bin, 0, NULL);
    if (bins < 0) return -ENOMEM;
    if (bins > m) return 0;
    double *fill = calloc((size_t)bins + 1, sizeof *fill);
    if (!fill) return -ENOMEM;
    for (int i = 0; i < n; i++)
        sl[i].bin = bin[i], fill[bin[i]] += (double)w[i] / (double)C;
    for (int b = 0; b < bins; b++)
        after += fill[b] * fill[b];
    free(fill);
    /* Fewer nodes, or as many with the room gathered on fewer of them. */
    if (bins == m && after <= before * (1 + 1e-12)) return 0;
    rc = apply(x, sl, n, pick);
    return rc ? rc : 1;
}
