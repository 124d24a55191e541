/* nodeloss.h - what losing one node of a plan costs (the N+1 analysis), and spare nodes that let
 * every single loss re-place without buying (nodeloss.c).
 *
 * For each node of a plan, the node is taken away (an inventory node leaves the fleet, a bought
 * one leaves the plan) and the solver's repair (plan_repair: nothing that still runs moves) places
 * the replicas that ran on it. A placement that lands on a node the plan already has is
 * "replaced" (spare room); one that lands on a node the repair had to add names that node's
 * instance type in needs_new_nodes; a replica the repair cannot place is unplaced. Only the lost
 * node's replicas are looked at (a replica the plan itself left unplaced is not the loss's doing).
 * Pure: time comes from the options' clock, if any; nothing is printed. */
#ifndef PLAN_NODELOSS_H
#define PLAN_NODELOSS_H

#include <stdbool.h>
#include <stddef.h>

#include "planner.h"
#include "report.h"

/* The analysis repairs the plan once per node in use, so its time grows with nodes x placements
 * (measured: 245 nodes of 600 placements 0.3 s, 2,475 nodes of 10,000 placements 47 s): callers
 * skip it, and spare nodes, above this many nodes in use. */
#define PLAN_NPLUS1_MAX_NODES 1000

/* Nodes of plan that host a placement. */
size_t plan_nodes_in_use(const place_plan *plan);

/* One entry per node of the plan, in plan order. Owns the strings the entries point to. */
typedef struct plan_nplus1 {
    plan_node_loss *loss;
    size_t n;
    char **str; /* every string of every entry, freed together */
    size_t n_str, cap_str;
} plan_nplus1;

/* Runs the analysis on every node of `plan` (solved for p). Each repair gets an equal share of
 * o->time_limit_s (o may be NULL: defaults); o's progress callback is not used. Fills *out
 * (release with plan_nplus1_free, also after a failure). Errors: out of memory, or a repair or
 * a fleet copy that fails (e filled). */
int plan_nplus1_analyse(const plan_problem *p, const place_plan *plan, const plan_options *o,
                        plan_nplus1 *out, vp_err *e);
void plan_nplus1_free(plan_nplus1 *x);

/* True when every node's loss re-places all its replicas into room the plan already has. */
bool plan_nplus1_survives(const plan_nplus1 *x);

/* Adds spare nodes (place_node.spare, paid and empty) to `plan` until the loss of any single node
 * re-places everything without buying: first the cheapest single purchasable type that does it,
 * else one spare of the lost node's own type for each failing type, checked again. Sets the plan's
 * status to "feasible" when spares make it cost more than its bound (the bound stays valid: it
 * is for plans without the N+1 requirement). *added receives the number of spares. VP_EINPUT
 * when no choice of spares within the catalog's max_count makes every loss survivable. */
int plan_add_spare_nodes(const plan_problem *p, place_plan *plan, const plan_options *o,
                         size_t *added, vp_err *e);

#endif
