/* test_gpu.c - the CUDA kernels against their CPU twins on the same bytes: fills byte for byte,
 * GEMV for every dtype, flag and batch tile, paged attention with the context split, and whole
 * decode steps. Skipped (exit 77) on a machine without a usable CUDA device. Each pair of slices
 * gets the same fills and uploads, so the only differences are the kernels' own. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kern.h"

typedef struct pair {
    kern_slice *cpu, *gpu;
} pair;

static void pair_open(pair *p, uint64_t bytes)
{
    vp_err e = {0};
    int rc = kern_slice_open(KERN_REQ_CPU, bytes, &p->cpu, &e);
    if (!rc) rc = kern_slice_open(KERN_REQ_CUDA, bytes, &p->gpu, &e);
    if (rc) fail_msg("%s", e.msg);
}

static void pair_close(pair *p)
{
    kern_slice_close(p->cpu);
    kern_slice_close(p->gpu);
}

#define BOTH(call_cpu, call_gpu)                                                                   \
    do {                                                                                           \
        vp_err e_ = {0};                                                                           \
        int rc_ = (call_cpu);                                                                      \
        if (!rc_) rc_ = (call_gpu);                                                                \
        if (rc_) fail_msg("%s", e_.msg);                                                           \
    } while (0)

static void pair_fill(pair *p, uint64_t off, kern_fill_kind k, uint64_t n, uint64_t seed, float sc)
{
    BOTH(kern_fill(p->cpu, off, k, n, seed, sc, &e_), kern_fill(p->gpu, off, k, n, seed, sc, &e_));
}

static void pair_upload(pair *p, uint64_t off, const void *src, uint64_t n)
{
    BOTH(kern_upload(p->cpu, off, src, n, &e_), kern_upload(p->gpu, off, src, n, &e_));
}

/* ||gpu - cpu|| / ||cpu|| over n floats at off; NaN anywhere fails. */
static double pair_error(pair *p, uint64_t off, uint64_t n)
{
    float *a = malloc(n * 4), *b = malloc(n * 4);
    assert_non_null(a);
    assert_non_null(b);
    BOTH(kern_download(p->cpu, off, a, n * 4, &e_), kern_download(p->gpu, off, b, n * 4, &e_));
    double num = 0, den = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i])) {
            free(a);
            free(b);
            return NAN;
        }
        num += ((double)b[i] - a[i]) * ((double)b[i] - a[i]);
        den += (double)a[i] * a[i];
    }
    free(a);
    free(b);
    return sqrt(num / den);
}

static void fills_are_identical_on_both_backends(void **state)
{
    (void)state;
    pair p;
    pair_open(&p, 1 << 22);
    const kern_fill_kind kinds[] = {KERN_FILL_F32, KERN_FILL_F16, KERN_FILL_BF16, KERN_FILL_F16_POS,
                                    KERN_FILL_BYTES};
    uint8_t *a = malloc(1 << 21), *b = malloc(1 << 21);
    assert_non_null(a);
    assert_non_null(b);
    for (unsigned k = 0; k < VP_ARRAY_LEN(kinds); k++) {
        uint64_t n = 300001;
        unsigned sz = kinds[k] == KERN_FILL_F32 ? 4 : kinds[k] == KERN_FILL_BYTES ? 1 : 2;
        pair_fill(&p, 4096, kinds[k], n, 11 + k, 0.3f);
        BOTH(kern_download(p.cpu, 4096, a, n * sz, &e_),
             kern_download(p.gpu, 4096, b, n * sz, &e_));
        assert_memory_equal(a, b, n * sz);
    }
    free(a);
    free(b);
    pair_close(&p);
}

