/* kern_cuda.cu - the CUDA backend: one cudaMalloc of the slice, and the decode kernels (GEMV for
 * fp16/bf16/int4, paged attention with a context split, embedding, fills).
 *
 * Design. Decode is memory-bandwidth bound, so each kernel is built to stream its bytes once at
 * full width: every weight load is a 16-byte, warp-coalesced, L1-bypassing load (512 contiguous
 * bytes per warp instruction). The GEMV deals its work out as kern_gemv_plan_make says (the CPU
 * twin follows the same plan): each warp owns R rows (4 for batch tiles of 1-2, else 2) and
 * multiplies every x value it loads with all of them; a small matrix has its rows shared by up
 * to 8 warps of a block (k-split), whose sums meet in shared memory, so it still has enough warps
 * in flight. Each lane loads its next vector of every row (with the int4 scales) before it
 * multiplies the current one. The int4 path dequantises with fp16x2 magic numbers, one LOP3 per
 * two weights (kern_int4_word, tested bit for bit on the CPU). Accumulation is fp32 throughout.
 * Attention gives each (sequence, KV head, context split) a thread block that reads each K/V row
 * once for the whole GQA group, runs an online softmax, and a small second kernel merges the
 * splits (flash-decoding). The new token's K/V are read from the QKV buffer (rounded to fp16
 * exactly as the cache stores them) and written into the cache by the split that owns the
 * position, so no block reads what another writes in the same launch. All launches go to one
 * stream; every runtime call's status is checked and every launch is followed by
 * cudaGetLastError. Block ids from the tables are checked against the pool, so bad tables cannot
 * make a kernel leave the slice. */
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kern_impl.h"

#define GEMV_WARPS ((int)KERN_GEMV_WARPS)
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

static __device__ __forceinline__ __half2 as_half2(uint32_t u)
{
    return *reinterpret_cast<const __half2 *>(&u);
}

/* The eight int4 weights (q - 8) of word w in element order: kern_int4_word (kern_impl.h, tested
 * bit for bit on the CPU) with fp16x2 instructions - four AND-ORs (LOP3), one shift, two
 * subtracts and two fused multiply-adds for eight weights, then exact fp16 -> fp32 conversions. */
static __device__ __forceinline__ void int4_word(uint32_t w, float f[8])
{
    const uint32_t w8 = w >> 8;
    const __half2 lo = as_half2((w & KERN_INT4_MASK_LO) | KERN_INT4_MAGIC);
    const __half2 hi = as_half2((w & KERN_INT4_MASK_HI) | KERN_INT4_MAGIC);
    const __half2 lo8 = as_half2((w8 & KERN_INT4_MASK_LO) | KERN_INT4_MAGIC);
    const __half2 hi8 = as_half2((w8 & KERN_INT4_MASK_HI) | KERN_INT4_MAGIC);
    const __half2 k1032 = __float2half2_rn(1032.0f), k16th = __float2half2_rn(0.0625f),
                  km72 = __float2half2_rn(-72.0f);
    const float2 a = __half22float2(__hsub2(lo, k1032));
    const float2 b = __half22float2(__hfma2(hi, k16th, km72));
    const float2 c = __half22float2(__hsub2(lo8, k1032));
    const float2 d = __half22float2(__hfma2(hi8, k16th, km72));
    f[0] = a.x;
    f[4] = a.y;
    f[1] = b.x;
    f[5] = b.y;
    f[2] = c.x;
    f[6] = c.y;
    f[3] = d.x;
    f[7] = d.y;
}

struct GemvParams {
    const uint8_t *w;
    const uint16_t *scales;
    const float *x;
    float *y;
    uint32_t n, k, flags;
    uint32_t y_stride;       /* floats per batch row of y */
    uint32_t ksplit;         /* warps sharing a row (kern_gemv_plan) */
    uint32_t rows_per_block; /* (GEMV_WARPS / ksplit) x R */
};

/* One 16-byte vector of each of a warp's R rows, with the int4 rows' scales: a pipeline stage. */
template <int R> struct GemvStage {
    uint4 w[R];
    uint16_t sc[R];
};

