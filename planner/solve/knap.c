/* knap.c - bounded knapsack by dynamic programming or branch and bound (see knap.h).
 *
 * Branch and bound: items by decreasing value per byte; at item i take k = most copies down to 0
 * (greedy first, so a good solution comes early), prune with the smaller of two upper bounds:
 * Dantzig's, in O(log n) from prefix sums (all copies of items i.. in order until the critical
 * item, then a fraction of it), and a dynamic programme over items i.. with weights rounded down
 * to a grid of 1024 cells (a relaxation, so an upper bound, and a tight one: the rounding loses
 * at most one cell per item). Dantzig's alone is weak when values are proportional to sizes, as
 * column generation's duals for bin packing tend to be; the grid bound is what keeps the search
 * small there. When the node budget runs out, the bounds of the untried choices at each level
 * bound everything left unvisited. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "knap.h"

#define KP_DEFAULT_NODES 50000UL
#define KP_GRID 1024 /* cells of the rounded-down bound */

static int ratio_cmp(const void *a, const void *b)
{
    const kp_item *x = a, *y = b;
    double rx = x->v / (double)x->w, ry = y->v / (double)y->w;
    if (rx != ry) return rx > ry ? -1 : 1;
    if (x->w != y->w) return x->w < y->w ? -1 : 1;
    return x->id - y->id;
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static int sol_cmp(const void *a, const void *b)
{
    const kp_sol *x = a, *y = b;
    return x->value > y->value ? -1 : x->value < y->value;
}

/* Keeps the best KP_MAX_SOLS distinct solutions. */
static void keep(kp_out *o, const kp_sol *s)
{
    for (int k = 0; k < o->nsol; k++)
        if (o->sol[k].n == s->n && !memcmp(o->sol[k].ent, s->ent, (size_t)s->n * sizeof *s->ent))
            return;
    if (o->nsol < KP_MAX_SOLS) {
        o->sol[o->nsol++] = *s;
        return;
    }
    int worst = 0;
    for (int k = 1; k < o->nsol; k++)
        if (o->sol[k].value < o->sol[worst].value) worst = k;
    if (s->value > o->sol[worst].value) o->sol[worst] = *s;
}

/* ---------------------------------------------------------------- dynamic programming */

typedef struct dp {
    const kp_item *it;
    int n, parts;
    size_t cap, rowbytes;
    double *f;
    uint8_t *take; /* [part][cell] bit: part improved the cell */
    int *pi;       /* item of each part */
    uint32_t *pm;  /* copies in each part */
} dp;

static int dp_fill(dp *d, uint64_t unit)
{
    int q = 0;
    for (int i = 0; i < d->n; i++)
        for (uint32_t left = d->it[i].ub, k = 1; left; k *= 2) {
            uint32_t t = k < left ? k : left;
            left -= t;
            d->pi[q] = i;
            d->pm[q] = t;
            size_t wt = (size_t)(d->it[i].w / unit) * t;
            double v = d->it[i].v * t;
            uint8_t *row = &d->take[(size_t)q * d->rowbytes];
            for (size_t c = d->cap + 1; c-- > wt;) {
                double nv = d->f[c - wt] + v;
                if (nv > d->f[c]) {
                    d->f[c] = nv;
                    row[c >> 3] |= (uint8_t)(1u << (c & 7));
                }
            }
            q++;
        }
    return q;
}

/* The best solution, then the best ones of smaller weight (a staircase of columns). */
static void dp_trace(const dp *d, uint64_t unit, double thresh, kp_out *o)
{
    uint32_t *cnt = calloc((size_t)d->n, sizeof *cnt);
    if (!cnt) return;
    size_t c0 = d->cap;
    for (int round = 0; round < KP_MAX_SOLS && d->f[c0] > thresh; round++) {
        memset(cnt, 0, (size_t)d->n * sizeof *cnt);
        size_t c = c0, used = 0;
        for (int r = d->parts - 1; r >= 0; r--)
            if (d->take[(size_t)r * d->rowbytes + (c >> 3)] >> (c & 7) & 1u) {
                size_t wt = (size_t)(d->it[d->pi[r]].w / unit) * d->pm[r];
                cnt[d->pi[r]] += d->pm[r];
                c -= wt;
                used += wt;
            }
        kp_sol s = {.value = d->f[c0]};
        for (int i = 0; i < d->n && s.n < KP_MAX_ENT; i++)
            if (cnt[i]) s.ent[s.n++] = (kp_ent){d->it[i].id, cnt[i]};
        if (s.n) keep(o, &s);
        if (used == 0) break;
        c0 = used - 1;
    }
    free(cnt);
}

static int kp_dp(const kp_item *it, int n, uint64_t cap, uint64_t unit, double thresh, kp_out *o)
{
    dp d = {.it = it, .n = n, .cap = (size_t)(cap / unit)};
    for (int i = 0; i < n; i++)
        for (uint32_t left = it[i].ub, k = 1; left; k *= 2) {
            left -= k < left ? k : left;
            d.parts++;
        }
    d.rowbytes = (d.cap + 8) / 8;
    d.f = calloc(d.cap + 1, sizeof *d.f);
    d.take = calloc((size_t)d.parts * d.rowbytes, 1);
    d.pi = malloc((size_t)d.parts * sizeof *d.pi);
    d.pm = malloc((size_t)d.parts * sizeof *d.pm);
    int rc = 0;
    if (!d.f || !d.take || !d.pi || !d.pm) {
        rc = -ENOMEM;
    } else {
        dp_fill(&d, unit);
        o->best_ub = d.f[d.cap] > thresh ? d.f[d.cap] : thresh;
        o->exact = true;
        dp_trace(&d, unit, thresh, o);
    }
    free(d.f);
    free(d.take);
    free(d.pi);
    free(d.pm);
    return rc;
}

/* ---------------------------------------------------------------- branch and bound */

typedef struct bb {
    const kp_item *it;
    int n;
    double *pv;     /* prefix sums of v * ub */
    double *pw;     /* prefix sums of w * ub (as doubles: sums may pass 2^64) */
    double *suf;    /* [i * (S + 1) + c]: best value of items i.. in c grid units, weights
                     * rounded down to the grid (a relaxation: an upper bound), or NULL */
    size_t S;       /* grid cells */
    uint64_t g;     /* bytes per grid unit */
    uint32_t *x;
    double best, floor_v; /* prune below max(best, floor_v) */
    double abort_ub;
    unsigned long nodes, limit;
    bool aborted;
    kp_out *o;
} bb;

/* Dantzig bound of items i.. with `room` left. */
static double bound_from(const bb *s, int i, double room)
{
    if (i >= s->n) return 0;
    double base = s->pw[i];
    /* Largest k >= i with pw[k] - pw[i] <= room: items i..k-1 fit whole. */
    int lo = i, hi = s->n;
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if (s->pw[mid] - base <= room)
            lo = mid;
        else
            hi = mid - 1;
    }
    double v = s->pv[lo] - s->pv[i];
    if (lo < s->n) {
        double left = room - (s->pw[lo] - base);
        v += s->it[lo].v * left / (double)s->it[lo].w;
    }
    return v;
}

