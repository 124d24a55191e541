/* repack.c - exact re-packing of a few GPUs (see repack.h).
 *
 * The GPUs are filled one after another, each with the subset of the remaining slices that fills
 * it most (a subset-sum search: slices by decreasing size, pruned when what is left cannot beat
 * the best fill, stopped at an exact fill or after a node budget), and the target GPU, last,
 * takes what remains, if it fits. This is minimum-bin-slack packing on a small scale; repeated
 * on random groups of GPUs it moves spare room onto few GPUs and then empties them, which is what
 * first-fit and best-fit cannot do when sizes are all distinct. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "repack.h"

#define RP_MAX_ITEMS 48
#define RP_MAX_GPUS 6
#define RP_NODES 20000

typedef struct slot {
    int node, gpu;
    uint64_t cap; /* room for movable slices */
    uint64_t load;
} slot;

typedef struct item {
    int k;      /* placement index */
    uint64_t w; /* bytes */
    int to;     /* slot it goes to */
} item;

typedef struct ss {
    const item *it;
    int n;
    const bool *used;
    uint64_t cap, best;
    uint64_t *suffix; /* suffix[i] = sum of unused weights from i on */
    bool take[RP_MAX_ITEMS], best_take[RP_MAX_ITEMS];
    long nodes;
} ss;

static uint64_t next_rand(uint64_t *r)
{
    *r ^= *r << 13;
    *r ^= *r >> 7;
    *r ^= *r << 17;
    return *r;
}

static void subset_dfs(ss *s, int i, uint64_t sum)
{
    if (sum > s->best) {
        s->best = sum;
        memcpy(s->best_take, s->take, sizeof s->take);
    }
    if (s->best == s->cap || i >= s->n || ++s->nodes > RP_NODES) return;
    if (sum + s->suffix[i] <= s->best) return;
    if (!s->used[i] && s->it[i].w <= s->cap - sum) {
        s->take[i] = true;
        subset_dfs(s, i + 1, sum + s->it[i].w);
        s->take[i] = false;
    }
    subset_dfs(s, i + 1, sum);
}

/* The fullest subset of the unused items that fits cap; marks them used for slot `to`. */
static uint64_t fill_one(item *it, int n, bool *used, uint64_t cap, int to)
{
    uint64_t suffix[RP_MAX_ITEMS + 1];
    suffix[n] = 0;
    for (int i = n - 1; i >= 0; i--)
        suffix[i] = suffix[i + 1] + (used[i] ? 0 : it[i].w);
    ss s = {.it = it, .n = n, .used = used, .cap = cap, .suffix = suffix};
    subset_dfs(&s, 0, 0);
    for (int i = 0; i < n; i++)
        if (s.best_take[i]) used[i] = true, it[i].to = to;
    return s.best;
}

/* A slice that may move: one GPU, one stage, not spread. */
static bool movable(const ed_plan *x, int k)
{
    const place_placement *pl = &x->plan->placements[k];
    if (x->grp[k] < 0 || pl->n_gpus != 1 || pl->stage >= 0) return false;
    const plan_problem *p = x->v->p;
    return !p->manifest->models[p->groups[x->grp[k]].model].spread;
}

/* Movable load and room of GPU g of node n. */
static slot gpu_slot(const ed_plan *x, int n, int g)
{
    const place_gpu *gp = &x->plan->nodes[n].gpus[g];
    slot s = {n, g, gp->usable_bytes, 0};
    for (int k = x->head[n]; k >= 0; k = x->next[k]) {
        const place_placement *pl = &x->plan->placements[k];
        if (!memchr(pl->gpus, g, (size_t)pl->n_gpus)) continue;
        if (movable(x, k))
            s.load += pl->bytes_per_gpu;
        else
            s.cap -= pl->bytes_per_gpu < s.cap ? pl->bytes_per_gpu : s.cap;
    }
    return s;
}

static int cmp_item(const void *a, const void *b)
{
    const item *x = a, *y = b;
    return x->w < y->w ? 1 : x->w > y->w ? -1 : x->k - y->k;
}

/* Candidate GPUs: every GPU with movable slices on nodes in use of a random bin type. */
static int candidates(const ed_plan *x, uint64_t *rng, slot **out, size_t *n)
{
    size_t nn = x->plan->n_nodes;
    int b = -1;
    for (int tries = 0; tries < 8 && b < 0; tries++) {
        size_t n0 = (size_t)(next_rand(rng) % (nn ? nn : 1));
        if (n0 < nn && x->head[n0] >= 0) b = x->nbt[n0];
    }
    if (b < 0) return 0;
    slot *v = malloc((nn * PLACE_MAX_GPUS + 1) * sizeof *v);
    if (!v) return -ENOMEM;
    size_t c = 0;
    for (size_t i = 0; i < nn; i++) {
        if (x->nbt[i] != b || x->head[i] < 0) continue;
        for (int g = 0; g < x->plan->nodes[i].n_gpus; g++) {
            slot s = gpu_slot(x, (int)i, g);
            if (s.load > 0) v[c++] = s;
        }
    }
    *out = v;
    *n = c;
    return 0;
}

