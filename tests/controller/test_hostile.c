/* test_hostile.c - garbage, truncated and oversize frames, frames out of order and wrong tokens
 * on the agents' port, and unauthenticated, malformed and oversize requests on the API: each is
 * refused (an error frame and a closed connection, or an HTTP error), and the controller keeps
 * serving its real agent and its API throughout. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* after setjmp.h, stdarg.h, stddef.h and stdint.h, which cmocka.h needs */
#include <cmocka.h>

#include "harness.h"
#include "proto.h"

#define HB_MS 200

static h_env env;
static double registered_ms; /* of the real agent: it must never have to reconnect */

static bool one_node(h_env *h, void *ud)
{
    (void)ud;
    return h_nodes_connected(h) == 1;
}

static int setup(void **state)
{
    (void)state;
    char name[64];
    snprintf(name, sizeof name, "hostile%ld", (long)getpid());
    if (h_setup(&env, "hostile", HB_MS, true) || h_start_controller(&env, 0, NULL)) return -1;
    if (h_start_agent(&env, name, "TGPU:1:1Gi") < 0) return -1;
    if (!h_wait(one_node, &env, NULL, 20000)) return -1;
    cJSON *nodes = h_get(&env, "/v1/nodes", NULL);
    registered_ms = h_num(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(nodes, "nodes"), 0),
                          "registered_ms");
    cJSON_Delete(nodes);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_teardown(&env);
    return 0;
}

static int raw_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(env.agent_port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void send_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return; /* the controller may close early: that is the point */
        p += w;
        n -= (size_t)w;
    }
}

/* Reads until the controller closes the connection (or timeout); returns the error frame's
 * code in `code` ("" when none came) and whether the connection was closed. */
static bool read_until_closed(int fd, int timeout_ms, char *code, size_t cap)
{
    proto_reader rd = {0};
    long long end = h_now_ms() + timeout_ms;
    bool closed = false;
    code[0] = 0;
    while (h_now_ms() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) continue;
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) {
            closed = true;
            break;
        }
        proto_reader_feed(&rd, buf, (size_t)n);
        proto_msg m;
        vp_err e = {0};
        if (proto_reader_next(&rd, &m, &e) == 0) {
            if (m.type == PROTO_ERROR) snprintf(code, cap, "%s", m.u.error.code);
            proto_msg_free(&m);
        }
    }
    proto_reader_free(&rd);
    close(fd);
    return closed;
}

static void expect_refused(const void *bytes, size_t n, const char *want_code)
{
    int fd = raw_connect();
    send_all(fd, bytes, n);
    char code[64];
    assert_true(read_until_closed(fd, 5000, code, sizeof code));
    assert_string_equal(code, want_code);
}

static void frame(const proto_msg *m, uint8_t **out, size_t *len)
{
    vp_err e = {0};
    assert_int_equal(proto_msg_encode_alloc(m, out, len, &e), 0);
}

static void test_garbage_bytes_get_an_error_frame_and_a_closed_connection(void **state)
{
    (void)state;
    const char junk[] = "GET / HTTP/1.1\r\nHost: vrampack\r\n\r\n";
    expect_refused(junk, sizeof junk - 1, PROTO_CODE_PROTOCOL);
}

static void test_an_oversize_frame_is_refused_from_its_header(void **state)
{
    (void)state;
    const uint8_t hdr[] = {0x00, 0x20, 0x00, 0x01, '{'}; /* 2 MiB + 1 announced */
    expect_refused(hdr, sizeof hdr, PROTO_CODE_PROTOCOL);
}

static void test_a_frame_that_is_not_json_is_refused(void **state)
{
    (void)state;
    const uint8_t f[] = {0, 0, 0, 9, '{', 'n', 'o', 't', ' ', 'j', 's', 'o', 'n'};
    expect_refused(f, sizeof f, PROTO_CODE_PROTOCOL);
}

static void test_a_zero_length_frame_is_refused(void **state)
{
    (void)state;
    const uint8_t f[] = {0, 0, 0, 0};
    expect_refused(f, sizeof f, PROTO_CODE_PROTOCOL);
}

