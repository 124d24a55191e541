/* jobs.c - liveness, re-plans and the durable event log, on the loop thread.
 *
 * Liveness: any frame counts; a node silent for 3 heartbeat intervals is lost. A lost node's
 * placements, and anything unplaced once the set of ready nodes changes, trigger a re-plan: a
 * snapshot goes to the thread pool (ctl_solve), and the result is committed to the store
 * BEFORE it becomes the desired plan that reconcile acts on. One solve runs at a time;
 * submits queue behind it. Node rows and events are flushed to the store in batches. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_internal.h"

#define FLUSH_DELAY_MS 200

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
        vp_logline l;
        if (vp_log_begin(&c->log, &l, VP_LOG_ERROR, "store_flush_failed")) {
            vp_log_s(&l, "error", e.msg);
            vp_log_end(&c->log, &l);
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
    if (s) ctl_sess_close(s, "silent for 3 heartbeat intervals");
    c->fleet_epoch++;
    vp_logline l;
    if (vp_log_begin(&c->log, &l, VP_LOG_WARN, "node_lost")) {
        vp_log_s(&l, "node", n->name);
        vp_log_u(&l, "silent_ms", now - n->last_seen);
        vp_log_u(&l, "placements", n->n_want);
        vp_log_end(&c->log, &l);
    }
    char detail[64];
    snprintf(detail, sizeof detail, "placements=%zu", n->n_want);
    ctl_event_add(c, "node_lost", n->name, detail);
}

uint64_t ctl_lease_over(const ctl *c, const ctl_node *n)
{
    return n->lease_sent + c->cfg.lease_ms + c->lease_margin_ms;
}

static bool needs_replan(const ctl *c)
{
    if (!c->plan) return false;
    uint64_t now = uv_now(&c->loop);
    for (size_t i = 0; i < c->nodes.n; i++) {
        const ctl_node *n = c->nodes.v[i];
        if (n->state == CTL_NODE_LOST && n->n_want && now >= ctl_lease_over(c, n)) return true;
    }
    if (ctl_excl_pending(c)) return true;
    return (c->plan->n_unplaced || (c->manifest && !c->plan->n_placements)) &&
           c->fleet_epoch != c->tried_epoch;
}

/* A loop that did not run cannot have heard anyone: after a stall of this process (SIGSTOP, a
 * disk that froze a commit, swapping), silence is counted again from now, so the frames the
 * agents sent meanwhile are read before anyone is declared lost. */
static void note_stall(ctl *c, uint64_t now)
{
    uint64_t gap = c->last_tick ? now - c->last_tick : 0;
    c->last_tick = now;
    if (gap <= (uint64_t)c->tick_ms * 4 + c->cfg.heartbeat_ms / 2) return;
    for (size_t i = 0; i < c->nodes.n; i++)
        if (c->nodes.v[i]->last_seen < now) c->nodes.v[i]->last_seen = now;
    pthread_mutex_lock(&c->mu);
    c->stalls_total++;
    pthread_mutex_unlock(&c->mu);
    vp_logline l;
    if (vp_log_begin(&c->log, &l, VP_LOG_WARN, "controller_stalled")) {
        vp_log_u(&l, "stalled_ms", gap);
        vp_log_end(&c->log, &l);
    }
    char detail[64];
    snprintf(detail, sizeof detail, "stalled_ms=%llu", (unsigned long long)gap);
    ctl_event_add(c, "controller_stalled", NULL, detail);
}

void ctl_tick(ctl *c)
{
    uint64_t now = uv_now(&c->loop), lost_after = 3ull * c->cfg.heartbeat_ms;
    note_stall(c, now);
    for (size_t i = 0; i < c->nodes.n; i++) {
        ctl_node *n = c->nodes.v[i];
        if (n->state == CTL_NODE_READY && now > n->last_seen && now - n->last_seen > lost_after)
            node_lost(c, n, now);
    }
    for (ctl_session *s = c->sessions, *next; s; s = next) {
        next = s->next;
        if (!s->node && !s->closing && now - s->opened > c->hello_timeout_ms)
            ctl_sess_fail(s, PROTO_CODE_PROTOCOL, "no hello in time");
    }
    ctl_excl_expire(c);
    ctl_reconcile_all(c);
    ctl_maybe_start_job(c);
}

