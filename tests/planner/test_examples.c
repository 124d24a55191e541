/* test_examples.c - every manifest shipped in examples/ plans on every fleet shipped there and on
 * the built-in catalog, with every solver, and each plan keeps every rule of its problem
 * (plan_check: capacity, TP, stages, spread, allow-lists, max_count, cost and bound).
 *
 * Files are told apart by their top-level keys: a manifest has "models", a fleet has "catalog"
 * or "nodes". A new example file is picked up without touching this test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "planner.h"
#include "vp_json.h"

#define MAX_FILES 64

typedef struct examples {
    char manifests[MAX_FILES][512];
    int n_manifests;
    char fleets[MAX_FILES][512]; /* "" = the built-in catalog */
    int n_fleets;
} examples;

static int cmp_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void find_examples(examples *x)
{
    memset(x, 0, sizeof *x);
    DIR *d = opendir(VP_EXAMPLES);
    if (!d) fail_msg("cannot open %s", VP_EXAMPLES);
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".json")) continue;
        char path[512], *buf = NULL;
        size_t len = 0;
        vp_err e = {0};
        snprintf(path, sizeof path, "%s/%s", VP_EXAMPLES, de->d_name);
        if (vp_read_file(path, PLAN_MAX_FILE_BYTES, &buf, &len, &e)) fail_msg("%s", e.msg);
        if (strstr(buf, "\"models\"") && x->n_manifests < MAX_FILES)
            snprintf(x->manifests[x->n_manifests++], 512, "%s", path);
        else if ((strstr(buf, "\"catalog\"") || strstr(buf, "\"nodes\"")) &&
                 x->n_fleets < MAX_FILES)
            snprintf(x->fleets[x->n_fleets++], 512, "%s", path);
        free(buf);
    }
    closedir(d);
    qsort(x->manifests, (size_t)x->n_manifests, sizeof x->manifests[0], cmp_name);
    qsort(x->fleets, (size_t)x->n_fleets, sizeof x->fleets[0], cmp_name);
    x->fleets[x->n_fleets++][0] = '\0';
}

static double clock_ms(void *ctx)
{
    (void)ctx;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Plans one pair with one solver; returns the number of broken rules (0 or 1) and prints why. */
static int plan_pair(const char *manifest, const char *fleet, plan_solver solver)
{
    static const char *names[] = {"auto", "ffd", "ilp"};
    vp_err e = {0};
    plan_manifest *m = NULL;
    plan_fleet *f = NULL;
    plan_problem *p = NULL;
    place_plan *plan = NULL;
    int bad = 0;
    char why[512] = "";
    if (plan_manifest_load(manifest, &m, &e) ||
        (fleet[0] ? plan_fleet_load(fleet, &f, &e) : !(f = plan_fleet_builtin())) ||
        plan_problem_build(m, f, &p, &e)) {
        snprintf(why, sizeof why, "input: %s", e.msg);
        bad = 1;
        goto out;
    }
    plan_options o;
    plan_options_default(&o);
    o.solver = solver;
    o.time_limit_s = 1;
    o.clock = clock_ms;
    if (plan_solve(p, &o, &plan, &e)) {
        snprintf(why, sizeof why, "plan_solve: %s", e.msg);
        bad = 1;
        goto out;
    }
    if (plan_check(p, plan, why, sizeof why)) bad = 1;
    printf("%-44s %-24s %-4s $%9.2f bound $%9.2f %zu unplaced %s\n", manifest + strlen(VP_EXAMPLES) + 1,
           fleet[0] ? fleet + strlen(VP_EXAMPLES) + 1 : "built-in catalog", names[solver],
           plan->cost_per_hour, plan->lower_bound_per_hour, plan->n_unplaced, plan->status);
out:
    if (bad)
        printf("FAIL %s on %s with %s: %s\n", manifest, fleet[0] ? fleet : "built-in catalog",
               names[solver], why);
    place_plan_free(plan);
    plan_problem_free(p);
    plan_fleet_free(f);
    plan_manifest_free(m);
    return bad;
}

static void every_pair(plan_solver solver)
{
    examples x;
    find_examples(&x);
    if (x.n_manifests < 2 || x.n_fleets < 2)
        fail_msg("found %d manifests and %d fleets (with the built-in catalog) in %s; expected at "
                 "least 2 and 2",
                 x.n_manifests, x.n_fleets, VP_EXAMPLES);
    int bad = 0;
    for (int i = 0; i < x.n_manifests; i++)
        for (int j = 0; j < x.n_fleets; j++)
            bad += plan_pair(x.manifests[i], x.fleets[j], solver);
    if (bad) fail_msg("%d of %d plans broke a rule", bad, x.n_manifests * x.n_fleets);
}

static void every_example_plans_on_every_fleet_with_ffd(void **state)
{
    (void)state;
    every_pair(PLAN_SOLVER_FFD);
}

static void every_example_plans_on_every_fleet_with_auto(void **state)
{
    (void)state;
    every_pair(PLAN_SOLVER_AUTO);
}

static void every_example_plans_on_every_fleet_with_ilp(void **state)
{
    (void)state;
    every_pair(PLAN_SOLVER_ILP);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_example_plans_on_every_fleet_with_ffd),
        cmocka_unit_test(every_example_plans_on_every_fleet_with_auto),
        cmocka_unit_test(every_example_plans_on_every_fleet_with_ilp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
