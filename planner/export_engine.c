/* export_engine.c - the command line that starts one engine on one placement: the one place that
 * maps a slice (memory share, TP/PP degree, context length, batch, KV dtype, port) to an engine's
 * flags, with its health path and default container image.
 *
 * This is a small launch-profile table of its own; when the engine module's launch profiles land
 * it becomes a call to them, and nothing else in the exports changes. Flags follow each engine's
 * documented CLI: vLLM `vllm serve` (--gpu-memory-utilization is a share of the GPU's physical
 * memory, so the slice's bytes over the GPU's total), SGLang `sglang.launch_server`
 * (--mem-fraction-static, the same share), llama.cpp `llama-server` (no memory-share flag: it
 * allocates its weights and its -c context), the built-in worker (--slice-bytes), and a
 * manifest's own command template with its placeholders filled. A pipelined vLLM replica runs its
 * stages over a Ray cluster: stage 0 serves, the other stages join stage 0's node. LoRA adapters
 * and a speculative draft come from the engine module's launch profile (eng_argv_workload), so an
 * exported script spells them exactly as an agent's launch does; the manifest's engine_version,
 * when given, chooses the speculative flags' spelling as the agent's probe does. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"

#define RAY_PORT 6379
#define SGLANG_DIST_PORT 5000

typedef struct builder {
    plan_engine_cmd *c;
    bool oom, full;
} builder;

__attribute__((format(printf, 2, 3))) static void arg(builder *b, const char *fmt, ...)
{
    if (b->oom || b->full) return;
    if (b->c->argc == PLAN_EXPORT_MAX_ARGS) {
        b->full = true;
        return;
    }
    va_list ap, cp;
    va_start(ap, fmt);
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s) vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    if (!s) {
        b->oom = true;
        return;
    }
    b->c->argv[b->c->argc++] = s;
}

void plan_engine_cmd_free(plan_engine_cmd *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->argc; i++)
        free(c->argv[i]);
    memset(c, 0, sizeof *c);
}

static const plan_fp_opts *opts(const plan_export_slice *s)
{
    return s->model && !s->model->fixed ? &s->model->opts : NULL;
}

static bool pipelined(const plan_export_slice *s)
{
    return s->pl->stage >= 0 && s->pl->n_stages > 1;
}

static void engine_args(builder *b, const plan_export_slice *s)
{
    for (char **a = s->model ? s->model->engine_args : NULL; a && *a; a++)
        arg(b, "%s", *a);
}

/* The manifest's engine_version (major x 10000 + minor x 100 + patch) as "M.m.p"; "" when not
 * given (the engine's current spellings). */
static void version_str(const plan_model *m, char *out, size_t cap)
{
    uint32_t v = m->opts.engine_version;
    if (v)
        snprintf(out, cap, "%u.%u.%u", v / 10000, v / 100 % 100, v % 100);
    else
        out[0] = '\0';
}

/* The workload part of an eng_launch for s: resident LoRA adapters, their rank, the draft. */
static void workload_launch(const plan_export_slice *s, eng_kind k, eng_launch *l, char *ver,
                            size_t cap)
{
    memset(l, 0, sizeof *l);
    l->kind = k;
    l->model = s->pl->model;
    l->source = s->source;
    const plan_model *m = s->model;
    ver[0] = '\0';
    if (!m) return;
    plan_model_launch_workload(m, l);
    version_str(m, ver, cap);
    l->version = ver[0] ? ver : NULL;
}

/* The engine profile's LoRA and speculative flags, as the agent passes them. */
static void workload(builder *b, const plan_export_slice *s, eng_kind k)
{
    eng_launch l;
    char ver[32];
    workload_launch(s, k, &l, ver, sizeof ver);
    char **argv = NULL;
    if (eng_argv_workload(&l, &argv, NULL)) {
        b->oom = true;
        return;
    }
    for (char **a = argv; a && *a; a++)
        arg(b, "%s", *a);
    eng_argv_free(argv);
}

/* The KV-cache dtype flag(s) as the engine module spells the value for engine k (nothing when
 * the engine's default is that dtype). */
static void kv_dtype(builder *b, const plan_export_slice *s, eng_kind k, const char *flag,
                     const char *flag2)
{
    const plan_fp_opts *o = opts(s);
    const char *v = o ? eng_kv_dtype_value(k, plan_dtype_name(o->kv_dtype)) : NULL;
    if (!v) return;
    arg(b, "%s", flag);
    arg(b, "%s", v);
    if (flag2) {
        arg(b, "%s", flag2);
        arg(b, "%s", v);
    }
}

/* The flags vLLM and SGLang share in meaning: the name clients ask for, where to listen, and the
 * tensor-parallel degree under the engine's own flag name. */
static void name_listen_tp(builder *b, const plan_export_slice *s, const char *tp_flag)
{
    arg(b, "--served-model-name");
    arg(b, "%s", s->pl->model);
    arg(b, "--host");
    arg(b, "0.0.0.0");
    arg(b, "--port");
    arg(b, "%u", s->port);
    arg(b, "%s", tp_flag);
    arg(b, "%d", s->pl->n_gpus);
}

