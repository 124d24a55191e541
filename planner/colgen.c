/* colgen.c - Gilmore-Gomory column generation: lower bounds that stay tight when thousands of
 * replicas share a few shapes, and large plans built from the same columns.
 *
 * Master LP. A column is a GPU pattern of a node class (bin types that are interchangeable: a
 * purchasable type, or identical inventory nodes): how many slices of each unit kind (model,
 * stage) one GPU holds. A replica of TP t is t slices, so a slice covers 1/t replica. Minimise
 * sum_p (price / gpus) x_p subject to covering every kind's replicas and, for finite classes, at
 * most count x gpus patterns. This relaxes the real problem (slices of one replica need not share
 * a node, nodes need not be whole, spread and pipeline rules are dropped), so its optimum is a
 * valid lower bound; one artificial column per kind at a cost above any real cover keeps it
 * feasible when capacity runs out.
 *
 * Pricing is a bounded knapsack per class over the kinds (dynamic programming when capacity in
 * units of the weights' gcd is small, as in the classic benchmarks; depth-first branch and bound
 * over the few distinct shapes otherwise). The bound does not wait for convergence: at every
 * iteration, for duals pi >= 0 and mu <= 0 and the exact best reduced cost rc_c of each class,
 * sum_j pi_j d_j + sum_c mu_c cap_c + sum_c K_c min(0, rc_c) bounds the master, where K_c bounds
 * the patterns of class c in an optimal solution (its capacity, or the incumbent's cost over the
 * pattern's price). When branch and bound gives up early, its root fractional bound stands in for
 * the exact value, which keeps the bound valid. Costs are sums of prices, so the bound is rounded
 * up to the prices' granularity.
 *
 * Plans: diving (fix every column at 1 or more, else the largest, re-solve on what is left),
 * with limited discrepancy search when the first dive misses the bound: backtrack to try the
 * next columns, tabu for later siblings, pruned when the residual LP cannot beat the target, and
 * stopped after a few times the first dive's effort without a gain. The fixed patterns are laid
 * out on nodes of their class, TP groups by the same round-robin rule as the MIP; what does not
 * fit that way (pipelined models, spread overflow, leftovers) is placed by best fit, and a
 * consolidation pass empties or downsizes nodes where it can. GPU patterns price a node by the
 * GPU, which is loose when a plan needs only a few large nodes, so a second, whole-node master
 * takes over when the plan misses the bound: its columns are complete node layouts (from the
 * plans so far and from greedy fills guided by its duals) and GLPK solves it as an integer
 * program, warm-started from the best plan.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ilp.h"

/* ---------------------------------------------------------------- shared helpers */

double plan_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int ent_cmp(const void *a, const void *b)
{
    const struct plan_name_ent *x = a, *y = b;
    return strcmp(x->name, y->name);
}

int plan_names_new(const plan_problem *p, plan_names *out)
{
    out->n = p->n_groups;
    out->ent = malloc((p->n_groups ? p->n_groups : 1) * sizeof *out->ent);
    if (!out->ent) return -ENOMEM;
    for (size_t g = 0; g < p->n_groups; g++) {
        out->ent[g].name = p->manifest->models[p->groups[g].model].name;
        out->ent[g].group = g;
    }
    qsort(out->ent, out->n, sizeof *out->ent, ent_cmp);
    return 0;
}

int plan_names_find(const plan_names *nm, const char *model)
{
    struct plan_name_ent key = {.name = model};
    const struct plan_name_ent *f =
        nm->ent ? bsearch(&key, nm->ent, nm->n, sizeof key, ent_cmp) : NULL;
    return f ? (int)f->group : -1;
}

void plan_names_free(plan_names *nm)
{
    free(nm->ent);
    nm->ent = NULL;
    nm->n = 0;
}

int plan_add_fresh_node(const plan_problem *p, place_plan *plan, size_t b)
{
    const char *type = p->bintypes[b].type;
    size_t tl = strlen(type), n = plan->n_nodes;
    bool *taken = calloc(n + 2, 1);
    if (!taken) return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *nm = plan->nodes[i].name;
        if (strncmp(nm, type, tl) != 0 || nm[tl] != '-') continue;
        char *end;
        long v = strtol(nm + tl + 1, &end, 10);
        if (*end == '\0' && v >= 0 && (size_t)v <= n) taken[v] = true;
    }
    int seq = 0;
    while (taken[seq])
        seq++;
    free(taken);
    place_node nd;
    plan_node_from_bintype(p, b, seq, &nd);
    return place_plan_add_node(plan, &nd);
}

double plan_round_bound(const plan_problem *p, double bound)
{
    if (!(bound > 0)) return 0;
    static const double quanta[] = {1, 0.01, 0.001, 0.0001};
    for (size_t k = 0; k < VP_ARRAY_LEN(quanta); k++) {
        double q = quanta[k];
        bool all = true;
        for (size_t b = 0; b < p->n_bintypes && all; b++) {
            double v = p->bintypes[b].price_per_hour / q;
            all = fabs(v - round(v)) <= 1e-6 * (1 + fabs(v));
        }
        if (!all) continue;
        double v = bound / q;
        double r = ceil(v - 1e-7 * (1 + v));
        return r > v ? r * q : bound; /* never lower a bound by rounding */
    }
    return bound;
}

static bool placeable(const plan_problem *p, size_t g)
{
    const plan_group *gr = &p->groups[g];
    if (gr->replicas == 0 || gr->why_not[0]) return false;
    for (size_t b = 0; b < p->n_bintypes; b++)
        if (gr->shapes[b].ok) return true;
    return false;
}

void plan_finish(const plan_problem *p, place_plan *plan, const char *solver, const char *otherwise,
                 double t0_ms)
{
    char name[sizeof plan->solver];
    snprintf(name, sizeof name, "%s", solver); /* solver may be plan->solver itself */
    snprintf(plan->solver, sizeof plan->solver, "%s", name);
    place_plan_update_cost(plan);
    bool all = true;
    plan_names nm = {0};
    if (plan->n_unplaced && plan_names_new(p, &nm) == 0) {
        for (size_t u = 0; u < plan->n_unplaced && all; u++) {
            int g = plan_names_find(&nm, plan->unplaced[u].model);
            if (g >= 0 && placeable(p, (size_t)g)) all = false;
        }
        plan_names_free(&nm);
    } else if (plan->n_unplaced) {
        all = false;
    }
    double c = plan->cost_per_hour, lb = plan->lower_bound_per_hour;
    double tol = 1e-9 * (1 + c);
    if (all && c <= lb + tol) {
        plan->lower_bound_per_hour = lb > c ? c : lb;
        if (c - plan->lower_bound_per_hour <= tol) plan->lower_bound_per_hour = c;
        snprintf(plan->status, sizeof plan->status, "optimal");
    } else {
        snprintf(plan->status, sizeof plan->status, "%s", otherwise);
    }
    place_plan_update_cost(plan);
    double ms = plan_now_ms() - t0_ms;
    plan->solve_ms = ms > 0 ? (uint64_t)ms : 0;
}

/* ---------------------------------------------------------------- the master problem */

typedef struct cg_kind {
    size_t group;
    uint32_t stage;
    double demand; /* replicas to cover */
    bool spread;
} cg_kind;

typedef struct cg_class {
    int b;        /* representative bin type */
    int *members; /* bin types in the class (inventory: identical nodes) */
    int n_members;
    int G;
    uint64_t U;
    double price;  /* per node */
    double cap;    /* GPUs available, -1 = unlimited */
    int cap_row;   /* -1 when unlimited */
    int price_src; /* class whose pricing this one shares (same GPU and shapes) */
} cg_class;

typedef struct cg_pat {
    int cls;
    int col;
    size_t off; /* entries in the pool */
    int n;
    uint64_t hash;
} cg_pat;

typedef struct cg_ent {
    int j;
    uint32_t a; /* slices on one GPU */
} cg_ent;

typedef struct cg {
    const plan_problem *p;
    size_t nk;
    cg_kind *kinds;
    size_t nc;
    cg_class *cls;
    uint8_t *ok; /* [c * nk + j] */
    uint32_t *tp;
    uint64_t *w;
    plan_lp *lp;
    double W;     /* artificial cost per replica */
    int *art_col; /* [j] */
    /* patterns */
    cg_pat *pats;
    size_t npat, cappat;
    cg_ent *pool;
    size_t npool, cappool;
    int *col_pat; /* lp column -> pattern, -1 for artificial */
    size_t capcolpat;
    uint64_t *htab; /* open addressing: pattern index + 1, 0 = empty */
    size_t hcap;
    /* state */
    double ub;      /* best plan cost known (bounds K_c); < 0 unknown */
    double *dres;   /* residual demand */
    double *capres; /* residual capacity per class */
    double fixed_cost;
    double *pi, *mu;
    double lp_obj;
    double best_lb; /* best Lagrangian bound at the root (no fixing) */
    bool root;
    bool bound_valid; /* the artificial columns are not needed */
    double deadline_ms;
    /* pricing scratch */
    double *val;
    unsigned long bb_nodes;
} cg;

static uint64_t pat_hash(int cls, const cg_ent *e, int n)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)cls;
    for (int k = 0; k < n; k++) {
        h ^= (uint64_t)e[k].j * 0x9E3779B97F4A7C15ULL + e[k].a;
        h *= 1099511628211ULL;
    }
    return h ? h : 1;
}

static int ent_j_cmp(const void *a, const void *b)
{
    const cg_ent *x = a, *y = b;
    return x->j - y->j;
}

static int htab_grow(cg *g)
{
    size_t nc = g->hcap ? g->hcap * 2 : 1024;
    uint64_t *t = calloc(nc, sizeof *t);
    if (!t) return -ENOMEM;
    for (size_t i = 0; i < g->npat; i++) {
        size_t h = (size_t)(g->pats[i].hash & (nc - 1));
        while (t[h])
            h = (h + 1) & (nc - 1);
        t[h] = i + 1;
    }
    free(g->htab);
    g->htab = t;
    g->hcap = nc;
    return 0;
}

static int find_pat(const cg *g, int cls, const cg_ent *e, int n, uint64_t h)
{
    if (!g->hcap) return -1;
    size_t i = (size_t)(h & (g->hcap - 1));
    while (g->htab[i]) {
        const cg_pat *pt = &g->pats[g->htab[i] - 1];
        if (pt->hash == h && pt->cls == cls && pt->n == n &&
            memcmp(&g->pool[pt->off], e, (size_t)n * sizeof *e) == 0)
            return (int)(g->htab[i] - 1);
        i = (i + 1) & (g->hcap - 1);
    }
    return -1;
}

/* Adds pattern (sorted entries) as an LP column unless present. Returns its index (>= 0) or a
 * negative code. */
