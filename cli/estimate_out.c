/* estimate_out.c - what `vrampack estimate` prints: a table in GiB and exact bytes for people, or
 * one JSON object of exact integers for programs (keys listed in cmd_estimate.c). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "engine_mem.h"
#include "estimate_out.h"
#include "planner.h"

#define CMD "estimate"

int est_gpu_lookup(const char *s, est_gpu *out)
{
    memset(out, 0, sizeof *out);
    if (s[0] >= '0' && s[0] <= '9') {
        if (!cli_parse_bytes(CMD, "--gpu", s, 1ULL << 20, 1ULL << 42, &out->bytes))
            return CLI_USAGE;
        return 0;
    }
    plan_fleet *f = plan_fleet_builtin();
    const plan_gpu_model *g = f ? plan_fleet_gpu(f, s) : NULL;
    if (g) {
        snprintf(out->name, sizeof out->name, "%s", g->name);
        out->bytes = plan_gpu_cuda_bytes(g);
        out->tflops_bf16 = g->tflops_bf16;
        out->tflops_fp8 = g->tflops_fp8;
    } else {
        fprintf(stderr,
                "vrampack " CMD ": --gpu: unknown GPU '%s' (a built-in name such as A10G, "
                "L4, A100-80GB, H100-80GB, or its memory in bytes: 24Gi)\n",
                s);
    }
    plan_fleet_free(f);
    return out->bytes ? 0 : CLI_USAGE;
}

void est_print_error(const char *msg)
{
    static const struct {
        const char *field, *opt;
    } names[] = {{"kv_dtype:", "--kv-dtype:"},
                 {"dtype:", "--dtype:"},
                 {"seq_len:", "--seq-len:"},
                 {"batch:", "--batch:"},
                 {"tp:", "--tp:"},
                 {"pp:", "--pp:"},
                 {"quantization:", "--quantization:"}};
    const char *opt = "";
    for (size_t k = 0; k < VP_ARRAY_LEN(names); k++)
        if (!strncmp(msg, names[k].field, strlen(names[k].field))) {
            opt = names[k].opt;
            msg += strlen(names[k].field);
            break;
        }
    fprintf(stderr, "vrampack " CMD ": %s%s\n", opt, msg);
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
    printf("  %-24s %10.2f  %21s\n", label, (double)bytes / VP_GIB, grouped(bytes, g));
}

static void print_notes(const plan_arch *a, const plan_fp_opts *o, FILE *f)
{
    if (a->fp32_checkpoint && o->dtype == PLAN_DT_BF16)
        fprintf(f, "note: the config's torch_dtype is float32; engines load it at bf16 (give "
                   "--dtype fp32 to size it at 4 bytes)\n");
    if (a->quant != PLAN_QUANT_NONE && o->quant == a->quant)
        fprintf(f, "note: quantization %s from the config's quantization_config\n",
                plan_quant_name(o->quant));
}

static void print_header(const char *source, const plan_arch *a, const plan_fp_opts *o,
                         const plan_footprint *f)
{
    char g[32], g2[32];
    printf("%s\n", source);
    printf("  params %s", grouped(f->params, g));
    if (a->active_params && a->active_params != f->params)
        printf(" (%s active per token)", grouped(a->active_params, g2));
    printf("; weights %s", plan_dtype_name(o->dtype));
    if (o->quant != PLAN_QUANT_NONE) printf(" + %s", plan_quant_name(o->quant));
    if (o->train.method != PLAN_TRAIN_NONE)
        printf("; micro-batches of %" PRIu32 " x %" PRIu64 " tokens",
               o->train.micro_batch ? o->train.micro_batch : 1,
               o->train.seq_len ? o->train.seq_len : o->seq_len);
    else
        printf(", KV cache %s; %" PRIu64 " tokens x %" PRIu64 " sequence%s",
               plan_dtype_name(o->kv_dtype), o->seq_len, o->batch, o->batch == 1 ? "" : "s");
    if (o->tp > 1 || o->pp > 1) printf("; tp %" PRIu32 ", pp %" PRIu32, o->tp, o->pp);
    printf("\n");
    if (f->profile) printf("  engine profile: %s\n", f->profile);
    printf("\n  %-24s %10s  %21s\n", "", "GiB", "bytes");
}

static void print_fit(const plan_fp_opts *o, const est_result *r)
{
    const plan_fit *x = &r->fit;
    char g[32];
    printf("\n  on %s (%.2f GiB) at %.2f: budget %.2f GiB per GPU\n",
           r->gpu.name[0] ? r->gpu.name : "the GPU", (double)r->gpu.bytes / VP_GIB,
           x->util_ppm / 1e6, (double)x->budget_bytes / VP_GIB);
    printf("  KV cache holds %s tokens; %.2fx concurrency at %" PRIu64 " tokens\n",
           grouped(x->kv_capacity_tokens, g), x->max_concurrency, o->seq_len);
    if (x->fits)
        printf("  fits\n");
    else
        printf("  does not fit: %s\n", x->reason);
}

/* Prefill FLOPs and time to first token at the GPU's datasheet TFLOPS (full utilisation: a lower
 * bound). */
