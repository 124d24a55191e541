/* test_msg.c - protocol messages: every type round-trips through encode + frame + decode, and
 * every kind of bad frame is refused with a message naming the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"

/* Encodes m as a frame, decodes the frame back into out and checks the frame was consumed. */
static void round_trip(const proto_msg *m, proto_msg *out)
{
    vp_sb sb = {0};
    vp_err e = {0};
    int rc = proto_msg_encode(m, &sb, &e);
    if (rc) fail_msg("encode: %s", e.msg);
    size_t used = 0, plen = 0;
    const uint8_t *payload = NULL;
    assert_int_equal(proto_frame_decode((const uint8_t *)sb.buf, sb.len, &used, &payload, &plen),
                     0);
    assert_int_equal(used, sb.len);
    rc = proto_msg_decode(payload, plen, out, &e);
    if (rc) fail_msg("decode: %s (%s)", e.msg, sb.buf + 4);
    assert_int_equal(out->type, m->type);
    vp_sb_free(&sb);
}

/* Decodes JSON text; returns the code and leaves the error in *e. */
static int decode_text(const char *json, proto_msg *out, vp_err *e)
{
    return proto_msg_decode((const uint8_t *)json, strlen(json), out, e);
}

static void expect_refused(const char *json, const char *field)
{
    proto_msg m;
    vp_err e = {0};
    int rc = decode_text(json, &m, &e);
    if (rc != VP_EPROTO) fail_msg("expected VP_EPROTO (%d) for %s, got %d", VP_EPROTO, json, rc);
    if (!strstr(e.msg, field)) fail_msg("error \"%s\" does not name \"%s\"", e.msg, field);
    assert_int_equal(m.type, 0); /* left zeroed */
    proto_msg_free(&m);
}

static void a_hello_round_trips_with_its_gpus_and_token(void **state)
{
    (void)state;
    proto_msg m, d;
    proto_msg_init(&m, PROTO_HELLO);
    strcpy(m.u.hello.node, "node-a");
    strcpy(m.u.hello.version, "0.1.0");
    strcpy(m.u.hello.token, "tok\"with\\quotes\n");
    m.u.hello.n_gpus = 2;
    m.u.hello.gpus[0] = (proto_gpu){.index = 0, .total_bytes = 85899345920ULL};
    strcpy(m.u.hello.gpus[0].model, "H100-80GB");
    strcpy(m.u.hello.gpus[0].uuid, "GPU-0000");
    m.u.hello.gpus[1] = (proto_gpu){.index = 7, .total_bytes = 9007199254740992ULL};
    strcpy(m.u.hello.gpus[1].model, "L4");
    round_trip(&m, &d);
    assert_string_equal(d.u.hello.node, "node-a");
    assert_string_equal(d.u.hello.version, "0.1.0");
    assert_string_equal(d.u.hello.token, "tok\"with\\quotes\n");
    assert_int_equal(d.u.hello.n_gpus, 2);
    assert_int_equal(d.u.hello.gpus[0].total_bytes, 85899345920ULL);
    assert_string_equal(d.u.hello.gpus[0].uuid, "GPU-0000");
    assert_int_equal(d.u.hello.gpus[1].index, 7);
    assert_int_equal(d.u.hello.gpus[1].total_bytes, 9007199254740992ULL);
    assert_string_equal(d.u.hello.gpus[1].model, "L4");
    assert_string_equal(d.u.hello.gpus[1].uuid, "");
    proto_msg_free(&d);
}

