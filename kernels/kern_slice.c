/* kern_slice.c - the slice: one allocation of exactly the slice's bytes, the bump sub-allocator
 * that carves it, the paged KV block bookkeeping, and the backend dispatch of every kernel.
 *
 * Design. Kernels address the slice by offsets. Before any call reaches a backend, this file
 * checks that every region it names ([off, off + bytes)) lies inside the slice and is aligned for
 * 16-byte vector loads, so no kernel can touch memory outside its slice whatever the caller passes;
 * data-dependent indices (KV block ids) are re-checked inside the kernels. The KV bookkeeping keeps
 * a LIFO free list: a released sequence's blocks are the next ones handed out, and a resize that
 * cannot be satisfied changes nothing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kern_impl.h"

/* ---- names ---- */

int kern_dtype_parse(const char *s, kern_dtype *out)
{
    static const char *names[] = {"fp16", "bf16", "int4"};
    for (unsigned i = 0; i < VP_ARRAY_LEN(names); i++)
        if (s && strcmp(s, names[i]) == 0) {
            *out = (kern_dtype)i;
            return 0;
        }
    return VP_ENOTFOUND;
}

const char *kern_dtype_name(kern_dtype d)
{
    switch (d) {
    case KERN_FP16:
        return "fp16";
    case KERN_BF16:
        return "bf16";
    case KERN_INT4:
        return "int4";
    }
    return "?";
}

int kern_backend_parse(const char *s, kern_backend_req *out)
{
    if (!s) return VP_ENOTFOUND;
    if (strcmp(s, "auto") == 0)
        *out = KERN_REQ_AUTO;
    else if (strcmp(s, "cpu") == 0)
        *out = KERN_REQ_CPU;
    else if (strcmp(s, "cuda") == 0)
        *out = KERN_REQ_CUDA;
    else
        return VP_ENOTFOUND;
    return 0;
}

const char *kern_backend_name(kern_backend b)
{
    return b == KERN_BACKEND_CUDA ? "cuda" : "cpu";
}

/* ---- arena ---- */

void kern_arena_init(kern_arena *a, uint64_t size)
{
    a->size = size;
    a->used = 0;
}

int kern_arena_take(kern_arena *a, uint64_t bytes, uint64_t align, uint64_t *off)
{
    if (align == 0 || (align & (align - 1)) != 0) return VP_EINPUT;
    uint64_t start = a->used + (align - 1);
    if (start < a->used) return VP_ENOSPACE;
    start &= ~(align - 1);
    if (start > a->size || bytes > a->size - start) return VP_ENOSPACE;
    *off = start;
    a->used = start + bytes;
    return 0;
}

/* ---- KV blocks ---- */

int kern_kv_init(kern_kv *kv, uint32_t num_blocks, uint32_t max_seqs, uint32_t max_blocks_per_seq)
{
    memset(kv, 0, sizeof *kv);
    if (num_blocks == 0 || max_seqs == 0 || max_blocks_per_seq == 0) return VP_EINPUT;
    kv->free_list = malloc(sizeof(uint32_t) * num_blocks);
    kv->tables = calloc((size_t)max_seqs * max_blocks_per_seq, sizeof(uint32_t));
    kv->lens = calloc(max_seqs, sizeof(uint32_t));
    if (!kv->free_list || !kv->tables || !kv->lens) {
        kern_kv_close(kv);
        return -ENOMEM;
    }
    kv->num_blocks = num_blocks;
    kv->max_seqs = max_seqs;
    kv->max_blocks_per_seq = max_blocks_per_seq;
    /* the top of the stack is block 0, so a fresh pool hands out 0, 1, 2, ... */
    for (uint32_t i = 0; i < num_blocks; i++)
        kv->free_list[i] = num_blocks - 1u - i;
    kv->free_top = num_blocks;
    return 0;
}

void kern_kv_close(kern_kv *kv)
{
    if (!kv) return;
    free(kv->free_list);
    free(kv->tables);
    free(kv->lens);
    memset(kv, 0, sizeof *kv);
}

static uint32_t blocks_for(uint32_t tokens)
{
    return tokens / KERN_KV_BLOCK_TOKENS + (tokens % KERN_KV_BLOCK_TOKENS != 0);
}

