/* agent.c - the agent's placements: assign, release, accounting, restarts, reports.
 *
 * Invariant: for every GPU, the bytes of the placements that hold or may soon hold memory on it
 * (running, starting, failed-and-restarting, and stopping until their worker has exited; for a
 * placement being replaced, the larger of the old and the new assign) never exceed the GPU's
 * usable bytes, total x util_ppm / 1e6. An assign that would break it is refused before anything
 * is spawned. A placement appears in the report from its assign until its worker has exited
 * after a release; a refused one stays (failed, holding 0 bytes, with the reason) until it is
 * released or assigned again, so the controller sees the refusal in the level-triggered state
 * as well as in the `error` frame. A refused placement starts by itself once memory is freed
 * and it fits (e.g. the old worker of a make-before-break move on this node has exited). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_int.h"

/* ---- placements ------------------------------------------------------------------------- */

/* The instance (id, rev); rev NULL matches any revision. */
static agent_pl *find_pl(struct agent *a, const char *id, const char *rev)
{
    for (agent_pl *pl = a->pls; pl; pl = pl->next)
        if (!strcmp(pl->spec.u.assign.id, id) && (!rev || !strcmp(pl->spec.u.assign.rev, rev)))
            return pl;
    return NULL;
}

static int copy_assign(proto_msg *dst, const proto_assign *src)
{
    proto_msg_free(dst);
    proto_msg_init(dst, PROTO_ASSIGN);
    int rc = proto_assign_copy(&dst->u.assign, src);
    if (rc) memset(dst, 0, sizeof *dst);
    return rc;
}

/* Same assign, field for field: their JSON is the same. */
static bool same_assign(const proto_assign *x, const proto_assign *y)
{
    proto_msg mx = {.type = PROTO_ASSIGN}, my = {.type = PROTO_ASSIGN};
    mx.u.assign = *x;
    my.u.assign = *y;
    vp_sb a = {0}, b = {0};
    bool same = proto_msg_to_json(&mx, &a, NULL) == 0 && proto_msg_to_json(&my, &b, NULL) == 0 &&
                a.len == b.len && !memcmp(a.buf, b.buf, a.len);
    vp_sb_free(&a);
    vp_sb_free(&b);
    return same;
}

static bool has_gpu(const proto_assign *as, uint32_t g)
{
    for (int i = 0; i < as->n_gpus; i++)
        if (as->gpus[i] == g) return true;
    return false;
}

/* Bytes pl holds or will hold on GPU g (see the invariant at the top). */
static uint64_t pl_bytes_on(const agent_pl *pl, uint32_t g)
{
    if (pl->refused) return 0;
    uint64_t old = 0, next = 0;
    if ((agent_pl_live(pl) || !pl->released) && has_gpu(&pl->spec.u.assign, g))
        old = pl->spec.u.assign.bytes_per_gpu;
    if (pl->pending.type && has_gpu(&pl->pending.u.assign, g))
        next = pl->pending.u.assign.bytes_per_gpu;
    return old > next ? old : next;
}

static const proto_gpu *gpu_by_index(const struct agent *a, uint32_t index)
{
    for (int i = 0; i < a->n_gpus; i++)
        if (a->gpus[i].index == index) return &a->gpus[i];
    return NULL;
}

uint64_t agent_usable_bytes(const struct agent *a, const proto_gpu *g)
{
    uint64_t u = 0;
    vp_muldiv_floor_u64(g->total_bytes, a->util_ppm, 1000000, &u);
    return u;
}