static void a_report_round_trips_every_state(void **state)
{
    (void)state;
    proto_msg m, d;
    proto_msg_init(&m, PROTO_REPORT);
    strcpy(m.u.report.node, "n");
    for (int i = 0; i < 4; i++) {
        proto_placement p = {0};
        snprintf(p.id, sizeof p.id, "m%d/0", i);
        strcpy(p.model, "m");
        p.state = (proto_state)i;
        p.pid = 100 + i;
        p.bytes_used = 1ULL << (30 + i);
        p.n_gpus = i + 1;
        for (int g = 0; g <= i; g++)
            p.gpus[g] = (uint8_t)(15 - g);
        if (i == 2) strcpy(p.error, "worker exited with status 3: \"oom\"");
        if (i == 1) {
            strcpy(p.rev, "0123456789abcdef");
            p.port = 20000;
            p.failures = 3;
        }
        assert_int_equal(proto_report_add(&m.u.report, &p), 0);
    }
    round_trip(&m, &d);
    assert_int_equal(d.u.report.n_placements, 4);
    for (int i = 0; i < 4; i++) {
        const proto_placement *a = &m.u.report.placements[i], *b = &d.u.report.placements[i];
        assert_string_equal(a->id, b->id);
        assert_int_equal(a->state, b->state);
        assert_int_equal(a->pid, b->pid);
        assert_int_equal(a->bytes_used, b->bytes_used);
        assert_int_equal(a->n_gpus, b->n_gpus);
        assert_memory_equal(a->gpus, b->gpus, (size_t)a->n_gpus);
        assert_string_equal(a->error, b->error);
        assert_string_equal(a->rev, b->rev);
        assert_int_equal(a->port, b->port);
        assert_int_equal(a->failures, b->failures);
    }
    proto_msg_free(&m);
    proto_msg_free(&d);
}

static void an_empty_report_round_trips(void **state)
{
    (void)state;
    proto_msg m, d;
    proto_msg_init(&m, PROTO_REPORT);
    strcpy(m.u.report.node, "n");
    round_trip(&m, &d);
    assert_int_equal(d.u.report.n_placements, 0);
    assert_null(d.u.report.placements);
    proto_msg_free(&d);
}

static void heartbeat_welcome_release_and_error_round_trip(void **state)
{
    (void)state;
    proto_msg m, d;
    proto_msg_init(&m, PROTO_HEARTBEAT);
    strcpy(m.u.heartbeat.node, "n");
    m.u.heartbeat.seq = 123456789012345ULL;
    round_trip(&m, &d);
    assert_int_equal(d.u.heartbeat.seq, 123456789012345ULL);
    proto_msg_free(&d);

    proto_msg_init(&m, PROTO_WELCOME);
    m.u.welcome.heartbeat_ms = 250;
    round_trip(&m, &d);
    assert_int_equal(d.u.welcome.heartbeat_ms, 250);
    assert_true(d.u.welcome.gpu_memory_utilization == 0); /* not given */
    m.u.welcome.gpu_memory_utilization = 0.9;
    round_trip(&m, &d);
    assert_true(d.u.welcome.gpu_memory_utilization == 0.9);

    proto_msg_init(&m, PROTO_RELEASE);
    strcpy(m.u.release.id, "chat-70b/1/0");
    round_trip(&m, &d);
    assert_string_equal(d.u.release.id, "chat-70b/1/0");

    proto_msg_init(&m, PROTO_ERROR);
    strcpy(m.u.error.code, PROTO_CODE_OVERCOMMIT);
    strcpy(m.u.error.message, "GPU 0: 30 GiB used + 20 GiB > 40 GiB usable");
    strcpy(m.u.error.id, "m/0");
    round_trip(&m, &d);
    assert_string_equal(d.u.error.code, "overcommit");
    assert_string_equal(d.u.error.message, m.u.error.message);
    assert_string_equal(d.u.error.id, "m/0");
}

