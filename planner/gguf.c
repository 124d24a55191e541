/* gguf.c - bytes of a tensor in a GGUF file of a given type, by llama.cpp's quantization rules.
 *
 * A GGUF "file type" (q4_k_m, q5_k_s, iq3_m, ...) is not one width: llama.cpp's quantizer picks a
 * block type for every tensor (src/llama-quant.cpp, llama_tensor_get_type). This file follows those
 * rules for llama-like decoders, as they stand since 2024:
 *   - 1-D tensors (norms, biases) and the MoE router stay F32.
 *   - output.weight (lm_head), or token_embd when the embedding is tied (there is no output tensor
 *     then, and llama.cpp stores the embedding at the output's type): Q8_0 for falcon or a row size
 *     not a multiple of 256, Q5_K for the iq1/iq2 types, otherwise Q6_K (Q8_0 stays Q8_0).
 *   - token_embd: Q2_K for iq2_xxs/iq2_xs/iq1_s/iq1_m, IQ3_S for iq2_s/iq2_m/iq3_s/iq3_m, otherwise
 *     the file type's base type.
 *   - attn_v: q2_k Q4_K (Q3_K below 4 query heads per KV head); q3_k_m Q5_K in the first two
 *     layers then Q4_K; q3_k_l Q5_K; q4_k_m and q5_k_m Q6_K where use_more_bits(i, n); q4_k_s Q5_K
 *     in the first four; iq4 types Q5_K with >= 4 queries per KV head; iq3_xxs/iq3_xs/iq3_s with
 *     GQA >= 4 Q4_K; iq3_m Q4_K; iq1/iq2 types Q4_K with GQA >= 4 (else Q2_K, IQ3_S for iq2_s/m).
 *     Then an 80-layer model (LLM_TYPE_70B) lifts Q3_K/Q4_K to Q5_K, and an 8-expert model takes
 *     Q8_0. attn_k takes Q8_0 in an 8-expert model (Q4_K for the iq1/iq2 types).
 *   - iq3_xs: attn_q, attn_k and, in the middle three quarters of the layers, ffn_gate/ffn_up at
 *     IQ3_XXS.
 *   - attn_qkv (fused, phi3/falcon): Q4_K for q3_k_m/q3_k_l, Q5_K for q4_k_m, Q6_K for q5_k_m.
 *   - attn_output: q2_k Q3_K, q3_k_m Q4_K, q3_k_l Q5_K, iq3_m Q4_K; 8-expert models Q5_K for the
 *     2-4 bit K and IQ types; iq1 IQ2_XXS, iq2_s/m IQ3_S.
 *   - ffn_down (every tensor named so, experts included, counted in order): q2_k Q3_K; q3_k_m Q5_K
 *     in the first n/16 then Q4_K; q3_k_l Q5_K; q4_k_m Q6_K where use_more_bits; q5_k_m likewise;
 *     q4_k_s Q5_K in the first n/8; iq4 types Q5_K in the first n/8 (no importance matrix); iq1/iq2
 *     Q2_K (IQ3_S for iq2_s/m) in the first n/8; iq3_m Q4_K in the first n/8.
 *   use_more_bits(i, n) = i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2.
 *   - A K or IQ type on a row that is not a multiple of 256 falls back: Q2_K, Q3_K and the IQ
 *     types to IQ4_NL, Q4_K to Q5_0, Q5_K to Q5_1, Q6_K to Q8_0.
 * Not modelled: choices that depend on an importance matrix beyond the no-imatrix path, falcon's
 * own ffn_down table for q4_k_m (it follows the llama rule here), and tensors of architectures this
 * planner does not read. Block sizes are ggml's (ggml/src/ggml-common.h): bytes per block of 32
 * or 256 weights. The result reproduces llama.cpp's own logs to the MiB: Llama-3-8B q4_k_m has
 * 4,617,396,224 bytes on the GPU ("CUDA0 buffer size = 4403.49 MiB") and a 295,501,824-byte
 * token_embd left on the host ("CPU buffer size = 281.81 MiB"). */
#include <string.h>

#include "fp_int.h"

typedef enum ggml_t {
    G_F32,
    G_F16,
    G_Q4_0,
    G_Q4_1,
    G_Q5_0,
    G_Q5_1,
    G_Q8_0,
    G_Q2_K,
    G_Q3_K,
    G_Q4_K,
    G_Q5_K,
    G_Q6_K,
    G_IQ2_XXS,
    G_IQ2_XS,
    G_IQ2_S,
    G_IQ3_XXS,
    G_IQ3_S,
    G_IQ1_S,
    G_IQ1_M,
    G_IQ4_NL,
    G_IQ4_XS,
    G_COUNT
} ggml_t;

