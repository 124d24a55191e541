/* worker.c - one worker process per placement: spawn, read its JSON lines, stop it.
 *
 * A worker is spawned detached (its own process group, so a release also reaches whatever an
 * external server forks) with stdout and stderr on pipes. A stdout line holding "event":"ready"
 * moves the placement to running; an "event":"error" line's message becomes the placement's
 * last error; the last stderr line is kept as the reason if the worker dies. When the worker
 * exits, its process group gets SIGKILL (stragglers would hold GPU memory the restart needs),
 * its handles close, and the placement decides: restart after backoff, start a pending changed
 * assign, or go away after a release. Each spawn gets a fresh agent_proc, which frees itself
 * when its handles are closed, so late pipe callbacks never touch a reused handle. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "agent_int.h"
#include "vp_json.h"

extern char **environ;

uint64_t agent_now_ms(struct agent *a)
{
    return uv_now(&a->loop);
}

char *agent_expand_arg(const char *tmpl, const proto_assign *as)
{
    vp_sb sb = {0};
    for (const char *p = tmpl; *p;) {
        const char *close = *p == '{' ? strchr(p, '}') : NULL;
        if (!close) {
            const char *next = strchr(p + 1, '{');
            size_t n = next ? (size_t)(next - p) : strlen(p);
            vp_sb_append(&sb, p, n);
            p += n;
            continue;
        }
        size_t klen = (size_t)(close - p - 1);
        const char *k = p + 1;
#define KEY(s) (klen == sizeof(s) - 1 && !memcmp(k, s, klen))
        if (KEY("model"))
            vp_sb_printf(&sb, "%s", as->model);
        else if (KEY("id"))
            vp_sb_printf(&sb, "%s", as->id);
        else if (KEY("tp"))
            vp_sb_printf(&sb, "%d", as->n_gpus);
        else if (KEY("replica"))
            vp_sb_printf(&sb, "%u", as->replica);
        else if (KEY("bytes"))
            vp_sb_printf(&sb, "%llu", (unsigned long long)as->bytes_per_gpu);
        else if (KEY("port"))
            vp_sb_printf(&sb, "%u", 0u);
        else if (KEY("fraction")) {
            /* Rounded DOWN to 4 decimals: a server told to take a little less than its slice
             * stays inside it; one told a little more would overcommit the GPU. */
            unsigned long long t = (unsigned long long)(as->fraction * 10000.0);
            if (t == 0) t = 1;
            vp_sb_printf(&sb, "%llu.%04llu", t / 10000, t % 10000);
        } else
            vp_sb_append(&sb, p, (size_t)(close - p + 1));
#undef KEY
        p = close + 1;
    }
    if (!vp_sb_ok(&sb)) {
        vp_sb_free(&sb);
        return NULL;
    }
    return vp_sb_steal(&sb);
}

static void proc_handle_closed(uv_handle_t *h)
{
    agent_proc *p = h->data;
    if (--p->open_handles == 0) free(p);
}

static void proc_close(agent_proc *p)
{
    if (!uv_is_closing((uv_handle_t *)&p->out))
        uv_close((uv_handle_t *)&p->out, proc_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&p->err))
        uv_close((uv_handle_t *)&p->err, proc_handle_closed);
    if (!uv_is_closing((uv_handle_t *)&p->proc))
        uv_close((uv_handle_t *)&p->proc, proc_handle_closed);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static _Thread_local char chunk[16384];
    (void)h;
    (void)suggested;
    buf->base = chunk;
    buf->len = sizeof chunk;
}

static void on_stdout_line(agent_proc *p, char *line)
{
    agent_pl *pl = p->pl;
    if (!pl) return;
    struct agent *a = pl->a;
    agent_log(a, AGENT_LOG_DEBUG, "worker output", "placement=%s line=%s", pl->spec.u.assign.id,
              agent_q(line));
    /* Only event lines matter; anything else was logged above and is skipped unparsed. */
    if (!strstr(line, "\"event\"")) return;
    cJSON *j = NULL;
    if (vp_json_parse(line, strlen(line), "worker output", &j, NULL) != 0) return;
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(j, "event");
    if (cJSON_IsString(ev) && !strcmp(ev->valuestring, "ready")) {
        if (pl->state != PROTO_RUNNING && !pl->released && pl->pending.type == 0) {
            pl->state = PROTO_RUNNING;
            pl->error[0] = '\0';
            agent_log(a, AGENT_LOG_INFO, "worker ready", "placement=%s pid=%d",
                      pl->spec.u.assign.id, pl->pid);
            agent_pl_changed(pl);
        }
    } else if (cJSON_IsString(ev) && !strcmp(ev->valuestring, "error")) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
        if (cJSON_IsString(msg))
            snprintf(pl->error, sizeof pl->error, "worker: %s", msg->valuestring);
    }
    cJSON_Delete(j);
}

