/* bench_solvers.c - how close to optimal the planner gets, against FFD and against CBC on the
 * same MIP, on instances with proven optima.
 *
 * Classic one-dimensional bin packing (Falkenauer uniform and triplets, Hard28, Scholl) becomes a
 * manifest of memory_bytes models (one per distinct size, replicas = multiplicity, sizes in MiB)
 * on a fleet with one GPU model of exactly C MiB, gpu_memory_utilization 1.0 and a 1-GPU
 * instance type at $1/hour, so the plan's cost is its bin count. Variable-cost instances
 * (../shared/data/vsbpp) become one GPU model and instance type per bin type with its cost and
 * availability. A heterogeneous instance puts 10,000 replicas of 50 distinct models (measured
 * footprints and tensor-parallel LLMs) on the built-in catalog. For each: FFD's cost, the
 * planner's cost (`--solver auto` path), its lower bound and gap, the time, and CBC's cost and
 * time on the exported compact MIP with the same time limit (skipped when `cbc` is not found).
 * A row is marked * when the planner's cost equals the known optimum. Deterministic apart from
 * time limits.
 *
 * Usage: bench_solvers [--quick] [--all] [--set NAME] [--time-limit SEC] [--data DIR] [--no-cbc]
 *   --quick   small subset and 2 s per instance (CI)
 *   --all     every triplet instance (80) instead of 5 per size
 *   --set     only one set: triplets, uniform, hard28, scholl, vsbpp, fleet */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "planner.h"

#ifndef VP_BENCH_DATA
#define VP_BENCH_DATA "../shared/data"
#endif

typedef struct opts {
    bool quick, all, cbc;
    const char *set;
    double tl;
    const char *data;
} opts;

typedef struct tally {
    int n, opt_vp, opt_ffd, opt_cbc, cbc_runs;
} tally;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static double clock_cb(void *ctx)
{
    (void)ctx;
    return now_ms();
}

static bool have_cbc(void)
{
    return system("command -v cbc >/dev/null 2>&1") == 0;
}

/* Runs cbc on an LP file with a time limit; returns the objective (NAN when none) and ms. */
static double run_cbc(const char *lp, double tl, double *ms)
{
    char sol[256], cmd[1024];
    snprintf(sol, sizeof sol, "%s.sol", lp);
    remove(sol);
    snprintf(cmd, sizeof cmd, "cbc '%s' timeMode elapsed sec %.0f solve solu '%s' >/dev/null 2>&1",
             lp, tl < 1 ? 1 : tl, sol);
    double t0 = now_ms();
    int st = system(cmd);
    *ms = now_ms() - t0;
    (void)st;
    FILE *f = fopen(sol, "r");
    if (!f) return NAN;
    char line[512] = "";
    double obj = NAN;
    if (fgets(line, sizeof line, f)) {
        char *p = strstr(line, "objective value");
        /* "Stopped on time (no integer solution - continuous used)" is no solution. */
        if (p && !strstr(line, "nfeasible") && !strstr(line, "no integer solution"))
            obj = atof(p + 15);
    }
    fclose(f);
    remove(sol);
    return obj;
}

