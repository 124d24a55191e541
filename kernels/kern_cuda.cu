/* kern_cuda.cu - the CUDA backend: one cudaMalloc of exactly the slice, and the decode kernels
 * (GEMV for fp16/bf16/int4, paged attention with a context split, embedding, fills).
 *
 * Design. Decode is memory-bandwidth bound, so each kernel is built to stream its bytes once at
 * full width: every weight load is a 16-byte, warp-coalesced, L1-bypassing load (512 contiguous
 * bytes per warp instruction), each warp keeps GEMV_ROWS rows' loads in flight before it uses
 * them, and a weight read once is multiplied with up to KERN_GEMV_BATCH_TILE batch rows. The int4
 * path dequantises without int-to-float conversions: a nibble q is or-ed into the mantissa of 1.0
 * to give 1 + q/16, and sum((q - 8) x) = 16 (sum((1 + q/16) x) - 1.5 sum(x)), where sum(x) is
 * shared by all rows of the warp. Accumulation is fp32 throughout. Attention gives each
 * (sequence, KV head, context split) a thread block that reads each K/V row once for the whole GQA
 * group, runs an online softmax, and a small second kernel merges the splits (flash-decoding).
 * The new token's K/V are read from the QKV buffer (rounded to fp16 exactly as the cache stores
 * them) and written into the cache by the split that owns the position, so no block reads what
 * another writes in the same launch. All launches go to one stream; every runtime call's status is
 * checked and every launch is followed by cudaGetLastError. Block ids from the tables are checked
 * against the pool, so bad tables cannot make a kernel leave the slice. */
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "kern_impl.h"

#define GEMV_WARPS 4
#define GEMV_ROWS 4
#define GEMV_THREADS (GEMV_WARPS * 32)
#define ATTN_THREADS 128

struct kcuda_ctx {
    uint8_t *base;
    uint64_t bytes;
    int sms;
    cudaStream_t stream;
    cudaEvent_t ev0, ev1;
    cudaGraph_t graph;
    cudaGraphExec_t exec;
};

static int cu_fail(vp_err *e, cudaError_t st, const char *what)
{
    return vp_errf(e, VP_ESTATE, "cuda: %s: %s (error %d)", what, cudaGetErrorString(st), (int)st);
}

#define CU(call, what)                                                                             \
    do {                                                                                           \
        cudaError_t st_ = (call);                                                                  \
        if (st_ != cudaSuccess) return cu_fail(e, st_, what);                                      \
    } while (0)

/* ---- device helpers ---- */

/* 16-byte streaming load that does not allocate in L1 (weights are read exactly once). */
static __device__ __forceinline__ uint4 ld_stream(const uint4 *p)
{
    uint4 r;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
        : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
        : "l"(p));
    return r;
}

