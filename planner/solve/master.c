/* master.c - column generation over GPU patterns with a valid bound at every iteration (see
 * master.h for the model and the bound).
 *
 * Patterns live in a pool (entries sorted by kind) with an open-addressing hash so a column is
 * never added twice. Classes with the same GPU and the same shapes share one pricing problem
 * (identical inventory nodes were merged into one class already; purchasable types with the same
 * GPU often price alike). Pricing limits a pattern to the residual demand of each kind (one slice
 * per replica and GPU: a TP group's slices sit on distinct GPUs), which every real plan respects,
 * so the bound stays valid. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "master.h"

static uint64_t pat_hash(int cls, const cg_ent *e, int n)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)cls;
    for (int k = 0; k < n; k++) {
        h ^= (uint64_t)e[k].j * 0x9E3779B97F4A7C15ULL + e[k].a;
        h *= 1099511628211ULL;
    }
    return h ? h : 1;
}

static int ent_cmp(const void *a, const void *b)
{
    const cg_ent *x = a, *y = b;
    return x->j - y->j;
}

static int htab_grow(cg_master *m)
{
    size_t nc = m->hcap ? m->hcap * 2 : 1024;
    uint64_t *t = calloc(nc, sizeof *t);
    if (!t) return -ENOMEM;
    for (size_t i = 0; i < m->npat; i++) {
        size_t h = (size_t)(m->pats[i].hash & (nc - 1));
        while (t[h])
            h = (h + 1) & (nc - 1);
        t[h] = i + 1;
    }
    free(m->htab);
    m->htab = t;
    m->hcap = nc;
    return 0;
}

static int find_pat(const cg_master *m, int cls, const cg_ent *e, int n, uint64_t h)
{
    if (!m->hcap) return -1;
    for (size_t i = (size_t)(h & (m->hcap - 1)); m->htab[i]; i = (i + 1) & (m->hcap - 1)) {
        const cg_pat *pt = &m->pats[m->htab[i] - 1];
        if (pt->hash == h && pt->cls == cls && pt->n == n &&
            memcmp(&m->pool[pt->off], e, (size_t)n * sizeof *e) == 0)
            return (int)(m->htab[i] - 1);
    }
    return -1;
}

static int map_col(cg_master *m, int col, int pat)
{
    if ((size_t)col >= m->capcol &&
        vp_grow((void **)&m->col_pat, &m->capcol, (size_t)col + 1, sizeof *m->col_pat, 256))
        return -ENOMEM;
    m->col_pat[col] = pat;
    return 0;
}

/* The LP column of a pattern: coverage a/tp on each kind's row, 1 on the class's capacity row. */
static int pattern_column(cg_master *m, int cls, const cg_ent *e, int n)
{
    int ri[KP_MAX_ENT + 1];
    double rv[KP_MAX_ENT + 1];
    int nn = 0;
    for (int k = 0; k < n && nn < KP_MAX_ENT; k++) {
        ri[nn] = e[k].j;
        rv[nn++] = (double)e[k].a / (double)m->v->tp[vw_ck(m->v, (size_t)cls, (size_t)e[k].j)];
    }
    if (m->cap_row[cls] >= 0) {
        ri[nn] = m->cap_row[cls];
        rv[nn++] = 1;
    }
    const vw_class *c = &m->v->cls[cls];
    return lp_add_col(m->lp, c->price / c->G, 0, -1, nn, ri, rv);
}

