/* test_dry_run.c - submitting safely: `submit --dry-run` (POST /v1/manifests?dry_run=1)
 * answers what a manifest would change — placements added, removed, moved, rolled, over
 * capacity, cost before and after — and changes nothing; a real submit whose plan has room for
 * none of the replicas that run now stops none of them: they keep running, reported as over
 * capacity, until a plan has room for them or the manifest drops them. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* after setjmp.h, stdarg.h, stddef.h and stdint.h, which cmocka.h needs */
#include <cmocka.h>

#include "harness.h"

#define HB_MS 300
#define MANIFEST VP_TEST_DATA "/control/manifest.json"
#define N_PLACEMENTS 7

static h_env env;

static int setup(void **state)
{
    (void)state;
    if (h_setup(&env, "dryrun", HB_MS, false) || h_start_controller(&env, 0, NULL)) return -1;
    if (h_start_fleet(&env, "dry", 3, "TGPU:2:2Gi")) return -1;
    if (h_submit(&env, MANIFEST, NULL) != 200) return -1;
    int n = N_PLACEMENTS;
    return h_wait(h_all_running, &env, &n, 30000) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    h_teardown(&env);
    return 0;
}

static char *text_of(const char *path)
{
    cJSON *j = h_get(&env, path, NULL);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

static int count(const cJSON *ans, const char *key)
{
    return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ans, key));
}

static void test_a_dry_run_answers_the_diff_and_changes_nothing(void **state)
{
    (void)state;
    char *plan_before = text_of("/v1/plan"), *pl_before = text_of("/v1/placements");
    /* rerank goes, chat grows to 3, embed is bigger (placed again), a new model comes. */
    const char m2[] = "{\"models\":["
                      "{\"name\":\"embed\",\"memory_bytes\":262144000,\"replicas\":3,"
                      "\"spread\":true},"
                      "{\"name\":\"chat\",\"memory_bytes\":629145600,\"replicas\":3},"
                      "{\"name\":\"new\",\"memory_bytes\":104857600}]}";
    char *body = NULL;
    int st = h_request(&env, "POST", "/v1/manifests?dry_run=1", NULL, m2, sizeof m2 - 1, &body);
    assert_int_equal(st, 200);
    cJSON *ans = cJSON_Parse(body);
    free(body);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ans, "dry_run")));
    assert_int_equal(count(ans, "removed"), 2);                 /* rerank/0, rerank/1 */
    assert_int_equal(count(ans, "added"), 2);                   /* chat/2, new/0 */
    assert_true(count(ans, "moved") + count(ans, "roll") >= 3); /* embed's new footprint */
    assert_true(h_num(ans, "cost_before") > 0);
    assert_true(h_num(ans, "cost_after") >= 0);
    cJSON_Delete(ans);
    usleep(3 * HB_MS * 1000);
    char *plan_after = text_of("/v1/plan"), *pl_after = text_of("/v1/placements");
    assert_string_equal(plan_before, plan_after);
    assert_string_equal(pl_before, pl_after); /* same states, same pids */
    assert_int_equal((int)h_metric(&env, "vrampack_submits_total"), 1);
    free(plan_before);
    free(plan_after);
    free(pl_before);
    free(pl_after);
}

static void test_a_manifest_with_room_for_nothing_stops_nothing(void **state)
{
    (void)state;
    cJSON *before = h_get(&env, "/v1/placements", NULL);
    /* The same models, each now asking for more than any GPU has. */
    const char huge[] = "{\"models\":["
                        "{\"name\":\"embed\",\"memory_bytes\":107374182400,\"replicas\":3,"
                        "\"spread\":true},"
                        "{\"name\":\"rerank\",\"memory_bytes\":107374182400,\"replicas\":2},"
                        "{\"name\":\"chat\",\"memory_bytes\":107374182400,\"replicas\":2}]}";
    cJSON *ans = NULL;
    assert_int_equal(h_submit_text(&env, huge, &ans), 200);
    assert_int_equal((int)h_num(ans, "placements"), 0);
    assert_int_equal(count(ans, "over_capacity"), N_PLACEMENTS);
    assert_int_equal(count(ans, "removed"), 0);
    cJSON_Delete(ans);
    usleep(4 * HB_MS * 1000);
    cJSON *after = h_get(&env, "/v1/placements", NULL);
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(before, "placements"))
    {
        const cJSON *q =
            h_find_id(cJSON_GetObjectItemCaseSensitive(after, "placements"), h_str(it, "id"));
        assert_non_null(q);
        assert_string_equal(h_str(q, "state"), "over_capacity");
        assert_int_equal((int)h_num(q, "pid"), (int)h_num(it, "pid"));
        assert_string_equal(h_str(q, "node"), h_str(it, "node"));
        assert_true(kill((int)h_num(q, "pid"), 0) == 0);
    }
    cJSON_Delete(after);
    cJSON_Delete(before);
    /* Dropping a model from the manifest does stop it. */
    const char fewer[] = "{\"models\":["
                         "{\"name\":\"embed\",\"memory_bytes\":107374182400,\"replicas\":3,"
                         "\"spread\":true},"
                         "{\"name\":\"chat\",\"memory_bytes\":107374182400,\"replicas\":2}]}";
    assert_int_equal(h_submit_text(&env, fewer, NULL), 200);
    long long end = h_now_ms() + 10000;
    int rerank = 1;
    while (rerank && h_now_ms() < end) {
        cJSON *pl = h_get(&env, "/v1/placements", NULL);
        rerank = 0;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(pl, "placements")) rerank +=
            !strcmp(h_str(it, "model"), "rerank");
        cJSON_Delete(pl);
        usleep(50000);
    }
    assert_int_equal(rerank, 0);
}

static void test_the_cli_dry_run_prints_the_diff(void **state)
{
    (void)state;
    char out[600];
    snprintf(out, sizeof out, "%s/dry.out", env.dir);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = freopen(out, "w", stdout);
        (void)f;
        char *argv[] = {env.bin, "submit", MANIFEST, "--api", env.api, "--dry-run", NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    int st = h_stop(pid, 0, 30000);
    assert_true(WIFEXITED(st));
    const char *say[] = {"dry run of", NULL};
    assert_true(h_log_has(out, say));
    const char *added[] = {"would be added:", "rerank/0", NULL};
    assert_true(h_log_has(out, added));
    assert_int_equal((int)h_metric(&env, "vrampack_submits_total"), 3);
}

int main(void)
{
    if (h_available()) return 77;
    alarm(120);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_dry_run_answers_the_diff_and_changes_nothing),
        cmocka_unit_test(test_a_manifest_with_room_for_nothing_stops_nothing),
        cmocka_unit_test(test_the_cli_dry_run_prints_the_diff),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
