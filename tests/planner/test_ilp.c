/* test_ilp.c - the GLPK MIP places exactly: optimal where FFD is not, TP groups, pipelines,
 * spread, allow-lists, inventory, finite capacity, time limits and the LP export. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lp.h"
#include "solver_fixture.h"

#define GB 1000000000ULL

static place_plan *ffd_of(const plan_problem *p)
{
    place_plan *w = NULL;
    vp_err e = {0};
    assert_int_equal(plan_ffd(p, &w, &e), 0);
    return w;
}

static place_plan *ilp_of(const plan_problem *p, const place_plan *warm, double tl)
{
    return fx_mip(p, warm, tl);
}

/* Writes the compact MIP of p to path without solving it. */
static int export_mip(const plan_problem *p, const char *path, vp_err *e)
{
    plan_options o;
    plan_options_default(&o);
    bg_budget b;
    bg_init(&b, &o);
    vw_view v;
    if (vw_init(&v, p)) return -12;
    mip_args a = {.max_moves = -1, .export_lp = path, .export_only = true};
    mip_result r;
    int rc = mip_solve(&v, &a, &b, &r, e);
    vw_free(&v);
    return rc;
}

/* Sizes 5,4,4,3,2,2 in bins of 10: FFD opens 3 bins (5+4, 4+3+2, 2), the optimum is 2
 * (5+3+2, 4+4+2). */
static fx *ffd_trap(void)
{
    fx *x = fx_new();
    int gpu = fx_gpu(x, "G10", 10 * GB);
    fx_bin(x, "one", gpu, 1, 1.0, -1);
    const uint64_t sizes[] = {5, 4, 3, 2}, reps[] = {1, 2, 1, 2};
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%llu", (unsigned long long)sizes[i]);
        int g = fx_model(x, name, (uint32_t)reps[i], false, 1);
        fx_shape_all(x, g, 1, sizes[i] * GB);
    }
    return x;
}

static void mip_finds_the_optimum_where_ffd_opens_an_extra_node(void **state)
{
    (void)state;
    fx *x = ffd_trap();
    place_plan *w = ffd_of(x->p);
    assert_near(w->cost_per_hour, 3); /* the trap works: FFD needs 3 */
    place_plan *o = ilp_of(x->p, w, 30);
    assert_string_equal(o->status, "optimal");
    assert_string_equal(o->solver, "ilp");
    assert_near(o->cost_per_hour, 2);
    assert_near(o->lower_bound_per_hour, 2);
    assert_near(o->gap, 0);
    char why[256];
    assert_int_equal(fx_plan_ok(x->p, o, why, sizeof why), 0);
    place_plan_free(w);
    place_plan_free(o);
    fx_free(x);
}

static void mip_solves_without_a_warm_start(void **state)
{
    (void)state;
    fx *x = ffd_trap();
    place_plan *o = ilp_of(x->p, NULL, 30);
    assert_string_equal(o->status, "optimal");
    assert_near(o->cost_per_hour, 2);
    place_plan_free(o);
    fx_free(x);
}

static bool distinct_gpus(const place_placement *pl)
{
    for (int a = 0; a < pl->n_gpus; a++)
        for (int b = a + 1; b < pl->n_gpus; b++)
            if (pl->gpus[a] == pl->gpus[b]) return false;
    return true;
}

/* Two TP-2 replicas of 6 and four TP-1 replicas of 4 fill one 4-GPU node of 10 exactly; any
 * other layout needs a second node. */
static void tp_groups_take_distinct_gpus_of_one_node(void **state)
{
    (void)state;
    fx *x = fx_new();
    int gpu = fx_gpu(x, "G10", 10 * GB);
    fx_bin(x, "quad", gpu, 4, 4.0, -1);
    int a = fx_model(x, "tp2", 2, false, 1);
    fx_shape_all(x, a, 2, 6 * GB);
    int b = fx_model(x, "small", 4, false, 1);
    fx_shape_all(x, b, 1, 4 * GB);
    place_plan *o = ilp_of(x->p, NULL, 30);
    assert_string_equal(o->status, "optimal");
    assert_near(o->cost_per_hour, 4);
    int tp2 = 0;
    for (size_t k = 0; k < o->n_placements; k++) {
        const place_placement *pl = &o->placements[k];
        assert_true(distinct_gpus(pl));
        if (!strcmp(pl->model, "tp2")) {
            assert_int_equal(pl->n_gpus, 2);
            assert_int_equal(pl->bytes_per_gpu, 6 * GB);
            tp2++;
        }
    }
    assert_int_equal(tp2, 2);
    for (int g = 0; g < 4; g++)
        assert_int_equal(o->nodes[0].gpus[g].used_bytes, 10 * GB);
    place_plan_free(o);
    fx_free(x);
}

