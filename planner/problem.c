/* problem.c - resolves a manifest against a fleet into the packing problem every solver reads.
 *
 * Bin types are the fleet's inventory nodes (first, so first-fit uses them before buying) and
 * then its purchasable instance types. For each model and bin type we decide how one replica sits
 * there: the tensor-parallel degree ("auto" = the smallest power of two up to the node's GPU count
 * that divides the attention heads and fits), the pipeline depth (the same on every bin type;
 * "auto" = 1 unless no allowed node can hold the model, then the fewest stages that fit), and the
 * bytes per GPU of each stage. A model that fits nowhere keeps a reason for the report; that is a
 * result, not an error.
 *
 * What the work tolerates and needs narrows the bin types further: a realtime model never sits on
 * spot capacity (it may be reclaimed); a model with slo.tpot_ms or slo.ttft_ms needs GPUs fast
 * enough for it alone. A training job is a gang: its data_parallel GPUs, each with a full copy,
 * on one node together or not at all, which the shape expresses as one placement spanning them
 * (tp = data_parallel). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "planner.h"

static bool gpu_allowed(const plan_model *m, const plan_fleet *f, int gpu)
{
    if (m->n_gpu_types == 0) return true;
    for (size_t i = 0; i < m->n_gpu_types; i++)
        if (plan_fleet_gpu(f, m->gpu_types[i]) == &f->gpus[gpu]) return true;
    return false;
}

/* A training job on bin type b: every GPU of the gang holds one full copy (tp = pp = 1 in the
 * footprint), and the gang of data_parallel GPUs is one placement on one node. */
static int gang_on(const plan_model *m, const plan_bintype *b, uint64_t gpu_bytes, plan_shape *s,
                   vp_err *e)
{
    uint32_t dp = m->opts.train.data_parallel ? m->opts.train.data_parallel : 1;
    plan_fp_opts o = m->opts;
    o.tp = o.pp = 1;
    o.gpu_bytes = gpu_bytes;
    vp_err sub = {0};
    int rc = plan_footprint_compute(&m->arch, &o, &s->fp, &sub);
    if (rc == VP_EOVERFLOW) return 0; /* absurd sizes simply do not fit */
    if (rc) return vp_errf(e, rc, "%s", sub.msg);
    s->tp = dp;
    s->pp = 1;
    s->stage_bytes[0] = s->fp.per_gpu_bytes;
    s->ok =
        dp <= PLACE_MAX_GPUS && (int)dp <= b->n_gpus && s->fp.per_gpu_bytes <= b->usable_per_gpu;
    return 0;
}

/* Shape of model m on bin type b with pp stages; *ok false when it does not fit. Returns an
 * error only when the architecture cannot be computed at all. */
static int shape_on(const plan_model *m, const plan_bintype *b, const plan_gpu_model *g,
                    uint64_t gpu_bytes, uint32_t pp, plan_shape *s, vp_err *e)
{
    memset(s, 0, sizeof *s);
    if (m->fixed) {
        plan_footprint_fixed(m->memory_bytes, &s->fp);
        s->tp = s->pp = 1;
        s->stage_bytes[0] = m->memory_bytes;
        s->ok = pp == 1 && m->memory_bytes <= b->usable_per_gpu;
        return 0;
    }
    if (m->opts.train.method != PLAN_TRAIN_NONE) return gang_on(m, b, gpu_bytes, s, e);
    /* With slo.ttft_ms, an automatic TP degree keeps growing past the first that fits until the
     * prefill is fast enough: more GPUs of a cheap kind may beat one fast GPU. */
    plan_shape first = {0};
    static const uint32_t auto_tps[] = {1, 2, 4, 8, 16};
    for (size_t i = 0; i < VP_ARRAY_LEN(auto_tps); i++) {
        uint32_t tp = m->opts.tp ? m->opts.tp : auto_tps[i];
        if ((int)tp > b->n_gpus) break;
        if (!m->opts.tp && m->arch.heads && m->arch.heads % tp) continue;
        plan_fp_opts o = m->opts;
        o.tp = tp;
        o.pp = pp;
        o.gpu_bytes = gpu_bytes; /* engine defaults that depend on the GPU's size */
        plan_footprint fp;
        vp_err sub = {0};
        int rc = plan_footprint_compute(&m->arch, &o, &fp, &sub);
        if (rc == VP_EOVERFLOW) break; /* absurd sizes simply do not fit */
        if (rc) return vp_errf(e, rc, "%s", sub.msg);
        s->fp = fp;
        s->tp = tp;
        s->pp = pp;
        for (uint32_t k = 0; k < pp && k < PLAN_MAX_PP; k++)
            s->stage_bytes[k] = fp.stage_gpu_bytes[k];
        if (fp.per_gpu_bytes <= b->usable_per_gpu) {
            s->ok = true;
            if (m->opts.tp || m->ttft_ms <= 0 || plan_model_ttft_ms(m, g, tp) <= m->ttft_ms)
                return 0;
            if (!first.ok) first = *s; /* fits, too slow to prefill: try more GPUs */
            s->ok = false;
            continue;
        }
        if (m->opts.tp) break;
    }
    if (first.ok) *s = first; /* admit() turns it down for slo.ttft_ms */
    else s->ok = false;
    return 0;
}