static void gemv_matches_the_cpu_for_every_dtype_flag_and_batch(void **state)
{
    (void)state;
    const struct {
        uint32_t n, k, batch;
    } shapes[] = {{1, 128, 1},     {37, 256, 3},     {64, 1024, 8}, {50, 384, 11},
                  {4096, 4096, 1}, {1000, 14336, 2}, {6, 128, 17}};
    const unsigned flags[] = {0, KERN_GEMV_ACCUMULATE, KERN_GEMV_NORM_X,
                              KERN_GEMV_NORM_X | KERN_GEMV_SWIGLU};
    pair p;
    pair_open(&p, 64u << 20);
    double worst[3] = {0};
    for (int d = 0; d < 3; d++)
        for (unsigned i = 0; i < VP_ARRAY_LEN(shapes); i++)
            for (unsigned f = 0; f < VP_ARRAY_LEN(flags); f++) {
                if ((flags[f] & KERN_GEMV_SWIGLU) && (shapes[i].n & 1)) continue;
                kern_gemv_args g = {(kern_dtype)d,   0,       0, 0, 0, shapes[i].n, shapes[i].k,
                                    shapes[i].batch, flags[f]};
                uint64_t nk = (uint64_t)g.n * g.k, seed = 100 * d + 10 * i + f;
                kern_arena a;
                kern_arena_init(&a, 64u << 20);
                assert_int_equal(kern_arena_take(&a, d == KERN_INT4 ? nk / 2 : nk * 2, 256, &g.w),
                                 0);
                assert_int_equal(kern_arena_take(&a, nk / 128 * 2, 256, &g.scales), 0);
                assert_int_equal(kern_arena_take(&a, (uint64_t)g.batch * g.k * 4, 256, &g.x), 0);
                assert_int_equal(kern_arena_take(&a, (uint64_t)g.batch * g.n * 4, 256, &g.y), 0);
                if (d == KERN_INT4) {
                    pair_fill(&p, g.w, KERN_FILL_BYTES, nk / 2, seed, 0);
                    pair_fill(&p, g.scales, KERN_FILL_F16_POS, nk / 128, seed + 1,
                              1.0f / sqrtf(21.5f * (float)g.k));
                } else {
                    pair_fill(&p, g.w, d == KERN_FP16 ? KERN_FILL_F16 : KERN_FILL_BF16, nk, seed,
                              sqrtf(3.0f / (float)g.k));
                }
                pair_fill(&p, g.x, KERN_FILL_F32, (uint64_t)g.batch * g.k, seed + 2, 1.0f);
                /* y: poison for plain outputs, a pattern for accumulation */
                pair_fill(&p, g.y, KERN_FILL_F32, (uint64_t)g.batch * g.n, seed + 3, 1.0f);
                if (!(flags[f] & KERN_GEMV_ACCUMULATE)) {
                    float *nan = malloc((uint64_t)g.batch * g.n * 4);
                    assert_non_null(nan);
                    for (uint64_t j = 0; j < (uint64_t)g.batch * g.n; j++)
                        nan[j] = NAN;
                    pair_upload(&p, g.y, nan, (uint64_t)g.batch * g.n * 4);
                    free(nan);
                }
                BOTH(kern_gemv(p.cpu, &g, &e_), kern_gemv(p.gpu, &g, &e_));
                uint64_t outs = (uint64_t)g.batch * ((flags[f] & KERN_GEMV_SWIGLU) ? g.n / 2 : g.n);
                double err = pair_error(&p, g.y, outs);
                if (!(err <= KERN_TOL_REL))
                    fail_msg("%s n=%u k=%u batch=%u flags=%u: relative error %.3g",
                             kern_dtype_name((kern_dtype)d), g.n, g.k, g.batch, g.flags, err);
                if (err > worst[d]) worst[d] = err;
            }
    print_message("gemv cuda vs cpu: worst relative error fp16 %.3g, bf16 %.3g, int4 %.3g\n",
                  worst[0], worst[1], worst[2]);
    pair_close(&p);
}