/* Plans a manifest/fleet pair and prints one row. */
static void bench_one(const opts *o, const char *name, const char *manifest, const char *fleet,
                      size_t items, double known_opt, tally *t)
{
    vp_err e = {0};
    plan_manifest *m = NULL;
    plan_fleet *f = NULL;
    plan_problem *p = NULL;
    place_plan *ffd = NULL, *best = NULL;
    if (plan_manifest_parse(manifest, strlen(manifest), name, NULL, &m, &e) ||
        (fleet ? plan_fleet_parse(fleet, strlen(fleet), name, &f, &e)
               : !(f = plan_fleet_builtin())) ||
        plan_problem_build(m, f, &p, &e) || plan_ffd(p, &ffd, &e)) {
        printf("%-28s error: %s\n", name, e.msg);
        goto out;
    }
    plan_options po;
    plan_options_default(&po);
    po.time_limit_s = o->tl;
    double t0 = now_ms();
    po.clock = clock_cb;
    if (plan_solve(p, &po, &best, &e)) {
        printf("%-28s error: %s\n", name, e.msg);
        goto out;
    }
    double ms = now_ms() - t0;
    char why[256];
    if (place_plan_validate(best, why, sizeof why)) {
        printf("%-28s INVALID PLAN: %s\n", name, why);
        goto out;
    }
    double cbc = NAN, cbc_ms = 0;
    if (o->cbc) {
        char lp[] = "/tmp/vrampack-bench-XXXXXX";
        int fd = mkstemp(lp);
        if (fd >= 0) {
            close(fd);
            char lpf[64];
            snprintf(lpf, sizeof lpf, "%s.lp", lp);
            plan_options xo;
            plan_options_default(&xo);
            xo.solver = PLAN_SOLVER_FFD;
            xo.export_lp = lpf;
            place_plan *tmp = NULL;
            if (plan_solve(p, &xo, &tmp, &e) == 0)
                cbc = run_cbc(lpf, o->tl, &cbc_ms);
            else
                cbc_ms = -1; /* too large to write out */
            place_plan_free(tmp);
            remove(lpf);
            remove(lp);
        }
    }
    bool bad_bound = !isnan(known_opt) && best->lower_bound_per_hour > known_opt + 1e-6;
    bool vp_opt = !isnan(known_opt) && fabs(best->cost_per_hour - known_opt) < 1e-6;
    t->n++;
    t->opt_vp += vp_opt;
    t->opt_ffd += !isnan(known_opt) && fabs(ffd->cost_per_hour - known_opt) < 1e-6;
    if (o->cbc) {
        t->cbc_runs++;
        t->opt_cbc += !isnan(known_opt) && !isnan(cbc) && fabs(cbc - known_opt) < 1e-6;
    }
    char optbuf[32] = "-", cbcbuf[32] = "-", cbcms[32] = "-";
    if (!isnan(known_opt)) snprintf(optbuf, sizeof optbuf, "%.2f", known_opt);
    if (o->cbc) {
        if (!isnan(cbc))
            snprintf(cbcbuf, sizeof cbcbuf, "%.2f", cbc);
        else
            snprintf(cbcbuf, sizeof cbcbuf, "%s", cbc_ms < 0 ? "too big" : "none");
        if (cbc_ms >= 0) snprintf(cbcms, sizeof cbcms, "%.0f", cbc_ms);
    }
    printf("%-28s %6zu %10.2f %10.2f%s %10.2f %6.2f%% %7.0f %9s %9s %8s  %s%s\n", name, items,
           ffd->cost_per_hour, best->cost_per_hour, vp_opt ? "*" : " ", best->lower_bound_per_hour,
           100.0 * best->gap, ms, optbuf, cbcbuf, cbcms, best->status,
           bad_bound ? "  BOUND ABOVE OPTIMUM" : "");
    fflush(stdout);
out:
    place_plan_free(ffd);
    place_plan_free(best);
    plan_problem_free(p);
    plan_fleet_free(f);
    plan_manifest_free(m);
}

/* ---- classic bin packing ---- */

static int cmp_u64_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : (x > y ? -1 : 0);
}

static void bench_bpp(const opts *o, const char *rel, const char *name, double opt, tally *t)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/bpp/%s", o->data, rel);
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("%-28s missing %s\n", name, path);
        return;
    }
    unsigned long n = 0, cap = 0;
    if (fscanf(f, "%lu %lu", &n, &cap) != 2 || n == 0 || n > 100000) {
        fclose(f);
        printf("%-28s unreadable\n", name);
        return;
    }
    uint64_t *w = malloc(n * sizeof *w);
    size_t k = 0;
    while (w && k < n && fscanf(f, "%lu", (unsigned long *)&w[k]) == 1)
        k++;
    fclose(f);
    if (!w || k != n) {
        free(w);
        printf("%-28s short file\n", name);
        return;
    }
    qsort(w, n, sizeof *w, cmp_u64_desc);
    vp_sb man = {0}, fl = {0};
    vp_sb_printf(&man, "{\"models\": [");
    int models = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && w[j] == w[i])
            j++;
        vp_sb_printf(&man, "%s{\"name\": \"s%lu\", \"memory_bytes\": %llu, \"replicas\": %zu}",
                     models++ ? "," : "", (unsigned long)w[i], (unsigned long long)(w[i] << 20),
                     j - i);
        i = j;
    }
    vp_sb_printf(&man, "]}");
    vp_sb_printf(&fl,
                 "{\"gpu_memory_utilization\": 1.0, \"gpu_models\": [{\"name\": \"BIN\", "
                 "\"memory_bytes\": %llu}], \"catalog\": [{\"type\": \"bin\", \"gpus\": "
                 "{\"BIN\": 1}, \"price_per_hour\": 1}]}",
                 (unsigned long long)((uint64_t)cap << 20));
    bench_one(o, name, vp_sb_str(&man), vp_sb_str(&fl), n, opt, t);
    vp_sb_free(&man);
    vp_sb_free(&fl);
    free(w);
}

