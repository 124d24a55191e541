/* test_engine.c - launch profiles: the exact command line of each engine, the slice as its
 * memory flag, refusals, health endpoints, revisions and version probing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* after setjmp.h, stdarg.h, stddef.h and stdint.h, which cmocka.h needs */
#include <cmocka.h>

#include "engine.h"

/* The argv joined with single spaces. */
static char *joined(char **argv)
{
    vp_sb sb = {0};
    for (size_t i = 0; argv[i]; i++)
        vp_sb_printf(&sb, "%s%s", i ? " " : "", argv[i]);
    return vp_sb_steal(&sb);
}

static void assert_argv(const eng_launch *l, const char *want)
{
    char **argv = NULL;
    vp_err e = {0};
    int rc = eng_argv(l, &argv, &e);
    if (rc) fail_msg("eng_argv failed: %s", e.msg);
    char *got = joined(argv);
    if (strcmp(got, want)) fail_msg("argv\n  got:  %s\n  want: %s", got, want);
    free(got);
    eng_argv_free(argv);
}

static eng_launch base(eng_kind k)
{
    eng_launch l = {.kind = k,
                    .model = "chat",
                    .id = "chat/1",
                    .source = "meta-llama/Llama-3.1-8B-Instruct",
                    .replica = 1,
                    .tp = 2,
                    .pp = 1,
                    .max_seq_len = 8192,
                    .max_batch = 16,
                    .kv_dtype = "fp16",
                    .kv_bytes = 4294967296ull,
                    .bytes = 40000000000ull,
                    .gpu_bytes = 85899345920ull,
                    .port = 20001};
    return l;
}

static void vllm_gets_the_kv_bytes_flag_when_its_version_accepts_it(void **state)
{
    (void)state;
    eng_launch l = base(ENG_VLLM);
    l.kv_bytes_flag = true;
    const char *args[] = {"--enable-prefix-caching"};
    l.engine_args = args;
    l.n_engine_args = 1;
    assert_argv(&l, "vllm serve meta-llama/Llama-3.1-8B-Instruct --host 0.0.0.0 --port 20001 "
                    "--tensor-parallel-size 2 --max-model-len 8192 --max-num-seqs 16 "
                    "--kv-cache-memory-bytes 4294967296 --enable-prefix-caching");
}

static void vllm_gets_the_slice_as_a_fraction_rounded_down_otherwise(void **state)
{
    (void)state;
    eng_launch l = base(ENG_VLLM);
    l.binary = "/opt/vllm/bin/vllm";
    /* 40e9 / 80 GiB = 0.46566...: rounded down to 0.4656, never up */
    assert_argv(&l, "/opt/vllm/bin/vllm serve meta-llama/Llama-3.1-8B-Instruct --host 0.0.0.0 "
                    "--port 20001 --tensor-parallel-size 2 --max-model-len 8192 "
                    "--max-num-seqs 16 --gpu-memory-utilization 0.4656");
    l.kv_dtype = "fp8";
    assert_argv(&l, "/opt/vllm/bin/vllm serve meta-llama/Llama-3.1-8B-Instruct --host 0.0.0.0 "
                    "--port 20001 --tensor-parallel-size 2 --max-model-len 8192 "
                    "--max-num-seqs 16 --gpu-memory-utilization 0.4656 --kv-cache-dtype fp8");
}

static void sglang_takes_the_fraction_as_mem_fraction_static(void **state)
{
    (void)state;
    eng_launch l = base(ENG_SGLANG);
    l.kv_dtype = "fp8";
    assert_argv(&l, "python3 -m sglang.launch_server --model-path "
                    "meta-llama/Llama-3.1-8B-Instruct --host 0.0.0.0 --port 20001 --tp-size 2 "
                    "--context-length 8192 --max-running-requests 16 --mem-fraction-static 0.4656 "
                    "--kv-cache-dtype fp8_e4m3");
}

