/* footprint.c - exact memory footprint of one replica of a model: whole and per GPU.
 *
 * Every quantity is an integer byte count (DESIGN.md "Memory math"):
 *   weights  = ceil(params x bits / 8), bits per weight an exact fraction (dtype.c).
 *   kv       = Σ over layers of elements per token x tokens x batch x kv bytes per element, where
 *              elements per token are 2 x kv_heads x head_dim (K and V), or for MLA one latent
 *              copy of kv_lora_rank + qk_rope_head_dim; tokens are seq_len, or min(seq_len,
 *              window) on sliding-window layers.
 *   overhead = ceil(overhead_ppm x (weights + kv) / 10^6).
 *   reserve  = cuda_context_bytes x tp x pp (one CUDA context per GPU).
 *   total    = weights + kv + overhead + reserve: the replica as a whole, with unique weights.
 *
 * Per GPU. Pipeline stage s gets layers/pp layers, the first layers % pp stages one more; stage 0
 * holds the embeddings, the last stage the final norm and lm_head. With tied embeddings and
 * pp > 1 the last stage still needs the lm_head matrix, so it holds a copy of the embedding
 * matrix: stage weights then sum to more than the unique weights in `total`. Each of the tp GPUs
 * of a stage holds ceil(stage weights / tp), the KV of ceil(kv_heads / tp) heads (so heads are
 * replicated when kv_heads < tp; an MLA latent is replicated on every rank), its overhead share
 * ceil(overhead_ppm x (its weights + its KV) / 10^6), and one CUDA context. per_gpu_bytes is the
 * largest stage. With tp = pp = 1 the one GPU's bytes equal total_bytes exactly.
 *
 * Stage weights come from the exact per-layer breakdown when the architecture fields count to
 * the model's params (HF configs always do). A model that gives params with fields that do not
 * account for them is split this way instead: the embedding matrix (vocab x hidden, when both are
 * known) to stage 0, lm_head (the same size unless tied) to the last stage, and the rest evenly
 * over the layers, the first (rest % layers) layers holding one parameter more.
 *
 * Sliding-window layers are taken as spread evenly: layer i uses the window when
 * ceil((i+1) S / L) > ceil(i S / L) for S sliding layers of L. That is exactly gemma2's
 * alternation (layers 0, 2, 4, ...), gemma3's five-of-six, and "all layers" for mistral v0.1; it
 * only decides which stage holds which KV, never the whole-model total. */
#include <inttypes.h>
#include <string.h>

#include "footprint.h"

#define PPM 1000000u

void plan_fp_opts_default(plan_fp_opts *o)
{
    memset(o, 0, sizeof *o);
    o->dtype = PLAN_DT_FP16;
    o->kv_dtype = PLAN_DT_FP16;
    o->seq_len = 4096;
    o->batch = 1;
    o->overhead_ppm = 100000;
    o->cuda_context_bytes = 512ULL << 20;
    o->tp = 1;
    o->pp = 1;
}

void plan_footprint_fixed(uint64_t memory_bytes, plan_footprint *out)
{
    /* Measured footprint: nothing is added and nothing is known about its parts, so the
     * breakdown and decode_bytes_per_token stay 0. */
    memset(out, 0, sizeof *out);
    out->tp = out->pp = 1;
    out->total_bytes = memory_bytes;
    out->per_gpu_bytes = memory_bytes;
    out->stage_gpu_bytes[0] = memory_bytes;
}

static uint64_t mul(bool *ovf, uint64_t a, uint64_t b)
{
    uint64_t r;
    if (__builtin_mul_overflow(a, b, &r)) {
        *ovf = true;
        return 0;
    }
    return r;
}

static uint64_t add(bool *ovf, uint64_t a, uint64_t b)
{
    uint64_t r;
    if (__builtin_add_overflow(a, b, &r)) {
        *ovf = true;
        return 0;
    }
    return r;
}

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

/* ceil(a x num / den), latching overflow. */
static uint64_t muldiv(bool *ovf, uint64_t a, uint64_t num, uint64_t den)
{
    uint64_t r = 0;
    if (vp_muldiv_ceil_u64(a, num, den, &r)) *ovf = true;
    return r;
}

/* KV bytes per element; 0 for dtypes a KV cache is not stored in. */
static uint64_t kv_elem_bytes(plan_dtype d)
{
    switch (d) {
    case PLAN_DT_FP32:
        return 4;
    case PLAN_DT_FP16:
    case PLAN_DT_BF16:
        return 2;
    case PLAN_DT_FP8:
    case PLAN_DT_INT8:
        return 1;
    default:
        return 0;
    }
}

/* Sliding layers among layer indices [0, n) when S of L layers slide (see the file comment). */
static uint64_t sliding_below(uint64_t n, uint64_t s, uint64_t l)
{
    return s == 0 ? 0 : ceil_div(n * s, l); /* n, s <= 2^32: no overflow */
}

