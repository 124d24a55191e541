/* test_engines.c - real serving engines under real agents: a controller, three simulated agents
 * with a fake `vllm` first on their PATH (tests/agent/fake_engine.py, which records every launch
 * and answers /health only after a load delay), and a four-model manifest.
 *
 * Checked, in order: every engine gets a unique non-zero port from its agent's --ports range,
 * TP equal to its visible devices, the manifest's max length and batch, and a memory flag that
 * fits its slice; a placement is `running` only once its engine answers /health; `kill -9` of an
 * agent and its restart keep the same engine processes (verified through /proc and the probe)
 * and launch nothing again; a changed engine_args rolls every replica of its model with each old
 * engine stopping only after its replacement was ready; a placement that crash-loops on one
 * node is moved off it and that node's GPUs are marked suspect; nodes are priced from the fleet
 * file and the catalog, and /v1/plan costs what its nodes cost. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

/* after setjmp.h, stdarg.h, stddef.h and stdint.h, which cmocka.h needs */
#include <cmocka.h>

#include "harness.h"

#define HB_MS 1000   /* a node is lost after 3 s: longer than an agent takes to restart */
#define LOAD_MS 1200 /* the fake engines' model load */
#define N_PLACEMENTS 6

static h_env env;
static char engine_log[600];
static char agent_names[3][64];

#define CHAT_ARGS(extra)                                                                           \
    "{\"name\":\"chat\",\"engine\":\"vllm\",\"source\":\"meta-llama/Llama-3.1-8B-Instruct\","      \
    "\"params\":8000000000,\"layers\":32,\"kv_heads\":8,\"head_dim\":128,\"dtype\":\"fp16\","      \
    "\"hidden\":4096,\"intermediate\":14336,\"vocab\":128256,"                                     \
    "\"max_seq_len\":8192,\"max_batch\":16,\"tensor_parallel\":2,\"replicas\":2,"                  \
    "\"spread\":true" extra "}"

#define OTHERS                                                                                     \
    "{\"name\":\"code\",\"engine\":\"vllm\",\"source\":\"Qwen/Qwen2.5-Coder-7B\","                 \
    "\"params\":7000000000,\"layers\":28,\"kv_heads\":4,\"head_dim\":128,\"dtype\":\"fp16\","      \
    "\"hidden\":3584,\"intermediate\":18944,\"vocab\":152064,"                                     \
    "\"max_seq_len\":4096,\"max_batch\":8},"                                                       \
    "{\"name\":\"embed\",\"engine\":\"vllm\",\"source\":\"BAAI/bge-large-en\","                    \
    "\"memory_bytes\":2147483648,\"replicas\":2},"                                                 \
    "{\"name\":\"small\",\"engine\":\"vllm\",\"source\":\"Qwen/Qwen2-0.5B\",\"params\":500000000," \
    "\"layers\":24,\"kv_heads\":2,\"head_dim\":64,\"dtype\":\"bf16\",\"max_seq_len\":2048,"        \
    "\"hidden\":896,\"intermediate\":4864,\"vocab\":151936,"                                       \
    "\"max_batch\":4}"

static const char manifest_v1[] = "{\"models\":[" CHAT_ARGS("") "," OTHERS "]}";
static const char manifest_v2[] =
    "{\"models\":[" CHAT_ARGS(",\"engine_args\":[\"--enable-prefix-caching\"]") "," OTHERS "]}";

