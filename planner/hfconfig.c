/* hfconfig.c - Hugging Face config.json -> plan_arch, and the parameter count of an architecture.
 *
 * Reading: the fields real configs use, under their common aliases (num_hidden_layers / n_layer /
 * num_layers, hidden_size / n_embd / d_model, num_key_value_heads / num_kv_heads / n_head_kv /
 * multi_query, ...). Each family's defaults apply when a field is absent, as its transformers
 * config class defines them: num_key_value_heads = num_attention_heads; tie_word_embeddings true
 * for gemma, gemma2 and falcon, false for llama, mistral, mixtral, qwen2, qwen3, phi3 and
 * deepseek. An unknown model_type is read as llama-like from the same fields (untied unless the
 * config says so). Every value is checked: a negative, zero, fractional or absurd number (layers
 * over 10,000, hidden over 1,000,000, vocab over 10,000,000, ...) is refused with one line that
 * names the file and the field.
 *
 * Counting: embeddings + per layer (attention incl. MLA, norms, MLP or experts + router) + final
 * norm + lm_head unless tied. The per-layer shapes:
 *   attention  h x (heads + 2 kv_heads) x head_dim for q,k,v (fused or not: the same count) +
 *              heads x head_dim x h for o; biases where the family has them (qwen2: q,k,v only;
 *              llama attention_bias / falcon bias: all four).
 *   MLA        q: h x heads x (nope + rope) when q_lora_rank is null, else q_a (h x q_lora) +
 *              q_a_layernorm + q_b (q_lora x heads x (nope + rope)); kv_a_proj_with_mqa
 *              h x (kv_lora + rope) + kv_a_layernorm + kv_b (kv_lora x heads x (nope + v));
 *              o: heads x v x h.
 *   norms      2 RMSNorm weights of h (gemma2: 4; falcon: LayerNorm weight + bias, 1 or 2 per layer
 *              as new_decoder_architecture / num_ln_in_parallel_attn / parallel_attn say).
 *   MLP        gate/up/down 3 x h x I (falcon: up/down 2 x h x I with I = 4h by default).
 *   MoE        (routed + shared) experts x expert MLP + router h x experts (+ the deepseek_v3
 *              score-correction bias, one per expert); the first first_k_dense_replace layers are
 *              dense. Active params count num_experts_per_tok routed experts + the shared ones.
 * DeepSeek-V3's multi-token-prediction layers (num_nextn_predict_layers) are NOT counted: serving
 * engines load them only for speculative decoding, and the published 671B excludes them; the
 * value is kept in plan_arch.mtp_layers. Not modelled: qwen2_moe's gated shared expert and
 * multimodal towers (vision/audio configs) - such configs are read but leave params 0 (unknown),
 * so the caller must give the count rather than get a wrong one - and biases in MLA projections
 * (no released MLA model has them). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fp_int.h"
#include "vp_json.h"

#define HF_MAX_FILE_BYTES (4u << 20)
#define HF_MAX_LAYERS 10000u
#define HF_MAX_HIDDEN 1000000u
#define HF_MAX_VOCAB 10000000u
#define HF_MAX_HEADS 100000u
#define HF_MAX_INTERMEDIATE 100000000u
#define HF_MAX_EXPERTS 100000u
#define HF_MAX_DIM 1000000u /* head dims and MLA ranks */
#define HF_MAX_POSITION 1000000000u
#define HF_MAX_WINDOW 2147483647u

#define KEYS(...) ((const char *const[]){__VA_ARGS__, NULL})

typedef enum hf_family {
    FAM_OTHER,
    FAM_LLAMA,
    FAM_MISTRAL,
    FAM_MIXTRAL,
    FAM_QWEN2,
    FAM_QWEN3,
    FAM_GEMMA,
    FAM_GEMMA2,
    FAM_PHI3,
    FAM_FALCON,
    FAM_DEEPSEEK_V2,
    FAM_DEEPSEEK_V3,
} hf_family;