int kern_kv_resize(kern_kv *kv, uint32_t seq, uint32_t tokens)
{
    if (seq >= kv->max_seqs) return VP_EINPUT;
    uint32_t have = blocks_for(kv->lens[seq]), want = blocks_for(tokens);
    uint32_t *table = kv->tables + (uint64_t)seq * kv->max_blocks_per_seq;
    if (want > kv->max_blocks_per_seq) return VP_ENOSPACE;
    if (want > have && want - have > kv->free_top) return VP_ENOSPACE;
    while (have < want)
        table[have++] = kv->free_list[--kv->free_top];
    /* free the tail in reverse, so the next allocation gets the lowest freed block back first */
    while (have > want)
        kv->free_list[kv->free_top++] = table[--have];
    kv->lens[seq] = tokens;
    return 0;
}

void kern_kv_release(kern_kv *kv, uint32_t seq)
{
    (void)kern_kv_resize(kv, seq, 0);
}

uint32_t kern_kv_len(const kern_kv *kv, uint32_t seq)
{
    return seq < kv->max_seqs ? kv->lens[seq] : 0;
}

uint32_t kern_kv_free_blocks(const kern_kv *kv)
{
    return kv->free_top;
}

const uint32_t *kern_kv_table(const kern_kv *kv, uint32_t seq)
{
    return seq < kv->max_seqs ? kv->tables + (uint64_t)seq * kv->max_blocks_per_seq : NULL;
}

/* ---- slice ---- */

int kern_cuda_built(void)
{
    return kcuda_built();
}

int kern_cuda_device_count(vp_err *e)
{
    return kcuda_device_count(e);
}

int kern_cuda_describe(kern_cuda_info *out, vp_err *e)
{
    return kcuda_describe(out, e);
}

int kern_budget_slice(uint64_t budget, uint64_t context, uint64_t headroom, uint64_t granule,
                      uint64_t *slice)
{
    if (granule == 0 || (granule & (granule - 1u))) return VP_EINPUT;
    if (context > budget || headroom > budget - context) return VP_ENOSPACE;
    uint64_t left = (budget - context - headroom) & ~(granule - 1u);
    if (left == 0) return VP_ENOSPACE;
    *slice = left;
    return 0;
}

/* The backend a request resolves to; VP_ESTATE when CUDA is asked for and cannot be had. */
static int pick_backend(kern_backend_req req, kern_backend *be, vp_err *e)
{
    *be = KERN_BACKEND_CPU;
    if (req == KERN_REQ_CUDA) {
        if (!kcuda_built()) return vp_errf(e, VP_ESTATE, "backend cuda: cuda backend not built");
        vp_err why = {0};
        if (kcuda_device_count(&why) == 0)
            return vp_errf(e, VP_ESTATE, "backend cuda: no usable CUDA device (%s)", why.msg);
        *be = KERN_BACKEND_CUDA;
    } else if (req == KERN_REQ_AUTO) {
        *be = kcuda_device_count(NULL) > 0 ? KERN_BACKEND_CUDA : KERN_BACKEND_CPU;
    }
    return 0;
}

/* bytes: the slice (budget 0) or the budget it must fit in with the backend's own memory. */
static int slice_open(kern_backend_req req, uint64_t bytes, int budgeted, kern_slice **out,
                      vp_err *e)
{
    *out = NULL;
    if (bytes == 0 || bytes > (uint64_t)SIZE_MAX)
        return vp_errf(e, VP_EINPUT, "slice: %llu bytes is not a valid slice size",
                       (unsigned long long)bytes);
    kern_backend be;
    int rc = pick_backend(req, &be, e);
    if (rc) return rc;
    kern_slice *s = calloc(1, sizeof *s);
    if (!s) return vp_errf(e, -ENOMEM, "slice: out of host memory");
    s->backend = be;
    s->mem.context_source = "none";
    if (be == KERN_BACKEND_CUDA) {
        s->mem.budget = budgeted ? bytes : 0;
        rc = kcuda_open(bytes, &s->mem, &s->cuda, s->device, sizeof s->device, e);
        if (rc) {
            free(s);
            return rc;
        }
        s->bytes = s->mem.slice;
    } else {
        void *p = NULL;
        if (posix_memalign(&p, KERN_ALIGN, (size_t)bytes) != 0) {
            free(s);
            return vp_errf(e, -ENOMEM, "slice: cannot take %llu bytes of host memory",
                           (unsigned long long)bytes);
        }
        memset(p, 0, (size_t)bytes); /* touch every page: the slice is really held */
        s->host = p;
        s->bytes = bytes;
        s->mem.budget = s->mem.slice = bytes;
        strcpy(s->device, "cpu");
    }
    if (!budgeted) s->mem.budget = s->bytes;
    *out = s;
    return 0;
}

