/* report.c - renders a plan as the cost reviewer's report: text, Markdown, JSON or HTML.
 *
 * The three human formats share one document: a list of blocks (title, headings, key/value
 * lists, paragraphs, tables of plain-text cells) built once from the plan, then written by a
 * renderer that only knows its own syntax and escaping (column padding for text, GitHub pipes for
 * Markdown, escaped HTML). So every fact appears in every format, and escaping happens in exactly
 * one place per format. The JSON report is built separately with cJSON because its contract is
 * exact values, not prose: bytes as integers, money unrounded, the plan embedded as plan_to_json
 * writes it. Every figure is derived from the plan and the problem; nothing is recomputed in a
 * way that could disagree with them. Allocation failures are remembered by the document and
 * turn the result into NULL. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "report.h"

#define MAX_GPU_ROWS 512   /* beyond this, the per-GPU table is cut (the JSON report has all) */
#define MAX_NODE_NAMES 6   /* node names listed per model in the human formats */

int plan_report_parse_fmt(const char *s, plan_report_fmt *out)
{
    static const struct { const char *name; plan_report_fmt f; } names[] = {
        {"text", PLAN_REPORT_TEXT}, {"txt", PLAN_REPORT_TEXT}, {"md", PLAN_REPORT_MD},
        {"markdown", PLAN_REPORT_MD}, {"json", PLAN_REPORT_JSON}, {"html", PLAN_REPORT_HTML},
    };
    for (size_t i = 0; s && i < VP_ARRAY_LEN(names); i++)
        if (!strcmp(s, names[i].name)) {
            *out = names[i].f;
            return 0;
        }
    return VP_ENOTFOUND;
}

const char *plan_report_fmt_name(plan_report_fmt f)
{
    switch (f) {
    case PLAN_REPORT_TEXT: return "text";
    case PLAN_REPORT_MD: return "md";
    case PLAN_REPORT_JSON: return "json";
    case PLAN_REPORT_HTML: return "html";
    }
    return "?";
}

/* ---------------------------------------------------------------- facts gathered from the plan */

typedef struct model_fact {
    plan_footprint fp;        /* of the node kind replica 0 landed on (or the first that fits) */
    uint32_t tp, pp;
    uint64_t per_gpu;         /* largest bytes_per_gpu over its placements */
    uint64_t per_gpu_min;     /* smallest; differs when replicas sit on different GPU kinds */
    uint32_t tp_mask;         /* bit k set: some placement has tensor-parallel degree k */
    uint32_t placed;          /* replicas with a placement (stage 0 or unpipelined) */
    size_t pairs_from, pairs_to; /* its run in the sorted (model, node) pairs */
} model_fact;

typedef struct pair {
    size_t model, node, count;
} pair;

typedef struct facts {
    const plan_problem *p;
    const place_plan *plan;
    const plan_baselines *b;
    model_fact *m;
    pair *pairs;
    size_t n_pairs;
    int *node_bintype;        /* [plan->n_nodes], -1 when unknown */
    uint32_t requested, placed;
    uint32_t gpus_total, gpus_used;   /* on the nodes shown: hosting something, or inventory */
    uint32_t paid_nodes, paid_gpus;   /* nodes that host something (the ones the cost counts) */
    uint64_t usable, used;
} facts;

static const plan_manifest *manifest(const facts *f) { return f->p->manifest; }

/* Model index by name: a sorted index searched with bsearch, so a million placements cost
 * O(P log M), not O(P M). */
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
        if (c < 0) lo = mid + 1;
        else hi = mid;
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
            if (strcmp(ni->m->models[ni->idx[mid]].name, name) < 0) lo = mid + 1;
            else hi = mid;
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

