/* local.c - consolidation (see local.h).
 *
 * Emptying: nodes in use, least full first; a node is emptied when every placement on it
 * (largest first) finds room by best fit on the other nodes in use, counting what this attempt
 * already put there, and the rules hold (spread, a replica's stages apart). A pass gives up after
 * 64 failures in a row (the rest are fuller still). Rebuying: a bought node whose placements all
 * fit an empty node of a cheaper type (within max_count) moves there whole. With an origin plan,
 * every replica still entirely where origin had it counts one move when it leaves, and nothing
 * is done that would spend more moves than are left. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "local.h"

#define LS_MAX_LIST 512 /* placements on a node this search will move at once */

typedef struct sim {
    int node;
    uint8_t gpus[PLACE_MAX_GPUS];
    int tp;
    uint64_t w;
    int grp;
    uint32_t replica;
} sim;

typedef struct ls {
    ed_plan *x;
    const ls_opts *o;
    uint64_t (*extra)[PLACE_MAX_GPUS]; /* bytes promised per node and GPU in this attempt */
    size_t cap_extra;
    sim log[LS_MAX_LIST];
    int list[LS_MAX_LIST];
    int nlist;
} ls;

/* Does placement k of the plan sit exactly where origin had the same id? */
static bool at_origin(const ls *S, int k)
{
    const place_plan *o = S->o ? S->o->origin : NULL;
    if (!o) return false;
    const place_placement *pl = &S->x->plan->placements[k];
    int q = place_plan_find(o, pl->id);
    if (q < 0) return false;
    const place_placement *op = &o->placements[q];
    return !strcmp(o->nodes[op->node].name, S->x->plan->nodes[pl->node].name) &&
           op->n_gpus == pl->n_gpus && op->bytes_per_gpu == pl->bytes_per_gpu &&
           !memcmp(op->gpus, pl->gpus, (size_t)pl->n_gpus);
}

/* Moves emptying node n would spend: its replicas that are at origin on every stage. */
static long charge(const ls *S, int n)
{
    if (!S->o || !S->o->origin) return 0;
    const place_plan *plan = S->x->plan;
    long c = 0;
    for (int k = S->x->head[n]; k >= 0; k = S->x->next[k]) {
        const place_placement *pl = &plan->placements[k];
        if (!at_origin(S, k)) continue;
        bool all = true, first = true;
        for (int s = 0; s < pl->n_stages && all && pl->stage >= 0; s++) {
            char id[PLACE_ID_MAX];
            place_make_id(id, sizeof id, pl->model, pl->replica, s);
            int q = place_plan_find(plan, id);
            if (q < 0 || !at_origin(S, q)) all = false;
            /* Count the replica once: at its lowest stage on this node. */
            if (q >= 0 && s < pl->stage && plan->placements[q].node == n) first = false;
        }
        if (all && first) c++;
    }
    return c;
}

static bool can_spend(const ls *S, long c)
{
    return !S->o || !S->o->moves_left || *S->o->moves_left < 0 || c <= *S->o->moves_left;
}

static void spend(const ls *S, long c)
{
    if (S->o && S->o->moves_left && *S->o->moves_left >= 0) *S->o->moves_left -= c;
}

/* Placements of node n, largest first; false when there are too many. */
static bool node_list(ls *S, int n)
{
    const place_plan *plan = S->x->plan;
    S->nlist = 0;
    for (int k = S->x->head[n]; k >= 0; k = S->x->next[k]) {
        if (S->nlist == LS_MAX_LIST) return false;
        int a = S->nlist++;
        uint64_t wv = plan->placements[k].bytes_per_gpu * (uint64_t)plan->placements[k].n_gpus;
        while (a > 0) {
            const place_placement *q = &plan->placements[S->list[a - 1]];
            if (q->bytes_per_gpu * (uint64_t)q->n_gpus >= wv) break;
            S->list[a] = S->list[a - 1];
            a--;
        }
        S->list[a] = k;
    }
    return true;
}

/* Rules against what this attempt already put on node n. */
static bool sim_clash(const ls *S, int nlog, int n, int g, uint32_t r)
{
    const plan_problem *p = S->x->v->p;
    bool spread = p->manifest->models[p->groups[g].model].spread;
    for (int q = 0; q < nlog; q++)
        if (S->log[q].node == n && S->log[q].grp == g && (spread || S->log[q].replica == r))
            return true;
    return false;
}