static double ttft_ms(const plan_fp_opts *o, const est_result *r, uint64_t flops)
{
    uint32_t tf =
        o->dtype == PLAN_DT_FP8 && r->gpu.tflops_fp8 ? r->gpu.tflops_fp8 : r->gpu.tflops_bf16;
    return plan_ttft_ms(flops, tf, o->tp * o->pp, 1000000);
}

static void print_work(const plan_arch *a, const plan_fp_opts *o, const est_result *r)
{
    const plan_footprint *f = &r->fp;
    char g[32];
    if (f->trainable_params)
        printf("\n  %s training, %s: %s trainable parameters\n",
               plan_train_method_name(o->train.method), plan_optimizer_name(o->train.optimizer),
               grouped(f->trainable_params, g));
    if (o->images)
        printf("\n  %u image%s x %u tokens: %" PRIu64 " tokens a sequence\n", o->images,
               o->images == 1 ? "" : "s", a->image_tokens, f->seq_tokens);
    if (r->prompt_tokens) {
        uint64_t flops = plan_prefill_flops(a, r->prompt_tokens);
        printf("\n  prefill of %u tokens: %.3g FLOPs", r->prompt_tokens, (double)flops);
        double ms = ttft_ms(o, r, flops);
        if (ms > 0) printf("; time to first token >= %.1f ms at datasheet TFLOPS", ms);
        printf("\n");
    }
}

void est_print_text(const char *source, const plan_arch *a, const plan_fp_opts *o,
                    const est_result *r)
{
    const plan_footprint *f = &r->fp;
    print_notes(a, o, stdout);
    print_header(source, a, o, f);
    bool training = o->train.method != PLAN_TRAIN_NONE;
    if (!training) {
        row("weights", f->weights_bytes);
        if (f->host_bytes) row("  of which in host RAM", f->host_bytes);
        row("KV cache", f->kv_cache_bytes);
    }
    char label[64];
    uint64_t gpus = (uint64_t)o->tp * o->pp;
    if (!f->profile && !training) {
        uint64_t terms = 0;
        for (size_t i = 0; i < f->n_terms; i++)
            terms += f->terms[i].bytes * gpus;
        snprintf(label, sizeof label, "overhead (%.4g%%)", o->overhead_ppm / 10000.0);
        row(label, f->overhead_bytes - terms);
        snprintf(label, sizeof label, "CUDA context (x%" PRIu64 ")", gpus);
        row(gpus > 1 ? label : "CUDA context", f->reserve_bytes);
    }
    for (size_t i = 0; i < f->n_terms; i++) {
        snprintf(label, sizeof label, "%s%s", f->terms[i].name, gpus > 1 ? " (per GPU)" : "");
        row(label, f->terms[i].bytes);
    }
    row("total", f->total_bytes);
    if (gpus > 1) {
        printf("\n");
        for (uint32_t s = 0; o->pp > 1 && s < o->pp; s++) {
            snprintf(label, sizeof label, "stage %" PRIu32 ", per GPU", s);
            row(label, f->stage_gpu_bytes[s]);
        }
        snprintf(label, sizeof label, "per GPU (%" PRIu64 " GPUs)", gpus);
        row(label, f->per_gpu_bytes);
    }
    print_work(a, o, r);
    if (r->have_fit) print_fit(o, r);
}

static void json_fit(vp_sb *sb, const est_result *r)
{
    const plan_fit *x = &r->fit;
    vp_sb_printf(sb, ", \"gpu\": ");
    vp_sb_json_str(sb, r->gpu.name);
    vp_sb_printf(sb,
                 ", \"gpu_bytes\": %" PRIu64 ", \"gpu_memory_utilization\": %.6g"
                 ", \"budget_bytes\": %" PRIu64 ", \"kv_available_bytes\": %" PRId64
                 ", \"fits\": %s, \"kv_capacity_tokens\": %" PRIu64 ", \"max_concurrency\": %.4f"
                 ", \"outside_budget_bytes\": %" PRIu64 ", \"reason\": ",
                 r->gpu.bytes, x->util_ppm / 1e6, x->budget_bytes, x->kv_avail_bytes,
                 x->fits ? "true" : "false", x->kv_capacity_tokens, x->max_concurrency,
                 x->outside_bytes);
    vp_sb_json_str(sb, x->reason);
}

