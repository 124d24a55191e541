/* conn.c - the agent's connection to the controller: connect, hello, heartbeats, reconnect.
 *
 * States: IDLE (reconnect timer running) -> RESOLVING -> CONNECTING -> HELLO_SENT -> READY.
 * Every failure on the way, and any drop later, closes the connection and arms the reconnect
 * timer with exponential backoff (reconnect_min_ms doubling to reconnect_max_ms) and "equal
 * jitter" (a delay uniformly drawn from [d/2, d]), so a fleet of agents that lost the same
 * controller does not come back in lockstep. The backoff resets once a welcome arrives. A
 * deadline timer bounds the connect and the wait for the welcome (a black-holed address would
 * otherwise hang for minutes). The full report goes out right after the welcome and then on
 * every change, coalesced through a zero-delay timer so a burst of changes sends one report. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_int.h"

#define CONNECT_DEADLINE_MS 10000
#define WRITE_QUEUE_LIMIT (16u << 20) /* a controller this far behind is treated as gone */

static void schedule_reconnect(struct agent *a);
static void start_resolve(struct agent *a);

static uint64_t rng_next(struct agent *a)
{
    /* xorshift64*: the jitter only needs to differ between agents, not to be secret. */
    a->rng ^= a->rng >> 12;
    a->rng ^= a->rng << 25;
    a->rng ^= a->rng >> 27;
    return a->rng * 2685821657736338717ULL;
}

bool agent_conn_ready(const struct agent *a)
{
    return a->cstate == CONN_READY && a->conn && !a->conn->closing;
}

static void conn_closed(uv_handle_t *h)
{
    agent_conn *c = h->data;
    proto_reader_free(&c->reader);
    struct agent *a = c->a;
    free(c);
    a->handles_closing--;
    agent_maybe_finish(a);
}

/* Drops the current connection (if any) and, unless the agent is stopping, arms a reconnect. */
static void drop(struct agent *a, const char *why)
{
    agent_conn *c = a->conn;
    uv_timer_stop(&a->deadline_timer);
    uv_timer_stop(&a->heartbeat_timer);
    if (c && !c->closing) {
        c->closing = true;
        a->handles_closing++;
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
    }
    a->conn = NULL;
    if (why)
        vp_logf(&a->log, a->cstate == CONN_READY ? VP_LOG_WARN : VP_LOG_INFO,
                "disconnected from controller", "controller=%s:%s reason=%s", a->host, a->port,
                vp_log_q(why));
    a->cstate = CONN_IDLE;
    if (!a->stopping) schedule_reconnect(a);
}

void agent_conn_drop(struct agent *a, const char *why)
{
    if (a->conn) drop(a, why);
}

static void write_done(uv_write_t *req, int status)
{
    agent_conn *c = req->data;
    free(req);
    if (status < 0 && !c->closing && c->a->conn == c) drop(c->a, uv_strerror(status));
}

int agent_conn_send(struct agent *a, const proto_msg *m)
{
    agent_conn *c = a->conn;
    if (!c || c->closing) return VP_ESTATE;
    vp_err e = {0};
    uint8_t *frame;
    size_t len;
    int rc = proto_msg_encode_alloc(m, &frame, &len, &e);
    if (rc) {
        vp_logf(&a->log, VP_LOG_ERROR, "cannot encode message", "type=%s error=%s",
                proto_type_name(m->type), vp_log_q(e.msg));
        return rc;
    }
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > WRITE_QUEUE_LIMIT) {
        free(frame);
        drop(a, "controller is not reading (write queue full)");
        return VP_ESTATE;
    }
    /* One allocation holds the request and the bytes, freed together in write_done. */
    uv_write_t *req = malloc(sizeof *req + len);
    if (!req) {
        free(frame);
        return -ENOMEM;
    }
    memcpy(req + 1, frame, len);
    free(frame);
    req->data = c;
    uv_buf_t buf = uv_buf_init((char *)(req + 1), (unsigned)len);
    rc = uv_write(req, (uv_stream_t *)&c->tcp, &buf, 1, write_done);
    if (rc) {
        free(req);
        drop(a, uv_strerror(rc));
        return rc;
    }
    vp_logf(&a->log, VP_LOG_DEBUG, "sent", "type=%s bytes=%zu", proto_type_name(m->type), len);
    return 0;
}

