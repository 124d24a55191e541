/* view.c - unit kinds, node classes and lookups shared by the solvers (see view.h), and the
 * problem helpers planner.h exports for the rest of the planner (node from bin type, bin type of
 * a node, group of a model, decode latency estimates).
 *
 * Identical inventory nodes share a class so that column generation prices them once; a
 * purchasable type is always a class of its own because max_count counts each type separately. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "view.h"

bool vw_placeable(const plan_problem *p, size_t g)
{
    const plan_group *gr = &p->groups[g];
    if (gr->replicas == 0 || gr->why_not[0]) return false;
    for (size_t b = 0; b < p->n_bintypes; b++)
        if (gr->shapes[b].ok) return true;
    return false;
}

const char *vw_model_name(const plan_problem *p, size_t g)
{
    return p->manifest->models[p->groups[g].model].name;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(((const vw_name *)a)->name, ((const vw_name *)b)->name);
}

int vw_group(const vw_view *v, const char *model)
{
    vw_name key = {.name = model};
    const vw_name *f =
        v->p->n_groups ? bsearch(&key, v->names, v->p->n_groups, sizeof key, name_cmp) : NULL;
    return f ? (int)f->group : -1;
}

int vw_kind_of(const vw_view *v, const place_placement *pl)
{
    int g = vw_group(v, pl->model);
    int st = pl->stage < 0 ? 0 : pl->stage;
    if (g < 0 || st >= PLAN_MAX_PP) return -1;
    return v->kind_of[(size_t)g * PLAN_MAX_PP + (size_t)st];
}

bool vw_places_all(const vw_view *v, const place_plan *plan)
{
    for (size_t u = 0; u < plan->n_unplaced; u++) {
        int g = vw_group(v, plan->unplaced[u].model);
        if (g >= 0 && vw_placeable(v->p, (size_t)g)) return false;
    }
    return true;
}

static bool same_shapes(const plan_problem *p, int a, int b)
{
    const plan_bintype *x = &p->bintypes[a], *y = &p->bintypes[b];
    if (x->gpu != y->gpu || x->n_gpus != y->n_gpus || x->usable_per_gpu != y->usable_per_gpu ||
        x->price_per_hour != y->price_per_hour)
        return false;
    for (size_t g = 0; g < p->n_groups; g++) {
        const plan_shape *s = &p->groups[g].shapes[a], *t = &p->groups[g].shapes[b];
        if (s->ok != t->ok ||
            (s->ok && (s->tp != t->tp ||
                       memcmp(s->stage_bytes, t->stage_bytes, sizeof s->stage_bytes) != 0)))
            return false;
    }
    return true;
}

static int init_kinds(vw_view *v)
{
    const plan_problem *p = v->p;
    size_t ng = p->n_groups ? p->n_groups : 1;
    v->names = malloc(ng * sizeof *v->names);
    v->kinds = malloc(ng * PLAN_MAX_PP * sizeof *v->kinds);
    v->kind_of = malloc(ng * PLAN_MAX_PP * sizeof *v->kind_of);
    if (!v->names || !v->kinds || !v->kind_of) return -ENOMEM;
    for (size_t g = 0; g < p->n_groups; g++) {
        const plan_group *gr = &p->groups[g];
        v->names[g] = (vw_name){vw_model_name(p, g), g};
        bool ok = vw_placeable(p, g);
        for (uint32_t s = 0; s < PLAN_MAX_PP; s++) {
            v->kind_of[g * PLAN_MAX_PP + s] = -1;
            if (!ok || s >= gr->pp) continue;
            v->kind_of[g * PLAN_MAX_PP + s] = (int)v->nk;
            v->kinds[v->nk++] = (vw_kind){g, s, gr->pp, gr->replicas,
                                          p->manifest->models[gr->model].spread};
        }
    }
    qsort(v->names, p->n_groups, sizeof *v->names, name_cmp);
    return 0;
}

static int init_classes(vw_view *v)
{
    const plan_problem *p = v->p;
    size_t nb = p->n_bintypes ? p->n_bintypes : 1;
    v->cls = calloc(nb, sizeof *v->cls);
    v->cls_of = malloc(nb * sizeof *v->cls_of);
    if (!v->cls || !v->cls_of) return -ENOMEM;
    for (size_t b = 0; b < p->n_bintypes; b++) {
        const plan_bintype *bt = &p->bintypes[b];
        v->cls_of[b] = -1;
        if (bt->n_gpus <= 0 || bt->usable_per_gpu == 0 || bt->max_count == 0) continue;
        int found = -1;
        for (size_t c = 0; c < v->nc && found < 0 && bt->inventory; c++)
            if (v->cls[c].inventory && same_shapes(p, v->cls[c].b, (int)b)) found = (int)c;
        if (found < 0) {
            vw_class *c = &v->cls[v->nc];
            *c = (vw_class){.b = (int)b, .G = bt->n_gpus, .U = bt->usable_per_gpu,
                            .price = bt->price_per_hour, .inventory = bt->inventory,
                            .max_nodes = bt->inventory ? 0 : bt->max_count};
            c->members = malloc(nb * sizeof *c->members);
            if (!c->members) return -ENOMEM;
            found = (int)v->nc++;
        }
        vw_class *c = &v->cls[found];
        c->members[c->n_members++] = (int)b;
        if (bt->inventory) c->max_nodes++;
        v->cls_of[b] = found;
    }
    return 0;
}

static int init_cells(vw_view *v)
{
    const plan_problem *p = v->p;
    size_t n = (v->nc ? v->nc : 1) * (v->nk ? v->nk : 1);
    v->ok = calloc(n, 1);
    v->tp = calloc(n, sizeof *v->tp);
    v->w = calloc(n, sizeof *v->w);
    if (!v->ok || !v->tp || !v->w) return -ENOMEM;
    for (size_t c = 0; c < v->nc; c++) {
        const plan_bintype *bt = &p->bintypes[v->cls[c].b];
        for (size_t j = 0; j < v->nk; j++) {
            const plan_shape *s = &p->groups[v->kinds[j].group].shapes[v->cls[c].b];
            uint64_t w = s->stage_bytes[v->kinds[j].stage];
            if (!s->ok || s->tp < 1 || (int)s->tp > bt->n_gpus || w > bt->usable_per_gpu) continue;
            size_t x = vw_ck(v, c, j);
            v->ok[x] = 1;
            v->tp[x] = s->tp;
            v->w[x] = w ? w : 1;
        }
    }
    return 0;
}

int vw_init(vw_view *v, const plan_problem *p)
{
    memset(v, 0, sizeof *v);
    v->p = p;
    int rc = init_kinds(v);
    if (!rc) rc = init_classes(v);
    if (!rc) rc = init_cells(v);
    if (rc) vw_free(v);
    return rc;
}

void vw_free(vw_view *v)
{
    if (!v) return;
    for (size_t c = 0; v->cls && c < v->nc; c++)
        free(v->cls[c].members);
    free(v->names);
    free(v->kinds);
    free(v->kind_of);
    free(v->cls);
    free(v->cls_of);
    free(v->ok);
    free(v->tp);
    free(v->w);
    memset(v, 0, sizeof *v);
}

int vw_namer_init(vw_namer *nm, const plan_problem *p, const place_plan *plan)
{
    nm->next = calloc(p->n_bintypes ? p->n_bintypes : 1, sizeof *nm->next);
    if (!nm->next) return -ENOMEM;
    for (size_t i = 0; i < plan->n_nodes; i++) {
        const char *name = plan->nodes[i].name;
        for (size_t b = 0; b < p->n_bintypes; b++) {
            const char *type = p->bintypes[b].type;
            size_t tl = strlen(type);
            if (p->bintypes[b].inventory || strncmp(name, type, tl) || name[tl] != '-') continue;
            char *end;
            long v = strtol(name + tl + 1, &end, 10);
            if (*end == '\0' && v >= nm->next[b]) nm->next[b] = v + 1;
        }
    }
    return 0;
}

void vw_namer_free(vw_namer *nm)
{
    free(nm->next);
    nm->next = NULL;
}

int vw_add_node(const plan_problem *p, place_plan *plan, size_t b, vw_namer *nm)
{
    place_node nd;
    do /* an owned node may have the name */
        plan_node_from_bintype(p, b, (int)nm->next[b]++, &nd);
    while (plan_is_inventory_name(p, nd.name));
    return place_plan_add_node(plan, &nd);
}

