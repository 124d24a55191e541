/* reconcile.c - desired vs observed, per node, on the loop thread.
 *
 * Reconcile is level-triggered: for each node with a live session and a fresh report, every
 * desired placement that the report lacks gets an assign and every reported instance that is not
 * desired there gets a release. It runs on every report and on every tick, so a lost frame or a
 * restarted agent heals by itself; the `sent` list only stops re-sending the same command more
 * often than once per resend interval.
 *
 * Instances are (id, revision) (launch.c). When a placement's revision changes (its engine_args
 * changed, say) or it moves, the new instance is assigned while the old one still runs, and the
 * old one is released only once the new one is running: make-before-break. Where the new one
 * cannot start beside the old (its GPU lacks the room: the agent refuses it as overcommit), one
 * replica of the model may be stopped first as long as the model keeps serving with at most one
 * replica down; a model with a single replica is instead moved to a node with room, and only
 * when there is none is it stopped first (the event log says so). An old instance that failed
 * serves nobody and is released at once.
 *
 * A replica the manifest still asks for but the plan could not place keeps its running
 * instance (over capacity) instead of being stopped for want of room.
 *
 * Crash loops: an agent reports how often each instance failed; K failures within the window on
 * one node make the controller keep that placement off the node (an exclusion the next re-plan
 * honours) and mark the node's GPUs it used as suspect. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_internal.h"

/* ---- sent commands ---- */

static const ctl_sent *sent_find(const ctl_node *n, const char *id, const char *rev, int kind)
{
    for (size_t i = 0; i < n->n_sent; i++)
        if (n->sent[i].kind == kind && !strcmp(n->sent[i].id, id) && !strcmp(n->sent[i].rev, rev))
            return &n->sent[i];
    return NULL;
}

static bool sent_recently(const ctl *c, const ctl_node *n, const char *id, const char *rev,
                          int kind, uint64_t now)
{
    const ctl_sent *s = sent_find(n, id, rev, kind);
    return s && now - s->at < c->resend_ms;
}

static void sent_mark(ctl_node *n, const char *id, const char *rev, int kind, uint64_t now)
{
    ctl_sent *s = (ctl_sent *)sent_find(n, id, rev, kind);
    if (!s) {
        if (vp_grow((void **)&n->sent, &n->cap_sent, n->n_sent + 1, sizeof *n->sent, 8)) return;
        s = &n->sent[n->n_sent++];
        snprintf(s->id, sizeof s->id, "%s", id);
        snprintf(s->rev, sizeof s->rev, "%s", rev);
        s->kind = kind;
    }
    s->at = now;
}

void ctl_sent_prune(const ctl *c, ctl_node *n, uint64_t now)
{
    size_t k = 0;
    for (size_t i = 0; i < n->n_sent; i++) {
        const ctl_sent *s = &n->sent[i];
        const proto_placement *r = ctl_node_reported(n, s->id, s->rev);
        bool done = s->kind == CTL_SENT_ASSIGN ? r != NULL : (!r || r->state == PROTO_STOPPED);
        if (done || now - s->at >= c->resend_ms) continue;
        n->sent[k++] = *s;
    }
    n->n_sent = k;
}

/* ---- the desired plan, indexed ---- */

static const place_plan *sort_plan; /* qsort has no context argument; loop thread only */

static int by_id_cmp(const void *a, const void *b)
{
    const place_plan *p = sort_plan;
    return strcmp(p->placements[*(const size_t *)a].id, p->placements[*(const size_t *)b].id);
}

