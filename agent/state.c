/* state.c - the agent's restart memory: which worker processes it started.
 *
 * STATE_DIR/workers.json lists {pid, start_ticks, id, rev, port, failures, assign} of every
 * live worker; it is rewritten (temp file + rename, so a reader sees the old or the new list,
 * never half of one) whenever a worker starts, is adopted or exits. No fsync: the file only has
 * to survive the agent dying, not the machine, and after a machine crash no worker survives
 * either.
 *
 * On start, a listed process is ours only if it still exists, is not a zombie, has the recorded
 * start time (so a recycled pid is never touched) and, where its environment is readable,
 * carries VRAMPACK_PLACEMENT=<id> (and VRAMPACK_REVISION=<rev>). Ours are adopted when their
 * engine outlives the agent's pipes and answers on a port (vLLM, SGLang, llama.cpp, a template
 * with {port}): the agent keeps the process, its port and its failure count, and probes it like
 * one it started, so a model that took minutes to load is not loaded again. The rest (built-in
 * workers, which end with the agent's stdout anyway, and entries without an assign) are stopped
 * — SIGTERM to the process group, SIGKILL after the grace period — and the controller's assigns
 * start them afresh. STATE_DIR/lock (flock) keeps a second agent for the same node from running
 * beside the first and doubling every worker. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent_int.h"
#include "vp_json.h"

#define STATE_FILE "workers.json"
#define STATE_MAX_BYTES (4u << 20)

static int mkdir_p(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return -ENAMETOOLONG;
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST) return -errno;
            *p = c;
            if (c == '\0') break;
        }
    }
    return 0;
}

/* Field 22 of /proc/<pid>/stat (start time in clock ticks since boot) and the state letter. */
static int read_stat(int pid, uint64_t *ticks, char *state)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -errno;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* comm (field 2) may hold spaces and parentheses: fields restart after the LAST ')'. */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ') return -EINVAL;
    p += 2;
    *state = *p;
    /* p is at field 3; skip to field 22. */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p) return -EINVAL;
        p++;
    }
    *ticks = strtoull(p, NULL, 10);
    return 0;
}

bool agent_proc_alive(int pid, uint64_t ticks)
{
    uint64_t t;
    char st;
    if (read_stat(pid, &t, &st) != 0 || st == 'Z' || st == 'X') return false;
    return ticks == 0 || t == ticks;
}

uint64_t agent_proc_start_ticks(int pid)
{
    uint64_t t = 0;
    char st;
    return read_stat(pid, &t, &st) == 0 ? t : 0;
}

/* 1 when the environment has the entry `want` ("KEY=value"), 0 when it has not, -errno when
 * unreadable. */
static int environ_has(int pid, const char *want)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/environ", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -errno;
    size_t wl = strlen(want) + 1; /* including the NUL that ends each entry */
    char *buf = malloc(1 << 20);
    if (!buf) {
        fclose(f);
        return -ENOMEM;
    }
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    int err = ferror(f) ? -EACCES : 0;
    fclose(f);
    if (err || n == 0) {
        free(buf);
        return err ? err : -EACCES;
    }
    buf[n] = '\0';
    int found = 0;
    for (size_t off = 0; off < n;) {
        size_t l = strlen(buf + off) + 1;
        if (l == wl && !memcmp(buf + off, want, wl)) found = 1;
        off += l;
    }
    free(buf);
    return found;
}

