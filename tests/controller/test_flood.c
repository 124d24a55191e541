/* test_flood.c - the controller's two ports under hostile load, each a defect that once denied
 * service:
 *  - 2,000 idle connections and 300 slowloris connections (a request line at one byte per
 *    second) on the API: `status` still answers within 2 s;
 *  - 1,000 unauthenticated connections with partial frames on the agents' port: the
 *    controller's RSS grows by less than 64 MiB, frames over 4 KiB before a hello are refused,
 *    and refusals are logged as warnings at most once a minute per address;
 *  - a 16 MiB body (declared, or sent chunked): 413, bounded memory, the API still answers;
 *  - a JSON string with \u0000 or a raw NUL byte: 400, nothing stored;
 *  - hf_config naming /proc/kmsg: refused at once without opening anything, and SIGTERM still
 *    stops the controller.
 * Attackers connect from other loopback addresses (127.0.1.x, 127.0.2.x) than the operator
 * (127.0.0.1), as they would from other hosts. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* after setjmp.h, stdarg.h, stddef.h and stdint.h, which cmocka.h needs */
#include <cmocka.h>

#include "harness.h"
#include "http_client.h"

#define HB_MS 300
#define N_IDLE 2000
#define N_SLOW 300
#define N_UNAUTH 1000

static h_env env;
static uint16_t api_port;

static int setup(void **state)
{
    (void)state;
    if (h_setup(&env, "flood", HB_MS, false) || h_start_controller(&env, 0, NULL)) return -1;
    if (h_start_fleet(&env, "flood", 1, "TGPU:2:2Gi")) return -1;
    api_port = (uint16_t)atoi(strrchr(env.api, ':') + 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_teardown(&env);
    return 0;
}

/* A non-blocking TCP connection from source address src to 127.0.0.1:port; -1 on failure. */
static int connect_from(const char *src, uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in me = {.sin_family = AF_INET}, to = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &me.sin_addr);
    to.sin_port = htons(port);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    if (bind(fd, (struct sockaddr *)&me, sizeof me) ||
        connect(fd, (struct sockaddr *)&to, sizeof to)) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kib = atol(line + 6);
    if (f) fclose(f);
    return kib;
}

/* One `status` round: GET /v1/nodes and /v1/placements; returns the time taken in ms. */
static long long status_ms(void)
{
    long long t0 = h_now_ms();
    int st1, st2;
    cJSON *a = h_get(&env, "/v1/nodes", &st1);
    cJSON *b = h_get(&env, "/v1/placements", &st2);
    cJSON_Delete(a);
    cJSON_Delete(b);
    if (st1 != 200 || st2 != 200) return 1000000;
    return h_now_ms() - t0;
}

static void test_status_answers_within_2_s_beside_idle_and_slowloris_connections(void **state)
{
    (void)state;
    static int idle[N_IDLE], slow[N_SLOW];
    int n_idle = 0, n_slow = 0;
    char src[32];
    for (int i = 0; i < N_IDLE; i++) {
        snprintf(src, sizeof src, "127.0.1.%d", 1 + i / 50); /* 50 per address */
        if ((idle[n_idle] = connect_from(src, api_port)) >= 0) n_idle++;
    }
    for (int i = 0; i < N_SLOW; i++) {
        snprintf(src, sizeof src, "127.0.3.%d", 1 + i / 30);
        if ((slow[n_slow] = connect_from(src, api_port)) >= 0) n_slow++;
    }
    assert_int_equal(n_idle, N_IDLE);
    assert_int_equal(n_slow, N_SLOW);
    static const char line[] = "GET /v1/nodes HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    long long worst = 0;
    for (int sec = 0; sec < 6; sec++) {
        for (int i = 0; i < n_slow; i++)
            if (send(slow[i], &line[sec % (sizeof line - 1)], 1, MSG_NOSIGNAL) < 0) {
            }
        long long ms = status_ms();
        if (ms > worst) worst = ms;
        usleep(1000000 - (ms < 1000 ? (useconds_t)ms * 1000 : 0));
    }
    printf("status took at most %lld ms beside %d idle and %d slowloris connections\n", worst,
           n_idle, n_slow);
    assert_in_range(worst, 0, 2000);
    /* One address may not hold more than its share: the 65th connection gets nowhere. */
    int extra[80], accepted = 0;
    for (int i = 0; i < 80; i++)
        extra[i] = connect_from("127.0.4.1", api_port);
    usleep(300000);
    for (int i = 0; i < 80; i++) {
        if (extra[i] < 0) continue;
        char b;
        ssize_t r = recv(extra[i], &b, 1, MSG_DONTWAIT);
        accepted += !(r == 0 || (r < 0 && errno != EAGAIN)); /* closed by the server: refused */
        close(extra[i]);
    }
    printf("one address: %d of 80 connections kept\n", accepted);
    assert_in_range(accepted, 1, 64);
    for (int i = 0; i < n_idle; i++)
        close(idle[i]);
    for (int i = 0; i < n_slow; i++)
        close(slow[i]);
    assert_in_range(status_ms(), 0, 2000);
}

