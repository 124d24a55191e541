/* export.c - a plan as the files platform teams use: resolves every placement once (model,
 * engine, GPU totals, port, Kubernetes name) and writes the CSV; export_k8s.c and export_shell.c
 * write the other formats from the same resolution.
 *
 * A GPU's physical size comes from the plan file (written with its fleet), else from the fleet
 * handed in, else from the built-in catalog, and the result says when a fallback was taken. The
 * CSV is RFC 4180: a header, one row per placement, fields quoted when they hold a comma, quote or
 * line break; a field that a spreadsheet would run as a formula (= + - @ first) is quoted and
 * prefixed with an apostrophe. Lookups are sorted indexes, so a plan of a million placements
 * exports in O(P log P). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export_int.h"

int plan_export_parse_fmt(const char *s, plan_export_fmt *out)
{
    if (!s) return VP_ENOTFOUND;
    if (!strcmp(s, "k8s") || !strcmp(s, "kubernetes"))
        *out = PLAN_EXPORT_K8S;
    else if (!strcmp(s, "csv"))
        *out = PLAN_EXPORT_CSV;
    else if (!strcmp(s, "vllm"))
        *out = PLAN_EXPORT_VLLM;
    else
        return VP_ENOTFOUND;
    return 0;
}

/* ---------------------------------------------------------------------------------- lookups */

static int cmp_model_ptr(const void *a, const void *b)
{
    const plan_model *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static const plan_model *find_model(const plan_model **sorted, size_t n, const char *name)
{
    plan_model key;
    snprintf(key.name, sizeof key.name, "%s", name);
    const plan_model *kp = &key;
    const plan_model **hit = bsearch(&kp, sorted, n, sizeof *sorted, cmp_model_ptr);
    return hit ? *hit : NULL;
}

/* Pipelined placements ordered by (model, replica, stage): stage 0 of each replica first. */
static int cmp_stage(const void *a, const void *b)
{
    const place_placement *const *x = a, *const *y = b;
    int c = strcmp((*x)->model, (*y)->model);
    if (c) return c;
    if ((*x)->replica != (*y)->replica) return (*x)->replica < (*y)->replica ? -1 : 1;
    return ((*x)->stage > (*y)->stage) - ((*x)->stage < (*y)->stage);
}

static int set_heads(const place_plan *plan, xslice *v, vp_err *e)
{
    const place_placement **pp = malloc((plan->n_placements + 1) * sizeof *pp);
    if (!pp) return vp_errf(e, -ENOMEM, "export: out of memory");
    size_t n = 0;
    for (size_t i = 0; i < plan->n_placements; i++) {
        v[i].s.head_node = plan->nodes[plan->placements[i].node].name;
        if (plan->placements[i].stage >= 0) pp[n++] = &plan->placements[i];
    }
    qsort(pp, n, sizeof *pp, cmp_stage);
    const place_placement *head = NULL;
    for (size_t k = 0; k < n; k++) {
        if (pp[k]->stage == 0) head = pp[k];
        if (head && !strcmp(head->model, pp[k]->model) && head->replica == pp[k]->replica)
            v[pp[k] - plan->placements].s.head_node = plan->nodes[head->node].name;
    }
    free(pp);
    return 0;
}

/* ------------------------------------------------------------------------------------ names */

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

/* A DNS label (RFC 1123): lower-case letters, digits and '-', no '-' at either end, at most 63
 * characters. A name that had to be cut, or that collides, ends in "-" and 8 hex digits of the
 * original's hash. */
static void dns_label(char out[XP_NAME_MAX], const char *s, bool hashed)
{
    size_t o = 0;
    for (const char *p = s; *p && o < XP_NAME_MAX - 1; p++) {
        char c = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!ok) c = '-';
        if (c == '-' && (o == 0 || out[o - 1] == '-')) continue;
        out[o++] = c;
    }
    bool cut = strlen(s) > o && o == XP_NAME_MAX - 1;
    if (hashed || cut) {
        if (o > 54) o = 54;
        while (o && out[o - 1] == '-')
            o--;
        o += (size_t)snprintf(out + o, XP_NAME_MAX - o, "%s%08x", o ? "-" : "", fnv1a(s));
    }
    while (o && out[o - 1] == '-')
        o--;
    if (!o) o = (size_t)snprintf(out, XP_NAME_MAX, "vp");
    out[o] = '\0';
}

