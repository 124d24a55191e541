/* fleet.c - reads a fleet file: extra GPU models, the instance catalog that may be bought, the
 * inventory of nodes that exist, and gpu_memory_utilization (DESIGN.md "Inputs").
 *
 * The built-in GPU models always stay available (a file may add more, or redefine one by name);
 * a file's "catalog" replaces the built-in instance types, and a file without one can only use
 * its inventory. An inventory node names an instance type (from the file's catalog or the
 * built-in one) or gives its GPUs directly. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "planner.h"
#include "vp_json.h"

#define MAX_ENTRIES 100000
#define MAX_GPU_BYTES (1ULL << 42) /* 4 TiB per GPU */

static const char *const fleet_keys[] = {"gpu_models", "catalog", "nodes", "include_builtin",
                                         "gpu_memory_utilization", "name", "description", NULL};

int plan_tier_parse(const char *s, plan_tier *out)
{
    static const struct {
        const char *name;
        plan_tier t;
    } names[] = {{"on_demand", PLAN_TIER_ON_DEMAND}, {"on-demand", PLAN_TIER_ON_DEMAND},
                 {"spot", PLAN_TIER_SPOT},           {"reserved", PLAN_TIER_RESERVED}};
    for (size_t i = 0; s && i < VP_ARRAY_LEN(names); i++)
        if (!strcmp(s, names[i].name)) {
            *out = names[i].t;
            return 0;
        }
    return VP_ENOTFOUND;
}

const char *plan_tier_name(plan_tier t)
{
    return t == PLAN_TIER_SPOT ? "spot" : t == PLAN_TIER_RESERVED ? "reserved" : "on_demand";
}

/* tier and interruptions_per_hour of a catalog entry or node: only spot capacity is reclaimed. */
static int parse_tier(const cJSON *o, const char *ctx, plan_tier *tier, double *iph, vp_err *e)
{
    char s[32];
    int rc = vp_json_str(o, "tier", ctx, false, s, sizeof s, e);
    if (rc < 0) return rc;
    if (rc == 0 && plan_tier_parse(s, tier))
        return vp_errf(e, VP_EINPUT, "%s.tier: \"%s\" is not on_demand, spot or reserved", ctx, s);
    rc = vp_json_double(o, "interruptions_per_hour", ctx, false, 0.0, 1000.0, iph, e);
    if (rc < 0) return rc;
    if (rc == 0 && *tier != PLAN_TIER_SPOT)
        return vp_errf(e, VP_EINPUT, "%s.interruptions_per_hour: only spot capacity is reclaimed "
                       "(tier is %s)", ctx, plan_tier_name(*tier));
    return 0;
}

/* "gpus": {"A10G": 4} - exactly one GPU model per node. */
static int parse_gpus(const cJSON *o, const char *ctx, const plan_fleet *f, char *gpu, int *n,
                      vp_err *e)
{
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "gpus");
    if (!cJSON_IsObject(g) || cJSON_GetArraySize(g) != 1 || !g->child)
        return vp_errf(e, VP_EINPUT,
                       "%s.gpus: must be an object with one GPU model and its count, e.g. "
                       "{\"A10G\": 4}",
                       ctx);
    const char *name = g->child->string;
    const plan_gpu_model *gm = plan_fleet_gpu(f, name);
    if (!gm) return vp_errf(e, VP_ENOTFOUND, "%s.gpus: unknown GPU model \"%s\"", ctx, name);
    uint32_t count;
    char gctx[360];
    snprintf(gctx, sizeof gctx, "%s.gpus", ctx);
    int rc = vp_json_u32(g, name, gctx, true, 1, PLACE_MAX_GPUS, &count, e);
    if (rc) return rc;
    snprintf(gpu, PLACE_TYPE_MAX, "%s", gm->name);
    *n = (int)count;
    return 0;
}

