/* test_report.c - the plan report in every format, and the two baselines it compares against.
 *
 * Plans come from the real pipeline (manifest text -> built-in or toy fleet -> plan_ffd), and
 * every expected figure is read back from that plan or recomputed here by an independent route
 * (the A100-80GB baseline by filtering the fleet by hand; the one-per-GPU baseline by pricing
 * each replica against the catalog), never typed in. */
/* cmocka needs these four first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_fixture.h"

/* ---------------------------------------------------------------------------------- formats */

static void report_formats_are_parsed_by_name_and_unknown_ones_refused(void **state)
{
    (void)state;
    plan_report_fmt f;
    static const char *const names[] = {"text", "md", "json", "html"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(plan_report_parse_fmt(names[i], &f), 0);
        assert_string_equal(plan_report_fmt_name(f), names[i]);
    }
    assert_int_equal(plan_report_parse_fmt("markdown", &f), 0);
    assert_int_equal(f, PLAN_REPORT_MD);
    assert_int_equal(plan_report_parse_fmt("pdf", &f), VP_ENOTFOUND);
    assert_int_equal(plan_report_parse_fmt("", &f), VP_ENOTFOUND);
}

static void markdown_report_renders_pipe_tables_with_the_cost_and_lower_bound(void **state)
{
    (void)state;
    run r;
    solve(&r, SHARED_MANIFEST);
    char *md = render(&r, PLAN_REPORT_MD);
    char want[128];
    assert_true(r.plan->cost_per_hour < 1000); /* so "$%.2f" needs no thousands separator */
    snprintf(want, sizeof want, "**Lower bound:** $%.2f/hour", r.plan->lower_bound_per_hour);
    assert_contains(md, want);
    snprintf(want, sizeof want, "**Plan:** $%.2f/hour", r.plan->cost_per_hour);
    assert_contains(md, want);
    assert_contains(md, "| model | params | dtype |");
    assert_contains(md, "| --- | ---: | --- |");
    assert_contains(md, "| node | type | $/hour |");
    assert_contains(md, "| policy | $/hour |");
    assert_contains(md, "| embed | - | measured |");
    assert_contains(md, "1 GiB = 2^30 bytes");
    /* Every table row has as many cells as its header. */
    size_t cols = 0;
    for (const char *line = md; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len && line[0] == '|') {
            size_t pipes = 0;
            for (size_t i = 0; i < len; i++)
                pipes += line[i] == '|' && (!i || line[i - 1] != '\\');
            if (!cols) cols = pipes;
            if (pipes != cols)
                fail_msg("row with %zu pipes, header has %zu: %.*s", pipes, cols, (int)len, line);
        } else {
            cols = 0;
        }
        line = end ? end + 1 : NULL;
    }
    free(md);
    done(&r);
}

static void text_report_names_each_model_node_and_the_gap(void **state)
{
    (void)state;
    run r;
    solve(&r, SHARED_MANIFEST);
    char *txt = render(&r, PLAN_REPORT_TEXT);
    assert_contains(txt, "vrampack plan report\n====");
    assert_contains(txt, "embed");
    assert_contains(txt, "chat");
    for (size_t i = 0; i < r.plan->n_nodes; i++)
        if (place_node_load(r.plan, i)) assert_contains(txt, r.plan->nodes[i].name);
    assert_contains(txt, "Gap:");
    assert_contains(txt, "None: every requested replica has a place.");
    assert_null(strchr(txt, '|'));
    assert_contains(txt, "Against the baselines");
    free(txt);
    /* Without baselines the section is left out, and the JSON says null. */
    txt = plan_report(r.p, r.plan, NULL, PLAN_REPORT_TEXT);
    assert_non_null(txt);
    assert_null(strstr(txt, "Against the baselines"));
    free(txt);
    char *js = plan_report(r.p, r.plan, NULL, PLAN_REPORT_JSON);
    assert_non_null(js);
    cJSON *o = cJSON_Parse(js);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "baselines")));
    cJSON_Delete(o);
    free(js);
    done(&r);
}

