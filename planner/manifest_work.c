/* manifest_work.c - what a model's work is, beyond serving one copy of it: `class` (realtime or
 * batch), `lora` (adapters served on the base), `train` (a fine-tuning job instead of serving),
 * `images_per_request`, `speculative` (a draft model in the same slice). Each is read into the
 * model's footprint options (footprint.h), so the planner sizes it without knowing it is there.
 *
 * Defaults: class realtime, and batch for a training job; lora.max_resident = min(adapters, 8),
 * targets all-linear; train.optimizer adamw, micro_batch 1, seq_len the model's max_seq_len,
 * activation checkpointing on, data_parallel 1; speculative.num_tokens 5, its dtype the draft
 * config's torch_dtype, and no speculative.source (what the engine loads as the draft: required
 * by an engine that loads one, see controller/launch.c and export_engine.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_mem.h"
#include "manifest_int.h"
#include "vp_json.h"

#define MAX_RANK 4096
#define MAX_ADAPTERS 100000

static int sub_object(const cJSON *o, const char *key, const char *ctx, char *sctx, size_t cap,
                      const cJSON **out, vp_err *e)
{
    *out = cJSON_GetObjectItemCaseSensitive(o, key);
    snprintf(sctx, cap, "%s.%s", ctx, key);
    if (!*out || cJSON_IsNull(*out)) {
        *out = NULL;
        return 0;
    }
    if (!cJSON_IsObject(*out)) return vp_errf(e, VP_EINPUT, "%s: must be an object", sctx);
    return 0;
}

/* A "targets" name: all-linear, attention or qv. */
static int get_targets(const cJSON *o, const char *ctx, plan_lora_targets *out, vp_err *e)
{
    char s[32];
    int rc = vp_json_str(o, "targets", ctx, false, s, sizeof s, e);
    if (rc) return rc < 0 ? rc : 0;
    if (plan_lora_targets_parse(s, out))
        return vp_errf(e, VP_EINPUT, "%s.targets: \"%s\" is not all-linear, attention or qv", ctx,
                       s);
    return 0;
}

static int get_lora(const cJSON *o, const char *ctx, plan_model *m, vp_err *e)
{
    char c[340];
    const cJSON *l;
    int rc = sub_object(o, "lora", ctx, c, sizeof c, &l, e);
    if (rc || !l) return rc;
    static const char *const keys[] = {"adapters", "max_resident", "rank", "targets", NULL};
    plan_lora *x = &m->opts.lora;
    if ((rc = vp_json_only_keys(l, keys, c, e)) ||
        (rc = vp_json_u32(l, "adapters", c, true, 1, MAX_ADAPTERS, &x->adapters, e)) ||
        (rc = vp_json_u32(l, "rank", c, true, 1, MAX_RANK, &x->rank, e)))
        return rc;
    if ((rc = vp_json_u32(l, "max_resident", c, false, 1, x->adapters, &x->max_resident, e)) < 0)
        return rc;
    /* The default resolved here, so the engine's --max-loras is the count the plan sized. */
    if (!x->max_resident) x->max_resident = x->adapters < 8 ? x->adapters : 8;
    return get_targets(l, c, &x->targets, e);
}

static int get_train(const cJSON *o, const char *ctx, plan_model *m, vp_err *e)
{
    char c[340], s[32];
    const cJSON *t;
    int rc = sub_object(o, "train", ctx, c, sizeof c, &t, e);
    if (rc || !t) return rc;
    static const char *const keys[] = {"method",
                                       "optimizer",
                                       "rank",
                                       "targets",
                                       "micro_batch",
                                       "seq_len",
                                       "activation_checkpointing",
                                       "data_parallel",
                                       NULL};
    plan_train *x = &m->opts.train;
    if ((rc = vp_json_only_keys(t, keys, c, e)) ||
        (rc = vp_json_str(t, "method", c, true, s, sizeof s, e)))
        return rc;
    if (plan_train_method_parse(s, &x->method) || x->method == PLAN_TRAIN_NONE)
        return vp_errf(e, VP_EINPUT, "%s.method: \"%s\" is not full, lora or qlora", c, s);
    if ((rc = vp_json_str(t, "optimizer", c, false, s, sizeof s, e)) < 0) return rc;
    if (rc == 0 && plan_optimizer_parse(s, &x->optimizer))
        return vp_errf(e, VP_EINPUT, "%s.optimizer: \"%s\" is not adamw, adamw-8bit or sgd", c, s);
    bool adapters = x->method != PLAN_TRAIN_FULL;
    if ((rc = vp_json_u32(t, "rank", c, adapters, 1, MAX_RANK, &x->rank, e)) < 0 ||
        (adapters && rc))
        return rc < 0 ? rc : vp_errf(e, VP_EINPUT, "%s.rank: missing", c);
    if (!adapters && rc == 0)
        return vp_errf(e, VP_EINPUT, "%s.rank: full fine-tuning trains no adapter", c);
    if ((rc = get_targets(t, c, &x->targets, e))) return rc;
    if ((rc = vp_json_u32(t, "micro_batch", c, false, 1, 65536, &x->micro_batch, e)) < 0 ||
        (rc = vp_json_u64(t, "seq_len", c, false, 1, 16ULL << 20, &x->seq_len, e)) < 0 ||
        (rc = vp_json_u32(t, "data_parallel", c, false, 1, 4096, &x->data_parallel, e)) < 0)
        return rc;
    bool ckpt = true;
    if ((rc = vp_json_bool(t, "activation_checkpointing", c, false, &ckpt, e)) < 0) return rc;
    x->no_checkpointing = !ckpt;
    if (m->fixed)
        return vp_errf(e, VP_EINPUT,
                       "%s: a memory_bytes model cannot be trained (give its "
                       "architecture)",
                       c);
    return 0;
}