static void vllm(builder *b, const plan_export_slice *s)
{
    plan_engine_cmd *c = b->c;
    c->image = "vllm/vllm-openai:latest";
    if (pipelined(s) && s->pl->stage > 0) {
        arg(b, "ray");
        arg(b, "start");
        arg(b, "--block");
        arg(b, "--address=%s:%d", s->head_node, RAY_PORT);
        c->comment = "a later pipeline stage: joins the Ray cluster of stage 0's node";
        return;
    }
    arg(b, "vllm");
    arg(b, "serve");
    arg(b, "%s", s->source);
    name_listen_tp(b, s, "--tensor-parallel-size");
    if (pipelined(s)) {
        arg(b, "--pipeline-parallel-size");
        arg(b, "%d", s->pl->n_stages);
        arg(b, "--distributed-executor-backend");
        arg(b, "ray");
        c->comment = "stage 0 of a pipelined replica: start a Ray head on this node first "
                     "(ray start --head --port=6379)";
    }
    arg(b, "--gpu-memory-utilization");
    arg(b, "%.4f", s->fraction);
    const plan_fp_opts *o = opts(s);
    if (o) {
        arg(b, "--max-model-len");
        arg(b, "%llu", (unsigned long long)o->seq_len);
        arg(b, "--max-num-seqs");
        arg(b, "%llu", (unsigned long long)o->batch);
    }
    kv_dtype(b, s, ENG_VLLM, "--kv-cache-dtype", NULL);
    workload(b, s, ENG_VLLM);
    c->health_path = "/health";
    engine_args(b, s);
}

static void sglang(builder *b, const plan_export_slice *s)
{
    plan_engine_cmd *c = b->c;
    c->image = "lmsysorg/sglang:latest";
    arg(b, "python3");
    arg(b, "-m");
    arg(b, "sglang.launch_server");
    arg(b, "--model-path");
    arg(b, "%s", s->source);
    name_listen_tp(b, s, "--tp-size");
    if (pipelined(s)) {
        arg(b, "--pp-size");
        arg(b, "%d", s->pl->n_stages);
        arg(b, "--nnodes");
        arg(b, "%d", s->pl->n_stages);
        arg(b, "--node-rank");
        arg(b, "%d", s->pl->stage);
        arg(b, "--dist-init-addr");
        arg(b, "%s:%d", s->head_node, SGLANG_DIST_PORT);
    }
    arg(b, "--mem-fraction-static");
    arg(b, "%.4f", s->fraction);
    const plan_fp_opts *o = opts(s);
    if (o) {
        arg(b, "--context-length");
        arg(b, "%llu", (unsigned long long)o->seq_len);
        arg(b, "--max-running-requests");
        arg(b, "%llu", (unsigned long long)o->batch);
    }
    kv_dtype(b, s, ENG_SGLANG, "--kv-cache-dtype", NULL);
    workload(b, s, ENG_SGLANG);
    c->health_path = pipelined(s) && s->pl->stage > 0 ? NULL : "/health";
    engine_args(b, s);
}

static void llamacpp(builder *b, const plan_export_slice *s)
{
    plan_engine_cmd *c = b->c;
    c->image = "ghcr.io/ggml-org/llama.cpp:server";
    arg(b, "llama-server");
    arg(b, "--model");
    arg(b, "%s", s->source);
    arg(b, "--alias");
    arg(b, "%s", s->pl->model);
    arg(b, "--host");
    arg(b, "0.0.0.0");
    arg(b, "--port");
    arg(b, "%u", s->port);
    arg(b, "--n-gpu-layers");
    arg(b, "999");
    const plan_fp_opts *o = opts(s);
    if (o) {
        /* llama.cpp's context is shared by its parallel slots: one full sequence each. */
        arg(b, "--ctx-size");
        arg(b, "%llu", (unsigned long long)(o->seq_len * o->batch));
        arg(b, "--parallel");
        arg(b, "%llu", (unsigned long long)o->batch);
    }
    kv_dtype(b, s, ENG_LLAMACPP, "--cache-type-k", "--cache-type-v");
    workload(b, s, ENG_LLAMACPP);
    c->health_path = "/health";
    engine_args(b, s);
}

static void builtin(builder *b, const plan_export_slice *s)
{
    b->c->image = "vrampack-worker:latest";
    arg(b, "vrampack-worker");
    arg(b, "--slice-bytes");
    arg(b, "%llu", (unsigned long long)s->pl->bytes_per_gpu);
    arg(b, "--backend");
    arg(b, "cuda");
}

