/* test_nodeloss.c - the N+1 analysis and spare nodes: one entry per node, each lost replica
 * accounted for exactly once, and a plan with spares that survives the loss of each node in turn,
 * checked here independently of the analysis (the node is removed, buying is forbidden by capping
 * every instance type at what the plan already has, and the solver's repair must place all). */
/* cmocka needs these four first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nodeloss.h"
#include "planjson.h"
#include "planner.h"

/* Two owned A100 servers; L4, L40S and A100 instances for sale; models that need several nodes. */
#define FLEET                                                                                      \
    "{\"catalog\": [{\"type\": \"g6.12xlarge\", \"gpus\": {\"L4\": 4}, \"price_per_hour\": 4.6},"  \
    "               {\"type\": \"g6e.12xlarge\", \"gpus\": {\"L40S\": 4}, \"price_per_hour\": 10.5}," \
    "               {\"type\": \"a100x4\", \"gpus\": {\"A100-80GB\": 4}, \"price_per_hour\": 16}]," \
    " \"nodes\": [{\"name\": \"dc-a100-0\", \"gpus\": {\"A100-80GB\": 4}, \"price_per_hour\": 9},"   \
    "           {\"name\": \"dc-a100-1\", \"gpus\": {\"A100-80GB\": 4}, \"price_per_hour\": 9}]}"
#define MANIFEST                                                                                   \
    "{\"models\": ["                                                                               \
    " {\"name\": \"big\", \"memory_bytes\": 60000000000, \"replicas\": 5,"                         \
    "  \"gpu_types\": [\"A100-80GB\"]},"                                                           \
    " {\"name\": \"mid\", \"memory_bytes\": 14000000000, \"replicas\": 9},"                        \
    " {\"name\": \"small\", \"memory_bytes\": 5000000000, \"replicas\": 11, \"spread\": true}]}"

typedef struct fix {
    const char *fleet_path; /* NULL: FLEET */
    plan_manifest *m;
    plan_fleet *f;
    plan_problem *p;
    place_plan *plan;
} fix;

static plan_options opts(double s)
{
    plan_options o;
    plan_options_default(&o);
    o.time_limit_s = s; /* no clock: deterministic effort */
    return o;
}

static plan_fleet *load_fleet(const char *path)
{
    plan_fleet *f = NULL;
    vp_err e = {0};
    if (path ? plan_fleet_load(path, &f, &e) : plan_fleet_parse(FLEET, strlen(FLEET), "fleet.json", &f, &e))
        fail_msg("%s", e.msg);
    return f;
}

static void setup_fix(fix *x)
{
    vp_err e = {0};
    memset(x, 0, sizeof *x);
    if (plan_manifest_parse(MANIFEST, strlen(MANIFEST), "m.json", NULL, &x->m, &e))
        fail_msg("%s", e.msg);
    x->f = load_fleet(NULL);
    if (plan_problem_build(x->m, x->f, &x->p, &e)) fail_msg("%s", e.msg);
    plan_options o = opts(1);
    if (plan_solve(x->p, &o, &x->plan, &e)) fail_msg("solve: %s", e.msg);
    assert_int_equal(x->plan->n_unplaced, 0);
}

static void teardown_fix(fix *x)
{
    place_plan_free(x->plan);
    plan_problem_free(x->p);
    plan_fleet_free(x->f);
    plan_manifest_free(x->m);
}

static bool listed(const char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i], s)) return true;
    return false;
}

static size_t load(const place_plan *plan, size_t i)
{
    return place_node_load(plan, i);
}

