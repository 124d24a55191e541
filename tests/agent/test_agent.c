/* test_agent.c - the agent against a loopback controller stand-in, with real worker processes
 * (tests/agent/fake_worker.sh in place of vrampack-worker): hello and reports, assign and
 * release, duplicate assigns, overcommit refusal, crashed and killed workers, changed assigns,
 * reconnection after drops, refusals and garbage, cleanup of a previous agent's workers, and
 * shutdown. Every wait has a timeout; alarm() bounds the whole file. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define WAIT_MS 5000
#define GIB (1ULL << 30)
#define L4_TOTAL (23034ULL * 1048576ULL)

extern char **environ;

typedef struct fx {
    srv s;
    agent_thread t;
    agent_config cfg;
    char dir[64];
    char state_dir[128];
    char worker_log[128];
    char controller[64];
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/vp-agent-test-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->state_dir, sizeof f->state_dir, "%s/state", f->dir);
    snprintf(f->worker_log, sizeof f->worker_log, "%s/workers.log", f->dir);
    setenv("VP_FAKE_WORKER_LOG", f->worker_log, 1);
    if (srv_init(&f->s) != 0) return -1;
    snprintf(f->controller, sizeof f->controller, "127.0.0.1:%d", f->s.port);
    f->cfg = (agent_config){
        .controller = f->controller,
        .node = "n1",
        .sim = "L4:2",
        .token = "s3cret",
        .worker_path = VP_FAKE_WORKER,
        .state_dir = f->state_dir,
        .log_level = AGENT_LOG_INFO,
        .stop_grace_ms = 2000,
        .reconnect_min_ms = 20,
        .reconnect_max_ms = 200,
        .restart_min_ms = 50,
        .restart_max_ms = 400,
    };
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    agent_thread_stop(&f->t);
    srv_free(&f->s);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", f->dir);
    free(f);
    return 0;
}

static void start_agent(fx *f)
{
    vp_err e = {0};
    int rc = agent_thread_start(&f->t, &f->cfg, &e);
    if (rc) fail_msg("agent_new: %s", e.msg);
}

static void send_welcome(fx *f, uint32_t hb_ms, double util)
{
    proto_msg w;
    proto_msg_init(&w, PROTO_WELCOME);
    w.u.welcome.heartbeat_ms = hb_ms;
    w.u.welcome.gpu_memory_utilization = util;
    assert_int_equal(srv_send(&f->s, &w), 0);
}

/* Waits for the (next) connection and its hello, answers welcome, returns the first report. */
static void handshake(fx *f, int accepted_before, double util, proto_msg *report)
{
    assert_true(srv_wait_client(&f->s, accepted_before, WAIT_MS));
    proto_msg h;
    assert_true(srv_expect(&f->s, PROTO_HELLO, WAIT_MS, &h));
    assert_string_equal(h.u.hello.node, "n1");
    proto_msg_free(&h);
    send_welcome(f, 50, util);
    assert_true(srv_expect(&f->s, PROTO_REPORT, WAIT_MS, report));
}

static void send_assign(fx *f, const char *id, uint8_t gpu, uint64_t bytes)
{
    proto_msg m;
    proto_msg_init(&m, PROTO_ASSIGN);
    snprintf(m.u.assign.id, sizeof m.u.assign.id, "%s", id);
    snprintf(m.u.assign.model, sizeof m.u.assign.model, "%.*s", (int)strcspn(id, "/"), id);
    m.u.assign.n_gpus = 1;
    m.u.assign.gpus[0] = gpu;
    m.u.assign.bytes_per_gpu = bytes;
    m.u.assign.fraction = (double)bytes / (double)L4_TOTAL;
    assert_int_equal(srv_send(&f->s, &m), 0);
}

static void send_release(fx *f, const char *id)
{
    proto_msg m;
    proto_msg_init(&m, PROTO_RELEASE);
    snprintf(m.u.release.id, sizeof m.u.release.id, "%s", id);
    assert_int_equal(srv_send(&f->s, &m), 0);
}

typedef struct want {
    const char *id;
    int state;   /* proto_state, or -1: absent */
    int not_pid; /* when > 0, the placement's pid must differ from it */
} want;

