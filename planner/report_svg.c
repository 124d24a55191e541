/* report_svg.c - the report's two pictures as inline SVG: the plan's cost against its lower bound
 * and the baselines, and the packing picture (each node a row, each GPU a bar, each slice a
 * segment in its model's colour, labelled, free memory hatched).
 *
 * Both are drawn in a fixed coordinate space 760 units wide that the page scales to its column,
 * so a unit is about a pixel at an 800 px window and text grows with the picture at 1600 px. Text
 * is never measured by a browser (the page has no script): a label is chosen among shorter forms
 * by an estimate of its width at the 11-unit font, and clipped to its segment besides, so labels
 * never overlap. Every segment also carries a <title> with the full id and size. A model's colour
 * comes from its name, so it keeps it from report to report (plan_rpt_colours_assign). The
 * picture stops after MAX_PIC_GPUS GPU bars and says how many it left out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_int.h"

#define PIC_W 760
#define CHAR_W 6.6 /* estimated advance of one character of 11-unit sans-serif text */
#define BOLD_W 8.2 /* the same at 12.5 units, bold */

/* Packing picture. */
#define GPU_LABEL_X 6
#define BAR_X 64
#define BAR_W 600
#define ROW_H 19
#define BAR_H 15
#define HEAD_H 22
#define NODE_GAP 10
#define MAX_PIC_GPUS 256

/* Cost bars. */
#define COST_LABEL_X 182
#define COST_X 190
#define COST_W 300
#define COST_ROW_H 30
#define COST_BAR_H 20

/* ------------------------------------------------------------------------------------ colours */

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

static double hue_part(double p, double q, double t)
{
    if (t < 0) t += 1;
    if (t > 1) t -= 1;
    if (t < 1.0 / 6) return p + (q - p) * 6 * t;
    if (t < 0.5) return q;
    if (t < 2.0 / 3) return p + (q - p) * (2.0 / 3 - t) * 6;
    return p;
}

static void hsl_hex(double hue, double sat, double lig, char out[8])
{
    double q = lig < 0.5 ? lig * (1 + sat) : lig + sat - lig * sat, p = 2 * lig - q;
    int r = (int)(hue_part(p, q, hue + 1.0 / 3) * 255 + 0.5);
    int g = (int)(hue_part(p, q, hue) * 255 + 0.5);
    int b = (int)(hue_part(p, q, hue - 1.0 / 3) * 255 + 0.5);
    snprintf(out, 8, "#%02x%02x%02x", r & 255, g & 255, b & 255);
}

static int hue_dist(int a, int b)
{
    int d = abs(a - b) % 360;
    return d > 180 ? 360 - d : d;
}

/* Each model's hue is its name's hash, so a model keeps its colour from report to report. Only
 * when two models of one manifest would look alike does the later name (in byte order, not
 * manifest order) move to the nearest hue far enough from those taken; saturation and lightness
 * stay in a band where dark text is readable. */
int plan_rpt_colours_assign(const plan_manifest *m, const size_t *by_name, char (*out)[8])
{
    size_t n = m->n_models;
    int *taken = malloc((n ? n : 1) * sizeof *taken);
    if (!taken) return -1;
    int min_d = n ? (int)(300 / n) : 24;
    if (min_d > 24) min_d = 24;
    for (size_t k = 0; k < n; k++) {
        size_t i = by_name[k];
        uint32_t h = fnv1a(m->models[i].name);
        int hue = (int)(h % 360), pick = hue;
        for (int step = 0; step < 360; step++) {
            int cand = (hue + (step % 2 ? 1 : -1) * ((step + 1) / 2) + 360) % 360;
            bool ok = true;
            for (size_t j = 0; ok && j < k; j++)
                ok = hue_dist(cand, taken[j]) >= min_d;
            if (ok) {
                pick = cand;
                break;
            }
        }
        taken[k] = pick;
        hsl_hex(pick / 360.0, 0.50 + ((h >> 9) % 20) / 100.0, 0.62 + ((h >> 17) % 14) / 100.0,
                out[i]);
    }
    free(taken);
    return 0;
}

/* ------------------------------------------------------------------------------------ helpers */

static double text_w(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return (double)n * CHAR_W;
}

/* s cut to fit width w with a trailing ellipsis (UTF-8 safe), or "" when not even one character
 * and the ellipsis fit. */