static int setup(void **state)
{
    (void)state;
    if (h_setup(&env, "engines", HB_MS, false)) return -1;
    /* A fake vllm first on the agents' PATH. */
    if (h_fake_engines(&env, LOAD_MS, engine_log, sizeof engine_log)) return -1;
    setenv("FAKE_ENGINE_VERSION", "0.11.1", 1);
    char fail_file[700];
    snprintf(fail_file, sizeof fail_file, "%s/bad-gpus", env.dir);
    setenv("FAKE_ENGINE_FAIL_FILE", fail_file, 1);
    /* The fleet file prices two of the three nodes: b by name, a by the type it gives. */
    for (int i = 0; i < 3; i++)
        snprintf(agent_names[i], sizeof agent_names[i], "eng%ld-%c", (long)getpid(), 'a' + i);
    char fleet[700];
    snprintf(fleet, sizeof fleet, "%s/fleet.json", env.dir);
    FILE *f = fopen(fleet, "w");
    if (!f) return -1;
    fprintf(f,
            "{\"gpu_models\":[{\"name\":\"TGPU\",\"memory_bytes\":85899345920,"
            "\"bandwidth_gbs\":300}],"
            "\"catalog\":[{\"type\":\"tg.2x\",\"gpus\":{\"TGPU\":2},\"price_per_hour\":3.25,"
            "\"max_count\":0},{\"type\":\"tg.2x-spot\",\"gpus\":{\"TGPU\":2},"
            "\"price_per_hour\":1.1,\"max_count\":0}],"
            "\"nodes\":[{\"name\":\"%s\",\"type\":\"tg.2x-spot\"}]}\n",
            agent_names[1]);
    fclose(f);
    const char *ctl_extra[] = {"--fleet", fleet, "--crash-loop-failures", "2", NULL};
    if (h_start_controller(&env, 0, ctl_extra)) return -1;
    env.ports_base = 45000 + (int)(getpid() % 300) * 64;
    const char *typed[] = {"--probe-ms", "100", "--type", "tg.2x", NULL};
    const char *plain[] = {"--probe-ms", "100", NULL};
    for (int i = 0; i < 3; i++) {
        memset(env.agent_extra, 0, sizeof env.agent_extra);
        const char *const *x = i == 0 ? typed : plain;
        for (int k = 0; x[k]; k++)
            env.agent_extra[k] = x[k];
        if (h_start_agent(&env, agent_names[i], "TGPU:2:80Gi") < 0) return -1;
    }
    long long end = h_now_ms() + 20000;
    while (h_nodes_connected(&env) != 3 && h_now_ms() < end)
        usleep(25000);
    return h_nodes_connected(&env) == 3 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    h_teardown(&env);
    return 0;
}

static double wall_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

/* Every launch the fake engines recorded, and every exit, by pid. */
static cJSON *engine_records(void)
{
    cJSON *all = cJSON_CreateArray();
    FILE *fp = fopen(engine_log, "r");
    char line[16384];
    while (fp && fgets(line, sizeof line, fp)) {
        cJSON *j = cJSON_Parse(line);
        if (j) cJSON_AddItemToArray(all, j);
    }
    if (fp) fclose(fp);
    return all;
}

static const cJSON *launch_of(const cJSON *recs, int pid)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, recs) if ((int)h_num(r, "pid") == pid &&
                                    cJSON_GetObjectItemCaseSensitive(r, "argv")) return r;
    return NULL;
}

static double exit_of(const cJSON *recs, int pid)
{
    const cJSON *r;
    cJSON_ArrayForEach(
        r, recs) if ((int)h_num(r, "pid") == pid &&
                     cJSON_GetObjectItemCaseSensitive(r, "exit")) return h_num(r, "exit");
    return -1;
}

static int launches_of(const cJSON *recs, const char *id)
{
    int n = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, recs)
    {
        const cJSON *envo = cJSON_GetObjectItemCaseSensitive(r, "env");
        n += envo && !strcmp(h_str(envo, "VRAMPACK_PLACEMENT"), id);
    }
    return n;
}

/* The value after `flag` in a launch's argv, or NULL. */
static const char *flag_value(const cJSON *launch, const char *flag)
{
    const cJSON *argv = cJSON_GetObjectItemCaseSensitive(launch, "argv"), *a;
    bool next = false;
    cJSON_ArrayForEach(a, argv)
    {
        if (next) return a->valuestring;
        next = !strcmp(a->valuestring, flag);
    }
    return NULL;
}

static bool has_arg(const cJSON *launch, const char *arg)
{
    const cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(
                              launch, "argv")) if (!strcmp(a->valuestring, arg)) return true;
    return false;
}

static double first_running[N_PLACEMENTS + 2]; /* wall clock a placement was first seen running */
static char first_ids[N_PLACEMENTS + 2][96];

static void note_running(const cJSON *pl)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(pl, "placements"))
    {
        if (strcmp(h_str(it, "state"), "running")) continue;
        for (int i = 0; i < N_PLACEMENTS + 2; i++) {
            if (!first_ids[i][0]) {
                snprintf(first_ids[i], sizeof first_ids[i], "%s", h_str(it, "id"));
                first_running[i] = wall_s();
                break;
            }
            if (!strcmp(first_ids[i], h_str(it, "id"))) break;
        }
    }
}

