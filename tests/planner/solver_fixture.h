/* solver_fixture.h - packing problems for the solver tests: built by hand (every shape, TP degree
 * and stage size chosen by the test) or read from the classic instances in tests/data.
 *
 * Hand-built problems allocate the same structures plan_problem_build would, so the library's
 * own free functions release them. Header-only and static: each test file is its own program. */
#ifndef SOLVER_FIXTURE_H
#define SOLVER_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>

#include "budget.h"
#include "master.h"
#include "mip.h"
#include "planner.h"
#include "settle.h"
#include "view.h"

#define FX_MAX 16 /* GPU models and bin types */
#define FX_MAX_MODELS 64

/* Not every test program uses every helper. */
#pragma GCC diagnostic ignored "-Wunused-function"

/* Assertions that print both sides. */
#define assert_le(a, b)                                                                          \
    do {                                                                                         \
        double a_ = (double)(a), b_ = (double)(b);                                               \
        if (!(a_ <= b_ + 1e-9 * (1 + fabs(b_))))                                                 \
            fail_msg("expected %s <= %s, got %.9g > %.9g", #a, #b, a_, b_);                      \
    } while (0)
#define assert_near(a, b)                                                                        \
    do {                                                                                         \
        double a_ = (double)(a), b_ = (double)(b);                                               \
        if (!(fabs(a_ - b_) <= 1e-6 * (1 + fabs(b_))))                                           \
            fail_msg("expected %s == %s, got %.9g and %.9g", #a, #b, a_, b_);                    \
    } while (0)

typedef struct fx {
    plan_manifest *m;
    plan_fleet *f;
    plan_problem *p;
    bool parsed; /* built by plan_problem_build from text */
} fx;

static fx *fx_new(void)
{
    fx *x = calloc(1, sizeof *x);
    x->m = calloc(1, sizeof *x->m);
    x->m->models = calloc(FX_MAX_MODELS, sizeof *x->m->models);
    snprintf(x->m->source, sizeof x->m->source, "test manifest");
    x->f = calloc(1, sizeof *x->f);
    x->f->gpus = calloc(FX_MAX, sizeof *x->f->gpus);
    x->f->util_ppm = 1000000;
    snprintf(x->f->source, sizeof x->f->source, "test fleet");
    x->p = calloc(1, sizeof *x->p);
    x->p->manifest = x->m;
    x->p->fleet = x->f;
    x->p->bintypes = calloc(FX_MAX, sizeof *x->p->bintypes);
    x->p->groups = calloc(FX_MAX_MODELS, sizeof *x->p->groups);
    return x;
}

static int fx_gpu(fx *x, const char *name, uint64_t bytes)
{
    plan_gpu_model *g = &x->f->gpus[x->f->n_gpus];
    snprintf(g->name, sizeof g->name, "%s", name);
    g->memory_bytes = bytes;
    g->bandwidth_gbs = 1000;
    return (int)x->f->n_gpus++;
}

/* A purchasable instance type; max_count -1 = unlimited. */
static int fx_bin(fx *x, const char *type, int gpu, int n_gpus, double price, int max_count)
{
    plan_bintype *b = &x->p->bintypes[x->p->n_bintypes];
    snprintf(b->type, sizeof b->type, "%s", type);
    b->gpu = gpu;
    b->n_gpus = n_gpus;
    b->usable_per_gpu = x->f->gpus[gpu].memory_bytes;
    b->price_per_hour = price;
    b->max_count = max_count;
    return (int)x->p->n_bintypes++;
}

/* A node that exists already. */
static int fx_inv(fx *x, const char *name, const char *type, int gpu, int n_gpus, double price)
{
    int b = fx_bin(x, type, gpu, n_gpus, price, 1);
    x->p->bintypes[b].inventory = true;
    snprintf(x->p->bintypes[b].inv_name, sizeof x->p->bintypes[b].inv_name, "%s", name);
    return b;
}

static int fx_model(fx *x, const char *name, uint32_t replicas, bool spread, uint32_t pp)
{
    plan_model *md = &x->m->models[x->m->n_models];
    snprintf(md->name, sizeof md->name, "%s", name);
    md->replicas = replicas;
    md->spread = spread;
    md->fixed = pp == 1;
    plan_group *g = &x->p->groups[x->p->n_groups];
    g->model = x->m->n_models++;
    g->replicas = replicas;
    g->pp = pp;
    g->shapes = calloc(FX_MAX, sizeof *g->shapes);
    return (int)x->p->n_groups++;
}

/* Model `group` may go on bin type `bin` as tp GPUs per stage with these bytes per GPU. */
static void fx_shape(fx *x, int group, int bin, uint32_t tp, const uint64_t *stage_bytes)
{
    plan_group *g = &x->p->groups[group];
    plan_shape *s = &g->shapes[bin];
    s->ok = true;
    s->tp = tp;
    s->pp = g->pp;
    for (uint32_t k = 0; k < g->pp; k++)
        s->stage_bytes[k] = stage_bytes[k];
    s->fp.tp = tp;
    s->fp.pp = g->pp;
    s->fp.per_gpu_bytes = stage_bytes[0];
    s->fp.total_bytes = stage_bytes[0] * tp * g->pp;
}

/* Same bytes on every stage, allowed on every bin type defined so far. */
static void fx_shape_all(fx *x, int group, uint32_t tp, uint64_t bytes)
{
    uint64_t sb[PLAN_MAX_PP];
    for (int k = 0; k < PLAN_MAX_PP; k++)
        sb[k] = bytes;
    for (size_t b = 0; b < x->p->n_bintypes; b++)
        fx_shape(x, group, (int)b, tp, sb);
}

static void fx_free(fx *x)
{
    if (!x) return;
    plan_problem_free(x->p);
    plan_fleet_free(x->f);
    plan_manifest_free(x->m);
    free(x);
}

/* Builds from manifest and fleet text with the library's own parsers. */
static fx *fx_parse(const char *manifest, const char *fleet)
{
    fx *x = calloc(1, sizeof *x);
    vp_err e = {0};
    x->parsed = true;
    if (plan_manifest_parse(manifest, strlen(manifest), "manifest", NULL, &x->m, &e) ||
        plan_fleet_parse(fleet, strlen(fleet), "fleet", &x->f, &e) ||
        plan_problem_build(x->m, x->f, &x->p, &e)) {
        fprintf(stderr, "fixture: %s\n", e.msg);
        fx_free(x);
        return NULL;
    }
    return x;
}

static int fx_cmp_desc(const void *a, const void *b)
{
    unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
    return x < y ? 1 : (x > y ? -1 : 0);
}

/* A classic instance (BPPLIB format) as distinct-size models in MiB on one GPU model of exactly
 * C MiB, gpu_memory_utilization 1.0, a 1-GPU type at $1/hour: the plan's cost is its bins. */
static fx *fx_bpp(const char *file)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/bpp/%s", VP_TEST_DATA, file);
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    unsigned long n = 0, cap = 0;
    if (fscanf(f, "%lu %lu", &n, &cap) != 2 || n == 0 || n > 10000) {
        fclose(f);
        return NULL;
    }
    unsigned long *w = malloc(n * sizeof *w);
    for (unsigned long i = 0; i < n; i++)
        if (fscanf(f, "%lu", &w[i]) != 1) w[i] = 0;
    fclose(f);
    qsort(w, n, sizeof *w, fx_cmp_desc);
    vp_sb man = {0}, fl = {0};
    vp_sb_printf(&man, "{\"models\": [");
    int k = 0;
    for (unsigned long i = 0; i < n;) {
        unsigned long j = i;
        while (j < n && w[j] == w[i])
            j++;
        vp_sb_printf(&man, "%s{\"name\": \"s%lu\", \"memory_bytes\": %llu, \"replicas\": %lu}",
                     k++ ? "," : "", w[i], (unsigned long long)w[i] << 20, j - i);
        i = j;
    }
    vp_sb_printf(&man, "]}");
    vp_sb_printf(&fl,
                 "{\"gpu_memory_utilization\": 1.0, \"gpu_models\": [{\"name\": \"BIN\", "
                 "\"memory_bytes\": %llu}], \"catalog\": [{\"type\": \"bin\", \"gpus\": "
                 "{\"BIN\": 1}, \"price_per_hour\": 1}]}",
                 (unsigned long long)cap << 20);
    fx *x = fx_parse(vp_sb_str(&man), vp_sb_str(&fl));
    vp_sb_free(&man);
    vp_sb_free(&fl);
    free(w);
    return x;
}

/* A variable-cost instance (Delorme & Martinovic format) the same way, one GPU model and
 * instance type per bin type with its cost and availability. */
static fx *fx_vsbpp(const char *file)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/vsbpp/%s", VP_TEST_DATA, file);
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    int m = 0, k = 0;
    vp_sb fl = {0}, man = {0}, cat = {0};
    if (fscanf(f, "%d", &m) != 1 || m <= 0 || m > 16) {
        fclose(f);
        return NULL;
    }
    vp_sb_printf(&fl, "{\"gpu_memory_utilization\": 1.0, \"gpu_models\": [");
    vp_sb_printf(&cat, "\"catalog\": [");
    for (int i = 0; i < m; i++) {
        unsigned long c, a;
        double cost;
        if (fscanf(f, "%lu %lu %lf", &c, &a, &cost) != 3) break;
        vp_sb_printf(&fl, "%s{\"name\": \"B%d\", \"memory_bytes\": %llu}", i ? "," : "", i,
                     (unsigned long long)c << 20);
        vp_sb_printf(&cat,
                     "%s{\"type\": \"bin%d\", \"gpus\": {\"B%d\": 1}, \"price_per_hour\": %g, "
                     "\"max_count\": %lu}",
                     i ? "," : "", i, i, cost, a);
    }
    vp_sb_printf(&fl, "], %s]}", vp_sb_str(&cat));
    if (fscanf(f, "%d", &k) != 1) k = 0;
    vp_sb_printf(&man, "{\"models\": [");
    for (int i = 0; i < k; i++) {
        unsigned long w, d;
        if (fscanf(f, "%lu %lu", &w, &d) != 2) break;
        vp_sb_printf(&man, "%s{\"name\": \"s%d\", \"memory_bytes\": %llu, \"replicas\": %lu}",
                     i ? "," : "", i, (unsigned long long)w << 20, d);
    }
    vp_sb_printf(&man, "]}");
    fclose(f);
    fx *x = fx_parse(vp_sb_str(&man), vp_sb_str(&fl));
    vp_sb_free(&fl);
    vp_sb_free(&man);
    vp_sb_free(&cat);
    return x;
}

