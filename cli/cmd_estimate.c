/* cmd_estimate.c - `vrampack estimate`: the memory footprint of one model, in GiB or exact bytes,
 * and with --engine and --gpu what that engine would allocate on that GPU.
 *
 * The architecture comes from an HF config.json (--hf-config) or from flags (--params, --layers,
 * --kv-heads, --head-dim, optionally --hidden/--heads/--vocab). All arithmetic is the planner's
 * (plan_footprint_compute, plan_fp_fit); this file parses options (getopt_long) and prints.
 * Text output is for people (GiB = 2^30 bytes, plus the exact bytes); --json prints exact byte
 * integers under stable keys: params, weights_bytes, kv_cache_bytes, overhead_bytes,
 * reserve_bytes, total_bytes, per_gpu_bytes, tp, pp, dtype, kv_dtype, seq_len, batch (and
 * active_params, stage_gpu_bytes, decode_bytes_per_token, overhead_fraction, cuda_context_bytes,
 * family, quantization, notes); with --engine: engine, engine_profile, terms (bytes per GPU by
 * name), gpu_weights_bytes, gpu_kv_bytes, kv_bytes_per_token, host_bytes; with --gpu: gpu,
 * gpu_bytes, gpu_memory_utilization, budget_bytes, fits, kv_capacity_tokens, max_concurrency,
 * reason. */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "engine_mem.h"
#include "estimate_out.h"
#include "planner.h"
#include "vp_json.h"

#define CMD "estimate"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vrampack estimate (--hf-config F [--params N] | --params N --layers L "
            "--kv-heads H\n"
            "                          --head-dim D [--hidden H --heads N --vocab V])\n"
            "                         [--dtype T] [--kv-dtype T] [--quantization Q] [--seq-len S]\n"
            "                         [--batch B] [--tp K] [--pp P] [--overhead F]\n"
            "                         [--cuda-context BYTES] [--engine E [--engine-version V]]\n"
            "                         [--gpu NAME|BYTES] [--gpu-memory-utilization U] [--json]\n"
            "\n"
            "Memory footprint of one replica: weights, KV cache and what the serving engine adds,\n"
            "in GiB (2^30 bytes), or exact bytes with --json. With --gpu: whether it fits, and\n"
            "how many tokens the engine's KV cache holds there.\n"
            "\n"
            "  --hf-config F       a Hugging Face config.json (-: standard input); params are\n"
            "                      counted from it\n"
            "  --params N          total parameters (suffixes K, M, B/G: 8B = 8000000000);\n"
            "                      with --hf-config, overrides the count from the config\n"
            "  --layers L, --kv-heads H, --head-dim D\n"
            "                      architecture when there is no config (--hidden and --heads\n"
            "                      may replace --head-dim; --vocab places the embeddings)\n"
            "  --dtype T           weights: %s\n"
            "                      (default: the config's torch_dtype; float32 configs load at\n"
            "                      bf16 as engines do)\n"
            "  --quantization Q    a quantized checkpoint: %s (default: the\n"
            "                      config's quantization_config); embeddings stay 16-bit\n"
            "  --kv-dtype T        KV cache: fp32 fp16 bf16 fp8 int8 (default: the weights'\n"
            "                      dtype when it is fp32/fp16/bf16, else fp16)\n"
            "  --seq-len S         tokens per sequence (vLLM max_model_len; default 4096)\n"
            "  --batch B           concurrent sequences (default 1)\n"
            "  --tp K              tensor-parallel GPUs on one node (default 1)\n"
            "  --pp P              pipeline stages on P nodes (default 1, at most %d)\n"
            "  --overhead F        generic model: overhead, fraction of weights + KV (0.10)\n"
            "  --cuda-context B    generic model: reserve per GPU, bytes or 512Mi, 1Gi (512Mi)\n"
            "  --engine E          size it as this engine allocates: %s\n"
            "                      (builtin: the generic model); profiles:\n"
            "%s"
            "  --engine-version V  e.g. 0.6.4 (vLLM), 0.4.3 (SGLang), b4500 (llama.cpp);\n"
            "                      default: the newest profile\n"
            "  --max-num-batched-tokens N, --max-num-seqs N, --enforce-eager, --block-size N\n"
            "                      vLLM flags (SGLang: --chunked-prefill-size N,\n"
            "                      --disable-cuda-graph; llama.cpp: --ubatch-size N,\n"
            "                      --flash-attn)\n"
            "  --gpu NAME|BYTES    a GPU of the built-in catalog (A10G, L4, L40S, A100-40GB,\n"
            "                      A100-80GB, H100-80GB, H200) or its memory: bytes or a\n"
            "                      quantity such as 24Gi, 80G, 1.5Ti\n"
            "  --gpu-memory-utilization U\n"
            "                      the engine's memory fraction (vLLM gpu_memory_utilization,\n"
            "                      SGLang mem_fraction_static); default: the engine's own\n"
            "Workloads:\n"
            "  --lora-adapters N   serve N LoRA adapters on the base (--max-loras M resident,\n"
            "                      default min(N, 8); --lora-rank R; --lora-targets all-linear|\n"
            "                      attention|qv)\n"
            "  --train M           a fine-tuning job instead of serving: full, lora or qlora\n"
            "                      (--lora-rank R, --optimizer adamw|adamw-8bit|sgd,\n"
            "                      --micro-batch N, --no-activation-checkpointing; --seq-len is\n"
            "                      the training sequence)\n"
            "  --images N          images per request (a llava config): N x image tokens more\n"
            "  --draft-hf-config F a speculative draft model in the same slice\n"
            "                      (--num-speculative-tokens K, default 5)\n"
            "  --prompt-tokens N   prefill FLOPs of an N-token prompt, and with --gpu the\n"
            "                      time to first token at the GPU's datasheet TFLOPS\n"
            "  --json              exact byte counts as JSON\n",
            plan_dtype_names(), plan_quant_names(), PLAN_MAX_PP, eng_names_list(),
            plan_engine_profiles_text());
}

