/* controller.c - the controller object: configuration, start-up from the state file, the loop's
 * timers and signals, and an orderly stop.
 *
 * Start-up loads the desired state committed by the previous run and treats every node that was
 * ready as ready for a grace period (agents reconnect on their own, with back-off), so a
 * controller restart does not mistake its own downtime for node loss. Stop is two-phase: the
 * loop stops taking work, answers queued submits with 503, closes sessions and timers and lets
 * an in-flight solve finish; ctl_free then stops the HTTP thread and releases everything. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_internal.h"
#include "vp_json.h"

void ctl_config_default(ctl_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen_host, sizeof c->listen_host, "127.0.0.1");
    c->listen_port = 7070;
    snprintf(c->api_host, sizeof c->api_host, "127.0.0.1");
    c->api_port = 7071;
    c->heartbeat_ms = 1000;
    plan_options_default(&c->solve);
    c->api_body_limit = 4u << 20;
    c->api_threads = 4;
    c->api_conn_limit = 4096;
    c->api_per_ip_limit = 64;
    c->api_timeout_s = 10;
    c->max_moves = 4;
    c->consolidate_every_ms = 600000;
    c->min_saving = 1.0;
    c->log_level = VP_LOG_INFO;
}

int ctl_token_load(const char *path, char *out, size_t cap, vp_err *e)
{
    char *buf;
    size_t len;
    int rc = vp_read_file(path, 64 * 1024, &buf, &len, e);
    if (rc) return rc;
    char *p = buf;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    size_t n = strcspn(p, "\r\n");
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (!n || n >= cap || n >= PROTO_TOKEN_MAX) {
        free(buf);
        return vp_errf(e, VP_EINPUT, "%s: the token must be one line of 1..%d bytes", path,
                       PROTO_TOKEN_MAX - 1);
    }
    memcpy(out, p, n);
    out[n] = 0;
    free(buf);
    return 0;
}

static void begin_stop(ctl *c);

static void on_wake(uv_async_t *a)
{
    ctl *c = a->data;
    pthread_mutex_lock(&c->mu);
    bool stop = c->stop_requested;
    pthread_mutex_unlock(&c->mu);
    if (stop)
        begin_stop(c);
    else
        ctl_maybe_start_job(c);
}

static void on_tick(uv_timer_t *t)
{
    ctl_tick(t->data);
}

static void on_signal(uv_signal_t *s, int signum)
{
    ctl *c = s->data;
    vp_logline l;
    if (vp_log_begin(&c->log, &l, VP_LOG_INFO, "stopping")) {
        vp_log_s(&l, "signal", signum == SIGINT ? "SIGINT" : "SIGTERM");
        vp_log_end(&c->log, &l);
    }
    begin_stop(c);
}

static void close_handle(uv_handle_t *h, bool *ok)
{
    if (*ok && !uv_is_closing(h)) uv_close(h, NULL);
    *ok = false;
}

/* Closes every handle of the loop; uv_run then returns once close callbacks (and an in-flight
 * solve) are done. Idempotent. */
static void close_all(ctl *c)
{
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    c->wake_closed = true;
    ctl_submit *q = c->subq;
    c->subq = c->subq_tail = NULL;
    pthread_mutex_unlock(&c->mu);
    while (q) {
        ctl_submit *next = q->next;
        plan_manifest_free(q->manifest);
        q->manifest = NULL;
        ctl_submit_finish(c, q, 503, strdup("{\"error\":\"controller is stopping\"}\n"));
        q = next;
    }
    /* Whatever observations are queued go to disk before the loop ends. */
    if (c->flush_ok) {
        uv_timer_stop(&c->flush);
        ctl_flush_now(c);
    }
    ctl_server_close(c);
    c->listener_ok = false;
    close_handle((uv_handle_t *)&c->wake, &c->wake_ok);
    close_handle((uv_handle_t *)&c->tick, &c->tick_ok);
    close_handle((uv_handle_t *)&c->flush, &c->flush_ok);
    if (c->sig_ok) {
        bool ok = true;
        close_handle((uv_handle_t *)&c->sigint, &ok);
        ok = true;
        close_handle((uv_handle_t *)&c->sigterm, &ok);
        c->sig_ok = false;
    }
}

