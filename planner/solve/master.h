/* master.h - the column-generation master: a cover of every unit kind by GPU patterns, its LP
 * (GLPK through lp.h), pricing (knap.h) and a lower bound that is valid at every iteration.
 *
 * A column is a GPU pattern of a node class: how many slices of each kind one GPU holds. A
 * replica of TP t is t slices, so a slice covers 1/t replica. Minimise sum (price / GPUs) x
 * subject to covering every kind's demand and, for finite classes, at most (nodes x GPUs)
 * patterns. This relaxes the real problem (a replica's slices need not share a node, nodes need
 * not be whole; spread and pipeline rules are dropped), so any dual-feasible point bounds it.
 * One artificial column per kind, priced above any real cover, keeps the LP feasible when
 * capacity runs out; the bound never uses it.
 *
 * The bound at duals (pi, mu), with v_c the best pattern value of class c (the knapsack's upper
 * bound, exact when it finished): the Lagrangian pi.d + mu.cap + sum_c K_c min(0, rc_c), where
 * K_c bounds class c's patterns in an optimal solution (its capacity; for unlimited classes the
 * cost of a known complete plan over the GPU price, else no Lagrangian bound), and the Farley
 * bound max over theta of theta pi.d + sum_capped cap_c min(0, cost_c - theta v_c) with theta v_c
 * <= cost_c on unlimited classes (a scaled, always dual-feasible point that needs no plan). The
 * better of the two counts. Duals are smoothed toward the best-bound point (Wentges), falling
 * back to the LP's own when the smoothed ones price nothing out. */
#ifndef SOLVE_MASTER_H
#define SOLVE_MASTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "budget.h"
#include "knap.h"
#include "lp.h"
#include "view.h"

typedef struct cg_ent {
    int j;      /* kind */
    uint32_t a; /* slices on one GPU */
} cg_ent;

typedef struct cg_pat {
    int cls;
    int col;
    size_t off; /* entries in the pool */
    int n;
    uint64_t hash;
    bool held;  /* held at 0: it covers more of some kind than the residual wants */
} cg_pat;

typedef struct cg_master {
    const vw_view *v;
    lp_prob *lp;
    size_t nk, nc;
    double quantum;    /* prices' granularity (bounds round up to it) */
    double *d;         /* demand of each kind: the row's right-hand side (residual when diving) */
    double *cap;       /* GPUs of each class left, -1 unlimited */
    int *cap_row;      /* -1 when unlimited */
    int *price_src;    /* class whose pricing this one shares (same GPU and shapes) */
    double W;          /* artificial cost per replica */
    int *art_col;
    int *xcol;         /* exchange columns (dual-optimal inequalities), root only */
    size_t nx, capx;
    cg_pat *pats;
    size_t npat, cappat;
    size_t active;     /* patterns with an LP column (the rest were pruned) */
    cg_ent *pool;
    size_t npool, cappool;
    int *col_pat;      /* LP column -> pattern, -1 artificial */
    size_t capcol;
    uint64_t *htab;
    size_t hcap;
    double fixed_cost; /* patterns fixed by diving */
    double ub;         /* cost of a plan covering the full demand, < 0 unknown */
    bool root;         /* nothing fixed: bounds count */
    bool lp_ok;        /* the last LP solved to optimality */
    bool rhs_changed;  /* a fix since the last solve: re-solve with the dual simplex */
    double lp_obj;
    double bound;      /* best bound proven at the root (not rounded) */
    double local_lb;   /* bound on the residual at the last duals (below the root) */
    double *pi, *mu;   /* the LP's duals */
    double *spi, *smu; /* duals priced at (smoothed) */
    double *cpi, *cmu; /* stabilisation centre: duals of the best bound */
    bool have_centre;
    double alpha;      /* smoothing weight of the centre */
    double tol;        /* below the root: stop once the LP is this close (relative) to the bound */
    double waste_cap;  /* below the root: patterns leaving more bytes free held at 0; < 0 none */
    kp_out *outs;      /* per class pricing results */
    kp_item *items;
    kp_work kw;
    unsigned long kp_nodes;
    int iters;
    bool kp_inexact;   /* some pricing gave an upper bound only */
} cg_master;

/* demand (per kind, NULL = every replica) is copied. 0, -ENOMEM or VP_ESOLVER. */
int cg_init(cg_master *m, const vw_view *v, const uint32_t *demand, double quantum, vp_err *e);
void cg_free(cg_master *m);

/* Columns from a plan's GPUs, and one full GPU of each kind on each class. */
int cg_seed_plan(cg_master *m, const place_plan *plan);
int cg_seed_basic(cg_master *m);
/* Adds a pattern unless present. Returns its index or a negative code. */
int cg_add_pattern(cg_master *m, int cls, cg_ent *e, int n);

/* Column generation on the current residual until nothing prices out, max_iter, or the budget.
 * At the root every iteration may raise m->bound (and tells the budget). 0, or a negative code
 * (an LP failure is VP_ESOLVER; running out of budget is not an error). */
int cg_run(cg_master *m, bg_budget *b, int max_iter, vp_err *e);

/* Applies `copies` (negative: takes back) of pattern t to the residual demand, capacity and the
 * LP's right-hand sides; clears m->root. */
int cg_fix(cg_master *m, int t, long copies);
/* A cost to stay within (INFINITY: none). When every kind left is plain (TP 1, not spread) and
 * there is one class, a complete plan within it leaves at most (GPUs it may still buy) x U -
 * (bytes still wanted) free, so patterns that leave more are held at 0 and not priced in: a
 * tighter residual LP for diving toward that cost. Returns whether the cap changed. */
bool cg_waste_cap(cg_master *m, double cost);
/* Value of pattern t in the last LP solution. */
double cg_value(const cg_master *m, int t);
/* Residual demand met. */
bool cg_done(const cg_master *m);
/* Artificial flow in the last LP solution (> 0: capacity ran out). */
double cg_art_flow(const cg_master *m);
/* Slices of kind j on the pattern (0 when absent). */
uint32_t cg_pat_count(const cg_master *m, int t, int j);

#endif
