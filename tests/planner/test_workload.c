/* test_workload.c - fine-tuning jobs, LoRA adapters on a shared base, multimodal requests and
 * speculative drafts, pinned to bytes worked out by hand, and to published figures: ZeRO's 16
 * bytes per parameter for mixed-precision Adam, QLoRA's 65B model on one 48 GB GPU (and over
 * 780 GB to fine-tune it in 16 bit), LLaVA-1.5's 576 tokens per image and 7.06B parameters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "footprint.h"
#include "hf_fixture.h"
#include "planner.h"

#define P8 8030261248ULL   /* Meta-Llama-3-8B parameters */
#define EMB 525336576ULL   /* 128256 x 4096 */
#define LORA16 41943040ULL /* rank 16 over q, k, v, o, gate, up, down of 32 layers */
#define CTX (512ULL << 20)

static plan_fp_opts train_opts(plan_train_method m, uint64_t seq)
{
    plan_fp_opts o;
    plan_fp_opts_default(&o);
    o.dtype = o.kv_dtype = PLAN_DT_BF16;
    o.train.method = m;
    o.train.rank = m == PLAN_TRAIN_FULL ? 0 : 16;
    o.seq_len = seq;
    return o;
}

/* Activations of one 4096-token sequence of Llama-3-8B with checkpointing: every layer's input
 * (32 x 4096 x 4096 x 2) and one layer recomputed, 6h + 2 kv_dim + 3I = 69,632 values a token. */
#define ACTS (32ULL * 4096 * 4096 * 2 + 4096ULL * 69632 * 2)
#define LOGITS (4096ULL * 128256 * 6)

static void llama_3_8b_full_adamw_holds_16_bytes_a_parameter_and_its_activations(void **state)
{
    (void)state;
    plan_arch a = hf_load("meta-llama-3-8b.json");
    plan_fp_opts o = train_opts(PLAN_TRAIN_FULL, 4096);
    plan_footprint f = fp_compute(&a, &o);
    assert_int_equal(f.trainable_params, P8);
    assert_int_equal(fp_term(&f, "weights"), 2 * P8);
    assert_int_equal(fp_term(&f, "gradients"), 2 * P8);
    assert_int_equal(fp_term(&f, "master_weights"), 4 * P8);
    assert_int_equal(fp_term(&f, "optimizer_states"), 8 * P8);
    /* ZeRO (Rajbhandari et al. 2020, 3.1): mixed-precision Adam keeps 2 + 2 + 12 = 16 bytes */
    assert_int_equal(fp_term(&f, "weights") + fp_term(&f, "gradients") +
                         fp_term(&f, "master_weights") + fp_term(&f, "optimizer_states"),
                     16 * P8);
    assert_int_equal(fp_term(&f, "activations"), ACTS);
    assert_int_equal(ACTS, 1644167168ULL);
    assert_int_equal(fp_term(&f, "logits"), LOGITS);
    assert_int_equal(f.total_bytes, 16 * P8 + ACTS + LOGITS + CTX);
    assert_int_equal(f.total_bytes, 133817237504ULL);
    assert_int_equal(f.per_gpu_bytes, f.total_bytes);
    assert_int_equal(f.kv_cache_bytes, 0);
    /* Without checkpointing every layer keeps its tensors; 8-bit AdamW keeps 2 bytes a moment. */
    o.train.no_checkpointing = true;
    o.train.optimizer = PLAN_OPT_ADAMW_8BIT;
    f = fp_compute(&a, &o);
    assert_int_equal(fp_term(&f, "activations"), 32ULL * 4096 * 69632 * 2);
    assert_int_equal(fp_term(&f, "optimizer_states"), 2 * P8);
}

static void lora_r16_trains_42m_parameters_on_a_frozen_bf16_base(void **state)
{
    (void)state;
    plan_arch a = hf_load("meta-llama-3-8b.json");
    plan_fp_opts o = train_opts(PLAN_TRAIN_LORA, 4096);
    plan_footprint f = fp_compute(&a, &o);
    /* per layer 16 x ((4096+4096) x 2 + (4096+1024) x 2 + (4096+14336) x 3) = 1,310,720 */
    assert_int_equal(f.trainable_params, LORA16);
    assert_int_equal(fp_term(&f, "weights"), 2 * P8);
    assert_int_equal(fp_term(&f, "adapter_weights"), 2 * LORA16);
    assert_int_equal(fp_term(&f, "gradients"), 2 * LORA16);
    assert_int_equal(fp_term(&f, "master_weights"), 4 * LORA16);
    assert_int_equal(fp_term(&f, "optimizer_states"), 8 * LORA16);
    /* A's rank-16 outputs for 7 x 32 adapted matrices */
    uint64_t acts = ACTS + 4096ULL * 224 * 16 * 2;
    assert_int_equal(fp_term(&f, "activations"), acts);
    assert_int_equal(f.total_bytes, 2 * P8 + 16 * LORA16 + acts + LOGITS + CTX);
    assert_int_equal(f.total_bytes, 22094028800ULL);
}