static void an_assign_round_trips_with_and_without_a_command(void **state)
{
    (void)state;
    proto_msg m, d;
    proto_msg_init(&m, PROTO_ASSIGN);
    strcpy(m.u.assign.id, "chat/3");
    strcpy(m.u.assign.model, "chat");
    m.u.assign.replica = 3;
    m.u.assign.n_gpus = 2;
    m.u.assign.gpus[0] = 4;
    m.u.assign.gpus[1] = 5;
    m.u.assign.bytes_per_gpu = 35000000001ULL;
    m.u.assign.fraction = 35000000001.0 / 85899345920.0;
    round_trip(&m, &d);
    assert_null(d.u.assign.command);
    assert_int_equal(d.u.assign.n_command, 0);
    assert_int_equal(d.u.assign.bytes_per_gpu, 35000000001ULL);
    assert_true(d.u.assign.fraction == m.u.assign.fraction); /* exact, 17 digits */
    assert_string_equal(d.u.assign.engine, "");
    assert_int_equal(d.u.assign.replica, 3);
    assert_int_equal(d.u.assign.gpus[1], 5);
    proto_msg_free(&d);

    const char *argv[] = {"vllm", "serve", "{model}", "--tensor-parallel-size", "{tp}", ""};
    assert_int_equal(proto_assign_set_command(&m.u.assign, argv, 6), 0);
    round_trip(&m, &d);
    assert_int_equal(d.u.assign.n_command, 6);
    for (int i = 0; i < 6; i++)
        assert_string_equal(d.u.assign.command[i], argv[i]);
    proto_msg_free(&d);
    proto_msg_free(&m);
}

static void an_engine_assign_round_trips_with_every_launch_field(void **state)
{
    (void)state;
    proto_msg m, d;
    proto_msg_init(&m, PROTO_ASSIGN);
    proto_assign *a = &m.u.assign;
    strcpy(a->id, "chat/1/0");
    strcpy(a->rev, "0123456789abcdef");
    strcpy(a->model, "chat");
    a->replica = 1;
    a->n_gpus = 1;
    a->bytes_per_gpu = 1 << 30;
    a->fraction = 0.25;
    strcpy(a->engine, "vllm");
    strcpy(a->source, "meta-llama/Llama-3.1-8B-Instruct");
    const char *args[] = {"--enable-prefix-caching", "{\"k\": 1}"};
    assert_int_equal(proto_assign_set_engine_args(a, args, 2), 0);
    a->max_seq_len = 8192;
    a->max_batch = 16;
    strcpy(a->kv_dtype, "fp8");
    a->kv_bytes = 123456789;
    a->pp = 2;
    a->stage = 0;
    a->ready_timeout_s = 1200;
    round_trip(&m, &d);
    const proto_assign *b = &d.u.assign;
    assert_string_equal(b->rev, a->rev);
    assert_string_equal(b->engine, "vllm");
    assert_string_equal(b->source, a->source);
    assert_int_equal(b->n_engine_args, 2);
    assert_string_equal(b->engine_args[1], "{\"k\": 1}");
    assert_int_equal(b->max_seq_len, 8192);
    assert_int_equal(b->max_batch, 16);
    assert_string_equal(b->kv_dtype, "fp8");
    assert_int_equal(b->kv_bytes, 123456789);
    assert_int_equal(b->pp, 2);
    assert_int_equal(b->ready_timeout_s, 1200);
    proto_assign copy;
    assert_int_equal(proto_assign_copy(&copy, b), 0);
    assert_ptr_not_equal(copy.engine_args, b->engine_args);
    assert_string_equal(copy.engine_args[0], "--enable-prefix-caching");
    proto_msg cm = {.type = PROTO_ASSIGN};
    cm.u.assign = copy;
    proto_msg_free(&cm);
    proto_msg_free(&d);
    proto_msg_free(&m);
}

static const char *assign_with(const char *extra);

