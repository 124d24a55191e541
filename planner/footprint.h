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

#include "engine.h"
#include "vp.h"

typedef enum plan_dtype {
    PLAN_DT_FP32,
    PLAN_DT_FP16,
    PLAN_DT_BF16,
    PLAN_DT_FP8,
    PLAN_DT_INT8,
    PLAN_DT_INT4,
    /* GGUF file types (llama.cpp "ftype"): mixes of block types, tensor by tensor (gguf.c). */
    PLAN_DT_Q8_0,
    PLAN_DT_Q6_K,
    PLAN_DT_Q5_K_M,
    PLAN_DT_Q4_K_M,
    PLAN_DT_Q4_0,
    PLAN_DT_Q5_K_S,
    PLAN_DT_Q4_K_S,
    PLAN_DT_Q3_K_L,
    PLAN_DT_Q3_K_M,
    PLAN_DT_Q3_K_S,
    PLAN_DT_Q2_K,
    PLAN_DT_Q5_0,
    PLAN_DT_Q5_1,
    PLAN_DT_Q4_1,
    PLAN_DT_IQ4_XS,
    PLAN_DT_IQ4_NL,
    PLAN_DT_IQ3_M,
    PLAN_DT_IQ3_S,
    PLAN_DT_IQ3_XS,
    PLAN_DT_IQ3_XXS,
    PLAN_DT_IQ2_M,
    PLAN_DT_IQ2_S,
    PLAN_DT_IQ2_XS,
    PLAN_DT_IQ2_XXS,
    PLAN_DT_IQ1_M,
    PLAN_DT_IQ1_S,
    PLAN_DT_COUNT
} plan_dtype;

/* "fp16", "bf16", "float16", "bfloat16", "float32", "q4_k_m", ... (case-insensitive) -> dtype.
 * Returns 0 or VP_ENOTFOUND. */
int plan_dtype_parse(const char *s, plan_dtype *out);
const char *plan_dtype_name(plan_dtype d);
/* Every weight dtype name, space-separated, for messages and --help. Never NULL. */
const char *plan_dtype_names(void);
/* Bits per weight as an exact fraction: weights bytes = ceil(params * num / (den * 8)). For GGUF
 * types this is the average llama.cpp's mix reaches on Llama-3.1-8B (gguf.c), used only when an
 * architecture has no per-tensor breakdown; with one, the footprint sums the mix tensor by tensor. */
void plan_dtype_bits(plan_dtype d, uint64_t *num, uint64_t *den);
/* true for the GGUF file types (q8_0 ... iq1_s). */
bool plan_dtype_is_gguf(plan_dtype d);

/* A quantized checkpoint format (the `quantization` field): its linear layers are stored at the
 * format's width with its scales, while embeddings, lm_head and norms keep the checkpoint's 16-bit
 * dtype (quant.c). GGUF types are dtypes, not quantizations. */
typedef enum plan_quant {
    PLAN_QUANT_NONE,
    PLAN_QUANT_INT8, /* W8A8 / W8A16 per output channel (compressed-tensors, SmoothQuant) */
    PLAN_QUANT_FP8,  /* FP8 E4M3 weights, per output channel scales */
    PLAN_QUANT_AWQ,  /* 4-bit, group 128, fp16 scales and 4-bit zeros */
    PLAN_QUANT_GPTQ, /* 4-bit, group 128, fp16 scales and 4-bit zeros (marlin layout) */
    PLAN_QUANT_BNB4, /* bitsandbytes NF4, blocks of 64, double-quantized absmax */
    PLAN_QUANT_COUNT
} plan_quant;

/* "int8", "fp8", "awq", "gptq", "bnb-4bit" (also "bitsandbytes", "nf4", "awq_marlin",
 * "gptq_marlin", "compressed-tensors" is not accepted: name the scheme). 0 or VP_ENOTFOUND. */
int plan_quant_parse(const char *s, plan_quant *out);
const char *plan_quant_name(plan_quant q);
/* "int8, fp8, awq, gptq, bnb-4bit" */
const char *plan_quant_names(void);

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
    plan_dtype torch_dtype;       /* the dtype engines load the checkpoint in: its torch_dtype, bf16
                                     when absent or float32 (see fp32_checkpoint) */
    bool fp32_checkpoint;         /* torch_dtype said float32; engines load such configs at bf16 */
    plan_quant quant;             /* quantization_config of the checkpoint; NONE when absent */
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
    /* A vision encoder (LLaVA's vision_config and projector): its parameters are NOT in params,
     * which counts the language model; each image becomes image_tokens tokens of the sequence. */
    uint64_t vision_params;       /* tower + projector; 0 = no vision encoder */
    uint32_t image_tokens;        /* tokens per image the language model sees */
    uint32_t vision_hidden, vision_intermediate, vision_layers, vision_patches;
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

