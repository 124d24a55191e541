/* kern_cuda_attn.cu - paged decode attention on the GPU (the design is described in
 * kern_cuda.cu): one block per (context split, KV head, sequence) reading each K/V row once for
 * the whole GQA group with an online softmax, and a small kernel that merges the splits. */
#include "kern_cuda_int.cuh"

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

cudaError_t kcuda_attn_load(void)
{
    cudaFuncAttributes fa;
    cudaError_t st = cudaSuccess;
    for (uint32_t g = 1; g <= KERN_MAX_GQA && st == cudaSuccess; g++)
        st = cudaFuncGetAttributes(&fa, attn_pick(g));
    if (st == cudaSuccess) st = cudaFuncGetAttributes(&fa, attn_combine);
    return st;
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