static void an_assign_round_trips_its_lora_adapters_and_speculative_draft(void **state)
{
    (void)state;
    proto_msg m, d;
    proto_msg_init(&m, PROTO_ASSIGN);
    proto_assign *a = &m.u.assign;
    strcpy(a->id, "support-base/0");
    strcpy(a->model, "support-base");
    a->n_gpus = 1;
    a->bytes_per_gpu = 1 << 30;
    a->fraction = 0.25;
    strcpy(a->engine, "vllm");
    a->max_loras = 8;
    a->max_lora_rank = 16;
    strcpy(a->draft, "meta-llama/Llama-3.2-1B \"q\"");
    a->spec_tokens = 7;
    round_trip(&m, &d);
    const proto_assign *b = &d.u.assign;
    assert_int_equal(b->max_loras, 8);
    assert_int_equal(b->max_lora_rank, 16);
    assert_string_equal(b->draft, a->draft);
    assert_int_equal(b->spec_tokens, 7);
    proto_assign copy;
    assert_int_equal(proto_assign_copy(&copy, b), 0);
    assert_string_equal(copy.draft, a->draft);
    assert_int_equal(copy.max_loras, 8);
    proto_msg cm = {.type = PROTO_ASSIGN};
    cm.u.assign = copy;
    proto_msg_free(&cm);
    proto_msg_free(&d);

    /* A plain assign leaves the workload fields out of the frame, and decodes them as none. */
    a->max_loras = a->max_lora_rank = a->spec_tokens = 0;
    a->draft[0] = '\0';
    vp_sb sb = {0};
    assert_int_equal(proto_msg_to_json(&m, &sb, NULL), 0);
    for (const char *k = "max_loras\0max_lora_rank\0draft\0spec_tokens\0"; *k; k += strlen(k) + 1)
        if (strstr(sb.buf, k)) fail_msg("plain assign names %s: %s", k, sb.buf);
    vp_sb_free(&sb);
    round_trip(&m, &d);
    assert_int_equal(d.u.assign.max_loras, 0);
    assert_string_equal(d.u.assign.draft, "");
    assert_int_equal(d.u.assign.spec_tokens, 0);
    proto_msg_free(&d);
    proto_msg_free(&m);
}

static void workload_fields_out_of_range_or_alone_are_refused(void **state)
{
    (void)state;
#define BASE "\"gpus\":[0],\"bytes_per_gpu\":1,\"fraction\":0.5,"
    expect_refused(assign_with(BASE "\"max_loras\":100001,\"max_lora_rank\":8"),
                   "assign.max_loras");
    expect_refused(assign_with(BASE "\"max_loras\":-1,\"max_lora_rank\":8"), "assign.max_loras");
    expect_refused(assign_with(BASE "\"max_loras\":2.5,\"max_lora_rank\":8"), "assign.max_loras");
    expect_refused(assign_with(BASE "\"max_loras\":8,\"max_lora_rank\":4097"),
                   "assign.max_lora_rank");
    expect_refused(assign_with(BASE "\"max_loras\":8"), "assign.max_lora_rank");
    expect_refused(assign_with(BASE "\"max_lora_rank\":8"), "assign.max_lora_rank");
    expect_refused(assign_with(BASE "\"draft\":\"d\",\"spec_tokens\":65"), "assign.spec_tokens");
    expect_refused(assign_with(BASE "\"spec_tokens\":5"), "assign.spec_tokens");
    expect_refused(assign_with(BASE "\"draft\":7"), "assign.draft");
    expect_refused(assign_with(BASE "\"draft\":\"a\\u0001b\""), "assign.draft");
    char *long_draft = malloc(PROTO_SOURCE_MAX + 64);
    assert_non_null(long_draft);
    int n = snprintf(long_draft, 64, BASE "\"draft\":\"");
    memset(long_draft + n, 'd', PROTO_SOURCE_MAX);
    strcpy(long_draft + n + PROTO_SOURCE_MAX, "\"");
    expect_refused(assign_with(long_draft), "assign.draft");
    free(long_draft);
#undef BASE
    /* The encoder refuses the same: a rank without adapters. */
    proto_msg m;
    proto_msg_init(&m, PROTO_ASSIGN);
    strcpy(m.u.assign.id, "m/0");
    strcpy(m.u.assign.model, "m");
    m.u.assign.n_gpus = 1;
    m.u.assign.bytes_per_gpu = 1;
    m.u.assign.fraction = 0.5;
    m.u.assign.max_lora_rank = 16;
    vp_sb sb = {0};
    vp_err e = {0};
    assert_int_equal(proto_msg_encode(&m, &sb, &e), VP_EINPUT);
    if (!strstr(e.msg, "assign.max_lora_rank")) fail_msg("error \"%s\"", e.msg);
    assert_int_equal(sb.len, 0);
}

