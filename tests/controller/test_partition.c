/* test_partition.c - a 30 s black-hole partition of one agent (a relay that stops passing bytes
 * both ways, with connections left open) whose engines do not die with their agent's pipe. The
 * agent's lease runs out and it stops its engines; the controller re-places them only after
 * that lease plus its margin; from the engines' own records no placement ever has engines alive
 * on two nodes at once (the documented bound: lease fencing leaves no overlap when an engine
 * exits within half the margin of its SIGTERM, and SIGKILL comes then). After the partition
 * heals, exactly one engine per placement runs. */
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
#include "proxy.h"

#define HB_MS 300
#define LEASE_MS 3000
#define MARGIN_MS 1000 /* 2 heartbeats, at least 1 s */
#define LOAD_MS 800
#define PARTITION_S 30
#define N_PLACEMENTS 6

static h_env env;
static h_proxy proxies[3];
static char engine_log[600];

static const char manifest[] =
    "{\"models\":[{\"name\":\"m\",\"engine\":\"vllm\",\"memory_bytes\":2147483648,"
    "\"replicas\":6}]}";

static int setup(void **state)
{
    (void)state;
    if (h_setup(&env, "partition", HB_MS, false)) return -1;
    if (h_fake_engines(&env, LOAD_MS, engine_log, sizeof engine_log)) return -1;
    char lease[16];
    snprintf(lease, sizeof lease, "%d", LEASE_MS);
    const char *extra[] = {"--lease-ms", lease, NULL};
    if (h_start_controller(&env, 0, extra)) return -1;
    env.ports_base = 55000 + (int)(getpid() % 150) * 64;
    env.agent_extra[0] = "--probe-ms";
    env.agent_extra[1] = "100";
    for (int i = 0; i < 3; i++) {
        if (h_proxy_start(&proxies[i], env.agent_port)) return -1;
        char addr[64], name[64];
        snprintf(addr, sizeof addr, "127.0.0.1:%u", proxies[i].port);
        snprintf(name, sizeof name, "part%ld-%c", (long)getpid(), 'a' + i);
        env.agent_controller = addr;
        if (h_start_agent(&env, name, "TGPU:2:8Gi") < 0) return -1;
    }
    env.agent_controller = NULL;
    long long end = h_now_ms() + 20000;
    while (h_nodes_connected(&env) != 3 && h_now_ms() < end)
        usleep(25000);
    if (h_submit_text(&env, manifest, NULL) != 200) return -1;
    int n = N_PLACEMENTS;
    return h_wait(h_all_running, &env, &n, 30000) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++)
        h_proxy_stop(&proxies[i]);
    h_teardown(&env);
    return 0;
}

static double wall_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

static bool healed(h_env *h, void *ud)
{
    (void)ud;
    int n = N_PLACEMENTS;
    return h_nodes_connected(h) == 3 && h_all_running(h, &n);
}

static void test_a_partitioned_agent_fences_itself_and_no_replica_runs_twice(void **state)
{
    (void)state;
    /* The partitioned node is the one with the most placements. */
    cJSON *before = h_get(&env, "/v1/placements", NULL);
    int victim = 0, best = -1;
    for (int i = 0; i < 3; i++) {
        int k = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(before, "placements")) k +=
            !strcmp(h_str(it, "node"), env.agents[i].name);
        if (k > best) {
            best = k;
            victim = i;
        }
    }
    cJSON_Delete(before);
    assert_true(best > 0);

    double t0 = wall_s(), moved_at = 0;
    h_proxy_blackhole(&proxies[victim], true);
    while (wall_s() < t0 + PARTITION_S) {
        if (!moved_at) {
            cJSON *pl = h_get(&env, "/v1/placements", NULL);
            int elsewhere = 0;
            const cJSON *it;
            cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(pl, "placements")) elsewhere +=
                strcmp(h_str(it, "node"), env.agents[victim].name) &&
                !strcmp(h_str(it, "state"), "running");
            if (elsewhere == N_PLACEMENTS) moved_at = wall_s();
            cJSON_Delete(pl);
        }
        usleep(200000);
    }
    h_proxy_blackhole(&proxies[victim], false);
    assert_true(moved_at > 0);
    printf("partition of %s (%d placements): running elsewhere after %.2f s (lease %.1f s + "
           "margin %.1f s + load %.1f s)\n",
           env.agents[victim].name, best, moved_at - t0, LEASE_MS / 1e3, MARGIN_MS / 1e3,
           LOAD_MS / 1e3);
    assert_true(h_wait(healed, &env, NULL, 30000));
    usleep(2 * HB_MS * 1000);

    h_engine e[64];
    int n = h_engines(engine_log, e, 64);
    double worst = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            if (i == j || strcmp(e[i].id, e[j].id) || !strcmp(e[i].node, e[j].node)) continue;
            double from = e[i].start > e[j].start ? e[i].start : e[j].start;
            double to = e[i].exit < e[j].exit ? e[i].exit : e[j].exit;
            if (to - from > worst) worst = to - from;
        }
    printf("longest time a placement had engines on two nodes: %.3f s\n", worst);
    if (worst > 0) fail_msg("a placement ran on two nodes for %.3f s", worst);
    /* Exactly one live engine per placement. */
    for (int r = 0; r < N_PLACEMENTS; r++) {
        char id[32];
        snprintf(id, sizeof id, "m/%d", r);
        int alive = 0;
        for (int i = 0; i < n; i++)
            alive += !strcmp(e[i].id, id) && e[i].exit > 1e299 && kill(e[i].pid, 0) == 0;
        if (alive != 1) fail_msg("%s: %d engines alive after the partition healed", id, alive);
    }
    const char *fence[] = {"lease expired", NULL};
    assert_true(h_log_has(env.agents[victim].log, fence));
}

int main(void)
{
    if (h_available()) return 77;
    if (h_python_available()) return 77;
    alarm(200);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_partitioned_agent_fences_itself_and_no_replica_runs_twice),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