/* How the model's parameters sit in layers, for the pipeline split. */
typedef struct param_split {
    bool exact;              /* per-layer breakdown from the architecture */
    uint64_t dense, moe;     /* exact: params of a dense layer and of an MoE layer */
    uint32_t first_moe;      /* exact: index of the first MoE layer (layers when none) */
    uint64_t per_layer, rem; /* even: each layer per_layer, the first rem layers one more */
    uint64_t embed, tail;    /* stage 0 extra; last stage extra (final norm + lm_head) */
    uint64_t tied_copy;      /* lm_head copy the last stage holds when tied and pp > 1 */
} param_split;

static void split_params(const plan_arch *a, uint64_t params, param_split *ps)
{
    memset(ps, 0, sizeof *ps);
    uint64_t embed, final_norm, lm_head;
    plan_arch_edge_params(a, &embed, &final_norm, &lm_head);

    plan_arch c = *a;
    c.params = c.active_params = 0;
    if (plan_arch_count_params(&c, NULL) == 0 && c.params == params) {
        ps->exact = true;
        ps->first_moe = c.experts
                            ? (c.first_dense_layers < c.layers ? c.first_dense_layers : c.layers)
                            : c.layers;
        uint64_t act;
        if (ps->first_moe > 0) plan_arch_layer_params(&c, 0, &ps->dense, &act, NULL);
        if (ps->first_moe < c.layers)
            plan_arch_layer_params(&c, ps->first_moe, &ps->moe, &act, NULL);
        ps->embed = embed;
        ps->tail = final_norm + lm_head;
        ps->tied_copy = a->tied_embeddings ? embed : 0;
        return;
    }
    /* Params without a breakdown that accounts for them. */
    uint64_t edges = embed + lm_head; /* <= 2 x (2^32 - 1)^2 < 2^64 */
    if (embed == 0 || edges > params || embed + lm_head < embed) embed = lm_head = edges = 0;
    uint64_t body = params - edges;
    ps->per_layer = body / a->layers;
    ps->rem = body % a->layers;
    ps->embed = embed;
    ps->tail = lm_head;
    ps->tied_copy = a->tied_embeddings ? embed : 0;
}

/* Parameters of the layers [lo, hi). */
static uint64_t layer_range_params(const param_split *ps, uint32_t lo, uint32_t hi, bool *ovf)
{
    if (ps->exact) {
        uint32_t d_hi = hi < ps->first_moe ? hi : ps->first_moe;
        uint64_t nd = d_hi > lo ? d_hi - lo : 0;
        uint64_t nm = (hi - lo) - nd;
        return add(ovf, mul(ovf, nd, ps->dense), mul(ovf, nm, ps->moe));
    }
    uint64_t extra_hi = hi < ps->rem ? hi : ps->rem;
    uint64_t extra = extra_hi > lo ? extra_hi - lo : 0;
    return add(ovf, mul(ovf, (uint64_t)(hi - lo), ps->per_layer), extra);
}

