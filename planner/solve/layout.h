/* layout.h - GPU patterns laid out on nodes: from a set of master columns to a (partial) plan. */
#ifndef SOLVE_LAYOUT_H
#define SOLVE_LAYOUT_H

#include "dive.h"

/* Adds every inventory node, then for each class as many nodes as its patterns fill (G
 * patterns a node, TP patterns first and copies side by side so a TP group's slices share a
 * node), and places on each node the units its GPUs can form: n units of kind j when the GPUs
 * hold at least tp x n slices with no GPU counted more than n times. Pipelined kinds and what
 * cannot form whole units are left for the repair step (fill.h). 0 or a negative code. */
int ly_build(const cg_master *m, const dv_set *set, place_plan *plan, vp_err *e);

#endif
