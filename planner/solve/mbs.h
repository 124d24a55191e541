/* mbs.h - minimum bin slack packing (Gupta and Ho; Fleszar and Hindi's MBS') for the part of a
 * plan that is plain bin packing: one-GPU nodes of one type holding only slices that may go
 * anywhere (TP 1, one stage, not spread). */
#ifndef SOLVE_MBS_H
#define SOLVE_MBS_H

#include "budget.h"
#include "edit.h"

/* For each such node type, repacks its slices bin by bin, each bin the largest slice left plus
 * the subset of the others that leaves the least room (an exact fill ends the search at once),
 * and keeps the result when it needs fewer nodes. *saved gets the nodes emptied. 0 or
 * -ENOMEM. */
int mbs_run(ed_plan *x, bg_budget *b, long *saved);

/* The packing itself: sizes w (decreasing, each at most C) into bins of capacity C, bin by bin
 * as above; bin_of[i] gets item i's bin (0, 1, ...). effort caps the search nodes of the whole
 * packing (0 = the default cap); past it the bins are closed greedily (largest item, then the
 * first that fit). b (may be NULL) bounds the time. The number of bins, or -1 when out of
 * memory. Pure otherwise. */
int mbs_pack(const uint64_t *w, int n, uint64_t C, int *bin_of, long effort, bg_budget *b);

/* As a local-search move: the two least-filled such nodes of a random type and k - 2 random
 * others are repacked the same way; applied when that needs fewer nodes, or as many with the
 * room gathered on fewer. 1 when the plan changed, 0 when not, or -ENOMEM. */
int mbs_move(ed_plan *x, uint64_t *rng, int k);

#endif