/* Best-fit target for placement k (not on node `from`), counting promised bytes. */
static int best_target(ls *S, int nlog, int k, int from, sim *out)
{
    ed_plan *x = S->x;
    const place_placement *pl = &x->plan->placements[k];
    int g = x->grp[k];
    uint32_t st = pl->stage < 0 ? 0 : (uint32_t)pl->stage;
    const plan_group *gr = &x->v->p->groups[g];
    int best = -1;
    double best_slack = 0;
    uint8_t gpus[PLACE_MAX_GPUS];
    for (size_t n = 0; n < x->plan->n_nodes; n++) {
        if ((int)n == from || x->head[n] < 0 || !ed_allowed(x, (int)n, (size_t)g, pl->replica, st) ||
            sim_clash(S, nlog, (int)n, g, pl->replica))
            continue;
        const plan_shape *sh = &gr->shapes[x->nbt[n]];
        double sl = ed_tightest(x, (int)n, sh->tp, sh->stage_bytes[st], S->extra[n], gpus);
        if (sl >= 0 && (best < 0 || sl < best_slack)) {
            best = (int)n;
            best_slack = sl;
            *out = (sim){(int)n, {0}, (int)sh->tp, sh->stage_bytes[st], g, pl->replica};
            memcpy(out->gpus, gpus, sh->tp);
        }
    }
    return best;
}

static void undo_extra(ls *S, int nlog)
{
    for (int q = 0; q < nlog; q++)
        for (int t = 0; t < S->log[q].tp; t++)
            S->extra[S->log[q].node][S->log[q].gpus[t]] -= S->log[q].w;
}

static int cmp_int_desc(const void *a, const void *b)
{
    return *(const int *)b - *(const int *)a;
}

/* Moves the listed placements to the planned spots (log[i] for list[i]). */
static int commit(ls *S, const sim *plan_to, int n)
{
    ed_plan *x = S->x;
    uint32_t st[LS_MAX_LIST];
    int order[LS_MAX_LIST];
    for (int i = 0; i < n; i++) {
        const place_placement *pl = &x->plan->placements[S->list[i]];
        st[i] = pl->stage < 0 ? 0 : (uint32_t)pl->stage;
        order[i] = S->list[i];
    }
    qsort(order, (size_t)n, sizeof *order, cmp_int_desc);
    for (int i = 0; i < n; i++)
        ed_unassign(x, (size_t)order[i]);
    for (int i = 0; i < n; i++) {
        const sim *a = &plan_to[i];
        int r = ed_assign(x, (size_t)a->grp, a->replica, st[i], a->node, a->gpus);
        if (r < 0) return r;
    }
    return 1;
}

/* Empties node n into room elsewhere; 1 when done, 0 when it cannot, or a negative code. */
static int try_empty(ls *S, int n)
{
    if (!node_list(S, n)) return 0;
    int nlog = 0;
    for (int i = 0; i < S->nlist; i++) {
        if (best_target(S, nlog, S->list[i], n, &S->log[nlog]) < 0) {
            undo_extra(S, nlog);
            return 0;
        }
        for (int t = 0; t < S->log[nlog].tp; t++)
            S->extra[S->log[nlog].node][S->log[nlog].gpus[t]] += S->log[nlog].w;
        nlog++;
    }
    undo_extra(S, nlog);
    return commit(S, S->log, S->nlist);
}

/* Lays node n's placements (S->list) out on an empty node of type b into out[]. */
static bool layout_on(ls *S, size_t b, sim *out)
{
    ed_plan *x = S->x;
    const plan_bintype *bt = &x->v->p->bintypes[b];
    uint64_t freeb[PLACE_MAX_GPUS];
    for (int g = 0; g < bt->n_gpus; g++)
        freeb[g] = bt->usable_per_gpu;
    for (int i = 0; i < S->nlist; i++) {
        const place_placement *pl = &x->plan->placements[S->list[i]];
        int g = x->grp[S->list[i]];
        const plan_shape *sh = &x->v->p->groups[g].shapes[b];
        uint32_t st = pl->stage < 0 ? 0 : (uint32_t)pl->stage;
        if (!sh->ok) return false;
        uint64_t w = sh->stage_bytes[st];
        int ord[PLACE_MAX_GPUS], no = 0;
        for (int q = 0; q < bt->n_gpus; q++) {
            if (freeb[q] < w) continue;
            int k = no++;
            while (k > 0 && freeb[ord[k - 1]] > freeb[q]) {
                ord[k] = ord[k - 1];
                k--;
            }
            ord[k] = q;
        }
        if ((uint32_t)no < sh->tp) return false;
        out[i] = (sim){-1, {0}, (int)sh->tp, w, g, pl->replica};
        for (uint32_t t = 0; t < sh->tp; t++) {
            out[i].gpus[t] = (uint8_t)ord[t];
            freeb[ord[t]] -= w;
        }
    }
    return true;
}