static double running_since(const char *id)
{
    for (int i = 0; i < N_PLACEMENTS + 2; i++)
        if (!strcmp(first_ids[i], id)) return first_running[i];
    return -1;
}

static void test_every_engine_gets_a_port_its_devices_length_batch_and_slice(void **state)
{
    (void)state;
    cJSON *ans = NULL;
    assert_int_equal(h_submit_text(&env, manifest_v1, &ans), 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ans, "unplaced")), 0);
    assert_int_equal((int)h_num(ans, "placements"), N_PLACEMENTS);
    cJSON_Delete(ans);
    /* Watch closely: when each placement is first reported running. */
    long long end = h_now_ms() + 40000;
    int running = 0;
    while (h_now_ms() < end && running < N_PLACEMENTS) {
        cJSON *pl = h_get(&env, "/v1/placements", NULL);
        note_running(pl);
        running = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(pl, "placements")) running +=
            !strcmp(h_str(it, "state"), "running");
        cJSON_Delete(pl);
        usleep(20000);
    }
    assert_int_equal(running, N_PLACEMENTS);

    cJSON *pl = h_get(&env, "/v1/placements", NULL);
    cJSON *recs = engine_records();
    int ports[N_PLACEMENTS], np = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(pl, "placements"))
    {
        const char *id = h_str(it, "id");
        int port = (int)h_num(it, "port"), pid = (int)h_num(it, "pid");
        assert_true(port > 0);
        for (int k = 0; k < np; k++)
            assert_int_not_equal(ports[k], port);
        ports[np++] = port;
        char ep[64];
        snprintf(ep, sizeof ep, "127.0.0.1:%d", port);
        assert_string_equal(h_str(it, "endpoint"), ep);
        assert_string_equal(h_str(it, "engine"), "vllm");
        const cJSON *l = launch_of(recs, pid);
        if (!l) fail_msg("%s: no launch recorded for pid %d", id, pid);
        assert_int_equal(launches_of(recs, id), 1);
        /* the port it serves on is the one the agent reported */
        assert_int_equal(atoi(flag_value(l, "--port")), port);
        /* TP = visible devices = the placement's GPUs */
        int n_gpus = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(it, "gpus"));
        const char *cvd = h_str(cJSON_GetObjectItemCaseSensitive(l, "env"), "CUDA_VISIBLE_DEVICES");
        int n_cvd = 1;
        for (const char *p = cvd; *p; p++)
            n_cvd += *p == ',';
        assert_int_equal(atoi(flag_value(l, "--tensor-parallel-size")), n_gpus);
        assert_int_equal(n_cvd, n_gpus);
        /* max length and batch from the manifest */
        const char *model = h_str(it, "model");
        int want_len = !strcmp(model, "chat")    ? 8192
                       : !strcmp(model, "code")  ? 4096
                       : !strcmp(model, "small") ? 2048
                                                 : 4096;
        int want_batch = !strcmp(model, "chat")    ? 16
                         : !strcmp(model, "code")  ? 8
                         : !strcmp(model, "small") ? 4
                                                   : 1;
        assert_int_equal(atoi(flag_value(l, "--max-model-len")), want_len);
        assert_int_equal(atoi(flag_value(l, "--max-num-seqs")), want_batch);
        /* the memory flag fits the slice */
        double slice = h_num(it, "bytes_per_gpu");
        const char *kvb = flag_value(l, "--kv-cache-memory-bytes");
        const char *util = flag_value(l, "--gpu-memory-utilization");
        if (!strcmp(model, "embed")) {
            /* memory_bytes: no architecture, so the slice goes as a fraction of the GPU */
            assert_null(kvb);
            assert_non_null(util);
            double f = atof(util), exact = slice / 85899345920.0;
            if (!(f <= exact && f > exact - 0.0001))
                fail_msg("%s: --gpu-memory-utilization %s for a slice of %.6f", id, util, exact);
        } else {
            assert_null(util);
            assert_non_null(kvb);
            double kv = atof(kvb);
            if (!(kv > 0 && kv < slice))
                fail_msg("%s: --kv-cache-memory-bytes %s for a slice of %.0f", id, kvb, slice);
        }
        /* vllm serve SOURCE: the manifest's source, not the model's name */
        const char *want_src = !strcmp(model, "chat")    ? "meta-llama/Llama-3.1-8B-Instruct"
                               : !strcmp(model, "code")  ? "Qwen/Qwen2.5-Coder-7B"
                               : !strcmp(model, "small") ? "Qwen/Qwen2-0.5B"
                                                         : "BAAI/bge-large-en";
        assert_non_null(flag_value(l, "serve"));
        assert_string_equal(flag_value(l, "serve"), want_src);
    }
    assert_int_equal(np, N_PLACEMENTS);
    cJSON_Delete(recs);
    cJSON_Delete(pl);
}

