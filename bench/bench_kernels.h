/* bench_kernels.h - what the kernels benchmark's stages (bench_kernels_stages.c) and its driver
 * (bench_kernels.c) share: the configuration and the result row.
 *
 * Each stage runs in its own child process and reports rows on a pipe, one text line each
 * (bk_emit), so a stage that crashes, hangs or leaves the GPU context unusable costs only its own
 * rows; the driver reads them back (bk_parse), prints one table and decides the exit status. */
#ifndef BENCH_KERNELS_H
#define BENCH_KERNELS_H

#include <stdint.h>
#include <stdio.h>

#include "kern.h"

typedef struct bk_cfg {
    kern_backend_req req; /* KERN_REQ_CUDA or KERN_REQ_CPU once the driver has decided */
    int gpu;              /* the backend measured is CUDA */
    int quick;            /* 7B-like shapes only, fewer repetitions */
    int smoke;            /* tiny shapes (the CPU test in ctest) */
    int inject_nan;       /* poison one GEMV output before the checks (tests the checks) */
    int inject_crash;     /* the attention stage aborts (tests that later stages still run) */
    double copy_gbs;      /* the copy probe's figure, once measured */
    const char *worker;   /* vrampack-worker */
    FILE *rec;            /* where a stage writes its rows */
} bk_cfg;

/* One line of the table. Numbers not measured are NaN and print as "-". check and target are 1
 * (passed / met), 0 (FAILED / missed) or -1 (does not apply). */
typedef struct bk_row {
    char kind;        /* 'R' summary row, 'D' detail row, 'I' information, 'E' stage error */
    char stage[16];   /* copy, gemv, attention, decode, check, worker, ... */
    char name[96];    /* the case */
    double ms;        /* time per run, launch-amortised */
    double lat_us;    /* one run alone, host launch to completion */
    double gbs, pct;  /* achieved GB/s (1e9 B) and its share of the copy bandwidth */
    double err;       /* worst relative error against the references */
    int check, target;
    char note[160];
} bk_row;

void bk_emit(FILE *f, const bk_row *r);
/* Parses one line written by bk_emit; 0 or -1 for a line that is not one. */
int bk_parse(const char *line, bk_row *r);
/* A row with every number NaN, check and target -1. */
bk_row bk_row_new(char kind, const char *stage, const char *name);

/* Relative L2 error ||got - want|| / ||want|| over n values; NaN when either side holds a NaN or
 * an infinity, or when want is all zeros while got is not (so a NaN can never pass a check). */
double bk_rel_err(const float *got, const double *want, uint64_t n);
/* 1 when err is a number no larger than tol (NaN fails). */
int bk_within(double err, double tol);
/* The median of n values (sorts v); NaN for n = 0. */
double bk_median(double *v, unsigned n);

/* The stages; each writes its rows to c->rec and returns 0, or non-zero after writing an 'E'
 * row when it could not run at all. */
int bk_stage_preflight(bk_cfg *c);
int bk_stage_copy(bk_cfg *c);
int bk_stage_gemv(bk_cfg *c, kern_dtype d, uint32_t batch);
int bk_stage_attention(bk_cfg *c);
int bk_stage_decode_check(bk_cfg *c);
int bk_stage_decode(bk_cfg *c, unsigned which);
unsigned bk_decode_cases(const bk_cfg *c);
int bk_stage_worker(bk_cfg *c);

#endif
