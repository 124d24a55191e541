/* bench_kernels.c - the built-in worker's kernels on one device, in one table: copy bandwidth,
 * GEMV and attention bandwidth as a share of it, decode steps against the planner's prediction,
 * and real workers' tokens/s and memory - every figure checked.
 *
 * Design. The driver never touches CUDA itself: each stage (bench_kernels_stages.c,
 * bench_kernels_model.c, bench_kernels_worker.c) runs in a child process that reports its rows
 * on a pipe, so a stage that fails, crashes or leaves the GPU context broken (an illegal address
 * is sticky) costs only its own rows, and every later stage still runs. A pre-flight child says
 * which CUDA the driver supports, which the runtime needs and what the device is; with
 * --backend cuda and no usable device the run stops there with that reason (exit 1). The default
 * backend falls back to the CPU only after saying so on stderr and in the table's title.
 *
 * Exit status: 0 every check passed and every target was met; 1 a check failed (a result
 * outside its tolerance or NaN, a stage that could not run or crashed, a worker over its
 * memory budget); 3 every check passed but a performance target was missed; 2 bad usage. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_kernels.h"

#define MAX_ROWS 256

static bk_row rows[MAX_ROWS];
static unsigned nrows;

/* ---- rows ---- */

bk_row bk_row_new(char kind, const char *stage, const char *name)
{
    bk_row r;
    memset(&r, 0, sizeof r);
    r.kind = kind;
    snprintf(r.stage, sizeof r.stage, "%s", stage);
    snprintf(r.name, sizeof r.name, "%s", name);
    r.ms = r.lat_us = r.gbs = r.pct = r.err = NAN;
    r.check = r.target = -1;
    return r;
}

/* Tabs and newlines would break the line format; names and notes never need them. */
static void clean(char *s)
{
    for (; *s; s++)
        if (*s == '\t' || *s == '\n' || *s == '\r') *s = ' ';
}

void bk_emit(FILE *f, const bk_row *r)
{
    bk_row c = *r;
    clean(c.stage);
    clean(c.name);
    clean(c.note);
    fprintf(f, "%c\t%s\t%s\t%.9g\t%.9g\t%.9g\t%.9g\t%.9g\t%d\t%d\t%s\n", c.kind, c.stage, c.name,
            c.ms, c.lat_us, c.gbs, c.pct, c.err, c.check, c.target, c.note);
    fflush(f);
}

int bk_parse(const char *line, bk_row *r)
{
    char *copy = strdup(line), *save = NULL, *f[11];
    if (!copy) return -1;
    int n = 0;
    for (char *p = copy;; p = NULL) {
        char *t = strtok_r(p, "\t\n", &save);
        if (!t || n == 11) break;
        f[n++] = t;
    }
    /* an empty name or note collapses: re-split keeping empty fields */
    if (n != 11) {
        n = 0;
        strcpy(copy, line);
        char *p = copy;
        while (n < 11) {
            f[n++] = p;
            char *tab = strchr(p, '\t');
            if (!tab) break;
            *tab = '\0';
            p = tab + 1;
        }
        if (n == 11) f[10][strcspn(f[10], "\n")] = '\0';
    }
    int ok = n == 11 && strlen(f[0]) == 1 && strchr("RDIE", f[0][0]);
    if (ok) {
        *r = bk_row_new(f[0][0], f[1], f[2]);
        r->ms = strtod(f[3], NULL);
        r->lat_us = strtod(f[4], NULL);
        r->gbs = strtod(f[5], NULL);
        r->pct = strtod(f[6], NULL);
        r->err = strtod(f[7], NULL);
        r->check = atoi(f[8]);
        r->target = atoi(f[9]);
        snprintf(r->note, sizeof r->note, "%s", f[10]);
    }
    free(copy);
    return ok ? 0 : -1;
}

double bk_rel_err(const float *got, const double *want, uint64_t n)
{
    double num = 0, den = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (!isfinite(got[i]) || !isfinite(want[i])) return NAN;
        double d = (double)got[i] - want[i];
        num += d * d;
        den += want[i] * want[i];
    }
    if (den == 0) return num == 0 ? 0 : NAN;
    return sqrt(num / den);
}