static void a_lease_and_a_release_of_one_revision_round_trip(void **state)
{
    (void)state;
    proto_msg m, d;
    proto_msg_init(&m, PROTO_LEASE);
    m.u.lease.seq = 42;
    m.u.lease.lease_ms = 15000;
    round_trip(&m, &d);
    assert_int_equal(d.u.lease.seq, 42);
    assert_int_equal(d.u.lease.lease_ms, 15000);
    proto_msg_init(&m, PROTO_RELEASE);
    strcpy(m.u.release.id, "chat/0");
    strcpy(m.u.release.rev, "00000000deadbeef");
    round_trip(&m, &d);
    assert_string_equal(d.u.release.rev, "00000000deadbeef");
    proto_msg_init(&m, PROTO_HELLO);
    strcpy(m.u.hello.node, "n");
    strcpy(m.u.hello.instance_type, "g5.12xlarge");
    m.u.hello.lease_ms = 9000;
    round_trip(&m, &d);
    assert_string_equal(d.u.hello.instance_type, "g5.12xlarge");
    assert_int_equal(d.u.hello.lease_ms, 9000);
}

static void garbage_and_non_objects_are_refused(void **state)
{
    (void)state;
    expect_refused("{\"type\":\"heartbeat\",", "malformed JSON");
    expect_refused("\x01\x02\xff", "invalid UTF-8");
    expect_refused("{\"type\":\"release\",\"v\":2,\"id\":\"a\\u0000b\"}", "\\u0000");
    expect_refused("[1,2,3]", "must be a JSON object");
    expect_refused("\"hello\"", "must be a JSON object");
    expect_refused("{\"type\":\"release\",\"v\":2,\"id\":\"a\"} trailing", "after the JSON value");
}

static void a_wrong_or_missing_version_is_refused(void **state)
{
    (void)state;
    expect_refused("{\"type\":\"release\",\"id\":\"a\"}", "frame.v");
    expect_refused("{\"type\":\"release\",\"v\":1,\"id\":\"a\"}", "unsupported protocol version 1");
    expect_refused("{\"type\":\"release\",\"v\":\"2\",\"id\":\"a\"}", "frame.v");
    expect_refused("{\"type\":\"release\",\"v\":2.5,\"id\":\"a\"}", "frame.v");
}

static void an_unknown_or_missing_type_is_refused(void **state)
{
    (void)state;
    expect_refused("{\"type\":\"shutdown\",\"v\":2}", "unknown message type \"shutdown\"");
    expect_refused("{\"v\":2}", "frame.type");
    expect_refused("{\"type\":7,\"v\":2}", "frame.type");
}

static void missing_and_wrong_typed_fields_are_named(void **state)
{
    (void)state;
    expect_refused("{\"type\":\"release\",\"v\":2}", "release.id");
    expect_refused("{\"type\":\"release\",\"v\":2,\"id\":\"\"}", "release.id");
    expect_refused("{\"type\":\"release\",\"v\":2,\"id\":5}", "release.id");
    expect_refused("{\"type\":\"welcome\",\"v\":2}", "welcome.heartbeat_ms");
    expect_refused("{\"type\":\"welcome\",\"v\":2,\"heartbeat_ms\":0}", "welcome.heartbeat_ms");
    expect_refused("{\"type\":\"welcome\",\"v\":2,\"heartbeat_ms\":100,"
                   "\"gpu_memory_utilization\":1.5}",
                   "welcome.gpu_memory_utilization");
    expect_refused("{\"type\":\"heartbeat\",\"v\":2,\"node\":\"n\"}", "heartbeat.seq");
    expect_refused("{\"type\":\"hello\",\"v\":2,\"node\":\"n\"}", "hello.gpus");
    expect_refused("{\"type\":\"hello\",\"v\":2,\"node\":\"n\",\"gpus\":[{\"index\":0,"
                   "\"model\":\"L4\"}]}",
                   "hello.gpus[0].total_bytes");
    expect_refused("{\"type\":\"hello\",\"v\":2,\"node\":\"n\",\"gpus\":[5]}", "hello.gpus[0]");
    expect_refused("{\"type\":\"error\",\"v\":2,\"message\":\"x\"}", "error.code");
    expect_refused("{\"type\":\"report\",\"v\":2,\"node\":\"n\",\"placements\":[{\"id\":\"a\","
                   "\"state\":\"dancing\"}]}",
                   "report.placements[0].state");
    expect_refused("{\"type\":\"hello\",\"v\":2,\"node\":\"bad\\nname\",\"gpus\":[]}",
                   "hello.node");
}

