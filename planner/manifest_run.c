/* manifest_run.c - how a model runs: `engine`, `source`, `engine_args`, `worker.command` and
 * `ready_timeout_s` (DESIGN.md "Workers and slices"), and the engine's memory profile:
 * `engine_version` and the memory flags of engine_args (engine_mem.h).
 *
 * Without `engine`, a model with a worker.command runs that template (engine "command") and any
 * other runs the built-in worker, so manifests written before engines existed mean what they
 * meant. Every placeholder of a template must be known (engine.h): a typo such as {prot} is
 * refused here, with the field named, instead of reaching a command line verbatim. engine_args
 * are appended verbatim and never expanded. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_mem.h"
#include "manifest_int.h"
#include "vp_json.h"

#define MAX_ARGS 64
#define MAX_ARG_LEN 4096
#define MAX_READY_S (24u * 3600u)

static void free_argv(char **argv)
{
    if (argv)
        for (char **p = argv; *p; p++) free(*p);
    free(argv);
}

void plan_mf_run_free(plan_model *m)
{
    free_argv(m->worker_cmd);
    free_argv(m->engine_args);
    m->worker_cmd = m->engine_args = NULL;
}

/* An array of 1..MAX_ARGS strings into a NULL-terminated argv; check_placeholders for templates. */
static int get_argv(const cJSON *arr, const char *ctx, bool templ, char ***out, vp_err *e)
{
    int n = cJSON_GetArraySize(arr);
    if (!cJSON_IsArray(arr) || n < 1 || n > MAX_ARGS)
        return vp_errf(e, VP_EINPUT, "%s: must be an array of 1..%d strings", ctx, MAX_ARGS);
    char **argv = calloc((size_t)n + 1, sizeof *argv);
    if (!argv) return vp_errf(e, -ENOMEM, "%s: out of memory", ctx);
    int i = 0, rc = 0;
    const cJSON *a;
    cJSON_ArrayForEach(a, arr)
    {
        if (!cJSON_IsString(a) || strlen(a->valuestring) > MAX_ARG_LEN) {
            rc = vp_errf(e, VP_EINPUT, "%s[%d]: must be a string of at most %d bytes", ctx, i,
                         MAX_ARG_LEN);
            break;
        }
        vp_err sub = {0};
        if (templ && eng_template_check(a->valuestring, &sub)) {
            rc = vp_errf(e, VP_EINPUT, "%s[%d]: %s", ctx, i, sub.msg);
            break;
        }
        if (!(argv[i++] = strdup(a->valuestring))) {
            rc = vp_errf(e, -ENOMEM, "%s: out of memory", ctx);
            break;
        }
    }
    if (rc) {
        free_argv(argv);
        return rc;
    }
    *out = argv;
    return 0;
}

static int get_worker(const cJSON *worker, const char *ctx, plan_model *m, vp_err *e)
{
    char wctx[340];
    snprintf(wctx, sizeof wctx, "%s.worker", ctx);
    static const char *const wkeys[] = {"command", NULL};
    if (!cJSON_IsObject(worker)) return vp_errf(e, VP_EINPUT, "%s: must be an object", wctx);
    int rc = vp_json_only_keys(worker, wkeys, wctx, e);
    if (rc) return rc;
    snprintf(wctx, sizeof wctx, "%s.worker.command", ctx);
    return get_argv(cJSON_GetObjectItemCaseSensitive(worker, "command"), wctx, true,
                    &m->worker_cmd, e);
}

/* The engine's memory profile sizes the model: its version, and the flags of engine_args that
 * change what it allocates (engine_mem.h). The footprint is computed once here (for profiled
 * engines and for workloads) so that a model that cannot be sized is refused with its name, not
 * when the plan is built. */
int plan_mf_profile(const cJSON *o, const char *ctx, plan_model *m, vp_err *e)
{
    char ver[32];
    int rc = vp_json_str(o, "engine_version", ctx, false, ver, sizeof ver, e);
    if (rc < 0) return rc;
    bool profiled = plan_engine_has_profile(m->engine);
    if (rc == 0) {
        if (!profiled)
            return vp_errf(e, VP_EINPUT, "%s.engine_version: engine \"%s\" has no versions (%s do)",
                           ctx, eng_name(m->engine), plan_engine_profile_names());
        if (plan_engine_version_parse(ver, &m->opts.engine_version))
            return vp_errf(e, VP_EINPUT,
                           "%s.engine_version: \"%s\" is not a version (0.6.4, 0.10.1, b4500)", ctx,
                           ver);
    }
    if (m->fixed) return 0;
    vp_err sub = {0};
    if (profiled) {
        m->opts.engine = m->engine;
        if ((rc = plan_engine_args_apply(m->engine, m->engine_args, &m->opts, &sub)))
            return vp_errf(e, rc, "%s.engine_args: %s", ctx, sub.msg);
    }
    const plan_fp_opts *x = &m->opts;
    bool work = x->lora.adapters || x->train.method != PLAN_TRAIN_NONE || x->images || x->draft;
    if (!profiled && !work) return 0;
    plan_fp_opts t = m->opts;
    t.tp = t.tp ? t.tp : 1;
    t.pp = t.pp ? t.pp : 1;
    plan_footprint fp;
    if ((rc = plan_footprint_compute(&m->arch, &t, &fp, &sub)))
        return profiled ? vp_errf(e, rc, "%s.engine: %s cannot size it: %s", ctx,
                                  eng_name(m->engine), sub.msg)
                        : vp_errf(e, rc, "%s: %s", ctx, sub.msg);
    return 0;
}

int plan_mf_run(const cJSON *o, const char *ctx, plan_model *m, vp_err *e)
{
    char name[32];
    int rc = vp_json_str(o, "engine", ctx, false, name, sizeof name, e);
    if (rc < 0) return rc;
    bool have_engine = rc == 0;
    if (have_engine && eng_parse(name, &m->engine))
        return vp_errf(e, VP_EINPUT, "%s.engine: unknown engine \"%s\" (%s)", ctx, name,
                       eng_names_list());

    const cJSON *worker = cJSON_GetObjectItemCaseSensitive(o, "worker");
    if (worker && !cJSON_IsNull(worker)) {
        if ((rc = get_worker(worker, ctx, m, e))) return rc;
        if (!have_engine) m->engine = ENG_COMMAND;
        else if (m->engine != ENG_COMMAND)
            return vp_errf(e, VP_EINPUT,
                           "%s.worker: a command template is for engine \"command\", not \"%s\"",
                           ctx, eng_name(m->engine));
    } else if (m->engine == ENG_COMMAND) {
        return vp_errf(e, VP_EINPUT, "%s.worker.command: engine \"command\" needs a template",
                       ctx);
    }

    const cJSON *args = cJSON_GetObjectItemCaseSensitive(o, "engine_args");
    if (args && !cJSON_IsNull(args)) {
        if (m->engine == ENG_BUILTIN)
            return vp_errf(e, VP_EINPUT, "%s.engine_args: the builtin worker takes none; name an "
                           "engine (%s)", ctx, eng_names_list());
        char actx[340];
        snprintf(actx, sizeof actx, "%s.engine_args", ctx);
        if ((rc = get_argv(args, actx, false, &m->engine_args, e))) return rc;
    }

    rc = vp_json_str(o, "source", ctx, false, m->source, sizeof m->source, e);
    if (rc < 0) return rc;
    if (rc == 1) snprintf(m->source, sizeof m->source, "%s", m->name);

    rc = vp_json_u32(o, "ready_timeout_s", ctx, false, 1, MAX_READY_S, &m->ready_timeout_s, e);
    return rc < 0 ? rc : 0;
}
