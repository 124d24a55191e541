/* reconcile.c - desired vs observed, per node, on the loop thread.
 *
 * Reconcile is level-triggered: for each node with a live session and a fresh report, every
 * desired placement that the report lacks gets an assign and every reported placement that is
 * not desired there gets a release. It runs on every report and on every tick, so a lost frame
 * or a restarted agent heals by itself; the `sent` list only stops re-sending the same command
 * more often than once per resend interval. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_internal.h"

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
void ctl_sent_prune(const ctl *c, ctl_node *n, uint64_t now)
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
    int rc = ctl_sess_send(n->sess, &m);
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
    int rc = ctl_sess_send(n->sess, &m);
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

