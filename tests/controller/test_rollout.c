/* test_rollout.c - rolling engines when the GPUs are full: three agents whose GPUs hold one
 * replica of `chat` each (no room beside it) and a single-replica `solo`. Changing their
 * engine_args replaces every replica; from the fake engines' own records (start, ready after
 * the load delay, exit), `chat` always has a ready engine — one replica at a time is stopped
 * first, only while the other serves — and `solo`, which has no other replica, is started on
 * another GPU before its old engine stops. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

/* after setjmp.h, stdarg.h, stddef.h and stdint.h, which cmocka.h needs */
#include <cmocka.h>

#include "harness.h"

#define HB_MS 300
#define LOAD_MS 1000
#define N_PLACEMENTS 3

static h_env env;
static char engine_log[600];

#define MANIFEST(chat_args, solo_args)                                                             \
    "{\"models\":["                                                                                \
    "{\"name\":\"chat\",\"engine\":\"vllm\",\"source\":\"meta-llama/Llama-3.1-8B-Instruct\","      \
    "\"params\":8000000000,\"layers\":32,\"kv_heads\":8,\"head_dim\":128,\"dtype\":\"fp16\","      \
    "\"hidden\":4096,\"intermediate\":14336,\"vocab\":128256,"                                     \
    "\"max_seq_len\":8192,\"max_batch\":16,\"tensor_parallel\":2,\"replicas\":2,"                  \
    "\"spread\":true" chat_args "},"                                                               \
    "{\"name\":\"solo\",\"engine\":\"vllm\",\"memory_bytes\":15032385536" solo_args "}]}"

static const char v1[] = MANIFEST("", "");
static const char v2[] = MANIFEST(",\"engine_args\":[\"--enable-prefix-caching\"]",
                                  ",\"engine_args\":[\"--enforce-eager\"]");

static int setup(void **state)
{
    (void)state;
    if (h_setup(&env, "rollout", HB_MS, false)) return -1;
    /* A fake vllm first on the agents' PATH. */
    if (h_fake_engines(&env, LOAD_MS, engine_log, sizeof engine_log)) return -1;
    if (h_start_controller(&env, 0, NULL)) return -1;
    env.ports_base = 51000 + (int)(getpid() % 200) * 64;
    env.agent_extra[0] = "--probe-ms";
    env.agent_extra[1] = "100";
    return h_start_fleet(&env, "roll", 3, "TGPU:2:24Gi");
}

static int teardown(void **state)
{
    (void)state;
    h_teardown(&env);
    return 0;
}

static double wall_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

/* The longest time within [from, to] at which no engine of `model` was ready (0: never). */
static double longest_gap(const h_engine *e, int n, const char *model, double from, double to)
{
    double gap = 0;
    for (double t = from; t <= to; t += 0.01) {
        bool up = false;
        for (int i = 0; i < n && !up; i++)
            up = !strcmp(e[i].model, model) && e[i].start + LOAD_MS / 1000.0 <= t && t < e[i].exit;
        if (up) continue;
        double start = t;
        while (t <= to) {
            bool back = false;
            for (int i = 0; i < n && !back; i++)
                back = !strcmp(e[i].model, model) && e[i].start + LOAD_MS / 1000.0 <= t &&
                       t < e[i].exit;
            if (back) break;
            t += 0.01;
        }
        if (t - start > gap) gap = t - start;
    }
    return gap;
}

static bool rolled(h_env *h, void *ud)
{
    const char *old_revs = ud;
    cJSON *pl = h_get(h, "/v1/placements", NULL);
    int ok = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(pl, "placements")) ok +=
        !strcmp(h_str(it, "state"), "running") &&
        !cJSON_GetObjectItemCaseSensitive(it, "previous") && !strstr(old_revs, h_str(it, "rev"));
    cJSON_Delete(pl);
    return ok == N_PLACEMENTS;
}

static void test_a_roll_without_room_keeps_every_model_serving(void **state)
{
    (void)state;
    assert_int_equal(h_submit_text(&env, v1, NULL), 200);
    int n = N_PLACEMENTS;
    assert_true(h_wait(h_all_running, &env, &n, 30000));
    cJSON *before = h_get(&env, "/v1/placements", NULL);
    char old_revs[256] = "", solo_slot[128] = "";
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(before, "placements"))
    {
        strncat(old_revs, h_str(it, "rev"), sizeof old_revs - strlen(old_revs) - 2);
        strcat(old_revs, " ");
        if (!strcmp(h_str(it, "model"), "solo"))
            snprintf(solo_slot, sizeof solo_slot, "%s/%d", h_str(it, "node"),
                     cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(it, "gpus"), 0)->valueint);
    }
    cJSON_Delete(before);

    double t0 = wall_s();
    cJSON *ans = NULL;
    assert_int_equal(h_submit_text(&env, v2, &ans), 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ans, "roll")), 3);
    cJSON_Delete(ans);
    assert_true(h_wait(rolled, &env, old_revs, 60000));
    double t1 = wall_s();

    h_engine e[32];
    int ne = h_engines(engine_log, e, 32);
    assert_int_equal(ne, 6); /* 3 old engines, 3 new ones, nothing started twice */
    double chat_gap = longest_gap(e, ne, "chat", t0, t1);
    double solo_gap = longest_gap(e, ne, "solo", t0, t1);
    printf("roll took %.1f s; longest time without a ready engine: chat %.2f s, solo %.2f s\n",
           t1 - t0, chat_gap, solo_gap);
    /* 20 ms of sampling granularity */
    if (chat_gap > 0.02) fail_msg("chat had no ready engine for %.2f s", chat_gap);
    if (solo_gap > 0.02) fail_msg("solo had no ready engine for %.2f s", solo_gap);
    /* chat had to stop one replica first (no room beside it), solo moved to a free GPU */
    const char *brk[] = {"msg=roll_break", "id=chat/", NULL};
    assert_true(h_log_has(env.ctl_log, brk));
    const char *mv[] = {"msg=roll_move", "id=solo/0", NULL};
    assert_true(h_log_has(env.ctl_log, mv));
    cJSON *after = h_get(&env, "/v1/placements", NULL);
    const cJSON *s = h_find_id(cJSON_GetObjectItemCaseSensitive(after, "placements"), "solo/0");
    char slot[128];
    snprintf(slot, sizeof slot, "%s/%d", h_str(s, "node"),
             cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(s, "gpus"), 0)->valueint);
    assert_string_not_equal(slot, solo_slot);
    cJSON_Delete(after);
}

int main(void)
{
    if (h_available()) return 77;
    if (h_python_available()) return 77;
    alarm(200);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_roll_without_room_keeps_every_model_serving),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
