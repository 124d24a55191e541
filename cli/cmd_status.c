/* cmd_status.c - `vrampack status --api HOST:PORT`: a running controller's nodes and placements,
 * as tables for people or (--json) as one object {"nodes": [...], "placements": [...]} made of
 * the API's GET /v1/nodes and GET /v1/placements answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "http_client.h"
#include "vp_json.h"

#define STATUS_TIMEOUT_MS 30000

static void usage(FILE *f)
{
    fprintf(f, "usage: vrampack status --api HOST:PORT [--token-file F] [--json]\n\n"
               "Shows the controller's nodes (ready or lost, GPUs, bytes planned per GPU, last\n"
               "heartbeat) and every placement with its state (pending, starting, running,\n"
               "failed, stopped, unplaced).\n");
}

static cJSON *fetch(const char *api, const char *token, const char *path, int *code)
{
    cli_http_resp r;
    char err[512];
    if (cli_http_request(api, "GET", path, token, NULL, 0, STATUS_TIMEOUT_MS, &r, err,
                         sizeof err)) {
        fprintf(stderr, "vrampack status: %s\n", err);
        *code = CLI_FAIL;
        return NULL;
    }
    cJSON *j = cJSON_Parse(r.body);
    if (r.status != 200 || !j) {
        const cJSON *msg = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
        fprintf(stderr, "vrampack status: %s: HTTP %d: %s\n", path, r.status,
                cJSON_IsString(msg) ? msg->valuestring : "not a JSON answer");
        cJSON_Delete(j);
        j = NULL;
        *code = r.status == 401 ? CLI_USAGE : CLI_FAIL;
    }
    cli_http_resp_free(&r);
    return j;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "-";
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0.0;
}

static void print_nodes(const cJSON *nodes)
{
    int n = cJSON_GetArraySize(nodes), ready = 0, conn = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, nodes)
    {
        ready += !strcmp(str(it, "state"), "ready");
        conn += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "connected"));
    }
    printf("nodes: %d (%d ready, %d lost, %d connected)\n", n, ready, n - ready, conn);
    if (!n) return;
    printf("  %-20s %-6s %-5s %-18s %-17s %-8s %-9s %s\n", "NAME", "STATE", "CONN", "GPUS",
           "PLANNED/USABLE", "DESIRED", "$/HOUR", "LAST HEARTBEAT");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double now_ms = (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
    cJSON_ArrayForEach(it, nodes)
    {
        const cJSON *gpus = cJSON_GetObjectItemCaseSensitive(it, "gpus"), *g;
        double used = 0, usable = 0;
        cJSON_ArrayForEach(g, gpus)
        {
            used += num(g, "used_bytes");
            usable += num(g, "usable_bytes");
        }
        char gdesc[64], bytes[40], ago[32];
        snprintf(gdesc, sizeof gdesc, "%dx %s", cJSON_GetArraySize(gpus),
                 cJSON_GetArraySize(gpus) ? str(cJSON_GetArrayItem(gpus, 0), "model") : "-");
        snprintf(bytes, sizeof bytes, "%.1f/%.1f GiB", used / VP_GIB, usable / VP_GIB);
        double hb = num(it, "last_heartbeat_ms");
        if (hb > 0)
            snprintf(ago, sizeof ago, "%.1f s ago", (now_ms - hb) / 1000.0);
        else
            snprintf(ago, sizeof ago, "never");
        int suspect = 0;
        cJSON_ArrayForEach(g, gpus) suspect +=
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "suspect"));
        printf("  %-20s %-6s %-5s %-18s %-17s %-8.0f %-9.3f %s", str(it, "name"), str(it, "state"),
               cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "connected")) ? "yes" : "no",
               gdesc, bytes, num(it, "desired"), num(it, "price_per_hour"), ago);
        if (suspect) printf(" (%d GPU%s suspect)", suspect, suspect > 1 ? "s" : "");
        printf("\n");
    }
}

static void print_placements(const cJSON *pl)
{
    static const char *const states[] = {"pending", "starting", "running",
                                         "failed",  "stopped",  "unplaced"};
    int count[6] = {0}, n = cJSON_GetArraySize(pl);
    const cJSON *it;
    cJSON_ArrayForEach(it, pl) for (int k = 0; k < 6; k++) if (!strcmp(str(it, "state"), states[k]))
        count[k]++;
    printf("\nplacements: %d", n);
    const char *sep = " (";
    for (int k = 0; k < 6; k++)
        if (count[k]) {
            printf("%s%d %s", sep, count[k], states[k]);
            sep = ", ";
        }
    printf("%s\n", n ? ")" : "");
    if (!n) return;
    printf("  %-28s %-20s %-10s %-9s %-9s %-21s %s\n", "ID", "NODE", "GPUS", "GIB/GPU", "STATE",
           "ENDPOINT", "DETAIL");
    cJSON_ArrayForEach(it, pl)
    {
        char gl[64] = "";
        size_t len = 0;
        const cJSON *g;
        cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(it, "gpus")) len += (size_t)snprintf(
            gl + len, len < sizeof gl ? sizeof gl - len : 0, "%s%d", len ? "," : "", g->valueint);
        const char *node = str(it, "node");
        const char *detail = cJSON_GetObjectItemCaseSensitive(it, "reason")  ? str(it, "reason")
                             : cJSON_GetObjectItemCaseSensitive(it, "error") ? str(it, "error")
                                                                             : "";
        char pid[32] = "";
        if (num(it, "pid") > 0) snprintf(pid, sizeof pid, "pid %.0f", num(it, "pid"));
        const char *ep =
            cJSON_GetObjectItemCaseSensitive(it, "endpoint") ? str(it, "endpoint") : "-";
        const cJSON *prev = cJSON_GetObjectItemCaseSensitive(it, "previous");
        char roll[160] = "";
        if (cJSON_IsObject(prev))
            snprintf(roll, sizeof roll, "%sprevious revision %s on %s",
                     pid[0] || detail[0] ? "; " : "", str(prev, "state"), str(prev, "node"));
        printf("  %-28s %-20s %-10s %-9.2f %-9s %-21s %s%s%s%s\n", str(it, "id"), node,
               gl[0] ? gl : "-", num(it, "bytes_per_gpu") / VP_GIB, str(it, "state"), ep, pid,
               pid[0] && detail[0] ? "; " : "", detail, roll);
    }
}

int cli_status(int argc, char **argv)
{
    const char *api = NULL, *token_file = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return CLI_OK;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--api") && i + 1 < argc) {
            api = argv[++i];
        } else if (!strcmp(a, "--token-file") && i + 1 < argc) {
            token_file = argv[++i];
        } else {
            fprintf(stderr, "vrampack status: unexpected argument '%s'\n", a);
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (!api) {
        usage(stderr);
        return CLI_USAGE;
    }
    char token[256] = "";
    if (token_file && cli_token_load(token_file, token, sizeof token)) return CLI_USAGE;
    int code = CLI_OK;
    cJSON *nodes = fetch(api, token, "/v1/nodes", &code);
    if (!nodes) return code;
    cJSON *pl = fetch(api, token, "/v1/placements", &code);
    if (!pl) {
        cJSON_Delete(nodes);
        return code;
    }
    cJSON *na = cJSON_DetachItemFromObjectCaseSensitive(nodes, "nodes");
    cJSON *pa = cJSON_DetachItemFromObjectCaseSensitive(pl, "placements");
    if (!cJSON_IsArray(na) || !cJSON_IsArray(pa)) {
        fprintf(stderr, "vrampack status: the controller's answer lacks nodes or placements\n");
        code = CLI_FAIL;
    } else if (json) {
        cJSON *out = cJSON_CreateObject();
        cJSON_AddItemToObject(out, "nodes", na);
        cJSON_AddItemToObject(out, "placements", pa);
        na = pa = NULL;
        char *s = cJSON_Print(out);
        if (s) puts(s);
        free(s);
        cJSON_Delete(out);
    } else {
        print_nodes(na);
        print_placements(pa);
    }
    cJSON_Delete(na);
    cJSON_Delete(pa);
    cJSON_Delete(nodes);
    cJSON_Delete(pl);
    return code;
}
