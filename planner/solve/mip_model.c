/* mip_model.c - the compact MIP's slots, columns and rows (the model is described in mip.h).
 *
 * Built as plain arrays (columns, rows, 0-based triplets) that lp_load hands to GLPK in one go
 * and mip_warm.c checks a warm start against, so GLPK is never given an infeasible incumbent. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mip_int.h"

static int new_col(mip_m *m, double cost, double lo, double hi, char type)
{
    if (m->ncols == m->capcols) {
        int nc = m->capcols ? m->capcols * 2 : 1024;
        double *c = realloc(m->cost, (size_t)nc * sizeof *c);
        if (c) m->cost = c;
        double *l = realloc(m->lo, (size_t)nc * sizeof *l);
        if (l) m->lo = l;
        double *h = realloc(m->hi, (size_t)nc * sizeof *h);
        if (h) m->hi = h;
        char *t = realloc(m->ctype, (size_t)nc);
        if (t) m->ctype = t;
        if (!c || !l || !h || !t) return -ENOMEM;
        m->capcols = nc;
    }
    m->cost[m->ncols] = cost;
    m->lo[m->ncols] = lo;
    m->hi[m->ncols] = hi;
    m->ctype[m->ncols] = type;
    return m->ncols++;
}

static int new_row(mip_m *m, char sense, double rhs)
{
    if (m->nrows == m->caprows) {
        int nc = m->caprows ? m->caprows * 2 : 1024;
        char *s = realloc(m->rsense, (size_t)nc);
        if (s) m->rsense = s;
        double *r = realloc(m->rrhs, (size_t)nc * sizeof *r);
        if (r) m->rrhs = r;
        if (!s || !r) return -ENOMEM;
        m->caprows = nc;
    }
    m->rsense[m->nrows] = sense;
    m->rrhs[m->nrows] = rhs;
    return m->nrows++;
}

static int put(mip_m *m, int row, int col, double v)
{
    if (row < 0 || col < 0) return -ENOMEM; /* a failed new_row/new_col */
    return lp_triplets_add(&m->trip, row, col, v);
}

void mm_free(mip_m *m)
{
    free(m->slots);
    free(m->zbase);
    free(m->mcol);
    free(m->ucol);
    free(m->pins);
    free(m->cost);
    free(m->lo);
    free(m->hi);
    free(m->ctype);
    free(m->rsense);
    free(m->rrhs);
    lp_triplets_free(&m->trip);
}

uint64_t mm_kind_bytes(const mip_m *m, size_t j, int b)
{
    const plan_shape *s = &m->p->groups[m->v->kinds[j].group].shapes[b];
    if (!s->ok) return 0;
    uint64_t w = s->stage_bytes[m->v->kinds[j].stage];
    return w ? w : 1;
}

static bool kind_ok(const mip_m *m, size_t j, int b)
{
    int c = m->v->cls_of[b];
    return c >= 0 && m->v->ok[vw_ck(m->v, (size_t)c, j)];
}

static const plan_shape *shape(const mip_m *m, size_t j, int b)
{
    return &m->p->groups[m->v->kinds[j].group].shapes[b];
}

int mm_slot_by_name(const mip_m *m, const char *name)
{
    for (size_t n = 0; n < m->ns; n++)
        if (m->slots[n].name && strcmp(m->slots[n].name, name) == 0) return (int)n;
    return -1;
}

static int add_slot(mip_m *m, size_t *cap, int b, const char *name)
{
    if (vp_grow((void **)&m->slots, cap, m->ns + 1, sizeof *m->slots, 64)) return -ENOMEM;
    m->slots[m->ns] = (mip_slot){.b = b, .name = name, .sym_prev = -1};
    return (int)m->ns++;
}