/* Every placement of the plan must be valid and every placeable replica placed. */
static int fx_plan_ok(const plan_problem *p, const place_plan *plan, char *why, size_t cap)
{
    if (plan_check(p, plan, why, cap)) return -1;
    size_t want = 0;
    for (size_t g = 0; g < p->n_groups; g++)
        want += (size_t)p->groups[g].replicas * p->groups[g].pp;
    if (plan->n_placements != want) {
        snprintf(why, cap, "%zu placements, %zu wanted", plan->n_placements, want);
        return -1;
    }
    return 0;
}

/* The whole solver as the CLI runs it, without a clock: effort limits make it deterministic. */
static place_plan *fx_solve(const plan_problem *p, plan_solver solver, double tl)
{
    plan_options o;
    plan_options_default(&o);
    o.solver = solver;
    o.time_limit_s = tl;
    place_plan *out = NULL;
    vp_err e = {0};
    int rc = plan_solve(p, &o, &out, &e);
    if (rc) fail_msg("plan_solve: %s", e.msg);
    char why[512];
    if (plan_check(p, out, why, sizeof why)) fail_msg("invalid plan: %s", why);
    return out;
}

/* The compact MIP alone, settled: what `--solver ilp` does before anything else. */
static place_plan *fx_mip(const plan_problem *p, const place_plan *warm, double tl)
{
    plan_options o;
    plan_options_default(&o);
    o.time_limit_s = tl;
    bg_budget b;
    bg_init(&b, &o);
    vw_view v;
    if (vw_init(&v, p)) fail_msg("out of memory");
    mip_args a = {.warm = warm, .max_moves = -1};
    mip_result r;
    vp_err e = {0};
    int rc = mip_solve(&v, &a, &b, &r, &e);
    vw_free(&v);
    if (rc) fail_msg("mip_solve: %s", e.msg);
    if (!r.plan) fail_msg("mip_solve found no plan");
    snprintf(r.plan->solver, sizeof r.plan->solver, "ilp");
    if (plan_settle(p, r.plan, r.bound, "feasible", &e)) fail_msg("plan_settle: %s", e.msg);
    char why[512];
    if (plan_check(p, r.plan, why, sizeof why)) fail_msg("invalid plan: %s", why);
    return r.plan;
}

