/* api.c - the user API on --api: HTTP/JSON served by libmicrohttpd on a pool of threads.
 *
 * Hardening comes from libmicrohttpd's own limits: a pool of threads over epoll (idle and slow
 * connections cost a socket, never a thread, and one slow request holds up one thread), a cap
 * on open connections in all and per client address, an idle timeout, bounded per-connection
 * memory, and a body limit (4 MiB) checked before a byte of an oversize body is read. Near the
 * connection cap new requests get 503 with Retry-After instead of queueing. A manifest is parsed
 * only after a cheap scan has bounded its JSON's node count, so its parse costs bounded memory.
 *
 * Reads (plan, placements, nodes, metrics, health) take ctl->mu, render JSON from the loop's
 * state and release it; nothing here writes that state. A submit is parsed here (so bad input is
 * answered 400 at once with the planner's one-line message), then queued for the loop and the
 * HTTP connection is suspended; the loop plans it, commits it to the store and resumes the
 * connection with the answer (ctl_submit_finish). With a token configured every request must
 * carry `Authorization: Bearer TOKEN` (compared in constant time), else 401. Bodies over the
 * configured limit get 413 without being read further. */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "ctl_internal.h"

enum { R_NONE, R_HEALTH, R_METRICS, R_PLAN, R_PLACEMENTS, R_NODES, R_SUBMIT };

typedef struct api_req {
    int route;
    vp_sb body;
    size_t body_len;
    ctl_submit *sub;
} api_req;

#define API_MAX_JSON_NODES 200000 /* values in a manifest: far more than 4096 models need */

/* Values in JSON text (structural characters and scalars outside strings, roughly), without
 * parsing it: a cap on what a parse may allocate. */
