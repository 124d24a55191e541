/* msg.c - protocol messages: JSON decode into proto_msg, validation, and JSON encode.
 *
 * Decoding parses the payload with cJSON, copies every field into the fixed-size or heap parts
 * of proto_msg and drops the tree, so no cJSON pointer ever leaves this file. One validator
 * (check_msg) states what a well-formed message is; the decoder runs it after copying (with
 * VP_EPROTO: the peer broke the contract) and the encoder before writing (with VP_EINPUT: our
 * own caller built a bad message), so both sides agree on the rules by construction. Encoding
 * writes JSON by hand into a vp_sb: integers exactly, doubles with 17 significant digits so they
 * round-trip, strings escaped. */
#include "proto.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vp_json.h"

static const char *const type_names[] = {
    [PROTO_HELLO] = "hello",     [PROTO_REPORT] = "report", [PROTO_HEARTBEAT] = "heartbeat",
    [PROTO_WELCOME] = "welcome", [PROTO_ASSIGN] = "assign", [PROTO_RELEASE] = "release",
    [PROTO_ERROR] = "error",
};

static const char *const state_names[] = {
    [PROTO_STARTING] = "starting",
    [PROTO_RUNNING] = "running",
    [PROTO_FAILED] = "failed",
    [PROTO_STOPPED] = "stopped",
};

const char *proto_type_name(proto_type t)
{
    if ((int)t >= PROTO_HELLO && (int)t <= PROTO_ERROR) return type_names[t];
    return "?";
}

const char *proto_state_name(proto_state s)
{
    if ((int)s >= PROTO_STARTING && (int)s <= PROTO_STOPPED) return state_names[s];
    return "?";
}

int proto_state_parse(const char *s, proto_state *out)
{
    for (int i = PROTO_STARTING; i <= PROTO_STOPPED; i++)
        if (s && !strcmp(s, state_names[i])) {
            *out = (proto_state)i;
            return 0;
        }
    return VP_EINPUT;
}

void proto_msg_init(proto_msg *m, proto_type type)
{
    memset(m, 0, sizeof *m);
    m->type = type;
}

static void free_command(proto_assign *a)
{
    if (a->command)
        for (size_t i = 0; i < a->n_command; i++)
            free(a->command[i]);
    free(a->command);
    a->command = NULL;
    a->n_command = 0;
}

void proto_msg_free(proto_msg *m)
{
    if (!m) return;
    if (m->type == PROTO_REPORT) free(m->u.report.placements);
    if (m->type == PROTO_ASSIGN) free_command(&m->u.assign);
    memset(m, 0, sizeof *m);
}

int proto_report_add(proto_report *r, const proto_placement *p)
{
    if (r->n_placements >= PROTO_MAX_PLACEMENTS) return VP_ETOOBIG;
    if (r->n_placements == r->cap_placements) {
        size_t cap = r->cap_placements ? r->cap_placements * 2 : 8;
        if (cap > PROTO_MAX_PLACEMENTS) cap = PROTO_MAX_PLACEMENTS;
        proto_placement *np = realloc(r->placements, cap * sizeof *np);
        if (!np) return -ENOMEM;
        r->placements = np;
        r->cap_placements = cap;
    }
    r->placements[r->n_placements++] = *p;
    return 0;
}

int proto_assign_set_command(proto_assign *a, const char *const *argv, size_t n)
{
    if (!argv) n = 0;
    if (n > PROTO_MAX_ARGV) return VP_ETOOBIG;
    for (size_t i = 0; i < n; i++)
        if (!argv[i] || strlen(argv[i]) >= PROTO_ARG_MAX) return VP_ETOOBIG;
    char **cmd = NULL;
    if (n > 0) {
        cmd = calloc(n, sizeof *cmd);
        if (!cmd) return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
            cmd[i] = strdup(argv[i]);
            if (!cmd[i]) {
                for (size_t j = 0; j < i; j++)
                    free(cmd[j]);
                free(cmd);
                return -ENOMEM;
            }
        }
    }
    free_command(a);
    a->command = cmd;
    a->n_command = n;
    return 0;
}

/* ---- validation (shared by decoder and encoder) ------------------------------------------ */

/* A name that appears in logs and file names: bounded, non-empty when required, no control
 * characters. */
