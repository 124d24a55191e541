/* colip.c - the integer master over generated columns (see colip.h).
 *
 * Rows: one per kind, covered at least to its demand (a pattern covers a/tp replicas of a kind
 * it holds a slices of, as in the master's LP); one per finite class, at most its GPUs; one
 * holding the cost under the incumbent's. Columns: the patterns the master has seen, pruned ones
 * too (diving prunes columns the residual LP no longer wants; they belong to other parts of the
 * search tree), integer, priced per GPU. Past CI_COLS of them, those of least reduced cost at
 * the root's best-bound duals: the model stays small, and in the shape CBC solves silently
 * (lp_cbc.c: under 6,000 columns; with at most 64 kinds a pattern, under 500,000 elements). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "colip.h"

typedef struct ci_model {
    lp_model lm;
    char *sense, *kind;
    double *rhs, *cost, *lo, *hi;
    lp_triplets a;
} ci_model;

static void model_free(ci_model *c)
{
    free(c->sense);
    free(c->kind);
    free(c->rhs);
    free(c->cost);
    free(c->lo);
    free(c->hi);
    lp_triplets_free(&c->a);
}

/* Reduced cost of pattern t at the duals of the best bound (the LP's own before there is one). */
static double reduced_cost(const cg_master *m, size_t t)
{
    const double *pi = m->have_centre ? m->cpi : m->pi, *mu = m->have_centre ? m->cmu : m->mu;
    const cg_pat *pt = &m->pats[t];
    const vw_class *cl = &m->v->cls[pt->cls];
    double rc = cl->price / cl->G - (m->cap_row[pt->cls] >= 0 ? mu[pt->cls] : 0);
    for (int k = 0; k < pt->n; k++) {
        const cg_ent *en = &m->pool[pt->off + (size_t)k];
        rc -= pi[en->j] * (double)en->a /
              (double)m->v->tp[vw_ck(m->v, (size_t)pt->cls, (size_t)en->j)];
    }
    return rc;
}

typedef struct ranked {
    double rc;
    size_t t;
} ranked;

static int by_rc(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->rc != y->rc) return x->rc < y->rc ? -1 : 1;
    return x->t < y->t ? -1 : x->t > y->t;
}

/* The patterns the model takes (all, or the CI_COLS of least reduced cost), in cols[0..*n). */
static int pick(const cg_master *m, size_t *cols, size_t *n)
{
    *n = m->npat;
    if (m->npat <= CI_COLS) {
        for (size_t t = 0; t < m->npat; t++)
            cols[t] = t;
        return 0;
    }
    ranked *r = malloc(m->npat * sizeof *r);
    if (!r) return -ENOMEM;
    for (size_t t = 0; t < m->npat; t++)
        r[t] = (ranked){reduced_cost(m, t), t};
    qsort(r, m->npat, sizeof *r, by_rc);
    *n = CI_COLS;
    for (size_t i = 0; i < *n; i++)
        cols[i] = r[i].t;
    free(r);
    return 0;
}

