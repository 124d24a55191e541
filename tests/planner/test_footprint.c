/* test_footprint.c - the memory math against figures worked out by hand from DESIGN.md's formulas
 * (never against printed examples): weights by dtype, KV cache with GQA/MHA/MQA, sliding windows
 * and MLA, overhead rounding, CUDA context reserve, tensor- and pipeline-parallel splits, and
 * overflow on absurd sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "footprint.h"
#include "hf_fixture.h"

#define MIB (1ULL << 20)
#define CTX (512 * MIB)

/* Llama-3.1-8B, filled by hand as a manifest would. */
static plan_arch llama8b(void)
{
    plan_arch a;
    memset(&a, 0, sizeof a);
    snprintf(a.family, sizeof a.family, "llama");
    a.layers = 32;
    a.hidden = 4096;
    a.intermediate = 14336;
    a.heads = 32;
    a.kv_heads = 8;
    a.vocab = 128256;
    return a;
}

static plan_fp_opts opts(plan_dtype dt, plan_dtype kv, uint64_t seq, uint64_t batch)
{
    plan_fp_opts o;
    plan_fp_opts_default(&o);
    o.dtype = dt;
    o.kv_dtype = kv;
    o.seq_len = seq;
    o.batch = batch;
    return o;
}

static plan_footprint compute(const plan_arch *a, const plan_fp_opts *o)
{
    plan_footprint f;
    vp_err e = {0};
    int rc = plan_footprint_compute(a, o, &f, &e);
    if (rc) fail_msg("rc %d: %s", rc, e.msg);
    return f;
}

static void expect_error(const plan_arch *a, const plan_fp_opts *o, int code, const char *needle)
{
    plan_footprint f;
    vp_err e = {0};
    int rc = plan_footprint_compute(a, o, &f, &e);
    if (rc != code || !strstr(e.msg, needle))
        fail_msg("rc %d msg \"%s\", want rc %d and \"%s\"", rc, e.msg, code, needle);
}

/* One GPU of a stage: w + kv + ceil(10% of both) + context, as DESIGN.md states it. */
static uint64_t gpu_bytes(uint64_t w, uint64_t kv)
{
    return w + kv + (w + kv + 9) / 10 + CTX;
}

static void defaults_are_fp16_4096_tokens_10_percent_and_512_mib(void **state)
{
    (void)state;
    plan_fp_opts o;
    plan_fp_opts_default(&o);
    assert_int_equal(o.dtype, PLAN_DT_FP16);
    assert_int_equal(o.kv_dtype, PLAN_DT_FP16);
    assert_int_equal(o.seq_len, 4096);
    assert_int_equal(o.batch, 1);
    assert_int_equal(o.overhead_ppm, 100000);
    assert_int_equal(o.cuda_context_bytes, 536870912ULL);
    assert_int_equal(o.tp, 1);
    assert_int_equal(o.pp, 1);
}

static void llama_8b_bf16_at_8192_tokens_adds_up_exactly(void **state)
{
    (void)state;
    plan_arch a = llama8b();
    plan_fp_opts o = opts(PLAN_DT_BF16, PLAN_DT_BF16, 8192, 1);
    plan_footprint f = compute(&a, &o);
    assert_int_equal(f.params, 8030261248ULL);
    assert_int_equal(f.weights_bytes, 16060522496ULL); /* 2 bytes x params */
    assert_int_equal(f.kv_cache_bytes, 1073741824ULL); /* 2*32*8*128*8192*1*2 */
    assert_int_equal(f.kv_cache_bytes, 2ULL * 32 * 8 * 128 * 8192 * 1 * 2);
    assert_int_equal(f.overhead_bytes, 1713426432ULL); /* 17,134,264,320 / 10 */
    assert_int_equal(f.reserve_bytes, 536870912ULL);
    assert_int_equal(f.total_bytes, 19384561664ULL);
    /* One GPU holds the whole replica: per GPU equals the total exactly. */
    assert_int_equal(f.per_gpu_bytes, f.total_bytes);
    assert_int_equal(f.stage_gpu_bytes[0], f.total_bytes);
    assert_int_equal(f.tp, 1);
    assert_int_equal(f.pp, 1);
    /* A decode step reads every weight and the whole KV cache. */
    assert_int_equal(f.decode_bytes_per_token, 16060522496ULL + 1073741824ULL);
}

