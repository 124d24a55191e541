/* test_frame.c - framing: whole, partial, back-to-back, oversize and empty frames; the stream
 * reader; constant-time token comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"

static void put_be32(uint8_t *p, uint32_t n)
{
    p[0] = (uint8_t)(n >> 24);
    p[1] = (uint8_t)(n >> 16);
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
}

static void a_whole_frame_decodes_to_its_payload(void **state)
{
    (void)state;
    vp_sb sb = {0};
    assert_int_equal(proto_frame_encode("{\"a\":1}", 7, &sb), 0);
    assert_int_equal(sb.len, 11);
    const uint8_t *b = (const uint8_t *)sb.buf;
    assert_int_equal(b[0], 0);
    assert_int_equal(b[3], 7);
    size_t used = 0, plen = 0;
    const uint8_t *payload = NULL;
    assert_int_equal(proto_frame_decode(b, sb.len, &used, &payload, &plen), 0);
    assert_int_equal(used, 11);
    assert_int_equal(plen, 7);
    assert_memory_equal(payload, "{\"a\":1}", 7);
    assert_ptr_equal(payload, b + 4);
    vp_sb_free(&sb);
}

static void a_frame_fed_byte_by_byte_waits_until_the_last_byte(void **state)
{
    (void)state;
    vp_sb sb = {0};
    const char *json = "{\"type\":\"release\",\"v\":2,\"id\":\"m/0\"}";
    assert_int_equal(proto_frame_encode(json, strlen(json), &sb), 0);
    for (size_t n = 0; n < sb.len; n++) {
        size_t used = 99, plen = 99;
        const uint8_t *payload = NULL;
        assert_int_equal(proto_frame_decode((const uint8_t *)sb.buf, n, &used, &payload, &plen),
                         VP_EAGAIN);
        assert_int_equal(used, 99); /* outputs untouched while incomplete */
        assert_null(payload);
    }
    size_t used = 0, plen = 0;
    const uint8_t *payload = NULL;
    assert_int_equal(proto_frame_decode((const uint8_t *)sb.buf, sb.len, &used, &payload, &plen),
                     0);
    assert_int_equal(plen, strlen(json));
    vp_sb_free(&sb);
}

static void two_frames_in_one_buffer_decode_one_after_the_other(void **state)
{
    (void)state;
    vp_sb sb = {0};
    assert_int_equal(proto_frame_encode("[1]", 3, &sb), 0);
    assert_int_equal(proto_frame_encode("[22]", 4, &sb), 0);
    size_t used = 0, plen = 0;
    const uint8_t *payload = NULL;
    const uint8_t *b = (const uint8_t *)sb.buf;
    assert_int_equal(proto_frame_decode(b, sb.len, &used, &payload, &plen), 0);
    assert_int_equal(used, 7);
    assert_memory_equal(payload, "[1]", 3);
    assert_int_equal(proto_frame_decode(b + used, sb.len - used, &used, &payload, &plen), 0);
    assert_int_equal(used, 8);
    assert_int_equal(plen, 4);
    assert_memory_equal(payload, "[22]", 4);
    vp_sb_free(&sb);
}

static void an_oversize_length_is_refused_from_the_header_alone(void **state)
{
    (void)state;
    uint8_t hdr[4];
    size_t used = 0, plen = 0;
    const uint8_t *payload = NULL;
    put_be32(hdr, PROTO_MAX_FRAME + 1);
    assert_int_equal(proto_frame_decode(hdr, 4, &used, &payload, &plen), VP_ETOOBIG);
    put_be32(hdr, UINT32_MAX);
    assert_int_equal(proto_frame_decode(hdr, 4, &used, &payload, &plen), VP_ETOOBIG);
    /* Exactly the limit is fine: it merely waits for the payload. */
    put_be32(hdr, PROTO_MAX_FRAME);
    assert_int_equal(proto_frame_decode(hdr, 4, &used, &payload, &plen), VP_EAGAIN);
}

static void a_zero_length_frame_is_a_protocol_error(void **state)
{
    (void)state;
    uint8_t hdr[8] = {0};
    size_t used = 0, plen = 0;
    const uint8_t *payload = NULL;
    assert_int_equal(proto_frame_decode(hdr, sizeof hdr, &used, &payload, &plen), VP_EPROTO);
}