/* ggml_type_size / ggml_blck_size. */
static const struct {
    uint32_t bytes, block;
} ggml[G_COUNT] = {
    [G_F32] = {4, 1},        [G_F16] = {2, 1},       [G_Q4_0] = {18, 32},   [G_Q4_1] = {20, 32},
    [G_Q5_0] = {22, 32},     [G_Q5_1] = {24, 32},    [G_Q8_0] = {34, 32},   [G_Q2_K] = {84, 256},
    [G_Q3_K] = {110, 256},   [G_Q4_K] = {144, 256},  [G_Q5_K] = {176, 256}, [G_Q6_K] = {210, 256},
    [G_IQ2_XXS] = {66, 256}, [G_IQ2_XS] = {74, 256}, [G_IQ2_S] = {82, 256}, [G_IQ3_XXS] = {98, 256},
    [G_IQ3_S] = {110, 256},  [G_IQ1_S] = {50, 256},  [G_IQ1_M] = {56, 256}, [G_IQ4_NL] = {18, 32},
    [G_IQ4_XS] = {136, 256},
};

/* The base type of each file type (llama_model_quantize_impl's default_type). */
static ggml_t base_type(plan_dtype d)
{
    switch (d) {
    case PLAN_DT_Q8_0:
        return G_Q8_0;
    case PLAN_DT_Q6_K:
        return G_Q6_K;
    case PLAN_DT_Q5_K_M:
    case PLAN_DT_Q5_K_S:
        return G_Q5_K;
    case PLAN_DT_Q4_K_M:
    case PLAN_DT_Q4_K_S:
        return G_Q4_K;
    case PLAN_DT_Q3_K_L:
    case PLAN_DT_Q3_K_M:
    case PLAN_DT_Q3_K_S:
        return G_Q3_K;
    case PLAN_DT_Q2_K:
        return G_Q2_K;
    case PLAN_DT_Q4_0:
        return G_Q4_0;
    case PLAN_DT_Q4_1:
        return G_Q4_1;
    case PLAN_DT_Q5_0:
        return G_Q5_0;
    case PLAN_DT_Q5_1:
        return G_Q5_1;
    case PLAN_DT_IQ4_XS:
        return G_IQ4_XS;
    case PLAN_DT_IQ4_NL:
        return G_IQ4_NL;
    case PLAN_DT_IQ3_M:
    case PLAN_DT_IQ3_S:
    case PLAN_DT_IQ3_XS:
        return G_IQ3_S;
    case PLAN_DT_IQ3_XXS:
        return G_IQ3_XXS;
    case PLAN_DT_IQ2_M:
        return G_IQ2_S;
    case PLAN_DT_IQ2_S:
    case PLAN_DT_IQ2_XS:
        return G_IQ2_XS;
    case PLAN_DT_IQ2_XXS:
        return G_IQ2_XXS;
    case PLAN_DT_IQ1_M:
        return G_IQ1_M;
    case PLAN_DT_IQ1_S:
        return G_IQ1_S;
    default:
        return G_F16;
    }
}

static bool is_iq12(plan_dtype d)
{
    return d == PLAN_DT_IQ2_XXS || d == PLAN_DT_IQ2_XS || d == PLAN_DT_IQ2_S ||
           d == PLAN_DT_IQ2_M || d == PLAN_DT_IQ1_S || d == PLAN_DT_IQ1_M;
}

