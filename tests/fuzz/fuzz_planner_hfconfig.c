/* fuzz_planner_hfconfig.c - libFuzzer target for HF config.json reading and the memory math:
 * arbitrary bytes go through vp_json_parse, plan_arch_from_hf and, when a config is accepted,
 * plan_footprint_compute under a few parallel layouts, GGUF types and quantizations, and the
 * vLLM, SGLang and llama.cpp profiles with plan_fp_fit on a 24 GiB GPU. Nothing may crash, leak
 * or overflow silently, and every accepted result must keep the footprint's invariants. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "footprint.h"
#include "vp_json.h"

static void check(const plan_arch *a, uint32_t tp, uint32_t pp, plan_dtype dt)
{
    plan_fp_opts o;
    plan_fp_opts_default(&o);
    o.tp = tp;
    o.pp = pp;
    o.dtype = dt;
    plan_footprint f;
    vp_err e = {0};
    if (plan_footprint_compute(a, &o, &f, &e) != 0) {
        if (!e.msg[0]) abort(); /* a refusal always says why */
        return;
    }
    /* total = weights + kv + overhead + reserve, and one GPU holds all of it when alone. */
    if (f.weights_bytes + f.kv_cache_bytes + f.overhead_bytes + f.reserve_bytes != f.total_bytes)
        abort();
    if (tp == 1 && pp == 1 && f.per_gpu_bytes != f.total_bytes) abort();
    if (f.per_gpu_bytes < o.cuda_context_bytes) abort();
    for (uint32_t s = 0; s < pp; s++)
        if (f.stage_gpu_bytes[s] == 0 || f.stage_gpu_bytes[s] > f.per_gpu_bytes) abort();
}

/* An engine profile: one GPU holds the whole replica alone, and a fit is consistent. */
static void check_engine(const plan_arch *a, eng_kind k, plan_dtype dt, plan_quant q)
{
    plan_fp_opts o;
    plan_fp_opts_default(&o);
    o.engine = k;
    o.dtype = dt;
    o.quant = q;
    o.seq_len = 8192;
    plan_footprint f;
    vp_err e = {0};
    if (plan_footprint_compute(a, &o, &f, &e) != 0) {
        if (!e.msg[0]) abort();
        return;
    }
    if (!f.profile || f.per_gpu_bytes != f.total_bytes || f.gpu_kv_bytes > f.per_gpu_bytes) abort();
    uint64_t terms = 0;
    for (size_t i = 0; i < f.n_terms; i++) terms += f.terms[i].bytes;
    if (f.gpu_weights_bytes + f.gpu_kv_bytes + terms != f.per_gpu_bytes) abort();
    plan_fit fit;
    if (plan_fp_fit(&f, &o, 24ULL << 30, 0, &fit, &e) != 0) abort();
    if (fit.fits && fit.kv_capacity_tokens < o.seq_len) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *cfg = NULL;
    vp_err e = {0};
    if (vp_json_parse((const char *)data, size, "fuzz.json", &cfg, &e) != 0) return 0;
    plan_arch a;
    if (plan_arch_from_hf(cfg, "fuzz.json", &a, &e) == 0) {
        if (a.layers == 0 || a.heads == 0 || a.kv_heads == 0) abort();
        if (a.active_params > a.params) abort();
        check(&a, 1, 1, a.torch_dtype);
        check(&a, 8, 1, PLAN_DT_Q4_K_M);
        check(&a, 3, a.layers < 4 ? a.layers : 4, PLAN_DT_BF16);
        check(&a, 2, 1, PLAN_DT_IQ3_M);
        check_engine(&a, ENG_VLLM, PLAN_DT_BF16, a.quant);
        check_engine(&a, ENG_SGLANG, PLAN_DT_FP16, PLAN_QUANT_AWQ);
        check_engine(&a, ENG_LLAMACPP, PLAN_DT_Q5_K_S, PLAN_QUANT_NONE);
    } else if (!e.msg[0]) {
        abort();
    }
    cJSON_Delete(cfg);
    return 0;
}