static int node_bintype(const plan_problem *p, const place_node *n)
{
    for (size_t b = 0; b < p->n_bintypes; b++) {
        const plan_bintype *bt = &p->bintypes[b];
        if (n->inventory ? (bt->inventory && !strcmp(bt->inv_name, n->name))
                         : (!bt->inventory && !strcmp(bt->type, n->type)))
            return (int)b;
    }
    return -1;
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

static int facts_build(facts *f, const plan_problem *p, const place_plan *plan,
                       const plan_baselines *b)
{
    memset(f, 0, sizeof *f);
    f->p = p;
    f->plan = plan;
    f->b = b;
    const plan_manifest *m = p->manifest;
    name_index ni = {m, calloc(m->n_models ? m->n_models : 1, sizeof(size_t))};
    f->m = calloc(m->n_models ? m->n_models : 1, sizeof *f->m);
    f->pairs = calloc(plan->n_placements ? plan->n_placements : 1, sizeof *f->pairs);
    f->node_bintype = calloc(plan->n_nodes ? plan->n_nodes : 1, sizeof *f->node_bintype);
    if (!ni.idx || !f->m || !f->pairs || !f->node_bintype) {
        free(ni.idx);
        return -ENOMEM;
    }
    sort_names(&ni);
    for (size_t i = 0; i < plan->n_nodes; i++) f->node_bintype[i] = node_bintype(p, &plan->nodes[i]);

    /* Group index of each model: groups are in manifest order, but look it up to be sure. */
    bool *seen = calloc(m->n_models ? m->n_models : 1, sizeof *seen);
    if (!seen) {
        free(ni.idx);
        return -ENOMEM;
    }
    for (size_t i = 0; i < plan->n_placements; i++) {
        const place_placement *pl = &plan->placements[i];
        int mi = find_model(&ni, pl->model);
        if (mi < 0) continue;
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
            int bt = pl->node >= 0 && (size_t)pl->node < plan->n_nodes ? f->node_bintype[pl->node]
                                                                       : -1;
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
    free(ni.idx);

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

    for (size_t i = 0; i < plan->n_nodes; i++) {
        const place_node *n = &plan->nodes[i];
        bool hosts = place_node_load(plan, i) > 0;
        if (!hosts && !n->inventory) continue; /* idle bought nodes cost nothing: not shown */
        if (hosts) {
            f->paid_nodes++;
            f->paid_gpus += (uint32_t)n->n_gpus;
        }
        for (int g = 0; g < n->n_gpus; g++) {
            f->gpus_total++;
            f->usable += n->gpus[g].usable_bytes;
            f->used += n->gpus[g].used_bytes;
            if (n->gpus[g].used_bytes) f->gpus_used++;
        }
    }
    return 0;
}

static void facts_free(facts *f)
{
    free(f->m);
    free(f->pairs);
    free(f->node_bintype);
}

static bool node_shown(const place_plan *plan, size_t i)
{
    return plan->nodes[i].inventory || place_node_load(plan, i) > 0;
}

static double max_above_optimal(const place_plan *plan)
{
    if (plan->lower_bound_per_hour <= 0) return -1;
    return (plan->cost_per_hour - plan->lower_bound_per_hour) / plan->lower_bound_per_hour;
}

/* ------------------------------------------------------------------------ the document model */

typedef enum bk_kind { BK_TITLE, BK_HEAD, BK_KV, BK_TEXT, BK_TABLE } bk_kind;

typedef struct block {
    bk_kind kind;
    char *text;          /* title, heading, paragraph */
    size_t ncols;        /* table and key/value columns */
    char align[16];      /* 'l' or 'r' per column */
    char **cells;        /* row-major; for tables the first row is the header */
    size_t n_cells, cap_cells;
} block;

typedef struct doc {
    block *b;
    size_t n, cap;
    bool oom;
} doc;

static char *vfmt(const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0) return NULL;
    char *s = malloc((size_t)n + 1);
    if (s) vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

static block *doc_add(doc *d, bk_kind kind)
{
    if (d->oom) return NULL;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 32;
        block *nb = realloc(d->b, cap * sizeof *nb);
        if (!nb) { d->oom = true; return NULL; }
        d->b = nb;
        d->cap = cap;
    }
    block *b = &d->b[d->n++];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    return b;
}

static void doc_free(doc *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->b[i].text);
        for (size_t c = 0; c < d->b[i].n_cells; c++) free(d->b[i].cells[c]);
        free(d->b[i].cells);
    }
    free(d->b);
}

__attribute__((format(printf, 3, 4))) static void doc_textf(doc *d, bk_kind kind, const char *fmt,
                                                            ...)
{
    block *b = doc_add(d, kind);
    if (!b) return;
    va_list ap;
    va_start(ap, fmt);
    b->text = vfmt(fmt, ap);
    va_end(ap);
    if (!b->text) d->oom = true;
}

static void cell_put(doc *d, char *s)
{
    block *b = d->n ? &d->b[d->n - 1] : NULL;
    if (!s || !b || d->oom) {
        free(s);
        d->oom = true;
        return;
    }
    if (b->n_cells == b->cap_cells) {
        size_t cap = b->cap_cells ? b->cap_cells * 2 : 16;
        char **nc = realloc(b->cells, cap * sizeof *nc);
        if (!nc) { free(s); d->oom = true; return; }
        b->cells = nc;
        b->cap_cells = cap;
    }
    b->cells[b->n_cells++] = s;
}

