/* test_store.c - the controller's SQLite state file: what is saved loads back the same, a
 * failed save changes nothing, and a damaged file is refused with a message naming it. */
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* after setjmp.h, stdarg.h, stddef.h and stdint.h, which cmocka.h needs */
#include <cmocka.h>

#include "ctl_internal.h"

static char dir[256], path[512];

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/vp-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) return -1;
    snprintf(path, sizeof path, "%s/state.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static place_plan *sample_plan(void)
{
    place_plan *p = place_plan_new();
    assert_non_null(p);
    snprintf(p->solver, sizeof p->solver, "ffd");
    snprintf(p->status, sizeof p->status, "heuristic");
    p->lower_bound_per_hour = 1.5;
    for (int i = 0; i < 2; i++) {
        place_node n;
        memset(&n, 0, sizeof n);
        snprintf(n.name, sizeof n.name, "node-%d", i);
        snprintf(n.type, sizeof n.type, "agent");
        n.price_per_hour = 1.0;
        n.inventory = true;
        n.n_gpus = 4;
        for (int g = 0; g < 4; g++) {
            snprintf(n.gpus[g].model, sizeof n.gpus[g].model, "L4");
            n.gpus[g].usable_bytes = 21000000000ull + (uint64_t)g;
            n.gpus[g].bandwidth_gbs = 300;
        }
        assert_int_equal(place_plan_add_node(p, &n), i);
    }
    const uint8_t g01[] = {0, 1}, g3[] = {3}, g2[] = {2};
    assert_true(place_plan_assign(p, "chat", 0, -1, 1, 0, g01, 2, 9000000001ull) >= 0);
    assert_true(place_plan_assign(p, "embed", 1, -1, 1, 1, g3, 1, 123456789ull) >= 0);
    assert_true(place_plan_assign(p, "big", 0, 1, 2, 1, g2, 1, 20000000000ull) >= 0);
    assert_true(place_plan_add_unplaced(p, "giant", 2, "gpu_types [L4]: too \"big\"") >= 0);
    place_plan_update_cost(p);
    return p;
}

static ctl_node sample_node(const char *name, int state)
{
    ctl_node n;
    memset(&n, 0, sizeof n);
    snprintf(n.name, sizeof n.name, "%s", name);
    n.state = state;
    snprintf(n.version, sizeof n.version, "0.1.0");
    n.n_gpus = 2;
    for (int g = 0; g < 2; g++) {
        n.gpus[g].index = (uint32_t)(g + 2);
        snprintf(n.gpus[g].model, sizeof n.gpus[g].model, "NVIDIA L4");
        n.gpus[g].total_bytes = 24152899584ull;
    }
    snprintf(n.gpus[0].uuid, sizeof n.gpus[0].uuid, "GPU-1234");
    n.registered_wall_ms = 1700000000000ull;
    n.last_hb_wall_ms = 1700000000123ull;
    return n;
}

static void test_a_saved_desired_state_loads_back_the_same(void **state)
{
    (void)state;
    ctl_store *s;
    vp_err e = {0};
    assert_int_equal(ctl_store_open(path, &s, &e), 0);
    place_plan *p = sample_plan();
    ctl_node a = sample_node("node-0", CTL_NODE_READY), b = sample_node("node-1", CTL_NODE_LOST);
    ctl_node *nodes[] = {&a, &b};
    const char *manifest = "{\"models\":[{\"name\":\"chat\",\"memory_bytes\":1}]}";
    plan_manifest *pm = NULL;
    assert_int_equal(plan_manifest_parse(manifest, strlen(manifest), "m", NULL, &pm, &e), 0);
    assert_int_equal(
        ctl_store_save_desired(s, manifest, pm, p, nodes, 2, 7, "submit", "x", &e), 0);
    plan_manifest_free(pm);
    ctl_store_close(s);

    assert_int_equal(ctl_store_open(path, &s, &e), 0);
    ctl_loaded ld;
    assert_int_equal(ctl_store_load(s, &ld, &e), 0);
    assert_string_equal(ld.manifest_text, manifest);
    assert_int_equal(ld.replans_total, 7);
    assert_non_null(ld.plan);
    assert_int_equal(ld.plan->n_nodes, p->n_nodes);
    assert_int_equal(ld.plan->n_placements, p->n_placements);
    for (size_t i = 0; i < p->n_placements; i++) {
        const place_placement *x = &p->placements[i];
        int k = place_plan_find(ld.plan, x->id);
        assert_true(k >= 0);
        const place_placement *y = &ld.plan->placements[k];
        assert_string_equal(ld.plan->nodes[y->node].name, p->nodes[x->node].name);
        assert_int_equal(y->n_gpus, x->n_gpus);
        assert_memory_equal(y->gpus, x->gpus, (size_t)x->n_gpus);
        assert_int_equal(y->bytes_per_gpu, x->bytes_per_gpu);
        assert_int_equal(y->stage, x->stage);
        assert_int_equal(y->n_stages, x->n_stages);
    }
    assert_int_equal(ld.plan->nodes[1].gpus[3].usable_bytes, 21000000003ull);
    assert_int_equal(ld.plan->nodes[1].gpus[3].used_bytes, 123456789ull);
    assert_int_equal(ld.plan->n_unplaced, 1);
    assert_string_equal(ld.plan->unplaced[0].reason, "gpu_types [L4]: too \"big\"");
    assert_string_equal(ld.plan->solver, "ffd");
    assert_true(ld.plan->cost_per_hour == p->cost_per_hour);
    assert_int_equal(ld.n_nodes, 2);
    assert_string_equal(ld.nodes[0]->name, "node-0");
    assert_int_equal(ld.nodes[0]->state, CTL_NODE_READY);
    assert_int_equal(ld.nodes[1]->state, CTL_NODE_LOST);
    assert_int_equal(ld.nodes[1]->gpus[1].index, 3);
    assert_int_equal(ld.nodes[1]->gpus[1].total_bytes, 24152899584ull);
    assert_string_equal(ld.nodes[0]->gpus[0].uuid, "GPU-1234");
    assert_string_equal(ld.nodes[0]->gpus[1].uuid, "");
    assert_int_equal(ld.nodes[0]->last_hb_wall_ms, 1700000000123ull);
    ctl_loaded_free(&ld);
    ctl_store_close(s);
    place_plan_free(p);
}

static void test_the_state_file_runs_in_wal_mode(void **state)
{
    (void)state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_a_failed_save_changes_nothing(void **state)
{
    (void)state;
    ctl_store *s;
    vp_err e = {0};
    assert_int_equal(ctl_store_open(path, &s, &e), 0);
    /* Two placements with one id break the primary key half-way through the write. */
    place_plan *p = sample_plan();
    const uint8_t g[] = {2};
    assert_true(place_plan_assign(p, "embed", 1, -1, 1, 0, g, 1, 1000) >= 0);
    int rc = ctl_store_save_desired(s, "{\"models\":[]}", NULL, p, NULL, 0, 99, "submit", "", &e);
    assert_int_equal(rc, VP_ESTATE);
    assert_non_null(strstr(e.msg, path));
    ctl_loaded ld;
    assert_int_equal(ctl_store_load(s, &ld, &e), 0);
    assert_int_equal(ld.replans_total, 7);
    assert_int_equal(ld.plan->n_placements, 3);
    assert_non_null(strstr(ld.manifest_text, "chat"));
    ctl_loaded_free(&ld);
    ctl_store_close(s);
    place_plan_free(p);
}

static void test_events_are_appended_in_order(void **state)
{
    (void)state;
    ctl_store *s;
    vp_err e = {0};
    assert_int_equal(ctl_store_open(path, &s, &e), 0);
    ctl_event ev[3];
    memset(ev, 0, sizeof ev);
    for (int i = 0; i < 3; i++) {
        ev[i].ts_ms = 1000u + (uint64_t)i;
        snprintf(ev[i].kind, sizeof ev[i].kind, "node_lost");
        snprintf(ev[i].node, sizeof ev[i].node, "n%d", i);
    }
    assert_int_equal(ctl_store_flush(s, NULL, 0, ev, 3, &e), 0);
    ctl_event *got;
    size_t n;
    assert_int_equal(ctl_store_events(s, 3, &got, &n, &e), 0);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(got[i].node, ev[i].node);
        assert_int_equal(got[i].ts_ms, ev[i].ts_ms);
    }
    free(got);
    assert_int_equal(ctl_store_events(s, 10, &got, &n, &e), 0);
    assert_int_equal(n, 4); /* the submit event written with the desired state comes first */
    assert_string_equal(got[0].kind, "submit");
    free(got);
    ctl_store_close(s);
}

static void corrupt(const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK);
    sqlite3_close(db);
}

