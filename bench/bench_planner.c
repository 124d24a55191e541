/* bench_planner.c - how fast and how good the planner is on large fleets.
 *
 * Generates manifests of N replicas over M distinct models (architectures from 0.5B to 70B
 * parameters in mixed dtypes and context lengths, plus fixed-size embedding models), plans them
 * on the built-in catalog and prints replicas, distinct models, GPUs bought, solve time and the
 * plan's cost against its lower bound. Deterministic: the same seed gives the same manifests.
 * Usage: bench_planner [--quick] | bench_planner --manifest REPLICAS MODELS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "planner.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static double now_ms(void);
static double clock_cb(void *ctx)
{
    (void)ctx;
    return now_ms();
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* Architectures (layers, hidden, kv_heads, head_dim, params) of common open models. */
static const struct { uint32_t layers, hidden, kv, hd; uint64_t params; } archs[] = {
    {24, 896, 2, 64, 494032768ULL},      /* Qwen2-0.5B */
    {16, 2048, 8, 64, 1235814400ULL},    /* Llama-3.2-1B */
    {28, 3072, 8, 128, 3212749824ULL},   /* Llama-3.2-3B */
    {32, 4096, 8, 128, 7241732096ULL},   /* Mistral-7B */
    {32, 4096, 8, 128, 8030261248ULL},   /* Llama-3.1-8B */
    {40, 5120, 8, 128, 13960238080ULL},  /* a 14B */
    {64, 5120, 8, 128, 32763876352ULL},  /* Qwen2.5-32B */
    {80, 8192, 8, 128, 70553706496ULL},  /* Llama-3.1-70B */
};
static const char *dtypes[] = {"bf16", "fp8", "int4", "q4_k_m", "fp16"};

static char *make_manifest(int models, int replicas)
{
    rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)models * 7919u ^ (uint64_t)replicas;
    vp_sb sb = {0};
    vp_sb_printf(&sb, "{\"models\": [");
    int per = replicas / models, extra = replicas % models;
    for (int i = 0; i < models; i++) {
        int r = per + (i < extra);
        vp_sb_printf(&sb, "%s{\"name\": \"m%02d\", \"replicas\": %d, ", i ? "," : "", i, r);
        if (i % 10 == 9) {
            /* embedding / reranker style: measured footprint 1.5..12 GiB */
            uint64_t mb = (1536ULL + next() % 10752ULL) << 20;
            vp_sb_printf(&sb, "\"memory_bytes\": %llu}", (unsigned long long)mb);
            continue;
        }
        unsigned a = next() % (unsigned)VP_ARRAY_LEN(archs);
        vp_sb_printf(&sb,
                     "\"params\": %llu, \"layers\": %u, \"kv_heads\": %u, \"head_dim\": %u, "
                     "\"hidden\": %u, \"dtype\": \"%s\", \"kv_dtype\": \"fp16\", "
                     "\"max_seq_len\": %u, \"max_batch\": %u}",
                     (unsigned long long)archs[a].params, archs[a].layers, archs[a].kv,
                     archs[a].hd, archs[a].hidden, dtypes[next() % 5], 1024u << (next() % 4),
                     1u << (next() % 4));
    }
    vp_sb_printf(&sb, "]}");
    return vp_sb_steal(&sb);
}

static int run(int models, int replicas, plan_solver solver, double tl)
{
    char *json = make_manifest(models, replicas);
    vp_err e = {0};
    plan_manifest *m = NULL;
    plan_fleet *f = plan_fleet_builtin();
    plan_problem *p = NULL;
    place_plan *plan = NULL;
    double t0 = now_ms();
    int rc = plan_manifest_parse(json, strlen(json), "bench", NULL, &m, &e);
    if (!rc) rc = plan_problem_build(m, f, &p, &e);
    double t1 = now_ms();
    plan_options o;
    plan_options_default(&o);
    o.solver = solver;
    o.time_limit_s = tl;
    o.clock = clock_cb;
    if (!rc) rc = plan_solve(p, &o, &plan, &e);
    double t2 = now_ms();
    if (rc) {
        fprintf(stderr, "bench_planner: %s\n", e.msg);
        return 1;
    }
    size_t gpus = 0;
    for (size_t i = 0; i < plan->n_nodes; i++) gpus += (size_t)plan->nodes[i].n_gpus;
    printf("| %8d | %6d | %-4s | %6zu | %5zu | %8.1f | %8.1f | %10.2f | %10.2f | %6.2f%% | %5zu |\n",
           replicas, models, solver == PLAN_SOLVER_FFD ? "ffd" : "auto", gpus, plan->n_nodes,
           t1 - t0, t2 - t1, plan->cost_per_hour, plan->lower_bound_per_hour,
           plan->lower_bound_per_hour > 0
               ? 100.0 * (plan->cost_per_hour / plan->lower_bound_per_hour - 1)
               : 0.0,
           plan->n_unplaced);
    place_plan_free(plan);
    plan_problem_free(p);
    plan_fleet_free(f);
    plan_manifest_free(m);
    free(json);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--manifest")) {
        /* Prints the generated manifest, to look at one case with `vrampack plan --report`. */
        char *m = make_manifest(atoi(argv[3]), atoi(argv[2]));
        puts(m);
        free(m);
        return 0;
    }
    bool quick = argc > 1 && !strcmp(argv[1], "--quick");
    printf("planner benchmark: built-in catalog, deterministic manifests\n"
           "parse ms = manifest parse + footprints; solve ms = packing; over bound = cost / lower "
           "bound - 1\n\n");
    printf("| replicas | models | algo |   GPUs | nodes | parse ms | solve ms |    $/hour "
           "|   bound $/h | over bound | unpl. |\n");
    printf("|---------:|-------:|------|-------:|------:|---------:|---------:|-----------:"
           "|-----------:|-----------:|------:|\n");
    static const int sizes[][2] = {{100, 10}, {1000, 50}, {10000, 50}, {50000, 200}};
    int n = quick ? 3 : 4, bad = 0;
    for (int i = 0; i < n; i++) bad |= run(sizes[i][1], sizes[i][0], PLAN_SOLVER_FFD, 0);
    for (int i = 0; i < n; i++) bad |= run(sizes[i][1], sizes[i][0], PLAN_SOLVER_AUTO, 5.0);
    return bad;
}