static int add_pattern(cg *g, int cls, cg_ent *e, int n)
{
    if (n <= 0) return VP_EINPUT;
    qsort(e, (size_t)n, sizeof *e, ent_j_cmp);
    uint64_t h = pat_hash(cls, e, n);
    int f = find_pat(g, cls, e, n, h);
    if (f >= 0) return f;
    if ((g->npat + 1) * 2 > g->hcap && htab_grow(g)) return -ENOMEM;
    if (vp_grow((void **)&g->pats, &g->cappat, g->npat + 1, sizeof *g->pats, 256))
        return -ENOMEM;
    if (vp_grow((void **)&g->pool, &g->cappool, g->npool + (size_t)n, sizeof *g->pool, 1024))
        return -ENOMEM;
    const cg_class *c = &g->cls[cls];
    int *ri = malloc(((size_t)n + 1) * sizeof *ri);
    double *rv = malloc(((size_t)n + 1) * sizeof *rv);
    if (!ri || !rv) {
        free(ri);
        free(rv);
        return -ENOMEM;
    }
    int nn = 0;
    for (int k = 0; k < n; k++) {
        ri[nn] = e[k].j;
        rv[nn++] = (double)e[k].a / (double)g->tp[(size_t)cls * g->nk + (size_t)e[k].j];
    }
    if (c->cap_row >= 0) {
        ri[nn] = c->cap_row;
        rv[nn++] = 1;
    }
    int col = plan_lp_add_col(g->lp, c->price / c->G, 0, -1, nn, ri, rv);
    free(ri);
    free(rv);
    if (col < 0) return col;
    if ((size_t)col >= g->capcolpat) {
        size_t nc = g->capcolpat ? g->capcolpat * 2 : 256;
        while (nc <= (size_t)col)
            nc *= 2;
        int *cp = realloc(g->col_pat, nc * sizeof *cp);
        if (!cp) return -ENOMEM;
        g->col_pat = cp;
        g->capcolpat = nc;
    }
    cg_pat *pt = &g->pats[g->npat];
    pt->cls = cls;
    pt->col = col;
    pt->off = g->npool;
    pt->n = n;
    pt->hash = h;
    memcpy(&g->pool[g->npool], e, (size_t)n * sizeof *e);
    g->npool += (size_t)n;
    g->col_pat[col] = (int)g->npat;
    size_t i = (size_t)(h & (g->hcap - 1));
    while (g->htab[i])
        i = (i + 1) & (g->hcap - 1);
    g->htab[i] = g->npat + 1;
    return (int)g->npat++;
}

static void cg_free(cg *g)
{
    for (size_t c = 0; c < g->nc; c++)
        free(g->cls[c].members);
    free(g->cls);
    free(g->kinds);
    free(g->ok);
    free(g->tp);
    free(g->w);
    plan_lp_free(g->lp);
    free(g->art_col);
    free(g->pats);
    free(g->pool);
    free(g->col_pat);
    free(g->htab);
    free(g->dres);
    free(g->capres);
    free(g->pi);
    free(g->mu);
    free(g->val);
}

static bool same_pricing(const cg *g, size_t a, size_t b)
{
    if (g->cls[a].U != g->cls[b].U) return false;
    for (size_t j = 0; j < g->nk; j++) {
        size_t x = a * g->nk + j, y = b * g->nk + j;
        if (g->ok[x] != g->ok[y] || (g->ok[x] && (g->tp[x] != g->tp[y] || g->w[x] != g->w[y])))
            return false;
    }
    return true;
}

/* Kinds, classes and the LP with its artificial columns. */
static int cg_init(cg *g, const plan_problem *p, double ub, vp_err *e)
{
    memset(g, 0, sizeof *g);
    g->p = p;
    g->ub = ub;
    g->root = true;
    size_t ng = p->n_groups ? p->n_groups : 1;
    g->kinds = malloc(ng * PLAN_MAX_PP * sizeof *g->kinds);
    g->cls = calloc(p->n_bintypes ? p->n_bintypes : 1, sizeof *g->cls);
    if (!g->kinds || !g->cls) goto oom;
    for (size_t gi = 0; gi < p->n_groups; gi++) {
        if (!placeable(p, gi)) continue;
        for (uint32_t s = 0; s < p->groups[gi].pp && s < PLAN_MAX_PP; s++)
            g->kinds[g->nk++] = (cg_kind){gi, s, p->groups[gi].replicas,
                                          p->manifest->models[p->groups[gi].model].spread};
    }
    /* Classes: one per purchasable type; identical inventory nodes together. */
    for (size_t b = 0; b < p->n_bintypes; b++) {
        const plan_bintype *bt = &p->bintypes[b];
        if (bt->n_gpus <= 0 || bt->usable_per_gpu == 0 || bt->max_count == 0) continue;
        int found = -1;
        if (bt->inventory)
            for (size_t c = 0; c < g->nc && found < 0; c++) {
                const plan_bintype *r = &p->bintypes[g->cls[c].b];
                if (!r->inventory || r->gpu != bt->gpu || r->n_gpus != bt->n_gpus ||
                    r->usable_per_gpu != bt->usable_per_gpu ||
                    r->price_per_hour != bt->price_per_hour)
                    continue;
                bool same = true;
                for (size_t gi = 0; gi < p->n_groups && same; gi++) {
                    const plan_shape *x = &p->groups[gi].shapes[g->cls[c].b];
                    const plan_shape *y = &p->groups[gi].shapes[b];
                    same = x->ok == y->ok &&
                           (!x->ok || (x->tp == y->tp && !memcmp(x->stage_bytes, y->stage_bytes,
                                                                 sizeof x->stage_bytes)));
                }
                if (same) found = (int)c;
            }
        cg_class *c;
        if (found >= 0) {
            c = &g->cls[found];
        } else {
            c = &g->cls[g->nc++];
            c->b = (int)b;
            c->G = bt->n_gpus;
            c->U = bt->usable_per_gpu;
            c->price = bt->price_per_hour;
            c->cap =
                bt->inventory ? 0 : (bt->max_count < 0 ? -1 : (double)bt->max_count * bt->n_gpus);
            c->members = malloc(p->n_bintypes * sizeof *c->members);
            if (!c->members) goto oom;
        }
        c->members[c->n_members++] = (int)b;
        if (bt->inventory) c->cap += bt->n_gpus;
    }
    size_t nkc = (g->nc ? g->nc : 1) * (g->nk ? g->nk : 1);
    g->ok = calloc(nkc, 1);
    g->tp = calloc(nkc, sizeof *g->tp);
    g->w = calloc(nkc, sizeof *g->w);
    g->dres = malloc((g->nk ? g->nk : 1) * sizeof *g->dres);
    g->capres = malloc((g->nc ? g->nc : 1) * sizeof *g->capres);
    g->pi = calloc(g->nk ? g->nk : 1, sizeof *g->pi);
    g->mu = calloc(g->nc ? g->nc : 1, sizeof *g->mu);
    g->val = calloc(g->nk ? g->nk : 1, sizeof *g->val);
    g->art_col = malloc((g->nk ? g->nk : 1) * sizeof *g->art_col);
    if (!g->ok || !g->tp || !g->w || !g->dres || !g->capres || !g->pi || !g->mu || !g->val ||
        !g->art_col)
        goto oom;
    double maxprice = 0;
    for (size_t c = 0; c < g->nc; c++) {
        cg_class *cl = &g->cls[c];
        const plan_bintype *bt = &p->bintypes[cl->b];
        if (cl->price > maxprice) maxprice = cl->price;
        for (size_t j = 0; j < g->nk; j++) {
            const plan_shape *s = &p->groups[g->kinds[j].group].shapes[cl->b];
            uint64_t w = s->stage_bytes[g->kinds[j].stage];
            if (!s->ok || s->tp < 1 || (int)s->tp > bt->n_gpus || w > bt->usable_per_gpu) continue;
            g->ok[c * g->nk + j] = 1;
            g->tp[c * g->nk + j] = s->tp;
            g->w[c * g->nk + j] = w ? w : 1;
        }
        cl->price_src = (int)c;
        for (size_t d = 0; d < c; d++)
            if (g->cls[d].price_src == (int)d && same_pricing(g, c, d)) {
                cl->price_src = (int)d;
                break;
            }
    }
    g->W = 2 * maxprice + 1;
    g->lp = plan_lp_new("vrampack-colgen");
    if (!g->lp) goto oom;
    for (size_t j = 0; j < g->nk; j++) {
        g->dres[j] = g->kinds[j].demand;
        if (plan_lp_add_row(g->lp, 'G', g->kinds[j].demand) < 0) goto solver;
    }
    for (size_t c = 0; c < g->nc; c++) {
        cg_class *cl = &g->cls[c];
        g->capres[c] = cl->cap;
        cl->cap_row = -1;
        if (cl->cap >= 0) {
            cl->cap_row = plan_lp_add_row(g->lp, 'L', cl->cap);
            if (cl->cap_row < 0) goto solver;
        }
    }
    for (size_t j = 0; j < g->nk; j++) {
        int row = (int)j;
        double one = 1;
        g->art_col[j] = plan_lp_add_col(g->lp, g->W, 0, -1, 1, &row, &one);
        if (g->art_col[j] < 0) goto solver;
        if ((size_t)g->art_col[j] >= g->capcolpat) {
            size_t nc = g->capcolpat ? g->capcolpat * 2 : 256;
            while (nc <= (size_t)g->art_col[j])
                nc *= 2;
            int *cp = realloc(g->col_pat, nc * sizeof *cp);
            if (!cp) goto oom;
            g->col_pat = cp;
            g->capcolpat = nc;
        }
        g->col_pat[g->art_col[j]] = -1;
    }
    return 0;
oom:
    return vp_errf(e, -ENOMEM, "out of memory in column generation");
solver:
    return vp_errf(e, VP_ESOLVER, "column generation: GLPK failed to build the LP");
}

