/* nodes.h - the whole-node master: columns are complete node layouts (units with their GPUs),
 * taken from plans we have and from greedy fills guided by the duals; GLPK then solves it as an
 * integer program for the cheapest set of nodes that covers every replica.
 *
 * GPU patterns price a node by the GPU, which is loose when a plan needs only a few large
 * nodes; node columns see whole nodes. Pipelined kinds are left to repair (stages of a replica
 * need distinct nodes, which a per-node column cannot see). */
#ifndef SOLVE_NODES_H
#define SOLVE_NODES_H

#include "master.h"

/* Builds the node master from the seeds (seeds[0], when complete, is the warm start) and the GPU
 * master's single-GPU patterns, and solves it within the budget, stopping at `bound`. *out gets
 * a partial plan (caller repairs and frees) or NULL when nothing was found. 0 or -ENOMEM. */
int nm_run(const cg_master *g, const place_plan *const *seeds, int nseeds, double bound,
           bg_budget *b, place_plan **out, vp_err *e);

#endif