/* 0 when as fits next to every placement but `self`; else a code and the reason in why. */
static int check_fits(struct agent *a, const proto_assign *as, const agent_pl *self, char *why,
                      size_t cap)
{
    for (int i = 0; i < as->n_gpus; i++) {
        const proto_gpu *g = gpu_by_index(a, as->gpus[i]);
        if (!g) {
            snprintf(why, cap, "GPU %u does not exist on node %s (it has %d GPUs)", as->gpus[i],
                     a->node, a->n_gpus);
            return VP_EINPUT;
        }
        uint64_t used = 0;
        for (const agent_pl *pl = a->pls; pl; pl = pl->next)
            if (pl != self) used += pl_bytes_on(pl, g->index);
        uint64_t usable = agent_usable_bytes(a, g);
        if (used > usable || as->bytes_per_gpu > usable - used) {
            snprintf(why, cap,
                     "GPU %u (%s): %llu bytes in use + %llu requested exceeds %llu usable "
                     "(%.2f of %llu total)",
                     g->index, g->model, (unsigned long long)used,
                     (unsigned long long)as->bytes_per_gpu, (unsigned long long)usable,
                     a->util_ppm / 1e6, (unsigned long long)g->total_bytes);
            return VP_ENOSPACE;
        }
    }
    return 0;
}

static void pl_timer_closed(uv_handle_t *h)
{
    agent_pl *pl = h->data;
    if (--pl->open_timers == 0) {
        proto_msg_free(&pl->spec);
        proto_msg_free(&pl->pending);
        struct agent *a = pl->a;
        free(pl);
        a->handles_closing--;
        agent_maybe_finish(a);
    }
}

/* Unlinks pl and frees it once its timers are closed. Only without a live worker. */
void agent_pl_remove(agent_pl *pl)
{
    struct agent *a = pl->a;
    for (agent_pl **pp = &a->pls; *pp; pp = &(*pp)->next)
        if (*pp == pl) {
            *pp = pl->next;
            break;
        }
    pl->removed = true;
    agent_probe_stop(pl);
    a->handles_closing++;
    uv_timer_t *ts[] = {&pl->restart_timer, &pl->kill_timer, &pl->probe_timer, &pl->ready_timer};
    for (size_t i = 0; i < VP_ARRAY_LEN(ts); i++)
        uv_close((uv_handle_t *)ts[i], pl_timer_closed);
}

static void parse_engine(agent_pl *pl)
{
    const char *name = pl->spec.u.assign.engine;
    pl->bad_engine = false;
    if (!name[0])
        pl->kind = pl->spec.u.assign.n_command ? ENG_COMMAND : ENG_BUILTIN;
    else if (eng_parse(name, &pl->kind))
        pl->bad_engine = true;
}

agent_pl *agent_pl_new(struct agent *a, const proto_assign *as)
{
    agent_pl *pl = calloc(1, sizeof *pl);
    if (!pl) return NULL;
    if (copy_assign(&pl->spec, as)) {
        free(pl);
        return NULL;
    }
    pl->a = a;
    parse_engine(pl);
    uv_timer_t *ts[] = {&pl->restart_timer, &pl->kill_timer, &pl->probe_timer, &pl->ready_timer};
    for (size_t i = 0; i < VP_ARRAY_LEN(ts); i++) {
        uv_timer_init(&a->loop, ts[i]);
        ts[i]->data = pl;
    }
    pl->open_timers = (int)VP_ARRAY_LEN(ts);
    agent_pl **tail = &a->pls;
    while (*tail)
        tail = &(*tail)->next;
    *tail = pl;
    return pl;
}

void agent_pl_changed(agent_pl *pl)
{
    agent_report_soon(pl->a);
}

static void on_restart_timer(uv_timer_t *t)
{
    agent_pl *pl = t->data;
    if (agent_pl_live(pl) || pl->released || pl->refused || pl->a->stopping) return;
    pl->restarts++;
    vp_logf(&pl->a->log, VP_LOG_INFO, "restarting worker", "placement=%s attempt=%u",
            pl->spec.u.assign.id, pl->restarts);
    agent_pl_start(pl);
}

static void schedule_restart(agent_pl *pl)
{
    struct agent *a = pl->a;
    uint32_t d = pl->backoff_ms ? pl->backoff_ms : a->restart_min_ms;
    pl->backoff_ms = d >= a->restart_max_ms / 2 ? a->restart_max_ms : d * 2;
    vp_logf(&a->log, VP_LOG_INFO, "worker restart scheduled", "placement=%s delay_ms=%u",
            pl->spec.u.assign.id, d);
    uv_timer_start(&pl->restart_timer, on_restart_timer, d, 0);
}

