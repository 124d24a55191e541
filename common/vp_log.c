/* vp_log.c - the daemons' one logger (vp_log.h): `ts=... level=... msg=... key=value ...`.
 *
 * A line is built in a vp_sb (or, for vp_log_q, a fixed buffer) and handed whole to the sink
 * under the logger's mutex. Quoting is the one place that keeps the key=value grammar intact:
 * every value goes through needs_quote/escape, so a value can never add a field or a line. */
#include "vp_log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const level_names[] = {"debug", "info", "warn", "error"};

const char *vp_log_level_name(int level)
{
    if (level < VP_LOG_DEBUG || level > VP_LOG_ERROR) return "?";
    return level_names[level - VP_LOG_DEBUG];
}

int vp_log_level_parse(const char *s, int *level)
{
    if (!s) return VP_EINPUT;
    for (int l = VP_LOG_DEBUG; l <= VP_LOG_ERROR; l++)
        if (!strcmp(s, level_names[l - VP_LOG_DEBUG])) {
            *level = l;
            return 0;
        }
    if (!strcmp(s, "warning")) {
        *level = VP_LOG_WARN;
        return 0;
    }
    return VP_EINPUT;
}

static bool needs_quote(const char *v)
{
    if (!*v) return true;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f) return true;
    return false;
}

/* The escape of byte c inside quotes into out (at least 5 bytes); its length. */
static size_t escape(unsigned char c, char *out)
{
    if (c == '"' || c == '\\') {
        out[0] = '\\';
        out[1] = (char)c;
        return 2;
    }
    if (c == '\n') {
        memcpy(out, "\\n", 2);
        return 2;
    }
    if (c < ' ' || c == 0x7f) return (size_t)snprintf(out, 5, "\\x%02x", c);
    out[0] = (char)c;
    return 1;
}

static void put_value(vp_sb *sb, const char *v)
{
    if (!needs_quote(v)) {
        vp_sb_append(sb, v, strlen(v));
        return;
    }
    vp_sb_append(sb, "\"", 1);
    char esc[5];
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        vp_sb_append(sb, esc, escape(*p, esc));
    vp_sb_append(sb, "\"", 1);
}

const char *vp_log_q(const char *s)
{
    static _Thread_local char ring[8][768];
    static _Thread_local unsigned next;
    char *out = ring[next++ % 8];
    const size_t cap = sizeof ring[0];
    if (!s) s = "";
    if (!needs_quote(s)) {
        snprintf(out, cap, "%s", s);
        return out;
    }
    size_t o = 0;
    out[o++] = '"';
    char esc[5];
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        size_t n = escape(*p, esc);
        if (o + n + 2 > cap) break; /* room for the closing quote and NUL */
        memcpy(out + o, esc, n);
        o += n;
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

void vp_log_init(vp_log *lg, int level, vp_log_fn fn, void *ud)
{
    lg->level = level;
    lg->fn = fn;
    lg->ud = ud;
    lg->fields[0] = '\0';
    pthread_mutex_init(&lg->mu, NULL);
}

void vp_log_close(vp_log *lg)
{
    if (lg) pthread_mutex_destroy(&lg->mu);
}

void vp_log_add_field(vp_log *lg, const char *key, const char *val)
{
    vp_sb sb = {0};
    vp_sb_printf(&sb, " %s=", key);
    put_value(&sb, val ? val : "");
    size_t have = strlen(lg->fields);
    if (vp_sb_ok(&sb) && have + sb.len < sizeof lg->fields)
        memcpy(lg->fields + have, vp_sb_str(&sb), sb.len + 1);
    vp_sb_free(&sb);
}

bool vp_log_begin(const vp_log *lg, vp_logline *l, int level, const char *msg)
{
    memset(l, 0, sizeof *l);
    l->level = level;
    l->on = lg && lg->fn && level >= lg->level;
    if (!l->on) return false;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    vp_sb_printf(&l->sb, "ts=%s.%03ldZ level=%s msg=", when, ts.tv_nsec / 1000000L,
                 vp_log_level_name(level));
    put_value(&l->sb, msg ? msg : "");
    vp_sb_append(&l->sb, lg->fields, strlen(lg->fields));
    return true;
}

void vp_log_s(vp_logline *l, const char *key, const char *val)
{
    if (!l->on) return;
    vp_sb_printf(&l->sb, " %s=", key);
    put_value(&l->sb, val ? val : "");
}

void vp_log_u(vp_logline *l, const char *key, uint64_t val)
{
    if (l->on) vp_sb_printf(&l->sb, " %s=%" PRIu64, key, val);
}

void vp_log_i(vp_logline *l, const char *key, int64_t val)
{
    if (l->on) vp_sb_printf(&l->sb, " %s=%" PRId64, key, val);
}

void vp_log_f(vp_logline *l, const char *key, double val)
{
    if (l->on) vp_sb_printf(&l->sb, " %s=%.6g", key, val);
}

void vp_log_end(vp_log *lg, vp_logline *l)
{
    if (l->on && vp_sb_ok(&l->sb)) {
        pthread_mutex_lock(&lg->mu);
        lg->fn(lg->ud, l->level, vp_sb_str(&l->sb));
        pthread_mutex_unlock(&lg->mu);
    }
    vp_sb_free(&l->sb);
    l->on = false;
}

void vp_logf(vp_log *lg, int level, const char *msg, const char *fmt, ...)
{
    vp_logline l;
    if (!vp_log_begin(lg, &l, level, msg)) return;
    if (fmt && *fmt) {
        vp_sb_append(&l.sb, " ", 1);
        va_list ap;
        va_start(ap, fmt);
        vp_sb_vprintf(&l.sb, fmt, ap);
        va_end(ap);
    }
    vp_log_end(lg, &l);
}

void vp_log_write_file(void *ud, int level, const char *line)
{
    (void)level;
    FILE *f = ud ? (FILE *)ud : stderr;
    fputs(line, f);
    fputc('\n', f);
    fflush(f);
}
