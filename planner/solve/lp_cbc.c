/* lp_cbc.c - CBC's branch and cut (see lp_cbc.h).
 *
 * Measured on the integer master over the columns of Hard28's column generation (a few thousand
 * pattern columns, 160 to 200 rows): CBC found the optimum in 1 to 3 s where GLPK's branch and
 * bound took 2 to 20 s, or none within its limit. The model goes in as one column-major load;
 * log level 0 keeps CBC silent. */
#include "lp_cbc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef VP_HAVE_CBC
#include <coin/Cbc_C_Interface.h>
#include <float.h>
#include <string.h>

bool cbc_available(void)
{
    return true;
}

/* Row bounds from lp.h senses. */
static void row_bounds(const lp_model *m, double *lo, double *hi)
{
    for (int r = 0; r < m->n_rows; r++) {
        char s = m->sense[r];
        lo[r] = s == 'G' || s == 'E' ? m->rhs[r] : -DBL_MAX;
        hi[r] = s == 'L' || s == 'E' ? m->rhs[r] : DBL_MAX;
    }
}

/* Column-major copy of the triplets. */
static int to_csc(const lp_model *m, CoinBigIndex *start, int *index, double *value)
{
    int *fill = calloc((size_t)m->n_cols + 1, sizeof *fill);
    if (!fill) return -ENOMEM;
    for (size_t k = 0; k < m->nnz; k++)
        fill[m->col[k]]++;
    start[0] = 0;
    for (int c = 0; c < m->n_cols; c++)
        start[c + 1] = start[c] + fill[c], fill[c] = 0;
    for (size_t k = 0; k < m->nnz; k++) {
        int c = m->col[k];
        CoinBigIndex at = start[c] + fill[c]++;
        index[at] = m->row[k];
        value[at] = m->val[k];
    }
    free(fill);
    return 0;
}

static void set_param(Cbc_Model *cm, const char *name, double v, const char *fmt)
{
    char buf[64];
    snprintf(buf, sizeof buf, fmt, v);
    Cbc_setParameter(cm, name, buf);
}

static int load(Cbc_Model *cm, const lp_model *m)
{
    size_t nc = (size_t)m->n_cols, nr = (size_t)m->n_rows;
    CoinBigIndex *start = malloc((nc + 1) * sizeof *start);
    int *index = malloc((m->nnz + 1) * sizeof *index);
    double *value = malloc((m->nnz + 1) * sizeof *value);
    double *rlo = malloc((nr + 1) * sizeof *rlo), *rhi = malloc((nr + 1) * sizeof *rhi);
    double *chi = malloc((nc + 1) * sizeof *chi);
    int rc = start && index && value && rlo && rhi && chi ? 0 : -ENOMEM;
    if (!rc) rc = to_csc(m, start, index, value);
    if (!rc) {
        row_bounds(m, rlo, rhi);
        for (size_t c = 0; c < nc; c++)
            chi[c] = m->hi[c] < 0 ? DBL_MAX : m->hi[c];
        Cbc_loadProblem(cm, m->n_cols, m->n_rows, start, index, value, m->lo, chi, m->cost, rlo,
                        rhi);
        for (int c = 0; c < m->n_cols; c++)
            if (m->kind && m->kind[c] != 'C') Cbc_setInteger(cm, c);
    }
    free(start);
    free(index);
    free(value);
    free(rlo);
    free(rhi);
    free(chi);
    return rc;
}

/* CLP's root solve switches to its sprint method on long, thin models, and that code writes to
 * stdout (Debian's CLP 1.17): 6,000 columns or more and ten or more per row (8 per row past
 * 500,000 elements). Such models go to GLPK instead. */
static bool sprint_prone(const lp_model *m)
{
    if (m->nnz >= 500000) return (size_t)m->n_cols >= 8 * (size_t)m->n_rows;
    return m->n_cols >= 6000 && (size_t)m->n_cols >= 10 * (size_t)m->n_rows;
}

int cbc_mip(const lp_model *m, const cbc_args *a, double *x, double *obj, double *bound,
            bool *optimal, long *nodes)
{
    *optimal = false;
    *nodes = 0;
    *bound = -INFINITY;
    if (sprint_prone(m)) return -2;
    Cbc_Model *cm = Cbc_newModel();
    if (!cm) return -ENOMEM;
    int rc = load(cm, m);
    if (rc) {
        Cbc_deleteModel(cm);
        return rc;
    }
    Cbc_setLogLevel(cm, 0);
    Cbc_setParameter(cm, "log", "0");
    Cbc_setParameter(cm, "slog", "0");
    /* Measured on the integer masters of Hard28 (bench_solvers): without CBC's primal
     * heuristics and strong branching the optimum came 2 to 10 times sooner. */
    Cbc_setParameter(cm, "heur", "off");
    Cbc_setParameter(cm, "strong", "0");
    if (a->no_cuts) Cbc_setParameter(cm, "cuts", "off");
    Cbc_setParameter(cm, "sprint", "0");
    set_param(cm, "sec", a->seconds > 0.01 ? a->seconds : 0.01, "%.3f");
    if (a->max_nodes >= 0) Cbc_setMaximumNodes(cm, a->max_nodes > 2000000000L ? 2000000000 : (int)a->max_nodes);
    if (a->abs_gap > 0) Cbc_setAllowableGap(cm, a->abs_gap);
    int st = Cbc_solve(cm);
    const double *sol = Cbc_bestSolution(cm);
    rc = 0;
    if (st < 0 || Cbc_isAbandoned(cm)) rc = -1;
    else if (sol) {
        for (int c = 0; c < m->n_cols; c++)
            x[c] = sol[c];
        *obj = Cbc_getObjValue(cm);
        *optimal = Cbc_isProvenOptimal(cm) != 0;
        rc = 1;
    }
    *nodes = Cbc_getNodeCount(cm);
    double bb = Cbc_getBestPossibleObjValue(cm);
    if (isfinite(bb) && fabs(bb) < 1e30) *bound = bb;
    Cbc_deleteModel(cm);
    return rc;
}

#else

bool cbc_available(void)
{
    return false;
}

int cbc_mip(const lp_model *m, const cbc_args *a, double *x, double *obj, double *bound,
            bool *optimal, long *nodes)
{
    (void)m, (void)a, (void)x, (void)obj;
    *nodes = 0;
    *bound = -INFINITY;
    *optimal = false;
    return -2;
}

#endif
