/* bench_solvers.c - how close to optimal the planner gets on inputs nobody tuned it for, next to
 * FFD and to CBC on an arc-flow model, all with the same time limit in the same run.
 *
 * Families (seeded; --seed changes every generated instance):
 *   fill      each 80 GiB GPU's capacity cut into 2-6 random pieces, all sizes distinct (bytes),
 *             shuffled: the optimum is the number of GPUs cut, by construction;
 *   triplet   each GPU cut into three pieces between 1/4 and 1/2 of it, all distinct: the same;
 *   distinct  one replica per model, sizes distinct and uniform in 5..50% of a GPU (no known
 *             optimum: a row counts as optimal when the plan meets its proven bound);
 *   hard28    the 28 Hard28 instances (BPPLIB), capacity 1000 units of 1 MiB;
 *   vsbpp     variable-sized bin packing (Crainic, Hemmelmayr) with costs and availability;
 *   catalog   100,000 replicas over 200 model shapes on the built-in catalog: time to the first
 *             plan and its bound, the gap after 1 s and at the end.
 * Each instance becomes a manifest of memory_bytes models and a fleet with one GPU model and a
 * 1-GPU instance type per bin type (gpu_memory_utilization 1.0), so a plan's cost is its bins'
 * cost. Every plan (FFD's and vrampack's) is checked with plan_check. CBC (the Debian `cbc`
 * binary) solves the arc-flow model of the same instance (arcflow.c) when the graph is small
 * enough (sizes in units of 1 MiB or less than 2 million arcs), else vrampack's compact MIP
 * export; the column says which ("af" or "mip").
 *
 * Usage: bench_solvers [--set NAME] [--time-limit SEC] [--seed N] [--per N] [--no-cbc]
 *                      [--quick] [--data DIR] [--only NAME]
 * --only runs the instances whose name contains NAME. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arcflow.h"
#include "planner.h"

#ifndef VP_BENCH_DATA
#define VP_BENCH_DATA "../shared/data"
#endif

#define GPU_BYTES (80ULL << 30)
#define MAX_TYPES 16

typedef struct opts {
    const char *set, *data, *only;
    double tl;
    uint64_t seed;
    int per;
    bool cbc, quick;
} opts;

/* An instance: item sizes (in units of `unit` bytes) with demands, and bin types. */
typedef struct inst {
    char name[64];
    uint64_t *w;
    long *d;
    size_t n;
    uint64_t unit;
    af_bin bins[MAX_TYPES];
    size_t nb;
    double opt; /* NAN when unknown */
} inst;