static void fit(char *out, size_t cap, const char *s, double w)
{
    if (text_w(s) <= w) {
        snprintf(out, cap, "%s", s);
        return;
    }
    size_t keep = w > 2 * CHAR_W ? (size_t)(w / CHAR_W) - 1 : 0, n = 0, i = 0;
    for (; s[i] && n < keep; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    while (s[i] && ((unsigned char)s[i] & 0xC0) == 0x80)
        i++;
    if (!keep || i + 4 > cap) {
        out[0] = '\0';
        return;
    }
    memcpy(out, s, i);
    memcpy(out + i, "\xE2\x80\xA6", 4); /* U+2026 */
}

static void text(vp_sb *sb, double x, double y, const char *attrs, const char *s)
{
    vp_sb_printf(sb, "<text x=\"%.1f\" y=\"%.1f\"%s>", x, y, attrs);
    plan_rpt_html_escape(sb, s);
    vp_sb_printf(sb, "</text>");
}

static void svg_open(vp_sb *sb, const char *cls, double w, double h, const char *label)
{
    vp_sb_printf(sb,
                 "<svg class=\"pic %s\" "
                 "viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"",
                 cls, w, h);
    plan_rpt_html_escape(sb, label);
    vp_sb_printf(sb, "\">\n<defs>"
                     "<pattern id=\"vp-free\" width=\"6\" height=\"6\" "
                     "patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
                     "<rect width=\"6\" height=\"6\" fill=\"#f3f4f6\"/>"
                     "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#d0d7de\" "
                     "stroke-width=\"2\"/></pattern>"
                     "<pattern id=\"vp-unlike\" width=\"8\" height=\"8\" "
                     "patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">"
                     "<rect width=\"8\" height=\"8\" fill=\"#d8dee4\"/>"
                     "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"8\" stroke=\"#afb8c1\" "
                     "stroke-width=\"3\"/></pattern></defs>\n");
}

/* ---------------------------------------------------------------------------------- cost bars */

typedef struct cost_row {
    const char *name;
    double cost;
    const char *fill;
    char label[160];
} cost_row;

void plan_rpt_svg_cost(vp_sb *sb, const facts *f)
{
    const place_plan *plan = f->plan;
    cost_row rows[4];
    size_t n = 0;
    rows[n] = (cost_row){"this plan", plan->cost_per_hour, "#2f6f8f", ""};
    snprintf(rows[n++].label, sizeof rows[0].label, "%s/h", plan_rpt_money(plan->cost_per_hour).s);
    rows[n] = (cost_row){"lower bound", plan->lower_bound_per_hour, "none", ""};
    snprintf(rows[n++].label, sizeof rows[0].label, "%s/h: no plan costs less",
             plan_rpt_money(plan->lower_bound_per_hour).s);
    const plan_baseline *bl[2] = {&f->b->one_per_gpu, &f->b->a100};
    const char *names[2] = {"one model per GPU", "everything on A100-80GB"};
    for (int k = 0; k < 2; k++) {
        if (!bl[k]->available) continue;
        char why[PLACE_REASON_MAX];
        bool like = plan_rpt_like_for_like(f, bl[k], why, sizeof why);
        rows[n] =
            (cost_row){names[k], bl[k]->cost_per_hour, like ? "#8c959f" : "url(#vp-unlike)", ""};
        double save = bl[k]->cost_per_hour - plan->cost_per_hour;
        if (!like)
            snprintf(rows[n].label, sizeof rows[n].label, "%s/h: not like for like",
                     plan_rpt_money(bl[k]->cost_per_hour).s);
        else if (bl[k]->cost_per_hour > 0)
            snprintf(rows[n].label, sizeof rows[n].label, "%s/h: this plan %s %s",
                     plan_rpt_money(bl[k]->cost_per_hour).s, save >= 0 ? "saves" : "costs",
                     plan_rpt_pct((save >= 0 ? save : -save) / bl[k]->cost_per_hour).s);
        else
            snprintf(rows[n].label, sizeof rows[n].label, "%s/h",
                     plan_rpt_money(bl[k]->cost_per_hour).s);
        n++;
    }
    double max = 0;
    for (size_t i = 0; i < n; i++)
        if (rows[i].cost > max) max = rows[i].cost;
    if (max <= 0) max = 1;
    svg_open(sb, "cost", PIC_W, (double)n * COST_ROW_H + 8,
             "cost per hour of this plan, its lower bound and the baselines");
    for (size_t i = 0; i < n; i++) {
        double y = 4 + (double)i * COST_ROW_H, w = rows[i].cost / max * COST_W;
        double ty = y + COST_BAR_H / 2.0 + 4;
        text(sb, COST_LABEL_X, ty, " text-anchor=\"end\" font-size=\"12\"", rows[i].name);
        if (!strcmp(rows[i].fill, "none"))
            vp_sb_printf(sb,
                         "<rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" fill=\"none\" "
                         "stroke=\"#2f6f8f\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\"/>",
                         COST_X, y + 1, w, COST_BAR_H - 2);
        else
            vp_sb_printf(sb, "<rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>",
                         COST_X, y, w, COST_BAR_H, rows[i].fill);
        text(sb, COST_X + w + 6, ty, " font-size=\"12\"", rows[i].label);
        vp_sb_printf(sb, "\n");
    }
    vp_sb_printf(sb, "</svg>\n");
}

/* ---------------------------------------------------------------------------- packing picture */

/* Placements grouped by node: by_node[start[i] .. start[i+1]) index plan->placements. */
typedef struct node_index {
    size_t *start, *by_node;
} node_index;

static int index_nodes(const place_plan *plan, node_index *ix)
{
    ix->start = calloc(plan->n_nodes + 1, sizeof *ix->start);
    ix->by_node = calloc(plan->n_placements ? plan->n_placements : 1, sizeof *ix->by_node);
    size_t *fill = calloc(plan->n_nodes ? plan->n_nodes : 1, sizeof *fill);
    if (!ix->start || !ix->by_node || !fill) {
        free(fill);
        return -1;
    }
    for (size_t k = 0; k < plan->n_placements; k++)
        ix->start[plan->placements[k].node + 1]++;
    for (size_t i = 0; i < plan->n_nodes; i++)
        ix->start[i + 1] += ix->start[i];
    for (size_t k = 0; k < plan->n_placements; k++) {
        size_t nd = (size_t)plan->placements[k].node;
        ix->by_node[ix->start[nd] + fill[nd]++] = k;
    }
    free(fill);
    return 0;
}

static void segment(vp_sb *sb, const char *colour, double x, double y, double w,
                    const place_placement *pl)
{
    char label[160], shown[160];
    vp_sb_printf(sb, "<g><title>");
    plan_rpt_html_escape(sb, pl->id);
    vp_sb_printf(sb, ": %s GiB per GPU</title>", plan_rpt_gib(pl->bytes_per_gpu).s);
    vp_sb_printf(sb,
                 "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%d\" fill=\"%s\" "
                 "stroke=\"#fff\" stroke-width=\"1\"/>",
                 x, y, w, BAR_H, colour);
    /* Longest form that fits: id and size, id, model, id cut short. */
    double room = w - 8;
    snprintf(label, sizeof label, "%s  %s GiB", pl->id, plan_rpt_gib(pl->bytes_per_gpu).s);
    if (text_w(label) > room) snprintf(label, sizeof label, "%s", pl->id);
    if (text_w(label) > room) snprintf(label, sizeof label, "%s", pl->model);
    fit(shown, sizeof shown, label, room);
    if (shown[0]) text(sb, x + 4, y + BAR_H - 4, " font-size=\"11\"", shown);
    vp_sb_printf(sb, "</g>");
}

static void gpu_bar(vp_sb *sb, const facts *f, const node_index *ix, size_t i, int g, double y)
{
    const place_plan *plan = f->plan;
    const place_gpu *gp = &plan->nodes[i].gpus[g];
    char s[64];
    snprintf(s, sizeof s, "GPU %d", g);
    text(sb, GPU_LABEL_X, y + BAR_H - 3.5, " font-size=\"11\"", s);
    double x = BAR_X;
    for (size_t k = ix->start[i]; gp->usable_bytes && k < ix->start[i + 1]; k++) {
        const place_placement *pl = &plan->placements[ix->by_node[k]];
        for (int j = 0; j < pl->n_gpus; j++)
            if (pl->gpus[j] == g) {
                double w = (double)pl->bytes_per_gpu / (double)gp->usable_bytes * BAR_W;
                int mi = plan_rpt_model_of(f, ix->by_node[k]);
                segment(sb, mi >= 0 ? f->colour[mi] : "#d0d7de", x, y, w, pl);
                x += w;
            }
    }
    double free_w = BAR_X + BAR_W - x;
    uint64_t free_b = gp->usable_bytes > gp->used_bytes ? gp->usable_bytes - gp->used_bytes : 0;
    if (free_w > 0.5) {
        vp_sb_printf(sb, "<g><title>free: %s GiB</title>", plan_rpt_gib(free_b).s);
        vp_sb_printf(sb,
                     "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%d\" "
                     "fill=\"url(#vp-free)\"/>",
                     x, y, free_w, BAR_H);
        char label[64], shown[64];
        snprintf(label, sizeof label, "free %s GiB", plan_rpt_gib(free_b).s);
        if (text_w(label) > free_w - 8) snprintf(label, sizeof label, "free");
        fit(shown, sizeof shown, label, free_w - 8);
        if (shown[0]) text(sb, x + 4, y + BAR_H - 4, " font-size=\"11\" fill=\"#57606a\"", shown);
        vp_sb_printf(sb, "</g>");
    }
    snprintf(s, sizeof s, "%s GiB", plan_rpt_gib(gp->usable_bytes).s);
    text(sb, BAR_X + BAR_W + 6, y + BAR_H - 3.5, " font-size=\"11\" fill=\"#57606a\"", s);
    vp_sb_printf(sb, "\n");
}

static void node_head(vp_sb *sb, const facts *f, size_t i, double y)
{
    const place_node *n = &f->plan->nodes[i];
    uint64_t used = 0, usable = 0;
    for (int g = 0; g < n->n_gpus; g++) {
        used += n->gpus[g].used_bytes;
        usable += n->gpus[g].usable_bytes;
    }
    bool paid = node_paid(f->plan, i);
    char detail[256], name[PLACE_NAME_MAX * 3 + 8], shown[256];
    snprintf(detail, sizeof detail, "%s \xC2\xB7 %d \xC3\x97 %s \xC2\xB7 %s/h \xC2\xB7 %s used%s",
             n->type, n->n_gpus, n->n_gpus ? n->gpus[0].model : "-",
             plan_rpt_money(n->price_per_hour).s, plan_rpt_util(used, usable).s,
             !paid          ? " \xC2\xB7 idle, not charged"
             : n->inventory ? " \xC2\xB7 owned"
             : n->spare     ? " \xC2\xB7 spare (N+1)"
                            : "");
    fit(name, sizeof name, n->name, PIC_W / 2.0);
    text(sb, GPU_LABEL_X, y + 14, " font-size=\"12.5\" font-weight=\"600\"", name);
    double x = GPU_LABEL_X + text_w(name) * BOLD_W / CHAR_W + 10;
    fit(shown, sizeof shown, detail, PIC_W - x - 4);
    text(sb, x, y + 14, " font-size=\"11\" fill=\"#57606a\"", shown);
    vp_sb_printf(sb, "\n");
}

static void legend(vp_sb *sb, const facts *f)
{
    vp_sb_printf(sb, "<ul class=\"legend\">");
    for (size_t g = 0; g < f->p->n_groups; g++) {
        size_t mi = f->p->groups[g].model;
        if (!f->m[mi].placed) continue;
        vp_sb_printf(sb, "<li><span class=\"sw\" style=\"background:%s\"></span>", f->colour[mi]);
        plan_rpt_html_escape(sb, manifest(f)->models[mi].name);
        vp_sb_printf(sb, "</li>");
    }
    vp_sb_printf(sb, "<li><span class=\"sw\" style=\"background:#eaeef2\"></span>free "
                     "(usable, not planned)</li></ul>\n");
}

void plan_rpt_svg_packing(vp_sb *sb, const facts *f)
{
    const place_plan *plan = f->plan;
    node_index ix = {0};
    if (index_nodes(plan, &ix)) {
        free(ix.start);
        free(ix.by_node);
        sb->oom = 1;
        return;
    }
    double h = 4;
    size_t drawn = 0, nodes_left = 0, gpus_left = 0;
    for (size_t i = 0; i < plan->n_nodes; i++) {
        if (!node_shown(plan, i)) continue;
        if (drawn + (size_t)plan->nodes[i].n_gpus > MAX_PIC_GPUS) {
            nodes_left++;
            gpus_left += (size_t)plan->nodes[i].n_gpus;
            continue;
        }
        drawn += (size_t)plan->nodes[i].n_gpus;
        h += HEAD_H + plan->nodes[i].n_gpus * ROW_H + NODE_GAP;
    }
    legend(sb, f);
    svg_open(sb, "packing", PIC_W, h,
             "packing: each node a row, each GPU a bar, each slice a segment");
    double y = 4;
    drawn = 0;
    for (size_t i = 0; i < plan->n_nodes; i++) {
        if (!node_shown(plan, i)) continue;
        if (drawn + (size_t)plan->nodes[i].n_gpus > MAX_PIC_GPUS) continue;
        drawn += (size_t)plan->nodes[i].n_gpus;
        node_head(sb, f, i, y);
        y += HEAD_H;
        for (int g = 0; g < plan->nodes[i].n_gpus; g++, y += ROW_H)
            gpu_bar(sb, f, &ix, i, g, y);
        y += NODE_GAP;
    }
    vp_sb_printf(sb, "</svg>\n");
    if (nodes_left)
        vp_sb_printf(sb,
                     "<p>%zu more nodes (%zu GPUs) are not drawn; the GPUs table lists every "
                     "slice.</p>\n",
                     nodes_left, gpus_left);
    free(ix.start);
    free(ix.by_node);
}
