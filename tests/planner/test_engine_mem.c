/* test_engine_mem.c - engine memory profiles term by term, against bytes worked out by hand from
 * the formulas engine_mem.c cites; quantized checkpoints and GGUF placement rules; engine flags
 * and versions; what plan_fp_fit makes of a GPU. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "engine_mem.h"
#include "footprint.h"
#include "hf_fixture.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)
/* Llama-3.1-8B: one token of its MLP peak in bf16, (3 x 14336 + 3 x 4096) x 2. */
#define L8_TOKEN 110592ULL
#define L8_EMBED 525336576ULL /* 128256 x 4096 */

static plan_fp_opts engine_opts(eng_kind k, const char *version, uint64_t seq)
{
    plan_fp_opts o;
    plan_fp_opts_default(&o);
    o.dtype = PLAN_DT_BF16;
    o.kv_dtype = PLAN_DT_BF16;
    o.engine = k;
    o.seq_len = seq;
    if (version && plan_engine_version_parse(version, &o.engine_version))
        fail_msg("version %s", version);
    return o;
}

static void versions_read_as_the_engines_print_them(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint32_t v;
    } ok[] = {{"0.6.4", 604},       {"0.15.1", 1501},    {"b4567", 4567},      {"4567", 4567},
              {"0.8.5.post1", 805}, {"0.10.1rc1", 1001}, {"0.4.3.post4", 403}, {"1.0", 10000}};
    for (size_t i = 0; i < VP_ARRAY_LEN(ok); i++) {
        uint32_t v = 0;
        if (plan_engine_version_parse(ok[i].s, &v) || v != ok[i].v)
            fail_msg("%s: got %u, want %u", ok[i].s, v, ok[i].v);
    }
    static const char *const bad[] = {"", "x1", "0.100.0", "1..2", "0.6.4!", "999999", NULL};
    for (size_t i = 0; bad[i]; i++) {
        uint32_t v = 7;
        if (plan_engine_version_parse(bad[i], &v) != VP_EINPUT || v != 7)
            fail_msg("\"%s\" accepted as %u", bad[i], v);
    }
}

static void each_version_selects_its_profile_and_none_selects_the_newest(void **state)
{
    (void)state;
    assert_string_equal(plan_engine_profile_label(ENG_VLLM, 604), "vllm 0.5.0-0.6.4 (V0)");
    assert_string_equal(plan_engine_profile_label(ENG_VLLM, 605), "vllm 0.6.5-0.7.x (V0)");
    assert_string_equal(plan_engine_profile_label(ENG_VLLM, 900), "vllm 0.8-0.9 (V1)");
    assert_string_equal(plan_engine_profile_label(ENG_VLLM, 1501), "vllm 0.10+ (V1)");
    assert_string_equal(plan_engine_profile_label(ENG_VLLM, 0), "vllm 0.10+ (V1)");
    assert_string_equal(plan_engine_profile_label(ENG_LLAMACPP, 5434), "llama.cpp b1-b5434");
    assert_string_equal(plan_engine_profile_label(ENG_LLAMACPP, 5435), "llama.cpp b5435+");
    assert_string_equal(plan_engine_profile_label(ENG_SGLANG, 403), "sglang 0.3+");
    assert_null(plan_engine_profile_label(ENG_BUILTIN, 0));
    assert_false(plan_engine_has_profile(ENG_COMMAND));
}