static double fill_of(const slot *s)
{
    return (double)s->load / (double)(s->cap ? s->cap : 1);
}

/* Chooses the target (the least filled GPU half the time, else the least filled of eight drawn
 * at random) and k - 1 random partners into pick[0..k-1], target first. Returns how many. */
static int choose(slot *v, size_t n, uint64_t *rng, int k, slot *pick)
{
    if (n < 2) return 0;
    size_t t = 0;
    if (next_rand(rng) & 1) {
        for (size_t i = 1; i < n; i++)
            if (fill_of(&v[i]) < fill_of(&v[t])) t = i;
    } else {
        t = (size_t)(next_rand(rng) % n);
        for (int d = 0; d < 7; d++) {
            size_t i = (size_t)(next_rand(rng) % n);
            if (fill_of(&v[i]) < fill_of(&v[t])) t = i;
        }
    }
    pick[0] = v[t];
    v[t] = v[--n];
    int m = 1;
    while (m < k && n > 0) {
        size_t j = (size_t)(next_rand(rng) % n);
        pick[m++] = v[j];
        v[j] = v[--n];
    }
    return m;
}

/* The movable slices on the picked GPUs; 0 when there are too many. */
static int gather(const ed_plan *x, const slot *pick, int m, item *it)
{
    int n = 0;
    for (int q = 0; q < m; q++)
        for (int k = x->head[pick[q].node]; k >= 0; k = x->next[k]) {
            const place_placement *pl = &x->plan->placements[k];
            if (!movable(x, k) || pl->gpus[0] != pick[q].gpu) continue;
            if (n == RP_MAX_ITEMS) return 0;
            it[n++] = (item){k, pl->bytes_per_gpu, -1};
        }
    qsort(it, (size_t)n, sizeof *it, cmp_item);
    return n;
}

static int cmp_k_desc(const void *a, const void *b)
{
    return ((const item *)b)->k - ((const item *)a)->k;
}

/* Moves every item to its slot: all off first (highest index first), then all on. */
static int apply(ed_plan *x, const slot *pick, item *it, int n)
{
    struct {
        size_t g;
        uint32_t r;
        int node;
        uint8_t gpu;
    } mv[RP_MAX_ITEMS];
    qsort(it, (size_t)n, sizeof *it, cmp_k_desc);
    for (int i = 0; i < n; i++) {
        const place_placement *pl = &x->plan->placements[it[i].k];
        mv[i].g = (size_t)x->grp[it[i].k];
        mv[i].r = pl->replica;
        mv[i].node = pick[it[i].to].node;
        mv[i].gpu = (uint8_t)pick[it[i].to].gpu;
    }
    for (int i = 0; i < n; i++)
        ed_unassign(x, (size_t)it[i].k);
    for (int i = 0; i < n; i++)
        if (ed_assign(x, mv[i].g, mv[i].r, 0, mv[i].node, &mv[i].gpu) < 0) return VP_ESOLVER;
    return 1;
}

int rp_move(ed_plan *x, uint64_t *rng, int k)
{
    slot *v = NULL, pick[RP_MAX_GPUS];
    size_t nv = 0;
    int rc = candidates(x, rng, &v, &nv);
    if (rc || !v) return rc;
    int m = choose(v, nv, rng, k < RP_MAX_GPUS ? k : RP_MAX_GPUS, pick);
    free(v);
    item it[RP_MAX_ITEMS];
    int n = m >= 2 ? gather(x, pick, m, it) : 0;
    if (!n) return 0;
    bool used[RP_MAX_ITEMS] = {0};
    /* Partners in random order, each as full as it can be; the target takes the rest. */
    for (int q = 1; q < m; q++) {
        int j = 1 + (int)(next_rand(rng) % (uint64_t)(m - 1));
        slot t = pick[q];
        pick[q] = pick[j];
        pick[j] = t;
    }
    for (int q = 1; q < m; q++)
        fill_one(it, n, used, pick[q].cap, q);
    uint64_t rest = 0;
    for (int i = 0; i < n; i++)
        if (!used[i]) rest += it[i].w, it[i].to = 0;
    if (rest > pick[0].cap || rest >= pick[0].load) return 0;
    return apply(x, pick, it, n);
}
