/* test_config.c - the agent's pure helpers: --sim specs, command template expansion, log
 * levels, and configuration errors that agent_new reports before touching anything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent.h"

#define MIB 1048576ULL

static void a_sim_spec_lists_gpus_in_order_with_catalog_sizes(void **state)
{
    (void)state;
    proto_gpu g[PROTO_MAX_GPUS];
    int n = 0;
    vp_err e = {0};
    assert_int_equal(agent_sim_parse("H100-80GB:2,A10G:1,H100:1", g, &n, &e), 0);
    assert_int_equal(n, 4);
    assert_string_equal(g[0].model, "H100-80GB");
    assert_int_equal(g[0].total_bytes, 81559 * MIB);
    assert_int_equal(g[1].index, 1);
    assert_string_equal(g[2].model, "A10G");
    assert_int_equal(g[2].total_bytes, 23028 * MIB);
    assert_string_equal(g[3].model, "H100-80GB"); /* alias */
    assert_int_equal(g[3].index, 3);
    assert_int_equal(agent_sim_parse("X1:2:24Gi", g, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_string_equal(g[1].model, "X1");
    assert_int_equal(g[1].total_bytes, 24ULL << 30);
}

static void bad_sim_specs_are_refused_with_the_reason(void **state)
{
    (void)state;
    proto_gpu g[PROTO_MAX_GPUS];
    int n = 7;
    vp_err e = {0};
    static const struct {
        const char *spec, *why;
    } bad[] = {
        {"", "empty"},
        {"L4", "MODEL:COUNT"},
        {"L4:0", "count"},
        {"L4:-1", "count"},
        {"L4:x", "count"},
        {"L4:17", "count"},
        {"L4:9,A10G:8", "more than 16"},
        {"B200:1", "unknown GPU model \"B200\""},
        {"X:1:0", "byte count"},
        {"X:1:12Q", "byte count"},
        {"bad name:1:1G", "model name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = agent_sim_parse(bad[i].spec, g, &n, &e);
        if (rc != VP_EUSAGE) fail_msg("\"%s\": rc %d, want VP_EUSAGE", bad[i].spec, rc);
        if (!strstr(e.msg, bad[i].why))
            fail_msg("\"%s\": message \"%s\" lacks \"%s\"", bad[i].spec, e.msg, bad[i].why);
        assert_int_equal(n, 0);
    }
}

static void log_levels_parse_by_name(void **state)
{
    (void)state;
    int l = 99;
    assert_int_equal(agent_log_level_parse("debug", &l), 0);
    assert_int_equal(l, AGENT_LOG_DEBUG);
    assert_int_equal(agent_log_level_parse("error", &l), 0);
    assert_int_equal(l, AGENT_LOG_ERROR);
    assert_int_equal(agent_log_level_parse("loud", &l), VP_EINPUT);
}

static void agent_new_refuses_a_bad_configuration(void **state)
{
    (void)state;
    static const struct {
        agent_config cfg;
        const char *why;
    } bad[] = {
        {{.node = "n", .sim = "L4:1"}, "--controller"},
        {{.controller = "127.0.0.1:1", .sim = "L4:1"}, "--node"},
        {{.controller = "127.0.0.1", .node = "n", .sim = "L4:1"}, "HOST:PORT"},
        {{.controller = "127.0.0.1:99999", .node = "n", .sim = "L4:1"}, "HOST:PORT"},
        {{.controller = "[::1]7000", .node = "n", .sim = "L4:1"}, "HOST:PORT"},
        {{.controller = "h:1", .node = "../etc", .sim = "L4:1"}, "--node"},
        {{.controller = "h:1", .node = "a b", .sim = "L4:1"}, "--node"},
        {{.controller = "h:1", .node = "n", .sim = "Z9:1"}, "unknown GPU model"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        agent *a = (agent *)&a; /* must be reset to NULL */
        vp_err e = {0};
        int rc = agent_new(&bad[i].cfg, &a, &e);
        if (rc == 0) fail_msg("case %zu accepted", i);
        assert_null(a);
        if (!strstr(e.msg, bad[i].why))
            fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, e.msg, bad[i].why);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_sim_spec_lists_gpus_in_order_with_catalog_sizes),
        cmocka_unit_test(bad_sim_specs_are_refused_with_the_reason),
        cmocka_unit_test(log_levels_parse_by_name),
        cmocka_unit_test(agent_new_refuses_a_bad_configuration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