static void qlora_r16_holds_the_base_in_nf4_and_no_master_copy(void **state)
{
    (void)state;
    plan_arch a = hf_load("meta-llama-3-8b.json");
    plan_fp_opts o = train_opts(PLAN_TRAIN_QLORA, 4096);
    plan_footprint f = fp_compute(&a, &o);
    /* NF4: n/2 + n/64 + 4 n/16384 per matrix; embeddings, lm_head and norms in bf16 */
    uint64_t q = 16777216ULL / 2 + 16777216 / 64 + 16777216 / 16384 * 4;
    uint64_t kv = 4194304ULL / 2 + 4194304 / 64 + 4194304 / 16384 * 4;
    uint64_t mlp = 58720256ULL / 2 + 58720256 / 64 + 58720256 / 16384 * 4;
    uint64_t base = 32 * (2 * q + 2 * kv + 3 * mlp) + 2 * EMB * 2 + 65 * 4096 * 2;
    assert_int_equal(fp_term(&f, "weights"), base);
    assert_int_equal(base, 5702295552ULL);
    assert_int_equal(fp_term(&f, "master_weights"), UINT64_MAX); /* absent */
    assert_int_equal(fp_term(&f, "dequantized"), 14336ULL * 4096 * 2);
    uint64_t acts = ACTS + 4096ULL * 224 * 16 * 2;
    assert_int_equal(f.total_bytes, base + 12 * LORA16 + acts + LOGITS + 14336ULL * 4096 * 2 + CTX);
    assert_int_equal(f.total_bytes, 11685470208ULL);
}

static void a_65b_model_fine_tunes_on_one_48_gb_gpu_only_with_qlora(void **state)
{
    (void)state;
    /* Dettmers et al. 2023 (QLoRA): fine-tuning LLaMA-65B takes over 780 GB in 16 bit, under
     * 48 GB with QLoRA (rank 64 on every linear layer, as Guanaco). */
    plan_arch a = hf_load("llama-65b.json");
    assert_int_equal(a.params, 65285660672ULL);
    plan_fp_opts o = train_opts(PLAN_TRAIN_FULL, 512);
    o.dtype = PLAN_DT_FP16;
    assert_true(fp_compute(&a, &o).total_bytes > 780000000000ULL);
    o = train_opts(PLAN_TRAIN_QLORA, 512);
    o.train.rank = 64;
    plan_footprint f = fp_compute(&a, &o);
    if (f.total_bytes >= 48000000000ULL)
        fail_msg("QLoRA 65B needs %llu bytes, over 48 GB", (unsigned long long)f.total_bytes);
}

static void lora_adapters_share_the_base_and_cost_their_resident_copies(void **state)
{
    (void)state;
    plan_arch a = hf_load("meta-llama-3-8b.json");
    plan_fp_opts o;
    plan_fp_opts_default(&o);
    o.dtype = o.kv_dtype = PLAN_DT_BF16;
    o.seq_len = 8192;
    plan_footprint base = fp_compute(&a, &o);
    o.lora.adapters = 40;
    o.lora.rank = 16;
    plan_footprint f = fp_compute(&a, &o);
    /* 8 of 40 resident (the default), 16-bit: the base is counted once */
    assert_int_equal(fp_term(&f, "lora_adapters"), 8 * LORA16 * 2);
    assert_int_equal(f.per_gpu_bytes, base.per_gpu_bytes + 8 * LORA16 * 2);
    assert_int_equal(f.weights_bytes, base.weights_bytes);
    o.lora.max_resident = 2;
    o.lora.targets = PLAN_LORA_QV;
    f = fp_compute(&a, &o);
    /* q and v only: 16 x ((4096 + 4096) + (4096 + 1024)) x 32 */
    assert_int_equal(fp_term(&f, "lora_adapters"), 2ULL * 16 * (8192 + 5120) * 32 * 2);
}

static void llava_1_5_7b_with_two_images_adds_its_tower_and_1152_tokens(void **state)
{
    (void)state;
    plan_arch a = hf_load("llava-1.5-7b.json");
    /* Liu et al. 2023 (LLaVA-1.5): CLIP ViT-L/14 at 336 px, 576 visual tokens; 7.06B parameters */
    assert_int_equal(a.image_tokens, 576);
    assert_int_equal(a.params, 6738939904ULL);
    assert_int_equal(a.vision_params, 303507456ULL + 20979712ULL);
    assert_int_equal(a.params + a.vision_params, 7063427072ULL);
    plan_fp_opts o;
    plan_fp_opts_default(&o);
    o.dtype = o.kv_dtype = PLAN_DT_FP16;
    o.seq_len = 2048;
    o.batch = 8;
    o.images = 2;
    plan_footprint f = fp_compute(&a, &o);
    assert_int_equal(f.seq_tokens, 2048 + 2 * 576);
    /* 32 layers x 32 heads x 128 x 2 (K, V) x 2 bytes a token */
    assert_int_equal(f.kv_cache_bytes, 8ULL * 3200 * 524288);
    assert_int_equal(fp_term(&f, "vision_encoder"), (303507456ULL + 20979712ULL) * 2);
    /* 2 images x 577 positions x (2 x 4096 + 3 x 1024) x 2 bytes */
    assert_int_equal(fp_term(&f, "vision_activation"), 2ULL * 577 * 11264 * 2);
    /* Without a vision encoder, images are refused. */
    plan_arch t = hf_load("llama-3.1-8b.json");
    vp_err e = {0};
    assert_int_equal(plan_footprint_compute(&t, &o, &f, &e), VP_EINPUT);
    assert_non_null(strstr(e.msg, "vision"));
}

