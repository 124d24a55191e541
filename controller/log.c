/* log.c - one line per event: `ts=... level=... msg=... key=value ...`.
 *
 * Lines are built in a vp_sb and handed whole to the configured callback under a mutex, so lines
 * from the loop thread and the API thread never interleave. Values that could break the
 * key=value grammar (spaces, quotes, '=', control bytes) are quoted and escaped, so a node name
 * or an error message chosen by a peer cannot forge extra fields or lines. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl_internal.h"

static const char *const level_names[] = {"debug", "info", "warn", "error"};

const char *ctl_level_name(int level)
{
    if (level < 0 || level > CTL_LOG_ERROR) return "?";
    return level_names[level];
}

int ctl_level_parse(const char *s)
{
    for (int i = 0; i <= CTL_LOG_ERROR; i++)
        if (!strcmp(s, level_names[i])) return i;
    if (!strcmp(s, "warning")) return CTL_LOG_WARN;
    return -1;
}

uint64_t ctl_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void ctl_logger_init(ctl_logger *lg, int level, ctl_log_fn fn, void *ud)
{
    lg->level = level;
    lg->fn = fn;
    lg->ud = ud;
    pthread_mutex_init(&lg->mu, NULL);
}

void ctl_logger_close(ctl_logger *lg)
{
    pthread_mutex_destroy(&lg->mu);
}

static void put_value(vp_sb *sb, const char *v)
{
    bool quote = !*v;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f) quote = true;
    if (!quote) {
        vp_sb_append(sb, v, strlen(v));
        return;
    }
    vp_sb_append(sb, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            vp_sb_append(sb, esc, 2);
        } else if (*p < ' ' || *p == 0x7f) {
            vp_sb_printf(sb, "\\x%02x", *p);
        } else {
            vp_sb_append(sb, (const char *)p, 1);
        }
    }
    vp_sb_append(sb, "\"", 1);
}

bool ctl_log_begin(const ctl_logger *lg, ctl_logline *l, int level, const char *msg)
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
                 ctl_level_name(level));
    put_value(&l->sb, msg);
    return true;
}

void ctl_log_s(ctl_logline *l, const char *key, const char *val)
{
    if (!l->on) return;
    vp_sb_printf(&l->sb, " %s=", key);
    put_value(&l->sb, val ? val : "");
}

void ctl_log_u(ctl_logline *l, const char *key, uint64_t val)
{
    if (l->on) vp_sb_printf(&l->sb, " %s=%" PRIu64, key, val);
}

void ctl_log_i(ctl_logline *l, const char *key, int64_t val)
{
    if (l->on) vp_sb_printf(&l->sb, " %s=%" PRId64, key, val);
}

void ctl_log_f(ctl_logline *l, const char *key, double val)
{
    if (l->on) vp_sb_printf(&l->sb, " %s=%.6g", key, val);
}

void ctl_log_end(ctl_logger *lg, ctl_logline *l)
{
    if (l->on && vp_sb_ok(&l->sb)) {
        pthread_mutex_lock(&lg->mu);
        lg->fn(lg->ud, l->level, vp_sb_str(&l->sb));
        pthread_mutex_unlock(&lg->mu);
    }
    vp_sb_free(&l->sb);
    l->on = false;
}
