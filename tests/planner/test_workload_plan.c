/* test_workload_plan.c - the planner and the report on what a GPU budget holds besides realtime
 * replicas bought on demand: LoRA adapters sharing their base's slice, spot capacity for batch work
 * and training (never for realtime), training gangs placed all or nothing, and time to first
 * token excluding GPUs too slow to prefill. Real manifests over examples/hf configs, the real
 * solver, the real report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "report_fixture.h"

#define GIB_F 1073741824.0

static plan_manifest *manifest_ex(const char *text)
{
    vp_err e = {0};
    plan_manifest *m = NULL;
    if (plan_manifest_parse(text, strlen(text), "workloads.json", VP_EXAMPLES, &m, &e))
        fail_msg("manifest: %s", e.msg);
    return m;
}

/* Solves with the anytime search at a small deterministic effort (no clock). */
static void solve_full(run *r, const char *manifest, plan_fleet *f)
{
    memset(r, 0, sizeof *r);
    vp_err e = {0};
    r->m = manifest_ex(manifest);
    r->f = f;
    if (plan_problem_build(r->m, r->f, &r->p, &e)) fail_msg("problem: %s", e.msg);
    plan_options o;
    plan_options_default(&o);
    o.time_limit_s = 1;
    if (plan_solve(r->p, &o, &r->plan, &e)) fail_msg("solve: %s", e.msg);
    plan_estimate_latency(r->p, r->plan);
    char why[256];
    if (plan_check(r->p, r->plan, why, sizeof why)) fail_msg("plan_check: %s", why);
    if (plan_baselines_compute(r->p, &r->b, &e)) fail_msg("baselines: %s", e.msg);
}

static size_t placements_of(const place_plan *plan, const char *model)
{
    size_t n = 0;
    for (size_t i = 0; i < plan->n_placements; i++)
        n += !strcmp(plan->placements[i].model, model);
    return n;
}

static cJSON *report_json(const run *r)
{
    char *s = render(r, PLAN_REPORT_JSON);
    cJSON *o = cJSON_Parse(s);
    free(s);
    assert_non_null(o);
    return o;
}

static const cJSON *obj(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsObject(it)) fail_msg("key \"%s\" missing or not an object", key);
    return it;
}

/* ------------------------------------------------------------------------------------- LoRA */

#define LORA_BASE                                                                                  \
    "{\"name\": \"support-base\", \"hf_config\": \"hf/llama-3.1-8b.json\","                        \
    " \"lora\": {\"adapters\": 40, \"max_resident\": 8, \"rank\": 16}}"

static void forty_adapters_plan_into_one_base_slice_and_the_report_shows_the_saving(void **st)
{
    (void)st;
    run r;
    solve_full(&r, "{\"models\": [" LORA_BASE "]}", plan_fleet_builtin());
    if (placements_of(r.plan, "support-base") != 1)
        fail_msg("placements of support-base: %zu, want 1", placements_of(r.plan, "support-base"));
    assert_int_equal(r.plan->n_placements, 1);

    /* The slice holds the base once and 8 resident rank-16 adapters of 41,943,040 parameters. */
    const plan_model *md = &r.m->models[0];
    int b = plan_node_bintype(r.p, &r.plan->nodes[r.plan->placements[0].node]);
    assert_true(b >= 0);
    const plan_shape *sh = &r.p->groups[0].shapes[b];
    plan_fp_opts o = md->opts;
    memset(&o.lora, 0, sizeof o.lora);
    o.tp = sh->tp;
    o.pp = sh->pp;
    plan_footprint alone;
    vp_err e = {0};
    assert_int_equal(plan_footprint_compute(&md->arch, &o, &alone, &e), 0);
    uint64_t adapters = 8ULL * 41943040ULL * 2ULL / sh->tp;
    if (sh->fp.per_gpu_bytes < alone.per_gpu_bytes + adapters)
        fail_msg("slice %llu per GPU, base alone %llu + adapters %llu",
                 (unsigned long long)sh->fp.per_gpu_bytes, (unsigned long long)alone.per_gpu_bytes,
                 (unsigned long long)adapters);

    cJSON *j = report_json(&r);
    const cJSON *l = cJSON_GetArrayItem(arr(j, "lora_bases"), 0);
    assert_non_null(l);
    assert_string_equal(str(l, "model"), "support-base");
    assert_close(num(l, "adapters"), 40);
    assert_close(num(l, "replicas_placed"), 1);
    assert_close(num(l, "slice_bytes"), (double)sh->fp.total_bytes);
    assert_close(num(l, "separate_model_bytes"), (double)alone.total_bytes);
    double price = num(j, "cost_per_hour") / (num(j, "used_bytes") / GIB_F);
    assert_close(num(l, "cost_per_gib_hour"), price);
    double want = price * (40.0 * (double)alone.total_bytes - (double)sh->fp.total_bytes) / GIB_F;
    assert_close(num(l, "savings_per_hour"), want);
    assert_true(want > 0);
    cJSON_Delete(j);

    char *text = render(&r, PLAN_REPORT_TEXT);
    assert_contains(text, "LoRA adapters");
    assert_contains(text, "support-base        40         8    16         1");
    free(text);
    done(&r);
}

