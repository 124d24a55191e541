/* bench_kernels_model.c - the kernels benchmark's attention and decode-step stages.
 *
 * Attention is timed like the GEMV (launch-amortised over KV pools rotated past the cache, plus
 * one launch alone) at GQA 4 and 8 with the context split the model's layout chooses, and
 * checked against a double-precision softmax on sampled heads and, on CUDA, against the CPU twin
 * (outputs, and the K/V bytes written into the cache). Decode steps of whole models are timed at
 * a pinned context and set beside the planner's model: kern_decode_bytes_per_step over the copy
 * bandwidth; small models are stepped on both backends and their logits compared. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_kernels.h"
#include "kern_impl.h"

#define GiB (1ull << 30)
#define MiB (1ull << 20)

static uint64_t up(uint64_t v)
{
    return (v + KERN_ALIGN - 1) / KERN_ALIGN * KERN_ALIGN;
}

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int stage_error(bk_cfg *c, const char *stage, const char *what, const vp_err *e)
{
    bk_row r = bk_row_new('E', stage, what);
    snprintf(r.note, sizeof r.note, "%s", e->msg);
    r.check = 0;
    bk_emit(c->rec, &r);
    return 1;
}

/* ---- attention ---- */

typedef struct attn_case {
    uint32_t heads, kv_heads, batch;
} attn_case;

/* The shared buffers first, then `copies` KV pools, so copy 0 sits at the same offset whatever
 * the number of copies (the CPU twin holds only copy 0). */
static uint64_t attn_place(kern_attn_args *a, uint64_t pool, unsigned copies)
{
    const uint64_t hd = a->head_dim, row = (uint64_t)(a->heads + 2 * a->kv_heads) * hd;
    uint64_t p = 0;
    a->qkv = p;
    p = up(p + a->batch * row * 4);
    a->out = p;
    p = up(p + (uint64_t)a->batch * a->heads * hd * 4);
    a->tables = p;
    p = up(p + (uint64_t)a->batch * a->max_blocks_per_seq * 4);
    a->lens = p;
    p = up(p + a->batch * 4);
    a->partial = p;
    p = up(p + (uint64_t)a->batch * a->heads * a->splits * (hd + 4) * 4);
    a->kv = p;
    return p + pool * copies;
}

static int attn_setup(kern_slice *s, const kern_attn_args *a, uint64_t pool, unsigned copies,
                      vp_err *e)
{
    const uint64_t row = (uint64_t)(a->heads + 2 * a->kv_heads) * a->head_dim;
    const uint64_t n = (uint64_t)a->batch * a->max_blocks_per_seq;
    int32_t *tables = malloc(n * 4), *lens = malloc(a->batch * 4);
    int rc = tables && lens ? 0 : vp_errf(e, -ENOMEM, "out of host memory");
    for (uint64_t i = 0; i < n && !rc; i++)
        tables[i] = (int32_t)((i * 7919u) % a->kv_blocks); /* scattered, none shared */
    for (uint32_t b = 0; b < a->batch && !rc; b++)
        lens[b] = (int32_t)(a->max_blocks_per_seq * KERN_KV_BLOCK_TOKENS - 1);
    if (!rc) rc = kern_fill(s, a->qkv, KERN_FILL_F32, a->batch * row, 5, 1.0f, e);
    if (!rc) rc = kern_upload(s, a->tables, tables, n * 4, e);
    if (!rc) rc = kern_upload(s, a->lens, lens, a->batch * 4, e);
    for (unsigned i = 0; i < copies && !rc; i++)
        rc = kern_fill(s, a->kv + pool * i, KERN_FILL_F16, pool / 2, 6 + i, 1.0f, e);
    free(tables);
    free(lens);
    return rc;
}

