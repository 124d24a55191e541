/* colgen.h - the column-generation step of the anytime search: the root bound, then plans from
 * the master's columns (residual diving, whole-node master), each repaired and consolidated. */
#ifndef SOLVE_COLGEN_H
#define SOLVE_COLGEN_H

#include "state.h"

/* Runs within st's budget, raising st's bound and offering plans. 0 or a negative code (a
 * solver failure in an improvement step is not an error). */
int cgp_run(ss_state *st, vp_err *e);

#endif
