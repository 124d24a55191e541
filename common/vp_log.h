/* vp_log.h - the daemons' one logger: one line per event, `key=value`.
 *
 *   ts=2026-05-07T10:00:00.123Z level=warn msg=node_lost node=gpu-3 silent_ms=3012
 *
 * Fields, in order: ts (UTC, milliseconds), level (debug|info|warn|error), msg (what happened),
 * the logger's fixed fields (the agent adds node=NAME), then the event's own. A value that is
 * empty or holds a space, a quote, '=', a backslash or a control byte is written in double
 * quotes with \" \\ \n and \xNN escapes, so a name or message chosen by a peer can neither forge
 * a field nor start a line. A line is built whole and handed to the sink under the logger's
 * mutex, so lines from several threads never interleave.
 *
 * Libraries never print: the controller and the agent log through a vp_log whose sink the
 * command line chooses (vp_log_write_file writes to a FILE *). */
#ifndef VP_LOG_H
#define VP_LOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vp.h"

/* INFO is 0, so a zeroed config logs at info. */
enum { VP_LOG_DEBUG = -1, VP_LOG_INFO = 0, VP_LOG_WARN = 1, VP_LOG_ERROR = 2 };

/* Receives one complete line without its newline. Called with the logger's mutex held. */
typedef void (*vp_log_fn)(void *ud, int level, const char *line);

typedef struct vp_log {
    int level;    /* lines below it are dropped */
    vp_log_fn fn; /* NULL: nothing is logged */
    void *ud;
    char fields[320];   /* fixed " key=value" fields written after msg on every line */
    pthread_mutex_t mu; /* serialises calls to fn */
} vp_log;

/* One line under construction: vp_log_begin, the adders, vp_log_end. */
typedef struct vp_logline {
    vp_sb sb;
    int level;
    bool on; /* false when the level is filtered out: the adders do nothing */
} vp_logline;

/* Paired: init before any line, close after the last (no line may be in flight). */
void vp_log_init(vp_log *lg, int level, vp_log_fn fn, void *ud);
void vp_log_close(vp_log *lg);
/* Adds a fixed field to every later line (e.g. node=NAME); call before lines are logged. A field
 * that does not fit the remaining room is dropped. */
void vp_log_add_field(vp_log *lg, const char *key, const char *val);

/* Starts a line; false (and nothing to end) when the level is filtered out. */
bool vp_log_begin(const vp_log *lg, vp_logline *l, int level, const char *msg);
void vp_log_s(vp_logline *l, const char *key, const char *val); /* NULL val logs "" */
void vp_log_u(vp_logline *l, const char *key, uint64_t val);
void vp_log_i(vp_logline *l, const char *key, int64_t val);
void vp_log_f(vp_logline *l, const char *key, double val);
/* Hands the line to the sink and frees it. Safe on a line whose begin returned false. */
void vp_log_end(vp_log *lg, vp_logline *l);

/* One line in one call: fmt (may be NULL) formats the event's " key=value" fields, whose string
 * values the caller passes through vp_log_q when they may need quoting. */
void vp_logf(vp_log *lg, int level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* s quoted and escaped for a value when it needs it, in one of eight rotating thread-local
 * buffers of 768 bytes (valid until eight more calls on the thread; longer values are cut). */
const char *vp_log_q(const char *s);

/* "debug", "info", "warn", "error" ("?" for anything else). */
const char *vp_log_level_name(int level);
/* debug|info|warn|warning|error -> VP_LOG_*: 0, or VP_EINPUT (level untouched). */
int vp_log_level_parse(const char *s, int *level);

/* A sink: writes the line and a newline to ud (a FILE *; NULL: stderr) and flushes. */
void vp_log_write_file(void *ud, int level, const char *line);

#endif
