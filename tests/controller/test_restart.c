/* test_restart.c - `kill -9` the controller and start it again on the same state file and port:
 * the agents reconnect by themselves, no placement is lost or doubled, and the workers that
 * were running are the ones still running (nothing restarted). */
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

#define HB_MS 200
#define MANIFEST VP_TEST_DATA "/control/manifest.json"
#define N_PLACEMENTS 7

static h_env env;
static cJSON *before;

static int setup(void **state)
{
    (void)state;
    if (h_setup(&env, "restart", HB_MS, false) || h_start_controller(&env, 0, NULL)) return -1;
    if (h_start_fleet(&env, "rst", 3, "TGPU:2:2Gi")) return -1;
    if (h_submit(&env, MANIFEST, NULL) != 200) return -1;
    int n = N_PLACEMENTS;
    return h_wait(h_all_running, &env, &n, 30000) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    cJSON_Delete(before);
    h_teardown(&env);
    return 0;
}

static bool whole(h_env *h, void *ud)
{
    (void)ud;
    int n = N_PLACEMENTS;
    return h_nodes_connected(h) == 3 && h_all_running(h, &n);
}

static void test_a_restarted_controller_gets_its_agents_back_by_themselves(void **state)
{
    (void)state;
    before = h_get(&env, "/v1/placements", NULL);
    assert_non_null(before);
    assert_true(h_stop(env.ctl_pid, SIGKILL, 5000) != -1);
    env.ctl_pid = 0;
    /* While it is down the agents keep their workers. */
    usleep(2 * HB_MS * 1000);
    int total = 0;
    for (int i = 0; i < env.n_agents; i++)
        total += h_count_workers(env.agents[i].pid);
    assert_int_equal(total, N_PLACEMENTS);
    assert_int_equal(h_start_controller(&env, env.agent_port, NULL), 0);
    long long t0 = h_now_ms();
    assert_true(h_wait(whole, &env, NULL, 30000));
    printf("agents back and all placements running %lld ms after the restart\n", h_now_ms() - t0);
    /* The restarted controller knew every node and placement from the state file alone. */
    const char *const loaded[] = {"msg=state_loaded", " nodes=3 ", " placements=7 ", "manifest=yes",
                                  NULL};
    assert_true(h_log_has(env.ctl_log, loaded));
}

static void test_no_placement_was_lost_moved_or_restarted(void **state)
{
    (void)state;
    cJSON *now = h_get(&env, "/v1/placements", NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(now, "placements")),
                     N_PLACEMENTS);
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(before, "placements"))
    {
        const cJSON *q =
            h_find_id(cJSON_GetObjectItemCaseSensitive(now, "placements"), h_str(it, "id"));
        assert_non_null(q);
        assert_string_equal(h_str(q, "node"), h_str(it, "node"));
        assert_true(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(q, "gpus"),
                                  cJSON_GetObjectItemCaseSensitive(it, "gpus"), true));
        assert_true(h_num(q, "pid") == h_num(it, "pid"));
    }
    cJSON_Delete(now);
}

static void test_no_placement_is_doubled(void **state)
{
    (void)state;
    /* Each id is reported by exactly one agent, and each agent runs one worker per report. */
    cJSON *nodes = h_get(&env, "/v1/nodes", NULL);
    const cJSON *n, *r;
    int reported = 0;
    cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(nodes, "nodes"))
    {
        int here = 0;
        cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(n, "reported"))
        {
            here++;
            const cJSON *n2, *r2;
            int seen = 0;
            cJSON_ArrayForEach(n2, cJSON_GetObjectItemCaseSensitive(nodes, "nodes"))
                cJSON_ArrayForEach(r2, cJSON_GetObjectItemCaseSensitive(n2, "reported")) seen +=
                !strcmp(h_str(r2, "id"), h_str(r, "id"));
            assert_int_equal(seen, 1);
        }
        for (int i = 0; i < env.n_agents; i++)
            if (!strcmp(env.agents[i].name, h_str(n, "name")))
                assert_int_equal(h_count_workers(env.agents[i].pid), here);
        reported += here;
    }
    assert_int_equal(reported, N_PLACEMENTS);
    cJSON_Delete(nodes);
    assert_int_equal(h_count_orphan_workers(), 0);
}

static void test_the_restart_sent_no_assign_for_what_was_running(void **state)
{
    (void)state;
    assert_int_equal((int)h_metric(&env, "vrampack_assigns_sent_total"), 0);
    assert_int_equal((int)h_metric(&env, "vrampack_releases_sent_total"), 0);
    assert_int_equal((int)h_metric(&env, "vrampack_nodes_lost_total"), 0);
}

int main(void)
{
    int skip = h_available();
    if (skip) return skip;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_restarted_controller_gets_its_agents_back_by_themselves),
        cmocka_unit_test(test_no_placement_was_lost_moved_or_restarted),
        cmocka_unit_test(test_no_placement_is_doubled),
        cmocka_unit_test(test_the_restart_sent_no_assign_for_what_was_running),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