static int cmp_name(const void *a, const void *b)
{
    const xslice *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* Two placements whose ids map to one label both get the hashed form. */
static int unique_names(xplan *x, vp_err *e)
{
    xslice **by = malloc((x->n + 1) * sizeof *by);
    if (!by) return vp_errf(e, -ENOMEM, "export: out of memory");
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < x->n; i++)
            by[i] = &x->v[i];
        qsort(by, x->n, sizeof *by, cmp_name);
        bool dup = false;
        for (size_t i = 0; i + 1 < x->n; i++) {
            if (strcmp(by[i]->name, by[i + 1]->name)) continue;
            dup = true;
            dns_label(by[i]->name, by[i]->s.pl->id, true);
            dns_label(by[i + 1]->name, by[i + 1]->s.pl->id, true);
        }
        if (!dup) break;
        if (pass == 1) {
            free(by);
            return vp_errf(e, VP_EDUP, "export: two placement ids map to one Kubernetes name");
        }
    }
    free(by);
    return 0;
}

/* ----------------------------------------------------------------------------- GPU totals */

static uint64_t fleet_memory(xplan *x, const place_gpu *gp)
{
    const plan_fleet *f = x->in->gpu_models;
    if (!f) {
        if (!x->builtin) x->builtin = plan_fleet_builtin();
        f = x->builtin;
    }
    const plan_gpu_model *g = f ? plan_fleet_gpu(f, gp->model) : NULL;
    if (!g || g->memory_bytes < gp->usable_bytes) return 0;
    if (!x->note[0])
        snprintf(x->note, sizeof x->note,
                 "the plan file gives no GPU memory totals; taken from %s, GPU model %.47s first",
                 x->in->gpu_models ? x->in->gpu_models->source : "the built-in catalog", gp->model);
    return g->memory_bytes;
}

static int gpu_totals(xplan *x, size_t i, bool need, vp_err *e)
{
    plan_export_slice *s = &x->v[i].s;
    const plan_gpu_totals *t = x->in->totals;
    size_t nd = (size_t)s->pl->node;
    for (int k = 0; k < s->pl->n_gpus; k++) {
        const place_gpu *gp = &s->node->gpus[s->pl->gpus[k]];
        uint64_t mem =
            t && t->memory_bytes && nd < t->n_nodes ? t->memory_bytes[nd][s->pl->gpus[k]] : 0;
        if (!mem) mem = fleet_memory(x, gp);
        if (!mem && need)
            return vp_errf(e, VP_EINPUT,
                           "%s: GPU model \"%s\" of node %s: physical memory unknown (not in the "
                           "plan file, the fleet or the built-in catalog; pass its fleet)",
                           s->pl->id, gp->model, s->node->name);
        if (!k || mem < s->gpu_memory_bytes) s->gpu_memory_bytes = mem;
        if (!k || gp->usable_bytes < s->gpu_usable_bytes) s->gpu_usable_bytes = gp->usable_bytes;
    }
    uint64_t frac = 0;
    if (s->gpu_memory_bytes &&
        vp_muldiv_floor_u64(s->pl->bytes_per_gpu, 10000, s->gpu_memory_bytes, &frac) == 0)
        s->fraction = (double)frac / 10000.0; /* 0 when under 1/10000: refused by engines */
    return 0;
}

/* ---------------------------------------------------------------------------------- resolve */

