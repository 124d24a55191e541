/* footprint.c - exact memory footprint of one replica of a model: whole and per GPU.
 *
 * Every quantity is an integer byte count (DESIGN.md "Memory math"):
 *   weights  = the tensors' bytes under the storage scheme (weights.c): a plain dtype is
 *              ceil(params x bits / 8); a GGUF type sums llama.cpp's mix tensor by tensor
 *              (gguf.c); a quantized checkpoint keeps embeddings, lm_head and norms at 16 bit
 *              (quant.c).
 *   kv       = Σ over layers of elements per token x tokens x kv bytes per element, where
 *              elements per token are 2 x kv_heads x head_dim (K and V), or for MLA one latent
 *              copy of kv_lora_rank + qk_rope_head_dim; tokens are seq_len x batch, or
 *              min(seq_len, window) x batch on sliding-window layers.
 * With the generic model (no engine, or builtin/command):
 *   overhead = ceil(overhead_ppm x (weights + kv) / 10^6), reserve = cuda_context_bytes per GPU.
 * With an engine profile (engine_mem.c) the engine's named terms replace both (the CUDA context
 * terms are the reserve, the others overhead), its KV policy decides block rounding and whether
 * sliding layers are trimmed, weights gain the rotary cache each GPU holds, and llama.cpp's token
 * embedding stays in host memory (host_bytes) while a tied lm_head is copied to the GPU.
 *   total    = what the replica's GPUs hold together.
 *
 * Per GPU. Pipeline stage s gets layers/pp layers, the first layers % pp stages one more; stage 0
 * holds the embeddings, the last stage the final norm and lm_head. With tied embeddings and
 * pp > 1 the last stage still needs the lm_head matrix, so it holds a copy of the embedding
 * matrix: stage weights then sum to more than the unique weights. Each of the tp GPUs of a stage
 * holds ceil(stage weights / tp), the KV of ceil(kv_heads / tp) heads (so heads are replicated
 * when kv_heads < tp; an MLA latent is replicated on every rank), and either its overhead share
 * ceil(overhead_ppm x (its weights + its KV) / 10^6) and one CUDA context, or the engine's terms.
 * per_gpu_bytes is the largest stage. With tp = pp = 1 the one GPU's bytes equal total_bytes.
 *
 * Stage weights come from the exact per-layer breakdown when the architecture fields count to
 * the model's params (HF configs always do). A model that gives params with fields that do not
 * account for them is split this way instead: the embedding matrix (vocab x hidden, when both are
 * known) to stage 0, lm_head (the same size unless tied) to the last stage, and the rest evenly
 * over the layers, the first (rest % layers) layers holding one byte more.
 *
 * Sliding-window layers are taken as spread evenly: layer i uses the window when
 * ceil((i+1) S / L) > ceil(i S / L) for S sliding layers of L. That is exactly gemma2's
 * alternation (layers 0, 2, 4, ...), gemma3's five-of-six, and "all layers" for mistral v0.1; it
 * only decides which stage holds which KV, never the whole-model total. */
#include <inttypes.h>
#include <string.h>

#include "fp_int.h"

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

/* Rounds v up to a multiple of m (m >= 1), latching overflow. */
static uint64_t round_up(bool *ovf, uint64_t v, uint64_t m)
{
    return m <= 1 ? v : fp_mul(ovf, ceil_div(v, m), m);
}