static int parse_gpu_models(const cJSON *arr, const char *what, plan_fleet *f, vp_err *e)
{
    if (!cJSON_IsArray(arr)) return vp_errf(e, VP_EINPUT, "%s.gpu_models: must be an array", what);
    static const char *const keys[] = {"name",       "memory_bytes", "bandwidth_gbs",
                                       "cuda_bytes", "tflops_bf16",  "tflops_fp8",
                                       "source",     NULL};
    int i = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, arr)
    {
        char ctx[300];
        snprintf(ctx, sizeof ctx, "%s: gpu_models[%d]", what, i++);
        if (!cJSON_IsObject(o)) return vp_errf(e, VP_EINPUT, "%s: must be an object", ctx);
        plan_gpu_model g = {0};
        int rc;
        if ((rc = vp_json_only_keys(o, keys, ctx, e))) return rc;
        if ((rc = vp_json_str(o, "name", ctx, true, g.name, sizeof g.name, e))) return rc;
        if ((rc =
                 vp_json_bytes(o, "memory_bytes", ctx, true, 1, MAX_GPU_BYTES, &g.memory_bytes, e)))
            return rc;
        if ((rc = vp_json_u32(o, "bandwidth_gbs", ctx, false, 1, 1000000, &g.bandwidth_gbs, e)) <
            0)
            return rc;
        if ((rc = vp_json_bytes(o, "cuda_bytes", ctx, false, 1, g.memory_bytes, &g.cuda_bytes, e)) <
            0)
            return rc;
        if ((rc = vp_json_u32(o, "tflops_bf16", ctx, false, 1, 1000000, &g.tflops_bf16, e)) < 0 ||
            (rc = vp_json_u32(o, "tflops_fp8", ctx, false, 1, 1000000, &g.tflops_fp8, e)) < 0)
            return rc;
        plan_gpu_model *same = NULL;
        for (size_t k = 0; k < f->n_gpus; k++)
            if (!strcmp(f->gpus[k].name, g.name)) same = &f->gpus[k];
        if (same) {
            *same = g; /* a file may correct a built-in figure */
            continue;
        }
        plan_gpu_model *a = realloc(f->gpus, (f->n_gpus + 1) * sizeof *a);
        if (!a) return vp_errf(e, -ENOMEM, "%s: out of memory", ctx);
        f->gpus = a;
        f->gpus[f->n_gpus++] = g;
    }
    return 0;
}

static int parse_catalog(const cJSON *arr, const char *what, plan_fleet *f, vp_err *e)
{
    if (!cJSON_IsArray(arr)) return vp_errf(e, VP_EINPUT, "%s.catalog: must be an array", what);
    int n = cJSON_GetArraySize(arr);
    if (n > MAX_ENTRIES) return vp_errf(e, VP_ETOOBIG, "%s.catalog: too many entries", what);
    free(f->types);
    f->types = calloc(n ? (size_t)n : 1, sizeof *f->types);
    f->n_types = 0;
    if (!f->types) return vp_errf(e, -ENOMEM, "%s: out of memory", what);
    static const char *const keys[] = {"type",   "gpus", "price_per_hour", "max_count",
                                       "source", "tier", "interruptions_per_hour", NULL};
    const cJSON *o;
    cJSON_ArrayForEach(o, arr)
    {
        char ctx[300];
        snprintf(ctx, sizeof ctx, "%s: catalog[%zu]", what, f->n_types);
        if (!cJSON_IsObject(o)) return vp_errf(e, VP_EINPUT, "%s: must be an object", ctx);
        plan_instance t = {.max_count = -1};
        int rc;
        if ((rc = vp_json_only_keys(o, keys, ctx, e))) return rc;
        if ((rc = vp_json_str(o, "type", ctx, true, t.type, sizeof t.type, e))) return rc;
        snprintf(ctx, sizeof ctx, "%s: catalog[%zu] (%s)", what, f->n_types, t.type);
        if ((rc = parse_gpus(o, ctx, f, t.gpu, &t.n_gpus, e))) return rc;
        if ((rc = vp_json_double(o, "price_per_hour", ctx, true, 0.0, 1e6, &t.price_per_hour, e)))
            return rc;
        uint32_t mc;
        rc = vp_json_u32(o, "max_count", ctx, false, 0, 1000000, &mc, e);
        if (rc < 0) return rc;
        if (rc == 0) t.max_count = (int)mc;
        if ((rc = parse_tier(o, ctx, &t.tier, &t.interruptions_per_hour, e))) return rc;
        for (size_t k = 0; k < f->n_types; k++)
            if (!strcmp(f->types[k].type, t.type))
                return vp_errf(e, VP_EDUP, "%s.type: \"%s\" is already catalog[%zu]", ctx, t.type,
                               k);
        f->types[f->n_types++] = t;
    }
    return 0;
}