/* Columns from a plan: every used GPU's slices. */
static int cg_seed_from_plan(cg *g, const place_plan *plan)
{
    const plan_problem *p = g->p;
    plan_names nm;
    if (plan_names_new(p, &nm)) return -ENOMEM;
    int *kind_of = malloc((p->n_groups ? p->n_groups : 1) * PLAN_MAX_PP * sizeof *kind_of);
    int *cls_of = malloc((p->n_bintypes ? p->n_bintypes : 1) * sizeof *cls_of);
    uint32_t(*cnt)[PLACE_MAX_GPUS] = calloc(g->nk ? g->nk : 1, sizeof *cnt);
    cg_ent *ent = malloc((g->nk ? g->nk : 1) * sizeof *ent);
    int rc = 0;
    if (!kind_of || !cls_of || !cnt || !ent) {
        rc = -ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < p->n_groups * PLAN_MAX_PP; i++)
        kind_of[i] = -1;
    for (size_t j = 0; j < g->nk; j++)
        kind_of[g->kinds[j].group * PLAN_MAX_PP + g->kinds[j].stage] = (int)j;
    for (size_t b = 0; b < p->n_bintypes; b++)
        cls_of[b] = -1;
    for (size_t c = 0; c < g->nc; c++)
        for (int k = 0; k < g->cls[c].n_members; k++)
            cls_of[g->cls[c].members[k]] = (int)c;
    /* Placements grouped by node: one pass per node over a sorted index. */
    size_t np = plan->n_placements;
    size_t *order = malloc((np ? np : 1) * sizeof *order);
    size_t *start = calloc(plan->n_nodes + 1, sizeof *start);
    if (!order || !start) {
        free(order);
        free(start);
        rc = -ENOMEM;
        goto done;
    }
    for (size_t k = 0; k < np; k++)
        start[plan->placements[k].node + 1]++;
    for (size_t n = 0; n < plan->n_nodes; n++)
        start[n + 1] += start[n];
    size_t *fill = malloc((plan->n_nodes + 1) * sizeof *fill);
    if (!fill) {
        free(order);
        free(start);
        rc = -ENOMEM;
        goto done;
    }
    memcpy(fill, start, (plan->n_nodes + 1) * sizeof *fill);
    for (size_t k = 0; k < np; k++)
        order[fill[plan->placements[k].node]++] = k;
    free(fill);
    for (size_t n = 0; n < plan->n_nodes && !rc; n++) {
        int b = plan_node_bintype(p, &plan->nodes[n]);
        if (b < 0 || cls_of[b] < 0) continue;
        int c = cls_of[b];
        bool any = false;
        for (size_t q = start[n]; q < start[n + 1]; q++) {
            const place_placement *pl = &plan->placements[order[q]];
            int gi = plan_names_find(&nm, pl->model);
            uint32_t st = pl->stage < 0 ? 0 : (uint32_t)pl->stage;
            if (gi < 0 || st >= PLAN_MAX_PP) continue;
            int j = kind_of[(size_t)gi * PLAN_MAX_PP + st];
            if (j < 0 || !g->ok[(size_t)c * g->nk + (size_t)j] ||
                g->w[(size_t)c * g->nk + (size_t)j] != (pl->bytes_per_gpu ? pl->bytes_per_gpu : 1))
                continue;
            for (int t = 0; t < pl->n_gpus; t++)
                cnt[j][pl->gpus[t]]++;
            any = true;
        }
        if (!any) continue;
        for (int gg = 0; gg < plan->nodes[n].n_gpus && !rc; gg++) {
            int ne = 0;
            for (size_t q = start[n]; q < start[n + 1]; q++) {
                const place_placement *pl = &plan->placements[order[q]];
                int gi = plan_names_find(&nm, pl->model);
                uint32_t st = pl->stage < 0 ? 0 : (uint32_t)pl->stage;
                if (gi < 0 || st >= PLAN_MAX_PP) continue;
                int j = kind_of[(size_t)gi * PLAN_MAX_PP + st];
                if (j < 0 || !cnt[j][gg]) continue;
                ent[ne++] = (cg_ent){j, cnt[j][gg]};
                cnt[j][gg] = 0;
            }
            if (ne) {
                int r = add_pattern(g, c, ent, ne);
                if (r < 0) rc = r;
            }
        }
        for (size_t q = start[n]; q < start[n + 1]; q++) { /* clear leftovers */
            const place_placement *pl = &plan->placements[order[q]];
            int gi = plan_names_find(&nm, pl->model);
            uint32_t st = pl->stage < 0 ? 0 : (uint32_t)pl->stage;
            if (gi < 0 || st >= PLAN_MAX_PP) continue;
            int j = kind_of[(size_t)gi * PLAN_MAX_PP + st];
            if (j >= 0) memset(cnt[j], 0, sizeof cnt[j]);
        }
    }
    free(order);
    free(start);
done:
    free(kind_of);
    free(cls_of);
    free(cnt);
    free(ent);
    plan_names_free(&nm);
    return rc;
}

/* One homogeneous column per kind on each class it may use: a full GPU of it. */
static int cg_seed_homogeneous(cg *g)
{
    for (size_t j = 0; j < g->nk; j++)
        for (size_t c = 0; c < g->nc; c++) {
            size_t x = c * g->nk + j;
            if (!g->ok[x]) continue;
            uint64_t a = g->cls[c].U / g->w[x];
            double lim = g->kinds[j].spread ? 1 : ceil(g->kinds[j].demand * g->tp[x]);
            if ((double)a > lim) a = (uint64_t)lim;
            if (a == 0) continue;
            cg_ent ent = {(int)j, (uint32_t)a};
            int r = add_pattern(g, (int)c, &ent, 1);
            if (r < 0) return r;
        }
    return 0;
}

/* ---------------------------------------------------------------- pricing */

typedef struct kp_item {
    int j;
    double v; /* value per slice */
    uint64_t w;
    uint32_t ub;
} kp_item;

#define KP_MAX_ENT 64 /* kinds in one GPU pattern (more are dropped: the column stays feasible) */

typedef struct kp_sol {
    double value;
    int n;
    cg_ent ent[KP_MAX_ENT];
} kp_sol;

#define KP_MAX_SOLS 8

typedef struct kp_out {
    double best_ub; /* upper bound on the best value (exact when solved) */
    int nsol;
    kp_sol sol[KP_MAX_SOLS];
} kp_out;

static int kp_ratio_cmp(const void *a, const void *b)
{
    const kp_item *x = a, *y = b;
    double rx = x->v / (double)x->w, ry = y->v / (double)y->w;
    if (rx != ry) return rx > ry ? -1 : 1;
    return x->j - y->j;
}

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static void kp_keep(kp_out *o, const kp_sol *s)
{
    /* Keep the best KP_MAX_SOLS distinct solutions. */
    for (int k = 0; k < o->nsol; k++)
        if (o->sol[k].n == s->n && !memcmp(o->sol[k].ent, s->ent, (size_t)s->n * sizeof *s->ent))
            return;
    if (o->nsol < KP_MAX_SOLS) {
        o->sol[o->nsol++] = *s;
        return;
    }
    int worst = 0;
    for (int k = 1; k < o->nsol; k++)
        if (o->sol[k].value < o->sol[worst].value) worst = k;
    if (s->value > o->sol[worst].value) o->sol[worst] = *s;
}

/* 0/1 dynamic programming over binary-split items (weights in units of `unit`); exact. */
static int kp_dp(const kp_item *it, int n, uint64_t U, uint64_t unit, double thresh, kp_out *o)
{
    size_t cap = (size_t)(U / unit);
    int parts = 0;
    for (int i = 0; i < n; i++)
        for (uint32_t left = it[i].ub, k = 1; left; k *= 2) {
            left -= k < left ? k : left;
            parts++;
        }
    double *f = calloc(cap + 1, sizeof *f);
    size_t rowbytes = (cap + 8) / 8;
    uint8_t *keep = calloc((size_t)parts * rowbytes, 1);
    int *pj = malloc((size_t)parts * sizeof *pj);
    uint32_t *pm = malloc((size_t)parts * sizeof *pm);
    uint32_t *cnt = malloc((size_t)n * sizeof *cnt);
    int rc = 0;
    if (!f || !keep || !pj || !pm || !cnt) {
        rc = -ENOMEM;
        goto out;
    }
    int q = 0;
    for (int i = 0; i < n; i++)
        for (uint32_t left = it[i].ub, k = 1; left; k *= 2) {
            uint32_t take = k < left ? k : left;
            left -= take;
            pj[q] = i;
            pm[q] = take;
            size_t wt = (size_t)(it[i].w / unit) * take;
            double v = it[i].v * take;
            uint8_t *kr = &keep[(size_t)q * rowbytes];
            for (size_t c = cap + 1; c-- > wt;) {
                double nv = f[c - wt] + v;
                if (nv > f[c]) {
                    f[c] = nv;
                    kr[c >> 3] |= (uint8_t)(1u << (c & 7));
                }
            }
            q++;
        }
    o->best_ub = f[cap];
    /* The best pattern, then the best ones of smaller weight (a staircase of columns). */
    size_t c0 = cap;
    for (int round = 0; round < KP_MAX_SOLS; round++) {
        if (f[c0] <= thresh) break;
        memset(cnt, 0, (size_t)n * sizeof *cnt);
        size_t c = c0, used = 0;
        for (int r = q - 1; r >= 0; r--)
            if (keep[(size_t)r * rowbytes + (c >> 3)] >> (c & 7) & 1u) {
                size_t wt = (size_t)(it[pj[r]].w / unit) * pm[r];
                cnt[pj[r]] += pm[r];
                c -= wt;
                used += wt;
            }
        kp_sol s = {.value = f[c0]};
        for (int i = 0; i < n && s.n < KP_MAX_ENT; i++)
            if (cnt[i]) s.ent[s.n++] = (cg_ent){it[i].j, cnt[i]};
        if (s.n) kp_keep(o, &s);
        if (used == 0) break;
        c0 = used - 1;
    }
out:
    free(f);
    free(keep);
    free(pj);
    free(pm);
    free(cnt);
    return rc;
}

/* Depth-first branch and bound, items by decreasing value per byte. */
typedef struct kp_bb {
    const kp_item *it;
    int n;
    uint32_t x[KP_MAX_ENT], bestx[KP_MAX_ENT];
    double best;
    unsigned long nodes, limit;
    double thresh;
    kp_out *o;
    bool aborted;
} kp_bb;

static double kp_frac_bound(const kp_item *it, int n, int from, uint64_t room)
{
    double v = 0;
    for (int i = from; i < n && room; i++) {
        uint64_t fit = room / it[i].w;
        if (fit >= it[i].ub) {
            v += it[i].v * it[i].ub;
            room -= it[i].w * it[i].ub;
        } else {
            v += it[i].v * (double)fit;
            room -= it[i].w * fit;
            v += it[i].v * (double)room / (double)it[i].w;
            break;
        }
    }
    return v;
}

static void kp_record(kp_bb *s, double v)
{
    kp_sol sol = {.value = v};
    for (int i = 0; i < s->n && sol.n < KP_MAX_ENT; i++)
        if (s->x[i]) sol.ent[sol.n++] = (cg_ent){s->it[i].j, s->x[i]};
    if (sol.n) kp_keep(s->o, &sol);
}

