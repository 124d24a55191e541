/* test_solve_pack.c - plain bin packing through the solver: on GPUs cut into three pieces of
 * distinct byte sizes (the optimum known by construction, first-fit one or more GPUs over it)
 * the anytime solver without a clock finds the optimum, the same plan every time; minimum bin
 * slack (mbs_pack) with its effort used up still packs every item, as first-fit decreasing
 * does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbs.h"
#include "solver_fixture.h"

#define MAXN 512

static uint64_t rng;
static uint64_t rnd(uint64_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng % n;
}

static int desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* k bins of capacity C each cut into three pieces between C/5 and C/2, sorted decreasing. */
static int cut_bins(int k, uint64_t C, uint64_t *w)
{
    int n = 0;
    for (int b = 0; b < k; b++) {
        uint64_t x, y, z;
        do {
            x = C / 5 + rnd(C / 2 - C / 5);
            y = C / 5 + rnd(C / 2 - C / 5);
            z = C - x - y;
        } while (z < C / 5 || z > C / 2);
        w[n++] = x, w[n++] = y, w[n++] = z;
    }
    qsort(w, (size_t)n, sizeof *w, desc);
    return n;
}

/* First-fit decreasing (w sorted decreasing); the number of bins. */
static int ffd(const uint64_t *w, int n, uint64_t C, int *bin)
{
    uint64_t load[MAXN];
    int nb = 0;
    for (int i = 0; i < n; i++) {
        int b = 0;
        while (b < nb && load[b] + w[i] > C)
            b++;
        if (b == nb) load[nb++] = 0;
        load[b] += w[i];
        bin[i] = b;
    }
    return nb;
}

/* Every item in a bin 0..nb-1, none over capacity, every bin used. */
static void check_packing(const uint64_t *w, int n, uint64_t C, const int *bin, int nb)
{
    uint64_t load[MAXN] = {0};
    int used[MAXN] = {0};
    for (int i = 0; i < n; i++) {
        if (bin[i] < 0 || bin[i] >= nb) fail_msg("item %d in bin %d, bins are 0..%d", i, bin[i],
                                                 nb - 1);
        load[bin[i]] += w[i];
        used[bin[i]]++;
    }
    for (int b = 0; b < nb; b++) {
        if (load[b] > C) fail_msg("bin %d holds %llu, capacity %llu", b,
                                  (unsigned long long)load[b], (unsigned long long)C);
        if (!used[b]) fail_msg("bin %d of %d is empty", b, nb);
    }
}

static void minimum_bin_slack_out_of_effort_packs_like_first_fit(void **state)
{
    (void)state;
    uint64_t w[MAXN], C = 1u << 30;
    int bin[MAXN], ref[MAXN];
    rng = 4242;
    for (int t = 0; t < 20; t++) {
        int n = 10 + (int)rnd(300);
        for (int i = 0; i < n; i++)
            w[i] = 1 + rnd(C / 2);
        qsort(w, (size_t)n, sizeof *w, desc);
        int r = mbs_pack(w, n, C, bin, 1, NULL);
        check_packing(w, n, C, bin, r);
        int f = ffd(w, n, C, ref);
        if (r != f) fail_msg("trial %d: %d bins out of effort, first-fit decreasing %d", t, r, f);
        check_packing(w, n, C, bin, mbs_pack(w, n, C, bin, 0, NULL));
    }
}

/* k GPUs of C bytes cut into three distinct pieces each, as manifest and fleet text. */
static fx *cut_problem(int k, uint64_t C)
{
    static uint64_t w[MAXN];
    int n = cut_bins(k, C, w);
    size_t cap = (size_t)n * 96 + 512;
    char *man = malloc(cap), *fl = malloc(1024);
    size_t at = (size_t)snprintf(man, cap, "{\"models\": [");
    for (int i = 0; i < n; i++)
        at += (size_t)snprintf(man + at, cap - at,
                               "%s{\"name\": \"m%d\", \"memory_bytes\": %llu, \"replicas\": 1}",
                               i ? "," : "", i, (unsigned long long)w[i]);
    snprintf(man + at, cap - at, "]}");
    snprintf(fl, 1024,
             "{\"gpu_memory_utilization\": 1.0, \"gpu_models\": [{\"name\": \"G\", "
             "\"memory_bytes\": %llu}], \"catalog\": [{\"type\": \"g1\", \"gpus\": "
             "{\"G\": 1}, \"price_per_hour\": 1}]}",
             (unsigned long long)C);
    fx *x = fx_parse(man, fl);
    free(man);
    free(fl);
    return x;
}

static void diving_finds_the_cut_optimum_that_first_fit_misses(void **state)
{
    (void)state;
    int missed = 0;
    for (int s = 1; s <= 6; s++) {
        rng = 0x9E3779B97F4A7C15ULL * (uint64_t)s;
        int k = 30 + 5 * s;
        fx *x = cut_problem(k, 80ULL << 30);
        assert_non_null(x);
        place_plan *f = fx_solve(x->p, PLAN_SOLVER_FFD, 10);
        place_plan *a = fx_solve(x->p, PLAN_SOLVER_AUTO, 10);
        place_plan *b = fx_solve(x->p, PLAN_SOLVER_AUTO, 10);
        missed += f->cost_per_hour > k + 0.5;
        assert_near(a->cost_per_hour, k);
        assert_near(b->cost_per_hour, a->cost_per_hour);
        assert_int_equal(a->n_placements, b->n_placements);
        for (size_t i = 0; i < a->n_placements; i++) {
            assert_string_equal(a->placements[i].id, b->placements[i].id);
            assert_int_equal(a->placements[i].node, b->placements[i].node);
        }
        place_plan_free(f);
        place_plan_free(a);
        place_plan_free(b);
        fx_free(x);
    }
    if (missed < 3) fail_msg("first-fit missed the optimum on only %d of 6 instances", missed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(minimum_bin_slack_out_of_effort_packs_like_first_fit),
        cmocka_unit_test(diving_finds_the_cut_optimum_that_first_fit_misses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