int cg_add_pattern(cg_master *m, int cls, cg_ent *e, int n)
{
    if (n <= 0 || n > KP_MAX_ENT) return VP_EINPUT;
    qsort(e, (size_t)n, sizeof *e, ent_cmp);
    uint64_t h = pat_hash(cls, e, n);
    int f = find_pat(m, cls, e, n, h);
    if (f >= 0 && m->pats[f].col < 0) { /* dropped from the LP earlier: back in */
        int col = pattern_column(m, cls, e, n);
        if (col < 0) return col;
        if (map_col(m, col, f)) return -ENOMEM;
        m->pats[f].col = col;
        m->pats[f].held = false;
        m->active++;
    }
    if (f >= 0) return f;
    if ((m->npat + 1) * 2 > m->hcap && htab_grow(m)) return -ENOMEM;
    if (vp_grow((void **)&m->pats, &m->cappat, m->npat + 1, sizeof *m->pats, 256) ||
        vp_grow((void **)&m->pool, &m->cappool, m->npool + (size_t)n, sizeof *m->pool, 1024))
        return -ENOMEM;
    int col = pattern_column(m, cls, e, n);
    if (col < 0) return col;
    if (map_col(m, col, (int)m->npat)) return -ENOMEM;
    m->pats[m->npat] = (cg_pat){cls, col, m->npool, n, h, false};
    m->active++;
    memcpy(&m->pool[m->npool], e, (size_t)n * sizeof *e);
    m->npool += (size_t)n;
    size_t i = (size_t)(h & (m->hcap - 1));
    while (m->htab[i])
        i = (i + 1) & (m->hcap - 1);
    m->htab[i] = m->npat + 1;
    return (int)m->npat++;
}

static bool same_pricing(const cg_master *m, size_t a, size_t b)
{
    const vw_view *v = m->v;
    if (v->cls[a].U != v->cls[b].U) return false;
    for (size_t j = 0; j < m->nk; j++) {
        size_t x = vw_ck(v, a, j), y = vw_ck(v, b, j);
        if (v->ok[x] != v->ok[y] || (v->ok[x] && (v->tp[x] != v->tp[y] || v->w[x] != v->w[y])))
            return false;
    }
    return true;
}

static int alloc_all(cg_master *m)
{
    size_t nk = m->nk ? m->nk : 1, nc = m->nc ? m->nc : 1;
    m->d = calloc(nk, sizeof *m->d);
    m->art_col = calloc(nk, sizeof *m->art_col);
    m->pi = calloc(nk, sizeof *m->pi);
    m->spi = calloc(nk, sizeof *m->spi);
    m->cpi = calloc(nk, sizeof *m->cpi);
    m->items = calloc(nk, sizeof *m->items);
    m->cap = calloc(nc, sizeof *m->cap);
    m->cap_row = calloc(nc, sizeof *m->cap_row);
    m->price_src = calloc(nc, sizeof *m->price_src);
    m->mu = calloc(nc, sizeof *m->mu);
    m->smu = calloc(nc, sizeof *m->smu);
    m->cmu = calloc(nc, sizeof *m->cmu);
    m->outs = calloc(nc, sizeof *m->outs);
    bool ok = m->d && m->art_col && m->pi && m->spi && m->cpi && m->items && m->cap &&
              m->cap_row && m->price_src && m->mu && m->smu && m->cmu && m->outs;
    return ok ? 0 : -ENOMEM;
}

/* Rows (one per kind, one per finite class) and the artificial columns. */
static int build_rows(cg_master *m)
{
    const vw_view *v = m->v;
    double maxprice = 0;
    for (size_t j = 0; j < m->nk; j++)
        if (lp_add_row(m->lp, 'G', m->d[j]) < 0) return VP_ESOLVER;
    for (size_t c = 0; c < m->nc; c++) {
        const vw_class *cl = &v->cls[c];
        if (cl->price > maxprice) maxprice = cl->price;
        m->cap[c] = cl->max_nodes < 0 ? -1 : (double)cl->max_nodes * cl->G;
        m->cap_row[c] = -1;
        if (m->cap[c] >= 0 && (m->cap_row[c] = lp_add_row(m->lp, 'L', m->cap[c])) < 0)
            return VP_ESOLVER;
        m->price_src[c] = (int)c;
        for (size_t s = 0; s < c; s++)
            if (m->price_src[s] == (int)s && same_pricing(m, c, s)) {
                m->price_src[c] = (int)s;
                break;
            }
    }
    m->W = 2 * maxprice + 1;
    for (size_t j = 0; j < m->nk; j++) {
        int row = (int)j;
        double one = 1;
        m->art_col[j] = lp_add_col(m->lp, m->W, 0, -1, 1, &row, &one);
        if (m->art_col[j] < 0) return VP_ESOLVER;
        if (map_col(m, m->art_col[j], -1)) return -ENOMEM;
    }
    return 0;
}

