/* test_vp.c - error names, checked arithmetic, string builder and JSON getters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vp.h"
#include "vp_json.h"

static void every_code_has_a_name(void **state)
{
    (void)state;
    for (int c = VP_ESTATE; c <= VP_EPARSE; c++) assert_string_not_equal(vp_strerror(c), "unknown error");
    assert_string_equal(vp_strerror(-ENOENT), strerror(ENOENT));
}

static void muldiv_rounds_up_without_floats(void **state)
{
    (void)state;
    uint64_t r;
    assert_int_equal(vp_muldiv_ceil_u64(10, 1, 3, &r), 0);
    assert_int_equal(r, 4);
    assert_int_equal(vp_muldiv_ceil_u64(8030261248ULL, 100000, 1000000, &r), 0);
    assert_int_equal(r, 803026125ULL);
    assert_int_equal(vp_muldiv_floor_u64(UINT64_MAX, 2, 1, &r), VP_EOVERFLOW);
    assert_int_equal(vp_muldiv_ceil_u64(1, 1, 0, &r), VP_EINPUT);
    assert_int_equal(vp_mul_u64(UINT64_MAX, 2, &r), VP_EOVERFLOW);
}

static void string_builder_grows(void **state)
{
    (void)state;
    vp_sb sb = {0};
    for (int i = 0; i < 1000; i++) vp_sb_printf(&sb, "%d,", i);
    assert_true(vp_sb_ok(&sb));
    assert_int_equal(strncmp(vp_sb_str(&sb), "0,1,2,", 6), 0);
    vp_sb_free(&sb);
}

static void getters_name_the_field_and_refuse_bad_values(void **state)
{
    (void)state;
    cJSON *o;
    vp_err e = {0};
    const char *txt = "{\"n\": -3, \"f\": 1.5, \"s\": \"\", \"big\": 1e300}";
    assert_int_equal(vp_json_parse(txt, strlen(txt), "x.json", &o, &e), 0);
    uint64_t v;
    assert_int_equal(vp_json_u64(o, "n", "x.json: m", true, 0, 100, &v, &e), VP_EINPUT);
    assert_non_null(strstr(e.msg, "x.json: m.n"));
    assert_int_equal(vp_json_u64(o, "f", "c", true, 0, 100, &v, &e), VP_EINPUT);
    assert_int_equal(vp_json_u64(o, "big", "c", true, 0, UINT64_MAX, &v, &e), VP_EINPUT);
    assert_int_equal(vp_json_u64(o, "absent", "c", false, 0, 100, &v, &e), 1);
    assert_int_equal(vp_json_u64(o, "absent", "c", true, 0, 100, &v, &e), VP_EINPUT);
    char s[8];
    assert_int_equal(vp_json_str(o, "s", "c", true, s, sizeof s, &e), VP_EINPUT);
    cJSON_Delete(o);
}

static void parse_reports_line_and_column(void **state)
{
    (void)state;
    cJSON *o;
    vp_err e = {0};
    const char *txt = "{\n  \"a\": 1,\n  \"b\": }";
    assert_int_equal(vp_json_parse(txt, strlen(txt), "m.json", &o, &e), VP_EPARSE);
    assert_non_null(strstr(e.msg, "m.json: malformed JSON near line 3"));
    const char *trailing = "{} x";
    assert_int_equal(vp_json_parse(trailing, strlen(trailing), "t", &o, &e), VP_EPARSE);
}

static void parse_refuses_nul_bytes_control_characters_and_invalid_utf8(void **state)
{
    (void)state;
    static const struct { const char *txt; size_t len; const char *why; } bad[] = {
        {"{\"a\": \"x\0y\"}", 12, "NUL byte at offset 8"},
        {"{\"a\": 1}\0{", 10, "NUL byte at offset 8"},
        {"{\"a\": \"x\\u0000y\"}", 17, "\\u0000 in a string"},
        {"{\"a\": \"x\ty\"}", 12, "control character"},
        {"{\"a\": \"\xc3\"}", 10, "invalid UTF-8 at offset 7"},
        {"{\"a\": \"\xc0\xaf\"}", 11, "invalid UTF-8"},       /* overlong '/' */
        {"{\"a\": \"\xed\xa0\x80\"}", 12, "invalid UTF-8"},  /* a surrogate */
        {"{\"a\": \"\xf4\x90\x80\x80\"}", 13, "invalid UTF-8"}, /* above U+10FFFF */
    };
    for (size_t i = 0; i < VP_ARRAY_LEN(bad); i++) {
        cJSON *o = NULL;
        vp_err e = {0};
        int rc = vp_json_parse(bad[i].txt, bad[i].len, "m.json", &o, &e);
        if (rc != VP_EPARSE || !strstr(e.msg, bad[i].why))
            fail_msg("case %zu: rc %d, message \"%s\", expected \"%s\"", i, rc, e.msg,
                     bad[i].why);
    }
    /* Escaped backslashes, real UTF-8 and a trailing NUL stay fine. */
    const char ok[] = "{\"a\": \"\\\\u0000 caf\xc3\xa9 \xf0\x9f\x99\x82\"}";
    cJSON *o = NULL;
    vp_err e = {0};
    int rc = vp_json_parse(ok, sizeof ok, "m.json", &o, &e);
    if (rc) fail_msg("valid text refused: %s", e.msg);
    assert_string_equal(cJSON_GetObjectItem(o, "a")->valuestring, "\\u0000 caf\xc3\xa9 \xf0\x9f\x99\x82");
    cJSON_Delete(o);
}