static void begin_stop(ctl *c)
{
    if (c->stopping && !c->wake_ok) return;
    close_all(c);
}

static void log_line(ctl *c, int level, const char *msg, const char *k1, const char *v1)
{
    vp_logline l;
    if (vp_log_begin(&c->log, &l, level, msg)) {
        if (k1) vp_log_s(&l, k1, v1);
        vp_log_end(&c->log, &l);
    }
}

static int load_state(ctl *c, vp_err *e)
{
    ctl_loaded ld;
    int rc = ctl_store_load(c->store, &ld, e);
    if (rc) return rc;
    uv_update_time(&c->loop);
    uint64_t now = uv_now(&c->loop);
    for (size_t i = 0; i < ld.n_nodes; i++) {
        ctl_node *n = ctl_nodes_get(&c->nodes, ld.nodes[i]->name);
        if (!n) {
            ctl_loaded_free(&ld);
            return vp_errf(e, -ENOMEM, "%s: out of memory", c->cfg.state_path);
        }
        ctl_node *src = ld.nodes[i];
        n->state = src->state;
        snprintf(n->version, sizeof n->version, "%s", src->version);
        n->n_gpus = src->n_gpus;
        memcpy(n->gpus, src->gpus, sizeof n->gpus);
        n->last_hb_wall_ms = n->persisted_hb_wall_ms = src->last_hb_wall_ms;
        n->registered_wall_ms = src->registered_wall_ms;
        /* The controller's own downtime is not the node's silence: count from now, plus a
         * grace period for the agents' reconnect back-off. */
        n->last_seen = now + c->restart_grace_ms;
        /* The previous controller may have renewed leases just before it stopped. */
        n->lease_sent = now;
    }
    c->plan = ld.plan;
    c->manifest_text = ld.manifest_text;
    c->replans_total = ld.replans_total;
    ld.plan = NULL;
    ld.manifest_text = NULL;
    if (c->manifest_text) {
        vp_err me = {0};
        /* Self-contained, as the API took it: no file is opened to read it again. */
        if (plan_manifest_parse_inline(c->manifest_text, strlen(c->manifest_text),
                                       "stored manifest", &c->manifest, &me)) {
            /* Placements stay enforced; only re-planning needs the manifest. */
            c->manifest = NULL;
            log_line(c, VP_LOG_ERROR, "stored_manifest_unreadable", "error", me.msg);
        }
    }
    ctl_index_plan(c);
    vp_logline l;
    if (vp_log_begin(&c->log, &l, VP_LOG_INFO, "state_loaded")) {
        vp_log_s(&l, "state", c->cfg.state_path);
        vp_log_u(&l, "nodes", ld.n_nodes);
        vp_log_u(&l, "placements", c->plan ? c->plan->n_placements : 0);
        vp_log_u(&l, "unplaced", c->plan ? c->plan->n_unplaced : 0);
        vp_log_s(&l, "manifest", c->manifest ? "yes" : "no");
        vp_log_end(&c->log, &l);
    }
    ctl_loaded_free(&ld);
    return 0;
}

/* "127.x.y.z", "::1" and "localhost" stay on this host; anything else may not. */
static bool loopback(const char *host)
{
    return !strncmp(host, "127.", 4) || !strcmp(host, "::1") || !strcmp(host, "localhost");
}

