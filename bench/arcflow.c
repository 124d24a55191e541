/* arcflow.c - the arc-flow model of bin packing as a CPLEX LP file (see arcflow.h).
 *
 * Nodes are the partial fills 0..W (W the largest capacity) that items can reach when they are
 * taken in decreasing size, each size at most its demand times in a row (Valerio de Carvalho's
 * reduction: a path from 0 is one bin's items, largest first). Item arc (u, u + w) carries one
 * item of size w; terminal arc (u, T_t) closes a bin of type t when u <= C_t, at its cost. Flow
 * is conserved at every inner node, each size's arcs carry at least its demand, each type's
 * terminal arcs at most its availability; minimise the terminal arcs' cost. */
#include "arcflow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct arc {
    uint64_t from, to; /* to == UINT64_MAX - t: terminal arc of bin type t */
    long item;         /* -1 for a terminal arc */
} arc;

typedef struct graph {
    arc *v;
    size_t n, cap;
    long max;
} graph;

static int push(graph *g, uint64_t from, uint64_t to, long item)
{
    if ((long)g->n >= g->max) return -1;
    if (g->n == g->cap) {
        size_t nc = g->cap ? g->cap * 2 : 4096;
        arc *v = realloc(g->v, nc * sizeof *v);
        if (!v) return -1;
        g->v = v;
        g->cap = nc;
    }
    g->v[g->n++] = (arc){from, to, item};
    return 0;
}

typedef struct it {
    uint64_t w;
    long d;
    size_t idx;
} it;

static int by_size_desc(const void *a, const void *b)
{
    const it *x = a, *y = b;
    return x->w < y->w ? 1 : x->w > y->w ? -1 : 0;
}

/* Item arcs over the reachable fills; terminal arcs from every reachable fill. */
static int build(graph *g, it *items, size_t n, const af_bin *bins, size_t nb, uint64_t W)
{
    uint8_t *reach = calloc(W + 1, 1);
    long *stamp = malloc((W + 1) * sizeof *stamp);
    uint64_t *list = malloc((W + 1) * sizeof *list);
    int rc = reach && stamp && list ? 0 : -1;
    size_t nl = 0;
    if (!rc) {
        memset(stamp, 0xff, (W + 1) * sizeof *stamp);
        reach[0] = 1;
    }
    for (size_t i = 0; i < n && !rc; i++) {
        nl = 0;
        for (uint64_t u = 0; u <= W; u++)
            if (reach[u]) list[nl++] = u;
        for (size_t q = 0; q < nl && !rc; q++) {
            uint64_t v = list[q];
            for (long k = 0; k < items[i].d && v + items[i].w <= W && !rc; k++) {
                if (stamp[v] != (long)i) rc = push(g, v, v + items[i].w, (long)items[i].idx);
                stamp[v] = (long)i;
                v += items[i].w;
                reach[v] = 1;
            }
        }
    }
    for (uint64_t u = 1; u <= W && !rc; u++)
        for (size_t t = 0; t < nb && reach[u] && !rc; t++)
            if (u <= bins[t].cap) rc = push(g, u, UINT64_MAX - t, -1);
    free(reach);
    free(stamp);
    free(list);
    return rc;
}

static void term(FILE *f, size_t *col, double coef, size_t k)
{
    fprintf(f, " %c %.10g x%zu", coef < 0 ? '-' : '+', coef < 0 ? -coef : coef, k);
    if (++*col % 8 == 0) fputs("\n", f);
}

typedef struct ent {
    uint64_t node;
    size_t k;
    int coef;
} ent;

static int by_node(const void *a, const void *b)
{
    const ent *x = a, *y = b;
    if (x->node != y->node) return x->node < y->node ? -1 : 1;
    return x->k < y->k ? -1 : (x->k > y->k);
}

