/* workload.c - memory of what a GPU budget holds besides one served model: LoRA adapters on a
 * shared base, fine-tuning jobs, images of multimodal requests and speculative draft models.
 *
 * Every term is integer bytes per GPU, with its formula here and in README "Memory math":
 *   LoRA adapter   rank x (d_in + d_out) parameters per adapted matrix per layer (A is r x d_in,
 *                  B is d_out x r); resident adapters x that x 2 bytes, split over the TP group.
 *                  Rank 16 over every linear layer of Llama-3-8B: 41,943,040 parameters.
 *   images         the request's sequence grows by images x image_tokens (576 per LLaVA-1.5 image
 *                  at 336 px); the vision tower and projector weigh vision_params x 2 bytes; its
 *                  encoder pass holds images x (patches + 1) x (2 x intermediate + 3 x hidden) x 2.
 *   draft model    its weights, and its own KV cache for the same sequences; the target's
 *                  sequences grow by the proposed tokens.
 *   fine-tuning    (one data-parallel GPU; mixed precision as in ZeRO, Rajbhandari et al. 2020,
 *                  section 3.1: 16-bit weights and gradients, fp32 master copy and two fp32 Adam
 *                  moments, 2 + 2 + 12 = 16 bytes per trained parameter)
 *                  weights      P x dtype bytes; QLoRA: the base in NF4 (quant.c)
 *                  adapters     N x 2 (LoRA / QLoRA, N = trainable adapter parameters)
 *                  gradients    N x 2          master weights  N x 4 (16-bit dtypes; not
 *                               QLoRA, whose bf16 adapters the paged 32-bit optimizer updates
 *                               in place: artidoro/qlora qlora.py)
 *                  optimizer    AdamW N x 8, 8-bit AdamW N x 2, SGD 0
 *                  activations  per layer and token, the tensors backward needs, 2 bytes each:
 *                               6 x hidden + 2 x kv_dim + 3 x intermediate (norm inputs, q, k,
 *                               v, attention output, gate, up, their product) - for Llama-3-8B
 *                               139,264 bytes, Korthikanti et al. 2022's 34 x hidden without the
 *                               attention matrix. With activation checkpointing (default) only
 *                               each layer's input stays (2 x hidden) and one layer is recomputed;
 *                               LoRA adds the rank-wide outputs of A.
 *                  logits       micro_batch x seq x vocab x 6 (bf16 logits and the fp32 copy the
 *                               loss keeps)
 *                  dequantized  QLoRA: the largest matrix in bf16, one at a time
 *                  cuda_context the generic reserve per GPU */
#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include "fp_int.h"

#define MIB (1ULL << 20)

int plan_lora_targets_parse(const char *s, plan_lora_targets *out)
{
    static const struct {
        const char *name;
        plan_lora_targets t;
    } names[] = {{"all-linear", PLAN_LORA_ALL_LINEAR},
                 {"all_linear", PLAN_LORA_ALL_LINEAR},
                 {"attention", PLAN_LORA_ATTENTION},
                 {"qv", PLAN_LORA_QV},
                 {"q_proj,v_proj", PLAN_LORA_QV}};
    for (size_t i = 0; s && i < VP_ARRAY_LEN(names); i++)
        if (!strcasecmp(s, names[i].name)) {
            *out = names[i].t;
            return 0;
        }
    return VP_ENOTFOUND;
}

const char *plan_lora_targets_name(plan_lora_targets t)
{
    return t == PLAN_LORA_ATTENTION ? "attention" : t == PLAN_LORA_QV ? "qv" : "all-linear";
}

int plan_train_method_parse(const char *s, plan_train_method *out)
{
    static const char *const names[] = {"none", "full", "lora", "qlora"};
    for (int i = 0; s && i < 4; i++)
        if (!strcasecmp(s, names[i])) {
            *out = (plan_train_method)i;
            return 0;
        }
    return VP_ENOTFOUND;
}

const char *plan_train_method_name(plan_train_method m)
{
    static const char *const names[] = {"none", "full", "lora", "qlora"};
    return (int)m >= 0 && m <= PLAN_TRAIN_QLORA ? names[m] : "unknown";
}

