/* kern_impl.h - internals shared by the CPU and CUDA halves of kernels/ (not a public header).
 *
 * The inline functions here are compiled by both gcc and nvcc (host and device), so the CPU twin
 * and the CUDA kernels fill exactly the same bytes and convert numbers exactly the same way: the
 * pseudo-random generator is counter-based (a value is a pure function of seed and index) and the
 * fp16/bf16 conversions are bit-exact round-to-nearest-even. The backend entry points (kcpu_*,
 * kcuda_*) take offsets already bounds-checked by kern_slice.c. */
#ifndef KERN_IMPL_H
#define KERN_IMPL_H

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "kern.h"

#ifdef __CUDACC__
#define KERN_HD static __host__ __device__ __forceinline__
#else
#define KERN_HD static inline
#endif

KERN_HD uint32_t kern_f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

KERN_HD float kern_u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* fp16 -> fp32, exact. Shifting the half's exponent and mantissa into a float's and scaling by
 * 2^112 re-biases the exponent and normalises subnormals in one multiply. */
KERN_HD float kern_h2f(uint16_t h)
{
    uint32_t em = (uint32_t)(h & 0x7fffu);
    uint32_t o = kern_f2u(kern_u2f(em << 13) * 0x1p112f);
    o |= (0u - (uint32_t)(em >= 0x7c00u)) & 0x7f800000u; /* inf, NaN; branch-free to vectorise */
    return kern_u2f(o | ((uint32_t)(h & 0x8000u) << 16));
}

/* fp32 -> fp16, round to nearest even (after F. Giesen's float_to_half_fast3_rtne). */
KERN_HD uint16_t kern_f2h(float f)
{
    const uint32_t f32infty = 255u << 23;
    const uint32_t f16max = (127u + 16u) << 23;
    const uint32_t denorm_magic = ((127u - 15u) + (23u - 10u) + 1u) << 23;
    uint32_t u = kern_f2u(f);
    uint32_t sign = u & 0x80000000u;
    uint16_t o;
    u ^= sign;
    if (u >= f16max) {
        o = (u > f32infty) ? 0x7e00u : 0x7c00u;
    } else if (u < (113u << 23)) {
        /* subnormal or zero: let the float adder round the mantissa into place */
        float t = kern_u2f(u) + kern_u2f(denorm_magic);
        o = (uint16_t)(kern_f2u(t) - denorm_magic);
    } else {
        uint32_t mant_odd = (u >> 13) & 1u;
        u += (uint32_t)(((int32_t)15 - 127) * (1 << 23)) + 0xfffu;
        u += mant_odd;
        o = (uint16_t)(u >> 13);
    }
    return (uint16_t)(o | (sign >> 16));
}

KERN_HD float kern_b2f(uint16_t h)
{
    return kern_u2f((uint32_t)h << 16);
}

