/* harness.c - process and HTTP plumbing for the control-plane integration tests (harness.h). */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http_client.h"

#ifndef VP_BIN_DIR
#error VP_BIN_DIR must name the build directory
#endif

long long h_now_ms(void)
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

static pid_t spawn(const char *log, char *const argv[])
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        setpgid(0, 0);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int in = open("/dev/null", O_RDONLY);
        if (fd < 0 || in < 0) _exit(127);
        dup2(in, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

static int run_quiet(char *const argv[])
{
    pid_t pid = spawn("/dev/null", argv);
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int h_available(void)
{
    char bin[600], worker[600];
    snprintf(bin, sizeof bin, "%s/vrampack", VP_BIN_DIR);
    snprintf(worker, sizeof worker, "%s/vrampack-worker", VP_BIN_DIR);
    if (access(bin, X_OK) || access(worker, X_OK)) {
        printf("skipped: %s or %s is not built\n", bin, worker);
        return 77;
    }
    char *c[] = {bin, "controller", "--help", NULL};
    char *a[] = {bin, "agent", "--help", NULL};
    if (run_quiet(c) != 0 || run_quiet(a) != 0) {
        printf("skipped: this vrampack has no controller or agent\n");
        return 77;
    }
    return 0;
}

int h_setup(h_env *h, const char *tag, int hb_ms, bool with_token)
{
    memset(h, 0, sizeof *h);
    /* Workers orphaned by a killed agent are re-parented here, so teardown can reap them. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    signal(SIGPIPE, SIG_IGN);
    const char *tmp = getenv("TMPDIR");
    snprintf(h->dir, sizeof h->dir, "%s/vp-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    if (!mkdtemp(h->dir)) return -1;
    snprintf(h->bin, sizeof h->bin, "%s/vrampack", VP_BIN_DIR);
    snprintf(h->state, sizeof h->state, "%s/state.db", h->dir);
    h->hb_ms = hb_ms;
    if (with_token) {
        snprintf(h->token, sizeof h->token, "t0k3n-%ld-%s", (long)getpid(), tag);
        snprintf(h->token_file, sizeof h->token_file, "%s/token", h->dir);
        snprintf(h->agent_token, sizeof h->agent_token, "ag3nt-%ld-%s", (long)getpid(), tag);
        snprintf(h->agent_token_file, sizeof h->agent_token_file, "%s/agent-token", h->dir);
        FILE *f = fopen(h->token_file, "w");
        if (!f) return -1;
        fprintf(f, "%s\n", h->token);
        fclose(f);
        if (!(f = fopen(h->agent_token_file, "w"))) return -1;
        fprintf(f, "%s\n", h->agent_token);
        fclose(f);
    }
    return 0;
}

int h_fake_engines(h_env *h, int load_ms, char *log, size_t cap)
{
#ifdef VP_FAKE_ENGINE
    char bin[600], link[700], path[4096], load[16];
    snprintf(bin, sizeof bin, "%s/bin", h->dir);
    snprintf(link, sizeof link, "%s/vllm", bin);
    if (mkdir(bin, 0700) || symlink(VP_FAKE_ENGINE, link)) return -1;
    /* The system python3 before any version-manager shim on the inherited PATH: a shim can take
     * seconds to start an interpreter. */
    const char *old = getenv("PATH");
    snprintf(path, sizeof path, "%s:/usr/bin:/bin:%s", bin, old ? old : "");
    setenv("PATH", path, 1);
    snprintf(log, cap, "%s/engines.log", h->dir);
    setenv("FAKE_ENGINE_LOG", log, 1);
    snprintf(load, sizeof load, "%d", load_ms);
    setenv("FAKE_ENGINE_LOAD_MS", load, 1);
    return 0;
#else
    (void)h;
    (void)load_ms;
    (void)log;
    (void)cap;
    return -1;
#endif
}

int h_python_available(void)
{
    if (access("/usr/bin/python3", X_OK) && access("/usr/local/bin/python3", X_OK)) {
        printf("skipped: no python3 for the fake engine\n");
        return 77;
    }
    return 0;
}

int h_engines(const char *log, h_engine *out, int cap)
{
    FILE *fp = fopen(log, "r");
    char line[16384];
    int n = 0;
    while (fp && fgets(line, sizeof line, fp)) {
        cJSON *j = cJSON_Parse(line);
        int pid = (int)h_num(j, "pid");
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "env");
        if (e && n < cap) {
            h_engine *g = &out[n++];
            memset(g, 0, sizeof *g);
            g->pid = pid;
            snprintf(g->id, sizeof g->id, "%s", h_str(e, "VRAMPACK_PLACEMENT"));
            snprintf(g->model, sizeof g->model, "%.*s", (int)strcspn(g->id, "/"), g->id);
            snprintf(g->node, sizeof g->node, "%s", h_str(e, "VRAMPACK_NODE"));
            g->start = h_num(j, "t");
            g->exit = 1e300;
        } else if (cJSON_GetObjectItemCaseSensitive(j, "exit")) {
            for (int i = 0; i < n; i++)
                if (out[i].pid == pid) out[i].exit = h_num(j, "exit");
        }
        cJSON_Delete(j);
    }
    if (fp) fclose(fp);
    return n;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, len = 0;
    char *b = malloc(cap + 1);
    size_t n;
    while (b && (n = fread(b + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            char *nb = realloc(b, cap * 2 + 1);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (b) b[len] = 0;
    return b;
}

/* Waits for a log line containing needle; copies that line into out. */
static bool wait_log(const char *log, const char *needle, int timeout_ms, char *out, size_t cap)
{
    long long end = h_now_ms() + timeout_ms;
    do {
        char *t = slurp(log);
        char *p = t ? strstr(t, needle) : NULL;
        if (p) {
            char *bol = p;
            while (bol > t && bol[-1] != '\n')
                bol--;
            size_t n = strcspn(bol, "\n");
            if (n >= cap) n = cap - 1;
            memcpy(out, bol, n);
            out[n] = 0;
            free(t);
            return true;
        }
        free(t);
        sleep_ms(20);
    } while (h_now_ms() < end);
    return false;
}

static bool field(const char *line, const char *key, char *out, size_t cap)
{
    char k[64];
    snprintf(k, sizeof k, " %s=", key);
    const char *p = strstr(line, k);
    if (!p) return false;
    p += strlen(k);
    size_t n = strcspn(p, " \n");
    if (n >= cap) return false;
    memcpy(out, p, n);
    out[n] = 0;
    return true;
}

int h_start_controller(h_env *h, uint16_t listen_port, const char *const *extra)
{
    char listen[64], hb[16];
    snprintf(listen, sizeof listen, "127.0.0.1:%u", listen_port);
    snprintf(hb, sizeof hb, "%d", h->hb_ms);
    h->ctl_runs++;
    snprintf(h->ctl_log, sizeof h->ctl_log, "%s/controller-%d.log", h->dir, h->ctl_runs);
    char *argv[32];
    int n = 0;
    argv[n++] = h->bin;
    argv[n++] = "controller";
    argv[n++] = "--listen";
    argv[n++] = listen;
    argv[n++] = "--api";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--state";
    argv[n++] = h->state;
    argv[n++] = "--heartbeat-ms";
    argv[n++] = hb;
    argv[n++] = "--solver";
    argv[n++] = "ffd";
    if (h->token[0]) {
        argv[n++] = "--api-token-file";
        argv[n++] = h->token_file;
        argv[n++] = "--agent-token-file";
        argv[n++] = h->agent_token_file;
    }
    for (int i = 0; extra && extra[i] && n < 30; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    h->ctl_pid = spawn(h->ctl_log, argv);
    if (h->ctl_pid < 0) return -1;
    char line[1024], port[64];
    if (!wait_log(h->ctl_log, "msg=listening", 20000, line, sizeof line)) return -1;
    if (!field(line, "agents", h->agents_addr, sizeof h->agents_addr) ||
        !field(line, "api", h->api, sizeof h->api))
        return -1;
    const char *colon = strrchr(h->agents_addr, ':');
    snprintf(port, sizeof port, "%s", colon ? colon + 1 : "0");
    h->agent_port = (uint16_t)atoi(port);
    return 0;
}

static int launch_agent(h_env *h, h_agent *a)
{
    char *argv[24 + 2 * H_MAX_EXTRA];
    int n = 0;
    argv[n++] = h->bin;
    argv[n++] = "agent";
    argv[n++] = "--controller";
    argv[n++] = a->controller[0] ? a->controller : h->agents_addr;
    argv[n++] = "--node";
    argv[n++] = a->name;
    argv[n++] = "--sim";
    argv[n++] = a->sim;
    argv[n++] = "--state-dir";
    argv[n++] = a->state_dir;
    /* Simulated slices: keep the workers' host memory (and start-up time) small. */
    argv[n++] = "--sim-max-slice";
    argv[n++] = "4Mi";
    argv[n++] = "--stop-grace-ms";
    argv[n++] = "2000";
    if (h->token[0]) {
        argv[n++] = "--token-file";
        argv[n++] = h->agent_token_file;
    }
    if (a->ports[0]) {
        argv[n++] = "--ports";
        argv[n++] = a->ports;
    }
    for (int i = 0; i < a->n_extra; i++)
        argv[n++] = a->extra[i];
    argv[n] = NULL;
    a->pid = spawn(a->log, argv);
    return a->pid < 0 ? -1 : 0;
}

int h_start_agent(h_env *h, const char *name, const char *sim)
{
    if (h->n_agents == H_MAX_AGENTS) return -1;
    h_agent *a = &h->agents[h->n_agents];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    snprintf(a->sim, sizeof a->sim, "%s", sim);
    char dir[sizeof h->dir]; /* a copy: gcc cannot tell h->dir from a->log apart */
    memcpy(dir, h->dir, sizeof dir);
    snprintf(a->log, sizeof a->log, "%s/agent-%s.log", dir, name);
    snprintf(a->state_dir, sizeof a->state_dir, "%s/agent-%s", dir, name);
    if (h->agent_controller)
        snprintf(a->controller, sizeof a->controller, "%s", h->agent_controller);
    if (h->ports_base)
        snprintf(a->ports, sizeof a->ports, "%d-%d", h->ports_base + 16 * h->n_agents,
                 h->ports_base + 16 * h->n_agents + 15);
    for (int i = 0; i < H_MAX_EXTRA && h->agent_extra[i]; i++)
        snprintf(a->extra[a->n_extra++], sizeof a->extra[0], "%s", h->agent_extra[i]);
    if (launch_agent(h, a)) return -1;
    return h->n_agents++;
}

int h_restart_agent(h_env *h, int i)
{
    return launch_agent(h, &h->agents[i]);
}

int h_stop(pid_t pid, int sig, int timeout_ms)
{
    if (pid <= 0) return -1;
    kill(pid, sig);
    long long end = h_now_ms() + timeout_ms;
    int st;
    do {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) return st;
        if (r < 0) return -1;
        sleep_ms(10);
    } while (h_now_ms() < end);
    return -1;
}

/* Children of `parent` (from /proc), optionally only those named `comm`. */
static int children(pid_t parent, const char *comm, pid_t *out, int cap)
{
    DIR *d = opendir("/proc");
    if (!d) return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0) continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = 0;
        char *open = strchr(buf, '('), *close = strrchr(buf, ')');
        if (!open || !close) continue;
        char state;
        long ppid;
        if (sscanf(close + 1, " %c %ld", &state, &ppid) != 2 || ppid != parent || state == 'Z')
            continue;
        if (comm && (strlen(comm) != (size_t)(close - open - 1) ||
                     strncmp(open + 1, comm, (size_t)(close - open - 1))))
            continue;
        if (n < cap) out[n] = (pid_t)pid;
        n++;
    }
    closedir(d);
    return n;
}

int h_count_workers(pid_t parent)
{
    pid_t v[256];
    return children(parent, "vrampack-worker", v, 256);
}

int h_count_orphan_workers(void)
{
    return h_count_workers(getpid());
}

void h_teardown(h_env *h)
{
    if (h->ctl_pid > 0) h_stop(h->ctl_pid, SIGKILL, 5000);
    for (int i = 0; i < h->n_agents; i++) {
        if (h->agents[i].pid > 0) {
            kill(-h->agents[i].pid, SIGKILL);
            h_stop(h->agents[i].pid, SIGKILL, 5000);
        }
    }
    /* Workers run in process groups of their own; after their agents died they are ours. */
    for (int round = 0; round < 50; round++) {
        pid_t v[256];
        int n = children(getpid(), NULL, v, 256);
        if (!n) break;
        for (int i = 0; i < n && i < 256; i++)
            kill(v[i], SIGKILL);
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
        sleep_ms(20);
    }
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    if (h->dir[0] && !getenv("VP_KEEP_TEST_DIR")) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", h->dir);
        if (system(cmd)) fprintf(stderr, "could not remove %s\n", h->dir);
    } else if (h->dir[0]) {
        fprintf(stderr, "kept %s\n", h->dir);
    }
}

int h_request(const h_env *h, const char *method, const char *path, const char *token,
              const char *body, size_t len, char **body_out)
{
    cli_http_resp r;
    char err[512];
    if (body_out) *body_out = NULL;
    if (cli_http_request(h->api, method, path, token, body, len, 30000, &r, err, sizeof err))
        return 0;
    if (body_out)
        *body_out = r.body;
    else
        free(r.body);
    return r.status;
}

cJSON *h_get(const h_env *h, const char *path, int *status)
{
    char *body;
    int st = h_request(h, "GET", path, h->token[0] ? h->token : NULL, NULL, 0, &body);
    if (status) *status = st;
    cJSON *j = body ? cJSON_Parse(body) : NULL;
    free(body);
    return j;
}

int h_submit_text(const h_env *h, const char *text, cJSON **answer)
{
    char *body = NULL;
    if (answer) *answer = NULL;
    int st = h_request(h, "POST", "/v1/manifests", h->token[0] ? h->token : NULL, text,
                       strlen(text), &body);
    if (answer && body) *answer = cJSON_Parse(body);
    free(body);
    return st;
}

int h_submit(const h_env *h, const char *manifest_path, cJSON **answer)
{
    char *text = slurp(manifest_path);
    if (answer) *answer = NULL;
    if (!text) return -1;
    int st = h_submit_text(h, text, answer);
    free(text);
    return st;
}

bool h_wait(bool (*pred)(h_env *h, void *ud), h_env *h, void *ud, int timeout_ms)
{
    long long end = h_now_ms() + timeout_ms;
    do {
        if (pred(h, ud)) return true;
        sleep_ms(25);
    } while (h_now_ms() < end);
    return pred(h, ud);
}

const char *h_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

double h_num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

int h_nodes_connected(const h_env *h)
{
    cJSON *j = h_get(h, "/v1/nodes", NULL);
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "nodes")) n +=
        !strcmp(h_str(it, "state"), "ready") &&
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "connected"));
    cJSON_Delete(j);
    return n;
}