static __device__ __forceinline__ float warp_sum(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static __device__ __forceinline__ uint32_t word_of(const uint4 &v, int j)
{
    return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w;
}

/* The two fp16/bf16 values packed in a 32-bit word, low half first (exact conversions). */
template <int DT> static __device__ __forceinline__ void decode2(uint32_t w, float &lo, float &hi)
{
    if (DT == KERN_FP16) {
        __half2 h2 = *reinterpret_cast<const __half2 *>(&w);
        float2 f = __half22float2(h2);
        lo = f.x;
        hi = f.y;
    } else {
        lo = __uint_as_float(w << 16);
        hi = __uint_as_float(w & 0xffff0000u);
    }
}

/* 1 + q/16 for nibble i of w: the nibble placed in the top four mantissa bits of 1.0f. */
template <int I> static __device__ __forceinline__ float nib(uint32_t w)
{
    uint32_t t = I < 5 ? (w << (19 - 4 * I)) : (w >> (4 * I - 19));
    return __uint_as_float((t & 0x00780000u) | 0x3f800000u);
}

struct GemvParams {
    const uint8_t *w;
    const uint16_t *scales;
    const float *x;
    float *y;
    uint32_t n, k, flags;
    uint32_t y_stride; /* floats per batch row of y */
};

/* Warp-per-GEMV_ROWS-rows GEMV over B batch rows. Lane l reads 16-byte vectors l, l + 32, ... of
 * each of its rows, so a warp instruction covers 512 contiguous bytes of a row. */
template <int DT, int B, bool NORM>
__global__ void __launch_bounds__(GEMV_THREADS) gemv_kernel(GemvParams p)
{
    const int lane = threadIdx.x & 31;
    const uint32_t row0 = (blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5)) * GEMV_ROWS;
    if (row0 >= p.n) return;
    const uint32_t k = p.k;
    const uint64_t row_bytes = DT == KERN_INT4 ? k / 2u : (uint64_t)k * 2u;
    const uint4 *wr[GEMV_ROWS];
    uint32_t rows[GEMV_ROWS];
#pragma unroll
    for (int r = 0; r < GEMV_ROWS; r++) {
        rows[r] = min(row0 + r, p.n - 1u); /* rows past n re-read row n - 1 and are not stored */
        wr[r] = reinterpret_cast<const uint4 *>(p.w + rows[r] * row_bytes);
    }
    float acc[GEMV_ROWS][B], ss[B];
#pragma unroll
    for (int b = 0; b < B; b++) {
        ss[b] = 0.0f;
#pragma unroll
        for (int r = 0; r < GEMV_ROWS; r++)
            acc[r][b] = 0.0f;
    }
    const float4 *x4 = reinterpret_cast<const float4 *>(p.x);
    const uint32_t xs = k / 4u; /* float4s per batch row */
    const uint32_t per_vec = DT == KERN_INT4 ? 32u : 8u;
    const uint32_t nvec = k / per_vec;
    const uint32_t groups = k / KERN_INT4_GROUP;

#pragma unroll 2
    for (uint32_t v = lane; v < nvec; v += 32) {
        uint4 wv[GEMV_ROWS];
#pragma unroll
        for (int r = 0; r < GEMV_ROWS; r++)
            wv[r] = ld_stream(wr[r] + v);
        if (DT != KERN_INT4) {
            float xf[B][8];
#pragma unroll
            for (int b = 0; b < B; b++) {
                float4 a = __ldg(x4 + b * xs + v * 2u), c = __ldg(x4 + b * xs + v * 2u + 1u);
                xf[b][0] = a.x;
                xf[b][1] = a.y;
                xf[b][2] = a.z;
                xf[b][3] = a.w;
                xf[b][4] = c.x;
                xf[b][5] = c.y;
                xf[b][6] = c.z;
                xf[b][7] = c.w;
                if (NORM) {
#pragma unroll
                    for (int i = 0; i < 8; i++)
                        ss[b] = fmaf(xf[b][i], xf[b][i], ss[b]);
                }
            }
#pragma unroll
            for (int r = 0; r < GEMV_ROWS; r++) {
                float wf[8];
#pragma unroll
                for (int j = 0; j < 4; j++)
                    decode2<DT>(word_of(wv[r], j), wf[2 * j], wf[2 * j + 1]);
#pragma unroll
                for (int b = 0; b < B; b++)
#pragma unroll
                    for (int i = 0; i < 8; i++)
                        acc[r][b] = fmaf(wf[i], xf[b][i], acc[r][b]);
            }
        } else {
            float sc[GEMV_ROWS];
#pragma unroll
            for (int r = 0; r < GEMV_ROWS; r++)
                sc[r] = 16.0f * __half2float(__ushort_as_half(
                                    __ldg(p.scales + (uint64_t)rows[r] * groups + v / 4u)));
            float s1[GEMV_ROWS][B], s0[B];
#pragma unroll
            for (int b = 0; b < B; b++) {
                s0[b] = 0.0f;
#pragma unroll
                for (int r = 0; r < GEMV_ROWS; r++)
                    s1[r][b] = 0.0f;
            }
#pragma unroll
            for (int j = 0; j < 4; j++) {
                float xf[B][8];
#pragma unroll
                for (int b = 0; b < B; b++) {
                    float4 a = __ldg(x4 + b * xs + v * 8u + j * 2u);
                    float4 c = __ldg(x4 + b * xs + v * 8u + j * 2u + 1u);
                    xf[b][0] = a.x;
                    xf[b][1] = a.y;
                    xf[b][2] = a.z;
                    xf[b][3] = a.w;
                    xf[b][4] = c.x;
                    xf[b][5] = c.y;
                    xf[b][6] = c.z;
                    xf[b][7] = c.w;
#pragma unroll
                    for (int i = 0; i < 8; i++) {
                        s0[b] += xf[b][i];
                        if (NORM) ss[b] = fmaf(xf[b][i], xf[b][i], ss[b]);
                    }
                }
#pragma unroll
                for (int r = 0; r < GEMV_ROWS; r++) {
                    const uint32_t w = word_of(wv[r], j);
                    float f[8] = {nib<0>(w), nib<1>(w), nib<2>(w), nib<3>(w),
                                  nib<4>(w), nib<5>(w), nib<6>(w), nib<7>(w)};
#pragma unroll
                    for (int b = 0; b < B; b++)
#pragma unroll
                        for (int i = 0; i < 8; i++)
                            s1[r][b] = fmaf(f[i], xf[b][i], s1[r][b]);
                }
            }
#pragma unroll
            for (int r = 0; r < GEMV_ROWS; r++)
#pragma unroll
                for (int b = 0; b < B; b++)
                    acc[r][b] = fmaf(sc[r], fmaf(-1.5f, s0[b], s1[r][b]), acc[r][b]);
        }
    }

    float inv[B];
#pragma unroll
    for (int b = 0; b < B; b++)
        inv[b] = NORM ? rsqrtf(warp_sum(ss[b]) / (float)k + 1e-5f) : 1.0f;
#pragma unroll
    for (int r = 0; r < GEMV_ROWS; r++)
#pragma unroll
        for (int b = 0; b < B; b++)
            acc[r][b] = warp_sum(acc[r][b]) * inv[b];
            /* lane r * B + b stores (row0 + r, b) */
#pragma unroll
    for (int r = 0; r < GEMV_ROWS; r++) {
#pragma unroll
        for (int b = 0; b < B; b++) {
            const uint32_t row = row0 + r;
            if (lane != r * B + b || row >= p.n) continue;
            float *yb = p.y + (uint64_t)b * p.y_stride;
            if (p.flags & KERN_GEMV_SWIGLU) {
                if (r & 1) continue;
                /* (gate, up) pairs: GEMV_ROWS is even and row0 a multiple of it, so the pair is
                 * in this warp, and n is even so row + 1 < n */
                float g = acc[r][b], u = acc[r + 1 < GEMV_ROWS ? r + 1 : r][b];
                yb[row / 2u] = g / (1.0f + expf(-g)) * u;
            } else if (p.flags & KERN_GEMV_ACCUMULATE) {
                yb[row] += acc[r][b];
            } else {
                yb[row] = acc[r][b];
            }
        }
    }
}

