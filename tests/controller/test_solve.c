/* test_solve.c - the controller's planning step (ctl_solve) without any process or socket:
 * first plans, node loss (only what was lost moves), spread and tensor-parallel constraints when
 * re-placing, resubmits that keep unchanged models, and reasons for what fits nowhere. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* after setjmp.h, stdarg.h, stddef.h and stdint.h, which cmocka.h needs */
#include <cmocka.h>

#include "ctl_internal.h"

#define GIB (1ull << 30)

static const char manifest_a[] =
    "{\"models\":["
    "{\"name\":\"embed\",\"memory_bytes\":209715200,\"replicas\":3,\"spread\":true},"
    "{\"name\":\"chat\",\"memory_bytes\":629145600,\"replicas\":2},"
    "{\"name\":\"tp\",\"params\":1000000000,\"layers\":16,\"kv_heads\":8,\"head_dim\":64,"
    "\"dtype\":\"fp16\",\"max_seq_len\":1024,\"max_batch\":1,\"tensor_parallel\":2,"
    "\"cuda_context_bytes\":0}]}";

/* Same, but chat has one more replica. */
static const char manifest_b[] =
    "{\"models\":["
    "{\"name\":\"embed\",\"memory_bytes\":209715200,\"replicas\":3,\"spread\":true},"
    "{\"name\":\"chat\",\"memory_bytes\":629145600,\"replicas\":3},"
    "{\"name\":\"tp\",\"params\":1000000000,\"layers\":16,\"kv_heads\":8,\"head_dim\":64,"
    "\"dtype\":\"fp16\",\"max_seq_len\":1024,\"max_batch\":1,\"tensor_parallel\":2,"
    "\"cuda_context_bytes\":0}]}";

static plan_manifest *parse(const char *text)
{
    plan_manifest *m = NULL;
    vp_err e = {0};
    int rc = plan_manifest_parse(text, strlen(text), "manifest", NULL, &m, &e);
    if (rc) fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    return m;
}

static ctl_fleet_node node(const char *name, int gpus, uint64_t total)
{
    ctl_fleet_node n;
    memset(&n, 0, sizeof n);
    snprintf(n.name, sizeof n.name, "%s", name);
    snprintf(n.model, sizeof n.model, "TGPU");
    n.n_gpus = gpus;
    n.total_bytes = total;
    return n;
}

static void check_valid(const place_plan *p)
{
    char why[512];
    int rc = place_plan_validate(p, why, sizeof why);
    if (rc) fprintf(stderr, "%s\n", why);
    assert_int_equal(rc, 0);
}

static int count_on(const place_plan *p, const char *node)
{
    int n = 0;
    for (size_t i = 0; i < p->n_placements; i++)
        n += !strcmp(p->nodes[p->placements[i].node].name, node);
    return n;
}

static place_plan *first_plan(plan_manifest *m, const ctl_fleet_node *ready, size_t n)
{
    ctl_solve_req r;
    memset(&r, 0, sizeof r);
    r.submit = true;
    r.manifest = m;
    r.ready = ready;
    r.n_ready = n;
    plan_options_default(&r.opts);
    r.opts.solver = PLAN_SOLVER_FFD;
    ctl_solve_out out;
    vp_err e = {0};
    int rc = ctl_solve(&r, &out, &e);
    plan_moves_free(&out.moves); /* the move list is not checked here */
    if (rc) fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_true(out.full);
    return out.plan;
}

