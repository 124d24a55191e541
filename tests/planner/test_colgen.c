/* test_colgen.c - column-generation bounds never exceed a known optimum and are tight where the
 * theory says so; plans built from the columns are valid, never worse than the warm start, and
 * close to the bound on large fleets of few shapes. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "colip.h"
#include "master.h"
#include "solver_fixture.h"

#define GB 1000000000ULL

static place_plan *ffd_of(const plan_problem *p)
{
    place_plan *w = NULL;
    vp_err e = {0};
    assert_int_equal(plan_ffd(p, &w, &e), 0);
    return w;
}

/* The root bound of column generation, rounded as plans are settled (warm seeds columns and
 * gives the master an incumbent cost; may be NULL). */
static double bound_of(const plan_problem *p, const place_plan *warm)
{
    return fx_root_bound(p, warm, 60);
}

/* Triplets: every bin holds exactly three items filling it, so optimum = n/3 = the bound. */
static void triplet_bounds_equal_the_optimum_and_never_exceed_it(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        double opt;
    } inst[] = {{"Falkenauer_t60_00.txt", 20},
                {"Falkenauer_t60_01.txt", 20},
                {"Falkenauer_t120_00.txt", 40}};
    for (size_t i = 0; i < sizeof inst / sizeof inst[0]; i++) {
        fx *x = fx_bpp(inst[i].file);
        assert_non_null(x);
        place_plan *w = ffd_of(x->p);
        double b = bound_of(x->p, w);
        double b0 = bound_of(x->p, NULL); /* no incumbent to seed columns */
        assert_le(b, inst[i].opt);
        assert_near(b, inst[i].opt);
        assert_le(b0, inst[i].opt);
        place_plan_free(w);
        fx_free(x);
    }
}

/* Uniform and Scholl instances: the bound stays at or below the proven optimum, and above the
 * continuous bound it improves on (cutting-stock LP >= sum / C). */
static void bounds_on_uniform_and_scholl_instances_stay_below_the_optimum(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        double opt;
    } inst[] = {{"Falkenauer_u120_00.txt", 48}, {"N1C1W1_A.txt", 25}};
    for (size_t i = 0; i < sizeof inst / sizeof inst[0]; i++) {
        fx *x = fx_bpp(inst[i].file);
        assert_non_null(x);
        place_plan *w = ffd_of(x->p);
        double b = bound_of(x->p, w);
        assert_le(b, inst[i].opt);
        assert_le(plan_bound_continuous(x->p) - 1e-6, b);
        assert_le(inst[i].opt - 1, b); /* these sets have the round-up property */
        place_plan_free(w);
        fx_free(x);
    }
}

/* Variable-cost bin packing: several bin types with costs and availability. */
static void variable_cost_bounds_stay_below_proven_optima(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        double opt;
    } inst[] = {{"Crainic1_1_A_0_0.txt", 1280}, {"Hemmelmayr2_25_3_1_1.txt", 1350}};
    for (size_t i = 0; i < sizeof inst / sizeof inst[0]; i++) {
        fx *x = fx_vsbpp(inst[i].file);
        assert_non_null(x);
        place_plan *w = ffd_of(x->p);
        double b = bound_of(x->p, w);
        assert_le(b, inst[i].opt);
        assert_le(0.98 * inst[i].opt, b);
        place_plan_free(w);
        fx_free(x);
    }
}

/* Plans from the columns: the optimum on a triplet instance, with its proof. */
static void colgen_plans_a_triplet_instance_optimally(void **state)
{
    (void)state;
    fx *x = fx_bpp("Falkenauer_t60_01.txt");
    assert_non_null(x);
    place_plan *w = ffd_of(x->p), *o = NULL;
    o = fx_solve(x->p, PLAN_SOLVER_AUTO, 30);
    char why[256] = "";
    assert_int_equal(fx_plan_ok(x->p, o, why, sizeof why), 0);
    assert_true(w->cost_per_hour > 20.5);
    assert_near(o->cost_per_hour, 20);
    assert_string_equal(o->status, "optimal");
    place_plan_free(w);
    place_plan_free(o);
    fx_free(x);
}

/* 2,000 replicas of 20 shapes on 1-, 4- and 8-GPU types with TP-2 models among them: a valid
 * plan within 2% of the bound, never worse than FFD. */