static const struct {
    const char *model_type;
    hf_family fam;
    const char *name; /* what plan_arch.family says */
    bool tied;        /* tie_word_embeddings when absent */
} families[] = {
    {"llama", FAM_LLAMA, "llama", false},
    {"mistral", FAM_MISTRAL, "mistral", false},
    {"mixtral", FAM_MIXTRAL, "mixtral", false},
    {"qwen2", FAM_QWEN2, "qwen2", false},
    {"qwen3", FAM_QWEN3, "qwen3", false},
    {"gemma", FAM_GEMMA, "gemma", true},
    {"gemma2", FAM_GEMMA2, "gemma2", true},
    {"phi3", FAM_PHI3, "phi3", false},
    {"falcon", FAM_FALCON, "falcon", true},
    /* Falcon's first configs, before it joined transformers: RefinedWeb is the 40B layout
     * (grouped KV, new decoder), RefinedWebModel the 7B one (multi-query). */
    {"RefinedWeb", FAM_FALCON, "falcon", true},
    {"RefinedWebModel", FAM_FALCON, "falcon", true},
    {"deepseek_v2", FAM_DEEPSEEK_V2, "deepseek_v2", false},
    {"deepseek_v3", FAM_DEEPSEEK_V3, "deepseek_v3", false},
};

typedef struct hf_reader {
    const cJSON *cfg;
    const char *what;
    vp_err *e;
} hf_reader;

/* The first key of the list present with a non-null value; NULL when none is. */
static const cJSON *hf_find(const hf_reader *r, const char *const *keys, const char **key)
{
    for (; *keys; keys++) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(r->cfg, *keys);
        if (it && !cJSON_IsNull(it)) {
            *key = *keys;
            return it;
        }
    }
    return NULL;
}

/* Reads an integer in [min, max] from the first key present. 0 read, 1 absent, < 0 error. */
static int hf_u32(const hf_reader *r, const char *const *keys, uint32_t min, uint32_t max,
                  uint32_t *out)
{
    const char *key;
    const cJSON *it = hf_find(r, keys, &key);
    if (!it) return 1;
    if (!cJSON_IsNumber(it))
        return vp_errf(r->e, VP_EINPUT, "%s: %s: must be an integer in [%" PRIu32 ", %" PRIu32 "]",
                       r->what, key, min, max);
    double d = it->valuedouble;
    if (!isfinite(d) || d != floor(d) || d < (double)min || d > (double)max)
        return vp_errf(r->e, VP_EINPUT,
                       "%s: %s: must be an integer in [%" PRIu32 ", %" PRIu32 "] (got %.17g)",
                       r->what, key, min, max, d);
    *out = (uint32_t)d;
    return 0;
}

static int hf_u32_required(const hf_reader *r, const char *const *keys, uint32_t min, uint32_t max,
                           uint32_t *out)
{
    int rc = hf_u32(r, keys, min, max, out);
    if (rc == 1) return vp_errf(r->e, VP_EINPUT, "%s: %s: missing (required)", r->what, keys[0]);
    return rc;
}

static int hf_bool(const hf_reader *r, const char *key, bool *out)
{
    const char *k;
    const cJSON *it = hf_find(r, KEYS(key), &k);
    if (!it) return 1;
    if (!cJSON_IsBool(it))
        return vp_errf(r->e, VP_EINPUT, "%s: %s: must be true or false", r->what, key);
    *out = cJSON_IsTrue(it);
    return 0;
}

/* A string field, or NULL when absent or null. Refuses other types. */
static int hf_str(const hf_reader *r, const char *const *keys, const char **out)
{
    const char *key;
    const cJSON *it = hf_find(r, keys, &key);
    *out = NULL;
    if (!it) return 1;
    if (!cJSON_IsString(it) || !it->valuestring)
        return vp_errf(r->e, VP_EINPUT, "%s: %s: must be a string", r->what, key);
    *out = it->valuestring;
    return 0;
}

