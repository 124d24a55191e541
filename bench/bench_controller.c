/* bench_controller.c - one `vrampack controller` (a child process) against many simulated agents
 * (one libuv process, one TCP connection each) on loopback.
 *
 * Measures: time for all agents to connect and be welcomed; time from POST /v1/manifests to
 * the plan's answer and to every placement reported running (the simulated agents report a
 * placement running as soon as its assign arrives, so this is the controller's own latency:
 * plan, commit, assign, absorb reports); and heartbeats per second absorbed with the
 * controller's CPU (utime + stime from /proc/<pid>/stat), at the nominal interval and flooding;
 * and the time to re-place a lost node: one agent (the one with the most placements) goes
 * silent, and the clock runs until the controller has committed a re-plan and every placement
 * runs again, at the given heartbeat and lease. Leases are on, as always: the controller answers
 * every heartbeat with a lease frame and re-places a lost node only once its lease plus the
 * margin has run out. Each simulated agent connects from a loopback address of its own, as
 * agents on separate hosts would. A helper thread does the HTTP calls, so the agents' loop
 * never blocks.
 *
 * Usage: bench_controller [--agents N] [--gpus G] [--replicas R] [--hb-ms MS] [--lease-ms MS]
 *                         [--quick] */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "http_client.h"
#include "proto.h"

#ifndef VP_BIN_DIR
#error VP_BIN_DIR must name the build directory
#endif

typedef struct sim_agent {
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_timer_t hb;
    proto_reader rd;
    int idx;
    bool welcomed, dirty;
    uint64_t seq;
    proto_placement *pl;
    size_t n_pl, cap_pl;
} sim_agent;

static struct {
    int n_agents, gpus, replicas, hb_ms, flood_ms, phase_s, burst;
    bool flooding;
    uv_loop_t *loop;
    sim_agent *agents;
    int welcomed, connect_failed;
    long long t_start, t_welcomed;
    uv_async_t flood; /* helper -> loop: switch heartbeat interval */
    uv_async_t done;  /* helper -> loop: stop */
    uv_async_t kill;  /* helper -> loop: silence the victim agent */
    int victim;
    int lease_ms;
    long long leases_seen;
    int hb_now_ms;
    char api[64];
    pid_t ctl;
    long long heartbeats_sent;
} B;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
}

/* ---- simulated agents (loop thread) ---- */

static void on_written(uv_write_t *w, int status)
{
    (void)status;
    free(w->data);
    free(w);
}

static void send_msg(sim_agent *a, const proto_msg *m)
{
    uint8_t *f;
    size_t len;
    vp_err e = {0};
    if (proto_msg_encode_alloc(m, &f, &len, &e)) {
        fprintf(stderr, "bench: encode: %s\n", e.msg);
        return;
    }
    uv_write_t *w = malloc(sizeof *w);
    w->data = f;
    uv_buf_t b = uv_buf_init((char *)f, (unsigned)len);
    if (uv_write(w, (uv_stream_t *)&a->tcp, &b, 1, on_written)) {
        free(f);
        free(w);
    }
}

static void send_report(sim_agent *a)
{
    proto_msg m;
    proto_msg_init(&m, PROTO_REPORT);
    snprintf(m.u.report.node, sizeof m.u.report.node, "sim-%04d", a->idx);
    for (size_t i = 0; i < a->n_pl; i++)
        proto_report_add(&m.u.report, &a->pl[i]);
    send_msg(a, &m);
    proto_msg_free(&m);
    a->dirty = false;
}

static void on_hb(uv_timer_t *t)
{
    sim_agent *a = t->data;
    /* Flooding sends a burst of frames per write, so the offered load is not capped by this
     * process's own per-write cost on a small machine. */
    int burst = B.flooding ? B.burst : 1;
    vp_sb sb = {0};
    for (int k = 0; k < burst; k++) {
        proto_msg m;
        proto_msg_init(&m, PROTO_HEARTBEAT);
        snprintf(m.u.heartbeat.node, sizeof m.u.heartbeat.node, "sim-%04d", a->idx);
        m.u.heartbeat.seq = ++a->seq;
        proto_msg_encode(&m, &sb, NULL);
        proto_msg_free(&m);
    }
    if (!vp_sb_ok(&sb)) {
        vp_sb_free(&sb);
        return;
    }
    uv_write_t *w = malloc(sizeof *w);
    size_t len = sb.len;
    w->data = vp_sb_steal(&sb);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(w, (uv_stream_t *)&a->tcp, &b, 1, on_written)) {
        free(w->data);
        free(w);
        return;
    }
    B.heartbeats_sent += burst;
}

