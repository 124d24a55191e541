/* engine.c - engine names, command-template placeholders and the launch-profile table (see
 * engine.h).
 *
 * The table below is the one place that knows an engine's command line. Each profile lists its
 * arguments in order with the condition under which each is passed; eng_argv walks it once. The
 * slice becomes the engine's own memory flag: vLLM takes the KV-cache bytes the plan gave the
 * replica where the installed version accepts --kv-cache-memory-bytes (the agent probes the
 * version), else the slice as a fraction of the GPU, rounded down; SGLang takes the fraction as
 * --mem-fraction-static; llama.cpp sizes its KV cache through -c (the context of all -np slots)
 * and offloads every layer. Values are templates over the same placeholders as a manifest's
 * worker.command, so a profile reads like the command line it produces. */
#include "engine.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const names[ENG_COUNT] = {
    [ENG_BUILTIN] = "builtin",    [ENG_VLLM] = "vllm",       [ENG_SGLANG] = "sglang",
    [ENG_LLAMACPP] = "llama.cpp", [ENG_COMMAND] = "command",
};

int eng_parse(const char *name, eng_kind *out)
{
    if (!name) return VP_ENOTFOUND;
    for (int k = 0; k < ENG_COUNT; k++)
        if (!strcasecmp(name, names[k])) {
            *out = (eng_kind)k;
            return 0;
        }
    if (!strcasecmp(name, "llamacpp") || !strcasecmp(name, "llama-cpp")) {
        *out = ENG_LLAMACPP;
        return 0;
    }
    return VP_ENOTFOUND;
}

const char *eng_name(eng_kind k)
{
    return (unsigned)k < ENG_COUNT ? names[k] : "?";
}

const char *eng_names_list(void)
{
    return "builtin, vllm, sglang, llama.cpp, command";
}

bool eng_placeholder_known(const char *name, size_t len)
{
    static const char *const known[] = {
        "model",       "id",        "replica",       "source",   "tp",         "pp",
        "max_seq_len", "max_batch", "kv_dtype",      "kv_bytes", "bytes",      "fraction",
        "port",        "max_loras", "max_lora_rank", "draft",    "spec_tokens"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i]) == len && !memcmp(known[i], name, len)) return true;
    return false;
}

size_t eng_placeholder_at(const char *p)
{
    if (*p != '{') return 0;
    size_t n = 1;
    while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= '0' && p[n] <= '9') || p[n] == '_')
        n++;
    return n > 1 && p[n] == '}' ? n + 1 : 0;
}

int eng_template_check(const char *arg, vp_err *e)
{
    for (const char *p = strchr(arg, '{'); p; p = strchr(p + 1, '{')) {
        size_t n = eng_placeholder_at(p);
        if (n && !eng_placeholder_known(p + 1, n - 2))
            return vp_errf(e, VP_EINPUT, "unknown placeholder %.*s (known: %s)", (int)n, p,
                           ENG_PLACEHOLDERS);
    }
    return 0;
}

/* ---- the profiles ---------------------------------------------------------------------------- */

#define HOST_ANY "0.0.0.0" /* routers reach engines from other hosts; the agent probes loopback */

static const eng_arg builtin_args[] = {
    {ENG_ALWAYS, "--slice-bytes", "{slice_bytes}"},
    {ENG_ALWAYS, "--backend", "{backend}"},
};

static const eng_arg vllm_args[] = {
    {ENG_ALWAYS, "serve", NULL},
    {ENG_ALWAYS, NULL, "{source}"},
    {ENG_ALWAYS, "--host", HOST_ANY},
    {ENG_ALWAYS, "--port", "{port}"},
    {ENG_ALWAYS, "--tensor-parallel-size", "{tp}"},
    {ENG_ALWAYS, "--max-model-len", "{max_seq_len}"},
    {ENG_ALWAYS, "--max-num-seqs", "{max_batch}"},
    {ENG_IF_KV_BYTES, "--kv-cache-memory-bytes", "{kv_bytes}"},
    {ENG_IF_FRACTION, "--gpu-memory-utilization", "{fraction}"},
    {ENG_IF_KV_DTYPE, "--kv-cache-dtype", "{engine_kv_dtype}"},
    {ENG_IF_LORA, "--enable-lora", NULL},
    {ENG_IF_LORA, "--max-loras", "{max_loras}"},
    {ENG_IF_LORA, "--max-lora-rank", "{max_lora_rank}"},
    {ENG_IF_SPEC_CONFIG, "--speculative-config", "{speculative_config}"},
    {ENG_IF_SPEC_LEGACY, "--speculative-model", "{draft}"},
    {ENG_IF_SPEC_LEGACY, "--num-speculative-tokens", "{spec_tokens}"},
};
static const eng_kv_name vllm_kv[] = {{"fp16", NULL}, {"bf16", NULL}, {"fp8", "fp8"}};

