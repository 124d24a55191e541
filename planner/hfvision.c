/* hfvision.c - LLaVA configs: the language model from text_config, the vision tower and projector
 * from vision_config (DESIGN.md "Memory math"; issue: multimodal encoders).
 *
 * A llava config (transformers' LlavaConfig) nests the language model's config as text_config and
 * the CLIP vision tower's as vision_config, and - as transformers writes them - leaves out every
 * field equal to its class default. Those defaults are filled in here (LlamaConfig: hidden 4096,
 * intermediate 11008, 32 layers, 32 heads, vocab 32000, 2048 positions; CLIPVisionConfig: hidden
 * 768, intermediate 3072, 12 layers, image 224, patch 32) so that llava-hf/llava-1.5-7b-hf's own
 * config counts to its 7,063,427,072 parameters: 6,738,939,904 in the language model, 303,507,456
 * in the CLIP ViT-L/14-336 tower (patch embedding without bias, class and position embeddings,
 * pre- and post-layernorm, 24 layers of biased q/k/v/o, two layernorms and a 4096-wide MLP) and
 * 20,979,712 in the two-layer GELU projector (vision hidden -> text hidden -> text hidden, with
 * biases). An image becomes (image_size / patch_size)^2 tokens: 576 at 336 px and patch 14 (the
 * "default" feature strategy drops the class token; "full" keeps it). */
#include <stdio.h>
#include <string.h>

#include "fp_int.h"
#include "vp_json.h"

/* Adds key = v to o unless present. */
static int dflt(cJSON *o, const char *key, double v)
{
    if (cJSON_GetObjectItemCaseSensitive(o, key)) return 0;
    return cJSON_AddNumberToObject(o, key, v) ? 0 : -1;
}

static int get_u32(const cJSON *o, const char *key, const char *what, uint32_t max, uint32_t *out,
                   vp_err *e)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(it) || it->valuedouble < 1 || it->valuedouble > max ||
        it->valuedouble != (double)(uint32_t)it->valuedouble)
        return vp_errf(e, VP_EINPUT, "%s: vision_config.%s: must be an integer in [1, %u]", what,
                       key, max);
    *out = (uint32_t)it->valuedouble;
    return 0;
}

/* The CLIP tower and projector of a llava config into a. */
static int vision(const cJSON *cfg, const char *what, plan_arch *a, vp_err *e)
{
    const cJSON *vc = cJSON_GetObjectItemCaseSensitive(cfg, "vision_config");
    if (!cJSON_IsObject(vc))
        return vp_errf(e, VP_EINPUT, "%s: vision_config: missing or not an object", what);
    cJSON *v = cJSON_Duplicate(vc, 1);
    if (!v || dflt(v, "hidden_size", 768) || dflt(v, "intermediate_size", 3072) ||
        dflt(v, "num_hidden_layers", 12) || dflt(v, "image_size", 224) ||
        dflt(v, "patch_size", 32)) {
        cJSON_Delete(v);
        return vp_errf(e, -12, "%s: out of memory", what);
    }
    uint32_t h = 0, inter = 0, layers = 0, img = 0, patch = 1;
    int rc;
    if ((rc = get_u32(v, "hidden_size", what, 100000, &h, e)) ||
        (rc = get_u32(v, "intermediate_size", what, 1000000, &inter, e)) ||
        (rc = get_u32(v, "num_hidden_layers", what, 1000, &layers, e)) ||
        (rc = get_u32(v, "image_size", what, 100000, &img, e)) ||
        (rc = get_u32(v, "patch_size", what, 10000, &patch, e))) {
        cJSON_Delete(v);
        return rc;
    }
    cJSON_Delete(v);
    if (img % patch)
        return vp_errf(e, VP_EINPUT,
                       "%s: vision_config.image_size: %u is not a multiple of "
                       "patch_size %u",
                       what, img, patch);
    uint64_t H = h, I = inter, side = img / patch, patches = side * side, th = a->hidden;
    uint64_t layer = 4 * (H * H + H) + 4 * H + (H * I + I) + (I * H + H);
    uint64_t tower =
        3 * (uint64_t)patch * patch * H + H + (patches + 1) * H + 2 * H + layers * layer + 2 * H;
    uint64_t projector = H * th + th + th * th + th;
    a->vision_params = tower + projector;
    a->vision_hidden = h;
    a->vision_intermediate = inter;
    a->vision_layers = layers;
    a->vision_patches = (uint32_t)patches;
    const cJSON *strategy = cJSON_GetObjectItemCaseSensitive(cfg, "vision_feature_select_strategy");
    bool full = cJSON_IsString(strategy) && !strcmp(strategy->valuestring, "full");
    a->image_tokens = (uint32_t)(patches + (full ? 1 : 0));
    return 0;
}

int fp_hf_llava(const cJSON *cfg, const char *what, plan_arch *a, vp_err *e)
{
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(cfg, "text_config");
    if (!cJSON_IsObject(tc))
        return vp_errf(e, VP_EINPUT, "%s: text_config: missing or not an object", what);
    cJSON *t = cJSON_Duplicate(tc, 1);
    bool llama = true;
    const cJSON *mt = t ? cJSON_GetObjectItemCaseSensitive(t, "model_type") : NULL;
    if (mt && (!cJSON_IsString(mt) || strcmp(mt->valuestring, "llama"))) llama = false;
    if (!t || (!mt && !cJSON_AddStringToObject(t, "model_type", "llama")) ||
        (llama && (dflt(t, "hidden_size", 4096) || dflt(t, "intermediate_size", 11008) ||
                   dflt(t, "num_hidden_layers", 32) || dflt(t, "num_attention_heads", 32) ||
                   dflt(t, "vocab_size", 32000) || dflt(t, "max_position_embeddings", 2048)))) {
        cJSON_Delete(t);
        return vp_errf(e, -12, "%s: out of memory", what);
    }
    /* The outer config's dtype and vocabulary win, as LlavaConfig passes them down. */
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(cfg, "torch_dtype");
    if (cJSON_IsString(dt) && !cJSON_GetObjectItemCaseSensitive(t, "torch_dtype"))
        cJSON_AddStringToObject(t, "torch_dtype", dt->valuestring);
    char sub[300];
    snprintf(sub, sizeof sub, "%s: text_config", what);
    int rc = plan_arch_from_hf(t, sub, a, e);
    cJSON_Delete(t);
    if (rc) return rc;
    snprintf(a->family, sizeof a->family, "llava");
    return vision(cfg, what, a, e);
}
