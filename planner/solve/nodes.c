/* nodes.c - the whole-node integer master (see nodes.h).
 *
 * A column is a node class and a multiset of units (kind, GPUs); two layouts of the same units
 * are the same column (hashed on coverage only). Greedy fills put kinds on an empty node in a
 * given order, as many units as fit (tightest GPUs first), up to the demand (one unit for
 * spread models): orders by dual value per byte, by size, and (for small fleets) each kind
 * forced first. A failed improvement step is not an error: the plans we have stand. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nodes.h"

#define NM_MAX_UNITS 4096

typedef struct nunit {
    int j;
    uint8_t n;
    uint8_t gpus[PLACE_MAX_GPUS];
} nunit;

typedef struct npat {
    int cls;
    int col;
    size_t off;
    int n;
    uint64_t hash;
} npat;

typedef struct nm {
    const cg_master *g;
    const vw_view *v;
    lp_prob *lp;
    npat *pats;
    size_t npat, cappat;
    nunit *pool;
    size_t npool, cappool;
    uint64_t *htab;
    size_t hcap;
    int *cap_row;  /* per class, -1 unlimited */
    bool *row_on;  /* kinds with a demand row (single-stage models) */
    double *pi;
    nunit *buf;    /* NM_MAX_UNITS */
    int *order;
    struct kv {
        int j;
        double key;
    } *keys;
} nm;

static int nunit_cmp(const void *a, const void *b)
{
    const nunit *x = a, *y = b;
    if (x->j != y->j) return x->j - y->j;
    return memcmp(x->gpus, y->gpus, PLACE_MAX_GPUS);
}

static uint64_t npat_hash(int cls, const nunit *u, int n)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)(cls + 1);
    for (int k = 0; k < n; k++) {
        h ^= (uint64_t)(u[k].j + 1) * 0x9E3779B97F4A7C15ULL;
        h *= 1099511628211ULL;
    }
    return h ? h : 1;
}

static bool same_cover(const nunit *a, int na, const nunit *b, int nb)
{
    if (na != nb) return false;
    for (int k = 0; k < na; k++)
        if (a[k].j != b[k].j) return false;
    return true;
}

static int nm_find(const nm *M, int cls, const nunit *u, int n, uint64_t h)
{
    if (!M->hcap) return -1;
    for (size_t i = (size_t)(h & (M->hcap - 1)); M->htab[i]; i = (i + 1) & (M->hcap - 1)) {
        const npat *pt = &M->pats[M->htab[i] - 1];
        if (pt->hash == h && pt->cls == cls && same_cover(&M->pool[pt->off], pt->n, u, n))
            return (int)(M->htab[i] - 1);
    }
    return -1;
}

static int nm_rehash(nm *M)
{
    size_t nc = M->hcap ? M->hcap * 2 : 1024;
    uint64_t *t = calloc(nc, sizeof *t);
    if (!t) return -ENOMEM;
    for (size_t i = 0; i < M->npat; i++) {
        size_t h = (size_t)(M->pats[i].hash & (nc - 1));
        while (t[h])
            h = (h + 1) & (nc - 1);
        t[h] = i + 1;
    }
    free(M->htab);
    M->htab = t;
    M->hcap = nc;
    return 0;
}

/* The LP column: units per kind with a row, 1 on the class's node-count row. */
static int node_column(nm *M, int cls, const nunit *u, int n)
{
    int *ri = malloc(((size_t)n + 1) * sizeof *ri);
    double *rv = malloc(((size_t)n + 1) * sizeof *rv);
    int nn = 0, col = -ENOMEM;
    if (!ri || !rv) goto out;
    for (int k = 0; k < n;) {
        int j = u[k].j, c = 0;
        while (k < n && u[k].j == j)
            c++, k++;
        if (!M->row_on[j]) continue;
        ri[nn] = j;
        rv[nn++] = c;
    }
    if (M->cap_row[cls] >= 0) ri[nn] = M->cap_row[cls], rv[nn++] = 1;
    col = lp_add_col(M->lp, M->v->cls[cls].price, 0, -1, nn, ri, rv);
out:
    free(ri);
    free(rv);
    return col;
}

