/* estimate_out.h - `vrampack estimate`'s GPU argument and its two outputs (estimate_out.c). */
#ifndef CLI_ESTIMATE_OUT_H
#define CLI_ESTIMATE_OUT_H

#include <stdbool.h>
#include <stdint.h>

#include "footprint.h"

typedef struct est_gpu {
    char name[64];  /* catalog name, or "" when given in bytes */
    uint64_t bytes; /* 0: no --gpu */
    uint32_t tflops_bf16, tflops_fp8; /* the catalog's datasheet figures; 0 unknown */
} est_gpu;

typedef struct est_result {
    plan_footprint fp;
    bool have_fit;
    plan_fit fit;
    est_gpu gpu;
    uint32_t prompt_tokens; /* --prompt-tokens; 0 = none */
} est_result;

/* --gpu NAME|BYTES: a built-in GPU model or a byte count (suffixes Ki/Mi/Gi, K/M/G). Prints the
 * error and returns CLI_USAGE when it is neither. */
int est_gpu_lookup(const char *s, est_gpu *out);
/* One error line; the planner's option names (seq_len:, tp:, ...) said as the flags that set them. */
void est_print_error(const char *msg);
void est_print_text(const char *source, const plan_arch *a, const plan_fp_opts *o,
                    const est_result *r);
void est_print_json(const plan_arch *a, const plan_fp_opts *o, const est_result *r);

#endif