/* Kind a may stand in for kind b in every pattern: allowed wherever b is, never smaller, both
 * single-GPU, single-stage, not spread. */
static bool dominates(const cg_master *m, size_t a, size_t b)
{
    const vw_view *v = m->v;
    const vw_kind *ka = &v->kinds[a], *kb = &v->kinds[b];
    if (ka->spread || kb->spread || ka->pp > 1 || kb->pp > 1) return false;
    for (size_t c = 0; c < m->nc; c++) {
        size_t x = vw_ck(v, c, a), y = vw_ck(v, c, b);
        if (v->ok[x] != v->ok[y]) return false;
        if (v->ok[x] && (v->tp[x] != 1 || v->tp[y] != 1 || v->w[x] < v->w[y])) return false;
    }
    return true;
}

typedef struct kw {
    size_t j;
    uint64_t w;
} kw;

static int kw_desc(const void *a, const void *b)
{
    const kw *x = a, *y = b;
    if (x->w != y->w) return x->w > y->w ? -1 : 1;
    return x->j < y->j ? -1 : (x->j > y->j);
}

/* Dual-optimal inequalities (Ben Amor, Desrosiers, Valerio de Carvalho): when kind i can replace
 * kind j in any pattern, some optimal duals have pi_j <= pi_i, so the master may carry a free
 * column "i's slot covers j" (+1 on j, -1 on i). The LP optimum does not change, but the duals
 * stay ordered by size and column generation converges in far fewer iterations. Chained along
 * the kinds sorted by size, for runs where each dominates the next. */
static int add_exchanges(cg_master *m)
{
    if (!m->nc || m->nk < 2) return 0;
    kw *o = malloc(m->nk * sizeof *o);
    if (!o) return -ENOMEM;
    size_t n = 0;
    for (size_t j = 0; j < m->nk; j++) {
        size_t c = 0;
        while (c < m->nc && !m->v->ok[vw_ck(m->v, c, j)])
            c++;
        if (c < m->nc) o[n++] = (kw){j, m->v->w[vw_ck(m->v, c, j)]};
    }
    qsort(o, n, sizeof *o, kw_desc);
    int rc = 0;
    for (size_t k = 1; k < n && !rc; k++) {
        if (!dominates(m, o[k - 1].j, o[k].j)) continue;
        int rows[2] = {(int)o[k].j, (int)o[k - 1].j};
        double vals[2] = {1, -1};
        int col = lp_add_col(m->lp, 0, 0, -1, 2, rows, vals);
        rc = col < 0 ? col : map_col(m, col, -1);
        if (!rc && vp_grow((void **)&m->xcol, &m->capx, m->nx + 1, sizeof *m->xcol, 64))
            rc = -ENOMEM;
        if (!rc) m->xcol[m->nx++] = col;
    }
    free(o);
    return rc;
}

int cg_init(cg_master *m, const vw_view *v, const uint32_t *demand, double quantum, vp_err *e)
{
    memset(m, 0, sizeof *m);
    m->v = v;
    m->nk = v->nk;
    m->nc = v->nc;
    m->quantum = quantum;
    m->ub = -1;
    m->root = true;
    m->alpha = 0.85; /* measured: 0.85 needs ~20% fewer iterations than 0.5 */
    m->tol = 1e-3;
    m->waste_cap = -1;
    int rc = alloc_all(m);
    if (rc) return vp_errf(e, rc, "out of memory in column generation");
    for (size_t j = 0; j < m->nk; j++)
        m->d[j] = demand ? demand[j] : v->kinds[j].demand;
    m->lp = lp_new_fast("vrampack-colgen");
    if (!m->lp) return vp_errf(e, VP_ESOLVER, "column generation: GLPK failed to start");
    rc = build_rows(m);
    if (!rc) rc = add_exchanges(m);
    if (rc) return vp_errf(e, rc, "column generation: cannot build the master LP");
    return 0;
}