/* Column generation at the root to the end on a budget of `seconds` without a clock (warm, may
 * be NULL, seeds columns and, when it places everything, gives the master its cost). */
static void fx_root(const plan_problem *p, const place_plan *warm, double seconds, bg_budget *b,
                    vw_view *v, cg_master *m)
{
    plan_options o;
    plan_options_default(&o);
    o.time_limit_s = seconds;
    bg_init(b, &o);
    assert_int_equal(vw_init(v, p), 0);
    vp_err e = {0};
    int rc = cg_init(m, v, NULL, st_quantum(p), &e);
    if (!rc && warm && vw_places_all(v, warm)) m->ub = warm->cost_per_hour;
    if (!rc && warm) rc = cg_seed_plan(m, warm);
    if (!rc) rc = cg_seed_basic(m);
    if (!rc) rc = cg_run(m, b, 1000000, &e);
    if (rc) fail_msg("column generation: %s (%s)", e.msg, vp_strerror(rc));
}

/* The root bound of column generation, rounded as plans are settled. */
static double fx_root_bound(const plan_problem *p, const place_plan *warm, double seconds)
{
    bg_budget b;
    vw_view v;
    cg_master m;
    fx_root(p, warm, seconds, &b, &v, &m);
    double bound = st_round(p, m.bound);
    cg_free(&m);
    vw_free(&v);
    return bound;
}

#endif