/* Everything the command line says. */
typedef struct est_args {
    const char *hf, *dtype, *kv_dtype, *quant, *engine, *engine_version, *gpu;
    const char *train, *optimizer, *targets, *draft_hf;
    uint32_t lora_rank, lora_adapters, max_loras, prompt_tokens;
    bool json;
    uint64_t params;
    uint32_t layers, kv_heads, head_dim, hidden, heads, vocab;
    char arch_flag[64]; /* first architecture flag seen, for the mixing error */
    double util;        /* < 0: the engine's default */
    plan_fp_opts o;
} est_args;

enum {
    OPT_HF = 256,
    OPT_PARAMS,
    OPT_LAYERS,
    OPT_KV_HEADS,
    OPT_HEAD_DIM,
    OPT_HIDDEN,
    OPT_HEADS,
    OPT_VOCAB,
    OPT_DTYPE,
    OPT_KV_DTYPE,
    OPT_QUANT,
    OPT_SEQ,
    OPT_BATCH,
    OPT_TP,
    OPT_PP,
    OPT_OVERHEAD,
    OPT_CTX,
    OPT_ENGINE,
    OPT_ENGINE_VERSION,
    OPT_GPU,
    OPT_UTIL,
    OPT_TOKENS,
    OPT_SEQS,
    OPT_EAGER,
    OPT_BLOCK,
    OPT_UBATCH,
    OPT_FA,
    OPT_JSON,
    OPT_HELP,
    OPT_LORA_ADAPTERS,
    OPT_MAX_LORAS,
    OPT_LORA_RANK,
    OPT_LORA_TARGETS,
    OPT_TRAIN,
    OPT_OPTIMIZER,
    OPT_MICRO_BATCH,
    OPT_NO_CKPT,
    OPT_IMAGES,
    OPT_DRAFT,
    OPT_SPEC_TOKENS,
    OPT_PROMPT,
};