static void the_design_errata_example_is_42_949_672_960_bytes(void **state)
{
    (void)state;
    /* 2 x 80 layers x 8 kv heads x 128 x 4096 tokens x 32 sequences x 2 bytes. */
    plan_arch a = hf_load("llama-3.1-70b.json");
    plan_fp_opts o = opts(PLAN_DT_BF16, PLAN_DT_FP16, 4096, 32);
    plan_footprint f = compute(&a, &o);
    assert_int_equal(f.kv_cache_bytes, 42949672960ULL);
    assert_int_equal(f.kv_cache_bytes, 2ULL * 80 * 8 * 128 * 4096 * 32 * 2);
}

static void mha_stores_four_times_the_kv_of_gqa_with_a_quarter_of_the_heads(void **state)
{
    (void)state;
    plan_arch gqa = llama8b(), mha = llama8b();
    mha.kv_heads = 32;
    mha.params = gqa.params = 8030261248ULL; /* same weights: only the cache differs */
    plan_fp_opts o = opts(PLAN_DT_BF16, PLAN_DT_FP16, 8192, 1);
    assert_int_equal(compute(&gqa, &o).kv_cache_bytes, 1073741824ULL);
    assert_int_equal(compute(&mha, &o).kv_cache_bytes, 4294967296ULL);
    /* kv_heads absent means one KV head per query head. */
    mha.kv_heads = 0;
    assert_int_equal(compute(&mha, &o).kv_cache_bytes, 4294967296ULL);
}

static void multi_query_gemma_2b_keeps_one_kv_head(void **state)
{
    (void)state;
    plan_arch a = hf_load("gemma-2b.json");
    plan_fp_opts o = opts(PLAN_DT_BF16, PLAN_DT_FP16, 8192, 4);
    assert_int_equal(compute(&a, &o).kv_cache_bytes, 2ULL * 18 * 1 * 256 * 8192 * 4 * 2);
    assert_int_equal(compute(&a, &o).kv_cache_bytes, 603979776ULL);
}

static void sliding_windows_cap_the_tokens_of_the_layers_that_use_them(void **state)
{
    (void)state;
    plan_arch m = hf_load("mistral-7b-v0.1.json");
    plan_fp_opts o = opts(PLAN_DT_BF16, PLAN_DT_FP16, 32768, 1);
    /* Every layer keeps at most 4096 tokens. */
    assert_int_equal(compute(&m, &o).kv_cache_bytes, 2ULL * 32 * 8 * 128 * 4096 * 2);
    o.seq_len = 2048; /* below the window: no cap */
    assert_int_equal(compute(&m, &o).kv_cache_bytes, 2ULL * 32 * 8 * 128 * 2048 * 2);

    /* Gemma-2: 21 sliding layers at 4096 tokens, 21 global ones at 8192. */
    plan_arch g = hf_load("gemma-2-9b.json");
    o.seq_len = 8192;
    uint64_t per_token_layer = 2ULL * 8 * 256 * 2;
    plan_footprint f = compute(&g, &o);
    assert_int_equal(f.kv_cache_bytes, per_token_layer * (21 * 4096 + 21 * 8192));
    assert_int_equal(f.kv_cache_bytes, 2113929216ULL);

    /* Two stages of 21 layers: the first holds layers 0..20, of which 11 slide (0, 2, ..20). */
    o.pp = 2;
    o.overhead_ppm = 0;
    o.cuda_context_bytes = 0;
    f = compute(&g, &o);
    uint64_t kv0 = per_token_layer * (11 * 4096 + 10 * 8192);
    uint64_t kv1 = per_token_layer * (10 * 4096 + 11 * 8192);
    assert_int_equal(kv0 + kv1, 2113929216ULL);
    /* gemma-2 ties its embeddings: the last stage also holds an lm_head copy (256000 x 3584). */
    uint64_t layer = 198195200ULL, embed = 256000ULL * 3584;
    assert_int_equal(f.stage_gpu_bytes[0], (21 * layer + embed) * 2 + kv0);
    assert_int_equal(f.stage_gpu_bytes[1], (21 * layer + 3584 + embed) * 2 + kv1);
}