int kern_slice_open(kern_backend_req req, uint64_t bytes, kern_slice **out, vp_err *e)
{
    return slice_open(req, bytes, 0, out, e);
}

int kern_slice_open_budget(kern_backend_req req, uint64_t budget, kern_slice **out, vp_err *e)
{
    return slice_open(req, budget, 1, out, e);
}

void kern_slice_memory(const kern_slice *s, kern_slice_mem *out)
{
    *out = s->mem;
}

int kern_slice_device_used(kern_slice *s, uint64_t *bytes, vp_err *e)
{
    if (s->backend != KERN_BACKEND_CUDA)
        return vp_errf(e, VP_ESTATE, "device memory: the cpu backend holds no device memory");
    return kcuda_device_used(s->cuda, bytes, e);
}

void kern_slice_close(kern_slice *s)
{
    if (!s) return;
    if (s->cuda) kcuda_close(s->cuda);
    free(s->host);
    free(s);
}

kern_backend kern_slice_backend(const kern_slice *s)
{
    return s->backend;
}

uint64_t kern_slice_bytes(const kern_slice *s)
{
    return s->bytes;
}

const char *kern_slice_device(const kern_slice *s)
{
    return s->device;
}

void *kern_slice_host(kern_slice *s)
{
    return s->host;
}

/* [off, off + n) inside the slice and off aligned to align; else VP_EINPUT naming what. */
static int check_region(const kern_slice *s, const char *what, uint64_t off, uint64_t n,
                        uint64_t align, vp_err *e)
{
    if (off > s->bytes || n > s->bytes - off)
        return vp_errf(e, VP_EINPUT, "%s: bytes [%llu, +%llu) lie outside the %llu-byte slice",
                       what, (unsigned long long)off, (unsigned long long)n,
                       (unsigned long long)s->bytes);
    if (off % align)
        return vp_errf(e, VP_EINPUT, "%s: offset %llu is not %llu-byte aligned", what,
                       (unsigned long long)off, (unsigned long long)align);
    return 0;
}

static int overlaps(uint64_t a, uint64_t an, uint64_t b, uint64_t bn)
{
    return an && bn && a < b + bn && b < a + an;
}

int kern_upload(kern_slice *s, uint64_t off, const void *src, uint64_t n, vp_err *e)
{
    int rc = check_region(s, "upload", off, n, 1, e);
    if (rc || n == 0) return rc;
    if (s->backend == KERN_BACKEND_CUDA) return kcuda_upload(s->cuda, off, src, n, e);
    memcpy(s->host + off, src, (size_t)n);
    return 0;
}

int kern_download(kern_slice *s, uint64_t off, void *dst, uint64_t n, vp_err *e)
{
    int rc = check_region(s, "download", off, n, 1, e);
    if (rc || n == 0) return rc;
    if (s->backend == KERN_BACKEND_CUDA) return kcuda_download(s->cuda, off, dst, n, e);
    memcpy(dst, s->host + off, (size_t)n);
    return 0;
}

int kern_slice_sync(kern_slice *s, vp_err *e)
{
    return s->backend == KERN_BACKEND_CUDA ? kcuda_sync(s->cuda, e) : 0;
}

int kern_fill(kern_slice *s, uint64_t off, kern_fill_kind kind, uint64_t count, uint64_t seed,
              float scale, vp_err *e)
{
    if ((unsigned)kind > KERN_FILL_BYTES)
        return vp_errf(e, VP_EINPUT, "fill: unknown kind %d", kind);
    uint64_t n;
    if (vp_mul_u64(count, kern_fill_elem(kind), &n))
        return vp_errf(e, VP_EINPUT, "fill: %llu elements overflow", (unsigned long long)count);
    int rc = check_region(s, "fill", off, n, kern_fill_elem(kind), e);
    if (rc || count == 0) return rc;
    if (s->backend == KERN_BACKEND_CUDA)
        return kcuda_fill(s->cuda, off, kind, count, seed, scale, e);
    kern_fill_host(s->host + off, kind, count, seed, scale);
    return 0;
}