static const struct option long_opts[] = {
    {"hf-config", required_argument, NULL, OPT_HF},
    {"params", required_argument, NULL, OPT_PARAMS},
    {"layers", required_argument, NULL, OPT_LAYERS},
    {"kv-heads", required_argument, NULL, OPT_KV_HEADS},
    {"head-dim", required_argument, NULL, OPT_HEAD_DIM},
    {"hidden", required_argument, NULL, OPT_HIDDEN},
    {"heads", required_argument, NULL, OPT_HEADS},
    {"vocab", required_argument, NULL, OPT_VOCAB},
    {"dtype", required_argument, NULL, OPT_DTYPE},
    {"kv-dtype", required_argument, NULL, OPT_KV_DTYPE},
    {"quantization", required_argument, NULL, OPT_QUANT},
    {"seq-len", required_argument, NULL, OPT_SEQ},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"tp", required_argument, NULL, OPT_TP},
    {"pp", required_argument, NULL, OPT_PP},
    {"overhead", required_argument, NULL, OPT_OVERHEAD},
    {"cuda-context", required_argument, NULL, OPT_CTX},
    {"engine", required_argument, NULL, OPT_ENGINE},
    {"engine-version", required_argument, NULL, OPT_ENGINE_VERSION},
    {"gpu", required_argument, NULL, OPT_GPU},
    {"gpu-memory-utilization", required_argument, NULL, OPT_UTIL},
    {"mem-fraction-static", required_argument, NULL, OPT_UTIL},
    {"max-num-batched-tokens", required_argument, NULL, OPT_TOKENS},
    {"chunked-prefill-size", required_argument, NULL, OPT_TOKENS},
    {"max-num-seqs", required_argument, NULL, OPT_SEQS},
    {"enforce-eager", no_argument, NULL, OPT_EAGER},
    {"disable-cuda-graph", no_argument, NULL, OPT_EAGER},
    {"block-size", required_argument, NULL, OPT_BLOCK},
    {"ubatch-size", required_argument, NULL, OPT_UBATCH},
    {"flash-attn", no_argument, NULL, OPT_FA},
    {"json", no_argument, NULL, OPT_JSON},
    {"lora-adapters", required_argument, NULL, OPT_LORA_ADAPTERS},
    {"max-loras", required_argument, NULL, OPT_MAX_LORAS},
    {"lora-rank", required_argument, NULL, OPT_LORA_RANK},
    {"max-lora-rank", required_argument, NULL, OPT_LORA_RANK},
    {"lora-targets", required_argument, NULL, OPT_LORA_TARGETS},
    {"train", required_argument, NULL, OPT_TRAIN},
    {"optimizer", required_argument, NULL, OPT_OPTIMIZER},
    {"micro-batch", required_argument, NULL, OPT_MICRO_BATCH},
    {"no-activation-checkpointing", no_argument, NULL, OPT_NO_CKPT},
    {"images", required_argument, NULL, OPT_IMAGES},
    {"draft-hf-config", required_argument, NULL, OPT_DRAFT},
    {"num-speculative-tokens", required_argument, NULL, OPT_SPEC_TOKENS},
    {"prompt-tokens", required_argument, NULL, OPT_PROMPT},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static bool parse_u32(const char *opt, const char *s, uint32_t max, uint32_t *out)
{
    uint64_t v;
    if (!cli_parse_u64(CMD, opt, s, 1, max, false, &v)) return false;
    *out = (uint32_t)v;
    return true;
}