/* Conservation at every inner node (in - out = 0), demands, availabilities. */
static void write_rows(FILE *f, const graph *g, size_t n, const long *demand, const af_bin *bins,
                       size_t nb, uint64_t W)
{
    (void)W;
    ent *e = malloc((2 * g->n + 1) * sizeof *e);
    size_t ne = 0;
    for (size_t k = 0; e && k < g->n; k++) {
        if (g->v[k].from > 0) e[ne++] = (ent){g->v[k].from, k, -1};
        if (g->v[k].item >= 0) e[ne++] = (ent){g->v[k].to, k, 1};
    }
    if (e) qsort(e, ne, sizeof *e, by_node);
    for (size_t a = 0; a < ne;) {
        size_t b = a, col = 0;
        fprintf(f, " n%llu:", (unsigned long long)e[a].node);
        for (; b < ne && e[b].node == e[a].node; b++)
            term(f, &col, e[b].coef, e[b].k);
        fputs(" = 0\n", f);
        a = b;
    }
    free(e);
    size_t *start = calloc(n + 2, sizeof *start), *by_item = malloc((g->n + 1) * sizeof *by_item);
    for (size_t k = 0; start && by_item && k < g->n; k++)
        if (g->v[k].item >= 0) start[g->v[k].item + 2]++;
    for (size_t i = 0; start && by_item && i < n; i++)
        start[i + 2] += start[i + 1];
    for (size_t k = 0; start && by_item && k < g->n; k++)
        if (g->v[k].item >= 0) by_item[start[g->v[k].item + 1]++] = k;
    for (size_t i = 0; start && by_item && i < n; i++) {
        size_t col = 0;
        fprintf(f, " d%zu:", i);
        for (size_t q = start[i]; q < start[i + 1]; q++)
            term(f, &col, 1, by_item[q]);
        fprintf(f, " >= %ld\n", demand[i]);
    }
    free(start);
    free(by_item);
    for (size_t t = 0; t < nb; t++) {
        if (bins[t].avail < 0) continue;
        size_t col = 0;
        fprintf(f, " avail%zu:", t);
        for (size_t k = 0; k < g->n; k++)
            if (g->v[k].item < 0 && g->v[k].to == UINT64_MAX - t) term(f, &col, 1, k);
        fprintf(f, " <= %ld\n", bins[t].avail);
    }
}

static int write_lp(const char *path, const graph *g, size_t n, const long *demand,
                    const af_bin *bins, size_t nb, uint64_t W)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    size_t col = 0;
    fputs("\\ arc-flow bin packing\nMinimize\n obj:", f);
    for (size_t k = 0; k < g->n; k++)
        if (g->v[k].item < 0) term(f, &col, bins[UINT64_MAX - g->v[k].to].cost, k);
    fputs("\nSubject To\n", f);
    write_rows(f, g, n, demand, bins, nb, W);
    fputs("General\n", f);
    for (size_t k = 0; k < g->n; k++)
        fprintf(f, " x%zu%s", k, k % 16 == 15 ? "\n" : "");
    fputs("\nEnd\n", f);
    return fclose(f) ? -1 : 0;
}

long af_write(const char *path, const uint64_t *size, const long *demand, size_t n,
              const af_bin *bins, size_t nb, long max_arcs)
{
    uint64_t W = 0;
    for (size_t t = 0; t < nb; t++)
        if (bins[t].cap > W) W = bins[t].cap;
    if (W > 20000000) return 0; /* the node array alone would not do */
    it *items = malloc((n ? n : 1) * sizeof *items);
    if (!items) return -1;
    for (size_t i = 0; i < n; i++)
        items[i] = (it){size[i], demand[i], i};
    qsort(items, n, sizeof *items, by_size_desc);
    graph g = {.max = max_arcs};
    long rc = build(&g, items, n, bins, nb, W) ? 0 : (long)g.n;
    if (rc > 0 && write_lp(path, &g, n, demand, bins, nb, W)) rc = -1;
    free(items);
    free(g.v);
    return rc;
}