int vw_inventory_node(const plan_problem *p, place_plan *plan, size_t b)
{
    const char *name = p->bintypes[b].inv_name;
    for (size_t i = 0; i < plan->n_nodes; i++)
        if (!strcmp(plan->nodes[i].name, name)) return (int)i;
    place_node nd;
    plan_node_from_bintype(p, b, 0, &nd);
    return place_plan_add_node(plan, &nd);
}

/* ---------------------------------------------------------------- planner.h helpers */

void plan_node_from_bintype(const plan_problem *p, size_t b, int seq, place_node *out)
{
    const plan_bintype *bt = &p->bintypes[b];
    memset(out, 0, sizeof *out);
    if (bt->inventory)
        snprintf(out->name, sizeof out->name, "%s", bt->inv_name);
    else
        snprintf(out->name, sizeof out->name, "%s-%d", bt->type, seq);
    snprintf(out->type, sizeof out->type, "%s", bt->type);
    out->price_per_hour = bt->price_per_hour;
    out->inventory = bt->inventory;
    out->n_gpus = bt->n_gpus;
    const plan_gpu_model *gm = &p->fleet->gpus[bt->gpu];
    for (int g = 0; g < bt->n_gpus; g++) {
        snprintf(out->gpus[g].model, sizeof out->gpus[g].model, "%s", gm->name);
        out->gpus[g].usable_bytes = bt->usable_per_gpu;
        out->gpus[g].bandwidth_gbs = gm->bandwidth_gbs;
    }
}