/* One option; false on a bad value (the message is printed). */
static bool take(est_args *a, int c, const char *name, const char *v)
{
    uint64_t u;
    double d;
    bool is_arch = false, ok = true;
    switch (c) {
    case OPT_HF:
        a->hf = v;
        break;
    case OPT_PARAMS:
        ok = cli_parse_u64(CMD, name, v, 1, UINT64_MAX, true, &a->params);
        break;
    case OPT_LAYERS:
        ok = parse_u32(name, v, 10000, &a->layers), is_arch = true;
        break;
    case OPT_KV_HEADS:
        ok = parse_u32(name, v, 100000, &a->kv_heads), is_arch = true;
        break;
    case OPT_HEAD_DIM:
        ok = parse_u32(name, v, 1000000, &a->head_dim), is_arch = true;
        break;
    case OPT_HIDDEN:
        ok = parse_u32(name, v, 1000000, &a->hidden), is_arch = true;
        break;
    case OPT_HEADS:
        ok = parse_u32(name, v, 100000, &a->heads), is_arch = true;
        break;
    case OPT_VOCAB:
        ok = parse_u32(name, v, 10000000, &a->vocab), is_arch = true;
        break;
    case OPT_DTYPE:
        a->dtype = v;
        break;
    case OPT_KV_DTYPE:
        a->kv_dtype = v;
        break;
    case OPT_QUANT:
        a->quant = v;
        break;
    case OPT_SEQ:
        ok = cli_parse_u64(CMD, name, v, 1, 1000000000, true, &a->o.seq_len);
        break;
    case OPT_BATCH:
        ok = cli_parse_u64(CMD, name, v, 1, 1000000, false, &a->o.batch);
        break;
    case OPT_TP:
        ok = parse_u32(name, v, 1024, &a->o.tp);
        break;
    case OPT_PP:
        ok = parse_u32(name, v, PLAN_MAX_PP, &a->o.pp);
        break;
    case OPT_OVERHEAD:
        ok = cli_parse_double(CMD, name, v, 0.0, 10.0, &d);
        if (ok) a->o.overhead_ppm = (uint32_t)llround(d * 1e6);
        break;
    case OPT_CTX:
        ok = cli_parse_bytes(CMD, name, v, 0, 1ULL << 40, &u);
        if (ok) a->o.cuda_context_bytes = u;
        break;
    case OPT_ENGINE:
        a->engine = v;
        break;
    case OPT_ENGINE_VERSION:
        a->engine_version = v;
        break;
    case OPT_GPU:
        a->gpu = v;
        break;
    case OPT_UTIL:
        ok = cli_parse_double(CMD, name, v, 0.01, 1.0, &a->util);
        break;
    case OPT_TOKENS:
        ok = parse_u32(name, v, 16u << 20, &a->o.max_batched_tokens);
        break;
    case OPT_SEQS:
        ok = parse_u32(name, v, 1u << 20, &a->o.max_seqs);
        break;
    case OPT_BLOCK:
        ok = parse_u32(name, v, 4096, &a->o.block_tokens);
        break;
    case OPT_UBATCH:
        ok = parse_u32(name, v, 1u << 20, &a->o.ubatch);
        break;
    case OPT_EAGER:
        a->o.enforce_eager = true;
        break;
    case OPT_FA:
        a->o.flash_attn = true;
        break;
    case OPT_JSON:
        a->json = true;
        break;
    case OPT_LORA_ADAPTERS:
        ok = parse_u32(name, v, 100000, &a->lora_adapters);
        break;
    case OPT_MAX_LORAS:
        ok = parse_u32(name, v, 100000, &a->max_loras);
        break;
    case OPT_LORA_RANK:
        ok = parse_u32(name, v, 4096, &a->lora_rank);
        break;
    case OPT_LORA_TARGETS:
        a->targets = v;
        break;
    case OPT_TRAIN:
        a->train = v;
        break;
    case OPT_OPTIMIZER:
        a->optimizer = v;
        break;
    case OPT_MICRO_BATCH:
        ok = parse_u32(name, v, 65536, &a->o.train.micro_batch);
        break;
    case OPT_NO_CKPT:
        a->o.train.no_checkpointing = true;
        break;
    case OPT_IMAGES:
        ok = parse_u32(name, v, 4096, &a->o.images);
        break;
    case OPT_DRAFT:
        a->draft_hf = v;
        break;
    case OPT_SPEC_TOKENS:
        ok = parse_u32(name, v, 64, &a->o.spec_tokens);
        break;
    case OPT_PROMPT:
        ok = parse_u32(name, v, 16u << 20, &a->prompt_tokens);
        break;
    default:
        break;
    }
    if (ok && is_arch && !a->arch_flag[0]) snprintf(a->arch_flag, sizeof a->arch_flag, "%s", name);
    return ok;
}

/* 0 parsed, CLI_OK after --help, CLI_USAGE on an error (printed). */
static int parse_args(int argc, char **argv, est_args *a, bool *help)
{
    memset(a, 0, sizeof *a);
    a->util = -1;
    plan_fp_opts_default(&a->o);
    opterr = 0;
    optind = 1;
    int c, idx;
    while ((c = getopt_long(argc, argv, ":h", long_opts, &idx)) != -1) {
        if (c == 'h' || c == OPT_HELP) {
            *help = true;
            return 0;
        }
        if (c == '?' || c == ':') return cli_usage_error(CMD, c, argv);
        char name[64];
        snprintf(name, sizeof name, "--%s", long_opts[idx].name);
        if (!take(a, c, name, optarg)) return CLI_USAGE;
    }
    if (optind < argc) return cli_usage_fail(CMD, "unexpected argument '%s'", argv[optind]);
    if (a->hf && a->draft_hf && !strcmp(a->hf, "-") && !strcmp(a->draft_hf, "-"))
        return cli_usage_fail(CMD, "--hf-config and --draft-hf-config cannot both be -");
    return 0;
}

/* An HF config.json from path, or from standard input for "-". */
static int load_hf(const char *path, plan_arch *arch, vp_err *e)
{
    if (strcmp(path, "-")) return plan_arch_from_hf_file(path, arch, e);
    char *buf;
    size_t len;
    cJSON *cfg;
    int rc = cli_read_input(path, 4u << 20, &buf, &len, e);
    if (rc) return rc;
    rc = vp_json_parse(buf, len, "stdin", &cfg, e);
    free(buf);
    if (rc) return rc;
    rc = plan_arch_from_hf(cfg, "stdin", arch, e);
    cJSON_Delete(cfg);
    return rc;
}

