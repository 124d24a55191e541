/* nodes.c - the registry of nodes that ever said hello, by name, and small shared helpers.
 *
 * Nodes are heap objects that are never removed (a lost node keeps its row and may come back),
 * so pointers to them stay valid for the controller's life; the hash table maps names to their
 * index in the vector and only grows. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_internal.h"

static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

ctl_node *ctl_nodes_find(const ctl_nodes *ns, const char *name)
{
    if (!ns->ht_cap) return NULL;
    size_t mask = ns->ht_cap - 1;
    for (size_t i = hash_name(name) & mask;; i = (i + 1) & mask) {
        int32_t k = ns->ht[i];
        if (k < 0) return NULL;
        if (!strcmp(ns->v[k]->name, name)) return ns->v[k];
    }
}

static int rehash(ctl_nodes *ns, size_t cap)
{
    int32_t *ht = malloc(cap * sizeof *ht);
    if (!ht) return -ENOMEM;
    for (size_t i = 0; i < cap; i++)
        ht[i] = -1;
    for (size_t k = 0; k < ns->n; k++) {
        size_t i = hash_name(ns->v[k]->name) & (cap - 1);
        while (ht[i] >= 0)
            i = (i + 1) & (cap - 1);
        ht[i] = (int32_t)k;
    }
    free(ns->ht);
    ns->ht = ht;
    ns->ht_cap = cap;
    return 0;
}

ctl_node *ctl_nodes_get(ctl_nodes *ns, const char *name)
{
    ctl_node *n = ctl_nodes_find(ns, name);
    if (n) return n;
    if (strlen(name) >= PLACE_NAME_MAX || ns->n >= INT32_MAX / 2) return NULL;
    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 16;
        ctl_node **v = realloc(ns->v, cap * sizeof *v);
        if (!v) return NULL;
        ns->v = v;
        ns->cap = cap;
    }
    /* Keep the table at most half full so probes stay short. */
    if ((ns->n + 1) * 2 > ns->ht_cap && rehash(ns, ns->ht_cap ? ns->ht_cap * 2 : 64)) return NULL;
    n = calloc(1, sizeof *n);
    if (!n) return NULL;
    strcpy(n->name, name);
    n->state = CTL_NODE_READY;
    ns->v[ns->n] = n;
    size_t mask = ns->ht_cap - 1, i = hash_name(name) & mask;
    while (ns->ht[i] >= 0)
        i = (i + 1) & mask;
    ns->ht[i] = (int32_t)ns->n;
    ns->n++;
    return n;
}

void ctl_node_free_parts(ctl_node *n)
{
    free(n->rep);
    free(n->sent);
    free(n->want);
    free(n->fails);
    n->rep = NULL;
    n->sent = NULL;
    n->want = NULL;
    n->fails = NULL;
    n->n_rep = n->n_sent = n->cap_sent = n->n_want = n->cap_want = 0;
    n->n_fails = n->cap_fails = 0;
}

void ctl_nodes_free(ctl_nodes *ns)
{
    for (size_t i = 0; i < ns->n; i++) {
        ctl_node_free_parts(ns->v[i]);
        free(ns->v[i]);
    }
    free(ns->v);
    free(ns->ht);
    memset(ns, 0, sizeof *ns);
}

const proto_placement *ctl_node_reported(const ctl_node *n, const char *id, const char *rev)
{
    for (size_t i = 0; i < n->n_rep; i++)
        if (!strcmp(n->rep[i].id, id) && (!rev || !strcmp(n->rep[i].rev, rev))) return &n->rep[i];
    return NULL;
}

void ctl_node_price(ctl_node *n, const plan_fleet *fleet_file, const plan_fleet *catalog)
{
    n->price_per_hour = 1.0;
    snprintf(n->price_source, sizeof n->price_source, "nominal (no fleet entry or type)");
    if (fleet_file)
        for (size_t i = 0; i < fleet_file->n_nodes; i++)
            if (!strcmp(fleet_file->nodes[i].name, n->name)) {
                n->price_per_hour = fleet_file->nodes[i].price_per_hour;
                snprintf(n->price_source, sizeof n->price_source, "fleet file node %s", n->name);
                if (!n->instance_type[0])
                    snprintf(n->instance_type, sizeof n->instance_type, "%s",
                             fleet_file->nodes[i].type);
                return;
            }
    if (!catalog) return;
    if (n->instance_type[0])
        for (size_t i = 0; i < catalog->n_types; i++)
            if (!strcmp(catalog->types[i].type, n->instance_type)) {
                n->price_per_hour = catalog->types[i].price_per_hour;
                snprintf(n->price_source, sizeof n->price_source, "catalog type %s",
                         n->instance_type);
                return;
            }
    /* No type: the cheapest per GPU of the types with its GPU model, times its GPUs. */
    const plan_gpu_model *g = n->n_gpus ? plan_fleet_gpu(catalog, n->gpus[0].model) : NULL;
    double best = 0;
    const char *from = NULL;
    for (size_t i = 0; g && i < catalog->n_types; i++) {
        const plan_instance *t = &catalog->types[i];
        const plan_gpu_model *tg = plan_fleet_gpu(catalog, t->gpu);
        if (tg != g || t->n_gpus < 1) continue;
        double per = t->price_per_hour / t->n_gpus;
        if (!from || per < best) {
            best = per;
            from = t->type;
        }
    }
    if (from) {
        n->price_per_hour = best * n->n_gpus;
        snprintf(n->price_source, sizeof n->price_source, "estimate: %d x %s per GPU of %s",
                 n->n_gpus, g->name, from);
    }
}

void ctl_json_str(vp_sb *sb, const char *s)
{
    vp_sb_json_str(sb, s);
}
