/* fill.c - repair by best fit (see fill.h).
 *
 * Opening a node is judged by price per unit it can hold of the kind at hand (capped by what is
 * still to place of that kind), so a big node is bought only when enough of the kind is left to
 * fill it. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fill.h"

#define NO_ROOM                                                                                  \
    "no room: every allowed node is full and no allowed instance type can be bought "           \
    "(inventory exhausted or max_count reached)"

typedef struct miss {
    size_t group;
    uint32_t replica;
    uint32_t stages; /* bitmask of stages to place */
    double key;
} miss;

typedef struct fl {
    ed_plan *x;
    const plan_problem *p;
    size_t *base;    /* [group] offset into have */
    uint32_t *have;  /* [replica] stages placed */
    size_t *left;    /* [group * PLAN_MAX_PP + stage] units still to place */
    miss *m;
    size_t nm;
} fl;

static int miss_cmp(const void *a, const void *b)
{
    const miss *x = a, *y = b;
    if (x->key != y->key) return x->key > y->key ? -1 : 1;
    if (x->group != y->group) return x->group < y->group ? -1 : 1;
    return x->replica < y->replica ? -1 : (x->replica > y->replica);
}

static uint32_t all_stages(const plan_group *gr)
{
    return gr->pp >= 32 ? 0xffffffffu : (1u << gr->pp) - 1;
}

/* What each replica has, and the list of what is missing. */
static int survey(fl *F)
{
    const plan_problem *p = F->p;
    const place_plan *plan = F->x->plan;
    size_t total = 0;
    for (size_t g = 0; g < p->n_groups; g++) {
        F->base[g] = total;
        total += p->groups[g].replicas;
    }
    F->have = calloc(total ? total : 1, sizeof *F->have);
    F->m = malloc((total ? total : 1) * sizeof *F->m);
    if (!F->have || !F->m) return -ENOMEM;
    for (size_t k = 0; k < plan->n_placements; k++) {
        const place_placement *pl = &plan->placements[k];
        int g = F->x->grp[k];
        uint32_t st = pl->stage < 0 ? 0 : (uint32_t)pl->stage;
        if (g < 0 || pl->replica >= p->groups[g].replicas || st >= 32) continue;
        F->have[F->base[g] + pl->replica] |= 1u << st;
    }
    for (size_t g = 0; g < p->n_groups; g++) {
        const plan_group *gr = &p->groups[g];
        if (!vw_placeable(p, g)) continue;
        double key = 0;
        for (size_t b = 0; b < p->n_bintypes; b++) {
            const plan_shape *s = &gr->shapes[b];
            double bytes = 0;
            for (uint32_t st = 0; s->ok && st < gr->pp; st++)
                bytes += (double)s->stage_bytes[st] * s->tp;
            if (bytes > key) key = bytes;
        }
        for (uint32_t r = 0; r < gr->replicas; r++) {
            uint32_t need = all_stages(gr) & ~F->have[F->base[g] + r];
            if (!need) continue;
            F->m[F->nm++] = (miss){g, r, need, key};
            for (uint32_t st = 0; st < gr->pp; st++)
                if (need >> st & 1u) F->left[g * PLAN_MAX_PP + st]++;
        }
    }
    qsort(F->m, F->nm, sizeof *F->m, miss_cmp);
    return 0;
}

/* Units of the kind an empty node of type b holds, for judging price per unit. */
static double units_on(const fl *F, size_t b, const miss *ms, uint32_t st)
{
    const plan_bintype *bt = &F->p->bintypes[b];
    const plan_group *gr = &F->p->groups[ms->group];
    const plan_shape *sh = &gr->shapes[b];
    double u = floor((double)bt->n_gpus / sh->tp) *
               floor((double)bt->usable_per_gpu / (double)sh->stage_bytes[st]);
    double want = (double)F->left[ms->group * PLAN_MAX_PP + st];
    if (F->p->manifest->models[gr->model].spread && u > 1) u = 1;
    if (u > want) u = want;
    return u < 1 ? 1 : u;
}

/* An idle node of the plan, or a new one of the cheapest type per unit; -1 when none. */
static int open_node(fl *F, const miss *ms, uint32_t st)
{
    ed_plan *x = F->x;
    const plan_problem *p = F->p;
    const plan_group *gr = &p->groups[ms->group];
    double best = INFINITY;
    int idle = -1, buy = -1;
    for (size_t n = 0; n < x->plan->n_nodes; n++) {
        if (x->nbt[n] < 0 || x->head[n] >= 0 || !gr->shapes[x->nbt[n]].ok) continue;
        double eff = p->bintypes[x->nbt[n]].price_per_hour / units_on(F, (size_t)x->nbt[n], ms, st);
        if (eff < best) best = eff, idle = (int)n;
    }
    for (size_t b = 0; b < p->n_bintypes; b++) {
        const plan_bintype *bt = &p->bintypes[b];
        if (bt->inventory || !gr->shapes[b].ok) continue;
        if (bt->max_count >= 0 && x->count[b] >= bt->max_count) continue;
        double eff = bt->price_per_hour / units_on(F, b, ms, st);
        if (eff < best * (1 - 1e-12)) best = eff, buy = (int)b, idle = -1;
    }
    if (idle >= 0) return idle;
    return buy >= 0 ? ed_add_node(x, (size_t)buy) : -1;
}

