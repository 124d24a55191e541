/* export_shell.c - a plan as shell lines that start a vLLM engine per placement
 * (`export --format vllm`).
 *
 * One POSIX sh script for the whole plan, run on every node: it picks the node's own lines by
 * VRAMPACK_NODE (default: the host name), starts each of that node's engines in the background on
 * the plan's GPUs (CUDA_VISIBLE_DEVICES) and its own port, and waits for them. Each engine is one
 * line, so a team can also copy a line into a unit file. Every word is single-quoted, so no model
 * name, source or argument can run as shell code. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export_int.h"

/* 'word' with each ' written as '\'' */
static void sq(vp_sb *sb, const char *s)
{
    vp_sb_append(sb, "'", 1);
    for (const char *p = s; *p; p++)
        if (*p == '\'')
            vp_sb_append(sb, "'\\''", 4);
        else
            vp_sb_append(sb, p, 1);
    vp_sb_append(sb, "'", 1);
}

static void comment(vp_sb *sb, const char *indent, const char *prefix, const char *text)
{
    vp_sb_printf(sb, "%s# %s", indent, prefix);
    for (const char *p = text; *p; p++)
        vp_sb_append(sb, *p == '\n' || *p == '\r' ? " " : p, 1);
    vp_sb_printf(sb, "\n");
}

static int engine_line(vp_sb *sb, const xslice *xs, vp_err *e)
{
    plan_engine_cmd cmd;
    int rc = plan_export_engine_cmd(&xs->s, ENG_VLLM, &cmd, e);
    if (rc) return rc;
    const place_placement *pl = xs->s.pl;
    char gpus[PLACE_MAX_GPUS * 4] = "";
    for (int g = 0; g < pl->n_gpus; g++)
        snprintf(gpus + strlen(gpus), sizeof gpus - strlen(gpus), "%s%u", g ? "," : "",
                 pl->gpus[g]);
    if (cmd.comment) comment(sb, "    ", "", cmd.comment);
    vp_sb_printf(sb, "    VRAMPACK_NODE=");
    sq(sb, xs->s.node->name);
    vp_sb_printf(sb, " VRAMPACK_PLACEMENT=");
    sq(sb, pl->id);
    vp_sb_printf(sb, " CUDA_VISIBLE_DEVICES=%s", gpus);
    for (size_t i = 0; i < cmd.argc; i++) {
        vp_sb_printf(sb, " ");
        sq(sb, cmd.argv[i]);
    }
    vp_sb_printf(sb, " &\n");
    plan_engine_cmd_free(&cmd);
    return 0;
}

int plan_xp_shell(const xplan *x, vp_sb *sb, vp_err *e)
{
    const place_plan *plan = x->in->plan;
    vp_sb_printf(sb, "#!/bin/sh\n");
    comment(sb, "", "vLLM engines of the vrampack plan ",
            x->in->plan_name ? x->in->plan_name : "plan");
    vp_sb_printf(sb,
                 "# Run on each node of the plan: starts that node's engines on their GPUs and\n"
                 "# ports, then waits. The node is $VRAMPACK_NODE, else the host name.\n"
                 "node=${VRAMPACK_NODE:-$(hostname)}\n"
                 "case \"$node\" in\n");
    /* The node's placements, in plan order: a counting sort by node. */
    size_t *start = calloc(plan->n_nodes + 1, sizeof *start);
    size_t *order = calloc(x->n + 1, sizeof *order);
    if (!start || !order) {
        free(start);
        free(order);
        return vp_errf(e, -ENOMEM, "export: out of memory");
    }
    for (size_t k = 0; k < x->n; k++)
        start[x->v[k].s.pl->node + 1]++;
    for (size_t i = 0; i < plan->n_nodes; i++)
        start[i + 1] += start[i];
    for (size_t k = 0; k < x->n; k++)
        order[start[x->v[k].s.pl->node]++] = k;
    int rc = 0;
    for (size_t i = 0, from = 0; i < plan->n_nodes && !rc; from = start[i++]) {
        if (from == start[i]) continue; /* after the sort, start[i] is the end of node i */
        vp_sb_printf(sb, "  ");
        sq(sb, plan->nodes[i].name);
        vp_sb_printf(sb, ")\n");
        for (size_t k = from; k < start[i] && !rc; k++)
            rc = engine_line(sb, &x->v[order[k]], e);
        vp_sb_printf(sb, "    ;;\n");
    }
    free(start);
    free(order);
    if (rc) return rc;
    vp_sb_printf(sb, "  *)\n"
                     "    echo \"vrampack: node '$node' runs no engine in this plan\" >&2\n"
                     "    exit 1\n"
                     "    ;;\n"
                     "esac\n"
                     "wait\n");
    return 0;
}
