/* cmd_export.c - `vrampack export`: a plan file as Kubernetes YAML, a CSV of placements, or
 * shell lines that start a vLLM engine per placement.
 *
 * Reads the plan (and the manifest and fleet when given), lets the planner's export module write
 * the text, and only then writes it out: to stdout, or atomically to --out, so a failed export
 * leaves nothing half-written. Exit 0 on success, 1 when the output cannot be written, 2 on bad
 * input or usage. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "export.h"
#include "vp_json.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: vrampack export PLAN|- --format k8s|csv|vllm [--manifest FILE|-] [--fleet FILE]\n"
        "                       [--engine NAME] [--image IMAGE] [--base-port N] [--out FILE]\n"
        "\n"
        "Writes a plan file (vrampack plan --out) in a form platform teams use.\n"
        "\n"
        "  PLAN              the plan file (-: standard input)\n"
        "  --format F        k8s: one Deployment per placement, pinned to its node, with its\n"
        "                    GPUs as nvidia.com/gpu, its engine command and a readiness probe;\n"
        "                    csv: one row per placement, with a header;\n"
        "                    vllm: a sh script of `vllm serve` lines, one per placement, run on\n"
        "                    each node (VRAMPACK_NODE, default the host name)\n"
        "  --manifest FILE   the manifest the plan came from (-: standard input): engines,\n"
        "                    sources, context length, batch, KV dtype, engine_args (default:\n"
        "                    the built-in worker, each model loading its own name)\n"
        "  --fleet FILE      GPU models' physical memory when the plan file lacks it (default:\n"
        "                    the built-in catalog)\n"
        "  --engine NAME     run this engine for every model (k8s): %s\n"
        "  --image IMAGE     container image of every Deployment (default: the engine's)\n"
        "  --base-port N     the first engine port on a node; the k-th engine of a node\n"
        "                    (vllm) listens on N+k (default 8000)\n"
        "  --out FILE        write here, atomically (default: standard output)\n"
        "\n"
        "exit: 0 written, 1 the output could not be written, 2 bad input or usage\n",
        eng_names_list());
}

typedef struct export_args {
    const char *plan, *manifest, *fleet, *image, *out;
    bool have_fmt;
    plan_export_fmt fmt;
    bool engine_set;
    eng_kind engine;
    unsigned base_port;
} export_args;

/* 0 parsed, 1 --help printed, -1 usage error printed. */
static int parse_args(int argc, char **argv, export_args *a)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'}, {"manifest", required_argument, NULL, 'm'},
        {"fleet", required_argument, NULL, 'F'},  {"engine", required_argument, NULL, 'e'},
        {"image", required_argument, NULL, 'i'},  {"out", required_argument, NULL, 'o'},
        {"base-port", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":f:m:o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (plan_export_parse_fmt(optarg, &a->fmt)) {
                fprintf(stderr, "vrampack export: --format: '%s' is not k8s, csv or vllm\n",
                        optarg);
                return -1;
            }
            a->have_fmt = true;
            break;
        case 'm':
            a->manifest = optarg;
            break;
        case 'F':
            a->fleet = optarg;
            break;
        case 'e':
            if (eng_parse(optarg, &a->engine)) {
                fprintf(stderr, "vrampack export: --engine: unknown engine '%s' (%s)\n", optarg,
                        eng_names_list());
                return -1;
            }
            a->engine_set = true;
            break;
        case 'i':
            a->image = optarg;
            break;
        case 'p': {
            uint64_t v;
            if (!cli_parse_u64("export", "--base-port", optarg, 1, 65000, false, &v)) return -1;
            a->base_port = (unsigned)v;
            break;
        }
        case 'o':
            a->out = optarg;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            cli_usage_error("export", c, argv);
            return -1;
        }
    }
    if (optind < argc) a->plan = argv[optind++];
    if (optind < argc) {
        cli_usage_fail("export", "unexpected argument '%s' (one plan only)", argv[optind]);
        return -1;
    }
    if (!a->plan || !a->have_fmt) {
        cli_usage_fail("export", "%s",
                       !a->plan ? "missing PLAN (a file, or - for standard input)"
                                : "missing --format k8s|csv|vllm");
        return -1;
    }
    if (a->manifest && !strcmp(a->plan, "-") && !strcmp(a->manifest, "-")) {
        cli_usage_fail("export", "PLAN and --manifest cannot both be standard input");
        return -1;
    }
    return 0;
}

static int write_out(const export_args *a, const char *text)
{
    if (!a->out) {
        if (fputs(text, stdout) == EOF || fflush(stdout)) {
            fprintf(stderr, "vrampack export: cannot write to standard output\n");
            return CLI_FAIL;
        }
        return CLI_OK;
    }
    int w = cli_write_file_atomic(a->out, text, strlen(text));
    if (w) {
        fprintf(stderr, "vrampack export: --out %s: cannot write: %s\n", a->out, vp_strerror(w));
        return CLI_FAIL;
    }
    return CLI_OK;
}

int cli_export(int argc, char **argv)
{
    export_args a = {0};
    int p = parse_args(argc, argv, &a);
    if (p) return p > 0 ? CLI_OK : CLI_USAGE;

    int rc = CLI_USAGE;
    vp_err e = {0};
    char *buf = NULL;
    size_t len = 0;
    place_plan *plan = NULL;
    plan_gpu_totals totals = {0};
    plan_manifest *m = NULL;
    plan_fleet *f = NULL;
    plan_export_out out = {0};
    if (cli_read_input(a.plan, PLAN_MAX_FILE_BYTES, &buf, &len, &e)) goto err;
    if (plan_from_json_totals(buf, len, cli_input_name(a.plan), &plan, &totals, &e)) goto err;
    if (a.manifest && cli_manifest_load(a.manifest, &m, &e)) goto err;
    if (a.fleet && plan_fleet_load(a.fleet, &f, &e)) goto err;
    plan_export_input in = {.plan = plan,
                            .totals = &totals,
                            .gpu_models = f,
                            .manifest = m,
                            .plan_name = cli_input_name(a.plan),
                            .image = a.image,
                            .engine_set = a.engine_set,
                            .engine = a.engine,
                            .base_port = a.base_port};
    int x = plan_export(&in, a.fmt, &out, &e);
    if (x) {
        if (x == -ENOMEM) rc = CLI_FAIL;
        goto err;
    }
    if (out.note[0]) fprintf(stderr, "vrampack export: note: %s\n", out.note);
    rc = write_out(&a, out.text);
    goto done;
err:
    fprintf(stderr, "vrampack export: %s\n", e.msg[0] ? e.msg : vp_strerror(e.code));
done:
    free(out.text);
    plan_fleet_free(f);
    plan_manifest_free(m);
    plan_gpu_totals_free(&totals);
    place_plan_free(plan);
    free(buf);
    return rc;
}
