/* test_export.c - the plan file's GPU totals and the exports built on them: Kubernetes YAML, CSV
 * and vLLM command lines.
 *
 * Plans come from the real pipeline (the review example on the example fleet, solved by FFD) or
 * are built by hand where a test needs a name or shape no manifest allows. Expected flags are
 * recomputed here from the plan (bytes_per_gpu over the fleet's physical GPU bytes), never typed
 * in. */
/* cmocka needs these four first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"

typedef struct run {
    plan_manifest *m;
    plan_fleet *f;
    plan_problem *p;
    place_plan *plan;
    char *json; /* plan_to_json_fleet */
} run;

static void solve_review(run *r)
{
    vp_err e = {0};
    memset(r, 0, sizeof *r);
    if (plan_manifest_load(VP_EXAMPLES "/review.json", &r->m, &e)) fail_msg("%s", e.msg);
    if (plan_fleet_load(VP_EXAMPLES "/fleet.json", &r->f, &e)) fail_msg("%s", e.msg);
    if (plan_problem_build(r->m, r->f, &r->p, &e)) fail_msg("%s", e.msg);
    if (plan_ffd(r->p, &r->plan, &e)) fail_msg("%s", e.msg);
    r->json = plan_to_json_fleet(r->plan, r->f);
    assert_non_null(r->json);
}

static void done(run *r)
{
    free(r->json);
    place_plan_free(r->plan);
    plan_problem_free(r->p);
    plan_fleet_free(r->f);
    plan_manifest_free(r->m);
}

/* The plan as read back from its file, with the file's GPU totals. */
static place_plan *read_back(const run *r, plan_gpu_totals *t)
{
    place_plan *plan = NULL;
    vp_err e = {0};
    if (plan_from_json_totals(r->json, strlen(r->json), "plan.json", &plan, t, &e))
        fail_msg("%s", e.msg);
    return plan;
}

static void assert_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle)) fail_msg("\"%s\" not found in:\n%.4000s", needle, hay);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static char *export_text(const plan_export_input *in, plan_export_fmt fmt)
{
    plan_export_out out;
    vp_err e = {0};
    if (plan_export(in, fmt, &out, &e)) fail_msg("export: %s", e.msg);
    return out.text;
}

/* The fraction an engine must be given: bytes over physical bytes, rounded down to 4 places. */
static void want_fraction(char out[16], uint64_t bytes, uint64_t physical)
{
    unsigned long long t = (unsigned long long)((unsigned __int128)bytes * 10000 / physical);
    snprintf(out, 16, "%llu.%04llu", t / 10000, t % 10000);
}

/* ------------------------------------------------------------------------ plan file totals */