static bool use_more_bits(uint64_t i, uint64_t n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* GQA ratio: query heads per KV head (llama.cpp n_gqa()). */
static uint64_t n_gqa(const plan_arch *a)
{
    uint64_t kvh = a->kv_heads ? a->kv_heads : a->heads;
    return kvh ? a->heads / kvh : 1;
}

static ggml_t output_type(const plan_arch *a, plan_dtype d, ggml_t t)
{
    if (!strcmp(a->family, "falcon") || a->hidden % 256) return G_Q8_0;
    if (d == PLAN_DT_IQ2_XXS || d == PLAN_DT_IQ2_XS || d == PLAN_DT_IQ3_XXS || d == PLAN_DT_IQ1_S ||
        d == PLAN_DT_IQ2_S || d == PLAN_DT_IQ2_M || d == PLAN_DT_IQ1_M)
        return G_Q5_K;
    return t == G_Q8_0 ? G_Q8_0 : G_Q6_K;
}

static ggml_t attn_v_type(const plan_arch *a, plan_dtype d, ggml_t t, uint64_t i, uint64_t n)
{
    uint64_t gqa = n_gqa(a);
    if (is_iq12(d)) {
        if (gqa >= 4 || a->experts >= 4)
            t = G_Q4_K;
        else
            t = (d == PLAN_DT_IQ2_S || d == PLAN_DT_IQ2_M) ? G_IQ3_S : G_Q2_K;
    } else if (d == PLAN_DT_Q2_K) {
        t = gqa >= 4 ? G_Q4_K : G_Q3_K;
    } else if (d == PLAN_DT_IQ3_XXS) {
        t = gqa >= 4 ? G_Q4_K : G_IQ3_S;
    } else if ((d == PLAN_DT_IQ3_XS || d == PLAN_DT_IQ3_S) && gqa >= 4) {
        t = G_Q4_K;
    } else if (d == PLAN_DT_IQ3_M) {
        t = G_Q4_K;
    } else if (d == PLAN_DT_Q3_K_M) {
        t = i < 2 ? G_Q5_K : G_Q4_K;
    } else if (d == PLAN_DT_Q3_K_L) {
        t = G_Q5_K;
    } else if ((d == PLAN_DT_IQ4_NL || d == PLAN_DT_IQ4_XS) && gqa >= 4) {
        t = G_Q5_K;
    } else if ((d == PLAN_DT_Q4_K_M || d == PLAN_DT_Q5_K_M) && use_more_bits(i, n)) {
        t = G_Q6_K;
    } else if (d == PLAN_DT_Q4_K_S && i < 4) {
        t = G_Q5_K;
    }
    if (a->layers == 80 && !a->experts && (t == G_Q3_K || t == G_Q4_K)) t = G_Q5_K;
    if (a->experts == 8 && !is_iq12(d)) t = G_Q8_0;
    return t;
}

static ggml_t ffn_down_type(const plan_arch *a, plan_dtype d, ggml_t t, uint64_t i, uint64_t n)
{
    bool falcon = !strcmp(a->family, "falcon");
    if (is_iq12(d)) {
        if (i < n / 8) t = (d == PLAN_DT_IQ2_S || d == PLAN_DT_IQ2_M) ? G_IQ3_S : G_Q2_K;
    } else if (d == PLAN_DT_Q2_K) {
        t = G_Q3_K;
    } else if (d == PLAN_DT_IQ3_XXS) {
        t = i < n / 8 ? G_Q4_K : G_Q3_K;
    } else if (d == PLAN_DT_Q3_K_M) {
        t = i < n / 16 ? G_Q5_K : (!falcon || use_more_bits(i, n)) ? G_Q4_K : G_Q3_K;
    } else if (d == PLAN_DT_IQ3_M && (i < n / 8 || (a->experts == 8 && use_more_bits(i, n)))) {
        t = G_Q4_K;
    } else if (d == PLAN_DT_Q3_K_L) {
        t = falcon ? G_Q4_K : G_Q5_K;
    } else if (d == PLAN_DT_Q4_K_M) {
        if (use_more_bits(i, n)) t = G_Q6_K;
    } else if (i < n / 8 && (d == PLAN_DT_IQ4_NL || d == PLAN_DT_IQ4_XS)) {
        t = G_Q5_K;
    } else if (d == PLAN_DT_Q5_K_M && use_more_bits(i, n)) {
        t = G_Q6_K;
    } else if (d == PLAN_DT_Q4_K_S && !falcon && i < n / 8) {
        t = G_Q5_K;
    }
    return t;
}

static ggml_t attn_output_type(const plan_arch *a, plan_dtype d, ggml_t t)
{
    if (a->experts == 8) {
        if (d == PLAN_DT_Q2_K || d == PLAN_DT_IQ3_XXS || d == PLAN_DT_Q3_K_S ||
            d == PLAN_DT_Q3_K_M || d == PLAN_DT_IQ4_NL || d == PLAN_DT_Q4_K_S ||
            d == PLAN_DT_Q4_K_M || d == PLAN_DT_IQ3_S || d == PLAN_DT_IQ3_M ||
            d == PLAN_DT_IQ4_XS || is_iq12(d))
            return G_Q5_K;
        return t;
    }
    if (d == PLAN_DT_IQ1_S || d == PLAN_DT_IQ1_M) return G_IQ2_XXS;
    if (d == PLAN_DT_IQ2_S || d == PLAN_DT_IQ2_M) return G_IQ3_S;
    if (d == PLAN_DT_Q2_K) return G_Q3_K;
    if (d == PLAN_DT_IQ3_M || d == PLAN_DT_Q3_K_M) return G_Q4_K;
    if (d == PLAN_DT_Q3_K_L) return G_Q5_K;
    return t;
}

/* ffn_down tensors before layer `layer` and in all: one per dense layer, the routed experts' and
 * the shared experts' per MoE layer. */
static void down_index(const plan_arch *a, uint32_t layer, uint64_t *i, uint64_t *n)
{
    uint64_t dense = a->experts
                         ? (a->first_dense_layers < a->layers ? a->first_dense_layers : a->layers)
                         : a->layers;
    uint64_t per_moe = a->shared_experts ? 2 : 1;
    *n = dense + (a->layers - dense) * per_moe;
    *i = layer < dense ? layer : dense + (layer - dense) * per_moe;
}

static ggml_t tensor_type(const plan_arch *a, plan_dtype d, const fp_tensor *t, uint32_t layer)
{
    ggml_t base = base_type(d);
    uint64_t i, n;
    switch (t->kind) {
    case FP_T_VEC:
    case FP_T_ROUTER:
        return G_F32;
    case FP_T_OUTPUT:
        return output_type(a, d, base);
    case FP_T_EMBED:
        if (d == PLAN_DT_IQ2_XXS || d == PLAN_DT_IQ2_XS || d == PLAN_DT_IQ1_S || d == PLAN_DT_IQ1_M)
            return G_Q2_K;
        if (d == PLAN_DT_IQ2_S || d == PLAN_DT_IQ2_M || d == PLAN_DT_IQ3_S || d == PLAN_DT_IQ3_M)
            return G_IQ3_S;
        return base;
    case FP_T_V:
        return attn_v_type(a, d, base, layer, a->layers);
    case FP_T_K:
        if (a->experts == 8) return is_iq12(d) ? G_Q4_K : G_Q8_0;
        return d == PLAN_DT_IQ3_XS ? G_IQ3_XXS : base;
    case FP_T_Q:
        return d == PLAN_DT_IQ3_XS ? G_IQ3_XXS : base;
    case FP_T_GATE:
    case FP_T_UP:
    case FP_T_EXP_GATE:
    case FP_T_EXP_UP:
        /* iq3_xs: the middle three quarters of the layers at IQ3_XXS */
        if (d == PLAN_DT_IQ3_XS && layer >= a->layers / 8 && layer < 7 * (uint64_t)a->layers / 8)
            return G_IQ3_XXS;
        return base;
    case FP_T_QKV:
        if (d == PLAN_DT_Q3_K_M || d == PLAN_DT_Q3_K_L) return G_Q4_K;
        if (d == PLAN_DT_Q4_K_M) return G_Q5_K;
        if (d == PLAN_DT_Q5_K_M) return G_Q6_K;
        return base;
    case FP_T_O:
        return attn_output_type(a, d, base);
    case FP_T_DOWN:
    case FP_T_EXP_DOWN:
    case FP_T_SH_DOWN:
        down_index(a, layer, &i, &n);
        if (t->kind == FP_T_SH_DOWN) i++;
        return ffn_down_type(a, d, base, i, n);
    default:
        return base;
    }
}

/* A row that blocks of 256 do not divide takes a 32-block type instead. */
static ggml_t fallback(ggml_t t, uint64_t cols)
{
    if (ggml[t].block != 256 || cols % 256 == 0) return t;
    switch (t) {
    case G_Q4_K:
        return G_Q5_0;
    case G_Q5_K:
        return G_Q5_1;
    case G_Q6_K:
        return G_Q8_0;
    default:
        return G_IQ4_NL;
    }
}

uint64_t fp_gguf_tensor_bytes(const plan_arch *a, plan_dtype d, const fp_tensor *t, uint32_t layer,
                              bool *ovf)
{
    ggml_t g = fallback(tensor_type(a, d, t, layer), t->cols);
    if (t->cols % ggml[g].block) g = G_F16; /* not even 32-divisible: llama.cpp keeps F16 */
    uint64_t blocks = t->cols / ggml[g].block, r;
    if (__builtin_mul_overflow(blocks, (uint64_t)ggml[g].bytes, &r) ||
        __builtin_mul_overflow(r, t->rows, &r) || __builtin_mul_overflow(r, t->count, &r)) {
        *ovf = true;
        return 0;
    }
    return r;
}