static void a_large_fleet_of_few_shapes_is_planned_near_its_bound(void **state)
{
    (void)state;
    fx *x = fx_new();
    int a = fx_gpu(x, "A80", 80 * GB), l = fx_gpu(x, "L24", 24 * GB);
    fx_bin(x, "a-1", a, 1, 4.0, -1);
    fx_bin(x, "a-8", a, 8, 30.0, -1);
    fx_bin(x, "l-1", l, 1, 0.9, -1);
    fx_bin(x, "l-4", l, 4, 3.3, -1);
    uint64_t s = 12345;
    for (int i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%02d", i);
        int g = fx_model(x, name, 100, false, 1);
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t bytes = (2 + (s >> 33) % 60) * GB;
        const uint64_t one[] = {bytes}, half[] = {bytes / 2 + 1};
        for (size_t b = 0; b < x->p->n_bintypes; b++) {
            uint64_t cap = x->p->bintypes[b].usable_per_gpu;
            if (i % 5 == 4) { /* a TP-2 model */
                if (x->p->bintypes[b].n_gpus >= 2 && half[0] <= cap)
                    fx_shape(x, g, (int)b, 2, half);
            } else if (bytes <= cap) {
                fx_shape(x, g, (int)b, 1, one);
            }
        }
    }
    place_plan *w = ffd_of(x->p), *o = NULL;
    o = fx_solve(x->p, PLAN_SOLVER_AUTO, 20);
    char why[256] = "";
    if (fx_plan_ok(x->p, o, why, sizeof why)) fprintf(stderr, "%s\n", why);
    assert_int_equal(fx_plan_ok(x->p, o, why, sizeof why), 0);
    assert_le(o->cost_per_hour, w->cost_per_hour);
    assert_true(o->lower_bound_per_hour > 0);
    assert_le(o->lower_bound_per_hour, o->cost_per_hour);
    assert_le(o->cost_per_hour, 1.02 * o->lower_bound_per_hour);
    for (size_t k = 0; k < o->n_placements; k++)
        if (o->placements[k].n_gpus == 2)
            assert_int_not_equal(o->placements[k].gpus[0], o->placements[k].gpus[1]);
    place_plan_free(w);
    place_plan_free(o);
    fx_free(x);
}

/* Spread and pipelined models go through repair; the plan stays valid. */
static void spread_and_pipelined_models_survive_column_generation(void **state)
{
    (void)state;
    fx *x = fx_new();
    int gpu = fx_gpu(x, "G10", 10 * GB);
    fx_bin(x, "duo", gpu, 2, 2.0, -1);
    int s = fx_model(x, "spread", 6, true, 1);
    fx_shape_all(x, s, 1, 2 * GB);
    int p = fx_model(x, "pipe", 4, false, 3);
    fx_shape_all(x, p, 1, 7 * GB);
    int f = fx_model(x, "fill", 30, false, 1);
    fx_shape_all(x, f, 1, 3 * GB);
    place_plan *w = ffd_of(x->p), *o = NULL;
    o = fx_solve(x->p, PLAN_SOLVER_AUTO, 20);
    char why[256] = "";
    assert_int_equal(fx_plan_ok(x->p, o, why, sizeof why), 0);
    assert_le(o->cost_per_hour, w->cost_per_hour);
    for (size_t a = 0; a < o->n_placements; a++)
        for (size_t b = a + 1; b < o->n_placements; b++)
            if (!strcmp(o->placements[a].model, "spread") &&
                !strcmp(o->placements[b].model, "spread"))
                assert_int_not_equal(o->placements[a].node, o->placements[b].node);
    place_plan_free(w);
    place_plan_free(o);
    fx_free(x);
}

/* The `auto` path: FFD in, the best plan out, the bound beside it. */
static void optimize_returns_the_best_plan_with_its_bound(void **state)
{
    (void)state;
    fx *x = fx_vsbpp("Hemmelmayr2_25_3_1_1.txt");
    assert_non_null(x);
    place_plan *w = ffd_of(x->p), *o = NULL;
    o = fx_solve(x->p, PLAN_SOLVER_AUTO, 20);
    char why[256] = "";
    assert_int_equal(fx_plan_ok(x->p, o, why, sizeof why), 0);
    assert_near(o->cost_per_hour, 1350);
    assert_string_equal(o->status, "optimal");
    assert_le(o->lower_bound_per_hour, 1350);
    place_plan_free(w);
    place_plan_free(o);
    fx_free(x);
}

