/* test_convert.c - fp16/bf16 conversions (round trips over every 16-bit pattern, rounding checked
 * against independent references) and the deterministic pseudo-random fills. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kern.h"

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static void every_fp16_value_survives_a_round_trip(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = kern_f16_to_f32((uint16_t)h);
        int is_nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (is_nan) {
            assert_true(isnan(f));
            assert_true(isnan(kern_f16_to_f32(kern_f32_to_f16(f))));
        } else {
            assert_int_equal(kern_f32_to_f16(f), h);
        }
    }
}

static void every_bf16_value_survives_a_round_trip(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = kern_bf16_to_f32((uint16_t)h);
        assert_int_equal(bits_of(f), h << 16);
        if ((h & 0x7f80) == 0x7f80 && (h & 0x7f))
            assert_true(isnan(kern_bf16_to_f32(kern_f32_to_bf16(f))));
        else
            assert_int_equal(kern_f32_to_bf16(f), h);
    }
}

/* fp16 value of h computed from the definition, in double. */
static double f16_ref(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? INFINITY : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -v : v;
}

static void fp16_values_match_their_definition(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;
        assert_true((double)kern_f16_to_f32((uint16_t)h) == f16_ref((uint16_t)h));
    }
    assert_true(kern_f16_to_f32(0x3c00) == 1.0f);
    assert_true(kern_f16_to_f32(0x7bff) == 65504.0f);
    assert_true(kern_f16_to_f32(0x0001) == 0x1p-24f);
}

/* Nearest fp16 to x by search over the ordered non-negative patterns, ties to even; inf past the
 * rounding boundary 65520. An independent reference for kern_f32_to_f16. */
static uint16_t f16_nearest(float x)
{
    double a = fabs((double)x);
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    if (a >= 65520.0) return sign | 0x7c00;
    uint32_t lo = 0, hi = 0x7bff;
    while (lo < hi) { /* largest pattern with value <= a */
        uint32_t mid = (lo + hi + 1) / 2;
        if (f16_ref((uint16_t)mid) <= a)
            lo = mid;
        else
            hi = mid - 1;
    }
    uint32_t best = lo;
    if (lo < 0x7bff || a > f16_ref(0x7bff)) {
        double dl = a - f16_ref((uint16_t)lo), dh = f16_ref((uint16_t)(lo + 1)) - a;
        if (dh < dl || (dh == dl && (lo & 1))) best = lo + 1;
    }
    return (uint16_t)(sign | best);
}

