/* current.c - which replicas of a running plan still run as the problem stands now. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "current.h"

static int id_cmp(const void *a, const void *b)
{
    return strcmp(((const struct cur_id *)a)->id, ((const struct cur_id *)b)->id);
}

int cur_ids_new(const place_plan *plan, cur_ids *x)
{
    x->plan = plan;
    x->n = plan->n_placements;
    x->ent = malloc((x->n ? x->n : 1) * sizeof *x->ent);
    if (!x->ent) return -ENOMEM;
    for (size_t i = 0; i < x->n; i++)
        x->ent[i] = (struct cur_id){plan->placements[i].id, i};
    qsort(x->ent, x->n, sizeof *x->ent, id_cmp);
    return 0;
}

int cur_ids_find(const cur_ids *x, const char *id)
{
    struct cur_id key = {id, 0};
    const struct cur_id *f = x->n ? bsearch(&key, x->ent, x->n, sizeof key, id_cmp) : NULL;
    return f ? (int)f->k : -1;
}

void cur_ids_free(cur_ids *x)
{
    free(x->ent);
    x->ent = NULL;
}

bool cur_same_slot(const place_plan *a, const place_placement *x, const place_plan *b,
                   const place_placement *y)
{
    return strcmp(a->nodes[x->node].name, b->nodes[y->node].name) == 0 && x->n_gpus == y->n_gpus &&
           x->bytes_per_gpu == y->bytes_per_gpu && memcmp(x->gpus, y->gpus, (size_t)x->n_gpus) == 0;
}

/* Stage s of the replica as the current plan has it, if it still fits the problem. */
static bool stage_runs(const vw_view *v, const place_plan *cur, const cur_ids *ix, const int *nbt,
                       size_t g, uint32_t r, uint32_t s, size_t *at_out)
{
    const plan_problem *p = v->p;
    const plan_group *gr = &p->groups[g];
    char id[PLACE_ID_MAX];
    place_make_id(id, sizeof id, vw_model_name(p, g), r, gr->pp > 1 ? (int)s : -1);
    int at = cur_ids_find(ix, id);
    if (at < 0) return false;
    const place_placement *pl = &cur->placements[at];
    if (pl->node < 0 || (size_t)pl->node >= cur->n_nodes || nbt[pl->node] < 0) return false;
    const plan_shape *sh = &gr->shapes[nbt[pl->node]];
    const plan_bintype *bt = &p->bintypes[nbt[pl->node]];
    if (!sh->ok || sh->tp != (uint32_t)pl->n_gpus || sh->stage_bytes[s] != pl->bytes_per_gpu ||
        cur->nodes[pl->node].n_gpus != bt->n_gpus)
        return false;
    for (int t = 0; t < pl->n_gpus; t++)
        if (pl->gpus[t] >= bt->n_gpus) return false;
    *at_out = (size_t)at;
    return true;
}

int cur_scan(const vw_view *v, const place_plan *current, cur_rep **reps, size_t *n, vp_err *e)
{
    const plan_problem *p = v->p;
    *reps = NULL;
    *n = 0;
    cur_ids ix;
    if (cur_ids_new(current, &ix)) return vp_errf(e, -ENOMEM, "out of memory");
    int *nbt = malloc((current->n_nodes ? current->n_nodes : 1) * sizeof *nbt);
    size_t total = 0, k = 0;
    for (size_t g = 0; g < p->n_groups; g++)
        total += p->groups[g].replicas;
    cur_rep *out = malloc((total ? total : 1) * sizeof *out);
    if (!nbt || !out) {
        free(nbt);
        free(out);
        cur_ids_free(&ix);
        return vp_errf(e, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < current->n_nodes; i++)
        nbt[i] = plan_node_bintype(p, &current->nodes[i]);
    for (size_t g = 0; g < p->n_groups; g++) {
        const plan_group *gr = &p->groups[g];
        if (!vw_placeable(p, g) || gr->pp < 1 || gr->pp > PLAN_MAX_PP) continue;
        for (uint32_t r = 0; r < gr->replicas; r++) {
            cur_rep cr = {.group = g, .replica = r, .n_stages = (int)gr->pp};
            bool ok = true;
            for (uint32_t s = 0; s < gr->pp && ok; s++)
                ok = stage_runs(v, current, &ix, nbt, g, r, s, &cr.pl[s]);
            if (ok) out[k++] = cr;
        }
    }
    free(nbt);
    cur_ids_free(&ix);
    *reps = out;
    *n = k;
    return 0;
}
