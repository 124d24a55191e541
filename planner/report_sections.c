/* report_sections.c - the sections of the human report: what it says, in which order.
 *
 * Each section adds headings, key/value lines, paragraphs and tables of plain-text cells to the
 * document; it never knows the output syntax, so text, Markdown and HTML say the same things.
 * Numbers are formatted here, once: sizes in GiB with two decimals, money as $1,234.56, shares
 * as percentages. Long lists are cut (node names per model, GPU rows) with a line saying so;
 * the JSON report always has everything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_int.h"

#define MAX_GPU_ROWS 512 /* beyond this, the per-GPU table is cut (the JSON report has all) */
#define MAX_NODE_NAMES 6 /* node names listed per model in the human formats */

/* ------------------------------------------------------------------------- number formatting */

typedef struct nbuf {
    char s[48];
} nbuf;

static nbuf gib(uint64_t bytes)
{
    nbuf b;
    snprintf(b.s, sizeof b.s, "%.2f", (double)bytes / VP_GIB);
    return b;
}

/* $1,234.56 */
static nbuf money(double v)
{
    nbuf b;
    char raw[40];
    snprintf(raw, sizeof raw, "%.2f", v < 0 ? -v : v);
    const char *dot = strchr(raw, '.');
    size_t int_len = dot ? (size_t)(dot - raw) : strlen(raw);
    size_t o = 0;
    if (v < 0 && strcmp(raw, "0.00")) b.s[o++] = '-';
    b.s[o++] = '$';
    for (size_t i = 0; i < int_len; i++) {
        if (i && (int_len - i) % 3 == 0) b.s[o++] = ',';
        b.s[o++] = raw[i];
    }
    snprintf(b.s + o, sizeof b.s - o, "%s", raw + int_len);
    return b;
}

static nbuf pct(double fraction)
{
    nbuf b;
    snprintf(b.s, sizeof b.s, "%.1f%%", fraction * 100.0);
    return b;
}

static nbuf util(uint64_t used, uint64_t usable)
{
    return pct(usable ? (double)used / (double)usable : 0.0);
}

/* 8.03B, 405.85B, 335M */
static nbuf params(uint64_t n)
{
    nbuf b;
    if (!n)
        snprintf(b.s, sizeof b.s, "-");
    else if (n >= 1000000000ULL)
        snprintf(b.s, sizeof b.s, "%.2fB", (double)n / 1e9);
    else
        snprintf(b.s, sizeof b.s, "%.0fM", (double)n / 1e6);
    return b;
}

/* ------------------------------------------------------------------------------ the sections */

static void sec_header(doc *d, const facts *f)
{
    const place_plan *plan = f->plan;
    plan_rpt_textf(d, BK_TITLE, "vrampack plan report");
    plan_rpt_kv(d, "Manifest", "%s", manifest(f)->source);
    plan_rpt_kv(d, "Fleet", "%s (gpu_memory_utilization %.2f)", f->p->fleet->source,
                f->p->fleet->util_ppm / 1e6);
    plan_rpt_kv(d, "Solver", "%s, status %s, %llu ms", plan->solver, plan->status,
                (unsigned long long)plan->solve_ms);
    plan_rpt_kv(d, "Models", "%zu models, %u replicas requested, %u placed, %u unplaced",
                manifest(f)->n_models, f->requested, f->placed, (unsigned)plan->n_unplaced);
    plan_rpt_kv(d, "Units", "sizes in GiB (1 GiB = 2^30 bytes); a month is %.0f hours",
                PLAN_HOURS_PER_MONTH);
}

static void sec_cost(doc *d, const facts *f)
{
    const place_plan *plan = f->plan;
    plan_rpt_textf(d, BK_HEAD, "Cost");
    plan_rpt_kv(d, "Plan", "%s/hour, %s/month", money(plan->cost_per_hour).s,
                money(plan->cost_per_hour * PLAN_HOURS_PER_MONTH).s);
    plan_rpt_kv(d, "Lower bound", "%s/hour, %s/month", money(plan->lower_bound_per_hour).s,
                money(plan->lower_bound_per_hour * PLAN_HOURS_PER_MONTH).s);
    double above = max_above_optimal(plan);
    if (above < 0)
        plan_rpt_kv(d, "Gap", "no lower bound: how far from optimal is unknown");
    else if (plan->cost_per_hour <= plan->lower_bound_per_hour)
        plan_rpt_kv(d, "Gap", "none: the plan meets its lower bound, so it is optimal");
    else
        plan_rpt_kv(d, "Gap",
                    "the plan costs at most %s more than the optimum (gap %s of its cost)",
                    pct(above).s, pct(plan->gap).s);
    size_t nodes = 0;
    for (size_t i = 0; i < plan->n_nodes; i++)
        nodes += node_shown(plan, i);
    plan_rpt_kv(d, "GPUs", "%u of %u in use on %zu nodes; %s GiB used of %s GiB usable (%s)",
                f->gpus_used, f->gpus_total, nodes, gib(f->used).s, gib(f->usable).s,
                util(f->used, f->usable).s);
}

