/* manifest_model.c - one model of a manifest: what it is (architecture from an HF config,
 * explicit fields or a measured footprint), its precision and context, its parallelism, how many
 * replicas, and where they may go. How it runs is manifest_run.c.
 *
 * Each step reads its own fields and names the field in every error ("<file>: models[i]
 * (name).<field>: ..."); unknown fields are refused so that a typo such as "replica" is an
 * error, not a silent default. Defaults: dtype = the config's torch_dtype (fp16 without one),
 * kv_dtype = fp16 (or the weights' dtype when that is fp32/fp16/bf16), max_seq_len 4096,
 * max_batch 1, tensor_parallel and pipeline_parallel "auto", replicas 1. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest_int.h"
#include "vp_json.h"

#define MAX_SEQ (16ULL << 20)         /* 16 Mi tokens */
#define MAX_BATCH 65536ULL
#define MAX_PARAMS 100000000000000ULL /* 1e14 */
#define MAX_MEM (1ULL << 46)          /* 64 TiB per replica */
#define MAX_CTX (64ULL << 30)

static const char *const model_keys[] = {
    "name", "description", "hf_config", "params", "active_params", "layers", "kv_heads",
    "head_dim", "hidden", "hidden_size", "heads", "vocab", "intermediate", "sliding_window",
    "kv_lora_rank", "qk_rope_head_dim", "memory_bytes", "dtype", "kv_dtype", "max_seq_len",
    "max_batch", "replicas", "demand", "tensor_parallel", "pipeline_parallel", "gpu_types",
    "spread", "slo", "overhead_fraction", "cuda_context_bytes", "quantization",
    /* manifest_work.c */
    "class", "lora", "train", "images_per_request", "speculative",
    /* manifest_run.c */
    "engine", "engine_version", "source", "engine_args", "worker", "ready_timeout_s", NULL};

/* Fields an hf_config defines: giving them as well would be silently ignored, so it is refused. */
static const char *const arch_only[] = {"layers", "kv_heads", "head_dim", "hidden",
                                        "hidden_size", "heads", "vocab", "intermediate",
                                        "kv_lora_rank", "qk_rope_head_dim", NULL};

static int check_name(const char *name, const char *ctx, vp_err *e)
{
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._-:", *p))
            return vp_errf(e, VP_EINPUT,
                           "%s.name: \"%s\" may only contain letters, digits and . _ - :", ctx,
                           name);
    return 0;
}

int plan_mf_dtype(const cJSON *o, const char *key, const char *ctx, plan_dtype *out, bool *set,
                  vp_err *e)
{
    char s[32];
    int rc = vp_json_str(o, key, ctx, false, s, sizeof s, e);
    if (rc) return rc < 0 ? rc : 0;
    if (plan_dtype_parse(s, out))
        return vp_errf(e, VP_EINPUT, "%s.%s: unknown dtype \"%s\" (%s)", ctx, key, s,
                       plan_dtype_names());
    if (set) *set = true;
    return 0;
}

/* tensor_parallel / pipeline_parallel: an integer 1..16 or "auto" (stored as 0). */
static int get_degree(const cJSON *o, const char *key, const char *ctx, uint32_t *out, vp_err *e)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it || cJSON_IsNull(it)) return 0;
    if (cJSON_IsString(it)) {
        if (strcmp(it->valuestring, "auto") == 0) { *out = 0; return 0; }
        return vp_errf(e, VP_EINPUT, "%s.%s: must be an integer 1..16 or \"auto\"", ctx, key);
    }
    return vp_json_u32(o, key, ctx, true, 1, PLAN_MAX_PP, out, e);
}

