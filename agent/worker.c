/* worker.c - one worker process per placement: its command line, spawn, output, stop.
 *
 * The command line comes from the engine's launch profile (eng_argv) filled with the assign and
 * what only this agent knows: the engine's binary, the port it handed out, whether the installed
 * version takes a KV-bytes flag, and (simulated GPUs) the capped slice of the built-in worker. A
 * worker is spawned detached (its own process group, so a stop also reaches whatever an engine
 * forks) with stdout and stderr on pipes. A stdout line holding "event":"ready" moves a built-in
 * or template worker to running; engines with a health endpoint are probed instead (probe.c).
 * The last stderr line is kept as the reason if the worker dies. When the worker exits, its
 * process group gets SIGKILL (stragglers would hold GPU memory the restart needs), its handles
 * close, and the placement decides: restart after backoff, start a pending changed assign, or go
 * away after a release. Each spawn gets a fresh agent_proc, which frees itself when its handles
 * are closed, so late pipe callbacks never touch a reused handle. */
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
    vp_logf(&a->log, VP_LOG_DEBUG, "worker output", "placement=%s line=%s", pl->spec.u.assign.id,
            vp_log_q(line));
    /* Only event lines matter; anything else was logged above and is skipped unparsed. */
    if (!strstr(line, "\"event\"")) return;
    cJSON *j = NULL;
    if (vp_json_parse(line, strlen(line), "worker output", &j, NULL) != 0) return;
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(j, "event");
    if (cJSON_IsString(ev) && !strcmp(ev->valuestring, "ready")) {
        if (!pl->health_path) agent_pl_ready(pl, "ready line");
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
                    vp_logf(&p->pl->a->log, VP_LOG_DEBUG, "worker stderr", "placement=%s line=%s",
                            p->pl->spec.u.assign.id, vp_log_q(p->eline));
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
    char **env = calloc(n + 5, sizeof *env);
    if (!env) return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strncmp(environ[i], "CUDA_VISIBLE_DEVICES=", 21) ||
            !strncmp(environ[i], "VRAMPACK_PLACEMENT=", 19) ||
            !strncmp(environ[i], "VRAMPACK_NODE=", 14) ||
            !strncmp(environ[i], "VRAMPACK_REVISION=", 18))
            continue;
        env[k++] = environ[i];
    }
    vp_sb cvd = {0}, pl = {0}, node = {0}, rev = {0};
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
    vp_sb_printf(&rev, "VRAMPACK_REVISION=%s", as->rev);
    if (!vp_sb_ok(&cvd) || !vp_sb_ok(&pl) || !vp_sb_ok(&node) || !vp_sb_ok(&rev)) {
        vp_sb_free(&cvd);
        vp_sb_free(&pl);
        vp_sb_free(&node);
        vp_sb_free(&rev);
        free(env);
        return -ENOMEM;
    }
    env[k++] = vp_sb_steal(&cvd);
    env[k++] = vp_sb_steal(&pl);
    env[k++] = vp_sb_steal(&node);
    env[k++] = vp_sb_steal(&rev);
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
    /* Our four entries are the last four and the only ones we allocated. */
    for (size_t i = n >= 4 ? n - 4 : 0; i < n; i++)
        free(env[i]);
    free(env);
}

void agent_launch_of(agent_pl *pl, eng_launch *l, const char **args_buf, const char **cmd_buf)
{
    struct agent *a = pl->a;
    const proto_assign *as = &pl->spec.u.assign;
    memset(l, 0, sizeof *l);
    l->kind = pl->kind;
    l->binary = agent_engine_binary(a, pl->kind);
    l->model = as->model;
    l->id = as->id;
    l->source = as->source;
    l->replica = as->replica;
    l->tp = (uint32_t)as->n_gpus;
    l->pp = as->pp ? as->pp : 1;
    l->stage = as->stage;
    l->max_seq_len = as->max_seq_len;
    l->max_batch = as->max_batch;
    l->kv_dtype = as->kv_dtype;
    l->kv_bytes = as->kv_bytes;
    l->bytes = as->bytes_per_gpu;
    l->max_loras = as->max_loras;
    l->max_lora_rank = as->max_lora_rank;
    l->draft = as->draft;
    l->spec_tokens = as->spec_tokens;
    for (int i = 0; i < as->n_gpus; i++)
        for (int j = 0; j < a->n_gpus; j++)
            if (a->gpus[j].index == as->gpus[i] &&
                (!l->gpu_bytes || a->gpus[j].total_bytes < l->gpu_bytes))
                l->gpu_bytes = a->gpus[j].total_bytes;
    l->port = pl->port;
    l->slice_bytes = as->bytes_per_gpu;
    if (a->sim && l->slice_bytes > a->sim_max_slice_bytes) l->slice_bytes = a->sim_max_slice_bytes;
    l->backend = a->sim ? "cpu" : "cuda";
    for (size_t i = 0; i < as->n_engine_args; i++)
        args_buf[i] = as->engine_args[i];
    l->engine_args = args_buf;
    l->n_engine_args = as->n_engine_args;
    for (size_t i = 0; i < as->n_command; i++)
        cmd_buf[i] = as->command[i];
    l->command = cmd_buf;
    l->n_command = as->n_command;
}

