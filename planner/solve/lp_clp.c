/* lp_clp.c - CLP's simplex for the column-generation master (see lp_clp.h).
 *
 * Measured on the generated distinct-size families (bench_solvers): a master LP with a few
 * hundred rows and a thousand columns re-solves in a fraction of the time GLPK needs, because
 * CLP keeps its factorisation and pricing weights between calls while glp_simplex rebuilds them
 * on every call. Log level 0: CLP prints nothing. Rows are 'G', 'L', 'E' or 'F' like lp.h. */
#include "lp_clp.h"

#ifdef VP_HAVE_CLP
#include <coin/Clp_C_Interface.h>
#include <float.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

struct clp_prob {
    Clp_Simplex *m;
    int rows, cols;
    bool trivial; /* the last solve had no rows or no columns: CLP was not called */
};

/* CLP allocates its work arrays at the start of every solve and frees them at the end; with
 * glibc's defaults each free trims the heap and the next solve faults the pages back in. Keeping
 * up to 64 MiB of freed heap (once per process) doubled the dive nodes per second on Hard28
 * (bench_solvers, 160-row masters). */
static void keep_heap(void)
{
#ifdef __GLIBC__
    static bool done;
    if (done) return;
    done = true;
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    mallopt(M_TOP_PAD, 16 << 20);
#endif
}

clp_prob *clp_new(void)
{
    keep_heap();
    clp_prob *c = calloc(1, sizeof *c);
    if (!c || !(c->m = Clp_newModel())) {
        free(c);
        return NULL;
    }
    Clp_setLogLevel(c->m, 0);
    Clp_setOptimizationDirection(c->m, 1);
    return c;
}

void clp_free(clp_prob *c)
{
    if (!c) return;
    Clp_deleteModel(c->m);
    free(c);
}

static void bounds_of(char sense, double rhs, double *lo, double *hi)
{
    *lo = sense == 'G' || sense == 'E' ? rhs : -DBL_MAX;
    *hi = sense == 'L' || sense == 'E' ? rhs : DBL_MAX;
}

int clp_add_row(clp_prob *c, char sense, double rhs)
{
    double lo, hi;
    bounds_of(sense, rhs, &lo, &hi);
    CoinBigIndex start[2] = {0, 0};
    Clp_addRows(c->m, 1, &lo, &hi, start, NULL, NULL);
    return c->rows++;
}

int clp_add_col(clp_prob *c, double cost, double lo, double hi, int nnz, const int *rows,
                const double *vals)
{
    double up = hi < 0 ? DBL_MAX : hi;
    CoinBigIndex start[2] = {0, nnz};
    Clp_addColumns(c->m, 1, &lo, &up, &cost, start, rows, vals);
    return c->cols++;
}

/* Bounds go through the change calls (not the arrays CLP hands out) so that CLP knows. */
static int set_pair(Clp_Simplex *m, int n, const double *lo0, const double *hi0, int k, double lo,
                    double hi, bool rows)
{
    double *lo1 = malloc((size_t)n * sizeof *lo1), *hi1 = malloc((size_t)n * sizeof *hi1);
    if (!lo1 || !hi1) {
        free(lo1);
        free(hi1);
        return -1;
    }
    for (int i = 0; i < n; i++)
        lo1[i] = lo0[i], hi1[i] = hi0[i];
    lo1[k] = lo;
    hi1[k] = hi;
    if (rows) {
        Clp_chgRowLower(m, lo1);
        Clp_chgRowUpper(m, hi1);
    } else {
        Clp_chgColumnLower(m, lo1);
        Clp_chgColumnUpper(m, hi1);
    }
    free(lo1);
    free(hi1);
    return 0;
}

int clp_set_rhs(clp_prob *c, int row, double rhs)
{
    const double *lo = Clp_rowLower(c->m), *hi = Clp_rowUpper(c->m);
    /* Keep the row's sense: only finite sides move. */
    return set_pair(c->m, c->rows, lo, hi, row, lo[row] > -DBL_MAX ? rhs : lo[row],
                    hi[row] < DBL_MAX ? rhs : hi[row], true);
}

int clp_set_col_bounds(clp_prob *c, int col, double lo, double hi)
{
    return set_pair(c->m, c->cols, Clp_columnLower(c->m), Clp_columnUpper(c->m), col, lo,
                    hi < 0 ? DBL_MAX : hi, false);
}

int clp_del_cols(clp_prob *c, int n, const int *cols)
{
    Clp_deleteColumns(c->m, n, cols);
    c->cols -= n;
    return 0;
}

int clp_solve(clp_prob *c, double seconds, bool dual, double *obj)
{
    c->trivial = c->rows == 0 || c->cols == 0;
    if (c->trivial) { /* CLP does not take empty problems: every column at 0 */
        const double *lo = Clp_rowLower(c->m);
        for (int i = 0; i < c->rows; i++)
            if (lo[i] > 1e-9) return 1;
        if (obj) *obj = 0;
        return 0;
    }
    Clp_setMaximumSeconds(c->m, seconds > 0.001 ? seconds : 0.001);
    if (dual)
        Clp_dual(c->m, 0);
    else
        Clp_primal(c->m, 0);
    int st = Clp_status(c->m);
    if (obj) *obj = Clp_objectiveValue(c->m);
    return st == 0 ? 0 : st == 1 ? 1 : st == 3 ? 2 : -1;
}

double clp_col(const clp_prob *c, int col)
{
    if (c->trivial) return 0;
    return Clp_getColSolution(c->m)[col];
}

double clp_dual(const clp_prob *c, int row)
{
    if (c->trivial) return 0;
    return Clp_dualRowSolution(c->m)[row];
}

double clp_reduced_cost(const clp_prob *c, int col)
{
    if (c->trivial) return 0;
    return Clp_getReducedCost(c->m)[col];
}

bool clp_is_basic(const clp_prob *c, int col)
{
    if (c->trivial) return false;
    return Clp_getColumnStatus(c->m, col) == 1;
}

#else /* no CLP in this build: lp_new_fast falls back to GLPK and never calls these */

clp_prob *clp_new(void)
{
    return NULL;
}
void clp_free(clp_prob *c)
{
    (void)c;
}
int clp_add_row(clp_prob *c, char sense, double rhs)
{
    (void)c, (void)sense, (void)rhs;
    return -1;
}
int clp_add_col(clp_prob *c, double cost, double lo, double hi, int nnz, const int *rows,
                const double *vals)
{
    (void)c, (void)cost, (void)lo, (void)hi, (void)nnz, (void)rows, (void)vals;
    return -1;
}
int clp_set_rhs(clp_prob *c, int row, double rhs)
{
    (void)c, (void)row, (void)rhs;
    return -1;
}
int clp_set_col_bounds(clp_prob *c, int col, double lo, double hi)
{
    (void)c, (void)col, (void)lo, (void)hi;
    return -1;
}
int clp_del_cols(clp_prob *c, int n, const int *cols)
{
    (void)c, (void)n, (void)cols;
    return -1;
}
int clp_solve(clp_prob *c, double seconds, bool dual, double *obj)
{
    (void)c, (void)seconds, (void)dual, (void)obj;
    return -1;
}
double clp_col(const clp_prob *c, int col)
{
    (void)c, (void)col;
    return 0;
}
double clp_dual(const clp_prob *c, int row)
{
    (void)c, (void)row;
    return 0;
}
double clp_reduced_cost(const clp_prob *c, int col)
{
    (void)c, (void)col;
    return 0;
}
bool clp_is_basic(const clp_prob *c, int col)
{
    (void)c, (void)col;
    return false;
}
#endif