/* Explicit architecture fields; 1 when none is given. */
static int get_arch_fields(const cJSON *o, const char *ctx, plan_arch *a, vp_err *e)
{
    int rc;
    struct { const char *key; uint32_t *dst; uint32_t min, max; } u32s[] = {
        {"layers", &a->layers, 1, 10000},
        {"kv_heads", &a->kv_heads, 1, 100000},
        {"head_dim", &a->head_dim, 1, 100000},
        {"hidden", &a->hidden, 1, 1000000},
        {"hidden_size", &a->hidden, 1, 1000000},
        {"heads", &a->heads, 1, 100000},
        {"vocab", &a->vocab, 1, 10000000},
        {"intermediate", &a->intermediate, 1, 10000000},
        {"sliding_window", &a->sliding_window, 1, (uint32_t)MAX_SEQ},
        {"kv_lora_rank", &a->kv_lora_rank, 1, 100000},
        {"qk_rope_head_dim", &a->qk_rope_head_dim, 1, 100000},
    };
    bool any = false;
    for (size_t i = 0; i < VP_ARRAY_LEN(u32s); i++) {
        rc = vp_json_u32(o, u32s[i].key, ctx, false, u32s[i].min, u32s[i].max, u32s[i].dst, e);
        if (rc < 0) return rc;
        if (rc == 0) any = true;
    }
    rc = vp_json_u64(o, "params", ctx, false, 1, MAX_PARAMS, &a->params, e);
    if (rc < 0) return rc;
    if (rc == 0) any = true;
    rc = vp_json_u64(o, "active_params", ctx, false, 1, MAX_PARAMS, &a->active_params, e);
    if (rc < 0) return rc;
    return any ? 0 : 1;
}

static int resolve_path(const char *base_dir, const char *rel, char *out, size_t cap,
                        const char *ctx, vp_err *e)
{
    int n;
    if (rel[0] == '/' || !base_dir || !*base_dir)
        n = snprintf(out, cap, "%s", rel);
    else
        n = snprintf(out, cap, "%s/%s", base_dir, rel);
    if (n < 0 || (size_t)n >= cap)
        return vp_errf(e, VP_EINPUT, "%s.hf_config: path too long", ctx);
    return 0;
}

int plan_mf_arch_config(const cJSON *hf, const char *ctx, const plan_mf_ctx *c, plan_arch *a,
                        char *path, size_t cap, vp_err *e)
{
    vp_err sub = {0};
    int rc;
    if (cJSON_IsObject(hf)) {
        snprintf(path, cap, "inline");
        rc = plan_arch_from_hf(hf, "config", a, &sub);
    } else if (cJSON_IsString(hf) && hf->valuestring[0]) {
        if (c->inline_only)
            return vp_errf(e, VP_EINPUT,
                           "%s.hf_config: must be the config object itself here, not a path "
                           "(`vrampack submit` inlines config files)",
                           ctx);
        if ((rc = resolve_path(c->base_dir, hf->valuestring, path, cap, ctx, e))) return rc;
        rc = plan_arch_from_hf_file(path, a, &sub);
    } else {
        return vp_errf(e, VP_EINPUT, "%s.hf_config: must be a path or a config object", ctx);
    }
    return rc ? vp_errf(e, rc, "%s.hf_config: %s", ctx, sub.msg) : 0;
}

/* Architecture given field by field: fill what follows from the rest and say what is missing. */
static int arch_from_fields(const char *ctx, plan_model *m, vp_err *e)
{
    plan_arch *a = &m->arch;
    a->torch_dtype = PLAN_DT_FP16;
    if (!a->head_dim && a->hidden && a->heads) a->head_dim = a->hidden / a->heads;
    if (!a->kv_heads && a->heads) a->kv_heads = a->heads;
    if (!a->params) {
        vp_err sub = {0};
        int rc = plan_arch_count_params(a, &sub);
        if (rc || !a->params)
            return vp_errf(e, VP_EINPUT, "%s.params: missing and not computable (%s)", ctx,
                           rc ? sub.msg : "give params or hidden, intermediate, vocab");
    }
    const char *missing = !a->layers                             ? "layers"
                          : (!a->kv_heads && !a->kv_lora_rank)   ? "kv_heads"
                          : (!a->head_dim && !a->kv_lora_rank)   ? "head_dim"
                                                                 : NULL;
    if (missing)
        return vp_errf(e, VP_EINPUT, "%s.%s: missing (needed for the KV cache)", ctx, missing);
    return 0;
}