static void send_report(struct agent *a)
{
    if (!agent_conn_ready(a)) return;
    proto_msg m;
    if (agent_build_report(a, &m) == 0) agent_conn_send(a, &m);
    proto_msg_free(&m);
}

static void on_report_timer(uv_timer_t *t)
{
    send_report(t->data);
}

void agent_report_soon(struct agent *a)
{
    if (!agent_conn_ready(a) || a->stopping) return;
    if (!uv_is_active((uv_handle_t *)&a->report_timer))
        uv_timer_start(&a->report_timer, on_report_timer, 0, 0);
}

static void on_heartbeat(uv_timer_t *t)
{
    struct agent *a = t->data;
    proto_msg m;
    proto_msg_init(&m, PROTO_HEARTBEAT);
    snprintf(m.u.heartbeat.node, sizeof m.u.heartbeat.node, "%s", a->node);
    m.u.heartbeat.seq = ++a->hb_seq;
    a->hb_sent[a->hb_seq % VP_ARRAY_LEN(a->hb_sent)] = uv_now(&a->loop);
    agent_conn_send(a, &m);
}

static void on_welcome(struct agent *a, const proto_welcome *w)
{
    if (a->cstate != CONN_HELLO_SENT) {
        vp_logf(&a->log, VP_LOG_WARN, "unexpected welcome; ignored", NULL);
        return;
    }
    uv_timer_stop(&a->deadline_timer);
    a->cstate = CONN_READY;
    a->reconnect_ms = a->reconnect_min_ms;
    a->failed_attempts = 0;
    a->heartbeat_ms = w->heartbeat_ms;
    a->lease_ms = a->lease_cfg_ms;
    if (w->lease_ms && w->lease_ms < a->lease_ms) a->lease_ms = w->lease_ms;
    agent_lease_renew(a, a->hello_sent);
    if (w->gpu_memory_utilization > 0) {
        uint32_t ppm = (uint32_t)(w->gpu_memory_utilization * 1e6 + 0.5);
        if (ppm != a->util_ppm)
            vp_logf(&a->log, VP_LOG_INFO, "controller sets GPU memory utilisation",
                    "gpu_memory_utilization=%.6f", ppm / 1e6);
        a->util_ppm = ppm;
    }
    vp_logf(&a->log, VP_LOG_INFO, "connected to controller",
            "controller=%s:%s heartbeat_ms=%u lease_ms=%u", a->host, a->port, a->heartbeat_ms,
            a->lease_ms);
    a->hb_seq = 0;
    uv_timer_start(&a->heartbeat_timer, on_heartbeat, a->heartbeat_ms, a->heartbeat_ms);
    send_report(a);
}

