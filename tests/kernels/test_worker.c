/* test_worker.c - the vrampack-worker process: with only --slice-bytes it lays a model out and
 * says ready, reports stats, stops on SIGTERM/SIGINT with exit 0; bad flags are one stderr line
 * and exit 2; a CUDA request without a device is an error event and exit 1. Every wait has a
 * timeout, so a hung worker fails the test instead of stalling it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kern.h"

#define WORKER VP_BIN_DIR "/vrampack-worker"
#define TIMEOUT_MS 120000

typedef struct proc {
    pid_t pid;
    int out, err;
    char buf[65536];
    size_t len;
} proc;

static void spawn(proc *p, const char *const *args)
{
    int o[2], e[2];
    assert_int_equal(pipe(o), 0);
    assert_int_equal(pipe(e), 0);
    memset(p, 0, sizeof *p);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        dup2(o[1], 1);
        dup2(e[1], 2);
        close(o[0]);
        close(o[1]);
        close(e[0]);
        close(e[1]);
        execv(WORKER, (char *const *)args);
        _exit(127);
    }
    close(o[1]);
    close(e[1]);
    p->out = o[0];
    p->err = e[0];
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Next stdout line into line (without '\n'); 0 at EOF or timeout. */
static int read_line(proc *p, char *line, size_t cap, int timeout_ms)
{
    double end = now_ms() + timeout_ms;
    for (;;) {
        char *nl = memchr(p->buf, '\n', p->len);
        if (nl) {
            size_t n = (size_t)(nl - p->buf);
            assert_true(n < cap);
            memcpy(line, p->buf, n);
            line[n] = '\0';
            memmove(p->buf, nl + 1, p->len - n - 1);
            p->len -= n + 1;
            return 1;
        }
        int left = (int)(end - now_ms());
        if (left <= 0) return 0;
        struct pollfd pf = {p->out, POLLIN, 0};
        int rc = poll(&pf, 1, left);
        if (rc < 0 && errno == EINTR) continue;
        if (rc <= 0) return 0;
        assert_true(p->len < sizeof p->buf);
        ssize_t r = read(p->out, p->buf + p->len, sizeof p->buf - p->len);
        if (r <= 0) return 0;
        p->len += (size_t)r;
    }
}

