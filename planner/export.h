/* export.h - a plan as the files platform teams use (`vrampack export`): Kubernetes YAML, a CSV
 * of placements, and shell lines that start a vLLM engine per placement.
 *
 * Input is the plan as read from its file, with the GPU totals the file carries (planjson.h), and
 * optionally the manifest it was planned from (engines, sources, context lengths, batch sizes,
 * KV dtypes, extra engine arguments). Without a manifest every model runs the built-in worker and
 * loads what its name says. An engine's flags (memory share, TP/PP degree, port, ...) come from
 * one function, plan_export_engine_cmd (export_engine.c), so the engine launch profiles can
 * replace it in one place. Pure: no I/O, nothing printed; the caller writes the text out. */
#ifndef PLAN_EXPORT_H
#define PLAN_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "planjson.h"
#include "planner.h"

typedef enum plan_export_fmt { PLAN_EXPORT_K8S, PLAN_EXPORT_CSV, PLAN_EXPORT_VLLM } plan_export_fmt;

/* "k8s" (or "kubernetes"), "csv", "vllm" -> fmt. 0 or VP_ENOTFOUND. */
int plan_export_parse_fmt(const char *s, plan_export_fmt *out);

#define PLAN_EXPORT_PORT 8000 /* an engine's HTTP port; on a shared node the k-th engine adds k */

typedef struct plan_export_input {
    const place_plan *plan;
    const plan_gpu_totals *totals; /* from the plan file; NULL or zeros where it says nothing */
    const plan_fleet *gpu_models;  /* physical GPU bytes where the plan file lacks them; may be
                                      NULL (the built-in catalog is used then) */
    const plan_manifest *manifest; /* NULL: the built-in worker, source = model name */
    const char *plan_name;         /* named in headers, e.g. the plan file's path */
    const char *image;             /* container image for every Deployment; NULL: per engine */
    bool engine_set;               /* run `engine` for every model instead of the manifest's */
    eng_kind engine;
    unsigned base_port;            /* first engine port on a node; 0: PLAN_EXPORT_PORT */
} plan_export_input;

typedef struct plan_export_out {
    char *text;                  /* the file; caller frees */
    char note[PLACE_REASON_MAX]; /* "" or one line the caller may show (a fallback taken) */
} plan_export_out;

/* Writes in->plan in fmt into *out. Errors (VP_EINPUT, e names the placement and field): a
 * placement whose model the manifest lacks, a GPU whose physical size is known nowhere (k8s and
 * vllm need it for the memory flag), an engine that cannot run the placement (a pipelined
 * llama.cpp or built-in replica). -ENOMEM when out of memory. out->text is NULL on error. */
int plan_export(const plan_export_input *in, plan_export_fmt fmt, plan_export_out *out, vp_err *e);

/* ------------------------------------------------------------------ engine command lines */

/* One placement as an engine sees it. */
typedef struct plan_export_slice {
    const place_placement *pl;
    const place_node *node;
    const plan_model *model;   /* NULL without a manifest */
    const char *source;        /* what the engine loads: the manifest's source, else the name */
    uint64_t gpu_memory_bytes; /* physical bytes of its GPUs (the smallest); 0 when unknown */
    uint64_t gpu_usable_bytes; /* the smallest usable bytes among its GPUs */
    double fraction;           /* bytes_per_gpu / gpu_memory_bytes, rounded down to 4 places */
    unsigned port;
    const char *head_node; /* node of stage 0 of a pipelined replica (its own for stage 0) */
} plan_export_slice;

#define PLAN_EXPORT_MAX_ARGS 192

typedef struct plan_engine_cmd {
    char *argv[PLAN_EXPORT_MAX_ARGS + 1]; /* NULL-terminated; owned, plan_engine_cmd_free */
    size_t argc;
    const char *health_path; /* HTTP path that answers 200 when ready; NULL: none */
    const char *image;       /* default container image */
    const char *comment;     /* NULL or a line to show beside the command (static) */
} plan_engine_cmd;

/* The command line that starts engine k on slice s: the flags its memory share, TP/PP degree,
 * context length, batch, KV dtype and port imply, then the manifest's engine_args. The one place
 * that maps a placement to an engine's flags. Returns 0, VP_EINPUT (e says why: the engine cannot
 * run this slice) or -ENOMEM. */
int plan_export_engine_cmd(const plan_export_slice *s, eng_kind k, plan_engine_cmd *out, vp_err *e);
void plan_engine_cmd_free(plan_engine_cmd *c);

#endif
