/* report_text.c - writes the report's document as plain text or GitHub Markdown.
 *
 * A renderer knows only its own syntax and escaping: text pads columns to the display width
 * (UTF-8 aware) and underlines headings; Markdown escapes what would end a cell or format text.
 * Each writes every block of the document in order and adds nothing of its own but markup, so
 * the formats always carry the same facts; figures are drawn by the HTML page only (their facts
 * are in the tables too). Output goes to a vp_sb, whose failure the caller checks once. */
#include <stdbool.h>
#include <stddef.h>

#include "report_int.h"

/* Display width: UTF-8 continuation bytes take no column. */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static void pad(vp_sb *sb, size_t n)
{
    for (size_t i = 0; i < n; i++)
        vp_sb_append(sb, " ", 1);
}

void plan_rpt_render_text(vp_sb *sb, const doc *d)
{
    for (size_t i = 0; i < d->n; i++) {
        const block *b = &d->b[i];
        switch (b->kind) {
        case BK_TITLE:
        case BK_HEAD: {
            if (i) vp_sb_printf(sb, "\n");
            vp_sb_printf(sb, "%s\n", b->text);
            size_t w = width(b->text);
            for (size_t k = 0; k < w; k++)
                vp_sb_append(sb, b->kind == BK_TITLE ? "=" : "-", 1);
            vp_sb_printf(sb, "\n");
            break;
        }
        case BK_TEXT:
            vp_sb_printf(sb, "%s\n", b->text);
            break;
        case BK_FIGURE:
            break;
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
                while (sb->len && sb->buf[sb->len - 1] == ' ')
                    sb->buf[--sb->len] = '\0';
                vp_sb_printf(sb, "\n");
                if (b->kind == BK_TABLE && r == 0) {
                    for (size_t c = 0; c < b->ncols; c++) {
                        for (size_t k = 0; k < w[c]; k++)
                            vp_sb_append(sb, "-", 1);
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
        case '|':
            vp_sb_printf(sb, "\\|");
            break;
        case '<':
            vp_sb_printf(sb, "&lt;");
            break;
        case '>':
            vp_sb_printf(sb, "&gt;");
            break;
        case '&':
            vp_sb_printf(sb, "&amp;");
            break;
        case '*':
        case '`':
        case '[':
        case ']':
        case '\\':
            vp_sb_printf(sb, "\\%c", *s);
            break;
        case '\n':
        case '\r':
            vp_sb_printf(sb, " ");
            break;
        default:
            vp_sb_append(sb, s, 1);
        }
    }
}

void plan_rpt_render_md(vp_sb *sb, const doc *d)
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
        case BK_FIGURE:
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
