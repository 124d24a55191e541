/* test_model.c - the decode model on a CPU slice: the bytes each step reads follow the sequences'
 * lengths (and match kern_decode_bytes_per_step at a pinned context), finished sequences are
 * recycled through the KV pool, results are deterministic, every dtype runs, and a slice too small
 * for the shape is refused before anything is filled. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kern.h"

static const kern_shape small = {2, 256, 512, 4, 2, 64, 1000, KERN_FP16};

static kern_model *open_model(kern_slice **s, kern_shape sh, uint32_t batch, uint32_t context,
                              uint64_t seed, uint64_t slice_bytes)
{
    vp_err e = {0};
    kern_model *m = NULL;
    assert_int_equal(kern_slice_open(KERN_REQ_CPU, slice_bytes, s, &e), 0);
    int rc = kern_model_open(*s, &sh, batch, context, seed, &m, &e);
    if (rc) print_error("%s\n", e.msg);
    assert_int_equal(rc, 0);
    return m;
}

static void step_bytes_follow_lengths_and_finished_sequences_restart(void **state)
{
    (void)state;
    kern_slice *s;
    /* a pool of exactly 2 x 3 blocks: recycling must return blocks or the pool runs dry */
    kern_layout L;
    assert_int_equal(kern_layout_plan(&small, 2, 40, 1 << 30, &L, NULL), 0);
    uint64_t exact = L.kv + 6 * L.kv_block_bytes * small.layers;
    kern_model *m = open_model(&s, small, 2, 40, 1, exact);
    assert_int_equal(kern_model_layout(m)->kv_blocks, 6);
    const uint64_t base = kern_decode_bytes_per_step(&small, 2, 0);
    const uint64_t per_token = 2 * 2 * 2 * 64 * 2; /* K+V x layers x kv_heads x head_dim x fp16 */
    uint32_t pos[2] = {20, 30};                    /* context/2 + b * (context/2) / batch */
    vp_err e = {0};
    for (int step = 0; step < 65; step++) {
        uint64_t bytes = 0;
        assert_int_equal(kern_model_step(m, &bytes, &e), 0);
        assert_int_equal(bytes, base + per_token * (pos[0] + 1 + pos[1] + 1));
        for (int b = 0; b < 2; b++)
            if (++pos[b] + 1 > 40) pos[b] = 20;
    }
    kern_model_close(m);
    kern_slice_close(s);
}

static void a_pinned_context_reads_what_the_planner_formula_says(void **state)
{
    (void)state;
    kern_slice *s;
    kern_model *m = open_model(&s, small, 3, 100, 2, 16 << 20);
    vp_err e = {0};
    const uint32_t ctx[] = {1, 16, 17, 100};
    for (unsigned i = 0; i < VP_ARRAY_LEN(ctx); i++) {
        assert_int_equal(kern_model_pin_context(m, ctx[i], &e), 0);
        for (int k = 0; k < 2; k++) {
            uint64_t bytes = 0;
            assert_int_equal(kern_model_step(m, &bytes, &e), 0);
            assert_int_equal(bytes, kern_decode_bytes_per_step(&small, 3, ctx[i]));
        }
    }
    assert_int_equal(kern_model_pin_context(m, 101, &e), VP_EINPUT);
    assert_int_equal(kern_model_pin_context(m, 0, &e), VP_EINPUT);
    kern_model_close(m);
    kern_slice_close(s);
}

static void logits_are_finite_deterministic_and_seed_dependent(void **state)
{
    (void)state;
    const kern_dtype dts[] = {KERN_FP16, KERN_BF16, KERN_INT4};
    for (unsigned d = 0; d < 3; d++) {
        kern_shape sh = small;
        sh.dtype = dts[d];
        kern_slice *s1, *s2, *s3;
        kern_model *m1 = open_model(&s1, sh, 2, 64, 7, 16 << 20);
        kern_model *m2 = open_model(&s2, sh, 2, 64, 7, 16 << 20);
        kern_model *m3 = open_model(&s3, sh, 2, 64, 8, 16 << 20);
        float *a = malloc(sizeof(float) * 2 * sh.vocab * 4);
        assert_non_null(a);
        float *b = a + 2 * sh.vocab, *c = b + 2 * sh.vocab, *prev = c + 2 * sh.vocab;
        vp_err e = {0};
        for (int step = 0; step < 3; step++) {
            assert_int_equal(kern_model_step(m1, NULL, &e), 0);
            assert_int_equal(kern_model_step(m2, NULL, &e), 0);
            assert_int_equal(kern_model_step(m3, NULL, &e), 0);
            assert_int_equal(kern_model_logits(m1, a, &e), 0);
            assert_int_equal(kern_model_logits(m2, b, &e), 0);
            assert_int_equal(kern_model_logits(m3, c, &e), 0);
            assert_memory_equal(a, b, sizeof(float) * 2 * sh.vocab);
            unsigned same = 0, same_prev = 0;
            double ss = 0;
            for (uint32_t i = 0; i < 2 * sh.vocab; i++) {
                assert_true(isfinite(a[i]));
                ss += (double)a[i] * a[i];
                same += a[i] == c[i];
                same_prev += step > 0 && a[i] == prev[i];
            }
            /* logits of unit-scale activations through a unit-variance head: order 1 */
            double rms = sqrt(ss / (2 * sh.vocab));
            assert_true(rms > 0.1 && rms < 10.0);
            assert_true(same < 10);
            assert_true(same_prev < 10); /* each step feeds a new token */
            memcpy(prev, a, sizeof(float) * 2 * sh.vocab);
        }
        free(a);
        kern_model_close(m1);
        kern_model_close(m2);
        kern_model_close(m3);
        kern_slice_close(s1);
        kern_slice_close(s2);
        kern_slice_close(s3);
    }
}

static void a_slice_too_small_for_the_shape_is_refused(void **state)
{
    (void)state;
    kern_slice *s = NULL;
    kern_model *m = NULL;
    vp_err e = {0};
    assert_int_equal(kern_slice_open(KERN_REQ_CPU, 1 << 20, &s, &e), 0);
    assert_int_equal(kern_model_open(s, &small, 1, 64, 1, &m, &e), VP_ENOSPACE);
    assert_null(m);
    assert_non_null(strstr(e.msg, "weights"));
    kern_shape bad = small;
    bad.head_dim = 48;
    assert_int_equal(kern_model_open(s, &bad, 1, 64, 1, &m, &e), VP_EINPUT);
    kern_slice_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(step_bytes_follow_lengths_and_finished_sequences_restart),
        cmocka_unit_test(a_pinned_context_reads_what_the_planner_formula_says),
        cmocka_unit_test(logits_are_finite_deterministic_and_seed_dependent),
        cmocka_unit_test(a_slice_too_small_for_the_shape_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