static const char *assign_with(const char *extra)
{
    static char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"type\":\"assign\",\"v\":2,\"id\":\"m/0\",\"model\":\"m\",\"replica\":0,%s}",
             extra);
    return buf;
}

static void negative_and_out_of_range_numbers_are_refused(void **state)
{
    (void)state;
    expect_refused(assign_with("\"gpus\":[0],\"bytes_per_gpu\":-1,\"fraction\":0.5"),
                   "assign.bytes_per_gpu");
    expect_refused(assign_with("\"gpus\":[0],\"bytes_per_gpu\":0,\"fraction\":0.5"),
                   "assign.bytes_per_gpu");
    expect_refused(assign_with("\"gpus\":[0],\"bytes_per_gpu\":1e300,\"fraction\":0.5"),
                   "assign.bytes_per_gpu");
    expect_refused(assign_with("\"gpus\":[0],\"bytes_per_gpu\":1.5,\"fraction\":0.5"),
                   "assign.bytes_per_gpu");
    expect_refused(assign_with("\"gpus\":[-1],\"bytes_per_gpu\":1,\"fraction\":0.5"),
                   "assign.gpus[0]");
    expect_refused(assign_with("\"gpus\":[16],\"bytes_per_gpu\":1,\"fraction\":0.5"),
                   "assign.gpus[0]");
    expect_refused(assign_with("\"gpus\":[1,1],\"bytes_per_gpu\":1,\"fraction\":0.5"),
                   "assign.gpus[1]");
    expect_refused(assign_with("\"gpus\":[],\"bytes_per_gpu\":1,\"fraction\":0.5"), "assign.gpus");
    expect_refused(assign_with("\"gpus\":[0],\"bytes_per_gpu\":1,\"fraction\":0"),
                   "assign.fraction");
    expect_refused(assign_with("\"gpus\":[0],\"bytes_per_gpu\":1,\"fraction\":-0.5"),
                   "assign.fraction");
    expect_refused(assign_with("\"gpus\":[0],\"bytes_per_gpu\":1,\"fraction\":0.5,\"pp\":2,"
                               "\"stage\":2"),
                   "assign.stage");
    expect_refused(assign_with("\"gpus\":[0],\"bytes_per_gpu\":1,\"fraction\":0.5,"
                               "\"engine_args\":[\"--x\",null]"),
                   "assign.engine_args[1]");
    expect_refused("{\"type\":\"report\",\"v\":2,\"node\":\"n\",\"placements\":[{\"id\":\"a\","
                   "\"state\":\"running\",\"port\":65536}]}",
                   "report.placements[0].port");
    expect_refused("{\"type\":\"lease\",\"v\":2,\"seq\":1,\"lease_ms\":0}", "lease.lease_ms");
    expect_refused(assign_with("\"gpus\":[0],\"bytes_per_gpu\":1,\"fraction\":0.5,"
                               "\"command\":[]"),
                   "assign.command");
    expect_refused(assign_with("\"gpus\":[0],\"bytes_per_gpu\":1,\"fraction\":0.5,"
                               "\"command\":[\"a\",3]"),
                   "assign.command[1]");
    expect_refused("{\"type\":\"report\",\"v\":2,\"node\":\"n\",\"placements\":[{\"id\":\"a\","
                   "\"state\":\"running\",\"pid\":-5}]}",
                   "report.placements[0].pid");
    expect_refused("{\"type\":\"heartbeat\",\"v\":2,\"node\":\"n\",\"seq\":-1}", "heartbeat.seq");
}

