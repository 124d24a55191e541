/* log.c - the agent's log lines: `ts=... level=... msg="..." key=value ...`, one per event.
 *
 * A line is formatted whole into a local buffer and written with one fputs, so lines from a
 * worker's forwarded output and the agent never interleave mid-line. Values that contain spaces,
 * quotes, '=' or control characters are quoted and escaped by agent_q. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent_int.h"

static const char *level_name(int level)
{
    switch (level) {
    case AGENT_LOG_DEBUG:
        return "debug";
    case AGENT_LOG_INFO:
        return "info";
    case AGENT_LOG_WARN:
        return "warn";
    default:
        return "error";
    }
}

int agent_log_level_parse(const char *s, int *level)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {
        {"debug", AGENT_LOG_DEBUG},  {"info", AGENT_LOG_INFO},   {"warn", AGENT_LOG_WARN},
        {"warning", AGENT_LOG_WARN}, {"error", AGENT_LOG_ERROR},
    };
    for (size_t i = 0; s && i < VP_ARRAY_LEN(names); i++)
        if (!strcmp(s, names[i].name)) {
            *level = names[i].level;
            return 0;
        }
    return VP_EINPUT;
}

/* Writes s into out (cap bytes), quoted and escaped when it is empty or holds a space, a quote,
 * '=', a backslash or a control character; returns out. */
static char *quote_into(char *out, size_t cap, const char *s)
{
    if (!s) s = "";
    bool plain = *s != '\0';
    for (const char *p = s; *p; p++)
        if (*p == ' ' || *p == '"' || *p == '=' || *p == '\\' || (unsigned char)*p < 0x20)
            plain = false;
    if (plain) {
        snprintf(out, cap, "%s", s);
        return out;
    }
    size_t o = 0;
    out[o++] = '"';
    for (const char *p = s; *p && o + 6 < cap; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

const char *agent_q(const char *s)
{
    /* A ring, so one log call can quote several values; agent_log itself does not use it. */
    static _Thread_local char ring[8][768];
    static _Thread_local unsigned next;
    char *out = ring[next++ % 8];
    return quote_into(out, sizeof ring[0], s);
}

void agent_log(struct agent *a, int level, const char *msg, const char *fmt, ...)
{
    if (level < a->log_level) return;
    char line[2048], node[160], qmsg[256], kv[1536];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    kv[0] = '\0';
    if (fmt && *fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(kv, sizeof kv, fmt, ap);
        va_end(ap);
    }
    snprintf(line, sizeof line,
             "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s node=%s msg=%s%s%s\n",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             ts.tv_nsec / 1000000, level_name(level), quote_into(node, sizeof node, a->node),
             quote_into(qmsg, sizeof qmsg, msg), kv[0] ? " " : "", kv);
    size_t len = strlen(line);
    if (len == sizeof line - 1 && line[len - 1] != '\n') line[len - 1] = '\n';
    fputs(line, a->log);
    fflush(a->log);
}
