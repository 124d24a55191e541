/* engine_mem.c - memory profiles of vLLM, SGLang and llama.cpp: the terms each engine allocates
 * besides weights and KV cache, how it sizes its KV cache, and its flags that change them.
 *
 * One row of `profiles` per engine and version range; the formulas below read the row. Every
 * formula is per GPU of a tensor-parallel group and cites where it comes from: the engine's code
 * (named by file and function) for its shape, and public logs for the constants the code does not
 * fix (memory outside PyTorch, CUDA graph pools). The rows and figures are also the regression
 * table's (tests/planner/test_engine_regression.c), which holds the formulas to within 1% on
 * weights and 10% on KV capacity of what the engines printed.
 *
 * vLLM (vllm/worker/worker.py determine_num_available_blocks, V0; vllm/v1/worker/gpu_worker.py
 * determine_available_memory, V1): the engine may use total x gpu_memory_utilization; it loads
 * the weights, runs one forward pass of max_num_batched_tokens tokens over max_num_seqs dummy
 * requests and samples them (the profile run), and gives the KV cache what is left after weights,
 * the peak of that run ("PyTorch activation peak memory") and memory allocated outside PyTorch
 * ("non_torch_memory": CUDA context, cuBLAS, NCCL). The cache is num_blocks of block_size (16)
 * tokens in every layer; it refuses to start when one max_model_len request does not fit. CUDA
 * graphs are captured afterwards, from what the fraction leaves.
 *
 * SGLang (python/sglang/srt/model_executor/model_runner.py profile_max_num_token): the KV pool is
 * (memory free after weights) - (memory free at start) x (1 - mem_fraction_static), in tokens of
 * cell_size = 2 x kv_heads/tp x head_dim x layers x bytes. Activations and CUDA graphs live in
 * the (1 - fraction) left over.
 *
 * llama.cpp (src/llama-context.cpp, src/llama-kv-cache.cpp, src/llama-model.cpp): it allocates
 * exactly what it is told - the offloaded weights (the token embedding stays in host memory:
 * "CPU buffer size"), a KV cache of n_ctx cells (padded to 256), and a compute buffer that
 * ggml-alloc sizes from the largest step of the graph at n_ubatch tokens - and fails with
 * cudaMalloc out of memory when they exceed the device. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_mem.h"
#include "fp_int.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)
#define BIG_GPU (70ULL * GIB) /* vLLM's threshold for its larger defaults (arg_utils.py) */
#define VMAX 0xffffffffu

/* Memory outside PyTorch per GPU (MiB), at TP 1, 2, 4, 8 (and more). */
typedef struct nt_table {
    uint32_t mib[4];
} nt_table;

/* vLLM V0 on GPUs under 70 GiB: 0.35 GiB at TP 1 (RTX 3090, Llama-3.1-8B, v0.6.4; vllm#10517),
 * 0.25 GiB per worker at TP 2 (RTX 4090, R1-Distill-Qwen-14B, v0.7; vllm#13061): the larger. */
static const nt_table NT_V0_SMALL = {{358, 358, 358, 358}};
/* vLLM V0 on H100: 1.79 GiB at TP 1 and 3.58 GiB at TP 2 (Meta-Llama-3-8B, v0.6.5; vllm#10511),
 * 5.24 GiB at TP 4 (Qwen2.5-32B, H100-class 79.11 GiB; Open-Reasoner-Zero#23), kept for TP 8. */
static const nt_table NT_V0_BIG = {{1833, 3666, 5366, 5366}};
/* vLLM V1 at TP 1: 0.34 GiB left over on an A100-40GB (Llama-3.1-8B, v0.15.1, eager:
 * 35.45 - 14.99 weights - 0.84 activation - 19.28 KV; ilseokoh/vllm-gce README). Larger TP and
 * GPUs keep V0's figures, the only ones published with the breakdown. */
static const nt_table NT_V1_SMALL = {{358, 358, 358, 358}};
static const nt_table NT_V1_BIG = {{358, 3666, 5366, 5366}};