/* Adds a node column (units sorted here); its index, or a negative code (VP_EINPUT: covers no
 * row). */
static int nm_add(nm *M, int cls, nunit *u, int n)
{
    int rows = 0;
    for (int k = 0; k < n; k++)
        rows += M->row_on[u[k].j];
    if (rows == 0) return VP_EINPUT;
    qsort(u, (size_t)n, sizeof *u, nunit_cmp);
    uint64_t h = npat_hash(cls, u, n);
    int f = nm_find(M, cls, u, n, h);
    if (f >= 0) return f;
    if ((M->npat + 1) * 2 > M->hcap && nm_rehash(M)) return -ENOMEM;
    if (vp_grow((void **)&M->pats, &M->cappat, M->npat + 1, sizeof *M->pats, 256) ||
        vp_grow((void **)&M->pool, &M->cappool, M->npool + (size_t)n, sizeof *M->pool, 4096))
        return -ENOMEM;
    int col = node_column(M, cls, u, n);
    if (col < 0) return col;
    M->pats[M->npat] = (npat){cls, col, M->npool, n, h};
    memcpy(&M->pool[M->npool], u, (size_t)n * sizeof *u);
    M->npool += (size_t)n;
    size_t i = (size_t)(h & (M->hcap - 1));
    while (M->htab[i])
        i = (i + 1) & (M->hcap - 1);
    M->htab[i] = M->npat + 1;
    return (int)M->npat++;
}

/* Greedy fill of one empty node of class c with kinds in the given order. Returns units. */
static int nm_fill(const nm *M, int c, const int *order, int norder, nunit *out)
{
    const vw_view *v = M->v;
    const vw_class *cl = &v->cls[c];
    uint64_t freeb[PLACE_MAX_GPUS];
    for (int q = 0; q < cl->G; q++)
        freeb[q] = cl->U;
    int n = 0;
    for (int oi = 0; oi < norder; oi++) {
        int j = order[oi];
        size_t x = vw_ck(v, (size_t)c, (size_t)j);
        uint32_t tp = v->tp[x];
        uint64_t w = v->w[x];
        for (double left = v->kinds[j].spread ? 1 : v->kinds[j].demand; left >= 1; left -= 1) {
            int gq[PLACE_MAX_GPUS], nc = 0;
            for (int q = 0; q < cl->G; q++) {
                if (freeb[q] < w) continue;
                int k = nc++;
                while (k > 0 && freeb[gq[k - 1]] > freeb[q])
                    gq[k] = gq[k - 1], k--;
                gq[k] = q;
            }
            if ((uint32_t)nc < tp || n >= NM_MAX_UNITS) break;
            nunit *u = &out[n++];
            memset(u, 0, sizeof *u);
            u->j = j;
            u->n = (uint8_t)tp;
            for (uint32_t t = 0; t < tp; t++) {
                u->gpus[t] = (uint8_t)gq[t];
                freeb[gq[t]] -= w;
            }
        }
    }
    return n;
}

/* The units of plan node i (single-stage kinds with a row) into M->buf; returns how many. */
static int node_units(const nm *M, const place_plan *plan, size_t i, const size_t *start,
                      const size_t *order)
{
    int n = 0;
    for (size_t q = start[i]; q < start[i + 1] && n < NM_MAX_UNITS; q++) {
        const place_placement *pl = &plan->placements[order[q]];
        int j = vw_kind_of(M->v, pl);
        if (j < 0 || !M->row_on[j]) continue;
        nunit *u = &M->buf[n++];
        memset(u, 0, sizeof *u);
        u->j = j;
        u->n = (uint8_t)pl->n_gpus;
        memcpy(u->gpus, pl->gpus, (size_t)pl->n_gpus);
    }
    return n;
}

/* Columns from a plan's nodes; with warm (may be NULL), counts the plan's nodes per column and
 * returns false in *ok when a node has no column (then it is no warm start). */