/* Known optimum of a BPPLIB instance from opt.csv. */
static double bpp_opt(const opts *o, const char *instance)
{
    char path[1024], line[1024];
    snprintf(path, sizeof path, "%s/bpp/opt.csv", o->data);
    FILE *f = fopen(path, "r");
    if (!f) return NAN;
    double opt = NAN;
    size_t il = strlen(instance);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, instance, il) && line[il] == ',') {
            char *c = strchr(line + il + 1, ',');
            c = c ? strchr(c + 1, ',') : NULL;
            if (c) opt = atof(c + 1);
            break;
        }
    fclose(f);
    return opt;
}

static void run_bpp_set(const opts *o, const char *dir, const char *prefix, const char **sizes,
                        int nsizes, int per, tally *t)
{
    for (int s = 0; s < nsizes; s++)
        for (int i = 0; i < per; i++) {
            char inst[128], rel[256];
            snprintf(inst, sizeof inst, "%s%s_%02d", prefix, sizes[s], i);
            snprintf(rel, sizeof rel, "%s/%s.txt", dir, inst);
            bench_bpp(o, rel, inst, bpp_opt(o, inst), t);
        }
}

static void run_named(const opts *o, const char *dir, const char **names, int n, tally *t)
{
    for (int i = 0; i < n; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "%s/%s.txt", dir, names[i]);
        bench_bpp(o, rel, names[i], bpp_opt(o, names[i]), t);
    }
}

/* ---- variable-cost bin packing ---- */

static void bench_vsbpp(const opts *o, const char *rel, double opt, tally *t)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/vsbpp/%s", o->data, rel);
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("%-28s missing %s\n", rel, path);
        return;
    }
    const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)(strcspn(base, ".")), base);
    int m = 0;
    if (fscanf(f, "%d", &m) != 1 || m <= 0 || m > 64) {
        fclose(f);
        return;
    }
    vp_sb fl = {0}, man = {0};
    vp_sb_printf(&fl, "{\"gpu_memory_utilization\": 1.0, \"gpu_models\": [");
    unsigned long capv[64], availv[64];
    double costv[64];
    for (int i = 0; i < m; i++) {
        if (fscanf(f, "%lu %lu %lf", &capv[i], &availv[i], &costv[i]) != 3) {
            fclose(f);
            vp_sb_free(&fl);
            return;
        }
        vp_sb_printf(&fl, "%s{\"name\": \"B%d\", \"memory_bytes\": %llu}", i ? "," : "", i,
                     (unsigned long long)((uint64_t)capv[i] << 20));
    }
    vp_sb_printf(&fl, "], \"catalog\": [");
    for (int i = 0; i < m; i++)
        vp_sb_printf(&fl,
                     "%s{\"type\": \"bin%d\", \"gpus\": {\"B%d\": 1}, \"price_per_hour\": %.6g, "
                     "\"max_count\": %lu}",
                     i ? "," : "", i, i, costv[i], availv[i]);
    vp_sb_printf(&fl, "]}");
    int k = 0;
    size_t items = 0;
    if (fscanf(f, "%d", &k) != 1 || k <= 0) {
        fclose(f);
        vp_sb_free(&fl);
        return;
    }
    vp_sb_printf(&man, "{\"models\": [");
    for (int i = 0; i < k; i++) {
        unsigned long w, d;
        if (fscanf(f, "%lu %lu", &w, &d) != 2) break;
        vp_sb_printf(&man, "%s{\"name\": \"s%d_%lu\", \"memory_bytes\": %llu, \"replicas\": %lu}",
                     i ? "," : "", i, w, (unsigned long long)((uint64_t)w << 20), d);
        items += d;
    }
    vp_sb_printf(&man, "]}");
    fclose(f);
    bench_one(o, name, vp_sb_str(&man), vp_sb_str(&fl), items, opt, t);
    vp_sb_free(&fl);
    vp_sb_free(&man);
}