static void byte_quantities_are_exact_and_refuse_what_is_not_a_whole_byte(void **state)
{
    (void)state;
    static const struct { const char *s; int rc; uint64_t v; } cases[] = {
        {"25769803776", 0, 25769803776ULL}, {"24Gi", 0, 25769803776ULL},
        {"24GiB", 0, 25769803776ULL},       {"1.5Ti", 0, 1649267441664ULL},
        {"80G", 0, 80000000000ULL},         {"80GB", 0, 80000000000ULL},
        {"512Mi", 0, 536870912ULL},         {"4k", 0, 4000ULL},
        {"0", 0, 0},                        {"16Pi", 0, 18014398509481984ULL},
        {"0.5Ki", 0, 512},                  {"0.1Ki", VP_EINPUT, 0},
        {"", VP_EINPUT, 0},                 {"Gi", VP_EINPUT, 0},
        {"1.", VP_EINPUT, 0},               {"24 Gi", VP_EINPUT, 0},
        {"24gi", VP_EINPUT, 0},             {"-1", VP_EINPUT, 0},
        {"1.2.3", VP_EINPUT, 0},            {"16384Pi", VP_EOVERFLOW, 0},
        {"99999999999999999999", VP_EOVERFLOW, 0},
    };
    for (size_t i = 0; i < VP_ARRAY_LEN(cases); i++) {
        uint64_t v = 0;
        int rc = vp_parse_bytes(cases[i].s, &v);
        if (rc != cases[i].rc || (rc == 0 && v != cases[i].v))
            fail_msg("\"%s\": rc %d value %llu, expected rc %d value %llu", cases[i].s, rc,
                     (unsigned long long)v, cases[i].rc, (unsigned long long)cases[i].v);
    }
    cJSON *o;
    vp_err e = {0};
    const char *txt = "{\"a\": \"24Gi\", \"b\": 1024, \"c\": \"lots\", \"d\": \"2Gi\"}";
    assert_int_equal(vp_json_parse(txt, strlen(txt), "x.json", &o, &e), 0);
    uint64_t v = 0;
    assert_int_equal(vp_json_bytes(o, "a", "x", true, 0, UINT64_MAX, &v, &e), 0);
    assert_int_equal(v, 25769803776ULL);
    assert_int_equal(vp_json_bytes(o, "b", "x", true, 0, UINT64_MAX, &v, &e), 0);
    assert_int_equal(v, 1024);
    assert_int_equal(vp_json_bytes(o, "c", "x", true, 0, UINT64_MAX, &v, &e), VP_EINPUT);
    assert_non_null(strstr(e.msg, "x.c: must be a byte count"));
    assert_int_equal(vp_json_bytes(o, "d", "x", true, 0, 1ULL << 30, &v, &e), VP_EINPUT);
    assert_int_equal(vp_json_bytes(o, "z", "x", false, 0, 1, &v, &e), 1);
    cJSON_Delete(o);
}

static void read_file_refuses_oversize_and_missing(void **state)
{
    (void)state;
    char *buf;
    size_t len;
    vp_err e = {0};
    assert_int_equal(vp_read_file("/nonexistent/vrampack", 100, &buf, &len, &e), -ENOENT);
    assert_int_equal(vp_read_file("/proc/self/status", 10, &buf, &len, &e), VP_ETOOBIG);
    assert_int_equal(vp_read_file("/proc/self/status", 1 << 20, &buf, &len, &e), 0);
    assert_true(len > 10);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_code_has_a_name),
        cmocka_unit_test(muldiv_rounds_up_without_floats),
        cmocka_unit_test(string_builder_grows),
        cmocka_unit_test(getters_name_the_field_and_refuse_bad_values),
        cmocka_unit_test(parse_reports_line_and_column),
        cmocka_unit_test(parse_refuses_nul_bytes_control_characters_and_invalid_utf8),
        cmocka_unit_test(read_file_refuses_oversize_and_missing),
        cmocka_unit_test(byte_quantities_are_exact_and_refuse_what_is_not_a_whole_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