KERN_HD uint16_t kern_f2b(float f)
{
    uint32_t u = kern_f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

KERN_HD uint64_t kern_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Element i of stream seed, as 64 random bits. */
KERN_HD uint64_t kern_rand64(uint64_t seed, uint64_t i)
{
    return kern_mix64(seed * 0x9e3779b97f4a7c15ull + i + 0x632be59bd9b4e019ull);
}

/* Uniform in [0, 1) on a 2^-23 grid, so 2u - 1 and 0.5 + u are exact in fp32 and a single
 * multiply by scale rounds the same way everywhere. */
KERN_HD float kern_rand_unit(uint64_t seed, uint64_t i)
{
    return (float)(kern_rand64(seed, i) >> 41) * 0x1p-23f;
}

KERN_HD float kern_fill_f32(uint64_t seed, uint64_t i, float scale)
{
    return (2.0f * kern_rand_unit(seed, i) - 1.0f) * scale;
}

KERN_HD float kern_fill_pos(uint64_t seed, uint64_t i, float scale)
{
    return (0.5f + kern_rand_unit(seed, i)) * scale;
}

KERN_HD uint8_t kern_fill_byte(uint64_t seed, uint64_t i)
{
    return (uint8_t)(kern_rand64(seed, i >> 3) >> ((i & 7u) * 8u));
}

/* The token sequence b feeds at position pos. */
KERN_HD uint32_t kern_token(uint64_t seed, uint32_t b, uint32_t pos, uint32_t vocab)
{
    return (uint32_t)(kern_rand64(seed ^ 0x5bd1e995ull, ((uint64_t)b << 32) | pos) % vocab);
}

/* Size in bytes of one element of a fill kind. */
KERN_HD uint32_t kern_fill_elem(kern_fill_kind k)
{
    return k == KERN_FILL_F32 ? 4u : k == KERN_FILL_BYTES ? 1u : 2u;
}

/* Offset of (layer-local) KV block b, K (kv = 0) or V (kv = 1), head h, slot t, element 0. */
KERN_HD uint64_t kern_kv_elem(uint32_t b, uint32_t kv, uint32_t h, uint32_t t, uint32_t kv_heads,
                              uint32_t head_dim)
{
    return ((((uint64_t)b * 2u + kv) * kv_heads + h) * KERN_KV_BLOCK_TOKENS + t) * head_dim;
}

/* The k-slice (0 .. ksplit - 1) that reads 16-byte vector v of a weight row: a row's vectors are
 * dealt out 32 at a time, one per lane, to the ksplit warps sharing the row in turn. */
KERN_HD uint32_t kern_gemv_slice_of(uint32_t v, uint32_t ksplit)
{
    return (v / 32u) % ksplit;
}

/* Magic numbers of the int4 dequantisation: a nibble q or-ed into the low mantissa bits of the
 * fp16 1024.0 (0x6400) gives 1024 + q; or-ed in four bits higher, 1024 + 16 q. */
#define KERN_INT4_MAGIC 0x64006400u
#define KERN_INT4_MASK_LO 0x000f000fu
#define KERN_INT4_MASK_HI 0x00f000f0u

/* The eight weights (q - 8) of a 32-bit word of packed int4 (element i in nibble i, low first),
 * computed the way the CUDA GEMV does it with fp16x2 operations: one AND-OR (a single LOP3) puts
 * two nibbles into two fp16 halves at once, a shift by 8 brings the next two pairs down, and one
 * fp16x2 subtract (1024 + q - 1032) or fused multiply-add ((1024 + 16 q) / 16 - 72) leaves
 * q - 8 in both halves. Every intermediate is an integer below 2048 (or 16 q below 1024 in the
 * mantissa), so each step is exact in fp16 and in the fp32 used here: the result equals q - 8
 * bit for bit, which tests/kernels checks for every nibble at every position. */
KERN_HD void kern_int4_word(uint32_t w, float out[8])
{
    const uint32_t w8 = w >> 8;
    const uint32_t lo = (w & KERN_INT4_MASK_LO) | KERN_INT4_MAGIC;   /* e0, e4 */
    const uint32_t hi = (w & KERN_INT4_MASK_HI) | KERN_INT4_MAGIC;   /* e1, e5 */
    const uint32_t lo8 = (w8 & KERN_INT4_MASK_LO) | KERN_INT4_MAGIC; /* e2, e6 */
    const uint32_t hi8 = (w8 & KERN_INT4_MASK_HI) | KERN_INT4_MAGIC; /* e3, e7 */
    out[0] = kern_h2f((uint16_t)lo) - 1032.0f;
    out[4] = kern_h2f((uint16_t)(lo >> 16)) - 1032.0f;
    out[1] = kern_h2f((uint16_t)hi) * 0.0625f - 72.0f;
    out[5] = kern_h2f((uint16_t)(hi >> 16)) * 0.0625f - 72.0f;
    out[2] = kern_h2f((uint16_t)lo8) - 1032.0f;
    out[6] = kern_h2f((uint16_t)(lo8 >> 16)) - 1032.0f;
    out[3] = kern_h2f((uint16_t)hi8) * 0.0625f - 72.0f;
    out[7] = kern_h2f((uint16_t)(hi8 >> 16)) * 0.0625f - 72.0f;
}

struct kcuda_ctx;

struct kern_slice {
    kern_backend backend;
    uint64_t bytes;
    kern_slice_mem mem;
    uint8_t *host;          /* CPU backend: the slice */
    struct kcuda_ctx *cuda; /* CUDA backend */
    struct timespec t0;     /* CPU timer */
    char device[128];
};

/* CPU backend (kern_cpu.c). base is the slice's host address. kcpu_gemv follows
 * kern_gemv_plan_make for KERN_GEMV_PLAN_SMS, batch tile by batch tile; kcpu_gemv_split takes the
 * k-split (1, 2, 4 or 8; 0 for the plan's) as given, for tests. */
void kcpu_gemv(uint8_t *base, const kern_gemv_args *a);
void kcpu_gemv_split(uint8_t *base, const kern_gemv_args *a, uint32_t ksplit);
void kcpu_attention(uint8_t *base, const kern_attn_args *a);
void kcpu_embed(uint8_t *base, const kern_embed_args *a);

/* CUDA backend (kern_cuda.cu, or kern_nocuda.c when the toolkit is absent: every call fails with
 * VP_ESTATE "cuda backend not built"). C linkage; offsets are bounds-checked by the caller. */
#ifdef __cplusplus
extern "C" {
#endif
typedef struct kcuda_ctx kcuda_ctx;
int kcuda_built(void);
int kcuda_device_count(vp_err *e);
int kcuda_describe(kern_cuda_info *out, vp_err *e);
/* Opens the device and takes a slice: of exactly `bytes` when mem->budget is 0, else of what
 * mem->budget leaves after the measured context and the headroom (mem is filled in either way). */
int kcuda_open(uint64_t bytes, kern_slice_mem *mem, kcuda_ctx **out, char *name, size_t name_len,
               vp_err *e);
int kcuda_device_used(kcuda_ctx *c, uint64_t *bytes, vp_err *e);
void kcuda_close(kcuda_ctx *c);
int kcuda_upload(kcuda_ctx *c, uint64_t off, const void *src, uint64_t n, vp_err *e);
int kcuda_download(kcuda_ctx *c, uint64_t off, void *dst, uint64_t n, vp_err *e);
int kcuda_sync(kcuda_ctx *c, vp_err *e);
int kcuda_fill(kcuda_ctx *c, uint64_t off, kern_fill_kind kind, uint64_t count, uint64_t seed,
               float scale, vp_err *e);
int kcuda_gemv(kcuda_ctx *c, const kern_gemv_args *a, vp_err *e);
int kcuda_attention(kcuda_ctx *c, const kern_attn_args *a, vp_err *e);
int kcuda_embed(kcuda_ctx *c, const kern_embed_args *a, vp_err *e);
int kcuda_copy(kcuda_ctx *c, uint64_t dst, uint64_t src, uint64_t n, vp_err *e);
int kcuda_timer_start(kcuda_ctx *c, vp_err *e);
int kcuda_timer_stop(kcuda_ctx *c, double *ms, vp_err *e);
/* Graph capture of a sequence of launches on the slice's stream, then replays of it. */
int kcuda_capture_begin(kcuda_ctx *c, vp_err *e);
int kcuda_capture_end(kcuda_ctx *c, vp_err *e);
int kcuda_replay(kcuda_ctx *c, vp_err *e);
#ifdef __cplusplus
}
#endif

#endif
