/* dtype.c - weight and KV-cache data types, quantization formats: names and exact bits per weight.
 *
 * Bits per weight are kept as exact fractions (num/den) so that weights bytes are
 * ceil(params * num / (den * 8)) in integer arithmetic. Plain dtypes are exact (fp16 16, int4 4).
 * GGUF file types are mixes of block types chosen tensor by tensor (gguf.c sums them exactly when
 * the architecture is known); the fraction here is the average that mix reaches on Llama-3.1-8B
 * (8,030,261,248 parameters), kept for a model given only as a parameter count. Each is the exact
 * byte total of gguf.c's mix for that model, so a test recomputes and compares them: q4_k_m is
 * 4,912,898,048 bytes = 4.894 bits per weight (llama.cpp prints "4.58 GiB (4.89 BPW)"), not the
 * 4.85 of older tables; q5_k_m 5.70, not 5.5. The table is indexed by plan_dtype, so its order must
 * follow the enum in footprint.h. */
#include <strings.h>

#include "footprint.h"

#define L31_8B_PARAMS 8030261248ULL
/* bits = bytes x 8 / params, kept as (bytes x 8) / params: both are exact integers. */
#define MIX(bytes) (uint64_t)(bytes) * 8, L31_8B_PARAMS

static const struct {
    const char *name;
    uint64_t num, den;
    bool gguf;
} dtypes[PLAN_DT_COUNT] = {
    [PLAN_DT_FP32] = {"fp32", 32, 1, false},
    [PLAN_DT_FP16] = {"fp16", 16, 1, false},
    [PLAN_DT_BF16] = {"bf16", 16, 1, false},
    [PLAN_DT_FP8] = {"fp8", 8, 1, false},
    [PLAN_DT_INT8] = {"int8", 8, 1, false},
    [PLAN_DT_INT4] = {"int4", 4, 1, false},
    /* GGUF: the Llama-3.1-8B byte totals of gguf.c's mix (tests/planner/test_gguf.c checks them). */
    [PLAN_DT_Q8_0] = {"q8_0", MIX(8532934656ULL), true},
    [PLAN_DT_Q6_K] = {"q6_k", MIX(6588170240ULL), true},
    [PLAN_DT_Q5_K_M] = {"q5_k_m", MIX(5725151232ULL), true},
    [PLAN_DT_Q4_K_M] = {"q4_k_m", MIX(4912898048ULL), true},
    [PLAN_DT_Q4_0] = {"q4_0", MIX(4653375488ULL), true},
    [PLAN_DT_Q5_K_S] = {"q5_k_s", MIX(5591457792ULL), true},
    [PLAN_DT_Q4_K_S] = {"q4_k_s", MIX(4684832768ULL), true},
    [PLAN_DT_Q3_K_L] = {"q3_k_l", MIX(4314120192ULL), true},
    [PLAN_DT_Q3_K_M] = {"q3_k_m", MIX(4011081728ULL), true},
    [PLAN_DT_Q3_K_S] = {"q3_k_s", MIX(3656663040ULL), true},
    [PLAN_DT_Q2_K] = {"q2_k", MIX(3171295232ULL), true},
    [PLAN_DT_Q5_0] = {"q5_0", MIX(5591457792ULL), true},
    [PLAN_DT_Q5_1] = {"q5_1", MIX(6060498944ULL), true},
    [PLAN_DT_Q4_1] = {"q4_1", MIX(5122416640ULL), true},
    [PLAN_DT_IQ4_XS] = {"iq4_xs", MIX(4476526592ULL), true},
    [PLAN_DT_IQ4_NL] = {"iq4_nl", MIX(4699512832ULL), true},
    [PLAN_DT_IQ3_M] = {"iq3_m", MIX(3776987136ULL), true},
    [PLAN_DT_IQ3_S] = {"iq3_s", MIX(3674488832ULL), true},
    [PLAN_DT_IQ3_XS] = {"iq3_xs", MIX(3510910976ULL), true},
    [PLAN_DT_IQ3_XXS] = {"iq3_xxs", MIX(3378503680ULL), true},
    [PLAN_DT_IQ2_M] = {"iq2_m", MIX(2940444672ULL), true},
    [PLAN_DT_IQ2_S] = {"iq2_s", MIX(2750652416ULL), true},
    [PLAN_DT_IQ2_XS] = {"iq2_xs", MIX(2597945344ULL), true},
    [PLAN_DT_IQ2_XXS] = {"iq2_xxs", MIX(2391375872ULL), true},
    [PLAN_DT_IQ1_M] = {"iq1_m", MIX(2154135552ULL), true},
    [PLAN_DT_IQ1_S] = {"iq1_s", MIX(2011791360ULL), true},
};