static int check_name(const char *s, size_t cap, bool required, const char *ctx, const char *key,
                      int code, vp_err *e)
{
    size_t n = strnlen(s, cap);
    if (n >= cap) return vp_errf(e, code, "%s.%s: longer than %zu bytes", ctx, key, cap - 1);
    if (required && n == 0) return vp_errf(e, code, "%s.%s: must not be empty", ctx, key);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return vp_errf(e, code, "%s.%s: contains a control character", ctx, key);
    return 0;
}

static int check_text(const char *s, size_t cap, const char *ctx, const char *key, int code,
                      vp_err *e)
{
    if (strnlen(s, cap) >= cap)
        return vp_errf(e, code, "%s.%s: longer than %zu bytes", ctx, key, cap - 1);
    return 0;
}

static int check_gpu_list(const uint8_t *gpus, int n, int min, const char *ctx, int code, vp_err *e)
{
    if (n < min || n > PROTO_MAX_GPUS)
        return vp_errf(e, code, "%s.gpus: must have %d to %d entries (got %d)", ctx, min,
                       PROTO_MAX_GPUS, n);
    unsigned seen = 0;
    for (int i = 0; i < n; i++) {
        if (gpus[i] >= PROTO_MAX_GPUS)
            return vp_errf(e, code, "%s.gpus[%d]: must be an integer in [0, %d] (got %u)", ctx, i,
                           PROTO_MAX_GPUS - 1, gpus[i]);
        if (seen & (1u << gpus[i]))
            return vp_errf(e, code, "%s.gpus[%d]: GPU %u is listed twice", ctx, i, gpus[i]);
        seen |= 1u << gpus[i];
    }
    return 0;
}

static int check_fraction(double f, bool zero_ok, const char *ctx, const char *key, int code,
                          vp_err *e)
{
    if (zero_ok && f == 0) return 0;
    if (!isfinite(f) || f <= 0 || f > 1)
        return vp_errf(e, code, "%s.%s: must be a number in (0, 1] (got %g)", ctx, key, f);
    return 0;
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_) return rc_;                                                                       \
    } while (0)

static int check_hello(const proto_hello *h, int code, vp_err *e)
{
    TRY(check_name(h->node, sizeof h->node, true, "hello", "node", code, e));
    TRY(check_text(h->version, sizeof h->version, "hello", "version", code, e));
    TRY(check_text(h->token, sizeof h->token, "hello", "token", code, e));
    if (h->n_gpus < 0 || h->n_gpus > PROTO_MAX_GPUS)
        return vp_errf(e, code, "hello.gpus: must have 0 to %d entries (got %d)", PROTO_MAX_GPUS,
                       h->n_gpus);
    unsigned seen = 0;
    for (int i = 0; i < h->n_gpus; i++) {
        const proto_gpu *g = &h->gpus[i];
        char ctx[32];
        snprintf(ctx, sizeof ctx, "hello.gpus[%d]", i);
        if (g->index >= PROTO_MAX_GPUS)
            return vp_errf(e, code, "%s.index: must be an integer in [0, %d] (got %u)", ctx,
                           PROTO_MAX_GPUS - 1, g->index);
        if (seen & (1u << g->index))
            return vp_errf(e, code, "%s.index: GPU %u is listed twice", ctx, g->index);
        seen |= 1u << g->index;
        TRY(check_name(g->uuid, sizeof g->uuid, false, ctx, "uuid", code, e));
        TRY(check_name(g->model, sizeof g->model, true, ctx, "model", code, e));
        if (g->total_bytes == 0 || g->total_bytes > VP_JSON_MAX_EXACT)
            return vp_errf(e, code, "%s.total_bytes: must be an integer in [1, %llu]", ctx,
                           (unsigned long long)VP_JSON_MAX_EXACT);
    }
    return 0;
}

