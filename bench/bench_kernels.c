/* bench_kernels.c - the decode kernels' bandwidth, accuracy and step time, beside the planner's
 * latency model.
 *
 * Prints markdown tables (ready for bench/RESULTS.md): the device-to-device copy bandwidth (the
 * ceiling), each GEMV's achieved bandwidth and its fraction of the copy at 7B- and 70B-like
 * shapes for fp16 and int4, the CUDA result's relative error against the CPU twin, and the
 * measured time of whole decode steps beside kern_decode_bytes_per_step / copy bandwidth. Method:
 * warm-up first, median of many timed runs (device events on CUDA), pseudo-random data (never
 * zeros), and weights rotated over enough copies to exceed the last-level cache so the numbers
 * are memory, not cache. Without a CUDA device it says so ("GPU figures unmeasured") and measures
 * the CPU path with smaller decode models; exit 0 either way. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern.h"

typedef struct cfg {
    kern_backend_req req;
    int quick;   /* 7B-like shapes only */
    int cpu_ref; /* compare CUDA results with the CPU twin */
} cfg;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(const vp_err *e, int rc)
{
    fprintf(stderr, "bench_kernels: %s (%s)\n", e->msg, vp_strerror(rc));
    exit(1);
}

#define CHECK(call)                                                                                \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_) die(&e, rc_);                                                                     \
    } while (0)

static double probe(kern_backend_req req, int gpu, const char **device)
{
    vp_err e = {0};
    kern_slice *s = NULL;
    uint64_t n = gpu ? (1ull << 30) : (128ull << 20);
    CHECK(kern_slice_open(req, 2 * n, &s, &e));
    static char name[128];
    snprintf(name, sizeof name, "%s", kern_slice_device(s));
    *device = name;
    CHECK(kern_fill(s, 0, KERN_FILL_BYTES, n, 1, 0, &e));
    double gbs = 0;
    CHECK(kern_probe_copy(s, n, 0, n, gpu ? 20u : 5u, &gbs, &e));
    kern_slice_close(s);
    return gbs;
}

typedef struct mat {
    const char *model, *name;
    uint32_t n, k;
} mat;

/* Fills one n x k matrix of dtype d at w/scales the way the model does. */
static void fill_mat(kern_slice *s, kern_dtype d, uint64_t w, uint64_t sc, uint32_t n, uint32_t k,
                     uint64_t seed)
{
    vp_err e = {0};
    uint64_t nk = (uint64_t)n * k;
    if (d == KERN_INT4) {
        CHECK(kern_fill(s, w, KERN_FILL_BYTES, nk / 2, seed, 0, &e));
        CHECK(kern_fill(s, sc, KERN_FILL_F16_POS, nk / KERN_INT4_GROUP, seed + 1,
                        1.0f / sqrtf(21.5f * (float)k), &e));
    } else {
        CHECK(kern_fill(s, w, d == KERN_FP16 ? KERN_FILL_F16 : KERN_FILL_BF16, nk, seed,
                        sqrtf(3.0f / (float)k), &e));
    }
}

/* Times y = W x at one shape: copies of W rotated so their total exceeds the caches. Returns the
 * median ms; *err gets the relative error against the CPU twin (NaN when not compared). */
