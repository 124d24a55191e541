/* budget.h - time, progress and cancellation for one solve: the only place the solver unit
 * learns what time it is.
 *
 * A budget wraps the caller's clock and deadline, the progress callback and the best cost and
 * bound known so far. Every layer polls bg_over() at its check points (a column-generation
 * iteration, a dive node, a MIP callback, a local-search round); the first poll after the
 * deadline, or after the progress callback asked to stop, makes every later poll true too, so
 * the layers unwind with what they have. Without a clock, each poll counts one tick and the
 * budget is over after time_limit_s x BG_TICKS_PER_S ticks: effort stands in for time (a check
 * point is a few milliseconds of work on the benchmark machine) and results are deterministic.
 * Not thread-safe: one budget per solve. */
#ifndef SOLVE_BUDGET_H
#define SOLVE_BUDGET_H

#include <stdbool.h>
#include <stddef.h>

#include "planner.h"

#define BG_TICKS_PER_S 200.0

typedef struct bg_budget {
    struct bg_budget *parent;  /* a sub-budget polls and reports through its parent */
    plan_clock_fn clock;
    void *clock_ctx;
    double t0_ms, deadline_ms; /* on the clock's scale */
    double limit_s;            /* the time limit as given */
    unsigned long ticks, tick_limit;
    plan_progress_fn progress;
    void *progress_ctx;
    bool stopped;              /* deadline passed or the caller asked to stop */
    bool cancelled;            /* the caller asked (not the deadline) */
    double cost;               /* best plan's cost; < 0 none yet */
    double bound;              /* best proven bound */
    size_t unplaced;
    const char *phase;
} bg_budget;

/* From plan_options (NULL = defaults). The budget starts now. */
void bg_init(bg_budget *b, const plan_options *o);
/* A budget for a sub-step: `share` of what the parent has left (time, or ticks without a clock).
 * Its polls poll the parent too, so a stop request reaches it; its own deadline passing does not
 * stop the parent. Notes go to the parent. The parent must outlive it. */
void bg_sub(bg_budget *sub, bg_budget *parent, double share);
/* Milliseconds since the start (0 without a clock). */
double bg_elapsed_ms(const bg_budget *b);
/* Seconds spent since the start: on the clock, or without one the ticks counted so far scaled
 * back to seconds (the same scale bg_left_s uses). */
double bg_spent_s(const bg_budget *b);
/* Seconds left before the deadline (never negative); without a clock, the ticks left scaled
 * back to seconds. */
double bg_left_s(const bg_budget *b);
/* Polls: true once the deadline has passed or the caller asked to stop. */
bool bg_over(bg_budget *b);
/* Records the best plan's cost (cost < 0: unchanged) and a proven bound (kept when higher than
 * the one known), and tells the progress callback. */
void bg_note(bg_budget *b, const char *phase, double cost, double bound, size_t unplaced);
/* Sets the phase shown in progress reports. */
void bg_phase(bg_budget *b, const char *phase);

#endif