/* The same 40 fine-tunes as 40 models of their own, planned: dearer than the one base. */
static void forty_separate_models_cost_more_than_forty_adapters_on_one_base(void **st)
{
    (void)st;
    vp_sb sb = {0};
    vp_sb_printf(&sb, "{\"models\": [");
    for (int i = 0; i < 40; i++)
        vp_sb_printf(&sb, "%s{\"name\": \"ft-%02d\", \"hf_config\": \"hf/llama-3.1-8b.json\"}",
                     i ? "," : "", i);
    vp_sb_printf(&sb, "]}");
    assert_true(vp_sb_ok(&sb));
    run sep, one;
    solve_full(&sep, vp_sb_str(&sb), plan_fleet_builtin());
    solve_full(&one, "{\"models\": [" LORA_BASE "]}", plan_fleet_builtin());
    vp_sb_free(&sb);
    assert_int_equal(sep.plan->n_unplaced, 0);
    print_message("40 separate models: $%.4f/hour; 40 adapters on one base: $%.4f/hour\n",
                  sep.plan->cost_per_hour, one.plan->cost_per_hour);
    if (!(sep.plan->cost_per_hour > 10 * one.plan->cost_per_hour))
        fail_msg("separate $%.4f/hour, adapters $%.4f/hour", sep.plan->cost_per_hour,
                 one.plan->cost_per_hour);
    done(&sep);
    done(&one);
}

/* ------------------------------------------------------------------------------------- tiers */

#define MIXED                                                                                      \
    "{\"models\": ["                                                                               \
    " {\"name\": \"chat\", \"hf_config\": \"hf/llama-3.1-8b.json\", \"replicas\": 2},"             \
    " {\"name\": \"chat-big\", \"hf_config\": \"hf/qwen2-7b.json\", \"max_batch\": 8},"            \
    " {\"name\": \"summaries\", \"hf_config\": \"hf/qwen2-7b.json\", \"class\": \"batch\","        \
    "  \"replicas\": 4},"                                                                          \
    " {\"name\": \"ft\", \"hf_config\": \"hf/llama-3.1-8b.json\","                                 \
    "  \"train\": {\"method\": \"qlora\", \"rank\": 16, \"seq_len\": 2048}}]}"

#define SPOT_FLEET "{\"include_builtin\": [\"on_demand\", \"spot\"]}"

