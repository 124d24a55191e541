/* weights.c - the weight tensors of a decoder and their bytes under a storage scheme.
 *
 * A layer's tensors are listed with their shapes (rows x cols, cols the input dimension as GGUF's
 * ne0), so that a storage rule that depends on the tensor (a GGUF mix keeping attn_v and ffn_down
 * at more bits in some layers, a quantized checkpoint keeping norms at 16 bit) can be applied to
 * each one. The list follows hfconfig.c's parameter count exactly: the elements of a layer sum to
 * plan_arch_layer_params (a test holds the two together).
 *
 * Three schemes: a plain dtype (every parameter at its width: bytes = ceil(elements x bits / 8),
 * summed over elements first, so totals are the ones DESIGN.md states), a GGUF file type (gguf.c,
 * tensor by tensor) and a quantized checkpoint (quant.c, tensor by tensor). */
#include <string.h>

#include "fp_int.h"

static bool fused_qkv(const plan_arch *a)
{
    /* llama.cpp stores phi3's and falcon's attention as one attn_qkv tensor (and phi3's gate and
     * up as one ffn_up); HF checkpoints store them fused too. */
    return !strcmp(a->family, "phi3") || !strcmp(a->family, "falcon");
}

typedef struct tlist {
    fp_tensor *t;
    int n;
} tlist;

static void put(tlist *l, fp_tkind k, uint64_t rows, uint64_t cols, uint64_t count)
{
    if (l->n < FP_MAX_LAYER_TENSORS && rows && cols && count)
        l->t[l->n++] = (fp_tensor){k, rows, cols, count};
}

static void attention(const plan_arch *a, tlist *l)
{
    uint64_t h = a->hidden, heads = a->heads;
    if (a->kv_lora_rank) {
        uint64_t rope = a->qk_rope_head_dim, nope = a->qk_nope_head_dim, v = a->v_head_dim;
        uint64_t kvl = a->kv_lora_rank, ql = a->q_lora_rank;
        if (ql) {
            put(l, FP_T_MLA, ql, h, 1);
            put(l, FP_T_VEC, 1, ql, 1); /* q_a_layernorm */
            put(l, FP_T_MLA, heads * (nope + rope), ql, 1);
        } else {
            put(l, FP_T_Q, heads * (nope + rope), h, 1);
        }
        put(l, FP_T_MLA, kvl + rope, h, 1);
        put(l, FP_T_VEC, 1, kvl, 1); /* kv_a_layernorm */
        put(l, FP_T_MLA, heads * (nope + v), kvl, 1);
        put(l, FP_T_O, h, heads * v, 1);
        return;
    }
    uint64_t hd = a->head_dim ? a->head_dim : h / heads;
    uint64_t kvh = a->kv_heads ? a->kv_heads : heads;
    uint64_t q = heads * hd, kv = kvh * hd;
    if (fused_qkv(a)) {
        put(l, FP_T_QKV, q + 2 * kv, h, 1);
    } else {
        put(l, FP_T_Q, q, h, 1);
        put(l, FP_T_K, kv, h, 1);
        put(l, FP_T_V, kv, h, 1);
    }
    if (a->qkv_bias) put(l, FP_T_VEC, 1, q + 2 * kv, 1);
    if (a->qk_norm) put(l, FP_T_VEC, 1, 2 * hd, 1);
    put(l, FP_T_O, h, q, 1);
    if (a->o_bias) put(l, FP_T_VEC, 1, h, 1);
}

/* One MLP of inner size `inter`, `count` copies, of the given kinds. */
static void mlp(const plan_arch *a, tlist *l, uint64_t inter, uint64_t count, fp_tkind g,
                fp_tkind u, fp_tkind d)
{
    uint64_t h = a->hidden;
    if (a->mlp_ungated) {
        put(l, u, inter, h, count);
    } else if (g == FP_T_GATE && !strcmp(a->family, "phi3")) {
        put(l, FP_T_GATE_UP, 2 * inter, h, count);
    } else {
        put(l, g, inter, h, count);
        put(l, u, inter, h, count);
    }
    put(l, d, h, inter, count);
    if (a->mlp_bias) {
        uint64_t mats = a->mlp_ungated ? 2 : 3;
        put(l, FP_T_VEC, 1, (mats - 1) * inter + h, count);
    }
}