__attribute__((format(printf, 2, 3))) static void doc_cell(doc *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vfmt(fmt, ap);
    va_end(ap);
    cell_put(d, s);
}

/* Starts a table; `align` has one 'l' or 'r' per column, headers follow. */
static void doc_table(doc *d, const char *align, ...)
{
    block *b = doc_add(d, BK_TABLE);
    if (!b) return;
    b->ncols = strlen(align);
    snprintf(b->align, sizeof b->align, "%s", align);
    va_list ap;
    va_start(ap, align);
    for (size_t i = 0; i < b->ncols; i++) {
        const char *h = va_arg(ap, const char *);
        cell_put(d, strdup(h));
    }
    va_end(ap);
}

__attribute__((format(printf, 3, 4))) static void doc_kv(doc *d, const char *key, const char *fmt,
                                                         ...)
{
    block *b = d->n ? &d->b[d->n - 1] : NULL;
    if (!b || b->kind != BK_KV) {
        b = doc_add(d, BK_KV);
        if (!b) return;
        b->ncols = 2;
        strcpy(b->align, "ll");
    }
    cell_put(d, strdup(key));
    va_list ap;
    va_start(ap, fmt);
    char *s = vfmt(fmt, ap);
    va_end(ap);
    cell_put(d, s);
}

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
    if (!n) snprintf(b.s, sizeof b.s, "-");
    else if (n >= 1000000000ULL) snprintf(b.s, sizeof b.s, "%.2fB", (double)n / 1e9);
    else snprintf(b.s, sizeof b.s, "%.0fM", (double)n / 1e6);
    return b;
}

/* ------------------------------------------------------------------------------ the sections */

static void sec_header(doc *d, const facts *f)
{
    const place_plan *plan = f->plan;
    doc_textf(d, BK_TITLE, "vrampack plan report");
    doc_kv(d, "Manifest", "%s", manifest(f)->source);
    doc_kv(d, "Fleet", "%s (gpu_memory_utilization %.2f)", f->p->fleet->source,
           f->p->fleet->util_ppm / 1e6);
    doc_kv(d, "Solver", "%s, status %s, %llu ms", plan->solver, plan->status,
           (unsigned long long)plan->solve_ms);
    doc_kv(d, "Models", "%zu models, %u replicas requested, %u placed, %u unplaced",
           manifest(f)->n_models, f->requested, f->placed, (unsigned)plan->n_unplaced);
    doc_kv(d, "Units", "sizes in GiB (1 GiB = 2^30 bytes); a month is %.0f hours",
           PLAN_HOURS_PER_MONTH);
}

static void sec_cost(doc *d, const facts *f)
{
    const place_plan *plan = f->plan;
    doc_textf(d, BK_HEAD, "Cost");
    doc_kv(d, "Plan", "%s/hour, %s/month", money(plan->cost_per_hour).s,
           money(plan->cost_per_hour * PLAN_HOURS_PER_MONTH).s);
    doc_kv(d, "Lower bound", "%s/hour, %s/month", money(plan->lower_bound_per_hour).s,
           money(plan->lower_bound_per_hour * PLAN_HOURS_PER_MONTH).s);
    double above = max_above_optimal(plan);
    if (above < 0)
        doc_kv(d, "Gap", "no lower bound: how far from optimal is unknown");
    else if (plan->cost_per_hour <= plan->lower_bound_per_hour)
        doc_kv(d, "Gap", "none: the plan meets its lower bound, so it is optimal");
    else
        doc_kv(d, "Gap", "the plan costs at most %s more than the optimum (gap %s of its cost)",
               pct(above).s, pct(plan->gap).s);
    size_t nodes = 0;
    for (size_t i = 0; i < plan->n_nodes; i++) nodes += node_shown(plan, i);
    doc_kv(d, "GPUs", "%u of %u in use on %zu nodes; %s GiB used of %s GiB usable (%s)",
           f->gpus_used, f->gpus_total, nodes, gib(f->used).s, gib(f->usable).s,
           util(f->used, f->usable).s);
}

