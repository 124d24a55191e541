/* launch.c - how a desired placement runs, as the controller tells an agent: the engine fields of
 * its assign, the KV-cache bytes per GPU the plan counted, and its revision.
 *
 * The revision is eng_revision over the same eng_launch the agent will build, so it changes
 * exactly when the process an agent would start changes (engine, source, engine_args, template,
 * max length, batch, KV dtype, slice, GPUs, resident LoRA adapters and their rank, the
 * speculative draft and its tokens) and never for anything else (a re-plan that keeps a
 * placement where it is, a controller restart). An agent keys instances by (id, revision); a new
 * revision of a running placement is started beside the old one and the old one is released once
 * the new one runs (reconcile.c). Pure: data in, data out. */
#include <stdio.h>
#include <string.h>

#include "ctl_internal.h"

void ctl_launch_of(const plan_model *m, const place_placement *q, uint64_t gpu_total, eng_launch *l)
{
    memset(l, 0, sizeof *l);
    l->kind = m ? m->engine : ENG_BUILTIN;
    l->model = q->model;
    l->id = q->id;
    l->source = m && m->source[0] ? m->source : q->model;
    l->replica = q->replica;
    l->tp = (uint32_t)q->n_gpus;
    l->pp = q->n_stages > 1 ? (uint32_t)q->n_stages : 1;
    l->stage = q->stage > 0 ? (uint32_t)q->stage : 0;
    l->max_seq_len = m ? m->opts.seq_len : 0;
    l->max_batch = m ? m->opts.batch : 0;
    l->kv_dtype = m ? plan_dtype_name(m->opts.kv_dtype) : NULL;
    l->kv_bytes = plan_kv_bytes_per_gpu(m, l->tp, l->pp);
    l->bytes = q->bytes_per_gpu;
    l->gpu_bytes = gpu_total;
    plan_model_launch_workload(m, l);
    size_t n = 0;
    while (m && m->engine_args && m->engine_args[n])
        n++;
    l->engine_args = m ? (const char *const *)m->engine_args : NULL;
    l->n_engine_args = n;
    n = 0;
    while (m && m->worker_cmd && m->worker_cmd[n])
        n++;
    l->command = m ? (const char *const *)m->worker_cmd : NULL;
    l->n_command = n;
}

void ctl_revision(const plan_model *m, const place_placement *q, uint64_t gpu_total, char *out,
                  size_t cap)
{
    eng_launch l;
    ctl_launch_of(m, q, gpu_total, &l);
    eng_revision(&l, q->gpus, q->n_gpus, out, cap);
}

int ctl_assign_fill(const plan_model *m, const place_placement *q, uint64_t gpu_total,
                    proto_assign *a)
{
    eng_launch l;
    ctl_launch_of(m, q, gpu_total, &l);
    eng_revision(&l, q->gpus, q->n_gpus, a->rev, sizeof a->rev);
    if (!m) return 0; /* manifest unavailable: the built-in worker, as before engines */
    snprintf(a->engine, sizeof a->engine, "%s", eng_name(l.kind));
    snprintf(a->source, sizeof a->source, "%s", l.source);
    snprintf(a->kv_dtype, sizeof a->kv_dtype, "%s", l.kv_dtype ? l.kv_dtype : "");
    a->max_seq_len = l.max_seq_len;
    a->max_batch = l.max_batch;
    a->kv_bytes = l.kv_bytes;
    a->pp = l.pp > 1 ? l.pp : 0;
    a->stage = l.pp > 1 ? l.stage : 0;
    a->ready_timeout_s = m->ready_timeout_s;
    a->max_loras = l.max_loras;
    a->max_lora_rank = l.max_loras ? l.max_lora_rank : 0;
    snprintf(a->draft, sizeof a->draft, "%s", l.draft ? l.draft : "");
    a->spec_tokens = l.draft ? l.spec_tokens : 0;
    int rc = proto_assign_set_command(a, l.command, l.n_command);
    if (!rc) rc = proto_assign_set_engine_args(a, l.engine_args, l.n_engine_args);
    return rc;
}

int ctl_manifest_check_engines(const plan_manifest *mf, vp_err *e)
{
    for (size_t i = 0; i < mf->n_models; i++) {
        const plan_model *m = &mf->models[i];
        place_placement q;
        memset(&q, 0, sizeof q);
        snprintf(q.model, sizeof q.model, "%s", m->name);
        q.n_gpus = 1;
        q.n_stages = m->opts.pp > 1 ? (int)m->opts.pp : 1;
        q.stage = q.n_stages > 1 ? 0 : -1;
        eng_launch l;
        ctl_launch_of(m, &q, 0, &l);
        vp_err sub = {0};
        if (eng_check(&l, &sub))
            return vp_errf(e, VP_EINPUT, "models[%zu] (%s): %s", i, m->name, sub.msg);
        /* The draft's hf_config sizes it; the engine needs something it can load. */
        if (m->draft && !m->draft_source[0] && eng_loads_draft(&l))
            return vp_errf(e, VP_EINPUT,
                           "models[%zu] (%s): speculative.source: %s loads the draft model; give "
                           "its repository id or path",
                           i, m->name, eng_name(l.kind));
    }
    return 0;
}
