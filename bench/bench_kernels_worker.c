/* bench_kernels_worker.c - the kernels benchmark's worker stage: real vrampack-worker processes
 * started as the agent starts them (--slice-bytes, --backend), side by side on one device.
 *
 * Each worker's ready line gives its budget, allocation, measured context and predicted step; its
 * stats lines give tokens/s. On CUDA the memory each process holds is read from nvidia-smi (by
 * pid), else from the worker's own device_bytes (the same NVML count), and must not exceed the
 * budget - the check this stage exists for. On the CPU the check is that the allocation and the
 * layout stay within the budget. Every wait has a deadline; workers are stopped with SIGTERM and
 * killed if they do not stop. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_kernels.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

typedef struct wproc {
    pid_t pid;
    int out;
    char buf[16384];
    size_t len;
    char ready[4096];
    double tokens_per_s, step_ms, gbs;
    uint64_t device_bytes;
    unsigned stats;
} wproc;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int spawn(wproc *w, const char *const *argv)
{
    int fd[2];
    memset(w, 0, sizeof *w);
    if (pipe(fd) != 0) return -errno;
    w->pid = fork();
    if (w->pid < 0) return -errno;
    if (w->pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fd[1]);
    w->out = fd[0];
    return 0;
}

/* The number after "name": in a JSON line; NaN when absent. */
static double field(const char *line, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "\"%s\":", name);
    const char *p = strstr(line, key);
    return p ? strtod(p + strlen(key), NULL) : NAN;
}

/* Reads lines until `stats` stats lines came after ready, or the deadline. */
static void collect(wproc *w, unsigned stats, double deadline)
{
    while (w->stats < stats && now_ms() < deadline) {
        char *nl = memchr(w->buf, '\n', w->len);
        if (nl) {
            *nl = '\0';
            if (strstr(w->buf, "\"event\":\"ready\"")) {
                snprintf(w->ready, sizeof w->ready, "%s", w->buf);
            } else if (strstr(w->buf, "\"event\":\"stats\"")) {
                w->stats++;
                w->tokens_per_s = field(w->buf, "tokens_per_s");
                w->step_ms = field(w->buf, "step_ms");
                w->gbs = field(w->buf, "gbs");
                double d = field(w->buf, "device_bytes");
                if (!isnan(d)) w->device_bytes = (uint64_t)d;
            } else if (strstr(w->buf, "\"event\":\"error\"")) {
                snprintf(w->ready, sizeof w->ready, "%s", w->buf);
                return;
            }
            size_t used = (size_t)(nl - w->buf) + 1;
            memmove(w->buf, nl + 1, w->len - used);
            w->len -= used;
            continue;
        }
        if (w->len == sizeof w->buf) w->len = 0; /* a line too long to matter: drop it */
        struct pollfd p = {w->out, POLLIN, 0};
        int left = (int)(deadline - now_ms());
        if (left <= 0 || poll(&p, 1, left) <= 0) return;
        ssize_t n = read(w->out, w->buf + w->len, sizeof w->buf - w->len);
        if (n <= 0) return;
        w->len += (size_t)n;
    }
}

static void stop(wproc *w)
{
    if (w->pid <= 0) return;
    kill(w->pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid(w->pid, NULL, WNOHANG) == w->pid) {
            w->pid = 0;
            break;
        }
        usleep(100000);
    }
    if (w->pid > 0) {
        kill(w->pid, SIGKILL);
        waitpid(w->pid, NULL, 0);
    }
    close(w->out);
}

/* MiB nvidia-smi reports for pid; NaN when it cannot say. */
static double smi_mib(pid_t pid)
{
    FILE *f = popen("nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,"
                    "nounits 2>/dev/null",
                    "r");
    if (!f) return NAN;
    char line[256];
    double mib = NAN;
    while (fgets(line, sizeof line, f)) {
        long p = strtol(line, NULL, 10);
        const char *comma = strchr(line, ',');
        if (p == (long)pid && comma) mib = strtod(comma + 1, NULL);
    }
    pclose(f);
    return mib;
}

typedef struct wcase {
    const char *dtype;
    uint64_t slice;
    unsigned batch;
} wcase;