static void json_report_parses_and_its_figures_equal_the_plans(void **state)
{
    (void)state;
    run r;
    solve(&r, SHARED_MANIFEST);
    char *js = render(&r, PLAN_REPORT_JSON);
    cJSON *o = cJSON_Parse(js);
    assert_non_null(o);
    assert_int_equal((int)num(o, "report_version"), 1);
    assert_string_equal(str(o, "manifest"), "review.json");
    assert_string_equal(str(o, "fleet"), r.f->source);
    assert_true(num(o, "bytes_per_gib") == 1073741824.0);
    assert_true(num(o, "hours_per_month") == 730.0);
    assert_string_equal(str(o, "solver"), r.plan->solver);
    assert_string_equal(str(o, "status"), r.plan->status);
    assert_close(num(o, "cost_per_hour"), r.plan->cost_per_hour);
    assert_close(num(o, "cost_per_month"), r.plan->cost_per_hour * 730.0);
    assert_close(num(o, "lower_bound_per_hour"), r.plan->lower_bound_per_hour);
    assert_close(num(o, "gap"), r.plan->gap);
    assert_close(num(o, "max_above_optimal"),
                 (r.plan->cost_per_hour - r.plan->lower_bound_per_hour) /
                     r.plan->lower_bound_per_hour);
    assert_int_equal((int)num(o, "replicas_requested"), 9);
    assert_int_equal((int)num(o, "replicas_placed"), 9);
    assert_int_equal((int)num(o, "replicas_unplaced"), (int)r.plan->n_unplaced);

    /* Models: manifest order, and the per-GPU bytes are the placements' own. */
    const cJSON *models = arr(o, "models");
    assert_int_equal(cJSON_GetArraySize(models), (int)r.m->n_models);
    for (size_t i = 0; i < r.m->n_models; i++) {
        const cJSON *mo = cJSON_GetArrayItem(models, (int)i);
        assert_string_equal(str(mo, "name"), r.m->models[i].name);
        uint64_t per = 0;
        uint32_t placed = 0;
        for (size_t k = 0; k < r.plan->n_placements; k++) {
            const place_placement *pl = &r.plan->placements[k];
            if (strcmp(pl->model, r.m->models[i].name)) continue;
            if (pl->bytes_per_gpu > per) per = pl->bytes_per_gpu;
            placed += pl->stage <= 0;
        }
        assert_true(num(mo, "per_gpu_bytes") == (double)per);
        assert_int_equal((int)num(mo, "placed"), (int)placed);
        assert_int_equal((int)num(mo, "replicas"), (int)r.m->models[i].replicas);
        assert_true(num(mo, "total_bytes") == num(mo, "weights_bytes") + num(mo, "kv_cache_bytes") +
                                                  num(mo, "overhead_bytes") +
                                                  num(mo, "reserve_bytes"));
    }
    assert_true(num(cJSON_GetArrayItem(models, 0), "weights_bytes") == 10737418240.0);

    /* Nodes: used bytes add up, and every placement is listed on each of its GPUs. */
    const cJSON *nodes = arr(o, "nodes");
    size_t busy = 0, ids = 0, want_ids = 0;
    double used = 0;
    for (size_t i = 0; i < r.plan->n_nodes; i++)
        busy += place_node_load(r.plan, i) > 0;
    for (size_t k = 0; k < r.plan->n_placements; k++)
        want_ids += (size_t)r.plan->placements[k].n_gpus;
    assert_int_equal(cJSON_GetArraySize(nodes), (int)busy);
    const cJSON *n;
    cJSON_ArrayForEach(n, nodes)
    {
        used += num(n, "used_bytes");
        const cJSON *g;
        cJSON_ArrayForEach(g, arr(n, "gpus")) ids +=
            (size_t)cJSON_GetArraySize(arr(g, "placements"));
    }
    assert_true(used == num(o, "used_bytes"));
    assert_int_equal(ids, want_ids);

    /* Baselines and savings. */
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "baselines");
    const cJSON *one = cJSON_GetObjectItemCaseSensitive(b, "one_model_per_gpu");
    const cJSON *a100 = cJSON_GetObjectItemCaseSensitive(b, "a100_80gb");
    assert_non_null(one);
    assert_non_null(a100);
    assert_close(num(one, "cost_per_hour"), r.b.one_per_gpu.cost_per_hour);
    assert_close(num(one, "savings_per_hour"),
                 r.b.one_per_gpu.cost_per_hour - r.plan->cost_per_hour);
    assert_close(num(one, "savings_per_month"),
                 (r.b.one_per_gpu.cost_per_hour - r.plan->cost_per_hour) * 730.0);
    assert_close(num(one, "savings_fraction"),
                 (r.b.one_per_gpu.cost_per_hour - r.plan->cost_per_hour) /
                     r.b.one_per_gpu.cost_per_hour);
    assert_close(num(a100, "cost_per_hour"), r.b.a100.cost_per_hour);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a100, "available")));

    /* The plan itself is embedded as the plan file has it. */
    const cJSON *plan = cJSON_GetObjectItemCaseSensitive(o, "plan");
    assert_int_equal(cJSON_GetArraySize(arr(plan, "placements")), (int)r.plan->n_placements);
    assert_close(num(plan, "cost_per_hour"), r.plan->cost_per_hour);
    cJSON_Delete(o);
    free(js);
    done(&r);
}