typedef struct profile {
    eng_kind engine;
    uint32_t lo, hi; /* versions, inclusive */
    const char *label;
    fp_fit_model fit;
    uint32_t util_ppm;  /* default memory fraction; 0: SGLang's by-TP table */
    uint32_t seq_block; /* KV tokens per block, per sequence */
    uint32_t ctx_pad;   /* the whole context's padding */
    fp_swa swa;
    uint32_t rope_bytes; /* rotary cache element bytes */
    /* vLLM */
    bool v1;
    uint32_t sampler_copies;           /* [max_num_seqs x vocab] fp32 arrays live at the peak */
    uint32_t chunk_over, chunk_tokens; /* V0: chunked prefill above this max_model_len, tokens */
    uint32_t tokens_small, tokens_big; /* V1 default max_num_batched_tokens */
    uint32_t seqs_small, seqs_big;     /* default max_num_seqs */
    const nt_table *nt_small, *nt_big;
    uint32_t graph_sizes, graph_max_bs, graph_piece_kib;
} profile;

static const profile profiles[] = {
    /* V0, before the memory-profiling rework (vllm#10511): no sampler peak shows in the profile
     * (vllm#10517: 0.06 GiB over the weights at 35k tokens with chunked prefill of 512). */
    {ENG_VLLM,
     0,
     604,
     "vllm 0.5.0-0.6.4 (V0)",
     FP_FIT_VLLM,
     900000,
     16,
     1,
     FP_SWA_ALL_LAYERS,
     2,
     false,
     0,
     32768,
     512,
     0,
     0,
     256,
     256,
     &NT_V0_SMALL,
     &NT_V0_BIG,
     35,
     256,
     64},
    /* V0 from 0.6.5: the profile run samples max_num_seqs requests with top-p/top-k
     * (vllm/model_executor/layers/sampler.py _apply_top_k_top_p): fp32 logits, their sort
     * (values + int64 indices), softmax, cumsum, the inverse index and the gathered logits: ~10
     * [seqs x vocab] fp32 arrays. Logs: 1.26 GiB for 256 x 128,256 (vllm#10511, 10.3 arrays),
     * 1.42 GiB for 256 x 152,064 (vllm#13882, 9.8). Chunked prefill's default is 2048 tokens. */
    {ENG_VLLM,
     605,
     799,
     "vllm 0.6.5-0.7.x (V0)",
     FP_FIT_VLLM,
     900000,
     16,
     1,
     FP_SWA_ALL_LAYERS,
     2,
     false,
     10,
     32768,
     2048,
     0,
     0,
     256,
     256,
     &NT_V0_SMALL,
     &NT_V0_BIG,
     35,
     256,
     64},
    /* V1 (vllm/v1/worker/gpu_model_runner.py profile_run + _dummy_sampler_run): chunked prefill
     * always; `vllm serve` defaults of 2048 tokens / 256 requests, 8192 on GPUs of 70 GiB and
     * more (vllm/engine/arg_utils.py _set_default_args_v1). The V1 sampler keeps the fp32 logits,
     * probabilities and the exponential draw: 3 arrays. Piecewise CUDA graphs: 67 sizes up to 512,
     * one piece per layer and one more; 360 KiB a piece reproduces the 0.84 GiB vLLM estimates
     * for Llama-3.1-8B (v0.19 log). */
    {ENG_VLLM,    800,    999,          "vllm 0.8-0.9 (V1)",
     FP_FIT_VLLM, 900000, 16,           1,
     FP_SWA_FULL, 2,      true,         3,
     0,           0,      2048,         8192,
     256,         256,    &NT_V1_SMALL, &NT_V1_BIG,
     67,          512,    360},
    /* V1 from 0.10: the hybrid KV cache manager gives sliding-window layers only their window;
     * 1024 requests by default on GPUs of 70 GiB and more. */
    {ENG_VLLM,    1000,   VMAX,         "vllm 0.10+ (V1)",
     FP_FIT_VLLM, 900000, 16,           1,
     FP_SWA_TRIM, 2,      true,         3,
     0,           0,      2048,         8192,
     256,         1024,   &NT_V1_SMALL, &NT_V1_BIG,
     67,          512,    360},
    /* SGLang: mem_fraction_static 0.88 / 0.87 / 0.85 / 0.81 / 0.79 at TP 1 / 2 / 4 / 8 / 16
     * (python/sglang/srt/server_args.py); rotary cache in fp32 (Llama-3.1-8B loads as 15.02 GB =
     * 14.96 weights + 0.0625 for 131,072 x 128 x 4 bytes; its "Load weight end" log). */
    {ENG_SGLANG, 0, VMAX, "sglang 0.3+", FP_FIT_SGLANG, 0, 1, 1, FP_SWA_FULL, 4, false, 0, 0, 0, 0,
     0,          0, 0,    NULL,          NULL,          0, 0, 0},
    /* llama.cpp before the SWA cache (b5435, ggml-org/llama.cpp#13194): every layer n_ctx cells. */
    {ENG_LLAMACPP,
     0,
     5434,
     "llama.cpp b1-b5434",
     FP_FIT_LLAMACPP,
     1000000,
     1,
     256,
     FP_SWA_FULL,
     0,
     false,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     NULL,
     NULL,
     0,
     0,
     0},
    /* From b5435 sliding-window layers keep n_swa + n_ubatch cells, padded to 256 (Phi-3 runs with
     * the window off: llama.cpp disables SWA for it). */
    {ENG_LLAMACPP,
     5435,
     VMAX,
     "llama.cpp b5435+",
     FP_FIT_LLAMACPP,
     1000000,
     1,
     256,
     FP_SWA_TRIM,
     0,
     false,
     0,
     0,
     0,
     0,
     0,
     0,
     0,
     NULL,
     NULL,
     0,
     0,
     0},
};

