/* mip_extract.c - the compact MIP's solution as a plan.
 *
 * Units of each kind get their GPUs by the round-robin rule (the q-th slice on a node goes to
 * unit q mod m: no unit gets a GPU twice since no GPU has more than m slices). Replica numbers:
 * pinned replicas that stay keep theirs; the rest take free numbers, those that ran before first
 * (so what stays unplaced is what is new). Pipelined replicas: the stages x nodes multigraph of a
 * model is edge-coloured with as many colours as replicas (König: possible since no node holds
 * more stages than that), and a colour is a replica. */
#include <errno.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mip_int.h"

typedef struct unit {
    int node; /* plan node */
    int n_gpus;
    uint8_t gpus[PLACE_MAX_GPUS];
} unit;

typedef struct ex {
    const mip_m *m;
    const double *x;
    place_plan *plan;
    int *slot_node;
    unit **units;    /* [kind] */
    size_t *nunits;  /* [kind] */
    size_t *rep_off; /* [group] offset into used_rep */
    bool *used_rep;  /* pinned replicas that stay */
    uint32_t *freeidx;
    vw_namer names;
    vp_err *e;
} ex;

/* Nodes: named slots first (their names are taken), then fresh ones in use. */
static int ex_nodes(ex *X)
{
    const mip_m *m = X->m;
    for (int pass = 0; pass < 2; pass++)
        for (size_t n = 0; n < m->ns; n++) {
            const mip_slot *s = &m->slots[n];
            if ((pass == 0) != (s->name != NULL)) continue;
            X->slot_node[n] = -1;
            if (!m->p->bintypes[s->b].inventory && X->x[s->y] < 0.5) continue;
            int idx;
            if (s->name) {
                place_node nd;
                plan_node_from_bintype(m->p, (size_t)s->b, 0, &nd);
                snprintf(nd.name, sizeof nd.name, "%s", s->name);
                idx = place_plan_add_node(X->plan, &nd);
            } else {
                idx = vw_add_node(m->p, X->plan, (size_t)s->b, &X->names);
            }
            if (idx < 0) return idx;
            X->slot_node[n] = idx;
        }
    return 0;
}

/* Pinned replicas that stay keep their exact placements. */
static int ex_pins(ex *X)
{
    const mip_m *m = X->m;
    for (size_t r = 0; r < m->npin; r++) {
        const mip_pin *pn = &m->pins[r];
        if (X->x[pn->col] < 0.5) continue;
        X->used_rep[X->rep_off[pn->group] + pn->replica] = true;
        for (int st = 0; st < pn->n_stages; st++) {
            const place_placement *cp = &m->a->current->placements[pn->pl[st]];
            int node = X->slot_node[pn->slot[st]];
            if (node < 0) return vp_errf(X->e, VP_ESOLVER, "internal: pinned slot unused");
            int rc = place_plan_assign(X->plan, cp->model, cp->replica, cp->stage, cp->n_stages,
                                       node, cp->gpus, cp->n_gpus, cp->bytes_per_gpu);
            if (rc < 0)
                return vp_errf(X->e, VP_ESOLVER, "internal: pinned placement does not fit: %s",
                               vp_strerror(rc));
        }
    }
    return 0;
}

static long units_on(const ex *X, size_t n, size_t j)
{
    const mip_m *m = X->m;
    int zb = m->zbase[n * m->nk + j], mc = m->mcol[n * m->nk + j];
    if (zb < 0) return 0;
    if (mc >= 0) return llround(X->x[mc]);
    long mu = 0;
    for (int g = 0; g < m->p->bintypes[m->slots[n].b].n_gpus; g++)
        mu += llround(X->x[zb + g]);
    return mu;
}

