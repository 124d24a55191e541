/* footprint.h - exact per-GPU memory footprints of LLM replicas.
 *
 * All byte counts are uint64_t computed with integer arithmetic only (fractions are applied with
 * vp_muldiv_ceil_u64), so the same inputs give the same bytes on every machine. Formulas are those
 * of DESIGN.md "Memory math": weights by dtype, KV cache with GQA/MQA/sliding windows/MLA,
 * framework overhead as a fraction of weights + KV, a per-GPU CUDA context reserve, a tensor-
 * parallel split over K GPUs of one node and a pipeline split over P nodes. Pure: no I/O except
 * plan_arch_from_hf_file, which reads the one file it is handed. */
#ifndef PLAN_FOOTPRINT_H
#define PLAN_FOOTPRINT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "vp.h"

typedef enum plan_dtype {
    PLAN_DT_FP32,
    PLAN_DT_FP16,
    PLAN_DT_BF16,
    PLAN_DT_FP8,
    PLAN_DT_INT8,
    PLAN_DT_INT4,
    PLAN_DT_Q8_0,
    PLAN_DT_Q6_K,
    PLAN_DT_Q5_K_M,
    PLAN_DT_Q4_K_M,
    PLAN_DT_Q4_0,
    PLAN_DT_COUNT
} plan_dtype;

/* "fp16", "bf16", "float16", "bfloat16", "float32", "q4_k_m", ... (case-insensitive) -> dtype.
 * Returns 0 or VP_ENOTFOUND. */
int plan_dtype_parse(const char *s, plan_dtype *out);
const char *plan_dtype_name(plan_dtype d);
/* Bits per weight as an exact fraction: weights bytes = ceil(params * num / (den * 8)). */
void plan_dtype_bits(plan_dtype d, uint64_t *num, uint64_t *den);

#define PLAN_FAMILY_MAX 32

/* Architecture of a decoder LLM: what the memory math needs. Zero means "absent". */
typedef struct plan_arch {
    char family[PLAN_FAMILY_MAX]; /* HF model_type: llama, mistral, mixtral, qwen2, gemma, ... */
    uint64_t params;              /* total parameters (all experts); 0 = unknown */
    uint64_t active_params;       /* per token (MoE: only routed experts); 0 = same as params */
    uint32_t layers, hidden, intermediate, heads, kv_heads, head_dim, vocab;
    uint32_t sliding_window;      /* 0 = none */
    uint32_t sliding_layers;      /* layers that use the window (all when 0 and window set) */
    bool tied_embeddings;
    /* MoE */
    uint32_t experts, experts_per_tok, shared_experts, moe_intermediate, first_dense_layers;
    /* MLA (DeepSeek V2/V3) */
    uint32_t kv_lora_rank, q_lora_rank, qk_rope_head_dim, qk_nope_head_dim, v_head_dim;
    plan_dtype torch_dtype;       /* the checkpoint's dtype, bf16 when absent */
    uint32_t max_position;        /* max_position_embeddings, 0 = unknown */
    /* Layout details plan_arch_count_params needs beyond the fields above. All zero is the llama
     * layout (2 RMSNorms per layer, gated 3-matrix MLP, no biases), so an arch filled by hand from
     * a manifest counts like llama. */
    uint32_t norms_per_layer;     /* hidden-size norms per decoder layer; 0 = 2 (gemma2: 4) */
    bool norm_bias;               /* LayerNorm with a bias vector (falcon), not RMSNorm */
    bool mlp_ungated;             /* MLP of 2 matrices, up + down (falcon), not gate/up/down */
    bool qkv_bias, o_bias, mlp_bias; /* linear biases (qwen2: qkv only; falcon bias=true: all) */
    bool qk_norm;                 /* per-head RMSNorm on q and k (qwen3): 2 x head_dim / layer */
    bool router_bias;             /* MoE router score-correction bias per layer (deepseek_v3) */
    uint32_t mtp_layers;          /* num_nextn_predict_layers: recorded, NOT counted in params */
} plan_arch;

/* Fills arch from a parsed HF config.json object. `what` names the source in errors
 * ("models/llama.json"). Computes params/active_params from the fields when the config has
 * architecture enough; families' defaults apply when a field is absent. */
int plan_arch_from_hf(const cJSON *cfg, const char *what, plan_arch *arch, vp_err *e);
/* Same, reading the file at path (max 4 MiB). */
int plan_arch_from_hf_file(const char *path, plan_arch *arch, vp_err *e);

/* Parameter count from the architecture fields (embeddings, attention incl. MLA, MLP or
 * experts + router, norms, final norm, lm_head unless tied). Sets params and active_params. */
int plan_arch_count_params(plan_arch *arch, vp_err *e);

typedef struct plan_fp_opts {
    plan_dtype dtype;          /* weights */
    plan_dtype kv_dtype;       /* KV cache elements; fp16 by default */
    uint64_t seq_len;          /* tokens per sequence */
    uint64_t batch;            /* concurrent sequences */
    uint32_t overhead_ppm;     /* framework overhead, parts per million of weights + KV; 100000 */
    uint64_t cuda_context_bytes; /* per GPU; 512 MiB by default; may be 0 */
    uint32_t tp;               /* tensor-parallel degree >= 1 */
    uint32_t pp;               /* pipeline stages >= 1 */
} plan_fp_opts;

/* Defaults: fp16/fp16, seq 4096, batch 1, 10% overhead, 512 MiB context, tp = pp = 1. */
void plan_fp_opts_default(plan_fp_opts *o);

#define PLAN_MAX_PP 16

typedef struct plan_footprint {
    uint64_t params;
    uint64_t weights_bytes;    /* whole model */
    uint64_t kv_cache_bytes;   /* whole model, all sequences */
    uint64_t overhead_bytes;   /* whole model */
    uint64_t reserve_bytes;    /* CUDA context, summed over all tp*pp GPUs */
    uint64_t total_bytes;      /* weights + kv + overhead + reserve */
    uint32_t tp, pp;
    uint64_t per_gpu_bytes;    /* the largest per-GPU need over all stages */
    uint64_t stage_gpu_bytes[PLAN_MAX_PP]; /* per GPU of each stage (tp GPUs per stage) */
    uint64_t decode_bytes_per_token; /* bytes read per decode step per sequence-batch: active
                                        weights + KV read at full context (for latency) */
} plan_footprint;

/* Footprint of one replica of a model with architecture `arch` under `o`. VP_EINPUT when a needed
 * field is missing/zero (message names the field), VP_EOVERFLOW on absurd sizes. */
int plan_footprint_compute(const plan_arch *arch, const plan_fp_opts *o, plan_footprint *out,
                           vp_err *e);

/* Footprint of a model that gives its measured bytes per replica on one GPU: nothing is added,
 * tp = pp = 1, total = per_gpu = memory_bytes. */
void plan_footprint_fixed(uint64_t memory_bytes, plan_footprint *out);

/* The terms plan_arch_count_params sums, for pipeline stages: parameters of decoder layer `layer`
 * (0-based; total with all experts, active with the routed experts of one token), VP_EINPUT when
 * a field it needs is zero, VP_EOVERFLOW on absurd sizes. */
int plan_arch_layer_params(const plan_arch *arch, uint32_t layer, uint64_t *total,
                           uint64_t *active, vp_err *e);
/* Embedding matrix (vocab x hidden), final norm, and lm_head (0 when tied). Cannot overflow. */
void plan_arch_edge_params(const plan_arch *arch, uint64_t *embed, uint64_t *final_norm,
                           uint64_t *lm_head);

#endif