typedef struct tally {
    int n, opt_vp, opt_ffd, opt_cbc, cbc_runs, worse_than_ffd, bad_bound, invalid, proven;
    double max_ms, sum_gap;
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

/* Progress: when the last improvement of the plan came. */
typedef struct track {
    double t0, last_ms, cost, first_ms, gap_at_1s;
} track;

static int on_progress(const plan_progress *pr, void *ctx)
{
    track *t = ctx;
    double at = now_ms() - t->t0;
    if (pr->cost_per_hour >= 0 && t->first_ms < 0) t->first_ms = at;
    if (pr->cost_per_hour >= 0 && (t->cost < 0 || pr->cost_per_hour < t->cost - 1e-9)) {
        t->cost = pr->cost_per_hour;
        t->last_ms = at;
    }
    if (at <= 1000) t->gap_at_1s = pr->cost_per_hour >= 0 ? pr->gap : -1;
    return 0;
}

static bool have_cbc(void)
{
    return system("command -v cbc >/dev/null 2>&1") == 0;
}

/* Runs cbc on an LP file with a time limit; the objective (NAN when none) and ms. */
static double run_cbc(const char *lp, double tl, double *ms)
{
    char sol[300], cmd[1024];
    snprintf(sol, sizeof sol, "%s.sol", lp);
    remove(sol);
    /* cbc checks its limit only between phases; `timeout` ends it 10 s past the limit. */
    snprintf(cmd, sizeof cmd,
             "timeout -k 2 %.0f cbc '%s' sec %.0f solve solu '%s' >/dev/null 2>&1",
             (tl < 1 ? 1 : tl) + 10, lp, tl < 1 ? 1 : tl, sol);
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

static void inst_free(inst *in)
{
    free(in->w);
    free(in->d);
    memset(in, 0, sizeof *in);
}

/* The instance as manifest and fleet text. */
static void to_json(const inst *in, vp_sb *man, vp_sb *fl)
{
    vp_sb_printf(man, "{\"models\": [");
    for (size_t i = 0; i < in->n; i++)
        vp_sb_printf(man, "%s{\"name\": \"m%zu\", \"memory_bytes\": %llu, \"replicas\": %ld}",
                     i ? "," : "", i, (unsigned long long)(in->w[i] * in->unit), in->d[i]);
    vp_sb_printf(man, "]}");
    vp_sb_printf(fl, "{\"gpu_memory_utilization\": 1.0, \"gpu_models\": [");
    for (size_t t = 0; t < in->nb; t++)
        vp_sb_printf(fl, "%s{\"name\": \"B%zu\", \"memory_bytes\": %llu}", t ? "," : "", t,
                     (unsigned long long)(in->bins[t].cap * in->unit));
    vp_sb_printf(fl, "], \"catalog\": [");
    for (size_t t = 0; t < in->nb; t++) {
        vp_sb_printf(fl, "%s{\"type\": \"bin%zu\", \"gpus\": {\"B%zu\": 1}, \"price_per_hour\": %.6g",
                     t ? "," : "", t, t, in->bins[t].cost);
        if (in->bins[t].avail >= 0) vp_sb_printf(fl, ", \"max_count\": %ld", in->bins[t].avail);
        vp_sb_printf(fl, "}");
    }
    vp_sb_printf(fl, "]}");
}

/* CBC on the arc-flow model, else on vrampack's MIP export. */
static double cbc_column(const opts *o, const inst *in, const plan_problem *p, double *ms,
                         const char **model)
{
    char lp[] = "/tmp/vrampack-bench-XXXXXX", path[64];
    int fd = mkstemp(lp);
    if (fd < 0) return NAN;
    close(fd);
    snprintf(path, sizeof path, "%s.lp", lp);
    double obj = NAN;
    *ms = -1;
    *model = "af";
    long arcs = af_write(path, in->w, in->d, in->n, in->bins, in->nb, 2000000);
    if (arcs <= 0) {
        *model = "mip";
        plan_options xo;
        plan_options_default(&xo);
        xo.solver = PLAN_SOLVER_FFD;
        xo.export_lp = path;
        place_plan *tmp = NULL;
        vp_err e = {0};
        arcs = plan_solve(p, &xo, &tmp, &e) == 0;
        place_plan_free(tmp);
    }
    if (arcs > 0) obj = run_cbc(path, o->tl, ms);
    remove(path);
    remove(lp);
    return obj;
}

static bool same(double a, double b)
{
    return fabs(a - b) <= 1e-6 * (1 + fabs(b));
}

/* Plans one instance with FFD and vrampack (and CBC); prints its row. */
static void bench_one(const opts *o, const inst *in, tally *t)
{
    if (o->only && !strstr(in->name, o->only)) return;
    vp_sb man = {0}, fl = {0};
    to_json(in, &man, &fl);
    vp_err e = {0};
    plan_manifest *m = NULL;
    plan_fleet *f = NULL;
    plan_problem *p = NULL;
    place_plan *ffd = NULL, *best = NULL;
    char why[512] = "";
    if (plan_manifest_parse(vp_sb_str(&man), strlen(vp_sb_str(&man)), in->name, NULL, &m, &e) ||
        plan_fleet_parse(vp_sb_str(&fl), strlen(vp_sb_str(&fl)), in->name, &f, &e) ||
        plan_problem_build(m, f, &p, &e) || plan_ffd(p, &ffd, &e)) {
        printf("%-26s error: %s\n", in->name, e.msg);
        goto out;
    }
    plan_options po;
    plan_options_default(&po);
    po.time_limit_s = o->tl;
    po.clock = clock_cb;
    track tr = {.t0 = now_ms(), .cost = -1, .first_ms = -1};
    po.progress = on_progress;
    po.progress_ctx = &tr;
    if (plan_solve(p, &po, &best, &e)) {
        printf("%-26s error: %s\n", in->name, e.msg);
        goto out;
    }
    double ms = now_ms() - tr.t0;
    bool valid = !plan_check(p, best, why, sizeof why) && !plan_check(p, ffd, why, sizeof why);
    double cbc = NAN, cbc_ms = -1;
    const char *model = "-";
    if (o->cbc) cbc = cbc_column(o, in, p, &cbc_ms, &model);
    bool known = !isnan(in->opt), vp_opt = known ? same(best->cost_per_hour, in->opt)
                                                  : !strcmp(best->status, "optimal");
    t->n++;
    t->opt_vp += vp_opt;
    t->proven += !strcmp(best->status, "optimal");
    t->opt_ffd += known && same(ffd->cost_per_hour, in->opt);
    t->cbc_runs += o->cbc;
    t->opt_cbc += known && !isnan(cbc) && same(cbc, in->opt);
    t->worse_than_ffd += best->cost_per_hour > ffd->cost_per_hour + 1e-9;
    t->bad_bound += known && best->lower_bound_per_hour > in->opt + 1e-6;
    t->invalid += !valid;
    t->sum_gap += best->gap;
    if (ms > t->max_ms) t->max_ms = ms;
    char optb[32] = "-", cbcb[32] = "-";
    if (known) snprintf(optb, sizeof optb, "%.2f", in->opt);
    if (o->cbc) snprintf(cbcb, sizeof cbcb, isnan(cbc) ? "none" : "%.2f", cbc);
    size_t items = 0;
    for (size_t i = 0; i < in->n; i++)
        items += (size_t)in->d[i];
    printf("%-26s %6zu %9.2f %9.2f%s %9.2f %6.2f%% %6.0f %6.0f %9s %9s %6.0f %-3s %s%s%s%s\n",
           in->name, items, ffd->cost_per_hour, best->cost_per_hour, vp_opt ? "*" : " ",
           best->lower_bound_per_hour, 100 * best->gap, tr.last_ms, ms, optb, cbcb, cbc_ms,
           model, best->status, valid ? "" : " INVALID: ", valid ? "" : why,
           best->cost_per_hour > ffd->cost_per_hour + 1e-9 ? " WORSE THAN FFD" : "");
    fflush(stdout);
out:
    place_plan_free(ffd);
    place_plan_free(best);
    plan_problem_free(p);
    plan_fleet_free(f);
    plan_manifest_free(m);
    vp_sb_free(&man);
    vp_sb_free(&fl);
}

/* ---------------------------------------------------------------- generated families */

static uint64_t rng;
static uint64_t rnd64(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint64_t uniform(uint64_t lo, uint64_t hi) /* inclusive */
{
    return lo + rnd64() % (hi - lo + 1);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Pieces of one GPU: k random cuts (fill) or three pieces in (C/4, C/2) (triplet). */
static int cut(bool triplet, uint64_t C, uint64_t *out)
{
    if (triplet) {
        for (;;) {
            uint64_t a = uniform(C / 4 + 1, C / 2 - 1), b = uniform(C / 4 + 1, C / 2 - 1);
            uint64_t c = C - a - b;
            if (c > C / 4 && c < C / 2) {
                out[0] = a, out[1] = b, out[2] = c;
                return 3;
            }
        }
    }
    int k = 2 + (int)(rnd64() % 5);
    uint64_t cuts[8];
    for (int i = 0; i < k - 1; i++)
        cuts[i] = uniform(1, C - 1);
    qsort(cuts, (size_t)(k - 1), sizeof *cuts, cmp_u64);
    uint64_t prev = 0;
    for (int i = 0; i < k - 1; i++)
        out[i] = cuts[i] - prev, prev = cuts[i];
    out[k - 1] = C - prev;
    return k;
}

static bool taken(const uint64_t *w, size_t n, const uint64_t *v, int k)
{
    for (int a = 0; a < k; a++) {
        if (v[a] == 0) return true;
        for (int b = a + 1; b < k; b++)
            if (v[a] == v[b]) return true;
        for (size_t i = 0; i < n; i++)
            if (w[i] == v[a]) return true;
    }
    return false;
}

/* A family instance of about `items` items; all sizes distinct bytes. */
static void generate(const char *family, size_t items, int idx, inst *in)
{
    memset(in, 0, sizeof *in);
    in->unit = 1;
    in->nb = 1;
    in->bins[0] = (af_bin){GPU_BYTES, 1, -1};
    in->w = calloc(items + 8, sizeof *in->w);
    in->d = calloc(items + 8, sizeof *in->d);
    bool distinct = !strcmp(family, "distinct"), triplet = !strcmp(family, "triplet");
    size_t bins = 0;
    while (in->n < items) {
        uint64_t v[8];
        int k = distinct ? 1 : cut(triplet, GPU_BYTES, v);
        if (distinct) v[0] = uniform(GPU_BYTES / 20, GPU_BYTES / 2);
        if (in->n + (size_t)k > items + 7 || taken(in->w, in->n, v, k)) continue;
        for (int a = 0; a < k; a++)
            in->w[in->n] = v[a], in->d[in->n++] = 1;
        bins++;
    }
    for (size_t i = in->n; i-- > 1;) { /* shuffle */
        size_t j = (size_t)(rnd64() % (i + 1));
        uint64_t t = in->w[i];
        in->w[i] = in->w[j];
        in->w[j] = t;
    }
    in->opt = distinct ? NAN : (double)bins;
    snprintf(in->name, sizeof in->name, "%s_%zu_%02d", family, in->n, idx);
}

static void run_family(const opts *o, const char *family, tally *t)
{
    static const size_t sizes[] = {120, 250, 500};
    int per = o->per > 0 ? o->per : (o->quick ? 1 : 7);
    for (size_t s = 0; s < 3; s++)
        for (int i = 0; i < (s == 2 && !o->quick && o->per <= 0 ? per - 1 : per); i++) {
            rng = o->seed * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(s * 1000 + (size_t)i + 1) ^
                  (uint64_t)family[0] << 40;
            for (int w = 0; w < 4; w++)
                rnd64();
            inst in;
            generate(family, sizes[s], i, &in);
            bench_one(o, &in, t);
            inst_free(&in);
        }
}

/* ---------------------------------------------------------------- published instances */

/* A BPPLIB file: n, C, then n sizes. Sizes are grouped into (size, multiplicity). */
static bool read_bpp(const char *path, inst *in)
{
    FILE *f = fopen(path, "r");
    unsigned long n = 0, cap = 0;
    if (!f) return false;
    bool ok = fscanf(f, "%lu %lu", &n, &cap) == 2 && n > 0 && n < 100000;
    uint64_t *w = ok ? malloc(n * sizeof *w) : NULL;
    for (unsigned long i = 0; ok && i < n; i++) {
        unsigned long v;
        ok = w && fscanf(f, "%lu", &v) == 1;
        if (ok) w[i] = v;
    }
    fclose(f);
    if (!ok) {
        free(w);
        return false;
    }
    qsort(w, n, sizeof *w, cmp_u64);
    memset(in, 0, sizeof *in);
    in->w = malloc(n * sizeof *in->w);
    in->d = malloc(n * sizeof *in->d);
    for (unsigned long i = 0; i < n;) {
        unsigned long j = i;
        while (j < n && w[j] == w[i])
            j++;
        in->w[in->n] = w[i];
        in->d[in->n++] = (long)(j - i);
        i = j;
    }
    free(w);
    in->unit = 1ULL << 20;
    in->nb = 1;
    in->bins[0] = (af_bin){cap, 1, -1};
    return true;
}

/* Optimum of a BPPLIB instance from opt.csv (4th column). */
static double bpp_opt(const opts *o, const char *instance)
{
    char path[1024], line[1024];
    snprintf(path, sizeof path, "%s/bpp/opt.csv", o->data);
    FILE *f = fopen(path, "r");
    double opt = NAN;
    size_t il = strlen(instance);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, instance, il) && line[il] == ',') {
            char *c = strchr(line + il + 1, ',');
            c = c ? strchr(c + 1, ',') : NULL;
            if (c) opt = atof(c + 1);
            break;
        }
    if (f) fclose(f);
    return opt;
}

static void run_hard28(const opts *o, tally *t)
{
    char path[1024], line[256];
    snprintf(path, sizeof path, "%s/bpp/opt.csv", o->data);
    FILE *f = fopen(path, "r");
    int done = 0;
    while (f && fgets(line, sizeof line, f) && (!o->quick || done < 2)) {
        if (strncmp(line, "Hard28_", 7)) continue;
        inst in;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)strcspn(line, ","), line);
        snprintf(path, sizeof path, "%s/bpp/hard28/%s.txt", o->data, name);
        if (!read_bpp(path, &in)) {
            printf("%-26s missing %s\n", name, path);
            continue;
        }
        snprintf(in.name, sizeof in.name, "%s", name);
        in.opt = bpp_opt(o, name);
        bench_one(o, &in, t);
        inst_free(&in);
        done++;
    }
    if (f) fclose(f);
}

