/* harness.c - loopback controller stand-in and agent thread for the agent tests. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_tick(uv_timer_t *t)
{
    (void)t; /* only wakes uv_run(UV_RUN_ONCE) so waits can check their deadline */
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

static void client_closed(uv_handle_t *h)
{
    free(h);
}

static void drop_client(srv *s)
{
    if (!s->client) return;
    uv_close((uv_handle_t *)s->client, client_closed);
    s->client = NULL;
    proto_reader_free(&s->reader);
}

static void push(srv *s, proto_msg *m)
{
    if (s->n_queue == s->cap_queue) {
        s->cap_queue = s->cap_queue ? s->cap_queue * 2 : 64;
        s->queue = realloc(s->queue, s->cap_queue * sizeof *s->queue);
        if (!s->queue) abort();
    }
    s->queue[s->n_queue++] = *m;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    srv *s = st->data;
    if (n < 0) {
        free(buf->base);
        if ((uv_tcp_t *)st == s->client) {
            s->peer_closed = true;
            drop_client(s);
        }
        return;
    }
    if (n > 0) proto_reader_feed(&s->reader, buf->base, (size_t)n);
    free(buf->base);
    for (;;) {
        proto_msg m;
        vp_err e = {0};
        int rc = proto_reader_next(&s->reader, &m, &e);
        if (rc == VP_EAGAIN) break;
        if (rc) {
            fprintf(stderr, "harness: bad frame from agent: %s\n", e.msg);
            drop_client(s);
            return;
        }
        /* Like the controller, answer every heartbeat with a lease (unless a test plays a
         * partition and holds them back). */
        if (m.type == PROTO_HEARTBEAT && !s->no_lease) {
            proto_msg l;
            proto_msg_init(&l, PROTO_LEASE);
            l.u.lease.seq = m.u.heartbeat.seq;
            l.u.lease.lease_ms = 60000;
            srv_send(s, &l);
        }
        push(s, &m);
    }
}

static void on_connection(uv_stream_t *l, int status)
{
    srv *s = l->data;
    if (status < 0) return;
    uv_tcp_t *c = malloc(sizeof *c);
    uv_tcp_init(&s->loop, c);
    if (uv_accept(l, (uv_stream_t *)c) != 0) {
        uv_close((uv_handle_t *)c, client_closed);
        return;
    }
    drop_client(s); /* one agent at a time: a reconnect replaces the old connection */
    proto_msg_free(&s->last_report); /* a new connection starts a new state stream */
    c->data = s;
    s->client = c;
    s->accepted++;
    s->peer_closed = false;
    uv_read_start((uv_stream_t *)c, alloc_cb, on_read);
}

int srv_init(srv *s)
{
    return srv_init_port(s, 0);
}

int srv_init_port(srv *s, int port)
{
    memset(s, 0, sizeof *s);
    int rc = uv_loop_init(&s->loop);
    if (rc) return rc;
    uv_tcp_init(&s->loop, &s->listener);
    s->listener.data = s;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port, &addr);
    if ((rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0)) ||
        (rc = uv_listen((uv_stream_t *)&s->listener, 16, on_connection))) {
        uv_close((uv_handle_t *)&s->listener, NULL);
        uv_run(&s->loop, UV_RUN_DEFAULT);
        uv_loop_close(&s->loop);
        return rc;
    }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
    s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    uv_timer_init(&s->loop, &s->tick);
    uv_timer_start(&s->tick, on_tick, 5, 5);
    return 0;
}

static void noop_close(uv_handle_t *h)
{
    (void)h;
}

void srv_free(srv *s)
{
    drop_client(s);
    uv_close((uv_handle_t *)&s->listener, noop_close);
    uv_close((uv_handle_t *)&s->tick, noop_close);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_loop_close(&s->loop);
    for (size_t i = s->head; i < s->n_queue; i++)
        proto_msg_free(&s->queue[i]);
    free(s->queue);
    proto_reader_free(&s->reader);
    proto_msg_free(&s->last_report);
}

bool srv_wait_client(srv *s, int accepted_before, int timeout_ms)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)timeout_ms * 1000000ULL;
    while (s->accepted <= accepted_before) {
        if (uv_hrtime() > deadline) return false;
        uv_run(&s->loop, UV_RUN_ONCE);
    }
    return true;
}