static void a_plan_written_with_its_fleet_carries_every_gpus_physical_memory(void **state)
{
    (void)state;
    run r;
    solve_review(&r);
    cJSON *o = cJSON_Parse(r.json);
    assert_non_null(o);
    const cJSON *util = cJSON_GetObjectItemCaseSensitive(o, "gpu_memory_utilization");
    assert_true(cJSON_IsNumber(util) && util->valuedouble == r.f->util_ppm / 1e6);
    const cJSON *n, *g, *pl;
    size_t i = 0;
    cJSON_ArrayForEach(n, cJSON_GetObjectItemCaseSensitive(o, "nodes"))
    {
        const place_node *pn = &r.plan->nodes[i++];
        int k = 0;
        cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(n, "gpus"))
        {
            const plan_gpu_model *gm = plan_fleet_gpu(r.f, pn->gpus[k++].model);
            assert_non_null(gm);
            const cJSON *mem = cJSON_GetObjectItemCaseSensitive(g, "memory_bytes");
            if (!cJSON_IsNumber(mem) || mem->valuedouble != (double)gm->memory_bytes)
                fail_msg("%s gpu %d: memory_bytes %s, fleet says %llu", pn->name, k - 1,
                         cJSON_IsNumber(mem) ? "differs" : "missing",
                         (unsigned long long)gm->memory_bytes);
        }
    }
    i = 0;
    cJSON_ArrayForEach(pl, cJSON_GetObjectItemCaseSensitive(o, "placements"))
    {
        const place_placement *p = &r.plan->placements[i++];
        const place_gpu *gp = &r.plan->nodes[p->node].gpus[p->gpus[0]];
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(pl, "gpu_model")->valuestring,
                            gp->model);
        assert_true(cJSON_GetObjectItemCaseSensitive(pl, "gpu_usable_bytes")->valuedouble ==
                    (double)gp->usable_bytes);
        assert_true(cJSON_GetObjectItemCaseSensitive(pl, "gpu_memory_bytes")->valuedouble ==
                    (double)plan_fleet_gpu(r.f, gp->model)->memory_bytes);
    }
    cJSON_Delete(o);

    /* Read back: the same plan, and the totals per node and GPU. */
    place_plan *back = NULL;
    plan_gpu_totals t;
    vp_err e = {0};
    if (plan_from_json_totals(r.json, strlen(r.json), "plan.json", &back, &t, &e))
        fail_msg("%s", e.msg);
    assert_int_equal(back->n_placements, r.plan->n_placements);
    assert_true(back->cost_per_hour == r.plan->cost_per_hour);
    assert_int_equal(t.n_nodes, r.plan->n_nodes);
    assert_true(t.gpu_memory_utilization == r.f->util_ppm / 1e6);
    for (size_t j = 0; j < back->n_nodes; j++)
        for (int k = 0; k < back->nodes[j].n_gpus; k++)
            assert_true(t.memory_bytes[j][k] ==
                        plan_fleet_gpu(r.f, back->nodes[j].gpus[k].model)->memory_bytes);
    plan_gpu_totals_free(&t);
    place_plan_free(back);
    done(&r);
}

static void an_older_plan_file_without_totals_still_reads_and_a_wrong_total_is_refused(void **state)
{
    (void)state;
    static const char old[] =
        "{\"version\": 1, \"nodes\": [{\"name\": \"n\", \"gpus\": [{\"index\": 0, "
        "\"usable_bytes\": 100}]}], \"placements\": [{\"model\": \"a\", \"replica\": 0, "
        "\"node\": \"n\", \"gpus\": [0], \"bytes_per_gpu\": 60}]}";
    place_plan *p = NULL;
    plan_gpu_totals t;
    vp_err e = {0};
    if (plan_from_json_totals(old, sizeof old - 1, "old.json", &p, &t, &e)) fail_msg("%s", e.msg);
    assert_int_equal(p->n_placements, 1);
    assert_true(t.memory_bytes[0][0] == 0);
    assert_true(t.gpu_memory_utilization == 0);
    plan_gpu_totals_free(&t);
    place_plan_free(p);
    static const char bad[] =
        "{\"version\": 1, \"nodes\": [{\"name\": \"n\", \"gpus\": [{\"index\": 0, "
        "\"usable_bytes\": 100, \"memory_bytes\": 99}]}], \"placements\": []}";
    assert_int_equal(plan_from_json_totals(bad, sizeof bad - 1, "bad.json", &p, &t, &e), VP_EINPUT);
    assert_contains(e.msg, "bad.json: nodes[0].gpus[0]");
    assert_contains(e.msg, "memory_bytes");
    plan_gpu_totals_free(&t);
}

/* --------------------------------------------------------------------------------- k8s */

