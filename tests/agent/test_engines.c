/* test_engines.c - serving engines under the agent, against the loopback controller stand-in and
 * a fake engine (fake_engine.py) that records its command line and answers /health only after
 * a load delay: each engine's flags and port (LoRA adapters and a speculative draft in the
 * spelling of the installed vLLM version among them), readiness by probe, ready timeouts, liveness
 * restarts, two revisions of one placement side by side, adoption of engines by an agent that
 * replaces a killed one, and port allocation. alarm() bounds the whole file. */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "harness.h"

#define WAIT_MS 8000
#define GIB (1ULL << 30)
#define H100_TOTAL (81559ULL * 1048576ULL) /* what the agent's --sim H100-80GB reports */

typedef struct fx {
    srv s;
    agent_thread t;
    agent_config cfg;
    char dir[64];
    char state_dir[128];
    char engine_log[128];
    char controller[64];
    char ports[32];
    uint32_t port_lo, port_hi;
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/vp-engine-test-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->state_dir, sizeof f->state_dir, "%s/state", f->dir);
    snprintf(f->engine_log, sizeof f->engine_log, "%s/engines.log", f->dir);
    setenv("FAKE_ENGINE_LOG", f->engine_log, 1);
    /* The system python3 for the fake engine, before any slow version-manager shim. */
    static bool path_set;
    if (!path_set) {
        char path[4096];
        const char *old = getenv("PATH");
        snprintf(path, sizeof path, "/usr/bin:/bin:%s", old ? old : "");
        setenv("PATH", path, 1);
        path_set = true;
    }
    setenv("FAKE_ENGINE_LOAD_MS", "400", 1);
    unsetenv("FAKE_ENGINE_VERSION");
    if (srv_init(&f->s) != 0) return -1;
    snprintf(f->controller, sizeof f->controller, "127.0.0.1:%d", f->s.port);
    /* A range of its own, so parallel test files do not hand out the same ports. */
    f->port_lo = 32000 + (uint32_t)(getpid() % 1500) * 8;
    f->port_hi = f->port_lo + 7;
    snprintf(f->ports, sizeof f->ports, "%u-%u", f->port_lo, f->port_hi);
    f->cfg = (agent_config){
        .controller = f->controller,
        .node = "n1",
        .sim = "H100-80GB:2",
        .state_dir = f->state_dir,
        .log_level = AGENT_LOG_INFO,
        .stop_grace_ms = 2000,
        .reconnect_min_ms = 20,
        .reconnect_max_ms = 200,
        .restart_min_ms = 50,
        .restart_max_ms = 400,
        .ports = f->ports,
        .probe_ms = 100,
        .live_probe_ms = 150,
        .live_misses = 2,
    };
    f->cfg.engine_bin[ENG_VLLM] = VP_FAKE_ENGINE;
    f->cfg.engine_bin[ENG_SGLANG] = VP_FAKE_ENGINE;
    f->cfg.engine_bin[ENG_LLAMACPP] = VP_FAKE_ENGINE;
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

static void handshake(fx *f, int accepted_before, proto_msg *report)
{
    assert_true(srv_wait_client(&f->s, accepted_before, WAIT_MS));
    proto_msg h;
    assert_true(srv_expect(&f->s, PROTO_HELLO, WAIT_MS, &h));
    proto_msg_free(&h);
    proto_msg w;
    proto_msg_init(&w, PROTO_WELCOME);
    w.u.welcome.heartbeat_ms = 100;
    assert_int_equal(srv_send(&f->s, &w), 0);
    assert_true(srv_expect(&f->s, PROTO_REPORT, WAIT_MS, report));
}

static void connect_agent(fx *f)
{
    start_agent(f);
    proto_msg r;
    handshake(f, 0, &r);
    proto_msg_free(&r);
}

typedef struct spec {
    const char *id, *rev, *engine, *source, *kv_dtype;
    int n_gpus;
    uint64_t bytes, kv_bytes, max_seq_len, max_batch;
    uint32_t ready_timeout_s;
    const char *args[4];
    uint32_t max_loras, max_lora_rank, spec_tokens; /* adapters and a speculative draft */
    const char *draft;
} spec;

