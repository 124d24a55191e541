/* manifest.c - reads a model manifest (DESIGN.md "Inputs"): the document, its defaults, and the
 * self-contained form that is sent to a controller.
 *
 * A manifest is checked whole before anything uses it: every model (manifest_model.c,
 * manifest_run.c), unique names, a total replica cap. hf_config is a path relative to the
 * manifest or the config object itself; the self-contained form (plan_manifest_inline_file)
 * replaces every path by its object, so a controller never opens a file a client named and its
 * stored desired state needs nothing else to be planned again. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest_int.h"
#include "vp_json.h"

#define MAX_SEQ (16ULL << 20)
#define MAX_BATCH 65536ULL
#define MAX_CTX (64ULL << 30)
#define MAX_HF_BYTES (4u << 20)

static const char *const top_keys[] = {"models", "defaults", "name", "description", "version",
                                       NULL};
static const char *const default_keys[] = {"overhead_fraction", "cuda_context_bytes", "dtype",
                                           "kv_dtype", "max_seq_len", "max_batch", NULL};

static int parse_defaults(const cJSON *d, const char *what, plan_mf_defaults *def, vp_err *e)
{
    char ctx[300];
    snprintf(ctx, sizeof ctx, "%s: defaults", what);
    if (!cJSON_IsObject(d)) return vp_errf(e, VP_EINPUT, "%s: must be an object", ctx);
    int rc = vp_json_only_keys(d, default_keys, ctx, e);
    if (rc) return rc;
    double f;
    rc = vp_json_double(d, "overhead_fraction", ctx, false, 0.0, 10.0, &f, e);
    if (rc < 0) return rc;
    if (rc == 0) def->opts.overhead_ppm = (uint32_t)llround(f * 1e6);
    if ((rc = vp_json_bytes(d, "cuda_context_bytes", ctx, false, 0, MAX_CTX,
                            &def->opts.cuda_context_bytes, e)) < 0)
        return rc;
    if ((rc = plan_mf_dtype(d, "dtype", ctx, &def->opts.dtype, &def->have_dtype, e))) return rc;
    if ((rc = plan_mf_dtype(d, "kv_dtype", ctx, &def->opts.kv_dtype, &def->have_kv, e)))
        return rc;
    if ((rc = vp_json_u64(d, "max_seq_len", ctx, false, 1, MAX_SEQ, &def->opts.seq_len, e)) < 0)
        return rc;
    if ((rc = vp_json_u64(d, "max_batch", ctx, false, 1, MAX_BATCH, &def->opts.batch, e)) < 0)
        return rc;
    return 0;
}

void plan_manifest_free(plan_manifest *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->n_models; i++) {
        plan_mf_run_free(&m->models[i]);
        plan_mf_work_free(&m->models[i]);
    }
    free(m->models);
    free(m);
}

static int parse_models(const cJSON *models, plan_mf_ctx *c, plan_manifest *m, vp_err *e)
{
    const char *what = c->what;
    if (!cJSON_IsArray(models))
        return vp_errf(e, VP_EINPUT, "%s.models: missing or not an array", what);
    int n = cJSON_GetArraySize(models);
    if (n == 0) return vp_errf(e, VP_EINPUT, "%s.models: empty", what);
    if (n > PLAN_MAX_MODELS)
        return vp_errf(e, VP_ETOOBIG, "%s.models: %d models (limit %d)", what, n, PLAN_MAX_MODELS);
    m->models = calloc((size_t)n, sizeof *m->models);
    if (!m->models) return vp_errf(e, -ENOMEM, "%s: out of memory", what);
    const cJSON *o;
    uint64_t total = 0;
    cJSON_ArrayForEach(o, models)
    {
        plan_model *pm = &m->models[m->n_models];
        int rc = plan_mf_model(o, m->n_models, c, pm, e);
        m->n_models++;
        if (rc) return rc;
        for (size_t j = 0; j + 1 < m->n_models; j++)
            if (!strcmp(m->models[j].name, pm->name))
                return vp_errf(e, VP_EDUP, "%s: models[%zu].name: \"%s\" is already models[%zu]",
                               what, m->n_models - 1, pm->name, j);
        total += pm->replicas;
    }
    if (total > PLAN_MAX_TOTAL_REPLICAS)
        return vp_errf(e, VP_ETOOBIG, "%s.models: %llu replicas in all (limit %u)", what,
                       (unsigned long long)total, PLAN_MAX_TOTAL_REPLICAS);
    return 0;
}

static int parse_doc(const char *buf, size_t len, plan_mf_ctx *c, plan_manifest **out, vp_err *e)
{
    cJSON *root;
    int rc = vp_json_parse(buf, len, c->what, &root, e);
    if (rc) return rc;
    plan_manifest *m = calloc(1, sizeof *m);
    if (!m) { cJSON_Delete(root); return vp_errf(e, -ENOMEM, "%s: out of memory", c->what); }
    snprintf(m->source, sizeof m->source, "%s", c->what);
    plan_fp_opts_default(&c->def.opts);
    if (!cJSON_IsObject(root)) {
        rc = vp_errf(e, VP_EINPUT, "%s: must be a JSON object", c->what);
        goto done;
    }
    if ((rc = vp_json_only_keys(root, top_keys, c->what, e))) goto done;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "defaults");
    if (d && (rc = parse_defaults(d, c->what, &c->def, e))) goto done;
    rc = parse_models(cJSON_GetObjectItemCaseSensitive(root, "models"), c, m, e);
done:
    cJSON_Delete(root);
    if (rc) plan_manifest_free(m);
    else *out = m;
    return rc;
}

int plan_manifest_parse(const char *buf, size_t len, const char *what, const char *base_dir,
                        plan_manifest **out, vp_err *e)
{
    plan_mf_ctx c = {.what = what, .base_dir = base_dir};
    return parse_doc(buf, len, &c, out, e);
}

int plan_manifest_parse_inline(const char *buf, size_t len, const char *what,
                               plan_manifest **out, vp_err *e)
{
    plan_mf_ctx c = {.what = what, .inline_only = true};
    return parse_doc(buf, len, &c, out, e);
}

/* The directory of path, for resolving the paths inside it. */
static void dir_of(const char *path, char *dir, size_t cap)
{
    snprintf(dir, cap, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir) dir[1] = '\0'; /* "/m.json" -> "/" */
    else if (slash) *slash = '\0';
    else snprintf(dir, cap, ".");
}