static int check_opts(const plan_fp_opts *o, uint64_t *kvb, vp_err *e)
{
    if ((int)o->dtype < 0 || o->dtype >= PLAN_DT_COUNT)
        return vp_errf(e, VP_EINPUT, "dtype: not a known dtype");
    *kvb = (int)o->kv_dtype < 0 || o->kv_dtype >= PLAN_DT_COUNT ? 0 : kv_elem_bytes(o->kv_dtype);
    if (!*kvb)
        return vp_errf(e, VP_EINPUT,
                       "kv_dtype: %s: a KV cache is stored as fp32, fp16, bf16, fp8 or int8",
                       plan_dtype_name(o->kv_dtype));
    if ((int)o->quant < 0 || o->quant >= PLAN_QUANT_COUNT)
        return vp_errf(e, VP_EINPUT, "quantization: not a known format");
    if (o->quant != PLAN_QUANT_NONE && o->dtype != PLAN_DT_BF16 && o->dtype != PLAN_DT_FP16 &&
        o->dtype != PLAN_DT_FP32)
        return vp_errf(e, VP_EINPUT,
                       "quantization: %s: dtype %s; a quantized checkpoint's dtype is that of its "
                       "unquantized parts (bf16, fp16, fp32)%s",
                       plan_quant_name(o->quant), plan_dtype_name(o->dtype),
                       plan_dtype_is_gguf(o->dtype) ? "; a GGUF type is its own quantization" : "");
    if (o->seq_len == 0) return vp_errf(e, VP_EINPUT, "seq_len: must be at least 1");
    if (o->batch == 0) return vp_errf(e, VP_EINPUT, "batch: must be at least 1");
    if (o->tp == 0) return vp_errf(e, VP_EINPUT, "tp: must be at least 1");
    if (o->pp == 0 || o->pp > PLAN_MAX_PP)
        return vp_errf(e, VP_EINPUT, "pp: must be in [1, %d] (got %" PRIu32 ")", PLAN_MAX_PP,
                       o->pp);
    return 0;
}

/* KV elements one token stores per layer: whole model and on one tensor-parallel GPU. */
static int kv_elements(const plan_arch *a, uint32_t tp, uint64_t *elems, uint64_t *elems_gpu,
                       vp_err *e)
{
    if (a->kv_lora_rank) {
        if (!a->qk_rope_head_dim)
            return vp_errf(e, VP_EINPUT, "qk_rope_head_dim: missing (needed by MLA)");
        *elems = *elems_gpu = (uint64_t)a->kv_lora_rank + a->qk_rope_head_dim;
        return 0;
    }
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
    *elems = fp_mul(&big, fp_mul(&big, 2, kvh), hd);
    *elems_gpu = fp_mul(&big, fp_mul(&big, 2, ceil_div(kvh, tp)), hd);
    if (big) return vp_errf(e, VP_EOVERFLOW, "footprint: KV elements per token exceed 64 bits");
    return 0;
}

/* How many tokens the cache holds on full-attention and on sliding-window layers, over all
 * sequences, and how many layers slide. The generic model caps sliding layers at the window
 * (DESIGN.md); an engine profile says whether it trims them, rounds each sequence to its KV block
 * (vLLM) and pads the whole context (llama.cpp). */
typedef struct kv_plan {
    uint64_t full, slide; /* tokens per full / sliding layer, all sequences */
    uint64_t S;           /* sliding layers */
} kv_plan;

static void kv_tokens(const plan_arch *a, const plan_fp_opts *o, const fp_profile_view *pv,
                      kv_plan *k, bool *ovf)
{
    uint64_t L = a->layers;
    k->S = a->sliding_window ? (a->sliding_layers && a->sliding_layers < L ? a->sliding_layers : L)
                             : 0;
    uint64_t seq = o->seq_len, win = a->sliding_window;
    if (!pv) {
        k->full = fp_mul(ovf, seq, o->batch);
        k->slide = fp_mul(ovf, k->S && win < seq ? win : seq, o->batch);
        return;
    }
    seq = round_up(ovf, seq, pv->seq_block);
    k->full = round_up(ovf, fp_mul(ovf, seq, o->batch), pv->ctx_pad);
    bool trim = pv->swa == FP_SWA_TRIM || (pv->swa == FP_SWA_ALL_LAYERS && k->S == L);
    /* llama.cpp runs Phi-3 with its window off. */
    if (!strcmp(a->family, "phi3") && pv->fit == FP_FIT_LLAMACPP) trim = false;
    if (!k->S || !trim) {
        k->S = 0;
        k->slide = k->full;
        return;
    }
    if (pv->fit == FP_FIT_LLAMACPP) {
        /* n_swa x n_seq + n_ubatch cells, padded, never more than the context */
        uint64_t cells = round_up(ovf, fp_mul(ovf, win, o->batch) + pv->swa_extra, pv->ctx_pad);
        k->slide = cells < k->full ? cells : k->full;
    } else {
        uint64_t w = win < seq ? round_up(ovf, win, pv->seq_block) : seq;
        k->slide = fp_mul(ovf, w < seq ? w : seq, o->batch);
    }
}