static void test_a_first_plan_places_every_replica_on_the_ready_nodes(void **state)
{
    (void)state;
    plan_manifest *m = parse(manifest_a);
    ctl_fleet_node ready[] = {node("a", 2, 4 * GIB), node("b", 2, 4 * GIB), node("c", 2, 4 * GIB)};
    place_plan *p = first_plan(m, ready, 3);
    check_valid(p);
    assert_int_equal(p->n_placements, 6);
    assert_int_equal(p->n_unplaced, 0);
    /* spread: the three embed replicas are on three different nodes */
    assert_int_equal(count_on(p, "a") > 0 && count_on(p, "b") > 0 && count_on(p, "c") > 0, 1);
    for (size_t i = 0; i < p->n_placements; i++)
        if (!strcmp(p->placements[i].model, "tp")) assert_int_equal(p->placements[i].n_gpus, 2);
    place_plan_free(p);
    plan_manifest_free(m);
}

static void test_only_a_lost_nodes_placements_move(void **state)
{
    (void)state;
    plan_manifest *m = parse(manifest_a);
    ctl_fleet_node all[] = {node("a", 2, 2 * GIB), node("b", 2, 2 * GIB), node("c", 2, 2 * GIB),
                            node("d", 2, 2 * GIB)};
    place_plan *base = first_plan(m, all, 4);
    /* Lose the busiest node. */
    int victim = 0;
    for (int i = 1; i < 4; i++)
        if (count_on(base, all[i].name) > count_on(base, all[victim].name)) victim = i;
    int lost_count = count_on(base, all[victim].name);
    assert_true(lost_count > 0);
    ctl_fleet_node ready[3];
    char lost[1][PLACE_NAME_MAX];
    snprintf(lost[0], sizeof lost[0], "%s", all[victim].name);
    for (int i = 0, k = 0; i < 4; i++)
        if (i != victim) ready[k++] = all[i];

    ctl_solve_req r;
    memset(&r, 0, sizeof r);
    r.manifest = m;
    r.ready = ready;
    r.n_ready = 3;
    r.lost = (const char(*)[PLACE_NAME_MAX])lost;
    r.n_lost = 1;
    r.base = base;
    plan_options_default(&r.opts);
    ctl_solve_out out;
    vp_err e = {0};
    assert_int_equal(ctl_solve(&r, &out, &e), 0);
    plan_moves_free(&out.moves); /* the move list is not checked here */
    place_plan *p = out.plan;
    check_valid(p);
    assert_false(out.full);
    assert_int_equal(out.moved, (size_t)lost_count);
    assert_int_equal(count_on(p, all[victim].name), 0);
    /* Every placement that was not on the lost node is exactly where it was. */
    for (size_t i = 0; i < base->n_placements; i++) {
        const place_placement *q = &base->placements[i];
        if (!strcmp(base->nodes[q->node].name, all[victim].name)) continue;
        int k = place_plan_find(p, q->id);
        assert_true(k >= 0);
        const place_placement *x = &p->placements[k];
        assert_string_equal(p->nodes[x->node].name, base->nodes[q->node].name);
        assert_memory_equal(x->gpus, q->gpus, (size_t)q->n_gpus);
    }
    /* Each lost piece is placed again (TP groups whole on one node) or unplaced with a reason
     * naming the lost node. */
    assert_int_equal(p->n_placements + p->n_unplaced, base->n_placements);
    for (size_t i = 0; i < p->n_unplaced; i++)
        assert_non_null(strstr(p->unplaced[i].reason, all[victim].name));
    for (size_t i = 0; i < p->n_placements; i++)
        if (!strcmp(p->placements[i].model, "tp")) assert_int_equal(p->placements[i].n_gpus, 2);
    place_plan_free(p);
    place_plan_free(base);
    plan_manifest_free(m);
}