int plan_manifest_load(const char *path, plan_manifest **out, vp_err *e)
{
    char *buf;
    size_t len;
    int rc = vp_read_file(path, PLAN_MAX_FILE_BYTES, &buf, &len, e);
    if (rc) return rc;
    char dir[1024];
    dir_of(path, dir, sizeof dir);
    rc = plan_manifest_parse(buf, len, path, dir, out, e);
    free(buf);
    return rc;
}

/* Replaces parent.hf_config, when a path, by the file it names. */
static int inline_one(cJSON *parent, const char *dir, const char *what, const char *field,
                      size_t i, vp_err *e)
{
    cJSON *hf = cJSON_IsObject(parent) ? cJSON_GetObjectItemCaseSensitive(parent, "hf_config") : NULL;
    if (!cJSON_IsString(hf)) return 0;
    char file[2048];
    const char *rel = hf->valuestring;
    int n = rel[0] == '/' ? snprintf(file, sizeof file, "%s", rel)
                          : snprintf(file, sizeof file, "%s/%s", dir, rel);
    if (n < 0 || (size_t)n >= sizeof file)
        return vp_errf(e, VP_EINPUT, "%s: models[%zu].%s: path too long", what, i, field);
    cJSON *cfg;
    vp_err sub = {0};
    if (vp_json_load(file, MAX_HF_BYTES, &cfg, &sub))
        return vp_errf(e, VP_EINPUT, "%s: models[%zu].%s: %s", what, i, field, sub.msg);
    if (!cJSON_ReplaceItemInObjectCaseSensitive(parent, "hf_config", cfg)) {
        cJSON_Delete(cfg);
        return vp_errf(e, -ENOMEM, "%s: out of memory", what);
    }
    return 0;
}

/* Replaces the hf_config paths of root's models (and of their speculative drafts) by the files
 * they name, relative to dir; what names the manifest in errors. */
static int inline_configs(cJSON *root, const char *dir, const char *what, vp_err *e)
{
    cJSON *models = cJSON_GetObjectItemCaseSensitive(root, "models"), *m;
    size_t i = 0;
    cJSON_ArrayForEach(m, models)
    {
        int rc = inline_one(m, dir, what, "hf_config", i, e);
        if (!rc && cJSON_IsObject(m))
            rc = inline_one(cJSON_GetObjectItemCaseSensitive(m, "speculative"), dir, what,
                            "speculative.hf_config", i, e);
        if (rc) return rc;
        i++;
    }
    return 0;
}

int plan_manifest_inline_buf(const char *buf, size_t len, const char *what, const char *base_dir,
                             char **out, vp_err *e)
{
    if (!base_dir) base_dir = ".";
    plan_manifest *m = NULL;
    /* every error named against the user's files */
    int rc = plan_manifest_parse(buf, len, what, base_dir, &m, e);
    if (rc) return rc;
    plan_manifest_free(m);
    cJSON *root;
    if ((rc = vp_json_parse(buf, len, what, &root, e))) return rc;
    if ((rc = inline_configs(root, base_dir, what, e))) {
        cJSON_Delete(root);
        return rc;
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) return vp_errf(e, -ENOMEM, "%s: out of memory", what);
    /* The self-contained text must mean what the file meant. */
    if ((rc = plan_manifest_parse_inline(text, strlen(text), what, &m, e))) {
        free(text);
        return rc;
    }
    plan_manifest_free(m);
    *out = text;
    return 0;
}

int plan_manifest_inline_file(const char *path, char **out, vp_err *e)
{
    char *buf;
    size_t len;
    int rc = vp_read_file(path, PLAN_MAX_FILE_BYTES, &buf, &len, e);
    if (rc) return rc;
    char dir[1024];
    dir_of(path, dir, sizeof dir);
    rc = plan_manifest_inline_buf(buf, len, path, dir, out, e);
    free(buf);
    return rc;
}
