/* test_rebalance.c - rebalancing a running plan: the migration budget is honoured exactly, no
 * step of the move order overcommits a GPU, an unlimited budget reaches a fresh plan's cost, and
 * new or displaced replicas are placed without counting as moves. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "solver_fixture.h"

#define GB 1000000000ULL

/* A node of bin type b named `name` (or the default name when NULL). */
static int add_node(const plan_problem *p, place_plan *plan, int b, const char *name)
{
    place_node nd;
    plan_node_from_bintype(p, (size_t)b, (int)plan->n_nodes, &nd);
    if (name) snprintf(nd.name, sizeof nd.name, "%s", name);
    int idx = place_plan_add_node(plan, &nd);
    assert_true(idx >= 0);
    return idx;
}

static void put(place_plan *plan, const char *model, uint32_t r, int node, int gpu, uint64_t bytes)
{
    uint8_t g[] = {(uint8_t)gpu};
    assert_true(place_plan_assign(plan, model, r, -1, 1, node, g, 1, bytes) >= 0);
}

/* Replays the steps on the `from` fleet and fails if any GPU ever holds more than it can. */
static void replay_never_overcommits(const place_plan *from, const place_plan *to,
                                     const plan_moves *mv)
{
    size_t nn = from->n_nodes + to->n_nodes;
    const char **names = calloc(nn, sizeof *names);
    uint64_t(*used)[PLACE_MAX_GPUS] = calloc(nn, sizeof *used);
    uint64_t(*cap)[PLACE_MAX_GPUS] = calloc(nn, sizeof *cap);
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        const place_plan *pl = pass ? from : to;
        for (size_t i = 0; i < pl->n_nodes; i++) {
            bool seen = false;
            for (size_t k = 0; k < n && !seen; k++)
                seen = !strcmp(names[k], pl->nodes[i].name);
            if (seen) continue;
            names[n] = pl->nodes[i].name;
            for (int g = 0; g < pl->nodes[i].n_gpus; g++)
                cap[n][g] = pl->nodes[i].gpus[g].usable_bytes;
            n++;
        }
    }
#define NODE_OF(nm)                                                                                \
    ({                                                                                             \
        size_t k_ = 0;                                                                             \
        while (k_ < n && strcmp(names[k_], (nm)))                                                  \
            k_++;                                                                                  \
        assert_true(k_ < n);                                                                       \
        k_;                                                                                        \
    })
    for (size_t k = 0; k < from->n_placements; k++) {
        const place_placement *pl = &from->placements[k];
        size_t nd = NODE_OF(from->nodes[pl->node].name);
        for (int t = 0; t < pl->n_gpus; t++)
            used[nd][pl->gpus[t]] += pl->bytes_per_gpu;
    }
    for (size_t s = 0; s < mv->n; s++) {
        const plan_move *m = &mv->v[s];
        if (m->kind == PLAN_MOVE_START || m->kind == PLAN_MOVE_MIGRATE) {
            size_t nd = NODE_OF(m->to_node);
            for (int t = 0; t < m->n_to_gpus; t++) {
                used[nd][m->to_gpus[t]] += m->bytes_per_gpu;
                if (used[nd][m->to_gpus[t]] > cap[nd][m->to_gpus[t]])
                    fprintf(stderr, "step %zu (%s) overcommits %s GPU %u\n", s + 1, m->id,
                            m->to_node, m->to_gpus[t]);
                assert_true(used[nd][m->to_gpus[t]] <= cap[nd][m->to_gpus[t]]);
            }
        }
        bool stops_old =
            m->kind == PLAN_MOVE_STOP || (m->kind == PLAN_MOVE_MIGRATE && !m->break_before_make);
        if (stops_old) {
            size_t nd = NODE_OF(m->from_node);
            /* the bytes that leave are the old placement's */
            int k = place_plan_find(from, m->id);
            assert_true(k >= 0);
            for (int t = 0; t < m->n_from_gpus; t++)
                used[nd][m->from_gpus[t]] -= from->placements[k].bytes_per_gpu;
        }
    }
    /* The end state is the new plan. */
    for (size_t i = 0; i < to->n_nodes; i++) {
        size_t nd = NODE_OF(to->nodes[i].name);
        for (int g = 0; g < to->nodes[i].n_gpus; g++)
            assert_int_equal(used[nd][g], to->nodes[i].gpus[g].used_bytes);
    }
