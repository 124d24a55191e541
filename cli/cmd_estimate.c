/* cmd_estimate.c - `vrampack estimate`: the memory footprint of one model, in GiB or exact bytes.
 *
 * The architecture comes from an HF config.json (--hf-config) or from flags (--params, --layers,
 * --kv-heads, --head-dim, optionally --hidden/--heads/--vocab). All arithmetic is the planner's
 * (plan_footprint_compute); this file only parses options and prints. Text output is for people
 * (GiB = 2^30 bytes, plus the exact bytes); --json prints exact byte integers under stable keys:
 * params, weights_bytes, kv_cache_bytes, overhead_bytes, reserve_bytes, total_bytes,
 * per_gpu_bytes, tp, pp, dtype, kv_dtype, seq_len, batch (and active_params, stage_gpu_bytes,
 * decode_bytes_per_token, overhead_fraction, cuda_context_bytes, family). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "footprint.h"

#define CMD "estimate"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vrampack estimate (--hf-config F [--params N] | --params N --layers L "
            "--kv-heads H\n"
            "                          --head-dim D [--hidden H --heads N --vocab V])\n"
            "                         [--dtype T] [--kv-dtype T] [--seq-len S] [--batch B]\n"
            "                         [--tp K] [--pp P] [--overhead F] [--cuda-context BYTES]\n"
            "                         [--json]\n"
            "\n"
            "Memory footprint of one replica: weights, KV cache, framework overhead and the\n"
            "per-GPU CUDA context, in GiB (2^30 bytes), or exact bytes with --json.\n"
            "\n"
            "  --hf-config F       a Hugging Face config.json; params are counted from it\n"
            "  --params N          total parameters (suffixes K, M, B/G: 8B = 8000000000);\n"
            "                      with --hf-config, overrides the count from the config\n"
            "  --layers L, --kv-heads H, --head-dim D\n"
            "                      architecture when there is no config (--hidden and --heads\n"
            "                      may replace --head-dim; --vocab places the embeddings)\n"
            "  --dtype T           weights: fp32 fp16 bf16 fp8 int8 int4 q8_0 q6_k q5_k_m\n"
            "                      q4_k_m q4_0 (default: the config's torch_dtype, else bf16)\n"
            "  --kv-dtype T        KV cache: fp32 fp16 bf16 fp8 int8 (default: the weights'\n"
            "                      dtype when it is fp32/fp16/bf16, else fp16)\n"
            "  --seq-len S         tokens per sequence (default 4096)\n"
            "  --batch B           concurrent sequences (default 1)\n"
            "  --tp K              tensor-parallel GPUs on one node (default 1)\n"
            "  --pp P              pipeline stages on P nodes (default 1, at most %d)\n"
            "  --overhead F        framework overhead, fraction of weights + KV (default 0.10)\n"
            "  --cuda-context B    reserve per GPU in bytes, suffixes Ki/Mi/Gi (default 512Mi)\n"
            "  --json              exact byte counts as JSON\n",
            PLAN_MAX_PP);
}

/* 1234567 -> "1,234,567" */
static const char *grouped(uint64_t v, char buf[32])
{
    char raw[24];
    int n = snprintf(raw, sizeof raw, "%" PRIu64, v);
    int out = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0) buf[out++] = ',';
        buf[out++] = raw[i];
    }
    buf[out] = '\0';
    return buf;
}

static void row(const char *label, uint64_t bytes)
{
    char g[32];
    printf("  %-22s %10.2f  %21s\n", label, (double)bytes / VP_GIB, grouped(bytes, g));
}

