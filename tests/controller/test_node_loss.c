/* test_node_loss.c - `kill -9` one of three agents: once its lease has run out (lease plus a
 * margin of 2 heartbeats, plus one heartbeat for the new workers to start) every placement
 * it ran is running on another node or listed as unplaced with the reason; nothing else moves;
 * when the agent comes back it cleans up its orphaned workers and takes work again, with exactly
 * one worker per placement across the fleet. */
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

#define HB_MS 500
#define LEASE_MS 1000
#define BOUND_MS (LEASE_MS + 2 * HB_MS + 2 * HB_MS) /* lease, margin, start-up */
#define MANIFEST VP_TEST_DATA "/control/manifest.json"
#define N_PLACEMENTS 7

static h_env env;
static int victim = -1;
static cJSON *before; /* /v1/placements before the kill */

static int setup(void **state)
{
    (void)state;
    const char *extra[] = {"--lease-ms", "1000", NULL};
    if (h_setup(&env, "loss", HB_MS, false) || h_start_controller(&env, 0, extra)) return -1;
    if (h_start_fleet(&env, "loss", 3, "TGPU:2:2Gi")) return -1;
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

/* Every placement the victim ran is running elsewhere, or unplaced naming the lost node. */
static bool recovered(h_env *h, void *ud)
{
    (void)ud;
    cJSON *now = h_get(h, "/v1/placements", NULL);
    bool ok = now != NULL;
    const char *vname = h->agents[victim].name;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(before, "placements"))
    {
        if (!ok) break;
        if (strcmp(h_str(it, "node"), vname)) continue;
        const cJSON *q =
            h_find_id(cJSON_GetObjectItemCaseSensitive(now, "placements"), h_str(it, "id"));
        if (q && !strcmp(h_str(q, "state"), "running") && strcmp(h_str(q, "node"), vname)) continue;
        /* Unplaced entries are listed by replica. */
        char rid[128];
        snprintf(rid, sizeof rid, "%s/%d", h_str(it, "model"), (int)h_num(it, "replica"));
        q = h_find_id(cJSON_GetObjectItemCaseSensitive(now, "placements"), rid);
        ok = q && !strcmp(h_str(q, "state"), "unplaced") && strstr(h_str(q, "reason"), vname);
    }
    cJSON_Delete(now);
    return ok;
}

static void test_a_killed_agents_placements_run_elsewhere_once_its_lease_ran_out(void **state)
{
    (void)state;
    before = h_get(&env, "/v1/placements", NULL);
    assert_non_null(before);
    /* The victim is the node with the most placements: the hardest to absorb. */
    int best = -1;
    for (int i = 0; i < env.n_agents; i++) {
        int n = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(before, "placements")) n +=
            !strcmp(h_str(it, "node"), env.agents[i].name);
        if (n > best) {
            best = n;
            victim = i;
        }
    }
    assert_true(best > 0);
    long long t0 = h_now_ms();
    assert_int_equal(kill(env.agents[victim].pid, SIGKILL), 0);
    assert_true(h_wait(recovered, &env, NULL, 20 * HB_MS));
    long long took = h_now_ms() - t0;
    printf("recovered %d placements in %lld ms (lease + margin + 2 heartbeats = %d ms)\n", best,
           took, BOUND_MS);
    assert_in_range(took, 0, BOUND_MS);
    h_stop(env.agents[victim].pid, SIGKILL, 5000); /* reap it */
}

static void test_placements_on_surviving_nodes_did_not_move(void **state)
{
    (void)state;
    cJSON *now = h_get(&env, "/v1/placements", NULL);
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(before, "placements"))
    {
        if (!strcmp(h_str(it, "node"), env.agents[victim].name)) continue;
        const cJSON *q =
            h_find_id(cJSON_GetObjectItemCaseSensitive(now, "placements"), h_str(it, "id"));
        assert_non_null(q);
        assert_string_equal(h_str(q, "node"), h_str(it, "node"));
        assert_true(h_num(q, "pid") == h_num(it, "pid"));
        assert_true(cJSON_Compare(cJSON_GetObjectItemCaseSensitive(q, "gpus"),
                                  cJSON_GetObjectItemCaseSensitive(it, "gpus"), true));
    }
    cJSON_Delete(now);
}

static void test_the_lost_node_is_reported_lost(void **state)
{
    (void)state;
    cJSON *nodes = h_get(&env, "/v1/nodes", NULL);
    const cJSON *it;
    int lost = 0;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(nodes, "nodes"))
    {
        if (!strcmp(h_str(it, "name"), env.agents[victim].name)) {
            assert_string_equal(h_str(it, "state"), "lost");
            lost++;
        }
    }
    assert_int_equal(lost, 1);
    cJSON_Delete(nodes);
    assert_int_equal((int)h_metric(&env, "vrampack_nodes_lost_total"), 1);
    assert_true(h_metric(&env, "vrampack_replans_total") >= 1);
}

static bool fleet_whole_again(h_env *h, void *ud)
{
    int n = N_PLACEMENTS;
    return h_nodes_connected(h) == 3 && h_all_running(h, &n) && ud == NULL;
}

static void test_a_returning_agent_cleans_up_and_takes_work_again(void **state)
{
    (void)state;
    assert_int_equal(h_restart_agent(&env, victim), 0);
    /* The spread replica that had nowhere to go is placed on the returning node. */
    assert_true(h_wait(fleet_whole_again, &env, NULL, 30000));
    int total = 0;
    for (int i = 0; i < env.n_agents; i++)
        total += h_count_workers(env.agents[i].pid);
    assert_int_equal(total, N_PLACEMENTS);
    /* The killed agent's orphaned workers were stopped by its successor. */
    assert_int_equal(h_count_orphan_workers(), 0);
}

int main(void)
{
    int skip = h_available();
    if (skip) return skip;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_killed_agents_placements_run_elsewhere_once_its_lease_ran_out),
        cmocka_unit_test(test_placements_on_surviving_nodes_did_not_move),
        cmocka_unit_test(test_the_lost_node_is_reported_lost),
        cmocka_unit_test(test_a_returning_agent_cleans_up_and_takes_work_again),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
