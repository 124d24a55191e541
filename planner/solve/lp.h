/* lp.h - linear and integer programs, solved by GLPK (and CLP for the column-generation master
 * when the build has it): the only code in vrampack that calls either, through lp.c.
 *
 * Rows and columns are 0-based. Row senses: 'G' (>= rhs), 'L' (<= rhs), 'E' (= rhs), 'F'
 * (free). A column's upper bound < 0 means none. Every solve takes a budget: the simplex gets
 * the time left as its limit, the branch and bound polls the budget from its callback, so a stop
 * request or the deadline ends either within one GLPK step. GLPK prints nothing (terminal
 * output off and a hook that swallows it, re-installed on every entry), and its fatal errors,
 * which would abort the process, longjmp back here and come out as VP_ESOLVER. Objects of one
 * thread's GLPK environment die with it when that happens; later calls on them fail cleanly.
 * One lp_prob per thread at a time in use; distinct threads are independent. */
#ifndef SOLVE_LP_H
#define SOLVE_LP_H

#include <stdbool.h>
#include <stddef.h>

#include "budget.h"

typedef struct lp_prob lp_prob;

#define LP_STOPPED 1 /* positive: the budget ran out before the solve finished */

/* NULL when out of memory or when GLPK fails. Free with lp_free (NULL ok). */
lp_prob *lp_new(const char *name);
/* An LP for repeated re-solves (column generation): CLP's simplex when the build has it, else
 * GLPK's. Only rows, columns, bounds, lp_solve and the solution readers work on it. */
lp_prob *lp_new_fast(const char *name);
void lp_free(lp_prob *lp);

/* Each returns the new index (>= 0) or a negative code. */
int lp_add_row(lp_prob *lp, char sense, double rhs);
int lp_add_col(lp_prob *lp, double cost, double lo, double hi, int nnz, const int *rows,
               const double *vals);
int lp_set_rhs(lp_prob *lp, int row, double rhs);
int lp_set_col_bounds(lp_prob *lp, int col, double lo, double hi);
/* 'C' continuous, 'I' integer, 'B' binary. */
int lp_set_kind(lp_prob *lp, int col, char kind);
int lp_set_col_name(lp_prob *lp, int col, const char *name);
int lp_n_cols(const lp_prob *lp);
/* Deletes n columns (0-based, distinct); the columns after each deleted one move down. */
int lp_del_cols(lp_prob *lp, int n, const int *cols);
/* Whether column col is basic in the last solution. */
bool lp_is_basic(const lp_prob *lp, int col);
int lp_n_rows(const lp_prob *lp);

/* A matrix as 0-based (row, column, value) triplets, grown as entries are added. */
typedef struct lp_triplets {
    int *row, *col;
    double *val;
    size_t n, cap;
} lp_triplets;

/* Appends one entry. 0 or -ENOMEM (the triplets stay as they were). */
int lp_triplets_add(lp_triplets *t, int row, int col, double v);
void lp_triplets_free(lp_triplets *t);

/* Loads a whole model at once into an empty problem: rows (sense, rhs), columns (cost, lo, hi,
 * kind), and nnz triplets (row, col, value), all 0-based. */
typedef struct lp_model {
    int n_rows, n_cols;
    const char *sense;
    const double *rhs;
    const double *cost, *lo, *hi;
    const char *kind;
    size_t nnz;
    const int *row, *col;
    const double *val;
} lp_model;
int lp_load(lp_prob *lp, const lp_model *m);

/* Writes the problem in CPLEX LP format. 0 or -EIO / VP_ESOLVER. */
int lp_write(lp_prob *lp, const char *path);

/* Simplex from the last basis (dual simplex when `dual`, good after right-hand sides change).
 * 0 optimal (*obj set); VP_ENOSPACE infeasible; LP_STOPPED out of budget; VP_ESOLVER. */
int lp_solve(lp_prob *lp, bg_budget *b, bool dual, double *obj);
double lp_col(const lp_prob *lp, int col);
double lp_dual(const lp_prob *lp, int row);
double lp_reduced_cost(const lp_prob *lp, int col);

/* Branch and bound over the integer columns. */
typedef struct lp_mip_opts {
    const double *warm;  /* a feasible point (n_cols values) to start from, or NULL */
    double stop_at;      /* stop once an incumbent costs this or less (-inf: never) */
    double quantum;      /* objective granularity (0 = none): a tree bound rounds up to it */
    double rel_gap;      /* relative gap at which to stop (0 = prove optimality) */
    double known_lower;  /* > 0: a lower bound on the objective known beforehand; with stop_at,
                          * lp_mip_model stops once the incumbent is within stop_at - known_lower
                          * of its tree's bound */
    int variant;         /* lp_mip_model with CBC: even ones search without cut generation, odd
                          * ones with (on Hard28's integer masters each way finds optima the
                          * other misses; without cuts more of them) */
} lp_mip_opts;

typedef struct lp_mip_result {
    bool found;          /* x holds an integer solution */
    bool optimal;        /* proven optimal (or met stop_at / the rounded tree bound) */
    double obj;
    double bound;        /* valid lower bound on the objective (-inf when none) */
    bool warm_taken;     /* GLPK accepted the warm start */
} lp_mip_result;

/* Solves the LP relaxation, then branches. x gets n_cols values when found. 0 (see r), or
 * VP_ESOLVER, -ENOMEM. Out of budget is not an error: r->found says what there is. */
int lp_mip(lp_prob *lp, bg_budget *b, const lp_mip_opts *o, double *x, lp_mip_result *r);

/* Branch and bound on a whole model given at once (lp_load's form): CBC's branch and cut when
 * the build has it (much faster on set-cover models over generated columns) and the model has
 * fewer than 6,000 columns or fewer than ten a row (see lp_cbc.c), else GLPK's. The
 * budget's time left is the limit; without a clock, a node limit in proportion to its ticks
 * keeps the result deterministic, and the nodes searched are charged to it. CBC cannot be
 * stopped once it runs (its own time limit ends it), so callers give it a share of their budget;
 * on a clock it runs in a thread of its own while the calling thread keeps polling the budget
 * (progress reports go on, a stop request is noted). warm and quantum apply to GLPK only. x gets n_cols values;
 * r->bound is this model's. 0 (see r), VP_ESOLVER or -ENOMEM. */
int lp_mip_model(const lp_model *m, bg_budget *b, const lp_mip_opts *o, double *x,
                 lp_mip_result *r);

/* Rounds v up to a multiple of quantum (0: v itself), forgiving floating-point noise. */
double lp_round_up(double v, double quantum);

#endif
