/* worker_main.c - vrampack-worker: takes one VRAM slice (or host memory on the CPU backend), lays
 * a decoder model out in it, and runs decode steps, reporting JSON lines on stdout.
 *
 * Design. The agent starts the worker and reads its stdout: one {"event":"ready",...} line once
 * the slice is taken, measured (a device-to-device copy inside the slice) and filled, then a
 * {"event":"stats",...} line every --stats-ms, and {"event":"stopped"} after SIGTERM/SIGINT, which
 * end the loop only between steps (exit 0). Every line is flushed as written. A bad command line
 * is one line on stderr and exit 2; a shape that does not fit the slice is also exit 2 and is
 * found before any memory is taken; a failure at run time (no device, out of memory) is an
 * {"event":"error"} line, one line on stderr and exit 1. Rates (tokens_per_s, gbs) are per second
 * of decode work: on the CPU backend the worker sleeps between steps so it stays light (duty, by
 * default 10% of one core) and the stats line says how busy it was.
 *
 * Memory. --slice-bytes is the most device memory the worker may hold (the agent passes the
 * planned bytes per GPU, which already count the CUDA context). On CUDA the worker creates the
 * context, loads every kernel, measures what it then holds (NVML's per-process count, as
 * nvidia-smi shows it) and allocates the rest less KERN_CUDA_HEADROOM; the ready line reports the
 * budget (slice_bytes), the allocation (alloc_bytes), the context and how it was measured, and the
 * ready and stats lines carry device_bytes, the driver's count, when it is known. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kern.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

typedef struct opts {
    uint64_t slice_bytes;
    kern_backend_req backend;
    kern_shape shape; /* zero fields: filled to fit the slice */
    uint32_t batch, context, stats_ms, cpu_duty;
    uint64_t seed;
} opts;

static const char usage[] =
    "usage: vrampack-worker --slice-bytes N [--backend auto|cuda|cpu] [--dtype fp16|bf16|int4]\n"
    "         [--layers N] [--hidden N] [--intermediate N] [--heads N] [--kv-heads N]\n"
    "         [--head-dim N] [--vocab N] [--batch N] [--context N] [--stats-ms N]\n"
    "         [--cpu-duty PCT] [--seed N]\n"
    "Holds at most N bytes: on the CPU one allocation of N bytes; on CUDA the context (measured\n"
    "after every kernel is loaded), 32 MiB of headroom and one allocation of the rest. It lays a\n"
    "decoder model out in that slice (shape fields not given are chosen to fill it: weights\n"
    "~60%, then a paged KV pool and scratch) and\n"
    "runs decode steps, printing JSON lines: ready, then stats every --stats-ms (default 1000),\n"
    "then stopped on SIGTERM/SIGINT. Defaults: --backend auto, --dtype fp16, --batch 1,\n"
    "--context 1024, --cpu-duty 10 (percent of one core the CPU backend may use).\n";

static int die_usage(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "vrampack-worker: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, " (see --help)\n");
    return 2;
}