static int nm_seed_plan(nm *M, const place_plan *plan, double *warm, bool *ok)
{
    size_t nn = plan->n_nodes, np = plan->n_placements;
    size_t *start = calloc(nn + 2, sizeof *start), *order = malloc((np + 1) * sizeof *order);
    int rc = start && order ? 0 : -ENOMEM;
    for (size_t k = 0; k < np && !rc; k++)
        start[plan->placements[k].node + 2]++;
    for (size_t i = 0; i < nn && !rc; i++)
        start[i + 2] += start[i + 1];
    for (size_t k = 0; k < np && !rc; k++)
        order[start[plan->placements[k].node + 1]++] = k;
    for (size_t i = 0; i < nn && !rc; i++) {
        int b = plan_node_bintype(M->v->p, &plan->nodes[i]);
        int n = node_units(M, plan, i, start, order);
        if (!n) continue;
        int c = b < 0 ? -1 : M->v->cls_of[b];
        int t = c < 0 ? VP_EINPUT : nm_add(M, c, M->buf, n);
        if (t < 0 && t != VP_EINPUT) rc = t;
        if (warm && t >= 0) warm[M->pats[t].col] += 1;
        if (warm && t < 0) *ok = false;
    }
    free(start);
    free(order);
    return rc;
}

/* Single-GPU classes: every GPU pattern is a node column. */
static int nm_seed_patterns(nm *M)
{
    const cg_master *g = M->g;
    for (size_t t = 0; t < g->npat; t++) {
        const cg_pat *pt = &g->pats[t];
        if (M->v->cls[pt->cls].G != 1) continue;
        int n = 0;
        for (int q = 0; q < pt->n; q++) {
            const cg_ent *en = &g->pool[pt->off + (size_t)q];
            if (!M->row_on[en->j] || M->v->tp[vw_ck(M->v, (size_t)pt->cls, (size_t)en->j)] != 1)
                continue;
            for (uint32_t a = 0; a < en->a && n < NM_MAX_UNITS; a++) {
                memset(&M->buf[n], 0, sizeof M->buf[n]);
                M->buf[n].j = en->j;
                M->buf[n++].n = 1;
            }
        }
        int rc = n ? nm_add(M, pt->cls, M->buf, n) : 0;
        if (rc < 0 && rc != VP_EINPUT) return rc;
    }
    return 0;
}

static int kv_desc(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    if (x->key != y->key) return x->key > y->key ? -1 : 1;
    return x->j - y->j;
}

/* One greedy column of class c in the given mode; *added when it prices out. */
static int nm_try_fill(nm *M, size_t c, double mu, int mode, bool *added)
{
    const vw_view *v = M->v;
    int nk = 0, no = 0;
    for (size_t j = 0; j < v->nk; j++) {
        size_t x = vw_ck(v, c, j);
        if (!v->ok[x] || !M->row_on[j] || M->pi[j] <= 1e-12) continue;
        double size = (double)v->w[x] * v->tp[x];
        M->keys[nk++] = (struct kv){(int)j, mode == 1 ? size : M->pi[j] / size};
    }
    if (!nk) return 0;
    qsort(M->keys, (size_t)nk, sizeof *M->keys, kv_desc);
    int anchor = mode - 2;
    if (mode >= 2) {
        bool present = false;
        for (int k = 0; k < nk; k++)
            present |= M->keys[k].j == anchor;
        if (!present) return 0;
        M->order[no++] = anchor;
    }
    for (int k = 0; k < nk; k++)
        if (mode < 2 || M->keys[k].j != anchor) M->order[no++] = M->keys[k].j;
    int n = nm_fill(M, (int)c, M->order, no, M->buf);
    double val = 0, price = v->cls[c].price;
    for (int k = 0; k < n; k++)
        val += M->pi[M->buf[k].j];
    if (!n || price - mu - val >= -1e-9 * (1 + price)) return 0;
    size_t before = M->npat;
    int r = nm_add(M, (int)c, M->buf, n);
    if (r < 0 && r != VP_EINPUT) return r;
    *added |= M->npat > before;
    return 0;
}