/* The better of the Dantzig bound and the rounded-down dynamic programme's. */
static double bound_of(const bb *s, int i, uint64_t room)
{
    double d = bound_from(s, i, (double)room);
    if (s->suf && i < s->n) {
        uint64_t c = room / s->g;
        double f = s->suf[(size_t)i * (s->S + 1) + (c > s->S ? s->S : c)];
        if (f < d) d = f;
    }
    return d;
}

/* suf[i][c] over items i.. (bounded: binary parts), weights floor(w / g): any set that fits in
 * room bytes fits in floor(room / g) units, so this never underestimates. */
static int suffix_dp(bb *s, kp_work *w, uint64_t cap)
{
    s->S = KP_GRID;
    s->g = cap / s->S + 1;
    s->S = (size_t)(cap / s->g);
    size_t row = s->S + 1, need = ((size_t)s->n + 1) * row;
    if (need > w->cap) {
        free(w->buf);
        w->buf = malloc(need * sizeof *w->buf);
        w->cap = w->buf ? need : 0;
        if (!w->buf) return -ENOMEM;
    }
    s->suf = w->buf;
    memset(&s->suf[(size_t)s->n * row], 0, row * sizeof *s->suf);
    for (int i = s->n - 1; i >= 0; i--) {
        double *f = &s->suf[(size_t)i * row];
        memcpy(f, &s->suf[(size_t)(i + 1) * row], row * sizeof *f);
        for (uint32_t left = s->it[i].ub, k = 1; left; k *= 2) {
            uint32_t t = k < left ? k : left;
            left -= t;
            size_t wt = (size_t)(s->it[i].w / s->g) * t;
            double v = s->it[i].v * t;
            for (size_t c = row; c-- > wt;)
                if (f[c - wt] + v > f[c]) f[c] = f[c - wt] + v;
        }
        for (size_t c = 1; c < row; c++) /* more room is never worth less */
            if (f[c] < f[c - 1]) f[c] = f[c - 1];
    }
    return 0;
}

