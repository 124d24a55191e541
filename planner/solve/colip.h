/* colip.h - the integer master over the columns column generation and diving have generated
 * (price and branch): a set cover of every kind's demand by GPU patterns, capacity rows for
 * finite classes, integer copies, solved by branch and cut (lp_mip_model). Where the LP bound is
 * tight and diving keeps missing the last GPU (Hard28), the columns often hold an optimal cover
 * already: branch and cut finds it in a second or two. */
#ifndef SOLVE_COLIP_H
#define SOLVE_COLIP_H

#include "dive.h"

/* Columns of the model at most: past this, the patterns of least reduced cost at the root's
 * best-bound duals (see colip.c for why 5,000). */
#define CI_COLS 5000

/* Fills out with the cheapest cover found that costs less than incumbent (INFINITY: any),
 * stopping early at target (the rounded bound); lower is the proven bound. out stays empty when
 * none was found. variant picks the branch and cut's settings (lp_mip_opts): successive calls
 * should vary it. The master is only read. 0, or a negative code (a solver failure is
 * VP_ESOLVER). */
int ci_solve(const cg_master *m, bg_budget *b, double incumbent, double target, double lower,
             int variant, dv_set *out, vp_err *e);

#endif