static void print_text(const char *source, const plan_arch *a, const plan_fp_opts *o,
                       const plan_footprint *f)
{
    char g[32], g2[32];
    printf("%s\n", source);
    printf("  params %s", grouped(f->params, g));
    if (a->active_params && a->active_params != f->params)
        printf(" (%s active per token)", grouped(a->active_params, g2));
    printf("; weights %s, KV cache %s; %" PRIu64 " tokens x %" PRIu64 " sequence%s",
           plan_dtype_name(o->dtype), plan_dtype_name(o->kv_dtype), o->seq_len, o->batch,
           o->batch == 1 ? "" : "s");
    if (o->tp > 1 || o->pp > 1) printf("; tp %" PRIu32 ", pp %" PRIu32, o->tp, o->pp);
    printf("\n\n  %-22s %10s  %21s\n", "", "GiB", "bytes");
    row("weights", f->weights_bytes);
    row("KV cache", f->kv_cache_bytes);
    char label[64];
    snprintf(label, sizeof label, "overhead (%.4g%%)", o->overhead_ppm / 10000.0);
    row(label, f->overhead_bytes);
    uint64_t gpus = (uint64_t)o->tp * o->pp;
    snprintf(label, sizeof label, "CUDA context (x%" PRIu64 ")", gpus);
    row(gpus > 1 ? label : "CUDA context", f->reserve_bytes);
    row("total", f->total_bytes);
    if (gpus > 1) {
        printf("\n");
        if (o->pp > 1) {
            for (uint32_t s = 0; s < o->pp; s++) {
                snprintf(label, sizeof label, "stage %" PRIu32 ", per GPU", s);
                row(label, f->stage_gpu_bytes[s]);
            }
        }
        snprintf(label, sizeof label, "per GPU (%" PRIu64 " GPUs)", gpus);
        row(label, f->per_gpu_bytes);
    }
}

static void print_json(const plan_arch *a, const plan_fp_opts *o, const plan_footprint *f)
{
    vp_sb sb = {0};
    vp_sb_printf(&sb, "{\"family\": \"%s\", \"params\": %" PRIu64 ", \"active_params\": %" PRIu64,
                 a->family[0] ? a->family : "unknown", f->params,
                 a->active_params ? a->active_params : f->params);
    vp_sb_printf(&sb,
                 ", \"weights_bytes\": %" PRIu64 ", \"kv_cache_bytes\": %" PRIu64
                 ", \"overhead_bytes\": %" PRIu64 ", \"reserve_bytes\": %" PRIu64
                 ", \"total_bytes\": %" PRIu64 ", \"per_gpu_bytes\": %" PRIu64
                 ", \"stage_gpu_bytes\": [",
                 f->weights_bytes, f->kv_cache_bytes, f->overhead_bytes, f->reserve_bytes,
                 f->total_bytes, f->per_gpu_bytes);
    for (uint32_t s = 0; s < f->pp; s++)
        vp_sb_printf(&sb, "%s%" PRIu64, s ? ", " : "", f->stage_gpu_bytes[s]);
    vp_sb_printf(&sb,
                 "], \"decode_bytes_per_token\": %" PRIu64 ", \"tp\": %" PRIu32 ", \"pp\": %" PRIu32
                 ", \"dtype\": \"%s\", \"kv_dtype\": \"%s\", \"seq_len\": %" PRIu64
                 ", \"batch\": %" PRIu64 ", \"overhead_fraction\": %.6g"
                 ", \"cuda_context_bytes\": %" PRIu64 "}\n",
                 f->decode_bytes_per_token, f->tp, f->pp, plan_dtype_name(o->dtype),
                 plan_dtype_name(o->kv_dtype), o->seq_len, o->batch, o->overhead_ppm / 1e6,
                 o->cuda_context_bytes);
    if (vp_sb_ok(&sb)) fputs(vp_sb_str(&sb), stdout);
    vp_sb_free(&sb);
}

static bool parse_dtype(const char *opt, const char *s, plan_dtype *out)
{
    if (plan_dtype_parse(s, out) == 0) return true;
    fprintf(stderr,
            "vrampack " CMD ": %s: unknown dtype '%s' (fp32 fp16 bf16 fp8 int8 int4 q8_0 q6_k "
            "q5_k_m q4_k_m q4_0)\n",
            opt, s);
    return false;
}

static bool parse_u32(const char *opt, const char *s, uint32_t max, uint32_t *out)
{
    uint64_t v;
    if (!cli_parse_u64(CMD, opt, s, 1, max, false, &v)) return false;
    *out = (uint32_t)v;
    return true;
}

