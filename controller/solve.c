/* solve.c - the controller's planning step: from (manifest, ready nodes, current plan) to the
 * next desired plan. Runs on libuv's thread pool and touches nothing but its arguments.
 *
 * Design: a running placement is only moved when it must be (its node is lost, or its model was
 * removed or changed), because every move restarts a model. So the step keeps everything else
 * fixed and places only what is missing, best-fit onto the room the GPUs have left, using the
 * planner for what each model needs on each node (plan_problem_build: tensor-parallel degree,
 * pipeline stages, bytes per GPU, gpu_types). Only when nothing at all is kept does it call the
 * planner's full solver (plan_solve), which also chooses what to buy when a fleet file has a
 * catalog. Invariants: the result passes place_plan_validate (no GPU overcommitted, TP groups on
 * one node, stages of one replica on distinct nodes), every replica the manifest asks for is
 * either placed or listed in unplaced with a reason, and no id appears twice. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl_internal.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The planner's clock (it reads none of its own): milliseconds on the same monotonic scale. */
static double clock_ms(void *ctx)
{
    (void)ctx;
    return now_s() * 1000.0;
}

static bool name_in(const char (*names)[PLACE_NAME_MAX], size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(names[i], name)) return true;
    return false;
}

static bool ready_has(const ctl_fleet_node *r, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(r[i].name, name)) return true;
    return false;
}

/* Finds the GPU model for a reported name, adding it when unknown. Returns its index or < 0. */
static int gpu_model_for(plan_fleet *f, const char *name, uint64_t total)
{
    const plan_gpu_model *g = plan_fleet_gpu(f, name);
    if (g) {
        size_t i = (size_t)(g - f->gpus);
        /* The smallest total any node reports wins: a plan never promises bytes an agent
         * does not have (its refusal would leave the placement failed). */
        if (total < f->gpus[i].memory_bytes) f->gpus[i].memory_bytes = total;
        return (int)i;
    }
    plan_gpu_model *v = realloc(f->gpus, (f->n_gpus + 1) * sizeof *v);
    if (!v) return -ENOMEM;
    f->gpus = v;
    plan_gpu_model *m = &f->gpus[f->n_gpus];
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    m->memory_bytes = total;
    return (int)f->n_gpus++;
}

int ctl_fleet_build(const plan_fleet *fleet_file, const ctl_fleet_node *ready, size_t n_ready,
                    const char (*lost)[PLACE_NAME_MAX], size_t n_lost, bool with_catalog,
                    plan_fleet **out, vp_err *e)
{
    plan_fleet *f = plan_fleet_new_empty();
    if (!f) return vp_errf(e, -ENOMEM, "fleet: out of memory");
    if (fleet_file) {
        plan_gpu_model *g = malloc((fleet_file->n_gpus ? fleet_file->n_gpus : 1) * sizeof *g);
        if (!g) goto oom;
        memcpy(g, fleet_file->gpus, fleet_file->n_gpus * sizeof *g);
        free(f->gpus);
        f->gpus = g;
        f->n_gpus = fleet_file->n_gpus;
        f->util_ppm = fleet_file->util_ppm;
        snprintf(f->source, sizeof f->source, "%s", fleet_file->source);
    } else {
        snprintf(f->source, sizeof f->source, "registered nodes");
    }
    for (size_t i = 0; i < n_ready; i++) {
        if (ready[i].n_gpus < 1 || !ready[i].total_bytes) continue;
        int gi = gpu_model_for(f, ready[i].model, ready[i].total_bytes);
        if (gi < 0) goto oom;
        plan_inv_node nd;
        memset(&nd, 0, sizeof nd);
        snprintf(nd.name, sizeof nd.name, "%s", ready[i].name);
        snprintf(nd.type, sizeof nd.type, "%s", ready[i].type[0] ? ready[i].type : "agent");
        snprintf(nd.gpu, sizeof nd.gpu, "%s", f->gpus[gi].name);
        nd.n_gpus = ready[i].n_gpus > PLACE_MAX_GPUS ? PLACE_MAX_GPUS : ready[i].n_gpus;
        nd.price_per_hour = ready[i].price_per_hour > 0 ? ready[i].price_per_hour : 1.0;
        if (plan_fleet_add_node(f, &nd)) goto oom;
    }
    if (fleet_file && with_catalog) {
        if (fleet_file->n_types) {
            f->types = malloc(fleet_file->n_types * sizeof *f->types);
            if (!f->types) goto oom;
            memcpy(f->types, fleet_file->types, fleet_file->n_types * sizeof *f->types);
            f->n_types = fleet_file->n_types;
        }
        for (size_t i = 0; i < fleet_file->n_nodes; i++) {
            const plan_inv_node *nd = &fleet_file->nodes[i];
            if (name_in(lost, n_lost, nd->name) || ready_has(ready, n_ready, nd->name)) continue;
            if (plan_fleet_add_node(f, nd)) goto oom;
        }
    }
    *out = f;
    return 0;
oom:
    plan_fleet_free(f);
    return vp_errf(e, -ENOMEM, "fleet: out of memory");
}