static void run_vsbpp(const opts *o, int max_rows, tally *t)
{
    char path[1024], line[1024];
    snprintf(path, sizeof path, "%s/vsbpp/opt_vsbpp.csv", o->data);
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("vsbpp: missing %s\n", path);
        return;
    }
    int rows = 0;
    /* A spread of sets: the first optimal instances of each family and size. */
    char last_family[128] = "";
    int in_family = 0;
    while (fgets(line, sizeof line, f) && rows < max_rows) {
        if (strncmp(line, "dm/", 3) != 0) continue;
        char file[512];
        int n = 0;
        char status[32];
        double opt = NAN;
        char *c = strchr(line, ',');
        if (!c) continue;
        snprintf(file, sizeof file, "%.*s", (int)(c - line), line);
        n = atoi(c + 1);
        for (int skip = 0; skip < 4 && c; skip++)
            c = strchr(c + 1, ',');
        if (!c) continue;
        sscanf(c + 1, "%31[^,]", status);
        c = strchr(c + 1, ',');
        if (!c || strcmp(status, "optimal") != 0) continue;
        opt = atof(c + 1);
        /* family = path up to the last '_' + size */
        char family[128];
        snprintf(family, sizeof family, "%.*s%d", (int)(strchr(file + 3, '/') - file), file, n);
        if (strcmp(family, last_family) != 0) {
            snprintf(last_family, sizeof last_family, "%s", family);
            in_family = 0;
        }
        if (in_family++ >= 1) continue;
        bench_vsbpp(o, file, opt, t);
        rows++;
    }
    fclose(f);
}

/* ---- heterogeneous fleet on the built-in catalog ---- */

static uint64_t rng_state;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static void bench_fleet(const opts *o, int replicas, int models, tally *t)
{
    static const struct {
        uint32_t layers, hidden, kv, hd;
        uint64_t params;
    } archs[] = {
        {16, 2048, 8, 64, 1235814400ULL},   /* Llama-3.2-1B */
        {28, 3072, 8, 128, 3212749824ULL},  /* Llama-3.2-3B */
        {32, 4096, 8, 128, 8030261248ULL},  /* Llama-3.1-8B */
        {40, 5120, 8, 128, 13960238080ULL}, /* a 14B */
        {64, 5120, 8, 128, 32763876352ULL}, /* Qwen2.5-32B */
        {80, 8192, 8, 128, 70553706496ULL}, /* Llama-3.1-70B */
    };
    static const char *dtypes[] = {"bf16", "fp8", "int4", "fp16"};
    rng_state = 0x2545F4914F6CDD1DULL ^ (uint64_t)replicas * 31u ^ (uint64_t)models;
    vp_sb man = {0};
    vp_sb_printf(&man, "{\"models\": [");
    int per = replicas / models, extra = replicas % models;
    for (int i = 0; i < models; i++) {
        int r = per + (i < extra);
        vp_sb_printf(&man, "%s{\"name\": \"m%02d\", \"replicas\": %d, ", i ? "," : "", i, r);
        if (i % 5 != 4) {
            /* measured footprints from 1 to 60 GiB */
            uint64_t mb = 1024ULL + rnd() % (60ULL * 1024 - 1024);
            vp_sb_printf(&man, "\"memory_bytes\": %llu}", (unsigned long long)(mb << 20));
            continue;
        }
        unsigned a = rnd() % (unsigned)(sizeof archs / sizeof archs[0]);
        vp_sb_printf(&man,
                     "\"params\": %llu, \"layers\": %u, \"kv_heads\": %u, \"head_dim\": %u, "
                     "\"hidden\": %u, \"dtype\": \"%s\", \"max_seq_len\": %u, \"max_batch\": %u}",
                     (unsigned long long)archs[a].params, archs[a].layers, archs[a].kv, archs[a].hd,
                     archs[a].hidden, dtypes[rnd() % 4], 2048u << (rnd() % 3), 1u << (rnd() % 3));
    }
    vp_sb_printf(&man, "]}");
    char name[64];
    snprintf(name, sizeof name, "catalog-%dr-%dm", replicas, models);
    bench_one(o, name, vp_sb_str(&man), NULL, (size_t)replicas, NAN, t);
    vp_sb_free(&man);
}