static void kp_dfs(kp_bb *s, int i, uint64_t room, double v)
{
    if (s->aborted) return;
    if (++s->nodes > s->limit) {
        s->aborted = true;
        return;
    }
    if (i == s->n || room == 0) {
        if (v > s->best) {
            s->best = v;
            memcpy(s->bestx, s->x, sizeof s->x);
        }
        if (v > s->thresh) kp_record(s, v);
        return;
    }
    if (v + kp_frac_bound(s->it, s->n, i, room) <= s->best * (1 + 1e-12) + 1e-15) return;
    uint64_t maxk = room / s->it[i].w;
    if (maxk > s->it[i].ub) maxk = s->it[i].ub;
    for (uint64_t k = maxk + 1; k-- > 0;) {
        s->x[i] = (uint32_t)k;
        kp_dfs(s, i + 1, room - k * s->it[i].w, v + (double)k * s->it[i].v);
        if (s->aborted) break;
    }
    s->x[i] = 0;
}

/* Best patterns of class c under the current values. */
static int price_class(cg *g, size_t c, double thresh, kp_out *o)
{
    const cg_class *cl = &g->cls[c];
    size_t nk = g->nk;
    kp_item *heap = malloc((nk ? nk : 1) * sizeof *heap), *items = heap;
    int n = 0;
    if (!heap) return -ENOMEM;
    uint64_t gd = 0;
    for (size_t j = 0; j < nk; j++) {
        size_t x = c * nk + j;
        if (!g->ok[x] || g->val[j] <= 1e-12) continue;
        double lim = g->kinds[j].spread ? 1 : ceil(g->dres[j] * g->tp[x] - 1e-9);
        uint64_t ub = cl->U / g->w[x];
        if ((double)ub > lim) ub = lim > 0 ? (uint64_t)lim : 0;
        if (ub == 0) continue;
        if (ub > 1u << 30) ub = 1u << 30;
        items[n++] = (kp_item){(int)j, g->val[j] / g->tp[x], g->w[x], (uint32_t)ub};
        gd = gcd64(gd, g->w[x]);
    }
    memset(o, 0, sizeof *o);
    if (n == 0) {
        free(heap);
        return 0;
    }
    qsort(items, (size_t)n, sizeof *items, kp_ratio_cmp);
    /* Dynamic programming when the table is small (the classic instances), branch and bound
     * over few distinct shapes (real fleets), else a greedy column with the fractional bound. */
    double cells = (double)(cl->U / gd) + 1, parts = 0;
    for (int i = 0; i < n; i++)
        parts += floor(log2((double)items[i].ub)) + 1;
    int rc = 0;
    if (cells * parts <= 6e7 && cells <= 4e6) {
        rc = kp_dp(items, n, cl->U, gd, thresh, o);
    } else if (n <= KP_MAX_ENT) {
        kp_bb s = {.it = items, .n = n, .limit = 200000, .thresh = thresh, .o = o};
        kp_dfs(&s, 0, cl->U, 0);
        g->bb_nodes += s.nodes;
        o->best_ub = s.aborted ? kp_frac_bound(items, n, 0, cl->U) : s.best;
        if (s.best > o->best_ub) o->best_ub = s.best;
    } else {
        o->best_ub = kp_frac_bound(items, n, 0, cl->U);
        kp_sol s = {0};
        uint64_t room = cl->U;
        for (int i = 0; i < n && s.n < KP_MAX_ENT; i++) {
            uint64_t k = room / items[i].w;
            if (k > items[i].ub) k = items[i].ub;
            if (!k) continue;
            room -= k * items[i].w;
            s.value += (double)k * items[i].v;
            s.ent[s.n++] = (cg_ent){items[i].j, (uint32_t)k};
        }
        if (s.value > thresh) kp_keep(o, &s);
    }
    free(heap);
    return rc;
}

/* ---------------------------------------------------------------- the column generation loop */

/* Upper bound on the patterns of class c in an optimal master solution. */
static double class_k(const cg *g, size_t c)
{
    const cg_class *cl = &g->cls[c];
    double k = cl->cap >= 0 ? g->capres[c] : INFINITY;
    if (g->ub >= 0 && cl->price > 0) {
        double kk = (g->ub - g->fixed_cost) * cl->G / cl->price;
        if (kk < 0) kk = 0;
        if (kk < k) k = kk;
    }
    return k;
}

/* Runs column generation on the current residual until no column prices out, the iteration
 * limit, or the deadline. Returns 0, or a negative code. */
static int cg_solve(cg *g, int max_iter, vp_err *e)
{
    kp_out *outs = malloc((g->nc ? g->nc : 1) * sizeof *outs);
    if (!outs) return vp_errf(e, -ENOMEM, "out of memory");
    int rc = 0;
    for (int it = 0; it < max_iter; it++) {
        double obj;
        rc = plan_lp_solve(g->lp, &obj);
        if (rc) {
            rc = vp_errf(e, rc == VP_ENOSPACE ? VP_ESOLVER : rc,
                         "column generation: the master LP failed (%s)", vp_strerror(rc));
            break;
        }
        g->lp_obj = obj;
        double dual_obj = 0;
        for (size_t j = 0; j < g->nk; j++) {
            double pi = plan_lp_dual(g->lp, (int)j);
            if (pi < 0) pi = 0;
            if (pi > g->W) pi = g->W;
            g->pi[j] = pi;
            g->val[j] = pi;
            dual_obj += pi * (g->dres[j] > 0 ? g->dres[j] : 0);
        }
        for (size_t c = 0; c < g->nc; c++) {
            const cg_class *cl = &g->cls[c];
            double mu = cl->cap_row >= 0 ? plan_lp_dual(g->lp, cl->cap_row) : 0;
            if (mu > 0) mu = 0;
            g->mu[c] = mu;
            if (cl->cap_row >= 0) dual_obj += mu * g->capres[c];
        }
        /* Pricing (shared between classes with the same GPU and shapes). */
        bool added = false, bound_ok = true;
        double lag = dual_obj;
        for (size_t c = 0; c < g->nc; c++) {
            const cg_class *cl = &g->cls[c];
            if (cl->price_src == (int)c) {
                /* Columns worth adding: reduced cost below zero for some class sharing them. */
                double thr = INFINITY;
                for (size_t d = c; d < g->nc; d++)
                    if (g->cls[d].price_src == (int)c) {
                        double t = g->cls[d].price / g->cls[d].G - g->mu[d];
                        if (t < thr) thr = t;
                    }
                rc = price_class(g, c, thr * (1 + 1e-9) + 1e-12, &outs[c]);
                if (rc) {
                    rc = vp_errf(e, rc, "out of memory in pricing");
                    goto done;
                }
            }
            const kp_out *o = &outs[cl->price_src];
            double rcost = cl->price / cl->G - g->mu[c] - o->best_ub;
            if (g->cls[c].cap >= 0 && g->capres[c] <= 0 && rcost < 0) rcost = 0;
            if (rcost < 0) {
                double k = class_k(g, c);
                if (isinf(k))
                    bound_ok = false;
                else
                    lag += k * rcost;
            }
            double t = cl->price / cl->G - g->mu[c];
            if (g->cls[c].cap >= 0 && g->capres[c] <= 0) continue;
            for (int s = 0; s < o->nsol; s++)
                if (o->sol[s].value > t * (1 + 1e-9) + 1e-12) {
                    cg_ent ent[KP_MAX_ENT];
                    memcpy(ent, o->sol[s].ent, (size_t)o->sol[s].n * sizeof *ent);
                    size_t before = g->npat;
                    int r = add_pattern(g, (int)c, ent, o->sol[s].n);
                    if (r < 0) {
                        rc = vp_errf(e, r, "column generation: cannot add a column");
                        goto done;
                    }
                    if (g->npat > before) added = true;
                }
        }
        if (g->root && bound_ok) {
            double lb = lag + g->fixed_cost;
            if (lb > g->best_lb) g->best_lb = lb;
        }
        if (!added) break;
        if (g->deadline_ms > 0 && plan_now_ms() > g->deadline_ms) break;
    }
done:
    free(outs);
    return rc;
}

static double art_flow(const cg *g)
{
    double a = 0;
    for (size_t j = 0; j < g->nk; j++)
        a += plan_lp_col(g->lp, g->art_col[j]);
    return a;
}

/* ---------------------------------------------------------------- building a plan */

typedef struct fixed_pat {
    int pat;
    long copies;
} fixed_pat;

typedef struct dive {
    fixed_pat *v;
    size_t n, cap;
} dive;

static int dive_add(dive *d, int pat, long copies)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->v[i].pat == pat) {
            d->v[i].copies += copies;
            return 0;
        }
    if (vp_grow((void **)&d->v, &d->cap, d->n + 1, sizeof *d->v, 64))
        return -ENOMEM;
    d->v[d->n++] = (fixed_pat){pat, copies};
    return 0;
}

/* Applies `copies` (negative: takes back) of pattern t to the residual and the LP's right-hand
 * sides. */
static int fix_pattern(cg *g, int t, long copies)
{
    const cg_pat *pt = &g->pats[t];
    const cg_class *cl = &g->cls[pt->cls];
    for (int k = 0; k < pt->n; k++) {
        const cg_ent *en = &g->pool[pt->off + (size_t)k];
        double cover = (double)en->a * copies / g->tp[(size_t)pt->cls * g->nk + (size_t)en->j];
        g->dres[en->j] -= cover;
        double rhs = g->dres[en->j] > 1e-9 ? g->dres[en->j] : 0;
        if (plan_lp_set_rhs(g->lp, en->j, rhs)) return VP_ESOLVER;
    }
    if (cl->cap >= 0) {
        g->capres[pt->cls] -= (double)copies;
        if (plan_lp_set_rhs(g->lp, cl->cap_row, g->capres[pt->cls] > 0 ? g->capres[pt->cls] : 0))
            return VP_ESOLVER;
    }
    g->fixed_cost += cl->price / cl->G * (double)copies;
    return 0;
}

static bool residual_done(const cg *g)
{
    for (size_t j = 0; j < g->nk; j++)
        if (g->dres[j] > 1e-6) return false;
    return true;
}

/* Diving with limited discrepancy search. A node re-solves the LP on the residual, prunes when
 * the LP cannot beat the target, and otherwise tries its candidates in order: first every column
 * at 1 or more (residual rounding), then single columns by decreasing value. Taking a candidate
 * other than the first spends one discrepancy; columns tried by earlier siblings are tabu below
 * later ones. Iterative deepening over the discrepancy budget, so the plain dive comes first. */
typedef struct lds {
    dive stack; /* fixes along the current path (copies < 0 never) */
    dive best;  /* best complete path */
    double best_cost;
    double target; /* a complete path must cost at most this to count */
    int *tabu;     /* pattern indices, a stack */
    size_t ntabu, captabu;
    bool stop;
    long nodes;
    long last_gain; /* node count at the last improvement */
    long patience;  /* give up after this many nodes without one (0 = never) */
} lds;

static int lds_push_fix(cg *g, lds *L, int t, long copies)
{
    if (vp_grow((void **)&L->stack.v, &L->stack.cap, L->stack.n + 1, sizeof *L->stack.v, 64))
        return -ENOMEM;
    L->stack.v[L->stack.n++] = (fixed_pat){t, copies};
    return fix_pattern(g, t, copies);
}

