/* repack.h - a local-search move for bin-packing structure: take every single-GPU slice off a
 * few GPUs of one node type and pack them back exactly (subset sums), fullest first, so that the
 * room left gathers on one GPU, which empties when the others can take all of it. */
#ifndef SOLVE_REPACK_H
#define SOLVE_REPACK_H

#include <stdint.h>

#include "edit.h"

/* One move on x's plan with the random state *rng: picks a bin type, the least-filled GPU of it
 * (among the few least filled) and k - 1 others, and repacks their movable slices (TP 1, one
 * stage, not spread). Applied only when the target GPU ends up lighter. Returns 1 when the plan
 * changed, 0 when not, or -ENOMEM. */
int rp_move(ed_plan *x, uint64_t *rng, int k);

#endif