int bk_within(double err, double tol)
{
    return err <= tol; /* false for NaN */
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bk_median(double *v, unsigned n)
{
    if (n == 0) return NAN;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- stages in child processes ---- */

typedef enum stage_id {
    ST_PREFLIGHT,
    ST_COPY,
    ST_GEMV,
    ST_ATTENTION,
    ST_CHECK,
    ST_DECODE,
    ST_WORKER
} stage_id;

static int run_stage(bk_cfg *c, stage_id id, unsigned arg)
{
    switch (id) {
    case ST_PREFLIGHT:
        return bk_stage_preflight(c);
    case ST_COPY:
        return bk_stage_copy(c);
    case ST_GEMV:
        return bk_stage_gemv(c, (kern_dtype)(arg / 2), arg % 2 ? 8u : 1u);
    case ST_ATTENTION:
        return bk_stage_attention(c);
    case ST_CHECK:
        return bk_stage_decode_check(c);
    case ST_DECODE:
        return bk_stage_decode(c, arg);
    case ST_WORKER:
        return bk_stage_worker(c);
    }
    return 1;
}

static void add_row(const bk_row *r)
{
    if (nrows < MAX_ROWS) rows[nrows++] = *r;
}

/* Runs a stage in a child (or in-process with fork_stages 0) and keeps its rows; a child that
 * dies or exits non-zero without saying why adds a failed row of its own. */
static void stage(bk_cfg *c, int fork_stages, const char *label, stage_id id, unsigned arg)
{
    fprintf(stderr, "bench_kernels: %s ...\n", label);
    if (!fork_stages) {
        FILE *tmp = tmpfile();
        if (!tmp) return;
        c->rec = tmp;
        run_stage(c, id, arg);
        rewind(tmp);
        char line[1024];
        bk_row r;
        while (fgets(line, sizeof line, tmp))
            if (bk_parse(line, &r) == 0) add_row(&r);
        fclose(tmp);
        return;
    }
    int fd[2];
    if (pipe(fd) != 0) return;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        c->rec = fdopen(fd[1], "w");
        _exit(c->rec && run_stage(c, id, arg) == 0 ? 0 : 1);
    }
    close(fd[1]);
    FILE *in = pid > 0 ? fdopen(fd[0], "r") : NULL;
    int had_error = 0;
    char line[1024];
    bk_row r;
    while (in && fgets(line, sizeof line, in))
        if (bk_parse(line, &r) == 0) {
            add_row(&r);
            had_error |= r.kind == 'E';
        }
    if (in) fclose(in);
    else close(fd[0]);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid) status = -1;
    if (status != 0 && !had_error) {
        bk_row e = bk_row_new('E', label, "stage");
        if (pid > 0 && WIFSIGNALED(status))
            snprintf(e.note, sizeof e.note, "the stage's process died of signal %d",
                     WTERMSIG(status));
        else
            snprintf(e.note, sizeof e.note, "the stage's process failed (status %d)", status);
        e.check = 0;
        add_row(&e);
    }
}

/* ---- the table ---- */

static void num(char *buf, size_t n, const char *fmt, double v)
{
    if (isnan(v))
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, fmt, v);
}

static const char *mark(int v, const char *yes, const char *no)
{
    return v == 1 ? yes : v == 0 ? no : "-";
}

static void print_rows(char kind)
{
    for (unsigned i = 0; i < nrows; i++) {
        const bk_row *r = &rows[i];
        if (r->kind != kind && !(kind == 'R' && r->kind == 'E')) continue;
        char ms[32], lat[32], gbs[32], pct[32], err[32];
        num(ms, sizeof ms, "%.4f", r->ms);
        num(lat, sizeof lat, "%.1f", r->lat_us);
        num(gbs, sizeof gbs, "%.1f", r->gbs);
        num(pct, sizeof pct, "%.1f%%", r->pct);
        num(err, sizeof err, "%.2g", r->err);
        if (isnan(r->err) && r->check == 0) snprintf(err, sizeof err, "NaN"); /* failed as NaN */
        if (r->kind == 'E') snprintf(err, sizeof err, "-");
        printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r->stage, r->name, ms, lat,
               gbs, pct, err, r->kind == 'E' ? "FAILED" : mark(r->check, "ok", "FAILED"),
               mark(r->target, "met", "MISSED"), r->note);
    }
}

static void print_table(const bk_cfg *c, const char *device, const char *fallback)
{
    printf("## vrampack kernels: %s (%s backend%s%s)\n\n", device, c->gpu ? "cuda" : "cpu",
           fallback ? "; fallback: " : "", fallback ? fallback : "");
    for (unsigned i = 0; i < nrows; i++)
        if (rows[i].kind == 'I') printf("- %s %s: %s\n", rows[i].stage, rows[i].name, rows[i].note);
    printf("\n| stage | case | ms (amortised) | latency us | GB/s | %% of copy | rel. err | check "
           "| target | note |\n|---|---|---|---|---|---|---|---|---|---|\n");
    print_rows('R');
    unsigned details = 0;
    for (unsigned i = 0; i < nrows; i++)
        details += rows[i].kind == 'D';
    if (details) {
        printf("\nGEMV matrices:\n\n| stage | matrix | ms (amortised) | latency us | GB/s | %% of "
               "copy | rel. err | check | target | note |\n|---|---|---|---|---|---|---|---|---|---|"
               "\n");
        print_rows('D');
    }
}

static const char usage[] =
    "usage: bench_kernels [--backend auto|cuda|cpu] [--quick] [--smoke] [--worker PATH]\n"
    "                     [--no-fork] [--inject nan|crash]\n"
    "Measures the decode kernels and the worker on one device and prints one markdown table.\n"
    "Exit 0: all checks passed and targets met; 1: a check failed; 3: a target was missed.\n";