typedef void (*gemv_fn)(GemvParams);

template <int DT, bool NORM> static gemv_fn gemv_pick_b(uint32_t b)
{
    switch (b) {
    case 1:
        return gemv_kernel<DT, 1, NORM>;
    case 2:
        return gemv_kernel<DT, 2, NORM>;
    case 3:
        return gemv_kernel<DT, 3, NORM>;
    case 4:
        return gemv_kernel<DT, 4, NORM>;
    case 5:
        return gemv_kernel<DT, 5, NORM>;
    case 6:
        return gemv_kernel<DT, 6, NORM>;
    case 7:
        return gemv_kernel<DT, 7, NORM>;
    default:
        return gemv_kernel<DT, 8, NORM>;
    }
}

static gemv_fn gemv_pick(kern_dtype d, uint32_t b, bool norm)
{
    switch (d) {
    case KERN_FP16:
        return norm ? gemv_pick_b<KERN_FP16, true>(b) : gemv_pick_b<KERN_FP16, false>(b);
    case KERN_BF16:
        return norm ? gemv_pick_b<KERN_BF16, true>(b) : gemv_pick_b<KERN_BF16, false>(b);
    default:
        return norm ? gemv_pick_b<KERN_INT4, true>(b) : gemv_pick_b<KERN_INT4, false>(b);
    }
}

/* ---- attention ---- */

struct AttnParams {
    const float *qkv;
    float *out;
    uint16_t *kv;
    const int32_t *tables, *lens;
    float *partial;
    uint32_t heads, kv_heads, hd, kv_blocks, maxb, splits, split_blocks;
    float scale_log2; /* log2(e) / sqrt(head_dim): softmax in base 2 */
};

/* One block per (context split, KV head, sequence). Lanes form groups of L = head_dim / 8; a group
 * handles one token per iteration, each lane 8 dims (one 16-byte load of K and one of V). */
