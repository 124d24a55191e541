/* test_vp_log.c - the daemons' one logger: field order, quoting, levels, whole lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vp_log.h"

/* A sink that keeps every line it is handed. */
typedef struct sink {
    char lines[64][1024];
    int n;
    int levels[64];
} sink;

static void keep(void *ud, int level, const char *line)
{
    sink *s = ud;
    if (s->n < 64) {
        snprintf(s->lines[s->n], sizeof s->lines[0], "%s", line);
        s->levels[s->n++] = level;
    }
}

/* The text after the timestamp: "level=... msg=...". */
static const char *after_ts(const char *line)
{
    const char *sp = strchr(line, ' ');
    return sp ? sp + 1 : line;
}

static void a_line_has_ts_level_msg_fixed_fields_then_event_fields(void **state)
{
    (void)state;
    sink s = {0};
    vp_log lg;
    vp_log_init(&lg, VP_LOG_INFO, keep, &s);
    vp_log_add_field(&lg, "node", "gpu-1");
    vp_logline l;
    assert_true(vp_log_begin(&lg, &l, VP_LOG_WARN, "node_lost"));
    vp_log_s(&l, "reason", "silent");
    vp_log_u(&l, "silent_ms", 3012);
    vp_log_i(&l, "delta", -4);
    vp_log_f(&l, "ratio", 0.5);
    vp_log_end(&lg, &l);
    vp_logf(&lg, VP_LOG_INFO, "worker started", "pid=%d", 42);
    assert_int_equal(s.n, 2);
    assert_int_equal(strncmp(s.lines[0], "ts=", 3), 0);
    assert_string_equal(after_ts(s.lines[0]), "level=warn msg=node_lost node=gpu-1 reason=silent "
                                              "silent_ms=3012 delta=-4 ratio=0.5");
    assert_string_equal(after_ts(s.lines[1]),
                        "level=info msg=\"worker started\" node=gpu-1 pid=42");
    /* ts=YYYY-MM-DDTHH:MM:SS.mmmZ */
    assert_int_equal(s.lines[0][13], 'T');
    assert_int_equal(s.lines[0][26], 'Z');
    assert_int_equal(s.lines[0][27], ' ');
    vp_log_close(&lg);
}

static void values_that_could_forge_a_field_or_a_line_are_quoted(void **state)
{
    (void)state;
    sink s = {0};
    vp_log lg;
    vp_log_init(&lg, VP_LOG_DEBUG, keep, &s);
    vp_logline l;
    vp_log_begin(&lg, &l, VP_LOG_INFO, "agent_hello");
    vp_log_s(&l, "node", "x level=error msg=forged");
    vp_log_s(&l, "error", "line one\nts=0 level=error");
    vp_log_s(&l, "q", "say \"hi\" \\o/");
    vp_log_s(&l, "empty", "");
    vp_log_s(&l, "null", NULL);
    vp_log_s(&l, "bell",
             "a\x07"
             "b");
    vp_log_end(&lg, &l);
    assert_int_equal(s.n, 1);
    assert_null(strchr(s.lines[0], '\n'));
    assert_string_equal(after_ts(s.lines[0]),
                        "level=info msg=agent_hello node=\"x level=error msg=forged\" "
                        "error=\"line one\\nts=0 level=error\" q=\"say \\\"hi\\\" \\\\o/\" "
                        "empty=\"\" null=\"\" bell=\"a\\x07b\"");
    vp_log_close(&lg);
}

static void lines_below_the_level_are_dropped(void **state)
{
    (void)state;
    sink s = {0};
    vp_log lg;
    vp_log_init(&lg, VP_LOG_WARN, keep, &s);
    vp_logline l;
    assert_false(vp_log_begin(&lg, &l, VP_LOG_INFO, "ignored"));
    vp_log_s(&l, "k", "v"); /* the adders and end are safe on a filtered line */
    vp_log_end(&lg, &l);
    vp_logf(&lg, VP_LOG_DEBUG, "ignored", "k=%d", 1);
    vp_logf(&lg, VP_LOG_ERROR, "kept", NULL);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.levels[0], VP_LOG_ERROR);
    assert_string_equal(after_ts(s.lines[0]), "level=error msg=kept");
    vp_log_close(&lg);

    vp_log none;
    vp_log_init(&none, VP_LOG_DEBUG, NULL, NULL); /* no sink: nothing, no crash */
    vp_logf(&none, VP_LOG_ERROR, "nowhere", "k=%d", 1);
    vp_log_close(&none);
}