static bool pred_state(const proto_report *r, const void *arg)
{
    const want *w = arg;
    const proto_placement *p = report_find(r, w->id);
    if (w->state < 0) return p == NULL;
    return p && (int)p->state == w->state && (w->not_pid <= 0 || p->pid != w->not_pid);
}

/* Waits until the agent's latest report has id in state st (and, with not_pid > 0, a pid other
 * than not_pid); returns a copy of that placement. */
static proto_placement wait_state_pid(fx *f, const char *id, int st, int not_pid)
{
    want w = {id, st, not_pid};
    proto_msg m;
    if (!srv_expect_report(&f->s, pred_state, &w, WAIT_MS, &m))
        fail_msg("no report with %s in state %s within %d ms", id,
                 st < 0 ? "absent" : proto_state_name((proto_state)st), WAIT_MS);
    proto_placement p = {0};
    const proto_placement *q = report_find(&m.u.report, id);
    if (q) p = *q;
    proto_msg_free(&m);
    return p;
}

static proto_placement wait_state(fx *f, const char *id, int st)
{
    return wait_state_pid(f, id, st, 0);
}

static bool process_exists(int pid)
{
    return kill(pid, 0) == 0;
}

static int count_lines(const char *path, const char *needle)
{
    FILE *fp = fopen(path, "r");
    if (!fp) return 0;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, fp))
        if (!needle || strstr(line, needle)) n++;
    fclose(fp);
    return n;
}

/* ---- cases ------------------------------------------------------------------------------- */

static void the_agent_says_hello_with_its_gpus_and_token_then_reports_and_heartbeats(void **state)
{
    fx *f = *state;
    start_agent(f);
    assert_true(srv_wait_client(&f->s, 0, WAIT_MS));
    proto_msg h;
    assert_true(srv_expect(&f->s, PROTO_HELLO, WAIT_MS, &h));
    assert_string_equal(h.u.hello.node, "n1");
    assert_string_equal(h.u.hello.token, "s3cret");
    assert_int_equal(h.u.hello.n_gpus, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(h.u.hello.gpus[i].index, i);
        assert_string_equal(h.u.hello.gpus[i].model, "L4");
        assert_int_equal(h.u.hello.gpus[i].total_bytes, L4_TOTAL);
    }
    send_welcome(f, 30, 0);
    proto_msg r;
    assert_true(srv_expect(&f->s, PROTO_REPORT, WAIT_MS, &r));
    assert_string_equal(r.u.report.node, "n1");
    assert_int_equal(r.u.report.n_placements, 0);
    proto_msg_free(&r);
    proto_msg hb;
    assert_true(srv_expect(&f->s, PROTO_HEARTBEAT, WAIT_MS, &hb));
    uint64_t first = hb.u.heartbeat.seq;
    assert_true(srv_expect(&f->s, PROTO_HEARTBEAT, WAIT_MS, &hb));
    assert_int_equal(hb.u.heartbeat.seq, first + 1);
    assert_string_equal(hb.u.heartbeat.node, "n1");
}

static void an_assigned_worker_runs_once_and_a_release_stops_it(void **state)
{
    fx *f = *state;
    start_agent(f);
    proto_msg r;
    handshake(f, 0, 0, &r);
    proto_msg_free(&r);
    send_assign(f, "chat/0", 1, 3 * GIB);
    proto_placement p = wait_state(f, "chat/0", PROTO_RUNNING);
    assert_true(p.pid > 0);
    assert_true(process_exists(p.pid));
    assert_int_equal(p.bytes_used, 3 * GIB);
    assert_int_equal(p.n_gpus, 1);
    assert_int_equal(p.gpus[0], 1);
    /* The worker saw its slice (capped for simulation), backend, GPU list and placement. */
    assert_int_equal(count_lines(f->worker_log, "args=--slice-bytes 67108864 --backend cpu "
                                                "cvd=1 placement=chat/0 node=n1"),
                     1);
    /* A second identical assign is a no-op: same process, no second worker. */
    send_assign(f, "chat/0", 1, 3 * GIB);
    srv_pump(&f->s, 200);
    assert_int_equal(count_lines(f->worker_log, NULL), 1);
    assert_true(process_exists(p.pid));

    send_release(f, "chat/0");
    wait_state(f, "chat/0", -1);
    assert_false(process_exists(p.pid));
}