static int build(const cg_master *m, const size_t *cols, size_t nc, double below, ci_model *c,
                 int *cap_row)
{
    const vw_view *v = m->v;
    size_t nr = m->nk + m->nc + 1;
    c->sense = malloc(nr + 1);
    c->rhs = malloc((nr + 1) * sizeof *c->rhs);
    c->kind = malloc(nc + 1);
    c->cost = malloc((nc + 1) * sizeof *c->cost);
    c->lo = calloc(nc + 1, sizeof *c->lo);
    c->hi = malloc((nc + 1) * sizeof *c->hi);
    if (!c->sense || !c->rhs || !c->kind || !c->cost || !c->lo || !c->hi) return -ENOMEM;
    int rows = 0;
    for (size_t j = 0; j < m->nk; j++)
        c->sense[rows] = 'G', c->rhs[rows++] = v->kinds[j].demand;
    for (size_t k = 0; k < m->nc; k++) {
        cap_row[k] = -1;
        if (v->cls[k].max_nodes < 0) continue;
        cap_row[k] = rows;
        c->sense[rows] = 'L', c->rhs[rows++] = (double)v->cls[k].max_nodes * v->cls[k].G;
    }
    int cost_row = -1;
    if (isfinite(below)) cost_row = rows, c->sense[rows] = 'L', c->rhs[rows++] = below;
    for (size_t t = 0; t < nc; t++) {
        const cg_pat *pt = &m->pats[cols[t]];
        const vw_class *cl = &v->cls[pt->cls];
        c->kind[t] = 'I';
        c->cost[t] = cl->price / cl->G;
        c->hi[t] = -1;
        for (int k = 0; k < pt->n; k++) {
            const cg_ent *en = &m->pool[pt->off + (size_t)k];
            double a = (double)en->a / (double)v->tp[vw_ck(v, (size_t)pt->cls, (size_t)en->j)];
            if (lp_triplets_add(&c->a, en->j, (int)t, a)) return -ENOMEM;
        }
        if (cap_row[pt->cls] >= 0 && lp_triplets_add(&c->a, cap_row[pt->cls], (int)t, 1))
            return -ENOMEM;
        if (cost_row >= 0 && lp_triplets_add(&c->a, cost_row, (int)t, c->cost[t])) return -ENOMEM;
    }
    c->lm = (lp_model){.n_rows = rows, .n_cols = (int)nc, .sense = c->sense, .rhs = c->rhs,
                       .cost = c->cost, .lo = c->lo, .hi = c->hi, .kind = c->kind,
                       .nnz = c->a.n, .row = c->a.row, .col = c->a.col, .val = c->a.val};
    return 0;
}

static int to_set(const cg_master *m, const size_t *cols, size_t nc, const double *x,
                  dv_set *out)
{
    out->n = 0;
    out->cost = 0;
    for (size_t t = 0; t < nc; t++) {
        long copies = lround(x[t]);
        if (copies <= 0) continue;
        if (vp_grow((void **)&out->v, &out->cap, out->n + 1, sizeof *out->v, 64)) return -ENOMEM;
        out->v[out->n++] = (dv_fix){(int)cols[t], copies};
        const vw_class *cl = &m->v->cls[m->pats[cols[t]].cls];
        out->cost += cl->price / cl->G * (double)copies;
    }
    return 0;
}

int ci_solve(const cg_master *m, bg_budget *b, double incumbent, double target, double lower,
             int variant, dv_set *out, vp_err *e)
{
    out->n = 0;
    if (!m->npat) return 0;
    ci_model c = {0};
    int *cap_row = malloc((m->nc + 1) * sizeof *cap_row);
    double *x = malloc((m->npat + 1) * sizeof *x);
    size_t *cols = malloc((m->npat + 1) * sizeof *cols), nc = 0;
    /* Only covers that beat the incumbent by a price step: as a row, not as CBC's cutoff (with
     * the row, CBC found Hard28's optima in 0.1 to 3.5 s; with the cutoff, none in 20 s). */
    double step = m->quantum > 0 ? m->quantum : 1e-6 * (1 + incumbent);
    double below = isfinite(incumbent) ? incumbent - step + 1e-9 * (1 + incumbent) : INFINITY;
    int rc = cap_row && x && cols ? pick(m, cols, &nc) : -ENOMEM;
    if (!rc) rc = build(m, cols, nc, below, &c, cap_row);
    lp_mip_result r = {0};
    if (!rc) {
        lp_mip_opts o = {.stop_at = target, .known_lower = lower, .quantum = m->quantum,
                         .variant = variant};
            rc = lp_mip_model(&c.lm, b, &o, x, &r);
    }
    if (!rc && r.found && (!isfinite(incumbent) || r.obj < incumbent))
        rc = to_set(m, cols, nc, x, out);
    model_free(&c);
    free(cap_row);
    free(x);
    free(cols);
    if (rc == -ENOMEM) return vp_errf(e, rc, "out of memory in the integer master");
    return rc;
}