int plan_optimizer_parse(const char *s, plan_optimizer *out)
{
    static const char *const names[] = {"adamw", "adamw-8bit", "sgd"};
    for (int i = 0; s && i < 3; i++)
        if (!strcasecmp(s, names[i])) {
            *out = (plan_optimizer)i;
            return 0;
        }
    return VP_ENOTFOUND;
}

const char *plan_optimizer_name(plan_optimizer o)
{
    static const char *const names[] = {"adamw", "adamw-8bit", "sgd"};
    return (int)o >= 0 && o <= PLAN_OPT_SGD ? names[o] : "unknown";
}

static bool adapted(fp_tkind k, plan_lora_targets t)
{
    bool attn =
        k == FP_T_Q || k == FP_T_K || k == FP_T_V || k == FP_T_QKV || k == FP_T_O || k == FP_T_MLA;
    if (t == PLAN_LORA_QV) return k == FP_T_Q || k == FP_T_V || k == FP_T_QKV;
    if (t == PLAN_LORA_ATTENTION) return attn;
    return k != FP_T_VEC && k != FP_T_ROUTER && k != FP_T_EMBED && k != FP_T_OUTPUT;
}

/* Parameters of one adapter of rank r, and how many matrices it adapts per layer (summed). */
static uint64_t lora_params(const plan_arch *a, uint32_t r, plan_lora_targets t, uint64_t *mats,
                            bool *ovf)
{
    uint64_t sum = 0, m = 0;
    fp_tensor ts[FP_MAX_LAYER_TENSORS];
    for (uint32_t l = 0; l < a->layers; l++) {
        int n = fp_layer_tensors(a, l, ts);
        for (int i = 0; i < n; i++) {
            if (!adapted(ts[i].kind, t)) continue;
            uint64_t one = fp_mul(ovf, r, fp_add(ovf, ts[i].rows, ts[i].cols));
            sum = fp_add(ovf, sum, fp_mul(ovf, one, ts[i].count));
            m = fp_add(ovf, m, ts[i].count);
        }
    }
    if (mats) *mats = m;
    return sum;
}

uint64_t fp_lora_params(const plan_arch *a, uint32_t rank, plan_lora_targets t, bool *ovf)
{
    return lora_params(a, rank, t, NULL, ovf);
}

static void term(plan_fp_term *t, size_t *n, const char *name, uint64_t bytes, bool in_budget,
                 const char *source)
{
    if (*n < PLAN_FP_MAX_TERMS) t[(*n)++] = (plan_fp_term){name, bytes, in_budget, source};
}