/* The units of kind j on slot n, GPUs round-robin. */
static int ex_slot_units(ex *X, size_t n, size_t j, long mu)
{
    const mip_m *m = X->m;
    int zb = m->zbase[n * m->nk + j];
    const plan_shape *sh = &m->p->groups[m->v->kinds[j].group].shapes[m->slots[n].b];
    if (X->slot_node[n] < 0) return vp_errf(X->e, VP_ESOLVER, "internal: units on an unused node");
    unit *u = X->units[j] + X->nunits[j];
    for (long k = 0; k < mu; k++)
        u[k] = (unit){.node = X->slot_node[n]};
    long q = 0;
    for (int g = 0; g < m->p->bintypes[m->slots[n].b].n_gpus; g++) {
        long zc = llround(X->x[zb + g]);
        if (zc > mu) return vp_errf(X->e, VP_ESOLVER, "internal: z above m");
        for (long t = 0; t < zc; t++, q++) {
            unit *un = &u[q % mu];
            if (un->n_gpus >= PLACE_MAX_GPUS)
                return vp_errf(X->e, VP_ESOLVER, "internal: too many GPUs");
            un->gpus[un->n_gpus++] = (uint8_t)g;
        }
    }
    if (q != mu * (long)sh->tp)
        return vp_errf(X->e, VP_ESOLVER, "internal: %ld slices for %ld units of TP %u", q, mu,
                       sh->tp);
    X->nunits[j] += (size_t)mu;
    return 0;
}

static int ex_units(ex *X)
{
    const mip_m *m = X->m;
    for (size_t j = 0; j < m->nk; j++) {
        size_t cnt = 0;
        for (size_t n = 0; n < m->ns; n++)
            cnt += (size_t)units_on(X, n, j);
        X->units[j] = malloc((cnt ? cnt : 1) * sizeof **X->units);
        if (!X->units[j]) return vp_errf(X->e, -ENOMEM, "out of memory");
        for (size_t n = 0; n < m->ns; n++) {
            long mu = units_on(X, n, j);
            int rc = mu > 0 ? ex_slot_units(X, n, j, mu) : 0;
            if (rc) return rc;
        }
    }
    return 0;
}

/* Free replica numbers of group g: those that ran before first. Returns how many. */
static size_t free_numbers(ex *X, size_t g)
{
    const mip_m *m = X->m;
    const plan_group *gr = &m->p->groups[g];
    const char *name = vw_model_name(m->p, g);
    size_t nf = 0;
    bool *taken = X->used_rep + X->rep_off[g];
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t r = 0; r < gr->replicas; r++) {
            if (taken[r]) continue;
            bool ran = false;
            if (m->a->current) {
                char id[PLACE_ID_MAX];
                place_make_id(id, sizeof id, name, r, gr->pp > 1 ? 0 : -1);
                ran = place_plan_find(m->a->current, id) >= 0;
            }
            if (ran != (pass == 0)) continue;
            X->freeidx[nf++] = r;
        }
    return nf;
}

/* Swaps colours a/b along the alternating path from node v (it cannot reach stage s). */
static void flip_path(int ncol, const int *es, const int *en, int *colour, int *atL, int *atR,
                      size_t *path, int v, int a, int b)
{
    size_t len = 0;
    int cur = v, want = a;
    bool right = true;
    for (;;) {
        int ed = right ? atR[cur * ncol + want] : atL[cur * ncol + want];
        if (ed < 0) break;
        path[len++] = (size_t)ed;
        cur = right ? es[ed] : en[ed];
        right = !right;
        want = want == a ? b : a;
    }
    for (size_t k = 0; k < len; k++) {
        size_t ed = path[k];
        atL[es[ed] * ncol + colour[ed]] = -1;
        atR[en[ed] * ncol + colour[ed]] = -1;
    }
    for (size_t k = 0; k < len; k++) {
        size_t ed = path[k];
        colour[ed] = colour[ed] == a ? b : a;
        atL[es[ed] * ncol + colour[ed]] = (int)ed;
        atR[en[ed] * ncol + colour[ed]] = (int)ed;
    }
}

/* Colours the stages x nodes multigraph with ncol colours so that no two edges at a vertex share
 * one (König: possible since no degree exceeds ncol). Edge e joins stage es[e] and node en[e]. */