static const profile *find(eng_kind k, uint32_t version)
{
    const profile *last = NULL;
    for (size_t i = 0; i < VP_ARRAY_LEN(profiles); i++) {
        const profile *p = &profiles[i];
        if (p->engine != k) continue;
        last = p; /* rows are in version order: the last is the newest */
        if (version && version >= p->lo && version <= p->hi) return p;
    }
    return last;
}

bool plan_engine_has_profile(eng_kind k)
{
    return k == ENG_VLLM || k == ENG_SGLANG || k == ENG_LLAMACPP;
}

const char *plan_engine_profile_names(void)
{
    return "vllm, sglang, llama.cpp";
}

const char *plan_engine_profile_label(eng_kind k, uint32_t version)
{
    const profile *p = find(k, version);
    return p ? p->label : NULL;
}

const char *plan_engine_profiles_text(void)
{
    return "  vllm 0.5.0-0.6.4 (V0)  activation = max_num_batched_tokens x MLP; non-torch by "
           "GPU/TP\n"
           "  vllm 0.6.5-0.7.x (V0)  + the sampler's ~10 fp32 [seqs x vocab] arrays\n"
           "  vllm 0.8-0.9 (V1)      chunked prefill 2048 (8192 from 70 GiB); 3 sampler arrays\n"
           "  vllm 0.10+ (V1)        sliding-window layers trimmed; 1024 seqs from 70 GiB\n"
           "  sglang 0.3+            KV = (free at start) x mem_fraction_static - weights\n"
           "  llama.cpp b1-b5434     weights without token_embd, n_ctx cells, compute buffer\n"
           "  llama.cpp b5435+       sliding-window layers keep window + n_ubatch cells\n";
}

int plan_engine_version_parse(const char *s, uint32_t *out)
{
    if (!s || !*s) return VP_EINPUT;
    if (*s == 'b' || *s == 'B') s++; /* llama.cpp build tags: b4567 */
    uint32_t part[3] = {0, 0, 0};
    int n = 0;
    const char *p = s;
    while (n < 3) {
        if (*p < '0' || *p > '9') return VP_EINPUT;
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        if (v > 99999) return VP_EINPUT;
        part[n++] = (uint32_t)v;
        p = end;
        if (*p != '.') break;
        p++;
    }
    /* "0.6.4.post1", "0.8.5rc1": what follows the numbers is a suffix. */
    if (*p && *p != '.' && *p != '-' && *p != '+' && (*p < 'a' || *p > 'z')) return VP_EINPUT;
    if (n == 1) {
        *out = part[0]; /* a llama.cpp build number */
        return 0;
    }
    if (part[1] > 99 || part[2] > 99 || part[0] > 400) return VP_EINPUT;
    *out = part[0] * 10000 + part[1] * 100 + part[2];
    return 0;
}