static void k8s_has_one_pinned_deployment_per_placement_with_its_gpus_and_flags(void **state)
{
    (void)state;
    run r;
    solve_review(&r);
    plan_gpu_totals t;
    place_plan *plan = read_back(&r, &t);
    plan_export_input in = {.plan = plan,
                            .totals = &t,
                            .manifest = r.m,
                            .plan_name = "plan.json",
                            .engine_set = true,
                            .engine = ENG_VLLM};
    char *y = export_text(&in, PLAN_EXPORT_K8S);
    assert_int_equal(count(y, "kind: \"Deployment\""), plan->n_placements);
    for (size_t k = 0; k < plan->n_placements; k++) {
        const place_placement *pl = &plan->placements[k];
        char want[256], frac[16];
        snprintf(want, sizeof want, "vrampack.io/placement: \"%s\"", pl->id);
        const char *doc = strstr(y, want);
        if (!doc) fail_msg("no Deployment for %s", pl->id);
        const char *end = strstr(doc, "\n---\n");
        size_t len = end ? (size_t)(end - doc) + 1 : strlen(doc);
        char *d = strndup(doc, len);
        snprintf(want, sizeof want, "values:\n                      - \"%s\"",
                 plan->nodes[pl->node].name);
        assert_contains(d, want);
        snprintf(want, sizeof want, "nvidia.com/gpu: %d\n", pl->n_gpus);
        assert_contains(d, want);
        if (pl->stage <= 0) {
            want_fraction(frac, pl->bytes_per_gpu, t.memory_bytes[pl->node][pl->gpus[0]]);
            snprintf(want, sizeof want, "- \"--gpu-memory-utilization\"\n            - \"%s\"",
                     frac);
            assert_contains(d, want);
            snprintf(want, sizeof want, "- \"--tensor-parallel-size\"\n            - \"%d\"",
                     pl->n_gpus);
            assert_contains(d, want);
            assert_contains(d, "readinessProbe:\n            httpGet:\n              path: "
                               "\"/health\"");
        }
        free(d);
    }
    free(y);
    /* Without --engine, the manifest's engines: the built-in worker has no health path. */
    in.engine_set = false;
    y = export_text(&in, PLAN_EXPORT_K8S);
    assert_contains(y, "- \"vrampack-worker\"");
    free(y);
    plan_gpu_totals_free(&t);
    place_plan_free(plan);
    done(&r);
}

static bool is_dns_label(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 63 || s[0] == '-' || s[n - 1] == '-') return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

#define HAND_BYTES 3000000000ULL

/* A plan of one node with a placement per given model name, by hand (at most six). */
static place_plan *hand_plan(const char *const *models, size_t n)
{
    place_plan *p = place_plan_new();
    place_node nd = {.name = "node-a", .type = "x", .price_per_hour = 1, .n_gpus = 1};
    snprintf(nd.gpus[0].model, sizeof nd.gpus[0].model, "L4");
    nd.gpus[0].usable_bytes = 20000000000ULL;
    assert_int_equal(place_plan_add_node(p, &nd), 0);
    uint8_t g = 0;
    for (size_t i = 0; i < n; i++)
        assert_true(place_plan_assign(p, models[i], 0, -1, 1, 0, &g, 1, HAND_BYTES) >= 0);
    return p;
}

static void k8s_names_are_unique_dns_labels_and_no_value_escapes_its_quotes(void **state)
{
    (void)state;
    static const char *const models[] = {
        "a.b",
        "a-b",
        "A_B",
        "a-very-long-model-name-that-goes-on-and-on-well-past-sixty-three-characters-x",
        "a-very-long-model-name-that-goes-on-and-on-well-past-sixty-three-characters-y",
        "evil\"\n  injected: true\\"};
    place_plan *p = hand_plan(models, VP_ARRAY_LEN(models));
    plan_export_input in = {.plan = p};
    char *y = export_text(&in, PLAN_EXPORT_K8S);
    /* Every metadata name is a DNS label, and no two are the same. */
    char names[16][80];
    size_t n = 0;
    for (const char *q = strstr(y, "metadata:\n  name: \""); q;
         q = strstr(q + 1, "metadata:\n  name: \"")) {
        const char *s = q + strlen("metadata:\n  name: \"");
        size_t len = (size_t)(strchr(s, '"') - s);
        assert_true(len < sizeof names[0] && n < 16);
        memcpy(names[n], s, len);
        names[n][len] = '\0';
        if (!is_dns_label(names[n])) fail_msg("\"%s\" is not a DNS label", names[n]);
        for (size_t j = 0; j < n; j++)
            if (!strcmp(names[j], names[n])) fail_msg("\"%s\" twice", names[n]);
        n++;
    }
    assert_int_equal(n, VP_ARRAY_LEN(models));
    /* The hostile name stays inside its quotes: no line of its own. */
    assert_contains(y, "vrampack.io/model: \"evil\\\"\\x0a  injected: true\\\\\"");
    for (const char *q = y; (q = strstr(q, "injected")); q++)
        assert_true(q[-1] != '\n' && q[-2] != '\n');
    free(y);
    place_plan_free(p);
}

