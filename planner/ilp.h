/* ilp.h - the planner's exact and near-exact solvers: a GLPK MIP, column-generation bounds and
 * plans, and rebalancing under a migration budget.
 *
 * Three solvers share one picture of the problem. A replica of a model is P stage units (P = 1
 * unless pipelined); a unit on bin type b takes tp GPUs of one node with the same bytes on each.
 * - plan_ilp: the compact MIP (GLPK): which nodes to use, how many units of each model on every
 *   GPU, exact for TP groups, pipeline stages, spread and allow-lists; warm-started, time-limited,
 *   returns the incumbent as "feasible" when time runs out.
 * - plan_colgen: Gilmore-Gomory column generation over GPU patterns with a knapsack pricing step;
 *   its Lagrangian bound is valid at every iteration, and diving on the same columns (then repair
 *   and consolidation) builds plans for fleets far too large for the MIP.
 * - plan_rebalance: the cheapest plan reachable from a current one moving at most N replicas,
 *   with a make-before-break move order that never overcommits a GPU.
 * plan_optimize is what `plan --solver auto|ilp` runs: FFD's plan in, the best plan out with the
 * best proven bound. All of these are pure apart from reading a monotonic clock for time limits
 * and solve_ms, and writing the LP file they are handed. Safe on distinct objects from any
 * thread (GLPK keeps one environment per thread). */
#ifndef PLAN_ILP_H
#define PLAN_ILP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "placement.h"
#include "planner.h"
#include "vp.h"

/* ---- public ---- */

/* Solves the compact MIP with GLPK. `warm` (may be NULL) is a valid plan for p, injected as the
 * first incumbent. Stops after time_limit_s seconds and keeps the incumbent. export_lp (may be
 * NULL) receives the model in CPLEX LP format before solving. The new plan (caller frees) has
 * solver "ilp", status "optimal" or "feasible", lower_bound_per_hour (the best of the MIP's bound
 * and the continuous one), gap and solve_ms. VP_ETOOBIG when the model would exceed
 * PLAN_ILP_MAX_COLS columns (use plan_colgen; export_lp is still written when it is under
 * PLAN_ILP_EXPORT_MAX_COLS); VP_ESOLVER when GLPK fails. */
#define PLAN_ILP_MAX_COLS 20000
#define PLAN_ILP_AUTO_COLS 3000          /* plan_optimize runs the MIP only below this size */
#define PLAN_ILP_EXPORT_MAX_COLS 2000000 /* larger models are not written at all */
int plan_ilp(const plan_problem *p, const place_plan *warm, double time_limit_s,
             const char *export_lp, place_plan **out, vp_err *e);

/* Writes the compact MIP (warm only sizes the node slots; may be NULL) to path in CPLEX LP
 * format, without solving. */
int plan_ilp_export(const plan_problem *p, const place_plan *warm, const char *path, vp_err *e);

/* Column-generation lower bound on the cost of any plan that places every replica it can.
 * `warm` (may be NULL) seeds the columns and bounds node counts. Never above the optimum; 0 when
 * no valid bound was proven in time. */
int plan_colgen_bound(const plan_problem *p, const place_plan *warm, double time_limit_s,
                      double *bound, vp_err *e);

/* Plan from column generation: the LP, diving with limited discrepancy search over its columns,
 * layout on nodes, repair of the rest by best fit, consolidation, and (when that misses the
 * bound) an integer program over whole-node columns. A copy of `warm` when nothing beats it
 * (then its solver name is kept). Caller frees *out; solver "colgen", status "optimal" when the
 * cost meets the bound, else "feasible". */
int plan_colgen(const plan_problem *p, const place_plan *warm, double time_limit_s,
                place_plan **out, vp_err *e);

/* The `auto`/`ilp` path: starting from `warm` (normally FFD's plan), runs column generation and,
 * when the model is small enough, the MIP within o->time_limit_s in all, and returns the cheapest
 * plan with the best bound any method proved. o->export_lp is honoured. Caller frees *out. */
int plan_optimize(const plan_problem *p, const place_plan *warm, const plan_options *o,
                  place_plan **out, vp_err *e);

/* ---- rebalancing ---- */

