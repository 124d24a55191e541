/* encode.c - a proto_msg into JSON text, framed or not.
 *
 * JSON is written by hand into a vp_sb: integers exactly, doubles with 17 significant digits so
 * they round-trip, strings escaped. proto_check runs first, so a bad message is caught at the
 * sender with the field named, and a failed encode leaves the caller's buffer as it was. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_int.h"

static void put_str(vp_sb *sb, const char *s)
{
    vp_sb_json_str(sb, s);
}

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

static void put_list(vp_sb *sb, const char *key, char *const *list, size_t n)
{
    if (n == 0) {
        vp_sb_printf(sb, ",\"%s\":null", key);
        return;
    }
    vp_sb_printf(sb, ",\"%s\":[", key);
    for (size_t i = 0; i < n; i++) {
        if (i) vp_sb_append(sb, ",", 1);
        put_str(sb, list[i]);
    }
    vp_sb_append(sb, "]", 1);
}

static void put_assign(const proto_assign *a, vp_sb *sb)
{
    put_key_str(sb, "id", a->id);
    if (a->rev[0]) put_key_str(sb, "rev", a->rev);
    put_key_str(sb, "model", a->model);
    vp_sb_printf(sb, ",\"replica\":%u", a->replica);
    put_gpus(sb, a->gpus, a->n_gpus);
    vp_sb_printf(sb, ",\"bytes_per_gpu\":%llu,\"fraction\":%.17g",
                 (unsigned long long)a->bytes_per_gpu, a->fraction);
    if (a->engine[0]) put_key_str(sb, "engine", a->engine);
    if (a->source[0]) put_key_str(sb, "source", a->source);
    put_list(sb, "command", a->command, a->n_command);
    if (a->n_engine_args) put_list(sb, "engine_args", a->engine_args, a->n_engine_args);
    if (a->max_seq_len)
        vp_sb_printf(sb, ",\"max_seq_len\":%llu", (unsigned long long)a->max_seq_len);
    if (a->max_batch) vp_sb_printf(sb, ",\"max_batch\":%llu", (unsigned long long)a->max_batch);
    if (a->kv_dtype[0]) put_key_str(sb, "kv_dtype", a->kv_dtype);
    if (a->kv_bytes) vp_sb_printf(sb, ",\"kv_bytes\":%llu", (unsigned long long)a->kv_bytes);
    if (a->pp > 1) vp_sb_printf(sb, ",\"pp\":%u,\"stage\":%u", a->pp, a->stage);
    if (a->ready_timeout_s) vp_sb_printf(sb, ",\"ready_timeout_s\":%u", a->ready_timeout_s);
    if (a->max_loras)
        vp_sb_printf(sb, ",\"max_loras\":%u,\"max_lora_rank\":%u", a->max_loras, a->max_lora_rank);
    if (a->draft[0]) put_key_str(sb, "draft", a->draft);
    if (a->spec_tokens) vp_sb_printf(sb, ",\"spec_tokens\":%u", a->spec_tokens);
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
        if (h->instance_type[0]) put_key_str(sb, "instance_type", h->instance_type);
        if (h->lease_ms) vp_sb_printf(sb, ",\"lease_ms\":%u", h->lease_ms);
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
            if (p->rev[0]) put_key_str(sb, "rev", p->rev);
            put_key_str(sb, "model", p->model);
            vp_sb_printf(sb, ",\"state\":\"%s\",\"pid\":%d,\"bytes_used\":%llu",
                         proto_state_name(p->state), (int)p->pid,
                         (unsigned long long)p->bytes_used);
            put_gpus(sb, p->gpus, p->n_gpus);
            if (p->port) vp_sb_printf(sb, ",\"port\":%u", p->port);
            if (p->failures) vp_sb_printf(sb, ",\"failures\":%u", p->failures);
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
        if (m->u.welcome.lease_ms) vp_sb_printf(sb, ",\"lease_ms\":%u", m->u.welcome.lease_ms);
        if (m->u.welcome.gpu_memory_utilization > 0)
            vp_sb_printf(sb, ",\"gpu_memory_utilization\":%.17g",
                         m->u.welcome.gpu_memory_utilization);
        break;
    case PROTO_ASSIGN:
        put_assign(&m->u.assign, sb);
        break;
    case PROTO_RELEASE:
        put_key_str(sb, "id", m->u.release.id);
        if (m->u.release.rev[0]) put_key_str(sb, "rev", m->u.release.rev);
        break;
    case PROTO_LEASE:
        vp_sb_printf(sb, ",\"seq\":%llu,\"lease_ms\":%u", (unsigned long long)m->u.lease.seq,
                     m->u.lease.lease_ms);
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
    TRY(proto_check(m, VP_EINPUT, e));
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
