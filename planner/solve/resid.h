/* resid.h - completing a dive: the residual demand packed by minimum bin slack (mbs.h) into GPU
 * patterns, so every node of a dive yields a complete set of patterns, not only its last one. */
#ifndef SOLVE_RESID_H
#define SOLVE_RESID_H

#include "master.h"

typedef struct rs_use {
    int pat;
    long copies;
} rs_use;

typedef struct rs_set {
    rs_use *v;
    size_t n, cap;
    double cost; /* the patterns' GPU prices */
} rs_set;

/* Packs what the residual still wants when every kind left may go anywhere on one GPU (TP 1,
 * not spread): for each class able to take all of it, minimum bin slack into its GPUs, each
 * GPU then moved to the cheapest class that takes its content (a result that needs more GPUs of
 * a capped class than are left does not count); the cheapest result counts. When it costs less
 * than `limit`, its patterns are added to the master (cg_add_pattern) and listed in *out, and
 * the result is 1; 0 when not (nothing added: no packing, or none cheap enough), or a negative
 * code. effort caps each packing's search nodes. Deterministic. */
int rs_complete(cg_master *m, long effort, double limit, rs_set *out);
void rs_set_free(rs_set *s);

#endif