/* Builds {"type":"report","v":1,"node":"n","placements":[ {..} x n ]}. */
static char *big_report(size_t n)
{
    vp_sb sb = {0};
    vp_sb_printf(&sb, "{\"type\":\"report\",\"v\":2,\"node\":\"n\",\"placements\":[");
    for (size_t i = 0; i < n; i++)
        vp_sb_printf(&sb, "%s{\"id\":\"m/%zu\",\"state\":\"running\"}", i ? "," : "", i);
    vp_sb_printf(&sb, "]}");
    assert_true(vp_sb_ok(&sb));
    return vp_sb_steal(&sb);
}

static void huge_arrays_are_refused_past_their_caps(void **state)
{
    (void)state;
    char *ok = big_report(PROTO_MAX_PLACEMENTS);
    proto_msg m;
    vp_err e = {0};
    assert_int_equal(decode_text(ok, &m, &e), 0);
    assert_int_equal(m.u.report.n_placements, PROTO_MAX_PLACEMENTS);
    proto_msg_free(&m);
    free(ok);
    char *too_many = big_report(PROTO_MAX_PLACEMENTS + 1);
    expect_refused(too_many, "report.placements");
    free(too_many);

    vp_sb sb = {0};
    vp_sb_printf(&sb, "{\"type\":\"hello\",\"v\":2,\"node\":\"n\",\"gpus\":[");
    for (int i = 0; i < 17; i++)
        vp_sb_printf(&sb, "%s{\"index\":%d,\"model\":\"L4\",\"total_bytes\":1}", i ? "," : "",
                     i % 16);
    vp_sb_printf(&sb, "]}");
    expect_refused(vp_sb_str(&sb), "hello.gpus");
    vp_sb_free(&sb);

    vp_sb_printf(&sb, "\"gpus\":[0],\"bytes_per_gpu\":1,\"fraction\":1,\"command\":[");
    for (int i = 0; i < PROTO_MAX_ARGV + 1; i++)
        vp_sb_printf(&sb, "%s\"x\"", i ? "," : "");
    vp_sb_printf(&sb, "]");
    expect_refused(assign_with(vp_sb_str(&sb)), "assign.command");
    vp_sb_free(&sb);
}

static void over_long_strings_are_refused_not_truncated(void **state)
{
    (void)state;
    char id[PROTO_ID_MAX + 1];
    memset(id, 'x', PROTO_ID_MAX);
    id[PROTO_ID_MAX] = '\0';
    char json[512];
    snprintf(json, sizeof json, "{\"type\":\"release\",\"v\":2,\"id\":\"%s\"}", id);
    expect_refused(json, "release.id");
    id[PROTO_ID_MAX - 1] = '\0'; /* exactly at the cap is fine */
    snprintf(json, sizeof json, "{\"type\":\"release\",\"v\":2,\"id\":\"%s\"}", id);
    proto_msg m;
    vp_err e = {0};
    assert_int_equal(decode_text(json, &m, &e), 0);
    assert_int_equal(strlen(m.u.release.id), PROTO_ID_MAX - 1);
}

static void unknown_fields_are_ignored_for_forward_compatibility(void **state)
{
    (void)state;
    proto_msg m;
    vp_err e = {0};
    assert_int_equal(
        decode_text("{\"type\":\"release\",\"v\":2,\"id\":\"a\",\"later\":[1]}", &m, &e), 0);
    assert_string_equal(m.u.release.id, "a");
}

