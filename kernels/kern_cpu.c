/* kern_cpu.c - the CPU twin of every kernel: GEMV (fp16, bf16, int4), paged decode attention,
 * embedding lookup, fills, and the public number conversions.
 *
 * Design. Each function computes exactly what its CUDA counterpart computes (same inputs, same
 * fp16 rounding of the new K/V, fp32 accumulation) in the plainest order that is still quick
 * enough for a worker on a small machine: a row is decoded once into fp32 and then dotted with
 * every batch row, with eight independent partial sums so the compiler can keep them in registers.
 * The GEMV follows the CUDA kernel's decomposition (the same plan, k-slices and slice-order sum;
 * int4 values equal to its magic-number dequantisation bit for bit), so the paths the GPU takes
 * are exercised here too.
 * The results differ from CUDA's only by summation order and exp(), within KERN_TOL_REL. Offsets
 * arrive bounds-checked (kern_slice.c); attention also re-checks the data-dependent block ids and
 * lengths and skips what would fall outside the pool. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kern_impl.h"

uint16_t kern_f32_to_f16(float f)
{
    return kern_f2h(f);
}

float kern_f16_to_f32(uint16_t h)
{
    return kern_h2f(h);
}

uint16_t kern_f32_to_bf16(float f)
{
    return kern_f2b(f);
}

float kern_bf16_to_f32(uint16_t h)
{
    return kern_b2f(h);
}

void kern_fill_host(void *dst, kern_fill_kind kind, uint64_t count, uint64_t seed, float scale)
{
    uint64_t i;
    switch (kind) {
    case KERN_FILL_F32: {
        float *p = dst;
        for (i = 0; i < count; i++)
            p[i] = kern_fill_f32(seed, i, scale);
        break;
    }
    case KERN_FILL_F16: {
        uint16_t *p = dst;
        for (i = 0; i < count; i++)
            p[i] = kern_f2h(kern_fill_f32(seed, i, scale));
        break;
    }
    case KERN_FILL_BF16: {
        uint16_t *p = dst;
        for (i = 0; i < count; i++)
            p[i] = kern_f2b(kern_fill_f32(seed, i, scale));
        break;
    }
    case KERN_FILL_F16_POS: {
        uint16_t *p = dst;
        for (i = 0; i < count; i++)
            p[i] = kern_f2h(kern_fill_pos(seed, i, scale));
        break;
    }
    case KERN_FILL_BYTES: {
        uint8_t *p = dst;
        for (i = 0; i + 8 <= count; i += 8) {
            uint64_t r = kern_rand64(seed, i >> 3);
            memcpy(p + i, &r, 8); /* little-endian: byte j of r is element i + j */
        }
        for (; i < count; i++)
            p[i] = kern_fill_byte(seed, i);
        break;
    }
    }
}

