/* cmd_submit.c - `vrampack submit MANIFEST [--api HOST:PORT]`: send a manifest to a running
 * controller, which replaces its desired set of models with it, and print the answer.
 *
 * The manifest is checked here first and sent self-contained: every hf_config path (relative
 * to the manifest file) is replaced by the config object it names, so the controller never opens
 * a file a client named and its stored state needs nothing else to be planned again. The
 * manifest may come from standard input ("-"); --api and --token-file default to the
 * VRAMPACK_API and VRAMPACK_TOKEN_FILE environment variables. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "http_client.h"
#include "planner.h"
#include "vp_json.h"

#define SUBMIT_TIMEOUT_MS 600000 /* a big MIP solve may take minutes */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vrampack submit MANIFEST|- [--api HOST:PORT] [--token-file F] [--dry-run]\n"
            "                       [--json] [--timeout SEC]\n\n"
            "Sends MANIFEST (- reads it from standard input; hf_config paths are then relative\n"
            "to the current directory) to the controller's API (POST /v1/manifests). It\n"
            "replaces the desired models; the controller plans them and starts them on its\n"
            "agents. With --dry-run it only answers what would change (placements added,\n"
            "removed, moved, rolled, over capacity; cost before and after) and changes nothing.\n"
            "\n"
            "  --api HOST:PORT    the controller's API (default: $VRAMPACK_API); also\n"
            "                     http://HOST:PORT or https://HOST:PORT\n"
            "  --token-file F     the admin token, sent as Authorization: Bearer (default:\n"
            "                     $VRAMPACK_TOKEN_FILE)\n"
            "  --dry-run          change nothing; print what would change\n"
            "  --json             print the controller's answer as it is\n"
            "  --timeout SEC      give up on an answer after SEC seconds (default 600: a\n"
            "                     large solve may take minutes)\n"
            "\n"
            "Exit 0 when everything was placed, 1 when some replica could not be (the\n"
            "reasons are printed) or the controller is unreachable, 2 for bad input.\n");
}

typedef struct submit_args {
    const char *manifest;
    cli_api api;
    bool json, dry;
    double timeout_s;
} submit_args;

/* CLI_OK parsed, -1 after --help, CLI_USAGE on an error (printed). */
static int parse_args(int argc, char **argv, submit_args *a)
{
    enum { OPT_API = 256, OPT_TOKEN_FILE, OPT_DRY_RUN, OPT_JSON, OPT_TIMEOUT };
    static const struct option opts[] = {
        {"api", required_argument, NULL, OPT_API},
        {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"json", no_argument, NULL, OPT_JSON},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    a->timeout_s = SUBMIT_TIMEOUT_MS / 1000.0;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            return -1;
        case OPT_API:
            a->api.addr = optarg;
            break;
        case OPT_TOKEN_FILE:
            a->api.token_file = optarg;
            break;
        case OPT_DRY_RUN:
            a->dry = true;
            break;
        case OPT_JSON:
            a->json = true;
            break;
        case OPT_TIMEOUT:
            if (!cli_parse_double("submit", "--timeout", optarg, 0.001, 86400, &a->timeout_s))
                return CLI_USAGE;
            break;
        default:
            return cli_usage_error("submit", c, argv);
        }
    }
    if (optind < argc) a->manifest = argv[optind++];
    if (optind < argc)
        return cli_usage_fail("submit", "unexpected argument '%s' (one manifest only)",
                              argv[optind]);
    if (!a->manifest)
        return cli_usage_fail("submit", "missing MANIFEST (a file, or - for standard input)");
    return CLI_OK;
}

