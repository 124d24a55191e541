/* layout.c - patterns to nodes (see layout.h).
 *
 * On one node, slices of kind j per GPU a_g: the most units n with sum_g min(a_g, n) >= tp x n
 * can be formed, taking z_g = min(a_g, n) slices (trimmed to tp x n) and giving the q-th slice to
 * unit q mod n: a GPU's run is at most n long, so no unit gets a GPU twice. This is the same
 * round-robin rule the compact MIP's extraction uses. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "layout.h"

#define LY_MAX_UNITS (PLACE_MAX_GPUS * 64)

typedef struct ly {
    const cg_master *m;
    const plan_problem *p;
    place_plan *plan;
    uint32_t *next_rep; /* per group: next replica number */
    int *seq;           /* patterns of the class, one entry per GPU */
    vw_namer names;
    long total;
} ly;

/* Patterns of class c, one entry per copy, TP patterns first. */
static int class_sequence(ly *L, const dv_set *set, size_t c)
{
    const cg_master *m = L->m;
    L->total = 0;
    for (size_t i = 0; i < set->n; i++)
        if (m->pats[set->v[i].pat].cls == (int)c) L->total += set->v[i].copies;
    free(L->seq);
    L->seq = malloc((size_t)(L->total > 0 ? L->total : 1) * sizeof *L->seq);
    if (!L->seq) return -ENOMEM;
    long k = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < set->n; i++) {
            const cg_pat *pt = &m->pats[set->v[i].pat];
            if (pt->cls != (int)c) continue;
            bool has_tp = false;
            for (int q = 0; q < pt->n; q++)
                has_tp |= m->v->tp[vw_ck(m->v, c, (size_t)m->pool[pt->off + (size_t)q].j)] > 1;
            if (has_tp != (pass == 0)) continue;
            for (long r = 0; r < set->v[i].copies; r++)
                L->seq[k++] = set->v[i].pat;
        }
    return 0;
}

/* Units of tp GPUs from per-GPU slice counts a[]; fills gpus/ng; returns the unit count. */
static uint32_t form_units(const uint32_t *a, int G, uint32_t tp, uint32_t cap,
                           uint8_t (*gpus)[PLACE_MAX_GPUS], int *ng)
{
    uint32_t sum = 0;
    for (int g = 0; g < G; g++)
        sum += a[g];
    uint32_t n = sum / tp;
    if (n > cap) n = cap;
    if (n > LY_MAX_UNITS) n = LY_MAX_UNITS;
    for (; n > 0; n--) {
        uint32_t s = 0;
        for (int g = 0; g < G; g++)
            s += a[g] < n ? a[g] : n;
        if (s >= tp * n) break;
    }
    if (!n) return 0;
    uint32_t z[PLACE_MAX_GPUS], zs = 0;
    for (int g = 0; g < G; g++)
        zs += z[g] = a[g] < n ? a[g] : n;
    for (int g = G - 1; g >= 0 && zs > tp * n; g--) {
        uint32_t cut = zs - tp * n < z[g] ? zs - tp * n : z[g];
        z[g] -= cut;
        zs -= cut;
    }
    memset(ng, 0, n * sizeof *ng);
    uint32_t q = 0;
    for (int g = 0; g < G; g++)
        for (uint32_t t = 0; t < z[g]; t++, q++) {
            uint32_t u = q % n;
            if (ng[u] < (int)tp) gpus[u][ng[u]++] = (uint8_t)g;
        }
    return n;
}

/* Places what node `idx` (the nd-th node of class c) can hold of kind j. */
static int place_kind(ly *L, size_t c, long nd, size_t j, int idx)
{
    const cg_master *m = L->m;
    const vw_view *v = m->v;
    const vw_class *cl = &v->cls[c];
    const vw_kind *kd = &v->kinds[j];
    if (kd->pp > 1 || !v->ok[vw_ck(v, c, j)]) return 0; /* pipelines are placed by repair */
    uint32_t a[PLACE_MAX_GPUS] = {0};
    for (int g = 0; g < cl->G; g++) {
        long s = nd * cl->G + g;
        if (s < L->total) a[g] = cg_pat_count(m, L->seq[s], (int)j);
    }
    const plan_group *gr = &L->p->groups[kd->group];
    uint32_t left = gr->replicas - L->next_rep[kd->group];
    if (kd->spread && left > 1) left = 1;
    static _Thread_local uint8_t gpus[LY_MAX_UNITS][PLACE_MAX_GPUS];
    static _Thread_local int ng[LY_MAX_UNITS];
    uint32_t tp = v->tp[vw_ck(v, c, j)];
    uint32_t n = form_units(a, cl->G, tp, left, gpus, ng);
    const char *model = vw_model_name(L->p, kd->group);
    uint64_t w = gr->shapes[cl->b].stage_bytes[kd->stage];
    for (uint32_t u = 0; u < n; u++) {
        if (ng[u] != (int)tp) continue;
        int r = place_plan_assign(L->plan, model, L->next_rep[kd->group], -1, 1, idx, gpus[u],
                                  (int)tp, w);
        if (r == VP_ENOSPACE) continue; /* cannot happen with exact patterns */
        if (r < 0) return r;
        L->next_rep[kd->group]++;
    }
    return 0;
}

static int lay_class(ly *L, const dv_set *set, size_t c)
{
    const vw_class *cl = &L->m->v->cls[c];
    int rc = class_sequence(L, set, c);
    if (rc || !L->total) return rc;
    long nodes = (L->total + cl->G - 1) / cl->G;
    for (long nd = 0; nd < nodes; nd++) {
        int idx;
        if (cl->inventory) {
            if (nd >= cl->n_members) break;
            idx = vw_inventory_node(L->p, L->plan, (size_t)cl->members[nd]);
        } else {
            idx = vw_add_node(L->p, L->plan, (size_t)cl->b, &L->names);
        }
        if (idx < 0) return idx;
        for (size_t j = 0; j < L->m->nk && !rc; j++)
            rc = place_kind(L, c, nd, j, idx);
        if (rc) return rc;
    }
    return 0;
}

int ly_build(const cg_master *m, const dv_set *set, place_plan *plan, vp_err *e)
{
    const plan_problem *p = m->v->p;
    ly L = {.m = m, .p = p, .plan = plan};
    L.next_rep = calloc(p->n_groups ? p->n_groups : 1, sizeof *L.next_rep);
    int rc = L.next_rep && !vw_namer_init(&L.names, p, plan) ? 0 : -ENOMEM;
    for (size_t b = 0; b < p->n_bintypes && !rc; b++)
        if (p->bintypes[b].inventory) {
            int idx = vw_inventory_node(p, plan, b);
            if (idx < 0) rc = idx;
        }
    for (size_t c = 0; c < m->nc && !rc; c++)
        rc = lay_class(&L, set, c);
    free(L.next_rep);
    free(L.seq);
    vw_namer_free(&L.names);
    if (rc) return vp_errf(e, rc, "laying out patterns failed (%s)", vp_strerror(rc));
    return 0;
}