/* ------------------------------------------------------------------------------- csv/vllm */

static void csv_has_a_header_and_one_row_per_placement_quoted_as_rfc_4180(void **state)
{
    (void)state;
    static const char *const models[] = {"plain", "comma,name", "quote\"name", "=cmd()"};
    place_plan *p = hand_plan(models, VP_ARRAY_LEN(models));
    plan_export_input in = {.plan = p};
    char *c = export_text(&in, PLAN_EXPORT_CSV);
    assert_int_equal(count(c, "\r\n"), 1 + VP_ARRAY_LEN(models));
    assert_true(!strncmp(c, "id,model,replica,stage,stages,node,", 35));
    assert_contains(c,
                    "\r\nplain/0,plain,0,,1,node-a,x,false,1.0000,L4,1,0,3000000000,20000000000,");
    assert_contains(c, "\r\n\"comma,name/0\",\"comma,name\",0,");
    assert_contains(c, "\r\n\"quote\"\"name/0\",\"quote\"\"name\",0,");
    assert_contains(c, "\r\n\"'=cmd()/0\",\"'=cmd()\",0,");
    /* L4 is in the built-in catalog: its physical size and the share are filled. */
    char frac[16], want[64];
    plan_fleet *b = plan_fleet_builtin();
    uint64_t l4 = plan_fleet_gpu(b, "L4")->memory_bytes;
    plan_fleet_free(b);
    want_fraction(frac, HAND_BYTES, l4);
    snprintf(want, sizeof want, ",20000000000,%llu,%s,", (unsigned long long)l4, frac);
    assert_contains(c, want);
    free(c);
    place_plan_free(p);
}

static void vllm_lines_start_each_placement_on_its_gpus_and_own_port(void **state)
{
    (void)state;
    run r;
    solve_review(&r);
    plan_gpu_totals t;
    place_plan *plan = read_back(&r, &t);
    plan_export_input in = {.plan = plan, .totals = &t, .manifest = r.m, .plan_name = "p"};
    char *sh = export_text(&in, PLAN_EXPORT_VLLM);
    assert_true(!strncmp(sh, "#!/bin/sh\n", 10));
    size_t engines = 0, joins = 0;
    for (size_t k = 0; k < plan->n_placements; k++) {
        const place_placement *pl = &plan->placements[k];
        char want[256];
        snprintf(want, sizeof want, "VRAMPACK_PLACEMENT='%s' CUDA_VISIBLE_DEVICES=", pl->id);
        assert_int_equal(count(sh, want), 1);
        if (pl->stage > 0)
            joins++;
        else
            engines++;
    }
    assert_int_equal(count(sh, "'vllm' 'serve'"), engines);
    assert_int_equal(count(sh, "'ray' 'start' '--block'"), joins);
    /* Each node's engines have distinct ports: the k-th gets 8000 + k. */
    for (size_t i = 0; i < plan->n_nodes; i++) {
        size_t on = 0;
        for (size_t k = 0; k < plan->n_placements; k++)
            on += plan->placements[k].node == (int)i && plan->placements[k].stage <= 0;
        char head[160];
        snprintf(head, sizeof head, "\n  '%s')\n", plan->nodes[i].name);
        const char *from = strstr(sh, head);
        if (!on && !from) continue;
        if (!from) fail_msg("no lines for node %s", plan->nodes[i].name);
        char *block = strndup(from, (size_t)(strstr(from, "    ;;\n") - from));
        for (size_t k = 0; k < on; k++) {
            char port[40];
            snprintf(port, sizeof port, "'--port' '%zu'", 8000 + k);
            if (count(block, port) != 1)
                fail_msg("node %s: %s not once", plan->nodes[i].name, port);
        }
        free(block);
    }
    free(sh);
    plan_gpu_totals_free(&t);
    place_plan_free(plan);
    done(&r);
}