int cli_submit(int argc, char **argv)
{
    submit_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    if ((rc = cli_api_resolve("submit", &a.api))) return rc;
    bool json = a.json, dry = a.dry;
    const char *manifest = cli_input_name(a.manifest);
    char *text;
    vp_err e = {0};
    if (cli_manifest_inline(a.manifest, &text, &e)) {
        fprintf(stderr, "vrampack submit: %s\n", e.msg);
        return e.code == -ENOMEM ? CLI_FAIL : CLI_USAGE;
    }
    cli_http_resp r;
    char err[512];
    rc = cli_http_request(a.api.addr, "POST", dry ? "/v1/manifests?dry_run=1" : "/v1/manifests",
                          a.api.token, text, strlen(text), (int)(a.timeout_s * 1000 + 0.5), &r, err,
                          sizeof err);
    free(text);
    if (rc) {
        fprintf(stderr, "vrampack submit: %s\n", err);
        return CLI_FAIL;
    }
    if (r.status != 200) {
        int code = cli_api_error("submit", NULL, &r);
        cli_http_resp_free(&r);
        return code;
    }
    if (json) {
        fputs(r.body, stdout);
        if (r.len && r.body[r.len - 1] != '\n') fputc('\n', stdout);
        cli_http_resp_free(&r);
        return CLI_OK;
    }
    cJSON *j = cJSON_Parse(r.body);
    if (!j) {
        fprintf(stderr, "vrampack submit: the controller answered something that is not JSON\n");
        cli_http_resp_free(&r);
        return CLI_FAIL;
    }
#define NUM(k)                                                                                     \
    (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, k))                                        \
         ? cJSON_GetObjectItemCaseSensitive(j, k)->valuedouble                                     \
         : 0.0)
#define STR(k)                                                                                     \
    (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, k))                                        \
         ? cJSON_GetObjectItemCaseSensitive(j, k)->valuestring                                     \
         : "?")
    const cJSON *unplaced = cJSON_GetObjectItemCaseSensitive(j, "unplaced");
    int n_unplaced = cJSON_GetArraySize(unplaced);
    printf("%s %s: %.0f models, %.0f placements (%.0f kept, %.0f newly placed), "
           "%d unplaced\n",
           dry ? "dry run of" : "submitted", manifest, NUM("models"), NUM("placements"),
           NUM("kept"), NUM("placed"), n_unplaced);
    printf("plan: solver %s, status %s, $%.2f/hour (was $%.2f/hour), solved in %.0f ms\n",
           STR("solver"), STR("status"), NUM("cost_per_hour"), NUM("cost_before"), NUM("solve_ms"));
    static const char *const lists[] = {"added", "removed", "moved", "over_capacity"};
    for (size_t li = 0; li < sizeof lists / sizeof lists[0]; li++) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, lists[li]), *it;
        if (cJSON_GetArraySize(arr) == 0) continue;
        printf("%s%s:", dry ? "would be " : "", lists[li]);
        cJSON_ArrayForEach(it, arr) printf(" %s", cJSON_IsString(it) ? it->valuestring : "?");
        printf("\n");
    }
    const cJSON *roll = cJSON_GetObjectItemCaseSensitive(j, "roll"), *u;
    if (cJSON_GetArraySize(roll) > 0) {
        printf("%s %d placement%s make-before-break:", dry ? "would roll" : "rolling",
               cJSON_GetArraySize(roll), cJSON_GetArraySize(roll) > 1 ? "s" : "");
        cJSON_ArrayForEach(u, roll) printf(" %s", cJSON_IsString(u) ? u->valuestring : "?");
        printf("\n");
    }
    cJSON_ArrayForEach(u, unplaced)
    {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(u, "model");
        const cJSON *rep = cJSON_GetObjectItemCaseSensitive(u, "replica");
        const cJSON *why = cJSON_GetObjectItemCaseSensitive(u, "reason");
        printf("  unplaced %s/%d: %s\n", cJSON_IsString(m) ? m->valuestring : "?",
               cJSON_IsNumber(rep) ? rep->valueint : -1,
               cJSON_IsString(why) ? why->valuestring : "");
    }
#undef NUM
#undef STR
    cJSON_Delete(j);
    cli_http_resp_free(&r);
    return n_unplaced ? CLI_FAIL : CLI_OK;
}
