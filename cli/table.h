/* table.h - text tables whose columns are as wide as their widest cell (kubectl-style): no fixed
 * widths that cut a long name or push the next column out of line. */
#ifndef CLI_TABLE_H
#define CLI_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct cli_table {
    size_t n_cols;
    char **cells; /* row-major, the header row first; owned */
    size_t n_rows, cap_rows;
    bool oom;
} cli_table;

/* A table with these column headers (n_cols of them); cells are copied. */
void cli_table_init(cli_table *t, size_t n_cols, const char *const *headers);
/* Appends one row of n_cols cells (NULL prints "-"). */
void cli_table_row(cli_table *t, const char *const *cells);
/* Prints every row, each cell padded to its column's width (display width of UTF-8) and
 * separated by three spaces, the last column unpadded; indent spaces before each row. Returns
 * false when a row could not be stored (out of memory), after printing what it has. */
bool cli_table_print(const cli_table *t, FILE *f, int indent);
void cli_table_free(cli_table *t);

/* Orders names as people read them: digit runs by value ("gpu-2" before "gpu-10", "chat/9"
 * before "chat/10"), everything else bytewise. */
int cli_natural_cmp(const char *a, const char *b);

#endif