/* Sliding-window layers: layer_types when the config lists them, otherwise the family's rule. */
static int hf_sliding(const hf_reader *r, hf_family fam, plan_arch *a)
{
    int rc;
    if (fam == FAM_QWEN2 || fam == FAM_QWEN3) {
        /* Qwen configs carry a sliding_window that is off unless use_sliding_window; when on, the
         * layers from max_window_layers up use it. */
        bool use = false;
        if ((rc = hf_bool(r, "use_sliding_window", &use)) < 0) return rc;
        if (!use) return 0;
    }
    uint32_t window = 0;
    rc = hf_u32(r, KEYS("sliding_window", "sliding_window_size"), 1, HF_MAX_WINDOW, &window);
    if (rc < 0) return rc;
    if (rc == 1) return 0;

    uint32_t sliding = a->layers;
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(r->cfg, "layer_types");
    if (types && !cJSON_IsNull(types)) {
        if (!cJSON_IsArray(types) || cJSON_GetArraySize(types) != (int)a->layers)
            return vp_errf(r->e, VP_EINPUT,
                           "%s: layer_types: must be an array of %" PRIu32
                           " strings (one per layer)",
                           r->what, a->layers);
        sliding = 0;
        const cJSON *t;
        cJSON_ArrayForEach(t, types)
        {
            if (!cJSON_IsString(t))
                return vp_errf(r->e, VP_EINPUT, "%s: layer_types: must hold strings", r->what);
            if (!strcmp(t->valuestring, "sliding_attention")) sliding++;
        }
    } else if (fam == FAM_GEMMA2) {
        sliding = (a->layers + 1) / 2; /* layers 0, 2, 4, ... */
    } else if (fam == FAM_QWEN2 || fam == FAM_QWEN3) {
        uint32_t mwl = 28; /* the config classes' default */
        if ((rc = hf_u32(r, KEYS("max_window_layers"), 0, HF_MAX_LAYERS, &mwl)) < 0) return rc;
        sliding = a->layers > mwl ? a->layers - mwl : 0;
    }
    if (sliding == 0) return 0;
    a->sliding_window = window;
    a->sliding_layers = sliding;
    return 0;
}

/* Falcon: kv heads, norms and MLP shape depend on which decoder layout the checkpoint uses. */
static int hf_falcon(const hf_reader *r, const char *model_type, bool kv_given, plan_arch *a)
{
    int rc;
    bool new_arch = model_type && !strcmp(model_type, "RefinedWeb");
    if ((rc = hf_bool(r, "new_decoder_architecture", &new_arch)) < 0) return rc;
    bool multi_query = true; /* FalconConfig's default */
    if ((rc = hf_bool(r, "multi_query", &multi_query)) < 0) return rc;
    bool parallel_attn = true;
    if ((rc = hf_bool(r, "parallel_attn", &parallel_attn)) < 0) return rc;
    bool bias = false;
    if ((rc = hf_bool(r, "bias", &bias)) < 0) return rc;

    /* As FalconAttention does: the old layout with multi_query has one KV head whatever
     * num_kv_heads says; otherwise num_kv_heads, defaulting to the query heads. */
    if (!new_arch && multi_query)
        a->kv_heads = 1;
    else if (!kv_given)
        a->kv_heads = a->heads;
    if (new_arch) {
        uint32_t n_ln = 2;
        if ((rc = hf_u32(r, KEYS("num_ln_in_parallel_attn"), 1, 2, &n_ln)) < 0) return rc;
        a->norms_per_layer = n_ln;
    } else {
        a->norms_per_layer = parallel_attn ? 1 : 2;
    }
    a->norm_bias = true;
    a->mlp_ungated = true;
    a->qkv_bias = a->o_bias = a->mlp_bias = bias;
    if (!a->intermediate) a->intermediate = 4 * a->hidden;
    return 0;
}