/* The submit answer for plan p of manifest m; diff is ctl_diff_json's text. */
static void json_summary(vp_sb *sb, const place_plan *p, const plan_manifest *m, const ctl_job *j,
                         bool dry_run, const char *diff)
{
    vp_sb_printf(sb,
                 "{\"dry_run\":%s,\"models\":%zu,\"placements\":%zu,\"kept\":%zu,"
                 "\"moved_off_lost\":%zu,\"placed\":%zu,\"full_plan\":%s,\"solver\":",
                 dry_run ? "true" : "false", m ? m->n_models : 0, p->n_placements, j->out.kept,
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
    vp_sb_printf(sb, "]%s}", diff ? diff : "");
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
    plan_moves_free(&j->out.moves);
    free(j->ready);
    free(j->lost);
    free(j->excl);
    free(j);
}

static const char *job_name(const ctl_job *j)
{
    return j->kind == CTL_JOB_SUBMIT   ? "submit"
           : j->kind == CTL_JOB_REPLAN ? "replan"
                                       : "consolidate";
}

/* Ends a job that changes nothing: the submit (if any) gets status and body, the job goes, and
 * the next one may start. */
static void job_end(ctl *c, ctl_job *j, unsigned status, char *body)
{
    if (j->sub) {
        plan_manifest_free(j->sub->manifest);
        j->sub->manifest = NULL;
        ctl_submit_finish(c, j->sub, status, body);
    } else {
        free(body);
    }
    place_plan_free(j->out.plan);
    j->out.plan = NULL;
    job_free(j);
    ctl_maybe_start_job(c);
}

static void job_failed(ctl *c, ctl_job *j)
{
    vp_logline l;
    if (vp_log_begin(&c->log, &l, VP_LOG_ERROR, j->sub ? "submit_refused" : "replan_failed")) {
        vp_log_s(&l, "error", j->err.msg);
        vp_log_end(&c->log, &l);
    }
    int rc = j->rc;
    bool input = rc == VP_EINPUT || rc == VP_EPARSE || rc == VP_ENOTFOUND || rc == VP_EDUP ||
                 rc == VP_ETOOBIG || rc == VP_EOVERFLOW;
    if (!j->sub) {
        c->tried_epoch = j->epoch;
        c->replan_not_before = uv_now(&c->loop) + 1000;
    }
    job_end(c, j, input ? 400 : 500, json_error(j->err.msg));
}

/* The durable commit: the new desired state and the node rows not yet written (so a restart
 * knows every node the plan names), in one transaction. 0 or a code with e set. */
static int job_commit(ctl *c, const ctl_job *j, uint64_t replans, double saving, vp_err *e)
{
    const place_plan *np = j->out.plan;
    char detail[PLACE_REASON_MAX];
    snprintf(detail, sizeof detail,
             "placements=%zu kept=%zu moved=%zu placed=%zu unplaced=%zu migrated=%zu "
             "saving_per_hour=%.4g solver=%s",
             np->n_placements, j->out.kept, j->out.moved, j->out.placed, np->n_unplaced,
             j->out.moves.migrated_replicas, saving, np->solver);
    ctl_node **dirty = calloc(c->nodes.n ? c->nodes.n : 1, sizeof *dirty);
    if (!dirty) return vp_errf(e, -ENOMEM, "out of memory");
    size_t nd = 0;
    for (size_t i = 0; i < c->nodes.n; i++)
        if (c->nodes.v[i]->dirty) dirty[nd++] = c->nodes.v[i];
    const ctl_submit *sub = j->sub;
    int rc = ctl_store_save_desired(c->store, sub ? sub->text : NULL, sub ? sub->manifest : NULL,
                                    np, dirty, nd, replans, job_name(j), detail, e);
    for (size_t i = 0; !rc && i < nd; i++) {
        dirty[i]->dirty = false;
        dirty[i]->persisted_hb_wall_ms = dirty[i]->last_hb_wall_ms;
    }
    free(dirty);
    return rc;
}

/* Makes the committed plan (and a submit's manifest) the desired state, under mu. */
static void job_install(ctl *c, ctl_job *j, uint64_t replans, double saving)
{
    ctl_submit *sub = j->sub;
    const plan_moves *mv = &j->out.moves;
    /* The exclusions this solve honoured are done; newer ones wait for the next. */
    for (size_t i = 0; i < j->req.n_excl; i++)
        for (size_t k = 0; k < c->n_excl; k++)
            if (!strcmp(c->excl[k].id, j->excl[i].id) && !strcmp(c->excl[k].node, j->excl[i].node))
                c->excl[k].pending = false;
    place_plan *old_plan = c->plan;
    plan_manifest *old_manifest = NULL;
    char *old_text = NULL;
    pthread_mutex_lock(&c->mu);
    c->plan = j->out.plan;
    j->out.plan = NULL;
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
    c->moves_total += mv->migrated_replicas;
    free(c->bbm);
    c->n_bbm = 0;
    c->bbm = mv->n ? malloc(mv->n * sizeof *c->bbm) : NULL;
    for (size_t i = 0; c->bbm && i < mv->n; i++)
        if (mv->v[i].break_before_make && mv->v[i].kind == PLAN_MOVE_MIGRATE)
            snprintf(c->bbm[c->n_bbm++], PLACE_ID_MAX, "%s", mv->v[i].id);
    if (saving > 0) c->saved_per_hour_total += saving;
    c->consolidations_total += j->kind == CTL_JOB_CONSOLIDATE;
    c->solves_total++;
    c->solve_seconds_last = j->out.seconds;
    c->solve_seconds_sum += j->out.seconds;
    ctl_index_plan(c);
    pthread_mutex_unlock(&c->mu);
    place_plan_free(old_plan);
    plan_manifest_free(old_manifest);
    free(old_text);
    c->tried_epoch = j->epoch;
}

/* One line for the new plan, one per move (and an event with its saving), one per unplaced. */
static void job_log(ctl *c, const ctl_job *j, double saving)
{
    const place_plan *np = c->plan;
    const plan_moves *mv = &j->out.moves;
    vp_logline l;
    if (vp_log_begin(&c->log, &l, VP_LOG_INFO, job_name(j))) {
        vp_log_u(&l, "placements", np->n_placements);
        vp_log_u(&l, "kept", j->out.kept);
        vp_log_u(&l, "moved", j->out.moved);
        vp_log_u(&l, "placed", j->out.placed);
        if (j->out.evicted) vp_log_u(&l, "evicted", j->out.evicted);
        vp_log_u(&l, "unplaced", np->n_unplaced);
        vp_log_u(&l, "migrated", mv->migrated_replicas);
        vp_log_f(&l, "saving_per_hour", saving);
        vp_log_s(&l, "solver", np->solver);
        vp_log_s(&l, "status", np->status);
        vp_log_f(&l, "cost_per_hour", np->cost_per_hour);
        vp_log_f(&l, "solve_s", j->out.seconds);
        vp_log_end(&c->log, &l);
    }
    for (size_t i = 0; i < mv->n; i++) {
        const plan_move *m = &mv->v[i];
        if (m->kind != PLAN_MOVE_MIGRATE) continue;
        if (vp_log_begin(&c->log, &l, VP_LOG_INFO, "move")) {
            vp_log_s(&l, "id", m->id);
            vp_log_s(&l, "from", m->from_node);
            vp_log_s(&l, "to", m->to_node);
            vp_log_f(&l, "saves_per_hour", m->saves_per_hour);
            if (m->break_before_make) vp_log_s(&l, "order", "break-before-make");
            vp_log_end(&c->log, &l);
        }
        char detail[PLACE_REASON_MAX];
        snprintf(detail, sizeof detail, "%s %s -> %s saves_per_hour=%.4g%s", m->id, m->from_node,
                 m->to_node, m->saves_per_hour, m->break_before_make ? " break-before-make" : "");
        ctl_event_add(c, "move", m->to_node, detail);
    }
    for (size_t i = 0; i < np->n_unplaced; i++) {
        if (vp_log_begin(&c->log, &l, VP_LOG_WARN, "unplaced")) {
            vp_log_s(&l, "model", np->unplaced[i].model);
            vp_log_u(&l, "replica", np->unplaced[i].replica);
            vp_log_s(&l, "reason", np->unplaced[i].reason);
            vp_log_end(&c->log, &l);
        }
    }
}

/* Loop thread, after a solve: decide, commit, install, tell, act. */
static void job_done(uv_work_t *w, int status)
{
    ctl_job *j = w->data;
    ctl *c = j->c;
    ctl_submit *sub = j->sub;
    c->job = NULL;
    if (status == UV_ECANCELED || c->stopping) {
        job_end(c, j, 503, json_error("controller is stopping"));
        return;
    }
    if (j->rc) {
        job_failed(c, j);
        return;
    }
    const plan_moves *mv = &j->out.moves;
    double saving = mv->cost_before - mv->cost_after;
    if (j->kind == CTL_JOB_CONSOLIDATE &&
        (mv->migrated_replicas == 0 || saving < c->cfg.min_saving - 1e-9)) {
        vp_logline l;
        if (vp_log_begin(&c->log, &l, VP_LOG_DEBUG, "consolidation_skipped")) {
            vp_log_u(&l, "moves", mv->migrated_replicas);
            vp_log_f(&l, "saving_per_hour", saving);
            vp_log_end(&c->log, &l);
        }
        job_end(c, j, 200, NULL);
        return;
    }
    vp_sb diff = {0};
    if (sub) ctl_diff_json(c, j->out.plan, sub->manifest, &diff);
    if (sub && sub->dry_run) {
        /* The diff, and nothing else: no commit, no new desired state. */
        vp_sb sb = {0};
        json_summary(&sb, j->out.plan, sub->manifest, j, true,
                     vp_sb_ok(&diff) ? vp_sb_str(&diff) : NULL);
        vp_sb_free(&diff);
        job_end(c, j, 200, vp_sb_ok(&sb) ? vp_sb_steal(&sb) : NULL);
        vp_sb_free(&sb);
        return;
    }
    /* Nothing below is sent unless it is on disk. */
    uint64_t replans = c->replans_total + (j->kind == CTL_JOB_REPLAN);
    vp_err e = {0};
    if (job_commit(c, j, replans, saving, &e)) {
        vp_logline l;
        if (vp_log_begin(&c->log, &l, VP_LOG_ERROR, "store_failed")) {
            vp_log_s(&l, "during", job_name(j));
            vp_log_s(&l, "error", e.msg);
            vp_log_end(&c->log, &l);
        }
        if (!sub) c->replan_not_before = uv_now(&c->loop) + 1000;
        vp_sb_free(&diff);
        job_end(c, j, 500, json_error(e.msg));
        return;
    }
    job_install(c, j, replans, saving);
    job_log(c, j, saving);
    if (sub) {
        vp_sb sb = {0};
        json_summary(&sb, c->plan, c->manifest, j, false,
                     vp_sb_ok(&diff) ? vp_sb_str(&diff) : NULL);
        ctl_submit_finish(c, sub, 200, vp_sb_ok(&sb) ? vp_sb_steal(&sb) : NULL);
        vp_sb_free(&sb);
    }
    vp_sb_free(&diff);
    ctl_reconcile_all(c);
    job_free(j);
    ctl_maybe_start_job(c);
}

/* What the loop should solve next, if anything: a queued submit, a re-plan (lost nodes whose
 * lease ran out, unplaced replicas after the fleet changed, exclusions), or a consolidation
 * (a node joined, or its period came). -1: nothing. */
static int next_kind(ctl *c, ctl_submit **sub)
{
    pthread_mutex_lock(&c->mu);
    *sub = c->subq;
    if (*sub) {
        c->subq = (*sub)->next;
        if (!c->subq) c->subq_tail = NULL;
        (*sub)->next = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    if (*sub) return CTL_JOB_SUBMIT;
    uint64_t now = uv_now(&c->loop);
    if (now < c->replan_not_before) return -1;
    if (needs_replan(c)) return CTL_JOB_REPLAN;
    bool periodic =
        c->cfg.consolidate_every_ms && c->next_consolidate && now >= c->next_consolidate;
    if (!c->plan || !c->manifest || c->cfg.max_moves == 0 || !(c->consolidate_due || periodic))
        return -1;
    c->consolidate_due = false;
    c->next_consolidate = c->cfg.consolidate_every_ms ? now + c->cfg.consolidate_every_ms : 0;
    return CTL_JOB_CONSOLIDATE;
}

/* The nodes as the solve sees them: lost ones whose lease ran out (their work moves) and
 * everything else with GPUs, including lost ones still within their lease (their work stays:
 * they may be serving it yet). */
static void snapshot_nodes(ctl *c, ctl_job *j, size_t *nr, size_t *nl)
{
    uint64_t now = uv_now(&c->loop);
    *nr = *nl = 0;
    for (size_t i = 0; i < c->nodes.n; i++) {
        const ctl_node *n = c->nodes.v[i];
        if (n->state == CTL_NODE_LOST && now >= ctl_lease_over(c, n)) {
            snprintf(j->lost[(*nl)++], PLACE_NAME_MAX, "%s", n->name);
            continue;
        }
        if (n->n_gpus < 1) continue;
        ctl_fleet_node *f = &j->ready[(*nr)++];
        snprintf(f->name, sizeof f->name, "%s", n->name);
        snprintf(f->model, sizeof f->model, "%s", n->gpus[0].model);
        snprintf(f->type, sizeof f->type, "%s", n->instance_type[0] ? n->instance_type : "agent");
        f->price_per_hour = n->price_per_hour;
        f->n_gpus = n->n_gpus;
        f->total_bytes = n->gpus[0].total_bytes;
        for (int g = 1; g < n->n_gpus; g++)
            if (n->gpus[g].total_bytes < f->total_bytes) f->total_bytes = n->gpus[g].total_bytes;
    }
}

void ctl_maybe_start_job(ctl *c)
{
    if (c->job || c->stopping) return;
    ctl_submit *sub;
    int kind = next_kind(c, &sub);
    if (kind < 0) return;
    ctl_job *j = calloc(1, sizeof *j);
    if (j) {
        j->ready = calloc(c->nodes.n ? c->nodes.n : 1, sizeof *j->ready);
        j->lost = calloc(c->nodes.n ? c->nodes.n : 1, sizeof *j->lost);
        j->excl = calloc(c->n_excl ? c->n_excl : 1, sizeof *j->excl);
    }
    if (!j || !j->ready || !j->lost || !j->excl) {
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
    j->kind = kind;
    j->epoch = c->fleet_epoch;
    j->work.data = j;
    size_t nr, nl;
    snapshot_nodes(c, j, &nr, &nl);
    /* The solve borrows the plan, manifest and fleet: only job_done replaces them, and only
     * one job runs at a time. */
    ctl_solve_req *r = &j->req;
    r->submit = sub != NULL;
    r->manifest = sub ? sub->manifest : c->manifest;
    r->fleet_file = c->fleet_file;
    r->ready = j->ready;
    r->n_ready = nr;
    r->lost = (const char(*)[PLACE_NAME_MAX])j->lost;
    r->n_lost = nl;
    r->base = c->plan;
    r->opts = c->cfg.solve;
    /* After a node loss nothing else moves; a submit or a consolidation may move a few. */
    r->max_moves = kind == CTL_JOB_REPLAN ? 0 : c->cfg.max_moves;
    double tl = c->cfg.solve.time_limit_s;
    if (c->cfg.solve.solver == PLAN_SOLVER_FFD)
        tl = 0.05; /* heuristics only */
    else if (kind == CTL_JOB_REPLAN && tl > 1.0)
        tl = 1.0; /* a lost node's work should move in seconds */
    r->time_limit_s = tl;
    if (c->n_excl) memcpy(j->excl, c->excl, c->n_excl * sizeof *c->excl);
    r->excl = j->excl;
    r->n_excl = c->n_excl;
    c->job = j;
    int rc = uv_queue_work(&c->loop, &j->work, job_work, job_done);
    if (rc) {
        c->job = NULL;
        c->replan_not_before = uv_now(&c->loop) + 1000;
        job_end(c, j, 500, json_error(uv_strerror(rc)));
    }
}
