/* moves.c - the make-before-break move list from one plan to another, and its JSON.
 *
 * The list simulates the fleet: removed replicas stop first, then every start or migration runs
 * as soon as its target GPUs have room with the old placement still running (start, then stop);
 * only when no pending step fits does one migration stop first and restart later, flagged
 * break_before_make. No step ever takes a GPU over its usable bytes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "current.h"

typedef struct simnode {
    const char *name;
    double price;
    int n_gpus;
    uint64_t usable[PLACE_MAX_GPUS];
    uint64_t used[PLACE_MAX_GPUS];
    long count; /* placements on it */
} simnode;

typedef struct mv_sim {
    const place_plan *from, *to;
    simnode *v;
    size_t n;
    double cost;
    int *from_node, *to_node; /* plan node -> simulated node */
    bool *lost;               /* [from node] the problem no longer has it */
    bool *broken;             /* [to placement] its old placement was stopped early */
    cur_ids fx, tx;
    plan_moves *out;
} mv_sim;

size_t plan_count_migrations(const plan_problem *p, const place_plan *current,
                             const place_plan *next)
{
    vw_view v;
    cur_rep *reps = NULL;
    size_t n = 0, moved = 0;
    cur_ids nx = {0};
    if (vw_init(&v, p)) return (size_t)-1;
    if (cur_scan(&v, current, &reps, &n, NULL) || cur_ids_new(next, &nx)) moved = (size_t)-1;
    for (size_t r = 0; r < n && moved != (size_t)-1; r++) {
        bool present = false, differs = false;
        for (int s = 0; s < reps[r].n_stages; s++) {
            const place_placement *cp = &current->placements[reps[r].pl[s]];
            int k = cur_ids_find(&nx, cp->id);
            if (k < 0) {
                differs = true;
                continue;
            }
            present = true;
            if (!cur_same_slot(current, cp, next, &next->placements[k])) differs = true;
        }
        if (present && differs) moved++;
    }
    cur_ids_free(&nx);
    free(reps);
    vw_free(&v);
    return moved;
}

void plan_moves_free(plan_moves *m)
{
    if (!m) return;
    free(m->v);
    memset(m, 0, sizeof *m);
}

static int sim_find(const mv_sim *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i].name, name)) return (int)i;
    return -1;
}

static void sim_add(mv_sim *s, int n, const place_placement *pl, int sign)
{
    simnode *nd = &s->v[n];
    for (int t = 0; t < pl->n_gpus; t++)
        nd->used[pl->gpus[t]] += sign > 0 ? pl->bytes_per_gpu : -pl->bytes_per_gpu;
    long before = nd->count;
    nd->count += sign;
    if (before == 0 && nd->count > 0) s->cost += nd->price;
    if (before > 0 && nd->count == 0) s->cost -= nd->price;
}

static bool sim_fits(const mv_sim *s, int n, const place_placement *pl)
{
    const simnode *nd = &s->v[n];
    for (int t = 0; t < pl->n_gpus; t++) {
        uint8_t g = pl->gpus[t];
        if (g >= nd->n_gpus || nd->used[g] > nd->usable[g] ||
            nd->usable[g] - nd->used[g] < pl->bytes_per_gpu)
            return false;
    }
    return true;
}

static int push(mv_sim *s, const plan_move *mv)
{
    plan_moves *m = s->out;
    if (vp_grow((void **)&m->v, &m->cap, m->n + 1, sizeof *m->v, 64)) return -ENOMEM;
    m->v[m->n++] = *mv;
    return 0;
}

static void describe(plan_move *mv, plan_move_kind kind, const place_placement *pl)
{
    memset(mv, 0, sizeof *mv);
    mv->kind = kind;
    snprintf(mv->id, sizeof mv->id, "%s", pl->id);
    snprintf(mv->model, sizeof mv->model, "%s", pl->model);
    mv->replica = pl->replica;
    mv->stage = pl->stage;
    mv->bytes_per_gpu = pl->bytes_per_gpu;
}

