/* knap.h - bounded knapsack for pricing: which copies of which items fill one GPU for the most
 * value. Pure: no GLPK, no clock (effort is a node count).
 *
 * Exactness matters twice: a column that prices out must not be missed (or column generation
 * stops early), and the best value feeds the Lagrangian bound, which is only valid with the true
 * maximum or an upper bound on it. So every answer carries best_ub, an upper bound on the
 * optimum that equals it whenever the search finished (exact = true). Capacities that are small
 * in units of the weights' gcd (the classic benchmarks) go to dynamic programming; anything else
 * (byte sizes, all distinct) to depth-first branch and bound with the Dantzig bound, which ends
 * quickly because a GPU holds few items; when it runs out of nodes, best_ub is the largest bound
 * of the subtrees it did not visit. */
#ifndef SOLVE_KNAP_H
#define SOLVE_KNAP_H

#include <stdbool.h>
#include <stdint.h>

typedef struct kp_item {
    int id;      /* the caller's item number */
    double v;    /* value of one copy (> 0) */
    uint64_t w;  /* weight of one copy (> 0) */
    uint32_t ub; /* copies allowed */
} kp_item;

#define KP_MAX_ENT 64 /* distinct items in one solution (more are cut: still feasible) */
#define KP_MAX_SOLS 8 /* solutions kept: the best ones above the threshold */

typedef struct kp_ent {
    int id;
    uint32_t a;
} kp_ent;

typedef struct kp_sol {
    double value;
    int n;
    kp_ent ent[KP_MAX_ENT];
} kp_sol;

typedef struct kp_out {
    double best_ub;  /* upper bound on the optimum value */
    bool exact;      /* best_ub is the optimum */
    unsigned long nodes;
    int nsol;
    kp_sol sol[KP_MAX_SOLS]; /* value > thresh, best first after kp_solve */
} kp_out;

/* Scratch memory reused across calls (zero-initialise; free with kp_work_free). */
typedef struct kp_work {
    double *buf;
    size_t cap;
} kp_work;
void kp_work_free(kp_work *w);

/* Solves over items (reordered in place). Solutions worth more than thresh are kept; the search
 * may prune with thresh, so when nothing beats it best_ub is thresh (a valid upper bound).
 * node_limit caps branch and bound (0 = default). 0, or -ENOMEM. */
int kp_solve(kp_work *w, kp_item *items, int n, uint64_t cap, double thresh,
             unsigned long node_limit, kp_out *o);

#endif
