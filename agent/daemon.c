/* daemon.c - the agent as a daemon: configuration, start-up, leases, signals and an orderly
 * stop.
 *
 * agent_new copies and checks the configuration, finds the GPUs, and takes over what a previous
 * agent left (state.c) before any loop runs. The lease: every answered heartbeat extends it;
 * when it runs out every worker stops (fencing, see agent.h). Shutdown stops the connection,
 * then every worker, and finishes once the last handle is closed. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_int.h"

/* ---- leases ------------------------------------------------------------------------------- */

/* No renewal for the whole lease: the controller may be re-placing this node's work, so every
 * worker stops now (a replica must not run on two nodes for longer than the lease allows), and
 * the connection, silent this long, is dropped for a fresh one. */
static void on_lease_timer(uv_timer_t *t)
{
    struct agent *a = t->data;
    uint64_t now = uv_now(&a->loop);
    if (!a->lease_until || a->stopping) return;
    if (now < a->lease_until) {
        uv_timer_start(&a->lease_timer, on_lease_timer, a->lease_until - now, 0);
        return;
    }
    int n = 0;
    for (agent_pl *pl = a->pls; pl; pl = pl->next)
        n += !pl->released;
    vp_logf(&a->log, VP_LOG_WARN, "lease expired: stopping the workers the controller may move",
            "lease_ms=%u workers=%d", a->lease_ms, n);
    a->lease_until = 0;
    for (agent_pl *pl = a->pls, *next; pl; pl = next) {
        next = pl->next;
        uv_timer_stop(&pl->restart_timer);
        pl->fenced = true;
        if (!pl->released) agent_pl_release(a, pl);
    }
    agent_conn_drop(a, "no lease renewal from the controller");
    agent_report_soon(a);
}

void agent_lease_renew(struct agent *a, uint64_t base)
{
    uint64_t until = base + a->lease_ms;
    if (until <= a->lease_until) return;
    a->lease_until = until;
    uint64_t now = uv_now(&a->loop);
    uv_timer_start(&a->lease_timer, on_lease_timer, until > now ? until - now : 0, 0);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static void global_closed(uv_handle_t *h)
{
    (void)h;
}

void agent_maybe_finish(struct agent *a)
{
    if (!a->stopping || a->finished || a->pls || a->handles_closing > 0) return;
    a->finished = true;
    /* Only the agent that holds the node's lock owns its state file. */
    if (a->lock_fd >= 0) agent_state_remove(a);
    agent_engines_close(a);
    vp_logf(&a->log, VP_LOG_INFO, "agent stopped", NULL);
    uv_handle_t *hs[] = {
        (uv_handle_t *)&a->reconnect_timer, (uv_handle_t *)&a->deadline_timer,
        (uv_handle_t *)&a->heartbeat_timer, (uv_handle_t *)&a->report_timer,
        (uv_handle_t *)&a->lease_timer,     (uv_handle_t *)&a->stop_async,
        (uv_handle_t *)&a->sigint,          (uv_handle_t *)&a->sigterm,
    };
    for (size_t i = 0; i < VP_ARRAY_LEN(hs); i++)
        if (hs[i]->loop == &a->loop && !uv_is_closing(hs[i])) uv_close(hs[i], global_closed);
}

static void begin_shutdown(struct agent *a)
{
    if (a->stopping) return;
    a->stopping = true;
    int workers = 0;
    for (agent_pl *p = a->pls; p; p = p->next)
        workers += agent_pl_live(p);
    vp_logf(&a->log, VP_LOG_INFO, "agent stopping", "workers=%d", workers);
    agent_conn_shutdown(a);
    agent_engines_close(a);
    for (agent_pl *pl = a->pls, *next; pl; pl = next) {
        next = pl->next;
        uv_timer_stop(&pl->restart_timer);
        proto_msg_free(&pl->pending);
        if (agent_pl_live(pl)) {
            pl->released = true;
            agent_worker_stop(pl, NULL);
        } else {
            agent_pl_remove(pl);
        }
    }
    agent_maybe_finish(a);
}

static void on_stop_async(uv_async_t *h)
{
    begin_shutdown(h->data);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct agent *a = h->data;
    vp_logf(&a->log, VP_LOG_INFO, "signal received", "signal=%s",
            strsignal(signum) ? vp_log_q(strsignal(signum)) : "?");
    begin_shutdown(a);
}

static int parse_hostport(const char *s, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *colon;
    const char *h = s;
    size_t hl;
    if (*s == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':') return VP_EUSAGE;
        h = s + 1;
        hl = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) return VP_EUSAGE;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= hcap) return VP_EUSAGE;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || p < 1 || p > 65535) return VP_EUSAGE;
    memcpy(host, h, hl);
    host[hl] = '\0';
    snprintf(port, pcap, "%ld", p);
    return 0;
}

static int valid_node_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= PROTO_NAME_MAX) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return 0;
    return strcmp(s, ".") && strcmp(s, "..");
}

