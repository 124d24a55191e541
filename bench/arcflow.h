/* arcflow.h - Valerio de Carvalho's arc-flow model of (variable-sized) bin packing, written as a
 * CPLEX LP file for an outside MIP solver (the benchmark's CBC column). Benchmark code only. */
#ifndef BENCH_ARCFLOW_H
#define BENCH_ARCFLOW_H

#include <stddef.h>
#include <stdint.h>

typedef struct af_bin {
    uint64_t cap;   /* in the items' unit */
    double cost;
    long avail;     /* -1 = unlimited */
} af_bin;

/* Items: sizes (any order) with demands. Writes the model to path; returns the number of arcs,
 * 0 when the graph would exceed max_arcs (nothing is written then), or -1 on an I/O error. */
long af_write(const char *path, const uint64_t *size, const long *demand, size_t n,
              const af_bin *bins, size_t nb, long max_arcs);

#endif