static int lds_pop_to(cg *g, lds *L, size_t n)
{
    while (L->stack.n > n) {
        fixed_pat f = L->stack.v[--L->stack.n];
        int rc = fix_pattern(g, f.pat, -f.copies);
        if (rc) return rc;
    }
    return 0;
}

static bool is_tabu(const lds *L, int t)
{
    for (size_t i = 0; i < L->ntabu; i++)
        if (L->tabu[i] == t) return true;
    return false;
}

typedef struct cand {
    int pat;
    double v;
} cand;

static int cand_cmp(const void *a, const void *b)
{
    const cand *x = a, *y = b;
    if (x->v != y->v) return x->v > y->v ? -1 : 1;
    return x->pat - y->pat;
}

static int lds_node(cg *g, lds *L, int depth, int disc, vp_err *e)
{
    if (L->stop) return 0;
    if (g->deadline_ms > 0 && plan_now_ms() > g->deadline_ms) {
        L->stop = true;
        return 0;
    }
    L->nodes++;
    if (L->patience > 0 && L->nodes - L->last_gain > L->patience) {
        L->stop = true;
        return 0;
    }
    if (residual_done(g)) {
        if (g->fixed_cost < L->best_cost - 1e-9) {
            L->best_cost = g->fixed_cost;
            L->last_gain = L->nodes;
            L->best.n = 0;
            for (size_t i = 0; i < L->stack.n; i++)
                if (dive_add(&L->best, L->stack.v[i].pat, L->stack.v[i].copies)) return -ENOMEM;
        }
        return g->fixed_cost <= L->target + 1e-9 ? 1 : 0;
    }
    if (depth > 0) {
        int rc = cg_solve(g, 200, e);
        if (rc) return rc;
    }
    if (plan_round_bound(g->p, g->fixed_cost + g->lp_obj) > L->target + 1e-9) return 0;
    int ncols = plan_lp_n_cols(g->lp);
    cand *cs = malloc(((size_t)ncols + 1) * sizeof *cs);
    if (!cs) return -ENOMEM;
    int nc = 0;
    bool integral = false;
    for (int col = 0; col < ncols; col++) {
        int t = g->col_pat[col];
        if (t < 0) continue;
        double v = plan_lp_col(g->lp, col);
        if (v <= 1e-6) continue;
        const cg_class *cl = &g->cls[g->pats[t].cls];
        if (cl->cap >= 0 && g->capres[g->pats[t].cls] < 1 - 1e-9) continue;
        if (v >= 1 - 1e-6) integral = true;
        cs[nc++] = (cand){t, v};
    }
    qsort(cs, (size_t)nc, sizeof *cs, cand_cmp);
    size_t base = L->stack.n, tabu_base = L->ntabu;
    int rc = 0, tried = 0;
    /* Candidate 0: every column at 1 or more, rounded down. */
    if (integral) {
        for (int k = 0; k < nc && !rc; k++) {
            if (cs[k].v < 1 - 1e-6) break;
            long copies = (long)floor(cs[k].v + 1e-6);
            const cg_class *cl = &g->cls[g->pats[cs[k].pat].cls];
            if (cl->cap >= 0 && copies > (long)floor(g->capres[g->pats[cs[k].pat].cls] + 1e-9))
                copies = (long)floor(g->capres[g->pats[cs[k].pat].cls] + 1e-9);
            if (copies > 0) rc = lds_push_fix(g, L, cs[k].pat, copies);
        }
        if (!rc) rc = lds_node(g, L, depth + 1, disc, e);
        if (rc == 0)
            rc = lds_pop_to(g, L, base);
        else if (rc == 1)
            goto out;
        tried = 1;
    }
    /* Then single columns, best first; each beyond the first costs a discrepancy. */
    for (int k = 0; k < nc && rc == 0 && !L->stop; k++) {
        if (is_tabu(L, cs[k].pat)) continue;
        if (tried > 0 && disc <= 0) break;
        int d2 = tried > 0 ? disc - 1 : disc;
        rc = lds_push_fix(g, L, cs[k].pat, 1);
        if (!rc) rc = lds_node(g, L, depth + 1, d2, e);
        if (rc == 0) rc = lds_pop_to(g, L, base);
        if (rc) break;
        tried++;
        if (L->ntabu == L->captabu) {
            size_t ncap = L->captabu ? L->captabu * 2 : 64;
            int *tb = realloc(L->tabu, ncap * sizeof *tb);
            if (!tb) {
                rc = -ENOMEM;
                break;
            }
            L->tabu = tb;
            L->captabu = ncap;
        }
        L->tabu[L->ntabu++] = cs[k].pat;
    }
out:
    L->ntabu = tabu_base;
    free(cs);
    return rc;
}

/* Fills d with the patterns of the best complete dive found before the deadline. `incumbent` is
 * the cost to beat (a plan we already have); `target` the best any plan can cost. */
static int cg_dive(cg *g, dive *d, double incumbent, double target, vp_err *e)
{
    lds L = {.best_cost = INFINITY};
    int rc = 0;
    g->root = false;
    /* Plain dive first (accept anything), then look for better with growing discrepancy. */
    for (int disc = 0; disc <= 8 && !L.stop; disc++) {
        L.target = disc == 0 ? INFINITY : L.best_cost - 1e-6;
        if (disc > 0 && incumbent < L.target) L.target = incumbent - 1e-6;
        if (disc > 0 && L.best_cost <= target + 1e-9) break; /* nothing cheaper exists */
        rc = lds_node(g, &L, 0, disc, e);
        if (rc < 0) break;
        /* Improvements, when they come, come within some tens of times the plain dive's length
         * (measured on the triplet instances: 12x missed two of 80 that 30x finds). */
        if (disc == 0) L.patience = L.nodes * 30 > 200 ? L.nodes * 30 : 200;
        if (rc == 1 && disc > 0) disc--; /* found cheaper: search again at this depth */
        rc = lds_pop_to(g, &L, 0);
        if (rc) break;
        if (L.best_cost <= target + 1e-9) break;
        /* The root LP must be re-solved for the next pass (the residual is back to full). */
        rc = cg_solve(g, 200, e);
        if (rc) break;
    }
    if (rc >= 0) {
        d->n = 0;
        for (size_t i = 0; i < L.best.n && rc >= 0; i++)
            if (dive_add(d, L.best.v[i].pat, L.best.v[i].copies)) rc = -ENOMEM;
    }
    free(L.stack.v);
    free(L.best.v);
    free(L.tabu);
    return rc < 0 ? vp_errf(e, rc, "column generation: diving failed (%s)", vp_strerror(rc)) : 0;
}

/* Lays the fixed patterns out on nodes. */
static int cg_assemble(cg *g, const dive *d, place_plan *plan, vp_err *e)
{
    const plan_problem *p = g->p;
    uint32_t *next_rep = calloc(p->n_groups ? p->n_groups : 1, sizeof *next_rep);
    int *seq = NULL;
    int rc = 0;
    if (!next_rep) return vp_errf(e, -ENOMEM, "out of memory");
    /* Inventory nodes are always part of a plan (idle ones cost nothing). */
    for (size_t b = 0; b < p->n_bintypes; b++)
        if (p->bintypes[b].inventory) {
            place_node nd;
            plan_node_from_bintype(p, b, 0, &nd);
            if (place_plan_add_node(plan, &nd) < 0) {
                rc = -ENOMEM;
                goto done;
            }
        }
    for (size_t c = 0; c < g->nc; c++) {
        const cg_class *cl = &g->cls[c];
        long total = 0;
        for (size_t i = 0; i < d->n; i++)
            if (g->pats[d->v[i].pat].cls == (int)c) total += d->v[i].copies;
        if (!total) continue;
        free(seq);
        seq = malloc((size_t)total * sizeof *seq);
        if (!seq) {
            rc = -ENOMEM;
            goto done;
        }
        /* Patterns with TP slices first, each pattern's copies side by side, so that the slices
         * of a TP group land on one node as often as possible. */
        long k = 0;
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < d->n; i++) {
                const cg_pat *pt = &g->pats[d->v[i].pat];
                if (pt->cls != (int)c) continue;
                bool has_tp = false;
                for (int q = 0; q < pt->n; q++)
                    if (g->tp[c * g->nk + (size_t)g->pool[pt->off + (size_t)q].j] > 1)
                        has_tp = true;
                if (has_tp != (pass == 0)) continue;
                for (long r = 0; r < d->v[i].copies; r++)
                    seq[k++] = d->v[i].pat;
            }
        long nodes = (total + cl->G - 1) / cl->G;
        for (long nd = 0; nd < nodes; nd++) {
            int idx;
            if (p->bintypes[cl->b].inventory) {
                if (nd >= cl->n_members) break;
                const char *name = p->bintypes[cl->members[nd]].inv_name;
                idx = -1;
                for (size_t i = 0; i < plan->n_nodes; i++)
                    if (!strcmp(plan->nodes[i].name, name)) idx = (int)i;
                if (idx < 0) continue;
            } else {
                idx = plan_add_fresh_node(p, plan, (size_t)cl->b);
                if (idx < 0) {
                    rc = idx;
                    goto done;
                }
            }
            /* Slices of each kind per GPU of this node. */
            for (size_t j = 0; j < g->nk; j++) {
                uint32_t a[PLACE_MAX_GPUS] = {0};
                uint32_t sum = 0;
                for (int gg = 0; gg < cl->G; gg++) {
                    long s = nd * cl->G + gg;
                    if (s >= total) break;
                    const cg_pat *pt = &g->pats[seq[s]];
                    for (int q = 0; q < pt->n; q++)
                        if (g->pool[pt->off + (size_t)q].j == (int)j)
                            a[gg] = g->pool[pt->off + (size_t)q].a;
                    sum += a[gg];
                }
                if (!sum) continue;
                const cg_kind *kd = &g->kinds[j];
                const plan_group *gr = &p->groups[kd->group];
                if (gr->pp > 1) continue; /* pipelines are placed by repair */
                uint32_t tp = g->tp[c * g->nk + j];
                uint64_t w = p->groups[kd->group].shapes[cl->b].stage_bytes[kd->stage];
                /* Units: the most n with sum_g min(a_g, n) >= tp * n. */
                uint32_t n = sum / tp;
                while (n > 0) {
                    uint32_t s = 0;
                    for (int gg = 0; gg < cl->G; gg++)
                        s += a[gg] < n ? a[gg] : n;
                    if (s >= tp * n) break;
                    n--;
                }
                if (kd->spread && n > 1) n = 1;
                uint32_t left = gr->replicas - next_rep[kd->group];
                if (n > left) n = left;
                if (!n) continue;
                uint32_t z[PLACE_MAX_GPUS];
                uint32_t zs = 0;
                for (int gg = 0; gg < cl->G; gg++)
                    zs += z[gg] = a[gg] < n ? a[gg] : n;
                for (int gg = cl->G - 1; gg >= 0 && zs > tp * n; gg--) {
                    uint32_t cut = zs - tp * n < z[gg] ? zs - tp * n : z[gg];
                    z[gg] -= cut;
                    zs -= cut;
                }
                uint8_t gpus[PLACE_MAX_GPUS * 64][PLACE_MAX_GPUS];
                int ng[PLACE_MAX_GPUS * 64];
                if (n > PLACE_MAX_GPUS * 64) n = PLACE_MAX_GPUS * 64;
                memset(ng, 0, n * sizeof *ng);
                uint32_t qpos = 0;
                for (int gg = 0; gg < cl->G; gg++)
                    for (uint32_t t = 0; t < z[gg]; t++, qpos++) {
                        uint32_t u = qpos % n;
                        if (ng[u] < (int)tp) gpus[u][ng[u]++] = (uint8_t)gg;
                    }
                const char *model = p->manifest->models[gr->model].name;
                for (uint32_t u = 0; u < n; u++) {
                    if (ng[u] != (int)tp) continue;
                    int r = place_plan_assign(plan, model, next_rep[kd->group], -1, 1, idx, gpus[u],
                                              (int)tp, w);
                    if (r == VP_ENOSPACE) continue; /* cannot happen with exact patterns */
                    if (r < 0) {
                        rc = r;
                        goto done;
                    }
                    next_rep[kd->group]++;
                }
            }
        }
    }
