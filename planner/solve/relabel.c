/* relabel.c - matching a fresh plan to the running one (see relabel.h).
 *
 * Nodes: inventory nodes match by name; a bought node takes the name of the unmatched current
 * node of its type whose placements agree most with its own (model, stage and bytes), trying at
 * most 256 candidates. GPUs of a matched node are permuted the same way, GPU by GPU. Replica
 * numbers of single-stage models: a fresh placement in a slot that a current replica of the same
 * model holds takes that replica's number; the rest take free numbers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relabel.h"

typedef struct lists {
    size_t *start, *item; /* placements of node i: item[start[i] .. start[i + 1]) */
} lists;

static int lists_build(const place_plan *p, lists *l)
{
    size_t nn = p->n_nodes, np = p->n_placements;
    l->start = calloc(nn + 2, sizeof *l->start);
    l->item = malloc((np + 1) * sizeof *l->item);
    if (!l->start || !l->item) return -ENOMEM;
    for (size_t k = 0; k < np; k++)
        l->start[p->placements[k].node + 2]++;
    for (size_t i = 0; i < nn; i++)
        l->start[i + 2] += l->start[i + 1];
    for (size_t k = 0; k < np; k++)
        l->item[l->start[p->placements[k].node + 1]++] = k;
    return 0;
}

static void lists_free(lists *l)
{
    free(l->start);
    free(l->item);
}

typedef struct rl {
    const vw_view *v;
    const place_plan *cur;
    place_plan *fresh;
    lists fl, cl;
    int *match;  /* [fresh node] current node, -1 */
    bool *taken; /* [current node] */
} rl;

/* Placements of fresh node f (on GPU gf, or all when -1) that current node c (GPU gc) also has. */
static long affinity(const rl *R, size_t f, size_t c, int gf, int gc)
{
    long score = 0;
    for (size_t a = R->fl.start[f]; a < R->fl.start[f + 1]; a++) {
        const place_placement *x = &R->fresh->placements[R->fl.item[a]];
        if (gf >= 0 && !memchr(x->gpus, gf, (size_t)x->n_gpus)) continue;
        for (size_t b = R->cl.start[c]; b < R->cl.start[c + 1]; b++) {
            const place_placement *y = &R->cur->placements[R->cl.item[b]];
            if (gc >= 0 && !memchr(y->gpus, gc, (size_t)y->n_gpus)) continue;
            if (y->stage == x->stage && y->bytes_per_gpu == x->bytes_per_gpu &&
                !strcmp(x->model, y->model)) {
                score++;
                break;
            }
        }
    }
    return score;
}

static void match_nodes(rl *R)
{
    const plan_problem *p = R->v->p;
    size_t nf = R->fresh->n_nodes, nc = R->cur->n_nodes;
    for (size_t f = 0; f < nf; f++) {
        R->match[f] = -1;
        if (!R->fresh->nodes[f].inventory) continue;
        for (size_t c = 0; c < nc; c++)
            if (!strcmp(R->cur->nodes[c].name, R->fresh->nodes[f].name)) R->match[f] = (int)c;
        if (R->match[f] >= 0) R->taken[R->match[f]] = true;
    }
    for (size_t f = 0; f < nf; f++) {
        if (R->fresh->nodes[f].inventory) continue;
        int bf = plan_node_bintype(p, &R->fresh->nodes[f]), best = -1;
        long best_score = -1, tried = 0;
        for (size_t c = 0; c < nc && tried < 256; c++) {
            if (R->taken[c] || R->cur->nodes[c].inventory ||
                plan_node_bintype(p, &R->cur->nodes[c]) != bf)
                continue;
            tried++;
            long sc = affinity(R, f, c, -1, -1);
            if (sc > best_score) best = (int)c, best_score = sc;
        }
        if (best >= 0) R->match[f] = best, R->taken[best] = true;
    }
}

static bool name_used(const rl *R, size_t f, const char *name)
{
    for (size_t c = 0; c < R->cur->n_nodes; c++)
        if (!strcmp(R->cur->nodes[c].name, name)) return true;
    for (size_t o = 0; o < R->fresh->n_nodes; o++)
        if (o != f && !strcmp(R->fresh->nodes[o].name, name)) return true;
    return false;
}

