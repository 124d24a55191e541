/* test_metrics.c - the controller's /metrics follows the Prometheus exposition format and naming
 * guide: promtool accepts it (when Debian's prometheus package is installed), every family has
 * HELP and TYPE before its samples, counters end in _total, units are suffixes, GPU series carry
 * gpu_model (not model), build_info names the version, and each node's heartbeat age is there and
 * grows while its agent is silent. A controller and two simulated agents run on loopback. */
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
#include "vp.h"

#define HB_MS 200

static h_env env;
static char *metrics; /* the exposition taken after the submit */

static char *fetch_metrics(void)
{
    char *body = NULL;
    int st = h_request(&env, "GET", "/metrics", NULL, NULL, 0, &body);
    if (st != 200) {
        free(body);
        return NULL;
    }
    return body;
}

static int setup(void **state)
{
    (void)state;
    if (h_setup(&env, "metrics", HB_MS, false) || h_start_controller(&env, 0, NULL)) return -1;
    if (h_start_fleet(&env, "met", 2, "TGPU:2:2Gi")) return -1;
    const char *m =
        "{\"models\": [{\"name\": \"embed\", \"memory_bytes\": \"200Mi\", \"replicas\": 3},"
        " {\"name\": \"chat\", \"memory_bytes\": \"600Mi\"}]}";
    cJSON *ans = NULL;
    int st = h_submit_text(&env, m, &ans);
    cJSON_Delete(ans);
    if (st != 200) return -1;
    metrics = fetch_metrics();
    return metrics ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(metrics);
    h_teardown(&env);
    return 0;
}

static void the_exposition_passes_promtool_check_metrics(void **state)
{
    (void)state;
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        printf("promtool not installed (Debian's prometheus package): skipped; the format "
               "checks below still run\n");
        skip();
    }
    char path[600], cmd[1400];
    snprintf(path, sizeof path, "%s/metrics.txt", env.dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(metrics, f);
    fclose(f);
    /* promtool prints lint problems and exits non-zero on any of them. */
    snprintf(cmd, sizeof cmd, "promtool check metrics < '%s' > '%s.lint' 2>&1", path, path);
    int rc = system(cmd);
    snprintf(cmd, sizeof cmd, "cat '%s.lint'", path);
    if (rc) assert_int_equal(system(cmd), 0); /* show what promtool said */
    assert_int_equal(WEXITSTATUS(rc), 0);
}

