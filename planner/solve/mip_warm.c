/* mip_warm.c - a plan as the compact MIP's column vector, to start the search from.
 *
 * Nodes map to their named slot or to the next fresh slot of their type; pinned replicas that
 * stay where they are set their "stays" column; every other placement adds to z (and m). Then
 * the symmetry rows are made to hold (GPUs of unpinned slots by load, runs of identical slots by
 * load) and every bound and row is checked, so GLPK is never handed an infeasible incumbent. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mip_int.h"

typedef struct gpu_load {
    int g;
    double load;
} gpu_load;

static int cmp_load_desc(const void *a, const void *b)
{
    const gpu_load *x = a, *y = b;
    if (x->load != y->load) return x->load > y->load ? -1 : 1;
    return x->g - y->g;
}

/* Slot of each node in use; y set. */
static bool warm_nodes(const mip_m *m, const place_plan *w, double *x, int *node_slot)
{
    const plan_problem *p = m->p;
    int *next = malloc((p->n_bintypes ? p->n_bintypes : 1) * sizeof *next);
    if (!next) return false;
    for (size_t b = 0; b < p->n_bintypes; b++) {
        next[b] = -1;
        for (size_t n = 0; n < m->ns && next[b] < 0; n++)
            if (m->slots[n].b == (int)b && !m->slots[n].name) next[b] = (int)n;
    }
    bool ok = true, *used = calloc(w->n_nodes + 1, 1);
    if (!used) ok = false;
    for (size_t k = 0; ok && k < w->n_placements; k++)
        used[w->placements[k].node] = true;
    for (size_t i = 0; i < w->n_nodes && ok; i++) {
        node_slot[i] = -1;
        if (!used[i]) continue;
        int sl = mm_slot_by_name(m, w->nodes[i].name);
        if (sl < 0) {
            int b = plan_node_bintype(p, &w->nodes[i]);
            ok = b >= 0 && next[b] >= 0 && (size_t)next[b] < m->ns && m->slots[next[b]].b == b &&
                 !m->slots[next[b]].name;
            if (!ok) break;
            sl = next[b]++;
        }
        node_slot[i] = sl;
        x[m->slots[sl].y] = 1;
    }
    free(next);
    free(used);
    return ok;
}

/* Pins that stay: every stage exactly where current had it. */
static void warm_pins(const mip_m *m, const place_plan *w, double *x, const int *node_slot,
                      bool *pinned)
{
    for (size_t r = 0; r < m->npin; r++) {
        const mip_pin *pn = &m->pins[r];
        size_t idx[PLAN_MAX_PP];
        bool stays = true;
        for (int s = 0; s < pn->n_stages && stays; s++) {
            const place_placement *cp = &m->a->current->placements[pn->pl[s]];
            int k = place_plan_find(w, cp->id);
            stays = k >= 0 && node_slot[w->placements[k].node] == pn->slot[s] &&
                    cur_same_slot(w, &w->placements[k], m->a->current, cp);
            if (stays) idx[s] = (size_t)k;
        }
        if (!stays) continue;
        x[pn->col] = 1;
        for (int s = 0; s < pn->n_stages; s++)
            pinned[idx[s]] = true;
    }
}

static bool warm_units(const mip_m *m, const place_plan *w, double *x, const int *node_slot,
                       const bool *pinned)
{
    for (size_t k = 0; k < w->n_placements; k++) {
        if (pinned[k]) continue;
        const place_placement *pl = &w->placements[k];
        int j = vw_kind_of(m->v, pl), sl = node_slot[pl->node];
        if (j < 0 || sl < 0 || pl->replica >= m->v->kinds[j].demand) return false;
        int zb = m->zbase[(size_t)sl * m->nk + (size_t)j], mc = m->mcol[(size_t)sl * m->nk + (size_t)j];
        const plan_shape *sh = &m->p->groups[m->v->kinds[j].group].shapes[m->slots[sl].b];
        if (zb < 0 || (uint32_t)pl->n_gpus != sh->tp ||
            pl->bytes_per_gpu != sh->stage_bytes[m->v->kinds[j].stage])
            return false;
        for (int t = 0; t < pl->n_gpus; t++)
            x[zb + pl->gpus[t]] += 1;
        if (mc >= 0) x[mc] += 1;
    }
    return true;
}

static void warm_unplaced(const mip_m *m, double *x)
{
    const plan_problem *p = m->p;
    for (size_t g = 0; g < p->n_groups; g++) {
        if (m->ucol[g] < 0) continue;
        double placed = 0;
        for (size_t r = 0; r < m->npin; r++)
            if (m->pins[r].group == g) placed += x[m->pins[r].col];
        size_t j0 = (size_t)m->v->kind_of[g * PLAN_MAX_PP];
        for (size_t n = 0; n < m->ns; n++) {
            int zb = m->zbase[n * m->nk + j0], mc = m->mcol[n * m->nk + j0];
            if (mc >= 0)
                placed += x[mc];
            else
                for (int q = 0; zb >= 0 && q < p->bintypes[m->slots[n].b].n_gpus; q++)
                    placed += x[zb + q];
        }
        x[m->ucol[g]] = p->groups[g].replicas - placed;
    }
}

