/* planjson.c - the plan file (DESIGN.md "The plan"): write and read back.
 *
 * Byte counts are written as JSON integers (exact up to 2^53, far above any GPU); placements name
 * their node, not an index, so a plan file stays meaningful when read by another program. Reading
 * rebuilds used_bytes from the placements and refuses a plan that overcommits a GPU.
 *
 * What an engine's flags need travels with the plan: each placement repeats its GPU model and the
 * usable bytes of its GPUs, and, when the plan is written with its fleet, the physical bytes
 * (memory_bytes) of every GPU and of each placement's GPUs, so `bytes_per_gpu / gpu_memory_bytes`
 * is the share of the GPU the engine may take. These repeated fields are derived: a reader
 * ignores them, except the GPUs' memory_bytes, which it checks and hands out
 * (plan_from_json_totals). Files without them, written before they existed, read as before. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "planjson.h"
#include "vp_json.h"

/* Physical bytes of GPU model `model` in fleet f, 0 when f is NULL or does not know it. */
static uint64_t gpu_memory(const plan_fleet *f, const char *model)
{
    const plan_gpu_model *g = f ? plan_fleet_gpu(f, model) : NULL;
    return g ? g->memory_bytes : 0;
}

static cJSON *node_json(const place_node *n, const plan_fleet *f)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", n->name);
    cJSON_AddStringToObject(o, "type", n->type);
    cJSON_AddNumberToObject(o, "price_per_hour", n->price_per_hour);
    if (n->inventory) cJSON_AddBoolToObject(o, "inventory", 1);
    if (n->spare) cJSON_AddBoolToObject(o, "spare", 1);
    cJSON *gpus = cJSON_AddArrayToObject(o, "gpus");
    for (int g = 0; g < n->n_gpus; g++) {
        const place_gpu *gp = &n->gpus[g];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "index", g);
        cJSON_AddStringToObject(x, "model", gp->model);
        cJSON_AddNumberToObject(x, "usable_bytes", (double)gp->usable_bytes);
        cJSON_AddNumberToObject(x, "used_bytes", (double)gp->used_bytes);
        uint64_t mem = gpu_memory(f, gp->model);
        if (mem >= gp->usable_bytes && mem) cJSON_AddNumberToObject(x, "memory_bytes", (double)mem);
        if (gp->bandwidth_gbs) cJSON_AddNumberToObject(x, "bandwidth_gbs", gp->bandwidth_gbs);
        cJSON_AddItemToArray(gpus, x);
    }
    return o;
}

static double round_to(double x, double unit) { return round(x / unit) * unit; }

/* The GPU facts of one placement: model, and the smallest usable and physical bytes among its
 * GPUs (all of one model on the nodes vrampack builds; the smallest is the safe one if not). */
static void placement_gpus_json(cJSON *x, const place_node *n, const place_placement *pl,
                                const plan_fleet *f)
{
    uint64_t usable = 0, mem = 0;
    bool mem_known = f != NULL;
    for (int k = 0; k < pl->n_gpus; k++) {
        const place_gpu *gp = &n->gpus[pl->gpus[k]];
        uint64_t m = gpu_memory(f, gp->model);
        if (!k || gp->usable_bytes < usable) usable = gp->usable_bytes;
        if (!m || m < gp->usable_bytes) mem_known = false;
        if (!k || m < mem) mem = m;
    }
    cJSON_AddStringToObject(x, "gpu_model", n->gpus[pl->gpus[0]].model);
    cJSON_AddNumberToObject(x, "gpu_usable_bytes", (double)usable);
    if (mem_known) cJSON_AddNumberToObject(x, "gpu_memory_bytes", (double)mem);
}

char *plan_to_json(const place_plan *p)
{
    return plan_to_json_fleet(p, NULL);
}

