/* kern_layout.c - pure layout math: shape checks, weight and KV byte counts, the default shape that
 * fills a slice, where every tensor sits in it, and the bytes one decode step reads.
 *
 * Design. Everything is integer arithmetic on uint64_t with overflow checks; nothing here touches
 * memory or a device, so the allocator's accounting is unit-tested exactly. The layout is a bump
 * allocation over [0, slice_bytes) in the order weights, scratch, KV pool; the KV pool takes every
 * whole block left, and a shape whose weights, scratch and minimum KV (batch sequences of context
 * tokens) do not fit is refused with VP_ENOSPACE rather than trimmed. */
#include "kern_impl.h"

/* Thread blocks the CUDA attention aims for when it splits the context: about two per SM on the
 * largest parts (the GQA-8 kernel fits two or three per SM), so one wave runs them all; fixed here
 * so the layout stays a pure function of its inputs. */
#define KERN_ATTN_TARGET_CTAS 256u
/* Fewest KV blocks (16 tokens each) a context split covers: a split's fixed cost (loading q,
 * merging its token groups, writing and re-reading its partial result) is amortised over at
 * least 128 tokens, which at batch 1 keeps the partials under 7% of the KV bytes. */
#define KERN_ATTN_MIN_SPLIT_BLOCKS 8u

static uint64_t align_up(uint64_t v)
{
    return (v + (KERN_ALIGN - 1u)) & ~(uint64_t)(KERN_ALIGN - 1u);
}

/* Bytes of an n x k matrix of dtype d and of its int4 scales (0 for fp16/bf16), unaligned. */
static uint64_t mat_bytes(kern_dtype d, uint64_t n, uint64_t k)
{
    return d == KERN_INT4 ? n * k / 2u : n * k * 2u;
}

static uint64_t scale_bytes(kern_dtype d, uint64_t n, uint64_t k)
{
    return d == KERN_INT4 ? n * (k / KERN_INT4_GROUP) * 2u : 0;
}

static int is_pow2(uint32_t v)
{
    return v && !(v & (v - 1u));
}

int kern_shape_check(const kern_shape *s, vp_err *e)
{
    if ((unsigned)s->dtype > KERN_INT4) return vp_errf(e, VP_EINPUT, "shape: dtype: unknown dtype");
    if (s->layers == 0 || s->layers > 1024)
        return vp_errf(e, VP_EINPUT, "shape: layers: %u is not in [1, 1024]", s->layers);
    if (s->hidden == 0 || s->hidden % 128u || s->hidden > 65536)
        return vp_errf(e, VP_EINPUT, "shape: hidden: %u is not a multiple of 128 in [128, 65536]",
                       s->hidden);
    if (s->intermediate == 0 || s->intermediate % 128u || s->intermediate > 262144)
        return vp_errf(e, VP_EINPUT,
                       "shape: intermediate: %u is not a multiple of 128 in [128, 262144]",
                       s->intermediate);
    if (s->head_dim < 8 || s->head_dim > 256 || !is_pow2(s->head_dim))
        return vp_errf(e, VP_EINPUT, "shape: head_dim: %u is not a power of two in [8, 256]",
                       s->head_dim);
    if (s->heads == 0 || s->heads > 1024)
        return vp_errf(e, VP_EINPUT, "shape: heads: %u is not in [1, 1024]", s->heads);
    if (s->kv_heads == 0 || s->heads % s->kv_heads || s->heads / s->kv_heads > KERN_MAX_GQA)
        return vp_errf(
            e, VP_EINPUT,
            "shape: kv_heads: %u must divide heads (%u) with at most %u heads per KV head",
            s->kv_heads, s->heads, KERN_MAX_GQA);
    if (((uint64_t)s->heads * s->head_dim) % 128u)
        return vp_errf(e, VP_EINPUT, "shape: heads x head_dim (%u x %u) is not a multiple of 128",
                       s->heads, s->head_dim);
    if (s->vocab == 0 || s->vocab > (1u << 24))
        return vp_errf(e, VP_EINPUT, "shape: vocab: %u is not in [1, 16777216]", s->vocab);
    return 0;
}