static void sec_unplaced(doc *d, const facts *f)
{
    const place_plan *plan = f->plan;
    doc_textf(d, BK_HEAD, "Unplaced replicas");
    if (!plan->n_unplaced) {
        doc_textf(d, BK_TEXT, "None: every requested replica has a place.");
        return;
    }
    doc_textf(d, BK_TEXT, "%zu replicas could not be placed; the plan's cost does not include them.",
              plan->n_unplaced);
    doc_table(d, "lrl", "model", "replicas", "reason");
    /* Consecutive entries of one model with one reason collapse into a row. */
    for (size_t i = 0; i < plan->n_unplaced;) {
        const place_unplaced *u = &plan->unplaced[i];
        size_t j = i + 1;
        while (j < plan->n_unplaced && !strcmp(plan->unplaced[j].model, u->model) &&
               !strcmp(plan->unplaced[j].reason, u->reason))
            j++;
        doc_cell(d, "%s", u->model);
        if (j - i == 1) doc_cell(d, "%u", u->replica);
        else doc_cell(d, "%u-%u (%zu)", u->replica, plan->unplaced[j - 1].replica, j - i);
        doc_cell(d, "%s", u->reason);
        i = j;
    }
}

static void baseline_row(doc *d, const facts *f, const char *name, const plan_baseline *bl)
{
    doc_cell(d, "%s", name);
    if (!bl->available) {
        for (int i = 0; i < 8; i++) doc_cell(d, "-");
        return;
    }
    double save = bl->cost_per_hour - f->plan->cost_per_hour;
    doc_cell(d, "%s", money(bl->cost_per_hour).s);
    doc_cell(d, "%s", money(bl->cost_per_hour * PLAN_HOURS_PER_MONTH).s);
    doc_cell(d, "%u", bl->nodes);
    doc_cell(d, "%u", bl->gpus);
    doc_cell(d, "%u", bl->replicas_unplaced);
    doc_cell(d, "%s", money(save).s);
    doc_cell(d, "%s", money(save * PLAN_HOURS_PER_MONTH).s);
    doc_cell(d, "%s", bl->cost_per_hour > 0 ? pct(save / bl->cost_per_hour).s : "-");
}

static void sec_baselines(doc *d, const facts *f)
{
    const plan_baselines *b = f->b;
    if (!b) return;
    const place_plan *plan = f->plan;
    doc_textf(d, BK_HEAD, "Against the baselines");
    doc_table(d, "lrrrrrrrr", "policy", "$/hour", "$/month", "nodes", "GPUs", "unplaced",
              "saved $/hour", "saved $/month", "saved %");
    doc_cell(d, "this plan");
    doc_cell(d, "%s", money(plan->cost_per_hour).s);
    doc_cell(d, "%s", money(plan->cost_per_hour * PLAN_HOURS_PER_MONTH).s);
    doc_cell(d, "%u", f->paid_nodes);
    doc_cell(d, "%u", f->paid_gpus);
    doc_cell(d, "%zu", plan->n_unplaced);
    doc_cell(d, "-");
    doc_cell(d, "-");
    doc_cell(d, "-");
    baseline_row(d, f, "one model per GPU", &b->one_per_gpu);
    baseline_row(d, f, "everything on A100-80GB", &b->a100);
    doc_textf(d, BK_TEXT,
              "One model per GPU: no sharing; each replica, largest first, takes whole nodes of "
              "the cheapest node kind whose GPUs hold it alone (one node per pipeline stage), "
              "honouring gpu_types and inventory limits.");
    doc_textf(d, BK_TEXT,
              "Everything on A100-80GB: the same replicas packed by first-fit decreasing onto "
              "A100-80GB instance types only, as many as needed, gpu_types allow-lists "
              "ignored.");
    if (b->one_per_gpu.note[0])
        doc_textf(d, BK_TEXT, "One model per GPU, unplaced: %s", b->one_per_gpu.note);
    if (b->a100.note[0]) doc_textf(d, BK_TEXT, "A100-80GB: %s", b->a100.note);
    if (plan->n_unplaced || b->one_per_gpu.replicas_unplaced || b->a100.replicas_unplaced)
        doc_textf(d, BK_TEXT,
                  "Replicas are unplaced in some columns: those costs are not like for like.");
}