static void llama_cpp_sizes_the_context_for_every_slot_and_tells_files_from_repos(void **state)
{
    (void)state;
    eng_launch l = base(ENG_LLAMACPP);
    l.source = "/models/qwen2-7b-q4_k_m.gguf";
    l.max_seq_len = 4096;
    l.max_batch = 4;
    l.tp = 1;
    assert_argv(&l, "llama-server -m /models/qwen2-7b-q4_k_m.gguf --host 0.0.0.0 --port 20001 "
                    "-c 16384 -np 4 -ngl 999");
    l.source = "Qwen/Qwen2-7B-Instruct-GGUF";
    l.kv_dtype = "q8_0";
    assert_argv(&l, "llama-server -hf Qwen/Qwen2-7B-Instruct-GGUF --host 0.0.0.0 --port 20001 "
                    "-c 16384 -np 4 -ngl 999 --cache-type-k q8_0 --cache-type-v q8_0");
}

static void the_builtin_worker_gets_its_slice_and_backend(void **state)
{
    (void)state;
    eng_launch l = base(ENG_BUILTIN);
    l.binary = "/usr/bin/vrampack-worker";
    l.slice_bytes = 67108864;
    l.backend = "cpu";
    l.port = 0;
    assert_argv(&l, "/usr/bin/vrampack-worker --slice-bytes 67108864 --backend cpu");
    assert_null(eng_health_path(&l));
}

static void a_command_template_is_expanded_and_literal_braces_pass(void **state)
{
    (void)state;
    eng_launch l = base(ENG_COMMAND);
    const char *cmd[] = {"serve-it",
                         "{source}",
                         "--port={port}",
                         "--tp",
                         "{tp}",
                         "{\"temperature\": 0.5}",
                         "{kv_dtype}/{kv_bytes}/{fraction}",
                         "{nope}"};
    l.command = cmd;
    l.n_command = VP_ARRAY_LEN(cmd);
    assert_argv(&l, "serve-it meta-llama/Llama-3.1-8B-Instruct --port=20001 --tp 2 "
                    "{\"temperature\": 0.5} fp16/4294967296/0.4656 {nope}");
    assert_string_equal(eng_health_path(&l), "/health");
    const char *noport[] = {"x", "{model}"};
    l.command = noport;
    l.n_command = 2;
    assert_null(eng_health_path(&l));
}

static void what_an_engine_cannot_run_is_refused_with_the_reason(void **state)
{
    (void)state;
    vp_err e = {0};
    char **argv = (char **)1;
    eng_launch l = base(ENG_VLLM);
    l.kv_dtype = "int8";
    assert_int_equal(eng_argv(&l, &argv, &e), VP_EINPUT);
    assert_null(argv);
    assert_non_null(strstr(e.msg, "vllm cannot store its KV cache as int8"));
    assert_non_null(strstr(e.msg, "fp16, bf16, fp8"));
    l = base(ENG_SGLANG);
    l.pp = 2;
    assert_int_equal(eng_check(&l, &e), VP_EINPUT);
    assert_non_null(strstr(e.msg, "pipeline"));
    l = base(ENG_LLAMACPP);
    l.port = 0;
    assert_int_equal(eng_argv(&l, &argv, &e), VP_EINPUT);
    assert_non_null(strstr(e.msg, "port"));
    l = base(ENG_COMMAND);
    assert_int_equal(eng_check(&l, &e), VP_EINPUT);
}

static void every_profile_names_its_health_endpoint_signal_and_timeout(void **state)
{
    (void)state;
    for (int k = 0; k < ENG_COUNT; k++) {
        const eng_profile *p = eng_profile_of((eng_kind)k);
        assert_non_null(p);
        assert_int_equal(p->kind, k);
        assert_true(p->ready_timeout_s > 0);
        assert_true(p->stop_signal > 0);
        if (k == ENG_VLLM || k == ENG_SGLANG || k == ENG_LLAMACPP) {
            assert_string_equal(p->health_path, "/health");
            assert_true(p->needs_port);
            assert_true(p->adoptable);
            assert_int_equal(p->ready_timeout_s, 900);
        }
    }
    assert_null(eng_profile_of(ENG_COUNT));
}