static int check_placement(const proto_placement *p, size_t i, int code, vp_err *e)
{
    char ctx[48];
    snprintf(ctx, sizeof ctx, "report.placements[%zu]", i);
    TRY(check_name(p->id, sizeof p->id, true, ctx, "id", code, e));
    TRY(check_name(p->model, sizeof p->model, false, ctx, "model", code, e));
    if ((int)p->state < PROTO_STARTING || (int)p->state > PROTO_STOPPED)
        return vp_errf(e, code, "%s.state: unknown state %d", ctx, (int)p->state);
    if (p->pid < 0 || p->pid > PROTO_MAX_PID)
        return vp_errf(e, code, "%s.pid: must be an integer in [0, %d] (got %d)", ctx,
                       PROTO_MAX_PID, (int)p->pid);
    if (p->bytes_used > VP_JSON_MAX_EXACT)
        return vp_errf(e, code, "%s.bytes_used: must be at most %llu", ctx,
                       (unsigned long long)VP_JSON_MAX_EXACT);
    TRY(check_gpu_list(p->gpus, p->n_gpus, 0, ctx, code, e));
    TRY(check_text(p->error, sizeof p->error, ctx, "error", code, e));
    return 0;
}

static int check_msg(const proto_msg *m, int code, vp_err *e)
{
    switch (m->type) {
    case PROTO_HELLO:
        return check_hello(&m->u.hello, code, e);
    case PROTO_REPORT: {
        const proto_report *r = &m->u.report;
        TRY(check_name(r->node, sizeof r->node, true, "report", "node", code, e));
        if (r->n_placements > PROTO_MAX_PLACEMENTS)
            return vp_errf(e, code, "report.placements: more than %d entries (got %zu)",
                           PROTO_MAX_PLACEMENTS, r->n_placements);
        if (r->n_placements > 0 && !r->placements)
            return vp_errf(e, code, "report.placements: missing array");
        for (size_t i = 0; i < r->n_placements; i++)
            TRY(check_placement(&r->placements[i], i, code, e));
        return 0;
    }
    case PROTO_HEARTBEAT:
        TRY(check_name(m->u.heartbeat.node, sizeof m->u.heartbeat.node, true, "heartbeat", "node",
                       code, e));
        if (m->u.heartbeat.seq > VP_JSON_MAX_EXACT)
            return vp_errf(e, code, "heartbeat.seq: must be at most %llu",
                           (unsigned long long)VP_JSON_MAX_EXACT);
        return 0;
    case PROTO_WELCOME:
        if (m->u.welcome.heartbeat_ms < 1 || m->u.welcome.heartbeat_ms > PROTO_MAX_HEARTBEAT_MS)
            return vp_errf(e, code, "welcome.heartbeat_ms: must be an integer in [1, %u] (got %u)",
                           PROTO_MAX_HEARTBEAT_MS, m->u.welcome.heartbeat_ms);
        return check_fraction(m->u.welcome.gpu_memory_utilization, true, "welcome",
                              "gpu_memory_utilization", code, e);
    case PROTO_ASSIGN: {
        const proto_assign *a = &m->u.assign;
        TRY(check_name(a->id, sizeof a->id, true, "assign", "id", code, e));
        TRY(check_name(a->model, sizeof a->model, true, "assign", "model", code, e));
        TRY(check_gpu_list(a->gpus, a->n_gpus, 1, "assign", code, e));
        if (a->bytes_per_gpu == 0 || a->bytes_per_gpu > VP_JSON_MAX_EXACT)
            return vp_errf(e, code, "assign.bytes_per_gpu: must be an integer in [1, %llu]",
                           (unsigned long long)VP_JSON_MAX_EXACT);
        if (a->n_command > PROTO_MAX_ARGV)
            return vp_errf(e, code, "assign.command: more than %d items (got %zu)", PROTO_MAX_ARGV,
                           a->n_command);
        if ((a->n_command == 0) != (a->command == NULL))
            return vp_errf(e, code, "assign.command: count and array disagree");
        for (size_t i = 0; i < a->n_command; i++) {
            char key[32];
            snprintf(key, sizeof key, "command[%zu]", i);
            if (!a->command[i]) return vp_errf(e, code, "assign.%s: missing", key);
            TRY(check_text(a->command[i], PROTO_ARG_MAX, "assign", key, code, e));
        }
        if (a->n_command > 0 && a->command[0][0] == '\0')
            return vp_errf(e, code, "assign.command[0]: the program must not be empty");
        TRY(check_fraction(a->fraction, false, "assign", "fraction", code, e));
        if (a->port > 65535)
            return vp_errf(e, code, "assign.port: must be an integer in [0, 65535] (got %u)",
                           a->port);
        return 0;
    }
    case PROTO_RELEASE:
        return check_name(m->u.release.id, sizeof m->u.release.id, true, "release", "id", code, e);
    case PROTO_ERROR:
        TRY(check_name(m->u.error.code, sizeof m->u.error.code, true, "error", "code", code, e));
        TRY(check_text(m->u.error.message, sizeof m->u.error.message, "error", "message", code, e));
        return check_name(m->u.error.id, sizeof m->u.error.id, false, "error", "id", code, e);
    }
    return vp_errf(e, code, "type: unknown message type %d", (int)m->type);
}