int fp_layer_tensors(const plan_arch *a, uint32_t layer, fp_tensor out[FP_MAX_LAYER_TENSORS])
{
    if (!a->hidden || !a->heads || layer >= a->layers) return -1;
    if (!a->kv_lora_rank && !a->head_dim && a->hidden % a->heads) return -1;
    tlist l = {out, 0};
    attention(a, &l);
    uint64_t norms =
        (uint64_t)(a->norms_per_layer ? a->norms_per_layer : 2) * (a->norm_bias ? 2 : 1);
    put(&l, FP_T_VEC, 1, a->hidden, norms);
    if (!a->experts || layer < a->first_dense_layers) {
        if (!a->intermediate) return -1;
        mlp(a, &l, a->intermediate, 1, FP_T_GATE, FP_T_UP, FP_T_DOWN);
    } else {
        uint64_t inter = a->moe_intermediate ? a->moe_intermediate : a->intermediate;
        if (!inter) return -1;
        mlp(a, &l, inter, a->experts, FP_T_EXP_GATE, FP_T_EXP_UP, FP_T_EXP_DOWN);
        if (a->shared_experts)
            mlp(a, &l, inter, a->shared_experts, FP_T_SH_GATE, FP_T_SH_UP, FP_T_SH_DOWN);
        put(&l, FP_T_ROUTER, a->experts, a->hidden, 1);
        if (a->router_bias) put(&l, FP_T_VEC, 1, a->experts, 1);
    }
    return l.n;
}

static bool plain(const fp_scheme *s)
{
    return s->quant == PLAN_QUANT_NONE && !plan_dtype_is_gguf(s->dtype);
}

static uint64_t plain_bytes(const fp_scheme *s, uint64_t elements, bool *ovf)
{
    uint64_t num, den, r = 0;
    plan_dtype_bits(s->dtype, &num, &den);
    if (vp_muldiv_ceil_u64(elements, num, den * 8, &r)) *ovf = true;
    return r;
}

uint64_t fp_tensor_bytes(const plan_arch *a, const fp_scheme *s, const fp_tensor *t, uint32_t layer,
                         bool *ovf)
{
    if (s->quant != PLAN_QUANT_NONE) return fp_quant_tensor_bytes(s->quant, s->dense, t, ovf);
    if (plan_dtype_is_gguf(s->dtype)) return fp_gguf_tensor_bytes(a, s->dtype, t, layer, ovf);
    return plain_bytes(s, fp_mul(ovf, fp_mul(ovf, t->rows, t->cols), t->count), ovf);
}

static uint64_t layer_elements(const fp_tensor *t, int n, bool *ovf)
{
    uint64_t sum = 0;
    for (int i = 0; i < n; i++)
        sum = fp_add(ovf, sum, fp_mul(ovf, fp_mul(ovf, t[i].rows, t[i].cols), t[i].count));
    return sum;
}

uint64_t fp_weights_layers(const plan_arch *a, const fp_scheme *s, const fp_weights *w, uint32_t lo,
                           uint32_t hi, bool *ovf)
{
    if (hi <= lo) return 0;
    if (!w->exact) {
        /* Even split in bytes: the first `rem` layers hold one byte more. */
        uint64_t extra_hi = hi < w->rem ? hi : w->rem;
        uint64_t extra = extra_hi > lo ? extra_hi - lo : 0;
        return fp_add(ovf, fp_mul(ovf, (uint64_t)(hi - lo), w->per_layer), extra);
    }
    fp_tensor t[FP_MAX_LAYER_TENSORS];
    if (plain(s)) {
        /* Uniform within dense and MoE layers: count elements, convert once. */
        uint64_t elements = 0;
        uint32_t first_moe =
            a->experts ? (a->first_dense_layers < a->layers ? a->first_dense_layers : a->layers)
                       : a->layers;
        uint32_t d_hi = hi < first_moe ? hi : first_moe;
        uint64_t nd = d_hi > lo ? d_hi - lo : 0, nm = (hi - lo) - nd;
        if (nd) {
            int n = fp_layer_tensors(a, lo < first_moe ? lo : 0, t);
            elements =
                fp_add(ovf, elements, fp_mul(ovf, nd, layer_elements(t, n < 0 ? 0 : n, ovf)));
        }
        if (nm) {
            int n = fp_layer_tensors(a, first_moe, t);
            elements =
                fp_add(ovf, elements, fp_mul(ovf, nm, layer_elements(t, n < 0 ? 0 : n, ovf)));
        }
        return plain_bytes(s, elements, ovf);
    }
    uint64_t sum = 0;
    for (uint32_t i = lo; i < hi; i++) {
        int n = fp_layer_tensors(a, i, t);
        for (int k = 0; k < n; k++)
            sum = fp_add(ovf, sum, fp_tensor_bytes(a, s, &t[k], i, ovf));
    }
    return sum;
}