static void an_assign_beyond_usable_bytes_is_refused_and_reported_failed(void **state)
{
    fx *f = *state;
    start_agent(f);
    proto_msg r;
    handshake(f, 0, 0, &r);
    proto_msg_free(&r);
    /* L4: 23034 MiB total, 90% usable = 20730.6 MiB (20.24 GiB). 15 GiB fits; 6 GiB more does
     * not. */
    send_assign(f, "big/0", 0, 15 * GIB);
    wait_state(f, "big/0", PROTO_RUNNING);
    send_assign(f, "more/0", 0, 6 * GIB);
    proto_msg err;
    assert_true(srv_expect(&f->s, PROTO_ERROR, WAIT_MS, &err));
    assert_string_equal(err.u.error.code, PROTO_CODE_OVERCOMMIT);
    assert_string_equal(err.u.error.id, "more/0");
    assert_non_null(strstr(err.u.error.message, "GPU 0"));
    proto_placement p = wait_state(f, "more/0", PROTO_FAILED);
    assert_int_equal(p.pid, 0);
    assert_int_equal(p.bytes_used, 0);
    assert_non_null(strstr(p.error, "overcommit"));
    /* The same 6 GiB fits on the other GPU; exactly the usable bytes fit as well. */
    send_assign(f, "more/0", 1, 6 * GIB);
    wait_state(f, "more/0", PROTO_RUNNING);
    uint64_t usable = L4_TOTAL * 9 / 10 - 15 * GIB;
    send_assign(f, "rest/0", 0, usable);
    wait_state(f, "rest/0", PROTO_RUNNING);
    send_assign(f, "onebyte/0", 0, 1);
    assert_true(srv_expect(&f->s, PROTO_ERROR, WAIT_MS, &err));
    assert_string_equal(err.u.error.id, "onebyte/0");
    /* A GPU the node does not have. */
    send_assign(f, "ghost/0", 9, 1);
    assert_true(srv_expect(&f->s, PROTO_ERROR, WAIT_MS, &err));
    assert_string_equal(err.u.error.code, PROTO_CODE_BAD_ASSIGN);
    /* Three workers started in all: the refused ones never ran. */
    assert_int_equal(count_lines(f->worker_log, NULL), 3);
}

static void a_refused_assign_starts_by_itself_once_a_release_frees_memory(void **state)
{
    fx *f = *state;
    start_agent(f);
    proto_msg r;
    handshake(f, 0, 0, &r);
    proto_msg_free(&r);
    send_assign(f, "old/0", 0, 15 * GIB);
    proto_placement old = wait_state(f, "old/0", PROTO_RUNNING);
    send_assign(f, "new/0", 0, 8 * GIB); /* a move onto this GPU, before the old one left */
    proto_placement p = wait_state(f, "new/0", PROTO_FAILED);
    assert_non_null(strstr(p.error, "overcommit"));
    assert_int_equal(count_lines(f->worker_log, "placement=new/0"), 0);
    send_release(f, "old/0");
    proto_placement n = wait_state(f, "new/0", PROTO_RUNNING);
    assert_true(n.pid > 0);
    assert_int_equal(n.bytes_used, 8 * GIB);
    assert_false(process_exists(old.pid)); /* the old worker had exited before */
}

static void the_welcome_can_lower_the_usable_fraction(void **state)
{
    fx *f = *state;
    start_agent(f);
    proto_msg r;
    handshake(f, 0, 0.5, &r);
    proto_msg_free(&r);
    send_assign(f, "half/0", 0, 12 * GIB); /* > 0.5 x 22.5 GiB */
    proto_msg err;
    assert_true(srv_expect(&f->s, PROTO_ERROR, WAIT_MS, &err));
    assert_string_equal(err.u.error.code, PROTO_CODE_OVERCOMMIT);
    send_assign(f, "small/0", 0, 11 * GIB);
    wait_state(f, "small/0", PROTO_RUNNING);
}