/* ---- decoding ------------------------------------------------------------------------------ */

/* vp_json getters report bad fields as VP_EINPUT; on the wire that is a protocol error. */
static int proto_rc(int rc)
{
    return rc == VP_EINPUT || rc == VP_EPARSE ? VP_EPROTO : rc;
}

/* Copies a string field: absent or null leaves "" unless required; over-long is refused rather
 * than truncated (a truncated id would name another placement). */
static int get_str(const cJSON *obj, const char *key, const char *ctx, bool required, char *out,
                   size_t cap, vp_err *e)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    out[0] = '\0';
    if (!it || cJSON_IsNull(it)) {
        if (required) return vp_errf(e, VP_EPROTO, "%s.%s: missing", ctx, key);
        return 0;
    }
    if (!cJSON_IsString(it) || !it->valuestring)
        return vp_errf(e, VP_EPROTO, "%s.%s: must be a string", ctx, key);
    size_t n = strlen(it->valuestring);
    if (n >= cap) return vp_errf(e, VP_EPROTO, "%s.%s: longer than %zu bytes", ctx, key, cap - 1);
    memcpy(out, it->valuestring, n + 1);
    return 0;
}

static int get_u64(const cJSON *obj, const char *key, const char *ctx, bool required, uint64_t min,
                   uint64_t max, uint64_t *out, vp_err *e)
{
    int rc = vp_json_u64(obj, key, ctx, required, min, max, out, e);
    if (rc == 1) return 0;
    if (rc) {
        if (e) e->code = proto_rc(rc);
        return proto_rc(rc);
    }
    return 0;
}

static int get_array(const cJSON *obj, const char *key, const char *ctx, size_t max,
                     const cJSON **out, size_t *n, vp_err *e)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it) return vp_errf(e, VP_EPROTO, "%s.%s: missing", ctx, key);
    if (!cJSON_IsArray(it)) return vp_errf(e, VP_EPROTO, "%s.%s: must be an array", ctx, key);
    /* Count without walking past the cap: a hostile array is refused after max+1 steps. */
    size_t count = 0;
    for (const cJSON *c = it->child; c; c = c->next)
        if (++count > max)
            return vp_errf(e, VP_EPROTO, "%s.%s: more than %zu entries", ctx, key, max);
    *out = it;
    *n = count;
    return 0;
}

static int get_gpu_list(const cJSON *obj, const char *ctx, uint8_t *gpus, int *n, vp_err *e)
{
    const cJSON *arr;
    size_t count;
    TRY(get_array(obj, "gpus", ctx, PROTO_MAX_GPUS, &arr, &count, e));
    int i = 0;
    for (const cJSON *c = arr->child; c; c = c->next, i++) {
        double d = cJSON_IsNumber(c) ? c->valuedouble : -1;
        if (!cJSON_IsNumber(c) || !isfinite(d) || d != floor(d) || d < 0 || d > PROTO_MAX_GPUS - 1)
            return vp_errf(e, VP_EPROTO, "%s.gpus[%d]: must be an integer in [0, %d]", ctx, i,
                           PROTO_MAX_GPUS - 1);
        gpus[i] = (uint8_t)d;
    }
    *n = i;
    return 0;
}

static int get_object(const cJSON *it, const char *ctx, vp_err *e)
{
    if (!cJSON_IsObject(it)) return vp_errf(e, VP_EPROTO, "%s: must be an object", ctx);
    return 0;
}