/* Why a shape that fits is still no home, counted per cause for the reason a model fits nowhere. */
typedef struct rejects {
    size_t tier, tpot, ttft;
} rejects;

/* Narrows a shape that fits bin type bt by what the work tolerates and needs. */
static void admit(const plan_problem *p, const plan_model *m, const plan_bintype *bt,
                  plan_shape *s, rejects *r)
{
    const plan_gpu_model *g = &p->fleet->gpus[bt->gpu];
    if (!s->ok) return;
    if (m->wclass == PLAN_CLASS_REALTIME && bt->tier == PLAN_TIER_SPOT) {
        s->ok = false; /* realtime serving must not be reclaimed */
        r->tier++;
        return;
    }
    /* A GPU too slow for the latency objective even with the model alone is no home. */
    if (m->tpot_ms > 0 &&
        plan_tpot_ms(s->fp.decode_bytes_per_token / ((uint64_t)s->tp * s->pp), g->bandwidth_gbs) *
                s->pp >
            m->tpot_ms) {
        s->ok = false;
        r->tpot++;
        return;
    }
    double ttft = m->ttft_ms > 0 ? plan_model_ttft_ms(m, g, s->tp) : 0;
    if (ttft > m->ttft_ms) {
        s->ok = false;
        r->ttft++;
    }
}

double plan_model_ttft_ms(const plan_model *m, const plan_gpu_model *g, uint32_t tp)
{
    if (m->fixed || !m->prompt_tokens || !g) return 0;
    bool fp8 = m->opts.dtype == PLAN_DT_FP8 || m->opts.quant == PLAN_QUANT_FP8;
    uint32_t tflops = fp8 && g->tflops_fp8 ? g->tflops_fp8 : g->tflops_bf16;
    return plan_ttft_ms(plan_prefill_flops(&m->arch, m->prompt_tokens), tflops, tp,
                        PLAN_PREFILL_MFU_PPM);
}

static int why_not(const plan_problem *p, const plan_model *m, plan_group *g, bool any_allowed,
                   const rejects *rj);

static int resolve_group(const plan_problem *p, const plan_model *m, plan_group *g, vp_err *e)
{
    const plan_fleet *f = p->fleet;
    bool any_allowed = false;
    rejects rj = {0, 0, 0};
    uint32_t pp_max = m->fixed ? 1 : PLAN_MAX_PP;
    if (!m->fixed && m->arch.layers && m->arch.layers < pp_max) pp_max = m->arch.layers;
    uint32_t pp_lo = m->opts.pp ? m->opts.pp : 1, pp_hi = m->opts.pp ? m->opts.pp : pp_max;
    for (uint32_t pp = pp_lo; pp <= pp_hi; pp++) {
        bool any_ok = false;
        for (size_t b = 0; b < p->n_bintypes; b++) {
            plan_shape *s = &g->shapes[b];
            const plan_bintype *bt = &p->bintypes[b];
            const plan_gpu_model *gm = &f->gpus[bt->gpu];
            int rc = shape_on(m, bt, gm, plan_gpu_cuda_bytes(gm), pp, s, e);
            if (rc) return rc;
            if (!gpu_allowed(m, f, bt->gpu)) s->ok = false;
            else any_allowed = true;
            if (bt->max_count == 0) s->ok = false; /* may not be bought at all */
            admit(p, m, bt, s, &rj);
            if (s->ok) any_ok = true;
        }
        g->pp = pp;
        if (any_ok) return 0;
    }
    return why_not(p, m, g, any_allowed, &rj);
}