static void a_crashing_worker_is_restarted_with_growing_delays_and_reported_failed(void **state)
{
    fx *f = *state;
    start_agent(f);
    proto_msg r;
    handshake(f, 0, 0, &r);
    proto_msg_free(&r);
    send_assign(f, "crash/0", 0, GIB);
    proto_placement p = wait_state(f, "crash/0", PROTO_FAILED);
    assert_non_null(strstr(p.error, "status 3"));
    assert_non_null(strstr(p.error, "out of memory laying out the slice"));
    /* Backoff 50, 100, 200, 400, 400 ms: in 1 s about four restarts, far from a busy loop. */
    srv_pump(&f->s, 1000);
    int spawns = count_lines(f->worker_log, "placement=crash/0");
    if (spawns < 3 || spawns > 8) fail_msg("%d spawns in ~1 s, expected 3..8", spawns);
    /* Releasing a failed placement removes it at once. */
    send_release(f, "crash/0");
    wait_state(f, "crash/0", -1);
    int after = count_lines(f->worker_log, "placement=crash/0");
    srv_pump(&f->s, 500);
    assert_int_equal(count_lines(f->worker_log, "placement=crash/0"), after);
}

static void a_killed_worker_comes_back_with_a_new_pid(void **state)
{
    fx *f = *state;
    start_agent(f);
    proto_msg r;
    handshake(f, 0, 0, &r);
    proto_msg_free(&r);
    send_assign(f, "w/0", 0, GIB);
    proto_placement p = wait_state(f, "w/0", PROTO_RUNNING);
    assert_int_equal(kill(p.pid, SIGKILL), 0);
    proto_placement q = wait_state(f, "w/0", PROTO_FAILED);
    assert_non_null(strstr(q.error, "signal 9"));
    proto_placement n = wait_state_pid(f, "w/0", PROTO_RUNNING, p.pid);
    assert_true(n.pid > 0);
}

static void a_worker_that_cannot_be_started_is_reported_failed_with_the_reason(void **state)
{
    fx *f = *state;
    f->cfg.worker_path = "/nonexistent/vrampack-worker";
    start_agent(f);
    proto_msg r;
    handshake(f, 0, 0, &r);
    proto_msg_free(&r);
    send_assign(f, "nobin/0", 0, GIB);
    proto_placement p = wait_state(f, "nobin/0", PROTO_FAILED);
    assert_int_equal(p.pid, 0);
    assert_non_null(strstr(p.error, "/nonexistent/vrampack-worker"));
    assert_non_null(strstr(p.error, "no such file"));
    /* It still holds its slice (a retry is scheduled): the GPU's room is not handed out. */
    assert_int_equal(p.bytes_used, GIB);
}

static void a_worker_that_ignores_sigterm_is_killed_after_the_grace_period(void **state)
{
    fx *f = *state;
    f->cfg.stop_grace_ms = 300;
    start_agent(f);
    proto_msg r;
    handshake(f, 0, 0, &r);
    proto_msg_free(&r);
    send_assign(f, "stubborn/0", 0, GIB);
    proto_placement p = wait_state(f, "stubborn/0", PROTO_RUNNING);
    uint64_t t0 = uv_hrtime();
    send_release(f, "stubborn/0");
    proto_placement s = wait_state(f, "stubborn/0", PROTO_STOPPED);
    assert_int_equal(s.pid, p.pid); /* still exiting */
    wait_state(f, "stubborn/0", -1);
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    if (ms < 250)
        fail_msg("stopped after %llu ms, before the 300 ms grace", (unsigned long long)ms);
    assert_false(process_exists(p.pid));
}

static void a_changed_assign_replaces_the_worker(void **state)
{
    fx *f = *state;
    start_agent(f);
    proto_msg r;
    handshake(f, 0, 0, &r);
    proto_msg_free(&r);
    send_assign(f, "m/0", 0, GIB);
    proto_placement a = wait_state(f, "m/0", PROTO_RUNNING);
    send_assign(f, "m/0", 1, 2 * GIB);
    proto_placement b = wait_state_pid(f, "m/0", PROTO_RUNNING, a.pid);
    assert_int_equal(b.gpus[0], 1);
    assert_int_equal(b.bytes_used, 2 * GIB);
    assert_false(process_exists(a.pid));
    assert_int_equal(count_lines(f->worker_log, "cvd=1 placement=m/0"), 1);
}

