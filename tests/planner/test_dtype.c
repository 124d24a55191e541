/* test_dtype.c - dtype names, aliases and exact bits per weight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

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
    assert_bits(PLAN_DT_Q8_0, 85, 10);       /* 8.5: 34 bytes per block of 32 */
    assert_bits(PLAN_DT_Q6_K, 65625, 10000); /* 6.5625: 210 bytes per 256 */
    assert_bits(PLAN_DT_Q5_K_M, 55, 10);     /* 5.5 */
    assert_bits(PLAN_DT_Q4_K_M, 485, 100);   /* 4.85 */
    assert_bits(PLAN_DT_Q4_0, 45, 10);       /* 4.5: 18 bytes per 32 */
    uint64_t num = 1, den = 0;
    plan_dtype_bits(PLAN_DT_COUNT, &num, &den);
    assert_int_equal(num, 0);
    assert_int_equal(den, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_dtype_parses_back_from_its_own_name),
        cmocka_unit_test(hf_torch_dtype_spellings_and_upper_case_are_accepted),
        cmocka_unit_test(unknown_names_are_refused_and_leave_the_output_alone),
        cmocka_unit_test(bits_per_weight_are_exact_fractions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