static bool valid_name(const char *s, size_t n)
{
    if (!n || !(((s[0] | 32) >= 'a' && (s[0] | 32) <= 'z') || s[0] == '_' || s[0] == ':'))
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (!(((c | 32) >= 'a' && (c | 32) <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              c == ':'))
            return false;
    }
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static void every_family_has_help_and_type_and_every_sample_line_parses(void **state)
{
    (void)state;
    char *text = strdup(metrics), *save = NULL;
    assert_non_null(text);
    char help[64][96] = {{0}}, type[64][96] = {{0}}, kind[64][16] = {{0}};
    int n_help = 0, n_type = 0, samples = 0;
    for (char *ln = strtok_r(text, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
        if (!strncmp(ln, "# HELP ", 7)) {
            assert_true(n_help < 64);
            sscanf(ln + 7, "%95s", help[n_help++]);
            continue;
        }
        if (!strncmp(ln, "# TYPE ", 7)) {
            assert_true(n_type < 64);
            assert_int_equal(sscanf(ln + 7, "%95s %15s", type[n_type], kind[n_type]), 2);
            /* HELP comes first and names the same family */
            assert_string_equal(help[n_type], type[n_type]);
            n_type++;
            continue;
        }
        assert_int_not_equal(ln[0], '#');
        size_t nl = strcspn(ln, "{ ");
        assert_true(valid_name(ln, nl));
        char name[96];
        snprintf(name, sizeof name, "%.*s", (int)nl, ln);
        const char *rest = ln + nl;
        if (*rest == '{') {
            const char *close = strchr(rest, '}');
            assert_non_null(close);
            rest = close + 1;
        }
        assert_int_equal(*rest, ' ');
        char *end;
        strtod(rest + 1, &end);
        assert_true(end != rest + 1 && *end == '\0');
        /* the sample belongs to the family whose TYPE came last */
        assert_true(n_type > 0);
        const char *fam = type[n_type - 1], *k = kind[n_type - 1];
        if (!strcmp(k, "summary"))
            assert_true(strncmp(name, fam, strlen(fam)) == 0 &&
                        (ends_with(name, "_sum") || ends_with(name, "_count")));
        else
            assert_string_equal(name, fam);
        if (!strcmp(k, "counter"))
            assert_true(ends_with(name, "_total"));
        else
            assert_false(ends_with(name, "_total"));
        samples++;
    }
    assert_int_equal(n_help, n_type);
    assert_true(n_type >= 20);
    assert_true(samples > n_type);
    /* No family is declared twice. */
    for (int i = 0; i < n_type; i++)
        for (int j = i + 1; j < n_type; j++)
            assert_string_not_equal(type[i], type[j]);
    free(text);
}

static void gpu_series_carry_gpu_model_and_a_bytes_suffix(void **state)
{
    (void)state;
    char want[256];
    snprintf(want, sizeof want,
             "vrampack_gpu_planned_bytes{node=\"%s\",gpu=\"0\",gpu_model=\"TGPU\"} ",
             env.agents[0].name);
    char want2[256];
    snprintf(want2, sizeof want2,
             "vrampack_gpu_planned_bytes{node=\"%s\",gpu=\"0\",gpu_model=\"TGPU\"} ",
             env.agents[1].name);
    assert_true(strstr(metrics, want) || strstr(metrics, want2));
    assert_non_null(strstr(metrics, "vrampack_gpu_usable_bytes{node=\""));
    assert_null(strstr(metrics, ",model=\""));
    assert_null(strstr(metrics, "vrampack_gpu_bytes_used"));
    /* The planned bytes add up to what the plan places: 3 x 200 MiB + 600 MiB. */
    double sum = 0;
    for (const char *p = metrics; (p = strstr(p, "\nvrampack_gpu_planned_bytes{")); p++)
        sum += strtod(strchr(p, '}') + 2, NULL);
    printf("planned bytes in /metrics: %.0f\n", sum);
    assert_true(sum == 3 * 209715200.0 + 629145600.0);
    assert_true(h_metric(&env, "vrampack_plan_cost_dollars_per_hour") > 0);
}

static void build_info_names_the_version(void **state)
{
    (void)state;
    char want[96];
    snprintf(want, sizeof want, "vrampack_build_info{version=\"%s\"}", VP_VERSION);
    assert_true(h_metric(&env, want) == 1.0);
}

typedef struct age_args {
    int agent;
    double over;
} age_args;

static double age_of(int agent)
{
    char series[160];
    snprintf(series, sizeof series, "vrampack_node_heartbeat_age_seconds{node=\"%s\"}",
             env.agents[agent].name);
    return h_metric(&env, series);
}

static bool age_over(h_env *h, void *ud)
{
    (void)h;
    age_args *a = ud;
    return age_of(a->agent) > a->over;
}

static void heartbeat_age_is_there_per_node_and_grows_while_an_agent_is_silent(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        double a = age_of(i);
        printf("heartbeat age of %s: %.3f s\n", env.agents[i].name, a);
        assert_true(a >= 0 && a < 2.0); /* heartbeats every 200 ms */
    }
    assert_int_equal(kill(env.agents[1].pid, SIGSTOP), 0);
    age_args silent = {.agent = 1, .over = 1.0};
    bool grew = h_wait(age_over, &env, &silent, 5000);
    double stopped = age_of(1), other = age_of(0);
    kill(env.agents[1].pid, SIGCONT);
    printf("after a second of silence: %.3f s (the other node: %.3f s)\n", stopped, other);
    assert_true(grew);
    assert_true(other < 1.0);
}

int main(void)
{
    if (h_available()) return 77;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_exposition_passes_promtool_check_metrics),
        cmocka_unit_test(every_family_has_help_and_type_and_every_sample_line_parses),
        cmocka_unit_test(gpu_series_carry_gpu_model_and_a_bytes_suffix),
        cmocka_unit_test(build_info_names_the_version),
        cmocka_unit_test(heartbeat_age_is_there_per_node_and_grows_while_an_agent_is_silent),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