/* What the model is: hf_config, architecture fields, or memory_bytes (exactly one way). */
static int get_architecture(const cJSON *o, const char *ctx, const plan_mf_ctx *c, plan_model *m,
                            vp_err *e)
{
    const cJSON *hf = cJSON_GetObjectItemCaseSensitive(o, "hf_config");
    bool have_hf = hf && !cJSON_IsNull(hf);
    int rc = vp_json_bytes(o, "memory_bytes", ctx, false, 1, MAX_MEM, &m->memory_bytes, e);
    if (rc < 0) return rc;
    m->fixed = rc == 0;
    plan_arch fields = {0};
    rc = get_arch_fields(o, ctx, &fields, e);
    if (rc < 0) return rc;
    bool have_fields = rc == 0;

    if (m->fixed && (have_hf || have_fields))
        return vp_errf(e, VP_EINPUT,
                       "%s.memory_bytes: give either memory_bytes or an architecture "
                       "(hf_config / params...), not both",
                       ctx);
    if (m->fixed) return 0;
    if (!have_hf && !have_fields)
        return vp_errf(e, VP_EINPUT,
                       "%s: needs hf_config, architecture fields (params, layers, kv_heads, "
                       "head_dim) or memory_bytes",
                       ctx);
    if (!have_hf) {
        m->arch = fields;
        return arch_from_fields(ctx, m, e);
    }
    for (const char *const *k = arch_only; *k; k++)
        if (cJSON_GetObjectItemCaseSensitive(o, *k))
            return vp_errf(e, VP_EINPUT,
                           "%s.%s: the hf_config defines the architecture; give one or the other",
                           ctx, *k);
    if ((rc = plan_mf_arch_config(hf, ctx, c, &m->arch, m->hf_config, sizeof m->hf_config, e)))
        return rc;
    /* Explicit fields override the config (e.g. a published params figure). */
    if (fields.params) m->arch.params = fields.params;
    if (fields.active_params) m->arch.active_params = fields.active_params;
    if (m->arch.active_params > m->arch.params) m->arch.active_params = 0; /* = params */
    if (fields.sliding_window) m->arch.sliding_window = fields.sliding_window;
    return 0;
}

/* quantization: a format name, or the config's quantization_config; never with a GGUF dtype. */
static int get_quant(const cJSON *o, const char *ctx, bool dtype_given, plan_model *m, vp_err *e)
{
    char s[32];
    m->opts.quant = m->fixed ? PLAN_QUANT_NONE : m->arch.quant;
    int rc = vp_json_str(o, "quantization", ctx, false, s, sizeof s, e);
    if (rc < 0) return rc;
    if (rc == 0) {
        if (m->fixed)
            return vp_errf(e, VP_EINPUT,
                           "%s.quantization: a memory_bytes model is measured, not computed", ctx);
        if (plan_quant_parse(s, &m->opts.quant))
            return vp_errf(e, VP_EINPUT, "%s.quantization: unknown format \"%s\" (%s)", ctx, s,
                           plan_quant_names());
    } else if (plan_dtype_is_gguf(m->opts.dtype) && dtype_given) {
        m->opts.quant = PLAN_QUANT_NONE; /* a GGUF file replaces the config's checkpoint */
    }
    plan_dtype d = m->opts.dtype;
    if (m->opts.quant != PLAN_QUANT_NONE && d != PLAN_DT_BF16 && d != PLAN_DT_FP16 &&
        d != PLAN_DT_FP32)
        return vp_errf(e, VP_EINPUT,
                       "%s.quantization: %s keeps embeddings and norms at the dtype, which must "
                       "be bf16, fp16 or fp32 (got %s)",
                       ctx, plan_quant_name(m->opts.quant), plan_dtype_name(d));
    return 0;
}

