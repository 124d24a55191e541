/* test_report_review.c - what a cost reviewer reads: one count of nodes and GPUs in every section,
 * baselines compared only like for like, the bill of materials, the HTML page's pictures and the
 * place of the N+1 table.
 *
 * Plans come from the real pipeline (report_fixture.h); every expected figure is recounted here
 * from the plan itself, never typed in. */
/* cmocka needs these four first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "report_fixture.h"

/* Two owned A100 servers and an owned H100 server, three L4 instances for sale. The "big" model
 * fills one A100 server, "small" needs L4s, and "huge" fits nowhere: one replica unplaced, two
 * inventory nodes idle. */
#define INV_FLEET                                                                                  \
    "{\"catalog\": [{\"type\": \"g6.xlarge\", \"gpus\": {\"L4\": 1}, \"price_per_hour\": 0.8048,"  \
    "               \"max_count\": 3}],"                                                           \
    " \"nodes\": [{\"name\": \"dc1-a100-0\", \"gpus\": {\"A100-80GB\": 8}, \"price_per_hour\": "   \
    "9.5},"                                                                                        \
    "           {\"name\": \"dc1-a100-1\", \"gpus\": {\"A100-80GB\": 8}, \"price_per_hour\": "     \
    "9.5},"                                                                                        \
    "           {\"name\": \"spare-h100\", \"gpus\": {\"H100\": 8}, \"price_per_hour\": 30}]}"
#define INV_MANIFEST                                                                               \
    "{\"models\": ["                                                                               \
    " {\"name\": \"big\", \"memory_bytes\": 60000000000, \"replicas\": 3,"                         \
    "  \"gpu_types\": [\"A100-80GB\"]},"                                                           \
    " {\"name\": \"small\", \"memory_bytes\": 10000000000, \"replicas\": 4,"                       \
    "  \"gpu_types\": [\"L4\"]},"                                                                  \
    " {\"name\": \"huge\", \"memory_bytes\": 900000000000}]}"

/* examples/review.json on the example fleet file, or on the built-in catalog when NULL. */
static void solve_review(run *r, const char *fleet_path)
{
    vp_err e = {0};
    plan_manifest *m = NULL;
    plan_fleet *f = NULL;
    if (plan_manifest_load(VP_EXAMPLES "/review.json", &m, &e)) fail_msg("%s", e.msg);
    if (fleet_path ? plan_fleet_load(fleet_path, &f, &e) : !(f = plan_fleet_builtin()))
        fail_msg("fleet: %s", e.msg);
    memset(r, 0, sizeof *r);
    solve_with(r, m, f);
}

static void solve_inventory(run *r)
{
    memset(r, 0, sizeof *r);
    solve_with(r, parse_manifest(INV_MANIFEST), parse_fleet(INV_FLEET));
}

typedef struct recount {
    unsigned nodes_paid, gpus_paid, nodes_idle, gpus_idle, gpus_busy;
    double cost;
} recount;

static recount recount_plan(const place_plan *plan)
{
    recount c = {0};
    for (size_t i = 0; i < plan->n_nodes; i++) {
        const place_node *n = &plan->nodes[i];
        bool hosts = false;
        for (size_t k = 0; k < plan->n_placements; k++)
            hosts |= plan->placements[k].node == (int)i;
        if (hosts) {
            c.nodes_paid++;
            c.gpus_paid += (unsigned)n->n_gpus;
            c.cost += n->price_per_hour;
            for (int g = 0; g < n->n_gpus; g++)
                c.gpus_busy += n->gpus[g].used_bytes > 0;
        } else if (n->inventory) {
            c.nodes_idle++;
            c.gpus_idle += (unsigned)n->n_gpus;
        }
    }
    return c;
}

/* The line of text that starts with prefix, through its newline (in a static buffer). */
static const char *line_of(const char *text, const char *prefix)
{
    static char line[1024];
    for (const char *p = text; p && *p;) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) + 1 : strlen(p);
        if (!strncmp(p, prefix, strlen(prefix)) && n < sizeof line) {
            memcpy(line, p, n);
            line[n] = '\0';
            return line;
        }
        p = end ? end + 1 : NULL;
    }
    fail_msg("no line starts with \"%s\" in:\n%s", prefix, text);
    return "";
}