/* The architecture from --hf-config or the flags; CLI_USAGE on an error (printed). */
static int build_arch(const est_args *a, plan_arch *arch, char *src, size_t cap)
{
    memset(arch, 0, sizeof *arch);
    vp_err e = {0};
    if (a->hf) {
        if (a->arch_flag[0]) {
            fprintf(stderr, "vrampack " CMD ": %s: not allowed with --hf-config\n", a->arch_flag);
            return CLI_USAGE;
        }
        if (load_hf(a->hf, arch, &e)) {
            fprintf(stderr, "vrampack " CMD ": %s\n", e.msg);
            return CLI_USAGE;
        }
        if (a->params) {
            arch->params = a->params;
            if (arch->active_params > a->params) arch->active_params = 0;
        }
        if (!arch->params) {
            fprintf(stderr,
                    "vrampack " CMD ": --params: required, %s does not give enough to count "
                    "parameters\n",
                    cli_input_name(a->hf));
            return CLI_USAGE;
        }
        snprintf(src, cap, "%s (%s)", arch->family, cli_input_name(a->hf));
        return 0;
    }
    const char *missing = !a->params     ? "--params"
                          : !a->layers   ? "--layers"
                          : !a->kv_heads ? "--kv-heads"
                                         : NULL;
    if (missing) {
        fprintf(stderr, "vrampack " CMD ": %s: required without --hf-config (see --help)\n",
                missing);
        return CLI_USAGE;
    }
    if (!a->head_dim && !(a->hidden && a->heads)) {
        fprintf(stderr, "vrampack " CMD ": --head-dim: required without --hf-config (or "
                        "give --hidden and --heads)\n");
        return CLI_USAGE;
    }
    if (a->heads && a->kv_heads > a->heads) {
        fprintf(stderr,
                "vrampack " CMD ": --kv-heads: %" PRIu32 " is more than --heads %" PRIu32 "\n",
                a->kv_heads, a->heads);
        return CLI_USAGE;
    }
    snprintf(arch->family, sizeof arch->family, "custom");
    arch->params = a->params;
    arch->layers = a->layers;
    arch->kv_heads = a->kv_heads;
    arch->head_dim = a->head_dim;
    arch->hidden = a->hidden;
    arch->heads = a->heads;
    arch->vocab = a->vocab;
    arch->torch_dtype = PLAN_DT_BF16;
    snprintf(src, cap, "custom architecture");
    return 0;
}

static bool parse_dtype(const char *opt, const char *s, plan_dtype *out)
{
    if (plan_dtype_parse(s, out) == 0) return true;
    fprintf(stderr, "vrampack " CMD ": %s: unknown dtype '%s' (%s)\n", opt, s, plan_dtype_names());
    return false;
}

static int usage_error(const char *opt, const char *what, const char *v, const char *known)
{
    fprintf(stderr, "vrampack " CMD ": %s: %s '%s' (%s)\n", opt, what, v, known);
    return CLI_USAGE;
}

/* LoRA adapters, a training job, a draft model into the options. */
static int resolve_work(est_args *a, plan_arch *draft)
{
    plan_fp_opts *o = &a->o;
    plan_lora_targets targets = PLAN_LORA_ALL_LINEAR;
    if (a->targets && plan_lora_targets_parse(a->targets, &targets))
        return usage_error("--lora-targets", "unknown targets", a->targets,
                           "all-linear, attention, qv");
    if (a->train) {
        if (plan_train_method_parse(a->train, &o->train.method) ||
            o->train.method == PLAN_TRAIN_NONE)
            return usage_error("--train", "unknown method", a->train, "full, lora, qlora");
        if (a->optimizer && plan_optimizer_parse(a->optimizer, &o->train.optimizer))
            return usage_error("--optimizer", "unknown optimizer", a->optimizer,
                               "adamw, adamw-8bit, sgd");
        o->train.rank = a->lora_rank ? a->lora_rank : 16;
        o->train.targets = targets;
        if (o->train.method == PLAN_TRAIN_FULL && a->lora_rank) {
            fprintf(stderr, "vrampack " CMD ": --lora-rank: full fine-tuning trains no adapter\n");
            return CLI_USAGE;
        }
    } else if (a->optimizer || o->train.micro_batch || o->train.no_checkpointing) {
        fprintf(stderr, "vrampack " CMD ": --optimizer, --micro-batch and "
                        "--no-activation-checkpointing: need --train\n");
        return CLI_USAGE;
    } else if (a->lora_adapters || a->lora_rank) {
        o->lora.adapters = a->lora_adapters ? a->lora_adapters : 1;
        o->lora.rank = a->lora_rank ? a->lora_rank : 16;
        o->lora.max_resident = a->max_loras;
        o->lora.targets = targets;
    }
    if (a->draft_hf) {
        vp_err e = {0};
        if (load_hf(a->draft_hf, draft, &e)) {
            fprintf(stderr, "vrampack " CMD ": --draft-hf-config: %s\n", e.msg);
            return CLI_USAGE;
        }
        o->draft = draft;
        o->draft_dtype = draft->torch_dtype;
        if (!o->spec_tokens) o->spec_tokens = 5;
    }
    return 0;
}