static void test_a_placement_is_running_only_once_its_engine_answered_health(void **state)
{
    (void)state;
    cJSON *pl = h_get(&env, "/v1/placements", NULL);
    cJSON *recs = engine_records();
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(pl, "placements"))
    {
        const cJSON *l = launch_of(recs, (int)h_num(it, "pid"));
        assert_non_null(l);
        double started = h_num(l, "t"), seen = running_since(h_str(it, "id"));
        assert_true(seen > 0);
        /* /health turns 200 LOAD_MS after the engine started; 50 ms for clock granularity. */
        if (seen < started + LOAD_MS / 1000.0 - 0.05)
            fail_msg("%s running %.3f s after its engine started, before its %d ms load",
                     h_str(it, "id"), seen - started, LOAD_MS);
    }
    cJSON_Delete(recs);
    cJSON_Delete(pl);
}

/* pid runs and its environment names placement id. */
static bool engine_alive_as(int pid, const char *id)
{
    char path[64], buf[8192];
    snprintf(path, sizeof path, "/proc/%d/environ", pid);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    char want[160];
    snprintf(want, sizeof want, "VRAMPACK_PLACEMENT=%s", id);
    for (size_t off = 0; off < n; off += strlen(buf + off) + 1)
        if (!strcmp(buf + off, want)) return true;
    return false;
}

static bool all_running_and_connected(h_env *h, void *ud)
{
    int n = N_PLACEMENTS;
    return h_nodes_connected(h) == 3 && h_all_running(h, &n) && ud;
}

static void test_a_killed_agent_keeps_its_engines_and_its_restart_adopts_them(void **state)
{
    (void)state;
    cJSON *before = h_get(&env, "/v1/placements", NULL);
    /* the agent with the most engines */
    int victim = 0, best = -1;
    for (int i = 0; i < 3; i++) {
        int n = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(before, "placements")) n +=
            !strcmp(h_str(it, "node"), env.agents[i].name);
        if (n > best) {
            best = n;
            victim = i;
        }
    }
    assert_true(best > 0);
    kill(env.agents[victim].pid, SIGKILL);
    h_stop(env.agents[victim].pid, SIGKILL, 5000);
    usleep(500 * 1000); /* the engines write into the dead pipe meanwhile */
    assert_int_equal(h_restart_agent(&env, victim), 0);
    assert_true(h_wait(all_running_and_connected, &env, &env, 20000));
    cJSON *after = h_get(&env, "/v1/placements", NULL);
    cJSON *recs = engine_records();
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(before, "placements"))
    {
        const char *id = h_str(it, "id");
        const cJSON *q = h_find_id(cJSON_GetObjectItemCaseSensitive(after, "placements"), id);
        assert_non_null(q);
        assert_string_equal(h_str(q, "node"), h_str(it, "node"));
        assert_int_equal((int)h_num(q, "pid"), (int)h_num(it, "pid"));
        assert_int_equal((int)h_num(q, "port"), (int)h_num(it, "port"));
        assert_true(engine_alive_as((int)h_num(q, "pid"), id));
        assert_int_equal(launches_of(recs, id), 1); /* nothing launched twice */
    }
    const char *needles[] = {"adopted worker left by a previous agent", NULL};
    assert_true(h_log_has(env.agents[victim].log, needles));
    cJSON_Delete(recs);
    cJSON_Delete(after);
    cJSON_Delete(before);
}

