/* kern_model.c - a decoder model laid out in one slice and its decode step: embedding, per layer
 * QKV projection, paged attention, output projection, SwiGLU MLP, then the LM head.
 *
 * Design. The model owns no device memory of its own: kern_layout_plan places every tensor in
 * the borrowed slice. Host-side it keeps only the KV block bookkeeping (kern_kv) and a staging copy
 * of the block tables, which it uploads into the slice's scratch before each step. RMS norms are
 * folded into the GEMV that consumes them (KERN_GEMV_NORM_X), residual adds into the GEMV that
 * produces them (KERN_GEMV_ACCUMULATE) and SwiGLU into the gate/up GEMV, so a layer is four GEMVs
 * and one attention. On CUDA the step's launch sequence depends only on the layout, not on the
 * sequences' lengths (those are read from the slice), so it is captured once as a graph and
 * replayed. Sequences start at staggered lengths in the upper half of the context; one that
 * reaches the context is released (its blocks return to the pool) and restarts at half. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kern_impl.h"

struct kern_model {
    kern_slice *s;
    kern_layout L;
    kern_kv kv;
    uint64_t seed;
    uint32_t pinned; /* 0, or the context every step attends over */
    int captured;    /* CUDA: the step graph exists */
    int32_t *tables; /* host staging: batch x max_blocks_per_seq */
    int32_t *lens;   /* host staging: batch */
};

/* Fills an n x k matrix (and its int4 scales) so that W x keeps x's scale: uniform weights with
 * variance 1/k; int4 nibbles uniform (variance of q - 8 is 21.5) with scales around
 * 1/sqrt(21.5 k). */
static int fill_matrix(kern_slice *s, kern_dtype d, uint64_t w, uint64_t scales, uint64_t n,
                       uint64_t k, uint64_t seed, vp_err *e)
{
    if (d == KERN_INT4) {
        int rc = kern_fill(s, w, KERN_FILL_BYTES, n * k / 2u, seed, 0.0f, e);
        if (rc) return rc;
        return kern_fill(s, scales, KERN_FILL_F16_POS, n * (k / KERN_INT4_GROUP), seed + 1u,
                         1.0f / sqrtf(21.5f * (float)k), e);
    }
    return kern_fill(s, w, d == KERN_FP16 ? KERN_FILL_F16 : KERN_FILL_BF16, n * k, seed,
                     sqrtf(3.0f / (float)k), e);
}

static int fill_weights(kern_model *m, vp_err *e)
{
    const kern_layout *L = &m->L;
    const kern_shape *sh = &L->shape;
    const kern_dtype d = sh->dtype;
    const uint64_t h = sh->hidden, hd = sh->head_dim;
    const uint64_t qkv_n = (uint64_t)(sh->heads + 2u * sh->kv_heads) * hd;
    const uint64_t vh = (uint64_t)sh->vocab * h;
    uint64_t seed = m->seed * 1000003u;
    int rc;
    /* embedding rows of unit scale */
    if (d == KERN_INT4) {
        rc = kern_fill(m->s, L->embed, KERN_FILL_BYTES, vh / 2u, seed, 0.0f, e);
        if (!rc)
            rc = kern_fill(m->s, L->embed_scales, KERN_FILL_F16_POS, vh / KERN_INT4_GROUP,
                           seed + 1u, 1.0f / sqrtf(21.5f), e);
    } else {
        rc = kern_fill(m->s, L->embed, d == KERN_FP16 ? KERN_FILL_F16 : KERN_FILL_BF16, vh, seed,
                       1.0f, e);
    }
    for (uint32_t l = 0; l < sh->layers && !rc; l++) {
        kern_layer_offs o;
        kern_layout_layer(L, l, &o);
        seed += 8u;
        rc = fill_matrix(m->s, d, o.qkv, o.qkv_scales, qkv_n, h, seed, e);
        if (!rc)
            rc = fill_matrix(m->s, d, o.o, o.o_scales, h, (uint64_t)sh->heads * hd, seed + 2u, e);
        if (!rc)
            rc = fill_matrix(m->s, d, o.gate_up, o.gate_up_scales, 2u * (uint64_t)sh->intermediate,
                             h, seed + 4u, e);
        if (!rc)
            rc = fill_matrix(m->s, d, o.down, o.down_scales, h, sh->intermediate, seed + 6u, e);
    }
    if (!rc) rc = fill_matrix(m->s, d, L->lm_head, L->lm_head_scales, sh->vocab, h, seed + 8u, e);
    /* the whole KV pool: the "prompt" tokens every sequence starts with */
    if (!rc) rc = kern_fill(m->s, L->kv, KERN_FILL_F16, L->kv_bytes / 2u, seed + 9u, 1.0f, e);
    return rc;
}

