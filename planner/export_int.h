/* export_int.h - what the export writers share: the plan resolved into slices, one per
 * placement, each with its model, engine, GPU totals, port and Kubernetes name. Not public.
 *
 * export.c resolves (plan_xp_build) and writes CSV; export_k8s.c writes the Kubernetes YAML and
 * export_shell.c the shell lines. The writers only format; every lookup and every check that can
 * fail happens once, in plan_xp_build. */
#ifndef PLAN_EXPORT_INT_H
#define PLAN_EXPORT_INT_H

#include "export.h"

#define XP_NAME_MAX 64 /* a DNS label (63) and its NUL */

typedef struct xslice {
    plan_export_slice s;
    eng_kind engine;
    char name[XP_NAME_MAX];  /* Kubernetes object name: a DNS label, unique in the export */
    char label[XP_NAME_MAX]; /* the model's name as a label value */
} xslice;

typedef struct xplan {
    const plan_export_input *in;
    xslice *v; /* plan order */
    size_t n;
    char note[PLACE_REASON_MAX];
    plan_fleet *builtin; /* the built-in catalog when it was needed for GPU totals */
} xplan;

/* Resolves every placement. need_memory: refuse a GPU whose physical size is known nowhere.
 * own_ports: the k-th engine of a node gets PLAN_EXPORT_PORT + k (engines share the host's
 * ports), else every engine gets PLAN_EXPORT_PORT (each has its own address). */
int plan_xp_build(const plan_export_input *in, bool need_memory, bool own_ports, xplan *x,
                  vp_err *e);
void plan_xp_free(xplan *x);

/* Writers; each appends to sb and returns 0 or a negative code with e filled. */
int plan_xp_k8s(const xplan *x, vp_sb *sb, vp_err *e);
int plan_xp_shell(const xplan *x, vp_sb *sb, vp_err *e);

#endif