/* A Delorme-Martinovic file: m, then m lines "cap avail cost", then k, then k "w d". */
static bool read_vsbpp(const char *path, inst *in)
{
    FILE *f = fopen(path, "r");
    int m = 0, k = 0;
    if (!f) return false;
    memset(in, 0, sizeof *in);
    bool ok = fscanf(f, "%d", &m) == 1 && m > 0 && m <= MAX_TYPES;
    for (int i = 0; ok && i < m; i++) {
        unsigned long c, a;
        double cost;
        ok = fscanf(f, "%lu %lu %lf", &c, &a, &cost) == 3;
        in->bins[i] = (af_bin){c, cost, (long)a};
    }
    ok = ok && fscanf(f, "%d", &k) == 1 && k > 0;
    if (ok) {
        in->w = malloc((size_t)k * sizeof *in->w);
        in->d = malloc((size_t)k * sizeof *in->d);
        ok = in->w && in->d;
    }
    for (int i = 0; ok && i < k; i++) {
        unsigned long w, d;
        ok = fscanf(f, "%lu %lu", &w, &d) == 2;
        in->w[i] = w;
        in->d[i] = (long)d;
    }
    fclose(f);
    in->n = ok ? (size_t)k : 0;
    in->nb = (size_t)m;
    in->unit = 1ULL << 20;
    return ok;
}