done:
    free(seq);
    free(next_rep);
    if (rc)
        return vp_errf(e, rc, "column generation: laying out patterns failed (%s)",
                       vp_strerror(rc));
    return 0;
}

/* ---------------------------------------------------------------- whole-node master */

/* GPU patterns price nodes by the GPU, which is loose when a plan needs only a few large nodes.
 * Here a column is a whole node laid out (units with their GPUs), from the plans we have and
 * from greedy fills guided by the duals; the integer program over these columns (GLPK) then
 * picks the cheapest set of nodes that covers every replica. Pipelined kinds are left to repair
 * (stages of a replica need distinct nodes, which a per-node column cannot see). */

typedef struct nunit {
    int j;
    uint8_t n;
    uint8_t gpus[PLACE_MAX_GPUS];
} nunit;

typedef struct npat {
    int cls;
    int col;
    size_t off;
    int n;
    uint64_t hash;
} npat;

typedef struct nmaster {
    cg *g;
    plan_lp *lp;
    npat *pats;
    size_t npat, cappat;
    nunit *pool;
    size_t npool, cappool;
    uint64_t *htab;
    size_t hcap;
    int *col_pat;
    size_t capcol;
    int *cap_row; /* per class, -1 unlimited */
    double *capn; /* nodes per class, -1 unlimited */
    bool *row_on; /* kinds with a demand row (single-stage models) */
    int *cnt;     /* scratch: units per kind */
} nmaster;

static int nunit_cmp(const void *a, const void *b)
{
    const nunit *x = a, *y = b;
    if (x->j != y->j) return x->j - y->j;
    return memcmp(x->gpus, y->gpus, PLACE_MAX_GPUS);
}

static uint64_t npat_hash(int cls, const nunit *u, int n)
{
    /* Coverage only: two layouts of the same units are the same column. */
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)(cls + 1);
    for (int k = 0; k < n; k++) {
        h ^= (uint64_t)(u[k].j + 1) * 0x9E3779B97F4A7C15ULL;
        h *= 1099511628211ULL;
    }
    return h ? h : 1;
}

static bool same_cover(const nunit *a, int na, const nunit *b, int nb)
{
    if (na != nb) return false;
    for (int k = 0; k < na; k++)
        if (a[k].j != b[k].j) return false;
    return true;
}

static int nm_find(const nmaster *M, int cls, const nunit *u, int n, uint64_t h)
{
    if (!M->hcap) return -1;
    size_t i = (size_t)(h & (M->hcap - 1));
    while (M->htab[i]) {
        const npat *pt = &M->pats[M->htab[i] - 1];
        if (pt->hash == h && pt->cls == cls && same_cover(&M->pool[pt->off], pt->n, u, n))
            return (int)(M->htab[i] - 1);
        i = (i + 1) & (M->hcap - 1);
    }
    return -1;
}

static int nm_rehash(nmaster *M)
{
    size_t nc = M->hcap ? M->hcap * 2 : 1024;
    uint64_t *t = calloc(nc, sizeof *t);
    if (!t) return -ENOMEM;
    for (size_t i = 0; i < M->npat; i++) {
        size_t h = (size_t)(M->pats[i].hash & (nc - 1));
        while (t[h])
            h = (h + 1) & (nc - 1);
        t[h] = i + 1;
    }
    free(M->htab);
    M->htab = t;
    M->hcap = nc;
    return 0;
}

/* Adds a node column (units sorted here); returns its index, or a negative code. */
static int nm_add(nmaster *M, int cls, nunit *u, int n)
{
    cg *g = M->g;
    int rows = 0;
    for (int k = 0; k < n; k++)
        rows += M->row_on[u[k].j];
    if (rows == 0) return VP_EINPUT;
    qsort(u, (size_t)n, sizeof *u, nunit_cmp);
    uint64_t h = npat_hash(cls, u, n);
    int f = nm_find(M, cls, u, n, h);
    if (f >= 0) return f;
    if ((M->npat + 1) * 2 > M->hcap && nm_rehash(M)) return -ENOMEM;
    if (vp_grow((void **)&M->pats, &M->cappat, M->npat + 1, sizeof *M->pats, 256))
        return -ENOMEM;
    if (vp_grow((void **)&M->pool, &M->cappool, M->npool + (size_t)n, sizeof *M->pool, 4096))
        return -ENOMEM;
    int *ri = malloc(((size_t)n + 1) * sizeof *ri);
    double *rv = malloc(((size_t)n + 1) * sizeof *rv);
    if (!ri || !rv) {
        free(ri);
        free(rv);
        return -ENOMEM;
    }
    int nn = 0;
    for (int k = 0; k < n;) {
        int j = u[k].j, c = 0;
        while (k < n && u[k].j == j) {
            c++;
            k++;
        }
        if (!M->row_on[j]) continue;
        ri[nn] = j;
        rv[nn++] = c;
    }
    if (M->cap_row[cls] >= 0) {
        ri[nn] = M->cap_row[cls];
        rv[nn++] = 1;
    }
    int col = plan_lp_add_col(M->lp, g->cls[cls].price, 0, -1, nn, ri, rv);
    free(ri);
    free(rv);
    if (col < 0) return col;
    if ((size_t)col >= M->capcol) {
        size_t nc = M->capcol ? M->capcol * 2 : 256;
        while (nc <= (size_t)col)
            nc *= 2;
        int *cp = realloc(M->col_pat, nc * sizeof *cp);
        if (!cp) return -ENOMEM;
        M->col_pat = cp;
        M->capcol = nc;
    }
    npat *pt = &M->pats[M->npat];
    *pt = (npat){cls, col, M->npool, n, h};
    memcpy(&M->pool[M->npool], u, (size_t)n * sizeof *u);
    M->npool += (size_t)n;
    M->col_pat[col] = (int)M->npat;
    size_t i = (size_t)(h & (M->hcap - 1));
    while (M->htab[i])
        i = (i + 1) & (M->hcap - 1);
    M->htab[i] = M->npat + 1;
    return (int)M->npat++;
}

/* Greedy fill of one empty node of class c: kinds in the given order, each as many units as
 * fit (up to its demand; one for spread models), tightest GPUs first. */
static int nm_fill(const nmaster *M, int c, const int *order, int norder, nunit *out)
{
    const cg *g = M->g;
    const cg_class *cl = &g->cls[c];
    uint64_t freeb[PLACE_MAX_GPUS];
    for (int q = 0; q < cl->G; q++)
        freeb[q] = cl->U;
    int n = 0;
    for (int oi = 0; oi < norder; oi++) {
        int j = order[oi];
        size_t x = (size_t)c * g->nk + (size_t)j;
        uint32_t tp = g->tp[x];
        uint64_t w = g->w[x];
        double left = g->kinds[j].spread ? 1 : g->kinds[j].demand;
        while (left >= 1) {
            int gq[PLACE_MAX_GPUS], nc = 0;
            for (int q = 0; q < cl->G; q++) {
                if (freeb[q] < w) continue;
                int k = nc++;
                while (k > 0 && freeb[gq[k - 1]] > freeb[q]) {
                    gq[k] = gq[k - 1];
                    k--;
                }
                gq[k] = q;
            }
            if ((uint32_t)nc < tp) break;
            nunit *u = &out[n++];
            memset(u, 0, sizeof *u);
            u->j = j;
            u->n = (uint8_t)tp;
            for (uint32_t t = 0; t < tp; t++) {
                u->gpus[t] = (uint8_t)gq[t];
                freeb[gq[t]] -= w;
            }
            left -= 1;
            if (n >= 4096) return n;
        }
    }
    return n;
}

typedef struct kv {
    int j;
    double key;
} kv;

static int kv_desc(const void *a, const void *b)
{
    const kv *x = a, *y = b;
    if (x->key != y->key) return x->key > y->key ? -1 : 1;
    return x->j - y->j;
}