template <int DT, int R>
static __device__ __forceinline__ void gemv_load(GemvStage<R> &st, const uint4 *const *wr,
                                                 const uint16_t *const *sr, uint32_t v)
{
#pragma unroll
    for (int r = 0; r < R; r++) {
        st.w[r] = ld_stream(wr[r] + v);
        if (DT == KERN_INT4) st.sc[r] = __ldg(sr[r] + v / 4u); /* 4 vectors per 128-group */
    }
}

/* acc[r][b] += (row r's vector) . (x_b's matching 8 or 32 values); ss[b] += x_b^2 when NORM.
 * The weights of a 32-bit word are decoded once into registers and used for every batch row. */
template <int DT, int B, int R, bool NORM>
static __device__ __forceinline__ void gemv_compute(const GemvStage<R> &st, const float4 *x4,
                                                    uint32_t xs, uint32_t v, float (&acc)[R][B],
                                                    float (&ss)[B])
{
    if (DT != KERN_INT4) {
#pragma unroll
        for (int h = 0; h < 2; h++) { /* two halves of 4 values: x4 per batch row stays small */
            float wf[R][4];
#pragma unroll
            for (int r = 0; r < R; r++) {
                decode2<DT>(word_of(st.w[r], 2 * h), wf[r][0], wf[r][1]);
                decode2<DT>(word_of(st.w[r], 2 * h + 1), wf[r][2], wf[r][3]);
            }
#pragma unroll
            for (int b = 0; b < B; b++) {
                const float4 xv = __ldg(x4 + b * xs + v * 2u + h);
                const float xf[4] = {xv.x, xv.y, xv.z, xv.w};
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    if (NORM) ss[b] = fmaf(xf[i], xf[i], ss[b]);
#pragma unroll
                    for (int r = 0; r < R; r++)
                        acc[r][b] = fmaf(wf[r][i], xf[i], acc[r][b]);
                }
            }
        }
    } else {
        float part[R][B];
#pragma unroll
        for (int r = 0; r < R; r++)
#pragma unroll
            for (int b = 0; b < B; b++)
                part[r][b] = 0.0f;
#pragma unroll
        for (int j = 0; j < 4; j++) { /* word j holds elements 8 j .. 8 j + 7 of the vector */
            float wf[R][8];
#pragma unroll
            for (int r = 0; r < R; r++)
                int4_word(word_of(st.w[r], j), wf[r]);
#pragma unroll
            for (int b = 0; b < B; b++) {
                const float4 xa = __ldg(x4 + b * xs + v * 8u + j * 2u);
                const float4 xb = __ldg(x4 + b * xs + v * 8u + j * 2u + 1u);
                const float xf[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
#pragma unroll
                for (int i = 0; i < 8; i++) {
                    if (NORM) ss[b] = fmaf(xf[i], xf[i], ss[b]);
#pragma unroll
                    for (int r = 0; r < R; r++)
                        part[r][b] = fmaf(wf[r][i], xf[i], part[r][b]);
                }
            }
        }
#pragma unroll
        for (int r = 0; r < R; r++) {
            const float sc = __half2float(__ushort_as_half(st.sc[r]));
#pragma unroll
            for (int b = 0; b < B; b++)
                acc[r][b] = fmaf(sc, part[r][b], acc[r][b]);
        }
    }
}

/* Blocks per SM each GEMV must fit, which caps its registers: fp16/bf16 3 (85 registers, 24
 * warps) for batch tiles of 1-2, where bandwidth is the limit, else 2 (128); int4 2 up to 4 batch
 * rows (its dequantised weights need about 100 registers at R = 4), and 1 for 5-8 rows, which are
 * bound by their multiply-adds and would spill under 128 registers. */
static constexpr int gemv_min_blocks(int dt, int b)
{
    return dt == KERN_INT4 ? (b <= 4 ? 2 : 1) : (b <= 2 ? 3 : 2);
}

/* y = W x over a tile of B batch rows, as kern_gemv_plan deals it out: warp w of the block is
 * k-slice w % ksplit of row group w / ksplit, whose R rows start at blockIdx.x * rows_per_block +
 * group * R. Lane l of slice s reads vectors (32 i + s) * 32 + l of each row (512 contiguous bytes
 * per warp instruction), with the next vector's loads (and int4 scales) issued before the current
 * one is multiplied. The slices' warp-reduced sums meet in shared memory and are added in slice
 * order; the flags' work is done once on the total. Rows past n re-read row n - 1 and are not
 * stored, so every warp reaches the barrier. */
