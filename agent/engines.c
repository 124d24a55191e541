/* engines.c - what the agent knows about the engines on this host: their binaries, their
 * versions, and the serving ports it hands out.
 *
 * Versions. A profile that has a flag only some versions accept or spell one way (vLLM's
 * --kv-cache-memory-bytes, its speculative flags) names the argument that prints the version; the
 * agent runs `binary --version` once per binary, asynchronously (importing vLLM takes seconds),
 * with a 120 s limit. Placements that need the answer wait in `starting` and are started when it
 * comes; a binary that cannot be run or prints no version counts as "flag not accepted", and its
 * placements then fail on their own spawn with the real reason.
 *
 * Commands. A `command` template runs a program the manifest names; that is code execution on
 * the node for whoever can submit a manifest, so an agent runs one only when its program is
 * listed in --allow-commands. Engine profiles run their own binaries (or --engine ones).
 *
 * Ports. Engines get ports from --ports LO-HI: the next one, round robin, that no placement of
 * this agent holds and that can be bound right now (SO_REUSEADDR, as servers bind). A placement
 * keeps its port across restarts, so routers keep finding it. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent_int.h"
#include "vp_json.h"

#define VERSION_TIMEOUT_MS 120000

int agent_ports_parse(const char *s, uint32_t *lo, uint32_t *hi)
{
    char *end;
    unsigned long a = strtoul(s, &end, 10);
    if (end == s || *end != '-') return VP_EUSAGE;
    const char *t = end + 1;
    unsigned long b = strtoul(t, &end, 10);
    if (end == t || *end || a < 1024 || a > b || b > 65535) return VP_EUSAGE;
    *lo = (uint32_t)a;
    *hi = (uint32_t)b;
    return 0;
}

const char *agent_engine_binary(struct agent *a, eng_kind k)
{
    if (k == ENG_BUILTIN) return a->worker_path;
    if ((unsigned)k < ENG_COUNT && a->engine_bin[k][0]) return a->engine_bin[k];
    const eng_profile *p = eng_profile_of(k);
    return p && p->binary ? p->binary : NULL;
}

static bool bindable(uint32_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

uint32_t agent_port_alloc(struct agent *a)
{
    uint32_t n = a->port_hi - a->port_lo + 1;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t p = a->port_lo + (a->port_next + i) % n;
        bool held = false;
        for (agent_pl *pl = a->pls; pl && !held; pl = pl->next)
            held = pl->port == p;
        if (held || !bindable(p)) continue;
        a->port_next = (p - a->port_lo + 1) % n;
        return p;
    }
    return 0;
}

/* ---- allowed commands ---- */

int agent_allow_load(struct agent *a, const char *path, vp_err *e)
{
    char *buf;
    size_t len;
    int rc = vp_read_file(path, 1 << 20, &buf, &len, e);
    if (rc) return rc;
    snprintf(a->allow_file, sizeof a->allow_file, "%s", path);
    for (char *p = buf, *next; p && *p; p = next) {
        next = strchr(p, '\n');
        if (next) *next++ = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strlen(p);
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
            p[--n] = '\0';
        if (!n || *p == '#') continue;
        char **v = realloc(a->allowed, (a->n_allowed + 1) * sizeof *v);
        if (!v || !(v[a->n_allowed] = strdup(p))) {
            if (v) a->allowed = v;
            free(buf);
            return vp_errf(e, -ENOMEM, "%s: out of memory", path);
        }
        a->allowed = v;
        a->n_allowed++;
    }
    free(buf);
    return 0;
}

int agent_allow_check(agent_pl *pl)
{
    struct agent *a = pl->a;
    if (pl->kind != ENG_COMMAND) return 0;
    const char *args[PROTO_MAX_ARGV], *cmd[PROTO_MAX_ARGV];
    eng_launch l;
    agent_launch_of(pl, &l, args, cmd);
    char *prog = l.n_command ? eng_expand(l.command[0], &l) : NULL;
    bool ok = false;
    for (size_t i = 0; prog && i < a->n_allowed && !ok; i++)
        ok = !strcmp(a->allowed[i], prog);
    if (!ok) {
        if (!a->n_allowed)
            snprintf(pl->error, sizeof pl->error,
                     "this agent runs no worker.command templates (start it with "
                     "--allow-commands FILE listing %s)",
                     prog ? prog : "the program");
        else
            snprintf(pl->error, sizeof pl->error, "command %s is not listed in %s",
                     prog ? prog : "?", a->allow_file);
    }
    free(prog);
    return ok ? 0 : VP_EAUTH;
}

/* ---- versions ---- */

static void ver_closed(uv_handle_t *h)
{
    agent_engine_ver *v = h->data;
    if (--v->open_handles == 0) {
        v->a->handles_closing--;
        agent_maybe_finish(v->a);
    }
}

static void ver_close_handles(agent_engine_ver *v)
{
    uv_handle_t *hs[] = {(uv_handle_t *)&v->proc, (uv_handle_t *)&v->out, (uv_handle_t *)&v->timer};
    for (size_t i = 0; i < VP_ARRAY_LEN(hs); i++)
        if (hs[i]->loop && !uv_is_closing(hs[i])) uv_close(hs[i], ver_closed);
}

