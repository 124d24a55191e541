/* probe.c - readiness and liveness of a placement's worker.
 *
 * An engine with a health endpoint (engine.h) is `starting` until GET <path> on
 * 127.0.0.1:<port> answers 200: one request every probe_ms, each bounded by a timeout, over a
 * fresh loopback connection. Once running it is probed every live_probe_ms; live_misses failed
 * probes in a row restart it (a hung engine holds its GPU and serves nothing). A worker without
 * an endpoint (the built-in worker) is running once it prints its ready line. Either kind that is
 * not running within its ready timeout (the assign's, else the profile's) is stopped, and the
 * reason is kept as the placement's error. A worker adopted from a previous agent is not this
 * agent's child: its end is noticed by polling /proc on the same timer.
 *
 * A request in flight belongs to its agent_probe, which frees itself once its two handles are
 * closed; a placement that goes away first only detaches it, so no callback ever touches a freed
 * placement. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_int.h"

#define READY_PROBE_TIMEOUT_MS 2000
#define LIVE_PROBE_TIMEOUT_MS 5000

struct agent_probe {
    uv_tcp_t tcp;
    uv_connect_t conn;
    uv_write_t wr;
    uv_timer_t timer;
    agent_pl *pl; /* NULL once detached */
    int open;
    bool finished;
    char req[512];
    char buf[256];
    size_t len;
};

static void probe_closed(uv_handle_t *h)
{
    agent_probe *p = h->data;
    if (--p->open == 0) free(p);
}

static void probe_close(agent_probe *p)
{
    if (!uv_is_closing((uv_handle_t *)&p->tcp)) uv_close((uv_handle_t *)&p->tcp, probe_closed);
    if (!uv_is_closing((uv_handle_t *)&p->timer)) uv_close((uv_handle_t *)&p->timer, probe_closed);
}

static void on_result(agent_pl *pl, int status, const char *detail);

/* Ends the request with an HTTP status (or 0 and what went wrong). */
static void probe_finish(agent_probe *p, int status, const char *detail)
{
    if (p->finished) return;
    p->finished = true;
    agent_pl *pl = p->pl;
    p->pl = NULL;
    probe_close(p);
    if (pl) {
        pl->probe = NULL;
        on_result(pl, status, detail);
    }
}

static void probe_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    agent_probe *p = h->data;
    (void)suggested;
    buf->base = p->buf + p->len;
    buf->len = sizeof p->buf - 1 - p->len;
}

static void probe_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    agent_probe *p = s->data;
    (void)buf;
    if (n < 0) {
        probe_finish(p, 0,
                     n == UV_EOF ? "connection closed without an answer" : uv_strerror((int)n));
        return;
    }
    p->len += (size_t)n;
    p->buf[p->len] = '\0';
    char *eol = strstr(p->buf, "\r\n");
    if (!eol && p->len < sizeof p->buf - 1) return;
    /* "HTTP/1.1 200 OK" */
    int status = 0;
    if (!strncmp(p->buf, "HTTP/1.", 7) && p->buf[8] == ' ') status = atoi(p->buf + 9);
    probe_finish(p, status, status ? NULL : "not an HTTP answer");
}

static void probe_written(uv_write_t *w, int status)
{
    agent_probe *p = w->data;
    if (status < 0) probe_finish(p, 0, uv_strerror(status));
}

static void probe_connected(uv_connect_t *c, int status)
{
    agent_probe *p = c->data;
    if (p->finished) return;
    if (status < 0) {
        probe_finish(p, 0, uv_strerror(status));
        return;
    }
    uv_buf_t b = uv_buf_init(p->req, (unsigned)strlen(p->req));
    p->wr.data = p;
    int rc = uv_write(&p->wr, (uv_stream_t *)&p->tcp, &b, 1, probe_written);
    if (!rc) rc = uv_read_start((uv_stream_t *)&p->tcp, probe_alloc, probe_read);
    if (rc) probe_finish(p, 0, uv_strerror(rc));
}

static void probe_timeout(uv_timer_t *t)
{
    probe_finish(t->data, 0, "timed out");
}

static void probe_send(agent_pl *pl)
{
    struct agent *a = pl->a;
    agent_probe *p = calloc(1, sizeof *p);
    if (!p) return;
    snprintf(p->req, sizeof p->req,
             "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUser-Agent: vrampack-agent\r\n"
             "Connection: close\r\n\r\n",
             pl->health_path, pl->port);
    uv_tcp_init(&a->loop, &p->tcp);
    uv_timer_init(&a->loop, &p->timer);
    p->tcp.data = p->timer.data = p->conn.data = p;
    p->open = 2;
    p->pl = pl;
    pl->probe = p;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", (int)pl->port, &sa);
    bool live = pl->state == PROTO_RUNNING;
    uv_timer_start(&p->timer, probe_timeout, live ? LIVE_PROBE_TIMEOUT_MS : READY_PROBE_TIMEOUT_MS,
                   0);
    int rc = uv_tcp_connect(&p->conn, &p->tcp, (const struct sockaddr *)&sa, probe_connected);
    if (rc) probe_finish(p, 0, uv_strerror(rc));
}

