/* bench_kernels_stages.c - the kernels benchmark's measurements: copy probe, GEMV, paged
 * attention, decode steps and their CPU cross-checks. The worker stage is in bench_kernels_worker.c.
 *
 * Method. Every timed kernel reads pseudo-random data (never zeros) from copies rotated so their
 * total exceeds the last-level cache (1 GiB on a GPU), so the figures are memory, not cache. The
 * time column is launch-amortised: after warm-up, N launches back to back (each on the next copy)
 * between two device events, divided by N; the latency column is one launch alone, from the host
 * call to its completion. Every result is checked: against a double-precision reference computed
 * here from the format's definition (on sampled rows), and on CUDA also against the CPU twin over
 * every output, with KERN_TOL_REL as the bound and NaN always failing. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_kernels.h"
#include "kern_impl.h"

#define GiB (1ull << 30)
#define MiB (1ull << 20)

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static uint64_t up(uint64_t v)
{
    return (v + KERN_ALIGN - 1) / KERN_ALIGN * KERN_ALIGN;
}

/* An 'E' row: the stage could not run (its other rows, if any, stand). */
static int stage_error(bk_cfg *c, const char *stage, const char *what, const vp_err *e)
{
    bk_row r = bk_row_new('E', stage, what);
    snprintf(r.note, sizeof r.note, "%s", e->msg);
    r.check = 0;
    bk_emit(c->rec, &r);
    return 1;
}

#define TRY(stage, what, call)                                                                     \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_) return stage_error(c, stage, what, &e);                                           \
    } while (0)

int bk_stage_preflight(bk_cfg *c)
{
    vp_err e = {0};
    kern_cuda_info info;
    int rc = kern_cuda_describe(&info, &e);
    bk_row r = bk_row_new('I', "preflight", "versions");
    if (info.driver_version == 0)
        snprintf(r.note, sizeof r.note, "no CUDA driver found, runtime is CUDA %d.%d",
                 info.runtime_version / 1000, info.runtime_version % 1000 / 10);
    else
        snprintf(r.note, sizeof r.note, "driver supports CUDA %d.%d, runtime is CUDA %d.%d",
                 info.driver_version / 1000, info.driver_version % 1000 / 10,
                 info.runtime_version / 1000, info.runtime_version % 1000 / 10);
    bk_emit(c->rec, &r);
    if (rc) return stage_error(c, "preflight", "device", &e);
    r = bk_row_new('I', "preflight", "device");
    snprintf(r.note, sizeof r.note, "%s, sm_%d%d, %d SMs, %.1f GiB (%.1f GiB free)", info.name,
             info.cc_major, info.cc_minor, info.sms, (double)info.total_bytes / GiB,
             (double)info.free_bytes / GiB);
    bk_emit(c->rec, &r);
    return 0;
}

int bk_stage_copy(bk_cfg *c)
{
    vp_err e = {0};
    kern_slice *s = NULL;
    const uint64_t n = c->gpu ? GiB : c->smoke ? 32 * MiB : 128 * MiB;
    const unsigned iters = c->gpu ? 20u : 5u;
    TRY("copy", "slice", kern_slice_open(c->req, 2 * n, &s, &e));
    double gbs = 0;
    int rc = kern_fill(s, 0, KERN_FILL_BYTES, n, 1, 0, &e);
    if (!rc) rc = kern_probe_copy(s, n, 0, n, iters, &gbs, &e);
    kern_slice_close(s);
    if (rc) return stage_error(c, "copy", "probe", &e);
    bk_row r = bk_row_new('R', "copy", "");
    snprintf(r.name, sizeof r.name, "%.0f MiB copy, median of %u", (double)n / MiB, iters);
    r.ms = 2.0 * (double)n / (gbs * 1e6);
    r.gbs = gbs;
    r.pct = 100.0;
    snprintf(r.note, sizeof r.note, "the ceiling: bytes read + written");
    bk_emit(c->rec, &r);
    return 0;
}

/* ---- GEMV ---- */

typedef struct mat {
    const char *model, *name;
    uint32_t n, k;
} mat;