int ctl_new(const ctl_config *cfg, ctl **out, vp_err *e)
{
    if (!cfg->state_path[0]) return vp_errf(e, VP_EINPUT, "--state: required");
    if (cfg->heartbeat_ms < 10 || cfg->heartbeat_ms > PROTO_MAX_HEARTBEAT_MS)
        return vp_errf(e, VP_EINPUT, "--heartbeat-ms: must be in [10, %u]", PROTO_MAX_HEARTBEAT_MS);
    if (cfg->lease_ms && (cfg->lease_ms < cfg->heartbeat_ms || cfg->lease_ms > PROTO_MAX_LEASE_MS))
        return vp_errf(e, VP_EINPUT, "--lease-ms: must be in [heartbeat (%u), %u]",
                       cfg->heartbeat_ms, PROTO_MAX_LEASE_MS);
    if (!cfg->api_body_limit) return vp_errf(e, VP_EINPUT, "api body limit: must be > 0");
    if (!cfg->api_threads || !cfg->api_conn_limit || !cfg->api_per_ip_limit || !cfg->api_timeout_s)
        return vp_errf(e, VP_EINPUT, "api limits: threads, connections and timeout must be > 0");
    if (!cfg->insecure && !loopback(cfg->listen_host) && !cfg->agent_token[0])
        return vp_errf(e, VP_EINPUT,
                       "--listen %s: not a loopback address and no agent token: anyone who can "
                       "reach it could run workers (give --agent-token-file, or --insecure)",
                       cfg->listen_host);
    if (!cfg->insecure && cfg->api_host[0] && !loopback(cfg->api_host) && !cfg->api_token[0])
        return vp_errf(e, VP_EINPUT,
                       "--api %s: not a loopback address and no API token: anyone who can reach "
                       "it could replace the manifest (give --api-token-file, or --insecure)",
                       cfg->api_host);
    if (cfg->crash_loop_failures > CTL_CRASH_MAX)
        return vp_errf(e, VP_EINPUT, "--crash-loop-failures: must be in [1, %d]", CTL_CRASH_MAX);
    ctl *c = calloc(1, sizeof *c);
    if (!c) return vp_errf(e, -ENOMEM, "controller: out of memory");
    c->cfg = *cfg;
    c->cfg.fleet_path = NULL; /* borrowed pointer: not kept */
    vp_log_init(&c->log, cfg->log_level, cfg->log, cfg->log_ud);
    pthread_mutex_init(&c->mu, NULL);
    uint32_t hb = cfg->heartbeat_ms;
    c->tick_ms = hb / 4 < 5 ? 5 : hb / 4 > 250 ? 250 : hb / 4;
    c->resend_ms = 5 * hb < 2000 ? 2000 : 5 * hb;
    c->hello_timeout_ms = 3 * hb < 5000 ? 5000 : 3 * hb;
    /* Agents reconnect with back-off up to about 5 s plus jitter: give them three times that. */
    c->restart_grace_ms = 10ull * hb < 15000 ? 15000 : 10ull * hb;
    if (!c->cfg.lease_ms) c->cfg.lease_ms = 10000;
    c->lease_margin_ms = 2 * hb < 1000 ? 1000 : 2 * hb;
    c->util_ppm = 900000;
    c->fleet_epoch = 1;
    if (!c->cfg.crash_loop_failures) c->cfg.crash_loop_failures = 3;
    if (!c->cfg.crash_loop_window_ms) c->cfg.crash_loop_window_ms = 600000;
    int rc;
    if (cfg->fleet_path) {
        if ((rc = plan_fleet_load(cfg->fleet_path, &c->fleet_file, e))) goto fail;
        c->util_ppm = c->fleet_file->util_ppm;
    } else if (!(c->catalog = plan_fleet_builtin())) {
        rc = vp_errf(e, -ENOMEM, "controller: out of memory");
        goto fail;
    }
    if ((rc = uv_loop_init(&c->loop))) {
        rc = vp_errf(e, rc, "controller: event loop: %s", uv_strerror(rc));
        goto fail;
    }
    c->loop_ok = true;
    uv_async_init(&c->loop, &c->wake, on_wake);
    c->wake.data = c;
    c->wake_ok = true;
    uv_timer_init(&c->loop, &c->tick);
    c->tick.data = c;
    c->tick_ok = true;
    uv_timer_init(&c->loop, &c->flush);
    c->flush.data = c;
    c->flush_ok = true;
    if (cfg->handle_signals) {
        signal(SIGPIPE, SIG_IGN);
        uv_signal_init(&c->loop, &c->sigint);
        uv_signal_init(&c->loop, &c->sigterm);
        c->sigint.data = c->sigterm.data = c;
        c->sig_ok = true;
        uv_signal_start(&c->sigint, on_signal, SIGINT);
        uv_signal_start(&c->sigterm, on_signal, SIGTERM);
    }
    if ((rc = ctl_store_open(cfg->state_path, &c->store, e))) goto fail;
    if ((rc = load_state(c, e))) goto fail;
    if ((rc = ctl_server_start(c, e))) goto fail;
    if ((rc = ctl_api_start(c, e))) goto fail;
    vp_logline l;
    if (vp_log_begin(&c->log, &l, VP_LOG_INFO, "listening")) {
        char a[300], b[300];
        snprintf(a, sizeof a, "%s:%u", cfg->listen_host, c->agent_port);
        snprintf(b, sizeof b, "%s:%u", cfg->api_host, c->api_port);
        vp_log_s(&l, "agents", a);
        vp_log_s(&l, "api", cfg->api_host[0] ? b : "off");
        vp_log_u(&l, "heartbeat_ms", hb);
        vp_log_u(&l, "lease_ms", c->cfg.lease_ms);
        vp_log_s(&l, "agent_auth", cfg->agent_token[0] ? "token" : "none");
        vp_log_s(&l, "api_auth", cfg->api_token[0] ? "token" : "none");
        vp_log_end(&c->log, &l);
    }
    *out = c;
    return 0;
fail:
    ctl_free(c);
    return rc;
}