int cli_estimate(int argc, char **argv)
{
    const char *hf = NULL;
    const char *dtype_s = NULL, *kv_dtype_s = NULL;
    bool json = false;
    uint64_t params = 0;
    uint32_t layers = 0, kv_heads = 0, head_dim = 0, hidden = 0, heads = 0, vocab = 0;
    char arch_flag[64] = ""; /* first architecture flag seen, for the mixing error */
    plan_fp_opts o;
    plan_fp_opts_default(&o);

    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) {
            usage(stdout);
            return CLI_OK;
        }
        if (!strcmp(opt, "--json")) {
            json = true;
            continue;
        }
        if (strncmp(opt, "--", 2) != 0) {
            fprintf(stderr, "vrampack " CMD ": unexpected argument '%s' (see --help)\n", opt);
            return CLI_USAGE;
        }
        /* Every other option takes a value: --opt VALUE or --opt=VALUE. */
        char name[64];
        const char *val;
        const char *eq = strchr(opt, '=');
        if (eq) {
            size_t n = (size_t)(eq - opt);
            if (n >= sizeof name) n = sizeof name - 1;
            memcpy(name, opt, n);
            name[n] = '\0';
            val = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", opt);
            if (i + 1 >= argc) {
                fprintf(stderr, "vrampack " CMD ": %s: needs a value (see --help)\n", name);
                return CLI_USAGE;
            }
            val = argv[++i];
        }
        bool ok = true, is_arch = false;
        uint64_t u;
        double d;
        if (!strcmp(name, "--hf-config")) {
            hf = val;
        } else if (!strcmp(name, "--params")) {
            /* With --hf-config it overrides the count (a published figure, or a config whose
             * architecture cannot be counted). */
            ok = cli_parse_u64(CMD, name, val, 1, UINT64_MAX, true, &params);
        } else if (!strcmp(name, "--layers")) {
            ok = parse_u32(name, val, 10000, &layers);
            is_arch = true;
        } else if (!strcmp(name, "--kv-heads")) {
            ok = parse_u32(name, val, 100000, &kv_heads);
            is_arch = true;
        } else if (!strcmp(name, "--head-dim")) {
            ok = parse_u32(name, val, 1000000, &head_dim);
            is_arch = true;
        } else if (!strcmp(name, "--hidden")) {
            ok = parse_u32(name, val, 1000000, &hidden);
            is_arch = true;
        } else if (!strcmp(name, "--heads")) {
            ok = parse_u32(name, val, 100000, &heads);
            is_arch = true;
        } else if (!strcmp(name, "--vocab")) {
            ok = parse_u32(name, val, 10000000, &vocab);
            is_arch = true;
        } else if (!strcmp(name, "--dtype")) {
            dtype_s = val;
        } else if (!strcmp(name, "--kv-dtype")) {
            kv_dtype_s = val;
        } else if (!strcmp(name, "--seq-len")) {
            ok = cli_parse_u64(CMD, name, val, 1, 1000000000, true, &o.seq_len);
        } else if (!strcmp(name, "--batch")) {
            ok = cli_parse_u64(CMD, name, val, 1, 1000000, false, &o.batch);
        } else if (!strcmp(name, "--tp")) {
            ok = parse_u32(name, val, 1024, &o.tp);
        } else if (!strcmp(name, "--pp")) {
            ok = parse_u32(name, val, PLAN_MAX_PP, &o.pp);
        } else if (!strcmp(name, "--overhead")) {
            ok = cli_parse_double(CMD, name, val, 0.0, 10.0, &d);
            if (ok) o.overhead_ppm = (uint32_t)llround(d * 1e6);
        } else if (!strcmp(name, "--cuda-context")) {
            ok = cli_parse_u64(CMD, name, val, 0, 1ULL << 40, true, &u);
            if (ok) o.cuda_context_bytes = u;
        } else {
            fprintf(stderr, "vrampack " CMD ": unknown option '%s' (see --help)\n", name);
            return CLI_USAGE;
        }
        if (!ok) return CLI_USAGE;
        if (is_arch && !arch_flag[0]) snprintf(arch_flag, sizeof arch_flag, "%s", name);
    }

    plan_arch a;
    memset(&a, 0, sizeof a);
    vp_err e = {0};
    const char *source;
    char src[300];
    if (hf) {
        if (arch_flag[0]) {
            fprintf(stderr, "vrampack " CMD ": %s: not allowed with --hf-config\n", arch_flag);
            return CLI_USAGE;
        }
        if (plan_arch_from_hf_file(hf, &a, &e)) {
            fprintf(stderr, "vrampack " CMD ": %s\n", e.msg);
            return CLI_USAGE;
        }
        if (params) {
            a.params = params;
            if (a.active_params > params) a.active_params = 0;
        }
        if (!a.params) {
            fprintf(stderr,
                    "vrampack " CMD ": --params: required, %s does not give enough to count "
                    "parameters\n",
                    hf);
            return CLI_USAGE;
        }
        snprintf(src, sizeof src, "%s (%s)", a.family, hf);
        source = src;
    } else {
        const char *missing = !params     ? "--params"
                              : !layers   ? "--layers"
                              : !kv_heads ? "--kv-heads"
                                          : NULL;
        if (missing) {
            fprintf(stderr, "vrampack " CMD ": %s: required without --hf-config (see --help)\n",
                    missing);
            return CLI_USAGE;
        }
        if (!head_dim && !(hidden && heads)) {
            fprintf(stderr, "vrampack " CMD ": --head-dim: required without --hf-config (or "
                            "give --hidden and --heads)\n");
            return CLI_USAGE;
        }
        if (heads && kv_heads > heads) {
            fprintf(stderr,
                    "vrampack " CMD ": --kv-heads: %" PRIu32 " is more than --heads %" PRIu32 "\n",
                    kv_heads, heads);
            return CLI_USAGE;
        }
        snprintf(a.family, sizeof a.family, "custom");
        a.params = params;
        a.layers = layers;
        a.kv_heads = kv_heads;
        a.head_dim = head_dim;
        a.hidden = hidden;
        a.heads = heads;
        a.vocab = vocab;
        a.torch_dtype = PLAN_DT_BF16;
        source = "custom architecture";
    }

    o.dtype = a.torch_dtype;
    if (dtype_s && !parse_dtype("--dtype", dtype_s, &o.dtype)) return CLI_USAGE;
    if (kv_dtype_s) {
        if (!parse_dtype("--kv-dtype", kv_dtype_s, &o.kv_dtype)) return CLI_USAGE;
    } else {
        bool wide = o.dtype == PLAN_DT_FP32 || o.dtype == PLAN_DT_FP16 || o.dtype == PLAN_DT_BF16;
        o.kv_dtype = wide ? o.dtype : PLAN_DT_FP16;
    }

    plan_footprint f;
    int rc = plan_footprint_compute(&a, &o, &f, &e);
    if (rc) {
        /* The planner names plan_fp_opts fields; say them as the options that set them. */
        static const struct {
            const char *field, *opt;
        } names[] = {
            {"kv_dtype:", "--kv-dtype:"}, {"dtype:", "--dtype:"}, {"seq_len:", "--seq-len:"},
            {"batch:", "--batch:"},       {"tp:", "--tp:"},       {"pp:", "--pp:"}};
        const char *msg = e.msg, *opt = "";
        for (size_t k = 0; k < VP_ARRAY_LEN(names); k++)
            if (!strncmp(msg, names[k].field, strlen(names[k].field))) {
                opt = names[k].opt;
                msg += strlen(names[k].field);
                break;
            }
        fprintf(stderr, "vrampack " CMD ": %s%s\n", opt, msg);
        return CLI_USAGE;
    }
    if (json)
        print_json(&a, &o, &f);
    else
        print_text(source, &a, &o, &f);
    return CLI_OK;
}
