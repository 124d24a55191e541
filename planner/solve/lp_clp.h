/* lp_clp.h - the simplex of COIN-OR CLP behind the part of lp.h column generation uses: the only
 * code that calls CLP. lp.c dispatches to it for problems made with lp_new_fast when the build
 * found CLP (VP_HAVE_CLP); everything else stays on GLPK. */
#ifndef SOLVE_LP_CLP_H
#define SOLVE_LP_CLP_H

#include <stdbool.h>

typedef struct clp_prob clp_prob;

clp_prob *clp_new(void);
void clp_free(clp_prob *c);
int clp_add_row(clp_prob *c, char sense, double rhs);
int clp_add_col(clp_prob *c, double cost, double lo, double hi, int nnz, const int *rows,
                const double *vals);
int clp_set_rhs(clp_prob *c, int row, double rhs);
int clp_set_col_bounds(clp_prob *c, int col, double lo, double hi);
int clp_del_cols(clp_prob *c, int n, const int *cols);
/* 0 optimal, 1 infeasible, 2 out of time, -1 failed. */
int clp_solve(clp_prob *c, double seconds, bool dual, double *obj);
double clp_col(const clp_prob *c, int col);
double clp_dual(const clp_prob *c, int row);
double clp_reduced_cost(const clp_prob *c, int col);
bool clp_is_basic(const clp_prob *c, int col);

#endif