static double time_gemv(const cfg *c, int gpu, kern_dtype d, const mat *m, uint32_t batch,
                        double *err)
{
    vp_err e = {0};
    const uint64_t nk = (uint64_t)m->n * m->k;
    const uint64_t wb = d == KERN_INT4 ? nk / 2 : nk * 2, sb = d == KERN_INT4 ? nk / 64 : 0;
    const uint64_t rot = gpu ? (1ull << 30) : (256ull << 20); /* bytes the rotation must cover */
    unsigned copies = (unsigned)((rot + wb - 1) / wb);
    if (copies < 2) copies = 2;
    if (copies > 64) copies = 64;
    const uint64_t per = ((wb + sb + 2 * KERN_ALIGN) / KERN_ALIGN + 1) * KERN_ALIGN;
    const uint64_t xb = (uint64_t)batch * m->k * 4, yb = (uint64_t)batch * m->n * 4;
    const uint64_t x_off = per * copies,
                   y_off = x_off + (xb + KERN_ALIGN) / KERN_ALIGN * KERN_ALIGN;
    kern_slice *s = NULL;
    CHECK(kern_slice_open(c->req, y_off + yb, &s, &e));
    for (unsigned i = 0; i < copies; i++) {
        uint64_t w = per * i, sc = w + (wb + KERN_ALIGN - 1) / KERN_ALIGN * KERN_ALIGN;
        fill_mat(s, d, w, sc, m->n, m->k, 1000 + i);
    }
    CHECK(kern_fill(s, x_off, KERN_FILL_F32, (uint64_t)batch * m->k, 7, 1.0f, &e));
    kern_gemv_args g = {d, 0, 0, x_off, y_off, m->n, m->k, batch, 0};
    const unsigned warm = gpu ? 5 : 1, iters = gpu ? 50 : 3;
    double t[64];
    for (unsigned i = 0; i < warm + iters; i++) {
        g.w = per * (i % copies);
        g.scales = g.w + (wb + KERN_ALIGN - 1) / KERN_ALIGN * KERN_ALIGN;
        double ms = 0;
        CHECK(kern_timer_start(s, &e));
        CHECK(kern_gemv(s, &g, &e));
        CHECK(kern_timer_stop(s, &ms, &e));
        if (i >= warm) t[i - warm] = ms;
    }
    *err = NAN;
    if (gpu && c->cpu_ref) {
        /* the last run used copy (warm + iters - 1) % copies; redo copy 0 on both */
        g.w = 0;
        g.scales = (wb + KERN_ALIGN - 1) / KERN_ALIGN * KERN_ALIGN;
        CHECK(kern_gemv(s, &g, &e));
        float *yg = malloc(yb), *yc = malloc(yb);
        kern_slice *h = NULL;
        uint64_t hx = per, hy = hx + (xb + KERN_ALIGN) / KERN_ALIGN * KERN_ALIGN;
        if (!yg || !yc) {
            fprintf(stderr, "bench_kernels: out of host memory\n");
            exit(1);
        }
        CHECK(kern_download(s, y_off, yg, yb, &e));
        CHECK(kern_slice_open(KERN_REQ_CPU, hy + yb, &h, &e));
        fill_mat(h, d, 0, g.scales, m->n, m->k, 1000);
        CHECK(kern_fill(h, hx, KERN_FILL_F32, (uint64_t)batch * m->k, 7, 1.0f, &e));
        kern_gemv_args hg = g;
        hg.x = hx;
        hg.y = hy;
        CHECK(kern_gemv(h, &hg, &e));
        CHECK(kern_download(h, hy, yc, yb, &e));
        double num = 0, den = 0;
        for (uint64_t i = 0; i < yb / 4; i++) {
            num += ((double)yg[i] - yc[i]) * ((double)yg[i] - yc[i]);
            den += (double)yc[i] * yc[i];
        }
        *err = sqrt(num / den);
        free(yg);
        free(yc);
        kern_slice_close(h);
    }
    kern_slice_close(s);
    return median(t, iters);
}

typedef struct model_case {
    const char *name;
    kern_shape shape;
    uint32_t batch, context;
} model_case;