static int resolve(xplan *x, const plan_model **sorted, bool need_memory, bool own_ports, vp_err *e)
{
    const plan_export_input *in = x->in;
    const place_plan *plan = in->plan;
    unsigned *next_port = calloc(plan->n_nodes + 1, sizeof *next_port);
    if (!next_port) return vp_errf(e, -ENOMEM, "export: out of memory");
    int rc = 0;
    for (size_t i = 0; i < plan->n_placements && !rc; i++) {
        xslice *xs = &x->v[i];
        const place_placement *pl = &plan->placements[i];
        xs->s.pl = pl;
        xs->s.node = &plan->nodes[pl->node];
        xs->s.model = in->manifest ? find_model(sorted, in->manifest->n_models, pl->model) : NULL;
        if (in->manifest && !xs->s.model) {
            rc = vp_errf(e, VP_EINPUT, "%s: model \"%s\" is not in manifest %s", pl->id, pl->model,
                         in->manifest->source);
            break;
        }
        xs->s.source = xs->s.model && xs->s.model->source[0] ? xs->s.model->source : pl->model;
        xs->engine = in->engine_set ? in->engine : xs->s.model ? xs->s.model->engine : ENG_BUILTIN;
        xs->s.port = (in->base_port ? in->base_port : PLAN_EXPORT_PORT) +
                     (own_ports ? next_port[pl->node]++ : 0);
        dns_label(xs->name, pl->id, false);
        dns_label(xs->label, pl->model, false);
        rc = gpu_totals(x, i, need_memory, e);
    }
    free(next_port);
    return rc;
}

int plan_xp_build(const plan_export_input *in, bool need_memory, bool own_ports, xplan *x,
                  vp_err *e)
{
    memset(x, 0, sizeof *x);
    x->in = in;
    const place_plan *plan = in->plan;
    size_t nm = in->manifest ? in->manifest->n_models : 0;
    x->v = calloc(plan->n_placements + 1, sizeof *x->v);
    const plan_model **sorted = malloc((nm + 1) * sizeof *sorted);
    if (!x->v || !sorted) {
        free(sorted);
        return vp_errf(e, -ENOMEM, "export: out of memory");
    }
    x->n = plan->n_placements;
    for (size_t i = 0; i < nm; i++)
        sorted[i] = &in->manifest->models[i];
    qsort(sorted, nm, sizeof *sorted, cmp_model_ptr);
    int rc = resolve(x, sorted, need_memory, own_ports, e);
    free(sorted);
    if (!rc) rc = set_heads(plan, x->v, e);
    if (!rc) rc = unique_names(x, e);
    return rc;
}

void plan_xp_free(xplan *x)
{
    free(x->v);
    plan_fleet_free(x->builtin);
    memset(x, 0, sizeof *x);
}

/* -------------------------------------------------------------------------------------- CSV */

static void csv_field(vp_sb *sb, const char *s, bool last)
{
    bool formula = s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@';
    bool quote = formula || strpbrk(s, ",\"\r\n") != NULL;
    if (quote) vp_sb_printf(sb, "\"%s", formula ? "'" : "");
    for (const char *p = s; *p; p++)
        vp_sb_append(sb, *p == '"' ? "\"\"" : p, *p == '"' ? 2 : 1); /* " is "" when quoted */
    vp_sb_printf(sb, "%s%s", quote ? "\"" : "", last ? "\r\n" : ",");
}

static const char *const csv_header[] = {"id",
                                         "model",
                                         "replica",
                                         "stage",
                                         "stages",
                                         "node",
                                         "node_type",
                                         "inventory",
                                         "node_price_per_hour",
                                         "gpu_model",
                                         "gpu_count",
                                         "gpus",
                                         "bytes_per_gpu",
                                         "gpu_usable_bytes",
                                         "gpu_memory_bytes",
                                         "memory_fraction",
                                         "est_tpot_ms"};

