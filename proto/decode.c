/* decode.c - a frame's JSON payload into a proto_msg.
 *
 * The payload is parsed with cJSON, every field is copied into the fixed-size or heap parts of
 * proto_msg and the tree is dropped, so no cJSON pointer leaves this file. Fields this version
 * does not know are ignored (a newer peer may add optional ones); after copying, proto_check
 * decides whether the message is well formed. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_int.h"
#include "vp_json.h"

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
    TRY(get_str(j, "instance_type", "hello", false, h->instance_type, sizeof h->instance_type, e));
    uint64_t lease = 0;
    TRY(get_u64(j, "lease_ms", "hello", false, 0, PROTO_MAX_LEASE_MS, &lease, e));
    h->lease_ms = (uint32_t)lease;
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
    TRY(get_str(c, "rev", ctx, false, p->rev, sizeof p->rev, e));
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
    v = 0;
    TRY(get_u64(c, "port", ctx, false, 0, 65535, &v, e));
    p->port = (uint32_t)v;
    v = 0;
    TRY(get_u64(c, "failures", ctx, false, 0, UINT32_MAX, &v, e));
    p->failures = (uint32_t)v;
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

/* An optional array of strings (null or absent: none) into a heap list. */
static int decode_list(const cJSON *j, const char *key, char ***out, size_t *n_out, vp_err *e)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!it || cJSON_IsNull(it)) return 0;
    const cJSON *arr;
    size_t n;
    TRY(get_array(j, key, "assign", PROTO_MAX_ARGV, &arr, &n, e));
    if (n == 0) return 0;
    *out = calloc(n, sizeof **out);
    if (!*out) return vp_errf(e, -ENOMEM, "assign.%s: out of memory", key);
    *n_out = n;
    size_t i = 0;
    for (const cJSON *c = arr->child; c; c = c->next, i++) {
        if (!cJSON_IsString(c) || !c->valuestring)
            return vp_errf(e, VP_EPROTO, "assign.%s[%zu]: must be a string", key, i);
        if (strlen(c->valuestring) >= PROTO_ARG_MAX)
            return vp_errf(e, VP_EPROTO, "assign.%s[%zu]: longer than %d bytes", key, i,
                           PROTO_ARG_MAX - 1);
        (*out)[i] = strdup(c->valuestring);
        if (!(*out)[i]) return vp_errf(e, -ENOMEM, "assign.%s: out of memory", key);
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

/* LoRA adapters and a speculative draft (optional; proto_check relates them). */
static int decode_workload(const cJSON *j, proto_assign *a, vp_err *e)
{
    const struct {
        const char *key;
        uint64_t max;
        uint32_t *out;
    } nums[] = {{"max_loras", PROTO_MAX_LORAS, &a->max_loras},
                {"max_lora_rank", PROTO_MAX_LORA_RANK, &a->max_lora_rank},
                {"spec_tokens", PROTO_MAX_SPEC_TOKENS, &a->spec_tokens}};
    for (size_t i = 0; i < VP_ARRAY_LEN(nums); i++) {
        uint64_t v = 0;
        TRY(get_u64(j, nums[i].key, "assign", false, 0, nums[i].max, &v, e));
        *nums[i].out = (uint32_t)v;
    }
    return get_str(j, "draft", "assign", false, a->draft, sizeof a->draft, e);
}

static int decode_assign(const cJSON *j, proto_assign *a, vp_err *e)
{
    TRY(get_str(j, "id", "assign", true, a->id, sizeof a->id, e));
    TRY(get_str(j, "rev", "assign", false, a->rev, sizeof a->rev, e));
    TRY(get_str(j, "model", "assign", true, a->model, sizeof a->model, e));
    uint64_t v = 0;
    TRY(get_u64(j, "replica", "assign", true, 0, UINT32_MAX, &v, e));
    a->replica = (uint32_t)v;
    TRY(get_gpu_list(j, "assign", a->gpus, &a->n_gpus, e));
    TRY(get_u64(j, "bytes_per_gpu", "assign", true, 1, VP_JSON_MAX_EXACT, &a->bytes_per_gpu, e));
    TRY(get_fraction(j, "fraction", "assign", true, &a->fraction, e));
    TRY(get_str(j, "engine", "assign", false, a->engine, sizeof a->engine, e));
    TRY(get_str(j, "source", "assign", false, a->source, sizeof a->source, e));
    TRY(decode_list(j, "command", &a->command, &a->n_command, e));
    if (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "command")) && !a->n_command)
        return vp_errf(e, VP_EPROTO, "assign.command: must be null or a non-empty array");
    TRY(decode_list(j, "engine_args", &a->engine_args, &a->n_engine_args, e));
    TRY(get_u64(j, "max_seq_len", "assign", false, 0, VP_JSON_MAX_EXACT, &a->max_seq_len, e));
    TRY(get_u64(j, "max_batch", "assign", false, 0, VP_JSON_MAX_EXACT, &a->max_batch, e));
    TRY(get_str(j, "kv_dtype", "assign", false, a->kv_dtype, sizeof a->kv_dtype, e));
    TRY(get_u64(j, "kv_bytes", "assign", false, 0, VP_JSON_MAX_EXACT, &a->kv_bytes, e));
    v = 0;
    TRY(get_u64(j, "pp", "assign", false, 0, PROTO_MAX_PP, &v, e));
    a->pp = (uint32_t)v;
    v = 0;
    TRY(get_u64(j, "stage", "assign", false, 0, PROTO_MAX_PP, &v, e));
    a->stage = (uint32_t)v;
    v = 0;
    TRY(get_u64(j, "ready_timeout_s", "assign", false, 0, PROTO_MAX_READY_S, &v, e));
    a->ready_timeout_s = (uint32_t)v;
    return decode_workload(j, a, e);
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
        v = 0;
        TRY(get_u64(j, "lease_ms", "welcome", false, 0, PROTO_MAX_LEASE_MS, &v, e));
        m->u.welcome.lease_ms = (uint32_t)v;
        return get_fraction(j, "gpu_memory_utilization", "welcome", false,
                            &m->u.welcome.gpu_memory_utilization, e);
    case PROTO_ASSIGN:
        return decode_assign(j, &m->u.assign, e);
    case PROTO_RELEASE:
        TRY(get_str(j, "id", "release", true, m->u.release.id, sizeof m->u.release.id, e));
        return get_str(j, "rev", "release", false, m->u.release.rev, sizeof m->u.release.rev, e);
    case PROTO_LEASE:
        TRY(get_u64(j, "seq", "lease", true, 0, VP_JSON_MAX_EXACT, &m->u.lease.seq, e));
        TRY(get_u64(j, "lease_ms", "lease", true, 1, PROTO_MAX_LEASE_MS, &v, e));
        m->u.lease.lease_ms = (uint32_t)v;
        return 0;
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
    for (int i = PROTO_HELLO; i <= PROTO_LAST; i++)
        if (!strcmp(t->valuestring, proto_type_name((proto_type)i))) out->type = (proto_type)i;
    if (!out->type) {
        char shown[40];
        snprintf(shown, sizeof shown, "%s", t->valuestring);
        for (char *p = shown; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
        rc = vp_errf(e, VP_EPROTO, "frame.type: unknown message type \"%s\"", shown);
        goto out;
    }
    rc = decode_body(j, out, e);
    if (!rc) rc = proto_check(out, VP_EPROTO, e);
out:
    cJSON_Delete(j);
    if (rc) proto_msg_free(out);
    return rc;
}