/* ---- workloads beyond one served model (workload.c) ---- */

/* Which linear layers a LoRA adapter adapts. */
typedef enum plan_lora_targets {
    PLAN_LORA_ALL_LINEAR, /* q, k, v, o, gate, up, down (PEFT "all-linear") */
    PLAN_LORA_ATTENTION,  /* q, k, v, o */
    PLAN_LORA_QV,         /* q and v (the LoRA paper's choice) */
} plan_lora_targets;

/* "all-linear", "attention", "qv" -> targets; 0 or VP_ENOTFOUND. */
int plan_lora_targets_parse(const char *s, plan_lora_targets *out);
const char *plan_lora_targets_name(plan_lora_targets t);

/* LoRA adapters served on one base (vLLM --enable-lora --max-loras --max-lora-rank): the base is
 * held once, each resident adapter adds rank x (d_in + d_out) per adapted matrix per layer. */
typedef struct plan_lora {
    uint32_t adapters;     /* adapters of this base; 0 = no LoRA */
    uint32_t max_resident; /* held on the GPU at once (vLLM --max-loras); 0 = min(adapters, 8) */
    uint32_t rank;         /* --max-lora-rank */
    plan_lora_targets targets;
} plan_lora;

typedef enum plan_train_method {
    PLAN_TRAIN_NONE,
    PLAN_TRAIN_FULL,  /* every parameter trained, mixed precision */
    PLAN_TRAIN_LORA,  /* frozen 16-bit base + trainable adapters */
    PLAN_TRAIN_QLORA, /* frozen NF4 base + trainable adapters */
} plan_train_method;

typedef enum plan_optimizer {
    PLAN_OPT_ADAMW,      /* two fp32 moments: 8 bytes per trainable parameter */
    PLAN_OPT_ADAMW_8BIT, /* bitsandbytes 8-bit moments: 2 bytes */
    PLAN_OPT_SGD,        /* no state */
} plan_optimizer;

int plan_train_method_parse(const char *s, plan_train_method *out);
const char *plan_train_method_name(plan_train_method m);
int plan_optimizer_parse(const char *s, plan_optimizer *out);
const char *plan_optimizer_name(plan_optimizer o);

/* A fine-tuning job: what one data-parallel GPU of it holds. */
typedef struct plan_train {
    plan_train_method method;    /* NONE: serving */
    plan_optimizer optimizer;
    uint32_t rank;               /* lora / qlora adapter rank */
    plan_lora_targets targets;
    uint32_t micro_batch;        /* sequences per step per GPU; 0 = 1 */
    uint64_t seq_len;            /* tokens per training sequence; 0 = opts.seq_len */
    bool no_checkpointing;       /* activation checkpointing is on unless this is set */
    uint32_t data_parallel;      /* GPUs of the gang (each holds a full replica); 0 = 1 */
} plan_train;

typedef struct plan_fp_opts {
    plan_dtype dtype;          /* weights */
    plan_dtype kv_dtype;       /* KV cache elements; fp16 by default */
    uint64_t seq_len;          /* tokens per sequence */
    uint64_t batch;            /* concurrent sequences */
    uint32_t overhead_ppm;     /* framework overhead, parts per million of weights + KV; 100000 */
    uint64_t cuda_context_bytes; /* per GPU; 512 MiB by default; may be 0 */
    uint32_t tp;               /* tensor-parallel degree >= 1 */
    uint32_t pp;               /* pipeline stages >= 1 */
    plan_quant quant;          /* checkpoint quantization; NONE: every weight at dtype */
    /* The serving engine whose memory profile sizes the replica (engine_mem.c). ENG_BUILTIN and
     * ENG_COMMAND use the generic model: overhead_ppm of weights + KV and cuda_context_bytes per
     * GPU. A profile replaces both with the engine's own terms. Zero means "the engine's
     * default" for every field below. */
    eng_kind engine;
    uint32_t engine_version;   /* major x 10000 + minor x 100 + patch (vLLM 0.6.4 = 604); llama.cpp:
                                  its build number; 0 = the newest profile */
    uint32_t max_batched_tokens; /* vLLM --max-num-batched-tokens, SGLang --chunked-prefill-size */
    uint32_t max_seqs;         /* vLLM --max-num-seqs (requests sampled in the profile run) */
    uint32_t ubatch;           /* llama.cpp --ubatch-size */
    uint32_t block_tokens;     /* vLLM --block-size */
    bool enforce_eager;        /* vLLM --enforce-eager, SGLang --disable-cuda-graph */
    bool flash_attn;           /* llama.cpp --flash-attn */
    bool chunked_prefill_off;  /* vLLM V0 --enable-chunked-prefill false given explicitly */
    uint64_t gpu_bytes;        /* the GPU's total memory when known: some defaults depend on it;
                                  0 = unknown (the planner): the larger default is taken */
    /* Workloads (workload.c): adapters on the base, a training job instead of serving, images
     * per request, a speculative draft model in the same slice. All zero: plain serving. */
    plan_lora lora;
    plan_train train;
    uint32_t images;            /* images per request (needs arch vision fields) */
    const plan_arch *draft;     /* draft model (borrowed: outlives the options); NULL = none */
    plan_dtype draft_dtype;     /* its weights' dtype */
    uint32_t spec_tokens;       /* tokens the draft proposes per step (vLLM num_speculative_tokens) */
} plan_fp_opts;