static const cJSON *obj(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsObject(it)) fail_msg("key \"%s\" missing or not an object", key);
    return it;
}

static bool is_null(const cJSON *o, const char *key)
{
    return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, key));
}

static cJSON *render_json(const run *r)
{
    char *js = render(r, PLAN_REPORT_JSON);
    cJSON *o = cJSON_Parse(js);
    free(js);
    if (!o) fail_msg("the JSON report does not parse");
    return o;
}

/* ----------------------------------------------------------------------------- one count */

static void every_section_gives_the_same_node_and_gpu_counts_with_idle_inventory(void **state)
{
    (void)state;
    run r;
    solve_inventory(&r);
    recount c = recount_plan(r.plan);
    assert_int_equal(r.plan->n_unplaced, 1);
    assert_int_equal(c.nodes_idle, 2);
    assert_close(c.cost, r.plan->cost_per_hour);

    char want[256];
    char *txt = render(&r, PLAN_REPORT_TEXT);
    snprintf(want, sizeof want, "%u nodes host replicas with %u GPUs", c.nodes_paid, c.gpus_paid);
    assert_contains(txt, want);
    snprintf(want, sizeof want, "%u of %u hold a slice", c.gpus_busy, c.gpus_paid);
    assert_contains(txt, want);
    snprintf(want, sizeof want, "%u owned nodes with %u GPUs", c.nodes_idle, c.gpus_idle);
    assert_contains(txt, want);
    free(txt);

    char *md = render(&r, PLAN_REPORT_MD);
    snprintf(want, sizeof want, "| %u | %u | 1 | - | - | - |\n", c.nodes_paid, c.gpus_paid);
    assert_contains(line_of(md, "| this plan |"), want);
    snprintf(want, sizeof want, "|  |  |  | %u | %u |  | $%.2f |", c.nodes_paid, c.gpus_paid,
             r.plan->cost_per_hour);
    assert_true(r.plan->cost_per_hour < 1000); /* "$%.2f" needs no thousands separator */
    assert_contains(line_of(md, "| total |"), want);
    free(md);

    cJSON *o = render_json(&r);
    assert_int_equal((int)num(o, "nodes_paid"), (int)c.nodes_paid);
    assert_int_equal((int)num(o, "gpus_paid"), (int)c.gpus_paid);
    assert_int_equal((int)num(o, "nodes_idle_inventory"), (int)c.nodes_idle);
    assert_int_equal((int)num(o, "gpus_idle_inventory"), (int)c.gpus_idle);
    assert_int_equal((int)num(o, "gpus_total"), (int)(c.gpus_paid + c.gpus_idle));
    assert_int_equal((int)num(o, "gpus_used"), (int)c.gpus_busy);
    /* The bill of materials adds up to the same nodes, GPUs and cost. */
    unsigned nodes = 0, gpus = 0;
    double cost = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, arr(o, "bill_of_materials"))
    {
        nodes += (unsigned)num(row, "count");
        gpus += (unsigned)num(row, "gpus");
        cost += num(row, "cost_per_hour");
        assert_close(num(row, "cost_per_hour"), num(row, "count") * num(row, "price_per_hour"));
    }
    assert_int_equal(nodes, c.nodes_paid);
    assert_int_equal(gpus, c.gpus_paid);
    assert_close(cost, r.plan->cost_per_hour);
    /* Every listed node says whether it is paid for. */
    unsigned paid = 0;
    cJSON_ArrayForEach(row, arr(o, "nodes")) paid +=
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row, "paid"));
    assert_int_equal(paid, c.nodes_paid);
    assert_int_equal(cJSON_GetArraySize(arr(o, "nodes")), (int)(c.nodes_paid + c.nodes_idle));
    cJSON_Delete(o);
    done(&r);
}

/* ------------------------------------------------------------------------- like for like */