static void report(bk_cfg *c, const wcase *wc, wproc *w, double smi)
{
    bk_row r = bk_row_new('R', "worker", "");
    snprintf(r.name, sizeof r.name, "%s b%u, --slice-bytes %.0f MiB", wc->dtype, wc->batch,
             (double)wc->slice / MiB);
    if (!w->ready[0] || strstr(w->ready, "\"event\":\"error\"")) {
        r.check = 0;
        snprintf(r.note, sizeof r.note, "no ready line: %.140s", w->ready[0] ? w->ready : "-");
        bk_emit(c->rec, &r);
        return;
    }
    const double alloc = field(w->ready, "alloc_bytes"), ctx = field(w->ready, "context_bytes");
    const double used = field(w->ready, "bytes_used"), pred = field(w->ready, "predicted_step_ms");
    r.ms = w->step_ms;
    r.gbs = w->gbs;
    r.pct = c->copy_gbs > 0 ? 100.0 * r.gbs / c->copy_gbs : NAN;
    const double held = !isnan(smi) ? smi * MiB : w->device_bytes ? (double)w->device_bytes : NAN;
    if (c->gpu) {
        /* the whole process, context included, within the budget */
        r.check = isnan(held) ? -1 : held <= (double)wc->slice;
        snprintf(r.note, sizeof r.note,
                 "%.0f tok/s (predicted %.0f); holds %s%.0f MiB of %.0f (%s); context %.0f MiB "
                 "(%s)",
                 w->tokens_per_s, pred > 0 ? wc->batch * 1e3 / pred : NAN,
                 !isnan(smi) ? "" : "~", held / MiB, (double)wc->slice / MiB,
                 !isnan(smi) ? "nvidia-smi" : isnan(held) ? "unmeasured" : "NVML", ctx / MiB,
                 strstr(w->ready, "\"context_source\":\"process\"") ? "process"
                 : strstr(w->ready, "\"context_source\":\"device\"") ? "device"
                                                                     : "assumed");
    } else {
        r.check = alloc <= (double)wc->slice && used <= alloc && w->stats > 0;
        snprintf(r.note, sizeof r.note, "%.1f tok/s (predicted %.1f); allocation %.0f MiB of %.0f",
                 w->tokens_per_s, pred > 0 ? wc->batch * 1e3 / pred : NAN, alloc / MiB,
                 (double)wc->slice / MiB);
    }
    if (w->stats == 0) r.check = 0;
    bk_emit(c->rec, &r);
}

int bk_stage_worker(bk_cfg *c)
{
    static const wcase gpu_cases[] = {{"fp16", 8 * GiB, 1}, {"int4", 12 * GiB, 8}};
    static const wcase cpu_cases[] = {{"fp16", 64 * MiB, 1}};
    const wcase *cases = c->gpu ? gpu_cases : cpu_cases;
    const unsigned n = c->gpu ? 2 : 1;
    wproc w[2];
    for (unsigned i = 0; i < n; i++) {
        char bytes[32], batch[16];
        snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)cases[i].slice);
        snprintf(batch, sizeof batch, "%u", cases[i].batch);
        const char *argv[] = {c->worker,      "--slice-bytes", bytes,     "--backend",
                              c->gpu ? "cuda" : "cpu", "--dtype", cases[i].dtype, "--batch",
                              batch,          "--stats-ms",    c->gpu ? "500" : "200",
                              "--cpu-duty",   "50",            NULL};
        if (spawn(&w[i], argv) != 0) {
            bk_row r = bk_row_new('E', "worker", "spawn");
            snprintf(r.note, sizeof r.note, "cannot start %s", c->worker);
            r.check = 0;
            bk_emit(c->rec, &r);
            return 1;
        }
    }
    /* all side by side: ready, then a few stats lines each */
    const double deadline = now_ms() + (c->gpu ? 180e3 : 60e3);
    for (unsigned i = 0; i < n; i++)
        collect(&w[i], 3, deadline);
    double smi[2] = {NAN, NAN};
    if (c->gpu)
        for (unsigned i = 0; i < n; i++)
            smi[i] = smi_mib(w[i].pid);
    for (unsigned i = 0; i < n; i++)
        stop(&w[i]);
    for (unsigned i = 0; i < n; i++)
        report(c, &cases[i], &w[i], smi[i]);
    return 0;
}
