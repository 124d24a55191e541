/* diff.c - what a new plan changes, for the submit answer and its dry run.
 *
 * Computed on the loop thread before the new plan is installed, from the current plan (with its
 * revisions) and the candidate: placements added, removed, moved (another node or GPUs), rolled
 * (same slot, another revision: engine, source, engine_args, ...), and those over capacity (a
 * replica the new plan leaves unplaced while an instance of it runs: it keeps running), with the
 * cost before and after. Pure apart from reading the controller's state. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_internal.h"

static void list_add(vp_sb *sb, size_t *k, const char *id)
{
    if ((*k)++) vp_sb_append(sb, ",", 1);
    ctl_json_str(sb, id);
}

static bool same_gpus(const place_placement *a, const place_placement *b)
{
    if (a->n_gpus != b->n_gpus) return false;
    for (int i = 0; i < a->n_gpus; i++)
        if (a->gpus[i] != b->gpus[i]) return false;
    return true;
}

/* "model/replica" of an instance id ("model/replica[/stage]"). */
static bool replica_of(const char *id, char *model, size_t cap, uint32_t *replica)
{
    const char *slash = strchr(id, '/');
    if (!slash || (size_t)(slash - id) >= cap) return false;
    memcpy(model, id, (size_t)(slash - id));
    model[slash - id] = '\0';
    *replica = (uint32_t)strtoul(slash + 1, NULL, 10);
    return true;
}

bool ctl_over_capacity(const place_plan *p, const char *id)
{
    char model[PLACE_NAME_MAX];
    uint32_t replica;
    if (!p || !replica_of(id, model, sizeof model, &replica)) return false;
    for (size_t i = 0; i < p->n_unplaced; i++)
        if (p->unplaced[i].replica == replica && !strcmp(p->unplaced[i].model, model)) return true;
    return false;
}

void ctl_diff_json(const ctl *c, const place_plan *np, const plan_manifest *nm, vp_sb *sb)
{
    const place_plan *op = c->plan;
    size_t ka = 0, kr = 0, km = 0, kl = 0, ko = 0;
    vp_sb added = {0}, removed = {0}, moved = {0}, rolled = {0}, over = {0};
    for (size_t i = 0; i < np->n_placements; i++) {
        const place_placement *q = &np->placements[i];
        long o = ctl_desired_index(c, q->id);
        if (o < 0) {
            list_add(&added, &ka, q->id);
            continue;
        }
        const place_placement *old = &op->placements[o];
        if (strcmp(op->nodes[old->node].name, np->nodes[q->node].name) || !same_gpus(old, q)) {
            list_add(&moved, &km, q->id);
            continue;
        }
        char after[PROTO_REV_MAX];
        ctl_plan_revision(c, nm, np, i, after, sizeof after);
        if (strcmp(c->revs ? c->revs[o] : "", after)) list_add(&rolled, &kl, q->id);
    }
    for (size_t i = 0; op && i < op->n_placements; i++) {
        const place_placement *q = &op->placements[i];
        if (place_plan_find(np, q->id) >= 0) continue;
        if (ctl_over_capacity(np, q->id) && strcmp(ctl_placement_state(c, q, NULL), "running") == 0)
            list_add(&over, &ko, q->id);
        else
            list_add(&removed, &kr, q->id);
    }
    const struct {
        const char *key;
        vp_sb *v;
    } lists[] = {{"added", &added},
                 {"removed", &removed},
                 {"moved", &moved},
                 {"roll", &rolled},
                 {"over_capacity", &over}};
    for (size_t i = 0; i < VP_ARRAY_LEN(lists); i++) {
        vp_sb_printf(sb, ",\"%s\":[%s]", lists[i].key,
                     vp_sb_ok(lists[i].v) ? vp_sb_str(lists[i].v) : "");
        vp_sb_free(lists[i].v);
    }
    vp_sb_printf(sb, ",\"cost_before\":%.6g,\"cost_after\":%.6g", op ? op->cost_per_hour : 0.0,
                 np->cost_per_hour);
}