/* Matched bought nodes take their match's name; unmatched ones a name current does not use. */
static void rename_nodes(rl *R)
{
    place_plan *fr = R->fresh;
    for (size_t f = 0; f < fr->n_nodes; f++)
        if (R->match[f] >= 0 && !fr->nodes[f].inventory)
            snprintf(fr->nodes[f].name, sizeof fr->nodes[f].name, "%s",
                     R->cur->nodes[R->match[f]].name);
    for (size_t f = 0; f < fr->n_nodes; f++) {
        if (R->match[f] >= 0 || fr->nodes[f].inventory) continue;
        char nmb[PLACE_NAME_MAX];
        snprintf(nmb, sizeof nmb, "%s", fr->nodes[f].name);
        for (int seq = 0; name_used(R, f, nmb) || plan_is_inventory_name(R->v->p, nmb); seq++)
            snprintf(nmb, sizeof nmb, "%s-%d", fr->nodes[f].type, seq);
        snprintf(fr->nodes[f].name, sizeof fr->nodes[f].name, "%s", nmb);
    }
}

/* GPU permutation of each matched bought node. */
static void permute_gpus(rl *R)
{
    place_plan *fr = R->fresh;
    for (size_t f = 0; f < fr->n_nodes; f++) {
        if (R->match[f] < 0 || fr->nodes[f].inventory) continue;
        size_t c = (size_t)R->match[f];
        int G = fr->nodes[f].n_gpus, perm[PLACE_MAX_GPUS];
        if (G != R->cur->nodes[c].n_gpus) continue;
        bool used[PLACE_MAX_GPUS] = {0};
        for (int g = 0; g < G; g++) {
            int best = -1;
            long bs = -1;
            for (int h = 0; h < G; h++) {
                long sc = used[h] ? -2 : affinity(R, f, c, g, h);
                if (sc > bs) bs = sc, best = h;
            }
            perm[g] = best;
            used[best] = true;
        }
        place_gpu old[PLACE_MAX_GPUS];
        memcpy(old, fr->nodes[f].gpus, sizeof old);
        for (int g = 0; g < G; g++)
            fr->nodes[f].gpus[perm[g]] = old[g];
        for (size_t a = R->fl.start[f]; a < R->fl.start[f + 1]; a++) {
            place_placement *x = &fr->placements[R->fl.item[a]];
            for (int t = 0; t < x->n_gpus; t++)
                x->gpus[t] = (uint8_t)perm[x->gpus[t]];
        }
    }
}

/* Slot keys "model|node|gpus|bytes" of single-stage placements. */
typedef struct slot_ent {
    char key[PLACE_NAME_MAX * 2 + 96];
    size_t k;
} slot_ent;

static void slot_key(const place_plan *plan, const place_placement *pl, char *buf, size_t cap)
{
    int off = snprintf(buf, cap, "%s|%s|", pl->model, plan->nodes[pl->node].name);
    unsigned set = 0;
    for (int t = 0; t < pl->n_gpus; t++)
        set |= 1u << pl->gpus[t];
    for (int g = 0; g < PLACE_MAX_GPUS && off > 0 && (size_t)off < cap; g++)
        if (set >> g & 1u) off += snprintf(buf + off, cap - (size_t)off, "%d,", g);
    if (off > 0 && (size_t)off < cap)
        snprintf(buf + off, cap - (size_t)off, "|%llu", (unsigned long long)pl->bytes_per_gpu);
}

static int slot_cmp(const void *a, const void *b)
{
    return strcmp(((const slot_ent *)a)->key, ((const slot_ent *)b)->key);
}

