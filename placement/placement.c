/* placement.c - the plan data model (see placement.h).
 *
 * Arrays grow by doubling. used_bytes on each GPU is kept in step with the placements by
 * assign/unassign so that packing code can ask place_gpu_fits in O(1); validate recomputes it
 * from scratch to catch any drift. */
#include "placement.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vp.h"

place_plan *place_plan_new(void)
{
    place_plan *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    snprintf(p->solver, sizeof p->solver, "none");
    snprintf(p->status, sizeof p->status, "heuristic");
    return p;
}

void place_plan_free(place_plan *p)
{
    if (!p) return;
    free(p->nodes);
    free(p->placements);
    free(p->unplaced);
    free(p);
}

static void *dup_array(const void *src, size_t n, size_t size)
{
    if (n == 0) return NULL;
    void *d = malloc(n * size);
    if (d) memcpy(d, src, n * size);
    return d;
}

place_plan *place_plan_clone(const place_plan *p)
{
    place_plan *c = malloc(sizeof *c);
    if (!c) return NULL;
    *c = *p;
    c->nodes = dup_array(p->nodes, p->n_nodes, sizeof *p->nodes);
    c->placements = dup_array(p->placements, p->n_placements, sizeof *p->placements);
    c->unplaced = dup_array(p->unplaced, p->n_unplaced, sizeof *p->unplaced);
    c->cap_nodes = p->n_nodes;
    c->cap_placements = p->n_placements;
    c->cap_unplaced = p->n_unplaced;
    if ((p->n_nodes && !c->nodes) || (p->n_placements && !c->placements) ||
        (p->n_unplaced && !c->unplaced)) {
        place_plan_free(c);
        return NULL;
    }
    return c;
}

static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
    return vp_grow(arr, cap, n + 1, size, 16);
}

int place_plan_add_node(place_plan *p, const place_node *n)
{
    if (n->n_gpus < 0 || n->n_gpus > PLACE_MAX_GPUS) return VP_EINPUT;
    if (grow((void **)&p->nodes, &p->cap_nodes, p->n_nodes, sizeof *p->nodes)) return -12;
    p->nodes[p->n_nodes] = *n;
    return (int)p->n_nodes++;
}

bool place_gpu_fits(const place_plan *p, int node, int g, uint64_t bytes)
{
    const place_gpu *gp = &p->nodes[node].gpus[g];
    return gp->used_bytes <= gp->usable_bytes && bytes <= gp->usable_bytes - gp->used_bytes;
}

void place_make_id(char *buf, size_t cap, const char *model, uint32_t replica, int stage)
{
    if (stage >= 0)
        snprintf(buf, cap, "%s/%u/%d", model, replica, stage);
    else
        snprintf(buf, cap, "%s/%u", model, replica);
}

int place_plan_assign(place_plan *p, const char *model, uint32_t replica, int stage, int n_stages,
                      int node, const uint8_t *gpus, int n_gpus, uint64_t bytes_per_gpu)
{
    if (node < 0 || (size_t)node >= p->n_nodes || n_gpus < 1 || n_gpus > PLACE_MAX_GPUS)
        return VP_EINPUT;
    const place_node *nd = &p->nodes[node];
    if (nd->n_placed >= PLACE_MAX_PER_NODE) return VP_ENOSPACE;
    unsigned seen = 0;
    for (int i = 0; i < n_gpus; i++) {
        if (gpus[i] >= nd->n_gpus || (seen >> gpus[i] & 1u)) return VP_EINPUT;
        seen |= 1u << gpus[i];
        if (!place_gpu_fits(p, node, gpus[i], bytes_per_gpu)) return VP_ENOSPACE;
    }
    if (grow((void **)&p->placements, &p->cap_placements, p->n_placements,
             sizeof *p->placements))
        return -12;
    place_placement *pl = &p->placements[p->n_placements];
    memset(pl, 0, sizeof *pl);
    snprintf(pl->model, sizeof pl->model, "%s", model);
    place_make_id(pl->id, sizeof pl->id, model, replica, stage);
    pl->replica = replica;
    pl->stage = stage;
    pl->n_stages = n_stages < 1 ? 1 : n_stages;
    pl->node = node;
    pl->n_gpus = n_gpus;
    memcpy(pl->gpus, gpus, (size_t)n_gpus);
    pl->bytes_per_gpu = bytes_per_gpu;
    for (int i = 0; i < n_gpus; i++) p->nodes[node].gpus[gpus[i]].used_bytes += bytes_per_gpu;
    p->nodes[node].n_placed++;
    return (int)p->n_placements++;
}