/* Dual-guided greedy columns until none prices out (or the sub-budget ends). */
static int nm_columns(nm *M, bg_budget *b)
{
    const vw_view *v = M->v;
    for (int it = 0; it < 400 && !bg_over(b); it++) {
        double obj;
        int rc = lp_solve(M->lp, b, false, &obj);
        if (rc) return rc == VP_ESOLVER ? VP_ESOLVER : 0;
        for (size_t j = 0; j < v->nk; j++) {
            double d = lp_dual(M->lp, (int)j);
            M->pi[j] = d > 0 ? d : 0;
        }
        bool added = false;
        int nanchor = v->nk <= 64 ? (int)v->nk : 0;
        for (size_t c = 0; c < v->nc; c++) {
            double mu = M->cap_row[c] >= 0 ? lp_dual(M->lp, M->cap_row[c]) : 0;
            for (int mode = 0; mode < 2 + nanchor; mode++)
                if ((rc = nm_try_fill(M, c, mu > 0 ? 0 : mu, mode, &added))) return rc;
        }
        if (!added) break;
    }
    return 0;
}

/* One node of column t: a fresh node, or the next inventory node of the class. */
static int realize_node(const nm *M, const npat *pt, int *next_member, place_plan *plan,
                        vw_namer *names)
{
    const vw_class *cl = &M->v->cls[pt->cls];
    if (!cl->inventory) return vw_add_node(M->v->p, plan, (size_t)cl->b, names);
    if (next_member[pt->cls] >= cl->n_members) return -1;
    return vw_inventory_node(M->v->p, plan, (size_t)cl->members[next_member[pt->cls]++]);
}

/* Lays the chosen columns out. Once a model has all its replicas, its units in later nodes are
 * dropped (the master may cover more than needed); repair and consolidation tidy up after. */
static int nm_realize(const nm *M, const double *x, place_plan *plan)
{
    const plan_problem *p = M->v->p;
    uint32_t *placed = calloc(p->n_groups ? p->n_groups : 1, sizeof *placed);
    int *next_member = calloc(M->v->nc ? M->v->nc : 1, sizeof *next_member);
    vw_namer names = {0};
    int rc = placed && next_member && !vw_namer_init(&names, p, plan) ? 0 : -ENOMEM;
    for (size_t b = 0; b < p->n_bintypes && !rc; b++)
        if (p->bintypes[b].inventory && vw_inventory_node(p, plan, b) < 0) rc = -ENOMEM;
    for (size_t t = 0; t < M->npat && !rc; t++) {
        const npat *pt = &M->pats[t];
        const vw_class *cl = &M->v->cls[pt->cls];
        for (long k = 0, copies = lround(x[pt->col]); k < copies && !rc; k++) {
            bool any = false;
            for (int q = 0; q < pt->n && !any; q++) {
                size_t g = M->v->kinds[M->pool[pt->off + (size_t)q].j].group;
                any = placed[g] < p->groups[g].replicas;
            }
            int idx = any ? realize_node(M, pt, next_member, plan, &names) : -1;
            if (idx < -1) rc = idx;
            for (int q = 0; q < pt->n && idx >= 0 && !rc; q++) {
                const nunit *u = &M->pool[pt->off + (size_t)q];
                const vw_kind *kd = &M->v->kinds[u->j];
                if (placed[kd->group] >= p->groups[kd->group].replicas) continue;
                uint64_t w = p->groups[kd->group].shapes[cl->b].stage_bytes[kd->stage];
                int r = place_plan_assign(plan, vw_model_name(p, kd->group), placed[kd->group],
                                          -1, 1, idx, u->gpus, u->n, w);
                if (r == VP_ENOSPACE) continue;
                if (r < 0) rc = r;
                else placed[kd->group]++;
            }
        }
    }
    free(placed);
    free(next_member);
    vw_namer_free(&names);
    return rc;
}