/* Double-precision attention of (sequence b, head i) from the bytes the kernel saw and wrote. */
static void attn_ref(const kern_attn_args *a, const float *qkv, const uint16_t *kv, uint32_t b,
                     uint32_t i, double *out)
{
    const uint32_t hd = a->head_dim, h = i / (a->heads / a->kv_heads);
    const uint32_t ctx = a->max_blocks_per_seq * KERN_KV_BLOCK_TOKENS;
    const float *q = qkv + (uint64_t)b * (a->heads + 2 * a->kv_heads) * hd + (uint64_t)i * hd;
    double *sc = malloc(sizeof(double) * ctx), m = -INFINITY, sum = 0;
    if (!sc) return;
    for (uint32_t t = 0; t < ctx; t++) {
        uint32_t blk = (uint32_t)((((uint64_t)b * a->max_blocks_per_seq + t / 16) * 7919u) %
                                  a->kv_blocks);
        const uint16_t *k = kv + kern_kv_elem(blk, 0, h, t % 16, a->kv_heads, hd);
        double s = 0;
        for (uint32_t d = 0; d < hd; d++)
            s += (double)q[d] * kern_h2f(k[d]);
        sc[t] = s / sqrt((double)hd);
        if (sc[t] > m) m = sc[t];
    }
    for (uint32_t d = 0; d < hd; d++)
        out[d] = 0;
    for (uint32_t t = 0; t < ctx; t++) {
        uint32_t blk = (uint32_t)((((uint64_t)b * a->max_blocks_per_seq + t / 16) * 7919u) %
                                  a->kv_blocks);
        const uint16_t *v = kv + kern_kv_elem(blk, 1, h, t % 16, a->kv_heads, hd);
        double p = exp(sc[t] - m);
        sum += p;
        for (uint32_t d = 0; d < hd; d++)
            out[d] += p * kern_h2f(v[d]);
    }
    for (uint32_t d = 0; d < hd; d++)
        out[d] /= sum;
    free(sc);
}

/* Checks copy 0's result: sampled heads against attn_ref; on CUDA all of it against the CPU
 * twin, and the cache bytes written. Returns the worst relative error (NaN fails). */
static double attn_check(bk_cfg *c, kern_slice *s, const kern_attn_args *a, uint64_t pool,
                         vp_err *e)
{
    const uint64_t hd = a->head_dim, row = (uint64_t)(a->heads + 2 * a->kv_heads) * hd;
    const uint64_t on = (uint64_t)a->batch * a->heads * hd;
    float *out = malloc(on * 4), *qkv = malloc(a->batch * row * 4), *tw = malloc(on * 4);
    uint16_t *kv = malloc(pool), *kvt = malloc(pool);
    double *want = malloc(sizeof(double) * on), err = NAN;
    kern_slice *h = NULL;
    int rc = out && qkv && tw && kv && kvt && want ? 0 : vp_errf(e, -ENOMEM, "out of host memory");
    if (!rc) rc = kern_download(s, a->out, out, on * 4, e);
    if (!rc) rc = kern_download(s, a->kv, kv, pool, e);
    if (!rc) rc = kern_download(s, a->qkv, qkv, a->batch * row * 4, e);
    if (!rc) {
        const uint32_t bs[2] = {0, a->batch - 1}, is[2] = {0, a->heads - 1};
        float got[4 * 256];
        double ref[4 * 256];
        unsigned n = 0;
        for (int x = 0; x < 2; x++)
            for (int y = 0; y < 2; y++, n++) {
                attn_ref(a, qkv, kv, bs[x], is[y], ref + n * hd);
                memcpy(got + n * hd, out + ((uint64_t)bs[x] * a->heads + is[y]) * hd, hd * 4);
            }
        err = bk_rel_err(got, ref, n * hd);
    }
    if (!rc && c->gpu) {
        uint64_t total = a->kv + pool;
        rc = kern_slice_open(KERN_REQ_CPU, total, &h, e);
        if (!rc) rc = attn_setup(h, a, pool, 1, e);
        if (!rc) rc = kern_attention(h, a, e);
        if (!rc) rc = kern_download(h, a->out, tw, on * 4, e);
        if (!rc) rc = kern_download(h, a->kv, kvt, pool, e);
        if (!rc) {
            for (uint64_t i = 0; i < on; i++)
                want[i] = tw[i];
            double t = bk_rel_err(out, want, on);
            err = isnan(t) || t > err ? t : err;
            if (memcmp(kv, kvt, pool) != 0) err = NAN; /* the new K/V, fp16 bit for bit */
        }
    }
    kern_slice_close(h);
    free(out);
    free(qkv);
    free(tw);
    free(kv);
    free(kvt);
    free(want);
    return rc ? NAN : err;
}