static void html_report_is_one_page_and_escapes_markup_in_names(void **state)
{
    (void)state;
    run r;
    memset(&r, 0, sizeof r);
    plan_manifest *m = parse_manifest(SHARED_MANIFEST);
    /* Manifests refuse such names; a plan read from elsewhere may still carry one. */
    strcpy(m->models[0].name, "embed<script>&\"'");
    snprintf(m->source, sizeof m->source, "<b>review</b>.json");
    solve_with(&r, m, plan_fleet_builtin());
    char *html = render(&r, PLAN_REPORT_HTML);
    assert_contains(html, "<!DOCTYPE html>");
    assert_contains(html, "<style>");
    assert_contains(html, "embed&lt;script&gt;&amp;&quot;&#39;");
    assert_contains(html, "&lt;b&gt;review&lt;/b&gt;.json");
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<b>"));
    assert_contains(html, "</html>\n");
    free(html);
    char *md = render(&r, PLAN_REPORT_MD);
    assert_contains(md, "embed&lt;script&gt;&amp;");
    assert_null(strstr(md, "<script"));
    free(md);
    done(&r);
}

static void unplaced_replicas_are_listed_with_their_reason(void **state)
{
    (void)state;
    run r;
    solve(&r, "{\"models\": [{\"name\": \"small\", \"memory_bytes\": 1073741824},"
              " {\"name\": \"huge\", \"memory_bytes\": 1099511627776, \"replicas\": 2}]}");
    assert_int_equal(r.plan->n_unplaced, 2);
    char *txt = render(&r, PLAN_REPORT_TEXT);
    assert_contains(txt, "Unplaced replicas");
    assert_contains(txt, "2 replicas could not be placed");
    assert_contains(txt, r.plan->unplaced[0].reason);
    assert_contains(txt, "0-1 (2)");
    free(txt);
    char *js = render(&r, PLAN_REPORT_JSON);
    cJSON *o = cJSON_Parse(js);
    assert_non_null(o);
    const cJSON *u = arr(o, "unplaced");
    assert_int_equal(cJSON_GetArraySize(u), 2);
    assert_string_equal(str(cJSON_GetArrayItem(u, 1), "model"), "huge");
    assert_string_equal(str(cJSON_GetArrayItem(u, 1), "reason"), r.plan->unplaced[1].reason);
    /* Neither baseline can place it either, and says so. */
    assert_int_equal(r.b.one_per_gpu.replicas_unplaced, 2);
    assert_int_equal(r.b.a100.replicas_unplaced, 2);
    cJSON_Delete(o);
    free(js);
    done(&r);
}

/* -------------------------------------------------------------------------------- baselines */

static void one_model_per_gpu_costs_more_than_a_plan_that_shares_gpus(void **state)
{
    (void)state;
    run r;
    solve(&r, "{\"models\": [{\"name\": \"embed\", \"memory_bytes\": 10737418240, "
              "\"replicas\": 8}]}");
    /* Independently: each replica alone buys the cheapest instance whose GPU holds 10 GiB. */
    double cheapest = -1;
    for (size_t i = 0; i < r.f->n_types; i++) {
        const plan_gpu_model *g = plan_fleet_gpu(r.f, r.f->types[i].gpu);
        if (plan_fleet_usable(r.f, g) < 10737418240ULL) continue;
        if (cheapest < 0 || r.f->types[i].price_per_hour < cheapest)
            cheapest = r.f->types[i].price_per_hour;
    }
    assert_true(cheapest > 0);
    assert_close(r.b.one_per_gpu.cost_per_hour, 8 * cheapest);
    assert_int_equal(r.b.one_per_gpu.nodes, 8);
    assert_int_equal(r.b.one_per_gpu.replicas_placed, 8);
    assert_int_equal(r.b.one_per_gpu.replicas_unplaced, 0);
    assert_true(r.b.one_per_gpu.cost_per_hour > r.plan->cost_per_hour);
    assert_close(r.b.picks[0].cost_per_hour, 8 * cheapest);
    done(&r);
}