/* One layer's weight regions, laid out from offset 0 (aligned), and the region's total. Sizes
 * fit in 64 bits for every shape kern_shape_check accepts (at most ~2^37 bytes a matrix). */
static uint64_t layer_offsets(const kern_shape *s, kern_layer_offs *o)
{
    const kern_dtype d = s->dtype;
    const uint64_t h = s->hidden, qkv_n = (uint64_t)(s->heads + 2u * s->kv_heads) * s->head_dim;
    const uint64_t attn = (uint64_t)s->heads * s->head_dim, in = s->intermediate;
    uint64_t p = 0;
    o->qkv = p;
    p = align_up(p + mat_bytes(d, qkv_n, h));
    o->qkv_scales = p;
    p = align_up(p + scale_bytes(d, qkv_n, h));
    o->o = p;
    p = align_up(p + mat_bytes(d, h, attn));
    o->o_scales = p;
    p = align_up(p + scale_bytes(d, h, attn));
    o->gate_up = p;
    p = align_up(p + mat_bytes(d, 2u * in, h));
    o->gate_up_scales = p;
    p = align_up(p + scale_bytes(d, 2u * in, h));
    o->down = p;
    p = align_up(p + mat_bytes(d, h, in));
    o->down_scales = p;
    p = align_up(p + scale_bytes(d, h, in));
    return p;
}

/* Aligned bytes of the embedding (or LM head) with its scales. */
static uint64_t vocab_bytes(const kern_shape *s)
{
    return align_up(mat_bytes(s->dtype, s->vocab, s->hidden)) +
           align_up(scale_bytes(s->dtype, s->vocab, s->hidden));
}

int kern_shape_weight_bytes(const kern_shape *s, uint64_t *out)
{
    kern_layer_offs lo;
    uint64_t layers, total;
    if (vp_mul_u64(layer_offsets(s, &lo), s->layers, &layers) ||
        vp_add_u64(layers, 2u * vocab_bytes(s), &total))
        return VP_EOVERFLOW;
    *out = total;
    return 0;
}

static uint64_t kv_block_bytes(const kern_shape *s)
{
    return (uint64_t)2u * s->kv_heads * KERN_KV_BLOCK_TOKENS * s->head_dim * 2u;
}

uint64_t kern_decode_bytes_per_step(const kern_shape *s, uint32_t batch, uint32_t context)
{
    const kern_dtype d = s->dtype;
    const uint64_t h = s->hidden, qkv_n = (uint64_t)(s->heads + 2u * s->kv_heads) * s->head_dim;
    const uint64_t attn = (uint64_t)s->heads * s->head_dim, in = s->intermediate;
    uint64_t layer = mat_bytes(d, qkv_n, h) + scale_bytes(d, qkv_n, h) + mat_bytes(d, h, attn) +
                     scale_bytes(d, h, attn) + mat_bytes(d, 2u * in, h) +
                     scale_bytes(d, 2u * in, h) + mat_bytes(d, h, in) + scale_bytes(d, h, in);
    uint64_t passes = batch / KERN_GEMV_BATCH_TILE + (batch % KERN_GEMV_BATCH_TILE != 0);
    uint64_t per_pass, weights, emb, kv, total;
    if (vp_mul_u64(layer, s->layers, &per_pass) ||
        vp_add_u64(per_pass, mat_bytes(d, s->vocab, h) + scale_bytes(d, s->vocab, h), &per_pass) ||
        vp_mul_u64(per_pass, passes, &weights))
        return 0;
    emb = (mat_bytes(d, 1, h) + scale_bytes(d, 1, h)) * batch;
    /* 2 (K and V) x layers x kv_heads x head_dim x context x batch x 2 bytes */
    if (vp_mul_u64((uint64_t)2u * s->layers * s->kv_heads * s->head_dim * 2u,
                   (uint64_t)context * batch, &kv) ||
        vp_add_u64(weights, emb, &total) || vp_add_u64(total, kv, &total))
        return 0;
    return total;
}