static int colour_edges(int nstages, int nnodes, int ncol, size_t ne, const int *es,
                        const int *en, int *colour)
{
    int *atL = malloc((size_t)nstages * (size_t)ncol * sizeof *atL);
    int *atR = malloc((size_t)nnodes * (size_t)ncol * sizeof *atR);
    size_t *path = malloc((ne ? ne : 1) * sizeof *path);
    int rc = atL && atR && path ? 0 : -ENOMEM;
    for (size_t i = 0; !rc && i < (size_t)nstages * (size_t)ncol; i++)
        atL[i] = -1;
    for (size_t i = 0; !rc && i < (size_t)nnodes * (size_t)ncol; i++)
        atR[i] = -1;
    for (size_t e = 0; e < ne && !rc; e++) {
        int s = es[e], v = en[e], a = -1, b = -1;
        for (int c = 0; c < ncol && a < 0; c++)
            if (atL[s * ncol + c] < 0) a = c;
        for (int c = 0; c < ncol && b < 0; c++)
            if (atR[v * ncol + c] < 0) b = c;
        if (a < 0 || b < 0) {
            rc = VP_ESOLVER;
            break;
        }
        if (atR[v * ncol + a] >= 0) flip_path(ncol, es, en, colour, atL, atR, path, v, a, b);
        colour[e] = a;
        atL[s * ncol + a] = (int)e;
        atR[v * ncol + a] = (int)e;
    }
    free(atL);
    free(atR);
    free(path);
    return rc;
}

static int assign_unit(ex *X, size_t g, uint32_t replica, int stage, const unit *un)
{
    const plan_group *gr = &X->m->p->groups[g];
    const plan_shape *sh = &gr->shapes[plan_node_bintype(X->m->p, &X->plan->nodes[un->node])];
    int rc = place_plan_assign(X->plan, vw_model_name(X->m->p, g), replica, stage,
                               gr->pp > 1 ? (int)gr->pp : 1, un->node, un->gpus, un->n_gpus,
                               sh->stage_bytes[stage < 0 ? 0 : stage]);
    return rc < 0 ? vp_errf(X->e, VP_ESOLVER, "internal: MIP solution does not place: %s",
                            vp_strerror(rc))
                  : 0;
}

/* Pipelined group g: colour stage x node edges with `placed` colours; colour = replica. */
static int ex_pipeline(ex *X, size_t g, size_t placed)
{
    const mip_m *m = X->m;
    const plan_group *gr = &m->p->groups[g];
    size_t ne = placed * gr->pp, k = 0;
    int *es = malloc(ne * sizeof *es), *en = malloc(ne * sizeof *en);
    int *col = malloc(ne * sizeof *col);
    size_t *eu = malloc(ne * sizeof *eu);
    int rc = es && en && col && eu ? 0 : vp_errf(X->e, -ENOMEM, "out of memory");
    for (uint32_t st = 0; st < gr->pp && !rc; st++) {
        size_t j = (size_t)m->v->kind_of[g * PLAN_MAX_PP + st];
        for (size_t u = 0; u < X->nunits[j]; u++, k++) {
            es[k] = (int)st;
            en[k] = X->units[j][u].node;
            eu[k] = u;
            col[k] = -1;
        }
    }
    if (!rc && colour_edges((int)gr->pp, (int)X->plan->n_nodes, (int)placed, ne, es, en, col))
        rc = vp_errf(X->e, VP_ESOLVER, "internal: pipeline stages cannot be told apart");
    for (size_t q = 0; q < ne && !rc; q++) {
        size_t j = (size_t)m->v->kind_of[g * PLAN_MAX_PP + (size_t)es[q]];
        rc = assign_unit(X, g, X->freeidx[col[q]], es[q], &X->units[j][eu[q]]);
    }
    free(es);
    free(en);
    free(col);
    free(eu);
    return rc;
}

