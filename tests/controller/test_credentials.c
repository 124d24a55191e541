/* test_credentials.c - who may do what: agents and API clients hold separate tokens (the old
 * single --token-file still works, with a warning); a listen or API address off loopback needs
 * its token unless --insecure; the state file is its owner's alone; --public-metrics opens
 * /healthz and /metrics and nothing else; /healthz says degraded while a placement fails; and a
 * manifest's worker.command runs on an agent only when its program is in --allow-commands. */
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

static h_env env;

static int setup(void **state)
{
    (void)state;
    const char *extra[] = {"--public-metrics", NULL};
    if (h_setup(&env, "creds", HB_MS, true) || h_start_controller(&env, 0, extra)) return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_teardown(&env);
    return 0;
}

/* Runs `vrampack ARGS...` to completion (at most 10 s); returns its exit status, and its stderr
 * in err. */
static int run(const char *const *args, char *err, size_t cap)
{
    char log[600];
    snprintf(log, sizeof log, "%s/run.log", env.dir);
    char *argv[24];
    int n = 0;
    argv[n++] = env.bin;
    for (int i = 0; args[i] && n < 23; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = freopen(log, "w", stderr);
        (void)f;
        execv(argv[0], argv);
        _exit(127);
    }
    int st = h_stop(pid, 0, 10000);
    if (st < 0) {
        kill(pid, SIGKILL);
        st = h_stop(pid, SIGKILL, 5000);
    }
    FILE *f = fopen(log, "r");
    size_t len = f ? fread(err, 1, cap - 1, f) : 0;
    if (f) fclose(f);
    err[len] = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_an_open_address_without_tokens_is_refused_unless_insecure(void **state)
{
    (void)state;
    char state_file[600], err[4096];
    snprintf(state_file, sizeof state_file, "%s/open.db", env.dir);
    const char *open_agents[] = {"controller",  "--listen", "0.0.0.0:0", "--api",
                                 "127.0.0.1:0", "--state",  state_file,  NULL};
    assert_int_equal(run(open_agents, err, sizeof err), 2);
    assert_non_null(strstr(err, "--listen 0.0.0.0: not a loopback address and no agent token"));
    const char *open_api[] = {"controller", "--listen", "127.0.0.1:0", "--api",
                              "0.0.0.0:0",  "--state",  state_file,    NULL};
    assert_int_equal(run(open_api, err, sizeof err), 2);
    assert_non_null(strstr(err, "--api 0.0.0.0: not a loopback address and no API token"));
    /* --insecure: it starts (and SIGTERM ends it) */
    const char *insecure[] = {"controller",     "--listen", "0.0.0.0:0", "--api",
                              "0.0.0.0:0",      "--state",  state_file,  "--insecure",
                              "--heartbeat-ms", "20000",    NULL};
    char log[600];
    snprintf(log, sizeof log, "%s/insecure.log", env.dir);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = freopen(log, "w", stderr);
        (void)f;
        char *argv[16];
        int n = 0;
        argv[n++] = env.bin;
        for (int i = 0; insecure[i]; i++)
            argv[n++] = (char *)insecure[i];
        argv[n] = NULL;
        execv(argv[0], argv);
        _exit(127);
    }
    const char *needles[] = {"msg=listening", NULL};
    long long end = h_now_ms() + 10000;
    while (!h_log_has(log, needles) && h_now_ms() < end)
        usleep(20000);
    assert_true(h_log_has(log, needles));
    int st = h_stop(pid, SIGTERM, 10000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_the_state_file_is_its_owners_alone(void **state)
{
    (void)state;
    struct stat sb;
    assert_int_equal(stat(env.state, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", env.state);
    if (stat(wal, &sb) == 0) assert_int_equal(sb.st_mode & 0777, 0600);
}

static void test_public_metrics_open_health_and_metrics_only(void **state)
{
    (void)state;
    assert_int_equal(h_request(&env, "GET", "/healthz", NULL, NULL, 0, NULL), 200);
    assert_int_equal(h_request(&env, "GET", "/metrics", NULL, NULL, 0, NULL), 200);
    assert_int_equal(h_request(&env, "GET", "/v1/nodes", NULL, NULL, 0, NULL), 401);
    assert_int_equal(h_request(&env, "GET", "/v1/plan", env.agent_token, NULL, 0, NULL), 401);
    assert_int_equal(h_request(&env, "GET", "/v1/plan", env.token, NULL, 0, NULL), 200);
}

static bool failed_with(h_env *h, void *ud)
{
    cJSON *pl = h_get(h, "/v1/placements", NULL);
    const cJSON *q = h_find_id(cJSON_GetObjectItemCaseSensitive(pl, "placements"), "tpl/0");
    bool ok = q && !strcmp(h_str(q, "state"), "failed") && strstr(h_str(q, "error"), ud);
    cJSON_Delete(pl);
    return ok;
}

static bool tpl_running(h_env *h, void *ud)
{
    (void)ud;
    cJSON *pl = h_get(h, "/v1/placements", NULL);
    const cJSON *q = h_find_id(cJSON_GetObjectItemCaseSensitive(pl, "placements"), "tpl/0");
    bool ok = q && !strcmp(h_str(q, "state"), "running");
    cJSON_Delete(pl);
    return ok;
}

static void test_a_command_template_runs_only_where_its_program_is_allowed(void **state)
{
    (void)state;
    /* An agent without --allow-commands. */
    assert_true(h_start_agent(&env, "plain", "TGPU:1:1Gi") >= 0);
    const char manifest[] =
        "{\"models\":[{\"name\":\"tpl\",\"memory_bytes\":1048576,\"worker\":{\"command\":"
        "[\"/bin/sh\",\"-c\",\"echo '{\\\"event\\\":\\\"ready\\\"}'; exec sleep 600\"]}}]}";
    long long end = h_now_ms() + 10000;
    while (h_nodes_connected(&env) != 1 && h_now_ms() < end)
        usleep(20000);
    assert_int_equal(h_submit_text(&env, manifest, NULL), 200);
    assert_true(h_wait(failed_with, &env, "runs no worker.command templates", 10000));
    char *body = NULL;
    assert_int_equal(h_request(&env, "GET", "/healthz", NULL, NULL, 0, &body), 200);
    assert_non_null(strstr(body, "\"status\":\"degraded\""));
    free(body);
    /* The same agent with /bin/sh listed. */
    char allow[600];
    snprintf(allow, sizeof allow, "%s/allowed", env.dir);
    FILE *f = fopen(allow, "w");
    assert_non_null(f);
    fprintf(f, "# programs manifests may run here\n/usr/bin/python3\n/bin/sh\n");
    fclose(f);
    h_agent *a = &env.agents[0];
    h_stop(a->pid, SIGTERM, 10000);
    snprintf(a->extra[a->n_extra++], sizeof a->extra[0], "--allow-commands");
    snprintf(a->extra[a->n_extra++], sizeof a->extra[0], "%s", allow);
    assert_int_equal(h_restart_agent(&env, 0), 0);
    assert_true(h_wait(tpl_running, &env, NULL, 15000));
    assert_int_equal(h_request(&env, "GET", "/healthz", NULL, NULL, 0, &body), 200);
    assert_non_null(strstr(body, "\"status\":\"ok\""));
    free(body);
}

static void test_one_token_file_for_both_still_works_with_a_warning(void **state)
{
    (void)state;
    char state_file[600], log[600];
    snprintf(state_file, sizeof state_file, "%s/both.db", env.dir);
    snprintf(log, sizeof log, "%s/both.log", env.dir);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = freopen(log, "w", stderr);
        (void)f;
        char *argv[] = {env.bin,        "controller",   "--listen", "127.0.0.1:0",
                        "--api",        "127.0.0.1:0",  "--state",  state_file,
                        "--token-file", env.token_file, NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    const char *warn[] = {"--token-file gives agents the admin token too", NULL};
    const char *up[] = {"msg=listening", "api_auth=token", "agent_auth=token", NULL};
    long long end = h_now_ms() + 10000;
    while (!h_log_has(log, up) && h_now_ms() < end)
        usleep(20000);
    assert_true(h_log_has(log, up));
    assert_true(h_log_has(log, warn));
    h_stop(pid, SIGTERM, 10000);
}

int main(void)
{
    if (h_available()) return 77;
    alarm(120);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_open_address_without_tokens_is_refused_unless_insecure),
        cmocka_unit_test(test_the_state_file_is_its_owners_alone),
        cmocka_unit_test(test_public_metrics_open_health_and_metrics_only),
        cmocka_unit_test(test_a_command_template_runs_only_where_its_program_is_allowed),
        cmocka_unit_test(test_one_token_file_for_both_still_works_with_a_warning),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