/* Columns from a plan's nodes. */
static int nm_seed_plan(nmaster *M, const place_plan *plan, nunit *buf)
{
    const plan_problem *p = M->g->p;
    cg *g = M->g;
    plan_names nm;
    if (plan_names_new(p, &nm)) return -ENOMEM;
    int *cls_of = malloc((p->n_bintypes ? p->n_bintypes : 1) * sizeof *cls_of);
    int *kind_of = malloc((p->n_groups ? p->n_groups : 1) * PLAN_MAX_PP * sizeof *kind_of);
    int rc = 0;
    if (!cls_of || !kind_of) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t b = 0; b < p->n_bintypes; b++)
        cls_of[b] = -1;
    for (size_t c = 0; c < g->nc; c++)
        for (int k = 0; k < g->cls[c].n_members; k++)
            cls_of[g->cls[c].members[k]] = (int)c;
    for (size_t i = 0; i < p->n_groups * PLAN_MAX_PP; i++)
        kind_of[i] = -1;
    for (size_t j = 0; j < g->nk; j++)
        kind_of[g->kinds[j].group * PLAN_MAX_PP + g->kinds[j].stage] = (int)j;
    /* placements by node */
    size_t nn = plan->n_nodes;
    size_t *start = calloc(nn + 1, sizeof *start),
           *order = malloc((plan->n_placements + 1) * sizeof *order);
    size_t *fill = malloc((nn + 1) * sizeof *fill);
    if (!start || !order || !fill) {
        free(start);
        free(order);
        free(fill);
        rc = -ENOMEM;
        goto out;
    }
    for (size_t k = 0; k < plan->n_placements; k++)
        start[plan->placements[k].node + 1]++;
    for (size_t i = 0; i < nn; i++)
        start[i + 1] += start[i];
    memcpy(fill, start, (nn + 1) * sizeof *fill);
    for (size_t k = 0; k < plan->n_placements; k++)
        order[fill[plan->placements[k].node]++] = k;
    for (size_t i = 0; i < nn && rc >= 0; i++) {
        int b = plan_node_bintype(p, &plan->nodes[i]);
        if (b < 0 || cls_of[b] < 0) continue;
        int n = 0;
        for (size_t q = start[i]; q < start[i + 1] && n < 4096; q++) {
            const place_placement *pl = &plan->placements[order[q]];
            int gi = plan_names_find(&nm, pl->model);
            uint32_t st = pl->stage < 0 ? 0 : (uint32_t)pl->stage;
            if (gi < 0 || st >= PLAN_MAX_PP) continue;
            int j = kind_of[(size_t)gi * PLAN_MAX_PP + st];
            if (j < 0 || !M->row_on[j]) continue;
            nunit *u = &buf[n++];
            memset(u, 0, sizeof *u);
            u->j = j;
            u->n = (uint8_t)pl->n_gpus;
            memcpy(u->gpus, pl->gpus, (size_t)pl->n_gpus);
        }
        if (n) {
            int r = nm_add(M, cls_of[b], buf, n);
            if (r < 0 && r != VP_EINPUT) rc = r;
        }
    }
    free(start);
    free(order);
    free(fill);
out:
    free(cls_of);
    free(kind_of);
    plan_names_free(&nm);
    return rc < 0 ? rc : 0;
}

static void nm_free(nmaster *M)
{
    plan_lp_free(M->lp);
    free(M->pats);
    free(M->pool);
    free(M->htab);
    free(M->col_pat);
    free(M->cap_row);
    free(M->capn);
    free(M->row_on);
    free(M->cnt);
}

/* Lays the chosen node columns out as a plan. */
static int nm_realize(nmaster *M, const double *x, place_plan *plan)
{
    cg *g = M->g;
    const plan_problem *p = g->p;
    uint32_t *placed = calloc(p->n_groups ? p->n_groups : 1, sizeof *placed);
    int *next_member = calloc(g->nc ? g->nc : 1, sizeof *next_member);
    int rc = 0;
    if (!placed || !next_member) {
        free(placed);
        free(next_member);
        return -ENOMEM;
    }
    for (size_t b = 0; b < p->n_bintypes; b++)
        if (p->bintypes[b].inventory) {
            place_node nd;
            plan_node_from_bintype(p, b, 0, &nd);
            if (place_plan_add_node(plan, &nd) < 0) {
                rc = -ENOMEM;
                goto out;
            }
        }
    /* Once a model has all its replicas, its units in later nodes are dropped (the master may
     * cover more than needed); repair and consolidation tidy up after. */
    for (size_t t = 0; t < M->npat && !rc; t++) {
        long copies = lround(x[M->pats[t].col]);
        const npat *pt = &M->pats[t];
        const cg_class *cl = &g->cls[pt->cls];
        for (long k = 0; k < copies; k++) {
            bool any = false;
            for (int q = 0; q < pt->n && !any; q++) {
                size_t grp = g->kinds[M->pool[pt->off + (size_t)q].j].group;
                any = placed[grp] < p->groups[grp].replicas;
            }
            if (!any) break;
            int idx = -1;
            if (p->bintypes[cl->b].inventory) {
                if (next_member[pt->cls] >= cl->n_members) break;
                const char *name = p->bintypes[cl->members[next_member[pt->cls]++]].inv_name;
                for (size_t i = 0; i < plan->n_nodes; i++)
                    if (!strcmp(plan->nodes[i].name, name)) idx = (int)i;
                if (idx < 0) continue;
            } else {
                idx = plan_add_fresh_node(p, plan, (size_t)cl->b);
                if (idx < 0) {
                    rc = idx;
                    goto out;
                }
            }
            for (int q = 0; q < pt->n; q++) {
                const nunit *u = &M->pool[pt->off + (size_t)q];
                const cg_kind *kd = &g->kinds[u->j];
                if (placed[kd->group] >= p->groups[kd->group].replicas) continue;
                uint64_t w = p->groups[kd->group].shapes[cl->b].stage_bytes[kd->stage];
                int r =
                    place_plan_assign(plan, p->manifest->models[p->groups[kd->group].model].name,
                                      placed[kd->group], -1, 1, idx, u->gpus, u->n, w);
                if (r == VP_ENOSPACE) continue;
                if (r < 0) {
                    rc = r;
                    goto out;
                }
                placed[kd->group]++;
            }
        }
    }
out:
    free(placed);
    free(next_member);
    return rc;
}

/* The whole-node master: seeds, dual-guided greedy columns, then the integer program. Writes a
 * plan (caller frees) or leaves *out NULL when it found nothing. */
static int cg_node_master(cg *g, const place_plan *const *seeds, int nseeds, double bound,
                          double deadline_ms, double mip_s, place_plan **out, vp_err *e)
{
    const plan_problem *p = g->p;
    nmaster M = {.g = g};
    nunit *buf = malloc(4096 * sizeof *buf);
    int *order = malloc((g->nk ? g->nk : 1) * sizeof *order);
    kv *keys = malloc((g->nk ? g->nk : 1) * sizeof *keys);
    double *pi = calloc(g->nk ? g->nk : 1, sizeof *pi), *x = NULL, *warm = NULL;
    place_plan *plan = NULL;
    int rc = 0;
    *out = NULL;
    M.cap_row = malloc((g->nc ? g->nc : 1) * sizeof *M.cap_row);
    M.capn = malloc((g->nc ? g->nc : 1) * sizeof *M.capn);
    M.row_on = calloc(g->nk ? g->nk : 1, sizeof *M.row_on);
    M.lp = plan_lp_new("vrampack-nodes");
    if (!buf || !order || !keys || !pi || !M.cap_row || !M.capn || !M.row_on || !M.lp) goto oom;
    for (size_t j = 0; j < g->nk; j++) {
        M.row_on[j] = p->groups[g->kinds[j].group].pp == 1;
        if (plan_lp_add_row(M.lp, 'G', M.row_on[j] ? g->kinds[j].demand : 0) < 0) goto solver;
    }
    for (size_t c = 0; c < g->nc; c++) {
        const cg_class *cl = &g->cls[c];
        M.capn[c] = cl->cap < 0 ? -1 : floor(cl->cap / cl->G + 1e-9);
        M.cap_row[c] = -1;
        if (M.capn[c] >= 0 && (M.cap_row[c] = plan_lp_add_row(M.lp, 'L', M.capn[c])) < 0)
            goto solver;
    }
    for (size_t j = 0; j < g->nk; j++) {
        int row = (int)j;
        double one = 1;
        int col = plan_lp_add_col(M.lp, g->W, 0, -1, 1, &row, &one);
        if (col < 0) goto solver;
        if ((size_t)col >= M.capcol) {
            size_t nc = M.capcol ? M.capcol * 2 : 256;
            while (nc <= (size_t)col)
                nc *= 2;
            int *cp = realloc(M.col_pat, nc * sizeof *cp);
            if (!cp) goto oom;
            M.col_pat = cp;
            M.capcol = nc;
        }
        M.col_pat[col] = -1;
    }
    for (int s = 0; s < nseeds; s++)
        if (seeds[s] && (rc = nm_seed_plan(&M, seeds[s], buf)) < 0) goto fail;
    /* Single-GPU classes: every GPU pattern is a node column. */
    for (size_t t = 0; t < g->npat; t++) {
        const cg_pat *pt = &g->pats[t];
        if (g->cls[pt->cls].G != 1) continue;
        int n = 0;
        for (int q = 0; q < pt->n && n < 4096; q++) {
            const cg_ent *en = &g->pool[pt->off + (size_t)q];
            if (!M.row_on[en->j] || g->tp[(size_t)pt->cls * g->nk + (size_t)en->j] != 1) continue;
            for (uint32_t a = 0; a < en->a && n < 4096; a++) {
                memset(&buf[n], 0, sizeof buf[n]);
                buf[n].j = en->j;
                buf[n++].n = 1;
            }
        }
        if (n && (rc = nm_add(&M, pt->cls, buf, n)) < 0 && rc != VP_EINPUT) goto fail;
    }
    rc = 0;
    /* Dual-guided greedy columns until none prices out. */
    for (int it = 0; it < 400; it++) {
        if (plan_now_ms() > deadline_ms - mip_s * 1000) break;
        double obj;
        if (plan_lp_solve(M.lp, &obj)) goto solver;
        for (size_t j = 0; j < g->nk; j++) {
            double v = plan_lp_dual(M.lp, (int)j);
            pi[j] = v > 0 ? v : 0;
        }
        bool added = false;
        for (size_t c = 0; c < g->nc; c++) {
            const cg_class *cl = &g->cls[c];
            double mu = M.cap_row[c] >= 0 ? plan_lp_dual(M.lp, M.cap_row[c]) : 0;
            if (mu > 0) mu = 0;
            /* Fills in order of dual value per byte, and of size; then each kind forced first
             * (small fleets only: it costs a fill per kind). */
            int nanchor = g->nk <= 64 ? (int)g->nk : 0;
            for (int mode = 0; mode < 2 + nanchor; mode++) {
                int nk = 0;
                for (size_t j = 0; j < g->nk; j++) {
                    size_t xx = c * g->nk + j;
                    if (!g->ok[xx] || !M.row_on[j] || pi[j] <= 1e-12) continue;
                    double size = (double)g->w[xx] * g->tp[xx];
                    keys[nk++] = (kv){(int)j, mode == 1 ? size : pi[j] / size};
                }
                if (!nk) continue;
                qsort(keys, (size_t)nk, sizeof *keys, kv_desc);
                int no = 0;
                if (mode >= 2) {
                    int anchor = mode - 2;
                    bool present = false;
                    for (int k = 0; k < nk; k++)
                        present |= keys[k].j == anchor;
                    if (!present) continue;
                    order[no++] = anchor;
                }
                for (int k = 0; k < nk; k++)
                    if (mode < 2 || keys[k].j != mode - 2) order[no++] = keys[k].j;
                int n = nm_fill(&M, (int)c, order, no, buf);
                double val = 0;
                for (int k = 0; k < n; k++)
                    val += pi[buf[k].j];
                if (n && cl->price - mu - val < -1e-9 * (1 + cl->price)) {
                    size_t before = M.npat;
                    int r = nm_add(&M, (int)c, buf, n);
                    if (r < 0 && r != VP_EINPUT) {
                        rc = r;
                        goto fail;
                    }
                    if (M.npat > before) added = true;
                }
            }
        }
        if (!added) break;
    }
    /* The integer program over every column, from the best seed. */
    int ncols = plan_lp_n_cols(M.lp);
    x = calloc((size_t)ncols + 1, sizeof *x);
    warm = calloc((size_t)ncols + 1, sizeof *warm);
    if (!x || !warm) goto oom;
    for (int col = 0; col < ncols; col++)
        if (plan_lp_set_integer(M.lp, col)) goto solver;
    bool have_warm = false;
    if (nseeds > 0 && seeds[0]) {
        /* Count the first seed's nodes per column. */
        const place_plan *sp = seeds[0];
        have_warm = true;
        plan_names nm;
        if (plan_names_new(p, &nm)) goto oom;
        for (size_t i = 0; i < sp->n_nodes && have_warm; i++) {
            if (place_node_load(sp, i) == 0) continue;
            int b = plan_node_bintype(p, &sp->nodes[i]);
            int cls = -1;
            for (size_t c = 0; c < g->nc && cls < 0; c++)
                for (int k = 0; k < g->cls[c].n_members; k++)
                    if (g->cls[c].members[k] == b) cls = (int)c;
            int n = 0;
            for (size_t k = 0; k < sp->n_placements && n < 4096; k++) {
                const place_placement *pl = &sp->placements[k];
                if ((size_t)pl->node != i || pl->stage >= 0) continue;
                int gi = plan_names_find(&nm, pl->model);
                int j = -1;
                for (size_t jj = 0; jj < g->nk && j < 0; jj++)
                    if ((int)g->kinds[jj].group == gi && M.row_on[jj]) j = (int)jj;
                if (j < 0) continue;
                memset(&buf[n], 0, sizeof buf[n]);
                buf[n].j = j;
                buf[n].n = (uint8_t)pl->n_gpus;
                memcpy(buf[n].gpus, pl->gpus, (size_t)pl->n_gpus);
                n++;
            }
            if (!n) continue;
            if (cls < 0) {
                have_warm = false;
                break;
            }
            qsort(buf, (size_t)n, sizeof *buf, nunit_cmp);
            int t = nm_find(&M, cls, buf, n, npat_hash(cls, buf, n));
            if (t < 0) {
                have_warm = false;
                break;
            }
            warm[M.pats[t].col] += 1;
        }
        plan_names_free(&nm);
        /* Artificial columns at zero; the seed covers every demand or it is no warm start. */
    }
    double obj;
    bool opt;
    double left = (deadline_ms - plan_now_ms()) / 1000.0;
    if (left > mip_s) left = mip_s;
    if (left < 0.05) left = 0.05;
    int r = plan_lp_mip(M.lp, have_warm ? warm : NULL, left, plan_round_bound(p, bound) + 1e-9, x,
                        &obj, &opt);
    if (r == VP_ENOSPACE) goto fail; /* nothing found: no plan from here */
    if (r) goto solver;
    plan = place_plan_new();
    if (!plan) goto oom;
    if ((rc = nm_realize(&M, x, plan)) < 0) goto fail;
    *out = plan;
    plan = NULL;
    rc = 0;
    goto fail;
oom:
    rc = vp_errf(e, -ENOMEM, "out of memory in the node master");
    goto fail;
solver:
    rc = 0; /* a failed improvement step is not an error: the plans we have stand */
fail:
    place_plan_free(plan);
    free(buf);
    free(order);
    free(keys);
    free(pi);
    free(x);
    free(warm);
    nm_free(&M);
    return rc < 0 && rc != VP_ENOSPACE ? rc : 0;
}