/* Starts the placements that waited for this binary's version. */
static void ver_done(agent_engine_ver *v)
{
    struct agent *a = v->a;
    if (v->state == 1) return;
    v->state = 1;
    v->kv_bytes_flag = false;
    if (eng_version_find(v->buf, v->version, sizeof v->version) == 0) {
        for (int k = 0; k < ENG_COUNT; k++) {
            const eng_profile *p = eng_profile_of((eng_kind)k);
            if (p->kv_bytes_since && !strcmp(agent_engine_binary(a, (eng_kind)k), v->binary))
                v->kv_bytes_flag = eng_version_cmp(v->version, p->kv_bytes_since) >= 0;
        }
    }
    vp_logf(&a->log, VP_LOG_INFO, "engine version", "binary=%s version=%s kv_bytes_flag=%s",
            vp_log_q(v->binary), v->version[0] ? v->version : "unknown",
            v->kv_bytes_flag ? "yes" : "no");
    ver_close_handles(v);
    if (a->stopping) return;
    for (agent_pl *pl = a->pls; pl; pl = pl->next)
        if (pl->waiting_version && !strcmp(agent_engine_binary(a, pl->kind), v->binary)) {
            pl->waiting_version = false;
            if (!pl->released && !pl->refused && !agent_pl_live(pl)) agent_pl_start(pl);
        }
}

static void ver_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static _Thread_local char chunk[4096];
    (void)h;
    (void)suggested;
    buf->base = chunk;
    buf->len = sizeof chunk;
}

static void ver_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    agent_engine_ver *v = s->data;
    if (n < 0) {
        uv_read_stop(s);
        v->eof = true;
        if (v->exited) ver_done(v);
        return;
    }
    size_t room = sizeof v->buf - 1 - v->len;
    size_t take = (size_t)n < room ? (size_t)n : room;
    memcpy(v->buf + v->len, buf->base, take);
    v->len += take;
    v->buf[v->len] = '\0';
}

static void ver_exit(uv_process_t *p, int64_t status, int sig)
{
    (void)status;
    (void)sig;
    agent_engine_ver *v = p->data;
    v->exited = true;
    if (v->eof) ver_done(v); /* else when its output has all been read */
}

static void ver_timeout(uv_timer_t *t)
{
    agent_engine_ver *v = t->data;
    vp_logf(&v->a->log, VP_LOG_WARN, "engine version probe timed out", "binary=%s",
            vp_log_q(v->binary));
    if (v->proc.pid > 0) kill(v->proc.pid, SIGKILL);
    ver_done(v);
}

static agent_engine_ver *ver_start(struct agent *a, const char *binary, const char *arg)
{
    agent_engine_ver *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->a = a;
    snprintf(v->binary, sizeof v->binary, "%s", binary);
    v->next = a->versions;
    a->versions = v;
    uv_pipe_init(&a->loop, &v->out, 0);
    uv_timer_init(&a->loop, &v->timer);
    v->out.data = v->timer.data = v->proc.data = v;
    v->open_handles = 3;
    a->handles_closing++; /* pending work: shutdown waits for it */
    char *argv[] = {v->binary, (char *)arg, NULL};
    /* The probe's chatter on stderr is not ours to print. */
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&v->out},
        {.flags = UV_IGNORE},
    };
    uv_process_options_t opt = {
        .exit_cb = ver_exit, .file = v->binary, .args = argv, .stdio_count = 3, .stdio = stdio};
    int rc = uv_spawn(&a->loop, &v->proc, &opt);
    if (rc) {
        vp_logf(&a->log, VP_LOG_WARN, "cannot run engine for its version", "binary=%s error=%s",
                vp_log_q(binary), uv_strerror(rc));
        ver_done(v);
        return v;
    }
    uv_read_start((uv_stream_t *)&v->out, ver_alloc, ver_read);
    uv_timer_start(&v->timer, ver_timeout, VERSION_TIMEOUT_MS, 0);
    return v;
}

int agent_engine_version(struct agent *a, eng_kind k, bool *kv_bytes_flag, const char **version)
{
    *kv_bytes_flag = false;
    if (version) *version = NULL;
    const eng_profile *p = eng_profile_of(k);
    if (!p || !p->version_arg || !(p->kv_bytes_since || p->spec_config_since)) return 1;
    const char *bin = agent_engine_binary(a, k);
    if (!bin) return 1;
    agent_engine_ver *v = a->versions;
    while (v && strcmp(v->binary, bin))
        v = v->next;
    if (!v && !(v = ver_start(a, bin, p->version_arg))) return 1; /* out of memory: no flag */
    *kv_bytes_flag = v->kv_bytes_flag;
    if (version && v->state == 1) *version = v->version;
    return v->state == 1;
}

void agent_engines_close(struct agent *a)
{
    for (agent_engine_ver *v = a->versions; v; v = v->next)
        if (v->state != 1) {
            if (v->proc.pid > 0) kill(v->proc.pid, SIGKILL);
            v->state = 1;
            ver_close_handles(v);
        }
}