/* Median wall time of a decode step at a pinned context (the step synchronises). */
static double time_step(const cfg *c, int gpu, const model_case *mc, uint64_t *bytes)
{
    vp_err e = {0};
    uint64_t wb = 0;
    if (kern_shape_weight_bytes(&mc->shape, &wb)) {
        fprintf(stderr, "bench_kernels: %s: weight bytes overflow\n", mc->name);
        exit(1);
    }
    /* weights, the KV the batch needs (plus a block per sequence), scratch: search the smallest
     * slice the layout accepts, starting from a generous guess */
    uint64_t kv = (uint64_t)2 * mc->shape.layers * mc->shape.kv_heads * mc->shape.head_dim * 2 *
                  ((uint64_t)mc->context + KERN_KV_BLOCK_TOKENS) * mc->batch;
    uint64_t slice = wb + kv + (64ull << 20);
    kern_layout L;
    if (kern_layout_plan(&mc->shape, mc->batch, mc->context, slice, &L, &e)) die(&e, e.code);
    kern_slice *s = NULL;
    kern_model *m = NULL;
    CHECK(kern_slice_open(c->req, slice, &s, &e));
    CHECK(kern_model_open(s, &mc->shape, mc->batch, mc->context, 3, &m, &e));
    CHECK(kern_model_pin_context(m, mc->context, &e));
    const unsigned warm = 3, iters = gpu ? 30 : 5;
    double t[64];
    for (unsigned i = 0; i < warm + iters; i++) {
        double ms = 0;
        CHECK(kern_timer_start(s, &e));
        CHECK(kern_model_step(m, bytes, &e));
        CHECK(kern_timer_stop(s, &ms, &e));
        if (i >= warm) t[i - warm] = ms;
    }
    kern_model_close(m);
    kern_slice_close(s);
    return median(t, iters);
}