/* Waits for the process (killing it past the timeout) and returns its exit status, or -signal. */
static int finish(proc *p, char *err_text, size_t cap)
{
    double end = now_ms() + TIMEOUT_MS;
    int status = 0;
    while (waitpid(p->pid, &status, WNOHANG) == 0) {
        if (now_ms() > end) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            fail_msg("worker did not exit within %d ms", TIMEOUT_MS);
        }
        usleep(10000);
    }
    size_t n = 0;
    ssize_t r;
    fcntl(p->err, F_SETFL, O_NONBLOCK);
    while (n + 1 < cap && (r = read(p->err, err_text + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    err_text[n] = '\0';
    close(p->out);
    close(p->err);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

static uint64_t field_u64(const char *line, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "\"%s\":", name);
    const char *at = strstr(line, key);
    if (!at) fail_msg("no %s in %s", name, line);
    return strtoull(at + strlen(key), NULL, 10);
}

static void only_slice_bytes_gives_a_ready_worker_that_stops_on_sigterm(void **state)
{
    (void)state;
    const char *args[] = {WORKER, "--backend", "cpu", "--slice-bytes", "268435456", NULL};
    proc p;
    char line[4096], err[4096];
    spawn(&p, args);
    assert_int_equal(read_line(&p, line, sizeof line, TIMEOUT_MS), 1);
    assert_non_null(strstr(line, "{\"event\":\"ready\""));
    assert_non_null(strstr(line, "\"backend\":\"cpu\""));
    assert_int_equal(field_u64(line, "slice_bytes"), 268435456);
    /* the CPU backend has no context: the one allocation is the whole budget */
    assert_int_equal(field_u64(line, "alloc_bytes"), 268435456);
    assert_int_equal(field_u64(line, "context_bytes"), 0);
    assert_non_null(strstr(line, "\"context_source\":\"none\""));
    uint64_t used = field_u64(line, "bytes_used"), weights = field_u64(line, "weights_bytes");
    assert_true(used <= 268435456 && used > 268435456 / 10 * 9);
    assert_true(weights > 268435456 / 100 * 45 && weights < used);
    assert_true(field_u64(line, "kv_blocks") >= 1024 / 16);
    assert_int_equal(kill(p.pid, SIGTERM), 0);
    int stopped = 0;
    while (read_line(&p, line, sizeof line, TIMEOUT_MS)) {
        assert_int_equal(stopped, 0); /* nothing after stopped */
        if (strcmp(line, "{\"event\":\"stopped\"}") == 0)
            stopped = 1;
        else
            assert_non_null(strstr(line, "{\"event\":\"stats\""));
    }
    assert_int_equal(stopped, 1);
    assert_int_equal(finish(&p, err, sizeof err), 0);
    assert_string_equal(err, "");
}

static void stats_lines_report_rates_and_sigint_stops_too(void **state)
{
    (void)state;
    const char *args[] = {
        WORKER, "--backend",  "cpu", "--slice-bytes", "8388608", "--dtype",   "int4", "--stats-ms",
        "20",   "--cpu-duty", "50",  "--batch",       "3",       "--context", "64",   NULL};
    proc p;
    char line[4096], err[4096];
    spawn(&p, args);
    assert_int_equal(read_line(&p, line, sizeof line, TIMEOUT_MS), 1);
    assert_non_null(strstr(line, "\"dtype\":\"int4\""));
    assert_non_null(strstr(line, "\"batch\":3"));
    int stats = 0;
    uint64_t last_steps = 0;
    while (stats < 3 && read_line(&p, line, sizeof line, TIMEOUT_MS)) {
        assert_non_null(strstr(line, "{\"event\":\"stats\""));
        assert_non_null(strstr(line, "\"tokens_per_s\":"));
        assert_non_null(strstr(line, "\"gbs\":"));
        uint64_t steps = field_u64(line, "steps");
        assert_true(steps > last_steps);
        last_steps = steps;
        stats++;
    }
    assert_int_equal(stats, 3);
    assert_int_equal(kill(p.pid, SIGINT), 0);
    int stopped = 0;
    while (read_line(&p, line, sizeof line, TIMEOUT_MS))
        stopped = strcmp(line, "{\"event\":\"stopped\"}") == 0;
    assert_int_equal(stopped, 1);
    assert_int_equal(finish(&p, err, sizeof err), 0);
}

/* Runs the worker to completion; returns its exit code, stdout's first line and all of stderr. */
static int run_to_end(const char *const *args, char *out, char *err, size_t cap)
{
    proc p;
    spawn(&p, args);
    if (!read_line(&p, out, cap, TIMEOUT_MS)) out[0] = '\0';
    return finish(&p, err, cap);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void bad_flags_are_one_stderr_line_and_exit_2(void **state)
{
    (void)state;
    const char *cases[][8] = {
        {WORKER, "--backend", "cpu", NULL}, /* no --slice-bytes */
        {WORKER, "--slice-bytes", "12abc", NULL},
        {WORKER, "--slice-bytes", "-5", NULL},
        {WORKER, "--slice-bytes", "1048576", "--bogus", "1", NULL},
        {WORKER, "--slice-bytes", "1048576", "--dtype", "fp8", NULL},
        {WORKER, "--slice-bytes", "1048576", "--backend", "tpu", NULL},
        {WORKER, "--slice-bytes", "1048576", "--batch", NULL}, /* missing value */
        {WORKER, "--slice-bytes=1000000", "--hidden", "8192", "--layers", "80", NULL}, /* too big */
    };
    char out[4096], err[4096];
    for (unsigned i = 0; i < VP_ARRAY_LEN(cases); i++) {
        int rc = run_to_end(cases[i], out, err, sizeof err);
        if (rc != 2 || count_lines(err) != 1 || out[0])
            fail_msg("case %u: exit %d, stdout \"%s\", stderr \"%s\"", i, rc, out, err);
        assert_non_null(strstr(err, "vrampack-worker: "));
    }
}

static void a_cuda_request_without_a_device_is_an_error_event_and_exit_1(void **state)
{
    (void)state;
    if (kern_cuda_device_count(NULL) > 0) skip();
    const char *args[] = {WORKER, "--backend", "cuda", "--slice-bytes", "1048576", NULL};
    char out[4096], err[4096];
    assert_int_equal(run_to_end(args, out, err, sizeof err), 1);
    assert_non_null(strstr(out, "{\"event\":\"error\""));
    assert_int_equal(count_lines(err), 1);
    assert_non_null(
        strstr(err, kern_cuda_built() ? "no usable CUDA device" : "cuda backend not built"));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(only_slice_bytes_gives_a_ready_worker_that_stops_on_sigterm),
        cmocka_unit_test(stats_lines_report_rates_and_sigint_stops_too),
        cmocka_unit_test(bad_flags_are_one_stderr_line_and_exit_2),
        cmocka_unit_test(a_cuda_request_without_a_device_is_an_error_event_and_exit_1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
