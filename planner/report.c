/* report.c - renders a plan as the cost reviewer's report: text, Markdown, JSON or HTML. This
 * file holds the entry points, the facts gathered from the plan and the document model.
 *
 * The three human formats share one document: a list of blocks (title, headings, key/value
 * lists, paragraphs, tables of plain-text cells) built once from the plan (report_sections.c),
 * then written by a renderer that only knows its own syntax and escaping (report_text.c: column
 * padding for text, GitHub pipes for Markdown, escaped HTML). So every fact appears in every
 * format, and escaping happens in exactly one place per format. The JSON report
 * (report_json.c) is built separately with cJSON because its contract is exact values, not
 * prose: bytes as integers, money unrounded, the plan embedded as plan_to_json writes it. Every
 * figure is derived from the plan and the problem; nothing is recomputed in a way that could
 * disagree with them. Allocation failures are remembered by the document and turn the result
 * into NULL. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_int.h"

int plan_report_parse_fmt(const char *s, plan_report_fmt *out)
{
    static const struct {
        const char *name;
        plan_report_fmt f;
    } names[] = {
        {"text", PLAN_REPORT_TEXT},   {"txt", PLAN_REPORT_TEXT},  {"md", PLAN_REPORT_MD},
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
    case PLAN_REPORT_TEXT:
        return "text";
    case PLAN_REPORT_MD:
        return "md";
    case PLAN_REPORT_JSON:
        return "json";
    case PLAN_REPORT_HTML:
        return "html";
    }
    return "?";
}

/* ---------------------------------------------------------------- facts gathered from the plan */

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
    for (size_t i = 0; i < plan->n_nodes; i++)
        f->node_bintype[i] = node_bintype(p, &plan->nodes[i]);

    bool *seen = calloc(m->n_models ? m->n_models : 1, sizeof *seen);
    if (!seen) {
        free(ni.idx);
        return -ENOMEM;
    }
    for (size_t i = 0; i < plan->n_placements; i++) {
        const place_placement *pl = &plan->placements[i];
        int mi = find_model(&ni, pl->model);
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
            int bt =
                pl->node >= 0 && (size_t)pl->node < plan->n_nodes ? f->node_bintype[pl->node] : -1;
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

/* ------------------------------------------------------------------------ the document model */

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
        if (!nb) {
            d->oom = true;
            return NULL;
        }
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
        for (size_t c = 0; c < d->b[i].n_cells; c++)
            free(d->b[i].cells[c]);
        free(d->b[i].cells);
    }
    free(d->b);
}

void plan_rpt_textf(doc *d, bk_kind kind, const char *fmt, ...)
{
    block *b = doc_add(d, kind);
    if (!b) return;
    va_list ap;
    va_start(ap, fmt);
    b->text = vfmt(fmt, ap);
    va_end(ap);
    if (!b->text) d->oom = true;
}

void plan_rpt_put(doc *d, char *s)
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
        if (!nc) {
            free(s);
            d->oom = true;
            return;
        }
        b->cells = nc;
        b->cap_cells = cap;
    }
    b->cells[b->n_cells++] = s;
}

void plan_rpt_cell(doc *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vfmt(fmt, ap);
    va_end(ap);
    plan_rpt_put(d, s);
}

void plan_rpt_table(doc *d, const char *align, ...)
{
    block *b = doc_add(d, BK_TABLE);
    if (!b) return;
    b->ncols = strlen(align);
    snprintf(b->align, sizeof b->align, "%s", align);
    va_list ap;
    va_start(ap, align);
    for (size_t i = 0; i < b->ncols; i++) {
        const char *h = va_arg(ap, const char *);
        plan_rpt_put(d, strdup(h));
    }
    va_end(ap);
}

void plan_rpt_kv(doc *d, const char *key, const char *fmt, ...)
{
    block *b = d->n ? &d->b[d->n - 1] : NULL;
    if (!b || b->kind != BK_KV) {
        b = doc_add(d, BK_KV);
        if (!b) return;
        b->ncols = 2;
        strcpy(b->align, "ll");
    }
    plan_rpt_put(d, strdup(key));
    va_list ap;
    va_start(ap, fmt);
    char *s = vfmt(fmt, ap);
    va_end(ap);
    plan_rpt_put(d, s);
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
        out = plan_rpt_render_json(&f);
        /* cJSON allocates with malloc by default; hand back a string the caller frees with
         * free() and ends with a newline like the other formats. */
        if (out) {
            size_t n = strlen(out);
            char *nl = realloc(out, n + 2);
            if (!nl) {
                free(out);
                out = NULL;
            } else {
                out = nl;
                out[n] = '\n';
                out[n + 1] = '\0';
            }
        }
        facts_free(&f);
        return out;
    }
    doc d = {0};
    plan_rpt_sections(&d, &f);
    vp_sb sb = {0};
    if (!d.oom) {
        if (fmt == PLAN_REPORT_MD)
            plan_rpt_render_md(&sb, &d);
        else if (fmt == PLAN_REPORT_HTML)
            plan_rpt_render_html(&sb, &d, &f);
        else
            plan_rpt_render_text(&sb, &d);
    }
    if (!d.oom && vp_sb_ok(&sb)) out = vp_sb_steal(&sb);
    vp_sb_free(&sb);
    doc_free(&d);
    facts_free(&f);
    return out;
}
