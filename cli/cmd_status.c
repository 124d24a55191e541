/* cmd_status.c - `vrampack status [--api HOST:PORT] [-o json|wide|name]`: a running controller's
 * nodes and placements.
 *
 * Made of the API's GET /v1/nodes and GET /v1/placements answers. Nodes are listed by name and
 * placements by id, in the order people read numbered names (gpu-2 before gpu-10), whatever the
 * output: tables for people (columns as wide as their content; -o wide adds the instance type,
 * price, host, agent version, engine, revision, endpoint and pid), -o json the API's objects as
 * {"nodes": [...], "placements": [...]}, -o name one `node/NAME` or `placement/ID` a line for
 * scripts. --api and --token-file default to VRAMPACK_API and VRAMPACK_TOKEN_FILE. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "http_client.h"
#include "table.h"
#include "vp_json.h"

#define STATUS_TIMEOUT_MS 30000

typedef enum { OUT_TABLE, OUT_WIDE, OUT_JSON, OUT_NAME } out_fmt;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vrampack status [--api HOST:PORT] [--token-file F] [-o json|wide|name]\n"
            "                       [--timeout SEC]\n\n"
            "Shows the controller's nodes (ready or lost, GPUs, bytes planned per GPU, last\n"
            "heartbeat) and every placement with its state (pending, starting, running,\n"
            "failed, stopped, unplaced, over_capacity), nodes by name and placements by id.\n"
            "\n"
            "  --api HOST:PORT    the controller's API (default: $VRAMPACK_API); also\n"
            "                     http://HOST:PORT or https://HOST:PORT\n"
            "  --token-file F     the admin token, sent as Authorization: Bearer (default:\n"
            "                     $VRAMPACK_TOKEN_FILE)\n"
            "  -o, --output F     wide: more columns (instance type, price, host, version,\n"
            "                     engine, revision, endpoint, pid); json: the API's objects\n"
            "                     as {\"nodes\": [...], \"placements\": [...]}; name: node/NAME\n"
            "                     and placement/ID, one a line\n"
            "  --json             the same as -o json\n"
            "\n"
            "Exit 0 on an answer, 1 when the controller cannot be reached or fails, 2 for\n"
            "bad usage or a refused token.\n");
}

static int parse_output(const char *v, out_fmt *fmt)
{
    if (v[0] == '=') v++; /* -o=json, as kubectl takes it */
    static const struct {
        const char *name;
        out_fmt fmt;
    } names[] = {{"json", OUT_JSON}, {"wide", OUT_WIDE}, {"name", OUT_NAME}};
    for (size_t i = 0; i < VP_ARRAY_LEN(names); i++)
        if (!strcmp(v, names[i].name)) {
            *fmt = names[i].fmt;
            return 0;
        }
    return cli_usage_fail("status", "-o: '%s' is not json, wide or name", v);
}

/* CLI_OK parsed, -1 after --help, CLI_USAGE on an error (printed). */
static int parse_args(int argc, char **argv, cli_api *api, out_fmt *fmt, double *timeout_s)
{
    enum { OPT_API = 256, OPT_TOKEN_FILE, OPT_JSON, OPT_TIMEOUT };
    static const struct option opts[] = {
        {"api", required_argument, NULL, OPT_API},
        {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
        {"output", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, OPT_JSON},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(api, 0, sizeof *api);
    *fmt = OUT_TABLE;
    *timeout_s = STATUS_TIMEOUT_MS / 1000.0;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            return -1;
        case OPT_API:
            api->addr = optarg;
            break;
        case OPT_TOKEN_FILE:
            api->token_file = optarg;
            break;
        case 'o':
            if (parse_output(optarg, fmt)) return CLI_USAGE;
            break;
        case OPT_JSON:
            *fmt = OUT_JSON;
            break;
        case OPT_TIMEOUT:
            if (!cli_parse_double("status", "--timeout", optarg, 0.001, 86400, timeout_s))
                return CLI_USAGE;
            break;
        default:
            return cli_usage_error("status", c, argv);
        }
    }
    if (optind < argc) return cli_usage_fail("status", "unexpected argument '%s'", argv[optind]);
    return CLI_OK;
}

