/* test_real_worker.c - the agent with the built-in vrampack-worker (CPU backend, simulated
 * GPUs): an assign reaches running on the worker's own "ready" line, two placements share a
 * GPU, and a release stops the worker with SIGTERM well inside the grace period. Skipped (77)
 * when the worker binary is not built. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define WAIT_MS 15000
#define WORKER VP_BIN_DIR "/vrampack-worker"

typedef struct want {
    const char *id;
    int state;
} want;

static bool pred_state(const proto_report *r, const void *arg)
{
    const want *w = arg;
    const proto_placement *p = report_find(r, w->id);
    if (w->state < 0) return p == NULL;
    return p && (int)p->state == w->state;
}

static proto_placement wait_state(srv *s, const char *id, int st)
{
    want w = {id, st};
    proto_msg m;
    if (!srv_expect_report(s, pred_state, &w, WAIT_MS, &m))
        fail_msg("no report with %s in state %d within %d ms", id, st, WAIT_MS);
    proto_placement p = {0};
    const proto_placement *q = report_find(&m.u.report, id);
    if (q) p = *q;
    proto_msg_free(&m);
    return p;
}

static void assign(srv *s, const char *id, uint64_t bytes)
{
    proto_msg m;
    proto_msg_init(&m, PROTO_ASSIGN);
    snprintf(m.u.assign.id, sizeof m.u.assign.id, "%s", id);
    snprintf(m.u.assign.model, sizeof m.u.assign.model, "m");
    m.u.assign.n_gpus = 1;
    m.u.assign.bytes_per_gpu = bytes;
    m.u.assign.fraction = 0.01;
    assert_int_equal(srv_send(s, &m), 0);
}

static void the_built_in_worker_runs_and_stops_under_the_agent(void **state)
{
    (void)state;
    char dir[] = "/tmp/vp-agent-real-XXXXXX";
    assert_non_null(mkdtemp(dir));
    srv s;
    assert_int_equal(srv_init(&s), 0);
    char controller[64];
    snprintf(controller, sizeof controller, "127.0.0.1:%d", s.port);
    agent_config cfg = {
        .controller = controller,
        .node = "real",
        .sim = "L4:1",
        .worker_path = WORKER,
        .state_dir = dir,
        .stop_grace_ms = 8000,
        .sim_max_slice_bytes = 32u << 20, /* two small host slices */
    };
    agent_thread t;
    vp_err e = {0};
    if (agent_thread_start(&t, &cfg, &e)) fail_msg("agent_new: %s", e.msg);
    assert_true(srv_wait_client(&s, 0, WAIT_MS));
    proto_msg m;
    assert_true(srv_expect(&s, PROTO_HELLO, WAIT_MS, &m));
    proto_msg_free(&m);
    proto_msg_init(&m, PROTO_WELCOME);
    m.u.welcome.heartbeat_ms = 200;
    assert_int_equal(srv_send(&s, &m), 0);

    assign(&s, "m/0", 4ULL << 30);
    assign(&s, "m/1", 4ULL << 30);
    proto_placement a = wait_state(&s, "m/0", PROTO_RUNNING);
    proto_placement b = wait_state(&s, "m/1", PROTO_RUNNING);
    assert_true(a.pid > 0 && b.pid > 0 && a.pid != b.pid);

    uint64_t t0 = uv_hrtime();
    proto_msg_init(&m, PROTO_RELEASE);
    snprintf(m.u.release.id, sizeof m.u.release.id, "m/0");
    assert_int_equal(srv_send(&s, &m), 0);
    wait_state(&s, "m/0", -1);
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    if (ms >= 8000)
        fail_msg("release took %llu ms: the worker ignored SIGTERM", (unsigned long long)ms);
    assert_int_equal(kill(a.pid, 0), -1);
    proto_placement still = wait_state(&s, "m/1", PROTO_RUNNING);
    assert_int_equal(still.pid, b.pid);

    agent_thread_stop(&t);
    assert_int_equal(kill(b.pid, 0), -1);
    srv_free(&s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

int main(void)
{
    if (access(WORKER, X_OK) != 0) {
        fprintf(stderr, "skipped: %s is not built\n", WORKER);
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    alarm(120);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_built_in_worker_runs_and_stops_under_the_agent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
