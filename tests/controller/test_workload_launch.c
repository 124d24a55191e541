/* test_workload_launch.c - a manifest's LoRA adapters and speculative draft on a real vLLM command
 * line: a controller, one simulated agent with a fake `vllm` first on its PATH
 * (tests/agent/fake_engine.py, which records every launch), and a one-model manifest with `lora`
 * and `speculative`.
 *
 * Checked, in order: a draft without speculative.source is refused when the manifest is
 * submitted, naming the model and the field; the replica's engine gets --enable-lora,
 * --max-loras (lora.max_resident, by default min(adapters, 8)), --max-lora-rank and the
 * --speculative-config its version (0.11.1) takes, with the draft's source and num_tokens; and a
 * changed max_resident and num_tokens roll the replica onto an engine started with the new
 * flags. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* after setjmp.h, stdarg.h, stddef.h and stdint.h, which cmocka.h needs */
#include <cmocka.h>

#include "harness.h"

#define HB_MS 1000
#define LOAD_MS 300
#define DRAFT "meta-llama/Llama-3.2-1B-Instruct"

static h_env env;
static char engine_log[600];

/* Llama-3.2-1B's config.json, inline (a submitted manifest carries its configs). */
#define DRAFT_CONFIG                                                                               \
    "{\"model_type\":\"llama\",\"hidden_size\":2048,\"intermediate_size\":8192,"                   \
    "\"num_hidden_layers\":16,\"num_attention_heads\":32,\"num_key_value_heads\":8,"               \
    "\"head_dim\":64,\"vocab_size\":128256,\"tie_word_embeddings\":true,"                          \
    "\"max_position_embeddings\":131072,\"torch_dtype\":\"bfloat16\"}"

#define MANIFEST(resident, speculative)                                                            \
    "{\"models\":[{\"name\":\"support\",\"engine\":\"vllm\","                                      \
    "\"source\":\"meta-llama/Llama-3.1-8B-Instruct\",\"params\":8000000000,\"layers\":32,"         \
    "\"kv_heads\":8,\"head_dim\":128,\"dtype\":\"bf16\",\"hidden\":4096,"                          \
    "\"intermediate\":14336,\"vocab\":128256,\"max_seq_len\":4096,\"max_batch\":4,"                \
    "\"lora\":{\"adapters\":40,\"rank\":16" resident "},"                                          \
    "\"speculative\":{\"hf_config\":" DRAFT_CONFIG speculative "}}]}"

static const char manifest_no_source[] = MANIFEST("", ",\"num_tokens\":4");
static const char manifest_v1[] = MANIFEST("", ",\"source\":\"" DRAFT "\",\"num_tokens\":4");
static const char manifest_v2[] =
    MANIFEST(",\"max_resident\":4", ",\"source\":\"" DRAFT "\",\"num_tokens\":6");

static int setup(void **state)
{
    (void)state;
    if (h_setup(&env, "wlaunch", HB_MS, false)) return -1;
    if (h_fake_engines(&env, LOAD_MS, engine_log, sizeof engine_log)) return -1;
    setenv("FAKE_ENGINE_VERSION", "0.11.1", 1);
    if (h_start_controller(&env, 0, NULL)) return -1;
    env.ports_base = 46000 + (int)(getpid() % 300) * 16;
    const char *extra[] = {"--probe-ms", "100", NULL};
    memset(env.agent_extra, 0, sizeof env.agent_extra);
    for (int k = 0; extra[k]; k++)
        env.agent_extra[k] = extra[k];
    char name[64];
    snprintf(name, sizeof name, "wl%ld-a", (long)getpid());
    if (h_start_agent(&env, name, "TGPU:2:80Gi") < 0) return -1;
    long long end = h_now_ms() + 20000;
    while (h_nodes_connected(&env) != 1 && h_now_ms() < end)
        usleep(25000);
    return h_nodes_connected(&env) == 1 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    h_teardown(&env);
    return 0;
}

/* The fake engine's launch record of pid (its argv), or NULL; *all is freed by the caller. */
static const cJSON *launch_of(int pid, cJSON **all)
{
    *all = cJSON_CreateArray();
    FILE *fp = fopen(engine_log, "r");
    char line[16384];
    while (fp && fgets(line, sizeof line, fp)) {
        cJSON *j = cJSON_Parse(line);
        if (j) cJSON_AddItemToArray(*all, j);
    }
    if (fp) fclose(fp);
    const cJSON *r;
    cJSON_ArrayForEach(r, *all) if ((int)h_num(r, "pid") == pid &&
                                    cJSON_GetObjectItemCaseSensitive(r, "argv")) return r;
    return NULL;
}

/* The value after `flag` in a launch's argv, or "" (with whether the flag is there at all). */
static const char *flag_value(const cJSON *launch, const char *flag, bool *present)
{
    const cJSON *a;
    bool next = false;
    *present = false;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(launch, "argv"))
    {
        if (next) return a->valuestring;
        next = !strcmp(a->valuestring, flag);
        *present = *present || next;
    }
    return "";
}

