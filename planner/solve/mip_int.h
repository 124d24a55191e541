/* mip_int.h - the compact MIP's working state, shared by the files that build it (mip_model.c),
 * warm-start it (mip_warm.c), read its solution (mip_extract.c) and drive it (mip.c). */
#ifndef SOLVE_MIP_INT_H
#define SOLVE_MIP_INT_H

#include "current.h"
#include "lp.h"
#include "mip.h"

typedef struct mip_slot {
    int b;            /* bin type */
    const char *name; /* inventory or current node name; NULL for a fresh slot */
    int sym_prev;     /* previous slot of the same symmetry class, -1 */
    bool pinned;      /* hosts a pinned placement: its GPUs are not interchangeable */
    int y;            /* column */
    int cap_row;      /* first of n_gpus capacity rows */
} mip_slot;

typedef struct mip_pin {
    size_t group;
    uint32_t replica;
    int n_stages;
    int slot[PLAN_MAX_PP];
    size_t pl[PLAN_MAX_PP]; /* index into current->placements */
    int col;
} mip_pin;

typedef struct mip_m {
    const vw_view *v;
    const plan_problem *p;
    const mip_args *a;
    size_t nk;
    size_t ns;
    mip_slot *slots;
    int *zbase; /* [n * nk + j]: first z column, -1 when j may not go on n */
    int *mcol;  /* [n * nk + j]: m column when tp > 1, else -1 */
    int *ucol;  /* [group]: unplaced slack column or -1 */
    double penalty;
    size_t npin;
    mip_pin *pins;
    long budget; /* max moves, -1 = none */
    /* columns */
    int ncols, capcols;
    double *cost, *lo, *hi;
    char *ctype; /* 'B','I','C' */
    /* rows */
    int nrows, caprows;
    char *rsense;
    double *rrhs;
    /* matrix, 0-based triplets */
    lp_triplets trip; /* the matrix */
} mip_m;

/* mip_model.c */
int mm_layout(mip_m *m, vp_err *e);
size_t mm_estimate_cols(const mip_m *m);
int mm_build(mip_m *m, vp_err *e);
void mm_free(mip_m *m);
int mm_slot_by_name(const mip_m *m, const char *name);
uint64_t mm_kind_bytes(const mip_m *m, size_t j, int b);

/* mip_warm.c: a plan as a column vector (ncols values); false when it does not fit the model. */
bool mw_vector(const mip_m *m, const place_plan *w, double *x);

/* mip_extract.c: the solution x (ncols values) as a plan. */
int mx_plan(const mip_m *m, const double *x, place_plan **out, vp_err *e);

#endif