void cg_free(cg_master *m)
{
    lp_free(m->lp);
    free(m->d);
    free(m->art_col);
    free(m->pi);
    free(m->spi);
    free(m->cpi);
    free(m->items);
    free(m->cap);
    free(m->cap_row);
    free(m->price_src);
    free(m->mu);
    free(m->smu);
    free(m->cmu);
    free(m->outs);
    free(m->xcol);
    kp_work_free(&m->kw);
    free(m->pats);
    free(m->pool);
    free(m->col_pat);
    free(m->htab);
    memset(m, 0, sizeof *m);
}

/* ---------------------------------------------------------------- seeding */

/* The GPU patterns of one plan node: slices per kind on each GPU. */
static int seed_node(cg_master *m, const place_plan *plan, int c, const size_t *pl, size_t npl)
{
    const vw_view *v = m->v;
    int G = v->cls[c].G, rc = 0;
    for (int g = 0; g < G && !rc; g++) {
        cg_ent ent[KP_MAX_ENT];
        int ne = 0;
        for (size_t q = 0; q < npl; q++) {
            const place_placement *x = &plan->placements[pl[q]];
            int j = vw_kind_of(v, x);
            if (j < 0 || !v->ok[vw_ck(v, (size_t)c, (size_t)j)] ||
                v->w[vw_ck(v, (size_t)c, (size_t)j)] != (x->bytes_per_gpu ? x->bytes_per_gpu : 1))
                continue;
            if (!memchr(x->gpus, g, (size_t)x->n_gpus)) continue;
            int k = 0;
            while (k < ne && ent[k].j != j)
                k++;
            if (k == ne) {
                if (ne == KP_MAX_ENT) continue;
                ent[ne++] = (cg_ent){j, 0};
            }
            ent[k].a++;
        }
        if (ne) {
            int r = cg_add_pattern(m, c, ent, ne);
            if (r < 0) rc = r;
        }
    }
    return rc;
}

int cg_seed_plan(cg_master *m, const place_plan *plan)
{
    const vw_view *v = m->v;
    size_t nn = plan->n_nodes, np = plan->n_placements;
    size_t *start = calloc(nn + 2, sizeof *start), *order = malloc((np + 1) * sizeof *order);
    int rc = start && order ? 0 : -ENOMEM;
    for (size_t k = 0; k < np && !rc; k++)
        start[plan->placements[k].node + 2]++;
    for (size_t i = 0; i < nn && !rc; i++)
        start[i + 2] += start[i + 1];
    for (size_t k = 0; k < np && !rc; k++)
        order[start[plan->placements[k].node + 1]++] = k;
    /* now start[i] .. start[i + 1] are node i's placements */
    for (size_t i = 0; i < nn && !rc; i++) {
        int b = plan_node_bintype(v->p, &plan->nodes[i]);
        if (b < 0 || v->cls_of[b] < 0 || start[i + 1] == start[i]) continue;
        rc = seed_node(m, plan, v->cls_of[b], order + start[i], start[i + 1] - start[i]);
    }
    free(start);
    free(order);
    return rc;
}

int cg_seed_basic(cg_master *m)
{
    const vw_view *v = m->v;
    for (size_t j = 0; j < m->nk; j++)
        for (size_t c = 0; c < m->nc; c++) {
            size_t x = vw_ck(v, c, j);
            if (!v->ok[x]) continue;
            uint64_t a = v->cls[c].U / v->w[x];
            double lim = v->kinds[j].spread ? 1 : ceil(m->d[j] - 1e-9);
            if ((double)a > lim) a = (uint64_t)lim;
            if (a == 0) continue;
            cg_ent ent = {(int)j, (uint32_t)(a > UINT32_MAX ? UINT32_MAX : a)};
            int r = cg_add_pattern(m, (int)c, &ent, 1);
            if (r < 0) return r;
        }
    return 0;
}