/* The rotary cos/sin cache an engine keeps on every GPU: max_position x rotary dims. */
static uint64_t rope_bytes(const plan_arch *a, const fp_profile_view *pv)
{
    if (!pv || !pv->rope_bytes || !a->max_position) return 0;
    uint64_t dims = a->kv_lora_rank
                        ? a->qk_rope_head_dim
                        : (a->head_dim ? a->head_dim : a->hidden / (a->heads ? a->heads : 1));
    return (uint64_t)a->max_position * dims * pv->rope_bytes; /* <= 1e9 x 1e6 x 4 */
}

typedef struct stage_ctx {
    const plan_arch *a;
    const plan_fp_opts *o;
    const fp_scheme *s;
    const fp_weights *w;
    const fp_profile_view *pv; /* NULL: generic model */
    kv_plan k;
    uint64_t elems_gpu, kvb, rope, terms;
} stage_ctx;

/* One GPU of stage `st` (layers [lo, hi)): weights, KV, and its total need. */
static uint64_t stage_gpu(const stage_ctx *c, uint32_t st, uint32_t lo, uint32_t hi,
                          uint64_t *gpu_w, uint64_t *gpu_kv, uint64_t *kv_tok, bool *ovf)
{
    const plan_fp_opts *o = c->o;
    uint32_t P = o->pp;
    uint64_t sp = fp_weights_layers(c->a, c->s, c->w, lo, hi, ovf);
    bool host = c->pv && c->pv->embed_on_host;
    if (st == 0 && !host) sp = fp_add(ovf, sp, c->w->embed);
    if (st == P - 1) sp = fp_add(ovf, fp_add(ovf, sp, c->w->final_norm), c->w->head);
    /* A tied lm_head is a second copy where the embedding is not: on the last of several stages,
     * or on the GPU when the embedding stays in host memory. */
    if (st == P - 1 && (P > 1 || host)) sp = fp_add(ovf, sp, c->w->tied_head);
    *gpu_w = fp_add(ovf, ceil_div(sp, o->tp), c->rope);
    uint64_t L = c->a->layers;
    uint64_t slide = sliding_below(hi, c->k.S, L) - sliding_below(lo, c->k.S, L);
    uint64_t tokens =
        fp_add(ovf, fp_mul(ovf, (hi - lo) - slide, c->k.full), fp_mul(ovf, slide, c->k.slide));
    *gpu_kv = fp_mul(ovf, fp_mul(ovf, c->elems_gpu, tokens), c->kvb);
    *kv_tok = fp_mul(ovf, fp_mul(ovf, c->elems_gpu, hi - lo), c->kvb);
    uint64_t wkv = fp_add(ovf, *gpu_w, *gpu_kv);
    if (!c->pv)
        return fp_add(ovf,
                      fp_add(ovf, fp_add(ovf, wkv, muldiv(ovf, wkv, o->overhead_ppm, PPM)),
                             o->cuda_context_bytes),
                      c->terms);
    return fp_add(ovf, wkv, c->terms);
}

static int resolve_params(const plan_arch *a, uint64_t *params, uint64_t *active, vp_err *e)
{
    *params = a->params;
    *active = a->active_params;
    if (!*params) {
        plan_arch c = *a;
        vp_err ce = {0};
        int rc = plan_arch_count_params(&c, &ce);
        if (rc) return vp_errf(e, rc, "params: missing, and not countable (%s)", ce.msg);
        *params = c.params;
        *active = c.active_params;
    }
    if (!*active) *active = *params;
    if (*active > *params)
        return vp_errf(e, VP_EINPUT, "active_params: %" PRIu64 " is more than params %" PRIu64,
                       *active, *params);
    return 0;
}

