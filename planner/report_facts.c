/* report_facts.c - the facts a report is written from, gathered once from the plan and the
 * problem: per model (footprint, TP x PP, where its replicas went), the one count of nodes, GPUs
 * and bytes, the bill of materials, and whether a baseline placed the same replicas.
 *
 * The work's facts are gathered here too: cost by tier (on demand, spot, reserved), what the spot
 * nodes would cost on demand and how often they are expected to be reclaimed, each LoRA base
 * against serving its adapters as separate models, and each placement's time to first token.
 *
 * Every figure a section prints comes from here, so the Cost lines, the baseline table, the bill
 * of materials and the JSON report cannot disagree: the paid nodes are the nodes hosting a
 * placement, their prices add up to the plan's cost_per_hour, and their GPUs are the GPUs every
 * section counts. Model lookups by name go through a sorted index, so a million placements cost
 * O(P log M), not O(P M). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_int.h"

typedef struct name_index {
    const plan_manifest *m;
    size_t *idx;
} name_index;

static int find_model(const name_index *ni, const char *name)
{
    size_t lo = 0, hi = ni->m->n_models;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ni->m->models[ni->idx[mid]].name, name);
        if (c == 0) return (int)ni->idx[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static void sort_names(name_index *ni)
{
    /* Insertion into place with a binary search keeps this free of a qsort context pointer. */
    for (size_t i = 0; i < ni->m->n_models; i++) {
        const char *name = ni->m->models[i].name;
        size_t lo = 0, hi = i;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(ni->m->models[ni->idx[mid]].name, name) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        memmove(&ni->idx[lo + 1], &ni->idx[lo], (i - lo) * sizeof *ni->idx);
        ni->idx[lo] = i;
    }
}

static int cmp_pair(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    if (x->model != y->model) return x->model < y->model ? -1 : 1;
    return x->node < y->node ? -1 : x->node > y->node;
}

/* The footprint shown for a model that has no placement: the first node kind it fits, else the
 * plain single-GPU footprint (so the table still says how big it is). */
static void fallback_fp(const plan_problem *p, size_t g, model_fact *mf)
{
    const plan_group *grp = &p->groups[g];
    for (size_t b = 0; b < p->n_bintypes; b++)
        if (grp->shapes[b].ok) {
            mf->fp = grp->shapes[b].fp;
            mf->tp = grp->shapes[b].tp;
            mf->pp = grp->shapes[b].pp;
            mf->per_gpu = grp->shapes[b].fp.per_gpu_bytes;
            return;
        }
    const plan_model *m = &p->manifest->models[grp->model];
    if (m->fixed) {
        plan_footprint_fixed(m->memory_bytes, &mf->fp);
    } else {
        plan_fp_opts o = m->opts;
        if (!o.tp) o.tp = 1;
        if (!o.pp) o.pp = 1;
        vp_err e;
        if (plan_footprint_compute(&m->arch, &o, &mf->fp, &e)) memset(&mf->fp, 0, sizeof mf->fp);
    }
    mf->tp = mf->fp.tp;
    mf->pp = mf->fp.pp;
    mf->per_gpu = mf->fp.per_gpu_bytes;
}

/* Per model: replicas placed, TP degrees, per-GPU bytes and the (model, node) pairs. */
static int gather_models(facts *f)
{
    const plan_problem *p = f->p;
    const place_plan *plan = f->plan;
    const plan_manifest *m = p->manifest;
    name_index ni = {m, calloc(m->n_models ? m->n_models : 1, sizeof(size_t))};
    bool *seen = calloc(m->n_models ? m->n_models : 1, sizeof *seen);
    if (!ni.idx || !seen) {
        free(ni.idx);
        free(seen);
        return -ENOMEM;
    }
    sort_names(&ni);
    for (size_t i = 0; i < plan->n_placements; i++) {
        const place_placement *pl = &plan->placements[i];
        int mi = find_model(&ni, pl->model);
        f->pl_model[i] = mi;
        /* A plan read back from elsewhere may name what this problem lacks: leave it out. */
        if (mi < 0 || pl->node < 0 || (size_t)pl->node >= plan->n_nodes) continue;
        model_fact *mf = &f->m[mi];
        if (pl->stage <= 0) mf->placed++;
        if (pl->bytes_per_gpu > mf->per_gpu) mf->per_gpu = pl->bytes_per_gpu;
        if (!mf->per_gpu_min || pl->bytes_per_gpu < mf->per_gpu_min)
            mf->per_gpu_min = pl->bytes_per_gpu;
        if (pl->n_gpus > 0 && pl->n_gpus < 32) mf->tp_mask |= 1u << pl->n_gpus;
        if (!seen[mi]) {
            seen[mi] = true;
            mf->tp = (uint32_t)pl->n_gpus;
            mf->pp = (uint32_t)(pl->n_stages > 0 ? pl->n_stages : 1);
            int bt = f->node_bintype[pl->node];
            for (size_t g = 0; bt >= 0 && g < p->n_groups; g++)
                if (p->groups[g].model == (size_t)mi && p->groups[g].shapes[bt].ok)
                    mf->fp = p->groups[g].shapes[bt].fp;
        }
        f->pairs[f->n_pairs++] = (pair){(size_t)mi, (size_t)pl->node, 1};
    }
    for (size_t g = 0; g < p->n_groups; g++) {
        size_t mi = p->groups[g].model;
        f->requested += p->groups[g].replicas;
        if (!seen[mi] || !f->m[mi].fp.total_bytes) {
            uint32_t tp = f->m[mi].tp, pp = f->m[mi].pp;
            uint64_t per = f->m[mi].per_gpu;
            fallback_fp(p, g, &f->m[mi]);
            if (seen[mi]) { /* keep what the placements say */
                f->m[mi].tp = tp;
                f->m[mi].pp = pp;
                f->m[mi].per_gpu = per;
            }
        }
        f->placed += f->m[mi].placed;
    }
    free(seen);
    int rc = plan_rpt_colours_assign(m, ni.idx, f->colour);
    free(ni.idx);
    return rc ? -ENOMEM : 0;
}