static void the_encoder_refuses_empty_and_oversize_payloads(void **state)
{
    (void)state;
    vp_sb sb = {0};
    assert_int_equal(proto_frame_encode("", 0, &sb), VP_ETOOBIG);
    char *big = calloc(1, PROTO_MAX_FRAME + 1);
    assert_non_null(big);
    assert_int_equal(proto_frame_encode(big, PROTO_MAX_FRAME + 1, &sb), VP_ETOOBIG);
    assert_int_equal(sb.len, 0);
    assert_int_equal(proto_frame_encode(big, PROTO_MAX_FRAME, &sb), 0);
    assert_int_equal(sb.len, PROTO_MAX_FRAME + 4);
    free(big);
    vp_sb_free(&sb);
}

static void the_reader_yields_messages_from_arbitrary_chunks(void **state)
{
    (void)state;
    vp_sb sb = {0};
    proto_msg m;
    for (int i = 0; i < 5; i++) {
        proto_msg_init(&m, PROTO_HEARTBEAT);
        strcpy(m.u.heartbeat.node, "n1");
        m.u.heartbeat.seq = (uint64_t)i;
        assert_int_equal(proto_msg_encode(&m, &sb, NULL), 0);
    }
    /* Feed in chunks of 3 bytes; collect all five in order. */
    proto_reader r = {0};
    int got = 0;
    vp_err e = {0};
    for (size_t off = 0; off < sb.len; off += 3) {
        size_t n = sb.len - off < 3 ? sb.len - off : 3;
        assert_int_equal(proto_reader_feed(&r, sb.buf + off, n), 0);
        int rc;
        while ((rc = proto_reader_next(&r, &m, &e)) == 0) {
            assert_int_equal(m.type, PROTO_HEARTBEAT);
            assert_int_equal(m.u.heartbeat.seq, got);
            got++;
            proto_msg_free(&m);
        }
        assert_int_equal(rc, VP_EAGAIN);
    }
    assert_int_equal(got, 5);
    proto_reader_free(&r);
    vp_sb_free(&sb);
}

static void the_reader_reports_an_oversize_frame_as_fatal(void **state)
{
    (void)state;
    proto_reader r = {0};
    uint8_t hdr[4];
    put_be32(hdr, 0x7fffffff);
    assert_int_equal(proto_reader_feed(&r, hdr, 4), 0);
    proto_msg m;
    vp_err e = {0};
    assert_int_equal(proto_reader_next(&r, &m, &e), VP_ETOOBIG);
    assert_non_null(strstr(e.msg, "limit"));
    proto_reader_free(&r);
}

static void tokens_compare_equal_only_when_identical(void **state)
{
    (void)state;
    assert_true(proto_token_equal("s3cret", "s3cret"));
    assert_true(proto_token_equal("", ""));
    assert_true(proto_token_equal(NULL, ""));
    assert_false(proto_token_equal("s3cret", "s3creT"));
    assert_false(proto_token_equal("s3cret", "s3cre"));
    assert_false(proto_token_equal("s3cre", "s3cret"));
    assert_false(proto_token_equal("", "x"));
    assert_false(proto_token_equal("x", NULL));
    char longer[PROTO_TOKEN_MAX + 10];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    assert_false(proto_token_equal(longer, longer)); /* over the cap never matches */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_whole_frame_decodes_to_its_payload),
        cmocka_unit_test(a_frame_fed_byte_by_byte_waits_until_the_last_byte),
        cmocka_unit_test(two_frames_in_one_buffer_decode_one_after_the_other),
        cmocka_unit_test(an_oversize_length_is_refused_from_the_header_alone),
        cmocka_unit_test(a_zero_length_frame_is_a_protocol_error),
        cmocka_unit_test(the_encoder_refuses_empty_and_oversize_payloads),
        cmocka_unit_test(the_reader_yields_messages_from_arbitrary_chunks),
        cmocka_unit_test(the_reader_reports_an_oversize_frame_as_fatal),
        cmocka_unit_test(tokens_compare_equal_only_when_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