static void on_result(agent_pl *pl, int status, const char *detail)
{
    struct agent *a = pl->a;
    if (!agent_pl_live(pl) || pl->released || pl->stop_why[0]) return;
    if (status == 200) {
        snprintf(pl->probe_last, sizeof pl->probe_last, "HTTP 200");
        pl->probe_misses = 0;
        if (pl->state != PROTO_RUNNING) {
            char how[160];
            snprintf(how, sizeof how, "GET %s on port %u: 200", pl->health_path, pl->port);
            agent_pl_ready(pl, how);
        }
        return;
    }
    if (status)
        snprintf(pl->probe_last, sizeof pl->probe_last, "HTTP %d", status);
    else
        snprintf(pl->probe_last, sizeof pl->probe_last, "%s", detail ? detail : "no answer");
    if (pl->state != PROTO_RUNNING) return; /* still loading: the ready timeout decides */
    pl->probe_misses++;
    vp_logf(&a->log, VP_LOG_WARN, "health probe failed", "placement=%s port=%u misses=%u last=%s",
            pl->spec.u.assign.id, pl->port, pl->probe_misses, vp_log_q(pl->probe_last));
    if (pl->probe_misses >= a->live_misses) {
        char why[PROTO_TEXT_MAX / 2];
        snprintf(why, sizeof why, "stopped answering GET %s on port %u (%u probes in a row: %s)",
                 pl->health_path, pl->port, pl->probe_misses, pl->probe_last);
        agent_worker_stop(pl, why);
    }
}

static void on_probe_timer(uv_timer_t *t)
{
    agent_pl *pl = t->data;
    if (!agent_pl_live(pl)) {
        uv_timer_stop(t);
        return;
    }
    if (pl->adopted && !agent_proc_alive(pl->pid, pl->start_ticks)) {
        uv_timer_stop(t);
        vp_logf(&pl->a->log, VP_LOG_WARN, "adopted worker is gone", "placement=%s pid=%d",
                pl->spec.u.assign.id, pl->pid);
        agent_pl_worker_exited(pl, -1, 0);
        return;
    }
    if (pl->health_path && pl->port && !pl->probe && !pl->stop_why[0] && !pl->released)
        probe_send(pl);
}

static void on_ready_timer(uv_timer_t *t)
{
    agent_pl *pl = t->data;
    if (!agent_pl_live(pl) || pl->state == PROTO_RUNNING || pl->released) return;
    const proto_assign *as = &pl->spec.u.assign;
    const eng_profile *prof = eng_profile_of(pl->kind);
    uint32_t s = as->ready_timeout_s ? as->ready_timeout_s : prof ? prof->ready_timeout_s : 300;
    char why[PROTO_TEXT_MAX / 2];
    if (pl->health_path)
        snprintf(why, sizeof why, "not ready after %u s (GET %s on port %u: %s)", s,
                 pl->health_path, pl->port, pl->probe_last[0] ? pl->probe_last : "no answer");
    else
        snprintf(why, sizeof why, "not ready after %u s (no ready line)", s);
    vp_logf(&pl->a->log, VP_LOG_WARN, "worker not ready in time", "placement=%s reason=%s", as->id,
            vp_log_q(why));
    agent_worker_stop(pl, why);
}

void agent_probe_start(agent_pl *pl)
{
    struct agent *a = pl->a;
    const char *args[PROTO_MAX_ARGV], *cmd[PROTO_MAX_ARGV];
    eng_launch l;
    agent_launch_of(pl, &l, args, cmd);
    pl->health_path = eng_health_path(&l);
    pl->probe_misses = 0;
    pl->probe_last[0] = '\0';
    pl->stop_why[0] = '\0';
    const eng_profile *prof = eng_profile_of(pl->kind);
    uint32_t s = pl->spec.u.assign.ready_timeout_s;
    if (!s) s = prof ? prof->ready_timeout_s : 300;
    if (pl->state != PROTO_RUNNING)
        uv_timer_start(&pl->ready_timer, on_ready_timer, (uint64_t)s * 1000, 0);
    uint32_t every = pl->state == PROTO_RUNNING ? a->live_probe_ms : a->probe_ms;
    if (pl->health_path || pl->adopted) {
        uint32_t first = pl->adopted ? 1 : every; /* an adopted engine may be ready already */
        if (pl->adopted && every > 500) every = 500;
        uv_timer_start(&pl->probe_timer, on_probe_timer, first, every);
    }
}

void agent_probe_stop(agent_pl *pl)
{
    uv_timer_stop(&pl->ready_timer);
    /* An adopted worker's exit is only seen by polling: keep the timer while it lives. */
    if (!pl->adopted || !agent_pl_live(pl)) uv_timer_stop(&pl->probe_timer);
    if (pl->probe) {
        pl->probe->pl = NULL;
        pl->probe = NULL;
    }
}

void agent_pl_ready(agent_pl *pl, const char *how)
{
    struct agent *a = pl->a;
    if (pl->state == PROTO_RUNNING || pl->released || pl->pending.type) return;
    pl->state = PROTO_RUNNING;
    pl->error[0] = '\0';
    uv_timer_stop(&pl->ready_timer);
    if (pl->health_path) {
        uint32_t every = a->live_probe_ms;
        if (pl->adopted && every > 500) every = 500;
        uv_timer_start(&pl->probe_timer, on_probe_timer, every, every);
    }
    vp_logf(&a->log, VP_LOG_INFO, "worker ready", "placement=%s pid=%d port=%u how=%s",
            pl->spec.u.assign.id, pl->pid, pl->port, vp_log_q(how));
    agent_pl_changed(pl);
}
