/* test_running.c - a controller and three simulated agents on loopback: a submitted manifest
 * comes up running everywhere the plan says, the API, the metrics and the worker processes
 * agree, and submitting the same manifest again moves nothing. */
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

#define HB_MS 200
#define MANIFEST VP_TEST_DATA "/control/manifest.json"
#define N_PLACEMENTS 7 /* embed x3 + rerank x2 + chat x2 */

static h_env env;

static int setup(void **state)
{
    (void)state;
    if (h_setup(&env, "running", HB_MS, false) || h_start_controller(&env, 0, NULL)) return -1;
    if (h_start_fleet(&env, "run", 3, "TGPU:2:2Gi")) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_teardown(&env);
    return 0;
}

static void test_a_submitted_manifest_comes_up_running_on_every_placement(void **state)
{
    (void)state;
    cJSON *ans = NULL;
    assert_int_equal(h_submit(&env, MANIFEST, &ans), 200);
    assert_non_null(ans);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ans, "unplaced")), 0);
    assert_int_equal((int)h_num(ans, "placements"), N_PLACEMENTS);
    cJSON_Delete(ans);
    int n = N_PLACEMENTS;
    assert_true(h_wait(h_all_running, &env, &n, 30000));
}

static void test_placements_agree_with_the_plan(void **state)
{
    (void)state;
    int st;
    cJSON *plan = h_get(&env, "/v1/plan", &st);
    assert_int_equal(st, 200);
    cJSON *pl = h_get(&env, "/v1/placements", &st);
    assert_int_equal(st, 200);
    const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(plan, "nodes");
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(plan, "placements");
    const cJSON *pa = cJSON_GetObjectItemCaseSensitive(pl, "placements");
    assert_int_equal(cJSON_GetArraySize(pp), N_PLACEMENTS);
    assert_int_equal(cJSON_GetArraySize(pa), cJSON_GetArraySize(pp));
    assert_true(cJSON_IsArray(nodes));
    const cJSON *it;
    cJSON_ArrayForEach(it, pp)
    {
        const cJSON *q = h_find_id(pa, h_str(it, "id"));
        assert_non_null(q);
        assert_string_equal(h_str(q, "node"), h_str(it, "node"));
        assert_string_equal(h_str(q, "model"), h_str(it, "model"));
        assert_true(h_num(q, "bytes_per_gpu") == h_num(it, "bytes_per_gpu"));
        assert_true(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(q, "gpus"),
                                  cJSON_GetObjectItemCaseSensitive(it, "gpus"), true));
        assert_string_equal(h_str(q, "state"), "running");
    }
    /* Every node the plan uses is one of the three agents. */
    cJSON_ArrayForEach(it, pp)
    {
        bool known = false;
        for (int i = 0; i < env.n_agents; i++)
            known = known || !strcmp(h_str(it, "node"), env.agents[i].name);
        assert_true(known);
    }
    cJSON_Delete(plan);
    cJSON_Delete(pl);
}

static void test_each_agent_runs_exactly_one_worker_per_placement_it_was_given(void **state)
{
    (void)state;
    cJSON *pl = h_get(&env, "/v1/placements", NULL);
    const cJSON *pa = cJSON_GetObjectItemCaseSensitive(pl, "placements"), *it;
    int total = 0;
    for (int i = 0; i < env.n_agents; i++) {
        int want = 0;
        cJSON_ArrayForEach(it, pa) want += !strcmp(h_str(it, "node"), env.agents[i].name);
        assert_int_equal(h_count_workers(env.agents[i].pid), want);
        total += want;
    }
    assert_int_equal(total, N_PLACEMENTS);
    cJSON_Delete(pl);
}

static bool heartbeats_seen(h_env *h, void *ud)
{
    (void)ud;
    return h_metric(h, "vrampack_heartbeats_total") >= 3;
}

static void test_metrics_count_agents_and_running_placements(void **state)
{
    (void)state;
    assert_true(h_wait(heartbeats_seen, &env, NULL, 10 * HB_MS));
    assert_int_equal((int)h_metric(&env, "vrampack_agents_connected"), 3);
    assert_int_equal((int)h_metric(&env, "vrampack_placements{state=\"running\"}"), N_PLACEMENTS);
    assert_int_equal((int)h_metric(&env, "vrampack_placements{state=\"unplaced\"}"), 0);
    assert_int_equal((int)h_metric(&env, "vrampack_submits_total"), 1);
    assert_true(h_metric(&env, "vrampack_solve_seconds_count") >= 1);
}