/* Copies and checks the tunables and names of cfg into a. 0, or VP_EUSAGE with e set. */
static int copy_config(struct agent *a, const agent_config *cfg, vp_err *e)
{
    a->handle_signals = cfg->handle_signals;
    a->grace_set = cfg->stop_grace_ms != 0;
    a->stop_grace_ms = cfg->stop_grace_ms ? cfg->stop_grace_ms : 10000;
    a->probe_ms = cfg->probe_ms ? cfg->probe_ms : 1000;
    a->lease_cfg_ms = a->lease_ms = cfg->lease_ms ? cfg->lease_ms : 10000;
    a->live_probe_ms = cfg->live_probe_ms ? cfg->live_probe_ms : 5000;
    a->live_misses = cfg->live_misses ? cfg->live_misses : 3;
    a->reconnect_min_ms = cfg->reconnect_min_ms ? cfg->reconnect_min_ms : 100;
    a->reconnect_max_ms = cfg->reconnect_max_ms ? cfg->reconnect_max_ms : 5000;
    if (a->reconnect_max_ms < a->reconnect_min_ms) a->reconnect_max_ms = a->reconnect_min_ms;
    a->restart_min_ms = cfg->restart_min_ms ? cfg->restart_min_ms : 500;
    a->restart_max_ms = cfg->restart_max_ms ? cfg->restart_max_ms : 30000;
    if (a->restart_max_ms < a->restart_min_ms) a->restart_max_ms = a->restart_min_ms;
    a->sim_max_slice_bytes =
        cfg->sim_max_slice_bytes ? cfg->sim_max_slice_bytes : AGENT_DEFAULT_SIM_MAX_SLICE;
    a->util_ppm = AGENT_DEFAULT_UTIL_PPM;
    a->port_lo = 20000;
    a->port_hi = 29999;
    if (cfg->ports && agent_ports_parse(cfg->ports, &a->port_lo, &a->port_hi))
        return vp_errf(e, VP_EUSAGE, "--ports \"%s\": want LO-HI with 1024 <= LO <= HI <= 65535",
                       cfg->ports);
    for (int k = 0; k < ENG_COUNT; k++) {
        const char *bin = cfg->engine_bin[k];
        if (!bin) continue;
        if (!*bin || strlen(bin) >= sizeof a->engine_bin[k])
            return vp_errf(e, VP_EUSAGE, "--engine %s: empty or too long a path", eng_name(k));
        snprintf(a->engine_bin[k], sizeof a->engine_bin[k], "%s", bin);
    }
    if (cfg->instance_type) {
        if (!*cfg->instance_type || strlen(cfg->instance_type) >= sizeof a->instance_type)
            return vp_errf(e, VP_EUSAGE, "--type: 1 to %zu characters",
                           sizeof a->instance_type - 1);
        snprintf(a->instance_type, sizeof a->instance_type, "%s", cfg->instance_type);
    }
    if (cfg->worker_path) {
        if (strlen(cfg->worker_path) >= sizeof a->worker_path)
            return vp_errf(e, VP_EUSAGE, "--worker: path too long");
        snprintf(a->worker_path, sizeof a->worker_path, "%s", cfg->worker_path);
    } else {
        agent_default_worker_path(a->worker_path, sizeof a->worker_path);
    }
    if (cfg->state_dir) {
        if (strlen(cfg->state_dir) >= sizeof a->state_dir - 32)
            return vp_errf(e, VP_EUSAGE, "--state-dir: path too long");
        snprintf(a->state_dir, sizeof a->state_dir, "%s", cfg->state_dir);
    } else {
        snprintf(a->state_dir, sizeof a->state_dir, "/tmp/vrampack-agent-%s", a->node);
    }
    return 0;
}

/* The loop and its handles; 0 or a libuv code. */
static int init_loop(struct agent *a, vp_err *e)
{
    int rc = uv_loop_init(&a->loop);
    if (rc) return vp_errf(e, rc, "event loop: %s", uv_strerror(rc));
    a->loop_ready = true;
    uv_timer_t *timers[] = {&a->reconnect_timer, &a->deadline_timer, &a->heartbeat_timer,
                            &a->report_timer, &a->lease_timer};
    for (size_t i = 0; i < VP_ARRAY_LEN(timers); i++) {
        uv_timer_init(&a->loop, timers[i]);
        timers[i]->data = a;
    }
    uv_async_init(&a->loop, &a->stop_async, on_stop_async);
    a->stop_async.data = a;
    if (a->handle_signals) {
        uv_signal_init(&a->loop, &a->sigint);
        uv_signal_init(&a->loop, &a->sigterm);
        a->sigint.data = a->sigterm.data = a;
    }
    return 0;
}