/* Places one stage: best fit into nodes in use, else a node opened for it. */
static int place_stage(fl *F, const miss *ms, uint32_t st)
{
    ed_plan *x = F->x;
    const plan_group *gr = &F->p->groups[ms->group];
    int best = -1;
    double best_slack = 0;
    uint8_t gpus[PLACE_MAX_GPUS], bg[PLACE_MAX_GPUS];
    for (size_t n = 0; n < x->plan->n_nodes; n++) {
        if (x->head[n] < 0 || !ed_allowed(x, (int)n, ms->group, ms->replica, st)) continue;
        const plan_shape *sh = &gr->shapes[x->nbt[n]];
        double sl = ed_tightest(x, (int)n, sh->tp, sh->stage_bytes[st], NULL, gpus);
        if (sl >= 0 && (best < 0 || sl < best_slack)) {
            best = (int)n;
            best_slack = sl;
            memcpy(bg, gpus, sizeof bg);
        }
    }
    if (best < 0) {
        best = open_node(F, ms, st);
        if (best < -1) return best;
        if (best >= 0) {
            const plan_shape *sh = &gr->shapes[x->nbt[best]];
            if (!ed_allowed(x, best, ms->group, ms->replica, st) ||
                ed_tightest(x, best, sh->tp, sh->stage_bytes[st], NULL, bg) < 0)
                best = -1;
        }
    }
    if (best < 0) return VP_ENOSPACE;
    int k = ed_assign(x, ms->group, ms->replica, st, best, bg);
    if (k >= 0) F->left[ms->group * PLAN_MAX_PP + st]--;
    return k < 0 ? k : 0;
}

/* Takes every stage of a replica out (it cannot run partly placed). */
static void take_out(fl *F, size_t g, uint32_t r)
{
    place_plan *plan = F->x->plan;
    for (size_t k = plan->n_placements; k-- > 0;)
        if (F->x->grp[k] == (int)g && plan->placements[k].replica == r) ed_unassign(F->x, k);
}

static int place_replica(fl *F, const miss *ms)
{
    const plan_group *gr = &F->p->groups[ms->group];
    int rc = 0;
    for (uint32_t st = 0; st < gr->pp && !rc; st++)
        if (ms->stages >> st & 1u) rc = place_stage(F, ms, st);
    if (rc != VP_ENOSPACE) return rc;
    take_out(F, ms->group, ms->replica);
    return place_plan_add_unplaced(F->x->plan, vw_model_name(F->p, ms->group), ms->replica,
                                   NO_ROOM)
               ? -ENOMEM
               : 0;
}

/* Models that fit nowhere: every replica not placed is unplaced with the model's reason. */
static int list_unplaceable(fl *F)
{
    const plan_problem *p = F->p;
    for (size_t g = 0; g < p->n_groups; g++) {
        const plan_group *gr = &p->groups[g];
        if (vw_placeable(p, g)) continue;
        for (uint32_t r = 0; r < gr->replicas; r++)
            if (!F->have[F->base[g] + r] &&
                place_plan_add_unplaced(F->x->plan, vw_model_name(p, g), r,
                                        gr->why_not[0] ? gr->why_not : "fits no node type"))
                return -ENOMEM;
    }
    return 0;
}

int fl_fill(ed_plan *x, vp_err *e)
{
    const plan_problem *p = x->v->p;
    fl F = {.x = x, .p = p};
    size_t ng = p->n_groups ? p->n_groups : 1;
    F.base = malloc(ng * sizeof *F.base);
    F.left = calloc(ng * PLAN_MAX_PP, sizeof *F.left);
    int rc = F.base && F.left ? survey(&F) : -ENOMEM;
    x->plan->n_unplaced = 0;
    if (!rc) rc = list_unplaceable(&F);
    for (size_t i = 0; i < F.nm && !rc; i++)
        rc = place_replica(&F, &F.m[i]);
    free(F.base);
    free(F.left);
    free(F.have);
    free(F.m);
    if (rc) return vp_errf(e, rc, "placing missing replicas failed (%s)", vp_strerror(rc));
    return 0;
}