/* Index of the plan placement with this id, or -1. */
long ctl_desired_index(const ctl *c, const char *id)
{
    if (!c->plan || !c->by_id) return -1;
    size_t lo = 0, hi = c->plan->n_placements;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp(c->plan->placements[c->by_id[mid]].id, id);
        if (!cmp) return (long)c->by_id[mid];
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static const plan_model *manifest_model(const ctl *c, const char *name)
{
    if (!c->manifest) return NULL;
    for (size_t i = 0; i < c->manifest->n_models; i++)
        if (!strcmp(c->manifest->models[i].name, name)) return &c->manifest->models[i];
    return NULL;
}

/* Smallest total bytes of q's GPUs on n (0 when n does not have them). */
static uint64_t gpu_total(const ctl_node *n, const place_placement *q)
{
    uint64_t total = 0;
    for (int i = 0; n && i < q->n_gpus; i++) {
        if (q->gpus[i] >= n->n_gpus) return 0;
        uint64_t t = n->gpus[q->gpus[i]].total_bytes;
        if (!total || t < total) total = t;
    }
    return total;
}

void ctl_index_plan(ctl *c)
{
    for (size_t i = 0; i < c->nodes.n; i++)
        c->nodes.v[i]->n_want = 0;
    free(c->revs);
    free(c->by_id);
    c->revs = NULL;
    c->by_id = NULL;
    if (!c->plan) return;
    size_t np = c->plan->n_placements;
    c->revs = calloc(np ? np : 1, sizeof *c->revs);
    c->by_id = calloc(np ? np : 1, sizeof *c->by_id);
    for (size_t i = 0; i < np; i++) {
        const place_placement *q = &c->plan->placements[i];
        ctl_node *n = ctl_nodes_find(&c->nodes, c->plan->nodes[q->node].name);
        if (c->by_id) c->by_id[i] = i;
        if (c->revs)
            ctl_revision(manifest_model(c, q->model), q, gpu_total(n, q), c->revs[i],
                         sizeof c->revs[i]);
        if (!n) continue; /* a node that never registered: pending until it does */
        if (vp_grow((void **)&n->want, &n->cap_want, n->n_want + 1, sizeof *n->want, 8)) continue;
        n->want[n->n_want++] = i;
    }
    if (c->by_id) {
        sort_plan = c->plan;
        qsort(c->by_id, np, sizeof *c->by_id, by_id_cmp);
        sort_plan = NULL;
    }
}

void ctl_plan_revision(const ctl *c, const plan_manifest *m, const place_plan *p, size_t i,
                       char *out, size_t cap)
{
    const place_placement *q = &p->placements[i];
    const plan_model *pm = NULL;
    for (size_t k = 0; m && k < m->n_models && !pm; k++)
        if (!strcmp(m->models[k].name, q->model)) pm = &m->models[k];
    ctl_revision(pm, q, gpu_total(ctl_nodes_find(&c->nodes, p->nodes[q->node].name), q), out, cap);
}

static const char *rev_of(const ctl *c, size_t i)
{
    return c->revs ? c->revs[i] : "";
}

/* ---- observed state ---- */

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

/* The instance of desired placement i as node n reports it, or NULL. */
static const proto_placement *instance_of(const ctl *c, const ctl_node *n, size_t i)
{
    const place_placement *q = &c->plan->placements[i];
    const char *rev = rev_of(c, i);
    const proto_placement *r = ctl_node_reported(n, q->id, rev[0] ? rev : NULL);
    return r && same_slot(n, q, r) ? r : NULL;
}

const char *ctl_placement_state(const ctl *c, const place_placement *p, const proto_placement **rep)
{
    if (rep) *rep = NULL;
    const ctl_node *n = ctl_nodes_find(&c->nodes, c->plan->nodes[p->node].name);
    if (!n || n->state != CTL_NODE_READY) return "pending";
    const proto_placement *r = instance_of(c, n, (size_t)(p - c->plan->placements));
    if (!r) return "pending";
    if (rep) *rep = r;
    return proto_state_name(r->state);
}

/* Running instances of `model` anywhere, other than `except`, and not being released. */
static size_t serving(const ctl *c, const char *model, const proto_placement *except)
{
    size_t k = 0;
    for (size_t i = 0; i < c->nodes.n; i++) {
        const ctl_node *n = c->nodes.v[i];
        if (n->state != CTL_NODE_READY || !n->sess) continue;
        for (size_t j = 0; j < n->n_rep; j++) {
            const proto_placement *r = &n->rep[j];
            if (r == except || r->state != PROTO_RUNNING || strcmp(r->model, model)) continue;
            if (sent_find(n, r->id, r->rev, CTL_SENT_RELEASE)) continue;
            k++;
        }
    }
    return k;
}

static size_t desired_count(const ctl *c, const char *model)
{
    size_t k = 0;
    for (size_t i = 0; c->plan && i < c->plan->n_placements; i++)
        k += !strcmp(c->plan->placements[i].model, model);
    return k;
}

static const ctl_excl *excl_find(const ctl *c, const char *id, const char *node)
{
    for (size_t i = 0; i < c->n_excl; i++)
        if (!strcmp(c->excl[i].id, id) && !strcmp(c->excl[i].node, node)) return &c->excl[i];
    return NULL;
}

/* Keeps placement id off node (off those GPUs of it, when gpus is not 0) from the next re-plan
 * on, for one crash-loop window. */
static void excl_add(ctl *c, const char *id, const char *node, uint32_t gpus, const char *reason)
{
    if (excl_find(c, id, node)) return;
    if (vp_grow((void **)&c->excl, &c->cap_excl, c->n_excl + 1, sizeof *c->excl, 8)) return;
    ctl_excl *x = &c->excl[c->n_excl++];
    memset(x, 0, sizeof *x);
    snprintf(x->id, sizeof x->id, "%s", id);
    snprintf(x->node, sizeof x->node, "%s", node);
    snprintf(x->reason, sizeof x->reason, "%s", reason);
    x->gpus = gpus;
    x->pending = true;
    x->until = uv_now(&c->loop) + c->cfg.crash_loop_window_ms;
}

void ctl_excl_expire(ctl *c)
{
    uint64_t now = uv_now(&c->loop);
    size_t k = 0;
    for (size_t i = 0; i < c->n_excl; i++)
        if (c->excl[i].pending || now < c->excl[i].until) c->excl[k++] = c->excl[i];
    c->n_excl = k;
}

static bool overcommitted(const proto_placement *r)
{
    return r->state == PROTO_FAILED && !strncmp(r->error, PROTO_CODE_OVERCOMMIT, 10);
}

static void log_roll(ctl *c, const char *msg, const ctl_node *n, const proto_placement *r,
                     const char *why)
{
    vp_logline l;
    if (vp_log_begin(&c->log, &l, VP_LOG_WARN, msg)) {
        vp_log_s(&l, "node", n->name);
        vp_log_s(&l, "id", r->id);
        vp_log_s(&l, "rev", r->rev);
        vp_log_s(&l, "reason", why);
        vp_log_end(&c->log, &l);
    }
    char detail[PLACE_REASON_MAX];
    snprintf(detail, sizeof detail, "%s@%s: %s", r->id, r->rev, why);
    ctl_event_add(c, msg, n->name, detail);
}

/* Whether a running instance r on n that is not desired there must keep running for now: its
 * placement is still desired and its replacement does not run yet (make-before-break). */
static bool hold(ctl *c, ctl_node *n, const proto_placement *r)
{
    /* A starting instance may be an engine a restarted agent adopted and is still probing:
     * it is likely serving, so it is held like a running one. A failed one serves nobody. */
    if (r->state != PROTO_RUNNING && r->state != PROTO_STARTING) return false;
    long i = ctl_desired_index(c, r->id);
    /* Wanted, but the new plan found no room for it: it keeps running (over capacity) rather
     * than stop for want of a place. */
    if (i < 0) return r->state == PROTO_RUNNING && ctl_over_capacity(c->plan, r->id);
    const place_placement *q = &c->plan->placements[i];
    ctl_node *qn = ctl_nodes_find(&c->nodes, c->plan->nodes[q->node].name);
    if (!qn || qn->state != CTL_NODE_READY || !qn->sess || !qn->reported)
        return true; /* its new home is not there yet */
    const proto_placement *d = instance_of(c, qn, (size_t)i);
    if (d && d->state == PROTO_RUNNING) return false;
    if (!d || !overcommitted(d)) return true; /* starting, or retrying: wait */
    /* A move (another node or GPUs) waits for its target to free up: the move list was ordered
     * so every target fills from room other moves leave. Only a cycle of moves, flagged
     * break-before-make, may stop first. */
    bool move = qn != n || !same_slot(n, q, r);
    bool cycle = false;
    for (size_t k = 0; k < c->n_bbm && !cycle; k++)
        cycle = !strcmp(c->bbm[k], r->id);
    if (move && !cycle) return true;
    /* The new instance cannot start beside the old one. */
    size_t others = serving(c, q->model, r), want = desired_count(c, q->model);
    if (others >= 1 && others + 1 >= want) {
        log_roll(c, "roll_break", n, r, "no room beside it; the model keeps serving");
        return false;
    }
    if (want > 1) return true; /* another replica is down: this one waits for it */
    const ctl_excl *x = excl_find(c, q->id, qn->name);
    if (!x) {
        uint32_t mask = 0;
        for (int g = 0; g < q->n_gpus; g++)
            mask |= 1u << q->gpus[g];
        excl_add(c, q->id, qn->name, mask, "roll: no room beside the running revision");
        log_roll(c, "roll_move", n, r, "no room beside it: placing the new revision elsewhere");
        return true;
    }
    if (x->pending) return true;
    /* A re-plan found no other node with room: stopping first is the only way. */
    log_roll(c, "roll_break", n, r, "single replica and no room anywhere for a second copy");
    return false;
}

/* ---- commands ---- */

static void send_assign(ctl *c, ctl_node *n, size_t i)
{
    const place_placement *q = &c->plan->placements[i];
    proto_msg m;
    proto_msg_init(&m, PROTO_ASSIGN);
    proto_assign *a = &m.u.assign;
    snprintf(a->id, sizeof a->id, "%s", q->id);
    snprintf(a->model, sizeof a->model, "%s", q->model);
    a->replica = q->replica;
    a->n_gpus = q->n_gpus;
    for (int g = 0; g < q->n_gpus; g++)
        a->gpus[g] = (uint8_t)n->gpus[q->gpus[g]].index;
    uint64_t total = gpu_total(n, q);
    a->bytes_per_gpu = q->bytes_per_gpu;
    a->fraction = total ? (double)q->bytes_per_gpu / (double)total : 1.0;
    if (a->fraction > 1.0) a->fraction = 1.0;
    if (a->fraction <= 0.0) a->fraction = 1e-9;
    int rc = ctl_assign_fill(manifest_model(c, q->model), q, total, a);
    if (!rc) rc = ctl_sess_send(n->sess, &m);
    proto_msg_free(&m);
    if (rc) return;
    pthread_mutex_lock(&c->mu);
    c->assigns_sent++;
    pthread_mutex_unlock(&c->mu);
    vp_logline l;
    if (vp_log_begin(&c->log, &l, VP_LOG_INFO, "assign")) {
        vp_log_s(&l, "node", n->name);
        vp_log_s(&l, "id", q->id);
        vp_log_s(&l, "rev", rev_of(c, i));
        vp_log_u(&l, "bytes_per_gpu", q->bytes_per_gpu);
        vp_log_i(&l, "gpus", q->n_gpus);
        vp_log_end(&c->log, &l);
    }
}

static void send_release(ctl *c, ctl_node *n, const char *id, const char *rev)
{
    proto_msg m;
    proto_msg_init(&m, PROTO_RELEASE);
    snprintf(m.u.release.id, sizeof m.u.release.id, "%s", id);
    snprintf(m.u.release.rev, sizeof m.u.release.rev, "%s", rev);
    int rc = ctl_sess_send(n->sess, &m);
    proto_msg_free(&m);
    if (rc) return;
    pthread_mutex_lock(&c->mu);
    c->releases_sent++;
    pthread_mutex_unlock(&c->mu);
    vp_logline l;
    if (vp_log_begin(&c->log, &l, VP_LOG_INFO, "release")) {
        vp_log_s(&l, "node", n->name);
        vp_log_s(&l, "id", id);
        if (rev[0]) vp_log_s(&l, "rev", rev);
        vp_log_end(&c->log, &l);
    }
}

/* true when r is the instance of a placement desired on n. */
static bool wanted_here(const ctl *c, const ctl_node *n, const proto_placement *r)
{
    for (size_t k = 0; k < n->n_want; k++) {
        size_t i = n->want[k];
        const place_placement *q = &c->plan->placements[i];
        if (strcmp(q->id, r->id)) continue;
        const char *rev = rev_of(c, i);
        if ((!rev[0] || !strcmp(rev, r->rev)) && same_slot(n, q, r)) return true;
    }
    return false;
}

void ctl_reconcile_node(ctl *c, ctl_node *n)
{
    if (!n->sess || n->sess->closing || !n->reported || n->state != CTL_NODE_READY) return;
    uint64_t now = uv_now(&c->loop);
    /* Releases first, so an agent frees room before it is asked to fill it. */
    for (size_t i = 0; i < n->n_rep && n->sess; i++) {
        const proto_placement *r = &n->rep[i];
        if (r->state == PROTO_STOPPED) continue;
        if (c->plan && wanted_here(c, n, r)) continue;
        if (sent_recently(c, n, r->id, r->rev, CTL_SENT_RELEASE, now)) continue;
        if (c->plan && hold(c, n, r)) continue;
        send_release(c, n, r->id, r->rev);
        sent_mark(n, r->id, r->rev, CTL_SENT_RELEASE, now);
    }
    for (size_t k = 0; k < n->n_want && n->sess; k++) {
        size_t i = n->want[k];
        const place_placement *q = &c->plan->placements[i];
        const char *rev = rev_of(c, i);
        const proto_placement *r = ctl_node_reported(n, q->id, rev);
        if (r && r->state != PROTO_STOPPED) continue; /* running, starting, failed, or moving */
        bool gpus_ok = true;
        for (int g = 0; g < q->n_gpus; g++)
            gpus_ok = gpus_ok && q->gpus[g] < n->n_gpus;
        if (!gpus_ok || sent_recently(c, n, q->id, rev, CTL_SENT_ASSIGN, now)) continue;
        send_assign(c, n, i);
        sent_mark(n, q->id, rev, CTL_SENT_ASSIGN, now);
    }
}

void ctl_reconcile_all(ctl *c)
{
    for (size_t i = 0; i < c->nodes.n; i++)
        ctl_reconcile_node(c, c->nodes.v[i]);
}

/* ---- crash loops ---- */

static ctl_fail *fail_entry(ctl_node *n, const proto_placement *r)
{
    for (size_t i = 0; i < n->n_fails; i++)
        if (!strcmp(n->fails[i].id, r->id) && !strcmp(n->fails[i].rev, r->rev)) return &n->fails[i];
    if (vp_grow((void **)&n->fails, &n->cap_fails, n->n_fails + 1, sizeof *n->fails, 8))
        return NULL;
    ctl_fail *f = &n->fails[n->n_fails++];
    memset(f, 0, sizeof *f);
    snprintf(f->id, sizeof f->id, "%s", r->id);
    snprintf(f->rev, sizeof f->rev, "%s", r->rev);
    f->last = r->failures;
    return f;
}

static void crash_loop(ctl *c, ctl_node *n, const proto_placement *r, const ctl_fail *f,
                       uint64_t window)
{
    char why[PLACE_REASON_MAX];
    snprintf(why, sizeof why, "crash loop: %d failures in %llu s (last: %.160s)", f->n,
             (unsigned long long)(window / 1000), r->error[0] ? r->error : "no reason given");
    pthread_mutex_lock(&c->mu);
    for (int g = 0; g < r->n_gpus; g++)
        for (int k = 0; k < n->n_gpus; k++)
            if (n->gpus[k].index == r->gpus[g]) {
                n->suspect |= 1u << k;
                snprintf(n->suspect_why[k], sizeof n->suspect_why[k], "%s: %s", r->id, why);
            }
    c->crash_loops_total++;
    pthread_mutex_unlock(&c->mu);
    excl_add(c, r->id, n->name, 0, why);
    vp_logline l;
    if (vp_log_begin(&c->log, &l, VP_LOG_WARN, "crash_loop")) {
        vp_log_s(&l, "node", n->name);
        vp_log_s(&l, "id", r->id);
        vp_log_s(&l, "rev", r->rev);
        vp_log_s(&l, "reason", why);
        vp_log_end(&c->log, &l);
    }
    char detail[PLACE_REASON_MAX];
    snprintf(detail, sizeof detail, "%s: %s", r->id, why);
    ctl_event_add(c, "crash_loop", n->name, detail);
}

void ctl_note_failures(ctl *c, ctl_node *n)
{
    uint64_t now = uv_now(&c->loop), window = c->cfg.crash_loop_window_ms;
    int k = (int)c->cfg.crash_loop_failures;
    for (size_t i = 0; i < n->n_fails; i++)
        n->fails[i].seen = false;
    for (size_t j = 0; j < n->n_rep; j++) {
        const proto_placement *r = &n->rep[j];
        ctl_fail *f = fail_entry(n, r);
        if (!f) continue;
        f->seen = true;
        if (r->failures < f->last) f->last = r->failures; /* a new agent counts from 0 */
        for (; f->last < r->failures; f->last++) {
            if (f->n == CTL_CRASH_MAX) {
                memmove(f->at, f->at + 1, sizeof f->at[0] * (CTL_CRASH_MAX - 1));
                f->n--;
            }
            f->at[f->n++] = now;
        }
        int recent = 0;
        for (int t = 0; t < f->n; t++)
            recent += now - f->at[t] <= window;
        if (recent >= k && ctl_desired_index(c, r->id) >= 0 && !excl_find(c, r->id, n->name)) {
            f->n = recent;
            crash_loop(c, n, r, f, window);
            f->n = 0;
        }
    }
    size_t w = 0;
    for (size_t i = 0; i < n->n_fails; i++)
        if (n->fails[i].seen) n->fails[w++] = n->fails[i];
    n->n_fails = w;
}

bool ctl_excl_pending(const ctl *c)
{
    for (size_t i = 0; i < c->n_excl; i++)
        if (c->excl[i].pending) return true;
    return false;
}