static void sec_unplaced(doc *d, const facts *f)
{
    const place_plan *plan = f->plan;
    plan_rpt_textf(d, BK_HEAD, "Unplaced replicas");
    if (!plan->n_unplaced) {
        plan_rpt_textf(d, BK_TEXT, "None: every requested replica has a place.");
        return;
    }
    plan_rpt_textf(d, BK_TEXT,
                   "%zu replicas could not be placed; the plan's cost does not include them.",
                   plan->n_unplaced);
    plan_rpt_table(d, "lrl", "model", "replicas", "reason");
    /* Consecutive entries of one model with one reason collapse into a row. */
    for (size_t i = 0; i < plan->n_unplaced;) {
        const place_unplaced *u = &plan->unplaced[i];
        size_t j = i + 1;
        while (j < plan->n_unplaced && !strcmp(plan->unplaced[j].model, u->model) &&
               !strcmp(plan->unplaced[j].reason, u->reason))
            j++;
        plan_rpt_cell(d, "%s", u->model);
        if (j - i == 1)
            plan_rpt_cell(d, "%u", u->replica);
        else
            plan_rpt_cell(d, "%u-%u (%zu)", u->replica, plan->unplaced[j - 1].replica, j - i);
        plan_rpt_cell(d, "%s", u->reason);
        i = j;
    }
}

static void baseline_row(doc *d, const facts *f, const char *name, const plan_baseline *bl)
{
    plan_rpt_cell(d, "%s", name);
    if (!bl->available) {
        for (int i = 0; i < 8; i++)
            plan_rpt_cell(d, "-");
        return;
    }
    double save = bl->cost_per_hour - f->plan->cost_per_hour;
    plan_rpt_cell(d, "%s", money(bl->cost_per_hour).s);
    plan_rpt_cell(d, "%s", money(bl->cost_per_hour * PLAN_HOURS_PER_MONTH).s);
    plan_rpt_cell(d, "%u", bl->nodes);
    plan_rpt_cell(d, "%u", bl->gpus);
    plan_rpt_cell(d, "%u", bl->replicas_unplaced);
    plan_rpt_cell(d, "%s", money(save).s);
    plan_rpt_cell(d, "%s", money(save * PLAN_HOURS_PER_MONTH).s);
    plan_rpt_cell(d, "%s", bl->cost_per_hour > 0 ? pct(save / bl->cost_per_hour).s : "-");
}

static void sec_baselines(doc *d, const facts *f)
{
    const plan_baselines *b = f->b;
    if (!b) return;
    const place_plan *plan = f->plan;
    plan_rpt_textf(d, BK_HEAD, "Against the baselines");
    plan_rpt_table(d, "lrrrrrrrr", "policy", "$/hour", "$/month", "nodes", "GPUs", "unplaced",
                   "saved $/hour", "saved $/month", "saved %");
    plan_rpt_cell(d, "this plan");
    plan_rpt_cell(d, "%s", money(plan->cost_per_hour).s);
    plan_rpt_cell(d, "%s", money(plan->cost_per_hour * PLAN_HOURS_PER_MONTH).s);
    plan_rpt_cell(d, "%u", f->paid_nodes);
    plan_rpt_cell(d, "%u", f->paid_gpus);
    plan_rpt_cell(d, "%zu", plan->n_unplaced);
    plan_rpt_cell(d, "-");
    plan_rpt_cell(d, "-");
    plan_rpt_cell(d, "-");
    baseline_row(d, f, "one model per GPU", &b->one_per_gpu);
    baseline_row(d, f, "everything on A100-80GB", &b->a100);
    plan_rpt_textf(
        d, BK_TEXT,
        "One model per GPU: no sharing; each replica, largest first, takes whole nodes of "
        "the cheapest node kind whose GPUs hold it alone (one node per pipeline stage), "
        "honouring gpu_types and inventory limits.");
    plan_rpt_textf(d, BK_TEXT,
                   "Everything on A100-80GB: the same replicas packed by first-fit decreasing onto "
                   "A100-80GB instance types, as many as needed; a model whose gpu_types rule "
                   "A100-80GB out stays on the types it allows.");
    if (b->one_per_gpu.note[0])
        plan_rpt_textf(d, BK_TEXT, "One model per GPU, unplaced: %s", b->one_per_gpu.note);
    if (b->a100.note[0]) plan_rpt_textf(d, BK_TEXT, "A100-80GB: %s", b->a100.note);
    if (plan->n_unplaced || b->one_per_gpu.replicas_unplaced || b->a100.replicas_unplaced)
        plan_rpt_textf(d, BK_TEXT,
                       "Replicas are unplaced in some columns: those costs are not like for like.");
}