static bool want(const opts *o, const char *set)
{
    return !o->set || !strcmp(o->set, set);
}

static void summary(const char *what, const tally *t, bool cbc)
{
    if (!t->n) return;
    printf("  %s: %d instances; optimal: vrampack %d, FFD %d", what, t->n, t->opt_vp, t->opt_ffd);
    if (cbc) printf(", CBC %d", t->opt_cbc);
    printf("\n");
}

int main(int argc, char **argv)
{
    opts o = {.tl = 10, .data = VP_BENCH_DATA, .cbc = true};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            o.quick = true;
        else if (!strcmp(argv[i], "--all"))
            o.all = true;
        else if (!strcmp(argv[i], "--no-cbc"))
            o.cbc = false;
        else if (!strcmp(argv[i], "--set") && i + 1 < argc)
            o.set = argv[++i];
        else if (!strcmp(argv[i], "--data") && i + 1 < argc)
            o.data = argv[++i];
        else if (!strcmp(argv[i], "--time-limit") && i + 1 < argc)
            o.tl = atof(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: %s [--quick] [--all] [--set triplets|uniform|hard28|scholl|"
                    "vsbpp|fleet] [--time-limit SEC] [--data DIR] [--no-cbc]\n",
                    argv[0]);
            return 2;
        }
    }
    if (o.quick && o.tl == 10) o.tl = 2;
    if (o.cbc && !have_cbc()) {
        printf("cbc not found: CBC columns skipped (apt install coinor-cbc)\n");
        o.cbc = false;
    }
    printf("time limit %.0f s per instance and solver; * = planner cost equals the known "
           "optimum\n\n",
           o.tl);
    printf("%-28s %6s %10s %11s %10s %7s %7s %9s %9s %8s  %s\n", "instance", "items", "FFD",
           "vrampack", "bound", "gap", "ms", "optimum", "CBC", "CBC ms", "status");
    tally tt = {0}, tu = {0}, th = {0}, ts = {0}, tv = {0}, tf = {0};
    int per = o.quick ? 1 : (o.all ? 20 : 5);
    if (want(&o, "triplets")) {
        static const char *sizes[] = {"60", "120", "249", "501"};
        run_bpp_set(&o, "falkenauer_t", "Falkenauer_t", sizes, o.quick ? 2 : 4, per, &tt);
    }
    if (want(&o, "uniform")) {
        static const char *sizes[] = {"120", "250"};
        run_bpp_set(&o, "falkenauer_u", "Falkenauer_u", sizes, o.quick ? 1 : 2, o.quick ? 1 : 3,
                    &tu);
    }
    if (want(&o, "hard28")) {
        static const char *h[] = {"Hard28_BPP13", "Hard28_BPP14", "Hard28_BPP40", "Hard28_BPP60"};
        run_named(&o, "hard28", h, o.quick ? 1 : 4, &th);
    }
    if (want(&o, "scholl")) {
        static const char *s1[] = {"N1C1W1_A", "N2C2W2_B", "N3C3W4_C", "N4C1W1_D"};
        static const char *s2[] = {"N1W1B1R0", "N3W2B2R1"};
        static const char *s3[] = {"HARD0"};
        run_named(&o, "scholl_1", s1, o.quick ? 1 : 4, &ts);
        if (!o.quick) {
            run_named(&o, "scholl_2", s2, 2, &ts);
            run_named(&o, "scholl_3", s3, 1, &ts);
        }
    }
    if (want(&o, "vsbpp")) run_vsbpp(&o, o.quick ? 2 : 8, &tv);
    if (want(&o, "fleet")) {
        if (o.quick)
            bench_fleet(&o, 1000, 20, &tf);
        else
            bench_fleet(&o, 10000, 50, &tf);
    }
    printf("\nsolved to the known optimum:\n");
    summary("triplets", &tt, o.cbc);
    summary("uniform", &tu, o.cbc);
    summary("hard28", &th, o.cbc);
    summary("scholl", &ts, o.cbc);
    summary("vsbpp", &tv, o.cbc);
    return 0;
}
