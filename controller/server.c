/* server.c - agent sessions, liveness, reconcile and the re-plan jobs, all on the loop thread.
 *
 * Sessions: every TCP connection on the agents' port gets a proto_reader; whole frames are
 * handled as they complete, partial ones wait. The first frame must be a hello carrying the
 * token (compared in constant time); anything else, an oversize or malformed frame, or a wrong
 * token gets one error frame and the connection is shut down; other sessions never notice.
 *
 * Reconcile is level-triggered: for each node with a live session and a fresh report, every
 * desired placement that the report lacks gets an assign and every reported placement that is
 * not desired there gets a release. It runs on every report and on every tick, so a lost frame
 * or a restarted agent heals by itself; the `sent` list only stops re-sending the same command
 * more often than once per resend interval.
 *
 * Liveness: any frame counts; a node silent for 3 heartbeat intervals is lost. A lost node's
 * placements, and anything unplaced once the set of ready nodes changes, trigger a re-plan: a
 * snapshot goes to the thread pool (ctl_solve), and the result is committed to the store
 * BEFORE it becomes the desired plan that reconcile acts on. One solve runs at a time;
 * submits queue behind it. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_internal.h"

#define MAX_WRITE_QUEUE (64u << 20) /* an agent that reads slower than this is dropped */
#define FLUSH_DELAY_MS 200
#define HB_PERSIST_MS 10000 /* heartbeat times reach the store at most this often */

static void sess_close(ctl_session *s, const char *why);

/* ---- events ---- */

static void on_flush(uv_timer_t *t)
{
    ctl_flush_now(t->data);
}

void ctl_flush_soon(ctl *c)
{
    if (c->flush_ok && !c->stopping && !uv_is_active((uv_handle_t *)&c->flush))
        uv_timer_start(&c->flush, on_flush, FLUSH_DELAY_MS, 0);
}

void ctl_event_add(ctl *c, const char *kind, const char *node, const char *detail)
{
    if (c->n_events == c->cap_events) {
        size_t cap = c->cap_events ? c->cap_events * 2 : 64;
        ctl_event *v = realloc(c->events, cap * sizeof *v);
        if (!v) return; /* the log line still says it */
        c->events = v;
        c->cap_events = cap;
    }
    ctl_event *ev = &c->events[c->n_events++];
    memset(ev, 0, sizeof *ev);
    ev->ts_ms = ctl_wall_ms();
    snprintf(ev->kind, sizeof ev->kind, "%s", kind);
    snprintf(ev->node, sizeof ev->node, "%s", node ? node : "");
    snprintf(ev->detail, sizeof ev->detail, "%s", detail ? detail : "");
    ctl_flush_soon(c);
}

void ctl_flush_now(ctl *c)
{
    if (!c->store) return;
    ctl_node **dirty = calloc(c->nodes.n ? c->nodes.n : 1, sizeof *dirty);
    if (!dirty) return;
    size_t nd = 0;
    for (size_t i = 0; i < c->nodes.n; i++)
        if (c->nodes.v[i]->dirty) dirty[nd++] = c->nodes.v[i];
    vp_err e = {0};
    int rc = ctl_store_flush(c->store, dirty, nd, c->events, c->n_events, &e);
    if (rc) {
        ctl_logline l;
        if (ctl_log_begin(&c->log, &l, CTL_LOG_ERROR, "store_flush_failed")) {
            ctl_log_s(&l, "error", e.msg);
            ctl_log_end(&c->log, &l);
        }
        if (!c->stopping) ctl_flush_soon(c);
    } else {
        for (size_t i = 0; i < nd; i++) {
            dirty[i]->dirty = false;
            dirty[i]->persisted_hb_wall_ms = dirty[i]->last_hb_wall_ms;
        }
        c->n_events = 0;
    }
    free(dirty);
}

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
    if (status < 0 && status != UV_ECANCELED && !s->closing) sess_close(s, uv_strerror(status));
}

