/* test_manifest.c - manifests and fleet files: defaults, derived replicas, and errors that name
 * the file, the model and the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

#include "planner.h"

static int parse(const char *txt, plan_manifest **m, vp_err *e)
{
    return plan_manifest_parse(txt, strlen(txt), "m.json", VP_TEST_DATA, m, e);
}

static void expect_error(const char *txt, int code, const char *needle)
{
    plan_manifest *m = NULL;
    vp_err e = {0};
    int rc = parse(txt, &m, &e);
    if (rc != code || !strstr(e.msg, needle))
        fail_msg("manifest %s\n  gave rc %d msg \"%s\"\n  want rc %d and \"%s\"", txt, rc, e.msg,
                 code, needle);
    assert_null(m);
}

static void demand_derives_the_replica_count_by_ceiling(void **state)
{
    (void)state;
    plan_manifest *m;
    vp_err e = {0};
    const char *txt = "{\"models\": ["
                      "{\"name\": \"a\", \"memory_bytes\": 1000, \"demand\": {\"peak_rps\": 20, "
                      "\"avg_output_tokens\": 300, \"tokens_per_s_per_replica\": 1200}},"
                      "{\"name\": \"b\", \"memory_bytes\": 1000, \"demand\": {\"peak_rps\": 21, "
                      "\"avg_output_tokens\": 300, \"tokens_per_s_per_replica\": 1200}}]}";
    assert_int_equal(parse(txt, &m, &e), 0);
    assert_int_equal(m->models[0].replicas, 5);
    assert_int_equal(m->models[1].replicas, 6);
    plan_manifest_free(m);
}

static void defaults_apply_and_models_override_them(void **state)
{
    (void)state;
    plan_manifest *m;
    vp_err e = {0};
    const char *txt =
        "{\"defaults\": {\"overhead_fraction\": 0.2, \"cuda_context_bytes\": 0},"
        " \"models\": [{\"name\": \"a\", \"params\": 1000000, \"layers\": 2, \"kv_heads\": 1,"
        "  \"head_dim\": 64, \"dtype\": \"int4\"},"
        " {\"name\": \"b\", \"params\": 1000000, \"layers\": 2, \"kv_heads\": 1, \"head_dim\": 64,"
        "  \"overhead_fraction\": 0.05, \"tensor_parallel\": 2, \"pipeline_parallel\": \"auto\"}]}";
    assert_int_equal(parse(txt, &m, &e), 0);
    assert_int_equal(m->models[0].opts.overhead_ppm, 200000);
    assert_int_equal(m->models[0].opts.cuda_context_bytes, 0);
    assert_int_equal(m->models[0].opts.dtype, PLAN_DT_INT4);
    assert_int_equal(m->models[0].opts.kv_dtype, PLAN_DT_FP16);
    assert_int_equal(m->models[0].opts.tp, 0);
    assert_int_equal(m->models[1].opts.overhead_ppm, 50000);
    assert_int_equal(m->models[1].opts.tp, 2);
    assert_int_equal(m->models[1].opts.pp, 0);
    assert_int_equal(m->models[1].replicas, 1);
    plan_manifest_free(m);
}

static void hf_config_paths_are_relative_to_the_manifest(void **state)
{
    (void)state;
    plan_manifest *m;
    vp_err e = {0};
    int rc = plan_manifest_load(VP_TEST_DATA "/manifests/llama.json", &m, &e);
    if (rc) fail_msg("%s", e.msg);
    assert_int_equal(m->models[0].arch.params, 8030261248ULL);
    assert_int_equal(m->models[0].arch.kv_heads, 8);
    assert_int_equal(m->models[0].opts.dtype, PLAN_DT_BF16);
    plan_manifest_free(m);
}

static void bad_manifests_get_one_line_naming_the_field(void **state)
{
    (void)state;
    expect_error("{\"models\": [", VP_EPARSE, "m.json: malformed JSON");
    expect_error("[]", VP_EINPUT, "must be a JSON object");
    expect_error("{}", VP_EINPUT, "m.json.models: missing");
    expect_error("{\"models\": []}", VP_EINPUT, "models: empty");
    expect_error("{\"models\": [{\"memory_bytes\": 5}]}", VP_EINPUT, "models[0].name: missing");
    expect_error("{\"models\": [{\"name\": \"a/b\", \"memory_bytes\": 5}]}", VP_EINPUT,
                 "models[0].name");
    expect_error("{\"models\": [{\"name\": \"a\", \"memory_bytes\": -5}]}", VP_EINPUT,
                 "models[0] (a).memory_bytes");
    expect_error("{\"models\": [{\"name\": \"a\", \"memory_bytes\": 1e30}]}", VP_EINPUT,
                 "(a).memory_bytes");
    expect_error("{\"models\": [{\"name\": \"a\", \"memory_bytes\": 5, \"replica\": 2}]}",
                 VP_EINPUT, "(a).replica: unknown field");
    expect_error("{\"models\": [{\"name\": \"a\", \"memory_bytes\": 5, \"replicas\": 1.5}]}",
                 VP_EINPUT, "(a).replicas");
    expect_error("{\"models\": [{\"name\": \"a\", \"params\": 5, \"layers\": 1, \"kv_heads\": 1, "
                 "\"head_dim\": 8, \"dtype\": \"fp3\"}]}",
                 VP_EINPUT, "(a).dtype: unknown dtype \"fp3\"");
    expect_error("{\"models\": [{\"name\": \"a\", \"params\": 5, \"layers\": 1, \"kv_heads\": 1, "
                 "\"head_dim\": 8, \"kv_dtype\": \"int4\"}]}",
                 VP_EINPUT, "(a).kv_dtype");
    expect_error("{\"models\": [{\"name\": \"a\", \"params\": 5, \"kv_heads\": 1, \"head_dim\": 8}]}",
                 VP_EINPUT, "(a).layers: missing");
    expect_error("{\"models\": [{\"name\": \"a\"}]}", VP_EINPUT, "(a): needs hf_config");
    expect_error("{\"models\": [{\"name\": \"a\", \"memory_bytes\": 5, \"params\": 5}]}",
                 VP_EINPUT, "not both");
    expect_error("{\"models\": [{\"name\": \"a\", \"memory_bytes\": 5}, {\"name\": \"a\", "
                 "\"memory_bytes\": 6}]}",
                 VP_EDUP, "models[1].name: \"a\" is already models[0]");
    expect_error("{\"models\": [{\"name\": \"a\", \"memory_bytes\": 5, \"replicas\": 2, "
                 "\"demand\": {\"peak_rps\": 1, \"avg_output_tokens\": 1, "
                 "\"tokens_per_s_per_replica\": 1}}]}",
                 VP_EINPUT, "replicas or demand");
    expect_error("{\"models\": [{\"name\": \"a\", \"memory_bytes\": 5, \"demand\": {\"peak_rps\": "
                 "1, \"avg_output_tokens\": 1, \"tokens_per_s_per_replica\": 0}}]}",
                 VP_EINPUT, "tokens_per_s_per_replica");
    expect_error("{\"models\": [{\"name\": \"a\", \"memory_bytes\": 5, \"tensor_parallel\": 0}]}",
                 VP_EINPUT, "(a).tensor_parallel");
    expect_error("{\"models\": [{\"name\": \"a\", \"memory_bytes\": 5, \"tensor_parallel\": "
                 "\"max\"}]}",
                 VP_EINPUT, "(a).tensor_parallel");
    expect_error("{\"models\": [{\"name\": \"a\", \"memory_bytes\": 5, \"gpu_types\": []}]}",
                 VP_EINPUT, "(a).gpu_types");
    expect_error("{\"models\": [{\"name\": \"a\", \"hf_config\": \"nope.json\"}]}", -2,
                 "(a).hf_config");
    expect_error("{\"models\": [{\"name\": \"a\", \"memory_bytes\": 5, \"replicas\": 1, "
                 "\"replicas\": 50}]}",
                 VP_EINPUT, "(a).replicas: given twice");
    expect_error("{\"models\": [{\"name\": \"a\", \"hf_config\": \"hf/llama-3.1-8b.json\", "
                 "\"layers\": 320}]}",
                 VP_EINPUT, "(a).layers: the hf_config defines the architecture");
    expect_error("{\"models\": [{\"name\": \"a\", \"hf_config\": \"/proc/self\"}]}",
                 VP_EINPUT, "not a regular file");
    expect_error("{\"models\": [{\"name\": \"a\", \"memory_bytes\": 5, \"replicas\": 600000},"
                 " {\"name\": \"b\", \"memory_bytes\": 5, \"replicas\": 600000}]}",
                 VP_ETOOBIG, "replicas in all");
    expect_error("{\"models\": [{\"name\": \"a\", \"memory_bytes\": 5, \"worker\": {\"command\": "
                 "[1]}}]}",
                 VP_EINPUT, "(a).worker.command[0]");
}

static void fleet_files_add_gpus_and_replace_the_catalog(void **state)
{
    (void)state;
    plan_fleet *f;
    vp_err e = {0};
    const char *txt = "{\"gpu_memory_utilization\": 0.95,"
                      " \"gpu_models\": [{\"name\": \"MI300X\", \"memory_bytes\": 206158430208}],"
                      " \"catalog\": [{\"type\": \"big\", \"gpus\": {\"MI300X\": 8}, "
                      "\"price_per_hour\": 40, \"max_count\": 2}],"
                      " \"nodes\": [{\"name\": \"rack-1\", \"type\": \"p5.48xlarge\"},"
                      "            {\"name\": \"desk\", \"gpus\": {\"L4\": 1}, \"price_per_hour\": 0}]}";
    assert_int_equal(plan_fleet_parse(txt, strlen(txt), "f.json", &f, &e), 0);
    assert_int_equal(f->n_types, 1);
    assert_int_equal(f->types[0].max_count, 2);
    assert_int_equal(f->util_ppm, 950000);
    assert_non_null(plan_fleet_gpu(f, "H100")); /* built-in names stay available */
    assert_int_equal(f->n_nodes, 2);
    assert_string_equal(f->nodes[0].gpu, "H100-80GB");
    assert_int_equal(f->nodes[0].n_gpus, 8);
    assert_true(f->nodes[0].price_per_hour > 90);
    assert_int_equal(plan_fleet_usable(f, plan_fleet_gpu(f, "MI300X")), 195850508697ULL);
    plan_fleet_free(f);
}