static int hf_moe_mla(const hf_reader *r, hf_family fam, plan_arch *a)
{
    int rc;
    if ((rc = hf_u32(r, KEYS("num_local_experts", "n_routed_experts", "num_experts"), 0,
                     HF_MAX_EXPERTS, &a->experts)) < 0)
        return rc;
    if (a->experts) {
        if ((rc = hf_u32_required(r, KEYS("num_experts_per_tok", "moe_topk"), 1, a->experts,
                                  &a->experts_per_tok)) < 0)
            return rc;
        if ((rc = hf_u32(r, KEYS("n_shared_experts"), 0, HF_MAX_EXPERTS, &a->shared_experts)) < 0)
            return rc;
        if ((rc = hf_u32(r, KEYS("moe_intermediate_size"), 1, HF_MAX_INTERMEDIATE,
                         &a->moe_intermediate)) < 0)
            return rc;
        if ((rc = hf_u32(r, KEYS("first_k_dense_replace"), 0, a->layers, &a->first_dense_layers)) <
            0)
            return rc;
        uint32_t freq = 1;
        if ((rc = hf_u32(r, KEYS("moe_layer_freq"), 1, 1, &freq)) < 0) return rc;
        if (!a->moe_intermediate && !a->intermediate)
            return vp_errf(r->e, VP_EINPUT, "%s: moe_intermediate_size: missing (required)",
                           r->what);
        if (a->first_dense_layers && !a->intermediate)
            return vp_errf(r->e, VP_EINPUT,
                           "%s: intermediate_size: missing (needed by first_k_dense_replace)",
                           r->what);
        const char *topk = NULL;
        if ((rc = hf_str(r, KEYS("topk_method"), &topk)) < 0) return rc;
        a->router_bias = fam == FAM_DEEPSEEK_V3 || (topk && !strcmp(topk, "noaux_tc"));
    }
    if ((rc = hf_u32(r, KEYS("kv_lora_rank"), 1, HF_MAX_DIM, &a->kv_lora_rank)) < 0) return rc;
    if (a->kv_lora_rank) {
        if ((rc = hf_u32(r, KEYS("q_lora_rank"), 1, HF_MAX_DIM, &a->q_lora_rank)) < 0) return rc;
        if ((rc = hf_u32_required(r, KEYS("qk_rope_head_dim"), 1, HF_MAX_DIM,
                                  &a->qk_rope_head_dim)) < 0)
            return rc;
        if ((rc = hf_u32_required(r, KEYS("qk_nope_head_dim"), 1, HF_MAX_DIM,
                                  &a->qk_nope_head_dim)) < 0)
            return rc;
        if ((rc = hf_u32_required(r, KEYS("v_head_dim"), 1, HF_MAX_DIM, &a->v_head_dim)) < 0)
            return rc;
    }
    if ((rc = hf_u32(r, KEYS("num_nextn_predict_layers"), 0, HF_MAX_LAYERS, &a->mtp_layers)) < 0)
        return rc;
    return 0;
}

/* quantization_config: which format the checkpoint's linear layers are stored in. */
static int hf_quant(const hf_reader *r, plan_quant *out)
{
    const cJSON *qc = cJSON_GetObjectItemCaseSensitive(r->cfg, "quantization_config");
    *out = PLAN_QUANT_NONE;
    if (!qc || cJSON_IsNull(qc)) return 0;
    if (!cJSON_IsObject(qc))
        return vp_errf(r->e, VP_EINPUT, "%s: quantization_config: must be an object", r->what);
    hf_reader sub = {qc, r->what, r->e};
    const char *m = NULL;
    int rc = hf_str(&sub, KEYS("quant_method"), &m);
    if (rc < 0) return rc;
    if (!m) return vp_errf(r->e, VP_EINPUT, "%s: quantization_config.quant_method: missing", r->what);
    if (!strcmp(m, "bitsandbytes")) {
        bool four = false, eight = false;
        if ((rc = hf_bool(&sub, "load_in_4bit", &four)) < 0) return rc;
        if ((rc = hf_bool(&sub, "load_in_8bit", &eight)) < 0) return rc;
        *out = four ? PLAN_QUANT_BNB4 : PLAN_QUANT_INT8;
        return 0;
    }
    if (!strcmp(m, "compressed-tensors")) {
        /* config_groups.*.weights: {num_bits, type}: 8-bit int or float, or 4-bit groups. */
        const cJSON *groups = cJSON_GetObjectItemCaseSensitive(qc, "config_groups"), *g;
        cJSON_ArrayForEach(g, groups)
        {
            const cJSON *w = cJSON_GetObjectItemCaseSensitive(g, "weights");
            const cJSON *bits = cJSON_GetObjectItemCaseSensitive(w, "num_bits");
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(w, "type");
            if (!cJSON_IsNumber(bits)) continue;
            if (bits->valuedouble == 4) *out = PLAN_QUANT_GPTQ;
            else if (bits->valuedouble == 8)
                *out = cJSON_IsString(type) && !strcmp(type->valuestring, "float") ? PLAN_QUANT_FP8
                                                                                   : PLAN_QUANT_INT8;
            if (*out != PLAN_QUANT_NONE) return 0;
        }
        return vp_errf(r->e, VP_EINPUT,
                       "%s: quantization_config.config_groups: no 4- or 8-bit weight scheme found",
                       r->what);
    }
    if (!strcmp(m, "modelopt")) m = "fp8";
    if (plan_quant_parse(m, out) != 0 || *out == PLAN_QUANT_NONE)
        return vp_errf(r->e, VP_EINPUT,
                       "%s: quantization_config.quant_method: \"%.32s\" is not modelled (%s)",
                       r->what, m, plan_quant_names());
    return 0;
}