/* ------------------------------------------------------------------------------- refusals */

static void exports_refuse_what_they_cannot_write_and_name_the_placement(void **state)
{
    (void)state;
    static const char *const models[] = {"m"};
    place_plan *p = hand_plan(models, 1);
    strcpy(p->nodes[0].gpus[0].model, "MadeUp-1");
    plan_export_input in = {.plan = p};
    plan_export_out out;
    vp_err e = {0};
    assert_int_equal(plan_export(&in, PLAN_EXPORT_VLLM, &out, &e), VP_EINPUT);
    assert_null(out.text);
    assert_contains(e.msg, "m/0: GPU model \"MadeUp-1\" of node node-a: physical memory unknown");
    /* CSV does not need it: the columns stay empty. */
    char *c = export_text(&in, PLAN_EXPORT_CSV);
    assert_contains(c, ",20000000000,,,");
    free(c);

    /* A slice under 1/10000 of its GPU: vLLM's share cannot say it, and no share is rounded up. */
    strcpy(p->nodes[0].gpus[0].model, "L4");
    p->placements[0].bytes_per_gpu = 1000;
    assert_int_equal(plan_export(&in, PLAN_EXPORT_VLLM, &out, &e), VP_EINPUT);
    assert_contains(e.msg, "m/0: its 1000 bytes are under 1/10000 of its GPU");
    c = export_text(&in, PLAN_EXPORT_CSV);
    assert_contains(c, ",0.0000,");
    free(c);
    p->placements[0].bytes_per_gpu = HAND_BYTES;

    /* A manifest that lacks a model of the plan. */
    strcpy(p->nodes[0].gpus[0].model, "L4");
    plan_manifest *m = NULL;
    static const char mtext[] = "{\"models\": [{\"name\": \"other\", \"memory_bytes\": 1000}]}";
    if (plan_manifest_parse(mtext, sizeof mtext - 1, "m.json", NULL, &m, &e)) fail_msg("%s", e.msg);
    in.manifest = m;
    assert_int_equal(plan_export(&in, PLAN_EXPORT_K8S, &out, &e), VP_EINPUT);
    assert_contains(e.msg, "m/0: model \"m\" is not in manifest m.json");
    plan_manifest_free(m);
    place_plan_free(p);
}

static void a_command_template_gets_its_placeholders_filled(void **state)
{
    (void)state;
    static const char *const models[] = {"m"};
    place_plan *p = hand_plan(models, 1);
    plan_manifest *m = NULL;
    vp_err e = {0};
    static const char mtext[] =
        "{\"models\": [{\"name\": \"m\", \"memory_bytes\": 1000, \"source\": \"org/m\","
        " \"worker\": {\"command\": [\"srv\", \"{source}\", \"--tp={tp}\", \"--mem\","
        " \"{fraction}\", \"--port\", \"{port}\", \"{id}\", \"{\\\"json\\\": 1}\"]}}]}";
    if (plan_manifest_parse(mtext, sizeof mtext - 1, "m.json", NULL, &m, &e)) fail_msg("%s", e.msg);
    plan_export_input in = {.plan = p, .manifest = m};
    char *y = export_text(&in, PLAN_EXPORT_K8S);
    assert_contains(y, "- \"srv\"\n            - \"org/m\"\n            - \"--tp=1\"\n");
    assert_contains(y, "- \"--port\"\n            - \"8000\"\n            - \"m/0\"\n");
    assert_contains(y, "- \"{\\\"json\\\": 1}\"\n");
    free(y);
    plan_manifest_free(m);
    place_plan_free(p);
}