/* ---- incremental placement ---- */

typedef struct piece {
    size_t group;
    uint32_t replica;
    int stage;    /* 0..pp-1 (pp == 1: 0, id without stage) */
    uint64_t key; /* sort: biggest replicas first */
} piece;

static int piece_cmp(const void *a, const void *b)
{
    const piece *x = a, *y = b;
    if (x->key != y->key) return x->key > y->key ? -1 : 1;
    if (x->group != y->group) return x->group < y->group ? -1 : 1;
    if (x->replica != y->replica) return x->replica < y->replica ? -1 : 1;
    return x->stage - y->stage;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct cand {
    size_t bintype;
    int node; /* index into the plan's nodes */
} cand;

/* Per plan node: the placements on it (indices), kept in step with the plan. */
typedef struct node_list {
    size_t *v;
    size_t n, cap;
} node_list;

static int nl_push(node_list *l, size_t x)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        size_t *v = realloc(l->v, cap * sizeof *v);
        if (!v) return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return 0;
}

typedef struct moved_from {
    char id[PLACE_ID_MAX];
    char node[PLACE_NAME_MAX];
} moved_from;

/* Chooses tp GPUs of node ni with room for need bytes each, best fit (least room left).
 * Returns the summed leftover, or UINT64_MAX when the node cannot take it. */
