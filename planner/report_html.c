/* report_html.c - writes the report's document as one self-contained HTML page.
 *
 * The page needs nothing but itself: its stylesheet is inline, its pictures are inline SVG
 * (report_svg.c), and it has no script and no external reference, so it can be mailed, attached to
 * a ticket or opened offline. Layout rules that keep it readable from 800 px to 1600 px: the
 * content column is at most 1240 px wide; a cell never breaks inside a value (cells are nowrap,
 * list cells wrap only between their ", "-separated values, prose cells between words); a table
 * wider than the window scrolls inside its own box instead of widening the page; pictures scale
 * to the column. Every text of the document is escaped here, in one place. */
#include <string.h>

#include "report_int.h"

static void escape_n(vp_sb *sb, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '<':
            vp_sb_printf(sb, "&lt;");
            break;
        case '>':
            vp_sb_printf(sb, "&gt;");
            break;
        case '&':
            vp_sb_printf(sb, "&amp;");
            break;
        case '"':
            vp_sb_printf(sb, "&quot;");
            break;
        case '\'':
            vp_sb_printf(sb, "&#39;");
            break;
        default:
            vp_sb_append(sb, s + i, 1);
        }
    }
}

void plan_rpt_html_escape(vp_sb *sb, const char *s)
{
    escape_n(sb, s, strlen(s));
}

static const char html_style[] =
    "*{box-sizing:border-box}"
    "body{margin:0;color:#1f2328;background:#fff;"
    "font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif}"
    "main{max-width:1240px;margin:0 auto;padding:16px 24px 48px}"
    "h1{font-size:1.5em;margin:.3em 0 .5em}"
    "h2{font-size:1.15em;margin:1.8em 0 .5em;padding-bottom:.2em;border-bottom:1px solid #d0d7de}"
    "p{margin:.35em 0;max-width:75em}"
    ".tw{overflow-x:auto;margin:.5em 0}"
    "table{border-collapse:collapse;font-size:.92em}"
    "th,td{border:1px solid #d0d7de;padding:.25em .55em;text-align:left;vertical-align:top;"
    "white-space:nowrap}"
    "th{background:#f6f8fa;font-weight:600}"
    "td.r,th.r{text-align:right;font-variant-numeric:tabular-nums}"
    "td.w,td.p{white-space:normal;min-width:14em}td.w span{white-space:nowrap}"
    "table.kv th,table.kv td{border:none;background:none;padding:.1em 1em .1em 0}"
    "table.kv td{white-space:normal}"
    "figure{margin:.8em 0}"
    "svg.pic{display:block;width:100%;height:auto;max-width:1100px}"
    "svg.cost{max-width:880px}svg.packing{max-width:980px}"
    "svg.pic text{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "fill:#1f2328}"
    "ul.legend{display:flex;flex-wrap:wrap;gap:.25em 1.2em;margin:.4em 0;padding:0;"
    "list-style:none;font-size:.9em}"
    "ul.legend li{white-space:nowrap}"
    ".sw{display:inline-block;width:.9em;height:.9em;margin-right:.35em;vertical-align:-.1em;"
    "border:1px solid rgba(0,0,0,.3);border-radius:2px}"
    "@media (max-width:900px){body{font-size:13px}main{padding:12px 10px 32px}"
    "table{font-size:.86em}th,td{padding:.2em .35em}}";

/* A list cell: each ", "-separated value in a nowrap span, so lines break between values. */
static void list_cell(vp_sb *sb, const char *s)
{
    for (;;) {
        const char *sep = strstr(s, ", ");
        size_t n = sep ? (size_t)(sep - s) : strlen(s);
        vp_sb_printf(sb, "<span>");
        escape_n(sb, s, n);
        vp_sb_printf(sb, "</span>");
        if (!sep) return;
        vp_sb_printf(sb, ", ");
        s = sep + 2;
    }
}

static void table(vp_sb *sb, const block *b)
{
    size_t rows = b->n_cells / b->ncols;
    vp_sb_printf(sb, "<div class=\"tw\"><table>\n");
    for (size_t r = 0; r < rows; r++) {
        vp_sb_printf(sb, r == 0 ? "<thead><tr>" : "<tr>");
        for (size_t c = 0; c < b->ncols; c++) {
            const char *tag = r == 0 ? "th" : "td";
            char a = b->align[c];
            const char *cls = a == 'r' ? " class=\"r\"" : "";
            if (r && a == 'w') cls = " class=\"w\"";
            if (r && a == 'p') cls = " class=\"p\"";
            vp_sb_printf(sb, "<%s%s>", tag, cls);
            if (r && a == 'w')
                list_cell(sb, b->cells[r * b->ncols + c]);
            else
                plan_rpt_html_escape(sb, b->cells[r * b->ncols + c]);
            vp_sb_printf(sb, "</%s>", tag);
        }
        vp_sb_printf(sb, r == 0 ? "</tr></thead>\n<tbody>\n" : "</tr>\n");
    }
    vp_sb_printf(sb, "</tbody>\n</table></div>\n");
}

static void kv(vp_sb *sb, const block *b)
{
    vp_sb_printf(sb, "<table class=\"kv\">\n");
    for (size_t c = 0; c + 1 < b->n_cells; c += 2) {
        vp_sb_printf(sb, "<tr><th>");
        plan_rpt_html_escape(sb, b->cells[c]);
        vp_sb_printf(sb, "</th><td>");
        plan_rpt_html_escape(sb, b->cells[c + 1]);
        vp_sb_printf(sb, "</td></tr>\n");
    }
    vp_sb_printf(sb, "</table>\n");
}

static void figure(vp_sb *sb, const block *b, const facts *f)
{
    if (b->text) {
        vp_sb_printf(sb, "<h2>");
        plan_rpt_html_escape(sb, b->text);
        vp_sb_printf(sb, "</h2>\n");
    }
    vp_sb_printf(sb, "<figure>\n");
    if (b->fig == FIG_COST)
        plan_rpt_svg_cost(sb, f);
    else
        plan_rpt_svg_packing(sb, f);
    vp_sb_printf(sb, "</figure>\n");
}

void plan_rpt_render_html(vp_sb *sb, const doc *d, const facts *f)
{
    vp_sb_printf(sb, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                     "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                     "<title>vrampack plan report: ");
    plan_rpt_html_escape(sb, manifest(f)->source);
    vp_sb_printf(sb, "</title>\n<style>%s</style>\n</head>\n<body>\n<main>\n", html_style);
    for (size_t i = 0; i < d->n; i++) {
        const block *b = &d->b[i];
        switch (b->kind) {
        case BK_TITLE:
        case BK_HEAD: {
            const char *tag = b->kind == BK_TITLE ? "h1" : "h2";
            vp_sb_printf(sb, "<%s>", tag);
            plan_rpt_html_escape(sb, b->text);
            vp_sb_printf(sb, "</%s>\n", tag);
            break;
        }
        case BK_TEXT:
            vp_sb_printf(sb, "<p>");
            plan_rpt_html_escape(sb, b->text);
            vp_sb_printf(sb, "</p>\n");
            break;
        case BK_KV:
            kv(sb, b);
            break;
        case BK_TABLE:
            table(sb, b);
            break;
        case BK_FIGURE:
            figure(sb, b, f);
            break;
        }
    }
    vp_sb_printf(sb, "</main>\n</body>\n</html>\n");
}