/* GET path's JSON array `key`, detached (caller deletes); NULL after printing why. */
static cJSON *fetch(const cli_api *api, int timeout_ms, const char *path, const char *key,
                    int *code)
{
    cli_http_resp r;
    char err[512];
    if (cli_http_request(api->addr, "GET", path, api->token, NULL, 0, timeout_ms, &r, err,
                         sizeof err)) {
        fprintf(stderr, "vrampack status: %s\n", err);
        *code = CLI_FAIL;
        return NULL;
    }
    if (r.status != 200) {
        *code = cli_api_error("status", path, &r);
        cli_http_resp_free(&r);
        return NULL;
    }
    cJSON *j = cJSON_ParseWithLength(r.body, r.len);
    cJSON *arr = j ? cJSON_DetachItemFromObjectCaseSensitive(j, key) : NULL;
    cJSON_Delete(j);
    cli_http_resp_free(&r);
    if (!cJSON_IsArray(arr)) {
        fprintf(stderr, "vrampack status: %s: the controller's answer has no \"%s\" list\n", path,
                key);
        cJSON_Delete(arr);
        *code = CLI_FAIL;
        return NULL;
    }
    return arr;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : "-";
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0.0;
}

static const char *sort_key;

static int by_key(const void *a, const void *b)
{
    return cli_natural_cmp(str(*(cJSON *const *)a, sort_key), str(*(cJSON *const *)b, sort_key));
}

/* Reorders the objects of arr by their string `key`; false when out of memory. */
static bool sort_array(cJSON *arr, const char *key)
{
    int n = cJSON_GetArraySize(arr);
    if (n < 2) return true;
    cJSON **items = malloc((size_t)n * sizeof *items);
    if (!items) return false;
    for (int i = 0; i < n; i++)
        items[i] = cJSON_DetachItemFromArray(arr, 0);
    sort_key = key;
    qsort(items, (size_t)n, sizeof *items, by_key);
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, items[i]);
    free(items);
    return true;
}

/* "4x L4", or "2x A10G,1x L4" on a mixed node. */
static void gpu_summary(const cJSON *gpus, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = 0;
    int n = cJSON_GetArraySize(gpus);
    for (int i = 0; i < n; i++) {
        const char *model = str(cJSON_GetArrayItem(gpus, i), "model");
        bool seen = false;
        for (int k = 0; k < i && !seen; k++)
            seen = !strcmp(str(cJSON_GetArrayItem(gpus, k), "model"), model);
        if (seen) continue;
        int count = 0;
        for (int k = i; k < n; k++)
            count += !strcmp(str(cJSON_GetArrayItem(gpus, k), "model"), model);
        if (len < cap)
            len += (size_t)snprintf(out + len, cap - len, "%s%dx %s", len ? "," : "", count, model);
    }
    if (!out[0]) snprintf(out, cap, "-");
}

/* "0.4s ago", "12s ago", "3m4s ago", "2h5m ago", or "never". */
static void age(double then_ms, double now_ms, char *out, size_t cap)
{
    if (then_ms <= 0) {
        snprintf(out, cap, "never");
        return;
    }
    double s = (now_ms - then_ms) / 1000.0;
    if (s < 0) s = 0;
    long whole = (long)s;
    if (s < 10)
        snprintf(out, cap, "%.1fs ago", s);
    else if (whole < 60)
        snprintf(out, cap, "%lds ago", whole);
    else if (whole < 3600)
        snprintf(out, cap, "%ldm%lds ago", whole / 60, whole % 60);
    else
        snprintf(out, cap, "%ldh%ldm ago", whole / 3600, whole % 3600 / 60);
}