template <int G> __global__ void __launch_bounds__(ATTN_THREADS) attn_kernel(AttnParams p)
{
    extern __shared__ float smem[];
    const uint32_t split = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    const uint32_t hd = p.hd, L = hd / 8u, subs = ATTN_THREADS / L;
    const uint32_t sub = threadIdx.x / L, li = threadIdx.x % L;
    const uint32_t span = p.split_blocks * KERN_KV_BLOCK_TOKENS;
    const int32_t pos_s = p.lens[b];
    const bool seq_ok = pos_s >= 0 && (uint32_t)pos_s < p.maxb * KERN_KV_BLOCK_TOKENS;
    const uint32_t pos = seq_ok ? (uint32_t)pos_s : 0u;
    const uint32_t t_begin = split * span;
    const uint32_t t_end = seq_ok ? min(t_begin + span, pos + 1u) : t_begin;
    const uint32_t row = (p.heads + 2u * p.kv_heads) * hd;
    const float *qb = p.qkv + (uint64_t)b * row;
    const float *kn = qb + (uint64_t)(p.heads + h) * hd;
    const float *vn = qb + (uint64_t)(p.heads + p.kv_heads + h) * hd;
    const int32_t *table = p.tables + (uint64_t)b * p.maxb;

    /* the split that owns the new position stores its K/V (fp16) in the cache */
    if (seq_ok && pos >= t_begin && pos < t_begin + span) {
        int32_t blk = table[pos / KERN_KV_BLOCK_TOKENS];
        if (blk >= 0 && (uint32_t)blk < p.kv_blocks) {
            uint16_t *kd = p.kv + kern_kv_elem((uint32_t)blk, 0, h, pos % KERN_KV_BLOCK_TOKENS,
                                               p.kv_heads, hd);
            uint16_t *vd = p.kv + kern_kv_elem((uint32_t)blk, 1, h, pos % KERN_KV_BLOCK_TOKENS,
                                               p.kv_heads, hd);
            for (uint32_t d = threadIdx.x; d < hd; d += ATTN_THREADS) {
                kd[d] = kern_f2h(kn[d]);
                vd[d] = kern_f2h(vn[d]);
            }
        }
    }

    float q[G][8], m[G], l[G], acc[G][8];
#pragma unroll
    for (int g = 0; g < G; g++) {
        const float4 *q4 =
            reinterpret_cast<const float4 *>(qb + (uint64_t)(h * G + g) * hd + li * 8u);
        float4 a = q4[0], c = q4[1];
        q[g][0] = a.x;
        q[g][1] = a.y;
        q[g][2] = a.z;
        q[g][3] = a.w;
        q[g][4] = c.x;
        q[g][5] = c.y;
        q[g][6] = c.z;
        q[g][7] = c.w;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            q[g][i] *= p.scale_log2;
            acc[g][i] = 0.0f;
        }
        m[g] = -INFINITY;
        l[g] = 0.0f;
    }

    /* Two tokens per group per iteration, both loads issued before either is used, so each
     * thread keeps four 16-byte loads in flight. The loop bound is uniform over the block, so
     * every lane reaches every shuffle. */
    for (uint32_t base = t_begin; base < t_end; base += 2u * subs) {
        float kf[2][8], vf[2][8];
        bool ok[2];
#pragma unroll
        for (int u = 0; u < 2; u++) {
            const uint32_t t = base + u * subs + sub;
            ok[u] = t < t_end;
            if (ok[u] && t == pos) {
#pragma unroll
                for (int i = 0; i < 8; i++) {
                    kf[u][i] = kern_h2f(kern_f2h(kn[li * 8u + i]));
                    vf[u][i] = kern_h2f(kern_f2h(vn[li * 8u + i]));
                }
            } else if (ok[u]) {
                int32_t blk = table[t / KERN_KV_BLOCK_TOKENS];
                ok[u] = blk >= 0 && (uint32_t)blk < p.kv_blocks;
                if (ok[u]) {
                    const uint64_t off = kern_kv_elem((uint32_t)blk, 0, h, t % KERN_KV_BLOCK_TOKENS,
                                                      p.kv_heads, hd) +
                                         li * 8u;
                    const uint64_t voff = off + (uint64_t)p.kv_heads * KERN_KV_BLOCK_TOKENS * hd;
                    uint4 kw = ld_stream(reinterpret_cast<const uint4 *>(p.kv + off));
                    uint4 vw = ld_stream(reinterpret_cast<const uint4 *>(p.kv + voff));
#pragma unroll
                    for (int j = 0; j < 4; j++) {
                        decode2<KERN_FP16>(word_of(kw, j), kf[u][2 * j], kf[u][2 * j + 1]);
                        decode2<KERN_FP16>(word_of(vw, j), vf[u][2 * j], vf[u][2 * j + 1]);
                    }
                }
            }
        }
#pragma unroll
        for (int u = 0; u < 2; u++) {
#pragma unroll
            for (int g = 0; g < G; g++) {
                float s = 0.0f;
                if (ok[u]) {
#pragma unroll
                    for (int i = 0; i < 8; i++)
                        s = fmaf(q[g][i], kf[u][i], s);
                }
                for (uint32_t o = L / 2u; o > 0; o >>= 1)
                    s += __shfl_xor_sync(0xffffffffu, s, o);
                if (ok[u]) {
                    float mn = fmaxf(m[g], s);
                    float c = exp2f(m[g] - mn), pe = exp2f(s - mn);
                    l[g] = l[g] * c + pe;
#pragma unroll
                    for (int i = 0; i < 8; i++)
                        acc[g][i] = fmaf(acc[g][i], c, pe * vf[u][i]);
                    m[g] = mn;
                }
            }
        }
    }

    /* merge the token groups of this block: smem holds m[subs][G], l[subs][G], acc[subs][G][hd] */
    float *sm_m = smem, *sm_l = smem + subs * G, *sm_acc = smem + 2u * subs * G;