static const eng_arg sglang_args[] = {
    {ENG_ALWAYS, "-m", "sglang.launch_server"},
    {ENG_ALWAYS, "--model-path", "{source}"},
    {ENG_ALWAYS, "--host", HOST_ANY},
    {ENG_ALWAYS, "--port", "{port}"},
    {ENG_ALWAYS, "--tp-size", "{tp}"},
    {ENG_ALWAYS, "--context-length", "{max_seq_len}"},
    {ENG_ALWAYS, "--max-running-requests", "{max_batch}"},
    {ENG_ALWAYS, "--mem-fraction-static", "{fraction}"},
    {ENG_IF_KV_DTYPE, "--kv-cache-dtype", "{engine_kv_dtype}"},
};
static const eng_kv_name sglang_kv[] = {{"fp16", NULL}, {"bf16", NULL}, {"fp8", "fp8_e4m3"}};

static const eng_arg llamacpp_args[] = {
    {ENG_IF_SOURCE_FILE, "-m", "{source}"},
    {ENG_IF_SOURCE_REPO, "-hf", "{source}"},
    {ENG_ALWAYS, "--host", HOST_ANY},
    {ENG_ALWAYS, "--port", "{port}"},
    {ENG_ALWAYS, "-c", "{context}"}, /* shared by the -np slots: each gets max_seq_len */
    {ENG_ALWAYS, "-np", "{max_batch}"},
    {ENG_ALWAYS, "-ngl", "999"}, /* every layer on the GPU: the slice holds them all */
    {ENG_IF_KV_DTYPE, "--cache-type-k", "{engine_kv_dtype}"},
    {ENG_IF_KV_DTYPE, "--cache-type-v", "{engine_kv_dtype}"},
};
static const eng_kv_name llamacpp_kv[] = {
    {"fp16", NULL}, {"fp32", "f32"}, {"bf16", "bf16"}, {"q8_0", "q8_0"}, {"q4_0", "q4_0"}};

#define ARGS(a) a, VP_ARRAY_LEN(a)

static const eng_profile profiles[ENG_COUNT] = {
    [ENG_BUILTIN] = {.kind = ENG_BUILTIN,
                     .binary = NULL,
                     .args = ARGS(builtin_args),
                     .health_path = NULL,
                     .ready_timeout_s = 300,
                     .stop_signal = SIGTERM,
                     .stop_grace_s = 10,
                     .pipeline_nodes = true},
    [ENG_VLLM] = {.kind = ENG_VLLM,
                  .binary = "vllm",
                  .args = ARGS(vllm_args),
                  .kv = ARGS(vllm_kv),
                  .health_path = "/health",
                  .ready_timeout_s = 900,
                  .stop_signal = SIGTERM,
                  .stop_grace_s = 30,
                  .version_arg = "--version",
                  .kv_bytes_since = "0.11.0",
                  .spec_config_since = "0.8.0",
                  .needs_port = true,
                  .adoptable = true},
    [ENG_SGLANG] = {.kind = ENG_SGLANG,
                    .binary = "python3",
                    .args = ARGS(sglang_args),
                    .kv = ARGS(sglang_kv),
                    .health_path = "/health",
                    .ready_timeout_s = 900,
                    .stop_signal = SIGTERM,
                    .stop_grace_s = 30,
                    .needs_port = true,
                    .adoptable = true},
    [ENG_LLAMACPP] = {.kind = ENG_LLAMACPP,
                      .binary = "llama-server",
                      .args = ARGS(llamacpp_args),
                      .kv = ARGS(llamacpp_kv),
                      .health_path = "/health",
                      .ready_timeout_s = 900,
                      .stop_signal = SIGTERM,
                      .stop_grace_s = 30,
                      .needs_port = true,
                      .adoptable = true},
    [ENG_COMMAND] = {.kind = ENG_COMMAND,
                     .binary = NULL,
                     .health_path = "/health", /* only when the template has a {port} */
                     .ready_timeout_s = 900,
                     .stop_signal = SIGTERM,
                     .stop_grace_s = 30,
                     .pipeline_nodes = true,
                     .adoptable = true},
};