static void realtime_stays_off_spot_and_the_mixed_plan_is_cheaper_than_all_on_demand(void **st)
{
    (void)st;
    run mixed, od;
    solve_full(&mixed, MIXED, parse_fleet(SPOT_FLEET));
    solve_full(&od, MIXED, plan_fleet_builtin());
    assert_int_equal(mixed.plan->n_unplaced, 0);
    size_t on_spot = 0;
    for (size_t i = 0; i < mixed.plan->n_placements; i++) {
        const place_placement *pl = &mixed.plan->placements[i];
        int b = plan_node_bintype(mixed.p, &mixed.plan->nodes[pl->node]);
        assert_true(b >= 0);
        int g = plan_group_find(mixed.p, pl->model);
        const plan_model *md = &mixed.m->models[mixed.p->groups[g].model];
        bool spot = mixed.p->bintypes[b].tier == PLAN_TIER_SPOT;
        if (md->wclass == PLAN_CLASS_REALTIME && spot)
            fail_msg("realtime placement %s on spot node %s", pl->id,
                     mixed.plan->nodes[pl->node].name);
        on_spot += spot;
    }
    assert_true(on_spot > 0);
    print_message("mixed plan $%.4f/hour, all on demand $%.4f/hour\n", mixed.plan->cost_per_hour,
                  od.plan->cost_per_hour);
    if (!(mixed.plan->cost_per_hour < od.plan->cost_per_hour))
        fail_msg("mixed $%.4f/hour not below on demand $%.4f/hour", mixed.plan->cost_per_hour,
                 od.plan->cost_per_hour);

    cJSON *j = report_json(&mixed);
    const cJSON *tiers = obj(j, "cost_by_tier");
    assert_close(num(obj(tiers, "on_demand"), "cost_per_hour") +
                     num(obj(tiers, "spot"), "cost_per_hour") +
                     num(obj(tiers, "reserved"), "cost_per_hour"),
                 num(j, "cost_per_hour"));
    const cJSON *ex = obj(j, "interruption_exposure");
    double spot_nodes = num(obj(tiers, "spot"), "nodes");
    assert_true(spot_nodes > 0);
    assert_close(num(ex, "interruptions_per_day"), spot_nodes * 24 * 0.05);
    assert_int_equal(cJSON_GetArraySize(arr(ex, "nodes")), (int)spot_nodes);
    const cJSON *sv = obj(j, "spot_savings");
    /* The built-in spot price is 40% of on demand: the saving is 1.5 x what spot costs. */
    assert_close(num(sv, "savings_per_hour"), 1.5 * num(sv, "spot_cost_per_hour"));
    cJSON_Delete(j);

    char *text = render(&mixed, PLAN_REPORT_TEXT);
    assert_contains(text, "Pricing tiers");
    assert_contains(text, "Interruptions:");
    assert_contains(text, "summaries/0");
    free(text);
    text = render(&od, PLAN_REPORT_TEXT);
    assert_contains(text, "Interruptions:  none expected"); /* no spot in the catalog */
    free(text);
    done(&mixed);
    done(&od);
}

static void a_realtime_model_that_fits_only_spot_capacity_stays_unplaced_with_the_reason(void **st)
{
    (void)st;
    const char *fleet = "{\"catalog\": [{\"type\": \"x1:spot\", \"gpus\": {\"L40S\": 1},"
                        " \"price_per_hour\": 0.7, \"tier\": \"spot\","
                        " \"interruptions_per_hour\": 0.1}]}";
    run r;
    solve_full(
        &r,
        "{\"models\": [{\"name\": \"rt\", \"hf_config\": \"hf/llama-3.1-8b.json\"},"
        " {\"name\": \"bt\", \"hf_config\": \"hf/llama-3.1-8b.json\", \"class\": \"batch\"}]}",
        parse_fleet(fleet));
    assert_int_equal(placements_of(r.plan, "rt"), 0);
    assert_int_equal(placements_of(r.plan, "bt"), 1);
    assert_int_equal(r.plan->n_unplaced, 1);
    assert_contains(r.plan->unplaced[0].reason, "class realtime: it fits only spot capacity");
    cJSON *j = report_json(&r);
    assert_close(num(obj(j, "interruption_exposure"), "interruptions_per_day"), 2.4);
    /* No on-demand type of L40S x 1 in this fleet: the spot node is not compared. */
    assert_close(num(obj(j, "spot_savings"), "nodes_not_compared"), 1);
    cJSON_Delete(j);
    done(&r);
}

/* ------------------------------------------------------------------------------- training gangs */

#define GANG_FLEET                                                                                 \
    "{\"nodes\": [{\"name\": \"box\", \"gpus\": {\"A100-80GB\": 4}, \"price_per_hour\": 8},"       \
    " {\"name\": \"small\", \"gpus\": {\"A100-80GB\": 2}, \"price_per_hour\": 4}]}"