static void bad_fleets_get_one_line_naming_the_field(void **state)
{
    (void)state;
    static const struct { const char *txt, *needle; } cases[] = {
        {"{\"catalog\": [{\"type\": \"x\", \"gpus\": {\"B200\": 8}, \"price_per_hour\": 1}]}",
         "catalog[0] (x).gpus: unknown GPU model \"B200\""},
        {"{\"catalog\": [{\"type\": \"x\", \"gpus\": {\"L4\": 8}, \"price_per_hour\": -1}]}",
         "catalog[0] (x).price_per_hour"},
        {"{\"catalog\": [{\"type\": \"x\", \"gpus\": {\"L4\": 0}, \"price_per_hour\": 1}]}",
         "catalog[0] (x).gpus.L4"},
        {"{\"catalog\": [{\"type\": \"x\", \"gpus\": {\"L4\": 1, \"A10G\": 1}, "
         "\"price_per_hour\": 1}]}",
         "one GPU model"},
        {"{\"nodes\": [{\"name\": \"n\", \"type\": \"p9.huge\"}]}", "unknown instance type"},
        {"{\"nodes\": [{\"name\": \"n\", \"gpus\": {\"L4\": 1}}, {\"name\": \"n\", \"gpus\": "
         "{\"L4\": 1}}]}",
         "\"n\" is already nodes[0]"},
        {"{\"gpu_memory_utilization\": 1.5, \"nodes\": []}", "gpu_memory_utilization"},
        {"{\"gpu_models\": [{\"name\": \"G\", \"memory_bytes\": 0}], \"nodes\": []}",
         "gpu_models[0].memory_bytes"},
        {"{\"name\": \"empty\"}", "needs \"catalog\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        plan_fleet *f = NULL;
        vp_err e = {0};
        int rc = plan_fleet_parse(cases[i].txt, strlen(cases[i].txt), "f.json", &f, &e);
        if (rc >= 0 || !strstr(e.msg, cases[i].needle))
            fail_msg("fleet %s\n  gave rc %d msg \"%s\"\n  want \"%s\"", cases[i].txt, rc, e.msg,
                     cases[i].needle);
        assert_null(f);
    }
}

static void engines_sources_and_arguments_are_read_with_their_defaults(void **state)
{
    (void)state;
    plan_manifest *m;
    vp_err e = {0};
    const char *txt =
        "{\"models\": ["
        "{\"name\": \"chat\", \"hf_config\": \"hf/llama-3.1-8b.json\","
        " \"source\": \"meta-llama/Llama-3.1-8B-Instruct\", \"engine\": \"vllm\","
        " \"engine_args\": [\"--enable-prefix-caching\", \"{not-a-placeholder}\"],"
        " \"ready_timeout_s\": 1200},"
        "{\"name\": \"small\", \"memory_bytes\": 1000, \"engine\": \"llama.cpp\"},"
        "{\"name\": \"plain\", \"memory_bytes\": 1000},"
        "{\"name\": \"custom\", \"memory_bytes\": 1000,"
        " \"worker\": {\"command\": [\"srv\", \"--port={port}\", \"{\\\"t\\\": 1}\"]}}]}";
    if (parse(txt, &m, &e)) fail_msg("%s", e.msg);
    const plan_model *chat = &m->models[0];
    assert_int_equal(chat->engine, ENG_VLLM);
    assert_string_equal(chat->source, "meta-llama/Llama-3.1-8B-Instruct");
    assert_string_equal(chat->engine_args[0], "--enable-prefix-caching");
    assert_string_equal(chat->engine_args[1], "{not-a-placeholder}"); /* verbatim */
    assert_null(chat->engine_args[2]);
    assert_int_equal(chat->ready_timeout_s, 1200);
    assert_int_equal(m->models[1].engine, ENG_LLAMACPP);
    assert_string_equal(m->models[1].source, "small"); /* default: the model's name */
    assert_int_equal(m->models[1].ready_timeout_s, 0);
    assert_int_equal(m->models[2].engine, ENG_BUILTIN);
    assert_null(m->models[2].engine_args);
    assert_int_equal(m->models[3].engine, ENG_COMMAND); /* a template alone means "command" */
    assert_string_equal(m->models[3].worker_cmd[1], "--port={port}");
    plan_manifest_free(m);
}

static void bad_engines_and_unknown_placeholders_are_refused_with_the_field_named(void **state)
{
    (void)state;
    expect_error("{\"models\": [{\"name\": \"a\", \"memory_bytes\": 1, \"engine\": \"tgi\"}]}",
                 VP_EINPUT, "models[0] (a).engine: unknown engine \"tgi\"");
    expect_error("{\"models\": [{\"name\": \"a\", \"memory_bytes\": 1,"
                 " \"worker\": {\"command\": [\"srv\", \"--port\", \"{prot}\"]}}]}",
                 VP_EINPUT, "(a).worker.command[2]: unknown placeholder {prot}");
    expect_error("{\"models\": [{\"name\": \"a\", \"memory_bytes\": 1, \"engine\": \"command\"}]}",
                 VP_EINPUT, "(a).worker.command: engine \"command\" needs a template");
    expect_error("{\"models\": [{\"name\": \"a\", \"memory_bytes\": 1, \"engine\": \"vllm\","
                 " \"worker\": {\"command\": [\"x\"]}}]}",
                 VP_EINPUT, "(a).worker: a command template is for engine \"command\"");
    expect_error("{\"models\": [{\"name\": \"a\", \"memory_bytes\": 1,"
                 " \"engine_args\": [\"--x\"]}]}",
                 VP_EINPUT, "(a).engine_args: the builtin worker takes none");
    expect_error("{\"models\": [{\"name\": \"a\", \"memory_bytes\": 1, \"engine\": \"vllm\","
                 " \"engine_args\": [1]}]}",
                 VP_EINPUT, "(a).engine_args[0]: must be a string");
    expect_error("{\"models\": [{\"name\": \"a\", \"memory_bytes\": 1, \"engine\": \"vllm\","
                 " \"ready_timeout_s\": 0}]}",
                 VP_EINPUT, "(a).ready_timeout_s: must be an integer");
}

static void an_inline_config_plans_like_its_file_and_paths_are_refused_inline(void **state)
{
    (void)state;
    char *text = NULL;
    vp_err e = {0};
    if (plan_manifest_inline_file(VP_TEST_DATA "/manifests/llama.json", &text, &e))
        fail_msg("%s", e.msg);
    assert_null(strstr(text, "llama-3.1-8b.json")); /* the path is gone, the object is there */
    assert_non_null(strstr(text, "\"num_key_value_heads\""));
    plan_manifest *from_file = NULL, *inl = NULL;
    if (plan_manifest_load(VP_TEST_DATA "/manifests/llama.json", &from_file, &e))
        fail_msg("%s", e.msg);
    if (plan_manifest_parse_inline(text, strlen(text), "api", &inl, &e)) fail_msg("%s", e.msg);
    assert_int_equal(inl->n_models, from_file->n_models);
    for (size_t i = 0; i < inl->n_models; i++) {
        assert_int_equal(inl->models[i].arch.params, from_file->models[i].arch.params);
        assert_int_equal(inl->models[i].arch.kv_heads, from_file->models[i].arch.kv_heads);
        assert_string_equal(inl->models[i].hf_config, "inline");
    }
    plan_manifest_free(from_file);
    plan_manifest_free(inl);
    free(text);

    /* A path in an API manifest is refused without the file being opened. */
    const char *bad = "{\"models\": [{\"name\": \"a\", \"hf_config\": \"/proc/kmsg\"}]}";
    plan_manifest *m = NULL;
    assert_int_equal(plan_manifest_parse_inline(bad, strlen(bad), "api", &m, &e), VP_EINPUT);
    assert_non_null(strstr(e.msg, "api: models[0] (a).hf_config: must be the config object"));
    assert_null(m);
    const char *num = "{\"models\": [{\"name\": \"a\", \"hf_config\": 3}]}";
    assert_int_equal(plan_manifest_parse_inline(num, strlen(num), "api", &m, &e), VP_EINPUT);
    assert_non_null(strstr(e.msg, "hf_config: must be a path or a config object"));
}

static void engines_size_models_with_their_profile_flags_version_and_quantization(void **state)
{
    (void)state;
    plan_manifest *m;
    vp_err e = {0};
    const char *txt =
        "{\"models\": ["
        "{\"name\": \"v\", \"hf_config\": \"hf/llama-3.1-8b.json\", \"engine\": \"vllm\","
        " \"engine_version\": \"0.6.4\", \"engine_args\": [\"--max-num-batched-tokens\", \"4096\","
        " \"--enforce-eager\"]},"
        "{\"name\": \"awq\", \"hf_config\": \"hf/qwen2.5-7b-instruct-awq.json\", \"engine\": \"sglang\"},"
        "{\"name\": \"int8\", \"hf_config\": \"hf/llama-3.1-8b.json\", \"quantization\": \"int8\"},"
        "{\"name\": \"gguf\", \"hf_config\": \"hf/qwen2.5-7b-instruct-awq.json\", \"dtype\": \"q4_k_m\","
        " \"engine\": \"llama.cpp\"},"
        "{\"name\": \"plain\", \"hf_config\": \"hf/llama-3.1-8b.json\"}]}";
    assert_int_equal(parse(txt, &m, &e), 0);
    const plan_fp_opts *v = &m->models[0].opts;
    assert_int_equal(v->engine, ENG_VLLM);
    assert_int_equal(v->engine_version, 604);
    assert_int_equal(v->max_batched_tokens, 4096);
    assert_true(v->enforce_eager);
    /* the config's quantization_config, its fp16 torch_dtype */
    assert_int_equal(m->models[1].opts.quant, PLAN_QUANT_AWQ);
    assert_int_equal(m->models[1].opts.dtype, PLAN_DT_FP16);
    assert_int_equal(m->models[1].opts.engine, ENG_SGLANG);
    assert_int_equal(m->models[2].opts.quant, PLAN_QUANT_INT8);
    /* a GGUF dtype replaces the checkpoint's quantization */
    assert_int_equal(m->models[3].opts.quant, PLAN_QUANT_NONE);
    assert_int_equal(m->models[3].opts.engine, ENG_LLAMACPP);
    /* no engine: the generic model, as before */
    assert_int_equal(m->models[4].opts.engine, ENG_BUILTIN);
    assert_int_equal(m->models[4].opts.quant, PLAN_QUANT_NONE);
    plan_manifest_free(m);

    expect_error("{\"models\": [{\"name\": \"x\", \"hf_config\": \"hf/llama-3.1-8b.json\","
                 " \"quantization\": \"awq4\"}]}",
                 VP_EINPUT, "models[0] (x).quantization: unknown format \"awq4\"");
    expect_error("{\"models\": [{\"name\": \"x\", \"hf_config\": \"hf/llama-3.1-8b.json\","
                 " \"quantization\": \"awq\", \"dtype\": \"int4\"}]}",
                 VP_EINPUT, "models[0] (x).quantization: awq keeps embeddings");
    expect_error("{\"models\": [{\"name\": \"x\", \"memory_bytes\": 1000,"
                 " \"quantization\": \"fp8\"}]}",
                 VP_EINPUT, "models[0] (x).quantization: a memory_bytes model");
    expect_error("{\"models\": [{\"name\": \"x\", \"hf_config\": \"hf/llama-3.1-8b.json\","
                 " \"engine_version\": \"0.6.4\"}]}",
                 VP_EINPUT, "models[0] (x).engine_version: engine \"builtin\" has no versions");
    expect_error("{\"models\": [{\"name\": \"x\", \"hf_config\": \"hf/llama-3.1-8b.json\","
                 " \"engine\": \"vllm\", \"engine_version\": \"new\"}]}",
                 VP_EINPUT, "models[0] (x).engine_version: \"new\" is not a version");
    expect_error("{\"models\": [{\"name\": \"x\", \"hf_config\": \"hf/llama-3.1-8b.json\","
                 " \"engine\": \"vllm\", \"engine_args\": [\"--max-num-seqs\", \"many\"]}]}",
                 VP_EINPUT, "models[0] (x).engine_args: --max-num-seqs");
    /* an engine profile needs the shapes its terms are made of */
    expect_error("{\"models\": [{\"name\": \"x\", \"params\": 7000000000, \"layers\": 32,"
                 " \"kv_heads\": 8, \"head_dim\": 128, \"engine\": \"vllm\"}]}",
                 VP_EINPUT, "models[0] (x).engine: vllm cannot size it: hidden, intermediate and vocab");
}

static void workloads_are_read_into_the_footprint_and_refused_with_the_field_named(void **state)
{
    (void)state;
    plan_manifest *m;
    vp_err e = {0};
    const char *txt =
        "{\"models\": ["
        "{\"name\": \"support-base\", \"hf_config\": \"hf/llama-3.1-8b.json\","
        " \"lora\": {\"adapters\": 40, \"max_resident\": 8, \"rank\": 16, \"targets\": \"all-linear\"},"
        " \"slo\": {\"tpot_ms\": 40, \"ttft_ms\": 800, \"prompt_tokens\": 2000}},"
        "{\"name\": \"nightly\", \"hf_config\": \"hf/qwen2-7b.json\", \"class\": \"batch\","
        " \"replicas\": 4},"
        "{\"name\": \"ft\", \"hf_config\": \"hf/llama-3.1-70b.json\","
        " \"train\": {\"method\": \"qlora\", \"rank\": 16, \"seq_len\": 4096, \"micro_batch\": 2,"
        " \"data_parallel\": 2}},"
        "{\"name\": \"vision\", \"hf_config\": \"hf/llava-1.5-7b.json\", \"images_per_request\": 2,"
        " \"max_batch\": 8},"
        "{\"name\": \"chat-70b\", \"hf_config\": \"hf/llama-3.1-70b.json\", \"dtype\": \"fp8\","
        " \"speculative\": {\"hf_config\": \"hf/llama-3.2-1b.json\", \"num_tokens\": 5}}]}";
    assert_int_equal(parse(txt, &m, &e), 0);
    const plan_model *b = &m->models[0];
    assert_int_equal(b->opts.lora.adapters, 40);
    assert_int_equal(b->opts.lora.max_resident, 8);
    assert_int_equal(b->opts.lora.rank, 16);
    assert_int_equal(b->wclass, PLAN_CLASS_REALTIME);
    assert_true(b->ttft_ms == 800);
    assert_int_equal(b->prompt_tokens, 2000);
    assert_int_equal(m->models[1].wclass, PLAN_CLASS_BATCH);
    const plan_model *ft = &m->models[2];
    assert_int_equal(ft->opts.train.method, PLAN_TRAIN_QLORA);
    assert_int_equal(ft->opts.train.micro_batch, 2);
    assert_int_equal(ft->opts.train.seq_len, 4096);
    assert_int_equal(ft->opts.train.data_parallel, 2);
    assert_int_equal(ft->wclass, PLAN_CLASS_BATCH); /* a training job is batch work */
    assert_int_equal(m->models[3].opts.images, 2);
    const plan_model *c = &m->models[4];
    assert_non_null(c->draft);
    assert_ptr_equal(c->opts.draft, c->draft);
    assert_int_equal(c->draft->params, 1235814400ULL);
    assert_int_equal(c->opts.spec_tokens, 5);
    assert_int_equal(c->opts.draft_dtype, PLAN_DT_BF16);
    plan_manifest_free(m);

    static const struct {
        const char *model, *needle;
    } bad[] = {
        {"\"class\": \"urgent\"", "(x).class: \"urgent\" is not realtime or batch"},
        {"\"lora\": {\"adapters\": 4}", "(x).lora.rank: missing"},
        {"\"lora\": {\"adapters\": 4, \"rank\": 8, \"max_resident\": 5}", "(x).lora.max_resident"},
        {"\"lora\": {\"adapters\": 4, \"rank\": 8, \"targets\": \"mlp\"}", "(x).lora.targets"},
        {"\"train\": {\"method\": \"rlhf\"}", "(x).train.method: \"rlhf\""},
        {"\"train\": {\"method\": \"lora\"}", "(x).train.rank"},
        {"\"train\": {\"method\": \"full\", \"rank\": 8}", "(x).train.rank: full fine-tuning"},
        {"\"train\": {\"method\": \"full\", \"optimizer\": \"lion\"}", "(x).train.optimizer"},
        {"\"train\": {\"method\": \"full\"}, \"engine\": \"vllm\"", "(x).train: engine \"vllm\""},
        {"\"train\": {\"method\": \"lora\", \"rank\": 8}, \"images_per_request\": 1",
         "(x).images_per_request: the model has no vision encoder"},
        {"\"images_per_request\": 2", "(x).images_per_request: the model has no vision encoder"},
        {"\"speculative\": {\"num_tokens\": 3}", "(x).speculative.hf_config"},
        {"\"speculative\": {\"hf_config\": \"hf/llama-3.2-1b.json\", \"num_tokens\": 0}",
         "(x).speculative.num_tokens"},
        {"\"slo\": {\"ttft_ms\": 500}", "(x).slo.prompt_tokens: missing"},
        {"\"slo\": {\"prompt_tokens\": 500}", "(x).slo.prompt_tokens: is the prompt"},
        {"\"train\": {\"method\": \"lora\", \"rank\": 8}, \"tensor_parallel\": 2", "data-parallel"},
    };
    for (size_t i = 0; i < VP_ARRAY_LEN(bad); i++) {
        char doc[512];
        snprintf(doc, sizeof doc,
                 "{\"models\": [{\"name\": \"x\", \"hf_config\": \"hf/llama-3.1-8b.json\", %s}]}",
                 bad[i].model);
        expect_error(doc, VP_EINPUT, bad[i].needle);
    }
}

static void fleets_carry_tiers_interruptions_and_builtin_parts(void **state)
{
    (void)state;
    const char *txt =
        "{\"catalog\": [{\"type\": \"g5.xlarge:spot\", \"gpus\": {\"A10G\": 1}, \"price_per_hour\": 0.4,"
        " \"tier\": \"spot\", \"interruptions_per_hour\": 0.05},"
        " {\"type\": \"p5-1y\", \"gpus\": {\"H100\": 8}, \"price_per_hour\": 55, \"tier\": \"reserved\"}],"
        " \"gpu_models\": [{\"name\": \"RTX-4090\", \"memory_bytes\": 25757220864,"
        " \"cuda_bytes\": 25386352640, \"bandwidth_gbs\": 1008, \"tflops_bf16\": 165}],"
        " \"nodes\": [{\"name\": \"n0\", \"type\": \"g5.xlarge:spot\"},"
        "  {\"name\": \"n1\", \"gpus\": {\"RTX-4090\": 2}, \"tier\": \"reserved\"}],"
        " \"include_builtin\": [\"spot\", \"gpu_clouds\"]}";
    plan_fleet *f = NULL;
    vp_err e = {0};
    assert_int_equal(plan_fleet_parse(txt, strlen(txt), "f.json", &f, &e), 0);
    assert_int_equal(f->types[0].tier, PLAN_TIER_SPOT);
    assert_true(f->types[0].interruptions_per_hour == 0.05);
    assert_int_equal(f->types[1].tier, PLAN_TIER_RESERVED);
    assert_int_equal(f->nodes[0].tier, PLAN_TIER_SPOT); /* from its instance type */
    assert_int_equal(f->nodes[1].tier, PLAN_TIER_RESERVED);
    const plan_gpu_model *g = plan_fleet_gpu(f, "RTX-4090");
    assert_int_equal(plan_gpu_cuda_bytes(g), 25386352640ULL);
    assert_int_equal(g->tflops_bf16, 165);
    /* the built-in spot variants (40% of on-demand) and GPU clouds were added; g5.xlarge:spot
     * was the file's own and stays its price */
    bool lambda = false, p5spot = false;
    for (size_t i = 0; i < f->n_types; i++) {
        if (!strcmp(f->types[i].type, "lambda-gpu_1x_h100_sxm5")) lambda = true;
        if (!strcmp(f->types[i].type, "p5.48xlarge:spot")) {
            p5spot = true;
            assert_true(f->types[i].price_per_hour < 98.32 * 0.41);
            assert_int_equal(f->types[i].tier, PLAN_TIER_SPOT);
        }
        if (!strcmp(f->types[i].type, "g5.xlarge:spot")) assert_true(f->types[i].price_per_hour == 0.4);
    }
    assert_true(lambda && p5spot);
    plan_fleet_free(f);
    /* the built-in catalog is on demand only, as before */
    plan_fleet *b = plan_fleet_builtin();
    for (size_t i = 0; i < b->n_types; i++) assert_int_equal(b->types[i].tier, PLAN_TIER_ON_DEMAND);
    plan_fleet_free(b);

    static const struct {
        const char *doc, *needle;
    } bad[] = {
        {"{\"catalog\": [{\"type\": \"x\", \"gpus\": {\"L4\": 1}, \"price_per_hour\": 1, \"tier\": \"cheap\"}]}",
         "catalog[0] (x).tier: \"cheap\""},
        {"{\"catalog\": [{\"type\": \"x\", \"gpus\": {\"L4\": 1}, \"price_per_hour\": 1,"
         " \"interruptions_per_hour\": 0.1}]}",
         "catalog[0] (x).interruptions_per_hour: only spot"},
        {"{\"include_builtin\": [\"preemptible\"]}", "include_builtin: \"preemptible\""},
        {"{\"include_builtin\": []}", "include_builtin: must be a non-empty array"},
    };
    for (size_t i = 0; i < VP_ARRAY_LEN(bad); i++) {
        plan_fleet *x = NULL;
        vp_err xe = {0};
        int rc = plan_fleet_parse(bad[i].doc, strlen(bad[i].doc), "f.json", &x, &xe);
        if (rc != VP_EINPUT || !strstr(xe.msg, bad[i].needle))
            fail_msg("%s: rc %d msg %s", bad[i].doc, rc, xe.msg);
        assert_null(x);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(demand_derives_the_replica_count_by_ceiling),
        cmocka_unit_test(defaults_apply_and_models_override_them),
        cmocka_unit_test(hf_config_paths_are_relative_to_the_manifest),
        cmocka_unit_test(bad_manifests_get_one_line_naming_the_field),
        cmocka_unit_test(fleet_files_add_gpus_and_replace_the_catalog),
        cmocka_unit_test(bad_fleets_get_one_line_naming_the_field),
        cmocka_unit_test(engines_sources_and_arguments_are_read_with_their_defaults),
        cmocka_unit_test(bad_engines_and_unknown_placeholders_are_refused_with_the_field_named),
        cmocka_unit_test(an_inline_config_plans_like_its_file_and_paths_are_refused_inline),
        cmocka_unit_test(engines_size_models_with_their_profile_flags_version_and_quantization),
        cmocka_unit_test(workloads_are_read_into_the_footprint_and_refused_with_the_field_named),
        cmocka_unit_test(fleets_carry_tiers_interruptions_and_builtin_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