static void send_assign(fx *f, const spec *sp)
{
    proto_msg m;
    proto_msg_init(&m, PROTO_ASSIGN);
    proto_assign *a = &m.u.assign;
    snprintf(a->id, sizeof a->id, "%s", sp->id);
    snprintf(a->rev, sizeof a->rev, "%s", sp->rev ? sp->rev : "");
    snprintf(a->model, sizeof a->model, "%.*s", (int)strcspn(sp->id, "/"), sp->id);
    snprintf(a->engine, sizeof a->engine, "%s", sp->engine);
    snprintf(a->source, sizeof a->source, "%s", sp->source ? sp->source : "");
    snprintf(a->kv_dtype, sizeof a->kv_dtype, "%s", sp->kv_dtype ? sp->kv_dtype : "");
    a->n_gpus = sp->n_gpus ? sp->n_gpus : 1;
    for (int i = 0; i < a->n_gpus; i++)
        a->gpus[i] = (uint8_t)i;
    a->bytes_per_gpu = sp->bytes ? sp->bytes : 10 * GIB;
    a->fraction = (double)a->bytes_per_gpu / (double)H100_TOTAL;
    a->kv_bytes = sp->kv_bytes;
    a->max_seq_len = sp->max_seq_len ? sp->max_seq_len : 4096;
    a->max_batch = sp->max_batch ? sp->max_batch : 1;
    a->ready_timeout_s = sp->ready_timeout_s;
    a->max_loras = sp->max_loras;
    a->max_lora_rank = sp->max_lora_rank;
    snprintf(a->draft, sizeof a->draft, "%s", sp->draft ? sp->draft : "");
    a->spec_tokens = sp->spec_tokens;
    size_t n = 0;
    while (n < 4 && sp->args[n])
        n++;
    assert_int_equal(proto_assign_set_engine_args(a, sp->args, n), 0);
    assert_int_equal(srv_send(&f->s, &m), 0);
    proto_msg_free(&m);
}

static void send_release(fx *f, const char *id, const char *rev)
{
    proto_msg m;
    proto_msg_init(&m, PROTO_RELEASE);
    snprintf(m.u.release.id, sizeof m.u.release.id, "%s", id);
    snprintf(m.u.release.rev, sizeof m.u.release.rev, "%s", rev ? rev : "");
    assert_int_equal(srv_send(&f->s, &m), 0);
}

static const proto_placement *find(const proto_report *r, const char *id, const char *rev)
{
    for (size_t i = 0; i < r->n_placements; i++)
        if (!strcmp(r->placements[i].id, id) && (!rev || !strcmp(r->placements[i].rev, rev)))
            return &r->placements[i];
    return NULL;
}

typedef struct wanted {
    const char *id, *rev;
    int state;   /* proto_state, or -1: absent */
    int not_pid; /* > 0: the pid must differ from it */
} wanted;

static bool pred(const proto_report *r, const void *arg)
{
    const wanted *w = arg;
    const proto_placement *p = find(r, w->id, w->rev);
    if (w->state < 0) return p == NULL;
    return p && (int)p->state == w->state && (w->not_pid <= 0 || p->pid != w->not_pid);
}

static proto_placement wait_for(fx *f, const char *id, const char *rev, int st, int not_pid)
{
    wanted w = {id, rev, st, not_pid};
    proto_msg m;
    if (!srv_expect_report(&f->s, pred, &w, WAIT_MS, &m))
        fail_msg("no report with %s@%s %s within %d ms", id, rev ? rev : "*",
                 st < 0 ? "absent" : proto_state_name((proto_state)st), WAIT_MS);
    proto_placement p = {0};
    const proto_placement *q = find(&m.u.report, id, rev);
    if (q) p = *q;
    proto_msg_free(&m);
    return p;
}