/* Moves bought node n whole to the cheapest type that holds it; 1 when done. */
static int try_rebuy(ls *S, int n)
{
    ed_plan *x = S->x;
    const plan_problem *p = x->v->p;
    if (!node_list(S, n)) return 0;
    static _Thread_local sim cand[LS_MAX_LIST], best[LS_MAX_LIST];
    int bb = -1;
    double price = x->plan->nodes[n].price_per_hour;
    for (size_t b = 0; b < p->n_bintypes; b++) {
        const plan_bintype *bt = &p->bintypes[b];
        if (bt->inventory || bt->price_per_hour >= price - 1e-12) continue;
        if (bt->max_count >= 0 && x->count[b] >= bt->max_count) continue;
        if (!layout_on(S, b, cand)) continue;
        bb = (int)b;
        price = bt->price_per_hour;
        memcpy(best, cand, (size_t)S->nlist * sizeof *cand);
    }
    if (bb < 0) return 0;
    int idx = ed_add_node(x, (size_t)bb);
    if (idx < 0) return idx;
    for (int i = 0; i < S->nlist; i++)
        best[i].node = idx;
    return commit(S, best, S->nlist);
}

static int cmp_fill(const void *a, const void *b)
{
    const double *x = a, *y = b;
    if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : (x[1] > y[1]);
}

/* One pass: try to empty every node in use, least full first, then to rebuy every bought one.
 * *improved says whether anything changed. */
static int pass(ls *S, bg_budget *b, bool *improved)
{
    ed_plan *x = S->x;
    size_t nn = x->plan->n_nodes, no = 0;
    double (*order)[2] = malloc((nn + 1) * sizeof *order);
    if (!order) return -ENOMEM;
    for (size_t n = 0; n < nn; n++)
        if (x->head[n] >= 0 && x->nbt[n] >= 0 && x->plan->nodes[n].price_per_hour > 0)
            order[no][0] = ed_fill(x, (int)n), order[no++][1] = (double)n;
    qsort(order, no, sizeof *order, cmp_fill);
    int rc = 0, fails = 0;
    for (size_t i = 0; i < no && fails < 64 && !rc && !bg_over(b); i++) {
        int n = (int)order[i][1];
        long c = charge(S, n);
        if (x->head[n] < 0 || !can_spend(S, c)) continue;
        rc = try_empty(S, n);
        fails = rc == 1 ? 0 : fails + 1;
        if (rc == 1) spend(S, c), *improved = true, rc = 0;
    }
    for (size_t n = 0; n < x->plan->n_nodes && !rc && !bg_over(b); n++) {
        if (x->head[n] < 0 || x->nbt[n] < 0 || x->v->p->bintypes[x->nbt[n]].inventory) continue;
        long c = charge(S, (int)n);
        if (!can_spend(S, c)) continue;
        rc = try_rebuy(S, (int)n);
        if (rc == 1) spend(S, c), *improved = true, rc = 0;
    }
    free(order);
    return rc;
}

int ls_consolidate(ed_plan *x, bg_budget *b, const ls_opts *o)
{
    ls S = {.x = x, .o = o};
    int rc = 0;
    for (int it = 0; it < 50 && !rc && !bg_over(b); it++) {
        if (x->plan->n_nodes + 1 > S.cap_extra) {
            free(S.extra);
            S.cap_extra = (x->plan->n_nodes + 1) * 2;
            S.extra = calloc(S.cap_extra, sizeof *S.extra);
            if (!S.extra) {
                rc = -ENOMEM;
                break;
            }
        }
        bool improved = false;
        rc = pass(&S, b, &improved);
        if (!improved) break;
    }
    free(S.extra);
    if (rc) return rc;
    const vw_view *v = x->v;
    place_plan *plan = x->plan;
    ed_free(x);
    if (place_plan_drop_idle(plan)) return -ENOMEM;
    place_plan_update_cost(plan);
    return ed_init(x, v, plan);
}