static int decode_hello(const cJSON *j, proto_hello *h, vp_err *e)
{
    TRY(get_str(j, "node", "hello", true, h->node, sizeof h->node, e));
    TRY(get_str(j, "version", "hello", false, h->version, sizeof h->version, e));
    TRY(get_str(j, "token", "hello", false, h->token, sizeof h->token, e));
    const cJSON *arr;
    size_t n;
    TRY(get_array(j, "gpus", "hello", PROTO_MAX_GPUS, &arr, &n, e));
    int i = 0;
    for (const cJSON *c = arr->child; c; c = c->next, i++) {
        char ctx[32];
        snprintf(ctx, sizeof ctx, "hello.gpus[%d]", i);
        proto_gpu *g = &h->gpus[i];
        TRY(get_object(c, ctx, e));
        uint64_t v = 0;
        TRY(get_u64(c, "index", ctx, true, 0, PROTO_MAX_GPUS - 1, &v, e));
        g->index = (uint32_t)v;
        TRY(get_str(c, "uuid", ctx, false, g->uuid, sizeof g->uuid, e));
        TRY(get_str(c, "model", ctx, true, g->model, sizeof g->model, e));
        TRY(get_u64(c, "total_bytes", ctx, true, 1, VP_JSON_MAX_EXACT, &g->total_bytes, e));
    }
    h->n_gpus = i;
    return 0;
}

static int decode_placement(const cJSON *c, size_t i, proto_placement *p, vp_err *e)
{
    char ctx[48];
    snprintf(ctx, sizeof ctx, "report.placements[%zu]", i);
    TRY(get_object(c, ctx, e));
    TRY(get_str(c, "id", ctx, true, p->id, sizeof p->id, e));
    TRY(get_str(c, "model", ctx, false, p->model, sizeof p->model, e));
    char state[16];
    TRY(get_str(c, "state", ctx, true, state, sizeof state, e));
    if (proto_state_parse(state, &p->state))
        return vp_errf(e, VP_EPROTO,
                       "%s.state: must be starting, running, failed or stopped (got \"%s\")", ctx,
                       state);
    uint64_t v = 0;
    TRY(get_u64(c, "pid", ctx, false, 0, PROTO_MAX_PID, &v, e));
    p->pid = (int32_t)v;
    TRY(get_u64(c, "bytes_used", ctx, false, 0, VP_JSON_MAX_EXACT, &p->bytes_used, e));
    if (cJSON_GetObjectItemCaseSensitive(c, "gpus"))
        TRY(get_gpu_list(c, ctx, p->gpus, &p->n_gpus, e));
    TRY(get_str(c, "error", ctx, false, p->error, sizeof p->error, e));
    return 0;
}

static int decode_report(const cJSON *j, proto_report *r, vp_err *e)
{
    TRY(get_str(j, "node", "report", true, r->node, sizeof r->node, e));
    const cJSON *arr;
    size_t n;
    TRY(get_array(j, "placements", "report", PROTO_MAX_PLACEMENTS, &arr, &n, e));
    if (n == 0) return 0;
    r->placements = calloc(n, sizeof *r->placements);
    if (!r->placements) return vp_errf(e, -ENOMEM, "report.placements: out of memory");
    r->cap_placements = n;
    size_t i = 0;
    for (const cJSON *c = arr->child; c; c = c->next, i++) {
        TRY(decode_placement(c, i, &r->placements[i], e));
        r->n_placements = i + 1;
    }
    return 0;
}

static int decode_command(const cJSON *j, proto_assign *a, vp_err *e)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, "command");
    if (!it || cJSON_IsNull(it)) return 0;
    const cJSON *arr;
    size_t n;
    TRY(get_array(j, "command", "assign", PROTO_MAX_ARGV, &arr, &n, e));
    if (n == 0) return vp_errf(e, VP_EPROTO, "assign.command: must be null or a non-empty array");
    a->command = calloc(n, sizeof *a->command);
    if (!a->command) return vp_errf(e, -ENOMEM, "assign.command: out of memory");
    a->n_command = n;
    size_t i = 0;
    for (const cJSON *c = arr->child; c; c = c->next, i++) {
        if (!cJSON_IsString(c) || !c->valuestring)
            return vp_errf(e, VP_EPROTO, "assign.command[%zu]: must be a string", i);
        if (strlen(c->valuestring) >= PROTO_ARG_MAX)
            return vp_errf(e, VP_EPROTO, "assign.command[%zu]: longer than %d bytes", i,
                           PROTO_ARG_MAX - 1);
        a->command[i] = strdup(c->valuestring);
        if (!a->command[i]) return vp_errf(e, -ENOMEM, "assign.command: out of memory");
    }
    return 0;
}