static void sec_models(doc *d, const facts *f)
{
    const plan_problem *p = f->p;
    doc_textf(d, BK_HEAD, "Models (sizes in GiB, per replica)");
    doc_table(d, "lrllrrrrrlrrl", "model", "params", "dtype", "kv dtype", "seq x batch",
              "weights", "KV cache", "overhead", "CUDA ctx", "TP x PP", "per GPU", "replicas",
              "placed on");
    for (size_t g = 0; g < p->n_groups; g++) {
        size_t mi = p->groups[g].model;
        const plan_model *m = &manifest(f)->models[mi];
        const model_fact *mf = &f->m[mi];
        doc_cell(d, "%s", m->name);
        if (m->fixed) {
            doc_cell(d, "-");
            doc_cell(d, "measured");
            doc_cell(d, "-");
            doc_cell(d, "-");
        } else {
            doc_cell(d, "%s", params(mf->fp.params ? mf->fp.params : m->arch.params).s);
            doc_cell(d, "%s", plan_dtype_name(m->opts.dtype));
            doc_cell(d, "%s", plan_dtype_name(m->opts.kv_dtype));
            doc_cell(d, "%llu x %llu", (unsigned long long)m->opts.seq_len,
                     (unsigned long long)m->opts.batch);
        }
        doc_cell(d, "%s", gib(m->fixed ? m->memory_bytes : mf->fp.weights_bytes).s);
        doc_cell(d, "%s", gib(mf->fp.kv_cache_bytes).s);
        doc_cell(d, "%s", gib(mf->fp.overhead_bytes).s);
        doc_cell(d, "%s", gib(mf->fp.reserve_bytes).s);
        if (mf->tp_mask & (mf->tp_mask - 1)) { /* replicas on different GPU kinds */
            vp_sb tps = {0};
            for (uint32_t k = 1; k < 32; k++)
                if (mf->tp_mask & (1u << k)) vp_sb_printf(&tps, "%s%u", tps.len ? "," : "", k);
            doc_cell(d, "%s x %u", vp_sb_str(&tps), mf->pp ? mf->pp : 1);
            vp_sb_free(&tps);
        } else {
            doc_cell(d, "%u x %u", mf->tp ? mf->tp : 1, mf->pp ? mf->pp : 1);
        }
        if (mf->per_gpu_min && strcmp(gib(mf->per_gpu_min).s, gib(mf->per_gpu).s))
            doc_cell(d, "%s-%s", gib(mf->per_gpu_min).s, gib(mf->per_gpu).s);
        else
            doc_cell(d, "%s", gib(mf->per_gpu).s);
        if (mf->placed == p->groups[g].replicas) doc_cell(d, "%u", mf->placed);
        else doc_cell(d, "%u of %u", mf->placed, p->groups[g].replicas);

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
        cell_put(d, vp_sb_ok(&sb) ? vp_sb_steal(&sb) : NULL);
        vp_sb_free(&sb);
    }
    {
        bool any = false;
        for (size_t g = 0; g < p->n_groups; g++) any |= p->manifest->models[p->groups[g].model].fixed;
        if (any)
            doc_textf(d, BK_TEXT,
                      "A model given by memory_bytes shows its measured footprint as weights; "
                      "nothing is added to it.");
    }
}

static void sec_nodes(doc *d, const facts *f)
{
    const place_plan *plan = f->plan;
    doc_textf(d, BK_HEAD, "Nodes");
    doc_table(d, "llrlrrrrl", "node", "type", "$/hour", "GPU", "GPUs used", "used GiB",
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
        doc_cell(d, "%s", n->name);
        doc_cell(d, "%s", n->type);
        doc_cell(d, "%s", money(n->price_per_hour).s);
        doc_cell(d, "%s", n->n_gpus ? n->gpus[0].model : "-");
        doc_cell(d, "%d/%d", busy, n->n_gpus);
        doc_cell(d, "%s", gib(used).s);
        doc_cell(d, "%s", gib(usable).s);
        doc_cell(d, "%s", util(used, usable).s);
        doc_cell(d, "%s", n->inventory ? "yes" : "");
    }
}

static void sec_gpus(doc *d, const facts *f)
{
    const place_plan *plan = f->plan;
    doc_textf(d, BK_HEAD, "GPUs");
    doc_table(d, "lrlrrrl", "node", "GPU", "model", "used GiB", "usable GiB", "used %",
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
    for (size_t i = 0; i < plan->n_nodes; i++) start[i + 1] += start[i];
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
            doc_cell(d, "%s", n->name);
            doc_cell(d, "%d", g);
            doc_cell(d, "%s", n->gpus[g].model);
            doc_cell(d, "%s", gib(n->gpus[g].used_bytes).s);
            doc_cell(d, "%s", gib(n->gpus[g].usable_bytes).s);
            doc_cell(d, "%s", util(n->gpus[g].used_bytes, n->gpus[g].usable_bytes).s);
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
            cell_put(d, vp_sb_ok(&sb) ? vp_sb_steal(&sb) : NULL);
            vp_sb_free(&sb);
        }
    }
    free(start);
    free(by_node);
    if (rows < total)
        doc_textf(d, BK_TEXT, "%zu more GPUs not listed; the JSON report lists every one.",
                  total - rows);
}

/* --------------------------------------------------------------------------------- renderers */