/* ---------------------------------------------------------------- pricing and the bound */

static void read_duals(cg_master *m)
{
    for (size_t j = 0; j < m->nk; j++) {
        double pi = lp_dual(m->lp, (int)j);
        m->pi[j] = pi < 0 ? 0 : pi > m->W ? m->W : pi;
    }
    for (size_t c = 0; c < m->nc; c++) {
        double mu = m->cap_row[c] >= 0 ? lp_dual(m->lp, m->cap_row[c]) : 0;
        m->mu[c] = mu > 0 ? 0 : mu;
    }
}

/* Duals to price at: alpha x centre + (1 - alpha) x LP duals. */
static void smooth(cg_master *m, double alpha)
{
    bool use = m->root && m->have_centre && alpha > 0;
    for (size_t j = 0; j < m->nk; j++)
        m->spi[j] = use ? alpha * m->cpi[j] + (1 - alpha) * m->pi[j] : m->pi[j];
    for (size_t c = 0; c < m->nc; c++)
        m->smu[c] = use ? alpha * m->cmu[c] + (1 - alpha) * m->mu[c] : m->mu[c];
}

/* Best patterns of every pricing class at the duals spi. */
static int price_all(cg_master *m)
{
    const vw_view *v = m->v;
    for (size_t c = 0; c < m->nc; c++) {
        if (m->price_src[c] != (int)c) continue;
        const vw_class *cl = &v->cls[c];
        /* Worth adding: value above the cheapest GPU price among classes sharing it. */
        double thr = INFINITY;
        for (size_t d = c; d < m->nc; d++)
            if (m->price_src[d] == (int)c) {
                double t = v->cls[d].price / v->cls[d].G - m->smu[d];
                if (t < thr) thr = t;
            }
        int n = 0;
        for (size_t j = 0; j < m->nk; j++) {
            size_t x = vw_ck(v, c, j);
            if (!v->ok[x] || m->spi[j] <= 1e-12) continue;
            double lim = v->kinds[j].spread ? 1 : ceil(m->d[j] - 1e-9);
            if (lim < 1) continue;
            m->items[n++] = (kp_item){(int)j, m->spi[j] / v->tp[x], v->w[x],
                                      lim > 1e9 ? 1000000000u : (uint32_t)lim};
        }
        int rc = kp_solve(&m->kw, m->items, n, cl->U, thr * (1 + 1e-9) + 1e-12, 0, &m->outs[c]);
        if (rc) return rc;
        m->kp_nodes += m->outs[c].nodes;
        if (!m->outs[c].exact) m->kp_inexact = true;
    }
    return 0;
}

/* Farley: the best theta for the scaled point theta x spi (capped classes absorb with mu). */
static double farley(const cg_master *m, double base)
{
    const vw_view *v = m->v;
    double tmax = INFINITY;
    for (size_t c = 0; c < m->nc; c++) {
        double vc = m->outs[m->price_src[c]].best_ub, cost = v->cls[c].price / v->cls[c].G;
        if (m->cap[c] < 0 && vc > 0 && cost / vc < tmax) tmax = cost / vc;
    }
    double best = -INFINITY;
    for (size_t k = 0; k <= m->nc; k++) {
        double th = tmax;
        if (k < m->nc) {
            double vc = m->outs[m->price_src[k]].best_ub;
            if (m->cap[k] < 0 || !(vc > 0)) continue;
            th = v->cls[k].price / v->cls[k].G / vc;
            if (th > tmax) continue;
        }
        if (!isfinite(th)) continue;
        double f = th * base;
        for (size_t c = 0; c < m->nc; c++) {
            if (m->cap[c] < 0) continue;
            double r = v->cls[c].price / v->cls[c].G - th * m->outs[m->price_src[c]].best_ub;
            if (r < 0) f += (m->cap[c] > 0 ? m->cap[c] : 0) * r;
        }
        if (f > best) best = f;
    }
    return best;
}