static void json_terms(vp_sb *sb, const plan_footprint *f)
{
    vp_sb_printf(sb, ", \"terms\": {");
    for (size_t i = 0; i < f->n_terms; i++)
        vp_sb_printf(sb, "%s\"%s\": %" PRIu64, i ? ", " : "", f->terms[i].name, f->terms[i].bytes);
    vp_sb_printf(sb, "}");
}

static void json_work(vp_sb *sb, const plan_arch *a, const plan_fp_opts *o, const est_result *r)
{
    const plan_footprint *f = &r->fp;
    vp_sb_printf(sb, ", \"seq_tokens\": %" PRIu64, f->seq_tokens);
    if (o->train.method != PLAN_TRAIN_NONE)
        vp_sb_printf(sb,
                     ", \"train\": \"%s\", \"optimizer\": \"%s\", \"trainable_params\": %" PRIu64,
                     plan_train_method_name(o->train.method),
                     plan_optimizer_name(o->train.optimizer), f->trainable_params);
    if (o->lora.adapters)
        vp_sb_printf(sb, ", \"lora_adapters\": %" PRIu32 ", \"lora_rank\": %" PRIu32,
                     o->lora.adapters, o->lora.rank);
    if (o->images)
        vp_sb_printf(sb,
                     ", \"images\": %" PRIu32 ", \"image_tokens\": %" PRIu32
                     ", \"vision_params\": %" PRIu64,
                     o->images, a->image_tokens, a->vision_params);
    if (o->draft)
        vp_sb_printf(sb, ", \"draft_params\": %" PRIu64 ", \"num_speculative_tokens\": %" PRIu32,
                     o->draft->params, o->spec_tokens);
    if (r->prompt_tokens) {
        uint64_t flops = plan_prefill_flops(a, r->prompt_tokens);
        vp_sb_printf(sb, ", \"prompt_tokens\": %" PRIu32 ", \"prefill_flops\": %" PRIu64,
                     r->prompt_tokens, flops);
        double ms = ttft_ms(o, r, flops);
        if (ms > 0) vp_sb_printf(sb, ", \"ttft_ms\": %.3f", ms);
    }
}

static void json_engine(vp_sb *sb, const plan_fp_opts *o, const plan_footprint *f)
{
    vp_sb_printf(sb, ", \"engine\": \"%s\", \"engine_profile\": ", eng_name(o->engine));
    vp_sb_json_str(sb, f->profile);
    json_terms(sb, f);
    vp_sb_printf(sb,
                 ", \"gpu_weights_bytes\": %" PRIu64 ", \"gpu_kv_bytes\": %" PRIu64
                 ", \"kv_bytes_per_token\": %" PRIu64 ", \"kv_block_tokens\": %" PRIu32
                 ", \"host_bytes\": %" PRIu64,
                 f->gpu_weights_bytes, f->gpu_kv_bytes, f->kv_token_bytes, f->kv_block_tokens,
                 f->host_bytes);
}

void est_print_json(const plan_arch *a, const plan_fp_opts *o, const est_result *r)
{
    const plan_footprint *f = &r->fp;
    vp_sb sb = {0};
    vp_sb_printf(&sb, "{\"family\": ");
    vp_sb_json_str(&sb, a->family[0] ? a->family : "unknown");
    vp_sb_printf(&sb, ", \"params\": %" PRIu64 ", \"active_params\": %" PRIu64, f->params,
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
                 ", \"dtype\": \"%s\", \"kv_dtype\": \"%s\", \"quantization\": \"%s\""
                 ", \"seq_len\": %" PRIu64 ", \"batch\": %" PRIu64 ", \"overhead_fraction\": %.6g"
                 ", \"cuda_context_bytes\": %" PRIu64,
                 f->decode_bytes_per_token, f->tp, f->pp, plan_dtype_name(o->dtype),
                 plan_dtype_name(o->kv_dtype), plan_quant_name(o->quant), o->seq_len, o->batch,
                 o->overhead_ppm / 1e6, o->cuda_context_bytes);
    if (f->profile)
        json_engine(&sb, o, f);
    else if (f->n_terms)
        json_terms(&sb, f);
    json_work(&sb, a, o, r);
    if (r->have_fit) json_fit(&sb, r);
    vp_sb_printf(&sb, ", \"notes\": [");
    bool first = true;
    if (a->fp32_checkpoint && o->dtype == PLAN_DT_BF16) {
        vp_sb_printf(&sb, "\"torch_dtype float32 loaded as bf16\"");
        first = false;
    }
    if (a->quant != PLAN_QUANT_NONE && o->quant == a->quant)
        vp_sb_printf(&sb, "%s\"quantization from quantization_config\"", first ? "" : ", ");
    vp_sb_printf(&sb, "]}\n");
    if (vp_sb_ok(&sb)) fputs(vp_sb_str(&sb), stdout);
    vp_sb_free(&sb);
}