static int get_draft(const cJSON *o, const char *ctx, const plan_mf_ctx *mc, plan_model *m,
                     vp_err *e)
{
    char c[340];
    const cJSON *sp;
    int rc = sub_object(o, "speculative", ctx, c, sizeof c, &sp, e);
    if (rc || !sp) return rc;
    static const char *const keys[] = {"hf_config", "source", "num_tokens", "dtype", NULL};
    if ((rc = vp_json_only_keys(sp, keys, c, e))) return rc;
    /* What the engine loads as the draft, checked as the model's own `source`. No default: the
     * hf_config is a config file, not something an engine can load, and guessing a repository
     * would start the wrong draft; an engine that loads drafts refuses the launch instead. */
    if ((rc = vp_json_str(sp, "source", c, false, m->draft_source, sizeof m->draft_source, e)) < 0)
        return rc;
    m->draft = calloc(1, sizeof *m->draft);
    if (!m->draft) return vp_errf(e, -ENOMEM, "%s: out of memory", c);
    char path[256];
    if ((rc = plan_mf_arch_config(cJSON_GetObjectItemCaseSensitive(sp, "hf_config"), c, mc,
                                  m->draft, path, sizeof path, e)))
        return rc;
    if (!m->draft->params)
        return vp_errf(e, VP_EINPUT, "%s.hf_config: the draft's parameters cannot be counted", c);
    m->opts.draft = m->draft;
    m->opts.draft_dtype = m->draft->torch_dtype;
    m->opts.spec_tokens = 5;
    if ((rc = vp_json_u32(sp, "num_tokens", c, false, 1, 64, &m->opts.spec_tokens, e)) < 0)
        return rc;
    return plan_mf_dtype(sp, "dtype", c, &m->opts.draft_dtype, NULL, e);
}

int plan_mf_work(const cJSON *o, const char *ctx, const plan_mf_ctx *mc, plan_model *m, vp_err *e)
{
    int rc;
    if ((rc = get_lora(o, ctx, m, e)) || (rc = get_train(o, ctx, m, e)) ||
        (rc = get_draft(o, ctx, mc, m, e)))
        return rc;
    if ((rc = vp_json_u32(o, "images_per_request", ctx, false, 1, 4096, &m->opts.images, e)) < 0)
        return rc;
    if (m->opts.images && !m->arch.image_tokens)
        return vp_errf(e, VP_EINPUT,
                       "%s.images_per_request: the model has no vision encoder (a llava "
                       "hf_config with vision_config)",
                       ctx);
    m->wclass = m->opts.train.method != PLAN_TRAIN_NONE ? PLAN_CLASS_BATCH : PLAN_CLASS_REALTIME;
    char s[32];
    if ((rc = vp_json_str(o, "class", ctx, false, s, sizeof s, e)) < 0) return rc;
    if (rc == 0) {
        if (!strcmp(s, "realtime"))
            m->wclass = PLAN_CLASS_REALTIME;
        else if (!strcmp(s, "batch"))
            m->wclass = PLAN_CLASS_BATCH;
        else
            return vp_errf(e, VP_EINPUT, "%s.class: \"%s\" is not realtime or batch", ctx, s);
    }
    bool training = m->opts.train.method != PLAN_TRAIN_NONE;
    /* A training job's GPUs are data-parallel copies: one GPU each, never an auto TP search. */
    if (training && !m->opts.tp) m->opts.tp = 1;
    if (training && !m->opts.pp) m->opts.pp = 1;
    if (training && (m->opts.lora.adapters || m->opts.images || m->draft))
        return vp_errf(e, VP_EINPUT, "%s.train: a training job serves no lora, images or draft",
                       ctx);
    if (training && plan_engine_has_profile(m->engine))
        return vp_errf(e, VP_EINPUT,
                       "%s.train: engine \"%s\" serves models; a training job runs "
                       "its own (worker.command)",
                       ctx, eng_name(m->engine));
    return 0;
}

void plan_model_launch_workload(const plan_model *m, eng_launch *l)
{
    l->max_loras = l->max_lora_rank = l->spec_tokens = 0;
    l->draft = NULL;
    if (!m) return;
    if (m->opts.lora.adapters) {
        const plan_lora *x = &m->opts.lora;
        l->max_loras = x->max_resident ? x->max_resident : x->adapters < 8 ? x->adapters : 8;
        l->max_lora_rank = x->rank;
    }
    if (m->draft && m->draft_source[0]) {
        l->draft = m->draft_source;
        l->spec_tokens = m->opts.spec_tokens;
    }
}

void plan_mf_work_free(plan_model *m)
{
    free(m->draft);
    m->draft = NULL;
    m->opts.draft = NULL;
}