/* Display width: UTF-8 continuation bytes take no column. */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static void pad(vp_sb *sb, size_t n)
{
    for (size_t i = 0; i < n; i++) vp_sb_append(sb, " ", 1);
}

static void render_text(vp_sb *sb, const doc *d)
{
    for (size_t i = 0; i < d->n; i++) {
        const block *b = &d->b[i];
        switch (b->kind) {
        case BK_TITLE:
        case BK_HEAD: {
            if (i) vp_sb_printf(sb, "\n");
            vp_sb_printf(sb, "%s\n", b->text);
            size_t w = width(b->text);
            for (size_t k = 0; k < w; k++) vp_sb_append(sb, b->kind == BK_TITLE ? "=" : "-", 1);
            vp_sb_printf(sb, "\n");
            break;
        }
        case BK_TEXT: vp_sb_printf(sb, "%s\n", b->text); break;
        case BK_KV:
        case BK_TABLE: {
            size_t w[16] = {0};
            size_t rows = b->n_cells / b->ncols;
            for (size_t c = 0; c < b->n_cells; c++) {
                size_t cw = width(b->cells[c]) + (b->kind == BK_KV && c % 2 == 0);
                if (cw > w[c % b->ncols]) w[c % b->ncols] = cw;
            }
            for (size_t r = 0; r < rows; r++) {
                for (size_t c = 0; c < b->ncols; c++) {
                    const char *s = b->cells[r * b->ncols + c];
                    size_t gap = w[c] - width(s) - (b->kind == BK_KV && c == 0);
                    bool last = c + 1 == b->ncols;
                    if (b->align[c] == 'r') pad(sb, gap);
                    vp_sb_printf(sb, "%s%s", s, b->kind == BK_KV && c == 0 ? ":" : "");
                    if (b->align[c] != 'r' && !last) pad(sb, gap);
                    if (!last) vp_sb_append(sb, "  ", 2);
                }
                while (sb->len && sb->buf[sb->len - 1] == ' ') sb->buf[--sb->len] = '\0';
                vp_sb_printf(sb, "\n");
                if (b->kind == BK_TABLE && r == 0) {
                    for (size_t c = 0; c < b->ncols; c++) {
                        for (size_t k = 0; k < w[c]; k++) vp_sb_append(sb, "-", 1);
                        if (c + 1 < b->ncols) vp_sb_append(sb, "  ", 2);
                    }
                    vp_sb_printf(sb, "\n");
                }
            }
            break;
        }
        }
    }
}

/* Markdown cell text: pipes would end the cell, '<' and '&' would start HTML, newlines the row,
 * and * ` [ ] \ would format. '_' is left alone: GitHub does not emphasise inside words, and
 * names such as q4_k_m stay readable in the raw text. */
static void md_escape(vp_sb *sb, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '|': vp_sb_printf(sb, "\\|"); break;
        case '<': vp_sb_printf(sb, "&lt;"); break;
        case '>': vp_sb_printf(sb, "&gt;"); break;
        case '&': vp_sb_printf(sb, "&amp;"); break;
        case '*': case '`': case '[': case ']': case '\\':
            vp_sb_printf(sb, "\\%c", *s);
            break;
        case '\n': case '\r': vp_sb_printf(sb, " "); break;
        default: vp_sb_append(sb, s, 1);
        }
    }
}

static void render_md(vp_sb *sb, const doc *d)
{
    for (size_t i = 0; i < d->n; i++) {
        const block *b = &d->b[i];
        switch (b->kind) {
        case BK_TITLE:
        case BK_HEAD:
            vp_sb_printf(sb, "%s", b->kind == BK_TITLE ? "# " : "## ");
            md_escape(sb, b->text);
            vp_sb_printf(sb, "\n\n");
            break;
        case BK_TEXT:
            md_escape(sb, b->text);
            vp_sb_printf(sb, "\n\n");
            break;
        case BK_KV:
            for (size_t c = 0; c + 1 < b->n_cells; c += 2) {
                vp_sb_printf(sb, "- **");
                md_escape(sb, b->cells[c]);
                vp_sb_printf(sb, ":** ");
                md_escape(sb, b->cells[c + 1]);
                vp_sb_printf(sb, "\n");
            }
            vp_sb_printf(sb, "\n");
            break;
        case BK_TABLE: {
            size_t rows = b->n_cells / b->ncols;
            for (size_t r = 0; r < rows; r++) {
                vp_sb_printf(sb, "|");
                for (size_t c = 0; c < b->ncols; c++) {
                    vp_sb_printf(sb, " ");
                    md_escape(sb, b->cells[r * b->ncols + c]);
                    vp_sb_printf(sb, " |");
                }
                vp_sb_printf(sb, "\n");
                if (r == 0) {
                    vp_sb_printf(sb, "|");
                    for (size_t c = 0; c < b->ncols; c++)
                        vp_sb_printf(sb, "%s", b->align[c] == 'r' ? " ---: |" : " --- |");
                    vp_sb_printf(sb, "\n");
                }
            }
            vp_sb_printf(sb, "\n");
            break;
        }
        }
    }
}