#pragma unroll
    for (int g = 0; g < G; g++) {
        if (li == 0) {
            sm_m[sub * G + g] = m[g];
            sm_l[sub * G + g] = l[g];
        }
#pragma unroll
        for (int i = 0; i < 8; i++)
            sm_acc[(sub * G + g) * hd + li * 8u + i] = acc[g][i];
    }
    __syncthreads();
    for (uint32_t idx = threadIdx.x; idx < G * hd; idx += ATTN_THREADS) {
        const uint32_t g = idx / hd, d = idx % hd;
        float M = -INFINITY;
        for (uint32_t s = 0; s < subs; s++)
            M = fmaxf(M, sm_m[s * G + g]);
        float Ls = 0.0f, A = 0.0f;
        if (M != -INFINITY)
            for (uint32_t s = 0; s < subs; s++) {
                float ms = sm_m[s * G + g];
                if (ms == -INFINITY) continue;
                float wgt = exp2f(ms - M);
                Ls = fmaf(sm_l[s * G + g], wgt, Ls);
                A = fmaf(sm_acc[(s * G + g) * hd + d], wgt, A);
            }
        const uint32_t head = h * G + g;
        if (p.splits == 1) {
            p.out[((uint64_t)b * p.heads + head) * hd + d] = Ls > 0.0f ? A / Ls : 0.0f;
        } else {
            float *pp = p.partial + (((uint64_t)b * p.heads + head) * p.splits + split) * (hd + 4u);
            if (d == 0) {
                pp[0] = M;
                pp[1] = Ls;
            }
            pp[4 + d] = A;
        }
    }
}

/* Merges the splits of one (head, sequence): out = sum_s w_s acc_s / sum_s w_s l_s with
 * w_s = 2^(m_s - max m). Each thread owns four dims. */
__global__ void attn_combine(AttnParams p)
{
    const uint32_t head = blockIdx.x, b = blockIdx.y, hd = p.hd, row = hd + 4u;
    const float *pp = p.partial + ((uint64_t)b * p.heads + head) * p.splits * row;
    float M = -INFINITY;
    for (uint32_t s = 0; s < p.splits; s++)
        M = fmaxf(M, pp[s * row]);
    for (uint32_t d4 = threadIdx.x; d4 < hd / 4u; d4 += blockDim.x) {
        float Ls = 0.0f;
        float4 A = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (M != -INFINITY)
            for (uint32_t s = 0; s < p.splits; s++) {
                float ms = pp[s * row];
                if (ms == -INFINITY) continue;
                float wgt = exp2f(ms - M);
                float4 a = reinterpret_cast<const float4 *>(pp + s * row + 4u)[d4];
                Ls = fmaf(pp[s * row + 1u], wgt, Ls);
                A.x = fmaf(a.x, wgt, A.x);
                A.y = fmaf(a.y, wgt, A.y);
                A.z = fmaf(a.z, wgt, A.z);
                A.w = fmaf(a.w, wgt, A.w);
            }
        float r = Ls > 0.0f ? 1.0f / Ls : 0.0f;
        reinterpret_cast<float4 *>(p.out + ((uint64_t)b * p.heads + head) * hd)[d4] =
            make_float4(A.x * r, A.y * r, A.z * r, A.w * r);
    }
}