static void dispatch(struct agent *a, const proto_msg *m)
{
    vp_logf(&a->log, VP_LOG_DEBUG, "received", "type=%s", proto_type_name(m->type));
    switch (m->type) {
    case PROTO_WELCOME:
        on_welcome(a, &m->u.welcome);
        break;
    case PROTO_ASSIGN:
        agent_on_assign(a, &m->u.assign);
        break;
    case PROTO_RELEASE:
        agent_on_release(a, m->u.release.id, m->u.release.rev);
        break;
    case PROTO_LEASE: {
        /* The lease runs from when the answered heartbeat left, not from now. */
        uint64_t seq = m->u.lease.seq;
        if (a->cstate != CONN_READY || seq == 0 || seq > a->hb_seq ||
            a->hb_seq - seq >= VP_ARRAY_LEN(a->hb_sent))
            break;
        agent_lease_renew(a, a->hb_sent[seq % VP_ARRAY_LEN(a->hb_sent)]);
        break;
    }
    case PROTO_ERROR:
        vp_logf(&a->log, VP_LOG_ERROR, "controller reports an error", "code=%s message=%s%s%s",
                vp_log_q(m->u.error.code), vp_log_q(m->u.error.message),
                m->u.error.id[0] ? " placement=" : "", m->u.error.id);
        /* Refused at the door: the controller closes too; try again later. */
        if (!strcmp(m->u.error.code, PROTO_CODE_AUTH) ||
            !strcmp(m->u.error.code, PROTO_CODE_VERSION))
            drop(a, m->u.error.code);
        break;
    default: {
        /* Agent-bound traffic only; anything else means the peer is confused. */
        proto_msg err;
        proto_msg_init(&err, PROTO_ERROR);
        snprintf(err.u.error.code, sizeof err.u.error.code, PROTO_CODE_PROTOCOL);
        snprintf(err.u.error.message, sizeof err.u.error.message,
                 "agent does not accept %s messages", proto_type_name(m->type));
        agent_conn_send(a, &err);
        break;
    }
    }
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static _Thread_local char chunk[65536];
    (void)h;
    (void)suggested;
    buf->base = chunk;
    buf->len = sizeof chunk;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    agent_conn *c = s->data;
    struct agent *a = c->a;
    if (c->closing || a->conn != c) return;
    if (n < 0) {
        drop(a, n == UV_EOF ? "controller closed the connection" : uv_strerror((int)n));
        return;
    }
    if (proto_reader_feed(&c->reader, buf->base, (size_t)n) != 0) {
        drop(a, "out of memory");
        return;
    }
    for (;;) {
        proto_msg m;
        vp_err e = {0};
        int rc = proto_reader_next(&c->reader, &m, &e);
        if (rc == VP_EAGAIN) break;
        if (rc) {
            vp_logf(&a->log, VP_LOG_ERROR, "bad frame from controller", "error=%s",
                    vp_log_q(e.msg));
            drop(a, "protocol error");
            return;
        }
        dispatch(a, &m);
        proto_msg_free(&m);
        if (a->conn != c) return; /* dispatch dropped the connection */
    }
}

static void send_hello(struct agent *a)
{
    proto_msg m;
    proto_msg_init(&m, PROTO_HELLO);
    proto_hello *h = &m.u.hello;
    snprintf(h->node, sizeof h->node, "%s", a->node);
    snprintf(h->version, sizeof h->version, "0.1.0");
    snprintf(h->token, sizeof h->token, "%s", a->token);
    snprintf(h->instance_type, sizeof h->instance_type, "%s", a->instance_type);
    h->n_gpus = a->n_gpus;
    h->lease_ms = a->lease_cfg_ms;
    memcpy(h->gpus, a->gpus, sizeof(proto_gpu) * (size_t)a->n_gpus);
    a->hello_sent = uv_now(&a->loop);
    if (agent_conn_send(a, &m) == 0) a->cstate = CONN_HELLO_SENT;
}

static void try_next_addr(struct agent *a);

static void on_connect(uv_connect_t *req, int status)
{
    agent_conn *c = req->data;
    struct agent *a = c->a;
    if (c->closing || a->conn != c) return;
    if (status < 0) {
        vp_logf(&a->log, VP_LOG_DEBUG, "connect failed", "controller=%s:%s error=%s", a->host,
                a->port, uv_strerror(status));
        c->closing = true;
        a->handles_closing++;
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
        a->conn = NULL;
        try_next_addr(a);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, 10);
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
    send_hello(a);
}

static void on_deadline(uv_timer_t *t)
{
    struct agent *a = t->data;
    drop(a,
         a->cstate == CONN_HELLO_SENT ? "no welcome from controller in time" : "connect timed out");
}

