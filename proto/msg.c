/* msg.c - protocol messages: names, ownership of their heap parts, and the one validator.
 *
 * One validator (proto_check) states what a well-formed message is; the decoder (decode.c) runs
 * it after copying a frame's fields (with VP_EPROTO: the peer broke the contract) and the encoder
 * (encode.c) before writing (with VP_EINPUT: our own caller built a bad message), so both sides
 * agree on the rules by construction. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_int.h"
#include "vp_json.h"

static const char *const type_names[] = {
    [PROTO_HELLO] = "hello",     [PROTO_REPORT] = "report", [PROTO_HEARTBEAT] = "heartbeat",
    [PROTO_WELCOME] = "welcome", [PROTO_ASSIGN] = "assign", [PROTO_RELEASE] = "release",
    [PROTO_ERROR] = "error",     [PROTO_LEASE] = "lease",
};

static const char *const state_names[] = {
    [PROTO_STARTING] = "starting",
    [PROTO_RUNNING] = "running",
    [PROTO_FAILED] = "failed",
    [PROTO_STOPPED] = "stopped",
};

const char *proto_type_name(proto_type t)
{
    if ((int)t >= PROTO_HELLO && (int)t <= PROTO_LAST) return type_names[t];
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

static void free_list(char ***list, size_t *n)
{
    if (*list)
        for (size_t i = 0; i < *n; i++)
            free((*list)[i]);
    free(*list);
    *list = NULL;
    *n = 0;
}

void proto_assign_free_parts(proto_assign *a)
{
    free_list(&a->command, &a->n_command);
    free_list(&a->engine_args, &a->n_engine_args);
}

void proto_msg_free(proto_msg *m)
{
    if (!m) return;
    if (m->type == PROTO_REPORT) free(m->u.report.placements);
    if (m->type == PROTO_ASSIGN) proto_assign_free_parts(&m->u.assign);
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

/* Copies argv[0..n) into a fresh heap list; *out NULL when n is 0. */
static int copy_list(const char *const *argv, size_t n, char ***out)
{
    *out = NULL;
    if (!argv) n = 0;
    if (n > PROTO_MAX_ARGV) return VP_ETOOBIG;
    for (size_t i = 0; i < n; i++)
        if (!argv[i] || strlen(argv[i]) >= PROTO_ARG_MAX) return VP_ETOOBIG;
    if (n == 0) return 0;
    char **list = calloc(n, sizeof *list);
    if (!list) return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (!(list[i] = strdup(argv[i]))) {
            free_list(&list, &i);
            return -ENOMEM;
        }
    *out = list;
    return 0;
}

int proto_assign_set_command(proto_assign *a, const char *const *argv, size_t n)
{
    char **list;
    int rc = copy_list(argv, n, &list);
    if (rc) return rc;
    free_list(&a->command, &a->n_command);
    a->command = list;
    a->n_command = list ? n : 0;
    return 0;
}

int proto_assign_set_engine_args(proto_assign *a, const char *const *argv, size_t n)
{
    char **list;
    int rc = copy_list(argv, n, &list);
    if (rc) return rc;
    free_list(&a->engine_args, &a->n_engine_args);
    a->engine_args = list;
    a->n_engine_args = list ? n : 0;
    return 0;
}