static void merge_pairs(facts *f)
{
    qsort(f->pairs, f->n_pairs, sizeof *f->pairs, cmp_pair);
    size_t w = 0;
    for (size_t i = 0; i < f->n_pairs; i++) {
        if (w && f->pairs[w - 1].model == f->pairs[i].model &&
            f->pairs[w - 1].node == f->pairs[i].node)
            f->pairs[w - 1].count++;
        else
            f->pairs[w++] = f->pairs[i];
    }
    f->n_pairs = w;
    for (size_t i = 0; i < f->n_pairs; i++) {
        model_fact *mf = &f->m[f->pairs[i].model];
        if (!mf->pairs_to) mf->pairs_from = i;
        mf->pairs_to = i + 1;
    }
}

static void count_nodes(facts *f)
{
    const place_plan *plan = f->plan;
    counts *c = &f->c;
    for (size_t i = 0; i < plan->n_nodes; i++) {
        const place_node *n = &plan->nodes[i];
        bool paid = node_paid(plan, i);
        if (!paid && !n->inventory) continue; /* idle bought nodes are not part of the plan */
        uint64_t usable = 0;
        for (int g = 0; g < n->n_gpus; g++) {
            usable += n->gpus[g].usable_bytes;
            c->used += n->gpus[g].used_bytes;
            c->gpus_busy += n->gpus[g].used_bytes > 0;
        }
        if (paid) {
            c->nodes_paid++;
            c->gpus_paid += (uint32_t)n->n_gpus;
            c->usable_paid += usable;
            c->cost_paid += n->price_per_hour;
        } else {
            c->nodes_idle++;
            c->gpus_idle += (uint32_t)n->n_gpus;
            c->usable_idle += usable;
        }
    }
}

static bool same_kind(const place_node *a, const place_node *b, bool inv_a, double price_a)
{
    if (inv_a != b->inventory || price_a != b->price_per_hour || a->n_gpus != b->n_gpus)
        return false;
    if (strcmp(a->type, b->type)) return false;
    return !a->n_gpus || !strcmp(a->gpus[0].model, b->gpus[0].model);
}

static int cmp_bom(const void *a, const void *b)
{
    const bom_row *x = a, *y = b;
    double cx = x->count * x->price_per_hour, cy = y->count * y->price_per_hour;
    if (cx != cy) return cx > cy ? -1 : 1;
    return x->node < y->node ? -1 : x->node > y->node;
}

/* Paid nodes grouped by kind. Quadratic in the number of kinds only (a handful). */
static int build_bom(facts *f)
{
    const place_plan *plan = f->plan;
    f->bom = calloc(f->c.nodes_paid ? f->c.nodes_paid : 1, sizeof *f->bom);
    if (!f->bom) return -ENOMEM;
    for (size_t i = 0; i < plan->n_nodes; i++) {
        const place_node *n = &plan->nodes[i];
        if (!node_paid(plan, i)) continue;
        size_t k = 0;
        while (k < f->n_bom && !same_kind(&plan->nodes[f->bom[k].node], n, f->bom[k].inventory,
                                          f->bom[k].price_per_hour))
            k++;
        if (k == f->n_bom) f->bom[f->n_bom++] = (bom_row){i, n->inventory, n->price_per_hour, 0};
        f->bom[k].count++;
    }
    qsort(f->bom, f->n_bom, sizeof *f->bom, cmp_bom);
    return 0;
}

