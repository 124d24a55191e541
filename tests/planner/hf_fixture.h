/* hf_fixture.h - the planner tests' one way to read a config of tests/data/hf, compute a
 * footprint and find one of its named terms. */
#ifndef HF_FIXTURE_H
#define HF_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

/* The footprint of a under o; fails the test on an error. */
static inline plan_footprint fp_compute(const plan_arch *a, const plan_fp_opts *o)
{
    plan_footprint f;
    vp_err e = {0};
    if (plan_footprint_compute(a, o, &f, &e)) fail_msg("%s", e.msg);
    return f;
}

/* The bytes of the term called name, or UINT64_MAX when f has none. */
static inline uint64_t fp_term(const plan_footprint *f, const char *name)
{
    for (size_t i = 0; i < f->n_terms; i++)
        if (!strcmp(f->terms[i].name, name)) return f->terms[i].bytes;
    return UINT64_MAX;
}

#endif
