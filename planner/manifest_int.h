/* manifest_int.h - the manifest reader's pieces, shared by manifest.c (the document, defaults,
 * self-contained text), manifest_model.c (what a model is and how many) and manifest_run.c (how
 * it runs: engine, source, arguments). Private to the planner. */
#ifndef PLAN_MANIFEST_INT_H
#define PLAN_MANIFEST_INT_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "planner.h"

typedef struct plan_mf_defaults {
    plan_fp_opts opts;
    bool have_dtype, have_kv;
} plan_mf_defaults;

/* How hf_config may be given: a path (resolved against base_dir, NULL = cwd) or an object;
 * inline_only refuses paths without touching the file system. */
typedef struct plan_mf_ctx {
    const char *what;
    const char *base_dir;
    bool inline_only;
    plan_mf_defaults def;
} plan_mf_ctx;

/* Reads models[idx] into m (which starts zeroed). ctx in errors: "<what>: models[i] (name)". */
int plan_mf_model(const cJSON *o, size_t idx, const plan_mf_ctx *c, plan_model *m, vp_err *e);

/* engine, source, engine_args, worker, ready_timeout_s of one model. */
int plan_mf_run(const cJSON *o, const char *ctx, plan_model *m, vp_err *e);

/* engine_version and the memory flags of engine_args, then the footprint computed once, so that
 * a model its engine profile or workload cannot size is refused with its name (manifest_run.c). */
int plan_mf_profile(const cJSON *o, const char *ctx, plan_model *m, vp_err *e);

/* class, lora, train, images_per_request, speculative (manifest_work.c). */
int plan_mf_work(const cJSON *o, const char *ctx, const plan_mf_ctx *c, plan_model *m, vp_err *e);
/* Frees what plan_mf_work allocated (the draft's architecture). */
void plan_mf_work_free(plan_model *m);

/* An architecture from an hf_config value: a path (unless c->inline_only; resolved against
 * c->base_dir and written to path) or the config object ("inline"). Errors name ctx.hf_config. */
int plan_mf_arch_config(const cJSON *hf, const char *ctx, const plan_mf_ctx *c, plan_arch *a,
                        char *path, size_t cap, vp_err *e);

/* A dtype field ("dtype", "kv_dtype"): 0 read (and *set = true when set is not NULL), 0 absent
 * (output untouched), or VP_EINPUT naming the field and the known names. */
int plan_mf_dtype(const cJSON *o, const char *key, const char *ctx, plan_dtype *out, bool *set,
                  vp_err *e);

/* Frees what plan_mf_run allocated (argv arrays); the model itself is not freed. */
void plan_mf_run_free(plan_model *m);

#endif