int kern_copy(kern_slice *s, uint64_t dst, uint64_t src, uint64_t n, vp_err *e)
{
    int rc = check_region(s, "copy source", src, n, 1, e);
    if (!rc) rc = check_region(s, "copy destination", dst, n, 1, e);
    if (rc || n == 0) return rc;
    if (overlaps(src, n, dst, n))
        return vp_errf(e, VP_EINPUT, "copy: source and destination overlap");
    if (s->backend == KERN_BACKEND_CUDA) return kcuda_copy(s->cuda, dst, src, n, e);
    memcpy(s->host + dst, s->host + src, (size_t)n);
    return 0;
}

/* ---- kernels ---- */

static uint64_t gemv_w_bytes(const kern_gemv_args *a)
{
    uint64_t nk = (uint64_t)a->n * a->k;
    return a->dtype == KERN_INT4 ? nk / 2u : nk * 2u;
}

static uint64_t gemv_y_elems(const kern_gemv_args *a)
{
    uint64_t n = (a->flags & KERN_GEMV_SWIGLU) ? a->n / 2u : a->n;
    return n * a->batch;
}

uint64_t kern_gemv_bytes(const kern_gemv_args *a)
{
    uint64_t scales = a->dtype == KERN_INT4 ? (uint64_t)a->n * (a->k / KERN_INT4_GROUP) * 2u : 0;
    uint64_t y = gemv_y_elems(a) * 4u * ((a->flags & KERN_GEMV_ACCUMULATE) ? 2u : 1u);
    return gemv_w_bytes(a) + scales + (uint64_t)a->batch * a->k * 4u + y;
}

int kern_gemv(kern_slice *s, const kern_gemv_args *a, vp_err *e)
{
    if ((unsigned)a->dtype > KERN_INT4) return vp_errf(e, VP_EINPUT, "gemv: unknown dtype");
    if (a->n == 0 || a->k == 0 || a->batch == 0 || a->k % KERN_INT4_GROUP)
        return vp_errf(e, VP_EINPUT,
                       "gemv: n=%u k=%u batch=%u (k must be a non-zero multiple of %u)", a->n, a->k,
                       a->batch, KERN_INT4_GROUP);
    if ((a->flags & KERN_GEMV_SWIGLU) && ((a->n & 1u) || (a->flags & KERN_GEMV_ACCUMULATE)))
        return vp_errf(e, VP_EINPUT, "gemv: SwiGLU needs an even n and no accumulate");
    uint64_t wb = gemv_w_bytes(a), xb = (uint64_t)a->batch * a->k * 4u, yb = gemv_y_elems(a) * 4u;
    uint64_t sb = a->dtype == KERN_INT4 ? (uint64_t)a->n * (a->k / KERN_INT4_GROUP) * 2u : 0;
    int rc = check_region(s, "gemv weights", a->w, wb, 16, e);
    if (!rc && sb) rc = check_region(s, "gemv scales", a->scales, sb, 2, e);
    if (!rc) rc = check_region(s, "gemv x", a->x, xb, 16, e);
    if (!rc) rc = check_region(s, "gemv y", a->y, yb, 4, e);
    if (rc) return rc;
    if (overlaps(a->y, yb, a->x, xb) || overlaps(a->y, yb, a->w, wb) ||
        overlaps(a->y, yb, a->scales, sb))
        return vp_errf(e, VP_EINPUT, "gemv: y overlaps an input");
    if (s->backend == KERN_BACKEND_CUDA) return kcuda_gemv(s->cuda, a, e);
    kcpu_gemv(s->host, a);
    return 0;
}