static bool alive(int pid)
{
    return kill(pid, 0) == 0;
}

/* The fake engine's records (one JSON object per launch) for placement id, as an array. */
static cJSON *launches(fx *f, const char *id)
{
    cJSON *all = cJSON_CreateArray();
    FILE *fp = fopen(f->engine_log, "r");
    char line[8192];
    while (fp && fgets(line, sizeof line, fp)) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *env = cJSON_GetObjectItemCaseSensitive(j, "env");
        const cJSON *pl = cJSON_GetObjectItemCaseSensitive(env, "VRAMPACK_PLACEMENT");
        if (cJSON_IsString(pl) && !strcmp(pl->valuestring, id))
            cJSON_AddItemToArray(all, j);
        else
            cJSON_Delete(j);
    }
    if (fp) fclose(fp);
    return all;
}

static char *argv_of(const cJSON *launch)
{
    vp_sb sb = {0};
    const cJSON *a;
    int i = 0;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(launch, "argv"))
        vp_sb_printf(&sb, "%s%s", i++ ? " " : "", a->valuestring);
    return vp_sb_steal(&sb);
}

static const char *env_of(const cJSON *launch, const char *key)
{
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(launch, "env"), key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static void expect_argv(fx *f, const char *id, const char *want)
{
    cJSON *l = launches(f, id);
    assert_int_equal(cJSON_GetArraySize(l), 1);
    char *got = argv_of(cJSON_GetArrayItem(l, 0));
    if (strcmp(got, want)) fail_msg("argv of %s\n  got:  %s\n  want: %s", id, got, want);
    free(got);
    cJSON_Delete(l);
}

/* ---- cases ------------------------------------------------------------------------------- */

static void a_vllm_placement_gets_its_flags_and_a_port_and_runs_only_once_healthy(void **state)
{
    fx *f = *state;
    connect_agent(f);
    spec sp = {.id = "chat/0",
               .rev = "00000000000000a1",
               .engine = "vllm",
               .source = "meta-llama/Llama-3.1-8B-Instruct",
               .n_gpus = 2,
               .bytes = 30 * GIB,
               .kv_bytes = 4 * GIB,
               .max_seq_len = 8192,
               .max_batch = 16,
               .args = {"--enable-prefix-caching"}};
    uint64_t t0 = uv_hrtime();
    send_assign(f, &sp);
    proto_placement s = wait_for(f, "chat/0", sp.rev, PROTO_STARTING, 0);
    proto_placement r = wait_for(f, "chat/0", sp.rev, PROTO_RUNNING, 0);
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    if (ms < 400) fail_msg("running after %llu ms, before the 400 ms load", (unsigned long long)ms);
    assert_true(r.port >= f->port_lo && r.port <= f->port_hi);
    assert_int_equal(r.port, s.port == 0 ? r.port : s.port);
    char want[512];
    snprintf(want, sizeof want,
             "fake_engine.py serve meta-llama/Llama-3.1-8B-Instruct --host 0.0.0.0 --port %u "
             "--tensor-parallel-size 2 --max-model-len 8192 --max-num-seqs 16 "
             "--kv-cache-memory-bytes 4294967296 --enable-prefix-caching",
             r.port);
    expect_argv(f, "chat/0", want);
    cJSON *l = launches(f, "chat/0");
    const cJSON *one = cJSON_GetArrayItem(l, 0);
    assert_string_equal(env_of(one, "CUDA_VISIBLE_DEVICES"), "0,1");
    assert_string_equal(env_of(one, "VRAMPACK_NODE"), "n1");
    assert_string_equal(env_of(one, "VRAMPACK_REVISION"), sp.rev);
    assert_int_equal((int)cJSON_GetObjectItemCaseSensitive(one, "pid")->valuedouble, r.pid);
    cJSON_Delete(l);
}

static void an_older_vllm_gets_the_slice_as_a_fraction_of_the_gpu(void **state)
{
    fx *f = *state;
    setenv("FAKE_ENGINE_VERSION", "0.10.2", 1);
    connect_agent(f);
    spec sp = {.id = "old/0",
               .engine = "vllm",
               .source = "m",
               .bytes = 20 * GIB,
               .kv_bytes = GIB,
               .max_seq_len = 2048,
               .max_batch = 4,
               .kv_dtype = "fp8"};
    send_assign(f, &sp);
    proto_placement r = wait_for(f, "old/0", "", PROTO_RUNNING, 0);
    /* 20 GiB of 81559 MiB = 0.25110...: rounded down */
    char want[512];
    snprintf(want, sizeof want,
             "fake_engine.py serve m --host 0.0.0.0 --port %u --tensor-parallel-size 1 "
             "--max-model-len 2048 --max-num-seqs 4 --gpu-memory-utilization 0.2511 "
             "--kv-cache-dtype fp8",
             r.port);
    expect_argv(f, "old/0", want);
}

static void a_vllm_replica_serving_adapters_and_a_draft_gets_their_flags(void **state)
{
    fx *f = *state;
    connect_agent(f);
    spec sp = {.id = "base/0",
               .engine = "vllm",
               .source = "meta-llama/Llama-3.1-8B-Instruct",
               .bytes = 30 * GIB,
               .kv_bytes = 4 * GIB,
               .max_seq_len = 8192,
               .max_batch = 16,
               .max_loras = 8,
               .max_lora_rank = 16,
               .draft = "meta-llama/Llama-3.2-1B-Instruct",
               .spec_tokens = 4};
    send_assign(f, &sp);
    proto_placement r = wait_for(f, "base/0", "", PROTO_RUNNING, 0);
    /* 0.11.0 (the fake's default version) takes the draft as one JSON config. */
    char want[768];
    snprintf(want, sizeof want,
             "fake_engine.py serve meta-llama/Llama-3.1-8B-Instruct --host 0.0.0.0 --port %u "
             "--tensor-parallel-size 1 --max-model-len 8192 --max-num-seqs 16 "
             "--kv-cache-memory-bytes 4294967296 --enable-lora --max-loras 8 --max-lora-rank 16 "
             "--speculative-config {\"model\": \"meta-llama/Llama-3.2-1B-Instruct\", "
             "\"num_speculative_tokens\": 4}",
             r.port);
    expect_argv(f, "base/0", want);
}

static void a_vllm_older_than_0_8_gets_the_draft_as_its_legacy_flags(void **state)
{
    fx *f = *state;
    setenv("FAKE_ENGINE_VERSION", "0.7.3", 1);
    connect_agent(f);
    spec sp = {.id = "spec/0",
               .engine = "vllm",
               .source = "m",
               .bytes = 20 * GIB,
               .max_seq_len = 2048,
               .max_batch = 4,
               .draft = "/models/draft"};
    send_assign(f, &sp);
    proto_placement r = wait_for(f, "spec/0", "", PROTO_RUNNING, 0);
    /* No --kv-cache-memory-bytes before 0.11 either; spec_tokens 0 is the default 5. */
    char want[512];
    snprintf(want, sizeof want,
             "fake_engine.py serve m --host 0.0.0.0 --port %u --tensor-parallel-size 1 "
             "--max-model-len 2048 --max-num-seqs 4 --gpu-memory-utilization 0.2511 "
             "--speculative-model /models/draft --num-speculative-tokens 5",
             r.port);
    expect_argv(f, "spec/0", want);
}

static void sglang_and_llama_cpp_get_their_own_flags(void **state)
{
    fx *f = *state;
    connect_agent(f);
    spec sg = {.id = "sg/0",
               .engine = "sglang",
               .source = "Qwen/Qwen2-7B",
               .bytes = 20 * GIB,
               .max_seq_len = 4096,
               .max_batch = 8};
    spec ll = {.id = "ll/0",
               .engine = "llama.cpp",
               .source = "/models/qwen2-7b-q4_k_m.gguf",
               .bytes = 8 * GIB,
               .max_seq_len = 4096,
               .max_batch = 4};
    send_assign(f, &sg);
    send_assign(f, &ll);
    proto_placement a = wait_for(f, "sg/0", "", PROTO_RUNNING, 0);
    proto_placement b = wait_for(f, "ll/0", "", PROTO_RUNNING, 0);
    assert_int_not_equal(a.port, b.port);
    char want[512];
    snprintf(want, sizeof want,
             "fake_engine.py -m sglang.launch_server --model-path Qwen/Qwen2-7B --host 0.0.0.0 "
             "--port %u --tp-size 1 --context-length 4096 --max-running-requests 8 "
             "--mem-fraction-static 0.2511",
             a.port);
    expect_argv(f, "sg/0", want);
    snprintf(want, sizeof want,
             "fake_engine.py -m /models/qwen2-7b-q4_k_m.gguf --host 0.0.0.0 --port %u -c 16384 "
             "-np 4 -ngl 999",
             b.port);
    expect_argv(f, "ll/0", want);
}

static void an_engine_never_healthy_fails_after_its_ready_timeout_with_the_reason(void **state)
{
    fx *f = *state;
    connect_agent(f);
    spec sp = {
        .id = "slow/0", .engine = "vllm", .ready_timeout_s = 2, .args = {"--fake-never-ready"}};
    send_assign(f, &sp);
    proto_placement p = wait_for(f, "slow/0", "", PROTO_FAILED, 0);
    /* The last probe's answer is the reason: 503 once the engine listens (a slow interpreter
     * start may still be refusing connections). */
    if (!strstr(p.error, "not ready after 2 s (GET /health on port") ||
        !(strstr(p.error, "HTTP 503") || strstr(p.error, "connection refused")))
        fail_msg("error \"%s\" does not say why it was not ready after 2 s", p.error);
    assert_true(p.failures >= 1);
    /* and it is tried again, with its failures counted for the controller */
    proto_placement q = wait_for(f, "slow/0", "", PROTO_STARTING, 0);
    assert_true(q.pid > 0);
}

static void a_running_engine_that_stops_answering_is_restarted(void **state)
{
    fx *f = *state;
    connect_agent(f);
    spec sp = {.id = "sick/0",
               .engine = "llama.cpp",
               .source = "x.gguf",
               .args = {"--fake-unhealthy-after=300"}};
    send_assign(f, &sp);
    proto_placement a = wait_for(f, "sick/0", "", PROTO_RUNNING, 0);
    proto_placement b = wait_for(f, "sick/0", "", PROTO_FAILED, 0);
    if (!strstr(b.error, "stopped answering GET /health")) fail_msg("error: %s", b.error);
    proto_placement c = wait_for(f, "sick/0", "", PROTO_RUNNING, a.pid);
    assert_int_equal(c.port, a.port); /* routers keep finding it */
    assert_false(alive(a.pid));
}

static void two_revisions_of_one_placement_run_side_by_side_until_one_is_released(void **state)
{
    fx *f = *state;
    connect_agent(f);
    spec v1 = {.id = "roll/0", .rev = "1111111111111111", .engine = "vllm", .bytes = 10 * GIB};
    spec v2 = v1;
    v2.rev = "2222222222222222";
    v2.args[0] = "--enable-prefix-caching";
    send_assign(f, &v1);
    proto_placement a = wait_for(f, "roll/0", v1.rev, PROTO_RUNNING, 0);
    send_assign(f, &v2);
    proto_placement b = wait_for(f, "roll/0", v2.rev, PROTO_RUNNING, 0);
    assert_true(alive(a.pid));
    assert_int_not_equal(a.port, b.port);
    send_release(f, "roll/0", v1.rev);
    wait_for(f, "roll/0", v1.rev, -1, 0);
    assert_false(alive(a.pid));
    assert_true(alive(b.pid));
    proto_placement c = wait_for(f, "roll/0", v2.rev, PROTO_RUNNING, 0);
    assert_int_equal(c.pid, b.pid);
}

/* Runs an agent in a child process (so it can be killed with SIGKILL). */
static pid_t fork_agent(fx *f)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        agent *a = NULL;
        vp_err e = {0};
        FILE *log = fopen("/dev/null", "w");
        f->cfg.log = log;
        if (agent_new(&f->cfg, &a, &e)) _exit(2);
        agent_run(a);
        _exit(0);
    }
    return pid;
}