int plan_arch_from_hf(const cJSON *cfg, const char *what, plan_arch *arch, vp_err *e)
{
    if (!what) what = "config.json";
    if (!cfg || !cJSON_IsObject(cfg))
        return vp_errf(e, VP_EINPUT, "%s: must be a JSON object", what);
    hf_reader r = {cfg, what, e};
    plan_arch a;
    memset(&a, 0, sizeof a);
    int rc;

    const char *model_type = NULL;
    if ((rc = hf_str(&r, KEYS("model_type"), &model_type)) < 0) return rc;
    if (model_type && !strcmp(model_type, "llava")) {
        if ((rc = fp_hf_llava(cfg, what, &a, e))) return rc;
        *arch = a;
        return 0;
    }
    hf_family fam = FAM_OTHER;
    bool tied = false;
    snprintf(a.family, sizeof a.family, "%s", model_type && *model_type ? model_type : "unknown");
    for (size_t i = 0; model_type && i < VP_ARRAY_LEN(families); i++)
        if (!strcmp(model_type, families[i].model_type)) {
            fam = families[i].fam;
            tied = families[i].tied;
            snprintf(a.family, sizeof a.family, "%s", families[i].name);
            break;
        }

    if ((rc = hf_u32_required(&r, KEYS("num_hidden_layers", "n_layer", "num_layers"), 1,
                              HF_MAX_LAYERS, &a.layers)) < 0)
        return rc;
    if ((rc = hf_u32_required(&r, KEYS("hidden_size", "n_embd", "d_model"), 1, HF_MAX_HIDDEN,
                              &a.hidden)) < 0)
        return rc;
    if ((rc = hf_u32_required(&r, KEYS("num_attention_heads", "n_head"), 1, HF_MAX_HEADS,
                              &a.heads)) < 0)
        return rc;
    rc = hf_u32(&r, KEYS("num_key_value_heads", "num_kv_heads", "n_head_kv"), 1, a.heads,
                &a.kv_heads);
    if (rc < 0) return rc;
    bool kv_given = rc == 0;
    if (!kv_given) {
        bool mq = false;
        if (fam != FAM_FALCON && (rc = hf_bool(&r, "multi_query", &mq)) < 0) return rc;
        a.kv_heads = mq ? 1 : a.heads;
    }
    if ((rc = hf_u32(&r, KEYS("head_dim"), 1, HF_MAX_DIM, &a.head_dim)) < 0) return rc;
    if ((rc = hf_u32(&r, KEYS("intermediate_size", "ffn_hidden_size", "n_inner"), 1,
                     HF_MAX_INTERMEDIATE, &a.intermediate)) < 0)
        return rc;
    if ((rc = hf_u32(&r, KEYS("vocab_size", "n_vocab", "padded_vocab_size"), 1, HF_MAX_VOCAB,
                     &a.vocab)) < 0)
        return rc;
    if ((rc = hf_u32(
             &r,
             KEYS("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"), 1,
             HF_MAX_POSITION, &a.max_position)) < 0)
        return rc;
    if ((rc = hf_bool(&r, "tie_word_embeddings", &tied)) < 0) return rc;
    a.tied_embeddings = tied;

    const char *dt = NULL;
    a.torch_dtype = PLAN_DT_BF16;
    if ((rc = hf_str(&r, KEYS("torch_dtype", "dtype"), &dt)) < 0) return rc;
    if (dt && plan_dtype_parse(dt, &a.torch_dtype) != 0) {
        const char *key = "torch_dtype";
        hf_find(&r, KEYS("torch_dtype", "dtype"), &key);
        return vp_errf(e, VP_EINPUT, "%s: %s: unknown dtype \"%.64s\"", what, key, dt);
    }
    if (a.torch_dtype == PLAN_DT_FP32) {
        /* Engines serve a float32 checkpoint at 16 bits (vLLM's _get_and_verify_dtype picks
         * bfloat16 for float32 configs; llama.cpp converts to f16/bf16): the footprint follows
         * them, and the caller can say so. */
        a.torch_dtype = PLAN_DT_BF16;
        a.fp32_checkpoint = true;
    }
    if ((rc = hf_quant(&r, &a.quant)) < 0) return rc;

    /* Biases: llama-style attention_bias covers q,k,v,o; qwen2 always has q,k,v bias only. */
    bool attn_bias = false, mlp_bias = false;
    if ((rc = hf_bool(&r, "attention_bias", &attn_bias)) < 0) return rc;
    if ((rc = hf_bool(&r, "mlp_bias", &mlp_bias)) < 0) return rc;
    a.qkv_bias = a.o_bias = attn_bias;
    a.mlp_bias = mlp_bias;
    if (fam == FAM_QWEN2) {
        a.qkv_bias = true;
        a.o_bias = false;
    }
    if (fam == FAM_QWEN3) a.qk_norm = true;
    if (fam == FAM_GEMMA2) a.norms_per_layer = 4;
    if (fam == FAM_FALCON && (rc = hf_falcon(&r, model_type, kv_given, &a)) < 0) return rc;
    if (a.heads % a.kv_heads)
        return vp_errf(e, VP_EINPUT,
                       "%s: num_key_value_heads: %" PRIu32
                       " does not divide num_attention_heads %" PRIu32,
                       what, a.kv_heads, a.heads);

    if ((rc = hf_moe_mla(&r, fam, &a)) < 0) return rc;
    if (!a.head_dim && !a.kv_lora_rank) {
        if (a.hidden % a.heads)
            return vp_errf(e, VP_EINPUT,
                           "%s: head_dim: missing, and hidden_size %" PRIu32
                           " is not a multiple of num_attention_heads %" PRIu32,
                           what, a.hidden, a.heads);
        a.head_dim = a.hidden / a.heads;
    }
    if ((rc = hf_sliding(&r, fam, &a)) < 0) return rc;

    /* Count when the config has architecture enough and nothing this count does not model;
     * otherwise params stays 0 (unknown) and the caller must give it. */
    bool unmodelled = false;
    static const char *const unmodelled_keys[] = {"shared_expert_intermediate_size",
                                                  "vision_config", "audio_config", NULL};
    for (const char *const *k = unmodelled_keys; *k; k++) {
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(cfg, *k);
        if (it && !cJSON_IsNull(it)) unmodelled = true;
    }
    if (!unmodelled && a.vocab && (a.intermediate || a.experts)) {
        vp_err ce = {0};
        rc = plan_arch_count_params(&a, &ce);
        if (rc) return vp_errf(e, rc, "%s: %s", what, ce.msg);
    }
    *arch = a;
    return 0;
}