int kern_attention(kern_slice *s, const kern_attn_args *a, vp_err *e)
{
    uint32_t hd = a->head_dim;
    if (a->batch == 0 || a->heads == 0 || a->kv_heads == 0 || a->heads % a->kv_heads ||
        a->heads / a->kv_heads > KERN_MAX_GQA)
        return vp_errf(e, VP_EINPUT,
                       "attention: heads=%u kv_heads=%u batch=%u (heads must be a "
                       "multiple of kv_heads, at most %u per KV head)",
                       a->heads, a->kv_heads, a->batch, KERN_MAX_GQA);
    if (hd < 8 || hd > 256 || (hd & (hd - 1)))
        return vp_errf(e, VP_EINPUT, "attention: head_dim %u is not a power of two in [8, 256]",
                       hd);
    if (a->kv_blocks == 0 || a->max_blocks_per_seq == 0 || a->splits == 0 || a->split_blocks == 0 ||
        (uint64_t)a->splits * a->split_blocks < a->max_blocks_per_seq)
        return vp_errf(e, VP_EINPUT, "attention: kv_blocks=%u max_blocks_per_seq=%u splits=%u x %u",
                       a->kv_blocks, a->max_blocks_per_seq, a->splits, a->split_blocks);
    uint64_t b = a->batch;
    uint64_t row = (uint64_t)(a->heads + 2u * a->kv_heads) * hd;
    uint64_t blk = (uint64_t)2u * a->kv_heads * KERN_KV_BLOCK_TOKENS * hd * 2u;
    int rc = check_region(s, "attention qkv", a->qkv, b * row * 4u, 16, e);
    if (!rc) rc = check_region(s, "attention out", a->out, b * a->heads * hd * 4u, 16, e);
    if (!rc) rc = check_region(s, "attention kv", a->kv, blk * a->kv_blocks, 16, e);
    if (!rc)
        rc = check_region(s, "attention tables", a->tables, b * a->max_blocks_per_seq * 4u, 4, e);
    if (!rc) rc = check_region(s, "attention lens", a->lens, b * 4u, 4, e);
    if (!rc)
        rc = check_region(s, "attention partial", a->partial,
                          b * a->heads * a->splits * (hd + 4u) * 4u, 16, e);
    if (rc) return rc;
    if (s->backend == KERN_BACKEND_CUDA) return kcuda_attention(s->cuda, a, e);
    kcpu_attention(s->host, a);
    return 0;
}

int kern_embed(kern_slice *s, const kern_embed_args *a, vp_err *e)
{
    if (a->vocab == 0 || a->hidden == 0 || a->batch == 0 || a->hidden % KERN_INT4_GROUP)
        return vp_errf(e, VP_EINPUT, "embed: vocab=%u hidden=%u batch=%u", a->vocab, a->hidden,
                       a->batch);
    uint64_t vh = (uint64_t)a->vocab * a->hidden;
    int rc =
        check_region(s, "embed table", a->table, a->dtype == KERN_INT4 ? vh / 2u : vh * 2u, 16, e);
    if (!rc && a->dtype == KERN_INT4)
        rc = check_region(s, "embed scales", a->scales, vh / KERN_INT4_GROUP * 2u, 2, e);
    if (!rc) rc = check_region(s, "embed lens", a->lens, (uint64_t)a->batch * 4u, 4, e);
    if (!rc) rc = check_region(s, "embed x", a->x, (uint64_t)a->batch * a->hidden * 4u, 16, e);
    if (rc) return rc;
    if (s->backend == KERN_BACKEND_CUDA) return kcuda_embed(s->cuda, a, e);
    kcpu_embed(s->host, a);
    return 0;
}

/* ---- timing ---- */

int kern_timer_start(kern_slice *s, vp_err *e)
{
    if (s->backend == KERN_BACKEND_CUDA) return kcuda_timer_start(s->cuda, e);
    clock_gettime(CLOCK_MONOTONIC, &s->t0);
    return 0;
}

int kern_timer_stop(kern_slice *s, double *ms, vp_err *e)
{
    if (s->backend == KERN_BACKEND_CUDA) return kcuda_timer_stop(s->cuda, ms, e);
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *ms = (double)(t1.tv_sec - s->t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - s->t0.tv_nsec) / 1e6;
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int kern_probe_copy(kern_slice *s, uint64_t dst, uint64_t src, uint64_t n, unsigned iters,
                    double *gbs, vp_err *e)
{
    if (n == 0 || iters == 0 || iters > 1000)
        return vp_errf(e, VP_EINPUT, "probe: %llu bytes x %u iterations", (unsigned long long)n,
                       iters);
    double *t = malloc(sizeof(double) * iters);
    if (!t) return vp_errf(e, -ENOMEM, "probe: out of host memory");
    int rc = 0;
    for (unsigned i = 0; i < 2 && !rc; i++)
        rc = kern_copy(s, dst, src, n, e);
    if (!rc) rc = kern_slice_sync(s, e);
    for (unsigned i = 0; i < iters && !rc; i++) {
        rc = kern_timer_start(s, e);
        if (!rc) rc = kern_copy(s, dst, src, n, e);
        if (!rc) rc = kern_timer_stop(s, &t[i], e);
    }
    if (!rc) {
        qsort(t, iters, sizeof(double), cmp_double);
        double med = t[iters / 2];
        *gbs = med > 0 ? 2.0 * (double)n / (med * 1e6) : 0.0;
    }
    free(t);
    return rc;
}