static void set_from(plan_move *mv, const place_plan *plan, const place_placement *pl)
{
    snprintf(mv->from_node, sizeof mv->from_node, "%s", plan->nodes[pl->node].name);
    memcpy(mv->from_gpus, pl->gpus, (size_t)pl->n_gpus);
    mv->n_from_gpus = pl->n_gpus;
}

/* Every node of either plan by name (`to`'s figures where a node is in both), and what runs. */
static int sim_init(mv_sim *s, const plan_problem *p)
{
    const place_plan *from = s->from, *to = s->to;
    s->v = calloc(from->n_nodes + to->n_nodes + 1, sizeof *s->v);
    s->lost = calloc(from->n_nodes + 1, 1);
    s->from_node = malloc((from->n_nodes + 1) * sizeof *s->from_node);
    s->to_node = malloc((to->n_nodes + 1) * sizeof *s->to_node);
    s->broken = calloc(to->n_placements + 1, 1);
    if (!s->v || !s->lost || !s->from_node || !s->to_node || !s->broken ||
        cur_ids_new(from, &s->fx) || cur_ids_new(to, &s->tx))
        return -ENOMEM;
    for (int pass = 0; pass < 2; pass++) {
        const place_plan *pl = pass == 0 ? to : from;
        for (size_t i = 0; i < pl->n_nodes; i++) {
            if (sim_find(s, pl->nodes[i].name) >= 0) continue;
            simnode *nd = &s->v[s->n++];
            nd->name = pl->nodes[i].name;
            nd->price = pl->nodes[i].price_per_hour;
            nd->n_gpus = pl->nodes[i].n_gpus;
            for (int g = 0; g < nd->n_gpus; g++)
                nd->usable[g] = pl->nodes[i].gpus[g].usable_bytes;
        }
    }
    for (size_t i = 0; i < from->n_nodes; i++) {
        s->from_node[i] = sim_find(s, from->nodes[i].name);
        /* Nodes the problem no longer has run nothing: their replicas start afresh elsewhere. */
        s->lost[i] = plan_node_bintype(p, &from->nodes[i]) < 0;
    }
    for (size_t i = 0; i < to->n_nodes; i++)
        s->to_node[i] = sim_find(s, to->nodes[i].name);
    for (size_t k = 0; k < from->n_placements; k++) {
        const place_placement *pl = &from->placements[k];
        if (!s->lost[pl->node]) sim_add(s, s->from_node[pl->node], pl, +1);
    }
    s->out->cost_before = s->cost;
    return 0;
}

/* 1. Stops of placements `to` does not have. */
static int stops(mv_sim *s)
{
    for (size_t k = 0; k < s->from->n_placements; k++) {
        const place_placement *pl = &s->from->placements[k];
        if (s->lost[pl->node] || cur_ids_find(&s->tx, pl->id) >= 0) continue;
        plan_move mv;
        describe(&mv, PLAN_MOVE_STOP, pl);
        set_from(&mv, s->from, pl);
        double before = s->cost;
        sim_add(s, s->from_node[pl->node], pl, -1);
        mv.saves_per_hour = before - s->cost;
        if (push(s, &mv)) return -ENOMEM;
    }
    return 0;
}

/* Start or migrate placement k of `to` (its target has room). */
static int start_one(mv_sim *s, size_t k)
{
    const place_placement *tp = &s->to->placements[k];
    int f = cur_ids_find(&s->fx, tp->id);
    if (f >= 0 && s->lost[s->from->placements[f].node]) f = -1;
    plan_move mv;
    describe(&mv, f >= 0 ? PLAN_MOVE_MIGRATE : PLAN_MOVE_START, tp);
    snprintf(mv.to_node, sizeof mv.to_node, "%s", s->to->nodes[tp->node].name);
    memcpy(mv.to_gpus, tp->gpus, (size_t)tp->n_gpus);
    mv.n_to_gpus = tp->n_gpus;
    double before = s->cost;
    sim_add(s, s->to_node[tp->node], tp, +1);
    if (f >= 0) {
        const place_placement *fp = &s->from->placements[f];
        set_from(&mv, s->from, fp);
        mv.break_before_make = s->broken[k];
        if (!s->broken[k]) sim_add(s, s->from_node[fp->node], fp, -1);
    }
    mv.saves_per_hour = before - s->cost;
    return push(s, &mv);
}

