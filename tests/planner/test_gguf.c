/* test_gguf.c - GGUF files sized tensor by tensor, and the tensor list they are built on: the
 * average bits of dtype.c are the mixes' own totals, every config's tensors add up to its
 * parameter count, and llama.cpp's per-layer choices show where they should. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "fp_int.h"
#include "hf_fixture.h"

static uint64_t weights(const plan_arch *a, plan_dtype d)
{
    plan_fp_opts o;
    plan_fp_opts_default(&o);
    o.dtype = d;
    plan_footprint f;
    vp_err e = {0};
    if (plan_footprint_compute(a, &o, &f, &e)) fail_msg("%s: %s", plan_dtype_name(d), e.msg);
    return f.weights_bytes;
}

static void the_average_bits_of_each_gguf_type_are_its_mix_on_llama_3_1_8b(void **state)
{
    (void)state;
    plan_arch a = hf_load("llama-3.1-8b.json");
    for (int d = 0; d < PLAN_DT_COUNT; d++) {
        if (!plan_dtype_is_gguf((plan_dtype)d)) continue;
        uint64_t num, den;
        plan_dtype_bits((plan_dtype)d, &num, &den);
        uint64_t bytes = weights(&a, (plan_dtype)d);
        if (num != bytes * 8 || den != a.params)
            fail_msg("%s: table %llu/%llu bits, mix %llu bytes", plan_dtype_name(d),
                     (unsigned long long)num, (unsigned long long)den, (unsigned long long)bytes);
    }
}

static void every_configs_tensors_add_up_to_its_layer_parameters(void **state)
{
    (void)state;
    static const char *const configs[] = {
        "llama-3.1-8b.json",    "llama-3.1-70b.json",     "llama-3.2-1b.json",
        "mistral-7b-v0.1.json", "mixtral-8x7b-v0.1.json", "qwen2-7b.json",
        "gemma-2-9b.json",      "gemma-2b.json",          "phi-3-mini-4k.json",
        "falcon-7b.json",       "falcon-40b.json",        "deepseek-v2-lite.json",
        "deepseek-v3.json",     "qwq-32b.json",           NULL};
    for (size_t c = 0; configs[c]; c++) {
        plan_arch a = hf_load(configs[c]);
        uint32_t kinds[2] = {0, a.experts ? a.first_dense_layers : 0};
        for (int k = 0; k < 2; k++) {
            if (kinds[k] >= a.layers) continue;
            fp_tensor t[FP_MAX_LAYER_TENSORS];
            int n = fp_layer_tensors(&a, kinds[k], t);
            if (n <= 0) fail_msg("%s: no tensors", configs[c]);
            uint64_t sum = 0, total, active;
            for (int i = 0; i < n; i++)
                sum += t[i].rows * t[i].cols * t[i].count;
            vp_err e = {0};
            assert_int_equal(plan_arch_layer_params(&a, kinds[k], &total, &active, &e), 0);
            if (sum != total)
                fail_msg("%s layer %u: tensors %llu, params %llu", configs[c], kinds[k],
                         (unsigned long long)sum, (unsigned long long)total);
        }
    }
}

/* Bytes of decoder layer i of a under GGUF type d. */
static uint64_t layer_bytes(const plan_arch *a, plan_dtype d, uint32_t i)
{
    fp_scheme s = {d, PLAN_QUANT_NONE, PLAN_DT_BF16};
    fp_weights w = {.exact = true};
    bool ovf = false;
    uint64_t b = fp_weights_layers(a, &s, &w, i, i + 1, &ovf);
    assert_false(ovf);
    return b;
}

static void q4_k_m_lifts_attn_v_and_ffn_down_to_q6_k_in_the_use_more_bits_layers(void **state)
{
    (void)state;
    plan_arch a = hf_load("llama-3.1-8b.json");
    /* 32 layers: use_more_bits is layers 0-3, 28-31 and every third from 6: 6, 9, ..., 27. */
    uint64_t plain = layer_bytes(&a, PLAN_DT_Q4_K_M, 4), more = layer_bytes(&a, PLAN_DT_Q4_K_M, 6);
    /* attn_v 1024 x 4096 and ffn_down 4096 x 14336 from 144 to 210 bytes per 256 weights */
    assert_int_equal(more - plain, (4194304ULL + 58720256ULL) / 256 * 66);
    assert_int_equal(layer_bytes(&a, PLAN_DT_Q4_K_M, 0), more);
    assert_int_equal(layer_bytes(&a, PLAN_DT_Q4_K_M, 31), more);
    assert_int_equal(layer_bytes(&a, PLAN_DT_Q4_K_M, 5), plain);
    /* q4_k_s: attn_v at Q5_K in the first four layers, ffn_down in the first n/8 = 4 */
    assert_int_equal(layer_bytes(&a, PLAN_DT_Q4_K_S, 3) - layer_bytes(&a, PLAN_DT_Q4_K_S, 4),
                     (4194304ULL + 58720256ULL) / 256 * 32);
    /* q3_k_m: attn_v Q5_K in layers 0-1 then Q4_K; ffn_down Q5_K below n/16 = 2, then Q4_K;
     * attn_output Q4_K */
    assert_int_equal(layer_bytes(&a, PLAN_DT_Q3_K_M, 1) - layer_bytes(&a, PLAN_DT_Q3_K_M, 2),
                     (4194304ULL + 58720256ULL) / 256 * 32);
    /* An 80-layer model (llama.cpp's LLM_TYPE_70B) takes attn_v at Q5_K rather than Q4_K. */
    plan_arch b = hf_load("llama-3.1-70b.json");
    uint64_t v70 = 1024ULL * 8192; /* 8 KV heads x 128 x 8192 */
    assert_int_equal(layer_bytes(&b, PLAN_DT_Q4_K_S, 10) - layer_bytes(&b, PLAN_DT_Q4_0, 10),
                     /* Q4_K = Q4_0 bytes per weight (4.5 bits); attn_v Q5_K adds 1 bit */
                     v70 / 256 * 32);
}

static void rows_blocks_of_256_cannot_divide_fall_back_to_32_blocks(void **state)
{
    (void)state;
    plan_arch a = hf_load("falcon-7b.json"); /* hidden 4544 = 17.75 x 256 */
    fp_tensor t = {FP_T_UP, 18176, 4544, 1};
    bool ovf = false;
    /* Q4_K falls back to Q5_0: 22 bytes per 32 */
    assert_int_equal(fp_gguf_tensor_bytes(&a, PLAN_DT_Q4_K_M, &t, 0, &ovf),
                     18176ULL * 4544 / 32 * 22);
    /* falcon's lm_head is Q8_0 */
    fp_tensor out = {FP_T_OUTPUT, 65024, 4544, 1};
    assert_int_equal(fp_gguf_tensor_bytes(&a, PLAN_DT_Q4_K_M, &out, 0, &ovf),
                     65024ULL * 4544 / 32 * 34);
    assert_false(ovf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_average_bits_of_each_gguf_type_are_its_mix_on_llama_3_1_8b),
        cmocka_unit_test(every_configs_tensors_add_up_to_its_layer_parameters),
        cmocka_unit_test(q4_k_m_lifts_attn_v_and_ffn_down_to_q6_k_in_the_use_more_bits_layers),
        cmocka_unit_test(rows_blocks_of_256_cannot_divide_fall_back_to_32_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