int kern_model_open(kern_slice *s, const kern_shape *shape, uint32_t batch, uint32_t context,
                    uint64_t seed, kern_model **out, vp_err *e)
{
    *out = NULL;
    kern_model *m = calloc(1, sizeof *m);
    if (!m) return vp_errf(e, -ENOMEM, "model: out of host memory");
    m->s = s;
    m->seed = seed;
    int rc = kern_layout_plan(shape, batch, context, kern_slice_bytes(s), &m->L, e);
    if (rc) goto fail;
    m->tables = calloc((size_t)batch * m->L.max_blocks_per_seq, sizeof(int32_t));
    m->lens = calloc(batch, sizeof(int32_t));
    if (!m->tables || !m->lens) {
        rc = vp_errf(e, -ENOMEM, "model: out of host memory");
        goto fail;
    }
    rc = kern_kv_init(&m->kv, m->L.kv_blocks, batch, m->L.max_blocks_per_seq);
    if (rc) {
        rc = vp_errf(e, rc, "model: KV bookkeeping: %s", vp_strerror(rc));
        goto fail;
    }
    for (uint32_t b = 0; b < batch; b++) {
        uint32_t len = context / 2u + (uint32_t)((uint64_t)b * (context / 2u) / batch);
        rc = kern_kv_resize(&m->kv, b, len);
        if (rc) {
            rc = vp_errf(e, rc, "model: KV pool: cannot start sequence %u at %u tokens", b, len);
            goto fail;
        }
    }
    rc = fill_weights(m, e);
    if (!rc) rc = kern_slice_sync(s, e);
    if (rc) goto fail;
    *out = m;
    return 0;
fail:
    kern_model_close(m);
    return rc;
}

void kern_model_close(kern_model *m)
{
    if (!m) return;
    kern_kv_close(&m->kv);
    free(m->tables);
    free(m->lens);
    free(m);
}

const kern_layout *kern_model_layout(const kern_model *m)
{
    return &m->L;
}

int kern_model_pin_context(kern_model *m, uint32_t context, vp_err *e)
{
    if (context == 0 || context > m->L.context)
        return vp_errf(e, VP_EINPUT, "model: pinned context %u is not in [1, %u]", context,
                       m->L.context);
    for (uint32_t b = 0; b < m->L.batch; b++) {
        int rc = kern_kv_resize(&m->kv, b, context);
        if (rc)
            return vp_errf(e, rc, "model: KV pool: cannot hold %u tokens for sequence %u", context,
                           b);
    }
    m->pinned = context;
    return 0;
}

