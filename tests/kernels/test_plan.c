/* test_plan.c - the pieces of the CUDA kernels' design that are pure arithmetic, checked on the
 * CPU: the int4 magic-number dequantisation (bit for bit against q - 8), the GEMV work plan (every
 * row covered, enough warps for small matrices, at least two vectors per lane), and the
 * attention's context split (covers the context, keeps splits of at least 128 tokens). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kern.h"
#include "kern_impl.h"

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void int4_magic_dequant_equals_q_minus_8_for_every_nibble_and_position(void **state)
{
    (void)state;
    /* each output depends on its own nibble only: try every value at every position, with the
     * other nibbles set to a different pattern each time */
    for (uint32_t pos = 0; pos < 8; pos++)
        for (uint32_t q = 0; q < 16; q++)
            for (uint32_t fill = 0; fill < 16; fill++) {
                uint32_t w = 0x11111111u * fill;
                w = (w & ~(0xfu << (4 * pos))) | (q << (4 * pos));
                float out[8];
                kern_int4_word(w, out);
                for (uint32_t i = 0; i < 8; i++) {
                    float want = (float)((int)((w >> (4 * i)) & 15u) - 8);
                    if (f2u(out[i]) != f2u(want))
                        fail_msg("word 0x%08x element %u: got %.9g (0x%08x), want %.9g", w, i,
                                 (double)out[i], f2u(out[i]), (double)want);
                }
            }
    /* and a million pseudo-random words */
    for (uint64_t i = 0; i < 1000000; i++) {
        uint32_t w = (uint32_t)kern_rand64(42, i);
        float out[8];
        kern_int4_word(w, out);
        for (uint32_t j = 0; j < 8; j++)
            if (out[j] != (float)((int)((w >> (4 * j)) & 15u) - 8))
                fail_msg("word 0x%08x element %u: got %.9g", w, j, (double)out[j]);
    }
}

static void gemv_plan_covers_every_row_with_enough_warps(void **state)
{
    (void)state;
    static const uint32_t ns[] = {1, 2, 7, 64, 1000, 4096, 6144, 8192, 10240, 28672, 57344};
    static const uint32_t ks[] = {128, 256, 1024, 4096, 8192, 14336, 28672};
    for (int d = 0; d < 3; d++)
        for (unsigned i = 0; i < VP_ARRAY_LEN(ns); i++)
            for (unsigned j = 0; j < VP_ARRAY_LEN(ks); j++)
                for (uint32_t batch = 1; batch <= KERN_GEMV_BATCH_TILE; batch++) {
                    kern_gemv_plan p;
                    kern_gemv_plan_make((kern_dtype)d, ns[i], ks[j], batch, 132, &p);
                    const uint64_t vecs = d == KERN_INT4 ? ks[j] / 32 : ks[j] / 8;
                    const uint64_t warps = ((uint64_t)ns[i] + p.rows_per_warp - 1) /
                                           p.rows_per_warp * p.ksplit;
                    if (p.ksplit != 1 && p.ksplit != 2 && p.ksplit != 4 && p.ksplit != 8)
                        fail_msg("ksplit %u", p.ksplit);
                    assert_int_equal(p.rows_per_warp, batch <= 2 ? 4 : 2);
                    assert_int_equal(p.rows_per_block,
                                     KERN_GEMV_WARPS / p.ksplit * p.rows_per_warp);
                    if ((uint64_t)p.blocks * p.rows_per_block < ns[i] ||
                        (uint64_t)(p.blocks - 1) * p.rows_per_block >= ns[i])
                        fail_msg("n=%u: %u blocks of %u rows", ns[i], p.blocks, p.rows_per_block);
                    /* a split is only taken while each lane keeps two vectors of each row */
                    if (p.ksplit > 1 && vecs < 64u * p.ksplit)
                        fail_msg("%s n=%u k=%u: ksplit %u leaves lanes %llu vectors",
                                 kern_dtype_name((kern_dtype)d), ns[i], ks[j], p.ksplit,
                                 (unsigned long long)(vecs / (32u * p.ksplit)));
                    /* and is taken until there are 32 warps per SM, or it may not grow */
                    if (warps < 132u * 32u && p.ksplit < 8 && vecs >= 128u * p.ksplit)
                        fail_msg("%s n=%u k=%u batch %u: only %llu warps with ksplit %u",
                                 kern_dtype_name((kern_dtype)d), ns[i], ks[j], batch,
                                 (unsigned long long)warps, p.ksplit);
                }
    /* the 7B-like 4096 x 4096 fp16 matrix: 1024 warps of 4 rows alone would be 8 per SM */
    kern_gemv_plan p;
    kern_gemv_plan_make(KERN_FP16, 4096, 4096, 1, 132, &p);
    assert_int_equal(p.ksplit, 8);
    assert_int_equal(p.rows_per_block, 4);
    assert_int_equal(p.blocks, 1024);
    /* the 70B-like gate/up matrix has warps enough without a split */
    kern_gemv_plan_make(KERN_FP16, 57344, 8192, 1, 132, &p);
    assert_int_equal(p.ksplit, 1);
    assert_int_equal(p.blocks, 57344 / 32);
}

static void attention_splits_cover_the_context_in_runs_of_at_least_128_tokens(void **state)
{
    (void)state;
    kern_shape s = {2, 1024, 3584, 16, 4, 64, 1000, KERN_FP16};
    static const uint32_t contexts[] = {1, 16, 100, 128, 129, 2048, 4096, 32768};
    static const uint32_t batches[] = {1, 2, 8, 64};
    for (unsigned i = 0; i < VP_ARRAY_LEN(contexts); i++)
        for (unsigned j = 0; j < VP_ARRAY_LEN(batches); j++) {
            kern_layout L;
            vp_err e = {0};
            int rc = kern_layout_plan(&s, batches[j], contexts[i], UINT64_MAX / 4, &L, &e);
            if (rc) fail_msg("%s", e.msg);
            const uint32_t maxb = L.max_blocks_per_seq;
            if ((uint64_t)L.attn_splits * L.attn_split_blocks < maxb ||
                (uint64_t)(L.attn_splits - 1) * L.attn_split_blocks >= maxb)
                fail_msg("context %u batch %u: %u splits of %u blocks for %u blocks", contexts[i],
                         batches[j], L.attn_splits, L.attn_split_blocks, maxb);
            if (L.attn_splits > 1 && L.attn_split_blocks < 8)
                fail_msg("context %u batch %u: splits of %u blocks", contexts[i], batches[j],
                         L.attn_split_blocks);
            /* never more thread blocks than about one wave needs */
            if ((uint64_t)L.attn_splits * batches[j] * s.kv_heads > 256 + batches[j] * s.kv_heads)
                fail_msg("context %u batch %u: %u splits", contexts[i], batches[j],
                         L.attn_splits);
        }
    /* batch 1 at 4096 tokens, 8 KV heads (Llama-3-70B): 32 splits of 8 blocks, 256 blocks */
    kern_shape s70 = {1, 8192, 28672, 64, 8, 128, 1000, KERN_INT4};
    kern_layout L;
    assert_int_equal(kern_layout_plan(&s70, 1, 4096, UINT64_MAX / 4, &L, NULL), 0);
    assert_int_equal(L.attn_splits, 32);
    assert_int_equal(L.attn_split_blocks, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(int4_magic_dequant_equals_q_minus_8_for_every_nibble_and_position),
        cmocka_unit_test(gemv_plan_covers_every_row_with_enough_warps),
        cmocka_unit_test(attention_splits_cover_the_context_in_runs_of_at_least_128_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
