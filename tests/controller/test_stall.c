/* test_stall.c - pauses that are not failures: the controller stopped (SIGSTOP) for 4 s, longer
 * than 3 heartbeat intervals, declares no node lost and restarts no worker when it continues;
 * an agent stopped for 4 s is declared lost but, its lease (10 s) not having run out, nothing
 * of it is re-placed and its workers keep running once it continues. */
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

#define HB_MS 300
#define MANIFEST VP_TEST_DATA "/control/manifest.json"
#define N_PLACEMENTS 7
#define PAUSE_MS 4000

static h_env env;

static int setup(void **state)
{
    (void)state;
    if (h_setup(&env, "stall", HB_MS, false) || h_start_controller(&env, 0, NULL)) return -1;
    if (h_start_fleet(&env, "stall", 3, "TGPU:2:2Gi")) return -1;
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

/* id -> pid of every placement, as one comparable string. */
static void pids(char *out, size_t cap)
{
    cJSON *pl = h_get(&env, "/v1/placements", NULL);
    out[0] = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(pl, "placements"))
    {
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s=%s:%d ", h_str(it, "id"), h_str(it, "state"),
                 (int)h_num(it, "pid"));
    }
    cJSON_Delete(pl);
}

static void test_a_controller_stopped_for_4_s_loses_no_node_and_restarts_nothing(void **state)
{
    (void)state;
    char before[2048], after[2048];
    pids(before, sizeof before);
    double replans = h_metric(&env, "vrampack_replans_total");
    assert_int_equal(kill(env.ctl_pid, SIGSTOP), 0);
    usleep(PAUSE_MS * 1000);
    assert_int_equal(kill(env.ctl_pid, SIGCONT), 0);
    usleep(4 * HB_MS * 1000); /* long enough for a wrong verdict to show */
    assert_int_equal((int)h_metric(&env, "vrampack_nodes_lost_total"), 0);
    assert_true(h_metric(&env, "vrampack_controller_stalls_total") >= 1);
    assert_true(h_metric(&env, "vrampack_replans_total") == replans);
    assert_int_equal(h_nodes_connected(&env), 3);
    pids(after, sizeof after);
    assert_string_equal(before, after);
    const char *needles[] = {"msg=controller_stalled", NULL};
    assert_true(h_log_has(env.ctl_log, needles));
}

static bool reconnected(h_env *h, void *ud)
{
    (void)ud;
    int n = N_PLACEMENTS;
    return h_nodes_connected(h) == 3 && h_all_running(h, &n);
}

static void test_an_agent_stopped_for_4_s_within_its_lease_keeps_everything(void **state)
{
    (void)state;
    char before[2048], after[2048];
    pids(before, sizeof before);
    double replans = h_metric(&env, "vrampack_replans_total");
    h_agent *a = &env.agents[0];
    assert_int_equal(kill(a->pid, SIGSTOP), 0);
    usleep(PAUSE_MS * 1000);
    /* Lost (silent for 3 heartbeats), but its work stays: its lease may still run. */
    assert_true(h_metric(&env, "vrampack_nodes_lost_total") >= 1);
    assert_true(h_metric(&env, "vrampack_replans_total") == replans);
    assert_int_equal(kill(a->pid, SIGCONT), 0);
    assert_true(h_wait(reconnected, &env, NULL, 15000));
    pids(after, sizeof after);
    assert_string_equal(before, after);
    assert_true(h_metric(&env, "vrampack_replans_total") == replans);
}

int main(void)
{
    if (h_available()) return 77;
    alarm(150);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_controller_stopped_for_4_s_loses_no_node_and_restarts_nothing),
        cmocka_unit_test(test_an_agent_stopped_for_4_s_within_its_lease_keeps_everything),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