static void test_a_spread_replica_with_nowhere_to_go_is_unplaced_with_the_reason(void **state)
{
    (void)state;
    const char text[] = "{\"models\":[{\"name\":\"embed\",\"memory_bytes\":1000,\"replicas\":3,"
                        "\"spread\":true}]}";
    plan_manifest *m = parse(text);
    ctl_fleet_node all[] = {node("a", 1, GIB), node("b", 1, GIB), node("c", 1, GIB)};
    place_plan *base = first_plan(m, all, 3);
    assert_int_equal(base->n_placements, 3);
    char lost[1][PLACE_NAME_MAX] = {"b"};
    ctl_fleet_node ready[] = {all[0], all[2]};
    ctl_solve_req r;
    memset(&r, 0, sizeof r);
    r.manifest = m;
    r.ready = ready;
    r.n_ready = 2;
    r.lost = (const char(*)[PLACE_NAME_MAX])lost;
    r.n_lost = 1;
    r.base = base;
    plan_options_default(&r.opts);
    ctl_solve_out out;
    vp_err e = {0};
    assert_int_equal(ctl_solve(&r, &out, &e), 0);
    plan_moves_free(&out.moves); /* the move list is not checked here */
    assert_int_equal(out.plan->n_placements, 2);
    assert_int_equal(out.plan->n_unplaced, 1);
    const char *why = out.plan->unplaced[0].reason;
    assert_non_null(strstr(why, "lost node b"));
    if (!strstr(why, "spread")) fail_msg("reason \"%s\" does not name spread", why);
    place_plan_free(out.plan);
    place_plan_free(base);
    plan_manifest_free(m);
}

static void test_a_resubmit_keeps_every_replica_whose_footprint_is_unchanged(void **state)
{
    (void)state;
    plan_manifest *ma = parse(manifest_a), *mb = parse(manifest_b);
    ctl_fleet_node ready[] = {node("a", 2, 4 * GIB), node("b", 2, 4 * GIB), node("c", 2, 4 * GIB)};
    place_plan *base = first_plan(ma, ready, 3);
    ctl_solve_req r;
    memset(&r, 0, sizeof r);
    r.submit = true;
    r.manifest = mb;
    r.ready = ready;
    r.n_ready = 3;
    r.base = base;
    plan_options_default(&r.opts);
    ctl_solve_out out;
    vp_err e = {0};
    assert_int_equal(ctl_solve(&r, &out, &e), 0);
    plan_moves_free(&out.moves); /* the move list is not checked here */
    place_plan *p = out.plan;
    check_valid(p);
    /* Every placement keeps its footprint and stays; chat's third replica is placed. */
    assert_int_equal(out.kept, 6);
    assert_int_equal(out.placed, 1);
    assert_int_equal(p->n_placements, 7);
    for (size_t i = 0; i < base->n_placements; i++) {
        const place_placement *q = &base->placements[i];
        int k = place_plan_find(p, q->id);
        assert_true(k >= 0);
        assert_string_equal(p->nodes[p->placements[k].node].name, base->nodes[q->node].name);
    }
    place_plan_free(p);
    place_plan_free(base);
    plan_manifest_free(ma);
    plan_manifest_free(mb);
}

static void test_a_model_dropped_from_the_manifest_loses_its_placements(void **state)
{
    (void)state;
    plan_manifest *ma = parse(manifest_a);
    const char only_embed[] = "{\"models\":[{\"name\":\"embed\",\"memory_bytes\":209715200,"
                              "\"replicas\":3,\"spread\":true}]}";
    plan_manifest *mc = parse(only_embed);
    ctl_fleet_node ready[] = {node("a", 2, 4 * GIB), node("b", 2, 4 * GIB), node("c", 2, 4 * GIB)};
    place_plan *base = first_plan(ma, ready, 3);
    ctl_solve_req r;
    memset(&r, 0, sizeof r);
    r.submit = true;
    r.manifest = mc;
    r.ready = ready;
    r.n_ready = 3;
    r.base = base;
    plan_options_default(&r.opts);
    ctl_solve_out out;
    vp_err e = {0};
    assert_int_equal(ctl_solve(&r, &out, &e), 0);
    plan_moves_free(&out.moves); /* the move list is not checked here */
    /* Other models went; embed's replicas stay where they are. */
    assert_int_equal(out.plan->n_placements, 3);
    for (size_t i = 0; i < out.plan->n_placements; i++)
        assert_string_equal(out.plan->placements[i].model, "embed");
    assert_int_equal(out.kept, 3);
    place_plan_free(out.plan);
    place_plan_free(base);
    plan_manifest_free(ma);
    plan_manifest_free(mc);
}