static void engine_args_set_the_flags_that_move_memory(void **state)
{
    (void)state;
    plan_fp_opts o;
    plan_fp_opts_default(&o);
    char *vllm[] = {"--max-num-batched-tokens",
                    "4096",
                    "--enforce-eager",
                    "--kv-cache-dtype=fp8",
                    "--quantization",
                    "awq",
                    "--max-num-seqs=64",
                    "--port",
                    "8000",
                    NULL};
    vp_err e = {0};
    assert_int_equal(plan_engine_args_apply(ENG_VLLM, vllm, &o, &e), 0);
    assert_int_equal(o.max_batched_tokens, 4096);
    assert_int_equal(o.max_seqs, 64);
    assert_true(o.enforce_eager);
    assert_int_equal(o.kv_dtype, PLAN_DT_FP8);
    assert_int_equal(o.quant, PLAN_QUANT_AWQ);
    char *off[] = {"--enable-chunked-prefill=false", NULL};
    assert_int_equal(plan_engine_args_apply(ENG_VLLM, off, &o, &e), 0);
    assert_true(o.chunked_prefill_off);

    plan_fp_opts l;
    plan_fp_opts_default(&l);
    char *cpp[] = {"-ub", "256", "-fa", "--max-num-seqs", "9", NULL}; /* the last is vLLM's */
    assert_int_equal(plan_engine_args_apply(ENG_LLAMACPP, cpp, &l, &e), 0);
    assert_int_equal(l.ubatch, 256);
    assert_true(l.flash_attn);
    assert_int_equal(l.max_seqs, 0);

    char *bad[] = {"--max-num-seqs", "lots", NULL};
    assert_int_equal(plan_engine_args_apply(ENG_VLLM, bad, &o, &e), VP_EINPUT);
    assert_non_null(strstr(e.msg, "--max-num-seqs"));
    char *missing[] = {"--block-size", NULL};
    assert_int_equal(plan_engine_args_apply(ENG_VLLM, missing, &o, &e), VP_EINPUT);
    char *kv[] = {"--kv-cache-dtype", "int3", NULL};
    assert_int_equal(plan_engine_args_apply(ENG_SGLANG, kv, &o, &e), VP_EINPUT);
    assert_int_equal(plan_engine_args_apply(ENG_VLLM, NULL, &o, &e), 0);
}

static void vllm_v0_profiles_max_model_len_tokens_unless_chunked_prefill_is_on(void **state)
{
    (void)state;
    plan_arch a = hf_load("llama-3.1-8b.json");
    /* v0.6.4: max(max_model_len, 2048) tokens, 512 with chunked prefill above 32k, no sampler. */
    plan_fp_opts o = engine_opts(ENG_VLLM, "0.6.4", 20000);
    plan_footprint f = fp_compute(&a, &o);
    assert_int_equal(fp_term(&f, "activation_peak"), 20000 * L8_TOKEN);
    o.seq_len = 1000;
    f = fp_compute(&a, &o);
    assert_int_equal(fp_term(&f, "activation_peak"), 2048 * L8_TOKEN);
    o.seq_len = 35000;
    f = fp_compute(&a, &o);
    assert_int_equal(fp_term(&f, "activation_peak"), 512 * L8_TOKEN);
    o.chunked_prefill_off = true;
    f = fp_compute(&a, &o);
    assert_int_equal(fp_term(&f, "activation_peak"), 35000 * L8_TOKEN);
    /* From 0.6.5 the sampler's 10 fp32 [256 x 128256] arrays outweigh 4096 tokens of MLP. */
    o = engine_opts(ENG_VLLM, "0.6.5", 4096);
    f = fp_compute(&a, &o);
    assert_int_equal(fp_term(&f, "activation_peak"), 256ULL * 128256 * 4 * 10);
    /* --max-num-batched-tokens sets the profile run. */
    o.max_batched_tokens = 65536;
    f = fp_compute(&a, &o);
    assert_int_equal(fp_term(&f, "activation_peak"), 65536 * L8_TOKEN);
}

static void vllm_v1_defaults_depend_on_the_gpu_and_tensor_parallelism_splits_the_mlp(void **state)
{
    (void)state;
    plan_arch a = hf_load("llama-3.1-8b.json");
    plan_fp_opts o = engine_opts(ENG_VLLM, "0.10.0", 8192);
    o.gpu_bytes = 24 * GIB; /* under 70 GiB: 2048 tokens, 256 requests, 0.35 GiB non-torch */
    plan_footprint f = fp_compute(&a, &o);
    assert_int_equal(fp_term(&f, "activation_peak"), 256ULL * 128256 * 4 * 3); /* > 2048 x 110592 */
    assert_int_equal(fp_term(&f, "non_torch"), 358 * MIB);
    o.gpu_bytes = 0; /* unknown (the planner): the larger defaults */
    f = fp_compute(&a, &o);
    assert_int_equal(fp_term(&f, "activation_peak"), 1024ULL * 128256 * 4 * 3);
    o.max_seqs = 16;
    f = fp_compute(&a, &o);
    assert_int_equal(fp_term(&f, "activation_peak"), 8192 * L8_TOKEN);
    /* TP 2: the MLP halves, the three hidden-size tensors do not. */
    o.tp = 2;
    f = fp_compute(&a, &o);
    assert_int_equal(fp_term(&f, "activation_peak"), 8192ULL * (3 * 7168 + 3 * 4096) * 2);
    assert_int_equal(fp_term(&f, "non_torch"), 3666 * MIB);
    /* --enforce-eager: no CUDA graphs. */
    plan_fp_opts eager = o;
    eager.enforce_eager = true;
    f = fp_compute(&a, &eager);
    for (size_t i = 0; i < f.n_terms; i++)
        assert_string_not_equal(f.terms[i].name, "cuda_graphs");
}