static void fp16_rounding_is_nearest_even(void **state)
{
    (void)state;
    const float special[] = {0.0f,
                             -0.0f,
                             1.0f,
                             1.0f + 0x1p-11f,
                             1.0f + 0x1p-11f + 0x1p-23f,
                             1.0f + 3 * 0x1p-11f,
                             65504.0f,
                             65519.99f,
                             65520.0f,
                             1e9f,
                             0x1p-25f,
                             0x1p-25f + 0x1p-40f,
                             0x1p-24f,
                             3 * 0x1p-25f,
                             0x1p-14f,
                             0x1p-14f - 0x1p-25f,
                             -2.5f,
                             1e-30f};
    for (unsigned i = 0; i < VP_ARRAY_LEN(special); i++)
        assert_int_equal(kern_f32_to_f16(special[i]), f16_nearest(special[i]));
    assert_int_equal(kern_f32_to_f16(1.0f + 0x1p-11f), 0x3c00); /* tie goes to even */
    assert_int_equal(kern_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
    assert_int_equal(kern_f32_to_f16(INFINITY), 0x7c00);
    uint64_t r = 99;
    for (int i = 0; i < 200000; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        /* exponents spanning fp16 subnormals to overflow */
        uint32_t u = (uint32_t)(r >> 32);
        u = (u & 0x807fffffu) | ((uint32_t)(95 + (r >> 20) % 50) << 23);
        float f = float_of(u);
        assert_int_equal(kern_f32_to_f16(f), f16_nearest(f));
#ifdef __FLT16_MAX__
        _Float16 h = (_Float16)f;
        uint16_t hb;
        memcpy(&hb, &h, 2);
        assert_int_equal(kern_f32_to_f16(f), hb);
#endif
    }
}

static void bf16_rounding_is_nearest_even(void **state)
{
    (void)state;
    uint64_t r = 7;
    for (int i = 0; i < 200000; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t u = (uint32_t)(r >> 32);
        if ((u & 0x7f800000u) == 0x7f800000u) continue;
        float f = float_of(u);
        uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u;
        double dl = fabs((double)f - (double)float_of(lo));
        double dh = fabs((double)float_of(hi) - (double)f);
        if ((hi & 0x7f800000u) == 0x7f800000u) dh = fabs(ldexp(1.0, 128) - fabs((double)f));
        uint32_t want = (dh < dl || (dh == dl && (lo & 0x10000u))) ? hi : lo;
        assert_int_equal(kern_f32_to_bf16(f), want >> 16);
    }
    assert_int_equal(kern_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(kern_f32_to_bf16(float_of(0x3f808000u)), 0x3f80); /* tie to even */
    assert_int_equal(kern_f32_to_bf16(float_of(0x3f818000u)), 0x3f82);
}

static void fills_are_deterministic_nonzero_and_in_range(void **state)
{
    (void)state;
    enum { N = 4099 };
    float a[N], b[N];
    kern_fill_host(a, KERN_FILL_F32, N, 42, 0.5f);
    kern_fill_host(b, KERN_FILL_F32, N, 42, 0.5f);
    assert_memory_equal(a, b, sizeof a);
    unsigned zeros = 0;
    double mean = 0;
    for (int i = 0; i < N; i++) {
        assert_true(a[i] >= -0.5f && a[i] < 0.5f);
        zeros += a[i] == 0.0f;
        mean += a[i];
    }
    assert_true(zeros < 3);
    assert_true(fabs(mean / N) < 0.02);
    kern_fill_host(b, KERN_FILL_F32, N, 43, 0.5f);
    unsigned same = 0;
    for (int i = 0; i < N; i++)
        same += a[i] == b[i];
    assert_true(same < 5);
    /* element i does not depend on how many are filled */
    float c[10];
    kern_fill_host(c, KERN_FILL_F32, 10, 42, 0.5f);
    assert_memory_equal(a, c, sizeof c);
    uint16_t h[N];
    kern_fill_host(h, KERN_FILL_F16_POS, N, 5, 2.0f);
    for (int i = 0; i < N; i++) {
        float v = kern_f16_to_f32(h[i]);
        assert_true(v >= 1.0f && v <= 3.0f);
    }
    uint8_t q[N], q2[N];
    kern_fill_host(q, KERN_FILL_BYTES, N, 9, 0);
    kern_fill_host(q2 + 0, KERN_FILL_BYTES, 5, 9, 0);
    assert_memory_equal(q, q2, 5);
    unsigned hist[16] = {0};
    for (int i = 0; i < N; i++)
        hist[q[i] & 15]++;
    for (int i = 0; i < 16; i++)
        assert_true(hist[i] > N / 32);
}

static void a_cpu_slice_fills_the_same_bytes_as_the_host(void **state)
{
    (void)state;
    kern_slice *s = NULL;
    vp_err e = {0};
    assert_int_equal(kern_slice_open(KERN_REQ_CPU, 1 << 16, &s, &e), 0);
    const kern_fill_kind kinds[] = {KERN_FILL_F32, KERN_FILL_F16, KERN_FILL_BF16, KERN_FILL_F16_POS,
                                    KERN_FILL_BYTES};
    uint8_t want[8192];
    for (unsigned k = 0; k < VP_ARRAY_LEN(kinds); k++) {
        assert_int_equal(kern_fill(s, 256, kinds[k], 1000, 77 + k, 0.25f, &e), 0);
        kern_fill_host(want, kinds[k], 1000, 77 + k, 0.25f);
        unsigned sz = kinds[k] == KERN_FILL_F32 ? 4 : kinds[k] == KERN_FILL_BYTES ? 1 : 2;
        assert_memory_equal((uint8_t *)kern_slice_host(s) + 256, want, 1000 * sz);
    }
    kern_slice_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_fp16_value_survives_a_round_trip),
        cmocka_unit_test(every_bf16_value_survives_a_round_trip),
        cmocka_unit_test(fp16_values_match_their_definition),
        cmocka_unit_test(fp16_rounding_is_nearest_even),
        cmocka_unit_test(bf16_rounding_is_nearest_even),
        cmocka_unit_test(fills_are_deterministic_nonzero_and_in_range),
        cmocka_unit_test(a_cpu_slice_fills_the_same_bytes_as_the_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
