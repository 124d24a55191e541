/* fill.h - repair: place every replica (stage) a plan lacks. */
#ifndef SOLVE_FILL_H
#define SOLVE_FILL_H

#include "edit.h"

/* Places every stage of every replica of the problem that the plan lacks: largest first, best
 * fit into nodes in use, else an idle node the plan has, else the type that costs least per unit
 * of this kind it can hold (within max_count). A replica that cannot be placed whole is taken
 * out entirely and listed unplaced with the reason; models that fit nowhere are listed with
 * theirs. The unplaced list is rebuilt. Placements of replicas the problem no longer wants are
 * left alone. 0 or -ENOMEM. */
int fl_fill(ed_plan *x, vp_err *e);

#endif