/* ||a - b|| / ||b|| over n floats downloaded from the same offset of two slices. */
static double rel_err(kern_slice *ga, kern_slice *cb, uint64_t off, uint64_t n)
{
    vp_err e = {0};
    float *a = malloc(n * 4), *b = malloc(n * 4);
    if (!a || !b) {
        fprintf(stderr, "bench_kernels: out of host memory\n");
        exit(1);
    }
    CHECK(kern_download(ga, off, a, n * 4, &e));
    CHECK(kern_download(cb, off, b, n * 4, &e));
    double num = 0, den = 0;
    for (uint64_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    free(a);
    free(b);
    return den > 0 ? sqrt(num / den) : NAN;
}

/* Paged attention with the context split (GQA 8, head_dim 128, 4 sequences of up to 2048 tokens
 * over scattered blocks) and four whole decode steps of a small model, each run on the GPU and on
 * the CPU twin from the same bytes; prints their relative errors. */
static void cross_check(void)
{
    vp_err e = {0};
    kern_attn_args a = {0};
    a.batch = 4;
    a.heads = 64;
    a.kv_heads = 8;
    a.head_dim = 128;
    a.max_blocks_per_seq = 128;
    a.kv_blocks = a.batch * a.max_blocks_per_seq + 7;
    a.split_blocks = 8;
    a.splits = a.max_blocks_per_seq / a.split_blocks;
    const uint64_t row = (uint64_t)(a.heads + 2 * a.kv_heads) * a.head_dim;
    const uint64_t kv_elems = (uint64_t)a.kv_blocks * 2 * a.kv_heads * 16 * a.head_dim;
    kern_arena ar;
    kern_arena_init(&ar, UINT64_MAX);
    CHECK(kern_arena_take(&ar, a.batch * row * 4, 256, &a.qkv));
    CHECK(kern_arena_take(&ar, (uint64_t)a.batch * a.heads * a.head_dim * 4, 256, &a.out));
    CHECK(kern_arena_take(&ar, kv_elems * 2, 256, &a.kv));
    CHECK(kern_arena_take(&ar, (uint64_t)a.batch * a.max_blocks_per_seq * 4, 256, &a.tables));
    CHECK(kern_arena_take(&ar, a.batch * 4, 256, &a.lens));
    CHECK(kern_arena_take(&ar, (uint64_t)a.batch * a.heads * a.splits * (a.head_dim + 4) * 4, 256,
                          &a.partial));
    int32_t tables[4 * 128], lens[4] = {2047, 1000, 16, 1};
    for (uint32_t i = 0; i < a.batch * a.max_blocks_per_seq; i++)
        tables[i] = (int32_t)((i * 7919u) % a.kv_blocks);
    kern_slice *g = NULL, *c = NULL;
    CHECK(kern_slice_open(KERN_REQ_CUDA, ar.used, &g, &e));
    CHECK(kern_slice_open(KERN_REQ_CPU, ar.used, &c, &e));
    kern_slice *both[2] = {g, c};
    for (int i = 0; i < 2; i++) {
        CHECK(kern_fill(both[i], a.qkv, KERN_FILL_F32, a.batch * row, 5, 1.5f, &e));
        CHECK(kern_fill(both[i], a.kv, KERN_FILL_F16, kv_elems, 6, 1.0f, &e));
        CHECK(kern_upload(both[i], a.tables, tables, sizeof tables, &e));
        CHECK(kern_upload(both[i], a.lens, lens, sizeof lens, &e));
        CHECK(kern_attention(both[i], &a, &e));
    }
    printf("cross-check: paged attention (GQA 8, head_dim 128, 16 context splits) rel. err vs CPU "
           "%.2g\n",
           rel_err(g, c, a.out, (uint64_t)a.batch * a.heads * a.head_dim));
    kern_slice_close(g);
    kern_slice_close(c);

    const kern_dtype dts[] = {KERN_FP16, KERN_BF16, KERN_INT4};
    for (unsigned d = 0; d < 3; d++) {
        kern_shape sh = {4, 1024, 3584, 16, 4, 64, 4096, dts[d]};
        kern_model *mg = NULL, *mc = NULL;
        CHECK(kern_slice_open(KERN_REQ_CUDA, 256u << 20, &g, &e));
        CHECK(kern_slice_open(KERN_REQ_CPU, 256u << 20, &c, &e));
        CHECK(kern_model_open(g, &sh, 3, 512, 9, &mg, &e));
        CHECK(kern_model_open(c, &sh, 3, 512, 9, &mc, &e));
        for (int i = 0; i < 4; i++) {
            CHECK(kern_model_step(mg, NULL, &e));
            CHECK(kern_model_step(mc, NULL, &e));
        }
        const kern_layout *L = kern_model_layout(mc);
        printf("cross-check: 4 decode steps, %s, 4 x 1024, batch 3: logits rel. err vs CPU %.2g\n",
               kern_dtype_name(dts[d]), rel_err(g, c, L->logits, (uint64_t)L->batch * sh.vocab));
        kern_model_close(mg);
        kern_model_close(mc);
        kern_slice_close(g);
        kern_slice_close(c);
    }
    printf("\n");
}

int main(int argc, char **argv)
{
    cfg c = {KERN_REQ_AUTO, 0, 1};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            c.quick = 1;
        } else if (strcmp(argv[i], "--no-cpu-ref") == 0) {
            c.cpu_ref = 0;
        } else if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc) {
            if (kern_backend_parse(argv[++i], &c.req)) {
                fprintf(stderr, "bench_kernels: --backend: \"%s\" is not auto, cuda or cpu\n",
                        argv[i]);
                return 2;
            }
        } else {
            fprintf(stderr,
                    "usage: bench_kernels [--backend auto|cuda|cpu] [--quick] [--no-cpu-ref]\n");
            return 2;
        }
    }
    vp_err why = {0};
    int devices = kern_cuda_device_count(&why);
    int gpu = c.req == KERN_REQ_CUDA || (c.req == KERN_REQ_AUTO && devices > 0);
    if (gpu && devices == 0) {
        fprintf(stderr, "bench_kernels: --backend cuda: %s\n",
                kern_cuda_built() ? why.msg : "cuda backend not built");
        return 1;
    }
    if (!gpu) {
        printf("no CUDA device: GPU figures unmeasured (%s)\n\n",
               kern_cuda_built() ? why.msg : "cuda backend not built");
        c.req = KERN_REQ_CPU;
    }

    const char *device = "";
    double copy = probe(c.req, gpu, &device);
    printf("## vrampack kernels: %s (%s backend)\n\n", device, gpu ? "cuda" : "cpu");
    printf("copy bandwidth: %.1f GB/s (%s copy inside one slice, median of %u, bytes read + "
           "written, GB = 1e9 B)\n\n",
           copy, gpu ? "1 GiB device-to-device" : "128 MiB host memcpy", gpu ? 20u : 5u);

    static const mat mats[] = {
        {"7B-like", "qkv", 6144, 4096},       {"7B-like", "o", 4096, 4096},
        {"7B-like", "gate_up", 28672, 4096},  {"7B-like", "down", 4096, 14336},
        {"70B-like", "qkv", 10240, 8192},     {"70B-like", "o", 8192, 8192},
        {"70B-like", "gate_up", 57344, 8192}, {"70B-like", "down", 8192, 28672},
    };
    if (gpu && c.cpu_ref) cross_check();
    printf("| GEMV | n x k | dtype | batch | median ms | GB/s | %% of copy | rel. err vs CPU |\n");
    printf("|---|---|---|---|---|---|---|---|\n");
    const kern_dtype dts[] = {KERN_FP16, KERN_INT4};
    for (unsigned d = 0; d < 2; d++)
        for (unsigned i = 0; i < VP_ARRAY_LEN(mats); i++) {
            if (c.quick && i >= 4) continue;
            const uint32_t batch = 1;
            double err;
            double ms = time_gemv(&c, gpu, dts[d], &mats[i], batch, &err);
            kern_gemv_args g = {dts[d], 0, 0, 0, 0, mats[i].n, mats[i].k, batch, 0};
            double gbs = (double)kern_gemv_bytes(&g) / (ms * 1e6);
            char errs[32];
            if (isnan(err))
                snprintf(errs, sizeof errs, "-");
            else
                snprintf(errs, sizeof errs, "%.2g", err);
            printf("| %s %s | %u x %u | %s | %u | %.4f | %.1f | %.1f%% | %s |\n", mats[i].model,
                   mats[i].name, mats[i].n, mats[i].k, kern_dtype_name(dts[d]), batch, ms, gbs,
                   100.0 * gbs / copy, errs);
            fflush(stdout);
        }

    /* decode steps: Llama-3-8B- and 70B-like shapes on a GPU, slice-sized ones on the CPU */
    static const model_case gpu_models[] = {
        {"8B-like", {32, 4096, 14336, 32, 8, 128, 128256, KERN_FP16}, 1, 4096},
        {"8B-like", {32, 4096, 14336, 32, 8, 128, 128256, KERN_FP16}, 8, 4096},
        {"8B-like", {32, 4096, 14336, 32, 8, 128, 128256, KERN_INT4}, 1, 4096},
        {"70B-like", {80, 8192, 28672, 64, 8, 128, 128256, KERN_INT4}, 1, 4096},
        {"70B-like", {80, 8192, 28672, 64, 8, 128, 128256, KERN_INT4}, 8, 4096},
    };
    static const model_case cpu_models[] = {
        {"worker default 256 MiB", {8, 768, 2688, 12, 3, 64, 7808, KERN_FP16}, 1, 1024},
        {"worker default 256 MiB", {8, 1536, 5376, 24, 6, 64, 15232, KERN_INT4}, 1, 1024},
        {"1B-like", {16, 2048, 8192, 32, 8, 64, 32768, KERN_FP16}, 1, 2048},
    };
    const model_case *mcs = gpu ? gpu_models : cpu_models;
    unsigned nmc = gpu ? VP_ARRAY_LEN(gpu_models) : VP_ARRAY_LEN(cpu_models);
    printf("\n| decode step | layers x hidden | dtype | batch | context | bytes/step | measured ms "
           "| predicted ms (bytes / copy) | measured / predicted |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");
    for (unsigned i = 0; i < nmc; i++) {
        if (c.quick && gpu && mcs[i].shape.layers > 32) continue;
        uint64_t bytes = 0;
        double ms = time_step(&c, gpu, &mcs[i], &bytes);
        uint64_t predicted_bytes =
            kern_decode_bytes_per_step(&mcs[i].shape, mcs[i].batch, mcs[i].context);
        double pred = (double)predicted_bytes / (copy * 1e6);
        printf("| %s | %u x %u | %s | %u | %u | %.3f GB | %.3f | %.3f | %.2f |\n", mcs[i].name,
               mcs[i].shape.layers, mcs[i].shape.hidden, kern_dtype_name(mcs[i].shape.dtype),
               mcs[i].batch, mcs[i].context, (double)bytes / 1e9, ms, pred, ms / pred);
        fflush(stdout);
    }
    return 0;
}
