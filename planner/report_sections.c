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

#define gib(x) plan_rpt_gib(x)
#define money(x) plan_rpt_money(x)
#define pct(x) plan_rpt_pct(x)
#define util(a, b) plan_rpt_util(a, b)

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

static const char *plural(size_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
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
    const counts *c = &f->c;
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
    plan_rpt_kv(d, "Nodes", "%u %s with %u %s (the cost is their price)", c->nodes_paid,
                plural(c->nodes_paid, "node hosts replicas", "nodes host replicas"), c->gpus_paid,
                plural(c->gpus_paid, "GPU", "GPUs"));
    plan_rpt_kv(d, "GPUs in use", "%u of %u hold a slice; %s GiB used of %s GiB usable (%s)",
                c->gpus_busy, c->gpus_paid, gib(c->used).s, gib(c->usable_paid).s,
                util(c->used, c->usable_paid).s);
    if (c->nodes_idle)
        plan_rpt_kv(d, "Idle inventory",
                    "%u owned %s with %u %s and %s GiB usable %s nothing and %s not charged",
                    c->nodes_idle, plural(c->nodes_idle, "node", "nodes"), c->gpus_idle,
                    plural(c->gpus_idle, "GPU", "GPUs"), gib(c->usable_idle).s,
                    plural(c->nodes_idle, "hosts", "host"), plural(c->nodes_idle, "is", "are"));
    if (f->b) plan_rpt_figure(d, FIG_COST, NULL);
}

static void sec_unplaced(doc *d, const facts *f)
{
    const place_plan *plan = f->plan;
    plan_rpt_textf(d, BK_HEAD, "Unplaced replicas");
    if (!plan->n_unplaced) {
        plan_rpt_textf(d, BK_TEXT, "None: every requested replica has a place.");
        return;
    }
    plan_rpt_textf(d, BK_TEXT, "%zu %s could not be placed; the plan's cost does not include %s.",
                   plan->n_unplaced, plural(plan->n_unplaced, "replica", "replicas"),
                   plural(plan->n_unplaced, "it", "them"));
    plan_rpt_table(d, "lrp", "model", "replicas", "reason");
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
    char why[PLACE_REASON_MAX];
    bool like = plan_rpt_like_for_like(f, bl, why, sizeof why);
    double save = bl->cost_per_hour - f->plan->cost_per_hour;
    plan_rpt_cell(d, "%s", money(bl->cost_per_hour).s);
    plan_rpt_cell(d, "%s", money(bl->cost_per_hour * PLAN_HOURS_PER_MONTH).s);
    plan_rpt_cell(d, "%u", bl->nodes);
    plan_rpt_cell(d, "%u", bl->gpus);
    plan_rpt_cell(d, "%u", bl->replicas_unplaced);
    if (!like) {
        for (int i = 0; i < 3; i++)
            plan_rpt_cell(d, "n/a");
        return;
    }
    plan_rpt_cell(d, "%s", money(save).s);
    plan_rpt_cell(d, "%s", money(save * PLAN_HOURS_PER_MONTH).s);
    plan_rpt_cell(d, "%s", bl->cost_per_hour > 0 ? pct(save / bl->cost_per_hour).s : "-");
}

static void baseline_notes(doc *d, const facts *f, const char *name, const plan_baseline *bl)
{
    char why[PLACE_REASON_MAX];
    if (bl->available && !plan_rpt_like_for_like(f, bl, why, sizeof why))
        plan_rpt_textf(d, BK_TEXT, "%s is not compared: %s.", name, why);
    if (bl->note[0]) plan_rpt_textf(d, BK_TEXT, "%s: %s.", name, bl->note);
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
    plan_rpt_cell(d, "%u", f->c.nodes_paid);
    plan_rpt_cell(d, "%u", f->c.gpus_paid);
    plan_rpt_cell(d, "%zu", plan->n_unplaced);
    plan_rpt_cell(d, "-");
    plan_rpt_cell(d, "-");
    plan_rpt_cell(d, "-");
    baseline_row(d, f, "one model per GPU", &b->one_per_gpu);
    baseline_row(d, f, "everything on A100-80GB", &b->a100);
    plan_rpt_textf(d, BK_TEXT,
                   "Nodes and GPUs count the nodes each policy pays for, idle GPUs on them "
                   "included.");
    plan_rpt_textf(
        d, BK_TEXT,
        "One model per GPU: no sharing; each replica, largest first, takes whole nodes of "
        "the cheapest node kind whose GPUs hold it alone (one node per pipeline stage), "
        "honouring gpu_types and inventory limits.");
    plan_rpt_textf(d, BK_TEXT,
                   "Everything on A100-80GB: the same replicas packed by first-fit decreasing onto "
                   "A100-80GB instance types, as many as needed; a model whose gpu_types rule "
                   "A100-80GB out stays on the types it allows.");
    baseline_notes(d, f, "One model per GPU", &b->one_per_gpu);
    baseline_notes(d, f, "Everything on A100-80GB", &b->a100);
}