/* Whole-replica sums and the engine's terms. */
static int fill_totals(const stage_ctx *c, uint64_t params, uint64_t active, plan_footprint *f,
                       bool *ovf, vp_err *e)
{
    const plan_fp_opts *o = c->o;
    uint64_t L = c->a->layers;
    uint64_t gpus = (uint64_t)o->tp * o->pp;
    uint64_t elems, elems_gpu;
    int rc = kv_elements(c->a, 1, &elems, &elems_gpu, e);
    if (rc) return rc;
    uint64_t layer_tokens =
        fp_add(ovf, fp_mul(ovf, L - c->k.S, c->k.full), fp_mul(ovf, c->k.S, c->k.slide));
    uint64_t kv = fp_mul(ovf, fp_mul(ovf, elems, layer_tokens), c->kvb);
    if (*ovf)
        return vp_errf(e, VP_EOVERFLOW,
                       "seq_len: KV cache of %" PRIu64 " tokens x %" PRIu64
                       " sequences exceeds 64 bits",
                       o->seq_len, o->batch);
    f->params = params;
    f->weights_bytes = c->w->total;
    f->kv_cache_bytes = kv;
    f->tp = o->tp;
    f->pp = o->pp;
    f->decode_bytes_per_token = fp_add(ovf, muldiv(ovf, c->w->total, active, params), kv);
    if (!c->pv) {
        f->overhead_bytes =
            fp_add(ovf, muldiv(ovf, fp_add(ovf, c->w->total, kv), o->overhead_ppm, PPM),
                   fp_mul(ovf, c->terms, gpus));
        f->reserve_bytes = fp_mul(ovf, o->cuda_context_bytes, gpus);
        f->total_bytes = fp_add(ovf, fp_add(ovf, fp_add(ovf, c->w->total, kv), f->overhead_bytes),
                                f->reserve_bytes);
        return 0;
    }
    /* Engine: the GPUs hold the unique weights less what stays on the host, plus a tied head's
     * GPU copy and a rotary cache per GPU; context terms are the reserve, the rest overhead. */
    uint64_t ctx = 0, other = 0;
    for (size_t i = 0; i < f->n_terms; i++) {
        if (!strcmp(f->terms[i].name, "cuda_context"))
            ctx = fp_add(ovf, ctx, f->terms[i].bytes);
        else
            other = fp_add(ovf, other, f->terms[i].bytes);
    }
    uint64_t gpu_weights = c->w->total;
    if (c->pv->embed_on_host) {
        f->host_bytes = c->w->embed;
        gpu_weights = fp_add(ovf, gpu_weights - c->w->embed, c->w->tied_head);
    } else if (o->pp > 1) {
        gpu_weights = fp_add(ovf, gpu_weights, c->w->tied_head);
    }
    gpu_weights = fp_add(ovf, gpu_weights, fp_mul(ovf, c->rope, gpus));
    f->overhead_bytes = fp_mul(ovf, other, gpus);
    f->reserve_bytes = fp_mul(ovf, ctx, gpus);
    f->total_bytes =
        fp_add(ovf, fp_add(ovf, fp_add(ovf, gpu_weights, kv), f->overhead_bytes), f->reserve_bytes);
    return 0;
}

/* A fine-tuning job: one data-parallel GPU holds the whole of it (workload.c's terms). */
static int train_footprint(const plan_arch *a, const plan_fp_opts *o, uint64_t params,
                           plan_footprint *out, vp_err *e)
{
    if (o->tp != 1 || o->pp != 1)
        return vp_errf(e, VP_EINPUT,
                       "tp: a training job is data-parallel, one full replica per GPU (tp and pp "
                       "1; got %" PRIu32 " x %" PRIu32 ")",
                       o->tp, o->pp);
    fp_profile_view v;
    if (fp_engine_view(o, &v) == 0)
        return vp_errf(e, VP_EINPUT, "engine: %s serves models; a training job runs its own",
                       eng_name(o->engine));
    if (o->lora.adapters || o->images || o->draft)
        return vp_errf(e, VP_EINPUT, "train: a training job serves no adapters, images or drafts");
    bool qlora = o->train.method == PLAN_TRAIN_QLORA;
    plan_dtype dense =
        o->dtype == PLAN_DT_FP16 || o->dtype == PLAN_DT_FP32 ? o->dtype : PLAN_DT_BF16;
    fp_scheme s = {qlora ? dense : o->dtype, qlora ? PLAN_QUANT_BNB4 : o->quant, dense};
    fp_weights w;
    int rc = fp_weights_init(a, params, &s, &w, e);
    if (rc) return rc;
    plan_footprint f;
    memset(&f, 0, sizeof f);
    if ((rc = fp_train_terms(a, o, w.total, f.terms, &f.n_terms, &f.trainable_params, e)))
        return rc;
    bool ovf = false;
    uint64_t all = 0;
    for (size_t i = 0; i < f.n_terms; i++)
        all = fp_add(&ovf, all, f.terms[i].bytes);
    if (ovf) return vp_errf(e, VP_EOVERFLOW, "train: bytes exceed 64 bits");
    f.params = params;
    f.weights_bytes = w.total;
    f.gpu_weights_bytes = w.total;
    f.reserve_bytes = o->cuda_context_bytes;
    f.overhead_bytes = all - w.total - o->cuda_context_bytes;
    f.total_bytes = f.per_gpu_bytes = f.stage_gpu_bytes[0] = all;
    f.tp = f.pp = 1;
    f.seq_tokens = o->train.seq_len ? o->train.seq_len : o->seq_len;
    *out = f;
    return 0;
}