/* Fits nowhere: say why, in the terms a reviewer uses. */
static int why_not(const plan_problem *p, const plan_model *m, plan_group *g, bool any_allowed,
                   const rejects *rj)
{
    const plan_fleet *f = p->fleet;
    char allow[160] = "any GPU";
    if (m->n_gpu_types) {
        size_t off = 0;
        for (size_t i = 0; i < m->n_gpu_types && off < sizeof allow; i++)
            off += (size_t)snprintf(allow + off, sizeof allow - off, "%s%s", i ? ", " : "",
                                    m->gpu_types[i]);
    }
    if (!any_allowed) {
        snprintf(g->why_not, sizeof g->why_not,
                 "gpu_types [%s]: no node of those GPU types in the fleet", allow);
        return 0;
    }
    if (rj->tpot) {
        snprintf(g->why_not, sizeof g->why_not,
                 "slo.tpot_ms %.1f: no allowed GPU is fast enough (bytes read per token / memory "
                 "bandwidth exceeds the objective even with the model alone)",
                 m->tpot_ms);
        return 0;
    }
    if (rj->ttft) {
        snprintf(g->why_not, sizeof g->why_not,
                 "slo.ttft_ms %.1f: no allowed GPU is fast enough for a %u-token prompt "
                 "(prefill FLOPs / (TFLOPS x TP x %u%% MFU) exceeds the objective)",
                 m->ttft_ms, m->prompt_tokens, PLAN_PREFILL_MFU_PPM / 10000);
        return 0;
    }
    if (rj->tier) {
        snprintf(g->why_not, sizeof g->why_not,
                 "class realtime: it fits only spot capacity, which may be reclaimed (add "
                 "on-demand or reserved capacity, or set class batch)");
        return 0;
    }
    const plan_bintype *big = NULL;
    for (size_t b = 0; b < p->n_bintypes; b++) {
        const plan_bintype *bt = &p->bintypes[b];
        if (!gpu_allowed(m, f, bt->gpu)) continue;
        if (!big || (double)bt->n_gpus * (double)bt->usable_per_gpu >
                        (double)big->n_gpus * (double)big->usable_per_gpu)
            big = bt;
    }
    const plan_shape *s = &g->shapes[big - p->bintypes];
    if (!m->fixed && m->opts.tp && (int)m->opts.tp > big->n_gpus) {
        snprintf(g->why_not, sizeof g->why_not,
                 "tensor_parallel %u: the largest allowed node (%s) has %d GPUs", m->opts.tp,
                 big->inventory ? big->inv_name : big->type, big->n_gpus);
        return 0;
    }
    uint32_t dp = m->opts.train.data_parallel ? m->opts.train.data_parallel : 1;
    if (!m->fixed && m->opts.train.method != PLAN_TRAIN_NONE && (int)dp > big->n_gpus) {
        snprintf(g->why_not, sizeof g->why_not,
                 "train.data_parallel %u: a training job's GPUs run together on one node, and the "
                 "largest allowed node (%s) has %d GPUs",
                 dp, big->inventory ? big->inv_name : big->type, big->n_gpus);
        return 0;
    }
    if (s->tp == 0) {
        snprintf(g->why_not, sizeof g->why_not,
                 "its footprint does not fit 64-bit byte counts (absurd sequence length, batch "
                 "or size)");
        return 0;
    }
    double need = (double)s->fp.total_bytes / VP_GIB;
    snprintf(g->why_not, sizeof g->why_not,
             "gpu_types [%s]: the largest node (%s, %d x %s) holds %.1f GiB usable (%.1f GiB per "
             "GPU); the model needs %.1f GiB (%.1f GiB per GPU at TP %u x PP %u)",
             allow, big->inventory ? big->inv_name : big->type, big->n_gpus,
             f->gpus[big->gpu].name, (double)big->n_gpus * (double)big->usable_per_gpu / VP_GIB,
             (double)big->usable_per_gpu / VP_GIB, need, (double)s->fp.per_gpu_bytes / VP_GIB,
             s->tp, s->pp);
    return 0;
}

void plan_problem_free(plan_problem *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n_groups; i++) free(p->groups[i].shapes);
    free(p->groups);
    free(p->bintypes);
    free(p);
}

