/* test_attention.c - CPU paged decode attention against a double-precision reference that walks
 * the same block tables: scattered (non-contiguous) blocks, GQA groups from 1 to 8, head_dim 8 to
 * 256, lengths on and off block boundaries; the new token's K/V must land in its cache slot and
 * nothing else in the pool may change. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kern.h"

static double f16_ref(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -v : v;
}

static uint64_t lcg(uint64_t *r)
{
    *r = *r * 6364136223846793005ull + 1442695040888963407ull;
    return *r >> 33;
}

/* Element offset (in fp16 units) of block b, K or V, head h, slot t. */
static uint64_t kv_at(uint32_t b, int v, uint32_t h, uint32_t t, uint32_t kvh, uint32_t hd)
{
    return ((((uint64_t)b * 2 + (uint64_t)v) * kvh + h) * 16 + t) * hd;
}

static double run_case(uint32_t batch, uint32_t heads, uint32_t kvh, uint32_t hd, uint32_t maxb,
                       uint64_t seed)
{
    const uint32_t nblocks = batch * maxb + 3, group = heads / kvh;
    const uint64_t row = (uint64_t)(heads + 2 * kvh) * hd;
    const uint64_t kv_elems = (uint64_t)nblocks * 2 * kvh * 16 * hd;
    kern_attn_args a = {0};
    a.batch = batch;
    a.heads = heads;
    a.kv_heads = kvh;
    a.head_dim = hd;
    a.kv_blocks = nblocks;
    a.max_blocks_per_seq = maxb;
    a.splits = 1;
    a.split_blocks = maxb;
    kern_arena ar;
    kern_arena_init(&ar, UINT64_MAX);
    assert_int_equal(kern_arena_take(&ar, batch * row * 4, 256, &a.qkv), 0);
    assert_int_equal(kern_arena_take(&ar, (uint64_t)batch * heads * hd * 4, 256, &a.out), 0);
    assert_int_equal(kern_arena_take(&ar, kv_elems * 2, 256, &a.kv), 0);
    assert_int_equal(kern_arena_take(&ar, (uint64_t)batch * maxb * 4, 256, &a.tables), 0);
    assert_int_equal(kern_arena_take(&ar, batch * 4, 256, &a.lens), 0);
    assert_int_equal(kern_arena_take(&ar, (uint64_t)batch * heads * (hd + 4) * 4, 256, &a.partial),
                     0);
    kern_slice *s = NULL;
    vp_err e = {0};
    assert_int_equal(kern_slice_open(KERN_REQ_CPU, ar.used, &s, &e), 0);
    uint8_t *base = kern_slice_host(s);
    assert_int_equal(kern_fill(s, a.qkv, KERN_FILL_F32, batch * row, seed, 1.5f, &e), 0);
    assert_int_equal(kern_fill(s, a.kv, KERN_FILL_F16, kv_elems, seed + 1, 1.0f, &e), 0);
    uint16_t *kv = (uint16_t *)(base + a.kv);
    uint16_t *before = malloc(kv_elems * 2);
    assert_non_null(before);
    memcpy(before, kv, kv_elems * 2);

    /* block tables: a shuffled permutation of the pool, so a sequence's blocks are scattered */
    uint64_t r = seed;
    uint32_t *perm = malloc(sizeof(uint32_t) * nblocks);
    assert_non_null(perm);
    for (uint32_t i = 0; i < nblocks; i++)
        perm[i] = i;
    for (uint32_t i = nblocks - 1; i > 0; i--) {
        uint32_t j = (uint32_t)(lcg(&r) % (i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    int32_t *tables = (int32_t *)(base + a.tables), *lens = (int32_t *)(base + a.lens);
    const uint32_t cap = maxb * 16;
    for (uint32_t b = 0; b < batch; b++) {
        for (uint32_t i = 0; i < maxb; i++)
            tables[b * maxb + i] = (int32_t)perm[b * maxb + i];
        uint32_t picks[] = {0, 15, 16, cap - 1, (uint32_t)(lcg(&r) % cap)};
        lens[b] = (int32_t)picks[(b + seed) % 5];
    }
    float *out = (float *)(base + a.out);
    for (uint64_t i = 0; i < (uint64_t)batch * heads * hd; i++)
        out[i] = NAN;

    assert_int_equal(kern_attention(s, &a, &e), 0);

    const float *qkv = (const float *)(base + a.qkv);
    double num = 0, den = 0;
    double *p = malloc(sizeof(double) * cap);
    assert_non_null(p);
    for (uint32_t b = 0; b < batch; b++) {
        const uint32_t pos = (uint32_t)lens[b];
        const float *qb = qkv + b * row;
        const uint32_t nb = (uint32_t)tables[b * maxb + pos / 16];
        /* the new token's K/V are in the cache at pos, rounded to fp16 */
        for (uint32_t h = 0; h < kvh; h++)
            for (uint32_t d = 0; d < hd; d++) {
                uint64_t at = kv_at(nb, 0, h, pos % 16, kvh, hd) + d;
                assert_int_equal(kv[at], kern_f32_to_f16(qb[(heads + h) * hd + d]));
                at = kv_at(nb, 1, h, pos % 16, kvh, hd) + d;
                assert_int_equal(kv[at], kern_f32_to_f16(qb[(heads + kvh + h) * hd + d]));
            }
        for (uint32_t i = 0; i < heads; i++) {
            const uint32_t h = i / group;
            const float *q = qb + (uint64_t)i * hd;
            double m = -INFINITY, sum = 0;
            for (uint32_t t = 0; t <= pos; t++) {
                const uint32_t blk = (uint32_t)tables[b * maxb + t / 16];
                double sc = 0;
                for (uint32_t d = 0; d < hd; d++) {
                    double k = t == pos ? f16_ref(kern_f32_to_f16(qb[(heads + h) * hd + d]))
                                        : f16_ref(before[kv_at(blk, 0, h, t % 16, kvh, hd) + d]);
                    sc += q[d] * k;
                }
                p[t] = sc / sqrt((double)hd);
                if (p[t] > m) m = p[t];
            }
            for (uint32_t t = 0; t <= pos; t++)
                sum += (p[t] = exp(p[t] - m));
            for (uint32_t d = 0; d < hd; d++) {
                double o = 0;
                for (uint32_t t = 0; t <= pos; t++) {
                    const uint32_t blk = (uint32_t)tables[b * maxb + t / 16];
                    double v = t == pos ? f16_ref(kern_f32_to_f16(qb[(heads + kvh + h) * hd + d]))
                                        : f16_ref(before[kv_at(blk, 1, h, t % 16, kvh, hd) + d]);
                    o += p[t] / sum * v;
                }
                double diff = out[((uint64_t)b * heads + i) * hd + d] - o;
                num += diff * diff;
                den += o * o;
            }
        }
        /* restore the new slots, so the whole pool can be compared with its old contents */
        for (uint32_t h = 0; h < kvh; h++)
            for (int v = 0; v < 2; v++)
                memcpy(kv + kv_at(nb, v, h, pos % 16, kvh, hd),
                       before + kv_at(nb, v, h, pos % 16, kvh, hd), hd * 2);
    }
    assert_memory_equal(kv, before, kv_elems * 2);
    free(p);
    free(perm);
    free(before);
    kern_slice_close(s);
    double err = sqrt(num / den);
    if (!(err <= KERN_TOL_REL))
        print_error("batch %u heads %u kv_heads %u head_dim %u: relative error %.3g\n", batch,
                    heads, kvh, hd, err);
    return err;
}

static void paged_attention_matches_the_double_reference(void **state)
{
    (void)state;
    const struct {
        uint32_t batch, heads, kvh, hd, maxb;
    } cases[] = {
        {3, 8, 2, 64, 6}, {2, 4, 4, 128, 3}, {5, 8, 1, 32, 4},
        {4, 6, 2, 8, 2},  {2, 2, 1, 256, 5}, {1, 16, 2, 128, 9},
    };
    double worst = 0;
    for (unsigned i = 0; i < VP_ARRAY_LEN(cases); i++) {
        double err = run_case(cases[i].batch, cases[i].heads, cases[i].kvh, cases[i].hd,
                              cases[i].maxb, 100 + i);
        assert_true(err <= KERN_TOL_REL);
        if (err > worst) worst = err;
    }
    print_message("attention: worst relative error %.3g (tolerance %.1g)\n", worst, KERN_TOL_REL);
}

static void attention_rejects_bad_shapes(void **state)
{
    (void)state;
    kern_slice *s = NULL;
    vp_err e = {0};
    assert_int_equal(kern_slice_open(KERN_REQ_CPU, 1 << 20, &s, &e), 0);
    kern_attn_args a = {0};
    a.batch = 1;
    a.heads = 8;
    a.kv_heads = 3;
    a.head_dim = 64;
    a.kv_blocks = 4;
    a.max_blocks_per_seq = 2;
    a.splits = 1;
    a.split_blocks = 2;
    a.out = 4096;
    a.kv = 8192;
    a.tables = 65536;
    a.lens = 65536 + 256;
    a.partial = 65536 + 512;
    assert_int_equal(kern_attention(s, &a, &e), VP_EINPUT); /* 8 heads over 3 KV heads */
    a.kv_heads = 2;
    a.head_dim = 96;
    assert_int_equal(kern_attention(s, &a, &e), VP_EINPUT);
    assert_non_null(strstr(e.msg, "head_dim"));
    a.head_dim = 64;
    a.splits = 1;
    a.split_blocks = 1; /* 1 x 1 blocks do not cover 2 */
    assert_int_equal(kern_attention(s, &a, &e), VP_EINPUT);
    a.split_blocks = 2;
    a.kv_blocks = 1000; /* the pool would run past the slice */
    assert_int_equal(kern_attention(s, &a, &e), VP_EINPUT);
    assert_non_null(strstr(e.msg, "outside"));
    kern_slice_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(paged_attention_matches_the_double_reference),
        cmocka_unit_test(attention_rejects_bad_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