bool h_all_running(h_env *h, void *n_expected)
{
    cJSON *j = h_get(h, "/v1/placements", NULL);
    const cJSON *pl = cJSON_GetObjectItemCaseSensitive(j, "placements"), *it;
    int n = 0;
    bool ok = cJSON_IsArray(pl);
    cJSON_ArrayForEach(it, pl)
    {
        n++;
        if (strcmp(h_str(it, "state"), "running")) ok = false;
    }
    cJSON_Delete(j);
    return ok && n == *(int *)n_expected;
}

double h_metric(const h_env *h, const char *series)
{
    char *body;
    int st = h_request(h, "GET", "/metrics", h->token[0] ? h->token : NULL, NULL, 0, &body);
    double v = -1;
    if (st == 200 && body) {
        size_t n = strlen(series);
        for (char *p = body; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
            if (!strncmp(p, series, n) && p[n] == ' ') {
                v = strtod(p + n + 1, NULL);
                break;
            }
        }
    }
    free(body);
    return v;
}

bool h_log_has(const char *path, const char *const *needles)
{
    char *t = slurp(path);
    bool found = false;
    for (char *line = t; line && *line && !found;) {
        char *eol = strchr(line, '\n');
        if (eol) *eol = 0;
        found = true;
        for (size_t i = 0; needles[i] && found; i++)
            found = strstr(line, needles[i]) != NULL;
        line = eol ? eol + 1 : NULL;
    }
    free(t);
    return found;
}

typedef struct fleet_wait {
    int n;
} fleet_wait;

static bool fleet_connected(h_env *h, void *ud)
{
    return h_nodes_connected(h) == ((fleet_wait *)ud)->n;
}

int h_start_fleet(h_env *h, const char *tag, int n_agents, const char *sim)
{
    for (int i = 0; i < n_agents; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s%ld-%c", tag, (long)getpid(), 'a' + i);
        if (h_start_agent(h, name, sim) < 0) return -1;
    }
    fleet_wait w = {n_agents};
    return h_wait(fleet_connected, h, &w, 20000) ? 0 : -1;
}

const cJSON *h_find_id(const cJSON *arr, const char *id)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (!strcmp(h_str(it, "id"), id)) return it;
    }
    return NULL;
}