const eng_profile *eng_profile_of(eng_kind k)
{
    return (unsigned)k < ENG_COUNT ? &profiles[k] : NULL;
}

/* ---- expansion ------------------------------------------------------------------------------ */

void eng_fraction(uint64_t bytes, uint64_t gpu_bytes, char *out, size_t cap)
{
    uint64_t t = 0;
    if (gpu_bytes && vp_muldiv_floor_u64(bytes, 10000, gpu_bytes, &t)) t = 10000;
    if (t > 10000) t = 10000;
    if (t == 0) t = 1;
    snprintf(out, cap, "%llu.%04llu", (unsigned long long)(t / 10000),
             (unsigned long long)(t % 10000));
}

static const char *kv_name(const eng_launch *l)
{
    return l->kv_dtype && *l->kv_dtype ? l->kv_dtype : "fp16";
}

static const char *source_of(const eng_launch *l)
{
    return l->source && *l->source ? l->source : l->model ? l->model : "";
}

/* The engine's name for the KV dtype: *found false when the engine cannot store it; *value NULL
 * when it is the engine's default. */
static void engine_kv(const eng_profile *p, const eng_launch *l, bool *found, const char **value)
{
    *found = p->kv == NULL;
    *value = p->kv ? NULL : kv_name(l);
    for (size_t i = 0; p->kv && i < p->n_kv; i++)
        if (!strcasecmp(p->kv[i].dtype, kv_name(l))) {
            *found = true;
            *value = p->kv[i].value;
        }
}

const char *eng_kv_dtype_value(eng_kind k, const char *kv_dtype)
{
    if ((unsigned)k >= ENG_COUNT) return NULL;
    eng_launch l = {.kind = k, .kv_dtype = kv_dtype};
    bool found;
    const char *v;
    engine_kv(&profiles[k], &l, &found, &v);
    return found && profiles[k].kv ? v : NULL;
}

static bool source_is_file(const char *s)
{
    size_t n = strlen(s);
    return s[0] == '/' || !strncmp(s, "./", 2) || !strncmp(s, "../", 3) ||
           (n > 5 && !strcasecmp(s + n - 5, ".gguf"));
}

static uint32_t spec_tokens(const eng_launch *l)
{
    return l->spec_tokens ? l->spec_tokens : 5;
}

/* {"model": "<draft>", "num_speculative_tokens": N}, the draft's name escaped as a JSON string. */
static void spec_config(vp_sb *sb, const eng_launch *l)
{
    vp_sb_printf(sb, "{\"model\": \"");
    for (const char *c = l->draft ? l->draft : ""; *c; c++) {
        if (*c == '"' || *c == '\\')
            vp_sb_printf(sb, "\\%c", *c);
        else if ((unsigned char)*c < 0x20)
            vp_sb_printf(sb, "\\u%04x", (unsigned)(unsigned char)*c);
        else
            vp_sb_append(sb, c, 1);
    }
    vp_sb_printf(sb, "\", \"num_speculative_tokens\": %u}", spec_tokens(l));
}