static void one_model_per_gpu_respects_allow_lists_and_buys_a_node_per_pipeline_stage(void **state)
{
    (void)state;
    run r;
    solve(&r, "{\"models\": [{\"name\": \"big\", \"hf_config\": \"../hf/llama-3.1-405b.json\","
              " \"dtype\": \"bf16\", \"max_seq_len\": 8192, \"max_batch\": 4,"
              " \"pipeline_parallel\": \"auto\", \"gpu_types\": [\"H100\"]}]}");
    assert_int_equal(r.p->groups[0].pp, 2);
    assert_int_equal(r.b.one_per_gpu.replicas_placed, 1);
    assert_int_equal(r.b.picks[0].nodes_per_replica, 2);
    assert_int_equal(r.b.one_per_gpu.nodes, 2);
    const plan_bintype *bt = &r.p->bintypes[r.b.picks[0].bintype];
    assert_string_equal(r.f->gpus[bt->gpu].name, "H100-80GB");
    assert_int_equal(r.b.one_per_gpu.gpus, 2 * bt->n_gpus);
    assert_close(r.b.one_per_gpu.cost_per_hour, 2 * bt->price_per_hour);
    /* The cheapest H100 node kind whose GPUs hold one stage, found independently. */
    for (size_t b = 0; b < r.p->n_bintypes; b++)
        if (r.p->groups[0].shapes[b].ok)
            assert_true(r.p->bintypes[b].price_per_hour >= bt->price_per_hour);
    done(&r);
}

/* Is gpu on the allow-list of a model of m that rules A100-80GB out? */
static bool kept_for_restricted(const plan_manifest *m, const char *gpu)
{
    for (size_t i = 0; i < m->n_models; i++) {
        bool a100 = false, listed = false;
        for (size_t k = 0; k < m->models[i].n_gpu_types; k++) {
            a100 |= !strcmp(m->models[i].gpu_types[k], "A100-80GB");
            listed |= !strcmp(m->models[i].gpu_types[k], gpu);
        }
        if (m->models[i].n_gpu_types && !a100 && listed) return true;
    }
    return false;
}

/* FFD on a fleet reduced by hand to src's A100-80GB instance types (the built-in catalog's when
 * src is NULL) with no count limit, plus the types of GPUs that A100-less allow-lists name;
 * every other model restricted to A100-80GB. */
static place_plan *ffd_on_a100_only(const plan_manifest *m, const plan_fleet *src)
{
    vp_err e = {0};
    plan_fleet *f = plan_fleet_builtin();
    assert_non_null(f);
    if (src) {
        plan_instance *t = calloc(src->n_types, sizeof *t);
        assert_non_null(t);
        memcpy(t, src->types, src->n_types * sizeof *t);
        free(f->types);
        f->types = t;
        f->n_types = src->n_types;
    }
    size_t w = 0;
    for (size_t i = 0; i < f->n_types; i++)
        if (!strcmp(f->types[i].gpu, "A100-80GB")) {
            f->types[w] = f->types[i];
            f->types[w++].max_count = -1;
        } else if (kept_for_restricted(m, f->types[i].gpu)) {
            f->types[w++] = f->types[i];
        }
    assert_true(w > 0);
    f->n_types = w;
    plan_manifest copy = *m;
    copy.models = calloc(m->n_models, sizeof *copy.models);
    assert_non_null(copy.models);
    memcpy(copy.models, m->models, m->n_models * sizeof *copy.models);
    for (size_t i = 0; i < copy.n_models; i++) {
        bool a100 = !copy.models[i].n_gpu_types;
        for (size_t k = 0; k < copy.models[i].n_gpu_types; k++)
            a100 |= !strcmp(copy.models[i].gpu_types[k], "A100-80GB");
        if (!a100) continue;
        copy.models[i].n_gpu_types = 1;
        strcpy(copy.models[i].gpu_types[0], "A100-80GB");
    }
    plan_problem *p = NULL;
    place_plan *plan = NULL;
    if (plan_problem_build(&copy, f, &p, &e)) fail_msg("problem: %s", e.msg);
    if (plan_ffd(p, &plan, &e)) fail_msg("ffd: %s", e.msg);
    for (size_t i = 0; i < plan->n_nodes; i++)
        if (place_node_load(plan, i) && strcmp(plan->nodes[i].gpus[0].model, "A100-80GB"))
            assert_true(kept_for_restricted(m, plan->nodes[i].gpus[0].model));
    plan_problem_free(p);
    free(copy.models);
    plan_fleet_free(f);
    return plan;
}