/* Sum of a[i] * b[i] over n (a multiple of 8) with eight partial sums. */
static float dot8(const float *a, const float *b, uint32_t n)
{
    float s[8] = {0};
    for (uint32_t i = 0; i < n; i += 8)
        for (int j = 0; j < 8; j++)
            s[j] += a[i + j] * b[i + j];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* (low nibble - 8, high nibble - 8) of every byte: int4 decoding by table, two weights a load.
 * These are exactly the values the CUDA kernel's fp16x2 magic-number arithmetic gives
 * (kern_int4_word; tests/kernels/test_plan.c checks it bit for bit against q - 8), at a tenth of
 * its cost on a CPU. */
#define NIB(b)                                                                                     \
    {                                                                                              \
        (float)((b)&15) - 8.0f, (float)((b) >> 4) - 8.0f                                           \
    }
#define NIB4(b) NIB(b), NIB((b) + 1), NIB((b) + 2), NIB((b) + 3)
#define NIB16(b) NIB4(b), NIB4((b) + 4), NIB4((b) + 8), NIB4((b) + 12)
#define NIB64(b) NIB16(b), NIB16((b) + 16), NIB16((b) + 32), NIB16((b) + 48)
static const float nibbles[256][2] = {NIB64(0), NIB64(64), NIB64(128), NIB64(192)};

/* Decodes elements [k0, k0 + 128) of row n into out: the weight value for fp16/bf16, (q - 8) for
 * int4 (the group's scale is applied to the group's sum). */
static void decode_chunk(const kern_gemv_args *a, const uint8_t *w, uint64_t n, uint32_t k0,
                         float *out)
{
    if (a->dtype == KERN_INT4) {
        const uint8_t *p = w + n * (a->k / 2u) + k0 / 2u;
        for (uint32_t i = 0; i < KERN_INT4_GROUP / 2u; i++)
            memcpy(out + 2 * i, nibbles[p[i]], 8);
        return;
    }
    const uint16_t *p = (const uint16_t *)w + n * a->k + k0;
    if (a->dtype == KERN_FP16)
        for (uint32_t i = 0; i < KERN_INT4_GROUP; i++)
            out[i] = kern_h2f(p[i]);
    else
        for (uint32_t i = 0; i < KERN_INT4_GROUP; i++)
            out[i] = kern_b2f(p[i]);
}

/* Writes row n's totals of one batch tile (b0 .. b0 + bt) with the flags' work. */
static void gemv_store(const kern_gemv_args *a, float *y, uint64_t n, uint32_t b0, uint32_t bt,
                       const float *total, const float *scale_x, float *prev)
{
    for (uint32_t b = 0; b < bt; b++) {
        float v = total[b] * scale_x[b];
        uint64_t row = b0 + b;
        if (a->flags & KERN_GEMV_SWIGLU) {
            if ((n & 1u) == 0) {
                prev[b] = v;
            } else {
                float gate = prev[b];
                y[row * (a->n / 2u) + n / 2u] = gate / (1.0f + expf(-gate)) * v;
            }
        } else if (a->flags & KERN_GEMV_ACCUMULATE) {
            y[row * a->n + n] += v;
        } else {
            y[row * a->n + n] = v;
        }
    }
}

/* The GEMV in the CUDA kernel's decomposition: each row's 128-weight groups go to the k-slice
 * that reads them (kern_gemv_slice_of), every slice keeps its own partial sums, and the partials
 * are added in slice order before the flags' work, as the CUDA block reduction does. */
void kcpu_gemv_split(uint8_t *base, const kern_gemv_args *a, uint32_t ksplit)
{
    const uint8_t *w = base + a->w;
    const uint16_t *scales = (const uint16_t *)(base + a->scales);
    const float *x = (const float *)(base + a->x);
    float *y = (float *)(base + a->y);
    const uint32_t k = a->k, nb = a->batch, groups = a->k / KERN_INT4_GROUP;
    const uint32_t per_vec = a->dtype == KERN_INT4 ? 32u : 8u;
    float chunk[KERN_INT4_GROUP];
    float part[KERN_GEMV_WARPS][KERN_GEMV_BATCH_TILE];

    for (uint32_t b0 = 0; b0 < nb; b0 += KERN_GEMV_BATCH_TILE) {
        uint32_t bt = nb - b0 < KERN_GEMV_BATCH_TILE ? nb - b0 : KERN_GEMV_BATCH_TILE;
        uint32_t ks = ksplit;
        if (ks == 0) {
            kern_gemv_plan p;
            kern_gemv_plan_make(a->dtype, a->n, a->k, bt, 0, &p);
            ks = p.ksplit;
        }
        if (ks > KERN_GEMV_WARPS) ks = KERN_GEMV_WARPS;
        float scale_x[KERN_GEMV_BATCH_TILE];
        for (uint32_t b = 0; b < bt; b++) {
            scale_x[b] = 1.0f;
            if (a->flags & KERN_GEMV_NORM_X) {
                const float *xb = x + (uint64_t)(b0 + b) * k;
                float ss = dot8(xb, xb, k);
                scale_x[b] = 1.0f / sqrtf(ss / (float)k + 1e-5f);
            }
        }
        float prev[KERN_GEMV_BATCH_TILE] = {0}; /* SwiGLU: the gate row's result */
        for (uint64_t n = 0; n < a->n; n++) {
            memset(part, 0, sizeof part);
            for (uint32_t g = 0; g < groups; g++) {
                uint32_t k0 = g * KERN_INT4_GROUP;
                uint32_t sl = kern_gemv_slice_of(k0 / per_vec, ks);
                decode_chunk(a, w, n, k0, chunk);
                float s = a->dtype == KERN_INT4 ? kern_h2f(scales[n * groups + g]) : 1.0f;
                for (uint32_t b = 0; b < bt; b++)
                    part[sl][b] += s * dot8(chunk, x + (uint64_t)(b0 + b) * k + k0, KERN_INT4_GROUP);
            }
            float total[KERN_GEMV_BATCH_TILE];
            for (uint32_t b = 0; b < bt; b++) {
                total[b] = part[0][b];
                for (uint32_t sl = 1; sl < ks; sl++)
                    total[b] += part[sl][b];
            }
            gemv_store(a, y, n, b0, bt, total, scale_x, prev);
        }
    }
}

void kcpu_gemv(uint8_t *base, const kern_gemv_args *a)
{
    kcpu_gemv_split(base, a, 0);
}

void kcpu_attention(uint8_t *base, const kern_attn_args *a)
{
    const float *qkv = (const float *)(base + a->qkv);
    float *out = (float *)(base + a->out);
    uint16_t *kv = (uint16_t *)(base + a->kv);
    const int32_t *tables = (const int32_t *)(base + a->tables);
    const int32_t *lens = (const int32_t *)(base + a->lens);
    const uint32_t hd = a->head_dim, group = a->heads / a->kv_heads;
    const uint32_t row = (a->heads + 2u * a->kv_heads) * hd;
    const uint32_t cap = a->max_blocks_per_seq * KERN_KV_BLOCK_TOKENS;
    const float scale = 1.0f / sqrtf((float)hd);
    float *scores = malloc(sizeof(float) * (cap ? cap : 1u));
    if (!scores) return; /* cannot happen at worker sizes; the output is then left unwritten */

    for (uint32_t b = 0; b < a->batch; b++) {
        const float *q_all = qkv + (uint64_t)b * row;
        int32_t pos_s = lens[b];
        const int32_t *table = tables + (uint64_t)b * a->max_blocks_per_seq;
        if (pos_s < 0 || (uint32_t)pos_s >= cap) continue;
        uint32_t pos = (uint32_t)pos_s;
        int bad = 0;
        for (uint32_t t = 0; t <= pos; t += KERN_KV_BLOCK_TOKENS)
            if (table[t / KERN_KV_BLOCK_TOKENS] < 0 ||
                (uint32_t)table[t / KERN_KV_BLOCK_TOKENS] >= a->kv_blocks)
                bad = 1;
        if (bad) continue;
        /* write the new token's K and V (rounded to fp16) into its slot */
        uint32_t nblk = (uint32_t)table[pos / KERN_KV_BLOCK_TOKENS];
        for (uint32_t h = 0; h < a->kv_heads; h++) {
            const float *kn = q_all + (a->heads + h) * hd;
            const float *vn = q_all + (a->heads + a->kv_heads + h) * hd;
            uint16_t *kd =
                kv + kern_kv_elem(nblk, 0, h, pos % KERN_KV_BLOCK_TOKENS, a->kv_heads, hd);
            uint16_t *vd =
                kv + kern_kv_elem(nblk, 1, h, pos % KERN_KV_BLOCK_TOKENS, a->kv_heads, hd);
            for (uint32_t d = 0; d < hd; d++) {
                kd[d] = kern_f2h(kn[d]);
                vd[d] = kern_f2h(vn[d]);
            }
        }
        for (uint32_t i = 0; i < a->heads; i++) {
            uint32_t h = i / group;
            const float *q = q_all + (uint64_t)i * hd;
            float m = -INFINITY;
            for (uint32_t t = 0; t <= pos; t++) {
                uint32_t blk = (uint32_t)table[t / KERN_KV_BLOCK_TOKENS];
                const uint16_t *kp =
                    kv + kern_kv_elem(blk, 0, h, t % KERN_KV_BLOCK_TOKENS, a->kv_heads, hd);
                float s = 0.0f;
                for (uint32_t d = 0; d < hd; d++)
                    s += q[d] * kern_h2f(kp[d]);
                scores[t] = s * scale;
                if (scores[t] > m) m = scores[t];
            }
            float sum = 0.0f;
            for (uint32_t t = 0; t <= pos; t++) {
                scores[t] = expf(scores[t] - m);
                sum += scores[t];
            }
            float *o = out + ((uint64_t)b * a->heads + i) * hd;
            for (uint32_t d = 0; d < hd; d++)
                o[d] = 0.0f;
            for (uint32_t t = 0; t <= pos; t++) {
                uint32_t blk = (uint32_t)table[t / KERN_KV_BLOCK_TOKENS];
                const uint16_t *vp =
                    kv + kern_kv_elem(blk, 1, h, t % KERN_KV_BLOCK_TOKENS, a->kv_heads, hd);
                float p = scores[t] / sum;
                for (uint32_t d = 0; d < hd; d++)
                    o[d] += p * kern_h2f(vp[d]);
            }
        }
    }
    free(scores);
}

void kcpu_embed(uint8_t *base, const kern_embed_args *a)
{
    const int32_t *lens = (const int32_t *)(base + a->lens);
    float *x = (float *)(base + a->x);
    for (uint32_t b = 0; b < a->batch; b++) {
        uint32_t tok = kern_token(a->seed, b, (uint32_t)lens[b], a->vocab);
        float *xb = x + (uint64_t)b * a->hidden;
        if (a->dtype == KERN_INT4) {
            const uint8_t *p = base + a->table + (uint64_t)tok * (a->hidden / 2u);
            const uint16_t *s = (const uint16_t *)(base + a->scales) +
                                (uint64_t)tok * (a->hidden / KERN_INT4_GROUP);
            for (uint32_t j = 0; j < a->hidden; j++) {
                int q = (j & 1u) ? (p[j / 2] >> 4) : (p[j / 2] & 0xf);
                xb[j] = (float)(q - 8) * kern_h2f(s[j / KERN_INT4_GROUP]);
            }
        } else {
            const uint16_t *p = (const uint16_t *)(base + a->table) + (uint64_t)tok * a->hidden;
            for (uint32_t j = 0; j < a->hidden; j++)
                xb[j] = a->dtype == KERN_FP16 ? kern_h2f(p[j]) : kern_b2f(p[j]);
        }
    }
}