char *eng_expand(const char *tmpl, const eng_launch *l)
{
    const eng_profile *p = eng_profile_of(l->kind);
    vp_sb sb = {0};
    for (const char *s = tmpl; *s;) {
        size_t n = eng_placeholder_at(s);
        if (!n) {
            const char *next = strchr(s + 1, '{');
            size_t len = next ? (size_t)(next - s) : strlen(s);
            vp_sb_append(&sb, s, len);
            s += len;
            continue;
        }
        const char *k = s + 1;
        size_t klen = n - 2;
#define KEY(name) (klen == sizeof(name) - 1 && !memcmp(k, name, klen))
        if (KEY("model"))
            vp_sb_printf(&sb, "%s", l->model ? l->model : "");
        else if (KEY("id"))
            vp_sb_printf(&sb, "%s", l->id ? l->id : "");
        else if (KEY("source"))
            vp_sb_printf(&sb, "%s", source_of(l));
        else if (KEY("replica"))
            vp_sb_printf(&sb, "%u", l->replica);
        else if (KEY("tp"))
            vp_sb_printf(&sb, "%u", l->tp ? l->tp : 1);
        else if (KEY("pp"))
            vp_sb_printf(&sb, "%u", l->pp ? l->pp : 1);
        else if (KEY("stage"))
            vp_sb_printf(&sb, "%u", l->stage);
        else if (KEY("max_seq_len"))
            vp_sb_printf(&sb, "%llu", (unsigned long long)l->max_seq_len);
        else if (KEY("max_batch"))
            vp_sb_printf(&sb, "%llu", (unsigned long long)l->max_batch);
        else if (KEY("context")) {
            uint64_t ctx = 0;
            if (vp_mul_u64(l->max_seq_len, l->max_batch ? l->max_batch : 1, &ctx)) ctx = UINT64_MAX;
            vp_sb_printf(&sb, "%llu", (unsigned long long)ctx);
        } else if (KEY("kv_dtype"))
            vp_sb_printf(&sb, "%s", kv_name(l));
        else if (KEY("engine_kv_dtype")) {
            bool found;
            const char *v;
            engine_kv(p ? p : &profiles[ENG_COMMAND], l, &found, &v);
            vp_sb_printf(&sb, "%s", v ? v : kv_name(l));
        } else if (KEY("kv_bytes"))
            vp_sb_printf(&sb, "%llu", (unsigned long long)l->kv_bytes);
        else if (KEY("bytes"))
            vp_sb_printf(&sb, "%llu", (unsigned long long)l->bytes);
        else if (KEY("slice_bytes"))
            vp_sb_printf(&sb, "%llu",
                         (unsigned long long)(l->slice_bytes ? l->slice_bytes : l->bytes));
        else if (KEY("backend"))
            vp_sb_printf(&sb, "%s", l->backend ? l->backend : "cuda");
        else if (KEY("port"))
            vp_sb_printf(&sb, "%u", l->port);
        else if (KEY("max_loras"))
            vp_sb_printf(&sb, "%u", l->max_loras);
        else if (KEY("max_lora_rank"))
            vp_sb_printf(&sb, "%u", l->max_lora_rank);
        else if (KEY("draft"))
            vp_sb_printf(&sb, "%s", l->draft ? l->draft : "");
        else if (KEY("spec_tokens"))
            vp_sb_printf(&sb, "%u", spec_tokens(l));
        else if (KEY("speculative_config"))
            spec_config(&sb, l);
        else if (KEY("fraction")) {
            char f[32];
            eng_fraction(l->bytes, l->gpu_bytes, f, sizeof f);
            vp_sb_printf(&sb, "%s", f);
        } else
            vp_sb_append(&sb, s, n);
#undef KEY
        s += n;
    }
    if (!vp_sb_ok(&sb)) {
        vp_sb_free(&sb);
        return NULL;
    }
    if (!sb.buf) return calloc(1, 1);
    return vp_sb_steal(&sb);
}

static bool template_has(const eng_launch *l, const char *token)
{
    for (size_t i = 0; i < l->n_command; i++)
        if (l->command[i] && strstr(l->command[i], token)) return true;
    return false;
}

const char *eng_health_path(const eng_launch *l)
{
    const eng_profile *p = eng_profile_of(l->kind);
    if (!p) return NULL;
    if (l->kind == ENG_COMMAND) return template_has(l, "{port}") ? p->health_path : NULL;
    return p->health_path;
}

static bool needs_port(const eng_launch *l)
{
    const eng_profile *p = eng_profile_of(l->kind);
    return l->kind == ENG_COMMAND ? template_has(l, "{port}") : p && p->needs_port;
}

int eng_check(const eng_launch *l, vp_err *e)
{
    const eng_profile *p = eng_profile_of(l->kind);
    if (!p) return vp_errf(e, VP_EINPUT, "unknown engine %d", (int)l->kind);
    const char *en = eng_name(l->kind);
    if (l->kind == ENG_COMMAND &&
        (!l->command || l->n_command == 0 || !l->command[0] || !l->command[0][0]))
        return vp_errf(e, VP_EINPUT, "engine command: worker.command is empty");
    if ((l->pp > 1) && !p->pipeline_nodes)
        return vp_errf(e, VP_EINPUT,
                       "%s runs a whole replica on one node; it cannot run one of %u pipeline "
                       "stages per node (set pipeline_parallel to 1)",
                       en, l->pp);
    bool found;
    const char *v;
    engine_kv(p, l, &found, &v);
    if (!found) {
        vp_sb sb = {0};
        for (size_t i = 0; i < p->n_kv; i++)
            vp_sb_printf(&sb, "%s%s", i ? ", " : "", p->kv[i].dtype);
        int rc = vp_errf(e, VP_EINPUT, "%s cannot store its KV cache as %s (kv_dtype: use %s)", en,
                         kv_name(l), vp_sb_ok(&sb) ? vp_sb_str(&sb) : "another");
        vp_sb_free(&sb);
        return rc;
    }
    return 0;
}

