/* session.c - agent sessions on the loop thread: accept, read, frames in, frames out, close.
 *
 * Every TCP connection on the agents' port gets a proto_reader; whole frames are handled as they
 * complete, partial ones wait. The first frame must be a hello carrying the token (compared in
 * constant time); anything else, an oversize or malformed frame, or a wrong token gets one error
 * frame and the connection is shut down; other sessions never notice. A hello registers (or
 * revives) its node; a report replaces the node's observed state and triggers its reconcile;
 * any frame counts as a sign of life.
 *
 * Before its hello is accepted a connection may hold at most PRE_AUTH_BYTES (a hello is about
 * 200 bytes), one address at most PRE_AUTH_PER_IP such connections, and refusals are logged as
 * warnings at most once a minute per address (debug lines after that): a flood of
 * unauthenticated connections costs a socket and a few KiB each, and a bounded log. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_internal.h"

#define MAX_WRITE_QUEUE (64u << 20) /* an agent that reads slower than this is dropped */
#define PRE_AUTH_BYTES 4096         /* buffered before a hello is accepted */
#define PRE_AUTH_PER_IP 32          /* connections of one address without an accepted hello */
#define WARN_EVERY_MS 60000         /* one refusal warning per address per minute */
#define HB_PERSIST_MS 10000         /* heartbeat times reach the store at most this often */

/* ---- sending ---- */

typedef struct wreq {
    uv_write_t req;
    uint8_t *buf;
} wreq;

static void on_write(uv_write_t *req, int status)
{
    wreq *w = (wreq *)req;
    ctl_session *s = req->handle->data;
    free(w->buf);
    free(w);
    if (status < 0 && status != UV_ECANCELED && !s->closing) ctl_sess_close(s, uv_strerror(status));
}

int ctl_sess_send(ctl_session *s, const proto_msg *m)
{
    if (s->closing) return VP_ESTATE;
    ctl *c = s->c;
    uint8_t *frame;
    size_t len;
    vp_err e = {0};
    int rc = proto_msg_encode_alloc(m, &frame, &len, &e);
    if (rc) {
        vp_logline l;
        if (vp_log_begin(&c->log, &l, VP_LOG_ERROR, "encode_failed")) {
            vp_log_s(&l, "type", proto_type_name(m->type));
            vp_log_s(&l, "error", e.msg);
            vp_log_end(&c->log, &l);
        }
        return rc;
    }
    if (uv_stream_get_write_queue_size((uv_stream_t *)&s->tcp) > MAX_WRITE_QUEUE) {
        free(frame);
        ctl_sess_close(s, "agent does not read its frames");
        return VP_ESTATE;
    }
    wreq *w = malloc(sizeof *w);
    if (!w) {
        free(frame);
        return -ENOMEM;
    }
    w->buf = frame;
    uv_buf_t b = uv_buf_init((char *)frame, (unsigned)len);
    rc = uv_write(&w->req, (uv_stream_t *)&s->tcp, &b, 1, on_write);
    if (rc) {
        free(frame);
        free(w);
        ctl_sess_close(s, uv_strerror(rc));
    }
    return rc;
}

/* ---- session lifetime ---- */

static void on_closed(uv_handle_t *h)
{
    ctl_session *s = h->data;
    ctl *c = s->c;
    if (s->prev)
        s->prev->next = s->next;
    else
        c->sessions = s->next;
    if (s->next) s->next->prev = s->prev;
    proto_reader_free(&s->rd);
    free(s);
}

static void detach(ctl_session *s)
{
    ctl *c = s->c;
    ctl_node *n = s->node;
    if (!n) return;
    pthread_mutex_lock(&c->mu);
    if (n->sess == s) {
        n->sess = NULL;
        n->reported = false;
        n->n_sent = 0;
        c->n_agents--;
    }
    pthread_mutex_unlock(&c->mu);
    s->node = NULL;
}