static const char *gang(int dp)
{
    static char buf[512];
    snprintf(buf, sizeof buf,
             "{\"models\": [{\"name\": \"ft\", \"hf_config\": \"hf/llama-3.1-8b.json\","
             " \"train\": {\"method\": \"lora\", \"rank\": 16, \"seq_len\": 2048,"
             " \"data_parallel\": %d}}]}",
             dp);
    return buf;
}

static void a_training_gang_is_one_placement_on_one_node(void **st)
{
    (void)st;
    run r;
    solve_full(&r, gang(4), parse_fleet(GANG_FLEET));
    assert_int_equal(r.plan->n_placements, 1);
    const place_placement *pl = &r.plan->placements[0];
    assert_int_equal(pl->n_gpus, 4);
    assert_string_equal(r.plan->nodes[pl->node].name, "box");
    for (int a = 0; a < 4; a++)
        for (int b = a + 1; b < 4; b++)
            assert_int_not_equal(pl->gpus[a], pl->gpus[b]);
    /* Each GPU of the gang holds one full copy: the tp = 1 footprint. */
    plan_fp_opts o = r.m->models[0].opts;
    o.tp = o.pp = 1;
    o.gpu_bytes = plan_gpu_cuda_bytes(plan_fleet_gpu(r.f, "A100-80GB"));
    plan_footprint fp;
    vp_err e = {0};
    assert_int_equal(plan_footprint_compute(&r.m->models[0].arch, &o, &fp, &e), 0);
    assert_int_equal(pl->bytes_per_gpu, fp.per_gpu_bytes);
    cJSON *j = report_json(&r);
    const cJSON *t = cJSON_GetArrayItem(arr(j, "training_jobs"), 0);
    assert_non_null(t);
    assert_close(num(t, "gpus_per_replica"), 4);
    assert_close(num(t, "trainable_params"), 41943040);
    cJSON_Delete(j);
    done(&r);
}

static void a_gang_wider_than_every_node_is_not_placed_at_all(void **st)
{
    (void)st;
    run r;
    solve_full(&r, gang(8), parse_fleet(GANG_FLEET));
    assert_int_equal(r.plan->n_placements, 0); /* not 4 + 2 of its 8 GPUs */
    assert_int_equal(r.plan->n_unplaced, 1);
    assert_contains(r.plan->unplaced[0].reason, "train.data_parallel 8");
    done(&r);
}

static void two_gangs_that_fit_only_one_at_a_time_place_one_whole(void **st)
{
    (void)st;
    run r;
    char text[600];
    snprintf(text, sizeof text,
             "{\"models\": [{\"name\": \"ft\", \"hf_config\": \"hf/llama-3.1-8b.json\","
             " \"replicas\": 2, \"train\": {\"method\": \"full\", \"optimizer\": \"sgd\","
             " \"seq_len\": 1024, \"data_parallel\": 3}}]}");
    solve_full(&r, text, parse_fleet(GANG_FLEET));
    /* One full copy per GPU takes most of an A100: the 4-GPU box holds one gang of 3, the 2-GPU
     * node none; the second replica is unplaced rather than split. */
    assert_int_equal(r.plan->n_placements, 1);
    assert_int_equal(r.plan->placements[0].n_gpus, 3);
    assert_int_equal(r.plan->n_unplaced, 1);
    done(&r);
}

/* ---------------------------------------------------------------------------------------- TTFT */

#define TTFT_FLEET                                                                                 \
    "{\"catalog\": ["                                                                              \
    " {\"type\": \"l4x1\", \"gpus\": {\"L4\": 1}, \"price_per_hour\": 0.80},"                      \
    " {\"type\": \"h100x1\", \"gpus\": {\"H100-80GB\": 1}, \"price_per_hour\": 11.06}%s]}"

static const char *ttft_model(double ms)
{
    static char buf[300];
    snprintf(buf, sizeof buf,
             "{\"models\": [{\"name\": \"rag\", \"hf_config\": \"hf/llama-3.1-8b.json\","
             " \"slo\": {\"ttft_ms\": %g, \"prompt_tokens\": 2000}}]}",
             ms);
    return buf;
}

static plan_fleet *ttft_fleet(const char *extra)
{
    char buf[512];
    snprintf(buf, sizeof buf, TTFT_FLEET, extra);
    return parse_fleet(buf);
}