static void handle(sim_agent *a, proto_msg *m)
{
    switch (m->type) {
    case PROTO_WELCOME:
        if (!a->welcomed) {
            a->welcomed = true;
            if (++B.welcomed == B.n_agents) B.t_welcomed = now_ms();
        }
        B.hb_now_ms = (int)m->u.welcome.heartbeat_ms;
        uv_timer_start(&a->hb, on_hb, m->u.welcome.heartbeat_ms, m->u.welcome.heartbeat_ms);
        a->dirty = true;
        break;
    case PROTO_ASSIGN: {
        for (size_t i = 0; i < a->n_pl; i++)
            if (!strcmp(a->pl[i].id, m->u.assign.id) && !strcmp(a->pl[i].rev, m->u.assign.rev))
                return; /* already runs: no-op */
        if (a->n_pl == a->cap_pl) {
            a->cap_pl = a->cap_pl ? a->cap_pl * 2 : 8;
            a->pl = realloc(a->pl, a->cap_pl * sizeof *a->pl);
        }
        proto_placement *p = &a->pl[a->n_pl++];
        memset(p, 0, sizeof *p);
        snprintf(p->id, sizeof p->id, "%s", m->u.assign.id);
        snprintf(p->rev, sizeof p->rev, "%s", m->u.assign.rev);
        snprintf(p->model, sizeof p->model, "%s", m->u.assign.model);
        p->state = PROTO_RUNNING;
        p->pid = 1000 + a->idx;
        p->bytes_used = m->u.assign.bytes_per_gpu;
        p->n_gpus = m->u.assign.n_gpus;
        memcpy(p->gpus, m->u.assign.gpus, sizeof p->gpus);
        a->dirty = true;
        break;
    }
    case PROTO_RELEASE:
        for (size_t i = 0; i < a->n_pl; i++)
            if (!strcmp(a->pl[i].id, m->u.release.id) &&
                (!m->u.release.rev[0] || !strcmp(a->pl[i].rev, m->u.release.rev))) {
                a->pl[i] = a->pl[--a->n_pl];
                a->dirty = true;
                break;
            }
        break;
    case PROTO_ERROR:
        fprintf(stderr, "bench: sim-%04d: controller error %s: %s\n", a->idx, m->u.error.code,
                m->u.error.message);
        break;
    case PROTO_LEASE:
        B.leases_seen++;
        break;
    default:
        break;
    }
}

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    (void)h;
    static char buf[256 * 1024];
    (void)sz;
    *b = uv_buf_init(buf, sizeof buf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    sim_agent *a = s->data;
    if (n < 0) {
        uv_read_stop(s);
        return;
    }
    proto_reader_feed(&a->rd, b->base, (size_t)n);
    for (;;) {
        proto_msg m;
        vp_err e = {0};
        int rc = proto_reader_next(&a->rd, &m, &e);
        if (rc == VP_EAGAIN) break;
        if (rc) {
            fprintf(stderr, "bench: sim-%04d: %s\n", a->idx, e.msg);
            uv_read_stop(s);
            return;
        }
        handle(a, &m);
        proto_msg_free(&m);
    }
    /* One report per batch of frames: what a real agent does when several assigns land. */
    if (a->dirty) send_report(a);
}

static void on_connect(uv_connect_t *c, int status)
{
    sim_agent *a = c->data;
    if (status) {
        B.connect_failed++;
        fprintf(stderr, "bench: sim-%04d: connect: %s\n", a->idx, uv_strerror(status));
        return;
    }
    uv_read_start((uv_stream_t *)&a->tcp, on_alloc, on_read);
    proto_msg m;
    proto_msg_init(&m, PROTO_HELLO);
    proto_hello *h = &m.u.hello;
    snprintf(h->node, sizeof h->node, "sim-%04d", a->idx);
    snprintf(h->version, sizeof h->version, "bench");
    h->n_gpus = B.gpus;
    for (int g = 0; g < B.gpus; g++) {
        h->gpus[g].index = (uint32_t)g;
        snprintf(h->gpus[g].model, sizeof h->gpus[g].model, "L4");
        snprintf(h->gpus[g].uuid, sizeof h->gpus[g].uuid, "GPU-sim-%04d-%d", a->idx, g);
        h->gpus[g].total_bytes = 23034ull * 1048576ull;
    }
    send_msg(a, &m);
}

