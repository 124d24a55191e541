/* fp_int.h - the footprint's pieces, private to the planner: the tensors of a decoder layer
 * (weights.c), how GGUF files (gguf.c) and quantized checkpoints (quant.c) store each one, and the
 * engine memory profiles (engine_mem.c). footprint.c puts them together. */
#ifndef PLAN_FP_INT_H
#define PLAN_FP_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "footprint.h"

/* Checked arithmetic that latches an overflow flag, so long sums read as formulas. */
static inline uint64_t fp_mul(bool *ovf, uint64_t a, uint64_t b)
{
    uint64_t r;
    if (__builtin_mul_overflow(a, b, &r)) {
        *ovf = true;
        return 0;
    }
    return r;
}

static inline uint64_t fp_add(bool *ovf, uint64_t a, uint64_t b)
{
    uint64_t r;
    if (__builtin_add_overflow(a, b, &r)) {
        *ovf = true;
        return 0;
    }
    return r;
}

/* What a weight tensor is, as far as storage rules care. */
typedef enum fp_tkind {
    FP_T_Q,
    FP_T_K,
    FP_T_V,
    FP_T_QKV,
    FP_T_O,   /* attention projections (QKV: fused) */
    FP_T_MLA, /* MLA projections q_a, q_b, kv_a, kv_b */
    FP_T_GATE,
    FP_T_UP,
    FP_T_GATE_UP,
    FP_T_DOWN, /* dense MLP (GATE_UP: fused, phi3) */
    FP_T_EXP_GATE,
    FP_T_EXP_UP,
    FP_T_EXP_DOWN, /* routed experts, `count` of them */
    FP_T_SH_GATE,
    FP_T_SH_UP,
    FP_T_SH_DOWN, /* shared experts */
    FP_T_ROUTER,  /* MoE router: never quantized */
    FP_T_VEC,     /* norms, biases: 1-D */
    FP_T_EMBED,
    FP_T_OUTPUT, /* token embedding, lm_head */
} fp_tkind;

/* One tensor: `count` matrices of rows x cols, cols being the input dimension (GGUF ne0), or a
 * vector of cols elements (rows = 1). */
typedef struct fp_tensor {
    fp_tkind kind;
    uint64_t rows, cols, count;
} fp_tensor;

#define FP_MAX_LAYER_TENSORS 24

/* The tensors of decoder layer `layer`, in llama.cpp's order of attn_v / ffn_down counting. Their
 * element count is exactly plan_arch_layer_params' total. Returns how many, or -1 when a field the
 * shapes need is missing (the caller has already counted params, so this only happens for an
 * arch given by hand without a breakdown). */
int fp_layer_tensors(const plan_arch *a, uint32_t layer, fp_tensor out[FP_MAX_LAYER_TENSORS]);

/* How weights are stored: a plain dtype, a GGUF mix, or a quantized checkpoint. */
typedef struct fp_scheme {
    plan_dtype dtype; /* plain dtype, or the GGUF file type */
    plan_quant quant; /* NONE unless a quantized checkpoint */
    plan_dtype dense; /* the 16-bit dtype quantized checkpoints keep embeddings and norms in */
} fp_scheme;

/* Bytes of one tensor under the scheme. `layer` is the decoder layer (ignored for embeddings). */
uint64_t fp_tensor_bytes(const plan_arch *a, const fp_scheme *s, const fp_tensor *t, uint32_t layer,
                         bool *ovf);

/* gguf.c: bytes of a tensor in a GGUF file of type d, by llama.cpp's quantization rules. */
uint64_t fp_gguf_tensor_bytes(const plan_arch *a, plan_dtype d, const fp_tensor *t, uint32_t layer,
                              bool *ovf);
/* quant.c: bytes of a tensor of a quantized checkpoint. */
uint64_t fp_quant_tensor_bytes(plan_quant q, plan_dtype dense, const fp_tensor *t, bool *ovf);

/* The weights of a model under a scheme, by parts (weights.c). */
typedef struct fp_weights {
    bool exact;         /* per-layer breakdown from the architecture */
    uint64_t embed;     /* token embedding */
    uint64_t head;      /* lm_head; 0 when tied */
    uint64_t tied_head; /* bytes of an lm_head copy of a tied embedding (its stored form) */
    uint64_t final_norm;
    uint64_t total; /* unique weights */
    /* without a breakdown: the even split of plan_footprint */
    uint64_t per_layer, rem;
    /* with one: dense and MoE layer bytes are not uniform under GGUF, so layers are summed */
} fp_weights;

int fp_weights_init(const plan_arch *a, uint64_t params, const fp_scheme *s, fp_weights *w,
                    vp_err *e);
/* Weights bytes of layers [lo, hi). */
uint64_t fp_weights_layers(const plan_arch *a, const fp_scheme *s, const fp_weights *w, uint32_t lo,
                           uint32_t hi, bool *ovf);

/* workload.c: parameters of one LoRA adapter of rank r over the targets. */
uint64_t fp_lora_params(const plan_arch *a, uint32_t rank, plan_lora_targets t, bool *ovf);
/* LoRA adapters, a vision encoder, a draft model: terms per GPU of a served replica. seqs_tokens
 * is the KV tokens of all its sequences. */
int fp_serving_terms(const plan_arch *a, const plan_fp_opts *o, uint64_t kvb, uint64_t seqs_tokens,
                     plan_fp_term *t, size_t *n, vp_err *e);
/* A fine-tuning job's terms on one GPU; base_weights as the method stores the base. */
int fp_train_terms(const plan_arch *a, const plan_fp_opts *o, uint64_t base_weights,
                   plan_fp_term *t, size_t *n, uint64_t *trainable, vp_err *e);

/* hfvision.c: a llava config (text_config + vision_config) into a. */
int fp_hf_llava(const cJSON *cfg, const char *what, plan_arch *a, vp_err *e);

/* ---- engine memory profiles (engine_mem.c) ---- */

typedef enum fp_swa {
    FP_SWA_TRIM,       /* sliding-window layers hold window tokens (+ swa_extra) */
    FP_SWA_FULL,       /* every layer holds the whole context */
    FP_SWA_ALL_LAYERS, /* trimmed only when every layer slides (vLLM V0's block manager) */
} fp_swa;

typedef enum fp_fit_model { FP_FIT_VLLM, FP_FIT_SGLANG, FP_FIT_LLAMACPP } fp_fit_model;

/* What footprint.c needs from the profile a plan_fp_opts selects. */
typedef struct fp_profile_view {
    const char *label;
    fp_fit_model fit;
    uint32_t default_util_ppm; /* for this tp and GPU */
    uint32_t seq_block;        /* each sequence's KV rounds up to this many tokens (vLLM 16) */
    uint32_t ctx_pad;          /* the whole context rounds up to this (llama.cpp 256) */
    fp_swa swa;
    uint64_t swa_extra;  /* tokens a trimmed sliding layer keeps beyond the window */
    bool embed_on_host;  /* the token embedding stays in host memory (llama.cpp) */
    uint32_t rope_bytes; /* bytes per element of the rotary cos/sin cache per GPU */
} fp_profile_view;

/* The profile of o->engine at o->engine_version: 0, or VP_ENOTFOUND for the generic model. */
int fp_engine_view(const plan_fp_opts *o, fp_profile_view *v);
/* The profile's named terms for one GPU of a tp-way replica. */
int fp_engine_terms(const plan_arch *a, const plan_fp_opts *o,
                    plan_fp_term terms[PLAN_FP_MAX_TERMS], size_t *n, vp_err *e);

#endif