/* Strict decimal: digits only, no sign, within [lo, hi]. */
static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9') return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, opts *o)
{
    static const struct {
        const char *name;
        uint64_t lo, hi;
    } nums[] = {
        {"--slice-bytes", 1, UINT64_MAX}, {"--layers", 1, 1024},       {"--hidden", 128, 65536},
        {"--intermediate", 128, 262144},  {"--heads", 1, 1024},        {"--kv-heads", 1, 1024},
        {"--head-dim", 8, 256},           {"--vocab", 1, 1u << 24},    {"--batch", 1, 256},
        {"--context", 1, 1u << 20},       {"--stats-ms", 10, 3600000}, {"--cpu-duty", 1, 100},
        {"--seed", 0, UINT64_MAX},
    };
    memset(o, 0, sizeof *o);
    o->backend = KERN_REQ_AUTO;
    o->shape.dtype = KERN_FP16;
    o->batch = 1;
    o->context = 1024;
    o->stats_ms = 1000;
    o->cpu_duty = 10;
    o->seed = 1;
    int have_slice = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        char name[32];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(usage, stdout);
            exit(0);
        }
        if (strncmp(arg, "--", 2) != 0) return die_usage("unexpected argument \"%s\"%s", arg, "");
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        if (len >= sizeof name) return die_usage("unknown option \"%s\"%s", arg, "");
        memcpy(name, arg, len);
        name[len] = '\0';
        if (eq) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            return die_usage("option %s needs a value%s", name, "");
        }
        if (strcmp(name, "--backend") == 0) {
            if (kern_backend_parse(val, &o->backend))
                return die_usage("--backend: \"%s\" is not auto, cuda or cpu%s", val, "");
            continue;
        }
        if (strcmp(name, "--dtype") == 0) {
            if (kern_dtype_parse(val, &o->shape.dtype))
                return die_usage("--dtype: \"%s\" is not fp16, bf16 or int4%s", val, "");
            continue;
        }
        unsigned k;
        for (k = 0; k < VP_ARRAY_LEN(nums); k++)
            if (strcmp(name, nums[k].name) == 0) break;
        if (k == VP_ARRAY_LEN(nums)) return die_usage("unknown option \"%s\"%s", name, "");
        uint64_t v;
        if (parse_u64(val, nums[k].lo, nums[k].hi, &v)) {
            char range[64];
            snprintf(range, sizeof range, " (an integer in [%" PRIu64 ", %" PRIu64 "])", nums[k].lo,
                     nums[k].hi);
            fprintf(stderr, "vrampack-worker: %s: \"%s\" is not valid%s\n", name, val, range);
            return 2;
        }
        switch (k) {
        case 0:
            o->slice_bytes = v;
            have_slice = 1;
            break;
        case 1:
            o->shape.layers = (uint32_t)v;
            break;
        case 2:
            o->shape.hidden = (uint32_t)v;
            break;
        case 3:
            o->shape.intermediate = (uint32_t)v;
            break;
        case 4:
            o->shape.heads = (uint32_t)v;
            break;
        case 5:
            o->shape.kv_heads = (uint32_t)v;
            break;
        case 6:
            o->shape.head_dim = (uint32_t)v;
            break;
        case 7:
            o->shape.vocab = (uint32_t)v;
            break;
        case 8:
            o->batch = (uint32_t)v;
            break;
        case 9:
            o->context = (uint32_t)v;
            break;
        case 10:
            o->stats_ms = (uint32_t)v;
            break;
        case 11:
            o->cpu_duty = (uint32_t)v;
            break;
        default:
            o->seed = v;
            break;
        }
    }
    if (!have_slice) return die_usage("--slice-bytes is required%s%s", "", "");
    return 0;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Writes one JSON line and flushes it; a reader that went away ends the worker. */
static void emit(const char *line)
{
    if (fputs(line, stdout) == EOF || fputc('\n', stdout) == EOF || fflush(stdout) == EOF) {
        fprintf(stderr, "vrampack-worker: cannot write to stdout: %s\n", strerror(errno));
        exit(1);
    }
}

static void json_str(vp_sb *sb, const char *s)
{
    vp_sb_append(sb, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            vp_sb_printf(sb, "\\%c", c);
        else if (c < 0x20)
            vp_sb_printf(sb, "\\u%04x", c);
        else
            vp_sb_append(sb, (const char *)&c, 1);
    }
    vp_sb_append(sb, "\"", 1);
}

/* A run-time failure: an error event for the agent, one line for people, exit 1. */
static int fail(const vp_err *e, int rc)
{
    vp_sb sb = {0};
    vp_sb_printf(&sb, "{\"event\":\"error\",\"code\":");
    json_str(&sb, vp_strerror(rc));
    vp_sb_printf(&sb, ",\"message\":");
    json_str(&sb, e->msg);
    vp_sb_printf(&sb, "}");
    emit(vp_sb_ok(&sb) ? vp_sb_str(&sb) : "{\"event\":\"error\"}");
    vp_sb_free(&sb);
    fprintf(stderr, "vrampack-worker: %s\n", e->msg);
    return 1;
}

