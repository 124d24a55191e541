/* test_state.c - the stored desired state is self-contained: `vrampack submit` sends a file
 * manifest with its hf_config files inlined; with those files deleted and the controller
 * restarted, the loss of a node still re-places everything it ran (the manifest needed for
 * that comes from the state file alone, never from a path). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* after setjmp.h, stdarg.h, stddef.h and stdint.h, which cmocka.h needs */
#include <cmocka.h>

#include "harness.h"

#define HB_MS 300
#define N_PLACEMENTS 4

static h_env env;
static const char *lease[] = {"--lease-ms", "1000", NULL};

static int setup(void **state)
{
    (void)state;
    if (h_setup(&env, "state", HB_MS, false) || h_start_controller(&env, 0, lease)) return -1;
    return h_start_fleet(&env, "state", 3, "TGPU:1:16Gi");
}

static int teardown(void **state)
{
    (void)state;
    h_teardown(&env);
    return 0;
}

static int copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    char buf[8192];
    size_t n;
    while (a && b && (n = fread(buf, 1, sizeof buf, a)) > 0)
        fwrite(buf, 1, n, b);
    int rc = a && b ? 0 : -1;
    if (a) fclose(a);
    if (b) fclose(b);
    return rc;
}

static bool moved_off(h_env *h, void *ud)
{
    const char *victim = ud;
    cJSON *pl = h_get(h, "/v1/placements", NULL);
    int ok = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(pl, "placements")) ok +=
        strcmp(h_str(it, "node"), victim) && !strcmp(h_str(it, "state"), "running");
    cJSON_Delete(pl);
    return ok == N_PLACEMENTS;
}

static void test_a_deleted_config_file_does_not_stop_failover_after_a_restart(void **state)
{
    (void)state;
    /* A manifest that names its model's config by path, next to it. */
    char dir[600], hf[700], manifest[700];
    snprintf(dir, sizeof dir, "%s/m", env.dir);
    mkdir(dir, 0700);
    snprintf(hf, sizeof hf, "%s/llama-3.2-1b.json", dir);
    assert_int_equal(copy_file(VP_EXAMPLES "/hf/llama-3.2-1b.json", hf), 0);
    snprintf(manifest, sizeof manifest, "%s/manifest.json", dir);
    FILE *f = fopen(manifest, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"models\":[{\"name\":\"small\",\"hf_config\":\"llama-3.2-1b.json\","
            "\"max_seq_len\":2048,\"replicas\":%d}]}\n",
            N_PLACEMENTS);
    fclose(f);
    /* Submitted by the CLI, which inlines the config. */
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *o = freopen("/dev/null", "w", stdout);
        (void)o;
        char *argv[] = {env.bin, "submit", manifest, "--api", env.api, NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    int st = h_stop(pid, 0, 30000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    int n = N_PLACEMENTS;
    assert_true(h_wait(h_all_running, &env, &n, 30000));
    /* The config files go; the controller restarts on its state file. */
    assert_int_equal(unlink(hf), 0);
    assert_int_equal(unlink(manifest), 0);
    h_stop(env.ctl_pid, SIGKILL, 5000);
    assert_int_equal(h_start_controller(&env, env.agent_port, lease), 0);
    const char *loaded[] = {"msg=state_loaded", "manifest=yes", NULL};
    assert_true(h_log_has(env.ctl_log, loaded));
    assert_true(h_wait(h_all_running, &env, &n, 30000));
    /* A node is lost: what it ran moves, which needs the manifest. */
    cJSON *pl = h_get(&env, "/v1/placements", NULL);
    const char *victim_node =
        h_str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(pl, "placements"), 0), "node");
    char victim[64];
    snprintf(victim, sizeof victim, "%s", victim_node);
    cJSON_Delete(pl);
    for (int i = 0; i < env.n_agents; i++)
        if (!strcmp(env.agents[i].name, victim)) h_stop(env.agents[i].pid, SIGKILL, 5000);
    assert_true(h_wait(moved_off, &env, victim, 20000));
    const char *unavailable[] = {"the manifest is unavailable", NULL};
    assert_false(h_log_has(env.ctl_log, unavailable));
}

int main(void)
{
    if (h_available()) return 77;
    alarm(120);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_deleted_config_file_does_not_stop_failover_after_a_restart),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