static void on_flood(uv_async_t *x)
{
    (void)x;
    B.flooding = true;
    for (int i = 0; i < B.n_agents; i++)
        if (B.agents[i].welcomed)
            uv_timer_start(&B.agents[i].hb, on_hb, (uint64_t)B.flood_ms, (uint64_t)B.flood_ms);
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

/* The victim goes silent: no heartbeat, no connection (as a machine that lost power). */
static void on_kill(uv_async_t *x)
{
    (void)x;
    sim_agent *a = &B.agents[B.victim];
    uv_timer_stop(&a->hb);
    if (!uv_is_closing((uv_handle_t *)&a->tcp)) uv_close((uv_handle_t *)&a->tcp, close_cb);
}

static void on_done(uv_async_t *x)
{
    (void)x;
    for (int i = 0; i < B.n_agents; i++) {
        uv_close((uv_handle_t *)&B.agents[i].hb, close_cb);
        if (!uv_is_closing((uv_handle_t *)&B.agents[i].tcp))
            uv_close((uv_handle_t *)&B.agents[i].tcp, close_cb);
    }
    uv_close((uv_handle_t *)&B.flood, close_cb);
    uv_close((uv_handle_t *)&B.kill, close_cb);
    uv_close((uv_handle_t *)&B.done, close_cb);
}

/* ---- controller process and API (helper thread) ---- */

static double metric(const char *series)
{
    cli_http_resp r;
    char err[256];
    if (cli_http_request(B.api, "GET", "/metrics", NULL, NULL, 0, 30000, &r, err, sizeof err))
        return -1;
    double v = -1;
    size_t n = strlen(series);
    for (char *p = r.body; p && *p;) {
        if (!strncmp(p, series, n) && p[n] == ' ') {
            v = strtod(p + n + 1, NULL);
            break;
        }
        p = strchr(p, '\n');
        if (p) p++;
    }
    cli_http_resp_free(&r);
    return v;
}

static double cpu_seconds(pid_t pid, long *rss_kb)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    long rss = 0;
    /* fields after ')': state(3) ... utime(14) stime(15) ... rss(24) */
    if (!p || sscanf(p + 2,
                     "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d "
                     "%*d %*d %*u %*u %ld",
                     &ut, &st, &rss) != 3)
        return -1;
    if (rss_kb) *rss_kb = rss * (sysconf(_SC_PAGESIZE) / 1024);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static char *make_manifest(int replicas)
{
    /* 20 models of measured footprints from 1 to 20 GiB-ish (L4 usable is ~20.2 GiB), replicas
     * spread over them: a realistic mix of small embedders and mid-size LLM replicas. */
    size_t cap = 1 << 16;
    char *s = malloc(cap);
    size_t len = (size_t)snprintf(s, cap, "{\"models\":[");
    int left = replicas;
    for (int m = 0; m < 20; m++) {
        int r = m == 19 ? left : replicas / 20;
        left -= r;
        uint64_t bytes = (uint64_t)(1 + (m * 37) % 19) * (1ull << 30) / 2 + (uint64_t)m * 4096;
        len +=
            (size_t)snprintf(s + len, cap - len,
                             "%s{\"name\":\"m%02d\",\"memory_bytes\":%" PRIu64 ",\"replicas\":%d}",
                             m ? "," : "", m, bytes, r);
    }
    snprintf(s + len, cap - len, "]}");
    return s;
}

typedef struct result {
    long long submit_ms, plan_ms, running_ms;
    int http_status;
    double placements, unplaced, solve_s;
    double nominal_hbps, nominal_cpu, flood_hbps, flood_cpu, flood_offered;
    long long lost_replan_ms, lost_running_ms;
    size_t lost_placements;
    long rss_kb;
    int ok;
} result;

static result R;

static void measure_hb(int seconds, double *hbps, double *cpu)
{
    double h0 = metric("vrampack_heartbeats_total"), c0 = cpu_seconds(B.ctl, NULL);
    long long t0 = now_ms();
    sleep_ms(seconds * 1000);
    double h1 = metric("vrampack_heartbeats_total"), c1 = cpu_seconds(B.ctl, NULL);
    double dt = (double)(now_ms() - t0) / 1000.0;
    *hbps = (h1 - h0) / dt;
    *cpu = 100.0 * (c1 - c0) / dt;
}

static void *helper(void *ud)
{
    (void)ud;
    /* Wait for every agent to be welcomed (and the controller to have them all as nodes). */
    long long deadline = now_ms() + 60000;
    while (now_ms() < deadline && metric("vrampack_agents_connected") < B.n_agents)
        sleep_ms(20);
    char *manifest = make_manifest(B.replicas);
    cli_http_resp r;
    char err[256];
    long long t0 = now_ms();
    int rc = cli_http_request(B.api, "POST", "/v1/manifests", NULL, manifest, strlen(manifest),
                              120000, &r, err, sizeof err);
    R.plan_ms = now_ms() - t0;
    free(manifest);
    if (rc) {
        fprintf(stderr, "bench: submit: %s\n", err);
        uv_async_send(&B.done);
        return NULL;
    }
    R.http_status = r.status;
    cli_http_resp_free(&r);
    R.placements = -1;
    double expect = metric("vrampack_placements{state=\"pending\"}") +
                    metric("vrampack_placements{state=\"running\"}");
    R.unplaced = metric("vrampack_placements{state=\"unplaced\"}");
    R.placements = expect;
    while (now_ms() - t0 < 120000 && metric("vrampack_placements{state=\"running\"}") < expect)
        sleep_ms(10);
    R.running_ms = now_ms() - t0;
    R.solve_s = metric("vrampack_solve_seconds_last");
    /* Let the first heartbeats after the burst settle, then measure at the nominal interval. */
    sleep_ms(B.hb_ms);
    measure_hb(B.phase_s, &R.nominal_hbps, &R.nominal_cpu);
    uv_async_send(&B.flood);
    sleep_ms(500);
    long long s0 = B.heartbeats_sent, ts = now_ms();
    measure_hb(B.phase_s, &R.flood_hbps, &R.flood_cpu);
    R.flood_offered = (double)(B.heartbeats_sent - s0) * 1000.0 / (double)(now_ms() - ts);
    cpu_seconds(B.ctl, &R.rss_kb);
    /* A lost node: the agent with the most placements goes silent. (Read without the loop's
     * lock: the loop only changes n_pl on assigns and releases, and none are due now.) */
    size_t most = 0;
    for (int i = 0; i < B.n_agents; i++)
        if (B.agents[i].n_pl > most) {
            most = B.agents[i].n_pl;
            B.victim = i;
        }
    R.lost_placements = most;
    double replans0 = metric("vrampack_replans_total");
    long long tk = now_ms();
    uv_async_send(&B.kill);
    while (now_ms() - tk < 120000 && metric("vrampack_replans_total") <= replans0)
        sleep_ms(20);
    R.lost_replan_ms = now_ms() - tk;
    while (now_ms() - tk < 120000 && metric("vrampack_placements{state=\"running\"}") < expect)
        sleep_ms(20);
    R.lost_running_ms = now_ms() - tk;
    R.ok = 1;
    uv_async_send(&B.done);
    return NULL;
}

static int start_controller(const char *dir)
{
    char log[512], state[512], hb[16], lease[16];
    snprintf(lease, sizeof lease, "%d", B.lease_ms);
    snprintf(log, sizeof log, "%s/controller.log", dir);
    snprintf(state, sizeof state, "%s/state.db", dir);
    snprintf(hb, sizeof hb, "%d", B.hb_ms);
    char bin[512];
    snprintf(bin, sizeof bin, "%s/vrampack", VP_BIN_DIR);
    B.ctl = fork();
    if (B.ctl == 0) {
        FILE *f = freopen(log, "w", stderr);
        (void)f;
        execl(bin, bin, "controller", "--listen", "127.0.0.1:0", "--api", "127.0.0.1:0", "--state",
              state, "--heartbeat-ms", hb, "--lease-ms", lease, "--solver", "ffd", "--log-level",
              "info", (char *)NULL);
        _exit(127);
    }
    long long end = now_ms() + 20000;
    while (now_ms() < end) {
        FILE *f = fopen(log, "r");
        char line[1024];
        while (f && fgets(line, sizeof line, f)) {
            char *a = strstr(line, " agents="), *p = strstr(line, " api=");
            if (strstr(line, "msg=listening") && a && p) {
                char agents[64];
                sscanf(a + 8, "%63s", agents);
                sscanf(p + 5, "%63s", B.api);
                fclose(f);
                char *colon = strrchr(agents, ':');
                return colon ? atoi(colon + 1) : -1;
            }
        }
        if (f) fclose(f);
        sleep_ms(20);
    }
    return -1;
}

int main(int argc, char **argv)
{
    B.n_agents = 1000;
    B.gpus = 4;
    B.replicas = 3000;
    B.hb_ms = 1000;
    B.flood_ms = 10;
    B.burst = 10;
    B.phase_s = 5;
    B.lease_ms = 10000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            B.phase_s = 2;
        else if (i + 1 < argc && !strcmp(argv[i], "--agents"))
            B.n_agents = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--gpus"))
            B.gpus = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--replicas"))
            B.replicas = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--hb-ms"))
            B.hb_ms = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--lease-ms"))
            B.lease_ms = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_controller [--agents N] [--gpus G] [--replicas R] "
                            "[--hb-ms MS] [--lease-ms MS] [--quick]\n");
            return 2;
        }
    }
    if (B.n_agents < 1 || B.n_agents > 60000 || B.gpus < 1 || B.gpus > 16 || B.replicas < 20 ||
        B.hb_ms < 10 || B.lease_ms < B.hb_ms) {
        fprintf(stderr, "bench_controller: out-of-range option\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl)) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t)B.n_agents + 64) {
            fprintf(stderr, "bench_controller: descriptor limit %lu is below %d agents\n",
                    (unsigned long)rl.rlim_cur, B.n_agents);
            return 1;
        }
    }
    char dir[] = "/tmp/vp-bench-ctl-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    int port = start_controller(dir);
    if (port <= 0) {
        fprintf(stderr, "bench_controller: the controller did not start (see %s)\n", dir);
        if (B.ctl > 0) kill(B.ctl, SIGKILL);
        return 1;
    }
    B.loop = uv_default_loop();
    B.agents = calloc((size_t)B.n_agents, sizeof *B.agents);
    uv_async_init(B.loop, &B.flood, on_flood);
    uv_async_init(B.loop, &B.done, on_done);
    uv_async_init(B.loop, &B.kill, on_kill);
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", port, &sa);
    B.t_start = now_ms();
    for (int i = 0; i < B.n_agents; i++) {
        sim_agent *a = &B.agents[i];
        a->idx = i;
        uv_tcp_init(B.loop, &a->tcp);
        uv_timer_init(B.loop, &a->hb);
        a->tcp.data = a->hb.data = a->conn.data = a;
        /* A loopback address per agent (127.1.x.y), as from hosts of their own. */
        struct sockaddr_in me;
        char src[32];
        snprintf(src, sizeof src, "127.1.%d.%d", i / 250, i % 250 + 1);
        uv_ip4_addr(src, 0, &me);
        uv_tcp_bind(&a->tcp, (const struct sockaddr *)&me, 0);
        uv_tcp_connect(&a->conn, &a->tcp, (const struct sockaddr *)&sa, on_connect);
    }
    pthread_t th;
    pthread_create(&th, NULL, helper, NULL);
    uv_run(B.loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
    kill(B.ctl, SIGTERM);
    int st;
    waitpid(B.ctl, &st, 0);
    for (int i = 0; i < B.n_agents; i++) {
        proto_reader_free(&B.agents[i].rd);
        free(B.agents[i].pl);
    }
    free(B.agents);
    uv_loop_close(B.loop);

    printf("controller bench: %d simulated agents x %d L4 GPUs, 20 models, %d replicas, "
           "heartbeat %d ms, lease %d ms, loopback, one process for all agents\n",
           B.n_agents, B.gpus, B.replicas, B.hb_ms, B.lease_ms);
    printf("  %-44s %s\n", "measure", "value");
    printf("  %-44s %lld ms (%d failed)\n", "connect + hello -> all welcomed",
           B.t_welcomed ? B.t_welcomed - B.t_start : -1, B.connect_failed);
    if (!R.ok) {
        printf("  run incomplete (HTTP %d); controller log in %s\n", R.http_status, dir);
        return 1;
    }
    printf("  %-44s %lld ms (HTTP %d, solve %.0f ms, %.0f placed, %.0f unplaced)\n",
           "submit -> plan committed and answered", R.plan_ms, R.http_status, R.solve_s * 1000,
           R.placements, R.unplaced);
    printf("  %-44s %lld ms\n", "submit -> all placements running", R.running_ms);
    printf("  %-44s %.0f /s at %.1f%% CPU (of one core)\n", "heartbeats absorbed, nominal interval",
           R.nominal_hbps, R.nominal_cpu);
    printf("  %-44s %.0f /s at %.1f%% CPU (offered %.0f /s: %d frames every %d ms per agent)\n",
           "heartbeats absorbed, flood", R.flood_hbps, R.flood_cpu, R.flood_offered, B.burst,
           B.flood_ms);
    printf("  %-44s %.1f MiB\n", "controller RSS after the flood", (double)R.rss_kb / 1024.0);
    printf("  %-44s %lld lease frames\n", "leases renewed (agents' side)", B.leases_seen);
    printf("  %-44s %lld ms (%zu placements; lost after 3 heartbeats, re-placed after the "
           "lease + 2 heartbeats)\n",
           "node silent -> re-plan committed", R.lost_replan_ms, R.lost_placements);
    printf("  %-44s %lld ms\n", "node silent -> all placements running again", R.lost_running_ms);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