static void test_a_changed_footprint_is_placed_again_and_engine_args_are_not(void **state)
{
    (void)state;
    plan_manifest *ma = parse(manifest_a);
    const char bigger_chat[] =
        "{\"models\":["
        "{\"name\":\"embed\",\"memory_bytes\":209715200,\"replicas\":3,\"spread\":true,"
        "\"engine\":\"vllm\",\"engine_args\":[\"--enable-prefix-caching\"]},"
        "{\"name\":\"chat\",\"memory_bytes\":734003200,\"replicas\":2},"
        "{\"name\":\"tp\",\"params\":1000000000,\"layers\":16,\"kv_heads\":8,\"head_dim\":64,"
        "\"dtype\":\"fp16\",\"max_seq_len\":1024,\"max_batch\":1,\"tensor_parallel\":2,"
        "\"cuda_context_bytes\":0}]}";
    plan_manifest *mb = parse(bigger_chat);
    ctl_fleet_node ready[] = {node("a", 2, 4 * GIB), node("b", 2, 4 * GIB), node("c", 2, 4 * GIB)};
    place_plan *base = first_plan(ma, ready, 3);
    ctl_solve_req r;
    memset(&r, 0, sizeof r);
    r.submit = true;
    r.manifest = mb;
    r.ready = ready;
    r.n_ready = 3;
    r.base = base;
    plan_options_default(&r.opts);
    ctl_solve_out out;
    vp_err e = {0};
    assert_int_equal(ctl_solve(&r, &out, &e), 0);
    plan_moves_free(&out.moves); /* the move list is not checked here */
    check_valid(out.plan);
    /* embed (engine and engine_args changed) and tp stay; chat grew: placed again. */
    assert_int_equal(out.kept, 4);
    assert_int_equal(out.placed, 2);
    for (size_t i = 0; i < out.plan->n_placements; i++) {
        const place_placement *q = &out.plan->placements[i];
        if (strcmp(q->model, "chat")) continue;
        assert_int_equal(q->bytes_per_gpu, 734003200);
    }
    place_plan_free(out.plan);
    place_plan_free(base);
    plan_manifest_free(ma);
    plan_manifest_free(mb);
}

static void
test_an_excluded_placement_moves_to_another_node_or_stays_when_none_has_room(void **state)
{
    (void)state;
    plan_manifest *m = parse(manifest_a);
    ctl_fleet_node ready[] = {node("a", 2, 4 * GIB), node("b", 2, 4 * GIB), node("c", 2, 4 * GIB)};
    place_plan *base = first_plan(m, ready, 3);
    int k = place_plan_find(base, "chat/0");
    assert_true(k >= 0);
    const char *from = base->nodes[base->placements[k].node].name;
    ctl_excl x = {.id = "chat/0", .pending = true};
    snprintf(x.node, sizeof x.node, "%s", from);
    ctl_solve_req r;
    memset(&r, 0, sizeof r);
    r.manifest = m;
    r.ready = ready;
    r.n_ready = 3;
    r.base = base;
    r.excl = &x;
    r.n_excl = 1;
    plan_options_default(&r.opts);
    ctl_solve_out out;
    vp_err e = {0};
    assert_int_equal(ctl_solve(&r, &out, &e), 0);
    plan_moves_free(&out.moves); /* the move list is not checked here */
    check_valid(out.plan);
    assert_int_equal(out.evicted, 1);
    k = place_plan_find(out.plan, "chat/0");
    assert_true(k >= 0);
    assert_string_not_equal(out.plan->nodes[out.plan->placements[k].node].name, from);
    place_plan_free(out.plan);
    /* With its node the only one left, it goes back there rather than nowhere. */
    ctl_fleet_node only[1];
    for (size_t i = 0; i < 3; i++)
        if (!strcmp(ready[i].name, from)) only[0] = ready[i];
    r.ready = only;
    r.n_ready = 1;
    char lost[2][PLACE_NAME_MAX];
    size_t nl = 0;
    for (size_t i = 0; i < 3; i++)
        if (strcmp(ready[i].name, from)) snprintf(lost[nl++], PLACE_NAME_MAX, "%s", ready[i].name);
    r.lost = (const char(*)[PLACE_NAME_MAX])lost;
    r.n_lost = nl;
    assert_int_equal(ctl_solve(&r, &out, &e), 0);
    plan_moves_free(&out.moves); /* the move list is not checked here */
    k = place_plan_find(out.plan, "chat/0");
    assert_true(k >= 0);
    assert_string_equal(out.plan->nodes[out.plan->placements[k].node].name, from);
    place_plan_free(out.plan);
    place_plan_free(base);
    plan_manifest_free(m);
}