static void html_escape(vp_sb *sb, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': vp_sb_printf(sb, "&lt;"); break;
        case '>': vp_sb_printf(sb, "&gt;"); break;
        case '&': vp_sb_printf(sb, "&amp;"); break;
        case '"': vp_sb_printf(sb, "&quot;"); break;
        case '\'': vp_sb_printf(sb, "&#39;"); break;
        default: vp_sb_append(sb, s, 1);
        }
    }
}

static const char html_style[] =
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse;margin:.6em 0;font-size:.9em}"
    "th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}"
    "th{background:#f3f3f3}td.r,th.r{text-align:right;font-variant-numeric:tabular-nums}"
    "table.kv th{background:none;border:none;padding-left:0}table.kv td{border:none}";

static void render_html(vp_sb *sb, const doc *d, const facts *f)
{
    vp_sb_printf(sb, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                     "<title>vrampack plan report: ");
    html_escape(sb, manifest(f)->source);
    vp_sb_printf(sb, "</title>\n<style>%s</style>\n</head>\n<body>\n", html_style);
    for (size_t i = 0; i < d->n; i++) {
        const block *b = &d->b[i];
        switch (b->kind) {
        case BK_TITLE:
        case BK_HEAD: {
            const char *tag = b->kind == BK_TITLE ? "h1" : "h2";
            vp_sb_printf(sb, "<%s>", tag);
            html_escape(sb, b->text);
            vp_sb_printf(sb, "</%s>\n", tag);
            break;
        }
        case BK_TEXT:
            vp_sb_printf(sb, "<p>");
            html_escape(sb, b->text);
            vp_sb_printf(sb, "</p>\n");
            break;
        case BK_KV:
            vp_sb_printf(sb, "<table class=\"kv\">\n");
            for (size_t c = 0; c + 1 < b->n_cells; c += 2) {
                vp_sb_printf(sb, "<tr><th>");
                html_escape(sb, b->cells[c]);
                vp_sb_printf(sb, "</th><td>");
                html_escape(sb, b->cells[c + 1]);
                vp_sb_printf(sb, "</td></tr>\n");
            }
            vp_sb_printf(sb, "</table>\n");
            break;
        case BK_TABLE: {
            size_t rows = b->n_cells / b->ncols;
            vp_sb_printf(sb, "<table>\n");
            for (size_t r = 0; r < rows; r++) {
                vp_sb_printf(sb, r == 0 ? "<thead><tr>" : "<tr>");
                for (size_t c = 0; c < b->ncols; c++) {
                    const char *tag = r == 0 ? "th" : "td";
                    vp_sb_printf(sb, "<%s%s>", tag, b->align[c] == 'r' ? " class=\"r\"" : "");
                    html_escape(sb, b->cells[r * b->ncols + c]);
                    vp_sb_printf(sb, "</%s>", tag);
                }
                vp_sb_printf(sb, r == 0 ? "</tr></thead>\n<tbody>\n" : "</tr>\n");
            }
            vp_sb_printf(sb, "</tbody>\n</table>\n");
            break;
        }
        }
    }
    vp_sb_printf(sb, "</body>\n</html>\n");
}

/* ------------------------------------------------------------------------------ JSON report */