/* ---- terms ---- */

static uint64_t cdiv(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

static uint64_t nt_bytes(const nt_table *t, uint32_t tp)
{
    int i = tp >= 8 ? 3 : tp >= 4 ? 2 : tp >= 2 ? 1 : 0;
    return (uint64_t)t->mib[i] * MIB;
}

/* Activation bytes one token of a prefill holds at the MLP's peak on one GPU: the gate/up output
 * (2 x I / tp), the activation's output (I / tp) and three hidden-size tensors (residual, input,
 * output). Ungated MLPs have no gate; a fused MoE holds its top-k experts' caches
 * (vllm/model_executor/layers/fused_moe: intermediate_cache1..3). Model dtype bytes.
 * Checked against vllm#10517 (v0.6.4): 20,000 and 29,000 tokens of Llama-3.1-8B peak at 2.07 and
 * 2.99 GiB over the weights; 110,592 bytes a token gives 2.06 and 2.99. */
static uint64_t fwd_token_bytes(const plan_arch *a, const plan_fp_opts *o)
{
    /* All factors are 32-bit fields: hidden <= 1e6, intermediate <= 1e8, experts <= 1e5, so the
     * result stays below 2^60. */
    uint64_t tp = o->tp ? o->tp : 1, h = a->hidden, bytes = o->dtype == PLAN_DT_FP32 ? 4 : 2;
    uint64_t mats = a->mlp_ungated ? 2 : 3, inner;
    if (a->experts) {
        uint64_t mi = a->moe_intermediate ? a->moe_intermediate : a->intermediate;
        uint64_t k = (uint64_t)a->experts_per_tok + a->shared_experts;
        inner = k * (mats * cdiv(mi, tp) + h);
    } else {
        inner = mats * cdiv(a->intermediate, tp);
    }
    return (inner + 3 * h) * bytes;
}

static void term(plan_fp_term *t, size_t *n, const char *name, uint64_t bytes, bool in_budget,
                 const char *source)
{
    if (*n >= PLAN_FP_MAX_TERMS) return;
    t[(*n)++] = (plan_fp_term){name, bytes, in_budget, source};
}

/* The tokens of vLLM's profile run. */
static uint64_t vllm_tokens(const profile *p, const plan_fp_opts *o)
{
    if (o->max_batched_tokens) return o->max_batched_tokens;
    bool small = o->gpu_bytes && o->gpu_bytes < BIG_GPU;
    if (p->v1) return small ? p->tokens_small : p->tokens_big;
    if (o->seq_len > p->chunk_over && !o->chunked_prefill_off) return p->chunk_tokens;
    return o->seq_len > 2048 ? o->seq_len : 2048; /* max(max_model_len, 2048) */
}

static uint64_t vllm_seqs(const profile *p, const plan_fp_opts *o)
{
    if (o->max_seqs) return o->max_seqs;
    bool small = o->gpu_bytes && o->gpu_bytes < BIG_GPU;
    return small ? p->seqs_small : p->seqs_big;
}

static void vllm_terms(const profile *p, const plan_arch *a, const plan_fp_opts *o, plan_fp_term *t,
                       size_t *n, bool *ovf)
{
    uint64_t tokens = vllm_tokens(p, o), seqs = vllm_seqs(p, o);
    uint64_t fwd = fp_mul(ovf, tokens, fwd_token_bytes(a, o));
    uint64_t sampler = fp_mul(ovf, fp_mul(ovf, seqs, a->vocab), 4 * (uint64_t)p->sampler_copies);
    term(t, n, "activation_peak", fwd > sampler ? fwd : sampler, true,
         p->v1 ? "vllm/v1/worker/gpu_model_runner.py profile_run: max(max_num_batched_tokens x "
                 "MLP activations, sampler arrays)"
               : "vllm/worker/model_runner.py profile_run: max(max_num_batched_tokens x MLP "
                 "activations, sampler arrays)");
    bool big = !o->gpu_bytes || o->gpu_bytes >= BIG_GPU;
    term(t, n, "non_torch", nt_bytes(big ? p->nt_big : p->nt_small, o->tp), true,
         "vLLM memory profiling logs (vllm#10517, #10511, #13061; Open-Reasoner-Zero#23)");
    if (!o->enforce_eager) {
        uint64_t graphs = p->graph_max_bs * fwd_token_bytes(a, o) +
                          (uint64_t)p->graph_sizes * (a->layers + 1) * p->graph_piece_kib * 1024;
        /* 512 x 2^60 would not fit: fwd_token_bytes is below 2^51 for any config that passes
         * hfconfig.c's limits, and layers <= 10,000. */
        term(t, n, "cuda_graphs", graphs, false,
             "vllm capture_model: graph pool of the largest capture size + per-graph memory");
    }
}

/* SGLang's default mem_fraction_static for a TP degree. */
static uint32_t sglang_fraction(uint32_t tp)
{
    return tp >= 16 ? 790000 : tp >= 8 ? 810000 : tp >= 4 ? 850000 : tp >= 2 ? 870000 : 880000;
}

/* server_args.py: below 25 GB chunked prefill 2048 and CUDA graphs up to 8 requests (80 from TP
 * 4); otherwise 8192 and 160. Capture sizes 1, 2, 4, then steps of 8. */
static void sglang_terms(const plan_arch *a, const plan_fp_opts *o, plan_fp_term *t, size_t *n,
                         bool *ovf)
{
    bool small = o->gpu_bytes && o->gpu_bytes < 25ULL * 1000 * 1000 * 1000;
    term(t, n, "cuda_context", 512 * MIB, false,
         "SGLang logs: 0.41-0.63 GB used before 'Load weight begin' on H100, 0.42 at TP 4 on A10G");
    uint64_t chunk = o->max_batched_tokens ? o->max_batched_tokens : small ? 2048 : 8192;
    term(t, n, "activation_peak", fp_mul(ovf, chunk, fwd_token_bytes(a, o)), false,
         "chunked_prefill_size x MLP activations, in the (1 - mem_fraction_static) headroom");
    if (!o->enforce_eager) {
        uint32_t max_bs = small ? (o->tp >= 4 ? 80 : 8) : 160;
        uint64_t sizes = 3 + max_bs / 8;
        term(t, n, "cuda_graphs", sizes * a->layers * MIB, false,
             "SGLang 'Capture cuda graph end' logs: ~1 MiB per capture size per layer (0.93 GB "
             "for 13 sizes x 64 layers, 0.11 GB for 4 x 32)");
    }
}

/* llama.cpp's compute buffer: the larger of the output step (fp32 logits for n_ubatch tokens and
 * the hidden state) and the attention step. Without flash attention ggml materialises KQ:
 * n_ctx x n_ubatch x n_head fp32, beside six hidden-size fp32 tensors; with it, an f16 mask of
 * n_ctx x n_ubatch. Logs (Llama-3-8B, n_ubatch 512, no FA): 258.50 MiB at n_ctx 512 (logits
 * 250.5 + hidden 8), 560.00 MiB at n_ctx 8192 (KQ 512 + 6 x 8). */
static void llamacpp_terms(const plan_arch *a, const plan_fp_opts *o, uint64_t n_ctx,
                           plan_fp_term *t, size_t *n, bool *ovf)
{
    uint64_t ub = o->ubatch ? o->ubatch : 512;
    if (ub > n_ctx) ub = n_ctx;
    uint64_t h = a->hidden, hidden = fp_mul(ovf, h * 4, ub);
    uint64_t logits = fp_mul(ovf, (uint64_t)a->vocab * 4, ub) + hidden;
    uint64_t kq = o->flash_attn ? fp_mul(ovf, n_ctx, ub * 2)
                                : fp_mul(ovf, fp_mul(ovf, n_ctx, ub), a->heads * 4ULL);
    uint64_t attn = kq + 6 * hidden;
    term(t, n, "compute_buffer", logits > attn ? logits : attn, true,
         "llama.cpp ggml-alloc graph reserve at n_ubatch; 'CUDA0 compute buffer size' logs");
    term(t, n, "cuda_context", 512 * MIB, true,
         "CUDA context and cuBLAS handles; not printed by llama.cpp (vrampack's default reserve)");
}

int fp_engine_view(const plan_fp_opts *o, fp_profile_view *v)
{
    if (!plan_engine_has_profile(o->engine)) return VP_ENOTFOUND;
    const profile *p = find(o->engine, o->engine_version);
    if (!p) return VP_ENOTFOUND;
    memset(v, 0, sizeof *v);
    v->label = p->label;
    v->fit = p->fit;
    v->default_util_ppm = p->util_ppm ? p->util_ppm : sglang_fraction(o->tp);
    v->seq_block = o->block_tokens ? o->block_tokens : p->seq_block;
    v->ctx_pad = p->ctx_pad;
    v->swa = p->swa;
    if (p->engine == ENG_LLAMACPP) v->swa_extra = o->ubatch ? o->ubatch : 512;
    v->embed_on_host = p->engine == ENG_LLAMACPP;
    v->rope_bytes = p->rope_bytes;
    return 0;
}

int fp_engine_terms(const plan_arch *a, const plan_fp_opts *o,
                    plan_fp_term terms[PLAN_FP_MAX_TERMS], size_t *n, vp_err *e)
{
    *n = 0;
    const profile *p = find(o->engine, o->engine_version);
    if (!p || !plan_engine_has_profile(o->engine))
        return vp_errf(e, VP_EINPUT, "engine: %s has no memory profile", eng_name(o->engine));
    if (!a->hidden || !a->vocab || (!a->intermediate && !a->experts))
        return vp_errf(e, VP_EINPUT,
                       "hidden, intermediate and vocab: needed by the %s memory profile (give an "
                       "hf_config)",
                       eng_name(o->engine));
    bool ovf = false;
    if (p->fit == FP_FIT_VLLM) {
        vllm_terms(p, a, o, terms, n, &ovf);
    } else if (p->fit == FP_FIT_SGLANG) {
        sglang_terms(a, o, terms, n, &ovf);
    } else {
        uint64_t ctx = cdiv(fp_mul(&ovf, o->seq_len, o->batch), p->ctx_pad);
        llamacpp_terms(a, o, fp_mul(&ovf, ctx, p->ctx_pad), terms, n, &ovf);
    }
    if (ovf) return vp_errf(e, VP_EOVERFLOW, "footprint: engine terms exceed 64 bits");
    return 0;
}

/* ---- what an engine does with a GPU ---- */

static uint64_t term_sum(const plan_footprint *f, bool in_budget, const char *skip)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < f->n_terms; i++)
        if (f->terms[i].in_budget == in_budget && !(skip && !strcmp(f->terms[i].name, skip)))
            sum += f->terms[i].bytes;
    return sum;
}