static void sec_models(doc *d, const facts *f)
{
    const plan_problem *p = f->p;
    plan_rpt_textf(d, BK_HEAD, "Models (sizes in GiB, per replica)");
    plan_rpt_table(d, "lrllrrrrrlrrl", "model", "params", "dtype", "kv dtype", "seq x batch",
                   "weights", "KV cache", "overhead", "CUDA ctx", "TP x PP", "per GPU", "replicas",
                   "placed on");
    for (size_t g = 0; g < p->n_groups; g++) {
        size_t mi = p->groups[g].model;
        const plan_model *m = &manifest(f)->models[mi];
        const model_fact *mf = &f->m[mi];
        plan_rpt_cell(d, "%s", m->name);
        if (m->fixed) {
            plan_rpt_cell(d, "-");
            plan_rpt_cell(d, "measured");
            plan_rpt_cell(d, "-");
            plan_rpt_cell(d, "-");
        } else {
            plan_rpt_cell(d, "%s", params(mf->fp.params ? mf->fp.params : m->arch.params).s);
            plan_rpt_cell(d, "%s", plan_dtype_name(m->opts.dtype));
            plan_rpt_cell(d, "%s", plan_dtype_name(m->opts.kv_dtype));
            plan_rpt_cell(d, "%llu x %llu", (unsigned long long)m->opts.seq_len,
                          (unsigned long long)m->opts.batch);
        }
        plan_rpt_cell(d, "%s", gib(m->fixed ? m->memory_bytes : mf->fp.weights_bytes).s);
        plan_rpt_cell(d, "%s", gib(mf->fp.kv_cache_bytes).s);
        plan_rpt_cell(d, "%s", gib(mf->fp.overhead_bytes).s);
        plan_rpt_cell(d, "%s", gib(mf->fp.reserve_bytes).s);
        if (mf->tp_mask & (mf->tp_mask - 1)) { /* replicas on different GPU kinds */
            vp_sb tps = {0};
            for (uint32_t k = 1; k < 32; k++)
                if (mf->tp_mask & (1u << k)) vp_sb_printf(&tps, "%s%u", tps.len ? "," : "", k);
            plan_rpt_cell(d, "%s x %u", vp_sb_str(&tps), mf->pp ? mf->pp : 1);
            vp_sb_free(&tps);
        } else {
            plan_rpt_cell(d, "%u x %u", mf->tp ? mf->tp : 1, mf->pp ? mf->pp : 1);
        }
        if (mf->per_gpu_min && strcmp(gib(mf->per_gpu_min).s, gib(mf->per_gpu).s))
            plan_rpt_cell(d, "%s-%s", gib(mf->per_gpu_min).s, gib(mf->per_gpu).s);
        else
            plan_rpt_cell(d, "%s", gib(mf->per_gpu).s);
        if (mf->placed == p->groups[g].replicas)
            plan_rpt_cell(d, "%u", mf->placed);
        else
            plan_rpt_cell(d, "%u of %u", mf->placed, p->groups[g].replicas);

        vp_sb sb = {0};
        size_t shown = 0;
        for (size_t i = mf->pairs_from; i < mf->pairs_to; i++) {
            if (shown == MAX_NODE_NAMES) {
                vp_sb_printf(&sb, ", +%zu more nodes", mf->pairs_to - i);
                break;
            }
            const pair *pr = &f->pairs[i];
            vp_sb_printf(&sb, "%s%s", shown ? ", " : "", f->plan->nodes[pr->node].name);
            if (pr->count > 1) vp_sb_printf(&sb, " (x%zu)", pr->count);
            shown++;
        }
        if (!shown) vp_sb_printf(&sb, "unplaced");
        if (!vp_sb_ok(&sb)) d->oom = true;
        plan_rpt_put(d, vp_sb_ok(&sb) ? vp_sb_steal(&sb) : NULL);
        vp_sb_free(&sb);
    }
    {
        bool any = false;
        for (size_t g = 0; g < p->n_groups; g++)
            any |= p->manifest->models[p->groups[g].model].fixed;
        if (any)
            plan_rpt_textf(d, BK_TEXT,
                           "A model given by memory_bytes shows its measured footprint as weights; "
                           "nothing is added to it.");
    }
}