/* The launches of one step; identical for every step, whatever the sequences' lengths. */
static int run_step(kern_model *m, vp_err *e)
{
    const kern_layout *L = &m->L;
    const kern_shape *sh = &L->shape;
    kern_slice *s = m->s;
    const uint32_t hd = sh->head_dim, qkv_n = (sh->heads + 2u * sh->kv_heads) * hd;
    kern_embed_args ea = {sh->dtype, L->embed,   L->embed_scales, L->lens, L->x,
                          sh->vocab, sh->hidden, L->batch,        m->seed};
    int rc = kern_embed(s, &ea, e);
    for (uint32_t l = 0; l < sh->layers && !rc; l++) {
        kern_layer_offs o;
        kern_layout_layer(L, l, &o);
        kern_gemv_args qkv = {sh->dtype,  o.qkv,    o.qkv_scales,    L->x, L->qkv_out, qkv_n,
                              sh->hidden, L->batch, KERN_GEMV_NORM_X};
        kern_attn_args at = {.qkv = L->qkv_out,
                             .out = L->attn_out,
                             .kv = L->kv + (uint64_t)l * L->kv_blocks * L->kv_block_bytes,
                             .tables = L->tables,
                             .lens = L->lens,
                             .partial = L->partial,
                             .batch = L->batch,
                             .heads = sh->heads,
                             .kv_heads = sh->kv_heads,
                             .head_dim = hd,
                             .kv_blocks = L->kv_blocks,
                             .max_blocks_per_seq = L->max_blocks_per_seq,
                             .splits = L->attn_splits,
                             .split_blocks = L->attn_split_blocks};
        kern_gemv_args op = {sh->dtype,      o.o,      o.o_scales,
                             L->attn_out,    L->x,     sh->hidden,
                             sh->heads * hd, L->batch, KERN_GEMV_ACCUMULATE};
        kern_gemv_args gu = {sh->dtype,  o.gate_up, o.gate_up_scales,
                             L->x,       L->act,    2u * sh->intermediate,
                             sh->hidden, L->batch,  KERN_GEMV_NORM_X | KERN_GEMV_SWIGLU};
        kern_gemv_args dn = {sh->dtype,        o.down,   o.down_scales,
                             L->act,           L->x,     sh->hidden,
                             sh->intermediate, L->batch, KERN_GEMV_ACCUMULATE};
        rc = kern_gemv(s, &qkv, e);
        if (!rc) rc = kern_attention(s, &at, e);
        if (!rc) rc = kern_gemv(s, &op, e);
        if (!rc) rc = kern_gemv(s, &gu, e);
        if (!rc) rc = kern_gemv(s, &dn, e);
    }
    kern_gemv_args lm = {sh->dtype,  L->lm_head, L->lm_head_scales, L->x, L->logits, sh->vocab,
                         sh->hidden, L->batch,   KERN_GEMV_NORM_X};
    if (!rc) rc = kern_gemv(s, &lm, e);
    return rc;
}

int kern_model_step(kern_model *m, uint64_t *bytes, vp_err *e)
{
    const kern_layout *L = &m->L;
    const kern_shape *sh = &L->shape;
    uint64_t tokens = 0;
    int rc;
    for (uint32_t b = 0; b < L->batch; b++) {
        uint32_t pos;
        if (m->pinned) {
            pos = m->pinned - 1u;
        } else {
            pos = kern_kv_len(&m->kv, b);
            if (pos + 1u > L->context) {
                /* finished: the blocks go back to the pool and a new sequence starts */
                kern_kv_release(&m->kv, b);
                pos = L->context / 2u;
            }
            rc = kern_kv_resize(&m->kv, b, pos + 1u);
            if (rc) return vp_errf(e, rc, "model: KV pool exhausted at sequence %u", b);
        }
        const uint32_t *t = kern_kv_table(&m->kv, b);
        uint32_t nblk = pos / KERN_KV_BLOCK_TOKENS + 1u;
        for (uint32_t i = 0; i < L->max_blocks_per_seq; i++)
            m->tables[(uint64_t)b * L->max_blocks_per_seq + i] = i < nblk ? (int32_t)t[i] : -1;
        m->lens[b] = (int32_t)pos;
        tokens += pos + 1u;
    }
    rc = kern_upload(m->s, L->tables, m->tables,
                     (uint64_t)L->batch * L->max_blocks_per_seq * sizeof(int32_t), e);
    if (!rc) rc = kern_upload(m->s, L->lens, m->lens, (uint64_t)L->batch * sizeof(int32_t), e);
    if (rc) return rc;
    if (kern_slice_backend(m->s) == KERN_BACKEND_CUDA) {
        if (!m->captured) {
            rc = kcuda_capture_begin(m->s->cuda, e);
            if (rc) return rc;
            rc = run_step(m, e);
            int rc2 = kcuda_capture_end(m->s->cuda, e);
            if (rc) return rc;
            if (rc2) return rc2;
            m->captured = 1;
        }
        rc = kcuda_replay(m->s->cuda, e);
    } else {
        rc = run_step(m, e);
    }
    if (!rc) rc = kern_slice_sync(m->s, e);
    if (!rc && bytes) {
        uint64_t per_token = (uint64_t)2u * sh->layers * sh->kv_heads * sh->head_dim * 2u;
        *bytes = kern_decode_bytes_per_step(sh, L->batch, 0) + per_token * tokens;
    }
    return rc;
}

int kern_model_logits(kern_model *m, float *dst, vp_err *e)
{
    return kern_download(m->s, m->L.logits, dst,
                         (uint64_t)m->L.batch * m->L.shape.vocab * sizeof(float), e);
}