static void a100_baseline_equals_ffd_on_a100_instance_types_alone(void **state)
{
    (void)state;
    run r;
    solve(&r, "{\"models\": ["
              " {\"name\": \"embed\", \"memory_bytes\": 10737418240, \"replicas\": 5},"
              " {\"name\": \"chat\", \"hf_config\": \"../hf/llama-3.1-8b.json\","
              "  \"dtype\": \"bf16\", \"max_seq_len\": 8192, \"max_batch\": 16, \"replicas\": 3},"
              " {\"name\": \"l4-only\", \"memory_bytes\": 5368709120, \"gpu_types\": [\"L4\"]}]}");
    place_plan *want = ffd_on_a100_only(r.m, NULL);
    size_t nodes = 0, gpus = 0;
    for (size_t i = 0; i < want->n_nodes; i++)
        if (place_node_load(want, i)) {
            nodes++;
            gpus += (size_t)want->nodes[i].n_gpus;
        }
    assert_true(r.b.a100.available);
    assert_close(r.b.a100.cost_per_hour, want->cost_per_hour);
    assert_int_equal(r.b.a100.nodes, nodes);
    assert_int_equal(r.b.a100.gpus, gpus);
    assert_int_equal(r.b.a100.replicas_unplaced, want->n_unplaced);
    /* The L4-only model stays on L4; the other 8 replicas go to A100-80GB. */
    assert_int_equal(r.b.a100.replicas_placed, 9);
    assert_int_equal(r.b.a100.replicas_unplaced, 0);
    place_plan_free(want);
    done(&r);
}

static void a100_baseline_falls_back_to_built_in_prices_when_the_fleet_sells_none(void **state)
{
    (void)state;
    static const char fleet[] =
        "{\"catalog\": [{\"type\": \"l4x4\", \"gpus\": {\"L4\": 4}, \"price_per_hour\": 4.0}]}";
    vp_err e = {0};
    plan_fleet *f = NULL;
    if (plan_fleet_parse(fleet, sizeof fleet - 1, "fleet.json", &f, &e)) fail_msg("%s", e.msg);
    run r;
    memset(&r, 0, sizeof r);
    solve_with(&r,
               parse_manifest("{\"models\": [{\"name\": \"e\", \"memory_bytes\": 1073741824, "
                              "\"replicas\": 3}]}"),
               f);
    place_plan *want = ffd_on_a100_only(r.m, NULL);
    assert_true(r.b.a100.available);
    assert_close(r.b.a100.cost_per_hour, want->cost_per_hour);
    assert_contains(r.b.a100.note, "built-in catalog");
    place_plan_free(want);
    done(&r);
}

static void a100_baseline_buys_past_the_fleets_max_count(void **state)
{
    (void)state;
    static const char fleet[] =
        "{\"catalog\": [{\"type\": \"a100x1\", \"gpus\": {\"A100-80GB\": 1},"
        "                \"price_per_hour\": 5.0, \"max_count\": 1},"
        "               {\"type\": \"h200x8\", \"gpus\": {\"H200\": 8}, \"price_per_hour\": "
        "60.0}]}";
    vp_err e = {0};
    plan_fleet *f = NULL;
    if (plan_fleet_parse(fleet, sizeof fleet - 1, "fleet.json", &f, &e)) fail_msg("%s", e.msg);
    run r;
    memset(&r, 0, sizeof r);
    solve_with(&r,
               parse_manifest("{\"models\": [{\"name\": \"m\", \"memory_bytes\": 64424509440, "
                              "\"replicas\": 3}]}"),
               f);
    /* The plan itself may buy one a100x1 only; the baseline asks what A100s alone would cost. */
    place_plan *want = ffd_on_a100_only(r.m, f);
    assert_int_equal(want->n_unplaced, 0);
    assert_int_equal(r.b.a100.replicas_placed, 3);
    assert_int_equal(r.b.a100.replicas_unplaced, 0);
    assert_close(r.b.a100.cost_per_hour, want->cost_per_hour);
    assert_close(r.b.a100.cost_per_hour, 3 * f->types[0].price_per_hour);
    place_plan_free(want);
    done(&r);
}