/* ---------------------------------------------------------------- entry points */

static double plan_ub(const plan_problem *p, const place_plan *warm)
{
    if (!warm) return -1;
    plan_names nm;
    if (plan_names_new(p, &nm)) return -1;
    bool all = true;
    for (size_t u = 0; u < warm->n_unplaced && all; u++) {
        int g = plan_names_find(&nm, warm->unplaced[u].model);
        if (g >= 0 && placeable(p, (size_t)g)) all = false;
    }
    plan_names_free(&nm);
    return all ? warm->cost_per_hour : -1;
}

/* a places more replicas than b, or as many for less. */
static bool better_plan(const plan_problem *p, const place_plan *a, const place_plan *b)
{
    bool a_all = plan_ub(p, a) >= 0, b_all = plan_ub(p, b) >= 0;
    if (a_all != b_all) return a_all;
    if (a->n_unplaced != b->n_unplaced) return a->n_unplaced < b->n_unplaced;
    return a->cost_per_hour < b->cost_per_hour - 1e-9 * (1 + b->cost_per_hour);
}

/* Root column generation; leaves g ready for diving. *bound gets the rounded bound (0 when none
 * was proven). */
static int cg_root(cg *g, const plan_problem *p, const place_plan *warm, double deadline_ms,
                   double *bound, vp_err *e)
{
    int rc = cg_init(g, p, plan_ub(p, warm), e);
    if (rc) return rc;
    if (g->ub < 0) {
        /* No plan yet: every slice alone on a GPU of its cheapest class is a feasible master
         * solution, so its cost bounds the master's optimum, which is all class_k needs. */
        double ub = 0;
        for (size_t j = 0; j < g->nk; j++) {
            double best = INFINITY;
            for (size_t c = 0; c < g->nc; c++)
                if (g->ok[c * g->nk + j]) {
                    double v = g->cls[c].price / g->cls[c].G * g->tp[c * g->nk + j];
                    if (v < best) best = v;
                }
            ub += isinf(best) ? g->W : best * g->kinds[j].demand;
        }
        g->ub = ub;
    }
    g->deadline_ms = deadline_ms;
    g->best_lb = 0;
    if (warm && (rc = cg_seed_from_plan(g, warm)))
        return vp_errf(e, rc, "column generation: seeding from the plan failed");
    if ((rc = cg_seed_homogeneous(g))) return vp_errf(e, rc, "out of memory");
    rc = cg_solve(g, 1000000, e);
    if (rc) return rc;
    g->bound_valid = art_flow(g) <= 1e-6;
    *bound = g->bound_valid ? plan_round_bound(p, g->best_lb) : 0;
    return 0;
}

int plan_colgen_bound(const plan_problem *p, const place_plan *warm, double time_limit_s,
                      double *bound, vp_err *e)
{
    double t0 = plan_now_ms();
    cg g;
    *bound = 0;
    int rc = cg_root(&g, p, warm, t0 + time_limit_s * 1000, bound, e);
    cg_free(&g);
    return rc;
}

int plan_colgen_run(const plan_problem *p, const place_plan *warm, double time_limit_s,
                    place_plan **out, double *bound_out, vp_err *e)
{
    double t0 = plan_now_ms();
    double deadline = t0 + time_limit_s * 1000;
    cg g;
    double bound = 0;
    dive d = {0};
    place_plan *plan = NULL;
    int rc = cg_root(&g, p, warm, deadline, &bound, e);
    if (rc) goto done;
    /* Nothing to gain when the warm plan already meets the bound. */
    bool warm_opt = warm && plan_ub(p, warm) >= 0 &&
                    warm->cost_per_hour <= bound + 1e-9 * (1 + warm->cost_per_hour);
    if (!warm_opt) {
        double inc = warm && plan_ub(p, warm) >= 0 ? warm->cost_per_hour : INFINITY;
        rc = cg_dive(&g, &d, inc, bound, e);
        if (rc) goto done;
        plan = place_plan_new();
        if (!plan) {
            rc = vp_errf(e, -ENOMEM, "out of memory");
            goto done;
        }
        rc = cg_assemble(&g, &d, plan, e);
        if (rc) goto done;
        rc = plan_fill_missing(p, plan, e);
        if (rc) goto done;
        double now = plan_now_ms();
        rc = plan_consolidate(p, plan, NULL, NULL, deadline > now + 500 ? deadline : now + 500);
        if (rc) {
            rc = vp_errf(e, rc, "consolidation failed");
            goto done;
        }
        place_plan_update_cost(plan);
        char why[256];
        if (place_plan_validate(plan, why, sizeof why)) {
            rc = vp_errf(e, VP_ESOLVER, "internal: column generation built an invalid plan: %s",
                         why);
            goto done;
        }
        /* Keep the warm plan when it is at least as good (or places more). */
        if (warm && !better_plan(p, plan, warm)) {
            place_plan_free(plan);
            plan = NULL;
        }
        /* Whole-node columns when the GPU-level plan did not meet the bound. */
        const place_plan *cur = plan ? plan : warm;
        double now2 = plan_now_ms();
        if (cur && plan_ub(p, cur) >= 0 && now2 < deadline &&
            cur->cost_per_hour > plan_round_bound(p, bound) + 1e-9 * (1 + bound)) {
            const place_plan *seeds[2] = {cur, plan ? warm : NULL};
            double mip_s = time_limit_s * 0.3 > 0.5 ? time_limit_s * 0.3 : 0.5;
            place_plan *np = NULL;
            rc = cg_node_master(&g, seeds, 2, bound, deadline, mip_s, &np, e);
            if (rc) goto done;
            if (np) {
                rc = plan_fill_missing(p, np, e);
                if (!rc) {
                    now2 = plan_now_ms();
                    rc = plan_consolidate(p, np, NULL, NULL,
                                          deadline > now2 + 500 ? deadline : now2 + 500);
                }
                place_plan_update_cost(np);
                char why2[256];
                if (!rc && place_plan_validate(np, why2, sizeof why2) == 0 &&
                    better_plan(p, np, cur)) {
                    place_plan_free(plan);
                    plan = np;
                    np = NULL;
                }
                place_plan_free(np);
                if (rc) {
                    rc = vp_errf(e, rc, "node master repair failed");
                    goto done;
                }
            }
        }
    }
    if (!plan) {
        plan = warm ? place_plan_clone(warm) : NULL;
        if (!plan) {
            rc = vp_errf(e, warm ? -ENOMEM : VP_ESOLVER, "no plan");
            goto done;
        }
    } else {
        snprintf(plan->solver, sizeof plan->solver, "colgen");
    }
    if (warm && warm->lower_bound_per_hour > bound) bound = warm->lower_bound_per_hour;
    plan->lower_bound_per_hour = bound;
    plan_finish(p, plan, plan->solver, "feasible", t0);
    *out = plan;
    plan = NULL;
    if (bound_out) *bound_out = bound;
done:
    place_plan_free(plan);
    free(d.v);
    cg_free(&g);
    return rc;
}

int plan_colgen(const plan_problem *p, const place_plan *warm, double time_limit_s,
                place_plan **out, vp_err *e)
{
    return plan_colgen_run(p, warm, time_limit_s, out, NULL, e);
}
