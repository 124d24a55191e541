/* edit.h - a plan being changed in place: per-node placement lists kept up to date through every
 * assign and unassign, the bin type of each node, nodes bought per type, and the placement rules
 * (shape, TP, spread, distinct nodes for a replica's stages) checked in one place. Repair, local
 * search and LNS all edit plans through it. */
#ifndef SOLVE_EDIT_H
#define SOLVE_EDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "view.h"

typedef struct ed_plan {
    const vw_view *v;
    place_plan *plan;
    int *nbt;            /* [node] bin type, -1 unknown */
    int *head;           /* [node] first placement, -1 */
    int *prev, *next;    /* [placement] neighbours on the same node, -1 */
    int *grp;            /* [placement] group, -1 unknown */
    size_t cap_nodes, cap_pl;
    int *count;          /* [bin type] nodes of that type in the plan */
    vw_namer names;      /* names for bought nodes */
} ed_plan;

/* Takes `plan` (borrowed; must outlive the editor). 0 or -ENOMEM. */
int ed_init(ed_plan *x, const vw_view *v, place_plan *plan);
void ed_free(ed_plan *x);

/* A new node of bin type b (inventory: the node itself, added when missing). Index or a
 * negative code. */
int ed_add_node(ed_plan *x, size_t b);
/* Places stage `stage` of replica r of group g on node n, GPUs gpus[0..tp-1]. Index or code. */
int ed_assign(ed_plan *x, size_t g, uint32_t r, uint32_t stage, int n, const uint8_t *gpus);
/* Removes placement k (the last one moves into its slot, as place_plan_unassign does). */
void ed_unassign(ed_plan *x, size_t k);

/* Node n may take stage `stage` of replica r of group g by the rules (shape allowed on its type,
 * spread, a replica's stages on distinct nodes), room aside. */
bool ed_allowed(const ed_plan *x, int n, size_t g, uint32_t r, uint32_t stage);
/* The tp GPUs of node n with the least room that still take w bytes each; returns the slack
 * left on them in GPUs (room / usable) or -1 when fewer than tp GPUs have room. `extra` (may
 * be NULL) adds bytes already promised per GPU. */
double ed_tightest(const ed_plan *x, int n, uint32_t tp, uint64_t w, const uint64_t *extra,
                   uint8_t *out);
/* Placements on node n. */
size_t ed_load(const ed_plan *x, int n);
/* Bytes used over usable bytes of node n. */
double ed_fill(const ed_plan *x, int n);

#endif