/* dtype, kv_dtype, quantization, max_seq_len, max_batch, overhead_fraction, cuda_context_bytes. */
static int get_precision(const cJSON *o, const char *ctx, const plan_mf_defaults *def,
                         plan_model *m, vp_err *e)
{
    int rc;
    m->opts.dtype = def->have_dtype ? def->opts.dtype
                    : m->fixed      ? PLAN_DT_FP16
                                    : m->arch.torch_dtype;
    bool dtype_given = def->have_dtype;
    if ((rc = plan_mf_dtype(o, "dtype", ctx, &m->opts.dtype, &dtype_given, e))) return rc;
    if ((rc = get_quant(o, ctx, dtype_given, m, e))) return rc;
    if (def->have_kv)
        m->opts.kv_dtype = def->opts.kv_dtype;
    else if (m->opts.dtype == PLAN_DT_FP32 || m->opts.dtype == PLAN_DT_FP16 ||
             m->opts.dtype == PLAN_DT_BF16)
        m->opts.kv_dtype = m->opts.dtype;
    else
        m->opts.kv_dtype = PLAN_DT_FP16;
    if ((rc = plan_mf_dtype(o, "kv_dtype", ctx, &m->opts.kv_dtype, NULL, e))) return rc;
    switch (m->opts.kv_dtype) {
    case PLAN_DT_FP32: case PLAN_DT_FP16: case PLAN_DT_BF16: case PLAN_DT_FP8: case PLAN_DT_INT8:
        break;
    default:
        return vp_errf(e, VP_EINPUT, "%s.kv_dtype: %s is not a KV cache dtype (fp32, fp16, bf16, "
                       "fp8, int8)", ctx, plan_dtype_name(m->opts.kv_dtype));
    }
    if ((rc = vp_json_u64(o, "max_seq_len", ctx, false, 1, MAX_SEQ, &m->opts.seq_len, e)) < 0)
        return rc;
    if ((rc = vp_json_u64(o, "max_batch", ctx, false, 1, MAX_BATCH, &m->opts.batch, e)) < 0)
        return rc;
    double f;
    rc = vp_json_double(o, "overhead_fraction", ctx, false, 0.0, 10.0, &f, e);
    if (rc < 0) return rc;
    if (rc == 0) m->opts.overhead_ppm = (uint32_t)llround(f * 1e6);
    rc = vp_json_bytes(o, "cuda_context_bytes", ctx, false, 0, MAX_CTX, &m->opts.cuda_context_bytes,
                       e);
    return rc < 0 ? rc : 0;
}

static int get_parallelism(const cJSON *o, const char *ctx, plan_model *m, vp_err *e)
{
    int rc;
    if ((rc = get_degree(o, "tensor_parallel", ctx, &m->opts.tp, e))) return rc;
    if ((rc = get_degree(o, "pipeline_parallel", ctx, &m->opts.pp, e))) return rc;
    if (m->fixed && (m->opts.tp > 1 || m->opts.pp > 1))
        return vp_errf(e, VP_EINPUT,
                       "%s.tensor_parallel: a memory_bytes model is one slice on one GPU", ctx);
    if (m->opts.pp > 1 && m->arch.layers && m->opts.pp > m->arch.layers)
        return vp_errf(e, VP_EINPUT, "%s.pipeline_parallel: %u stages for %u layers", ctx,
                       m->opts.pp, m->arch.layers);
    return 0;
}

/* Replicas: a count, or ceil(peak_rps x avg_output_tokens / tokens_per_s_per_replica). */
static int get_replicas(const cJSON *o, const char *ctx, plan_model *m, vp_err *e)
{
    const cJSON *demand = cJSON_GetObjectItemCaseSensitive(o, "demand");
    int rc = vp_json_u32(o, "replicas", ctx, false, 0, PLAN_MAX_REPLICAS, &m->replicas, e);
    if (rc < 0) return rc;
    bool have_replicas = rc == 0;
    if (!demand || cJSON_IsNull(demand)) return 0;
    char dctx[340];
    snprintf(dctx, sizeof dctx, "%s.demand", ctx);
    if (have_replicas) return vp_errf(e, VP_EINPUT, "%s: give replicas or demand, not both", dctx);
    if (!cJSON_IsObject(demand)) return vp_errf(e, VP_EINPUT, "%s: must be an object", dctx);
    static const char *const dkeys[] = {"peak_rps", "avg_output_tokens",
                                        "tokens_per_s_per_replica", NULL};
    if ((rc = vp_json_only_keys(demand, dkeys, dctx, e))) return rc;
    double rps, toks, tps;
    if ((rc = vp_json_double(demand, "peak_rps", dctx, true, 0, 1e9, &rps, e))) return rc;
    if ((rc = vp_json_double(demand, "avg_output_tokens", dctx, true, 0, 1e9, &toks, e)))
        return rc;
    if ((rc = vp_json_double(demand, "tokens_per_s_per_replica", dctx, true, 1e-6, 1e12, &tps, e)))
        return rc;
    /* ceil with a tolerance for the last bit: 20*300/1200 is 5, not 6. */
    double r = ceil(rps * toks / tps - 1e-9);
    if (r > PLAN_MAX_REPLICAS)
        return vp_errf(e, VP_EINPUT, "%s: implies %.0f replicas (limit %u)", dctx, r,
                       PLAN_MAX_REPLICAS);
    m->replicas = r < 0 ? 0 : (uint32_t)r;
    return 0;
}

