/* test_placement.c - the plan data model keeps its capacity invariant. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "placement.h"
#include "vp.h"

static place_plan *two_gpu_plan(uint64_t usable)
{
    place_plan *p = place_plan_new();
    place_node n = {.name = "n0", .type = "t", .price_per_hour = 2.5, .n_gpus = 2};
    n.gpus[0].usable_bytes = n.gpus[1].usable_bytes = usable;
    assert_int_equal(place_plan_add_node(p, &n), 0);
    return p;
}

static void assign_refuses_a_gpu_that_would_be_overcommitted(void **state)
{
    (void)state;
    place_plan *p = two_gpu_plan(100);
    uint8_t g0[] = {0};
    assert_int_equal(place_plan_assign(p, "a", 0, -1, 1, 0, g0, 1, 60), 0);
    assert_int_equal(place_plan_assign(p, "a", 1, -1, 1, 0, g0, 1, 41), VP_ENOSPACE);
    assert_int_equal(place_plan_assign(p, "a", 1, -1, 1, 0, g0, 1, 40), 1);
    assert_int_equal(p->nodes[0].gpus[0].used_bytes, 100);
    char why[256];
    assert_int_equal(place_plan_validate(p, why, sizeof why), 0);
    place_plan_free(p);
}

static void assign_refuses_repeated_gpu_indices(void **state)
{
    (void)state;
    place_plan *p = two_gpu_plan(100);
    uint8_t twice[] = {1, 1}, out[] = {0, 2};
    assert_int_equal(place_plan_assign(p, "tp", 0, -1, 1, 0, twice, 2, 10), VP_EINPUT);
    assert_int_equal(place_plan_assign(p, "tp", 0, -1, 1, 0, out, 2, 10), VP_EINPUT);
    assert_int_equal(p->n_placements, 0);
    assert_int_equal(p->nodes[0].gpus[0].used_bytes, 0);
    place_plan_free(p);
}

static void unassign_gives_the_bytes_back(void **state)
{
    (void)state;
    place_plan *p = two_gpu_plan(100);
    uint8_t both[] = {0, 1};
    assert_int_equal(place_plan_assign(p, "tp", 0, -1, 1, 0, both, 2, 70), 0);
    place_plan_unassign(p, 0);
    assert_int_equal(p->n_placements, 0);
    assert_int_equal(p->nodes[0].gpus[0].used_bytes, 0);
    assert_int_equal(p->nodes[0].gpus[1].used_bytes, 0);
    place_plan_free(p);
}

static void validate_catches_drifted_accounting(void **state)
{
    (void)state;
    place_plan *p = two_gpu_plan(100);
    uint8_t g0[] = {0};
    assert_int_equal(place_plan_assign(p, "a", 0, -1, 1, 0, g0, 1, 50), 0);
    p->nodes[0].gpus[0].used_bytes = 10;
    char why[256];
    assert_int_equal(place_plan_validate(p, why, sizeof why), VP_EINPUT);
    assert_non_null(strstr(why, "used_bytes"));
    place_plan_free(p);
}

static void cost_counts_only_nodes_that_host_something(void **state)
{
    (void)state;
    place_plan *p = two_gpu_plan(100);
    place_node idle = p->nodes[0];
    strcpy(idle.name, "n1");
    assert_int_equal(place_plan_add_node(p, &idle), 1);
    uint8_t g0[] = {0};
    assert_int_equal(place_plan_assign(p, "a", 0, -1, 1, 1, g0, 1, 50), 0);
    p->lower_bound_per_hour = 2.0;
    place_plan_update_cost(p);
    assert_true(p->cost_per_hour == 2.5);
    assert_true(p->gap > 0.19 && p->gap < 0.21);
    assert_int_equal(place_plan_drop_idle(p), 0);
    assert_int_equal(p->n_nodes, 1);
    assert_string_equal(p->nodes[p->placements[0].node].name, "n1");
    place_plan_free(p);
}

static void diff_keeps_unchanged_and_moves_the_rest(void **state)
{
    (void)state;
    place_plan *a = two_gpu_plan(100);
    uint8_t g0[] = {0}, g1[] = {1};
    assert_int_equal(place_plan_assign(a, "m", 0, -1, 1, 0, g0, 1, 10), 0);
    assert_int_equal(place_plan_assign(a, "m", 1, -1, 1, 0, g0, 1, 10), 1);
    place_plan *b = place_plan_clone(a);
    assert_non_null(b);
    place_plan_unassign(b, 1);
    assert_int_equal(place_plan_assign(b, "m", 1, -1, 1, 0, g1, 1, 10), 1);
    assert_int_equal(place_plan_assign(b, "m", 2, -1, 1, 0, g1, 1, 10), 2);
    place_diff d;
    assert_int_equal(place_plan_diff(a, b, &d), 0);
    assert_int_equal(d.n_keep, 1);
    assert_int_equal(d.n_start, 2);
    assert_int_equal(d.n_stop, 1);
    assert_string_equal(a->placements[d.stop[0]].id, "m/1");
    place_diff_free(&d);
    place_plan_free(a);
    place_plan_free(b);
}

static void ids_name_the_pipeline_stage(void **state)
{
    (void)state;
    char id[PLACE_ID_MAX];
    place_make_id(id, sizeof id, "llama-405b", 3, 1);
    assert_string_equal(id, "llama-405b/3/1");
    place_make_id(id, sizeof id, "chat", 0, -1);
    assert_string_equal(id, "chat/0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(assign_refuses_a_gpu_that_would_be_overcommitted),
        cmocka_unit_test(assign_refuses_repeated_gpu_indices),
        cmocka_unit_test(unassign_gives_the_bytes_back),
        cmocka_unit_test(validate_catches_drifted_accounting),
        cmocka_unit_test(cost_counts_only_nodes_that_host_something),
        cmocka_unit_test(diff_keeps_unchanged_and_moves_the_rest),
        cmocka_unit_test(ids_name_the_pipeline_stage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
