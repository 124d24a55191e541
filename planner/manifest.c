/* manifest.c - reads a model manifest (DESIGN.md "Inputs") into plan_model records.
 *
 * Every field is checked for type and range with vp_json getters, so a bad value is reported as
 * "<file>: models[i] (name).<field>: ..." and nothing else happens. Unknown fields are refused:
 * a typo such as "replica" must not silently plan one replica. Architecture comes from an HF
 * config.json (hf_config, relative to the manifest), from explicit fields, or the model gives its
 * measured memory_bytes. Defaults: dtype = the config's torch_dtype (fp16 without one), kv_dtype =
 * fp16 (or the weights' dtype when that is fp32/fp16/bf16), max_seq_len 4096, max_batch 1,
 * tensor_parallel and pipeline_parallel "auto", replicas 1. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "planner.h"
#include "vp_json.h"

#define MAX_SEQ (16ULL << 20)      /* 16 Mi tokens */
#define MAX_BATCH 65536ULL
#define MAX_PARAMS 100000000000000ULL /* 1e14 */
#define MAX_MEM (1ULL << 46)       /* 64 TiB per replica */
#define MAX_CTX (64ULL << 30)

static const char *const top_keys[] = {"models", "defaults", "name", "description", "version",
                                       NULL};
static const char *const default_keys[] = {"overhead_fraction", "cuda_context_bytes", "dtype",
                                           "kv_dtype", "max_seq_len", "max_batch", NULL};
static const char *const model_keys[] = {
    "name", "description", "hf_config", "params", "active_params", "layers", "kv_heads",
    "head_dim", "hidden", "hidden_size", "heads", "vocab", "intermediate", "sliding_window",
    "kv_lora_rank", "qk_rope_head_dim", "memory_bytes", "dtype", "kv_dtype", "max_seq_len",
    "max_batch", "replicas", "demand", "tensor_parallel", "pipeline_parallel", "gpu_types",
    "spread", "slo", "worker", "overhead_fraction", "cuda_context_bytes", NULL};

typedef struct defaults {
    plan_fp_opts opts;
    bool have_dtype, have_kv;
} defaults;

static int check_name(const char *name, const char *ctx, vp_err *e)
{
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._-:", *p))
            return vp_errf(e, VP_EINPUT,
                           "%s.name: \"%s\" may only contain letters, digits and . _ - :", ctx,
                           name);
    return 0;
}