static void mla_stores_one_latent_copy_per_token_replicated_on_every_rank(void **state)
{
    (void)state;
    plan_arch a = hf_load("deepseek-v2-lite.json");
    plan_fp_opts o = opts(PLAN_DT_BF16, PLAN_DT_BF16, 4096, 1);
    plan_footprint f = compute(&a, &o);
    /* 27 layers x (512 + 64) x 4096 tokens x 2 bytes: not x 2 for K and V, not heads x dims. */
    assert_int_equal(f.kv_cache_bytes, 27ULL * 576 * 4096 * 2);
    assert_int_equal(f.kv_cache_bytes, 127401984ULL);
    assert_int_equal(f.weights_bytes, 31412968448ULL);
    /* MoE: decode reads the active experts only. */
    assert_int_equal(f.decode_bytes_per_token, 2661150208ULL * 2 + 127401984ULL);

    o.tp = 2;
    f = compute(&a, &o);
    assert_int_equal(f.per_gpu_bytes, gpu_bytes(31412968448ULL / 2, 127401984ULL));
    assert_int_equal(f.reserve_bytes, 2 * CTX);
}

static void mixtral_keeps_all_experts_resident(void **state)
{
    (void)state;
    plan_arch a = hf_load("mixtral-8x7b-v0.1.json");
    plan_fp_opts o = opts(PLAN_DT_BF16, PLAN_DT_FP16, 4096, 1);
    plan_footprint f = compute(&a, &o);
    assert_int_equal(f.weights_bytes, 46702792704ULL * 2);
    assert_int_equal(f.decode_bytes_per_token, 12879925248ULL * 2 + 2ULL * 32 * 8 * 128 * 4096 * 2);
}

static void quantised_weights_use_their_real_bits_per_weight(void **state)
{
    (void)state;
    plan_arch a = llama8b();
    plan_fp_opts o = opts(PLAN_DT_INT4, PLAN_DT_FP16, 4096, 1);
    assert_int_equal(compute(&a, &o).weights_bytes, 4015130624ULL); /* params / 2 */
    o.dtype = PLAN_DT_FP32;
    assert_int_equal(compute(&a, &o).weights_bytes, 32121044992ULL);
    o.dtype = PLAN_DT_FP8;
    assert_int_equal(compute(&a, &o).weights_bytes, 8030261248ULL);

    /* GGUF types sum llama.cpp's mix tensor by tensor. q8_0: all 8,029,995,008 matrix weights
     * at 34 bytes per 32, the 65 norm vectors of 4096 in f32. */
    o.dtype = PLAN_DT_Q8_0;
    assert_int_equal(compute(&a, &o).weights_bytes, 8029995008ULL / 32 * 34 + 266240ULL * 4);
    /* q6_k: Q6_K everywhere, 210 bytes per 256 weights. */
    o.dtype = PLAN_DT_Q6_K;
    assert_int_equal(compute(&a, &o).weights_bytes, 8029995008ULL / 256 * 210 + 266240ULL * 4);
    /* q4_0: Q4_0 (18 bytes per 32) but lm_head at Q6_K. */
    o.dtype = PLAN_DT_Q4_0;
    uint64_t emb = 525336576ULL;
    assert_int_equal(compute(&a, &o).weights_bytes,
                     (8029995008ULL - emb) / 32 * 18 + emb / 256 * 210 + 266240ULL * 4);

    /* Without a breakdown: the fraction of dtype.c, rounded up once. */
    plan_arch b;
    memset(&b, 0, sizeof b);
    b.params = 1000000001ULL;
    b.layers = 1;
    b.kv_heads = 1;
    b.head_dim = 1;
    o.dtype = PLAN_DT_INT4;
    assert_int_equal(compute(&b, &o).weights_bytes, 500000001ULL); /* 500,000,000.5 */
    o.dtype = PLAN_DT_Q4_K_M;
    uint64_t num, den, want = 0;
    plan_dtype_bits(PLAN_DT_Q4_K_M, &num, &den);
    vp_muldiv_ceil_u64(b.params, num, den * 8, &want);
    assert_int_equal(compute(&b, &o).weights_bytes, want);
    assert_int_equal(want, 611798036ULL); /* 1,000,000,001 x 4.8944 / 8 */
}

