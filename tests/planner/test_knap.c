/* test_knap.c - the pricing knapsack: exact against brute force on random small instances (both
 * the dynamic programme and branch and bound), and when branch and bound runs out of nodes its
 * upper bound still covers the true optimum (which is what keeps column-generation bounds
 * valid). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "knap.h"

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(uint64_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng % n;
}

/* Best value by enumerating every count vector (tiny instances only). */
static double brute(const kp_item *it, int n, uint64_t cap, int i, double v)
{
    if (i == n) return v;
    double best = 0;
    for (uint32_t k = 0; k <= it[i].ub && k * it[i].w <= cap; k++) {
        double r = brute(it, n, cap - k * it[i].w, i + 1, v + k * it[i].v);
        if (r > best) best = r;
    }
    return best;
}

/* Value and weight of a solution, recomputed from the items. */
static void check_solution(const kp_item *it, int n, uint64_t cap, const kp_sol *s)
{
    double v = 0;
    uint64_t w = 0;
    for (int q = 0; q < s->n; q++) {
        int j = -1;
        for (int i = 0; i < n; i++)
            if (it[i].id == s->ent[q].id) j = i;
        if (j < 0) fail_msg("solution names item %d, not in the instance", s->ent[q].id);
        if (s->ent[q].a > it[j].ub) fail_msg("item %d taken %u times, at most %u", it[j].id,
                                             s->ent[q].a, it[j].ub);
        v += it[j].v * s->ent[q].a;
        w += it[j].w * s->ent[q].a;
    }
    if (w > cap) fail_msg("solution weighs %llu, capacity %llu", (unsigned long long)w,
                          (unsigned long long)cap);
    if (fabs(v - s->value) > 1e-9 * (1 + v)) fail_msg("solution says %.9g, is worth %.9g",
                                                       s->value, v);
}

static void run_random(bool big_weights, unsigned long node_limit, int trials)
{
    kp_work w = {0};
    for (int t = 0; t < trials; t++) {
        int n = 1 + (int)rnd(7);
        kp_item it[8], copy[8];
        uint64_t unit = big_weights ? 1000003 : 1, cap = (20 + rnd(40)) * unit + rnd(unit);
        for (int i = 0; i < n; i++)
            it[i] = (kp_item){i, 0.1 + (double)rnd(1000) / 100, (1 + rnd(25)) * unit + rnd(unit),
                              1 + (uint32_t)rnd(3)};
        memcpy(copy, it, sizeof it);
        double opt = brute(it, n, cap, 0, 0);
        kp_out o;
        assert_int_equal(kp_solve(&w, copy, n, cap, 0, node_limit, &o), 0);
        if (o.best_ub < opt - 1e-9 * (1 + opt))
            fail_msg("trial %d: upper bound %.9g below the optimum %.9g", t, o.best_ub, opt);
        if (o.exact && fabs(o.best_ub - opt) > 1e-9 * (1 + opt))
            fail_msg("trial %d: exact answer %.9g, optimum %.9g", t, o.best_ub, opt);
        for (int s = 0; s < o.nsol; s++)
            check_solution(it, n, cap, &o.sol[s]);
        if (o.exact && opt > 0 && (o.nsol == 0 || fabs(o.sol[0].value - opt) > 1e-9 * (1 + opt)))
            fail_msg("trial %d: best solution %.9g, optimum %.9g", t, o.nsol ? o.sol[0].value : 0,
                     opt);
    }
    kp_work_free(&w);
}

static void dynamic_programming_matches_brute_force(void **state)
{
    (void)state;
    run_random(false, 0, 3000);
}

static void branch_and_bound_matches_brute_force_on_byte_sizes(void **state)
{
    (void)state;
    run_random(true, 0, 3000);
}

static void an_exhausted_search_still_bounds_the_optimum(void **state)
{
    (void)state;
    run_random(true, 3, 3000); /* three nodes: almost every search gives up */
}

/* Values proportional to sizes (what bin-packing duals look like) over 200 distinct byte sizes:
 * the rounded-down grid bound keeps branch and bound small, and the answer fills the knapsack. */
static void proportional_values_over_distinct_sizes_are_solved_exactly(void **state)
{
    (void)state;
    kp_work w = {0};
    kp_item it[200];
    uint64_t cap = 80ULL << 30;
    for (int i = 0; i < 200; i++) {
        uint64_t size = cap / 20 + rnd(cap / 3);
        it[i] = (kp_item){i, (double)size / (double)cap * (1 + (double)rnd(100) / 1e5), size, 1};
    }
    kp_out o;
    assert_int_equal(kp_solve(&w, it, 200, cap, 0, 0, &o), 0);
    assert_true(o.nsol > 0);
    if (o.sol[0].value < 0.99) fail_msg("best %.6f, a knapsack this full should pass 0.99",
                                        o.sol[0].value);
    if (o.best_ub < o.sol[0].value) fail_msg("bound %.9g below a solution %.9g", o.best_ub,
                                             o.sol[0].value);
    kp_work_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dynamic_programming_matches_brute_force),
        cmocka_unit_test(branch_and_bound_matches_brute_force_on_byte_sizes),
        cmocka_unit_test(an_exhausted_search_still_bounds_the_optimum),
        cmocka_unit_test(proportional_values_over_distinct_sizes_are_solved_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