/* ------------------------------------------------------------------------------- examples */

static void the_example_review_plans_every_replica_and_shows_savings(void **state)
{
    (void)state;
    vp_err e = {0};
    run r;
    memset(&r, 0, sizeof r);
    plan_manifest *m = NULL;
    if (plan_manifest_load(VP_EXAMPLES "/review.json", &m, &e)) fail_msg("%s", e.msg);
    assert_true(m->n_models >= 12);
    solve_with(&r, m, plan_fleet_builtin());
    assert_int_equal(r.plan->n_unplaced, 0);
    char why[256];
    if (place_plan_validate(r.plan, why, sizeof why)) fail_msg("invalid plan: %s", why);
    /* The 405B model spans two nodes as two pipeline stages. */
    int stages = 0, node0 = -1;
    for (size_t k = 0; k < r.plan->n_placements; k++) {
        const place_placement *pl = &r.plan->placements[k];
        if (strcmp(pl->model, "llama-3.1-405b-research")) continue;
        assert_int_equal(pl->n_stages, 2);
        assert_int_equal(pl->n_gpus, 8);
        if (stages++ == 0)
            node0 = pl->node;
        else
            assert_int_not_equal(pl->node, node0);
    }
    assert_int_equal(stages, 2);
    assert_true(r.b.one_per_gpu.cost_per_hour > r.plan->cost_per_hour);
    assert_int_equal(r.b.one_per_gpu.replicas_unplaced, 0);
    char *md = render(&r, PLAN_REPORT_MD);
    assert_contains(md, "| one model per GPU |");
    assert_contains(md, "| everything on A100-80GB |");
    free(md);
    done(&r);
}

static void the_example_fleet_and_small_manifest_plan_together(void **state)
{
    (void)state;
    vp_err e = {0};
    plan_fleet *f = NULL;
    plan_manifest *m = NULL;
    if (plan_fleet_load(VP_EXAMPLES "/fleet.json", &f, &e)) fail_msg("%s", e.msg);
    if (plan_manifest_load(VP_EXAMPLES "/small.json", &m, &e)) fail_msg("%s", e.msg);
    assert_true(f->n_nodes > 0);
    assert_non_null(plan_fleet_gpu(f, "RTX-6000-Ada"));
    run r;
    memset(&r, 0, sizeof r);
    solve_with(&r, m, f);
    assert_int_equal(r.plan->n_unplaced, 0);
    char *txt = render(&r, PLAN_REPORT_TEXT);
    assert_contains(txt, VP_EXAMPLES "/fleet.json");
    free(txt);
    done(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(report_formats_are_parsed_by_name_and_unknown_ones_refused),
        cmocka_unit_test(markdown_report_renders_pipe_tables_with_the_cost_and_lower_bound),
        cmocka_unit_test(text_report_names_each_model_node_and_the_gap),
        cmocka_unit_test(json_report_parses_and_its_figures_equal_the_plans),
        cmocka_unit_test(html_report_is_one_page_and_escapes_markup_in_names),
        cmocka_unit_test(unplaced_replicas_are_listed_with_their_reason),
        cmocka_unit_test(one_model_per_gpu_costs_more_than_a_plan_that_shares_gpus),
        cmocka_unit_test(one_model_per_gpu_respects_allow_lists_and_buys_a_node_per_pipeline_stage),
        cmocka_unit_test(a100_baseline_equals_ffd_on_a100_instance_types_alone),
        cmocka_unit_test(a100_baseline_falls_back_to_built_in_prices_when_the_fleet_sells_none),
        cmocka_unit_test(a100_baseline_buys_past_the_fleets_max_count),
        cmocka_unit_test(the_example_review_plans_every_replica_and_shows_savings),
        cmocka_unit_test(the_example_fleet_and_small_manifest_plan_together),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