static void a_revision_changes_with_what_shapes_the_process_and_nothing_else(void **state)
{
    (void)state;
    eng_launch l = base(ENG_VLLM);
    uint8_t gpus[2] = {0, 1};
    char r0[17], r1[17];
    eng_revision(&l, gpus, 2, r0, sizeof r0);
    assert_int_equal(strlen(r0), 16);
    l.port = 29999;
    l.binary = "/elsewhere/vllm";
    l.kv_bytes_flag = true;
    eng_revision(&l, gpus, 2, r1, sizeof r1);
    assert_string_equal(r0, r1);
    const char *args[] = {"--enable-prefix-caching"};
    l.engine_args = args;
    l.n_engine_args = 1;
    eng_revision(&l, gpus, 2, r1, sizeof r1);
    assert_string_not_equal(r0, r1);
    l.n_engine_args = 0;
    gpus[1] = 2;
    eng_revision(&l, gpus, 2, r1, sizeof r1);
    assert_string_not_equal(r0, r1);
}

static void versions_are_found_in_output_and_compared_numerically(void **state)
{
    (void)state;
    char v[32];
    assert_int_equal(eng_version_find("INFO 10-01 12:00:00 [__init__.py:241] Automatically "
                                      "detected platform cuda.\n0.10.1.1\n",
                                      v, sizeof v),
                     0);
    assert_string_equal(v, "0.10.1.1");
    assert_int_equal(eng_version_find("vllm 0.11.0rc2+cu128\n", v, sizeof v), 0);
    assert_string_equal(v, "0.11.0");
    assert_int_equal(eng_version_find("no version here 7\n", v, sizeof v), VP_ENOTFOUND);
    assert_true(eng_version_cmp("0.10.2", "0.11.0") < 0);
    assert_true(eng_version_cmp("0.11", "0.11.0") == 0);
    assert_true(eng_version_cmp("0.12.1", "0.11.0") > 0);
    assert_true(eng_version_cmp("1.0", "0.99.9") > 0);
}

static void fractions_round_down_and_never_reach_zero(void **state)
{
    (void)state;
    char f[32];
    eng_fraction(1, 85899345920ull, f, sizeof f);
    assert_string_equal(f, "0.0001");
    eng_fraction(85899345920ull, 85899345920ull, f, sizeof f);
    assert_string_equal(f, "1.0000");
    eng_fraction(42949672959ull, 85899345920ull, f, sizeof f);
    assert_string_equal(f, "0.4999");
}

#define VLLM_HEAD                                                                                  \
    "vllm serve meta-llama/Llama-3.1-8B-Instruct --host 0.0.0.0 --port 20001 "                     \
    "--tensor-parallel-size 2 --max-model-len 8192 --max-num-seqs 16 "                             \
    "--gpu-memory-utilization 0.4656"

static void vllm_serves_lora_adapters_with_enable_lora_and_their_count_and_rank(void **state)
{
    (void)state;
    eng_launch l = base(ENG_VLLM);
    l.max_loras = 8;
    l.max_lora_rank = 16;
    assert_argv(&l, VLLM_HEAD " --enable-lora --max-loras 8 --max-lora-rank 16");
}

static void
vllm_takes_a_draft_as_one_speculative_config_json_when_its_version_is_new_or_unknown(void **state)
{
    (void)state;
    eng_launch l = base(ENG_VLLM);
    l.draft = "meta-llama/Llama-3.2-1B";
    l.spec_tokens = 4;
    const char *want = VLLM_HEAD " --speculative-config {\"model\": \"meta-llama/Llama-3.2-1B\", "
                                 "\"num_speculative_tokens\": 4}";
    assert_argv(&l, want);
    l.version = "0.8.0";
    assert_argv(&l, want);
    l.version = "0.11.2";
    assert_argv(&l, want);
    /* A name JSON must escape stays one valid string. */
    l.draft = "dir\"x";
    l.spec_tokens = 0; /* the default, 5 */
    assert_argv(&l, VLLM_HEAD " --speculative-config {\"model\": \"dir\\\"x\", "
                              "\"num_speculative_tokens\": 5}");
}