void place_plan_unassign(place_plan *p, size_t i)
{
    if (i >= p->n_placements) return;
    place_placement *pl = &p->placements[i];
    for (int k = 0; k < pl->n_gpus; k++)
        p->nodes[pl->node].gpus[pl->gpus[k]].used_bytes -= pl->bytes_per_gpu;
    if (p->nodes[pl->node].n_placed) p->nodes[pl->node].n_placed--;
    p->placements[i] = p->placements[--p->n_placements];
}

int place_plan_add_unplaced(place_plan *p, const char *model, uint32_t replica, const char *reason)
{
    if (grow((void **)&p->unplaced, &p->cap_unplaced, p->n_unplaced, sizeof *p->unplaced))
        return -12;
    place_unplaced *u = &p->unplaced[p->n_unplaced++];
    memset(u, 0, sizeof *u);
    snprintf(u->model, sizeof u->model, "%s", model);
    u->replica = replica;
    snprintf(u->reason, sizeof u->reason, "%s", reason);
    return 0;
}

int place_plan_find(const place_plan *p, const char *id)
{
    for (size_t i = 0; i < p->n_placements; i++)
        if (strcmp(p->placements[i].id, id) == 0) return (int)i;
    return -1;
}

size_t place_node_load(const place_plan *p, size_t i)
{
    size_t n = 0;
    for (size_t k = 0; k < p->n_placements; k++)
        if ((size_t)p->placements[k].node == i) n++;
    return n;
}

void place_plan_update_cost(place_plan *p)
{
    bool *used = calloc(p->n_nodes ? p->n_nodes : 1, 1);
    double cost = 0;
    if (used) {
        for (size_t k = 0; k < p->n_placements; k++) used[p->placements[k].node] = true;
        for (size_t i = 0; i < p->n_nodes; i++)
            if (used[i] || p->nodes[i].spare) cost += p->nodes[i].price_per_hour;
        free(used);
    }
    p->cost_per_hour = cost;
    p->gap = cost > 0 ? (cost - p->lower_bound_per_hour) / cost : 0.0;
    if (p->gap < 0 && p->gap > -1e-9) p->gap = 0;
}

int place_plan_drop_idle(place_plan *p)
{
    int *map = malloc((p->n_nodes ? p->n_nodes : 1) * sizeof *map);
    bool *used = calloc(p->n_nodes ? p->n_nodes : 1, 1);
    if (!map || !used) { free(map); free(used); return -12; }
    for (size_t k = 0; k < p->n_placements; k++) used[p->placements[k].node] = true;
    size_t w = 0;
    for (size_t i = 0; i < p->n_nodes; i++) {
        if (used[i] || p->nodes[i].inventory || p->nodes[i].spare) {
            map[i] = (int)w;
            p->nodes[w++] = p->nodes[i];
        } else {
            map[i] = -1;
        }
    }
    p->n_nodes = w;
    for (size_t k = 0; k < p->n_placements; k++) p->placements[k].node = map[p->placements[k].node];
    free(map);
    free(used);
    return 0;
}