static int build_argv(agent_pl *pl, char ***out)
{
    const char *args[PROTO_MAX_ARGV], *cmd[PROTO_MAX_ARGV];
    eng_launch l;
    agent_launch_of(pl, &l, args, cmd);
    bool kv_flag = false;
    const char *version = NULL;
    if (agent_engine_version(pl->a, pl->kind, &kv_flag, &version) == 1) {
        l.kv_bytes_flag = kv_flag;
        l.version = version; /* NULL or "" (not found): the engine's current flag spellings */
    }
    vp_err e = {0};
    int rc = eng_argv(&l, out, &e);
    if (rc) snprintf(pl->error, sizeof pl->error, "%s", e.msg);
    return rc;
}

int agent_worker_spawn(agent_pl *pl)
{
    struct agent *a = pl->a;
    const proto_assign *as = &pl->spec.u.assign;
    char **argv = NULL, **env = NULL;
    int rc = build_argv(pl, &argv);
    if (rc) return rc; /* pl->error says why */
    rc = build_env(a, as, &env);
    agent_proc *p = rc ? NULL : calloc(1, sizeof *p);
    if (!p) {
        eng_argv_free(argv);
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
        vp_logf(&a->log, VP_LOG_ERROR, "cannot start worker", "placement=%s program=%s error=%s",
                as->id, vp_log_q(argv[0]), vp_log_q(uv_strerror(rc)));
        proc_close(p); /* a failed spawn's handle must still be closed */
        eng_argv_free(argv);
        free_env(env);
        return rc;
    }
    p->pl = pl;
    pl->proc = p;
    pl->pid = p->proc.pid;
    pl->start_ticks = agent_proc_start_ticks(pl->pid);
    pl->spawned_ms = agent_now_ms(a);
    pl->adopted = false;
    uv_read_start((uv_stream_t *)&p->out, alloc_cb, on_stdout);
    uv_read_start((uv_stream_t *)&p->err, alloc_cb, on_stderr);
    if (a->log.level <= VP_LOG_INFO) {
        vp_sb cmd = {0};
        for (size_t i = 0; argv[i]; i++)
            vp_sb_printf(&cmd, "%s%s", i ? " " : "", argv[i]);
        vp_logf(&a->log, VP_LOG_INFO, "worker started",
                "placement=%s rev=%s pid=%d engine=%s port=%u gpus=%d bytes_per_gpu=%llu "
                "command=%s",
                as->id, as->rev[0] ? as->rev : "-", pl->pid, eng_name(pl->kind), pl->port,
                as->n_gpus, (unsigned long long)as->bytes_per_gpu,
                vp_log_q(vp_sb_ok(&cmd) ? vp_sb_str(&cmd) : argv[0]));
        vp_sb_free(&cmd);
    }
    eng_argv_free(argv);
    free_env(env);
    agent_state_save(a);
    return 0;
}

static void on_kill_timer(uv_timer_t *t)
{
    agent_pl *pl = t->data;
    if (!agent_pl_live(pl)) return;
    vp_logf(&pl->a->log, VP_LOG_WARN, "worker ignored its stop signal; killing it",
            "placement=%s pid=%d", pl->spec.u.assign.id, pl->pid);
    kill(-pl->pid, SIGKILL);
    if (pl->proc)
        uv_process_kill(&pl->proc->proc, SIGKILL);
    else
        kill(pl->pid, SIGKILL);
}

void agent_worker_stop(agent_pl *pl, const char *why)
{
    if (!agent_pl_live(pl) || uv_is_active((uv_handle_t *)&pl->kill_timer)) return;
    const eng_profile *prof = eng_profile_of(pl->kind);
    int sig = prof ? prof->stop_signal : SIGTERM;
    uint32_t grace = pl->a->grace_set || !prof ? pl->a->stop_grace_ms : prof->stop_grace_s * 1000;
    /* Fenced: the controller re-places this work a margin of 2 heartbeats (at least 1 s) after
     * the lease; the worker must be gone well within it, so it gets half of that. */
    uint32_t hb = pl->a->heartbeat_ms ? pl->a->heartbeat_ms : 1000;
    uint32_t fence_grace = hb < 500 ? 500 : hb;
    if (pl->fenced && grace > fence_grace) grace = fence_grace;
    snprintf(pl->stop_why, sizeof pl->stop_why, "%s", why ? why : "");
    vp_logf(&pl->a->log, VP_LOG_INFO, "stopping worker", "placement=%s pid=%d signal=%s%s%s",
            pl->spec.u.assign.id, pl->pid, sig == SIGINT ? "SIGINT" : "SIGTERM",
            why && *why ? " reason=" : "", why && *why ? vp_log_q(why) : "");
    agent_probe_stop(pl);
    if (kill(-pl->pid, sig) != 0) {
        if (pl->proc)
            uv_process_kill(&pl->proc->proc, sig);
        else
            kill(pl->pid, sig);
    }
    uv_timer_start(&pl->kill_timer, on_kill_timer, grace, 0);
}