static void every_node_gets_one_entry_and_every_lost_replica_is_accounted_for(void **state)
{
    (void)state;
    fix x;
    setup_fix(&x);
    plan_nplus1 nl;
    vp_err e = {0};
    plan_options o = opts(0.5);
    if (plan_nplus1_analyse(x.p, x.plan, &o, &nl, &e)) fail_msg("%s", e.msg);
    assert_int_equal(nl.n, x.plan->n_nodes);
    for (size_t i = 0; i < nl.n; i++) {
        const plan_node_loss *l = &nl.loss[i];
        assert_string_equal(l->node, x.plan->nodes[i].name);
        if (!load(x.plan, i)) {
            assert_int_equal(l->n_replaced + l->n_needs_new_nodes + l->n_unplaced, 0);
            continue;
        }
        for (size_t k = 0; k < x.plan->n_placements; k++) {
            const place_placement *pl = &x.plan->placements[k];
            if ((size_t)pl->node != i) continue;
            /* In spare room, unplaced, or else on a node that had to be bought. */
            if (!listed(l->replaced, l->n_replaced, pl->id) &&
                !listed(l->unplaced, l->n_unplaced, pl->id) && !l->n_needs_new_nodes)
                fail_msg("%s lost: %s is neither re-placed nor unplaced, and nothing is bought",
                         l->node, pl->id);
        }
        if (l->n_needs_new_nodes) assert_true(l->extra_cost_per_hour > 0);
        for (size_t k = 0; k < l->n_needs_new_nodes; k++)
            if (strcmp(l->needs_new_nodes[k], "g6.12xlarge") &&
                strcmp(l->needs_new_nodes[k], "g6e.12xlarge") && strcmp(l->needs_new_nodes[k], "a100x4"))
                fail_msg("%s lost: buys %s, not a type of the catalog", l->node,
                         l->needs_new_nodes[k]);
    }
    /* The tight plan cannot lose a bought node without buying. */
    assert_false(plan_nplus1_survives(&nl));
    plan_nplus1_free(&nl);
    teardown_fix(&x);
}

/* The plan without node `lost`: the same construction the analysis uses is not reused here. */
static place_plan *drop_node(const place_plan *plan, size_t lost)
{
    place_plan *t = place_plan_new();
    int map[64];
    assert_true(plan->n_nodes <= 64);
    for (size_t i = 0; i < plan->n_nodes; i++) {
        map[i] = -1;
        if (i == lost) continue;
        place_node nd = plan->nodes[i];
        nd.n_placed = 0;
        for (int g = 0; g < nd.n_gpus; g++)
            nd.gpus[g].used_bytes = 0;
        map[i] = place_plan_add_node(t, &nd);
    }
    for (size_t k = 0; k < plan->n_placements; k++) {
        const place_placement *pl = &plan->placements[k];
        if ((size_t)pl->node == lost) continue;
        assert_true(place_plan_assign(t, pl->model, pl->replica, pl->stage, pl->n_stages,
                                      map[pl->node], pl->gpus, pl->n_gpus, pl->bytes_per_gpu) >= 0);
    }
    place_plan_update_cost(t);
    return t;
}

/* The fleet without inventory node `name` and with every type capped at what `plan` holds. */
static plan_fleet *fleet_no_buying(const fix *x, const place_plan *plan, const char *name)
{
    plan_fleet *f = load_fleet(x->fleet_path);
    size_t w = 0;
    for (size_t i = 0; i < f->n_nodes; i++)
        if (strcmp(f->nodes[i].name, name)) f->nodes[w++] = f->nodes[i];
    f->n_nodes = w;
    for (size_t t = 0; t < f->n_types; t++) {
        int have = 0;
        for (size_t i = 0; i < plan->n_nodes; i++)
            have += !plan->nodes[i].inventory && !strcmp(plan->nodes[i].type, f->types[t].type);
        f->types[t].max_count = have;
    }
    return f;
}

/* Adds spares, then removes each node in turn and re-places without buying. */
static void check_spares_survive(fix *x, double repair_s)
{
    double plain = x->plan->cost_per_hour;
    size_t added = 0;
    vp_err e = {0};
    plan_options o = opts(repair_s);
    if (plan_add_spare_nodes(x->p, x->plan, &o, &added, &e)) fail_msg("%s", e.msg);
    assert_true(added >= 1);
    assert_true(x->plan->cost_per_hour > plain);
    char why[512];
    if (plan_check(x->p, x->plan, why, sizeof why)) fail_msg("spare plan: %s", why);
    size_t spares = 0;
    for (size_t i = 0; i < x->plan->n_nodes; i++)
        spares += x->plan->nodes[i].spare;
    assert_int_equal(spares, added);

    for (size_t lost = 0; lost < x->plan->n_nodes; lost++) {
        if (!load(x->plan, lost)) continue;
        place_plan *before = drop_node(x->plan, lost);
        plan_fleet *f = fleet_no_buying(x, x->plan, x->plan->nodes[lost].name);
        plan_problem *q = NULL;
        place_plan *after = NULL;
        if (plan_problem_build(x->m, f, &q, &e)) fail_msg("%s", e.msg);
        plan_options r = opts(repair_s);
        if (plan_repair(q, before, &r, &after, NULL, &e)) fail_msg("%s", e.msg);
        if (after->n_unplaced)
            fail_msg("losing %s leaves %zu replicas unplaced (first %s/%u)",
                     x->plan->nodes[lost].name, after->n_unplaced, after->unplaced[0].model,
                     after->unplaced[0].replica);
        place_plan_free(after);
        plan_problem_free(q);
        plan_fleet_free(f);
        place_plan_free(before);
    }
}