static void expect_flag(const cJSON *launch, const char *flag, const char *want)
{
    bool present;
    const char *got = flag_value(launch, flag, &present);
    if (!present) fail_msg("%s missing from the engine's argv", flag);
    if (want && strcmp(got, want)) fail_msg("%s: got \"%s\", want \"%s\"", flag, got, want);
}

typedef struct running {
    char rev[32];
    int pid;
} running;

/* support/0 running with no previous revision beside it, and a revision other than ud's. */
static bool settled_on_new_rev(h_env *h, void *ud)
{
    running *r = ud;
    cJSON *pl = h_get(h, "/v1/placements", NULL);
    const cJSON *q = h_find_id(cJSON_GetObjectItemCaseSensitive(pl, "placements"), "support/0");
    bool ok = q && !strcmp(h_str(q, "state"), "running") &&
              !cJSON_GetObjectItemCaseSensitive(q, "previous") && strcmp(h_str(q, "rev"), r->rev);
    if (ok) {
        snprintf(r->rev, sizeof r->rev, "%s", h_str(q, "rev"));
        r->pid = (int)h_num(q, "pid");
    }
    cJSON_Delete(pl);
    return ok;
}

static running current; /* what the previous case left running */

static void test_a_vllm_draft_without_a_source_is_refused_naming_the_field(void **state)
{
    (void)state;
    cJSON *ans = NULL;
    assert_int_equal(h_submit_text(&env, manifest_no_source, &ans), 400);
    const char *msg = h_str(ans, "error");
    if (!strstr(msg, "speculative.source") || !strstr(msg, "support"))
        fail_msg("error \"%s\" names neither speculative.source nor the model", msg);
    cJSON_Delete(ans);
    cJSON *pl = h_get(&env, "/v1/placements", NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(pl, "placements")), 0);
    cJSON_Delete(pl);
}

static void test_adapters_and_a_draft_reach_the_vllm_command_line(void **state)
{
    (void)state;
    cJSON *ans = NULL;
    assert_int_equal(h_submit_text(&env, manifest_v1, &ans), 200);
    assert_int_equal((int)h_num(ans, "placements"), 1);
    cJSON_Delete(ans);
    current.rev[0] = '\0';
    assert_true(h_wait(settled_on_new_rev, &env, &current, 30000));
    cJSON *recs = NULL;
    const cJSON *l = launch_of(current.pid, &recs);
    if (!l) fail_msg("no launch recorded for pid %d", current.pid);
    expect_flag(l, "serve", "meta-llama/Llama-3.1-8B-Instruct");
    expect_flag(l, "--enable-lora", NULL);
    expect_flag(l, "--max-loras", "8"); /* min(40 adapters, 8) */
    expect_flag(l, "--max-lora-rank", "16");
    expect_flag(l, "--speculative-config",
                "{\"model\": \"" DRAFT "\", \"num_speculative_tokens\": 4}");
    bool legacy;
    flag_value(l, "--speculative-model", &legacy);
    assert_false(legacy);
    cJSON_Delete(recs);
}

static void test_changed_adapters_and_draft_tokens_roll_the_replica_onto_new_flags(void **state)
{
    (void)state;
    char before[32];
    snprintf(before, sizeof before, "%s", current.rev);
    assert_true(before[0]);
    cJSON *ans = NULL;
    assert_int_equal(h_submit_text(&env, manifest_v2, &ans), 200);
    const cJSON *roll = cJSON_GetObjectItemCaseSensitive(ans, "roll");
    assert_int_equal(cJSON_GetArraySize(roll), 1);
    assert_string_equal(cJSON_GetArrayItem(roll, 0)->valuestring, "support/0");
    cJSON_Delete(ans);
    assert_true(h_wait(settled_on_new_rev, &env, &current, 30000));
    assert_string_not_equal(current.rev, before);
    cJSON *recs = NULL;
    const cJSON *l = launch_of(current.pid, &recs);
    if (!l) fail_msg("no launch recorded for pid %d", current.pid);
    expect_flag(l, "--max-loras", "4");
    expect_flag(l, "--max-lora-rank", "16");
    expect_flag(l, "--speculative-config",
                "{\"model\": \"" DRAFT "\", \"num_speculative_tokens\": 6}");
    cJSON_Delete(recs);
}

int main(void)
{
    if (h_available()) return 77;
    if (h_python_available()) return 77;
    alarm(200);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_vllm_draft_without_a_source_is_refused_naming_the_field),
        cmocka_unit_test(test_adapters_and_a_draft_reach_the_vllm_command_line),
        cmocka_unit_test(test_changed_adapters_and_draft_tokens_roll_the_replica_onto_new_flags),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