bool plan_is_inventory_name(const plan_problem *p, const char *name)
{
    for (size_t b = 0; b < p->n_bintypes; b++)
        if (p->bintypes[b].inventory && !strcmp(p->bintypes[b].inv_name, name)) return true;
    return false;
}

int plan_node_bintype(const plan_problem *p, const place_node *n)
{
    for (size_t b = 0; b < p->n_bintypes; b++) {
        const plan_bintype *bt = &p->bintypes[b];
        if (bt->inventory) {
            if (strcmp(bt->inv_name, n->name) == 0) return (int)b;
        } else if (!n->inventory && strcmp(bt->type, n->type) == 0) {
            return (int)b;
        }
    }
    return -1;
}

int plan_group_find(const plan_problem *p, const char *model)
{
    for (size_t g = 0; g < p->n_groups; g++)
        if (!strcmp(p->manifest->models[p->groups[g].model].name, model)) return (int)g;
    return -1;
}

uint64_t plan_decode_bytes_per_gpu(const plan_shape *s, uint32_t stage)
{
    (void)stage; /* stages hold an even share of the layers */
    uint64_t div = (uint64_t)s->tp * s->pp;
    return div ? s->fp.decode_bytes_per_token / div : 0;
}

double plan_tpot_ms(uint64_t decode_bytes, uint32_t bandwidth_gbs)
{
    if (!bandwidth_gbs) return 0;
    return (double)decode_bytes / ((double)bandwidth_gbs * 1e9) * 1e3;
}

void plan_estimate_latency(const plan_problem *p, place_plan *plan)
{
    /* Decode bytes per GPU summed over every tenant, then each slice's step time is the slowest
     * of its GPUs (a TP group waits for its slowest member; a pipeline stage for each other). */
    double (*load)[PLACE_MAX_GPUS] = calloc(plan->n_nodes ? plan->n_nodes : 1, sizeof *load);
    uint64_t *mine = calloc(plan->n_placements ? plan->n_placements : 1, sizeof *mine);
    int *nbt = malloc((plan->n_nodes ? plan->n_nodes : 1) * sizeof *nbt);
    vw_view v;
    bool have_view = vw_init(&v, p) == 0;
    if (!load || !mine || !nbt || !have_view) goto out;
    for (size_t i = 0; i < plan->n_nodes; i++)
        nbt[i] = plan_node_bintype(p, &plan->nodes[i]);
    for (size_t i = 0; i < plan->n_placements; i++) {
        place_placement *pl = &plan->placements[i];
        int g = vw_group(&v, pl->model), b = nbt[pl->node];
        if (g < 0 || b < 0) continue;
        mine[i] = plan_decode_bytes_per_gpu(&p->groups[g].shapes[b],
                                            pl->stage < 0 ? 0 : (uint32_t)pl->stage);
        for (int k = 0; k < pl->n_gpus; k++)
            load[pl->node][pl->gpus[k]] += (double)mine[i];
    }
    for (size_t i = 0; i < plan->n_placements; i++) {
        place_placement *pl = &plan->placements[i];
        pl->est_tpot_ms = 0;
        if (!mine[i]) continue;
        for (int k = 0; k < pl->n_gpus; k++) {
            const place_gpu *gp = &plan->nodes[pl->node].gpus[pl->gpus[k]];
            double t = plan_tpot_ms((uint64_t)load[pl->node][pl->gpus[k]], gp->bandwidth_gbs);
            if (t > pl->est_tpot_ms) pl->est_tpot_ms = t;
        }
        pl->est_tpot_ms *= pl->n_stages; /* a token passes every stage in turn */
    }
out:
    if (have_view) vw_free(&v);
    free(load);
    free(mine);
    free(nbt);
}