typedef void (*attn_fn)(AttnParams);

static attn_fn attn_pick(uint32_t g)
{
    switch (g) {
    case 1:
        return attn_kernel<1>;
    case 2:
        return attn_kernel<2>;
    case 3:
        return attn_kernel<3>;
    case 4:
        return attn_kernel<4>;
    case 5:
        return attn_kernel<5>;
    case 6:
        return attn_kernel<6>;
    case 7:
        return attn_kernel<7>;
    default:
        return attn_kernel<8>;
    }
}

/* ---- embedding and fills ---- */

__global__ void embed_kernel(kern_embed_args a, const uint8_t *base)
{
    const uint32_t b = blockIdx.x;
    const int32_t *lens = reinterpret_cast<const int32_t *>(base + a.lens);
    float *x =
        reinterpret_cast<float *>(const_cast<uint8_t *>(base) + a.x) + (uint64_t)b * a.hidden;
    const uint32_t tok = kern_token(a.seed, b, (uint32_t)lens[b], a.vocab);
    for (uint32_t j = threadIdx.x; j < a.hidden; j += blockDim.x) {
        if (a.dtype == KERN_INT4) {
            const uint8_t *p = base + a.table + (uint64_t)tok * (a.hidden / 2u);
            const uint16_t *s = reinterpret_cast<const uint16_t *>(base + a.scales) +
                                (uint64_t)tok * (a.hidden / KERN_INT4_GROUP);
            int q = (j & 1u) ? (p[j / 2u] >> 4) : (p[j / 2u] & 0xf);
            x[j] = (float)(q - 8) * kern_h2f(s[j / KERN_INT4_GROUP]);
        } else {
            const uint16_t *p =
                reinterpret_cast<const uint16_t *>(base + a.table) + (uint64_t)tok * a.hidden;
            x[j] = a.dtype == KERN_FP16 ? kern_h2f(p[j]) : kern_b2f(p[j]);
        }
    }
}

__global__ void fill_kernel(uint8_t *dst, int kind, uint64_t count, uint64_t seed, float scale)
{
    const uint64_t stride = (uint64_t)gridDim.x * blockDim.x;
    for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride) {
        switch (kind) {
        case KERN_FILL_F32:
            reinterpret_cast<float *>(dst)[i] = kern_fill_f32(seed, i, scale);
            break;
        case KERN_FILL_F16:
            reinterpret_cast<uint16_t *>(dst)[i] = kern_f2h(kern_fill_f32(seed, i, scale));
            break;
        case KERN_FILL_BF16:
            reinterpret_cast<uint16_t *>(dst)[i] = kern_f2b(kern_fill_f32(seed, i, scale));
            break;
        case KERN_FILL_F16_POS:
            reinterpret_cast<uint16_t *>(dst)[i] = kern_f2h(kern_fill_pos(seed, i, scale));
            break;
        default:
            dst[i] = kern_fill_byte(seed, i);
            break;
        }
    }
}

/* ---- host side ---- */

extern "C" int kcuda_built(void)
{
    return 1;
}

extern "C" int kcuda_device_count(vp_err *e)
{
    int n = 0;
    cudaError_t st = cudaGetDeviceCount(&n);
    if (st != cudaSuccess) {
        (void)cudaGetLastError();
        vp_errf(e, VP_ESTATE, "cudaGetDeviceCount: %s (error %d)", cudaGetErrorString(st), (int)st);
        return 0;
    }
    if (n == 0) vp_errf(e, VP_ESTATE, "cudaGetDeviceCount: no devices");
    return n;
}