static int get_fraction(const cJSON *j, const char *key, const char *ctx, bool required,
                        double *out, vp_err *e)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!it || cJSON_IsNull(it)) {
        if (required) return vp_errf(e, VP_EPROTO, "%s.%s: missing", ctx, key);
        return 0;
    }
    if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) || it->valuedouble <= 0 ||
        it->valuedouble > 1)
        return vp_errf(e, VP_EPROTO, "%s.%s: must be a number in (0, 1]", ctx, key);
    *out = it->valuedouble;
    return 0;
}

static int decode_assign(const cJSON *j, proto_assign *a, vp_err *e)
{
    TRY(get_str(j, "id", "assign", true, a->id, sizeof a->id, e));
    TRY(get_str(j, "model", "assign", true, a->model, sizeof a->model, e));
    uint64_t v = 0;
    TRY(get_u64(j, "replica", "assign", true, 0, UINT32_MAX, &v, e));
    a->replica = (uint32_t)v;
    TRY(get_gpu_list(j, "assign", a->gpus, &a->n_gpus, e));
    TRY(get_u64(j, "bytes_per_gpu", "assign", true, 1, VP_JSON_MAX_EXACT, &a->bytes_per_gpu, e));
    TRY(decode_command(j, a, e));
    TRY(get_fraction(j, "fraction", "assign", true, &a->fraction, e));
    v = 0;
    TRY(get_u64(j, "port", "assign", false, 0, 65535, &v, e));
    a->port = (uint32_t)v;
    return 0;
}

static int decode_body(const cJSON *j, proto_msg *m, vp_err *e)
{
    uint64_t v = 0;
    switch (m->type) {
    case PROTO_HELLO:
        return decode_hello(j, &m->u.hello, e);
    case PROTO_REPORT:
        return decode_report(j, &m->u.report, e);
    case PROTO_HEARTBEAT:
        TRY(get_str(j, "node", "heartbeat", true, m->u.heartbeat.node, sizeof m->u.heartbeat.node,
                    e));
        return get_u64(j, "seq", "heartbeat", true, 0, VP_JSON_MAX_EXACT, &m->u.heartbeat.seq, e);
    case PROTO_WELCOME:
        TRY(get_u64(j, "heartbeat_ms", "welcome", true, 1, PROTO_MAX_HEARTBEAT_MS, &v, e));
        m->u.welcome.heartbeat_ms = (uint32_t)v;
        return get_fraction(j, "gpu_memory_utilization", "welcome", false,
                            &m->u.welcome.gpu_memory_utilization, e);
    case PROTO_ASSIGN:
        return decode_assign(j, &m->u.assign, e);
    case PROTO_RELEASE:
        return get_str(j, "id", "release", true, m->u.release.id, sizeof m->u.release.id, e);
    case PROTO_ERROR:
        TRY(get_str(j, "code", "error", true, m->u.error.code, sizeof m->u.error.code, e));
        TRY(get_str(j, "message", "error", false, m->u.error.message, sizeof m->u.error.message,
                    e));
        return get_str(j, "id", "error", false, m->u.error.id, sizeof m->u.error.id, e);
    }
    return vp_errf(e, VP_EPROTO, "type: unknown message type");
}