/* dtype, KV dtype, quantization, engine and GPU into the options. */
static int resolve_opts(est_args *a, const plan_arch *arch, est_gpu *gpu)
{
    plan_fp_opts *o = &a->o;
    o->dtype = arch->torch_dtype;
    o->quant = arch->quant;
    if (a->dtype && !parse_dtype("--dtype", a->dtype, &o->dtype)) return CLI_USAGE;
    if (a->quant && plan_quant_parse(a->quant, &o->quant)) {
        fprintf(stderr, "vrampack " CMD ": --quantization: unknown format '%s' (%s)\n", a->quant,
                plan_quant_names());
        return CLI_USAGE;
    }
    if (plan_dtype_is_gguf(o->dtype)) o->quant = PLAN_QUANT_NONE; /* a GGUF file is its own */
    if (a->kv_dtype) {
        if (!parse_dtype("--kv-dtype", a->kv_dtype, &o->kv_dtype)) return CLI_USAGE;
    } else {
        bool wide =
            o->dtype == PLAN_DT_FP32 || o->dtype == PLAN_DT_FP16 || o->dtype == PLAN_DT_BF16;
        o->kv_dtype = wide ? o->dtype : PLAN_DT_FP16;
    }
    if (a->engine && eng_parse(a->engine, &o->engine)) {
        fprintf(stderr, "vrampack " CMD ": --engine: unknown engine '%s' (%s)\n", a->engine,
                eng_names_list());
        return CLI_USAGE;
    }
    if (a->engine_version && plan_engine_version_parse(a->engine_version, &o->engine_version)) {
        fprintf(stderr,
                "vrampack " CMD ": --engine-version: '%s' is not a version (0.6.4, "
                "b4500)\n",
                a->engine_version);
        return CLI_USAGE;
    }
    if (a->engine_version && !plan_engine_has_profile(o->engine)) {
        fprintf(stderr, "vrampack " CMD ": --engine-version: needs --engine %s\n",
                plan_engine_profile_names());
        return CLI_USAGE;
    }
    if (a->gpu && est_gpu_lookup(a->gpu, gpu)) return CLI_USAGE;
    if (a->util >= 0 && !a->gpu) {
        fprintf(stderr, "vrampack " CMD ": --gpu-memory-utilization: needs --gpu\n");
        return CLI_USAGE;
    }
    o->gpu_bytes = gpu->bytes;
    return 0;
}

int cli_estimate(int argc, char **argv)
{
    est_args a;
    bool help = false;
    int rc = parse_args(argc, argv, &a, &help);
    if (rc) return rc;
    if (help) {
        usage(stdout);
        return CLI_OK;
    }
    plan_arch arch;
    char src[300];
    if ((rc = build_arch(&a, &arch, src, sizeof src))) return rc;
    est_gpu gpu = {0};
    if ((rc = resolve_opts(&a, &arch, &gpu))) return rc;
    plan_arch draft;
    if ((rc = resolve_work(&a, &draft))) return rc;

    est_result r;
    memset(&r, 0, sizeof r);
    vp_err e = {0};
    if (plan_footprint_compute(&arch, &a.o, &r.fp, &e)) {
        est_print_error(e.msg);
        return CLI_USAGE;
    }
    if (gpu.bytes) {
        uint32_t util = a.util >= 0 ? (uint32_t)llround(a.util * 1e6) : 0;
        if (plan_fp_fit(&r.fp, &a.o, gpu.bytes, util, &r.fit, &e)) {
            est_print_error(e.msg);
            return CLI_USAGE;
        }
        r.have_fit = true;
    }
    r.gpu = gpu;
    r.prompt_tokens = a.prompt_tokens;
    if (a.json)
        est_print_json(&arch, &a.o, &r);
    else
        est_print_text(src, &arch, &a.o, &r);
    return CLI_OK;
}