static void test_resubmitting_the_same_manifest_moves_nothing(void **state)
{
    (void)state;
    cJSON *before = h_get(&env, "/v1/placements", NULL);
    cJSON *ans = NULL;
    assert_int_equal(h_submit(&env, MANIFEST, &ans), 200);
    assert_int_equal((int)h_num(ans, "kept"), N_PLACEMENTS);
    assert_int_equal((int)h_num(ans, "placed"), 0);
    cJSON_Delete(ans);
    usleep(3 * HB_MS * 1000);
    cJSON *after = h_get(&env, "/v1/placements", NULL);
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(before, "placements"))
    {
        const cJSON *q =
            h_find_id(cJSON_GetObjectItemCaseSensitive(after, "placements"), h_str(it, "id"));
        assert_non_null(q);
        assert_string_equal(h_str(q, "node"), h_str(it, "node"));
        assert_true(h_num(q, "pid") == h_num(it, "pid")); /* the same worker, not a restart */
        assert_string_equal(h_str(q, "state"), "running");
    }
    cJSON_Delete(before);
    cJSON_Delete(after);
}

static void test_status_command_shows_nodes_and_placements(void **state)
{
    (void)state;
    char out[600], cmd[1400];
    snprintf(out, sizeof out, "%s/status.txt", env.dir);
    snprintf(cmd, sizeof cmd, "'%s' status --api %s > '%s' 2>&1", env.bin, env.api, out);
    assert_int_equal(WEXITSTATUS(system(cmd)), 0);
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    assert_non_null(strstr(text, "nodes: 3 (3 ready, 0 lost, 3 connected)"));
    assert_non_null(strstr(text, "placements: 7 (7 running)"));
    assert_non_null(strstr(text, env.agents[0].name));

    snprintf(cmd, sizeof cmd, "'%s' status --json --api %s > '%s' 2>&1", env.bin, env.api, out);
    assert_int_equal(WEXITSTATUS(system(cmd)), 0);
    f = fopen(out, "r");
    assert_non_null(f);
    n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "nodes")), 3);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "placements")),
                     N_PLACEMENTS);
    cJSON_Delete(j);
}

static bool rerank_gone(h_env *h, void *ud)
{
    (void)ud;
    int n = 5, workers = 0;
    if (!h_all_running(h, &n)) return false;
    for (int i = 0; i < h->n_agents; i++)
        workers += h_count_workers(h->agents[i].pid);
    cJSON *nodes = h_get(h, "/v1/nodes", NULL);
    bool reported = false;
    const cJSON *nd, *r;
    cJSON_ArrayForEach(nd, cJSON_GetObjectItemCaseSensitive(nodes, "nodes"))
        cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(nd, "reported")) reported =
            reported || !strncmp(h_str(r, "id"), "rerank/", 7);
    cJSON_Delete(nodes);
    return workers == 5 && !reported;
}

static void test_a_model_dropped_from_the_manifest_is_released_and_the_rest_stays(void **state)
{
    (void)state;
    cJSON *before = h_get(&env, "/v1/placements", NULL);
    cJSON *ans = NULL;
    assert_int_equal(h_submit(&env, VP_TEST_DATA "/control/manifest-smaller.json", &ans), 200);
    assert_int_equal((int)h_num(ans, "kept"), 5);
    assert_int_equal((int)h_num(ans, "placed"), 0);
    cJSON_Delete(ans);
    assert_true(h_wait(rerank_gone, &env, NULL, 20000));
    assert_true(h_metric(&env, "vrampack_releases_sent_total") >= 2);
    cJSON *after = h_get(&env, "/v1/placements", NULL);
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(after, "placements"))
    {
        const cJSON *q =
            h_find_id(cJSON_GetObjectItemCaseSensitive(before, "placements"), h_str(it, "id"));
        assert_non_null(q);
        assert_true(h_num(q, "pid") == h_num(it, "pid"));
    }
    cJSON_Delete(before);
    cJSON_Delete(after);
}

static void test_the_controller_stops_cleanly_on_sigterm(void **state)
{
    (void)state;
    int st = h_stop(env.ctl_pid, SIGTERM, 20000);
    env.ctl_pid = 0;
    assert_true(st != -1);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    int skip = h_available();
    if (skip) return skip;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_submitted_manifest_comes_up_running_on_every_placement),
        cmocka_unit_test(test_placements_agree_with_the_plan),
        cmocka_unit_test(test_each_agent_runs_exactly_one_worker_per_placement_it_was_given),
        cmocka_unit_test(test_metrics_count_agents_and_running_placements),
        cmocka_unit_test(test_resubmitting_the_same_manifest_moves_nothing),
        cmocka_unit_test(test_status_command_shows_nodes_and_placements),
        cmocka_unit_test(test_a_model_dropped_from_the_manifest_is_released_and_the_rest_stays),
        cmocka_unit_test(test_the_controller_stops_cleanly_on_sigterm),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
