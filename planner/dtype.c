/* dtype.c - weight and KV-cache data types: names and exact bits per weight.
 *
 * Bits per weight are kept as exact fractions (num/den) so that weights bytes are
 * ceil(params * num / (den * 8)) in integer arithmetic. GGUF quantisations use their real average
 * bits per weight including block scales: q8_0 = 34 bytes per 32 weights = 8.5, q4_0 = 18 bytes
 * per 32 = 4.5, q6_k = 210 bytes per 256 = 6.5625; the K-quant mixes q5_k_m and q4_k_m vary a
 * little by model and are taken as 5.5 and 4.85. The table is indexed by plan_dtype, so its
 * order must follow the enum in footprint.h. */
#include <strings.h>

#include "footprint.h"

static const struct {
    const char *name;
    uint64_t num, den;
} dtypes[PLAN_DT_COUNT] = {
    [PLAN_DT_FP32] = {"fp32", 32, 1},      [PLAN_DT_FP16] = {"fp16", 16, 1},
    [PLAN_DT_BF16] = {"bf16", 16, 1},      [PLAN_DT_FP8] = {"fp8", 8, 1},
    [PLAN_DT_INT8] = {"int8", 8, 1},       [PLAN_DT_INT4] = {"int4", 4, 1},
    [PLAN_DT_Q8_0] = {"q8_0", 17, 2},      /* 8.5 */
    [PLAN_DT_Q6_K] = {"q6_k", 105, 16},    /* 6.5625 */
    [PLAN_DT_Q5_K_M] = {"q5_k_m", 11, 2},  /* 5.5 */
    [PLAN_DT_Q4_K_M] = {"q4_k_m", 97, 20}, /* 4.85 */
    [PLAN_DT_Q4_0] = {"q4_0", 9, 2},       /* 4.5 */
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
