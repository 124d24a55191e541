/* settle.h - what a plan's cost, bound, gap and status may say (the public plan_settle) and the
 * arithmetic around bounds: prices' granularity and the continuous bound. */
#ifndef SOLVE_SETTLE_H
#define SOLVE_SETTLE_H

#include "planner.h"

/* The largest of 1, 0.01, 0.001, 0.0001 that divides every price (0 when none does): every
 * plan's cost is a multiple of it, so a lower bound may be rounded up to it. */
double st_quantum(const plan_problem *p);
/* A lower bound rounded up to the prices' granularity. */
double st_round(const plan_problem *p, double bound);
/* Continuous bound for placing replicas[g] replicas of each group (NULL: all of them). */
double st_continuous(const plan_problem *p, const double *replicas);

#endif