/* ------------------------------------------------------------------- what the work is */

/* The on-demand bin type a spot bin type stands against: same type name without ":spot", else the
 * cheapest purchasable on-demand type with the same GPU model and count; -1 when none. */
static int on_demand_twin(const plan_problem *p, int b)
{
    const plan_bintype *s = &p->bintypes[b];
    size_t n = strlen(s->type);
    const char *suffix = ":spot";
    size_t base = n > 5 && !strcmp(s->type + n - 5, suffix) ? n - 5 : n;
    int best = -1;
    for (size_t k = 0; k < p->n_bintypes; k++) {
        const plan_bintype *t = &p->bintypes[k];
        if (t->tier != PLAN_TIER_ON_DEMAND || t->inventory) continue;
        if (strlen(t->type) == base && !strncmp(t->type, s->type, base)) return (int)k;
        if (t->gpu == s->gpu && t->n_gpus == s->n_gpus &&
            (best < 0 || t->price_per_hour < p->bintypes[best].price_per_hour))
            best = (int)k;
    }
    return best;
}

/* Cost by tier, and what the spot nodes would cost on demand and how often they are reclaimed. */
static int gather_tiers(facts *f)
{
    const place_plan *plan = f->plan;
    f->spot.nodes = calloc(plan->n_nodes ? plan->n_nodes : 1, sizeof *f->spot.nodes);
    if (!f->spot.nodes) return -ENOMEM;
    for (size_t i = 0; i < plan->n_nodes; i++) {
        int bt = f->node_bintype[i];
        f->node_tier[i] = bt >= 0 ? f->p->bintypes[bt].tier : PLAN_TIER_ON_DEMAND;
        if (!place_node_load(plan, i)) continue;
        const place_node *n = &plan->nodes[i];
        tier_fact *t = &f->tier[f->node_tier[i]];
        t->nodes++;
        t->gpus += (uint32_t)n->n_gpus;
        t->cost += n->price_per_hour;
        if (f->node_tier[i] != PLAN_TIER_SPOT) continue;
        f->spot.cost += n->price_per_hour;
        f->spot.interruptions_per_day += 24.0 * f->p->bintypes[bt].interruptions_per_hour;
        f->spot.nodes[f->spot.n_nodes++] = i;
        int od = on_demand_twin(f->p, bt);
        if (od < 0) {
            f->spot.unmatched++;
            continue;
        }
        f->spot.matched_cost += n->price_per_hour;
        f->spot.on_demand_cost += f->p->bintypes[od].price_per_hour;
    }
    return 0;
}

/* One LoRA base: its slice against each adapter served as a separate model (the same footprint
 * with no adapters, on the same node kind), both priced at the plan's cost per GiB held. */
static void gather_lora_one(facts *f, size_t mi, lora_fact *lf)
{
    const plan_model *m = &manifest(f)->models[mi];
    const model_fact *mf = &f->m[mi];
    const plan_lora *l = &m->opts.lora;
    lf->model = mi;
    lf->adapters = l->adapters;
    lf->resident = l->max_resident ? l->max_resident : l->adapters < 8 ? l->adapters : 8;
    lf->rank = l->rank;
    lf->slice_bytes = mf->fp.total_bytes;
    plan_fp_opts o = m->opts;
    memset(&o.lora, 0, sizeof o.lora);
    o.tp = mf->fp.tp ? mf->fp.tp : 1;
    o.pp = mf->fp.pp ? mf->fp.pp : 1;
    plan_footprint sep;
    vp_err e;
    if (plan_footprint_compute(&m->arch, &o, &sep, &e) == 0) lf->separate_bytes = sep.total_bytes;
    if (f->c.used > 0) lf->gib_hour_price = f->c.cost_paid / ((double)f->c.used / VP_GIB);
    lf->separate_per_hour =
        lf->gib_hour_price * lf->adapters * ((double)lf->separate_bytes / VP_GIB);
    lf->plan_per_hour = lf->gib_hour_price * mf->placed * ((double)lf->slice_bytes / VP_GIB);
}