static void test_a_frame_before_hello_is_refused(void **state)
{
    (void)state;
    proto_msg m;
    proto_msg_init(&m, PROTO_HEARTBEAT);
    snprintf(m.u.heartbeat.node, sizeof m.u.heartbeat.node, "intruder");
    uint8_t *f;
    size_t len;
    frame(&m, &f, &len);
    expect_refused(f, len, PROTO_CODE_PROTOCOL);
    free(f);
}

static void hello_with_token(const char *token)
{
    proto_msg m;
    proto_msg_init(&m, PROTO_HELLO);
    snprintf(m.u.hello.node, sizeof m.u.hello.node, "intruder");
    snprintf(m.u.hello.token, sizeof m.u.hello.token, "%s", token);
    m.u.hello.n_gpus = 1;
    m.u.hello.gpus[0].index = 0;
    snprintf(m.u.hello.gpus[0].model, sizeof m.u.hello.gpus[0].model, "TGPU");
    m.u.hello.gpus[0].total_bytes = 1u << 30;
    uint8_t *f;
    size_t len;
    frame(&m, &f, &len);
    expect_refused(f, len, PROTO_CODE_AUTH);
    free(f);
}

static void test_a_hello_with_a_wrong_or_missing_token_is_refused(void **state)
{
    (void)state;
    char almost[128];
    snprintf(almost, sizeof almost, "%s", env.agent_token);
    almost[strlen(almost) - 1] ^= 1; /* differs in the last byte only */
    hello_with_token(almost);
    hello_with_token("");
    hello_with_token(env.token); /* the admin token is not an agent's */
    /* The intruder never became a node. */
    cJSON *nodes = h_get(&env, "/v1/nodes", NULL);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(nodes, "nodes")), 1);
    cJSON_Delete(nodes);
    assert_true(h_metric(&env, "vrampack_auth_failures_total{port=\"agents\"}") >= 3);
    /* and an agent's token is not the admin's */
    assert_int_equal(h_request(&env, "GET", "/v1/plan", env.agent_token, NULL, 0, NULL), 401);
    assert_int_equal(h_request(&env, "POST", "/v1/manifests", env.agent_token, "{}", 2, NULL),
                     401);
}

static bool heartbeats_flow(h_env *h, void *ud)
{
    return h_metric(h, "vrampack_heartbeats_total") >= *(double *)ud + 3;
}

static void test_a_truncated_frame_holds_up_nobody_else(void **state)
{
    (void)state;
    int fd = raw_connect();
    const uint8_t part[] = {0, 0, 0, 100, '{', '"', 't', 'y', 'p', 'e', '"'};
    send_all(fd, part, sizeof part);
    /* While that connection waits for the rest, the real agent's heartbeats keep arriving. */
    double hb = h_metric(&env, "vrampack_heartbeats_total");
    assert_true(h_wait(heartbeats_flow, &env, &hb, 20 * HB_MS));
    int st;
    cJSON *j = h_get(&env, "/healthz", &st);
    assert_int_equal(st, 200);
    cJSON_Delete(j);
    close(fd);
}

static void test_a_connection_that_never_says_hello_is_closed(void **state)
{
    (void)state;
    int fd = raw_connect();
    char code[64];
    assert_true(read_until_closed(fd, 15000, code, sizeof code));
    assert_string_equal(code, PROTO_CODE_PROTOCOL);
}

static void test_many_bad_connections_at_once_are_all_refused(void **state)
{
    (void)state;
    enum { N = 64 };
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = raw_connect();
    for (int i = 0; i < N; i++)
        send_all(fds[i], "\xff\xff\xff\xff", 4);
    for (int i = 0; i < N; i++) {
        char code[64];
        assert_true(read_until_closed(fds[i], 5000, code, sizeof code));
    }
}

static void test_api_requests_without_the_right_token_get_401(void **state)
{
    (void)state;
    assert_int_equal(h_request(&env, "GET", "/v1/nodes", NULL, NULL, 0, NULL), 401);
    assert_int_equal(h_request(&env, "GET", "/v1/plan", "not-the-token", NULL, 0, NULL), 401);
    const char m[] = "{\"models\":[]}";
    assert_int_equal(h_request(&env, "POST", "/v1/manifests", "x", m, sizeof m - 1, NULL), 401);
    assert_true(h_metric(&env, "vrampack_auth_failures_total{port=\"api\"}") >= 3);
}