/* Degenerate inputs: nothing to place, nothing that fits, not enough inventory. */
static void optimize_handles_empty_unfit_and_short_fleets(void **state)
{
    (void)state;
    plan_options opt;
    plan_options_default(&opt);
    opt.time_limit_s = 5;
    vp_err e = {0};
    char why[256];
    /* no models at all */
    fx *x = fx_new();
    int gpu = fx_gpu(x, "G10", 10 * GB);
    fx_bin(x, "one", gpu, 1, 1.0, -1);
    place_plan *w = NULL, *o = NULL;
    assert_int_equal(plan_ffd(x->p, &w, &e), 0);
    o = fx_solve(x->p, PLAN_SOLVER_AUTO, opt.time_limit_s);
    assert_int_equal(o->n_placements, 0);
    assert_true(o->cost_per_hour == 0);
    assert_string_equal(o->status, "optimal");
    place_plan_free(w);
    place_plan_free(o);
    fx_free(x);
    /* a model that fits nowhere */
    x = fx_new();
    gpu = fx_gpu(x, "G10", 10 * GB);
    fx_bin(x, "one", gpu, 1, 1.0, -1);
    int g = fx_model(x, "huge", 2, false, 1);
    snprintf(x->p->groups[g].why_not, sizeof x->p->groups[g].why_not, "needs 20 GB per GPU");
    int ok = fx_model(x, "ok", 3, false, 1);
    fx_shape_all(x, ok, 1, 4 * GB);
    assert_int_equal(plan_ffd(x->p, &w, &e), 0);
    o = fx_solve(x->p, PLAN_SOLVER_AUTO, opt.time_limit_s);
    assert_int_equal(place_plan_validate(o, why, sizeof why), 0);
    assert_int_equal(o->n_placements, 3);
    assert_int_equal(o->n_unplaced, 2);
    assert_near(o->cost_per_hour, 2);
    assert_string_equal(o->status, "optimal"); /* optimal for what can be placed at all */
    place_plan_free(w);
    place_plan_free(o);
    fx_free(x);
    /* inventory too small for everything */
    x = fx_new();
    gpu = fx_gpu(x, "G10", 10 * GB);
    fx_inv(x, "a", "owned", gpu, 1, 0.5);
    fx_inv(x, "b", "owned", gpu, 1, 0.5);
    g = fx_model(x, "m", 5, false, 1);
    fx_shape_all(x, g, 1, 4 * GB);
    assert_int_equal(plan_ffd(x->p, &w, &e), 0);
    o = fx_solve(x->p, PLAN_SOLVER_AUTO, opt.time_limit_s);
    assert_int_equal(place_plan_validate(o, why, sizeof why), 0);
    assert_int_equal(o->n_placements, 4);
    assert_int_equal(o->n_unplaced, 1);
    assert_le(o->lower_bound_per_hour, o->cost_per_hour);
    place_plan_free(w);
    place_plan_free(o);
    fx_free(x);
}

/* Sizes 5 5 4 4 3 3 3 3 on GPUs of 10: first fit needs 4 GPUs (5+5, 4+4, 3+3+3, 3). With the
 * columns of a cover by 3 among the root's (5+5, 4+3+3 twice: the LP, degenerate here, need not
 * have priced them), the integer master finds it, every kind covered, and finds nothing when
 * asked to beat 3. */
static void the_integer_master_finds_the_cover_first_fit_misses(void **state)
{
    (void)state;
    fx *x = fx_new();
    int gpu = fx_gpu(x, "G10", 10 * GB);
    fx_bin(x, "g", gpu, 1, 1.0, -1);
    static const uint64_t size[] = {5, 5, 4, 4, 3, 3, 3, 3};
    for (int i = 0; i < 8; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%d", i);
        fx_shape_all(x, fx_model(x, name, 1, false, 1), 1, size[i] * GB);
    }
    place_plan *w = ffd_of(x->p);
    assert_near(w->cost_per_hour, 4);
    bg_budget b;
    vw_view v;
    cg_master m;
    fx_root(x->p, w, 60, &b, &v, &m);
    vp_err e = {0};
    static const int cover[3][3] = {{0, 1, -1}, {2, 4, 5}, {3, 6, 7}};
    for (int c = 0; c < 3; c++) {
        cg_ent ent[3];
        int n = 0;
        for (int k = 0; k < 3 && cover[c][k] >= 0; k++)
            for (size_t j = 0; j < v.nk; j++)
                if (v.kinds[j].group == (size_t)cover[c][k]) ent[n++] = (cg_ent){(int)j, 1};
        assert_true(cg_add_pattern(&m, 0, ent, n) >= 0);
    }
    dv_set set = {0};
    assert_int_equal(ci_solve(&m, &b, 4, 3, m.bound, 0, &set, &e), 0);
    assert_near(set.cost, 3);
    double covered[8] = {0};
    long gpus = 0;
    for (size_t i = 0; i < set.n; i++) {
        const cg_pat *pt = &m.pats[set.v[i].pat];
        gpus += set.v[i].copies;
        for (int k = 0; k < pt->n; k++)
            covered[m.pool[pt->off + (size_t)k].j] += (double)m.pool[pt->off + (size_t)k].a *
                                                      (double)set.v[i].copies;
    }
    assert_int_equal(gpus, 3);
    for (int j = 0; j < 8; j++)
        assert_le(1, covered[j]);
    /* Both settings of the branch and cut; nothing beats 3. */
    assert_int_equal(ci_solve(&m, &b, 3, 3, m.bound, 1, &set, &e), 0);
    assert_int_equal(set.n, 0);
    dv_set_free(&set);
    cg_free(&m);
    vw_free(&v);
    place_plan_free(w);
    fx_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(triplet_bounds_equal_the_optimum_and_never_exceed_it),
        cmocka_unit_test(bounds_on_uniform_and_scholl_instances_stay_below_the_optimum),
        cmocka_unit_test(variable_cost_bounds_stay_below_proven_optima),
        cmocka_unit_test(the_integer_master_finds_the_cover_first_fit_misses),
        cmocka_unit_test(colgen_plans_a_triplet_instance_optimally),
        cmocka_unit_test(a_large_fleet_of_few_shapes_is_planned_near_its_bound),
        cmocka_unit_test(spread_and_pipelined_models_survive_column_generation),
        cmocka_unit_test(optimize_returns_the_best_plan_with_its_bound),
        cmocka_unit_test(optimize_handles_empty_unfit_and_short_fleets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