static uint64_t term_named(const plan_footprint *f, const char *name)
{
    for (size_t i = 0; i < f->n_terms; i++)
        if (!strcmp(f->terms[i].name, name)) return f->terms[i].bytes;
    return 0;
}

/* The generic model on a GPU: fits when per_gpu_bytes is within gpu x util (what the planner
 * checks); capacity is the largest KV that keeps ceil((w + kv) x (1 + overhead)) + context within
 * the budget. */
static int generic_fit(const plan_footprint *f, const plan_fp_opts *o, uint64_t gpu_bytes,
                       plan_fit *out)
{
    out->util_ppm = out->util_ppm ? out->util_ppm : 900000;
    vp_muldiv_floor_u64(gpu_bytes, out->util_ppm, 1000000, &out->budget_bytes);
    /* Fixed parts besides weights and KV: the context and any workload terms. */
    uint64_t fixed = o->cuda_context_bytes + term_sum(f, true, NULL) + term_sum(f, false, NULL);
    uint64_t wkv = 0, tok = f->kv_token_bytes ? f->kv_token_bytes : 1;
    if (o->train.method != PLAN_TRAIN_NONE) fixed = f->per_gpu_bytes; /* no KV to size */
    if (out->budget_bytes > fixed)
        vp_muldiv_floor_u64(out->budget_bytes - fixed, 1000000, 1000000 + (uint64_t)o->overhead_ppm,
                            &wkv);
    out->kv_avail_bytes = o->train.method != PLAN_TRAIN_NONE
                              ? (int64_t)out->budget_bytes - (int64_t)f->per_gpu_bytes
                              : (int64_t)wkv - (int64_t)f->gpu_weights_bytes;
    uint64_t avail = out->kv_avail_bytes > 0 ? (uint64_t)out->kv_avail_bytes : 0;
    out->kv_capacity_tokens = f->kv_token_bytes ? avail / tok : 0;
    out->max_concurrency = (double)out->kv_capacity_tokens / (double)o->seq_len;
    out->fits = f->per_gpu_bytes <= out->budget_bytes;
    if (!out->fits)
        snprintf(out->reason, sizeof out->reason,
                 "needs %.2f GiB per GPU; %.2f GiB usable at %.2f of %.2f GiB",
                 (double)f->per_gpu_bytes / GIB, (double)out->budget_bytes / GIB,
                 out->util_ppm / 1e6, (double)gpu_bytes / GIB);
    return 0;
}