static void level_names_parse_and_unknown_ones_are_refused(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int level;
    } ok[] = {{"debug", VP_LOG_DEBUG},
              {"info", VP_LOG_INFO},
              {"warn", VP_LOG_WARN},
              {"warning", VP_LOG_WARN},
              {"error", VP_LOG_ERROR}};
    for (size_t i = 0; i < VP_ARRAY_LEN(ok); i++) {
        int l = 99;
        assert_int_equal(vp_log_level_parse(ok[i].name, &l), 0);
        assert_int_equal(l, ok[i].level);
    }
    int l = 7;
    assert_int_equal(vp_log_level_parse("loud", &l), VP_EINPUT);
    assert_int_equal(vp_log_level_parse("", &l), VP_EINPUT);
    assert_int_equal(vp_log_level_parse(NULL, &l), VP_EINPUT);
    assert_int_equal(l, 7);
    assert_string_equal(vp_log_level_name(VP_LOG_WARN), "warn");
    assert_string_equal(vp_log_level_name(42), "?");
}

static void quoted_values_are_cut_inside_their_quotes(void **state)
{
    (void)state;
    char big[4000];
    memset(big, '"', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    const char *q = vp_log_q(big);
    size_t n = strlen(q);
    assert_true(n < 768);
    assert_int_equal(q[0], '"');
    assert_int_equal(q[n - 1], '"');
    assert_int_equal(q[n - 2], '"'); /* an escaped quote, never half an escape */
    assert_int_equal(q[n - 3], '\\');
    assert_string_equal(vp_log_q("plain"), "plain");
    assert_string_equal(vp_log_q(NULL), "\"\"");
    /* Eight values in one call stay distinct. */
    const char *v[8];
    char in[8][8];
    for (int i = 0; i < 8; i++) {
        snprintf(in[i], sizeof in[i], "v %d", i);
        v[i] = vp_log_q(in[i]);
    }
    for (int i = 0; i < 8; i++) {
        char want[16];
        snprintf(want, sizeof want, "\"v %d\"", i);
        assert_string_equal(v[i], want);
    }
}

/* ---- lines from several threads ---- */

typedef struct shared_sink {
    vp_sb all;
} shared_sink;

static void append(void *ud, int level, const char *line)
{
    (void)level;
    shared_sink *s = ud;
    /* Two appends: a sink that were called concurrently would interleave them. */
    vp_sb_append(&s->all, line, strlen(line));
    vp_sb_append(&s->all, "\n", 1);
}

static void *writer(void *arg)
{
    vp_log *lg = arg;
    for (int i = 0; i < 500; i++) {
        vp_logline l;
        vp_log_begin(lg, &l, VP_LOG_INFO, "tick");
        vp_log_u(&l, "i", (uint64_t)i);
        vp_log_s(&l, "pad", "0123456789abcdefghijklmnopqrstuvwxyz");
        vp_log_end(lg, &l);
    }
    return NULL;
}

static void lines_from_several_threads_never_interleave(void **state)
{
    (void)state;
    shared_sink s = {{0}};
    vp_log lg;
    vp_log_init(&lg, VP_LOG_INFO, append, &s);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer, &lg), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_true(vp_sb_ok(&s.all));
    int lines = 0;
    char *save = NULL;
    for (char *ln = strtok_r(s.all.buf, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save)) {
        lines++;
        assert_non_null(strstr(ln, " level=info msg=tick i="));
        size_t len = strlen(ln), tail = strlen(" pad=0123456789abcdefghijklmnopqrstuvwxyz");
        assert_true(len > tail);
        assert_string_equal(ln + len - tail, " pad=0123456789abcdefghijklmnopqrstuvwxyz");
    }
    assert_int_equal(lines, 2000);
    vp_sb_free(&s.all);
    vp_log_close(&lg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_line_has_ts_level_msg_fixed_fields_then_event_fields),
        cmocka_unit_test(values_that_could_forge_a_field_or_a_line_are_quoted),
        cmocka_unit_test(lines_below_the_level_are_dropped),
        cmocka_unit_test(level_names_parse_and_unknown_ones_are_refused),
        cmocka_unit_test(quoted_values_are_cut_inside_their_quotes),
        cmocka_unit_test(lines_from_several_threads_never_interleave),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