/* The first proven instance of each family and size in opt_vsbpp.csv. */
static void run_vsbpp(const opts *o, tally *t)
{
    char path[1024], line[1024], last[128] = "";
    snprintf(path, sizeof path, "%s/vsbpp/opt_vsbpp.csv", o->data);
    FILE *f = fopen(path, "r");
    int rows = 0;
    while (f && fgets(line, sizeof line, f) && rows < (o->quick ? 2 : 12)) {
        char file[512], status[32] = "", family[160];
        char *c = strchr(line, ',');
        if (strncmp(line, "dm/", 3) || !c) continue;
        snprintf(file, sizeof file, "%.*s", (int)(c - line), line);
        int n = atoi(c + 1);
        for (int skip = 0; skip < 4 && c; skip++)
            c = strchr(c + 1, ',');
        if (!c || sscanf(c + 1, "%31[^,]", status) != 1 || strcmp(status, "optimal")) continue;
        double opt = atof(strchr(c + 1, ',') + 1);
        snprintf(family, sizeof family, "%.*s%d", (int)(strrchr(file, '/') - file), file, n);
        if (!strcmp(family, last)) continue;
        snprintf(last, sizeof last, "%s", family);
        inst in;
        snprintf(path, sizeof path, "%s/vsbpp/%s", o->data, file);
        if (!read_vsbpp(path, &in)) continue;
        const char *base = strrchr(file, '/') + 1;
        snprintf(in.name, sizeof in.name, "%.*s", (int)strcspn(base, "."), base);
        in.opt = opt;
        bench_one(o, &in, t);
        inst_free(&in);
        rows++;
    }
    if (f) fclose(f);
}