static void the_encoder_refuses_what_the_decoder_would(void **state)
{
    (void)state;
    proto_msg m;
    vp_sb sb = {0};
    vp_err e = {0};
    proto_msg_init(&m, PROTO_ASSIGN);
    strcpy(m.u.assign.id, "m/0");
    strcpy(m.u.assign.model, "m");
    m.u.assign.n_gpus = 2;
    m.u.assign.gpus[0] = m.u.assign.gpus[1] = 3;
    m.u.assign.bytes_per_gpu = 1;
    m.u.assign.fraction = 0.5;
    assert_int_equal(proto_msg_encode(&m, &sb, &e), VP_EINPUT);
    assert_non_null(strstr(e.msg, "assign.gpus[1]"));
    assert_int_equal(sb.len, 0);
    proto_msg_init(&m, PROTO_WELCOME);
    assert_int_equal(proto_msg_encode(&m, &sb, &e), VP_EINPUT);
    assert_non_null(strstr(e.msg, "welcome.heartbeat_ms"));
    proto_msg_init(&m, (proto_type)42);
    assert_int_equal(proto_msg_encode(&m, &sb, &e), VP_EINPUT);
    assert_int_equal(sb.len, 0);
}

static void a_report_over_the_frame_limit_is_refused_by_the_encoder(void **state)
{
    (void)state;
    proto_msg m;
    proto_msg_init(&m, PROTO_REPORT);
    strcpy(m.u.report.node, "n");
    proto_placement p = {0};
    memset(p.error, 'e', sizeof p.error - 1);
    for (int i = 0; i < PROTO_MAX_PLACEMENTS; i++) {
        snprintf(p.id, sizeof p.id, "m/%d", i);
        assert_int_equal(proto_report_add(&m.u.report, &p), 0);
    }
    assert_int_equal(proto_report_add(&m.u.report, &p), VP_ETOOBIG);
    vp_sb sb = {0};
    vp_err e = {0};
    assert_int_equal(proto_msg_encode(&m, &sb, &e), VP_ETOOBIG);
    assert_int_equal(sb.len, 0);
    vp_sb_free(&sb);
    proto_msg_free(&m);
}

static void names_and_states_have_stable_spellings(void **state)
{
    (void)state;
    assert_string_equal(proto_type_name(PROTO_ASSIGN), "assign");
    assert_string_equal(proto_type_name((proto_type)99), "?");
    proto_state s;
    for (int i = PROTO_STARTING; i <= PROTO_STOPPED; i++) {
        assert_int_equal(proto_state_parse(proto_state_name((proto_state)i), &s), 0);
        assert_int_equal(s, i);
    }
    assert_int_equal(proto_state_parse("pending", &s), VP_EINPUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_hello_round_trips_with_its_gpus_and_token),
        cmocka_unit_test(a_report_round_trips_every_state),
        cmocka_unit_test(an_empty_report_round_trips),
        cmocka_unit_test(heartbeat_welcome_release_and_error_round_trip),
        cmocka_unit_test(an_assign_round_trips_with_and_without_a_command),
        cmocka_unit_test(an_engine_assign_round_trips_with_every_launch_field),
        cmocka_unit_test(an_assign_round_trips_its_lora_adapters_and_speculative_draft),
        cmocka_unit_test(workload_fields_out_of_range_or_alone_are_refused),
        cmocka_unit_test(a_lease_and_a_release_of_one_revision_round_trip),
        cmocka_unit_test(garbage_and_non_objects_are_refused),
        cmocka_unit_test(a_wrong_or_missing_version_is_refused),
        cmocka_unit_test(an_unknown_or_missing_type_is_refused),
        cmocka_unit_test(missing_and_wrong_typed_fields_are_named),
        cmocka_unit_test(negative_and_out_of_range_numbers_are_refused),
        cmocka_unit_test(huge_arrays_are_refused_past_their_caps),
        cmocka_unit_test(over_long_strings_are_refused_not_truncated),
        cmocka_unit_test(unknown_fields_are_ignored_for_forward_compatibility),
        cmocka_unit_test(the_encoder_refuses_what_the_decoder_would),
        cmocka_unit_test(a_report_over_the_frame_limit_is_refused_by_the_encoder),
        cmocka_unit_test(names_and_states_have_stable_spellings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