static const mat gemv_mats[] = {
    {"7B", "qkv", 6144, 4096},       {"7B", "o", 4096, 4096},
    {"7B", "gate_up", 28672, 4096},  {"7B", "down", 4096, 14336},
    {"70B", "qkv", 10240, 8192},     {"70B", "o", 8192, 8192},
    {"70B", "gate_up", 57344, 8192}, {"70B", "down", 8192, 28672},
};
static const mat smoke_mats[] = {
    {"tiny", "qkv", 768, 512},
    {"tiny", "down", 512, 1408},
};

/* Weight j of row r as the fills below make it, from the format's definition, in double. */
static double ref_weight(kern_dtype d, uint64_t seed, uint32_t k, uint64_t r, uint64_t j)
{
    const uint64_t i = r * k + j;
    if (d == KERN_INT4) {
        uint8_t byte = kern_fill_byte(seed, i / 2);
        int q = (i & 1) ? byte >> 4 : byte & 15;
        float sc = kern_fill_pos(seed + 1, i / KERN_INT4_GROUP, 1.0f / sqrtf(21.5f * (float)k));
        return (q - 8) * (double)kern_h2f(kern_f2h(sc));
    }
    float v = kern_fill_f32(seed, i, sqrtf(3.0f / (float)k));
    return d == KERN_FP16 ? kern_h2f(kern_f2h(v)) : kern_b2f(kern_f2b(v));
}

static int fill_mat(kern_slice *s, kern_dtype d, uint64_t w, uint64_t sc, const mat *m,
                    uint64_t seed, vp_err *e)
{
    const uint64_t nk = (uint64_t)m->n * m->k;
    if (d == KERN_INT4) {
        int rc = kern_fill(s, w, KERN_FILL_BYTES, nk / 2, seed, 0, e);
        if (!rc)
            rc = kern_fill(s, sc, KERN_FILL_F16_POS, nk / KERN_INT4_GROUP, seed + 1,
                           1.0f / sqrtf(21.5f * (float)m->k), e);
        return rc;
    }
    return kern_fill(s, w, d == KERN_FP16 ? KERN_FILL_F16 : KERN_FILL_BF16, nk, seed,
                     sqrtf(3.0f / (float)m->k), e);
}

/* Where one matrix copy and x, y sit in a GEMV slice. */
typedef struct gemv_layout {
    uint64_t per, wb, sb, x, y, xb, yb, total;
    unsigned copies;
} gemv_layout;

static void gemv_place(const bk_cfg *c, kern_dtype d, const mat *m, uint32_t batch,
                       gemv_layout *g)
{
    const uint64_t nk = (uint64_t)m->n * m->k;
    g->wb = d == KERN_INT4 ? nk / 2 : nk * 2;
    g->sb = d == KERN_INT4 ? nk / KERN_INT4_GROUP * 2 : 0;
    const uint64_t rot = c->gpu ? GiB : c->smoke ? 4 * MiB : 256 * MiB;
    g->copies = (unsigned)((rot + g->wb - 1) / g->wb);
    if (g->copies < 2) g->copies = 2;
    if (g->copies > 64) g->copies = 64;
    g->per = up(g->wb) + up(g->sb);
    g->xb = (uint64_t)batch * m->k * 4;
    g->yb = (uint64_t)batch * m->n * 4;
    g->x = g->per * g->copies;
    g->y = g->x + up(g->xb);
    g->total = g->y + up(g->yb);
}

/* The backend's y for copy 0 against the double reference on up to 64 sampled rows. */
static double gemv_ref_error(kern_dtype d, const mat *m, uint32_t batch, const float *y)
{
    const uint32_t rows = m->n < 64 ? m->n : 64;
    double *want = malloc(sizeof(double) * rows * batch);
    float *got = malloc(sizeof(float) * rows * batch);
    if (!want || !got) {
        free(want);
        free(got);
        return NAN;
    }
    for (uint32_t i = 0; i < rows; i++) {
        const uint64_t r = (uint64_t)i * m->n / rows;
        for (uint32_t b = 0; b < batch; b++) {
            double acc = 0;
            for (uint32_t j = 0; j < m->k; j++)
                acc += ref_weight(d, 1000, m->k, r, j) *
                       (double)kern_fill_f32(7, (uint64_t)b * m->k + j, 1.0f);
            want[i * batch + b] = acc;
            got[i * batch + b] = y[(uint64_t)b * m->n + r];
        }
    }
    double err = bk_rel_err(got, want, (uint64_t)rows * batch);
    free(want);
    free(got);
    return err;
}

