/* report_work.c - the human report's sections on what the work is: cost by pricing tier with the
 * spot savings and the interruptions spot capacity is expected to see, LoRA bases against serving
 * their adapters as separate models, training jobs, and the latency estimate of each model's
 * placements. Every figure comes from the facts (report_facts.c); a section whose subject the
 * plan lacks adds nothing, so a plan of realtime models on on-demand capacity reads as before. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_int.h"

#define MAX_EXPOSED_ROWS 64 /* spot nodes listed; the JSON report has all */
#define MAX_IDS 8           /* placement ids listed per spot node */

static const char *plural(size_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

static bool tiers_matter(const facts *f)
{
    return f->any_batch || f->tier[PLAN_TIER_SPOT].nodes || f->tier[PLAN_TIER_RESERVED].nodes;
}

/* Placement ids on plan node i, cut after MAX_IDS. */
static void ids_on(doc *d, const facts *f, size_t node)
{
    vp_sb sb = {0};
    size_t n = 0;
    for (size_t i = 0; i < f->plan->n_placements; i++) {
        if (f->plan->placements[i].node != (int)node) continue;
        if (n < MAX_IDS) vp_sb_printf(&sb, "%s%s", n ? ", " : "", f->plan->placements[i].id);
        n++;
    }
    if (n > MAX_IDS) vp_sb_printf(&sb, ", ... %zu more", n - MAX_IDS);
    plan_rpt_put(d, vp_sb_ok(&sb) ? vp_sb_steal(&sb) : NULL);
    vp_sb_free(&sb);
}

void plan_rpt_sec_tiers(doc *d, const facts *f)
{
    if (!tiers_matter(f)) return;
    plan_rpt_textf(d, BK_HEAD, "Pricing tiers");
    plan_rpt_table(d, "lrrrr", "tier", "nodes", "GPUs", "$/hour", "$/month");
    for (int t = PLAN_TIER_ON_DEMAND; t <= PLAN_TIER_RESERVED; t++) {
        const tier_fact *x = &f->tier[t];
        plan_rpt_cell(d, "%s", plan_tier_name((plan_tier)t));
        plan_rpt_cell(d, "%u", x->nodes);
        plan_rpt_cell(d, "%u", x->gpus);
        plan_rpt_cell(d, "%s", plan_rpt_money(x->cost).s);
        plan_rpt_cell(d, "%s", plan_rpt_money(x->cost * PLAN_HOURS_PER_MONTH).s);
    }
    plan_rpt_textf(d, BK_TEXT,
                   "Realtime models never run on spot capacity; batch work and training jobs may, "
                   "where it is cheaper.");
    const spot_fact *s = &f->spot;
    if (!s->n_nodes) {
        plan_rpt_kv(d, "Spot savings", "none: the plan uses no spot capacity");
        plan_rpt_kv(d, "Interruptions", "none expected: no node of the plan can be reclaimed");
        return;
    }
    double save = s->on_demand_cost - s->matched_cost;
    plan_rpt_kv(d, "Spot savings", "%s/hour, %s/month against the same nodes on demand (%s/hour)",
                plan_rpt_money(save).s, plan_rpt_money(save * PLAN_HOURS_PER_MONTH).s,
                plan_rpt_money(s->on_demand_cost).s);
    if (s->unmatched)
        plan_rpt_kv(d, "Not compared",
                    "%u spot %s no on-demand type of the same GPUs to compare "
                    "with",
                    s->unmatched, plural(s->unmatched, "node has", "nodes have"));
    plan_rpt_kv(d, "Interruptions",
                "%.2f expected a day over %zu spot %s; each stops what runs on that node until "
                "it is placed again",
                s->interruptions_per_day, s->n_nodes, plural(s->n_nodes, "node", "nodes"));
    plan_rpt_table(d, "lrrw", "spot node", "per hour", "per day", "would stop");
    for (size_t k = 0; k < s->n_nodes && k < MAX_EXPOSED_ROWS; k++) {
        size_t i = s->nodes[k];
        double iph = f->p->bintypes[f->node_bintype[i]].interruptions_per_hour;
        plan_rpt_cell(d, "%s", f->plan->nodes[i].name);
        plan_rpt_cell(d, "%.3f", iph);
        plan_rpt_cell(d, "%.2f", iph * 24.0);
        ids_on(d, f, i);
    }
    if (s->n_nodes > MAX_EXPOSED_ROWS)
        plan_rpt_textf(d, BK_TEXT, "... %zu more spot nodes (see --report json).",
                       s->n_nodes - MAX_EXPOSED_ROWS);
}

void plan_rpt_sec_lora(doc *d, const facts *f)
{
    if (!f->n_lora) return;
    plan_rpt_textf(d, BK_HEAD, "LoRA adapters");
    plan_rpt_table(d, "lrrrrrrr", "base", "adapters", "resident", "rank", "replicas", "slice GiB",
                   "one adapter alone GiB", "saving $/hour");
    for (size_t k = 0; k < f->n_lora; k++) {
        const lora_fact *l = &f->lora[k];
        plan_rpt_cell(d, "%s", manifest(f)->models[l->model].name);
        plan_rpt_cell(d, "%u", l->adapters);
        plan_rpt_cell(d, "%u", l->resident);
        plan_rpt_cell(d, "%u", l->rank);
        plan_rpt_cell(d, "%u", f->m[l->model].placed);
        plan_rpt_cell(d, "%s", plan_rpt_gib(l->slice_bytes).s);
        plan_rpt_cell(d, "%s", plan_rpt_gib(l->separate_bytes).s);
        if (l->gib_hour_price > 0)
            plan_rpt_cell(d, "%s", plan_rpt_money(l->separate_per_hour - l->plan_per_hour).s);
        else
            plan_rpt_cell(d, "-");
    }
    const lora_fact *l = &f->lora[0];
    plan_rpt_textf(d, BK_TEXT,
                   "Adapters share their base's slice: the base weights are held once per replica "
                   "and each resident adapter adds rank x (d_in + d_out) per adapted matrix. The "
                   "saving prices the alternative, every adapter merged into a model of its own "
                   "with one replica each (the fewest that serve them all), against this plan's "
                   "replicas, both at this plan's cost per GiB its nodes hold ($%.4f per "
                   "GiB-hour): an estimate of what the same packing would cost, not a second plan.",
                   l->gib_hour_price);
}

void plan_rpt_sec_training(doc *d, const facts *f)
{
    if (!f->any_train) return;
    const plan_manifest *m = manifest(f);
    plan_rpt_textf(d, BK_HEAD, "Training jobs");
    plan_rpt_table(d, "lllrrrrl", "job", "method", "optimizer", "trainable", "GPUs each",
                   "GiB per GPU", "placed", "tiers");
    for (size_t g = 0; g < f->p->n_groups; g++) {
        size_t mi = f->p->groups[g].model;
        const plan_model *md = &m->models[mi];
        if (md->fixed || md->opts.train.method == PLAN_TRAIN_NONE) continue;
        const model_fact *mf = &f->m[mi];
        uint32_t dp = md->opts.train.data_parallel ? md->opts.train.data_parallel : 1;
        bool used[3] = {false, false, false};
        for (size_t i = mf->pairs_from; i < mf->pairs_to; i++)
            used[f->node_tier[f->pairs[i].node]] = true;
        vp_sb sb = {0};
        for (int t = 0; t < 3; t++)
            if (used[t])
                vp_sb_printf(&sb, "%s%s", sb.len ? ", " : "", plan_tier_name((plan_tier)t));
        plan_rpt_cell(d, "%s", md->name);
        plan_rpt_cell(d, "%s", plan_train_method_name(md->opts.train.method));
        plan_rpt_cell(d, "%s", plan_optimizer_name(md->opts.train.optimizer));
        plan_rpt_cell(d, "%.2fB", (double)mf->fp.trainable_params / 1e9);
        plan_rpt_cell(d, "%u", dp);
        plan_rpt_cell(d, "%s", plan_rpt_gib(mf->fp.per_gpu_bytes).s);
        plan_rpt_cell(d, "%u of %u", mf->placed, f->p->groups[g].replicas);
        plan_rpt_put(d, vp_sb_ok(&sb) && sb.len ? vp_sb_steal(&sb) : strdup("-"));
        vp_sb_free(&sb);
    }
    plan_rpt_textf(d, BK_TEXT,
                   "A training job is a gang: its data_parallel GPUs, each holding a full copy, "
                   "run together on one node or not at all.");
}

static void ms_cell(doc *d, double ms)
{
    if (ms > 0)
        plan_rpt_cell(d, "%.1f", ms);
    else
        plan_rpt_cell(d, "-");
}

void plan_rpt_sec_latency(doc *d, const facts *f)
{
    if (!f->any_slo) return;
    const plan_manifest *m = manifest(f);
    plan_rpt_textf(d, BK_HEAD, "Latency");
    plan_rpt_table(d, "lrrrr", "model", "TPOT ms (worst)", "objective", "TTFT ms (worst)",
                   "objective");
    for (size_t mi = 0; mi < m->n_models; mi++) {
        const plan_model *md = &m->models[mi];
        if (md->tpot_ms <= 0 && md->ttft_ms <= 0) continue;
        double tpot = 0, ttft = 0;
        for (size_t i = 0; i < f->plan->n_placements; i++) {
            if (f->pl_model[i] != (int)mi) continue;
            if (f->plan->placements[i].est_tpot_ms > tpot)
                tpot = f->plan->placements[i].est_tpot_ms;
            if (f->pl_ttft_ms[i] > ttft) ttft = f->pl_ttft_ms[i];
        }
        plan_rpt_cell(d, "%s", md->name);
        ms_cell(d, tpot);
        ms_cell(d, md->tpot_ms);
        ms_cell(d, ttft);
        if (md->ttft_ms > 0)
            plan_rpt_cell(d, "%.1f at %u tokens", md->ttft_ms, md->prompt_tokens);
        else
            plan_rpt_cell(d, "-");
    }
    plan_rpt_textf(d, BK_TEXT,
                   "TPOT: bytes each decode step reads over the GPU's memory bandwidth, co-tenants "
                   "included. TTFT: prefill FLOPs (2 x active params x prompt tokens + attention) "
                   "over the datasheet dense TFLOPS of the placement's GPUs at %u%% utilisation, "
                   "an assumption; the JSON report has both for every placement.",
                   PLAN_PREFILL_MFU_PPM / 10000);
}