static void test_changed_engine_args_roll_every_replica_make_before_break(void **state)
{
    (void)state;
    cJSON *before = h_get(&env, "/v1/placements", NULL);
    cJSON *ans = NULL;
    assert_int_equal(h_submit_text(&env, manifest_v2, &ans), 200);
    const cJSON *roll = cJSON_GetObjectItemCaseSensitive(ans, "roll");
    assert_int_equal(cJSON_GetArraySize(roll), 2);
    const char *r0 = cJSON_GetArrayItem(roll, 0)->valuestring;
    const char *r1 = cJSON_GetArrayItem(roll, 1)->valuestring;
    assert_true((!strcmp(r0, "chat/0") && !strcmp(r1, "chat/1")) ||
                (!strcmp(r0, "chat/1") && !strcmp(r1, "chat/0")));
    cJSON_Delete(ans);
    /* Poll until both replicas run the new revision; chat never has zero running replicas. */
    long long end = h_now_ms() + 40000;
    bool done = false;
    int min_serving = 99;
    while (!done && h_now_ms() < end) {
        cJSON *pl = h_get(&env, "/v1/placements", NULL);
        int serving = 0, rolled = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(pl, "placements"))
        {
            if (strcmp(h_str(it, "model"), "chat")) continue;
            const cJSON *prev = cJSON_GetObjectItemCaseSensitive(it, "previous");
            bool now = !strcmp(h_str(it, "state"), "running");
            bool old = prev && !strcmp(h_str(prev, "state"), "running");
            serving += now + old;
            const cJSON *b =
                h_find_id(cJSON_GetObjectItemCaseSensitive(before, "placements"), h_str(it, "id"));
            rolled += now && !prev && strcmp(h_str(it, "rev"), h_str(b, "rev"));
        }
        if (pl && serving < min_serving) min_serving = serving;
        done = rolled == 2;
        cJSON_Delete(pl);
        usleep(20000);
    }
    assert_true(done);
    assert_true(min_serving >= 1);
    /* From the engines' own records: each old engine exited only after its replacement had
     * loaded (answered /health), and every new engine has the new argument. */
    cJSON *after = h_get(&env, "/v1/placements", NULL);
    cJSON *recs = engine_records();
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(after, "placements"))
    {
        if (strcmp(h_str(it, "model"), "chat")) continue;
        const cJSON *b =
            h_find_id(cJSON_GetObjectItemCaseSensitive(before, "placements"), h_str(it, "id"));
        const cJSON *nl = launch_of(recs, (int)h_num(it, "pid"));
        assert_non_null(nl);
        assert_true(has_arg(nl, "--enable-prefix-caching"));
        double old_exit = exit_of(recs, (int)h_num(b, "pid"));
        double new_ready = h_num(nl, "t") + LOAD_MS / 1000.0;
        if (old_exit < 0) fail_msg("%s: the old engine did not stop", h_str(it, "id"));
        if (old_exit < new_ready)
            fail_msg("%s: old engine stopped %.3f s before its replacement was ready",
                     h_str(it, "id"), new_ready - old_exit);
    }
    /* the other models were not touched */
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(after, "placements"))
    {
        if (!strcmp(h_str(it, "model"), "chat")) continue;
        assert_int_equal(launches_of(recs, h_str(it, "id")), 1);
    }
    cJSON_Delete(recs);
    cJSON_Delete(after);
    cJSON_Delete(before);
}

typedef struct moved_off {
    char id[96], node[64];
} moved_off;

static bool running_elsewhere(h_env *h, void *ud)
{
    const moved_off *m = ud;
    cJSON *pl = h_get(h, "/v1/placements", NULL);
    const cJSON *q = h_find_id(cJSON_GetObjectItemCaseSensitive(pl, "placements"), m->id);
    bool ok = q && strcmp(h_str(q, "node"), m->node) && !strcmp(h_str(q, "state"), "running") &&
              !cJSON_GetObjectItemCaseSensitive(q, "previous");
    cJSON_Delete(pl);
    return ok;
}

static bool flaky_running(h_env *h, void *ud)
{
    cJSON *pl = h_get(h, "/v1/placements", NULL);
    const cJSON *q = h_find_id(cJSON_GetObjectItemCaseSensitive(pl, "placements"), "flaky/0");
    bool ok = q && !strcmp(h_str(q, "state"), "running");
    if (ok && ud) *(cJSON **)ud = cJSON_Duplicate(q, true);
    cJSON_Delete(pl);
    return ok;
}

