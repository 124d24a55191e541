/* test_solve.c - the anytime front door: without a clock the answer is the same every time; a
 * stop request from the progress callback ends the search with a settled plan; progress reports
 * carry a cost and a bound that only improve; the result is never worse than FFD's; and
 * plan_repair keeps every running replica exactly where it was after a node is lost. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "solver_fixture.h"

#define GIB (1ULL << 30)

/* 60 distinct sizes from 11% to 45% of a 10 GiB GPU at $1: FFD is not optimal here. */
static fx *distinct_sizes(void)
{
    fx *x = fx_new();
    int gpu = fx_gpu(x, "G10", 10 * GIB);
    fx_bin(x, "one", gpu, 1, 1, -1);
    uint64_t s = 12345;
    for (int i = 0; i < 60; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%02d", i);
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        int g = fx_model(x, name, 1, false, 1);
        fx_shape_all(x, g, 1, (11 * GIB) / 10 + (s >> 20) % (34 * GIB / 10));
    }
    return x;
}

static bool same_plan(const place_plan *a, const place_plan *b)
{
    if (a->n_placements != b->n_placements || a->n_nodes != b->n_nodes ||
        a->cost_per_hour != b->cost_per_hour || a->lower_bound_per_hour != b->lower_bound_per_hour)
        return false;
    for (size_t k = 0; k < a->n_placements; k++) {
        const place_placement *x = &a->placements[k], *y = &b->placements[k];
        if (strcmp(x->id, y->id) || strcmp(a->nodes[x->node].name, b->nodes[y->node].name) ||
            memcmp(x->gpus, y->gpus, (size_t)x->n_gpus))
            return false;
    }
    return true;
}

static void without_a_clock_the_same_input_gives_the_same_plan(void **state)
{
    (void)state;
    fx *x = distinct_sizes();
    place_plan *a = fx_solve(x->p, PLAN_SOLVER_AUTO, 1), *b = fx_solve(x->p, PLAN_SOLVER_AUTO, 1);
    if (!same_plan(a, b))
        fail_msg("two runs differ: $%.2f (bound %.2f) and $%.2f (bound %.2f)", a->cost_per_hour,
                 a->lower_bound_per_hour, b->cost_per_hour, b->lower_bound_per_hour);
    place_plan_free(a);
    place_plan_free(b);
    fx_free(x);
}

typedef struct seen {
    int calls, stop_after;
    double last_cost, last_bound;
    bool worse;
} seen;

static int watch(const plan_progress *pr, void *ctx)
{
    seen *s = ctx;
    s->calls++;
    if (pr->cost_per_hour >= 0 && s->last_cost >= 0 && pr->cost_per_hour > s->last_cost + 1e-9)
        s->worse = true;
    if (pr->bound_per_hour < s->last_bound - 1e-9) s->worse = true;
    if (pr->cost_per_hour >= 0) s->last_cost = pr->cost_per_hour;
    s->last_bound = pr->bound_per_hour;
    return s->stop_after > 0 && s->calls >= s->stop_after;
}

static void a_stop_request_returns_a_settled_plan_early(void **state)
{
    (void)state;
    fx *x = distinct_sizes();
    place_plan *ffd = NULL, *out = NULL;
    vp_err e = {0};
    assert_int_equal(plan_ffd(x->p, &ffd, &e), 0);
    seen s = {.stop_after = 5, .last_cost = -1};
    plan_options o;
    plan_options_default(&o);
    o.time_limit_s = 1000; /* only the stop request ends this */
    o.progress = watch;
    o.progress_ctx = &s;
    assert_int_equal(plan_solve(x->p, &o, &out, &e), 0);
    if (s.calls > 8) fail_msg("%d progress calls after asking to stop at the 5th", s.calls);
    char why[512];
    if (plan_check(x->p, out, why, sizeof why)) fail_msg("invalid plan: %s", why);
    assert_le(out->cost_per_hour, ffd->cost_per_hour);
    assert_false(s.worse);
    place_plan_free(ffd);
    place_plan_free(out);
    fx_free(x);
}

