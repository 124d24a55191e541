/* report_int.h - what the report's files share: the facts gathered from a plan, the document the
 * human formats are written from, and the renderers' entry points. Not installed, not public.
 *
 * report_facts.c gathers the facts once: every count of nodes, GPUs and bytes, the bill of
 * materials and whether a baseline placed the same replicas as the plan. Every section and every
 * format reads these figures and never recounts, so no two places of one report can disagree.
 * report.c owns the entry points, the document model and the number formats;
 * report_sections.c fills a document with the report's sections; report_text.c writes it as
 * text or Markdown, report_html.c as one HTML page with the pictures of report_svg.c;
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

/* The one count of the plan's nodes, GPUs and bytes. A node is "paid" when it hosts at least one
 * placement: the plan's cost_per_hour is the sum of exactly these nodes' prices. An inventory
 * node that hosts nothing is "idle": listed, never charged. A bought node that hosts nothing is
 * not part of the plan at all. */
typedef struct counts {
    uint32_t nodes_paid, gpus_paid; /* what the cost counts */
    uint32_t gpus_busy;             /* GPUs holding at least one slice (all on paid nodes) */
    uint32_t nodes_idle, gpus_idle; /* idle inventory */
    uint64_t usable_paid, used;     /* bytes on the paid nodes (idle nodes use none) */
    uint64_t usable_idle;
    double cost_paid; /* sum of the paid nodes' prices, = plan->cost_per_hour */
} counts;

/* One line of the bill of materials: paid nodes of one kind (instance type, GPU model, GPUs per
 * node, price, bought or owned). */
typedef struct bom_row {
    size_t node; /* the first plan node of this kind, for its type and GPUs */
    bool inventory;
    double price_per_hour; /* per node */
    uint32_t count;
} bom_row;

/* Capacity bought in one tier (on demand, spot, reserved): the paid nodes of that tier. */
typedef struct tier_fact {
    uint32_t nodes, gpus;
    double cost; /* $/hour; the three tiers add up to counts.cost_paid */
} tier_fact;

/* Spot capacity priced as if bought on demand: the same instance type without its ":spot"
 * suffix, else the cheapest on-demand type with the same GPU model and count. */
typedef struct spot_fact {
    double cost;                  /* $/hour of the paid spot nodes */
    double on_demand_cost;        /* the same nodes on demand, over those with a counterpart */
    double matched_cost;          /* spot $/hour of the nodes with a counterpart */
    uint32_t unmatched;           /* paid spot nodes with no on-demand counterpart in the problem */
    double interruptions_per_day; /* expected reclaims a day over the paid spot nodes */
    size_t *nodes;                /* plan node indices of the paid spot nodes, plan order */
    size_t n_nodes;
} spot_fact;

/* A base model serving LoRA adapters, against serving each adapter as a model of its own. */
typedef struct lora_fact {
    size_t model;
    uint32_t adapters, resident, rank;
    uint64_t slice_bytes;     /* one replica with its resident adapters (the plan's footprint) */
    uint64_t separate_bytes;  /* one adapter merged into a copy of the base, served alone */
    double gib_hour_price;    /* the plan's $/hour over the GiB its paid nodes hold; 0 unknown */
    double separate_per_hour; /* adapters x separate_bytes at that price (one replica each) */
    double plan_per_hour;     /* placed replicas x slice_bytes at that price */
} lora_fact;

typedef struct facts {
    const plan_problem *p;
    const place_plan *plan;
    const plan_baselines *b;
    const plan_node_loss *loss; /* NULL: not analysed */
    size_t n_loss;
    size_t spare_nodes;         /* spares the plan holds for the N+1 requirement */
    double plain_cost;          /* with spare_nodes: the cost before they were added */
    model_fact *m;
    pair *pairs;
    size_t n_pairs;
    int *node_bintype; /* [plan->n_nodes], -1 when unknown */
    uint32_t requested, placed;
    counts c;
    bom_row *bom; /* most expensive line first */
    size_t n_bom;
    char (*colour)[8]; /* per model, manifest order: its colour in the pictures */
    int *pl_model;     /* [plan->n_placements]: manifest index of each placement's model, or -1 */
    /* What the work is (report_facts.c gathers these too). */
    plan_tier *node_tier; /* [plan->n_nodes]: its bin type's tier (on demand when unknown) */
    tier_fact tier[3];    /* by plan_tier */
    spot_fact spot;
    lora_fact *lora; /* one per model with adapters, manifest order */
    size_t n_lora;
    double *pl_ttft_ms; /* [plan->n_placements]: estimated time to first token; 0 unknown */
    bool any_batch, any_train, any_slo;
} facts;

static inline int plan_rpt_model_of(const facts *f, size_t placement)
{
    return f->pl_model[placement];
}

/* Gathers the facts (report_facts.c). Returns 0 or -ENOMEM; facts_free releases either way. */
int plan_rpt_facts_build(facts *f, const plan_report_input *in);
void plan_rpt_facts_free(facts *f);