char *plan_to_json_fleet(const place_plan *p, const plan_fleet *f)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "version", 1);
    cJSON_AddStringToObject(o, "solver", p->solver);
    cJSON_AddStringToObject(o, "status", p->status);
    cJSON_AddNumberToObject(o, "cost_per_hour", round_to(p->cost_per_hour, 1e-4));
    cJSON_AddNumberToObject(o, "lower_bound_per_hour", round_to(p->lower_bound_per_hour, 1e-4));
    cJSON_AddNumberToObject(o, "gap", round_to(p->gap, 1e-6));
    cJSON_AddNumberToObject(o, "solve_ms", (double)p->solve_ms);
    if (f) cJSON_AddNumberToObject(o, "gpu_memory_utilization", f->util_ppm / 1e6);
    cJSON *nodes = cJSON_AddArrayToObject(o, "nodes");
    for (size_t i = 0; i < p->n_nodes; i++) cJSON_AddItemToArray(nodes, node_json(&p->nodes[i], f));
    cJSON *pls = cJSON_AddArrayToObject(o, "placements");
    for (size_t i = 0; i < p->n_placements; i++) {
        const place_placement *pl = &p->placements[i];
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "id", pl->id);
        cJSON_AddStringToObject(x, "model", pl->model);
        cJSON_AddNumberToObject(x, "replica", pl->replica);
        if (pl->stage >= 0) {
            cJSON_AddNumberToObject(x, "stage", pl->stage);
            cJSON_AddNumberToObject(x, "stages", pl->n_stages);
        }
        cJSON_AddStringToObject(x, "node", p->nodes[pl->node].name);
        cJSON *g = cJSON_AddArrayToObject(x, "gpus");
        for (int k = 0; k < pl->n_gpus; k++) cJSON_AddItemToArray(g, cJSON_CreateNumber(pl->gpus[k]));
        cJSON_AddNumberToObject(x, "bytes_per_gpu", (double)pl->bytes_per_gpu);
        placement_gpus_json(x, &p->nodes[pl->node], pl, f);
        if (pl->est_tpot_ms > 0)
            cJSON_AddNumberToObject(x, "est_tpot_ms", round_to(pl->est_tpot_ms, 1e-3));
        cJSON_AddItemToArray(pls, x);
    }
    cJSON *un = cJSON_AddArrayToObject(o, "unplaced");
    for (size_t i = 0; i < p->n_unplaced; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "model", p->unplaced[i].model);
        cJSON_AddNumberToObject(x, "replica", p->unplaced[i].replica);
        cJSON_AddStringToObject(x, "reason", p->unplaced[i].reason);
        cJSON_AddItemToArray(un, x);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* 1 PiB: far above any GPU, small enough to stay exact in a double. */
#define MAX_GPU_MEMORY (1ULL << 50)

static int read_node(const cJSON *o, const char *ctx, place_node *n, uint64_t *mem, vp_err *e)
{
    int rc;
    memset(n, 0, sizeof *n);
    if (!cJSON_IsObject(o)) return vp_errf(e, VP_EINPUT, "%s: must be an object", ctx);
    if ((rc = vp_json_str(o, "name", ctx, true, n->name, sizeof n->name, e))) return rc;
    if ((rc = vp_json_str(o, "type", ctx, false, n->type, sizeof n->type, e)) < 0) return rc;
    if ((rc = vp_json_double(o, "price_per_hour", ctx, false, 0, 1e6, &n->price_per_hour, e)) < 0)
        return rc;
    if ((rc = vp_json_bool(o, "inventory", ctx, false, &n->inventory, e)) < 0) return rc;
    if ((rc = vp_json_bool(o, "spare", ctx, false, &n->spare, e)) < 0) return rc;
    const cJSON *gpus = cJSON_GetObjectItemCaseSensitive(o, "gpus");
    int ng = cJSON_GetArraySize(gpus);
    if (!cJSON_IsArray(gpus) || ng < 1 || ng > PLACE_MAX_GPUS)
        return vp_errf(e, VP_EINPUT, "%s.gpus: must be an array of 1..%d GPUs", ctx,
                       PLACE_MAX_GPUS);
    n->n_gpus = ng;
    int g = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, gpus)
    {
        char gctx[360];
        snprintf(gctx, sizeof gctx, "%s.gpus[%d]", ctx, g);
        place_gpu *gp = &n->gpus[g++];
        if ((rc = vp_json_str(x, "model", gctx, false, gp->model, sizeof gp->model, e)) < 0)
            return rc;
        if ((rc = vp_json_u64(x, "usable_bytes", gctx, true, 0, UINT64_MAX, &gp->usable_bytes, e)))
            return rc;
        if ((rc = vp_json_u32(x, "bandwidth_gbs", gctx, false, 0, 1000000, &gp->bandwidth_gbs,
                              e)) < 0)
            return rc;
        /* Physical bytes, when given, hold at least the usable ones. */
        uint64_t m = 0;
        rc = vp_json_u64(x, "memory_bytes", gctx, false, gp->usable_bytes ? gp->usable_bytes : 1,
                         MAX_GPU_MEMORY, &m, e);
        if (rc < 0) return rc;
        mem[g - 1] = m;
    }
    return 0;
}