static int sess_send(ctl_session *s, const proto_msg *m)
{
    if (s->closing) return VP_ESTATE;
    ctl *c = s->c;
    uint8_t *frame;
    size_t len;
    vp_err e = {0};
    int rc = proto_msg_encode_alloc(m, &frame, &len, &e);
    if (rc) {
        ctl_logline l;
        if (ctl_log_begin(&c->log, &l, CTL_LOG_ERROR, "encode_failed")) {
            ctl_log_s(&l, "type", proto_type_name(m->type));
            ctl_log_s(&l, "error", e.msg);
            ctl_log_end(&c->log, &l);
        }
        return rc;
    }
    if (uv_stream_get_write_queue_size((uv_stream_t *)&s->tcp) > MAX_WRITE_QUEUE) {
        free(frame);
        sess_close(s, "agent does not read its frames");
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
        sess_close(s, uv_strerror(rc));
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

static void sess_close(ctl_session *s, const char *why)
{
    if (s->closing) return;
    ctl *c = s->c;
    s->closing = true;
    ctl_logline l;
    if (ctl_log_begin(&c->log, &l, s->node ? CTL_LOG_INFO : CTL_LOG_DEBUG, "agent_disconnected")) {
        if (s->node) ctl_log_s(&l, "node", s->node->name);
        ctl_log_s(&l, "peer", s->peer);
        ctl_log_s(&l, "reason", why);
        ctl_log_end(&c->log, &l);
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

/* Sends one error frame, then closes once it is written: the peer learns why. */
static void sess_fail(ctl_session *s, const char *code, const char *message)
{
    if (s->closing) return;
    ctl *c = s->c;
    proto_msg m;
    proto_msg_init(&m, PROTO_ERROR);
    snprintf(m.u.error.code, sizeof m.u.error.code, "%s", code);
    snprintf(m.u.error.message, sizeof m.u.error.message, "%s", message);
    sess_send(s, &m);
    proto_msg_free(&m);
    if (s->closing) return;
    s->closing = true;
    pthread_mutex_lock(&c->mu);
    c->frames_rejected++;
    pthread_mutex_unlock(&c->mu);
    ctl_logline l;
    if (ctl_log_begin(&c->log, &l, CTL_LOG_WARN, "agent_refused")) {
        if (s->node) ctl_log_s(&l, "node", s->node->name);
        ctl_log_s(&l, "peer", s->peer);
        ctl_log_s(&l, "code", code);
        ctl_log_s(&l, "error", message);
        ctl_log_end(&c->log, &l);
    }
    detach(s);
    uv_read_stop((uv_stream_t *)&s->tcp);
    uv_shutdown_t *req = malloc(sizeof *req);
    if (!req || uv_shutdown(req, (uv_stream_t *)&s->tcp, on_shutdown)) {
        free(req);
        uv_close((uv_handle_t *)&s->tcp, on_closed);
    }
}

/* ---- reconcile ---- */

static const ctl_sent *sent_find(const ctl_node *n, const char *id, int kind)
{
    for (size_t i = 0; i < n->n_sent; i++)
        if (n->sent[i].kind == kind && !strcmp(n->sent[i].id, id)) return &n->sent[i];
    return NULL;
}

static bool sent_recently(const ctl *c, const ctl_node *n, const char *id, int kind, uint64_t now)
{
    const ctl_sent *s = sent_find(n, id, kind);
    return s && now - s->at < c->resend_ms;
}

static void sent_mark(ctl_node *n, const char *id, int kind, uint64_t now)
{
    ctl_sent *s = (ctl_sent *)sent_find(n, id, kind);
    if (!s) {
        if (n->n_sent == n->cap_sent) {
            size_t cap = n->cap_sent ? n->cap_sent * 2 : 8;
            ctl_sent *v = realloc(n->sent, cap * sizeof *v);
            if (!v) return;
            n->sent = v;
            n->cap_sent = cap;
        }
        s = &n->sent[n->n_sent++];
        snprintf(s->id, sizeof s->id, "%s", id);
        s->kind = kind;
    }
    s->at = now;
}

/* Drops entries a report confirmed (assigned and present, released and gone) or too old. */
static void sent_prune(const ctl *c, ctl_node *n, uint64_t now)
{
    size_t k = 0;
    for (size_t i = 0; i < n->n_sent; i++) {
        const ctl_sent *s = &n->sent[i];
        const proto_placement *r = ctl_node_reported(n, s->id);
        bool done = s->kind == CTL_SENT_ASSIGN ? r != NULL : (!r || r->state == PROTO_STOPPED);
        if (done || now - s->at >= c->resend_ms) continue;
        n->sent[k++] = *s;
    }
    n->n_sent = k;
}

/* true when the agent runs q where the plan wants it: same GPUs (as a set), same bytes. */
static bool same_slot(const ctl_node *n, const place_placement *q, const proto_placement *r)
{
    if (r->n_gpus != q->n_gpus) return false;
    if (r->bytes_used && r->bytes_used != q->bytes_per_gpu) return false;
    for (int i = 0; i < q->n_gpus; i++) {
        if (q->gpus[i] >= n->n_gpus) return false;
        uint32_t want = n->gpus[q->gpus[i]].index;
        bool found = false;
        for (int j = 0; j < r->n_gpus && !found; j++)
            found = r->gpus[j] == want;
        if (!found) return false;
    }
    return true;
}

const char *ctl_placement_state(const ctl *c, const place_placement *p, const proto_placement **rep)
{
    if (rep) *rep = NULL;
    const ctl_node *n = ctl_nodes_find(&c->nodes, c->plan->nodes[p->node].name);
    if (!n || n->state != CTL_NODE_READY) return "pending";
    const proto_placement *r = ctl_node_reported(n, p->id);
    if (!r || !same_slot(n, p, r)) return "pending";
    if (rep) *rep = r;
    return proto_state_name(r->state);
}

static const plan_model *manifest_model(const ctl *c, const char *name)
{
    if (!c->manifest) return NULL;
    for (size_t i = 0; i < c->manifest->n_models; i++)
        if (!strcmp(c->manifest->models[i].name, name)) return &c->manifest->models[i];
    return NULL;
}

static void send_assign(ctl *c, ctl_node *n, const place_placement *q)
{
    proto_msg m;
    proto_msg_init(&m, PROTO_ASSIGN);
    proto_assign *a = &m.u.assign;
    snprintf(a->id, sizeof a->id, "%s", q->id);
    snprintf(a->model, sizeof a->model, "%s", q->model);
    a->replica = q->replica;
    a->n_gpus = q->n_gpus;
    uint64_t total = 0;
    for (int i = 0; i < q->n_gpus; i++) {
        const ctl_gpu *g = &n->gpus[q->gpus[i]];
        a->gpus[i] = (uint8_t)g->index;
        if (!total || g->total_bytes < total) total = g->total_bytes;
    }
    a->bytes_per_gpu = q->bytes_per_gpu;
    a->fraction = total ? (double)q->bytes_per_gpu / (double)total : 1.0;
    if (a->fraction > 1.0) a->fraction = 1.0;
    if (a->fraction <= 0.0) a->fraction = 1e-9;
    const plan_model *pm = manifest_model(c, q->model);
    if (pm && pm->worker_cmd) {
        size_t argc = 0;
        while (pm->worker_cmd[argc])
            argc++;
        proto_assign_set_command(a, (const char *const *)pm->worker_cmd, argc);
    }
    int rc = sess_send(n->sess, &m);
    proto_msg_free(&m);
    if (rc) return;
    pthread_mutex_lock(&c->mu);
    c->assigns_sent++;
    pthread_mutex_unlock(&c->mu);
    ctl_logline l;
    if (ctl_log_begin(&c->log, &l, CTL_LOG_INFO, "assign")) {
        ctl_log_s(&l, "node", n->name);
        ctl_log_s(&l, "id", q->id);
        ctl_log_u(&l, "bytes_per_gpu", q->bytes_per_gpu);
        ctl_log_i(&l, "gpus", q->n_gpus);
        ctl_log_end(&c->log, &l);
    }
}

static void send_release(ctl *c, ctl_node *n, const char *id)
{
    proto_msg m;
    proto_msg_init(&m, PROTO_RELEASE);
    snprintf(m.u.release.id, sizeof m.u.release.id, "%s", id);
    int rc = sess_send(n->sess, &m);
    proto_msg_free(&m);
    if (rc) return;
    pthread_mutex_lock(&c->mu);
    c->releases_sent++;
    pthread_mutex_unlock(&c->mu);
    ctl_logline l;
    if (ctl_log_begin(&c->log, &l, CTL_LOG_INFO, "release")) {
        ctl_log_s(&l, "node", n->name);
        ctl_log_s(&l, "id", id);
        ctl_log_end(&c->log, &l);
    }
}

static const place_placement *wanted_here(const ctl *c, const ctl_node *n, const char *id)
{
    for (size_t i = 0; i < n->n_want; i++) {
        const place_placement *q = &c->plan->placements[n->want[i]];
        if (!strcmp(q->id, id)) return q;
    }
    return NULL;
}

void ctl_reconcile_node(ctl *c, ctl_node *n)
{
    if (!n->sess || n->sess->closing || !n->reported || n->state != CTL_NODE_READY) return;
    uint64_t now = uv_now(&c->loop);
    /* Releases first, so an agent frees room before it is asked to fill it. */
    for (size_t i = 0; i < n->n_rep && n->sess; i++) {
        const proto_placement *r = &n->rep[i];
        if (r->state == PROTO_STOPPED) continue;
        const place_placement *q = c->plan ? wanted_here(c, n, r->id) : NULL;
        if (q && same_slot(n, q, r)) continue;
        if (sent_recently(c, n, r->id, CTL_SENT_RELEASE, now)) continue;
        send_release(c, n, r->id);
        sent_mark(n, r->id, CTL_SENT_RELEASE, now);
    }
    for (size_t i = 0; i < n->n_want && n->sess; i++) {
        const place_placement *q = &c->plan->placements[n->want[i]];
        const proto_placement *r = ctl_node_reported(n, q->id);
        if (r && r->state != PROTO_STOPPED) continue; /* running, starting, failed, or moving */
        bool gpus_ok = true;
        for (int g = 0; g < q->n_gpus; g++)
            gpus_ok = gpus_ok && q->gpus[g] < n->n_gpus;
        if (!gpus_ok || sent_recently(c, n, q->id, CTL_SENT_ASSIGN, now)) continue;
        send_assign(c, n, q);
        sent_mark(n, q->id, CTL_SENT_ASSIGN, now);
    }
}

void ctl_reconcile_all(ctl *c)
{
    for (size_t i = 0; i < c->nodes.n; i++)
        ctl_reconcile_node(c, c->nodes.v[i]);
}

void ctl_index_plan(ctl *c)
{
    for (size_t i = 0; i < c->nodes.n; i++)
        c->nodes.v[i]->n_want = 0;
    if (!c->plan) return;
    for (size_t i = 0; i < c->plan->n_placements; i++) {
        const place_placement *q = &c->plan->placements[i];
        ctl_node *n = ctl_nodes_find(&c->nodes, c->plan->nodes[q->node].name);
        if (!n) continue; /* a node that never registered: pending until it does */
        if (n->n_want == n->cap_want) {
            size_t cap = n->cap_want ? n->cap_want * 2 : 8;
            size_t *v = realloc(n->want, cap * sizeof *v);
            if (!v) continue;
            n->want = v;
            n->cap_want = cap;
        }
        n->want[n->n_want++] = i;
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
        sess_fail(s, PROTO_CODE_PROTOCOL, "hello: already received on this connection");
        return;
    }
    if (c->cfg.token[0] && !proto_token_equal(h->token, c->cfg.token)) {
        pthread_mutex_lock(&c->mu);
        c->auth_failures++;
        pthread_mutex_unlock(&c->mu);
        sess_fail(s, PROTO_CODE_AUTH, h->token[0] ? "wrong token" : "missing token");
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
        sess_fail(s, PROTO_CODE_PROTOCOL, "hello: out of memory");
        return;
    }
    bool is_new = n->registered_wall_ms == 0, was_lost = n->state == CTL_NODE_LOST;
    bool changed = n->n_gpus != h->n_gpus;
    for (int i = 0; i < h->n_gpus && !changed; i++)
        changed = n->gpus[i].index != gpus[i].index ||
                  n->gpus[i].total_bytes != gpus[i].total_bytes ||
                  strcmp(n->gpus[i].model, gpus[i].model);
    if (n->sess && n->sess != s) old = n->sess;
    n->n_gpus = h->n_gpus;
    memcpy(n->gpus, gpus, sizeof gpus);
    snprintf(n->version, sizeof n->version, "%s", h->version);
    n->state = CTL_NODE_READY;
    n->last_seen = now;
    n->last_hb_wall_ms = wall;
    if (is_new) n->registered_wall_ms = wall;
    n->dirty = true;
    pthread_mutex_unlock(&c->mu);
    if (old) sess_close(old, "replaced by a new connection from the same node");
    pthread_mutex_lock(&c->mu);
    n->sess = s;
    n->reported = false;
    n->n_sent = 0;
    c->n_agents++;
    pthread_mutex_unlock(&c->mu);
    s->node = n;
    if (is_new || was_lost || changed) c->fleet_epoch++;
    if (is_new && c->plan) {
        pthread_mutex_lock(&c->mu);
        ctl_index_plan(c); /* the plan may name it already (fleet file) */
        pthread_mutex_unlock(&c->mu);
    }

    ctl_logline l;
    if (ctl_log_begin(&c->log, &l, CTL_LOG_INFO, "agent_hello")) {
        ctl_log_s(&l, "node", n->name);
        ctl_log_s(&l, "peer", s->peer);
        ctl_log_s(&l, "version", n->version);
        ctl_log_i(&l, "gpus", n->n_gpus);
        if (n->n_gpus) ctl_log_s(&l, "gpu_model", n->gpus[0].model);
        ctl_log_s(&l, "state", is_new ? "new" : was_lost ? "returned" : "reconnected");
        ctl_log_end(&c->log, &l);
    }
    if (is_new || was_lost)
        ctl_event_add(c, is_new ? "node_registered" : "node_returned", n->name, "");
    ctl_flush_soon(c);

    proto_msg m;
    proto_msg_init(&m, PROTO_WELCOME);
    m.u.welcome.heartbeat_ms = c->cfg.heartbeat_ms;
    m.u.welcome.gpu_memory_utilization = (double)c->util_ppm / 1e6;
    sess_send(s, &m);
    proto_msg_free(&m);
}

static void handle_report(ctl_session *s, proto_report *r)
{
    ctl *c = s->c;
    ctl_node *n = s->node;
    if (strcmp(r->node, n->name)) {
        sess_fail(s, PROTO_CODE_PROTOCOL, "report: node does not match the hello");
        return;
    }
    /* Transitions are worth a line each; compare with the previous report. */
    for (size_t i = 0; i < r->n_placements; i++) {
        const proto_placement *p = &r->placements[i];
        const proto_placement *o = ctl_node_reported(n, p->id);
        if (o && o->state == p->state) continue;
        ctl_logline l;
        if (ctl_log_begin(&c->log, &l, p->state == PROTO_FAILED ? CTL_LOG_WARN : CTL_LOG_INFO,
                          "placement_state")) {
            ctl_log_s(&l, "node", n->name);
            ctl_log_s(&l, "id", p->id);
            ctl_log_s(&l, "state", proto_state_name(p->state));
            if (p->pid) ctl_log_i(&l, "pid", p->pid);
            if (p->error[0]) ctl_log_s(&l, "error", p->error);
            ctl_log_end(&c->log, &l);
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
    sent_prune(c, n, now);
    ctl_reconcile_node(c, n);
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
        sess_fail(s, PROTO_CODE_PROTOCOL, why);
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
        break;
    }
    case PROTO_ERROR: {
        n->last_seen = uv_now(&c->loop);
        ctl_logline l;
        if (ctl_log_begin(&c->log, &l, CTL_LOG_WARN, "agent_error")) {
            ctl_log_s(&l, "node", n->name);
            ctl_log_s(&l, "code", m->u.error.code);
            if (m->u.error.id[0]) ctl_log_s(&l, "id", m->u.error.id);
            ctl_log_s(&l, "error", m->u.error.message);
            ctl_log_end(&c->log, &l);
        }
        break;
    }
    default: {
        char why[96];
        snprintf(why, sizeof why, "%s: not a frame an agent sends", proto_type_name(m->type));
        sess_fail(s, PROTO_CODE_PROTOCOL, why);
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
        sess_close(s, nread == UV_EOF ? "closed by peer" : uv_strerror((int)nread));
        return;
    }
    if (nread == 0) return;
    if (proto_reader_feed(&s->rd, buf->base, (size_t)nread)) {
        sess_close(s, "out of memory");
        return;
    }
    for (;;) {
        proto_msg m;
        vp_err e = {0};
        int rc = proto_reader_next(&s->rd, &m, &e);
        if (rc == VP_EAGAIN) break;
        if (rc) {
            proto_msg_free(&m);
            sess_fail(s, PROTO_CODE_PROTOCOL, e.msg[0] ? e.msg : vp_strerror(rc));
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
    }
    pthread_mutex_lock(&c->mu);
    c->sessions_total++;
    pthread_mutex_unlock(&c->mu);
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
        sess_close(s, "controller stopping");
    if (c->listener_ok && !uv_is_closing((uv_handle_t *)&c->listener))
        uv_close((uv_handle_t *)&c->listener, NULL);
}

/* ---- liveness and re-plans ---- */

static void node_lost(ctl *c, ctl_node *n, uint64_t now)
{
    ctl_session *s = n->sess;
    pthread_mutex_lock(&c->mu);
    n->state = CTL_NODE_LOST;
    free(n->rep);
    n->rep = NULL;
    n->n_rep = 0;
    n->dirty = true;
    c->nodes_lost_total++;
    pthread_mutex_unlock(&c->mu);
    if (s) sess_close(s, "silent for 3 heartbeat intervals");
    c->fleet_epoch++;
    ctl_logline l;
    if (ctl_log_begin(&c->log, &l, CTL_LOG_WARN, "node_lost")) {
        ctl_log_s(&l, "node", n->name);
        ctl_log_u(&l, "silent_ms", now - n->last_seen);
        ctl_log_u(&l, "placements", n->n_want);
        ctl_log_end(&c->log, &l);
    }
    char detail[64];
    snprintf(detail, sizeof detail, "placements=%zu", n->n_want);
    ctl_event_add(c, "node_lost", n->name, detail);
}

static bool needs_replan(const ctl *c)
{
    if (!c->plan) return false;
    for (size_t i = 0; i < c->nodes.n; i++)
        if (c->nodes.v[i]->state == CTL_NODE_LOST && c->nodes.v[i]->n_want) return true;
    return (c->plan->n_unplaced || (c->manifest && !c->plan->n_placements)) &&
           c->fleet_epoch != c->tried_epoch;
}

void ctl_tick(ctl *c)
{
    uint64_t now = uv_now(&c->loop), lost_after = 3ull * c->cfg.heartbeat_ms;
    for (size_t i = 0; i < c->nodes.n; i++) {
        ctl_node *n = c->nodes.v[i];
        if (n->state == CTL_NODE_READY && now > n->last_seen && now - n->last_seen > lost_after)
            node_lost(c, n, now);
    }
    for (ctl_session *s = c->sessions, *next; s; s = next) {
        next = s->next;
        if (!s->node && !s->closing && now - s->opened > c->hello_timeout_ms)
            sess_fail(s, PROTO_CODE_PROTOCOL, "no hello in time");
    }
    ctl_reconcile_all(c);
    ctl_maybe_start_job(c);
}

static void json_summary(vp_sb *sb, const ctl *c, const ctl_job *j)
{
    const place_plan *p = c->plan;
    vp_sb_printf(sb,
                 "{\"models\":%zu,\"placements\":%zu,\"kept\":%zu,\"moved\":%zu,"
                 "\"placed\":%zu,\"full_plan\":%s,\"solver\":",
                 c->manifest ? c->manifest->n_models : 0, p->n_placements, j->out.kept,
                 j->out.moved, j->out.placed, j->out.full ? "true" : "false");
    ctl_json_str(sb, p->solver);
    vp_sb_append(sb, ",\"status\":", 10);
    ctl_json_str(sb, p->status);
    vp_sb_printf(sb,
                 ",\"cost_per_hour\":%.6g,\"lower_bound_per_hour\":%.6g,\"gap\":%.6g,"
                 "\"solve_ms\":%" PRIu64 ",\"unplaced\":[",
                 p->cost_per_hour, p->lower_bound_per_hour, p->gap, p->solve_ms);
    for (size_t i = 0; i < p->n_unplaced; i++) {
        vp_sb_printf(sb, "%s{\"model\":", i ? "," : "");
        ctl_json_str(sb, p->unplaced[i].model);
        vp_sb_printf(sb, ",\"replica\":%u,\"reason\":", p->unplaced[i].replica);
        ctl_json_str(sb, p->unplaced[i].reason);
        vp_sb_append(sb, "}", 1);
    }
    vp_sb_append(sb, "]}", 2);
}

static char *json_error(const char *msg)
{
    vp_sb sb = {0};
    vp_sb_append(&sb, "{\"error\":", 9);
    ctl_json_str(&sb, msg);
    vp_sb_append(&sb, "}", 1);
    return vp_sb_ok(&sb) ? vp_sb_steal(&sb) : NULL;
}

static void job_work(uv_work_t *w)
{
    ctl_job *j = w->data;
    j->rc = ctl_solve(&j->req, &j->out, &j->err);
}

static void job_free(ctl_job *j)
{
    free(j->ready);
    free(j->lost);
    free(j);
}

static void job_done(uv_work_t *w, int status)
{
    ctl_job *j = w->data;
    ctl *c = j->c;
    ctl_submit *sub = j->sub;
    c->job = NULL;
    if (status == UV_ECANCELED || c->stopping) {
        if (sub) {
            plan_manifest_free(sub->manifest);
            sub->manifest = NULL;
            ctl_submit_finish(c, sub, 503, json_error("controller is stopping"));
        }
        place_plan_free(j->out.plan);
        job_free(j);
        return;
    }
    const char *what = sub ? "submit" : "replan";
    if (j->rc) {
        ctl_logline l;
        if (ctl_log_begin(&c->log, &l, CTL_LOG_ERROR, sub ? "submit_refused" : "replan_failed")) {
            ctl_log_s(&l, "error", j->err.msg);
            ctl_log_end(&c->log, &l);
        }
        if (sub) {
            plan_manifest_free(sub->manifest);
            sub->manifest = NULL;
            bool input = j->rc == VP_EINPUT || j->rc == VP_EPARSE || j->rc == VP_ENOTFOUND ||
                         j->rc == VP_EDUP || j->rc == VP_ETOOBIG || j->rc == VP_EOVERFLOW;
            ctl_submit_finish(c, sub, input ? 400 : 500, json_error(j->err.msg));
        } else {
            c->tried_epoch = j->epoch;
            c->replan_not_before = uv_now(&c->loop) + 1000;
        }
        job_free(j);
        ctl_maybe_start_job(c);
        return;
    }
    place_plan *np = j->out.plan;
    j->out.plan = NULL;
    uint64_t replans = c->replans_total + (sub ? 0 : 1);
    char detail[PLACE_REASON_MAX];
    snprintf(detail, sizeof detail,
             "placements=%zu kept=%zu moved=%zu placed=%zu unplaced=%zu "
             "solver=%s",
             np->n_placements, j->out.kept, j->out.moved, j->out.placed, np->n_unplaced,
             np->solver);
    vp_err e = {0};
    /* The durable commit comes first: nothing below is sent unless it is on disk. Node rows
     * not yet written go with it, so a restart knows every node the plan names. */
    ctl_node **dirty = calloc(c->nodes.n ? c->nodes.n : 1, sizeof *dirty);
    size_t nd = 0;
    for (size_t i = 0; dirty && i < c->nodes.n; i++)
        if (c->nodes.v[i]->dirty) dirty[nd++] = c->nodes.v[i];
    int rc = dirty ? ctl_store_save_desired(c->store, sub ? sub->text : NULL, np, dirty, nd,
                                            replans, what, detail, &e)
                   : vp_errf(&e, -ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < nd; i++) {
        dirty[i]->dirty = false;
        dirty[i]->persisted_hb_wall_ms = dirty[i]->last_hb_wall_ms;
    }
    free(dirty);
    if (rc) {
        ctl_logline l;
        if (ctl_log_begin(&c->log, &l, CTL_LOG_ERROR, "store_failed")) {
            ctl_log_s(&l, "during", what);
            ctl_log_s(&l, "error", e.msg);
            ctl_log_end(&c->log, &l);
        }
        place_plan_free(np);
        if (sub) {
            plan_manifest_free(sub->manifest);
            sub->manifest = NULL;
            ctl_submit_finish(c, sub, 500, json_error(e.msg));
        } else {
            c->replan_not_before = uv_now(&c->loop) + 1000;
        }
        job_free(j);
        ctl_maybe_start_job(c);
        return;
    }
    place_plan *old_plan = c->plan;
    plan_manifest *old_manifest = NULL;
    char *old_text = NULL;
    pthread_mutex_lock(&c->mu);
    c->plan = np;
    if (sub) {
        old_manifest = c->manifest;
        old_text = c->manifest_text;
        c->manifest = sub->manifest;
        c->manifest_text = sub->text;
        sub->manifest = NULL;
        sub->text = NULL;
        c->submits_total++;
    } else {
        c->replans_total = replans;
    }
    c->solves_total++;
    c->solve_seconds_last = j->out.seconds;
    c->solve_seconds_sum += j->out.seconds;
    ctl_index_plan(c);
    pthread_mutex_unlock(&c->mu);
    place_plan_free(old_plan);
    plan_manifest_free(old_manifest);
    free(old_text);
    c->tried_epoch = j->epoch;

    ctl_logline l;
    if (ctl_log_begin(&c->log, &l, CTL_LOG_INFO, what)) {
        ctl_log_u(&l, "placements", np->n_placements);
        ctl_log_u(&l, "kept", j->out.kept);
        ctl_log_u(&l, "moved", j->out.moved);
        ctl_log_u(&l, "placed", j->out.placed);
        ctl_log_u(&l, "unplaced", np->n_unplaced);
        ctl_log_s(&l, "solver", np->solver);
        ctl_log_s(&l, "status", np->status);
        ctl_log_f(&l, "cost_per_hour", np->cost_per_hour);
        ctl_log_f(&l, "solve_s", j->out.seconds);
        ctl_log_end(&c->log, &l);
    }
    for (size_t i = 0; i < np->n_unplaced; i++) {
        if (ctl_log_begin(&c->log, &l, CTL_LOG_WARN, "unplaced")) {
            ctl_log_s(&l, "model", np->unplaced[i].model);
            ctl_log_u(&l, "replica", np->unplaced[i].replica);
            ctl_log_s(&l, "reason", np->unplaced[i].reason);
            ctl_log_end(&c->log, &l);
        }
    }
    if (sub) {
        vp_sb sb = {0};
        json_summary(&sb, c, j);
        ctl_submit_finish(c, sub, 200, vp_sb_ok(&sb) ? vp_sb_steal(&sb) : NULL);
        vp_sb_free(&sb);
    }
    ctl_reconcile_all(c);
    job_free(j);
    ctl_maybe_start_job(c);
}

void ctl_maybe_start_job(ctl *c)
{
    if (c->job || c->stopping) return;
    pthread_mutex_lock(&c->mu);
    ctl_submit *sub = c->subq;
    if (sub) {
        c->subq = sub->next;
        if (!c->subq) c->subq_tail = NULL;
        sub->next = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    if (!sub && (uv_now(&c->loop) < c->replan_not_before || !needs_replan(c))) return;

    ctl_job *j = calloc(1, sizeof *j);
    if (j) {
        j->ready = calloc(c->nodes.n ? c->nodes.n : 1, sizeof *j->ready);
        j->lost = calloc(c->nodes.n ? c->nodes.n : 1, sizeof *j->lost);
    }
    if (!j || !j->ready || !j->lost) {
        if (j) job_free(j);
        if (sub) {
            plan_manifest_free(sub->manifest);
            sub->manifest = NULL;
            ctl_submit_finish(c, sub, 500, json_error("out of memory"));
        }
        return;
    }
    j->c = c;
    j->sub = sub;
    j->epoch = c->fleet_epoch;
    j->work.data = j;
    size_t nr = 0, nl = 0;
    for (size_t i = 0; i < c->nodes.n; i++) {
        const ctl_node *n = c->nodes.v[i];
        if (n->state == CTL_NODE_LOST) {
            snprintf(j->lost[nl++], PLACE_NAME_MAX, "%s", n->name);
            continue;
        }
        if (n->n_gpus < 1) continue;
        ctl_fleet_node *f = &j->ready[nr++];
        snprintf(f->name, sizeof f->name, "%s", n->name);
        snprintf(f->model, sizeof f->model, "%s", n->gpus[0].model);
        f->n_gpus = n->n_gpus;
        f->total_bytes = n->gpus[0].total_bytes;
        for (int g = 1; g < n->n_gpus; g++)
            if (n->gpus[g].total_bytes < f->total_bytes) f->total_bytes = n->gpus[g].total_bytes;
    }
    /* The solve borrows the plan, manifest and fleet: only job_done replaces them, and only
     * one job runs at a time. */
    ctl_solve_req *r = &j->req;
    r->submit = sub != NULL;
    r->manifest = sub ? sub->manifest : c->manifest;
    r->old_text = c->manifest_text;
    r->new_text = sub ? sub->text : NULL;
    r->fleet_file = c->fleet_file;
    r->ready = j->ready;
    r->n_ready = nr;
    r->lost = (const char(*)[PLACE_NAME_MAX])j->lost;
    r->n_lost = nl;
    r->base = c->plan;
    r->opts = c->cfg.solve;
    c->job = j;
    int rc = uv_queue_work(&c->loop, &j->work, job_work, job_done);
    if (rc) {
        c->job = NULL;
        if (sub) {
            plan_manifest_free(sub->manifest);
            sub->manifest = NULL;
            ctl_submit_finish(c, sub, 500, json_error(uv_strerror(rc)));
        }
        job_free(j);
    }
}