/* Embedding, lm_head and final norm as tensors. */
static void edges(const plan_arch *a, fp_tensor *embed, fp_tensor *output, fp_tensor *norm)
{
    *embed = (fp_tensor){FP_T_EMBED, a->vocab, a->hidden, 1};
    *output = (fp_tensor){FP_T_OUTPUT, a->vocab, a->hidden, 1};
    *norm = (fp_tensor){FP_T_VEC, 1, a->hidden, a->norm_bias ? 2 : 1};
}

int fp_weights_init(const plan_arch *a, uint64_t params, const fp_scheme *s, fp_weights *w,
                    vp_err *e)
{
    memset(w, 0, sizeof *w);
    bool ovf = false;
    plan_arch c = *a;
    c.params = c.active_params = 0;
    fp_tensor te, to, tn;
    edges(a, &te, &to, &tn);
    if (plan_arch_count_params(&c, NULL) == 0 && c.params == params) {
        w->exact = true;
        if (plain(s)) {
            w->embed = plain_bytes(s, a->vocab * (uint64_t)a->hidden, &ovf);
            w->head = a->tied_embeddings ? 0 : w->embed;
            w->tied_head = a->tied_embeddings ? w->embed : 0;
            w->final_norm = plain_bytes(s, tn.cols * tn.count, &ovf);
            w->total = plain_bytes(s, params, &ovf);
        } else {
            /* With a tied embedding a GGUF file stores token_embd at the output's type
             * (llama.cpp treats it as the output tensor when there is none). */
            fp_tensor emb = a->tied_embeddings ? to : te;
            w->embed = fp_tensor_bytes(a, s, &emb, 0, &ovf);
            w->head = a->tied_embeddings ? 0 : fp_tensor_bytes(a, s, &to, 0, &ovf);
            w->tied_head = a->tied_embeddings ? w->embed : 0;
            w->final_norm = fp_tensor_bytes(a, s, &tn, 0, &ovf);
            uint64_t body = fp_weights_layers(a, s, w, 0, a->layers, &ovf);
            w->total =
                fp_add(&ovf, fp_add(&ovf, fp_add(&ovf, w->embed, w->head), w->final_norm), body);
        }
        if (ovf) return vp_errf(e, VP_EOVERFLOW, "params: weights bytes exceed 64 bits");
        return 0;
    }
    /* Params without a breakdown that accounts for them: embeddings (vocab x hidden, when both
     * are known and fit) to the edges, the rest evenly over the layers. Quantized checkpoints keep
     * the edges at 16 bit; the body takes the format's average width. */
    uint64_t embed_p = (uint64_t)a->vocab * a->hidden;
    uint64_t head_p = a->tied_embeddings ? 0 : embed_p;
    if (embed_p == 0 || embed_p + head_p > params) embed_p = head_p = 0;
    fp_scheme edge = *s;
    if (s->quant != PLAN_QUANT_NONE) {
        edge.quant = PLAN_QUANT_NONE;
        edge.dtype = s->dense;
    }
    fp_tensor body_t = {FP_T_GATE, 1, params - embed_p - head_p, 1}; /* one row: group scales */
    uint64_t body = s->quant != PLAN_QUANT_NONE
                        ? fp_quant_tensor_bytes(s->quant, s->dense, &body_t, &ovf)
                        : plain_bytes(s, body_t.cols, &ovf);
    if (s->quant == PLAN_QUANT_NONE) {
        /* One fraction over the whole count, as DESIGN.md states it. */
        w->total = plain_bytes(s, params, &ovf);
        w->embed = plain_bytes(s, embed_p, &ovf);
        w->head = plain_bytes(s, head_p, &ovf);
        if (w->embed + w->head > w->total) w->embed = w->head = 0;
        body = w->total - w->embed - w->head;
    } else {
        w->embed = plain_bytes(&edge, embed_p, &ovf);
        w->head = plain_bytes(&edge, head_p, &ovf);
        w->total = fp_add(&ovf, fp_add(&ovf, w->embed, w->head), body);
    }
    w->tied_head = a->tied_embeddings ? w->embed : 0;
    w->per_layer = body / a->layers;
    w->rem = body % a->layers;
    if (ovf) return vp_errf(e, VP_EOVERFLOW, "params: weights bytes exceed 64 bits");
    return 0;
}
