/* view.h - the packing problem as the solvers see it: unit kinds, node classes and the lookups
 * every layer needs (model name to group, node to bin type, fresh node names).
 *
 * A replica of a model is P stage units (P = 1 unless pipelined); a unit kind is a (model, stage)
 * pair of a placeable model, with the model's replicas as its demand. A node class is a set of
 * interchangeable bin types: one purchasable instance type (up to max_count nodes), or identical
 * inventory nodes. For each (class, kind) the view records whether the kind may go there, its
 * tensor-parallel degree and its bytes per GPU. Built once per solve; read-only after. */
#ifndef SOLVE_VIEW_H
#define SOLVE_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "planner.h"

typedef struct vw_kind {
    size_t group;
    uint32_t stage;
    uint32_t pp;      /* stages of the model */
    uint32_t demand;  /* replicas */
    bool spread;
} vw_kind;

typedef struct vw_class {
    int b;            /* representative bin type */
    int *members;     /* bin types in the class */
    int n_members;
    int G;            /* GPUs per node */
    uint64_t U;       /* usable bytes per GPU */
    double price;     /* per node and hour */
    long max_nodes;   /* -1 = unlimited */
    bool inventory;
} vw_class;

typedef struct vw_name {
    const char *name;
    size_t group;
} vw_name;

typedef struct vw_view {
    const plan_problem *p;
    vw_name *names;   /* sorted by name */
    vw_kind *kinds;
    size_t nk;
    int *kind_of;     /* [group * PLAN_MAX_PP + stage] -> kind, -1 */
    vw_class *cls;
    size_t nc;
    int *cls_of;      /* [bin type] -> class, -1 (max_count 0, no GPUs) */
    uint8_t *ok;      /* [class * nk + kind] */
    uint32_t *tp;     /* [class * nk + kind] */
    uint64_t *w;      /* [class * nk + kind] bytes per GPU (at least 1) */
} vw_view;

int vw_init(vw_view *v, const plan_problem *p);
void vw_free(vw_view *v);

/* Group of the model named `model`, or -1. O(log models). */
int vw_group(const vw_view *v, const char *model);
/* Kind of a placement's (model, stage), or -1. */
int vw_kind_of(const vw_view *v, const place_placement *pl);
/* The class-kind cell index; true when kind j may go on class c. */
static inline size_t vw_ck(const vw_view *v, size_t c, size_t j)
{
    return c * v->nk + j;
}

/* A model with replicas and at least one bin type it fits. */
bool vw_placeable(const plan_problem *p, size_t g);
const char *vw_model_name(const plan_problem *p, size_t g);
/* Every replica of a placeable model is placed (none of them in plan->unplaced). */
bool vw_places_all(const vw_view *v, const place_plan *plan);

/* Next free sequence number per bin type for the names of bought nodes ("<type>-<n>"), from one
 * scan of a plan: adding many nodes then costs O(1) each instead of a scan of the plan. */
typedef struct vw_namer {
    long *next; /* [bin type] */
} vw_namer;
int vw_namer_init(vw_namer *nm, const plan_problem *p, const place_plan *plan);
void vw_namer_free(vw_namer *nm);

/* Appends an empty node of bin type b named "<type>-<n>", n the namer's next number (skipping
 * names of inventory nodes). Returns its index or a negative code. */
int vw_add_node(const plan_problem *p, place_plan *plan, size_t b, vw_namer *nm);
/* The inventory node of bin type b, added when the plan lacks it. Index or negative code. */
int vw_inventory_node(const plan_problem *p, place_plan *plan, size_t b);

#endif