static void test_a_crash_looping_placement_moves_and_its_gpu_is_marked_suspect(void **state)
{
    (void)state;
    static const char with_flaky[] = "{\"models\":[" CHAT_ARGS(
        ",\"engine_args\":[\"--enable-prefix-caching\"]") "," OTHERS
                                                          ",{\"name\":\"flaky\",\"engine\":"
                                                          "\"vllm\",\"memory_bytes\":1073741824}]}";
    char fail_file[700];
    snprintf(fail_file, sizeof fail_file, "%s/bad-gpus", env.dir);
    assert_int_equal(h_submit_text(&env, with_flaky, NULL), 200);
    cJSON *q = NULL;
    assert_true(h_wait(flaky_running, &env, &q, 30000));
    moved_off m;
    snprintf(m.id, sizeof m.id, "flaky/0");
    snprintf(m.node, sizeof m.node, "%s", h_str(q, "node"));
    int gpu = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(q, "gpus"), 0)->valueint;
    int pid = (int)h_num(q, "pid");
    cJSON_Delete(q);
    /* Its GPU goes bad: the engine dies, and every restart there fails. */
    FILE *f = fopen(fail_file, "w");
    assert_non_null(f);
    fprintf(f, "%s flaky/0\n", m.node);
    fclose(f);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_true(h_wait(running_elsewhere, &env, &m, 40000));
    assert_true(h_metric(&env, "vrampack_crash_loops_total") >= 1);
    cJSON *nodes = h_get(&env, "/v1/nodes", NULL);
    const cJSON *it, *bad = NULL;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(
                               nodes, "nodes")) if (!strcmp(h_str(it, "name"), m.node)) bad = it;
    assert_non_null(bad);
    const cJSON *g = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(bad, "gpus"), gpu);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "suspect")));
    assert_non_null(strstr(h_str(g, "suspect_reason"), "crash loop"));
    cJSON_Delete(nodes);
}

static void test_nodes_are_priced_from_the_fleet_file_and_the_catalog(void **state)
{
    (void)state;
    cJSON *nodes = h_get(&env, "/v1/nodes", NULL);
    const double want[3] = {3.25, 1.1, 1.1}; /* type tg.2x; fleet node; estimate per GPU */
    const char *source[3] = {"catalog type tg.2x", "fleet file node", "estimate"};
    for (int i = 0; i < 3; i++) {
        const cJSON *it, *n = NULL;
        cJSON_ArrayForEach(
            it, cJSON_GetObjectItemCaseSensitive(
                    nodes, "nodes")) if (!strcmp(h_str(it, "name"), env.agents[i].name)) n = it;
        assert_non_null(n);
        if (h_num(n, "price_per_hour") != want[i])
            fail_msg("%s: $%g/h from \"%s\", want $%g/h", env.agents[i].name,
                     h_num(n, "price_per_hour"), h_str(n, "price_source"), want[i]);
        assert_non_null(strstr(h_str(n, "price_source"), source[i]));
    }
    cJSON_Delete(nodes);
    cJSON *plan = h_get(&env, "/v1/plan", NULL);
    double cost = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(plan, "nodes"))
    {
        bool used = false;
        const cJSON *p;
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(plan, "placements")) used =
            used || !strcmp(h_str(p, "node"), h_str(it, "name"));
        if (used) cost += h_num(it, "price_per_hour");
    }
    assert_true(cost > 0);
    double reported = h_num(plan, "cost_per_hour");
    if (reported < cost - 1e-9 || reported > cost + 1e-9)
        fail_msg("/v1/plan costs $%g/h; its nodes cost $%g/h", reported, cost);
    assert_true(h_metric(&env, "vrampack_plan_cost_dollars_per_hour") == reported);
    cJSON_Delete(plan);
}

int main(void)
{
    if (h_available()) return 77;
    if (h_python_available()) return 77;
    alarm(280);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_engine_gets_a_port_its_devices_length_batch_and_slice),
        cmocka_unit_test(test_a_placement_is_running_only_once_its_engine_answered_health),
        cmocka_unit_test(test_a_killed_agent_keeps_its_engines_and_its_restart_adopts_them),
        cmocka_unit_test(test_changed_engine_args_roll_every_replica_make_before_break),
        cmocka_unit_test(test_a_crash_looping_placement_moves_and_its_gpu_is_marked_suspect),
        cmocka_unit_test(test_nodes_are_priced_from_the_fleet_file_and_the_catalog),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