static int attn_case_run(bk_cfg *c, const attn_case *ac, uint32_t context, vp_err *e)
{
    /* the context split is the one a model of this shape gets from its layout */
    kern_shape sh = {1, 4096, 128, ac->heads, ac->kv_heads, 128, 128, KERN_FP16};
    kern_layout L;
    int rc = kern_layout_plan(&sh, ac->batch, context, UINT64_MAX / 4, &L, e);
    if (rc) return rc;
    kern_attn_args a = {0};
    a.batch = ac->batch;
    a.heads = ac->heads;
    a.kv_heads = ac->kv_heads;
    a.head_dim = 128;
    a.max_blocks_per_seq = L.max_blocks_per_seq;
    a.kv_blocks = ac->batch * L.max_blocks_per_seq;
    a.splits = L.attn_splits;
    a.split_blocks = L.attn_split_blocks;
    const uint64_t pool = (uint64_t)a.kv_blocks * L.kv_block_bytes;
    const uint64_t rot = c->gpu ? GiB : c->smoke ? 4 * MiB : 128 * MiB;
    unsigned copies = (unsigned)((rot + pool - 1) / pool);
    copies = copies < 2 ? 2 : copies > 64 ? 64 : copies;
    kern_slice *s = NULL;
    rc = kern_slice_open(c->req, attn_place(&a, pool, copies), &s, e);
    if (!rc) rc = attn_setup(s, &a, pool, copies, e);
    const uint64_t kv0 = a.kv;
    const unsigned warm = c->gpu ? 5 : 1, iters = c->gpu ? 50 : 2, lats = c->gpu ? 20 : 2;
    double amort = NAN, t[32];
    for (unsigned i = 0; i < warm + iters && !rc; i++) {
        if (i == warm) rc = kern_timer_start(s, e);
        a.kv = kv0 + pool * (i % copies);
        if (!rc) rc = kern_attention(s, &a, e);
    }
    if (!rc) rc = kern_timer_stop(s, &amort, e);
    for (unsigned i = 0; i < lats && !rc; i++) {
        a.kv = kv0 + pool * (i % copies);
        double t0 = now_us();
        rc = kern_attention(s, &a, e);
        if (!rc) rc = kern_slice_sync(s, e);
        t[i] = now_us() - t0;
    }
    /* the checked run: copy 0 into a NaN-poisoned output */
    a.kv = kv0;
    const uint64_t on = (uint64_t)a.batch * a.heads * a.head_dim;
    float *poison = malloc(on * 4);
    if (!rc && !poison) rc = vp_errf(e, -ENOMEM, "out of host memory");
    for (uint64_t i = 0; !rc && i < on; i++)
        poison[i] = NAN;
    if (!rc) rc = kern_upload(s, a.out, poison, on * 4, e);
    free(poison);
    if (!rc) rc = kern_attention(s, &a, e);
    double err = NAN;
    if (!rc) {
        if (c->inject_crash) abort();
        err = attn_check(c, s, &a, pool, e);
    }
    kern_slice_close(s);
    if (rc) return rc;
    bk_row r = bk_row_new('R', "attention", "");
    const uint64_t bytes = (uint64_t)2 * a.kv_heads * a.head_dim * context * a.batch * 2;
    snprintf(r.name, sizeof r.name, "GQA %u (%u/%u heads) b%u ctx %u, %u splits",
             ac->heads / ac->kv_heads, ac->heads, ac->kv_heads, ac->batch, context, a.splits);
    r.ms = amort / iters;
    r.lat_us = bk_median(t, lats);
    r.gbs = (double)bytes / (r.ms * 1e6);
    r.pct = c->copy_gbs > 0 ? 100.0 * r.gbs / c->copy_gbs : NAN;
    r.err = err;
    r.check = bk_within(err, KERN_TOL_REL);
    snprintf(r.note, sizeof r.note, "KV bytes %.1f MB", (double)bytes / 1e6);
    bk_emit(c->rec, &r);
    return 0;
}