#undef NODE_OF
    free(names);
    free(used);
    free(cap);
}

/* Four 2 GB replicas, each alone on its own $1 node of 10 GB: every migration can empty a node. */
static fx *spread_out(place_plan **cur, uint32_t replicas)
{
    fx *x = fx_new();
    int gpu = fx_gpu(x, "G10", 10 * GB);
    int b = fx_bin(x, "one", gpu, 1, 1.0, -1);
    int g = fx_model(x, "m", replicas, false, 1);
    fx_shape_all(x, g, 1, 2 * GB);
    place_plan *c = place_plan_new();
    for (uint32_t r = 0; r < 4; r++) {
        char name[16];
        snprintf(name, sizeof name, "one-%u", r);
        int n = add_node(x->p, c, b, name);
        put(c, "m", r, n, 0, 2 * GB);
    }
    place_plan_update_cost(c);
    *cur = c;
    return x;
}

static place_plan *rebalance(const plan_problem *p, const place_plan *cur, long max_moves,
                             plan_moves *mv)
{
    place_plan *out = NULL;
    vp_err e = {0};
    plan_options o;
    plan_options_default(&o);
    int rc = plan_rebalance(p, cur, max_moves, &o, &out, mv, &e);
    if (rc) fprintf(stderr, "plan_rebalance: %s\n", e.msg);
    assert_int_equal(rc, 0);
    char why[512] = "";
    if (plan_check(p, out, why, sizeof why)) fail_msg("invalid plan: %s", why);
    replay_never_overcommits(cur, out, mv);
    return out;
}

static void max_moves_is_honoured_exactly(void **state)
{
    (void)state;
    place_plan *cur = NULL;
    fx *x = spread_out(&cur, 4);
    for (long k = 0; k <= 3; k++) {
        plan_moves mv;
        place_plan *out = rebalance(x->p, cur, k, &mv);
        /* each migration empties one node: k moves, k dollars saved, never more */
        assert_int_equal(plan_count_migrations(x->p, cur, out), (size_t)k);
        assert_int_equal(mv.migrated_replicas, (size_t)k);
        assert_true(fabs(out->cost_per_hour - (4.0 - (double)k)) < 1e-9);
        assert_true(fabs(mv.cost_before - 4.0) < 1e-9);
        assert_true(fabs(mv.cost_after - out->cost_per_hour) < 1e-9);
        double saved = 0;
        for (size_t s = 0; s < mv.n; s++)
            saved += mv.v[s].saves_per_hour;
        assert_true(fabs(saved - (double)k) < 1e-9);
        plan_moves_free(&mv);
        place_plan_free(out);
    }
    place_plan_free(cur);
    fx_free(x);
}

static void zero_moves_places_new_replicas_around_running_ones(void **state)
{
    (void)state;
    place_plan *cur = NULL;
    fx *x = spread_out(&cur, 6);
    plan_moves mv;
    place_plan *out = rebalance(x->p, cur, 0, &mv);
    assert_int_equal(mv.migrated_replicas, 0);
    size_t starts = 0;
    for (size_t s = 0; s < mv.n; s++) {
        assert_int_not_equal(mv.v[s].kind, PLAN_MOVE_MIGRATE);
        assert_int_not_equal(mv.v[s].kind, PLAN_MOVE_STOP);
        starts += mv.v[s].kind == PLAN_MOVE_START;
    }
    assert_int_equal(starts, 2);
    /* the new ones fit in the room the running nodes have: nothing bought */
    assert_true(fabs(out->cost_per_hour - 4.0) < 1e-9);
    for (uint32_t r = 0; r < 4; r++) {
        char id[32];
        snprintf(id, sizeof id, "m/%u", r);
        int a = place_plan_find(cur, id), b = place_plan_find(out, id);
        assert_true(a >= 0 && b >= 0);
        assert_string_equal(cur->nodes[cur->placements[a].node].name,
                            out->nodes[out->placements[b].node].name);
    }
    plan_moves_free(&mv);
    place_plan_free(out);
    place_plan_free(cur);
    fx_free(x);
}