int plan_arch_from_hf_file(const char *path, plan_arch *arch, vp_err *e)
{
    cJSON *cfg;
    int rc = vp_json_load(path, HF_MAX_FILE_BYTES, &cfg, e);
    if (rc) return rc;
    rc = plan_arch_from_hf(cfg, path, arch, e);
    cJSON_Delete(cfg);
    return rc;
}

/* ---- counting ---- */


static int need(uint64_t v, const char *field, vp_err *e)
{
    if (v) return 0;
    return vp_errf(e, VP_EINPUT, "%s: missing; cannot count parameters", field);
}

static int attention_params(const plan_arch *a, bool *ovf, uint64_t *out, vp_err *e)
{
    uint64_t h = a->hidden, heads = a->heads;
    int rc;
    if (a->kv_lora_rank) {
        if ((rc = need(a->qk_rope_head_dim, "qk_rope_head_dim", e)) ||
            (rc = need(a->qk_nope_head_dim, "qk_nope_head_dim", e)) ||
            (rc = need(a->v_head_dim, "v_head_dim", e)))
            return rc;
        uint64_t rope = a->qk_rope_head_dim, nope = a->qk_nope_head_dim, v = a->v_head_dim;
        uint64_t kvl = a->kv_lora_rank, ql = a->q_lora_rank;
        uint64_t q_out = fp_mul(ovf, heads, nope + rope);
        uint64_t q =
            ql ? fp_add(ovf, fp_add(ovf, fp_mul(ovf, h, ql), ql), fp_mul(ovf, ql, q_out)) : fp_mul(ovf, h, q_out);
        uint64_t kv_a = fp_add(ovf, fp_mul(ovf, h, kvl + rope), kvl); /* + kv_a_layernorm */
        uint64_t kv_b = fp_mul(ovf, kvl, fp_mul(ovf, heads, nope + v));
        uint64_t o = fp_mul(ovf, fp_mul(ovf, heads, v), h);
        *out = fp_add(ovf, fp_add(ovf, q, kv_a), fp_add(ovf, kv_b, o));
        return 0;
    }
    uint64_t hd = a->head_dim;
    if (!hd) {
        if (h % heads)
            return vp_errf(e, VP_EINPUT,
                           "head_dim: missing, and hidden %" PRIu64
                           " is not a multiple of heads %" PRIu64,
                           h, heads);
        hd = h / heads;
    }
    uint64_t kvh = a->kv_heads ? a->kv_heads : heads;
    uint64_t q_out = fp_mul(ovf, heads, hd), kv_out = fp_mul(ovf, kvh, hd);
    uint64_t qkv_out = fp_add(ovf, q_out, fp_mul(ovf, 2, kv_out));
    uint64_t p = fp_add(ovf, fp_mul(ovf, h, qkv_out), fp_mul(ovf, q_out, h));
    if (a->qkv_bias) p = fp_add(ovf, p, qkv_out);
    if (a->o_bias) p = fp_add(ovf, p, h);
    if (a->qk_norm) p = fp_add(ovf, p, fp_mul(ovf, 2, hd));
    *out = p;
    return 0;
}