static void vllm_before_0_8_takes_speculative_model_and_num_speculative_tokens(void **state)
{
    (void)state;
    eng_launch l = base(ENG_VLLM);
    l.draft = "meta-llama/Llama-3.2-1B";
    l.spec_tokens = 5;
    l.version = "0.7.3";
    l.max_loras = 2;
    l.max_lora_rank = 64;
    assert_argv(&l, VLLM_HEAD " --enable-lora --max-loras 2 --max-lora-rank 64 "
                              "--speculative-model meta-llama/Llama-3.2-1B "
                              "--num-speculative-tokens 5");
}

static void a_command_template_may_name_the_adapter_and_draft_placeholders(void **state)
{
    (void)state;
    vp_err e = {0};
    const char *tmpl[] = {"serve", "--loras={max_loras}", "--rank={max_lora_rank}",
                          "--draft={draft}", "--k={spec_tokens}"};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(eng_template_check(tmpl[i], &e), 0);
    eng_launch l = base(ENG_COMMAND);
    l.command = tmpl;
    l.n_command = 5;
    l.max_loras = 8;
    l.max_lora_rank = 16;
    l.draft = "d";
    l.spec_tokens = 3;
    assert_argv(&l, "serve --loras=8 --rank=16 --draft=d --k=3");
}

static void adapters_and_drafts_change_the_revision_and_their_absence_does_not(void **state)
{
    (void)state;
    uint8_t gpus[] = {0, 1};
    char plain[17], empty[17], lora[17], draft[17];
    eng_launch l = base(ENG_VLLM);
    eng_revision(&l, gpus, 2, plain, sizeof plain);
    l.draft = "";
    eng_revision(&l, gpus, 2, empty, sizeof empty);
    assert_string_equal(plain, empty);
    l.max_loras = 8;
    l.max_lora_rank = 16;
    eng_revision(&l, gpus, 2, lora, sizeof lora);
    l.max_loras = 0;
    l.max_lora_rank = 0;
    l.draft = "meta-llama/Llama-3.2-1B";
    eng_revision(&l, gpus, 2, draft, sizeof draft);
    assert_string_not_equal(plain, lora);
    assert_string_not_equal(plain, draft);
    assert_string_not_equal(lora, draft);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vllm_gets_the_kv_bytes_flag_when_its_version_accepts_it),
        cmocka_unit_test(vllm_serves_lora_adapters_with_enable_lora_and_their_count_and_rank),
        cmocka_unit_test(
            vllm_takes_a_draft_as_one_speculative_config_json_when_its_version_is_new_or_unknown),
        cmocka_unit_test(vllm_before_0_8_takes_speculative_model_and_num_speculative_tokens),
        cmocka_unit_test(a_command_template_may_name_the_adapter_and_draft_placeholders),
        cmocka_unit_test(adapters_and_drafts_change_the_revision_and_their_absence_does_not),
        cmocka_unit_test(vllm_gets_the_slice_as_a_fraction_rounded_down_otherwise),
        cmocka_unit_test(sglang_takes_the_fraction_as_mem_fraction_static),
        cmocka_unit_test(llama_cpp_sizes_the_context_for_every_slot_and_tells_files_from_repos),
        cmocka_unit_test(the_builtin_worker_gets_its_slice_and_backend),
        cmocka_unit_test(a_command_template_is_expanded_and_literal_braces_pass),
        cmocka_unit_test(what_an_engine_cannot_run_is_refused_with_the_reason),
        cmocka_unit_test(every_profile_names_its_health_endpoint_signal_and_timeout),
        cmocka_unit_test(a_revision_changes_with_what_shapes_the_process_and_nothing_else),
        cmocka_unit_test(versions_are_found_in_output_and_compared_numerically),
        cmocka_unit_test(fractions_round_down_and_never_reach_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