static bool when_holds(const eng_profile *p, const eng_launch *l, eng_when w)
{
    bool kv_bytes = l->kv_bytes_flag && l->kv_bytes > 0 && p->kv_bytes_since;
    bool found;
    const char *v;
    switch (w) {
    case ENG_ALWAYS:
        return true;
    case ENG_IF_KV_BYTES:
        return kv_bytes;
    case ENG_IF_FRACTION:
        return !kv_bytes;
    case ENG_IF_KV_DTYPE:
        engine_kv(p, l, &found, &v);
        return found && v != NULL;
    case ENG_IF_SOURCE_FILE:
        return source_is_file(source_of(l));
    case ENG_IF_SOURCE_REPO:
        return !source_is_file(source_of(l));
    case ENG_IF_LORA:
        return l->max_loras > 0;
    case ENG_IF_SPEC_CONFIG:
    case ENG_IF_SPEC_LEGACY: {
        bool legacy = p->spec_config_since && l->version && *l->version &&
                      eng_version_cmp(l->version, p->spec_config_since) < 0;
        return l->draft && *l->draft && (w == ENG_IF_SPEC_LEGACY) == legacy;
    }
    }
    return false;
}

void eng_argv_free(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

static bool workload_when(eng_when w)
{
    return w == ENG_IF_LORA || w == ENG_IF_SPEC_CONFIG || w == ENG_IF_SPEC_LEGACY;
}

bool eng_loads_draft(const eng_launch *l)
{
    const eng_profile *p = eng_profile_of(l->kind);
    if (!p) return false;
    if (l->kind == ENG_COMMAND) return template_has(l, "{draft}");
    for (size_t i = 0; i < p->n_args; i++)
        if (p->args[i].when == ENG_IF_SPEC_CONFIG || p->args[i].when == ENG_IF_SPEC_LEGACY)
            return true;
    return false;
}

/* The profile's arguments whose condition holds into argv[*n..] (only the workload ones when
 * `workload`): 0 or -ENOMEM. */
static int profile_args(const eng_profile *p, const eng_launch *l, bool workload, char **argv,
                        size_t *n)
{
    for (size_t i = 0; i < p->n_args; i++) {
        const eng_arg *a = &p->args[i];
        if ((workload && !workload_when(a->when)) || !when_holds(p, l, a->when)) continue;
        if (a->flag && !(argv[(*n)++] = strdup(a->flag))) return -ENOMEM;
        if (a->value && !(argv[(*n)++] = eng_expand(a->value, l))) return -ENOMEM;
    }
    return 0;
}

int eng_argv_workload(const eng_launch *l, char ***out, vp_err *e)
{
    *out = NULL;
    const eng_profile *p = eng_profile_of(l->kind);
    if (!p) return vp_errf(e, VP_EINPUT, "unknown engine %d", (int)l->kind);
    size_t n = 0;
    char **argv = calloc(2 * p->n_args + 1, sizeof *argv);
    if (!argv || profile_args(p, l, true, argv, &n)) {
        eng_argv_free(argv);
        return vp_errf(e, -ENOMEM, "out of memory");
    }
    *out = argv;
    return 0;
}

int eng_argv(const eng_launch *l, char ***out, vp_err *e)
{
    *out = NULL;
    int rc = eng_check(l, e);
    if (rc) return rc;
    const eng_profile *p = eng_profile_of(l->kind);
    if (needs_port(l) && !l->port)
        return vp_errf(e, VP_EINPUT, "%s serves on a port and none was given", eng_name(l->kind));
    size_t cap = 1 + 2 * p->n_args + l->n_engine_args + l->n_command + 1, n = 0;
    char **argv = calloc(cap, sizeof *argv);
    if (!argv) return vp_errf(e, -ENOMEM, "out of memory");
    if (l->kind == ENG_COMMAND) {
        for (size_t i = 0; i < l->n_command; i++)
            if (!(argv[n++] = eng_expand(l->command[i], l))) goto oom;
    } else {
        const char *bin = l->binary && *l->binary ? l->binary
                          : p->binary             ? p->binary
                                                  : "vrampack-worker";
        if (!(argv[n++] = strdup(bin))) goto oom;
        if (profile_args(p, l, false, argv, &n)) goto oom;
    }
    for (size_t i = 0; i < l->n_engine_args; i++)
        if (!(argv[n++] = strdup(l->engine_args[i]))) goto oom;
    argv[n] = NULL;
    *out = argv;
    return 0;
oom:
    eng_argv_free(argv);
    return vp_errf(e, -ENOMEM, "out of memory");
}

/* ---- revisions and versions ----------------------------------------------------------------- */

typedef struct fnv {
    uint64_t h;
} fnv;

static void fnv_bytes(fnv *f, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        f->h ^= b[i];
        f->h *= 1099511628211ull;
    }
}