/* The bound at the duals priced at (see master.h). */
static double bound_here(const cg_master *m)
{
    const vw_view *v = m->v;
    double base = 0;
    for (size_t j = 0; j < m->nk; j++)
        base += m->spi[j] * (m->d[j] > 0 ? m->d[j] : 0);
    double lag = base;
    for (size_t c = 0; c < m->nc && isfinite(lag); c++) {
        const vw_class *cl = &v->cls[c];
        double cost = cl->price / cl->G;
        double rc = cost - m->smu[c] - m->outs[m->price_src[c]].best_ub;
        double capc = m->cap[c] > 0 ? m->cap[c] : 0;
        if (m->cap[c] >= 0) lag += m->smu[c] * capc;
        if (rc >= 0) continue;
        double k = m->cap[c] >= 0 ? capc : INFINITY;
        if (m->ub >= 0 && cost > 0 && (m->ub - m->fixed_cost) / cost < k)
            k = (m->ub - m->fixed_cost) / cost;
        lag = isinf(k) ? -INFINITY : lag + k * rc;
    }
    double far = farley(m, base);
    return far > lag ? far : lag;
}

/* Bytes a pattern leaves free on its GPU. */
static double waste(const cg_master *m, int cls, const cg_ent *e, int n)
{
    double used = 0;
    for (int k = 0; k < n; k++)
        used += (double)e[k].a * (double)m->v->w[vw_ck(m->v, (size_t)cls, (size_t)e[k].j)];
    return (double)m->v->cls[cls].U - used;
}

/* Adds the priced patterns whose reduced cost at the LP's own duals is negative. */
static int add_columns(cg_master *m, bool *added)
{
    const vw_view *v = m->v;
    *added = false;
    for (size_t c = 0; c < m->nc; c++) {
        if (m->cap[c] >= 0 && m->cap[c] < 1 - 1e-9) continue;
        const kp_out *o = &m->outs[m->price_src[c]];
        double cost = v->cls[c].price / v->cls[c].G - m->mu[c];
        for (int s = 0; s < o->nsol; s++) {
            double val = 0;
            for (int q = 0; q < o->sol[s].n; q++) {
                int j = o->sol[s].ent[q].id;
                val += m->pi[j] * o->sol[s].ent[q].a / v->tp[vw_ck(v, c, (size_t)j)];
            }
            if (val <= cost * (1 + 1e-9) + 1e-12) continue;
            cg_ent ent[KP_MAX_ENT];
            for (int q = 0; q < o->sol[s].n; q++)
                ent[q] = (cg_ent){o->sol[s].ent[q].id, o->sol[s].ent[q].a};
            if (m->waste_cap >= 0 && waste(m, (int)c, ent, o->sol[s].n) > m->waste_cap) continue;
            size_t before = m->npat;
            int r = cg_add_pattern(m, (int)c, ent, o->sol[s].n);
            if (r < 0) return r;
            if (m->npat > before) *added = true;
        }
    }
    return 0;
}

/* One pricing round at smoothed duals, retried with less smoothing while it misprices. Returns
 * the bound at the last duals priced. */
static int price_round(cg_master *m, bool *added, double *lb)
{
    *lb = -INFINITY;
    for (int k = 1;; k++) {
        double a = 1 - k * (1 - m->alpha);
        smooth(m, a);
        int rc = price_all(m);
        if (rc) return rc;
        double here = bound_here(m);
        if (here > *lb) *lb = here;
        if (m->root && here > -INFINITY && (!m->have_centre || here > m->bound)) {
            memcpy(m->cpi, m->spi, m->nk * sizeof *m->cpi);
            memcpy(m->cmu, m->smu, m->nc * sizeof *m->cmu);
            m->have_centre = true;
        }
        if (m->root && here > m->bound) m->bound = here;
        if ((rc = add_columns(m, added))) return rc;
        if (*added || a <= 0 || !m->have_centre || !m->root) return 0;
    }
}

typedef struct rc_col {
    double rc;
    int col;
} rc_col;

static int rc_desc(const void *a, const void *b)
{
    const rc_col *x = a, *y = b;
    return x->rc > y->rc ? -1 : x->rc < y->rc;
}

