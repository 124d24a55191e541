/* budget.c - the solve's clock, deadline, progress reports and stop requests (see budget.h).
 *
 * The deadline is absolute on the caller's clock, so sub-budgets and the parent agree on it.
 * Progress goes to the callback at every poll: the caller decides how often to print (the CLI
 * prints once a second); polling is cheap next to the work between check points. */
#include <math.h>
#include <string.h>

#include "budget.h"

void plan_options_default(plan_options *o)
{
    memset(o, 0, sizeof *o);
    o->solver = PLAN_SOLVER_AUTO;
    o->time_limit_s = 10.0;
}

void bg_init(bg_budget *b, const plan_options *o)
{
    plan_options d;
    if (!o) {
        plan_options_default(&d);
        o = &d;
    }
    *b = (bg_budget){.clock = o->clock,
                     .clock_ctx = o->clock_ctx,
                     .limit_s = o->time_limit_s > 0 ? o->time_limit_s : 0,
                     .progress = o->progress,
                     .progress_ctx = o->progress_ctx,
                     .cost = -1,
                     .phase = "start"};
    b->t0_ms = b->clock ? b->clock(b->clock_ctx) : 0;
    b->deadline_ms = o->deadline_ms > 0 ? o->deadline_ms : b->t0_ms + b->limit_s * 1000;
    double ticks = b->limit_s * BG_TICKS_PER_S;
    b->tick_limit = ticks < 1 ? 1 : ticks > 1e12 ? (unsigned long)1e12 : (unsigned long)ticks;
}

void bg_sub(bg_budget *sub, bg_budget *parent, double share)
{
    *sub = *parent;
    sub->parent = parent;
    sub->stopped = parent->stopped;
    if (share < 0) share = 0;
    if (share > 1) share = 1;
    if (parent->clock) {
        double now = parent->clock(parent->clock_ctx);
        double left = parent->deadline_ms - now;
        sub->deadline_ms = left > 0 ? now + left * share : now;
    } else {
        unsigned long left = parent->tick_limit > parent->ticks ? parent->tick_limit - parent->ticks : 0;
        sub->tick_limit = parent->ticks + (unsigned long)((double)left * share);
    }
}

double bg_elapsed_ms(const bg_budget *b)
{
    return b->clock ? b->clock(b->clock_ctx) - b->t0_ms : 0;
}

double bg_spent_s(const bg_budget *b)
{
    return b->clock ? bg_elapsed_ms(b) / 1000 : (double)b->ticks / BG_TICKS_PER_S;
}

double bg_left_s(const bg_budget *b)
{
    if (b->stopped) return 0;
    if (b->clock) {
        double left = (b->deadline_ms - b->clock(b->clock_ctx)) / 1000;
        return left > 0 ? left : 0;
    }
    return b->tick_limit > b->ticks ? (double)(b->tick_limit - b->ticks) / BG_TICKS_PER_S : 0;
}

static void report(bg_budget *b)
{
    if (!b->progress) return;
    plan_progress pr = {.elapsed_s = bg_elapsed_ms(b) / 1000,
                        .cost_per_hour = b->cost,
                        .bound_per_hour = b->bound,
                        .gap = b->cost > 0 ? (b->cost - b->bound) / b->cost : 0,
                        .unplaced = b->unplaced,
                        .phase = b->phase};
    if (b->progress(&pr, b->progress_ctx)) {
        b->stopped = true;
        b->cancelled = true;
    }
}

bool bg_over(bg_budget *b)
{
    if (b->stopped) return true;
    if (b->parent) {
        b->ticks++;
        if (bg_over(b->parent)) b->stopped = true;
        else if (b->clock ? b->clock(b->clock_ctx) >= b->deadline_ms : b->ticks >= b->tick_limit)
            b->stopped = true;
        return b->stopped;
    }
    b->ticks++;
    if (b->clock ? b->clock(b->clock_ctx) >= b->deadline_ms : b->ticks >= b->tick_limit)
        b->stopped = true;
    report(b);
    return b->stopped;
}

void bg_note(bg_budget *b, const char *phase, double cost, double bound, size_t unplaced)
{
    if (b->parent) {
        bg_note(b->parent, phase, cost, bound, unplaced);
        return;
    }
    if (phase) b->phase = phase;
    if (cost >= 0) {
        b->cost = cost;
        b->unplaced = unplaced;
    }
    if (bound > b->bound) b->bound = bound;
    report(b);
}

void bg_phase(bg_budget *b, const char *phase)
{
    while (b->parent)
        b = b->parent;
    b->phase = phase;
}