/* Deadlock (a cycle of migrations): stop one pending migration's old placement first. */
static int break_cycle(mv_sim *s, const size_t *pend, size_t np, vp_err *e)
{
    size_t pick = np;
    for (size_t q = 0; q < np && pick == np; q++) {
        int f = cur_ids_find(&s->fx, s->to->placements[pend[q]].id);
        if (!s->broken[pend[q]] && f >= 0 && !s->lost[s->from->placements[f].node]) pick = q;
    }
    if (pick == np)
        return vp_errf(e, VP_ESTATE, "internal: move order stuck with %zu steps left", np);
    size_t k = pend[pick];
    const place_placement *fp =
        &s->from->placements[cur_ids_find(&s->fx, s->to->placements[k].id)];
    plan_move mv;
    describe(&mv, PLAN_MOVE_STOP, fp);
    set_from(&mv, s->from, fp);
    mv.break_before_make = true;
    double before = s->cost;
    sim_add(s, s->from_node[fp->node], fp, -1);
    mv.saves_per_hour = before - s->cost;
    s->broken[k] = true;
    return push(s, &mv) ? vp_errf(e, -ENOMEM, "out of memory") : 0;
}

/* 2. Starts and migrations, each as soon as its target has room. */
static int starts(mv_sim *s, vp_err *e)
{
    size_t np = 0;
    size_t *pend = malloc((s->to->n_placements + 1) * sizeof *pend);
    if (!pend) return vp_errf(e, -ENOMEM, "out of memory");
    for (size_t k = 0; k < s->to->n_placements; k++) {
        const place_placement *tp = &s->to->placements[k];
        int f = cur_ids_find(&s->fx, tp->id);
        if (f < 0 || !cur_same_slot(s->from, &s->from->placements[f], s->to, tp)) pend[np++] = k;
    }
    int rc = 0;
    while (np && !rc) {
        bool progress = false;
        for (size_t q = 0; q < np && !rc;) {
            const place_placement *tp = &s->to->placements[pend[q]];
            if (!sim_fits(s, s->to_node[tp->node], tp)) {
                q++;
                continue;
            }
            if (start_one(s, pend[q])) rc = vp_errf(e, -ENOMEM, "out of memory");
            pend[q] = pend[--np];
            progress = true;
        }
        if (!progress && np && !rc) rc = break_cycle(s, pend, np, e);
    }
    free(pend);
    return rc;
}

/* Distinct running replicas among migrations (what max_moves counts). */
static int count_migrated(mv_sim *s, const vw_view *v, vp_err *e)
{
    cur_rep *reps = NULL;
    size_t nreps = 0;
    bool *counted = calloc(s->from->n_placements + 1, 1);
    int rc = counted ? cur_scan(v, s->from, &reps, &nreps, e) : vp_errf(e, -ENOMEM, "out of memory");
    for (size_t r = 0; r < nreps && !rc; r++)
        for (int st = 0; st < reps[r].n_stages; st++)
            counted[reps[r].pl[st]] = true;
    plan_moves *out = s->out;
    for (size_t i = 0; i < out->n && !rc; i++) {
        if (out->v[i].kind != PLAN_MOVE_MIGRATE) continue;
        int f = cur_ids_find(&s->fx, out->v[i].id);
        if (f < 0 || !counted[f]) continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = out->v[j].kind == PLAN_MOVE_MIGRATE && out->v[j].replica == out->v[i].replica &&
                   !strcmp(out->v[j].model, out->v[i].model);
        if (!seen) out->migrated_replicas++;
    }
    free(counted);
    free(reps);
    return rc;
}