static void the_agent_reconnects_after_the_controller_drops_and_keeps_its_workers(void **state)
{
    fx *f = *state;
    start_agent(f);
    proto_msg r;
    handshake(f, 0, 0, &r);
    proto_msg_free(&r);
    send_assign(f, "keep/0", 0, GIB);
    proto_placement p = wait_state(f, "keep/0", PROTO_RUNNING);

    srv_close_client(&f->s);
    handshake(f, 1, 0, &r); /* a new hello, and a full report right after the welcome */
    const proto_placement *q = report_find(&r.u.report, "keep/0");
    assert_non_null(q);
    assert_int_equal(q->state, PROTO_RUNNING);
    assert_int_equal(q->pid, p.pid);
    proto_msg_free(&r);

    /* Garbage and an oversize header: the agent drops the connection and comes back. */
    srv_send_raw(&f->s, "\x00\x00\x00\x05hello", 9);
    handshake(f, 2, 0, &r);
    proto_msg_free(&r);
    srv_send_raw(&f->s, "\x7f\xff\xff\xff", 4);
    handshake(f, 3, 0, &r);
    proto_msg_free(&r);
    /* Refused at the door (wrong token): it retries later on its own. */
    proto_msg err;
    proto_msg_init(&err, PROTO_ERROR);
    snprintf(err.u.error.code, sizeof err.u.error.code, PROTO_CODE_AUTH);
    snprintf(err.u.error.message, sizeof err.u.error.message, "wrong token");
    srv_send(&f->s, &err);
    handshake(f, 4, 0, &r);
    proto_msg_free(&r);
    assert_int_equal(count_lines(f->worker_log, "placement=keep/0"), 1);
    assert_true(process_exists(p.pid));
}

static void the_agent_keeps_trying_until_a_controller_listens(void **state)
{
    fx *f = *state;
    /* Point the agent at a port nobody listens on any more, then open a server there. */
    int port = f->s.port;
    srv_free(&f->s);
    start_agent(f);
    uv_sleep(400); /* several refused attempts */
    if (srv_init_port(&f->s, port) != 0) {
        srv_init(&f->s); /* keep teardown simple */
        skip();          /* the port was taken meanwhile: nothing to conclude */
    }
    proto_msg r;
    handshake(f, 0, 0, &r);
    assert_int_equal(r.u.report.n_placements, 0);
    proto_msg_free(&r);
}

static void a_restarted_agent_stops_only_its_own_previous_workers(void **state)
{
    fx *f = *state;
    /* Processes a crashed agent might have left: a worker of ours, a process that is not a
     * worker, and a worker whose recorded start time does not match (a recycled pid). */
    pid_t pids[3];
    const char *ids[3] = {"old/0", "decoy/0", "old/1"};
    for (int i = 0; i < 3; i++) {
        posix_spawnattr_t at;
        posix_spawnattr_init(&at);
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
        posix_spawnattr_setpgroup(&at, 0);
        char envp_pl[64];
        snprintf(envp_pl, sizeof envp_pl, "VRAMPACK_PLACEMENT=%s", ids[i]);
        char *envp[] = {i == 1 ? "X=1" : envp_pl, "PATH=/usr/bin:/bin", NULL};
        char *argv[] = {VP_FAKE_WORKER, NULL};
        assert_int_equal(posix_spawn(&pids[i], VP_FAKE_WORKER, NULL, &at, argv, envp), 0);
        posix_spawnattr_destroy(&at);
    }
    uv_sleep(200);
    mkdir(f->state_dir, 0700);
    char path[256];
    snprintf(path, sizeof path, "%s/workers.json", f->state_dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp,
            "{\"node\":\"n1\",\"workers\":[{\"pid\":%d,\"start_ticks\":0,\"id\":\"old/0\"},"
            "{\"pid\":%d,\"start_ticks\":0,\"id\":\"decoy/0\"},"
            "{\"pid\":%d,\"start_ticks\":1,\"id\":\"old/1\"},"
            "{\"pid\":4000000,\"start_ticks\":0,\"id\":\"gone/0\"}]}\n",
            (int)pids[0], (int)pids[1], (int)pids[2]);
    fclose(fp);

    start_agent(f); /* agent_new has stopped old/0 before returning */
    int status = 0;
    assert_int_equal(waitpid(pids[0], &status, WNOHANG), pids[0]);
    assert_true(process_exists(pids[1]));
    assert_true(process_exists(pids[2]));
    assert_int_equal(waitpid(pids[1], &status, WNOHANG), 0);
    assert_int_equal(waitpid(pids[2], &status, WNOHANG), 0);
    for (int i = 1; i < 3; i++) {
        kill(-pids[i], SIGKILL);
        waitpid(pids[i], &status, 0);
    }
    /* The state file now lists nothing; the controller's assigns start fresh workers. */
    proto_msg r;
    handshake(f, 0, 0, &r);
    assert_int_equal(r.u.report.n_placements, 0);
    proto_msg_free(&r);
}