static void record(bb *s, double v)
{
    if (v > s->best) s->best = v;
    kp_sol sol = {.value = v};
    for (int i = 0; i < s->n && sol.n < KP_MAX_ENT; i++)
        if (s->x[i]) sol.ent[sol.n++] = (kp_ent){s->it[i].id, s->x[i]};
    if (sol.n) keep(s->o, &sol);
}

static void dfs(bb *s, int i, uint64_t room, double v)
{
    double prune = s->best > s->floor_v ? s->best : s->floor_v;
    if (v > prune) record(s, v), prune = v;
    /* Skip items that cannot fit at all (their copies are 0 below). */
    while (i < s->n && s->it[i].w > room)
        i++;
    if (i >= s->n) return;
    double ub = v + bound_of(s, i, room);
    if (ub <= prune * (1 + 1e-12) + 1e-15) return;
    if (++s->nodes > s->limit) {
        s->aborted = true;
        if (ub > s->abort_ub) s->abort_ub = ub;
        return;
    }
    const kp_item *it = &s->it[i];
    uint64_t maxk = room / it->w;
    if (maxk > it->ub) maxk = it->ub;
    for (uint64_t k = maxk + 1; k-- > 0;) {
        s->x[i] = (uint32_t)k;
        dfs(s, i + 1, room - k * it->w, v + (double)k * it->v);
        if (s->aborted) {
            /* Every untried choice (fewer copies of item i) is bounded by its own bound. */
            for (uint64_t q = k; q-- > 0;) {
                double nb = v + (double)q * it->v + bound_of(s, i + 1, room - q * it->w);
                if (nb > s->abort_ub) s->abort_ub = nb;
            }
            break;
        }
    }
    s->x[i] = 0;
}

static int kp_bb(kp_work *w, const kp_item *it, int n, uint64_t cap, double thresh,
                 unsigned long limit, kp_out *o)
{
    bb s = {.it = it, .n = n, .best = 0, .floor_v = thresh, .limit = limit, .o = o};
    s.pv = malloc(((size_t)n + 1) * sizeof *s.pv);
    s.pw = malloc(((size_t)n + 1) * sizeof *s.pw);
    s.x = calloc((size_t)n + 1, sizeof *s.x);
    if (!s.pv || !s.pw || !s.x) {
        free(s.pv);
        free(s.pw);
        free(s.x);
        return -ENOMEM;
    }
    s.pv[0] = s.pw[0] = 0;
    for (int i = 0; i < n; i++) {
        s.pv[i + 1] = s.pv[i] + it[i].v * it[i].ub;
        s.pw[i + 1] = s.pw[i] + (double)it[i].w * it[i].ub;
    }
    if (suffix_dp(&s, w, cap)) {
        free(s.pv);
        free(s.pw);
        free(s.x);
        return -ENOMEM;
    }
    dfs(&s, 0, cap, 0);
    double ub = s.best > thresh ? s.best : thresh;
    if (s.aborted && s.abort_ub > ub) ub = s.abort_ub;
    double root = bound_of(&s, 0, cap); /* never above: it bounds everything */
    if (s.aborted && root < ub) ub = root > s.best ? root : s.best;
    o->best_ub = ub;
    o->exact = !s.aborted;
    o->nodes = s.nodes;
    free(s.pv);
    free(s.pw);
    free(s.x);
    return 0;
}

void kp_work_free(kp_work *w)
{
    free(w->buf);
    w->buf = NULL;
    w->cap = 0;
}

int kp_solve(kp_work *w, kp_item *items, int n, uint64_t cap, double thresh,
             unsigned long node_limit, kp_out *o)
{
    memset(o, 0, sizeof *o);
    int m = 0;
    uint64_t g = 0;
    for (int i = 0; i < n; i++) {
        if (!(items[i].v > 0) || items[i].w == 0 || items[i].w > cap || items[i].ub == 0) continue;
        uint64_t fit = cap / items[i].w;
        if (items[i].ub > fit) items[i].ub = (uint32_t)(fit > UINT32_MAX ? UINT32_MAX : fit);
        items[m++] = items[i];
        g = gcd64(g, items[i].w);
    }
    o->best_ub = thresh > 0 ? thresh : 0;
    o->exact = true;
    if (m == 0) return 0;
    qsort(items, (size_t)m, sizeof *items, ratio_cmp);
    double cells = (double)(cap / g) + 1, parts = 0;
    for (int i = 0; i < m; i++)
        parts += floor(log2((double)items[i].ub)) + 1;
    int rc = cells * parts <= 6e7 && cells <= 4e6
                 ? kp_dp(items, m, cap, g, thresh, o)
                 : kp_bb(w, items, m, cap, thresh, node_limit ? node_limit : KP_DEFAULT_NODES, o);
    qsort(o->sol, (size_t)o->nsol, sizeof *o->sol, sol_cmp);
    return rc;
}