/* One MLP of inner size `inter`: 3 matrices (gate, up, down) or 2 (up, down), + biases. */
static uint64_t mlp_params(const plan_arch *a, uint64_t inter, bool *ovf)
{
    uint64_t mats = a->mlp_ungated ? 2 : 3;
    uint64_t p = fp_mul(ovf, mats, fp_mul(ovf, a->hidden, inter));
    if (a->mlp_bias) p = fp_add(ovf, p, fp_add(ovf, fp_mul(ovf, mats - 1, inter), a->hidden));
    return p;
}

int plan_arch_layer_params(const plan_arch *a, uint32_t layer, uint64_t *total, uint64_t *active,
                           vp_err *e)
{
    int rc;
    if ((rc = need(a->hidden, "hidden", e)) || (rc = need(a->heads, "heads", e)) ||
        (rc = need(a->layers, "layers", e)))
        return rc;
    if (layer >= a->layers)
        return vp_errf(e, VP_EINPUT, "layer %" PRIu32 ": out of range (%" PRIu32 " layers)", layer,
                       a->layers);
    bool ovf = false;
    uint64_t attn = 0;
    if ((rc = attention_params(a, &ovf, &attn, e))) return rc;
    uint64_t norms = fp_mul(&ovf, fp_mul(&ovf, a->norms_per_layer ? a->norms_per_layer : 2, a->hidden),
                         a->norm_bias ? 2 : 1);
    uint64_t mlp, mlp_active;
    if (!a->experts || layer < a->first_dense_layers) {
        if ((rc = need(a->intermediate, "intermediate", e))) return rc;
        mlp = mlp_active = mlp_params(a, a->intermediate, &ovf);
    } else {
        uint64_t inter = a->moe_intermediate ? a->moe_intermediate : a->intermediate;
        if ((rc = need(inter, "moe_intermediate", e)) ||
            (rc = need(a->experts_per_tok, "experts_per_tok", e)))
            return rc;
        if (a->experts_per_tok > a->experts)
            return vp_errf(e, VP_EINPUT,
                           "experts_per_tok: %" PRIu32 " is more than the %" PRIu32 " experts",
                           a->experts_per_tok, a->experts);
        uint64_t expert = mlp_params(a, inter, &ovf);
        uint64_t router = fp_mul(&ovf, a->hidden, a->experts);
        if (a->router_bias) router = fp_add(&ovf, router, a->experts);
        mlp = fp_add(&ovf, fp_mul(&ovf, expert, (uint64_t)a->experts + a->shared_experts), router);
        mlp_active =
            fp_add(&ovf, fp_mul(&ovf, expert, (uint64_t)a->experts_per_tok + a->shared_experts), router);
    }
    uint64_t t = fp_add(&ovf, fp_add(&ovf, attn, norms), mlp);
    uint64_t act = fp_add(&ovf, fp_add(&ovf, attn, norms), mlp_active);
    if (ovf) return vp_errf(e, VP_EOVERFLOW, "parameter count of one layer exceeds 64 bits");
    *total = t;
    *active = act;
    return 0;
}