/* LoRA bases, what kinds of work there are, and each placement's time to first token. */
static int gather_work(facts *f)
{
    const plan_manifest *m = manifest(f);
    const place_plan *plan = f->plan;
    f->lora = calloc(m->n_models ? m->n_models : 1, sizeof *f->lora);
    if (!f->lora) return -ENOMEM;
    for (size_t i = 0; i < m->n_models; i++) {
        const plan_model *md = &m->models[i];
        f->any_batch |= md->wclass == PLAN_CLASS_BATCH;
        f->any_train |= !md->fixed && md->opts.train.method != PLAN_TRAIN_NONE;
        f->any_slo |= md->tpot_ms > 0 || md->ttft_ms > 0;
        if (!md->fixed && md->opts.lora.adapters) gather_lora_one(f, i, &f->lora[f->n_lora++]);
    }
    for (size_t i = 0; i < plan->n_placements; i++) {
        const place_placement *pl = &plan->placements[i];
        int mi = f->pl_model[i];
        if (mi < 0 || pl->node < 0 || (size_t)pl->node >= plan->n_nodes) continue;
        const place_node *n = &plan->nodes[pl->node];
        const plan_gpu_model *g = n->n_gpus ? plan_fleet_gpu(f->p->fleet, n->gpus[0].model) : NULL;
        f->pl_ttft_ms[i] = plan_model_ttft_ms(&m->models[mi], g, (uint32_t)pl->n_gpus);
    }
    return 0;
}

int plan_rpt_facts_build(facts *f, const plan_report_input *in)
{
    memset(f, 0, sizeof *f);
    f->p = in->problem;
    f->plan = in->plan;
    f->b = in->baselines;
    f->loss = in->node_loss;
    f->n_loss = in->node_loss ? in->n_node_loss : 0;
    f->spare_nodes = in->spare_nodes;
    f->plain_cost = in->plain_cost_per_hour;
    const place_plan *plan = f->plan;
    size_t n_models = f->p->manifest->n_models;
    f->m = calloc(n_models ? n_models : 1, sizeof *f->m);
    f->pairs = calloc(plan->n_placements ? plan->n_placements : 1, sizeof *f->pairs);
    f->node_bintype = calloc(plan->n_nodes ? plan->n_nodes : 1, sizeof *f->node_bintype);
    f->colour = calloc(n_models ? n_models : 1, sizeof *f->colour);
    f->pl_model = calloc(plan->n_placements ? plan->n_placements : 1, sizeof *f->pl_model);
    f->node_tier = calloc(plan->n_nodes ? plan->n_nodes : 1, sizeof *f->node_tier);
    f->pl_ttft_ms = calloc(plan->n_placements ? plan->n_placements : 1, sizeof *f->pl_ttft_ms);
    if (!f->m || !f->pairs || !f->node_bintype || !f->colour || !f->pl_model || !f->node_tier ||
        !f->pl_ttft_ms)
        return -ENOMEM;
    for (size_t i = 0; i < plan->n_nodes; i++)
        f->node_bintype[i] = plan_node_bintype(f->p, &plan->nodes[i]);
    int rc = gather_models(f);
    if (rc) return rc;
    merge_pairs(f);
    count_nodes(f);
    if ((rc = gather_tiers(f)) || (rc = gather_work(f))) return rc;
    return build_bom(f);
}

void plan_rpt_facts_free(facts *f)
{
    free(f->m);
    free(f->pairs);
    free(f->node_bintype);
    free(f->bom);
    free(f->colour);
    free(f->pl_model);
    free(f->node_tier);
    free(f->pl_ttft_ms);
    free(f->spot.nodes);
    free(f->lora);
}

/* A replica the plan left unplaced whose model fits no node kind of the problem at all: the
 * one-model-per-GPU baseline, which picks among the same node kinds and shapes, leaves it
 * unplaced too. */
static bool fits_nowhere(const plan_problem *p, const char *model)
{
    int g = plan_group_find(p, model);
    if (g < 0) return false;
    for (size_t b = 0; b < p->n_bintypes; b++)
        if (p->groups[g].shapes[b].ok) return false;
    return true;
}

bool plan_rpt_like_for_like(const facts *f, const plan_baseline *bl, char *why, size_t cap)
{
    snprintf(why, cap, "%s", "");
    if (!bl->available) {
        snprintf(why, cap, "the policy has no node kind to use");
        return false;
    }
    if (bl->replicas_placed != f->placed) {
        snprintf(why, cap,
                 "it places %u of %u replicas, this plan %u: a different set of replicas, so its "
                 "cost is no saving",
                 bl->replicas_placed, f->requested, f->placed);
        return false;
    }
    if (f->placed == f->requested) return true;
    /* Same count, some unplaced: the same set only when the baseline provably leaves out the
     * same replicas. The baseline reports counts, not which replicas; the one-model-per-GPU
     * policy uses the problem's own node kinds, so replicas that fit none of them are unplaced
     * there too. */
    bool same = f->b && bl == &f->b->one_per_gpu;
    for (size_t i = 0; same && i < f->plan->n_unplaced; i++)
        same = fits_nowhere(f->p, f->plan->unplaced[i].model);
    if (same) return true;
    snprintf(why, cap,
             "it places %u of %u replicas like this plan, but the report cannot tell whether the "
             "same ones, so its cost is not claimed as a saving",
             bl->replicas_placed, f->requested);
    return false;
}
