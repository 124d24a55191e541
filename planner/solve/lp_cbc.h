/* lp_cbc.h - COIN-OR CBC's branch and cut behind lp_mip_model (lp.h): the only code that calls
 * CBC. Built when the build finds it (VP_HAVE_CBC); without it cbc_mip says so and lp.c uses
 * GLPK's branch and bound instead. */
#ifndef SOLVE_LP_CBC_H
#define SOLVE_LP_CBC_H

#include <stdbool.h>

#include "lp.h"

typedef struct cbc_args {
    double seconds;  /* time limit (> 0) */
    long max_nodes;  /* branch-and-bound nodes (< 0: no limit) */
    double abs_gap;  /* stop once the incumbent is within this of the tree's bound */
    bool no_cuts;    /* no cut generation */
} cbc_args;

/* Whether the build has CBC. */
bool cbc_available(void);
/* Solves m (a fresh model each call; CBC prints nothing). x gets m->n_cols values when a
 * solution was found. 1 found, 0 none (*bound still set when known), -2 CBC missing or the model
 * of a shape CBC cannot solve silently (see lp_cbc.c), -1 CBC failed, -ENOMEM. *nodes gets the branch-and-bound nodes searched. */
int cbc_mip(const lp_model *m, const cbc_args *a, double *x, double *obj, double *bound,
            bool *optimal, long *nodes);

#endif