/* Other spellings met in HF configs (torch_dtype), quantisation configs and user input. */
static const struct {
    const char *alias;
    plan_dtype d;
} aliases[] = {
    {"float32", PLAN_DT_FP32},    {"f32", PLAN_DT_FP32},   {"float", PLAN_DT_FP32},
    {"float16", PLAN_DT_FP16},    {"f16", PLAN_DT_FP16},   {"half", PLAN_DT_FP16},
    {"bfloat16", PLAN_DT_BF16},   {"float8", PLAN_DT_FP8}, {"float8_e4m3fn", PLAN_DT_FP8},
    {"float8_e5m2", PLAN_DT_FP8}, {"e4m3", PLAN_DT_FP8},   {"fp8_e4m3", PLAN_DT_FP8},
    {"fp8_e5m2", PLAN_DT_FP8},    {"i8", PLAN_DT_INT8},    {"i4", PLAN_DT_INT4},
};

int plan_dtype_parse(const char *s, plan_dtype *out)
{
    if (!s) return VP_ENOTFOUND;
    for (int d = 0; d < PLAN_DT_COUNT; d++)
        if (!strcasecmp(s, dtypes[d].name)) {
            *out = (plan_dtype)d;
            return 0;
        }
    for (size_t i = 0; i < VP_ARRAY_LEN(aliases); i++)
        if (!strcasecmp(s, aliases[i].alias)) {
            *out = aliases[i].d;
            return 0;
        }
    return VP_ENOTFOUND;
}

const char *plan_dtype_name(plan_dtype d)
{
    if ((int)d < 0 || d >= PLAN_DT_COUNT) return "unknown";
    return dtypes[d].name;
}

const char *plan_dtype_names(void)
{
    return "fp32 fp16 bf16 fp8 int8 int4 q8_0 q6_k q5_k_m q5_k_s q5_0 q5_1 q4_k_m q4_k_s q4_0 "
           "q4_1 q3_k_l q3_k_m q3_k_s q2_k iq4_xs iq4_nl iq3_m iq3_s iq3_xs iq3_xxs iq2_m iq2_s "
           "iq2_xs iq2_xxs iq1_m iq1_s";
}

bool plan_dtype_is_gguf(plan_dtype d)
{
    return (int)d >= 0 && d < PLAN_DT_COUNT && dtypes[d].gguf;
}

void plan_dtype_bits(plan_dtype d, uint64_t *num, uint64_t *den)
{
    if ((int)d < 0 || d >= PLAN_DT_COUNT) {
        /* Not a dtype: report 0 bits so callers validate rather than divide by zero. */
        *num = 0;
        *den = 1;
        return;
    }
    *num = dtypes[d].num;
    *den = dtypes[d].den;
}

/* ---- quantization formats ---- */

static const struct {
    const char *name;
    plan_quant q;
} quant_names[] = {
    {"int8", PLAN_QUANT_INT8},        {"w8a8", PLAN_QUANT_INT8},
    {"w8a16", PLAN_QUANT_INT8},       {"fp8", PLAN_QUANT_FP8},
    {"fbgemm_fp8", PLAN_QUANT_FP8},   {"awq", PLAN_QUANT_AWQ},
    {"awq_marlin", PLAN_QUANT_AWQ},   {"gptq", PLAN_QUANT_GPTQ},
    {"gptq_marlin", PLAN_QUANT_GPTQ}, {"bnb-4bit", PLAN_QUANT_BNB4},
    {"bnb_4bit", PLAN_QUANT_BNB4},    {"bitsandbytes", PLAN_QUANT_BNB4},
    {"nf4", PLAN_QUANT_BNB4},         {"none", PLAN_QUANT_NONE},
};

int plan_quant_parse(const char *s, plan_quant *out)
{
    if (!s) return VP_ENOTFOUND;
    for (size_t i = 0; i < VP_ARRAY_LEN(quant_names); i++)
        if (!strcasecmp(s, quant_names[i].name)) {
            *out = quant_names[i].q;
            return 0;
        }
    return VP_ENOTFOUND;
}

const char *plan_quant_name(plan_quant q)
{
    static const char *const names[PLAN_QUANT_COUNT] = {"none", "int8", "fp8", "awq", "gptq",
                                                        "bnb-4bit"};
    if ((int)q < 0 || q >= PLAN_QUANT_COUNT) return "unknown";
    return names[q];
}

const char *plan_quant_names(void)
{
    return "int8, fp8, awq, gptq, bnb-4bit";
}