static void attn_split(uint32_t batch, uint32_t kv_heads, uint32_t max_blocks, uint32_t *splits,
                       uint32_t *split_blocks)
{
    uint64_t ctas = (uint64_t)batch * kv_heads;
    uint64_t want = (KERN_ATTN_TARGET_CTAS + ctas - 1u) / ctas;
    uint64_t most = max_blocks / KERN_ATTN_MIN_SPLIT_BLOCKS;
    if (want > most) want = most;
    if (want == 0) want = 1;
    *split_blocks = (uint32_t)((max_blocks + want - 1u) / want);
    *splits = (max_blocks + *split_blocks - 1u) / *split_blocks;
}

void kern_gemv_plan_make(kern_dtype d, uint32_t n, uint32_t k, uint32_t batch, uint32_t sms,
                         kern_gemv_plan *p)
{
    const uint64_t vecs = d == KERN_INT4 ? k / 32u : k / 8u; /* 16-byte vectors per row */
    const uint64_t target = (uint64_t)(sms ? sms : KERN_GEMV_PLAN_SMS) * 32u;
    p->rows_per_warp = batch <= 2 ? 4u : 2u;
    const uint64_t warps = ((uint64_t)n + p->rows_per_warp - 1u) / p->rows_per_warp;
    p->ksplit = 1;
    while (p->ksplit < KERN_GEMV_WARPS && warps * p->ksplit < target &&
           vecs >= 128u * p->ksplit)
        p->ksplit *= 2u;
    p->rows_per_block = KERN_GEMV_WARPS / p->ksplit * p->rows_per_warp;
    p->blocks = (uint32_t)(((uint64_t)n + p->rows_per_block - 1u) / p->rows_per_block);
}