/* ,"device_bytes":N - what the driver says this process holds on the GPU - when it is known. */
static void device_bytes_field(vp_sb *sb, kern_slice *s)
{
    uint64_t used;
    if (kern_slice_backend(s) == KERN_BACKEND_CUDA && kern_slice_device_used(s, &used, NULL) == 0)
        vp_sb_printf(sb, ",\"device_bytes\":%" PRIu64, used);
}

static void sleep_ms(double ms)
{
    if (ms <= 0) return;
    struct timespec t = {(time_t)(ms / 1e3), (long)((ms - (double)(time_t)(ms / 1e3) * 1e3) * 1e6)};
    nanosleep(&t, NULL); /* a signal cuts it short, which is what we want */
}

int main(int argc, char **argv)
{
    opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* the shape and its layout are pure: refuse what cannot fit before taking any memory */
    vp_err e = {0};
    kern_shape shape = o.shape;
    kern_layout plan;
    rc = kern_shape_fill(&shape, o.slice_bytes, o.batch, o.context, &e);
    if (!rc) rc = kern_layout_plan(&shape, o.batch, o.context, o.slice_bytes, &plan, &e);
    if (rc) {
        fprintf(stderr, "vrampack-worker: %s\n", e.msg);
        return 2;
    }

    /* --slice-bytes bounds all the device memory the worker holds: on CUDA the slice is what is
     * left after the measured context and some headroom, and the shape is chosen (or checked)
     * again for that */
    kern_slice *s = NULL;
    kern_model *m = NULL;
    rc = kern_slice_open_budget(o.backend, o.slice_bytes, &s, &e);
    if (rc) return fail(&e, rc);
    const int cpu = kern_slice_backend(s) == KERN_BACKEND_CPU;
    kern_slice_mem mem;
    kern_slice_memory(s, &mem);
    if (mem.slice != o.slice_bytes) {
        shape = o.shape;
        rc = kern_shape_fill(&shape, mem.slice, o.batch, o.context, &e);
        if (!rc) rc = kern_layout_plan(&shape, o.batch, o.context, mem.slice, &plan, &e);
        if (rc) {
            vp_err why = e;
            vp_errf(&e, rc,
                    "%s (the %llu-byte budget leaves a %llu-byte slice after the CUDA context of "
                    "%llu bytes, %s, and %llu bytes of headroom)",
                    why.msg, (unsigned long long)mem.budget, (unsigned long long)mem.slice,
                    (unsigned long long)mem.context, mem.context_source,
                    (unsigned long long)mem.headroom);
            kern_slice_close(s);
            return fail(&e, rc);
        }
    }

    /* bandwidth probe in the KV pool's bytes, before the model fills them */
    double copy_gbs = 0;
    uint64_t n = plan.kv_bytes / 2u;
    if (n > ((uint64_t)256 << 20)) n = (uint64_t)256 << 20;
    n &= ~(uint64_t)(KERN_ALIGN - 1u);
    if (n > 0) {
        rc = kern_fill(s, plan.kv, KERN_FILL_BYTES, n, o.seed, 0.0f, &e);
        if (!rc) rc = kern_probe_copy(s, plan.kv + n, plan.kv, n, cpu ? 3u : 10u, &copy_gbs, &e);
        if (rc) {
            kern_slice_close(s);
            return fail(&e, rc);
        }
    }
    rc = kern_model_open(s, &shape, o.batch, o.context, o.seed, &m, &e);
    if (rc) {
        kern_slice_close(s);
        return fail(&e, rc);
    }
    const kern_layout *L = kern_model_layout(m);
    uint64_t step_bytes = kern_decode_bytes_per_step(&L->shape, o.batch, o.context);

    vp_sb sb = {0};
    vp_sb_printf(&sb, "{\"event\":\"ready\",\"backend\":\"%s\",\"device\":",
                 kern_backend_name(kern_slice_backend(s)));
    json_str(&sb, kern_slice_device(s));
    vp_sb_printf(&sb,
                 ",\"slice_bytes\":%" PRIu64 ",\"alloc_bytes\":%" PRIu64
                 ",\"context_bytes\":%" PRIu64 ",\"context_source\":\"%s\""
                 ",\"headroom_bytes\":%" PRIu64,
                 mem.budget, mem.slice, mem.context, mem.context_source, mem.headroom);
    device_bytes_field(&sb, s);
    vp_sb_printf(&sb,
                 ",\"bytes_used\":%" PRIu64
                 ",\"weights_bytes\":%" PRIu64 ",\"kv_bytes\":%" PRIu64
                 ",\"scratch_bytes\":%" PRIu64 ",\"kv_blocks\":%u,\"kv_block_tokens\":%u,"
                 "\"model\":{\"layers\":%u,\"hidden\":%u,\"intermediate\":%u,\"heads\":%u,"
                 "\"kv_heads\":%u,\"head_dim\":%u,\"vocab\":%u,\"dtype\":\"%s\"},"
                 "\"batch\":%u,\"context\":%u,\"copy_gbs\":%.3f,\"bytes_per_step\":%" PRIu64
                 ",\"predicted_step_ms\":%.4f,\"pid\":%ld}",
                 L->bytes_used, L->weights_bytes, L->kv_bytes, L->scratch_bytes,
                 L->kv_blocks, KERN_KV_BLOCK_TOKENS, L->shape.layers, L->shape.hidden,
                 L->shape.intermediate, L->shape.heads, L->shape.kv_heads, L->shape.head_dim,
                 L->shape.vocab, kern_dtype_name(L->shape.dtype), o.batch, o.context, copy_gbs,
                 step_bytes, copy_gbs > 0 ? (double)step_bytes / (copy_gbs * 1e6) : 0.0,
                 (long)getpid());
    emit(vp_sb_str(&sb));

    uint64_t steps = 0, iv_steps = 0, iv_bytes = 0;
    double iv_busy = 0, iv_start = now_ms(), next_stats = iv_start + o.stats_ms;
    while (!stop_requested) {
        double t0 = now_ms();
        uint64_t bytes = 0;
        rc = kern_model_step(m, &bytes, &e);
        if (rc) break;
        double busy = now_ms() - t0;
        steps++;
        iv_steps++;
        iv_bytes += bytes;
        iv_busy += busy;
        double t = now_ms();
        if (t >= next_stats) {
            double sec = iv_busy / 1e3;
            sb.len = 0;
            vp_sb_printf(
                &sb,
                "{\"event\":\"stats\",\"tokens_per_s\":%.3f,\"gbs\":%.3f,\"steps\":%" PRIu64
                ",\"step_ms\":%.3f,\"duty\":%.3f",
                sec > 0 ? (double)(iv_steps * o.batch) / sec : 0.0,
                sec > 0 ? (double)iv_bytes / sec / 1e9 : 0.0, steps,
                iv_steps ? iv_busy / (double)iv_steps : 0.0,
                t > iv_start ? iv_busy / (t - iv_start) : 0.0);
            device_bytes_field(&sb, s);
            vp_sb_printf(&sb, "}");
            emit(vp_sb_str(&sb));
            iv_steps = iv_bytes = 0;
            iv_busy = 0;
            iv_start = t;
            while (next_stats <= t)
                next_stats += o.stats_ms;
        }
        if (cpu && !stop_requested) {
            /* idle so the steps take cpu_duty percent of the time; the duty wins over the stats
             * period, so a slow step delays the next stats line rather than the idle time */
            double idle = busy * (100.0 - o.cpu_duty) / o.cpu_duty;
            sleep_ms(idle < 1.0 ? 1.0 : idle);
        }
    }
    vp_sb_free(&sb);
    kern_model_close(m);
    if (rc) {
        int code = fail(&e, rc);
        kern_slice_close(s);
        return code;
    }
    kern_slice_close(s);
    emit("{\"event\":\"stopped\"}");
    return 0;
}