int proto_msg_decode(const uint8_t *payload, size_t len, proto_msg *out, vp_err *e)
{
    memset(out, 0, sizeof *out);
    if (len > PROTO_MAX_FRAME)
        return vp_errf(e, VP_ETOOBIG, "frame: %zu bytes, over the %u-byte limit", len,
                       PROTO_MAX_FRAME);
    if (len == 0) return vp_errf(e, VP_EPROTO, "frame: empty payload");
    cJSON *j = NULL;
    int rc = vp_json_parse((const char *)payload, len, "frame", &j, e);
    if (rc) {
        if (e) e->code = VP_EPROTO;
        return VP_EPROTO;
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return vp_errf(e, VP_EPROTO, "frame: must be a JSON object");
    }
    /* Version first: a peer speaking another version may use other types and fields, and the
     * caller wants to answer that with a clear "version" error. */
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "v");
    if (!v) {
        rc = vp_errf(e, VP_EPROTO, "frame.v: missing protocol version");
        goto out;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != PROTO_VERSION) {
        if (cJSON_IsNumber(v))
            rc = vp_errf(e, VP_EPROTO,
                         "frame.v: unsupported protocol version %g (this side speaks %d)",
                         v->valuedouble, PROTO_VERSION);
        else
            rc = vp_errf(e, VP_EPROTO, "frame.v: must be the integer %d", PROTO_VERSION);
        goto out;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (!t) {
        rc = vp_errf(e, VP_EPROTO, "frame.type: missing");
        goto out;
    }
    if (!cJSON_IsString(t) || !t->valuestring) {
        rc = vp_errf(e, VP_EPROTO, "frame.type: must be a string");
        goto out;
    }
    for (int i = PROTO_HELLO; i <= PROTO_ERROR; i++)
        if (!strcmp(t->valuestring, type_names[i])) out->type = (proto_type)i;
    if (!out->type) {
        char shown[40];
        snprintf(shown, sizeof shown, "%s", t->valuestring);
        for (char *p = shown; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
        rc = vp_errf(e, VP_EPROTO, "frame.type: unknown message type \"%s\"", shown);
        goto out;
    }
    rc = decode_body(j, out, e);
    if (!rc) rc = check_msg(out, VP_EPROTO, e);
out:
    cJSON_Delete(j);
    if (rc) proto_msg_free(out);
    return rc;
}

/* ---- encoding ------------------------------------------------------------------------------ */

static void put_str(vp_sb *sb, const char *s) { vp_sb_json_str(sb, s); }

static void put_key_str(vp_sb *sb, const char *key, const char *val)
{
    vp_sb_printf(sb, ",\"%s\":", key);
    put_str(sb, val);
}

static void put_gpus(vp_sb *sb, const uint8_t *gpus, int n)
{
    vp_sb_append(sb, ",\"gpus\":[", 9);
    for (int i = 0; i < n; i++)
        vp_sb_printf(sb, "%s%u", i ? "," : "", gpus[i]);
    vp_sb_append(sb, "]", 1);
}

static void put_body(const proto_msg *m, vp_sb *sb)
{
    vp_sb_printf(sb, "{\"type\":\"%s\",\"v\":%d", proto_type_name(m->type), PROTO_VERSION);
    switch (m->type) {
    case PROTO_HELLO: {
        const proto_hello *h = &m->u.hello;
        put_key_str(sb, "node", h->node);
        put_key_str(sb, "version", h->version);
        put_key_str(sb, "token", h->token);
        vp_sb_append(sb, ",\"gpus\":[", 9);
        for (int i = 0; i < h->n_gpus; i++) {
            const proto_gpu *g = &h->gpus[i];
            vp_sb_printf(sb, "%s{\"index\":%u", i ? "," : "", g->index);
            put_key_str(sb, "uuid", g->uuid);
            put_key_str(sb, "model", g->model);
            vp_sb_printf(sb, ",\"total_bytes\":%llu}", (unsigned long long)g->total_bytes);
        }
        vp_sb_append(sb, "]", 1);
        break;
    }
    case PROTO_REPORT: {
        const proto_report *r = &m->u.report;
        put_key_str(sb, "node", r->node);
        vp_sb_append(sb, ",\"placements\":[", 15);
        for (size_t i = 0; i < r->n_placements; i++) {
            const proto_placement *p = &r->placements[i];
            vp_sb_append(sb, i ? ",{\"id\":" : "{\"id\":", i ? 7 : 6);
            put_str(sb, p->id);
            put_key_str(sb, "model", p->model);
            vp_sb_printf(sb, ",\"state\":\"%s\",\"pid\":%d,\"bytes_used\":%llu",
                         proto_state_name(p->state), (int)p->pid,
                         (unsigned long long)p->bytes_used);
            put_gpus(sb, p->gpus, p->n_gpus);
            put_key_str(sb, "error", p->error);
            vp_sb_append(sb, "}", 1);
        }
        vp_sb_append(sb, "]", 1);
        break;
    }
    case PROTO_HEARTBEAT:
        put_key_str(sb, "node", m->u.heartbeat.node);
        vp_sb_printf(sb, ",\"seq\":%llu", (unsigned long long)m->u.heartbeat.seq);
        break;
    case PROTO_WELCOME:
        vp_sb_printf(sb, ",\"heartbeat_ms\":%u", m->u.welcome.heartbeat_ms);
        if (m->u.welcome.gpu_memory_utilization > 0)
            vp_sb_printf(sb, ",\"gpu_memory_utilization\":%.17g",
                         m->u.welcome.gpu_memory_utilization);
        break;
    case PROTO_ASSIGN: {
        const proto_assign *a = &m->u.assign;
        put_key_str(sb, "id", a->id);
        put_key_str(sb, "model", a->model);
        vp_sb_printf(sb, ",\"replica\":%u", a->replica);
        put_gpus(sb, a->gpus, a->n_gpus);
        vp_sb_printf(sb, ",\"bytes_per_gpu\":%llu", (unsigned long long)a->bytes_per_gpu);
        if (a->n_command == 0) {
            vp_sb_append(sb, ",\"command\":null", 15);
        } else {
            vp_sb_append(sb, ",\"command\":[", 12);
            for (size_t i = 0; i < a->n_command; i++) {
                if (i) vp_sb_append(sb, ",", 1);
                put_str(sb, a->command[i]);
            }
            vp_sb_append(sb, "]", 1);
        }
        vp_sb_printf(sb, ",\"fraction\":%.17g", a->fraction);
        if (a->port) vp_sb_printf(sb, ",\"port\":%u", a->port);
        break;
    }
    case PROTO_RELEASE:
        put_key_str(sb, "id", m->u.release.id);
        break;
    case PROTO_ERROR:
        put_key_str(sb, "code", m->u.error.code);
        put_key_str(sb, "message", m->u.error.message);
        if (m->u.error.id[0]) put_key_str(sb, "id", m->u.error.id);
        break;
    }
    vp_sb_append(sb, "}", 1);
}

/* Puts sb back to `len` bytes after a failure, so the caller's buffer never holds half a
 * message. */
static void rewind_sb(vp_sb *sb, size_t len)
{
    sb->oom = 0;
    sb->len = len;
    if (sb->buf) sb->buf[len] = '\0';
}

static int encode(const proto_msg *m, vp_sb *out, bool framed, vp_err *e)
{
    TRY(check_msg(m, VP_EINPUT, e));
    if (out->oom) return vp_errf(e, -ENOMEM, "%s: out of memory", proto_type_name(m->type));
    size_t start = out->len;
    if (framed) vp_sb_append(out, "\0\0\0\0", PROTO_HEADER_BYTES);
    put_body(m, out);
    if (!vp_sb_ok(out)) {
        rewind_sb(out, start);
        return vp_errf(e, -ENOMEM, "%s: out of memory", proto_type_name(m->type));
    }
    size_t n = out->len - start - (framed ? PROTO_HEADER_BYTES : 0);
    if (n > PROTO_MAX_FRAME) {
        rewind_sb(out, start);
        return vp_errf(e, VP_ETOOBIG, "%s: %zu bytes of JSON, over the %u-byte frame limit",
                       proto_type_name(m->type), n, PROTO_MAX_FRAME);
    }
    if (framed) {
        unsigned char *h = (unsigned char *)out->buf + start;
        h[0] = (unsigned char)(n >> 24);
        h[1] = (unsigned char)(n >> 16);
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
    }
    return 0;
}

int proto_msg_encode(const proto_msg *m, vp_sb *out, vp_err *e)
{
    return encode(m, out, true, e);
}

int proto_msg_to_json(const proto_msg *m, vp_sb *out, vp_err *e)
{
    return encode(m, out, false, e);
}

int proto_msg_encode_alloc(const proto_msg *m, uint8_t **frame, size_t *len, vp_err *e)
{
    vp_sb sb = {0};
    int rc = encode(m, &sb, true, e);
    if (rc) {
        vp_sb_free(&sb);
        return rc;
    }
    *len = sb.len;
    *frame = (uint8_t *)vp_sb_steal(&sb);
    return 0;
}