int kern_layout_plan(const kern_shape *s, uint32_t batch, uint32_t context, uint64_t slice_bytes,
                     kern_layout *out, vp_err *e)
{
    int rc = kern_shape_check(s, e);
    if (rc) return rc;
    if (batch == 0 || batch > 256)
        return vp_errf(e, VP_EINPUT, "layout: batch: %u is not in [1, 256]", batch);
    if (context == 0 || context > (1u << 20))
        return vp_errf(e, VP_EINPUT, "layout: context: %u is not in [1, 1048576]", context);

    kern_layout L;
    memset(&L, 0, sizeof L);
    L.shape = *s;
    L.batch = batch;
    L.context = context;
    L.slice_bytes = slice_bytes;
    kern_arena a;
    kern_arena_init(&a, slice_bytes);
    const kern_dtype d = s->dtype;
    const uint64_t B = batch, h = s->hidden, hd = s->head_dim;
    const uint64_t qkv_n = (uint64_t)(s->heads + 2u * s->kv_heads) * hd;

    /* weights */
    uint64_t layer_bytes = layer_offsets(s, &L.layer_rel), wb;
    if (kern_shape_weight_bytes(s, &wb))
        return vp_errf(e, VP_EOVERFLOW, "layout: weight bytes overflow");
    if (wb > slice_bytes)
        return vp_errf(e, VP_ENOSPACE, "layout: weights need %llu bytes, the slice has %llu",
                       (unsigned long long)wb, (unsigned long long)slice_bytes);
    rc = kern_arena_take(&a, mat_bytes(d, s->vocab, h), KERN_ALIGN, &L.embed);
    if (!rc) rc = kern_arena_take(&a, scale_bytes(d, s->vocab, h), KERN_ALIGN, &L.embed_scales);
    if (!rc) rc = kern_arena_take(&a, layer_bytes * s->layers, KERN_ALIGN, &L.layer0);
    if (!rc) rc = kern_arena_take(&a, mat_bytes(d, s->vocab, h), KERN_ALIGN, &L.lm_head);
    if (!rc) rc = kern_arena_take(&a, scale_bytes(d, s->vocab, h), KERN_ALIGN, &L.lm_head_scales);
    if (rc) return vp_errf(e, VP_ENOSPACE, "layout: weights do not fit the slice");
    L.layer_stride = layer_bytes;
    L.weights_bytes = align_up(a.used);

    /* scratch */
    uint64_t scratch0 = align_up(a.used);
    L.max_blocks_per_seq = context / KERN_KV_BLOCK_TOKENS + (context % KERN_KV_BLOCK_TOKENS != 0);
    attn_split(batch, s->kv_heads, L.max_blocks_per_seq, &L.attn_splits, &L.attn_split_blocks);
    struct {
        uint64_t *off, bytes;
    } sc[] = {
        {&L.x, B * h * 4u},
        {&L.qkv_out, B * qkv_n * 4u},
        {&L.attn_out, B * s->heads * hd * 4u},
        {&L.act, B * s->intermediate * 4u},
        {&L.logits, B * s->vocab * 4u},
        {&L.tables, B * L.max_blocks_per_seq * 4u},
        {&L.lens, B * 4u},
        {&L.partial, B * s->heads * L.attn_splits * (hd + 4u) * 4u},
    };
    for (unsigned i = 0; i < VP_ARRAY_LEN(sc); i++)
        if (kern_arena_take(&a, sc[i].bytes, KERN_ALIGN, sc[i].off))
            return vp_errf(
                e, VP_ENOSPACE,
                "layout: weights (%llu bytes) and scratch do not fit the %llu-byte slice",
                (unsigned long long)L.weights_bytes, (unsigned long long)slice_bytes);
    L.scratch_bytes = align_up(a.used) - scratch0;

    /* KV pool: every whole block left */
    L.kv_block_bytes = kv_block_bytes(s);
    uint64_t per_block = L.kv_block_bytes * s->layers, need = B * L.max_blocks_per_seq;
    uint64_t start = align_up(a.used);
    uint64_t avail = start <= slice_bytes ? slice_bytes - start : 0;
    uint64_t blocks = avail / per_block;
    if (blocks > INT32_MAX) blocks = INT32_MAX; /* block ids are int32 on the device */
    if (blocks < need)
        return vp_errf(e, VP_ENOSPACE,
                       "layout: the KV pool needs %llu blocks (%u sequences x %u tokens) = %llu "
                       "bytes, %llu are left after weights and scratch",
                       (unsigned long long)need, batch, context,
                       (unsigned long long)(need * per_block), (unsigned long long)avail);
    rc = kern_arena_take(&a, blocks * per_block, KERN_ALIGN, &L.kv);
    if (rc) return vp_errf(e, VP_ENOSPACE, "layout: KV pool does not fit");
    L.kv_blocks = (uint32_t)blocks;
    L.kv_bytes = blocks * per_block;
    L.bytes_used = a.used;
    *out = L;
    return 0;
}

void kern_layout_layer(const kern_layout *l, uint32_t layer, kern_layer_offs *out)
{
    uint64_t base = l->layer0 + (uint64_t)layer * l->layer_stride;
    const kern_layer_offs *r = &l->layer_rel;
    out->qkv = base + r->qkv;
    out->qkv_scales = base + r->qkv_scales;
    out->o = base + r->o;
    out->o_scales = base + r->o_scales;
    out->gate_up = base + r->gate_up;
    out->gate_up_scales = base + r->gate_up_scales;
    out->down = base + r->down;
    out->down_scales = base + r->down_scales;
}

/* Scratch bytes of a shape (layers does not matter), through the layout itself. */
static int scratch_of(const kern_shape *s, uint32_t batch, uint32_t context, uint64_t *out)
{
    kern_shape one = *s;
    one.layers = 1;
    kern_layout L;
    int rc = kern_layout_plan(&one, batch, context, UINT64_MAX / 4u, &L, NULL);
    if (!rc) *out = L.scratch_bytes;
    return rc;
}

/* Derives the unset fields of a shape for a given hidden size; layers and vocab stay as given. */
static void derive(kern_shape *c, const kern_shape *fixed, uint32_t hidden)
{
    c->hidden = hidden;
    c->head_dim = fixed->head_dim ? fixed->head_dim : hidden >= 2048 ? 128u : 64u;
    c->heads = fixed->heads ? fixed->heads : hidden / c->head_dim;
    if (c->heads == 0) c->heads = 1;
    if (fixed->kv_heads) {
        c->kv_heads = fixed->kv_heads;
    } else {
        uint32_t kv = c->heads / 4u ? c->heads / 4u : 1u;
        while (kv > 1 && c->heads % kv)
            kv--;
        c->kv_heads = kv;
    }
    c->intermediate = fixed->intermediate
                          ? fixed->intermediate
                          : ((uint32_t)((uint64_t)hidden * 7u / 2u) + 127u) / 128u * 128u;
}