void plan_gpu_totals_free(plan_gpu_totals *t)
{
    if (!t) return;
    free(t->memory_bytes);
    memset(t, 0, sizeof *t);
}

int plan_from_json(const char *buf, size_t len, const char *what, place_plan **out, vp_err *e)
{
    return plan_from_json_totals(buf, len, what, out, NULL, e);
}

int plan_from_json_totals(const char *buf, size_t len, const char *what, place_plan **out,
                          plan_gpu_totals *totals, vp_err *e)
{
    cJSON *root;
    uint64_t (*mem)[PLACE_MAX_GPUS] = NULL;
    if (totals) memset(totals, 0, sizeof *totals);
    int rc = vp_json_parse(buf, len, what, &root, e);
    if (rc) return rc;
    place_plan *p = place_plan_new();
    if (!p) { cJSON_Delete(root); return vp_errf(e, -ENOMEM, "out of memory"); }
    char ctx[300];
    const cJSON *arr, *o;
    int i;
    if (!cJSON_IsObject(root)) { rc = vp_errf(e, VP_EINPUT, "%s: must be a JSON object", what); goto fail; }
    uint32_t version;
    if ((rc = vp_json_u32(root, "version", what, true, 1, 1, &version, e))) goto fail;
    if ((rc = vp_json_str(root, "solver", what, false, p->solver, sizeof p->solver, e)) < 0) goto fail;
    if ((rc = vp_json_str(root, "status", what, false, p->status, sizeof p->status, e)) < 0) goto fail;
    if ((rc = vp_json_double(root, "lower_bound_per_hour", what, false, 0, 1e12,
                             &p->lower_bound_per_hour, e)) < 0)
        goto fail;
    if ((rc = vp_json_u64(root, "solve_ms", what, false, 0, UINT64_MAX, &p->solve_ms, e)) < 0)
        goto fail;
    double util = 0;
    if ((rc = vp_json_double(root, "gpu_memory_utilization", what, false, 0.01, 1.0, &util, e)) < 0)
        goto fail;
    arr = cJSON_GetObjectItemCaseSensitive(root, "nodes");
    if (!cJSON_IsArray(arr)) { rc = vp_errf(e, VP_EINPUT, "%s.nodes: missing or not an array", what); goto fail; }
    mem = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof *mem);
    if (!mem) { rc = vp_errf(e, -ENOMEM, "out of memory"); goto fail; }
    i = 0;
    cJSON_ArrayForEach(o, arr)
    {
        snprintf(ctx, sizeof ctx, "%s: nodes[%d]", what, i);
        place_node n;
        if ((rc = read_node(o, ctx, &n, mem[i++], e))) goto fail;
        for (size_t k = 0; k < p->n_nodes; k++)
            if (!strcmp(p->nodes[k].name, n.name)) {
                rc = vp_errf(e, VP_EDUP, "%s.name: \"%s\" appears twice", ctx, n.name);
                goto fail;
            }
        if ((rc = place_plan_add_node(p, &n)) < 0) goto fail;
    }
    arr = cJSON_GetObjectItemCaseSensitive(root, "placements");
    if (!cJSON_IsArray(arr)) { rc = vp_errf(e, VP_EINPUT, "%s.placements: missing or not an array", what); goto fail; }
    i = 0;
    cJSON_ArrayForEach(o, arr)
    {
        snprintf(ctx, sizeof ctx, "%s: placements[%d]", what, i++);
        if (!cJSON_IsObject(o)) { rc = vp_errf(e, VP_EINPUT, "%s: must be an object", ctx); goto fail; }
        char model[PLACE_NAME_MAX], node[PLACE_NAME_MAX];
        uint32_t replica, stage = 0, stages = 1;
        uint64_t bytes;
        if ((rc = vp_json_str(o, "model", ctx, true, model, sizeof model, e))) goto fail;
        if ((rc = vp_json_str(o, "node", ctx, true, node, sizeof node, e))) goto fail;
        if ((rc = vp_json_u32(o, "replica", ctx, true, 0, PLAN_MAX_REPLICAS, &replica, e))) goto fail;
        int has_stage = vp_json_u32(o, "stage", ctx, false, 0, PLAN_MAX_PP - 1, &stage, e);
        if (has_stage < 0) { rc = has_stage; goto fail; }
        if ((rc = vp_json_u32(o, "stages", ctx, false, 1, PLAN_MAX_PP, &stages, e)) < 0) goto fail;
        if (has_stage == 0 && stage >= stages) {
            rc = vp_errf(e, VP_EINPUT, "%s.stage: %u is not below stages %u", ctx, stage, stages);
            goto fail;
        }
        if ((rc = vp_json_u64(o, "bytes_per_gpu", ctx, true, 0, UINT64_MAX, &bytes, e))) goto fail;
        int ni = -1;
        for (size_t k = 0; k < p->n_nodes; k++)
            if (!strcmp(p->nodes[k].name, node)) ni = (int)k;
        if (ni < 0) { rc = vp_errf(e, VP_EINPUT, "%s.node: \"%s\" is not in nodes", ctx, node); goto fail; }
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "gpus"), *x;
        int ngp = cJSON_GetArraySize(g);
        if (!cJSON_IsArray(g) || ngp < 1 || ngp > PLACE_MAX_GPUS) {
            rc = vp_errf(e, VP_EINPUT, "%s.gpus: must be an array of GPU indices", ctx);
            goto fail;
        }
        uint8_t gpus[PLACE_MAX_GPUS];
        int k = 0;
        cJSON_ArrayForEach(x, g)
        {
            if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble >= PLACE_MAX_GPUS ||
                x->valuedouble != floor(x->valuedouble)) {
                rc = vp_errf(e, VP_EINPUT, "%s.gpus[%d]: must be a GPU index", ctx, k);
                goto fail;
            }
            gpus[k++] = (uint8_t)x->valuedouble;
        }
        /* Repeated ids are caught by place_plan_validate once all are read. */
        rc = place_plan_assign(p, model, replica, has_stage == 0 ? (int)stage : -1, (int)stages,
                               ni, gpus, ngp, bytes);
        if (rc == VP_ENOSPACE) {
            rc = vp_errf(e, VP_EINPUT, "%s: GPU of node %s overcommitted", ctx, node);
            goto fail;
        }
        if (rc < 0) { rc = vp_errf(e, VP_EINPUT, "%s.gpus: GPU indices repeated or out of range for node %s", ctx, node); goto fail; }
    }
    arr = cJSON_GetObjectItemCaseSensitive(root, "unplaced");
    if (arr && !cJSON_IsArray(arr)) { rc = vp_errf(e, VP_EINPUT, "%s.unplaced: must be an array", what); goto fail; }
    i = 0;
    cJSON_ArrayForEach(o, arr)
    {
        snprintf(ctx, sizeof ctx, "%s: unplaced[%d]", what, i++);
        char model[PLACE_NAME_MAX], reason[PLACE_REASON_MAX] = "";
        uint32_t replica;
        if (!cJSON_IsObject(o)) { rc = vp_errf(e, VP_EINPUT, "%s: must be an object", ctx); goto fail; }
        if ((rc = vp_json_str(o, "model", ctx, true, model, sizeof model, e))) goto fail;
        if ((rc = vp_json_u32(o, "replica", ctx, true, 0, PLAN_MAX_REPLICAS, &replica, e))) goto fail;
        if ((rc = vp_json_str(o, "reason", ctx, false, reason, sizeof reason, e)) < 0) goto fail;
        if ((rc = place_plan_add_unplaced(p, model, replica, reason))) goto fail;
    }
    char why[300];
    if (place_plan_validate(p, why, sizeof why)) {
        rc = vp_errf(e, VP_EINPUT, "%s: %s", what, why);
        goto fail;
    }
    place_plan_update_cost(p);
    if (p->lower_bound_per_hour > p->cost_per_hour) p->lower_bound_per_hour = p->cost_per_hour;
    place_plan_update_cost(p);
    cJSON_Delete(root);
    if (totals) {
        totals->memory_bytes = mem;
        totals->n_nodes = p->n_nodes;
        totals->gpu_memory_utilization = util;
    } else {
        free(mem);
    }
    *out = p;
    return 0;
fail:
    free(mem);
    cJSON_Delete(root);
    place_plan_free(p);
    return rc;
}