static void tensor_parallel_splits_weights_and_kv_heads(void **state)
{
    (void)state;
    plan_arch a = llama8b();
    plan_fp_opts o = opts(PLAN_DT_BF16, PLAN_DT_BF16, 8192, 1);
    o.tp = 2;
    plan_footprint f = compute(&a, &o);
    /* Each GPU: half the weights, 4 of the 8 KV heads. */
    assert_int_equal(f.per_gpu_bytes, gpu_bytes(8030261248ULL, 536870912ULL));
    assert_int_equal(f.per_gpu_bytes, 9960716288ULL);
    assert_int_equal(f.reserve_bytes, 2 * CTX);
    assert_int_equal(f.total_bytes, 16060522496ULL + 1073741824ULL + 1713426432ULL + 2 * CTX);

    /* tp 16 > 8 KV heads: each GPU still keeps one whole head, 1/8 of the cache, not 1/16. */
    o.tp = 16;
    f = compute(&a, &o);
    uint64_t kv_gpu = 2ULL * 32 * 1 * 128 * 8192 * 2;
    assert_int_equal(kv_gpu, 134217728ULL);
    assert_int_equal(f.per_gpu_bytes, gpu_bytes(16060522496ULL / 16, kv_gpu));
    assert_int_equal(f.per_gpu_bytes, 1788671335ULL);

    /* Multi-query Falcon-7B: the single KV head is replicated on all 4 GPUs. */
    plan_arch fa = hf_load("falcon-7b.json");
    o.tp = 4;
    o.seq_len = 2048;
    f = compute(&fa, &o);
    uint64_t kv = 2ULL * 32 * 1 * 64 * 2048 * 2;
    assert_int_equal(f.kv_cache_bytes, kv);
    assert_int_equal(f.per_gpu_bytes, gpu_bytes((6921720704ULL * 2 + 3) / 4, kv));
}

static void pipeline_stages_split_layers_evenly_with_embeddings_first_and_head_last(void **state)
{
    (void)state;
    plan_arch a = llama8b();
    plan_fp_opts o = opts(PLAN_DT_BF16, PLAN_DT_BF16, 8192, 1);
    o.pp = 3;
    plan_footprint f = compute(&a, &o);
    /* 32 layers over 3 stages: 11, 11, 10. A layer is 218,112,000 params; the embedding and
     * lm_head 128256 x 4096 = 525,336,576 each; the final norm 4096. */
    uint64_t layer = 218112000ULL, emb = 525336576ULL, kv_layer = 2ULL * 8 * 128 * 8192 * 2;
    uint64_t p0 = 11 * layer + emb, p1 = 11 * layer, p2 = 10 * layer + 4096 + emb;
    assert_int_equal(p0 + p1 + p2, 8030261248ULL);
    assert_int_equal(f.stage_gpu_bytes[0], gpu_bytes(2 * p0, 11 * kv_layer));
    assert_int_equal(f.stage_gpu_bytes[0], 7376930407ULL);
    assert_int_equal(f.stage_gpu_bytes[1], gpu_bytes(2 * p1, 11 * kv_layer));
    assert_int_equal(f.stage_gpu_bytes[2], gpu_bytes(2 * p2, 10 * kv_layer));
    assert_int_equal(f.stage_gpu_bytes[3], 0);
    assert_int_equal(f.per_gpu_bytes, 7376930407ULL);
    /* The replica as a whole: unique weights, all KV, one context per GPU. */
    assert_int_equal(f.reserve_bytes, 3 * CTX);
    assert_int_equal(f.total_bytes, 16060522496ULL + 1073741824ULL + 1713426432ULL + 3 * CTX);

    /* pp x tp: each of the 2 GPUs of stage 0 holds half of it. */
    o.tp = 2;
    f = compute(&a, &o);
    assert_int_equal(f.stage_gpu_bytes[0], gpu_bytes(p0, 11 * kv_layer / 2));
    assert_int_equal(f.reserve_bytes, 6 * CTX);
}