/* A current replica of the same model in fresh placement a's slot, unclaimed; -1 when none. */
static int claim_slot(const rl *R, const slot_ent *cs, size_t ncs, size_t a, bool *claimed,
                      uint32_t nrep)
{
    slot_ent key;
    slot_key(R->fresh, &R->fresh->placements[a], key.key, sizeof key.key);
    const slot_ent *hit = bsearch(&key, cs, ncs, sizeof *cs, slot_cmp);
    if (!hit) return -1;
    while (hit > cs && !strcmp(hit[-1].key, key.key))
        hit--;
    for (; hit < cs + ncs && !strcmp(hit->key, key.key); hit++) {
        const place_placement *y = &R->cur->placements[hit->k];
        if (y->replica < nrep && !claimed[y->replica]) {
            claimed[y->replica] = true;
            /* The same GPUs, listed in current's order, so the slot compares equal. */
            memcpy(R->fresh->placements[a].gpus, y->gpus, (size_t)y->n_gpus);
            return (int)y->replica;
        }
    }
    return -1;
}

static int renumber_group(rl *R, const slot_ent *cs, size_t ncs, size_t g)
{
    const char *name = vw_model_name(R->v->p, g);
    uint32_t n = R->v->p->groups[g].replicas;
    int *num = malloc(n * sizeof *num);
    bool *claimed = calloc(n, 1);
    if (!num || !claimed) {
        free(num);
        free(claimed);
        return -ENOMEM;
    }
    for (uint32_t r = 0; r < n; r++)
        num[r] = -1;
    place_plan *fr = R->fresh;
    for (size_t a = 0; a < fr->n_placements; a++) {
        const place_placement *x = &fr->placements[a];
        if (x->stage < 0 && x->replica < n && !strcmp(x->model, name))
            num[x->replica] = claim_slot(R, cs, ncs, a, claimed, n);
    }
    for (uint32_t r = 0, next = 0; r < n; r++) {
        if (num[r] >= 0) continue;
        while (next < n && claimed[next])
            next++;
        if (next < n) num[r] = (int)next, claimed[next] = true;
    }
    for (size_t a = 0; a < fr->n_placements; a++) {
        place_placement *x = &fr->placements[a];
        if (x->replica >= n || num[x->replica] < 0 || strcmp(x->model, name)) continue;
        x->replica = (uint32_t)num[x->replica];
        place_make_id(x->id, sizeof x->id, x->model, x->replica, x->stage);
    }
    for (size_t u = 0; u < fr->n_unplaced; u++) {
        place_unplaced *x = &fr->unplaced[u];
        if (x->replica < n && num[x->replica] >= 0 && !strcmp(x->model, name))
            x->replica = (uint32_t)num[x->replica];
    }
    free(num);
    free(claimed);
    return 0;
}

static int renumber(rl *R)
{
    const place_plan *cur = R->cur;
    slot_ent *cs = malloc((cur->n_placements ? cur->n_placements : 1) * sizeof *cs);
    if (!cs) return -ENOMEM;
    size_t ncs = 0;
    for (size_t b = 0; b < cur->n_placements; b++) {
        if (cur->placements[b].stage >= 0) continue;
        slot_key(cur, &cur->placements[b], cs[ncs].key, sizeof cs[ncs].key);
        cs[ncs++].k = b;
    }
    qsort(cs, ncs, sizeof *cs, slot_cmp);
    int rc = 0;
    for (size_t g = 0; g < R->v->p->n_groups && !rc; g++)
        if (R->v->p->groups[g].pp == 1 && R->v->p->groups[g].replicas)
            rc = renumber_group(R, cs, ncs, g);
    free(cs);
    return rc;
}

int rl_relabel(const vw_view *v, const place_plan *current, place_plan *fresh)
{
    rl R = {.v = v, .cur = current, .fresh = fresh};
    R.match = malloc((fresh->n_nodes + 1) * sizeof *R.match);
    R.taken = calloc(current->n_nodes + 1, 1);
    int rc = R.match && R.taken && !lists_build(fresh, &R.fl) && !lists_build(current, &R.cl)
                 ? 0
                 : -ENOMEM;
    if (!rc) {
        match_nodes(&R);
        rename_nodes(&R);
        permute_gpus(&R);
        rc = renumber(&R);
    }
    free(R.match);
    free(R.taken);
    lists_free(&R.fl);
    lists_free(&R.cl);
    return rc;
}