/* The same GEMV on the CPU twin from the same bytes; its y against the backend's. */
static double gemv_twin_error(kern_dtype d, const mat *m, uint32_t batch, const float *y,
                              vp_err *e)
{
    kern_slice *h = NULL;
    const uint64_t nk = (uint64_t)m->n * m->k;
    const uint64_t wb = d == KERN_INT4 ? nk / 2 : nk * 2;
    kern_gemv_args g = {d, 0, up(wb), 0, 0, m->n, m->k, batch, 0};
    g.x = g.scales + up(d == KERN_INT4 ? nk / 64 : 0);
    g.y = g.x + up((uint64_t)batch * m->k * 4);
    const uint64_t yn = (uint64_t)batch * m->n;
    double *want = malloc(sizeof(double) * yn);
    float *yc = malloc(sizeof(float) * yn);
    int rc = want && yc ? kern_slice_open(KERN_REQ_CPU, g.y + yn * 4, &h, e) : -1;
    if (!rc) rc = fill_mat(h, d, g.w, g.scales, m, 1000, e);
    if (!rc) rc = kern_fill(h, g.x, KERN_FILL_F32, (uint64_t)batch * m->k, 7, 1.0f, e);
    if (!rc) rc = kern_gemv(h, &g, e);
    if (!rc) rc = kern_download(h, g.y, yc, yn * 4, e);
    double err = NAN;
    if (!rc) {
        for (uint64_t i = 0; i < yn; i++)
            want[i] = yc[i];
        err = bk_rel_err(y, want, yn);
    }
    kern_slice_close(h);
    free(want);
    free(yc);
    return err;
}

/* Times and checks one matrix; fills *row (a 'D' row). */
static int gemv_case(bk_cfg *c, kern_dtype d, const mat *m, uint32_t batch, bk_row *row,
                     uint64_t *bytes, vp_err *e)
{
    gemv_layout L;
    gemv_place(c, d, m, batch, &L);
    kern_slice *s = NULL;
    int rc = kern_slice_open(c->req, L.total, &s, e);
    for (unsigned i = 0; i < L.copies && !rc; i++)
        rc = fill_mat(s, d, L.per * i, L.per * i + up(L.wb), m, 1000 + i, e);
    if (!rc) rc = kern_fill(s, L.x, KERN_FILL_F32, (uint64_t)batch * m->k, 7, 1.0f, e);
    kern_gemv_args g = {d, 0, 0, L.x, L.y, m->n, m->k, batch, 0};
    const unsigned warm = c->gpu ? 5 : 1, iters = c->gpu ? 50 : c->smoke ? 2 : 3,
                   lats = c->gpu ? 20 : c->smoke ? 2 : 3;
    double amort = NAN, t[64];
    for (unsigned i = 0; i < warm && !rc; i++) {
        g.w = L.per * (i % L.copies);
        g.scales = g.w + up(L.wb);
        rc = kern_gemv(s, &g, e);
    }
    if (!rc) rc = kern_slice_sync(s, e);
    if (!rc) rc = kern_timer_start(s, e);
    for (unsigned i = 0; i < iters && !rc; i++) {
        g.w = L.per * ((warm + i) % L.copies);
        g.scales = g.w + up(L.wb);
        rc = kern_gemv(s, &g, e);
    }
    if (!rc) rc = kern_timer_stop(s, &amort, e);
    for (unsigned i = 0; i < lats && !rc; i++) {
        g.w = L.per * (i % L.copies);
        g.scales = g.w + up(L.wb);
        double t0 = now_us();
        rc = kern_gemv(s, &g, e);
        if (!rc) rc = kern_slice_sync(s, e);
        t[i] = now_us() - t0;
    }
    /* the checked run: copy 0 into a NaN-poisoned y */
    float *y = malloc(L.yb);
    if (!rc && !y) rc = vp_errf(e, -ENOMEM, "out of host memory");
    if (!rc) {
        for (uint64_t i = 0; i < L.yb / 4; i++)
            y[i] = NAN;
        g.w = 0;
        g.scales = up(L.wb);
        rc = kern_upload(s, L.y, y, L.yb, e);
    }
    if (!rc) rc = kern_gemv(s, &g, e);
    if (!rc) rc = kern_download(s, L.y, y, L.yb, e);
    kern_slice_close(s);
    if (rc) {
        free(y);
        return rc;
    }
    if (c->inject_nan) y[L.yb / 8] = NAN;
    double err = gemv_ref_error(d, m, batch, y);
    if (c->gpu) {
        double tw = gemv_twin_error(d, m, batch, y, e);
        err = isnan(tw) || tw > err ? tw : err;
    }
    free(y);
    *bytes = kern_gemv_bytes(&g);
    *row = bk_row_new('D', "gemv", "");
    snprintf(row->name, sizeof row->name, "%s %s %ux%u %s b%u", m->model, m->name, m->n, m->k,
             kern_dtype_name(d), batch);
    row->ms = amort / iters;
    row->lat_us = bk_median(t, lats);
    row->gbs = (double)*bytes / (row->ms * 1e6);
    row->pct = c->copy_gbs > 0 ? 100.0 * row->gbs / c->copy_gbs : NAN;
    row->err = err;
    row->check = bk_within(err, KERN_TOL_REL);
    /* targets (GPU, batch 1): 85% of the copy for fp16/bf16, and for int4 matrices of 32 MiB+ */
    if (c->gpu && batch == 1 && (d != KERN_INT4 || L.wb >= 32 * MiB))
        row->target = row->pct >= 85.0;
    return 0;
}