static void a_baseline_that_places_other_replicas_is_not_shown_as_a_saving(void **state)
{
    (void)state;
    run r;
    solve_inventory(&r);
    /* The one-model-per-GPU policy runs out of A100 servers: it places fewer replicas. */
    assert_true(r.b.one_per_gpu.replicas_placed < 7);
    char *md = render(&r, PLAN_REPORT_MD);
    assert_contains(md, "| one model per GPU | $");
    char want[256];
    snprintf(want, sizeof want, "| %u | n/a | n/a | n/a |", r.b.one_per_gpu.replicas_unplaced);
    assert_contains(md, want);
    snprintf(want, sizeof want,
             "One model per GPU is not compared: it places %u of 8 replicas, "
             "this plan 7",
             r.b.one_per_gpu.replicas_placed);
    assert_contains(md, want);
    free(md);

    cJSON *o = render_json(&r);
    const cJSON *one = obj(obj(o, "baselines"), "one_model_per_gpu");
    assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(one, "comparable")));
    assert_contains(str(one, "not_comparable_reason"), "a different set of replicas");
    assert_true(is_null(one, "savings_per_hour"));
    assert_true(is_null(one, "savings_per_month"));
    assert_true(is_null(one, "savings_fraction"));
    assert_close(num(one, "cost_per_hour"), r.b.one_per_gpu.cost_per_hour);
    /* The A100 baseline places as many replicas, but the report cannot tell which. */
    const cJSON *a100 = obj(obj(o, "baselines"), "a100_80gb");
    assert_int_equal((int)num(a100, "replicas_placed"), 7);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a100, "comparable")));
    assert_true(is_null(a100, "savings_fraction"));
    cJSON_Delete(o);
    char *html = render(&r, PLAN_REPORT_HTML);
    assert_contains(html, "not like for like");
    free(html);
    done(&r);
}

static void a_baseline_missing_only_what_fits_nowhere_is_compared(void **state)
{
    (void)state;
    run r;
    solve(&r, "{\"models\": [{\"name\": \"small\", \"memory_bytes\": 1073741824, \"replicas\": 4},"
              " {\"name\": \"huge\", \"memory_bytes\": 1099511627776}]}");
    assert_int_equal(r.plan->n_unplaced, 1);
    assert_int_equal(r.b.one_per_gpu.replicas_placed, 4);
    cJSON *o = render_json(&r);
    const cJSON *one = obj(obj(o, "baselines"), "one_model_per_gpu");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(one, "comparable")));
    assert_string_equal(str(one, "not_comparable_reason"), "");
    assert_close(num(one, "savings_per_hour"),
                 r.b.one_per_gpu.cost_per_hour - r.plan->cost_per_hour);
    cJSON_Delete(o);
    done(&r);
}

/* --------------------------------------------------------------------- bill of materials */

static void bill_of_materials_has_one_line_per_kind_of_paid_node(void **state)
{
    (void)state;
    run r;
    solve_review(&r, VP_EXAMPLES "/fleet.json");
    cJSON *o = render_json(&r);
    const cJSON *rows = arr(o, "bill_of_materials"), *row;
    char *txt = render(&r, PLAN_REPORT_TEXT);
    assert_contains(txt, "Bill of materials\n-----------------\n");
    cJSON_ArrayForEach(row, rows)
    {
        /* Recount this kind's paid nodes from the plan. */
        unsigned count = 0;
        for (size_t i = 0; i < r.plan->n_nodes; i++) {
            const place_node *n = &r.plan->nodes[i];
            if (place_node_load(r.plan, i) && !strcmp(n->type, str(row, "type")) &&
                n->inventory == cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(row, "inventory")) &&
                n->price_per_hour == num(row, "price_per_hour"))
                count++;
        }
        assert_int_equal(count, (unsigned)num(row, "count"));
        assert_contains(txt, str(row, "type"));
        const cJSON *other;
        cJSON_ArrayForEach(
            other, rows) if (other != row && !strcmp(str(other, "type"), str(row, "type")) &&
                             num(other, "price_per_hour") == num(row, "price_per_hour"))
            fail_msg("kind %s listed twice", str(row, "type"));
    }
    free(txt);
    cJSON_Delete(o);
    done(&r);
}

