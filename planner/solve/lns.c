/* lns.c - ruin and recreate (see lns.h).
 *
 * Most rounds are exact repacks of a few GPUs (repack.h) or minimum-bin-slack packing of a dozen
 * one-GPU nodes (mbs.h), which only ever gather spare room and empty nodes. The others ruin the least full node in use and a few others (random, more of them as rounds pass
 * without a gain), recreates by the repair step (best fit into nodes in use, then idle ones, then
 * the cheapest type per unit), and judges the result by (unplaced replicas, cost, -sum of squared
 * node fill): the last term rewards gathering spare room on few nodes, which is what lets a later
 * round empty one. Ties and small losses in that term are accepted with a slowly shrinking
 * threshold, so the search drifts instead of sticking. A rejected round is undone exactly: the
 * touched replicas' placements come off, the originals go back, and nodes bought during the
 * round (appended at the end and now idle) are dropped. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fill.h"
#include "lns.h"
#include "mbs.h"
#include "repack.h"

typedef struct saved {
    size_t group;
    uint32_t replica, stage;
    int node;
    uint8_t gpus[PLACE_MAX_GPUS];
} saved;

typedef struct lns {
    ed_plan *x;
    uint64_t rng;
    saved *sv;
    size_t nsv, capsv;
    place_unplaced *unpl;
    size_t nunpl, capunpl;
    int *pick;
    size_t cap_pick;
} lns;

static uint64_t next_rand(lns *L)
{
    L->rng ^= L->rng << 13;
    L->rng ^= L->rng >> 7;
    L->rng ^= L->rng << 17;
    return L->rng;
}

typedef struct score {
    size_t unplaced;
    double cost, spread; /* spread = -sum fill^2 over nodes in use */
} score;

static score measure(const ed_plan *x)
{
    score s = {x->plan->n_unplaced, 0, 0};
    for (size_t n = 0; n < x->plan->n_nodes; n++) {
        if (x->head[n] < 0) continue;
        double f = ed_fill(x, (int)n);
        s.cost += x->plan->nodes[n].price_per_hour;
        s.spread -= f * f;
    }
    return s;
}

/* -1 a better, 0 same, 1 worse (on unplaced and cost). */
static int cmp_hard(score a, score b)
{
    if (a.unplaced != b.unplaced) return a.unplaced < b.unplaced ? -1 : 1;
    double tol = 1e-9 * (1 + b.cost);
    if (a.cost < b.cost - tol) return -1;
    return a.cost > b.cost + tol ? 1 : 0;
}

/* Nodes to ruin: the least full in use, then k - 1 random others in use. */
static size_t choose(lns *L, size_t k)
{
    ed_plan *x = L->x;
    size_t nn = x->plan->n_nodes, np = 0;
    if (vp_grow((void **)&L->pick, &L->cap_pick, nn + 1, sizeof *L->pick, 64)) return 0;
    int least = -1;
    double lf = 2;
    for (size_t n = 0; n < nn; n++) {
        if (x->head[n] < 0 || x->nbt[n] < 0) continue;
        double f = ed_fill(x, (int)n);
        if (f < lf) lf = f, least = (int)n;
    }
    if (least < 0) return 0;
    L->pick[np++] = least;
    for (size_t tries = 0; np < k && tries < 4 * k; tries++) {
        int n = (int)(next_rand(L) % nn);
        bool dup = x->head[n] < 0 || x->nbt[n] < 0;
        for (size_t i = 0; i < np && !dup; i++)
            dup = L->pick[i] == n;
        if (!dup) L->pick[np++] = n;
    }
    return np;
}

static int take(lns *L, int k)
{
    ed_plan *x = L->x;
    const place_placement *pl = &x->plan->placements[k];
    if (vp_grow((void **)&L->sv, &L->capsv, L->nsv + 1, sizeof *L->sv, 64)) return -ENOMEM;
    saved *s = &L->sv[L->nsv++];
    *s = (saved){(size_t)x->grp[k], pl->replica, pl->stage < 0 ? 0 : (uint32_t)pl->stage,
                 pl->node, {0}};
    memcpy(s->gpus, pl->gpus, (size_t)pl->n_gpus);
    ed_unassign(x, (size_t)k);
    return 0;
}

/* Takes the chosen nodes' placements off (every stage of their replicas), remembering them. */
static int ruin(lns *L, size_t np)
{
    ed_plan *x = L->x;
    L->nsv = 0;
    for (size_t i = 0; i < np; i++)
        while (x->head[L->pick[i]] >= 0) {
            int k = x->head[L->pick[i]];
            place_placement pl = x->plan->placements[k];
            if (take(L, k)) return -ENOMEM;
            for (int st = 0; pl.stage >= 0 && st < pl.n_stages; st++) {
                char id[PLACE_ID_MAX];
                place_make_id(id, sizeof id, pl.model, pl.replica, st);
                int q = st == pl.stage ? -1 : place_plan_find(x->plan, id);
                if (q >= 0 && take(L, q)) return -ENOMEM;
            }
        }
    return 0;
}