/* Pins for the running replicas of the current plan (their slots must exist already). */
static int layout_pins(mip_m *m, vp_err *e)
{
    cur_rep *reps = NULL;
    size_t nreps = 0;
    int rc = cur_scan(m->v, m->a->current, &reps, &nreps, e);
    if (rc) return rc;
    m->pins = calloc(nreps ? nreps : 1, sizeof *m->pins);
    if (!m->pins) {
        free(reps);
        return vp_errf(e, -ENOMEM, "out of memory");
    }
    for (size_t r = 0; r < nreps; r++) {
        const cur_rep *cr = &reps[r];
        mip_pin *pn = &m->pins[m->npin];
        *pn = (mip_pin){.group = cr->group, .replica = cr->replica, .n_stages = cr->n_stages};
        bool ok = true;
        for (int s = 0; s < cr->n_stages && ok; s++) {
            const place_placement *pl = &m->a->current->placements[cr->pl[s]];
            pn->pl[s] = cr->pl[s];
            pn->slot[s] = mm_slot_by_name(m, m->a->current->nodes[pl->node].name);
            ok = pn->slot[s] >= 0;
        }
        if (!ok) continue;
        for (int s = 0; s < cr->n_stages; s++)
            m->slots[pn->slot[s]].pinned = true;
        m->npin++;
    }
    free(reps);
    return 0;
}

/* Named slots: inventory nodes, then the current plan's bought nodes. named[b] counts them. */
static int layout_named(mip_m *m, size_t *cap, int *named)
{
    const plan_problem *p = m->p;
    for (size_t b = 0; b < p->n_bintypes; b++)
        if (p->bintypes[b].inventory && add_slot(m, cap, (int)b, p->bintypes[b].inv_name) < 0)
            return -ENOMEM;
    const place_plan *cur = m->a->current;
    for (size_t i = 0; cur && i < cur->n_nodes; i++) {
        int b = plan_node_bintype(p, &cur->nodes[i]);
        if (b < 0 || p->bintypes[b].inventory || mm_slot_by_name(m, cur->nodes[i].name) >= 0)
            continue;
        if (add_slot(m, cap, b, cur->nodes[i].name) < 0) return -ENOMEM;
        named[b]++;
    }
    return 0;
}

/* Nodes of the warm plan in use without a named slot, per bin type. */
static int warm_fresh(const mip_m *m, int *have)
{
    const place_plan *w = m->a->warm;
    if (!w) return 0;
    bool *used = calloc(w->n_nodes + 1, 1);
    if (!used) return -ENOMEM;
    for (size_t k = 0; k < w->n_placements; k++)
        used[w->placements[k].node] = true;
    for (size_t i = 0; i < w->n_nodes; i++) {
        int b = used[i] ? plan_node_bintype(m->p, &w->nodes[i]) : -1;
        if (b >= 0 && !m->p->bintypes[b].inventory && mm_slot_by_name(m, w->nodes[i].name) < 0)
            have[b]++;
    }
    free(used);
    return 0;
}

/* How many fresh slots each purchasable type gets. */
static int layout_fresh(mip_m *m, size_t *cap, const int *named)
{
    const plan_problem *p = m->p;
    const place_plan *w = m->a->warm;
    double ub = w && vw_places_all(m->v, w) ? w->cost_per_hour : -1;
    int *have = calloc(p->n_bintypes ? p->n_bintypes : 1, sizeof *have);
    if (!have || warm_fresh(m, have)) {
        free(have);
        return -ENOMEM;
    }
    for (size_t b = 0; b < p->n_bintypes; b++) {
        const plan_bintype *bt = &p->bintypes[b];
        if (bt->inventory) continue;
        double k = 0;
        for (size_t j = 0; j < m->nk; j++)
            if (kind_ok(m, j, (int)b)) k += p->groups[m->v->kinds[j].group].replicas;
        if (bt->max_count >= 0 && k > bt->max_count - named[b]) k = bt->max_count - named[b];
        if (ub >= 0 && bt->price_per_hour > 0 && k > floor(ub / bt->price_per_hour + 1e-9))
            k = floor(ub / bt->price_per_hour + 1e-9);
        if (k < have[b]) k = have[b]; /* the warm plan's nodes always have a slot */
        if (k > 1e6) k = 1e6;
        for (int s = 0; s < (int)k; s++)
            if (add_slot(m, cap, (int)b, NULL) < 0) {
                free(have);
                return -ENOMEM;
            }
    }
    free(have);
    return 0;
}

