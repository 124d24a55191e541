/* table.c - column-aligned text tables (table.h). A column's width is its widest cell, counted in
 * UTF-8 code points, so a name of any length keeps every later column in line. */
#include "table.h"

#include <stdlib.h>
#include <string.h>

void cli_table_init(cli_table *t, size_t n_cols, const char *const *headers)
{
    memset(t, 0, sizeof *t);
    t->n_cols = n_cols;
    cli_table_row(t, headers);
}

void cli_table_row(cli_table *t, const char *const *cells)
{
    if (t->oom) return;
    if (t->n_rows == t->cap_rows) {
        size_t cap = t->cap_rows ? t->cap_rows * 2 : 16;
        char **nc = realloc(t->cells, cap * t->n_cols * sizeof *nc);
        if (!nc) {
            t->oom = true;
            return;
        }
        t->cells = nc;
        t->cap_rows = cap;
    }
    char **row = t->cells + t->n_rows * t->n_cols;
    for (size_t c = 0; c < t->n_cols; c++) {
        row[c] = strdup(cells[c] ? cells[c] : "-");
        if (!row[c]) {
            for (size_t k = 0; k < c; k++)
                free(row[k]);
            t->oom = true;
            return;
        }
    }
    t->n_rows++;
}

static size_t display_width(const char *s)
{
    size_t w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        w += (*p & 0xC0) != 0x80; /* continuation bytes add nothing */
    return w;
}

bool cli_table_print(const cli_table *t, FILE *f, int indent)
{
    size_t *width = calloc(t->n_cols ? t->n_cols : 1, sizeof *width);
    if (!width) return false;
    for (size_t r = 0; r < t->n_rows; r++)
        for (size_t c = 0; c < t->n_cols; c++) {
            size_t w = display_width(t->cells[r * t->n_cols + c]);
            if (w > width[c]) width[c] = w;
        }
    for (size_t r = 0; r < t->n_rows; r++) {
        char **row = t->cells + r * t->n_cols;
        size_t last = t->n_cols; /* one past the last non-empty cell: no trailing blanks */
        while (last > 1 && !row[last - 1][0])
            last--;
        fprintf(f, "%*s", indent, "");
        for (size_t c = 0; c < last; c++) {
            if (c) fprintf(f, "%*s", (int)(width[c - 1] - display_width(row[c - 1]) + 3), "");
            fputs(row[c], f);
        }
        fputc('\n', f);
    }
    free(width);
    return !t->oom;
}

void cli_table_free(cli_table *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

int cli_natural_cmp(const char *a0, const char *b0)
{
    const char *a = a0, *b = b0;
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            /* Compare digit runs as numbers: skip leading zeros, then longer is larger. */
            while (*a == '0')
                a++;
            while (*b == '0')
                b++;
            size_t la = strspn(a, "0123456789"), lb = strspn(b, "0123456789");
            if (la != lb) return la < lb ? -1 : 1;
            int c = strncmp(a, b, la);
            if (c) return c;
            a += la;
            b += lb;
            continue;
        }
        if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    if (*a || *b) return *a ? 1 : -1;
    return strcmp(a0, b0); /* "a01" and "a1": equal by value, still one order */
}