static void test_a_thousand_unauthenticated_partial_frames_cost_little_memory(void **state)
{
    (void)state;
    long before = rss_kib(env.ctl_pid);
    static int fds[N_UNAUTH];
    int n = 0;
    /* Frames that never complete: half announce 3,000 bytes and send 1,500 of them, half
     * announce 1 MiB (the frame limit after a hello) and send 192 KiB of it. */
    static char partial[4 + 196608];
    memset(partial + 4, 'x', sizeof partial - 4);
    char src[32];
    for (int i = 0; i < N_UNAUTH; i++) {
        snprintf(src, sizeof src, "127.0.2.%d", 1 + i / 32); /* 32 per address: all kept */
        int fd = connect_from(src, env.agent_port);
        if (fd < 0) continue;
        fds[n++] = fd;
        bool big = i % 2;
        uint32_t announce = big ? 1048576 : 3000;
        partial[0] = (char)(announce >> 24), partial[1] = (char)(announce >> 16);
        partial[2] = (char)(announce >> 8), partial[3] = (char)announce;
        for (size_t off = 0, len = big ? sizeof partial : 4 + 1500; off < len;) {
            ssize_t w = send(fd, partial + off, len - off, MSG_NOSIGNAL);
            if (w <= 0) break; /* refused and closed, or the socket buffer is full */
            off += (size_t)w;
        }
    }
    usleep(500000);
    long after = rss_kib(env.ctl_pid);
    printf("%d unauthenticated partial frames: controller RSS %ld -> %ld KiB (+%ld KiB)\n", n,
           before, after, after - before);
    assert_int_equal(n, N_UNAUTH);
    assert_true(after - before < 64 * 1024);
    /* Over 4 KiB before a hello: an error frame and a closed connection. */
    int fd = connect_from("127.0.2.200", env.agent_port);
    unsigned char big[4] = {0, 0, 0x20, 0x00}; /* 8,192 bytes announced */
    assert_int_equal(send(fd, big, 4, MSG_NOSIGNAL), 4);
    char buf[1024];
    ssize_t got = 0;
    for (int i = 0; i < 100 && got <= 0; i++) {
        got = recv(fd, buf, sizeof buf - 1, 0);
        if (got < 0 && errno == EAGAIN) usleep(20000);
    }
    assert_true(got > 4);
    buf[got] = 0;
    assert_non_null(strstr(buf + 4, "over 4096 bytes before a hello"));
    close(fd);
    for (int i = 0; i < n; i++)
        close(fds[i]);
    /* The agents kept working throughout. */
    assert_int_equal(h_nodes_connected(&env), 1);
}

static void test_refusals_are_warned_about_once_a_minute_per_address(void **state)
{
    (void)state;
    /* 40 bad frames from one address: one warning, the rest at debug level. */
    for (int i = 0; i < 40; i++) {
        int fd = connect_from("127.0.5.1", env.agent_port);
        if (fd < 0) continue;
        if (send(fd, "GET / HTTP/1.0\r\n\r\n", 18, MSG_NOSIGNAL) < 0) {
        }
        usleep(5000);
        close(fd);
    }
    usleep(300000);
    FILE *f = fopen(env.ctl_log, "r");
    char line[2048];
    int warns = 0;
    while (f && fgets(line, sizeof line, f))
        warns += strstr(line, "level=warn") && strstr(line, "msg=agent_refused") &&
                 strstr(line, "peer=127.0.5.1:");
    if (f) fclose(f);
    assert_int_equal(warns, 1);
}