/* Rows (demand of single-stage kinds, node counts of finite classes), artificial columns. */
static int nm_rows(nm *M)
{
    const vw_view *v = M->v;
    for (size_t j = 0; j < v->nk; j++) {
        M->row_on[j] = v->kinds[j].pp == 1;
        if (lp_add_row(M->lp, 'G', M->row_on[j] ? v->kinds[j].demand : 0) < 0) return VP_ESOLVER;
    }
    for (size_t c = 0; c < v->nc; c++) {
        long mx = v->cls[c].max_nodes;
        M->cap_row[c] = mx < 0 ? -1 : lp_add_row(M->lp, 'L', (double)mx);
        if (mx >= 0 && M->cap_row[c] < 0) return VP_ESOLVER;
    }
    for (size_t j = 0; j < v->nk; j++) {
        int row = (int)j;
        double one = 1;
        if (lp_add_col(M->lp, M->g->W, 0, -1, 1, &row, &one) < 0) return VP_ESOLVER;
    }
    return 0;
}

static void nm_free(nm *M)
{
    lp_free(M->lp);
    free(M->pats);
    free(M->pool);
    free(M->htab);
    free(M->cap_row);
    free(M->row_on);
    free(M->pi);
    free(M->buf);
    free(M->order);
    free(M->keys);
}

/* The integer program over every column, warm-started from the first seed when complete. */
static int nm_solve(nm *M, const place_plan *seed, double bound, bg_budget *b, place_plan **out)
{
    int ncols = lp_n_cols(M->lp), rc = 0;
    double *x = calloc((size_t)ncols + 1, sizeof *x), *warm = calloc((size_t)ncols + 1, sizeof *warm);
    if (!x || !warm) rc = -ENOMEM;
    for (int col = 0; col < ncols && !rc; col++)
        rc = lp_set_kind(M->lp, col, 'I');
    bool have_warm = seed != NULL;
    if (!rc && seed) rc = nm_seed_plan(M, seed, warm, &have_warm);
    lp_mip_opts o = {.warm = have_warm ? warm : NULL, .stop_at = bound,
                     .quantum = M->g->quantum, .rel_gap = 2e-3};
    lp_mip_result r = {0};
    if (!rc && lp_n_cols(M->lp) == ncols) rc = lp_mip(M->lp, b, &o, x, &r);
    place_plan *plan = !rc && r.found ? place_plan_new() : NULL;
    if (plan && (rc = nm_realize(M, x, plan)) == 0) *out = plan, plan = NULL;
    place_plan_free(plan);
    free(x);
    free(warm);
    return rc == -ENOMEM ? rc : 0;
}

int nm_run(const cg_master *g, const place_plan *const *seeds, int nseeds, double bound,
           bg_budget *b, place_plan **out, vp_err *e)
{
    const vw_view *v = g->v;
    size_t nk = v->nk ? v->nk : 1, nc = v->nc ? v->nc : 1;
    nm M = {.g = g, .v = v, .lp = lp_new("vrampack-nodes")};
    M.cap_row = malloc(nc * sizeof *M.cap_row);
    M.row_on = calloc(nk, sizeof *M.row_on);
    M.pi = calloc(nk, sizeof *M.pi);
    M.buf = malloc(NM_MAX_UNITS * sizeof *M.buf);
    M.order = malloc(nk * sizeof *M.order);
    M.keys = malloc(nk * sizeof *M.keys);
    *out = NULL;
    int rc = M.lp && M.cap_row && M.row_on && M.pi && M.buf && M.order && M.keys ? 0 : -ENOMEM;
    if (!rc) rc = nm_rows(&M);
    for (int s = 0; s < nseeds && !rc; s++)
        if (seeds[s]) rc = nm_seed_plan(&M, seeds[s], NULL, NULL);
    if (!rc) rc = nm_seed_patterns(&M);
    bg_budget sub;
    bg_sub(&sub, b, 0.6); /* columns get some of the time, the integer program the rest */
    if (!rc) rc = nm_columns(&M, &sub);
    if (!rc) rc = nm_solve(&M, nseeds > 0 ? seeds[0] : NULL, bound, b, out);
    nm_free(&M);
    if (rc == -ENOMEM) return vp_errf(e, rc, "out of memory in the node master");
    return 0;
}