int plan_footprint_compute(const plan_arch *arch, const plan_fp_opts *o, plan_footprint *out,
                           vp_err *e)
{
    if (!arch || !o || !out) return vp_errf(e, VP_EINPUT, "footprint: no architecture or options");
    uint64_t kvb = 0;
    int rc = check_opts(o, &kvb, e);
    if (rc) return rc;
    const plan_arch *a = arch;
    if (a->layers == 0) return vp_errf(e, VP_EINPUT, "layers: missing (required)");
    if (o->pp > a->layers)
        return vp_errf(e, VP_EINPUT, "pp: %" PRIu32 " stages for %" PRIu32 " layers", o->pp,
                       a->layers);
    uint64_t params, active, elems, elems_gpu;
    if ((rc = resolve_params(a, &params, &active, e))) return rc;
    if ((rc = kv_elements(a, o->tp, &elems, &elems_gpu, e))) return rc;

    if (o->train.method != PLAN_TRAIN_NONE) return train_footprint(a, o, params, out, e);
    /* Images and the draft's lookahead lengthen every sequence the cache and the engine hold. */
    plan_fp_opts eff = *o;
    bool ovf = false;
    eff.seq_len = fp_add(&ovf, fp_add(&ovf, o->seq_len, fp_mul(&ovf, o->images, a->image_tokens)),
                         o->draft ? o->spec_tokens : 0);
    o = &eff;

    plan_footprint f;
    memset(&f, 0, sizeof f);
    f.seq_tokens = eff.seq_len;
    fp_profile_view view;
    const fp_profile_view *pv = fp_engine_view(o, &view) == 0 ? &view : NULL;
    if (pv) {
        if ((rc = fp_engine_terms(a, o, f.terms, &f.n_terms, e))) return rc;
        f.profile = pv->label;
        f.default_util_ppm = pv->default_util_ppm;
        f.kv_block_tokens = pv->seq_block;
    }
    /* A quantized checkpoint keeps its other parts at dtype (bf16, fp16 or fp32). */
    fp_scheme scheme = {o->dtype, o->quant, o->dtype};
    fp_weights w;
    if ((rc = fp_weights_init(a, params, &scheme, &w, e))) return rc;

    stage_ctx c = {a, o, &scheme, &w, pv, {0, 0, 0}, elems_gpu, kvb, rope_bytes(a, pv), 0};
    kv_tokens(a, o, pv, &c.k, &ovf);
    if ((rc = fp_serving_terms(a, o, kvb, c.k.full, f.terms, &f.n_terms, e))) return rc;
    for (size_t i = 0; i < f.n_terms; i++)
        c.terms = fp_add(&ovf, c.terms, f.terms[i].bytes);
    if ((rc = fill_totals(&c, params, active, &f, &ovf, e))) return rc;
    if (ovf) return vp_errf(e, VP_EOVERFLOW, "footprint: total bytes exceed 64 bits");
    f.kv_tokens = c.k.full;

    uint32_t P = o->pp, base = a->layers / P, extra = a->layers % P, lo = 0;
    for (uint32_t s = 0; s < P; s++) {
        uint32_t hi = lo + base + (s < extra);
        uint64_t gw, gkv, ktok;
        uint64_t gpu = stage_gpu(&c, s, lo, hi, &gw, &gkv, &ktok, &ovf);
        f.stage_gpu_bytes[s] = gpu;
        if (gpu > f.per_gpu_bytes) {
            f.per_gpu_bytes = gpu;
            f.gpu_weights_bytes = gw;
            f.gpu_kv_bytes = gkv;
            f.kv_token_bytes = ktok;
        }
        lo = hi;
    }
    if (ovf) return vp_errf(e, VP_EOVERFLOW, "footprint: per-GPU byte count exceeds 64 bits");
    *out = f;
    return 0;
}