static void on_stdout(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    agent_proc *p = s->data;
    if (n < 0) {
        uv_read_stop(s);
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        char c = buf->base[i];
        if (c == '\n') {
            if (!p->line_skip) {
                p->line[p->line_len] = '\0';
                on_stdout_line(p, p->line);
            }
            p->line_len = 0;
            p->line_skip = false;
        } else if (!p->line_skip) {
            if (p->line_len + 1 >= sizeof p->line)
                p->line_skip = true;
            else
                p->line[p->line_len++] = c;
        }
    }
}

static void on_stderr(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    agent_proc *p = s->data;
    if (n < 0) {
        uv_read_stop(s);
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        char c = buf->base[i];
        if (c == '\n') {
            p->eline[p->eline_len] = '\0';
            if (p->eline_len) {
                snprintf(p->last_err, sizeof p->last_err, "%s", p->eline);
                if (p->pl)
                    agent_log(p->pl->a, AGENT_LOG_DEBUG, "worker stderr", "placement=%s line=%s",
                              p->pl->spec.u.assign.id, agent_q(p->eline));
            }
            p->eline_len = 0;
        } else if (p->eline_len + 1 < sizeof p->eline) {
            p->eline[p->eline_len++] = c;
        }
    }
}

static void on_exit_cb(uv_process_t *h, int64_t status, int term_signal)
{
    agent_proc *p = h->data;
    int pid = h->pid;
    p->exited = true;
    /* Stragglers in the worker's group would keep GPU memory; the group id stays reserved
     * while any member lives, so this reaches only them. */
    kill(-pid, SIGKILL);
    agent_pl *pl = p->pl;
    if (pl) {
        if (p->last_err[0] && !pl->released)
            snprintf(pl->error, sizeof pl->error, "%s", p->last_err);
        pl->proc = NULL;
        p->pl = NULL;
        agent_pl_worker_exited(pl, status, term_signal);
    }
    proc_close(p);
}

static int build_env(struct agent *a, const proto_assign *as, char ***out)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 4, sizeof *env);
    if (!env) return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strncmp(environ[i], "CUDA_VISIBLE_DEVICES=", 21) ||
            !strncmp(environ[i], "VRAMPACK_PLACEMENT=", 19) ||
            !strncmp(environ[i], "VRAMPACK_NODE=", 14))
            continue;
        env[k++] = environ[i];
    }
    vp_sb cvd = {0}, pl = {0}, node = {0};
    vp_sb_printf(&cvd, "CUDA_VISIBLE_DEVICES=");
    for (int i = 0; i < as->n_gpus; i++) {
        const proto_gpu *g = NULL;
        for (int j = 0; j < a->n_gpus; j++)
            if (a->gpus[j].index == as->gpus[i]) g = &a->gpus[j];
        /* Real GPUs are named by UUID: NVML's index order need not be CUDA's. */
        if (!a->sim && g && g->uuid[0])
            vp_sb_printf(&cvd, "%s%s", i ? "," : "", g->uuid);
        else
            vp_sb_printf(&cvd, "%s%u", i ? "," : "", as->gpus[i]);
    }
    vp_sb_printf(&pl, "VRAMPACK_PLACEMENT=%s", as->id);
    vp_sb_printf(&node, "VRAMPACK_NODE=%s", a->node);
    if (!vp_sb_ok(&cvd) || !vp_sb_ok(&pl) || !vp_sb_ok(&node)) {
        vp_sb_free(&cvd);
        vp_sb_free(&pl);
        vp_sb_free(&node);
        free(env);
        return -ENOMEM;
    }
    env[k++] = vp_sb_steal(&cvd);
    env[k++] = vp_sb_steal(&pl);
    env[k++] = vp_sb_steal(&node);
    env[k] = NULL;
    *out = env;
    return 0;
}

static void free_env(char **env)
{
    if (!env) return;
    size_t n = 0;
    while (env[n])
        n++;
    /* Our three entries are the last three and the only ones we allocated. */
    for (size_t i = n >= 3 ? n - 3 : 0; i < n; i++)
        free(env[i]);
    free(env);
}

