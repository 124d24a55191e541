/* test_bound.c - no bound is ever above the optimum, and no plan ever claims one.
 *
 * A property test: thousands of random small problems with capped instance types, inventory
 * nodes, allow-lists, TP-2 models and mixed GPU sizes, each solved to proven optimality by the
 * compact MIP; then the column-generation bound at the root (with and without a known plan), the
 * continuous bound and the bound every solver reports are compared with that optimum. Plus the
 * small instance where an earlier version proved $277 for a problem whose optimum is $201, and
 * the one place that settles a plan refusing a bound above its cost instead of clipping it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "master.h"
#include "solver_fixture.h"

#define GIB (1ULL << 30)

/* The root bound of column generation, rounded (warm: a plan for the incumbent cost, may be
 * NULL). */
static double cg_bound(const plan_problem *p, const place_plan *warm)
{
    return fx_root_bound(p, warm, 30);
}

/* The optimum by the MIP (generous effort); false when it did not prove one or does not place
 * everything (then there is nothing to compare with). */
static bool proven_optimum(const plan_problem *p, double *opt)
{
    place_plan *warm = NULL;
    vp_err e = {0};
    if (plan_ffd(p, &warm, &e)) fail_msg("plan_ffd: %s", e.msg);
    plan_options o;
    plan_options_default(&o);
    o.time_limit_s = 60;
    bg_budget b;
    bg_init(&b, &o);
    vw_view v;
    assert_int_equal(vw_init(&v, p), 0);
    mip_args a = {.warm = warm, .max_moves = -1};
    mip_result r;
    int rc = mip_solve(&v, &a, &b, &r, &e);
    if (rc) fail_msg("mip_solve: %s", e.msg);
    bool ok = r.plan && r.optimal && vw_places_all(&v, r.plan);
    if (ok) *opt = r.plan->cost_per_hour;
    place_plan_free(r.plan);
    place_plan_free(warm);
    vw_free(&v);
    return ok;
}

static uint64_t rng;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11) % n;
}

/* A random problem: 1-2 GPU sizes, 1-4 bin types (some capped, some inventory), 1-4 models with
 * allow-lists, sizes in GiB, an occasional TP-2 model. */
static fx *random_problem(void)
{
    fx *x = fx_new();
    int ngpu = 1 + (int)rnd(2);
    int gpus[2];
    for (int i = 0; i < ngpu; i++) {
        char name[8];
        snprintf(name, sizeof name, "G%d", i);
        gpus[i] = fx_gpu(x, name, (8 + rnd(9)) * GIB);
    }
    int nb = 1 + (int)rnd(4);
    for (int i = 0; i < nb; i++) {
        char name[16];
        int gpu = gpus[rnd((uint32_t)ngpu)], n = 1 + (int)rnd(2);
        double price = 1 + rnd(10) + (rnd(2) ? 0 : 0.5);
        if (rnd(4) == 0) {
            snprintf(name, sizeof name, "inv%d", i);
            fx_inv(x, name, "owned", gpu, n, price);
        } else {
            snprintf(name, sizeof name, "t%d", i);
            fx_bin(x, name, gpu, n, price, rnd(2) ? -1 : (int)rnd(4));
        }
    }
    int nm = 1 + (int)rnd(4);
    for (int i = 0; i < nm; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%d", i);
        int g = fx_model(x, name, 1 + rnd(4), rnd(6) == 0, 1);
        uint64_t bytes[PLAN_MAX_PP] = {(1 + rnd(8)) * GIB};
        bool tp2 = rnd(5) == 0;
        for (size_t b = 0; b < x->p->n_bintypes; b++) {
            const plan_bintype *bt = &x->p->bintypes[b];
            if (rnd(4) == 0) continue; /* not on the allow-list */
            uint32_t tp = tp2 && bt->n_gpus >= 2 ? 2 : 1;
            if (bytes[0] <= bt->usable_per_gpu) fx_shape(x, g, (int)b, tp, bytes);
        }
    }
    return x;
}