static int parse_nodes(const cJSON *arr, const char *what, plan_fleet *f,
                       const plan_fleet *builtin, vp_err *e)
{
    if (!cJSON_IsArray(arr)) return vp_errf(e, VP_EINPUT, "%s.nodes: must be an array", what);
    int n = cJSON_GetArraySize(arr);
    if (n > MAX_ENTRIES) return vp_errf(e, VP_ETOOBIG, "%s.nodes: too many entries", what);
    static const char *const keys[] = {"name", "type", "gpus", "price_per_hour", "tier",
                                       "interruptions_per_hour", NULL};
    int i = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, arr)
    {
        char ctx[300];
        snprintf(ctx, sizeof ctx, "%s: nodes[%d]", what, i++);
        if (!cJSON_IsObject(o)) return vp_errf(e, VP_EINPUT, "%s: must be an object", ctx);
        plan_inv_node nd = {0};
        int rc;
        if ((rc = vp_json_only_keys(o, keys, ctx, e))) return rc;
        if ((rc = vp_json_str(o, "name", ctx, true, nd.name, sizeof nd.name, e))) return rc;
        snprintf(ctx, sizeof ctx, "%s: nodes[%d] (%s)", what, i - 1, nd.name);
        rc = vp_json_str(o, "type", ctx, false, nd.type, sizeof nd.type, e);
        if (rc < 0) return rc;
        bool have_type = rc == 0;
        bool have_gpus = cJSON_GetObjectItemCaseSensitive(o, "gpus") != NULL;
        if (have_gpus) {
            if ((rc = parse_gpus(o, ctx, f, nd.gpu, &nd.n_gpus, e))) return rc;
            if (!have_type) strcpy(nd.type, "custom");
        } else if (have_type) {
            const plan_instance *t = NULL;
            for (size_t k = 0; k < f->n_types && !t; k++)
                if (!strcmp(f->types[k].type, nd.type)) t = &f->types[k];
            for (size_t k = 0; builtin && k < builtin->n_types && !t; k++)
                if (!strcmp(builtin->types[k].type, nd.type)) t = &builtin->types[k];
            if (!t)
                return vp_errf(e, VP_ENOTFOUND,
                               "%s.type: unknown instance type \"%s\" (not in the catalog; give "
                               "\"gpus\" instead)",
                               ctx, nd.type);
            snprintf(nd.gpu, sizeof nd.gpu, "%s", t->gpu);
            nd.n_gpus = t->n_gpus;
            nd.price_per_hour = t->price_per_hour;
            nd.tier = t->tier;
            nd.interruptions_per_hour = t->interruptions_per_hour;
        } else {
            return vp_errf(e, VP_EINPUT, "%s: needs \"type\" (an instance type) or \"gpus\"", ctx);
        }
        rc = vp_json_double(o, "price_per_hour", ctx, false, 0.0, 1e6, &nd.price_per_hour, e);
        if (rc < 0) return rc;
        if ((rc = parse_tier(o, ctx, &nd.tier, &nd.interruptions_per_hour, e))) return rc;
        for (size_t k = 0; k < f->n_nodes; k++)
            if (!strcmp(f->nodes[k].name, nd.name))
                return vp_errf(e, VP_EDUP, "%s.name: \"%s\" is already nodes[%zu]", ctx, nd.name,
                               k);
        if (plan_fleet_add_node(f, &nd)) return vp_errf(e, -ENOMEM, "%s: out of memory", ctx);
    }
    return 0;
}