static cJSON *json_baseline(const facts *f, const plan_baseline *bl, const char *desc)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddBoolToObject(o, "available", bl->available);
    cJSON_AddStringToObject(o, "description", desc);
    cJSON_AddStringToObject(o, "note", bl->note);
    if (bl->available) {
        double save = bl->cost_per_hour - f->plan->cost_per_hour;
        cJSON_AddNumberToObject(o, "cost_per_hour", bl->cost_per_hour);
        cJSON_AddNumberToObject(o, "cost_per_month", bl->cost_per_hour * PLAN_HOURS_PER_MONTH);
        cJSON_AddNumberToObject(o, "nodes", bl->nodes);
        cJSON_AddNumberToObject(o, "gpus", bl->gpus);
        cJSON_AddNumberToObject(o, "replicas_placed", bl->replicas_placed);
        cJSON_AddNumberToObject(o, "replicas_unplaced", bl->replicas_unplaced);
        cJSON_AddNumberToObject(o, "savings_per_hour", save);
        cJSON_AddNumberToObject(o, "savings_per_month", save * PLAN_HOURS_PER_MONTH);
        if (bl->cost_per_hour > 0)
            cJSON_AddNumberToObject(o, "savings_fraction", save / bl->cost_per_hour);
        else
            cJSON_AddNullToObject(o, "savings_fraction");
    } else {
        static const char *const nulls[] = {"cost_per_hour", "cost_per_month", "nodes", "gpus",
                                            "replicas_placed", "replicas_unplaced",
                                            "savings_per_hour", "savings_per_month",
                                            "savings_fraction"};
        for (size_t i = 0; i < VP_ARRAY_LEN(nulls); i++) cJSON_AddNullToObject(o, nulls[i]);
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
    cJSON_AddNumberToObject(o, "params", (double)(m->fixed ? 0 : mf->fp.params ? mf->fp.params
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

static char *render_json(const facts *f)
{
    const place_plan *plan = f->plan;
    char *plan_text = plan_to_json(plan);
    if (!plan_text) return NULL;
    cJSON *plan_obj = cJSON_ParseWithLength(plan_text, strlen(plan_text));
    free(plan_text);
    if (!plan_obj) return NULL;

    cJSON *o = cJSON_CreateObject();
    if (!o) { cJSON_Delete(plan_obj); return NULL; }
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
    if (above < 0) cJSON_AddNullToObject(o, "max_above_optimal");
    else cJSON_AddNumberToObject(o, "max_above_optimal", above);
    cJSON_AddNumberToObject(o, "replicas_requested", f->requested);
    cJSON_AddNumberToObject(o, "replicas_placed", f->placed);
    cJSON_AddNumberToObject(o, "replicas_unplaced", (double)plan->n_unplaced);
    cJSON_AddNumberToObject(o, "gpus_total", f->gpus_total);
    cJSON_AddNumberToObject(o, "gpus_used", f->gpus_used);
    cJSON_AddNumberToObject(o, "usable_bytes", (double)f->usable);
    cJSON_AddNumberToObject(o, "used_bytes", (double)f->used);

    cJSON *models = cJSON_AddArrayToObject(o, "models");
    for (size_t g = 0; models && g < f->p->n_groups; g++)
        cJSON_AddItemToArray(models, json_model(f, g));

    cJSON *nodes = cJSON_AddArrayToObject(o, "nodes");
    /* Node position in the report's array for each plan node, to attach placement ids. */
    int *slot = calloc(plan->n_nodes ? plan->n_nodes : 1, sizeof *slot);
    if (!slot) { cJSON_Delete(o); cJSON_Delete(plan_obj); return NULL; }
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
        cJSON *gpus = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(nodes, slot[pl->node]),
                                                       "gpus");
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
    cJSON_AddItemToObject(o, "plan", plan_obj);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

/* ----------------------------------------------------------------------------------- the door */

char *plan_report(const plan_problem *p, const place_plan *plan, const plan_baselines *b,
                  plan_report_fmt fmt)
{
    facts f;
    if (facts_build(&f, p, plan, b)) {
        facts_free(&f);
        return NULL;
    }
    char *out = NULL;
    if (fmt == PLAN_REPORT_JSON) {
        out = render_json(&f);
        /* cJSON allocates with malloc by default; hand back a string the caller frees with
         * free() and ends with a newline like the other formats. */
        if (out) {
            size_t n = strlen(out);
            char *nl = realloc(out, n + 2);
            if (!nl) { free(out); out = NULL; }
            else { out = nl; out[n] = '\n'; out[n + 1] = '\0'; }
        }
        facts_free(&f);
        return out;
    }
    doc d = {0};
    sec_header(&d, &f);
    sec_cost(&d, &f);
    sec_unplaced(&d, &f);
    sec_baselines(&d, &f);
    sec_models(&d, &f);
    sec_nodes(&d, &f);
    sec_gpus(&d, &f);
    vp_sb sb = {0};
    if (!d.oom) {
        if (fmt == PLAN_REPORT_MD) render_md(&sb, &d);
        else if (fmt == PLAN_REPORT_HTML) render_html(&sb, &d, &f);
        else render_text(&sb, &d);
    }
    if (!d.oom && vp_sb_ok(&sb)) out = vp_sb_steal(&sb);
    vp_sb_free(&sb);
    doc_free(&d);
    facts_free(&f);
    return out;
}