static void a_ttft_objective_excludes_gpus_too_slow_to_prefill(void **st)
{
    (void)st;
    run r;
    /* Without the objective the cheap L4 takes it. */
    solve_full(&r, "{\"models\": [{\"name\": \"rag\", \"hf_config\": \"hf/llama-3.1-8b.json\"}]}",
               ttft_fleet(""));
    assert_string_equal(r.plan->nodes[r.plan->placements[0].node].gpus[0].model, "L4");
    done(&r);

    solve_full(&r, ttft_model(200), ttft_fleet(""));
    assert_int_equal(r.plan->n_placements, 1);
    assert_string_equal(r.plan->nodes[r.plan->placements[0].node].gpus[0].model, "H100-80GB");
    /* Hand-computed: 2 x 8,030,261,248 x 2000 + 2 x 32 x 2000^2 x 32 x 128 FLOPs at 50% of
     * 989 TFLOPS (H100) and of 121 TFLOPS (L4). */
    double flops = 2.0 * 8030261248.0 * 2000 + 2.0 * 32 * 2000.0 * 2000 * 32 * 128;
    double h100 = flops / (989e12 * 0.5) * 1000, l4 = flops / (121e12 * 0.5) * 1000;
    assert_close(plan_model_ttft_ms(&r.m->models[0], plan_fleet_gpu(r.f, "H100-80GB"), 1), h100);
    assert_close(plan_model_ttft_ms(&r.m->models[0], plan_fleet_gpu(r.f, "L4"), 1), l4);
    assert_true(h100 < 200 && l4 > 200);
    cJSON *j = report_json(&r);
    const cJSON *lat = cJSON_GetArrayItem(arr(j, "latency"), 0);
    assert_close(num(lat, "est_ttft_ms"), h100);
    assert_true(num(lat, "est_tpot_ms") > 0);
    cJSON_Delete(j);
    char *text = render(&r, PLAN_REPORT_TEXT);
    assert_contains(text, "200.0 at 2000 tokens");
    free(text);
    done(&r);
}

static void a_ttft_objective_may_be_met_with_more_gpus_of_a_cheap_kind(void **st)
{
    (void)st;
    run r;
    solve_full(&r, ttft_model(200),
               ttft_fleet(", {\"type\": \"l4x4\", \"gpus\": {\"L4\": 4},"
                          " \"price_per_hour\": 4.60}"));
    assert_int_equal(r.plan->n_placements, 1);
    const place_placement *pl = &r.plan->placements[0];
    assert_string_equal(r.plan->nodes[pl->node].type, "l4x4");
    assert_int_equal(pl->n_gpus, 4); /* TP 4: a quarter of the prefill each, 137 ms */
    done(&r);
}

static void a_ttft_no_gpu_can_meet_leaves_the_model_unplaced_with_the_reason(void **st)
{
    (void)st;
    run r;
    solve_full(&r, ttft_model(10), ttft_fleet(""));
    assert_int_equal(r.plan->n_placements, 0);
    assert_int_equal(r.plan->n_unplaced, 1);
    assert_contains(r.plan->unplaced[0].reason, "slo.ttft_ms 10.0");
    done(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(forty_adapters_plan_into_one_base_slice_and_the_report_shows_the_saving),
        cmocka_unit_test(forty_separate_models_cost_more_than_forty_adapters_on_one_base),
        cmocka_unit_test(realtime_stays_off_spot_and_the_mixed_plan_is_cheaper_than_all_on_demand),
        cmocka_unit_test(
            a_realtime_model_that_fits_only_spot_capacity_stays_unplaced_with_the_reason),
        cmocka_unit_test(a_training_gang_is_one_placement_on_one_node),
        cmocka_unit_test(a_gang_wider_than_every_node_is_not_placed_at_all),
        cmocka_unit_test(two_gangs_that_fit_only_one_at_a_time_place_one_whole),
        cmocka_unit_test(a_ttft_objective_excludes_gpus_too_slow_to_prefill),
        cmocka_unit_test(a_ttft_objective_may_be_met_with_more_gpus_of_a_cheap_kind),
        cmocka_unit_test(a_ttft_no_gpu_can_meet_leaves_the_model_unplaced_with_the_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