/* ------------------------------------------------------------------------------ pictures */

static void html_page_draws_every_slice_and_fetches_nothing(void **state)
{
    (void)state;
    run r;
    solve_review(&r, NULL);
    char *html = render(&r, PLAN_REPORT_HTML);
    assert_contains(html, "<svg class=\"pic cost\"");
    assert_contains(html, "<svg class=\"pic packing\"");
    /* Every slice is a segment with its id, on each of its GPUs. */
    for (size_t k = 0; k < r.plan->n_placements; k++) {
        char want[160];
        const place_placement *pl = &r.plan->placements[k];
        snprintf(want, sizeof want, "<title>%s: ", pl->id);
        size_t hits = 0;
        for (const char *p = strstr(html, want); p; p = strstr(p + 1, want))
            hits++;
        if (hits != (size_t)pl->n_gpus)
            fail_msg("%s: %zu segments, %d GPUs", pl->id, hits, pl->n_gpus);
    }
    for (size_t i = 0; i < r.plan->n_nodes; i++)
        if (place_node_load(r.plan, i)) assert_contains(html, r.plan->nodes[i].name);
    assert_contains(html, "free ");
    /* Self-contained: no script, no link, no address to fetch. */
    assert_absent(html, "<script");
    assert_absent(html, "<link");
    assert_absent(html, "http:");
    assert_absent(html, "https:");
    assert_absent(html, "src=");
    assert_absent(html, "@import");
    for (const char *p = strstr(html, "url("); p; p = strstr(p + 1, "url("))
        if (strncmp(p, "url(#vp-", 8)) fail_msg("a url() that is not a local pattern: %.40s", p);
    /* Values never break inside: cells are nowrap, list cells wrap between spans only. */
    assert_contains(html, "white-space:nowrap");
    assert_contains(html, "<td class=\"w\"><span>");
    free(html);
    char *txt = render(&r, PLAN_REPORT_TEXT);
    assert_absent(txt, "<svg");
    free(txt);
    done(&r);
}

static double hue_of(const char *hex)
{
    unsigned v;
    sscanf(hex + 1, "%6x", &v);
    double r = (v >> 16) / 255.0, g = ((v >> 8) & 255) / 255.0, b = (v & 255) / 255.0;
    double mx = fmax(r, fmax(g, b)), mn = fmin(r, fmin(g, b)), d = mx - mn, h;
    if (d == 0) return 0;
    if (mx == r)
        h = fmod((g - b) / d, 6);
    else if (mx == g)
        h = (b - r) / d + 2;
    else
        h = (r - g) / d + 4;
    h *= 60;
    return h < 0 ? h + 360 : h;
}

static const char *colour_of(const cJSON *report, const char *model)
{
    const cJSON *mo;
    cJSON_ArrayForEach(mo, arr(report, "models")) if (!strcmp(str(mo, "name"), model)) return str(
        mo, "colour");
    fail_msg("model %s not in the report", model);
    return NULL;
}

static void models_keep_their_colour_and_no_two_look_alike(void **state)
{
    (void)state;
    run a, b;
    solve(&a, "{\"models\": [{\"name\": \"chat\", \"memory_bytes\": 1073741824},"
              " {\"name\": \"embed\", \"memory_bytes\": 1073741824}]}");
    solve(&b, "{\"models\": [{\"name\": \"rerank\", \"memory_bytes\": 1073741824},"
              " {\"name\": \"chat\", \"memory_bytes\": 2147483648}]}");
    cJSON *ja = render_json(&a), *jb = render_json(&b);
    assert_string_equal(colour_of(ja, "chat"), colour_of(jb, "chat"));
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    done(&a);
    done(&b);

    /* The review example's thirteen models: hues at least 300/13 degrees apart. */
    run r;
    solve_review(&r, NULL);
    cJSON *o = render_json(&r);
    const cJSON *x, *y;
    int min_d = (int)(300 / r.m->n_models);
    cJSON_ArrayForEach(x, arr(o, "models")) cJSON_ArrayForEach(y, arr(o, "models"))
    {
        if (x == y) continue;
        double d = fabs(hue_of(str(x, "colour")) - hue_of(str(y, "colour")));
        if (d > 180) d = 360 - d;
        if (d < min_d - 1.5) /* hex rounding moves a hue by about a degree */
            fail_msg("%s %s and %s %s are %.1f degrees apart", str(x, "name"), str(x, "colour"),
                     str(y, "name"), str(y, "colour"), d);
    }
    cJSON_Delete(o);
    done(&r);
}