static void vllm_weights_add_the_rotary_cache_and_kv_rounds_each_sequence_to_16(void **state)
{
    (void)state;
    plan_arch a = hf_load("llama-3.1-8b.json");
    plan_fp_opts o = engine_opts(ENG_VLLM, NULL, 1000);
    o.batch = 3;
    plan_footprint f = fp_compute(&a, &o);
    /* 131,072 positions x 128 rotary dims x 2 bytes on each GPU: 14.9888 GiB as vLLM logs it */
    assert_int_equal(f.gpu_weights_bytes, 16060522496ULL + 131072ULL * 128 * 2);
    assert_int_equal(f.kv_tokens, 3 * 1008);
    assert_int_equal(f.gpu_kv_bytes, 3ULL * 1008 * 131072);
    assert_int_equal(f.kv_token_bytes, 131072);
    assert_int_equal(f.kv_block_tokens, 16);
    /* Unique weights stay the checkpoint's; the whole replica is the one GPU. */
    assert_int_equal(f.weights_bytes, 16060522496ULL);
    assert_int_equal(f.total_bytes, f.per_gpu_bytes);
    assert_int_equal(f.reserve_bytes, 0);
}

static void a_fit_flips_where_capacity_meets_the_context(void **state)
{
    (void)state;
    plan_arch a = hf_load("llama-3.1-8b.json");
    plan_fp_opts o = engine_opts(ENG_VLLM, "0.6.4", 20000);
    uint64_t gpu = 25318167429ULL; /* 23.58 GiB */
    o.gpu_bytes = gpu;             /* a 24 GB card: 0.35 GiB outside PyTorch */
    plan_footprint f = fp_compute(&a, &o);
    plan_fit fit;
    vp_err e = {0};
    assert_int_equal(plan_fp_fit(&f, &o, gpu, 900000, &fit, &e), 0);
    /* budget - weights - activation - non-torch, in blocks of 16 x 128 KiB */
    uint64_t budget = gpu / 10 * 9 + (gpu % 10) * 9 / 10;
    uint64_t avail = budget - f.gpu_weights_bytes - 20000 * L8_TOKEN - 358 * MIB;
    assert_int_equal(fit.budget_bytes, budget);
    assert_int_equal(fit.kv_capacity_tokens, avail / (16 * 131072) * 16);
    assert_true(fit.fits);
    assert_string_equal(fit.reason, "");
    /* Two requests of 20000 tokens do not fit what holds 31,312. */
    o.batch = 2;
    f = fp_compute(&a, &o);
    assert_int_equal(plan_fp_fit(&f, &o, gpu, 900000, &fit, &e), 0);
    assert_false(fit.fits);
    assert_non_null(strstr(fit.reason, "tokens"));
    /* A fraction too small for the weights leaves no KV cache at all. */
    assert_int_equal(plan_fp_fit(&f, &o, gpu, 500000, &fit, &e), 0);
    assert_false(fit.fits);
    assert_true(fit.kv_avail_bytes < 0);
    assert_int_equal(fit.kv_capacity_tokens, 0);
    assert_int_equal(plan_fp_fit(&f, &o, 0, 0, &fit, &e), VP_EINPUT);
    assert_int_equal(plan_fp_fit(&f, &o, gpu, 1000001, &fit, &e), VP_EINPUT);
}

static void sglang_gives_the_pool_its_fraction_of_free_memory_less_the_weights(void **state)
{
    (void)state;
    plan_arch a = hf_load("llama-3.1-8b.json");
    plan_fp_opts o = engine_opts(ENG_SGLANG, NULL, 131072);
    plan_footprint f = fp_compute(&a, &o);
    /* fp32 rotary cache: 131,072 x 128 x 4 */
    assert_int_equal(f.gpu_weights_bytes, 16060522496ULL + 131072ULL * 128 * 4);
    assert_int_equal(f.default_util_ppm, 880000);
    uint64_t gpu = 85060836720ULL; /* 79.22 GiB */
    plan_fit fit;
    vp_err e = {0};
    assert_int_equal(plan_fp_fit(&f, &o, gpu, 0, &fit, &e), 0);
    uint64_t budget = (gpu - 512 * MIB) / 100 * 88 + (gpu - 512 * MIB) % 100 * 88 / 100;
    assert_int_equal(fit.budget_bytes, budget);
    assert_int_equal(fit.kv_capacity_tokens, (budget - f.gpu_weights_bytes) / 131072);
    /* TP 4 takes SGLang's smaller default fraction. */
    o.tp = 4;
    assert_int_equal(fp_compute(&a, &o).default_util_ppm, 850000);
}