typedef enum plan_move_kind {
    PLAN_MOVE_START,   /* a replica that did not run (new, or displaced from a lost node) */
    PLAN_MOVE_MIGRATE, /* a running replica moves: start it at `to`, then stop it at `from` */
    PLAN_MOVE_STOP,    /* a replica no longer wanted */
} plan_move_kind;

/* One step, for one placement (one pipeline stage of a replica). */
typedef struct plan_move {
    plan_move_kind kind;
    char id[PLACE_ID_MAX];
    char model[PLACE_NAME_MAX];
    uint32_t replica;
    int stage;                      /* -1 when not pipelined */
    char from_node[PLACE_NAME_MAX]; /* "" for START */
    uint8_t from_gpus[PLACE_MAX_GPUS];
    int n_from_gpus;
    char to_node[PLACE_NAME_MAX]; /* "" for STOP */
    uint8_t to_gpus[PLACE_MAX_GPUS];
    int n_to_gpus;
    uint64_t bytes_per_gpu; /* at the destination (STOP: at the source) */
    /* $/hour the running fleet costs less once this step is done (negative when the step brings
     * a node into use). The steps' savings add up to current cost - new cost. */
    double saves_per_hour;
    /* Set only when migrations form a cycle with no room to start any of them first: a STOP
     * step with the flag stops a migrating replica early, and its MIGRATE step later carries the
     * flag too (its old placement is already gone). */
    bool break_before_make;
} plan_move;

typedef struct plan_moves {
    plan_move *v;
    size_t n, cap;
    size_t migrated_replicas;       /* running replicas among MIGRATE steps: what max_moves caps */
    double cost_before, cost_after; /* $/hour */
} plan_moves;

/* The cheapest plan for p that moves at most max_moves running replicas of `current` (-1 = no
 * limit; 0 = only place what is new, unplaced or displaced). A replica of current counts as
 * running when all its stages sit on nodes that still exist in p with its footprint unchanged;
 * others are displaced and re-placed for free. *out (caller frees) reuses current's node names;
 * `moves` (caller frees with plan_moves_free) lists the steps in make-before-break order:
 * stops of removed replicas, then starts and migrations as soon as their target GPUs have room.
 * time_limit_s bounds the search (a MIP for small fleets, heuristics otherwise). */
int plan_rebalance(const plan_problem *p, const place_plan *current, long max_moves,
                   double time_limit_s, place_plan **out, plan_moves *moves, vp_err *e);

/* Move list from `from` to `to` (nodes matched by name) in make-before-break order. */
int plan_moves_build(const plan_problem *p, const place_plan *from, const place_plan *to,
                     plan_moves *out, vp_err *e);

/* Running replicas of `current` that sit elsewhere (any stage on another node or GPUs) in
 * `next`: the quantity max_moves caps. */
size_t plan_count_migrations(const plan_problem *p, const place_plan *current,
                             const place_plan *next);

void plan_moves_free(plan_moves *m);
/* {"moves": [...], "migrated_replicas": N, "cost_before": X, "cost_after": Y}. Caller frees;
 * NULL when out of memory. */
char *plan_moves_to_json(const plan_moves *m);

/* ---- shared by ilp.c, colgen.c and rebalance.c; not part of the planner's public face ---- */

/* Monotonic clock in milliseconds (for time limits and solve_ms only). */
double plan_now_ms(void);

/* Group whose model is named `model`, or -1. Binary search over a sorted name index built by
 * plan_names_new (caller frees with free()). */
typedef struct plan_names {
    size_t n;
    struct plan_name_ent {
        const char *name;
        size_t group;
    } * ent;
} plan_names;
int plan_names_new(const plan_problem *p, plan_names *out);
int plan_names_find(const plan_names *nm, const char *model);
void plan_names_free(plan_names *nm);

/* Appends an empty node of bin type b named "<type>-<n>" with the lowest n not in use. */
int plan_add_fresh_node(const plan_problem *p, place_plan *plan, size_t b);

/* Places every replica (stage) of p that `plan` lacks and is not listed unplaced for a reason
 * that still holds: best fit into open nodes, else buys the node type with the lowest price per
 * unit it can hold. Replicas that fit nowhere are added to plan->unplaced with the reason.
 * Placements for replicas p no longer wants are left alone (the caller decides). */