static void kv_bytes_in_a_template_is_the_kv_cache_on_each_gpu_as_agents_give_it(void **state)
{
    (void)state;
    static const char *const models[] = {"m"};
    place_plan *p = hand_plan(models, 1);
    plan_manifest *m = NULL;
    vp_err e = {0};
    static const char mtext[] =
        "{\"models\": [{\"name\": \"m\", \"params\": 8030261248, \"layers\": 32,"
        " \"kv_heads\": 8, \"head_dim\": 128, \"max_seq_len\": 4096, \"max_batch\": 2,"
        " \"worker\": {\"command\": [\"srv\", \"--kv={kv_bytes}\"]}}]}";
    if (plan_manifest_parse(mtext, sizeof mtext - 1, "m.json", NULL, &m, &e)) fail_msg("%s", e.msg);
    /* 32 layers x 2 (K, V) x 8 heads x 128 dims x 2 bytes x 4096 tokens x 2 sequences. */
    uint64_t want = 32ULL * 2 * 8 * 128 * 2 * 4096 * 2;
    assert_int_equal(plan_kv_bytes_per_gpu(&m->models[0], 1, 1), want);
    plan_export_input in = {.plan = p, .manifest = m};
    char *y = export_text(&in, PLAN_EXPORT_K8S);
    char line[64];
    snprintf(line, sizeof line, "- \"--kv=%llu\"", (unsigned long long)want);
    assert_contains(y, line);
    free(y);
    plan_manifest_free(m);
    place_plan_free(p);
}

/* The exports spell the KV-cache dtype as the agent's launches do (the engine module's table). */
static void the_kv_dtype_flag_is_spelled_as_the_engine_module_launches_it(void **state)
{
    (void)state;
    static const char *const models[] = {"m"};
    static const struct {
        const char *engine, *kv, *value, *want;
    } cases[] = {
        {"sglang", "fp8", "fp8_e4m3", "- \"--kv-cache-dtype\"\n            - \"fp8_e4m3\""},
        {"vllm", "fp8", "fp8", "- \"--kv-cache-dtype\"\n            - \"fp8\""},
        {"llama.cpp", "bf16", "bf16", "- \"--cache-type-k\"\n            - \"bf16\""}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        place_plan *p = hand_plan(models, 1);
        plan_manifest *m = NULL;
        vp_err e = {0};
        char mtext[512];
        snprintf(mtext, sizeof mtext,
                 "{\"models\": [{\"name\": \"m\", \"params\": 8030261248, \"layers\": 32,"
                 " \"kv_heads\": 8, \"head_dim\": 128, \"max_seq_len\": 4096, \"max_batch\": 2,"
                 " \"hidden\": 4096, \"intermediate\": 14336, \"vocab\": 128256,"
                 " \"kv_dtype\": \"%s\", \"engine\": \"%s\"}]}",
                 cases[i].kv, cases[i].engine);
        if (plan_manifest_parse(mtext, strlen(mtext), "m.json", NULL, &m, &e))
            fail_msg("%s", e.msg);
        assert_string_equal(eng_kv_dtype_value(m->models[0].engine, cases[i].kv), cases[i].value);
        plan_export_input in = {.plan = p, .manifest = m};
        char *y = export_text(&in, PLAN_EXPORT_K8S);
        assert_contains(y, cases[i].want);
        free(y);
        plan_manifest_free(m);
        place_plan_free(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_plan_written_with_its_fleet_carries_every_gpus_physical_memory),
        cmocka_unit_test(
            an_older_plan_file_without_totals_still_reads_and_a_wrong_total_is_refused),
        cmocka_unit_test(k8s_has_one_pinned_deployment_per_placement_with_its_gpus_and_flags),
        cmocka_unit_test(k8s_names_are_unique_dns_labels_and_no_value_escapes_its_quotes),
        cmocka_unit_test(csv_has_a_header_and_one_row_per_placement_quoted_as_rfc_4180),
        cmocka_unit_test(vllm_lines_start_each_placement_on_its_gpus_and_own_port),
        cmocka_unit_test(exports_refuse_what_they_cannot_write_and_name_the_placement),
        cmocka_unit_test(a_command_template_gets_its_placeholders_filled),
        cmocka_unit_test(kv_bytes_in_a_template_is_the_kv_cache_on_each_gpu_as_agents_give_it),
        cmocka_unit_test(the_kv_dtype_flag_is_spelled_as_the_engine_module_launches_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
