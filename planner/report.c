/* report.c - renders a plan as the cost reviewer's report: text, Markdown, JSON or HTML. This
 * file holds the entry points, the number formats and the document model.
 *
 * The three human formats share one document: a list of blocks (title, headings, key/value
 * lists, paragraphs, tables of plain-text cells, figures) built once from the facts
 * (report_facts.c, report_sections.c), then written by a renderer that only knows its own syntax
 * and escaping (report_text.c: column padding for text, GitHub pipes for Markdown; report_html.c:
 * escaped HTML with inline SVG pictures). So every fact appears in every
 * format, and escaping happens in exactly one place per format. The JSON report
 * (report_json.c) is built separately with cJSON because its contract is exact values, not
 * prose: bytes as integers, money unrounded, the plan embedded as plan_to_json writes it. Every
 * figure is derived from the plan and the problem; nothing is recomputed in a way that could
 * disagree with them. Allocation failures are remembered by the document and turn the result
 * into NULL. */
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

/* ------------------------------------------------------------------------- number formatting */

nbuf plan_rpt_gib(uint64_t bytes)
{
    nbuf b;
    snprintf(b.s, sizeof b.s, "%.2f", (double)bytes / VP_GIB);
    return b;
}

nbuf plan_rpt_money(double v)
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

nbuf plan_rpt_pct(double fraction)
{
    nbuf b;
    snprintf(b.s, sizeof b.s, "%.1f%%", fraction * 100.0);
    return b;
}

nbuf plan_rpt_util(uint64_t used, uint64_t usable)
{
    return plan_rpt_pct(usable ? (double)used / (double)usable : 0.0);
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

void plan_rpt_figure(doc *d, fig_kind fig, const char *title)
{
    block *b = doc_add(d, BK_FIGURE);
    if (!b) return;
    b->fig = fig;
    if (title && !(b->text = strdup(title))) d->oom = true;
}

/* ----------------------------------------------------------------------------------- the door */

/* cJSON allocates with malloc by default; hand back a string the caller frees with free() and
 * that ends with a newline like the other formats. */
static char *with_newline(char *out)
{
    if (!out) return NULL;
    size_t n = strlen(out);
    char *nl = realloc(out, n + 2);
    if (!nl) {
        free(out);
        return NULL;
    }
    nl[n] = '\n';
    nl[n + 1] = '\0';
    return nl;
}

char *plan_report_render(const plan_report_input *in, plan_report_fmt fmt)
{
    facts f;
    if (plan_rpt_facts_build(&f, in)) {
        plan_rpt_facts_free(&f);
        return NULL;
    }
    char *out = NULL;
    if (fmt == PLAN_REPORT_JSON) {
        out = with_newline(plan_rpt_render_json(&f));
        plan_rpt_facts_free(&f);
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
    plan_rpt_facts_free(&f);
    return out;
}

char *plan_report(const plan_problem *p, const place_plan *plan, const plan_baselines *b,
                  plan_report_fmt fmt)
{
    plan_report_input in = {.problem = p, .plan = plan, .baselines = b};
    return plan_report_render(&in, fmt);
}