static void params_without_a_layer_breakdown_split_evenly_by_layer(void **state)
{
    (void)state;
    plan_arch a;
    memset(&a, 0, sizeof a);
    a.params = 1000000007ULL;
    a.layers = 4;
    a.kv_heads = 1;
    a.head_dim = 64;
    plan_fp_opts o = opts(PLAN_DT_INT8, PLAN_DT_FP16, 1, 1);
    o.overhead_ppm = 0;
    o.cuda_context_bytes = 0;
    o.pp = 2;
    plan_footprint f = compute(&a, &o);
    uint64_t kv_layer = 2 * 64 * 2;
    /* 250,000,001 per layer, the first 3 layers one more. */
    assert_int_equal(f.stage_gpu_bytes[0], 500000004ULL + 2 * kv_layer);
    assert_int_equal(f.stage_gpu_bytes[1], 500000003ULL + 2 * kv_layer);

    /* vocab and hidden known: the 1000 x 100 embedding to stage 0, lm_head to the last. */
    a.vocab = 1000;
    a.hidden = 100;
    o.pp = 4;
    f = compute(&a, &o);
    /* body 1,000,000,007 - 200,000 = 999,800,007: 249,950,001 per layer, 3 layers +1. */
    assert_int_equal(f.stage_gpu_bytes[0], 249950002ULL + 100000 + kv_layer);
    assert_int_equal(f.stage_gpu_bytes[1], 249950002ULL + kv_layer);
    assert_int_equal(f.stage_gpu_bytes[2], 249950002ULL + kv_layer);
    assert_int_equal(f.stage_gpu_bytes[3], 249950001ULL + 100000 + kv_layer);
}

static void overhead_rounds_up_and_a_zero_reserve_adds_nothing(void **state)
{
    (void)state;
    plan_arch a;
    memset(&a, 0, sizeof a);
    a.params = 3;
    a.layers = 1;
    a.kv_heads = 1;
    a.head_dim = 1;
    plan_fp_opts o = opts(PLAN_DT_FP16, PLAN_DT_FP16, 1, 1);
    o.overhead_ppm = 123457;
    o.cuda_context_bytes = 0;
    plan_footprint f = compute(&a, &o);
    assert_int_equal(f.weights_bytes, 6);
    assert_int_equal(f.kv_cache_bytes, 4);
    assert_int_equal(f.overhead_bytes, 2); /* ceil(10 x 0.123457) */
    assert_int_equal(f.reserve_bytes, 0);
    assert_int_equal(f.total_bytes, 12);
    assert_int_equal(f.per_gpu_bytes, 12);
    o.overhead_ppm = 0;
    assert_int_equal(compute(&a, &o).total_bytes, 10);
}

static void absurd_sizes_overflow_instead_of_wrapping(void **state)
{
    (void)state;
    plan_arch a = llama8b();
    plan_fp_opts o = opts(PLAN_DT_BF16, PLAN_DT_FP16, 1ULL << 40, 1ULL << 30);
    expect_error(&a, &o, VP_EOVERFLOW, "64 bits");
    o = opts(PLAN_DT_FP32, PLAN_DT_FP16, 4096, 1);
    a.params = 1ULL << 62; /* x 4 bytes = 2^64 */
    expect_error(&a, &o, VP_EOVERFLOW, "64 bits");
    a = llama8b();
    o.cuda_context_bytes = UINT64_MAX / 2 + 1;
    o.tp = 2;
    expect_error(&a, &o, VP_EOVERFLOW, "64 bits");
    /* Arch fields at their 32-bit limits. */
    a = llama8b();
    a.kv_heads = UINT32_MAX;
    a.head_dim = UINT32_MAX;
    o = opts(PLAN_DT_BF16, PLAN_DT_FP16, 4096, 1);
    expect_error(&a, &o, VP_EOVERFLOW, "64 bits");
}