static void progress_only_ever_improves_and_the_result_beats_ffd(void **state)
{
    (void)state;
    fx *x = distinct_sizes();
    place_plan *ffd = NULL, *out = NULL;
    vp_err e = {0};
    assert_int_equal(plan_ffd(x->p, &ffd, &e), 0);
    seen s = {.last_cost = -1};
    plan_options o;
    plan_options_default(&o);
    o.time_limit_s = 2;
    o.progress = watch;
    o.progress_ctx = &s;
    assert_int_equal(plan_solve(x->p, &o, &out, &e), 0);
    assert_false(s.worse);
    assert_true(s.calls > 0);
    assert_le(out->cost_per_hour, ffd->cost_per_hour);
    assert_le(out->lower_bound_per_hour, out->cost_per_hour);
    assert_le(s.last_cost, ffd->cost_per_hour);
    place_plan_free(ffd);
    place_plan_free(out);
    fx_free(x);
}

/* Two inventory nodes hold four replicas; one node is lost: its two replicas move to a bought
 * node and the two on the surviving node stay exactly where they were. */
static void repair_keeps_every_running_replica_in_place(void **state)
{
    (void)state;
    fx *before = fx_new();
    int gpu = fx_gpu(before, "G10", 10 * GIB);
    int a = fx_inv(before, "a", "owned", gpu, 2, 0.5), b = fx_inv(before, "b", "owned", gpu, 2, 0.5);
    (void)a, (void)b;
    fx_bin(before, "one", gpu, 1, 1, -1);
    int g = fx_model(before, "m", 4, false, 1);
    fx_shape_all(before, g, 1, 6 * GIB);
    place_plan *cur = fx_solve(before->p, PLAN_SOLVER_AUTO, 1);
    assert_near(cur->cost_per_hour, 1); /* both owned nodes, nothing bought */
    /* The fleet without node "b". */
    fx *after = fx_new();
    gpu = fx_gpu(after, "G10", 10 * GIB);
    fx_inv(after, "a", "owned", gpu, 2, 0.5);
    fx_bin(after, "one", gpu, 1, 1, -1);
    g = fx_model(after, "m", 4, false, 1);
    fx_shape_all(after, g, 1, 6 * GIB);
    plan_options o;
    plan_options_default(&o);
    o.time_limit_s = 1;
    place_plan *out = NULL;
    plan_moves mv;
    vp_err e = {0};
    assert_int_equal(plan_repair(after->p, cur, &o, &out, &mv, &e), 0);
    char why[512];
    if (plan_check(after->p, out, why, sizeof why)) fail_msg("invalid plan: %s", why);
    assert_int_equal(out->n_unplaced, 0);
    assert_int_equal(mv.migrated_replicas, 0);
    int kept = 0;
    for (size_t k = 0; k < cur->n_placements; k++) {
        const place_placement *pl = &cur->placements[k];
        if (strcmp(cur->nodes[pl->node].name, "a")) continue;
        int q = place_plan_find(out, pl->id);
        assert_true(q >= 0);
        assert_string_equal(out->nodes[out->placements[q].node].name, "a");
        assert_memory_equal(out->placements[q].gpus, pl->gpus, (size_t)pl->n_gpus);
        kept++;
    }
    assert_int_equal(kept, 2);
    assert_near(out->cost_per_hour, 0.5 + 2); /* two bought nodes for the displaced replicas */
    assert_le(out->lower_bound_per_hour, out->cost_per_hour);
    plan_moves_free(&mv);
    place_plan_free(out);
    place_plan_free(cur);
    fx_free(before);
    fx_free(after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(without_a_clock_the_same_input_gives_the_same_plan),
        cmocka_unit_test(a_stop_request_returns_a_settled_plan_early),
        cmocka_unit_test(progress_only_ever_improves_and_the_result_beats_ffd),
        cmocka_unit_test(repair_keeps_every_running_replica_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