static void llama_cpp_keeps_token_embd_on_the_host_and_copies_a_tied_head_to_the_gpu(void **state)
{
    (void)state;
    plan_arch a = hf_load("llama-3.2-1b.json"); /* tied embeddings, 128256 x 2048 */
    plan_fp_opts o = engine_opts(ENG_LLAMACPP, NULL, 4096);
    o.dtype = PLAN_DT_Q4_K_M;
    o.kv_dtype = PLAN_DT_FP16;
    plan_footprint f = fp_compute(&a, &o);
    /* With no output tensor the embedding is stored at the output's type, Q6_K: 210 bytes per
     * 256 weights; it stays on the host and the GPU holds it again as lm_head. */
    uint64_t emb = 128256ULL * 2048 / 256 * 210;
    assert_int_equal(f.host_bytes, emb);
    assert_int_equal(f.gpu_weights_bytes, f.weights_bytes); /* host copy out, GPU copy in */
    assert_int_equal(f.total_bytes, f.per_gpu_bytes);
    /* Llama-3.1-8B, untied: the GPU holds everything but token_embd (Q4_K, 144 bytes / 256). */
    plan_arch b = hf_load("llama-3.1-8b.json");
    f = fp_compute(&b, &o);
    assert_int_equal(f.host_bytes, L8_EMBED / 256 * 144);
    assert_int_equal(f.gpu_weights_bytes, f.weights_bytes - L8_EMBED / 256 * 144);
    /* n_ctx pads to 256 cells: 4000 tokens x 1 sequence take 4096. */
    o.seq_len = 4000;
    f = fp_compute(&b, &o);
    assert_int_equal(f.kv_tokens, 4096);
    assert_int_equal(f.gpu_kv_bytes, 4096ULL * 131072);
    /* Flash attention never materialises KQ: the output step is the peak. */
    o.seq_len = 32768;
    o.flash_attn = true;
    f = fp_compute(&b, &o);
    assert_int_equal(fp_term(&f, "compute_buffer"), 128256ULL * 512 * 4 + 4096 * 512 * 4);
}

static void llama_cpp_trims_sliding_layers_from_b5435_but_never_phi3(void **state)
{
    (void)state;
    plan_arch g = hf_load("gemma-2-9b.json"); /* 42 layers, 21 slide with a 4096 window */
    plan_fp_opts o = engine_opts(ENG_LLAMACPP, "b5000", 32768);
    o.kv_dtype = PLAN_DT_FP16;
    uint64_t per = 2ULL * 8 * 256 * 2; /* K and V, 8 heads of 256, f16: bytes per layer token */
    plan_footprint f = fp_compute(&g, &o);
    assert_int_equal(f.kv_cache_bytes, 42 * 32768 * per);
    o.engine_version = 5435;
    f = fp_compute(&g, &o);
    /* window + n_ubatch = 4608 cells, a multiple of 256 */
    assert_int_equal(f.kv_cache_bytes, 21 * 32768 * per + 21 * 4608 * per);
    plan_arch p = hf_load("phi-3-mini-4k.json");
    plan_fp_opts q = engine_opts(ENG_LLAMACPP, NULL, 4096);
    q.kv_dtype = PLAN_DT_FP16;
    plan_footprint full = fp_compute(&p, &q);
    assert_int_equal(full.kv_cache_bytes, 32ULL * 4096 * 2 * 32 * 96 * 2);
}

