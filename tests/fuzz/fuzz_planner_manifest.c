/* fuzz_planner_manifest.c - manifests of any bytes: parsed, resolved and packed without a crash.
 * Packing runs only on small inputs so each case stays fast. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "planner.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    plan_manifest *m = NULL;
    vp_err e = {0};
    if (plan_manifest_parse((const char *)data, size, "fuzz.json", NULL, &m, &e)) return 0;
    uint64_t replicas = 0;
    for (size_t i = 0; i < m->n_models; i++) replicas += m->models[i].replicas;
    plan_fleet *f = plan_fleet_builtin();
    plan_problem *p = NULL;
    if (replicas <= 256 && f && plan_problem_build(m, f, &p, &e) == 0) {
        place_plan *plan = NULL;
        if (plan_ffd(p, &plan, &e) == 0) {
            char why[256];
            if (place_plan_validate(plan, why, sizeof why)) abort();
            free(plan_to_json(plan));
        }
        place_plan_free(plan);
    }
    plan_problem_free(p);
    plan_fleet_free(f);
    plan_manifest_free(m);
    return 0;
}