/* ---------------------------------------------------------------------------------- N+1 */

static void node_loss_is_marked_not_analysed_until_it_is_given(void **state)
{
    (void)state;
    run r;
    solve_inventory(&r);
    char *txt = render(&r, PLAN_REPORT_TEXT);
    assert_contains(txt, "If one node is lost (N+1)\n-------------------------\nNot analysed");
    free(txt);
    cJSON *o = render_json(&r);
    assert_true(is_null(o, "node_loss"));
    cJSON_Delete(o);

    static const char *const replaced[] = {"small/0", "small/1"};
    static const char *const bought[] = {"g6.xlarge"};
    static const char *const lost[] = {"big/0", "big/1", "big/2"};
    plan_node_loss loss[2] = {
        {.node = "g6.xlarge-0",
         .replaced = replaced,
         .n_replaced = 2,
         .needs_new_nodes = bought,
         .n_needs_new_nodes = 1,
         .extra_cost_per_hour = 0.8048},
        {.node = "dc1-a100-0", .unplaced = lost, .n_unplaced = 3},
    };
    plan_report_input in = {
        .problem = r.p, .plan = r.plan, .baselines = &r.b, .node_loss = loss, .n_node_loss = 2};
    char *md = plan_report_render(&in, PLAN_REPORT_MD);
    assert_non_null(md);
    assert_contains(md, "| lost node | re-placed in spare room | needs new nodes |");
    assert_contains(md, "| g6.xlarge-0 | small/0, small/1 | g6.xlarge | none | $0.80 |");
    assert_contains(md, "| dc1-a100-0 | - | none | big/0, big/1, big/2 | $0.00 |");
    assert_absent(md, "Not analysed");
    free(md);
    char *js = plan_report_render(&in, PLAN_REPORT_JSON);
    o = cJSON_Parse(js);
    free(js);
    const cJSON *nl = arr(o, "node_loss");
    assert_int_equal(cJSON_GetArraySize(nl), 2);
    const cJSON *first = cJSON_GetArrayItem(nl, 0), *second = cJSON_GetArrayItem(nl, 1);
    assert_string_equal(str(first, "node"), "g6.xlarge-0");
    assert_int_equal(cJSON_GetArraySize(arr(first, "replaced")), 2);
    assert_string_equal(cJSON_GetArrayItem(arr(first, "needs_new_nodes"), 0)->valuestring,
                        "g6.xlarge");
    assert_close(num(first, "extra_cost_per_hour"), 0.8048);
    assert_int_equal(cJSON_GetArraySize(arr(second, "unplaced")), 3);
    assert_int_equal(cJSON_GetArraySize(arr(second, "needs_new_nodes")), 0);
    cJSON_Delete(o);
    done(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_section_gives_the_same_node_and_gpu_counts_with_idle_inventory),
        cmocka_unit_test(a_baseline_that_places_other_replicas_is_not_shown_as_a_saving),
        cmocka_unit_test(a_baseline_missing_only_what_fits_nowhere_is_compared),
        cmocka_unit_test(bill_of_materials_has_one_line_per_kind_of_paid_node),
        cmocka_unit_test(html_page_draws_every_slice_and_fetches_nothing),
        cmocka_unit_test(models_keep_their_colour_and_no_two_look_alike),
        cmocka_unit_test(node_loss_is_marked_not_analysed_until_it_is_given),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