int mm_layout(mip_m *m, vp_err *e)
{
    const plan_problem *p = m->p;
    m->nk = m->v->nk;
    m->ucol = malloc((p->n_groups ? p->n_groups : 1) * sizeof *m->ucol);
    int *named = calloc(p->n_bintypes ? p->n_bintypes : 1, sizeof *named);
    size_t cap = 0;
    int rc = m->ucol && named ? 0 : -ENOMEM;
    for (size_t g = 0; g < p->n_groups && !rc; g++)
        m->ucol[g] = -1;
    if (!rc) rc = layout_named(m, &cap, named);
    if (!rc) rc = layout_fresh(m, &cap, named);
    free(named);
    if (rc) return vp_errf(e, rc, "out of memory");
    m->budget = m->a->current ? m->a->max_moves : -1;
    if (m->a->current && (rc = layout_pins(m, e))) return rc;
    /* Symmetry classes: consecutive unpinned slots of one purchasable type, or identical
     * inventory nodes (max_count counts each type separately, so types never merge). */
    for (size_t n = 1; n < m->ns; n++) {
        mip_slot *s = &m->slots[n], *q = &m->slots[n - 1];
        if (s->pinned || q->pinned || (s->name == NULL) != (q->name == NULL)) continue;
        bool both_inv = p->bintypes[s->b].inventory && p->bintypes[q->b].inventory;
        if (s->b == q->b || (both_inv && m->v->cls_of[s->b] == m->v->cls_of[q->b]))
            s->sym_prev = (int)n - 1;
    }
    return 0;
}

size_t mm_estimate_cols(const mip_m *m)
{
    size_t cols = 0;
    for (size_t n = 0; n < m->ns; n++) {
        int b = m->slots[n].b;
        cols++;
        for (size_t j = 0; j < m->nk; j++)
            if (kind_ok(m, j, b))
                cols += (size_t)m->p->bintypes[b].n_gpus + (shape(m, j, b)->tp > 1);
    }
    return cols + m->npin + m->p->n_groups;
}

/* ---------------------------------------------------------------- columns and rows */