int plan_footprint_compute(const plan_arch *arch, const plan_fp_opts *o, plan_footprint *out,
                           vp_err *e)
{
    if (!arch || !o || !out) return vp_errf(e, VP_EINPUT, "footprint: no architecture or options");
    if ((int)o->dtype < 0 || o->dtype >= PLAN_DT_COUNT)
        return vp_errf(e, VP_EINPUT, "dtype: not a known dtype");
    uint64_t kvb =
        (int)o->kv_dtype < 0 || o->kv_dtype >= PLAN_DT_COUNT ? 0 : kv_elem_bytes(o->kv_dtype);
    if (!kvb)
        return vp_errf(e, VP_EINPUT,
                       "kv_dtype: %s: a KV cache is stored as fp32, fp16, bf16, fp8 or int8",
                       plan_dtype_name(o->kv_dtype));
    if (o->seq_len == 0) return vp_errf(e, VP_EINPUT, "seq_len: must be at least 1");
    if (o->batch == 0) return vp_errf(e, VP_EINPUT, "batch: must be at least 1");
    if (o->tp == 0) return vp_errf(e, VP_EINPUT, "tp: must be at least 1");
    if (o->pp == 0 || o->pp > PLAN_MAX_PP)
        return vp_errf(e, VP_EINPUT, "pp: must be in [1, %d] (got %" PRIu32 ")", PLAN_MAX_PP,
                       o->pp);
    const plan_arch *a = arch;
    if (a->layers == 0) return vp_errf(e, VP_EINPUT, "layers: missing (required)");
    if (o->pp > a->layers)
        return vp_errf(e, VP_EINPUT, "pp: %" PRIu32 " stages for %" PRIu32 " layers", o->pp,
                       a->layers);

    uint64_t params = a->params, active = a->active_params;
    if (!params) {
        plan_arch c = *a;
        vp_err ce = {0};
        int rc = plan_arch_count_params(&c, &ce);
        if (rc) return vp_errf(e, rc, "params: missing, and not countable (%s)", ce.msg);
        params = c.params;
        active = c.active_params;
    }
    if (!active) active = params;
    if (active > params)
        return vp_errf(e, VP_EINPUT, "active_params: %" PRIu64 " is more than params %" PRIu64,
                       active, params);

    /* KV elements per token per layer: whole model and per tensor-parallel GPU. */
    uint64_t elems, elems_gpu;
    if (a->kv_lora_rank) {
        if (!a->qk_rope_head_dim)
            return vp_errf(e, VP_EINPUT, "qk_rope_head_dim: missing (needed by MLA)");
        elems = elems_gpu = (uint64_t)a->kv_lora_rank + a->qk_rope_head_dim;
    } else {
        uint64_t hd = a->head_dim;
        if (!hd) {
            if (!a->hidden || !a->heads)
                return vp_errf(e, VP_EINPUT, "head_dim: missing (or give hidden and heads)");
            hd = a->hidden / a->heads;
            if (!hd) return vp_errf(e, VP_EINPUT, "head_dim: hidden / heads is 0");
        }
        uint64_t kvh = a->kv_heads ? a->kv_heads : a->heads;
        if (!kvh) return vp_errf(e, VP_EINPUT, "kv_heads: missing (required)");
        bool big = false;
        elems = mul(&big, mul(&big, 2, kvh), hd);
        elems_gpu = mul(&big, mul(&big, 2, ceil_div(kvh, o->tp)), hd);
        if (big) return vp_errf(e, VP_EOVERFLOW, "footprint: KV elements per token exceed 64 bits");
    }
    uint64_t L = a->layers;
    uint64_t S = a->sliding_window
                     ? (a->sliding_layers && a->sliding_layers < L ? a->sliding_layers : L)
                     : 0;
    uint64_t win_seq = S && a->sliding_window < o->seq_len ? a->sliding_window : o->seq_len;

    uint64_t num, den;
    plan_dtype_bits(o->dtype, &num, &den);
    bool ovf = false;
    uint64_t weights = muldiv(&ovf, params, num, den * 8);
    if (ovf)
        return vp_errf(e, VP_EOVERFLOW, "params: %" PRIu64 " x %s bytes exceeds 64 bits", params,
                       plan_dtype_name(o->dtype));
    uint64_t layer_tokens = add(&ovf, mul(&ovf, L - S, o->seq_len), mul(&ovf, S, win_seq));
    uint64_t kv = mul(&ovf, mul(&ovf, mul(&ovf, elems, layer_tokens), o->batch), kvb);
    if (ovf)
        return vp_errf(e, VP_EOVERFLOW,
                       "seq_len: KV cache of %" PRIu64 " tokens x %" PRIu64
                       " sequences exceeds 64 bits",
                       o->seq_len, o->batch);
    uint64_t wkv = add(&ovf, weights, kv);
    uint64_t overhead = muldiv(&ovf, wkv, o->overhead_ppm, PPM);
    uint64_t gpus = (uint64_t)o->tp * o->pp;
    uint64_t reserve = mul(&ovf, o->cuda_context_bytes, gpus);
    uint64_t total = add(&ovf, add(&ovf, wkv, overhead), reserve);
    uint64_t decode = add(&ovf, muldiv(&ovf, active, num, den * 8), kv);
    if (ovf) return vp_errf(e, VP_EOVERFLOW, "footprint: total bytes exceed 64 bits");

    plan_footprint f;
    memset(&f, 0, sizeof f);
    f.params = params;
    f.weights_bytes = weights;
    f.kv_cache_bytes = kv;
    f.overhead_bytes = overhead;
    f.reserve_bytes = reserve;
    f.total_bytes = total;
    f.tp = o->tp;
    f.pp = o->pp;
    f.decode_bytes_per_token = decode;

    param_split ps;
    split_params(a, params, &ps);
    uint32_t P = o->pp, base = a->layers / P, extra = a->layers % P, lo = 0;
    for (uint32_t s = 0; s < P; s++) {
        uint32_t hi = lo + base + (s < extra);
        uint64_t sp = layer_range_params(&ps, lo, hi, &ovf);
        if (s == 0) sp = add(&ovf, sp, ps.embed);
        if (s == P - 1) sp = add(&ovf, sp, ps.tail);
        if (s == P - 1 && P > 1) sp = add(&ovf, sp, ps.tied_copy);
        uint64_t gpu_w = ceil_div(muldiv(&ovf, sp, num, den * 8), o->tp);
        uint64_t s_slide = sliding_below(hi, S, L) - sliding_below(lo, S, L);
        uint64_t s_tokens =
            add(&ovf, mul(&ovf, (hi - lo) - s_slide, o->seq_len), mul(&ovf, s_slide, win_seq));
        uint64_t gpu_kv = mul(&ovf, mul(&ovf, mul(&ovf, elems_gpu, s_tokens), o->batch), kvb);
        uint64_t gpu_wkv = add(&ovf, gpu_w, gpu_kv);
        uint64_t gpu = add(&ovf, add(&ovf, gpu_wkv, muldiv(&ovf, gpu_wkv, o->overhead_ppm, PPM)),
                           o->cuda_context_bytes);
        f.stage_gpu_bytes[s] = gpu;
        if (gpu > f.per_gpu_bytes) f.per_gpu_bytes = gpu;
        lo = hi;
    }
    if (ovf) return vp_errf(e, VP_EOVERFLOW, "footprint: per-GPU byte count exceeds 64 bits");
    *out = f;
    return 0;
}
