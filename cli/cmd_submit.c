/* cmd_submit.c - `vrampack submit MANIFEST --api HOST:PORT`: send a manifest to a running
 * controller, which replaces its desired set of models with it, and print the answer.
 *
 * The manifest is checked here first and sent self-contained: every hf_config path (relative
 * to the manifest file) is replaced by the config object it names, so the controller never opens
 * a file a client named and its stored state needs nothing else to be planned again. */
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
    fprintf(f, "usage: vrampack submit MANIFEST --api HOST:PORT [--token-file F] [--dry-run]\n"
               "                       [--json]\n\n"
               "Sends MANIFEST to the controller's API (POST /v1/manifests). It replaces the\n"
               "desired models; the controller plans them and starts them on its agents.\n"
               "With --dry-run it only answers what would change (placements added, removed,\n"
               "moved, rolled, over capacity; cost before and after) and changes nothing.\n"
               "Exit 0 when everything was placed, 1 when some replica could not be (the\n"
               "reasons are printed) or the controller is unreachable, 2 for bad input.\n");
}

static void print_error(const char *what, const cli_http_resp *r)
{
    cJSON *j = cJSON_Parse(r->body);
    const cJSON *msg = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
    fprintf(stderr, "vrampack %s: HTTP %d: %s\n", what, r->status,
            cJSON_IsString(msg) ? msg->valuestring : r->body);
    cJSON_Delete(j);
}

int cli_submit(int argc, char **argv)
{
    const char *manifest = NULL, *api = NULL, *token_file = NULL;
    bool json = false, dry = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return CLI_OK;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--dry-run")) {
            dry = true;
        } else if ((!strcmp(a, "--api") || !strcmp(a, "--token-file")) && i + 1 < argc) {
            if (!strcmp(a, "--api"))
                api = argv[++i];
            else
                token_file = argv[++i];
        } else if (a[0] != '-' && !manifest) {
            manifest = a;
        } else {
            fprintf(stderr, "vrampack submit: unexpected argument '%s'\n", a);
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (!manifest || !api) {
        usage(stderr);
        return CLI_USAGE;
    }
    char token[256] = "";
    if (token_file && cli_token_load(token_file, token, sizeof token)) return CLI_USAGE;
    char *text;
    vp_err e = {0};
    if (plan_manifest_inline_file(manifest, &text, &e)) {
        fprintf(stderr, "vrampack submit: %s\n", e.msg);
        return CLI_USAGE;
    }
    cli_http_resp r;
    char err[512];
    int rc = cli_http_request(api, "POST", dry ? "/v1/manifests?dry_run=1" : "/v1/manifests", token,
                              text, strlen(text), SUBMIT_TIMEOUT_MS, &r, err, sizeof err);
    free(text);
    if (rc) {
        fprintf(stderr, "vrampack submit: %s\n", err);
        return CLI_FAIL;
    }
    if (r.status != 200) {
        print_error("submit", &r);
        int code = r.status == 400 || r.status == 413 || r.status == 401 ? CLI_USAGE : CLI_FAIL;
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