int bk_stage_attention(bk_cfg *c)
{
    static const attn_case cases[] = {{32, 8, 1}, {64, 8, 1}, {32, 8, 8}, {64, 8, 8}};
    const uint32_t context = c->smoke ? 208 : 4096; /* whole blocks: the bytes are exact */
    for (unsigned i = 0; i < VP_ARRAY_LEN(cases); i++) {
        vp_err e = {0};
        if (attn_case_run(c, &cases[i], context, &e)) {
            char what[64];
            snprintf(what, sizeof what, "GQA %u b%u", cases[i].heads / cases[i].kv_heads,
                     cases[i].batch);
            stage_error(c, "attention", what, &e);
        }
    }
    return 0;
}

/* ---- decode steps ---- */

typedef struct model_case {
    const char *name;
    kern_shape shape;
    uint32_t batch, context;
} model_case;

/* Llama-3-8B- and 70B-like shapes on a GPU; slice-sized ones on the CPU. */
static const model_case gpu_models[] = {
    {"8B-like", {32, 4096, 14336, 32, 8, 128, 128256, KERN_FP16}, 1, 4096},
    {"8B-like", {32, 4096, 14336, 32, 8, 128, 128256, KERN_BF16}, 8, 4096},
    {"8B-like", {32, 4096, 14336, 32, 8, 128, 128256, KERN_INT4}, 1, 4096},
    {"70B-like", {80, 8192, 28672, 64, 8, 128, 128256, KERN_INT4}, 1, 4096},
    {"70B-like", {80, 8192, 28672, 64, 8, 128, 128256, KERN_INT4}, 8, 4096},
};
static const model_case cpu_models[] = {
    {"worker default 256 MiB", {8, 768, 2688, 12, 3, 64, 7808, KERN_FP16}, 1, 1024},
    {"worker default 256 MiB", {8, 1536, 5376, 24, 6, 64, 15232, KERN_INT4}, 1, 1024},
};
static const model_case smoke_models[] = {
    {"tiny", {2, 256, 768, 4, 2, 64, 1024, KERN_BF16}, 2, 128},
};

static const model_case *decode_list(const bk_cfg *c, unsigned *n)
{
    if (c->smoke) {
        *n = VP_ARRAY_LEN(smoke_models);
        return smoke_models;
    }
    if (c->gpu) {
        *n = c->quick ? 3 : VP_ARRAY_LEN(gpu_models);
        return gpu_models;
    }
    *n = VP_ARRAY_LEN(cpu_models);
    return cpu_models;
}

unsigned bk_decode_cases(const bk_cfg *c)
{
    unsigned n;
    decode_list(c, &n);
    return n;
}

int bk_stage_decode(bk_cfg *c, unsigned which)
{
    unsigned n;
    const model_case *mc = decode_list(c, &n) + which;
    vp_err e = {0};
    char what[96];
    snprintf(what, sizeof what, "%s %s b%u ctx %u", mc->name, kern_dtype_name(mc->shape.dtype),
             mc->batch, mc->context);
    uint64_t wb = 0;
    if (kern_shape_weight_bytes(&mc->shape, &wb)) {
        vp_errf(&e, VP_EOVERFLOW, "weight bytes overflow");
        return stage_error(c, "decode", what, &e);
    }
    const uint64_t kv = (uint64_t)2 * mc->shape.layers * mc->shape.kv_heads * mc->shape.head_dim *
                        2 * ((uint64_t)mc->context + KERN_KV_BLOCK_TOKENS) * mc->batch;
    kern_slice *s = NULL;
    kern_model *m = NULL;
    int rc = kern_slice_open(c->req, wb + kv + 64 * MiB, &s, &e);
    if (!rc) rc = kern_model_open(s, &mc->shape, mc->batch, mc->context, 3, &m, &e);
    if (!rc) rc = kern_model_pin_context(m, mc->context, &e);
    const unsigned warm = 3, iters = c->gpu ? 30 : c->smoke ? 2 : 5;
    double t[64], lat[64];
    uint64_t bytes = 0;
    for (unsigned i = 0; i < warm + iters && !rc; i++) {
        double ms = 0, t0 = now_us();
        rc = kern_timer_start(s, &e);
        if (!rc) rc = kern_model_step(m, &bytes, &e);
        if (!rc) rc = kern_timer_stop(s, &ms, &e);
        if (i >= warm) {
            t[i - warm] = ms;
            lat[i - warm] = now_us() - t0;
        }
    }
    kern_model_close(m);
    kern_slice_close(s);
    if (rc) return stage_error(c, "decode", what, &e);
    const uint64_t predicted =
        kern_decode_bytes_per_step(&mc->shape, mc->batch, mc->context);
    const double pred_ms = c->copy_gbs > 0 ? (double)predicted / (c->copy_gbs * 1e6) : NAN;
    bk_row r = bk_row_new('R', "decode", what);
    r.ms = bk_median(t, iters);
    r.lat_us = bk_median(lat, iters);
    r.gbs = (double)bytes / (r.ms * 1e6);
    r.pct = c->copy_gbs > 0 ? 100.0 * r.gbs / c->copy_gbs : NAN;
    r.check = bytes == predicted; /* the step read what the planner's model counts */
    if (c->gpu) r.target = r.ms <= 1.15 * pred_ms;
    snprintf(r.note, sizeof r.note, "predicted %.3f ms (%.3g GB / copy), measured/predicted %.2f",
             pred_ms, (double)predicted / 1e9, r.ms / pred_ms);
    bk_emit(c->rec, &r);
    return 0;
}

