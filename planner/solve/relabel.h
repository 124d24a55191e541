/* relabel.h - a fresh plan renamed and renumbered to look as much as possible like the plan that
 * runs, so that as few replicas as possible move. */
#ifndef SOLVE_RELABEL_H
#define SOLVE_RELABEL_H

#include "view.h"

/* Renames the bought nodes of `fresh` after nodes of `current` of the same type, permutes their
 * GPUs and the replica numbers, so that as many replicas as possible keep their slot. Greedy;
 * the result is a valid plan with the same cost. 0 or -ENOMEM. */
int rl_relabel(const vw_view *v, const place_plan *current, place_plan *fresh);

#endif