static void test_an_overcommitted_stored_plan_is_refused_naming_the_file(void **state)
{
    (void)state;
    corrupt("UPDATE placements SET bytes_per_gpu = 30000000000 WHERE id = 'embed/1'");
    ctl_store *s;
    vp_err e = {0};
    assert_int_equal(ctl_store_open(path, &s, &e), 0);
    ctl_loaded ld;
    assert_int_equal(ctl_store_load(s, &ld, &e), VP_ESTATE);
    assert_non_null(strstr(e.msg, path));
    assert_non_null(strstr(e.msg, "placements[embed/1]"));
    ctl_store_close(s);
}

static void test_a_state_file_from_another_schema_is_refused(void **state)
{
    (void)state;
    corrupt("UPDATE meta SET value = '99' WHERE key = 'schema_version'");
    ctl_store *s;
    vp_err e = {0};
    assert_int_equal(ctl_store_open(path, &s, &e), 0);
    ctl_loaded ld;
    assert_int_equal(ctl_store_load(s, &ld, &e), VP_ESTATE);
    assert_non_null(strstr(e.msg, "schema version 99"));
    ctl_store_close(s);
}

static void test_a_file_that_is_not_a_database_is_refused(void **state)
{
    (void)state;
    char bad[600];
    snprintf(bad, sizeof bad, "%s/not-a-db", dir);
    FILE *f = fopen(bad, "w");
    assert_non_null(f);
    fputs("this is not an sqlite file, not even close; it is long enough to have a header\n", f);
    fclose(f);
    ctl_store *s = NULL;
    vp_err e = {0};
    assert_int_equal(ctl_store_open(bad, &s, &e), VP_ESTATE);
    assert_null(s);
    assert_non_null(strstr(e.msg, bad));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_saved_desired_state_loads_back_the_same),
        cmocka_unit_test(test_the_state_file_runs_in_wal_mode),
        cmocka_unit_test(test_a_failed_save_changes_nothing),
        cmocka_unit_test(test_events_are_appended_in_order),
        cmocka_unit_test(test_an_overcommitted_stored_plan_is_refused_naming_the_file),
        cmocka_unit_test(test_a_state_file_from_another_schema_is_refused),
        cmocka_unit_test(test_a_file_that_is_not_a_database_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