int kern_shape_fill(kern_shape *s, uint64_t slice_bytes, uint32_t batch, uint32_t context,
                    vp_err *e)
{
    static const uint32_t ladder[] = {8192, 6144, 5120, 4096, 3072, 2048, 1536,
                                      1024, 768,  512,  384,  256,  128};
    const kern_shape fixed = *s;
    const uint64_t target = slice_bytes / 100u * 60u; /* weights: about 60% of the slice */
    kern_shape best;
    int have_best = 0;
    vp_err last = {0};
    unsigned n = fixed.hidden ? 1u : (unsigned)VP_ARRAY_LEN(ladder);

    for (unsigned i = 0; i < n; i++) {
        kern_shape c = fixed;
        derive(&c, &fixed, fixed.hidden ? fixed.hidden : ladder[i]);
        /* vocab: about 15% of the weights for embedding + LM head, at most 32768 */
        if (!fixed.vocab) {
            uint64_t per_row = mat_bytes(c.dtype, 1, c.hidden) + scale_bytes(c.dtype, 1, c.hidden);
            uint64_t vocab = target / 100u * 15u / (2u * per_row);
            vocab = vocab / 128u * 128u;
            if (vocab > 32768u) vocab = 32768u;
            if (vocab < 128u) vocab = 128u;
            c.vocab = (uint32_t)vocab;
        }
        c.layers = 1;
        if (kern_shape_check(&c, &last)) continue;
        kern_layer_offs lo;
        uint64_t lb = layer_offsets(&c, &lo), scratch;
        if (scratch_of(&c, batch, context, &scratch)) continue;
        uint64_t maxb = context / KERN_KV_BLOCK_TOKENS + (context % KERN_KV_BLOCK_TOKENS != 0);
        uint64_t kvb = kv_block_bytes(&c) * maxb * batch; /* per layer, minimum pool */
        uint64_t fixed_bytes = 2u * vocab_bytes(&c) + scratch + 4u * KERN_ALIGN;
        if (fixed_bytes >= slice_bytes) continue;
        uint64_t layers;
        if (fixed.layers) {
            layers = fixed.layers;
        } else {
            uint64_t by_target =
                target > 2u * vocab_bytes(&c) ? (target - 2u * vocab_bytes(&c)) / lb : 0;
            uint64_t by_fit = (slice_bytes - fixed_bytes) / (lb + kvb);
            layers = by_target < by_fit ? by_target : by_fit;
            if (layers > 200) layers = 200;
        }
        if (layers == 0) continue;
        c.layers = (uint32_t)layers;
        kern_layout L;
        /* the rounding above may be off by a block: step down until the layout fits */
        while (c.layers > 0 && kern_layout_plan(&c, batch, context, slice_bytes, &L, &last)) {
            if (fixed.layers) break;
            c.layers--;
        }
        if (c.layers == 0 || kern_layout_plan(&c, batch, context, slice_bytes, &L, &last)) continue;
        if (fixed.layers && L.weights_bytes > target && i + 1 < n)
            continue; /* try a smaller hidden */
        best = c;
        have_best = 1;
        if (fixed.hidden || fixed.layers || c.layers >= 8) break;
    }
    if (!have_best) {
        if (last.code && last.code != VP_ENOSPACE) return vp_errf(e, last.code, "%s", last.msg);
        return vp_errf(e, VP_ENOSPACE,
                       "shape: no model of dtype %s fits a %llu-byte slice with %u sequences of %u "
                       "tokens%s%s",
                       kern_dtype_name(s->dtype), (unsigned long long)slice_bytes, batch, context,
                       last.code ? ": " : "", last.code ? last.msg : "");
    }
    *s = best;
    return 0;
}