static uint64_t cdiv(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

static uint64_t dtype_bytes(plan_dtype d)
{
    uint64_t num, den;
    plan_dtype_bits(d, &num, &den);
    return num && !plan_dtype_is_gguf(d) ? cdiv(num, den * 8) : 2;
}

/* KV bytes per token of a model on one GPU of a tp group (K and V, or an MLA latent). */
static uint64_t kv_token(const plan_arch *a, uint32_t tp, uint64_t kvb)
{
    if (a->kv_lora_rank) return ((uint64_t)a->kv_lora_rank + a->qk_rope_head_dim) * a->layers * kvb;
    uint64_t hd = a->head_dim ? a->head_dim : (a->heads ? a->hidden / a->heads : 0);
    uint64_t kvh = a->kv_heads ? a->kv_heads : a->heads;
    return 2 * cdiv(kvh, tp) * hd * a->layers * kvb;
}

int fp_serving_terms(const plan_arch *a, const plan_fp_opts *o, uint64_t kvb, uint64_t seqs_tokens,
                     plan_fp_term *t, size_t *n, vp_err *e)
{
    bool ovf = false;
    uint64_t tp = o->tp ? o->tp : 1, wide = dtype_bytes(o->dtype) > 2 ? 4 : 2;
    if (o->lora.adapters) {
        if (!o->lora.rank) return vp_errf(e, VP_EINPUT, "lora.rank: must be at least 1");
        uint64_t resident = o->lora.max_resident   ? o->lora.max_resident
                            : o->lora.adapters < 8 ? o->lora.adapters
                                                   : 8;
        uint64_t p = lora_params(a, o->lora.rank, o->lora.targets, NULL, &ovf);
        term(t, n, "lora_adapters", cdiv(fp_mul(&ovf, fp_mul(&ovf, p, resident), wide), tp), true,
             "resident adapters x rank x (d_in + d_out) per adapted matrix, 16-bit");
    }
    if (o->images) {
        if (!a->vision_params || !a->image_tokens)
            return vp_errf(e, VP_EINPUT,
                           "images_per_request: the model has no vision encoder (its config has "
                           "no vision_config vrampack reads)");
        term(t, n, "vision_encoder", cdiv(fp_mul(&ovf, a->vision_params, wide), tp), true,
             "vision tower + projector parameters x 2 bytes (vision_config)");
        uint64_t per = 2 * (uint64_t)a->vision_intermediate + 3 * (uint64_t)a->vision_hidden;
        uint64_t act = fp_mul(&ovf, fp_mul(&ovf, o->images, a->vision_patches + 1ULL), per * 2);
        term(t, n, "vision_activation", cdiv(act, tp), true,
             "one request's images through the encoder's MLP");
    }
    if (o->draft) {
        const plan_arch *d = o->draft;
        uint64_t dp = d->params;
        if (!dp || !d->layers)
            return vp_errf(e, VP_EINPUT, "speculative: the draft model's size is unknown");
        uint64_t num, den, w = 0;
        plan_dtype_bits(o->draft_dtype, &num, &den);
        if (!num) return vp_errf(e, VP_EINPUT, "speculative: the draft's dtype is unknown");
        vp_muldiv_ceil_u64(dp, num, den * 8, &w);
        term(t, n, "draft_weights", cdiv(w, tp), true, "the draft model's parameters at its dtype");
        term(t, n, "draft_kv", fp_mul(&ovf, kv_token(d, o->tp ? o->tp : 1, kvb), seqs_tokens), true,
             "the draft's KV cache for the same sequences and lookahead");
    }
    if (ovf) return vp_errf(e, VP_EOVERFLOW, "footprint: workload terms exceed 64 bits");
    return 0;
}

/* Values one token of one layer leaves for backward (see the file comment). */
static uint64_t train_token_values(const plan_arch *a)
{
    uint64_t h = a->hidden, hd = a->head_dim ? a->head_dim : h / (a->heads ? a->heads : 1);
    uint64_t kvd = a->kv_lora_rank ? (uint64_t)a->kv_lora_rank + a->qk_rope_head_dim
                                   : (uint64_t)(a->kv_heads ? a->kv_heads : a->heads) * hd;
    uint64_t inter = a->intermediate;
    if (a->experts) {
        uint64_t mi = a->moe_intermediate ? a->moe_intermediate : a->intermediate;
        inter = ((uint64_t)a->experts_per_tok + a->shared_experts) * mi;
    }
    return 6 * h + 2 * kvd + (a->mlp_ungated ? 2 : 3) * inter;
}

/* The largest weight matrix of a layer, in elements (QLoRA dequantizes one at a time). */
static uint64_t largest_matrix(const plan_arch *a)
{
    fp_tensor ts[FP_MAX_LAYER_TENSORS];
    uint64_t best = 0;
    for (uint32_t l = 0; l < a->layers && l < 2 + a->first_dense_layers; l++) {
        int n = fp_layer_tensors(a, l, ts);
        for (int i = 0; i < n; i++)
            if (ts[i].kind != FP_T_VEC && ts[i].rows * ts[i].cols > best)
                best = ts[i].rows * ts[i].cols;
    }
    return best;
}

int fp_train_terms(const plan_arch *a, const plan_fp_opts *o, uint64_t base_weights,
                   plan_fp_term *t, size_t *n, uint64_t *trainable, vp_err *e)
{
    const plan_train *tr = &o->train;
    if (!a->hidden || !a->vocab || (!a->intermediate && !a->experts))
        return vp_errf(e, VP_EINPUT, "train: needs hidden, intermediate and vocab (an hf_config)");
    bool ovf = false, lora = tr->method != PLAN_TRAIN_FULL;
    if (lora && !tr->rank) return vp_errf(e, VP_EINPUT, "train.rank: must be at least 1");
    uint64_t mats = 0, N = lora ? lora_params(a, tr->rank, tr->targets, &mats, &ovf) : a->params;
    uint64_t b = tr->micro_batch ? tr->micro_batch : 1, s = tr->seq_len ? tr->seq_len : o->seq_len;
    bool mixed = o->dtype == PLAN_DT_BF16 || o->dtype == PLAN_DT_FP16;
    uint64_t L = a->layers, bs = fp_mul(&ovf, b, s);
    term(t, n, "weights", base_weights, true,
         tr->method == PLAN_TRAIN_QLORA ? "the base in NF4, embeddings 16-bit (quant.c)"
                                        : "the base at its dtype");
    if (lora) term(t, n, "adapter_weights", fp_mul(&ovf, N, 2), true, "rank x (d_in + d_out) x 2");
    term(t, n, "gradients", fp_mul(&ovf, N, mixed ? 2 : 4), true, "one per trained parameter");
    /* QLoRA casts its adapters to bf16 and lets the 32-bit paged optimizer update them in place:
     * no fp32 master copy (artidoro/qlora qlora.py, --optim paged_adamw_32bit). */
    if (mixed && tr->method != PLAN_TRAIN_QLORA)
        term(t, n, "master_weights", fp_mul(&ovf, N, 4), true, "fp32 copy (ZeRO 3.1)");
    uint64_t state = tr->optimizer == PLAN_OPT_ADAMW        ? 8
                     : tr->optimizer == PLAN_OPT_ADAMW_8BIT ? 2
                                                            : 0;
    term(t, n, "optimizer_states", fp_mul(&ovf, N, state), true,
         "AdamW: two fp32 moments; 8-bit AdamW: two bytes");
    uint64_t layer_tok = fp_mul(&ovf, train_token_values(a), 2);
    uint64_t acts = tr->no_checkpointing
                        ? fp_mul(&ovf, fp_mul(&ovf, L, bs), layer_tok)
                        : fp_add(&ovf, fp_mul(&ovf, fp_mul(&ovf, L, bs), 2ULL * a->hidden),
                                 fp_mul(&ovf, bs, layer_tok));
    if (lora) acts = fp_add(&ovf, acts, fp_mul(&ovf, fp_mul(&ovf, bs, mats), 2ULL * tr->rank));
    term(t, n, "activations", acts, true,
         tr->no_checkpointing ? "every layer's saved tensors (Korthikanti et al. 2022)"
                              : "checkpointed: layer inputs + one layer recomputed");
    term(t, n, "logits", fp_mul(&ovf, bs, (uint64_t)a->vocab * 6), true,
         "bf16 logits and the fp32 copy the loss keeps");
    if (tr->method == PLAN_TRAIN_QLORA)
        term(t, n, "dequantized", fp_mul(&ovf, largest_matrix(a), 2), true,
             "the largest matrix dequantized to bf16");
    term(t, n, "cuda_context", o->cuda_context_bytes, true, "vrampack's reserve per GPU");
    if (ovf) return vp_errf(e, VP_EOVERFLOW, "train: bytes exceed 64 bits");
    *trainable = N;
    return 0;
}

/* ---- prefill ---- */

uint64_t plan_prefill_flops(const plan_arch *a, uint64_t prompt_tokens)
{
    bool ovf = false;
    uint64_t active = a->active_params ? a->active_params : a->params;
    uint64_t hd = a->kv_lora_rank
                      ? (uint64_t)a->qk_nope_head_dim + a->qk_rope_head_dim
                      : (a->head_dim ? a->head_dim : a->hidden / (a->heads ? a->heads : 1));
    uint64_t mats = fp_mul(&ovf, fp_mul(&ovf, 2, active), prompt_tokens);
    /* QK^T and PV over the causal half: 2 x 2 x t^2 / 2 x heads x head_dim per layer */
    uint64_t attn = fp_mul(
        &ovf, fp_mul(&ovf, fp_mul(&ovf, 2, a->layers), fp_mul(&ovf, prompt_tokens, prompt_tokens)),
        fp_mul(&ovf, a->heads, hd));
    uint64_t sum = fp_add(&ovf, mats, attn);
    return ovf ? UINT64_MAX : sum;
}

double plan_ttft_ms(uint64_t flops, uint32_t tflops, uint32_t tp, uint32_t mfu_ppm)
{
    if (!tflops) return 0;
    double rate = (double)tflops * 1e12 * (tp ? tp : 1) * (mfu_ppm ? mfu_ppm : 1000000) / 1e6;
    return (double)flops / rate * 1000.0;
}