/* Three replicas of a 2-stage pipeline on 1-GPU nodes: every replica's stages on distinct nodes,
 * while stages of different replicas share nodes where it pays (6 stages of 5 in bins of 10 =
 * 3 nodes). */
static void pipeline_stages_of_a_replica_land_on_distinct_nodes(void **state)
{
    (void)state;
    fx *x = fx_new();
    int gpu = fx_gpu(x, "G10", 10 * GB);
    fx_bin(x, "one", gpu, 1, 1.0, -1);
    int g = fx_model(x, "pipe", 3, false, 2);
    fx_shape_all(x, g, 1, 5 * GB);
    place_plan *o = ilp_of(x->p, NULL, 30);
    assert_string_equal(o->status, "optimal");
    assert_near(o->cost_per_hour, 3);
    char why[256];
    assert_int_equal(fx_plan_ok(x->p, o, why, sizeof why), 0);
    for (size_t k = 0; k < o->n_placements; k++) {
        assert_int_equal(o->placements[k].n_stages, 2);
        assert_true(o->placements[k].stage == 0 || o->placements[k].stage == 1);
    }
    place_plan_free(o);
    fx_free(x);
}

/* Spread: four tiny replicas that would share one GPU must take four nodes. */
static void spread_replicas_take_distinct_nodes(void **state)
{
    (void)state;
    fx *x = fx_new();
    int gpu = fx_gpu(x, "G10", 10 * GB);
    fx_bin(x, "duo", gpu, 2, 1.0, -1);
    int g = fx_model(x, "ha", 4, true, 1);
    fx_shape_all(x, g, 1, 1 * GB);
    int f = fx_model(x, "filler", 2, false, 1);
    fx_shape_all(x, f, 1, 9 * GB);
    place_plan *o = ilp_of(x->p, NULL, 30);
    assert_string_equal(o->status, "optimal");
    assert_near(o->cost_per_hour, 4);
    for (size_t a = 0; a < o->n_placements; a++)
        for (size_t b = a + 1; b < o->n_placements; b++)
            if (!strcmp(o->placements[a].model, "ha") && !strcmp(o->placements[b].model, "ha"))
                assert_int_not_equal(o->placements[a].node, o->placements[b].node);
    place_plan_free(o);
    fx_free(x);
}

/* Allow-lists: the model that may only use the expensive type goes there even though the cheap
 * type has room. */
static void allow_lists_keep_a_model_on_its_gpu_types(void **state)
{
    (void)state;
    fx *x = fx_new();
    int cheap = fx_gpu(x, "cheap", 10 * GB), dear = fx_gpu(x, "dear", 10 * GB);
    int bc = fx_bin(x, "c1", cheap, 1, 1.0, -1);
    int bd = fx_bin(x, "d1", dear, 1, 5.0, -1);
    const uint64_t b3[] = {3 * GB}, b4[] = {4 * GB};
    int any = fx_model(x, "any", 2, false, 1);
    fx_shape(x, any, bc, 1, b3);
    fx_shape(x, any, bd, 1, b3);
    int only = fx_model(x, "only-dear", 1, false, 1);
    fx_shape(x, only, bd, 1, b4);
    place_plan *o = ilp_of(x->p, NULL, 30);
    assert_string_equal(o->status, "optimal");
    /* best: both "any" replicas ride along on the dear node with "only-dear": $5 */
    assert_near(o->cost_per_hour, 5);
    for (size_t k = 0; k < o->n_placements; k++)
        if (!strcmp(o->placements[k].model, "only-dear"))
            assert_string_equal(o->nodes[o->placements[k].node].type, "d1");
    place_plan_free(o);
    fx_free(x);
}

/* Inventory: an existing node that costs nothing is used before anything is bought. */
static void free_inventory_is_used_before_buying(void **state)
{
    (void)state;
    fx *x = fx_new();
    int gpu = fx_gpu(x, "G10", 10 * GB);
    fx_inv(x, "rack-1", "owned", gpu, 2, 0.0);
    fx_bin(x, "one", gpu, 1, 1.0, -1);
    int g = fx_model(x, "m", 3, false, 1);
    fx_shape_all(x, g, 1, 6 * GB);
    place_plan *o = ilp_of(x->p, NULL, 30);
    assert_string_equal(o->status, "optimal");
    assert_near(o->cost_per_hour, 1);
    int on_rack = 0;
    for (size_t k = 0; k < o->n_placements; k++)
        on_rack += !strcmp(o->nodes[o->placements[k].node].name, "rack-1");
    assert_int_equal(on_rack, 2);
    place_plan_free(o);
    fx_free(x);
}