/* Unplaced slack for groups whose every allowed type is finite. */
static int build_slack(mip_m *m)
{
    const plan_problem *p = m->p;
    double total = 1;
    for (size_t n = 0; n < m->ns; n++)
        total += p->bintypes[m->slots[n].b].price_per_hour;
    m->penalty = total * 2 + 1;
    for (size_t g = 0; g < p->n_groups; g++) {
        if (!vw_placeable(p, g)) continue;
        bool unlimited = false;
        for (size_t b = 0; b < p->n_bintypes; b++)
            unlimited |= p->groups[g].shapes[b].ok && !p->bintypes[b].inventory &&
                         p->bintypes[b].max_count < 0;
        if (!unlimited && (m->ucol[g] = new_col(m, m->penalty, 0, p->groups[g].replicas, 'I')) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* y per slot, z per slot, kind and GPU, m per slot and TP kind, stays per pin. */
static int build_columns(mip_m *m)
{
    const plan_problem *p = m->p;
    size_t nk = m->nk;
    for (size_t n = 0; n < m->ns; n++) {
        mip_slot *s = &m->slots[n];
        const plan_bintype *bt = &p->bintypes[s->b];
        if ((s->y = new_col(m, bt->price_per_hour, 0, 1, 'B')) < 0) return -ENOMEM;
        for (size_t j = 0; j < nk; j++) {
            m->zbase[n * nk + j] = m->mcol[n * nk + j] = -1;
            if (!kind_ok(m, j, s->b)) continue;
            const vw_kind *k = &m->v->kinds[j];
            const plan_shape *sh = shape(m, j, s->b);
            double per_gpu = (double)(bt->usable_per_gpu / mm_kind_bytes(m, j, s->b));
            double units = k->spread ? 1 : k->demand;
            if (per_gpu > units) per_gpu = units;
            if (sh->tp > 1) {
                double mu = floor((double)bt->n_gpus / sh->tp) * per_gpu;
                if (mu > units) mu = units;
                if ((m->mcol[n * nk + j] = new_col(m, 0, 0, mu, 'I')) < 0) return -ENOMEM;
                if (per_gpu > mu) per_gpu = mu;
            }
            for (int g = 0; g < bt->n_gpus; g++) {
                int c = new_col(m, 0, 0, per_gpu, per_gpu <= 1 ? 'B' : 'I');
                if (c < 0) return -ENOMEM;
                if (g == 0) m->zbase[n * nk + j] = c;
            }
        }
    }
    for (size_t r = 0; r < m->npin; r++)
        if ((m->pins[r].col = new_col(m, 0, 0, 1, 'B')) < 0) return -ENOMEM;
    return 0;
}

/* Adds kind j's units on slot n (m column, or the z columns) to row. */
static int put_units(mip_m *m, int row, size_t n, size_t j)
{
    int mc = m->mcol[n * m->nk + j], zb = m->zbase[n * m->nk + j];
    if (mc >= 0) return put(m, row, mc, 1);
    for (int g = 0; zb >= 0 && g < m->p->bintypes[m->slots[n].b].n_gpus; g++)
        if (put(m, row, zb + g, 1)) return -ENOMEM;
    return 0;
}

/* Demand: every stage of every placeable group, exactly its replicas. */
static int build_demand(mip_m *m)
{
    for (size_t j = 0; j < m->nk; j++) {
        const vw_kind *k = &m->v->kinds[j];
        int row = new_row(m, 'E', k->demand);
        for (size_t n = 0; n < m->ns; n++)
            if (put_units(m, row, n, j)) return -ENOMEM;
        for (size_t r = 0; r < m->npin; r++)
            if (m->pins[r].group == k->group && put(m, row, m->pins[r].col, 1)) return -ENOMEM;
        if (m->ucol[k->group] >= 0 && put(m, row, m->ucol[k->group], 1)) return -ENOMEM;
    }
    return 0;
}

/* Capacity per GPU, in units of the GPU's usable bytes; pinned placements count too. */
static int build_capacity(mip_m *m)
{
    const plan_problem *p = m->p;
    for (size_t n = 0; n < m->ns; n++) {
        mip_slot *s = &m->slots[n];
        const plan_bintype *bt = &p->bintypes[s->b];
        double U = (double)bt->usable_per_gpu;
        for (int g = 0; g < bt->n_gpus; g++) {
            int row = new_row(m, 'L', 0);
            if (g == 0) s->cap_row = row;
            if (put(m, row, s->y, -1)) return -ENOMEM;
            for (size_t j = 0; j < m->nk; j++) {
                int zb = m->zbase[n * m->nk + j];
                if (zb >= 0 && put(m, row, zb + g, (double)mm_kind_bytes(m, j, s->b) / U))
                    return -ENOMEM;
            }
        }
    }
    for (size_t r = 0; r < m->npin; r++) {
        const mip_pin *pn = &m->pins[r];
        for (int st = 0; st < pn->n_stages; st++) {
            const place_placement *pl = &m->a->current->placements[pn->pl[st]];
            const mip_slot *s = &m->slots[pn->slot[st]];
            double U = (double)p->bintypes[s->b].usable_per_gpu;
            for (int t = 0; t < pl->n_gpus; t++)
                if (put(m, s->cap_row + pl->gpus[t], pn->col, (double)pl->bytes_per_gpu / U))
                    return -ENOMEM;
            int row = new_row(m, 'L', 0); /* a pinned placement keeps its node in use */
            if (put(m, row, pn->col, 1) || put(m, row, s->y, -1)) return -ENOMEM;
        }
    }
    return 0;
}

/* TP groups: sum_g z = tp x m and z <= m. */
static int build_tp(mip_m *m)
{
    for (size_t n = 0; n < m->ns; n++) {
        const plan_bintype *bt = &m->p->bintypes[m->slots[n].b];
        for (size_t j = 0; j < m->nk; j++) {
            int mc = m->mcol[n * m->nk + j], zb = m->zbase[n * m->nk + j];
            if (mc < 0) continue;
            int row = new_row(m, 'E', 0);
            if (put(m, row, mc, -(double)shape(m, j, m->slots[n].b)->tp)) return -ENOMEM;
            for (int g = 0; g < bt->n_gpus; g++) {
                int r2 = new_row(m, 'L', 0);
                if (put(m, row, zb + g, 1) || put(m, r2, zb + g, 1) || put(m, r2, mc, -1))
                    return -ENOMEM;
            }
        }
    }
    return 0;
}

/* Spread (<= 1 unit of the model per node) and pipelines (<= free replicas per node). */
static int build_spread_row(mip_m *m, size_t g, size_t n)
{
    const plan_group *gr = &m->p->groups[g];
    bool spread = m->p->manifest->models[gr->model].spread;
    int row = -1;
    for (uint32_t st = 0; st < gr->pp; st++) {
        int j = m->v->kind_of[g * PLAN_MAX_PP + st];
        if (j < 0 || m->zbase[n * m->nk + (size_t)j] < 0) continue;
        if (row < 0 && (row = new_row(m, 'L', spread ? 1 : gr->replicas)) < 0) return -ENOMEM;
        if (put_units(m, row, n, (size_t)j)) return -ENOMEM;
    }
    if (row < 0) return 0;
    for (size_t r = 0; r < m->npin; r++) {
        const mip_pin *pn = &m->pins[r];
        if (pn->group != g) continue;
        if (!spread && put(m, row, pn->col, 1)) return -ENOMEM; /* one replica fewer is free */
        for (int st = 0; spread && st < pn->n_stages; st++)
            if (pn->slot[st] == (int)n && put(m, row, pn->col, 1)) return -ENOMEM;
    }
    if (!spread && m->ucol[g] >= 0 && put(m, row, m->ucol[g], 1)) return -ENOMEM;
    return 0;
}

/* max_count across named and fresh slots of a type; the migration budget. */
static int build_counts(mip_m *m)
{
    const plan_problem *p = m->p;
    for (size_t b = 0; b < p->n_bintypes; b++) {
        const plan_bintype *bt = &p->bintypes[b];
        if (bt->inventory || bt->max_count < 0) continue;
        int cnt = 0;
        for (size_t n = 0; n < m->ns; n++)
            cnt += m->slots[n].b == (int)b;
        if (cnt <= bt->max_count) continue;
        int row = new_row(m, 'L', bt->max_count);
        for (size_t n = 0; n < m->ns; n++)
            if (m->slots[n].b == (int)b && put(m, row, m->slots[n].y, 1)) return -ENOMEM;
    }
    double need = (double)m->npin - (double)m->budget;
    if (m->npin && m->budget >= 0 && need > 0) {
        int row = new_row(m, 'G', need);
        for (size_t r = 0; r < m->npin; r++)
            if (put(m, row, m->pins[r].col, 1)) return -ENOMEM;
    }
    return 0;
}

/* Identical slots in use first; GPUs of a slot with no pinned placement by non-increasing load.
 * (Ordering identical slots by load as well was measured: it does not help GLPK and it keeps
 * CBC's heuristics from finding any solution on the exported model.) */
static int build_symmetry(mip_m *m)
{
    for (size_t n = 0; n < m->ns; n++) {
        const mip_slot *s = &m->slots[n];
        const plan_bintype *bt = &m->p->bintypes[s->b];
        if (s->sym_prev >= 0) {
            int row = new_row(m, 'G', 0);
            if (put(m, row, m->slots[s->sym_prev].y, 1) || put(m, row, s->y, -1)) return -ENOMEM;
        }
        if (s->pinned) continue;
        for (int g = 0; g + 1 < bt->n_gpus; g++) {
            int row = new_row(m, 'G', 0);
            for (size_t j = 0; j < m->nk; j++) {
                int zb = m->zbase[n * m->nk + j];
                if (zb < 0) continue;
                double wv = (double)mm_kind_bytes(m, j, s->b) / (double)bt->usable_per_gpu;
                if (put(m, row, zb + g, wv) || put(m, row, zb + g + 1, -wv)) return -ENOMEM;
            }
            if (row < 0) return -ENOMEM;
        }
    }
    return 0;
}

int mm_build(mip_m *m, vp_err *e)
{
    size_t cells = m->ns * m->nk > 0 ? m->ns * m->nk : 1;
    m->zbase = malloc(cells * sizeof *m->zbase);
    m->mcol = malloc(cells * sizeof *m->mcol);
    int rc = m->zbase && m->mcol ? 0 : -ENOMEM;
    if (!rc) rc = build_slack(m);
    if (!rc) rc = build_columns(m);
    if (!rc) rc = build_demand(m);
    if (!rc) rc = build_capacity(m);
    if (!rc) rc = build_tp(m);
    for (size_t g = 0; g < m->p->n_groups && !rc; g++) {
        const plan_group *gr = &m->p->groups[g];
        if (!vw_placeable(m->p, g) || (!m->p->manifest->models[gr->model].spread && gr->pp <= 1))
            continue;
        for (size_t n = 0; n < m->ns && !rc; n++)
            rc = build_spread_row(m, g, n);
    }
    if (!rc) rc = build_counts(m);
    if (!rc) rc = build_symmetry(m);
    return rc ? vp_errf(e, rc, "out of memory building the MIP") : 0;
}