static int ex_group(ex *X, size_t g)
{
    const mip_m *m = X->m;
    const plan_group *gr = &m->p->groups[g];
    const char *name = vw_model_name(m->p, g);
    size_t nf = free_numbers(X, g);
    if (!vw_placeable(m->p, g)) {
        for (size_t k = 0; k < nf; k++)
            if (place_plan_add_unplaced(X->plan, name, X->freeidx[k],
                                        gr->why_not[0] ? gr->why_not : "no replicas wanted"))
                return vp_errf(X->e, -ENOMEM, "out of memory");
        return 0;
    }
    size_t j0 = (size_t)m->v->kind_of[g * PLAN_MAX_PP], placed = X->nunits[j0];
    for (uint32_t st = 1; st < gr->pp; st++)
        if (X->nunits[m->v->kind_of[g * PLAN_MAX_PP + st]] != placed)
            return vp_errf(X->e, VP_ESOLVER, "internal: stage counts differ for %s", name);
    if (placed > nf) return vp_errf(X->e, VP_ESOLVER, "internal: too many units for %s", name);
    int rc = 0;
    if (gr->pp <= 1)
        for (size_t k = 0; k < placed && !rc; k++)
            rc = assign_unit(X, g, X->freeidx[k], -1, &X->units[j0][k]);
    else if (placed)
        rc = ex_pipeline(X, g, placed);
    for (size_t q = placed; q < nf && !rc; q++)
        if (place_plan_add_unplaced(X->plan, name, X->freeidx[q],
                                    "no room: inventory exhausted or max_count reached for "
                                    "every allowed instance type"))
            rc = vp_errf(X->e, -ENOMEM, "out of memory");
    return rc;
}

int mx_plan(const mip_m *m, const double *x, place_plan **out, vp_err *e)
{
    const plan_problem *p = m->p;
    ex X = {.m = m, .x = x, .e = e};
    size_t ng = p->n_groups ? p->n_groups : 1, maxrep = 1, nk = m->nk ? m->nk : 1;
    X.plan = place_plan_new();
    X.slot_node = malloc((m->ns ? m->ns : 1) * sizeof *X.slot_node);
    X.units = calloc(nk, sizeof *X.units);
    X.nunits = calloc(nk, sizeof *X.nunits);
    X.rep_off = malloc((ng + 1) * sizeof *X.rep_off);
    int rc = X.plan && X.slot_node && X.units && X.nunits && X.rep_off ? 0 : -ENOMEM;
    if (!rc) {
        X.rep_off[0] = 0;
        for (size_t g = 0; g < p->n_groups; g++) {
            X.rep_off[g + 1] = X.rep_off[g] + p->groups[g].replicas;
            if (p->groups[g].replicas > maxrep) maxrep = p->groups[g].replicas;
        }
        X.used_rep = calloc(X.rep_off[p->n_groups] + 1, 1);
        X.freeidx = malloc(maxrep * sizeof *X.freeidx);
        if (!X.used_rep || !X.freeidx) rc = -ENOMEM;
    }
    if (rc) rc = vp_errf(e, rc, "out of memory");
    if (!rc && (vw_namer_init(&X.names, p, X.plan) || (rc = ex_nodes(&X))))
        rc = vp_errf(e, -ENOMEM, "out of memory");
    if (!rc) rc = ex_pins(&X);
    if (!rc) rc = ex_units(&X);
    for (size_t g = 0; g < p->n_groups && !rc; g++)
        rc = ex_group(&X, g);
    if (!rc && place_plan_drop_idle(X.plan)) rc = vp_errf(e, -ENOMEM, "out of memory");
    for (size_t j = 0; X.units && j < m->nk; j++)
        free(X.units[j]);
    free(X.units);
    free(X.nunits);
    free(X.slot_node);
    free(X.rep_off);
    free(X.used_rep);
    free(X.freeidx);
    vw_namer_free(&X.names);
    if (rc) {
        place_plan_free(X.plan);
        return rc;
    }
    *out = X.plan;
    return 0;
}