static void sec_nodes(doc *d, const facts *f)
{
    const place_plan *plan = f->plan;
    plan_rpt_textf(d, BK_HEAD, "Nodes");
    plan_rpt_table(d, "llrlrrrrl", "node", "type", "$/hour", "GPU", "GPUs used", "used GiB",
                   "usable GiB", "used %", "inventory");
    for (size_t i = 0; i < plan->n_nodes; i++) {
        if (!node_shown(plan, i)) continue;
        const place_node *n = &plan->nodes[i];
        uint64_t used = 0, usable = 0;
        int busy = 0;
        for (int g = 0; g < n->n_gpus; g++) {
            used += n->gpus[g].used_bytes;
            usable += n->gpus[g].usable_bytes;
            busy += n->gpus[g].used_bytes > 0;
        }
        plan_rpt_cell(d, "%s", n->name);
        plan_rpt_cell(d, "%s", n->type);
        plan_rpt_cell(d, "%s", money(n->price_per_hour).s);
        plan_rpt_cell(d, "%s", n->n_gpus ? n->gpus[0].model : "-");
        plan_rpt_cell(d, "%d/%d", busy, n->n_gpus);
        plan_rpt_cell(d, "%s", gib(used).s);
        plan_rpt_cell(d, "%s", gib(usable).s);
        plan_rpt_cell(d, "%s", util(used, usable).s);
        plan_rpt_cell(d, "%s", n->inventory ? "yes" : "");
    }
}

static void sec_gpus(doc *d, const facts *f)
{
    const place_plan *plan = f->plan;
    plan_rpt_textf(d, BK_HEAD, "GPUs");
    plan_rpt_table(d, "lrlrrrl", "node", "GPU", "model", "used GiB", "usable GiB", "used %",
                   "placements");
    /* Placements grouped by node (a counting sort), so each GPU row reads only its node's. */
    size_t *start = calloc(plan->n_nodes + 1, sizeof *start);
    size_t *by_node = calloc(plan->n_placements ? plan->n_placements : 1, sizeof *by_node);
    if (!start || !by_node) {
        free(start);
        free(by_node);
        d->oom = true;
        return;
    }
    for (size_t k = 0; k < plan->n_placements; k++) {
        int nd = plan->placements[k].node;
        if (nd >= 0 && (size_t)nd < plan->n_nodes) start[nd + 1]++;
    }
    for (size_t i = 0; i < plan->n_nodes; i++)
        start[i + 1] += start[i];
    size_t *fill = calloc(plan->n_nodes ? plan->n_nodes : 1, sizeof *fill);
    if (!fill) {
        free(start);
        free(by_node);
        d->oom = true;
        return;
    }
    for (size_t k = 0; k < plan->n_placements; k++) {
        int nd = plan->placements[k].node;
        if (nd >= 0 && (size_t)nd < plan->n_nodes) by_node[start[nd] + fill[nd]++] = k;
    }
    free(fill);
    size_t rows = 0, total = 0;
    for (size_t i = 0; i < plan->n_nodes; i++)
        if (node_shown(plan, i)) total += (size_t)plan->nodes[i].n_gpus;
    for (size_t i = 0; i < plan->n_nodes && rows < MAX_GPU_ROWS; i++) {
        if (!node_shown(plan, i)) continue;
        const place_node *n = &plan->nodes[i];
        for (int g = 0; g < n->n_gpus && rows < MAX_GPU_ROWS; g++, rows++) {
            plan_rpt_cell(d, "%s", n->name);
            plan_rpt_cell(d, "%d", g);
            plan_rpt_cell(d, "%s", n->gpus[g].model);
            plan_rpt_cell(d, "%s", gib(n->gpus[g].used_bytes).s);
            plan_rpt_cell(d, "%s", gib(n->gpus[g].usable_bytes).s);
            plan_rpt_cell(d, "%s", util(n->gpus[g].used_bytes, n->gpus[g].usable_bytes).s);
            vp_sb sb = {0};
            for (size_t k = start[i]; k < start[i + 1]; k++) {
                const place_placement *pl = &plan->placements[by_node[k]];
                for (int j = 0; j < pl->n_gpus; j++)
                    if (pl->gpus[j] == g)
                        vp_sb_printf(&sb, "%s%s (%s)", sb.len ? ", " : "", pl->id,
                                     gib(pl->bytes_per_gpu).s);
            }
            if (!sb.len) vp_sb_printf(&sb, "idle");
            if (!vp_sb_ok(&sb)) d->oom = true;
            plan_rpt_put(d, vp_sb_ok(&sb) ? vp_sb_steal(&sb) : NULL);
            vp_sb_free(&sb);
        }
    }
    free(start);
    free(by_node);
    if (rows < total)
        plan_rpt_textf(d, BK_TEXT, "%zu more GPUs not listed; the JSON report lists every one.",
                       total - rows);
}

void plan_rpt_sections(doc *d, const facts *f)
{
    sec_header(d, f);
    sec_cost(d, f);
    sec_unplaced(d, f);
    sec_baselines(d, f);
    sec_models(d, f);
    sec_nodes(d, f);
    sec_gpus(d, f);
}
