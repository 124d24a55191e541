/* report_json.c - the JSON report (report_version 1): the plan's figures as exact values.
 *
 * Built with cJSON straight from the facts, not from the human document, because its contract
 * is exact values rather than prose: bytes as integers, money unrounded, utilisation as a
 * fraction, every node and GPU listed, and the plan embedded exactly as plan_to_json writes it
 * (parsed back, so the report is one JSON value). Fields a baseline cannot have are null rather
 * than absent, so a reader sees one shape. report.h lists the fields. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "planjson.h"
#include "report_int.h"

static cJSON *json_baseline(const facts *f, const plan_baseline *bl, const char *desc)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddBoolToObject(o, "available", bl->available);
    cJSON_AddStringToObject(o, "description", desc);
    cJSON_AddStringToObject(o, "note", bl->note);
    if (bl->available) {
        double save = bl->cost_per_hour - f->plan->cost_per_hour;
        char why[PLACE_REASON_MAX];
        bool like = plan_rpt_like_for_like(f, bl, why, sizeof why);
        cJSON_AddNumberToObject(o, "cost_per_hour", bl->cost_per_hour);
        cJSON_AddNumberToObject(o, "cost_per_month", bl->cost_per_hour * PLAN_HOURS_PER_MONTH);
        cJSON_AddNumberToObject(o, "nodes", bl->nodes);
        cJSON_AddNumberToObject(o, "gpus", bl->gpus);
        cJSON_AddNumberToObject(o, "replicas_placed", bl->replicas_placed);
        cJSON_AddNumberToObject(o, "replicas_unplaced", bl->replicas_unplaced);
        cJSON_AddBoolToObject(o, "comparable", like);
        cJSON_AddStringToObject(o, "not_comparable_reason", like ? "" : why);
        if (like) {
            cJSON_AddNumberToObject(o, "savings_per_hour", save);
            cJSON_AddNumberToObject(o, "savings_per_month", save * PLAN_HOURS_PER_MONTH);
        } else {
            cJSON_AddNullToObject(o, "savings_per_hour");
            cJSON_AddNullToObject(o, "savings_per_month");
        }
        if (like && bl->cost_per_hour > 0)
            cJSON_AddNumberToObject(o, "savings_fraction", save / bl->cost_per_hour);
        else
            cJSON_AddNullToObject(o, "savings_fraction");
    } else {
        static const char *const nulls[] = {"cost_per_hour",
                                            "cost_per_month",
                                            "nodes",
                                            "gpus",
                                            "replicas_placed",
                                            "replicas_unplaced",
                                            "savings_per_hour",
                                            "savings_per_month",
                                            "savings_fraction"};
        for (size_t i = 0; i < VP_ARRAY_LEN(nulls); i++)
            cJSON_AddNullToObject(o, nulls[i]);
        cJSON_AddBoolToObject(o, "comparable", false);
        cJSON_AddStringToObject(o, "not_comparable_reason", "the policy has no node kind to use");
    }
    return o;
}

static cJSON *json_model(const facts *f, size_t g)
{
    const plan_problem *p = f->p;
    size_t mi = p->groups[g].model;
    const plan_model *m = &manifest(f)->models[mi];
    const model_fact *mf = &f->m[mi];
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "name", m->name);
    cJSON_AddBoolToObject(o, "fixed", m->fixed);
    cJSON_AddNumberToObject(o, "params",
                            (double)(m->fixed        ? 0
                                     : mf->fp.params ? mf->fp.params
                                                     : m->arch.params));
    cJSON_AddStringToObject(o, "dtype", m->fixed ? "" : plan_dtype_name(m->opts.dtype));
    cJSON_AddStringToObject(o, "kv_dtype", m->fixed ? "" : plan_dtype_name(m->opts.kv_dtype));
    cJSON_AddNumberToObject(o, "seq_len", m->fixed ? 0 : (double)m->opts.seq_len);
    cJSON_AddNumberToObject(o, "batch", m->fixed ? 0 : (double)m->opts.batch);
    cJSON_AddNumberToObject(o, "weights_bytes",
                            (double)(m->fixed ? m->memory_bytes : mf->fp.weights_bytes));
    cJSON_AddNumberToObject(o, "kv_cache_bytes", (double)mf->fp.kv_cache_bytes);
    cJSON_AddNumberToObject(o, "overhead_bytes", (double)mf->fp.overhead_bytes);
    cJSON_AddNumberToObject(o, "reserve_bytes", (double)mf->fp.reserve_bytes);
    cJSON_AddNumberToObject(o, "total_bytes", (double)mf->fp.total_bytes);
    cJSON_AddNumberToObject(o, "tp", mf->tp ? mf->tp : 1);
    cJSON_AddNumberToObject(o, "pp", mf->pp ? mf->pp : 1);
    cJSON_AddNumberToObject(o, "per_gpu_bytes", (double)mf->per_gpu);
    cJSON_AddNumberToObject(o, "replicas", p->groups[g].replicas);
    cJSON_AddNumberToObject(o, "placed", mf->placed);
    cJSON *nodes = cJSON_AddArrayToObject(o, "nodes");
    for (size_t i = mf->pairs_from; nodes && i < mf->pairs_to; i++)
        cJSON_AddItemToArray(nodes, cJSON_CreateString(f->plan->nodes[f->pairs[i].node].name));
    cJSON_AddStringToObject(o, "colour", f->colour[mi]);
    const plan_baseline_pick *pk = f->b && g < f->b->n_picks ? &f->b->picks[g] : NULL;
    if (pk && pk->bintype >= 0) {
        cJSON *b = cJSON_AddObjectToObject(o, "baseline_one_per_gpu");
        if (b) {
            cJSON_AddStringToObject(b, "type", p->bintypes[pk->bintype].type);
            cJSON_AddNumberToObject(b, "nodes_per_replica", pk->nodes_per_replica);
            cJSON_AddNumberToObject(b, "cost_per_hour", pk->cost_per_hour);
        }
    } else {
        cJSON_AddNullToObject(o, "baseline_one_per_gpu");
    }
    return o;
}

static cJSON *json_node(const facts *f, size_t i)
{
    const place_plan *plan = f->plan;
    const place_node *n = &plan->nodes[i];
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    uint64_t used = 0, usable = 0;
    int busy = 0;
    for (int g = 0; g < n->n_gpus; g++) {
        used += n->gpus[g].used_bytes;
        usable += n->gpus[g].usable_bytes;
        busy += n->gpus[g].used_bytes > 0;
    }
    cJSON_AddStringToObject(o, "name", n->name);
    cJSON_AddStringToObject(o, "type", n->type);
    cJSON_AddBoolToObject(o, "inventory", n->inventory);
    cJSON_AddBoolToObject(o, "paid", node_paid(plan, i));
    cJSON_AddBoolToObject(o, "spare", n->spare);
    cJSON_AddNumberToObject(o, "price_per_hour", n->price_per_hour);
    cJSON_AddStringToObject(o, "gpu", n->n_gpus ? n->gpus[0].model : "");
    cJSON_AddNumberToObject(o, "gpus_total", n->n_gpus);
    cJSON_AddNumberToObject(o, "gpus_used", busy);
    cJSON_AddNumberToObject(o, "usable_bytes", (double)usable);
    cJSON_AddNumberToObject(o, "used_bytes", (double)used);
    cJSON_AddNumberToObject(o, "utilization", usable ? (double)used / (double)usable : 0.0);
    cJSON *gpus = cJSON_AddArrayToObject(o, "gpus");
    for (int g = 0; gpus && g < n->n_gpus; g++) {
        cJSON *go = cJSON_CreateObject();
        if (!go) break;
        cJSON_AddItemToArray(gpus, go);
        cJSON_AddNumberToObject(go, "index", g);
        cJSON_AddStringToObject(go, "model", n->gpus[g].model);
        cJSON_AddNumberToObject(go, "usable_bytes", (double)n->gpus[g].usable_bytes);
        cJSON_AddNumberToObject(go, "used_bytes", (double)n->gpus[g].used_bytes);
        cJSON_AddNumberToObject(go, "utilization",
                                n->gpus[g].usable_bytes ? (double)n->gpus[g].used_bytes /
                                                              (double)n->gpus[g].usable_bytes
                                                        : 0.0);
        cJSON_AddArrayToObject(go, "placements");
    }
    return o;
}

static cJSON *json_bom(const facts *f)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t k = 0; a && k < f->n_bom; k++) {
        const bom_row *r = &f->bom[k];
        const place_node *n = &f->plan->nodes[r->node];
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        cJSON_AddItemToArray(a, o);
        cJSON_AddStringToObject(o, "type", n->type);
        cJSON_AddStringToObject(o, "gpu", n->n_gpus ? n->gpus[0].model : "");
        cJSON_AddNumberToObject(o, "gpus_per_node", n->n_gpus);
        cJSON_AddBoolToObject(o, "inventory", r->inventory);
        cJSON_AddNumberToObject(o, "count", r->count);
        cJSON_AddNumberToObject(o, "gpus", (double)r->count * n->n_gpus);
        cJSON_AddNumberToObject(o, "price_per_hour", r->price_per_hour);
        cJSON_AddNumberToObject(o, "cost_per_hour", r->count * r->price_per_hour);
    }
    return a;
}

static cJSON *strings(const char *const *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
    return a;
}

static cJSON *json_node_loss(const facts *f)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; a && i < f->n_loss; i++) {
        const plan_node_loss *l = &f->loss[i];
        cJSON *o = cJSON_CreateObject();
        if (!o) break;
        cJSON_AddItemToArray(a, o);
        cJSON_AddStringToObject(o, "node", l->node);
        cJSON_AddItemToObject(o, "replaced", strings(l->replaced, l->n_replaced));
        cJSON_AddItemToObject(o, "needs_new_nodes",
                              strings(l->needs_new_nodes, l->n_needs_new_nodes));
        cJSON_AddItemToObject(o, "unplaced", strings(l->unplaced, l->n_unplaced));
        cJSON_AddNumberToObject(o, "extra_cost_per_hour", l->extra_cost_per_hour);
    }
    return a;
}

/* cost_by_tier, spot_savings, interruption_exposure (report.h). */
static void json_tiers(cJSON *o, const facts *f)
{
    cJSON *t = cJSON_AddObjectToObject(o, "cost_by_tier");
    for (int k = PLAN_TIER_ON_DEMAND; t && k <= PLAN_TIER_RESERVED; k++) {
        cJSON *x = cJSON_AddObjectToObject(t, plan_tier_name((plan_tier)k));
        if (!x) break;
        cJSON_AddNumberToObject(x, "nodes", f->tier[k].nodes);
        cJSON_AddNumberToObject(x, "gpus", f->tier[k].gpus);
        cJSON_AddNumberToObject(x, "cost_per_hour", f->tier[k].cost);
        cJSON_AddNumberToObject(x, "cost_per_month", f->tier[k].cost * PLAN_HOURS_PER_MONTH);
    }
    const spot_fact *s = &f->spot;
    cJSON *sv = cJSON_AddObjectToObject(o, "spot_savings");
    if (sv) {
        double save = s->on_demand_cost - s->matched_cost;
        cJSON_AddNumberToObject(sv, "spot_cost_per_hour", s->cost);
        cJSON_AddNumberToObject(sv, "on_demand_cost_per_hour", s->on_demand_cost);
        cJSON_AddNumberToObject(sv, "savings_per_hour", save);
        cJSON_AddNumberToObject(sv, "savings_per_month", save * PLAN_HOURS_PER_MONTH);
        cJSON_AddNumberToObject(sv, "nodes_not_compared", s->unmatched);
    }
    cJSON *ex = cJSON_AddObjectToObject(o, "interruption_exposure");
    if (!ex) return;
    cJSON_AddNumberToObject(ex, "interruptions_per_day", s->interruptions_per_day);
    cJSON *nodes = cJSON_AddArrayToObject(ex, "nodes");
    for (size_t k = 0; nodes && k < s->n_nodes; k++) {
        size_t i = s->nodes[k];
        double iph = f->p->bintypes[f->node_bintype[i]].interruptions_per_hour;
        cJSON *n = cJSON_CreateObject();
        if (!n) break;
        cJSON_AddItemToArray(nodes, n);
        cJSON_AddStringToObject(n, "node", f->plan->nodes[i].name);
        cJSON_AddNumberToObject(n, "interruptions_per_hour", iph);
        cJSON_AddNumberToObject(n, "interruptions_per_day", iph * 24.0);
        cJSON *ids = cJSON_AddArrayToObject(n, "placements");
        for (size_t q = 0; ids && q < f->plan->n_placements; q++)
            if (f->plan->placements[q].node == (int)i)
                cJSON_AddItemToArray(ids, cJSON_CreateString(f->plan->placements[q].id));
    }
}