/* Small models stepped on both backends from the same seed: the logits must agree. */
int bk_stage_decode_check(bk_cfg *c)
{
    const kern_dtype dts[] = {KERN_FP16, KERN_BF16, KERN_INT4};
    for (unsigned d = 0; d < 3; d++) {
        vp_err e = {0};
        kern_shape sh = {4, 1024, 3584, 16, 4, 64, 4096, dts[d]};
        bk_row r = bk_row_new('R', "check", "");
        snprintf(r.name, sizeof r.name, "4 decode steps, 4 x 1024 %s b3: logits vs CPU twin",
                 kern_dtype_name(dts[d]));
        kern_slice *g = NULL, *h = NULL;
        kern_model *mg = NULL, *mh = NULL;
        int rc = kern_slice_open(c->req, 256u << 20, &g, &e);
        if (!rc) rc = kern_slice_open(KERN_REQ_CPU, 256u << 20, &h, &e);
        if (!rc) rc = kern_model_open(g, &sh, 3, 512, 9, &mg, &e);
        if (!rc) rc = kern_model_open(h, &sh, 3, 512, 9, &mh, &e);
        for (int i = 0; i < 4 && !rc; i++) {
            uint64_t bg = 0, bh = 0;
            rc = kern_model_step(mg, &bg, &e);
            if (!rc) rc = kern_model_step(mh, &bh, &e);
            if (!rc && bg != bh) rc = vp_errf(&e, VP_ESTATE, "step bytes differ: %llu vs %llu",
                                              (unsigned long long)bg, (unsigned long long)bh);
        }
        const uint64_t n = (uint64_t)3 * sh.vocab;
        float *a = malloc(n * 4), *b = malloc(n * 4);
        double *want = malloc(n * sizeof(double));
        if (!rc && !(a && b && want)) rc = vp_errf(&e, -ENOMEM, "out of host memory");
        if (!rc) rc = kern_model_logits(mg, a, &e);
        if (!rc) rc = kern_model_logits(mh, b, &e);
        if (!rc) {
            for (uint64_t i = 0; i < n; i++)
                want[i] = b[i];
            r.err = bk_rel_err(a, want, n);
            r.check = bk_within(r.err, 10 * KERN_TOL_REL);
            snprintf(r.note, sizeof r.note, "tolerance %.0e (4 steps compound 4 layers)",
                     10 * KERN_TOL_REL);
            bk_emit(c->rec, &r);
        }
        free(a);
        free(b);
        free(want);
        kern_model_close(mg);
        kern_model_close(mh);
        kern_slice_close(g);
        kern_slice_close(h);
        if (rc) stage_error(c, "check", r.name, &e);
    }
    return 0;
}