/* One template argument with its placeholders (engine.h) filled. */
static void template_arg(builder *b, const plan_export_slice *s, const char *t)
{
    const plan_fp_opts *o = opts(s);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f) {
        b->oom = true;
        return;
    }
    for (const char *p = t; *p;) {
        size_t n = eng_placeholder_at(p);
        if (!n) {
            fputc(*p++, f);
            continue;
        }
#define KEY(k) (n == sizeof(k) + 1 && !memcmp(p + 1, k, sizeof(k) - 1))
        if (KEY("model"))
            fputs(s->pl->model, f);
        else if (KEY("id"))
            fputs(s->pl->id, f);
        else if (KEY("replica"))
            fprintf(f, "%u", s->pl->replica);
        else if (KEY("source"))
            fputs(s->source, f);
        else if (KEY("tp"))
            fprintf(f, "%d", s->pl->n_gpus);
        else if (KEY("pp"))
            fprintf(f, "%d", s->pl->n_stages > 0 ? s->pl->n_stages : 1);
        else if (KEY("max_seq_len"))
            fprintf(f, "%llu", o ? (unsigned long long)o->seq_len : 0ULL);
        else if (KEY("max_batch"))
            fprintf(f, "%llu", o ? (unsigned long long)o->batch : 0ULL);
        else if (KEY("kv_dtype"))
            fputs(o ? plan_dtype_name(o->kv_dtype) : "", f);
        else if (KEY("kv_bytes"))
            fprintf(f, "%llu",
                    (unsigned long long)plan_kv_bytes_per_gpu(
                        s->model, (uint32_t)s->pl->n_gpus,
                        s->pl->n_stages > 0 ? (uint32_t)s->pl->n_stages : 1));
        else if (KEY("bytes"))
            fprintf(f, "%llu", (unsigned long long)s->pl->bytes_per_gpu);
        else if (KEY("fraction"))
            fprintf(f, "%.4f", s->fraction);
        else if (KEY("port"))
            fprintf(f, "%u", s->port);
        else if (KEY("max_loras") || KEY("max_lora_rank") || KEY("draft") || KEY("spec_tokens")) {
            /* The engine module's expansion, from the same workload fields as the agent's. */
            eng_launch l;
            char ver[32], key[24];
            workload_launch(s, ENG_COMMAND, &l, ver, sizeof ver);
            snprintf(key, sizeof key, "%.*s", (int)n, p);
            char *v = eng_expand(key, &l);
            if (!v) b->oom = true;
            fputs(v ? v : "", f);
            free(v);
        } else
            fwrite(p, 1, n, f); /* unknown ones were refused when the manifest was read */
#undef KEY
        p += n;
    }
    if (fclose(f) || !out) {
        free(out);
        b->oom = true;
        return;
    }
    arg(b, "%s", out);
    free(out);
}

static void command(builder *b, const plan_export_slice *s)
{
    b->c->image = "vrampack-worker:latest";
    for (char **t = s->model ? s->model->worker_cmd : NULL; t && *t; t++)
        template_arg(b, s, *t);
    engine_args(b, s);
}

int plan_export_engine_cmd(const plan_export_slice *s, eng_kind k, plan_engine_cmd *out, vp_err *e)
{
    memset(out, 0, sizeof *out);
    builder b = {out, false, false};
    const char *id = s->pl->id;
    if ((k == ENG_VLLM || k == ENG_SGLANG) && !s->gpu_memory_bytes)
        return vp_errf(e, VP_EINPUT,
                       "%s: the physical memory of its GPUs is unknown, so %s's memory share "
                       "cannot be set",
                       id, eng_name(k));
    if ((k == ENG_VLLM || k == ENG_SGLANG) && !(s->fraction > 0))
        return vp_errf(e, VP_EINPUT,
                       "%s: its %llu bytes are under 1/10000 of its GPU, below what %s's memory "
                       "share can express",
                       id, (unsigned long long)s->pl->bytes_per_gpu, eng_name(k));
    if (k == ENG_LLAMACPP && pipelined(s))
        return vp_errf(e, VP_EINPUT,
                       "%s: llama.cpp runs a replica on one node; this one is "
                       "pipelined over %d nodes",
                       id, s->pl->n_stages);
    if (k == ENG_COMMAND && !(s->model && s->model->worker_cmd))
        return vp_errf(e, VP_EINPUT, "%s: engine \"command\" needs the manifest's worker.command",
                       id);
    if (s->model && s->model->draft && !s->model->draft_source[0]) {
        size_t n = 0;
        while (k == ENG_COMMAND && s->model->worker_cmd[n])
            n++;
        eng_launch l = {
            .kind = k, .command = (const char *const *)s->model->worker_cmd, .n_command = n};
        if (eng_loads_draft(&l))
            return vp_errf(e, VP_EINPUT,
                           "%s: speculative.source: %s loads the draft model; give its "
                           "repository id or path",
                           id, eng_name(k));
    }
    switch (k) {
    case ENG_VLLM:
        vllm(&b, s);
        break;
    case ENG_SGLANG:
        sglang(&b, s);
        break;
    case ENG_LLAMACPP:
        llamacpp(&b, s);
        break;
    case ENG_COMMAND:
        command(&b, s);
        break;
    default:
        builtin(&b, s);
        break;
    }
    if (b.oom) {
        plan_engine_cmd_free(out);
        return vp_errf(e, -ENOMEM, "%s: out of memory", id);
    }
    if (b.full) {
        plan_engine_cmd_free(out);
        return vp_errf(e, VP_EINPUT, "%s: more than %d engine arguments", id, PLAN_EXPORT_MAX_ARGS);
    }
    return 0;
}