int bk_stage_gemv(bk_cfg *c, kern_dtype d, uint32_t batch)
{
    const mat *mats = c->smoke ? smoke_mats : gemv_mats;
    const unsigned nm = c->smoke ? 2 : c->quick ? 4 : 8;
    const char *model = "";
    bk_row sum = bk_row_new('R', "gemv", "");
    double ms = 0, bytes_all = 0, worst = INFINITY;
    for (unsigned i = 0; i <= nm; i++) {
        if (i == nm || strcmp(mats[i].model, model) != 0) {
            if (i > 0) { /* the model's summary row: its matrices together */
                sum.ms = ms;
                sum.gbs = bytes_all / (ms * 1e6);
                sum.pct = c->copy_gbs > 0 ? 100.0 * sum.gbs / c->copy_gbs : NAN;
                if (!isinf(worst)) snprintf(sum.note, sizeof sum.note, "worst matrix %.1f%%", worst);
                bk_emit(c->rec, &sum);
            }
            if (i == nm) break;
            model = mats[i].model;
            sum = bk_row_new('R', "gemv", "");
            snprintf(sum.name, sizeof sum.name, "%s-like layer %s b%u", model, kern_dtype_name(d),
                     batch);
            sum.check = 1;
            sum.err = 0;
            ms = bytes_all = 0;
            worst = INFINITY;
        }
        vp_err e = {0};
        bk_row r;
        uint64_t bytes = 0;
        if (gemv_case(c, d, &mats[i], batch, &r, &bytes, &e)) {
            char what[64];
            snprintf(what, sizeof what, "%s %s %s b%u", mats[i].model, mats[i].name,
                     kern_dtype_name(d), batch);
            stage_error(c, "gemv", what, &e);
            sum.check = 0;
            continue;
        }
        bk_emit(c->rec, &r);
        ms += r.ms;
        bytes_all += (double)bytes;
        if (r.pct < worst) worst = r.pct;
        sum.err = isnan(r.err) || r.err > sum.err ? r.err : sum.err;
        if (r.check == 0) sum.check = 0;
        if (r.target != -1) sum.target = sum.target == 0 ? 0 : r.target;
    }
    return 0;
}