/* Does baseline bl price the same replicas as the plan? When not (or when that cannot be told),
 * its cost is no saving: returns false with the reason in why ("places 5 of 8 replicas, this plan
 * 7"). An unavailable baseline is not comparable either. */
bool plan_rpt_like_for_like(const facts *f, const plan_baseline *bl, char *why, size_t cap);

static inline const plan_manifest *manifest(const facts *f)
{
    return f->p->manifest;
}

/* Paid: hosts something, or is a spare kept for the N+1 requirement. */
static inline bool node_paid(const place_plan *plan, size_t i)
{
    return plan->nodes[i].spare || place_node_load(plan, i) > 0;
}

/* Listed in the report: paid, or inventory (paid or idle). */
static inline bool node_shown(const place_plan *plan, size_t i)
{
    return plan->nodes[i].inventory || node_paid(plan, i);
}

static inline double max_above_optimal(const place_plan *plan)
{
    if (plan->lower_bound_per_hour <= 0) return -1;
    return (plan->cost_per_hour - plan->lower_bound_per_hour) / plan->lower_bound_per_hour;
}

/* ------------------------------------------------------------------------- number formatting */

/* Formatted once, here, for every human format: sizes in GiB with two decimals, money as
 * $1,234.56, shares as percentages with one decimal. */
typedef struct nbuf {
    char s[48];
} nbuf;

nbuf plan_rpt_gib(uint64_t bytes);  /* "34.55" */
nbuf plan_rpt_money(double v);      /* "$1,234.56", "-$3.00" */
nbuf plan_rpt_pct(double fraction); /* "14.5%" */
nbuf plan_rpt_util(uint64_t used, uint64_t usable);

/* ------------------------------------------------------------------------ the document model */

/* BK_FIGURE: a picture only HTML draws (text and Markdown skip it); text names the figure. */
typedef enum bk_kind { BK_TITLE, BK_HEAD, BK_KV, BK_TEXT, BK_TABLE, BK_FIGURE } bk_kind;

typedef enum fig_kind { FIG_COST, FIG_PACKING } fig_kind;

/* Column kinds of a table: 'l' left, 'r' right (numbers), 'w' a list of values separated by
 * ", " that may wrap between values, never inside one, 'p' prose that wraps between words. Every
 * other cell keeps its value on one line. */
typedef struct block {
    bk_kind kind;
    char *text;     /* title, heading, paragraph; a figure's heading or NULL */
    fig_kind fig;   /* BK_FIGURE */
    size_t ncols;   /* table and key/value columns */
    char align[16]; /* 'l', 'r', 'w' or 'p' per column */
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
/* Starts a table; `align` has one 'l', 'r', 'w' or 'p' per column, headers follow. */
void plan_rpt_table(doc *d, const char *align, ...);
/* One cell in the last block (a table row is ncols cells); takes ownership of s, NULL = oom. */
void plan_rpt_put(doc *d, char *s);
__attribute__((format(printf, 2, 3))) void plan_rpt_cell(doc *d, const char *fmt, ...);
/* A key/value line, joining the key/value block just before it if there is one. */
__attribute__((format(printf, 3, 4))) void plan_rpt_kv(doc *d, const char *key, const char *fmt,
                                                       ...);
/* A figure; title (may be NULL) is a heading that only the HTML page, which draws it, shows. */
void plan_rpt_figure(doc *d, fig_kind fig, const char *title);

/* The report's sections, in order, for the human formats (report_sections.c). */
void plan_rpt_sections(doc *d, const facts *f);

/* Writers of a finished document; each appends to sb. Text and Markdown in report_text.c, HTML
 * in report_html.c. */
void plan_rpt_render_text(vp_sb *sb, const doc *d);
void plan_rpt_render_md(vp_sb *sb, const doc *d);
void plan_rpt_render_html(vp_sb *sb, const doc *d, const facts *f);

/* The pictures (report_svg.c): inline SVG elements, escaped, appended to sb. */
void plan_rpt_svg_cost(vp_sb *sb, const facts *f);
void plan_rpt_svg_packing(vp_sb *sb, const facts *f);
/* The colour of every model of m, "#rrggbb", into out[i] for models[i]; by_name lists the models'
 * indices sorted by name. A name keeps its colour from report to report unless two names of one
 * manifest would look alike. Returns 0 or -1 when out of memory. */
int plan_rpt_colours_assign(const plan_manifest *m, const size_t *by_name, char (*out)[8]);
/* HTML/XML text escaping shared by the page and its pictures. */
void plan_rpt_html_escape(vp_sb *sb, const char *s);

/* The workload sections (report_work.c): tiers and interruptions, LoRA bases, training jobs,
 * latency estimates. Each adds nothing when the plan has none of it. */
void plan_rpt_sec_tiers(doc *d, const facts *f);
void plan_rpt_sec_lora(doc *d, const facts *f);
void plan_rpt_sec_training(doc *d, const facts *f);
void plan_rpt_sec_latency(doc *d, const facts *f);

/* The JSON report without its final newline (report_json.c): a string from cJSON_Print the
 * caller frees, or NULL when out of memory. */
char *plan_rpt_render_json(const facts *f);

#endif