static void bad_options_and_missing_fields_are_refused(void **state)
{
    (void)state;
    plan_arch a = llama8b();
    plan_fp_opts o = opts(PLAN_DT_BF16, PLAN_DT_Q4_K_M, 4096, 1);
    expect_error(&a, &o, VP_EINPUT, "kv_dtype: q4_k_m");
    o.kv_dtype = PLAN_DT_INT4;
    expect_error(&a, &o, VP_EINPUT, "kv_dtype");
    o = opts(PLAN_DT_BF16, PLAN_DT_FP16, 0, 1);
    expect_error(&a, &o, VP_EINPUT, "seq_len");
    o = opts(PLAN_DT_BF16, PLAN_DT_FP16, 4096, 0);
    expect_error(&a, &o, VP_EINPUT, "batch");
    o = opts(PLAN_DT_BF16, PLAN_DT_FP16, 4096, 1);
    o.tp = 0;
    expect_error(&a, &o, VP_EINPUT, "tp");
    o.tp = 1;
    o.pp = PLAN_MAX_PP + 1;
    expect_error(&a, &o, VP_EINPUT, "pp");
    a.layers = 2;
    o.pp = 3;
    expect_error(&a, &o, VP_EINPUT, "pp: 3 stages for 2 layers");
    o.pp = 1;
    a = llama8b();
    a.vocab = 0; /* neither params nor enough to count them */
    expect_error(&a, &o, VP_EINPUT, "params");
    a = llama8b();
    a.params = 100;
    a.active_params = 101;
    expect_error(&a, &o, VP_EINPUT, "active_params");
    memset(&a, 0, sizeof a);
    a.params = 100;
    a.layers = 2;
    expect_error(&a, &o, VP_EINPUT, "head_dim");
    a.head_dim = 64;
    expect_error(&a, &o, VP_EINPUT, "kv_heads");
}

static void a_measured_footprint_is_taken_as_is(void **state)
{
    (void)state;
    plan_footprint f;
    plan_footprint_fixed(1234567, &f);
    assert_int_equal(f.total_bytes, 1234567);
    assert_int_equal(f.per_gpu_bytes, 1234567);
    assert_int_equal(f.stage_gpu_bytes[0], 1234567);
    assert_int_equal(f.tp, 1);
    assert_int_equal(f.pp, 1);
    assert_int_equal(f.reserve_bytes, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_are_fp16_4096_tokens_10_percent_and_512_mib),
        cmocka_unit_test(llama_8b_bf16_at_8192_tokens_adds_up_exactly),
        cmocka_unit_test(the_design_errata_example_is_42_949_672_960_bytes),
        cmocka_unit_test(mha_stores_four_times_the_kv_of_gqa_with_a_quarter_of_the_heads),
        cmocka_unit_test(multi_query_gemma_2b_keeps_one_kv_head),
        cmocka_unit_test(sliding_windows_cap_the_tokens_of_the_layers_that_use_them),
        cmocka_unit_test(mla_stores_one_latent_copy_per_token_replicated_on_every_rank),
        cmocka_unit_test(mixtral_keeps_all_experts_resident),
        cmocka_unit_test(quantised_weights_use_their_real_bits_per_weight),
        cmocka_unit_test(tensor_parallel_splits_weights_and_kv_heads),
        cmocka_unit_test(pipeline_stages_split_layers_evenly_with_embeddings_first_and_head_last),
        cmocka_unit_test(params_without_a_layer_breakdown_split_evenly_by_layer),
        cmocka_unit_test(overhead_rounds_up_and_a_zero_reserve_adds_nothing),
        cmocka_unit_test(absurd_sizes_overflow_instead_of_wrapping),
        cmocka_unit_test(bad_options_and_missing_fields_are_refused),
        cmocka_unit_test(a_measured_footprint_is_taken_as_is),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