/* A worker that could not be started: failed with the reason (already in pl->error), and a
 * retry after backoff. */
static void start_failed(agent_pl *pl)
{
    pl->state = PROTO_FAILED;
    pl->failures++;
    vp_logf(&pl->a->log, VP_LOG_WARN, "cannot start worker", "placement=%s error=%s",
            pl->spec.u.assign.id, vp_log_q(pl->error));
    schedule_restart(pl);
    agent_pl_changed(pl);
}

/* Spawns pl's worker: a port first for engines that serve one, the engine's version when its
 * flags depend on it (the start is then deferred until the probe answers). */
void agent_pl_start(agent_pl *pl)
{
    struct agent *a = pl->a;
    pl->error[0] = '\0';
    pl->state = PROTO_STARTING;
    if (pl->bad_engine) {
        snprintf(pl->error, sizeof pl->error, "unknown engine \"%s\" (this agent runs %s)",
                 pl->spec.u.assign.engine, eng_names_list());
        pl->state = PROTO_FAILED;
        agent_pl_changed(pl);
        return;
    }
    if (agent_allow_check(pl)) {
        /* Not a failure a retry can mend: failed with the reason, and left so. */
        pl->state = PROTO_FAILED;
        vp_logf(&a->log, VP_LOG_WARN, "command refused", "placement=%s error=%s",
                pl->spec.u.assign.id, vp_log_q(pl->error));
        agent_pl_changed(pl);
        return;
    }
    const eng_profile *prof = eng_profile_of(pl->kind);
    bool wants_port = prof->needs_port;
    if (pl->kind == ENG_COMMAND)
        for (size_t i = 0; i < pl->spec.u.assign.n_command; i++)
            wants_port = wants_port || strstr(pl->spec.u.assign.command[i], "{port}");
    if (wants_port && !pl->port && !(pl->port = agent_port_alloc(a))) {
        snprintf(pl->error, sizeof pl->error, "no free port in %u-%u (--ports)", a->port_lo,
                 a->port_hi);
        start_failed(pl);
        return;
    }
    bool kv_flag;
    if (agent_engine_version(a, pl->kind, &kv_flag, NULL) == 0) {
        pl->waiting_version = true; /* started again once the version is known */
        agent_pl_changed(pl);
        return;
    }
    if (agent_worker_spawn(pl) != 0) {
        start_failed(pl);
        return;
    }
    agent_probe_start(pl);
    agent_pl_changed(pl);
}

/* Memory was freed on this node: start the refused placements that fit now, oldest first. The
 * controller asked for them and is level-triggered, so a move whose old worker was still
 * stopping when the new assign arrived needs no second assign. */
static void retry_refused(struct agent *a)
{
    if (a->stopping) return;
    for (agent_pl *pl = a->pls; pl; pl = pl->next) {
        if (!pl->refused) continue;
        char why[PROTO_TEXT_MAX];
        if (check_fits(a, &pl->spec.u.assign, pl, why, sizeof why) != 0) continue;
        vp_logf(&a->log, VP_LOG_INFO, "refused assign fits now; starting it", "placement=%s",
                pl->spec.u.assign.id);
        pl->refused = false;
        pl->backoff_ms = 0;
        agent_pl_start(pl);
    }
}

