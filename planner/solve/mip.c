/* mip.c - building, writing and solving the compact MIP (see mip.h).
 *
 * GLPK works without presolve so the warm start (the plan we have, as a column vector) is in
 * the original columns, with a time limit and a callback that stops the search once the
 * incumbent meets a bound proven elsewhere or its own tree bound rounded to the prices'
 * granularity. The bound it returns counts only when the incumbent places every placeable
 * replica: then no optimal plan pays an unplaced penalty either, and the objective is cost. */
#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lp.h"
#include "mip_int.h"
#include "settle.h"

size_t mip_size(const vw_view *v, const place_plan *warm)
{
    mip_args a = {.warm = warm, .max_moves = -1};
    mip_m m = {.v = v, .p = v->p, .a = &a};
    vp_err e = {0};
    size_t n = mm_layout(&m, &e) ? 0 : mm_estimate_cols(&m);
    mm_free(&m);
    return n;
}

static int load(const mip_m *m, lp_prob *lp, bool names)
{
    lp_model mod = {.n_rows = m->nrows, .n_cols = m->ncols, .sense = m->rsense, .rhs = m->rrhs,
                    .cost = m->cost, .lo = m->lo, .hi = m->hi, .kind = m->ctype, .nnz = m->trip.n,
                    .row = m->trip.row, .col = m->trip.col, .val = m->trip.val};
    int rc = lp_load(lp, &mod);
    if (rc || !names) return rc;
    char buf[64];
    for (size_t n = 0; n < m->ns && !rc; n++) {
        const mip_slot *s = &m->slots[n];
        snprintf(buf, sizeof buf, "y_%zu", n);
        rc = lp_set_col_name(lp, s->y, buf);
        for (size_t j = 0; j < m->nk && !rc; j++) {
            int zb = m->zbase[n * m->nk + j], mc = m->mcol[n * m->nk + j];
            if (mc >= 0) snprintf(buf, sizeof buf, "m_%zu_%zu", j, n), rc = lp_set_col_name(lp, mc, buf);
            for (int g = 0; zb >= 0 && !rc && g < m->p->bintypes[s->b].n_gpus; g++) {
                snprintf(buf, sizeof buf, "z_%zu_%zu_%d", j, n, g);
                rc = lp_set_col_name(lp, zb + g, buf);
            }
        }
    }
    for (size_t g = 0; g < m->p->n_groups && !rc; g++)
        if (m->ucol[g] >= 0)
            snprintf(buf, sizeof buf, "unplaced_%zu", g), rc = lp_set_col_name(lp, m->ucol[g], buf);
    for (size_t r = 0; r < m->npin && !rc; r++)
        snprintf(buf, sizeof buf, "stay_%zu", r), rc = lp_set_col_name(lp, m->pins[r].col, buf);
    return rc;
}

/* Size checks; writes the file when asked. 1 when the caller should stop there. */
static int size_and_export(mip_m *m, lp_prob *lp, vp_err *e)
{
    const mip_args *a = m->a;
    size_t est = mm_estimate_cols(m);
    if (a->export_lp && est > MIP_EXPORT_MAX_COLS)
        return vp_errf(e, VP_ETOOBIG,
                       "%s: the MIP would have %zu columns (%zu node slots x %zu unit kinds), over "
                       "the export limit of %d",
                       a->export_lp, est, m->ns, m->nk, MIP_EXPORT_MAX_COLS);
    bool too_big = est > MIP_MAX_COLS && !a->export_only;
    if (too_big && !a->export_lp)
        return vp_errf(e, VP_ETOOBIG,
                       "MIP: %zu columns (%zu node slots x %zu unit kinds) is over the limit of %d",
                       est, m->ns, m->nk, MIP_MAX_COLS);
    int rc = mm_build(m, e);
    if (!rc) rc = load(m, lp, a->export_lp != NULL);
    if (rc) return rc < 0 && rc != -ENOMEM ? vp_errf(e, rc, "MIP: GLPK refused the model") : rc;
    if (a->export_lp && (rc = lp_write(lp, a->export_lp)))
        return vp_errf(e, rc, "%s: cannot write the LP file", a->export_lp);
    if (too_big)
        return vp_errf(e, VP_ETOOBIG, "MIP: %zu columns is over the limit of %d (written to %s, "
                       "not solved)", est, MIP_MAX_COLS, a->export_lp);
    return a->export_only ? 1 : 0;
}

/* The solution as a plan, and what its bound proves. */
static int result(const mip_m *m, const double *x, const lp_mip_result *lr, mip_result *r,
                  vp_err *e)
{
    if (!lr->found) return 0;
    vp_err sub = {0};
    int rc = mx_plan(m, x, &r->plan, &sub);
    if (rc == -ENOMEM) return vp_errf(e, rc, "%s", sub.msg);
    if (rc) return 0; /* numerical trouble in the incumbent: no plan from here */
    place_plan_update_cost(r->plan);
    if (!vw_places_all(m->v, r->plan)) return 0;
    r->optimal = lr->optimal;
    r->bound = lr->bound > 0 ? lr->bound : 0;
    if (lr->optimal && lr->obj > r->bound) r->bound = lr->obj;
    return 0;
}

int mip_solve(const vw_view *v, const mip_args *a, bg_budget *b, mip_result *r, vp_err *e)
{
    mip_m m = {.v = v, .p = v->p, .a = a};
    *r = (mip_result){0};
    double *x = NULL, *warm = NULL;
    lp_prob *lp = lp_new("vrampack");
    int rc = lp ? mm_layout(&m, e) : vp_errf(e, VP_ESOLVER, "MIP: GLPK failed to start");
    if (!rc) rc = size_and_export(&m, lp, e);
    if (rc == 1) {
        rc = 0;
        goto out;
    }
    if (rc) goto out;
    x = calloc((size_t)m.ncols + 1, sizeof *x);
    warm = calloc((size_t)m.ncols + 1, sizeof *warm);
    if (!x || !warm) {
        rc = vp_errf(e, -ENOMEM, "out of memory");
        goto out;
    }
    bool have_warm = a->warm && mw_vector(&m, a->warm, warm);
    lp_mip_opts o = {.warm = have_warm ? warm : NULL,
                     .stop_at = a->known_bound > 0 ? st_round(v->p, a->known_bound) : -INFINITY,
                     .quantum = st_quantum(v->p)};
    lp_mip_result lr;
    rc = lp_mip(lp, b, &o, x, &lr);
    if (rc) {
        rc = vp_errf(e, rc, "MIP: GLPK failed (%s)", vp_strerror(rc));
        goto out;
    }
    rc = result(&m, x, &lr, r, e);
out:
    lp_free(lp);
    free(x);
    free(warm);
    mm_free(&m);
    return rc;
}