int agent_new(const agent_config *cfg, agent **out, vp_err *e)
{
    *out = NULL;
    if (!cfg->controller) return vp_errf(e, VP_EUSAGE, "--controller HOST:PORT is required");
    if (!cfg->node) return vp_errf(e, VP_EUSAGE, "--node NAME is required");
    if (!valid_node_name(cfg->node))
        return vp_errf(e, VP_EUSAGE, "--node \"%s\": 1 to %d characters from A-Z a-z 0-9 . _ -",
                       cfg->node, PROTO_NAME_MAX - 1);
    if (cfg->token && strlen(cfg->token) >= PROTO_TOKEN_MAX)
        return vp_errf(e, VP_EUSAGE, "token longer than %d bytes", PROTO_TOKEN_MAX - 1);
    struct agent *a = calloc(1, sizeof *a);
    if (!a) return vp_errf(e, -ENOMEM, "out of memory");
    a->lock_fd = -1;
    vp_log_init(&a->log, cfg->log_level, vp_log_write_file, cfg->log ? cfg->log : stderr);
    if (parse_hostport(cfg->controller, a->host, sizeof a->host, a->port, sizeof a->port)) {
        agent_free(a);
        return vp_errf(e, VP_EUSAGE, "--controller \"%s\": want HOST:PORT (or [IPV6]:PORT)",
                       cfg->controller);
    }
    snprintf(a->node, sizeof a->node, "%s", cfg->node);
    vp_log_add_field(&a->log, "node", a->node);
    snprintf(a->token, sizeof a->token, "%s", cfg->token ? cfg->token : "");
    int rc = copy_config(a, cfg, e);
    a->sim = cfg->sim != NULL;
    if (!rc)
        rc = a->sim ? agent_sim_parse(cfg->sim, a->gpus, &a->n_gpus, e)
                    : agent_nvml_discover(a->gpus, &a->n_gpus, e);
    if (!rc) rc = init_loop(a, e);
    if (rc) {
        agent_free(a);
        return rc;
    }
    if (a->sim)
        for (int i = 0; i < a->n_gpus; i++)
            snprintf(a->gpus[i].uuid, sizeof a->gpus[i].uuid, "SIM-%s-%d", a->node, i);
    if ((cfg->allow_commands && (rc = agent_allow_load(a, cfg->allow_commands, e))) ||
        (rc = agent_state_init(a, e))) {
        agent_free(a);
        return rc;
    }
    /* Adopted workers are fenced like any others if no controller renews a lease in time. */
    if (a->pls) agent_lease_renew(a, uv_now(&a->loop));
    for (int i = 0; i < a->n_gpus; i++)
        vp_logf(&a->log, VP_LOG_INFO, "gpu",
                "index=%u model=%s total_bytes=%llu usable_bytes=%llu%s", a->gpus[i].index,
                vp_log_q(a->gpus[i].model), (unsigned long long)a->gpus[i].total_bytes,
                (unsigned long long)agent_usable_bytes(a, &a->gpus[i]), a->sim ? " sim=true" : "");
    *out = a;
    return 0;
}

int agent_run(agent *a)
{
    /* A controller that vanishes mid-write must not kill the agent. */
    signal(SIGPIPE, SIG_IGN);
    if (a->handle_signals) {
        uv_signal_start(&a->sigint, on_signal, SIGINT);
        uv_signal_start(&a->sigterm, on_signal, SIGTERM);
    }
    vp_logf(&a->log, VP_LOG_INFO, "agent starting",
            "controller=%s:%s gpus=%d worker=%s state_dir=%s ports=%u-%u", a->host, a->port,
            a->n_gpus, vp_log_q(a->worker_path), vp_log_q(a->state_dir), a->port_lo, a->port_hi);
    agent_conn_start(a);
    int rc = uv_run(&a->loop, UV_RUN_DEFAULT);
    (void)rc;
    return 0;
}

void agent_stop(agent *a)
{
    if (a) uv_async_send(&a->stop_async);
}

const proto_gpu *agent_gpus(const agent *a, int *n)
{
    *n = a->n_gpus;
    return a->gpus;
}

void agent_free(agent *a)
{
    if (!a) return;
    if (a->loop_ready) {
        if (!a->finished) {
            /* Never run (or stopped abnormally): close what is open, then drain. */
            a->stopping = true;
            for (agent_pl *pl = a->pls, *next; pl; pl = next) {
                next = pl->next;
                if (pl->proc) continue; /* cannot happen after agent_run returned */
                agent_pl_remove(pl);
            }
            agent_engines_close(a);
            agent_maybe_finish(a);
        }
        uv_run(&a->loop, UV_RUN_DEFAULT);
        if (a->addrs) uv_freeaddrinfo(a->addrs);
        uv_loop_close(&a->loop);
    }
    for (agent_engine_ver *v = a->versions, *next; v; v = next) {
        next = v->next;
        free(v);
    }
    for (size_t i = 0; i < a->n_allowed; i++)
        free(a->allowed[i]);
    free(a->allowed);
    if (a->lock_fd >= 0) close(a->lock_fd);
    vp_log_close(&a->log);
    free(a);
}