int plan_moves_build(const plan_problem *p, const place_plan *from, const place_plan *to,
                     plan_moves *out, vp_err *e)
{
    memset(out, 0, sizeof *out);
    mv_sim s = {.from = from, .to = to, .out = out};
    vw_view v;
    bool have_view = vw_init(&v, p) == 0;
    int rc = have_view && !sim_init(&s, p) ? 0 : vp_errf(e, -ENOMEM, "out of memory");
    if (!rc) rc = stops(&s) ? vp_errf(e, -ENOMEM, "out of memory") : 0;
    if (!rc) rc = starts(&s, e);
    if (!rc) out->cost_after = s.cost;
    if (!rc) rc = count_migrated(&s, &v, e);
    if (rc) plan_moves_free(out);
    free(s.v);
    free(s.lost);
    free(s.from_node);
    free(s.to_node);
    free(s.broken);
    cur_ids_free(&s.fx);
    cur_ids_free(&s.tx);
    if (have_view) vw_free(&v);
    return rc;
}

static void json_gpus(vp_sb *sb, const uint8_t *g, int n)
{
    vp_sb_append(sb, "[", 1);
    for (int i = 0; i < n; i++)
        vp_sb_printf(sb, "%s%u", i ? ", " : "", g[i]);
    vp_sb_append(sb, "]", 1);
}

static void json_end(vp_sb *sb, const char *key, const char *node, const uint8_t *g, int n)
{
    vp_sb_printf(sb, ", \"%s\": {\"node\": ", key);
    vp_sb_json_str(sb, node);
    vp_sb_printf(sb, ", \"gpus\": ");
    json_gpus(sb, g, n);
    vp_sb_printf(sb, "}");
}

char *plan_moves_to_json(const plan_moves *m)
{
    vp_sb sb = {0};
    static const char *kinds[] = {"start", "migrate", "stop"};
    vp_sb_printf(&sb,
                 "{\"migrated_replicas\": %zu, \"cost_before\": %.4f, \"cost_after\": %.4f, "
                 "\"moves\": [",
                 m->migrated_replicas, m->cost_before, m->cost_after);
    for (size_t i = 0; i < m->n; i++) {
        const plan_move *mv = &m->v[i];
        vp_sb_printf(&sb, "%s\n  {\"step\": %zu, \"action\": \"%s\", \"id\": ", i ? "," : "", i + 1,
                     kinds[mv->kind]);
        vp_sb_json_str(&sb, mv->id);
        vp_sb_printf(&sb, ", \"model\": ");
        vp_sb_json_str(&sb, mv->model);
        vp_sb_printf(&sb, ", \"replica\": %u", mv->replica);
        if (mv->stage >= 0) vp_sb_printf(&sb, ", \"stage\": %d", mv->stage);
        if (mv->from_node[0]) json_end(&sb, "from", mv->from_node, mv->from_gpus, mv->n_from_gpus);
        if (mv->to_node[0]) json_end(&sb, "to", mv->to_node, mv->to_gpus, mv->n_to_gpus);
        vp_sb_printf(&sb, ", \"bytes_per_gpu\": %llu, \"saves_per_hour\": %.4f",
                     (unsigned long long)mv->bytes_per_gpu, mv->saves_per_hour);
        if (mv->break_before_make) vp_sb_printf(&sb, ", \"break_before_make\": true");
        vp_sb_printf(&sb, "}");
    }
    vp_sb_printf(&sb, "%s]}\n", m->n ? "\n" : "");
    if (!vp_sb_ok(&sb)) {
        vp_sb_free(&sb);
        return NULL;
    }
    return vp_sb_steal(&sb);
}