static void csv_row(vp_sb *sb, const xslice *xs)
{
    const place_placement *pl = xs->s.pl;
    const place_node *n = xs->s.node;
    char v[VP_ARRAY_LEN(csv_header)][PLACE_NAME_MAX * 2];
    size_t k = 0;
    snprintf(v[k++], sizeof v[0], "%s", pl->id);
    snprintf(v[k++], sizeof v[0], "%s", pl->model);
    snprintf(v[k++], sizeof v[0], "%u", pl->replica);
    snprintf(v[k++], sizeof v[0], "%s", "");
    if (pl->stage >= 0) snprintf(v[k - 1], sizeof v[0], "%d", pl->stage);
    snprintf(v[k++], sizeof v[0], "%d", pl->n_stages > 0 ? pl->n_stages : 1);
    snprintf(v[k++], sizeof v[0], "%s", n->name);
    snprintf(v[k++], sizeof v[0], "%s", n->type);
    snprintf(v[k++], sizeof v[0], "%s", n->inventory ? "true" : "false");
    snprintf(v[k++], sizeof v[0], "%.4f", n->price_per_hour);
    snprintf(v[k++], sizeof v[0], "%s", n->gpus[pl->gpus[0]].model);
    snprintf(v[k++], sizeof v[0], "%d", pl->n_gpus);
    size_t o = 0;
    for (int g = 0; g < pl->n_gpus; g++)
        o += (size_t)snprintf(v[k] + o, sizeof v[0] - o, "%s%u", g ? ";" : "", pl->gpus[g]);
    k++;
    snprintf(v[k++], sizeof v[0], "%llu", (unsigned long long)pl->bytes_per_gpu);
    snprintf(v[k++], sizeof v[0], "%llu", (unsigned long long)xs->s.gpu_usable_bytes);
    snprintf(v[k++], sizeof v[0], "%s", "");
    if (xs->s.gpu_memory_bytes)
        snprintf(v[k - 1], sizeof v[0], "%llu", (unsigned long long)xs->s.gpu_memory_bytes);
    snprintf(v[k++], sizeof v[0], "%s", "");
    if (xs->s.gpu_memory_bytes) snprintf(v[k - 1], sizeof v[0], "%.4f", xs->s.fraction);
    snprintf(v[k++], sizeof v[0], "%s", "");
    if (pl->est_tpot_ms > 0) snprintf(v[k - 1], sizeof v[0], "%.3f", pl->est_tpot_ms);
    for (size_t i = 0; i < k; i++)
        csv_field(sb, v[i], i + 1 == k);
}

static void write_csv(const xplan *x, vp_sb *sb)
{
    for (size_t i = 0; i < VP_ARRAY_LEN(csv_header); i++)
        csv_field(sb, csv_header[i], i + 1 == VP_ARRAY_LEN(csv_header));
    for (size_t i = 0; i < x->n; i++)
        csv_row(sb, &x->v[i]);
}

/* ------------------------------------------------------------------------------------- door */

int plan_export(const plan_export_input *in, plan_export_fmt fmt, plan_export_out *out, vp_err *e)
{
    memset(out, 0, sizeof *out);
    xplan x;
    int rc = plan_xp_build(in, fmt != PLAN_EXPORT_CSV, fmt == PLAN_EXPORT_VLLM, &x, e);
    vp_sb sb = {0};
    if (!rc) {
        if (fmt == PLAN_EXPORT_K8S)
            rc = plan_xp_k8s(&x, &sb, e);
        else if (fmt == PLAN_EXPORT_VLLM)
            rc = plan_xp_shell(&x, &sb, e);
        else
            write_csv(&x, &sb);
    }
    if (!rc && !vp_sb_ok(&sb)) rc = vp_errf(e, -ENOMEM, "export: out of memory");
    if (!rc) {
        out->text = vp_sb_steal(&sb);
        snprintf(out->note, sizeof out->note, "%s", x.note);
    }
    vp_sb_free(&sb);
    plan_xp_free(&x);
    return rc;
}