int plan_fp_fit(const plan_footprint *f, const plan_fp_opts *o, uint64_t gpu_bytes,
                uint32_t util_ppm, plan_fit *out, vp_err *e)
{
    if (!f || !o || !out) return vp_errf(e, VP_EINPUT, "fit: no footprint");
    if (!gpu_bytes) return vp_errf(e, VP_EINPUT, "gpu: memory size missing");
    if (util_ppm > 1000000) return vp_errf(e, VP_EINPUT, "gpu_memory_utilization: above 1");
    memset(out, 0, sizeof *out);
    out->util_ppm = util_ppm;
    fp_profile_view v;
    if (!f->profile || fp_engine_view(o, &v)) return generic_fit(f, o, gpu_bytes, out);
    out->util_ppm = util_ppm ? util_ppm : f->default_util_ppm;
    uint64_t base = gpu_bytes, tok = f->kv_token_bytes ? f->kv_token_bytes : 1;
    if (v.fit == FP_FIT_SGLANG) {
        /* the fraction applies to the memory free when it starts: after its CUDA context */
        uint64_t ctx = term_named(f, "cuda_context");
        base = gpu_bytes > ctx ? gpu_bytes - ctx : 0;
    }
    vp_muldiv_floor_u64(base, out->util_ppm, 1000000, &out->budget_bytes);
    out->outside_bytes = term_sum(f, false, v.fit == FP_FIT_SGLANG ? "cuda_context" : NULL);
    uint64_t need = f->gpu_weights_bytes + term_sum(f, true, NULL); /* no KV */
    out->kv_avail_bytes = (int64_t)out->budget_bytes - (int64_t)need;
    uint64_t avail = out->kv_avail_bytes > 0 ? (uint64_t)out->kv_avail_bytes : 0;
    uint64_t want = o->seq_len * o->batch;
    if (v.fit == FP_FIT_LLAMACPP) {
        /* llama.cpp allocates n_ctx cells, no more: it fits or it fails. */
        bool ok = avail >= f->gpu_kv_bytes && out->kv_avail_bytes > 0;
        uint64_t cap = ok ? f->kv_tokens : avail / tok / v.ctx_pad * v.ctx_pad;
        out->kv_capacity_tokens = cap;
    } else {
        uint64_t block = v.fit == FP_FIT_VLLM ? v.seq_block : 1;
        out->kv_capacity_tokens = avail / (tok * block) * block;
    }
    out->max_concurrency = (double)out->kv_capacity_tokens / (double)o->seq_len;
    out->fits = out->kv_avail_bytes > 0 && out->kv_capacity_tokens >= want;
    if (!out->fits) {
        if (out->kv_avail_bytes <= 0)
            snprintf(out->reason, sizeof out->reason,
                     "no memory left for the KV cache: weights and %s terms need %.2f GiB of a "
                     "%.2f GiB budget",
                     f->profile, (double)need / GIB, (double)out->budget_bytes / GIB);
        else
            snprintf(out->reason, sizeof out->reason,
                     "the KV cache holds %" PRIu64 " tokens; %" PRIu64 " x %" PRIu64
                     " need %" PRIu64,
                     out->kv_capacity_tokens, o->batch, o->seq_len, want);
    }
    return 0;
}