static int get_dtype(const cJSON *o, const char *key, const char *ctx, plan_dtype *out, bool *set,
                     vp_err *e)
{
    char s[32];
    int rc = vp_json_str(o, key, ctx, false, s, sizeof s, e);
    if (rc) return rc < 0 ? rc : 0;
    if (plan_dtype_parse(s, out))
        return vp_errf(e, VP_EINPUT,
                       "%s.%s: unknown dtype \"%s\" (fp32, fp16, bf16, fp8, int8, int4, q8_0, "
                       "q6_k, q5_k_m, q4_k_m, q4_0)",
                       ctx, key, s);
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

static int parse_defaults(const cJSON *d, const char *what, defaults *def, vp_err *e)
{
    char ctx[300];
    snprintf(ctx, sizeof ctx, "%s: defaults", what);
    if (!cJSON_IsObject(d)) return vp_errf(e, VP_EINPUT, "%s: must be an object", ctx);
    int rc = vp_json_only_keys(d, default_keys, ctx, e);
    if (rc) return rc;
    double f;
    rc = vp_json_double(d, "overhead_fraction", ctx, false, 0.0, 10.0, &f, e);
    if (rc < 0) return rc;
    if (rc == 0) def->opts.overhead_ppm = (uint32_t)llround(f * 1e6);
    if ((rc = vp_json_u64(d, "cuda_context_bytes", ctx, false, 0, MAX_CTX,
                          &def->opts.cuda_context_bytes, e)) < 0)
        return rc;
    if ((rc = get_dtype(d, "dtype", ctx, &def->opts.dtype, &def->have_dtype, e))) return rc;
    if ((rc = get_dtype(d, "kv_dtype", ctx, &def->opts.kv_dtype, &def->have_kv, e))) return rc;
    if ((rc = vp_json_u64(d, "max_seq_len", ctx, false, 1, MAX_SEQ, &def->opts.seq_len, e)) < 0)
        return rc;
    if ((rc = vp_json_u64(d, "max_batch", ctx, false, 1, MAX_BATCH, &def->opts.batch, e)) < 0)
        return rc;
    return 0;
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

static int parse_arch_fields(const cJSON *o, const char *ctx, plan_model *m, vp_err *e)
{
    plan_arch *a = &m->arch;
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

static int parse_model(const cJSON *o, size_t idx, const char *what, const char *base_dir,
                       const defaults *def, plan_model *m, vp_err *e)
{
    char ctx[300];
    snprintf(ctx, sizeof ctx, "%s: models[%zu]", what, idx);
    if (!cJSON_IsObject(o)) return vp_errf(e, VP_EINPUT, "%s: must be an object", ctx);
    int rc = vp_json_str(o, "name", ctx, true, m->name, sizeof m->name, e);
    if (rc) return rc;
    if ((rc = check_name(m->name, ctx, e))) return rc;
    snprintf(ctx, sizeof ctx, "%s: models[%zu] (%s)", what, idx, m->name);
    if ((rc = vp_json_only_keys(o, model_keys, ctx, e))) return rc;

    m->opts = def->opts;
    m->opts.tp = 0;
    m->opts.pp = 0;
    m->replicas = 1;

    /* Where the architecture comes from. */
    char rel[200];
    rc = vp_json_str(o, "hf_config", ctx, false, rel, sizeof rel, e);
    if (rc < 0) return rc;
    bool have_hf = rc == 0;
    rc = vp_json_u64(o, "memory_bytes", ctx, false, 1, MAX_MEM, &m->memory_bytes, e);
    if (rc < 0) return rc;
    m->fixed = rc == 0;
    plan_arch fields = {0};
    plan_model tmp = {0};
    rc = parse_arch_fields(o, ctx, &tmp, e);
    if (rc < 0) return rc;
    bool have_fields = rc == 0;
    fields = tmp.arch;

    if (m->fixed && (have_hf || have_fields))
        return vp_errf(e, VP_EINPUT,
                       "%s.memory_bytes: give either memory_bytes or an architecture "
                       "(hf_config / params...), not both",
                       ctx);
    if (!m->fixed && !have_hf && !have_fields)
        return vp_errf(e, VP_EINPUT,
                       "%s: needs hf_config, architecture fields (params, layers, kv_heads, "
                       "head_dim) or memory_bytes",
                       ctx);
    if (have_hf) {
        /* The config defines the architecture; only the published counts and the window may be
         * overridden, so nothing given here is silently ignored. */
        static const char *const arch_only[] = {"layers", "kv_heads", "head_dim", "hidden",
                                                "hidden_size", "heads", "vocab", "intermediate",
                                                "kv_lora_rank", "qk_rope_head_dim", NULL};
        for (const char *const *k = arch_only; *k; k++)
            if (cJSON_GetObjectItemCaseSensitive(o, *k))
                return vp_errf(e, VP_EINPUT,
                               "%s.%s: the hf_config defines the architecture; give one or the "
                               "other",
                               ctx, *k);
        if ((rc = resolve_path(base_dir, rel, m->hf_config, sizeof m->hf_config, ctx, e)))
            return rc;
        vp_err sub = {0};
        rc = plan_arch_from_hf_file(m->hf_config, &m->arch, &sub);
        if (rc) return vp_errf(e, rc, "%s.hf_config: %s", ctx, sub.msg);
        /* Explicit fields override the config (e.g. a published params figure). */
        if (fields.params) m->arch.params = fields.params;
        if (fields.active_params) m->arch.active_params = fields.active_params;
        if (m->arch.active_params > m->arch.params) m->arch.active_params = 0; /* = params */
        if (fields.sliding_window) m->arch.sliding_window = fields.sliding_window;
    } else if (have_fields) {
        m->arch = fields;
        m->arch.torch_dtype = PLAN_DT_FP16;
        if (!m->arch.head_dim && m->arch.hidden && m->arch.heads)
            m->arch.head_dim = m->arch.hidden / m->arch.heads;
        if (!m->arch.kv_heads && m->arch.heads) m->arch.kv_heads = m->arch.heads;
        if (!m->arch.params) {
            vp_err sub = {0};
            rc = plan_arch_count_params(&m->arch, &sub);
            if (rc || !m->arch.params)
                return vp_errf(e, VP_EINPUT, "%s.params: missing and not computable (%s)", ctx,
                               rc ? sub.msg : "give params or hidden, intermediate, vocab");
        }
        const char *missing = !m->arch.layers ? "layers"
                              : (!m->arch.kv_heads && !m->arch.kv_lora_rank) ? "kv_heads"
                              : (!m->arch.head_dim && !m->arch.kv_lora_rank) ? "head_dim"
                                                                              : NULL;
        if (missing)
            return vp_errf(e, VP_EINPUT, "%s.%s: missing (needed for the KV cache)", ctx, missing);
    }

    /* Precision and context. */
    bool have_dt = false, have_kv = false;
    m->opts.dtype = def->have_dtype ? def->opts.dtype
                    : m->fixed      ? PLAN_DT_FP16
                                    : m->arch.torch_dtype;
    if ((rc = get_dtype(o, "dtype", ctx, &m->opts.dtype, &have_dt, e))) return rc;
    if (def->have_kv)
        m->opts.kv_dtype = def->opts.kv_dtype;
    else if (m->opts.dtype == PLAN_DT_FP32 || m->opts.dtype == PLAN_DT_FP16 ||
             m->opts.dtype == PLAN_DT_BF16)
        m->opts.kv_dtype = m->opts.dtype;
    else
        m->opts.kv_dtype = PLAN_DT_FP16;
    if ((rc = get_dtype(o, "kv_dtype", ctx, &m->opts.kv_dtype, &have_kv, e))) return rc;
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
    if ((rc = vp_json_u64(o, "cuda_context_bytes", ctx, false, 0, MAX_CTX,
                          &m->opts.cuda_context_bytes, e)) < 0)
        return rc;

    /* Parallelism. */
    if ((rc = get_degree(o, "tensor_parallel", ctx, &m->opts.tp, e))) return rc;
    if ((rc = get_degree(o, "pipeline_parallel", ctx, &m->opts.pp, e))) return rc;
    if (m->fixed && (m->opts.tp > 1 || m->opts.pp > 1))
        return vp_errf(e, VP_EINPUT,
                       "%s.tensor_parallel: a memory_bytes model is one slice on one GPU", ctx);
    if (m->opts.pp > 1 && m->arch.layers && m->opts.pp > m->arch.layers)
        return vp_errf(e, VP_EINPUT, "%s.pipeline_parallel: %u stages for %u layers", ctx,
                       m->opts.pp, m->arch.layers);

    /* Replicas: a count, or derived from demand. */
    const cJSON *demand = cJSON_GetObjectItemCaseSensitive(o, "demand");
    rc = vp_json_u32(o, "replicas", ctx, false, 0, PLAN_MAX_REPLICAS, &m->replicas, e);
    if (rc < 0) return rc;
    bool have_replicas = rc == 0;
    if (demand && !cJSON_IsNull(demand)) {
        char dctx[340];
        snprintf(dctx, sizeof dctx, "%s.demand", ctx);
        if (have_replicas)
            return vp_errf(e, VP_EINPUT, "%s: give replicas or demand, not both", dctx);
        if (!cJSON_IsObject(demand)) return vp_errf(e, VP_EINPUT, "%s: must be an object", dctx);
        static const char *const dkeys[] = {"peak_rps", "avg_output_tokens",
                                            "tokens_per_s_per_replica", NULL};
        if ((rc = vp_json_only_keys(demand, dkeys, dctx, e))) return rc;
        double rps, toks, tps;
        if ((rc = vp_json_double(demand, "peak_rps", dctx, true, 0, 1e9, &rps, e))) return rc;
        if ((rc = vp_json_double(demand, "avg_output_tokens", dctx, true, 0, 1e9, &toks, e)))
            return rc;
        if ((rc = vp_json_double(demand, "tokens_per_s_per_replica", dctx, true, 1e-6, 1e12, &tps,
                                 e)))
            return rc;
        /* ceil with a tolerance for the last bit: 20*300/1200 is 5, not 6. */
        double r = ceil(rps * toks / tps - 1e-9);
        if (r > PLAN_MAX_REPLICAS)
            return vp_errf(e, VP_EINPUT, "%s: implies %.0f replicas (limit %u)", dctx, r,
                           PLAN_MAX_REPLICAS);
        m->replicas = r < 0 ? 0 : (uint32_t)r;
    }

    /* Placement constraints. */
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
    if (slo && !cJSON_IsNull(slo)) {
        char sctx[340];
        snprintf(sctx, sizeof sctx, "%s.slo", ctx);
        if (!cJSON_IsObject(slo)) return vp_errf(e, VP_EINPUT, "%s: must be an object", sctx);
        static const char *const skeys[] = {"tpot_ms", "ttft_ms", NULL};
        if ((rc = vp_json_only_keys(slo, skeys, sctx, e))) return rc;
        if ((rc = vp_json_double(slo, "tpot_ms", sctx, false, 0.001, 1e7, &m->tpot_ms, e)) < 0)
            return rc;
    }
    const cJSON *worker = cJSON_GetObjectItemCaseSensitive(o, "worker");
    if (worker && !cJSON_IsNull(worker)) {
        char wctx[340];
        snprintf(wctx, sizeof wctx, "%s.worker", ctx);
        static const char *const wkeys[] = {"command", NULL};
        if (!cJSON_IsObject(worker)) return vp_errf(e, VP_EINPUT, "%s: must be an object", wctx);
        if ((rc = vp_json_only_keys(worker, wkeys, wctx, e))) return rc;
        const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(worker, "command");
        int n = cJSON_GetArraySize(cmd);
        if (!cJSON_IsArray(cmd) || n < 1 || n > 64)
            return vp_errf(e, VP_EINPUT, "%s.command: must be an array of 1..64 strings", wctx);
        m->worker_cmd = calloc((size_t)n + 1, sizeof *m->worker_cmd);
        if (!m->worker_cmd) return vp_errf(e, -ENOMEM, "%s: out of memory", wctx);
        int i = 0;
        const cJSON *a;
        cJSON_ArrayForEach(a, cmd)
        {
            if (!cJSON_IsString(a) || strlen(a->valuestring) > 4096)
                return vp_errf(e, VP_EINPUT, "%s.command[%d]: must be a string", wctx, i);
            m->worker_cmd[i] = strdup(a->valuestring);
            if (!m->worker_cmd[i++]) return vp_errf(e, -ENOMEM, "%s: out of memory", wctx);
        }
    }
    return 0;
}

static void free_model(plan_model *m)
{
    if (m->worker_cmd)
        for (char **p = m->worker_cmd; *p; p++) free(*p);
    free(m->worker_cmd);
}

void plan_manifest_free(plan_manifest *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->n_models; i++) free_model(&m->models[i]);
    free(m->models);
    free(m);
}

int plan_manifest_parse(const char *buf, size_t len, const char *what, const char *base_dir,
                        plan_manifest **out, vp_err *e)
{
    cJSON *root;
    int rc = vp_json_parse(buf, len, what, &root, e);
    if (rc) return rc;
    plan_manifest *m = calloc(1, sizeof *m);
    if (!m) { cJSON_Delete(root); return vp_errf(e, -ENOMEM, "%s: out of memory", what); }
    snprintf(m->source, sizeof m->source, "%s", what);
    char ctx[300];
    snprintf(ctx, sizeof ctx, "%s", what);
    defaults def = {0};
    plan_fp_opts_default(&def.opts);
    const cJSON *models = NULL;
    if (!cJSON_IsObject(root)) { rc = vp_errf(e, VP_EINPUT, "%s: must be a JSON object", what); goto fail; }
    if ((rc = vp_json_only_keys(root, top_keys, ctx, e))) goto fail;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "defaults");
    if (d && (rc = parse_defaults(d, what, &def, e))) goto fail;
    models = cJSON_GetObjectItemCaseSensitive(root, "models");
    if (!cJSON_IsArray(models)) {
        rc = vp_errf(e, VP_EINPUT, "%s.models: missing or not an array", what);
        goto fail;
    }
    int n = cJSON_GetArraySize(models);
    if (n == 0) { rc = vp_errf(e, VP_EINPUT, "%s.models: empty", what); goto fail; }
    if (n > PLAN_MAX_MODELS) {
        rc = vp_errf(e, VP_ETOOBIG, "%s.models: %d models (limit %d)", what, n, PLAN_MAX_MODELS);
        goto fail;
    }
    m->models = calloc((size_t)n, sizeof *m->models);
    if (!m->models) { rc = vp_errf(e, -ENOMEM, "%s: out of memory", what); goto fail; }
    const cJSON *o;
    cJSON_ArrayForEach(o, models)
    {
        plan_model *pm = &m->models[m->n_models];
        rc = parse_model(o, m->n_models, what, base_dir, &def, pm, e);
        m->n_models++;
        if (rc) goto fail;
        for (size_t j = 0; j + 1 < m->n_models; j++)
            if (!strcmp(m->models[j].name, pm->name)) {
                rc = vp_errf(e, VP_EDUP, "%s: models[%zu].name: \"%s\" is already models[%zu]",
                             what, m->n_models - 1, pm->name, j);
                goto fail;
            }
    }
    uint64_t total = 0;
    for (size_t i = 0; i < m->n_models; i++) total += m->models[i].replicas;
    if (total > PLAN_MAX_TOTAL_REPLICAS) {
        rc = vp_errf(e, VP_ETOOBIG, "%s.models: %llu replicas in all (limit %u)", what,
                     (unsigned long long)total, PLAN_MAX_TOTAL_REPLICAS);
        goto fail;
    }
    cJSON_Delete(root);
    *out = m;
    return 0;
fail:
    cJSON_Delete(root);
    plan_manifest_free(m);
    return rc;
}

int plan_manifest_load(const char *path, plan_manifest **out, vp_err *e)
{
    char *buf;
    size_t len;
    int rc = vp_read_file(path, PLAN_MAX_FILE_BYTES, &buf, &len, e);
    if (rc) return rc;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) dir[1] = '\0';      /* "/m.json" -> "/" */
    else if (slash) *slash = '\0';
    else strcpy(dir, ".");
    rc = plan_manifest_parse(buf, len, path, dir, out, e);
    free(buf);
    return rc;
}
