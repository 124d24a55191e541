/* test_gemv.c - the CPU GEMV kernels (fp16, bf16, int4 with per-group scales) against a
 * straightforward double-precision reference on pseudo-random inputs, for every flag (residual
 * accumulate, folded RMS norm, SwiGLU pairs) and batch sizes on both sides of the batch tile. The
 * reference decodes weights from the format's definition, not with the code under test. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kern.h"
#include "kern_impl.h"

static double f16_ref(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -v : v;
}

static double bf16_ref(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static double weight_ref(const uint8_t *w, const uint16_t *scales, kern_dtype d, uint32_t k,
                         uint64_t n, uint64_t j)
{
    if (d == KERN_INT4) {
        uint8_t byte = w[n * (k / 2) + j / 2];
        int q = (j & 1) ? byte >> 4 : byte & 15;
        return (q - 8) * f16_ref(scales[n * (k / 128) + j / 128]);
    }
    uint16_t h;
    memcpy(&h, w + (n * k + j) * 2, 2);
    return d == KERN_FP16 ? f16_ref(h) : bf16_ref(h);
}

static double worst[3];

/* Runs one GEMV on a CPU slice (through kern_gemv, or with k-split ksplit when it is not 0) and
 * returns ||y - ref|| / ||ref||. */
static double gemv_error_split(kern_dtype d, uint32_t n, uint32_t k, uint32_t batch, unsigned flags,
                               uint64_t seed, uint32_t ksplit)
{
    kern_slice *s = NULL;
    vp_err e = {0};
    uint64_t wb = d == KERN_INT4 ? (uint64_t)n * k / 2 : (uint64_t)n * k * 2;
    uint64_t sb = (uint64_t)n * (k / 128) * 2, xb = (uint64_t)batch * k * 4,
             yb = (uint64_t)batch * n * 4;
    kern_arena a;
    kern_arena_init(&a, wb + sb + xb + yb + 4 * KERN_ALIGN);
    kern_gemv_args g = {d, 0, 0, 0, 0, n, k, batch, flags};
    assert_int_equal(kern_arena_take(&a, wb, KERN_ALIGN, &g.w), 0);
    assert_int_equal(kern_arena_take(&a, sb, KERN_ALIGN, &g.scales), 0);
    assert_int_equal(kern_arena_take(&a, xb, KERN_ALIGN, &g.x), 0);
    assert_int_equal(kern_arena_take(&a, yb, KERN_ALIGN, &g.y), 0);
    assert_int_equal(kern_slice_open(KERN_REQ_CPU, a.size, &s, &e), 0);
    uint8_t *base = kern_slice_host(s);
    if (d == KERN_INT4) {
        assert_int_equal(kern_fill(s, g.w, KERN_FILL_BYTES, wb, seed, 0, &e), 0);
        assert_int_equal(kern_fill(s, g.scales, KERN_FILL_F16_POS, sb / 2, seed + 1, 0.01f, &e), 0);
    } else {
        assert_int_equal(kern_fill(s, g.w, d == KERN_FP16 ? KERN_FILL_F16 : KERN_FILL_BF16,
                                   (uint64_t)n * k, seed, 0.05f, &e),
                         0);
    }
    assert_int_equal(kern_fill(s, g.x, KERN_FILL_F32, (uint64_t)batch * k, seed + 2, 1.0f, &e), 0);
    float *y = (float *)(base + g.y);
    const float *x = (const float *)(base + g.x);
    const uint32_t out_n = (flags & KERN_GEMV_SWIGLU) ? n / 2 : n;
    double *y0 = malloc(sizeof(double) * batch * out_n);
    assert_non_null(y0);
    for (uint64_t i = 0; i < (uint64_t)batch * out_n; i++) {
        if (flags & KERN_GEMV_ACCUMULATE) {
            y[i] = (float)((int)(i % 7) - 3) * 0.25f;
            y0[i] = y[i];
        } else {
            y[i] = NAN; /* poison: every output must be written */
            y0[i] = 0;
        }
    }
    if (ksplit)
        kcpu_gemv_split(base, &g, ksplit);
    else
        assert_int_equal(kern_gemv(s, &g, &e), 0);

    double num = 0, den = 0;
    for (uint32_t b = 0; b < batch; b++) {
        const float *xb_ = x + (uint64_t)b * k;
        double inv = 1.0;
        if (flags & KERN_GEMV_NORM_X) {
            double ss = 0;
            for (uint32_t j = 0; j < k; j++)
                ss += (double)xb_[j] * xb_[j];
            inv = 1.0 / sqrt(ss / k + 1e-5);
        }
        double prev = 0;
        for (uint32_t r = 0; r < n; r++) {
            double acc = 0;
            for (uint32_t j = 0; j < k; j++)
                acc += weight_ref(base + g.w, (const uint16_t *)(base + g.scales), d, k, r, j) *
                       xb_[j];
            acc *= inv;
            double want;
            uint64_t at;
            if (flags & KERN_GEMV_SWIGLU) {
                if (!(r & 1)) {
                    prev = acc;
                    continue;
                }
                want = prev / (1.0 + exp(-prev)) * acc;
                at = (uint64_t)b * out_n + r / 2;
            } else {
                at = (uint64_t)b * out_n + r;
                want = y0[at] + acc;
            }
            double diff = (double)y[at] - want;
            num += diff * diff;
            den += want * want;
        }
    }
    free(y0);
    kern_slice_close(s);
    double err = sqrt(num / den);
    if (!(err <= KERN_TOL_REL))
        print_error("dtype %s n=%u k=%u batch=%u flags=%u: relative error %.3g > %.1g\n",
                    kern_dtype_name(d), n, k, batch, flags, err, KERN_TOL_REL);
    if (err > worst[d] || isnan(err)) worst[d] = err;
    return err;
}