static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static bool print_nodes(const cJSON *nodes, bool wide)
{
    int n = cJSON_GetArraySize(nodes), ready = 0, conn = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, nodes)
    {
        ready += !strcmp(str(it, "state"), "ready");
        conn += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "connected"));
    }
    printf("nodes: %d (%d ready, %d lost, %d connected)\n", n, ready, n - ready, conn);
    if (!n) return true;
    static const char *const head[] = {"NAME",           "STATE",   "CONN",           "GPUS",
                                       "PLANNED/USABLE", "DESIRED", "LAST-HEARTBEAT", "NOTE"};
    static const char *const head_wide[] = {
        "NAME",           "STATE",          "CONN",   "TYPE",         "GPUS",
        "PLANNED/USABLE", "DESIRED",        "$/HOUR", "PRICE-SOURCE", "HOST",
        "VERSION",        "LAST-HEARTBEAT", "NOTE"};
    cli_table t;
    cli_table_init(&t, wide ? VP_ARRAY_LEN(head_wide) : VP_ARRAY_LEN(head),
                   wide ? head_wide : head);
    double now = wall_ms();
    cJSON_ArrayForEach(it, nodes)
    {
        const cJSON *gpus = cJSON_GetObjectItemCaseSensitive(it, "gpus"), *g;
        double used = 0, usable = 0;
        int suspect = 0;
        cJSON_ArrayForEach(g, gpus)
        {
            used += num(g, "used_bytes");
            usable += num(g, "usable_bytes");
            suspect += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g, "suspect"));
        }
        char gdesc[160], bytes[64], ago[32], desired[16], price[32], note[48] = "";
        gpu_summary(gpus, gdesc, sizeof gdesc);
        snprintf(bytes, sizeof bytes, "%.1f/%.1f GiB", used / VP_GIB, usable / VP_GIB);
        age(num(it, "last_heartbeat_ms"), now, ago, sizeof ago);
        snprintf(desired, sizeof desired, "%.0f", num(it, "desired"));
        snprintf(price, sizeof price, "%.3f", num(it, "price_per_hour"));
        if (suspect)
            snprintf(note, sizeof note, "%d GPU%s suspect", suspect, suspect > 1 ? "s" : "");
        const char *conn_s =
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "connected")) ? "yes" : "no";
        if (wide) {
            const char *row[] = {str(it, "name"),
                                 str(it, "state"),
                                 conn_s,
                                 str(it, "instance_type"),
                                 gdesc,
                                 bytes,
                                 desired,
                                 price,
                                 str(it, "price_source"),
                                 str(it, "host"),
                                 str(it, "version"),
                                 ago,
                                 note};
            cli_table_row(&t, row);
        } else {
            const char *row[] = {str(it, "name"), str(it, "state"), conn_s, gdesc,
                                 bytes,           desired,          ago,    note};
            cli_table_row(&t, row);
        }
    }
    bool ok = cli_table_print(&t, stdout, 2);
    cli_table_free(&t);
    return ok;
}

/* The placement's gpus as "0,1", or "-". */
static void gpu_list(const cJSON *p, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = 0;
    const cJSON *g;
    cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(p, "gpus")) if (len < cap) len +=
        (size_t)snprintf(out + len, cap - len, "%s%d", len ? "," : "", g->valueint);
    if (!out[0]) snprintf(out, cap, "-");
}

/* pid (unless it has a column), error or reason, and a previous instance still serving. */
static void detail(const cJSON *p, bool with_pid, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = 0;
#define ADD(...)                                                                                   \
    do {                                                                                           \
        if (len < cap) len += (size_t)snprintf(out + len, cap - len, __VA_ARGS__);                 \
    } while (0)
    if (with_pid && num(p, "pid") > 0) ADD("pid %.0f", num(p, "pid"));
    const char *why = cJSON_GetObjectItemCaseSensitive(p, "reason")  ? str(p, "reason")
                      : cJSON_GetObjectItemCaseSensitive(p, "error") ? str(p, "error")
                                                                     : NULL;
    if (why) ADD("%s%s", len ? "; " : "", why);
    const cJSON *prev = cJSON_GetObjectItemCaseSensitive(p, "previous");
    if (cJSON_IsObject(prev))
        ADD("%sprevious revision %s on %s", len ? "; " : "", str(prev, "state"), str(prev, "node"));
#undef ADD
}