static uint64_t pick_gpus(const place_plan *p, int ni, uint32_t tp, uint64_t need, uint32_t skip,
                          uint8_t *out)
{
    const place_node *n = &p->nodes[ni];
    uint64_t left[PLACE_MAX_GPUS];
    int order[PLACE_MAX_GPUS], k = 0;
    for (int g = 0; g < n->n_gpus; g++) {
        if ((skip & (1u << g)) || !place_gpu_fits(p, ni, g, need)) continue;
        left[g] = n->gpus[g].usable_bytes - n->gpus[g].used_bytes - need;
        int j = k++;
        while (j > 0 && left[order[j - 1]] > left[g]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = g;
    }
    if ((uint32_t)k < tp) return UINT64_MAX;
    uint64_t sum = 0;
    for (uint32_t i = 0; i < tp; i++) {
        out[i] = (uint8_t)order[i];
        sum += left[order[i]];
    }
    return sum;
}

typedef struct inc {
    const ctl_solve_req *in;
    const plan_problem *prob;
    place_plan *p;
    cand *cands;
    size_t n_cands;
    node_list *nl; /* [n_nl], one per plan node */
    size_t n_nl;
    moved_from *moved;
    size_t n_moved;
    bool honour_excl; /* keep excluded placements off their nodes */
} inc;

/* The GPUs of plan node ni the exclusions keep placement `id` off (all bits: the whole node). */
static uint32_t excluded(const inc *s, const char *id, int ni)
{
    uint32_t mask = 0;
    if (!s->honour_excl) return 0;
    for (size_t i = 0; i < s->in->n_excl; i++)
        if (!strcmp(s->in->excl[i].id, id) && !strcmp(s->in->excl[i].node, s->p->nodes[ni].name))
            mask |= s->in->excl[i].gpus ? s->in->excl[i].gpus : UINT32_MAX;
    return mask;
}

/* The lost node a replica (any of its stages) was taken off, or NULL. */
static const char *moved_from_node(const moved_from *mv, size_t n, const char *model,
                                   uint32_t replica)
{
    char id[PLACE_ID_MAX];
    place_make_id(id, sizeof id, model, replica, -1);
    size_t len = strlen(id);
    for (size_t i = 0; i < n; i++)
        if (!strncmp(mv[i].id, id, len) && (mv[i].id[len] == 0 || mv[i].id[len] == '/'))
            return mv[i].node;
    return NULL;
}

static void unplaced_reason(const inc *s, const piece *pc, const char *model, uint64_t need,
                            uint32_t tp, bool clashed, char *out, size_t cap)
{
    const plan_group *g = &s->prob->groups[pc->group];
    char place[PLACE_NAME_MAX + 32] = "";
    const char *from = moved_from_node(s->moved, s->n_moved, model, pc->replica);
    if (from) snprintf(place, sizeof place, "was on lost node %s; ", from);
    const plan_model *m = &s->prob->manifest->models[g->model];
    if (!s->n_cands)
        snprintf(out, cap, "%sno ready node to place it on", place);
    else if (g->why_not[0])
        snprintf(out, cap, "%s%s", place, g->why_not);
    else if (clashed && m->spread)
        snprintf(out, cap, "%sspread: every ready node with room already runs a replica of %s",
                 place, model);
    else if (clashed)
        snprintf(out, cap,
                 "%spipeline stages need distinct nodes and no other ready node has "
                 "room",
                 place);
    else if (need)
        snprintf(out, cap, "%sno ready node has %u GPU(s) with %.2f GiB free each%s%s", place, tp,
                 (double)need / VP_GIB, m->spread ? " (spread: one replica per node)" : "",
                 g->pp > 1 ? " (pipeline stages on distinct nodes)" : "");
    else
        snprintf(out, cap, "%sno ready node may take it (gpu_types or size)", place);
}

/* Places one piece; returns 0 placed, 1 no room, < 0 error. *clashed tells whether some node
 * had room but was ruled out by spread or by another stage of the same replica. */
static int place_piece(inc *s, const piece *pc, uint64_t *need_out, uint32_t *tp_out, bool *clashed)
{
    const plan_group *g = &s->prob->groups[pc->group];
    const plan_model *m = &s->prob->manifest->models[g->model];
    int best = -1;
    uint64_t best_score = UINT64_MAX, best_need = 0;
    uint32_t best_tp = 0;
    uint8_t best_gpus[PLACE_MAX_GPUS], gpus[PLACE_MAX_GPUS];
    char id[PLACE_ID_MAX];
    place_make_id(id, sizeof id, m->name, pc->replica, g->pp > 1 ? pc->stage : -1);
    *need_out = 0;
    *tp_out = 0;
    for (size_t c = 0; c < s->n_cands; c++) {
        uint32_t skip = excluded(s, id, s->cands[c].node);
        if (skip == UINT32_MAX) continue;
        const plan_shape *sh = &g->shapes[s->cands[c].bintype];
        if (!sh->ok || sh->tp < 1 || sh->tp > PLACE_MAX_GPUS) continue;
        uint64_t need = sh->stage_bytes[pc->stage];
        if (!need) continue;
        if (!*need_out || need < *need_out) {
            *need_out = need;
            *tp_out = sh->tp;
        }
        int ni = s->cands[c].node;
        bool clash = false;
        for (size_t k = 0; k < s->nl[ni].n && !clash; k++) {
            const place_placement *q = &s->p->placements[s->nl[ni].v[k]];
            if (strcmp(q->model, m->name)) continue;
            if (m->spread && q->replica != pc->replica) clash = true;
            if (g->pp > 1 && q->replica == pc->replica) clash = true;
        }
        uint64_t left = pick_gpus(s->p, ni, sh->tp, need, skip, gpus);
        if (left == UINT64_MAX) continue;
        if (clash) {
            *clashed = true;
            continue;
        }
        /* An empty node costs a node; prefer filling the ones already in use. */
        uint64_t score = left / 2 + (s->nl[ni].n ? 0 : UINT64_MAX / 2);
        if (score < best_score) {
            best_score = score;
            best = ni;
            best_need = need;
            best_tp = sh->tp;
            memcpy(best_gpus, gpus, sizeof gpus);
        }
    }
    if (best < 0) return 1;
    int k = place_plan_assign(s->p, m->name, pc->replica, g->pp > 1 ? pc->stage : -1, (int)g->pp,
                              best, best_gpus, (int)best_tp, best_need);
    if (k < 0) return k;
    return nl_push(&s->nl[best], (size_t)k);
}

static int incremental(inc *s, size_t *placed)
{
    const plan_problem *prob = s->prob;
    place_plan *p = s->p;
    int rc = 0;
    /* Existing ids, sorted, to find what is missing in O(n log n). */
    char **ids = malloc((p->n_placements ? p->n_placements : 1) * sizeof *ids);
    piece *pieces = NULL;
    size_t n_pieces = 0, cap_pieces = 0;
    if (!ids) return -ENOMEM;
    for (size_t i = 0; i < p->n_placements; i++)
        ids[i] = p->placements[i].id;
    qsort(ids, p->n_placements, sizeof *ids, str_cmp);
    for (size_t gi = 0; gi < prob->n_groups; gi++) {
        const plan_group *g = &prob->groups[gi];
        const plan_model *m = &prob->manifest->models[g->model];
        uint32_t pp = g->pp ? g->pp : 1;
        uint64_t key = 0;
        for (size_t b = 0; b < prob->n_bintypes; b++) {
            const plan_shape *sh = &g->shapes[b];
            if (!sh->ok) continue;
            for (uint32_t st = 0; st < pp && st < PLAN_MAX_PP; st++)
                if (sh->stage_bytes[st] * sh->tp > key) key = sh->stage_bytes[st] * sh->tp;
        }
        for (uint32_t r = 0; r < g->replicas; r++) {
            for (uint32_t st = 0; st < pp && st < PLAN_MAX_PP; st++) {
                char id[PLACE_ID_MAX], *idp = id;
                place_make_id(id, sizeof id, m->name, r, pp > 1 ? (int)st : -1);
                if (bsearch(&idp, ids, p->n_placements, sizeof *ids, str_cmp)) continue;
                if (n_pieces == cap_pieces) {
                    size_t cap = cap_pieces ? cap_pieces * 2 : 64;
                    piece *v = realloc(pieces, cap * sizeof *v);
                    if (!v) {
                        rc = -ENOMEM;
                        goto done;
                    }
                    pieces = v;
                    cap_pieces = cap;
                }
                pieces[n_pieces++] = (piece){gi, r, (int)st, key};
            }
        }
    }
    free(ids);
    ids = NULL;
    if (n_pieces) qsort(pieces, n_pieces, sizeof *pieces, piece_cmp);
    for (size_t i = 0; i < n_pieces;) {
        /* One replica at a time: its missing stages all go, or none of them does. */
        size_t j = i;
        while (j < n_pieces && pieces[j].group == pieces[i].group &&
               pieces[j].replica == pieces[i].replica)
            j++;
        size_t before = p->n_placements;
        int failed = 0;
        uint64_t need = 0;
        uint32_t tp = 0;
        const piece *bad = NULL;
        bool clashed = false;
        for (size_t k = i; k < j && !failed; k++) {
            int r = place_piece(s, &pieces[k], &need, &tp, &clashed);
            if (r < 0) {
                rc = r;
                goto done;
            }
            if (r) {
                failed = 1;
                bad = &pieces[k];
            }
        }
        if (failed) {
            /* Undo this replica's new stages; they are the last placements, so removing them
             * from the end leaves every other index (and node list) unchanged. */
            while (p->n_placements > before) {
                size_t last = p->n_placements - 1;
                node_list *l = &s->nl[p->placements[last].node];
                if (l->n && l->v[l->n - 1] == last) l->n--;
                place_plan_unassign(p, last);
            }
            const plan_group *g = &prob->groups[bad->group];
            const char *model = prob->manifest->models[g->model].name;
            char why[PLACE_REASON_MAX];
            unplaced_reason(s, bad, model, need, tp, clashed, why, sizeof why);
            if ((rc = place_plan_add_unplaced(p, model, bad->replica, why)) < 0) goto done;
            rc = 0;
        } else {
            *placed += p->n_placements - before;
        }
        i = j;
    }
done:
    free(ids);
    free(pieces);
    return rc;
}

/* true when an exclusion keeps q (a placement of plan p) off its node or any of its GPUs. */
static bool excluded_here(const ctl_solve_req *in, const place_plan *p, const place_placement *q)
{
    for (size_t x = 0; x < in->n_excl; x++) {
        const ctl_excl *ex = &in->excl[x];
        if (strcmp(ex->id, q->id) || strcmp(ex->node, p->nodes[q->node].name)) continue;
        for (int g = 0; g < q->n_gpus; g++)
            if (!ex->gpus || (ex->gpus & (1u << q->gpus[g]))) return true;
    }
    return false;
}

/* Takes placements off the GPUs their exclusions name and places them elsewhere (best fit over
 * the ready nodes), or back where they were when no other place has room. */
static int relocate_excluded(inc *s, const plan_fleet *fleet, size_t *placed, vp_err *e)
{
    const ctl_solve_req *in = s->in;
    const plan_problem *prob = s->prob;
    place_plan *p = s->p;
    size_t hits = 0;
    for (size_t i = p->n_placements; i-- > 0;) {
        const place_placement *q = &p->placements[i];
        if (!excluded_here(in, p, q)) continue;
        place_plan_unassign(p, i);
        hits++;
    }
    if (!hits) return 0;
    s->cands = calloc(prob->n_bintypes ? prob->n_bintypes : 1, sizeof *s->cands);
    if (!s->cands) return vp_errf(e, -ENOMEM, "plan: out of memory");
    for (size_t b = 0; b < prob->n_bintypes; b++) {
        const plan_bintype *bt = &prob->bintypes[b];
        if (!bt->inventory || !ready_has(in->ready, in->n_ready, bt->inv_name)) continue;
        int ni = -1;
        for (size_t k = 0; k < p->n_nodes && ni < 0; k++)
            if (!strcmp(p->nodes[k].name, bt->inv_name)) ni = (int)k;
        if (ni < 0) {
            place_node nd;
            memset(&nd, 0, sizeof nd);
            snprintf(nd.name, sizeof nd.name, "%s", bt->inv_name);
            snprintf(nd.type, sizeof nd.type, "%s", bt->type);
            nd.price_per_hour = bt->price_per_hour;
            nd.inventory = true;
            nd.n_gpus = bt->n_gpus > PLACE_MAX_GPUS ? PLACE_MAX_GPUS : bt->n_gpus;
            const plan_gpu_model *gm = &fleet->gpus[bt->gpu];
            for (int g = 0; g < nd.n_gpus; g++) {
                snprintf(nd.gpus[g].model, sizeof nd.gpus[g].model, "%s", gm->name);
                nd.gpus[g].usable_bytes = bt->usable_per_gpu;
                nd.gpus[g].bandwidth_gbs = gm->bandwidth_gbs;
            }
            ni = place_plan_add_node(p, &nd);
            if (ni < 0) return vp_errf(e, ni, "plan: cannot add node %s", nd.name);
        }
        s->cands[s->n_cands++] = (cand){b, ni};
    }
    s->nl = calloc(p->n_nodes ? p->n_nodes : 1, sizeof *s->nl);
    if (!s->nl) return vp_errf(e, -ENOMEM, "plan: out of memory");
    s->n_nl = p->n_nodes;
    for (size_t i = 0; i < p->n_placements; i++)
        if (nl_push(&s->nl[p->placements[i].node], i))
            return vp_errf(e, -ENOMEM, "plan: out of memory");
    /* Everything missing is listed again by the passes below. */
    p->n_unplaced = 0;
    s->honour_excl = true;
    int rc = incremental(s, placed);
    if (!rc && p->n_unplaced) {
        p->n_unplaced = 0;
        s->honour_excl = false;
        rc = incremental(s, placed);
    }
    if (rc < 0) return vp_errf(e, rc, "plan: %s", vp_strerror(rc));
    place_plan_drop_idle(p);
    return 0;
}

/* Takes placements off lost nodes (recorded in s->moved) and off the GPUs an exclusion names;
 * returns how many exclusions took one off. */
static size_t take_off(const ctl_solve_req *in, place_plan *p, inc *s)
{
    for (size_t i = p->n_placements; i-- > 0;) {
        const place_placement *q = &p->placements[i];
        const char *node = p->nodes[q->node].name;
        if (!name_in(in->lost, in->n_lost, node)) continue;
        snprintf(s->moved[s->n_moved].id, PLACE_ID_MAX, "%s", q->id);
        snprintf(s->moved[s->n_moved].node, PLACE_NAME_MAX, "%s", node);
        s->n_moved++;
        place_plan_unassign(p, i);
    }
    size_t evicted = 0;
    for (size_t i = p->n_placements; i-- > 0;) {
        const place_placement *q = &p->placements[i];
        if (!excluded_here(in, p, q)) continue;
        place_plan_unassign(p, i);
        evicted++;
    }
    return evicted;
}

/* With no manifest, what was on lost nodes cannot be placed again: say so. */
static void unavailable(place_plan *p, const inc *s)
{
    for (size_t i = 0; i < s->n_moved; i++) {
        char why[PLACE_REASON_MAX];
        snprintf(why, sizeof why, "was on lost node %s; the manifest is unavailable",
                 s->moved[i].node);
        const char *id = s->moved[i].id, *slash = strchr(id, '/');
        char model[PLACE_NAME_MAX];
        snprintf(model, sizeof model, "%.*s", slash ? (int)(slash - id) : (int)strlen(id), id);
        place_plan_add_unplaced(p, model, slash ? (uint32_t)strtoul(slash + 1, NULL, 10) : 0, why);
    }
}

/* Unplaced reasons that say what the controller knows beyond the planner: the lost node a
 * replica was on, no ready node at all, a spread wider than the fleet. */
static void explain_unplaced(const ctl_solve_req *in, const plan_problem *prob, const inc *s,
                             place_plan *p)
{
    for (size_t i = 0; i < p->n_unplaced; i++) {
        place_unplaced *u = &p->unplaced[i];
        const char *from = moved_from_node(s->moved, s->n_moved, u->model, u->replica);
        char why[PLACE_REASON_MAX];
        int gi = plan_group_find(prob, u->model);
        const plan_model *m = gi >= 0 ? &in->manifest->models[prob->groups[gi].model] : NULL;
        if (m && m->spread && in->n_ready && m->replicas > in->n_ready)
            snprintf(u->reason, sizeof u->reason,
                     "spread: %u replicas need %u nodes and %zu are ready", m->replicas,
                     m->replicas, in->n_ready);
        if (!in->n_ready)
            snprintf(why, sizeof why, "%s%s%sno ready node to place it on",
                     from ? "was on lost node " : "", from ? from : "", from ? "; " : "");
        else if (from)
            snprintf(why, sizeof why, "was on lost node %s; %s", from, u->reason);
        else
            continue;
        snprintf(u->reason, sizeof u->reason, "%s", why);
    }
}

int ctl_solve(const ctl_solve_req *in, ctl_solve_out *out, vp_err *e)
{
    double t0 = now_s();
    memset(out, 0, sizeof *out);
    place_plan *p = in->base ? place_plan_clone(in->base) : place_plan_new();
    plan_fleet *fleet = NULL;
    plan_problem *prob = NULL;
    inc s;
    memset(&s, 0, sizeof s);
    int rc = 0;
    if (!p) return vp_errf(e, -ENOMEM, "plan: out of memory");
    memset(&out->moves, 0, sizeof out->moves);

    /* 1. Take placements off lost nodes (remembering where they were, for the reason) and off
     * the GPUs exclusions name. */
    s.moved = calloc(p->n_placements ? p->n_placements : 1, sizeof *s.moved);
    if (!s.moved) {
        rc = vp_errf(e, -ENOMEM, "plan: out of memory");
        goto done;
    }
    size_t evicted = take_off(in, p, &s);
    out->moved = s.n_moved;
    p->n_unplaced = 0; /* recomputed below: whatever is still missing is listed again */

    if (!in->manifest) {
        /* Nothing is known to be wanted (the stored manifest could not be read): keep what is
         * placed and say why the rest cannot move. */
        unavailable(p, &s);
        out->kept = p->n_placements;
        goto finish;
    }

    /* Only the nodes that exist: a plan never names a machine nobody runs an agent on. */
    if ((rc = ctl_fleet_build(in->fleet_file, in->ready, in->n_ready, in->lost, in->n_lost, false,
                              &fleet, e)))
        goto done;
    if ((rc = plan_problem_build(in->manifest, fleet, &prob, e))) goto done;

    /* 2. The planner's rebalance, the same code path as `plan --current --max-moves`: every
     * replica that still runs with its footprint stays unless moving it (at most max_moves of
     * them) makes the fleet cheaper; what is missing (new, footprint changed, taken off a lost
     * node or by an exclusion) is placed. */
    out->full = p->n_placements == 0;
    place_plan *np = NULL;
    plan_options po;
    plan_options_default(&po);
    po.time_limit_s = in->time_limit_s;
    po.clock = clock_ms;
    if ((rc = plan_rebalance(prob, p, in->max_moves, &po, &np, &out->moves, e))) goto done;
    for (size_t i = 0; i < np->n_placements; i++) {
        const place_placement *q = &np->placements[i];
        int k = place_plan_find(p, q->id);
        const place_placement *o = k >= 0 ? &p->placements[k] : NULL;
        bool same = o && !strcmp(p->nodes[o->node].name, np->nodes[q->node].name) &&
                    o->n_gpus == q->n_gpus && o->bytes_per_gpu == q->bytes_per_gpu &&
                    !memcmp(o->gpus, q->gpus, (size_t)q->n_gpus);
        if (same)
            out->kept++;
        else
            out->placed++;
    }
    place_plan_free(p);
    p = np;

    /* 3. Exclusions the rebalance could not know of: pieces it put back where they are excluded
     * go elsewhere by best fit, or back where they were when nowhere else has room. */
    if (in->n_excl) {
        s.in = in;
        s.prob = prob;
        s.p = p;
        if ((rc = relocate_excluded(&s, fleet, &out->placed, e))) goto done;
    }
    out->evicted = evicted;
    explain_unplaced(in, prob, &s, p);

finish:
    place_plan_update_cost(p);
    out->seconds = now_s() - t0;
    p->solve_ms = (uint64_t)(out->seconds * 1000.0);
    {
        char why[512];
        if (place_plan_validate(p, why, sizeof why)) {
            rc = vp_errf(e, VP_ESTATE, "plan: result is inconsistent: %s", why);
            goto done;
        }
    }
    out->plan = p;
    p = NULL;
done:
    if (rc) plan_moves_free(&out->moves);
    for (size_t i = 0; i < s.n_nl; i++)
        free(s.nl[i].v);
    free(s.nl);
    free(s.cands);
    free(s.moved);
    plan_problem_free(prob);
    plan_fleet_free(fleet);
    place_plan_free(p);
    return rc;
}