static void a_killed_agents_engines_are_adopted_by_the_next_agent_not_started_again(void **state)
{
    fx *f = *state;
    pid_t child = fork_agent(f);
    assert_true(child > 0);
    proto_msg r;
    handshake(f, 0, &r);
    proto_msg_free(&r);
    spec sp = {.id = "keep/0", .rev = "abcdefabcdefabcd", .engine = "vllm", .bytes = 10 * GIB};
    send_assign(f, &sp);
    proto_placement a = wait_for(f, "keep/0", sp.rev, PROTO_RUNNING, 0);
    assert_int_equal(kill(child, SIGKILL), 0);
    int st;
    assert_int_equal(waitpid(child, &st, 0), child);
    usleep(300 * 1000); /* the engine writes into its dead pipe meanwhile */
    assert_true(alive(a.pid));

    start_agent(f);
    handshake(f, 1, &r);
    const proto_placement *q = find(&r.u.report, "keep/0", sp.rev);
    assert_non_null(q);
    assert_int_equal(q->pid, a.pid);
    assert_int_equal(q->port, a.port);
    proto_msg_free(&r);
    send_assign(f, &sp); /* the controller's level-triggered assign is a no-op */
    proto_placement b = wait_for(f, "keep/0", sp.rev, PROTO_RUNNING, 0);
    assert_int_equal(b.pid, a.pid);
    srv_pump(&f->s, 300);
    cJSON *l = launches(f, "keep/0");
    assert_int_equal(cJSON_GetArraySize(l), 1);
    cJSON_Delete(l);
    /* An adopted engine is stopped like one of its own. */
    send_release(f, "keep/0", NULL);
    wait_for(f, "keep/0", NULL, -1, 0);
    for (int i = 0; i < 100 && alive(a.pid); i++)
        usleep(20 * 1000);
    assert_false(alive(a.pid));
}

