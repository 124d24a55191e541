/* quant.c - bytes of a tensor of a quantized checkpoint (int8, fp8, awq, gptq, bnb-4bit).
 *
 * Quantized checkpoints quantize the linear layers of the decoder and nothing else: embed_tokens,
 * lm_head, norms, biases and MoE routers stay at the checkpoint's 16-bit dtype (AutoAWQ, GPTQModel,
 * llm-compressor and bitsandbytes all skip lm_head and embeddings by default; vLLM loads them as
 * unquantized VocabParallelEmbedding / ParallelLMHead). Counting every parameter at the quantized
 * width undercounts: -3% for a 70B int8 checkpoint, about -25% for a 7B 4-bit one whose 152k-token
 * vocabulary is a seventh of its parameters.
 *
 * Per weight of a quantized matrix of rows (outputs) x cols (inputs):
 *   int8, fp8  1 byte + one fp32 scale per output row (channel-wise, as compressed-tensors W8A8
 *              and FBGEMM FP8 store them; per-tensor FP8 scales are smaller still).
 *   awq        4 bits (qweight int32 packs 8) + per group of 128 inputs and output: an fp16 scale
 *              and a 4-bit zero (qzeros packs 8 per int32): 2.5 bytes per 128 weights.
 *   gptq       the same layout as AWQ with group 128 (qweight, qzeros, scales); vLLM's marlin
 *              kernels drop g_idx when act-order is off.
 *   bnb-4bit   NF4, 4 bits + per block of 64 an 8-bit absmax (double quantization, the default of
 *              published bnb-4bit checkpoints) + per 256 blocks an fp32 second-level absmax.
 * Scales of a tensor round up to whole groups/blocks. */
#include "fp_int.h"

#define GROUP 128    /* awq / gptq group size */
#define NF4_BLOCK 64 /* bitsandbytes blocksize */
#define NF4_BLOCKS2 256

static uint64_t cdiv(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

static bool quantized_kind(fp_tkind k)
{
    return k != FP_T_VEC && k != FP_T_ROUTER && k != FP_T_EMBED && k != FP_T_OUTPUT;
}

uint64_t fp_quant_tensor_bytes(plan_quant q, plan_dtype dense, const fp_tensor *t, bool *ovf)
{
    uint64_t n, per, r = 0;
    if (__builtin_mul_overflow(t->rows, t->cols, &n) || __builtin_mul_overflow(n, t->count, &n)) {
        *ovf = true;
        return 0;
    }
    uint64_t wide = (dense == PLAN_DT_FP32) ? 4 : 2;
    if (!quantized_kind(t->kind) || q == PLAN_QUANT_NONE) {
        if (__builtin_mul_overflow(n, wide, &r)) *ovf = true;
        return r;
    }
    switch (q) {
    case PLAN_QUANT_INT8:
    case PLAN_QUANT_FP8:
        /* weights + a 4-byte scale per output row of each matrix */
        if (__builtin_mul_overflow(t->rows, 4, &per) ||
            __builtin_mul_overflow(per, t->count, &per) || __builtin_add_overflow(n, per, &r))
            *ovf = true;
        return r;
    case PLAN_QUANT_AWQ:
    case PLAN_QUANT_GPTQ: {
        /* 4-bit weights; per (group of inputs, output) an fp16 scale and a 4-bit zero */
        uint64_t groups = cdiv(t->cols, GROUP), meta;
        if (__builtin_mul_overflow(groups, t->rows, &meta) ||
            __builtin_mul_overflow(meta, t->count, &meta)) {
            *ovf = true;
            return 0;
        }
        /* meta x 2.5 bytes, each matrix's zeros rounded to whole bytes */
        r = cdiv(n, 2) + meta * 2 + cdiv(meta, 2);
        if (r < n / 2) *ovf = true;
        return r;
    }
    case PLAN_QUANT_BNB4: {
        uint64_t blocks = cdiv(n, NF4_BLOCK);
        r = cdiv(n, 2) + blocks + cdiv(blocks, NF4_BLOCKS2) * 4;
        if (r < n / 2) *ovf = true;
        return r;
    }
    default:
        return 0;
    }
}