void agent_pl_worker_exited(agent_pl *pl, int64_t status, int term_signal)
{
    struct agent *a = pl->a;
    uv_timer_stop(&pl->kill_timer);
    int pid = pl->pid;
    bool adopted = pl->adopted;
    pl->pid = 0;
    pl->start_ticks = 0;
    pl->adopted = false;
    agent_probe_stop(pl);
    agent_state_save(a);
    if (pl->released) {
        vp_logf(&a->log, VP_LOG_INFO, "worker stopped", "placement=%s pid=%d", pl->spec.u.assign.id,
                pid);
        agent_pl_remove(pl);
        retry_refused(a);
        agent_report_soon(a);
        agent_maybe_finish(a);
        return;
    }
    if (pl->pending.type) {
        vp_logf(&a->log, VP_LOG_INFO, "worker stopped for a changed assign", "placement=%s pid=%d",
                pl->spec.u.assign.id, pid);
        proto_msg_free(&pl->spec);
        pl->spec = pl->pending;
        memset(&pl->pending, 0, sizeof pl->pending);
        parse_engine(pl);
        pl->backoff_ms = 0;
        agent_pl_start(pl);
        retry_refused(a); /* the new assign may hold less, or other GPUs */
        return;
    }
    char why[PROTO_TEXT_MAX];
    if (pl->stop_why[0])
        snprintf(why, sizeof why, "%s", pl->stop_why);
    else if (adopted)
        snprintf(why, sizeof why, "worker (adopted from a previous agent) exited");
    else if (term_signal)
        snprintf(why, sizeof why, "worker killed by signal %d (%s)", term_signal,
                 strsignal(term_signal));
    else
        snprintf(why, sizeof why, "worker exited with status %lld", (long long)status);
    pl->stop_why[0] = '\0';
    pl->failures++;
    if (pl->error[0]) {
        char detail[PROTO_TEXT_MAX];
        snprintf(detail, sizeof detail, "%s", pl->error);
        snprintf(pl->error, sizeof pl->error, "%s: %.400s", why, detail);
    } else {
        snprintf(pl->error, sizeof pl->error, "%s", why);
    }
    vp_logf(&a->log, VP_LOG_WARN, "worker died", "placement=%s pid=%d error=%s",
            pl->spec.u.assign.id, pid, vp_log_q(pl->error));
    pl->state = PROTO_FAILED;
    /* A worker that stayed up a long while earns a fresh backoff. */
    if (agent_now_ms(a) - pl->spawned_ms >= a->restart_max_ms) pl->backoff_ms = 0;
    schedule_restart(pl);
    agent_pl_changed(pl);
}

/* ---- controller requests ---------------------------------------------------------------- */

static void send_error(struct agent *a, const char *code, const char *id, const char *msg)
{
    proto_msg m;
    proto_msg_init(&m, PROTO_ERROR);
    snprintf(m.u.error.code, sizeof m.u.error.code, "%s", code);
    snprintf(m.u.error.message, sizeof m.u.error.message, "%s", msg);
    snprintf(m.u.error.id, sizeof m.u.error.id, "%s", id);
    agent_conn_send(a, &m);
}

void agent_on_assign(struct agent *a, const proto_assign *as)
{
    if (a->stopping) return;
    agent_pl *pl = find_pl(a, as->id, as->rev);
    if (pl && !pl->refused && !pl->released && !pl->pending.type &&
        same_assign(&pl->spec.u.assign, as)) {
        vp_logf(&a->log, VP_LOG_DEBUG, "assign already served", "placement=%s", as->id);
        return;
    }
    if (pl && pl->pending.type && same_assign(&pl->pending.u.assign, as) && !pl->released) return;

    char why[PROTO_TEXT_MAX - 64];
    int rc = check_fits(a, as, pl, why, sizeof why);
    if (rc) {
        const char *code = rc == VP_ENOSPACE ? PROTO_CODE_OVERCOMMIT : PROTO_CODE_BAD_ASSIGN;
        vp_logf(&a->log, VP_LOG_WARN, "assign refused", "placement=%s code=%s reason=%s", as->id,
                code, vp_log_q(why));
        if (!pl) {
            pl = agent_pl_new(a, as);
            if (pl) pl->refused = true;
        } else if (pl->refused) {
            copy_assign(&pl->spec, as);
        }
        /* An active placement keeps running as it was; only the change is refused. */
        if (pl) {
            snprintf(pl->error, sizeof pl->error, "%s: %s", code, why);
            if (pl->refused) pl->state = PROTO_FAILED;
        }
        send_error(a, code, as->id, why);
        agent_report_soon(a);
        return;
    }

    if (!pl) {
        pl = agent_pl_new(a, as);
        if (!pl) {
            send_error(a, PROTO_CODE_SPAWN, as->id, "agent out of memory");
            return;
        }
        vp_logf(&a->log, VP_LOG_INFO, "assign accepted",
                "placement=%s rev=%s engine=%s gpus=%d bytes_per_gpu=%llu", as->id,
                as->rev[0] ? as->rev : "-", as->engine[0] ? as->engine : "builtin", as->n_gpus,
                (unsigned long long)as->bytes_per_gpu);
        agent_pl_start(pl);
        return;
    }
    if (!agent_pl_live(pl)) {
        /* Refused before, or failed and waiting to restart: take the new assign now. */
        if (copy_assign(&pl->spec, as)) return;
        parse_engine(pl);
        uv_timer_stop(&pl->restart_timer);
        pl->refused = pl->released = false;
        pl->backoff_ms = 0;
        vp_logf(&a->log, VP_LOG_INFO, "assign accepted", "placement=%s gpus=%d bytes_per_gpu=%llu",
                as->id, as->n_gpus, (unsigned long long)as->bytes_per_gpu);
        if (!pl->waiting_version) agent_pl_start(pl);
        return;
    }
    /* A live worker with another assign (or being released): replace it once it has exited. */
    if (copy_assign(&pl->pending, as)) return;
    pl->released = false;
    pl->state = PROTO_STARTING;
    pl->error[0] = '\0';
    vp_logf(&a->log, VP_LOG_INFO, "assign changed; replacing worker", "placement=%s", as->id);
    agent_worker_stop(pl, NULL);
    agent_report_soon(a);
}