void ctl_sess_close(ctl_session *s, const char *why)
{
    if (s->closing) return;
    ctl *c = s->c;
    s->closing = true;
    vp_logline l;
    if (vp_log_begin(&c->log, &l, s->node ? VP_LOG_INFO : VP_LOG_DEBUG, "agent_disconnected")) {
        if (s->node) vp_log_s(&l, "node", s->node->name);
        vp_log_s(&l, "peer", s->peer);
        vp_log_s(&l, "reason", why);
        vp_log_end(&c->log, &l);
    }
    detach(s);
    uv_read_stop((uv_stream_t *)&s->tcp);
    uv_close((uv_handle_t *)&s->tcp, on_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    uv_close((uv_handle_t *)req->handle, on_closed);
    free(req);
}

/* WARN for the first refusal of an address in a minute, DEBUG for the rest. */
static int refusal_level(ctl *c, const char *ip)
{
    uint64_t now = uv_now(&c->loop);
    size_t oldest = 0;
    for (size_t i = 0; i < VP_ARRAY_LEN(c->warned); i++) {
        if (!strcmp(c->warned[i].ip, ip)) {
            if (now - c->warned[i].at < WARN_EVERY_MS) return VP_LOG_DEBUG;
            c->warned[i].at = now;
            return VP_LOG_WARN;
        }
        if (c->warned[i].at < c->warned[oldest].at) oldest = i;
    }
    snprintf(c->warned[oldest].ip, sizeof c->warned[oldest].ip, "%s", ip);
    c->warned[oldest].at = now;
    return VP_LOG_WARN;
}

/* Sends one error frame, then closes once it is written: the peer learns why. */
void ctl_sess_fail(ctl_session *s, const char *code, const char *message)
{
    if (s->closing) return;
    ctl *c = s->c;
    proto_msg m;
    proto_msg_init(&m, PROTO_ERROR);
    snprintf(m.u.error.code, sizeof m.u.error.code, "%s", code);
    snprintf(m.u.error.message, sizeof m.u.error.message, "%s", message);
    ctl_sess_send(s, &m);
    proto_msg_free(&m);
    if (s->closing) return;
    s->closing = true;
    pthread_mutex_lock(&c->mu);
    c->frames_rejected++;
    pthread_mutex_unlock(&c->mu);
    vp_logline l;
    if (vp_log_begin(&c->log, &l, s->node ? VP_LOG_WARN : refusal_level(c, s->ip),
                     "agent_refused")) {
        if (s->node) vp_log_s(&l, "node", s->node->name);
        vp_log_s(&l, "peer", s->peer);
        vp_log_s(&l, "code", code);
        vp_log_s(&l, "error", message);
        vp_log_end(&c->log, &l);
    }
    detach(s);
    uv_read_stop((uv_stream_t *)&s->tcp);
    uv_shutdown_t *req = malloc(sizeof *req);
    if (!req || uv_shutdown(req, (uv_stream_t *)&s->tcp, on_shutdown)) {
        free(req);
        uv_close((uv_handle_t *)&s->tcp, on_closed);
    }
}

/* ---- frames ---- */

static int gpu_cmp(const void *a, const void *b)
{
    const ctl_gpu *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

static void handle_hello(ctl_session *s, proto_hello *h)
{
    ctl *c = s->c;
    if (s->node) {
        ctl_sess_fail(s, PROTO_CODE_PROTOCOL, "hello: already received on this connection");
        return;
    }
    if (c->cfg.agent_token[0] && !proto_token_equal(h->token, c->cfg.agent_token)) {
        pthread_mutex_lock(&c->mu);
        c->auth_failures++;
        pthread_mutex_unlock(&c->mu);
        ctl_sess_fail(s, PROTO_CODE_AUTH, h->token[0] ? "wrong token" : "missing token");
        return;
    }
    ctl_gpu gpus[PROTO_MAX_GPUS];
    memset(gpus, 0, sizeof gpus);
    for (int i = 0; i < h->n_gpus; i++) {
        gpus[i].index = h->gpus[i].index;
        snprintf(gpus[i].model, sizeof gpus[i].model, "%s", h->gpus[i].model);
        snprintf(gpus[i].uuid, sizeof gpus[i].uuid, "%s", h->gpus[i].uuid);
        gpus[i].total_bytes = h->gpus[i].total_bytes;
    }
    qsort(gpus, (size_t)h->n_gpus, sizeof gpus[0], gpu_cmp);

    uint64_t now = uv_now(&c->loop), wall = ctl_wall_ms();
    ctl_session *old = NULL;
    pthread_mutex_lock(&c->mu);
    ctl_node *n = ctl_nodes_get(&c->nodes, h->node);
    if (!n) {
        pthread_mutex_unlock(&c->mu);
        ctl_sess_fail(s, PROTO_CODE_PROTOCOL, "hello: out of memory");
        return;
    }
    bool is_new = n->registered_wall_ms == 0, was_lost = n->state == CTL_NODE_LOST;
    bool changed = n->n_gpus != h->n_gpus;
    for (int i = 0; i < h->n_gpus && !changed; i++)
        changed = n->gpus[i].index != gpus[i].index ||
                  n->gpus[i].total_bytes != gpus[i].total_bytes ||
                  strcmp(n->gpus[i].model, gpus[i].model);
    if (n->sess && n->sess != s) old = n->sess;
    changed = changed || strcmp(n->instance_type, h->instance_type);
    n->n_gpus = h->n_gpus;
    memcpy(n->gpus, gpus, sizeof gpus);
    snprintf(n->instance_type, sizeof n->instance_type, "%s", h->instance_type);
    snprintf(n->host, sizeof n->host, "%s", s->ip);
    ctl_node_price(n, c->fleet_file, c->fleet_file ? c->fleet_file : c->catalog);
    snprintf(n->version, sizeof n->version, "%s", h->version);
    n->state = CTL_NODE_READY;
    n->last_seen = now;
    n->agent_lease_ms = h->lease_ms;
    n->last_hb_wall_ms = wall;
    if (is_new) n->registered_wall_ms = wall;
    n->dirty = true;
    pthread_mutex_unlock(&c->mu);
    if (old) ctl_sess_close(old, "replaced by a new connection from the same node");
    pthread_mutex_lock(&c->mu);
    n->sess = s;
    n->reported = false;
    n->n_sent = 0;
    c->n_agents++;
    pthread_mutex_unlock(&c->mu);
    s->node = n;
    if (is_new || was_lost || changed) c->fleet_epoch++;
    if (is_new || was_lost) c->consolidate_due = true; /* room to consolidate into, maybe */
    if ((is_new || changed) && c->plan) {
        pthread_mutex_lock(&c->mu);
        ctl_index_plan(c); /* the plan may name it already; revisions depend on its GPUs */
        pthread_mutex_unlock(&c->mu);
    }

    vp_logline l;
    if (vp_log_begin(&c->log, &l, VP_LOG_INFO, "agent_hello")) {
        vp_log_s(&l, "node", n->name);
        vp_log_s(&l, "peer", s->peer);
        vp_log_s(&l, "version", n->version);
        vp_log_i(&l, "gpus", n->n_gpus);
        if (n->n_gpus) vp_log_s(&l, "gpu_model", n->gpus[0].model);
        if (n->instance_type[0]) vp_log_s(&l, "type", n->instance_type);
        vp_log_f(&l, "price_per_hour", n->price_per_hour);
        vp_log_s(&l, "state", is_new ? "new" : was_lost ? "returned" : "reconnected");
        vp_log_end(&c->log, &l);
    }
    if (is_new || was_lost)
        ctl_event_add(c, is_new ? "node_registered" : "node_returned", n->name, "");
    ctl_flush_soon(c);

    proto_msg m;
    proto_msg_init(&m, PROTO_WELCOME);
    m.u.welcome.heartbeat_ms = c->cfg.heartbeat_ms;
    m.u.welcome.gpu_memory_utilization = (double)c->util_ppm / 1e6;
    m.u.welcome.lease_ms = c->cfg.lease_ms;
    if (ctl_sess_send(s, &m) == 0) n->lease_sent = uv_now(&c->loop);
    proto_msg_free(&m);
}

static void handle_report(ctl_session *s, proto_report *r)
{
    ctl *c = s->c;
    ctl_node *n = s->node;
    if (strcmp(r->node, n->name)) {
        ctl_sess_fail(s, PROTO_CODE_PROTOCOL, "report: node does not match the hello");
        return;
    }
    /* Transitions are worth a line each; compare with the previous report. */
    for (size_t i = 0; i < r->n_placements; i++) {
        const proto_placement *p = &r->placements[i];
        const proto_placement *o = ctl_node_reported(n, p->id, p->rev);
        if (o && o->state == p->state) continue;
        vp_logline l;
        if (vp_log_begin(&c->log, &l, p->state == PROTO_FAILED ? VP_LOG_WARN : VP_LOG_INFO,
                         "placement_state")) {
            vp_log_s(&l, "node", n->name);
            vp_log_s(&l, "id", p->id);
            if (p->rev[0]) vp_log_s(&l, "rev", p->rev);
            vp_log_s(&l, "state", proto_state_name(p->state));
            if (p->pid) vp_log_i(&l, "pid", p->pid);
            if (p->port) vp_log_u(&l, "port", p->port);
            if (p->error[0]) vp_log_s(&l, "error", p->error);
            vp_log_end(&c->log, &l);
        }
    }
    uint64_t now = uv_now(&c->loop);
    pthread_mutex_lock(&c->mu);
    free(n->rep);
    n->rep = r->placements;
    n->n_rep = r->n_placements;
    r->placements = NULL;
    r->n_placements = r->cap_placements = 0;
    n->reported = true;
    n->last_seen = now;
    n->last_hb_wall_ms = ctl_wall_ms();
    c->reports_total++;
    pthread_mutex_unlock(&c->mu);
    ctl_sent_prune(c, n, now);
    ctl_note_failures(c, n);
    ctl_reconcile_node(c, n);
    if (ctl_excl_pending(c)) ctl_maybe_start_job(c);
}

static void handle_frame(ctl_session *s, proto_msg *m)
{
    ctl *c = s->c;
    if (m->type == PROTO_HELLO) {
        handle_hello(s, &m->u.hello);
        return;
    }
    if (!s->node) {
        char why[96];
        snprintf(why, sizeof why, "%s: the first frame must be a hello", proto_type_name(m->type));
        ctl_sess_fail(s, PROTO_CODE_PROTOCOL, why);
        return;
    }
    ctl_node *n = s->node;
    switch (m->type) {
    case PROTO_REPORT:
        handle_report(s, &m->u.report);
        break;
    case PROTO_HEARTBEAT: {
        uint64_t wall = ctl_wall_ms();
        pthread_mutex_lock(&c->mu);
        n->last_seen = uv_now(&c->loop);
        n->last_hb_wall_ms = wall;
        c->heartbeats_total++;
        pthread_mutex_unlock(&c->mu);
        if (wall - n->persisted_hb_wall_ms >= HB_PERSIST_MS) {
            n->dirty = true;
            ctl_flush_soon(c);
        }
        /* The answer renews the agent's lease; one renewal per half heartbeat interval is
         * plenty, so an agent that floods heartbeats does not get a flood back. */
        uint64_t now = uv_now(&c->loop);
        if (m->u.heartbeat.seq && now - n->lease_sent >= c->cfg.heartbeat_ms / 2) {
            proto_msg lm;
            proto_msg_init(&lm, PROTO_LEASE);
            lm.u.lease.seq = m->u.heartbeat.seq;
            lm.u.lease.lease_ms = c->cfg.lease_ms;
            if (ctl_sess_send(s, &lm) == 0) n->lease_sent = now;
        }
        break;
    }
    case PROTO_ERROR: {
        n->last_seen = uv_now(&c->loop);
        vp_logline l;
        if (vp_log_begin(&c->log, &l, VP_LOG_WARN, "agent_error")) {
            vp_log_s(&l, "node", n->name);
            vp_log_s(&l, "code", m->u.error.code);
            if (m->u.error.id[0]) vp_log_s(&l, "id", m->u.error.id);
            vp_log_s(&l, "error", m->u.error.message);
            vp_log_end(&c->log, &l);
        }
        break;
    }
    default: {
        char why[96];
        snprintf(why, sizeof why, "%s: not a frame an agent sends", proto_type_name(m->type));
        ctl_sess_fail(s, PROTO_CODE_PROTOCOL, why);
    }
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    ctl_session *s = h->data;
    *buf = uv_buf_init(s->c->rbuf, sizeof s->c->rbuf);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    ctl_session *s = st->data;
    if (s->closing) return;
    if (nread < 0) {
        ctl_sess_close(s, nread == UV_EOF ? "closed by peer" : uv_strerror((int)nread));
        return;
    }
    if (nread == 0) return;
    if (!s->node) {
        /* Before a hello: a few KiB at most, and a header announcing more is refused. */
        size_t held = s->rd.len - s->rd.off + (size_t)nread;
        if (held > PRE_AUTH_BYTES + PROTO_HEADER_BYTES) {
            ctl_sess_fail(s, PROTO_CODE_PROTOCOL, "more than 4096 bytes before a hello");
            return;
        }
        uint8_t hdr[PROTO_HEADER_BYTES];
        size_t have = s->rd.len - s->rd.off;
        for (size_t i = 0; i < PROTO_HEADER_BYTES && i < have + (size_t)nread; i++)
            hdr[i] = i < have ? s->rd.buf[s->rd.off + i] : (uint8_t)buf->base[i - have];
        if (have + (size_t)nread >= PROTO_HEADER_BYTES) {
            uint32_t n =
                (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
            if (n > PRE_AUTH_BYTES) {
                ctl_sess_fail(s, PROTO_CODE_PROTOCOL, "a frame over 4096 bytes before a hello");
                return;
            }
        }
    }
    if (proto_reader_feed(&s->rd, buf->base, (size_t)nread)) {
        ctl_sess_close(s, "out of memory");
        return;
    }
    for (;;) {
        proto_msg m;
        vp_err e = {0};
        int rc = proto_reader_next(&s->rd, &m, &e);
        if (rc == VP_EAGAIN) break;
        if (rc) {
            proto_msg_free(&m);
            ctl_sess_fail(s, PROTO_CODE_PROTOCOL, e.msg[0] ? e.msg : vp_strerror(rc));
            return;
        }
        handle_frame(s, &m);
        proto_msg_free(&m);
        if (s->closing) return;
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    ctl *c = server->data;
    if (status < 0) return;
    ctl_session *s = calloc(1, sizeof *s);
    if (!s) return;
    s->c = c;
    uv_tcp_init(&c->loop, &s->tcp);
    s->tcp.data = s;
    s->next = c->sessions;
    if (c->sessions) c->sessions->prev = s;
    c->sessions = s;
    if (uv_accept(server, (uv_stream_t *)&s->tcp)) {
        s->closing = true;
        uv_close((uv_handle_t *)&s->tcp, on_closed);
        return;
    }
    uv_tcp_nodelay(&s->tcp, 1);
    s->opened = uv_now(&c->loop);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    snprintf(s->peer, sizeof s->peer, "?");
    if (!uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&ss, &len)) {
        char ip[48] = "?";
        int port = 0;
        if (ss.ss_family == AF_INET) {
            uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof ip);
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
        snprintf(s->peer, sizeof s->peer, "%s:%d", ip, port);
        snprintf(s->ip, sizeof s->ip, "%s", ip);
    }
    pthread_mutex_lock(&c->mu);
    c->sessions_total++;
    pthread_mutex_unlock(&c->mu);
    size_t same = 0;
    for (ctl_session *o = c->sessions; o; o = o->next)
        same += o != s && !o->node && !o->closing && !strcmp(o->ip, s->ip);
    if (same >= PRE_AUTH_PER_IP) {
        vp_logline l;
        if (vp_log_begin(&c->log, &l, refusal_level(c, s->ip), "agent_refused")) {
            vp_log_s(&l, "peer", s->peer);
            vp_log_s(&l, "error", "too many connections without a hello from this address");
            vp_log_end(&c->log, &l);
        }
        pthread_mutex_lock(&c->mu);
        c->frames_rejected++;
        pthread_mutex_unlock(&c->mu);
        s->closing = true;
        uv_close((uv_handle_t *)&s->tcp, on_closed);
        return;
    }
    uv_read_start((uv_stream_t *)&s->tcp, on_alloc, on_read);
}

int ctl_server_start(ctl *c, vp_err *e)
{
    char port[8];
    snprintf(port, sizeof port, "%u", c->cfg.listen_port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    uv_getaddrinfo_t gai;
    int rc = uv_getaddrinfo(&c->loop, &gai, NULL, c->cfg.listen_host, port, &hints);
    if (rc) return vp_errf(e, rc, "--listen %s:%s: %s", c->cfg.listen_host, port, uv_strerror(rc));
    uv_tcp_init(&c->loop, &c->listener);
    c->listener.data = c;
    c->listener_ok = true;
    rc = uv_tcp_bind(&c->listener, gai.addrinfo->ai_addr, 0);
    uv_freeaddrinfo(gai.addrinfo);
    if (!rc) rc = uv_listen((uv_stream_t *)&c->listener, 4096, on_connection);
    if (rc) return vp_errf(e, rc, "--listen %s:%s: %s", c->cfg.listen_host, port, uv_strerror(rc));
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&c->listener, (struct sockaddr *)&ss, &len);
    c->agent_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

void ctl_server_close(ctl *c)
{
    for (ctl_session *s = c->sessions; s; s = s->next)
        ctl_sess_close(s, "controller stopping");
    if (c->listener_ok && !uv_is_closing((uv_handle_t *)&c->listener))
        uv_close((uv_handle_t *)&c->listener, NULL);
}