static double gemv_error(kern_dtype d, uint32_t n, uint32_t k, uint32_t batch, unsigned flags,
                         uint64_t seed)
{
    return gemv_error_split(d, n, k, batch, flags, seed, 0);
}

static const struct {
    uint32_t n, k, batch;
} shapes[] = {{1, 128, 1}, {38, 256, 3}, {64, 1024, 8}, {50, 384, 11}, {20, 4096, 2}, {6, 128, 17}};

static const unsigned flag_sets[] = {0, KERN_GEMV_ACCUMULATE, KERN_GEMV_NORM_X,
                                     KERN_GEMV_NORM_X | KERN_GEMV_SWIGLU,
                                     KERN_GEMV_NORM_X | KERN_GEMV_ACCUMULATE};

static void check_dtype(kern_dtype d)
{
    uint64_t seed = 1000 * (d + 1);
    for (unsigned i = 0; i < VP_ARRAY_LEN(shapes); i++)
        for (unsigned f = 0; f < VP_ARRAY_LEN(flag_sets); f++) {
            if ((flag_sets[f] & KERN_GEMV_SWIGLU) && (shapes[i].n & 1)) continue;
            double err =
                gemv_error(d, shapes[i].n, shapes[i].k, shapes[i].batch, flag_sets[f], seed++);
            assert_true(err <= KERN_TOL_REL);
        }
    print_message("%s: worst relative error %.3g (tolerance %.1g)\n", kern_dtype_name(d), worst[d],
                  KERN_TOL_REL);
}

static void fp16_gemv_matches_the_double_reference(void **state)
{
    (void)state;
    check_dtype(KERN_FP16);
}

static void bf16_gemv_matches_the_double_reference(void **state)
{
    (void)state;
    check_dtype(KERN_BF16);
}

static void int4_gemv_matches_the_double_reference(void **state)
{
    (void)state;
    check_dtype(KERN_INT4);
}

/* Every k-split the plan can choose gives the reference result: each 16-byte vector is counted by
 * exactly one slice, and the flags' work is done once on the slices' total. The k values leave
 * some slices with no vectors at all (k = 128 int4 is 4 vectors for up to 8 slices) and others
 * with a partial last run of 32 vectors. */
static void gemv_matches_the_reference_at_every_k_split(void **state)
{
    (void)state;
    static const struct {
        uint32_t n, k, batch;
    } cases[] = {{8, 128, 1}, {6, 384, 2}, {12, 2176, 3}, {4, 4224, 9}, {10, 8320, 1}};
    static const uint32_t splits[] = {1, 2, 4, 8};
    uint64_t seed = 77;
    double worst_split = 0;
    for (int d = 0; d < 3; d++)
        for (unsigned c = 0; c < VP_ARRAY_LEN(cases); c++)
            for (unsigned sp = 0; sp < VP_ARRAY_LEN(splits); sp++)
                for (unsigned f = 0; f < VP_ARRAY_LEN(flag_sets); f++) {
                    double err = gemv_error_split((kern_dtype)d, cases[c].n, cases[c].k,
                                                  cases[c].batch, flag_sets[f], seed++, splits[sp]);
                    if (!(err <= KERN_TOL_REL))
                        fail_msg("%s n=%u k=%u batch=%u ksplit=%u flags=%u: error %.3g > %.1g",
                                 kern_dtype_name((kern_dtype)d), cases[c].n, cases[c].k,
                                 cases[c].batch, splits[sp], flag_sets[f], err, KERN_TOL_REL);
                    if (err > worst_split) worst_split = err;
                }
    print_message("k-splits 1..8: worst relative error %.3g (tolerance %.1g)\n", worst_split,
                  KERN_TOL_REL);
}

static void gemv_rejects_bad_arguments(void **state)
{
    (void)state;
    kern_slice *s = NULL;
    vp_err e = {0};
    assert_int_equal(kern_slice_open(KERN_REQ_CPU, 1 << 20, &s, &e), 0);
    kern_gemv_args g = {KERN_FP16, 0, 0, 65536, 131072, 16, 100, 1, 0};
    assert_int_equal(kern_gemv(s, &g, &e), VP_EINPUT); /* k not a multiple of 128 */
    g.k = 128;
    g.flags = KERN_GEMV_SWIGLU;
    g.n = 15;
    assert_int_equal(kern_gemv(s, &g, &e), VP_EINPUT); /* odd n with SwiGLU */
    g.n = 16;
    g.flags = 0;
    g.x = 65536 + 4;
    assert_int_equal(kern_gemv(s, &g, &e), VP_EINPUT); /* x not 16-byte aligned */
    assert_non_null(strstr(e.msg, "aligned"));
    g.x = 65536;
    g.y = 65536 + 16;
    assert_int_equal(kern_gemv(s, &g, &e), VP_EINPUT); /* y overlaps x */
    g.y = 131072;
    assert_int_equal(kern_gemv(s, &g, &e), 0);
    kern_slice_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fp16_gemv_matches_the_double_reference),
        cmocka_unit_test(bf16_gemv_matches_the_double_reference),
        cmocka_unit_test(int4_gemv_matches_the_double_reference),
        cmocka_unit_test(gemv_matches_the_reference_at_every_k_split),
        cmocka_unit_test(gemv_rejects_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