/* Finite capacity: what does not fit is listed unplaced with a reason, not dropped. */
static void replicas_beyond_capacity_are_listed_unplaced(void **state)
{
    (void)state;
    fx *x = fx_new();
    int gpu = fx_gpu(x, "G10", 10 * GB);
    fx_bin(x, "one", gpu, 1, 1.0, 2);
    int g = fx_model(x, "big", 3, false, 1);
    fx_shape_all(x, g, 1, 8 * GB);
    place_plan *o = ilp_of(x->p, NULL, 30);
    assert_int_equal(o->n_placements, 2);
    assert_int_equal(o->n_unplaced, 1);
    assert_string_equal(o->unplaced[0].model, "big");
    assert_true(strlen(o->unplaced[0].reason) > 10);
    assert_string_not_equal(o->status, "optimal");
    place_plan_free(o);
    fx_free(x);
}

/* A time limit too short to prove anything on 60 items still returns a valid plan no worse than
 * the warm start, and a bound no higher than the known optimum (20). */
static void a_short_time_limit_keeps_the_incumbent(void **state)
{
    (void)state;
    fx *x = fx_bpp("Falkenauer_t60_00.txt");
    assert_non_null(x);
    place_plan *w = ffd_of(x->p);
    place_plan *o = ilp_of(x->p, w, 0.05);
    assert_le(o->cost_per_hour, w->cost_per_hour);
    assert_le(o->lower_bound_per_hour, 20);
    if (!strcmp(o->status, "optimal"))
        assert_near(o->cost_per_hour, 20);
    else
        assert_string_equal(o->status, "feasible");
    char why[256];
    assert_int_equal(fx_plan_ok(x->p, o, why, sizeof why), 0);
    place_plan_free(w);
    place_plan_free(o);
    fx_free(x);
}

static void export_writes_a_cplex_lp_file(void **state)
{
    (void)state;
    fx *x = ffd_trap();
    char path[] = "/tmp/test_ilp_export_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    vp_err e = {0};
    assert_int_equal(export_mip(x->p, path, &e), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    remove(path);
    assert_non_null(strstr(buf, "Problem: vrampack"));
    assert_non_null(strstr(buf, "Minimize"));
    assert_non_null(strstr(buf, "Generals"));
    assert_non_null(strstr(buf, "y_0"));
    fx_free(x);
}

static void export_to_an_unwritable_path_is_an_error(void **state)
{
    (void)state;
    fx *x = ffd_trap();
    vp_err e = {0};
    int rc = export_mip(x->p, "/nonexistent-dir/model.lp", &e);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(e.msg, "/nonexistent-dir/model.lp"));
    fx_free(x);
}

/* The LP interface reports infeasibility as a result, not a solver failure. */
static void an_infeasible_lp_is_reported_as_no_space(void **state)
{
    (void)state;
    plan_options o;
    plan_options_default(&o);
    bg_budget b;
    bg_init(&b, &o);
    for (int fast = 0; fast < 2; fast++) {
        lp_prob *lp = fast ? lp_new_fast("t") : lp_new("t");
        assert_non_null(lp);
        int r0 = lp_add_row(lp, 'G', 5);
        assert_int_equal(r0, 0);
        int rows[] = {0};
        double vals[] = {1};
        assert_int_equal(lp_add_col(lp, 1, 0, 2, 1, rows, vals), 0);
        double obj;
        assert_int_equal(lp_solve(lp, &b, false, &obj), VP_ENOSPACE);
        assert_int_equal(lp_set_col_bounds(lp, 0, 0, 10), 0);
        assert_int_equal(lp_solve(lp, &b, false, &obj), 0);
        assert_near(obj, 5);
        assert_near(lp_dual(lp, 0), 1);
        assert_int_equal(lp_set_rhs(lp, 0, 7), 0);
        assert_int_equal(lp_solve(lp, &b, true, &obj), 0);
        assert_near(obj, 7);
        assert_near(lp_col(lp, 0), 7);
        lp_free(lp);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mip_finds_the_optimum_where_ffd_opens_an_extra_node),
        cmocka_unit_test(mip_solves_without_a_warm_start),
        cmocka_unit_test(tp_groups_take_distinct_gpus_of_one_node),
        cmocka_unit_test(pipeline_stages_of_a_replica_land_on_distinct_nodes),
        cmocka_unit_test(spread_replicas_take_distinct_nodes),
        cmocka_unit_test(allow_lists_keep_a_model_on_its_gpu_types),
        cmocka_unit_test(free_inventory_is_used_before_buying),
        cmocka_unit_test(replicas_beyond_capacity_are_listed_unplaced),
        cmocka_unit_test(a_short_time_limit_keeps_the_incumbent),
        cmocka_unit_test(export_writes_a_cplex_lp_file),
        cmocka_unit_test(export_to_an_unwritable_path_is_an_error),
        cmocka_unit_test(an_infeasible_lp_is_reported_as_no_space),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