/* ---------------------------------------------------------------- the built-in catalog */

static void catalog_manifest(int replicas, int models, vp_sb *man)
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
    vp_sb_printf(man, "{\"models\": [");
    for (int i = 0; i < models; i++) {
        int r = replicas / models + (i < replicas % models);
        vp_sb_printf(man, "%s{\"name\": \"m%03d\", \"replicas\": %d, ", i ? "," : "", i, r);
        if (i % 5 != 4) { /* measured footprints from 1 to 60 GiB */
            uint64_t mb = 1024 + rnd64() % (60 * 1024 - 1024);
            vp_sb_printf(man, "\"memory_bytes\": %llu}", (unsigned long long)(mb << 20));
            continue;
        }
        unsigned a = (unsigned)(rnd64() % (sizeof archs / sizeof archs[0]));
        vp_sb_printf(man,
                     "\"params\": %llu, \"layers\": %u, \"kv_heads\": %u, \"head_dim\": %u, "
                     "\"hidden\": %u, \"dtype\": \"%s\", \"max_seq_len\": %u, \"max_batch\": %u}",
                     (unsigned long long)archs[a].params, archs[a].layers, archs[a].kv,
                     archs[a].hd, archs[a].hidden, dtypes[rnd64() % 4],
                     2048u << (rnd64() % 3), 1u << (rnd64() % 3));
    }
    vp_sb_printf(man, "]}");
}