static void copy_report(const proto_msg *src, proto_msg *dst);

/* Pops the next queued message into *out, running the loop until one arrives or the deadline. */
static bool next_msg(srv *s, uint64_t deadline, proto_msg *out)
{
    while (s->head == s->n_queue) {
        if (uv_hrtime() > deadline) return false;
        uv_run(&s->loop, UV_RUN_ONCE);
    }
    *out = s->queue[s->head++];
    if (s->head == s->n_queue) s->head = s->n_queue = 0;
    if (out->type == PROTO_REPORT) {
        proto_msg_free(&s->last_report);
        copy_report(out, &s->last_report);
    }
    return true;
}

bool srv_expect(srv *s, proto_type type, int timeout_ms, proto_msg *out)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)timeout_ms * 1000000ULL;
    proto_msg m;
    while (next_msg(s, deadline, &m)) {
        if (m.type == type) {
            *out = m;
            return true;
        }
        proto_msg_free(&m);
    }
    return false;
}

static void copy_report(const proto_msg *src, proto_msg *dst)
{
    proto_msg_init(dst, PROTO_REPORT);
    memcpy(dst->u.report.node, src->u.report.node, sizeof dst->u.report.node);
    for (size_t i = 0; i < src->u.report.n_placements; i++)
        if (proto_report_add(&dst->u.report, &src->u.report.placements[i])) abort();
}

bool srv_expect_report(srv *s, srv_report_pred pred, const void *arg, int timeout_ms,
                       proto_msg *out)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)timeout_ms * 1000000ULL;
    if (s->last_report.type == PROTO_REPORT && pred(&s->last_report.u.report, arg)) {
        copy_report(&s->last_report, out);
        return true;
    }
    proto_msg m;
    while (next_msg(s, deadline, &m)) {
        if (m.type != PROTO_REPORT) {
            proto_msg_free(&m);
            continue;
        }
        proto_msg_free(&s->last_report);
        s->last_report = m;
        if (pred(&m.u.report, arg)) {
            copy_report(&m, out);
            return true;
        }
    }
    return false;
}

static void write_done(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

int srv_send_raw(srv *s, const void *bytes, size_t len)
{
    if (!s->client) return UV_ENOTCONN;
    uv_write_t *req = malloc(sizeof *req + len);
    memcpy(req + 1, bytes, len);
    uv_buf_t b = uv_buf_init((char *)(req + 1), (unsigned)len);
    int rc = uv_write(req, (uv_stream_t *)s->client, &b, 1, write_done);
    if (rc) free(req);
    return rc;
}

int srv_send(srv *s, const proto_msg *m)
{
    uint8_t *frame;
    size_t len;
    vp_err e = {0};
    int rc = proto_msg_encode_alloc(m, &frame, &len, &e);
    if (rc) {
        fprintf(stderr, "harness: encode: %s\n", e.msg);
        return rc;
    }
    rc = srv_send_raw(s, frame, len);
    free(frame);
    return rc;
}

void srv_close_client(srv *s)
{
    drop_client(s);
}

void srv_pump(srv *s, int ms)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)ms * 1000000ULL;
    while (uv_hrtime() < deadline)
        uv_run(&s->loop, UV_RUN_ONCE);
}

const proto_placement *report_find(const proto_report *r, const char *id)
{
    for (size_t i = 0; i < r->n_placements; i++)
        if (!strcmp(r->placements[i].id, id)) return &r->placements[i];
    return NULL;
}

static void agent_main(void *arg)
{
    agent_thread *t = arg;
    agent_run(t->a);
}

int agent_thread_start(agent_thread *t, const agent_config *cfg, vp_err *e)
{
    memset(t, 0, sizeof *t);
    int rc = agent_new(cfg, &t->a, e);
    if (rc) return rc;
    rc = uv_thread_create(&t->tid, agent_main, t);
    if (rc) {
        agent_free(t->a);
        t->a = NULL;
        return rc;
    }
    t->started = true;
    return 0;
}

void agent_thread_stop(agent_thread *t)
{
    if (!t->started) return;
    agent_stop(t->a);
    uv_thread_join(&t->tid);
    agent_free(t->a);
    t->a = NULL;
    t->started = false;
}
