/* fuzz_planner_fleet.c - fleet files and plan files of any bytes: refused or read, never a crash;
 * a plan that reads back always validates and writes back. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "planner.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    plan_fleet *f = NULL;
    vp_err e = {0};
    if (plan_fleet_parse((const char *)data, size, "fuzz.json", &f, &e) == 0) plan_fleet_free(f);
    place_plan *p = NULL;
    if (plan_from_json((const char *)data, size, "fuzz.json", &p, &e) == 0) {
        char why[256];
        if (place_plan_validate(p, why, sizeof why)) abort();
        free(plan_to_json(p));
        place_plan_free(p);
    }
    return 0;
}
