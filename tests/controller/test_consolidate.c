/* test_consolidate.c - live rebalancing: four nodes each left half empty after a manifest
 * shrinks are consolidated onto two by the controller with the planner's rebalance (the code
 * path of `plan --current --max-moves`), within --max-moves; every move starts the new replica
 * and only then stops the old one, so from the engines' own records the model never has fewer
 * ready replicas than before the moves; each move and its saving are in the event log and
 * /metrics. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

/* after setjmp.h, stdarg.h, stddef.h and stdint.h, which cmocka.h needs */
#include <cmocka.h>

#include "harness.h"

#define HB_MS 300
#define LOAD_MS 500

static h_env env;
static char engine_log[600];

/* x and y: one replica per GPU (2.5 GiB of a 4 GiB GPU's 3.6 usable). */
#define X "{\"name\":\"x\",\"engine\":\"vllm\",\"memory_bytes\":2684354560,\"replicas\":4"
#define Y "{\"name\":\"y\",\"engine\":\"vllm\",\"memory_bytes\":2684354560,\"replicas\":4}"
static const char v1[] = "{\"models\":[" X ",\"spread\":true}," Y "]}";
static const char v2[] = "{\"models\":[" X "}]}";

static int setup(void **state)
{
    (void)state;
    if (h_setup(&env, "consolidate", HB_MS, false)) return -1;
    if (h_fake_engines(&env, LOAD_MS, engine_log, sizeof engine_log)) return -1;
    /* A manifest change and a consolidation every second may each move two replicas. */
    const char *extra[] = {"--max-moves", "2", "--consolidate-every", "1", "--min-saving",
                           "0.5",         NULL};
    if (h_start_controller(&env, 0, extra)) return -1;
    env.ports_base = 47000 + (int)(getpid() % 120) * 64;
    env.agent_extra[0] = "--probe-ms";
    env.agent_extra[1] = "100";
    return h_start_fleet(&env, "cons", 4, "TGPU:2:4Gi");
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

static int nodes_used(h_env *h)
{
    cJSON *pl = h_get(h, "/v1/placements", NULL);
    char seen[8][64];
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(pl, "placements"))
    {
        bool dup = false;
        for (int k = 0; k < n; k++)
            dup = dup || !strcmp(seen[k], h_str(it, "node"));
        if (!dup && n < 8) snprintf(seen[n++], sizeof seen[0], "%s", h_str(it, "node"));
    }
    cJSON_Delete(pl);
    return n;
}

static bool consolidated(h_env *h, void *ud)
{
    (void)ud;
    int n = 4;
    return h_all_running(h, &n) && nodes_used(h) == 2;
}

static void test_half_empty_nodes_are_consolidated_make_before_break(void **state)
{
    (void)state;
    assert_int_equal(h_submit_text(&env, v1, NULL), 200);
    int n = 8;
    assert_true(h_wait(h_all_running, &env, &n, 30000));
    assert_int_equal(nodes_used(&env), 4);
    double t0 = wall_s();
    /* y goes: every node is left with one x on one of its two GPUs. */
    assert_int_equal(h_submit_text(&env, v2, NULL), 200);
    assert_true(h_wait(consolidated, &env, NULL, 40000));
    double t1 = wall_s();
    cJSON *plan = h_get(&env, "/v1/plan", NULL);
    double cost = h_num(plan, "cost_per_hour");
    cJSON_Delete(plan);
    printf("consolidated 4 half-empty nodes onto 2 in %.1f s; $%.2f/h now\n", t1 - t0, cost);
    assert_true(cost == 2.0); /* two nominal $1 nodes: the best 2 moves can reach */
    assert_true(h_metric(&env, "vrampack_moves_total") >= 2);
    assert_true(h_metric(&env, "vrampack_saved_dollars_per_hour_total") >= 2.0);
    const char *ev[] = {"msg=move", "id=x/", "saves_per_hour=", NULL};
    assert_true(h_log_has(env.ctl_log, ev));
    /* Never fewer ready x engines than the 4 before the moves. */
    h_engine e[64];
    int ne = h_engines(engine_log, e, 64);
    int least = 99;
    for (double t = t0; t <= t1; t += 0.01) {
        int up = 0;
        for (int i = 0; i < ne; i++)
            up += !strcmp(e[i].model, "x") && e[i].start + LOAD_MS / 1000.0 <= t && t < e[i].exit;
        if (up < least) least = up;
    }
    printf("fewest ready x engines during the moves: %d\n", least);
    assert_int_equal(least, 4);
}

int main(void)
{
    if (h_available()) return 77;
    if (h_python_available()) return 77;
    alarm(150);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_half_empty_nodes_are_consolidated_make_before_break),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
