/* report_fixture.h - plans for the report tests, from the real pipeline: manifest text, the
 * built-in or a given fleet, plan_ffd, and both baselines; plus assertions that print both sides.
 * Header-only and static: each test file is its own program. */
#ifndef REPORT_FIXTURE_H
#define REPORT_FIXTURE_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

/* Not every test program uses every helper. */
#pragma GCC diagnostic ignored "-Wunused-function"

/* Eight 10 GiB replicas and an 8B chat model: they share GPUs when packed. */
#define SHARED_MANIFEST                                                                            \
    "{\"models\": ["                                                                               \
    " {\"name\": \"embed\", \"memory_bytes\": 10737418240, \"replicas\": 8},"                      \
    " {\"name\": \"chat\", \"params\": 8030261248, \"layers\": 32, \"kv_heads\": 8,"               \
    "  \"head_dim\": 128, \"dtype\": \"bf16\", \"max_seq_len\": 4096, \"max_batch\": 4}]}"

typedef struct run {
    plan_manifest *m;
    plan_fleet *f;
    plan_problem *p;
    place_plan *plan;
    plan_baselines b;
} run;

static void solve_with(run *r, plan_manifest *m, plan_fleet *f)
{
    vp_err e = {0};
    r->m = m;
    r->f = f;
    if (plan_problem_build(r->m, r->f, &r->p, &e)) fail_msg("problem: %s", e.msg);
    if (plan_ffd(r->p, &r->plan, &e)) fail_msg("ffd: %s", e.msg);
    if (plan_baselines_compute(r->p, &r->b, &e)) fail_msg("baselines: %s", e.msg);
}

static plan_manifest *parse_manifest(const char *text)
{
    vp_err e = {0};
    plan_manifest *m = NULL;
    if (plan_manifest_parse(text, strlen(text), "review.json", VP_TEST_DATA "/manifests", &m, &e))
        fail_msg("manifest: %s", e.msg);
    return m;
}

static void solve(run *r, const char *manifest)
{
    memset(r, 0, sizeof *r);
    plan_fleet *f = plan_fleet_builtin();
    assert_non_null(f);
    solve_with(r, parse_manifest(manifest), f);
}

static void done(run *r)
{
    plan_baselines_free(&r->b);
    place_plan_free(r->plan);
    plan_problem_free(r->p);
    plan_fleet_free(r->f);
    plan_manifest_free(r->m);
}

static char *render(const run *r, plan_report_fmt fmt)
{
    char *s = plan_report(r->p, r->plan, &r->b, fmt);
    assert_non_null(s);
    return s;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle)) fail_msg("\"%s\" not found in:\n%s", needle, hay);
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(it)) fail_msg("key \"%s\" missing or not a number", key);
    return it->valuedouble;
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(it)) fail_msg("key \"%s\" missing or not a string", key);
    return it->valuestring;
}

static const cJSON *arr(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsArray(it)) fail_msg("key \"%s\" missing or not an array", key);
    return it;
}

static void assert_close(double a, double b)
{
    if (fabs(a - b) > 1e-9 * (fabs(a) + fabs(b) + 1)) fail_msg("%.12f != %.12f", a, b);
}

static plan_fleet *parse_fleet(const char *text)
{
    vp_err e = {0};
    plan_fleet *f = NULL;
    if (plan_fleet_parse(text, strlen(text), "fleet.json", &f, &e)) fail_msg("fleet: %s", e.msg);
    return f;
}

static void assert_absent(const char *hay, const char *needle)
{
    if (strstr(hay, needle)) fail_msg("\"%s\" unexpectedly found in:\n%s", needle, hay);
}

#endif