static void test_a_bad_manifest_gets_400_with_a_message_naming_the_field(void **state)
{
    (void)state;
    char *body = NULL;
    const char bad[] = "{\"models\":[{\"name\":\"x\",\"memory_bytes\":-5}]}";
    assert_int_equal(
        h_request(&env, "POST", "/v1/manifests", env.token, bad, sizeof bad - 1, &body), 400);
    assert_non_null(body);
    assert_non_null(strstr(body, "memory_bytes"));
    free(body);
    const char broken[] = "{\"models\": [";
    assert_int_equal(
        h_request(&env, "POST", "/v1/manifests", env.token, broken, sizeof broken - 1, &body), 400);
    assert_non_null(strstr(body, "\"error\""));
    free(body);
    /* Nothing was accepted. */
    assert_int_equal((int)h_metric(&env, "vrampack_submits_total"), 0);
}

static void test_an_oversize_body_gets_413(void **state)
{
    (void)state;
    size_t n = (16u << 20) + 1024;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    assert_int_equal(h_request(&env, "POST", "/v1/manifests", env.token, big, n, NULL), 413);
    free(big);
}

static void test_unknown_paths_get_404_and_wrong_methods_405(void **state)
{
    (void)state;
    assert_int_equal(h_request(&env, "GET", "/v1/nothing", env.token, NULL, 0, NULL), 404);
    assert_int_equal(h_request(&env, "DELETE", "/v1/plan", env.token, NULL, 0, NULL), 405);
    assert_int_equal(h_request(&env, "GET", "/v1/manifests", env.token, NULL, 0, NULL), 405);
}

static void test_garbage_on_the_api_port_does_not_stop_it(void **state)
{
    (void)state;
    const char *colon = strrchr(env.api, ':');
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(colon + 1))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    send_all(fd, "\x16\x03\x01\x02\x00garbage\r\n\r\n", 16);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    poll(&p, 1, 5000);
    close(fd);
    int st;
    cJSON *j = h_get(&env, "/healthz", &st);
    assert_int_equal(st, 200);
    assert_string_equal(h_str(j, "status"), "ok");
    cJSON_Delete(j);
}

static void test_the_real_agent_was_served_throughout(void **state)
{
    (void)state;
    cJSON *nodes = h_get(&env, "/v1/nodes", NULL);
    const cJSON *n = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(nodes, "nodes"), 0);
    assert_string_equal(h_str(n, "name"), env.agents[0].name);
    assert_string_equal(h_str(n, "state"), "ready");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(n, "connected")));
    assert_true(h_num(n, "registered_ms") == registered_ms);
    cJSON_Delete(nodes);
    /* One session for the agent; every other one was refused. */
    double sessions = h_metric(&env, "vrampack_agent_sessions_total");
    double rejected = h_metric(&env, "vrampack_frames_rejected_total");
    assert_true(sessions >= 70);
    assert_true(rejected == sessions - 2); /* the agent, and the truncated frame we closed */
    assert_int_equal((int)h_metric(&env, "vrampack_agents_connected"), 1);
}

int main(void)
{
    int skip = h_available();
    if (skip) return skip;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_garbage_bytes_get_an_error_frame_and_a_closed_connection),
        cmocka_unit_test(test_an_oversize_frame_is_refused_from_its_header),
        cmocka_unit_test(test_a_frame_that_is_not_json_is_refused),
        cmocka_unit_test(test_a_zero_length_frame_is_refused),
        cmocka_unit_test(test_a_frame_before_hello_is_refused),
        cmocka_unit_test(test_a_hello_with_a_wrong_or_missing_token_is_refused),
        cmocka_unit_test(test_a_truncated_frame_holds_up_nobody_else),
        cmocka_unit_test(test_a_connection_that_never_says_hello_is_closed),
        cmocka_unit_test(test_many_bad_connections_at_once_are_all_refused),
        cmocka_unit_test(test_api_requests_without_the_right_token_get_401),
        cmocka_unit_test(test_a_bad_manifest_gets_400_with_a_message_naming_the_field),
        cmocka_unit_test(test_an_oversize_body_gets_413),
        cmocka_unit_test(test_unknown_paths_get_404_and_wrong_methods_405),
        cmocka_unit_test(test_garbage_on_the_api_port_does_not_stop_it),
        cmocka_unit_test(test_the_real_agent_was_served_throughout),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