/* Keeps the LP small: when it holds more than 4 columns a row, the non-basic columns with the
 * largest reduced costs go (their patterns stay known and come back if priced again). Columns
 * after a deleted one move down, so the column-to-pattern map is rebuilt. */
static int prune_columns(cg_master *m)
{
    size_t rows = (size_t)lp_n_rows(m->lp), keep = 2 * rows + 200;
    if (m->active <= 4 * rows + 400) return 0;
    rc_col *v = malloc(m->active * sizeof *v);
    int *del = malloc(m->active * sizeof *del);
    int nv = 0, nd = 0, rc = v && del ? 0 : -ENOMEM;
    for (size_t t = 0; t < m->npat && !rc; t++) {
        int col = m->pats[t].col;
        if (col >= 0 && !lp_is_basic(m->lp, col))
            v[nv++] = (rc_col){lp_reduced_cost(m->lp, col), col};
    }
    if (!rc) qsort(v, (size_t)nv, sizeof *v, rc_desc);
    for (int k = 0; !rc && k < nv && m->active - (size_t)nd > keep && v[k].rc > -1e-9; k++)
        del[nd++] = v[k].col;
    if (!rc && nd) rc = lp_del_cols(m->lp, nd, del);
    if (!rc && nd) {
        int ncols = lp_n_cols(m->lp), *old = m->col_pat, shift = 0;
        bool *gone = calloc((size_t)(ncols + nd), 1);
        if (!gone) rc = -ENOMEM;
        for (int k = 0; !rc && k < nd; k++)
            gone[del[k]] = true;
        for (int c = 0; !rc && c < ncols + nd; c++) {
            int t = old[c];
            if (gone[c]) {
                shift++;
                if (t >= 0) m->pats[t].col = -1;
                continue;
            }
            old[c - shift] = t; /* in place: c - shift <= c */
            if (t >= 0) m->pats[t].col = c - shift; /* artificials come first: never move */
        }
        free(gone);
        m->active -= (size_t)nd;
    }
    free(v);
    free(del);
    return rc;
}

bool cg_waste_cap(cg_master *m, double cost)
{
    const vw_view *v = m->v;
    double cap = -1;
    bool plain = m->nc == 1 && isfinite(cost) && v->cls[0].price > 0;
    for (size_t j = 0; j < m->nk && plain; j++)
        plain = v->tp[vw_ck(v, 0, j)] == 1 && !v->kinds[j].spread;
    if (plain) {
        double pg = v->cls[0].price / v->cls[0].G, left = 0;
        for (size_t j = 0; j < m->nk; j++)
            if (m->d[j] > 0) left += m->d[j] * (double)v->w[vw_ck(v, 0, j)];
        double gpus = floor(cost / pg + 1e-9) - m->fixed_cost / pg;
        cap = gpus * (double)v->cls[0].U - left;
        if (cap < 0) cap = 0;
    }
    if (cap == m->waste_cap) return false;
    m->waste_cap = cap;
    m->rhs_changed = true;
    return true;
}

/* Below the root a column that covers more of a kind than the residual wants (pricing would
 * never make it: see price_all) is held at 0, so the residual LP is the residual problem's own
 * and the dive cannot fix a GPU whose room goes to replicas already placed. */
static int restrict_cols(cg_master *m)
{
    for (size_t t = 0; t < m->npat; t++) {
        cg_pat *pt = &m->pats[t];
        if (pt->col < 0) continue;
        bool off = m->waste_cap >= 0 && waste(m, pt->cls, &m->pool[pt->off], pt->n) > m->waste_cap;
        for (int k = 0; k < pt->n && !off; k++) {
            const cg_ent *en = &m->pool[pt->off + (size_t)k];
            off = (double)en->a > ceil(m->d[en->j] - 1e-9) + 1e-9;
        }
        if (off != pt->held && lp_set_col_bounds(m->lp, pt->col, 0, off ? 0 : -1))
            return VP_ESOLVER;
        pt->held = off;
    }
    return 0;
}