/* Defaults: fp16/fp16, seq 4096, batch 1, 10% overhead, 512 MiB context, tp = pp = 1, no
 * quantization, the generic engine model. */
void plan_fp_opts_default(plan_fp_opts *o);

#define PLAN_MAX_PP 16
#define PLAN_FP_MAX_TERMS 16

/* One named memory term of an engine profile, per GPU. The name and source are static strings. */
typedef struct plan_fp_term {
    const char *name;     /* "activation_peak", "non_torch", "cuda_graphs", "compute_buffer", ... */
    uint64_t bytes;       /* per GPU */
    bool in_budget;       /* inside the engine's memory budget (gpu_memory_utilization /
                             mem_fraction_static); false: taken from what the budget leaves */
    const char *source;   /* where the formula comes from */
} plan_fp_term;

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
    /* Engine profile results (all zero / empty for the generic model). Per GPU of the stage with
     * the largest need. */
    const char *profile;       /* "vllm 0.8+ (V1)", ...; NULL for the generic model */
    plan_fp_term terms[PLAN_FP_MAX_TERMS];
    size_t n_terms;
    uint64_t gpu_weights_bytes;  /* weights on one GPU of that stage (rope cache included) */
    uint64_t gpu_kv_bytes;       /* KV on one GPU of that stage for seq_len x batch */
    uint64_t kv_token_bytes;     /* KV bytes one token takes on one GPU of that stage */
    uint32_t kv_block_tokens;    /* allocation unit of the KV cache in tokens (vLLM 16) */
    uint64_t kv_tokens;          /* tokens the cache was sized for (seq_len x batch, rounded) */
    uint64_t host_bytes;         /* weights the engine keeps in host memory (llama.cpp embeddings) */
    uint32_t default_util_ppm;   /* the engine's default memory fraction */
    /* Workloads */
    uint64_t trainable_params;   /* training: parameters with gradients and optimizer state */
    uint64_t seq_tokens;         /* tokens one sequence's KV holds: seq_len + images x image
                                    tokens + speculative lookahead */
} plan_footprint;

/* What an engine does with a GPU of gpu_bytes at memory fraction util_ppm (0 = the engine's
 * default): the KV cache it allocates and whether the replica fits. */
typedef struct plan_fit {
    bool fits;                   /* the engine starts and holds batch sequences of seq_len */
    uint32_t util_ppm;           /* the fraction used */
    uint64_t budget_bytes;       /* what the fraction gives the engine on one GPU */
    int64_t kv_avail_bytes;      /* budget minus weights and in-budget terms; may be negative */
    uint64_t kv_capacity_tokens; /* tokens the KV cache holds ("GPU KV cache size: N tokens") */
    double max_concurrency;      /* kv_capacity_tokens / seq_len */
    uint64_t outside_bytes;      /* terms outside the budget (CUDA graphs) */
    char reason[160];            /* why it does not fit; "" when it does */
} plan_fit;

/* Sizes what the footprint's engine allocates on a GPU of gpu_bytes (per GPU of the largest
 * stage); f must come from o, whose gpu_bytes should name the same GPU (the defaults that depend
 * on it were taken when f was computed; 0 took the larger ones). Without an engine profile, the
 * generic model: fits when per_gpu_bytes is within gpu_bytes x util (0.90 by default), as the
 * planner places it. VP_EINPUT when gpu_bytes is 0 or util_ppm above 10^6. Pure. */
int plan_fp_fit(const plan_footprint *f, const plan_fp_opts *o, uint64_t gpu_bytes,
                uint32_t util_ppm, plan_fit *out, vp_err *e);

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