static int build_argv(struct agent *a, const proto_assign *as, char ***out)
{
    size_t n = as->n_command ? as->n_command : 5;
    char **argv = calloc(n + 1, sizeof *argv);
    if (!argv) return -ENOMEM;
    if (as->n_command) {
        for (size_t i = 0; i < n; i++)
            if (!(argv[i] = agent_expand_arg(as->command[i], as))) goto oom;
    } else {
        uint64_t slice = as->bytes_per_gpu;
        if (a->sim && slice > a->sim_max_slice_bytes) slice = a->sim_max_slice_bytes;
        char bytes[32];
        snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)slice);
        const char *items[] = {a->worker_path, "--slice-bytes", bytes, "--backend",
                               a->sim ? "cpu" : "cuda"};
        for (size_t i = 0; i < n; i++)
            if (!(argv[i] = strdup(items[i]))) goto oom;
    }
    *out = argv;
    return 0;
oom:
    for (size_t i = 0; i < n; i++)
        free(argv[i]);
    free(argv);
    return -ENOMEM;
}

static void free_argv(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

int agent_worker_spawn(agent_pl *pl)
{
    struct agent *a = pl->a;
    const proto_assign *as = &pl->spec.u.assign;
    char **argv = NULL, **env = NULL;
    int rc = build_argv(a, as, &argv);
    if (!rc) rc = build_env(a, as, &env);
    agent_proc *p = rc ? NULL : calloc(1, sizeof *p);
    if (!p) {
        free_argv(argv);
        free_env(env);
        snprintf(pl->error, sizeof pl->error, "spawn: out of memory");
        return -ENOMEM;
    }
    uv_pipe_init(&a->loop, &p->out, 0);
    uv_pipe_init(&a->loop, &p->err, 0);
    p->out.data = p->err.data = p->proc.data = p;
    p->open_handles = 3;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&p->out},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&p->err},
    };
    uv_process_options_t opt = {
        .exit_cb = on_exit_cb,
        .file = argv[0],
        .args = argv,
        .env = env,
        .flags = UV_PROCESS_DETACHED,
        .stdio_count = 3,
        .stdio = stdio,
    };
    rc = uv_spawn(&a->loop, &p->proc, &opt);
    if (rc) {
        snprintf(pl->error, sizeof pl->error, "spawn %s: %s", argv[0], uv_strerror(rc));
        agent_log(a, AGENT_LOG_ERROR, "cannot start worker", "placement=%s program=%s error=%s",
                  as->id, agent_q(argv[0]), agent_q(uv_strerror(rc)));
        proc_close(p); /* a failed spawn's handle must still be closed */
        free_argv(argv);
        free_env(env);
        return rc;
    }
    p->pl = pl;
    pl->proc = p;
    pl->pid = p->proc.pid;
    pl->start_ticks = agent_proc_start_ticks(pl->pid);
    pl->spawned_ms = agent_now_ms(a);
    uv_read_start((uv_stream_t *)&p->out, alloc_cb, on_stdout);
    uv_read_start((uv_stream_t *)&p->err, alloc_cb, on_stderr);
    agent_log(a, AGENT_LOG_INFO, "worker started",
              "placement=%s pid=%d program=%s gpus=%d bytes_per_gpu=%llu", as->id, pl->pid,
              agent_q(argv[0]), as->n_gpus, (unsigned long long)as->bytes_per_gpu);
    free_argv(argv);
    free_env(env);
    agent_state_save(a);
    return 0;
}

static void on_kill_timer(uv_timer_t *t)
{
    agent_pl *pl = t->data;
    if (!pl->proc) return;
    agent_log(pl->a, AGENT_LOG_WARN, "worker ignored SIGTERM; killing it", "placement=%s pid=%d",
              pl->spec.u.assign.id, pl->pid);
    kill(-pl->pid, SIGKILL);
    uv_process_kill(&pl->proc->proc, SIGKILL);
}

void agent_worker_stop(agent_pl *pl)
{
    if (!pl->proc || uv_is_active((uv_handle_t *)&pl->kill_timer)) return;
    agent_log(pl->a, AGENT_LOG_INFO, "stopping worker", "placement=%s pid=%d", pl->spec.u.assign.id,
              pl->pid);
    if (kill(-pl->pid, SIGTERM) != 0) uv_process_kill(&pl->proc->proc, SIGTERM);
    uv_timer_start(&pl->kill_timer, on_kill_timer, pl->a->stop_grace_ms, 0);
}