void plan_arch_edge_params(const plan_arch *a, uint64_t *embed, uint64_t *final_norm,
                           uint64_t *lm_head)
{
    /* Each is a product of two 32-bit values (or 2 x 32-bit): no overflow in 64 bits. */
    *embed = (uint64_t)a->vocab * a->hidden;
    *final_norm = (uint64_t)a->hidden * (a->norm_bias ? 2 : 1);
    *lm_head = a->tied_embeddings ? 0 : *embed;
}

int plan_arch_count_params(plan_arch *arch, vp_err *e)
{
    int rc;
    if ((rc = need(arch->layers, "layers", e)) || (rc = need(arch->vocab, "vocab", e))) return rc;
    /* Layers come in at most two shapes: the first first_dense_layers dense ones, then MoE. */
    uint32_t dense = arch->experts ? arch->first_dense_layers : arch->layers;
    if (dense > arch->layers) dense = arch->layers;
    uint32_t moe = arch->layers - dense;
    uint64_t d_tot = 0, d_act = 0, m_tot = 0, m_act = 0;
    if (dense && (rc = plan_arch_layer_params(arch, 0, &d_tot, &d_act, e))) return rc;
    if (moe && (rc = plan_arch_layer_params(arch, dense, &m_tot, &m_act, e))) return rc;
    uint64_t embed, final_norm, lm_head;
    plan_arch_edge_params(arch, &embed, &final_norm, &lm_head);
    bool ovf = false;
    uint64_t edges = fp_add(&ovf, fp_add(&ovf, embed, final_norm), lm_head);
    uint64_t total = fp_add(&ovf, edges, fp_add(&ovf, fp_mul(&ovf, dense, d_tot), fp_mul(&ovf, moe, m_tot)));
    uint64_t active = fp_add(&ovf, edges, fp_add(&ovf, fp_mul(&ovf, dense, d_act), fp_mul(&ovf, moe, m_act)));
    if (ovf) return vp_errf(e, VP_EOVERFLOW, "parameter count exceeds 64 bits");
    arch->params = total;
    arch->active_params = active;
    return 0;
}