static void quantized_checkpoints_keep_embeddings_and_norms_at_16_bit(void **state)
{
    (void)state;
    plan_arch a = hf_load("llama-3.1-8b.json");
    plan_fp_opts o;
    plan_fp_opts_default(&o);
    o.dtype = PLAN_DT_BF16;
    o.quant = PLAN_QUANT_AWQ;
    /* AWQ, group 128: a matrix of R outputs x C inputs is R C / 2 bytes + R (C / 128) x 2.5.
     * q and o 4096 x 4096: 8,716,288; k and v 1024 x 4096: 2,179,072; gate, up, down 14336 x
     * 4096: 30,507,008 each. Embedding and lm_head in bf16, 65 norms of 4096 in bf16. */
    uint64_t layer = 2 * 8716288ULL + 2 * 2179072ULL + 3 * 30507008ULL;
    uint64_t want = 32 * layer + 2 * L8_EMBED * 2 + 65 * 4096 * 2;
    assert_int_equal(fp_compute(&a, &o).weights_bytes, want);
    assert_int_equal(want, 5727854592ULL);
    /* bnb-4bit: 4 bits + 1 byte per 64 + 4 bytes per 256 blocks of 64. */
    o.quant = PLAN_QUANT_BNB4;
    uint64_t q = 16777216ULL / 2 + 16777216 / 64 + 16777216 / 64 / 256 * 4;
    uint64_t kv = 4194304ULL / 2 + 4194304 / 64 + 4194304 / 64 / 256 * 4;
    uint64_t mlp = 58720256ULL / 2 + 58720256 / 64 + 58720256 / 64 / 256 * 4;
    assert_int_equal(fp_compute(&a, &o).weights_bytes,
                     32 * (2 * q + 2 * kv + 3 * mlp) + 2 * L8_EMBED * 2 + 65 * 4096 * 2);
    /* int8: a byte a weight and a 4-byte scale per output row. */
    o.quant = PLAN_QUANT_INT8;
    uint64_t rows = 4096 + 1024 + 1024 + 4096 + 14336 + 14336 + 4096;
    assert_int_equal(fp_compute(&a, &o).weights_bytes, (8030261248ULL - 2 * L8_EMBED - 65 * 4096) +
                                                           32 * rows * 4 + 2 * L8_EMBED * 2 +
                                                           65 * 4096 * 2);
    /* A GGUF dtype is its own quantization. */
    o.dtype = PLAN_DT_Q4_K_M;
    plan_footprint f;
    vp_err e = {0};
    assert_int_equal(plan_footprint_compute(&a, &o, &f, &e), VP_EINPUT);
    assert_non_null(strstr(e.msg, "quantization"));
}

static void the_generic_model_fits_what_the_planner_would_place(void **state)
{
    (void)state;
    plan_arch a = hf_load("llama-3.1-8b.json");
    plan_fp_opts o;
    plan_fp_opts_default(&o);
    o.dtype = o.kv_dtype = PLAN_DT_BF16;
    o.seq_len = 8192;
    plan_footprint f = fp_compute(&a, &o);
    assert_null(f.profile);
    plan_fit fit;
    vp_err e = {0};
    uint64_t gpu = f.per_gpu_bytes / 9 * 10 + 10; /* 90% of it just holds the replica */
    assert_int_equal(plan_fp_fit(&f, &o, gpu, 0, &fit, &e), 0);
    assert_int_equal(fit.util_ppm, 900000);
    assert_true(fit.fits);
    assert_true(fit.kv_capacity_tokens >= 8192);
    assert_int_equal(plan_fp_fit(&f, &o, f.per_gpu_bytes, 0, &fit, &e), 0);
    assert_false(fit.fits);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(versions_read_as_the_engines_print_them),
        cmocka_unit_test(each_version_selects_its_profile_and_none_selects_the_newest),
        cmocka_unit_test(engine_args_set_the_flags_that_move_memory),
        cmocka_unit_test(vllm_v0_profiles_max_model_len_tokens_unless_chunked_prefill_is_on),
        cmocka_unit_test(vllm_v1_defaults_depend_on_the_gpu_and_tensor_parallelism_splits_the_mlp),
        cmocka_unit_test(vllm_weights_add_the_rotary_cache_and_kv_rounds_each_sequence_to_16),
        cmocka_unit_test(a_fit_flips_where_capacity_meets_the_context),
        cmocka_unit_test(sglang_gives_the_pool_its_fraction_of_free_memory_less_the_weights),
        cmocka_unit_test(llama_cpp_keeps_token_embd_on_the_host_and_copies_a_tied_head_to_the_gpu),
        cmocka_unit_test(llama_cpp_trims_sliding_layers_from_b5435_but_never_phi3),
        cmocka_unit_test(quantized_checkpoints_keep_embeddings_and_norms_at_16_bit),
        cmocka_unit_test(the_generic_model_fits_what_the_planner_would_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