static void engines_get_distinct_ports_and_a_port_in_use_is_skipped(void **state)
{
    fx *f = *state;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port_lo)};
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 1), 0);
    connect_agent(f);
    spec a = {.id = "p/0", .engine = "vllm", .bytes = GIB};
    spec b = {.id = "p/1", .engine = "vllm", .bytes = GIB};
    send_assign(f, &a);
    send_assign(f, &b);
    proto_placement x = wait_for(f, "p/0", "", PROTO_RUNNING, 0);
    proto_placement y = wait_for(f, "p/1", "", PROTO_RUNNING, 0);
    close(fd);
    assert_int_not_equal(x.port, y.port);
    assert_int_not_equal(x.port, f->port_lo);
    assert_int_not_equal(y.port, f->port_lo);
    assert_in_range(x.port, f->port_lo, f->port_hi);
    assert_in_range(y.port, f->port_lo, f->port_hi);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    alarm(240);
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(a_vllm_placement_gets_its_flags_and_a_port_and_runs_only_once_healthy),
        T(an_older_vllm_gets_the_slice_as_a_fraction_of_the_gpu),
        T(a_vllm_replica_serving_adapters_and_a_draft_gets_their_flags),
        T(a_vllm_older_than_0_8_gets_the_draft_as_its_legacy_flags),
        T(sglang_and_llama_cpp_get_their_own_flags),
        T(an_engine_never_healthy_fails_after_its_ready_timeout_with_the_reason),
        T(a_running_engine_that_stops_answering_is_restarted),
        T(two_revisions_of_one_placement_run_side_by_side_until_one_is_released),
        T(a_killed_agents_engines_are_adopted_by_the_next_agent_not_started_again),
        T(engines_get_distinct_ports_and_a_port_in_use_is_skipped),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