static void attention_with_context_splits_matches_the_cpu(void **state)
{
    (void)state;
    const struct {
        uint32_t batch, heads, kvh, hd, maxb, split_blocks;
    } cases[] = {{3, 8, 2, 64, 6, 1}, {2, 32, 8, 128, 64, 4}, {1, 64, 8, 128, 256, 8},
                 {4, 6, 2, 8, 2, 2},  {2, 2, 1, 256, 5, 2},   {1, 32, 32, 128, 16, 16}};
    double worst = 0;
    for (unsigned c = 0; c < VP_ARRAY_LEN(cases); c++) {
        kern_attn_args a = {0};
        a.batch = cases[c].batch;
        a.heads = cases[c].heads;
        a.kv_heads = cases[c].kvh;
        a.head_dim = cases[c].hd;
        a.max_blocks_per_seq = cases[c].maxb;
        a.kv_blocks = a.batch * a.max_blocks_per_seq + 5;
        a.split_blocks = cases[c].split_blocks;
        a.splits = (a.max_blocks_per_seq + a.split_blocks - 1) / a.split_blocks;
        const uint64_t row = (uint64_t)(a.heads + 2 * a.kv_heads) * a.head_dim;
        const uint64_t kv_elems = (uint64_t)a.kv_blocks * 2 * a.kv_heads * 16 * a.head_dim;
        kern_arena ar;
        kern_arena_init(&ar, UINT64_MAX);
        assert_int_equal(kern_arena_take(&ar, a.batch * row * 4, 256, &a.qkv), 0);
        assert_int_equal(
            kern_arena_take(&ar, (uint64_t)a.batch * a.heads * a.head_dim * 4, 256, &a.out), 0);
        assert_int_equal(kern_arena_take(&ar, kv_elems * 2, 256, &a.kv), 0);
        assert_int_equal(
            kern_arena_take(&ar, (uint64_t)a.batch * a.max_blocks_per_seq * 4, 256, &a.tables), 0);
        assert_int_equal(kern_arena_take(&ar, a.batch * 4, 256, &a.lens), 0);
        assert_int_equal(
            kern_arena_take(&ar, (uint64_t)a.batch * a.heads * a.splits * (a.head_dim + 4) * 4, 256,
                            &a.partial),
            0);
        pair p;
        pair_open(&p, ar.used);
        pair_fill(&p, a.qkv, KERN_FILL_F32, a.batch * row, 50 + c, 1.5f);
        pair_fill(&p, a.kv, KERN_FILL_F16, kv_elems, 60 + c, 1.0f);
        int32_t *tables = malloc((uint64_t)a.batch * a.max_blocks_per_seq * 4),
                *lens = malloc(a.batch * 4);
        assert_non_null(tables);
        assert_non_null(lens);
        /* blocks scattered over the pool (7919 is prime to every pool size here), none shared */
        for (uint32_t i = 0; i < a.batch * a.max_blocks_per_seq; i++)
            tables[i] = (int32_t)((i * 7919u) % a.kv_blocks);
        const uint32_t cap = a.max_blocks_per_seq * 16;
        for (uint32_t b = 0; b < a.batch; b++) {
            uint32_t picks[] = {cap - 1, 0, 15, 16, cap / 2 + 3};
            lens[b] = (int32_t)picks[(b + c) % 5];
        }
        pair_upload(&p, a.tables, tables, (uint64_t)a.batch * a.max_blocks_per_seq * 4);
        pair_upload(&p, a.lens, lens, a.batch * 4);
        BOTH(kern_attention(p.cpu, &a, &e_), kern_attention(p.gpu, &a, &e_));
        double err = pair_error(&p, a.out, (uint64_t)a.batch * a.heads * a.head_dim);
        if (!(err <= KERN_TOL_REL)) fail_msg("attention case %u: relative error %.3g", c, err);
        if (err > worst) worst = err;
        /* the new K/V were written to the same slots, with the same fp16 bits */
        uint8_t *x = malloc(kv_elems * 2), *y = malloc(kv_elems * 2);
        assert_non_null(x);
        assert_non_null(y);
        BOTH(kern_download(p.cpu, a.kv, x, kv_elems * 2, &e_),
             kern_download(p.gpu, a.kv, y, kv_elems * 2, &e_));
        assert_memory_equal(x, y, kv_elems * 2);
        free(x);
        free(y);
        free(tables);
        free(lens);
        pair_close(&p);
    }
    print_message("attention cuda vs cpu: worst relative error %.3g\n", worst);
}

static void decode_steps_match_the_cpu(void **state)
{
    (void)state;
    const kern_dtype dts[] = {KERN_FP16, KERN_BF16, KERN_INT4};
    for (unsigned d = 0; d < 3; d++) {
        kern_shape sh = {3, 512, 1408, 8, 2, 64, 2000, dts[d]};
        pair p;
        pair_open(&p, 64u << 20);
        kern_model *mc = NULL, *mg = NULL;
        BOTH(kern_model_open(p.cpu, &sh, 5, 300, 3, &mc, &e_),
             kern_model_open(p.gpu, &sh, 5, 300, 3, &mg, &e_));
        for (int step = 0; step < 4; step++) {
            uint64_t bc = 0, bg = 0;
            BOTH(kern_model_step(mc, &bc, &e_), kern_model_step(mg, &bg, &e_));
            assert_int_equal(bc, bg);
        }
        const kern_layout *L = kern_model_layout(mc);
        double err = pair_error(&p, L->logits, (uint64_t)L->batch * sh.vocab);
        if (!(err <= 10 * KERN_TOL_REL))
            fail_msg("%s decode: logits relative error %.3g", kern_dtype_name(dts[d]), err);
        print_message("%s decode (4 steps, 3 layers): logits relative error %.3g\n",
                      kern_dtype_name(dts[d]), err);
        kern_model_close(mc);
        kern_model_close(mg);
        pair_close(&p);
    }
}

int main(void)
{
    vp_err e = {0};
    if (kern_cuda_device_count(&e) == 0) {
        printf("skipped: no CUDA device (%s)\n", e.msg);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fills_are_identical_on_both_backends),
        cmocka_unit_test(gemv_matches_the_cpu_for_every_dtype_flag_and_batch),
        cmocka_unit_test(attention_with_context_splits_matches_the_cpu),
        cmocka_unit_test(decode_steps_match_the_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