void agent_pl_release(struct agent *a, agent_pl *pl)
{
    vp_logf(&a->log, VP_LOG_INFO, "release", "placement=%s rev=%s", pl->spec.u.assign.id,
            pl->spec.u.assign.rev[0] ? pl->spec.u.assign.rev : "-");
    proto_msg_free(&pl->pending);
    pl->waiting_version = false;
    if (agent_pl_live(pl)) {
        pl->released = true;
        pl->state = PROTO_STOPPED;
        agent_worker_stop(pl, NULL);
    } else {
        agent_pl_remove(pl);
        retry_refused(a);
    }
}

void agent_on_release(struct agent *a, const char *id, const char *rev)
{
    bool any = false;
    for (agent_pl *pl = a->pls, *next; pl; pl = next) {
        next = pl->next;
        if (strcmp(pl->spec.u.assign.id, id) ||
            (rev && rev[0] && strcmp(pl->spec.u.assign.rev, rev)))
            continue;
        if (pl->released || pl->removed) continue;
        any = true;
        agent_pl_release(a, pl);
    }
    if (!any)
        vp_logf(&a->log, VP_LOG_DEBUG, "release of an unknown placement", "placement=%s",
                vp_log_q(id));
    agent_report_soon(a);
}

int agent_build_report(struct agent *a, proto_msg *m)
{
    proto_msg_init(m, PROTO_REPORT);
    snprintf(m->u.report.node, sizeof m->u.report.node, "%s", a->node);
    for (agent_pl *pl = a->pls; pl; pl = pl->next) {
        const proto_assign *as = &pl->spec.u.assign;
        proto_placement p;
        memset(&p, 0, sizeof p);
        snprintf(p.id, sizeof p.id, "%s", as->id);
        snprintf(p.rev, sizeof p.rev, "%s", as->rev);
        snprintf(p.model, sizeof p.model, "%s", as->model);
        p.state = pl->state;
        p.pid = agent_pl_live(pl) ? pl->pid : 0;
        p.port = pl->port;
        p.failures = pl->failures;
        p.bytes_used = pl->refused ? 0 : as->bytes_per_gpu;
        p.n_gpus = as->n_gpus;
        memcpy(p.gpus, as->gpus, (size_t)as->n_gpus);
        snprintf(p.error, sizeof p.error, "%s", pl->error);
        int rc = proto_report_add(&m->u.report, &p);
        if (rc) {
            vp_logf(&a->log, VP_LOG_ERROR, "report truncated", "error=%s", vp_strerror(rc));
            break;
        }
    }
    return 0;
}