static void replicas_of_a_lost_node_are_replaced_without_counting_as_moves(void **state)
{
    (void)state;
    fx *x = fx_new();
    int gpu = fx_gpu(x, "G10", 10 * GB);
    int n1 = fx_inv(x, "n1", "owned", gpu, 2, 2.0);
    int n2 = fx_inv(x, "n2", "owned", gpu, 2, 2.0);
    int g = fx_model(x, "m", 4, false, 1);
    fx_shape_all(x, g, 1, 4 * GB);
    /* n3 ran replicas 2 and 3 and is gone from the fleet */
    place_plan *cur = place_plan_new();
    int a = add_node(x->p, cur, n1, NULL), b = add_node(x->p, cur, n2, NULL);
    place_node gone;
    plan_node_from_bintype(x->p, (size_t)n1, 0, &gone);
    snprintf(gone.name, sizeof gone.name, "n3");
    int c = place_plan_add_node(cur, &gone);
    put(cur, "m", 0, a, 0, 4 * GB);
    put(cur, "m", 1, b, 0, 4 * GB);
    put(cur, "m", 2, c, 0, 4 * GB);
    put(cur, "m", 3, c, 1, 4 * GB);
    place_plan_update_cost(cur);
    plan_moves mv;
    place_plan *out = rebalance(x->p, cur, 0, &mv);
    assert_int_equal(out->n_placements, 4);
    assert_int_equal(out->n_unplaced, 0);
    assert_int_equal(mv.migrated_replicas, 0);
    for (size_t k = 0; k < out->n_placements; k++)
        assert_string_not_equal(out->nodes[out->placements[k].node].name, "n3");
    plan_moves_free(&mv);
    place_plan_free(out);
    place_plan_free(cur);
    fx_free(x);
}

/* Two full GPUs trade their replicas: neither can start first, so one stops first. */
static void a_swap_breaks_one_move_and_never_overcommits(void **state)
{
    (void)state;
    fx *x = fx_new();
    int gpu = fx_gpu(x, "G10", 10 * GB);
    int b = fx_bin(x, "one", gpu, 1, 1.0, -1);
    int ga = fx_model(x, "a", 1, false, 1), gb = fx_model(x, "b", 1, false, 1);
    fx_shape_all(x, ga, 1, 8 * GB);
    fx_shape_all(x, gb, 1, 8 * GB);
    place_plan *from = place_plan_new(), *to = place_plan_new();
    int fx0 = add_node(x->p, from, b, "X"), fy0 = add_node(x->p, from, b, "Y");
    int tx0 = add_node(x->p, to, b, "X"), ty0 = add_node(x->p, to, b, "Y");
    put(from, "a", 0, fx0, 0, 8 * GB);
    put(from, "b", 0, fy0, 0, 8 * GB);
    put(to, "a", 0, ty0, 0, 8 * GB);
    put(to, "b", 0, tx0, 0, 8 * GB);
    plan_moves mv;
    vp_err e = {0};
    assert_int_equal(plan_moves_build(x->p, from, to, &mv, &e), 0);
    replay_never_overcommits(from, to, &mv);
    int broken = 0;
    for (size_t s = 0; s < mv.n; s++)
        broken += mv.v[s].break_before_make;
    assert_true(broken >= 1);
    assert_int_equal(mv.migrated_replicas, 2);
    char *js = plan_moves_to_json(&mv);
    assert_non_null(js);
    assert_non_null(strstr(js, "\"action\": \"migrate\""));
    assert_non_null(strstr(js, "\"break_before_make\": true"));
    free(js);
    plan_moves_free(&mv);
    place_plan_free(from);
    place_plan_free(to);
    fx_free(x);
}