static void try_next_addr(struct agent *a)
{
    if (a->stopping) return;
    if (!a->next_addr) {
        if (a->addrs) uv_freeaddrinfo(a->addrs);
        a->addrs = NULL;
        /* Info once per outage, debug for every retry after that. */
        a->failed_attempts++;
        vp_logf(&a->log, a->failed_attempts > 1 ? VP_LOG_DEBUG : VP_LOG_INFO,
                "controller unreachable", "controller=%s:%s attempts=%u", a->host, a->port,
                a->failed_attempts);
        a->cstate = CONN_IDLE;
        uv_timer_stop(&a->deadline_timer);
        schedule_reconnect(a);
        return;
    }
    struct addrinfo *ai = a->next_addr;
    a->next_addr = ai->ai_next;
    agent_conn *c = calloc(1, sizeof *c);
    if (!c) {
        try_next_addr(a);
        return;
    }
    c->a = a;
    uv_tcp_init(&a->loop, &c->tcp);
    c->tcp.data = c;
    c->req.data = c;
    a->conn = c;
    a->cstate = CONN_CONNECTING;
    /* Bounds this attempt's connect and the wait for the welcome (not the resolve, which the
     * resolver's own timeouts bound, and whose request cannot be reused while in flight). */
    uv_timer_start(&a->deadline_timer, on_deadline, CONNECT_DEADLINE_MS, 0);
    int rc = uv_tcp_connect(&c->req, &c->tcp, ai->ai_addr, on_connect);
    if (rc) {
        c->closing = true;
        a->handles_closing++;
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
        a->conn = NULL;
        try_next_addr(a);
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct agent *a = req->data;
    a->handles_closing--; /* the request counted as pending work for shutdown */
    if (a->stopping) {
        if (res) uv_freeaddrinfo(res);
        agent_maybe_finish(a);
        return;
    }
    if (status < 0) {
        vp_logf(&a->log, VP_LOG_WARN, "cannot resolve controller", "host=%s error=%s",
                vp_log_q(a->host), uv_strerror(status));
        a->cstate = CONN_IDLE;
        schedule_reconnect(a);
        return;
    }
    if (a->addrs) uv_freeaddrinfo(a->addrs);
    a->addrs = res;
    a->next_addr = res;
    try_next_addr(a);
}

static void start_resolve(struct agent *a)
{
    if (a->stopping) return;
    a->cstate = CONN_RESOLVING;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    a->gai.data = a;
    a->handles_closing++;
    int rc = uv_getaddrinfo(&a->loop, &a->gai, on_resolved, a->host, a->port, &hints);
    if (rc) {
        a->handles_closing--;
        vp_logf(&a->log, VP_LOG_WARN, "cannot resolve controller", "host=%s error=%s",
                vp_log_q(a->host), uv_strerror(rc));
        a->cstate = CONN_IDLE;
        schedule_reconnect(a);
    }
}

static void on_reconnect_timer(uv_timer_t *t)
{
    start_resolve(t->data);
}

static void schedule_reconnect(struct agent *a)
{
    uint32_t d = a->reconnect_ms ? a->reconnect_ms : a->reconnect_min_ms;
    uint32_t jittered = d / 2 + (uint32_t)(rng_next(a) % (d / 2 + 1));
    a->reconnect_ms = d >= a->reconnect_max_ms / 2 ? a->reconnect_max_ms : d * 2;
    vp_logf(&a->log, VP_LOG_DEBUG, "reconnect scheduled", "delay_ms=%u", jittered);
    uv_timer_start(&a->reconnect_timer, on_reconnect_timer, jittered, 0);
}

void agent_conn_start(struct agent *a)
{
    a->reconnect_ms = a->reconnect_min_ms;
    a->rng = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
    if (!a->rng) a->rng = 1;
    start_resolve(a);
}

void agent_conn_shutdown(struct agent *a)
{
    uv_timer_stop(&a->reconnect_timer);
    uv_timer_stop(&a->report_timer);
    if (a->cstate == CONN_RESOLVING) uv_cancel((uv_req_t *)&a->gai);
    drop(a, NULL);
    if (a->addrs) uv_freeaddrinfo(a->addrs);
    a->addrs = a->next_addr = NULL;
}