/* GPUs of every unpinned slot ordered by load. */
static void warm_sort_gpus(const mip_m *m, double *x)
{
    for (size_t n = 0; n < m->ns; n++) {
        const mip_slot *s = &m->slots[n];
        int G = m->p->bintypes[s->b].n_gpus;
        if (s->pinned) continue;
        gpu_load ld[PLACE_MAX_GPUS];
        for (int g = 0; g < G; g++) {
            ld[g] = (gpu_load){g, 0};
            for (size_t j = 0; j < m->nk; j++) {
                int zb = m->zbase[n * m->nk + j];
                if (zb >= 0) ld[g].load += x[zb + g] * (double)mm_kind_bytes(m, j, s->b);
            }
        }
        qsort(ld, (size_t)G, sizeof *ld, cmp_load_desc);
        for (size_t j = 0; j < m->nk; j++) {
            int zb = m->zbase[n * m->nk + j];
            if (zb < 0) continue;
            double tmp[PLACE_MAX_GPUS];
            for (int g = 0; g < G; g++)
                tmp[g] = x[zb + ld[g].g];
            memcpy(&x[zb], tmp, (size_t)G * sizeof *tmp);
        }
    }
}

static double slot_load(const mip_m *m, const double *x, size_t c)
{
    double l = 0;
    for (size_t j = 0; j < m->nk; j++) {
        int zb = m->zbase[c * m->nk + j];
        for (int g = 0; zb >= 0 && g < m->p->bintypes[m->slots[c].b].n_gpus; g++)
            l += x[zb + g] * (double)mm_kind_bytes(m, j, m->slots[c].b);
    }
    return l + (x[m->slots[c].y] > 0.5); /* used before unused, at equal load */
}

static void swap_cols(double *x, int a, int b)
{
    double t = x[a];
    x[a] = x[b];
    x[b] = t;
}

/* Swaps every column of slots a and c (same class: same column layout). */
static bool swap_slots(const mip_m *m, double *x, size_t a, size_t c)
{
    swap_cols(x, m->slots[a].y, m->slots[c].y);
    for (size_t j = 0; j < m->nk; j++) {
        int za = m->zbase[a * m->nk + j], zc = m->zbase[c * m->nk + j];
        int ma = m->mcol[a * m->nk + j], mb = m->mcol[c * m->nk + j];
        if ((za < 0) != (zc < 0) || (ma < 0) != (mb < 0)) return false;
        for (int g = 0; za >= 0 && g < m->p->bintypes[m->slots[a].b].n_gpus; g++)
            swap_cols(x, za + g, zc + g);
        if (ma >= 0) swap_cols(x, ma, mb);
    }
    return true;
}

/* Runs of identical slots sorted by load (selection sort over each run). */
static bool warm_sort_slots(const mip_m *m, double *x)
{
    for (size_t n0 = 0; n0 < m->ns;) {
        size_t n1 = n0 + 1;
        while (n1 < m->ns && m->slots[n1].sym_prev == (int)n1 - 1)
            n1++;
        for (size_t a = n0; a + 1 < n1; a++) {
            size_t best = a;
            double bl = -1;
            for (size_t c = a; c < n1; c++) {
                double l = slot_load(m, x, c);
                if (l > bl) bl = l, best = c;
            }
            if (best != a && !swap_slots(m, x, a, best)) return false;
        }
        n0 = n1;
    }
    return true;
}

/* Every bound and row holds. */
static bool warm_check(const mip_m *m, const double *x)
{
    for (int c = 0; c < m->ncols; c++)
        if (x[c] < m->lo[c] - 1e-9 || (m->hi[c] >= 0 && x[c] > m->hi[c] + 1e-9) ||
            (m->ctype[c] == 'B' && x[c] > 1 + 1e-9))
            return false;
    double *act = calloc((size_t)m->nrows + 1, sizeof *act);
    if (!act) return false;
    for (size_t k = 0; k < m->trip.n; k++)
        act[m->trip.row[k]] += m->trip.val[k] * x[m->trip.col[k]];
    bool ok = true;
    for (int i = 0; i < m->nrows && ok; i++) {
        double v = act[i], r = m->rrhs[i];
        ok = m->rsense[i] == 'G'   ? v >= r - 1e-9
             : m->rsense[i] == 'L' ? v <= r + 1e-9
             : m->rsense[i] == 'E' ? fabs(v - r) <= 1e-9
                                   : true;
    }
    free(act);
    return ok;
}

bool mw_vector(const mip_m *m, const place_plan *w, double *x)
{
    memset(x, 0, (size_t)m->ncols * sizeof *x);
    int *node_slot = malloc((w->n_nodes ? w->n_nodes : 1) * sizeof *node_slot);
    bool *pinned = calloc(w->n_placements ? w->n_placements : 1, 1);
    bool ok = node_slot && pinned && warm_nodes(m, w, x, node_slot);
    if (ok) {
        warm_pins(m, w, x, node_slot, pinned);
        ok = warm_units(m, w, x, node_slot, pinned);
    }
    if (ok) {
        warm_unplaced(m, x);
        warm_sort_gpus(m, x);
        ok = warm_sort_slots(m, x) && warm_check(m, x);
    }
    free(node_slot);
    free(pinned);
    return ok;
}