static void run_catalog(const opts *o, int replicas, int models)
{
    rng = o->seed * 0x2545F4914F6CDD1DULL ^ (uint64_t)replicas;
    rnd64();
    vp_sb man = {0};
    catalog_manifest(replicas, models, &man);
    vp_err e = {0};
    plan_manifest *m = NULL;
    plan_fleet *f = plan_fleet_builtin();
    plan_problem *p = NULL;
    place_plan *best = NULL;
    double t0 = now_ms();
    if (!f || plan_manifest_parse(vp_sb_str(&man), strlen(vp_sb_str(&man)), "catalog", NULL, &m,
                                  &e) ||
        plan_problem_build(m, f, &p, &e)) {
        printf("catalog: %s\n", e.msg);
        goto out;
    }
    double t_build = now_ms() - t0;
    plan_options po;
    plan_options_default(&po);
    po.time_limit_s = o->tl;
    po.clock = clock_cb;
    track tr = {.t0 = now_ms(), .cost = -1, .first_ms = -1, .gap_at_1s = -1};
    po.progress = on_progress;
    po.progress_ctx = &tr;
    if (plan_solve(p, &po, &best, &e)) {
        printf("catalog: %s\n", e.msg);
        goto out;
    }
    char why[512];
    bool valid = !plan_check(p, best, why, sizeof why);
    char at1[32] = "none (no plan yet)";
    if (tr.gap_at_1s >= 0) snprintf(at1, sizeof at1, "%.2f%%", 100 * tr.gap_at_1s);
    printf("catalog_%dr_%dm: parse+footprints %.0f ms; first plan (FFD + bound) after %.0f ms; gap "
           "at 1 s %s; after %.1f s: $%.2f/h, bound $%.2f/h, gap %.3f%%, %zu nodes, status "
           "%s%s%s\n",
           replicas, models, t_build, tr.first_ms, at1, (now_ms() - tr.t0) / 1000,
           best->cost_per_hour, best->lower_bound_per_hour, 100 * best->gap, best->n_nodes,
           best->status, valid ? ", valid" : ", INVALID: ", valid ? "" : why);
out:
    place_plan_free(best);
    plan_problem_free(p);
    plan_fleet_free(f);
    plan_manifest_free(m);
    vp_sb_free(&man);
}

