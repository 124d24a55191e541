/* export_k8s.c - a plan as Kubernetes YAML: one apps/v1 Deployment per placement (a replica, or
 * one pipeline stage of one), pinned to its node by name, asking for its GPUs as nvidia.com/gpu,
 * running its engine's command with the flags its slice implies, ready when the engine's health
 * path answers.
 *
 * Every scalar is written as a YAML double-quoted string (a JSON string is one), so no model name,
 * source or argument can change the document's structure; numbers the schema wants as integers
 * are written bare. Pinning uses node affinity on the node's metadata.name, which matches the node
 * object itself and needs no label. One replica per Deployment and the Recreate strategy: a
 * placement's slice must never be held by two pods at once. Slices that share a GPU need the
 * NVIDIA device plugin to advertise that GPU more than once (time-slicing or MPS); the header
 * says so and each Deployment names its plan GPUs in an annotation. */
#include <stdio.h>
#include <string.h>

#include "export_int.h"

static void yq(vp_sb *sb, const char *s)
{
    vp_sb_append(sb, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            vp_sb_printf(sb, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            vp_sb_printf(sb, "\\x%02x", *p);
        else
            vp_sb_append(sb, (const char *)p, 1);
    }
    vp_sb_append(sb, "\"", 1);
}

/* `indent key: "value"` */
static void kv(vp_sb *sb, int indent, const char *key, const char *value)
{
    vp_sb_printf(sb, "%*s%s: ", indent, "", key);
    yq(sb, value);
    vp_sb_printf(sb, "\n");
}

static void labels(vp_sb *sb, int indent, const xslice *xs)
{
    vp_sb_printf(sb, "%*slabels:\n", indent, "");
    kv(sb, indent + 2, "app.kubernetes.io/name", xs->label);
    kv(sb, indent + 2, "app.kubernetes.io/instance", xs->name);
    kv(sb, indent + 2, "app.kubernetes.io/managed-by", "vrampack");
}

static void annotations(vp_sb *sb, const xslice *xs)
{
    const place_placement *pl = xs->s.pl;
    char gpus[PLACE_MAX_GPUS * 4] = "", n[32];
    for (int g = 0; g < pl->n_gpus; g++)
        snprintf(gpus + strlen(gpus), sizeof gpus - strlen(gpus), "%s%u", g ? "," : "",
                 pl->gpus[g]);
    vp_sb_printf(sb, "  annotations:\n");
    kv(sb, 4, "vrampack.io/placement", pl->id);
    kv(sb, 4, "vrampack.io/model", pl->model);
    kv(sb, 4, "vrampack.io/node", xs->s.node->name);
    kv(sb, 4, "vrampack.io/gpus", gpus);
    snprintf(n, sizeof n, "%llu", (unsigned long long)pl->bytes_per_gpu);
    kv(sb, 4, "vrampack.io/bytes-per-gpu", n);
    kv(sb, 4, "vrampack.io/engine", eng_name(xs->engine));
}

static void container(vp_sb *sb, const xslice *xs, const plan_engine_cmd *cmd, const char *image)
{
    vp_sb_printf(sb, "      containers:\n");
    vp_sb_printf(sb, "        - name: \"engine\"\n");
    kv(sb, 10, "image", image);
    vp_sb_printf(sb, "          command:\n");
    for (size_t i = 0; i < cmd->argc; i++) {
        vp_sb_printf(sb, "            - ");
        yq(sb, cmd->argv[i]);
        vp_sb_printf(sb, "\n");
    }
    vp_sb_printf(sb, "          env:\n");
    vp_sb_printf(sb, "            - name: \"VRAMPACK_NODE\"\n");
    kv(sb, 14, "value", xs->s.node->name);
    vp_sb_printf(sb, "            - name: \"VRAMPACK_PLACEMENT\"\n");
    kv(sb, 14, "value", xs->s.pl->id);
    if (cmd->health_path) {
        vp_sb_printf(sb, "          ports:\n");
        vp_sb_printf(sb, "            - name: \"http\"\n");
        vp_sb_printf(sb, "              containerPort: %u\n", xs->s.port);
    }
    vp_sb_printf(sb, "          resources:\n");
    vp_sb_printf(sb, "            limits:\n");
    vp_sb_printf(sb, "              nvidia.com/gpu: %d\n", xs->s.pl->n_gpus);
    if (cmd->health_path) {
        unsigned wait =
            xs->s.model && xs->s.model->ready_timeout_s ? xs->s.model->ready_timeout_s : 600;
        vp_sb_printf(sb, "          startupProbe:\n");
        vp_sb_printf(sb, "            httpGet:\n");
        kv(sb, 14, "path", cmd->health_path);
        vp_sb_printf(sb, "              port: \"http\"\n");
        vp_sb_printf(sb, "            periodSeconds: 10\n");
        vp_sb_printf(sb, "            failureThreshold: %u\n", (wait + 9) / 10);
        vp_sb_printf(sb, "          readinessProbe:\n");
        vp_sb_printf(sb, "            httpGet:\n");
        kv(sb, 14, "path", cmd->health_path);
        vp_sb_printf(sb, "              port: \"http\"\n");
        vp_sb_printf(sb, "            periodSeconds: 10\n");
        vp_sb_printf(sb, "            failureThreshold: 3\n");
    }
}

static void deployment(vp_sb *sb, const xslice *xs, const plan_engine_cmd *cmd, const char *image)
{
    vp_sb_printf(sb, "---\n");
    if (cmd->comment) {
        vp_sb_printf(sb, "# %s: ", xs->s.pl->id);
        for (const char *p = cmd->comment; *p; p++) /* one line, whatever it holds */
            vp_sb_append(sb, *p == '\n' ? " " : p, 1);
        vp_sb_printf(sb, "\n");
    }
    vp_sb_printf(sb, "apiVersion: \"apps/v1\"\nkind: \"Deployment\"\nmetadata:\n");
    kv(sb, 2, "name", xs->name);
    labels(sb, 2, xs);
    annotations(sb, xs);
    vp_sb_printf(sb, "spec:\n  replicas: 1\n  strategy:\n    type: \"Recreate\"\n");
    vp_sb_printf(sb, "  selector:\n    matchLabels:\n");
    kv(sb, 6, "app.kubernetes.io/instance", xs->name);
    vp_sb_printf(sb, "  template:\n    metadata:\n");
    labels(sb, 6, xs);
    vp_sb_printf(sb, "    spec:\n");
    vp_sb_printf(sb, "      affinity:\n        nodeAffinity:\n"
                     "          requiredDuringSchedulingIgnoredDuringExecution:\n"
                     "            nodeSelectorTerms:\n"
                     "              - matchFields:\n"
                     "                  - key: \"metadata.name\"\n"
                     "                    operator: \"In\"\n"
                     "                    values:\n"
                     "                      - ");
    yq(sb, xs->s.node->name);
    vp_sb_printf(sb, "\n");
    container(sb, xs, cmd, image);
}

static void header(vp_sb *sb, const xplan *x)
{
    vp_sb_printf(sb, "# Kubernetes Deployments for the vrampack plan ");
    for (const char *p = x->in->plan_name ? x->in->plan_name : "plan"; *p; p++)
        vp_sb_append(sb, *p == '\n' ? " " : p, 1);
    vp_sb_printf(sb,
                 "\n# One Deployment per placement, pinned to the plan's node by name, with its\n"
                 "# GPUs as nvidia.com/gpu. Slices that share a GPU need the NVIDIA device\n"
                 "# plugin's GPU sharing (time-slicing or MPS) so a GPU is advertised more than\n"
                 "# once; the plan's GPU indices are in the vrampack.io/gpus annotation.\n");
}

int plan_xp_k8s(const xplan *x, vp_sb *sb, vp_err *e)
{
    header(sb, x);
    for (size_t i = 0; i < x->n; i++) {
        plan_engine_cmd cmd;
        int rc = plan_export_engine_cmd(&x->v[i].s, x->v[i].engine, &cmd, e);
        if (rc) return rc;
        deployment(sb, &x->v[i], &cmd, x->in->image ? x->in->image : cmd.image);
        plan_engine_cmd_free(&cmd);
    }
    return 0;
}