static void with_one_spare_node_every_single_loss_re_places_without_buying(void **state)
{
    (void)state;
    fix x;
    setup_fix(&x);
    check_spares_survive(&x, 0.5);
    teardown_fix(&x);
}

/* The README's review pair: pipelined 405B over two owned servers, H100 nodes for the rest. */
static void the_review_example_with_spares_survives_every_single_loss(void **state)
{
    (void)state;
    fix x = {.fleet_path = VP_EXAMPLES "/fleet.json"};
    vp_err e = {0};
    if (plan_manifest_load(VP_EXAMPLES "/review.json", &x.m, &e)) fail_msg("%s", e.msg);
    x.f = load_fleet(x.fleet_path);
    if (plan_problem_build(x.m, x.f, &x.p, &e)) fail_msg("%s", e.msg);
    plan_options o = opts(1);
    if (plan_solve(x.p, &o, &x.plan, &e)) fail_msg("solve: %s", e.msg);
    plan_nplus1 nl;
    o = opts(0.3);
    if (plan_nplus1_analyse(x.p, x.plan, &o, &nl, &e)) fail_msg("%s", e.msg);
    assert_int_equal(nl.n, x.plan->n_nodes);
    plan_nplus1_free(&nl);
    check_spares_survive(&x, 0.3);
    teardown_fix(&x);
}

static void a_spare_node_survives_the_plan_file(void **state)
{
    (void)state;
    fix x;
    setup_fix(&x);
    size_t added = 0;
    vp_err e = {0};
    plan_options o = opts(0.5);
    if (plan_add_spare_nodes(x.p, x.plan, &o, &added, &e)) fail_msg("%s", e.msg);
    char *json = plan_to_json(x.plan);
    assert_non_null(json);
    assert_non_null(strstr(json, "\"spare\":true"));
    place_plan *back = NULL;
    if (plan_from_json(json, strlen(json), "plan.json", &back, &e)) fail_msg("%s", e.msg);
    assert_int_equal(back->n_nodes, x.plan->n_nodes);
    for (size_t i = 0; i < back->n_nodes; i++)
        assert_int_equal(back->nodes[i].spare, x.plan->nodes[i].spare);
    place_plan_update_cost(back);
    assert_true(back->cost_per_hour == x.plan->cost_per_hour);
    place_plan_free(back);
    free(json);
    teardown_fix(&x);
}

static void a_plan_with_its_spares_needs_no_more(void **state)
{
    (void)state;
    const char *m = "{\"models\": [{\"name\": \"s\", \"memory_bytes\": 5000000000, \"replicas\": 2,"
                    " \"spread\": true}]}";
    const char *f = "{\"catalog\": [{\"type\": \"g6.12xlarge\", \"gpus\": {\"L4\": 4},"
                    " \"price_per_hour\": 4.6}]}";
    plan_manifest *mm = NULL;
    plan_fleet *ff = NULL;
    plan_problem *p = NULL;
    place_plan *plan = NULL;
    vp_err e = {0};
    plan_options o = opts(0.5);
    if (plan_manifest_parse(m, strlen(m), "m.json", NULL, &mm, &e) ||
        plan_fleet_parse(f, strlen(f), "f.json", &ff, &e) || plan_problem_build(mm, ff, &p, &e) ||
        plan_solve(p, &o, &plan, &e))
        fail_msg("%s", e.msg);
    size_t added = 9;
    /* Two spread replicas on two nodes: losing one leaves the other node, but spread forbids
     * sharing it, so one spare node is needed; a third replica-free node is the cheapest. */
    if (plan_add_spare_nodes(p, plan, &o, &added, &e)) fail_msg("%s", e.msg);
    assert_int_equal(added, 1);
    size_t again = 9;
    if (plan_add_spare_nodes(p, plan, &o, &again, &e)) fail_msg("%s", e.msg);
    assert_int_equal(again, 0);
    place_plan_free(plan);
    plan_problem_free(p);
    plan_fleet_free(ff);
    plan_manifest_free(mm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_node_gets_one_entry_and_every_lost_replica_is_accounted_for),
        cmocka_unit_test(with_one_spare_node_every_single_loss_re_places_without_buying),
        cmocka_unit_test(the_review_example_with_spares_survives_every_single_loss),
        cmocka_unit_test(a_spare_node_survives_the_plan_file),
        cmocka_unit_test(a_plan_with_its_spares_needs_no_more),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