/* Strings end with a 0xff byte (never inside UTF-8 text), so ("ab","c") != ("a","bc"). */
static void fnv_str(fnv *f, const char *s)
{
    static const unsigned char end = 0xff;
    if (s) fnv_bytes(f, s, strlen(s));
    fnv_bytes(f, &end, 1);
}

static void fnv_u64(fnv *f, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    fnv_bytes(f, b, 8);
}

void eng_revision(const eng_launch *l, const uint8_t *gpus, int n_gpus, char *out, size_t cap)
{
    fnv f = {1469598103934665603ull};
    fnv_str(&f, eng_name(l->kind));
    fnv_str(&f, source_of(l));
    const uint64_t nums[] = {l->tp,
                             l->pp,
                             l->stage,
                             l->max_seq_len,
                             l->max_batch,
                             l->kv_bytes,
                             l->bytes,
                             l->gpu_bytes,
                             l->n_engine_args,
                             l->n_command,
                             (uint64_t)(n_gpus < 0 ? 0 : n_gpus)};
    for (size_t i = 0; i < VP_ARRAY_LEN(nums); i++)
        fnv_u64(&f, nums[i]);
    fnv_str(&f, kv_name(l));
    for (size_t i = 0; i < l->n_engine_args; i++)
        fnv_str(&f, l->engine_args[i]);
    for (size_t i = 0; i < l->n_command; i++)
        fnv_str(&f, l->command[i]);
    if (n_gpus > 0) fnv_bytes(&f, gpus, (size_t)n_gpus);
    /* Hashed only when set, so a plain replica keeps the revision it always had. */
    if (l->max_loras || l->max_lora_rank) {
        fnv_u64(&f, l->max_loras);
        fnv_u64(&f, l->max_lora_rank);
    }
    if (l->draft && *l->draft) {
        fnv_str(&f, l->draft);
        fnv_u64(&f, spec_tokens(l));
    }
    snprintf(out, cap, "%016llx", (unsigned long long)f.h);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int eng_version_find(const char *text, char *out, size_t cap)
{
    const char *best = NULL;
    size_t best_len = 0;
    for (const char *p = text; p && *p; p++) {
        if (!is_digit(*p) || (p > text && (is_digit(p[-1]) || p[-1] == '.'))) continue;
        const char *q = p;
        int dots = 0;
        for (;;) {
            while (is_digit(*q))
                q++;
            if (*q != '.' || !is_digit(q[1])) break;
            dots++;
            q++;
        }
        if (dots >= 1) {
            best = p;
            best_len = (size_t)(q - p);
        }
        p = q - 1;
    }
    if (!best || best_len >= cap) return VP_ENOTFOUND;
    memcpy(out, best, best_len);
    out[best_len] = '\0';
    return 0;
}

int eng_version_cmp(const char *a, const char *b)
{
    for (int part = 0; part < 8; part++) {
        unsigned long x = 0, y = 0;
        while (is_digit(*a))
            x = x * 10 + (unsigned long)(*a++ - '0');
        while (is_digit(*b))
            y = y * 10 + (unsigned long)(*b++ - '0');
        if (x != y) return x < y ? -1 : 1;
        bool ma = *a == '.' && is_digit(a[1]), mb = *b == '.' && is_digit(b[1]);
        if (!ma && !mb) return 0;
        if (ma) a++;
        if (mb) b++;
    }
    return 0;
}