/* A fleet that grew by hand: the manifest changed under it. With no limit on moves the
 * rebalanced plan costs exactly what planning from scratch costs. */
static void an_unlimited_budget_reaches_a_fresh_plans_cost(void **state)
{
    (void)state;
    fx *x = fx_new();
    int gpu = fx_gpu(x, "G10", 10 * GB);
    int one = fx_bin(x, "one", gpu, 1, 1.0, -1);
    fx_bin(x, "quad", gpu, 4, 3.5, -1);
    static const uint64_t sizes[] = {7, 6, 5, 3, 2};
    static const uint32_t reps[] = {2, 3, 2, 4, 5};
    for (int i = 0; i < 5; i++) {
        char name[8];
        snprintf(name, sizeof name, "s%llu", (unsigned long long)sizes[i]);
        int g = fx_model(x, name, reps[i], false, 1);
        fx_shape_all(x, g, 1, sizes[i] * GB);
    }
    /* Running: one replica per 1-GPU node, the way a fleet grows one model at a time. */
    place_plan *cur = place_plan_new();
    for (int i = 0; i < 5; i++) {
        char name[8], node[16];
        snprintf(name, sizeof name, "s%llu", (unsigned long long)sizes[i]);
        for (uint32_t r = 0; r < reps[i] - (i == 4 ? 2u : 0u); r++) {
            snprintf(node, sizeof node, "%s-%u", name, r);
            int n = add_node(x->p, cur, one, node);
            put(cur, name, r, n, 0, sizes[i] * GB);
        }
    }
    place_plan_update_cost(cur);
    plan_moves mv;
    place_plan *out = rebalance(x->p, cur, -1, &mv);
    place_plan *ffd = NULL, *fresh = NULL;
    vp_err e = {0};
    assert_int_equal(plan_ffd(x->p, &ffd, &e), 0);
    fresh = fx_solve(x->p, PLAN_SOLVER_AUTO, 10);
    assert_string_equal(fresh->status, "optimal");
    assert_true(cur->cost_per_hour > fresh->cost_per_hour + 1); /* there is something to gain */
    assert_true(fabs(out->cost_per_hour - fresh->cost_per_hour) < 1e-9);
    assert_int_equal(out->n_placements, 16);
    assert_true(mv.migrated_replicas > 0);
    plan_moves_free(&mv);
    place_plan_free(out);
    place_plan_free(ffd);
    place_plan_free(fresh);
    place_plan_free(cur);
    fx_free(x);
}

static void removed_replicas_are_stopped_first(void **state)
{
    (void)state;
    place_plan *cur = NULL;
    fx *x = spread_out(&cur, 2); /* replicas 2 and 3 are no longer wanted */
    plan_moves mv;
    place_plan *out = rebalance(x->p, cur, 0, &mv);
    assert_true(mv.n >= 2);
    assert_int_equal(mv.v[0].kind, PLAN_MOVE_STOP);
    assert_int_equal(mv.v[1].kind, PLAN_MOVE_STOP);
    assert_true(fabs(out->cost_per_hour - 2.0) < 1e-9);
    assert_true(fabs(mv.v[0].saves_per_hour - 1.0) < 1e-9);
    plan_moves_free(&mv);
    place_plan_free(out);
    place_plan_free(cur);
    fx_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(max_moves_is_honoured_exactly),
        cmocka_unit_test(zero_moves_places_new_replicas_around_running_ones),
        cmocka_unit_test(replicas_of_a_lost_node_are_replaced_without_counting_as_moves),
        cmocka_unit_test(a_swap_breaks_one_move_and_never_overcommits),
        cmocka_unit_test(an_unlimited_budget_reaches_a_fresh_plans_cost),
        cmocka_unit_test(removed_replicas_are_stopped_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
