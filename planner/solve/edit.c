/* edit.c - the plan editor (see edit.h).
 *
 * Per-node doubly linked lists over placement indices make assign, unassign (with the last
 * placement moving into the freed slot) and "what is on node n" all O(1) per placement; arrays
 * grow with the plan. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "edit.h"

static int grow(ed_plan *x)
{
    const place_plan *p = x->plan;
    if (p->n_nodes + 1 > x->cap_nodes) {
        size_t old = x->cap_nodes, nc = (p->n_nodes + 1) * 2;
        int *h = realloc(x->head, nc * sizeof *h), *t;
        if (!h) return -ENOMEM;
        x->head = h;
        if (!(t = realloc(x->nbt, nc * sizeof *t))) return -ENOMEM;
        x->nbt = t;
        for (size_t i = old; i < nc; i++)
            x->head[i] = x->nbt[i] = -1;
        x->cap_nodes = nc;
    }
    if (p->n_placements + 1 > x->cap_pl) {
        size_t nc = (p->n_placements + 1) * 2;
        int *a = realloc(x->prev, nc * sizeof *a);
        if (!a) return -ENOMEM;
        x->prev = a;
        if (!(a = realloc(x->next, nc * sizeof *a))) return -ENOMEM;
        x->next = a;
        if (!(a = realloc(x->grp, nc * sizeof *a))) return -ENOMEM;
        x->grp = a;
        x->cap_pl = nc;
    }
    return 0;
}

static void link(ed_plan *x, int k)
{
    int n = x->plan->placements[k].node;
    x->prev[k] = -1;
    x->next[k] = x->head[n];
    if (x->head[n] >= 0) x->prev[x->head[n]] = k;
    x->head[n] = k;
}

static void unlink_pl(ed_plan *x, int k)
{
    int n = x->plan->placements[k].node;
    if (x->prev[k] >= 0)
        x->next[x->prev[k]] = x->next[k];
    else
        x->head[n] = x->next[k];
    if (x->next[k] >= 0) x->prev[x->next[k]] = x->prev[k];
}

int ed_init(ed_plan *x, const vw_view *v, place_plan *plan)
{
    memset(x, 0, sizeof *x);
    x->v = v;
    x->plan = plan;
    x->count = calloc(v->p->n_bintypes ? v->p->n_bintypes : 1, sizeof *x->count);
    if (!x->count || grow(x) || vw_namer_init(&x->names, v->p, plan)) {
        ed_free(x);
        return -ENOMEM;
    }
    for (size_t i = 0; i < plan->n_nodes; i++) {
        x->nbt[i] = plan_node_bintype(v->p, &plan->nodes[i]);
        if (x->nbt[i] >= 0) x->count[x->nbt[i]]++;
    }
    for (size_t k = plan->n_placements; k-- > 0;) {
        x->grp[k] = vw_group(v, plan->placements[k].model);
        link(x, (int)k);
    }
    return 0;
}

void ed_free(ed_plan *x)
{
    free(x->nbt);
    free(x->head);
    free(x->prev);
    free(x->next);
    free(x->grp);
    free(x->count);
    vw_namer_free(&x->names);
    memset(x, 0, sizeof *x);
}

int ed_add_node(ed_plan *x, size_t b)
{
    const plan_problem *p = x->v->p;
    if (grow(x)) return -ENOMEM;
    size_t before = x->plan->n_nodes;
    int idx = p->bintypes[b].inventory ? vw_inventory_node(p, x->plan, b)
                                       : vw_add_node(p, x->plan, b, &x->names);
    if (idx < 0) return idx;
    if ((size_t)idx >= before) {
        x->nbt[idx] = (int)b;
        x->head[idx] = -1;
        x->count[b]++;
    }
    return idx;
}

int ed_assign(ed_plan *x, size_t g, uint32_t r, uint32_t stage, int n, const uint8_t *gpus)
{
    const plan_problem *p = x->v->p;
    const plan_group *gr = &p->groups[g];
    const plan_shape *sh = &gr->shapes[x->nbt[n]];
    if (grow(x)) return -ENOMEM;
    int k = place_plan_assign(x->plan, vw_model_name(p, g), r, gr->pp > 1 ? (int)stage : -1,
                              (int)gr->pp, n, gpus, (int)sh->tp, sh->stage_bytes[stage]);
    if (k < 0) return k;
    x->grp[k] = (int)g;
    link(x, k);
    return k;
}

void ed_unassign(ed_plan *x, size_t k)
{
    place_plan *p = x->plan;
    size_t last = p->n_placements - 1;
    unlink_pl(x, (int)k);
    if (k != last) {
        /* The last placement takes slot k: relink it under its new index. */
        unlink_pl(x, (int)last);
        place_plan_unassign(p, k);
        x->grp[k] = x->grp[last];
        link(x, (int)k);
    } else {
        place_plan_unassign(p, k);
    }
}

bool ed_allowed(const ed_plan *x, int n, size_t g, uint32_t r, uint32_t stage)
{
    const plan_problem *p = x->v->p;
    const plan_group *gr = &p->groups[g];
    if (x->nbt[n] < 0 || !gr->shapes[x->nbt[n]].ok) return false;
    bool spread = p->manifest->models[gr->model].spread;
    if (!spread && gr->pp <= 1) return true;
    for (int k = x->head[n]; k >= 0; k = x->next[k]) {
        if (x->grp[k] != (int)g) continue;
        if (spread) return false;
        const place_placement *pl = &x->plan->placements[k];
        if (pl->replica == r && (uint32_t)pl->stage != stage) return false;
    }
    return true;
}

double ed_tightest(const ed_plan *x, int n, uint32_t tp, uint64_t w, const uint64_t *extra,
                   uint8_t *out)
{
    const place_node *nd = &x->plan->nodes[n];
    uint8_t cand[PLACE_MAX_GPUS];
    uint64_t room[PLACE_MAX_GPUS];
    int nc = 0;
    for (int g = 0; g < nd->n_gpus; g++) {
        const place_gpu *gp = &nd->gpus[g];
        uint64_t used = gp->used_bytes + (extra ? extra[g] : 0);
        if (used > gp->usable_bytes || gp->usable_bytes - used < w) continue;
        uint64_t r = gp->usable_bytes - used;
        int k = nc++;
        while (k > 0 && room[k - 1] > r) {
            room[k] = room[k - 1];
            cand[k] = cand[k - 1];
            k--;
        }
        room[k] = r;
        cand[k] = (uint8_t)g;
    }
    if ((uint32_t)nc < tp) return -1;
    double slack = 0;
    for (uint32_t t = 0; t < tp; t++) {
        out[t] = cand[t];
        slack += (double)(room[t] - w) / (double)nd->gpus[cand[t]].usable_bytes;
    }
    return slack;
}

size_t ed_load(const ed_plan *x, int n)
{
    size_t c = 0;
    for (int k = x->head[n]; k >= 0; k = x->next[k])
        c++;
    return c;
}

double ed_fill(const ed_plan *x, int n)
{
    const place_node *nd = &x->plan->nodes[n];
    double used = 0, tot = 0;
    for (int g = 0; g < nd->n_gpus; g++) {
        used += (double)nd->gpus[g].used_bytes;
        tot += (double)nd->gpus[g].usable_bytes;
    }
    return tot > 0 ? used / tot : 1;
}