/* ---------------------------------------------------------------- main */

static void summary(const char *what, const tally *t, bool cbc)
{
    if (!t->n) return;
    printf("  %-9s %3d instances: at the optimum vrampack %d, FFD %d", what, t->n, t->opt_vp,
           t->opt_ffd);
    if (cbc) printf(", CBC %d", t->opt_cbc);
    printf("; proven optimal %d; mean gap %.2f%%; worse than FFD %d; bound above optimum %d; "
           "invalid plans %d; slowest %.1f s\n",
           t->proven, 100 * t->sum_gap / t->n, t->worse_than_ffd, t->bad_bound, t->invalid,
           t->max_ms / 1000);
}

static bool want(const opts *o, const char *set)
{
    return !o->set || !strcmp(o->set, set);
}

static int parse(int argc, char **argv, opts *o)
{
    for (int i = 1; i < argc; i++) {
        bool v = i + 1 < argc;
        if (!strcmp(argv[i], "--quick")) o->quick = true;
        else if (!strcmp(argv[i], "--no-cbc")) o->cbc = false;
        else if (!strcmp(argv[i], "--set") && v) o->set = argv[++i];
        else if (!strcmp(argv[i], "--data") && v) o->data = argv[++i];
        else if (!strcmp(argv[i], "--only") && v) o->only = argv[++i];
        else if (!strcmp(argv[i], "--time-limit") && v) o->tl = atof(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && v) o->seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--per") && v) o->per = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--set fill|triplet|distinct|hard28|vsbpp|catalog] "
                            "[--time-limit SEC] [--seed N] [--per N] [--no-cbc] [--quick] "
                            "[--data DIR] [--only NAME]\n", argv[0]);
            return 2;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    opts o = {.tl = 10, .data = VP_BENCH_DATA, .cbc = true, .seed = 1};
    if (parse(argc, argv, &o)) return 2;
    if (o.quick && o.tl == 10) o.tl = 2;
    if (o.cbc && !have_cbc()) {
        printf("cbc not found: CBC column skipped (apt install coinor-cbc)\n");
        o.cbc = false;
    }
    printf("seed %llu, time limit %.0f s per instance and solver; * = at the known optimum (or, "
           "without one, proven optimal); t_best = ms to the final plan\n\n",
           (unsigned long long)o.seed, o.tl);
    printf("%-26s %6s %9s %10s %9s %7s %6s %6s %9s %9s %6s %-3s %s\n", "instance", "items", "FFD",
           "vrampack", "bound", "gap", "t_best", "ms", "optimum", "CBC", "CBC ms", "mdl", "status");
    static const char *fams[] = {"fill", "triplet", "distinct"};
    tally tf[3] = {{0}}, th = {0}, tv = {0};
    for (int k = 0; k < 3; k++)
        if (want(&o, fams[k])) run_family(&o, fams[k], &tf[k]);
    if (want(&o, "hard28")) run_hard28(&o, &th);
    if (want(&o, "vsbpp")) run_vsbpp(&o, &tv);
    if (want(&o, "catalog")) run_catalog(&o, o.quick ? 10000 : 100000, 200);
    printf("\nsummary:\n");
    for (int k = 0; k < 3; k++)
        summary(fams[k], &tf[k], o.cbc);
    summary("hard28", &th, o.cbc);
    summary("vsbpp", &tv, o.cbc);
    return 0;
}