static void a_70b_target_with_a_1b_draft_holds_both_and_five_tokens_of_lookahead(void **state)
{
    (void)state;
    plan_arch a = hf_load("llama-3.1-70b.json");
    plan_arch d = hf_load("llama-3.2-1b.json");
    plan_fp_opts o;
    plan_fp_opts_default(&o);
    o.dtype = PLAN_DT_FP8;
    o.kv_dtype = PLAN_DT_FP16;
    o.seq_len = 8192;
    plan_footprint plain = fp_compute(&a, &o);
    o.draft = &d;
    o.draft_dtype = PLAN_DT_BF16;
    o.spec_tokens = 5;
    plan_footprint f = fp_compute(&a, &o);
    assert_int_equal(f.seq_tokens, 8197);
    assert_int_equal(d.params, 1235814400ULL);
    assert_int_equal(fp_term(&f, "draft_weights"), 1235814400ULL * 2);
    /* 16 layers x 8 KV heads x 64 x 2 x 2 bytes = 32 KiB a token */
    assert_int_equal(fp_term(&f, "draft_kv"), 32768ULL * 8197);
    /* 80 layers x 8 x 128 x 2 x 2 = 320 KiB a token for the target */
    assert_int_equal(f.kv_cache_bytes, 327680ULL * 8197);
    assert_int_equal(f.weights_bytes, plain.weights_bytes);
}

static void prefill_flops_are_twice_the_parameters_per_token_plus_attention(void **state)
{
    (void)state;
    plan_arch a = hf_load("llama-3.1-8b.json");
    a.active_params = a.params;
    uint64_t attn = 2ULL * 32 * 2000 * 2000 * 32 * 128;
    assert_int_equal(plan_prefill_flops(&a, 2000), 2 * P8 * 2000 + attn);
    /* 3.2e13 FLOPs on an H100's 989 dense BF16 TFLOPS: 33 ms at full use, 66 ms at half */
    double ms = plan_ttft_ms(plan_prefill_flops(&a, 2000), 989, 1, 500000);
    assert_true(ms > 66.0 && ms < 68.0);
    assert_true(plan_ttft_ms(1, 0, 1, 500000) == 0);
}

static void training_jobs_refuse_what_they_cannot_be(void **state)
{
    (void)state;
    plan_arch a = hf_load("llama-3.1-8b.json");
    plan_fp_opts o = train_opts(PLAN_TRAIN_LORA, 4096);
    plan_footprint f;
    vp_err e = {0};
    o.tp = 2;
    assert_int_equal(plan_footprint_compute(&a, &o, &f, &e), VP_EINPUT);
    assert_non_null(strstr(e.msg, "data-parallel"));
    o.tp = 1;
    o.engine = ENG_VLLM;
    assert_int_equal(plan_footprint_compute(&a, &o, &f, &e), VP_EINPUT);
    o.engine = ENG_BUILTIN;
    o.train.rank = 0;
    assert_int_equal(plan_footprint_compute(&a, &o, &f, &e), VP_EINPUT);
    assert_non_null(strstr(e.msg, "rank"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(llama_3_8b_full_adamw_holds_16_bytes_a_parameter_and_its_activations),
        cmocka_unit_test(lora_r16_trains_42m_parameters_on_a_frozen_bf16_base),
        cmocka_unit_test(qlora_r16_holds_the_base_in_nf4_and_no_master_copy),
        cmocka_unit_test(a_65b_model_fine_tunes_on_one_48_gb_gpu_only_with_qlora),
        cmocka_unit_test(lora_adapters_share_the_base_and_cost_their_resident_copies),
        cmocka_unit_test(llava_1_5_7b_with_two_images_adds_its_tower_and_1152_tokens),
        cmocka_unit_test(a_70b_target_with_a_1b_draft_holds_both_and_five_tokens_of_lookahead),
        cmocka_unit_test(prefill_flops_are_twice_the_parameters_per_token_plus_attention),
        cmocka_unit_test(training_jobs_refuse_what_they_cannot_be),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