int plan_problem_build(const plan_manifest *m, const plan_fleet *f, plan_problem **out, vp_err *e)
{
    plan_problem *p = calloc(1, sizeof *p);
    if (!p) return vp_errf(e, -ENOMEM, "out of memory");
    p->manifest = m;
    p->fleet = f;
    size_t nb = f->n_nodes + f->n_types;
    p->bintypes = calloc(nb ? nb : 1, sizeof *p->bintypes);
    p->groups = calloc(m->n_models ? m->n_models : 1, sizeof *p->groups);
    int rc = 0;
    if (!p->bintypes || !p->groups) { rc = vp_errf(e, -ENOMEM, "out of memory"); goto fail; }
    for (size_t i = 0; i < f->n_nodes + f->n_types; i++) {
        bool inv = i < f->n_nodes;
        const char *gpu = inv ? f->nodes[i].gpu : f->types[i - f->n_nodes].gpu;
        const plan_gpu_model *gm = plan_fleet_gpu(f, gpu);
        if (!gm) {
            rc = vp_errf(e, VP_ENOTFOUND, "%s: %s \"%s\": unknown GPU model \"%s\"", f->source,
                         inv ? "node" : "instance type",
                         inv ? f->nodes[i].name : f->types[i - f->n_nodes].type, gpu);
            goto fail;
        }
        plan_bintype *b = &p->bintypes[p->n_bintypes++];
        b->inventory = inv;
        b->gpu = (int)(gm - f->gpus);
        b->usable_per_gpu = plan_fleet_usable(f, gm);
        if (inv) {
            const plan_inv_node *n = &f->nodes[i];
            snprintf(b->type, sizeof b->type, "%s", n->type);
            snprintf(b->inv_name, sizeof b->inv_name, "%s", n->name);
            b->n_gpus = n->n_gpus;
            b->price_per_hour = n->price_per_hour;
            b->max_count = 1;
            b->tier = n->tier;
            b->interruptions_per_hour = n->interruptions_per_hour;
        } else {
            const plan_instance *t = &f->types[i - f->n_nodes];
            snprintf(b->type, sizeof b->type, "%s", t->type);
            b->n_gpus = t->n_gpus;
            b->price_per_hour = t->price_per_hour;
            b->max_count = t->max_count;
            b->tier = t->tier;
            b->interruptions_per_hour = t->interruptions_per_hour;
        }
    }
    for (size_t i = 0; i < m->n_models; i++) {
        const plan_model *md = &m->models[i];
        for (size_t k = 0; k < md->n_gpu_types; k++)
            if (!plan_fleet_gpu(f, md->gpu_types[k])) {
                rc = vp_errf(e, VP_ENOTFOUND,
                             "%s: models[%zu] (%s).gpu_types: unknown GPU model \"%s\"",
                             m->source, i, md->name, md->gpu_types[k]);
                goto fail;
            }
        plan_group *g = &p->groups[p->n_groups++];
        g->model = i;
        g->replicas = md->replicas;
        g->shapes = calloc(p->n_bintypes ? p->n_bintypes : 1, sizeof *g->shapes);
        if (!g->shapes) { rc = vp_errf(e, -ENOMEM, "out of memory"); goto fail; }
        vp_err sub = {0};
        rc = resolve_group(p, md, g, &sub);
        if (rc) {
            rc = vp_errf(e, rc, "%s: models[%zu] (%s): %s", m->source, i, md->name, sub.msg);
            goto fail;
        }
    }
    *out = p;
    return 0;
fail:
    plan_problem_free(p);
    return rc;
}

uint64_t plan_kv_bytes_per_gpu(const plan_model *m, uint32_t tp, uint32_t pp)
{
    if (!m || m->fixed) return 0;
    plan_fp_opts o = m->opts;
    o.tp = tp ? tp : 1;
    o.pp = pp ? pp : 1;
    plan_footprint fp;
    if (plan_footprint_compute(&m->arch, &o, &fp, NULL)) return 0;
    /* Each of the tp GPUs of a stage holds ceil(kv_heads / tp) heads of that stage's layers (an
     * MLA latent is replicated on every rank), as footprint.c counts them. */
    uint64_t kv = fp.kv_cache_bytes, out = 0;
    uint32_t heads = m->arch.kv_heads ? m->arch.kv_heads : m->arch.heads;
    if (m->arch.kv_lora_rank || !heads) {
        vp_muldiv_ceil_u64(kv, 1, o.pp, &out);
        return out;
    }
    uint64_t per_gpu_heads = (heads + o.tp - 1) / o.tp;
    vp_muldiv_ceil_u64(kv, per_gpu_heads, (uint64_t)heads * o.pp, &out);
    return out;
}