int proto_assign_copy(proto_assign *dst, const proto_assign *src)
{
    *dst = *src;
    dst->command = dst->engine_args = NULL;
    dst->n_command = dst->n_engine_args = 0;
    if (proto_assign_set_command(dst, (const char *const *)src->command, src->n_command) ||
        proto_assign_set_engine_args(dst, (const char *const *)src->engine_args,
                                     src->n_engine_args)) {
        proto_assign_free_parts(dst);
        memset(dst, 0, sizeof *dst);
        return -ENOMEM;
    }
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

static int check_hello(const proto_hello *h, int code, vp_err *e)
{
    TRY(check_name(h->node, sizeof h->node, true, "hello", "node", code, e));
    TRY(check_text(h->version, sizeof h->version, "hello", "version", code, e));
    TRY(check_text(h->token, sizeof h->token, "hello", "token", code, e));
    TRY(check_name(h->instance_type, sizeof h->instance_type, false, "hello", "instance_type", code,
                   e));
    if (h->lease_ms > PROTO_MAX_LEASE_MS)
        return vp_errf(e, code, "hello.lease_ms: must be an integer in [0, %u] (got %u)",
                       PROTO_MAX_LEASE_MS, h->lease_ms);
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
    TRY(check_name(p->rev, sizeof p->rev, false, ctx, "rev", code, e));
    TRY(check_name(p->model, sizeof p->model, false, ctx, "model", code, e));
    if (p->port > 65535)
        return vp_errf(e, code, "%s.port: must be an integer in [0, 65535] (got %u)", ctx, p->port);
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

static int check_list(char *const *list, size_t n, const char *key, int code, vp_err *e)
{
    if (n > PROTO_MAX_ARGV)
        return vp_errf(e, code, "assign.%s: more than %d items (got %zu)", key, PROTO_MAX_ARGV, n);
    if ((n == 0) != (list == NULL))
        return vp_errf(e, code, "assign.%s: count and array disagree", key);
    for (size_t i = 0; i < n; i++) {
        char k[40];
        snprintf(k, sizeof k, "%s[%zu]", key, i);
        if (!list[i]) return vp_errf(e, code, "assign.%s: missing", k);
        TRY(check_text(list[i], PROTO_ARG_MAX, "assign", k, code, e));
    }
    return 0;
}

/* Adapters come with their rank, and draft tokens with a draft. */
static int check_workload(const proto_assign *a, int code, vp_err *e)
{
    TRY(check_name(a->draft, sizeof a->draft, false, "assign", "draft", code, e));
    if ((a->max_loras == 0) != (a->max_lora_rank == 0))
        return vp_errf(e, code,
                       "assign.max_lora_rank: given with max_loras and only with it (max_loras "
                       "%u, max_lora_rank %u)",
                       a->max_loras, a->max_lora_rank);
    if (a->spec_tokens && !a->draft[0])
        return vp_errf(e, code, "assign.spec_tokens: only with a draft (got %u)", a->spec_tokens);
    return 0;
}

static int check_assign(const proto_assign *a, int code, vp_err *e)
{
    TRY(check_name(a->id, sizeof a->id, true, "assign", "id", code, e));
    TRY(check_name(a->rev, sizeof a->rev, false, "assign", "rev", code, e));
    TRY(check_name(a->model, sizeof a->model, true, "assign", "model", code, e));
    TRY(check_gpu_list(a->gpus, a->n_gpus, 1, "assign", code, e));
    if (a->bytes_per_gpu == 0 || a->bytes_per_gpu > VP_JSON_MAX_EXACT)
        return vp_errf(e, code, "assign.bytes_per_gpu: must be an integer in [1, %llu]",
                       (unsigned long long)VP_JSON_MAX_EXACT);
    TRY(check_fraction(a->fraction, false, "assign", "fraction", code, e));
    TRY(check_name(a->engine, sizeof a->engine, false, "assign", "engine", code, e));
    TRY(check_name(a->source, sizeof a->source, false, "assign", "source", code, e));
    TRY(check_list(a->command, a->n_command, "command", code, e));
    if (a->n_command > 0 && a->command[0][0] == '\0')
        return vp_errf(e, code, "assign.command[0]: the program must not be empty");
    TRY(check_list(a->engine_args, a->n_engine_args, "engine_args", code, e));
    TRY(check_name(a->kv_dtype, sizeof a->kv_dtype, false, "assign", "kv_dtype", code, e));
    const struct {
        const char *key;
        uint64_t v, max;
    } nums[] = {{"max_seq_len", a->max_seq_len, VP_JSON_MAX_EXACT},
                {"max_batch", a->max_batch, VP_JSON_MAX_EXACT},
                {"kv_bytes", a->kv_bytes, VP_JSON_MAX_EXACT},
                {"pp", a->pp, PROTO_MAX_PP},
                {"ready_timeout_s", a->ready_timeout_s, PROTO_MAX_READY_S},
                {"max_loras", a->max_loras, PROTO_MAX_LORAS},
                {"max_lora_rank", a->max_lora_rank, PROTO_MAX_LORA_RANK},
                {"spec_tokens", a->spec_tokens, PROTO_MAX_SPEC_TOKENS}};
    for (size_t i = 0; i < VP_ARRAY_LEN(nums); i++)
        if (nums[i].v > nums[i].max)
            return vp_errf(e, code, "assign.%s: must be at most %llu (got %llu)", nums[i].key,
                           (unsigned long long)nums[i].max, (unsigned long long)nums[i].v);
    if (a->stage >= (a->pp > 1 ? a->pp : 1))
        return vp_errf(e, code, "assign.stage: must be below pp (%u) (got %u)", a->pp, a->stage);
    return check_workload(a, code, e);
}

int proto_check(const proto_msg *m, int code, vp_err *e)
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
        if (m->u.welcome.lease_ms > PROTO_MAX_LEASE_MS)
            return vp_errf(e, code, "welcome.lease_ms: must be an integer in [0, %u] (got %u)",
                           PROTO_MAX_LEASE_MS, m->u.welcome.lease_ms);
        return check_fraction(m->u.welcome.gpu_memory_utilization, true, "welcome",
                              "gpu_memory_utilization", code, e);
    case PROTO_ASSIGN:
        return check_assign(&m->u.assign, code, e);
    case PROTO_RELEASE:
        TRY(check_name(m->u.release.id, sizeof m->u.release.id, true, "release", "id", code, e));
        return check_name(m->u.release.rev, sizeof m->u.release.rev, false, "release", "rev", code,
                          e);
    case PROTO_LEASE:
        if (m->u.lease.seq > VP_JSON_MAX_EXACT)
            return vp_errf(e, code, "lease.seq: must be at most %llu",
                           (unsigned long long)VP_JSON_MAX_EXACT);
        if (m->u.lease.lease_ms < 1 || m->u.lease.lease_ms > PROTO_MAX_LEASE_MS)
            return vp_errf(e, code, "lease.lease_ms: must be an integer in [1, %u] (got %u)",
                           PROTO_MAX_LEASE_MS, m->u.lease.lease_ms);
        return 0;
    case PROTO_ERROR:
        TRY(check_name(m->u.error.code, sizeof m->u.error.code, true, "error", "code", code, e));
        TRY(check_text(m->u.error.message, sizeof m->u.error.message, "error", "message", code, e));
        return check_name(m->u.error.id, sizeof m->u.error.id, false, "error", "id", code, e);
    }
    return vp_errf(e, code, "type: unknown message type %d", (int)m->type);
}