static bool alive(int pid, uint64_t ticks)
{
    return agent_proc_alive(pid, ticks);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void kill_group(int pid, int sig)
{
    /* Workers run in their own process group (they were spawned detached), which also holds
     * any children an external server forked. */
    if (kill(-pid, sig) != 0) kill(pid, sig);
}

/* 1 when pid's environment names placement id (and revision rev, when given), 0 when it names
 * another, -errno when unreadable. */
static int environ_names(int pid, const char *id, const char *rev)
{
    char want[PROTO_ID_MAX + 32];
    snprintf(want, sizeof want, "VRAMPACK_PLACEMENT=%s", id);
    int r = environ_has(pid, want);
    if (r != 1 || !rev || !rev[0]) return r;
    snprintf(want, sizeof want, "VRAMPACK_REVISION=%s", rev);
    return environ_has(pid, want);
}

/* The recorded assign of a state entry, when it is one this agent can adopt: a live engine that
 * outlives its agent and is probed on the recorded port. */
static bool adoptable(const cJSON *w, proto_msg *spec, uint64_t port)
{
    const cJSON *as = cJSON_GetObjectItemCaseSensitive(w, "assign");
    if (!cJSON_IsObject(as) || port == 0) return false;
    char *text = cJSON_PrintUnformatted(as);
    vp_err e = {0};
    bool ok = text && proto_msg_decode((const uint8_t *)text, strlen(text), spec, &e) == 0 &&
              spec->type == PROTO_ASSIGN;
    free(text);
    if (!ok) {
        proto_msg_free(spec);
        return false;
    }
    const proto_assign *a = &spec->u.assign;
    eng_kind k = a->n_command ? ENG_COMMAND : ENG_BUILTIN;
    if (a->engine[0] && eng_parse(a->engine, &k) != 0) ok = false;
    const eng_profile *p = eng_profile_of(k);
    if (ok && (!p->adoptable || !p->health_path)) ok = false;
    if (ok && k == ENG_COMMAND) {
        bool has_port = false;
        for (size_t i = 0; i < a->n_command; i++)
            has_port = has_port || strstr(a->command[i], "{port}");
        ok = has_port;
    }
    if (!ok) proto_msg_free(spec);
    return ok;
}

static void adopt(struct agent *a, const proto_assign *as, int pid, uint64_t ticks, uint64_t port,
                  uint64_t failures)
{
    agent_pl *pl = agent_pl_new(a, as);
    if (!pl) {
        vp_logf(&a->log, VP_LOG_ERROR, "cannot adopt worker: out of memory", "pid=%d", pid);
        return;
    }
    pl->pid = pid;
    pl->start_ticks = ticks;
    pl->port = (uint32_t)port;
    pl->failures = (uint32_t)failures;
    pl->adopted = true;
    pl->state = PROTO_STARTING;
    vp_logf(&a->log, VP_LOG_INFO, "adopted worker left by a previous agent",
            "placement=%s rev=%s pid=%d port=%u", as->id, as->rev[0] ? as->rev : "-", pid,
            pl->port);
    agent_probe_start(pl);
}

/* Adopts or stops the previous agent's workers listed in the state file. Blocking (for at most
 * the grace period), before the loop runs. */
static void take_over_previous(struct agent *a, const char *path)
{
    cJSON *root = NULL;
    vp_err e = {0};
    if (access(path, F_OK) != 0) return;
    if (vp_json_load(path, STATE_MAX_BYTES, &root, &e) != 0) {
        vp_logf(&a->log, VP_LOG_WARN, "state file unreadable; ignoring it", "path=%s error=%s",
                vp_log_q(path), vp_log_q(e.msg));
        return;
    }
    const cJSON *ws = cJSON_GetObjectItemCaseSensitive(root, "workers");
    int victims[PROTO_MAX_PLACEMENTS];
    uint64_t vticks[PROTO_MAX_PLACEMENTS];
    int nv = 0;
    const cJSON *w;
    cJSON_ArrayForEach(w, ws)
    {
        uint64_t pid = 0, ticks = 0, port = 0, failures = 0;
        char id[PROTO_ID_MAX] = "", rev[PROTO_REV_MAX] = "";
        if (vp_json_u64(w, "pid", path, true, 2, PROTO_MAX_PID, &pid, &e) != 0 ||
            vp_json_u64(w, "start_ticks", path, false, 0, VP_JSON_MAX_EXACT, &ticks, &e) < 0 ||
            vp_json_str(w, "id", path, true, id, sizeof id, &e) != 0 ||
            vp_json_str(w, "rev", path, false, rev, sizeof rev, &e) < 0 ||
            vp_json_u64(w, "port", path, false, 0, 65535, &port, &e) < 0 ||
            vp_json_u64(w, "failures", path, false, 0, UINT32_MAX, &failures, &e) < 0)
            continue;
        if (!alive((int)pid, ticks)) {
            vp_logf(&a->log, VP_LOG_DEBUG, "previous worker already gone", "pid=%d placement=%s",
                    (int)pid, vp_log_q(id));
            continue;
        }
        int env = environ_names((int)pid, id, rev);
        if (env == 0 || (env < 0 && ticks == 0)) {
            vp_logf(&a->log, VP_LOG_WARN, "pid from state file is not our worker; leaving it",
                    "pid=%d placement=%s", (int)pid, vp_log_q(id));
            continue;
        }
        proto_msg spec;
        memset(&spec, 0, sizeof spec);
        if (ticks && adoptable(w, &spec, port) && !strcmp(spec.u.assign.id, id)) {
            adopt(a, &spec.u.assign, (int)pid, ticks, port, failures);
            proto_msg_free(&spec);
            continue;
        }
        proto_msg_free(&spec);
        if (nv >= PROTO_MAX_PLACEMENTS) break;
        vp_logf(&a->log, VP_LOG_INFO, "stopping worker left by a previous agent",
                "pid=%d placement=%s", (int)pid, vp_log_q(id));
        kill_group((int)pid, SIGTERM);
        victims[nv] = (int)pid;
        vticks[nv++] = ticks;
    }
    cJSON_Delete(root);
    /* Wait up to the grace period, then SIGKILL what is left. */
    for (unsigned waited = 0; nv > 0; waited += 20) {
        int left = 0;
        for (int i = 0; i < nv; i++)
            if (alive(victims[i], vticks[i])) {
                victims[left] = victims[i];
                vticks[left++] = vticks[i];
            }
        nv = left;
        if (nv == 0) break;
        if (waited >= a->stop_grace_ms) {
            for (int i = 0; i < nv; i++) {
                vp_logf(&a->log, VP_LOG_WARN, "previous worker ignored SIGTERM; killing it",
                        "pid=%d", victims[i]);
                kill_group(victims[i], SIGKILL);
            }
            break;
        }
        sleep_ms(20);
    }
}

int agent_state_init(struct agent *a, vp_err *e)
{
    int rc = mkdir_p(a->state_dir);
    if (rc) return vp_errf(e, rc, "--state-dir %s: cannot create: %s", a->state_dir, strerror(-rc));
    char path[4200];
    snprintf(path, sizeof path, "%s/lock", a->state_dir);
    a->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (a->lock_fd < 0) return vp_errf(e, -errno, "%s: cannot open: %s", path, strerror(errno));
    if (flock(a->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        close(a->lock_fd);
        a->lock_fd = -1;
        if (err == EWOULDBLOCK)
            return vp_errf(e, VP_ESTATE,
                           "another agent for node %s is running (it holds %s); stop it first",
                           a->node, path);
        return vp_errf(e, -err, "%s: cannot lock: %s", path, strerror(err));
    }
    snprintf(path, sizeof path, "%s/%s", a->state_dir, STATE_FILE);
    take_over_previous(a, path);
    if (a->pls)
        agent_state_save(a); /* the adopted ones, as this agent records them */
    else
        agent_state_remove(a);
    return 0;
}

void agent_state_save(struct agent *a)
{
    vp_sb sb = {0};
    vp_sb_printf(&sb, "{\"node\":\"%s\",\"workers\":[", a->node);
    bool first = true;
    for (agent_pl *pl = a->pls; pl; pl = pl->next) {
        if (!agent_pl_live(pl)) continue;
        /* ids and revisions never hold quotes or control characters (proto refuses them). */
        vp_sb_printf(&sb,
                     "%s\n{\"pid\":%d,\"start_ticks\":%llu,\"id\":\"%s\",\"rev\":\"%s\","
                     "\"port\":%u,\"failures\":%u,\"assign\":",
                     first ? "" : ",", pl->pid, (unsigned long long)pl->start_ticks,
                     pl->spec.u.assign.id, pl->spec.u.assign.rev, pl->port, pl->failures);
        if (proto_msg_to_json(&pl->spec, &sb, NULL) != 0) vp_sb_printf(&sb, "null");
        vp_sb_printf(&sb, "}");
        first = false;
    }
    vp_sb_printf(&sb, "]}\n");
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/%s", a->state_dir, STATE_FILE);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = -1;
    if (!vp_sb_ok(&sb)) goto fail;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) goto fail;
    for (size_t off = 0; off < sb.len;) {
        ssize_t w = write(fd, sb.buf + off, sb.len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) goto fail;
        off += (size_t)w;
    }
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) goto fail;
    vp_sb_free(&sb);
    return;
fail:
    vp_logf(&a->log, VP_LOG_ERROR, "cannot write state file", "path=%s error=%s", vp_log_q(path),
            vp_log_q(strerror(errno)));
    if (fd >= 0) close(fd);
    unlink(tmp);
    vp_sb_free(&sb);
}

void agent_state_remove(struct agent *a)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", a->state_dir, STATE_FILE);
    unlink(path);
}