static void an_agent_whose_lease_runs_out_stops_its_workers_and_reconnects(void **state)
{
    fx *f = *state;
    f->cfg.lease_ms = 600;
    start_agent(f);
    proto_msg r;
    handshake(f, 0, 0, &r);
    proto_msg_free(&r);
    send_assign(f, "fenced/0", 0, GIB);
    proto_placement p = wait_state(f, "fenced/0", PROTO_RUNNING);
    srv_pump(&f->s, 300); /* renewed meanwhile: still running */
    assert_true(process_exists(p.pid));
    /* A partition: heartbeats go unanswered. */
    f->s.no_lease = true;
    uint64_t t0 = uv_hrtime();
    handshake(f, 1, 0, &r); /* the agent gave the silent connection up and came back */
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    f->s.no_lease = false;
    assert_null(report_find(&r.u.report, "fenced/0")); /* stopped, not just disconnected */
    proto_msg_free(&r);
    assert_false(process_exists(p.pid));
    if (ms < 250) fail_msg("fenced after %llu ms, before the 600 ms lease", (unsigned long long)ms);
}

static void a_second_agent_for_the_same_node_is_refused(void **state)
{
    fx *f = *state;
    start_agent(f);
    agent *b = NULL;
    vp_err e = {0};
    assert_int_equal(agent_new(&f->cfg, &b, &e), VP_ESTATE);
    assert_null(b);
    assert_non_null(strstr(e.msg, "another agent for node n1"));
}

static void stopping_the_agent_stops_its_workers_and_clears_its_state(void **state)
{
    fx *f = *state;
    start_agent(f);
    proto_msg r;
    handshake(f, 0, 0, &r);
    proto_msg_free(&r);
    send_assign(f, "a/0", 0, GIB);
    send_assign(f, "b/0", 1, GIB);
    proto_placement a = wait_state(f, "a/0", PROTO_RUNNING);
    proto_placement b = wait_state(f, "b/0", PROTO_RUNNING);
    char path[256];
    snprintf(path, sizeof path, "%s/workers.json", f->state_dir);
    assert_true(count_lines(path, "\"id\":\"a/0\"") == 1);
    agent_thread_stop(&f->t);
    assert_false(process_exists(a.pid));
    assert_false(process_exists(b.pid));
    assert_int_equal(access(path, F_OK), -1);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    alarm(240); /* a hung case fails the file instead of blocking the suite */
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(the_agent_says_hello_with_its_gpus_and_token_then_reports_and_heartbeats),
        T(an_assigned_worker_runs_once_and_a_release_stops_it),
        T(an_assign_beyond_usable_bytes_is_refused_and_reported_failed),
        T(a_refused_assign_starts_by_itself_once_a_release_frees_memory),
        T(the_welcome_can_lower_the_usable_fraction),
        T(a_crashing_worker_is_restarted_with_growing_delays_and_reported_failed),
        T(a_killed_worker_comes_back_with_a_new_pid),
        T(a_worker_that_cannot_be_started_is_reported_failed_with_the_reason),
        T(a_worker_that_ignores_sigterm_is_killed_after_the_grace_period),
        T(a_changed_assign_replaces_the_worker),
        T(the_agent_reconnects_after_the_controller_drops_and_keeps_its_workers),
        T(the_agent_keeps_trying_until_a_controller_listens),
        T(a_restarted_agent_stops_only_its_own_previous_workers),
        T(an_agent_whose_lease_runs_out_stops_its_workers_and_reconnects),
        T(a_second_agent_for_the_same_node_is_refused),
        T(stopping_the_agent_stops_its_workers_and_clears_its_state),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