template <int DT, int B, int R, bool NORM>
__global__ void __launch_bounds__(GEMV_THREADS, gemv_min_blocks(DT, B)) gemv_kernel(GemvParams p)
{
    __shared__ float red[GEMV_WARPS][R * B + B]; /* per warp: R x B sums, then B sums of x^2 */
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const uint32_t ks = p.ksplit, slice = (uint32_t)warp % ks, group = (uint32_t)warp / ks;
    const uint32_t row0 = blockIdx.x * p.rows_per_block + group * R;
    const uint32_t k = p.k;
    const uint64_t row_bytes = DT == KERN_INT4 ? k / 2u : (uint64_t)k * 2u;
    const uint32_t groups = k / KERN_INT4_GROUP;
    const uint4 *wr[R];
    const uint16_t *sr[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        const uint32_t row = min(row0 + r, p.n - 1u);
        wr[r] = reinterpret_cast<const uint4 *>(p.w + row * row_bytes);
        sr[r] = p.scales + (uint64_t)row * groups;
    }
    float acc[R][B], ss[B];
#pragma unroll
    for (int b = 0; b < B; b++) {
        ss[b] = 0.0f;
#pragma unroll
        for (int r = 0; r < R; r++)
            acc[r][b] = 0.0f;
    }
    const float4 *x4 = reinterpret_cast<const float4 *>(p.x);
    const uint32_t xs = k / 4u; /* float4s per batch row */
    const uint32_t nvec = DT == KERN_INT4 ? k / 32u : k / 8u;
    const uint32_t step = 32u * ks;

    /* two-stage software pipeline over this lane's vectors slice * 32 + lane, + step, ... */
    uint32_t v = slice * 32u + lane;
    GemvStage<R> cur;
    if (v < nvec) gemv_load<DT, R>(cur, wr, sr, v);
    while (v < nvec) {
        const uint32_t vn = v + step;
        GemvStage<R> nxt;
        if (vn < nvec) gemv_load<DT, R>(nxt, wr, sr, vn);
        gemv_compute<DT, B, R, NORM>(cur, x4, xs, v, acc, ss);
        cur = nxt;
        v = vn;
    }

#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int b = 0; b < B; b++) {
            const float t = warp_sum(acc[r][b]);
            if (lane == 0) red[warp][r * B + b] = t;
        }
    if (NORM) {
#pragma unroll
        for (int b = 0; b < B; b++) {
            const float t = warp_sum(ss[b]);
            if (lane == 0) red[warp][R * B + b] = t;
        }
    }
    __syncthreads();

    /* thread t < groups x R x B finishes (group g, row r, batch b) */
    const uint32_t t = threadIdx.x, per_group = R * B;
    if (t >= (GEMV_WARPS / ks) * per_group) return;
    const uint32_t g = t / per_group, r = t % per_group / B, b = t % B;
    const uint32_t row = blockIdx.x * p.rows_per_block + g * R + r;
    if (row >= p.n) return;
    float sum = red[g * ks][r * B + b];
    float sq = NORM ? red[g * ks][R * B + b] : 0.0f;
    for (uint32_t s = 1; s < ks; s++) {
        sum += red[g * ks + s][r * B + b];
        if (NORM) sq += red[g * ks + s][R * B + b];
    }
    if (NORM) sum *= rsqrtf(sq / (float)k + 1e-5f);
    float *yb = p.y + (uint64_t)b * p.y_stride;
    if (p.flags & KERN_GEMV_SWIGLU) {
        /* (gate, up) pairs: R is even and a group's first row even, so row + 1 is this group's */
        if (r & 1u) return;
        float up = red[g * ks][(r + 1) * B + b];
        for (uint32_t s = 1; s < ks; s++)
            up += red[g * ks + s][(r + 1) * B + b];
        if (NORM) up *= rsqrtf(sq / (float)k + 1e-5f);
        yb[row / 2u] = sum / (1.0f + expf(-sum)) * up;
    } else if (p.flags & KERN_GEMV_ACCUMULATE) {
        yb[row] += sum;
    } else {
        yb[row] = sum;
    }
}