/* gpu_types, spread, slo. */
static int get_constraints(const cJSON *o, const char *ctx, plan_model *m, vp_err *e)
{
    int rc;
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(o, "gpu_types");
    if (types && !cJSON_IsNull(types)) {
        if (!cJSON_IsArray(types) || cJSON_GetArraySize(types) == 0)
            return vp_errf(e, VP_EINPUT, "%s.gpu_types: must be a non-empty array of GPU names",
                           ctx);
        const cJSON *t;
        cJSON_ArrayForEach(t, types)
        {
            if (!cJSON_IsString(t) || !t->valuestring[0] ||
                strlen(t->valuestring) >= PLACE_TYPE_MAX)
                return vp_errf(e, VP_EINPUT, "%s.gpu_types: entries must be GPU names", ctx);
            if (m->n_gpu_types == PLAN_MAX_GPU_TYPES)
                return vp_errf(e, VP_EINPUT, "%s.gpu_types: more than %d entries", ctx,
                               PLAN_MAX_GPU_TYPES);
            strcpy(m->gpu_types[m->n_gpu_types++], t->valuestring);
        }
    }
    if ((rc = vp_json_bool(o, "spread", ctx, false, &m->spread, e)) < 0) return rc;
    const cJSON *slo = cJSON_GetObjectItemCaseSensitive(o, "slo");
    if (!slo || cJSON_IsNull(slo)) return 0;
    char sctx[340];
    snprintf(sctx, sizeof sctx, "%s.slo", ctx);
    if (!cJSON_IsObject(slo)) return vp_errf(e, VP_EINPUT, "%s: must be an object", sctx);
    static const char *const skeys[] = {"tpot_ms", "ttft_ms", "prompt_tokens", NULL};
    if ((rc = vp_json_only_keys(slo, skeys, sctx, e))) return rc;
    rc = vp_json_double(slo, "tpot_ms", sctx, false, 0.001, 1e7, &m->tpot_ms, e);
    if (rc < 0) return rc;
    rc = vp_json_double(slo, "ttft_ms", sctx, false, 0.001, 1e7, &m->ttft_ms, e);
    if (rc < 0) return rc;
    bool have_ttft = rc == 0;
    rc = vp_json_u32(slo, "prompt_tokens", sctx, have_ttft, 1, 16u << 20, &m->prompt_tokens, e);
    if (rc < 0) return rc;
    if (rc == 0 && !have_ttft)
        return vp_errf(e, VP_EINPUT, "%s.prompt_tokens: is the prompt ttft_ms is for; give "
                       "ttft_ms too", sctx);
    return rc == 1 && have_ttft ? vp_errf(e, VP_EINPUT, "%s.prompt_tokens: missing", sctx) : 0;
}

int plan_mf_model(const cJSON *o, size_t idx, const plan_mf_ctx *c, plan_model *m, vp_err *e)
{
    char ctx[300];
    snprintf(ctx, sizeof ctx, "%s: models[%zu]", c->what, idx);
    if (!cJSON_IsObject(o)) return vp_errf(e, VP_EINPUT, "%s: must be an object", ctx);
    int rc = vp_json_str(o, "name", ctx, true, m->name, sizeof m->name, e);
    if (rc) return rc;
    if ((rc = check_name(m->name, ctx, e))) return rc;
    snprintf(ctx, sizeof ctx, "%s: models[%zu] (%s)", c->what, idx, m->name);
    if ((rc = vp_json_only_keys(o, model_keys, ctx, e))) return rc;

    m->opts = c->def.opts;
    m->opts.tp = 0;
    m->opts.pp = 0;
    m->replicas = 1;
    if ((rc = get_architecture(o, ctx, c, m, e))) return rc;
    if ((rc = get_precision(o, ctx, &c->def, m, e))) return rc;
    if ((rc = get_parallelism(o, ctx, m, e))) return rc;
    if ((rc = get_replicas(o, ctx, m, e))) return rc;
    if ((rc = get_constraints(o, ctx, m, e))) return rc;
    if ((rc = plan_mf_run(o, ctx, m, e))) return rc;
    if ((rc = plan_mf_work(o, ctx, c, m, e))) return rc;
    return plan_mf_profile(o, ctx, m, e);
}