static int id_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int place_plan_validate(const place_plan *p, char *why, size_t cap)
{
    int rc = 0;
    uint64_t(*used)[PLACE_MAX_GPUS] = calloc(p->n_nodes ? p->n_nodes : 1, sizeof *used);
    const char **ids = malloc((p->n_placements ? p->n_placements : 1) * sizeof *ids);
    if (!used || !ids) { free(used); free(ids); snprintf(why, cap, "out of memory"); return -12; }
    for (size_t k = 0; k < p->n_placements && !rc; k++) {
        const place_placement *pl = &p->placements[k];
        ids[k] = pl->id;
        if (pl->node < 0 || (size_t)pl->node >= p->n_nodes) {
            snprintf(why, cap, "placement %s: node index %d out of range", pl->id, pl->node);
            rc = VP_EINPUT;
            break;
        }
        const place_node *nd = &p->nodes[pl->node];
        if (pl->n_gpus < 1 || pl->n_gpus > nd->n_gpus) {
            snprintf(why, cap, "placement %s: %d GPUs on node %s with %d", pl->id, pl->n_gpus,
                     nd->name, nd->n_gpus);
            rc = VP_EINPUT;
            break;
        }
        unsigned seen = 0;
        for (int g = 0; g < pl->n_gpus; g++) {
            unsigned gi = pl->gpus[g];
            if (gi >= (unsigned)nd->n_gpus || (seen >> gi & 1u)) {
                snprintf(why, cap, "placement %s: GPU index %u repeated or out of range", pl->id,
                         gi);
                rc = VP_EINPUT;
                break;
            }
            seen |= 1u << gi;
            used[pl->node][gi] += pl->bytes_per_gpu;
        }
    }
    for (size_t i = 0; i < p->n_nodes && !rc; i++) {
        for (int g = 0; g < p->nodes[i].n_gpus && !rc; g++) {
            const place_gpu *gp = &p->nodes[i].gpus[g];
            if (used[i][g] > gp->usable_bytes) {
                snprintf(why, cap, "node %s GPU %d: %llu bytes placed, %llu usable",
                         p->nodes[i].name, g, (unsigned long long)used[i][g],
                         (unsigned long long)gp->usable_bytes);
                rc = VP_EINPUT;
            } else if (used[i][g] != gp->used_bytes) {
                snprintf(why, cap, "node %s GPU %d: used_bytes %llu but placements sum to %llu",
                         p->nodes[i].name, g, (unsigned long long)gp->used_bytes,
                         (unsigned long long)used[i][g]);
                rc = VP_EINPUT;
            }
        }
    }
    if (!rc && p->n_nodes > 1) {
        const char **names = malloc(p->n_nodes * sizeof *names);
        if (!names) { rc = -12; snprintf(why, cap, "out of memory"); }
        for (size_t i = 0; names && i < p->n_nodes; i++) names[i] = p->nodes[i].name;
        if (names) qsort(names, p->n_nodes, sizeof *names, id_cmp);
        for (size_t i = 1; names && i < p->n_nodes && !rc; i++)
            if (!strcmp(names[i - 1], names[i])) {
                snprintf(why, cap, "node name %s appears twice", names[i]);
                rc = VP_EINPUT;
            }
        free(names);
    }
    if (!rc && p->n_placements > 1) {
        qsort(ids, p->n_placements, sizeof *ids, id_cmp);
        for (size_t k = 1; k < p->n_placements; k++)
            if (strcmp(ids[k - 1], ids[k]) == 0) {
                snprintf(why, cap, "placement id %s appears twice", ids[k]);
                rc = VP_EINPUT;
                break;
            }
    }
    /* Stages of one pipelined replica must sit on distinct nodes. Quadratic only over stages. */
    for (size_t a = 0; a < p->n_placements && !rc; a++) {
        const place_placement *x = &p->placements[a];
        if (x->stage < 0) continue;
        for (size_t b = a + 1; b < p->n_placements; b++) {
            const place_placement *y = &p->placements[b];
            if (y->stage >= 0 && y->replica == x->replica && y->node == x->node &&
                strcmp(x->model, y->model) == 0) {
                snprintf(why, cap, "stages %s and %s share node %s", x->id, y->id,
                         p->nodes[x->node].name);
                rc = VP_EINPUT;
                break;
            }
        }
    }
    free(used);
    free(ids);
    return rc;
}

static bool same_slot(const place_plan *a, const place_placement *x, const place_plan *b,
                      const place_placement *y)
{
    if (strcmp(a->nodes[x->node].name, b->nodes[y->node].name) != 0) return false;
    if (x->n_gpus != y->n_gpus || x->bytes_per_gpu != y->bytes_per_gpu) return false;
    return memcmp(x->gpus, y->gpus, (size_t)x->n_gpus) == 0;
}

static int pl_id_cmp(const void *a, const void *b)
{
    return strcmp((*(const place_placement *const *)a)->id, (*(const place_placement *const *)b)->id);
}

int place_plan_diff(const place_plan *from, const place_plan *to, place_diff *out)
{
    memset(out, 0, sizeof *out);
    size_t nf = from->n_placements;
    out->start = malloc((to->n_placements ? to->n_placements : 1) * sizeof *out->start);
    out->stop = malloc((nf ? nf : 1) * sizeof *out->stop);
    /* Match by id through an index of `from` sorted by id: O(n log n), not O(n^2). */
    const place_placement **ids = malloc((nf ? nf : 1) * sizeof *ids);
    bool *matched = calloc(nf ? nf : 1, 1);
    if (!out->start || !out->stop || !ids || !matched) {
        free(ids);
        free(matched);
        place_diff_free(out);
        return -12;
    }
    for (size_t j = 0; j < nf; j++) ids[j] = &from->placements[j];
    qsort(ids, nf, sizeof *ids, pl_id_cmp);
    for (size_t i = 0; i < to->n_placements; i++) {
        const place_placement *key = &to->placements[i];
        const place_placement **hit = nf ? bsearch(&key, ids, nf, sizeof *ids, pl_id_cmp) : NULL;
        size_t j = hit ? (size_t)(*hit - from->placements) : 0;
        if (hit && same_slot(from, &from->placements[j], to, &to->placements[i])) {
            matched[j] = true;
            out->n_keep++;
        } else {
            out->start[out->n_start++] = i;
        }
    }
    for (size_t j = 0; j < nf; j++)
        if (!matched[j]) out->stop[out->n_stop++] = j;
    free(ids);
    free(matched);
    return 0;
}

void place_diff_free(place_diff *d)
{
    free(d->start);
    free(d->stop);
    d->start = d->stop = NULL;
    d->n_start = d->n_stop = 0;
}
