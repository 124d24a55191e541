/* test_dtype.c - dtype names, aliases and exact bits per weight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdbool.h>

#include "footprint.h"

static void every_dtype_parses_back_from_its_own_name(void **state)
{
    (void)state;
    for (int d = 0; d < PLAN_DT_COUNT; d++) {
        plan_dtype got = PLAN_DT_COUNT;
        assert_int_equal(plan_dtype_parse(plan_dtype_name((plan_dtype)d), &got), 0);
        assert_int_equal(got, d);
    }
}

static void hf_torch_dtype_spellings_and_upper_case_are_accepted(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        plan_dtype d;
    } cases[] = {
        {"bfloat16", PLAN_DT_BF16}, {"float16", PLAN_DT_FP16},  {"float32", PLAN_DT_FP32},
        {"BF16", PLAN_DT_BF16},     {"Q4_K_M", PLAN_DT_Q4_K_M}, {"float8_e4m3fn", PLAN_DT_FP8},
        {"INT4", PLAN_DT_INT4},     {"half", PLAN_DT_FP16},     {"q8_0", PLAN_DT_Q8_0},
    };
    for (size_t i = 0; i < VP_ARRAY_LEN(cases); i++) {
        plan_dtype got = PLAN_DT_COUNT;
        assert_int_equal(plan_dtype_parse(cases[i].s, &got), 0);
        assert_int_equal(got, cases[i].d);
    }
}

static void unknown_names_are_refused_and_leave_the_output_alone(void **state)
{
    (void)state;
    plan_dtype got = PLAN_DT_INT8;
    assert_int_equal(plan_dtype_parse("float64", &got), VP_ENOTFOUND);
    assert_int_equal(plan_dtype_parse("", &got), VP_ENOTFOUND);
    assert_int_equal(plan_dtype_parse("q4_k", &got), VP_ENOTFOUND);
    assert_int_equal(plan_dtype_parse(NULL, &got), VP_ENOTFOUND);
    assert_int_equal(got, PLAN_DT_INT8);
    assert_string_equal(plan_dtype_name(PLAN_DT_COUNT), "unknown");
}

/* bits = num / den; checked as cross-multiplied integers so 4.85 is exactly 97/20. */
static void assert_bits(plan_dtype d, uint64_t want_num, uint64_t want_den)
{
    uint64_t num = 0, den = 0;
    plan_dtype_bits(d, &num, &den);
    assert_true(den > 0);
    assert_int_equal(num * want_den, want_num * den);
}

static void bits_per_weight_are_exact_fractions(void **state)
{
    (void)state;
    assert_bits(PLAN_DT_FP32, 32, 1);
    assert_bits(PLAN_DT_FP16, 16, 1);
    assert_bits(PLAN_DT_BF16, 16, 1);
    assert_bits(PLAN_DT_FP8, 8, 1);
    assert_bits(PLAN_DT_INT8, 8, 1);
    assert_bits(PLAN_DT_INT4, 4, 1);
    /* GGUF types: the bytes of llama.cpp's mix on Llama-3.1-8B x 8 / its 8,030,261,248 params.
     * q8_0: every matrix at 34 bytes per 32 weights, 65 f32 norm vectors of 4096:
     * 8,029,995,008 x 34 / 32 + 266,240 x 4 = 8,532,934,656 bytes, 8.5008 bits per weight. */
    assert_bits(PLAN_DT_Q8_0, 8532934656ULL * 8, 8030261248ULL);
    /* q4_k_m: 4,912,898,048 bytes, the "4.58 GiB (4.89 BPW)" llama.cpp prints (not 4.85). */
    assert_bits(PLAN_DT_Q4_K_M, 4912898048ULL * 8, 8030261248ULL);
    /* q5_k_m 5.70 bits per weight (not 5.5), q4_0 4.64 (its lm_head is Q6_K). */
    assert_bits(PLAN_DT_Q5_K_M, 5725151232ULL * 8, 8030261248ULL);
    assert_bits(PLAN_DT_Q4_0, 4653375488ULL * 8, 8030261248ULL);
    for (int d = PLAN_DT_Q8_0; d < PLAN_DT_COUNT; d++) {
        uint64_t num, den;
        plan_dtype_bits((plan_dtype)d, &num, &den);
        if (!plan_dtype_is_gguf((plan_dtype)d) || num < 2 * den || num > 9 * den)
            fail_msg("%s: %llu/%llu bits per weight is no GGUF type", plan_dtype_name(d),
                     (unsigned long long)num, (unsigned long long)den);
    }
    assert_false(plan_dtype_is_gguf(PLAN_DT_INT4));
    uint64_t num = 1, den = 0;
    plan_dtype_bits(PLAN_DT_COUNT, &num, &den);
    assert_int_equal(num, 0);
    assert_int_equal(den, 1);
}

static void quantization_formats_parse_by_their_common_names(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        plan_quant q;
    } cases[] = {
        {"int8", PLAN_QUANT_INT8},         {"FP8", PLAN_QUANT_FP8},  {"awq", PLAN_QUANT_AWQ},
        {"gptq_marlin", PLAN_QUANT_GPTQ},  {"bnb-4bit", PLAN_QUANT_BNB4},
        {"bitsandbytes", PLAN_QUANT_BNB4}, {"none", PLAN_QUANT_NONE},
    };
    for (size_t i = 0; i < VP_ARRAY_LEN(cases); i++) {
        plan_quant got = PLAN_QUANT_COUNT;
        assert_int_equal(plan_quant_parse(cases[i].s, &got), 0);
        assert_int_equal(got, cases[i].q);
    }
    for (int q = 0; q < PLAN_QUANT_COUNT; q++) {
        plan_quant got = PLAN_QUANT_COUNT;
        assert_int_equal(plan_quant_parse(plan_quant_name((plan_quant)q), &got), 0);
        assert_int_equal(got, q);
    }
    plan_quant got = PLAN_QUANT_AWQ;
    assert_int_equal(plan_quant_parse("q4_k_m", &got), VP_ENOTFOUND);
    assert_int_equal(plan_quant_parse(NULL, &got), VP_ENOTFOUND);
    assert_int_equal(got, PLAN_QUANT_AWQ);
    assert_string_equal(plan_quant_name(PLAN_QUANT_COUNT), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_dtype_parses_back_from_its_own_name),
        cmocka_unit_test(hf_torch_dtype_spellings_and_upper_case_are_accepted),
        cmocka_unit_test(unknown_names_are_refused_and_leave_the_output_alone),
        cmocka_unit_test(bits_per_weight_are_exact_fractions),
        cmocka_unit_test(quantization_formats_parse_by_their_common_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