int cg_run(cg_master *m, bg_budget *b, int max_iter, vp_err *e)
{
    if (m->rhs_changed && restrict_cols(m))
        return vp_errf(e, VP_ESOLVER, "column generation: the master LP failed");
    for (int it = 0; it < max_iter; it++) {
        double obj;
        int rc = lp_solve(m->lp, b, m->rhs_changed, &obj); /* dual simplex after a fix */
        m->rhs_changed = false;
        m->lp_ok = rc == 0;
        if (rc == LP_STOPPED) return 0;
        if (rc) return vp_errf(e, VP_ESOLVER, "column generation: the master LP failed (%s)",
                               vp_strerror(rc));
        m->lp_obj = obj;
        m->iters++;
        read_duals(m);
        if ((rc = prune_columns(m))) return vp_errf(e, rc, "column generation: %s", vp_strerror(rc));
        bool added;
        double lb;
        if ((rc = price_round(m, &added, &lb)))
            return vp_errf(e, rc, "column generation: pricing failed (%s)", vp_strerror(rc));
        if (m->root) bg_note(b, NULL, -1, lp_round_up(m->bound, m->quantum), 0);
        m->local_lb = lb;
        if (!added) break;
        /* The rounded bound meets the LP (within a hair: the last fractions of a tail almost
         * never move a rounded bound, and cost many iterations): stop. */
        if (m->root && lp_round_up(m->bound, m->quantum) >= obj - 1e-6 * (1 + obj)) break;
        /* Below the root only a good LP is needed, not a converged one. */
        if (!m->root && obj - lb <= m->tol * (1 + obj)) break;
        if (bg_over(b)) break;
    }
    return 0;
}

/* ---------------------------------------------------------------- diving support */

int cg_fix(cg_master *m, int t, long copies)
{
    const cg_pat *pt = &m->pats[t];
    const vw_class *cl = &m->v->cls[pt->cls];
    for (int k = 0; k < pt->n; k++) {
        const cg_ent *en = &m->pool[pt->off + (size_t)k];
        double cover = (double)en->a * (double)copies /
                       (double)m->v->tp[vw_ck(m->v, (size_t)pt->cls, (size_t)en->j)];
        m->d[en->j] -= cover;
        if (lp_set_rhs(m->lp, en->j, m->d[en->j] > 1e-9 ? m->d[en->j] : 0)) return VP_ESOLVER;
    }
    if (m->cap[pt->cls] >= 0) {
        m->cap[pt->cls] -= (double)copies;
        double r = m->cap[pt->cls] > 0 ? m->cap[pt->cls] : 0;
        if (lp_set_rhs(m->lp, m->cap_row[pt->cls], r)) return VP_ESOLVER;
    }
    m->fixed_cost += cl->price / cl->G * (double)copies;
    m->rhs_changed = true;
    /* Below the root the exchanges go: the dive reads patterns, and a residual covered through
     * an exchange would have it fix patterns that cover nothing still wanted. */
    for (size_t k = 0; m->root && k < m->nx; k++)
        if (lp_set_col_bounds(m->lp, m->xcol[k], 0, 0)) return VP_ESOLVER;
    m->root = false;
    return 0;
}

double cg_value(const cg_master *m, int t)
{
    return m->pats[t].col < 0 ? 0 : lp_col(m->lp, m->pats[t].col);
}

bool cg_done(const cg_master *m)
{
    for (size_t j = 0; j < m->nk; j++)
        if (m->d[j] > 1e-6) return false;
    return true;
}

double cg_art_flow(const cg_master *m)
{
    double a = 0;
    for (size_t j = 0; j < m->nk; j++)
        a += lp_col(m->lp, m->art_col[j]);
    return a;
}

uint32_t cg_pat_count(const cg_master *m, int t, int j)
{
    const cg_pat *pt = &m->pats[t];
    for (int k = 0; k < pt->n; k++)
        if (m->pool[pt->off + (size_t)k].j == j) return m->pool[pt->off + (size_t)k].a;
    return 0;
}