static void sec_bom(doc *d, const facts *f)
{
    const place_plan *plan = f->plan;
    plan_rpt_textf(d, BK_HEAD, "Bill of materials");
    if (!f->n_bom) {
        plan_rpt_textf(d, BK_TEXT, "No node hosts a replica: nothing to buy.");
        return;
    }
    plan_rpt_table(d, "lllrrrrrr", "instance type", "kind", "GPU", "GPUs/node", "nodes", "GPUs",
                   "$/hour each", "$/hour", "$/month");
    double total = 0;
    for (size_t k = 0; k < f->n_bom; k++) {
        const bom_row *r = &f->bom[k];
        const place_node *n = &plan->nodes[r->node];
        double cost = r->count * r->price_per_hour;
        total += cost;
        plan_rpt_cell(d, "%s", n->type[0] ? n->type : "-");
        plan_rpt_cell(d, "%s", r->inventory ? "owned" : "bought");
        plan_rpt_cell(d, "%s", n->n_gpus ? n->gpus[0].model : "-");
        plan_rpt_cell(d, "%d", n->n_gpus);
        plan_rpt_cell(d, "%u", r->count);
        plan_rpt_cell(d, "%u", r->count * (uint32_t)n->n_gpus);
        plan_rpt_cell(d, "%s", money(r->price_per_hour).s);
        plan_rpt_cell(d, "%s", money(cost).s);
        plan_rpt_cell(d, "%s", money(cost * PLAN_HOURS_PER_MONTH).s);
    }
    plan_rpt_cell(d, "total");
    plan_rpt_cell(d, "%s", "");
    plan_rpt_cell(d, "%s", "");
    plan_rpt_cell(d, "%s", "");
    plan_rpt_cell(d, "%u", f->c.nodes_paid);
    plan_rpt_cell(d, "%u", f->c.gpus_paid);
    plan_rpt_cell(d, "%s", "");
    plan_rpt_cell(d, "%s", money(total).s);
    plan_rpt_cell(d, "%s", money(total * PLAN_HOURS_PER_MONTH).s);
    plan_rpt_textf(d, BK_TEXT,
                   "Owned nodes are inventory, priced as the fleet gives them; idle inventory is "
                   "not listed because the plan does not charge it.");
}

/* The N+1 table: what the loss of each node costs. The analysis (re-placing a lost node's
 * replicas with the solver's repair) is not part of the report; this renders its result. */
static void id_list(doc *d, const char *const *v, size_t n, const char *none)
{
    vp_sb sb = {0};
    for (size_t i = 0; i < n; i++)
        vp_sb_printf(&sb, "%s%s", i ? ", " : "", v[i]);
    if (!n) vp_sb_printf(&sb, "%s", none);
    if (!vp_sb_ok(&sb)) d->oom = true;
    plan_rpt_put(d, vp_sb_ok(&sb) ? vp_sb_steal(&sb) : NULL);
    vp_sb_free(&sb);
}

static void sec_node_loss(doc *d, const facts *f)
{
    plan_rpt_textf(d, BK_HEAD, "If one node is lost (N+1)");
    if (!f->loss) {
        plan_rpt_textf(d, BK_TEXT, "Not analysed for this plan.");
        return;
    }
    plan_rpt_table(d, "lwwwr", "lost node", "re-placed in spare room", "needs new nodes",
                   "cannot be placed", "extra $/hour");
    for (size_t i = 0; i < f->n_loss; i++) {
        const plan_node_loss *l = &f->loss[i];
        plan_rpt_cell(d, "%s", l->node);
        id_list(d, l->replaced, l->n_replaced, "-");
        id_list(d, l->needs_new_nodes, l->n_needs_new_nodes, "none");
        id_list(d, l->unplaced, l->n_unplaced, "none");
        plan_rpt_cell(d, "%s", money(l->extra_cost_per_hour).s);
    }
    if (f->spare_nodes)
        plan_rpt_textf(d, BK_TEXT,
                       "Planned with %zu spare node%s so that any one node's loss re-places "
                       "everything without buying: %s/hour, against %s/hour for the plan "
                       "without spares (+%s/hour).",
                       f->spare_nodes, f->spare_nodes == 1 ? "" : "s",
                       money(f->plan->cost_per_hour).s, money(f->plain_cost).s,
                       money(f->plan->cost_per_hour - f->plain_cost).s);
}

static void sec_models(doc *d, const facts *f)
{
    const plan_problem *p = f->p;
    plan_rpt_textf(d, BK_HEAD, "Models (sizes in GiB, per replica)");
    plan_rpt_table(d, "lrllrrrrrlrrw", "model", "params", "dtype", "kv dtype", "seq x batch",
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
                   "usable GiB", "used %", "kind");
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
        plan_rpt_cell(d, "%s", n->spare       ? "bought, spare"
                               : !n->inventory ? "bought"
                               : busy          ? "owned"
                                               : "owned, idle");
    }
}

static void sec_gpus(doc *d, const facts *f)
{
    const place_plan *plan = f->plan;
    plan_rpt_textf(d, BK_HEAD, "GPUs");
    plan_rpt_table(d, "lrlrrrw", "node", "GPU", "model", "used GiB", "usable GiB", "used %",
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
    sec_bom(d, f);
    plan_rpt_sec_tiers(d, f);
    plan_rpt_sec_lora(d, f);
    plan_rpt_sec_training(d, f);
    plan_rpt_sec_latency(d, f);
    plan_rpt_figure(d, FIG_PACKING, "What runs where");
    sec_node_loss(d, f);
    sec_models(d, f);
    sec_nodes(d, f);
    sec_gpus(d, f);
}