typedef void (*gemv_fn)(GemvParams);

/* Rows per warp follow kern_gemv_plan_make: 4 for tiles of 1 or 2 batch rows, else 2. */
template <int DT, bool NORM> static gemv_fn gemv_pick_b(uint32_t b)
{
    switch (b) {
    case 1:
        return gemv_kernel<DT, 1, 4, NORM>;
    case 2:
        return gemv_kernel<DT, 2, 4, NORM>;
    case 3:
        return gemv_kernel<DT, 3, 2, NORM>;
    case 4:
        return gemv_kernel<DT, 4, 2, NORM>;
    case 5:
        return gemv_kernel<DT, 5, 2, NORM>;
    case 6:
        return gemv_kernel<DT, 6, 2, NORM>;
    case 7:
        return gemv_kernel<DT, 7, 2, NORM>;
    default:
        return gemv_kernel<DT, 8, 2, NORM>;
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
/* Blocks per SM the attention must fit: its q and accumulators take 16 G registers a thread, so
 * GQA groups up to 4 get 4 blocks (128 registers); larger groups 2 (about 210 registers: under
 * 170 the GQA-8 kernel spills 164 bytes a thread). */
static constexpr int attn_min_blocks(int g)
{
    return g > 4 ? 2 : 4;
}

template <int G>
__global__ void __launch_bounds__(ATTN_THREADS, attn_min_blocks(G)) attn_kernel(AttnParams p)
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
                /* butterfly over the token's L lanes, unrolled: the test is uniform */
#pragma unroll
                for (uint32_t o = 16; o > 0; o >>= 1)
                    if (o < L) s += __shfl_xor_sync(0xffffffffu, s, o);
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

extern "C" int kcuda_describe(kern_cuda_info *out, vp_err *e)
{
    memset(out, 0, sizeof *out);
    if (cudaDriverGetVersion(&out->driver_version) != cudaSuccess) (void)cudaGetLastError();
    if (cudaRuntimeGetVersion(&out->runtime_version) != cudaSuccess) (void)cudaGetLastError();
    if (kcuda_device_count(e) == 0) return VP_ESTATE;
    CU(cudaSetDevice(0), "cudaSetDevice(0)");
    cudaDeviceProp prop;
    CU(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    snprintf(out->name, sizeof out->name, "%.127s", prop.name);
    out->sms = prop.multiProcessorCount;
    out->cc_major = prop.major;
    out->cc_minor = prop.minor;
    size_t fr = 0, tot = 0;
    CU(cudaMemGetInfo(&fr, &tot), "cudaMemGetInfo");
    out->free_bytes = fr;
    out->total_bytes = tot;
    return 0;
}

/* ---- NVML, loaded at run time: the per-process device memory nvidia-smi shows ----
 * Only the few entry points used here are declared, with the layouts of NVML's public header
 * (nvmlProcessInfo_t as taken by the _v2/_v3 process queries); the library comes with the driver,
 * and without it the context is measured another way or assumed. */
typedef struct nvml_dev_st *nvml_dev;
typedef struct {
    unsigned long long total, free, used;
} nvml_memory;
typedef struct {
    unsigned int pid;
    unsigned long long used;
    unsigned int gpu_instance, compute_instance;
} nvml_process;

static struct {
    int tried, ok;
    int (*init)(void);
    int (*by_bus_id)(const char *, nvml_dev *);
    int (*memory)(nvml_dev, nvml_memory *);
    int (*processes)(nvml_dev, unsigned int *, nvml_process *);
} nvml;

static int nvml_load(void)
{
    if (nvml.tried) return nvml.ok;
    nvml.tried = 1;
    void *h = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) return 0;
    nvml.init = (int (*)(void))dlsym(h, "nvmlInit_v2");
    nvml.by_bus_id = (int (*)(const char *, nvml_dev *))dlsym(h, "nvmlDeviceGetHandleByPciBusId_v2");
    nvml.memory = (int (*)(nvml_dev, nvml_memory *))dlsym(h, "nvmlDeviceGetMemoryInfo");
    nvml.processes = (int (*)(nvml_dev, unsigned int *, nvml_process *))dlsym(
        h, "nvmlDeviceGetComputeRunningProcesses_v3");
    if (!nvml.processes)
        nvml.processes = (int (*)(nvml_dev, unsigned int *, nvml_process *))dlsym(
            h, "nvmlDeviceGetComputeRunningProcesses_v2");
    nvml.ok = nvml.init && nvml.by_bus_id && nvml.memory && nvml.init() == 0;
    return nvml.ok; /* the library stays loaded for the life of the process */
}

/* NVML's handle of CUDA device 0 (matched by PCI bus id, so CUDA_VISIBLE_DEVICES is honoured). */
static nvml_dev nvml_device0(void)
{
    char bus[32];
    nvml_dev d = NULL;
    if (!nvml_load() || cudaDeviceGetPCIBusId(bus, (int)sizeof bus, 0) != cudaSuccess) {
        (void)cudaGetLastError();
        return NULL;
    }
    return nvml.by_bus_id(bus, &d) == 0 ? d : NULL;
}

/* Bytes process `pid` holds on d; 0 when NVML does not list it (e.g. another PID namespace). */
static uint64_t nvml_process_bytes(nvml_dev d, unsigned int pid)
{
    nvml_process procs[64];
    unsigned int n = 64;
    if (!d || !nvml.processes || nvml.processes(d, &n, procs) != 0) return 0;
    for (unsigned int i = 0; i < n && i < 64; i++)
        if (procs[i].pid == pid && procs[i].used != ~0ull) return procs[i].used;
    return 0;
}

static uint64_t nvml_device_used(nvml_dev d)
{
    nvml_memory m;
    return d && nvml.memory(d, &m) == 0 ? m.used : 0;
}

/* Loads every kernel's module now: with lazy loading (the default since CUDA 12.2) a kernel's
 * code would otherwise be loaded at its first launch, after the slice was taken, and could fail
 * with "out of memory" on a GPU the slice filled. */
static cudaError_t load_all_kernels(void)
{
    cudaFuncAttributes fa;
    const kern_dtype dts[] = {KERN_FP16, KERN_BF16, KERN_INT4};
    cudaError_t st = cudaSuccess;
    for (int d = 0; d < 3 && st == cudaSuccess; d++)
        for (uint32_t b = 1; b <= KERN_GEMV_BATCH_TILE && st == cudaSuccess; b++) {
            st = cudaFuncGetAttributes(&fa, gemv_pick(dts[d], b, false));
            if (st == cudaSuccess) st = cudaFuncGetAttributes(&fa, gemv_pick(dts[d], b, true));
        }
    for (uint32_t g = 1; g <= KERN_MAX_GQA && st == cudaSuccess; g++)
        st = cudaFuncGetAttributes(&fa, attn_pick(g));
    if (st == cudaSuccess) st = cudaFuncGetAttributes(&fa, attn_combine);
    if (st == cudaSuccess) st = cudaFuncGetAttributes(&fa, embed_kernel);
    if (st == cudaSuccess) st = cudaFuncGetAttributes(&fa, fill_kernel);
    return st;
}

/* What the context holds (into mem), measured after every kernel is loaded. */
static void measure_context(nvml_dev d, uint64_t used_before, kern_slice_mem *mem)
{
    uint64_t own = nvml_process_bytes(d, (unsigned int)getpid());
    uint64_t after = nvml_device_used(d);
    if (own > 0) {
        mem->context = own;
        mem->context_source = "process";
    } else if (used_before > 0 && after > used_before) {
        mem->context = after - used_before;
        mem->context_source = "device";
    } else {
        mem->context = KERN_CUDA_CONTEXT_ASSUMED;
        mem->context_source = "assumed";
    }
}

extern "C" int kcuda_open(uint64_t bytes, kern_slice_mem *mem, kcuda_ctx **out, char *name,
                          size_t name_len, vp_err *e)
{
    *out = NULL;
    const bool budgeted = mem->budget != 0;
    /* before the context exists: the device's used bytes, for the fallback measurement */
    nvml_dev nd = budgeted ? nvml_device0() : NULL;
    const uint64_t used_before = nvml_device_used(nd);
    /* sleep, not spin, while waiting for the GPU: a worker should not burn a host core */
    cudaError_t st = cudaSetDeviceFlags(cudaDeviceScheduleBlockingSync);
    if (st != cudaSuccess) (void)cudaGetLastError(); /* already active: keep its flags */
    CU(cudaSetDevice(0), "cudaSetDevice(0)");
    CU(cudaFree(0), "context creation");
    cudaDeviceProp prop;
    CU(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    CU(load_all_kernels(), "loading the kernels");
    kcuda_ctx *c = (kcuda_ctx *)calloc(1, sizeof *c);
    if (!c) return vp_errf(e, -ENOMEM, "cuda: out of host memory");
    snprintf(name, name_len, "%s", prop.name);
    c->sms = prop.multiProcessorCount;
    st = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
    if (st == cudaSuccess) st = cudaEventCreate(&c->ev0);
    if (st == cudaSuccess) st = cudaEventCreate(&c->ev1);
    if (st != cudaSuccess) {
        kcuda_close(c);
        return cu_fail(e, st, "stream setup");
    }
    mem->slice = bytes;
    if (budgeted) {
        measure_context(nd, used_before, mem);
        mem->headroom = KERN_CUDA_HEADROOM;
        if (kern_budget_slice(mem->budget, mem->context, mem->headroom, KERN_CUDA_GRANULE,
                              &mem->slice)) {
            kcuda_close(c);
            return vp_errf(e, VP_ENOSPACE,
                           "cuda: a %llu-byte budget leaves no slice after the CUDA context "
                           "(%llu bytes, %s) and %llu bytes of headroom",
                           (unsigned long long)mem->budget, (unsigned long long)mem->context,
                           mem->context_source, (unsigned long long)mem->headroom);
        }
    }
    c->bytes = mem->slice;
    st = cudaMalloc((void **)&c->base, (size_t)c->bytes);
    if (st != cudaSuccess) {
        (void)cudaGetLastError(); /* clear it, or the next launch check would report it */
        c->base = NULL;
        kcuda_close(c);
        return vp_errf(e, st == cudaErrorMemoryAllocation ? VP_ENOSPACE : VP_ESTATE,
                       "cuda: cudaMalloc of the %llu-byte slice: %s", (unsigned long long)mem->slice,
                       cudaGetErrorString(st));
    }
    st = cudaMemsetAsync(c->base, 0, (size_t)c->bytes, c->stream);
    if (st == cudaSuccess) st = cudaStreamSynchronize(c->stream);
    if (st != cudaSuccess) {
        kcuda_close(c);
        return cu_fail(e, st, "slice setup");
    }
    *out = c;
    return 0;
}

extern "C" int kcuda_device_used(kcuda_ctx *c, uint64_t *bytes, vp_err *e)
{
    (void)c;
    uint64_t own = nvml_process_bytes(nvml_device0(), (unsigned int)getpid());
    if (own == 0)
        return vp_errf(e, VP_ESTATE,
                       "device memory: the driver does not list this process (no NVML, or "
                       "another PID namespace)");
    *bytes = own;
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
    for (uint32_t b0 = 0; b0 < a->batch; b0 += KERN_GEMV_BATCH_TILE) {
        uint32_t bt = a->batch - b0 < KERN_GEMV_BATCH_TILE ? a->batch - b0 : KERN_GEMV_BATCH_TILE;
        kern_gemv_plan plan;
        kern_gemv_plan_make(a->dtype, a->n, a->k, bt, (uint32_t)c->sms, &plan);
        GemvParams p;
        p.w = c->base + a->w;
        p.scales = reinterpret_cast<const uint16_t *>(c->base + a->scales);
        p.x = reinterpret_cast<const float *>(c->base + a->x) + (uint64_t)b0 * a->k;
        p.y = reinterpret_cast<float *>(c->base + a->y) + (uint64_t)b0 * y_stride;
        p.n = a->n;
        p.k = a->k;
        p.flags = a->flags;
        p.y_stride = y_stride;
        p.ksplit = plan.ksplit;
        p.rows_per_block = plan.rows_per_block;
        gemv_pick(a->dtype, bt, (a->flags & KERN_GEMV_NORM_X) != 0)<<<plan.blocks, GEMV_THREADS, 0,
                                                                    c->stream>>>(p);
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