/* "include_builtin": ["on_demand", "spot", "gpu_clouds"]: parts of the built-in catalog added to
 * the file's. */
static int parse_include(const cJSON *arr, const char *what, plan_fleet *f, vp_err *e)
{
    if (!cJSON_IsArray(arr) || !cJSON_GetArraySize(arr))
        return vp_errf(e, VP_EINPUT, "%s.include_builtin: must be a non-empty array of on_demand, "
                       "spot, gpu_clouds", what);
    unsigned parts = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        const char *s = cJSON_IsString(it) ? it->valuestring : "";
        unsigned p = !strcmp(s, "on_demand") ? PLAN_CATALOG_ON_DEMAND
                     : !strcmp(s, "spot")    ? PLAN_CATALOG_SPOT
                     : !strcmp(s, "gpu_clouds") ? PLAN_CATALOG_GPU_CLOUDS
                                                : 0;
        if (!p)
            return vp_errf(e, VP_EINPUT, "%s.include_builtin: \"%.32s\" is not on_demand, spot or "
                           "gpu_clouds", what, s);
        parts |= p;
    }
    if (plan_fleet_add_builtin(f, parts)) return vp_errf(e, -ENOMEM, "%s: out of memory", what);
    return 0;
}

int plan_fleet_parse(const char *buf, size_t len, const char *what, plan_fleet **out, vp_err *e)
{
    cJSON *root;
    int rc = vp_json_parse(buf, len, what, &root, e);
    if (rc) return rc;
    plan_fleet *builtin = plan_fleet_builtin();
    plan_fleet *f = plan_fleet_builtin();
    if (!f || !builtin) { rc = vp_errf(e, -ENOMEM, "%s: out of memory", what); goto done; }
    snprintf(f->source, sizeof f->source, "%s", what);
    if (!cJSON_IsObject(root)) { rc = vp_errf(e, VP_EINPUT, "%s: must be a JSON object", what); goto done; }
    if ((rc = vp_json_only_keys(root, fleet_keys, what, e))) goto done;
    double util = 0.9;
    rc = vp_json_double(root, "gpu_memory_utilization", what, false, 0.01, 1.0, &util, e);
    if (rc < 0) goto done;
    f->util_ppm = (uint32_t)llround(util * 1e6);
    const cJSON *gm = cJSON_GetObjectItemCaseSensitive(root, "gpu_models");
    if (gm && (rc = parse_gpu_models(gm, what, f, e))) goto done;
    const cJSON *cat = cJSON_GetObjectItemCaseSensitive(root, "catalog");
    const cJSON *nodes = cJSON_GetObjectItemCaseSensitive(root, "nodes");
    if (!cat && !nodes && !cJSON_GetObjectItemCaseSensitive(root, "include_builtin")) {
        rc = vp_errf(e, VP_EINPUT, "%s: needs \"catalog\" (types to buy), \"nodes\" (inventory), "
                     "\"include_builtin\" or several", what);
        goto done;
    }
    if (cat) {
        if ((rc = parse_catalog(cat, what, f, e))) goto done;
    } else {
        free(f->types); /* inventory only: nothing may be bought */
        f->types = NULL;
        f->n_types = 0;
    }
    const cJSON *inc = cJSON_GetObjectItemCaseSensitive(root, "include_builtin");
    if (inc && (rc = parse_include(inc, what, f, e))) goto done;
    if (nodes && (rc = parse_nodes(nodes, what, f, builtin, e))) goto done;
    rc = 0;
done:
    cJSON_Delete(root);
    plan_fleet_free(builtin);
    if (rc) plan_fleet_free(f);
    else *out = f;
    return rc;
}

int plan_fleet_load(const char *path, plan_fleet **out, vp_err *e)
{
    char *buf;
    size_t len;
    int rc = vp_read_file(path, PLAN_MAX_FILE_BYTES, &buf, &len, e);
    if (rc) return rc;
    rc = plan_fleet_parse(buf, len, path, out, e);
    free(buf);
    return rc;
}
