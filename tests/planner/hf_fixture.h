/* hf_fixture.h - the planner tests' one way to read a config of tests/data/hf. */
#ifndef HF_FIXTURE_H
#define HF_FIXTURE_H

#include <stdio.h>

#include "footprint.h"

/* The architecture of tests/data/hf/<name>; fails the test when it cannot be read. */
static inline plan_arch hf_load(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/hf/%s", VP_TEST_DATA, name);
    plan_arch a;
    vp_err e = {0};
    if (plan_arch_from_hf_file(path, &a, &e)) fail_msg("%s: %s", name, e.msg);
    return a;
}

#endif