/* lora_bases, training_jobs, latency (report.h). */
static void json_work(cJSON *o, const facts *f)
{
    const plan_manifest *m = manifest(f);
    cJSON *lb = cJSON_AddArrayToObject(o, "lora_bases");
    for (size_t k = 0; lb && k < f->n_lora; k++) {
        const lora_fact *l = &f->lora[k];
        cJSON *x = cJSON_CreateObject();
        if (!x) break;
        cJSON_AddItemToArray(lb, x);
        cJSON_AddStringToObject(x, "model", m->models[l->model].name);
        cJSON_AddNumberToObject(x, "adapters", l->adapters);
        cJSON_AddNumberToObject(x, "max_resident", l->resident);
        cJSON_AddNumberToObject(x, "rank", l->rank);
        cJSON_AddNumberToObject(x, "replicas_placed", f->m[l->model].placed);
        cJSON_AddNumberToObject(x, "slice_bytes", (double)l->slice_bytes);
        cJSON_AddNumberToObject(x, "separate_model_bytes", (double)l->separate_bytes);
        cJSON_AddNumberToObject(x, "cost_per_gib_hour", l->gib_hour_price);
        cJSON_AddNumberToObject(x, "separate_cost_per_hour", l->separate_per_hour);
        cJSON_AddNumberToObject(x, "plan_cost_per_hour", l->plan_per_hour);
        cJSON_AddNumberToObject(x, "savings_per_hour", l->separate_per_hour - l->plan_per_hour);
    }
    cJSON *tj = cJSON_AddArrayToObject(o, "training_jobs");
    for (size_t g = 0; tj && g < f->p->n_groups; g++) {
        size_t mi = f->p->groups[g].model;
        const plan_model *md = &m->models[mi];
        if (md->fixed || md->opts.train.method == PLAN_TRAIN_NONE) continue;
        cJSON *x = cJSON_CreateObject();
        if (!x) break;
        cJSON_AddItemToArray(tj, x);
        cJSON_AddStringToObject(x, "model", md->name);
        cJSON_AddStringToObject(x, "method", plan_train_method_name(md->opts.train.method));
        cJSON_AddStringToObject(x, "optimizer", plan_optimizer_name(md->opts.train.optimizer));
        cJSON_AddNumberToObject(x, "trainable_params", (double)f->m[mi].fp.trainable_params);
        cJSON_AddNumberToObject(x, "gpus_per_replica",
                                md->opts.train.data_parallel ? md->opts.train.data_parallel : 1);
        cJSON_AddNumberToObject(x, "per_gpu_bytes", (double)f->m[mi].fp.per_gpu_bytes);
        cJSON_AddNumberToObject(x, "replicas", f->p->groups[g].replicas);
        cJSON_AddNumberToObject(x, "placed", f->m[mi].placed);
    }
    cJSON *lat = cJSON_AddArrayToObject(o, "latency");
    for (size_t i = 0; lat && i < f->plan->n_placements; i++) {
        const place_placement *pl = &f->plan->placements[i];
        int mi = f->pl_model[i];
        if (mi < 0) continue;
        cJSON *x = cJSON_CreateObject();
        if (!x) break;
        cJSON_AddItemToArray(lat, x);
        cJSON_AddStringToObject(x, "placement", pl->id);
        cJSON_AddStringToObject(x, "model", pl->model);
        cJSON_AddStringToObject(x, "class",
                                m->models[mi].wclass == PLAN_CLASS_BATCH ? "batch" : "realtime");
        bool on = pl->node >= 0 && (size_t)pl->node < f->plan->n_nodes;
        cJSON_AddStringToObject(x, "tier", on ? plan_tier_name(f->node_tier[pl->node]) : "");
        if (pl->est_tpot_ms > 0)
            cJSON_AddNumberToObject(x, "est_tpot_ms", pl->est_tpot_ms);
        else
            cJSON_AddNullToObject(x, "est_tpot_ms");
        if (f->pl_ttft_ms[i] > 0)
            cJSON_AddNumberToObject(x, "est_ttft_ms", f->pl_ttft_ms[i]);
        else
            cJSON_AddNullToObject(x, "est_ttft_ms");
    }
}

