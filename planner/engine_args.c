/* engine_args.c - the flags of an engine's command line that change what it allocates.
 *
 * A manifest's engine_args are passed to the engine verbatim; the memory profile must size the
 * replica the engine will actually run, so the flags that move its memory are read here too:
 * vLLM --max-num-batched-tokens, --max-num-seqs, --enforce-eager, --block-size, --kv-cache-dtype,
 * --quantization, --enable-chunked-prefill / --no-enable-chunked-prefill; SGLang
 * --chunked-prefill-size, --disable-cuda-graph, --kv-cache-dtype, --quantization; llama.cpp
 * -ub/--ubatch-size, -fa/--flash-attn, -ctk/--cache-type-k. Both "--flag value" and
 * "--flag=value" are accepted, as the engines' argument parsers accept them. Flags not listed are
 * left to the engine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_mem.h"

enum arg_kind {
    A_TOKENS,
    A_SEQS,
    A_EAGER,
    A_BLOCK,
    A_KV,
    A_QUANT,
    A_CHUNK_ON,
    A_CHUNK_OFF,
    A_UBATCH,
    A_FA
};

typedef struct arg_rule {
    eng_kind engine;
    const char *flag;
    enum arg_kind kind;
    bool takes_value;
} arg_rule;

static const arg_rule rules[] = {
    {ENG_VLLM, "--max-num-batched-tokens", A_TOKENS, true},
    {ENG_VLLM, "--max-num-seqs", A_SEQS, true},
    {ENG_VLLM, "--enforce-eager", A_EAGER, false},
    {ENG_VLLM, "--block-size", A_BLOCK, true},
    {ENG_VLLM, "--kv-cache-dtype", A_KV, true},
    {ENG_VLLM, "--quantization", A_QUANT, true},
    {ENG_VLLM, "-q", A_QUANT, true},
    {ENG_VLLM, "--enable-chunked-prefill", A_CHUNK_ON, false},
    {ENG_VLLM, "--no-enable-chunked-prefill", A_CHUNK_OFF, false},
    {ENG_SGLANG, "--chunked-prefill-size", A_TOKENS, true},
    {ENG_SGLANG, "--disable-cuda-graph", A_EAGER, false},
    {ENG_SGLANG, "--kv-cache-dtype", A_KV, true},
    {ENG_SGLANG, "--quantization", A_QUANT, true},
    {ENG_LLAMACPP, "-ub", A_UBATCH, true},
    {ENG_LLAMACPP, "--ubatch-size", A_UBATCH, true},
    {ENG_LLAMACPP, "-fa", A_FA, false},
    {ENG_LLAMACPP, "--flash-attn", A_FA, false},
    {ENG_LLAMACPP, "-ctk", A_KV, true},
    {ENG_LLAMACPP, "--cache-type-k", A_KV, true},
};

static int parse_u32(const char *flag, const char *v, uint32_t min, uint32_t max, uint32_t *out,
                     vp_err *e)
{
    char *end;
    unsigned long long x = v && *v >= '0' && *v <= '9' ? strtoull(v, &end, 10) : 0;
    if (!v || *v < '0' || *v > '9' || *end || x < min || x > max)
        return vp_errf(e, VP_EINPUT, "%s: \"%.32s\" is not an integer in [%u, %u]", flag,
                       v ? v : "", min, max);
    *out = (uint32_t)x;
    return 0;
}

/* --kv-cache-dtype auto|fp8|fp8_e4m3|fp8_e5m2|... and llama.cpp's f16|q8_0|... */
static int parse_kv(const char *flag, const char *v, plan_fp_opts *o, vp_err *e)
{
    if (!strcmp(v, "auto") || !strcmp(v, "f16") || !strcmp(v, "bf16")) return 0;
    if (!strncmp(v, "fp8", 3) || !strcmp(v, "q8_0")) {
        /* fp8 is one byte; llama.cpp's q8_0 cache is 34 bytes per 32, taken as one byte */
        o->kv_dtype = PLAN_DT_FP8;
        return 0;
    }
    return vp_errf(e, VP_EINPUT,
                   "%s: \"%.32s\" is not a KV cache dtype vrampack sizes (auto, fp8, "
                   "f16, bf16, q8_0)",
                   flag, v);
}

static int apply(const arg_rule *r, const char *v, plan_fp_opts *o, vp_err *e)
{
    switch (r->kind) {
    case A_TOKENS:
        return parse_u32(r->flag, v, 1, 16u << 20, &o->max_batched_tokens, e);
    case A_SEQS:
        return parse_u32(r->flag, v, 1, 1u << 20, &o->max_seqs, e);
    case A_BLOCK:
        return parse_u32(r->flag, v, 1, 4096, &o->block_tokens, e);
    case A_UBATCH:
        return parse_u32(r->flag, v, 1, 1u << 20, &o->ubatch, e);
    case A_EAGER:
        o->enforce_eager = true;
        return 0;
    case A_CHUNK_ON:
        o->chunked_prefill_off = false;
        return 0;
    case A_CHUNK_OFF:
        o->chunked_prefill_off = true;
        return 0;
    case A_FA:
        o->flash_attn = true;
        return 0;
    case A_KV:
        return parse_kv(r->flag, v, o, e);
    case A_QUANT:
        if (plan_quant_parse(v, &o->quant))
            return vp_errf(e, VP_EINPUT, "%s: \"%.32s\" is not a format vrampack sizes (%s)",
                           r->flag, v, plan_quant_names());
        return 0;
    }
    return 0;
}

int plan_engine_args_apply(eng_kind k, char *const *argv, plan_fp_opts *o, vp_err *e)
{
    for (size_t i = 0; argv && argv[i]; i++) {
        const char *arg = argv[i], *eq = strchr(arg, '=');
        size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
        for (size_t r = 0; r < VP_ARRAY_LEN(rules); r++) {
            if (rules[r].engine != k || strlen(rules[r].flag) != n ||
                strncmp(rules[r].flag, arg, n))
                continue;
            const char *v = eq ? eq + 1 : NULL;
            if (rules[r].takes_value && !v) {
                v = argv[i + 1];
                if (!v) return vp_errf(e, VP_EINPUT, "%s: needs a value", rules[r].flag);
                i++;
            }
            if (!rules[r].takes_value && v) {
                /* --enable-chunked-prefill=false, --flash-attn=on ... */
                bool off = !strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "off");
                if (off && rules[r].kind == A_CHUNK_ON) {
                    o->chunked_prefill_off = true;
                    break;
                }
                if (off) break;
            }
            int rc = apply(&rules[r], v, o, e);
            if (rc) return rc;
            break;
        }
    }
    return 0;
}