static void test_with_no_ready_node_everything_is_unplaced_with_the_reason(void **state)
{
    (void)state;
    plan_manifest *m = parse(manifest_a);
    ctl_solve_req r;
    memset(&r, 0, sizeof r);
    r.submit = true;
    r.manifest = m;
    plan_options_default(&r.opts);
    ctl_solve_out out;
    vp_err e = {0};
    assert_int_equal(ctl_solve(&r, &out, &e), 0);
    plan_moves_free(&out.moves); /* the move list is not checked here */
    assert_int_equal(out.plan->n_placements, 0);
    assert_int_equal(out.plan->n_unplaced, 6);
    for (size_t i = 0; i < out.plan->n_unplaced; i++)
        assert_non_null(strstr(out.plan->unplaced[i].reason, "no ready node"));
    place_plan_free(out.plan);
    plan_manifest_free(m);
}

static void test_the_fleet_never_promises_more_than_an_agent_reports(void **state)
{
    (void)state;
    /* Two nodes report the same built-in model name with different totals: the smaller wins,
     * and a name the catalog does not know is added with its reported total. */
    ctl_fleet_node ready[] = {node("a", 1, 10 * GIB), node("b", 1, 20 * GIB), node("c", 1, GIB)};
    snprintf(ready[0].model, sizeof ready[0].model, "L4");
    snprintf(ready[1].model, sizeof ready[1].model, "L4");
    plan_fleet *f = NULL;
    vp_err e = {0};
    assert_int_equal(ctl_fleet_build(NULL, ready, 3, NULL, 0, true, &f, &e), 0);
    assert_int_equal(f->n_nodes, 3);
    assert_int_equal(plan_fleet_gpu(f, "L4")->memory_bytes, 10 * GIB);
    assert_non_null(plan_fleet_gpu(f, "TGPU"));
    assert_int_equal(plan_fleet_gpu(f, "TGPU")->memory_bytes, GIB);
    plan_fleet_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_first_plan_places_every_replica_on_the_ready_nodes),
        cmocka_unit_test(test_only_a_lost_nodes_placements_move),
        cmocka_unit_test(test_a_spread_replica_with_nowhere_to_go_is_unplaced_with_the_reason),
        cmocka_unit_test(test_a_resubmit_keeps_every_replica_whose_footprint_is_unchanged),
        cmocka_unit_test(test_a_model_dropped_from_the_manifest_loses_its_placements),
        cmocka_unit_test(test_a_changed_footprint_is_placed_again_and_engine_args_are_not),
        cmocka_unit_test(
            test_an_excluded_placement_moves_to_another_node_or_stays_when_none_has_room),
        cmocka_unit_test(test_with_no_ready_node_everything_is_unplaced_with_the_reason),
        cmocka_unit_test(test_the_fleet_never_promises_more_than_an_agent_reports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