int ctl_run(ctl *c)
{
    pthread_mutex_lock(&c->mu);
    bool stop = c->stop_requested;
    pthread_mutex_unlock(&c->mu);
    if (stop)
        begin_stop(c);
    else
        uv_timer_start(&c->tick, on_tick, c->tick_ms, c->tick_ms);
    if (c->cfg.consolidate_every_ms)
        c->next_consolidate = uv_now(&c->loop) + c->cfg.consolidate_every_ms;
    int rc = uv_run(&c->loop, UV_RUN_DEFAULT);
    (void)rc;
    log_line(c, VP_LOG_INFO, "stopped", NULL, NULL);
    return 0;
}

void ctl_stop(ctl *c)
{
    pthread_mutex_lock(&c->mu);
    c->stop_requested = true;
    if (!c->wake_closed) uv_async_send(&c->wake);
    pthread_mutex_unlock(&c->mu);
}

void ctl_ports(const ctl *c, uint16_t *agent_port, uint16_t *api_port)
{
    if (agent_port) *agent_port = c->agent_port;
    if (api_port) *api_port = c->api_port;
}

void ctl_free(ctl *c)
{
    if (!c) return;
    if (c->loop_ok) {
        close_all(c);
        uv_run(&c->loop, UV_RUN_DEFAULT);
    }
    ctl_api_stop(c);
    if (c->loop_ok) uv_loop_close(&c->loop);
    ctl_store_close(c->store);
    ctl_nodes_free(&c->nodes);
    place_plan_free(c->plan);
    plan_manifest_free(c->manifest);
    free(c->manifest_text);
    plan_fleet_free(c->fleet_file);
    plan_fleet_free(c->catalog);
    free(c->revs);
    free(c->by_id);
    free(c->excl);
    free(c->bbm);
    free(c->events);
    pthread_mutex_destroy(&c->mu);
    vp_log_close(&c->log);
    free(c);
}