extern "C" int kcuda_open(uint64_t bytes, kcuda_ctx **out, char *name, size_t name_len, vp_err *e)
{
    *out = NULL;
    /* sleep, not spin, while waiting for the GPU: a worker should not burn a host core */
    cudaError_t st = cudaSetDeviceFlags(cudaDeviceScheduleBlockingSync);
    if (st != cudaSuccess) (void)cudaGetLastError(); /* already active: keep its flags */
    CU(cudaSetDevice(0), "cudaSetDevice(0)");
    cudaDeviceProp prop;
    CU(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    kcuda_ctx *c = (kcuda_ctx *)calloc(1, sizeof *c);
    if (!c) return vp_errf(e, -ENOMEM, "cuda: out of host memory");
    snprintf(name, name_len, "%s", prop.name);
    c->sms = prop.multiProcessorCount;
    c->bytes = bytes;
    st = cudaMalloc((void **)&c->base, (size_t)bytes);
    if (st != cudaSuccess) {
        free(c);
        return vp_errf(e, st == cudaErrorMemoryAllocation ? VP_ENOSPACE : VP_ESTATE,
                       "cuda: cudaMalloc of the %llu-byte slice: %s", (unsigned long long)bytes,
                       cudaGetErrorString(st));
    }
    st = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
    if (st == cudaSuccess) st = cudaEventCreate(&c->ev0);
    if (st == cudaSuccess) st = cudaEventCreate(&c->ev1);
    if (st == cudaSuccess) st = cudaMemsetAsync(c->base, 0, (size_t)bytes, c->stream);
    if (st == cudaSuccess) st = cudaStreamSynchronize(c->stream);
    if (st != cudaSuccess) {
        kcuda_close(c);
        return cu_fail(e, st, "slice setup");
    }
    *out = c;
    return 0;
}

extern "C" void kcuda_close(kcuda_ctx *c)
{
    if (!c) return;
    if (c->stream) cudaStreamSynchronize(c->stream);
    if (c->exec) cudaGraphExecDestroy(c->exec);
    if (c->graph) cudaGraphDestroy(c->graph);
    if (c->ev0) cudaEventDestroy(c->ev0);
    if (c->ev1) cudaEventDestroy(c->ev1);
    if (c->stream) cudaStreamDestroy(c->stream);
    if (c->base) cudaFree(c->base);
    free(c);
}

extern "C" int kcuda_upload(kcuda_ctx *c, uint64_t off, const void *src, uint64_t n, vp_err *e)
{
    /* from pageable memory this returns once src has been staged, so src may be reused */
    CU(cudaMemcpyAsync(c->base + off, src, (size_t)n, cudaMemcpyHostToDevice, c->stream), "upload");
    return 0;
}

extern "C" int kcuda_download(kcuda_ctx *c, uint64_t off, void *dst, uint64_t n, vp_err *e)
{
    CU(cudaMemcpyAsync(dst, c->base + off, (size_t)n, cudaMemcpyDeviceToHost, c->stream),
       "download");
    CU(cudaStreamSynchronize(c->stream), "download sync");
    return 0;
}

extern "C" int kcuda_sync(kcuda_ctx *c, vp_err *e)
{
    CU(cudaStreamSynchronize(c->stream), "synchronize");
    return 0;
}

extern "C" int kcuda_fill(kcuda_ctx *c, uint64_t off, kern_fill_kind kind, uint64_t count,
                          uint64_t seed, float scale, vp_err *e)
{
    uint64_t blocks = (count + 255u) / 256u, cap = (uint64_t)c->sms * 32u;
    if (blocks > cap) blocks = cap;
    fill_kernel<<<(unsigned)blocks, 256, 0, c->stream>>>(c->base + off, (int)kind, count, seed,
                                                         scale);
    CU(cudaGetLastError(), "fill launch");
    return 0;
}

extern "C" int kcuda_gemv(kcuda_ctx *c, const kern_gemv_args *a, vp_err *e)
{
    const bool swiglu = (a->flags & KERN_GEMV_SWIGLU) != 0;
    const uint32_t y_stride = swiglu ? a->n / 2u : a->n;
    const unsigned blocks = (a->n + GEMV_WARPS * GEMV_ROWS - 1u) / (GEMV_WARPS * GEMV_ROWS);
    for (uint32_t b0 = 0; b0 < a->batch; b0 += KERN_GEMV_BATCH_TILE) {
        uint32_t bt = a->batch - b0 < KERN_GEMV_BATCH_TILE ? a->batch - b0 : KERN_GEMV_BATCH_TILE;
        GemvParams p;
        p.w = c->base + a->w;
        p.scales = reinterpret_cast<const uint16_t *>(c->base + a->scales);
        p.x = reinterpret_cast<const float *>(c->base + a->x) + (uint64_t)b0 * a->k;
        p.y = reinterpret_cast<float *>(c->base + a->y) + (uint64_t)b0 * y_stride;
        p.n = a->n;
        p.k = a->k;
        p.flags = a->flags;
        p.y_stride = y_stride;
        gemv_pick(a->dtype, bt,
                  (a->flags & KERN_GEMV_NORM_X) != 0)<<<blocks, GEMV_THREADS, 0, c->stream>>>(p);
        CU(cudaGetLastError(), "gemv launch");
    }
    return 0;
}

extern "C" int kcuda_attention(kcuda_ctx *c, const kern_attn_args *a, vp_err *e)
{
    AttnParams p;
    p.qkv = reinterpret_cast<const float *>(c->base + a->qkv);
    p.out = reinterpret_cast<float *>(c->base + a->out);
    p.kv = reinterpret_cast<uint16_t *>(c->base + a->kv);
    p.tables = reinterpret_cast<const int32_t *>(c->base + a->tables);
    p.lens = reinterpret_cast<const int32_t *>(c->base + a->lens);
    p.partial = reinterpret_cast<float *>(c->base + a->partial);
    p.heads = a->heads;
    p.kv_heads = a->kv_heads;
    p.hd = a->head_dim;
    p.kv_blocks = a->kv_blocks;
    p.maxb = a->max_blocks_per_seq;
    p.splits = a->splits;
    p.split_blocks = a->split_blocks;
    p.scale_log2 = 1.4426950408889634f / sqrtf((float)a->head_dim);
    const uint32_t g = a->heads / a->kv_heads;
    const uint32_t subs = ATTN_THREADS / (a->head_dim / 8u);
    const size_t smem = (size_t)subs * g * (a->head_dim + 2u) * sizeof(float);
    dim3 grid(a->splits, a->kv_heads, a->batch);
    attn_pick(g)<<<grid, ATTN_THREADS, smem, c->stream>>>(p);
    CU(cudaGetLastError(), "attention launch");
    if (a->splits > 1) {
        unsigned threads = a->head_dim / 4u < 64u ? a->head_dim / 4u : 64u;
        attn_combine<<<dim3(a->heads, a->batch), threads, 0, c->stream>>>(p);
        CU(cudaGetLastError(), "attention combine launch");
    }
    return 0;
}

extern "C" int kcuda_embed(kcuda_ctx *c, const kern_embed_args *a, vp_err *e)
{
    embed_kernel<<<a->batch, 256, 0, c->stream>>>(*a, c->base);
    CU(cudaGetLastError(), "embed launch");
    return 0;
}

extern "C" int kcuda_copy(kcuda_ctx *c, uint64_t dst, uint64_t src, uint64_t n, vp_err *e)
{
    CU(cudaMemcpyAsync(c->base + dst, c->base + src, (size_t)n, cudaMemcpyDeviceToDevice,
                       c->stream),
       "device copy");
    return 0;
}

extern "C" int kcuda_timer_start(kcuda_ctx *c, vp_err *e)
{
    CU(cudaEventRecord(c->ev0, c->stream), "event record");
    return 0;
}

extern "C" int kcuda_timer_stop(kcuda_ctx *c, double *ms, vp_err *e)
{
    float f = 0.0f;
    CU(cudaEventRecord(c->ev1, c->stream), "event record");
    CU(cudaEventSynchronize(c->ev1), "event synchronize");
    CU(cudaEventElapsedTime(&f, c->ev0, c->ev1), "event elapsed time");
    *ms = f;
    return 0;
}

extern "C" int kcuda_capture_begin(kcuda_ctx *c, vp_err *e)
{
    CU(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal), "begin capture");
    return 0;
}

extern "C" int kcuda_capture_end(kcuda_ctx *c, vp_err *e)
{
    cudaGraph_t g = NULL;
    CU(cudaStreamEndCapture(c->stream, &g), "end capture");
    cudaGraphExec_t x = NULL;
    cudaError_t st = cudaGraphInstantiate(&x, g, 0);
    if (st != cudaSuccess) {
        cudaGraphDestroy(g);
        return cu_fail(e, st, "graph instantiate");
    }
    if (c->exec) cudaGraphExecDestroy(c->exec);
    if (c->graph) cudaGraphDestroy(c->graph);
    c->graph = g;
    c->exec = x;
    return 0;
}

extern "C" int kcuda_replay(kcuda_ctx *c, vp_err *e)
{
    if (!c->exec) return vp_errf(e, VP_ESTATE, "cuda: no captured step to replay");
    CU(cudaGraphLaunch(c->exec, c->stream), "graph launch");
    return 0;
}