static void bounds_never_exceed_the_proven_optimum_on_random_problems(void **state)
{
    (void)state;
    rng = 0x9E3779B97F4A7C15ULL;
    int compared = 0;
    for (int trial = 0; trial < 3000; trial++) {
        fx *x = random_problem();
        double opt;
        if (!proven_optimum(x->p, &opt)) {
            fx_free(x);
            continue;
        }
        compared++;
        place_plan *ffd = NULL;
        vp_err e = {0};
        assert_int_equal(plan_ffd(x->p, &ffd, &e), 0);
        double with_plan = cg_bound(x->p, ffd), without = cg_bound(x->p, NULL);
        if (with_plan > opt + 1e-9 || without > opt + 1e-9 ||
            plan_bound_continuous(x->p) > opt + 1e-9 || ffd->lower_bound_per_hour > opt + 1e-9)
            fail_msg("trial %d: optimum %.4f, column generation %.4f (with a plan) %.4f "
                     "(without), continuous %.4f, FFD's %.4f",
                     trial, opt, with_plan, without, plan_bound_continuous(x->p),
                     ffd->lower_bound_per_hour);
        if (trial % 10 == 0) { /* the whole solver, settled, on a tenth of them */
            place_plan *a = fx_solve(x->p, PLAN_SOLVER_AUTO, 0.2);
            assert_le(a->lower_bound_per_hour, opt);
            assert_le(opt, a->cost_per_hour);
            place_plan_free(a);
        }
        place_plan_free(ffd);
        fx_free(x);
    }
    printf("compared %d of 3000 random problems with their proven optimum\n", compared);
    if (compared < 1500) fail_msg("only %d problems had a proven optimum to compare", compared);
}

/* One capped $1 node, a $100 type with max_count 2, 10 GiB GPUs; 6 replicas of 3 GiB and 6 of
 * 2 GiB (30 GiB: the $1 node and both $100 ones). The optimum is $201. */
static void a_capped_cheap_node_does_not_lift_the_bound_above_the_optimum(void **state)
{
    (void)state;
    fx *x = fx_new();
    int gpu = fx_gpu(x, "G10", 10 * GIB);
    fx_bin(x, "cheap", gpu, 1, 1, 1);
    fx_bin(x, "dear", gpu, 1, 100, 2);
    int a = fx_model(x, "three", 6, false, 1), b = fx_model(x, "two", 6, false, 1);
    fx_shape_all(x, a, 1, 3 * GIB);
    fx_shape_all(x, b, 1, 2 * GIB);
    double opt;
    assert_true(proven_optimum(x->p, &opt));
    assert_near(opt, 201);
    assert_le(cg_bound(x->p, NULL), 201);
    place_plan *ffd = NULL;
    vp_err e = {0};
    assert_int_equal(plan_ffd(x->p, &ffd, &e), 0);
    assert_le(cg_bound(x->p, ffd), 201);
    place_plan *o = fx_solve(x->p, PLAN_SOLVER_AUTO, 2);
    assert_near(o->cost_per_hour, 201);
    assert_le(o->lower_bound_per_hour, 201);
    place_plan_free(o);
    place_plan_free(ffd);
    fx_free(x);
}

/* Settling refuses a bound above the cost: an internal error, and the plan is left as it was. */
static void settling_a_bound_above_the_cost_is_an_error_not_a_clip(void **state)
{
    (void)state;
    fx *x = fx_new();
    int gpu = fx_gpu(x, "G10", 10 * GIB);
    fx_bin(x, "one", gpu, 1, 1, -1);
    int g = fx_model(x, "m", 3, false, 1);
    fx_shape_all(x, g, 1, 4 * GIB);
    place_plan *plan = NULL;
    vp_err e = {0};
    assert_int_equal(plan_ffd(x->p, &plan, &e), 0);
    assert_near(plan->cost_per_hour, 2);
    double before = plan->lower_bound_per_hour;
    char status[sizeof plan->status];
    memcpy(status, plan->status, sizeof status);
    assert_int_equal(plan_settle(x->p, plan, 2.5, "feasible", &e), VP_ESOLVER);
    assert_non_null(strstr(e.msg, "above"));
    assert_near(plan->lower_bound_per_hour, before);
    assert_string_equal(plan->status, status);
    /* A bound that meets the cost proves the plan optimal. */
    assert_int_equal(plan_settle(x->p, plan, 1.2, "feasible", &e), 0);
    assert_near(plan->lower_bound_per_hour, 2); /* rounds up to whole dollars */
    assert_string_equal(plan->status, "optimal");
    place_plan_free(plan);
    fx_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_capped_cheap_node_does_not_lift_the_bound_above_the_optimum),
        cmocka_unit_test(settling_a_bound_above_the_cost_is_an_error_not_a_clip),
        cmocka_unit_test(bounds_never_exceed_the_proven_optimum_on_random_problems),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