static bool print_placements(const cJSON *pl, bool wide)
{
    static const char *const states[] = {"pending", "starting", "running",      "failed",
                                         "stopped", "unplaced", "over_capacity"};
    enum { N_STATES = VP_ARRAY_LEN(states) };
    int count[N_STATES] = {0}, n = cJSON_GetArraySize(pl);
    const cJSON *it;
    cJSON_ArrayForEach(it, pl) for (int k = 0; k < N_STATES;
                                    k++) if (!strcmp(str(it, "state"), states[k])) count[k]++;
    printf("\nplacements: %d", n);
    const char *sep = " (";
    for (int k = 0; k < N_STATES; k++)
        if (count[k]) {
            printf("%s%d %s", sep, count[k], states[k]);
            sep = ", ";
        }
    printf("%s\n", n && sep[0] == ',' ? ")" : "");
    if (!n) return true;
    static const char *const head[] = {"ID", "NODE", "GPUS", "GIB/GPU", "STATE", "DETAIL"};
    static const char *const head_wide[] = {"ID",       "MODEL", "NODE",   "GPUS",
                                            "GIB/GPU",  "STATE", "ENGINE", "REV",
                                            "ENDPOINT", "PID",   "DETAIL"};
    cli_table t;
    cli_table_init(&t, wide ? VP_ARRAY_LEN(head_wide) : VP_ARRAY_LEN(head),
                   wide ? head_wide : head);
    cJSON_ArrayForEach(it, pl)
    {
        char gl[96], gib[32], det[512], pid[24] = "-";
        gpu_list(it, gl, sizeof gl);
        snprintf(gib, sizeof gib, "%.2f", num(it, "bytes_per_gpu") / VP_GIB);
        detail(it, !wide, det, sizeof det);
        if (num(it, "pid") > 0) snprintf(pid, sizeof pid, "%.0f", num(it, "pid"));
        if (wide) {
            const char *row[] = {str(it, "id"),
                                 str(it, "model"),
                                 str(it, "node"),
                                 gl,
                                 gib,
                                 str(it, "state"),
                                 str(it, "engine"),
                                 str(it, "rev"),
                                 str(it, "endpoint"),
                                 pid,
                                 det};
            cli_table_row(&t, row);
        } else {
            const char *row[] = {str(it, "id"), str(it, "node"), gl, gib, str(it, "state"), det};
            cli_table_row(&t, row);
        }
    }
    bool ok = cli_table_print(&t, stdout, 2);
    cli_table_free(&t);
    return ok;
}

static bool print_json(cJSON *nodes, cJSON *pl)
{
    cJSON *out = cJSON_CreateObject();
    if (!out) return false;
    cJSON_AddItemReferenceToObject(out, "nodes", nodes);
    cJSON_AddItemReferenceToObject(out, "placements", pl);
    char *s = cJSON_Print(out);
    bool ok = s != NULL;
    if (s) puts(s);
    free(s);
    cJSON_Delete(out);
    return ok;
}

static void print_names(const cJSON *nodes, const cJSON *pl)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, nodes) printf("node/%s\n", str(it, "name"));
    cJSON_ArrayForEach(it, pl) printf("placement/%s\n", str(it, "id"));
}

/* The answer in the chosen format, sorted; false when out of memory. */
static bool print_all(out_fmt fmt, cJSON *nodes, cJSON *pl)
{
    if (!sort_array(nodes, "name") || !sort_array(pl, "id")) return false;
    switch (fmt) {
    case OUT_JSON:
        return print_json(nodes, pl);
    case OUT_NAME:
        print_names(nodes, pl);
        return true;
    default:
        return print_nodes(nodes, fmt == OUT_WIDE) && print_placements(pl, fmt == OUT_WIDE);
    }
}

int cli_status(int argc, char **argv)
{
    cli_api api;
    out_fmt fmt;
    double timeout_s;
    int code = parse_args(argc, argv, &api, &fmt, &timeout_s);
    if (code) return code < 0 ? CLI_OK : code;
    if ((code = cli_api_resolve("status", &api))) return code;
    int ms = (int)(timeout_s * 1000 + 0.5);
    cJSON *nodes = fetch(&api, ms, "/v1/nodes", "nodes", &code);
    cJSON *pl = nodes ? fetch(&api, ms, "/v1/placements", "placements", &code) : NULL;
    if (pl && !print_all(fmt, nodes, pl)) {
        fprintf(stderr, "vrampack status: out of memory\n");
        code = CLI_FAIL;
    }
    cJSON_Delete(nodes);
    cJSON_Delete(pl);
    return code;
}