int plan_fill_missing(const plan_problem *p, place_plan *plan, vp_err *e);

/* Local search that never raises cost: empties nodes by moving their placements into room on
 * other nodes, and rebuys a node as a cheaper type that holds all of it. With `origin` (may be
 * NULL), moving a replica that still sits where origin had it spends one unit of *budget (NULL =
 * unlimited); stops at deadline_ms (plan_now_ms scale; 0 = none). Drops idle bought nodes. */
int plan_consolidate(const plan_problem *p, place_plan *plan, const place_plan *origin,
                     long *budget, double deadline_ms);

/* Rounds a bound up to the next cost a plan can have when every price is a multiple of one cent
 * (or of 1 for integer prices), with a tolerance for floating-point noise. */
double plan_round_bound(const plan_problem *p, double bound);

/* Sets cost, gap (from plan->lower_bound_per_hour) and status ("optimal" when the cost meets the
 * bound and nothing is unplaced that could be placed, else `otherwise`). */
void plan_finish(const plan_problem *p, place_plan *plan, const char *solver, const char *otherwise,
                 double t0_ms);

/* plan_colgen that also hands back the bound it proved (0 when none). */
int plan_colgen_run(const plan_problem *p, const place_plan *warm, double time_limit_s,
                    place_plan **out, double *bound, vp_err *e);

/* Running replicas of a current plan (rebalance): all stages present, on nodes that still exist
 * in p, with the footprint p gives them there. */
typedef struct plan_cur_rep {
    size_t group;
    uint32_t replica;
    int n_stages;
    size_t pl[PLAN_MAX_PP]; /* index into current->placements, per stage */
} plan_cur_rep;
/* *reps is allocated (caller frees with free()); replicas p no longer wants are left out. */
int plan_current_scan(const plan_problem *p, const place_plan *current, plan_cur_rep **reps,
                      size_t *n, vp_err *e);

/* The MIP with everything it can take. */
typedef struct plan_ilp_args {
    const place_plan *warm;    /* incumbent to start from (may be NULL) */
    const place_plan *current; /* rebalance: its running replicas may stay put (may be NULL) */
    long max_moves;            /* with current: running replicas that may move; -1 = any */
    double time_limit_s;
    const char *export_lp; /* write the model here first (may be NULL) */
    bool export_only;      /* write and return, out untouched */
    double known_bound;    /* a bound proven elsewhere: stop once the incumbent meets it */
} plan_ilp_args;
int plan_ilp_run(const plan_problem *p, const plan_ilp_args *a, place_plan **out, vp_err *e);

/* GLPK behind a small LP interface, so that ilp.c stays the one file that calls GLPK.
 * Rows and columns are 0-based. Row senses: 'G' (>= lo), 'L' (<= hi), 'E' (= lo), 'F' (free). */
typedef struct plan_lp plan_lp;
plan_lp *plan_lp_new(const char *name);
void plan_lp_free(plan_lp *lp);
int plan_lp_add_row(plan_lp *lp, char sense, double rhs);
int plan_lp_set_rhs(plan_lp *lp, int row, double rhs);
/* Returns the column index or a negative code. hi < 0 means no upper bound. */
int plan_lp_add_col(plan_lp *lp, double cost, double lo, double hi, int nnz, const int *rows,
                    const double *vals);
int plan_lp_set_col_bounds(plan_lp *lp, int col, double lo, double hi);
int plan_lp_n_cols(const plan_lp *lp);
/* Solves the LP from the last basis. 0 = optimal; VP_ENOSPACE = infeasible; VP_ESOLVER else. */
int plan_lp_solve(plan_lp *lp, double *obj);
double plan_lp_col(const plan_lp *lp, int col);
double plan_lp_dual(const plan_lp *lp, int row);
int plan_lp_set_integer(plan_lp *lp, int col);
/* Solves with the integer columns integral, from `warm` (n_cols values, may be NULL), stopping at
 * the time limit or once an incumbent costs stop_at or less. x (n_cols) gets the best solution
 * found. 0 = found one (*optimal says whether proven); VP_ENOSPACE = none; VP_ESOLVER. */
int plan_lp_mip(plan_lp *lp, const double *warm, double time_limit_s, double stop_at, double *x,
                double *obj, bool *optimal);

#endif