/* Sends raw bytes to the API and returns the status of the answer (0: none). */
static int raw_api(const char *head, const char *body, size_t body_len, size_t repeat)
{
    int fd = connect_from("127.0.0.1", api_port);
    if (fd < 0) return 0;
    fcntl(fd, F_SETFL, 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (send(fd, head, strlen(head), MSG_NOSIGNAL) < 0) {
    }
    for (size_t i = 0; body && i < repeat; i++)
        if (send(fd, body, body_len, MSG_NOSIGNAL) <= 0) break;
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    close(fd);
    if (n < 12) return 0;
    buf[n] = 0;
    return atoi(buf + 9);
}

static void test_a_16_mib_body_is_refused_with_bounded_memory(void **state)
{
    (void)state;
    long before = rss_kib(env.ctl_pid);
    long long t0 = h_now_ms();
    /* Declared: refused from its header, before the body is read. */
    int st = raw_api("POST /v1/manifests HTTP/1.1\r\nHost: x\r\nContent-Length: 16777216\r\n\r\n",
                     NULL, 0, 0);
    assert_int_equal(st, 413);
    /* Chunked: read up to the limit and no further. */
    static char chunk[65536 + 16];
    int hl = snprintf(chunk, sizeof chunk, "10000\r\n");
    memset(chunk + hl, ' ', 65536);
    memcpy(chunk + hl + 65536, "\r\n", 2);
    st = raw_api("POST /v1/manifests HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
                 chunk, (size_t)hl + 65536 + 2, 256); /* 16 MiB */
    long long took = h_now_ms() - t0;
    long after = rss_kib(env.ctl_pid);
    printf("16 MiB bodies: HTTP %d in %lld ms, controller RSS %ld -> %ld KiB\n", st, took, before,
           after);
    assert_int_equal(st, 0); /* past the limit the connection is closed, mid-body */
    assert_in_range(took, 0, 5000);
    assert_true(after - before < 32 * 1024);
    assert_in_range(status_ms(), 0, 2000);
}

static void test_nul_bytes_and_proc_paths_are_refused_without_touching_the_host(void **state)
{
    (void)state;
    cJSON *ans = NULL;
    const char nul_escape[] = "{\"models\":[{\"name\":\"a\\u0000b\",\"memory_bytes\":1048576}]}";
    assert_int_equal(h_submit_text(&env, nul_escape, &ans), 400);
    assert_non_null(strstr(h_str(ans, "error"), "\\u0000"));
    cJSON_Delete(ans);
    /* a raw NUL inside a string: the body is taken as bytes, not as a C string */
    const char raw[] = "{\"models\":[{\"name\":\"a\0b\",\"memory_bytes\":1048576}]}";
    char *out = NULL;
    int st = h_request(&env, "POST", "/v1/manifests", NULL, raw, sizeof raw - 1, &out);
    assert_int_equal(st, 400);
    free(out);
    long long t0 = h_now_ms();
    const char kmsg[] = "{\"models\":[{\"name\":\"x\",\"hf_config\":\"/proc/kmsg\"}]}";
    assert_int_equal(h_submit_text(&env, kmsg, &ans), 400);
    assert_in_range(h_now_ms() - t0, 0, 1000);
    const char *err = h_str(ans, "error");
    assert_non_null(strstr(err, "hf_config"));
    assert_null(strstr(err, "No such file")); /* nothing was opened */
    cJSON_Delete(ans);
    assert_int_equal((int)h_metric(&env, "vrampack_submits_total"), 0);
    /* and the controller still stops on SIGTERM */
    int ws = h_stop(env.ctl_pid, SIGTERM, 10000);
    assert_true(ws >= 0 && WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    env.ctl_pid = 0;
}

int main(void)
{
    if (h_available()) return 77;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 4096) {
        printf("skipped: %lu file descriptors allowed, the floods need 4096\n",
               (unsigned long)rl.rlim_max);
        return 77;
    }
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    signal(SIGPIPE, SIG_IGN);
    alarm(150);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_answers_within_2_s_beside_idle_and_slowloris_connections),
        cmocka_unit_test(test_a_thousand_unauthenticated_partial_frames_cost_little_memory),
        cmocka_unit_test(test_refusals_are_warned_about_once_a_minute_per_address),
        cmocka_unit_test(test_a_16_mib_body_is_refused_with_bounded_memory),
        cmocka_unit_test(test_nul_bytes_and_proc_paths_are_refused_without_touching_the_host),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