/* vrampack-worker next to the build's bench/ folder, as the build places them. */
static void default_worker(char *buf, size_t n)
{
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) {
        snprintf(buf, n, "vrampack-worker");
        return;
    }
    self[len] = '\0';
    char *slash = strrchr(self, '/');
    if (slash) *slash = '\0';
    snprintf(buf, n, "%s/../vrampack-worker", self);
}

int main(int argc, char **argv)
{
    static char worker[PATH_MAX];
    bk_cfg c;
    memset(&c, 0, sizeof c);
    c.req = KERN_REQ_AUTO;
    default_worker(worker, sizeof worker);
    c.worker = worker;
    int fork_stages = 1;
    static const struct option opts[] = {
        {"backend", required_argument, NULL, 'b'}, {"quick", no_argument, NULL, 'q'},
        {"smoke", no_argument, NULL, 's'},         {"worker", required_argument, NULL, 'w'},
        {"no-fork", no_argument, NULL, 'n'},       {"inject", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'b':
            if (kern_backend_parse(optarg, &c.req)) {
                fprintf(stderr, "bench_kernels: --backend: \"%s\" is not auto, cuda or cpu\n",
                        optarg);
                return 2;
            }
            break;
        case 'q':
            c.quick = 1;
            break;
        case 's':
            c.smoke = c.quick = 1;
            break;
        case 'w':
            snprintf(worker, sizeof worker, "%s", optarg);
            break;
        case 'n':
            fork_stages = 0;
            break;
        case 'i':
            if (strcmp(optarg, "nan") == 0)
                c.inject_nan = 1;
            else if (strcmp(optarg, "crash") == 0)
                c.inject_crash = 1;
            else {
                fprintf(stderr, "bench_kernels: --inject: \"%s\" is not nan or crash\n", optarg);
                return 2;
            }
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bench_kernels: unexpected argument \"%s\"\n%s", argv[optind], usage);
        return 2;
    }

    /* pre-flight: the device, in a child (the driver must not initialise CUDA before forking) */
    const char *fallback = NULL;
    static char device[256], why[256];
    snprintf(device, sizeof device, "cpu");
    if (c.req != KERN_REQ_CPU) {
        if (!kern_cuda_built()) {
            snprintf(why, sizeof why, "the CUDA backend was not built (no CUDA toolkit found)");
        } else {
            stage(&c, fork_stages, "preflight", ST_PREFLIGHT, 0);
            why[0] = '\0';
            for (unsigned i = 0; i < nrows; i++) {
                if (rows[i].kind == 'E') snprintf(why, sizeof why, "%s", rows[i].note);
                if (rows[i].kind == 'I' && !strcmp(rows[i].name, "device"))
                    snprintf(device, sizeof device, "%s", rows[i].note);
            }
            if (!why[0] && !strcmp(device, "cpu")) snprintf(why, sizeof why, "no device found");
        }
        if (why[0]) {
            const char *versions = "";
            for (unsigned i = 0; i < nrows; i++)
                if (rows[i].kind == 'I' && !strcmp(rows[i].name, "versions"))
                    versions = rows[i].note;
            if (c.req == KERN_REQ_CUDA) {
                fprintf(stderr, "bench_kernels: --backend cuda: no usable CUDA device: %s%s%s\n",
                        why, versions[0] ? "; " : "", versions);
                return 1;
            }
            fprintf(stderr,
                    "bench_kernels: no usable CUDA device (%s%s%s): measuring the CPU backend "
                    "instead; the GPU figures are unmeasured\n",
                    why, versions[0] ? "; " : "", versions);
            fallback = why;
            nrows = 0;
        } else {
            c.gpu = 1;
        }
    }
    c.req = c.gpu ? KERN_REQ_CUDA : KERN_REQ_CPU;

    stage(&c, fork_stages, "copy probe", ST_COPY, 0);
    for (unsigned i = 0; i < nrows; i++)
        if (rows[i].kind == 'R' && !strcmp(rows[i].stage, "copy")) c.copy_gbs = rows[i].gbs;
    for (unsigned d = 0; d < 3; d++)
        for (unsigned b = 0; b < 2; b++)
            stage(&c, fork_stages, "gemv", ST_GEMV, d * 2 + b);
    stage(&c, fork_stages, "attention", ST_ATTENTION, 0);
    if (c.gpu) stage(&c, fork_stages, "decode cross-check", ST_CHECK, 0);
    for (unsigned i = 0; i < bk_decode_cases(&c); i++)
        stage(&c, fork_stages, "decode", ST_DECODE, i);
    stage(&c, fork_stages, "worker", ST_WORKER, 0);

    print_table(&c, device, fallback);
    unsigned failed = 0, missed = 0, checked = 0;
    for (unsigned i = 0; i < nrows; i++) {
        failed += rows[i].kind == 'E' || rows[i].check == 0;
        checked += rows[i].check == 1;
        missed += rows[i].target == 0;
    }
    printf("\nchecks: %u passed, %u failed; targets missed: %u%s\n", checked, failed, missed,
           c.gpu ? "" : " (targets apply to GPU runs only)");
    return failed ? 1 : missed ? 3 : 0;
}