static size_t json_nodes(const char *s, size_t len)
{
    size_t n = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (in_str) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_str = false;
        } else if (ch == '"') {
            in_str = true;
            n++;
        } else if (ch == '{' || ch == '[' || ch == ',' || ch == ':') {
            n++;
        }
    }
    return n;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *body,
                               const char *type)
{
    if (!body) {
        status = 500;
        body = "{\"error\":\"out of memory\"}";
        type = "application/json";
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == 401) MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (status == 503) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result respond_error(struct MHD_Connection *conn, unsigned status, const char *msg)
{
    vp_sb sb = {0};
    vp_sb_append(&sb, "{\"error\":", 9);
    ctl_json_str(&sb, msg);
    vp_sb_append(&sb, "}\n", 2);
    enum MHD_Result r =
        respond(conn, status, vp_sb_ok(&sb) ? vp_sb_str(&sb) : NULL, "application/json");
    vp_sb_free(&sb);
    return r;
}

static enum MHD_Result respond_sb(struct MHD_Connection *conn, vp_sb *sb, const char *type)
{
    enum MHD_Result r = respond(conn, 200, vp_sb_ok(sb) ? vp_sb_str(sb) : NULL, type);
    vp_sb_free(sb);
    return r;
}

static void log_request(ctl *c, const char *method, const char *url, unsigned status,
                        const char *why)
{
    vp_logline l;
    if (vp_log_begin(&c->log, &l, status >= 400 ? VP_LOG_WARN : VP_LOG_DEBUG, "api")) {
        vp_log_s(&l, "method", method);
        vp_log_s(&l, "path", url);
        vp_log_u(&l, "status", status);
        if (why) vp_log_s(&l, "error", why);
        vp_log_end(&c->log, &l);
    }
}

/* ---- renderers (called with mu held) ---- */

static uint64_t usable_of(const ctl *c, uint64_t total)
{
    uint64_t u = 0;
    vp_muldiv_floor_u64(total, c->util_ppm, 1000000, &u);
    return u;
}

static void render_nodes(const ctl *c, vp_sb *sb)
{
    vp_sb_append(sb, "{\"nodes\":[", 10);
    for (size_t i = 0; i < c->nodes.n; i++) {
        const ctl_node *n = c->nodes.v[i];
        vp_sb_printf(sb, "%s{\"name\":", i ? "," : "");
        ctl_json_str(sb, n->name);
        vp_sb_printf(sb, ",\"state\":\"%s\",\"connected\":%s,\"version\":",
                     n->state == CTL_NODE_LOST ? "lost" : "ready", n->sess ? "true" : "false");
        ctl_json_str(sb, n->version);
        vp_sb_printf(sb, ",\"host\":");
        ctl_json_str(sb, n->host);
        vp_sb_printf(sb, ",\"instance_type\":");
        ctl_json_str(sb, n->instance_type);
        vp_sb_printf(sb, ",\"lease_ms\":%u,\"lease_margin_ms\":%u", c->cfg.lease_ms,
                     c->lease_margin_ms);
        if (n->state == CTL_NODE_LOST) {
            uint64_t over = ctl_lease_over(c, n), now = uv_now((uv_loop_t *)&c->loop);
            vp_sb_printf(sb, ",\"replace_in_ms\":%" PRIu64, over > now ? over - now : 0);
        }
        vp_sb_printf(sb, ",\"price_per_hour\":%.6g,\"price_source\":", n->price_per_hour);
        ctl_json_str(sb, n->price_source);
        vp_sb_printf(sb,
                     ",\"last_heartbeat_ms\":%" PRIu64 ",\"registered_ms\":%" PRIu64
                     ",\"desired\":%zu,\"gpus\":[",
                     n->last_hb_wall_ms, n->registered_wall_ms, n->n_want);
        const place_node *pn = NULL;
        if (c->plan)
            for (size_t k = 0; k < c->plan->n_nodes && !pn; k++)
                if (!strcmp(c->plan->nodes[k].name, n->name)) pn = &c->plan->nodes[k];
        for (int g = 0; g < n->n_gpus; g++) {
            vp_sb_printf(sb, "%s{\"index\":%u,\"model\":", g ? "," : "", n->gpus[g].index);
            ctl_json_str(sb, n->gpus[g].model);
            vp_sb_append(sb, ",\"uuid\":", 8);
            ctl_json_str(sb, n->gpus[g].uuid);
            vp_sb_printf(sb,
                         ",\"total_bytes\":%" PRIu64 ",\"usable_bytes\":%" PRIu64
                         ",\"used_bytes\":%" PRIu64 ",\"suspect\":%s",
                         n->gpus[g].total_bytes, usable_of(c, n->gpus[g].total_bytes),
                         pn && g < pn->n_gpus ? pn->gpus[g].used_bytes : 0,
                         n->suspect & (1u << g) ? "true" : "false");
            if (n->suspect & (1u << g)) {
                vp_sb_printf(sb, ",\"suspect_reason\":");
                ctl_json_str(sb, n->suspect_why[g]);
            }
            vp_sb_append(sb, "}", 1);
        }
        vp_sb_append(sb, "],\"reported\":[", 14);
        for (size_t k = 0; k < n->n_rep; k++) {
            const proto_placement *r = &n->rep[k];
            vp_sb_printf(sb, "%s{\"id\":", k ? "," : "");
            ctl_json_str(sb, r->id);
            vp_sb_printf(sb, ",\"state\":\"%s\",\"pid\":%d,\"bytes_used\":%" PRIu64 "}",
                         proto_state_name(r->state), (int)r->pid, r->bytes_used);
        }
        vp_sb_append(sb, "]}", 2);
    }
    vp_sb_append(sb, "]}\n", 3);
}

static const plan_model *model_of(const ctl *c, const char *name)
{
    for (size_t i = 0; c->manifest && i < c->manifest->n_models; i++)
        if (!strcmp(c->manifest->models[i].name, name)) return &c->manifest->models[i];
    return NULL;
}

static void render_endpoint(const ctl_node *n, const proto_placement *r, vp_sb *sb)
{
    if (!r || !r->port || !n) return;
    vp_sb_printf(sb, ",\"host\":");
    ctl_json_str(sb, n->host);
    vp_sb_printf(sb, ",\"port\":%u,\"endpoint\":", r->port);
    char ep[128];
    snprintf(ep, sizeof ep, strchr(n->host, ':') ? "[%s]:%u" : "%s:%u", n->host, r->port);
    ctl_json_str(sb, ep);
}

/* The desired instance's revision, engine, endpoint and failures; and, while a roll or a move
 * is under way, the previous instance that still serves. */
static void render_instance(const ctl *c, const place_placement *q, size_t i,
                            const proto_placement *r, vp_sb *sb)
{
    const plan_model *m = model_of(c, q->model);
    const ctl_node *n = ctl_nodes_find(&c->nodes, c->plan->nodes[q->node].name);
    vp_sb_printf(sb, ",\"engine\":\"%s\",\"rev\":", eng_name(m ? m->engine : ENG_BUILTIN));
    ctl_json_str(sb, c->revs ? c->revs[i] : "");
    render_endpoint(n, r, sb);
    if (r && r->pid) vp_sb_printf(sb, ",\"pid\":%d", (int)r->pid);
    if (r && r->failures) vp_sb_printf(sb, ",\"failures\":%u", r->failures);
    if (r && r->error[0]) {
        vp_sb_append(sb, ",\"error\":", 9);
        ctl_json_str(sb, r->error);
    }
    for (size_t k = 0; k < c->nodes.n; k++) {
        const ctl_node *o = c->nodes.v[k];
        for (size_t j = 0; o->state == CTL_NODE_READY && j < o->n_rep; j++) {
            const proto_placement *p = &o->rep[j];
            if (p == r || strcmp(p->id, q->id) || p->state != PROTO_RUNNING) continue;
            vp_sb_printf(sb, ",\"previous\":{\"node\":");
            ctl_json_str(sb, o->name);
            vp_sb_printf(sb, ",\"rev\":");
            ctl_json_str(sb, p->rev);
            vp_sb_printf(sb, ",\"state\":\"%s\",\"pid\":%d", proto_state_name(p->state),
                         (int)p->pid);
            render_endpoint(o, p, sb);
            vp_sb_append(sb, "}", 1);
            return;
        }
    }
}

static void render_placements(const ctl *c, vp_sb *sb)
{
    vp_sb_append(sb, "{\"placements\":[", 15);
    size_t k = 0;
    const place_plan *p = c->plan;
    for (size_t i = 0; p && i < p->n_placements; i++, k++) {
        const place_placement *q = &p->placements[i];
        const proto_placement *r;
        const char *state = ctl_placement_state(c, q, &r);
        vp_sb_printf(sb, "%s{\"id\":", k ? "," : "");
        ctl_json_str(sb, q->id);
        vp_sb_append(sb, ",\"model\":", 9);
        ctl_json_str(sb, q->model);
        vp_sb_printf(sb, ",\"replica\":%u", q->replica);
        if (q->stage >= 0) vp_sb_printf(sb, ",\"stage\":%d", q->stage);
        vp_sb_append(sb, ",\"node\":", 8);
        ctl_json_str(sb, p->nodes[q->node].name);
        vp_sb_append(sb, ",\"gpus\":[", 9);
        for (int g = 0; g < q->n_gpus; g++)
            vp_sb_printf(sb, "%s%u", g ? "," : "", q->gpus[g]);
        vp_sb_printf(sb, "],\"bytes_per_gpu\":%" PRIu64 ",\"state\":\"%s\"", q->bytes_per_gpu,
                     state);
        render_instance(c, q, i, r, sb);
        vp_sb_append(sb, "}", 1);
    }
    for (size_t i = 0; p && i < p->n_unplaced; i++, k++) {
        const place_unplaced *u = &p->unplaced[i];
        char id[PLACE_ID_MAX];
        place_make_id(id, sizeof id, u->model, u->replica, -1);
        vp_sb_printf(sb, "%s{\"id\":", k ? "," : "");
        ctl_json_str(sb, id);
        vp_sb_append(sb, ",\"model\":", 9);
        ctl_json_str(sb, u->model);
        /* Still running from an earlier plan: over capacity, and where. */
        const ctl_node *on = NULL;
        const proto_placement *run = NULL;
        for (size_t n = 0; n < c->nodes.n && !run; n++)
            for (size_t r = 0; r < c->nodes.v[n]->n_rep && !run; r++) {
                const proto_placement *pr = &c->nodes.v[n]->rep[r];
                if (pr->state == PROTO_RUNNING && !strcmp(pr->id, id)) {
                    run = pr;
                    on = c->nodes.v[n];
                }
            }
        vp_sb_printf(sb, ",\"replica\":%u,\"node\":", u->replica);
        if (on)
            ctl_json_str(sb, on->name);
        else
            vp_sb_printf(sb, "null");
        vp_sb_printf(sb, ",\"gpus\":[],\"bytes_per_gpu\":0,\"state\":\"%s\"",
                     run ? "over_capacity" : "unplaced");
        if (run) vp_sb_printf(sb, ",\"pid\":%d", (int)run->pid);
        vp_sb_printf(sb, ",\"reason\":");
        ctl_json_str(sb, u->reason);
        vp_sb_append(sb, "}", 1);
    }
    vp_sb_append(sb, "]}\n", 3);
}

static void prom_label(vp_sb *sb, const char *v)
{
    for (; *v; v++) {
        if (*v == '"' || *v == '\\')
            vp_sb_printf(sb, "\\%c", *v);
        else if (*v == '\n')
            vp_sb_append(sb, "\\n", 2);
        else
            vp_sb_append(sb, v, 1);
    }
}

static void prom_head(vp_sb *sb, const char *name, const char *type, const char *help)
{
    vp_sb_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One GPU series per plan GPU: NAME{node="..",gpu="i",gpu_model=".."} VALUE. */
static void gpu_series(vp_sb *sb, const place_plan *p, const char *name, bool usable)
{
    for (size_t i = 0; p && i < p->n_nodes; i++)
        for (int g = 0; g < p->nodes[i].n_gpus; g++) {
            vp_sb_printf(sb, "%s{node=\"", name);
            prom_label(sb, p->nodes[i].name);
            vp_sb_printf(sb, "\",gpu=\"%d\",gpu_model=\"", g);
            prom_label(sb, p->nodes[i].gpus[g].model);
            vp_sb_printf(sb, "\"} %" PRIu64 "\n",
                         usable ? p->nodes[i].gpus[g].usable_bytes
                                : p->nodes[i].gpus[g].used_bytes);
        }
}

/* Nodes, placements and GPUs: what the plan wants and how the fleet answers. */
static void render_fleet_metrics(const ctl *c, vp_sb *sb)
{
    size_t ready = 0, lost = 0;
    for (size_t i = 0; i < c->nodes.n; i++)
        if (c->nodes.v[i]->state == CTL_NODE_LOST)
            lost++;
        else
            ready++;
    prom_head(sb, "vrampack_agents_connected", "gauge",
              "Agents with a live authenticated session.");
    vp_sb_printf(sb, "vrampack_agents_connected %zu\n", c->n_agents);
    prom_head(sb, "vrampack_nodes", "gauge", "Registered nodes by state.");
    vp_sb_printf(sb, "vrampack_nodes{state=\"ready\"} %zu\nvrampack_nodes{state=\"lost\"} %zu\n",
                 ready, lost);
    prom_head(sb, "vrampack_node_heartbeat_age_seconds", "gauge",
              "Seconds since each registered node's agent was last heard from.");
    uint64_t now = ctl_wall_ms();
    for (size_t i = 0; i < c->nodes.n; i++) {
        const ctl_node *n = c->nodes.v[i];
        if (!n->last_hb_wall_ms) continue; /* never heard from: no age to tell */
        vp_sb_printf(sb, "vrampack_node_heartbeat_age_seconds{node=\"");
        prom_label(sb, n->name);
        vp_sb_printf(sb, "\"} %.3f\n",
                     now > n->last_hb_wall_ms ? (double)(now - n->last_hb_wall_ms) / 1000.0 : 0.0);
    }

    static const char *const states[] = {"pending", "starting", "running",
                                         "failed",  "stopped",  "unplaced"};
    size_t count[6] = {0};
    const place_plan *p = c->plan;
    for (size_t i = 0; p && i < p->n_placements; i++) {
        const char *s = ctl_placement_state(c, &p->placements[i], NULL);
        for (size_t k = 0; k < 5; k++)
            if (!strcmp(s, states[k])) count[k]++;
    }
    count[5] = p ? p->n_unplaced : 0;
    prom_head(sb, "vrampack_placements", "gauge", "Desired placements by observed state.");
    for (size_t k = 0; k < 6; k++)
        vp_sb_printf(sb, "vrampack_placements{state=\"%s\"} %zu\n", states[k], count[k]);

    prom_head(sb, "vrampack_gpu_planned_bytes", "gauge", "Bytes the plan puts on each GPU.");
    gpu_series(sb, p, "vrampack_gpu_planned_bytes", false);
    prom_head(sb, "vrampack_gpu_usable_bytes", "gauge",
              "Usable bytes of each GPU (total x gpu_memory_utilization).");
    gpu_series(sb, p, "vrampack_gpu_usable_bytes", true);
    if (p) {
        prom_head(sb, "vrampack_plan_cost_dollars_per_hour", "gauge",
                  "What the desired plan costs, in dollars per hour.");
        vp_sb_printf(sb, "vrampack_plan_cost_dollars_per_hour %.6g\n", p->cost_per_hour);
    }
}

/* Names follow the Prometheus naming guide: the unit as a suffix (_bytes, _seconds,
 * _dollars_per_hour), _total on counters, gpu_model for a label that holds a GPU model. */
static void render_metrics(const ctl *c, vp_sb *sb)
{
    prom_head(sb, "vrampack_build_info", "gauge", "The running controller's version.");
    vp_sb_printf(sb, "vrampack_build_info{version=\"%s\"} 1\n", VP_VERSION);
    render_fleet_metrics(c, sb);
    prom_head(sb, "vrampack_solve_seconds", "summary",
              "Time spent planning (submits and re-plans).");
    vp_sb_printf(sb, "vrampack_solve_seconds_sum %.6f\nvrampack_solve_seconds_count %" PRIu64 "\n",
                 c->solve_seconds_sum, c->solves_total);
    prom_head(sb, "vrampack_last_solve_seconds", "gauge", "Duration of the latest solve.");
    vp_sb_printf(sb, "vrampack_last_solve_seconds %.6f\n", c->solve_seconds_last);
    struct {
        const char *name, *help;
        uint64_t v;
    } counters[] = {
        {"vrampack_replans_total", "Re-plans after node loss or arrival.", c->replans_total},
        {"vrampack_submits_total", "Manifests accepted.", c->submits_total},
        {"vrampack_heartbeats_total", "Heartbeat frames received.", c->heartbeats_total},
        {"vrampack_reports_total", "Report frames received.", c->reports_total},
        {"vrampack_assigns_sent_total", "Assign frames sent.", c->assigns_sent},
        {"vrampack_releases_sent_total", "Release frames sent.", c->releases_sent},
        {"vrampack_nodes_lost_total", "Times a node was declared lost.", c->nodes_lost_total},
        {"vrampack_moves_total", "Running replicas moved to make the fleet cheaper.",
         c->moves_total},
        {"vrampack_consolidations_total", "Consolidations applied.", c->consolidations_total},
        {"vrampack_controller_stalls_total",
         "Times the controller's own loop stalled (counted silence restarted).", c->stalls_total},
        {"vrampack_crash_loops_total",
         "Placements moved off a node after failing there again and again.", c->crash_loops_total},
        {"vrampack_agent_sessions_total", "Connections accepted on the agents' port.",
         c->sessions_total},
        {"vrampack_frames_rejected_total", "Agent connections closed for a bad frame or token.",
         c->frames_rejected},
    };
    for (size_t i = 0; i < VP_ARRAY_LEN(counters); i++) {
        prom_head(sb, counters[i].name, "counter", counters[i].help);
        vp_sb_printf(sb, "%s %" PRIu64 "\n", counters[i].name, counters[i].v);
    }
    prom_head(sb, "vrampack_saved_dollars_per_hour_total", "counter",
              "Dollars per hour the applied moves saved, summed over all of them.");
    vp_sb_printf(sb, "vrampack_saved_dollars_per_hour_total %.6g\n", c->saved_per_hour_total);
    prom_head(sb, "vrampack_auth_failures_total", "counter", "Requests refused for their token.");
    vp_sb_printf(sb,
                 "vrampack_auth_failures_total{port=\"agents\"} %" PRIu64 "\n"
                 "vrampack_auth_failures_total{port=\"api\"} %" PRIu64 "\n",
                 c->auth_failures, c->api_auth_failures);
}

/* ---- request handling ---- */

static bool authorized(ctl *c, struct MHD_Connection *conn, int route)
{
    if (!c->cfg.api_token[0]) return true;
    if (c->cfg.public_metrics && (route == R_HEALTH || route == R_METRICS)) return true;
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *tok = NULL;
    if (h && !strncasecmp(h, "Bearer ", 7)) {
        tok = h + 7;
        while (*tok == ' ')
            tok++;
    }
    bool ok = tok && strlen(tok) < PROTO_TOKEN_MAX && proto_token_equal(tok, c->cfg.api_token);
    if (!ok) {
        pthread_mutex_lock(&c->mu);
        c->api_auth_failures++;
        pthread_mutex_unlock(&c->mu);
    }
    return ok;
}

static int route_of(const char *url, const char *method, bool *method_ok)
{
    static const struct {
        const char *path, *method;
        int route;
    } routes[] = {
        {"/healthz", "GET", R_HEALTH}, {"/metrics", "GET", R_METRICS},
        {"/v1/plan", "GET", R_PLAN},   {"/v1/placements", "GET", R_PLACEMENTS},
        {"/v1/nodes", "GET", R_NODES}, {"/v1/manifests", "POST", R_SUBMIT},
    };
    for (size_t i = 0; i < VP_ARRAY_LEN(routes); i++) {
        if (strcmp(url, routes[i].path)) continue;
        *method_ok = !strcmp(method, routes[i].method) ||
                     (!strcmp(method, "HEAD") && !strcmp(routes[i].method, "GET"));
        return routes[i].route;
    }
    *method_ok = false;
    return R_NONE;
}

static enum MHD_Result serve_get(ctl *c, struct MHD_Connection *conn, int route)
{
    vp_sb sb = {0};
    pthread_mutex_lock(&c->mu);
    switch (route) {
    case R_HEALTH: {
        /* Degraded while a desired placement is failing or a node is lost. */
        size_t failing = 0, lost = 0;
        for (size_t i = 0; c->plan && i < c->plan->n_placements; i++)
            failing += !strcmp(ctl_placement_state(c, &c->plan->placements[i], NULL), "failed");
        for (size_t i = 0; i < c->nodes.n; i++)
            lost += c->nodes.v[i]->state == CTL_NODE_LOST;
        vp_sb_printf(&sb,
                     "{\"status\":\"%s\",\"agents_connected\":%zu,\"nodes\":%zu,"
                     "\"nodes_lost\":%zu,\"placements\":%zu,\"failing\":%zu}\n",
                     failing || lost ? "degraded" : "ok", c->n_agents, c->nodes.n, lost,
                     c->plan ? c->plan->n_placements : 0, failing);
        break;
    }
    case R_METRICS:
        render_metrics(c, &sb);
        break;
    case R_PLAN: {
        place_plan *empty = c->plan ? NULL : place_plan_new();
        char *j = plan_to_json(c->plan ? c->plan : empty);
        place_plan_free(empty);
        if (j) {
            vp_sb_append(&sb, j, strlen(j));
            free(j);
        } else {
            sb.oom = 1;
        }
        break;
    }
    case R_PLACEMENTS:
        render_placements(c, &sb);
        break;
    case R_NODES:
        render_nodes(c, &sb);
        break;
    }
    pthread_mutex_unlock(&c->mu);
    return respond_sb(conn, &sb,
                      route == R_METRICS ? "text/plain; version=0.0.4; charset=utf-8"
                                         : "application/json");
}

/* The request's first call: headers only. Answers everything but a submit at once. */
static enum MHD_Result on_headers(ctl *c, api_req *r, struct MHD_Connection *conn, const char *url,
                                  const char *method)
{
    bool method_ok;
    r->route = route_of(url, method, &method_ok);
    /* Near the connection cap, answer at once rather than let requests queue (health checks
     * still get through). */
    unsigned open = (unsigned)__atomic_load_n(&c->api_open, __ATOMIC_RELAXED);
    static const struct {
        unsigned status;
        const char *why;
    } refusals[] = {{503, "too many open connections; retry"},
                    {401, "missing or wrong bearer token"},
                    {404, "no such path"},
                    {405, "method not allowed"}};
    int k = r->route != R_HEALTH && open > c->cfg.api_conn_limit / 8 * 7 ? 0
            : !authorized(c, conn, r->route)                             ? 1
            : r->route == R_NONE                                         ? 2
            : !method_ok                                                 ? 3
                                                                         : -1;
    if (k >= 0) {
        unsigned status = refusals[k].status;
        const char *why = refusals[k].why;
        r->route = R_NONE;
        log_request(c, method, url, status, why);
        return respond_error(conn, status, why);
    }
    if (r->route != R_SUBMIT) return serve_get(c, conn, r->route);
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > c->cfg.api_body_limit) {
        r->route = R_NONE;
        log_request(c, method, url, 413, "body too large");
        return respond_error(conn, 413, "manifest larger than the body limit");
    }
    return MHD_YES;
}

/* The whole body is in: parse and check it here (bad input is answered at once), then queue it
 * for the loop and suspend the connection until the loop answers. */
static enum MHD_Result submit_body(ctl *c, api_req *r, struct MHD_Connection *conn, const char *url,
                                   const char *method)
{
    r->route = R_NONE; /* whatever happens next answers this request */
    if (!vp_sb_ok(&r->body)) return respond_error(conn, 500, "out of memory");
    const char *text = vp_sb_str(&r->body);
    plan_manifest *m = NULL;
    vp_err e = {0};
    if (json_nodes(text, r->body_len) > API_MAX_JSON_NODES) {
        log_request(c, method, url, 413, "too many JSON values");
        return respond_error(conn, 413, "manifest has more JSON values than a manifest needs");
    }
    int rc = plan_manifest_parse_inline(text, r->body_len, "manifest", &m, &e);
    if (!rc && (rc = ctl_manifest_check_engines(m, &e))) {
        plan_manifest_free(m);
        m = NULL;
    }
    if (rc) {
        log_request(c, method, url, 400, e.msg);
        return respond_error(conn, rc == -ENOMEM ? 500 : 400, e.msg[0] ? e.msg : vp_strerror(rc));
    }
    ctl_submit *s = calloc(1, sizeof *s);
    if (!s) {
        plan_manifest_free(m);
        return respond_error(conn, 500, "out of memory");
    }
    s->conn = conn;
    s->manifest = m;
    const char *dry = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "dry_run");
    s->dry_run = dry && (!strcmp(dry, "1") || !strcmp(dry, "true"));
    s->len = r->body_len;
    s->text = vp_sb_steal(&r->body);
    r->sub = s;
    r->route = R_SUBMIT;
    pthread_mutex_lock(&c->mu);
    bool stopping = c->stopping || c->wake_closed;
    if (!stopping) {
        if (c->subq_tail)
            c->subq_tail->next = s;
        else
            c->subq = s;
        c->subq_tail = s;
        MHD_suspend_connection(conn);
        uv_async_send(&c->wake);
    }
    pthread_mutex_unlock(&c->mu);
    if (stopping) {
        r->route = R_NONE;
        return respond_error(conn, 503, "controller is stopping");
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    ctl *c = cls;
    api_req *r = *con_cls;
    if (!r) {
        if (!(r = calloc(1, sizeof *r))) return MHD_NO;
        *con_cls = r;
        return on_headers(c, r, conn, url, method);
    }
    if (r->route != R_SUBMIT) return MHD_YES; /* answered already; ignore any body */
    if (*upload_data_size) {
        if (r->body_len + *upload_data_size > c->cfg.api_body_limit) {
            /* No length was declared (chunked) and the limit is passed: reading the rest would
             * only cost time, so the connection goes (a declared length got 413 above). */
            log_request(c, method, url, 413, "body too large; connection closed");
            return MHD_NO;
        }
        vp_sb_append(&r->body, upload_data, *upload_data_size);
        r->body_len += *upload_data_size;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!r->sub) return submit_body(c, r, conn, url, method);
    /* Resumed by the loop: the answer is ready. */
    pthread_mutex_lock(&c->mu);
    unsigned status = r->sub->http_status;
    char *body = r->sub->body;
    r->sub->body = NULL;
    pthread_mutex_unlock(&c->mu);
    log_request(c, method, url, status, NULL);
    enum MHD_Result ret = respond(conn, status, body, "application/json");
    free(body);
    r->route = R_NONE;
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    api_req *r = *con_cls;
    if (!r) return;
    vp_sb_free(&r->body);
    if (r->sub) {
        plan_manifest_free(r->sub->manifest);
        free(r->sub->text);
        free(r->sub->body);
        free(r->sub);
    }
    free(r);
    *con_cls = NULL;
}

void ctl_submit_finish(ctl *c, ctl_submit *s, unsigned status, char *body)
{
    pthread_mutex_lock(&c->mu);
    s->http_status = status;
    s->body = body;
    s->done = true;
    pthread_mutex_unlock(&c->mu);
    MHD_resume_connection(s->conn);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    ctl *c = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = 0;
    vp_logline l;
    if (vp_log_begin(&c->log, &l, VP_LOG_DEBUG, "http")) {
        vp_log_s(&l, "detail", msg);
        vp_log_end(&c->log, &l);
    }
}

/* Counts open connections, for the 503 near the cap. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    ctl *c = cls;
    (void)conn;
    (void)socket_context;
    __atomic_add_fetch(&c->api_open, code == MHD_CONNECTION_NOTIFY_STARTED ? 1 : -1,
                       __ATOMIC_RELAXED);
}

int ctl_api_start(ctl *c, vp_err *e)
{
    if (!c->cfg.api_host[0]) return 0;
    char port[8];
    snprintf(port, sizeof port, "%u", c->cfg.api_port);
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(c->cfg.api_host, port, &hints, &ai);
    if (rc)
        return vp_errf(e, VP_EINPUT, "--api %s:%s: %s", c->cfg.api_host, port, gai_strerror(rc));
    /* The cap on connections must leave descriptors for agents and the store. */
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)c->cfg.api_conn_limit + 512)
        c->cfg.api_conn_limit = rl.rlim_cur > 768 ? (unsigned)(rl.rlim_cur - 512) : 256;
    /* epoll where the platform has it: select() stops at 1024 descriptors. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG | MHD_USE_ITC;
    flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL : MHD_USE_POLL;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    c->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, c, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, c,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, c,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, c, MHD_OPTION_THREAD_POOL_SIZE,
        c->cfg.api_threads, MHD_OPTION_CONNECTION_LIMIT, c->cfg.api_conn_limit,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, c->cfg.api_per_ip_limit, MHD_OPTION_CONNECTION_TIMEOUT,
        c->cfg.api_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!c->mhd)
        return vp_errf(e, VP_EINPUT, "--api %s:%s: cannot listen (address in use?)",
                       c->cfg.api_host, port);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(c->mhd, MHD_DAEMON_INFO_BIND_PORT);
    c->api_port = info ? info->port : c->cfg.api_port;
    return 0;
}

void ctl_api_stop(ctl *c)
{
    if (c->mhd) MHD_stop_daemon(c->mhd);
    c->mhd = NULL;
}
