/* report_int.h - what the report's files share: the facts gathered from a plan, the document the
 * human formats are written from, and the renderers' entry points. Not installed, not public.
 *
 * report.c gathers the facts and owns the document model; report_sections.c fills a document
 * with the report's sections; report_text.c writes a document as text, Markdown or HTML;
 * report_json.c builds the JSON report straight from the facts. The facts and the document are
 * read-only to every renderer. A document that ran out of memory has oom set and holds whatever
 * was added before; adding to it is then a no-op, so builders need not check each call. */
#ifndef PLAN_REPORT_INT_H
#define PLAN_REPORT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report.h"

/* ---------------------------------------------------------------- facts gathered from the plan */

typedef struct model_fact {
    plan_footprint fp; /* of the node kind replica 0 landed on (or the first that fits) */
    uint32_t tp, pp;
    uint64_t per_gpu;            /* largest bytes_per_gpu over its placements */
    uint64_t per_gpu_min;        /* smallest; differs when replicas sit on different GPU kinds */
    uint32_t tp_mask;            /* bit k set: some placement has tensor-parallel degree k */
    uint32_t placed;             /* replicas with a placement (stage 0 or unpipelined) */
    size_t pairs_from, pairs_to; /* its run in the sorted (model, node) pairs */
} model_fact;

typedef struct pair {
    size_t model, node, count;
} pair;

typedef struct facts {
    const plan_problem *p;
    const place_plan *plan;
    const plan_baselines *b;
    model_fact *m;
    pair *pairs;
    size_t n_pairs;
    int *node_bintype; /* [plan->n_nodes], -1 when unknown */
    uint32_t requested, placed;
    uint32_t gpus_total, gpus_used; /* on the nodes shown: hosting something, or inventory */
    uint32_t paid_nodes, paid_gpus; /* nodes that host something (the ones the cost counts) */
    uint64_t usable, used;
} facts;

static inline const plan_manifest *manifest(const facts *f)
{
    return f->p->manifest;
}

static inline bool node_shown(const place_plan *plan, size_t i)
{
    return plan->nodes[i].inventory || place_node_load(plan, i) > 0;
}

static inline double max_above_optimal(const place_plan *plan)
{
    if (plan->lower_bound_per_hour <= 0) return -1;
    return (plan->cost_per_hour - plan->lower_bound_per_hour) / plan->lower_bound_per_hour;
}

/* ------------------------------------------------------------------------ the document model */

typedef enum bk_kind { BK_TITLE, BK_HEAD, BK_KV, BK_TEXT, BK_TABLE } bk_kind;

typedef struct block {
    bk_kind kind;
    char *text;     /* title, heading, paragraph */
    size_t ncols;   /* table and key/value columns */
    char align[16]; /* 'l' or 'r' per column */
    char **cells;   /* row-major; for tables the first row is the header */
    size_t n_cells, cap_cells;
} block;

typedef struct doc {
    block *b;
    size_t n, cap;
    bool oom;
} doc;

/* Adding to a document (report.c). Each appends to d, or sets d->oom and does nothing. */
__attribute__((format(printf, 3, 4))) void plan_rpt_textf(doc *d, bk_kind kind, const char *fmt,
                                                          ...);
/* Starts a table; `align` has one 'l' or 'r' per column, headers follow. */
void plan_rpt_table(doc *d, const char *align, ...);
/* One cell in the last block (a table row is ncols cells); takes ownership of s, NULL = oom. */
void plan_rpt_put(doc *d, char *s);
__attribute__((format(printf, 2, 3))) void plan_rpt_cell(doc *d, const char *fmt, ...);
/* A key/value line, joining the key/value block just before it if there is one. */
__attribute__((format(printf, 3, 4))) void plan_rpt_kv(doc *d, const char *key, const char *fmt,
                                                       ...);

/* The report's sections, in order, for the human formats (report_sections.c). */
void plan_rpt_sections(doc *d, const facts *f);

/* Writers of a finished document (report_text.c); each appends to sb. */
void plan_rpt_render_text(vp_sb *sb, const doc *d);
void plan_rpt_render_md(vp_sb *sb, const doc *d);
void plan_rpt_render_html(vp_sb *sb, const doc *d, const facts *f);

/* The JSON report without its final newline (report_json.c): a string from cJSON_Print the
 * caller frees, or NULL when out of memory. */
char *plan_rpt_render_json(const facts *f);

#endif