char *plan_rpt_render_json(const facts *f)
{
    const place_plan *plan = f->plan;
    char *plan_text = plan_to_json_fleet(plan, f->p->fleet);
    if (!plan_text) return NULL;
    cJSON *plan_obj = cJSON_ParseWithLength(plan_text, strlen(plan_text));
    free(plan_text);
    if (!plan_obj) return NULL;

    cJSON *o = cJSON_CreateObject();
    if (!o) {
        cJSON_Delete(plan_obj);
        return NULL;
    }
    cJSON_AddNumberToObject(o, "report_version", 1);
    cJSON_AddStringToObject(o, "manifest", manifest(f)->source);
    cJSON_AddStringToObject(o, "fleet", f->p->fleet->source);
    cJSON_AddNumberToObject(o, "bytes_per_gib", VP_GIB);
    cJSON_AddNumberToObject(o, "hours_per_month", PLAN_HOURS_PER_MONTH);
    cJSON_AddStringToObject(o, "solver", plan->solver);
    cJSON_AddStringToObject(o, "status", plan->status);
    cJSON_AddNumberToObject(o, "solve_ms", (double)plan->solve_ms);
    cJSON_AddNumberToObject(o, "cost_per_hour", plan->cost_per_hour);
    cJSON_AddNumberToObject(o, "cost_per_month", plan->cost_per_hour * PLAN_HOURS_PER_MONTH);
    cJSON_AddNumberToObject(o, "lower_bound_per_hour", plan->lower_bound_per_hour);
    cJSON_AddNumberToObject(o, "gap", plan->gap);
    double above = max_above_optimal(plan);
    if (above < 0)
        cJSON_AddNullToObject(o, "max_above_optimal");
    else
        cJSON_AddNumberToObject(o, "max_above_optimal", above);
    cJSON_AddNumberToObject(o, "replicas_requested", f->requested);
    cJSON_AddNumberToObject(o, "replicas_placed", f->placed);
    cJSON_AddNumberToObject(o, "replicas_unplaced", (double)plan->n_unplaced);
    cJSON_AddNumberToObject(o, "nodes_paid", f->c.nodes_paid);
    cJSON_AddNumberToObject(o, "gpus_paid", f->c.gpus_paid);
    cJSON_AddNumberToObject(o, "nodes_idle_inventory", f->c.nodes_idle);
    cJSON_AddNumberToObject(o, "gpus_idle_inventory", f->c.gpus_idle);
    cJSON_AddNumberToObject(o, "gpus_total", f->c.gpus_paid + f->c.gpus_idle);
    cJSON_AddNumberToObject(o, "gpus_used", f->c.gpus_busy);
    cJSON_AddNumberToObject(o, "usable_bytes", (double)(f->c.usable_paid + f->c.usable_idle));
    cJSON_AddNumberToObject(o, "used_bytes", (double)f->c.used);

    cJSON *models = cJSON_AddArrayToObject(o, "models");
    for (size_t g = 0; models && g < f->p->n_groups; g++)
        cJSON_AddItemToArray(models, json_model(f, g));

    cJSON *nodes = cJSON_AddArrayToObject(o, "nodes");
    /* Node position in the report's array for each plan node, to attach placement ids. */
    int *slot = calloc(plan->n_nodes ? plan->n_nodes : 1, sizeof *slot);
    if (!slot) {
        cJSON_Delete(o);
        cJSON_Delete(plan_obj);
        return NULL;
    }
    int k = 0;
    for (size_t i = 0; nodes && i < plan->n_nodes; i++) {
        slot[i] = -1;
        if (!node_shown(plan, i)) continue;
        cJSON_AddItemToArray(nodes, json_node(f, i));
        slot[i] = k++;
    }
    for (size_t i = 0; nodes && i < plan->n_placements; i++) {
        const place_placement *pl = &plan->placements[i];
        if (pl->node < 0 || (size_t)pl->node >= plan->n_nodes || slot[pl->node] < 0) continue;
        cJSON *gpus =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(nodes, slot[pl->node]), "gpus");
        for (int j = 0; j < pl->n_gpus; j++) {
            cJSON *ids = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(gpus, pl->gpus[j]),
                                                          "placements");
            if (ids) cJSON_AddItemToArray(ids, cJSON_CreateString(pl->id));
        }
    }
    free(slot);

    cJSON *unplaced = cJSON_AddArrayToObject(o, "unplaced");
    for (size_t i = 0; unplaced && i < plan->n_unplaced; i++) {
        cJSON *u = cJSON_CreateObject();
        if (!u) break;
        cJSON_AddItemToArray(unplaced, u);
        cJSON_AddStringToObject(u, "model", plan->unplaced[i].model);
        cJSON_AddNumberToObject(u, "replica", plan->unplaced[i].replica);
        cJSON_AddStringToObject(u, "reason", plan->unplaced[i].reason);
    }

    cJSON_AddItemToObject(o, "bill_of_materials", json_bom(f));
    json_tiers(o, f);
    json_work(o, f);

    if (f->b) {
        cJSON *b = cJSON_AddObjectToObject(o, "baselines");
        if (b) {
            cJSON_AddItemToObject(b, "one_model_per_gpu",
                                  json_baseline(f, &f->b->one_per_gpu,
                                                "each replica alone on whole nodes of the "
                                                "cheapest node kind that holds it"));
            cJSON_AddItemToObject(b, "a100_80gb",
                                  json_baseline(f, &f->b->a100,
                                                "first-fit decreasing on A100-80GB instance "
                                                "types only, allow-lists ignored"));
        }
    } else {
        cJSON_AddNullToObject(o, "baselines");
    }
    if (f->loss)
        cJSON_AddItemToObject(o, "node_loss", json_node_loss(f));
    else
        cJSON_AddNullToObject(o, "node_loss");
    cJSON_AddNumberToObject(o, "spare_nodes", (double)f->spare_nodes);
    if (f->spare_nodes) {
        cJSON_AddNumberToObject(o, "cost_without_spares_per_hour", f->plain_cost);
        cJSON_AddNumberToObject(o, "spare_cost_per_hour", f->plan->cost_per_hour - f->plain_cost);
    } else {
        cJSON_AddNullToObject(o, "cost_without_spares_per_hour");
        cJSON_AddNullToObject(o, "spare_cost_per_hour");
    }
    cJSON_AddItemToObject(o, "plan", plan_obj);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}