static bool touched(const lns *L, size_t g, uint32_t r)
{
    for (size_t i = 0; i < L->nsv; i++)
        if (L->sv[i].group == g && L->sv[i].replica == r) return true;
    for (size_t u = 0; u < L->nunpl; u++)
        if (vw_group(L->x->v, L->unpl[u].model) == (int)g && L->unpl[u].replica == r) return true;
    return false;
}

/* Puts the plan back as it was before the round. */
static int undo(lns *L, size_t nodes_before)
{
    ed_plan *x = L->x;
    place_plan *plan = x->plan;
    for (size_t k = plan->n_placements; k-- > 0;)
        if (x->grp[k] >= 0 && touched(L, (size_t)x->grp[k], plan->placements[k].replica))
            ed_unassign(x, k);
    for (size_t i = 0; i < L->nsv; i++) {
        const saved *s = &L->sv[i];
        if (ed_assign(x, s->group, s->replica, s->stage, s->node, s->gpus) < 0) return VP_ESOLVER;
    }
    for (size_t n = plan->n_nodes; n-- > nodes_before;) {
        if (x->head[n] >= 0) return VP_ESOLVER;
        if (x->nbt[n] >= 0) x->count[x->nbt[n]]--;
        x->nbt[n] = -1;
    }
    plan->n_nodes = nodes_before;
    plan->n_unplaced = 0;
    for (size_t u = 0; u < L->nunpl; u++)
        if (place_plan_add_unplaced(plan, L->unpl[u].model, L->unpl[u].replica, L->unpl[u].reason))
            return -ENOMEM;
    return 0;
}

static int save_unplaced(lns *L)
{
    const place_plan *plan = L->x->plan;
    if (vp_grow((void **)&L->unpl, &L->capunpl, plan->n_unplaced + 1, sizeof *L->unpl, 16))
        return -ENOMEM;
    if (plan->n_unplaced) /* none: the plan's array may be NULL */
        memcpy(L->unpl, plan->unplaced, plan->n_unplaced * sizeof *L->unpl);
    L->nunpl = plan->n_unplaced;
    return 0;
}

int lns_run(ed_plan *x, bg_budget *b, double target, uint64_t seed, lns_stats *st)
{
    lns L = {.x = x, .rng = seed ? seed : 0x9E3779B97F4A7C15ULL};
    lns_stats s = {0};
    score cur = measure(x);
    double thresh = 0.02;
    unsigned long stale = 0;
    int rc = 0;
    vp_err sub = {0};
    /* target met within the LP tolerance (SS_TARGET_TOL in state.h) */
    while (!rc && !bg_over(b) && !(cur.unplaced == 0 && cur.cost <= target + 1e-7 * (1 + target))) {
        uint64_t kind = next_rand(&L) % 10;
        if (kind < 7) { /* exact repacks of a few GPUs, or bin-slack packing of a dozen nodes */
            int r = kind < 4 ? rp_move(x, &L.rng, 2 + (int)(next_rand(&L) % 4))
                             : mbs_move(x, &L.rng, 4 + (int)(next_rand(&L) % 10));
            if (r < 0) rc = r;
            s.rounds++;
            if (r == 1) {
                score now = measure(x);
                s.accepted++;
                if (cmp_hard(now, cur) < 0) s.improved++, stale = 0;
                cur = now;
            }
            continue;
        }
        size_t k = 2 + (size_t)(stale / 200 % 5) + next_rand(&L) % 3;
        size_t nodes_before = x->plan->n_nodes, np = choose(&L, k);
        if (!np || (rc = save_unplaced(&L)) || (rc = ruin(&L, np))) break;
        if ((rc = fl_fill(x, &sub))) break;
        score now = measure(x);
        int h = cmp_hard(now, cur);
        bool take = h < 0 || (h == 0 && now.spread <= cur.spread + thresh);
        s.rounds++;
        if (take) {
            s.accepted++;
            if (h < 0) s.improved++, stale = 0;
            else stale++;
            cur = now;
        } else {
            stale++;
            rc = undo(&L, nodes_before);
        }
        thresh *= 0.999;
        if (thresh < 1e-4) thresh = 0.02; /* reheat */
    }
    free(L.sv);
    free(L.unpl);
    free(L.pick);
    if (st) *st = s;
    return rc;
}
