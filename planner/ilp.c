/* ilp.c - the one file that calls GLPK: a small LP interface for column generation, and the
 * compact MIP that places replicas exactly.
 *
 * The MIP. Node slots: every inventory node, every bought node of the current plan (rebalance),
 * then K_b fresh slots per purchasable type b (K_b bounded by max_count, by the incumbent's cost
 * over b's price, and by the units that may go on b). A unit kind j is a (model, stage). Per slot
 * n and GPU g, z[j,n,g] counts units of kind j that use GPU g; for tp > 1 an integer m[j,n]
 * counts units on the node with sum_g z = tp * m and z <= m, which is exactly "m units of tp
 * distinct GPUs each" (lay the GPUs out z[g] times in a row, give position q to unit q mod m:
 * a GPU's run is at most m long, so no unit gets a GPU twice). Per GPU, the bytes placed are at
 * most usable x y[n]. Pipeline stages of a replica must be on distinct nodes: with m[s,n] stage-s
 * units on node n, replicas can be formed iff sum_s m[s,n] <= replicas for every n (König's
 * edge-colouring theorem on the stages x nodes multigraph), so that is the row, and extraction
 * colours the graph to name the replicas. Spread models get sum_s m[s,n] <= 1. Where capacity is
 * finite a slack u_i counts unplaced replicas at a penalty above any plan's cost. Symmetry:
 * identical slots are used in order, and the GPUs of a slot with no pinned placement by
 * non-increasing load. Rebalance adds a binary s_r per running replica
 * (stays where it is) and one row sum_r (1 - s_r) <= max_moves.
 *
 * GLPK is driven without presolve (so the warm start, injected by glp_ios_heur_sol, is in the
 * original columns), with msg_lev off and terminal output off, a time limit and a callback that
 * stops the search once the incumbent meets a proven bound. GLPK's own errors (which would abort
 * the process) are caught by an error hook that longjmps back and frees the thread's GLPK
 * environment; every object made before is then dead, which a per-thread generation number
 * records. */
#include <errno.h>
#include <glpk.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ilp.h"

/* GLPK reports fatal errors through a hook that longjmps back here. Every local that lives across
 * a setjmp below is set before it and not changed until the longjmp can happen, which is what C
 * requires; gcc's -Wclobbered cannot see that at -O2 and warns anyway. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wclobbered"
#endif

/* ---------------------------------------------------------------- GLPK errors */

static _Thread_local jmp_buf *tl_jmp;
static _Thread_local unsigned tl_gen = 1;

static void on_glpk_error(void *info)
{
    (void)info;
    if (tl_jmp) longjmp(*tl_jmp, 1);
}

/* After a GLPK error: its environment is in an undefined state, so free it (this kills every
 * GLPK object of this thread) and move to a new generation. */
static int glpk_lost(jmp_buf *prev)
{
    tl_jmp = prev;
    glp_error_hook(NULL, NULL);
    glp_free_env();
    tl_gen++;
    return VP_ESOLVER;
}

static void glpk_enter(jmp_buf *jb)
{
    tl_jmp = jb;
    glp_error_hook(on_glpk_error, NULL);
    glp_term_out(GLP_OFF);
}

static const char *glpk_code_name(int rc)
{
    switch (rc) {
    case 0:
        return "ok";
    case GLP_EBADB:
        return "invalid basis";
    case GLP_ESING:
        return "singular matrix";
    case GLP_ECOND:
        return "ill-conditioned matrix";
    case GLP_EBOUND:
        return "invalid bounds";
    case GLP_EFAIL:
        return "solver failed";
    case GLP_EOBJLL:
        return "objective lower limit reached";
    case GLP_EOBJUL:
        return "objective upper limit reached";
    case GLP_EITLIM:
        return "iteration limit";
    case GLP_ETMLIM:
        return "time limit";
    case GLP_ENOPFS:
        return "no primal feasible solution";
    case GLP_ENODFS:
        return "no dual feasible solution";
    case GLP_EROOT:
        return "no optimal LP basis";
    case GLP_ESTOP:
        return "stopped";
    case GLP_EMIPGAP:
        return "gap tolerance reached";
    case GLP_ENOFEAS:
        return "no feasible solution";
    case GLP_ENOCVG:
        return "no convergence";
    case GLP_EINSTAB:
        return "numerical instability";
    case GLP_EDATA:
        return "invalid data";
    case GLP_ERANGE:
        return "result out of range";
    default:
        return "unknown GLPK code";
    }
}

/* ---------------------------------------------------------------- small LP interface */

struct plan_lp {
    glp_prob *P;
    unsigned gen;
    int n_rows, n_cols;
    glp_smcp smcp;
};

static bool lp_alive(const plan_lp *lp)
{
    return lp && lp->P && lp->gen == tl_gen;
}

plan_lp *plan_lp_new(const char *name)
{
    plan_lp *lp = calloc(1, sizeof *lp);
    if (!lp) return NULL;
    jmp_buf jb, *prev = tl_jmp;
    if (setjmp(jb)) {
        glpk_lost(prev);
        free(lp);
        return NULL;
    }
    glpk_enter(&jb);
    lp->P = glp_create_prob();
    lp->gen = tl_gen;
    glp_set_prob_name(lp->P, name ? name : "vrampack");
    glp_set_obj_dir(lp->P, GLP_MIN);
    glp_init_smcp(&lp->smcp);
    lp->smcp.msg_lev = GLP_MSG_OFF;
    lp->smcp.presolve = GLP_OFF;
    tl_jmp = prev;
    return lp;
}

void plan_lp_free(plan_lp *lp)
{
    if (!lp) return;
    if (lp_alive(lp)) {
        jmp_buf jb, *prev = tl_jmp;
        if (setjmp(jb)) {
            glpk_lost(prev);
            free(lp);
            return;
        }
        glpk_enter(&jb);
        glp_delete_prob(lp->P);
        tl_jmp = prev;
    }
    free(lp);
}

static void set_row_sense(glp_prob *P, int i, char sense, double rhs)
{
    switch (sense) {
    case 'G':
        glp_set_row_bnds(P, i, GLP_LO, rhs, 0);
        break;
    case 'L':
        glp_set_row_bnds(P, i, GLP_UP, 0, rhs);
        break;
    case 'E':
        glp_set_row_bnds(P, i, GLP_FX, rhs, rhs);
        break;
    default:
        glp_set_row_bnds(P, i, GLP_FR, 0, 0);
        break;
    }
}

static void set_col_range(glp_prob *P, int j, double lo, double hi)
{
    if (hi < 0)
        glp_set_col_bnds(P, j, GLP_LO, lo, 0);
    else if (hi <= lo)
        glp_set_col_bnds(P, j, GLP_FX, lo, lo);
    else
        glp_set_col_bnds(P, j, GLP_DB, lo, hi);
}

int plan_lp_add_row(plan_lp *lp, char sense, double rhs)
{
    if (!lp_alive(lp)) return VP_ESOLVER;
    jmp_buf jb, *prev = tl_jmp;
    if (setjmp(jb)) return glpk_lost(prev);
    glpk_enter(&jb);
    int i = glp_add_rows(lp->P, 1);
    set_row_sense(lp->P, i, sense, rhs);
    tl_jmp = prev;
    lp->n_rows = i;
    return i - 1;
}

int plan_lp_set_rhs(plan_lp *lp, int row, double rhs)
{
    if (!lp_alive(lp) || row < 0 || row >= lp->n_rows) return VP_ESOLVER;
    jmp_buf jb, *prev = tl_jmp;
    if (setjmp(jb)) return glpk_lost(prev);
    glpk_enter(&jb);
    int type = glp_get_row_type(lp->P, row + 1);
    char sense = type == GLP_LO ? 'G' : type == GLP_UP ? 'L' : type == GLP_FX ? 'E' : 'F';
    set_row_sense(lp->P, row + 1, sense, rhs);
    tl_jmp = prev;
    return 0;
}

int plan_lp_add_col(plan_lp *lp, double cost, double lo, double hi, int nnz, const int *rows,
                    const double *vals)
{
    if (!lp_alive(lp) || nnz < 0) return VP_ESOLVER;
    int *ind = malloc(((size_t)nnz + 1) * sizeof *ind);
    double *val = malloc(((size_t)nnz + 1) * sizeof *val);
    if (!ind || !val) {
        free(ind);
        free(val);
        return -ENOMEM;
    }
    for (int k = 0; k < nnz; k++) {
        if (rows[k] < 0 || rows[k] >= lp->n_rows) {
            free(ind);
            free(val);
            return VP_ESOLVER;
        }
        ind[k + 1] = rows[k] + 1;
        val[k + 1] = vals[k];
    }
    jmp_buf jb, *prev = tl_jmp;
    if (setjmp(jb)) {
        free(ind);
        free(val);
        return glpk_lost(prev);
    }
    glpk_enter(&jb);
    int j = glp_add_cols(lp->P, 1);
    glp_set_obj_coef(lp->P, j, cost);
    set_col_range(lp->P, j, lo, hi);
    glp_set_mat_col(lp->P, j, nnz, ind, val);
    tl_jmp = prev;
    free(ind);
    free(val);
    lp->n_cols = j;
    return j - 1;
}

int plan_lp_set_col_bounds(plan_lp *lp, int col, double lo, double hi)
{
    if (!lp_alive(lp) || col < 0 || col >= lp->n_cols) return VP_ESOLVER;
    jmp_buf jb, *prev = tl_jmp;
    if (setjmp(jb)) return glpk_lost(prev);
    glpk_enter(&jb);
    set_col_range(lp->P, col + 1, lo, hi);
    tl_jmp = prev;
    return 0;
}

int plan_lp_n_cols(const plan_lp *lp)
{
    return lp ? lp->n_cols : 0;
}

int plan_lp_solve(plan_lp *lp, double *obj)
{
    if (!lp_alive(lp)) return VP_ESOLVER;
    jmp_buf jb, *prev = tl_jmp;
    if (setjmp(jb)) return glpk_lost(prev);
    glpk_enter(&jb);
    int rc = glp_simplex(lp->P, &lp->smcp);
    if (rc == GLP_EBADB || rc == GLP_ESING || rc == GLP_ECOND) {
        /* A basis gone bad after many added columns: start again from an advanced basis. */
        glp_adv_basis(lp->P, 0);
        rc = glp_simplex(lp->P, &lp->smcp);
    }
    int st = rc ? 0 : glp_get_status(lp->P);
    if (obj) *obj = rc ? 0 : glp_get_obj_val(lp->P);
    tl_jmp = prev;
    if (rc) return VP_ESOLVER;
    if (st == GLP_OPT) return 0;
    if (st == GLP_NOFEAS || st == GLP_INFEAS) return VP_ENOSPACE;
    return VP_ESOLVER;
}

/* Reading values never fails in GLPK once the indices are valid, which we check. */
double plan_lp_col(const plan_lp *lp, int col)
{
    if (!lp_alive(lp) || col < 0 || col >= lp->n_cols) return 0;
    return glp_get_col_prim(lp->P, col + 1);
}

double plan_lp_dual(const plan_lp *lp, int row)
{
    if (!lp_alive(lp) || row < 0 || row >= lp->n_rows) return 0;
    return glp_get_row_dual(lp->P, row + 1);
}

int plan_lp_set_integer(plan_lp *lp, int col)
{
    if (!lp_alive(lp) || col < 0 || col >= lp->n_cols) return VP_ESOLVER;
    jmp_buf jb, *prev = tl_jmp;
    if (setjmp(jb)) return glpk_lost(prev);
    glpk_enter(&jb);
    glp_set_col_kind(lp->P, col + 1, GLP_IV);
    tl_jmp = prev;
    return 0;
}

typedef struct lp_mip_cb {
    const double *warm;
    bool given;
    double deadline_ms;
    double stop_at; /* an incumbent at or below this is good enough */
} lp_mip_cb;

static void lp_mip_callback(glp_tree *T, void *info)
{
    lp_mip_cb *cb = info;
    if (glp_ios_reason(T) == GLP_IHEUR && cb->warm && !cb->given) {
        cb->given = true;
        glp_ios_heur_sol(T, cb->warm);
    }
    glp_prob *P = glp_ios_get_prob(T);
    if (glp_mip_status(P) == GLP_FEAS && glp_mip_obj_val(P) <= cb->stop_at) glp_ios_terminate(T);
    if (cb->deadline_ms > 0 && plan_now_ms() > cb->deadline_ms) glp_ios_terminate(T);
}

int plan_lp_mip(plan_lp *lp, const double *warm, double time_limit_s, double stop_at, double *x,
                double *obj, bool *optimal)
{
    if (!lp_alive(lp)) return VP_ESOLVER;
    double *w1 = NULL;
    if (warm) {
        w1 = malloc(((size_t)lp->n_cols + 1) * sizeof *w1);
        if (!w1) return -ENOMEM;
        w1[0] = 0;
        memcpy(w1 + 1, warm, (size_t)lp->n_cols * sizeof *w1);
    }
    jmp_buf jb, *prev = tl_jmp;
    if (setjmp(jb)) {
        free(w1);
        return glpk_lost(prev);
    }
    glpk_enter(&jb);
    int rc = glp_simplex(lp->P, &lp->smcp);
    if (rc == 0 && glp_get_status(lp->P) != GLP_OPT) rc = GLP_ENOPFS;
    lp_mip_cb cb = {
        .warm = w1, .deadline_ms = plan_now_ms() + time_limit_s * 1000, .stop_at = stop_at};
    if (rc == 0) {
        glp_iocp io;
        glp_init_iocp(&io);
        io.msg_lev = GLP_MSG_OFF;
        io.presolve = GLP_OFF;
        io.mir_cuts = GLP_ON;
        io.mip_gap = 2e-3; /* a heuristic step: 0.2% is close enough (and below one node) */
        io.cb_func = lp_mip_callback;
        io.cb_info = &cb;
        io.tm_lim = time_limit_s * 1000 < 1 ? 1 : (int)(time_limit_s * 1000);
        rc = glp_intopt(lp->P, &io);
    }
    int st = rc == 0 || rc == GLP_ETMLIM || rc == GLP_ESTOP || rc == GLP_EMIPGAP
                 ? glp_mip_status(lp->P)
                 : GLP_UNDEF;
    if (st == GLP_OPT || st == GLP_FEAS) {
        for (int j = 0; j < lp->n_cols; j++)
            x[j] = glp_mip_col_val(lp->P, j + 1);
        *obj = glp_mip_obj_val(lp->P);
        *optimal = rc == 0 && st == GLP_OPT;
    }
    tl_jmp = prev;
    free(w1);
    if (st == GLP_OPT || st == GLP_FEAS) return 0;
    return rc == 0 || rc == GLP_ETMLIM || rc == GLP_ESTOP || rc == GLP_ENOPFS ? VP_ENOSPACE
                                                                              : VP_ESOLVER;
}

/* ---------------------------------------------------------------- the compact MIP */

typedef struct kindv {
    size_t group;
    uint32_t stage;
} kindv;

typedef struct slot {
    int b;            /* bin type */
    const char *name; /* inventory or current node name; NULL for a fresh slot */
    int sym_prev;     /* previous slot of the same symmetry class, -1 */
    bool pinned;      /* hosts a pinned placement: its GPUs are not interchangeable */
    int y;            /* column (0-based) */
    int cap_row;      /* first of n_gpus capacity rows */
} slot;

typedef struct pin {
    size_t group;
    uint32_t replica;
    int n_stages;
    int slot[PLAN_MAX_PP];
    size_t pl[PLAN_MAX_PP]; /* index into current->placements */
    int col;
} pin;

typedef struct mip {
    const plan_problem *p;
    const plan_ilp_args *a;
    plan_names nm;
    size_t nk;
    kindv *kinds;
    int *kind_of; /* [group * PLAN_MAX_PP + stage] -> kind or -1 */
    size_t ns;
    slot *slots;
    int *zbase; /* [n * nk + j]: first z column, -1 when j may not go on n */
    int *mcol;  /* [n * nk + j]: m column when tp > 1, else -1 */
    int *ucol;  /* [group]: unplaced slack column or -1 */
    double penalty;
    size_t npin;
    pin *pins;
    long budget; /* max moves, -1 = none */
    /* columns */
    int ncols, capcols;
    double *cost, *lo, *hi;
    char *ctype; /* 'B','I','C' */
    /* rows */
    int nrows, caprows;
    char *rsense;
    double *rrhs;
    /* matrix */
    int *ia, *ja;
    double *ar;
    size_t nnz, capnnz;
    glp_prob *P;
} mip;

static int grow_cols(mip *m)
{
    if (m->ncols < m->capcols) return 0;
    int nc = m->capcols ? m->capcols * 2 : 1024;
    double *c = realloc(m->cost, (size_t)nc * sizeof *c);
    if (c) m->cost = c;
    double *l = realloc(m->lo, (size_t)nc * sizeof *l);
    if (l) m->lo = l;
    double *h = realloc(m->hi, (size_t)nc * sizeof *h);
    if (h) m->hi = h;
    char *t = realloc(m->ctype, (size_t)nc);
    if (t) m->ctype = t;
    if (!c || !l || !h || !t) return -ENOMEM;
    m->capcols = nc;
    return 0;
}

static int new_col(mip *m, double cost, double lo, double hi, char type)
{
    if (grow_cols(m)) return -ENOMEM;
    m->cost[m->ncols] = cost;
    m->lo[m->ncols] = lo;
    m->hi[m->ncols] = hi;
    m->ctype[m->ncols] = type;
    return m->ncols++;
}

static int new_row(mip *m, char sense, double rhs)
{
    if (m->nrows == m->caprows) {
        int nc = m->caprows ? m->caprows * 2 : 1024;
        char *s = realloc(m->rsense, (size_t)nc);
        if (s) m->rsense = s;
        double *r = realloc(m->rrhs, (size_t)nc * sizeof *r);
        if (r) m->rrhs = r;
        if (!s || !r) return -ENOMEM;
        m->caprows = nc;
    }
    m->rsense[m->nrows] = sense;
    m->rrhs[m->nrows] = rhs;
    return m->nrows++;
}

static int put(mip *m, int row, int col, double v)
{
    if (m->nnz + 1 >= m->capnnz) {
        size_t nc = m->capnnz ? m->capnnz * 2 : 8192;
        int *ia = realloc(m->ia, nc * sizeof *ia);
        if (ia) m->ia = ia;
        int *ja = realloc(m->ja, nc * sizeof *ja);
        if (ja) m->ja = ja;
        double *ar = realloc(m->ar, nc * sizeof *ar);
        if (ar) m->ar = ar;
        if (!ia || !ja || !ar) return -ENOMEM;
        m->capnnz = nc;
    }
    m->nnz++; /* GLPK's arrays are 1-based: slot 0 stays unused */
    m->ia[m->nnz] = row + 1;
    m->ja[m->nnz] = col + 1;
    m->ar[m->nnz] = v;
    return 0;
}

static void mip_free(mip *m)
{
    plan_names_free(&m->nm);
    free(m->kinds);
    free(m->kind_of);
    free(m->slots);
    free(m->zbase);
    free(m->mcol);
    free(m->ucol);
    free(m->pins);
    free(m->cost);
    free(m->lo);
    free(m->hi);
    free(m->ctype);
    free(m->rsense);
    free(m->rrhs);
    free(m->ia);
    free(m->ja);
    free(m->ar);
}

static const plan_model *model_of(const plan_problem *p, size_t g)
{
    return &p->manifest->models[p->groups[g].model];
}

static bool group_placeable(const plan_problem *p, size_t g)
{
    const plan_group *gr = &p->groups[g];
    if (gr->replicas == 0 || gr->why_not[0]) return false;
    for (size_t b = 0; b < p->n_bintypes; b++)
        if (gr->shapes[b].ok) return true;
    return false;
}

/* Bytes per GPU of kind j on bin type b (0 when not allowed). */
static uint64_t kind_bytes(const mip *m, size_t j, int b)
{
    const plan_shape *s = &m->p->groups[m->kinds[j].group].shapes[b];
    if (!s->ok) return 0;
    uint64_t w = s->stage_bytes[m->kinds[j].stage];
    return w ? w : 1;
}

static bool kind_ok(const mip *m, size_t j, int b)
{
    const plan_shape *s = &m->p->groups[m->kinds[j].group].shapes[b];
    const plan_bintype *bt = &m->p->bintypes[b];
    return s->ok && s->tp >= 1 && (int)s->tp <= bt->n_gpus &&
           s->stage_bytes[m->kinds[j].stage] <= bt->usable_per_gpu;
}

static bool bintypes_identical(const plan_problem *p, int a, int b)
{
    const plan_bintype *x = &p->bintypes[a], *y = &p->bintypes[b];
    if (x->gpu != y->gpu || x->n_gpus != y->n_gpus || x->usable_per_gpu != y->usable_per_gpu ||
        x->price_per_hour != y->price_per_hour)
        return false;
    for (size_t g = 0; g < p->n_groups; g++) {
        const plan_shape *s = &p->groups[g].shapes[a], *t = &p->groups[g].shapes[b];
        if (s->ok != t->ok || (s->ok && (s->tp != t->tp || memcmp(s->stage_bytes, t->stage_bytes,
                                                                  sizeof s->stage_bytes) != 0)))
            return false;
    }
    return true;
}

static int slot_by_name(const mip *m, const char *name)
{
    for (size_t n = 0; n < m->ns; n++)
        if (m->slots[n].name && strcmp(m->slots[n].name, name) == 0) return (int)n;
    return -1;
}

static int add_slot(mip *m, size_t *cap, int b, const char *name)
{
    if (m->ns == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        slot *s = realloc(m->slots, nc * sizeof *s);
        if (!s) return -ENOMEM;
        m->slots = s;
        *cap = nc;
    }
    slot *s = &m->slots[m->ns];
    memset(s, 0, sizeof *s);
    s->b = b;
    s->name = name;
    s->sym_prev = -1;
    return (int)m->ns++;
}

/* Kinds, slots and pins; sizes only (no columns yet). */
static int mip_layout(mip *m, vp_err *e)
{
    const plan_problem *p = m->p;
    const plan_ilp_args *a = m->a;
    int rc = plan_names_new(p, &m->nm);
    if (rc) return vp_errf(e, rc, "out of memory");
    m->kind_of = malloc((p->n_groups ? p->n_groups : 1) * PLAN_MAX_PP * sizeof *m->kind_of);
    m->kinds = malloc((p->n_groups ? p->n_groups : 1) * PLAN_MAX_PP * sizeof *m->kinds);
    m->ucol = malloc((p->n_groups ? p->n_groups : 1) * sizeof *m->ucol);
    if (!m->kind_of || !m->kinds || !m->ucol) return vp_errf(e, -ENOMEM, "out of memory");
    for (size_t g = 0; g < p->n_groups; g++) {
        m->ucol[g] = -1;
        for (uint32_t s = 0; s < PLAN_MAX_PP; s++) {
            m->kind_of[g * PLAN_MAX_PP + s] = -1;
            if (s < p->groups[g].pp && group_placeable(p, g)) {
                m->kind_of[g * PLAN_MAX_PP + s] = (int)m->nk;
                m->kinds[m->nk++] = (kindv){g, s};
            }
        }
    }

    /* Pins: running replicas of the current plan (rebalance). */
    plan_cur_rep *reps = NULL;
    size_t nreps = 0;
    if (a->current) {
        rc = plan_current_scan(p, a->current, &reps, &nreps, e);
        if (rc) return rc;
    }

    /* Named slots: inventory nodes, then the current plan's bought nodes. */
    size_t cap = 0;
    for (size_t b = 0; b < p->n_bintypes; b++)
        if (p->bintypes[b].inventory && add_slot(m, &cap, (int)b, p->bintypes[b].inv_name) < 0)
            goto oom;
    int *named_b = calloc(p->n_bintypes ? p->n_bintypes : 1, sizeof *named_b);
    int *fresh_b = calloc(p->n_bintypes ? p->n_bintypes : 1, sizeof *fresh_b);
    if (!named_b || !fresh_b) {
        free(named_b);
        free(fresh_b);
        goto oom;
    }
    if (a->current) {
        for (size_t i = 0; i < a->current->n_nodes; i++) {
            const place_node *nd = &a->current->nodes[i];
            int b = plan_node_bintype(p, nd);
            if (b < 0 || p->bintypes[b].inventory) continue;
            if (slot_by_name(m, nd->name) >= 0) continue;
            if (add_slot(m, &cap, b, nd->name) < 0) {
                free(named_b);
                free(fresh_b);
                goto oom;
            }
            named_b[b]++;
        }
    }
    /* How many fresh slots each purchasable type needs. */
    const place_plan *w = a->warm;
    bool warm_complete = w != NULL;
    if (w)
        for (size_t u = 0; u < w->n_unplaced && warm_complete; u++) {
            int g = plan_names_find(&m->nm, w->unplaced[u].model);
            if (g >= 0 && group_placeable(p, (size_t)g)) warm_complete = false;
        }
    double ub = warm_complete ? w->cost_per_hour : -1;
    if (w)
        for (size_t i = 0; i < w->n_nodes; i++) {
            int b = plan_node_bintype(p, &w->nodes[i]);
            if (b < 0 || p->bintypes[b].inventory || slot_by_name(m, w->nodes[i].name) >= 0)
                continue;
            if (place_node_load(w, i) > 0) fresh_b[b]++;
        }
    for (size_t b = 0; b < p->n_bintypes; b++) {
        const plan_bintype *bt = &p->bintypes[b];
        if (bt->inventory) continue;
        double units = 0;
        for (size_t j = 0; j < m->nk; j++)
            if (kind_ok(m, j, (int)b)) units += p->groups[m->kinds[j].group].replicas;
        double k = units;
        if (bt->max_count >= 0 && k > bt->max_count - named_b[b]) k = bt->max_count - named_b[b];
        if (ub >= 0 && bt->price_per_hour > 0 && k > floor(ub / bt->price_per_hour + 1e-9))
            k = floor(ub / bt->price_per_hour + 1e-9);
        if (k < fresh_b[b]) k = fresh_b[b];
        if (k < 0) k = 0;
        if (k > 1e6) k = 1e6;
        fresh_b[b] = (int)k;
    }
    for (size_t b = 0; b < p->n_bintypes; b++)
        for (int k = 0; k < fresh_b[b]; k++)
            if (add_slot(m, &cap, (int)b, NULL) < 0) {
                free(named_b);
                free(fresh_b);
                goto oom;
            }
    free(named_b);
    free(fresh_b);

    /* Pins for running replicas. */
    m->budget = a->current ? a->max_moves : -1;
    if (nreps) {
        m->pins = calloc(nreps, sizeof *m->pins);
        if (!m->pins) goto oom;
        for (size_t r = 0; r < nreps; r++) {
            const plan_cur_rep *cr = &reps[r];
            pin *pn = &m->pins[m->npin];
            pn->group = cr->group;
            pn->replica = cr->replica;
            pn->n_stages = cr->n_stages;
            bool ok = true;
            for (int s = 0; s < cr->n_stages && ok; s++) {
                const place_placement *pl = &a->current->placements[cr->pl[s]];
                pn->pl[s] = cr->pl[s];
                pn->slot[s] = slot_by_name(m, a->current->nodes[pl->node].name);
                if (pn->slot[s] < 0) ok = false;
            }
            if (!ok) continue;
            for (int s = 0; s < cr->n_stages; s++)
                m->slots[pn->slot[s]].pinned = true;
            m->npin++;
        }
    }
    free(reps);

    /* Symmetry classes: consecutive unpinned slots of identical bin types. */
    for (size_t n = 1; n < m->ns; n++) {
        slot *s = &m->slots[n], *q = &m->slots[n - 1];
        if (s->pinned || q->pinned) continue;
        if ((s->name == NULL) != (q->name == NULL)) continue;
        /* Different purchasable types are never merged: max_count counts each separately. */
        bool both_inv = p->bintypes[s->b].inventory && p->bintypes[q->b].inventory;
        if (s->b == q->b || (both_inv && bintypes_identical(p, s->b, q->b)))
            s->sym_prev = (int)n - 1;
    }
    return 0;
oom:
    free(reps);
    return vp_errf(e, -ENOMEM, "out of memory");
}

static size_t mip_estimate_cols(const mip *m)
{
    size_t cols = 0;
    for (size_t n = 0; n < m->ns; n++) {
        int b = m->slots[n].b;
        cols++;
        for (size_t j = 0; j < m->nk; j++)
            if (kind_ok(m, j, b)) {
                const plan_shape *s = &m->p->groups[m->kinds[j].group].shapes[b];
                cols += (size_t)m->p->bintypes[b].n_gpus + (s->tp > 1);
            }
    }
    return cols + m->npin + m->p->n_groups;
}

/* Columns and rows. */
static int mip_build(mip *m, vp_err *e)
{
    const plan_problem *p = m->p;
    size_t nk = m->nk, ns = m->ns;
    m->zbase = malloc((ns * nk > 0 ? ns * nk : 1) * sizeof *m->zbase);
    m->mcol = malloc((ns * nk > 0 ? ns * nk : 1) * sizeof *m->mcol);
    if (!m->zbase || !m->mcol) goto oom;

    /* Does any group need the unplaced slack? Only when every type it may use is finite. */
    double total_price = 1;
    for (size_t n = 0; n < ns; n++)
        total_price += p->bintypes[m->slots[n].b].price_per_hour;
    m->penalty = total_price * 2 + 1;
    for (size_t g = 0; g < p->n_groups; g++) {
        if (!group_placeable(p, g)) continue;
        bool unlimited = false;
        for (size_t b = 0; b < p->n_bintypes; b++)
            if (p->groups[g].shapes[b].ok && !p->bintypes[b].inventory &&
                p->bintypes[b].max_count < 0)
                unlimited = true;
        if (!unlimited) {
            m->ucol[g] = new_col(m, m->penalty, 0, p->groups[g].replicas, 'I');
            if (m->ucol[g] < 0) goto oom;
        }
    }
    for (size_t n = 0; n < ns; n++) {
        slot *s = &m->slots[n];
        const plan_bintype *bt = &p->bintypes[s->b];
        s->y = new_col(m, bt->price_per_hour, 0, 1, 'B');
        if (s->y < 0) goto oom;
        for (size_t j = 0; j < nk; j++) {
            m->zbase[n * nk + j] = m->mcol[n * nk + j] = -1;
            if (!kind_ok(m, j, s->b)) continue;
            const kindv *k = &m->kinds[j];
            const plan_group *gr = &p->groups[k->group];
            const plan_shape *sh = &gr->shapes[s->b];
            uint64_t w = kind_bytes(m, j, s->b);
            double per_gpu = (double)(bt->usable_per_gpu / w);
            double units = gr->replicas;
            if (model_of(p, k->group)->spread) units = 1;
            if (per_gpu > units) per_gpu = units;
            if (sh->tp > 1) {
                double mu = floor((double)bt->n_gpus / sh->tp) * per_gpu;
                if (mu > units) mu = units;
                m->mcol[n * nk + j] = new_col(m, 0, 0, mu, 'I');
                if (m->mcol[n * nk + j] < 0) goto oom;
                if (per_gpu > mu) per_gpu = mu;
            }
            for (int g = 0; g < bt->n_gpus; g++) {
                int c = new_col(m, 0, 0, per_gpu, per_gpu <= 1 ? 'B' : 'I');
                if (c < 0) goto oom;
                if (g == 0) m->zbase[n * nk + j] = c;
            }
        }
    }
    for (size_t r = 0; r < m->npin; r++) {
        m->pins[r].col = new_col(m, 0, 0, 1, 'B');
        if (m->pins[r].col < 0) goto oom;
    }

    /* Demand: every stage of every placeable group, exactly its replicas. */
    for (size_t j = 0; j < nk; j++) {
        const kindv *k = &m->kinds[j];
        int row = new_row(m, 'E', p->groups[k->group].replicas);
        if (row < 0) goto oom;
        for (size_t n = 0; n < ns; n++) {
            int mc = m->mcol[n * nk + j], zb = m->zbase[n * nk + j];
            if (mc >= 0) {
                if (put(m, row, mc, 1)) goto oom;
            } else if (zb >= 0) {
                for (int g = 0; g < p->bintypes[m->slots[n].b].n_gpus; g++)
                    if (put(m, row, zb + g, 1)) goto oom;
            }
        }
        for (size_t r = 0; r < m->npin; r++)
            if (m->pins[r].group == k->group && put(m, row, m->pins[r].col, 1)) goto oom;
        if (m->ucol[k->group] >= 0 && put(m, row, m->ucol[k->group], 1)) goto oom;
    }

    /* Capacity per GPU, in units of the GPU's usable bytes. */
    for (size_t n = 0; n < ns; n++) {
        slot *s = &m->slots[n];
        const plan_bintype *bt = &p->bintypes[s->b];
        double U = (double)bt->usable_per_gpu;
        for (int g = 0; g < bt->n_gpus; g++) {
            int row = new_row(m, 'L', 0);
            if (row < 0) goto oom;
            if (g == 0) s->cap_row = row;
            if (put(m, row, s->y, -1)) goto oom;
            for (size_t j = 0; j < nk; j++) {
                int zb = m->zbase[n * nk + j];
                if (zb >= 0 && put(m, row, zb + g, (double)kind_bytes(m, j, s->b) / U)) goto oom;
            }
        }
    }
    for (size_t r = 0; r < m->npin; r++) {
        const pin *pn = &m->pins[r];
        for (int st = 0; st < pn->n_stages; st++) {
            const place_placement *pl = &m->a->current->placements[pn->pl[st]];
            const slot *s = &m->slots[pn->slot[st]];
            double U = (double)p->bintypes[s->b].usable_per_gpu;
            for (int t = 0; t < pl->n_gpus; t++)
                if (put(m, s->cap_row + pl->gpus[t], pn->col, (double)pl->bytes_per_gpu / U))
                    goto oom;
            /* A pinned placement keeps its node in use. */
            int row = new_row(m, 'L', 0);
            if (row < 0 || put(m, row, pn->col, 1) || put(m, row, s->y, -1)) goto oom;
        }
    }

    /* TP groups: sum_g z = tp * m and z <= m. */
    for (size_t n = 0; n < ns; n++) {
        const plan_bintype *bt = &p->bintypes[m->slots[n].b];
        for (size_t j = 0; j < nk; j++) {
            int mc = m->mcol[n * nk + j], zb = m->zbase[n * nk + j];
            if (mc < 0) continue;
            uint32_t tp = p->groups[m->kinds[j].group].shapes[m->slots[n].b].tp;
            int row = new_row(m, 'E', 0);
            if (row < 0 || put(m, row, mc, -(double)tp)) goto oom;
            for (int g = 0; g < bt->n_gpus; g++) {
                if (put(m, row, zb + g, 1)) goto oom;
                int r2 = new_row(m, 'L', 0);
                if (r2 < 0 || put(m, r2, zb + g, 1) || put(m, r2, mc, -1)) goto oom;
            }
        }
    }

    /* Spread (<= 1 unit of the model per node) and pipelines (<= free replicas per node). */
    for (size_t g = 0; g < p->n_groups; g++) {
        if (!group_placeable(p, g)) continue;
        const plan_group *gr = &p->groups[g];
        bool spread = model_of(p, g)->spread;
        if (!spread && gr->pp <= 1) continue;
        for (size_t n = 0; n < ns; n++) {
            int row = -1;
            for (uint32_t st = 0; st < gr->pp; st++) {
                int j = m->kind_of[g * PLAN_MAX_PP + st];
                if (j < 0) continue;
                int mc = m->mcol[n * nk + (size_t)j], zb = m->zbase[n * nk + (size_t)j];
                if (mc < 0 && zb < 0) continue;
                if (row < 0) {
                    row = new_row(m, 'L', spread ? 1 : gr->replicas);
                    if (row < 0) goto oom;
                }
                if (mc >= 0) {
                    if (put(m, row, mc, 1)) goto oom;
                } else {
                    for (int q = 0; q < p->bintypes[m->slots[n].b].n_gpus; q++)
                        if (put(m, row, zb + q, 1)) goto oom;
                }
            }
            if (row < 0) continue;
            if (spread) {
                for (size_t r = 0; r < m->npin; r++) {
                    const pin *pn = &m->pins[r];
                    if (pn->group != g) continue;
                    for (int st = 0; st < pn->n_stages; st++)
                        if (pn->slot[st] == (int)n && put(m, row, pn->col, 1)) goto oom;
                }
            } else {
                for (size_t r = 0; r < m->npin; r++)
                    if (m->pins[r].group == g && put(m, row, m->pins[r].col, 1)) goto oom;
                if (m->ucol[g] >= 0 && put(m, row, m->ucol[g], 1)) goto oom;
            }
        }
    }

    /* Inventory and max_count across named and fresh slots of one type. */
    for (size_t b = 0; b < p->n_bintypes; b++) {
        const plan_bintype *bt = &p->bintypes[b];
        if (bt->inventory || bt->max_count < 0) continue;
        int cnt = 0;
        for (size_t n = 0; n < ns; n++)
            cnt += m->slots[n].b == (int)b;
        if (cnt <= bt->max_count) continue;
        int row = new_row(m, 'L', bt->max_count);
        if (row < 0) goto oom;
        for (size_t n = 0; n < ns; n++)
            if (m->slots[n].b == (int)b && put(m, row, m->slots[n].y, 1)) goto oom;
    }

    /* Migration budget: sum_r s_r >= pins - max_moves. */
    if (m->npin && m->budget >= 0) {
        double need = (double)m->npin - (double)m->budget;
        if (need > 0) {
            int row = new_row(m, 'G', need);
            if (row < 0) goto oom;
            for (size_t r = 0; r < m->npin; r++)
                if (put(m, row, m->pins[r].col, 1)) goto oom;
        }
    }

    /* Symmetry: identical slots in use first; GPUs of a slot with no pinned placement by
     * non-increasing load. (Ordering identical slots by load as well was measured: it does not
     * help GLPK and it keeps CBC's heuristics from finding any solution on the exported model.) */
    for (size_t n = 0; n < ns; n++) {
        const slot *s = &m->slots[n];
        const plan_bintype *bt = &p->bintypes[s->b];
        double U = (double)bt->usable_per_gpu;
        if (s->sym_prev >= 0) {
            const slot *q = &m->slots[s->sym_prev];
            int row = new_row(m, 'G', 0);
            if (row < 0 || put(m, row, q->y, 1) || put(m, row, s->y, -1)) goto oom;
        }
        if (s->pinned) continue;
        for (int g = 0; g + 1 < bt->n_gpus; g++) {
            int row = new_row(m, 'G', 0);
            if (row < 0) goto oom;
            for (size_t j = 0; j < nk; j++) {
                int zb = m->zbase[n * nk + j];
                if (zb < 0) continue;
                double wv = (double)kind_bytes(m, j, s->b) / U;
                if (put(m, row, zb + g, wv) || put(m, row, zb + g + 1, -wv)) goto oom;
            }
        }
    }
    (void)e;
    return 0;
oom:
    return vp_errf(e, -ENOMEM, "out of memory building the MIP");
}

/* Loads the arrays into a GLPK problem (inside a guarded region). */
static void mip_load(mip *m, bool names)
{
    glp_prob *P = m->P = glp_create_prob();
    glp_set_prob_name(P, "vrampack");
    glp_set_obj_name(P, "cost_per_hour");
    glp_set_obj_dir(P, GLP_MIN);
    if (m->nrows) glp_add_rows(P, m->nrows);
    if (m->ncols) glp_add_cols(P, m->ncols);
    for (int i = 0; i < m->nrows; i++)
        set_row_sense(P, i + 1, m->rsense[i], m->rrhs[i]);
    for (int j = 0; j < m->ncols; j++) {
        glp_set_obj_coef(P, j + 1, m->cost[j]);
        glp_set_col_kind(P, j + 1,
                         m->ctype[j] == 'B'   ? GLP_BV
                         : m->ctype[j] == 'I' ? GLP_IV
                                              : GLP_CV);
        if (m->ctype[j] != 'B') set_col_range(P, j + 1, m->lo[j], m->hi[j]);
    }
    glp_load_matrix(P, (int)m->nnz, m->ia, m->ja, m->ar);
    if (!names) return;
    char buf[64];
    const size_t nk = m->nk;
    for (size_t n = 0; n < m->ns; n++) {
        const slot *s = &m->slots[n];
        snprintf(buf, sizeof buf, "y_%zu", n);
        glp_set_col_name(P, s->y + 1, buf);
        for (size_t j = 0; j < nk; j++) {
            int zb = m->zbase[n * nk + j], mc = m->mcol[n * nk + j];
            if (mc >= 0) {
                snprintf(buf, sizeof buf, "m_%zu_%zu", j, n);
                glp_set_col_name(P, mc + 1, buf);
            }
            if (zb >= 0)
                for (int g = 0; g < m->p->bintypes[s->b].n_gpus; g++) {
                    snprintf(buf, sizeof buf, "z_%zu_%zu_%d", j, n, g);
                    glp_set_col_name(P, zb + g + 1, buf);
                }
        }
    }
    for (size_t g = 0; g < m->p->n_groups; g++)
        if (m->ucol[g] >= 0) {
            snprintf(buf, sizeof buf, "unplaced_%zu", g);
            glp_set_col_name(P, m->ucol[g] + 1, buf);
        }
    for (size_t r = 0; r < m->npin; r++) {
        snprintf(buf, sizeof buf, "stay_%zu", r);
        glp_set_col_name(P, m->pins[r].col + 1, buf);
    }
}

/* ---- warm start: a plan as a column vector ---- */

typedef struct gpu_load {
    int g;
    double load;
} gpu_load;

static int cmp_load_desc(const void *a, const void *b)
{
    const gpu_load *x = a, *y = b;
    if (x->load != y->load) return x->load > y->load ? -1 : 1;
    return x->g - y->g;
}

/* Fills x[1..ncols] from plan w; false when w does not fit the model. */
static bool mip_warm_vector(const mip *m, const place_plan *w, double *x)
{
    const plan_problem *p = m->p;
    const size_t nk = m->nk;
    memset(x, 0, ((size_t)m->ncols + 1) * sizeof *x);
    int *node_slot = malloc((w->n_nodes ? w->n_nodes : 1) * sizeof *node_slot);
    int *next_fresh = malloc((p->n_bintypes ? p->n_bintypes : 1) * sizeof *next_fresh);
    bool *pl_pinned = calloc(w->n_placements ? w->n_placements : 1, 1);
    bool ok = node_slot && next_fresh && pl_pinned;
    if (!ok) goto done;
    for (size_t b = 0; b < p->n_bintypes; b++) {
        next_fresh[b] = -1;
        for (size_t n = 0; n < m->ns; n++)
            if (m->slots[n].b == (int)b && !m->slots[n].name) {
                next_fresh[b] = (int)n;
                break;
            }
    }
    for (size_t i = 0; i < w->n_nodes && ok; i++) {
        node_slot[i] = -1;
        if (place_node_load(w, i) == 0) continue;
        int sl = slot_by_name(m, w->nodes[i].name);
        if (sl < 0) {
            int b = plan_node_bintype(p, &w->nodes[i]);
            if (b < 0 || next_fresh[b] < 0 || (size_t)next_fresh[b] >= m->ns ||
                m->slots[next_fresh[b]].b != b || m->slots[next_fresh[b]].name) {
                ok = false;
                break;
            }
            sl = next_fresh[b]++;
        }
        node_slot[i] = sl;
        x[m->slots[sl].y + 1] = 1;
    }
    /* Pins that stay: every stage where current had it. */
    for (size_t r = 0; r < m->npin && ok; r++) {
        const pin *pn = &m->pins[r];
        bool stays = true;
        size_t idx[PLAN_MAX_PP];
        for (int s = 0; s < pn->n_stages && stays; s++) {
            const place_placement *cp = &m->a->current->placements[pn->pl[s]];
            int k = place_plan_find(w, cp->id);
            if (k < 0) {
                stays = false;
                break;
            }
            const place_placement *wp = &w->placements[k];
            if (node_slot[wp->node] != pn->slot[s] || wp->n_gpus != cp->n_gpus ||
                wp->bytes_per_gpu != cp->bytes_per_gpu ||
                memcmp(wp->gpus, cp->gpus, (size_t)cp->n_gpus) != 0)
                stays = false;
            idx[s] = (size_t)k;
        }
        if (!stays) continue;
        x[pn->col + 1] = 1;
        for (int s = 0; s < pn->n_stages; s++)
            pl_pinned[idx[s]] = true;
    }
    for (size_t k = 0; k < w->n_placements && ok; k++) {
        if (pl_pinned[k]) continue;
        const place_placement *pl = &w->placements[k];
        int g = plan_names_find(&m->nm, pl->model);
        int sl = node_slot[pl->node];
        uint32_t st = pl->stage < 0 ? 0 : (uint32_t)pl->stage;
        if (g < 0 || sl < 0 || st >= PLAN_MAX_PP || m->kind_of[(size_t)g * PLAN_MAX_PP + st] < 0 ||
            pl->replica >= p->groups[g].replicas) {
            ok = false;
            break;
        }
        size_t j = (size_t)m->kind_of[(size_t)g * PLAN_MAX_PP + st];
        int zb = m->zbase[(size_t)sl * nk + j], mc = m->mcol[(size_t)sl * nk + j];
        const plan_shape *sh = &p->groups[g].shapes[m->slots[sl].b];
        if (zb < 0 || (uint32_t)pl->n_gpus != sh->tp || pl->bytes_per_gpu != sh->stage_bytes[st]) {
            ok = false;
            break;
        }
        for (int t = 0; t < pl->n_gpus; t++)
            x[zb + pl->gpus[t] + 1] += 1;
        if (mc >= 0) x[mc + 1] += 1;
    }
    if (!ok) goto done;
    /* Unplaced slack. */
    for (size_t g = 0; g < p->n_groups; g++) {
        if (m->ucol[g] < 0) continue;
        const plan_group *gr = &p->groups[g];
        double placed = 0;
        for (size_t r = 0; r < m->npin; r++)
            if (m->pins[r].group == g) placed += x[m->pins[r].col + 1];
        int j0 = m->kind_of[g * PLAN_MAX_PP];
        for (size_t n = 0; n < m->ns; n++) {
            int zb = m->zbase[n * nk + (size_t)j0], mc = m->mcol[n * nk + (size_t)j0];
            if (mc >= 0)
                placed += x[mc + 1];
            else if (zb >= 0)
                for (int q = 0; q < p->bintypes[m->slots[n].b].n_gpus; q++)
                    placed += x[zb + q + 1];
        }
        x[m->ucol[g] + 1] = gr->replicas - placed;
    }
    /* Symmetry: GPUs of unpinned slots by load, then identical fresh slots by load. */
    for (size_t n = 0; n < m->ns; n++) {
        const slot *s = &m->slots[n];
        const plan_bintype *bt = &p->bintypes[s->b];
        if (s->pinned) continue;
        gpu_load ld[PLACE_MAX_GPUS];
        for (int g = 0; g < bt->n_gpus; g++) {
            ld[g].g = g;
            ld[g].load = 0;
            for (size_t j = 0; j < nk; j++) {
                int zb = m->zbase[n * nk + j];
                if (zb >= 0) ld[g].load += x[zb + g + 1] * (double)kind_bytes(m, j, s->b);
            }
        }
        qsort(ld, (size_t)bt->n_gpus, sizeof *ld, cmp_load_desc);
        for (size_t j = 0; j < nk; j++) {
            int zb = m->zbase[n * nk + j];
            if (zb < 0) continue;
            double tmp[PLACE_MAX_GPUS];
            for (int g = 0; g < bt->n_gpus; g++)
                tmp[g] = x[zb + ld[g].g + 1];
            for (int g = 0; g < bt->n_gpus; g++)
                x[zb + g + 1] = tmp[g];
        }
    }
    /* Runs of identical slots: sort by load (selection sort over a run, swapping all columns). */
    for (size_t n0 = 0; n0 < m->ns;) {
        size_t n1 = n0 + 1;
        while (n1 < m->ns && m->slots[n1].sym_prev == (int)n1 - 1)
            n1++;
        for (size_t a = n0; a + 1 < n1; a++) {
            size_t best = a;
            double bl = -1;
            for (size_t c = a; c < n1; c++) {
                double l = 0;
                for (size_t j = 0; j < nk; j++) {
                    int zb = m->zbase[c * nk + j];
                    if (zb >= 0)
                        for (int g = 0; g < p->bintypes[m->slots[c].b].n_gpus; g++)
                            l += x[zb + g + 1] * (double)kind_bytes(m, j, m->slots[c].b);
                }
                if (x[m->slots[c].y + 1] > 0.5) l += 1; /* used before unused, at equal load */
                if (l > bl) {
                    bl = l;
                    best = c;
                }
            }
            if (best == a) continue;
            /* Same bin type class: swap y, z and m columns. */
            double t = x[m->slots[a].y + 1];
            x[m->slots[a].y + 1] = x[m->slots[best].y + 1];
            x[m->slots[best].y + 1] = t;
            for (size_t j = 0; j < nk; j++) {
                int za = m->zbase[a * nk + j], zc = m->zbase[best * nk + j];
                int ma = m->mcol[a * nk + j], mb = m->mcol[best * nk + j];
                if ((za < 0) != (zc < 0) || (ma < 0) != (mb < 0)) {
                    ok = false;
                    goto done;
                }
                if (za >= 0)
                    for (int g = 0; g < p->bintypes[m->slots[a].b].n_gpus; g++) {
                        t = x[za + g + 1];
                        x[za + g + 1] = x[zc + g + 1];
                        x[zc + g + 1] = t;
                    }
                if (ma >= 0) {
                    t = x[ma + 1];
                    x[ma + 1] = x[mb + 1];
                    x[mb + 1] = t;
                }
            }
        }
        n0 = n1;
    }
    /* Check every bound and row, so GLPK is never handed an infeasible incumbent. */
    for (int c = 0; c < m->ncols && ok; c++) {
        double v = x[c + 1];
        if (v < m->lo[c] - 1e-9 || (m->hi[c] >= 0 && v > m->hi[c] + 1e-9) ||
            (m->ctype[c] == 'B' && v > 1 + 1e-9))
            ok = false;
    }
    if (ok) {
        double *act = calloc((size_t)m->nrows + 1, sizeof *act);
        if (!act) {
            ok = false;
            goto done;
        }
        for (size_t k = 1; k <= m->nnz; k++)
            act[m->ia[k] - 1] += m->ar[k] * x[m->ja[k]];
        for (int i = 0; i < m->nrows && ok; i++) {
            double v = act[i], r = m->rrhs[i];
            switch (m->rsense[i]) {
            case 'G':
                ok = v >= r - 1e-9;
                break;
            case 'L':
                ok = v <= r + 1e-9;
                break;
            case 'E':
                ok = fabs(v - r) <= 1e-9;
                break;
            default:
                break;
            }
        }
        free(act);
    }
done:
    free(node_slot);
    free(next_fresh);
    free(pl_pinned);
    return ok;
}

/* ---- solution to plan ---- */

typedef struct unit {
    int node; /* plan node */
    int n_gpus;
    uint8_t gpus[PLACE_MAX_GPUS];
} unit;

/* Colours the stages x nodes multigraph of one pipelined group with `ncol` colours so that no two
 * edges at a vertex share one (König: possible since no degree exceeds ncol). edge_node[e] is
 * the node of edge e, whose stage is edge_stage[e]; writes colour[e]. */
static int colour_edges(int nstages, int nnodes, int ncol, size_t nedges, const int *edge_stage,
                        const int *edge_node, int *colour)
{
    int *atL = malloc((size_t)nstages * (size_t)ncol * sizeof *atL);
    int *atR = malloc((size_t)nnodes * (size_t)ncol * sizeof *atR);
    size_t *path = malloc((nedges ? nedges : 1) * sizeof *path);
    if (!atL || !atR || !path) {
        free(atL);
        free(atR);
        free(path);
        return -ENOMEM;
    }
    for (size_t i = 0; i < (size_t)nstages * (size_t)ncol; i++)
        atL[i] = -1;
    for (size_t i = 0; i < (size_t)nnodes * (size_t)ncol; i++)
        atR[i] = -1;
    int rc = 0;
    for (size_t e = 0; e < nedges; e++) {
        int s = edge_stage[e], v = edge_node[e], a = -1, b = -1;
        for (int c = 0; c < ncol && a < 0; c++)
            if (atL[s * ncol + c] < 0) a = c;
        for (int c = 0; c < ncol && b < 0; c++)
            if (atR[v * ncol + c] < 0) b = c;
        if (a < 0 || b < 0) {
            rc = VP_ESOLVER;
            break;
        }
        if (atR[v * ncol + a] >= 0) {
            /* Alternating a/b path from v; swapping it frees a at v (it cannot reach s). */
            size_t len = 0;
            int cur = v, want = a;
            bool right = true;
            for (;;) {
                int ed = right ? atR[cur * ncol + want] : atL[cur * ncol + want];
                if (ed < 0) break;
                path[len++] = (size_t)ed;
                cur = right ? edge_stage[ed] : edge_node[ed];
                right = !right;
                want = want == a ? b : a;
            }
            for (size_t k = 0; k < len; k++) {
                size_t ed = path[k];
                atL[edge_stage[ed] * ncol + colour[ed]] = -1;
                atR[edge_node[ed] * ncol + colour[ed]] = -1;
            }
            for (size_t k = 0; k < len; k++) {
                size_t ed = path[k];
                colour[ed] = colour[ed] == a ? b : a;
                atL[edge_stage[ed] * ncol + colour[ed]] = (int)ed;
                atR[edge_node[ed] * ncol + colour[ed]] = (int)ed;
            }
        }
        colour[e] = a;
        atL[s * ncol + a] = (int)e;
        atR[v * ncol + a] = (int)e;
    }
    free(atL);
    free(atR);
    free(path);
    return rc;
}

static int mip_extract(const mip *m, const double *x, place_plan **out, vp_err *e)
{
    const plan_problem *p = m->p;
    const size_t nk = m->nk;
    place_plan *plan = place_plan_new();
    int *slot_node = malloc((m->ns ? m->ns : 1) * sizeof *slot_node);
    unit **units = calloc(nk ? nk : 1, sizeof *units);
    size_t *nunits = calloc(nk ? nk : 1, sizeof *nunits);
    bool *used_rep = NULL;
    int rc = 0;
    if (!plan || !slot_node || !units || !nunits) goto oom;

    /* Nodes: named slots first (their names are taken), then fresh ones in use. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t n = 0; n < m->ns; n++) {
            const slot *s = &m->slots[n];
            if ((pass == 0) != (s->name != NULL)) continue;
            slot_node[n] = -1;
            bool inv = p->bintypes[s->b].inventory;
            if (!inv && x[s->y + 1] < 0.5) continue;
            int idx;
            if (s->name) {
                place_node nd;
                plan_node_from_bintype(p, (size_t)s->b, 0, &nd);
                snprintf(nd.name, sizeof nd.name, "%s", s->name);
                idx = place_plan_add_node(plan, &nd);
            } else {
                idx = plan_add_fresh_node(p, plan, (size_t)s->b);
            }
            if (idx < 0) goto oom;
            slot_node[n] = idx;
        }

    /* Pinned replicas that stay keep their exact placements. */
    size_t ng = p->n_groups ? p->n_groups : 1;
    size_t maxrep = 1;
    for (size_t g = 0; g < p->n_groups; g++)
        if (p->groups[g].replicas > maxrep) maxrep = p->groups[g].replicas;
    size_t *rep_off = malloc((ng + 1) * sizeof *rep_off);
    if (!rep_off) goto oom;
    rep_off[0] = 0;
    for (size_t g = 0; g < p->n_groups; g++)
        rep_off[g + 1] = rep_off[g] + p->groups[g].replicas;
    used_rep = calloc(rep_off[p->n_groups] ? rep_off[p->n_groups] : 1, 1);
    if (!used_rep) {
        free(rep_off);
        goto oom;
    }
    for (size_t r = 0; r < m->npin; r++) {
        const pin *pn = &m->pins[r];
        if (x[pn->col + 1] < 0.5) continue;
        used_rep[rep_off[pn->group] + pn->replica] = true;
        for (int st = 0; st < pn->n_stages; st++) {
            const place_placement *cp = &m->a->current->placements[pn->pl[st]];
            int node = slot_node[pn->slot[st]];
            if (node < 0) {
                rc = vp_errf(e, VP_ESOLVER, "internal: pinned slot unused");
                goto fail_r;
            }
            rc = place_plan_assign(plan, cp->model, cp->replica, cp->stage, cp->n_stages, node,
                                   cp->gpus, cp->n_gpus, cp->bytes_per_gpu);
            if (rc < 0) goto bad_r;
            rc = 0;
        }
    }

    /* Units per kind, GPUs by the round-robin rule. */
    for (size_t j = 0; j < nk; j++) {
        size_t cnt = 0;
        for (size_t n = 0; n < m->ns; n++) {
            int zb = m->zbase[n * nk + j], mc = m->mcol[n * nk + j];
            if (zb < 0) continue;
            const plan_bintype *bt = &p->bintypes[m->slots[n].b];
            if (mc >= 0)
                cnt += (size_t)llround(x[mc + 1]);
            else
                for (int g = 0; g < bt->n_gpus; g++)
                    cnt += (size_t)llround(x[zb + g + 1]);
        }
        units[j] = malloc((cnt ? cnt : 1) * sizeof **units);
        if (!units[j]) goto oom_r;
        for (size_t n = 0; n < m->ns; n++) {
            int zb = m->zbase[n * nk + j], mc = m->mcol[n * nk + j];
            if (zb < 0) continue;
            const plan_bintype *bt = &p->bintypes[m->slots[n].b];
            const plan_shape *sh = &p->groups[m->kinds[j].group].shapes[m->slots[n].b];
            long mu = 0;
            if (mc >= 0)
                mu = llround(x[mc + 1]);
            else
                for (int g = 0; g < bt->n_gpus; g++)
                    mu += llround(x[zb + g + 1]);
            if (mu <= 0) continue;
            if (slot_node[n] < 0) {
                rc = vp_errf(e, VP_ESOLVER, "internal: units on an unused node");
                goto fail_r;
            }
            size_t base = nunits[j];
            for (long u = 0; u < mu; u++) {
                units[j][base + (size_t)u].node = slot_node[n];
                units[j][base + (size_t)u].n_gpus = 0;
            }
            long q = 0;
            for (int g = 0; g < bt->n_gpus; g++) {
                long zc = llround(x[zb + g + 1]);
                if (zc > mu) {
                    rc = vp_errf(e, VP_ESOLVER, "internal: z above m");
                    goto fail_r;
                }
                for (long t = 0; t < zc; t++, q++) {
                    unit *un = &units[j][base + (size_t)(q % mu)];
                    if (un->n_gpus >= PLACE_MAX_GPUS) {
                        rc = vp_errf(e, VP_ESOLVER, "internal: too many GPUs");
                        goto fail_r;
                    }
                    un->gpus[un->n_gpus++] = (uint8_t)g;
                }
            }
            if (q != mu * (long)sh->tp) {
                rc = vp_errf(e, VP_ESOLVER, "internal: %ld slices for %ld units of TP %u", q, mu,
                             sh->tp);
                goto fail_r;
            }
            nunits[j] += (size_t)mu;
        }
    }

    /* Replicas: free indices (not staying), displaced/moved ones first so that what stays
     * unplaced is what is new. */
    uint32_t *freeidx = malloc(maxrep * sizeof *freeidx);
    if (!freeidx) goto oom_r;
    for (size_t g = 0; g < p->n_groups; g++) {
        const plan_group *gr = &p->groups[g];
        const plan_model *md = model_of(p, g);
        size_t nf = 0;
        if (m->a->current)
            for (uint32_t r = 0; r < gr->replicas; r++) {
                if (used_rep[rep_off[g] + r]) continue;
                char id[PLACE_ID_MAX];
                place_make_id(id, sizeof id, md->name, r, gr->pp > 1 ? 0 : -1);
                if (place_plan_find(m->a->current, id) >= 0) freeidx[nf++] = r;
            }
        size_t nfirst = nf;
        for (uint32_t r = 0; r < gr->replicas; r++) {
            if (used_rep[rep_off[g] + r]) continue;
            bool dup = false;
            for (size_t k = 0; k < nfirst && !dup; k++)
                dup = freeidx[k] == r;
            if (!dup) freeidx[nf++] = r;
        }
        if (!group_placeable(p, g)) {
            for (size_t k = 0; k < nf; k++)
                if (place_plan_add_unplaced(plan, md->name, freeidx[k],
                                            gr->why_not[0] ? gr->why_not : "no replicas wanted"))
                    goto oom_f;
            continue;
        }
        size_t j0 = (size_t)m->kind_of[g * PLAN_MAX_PP];
        size_t placed = nunits[j0];
        for (uint32_t st = 1; st < gr->pp; st++)
            if (nunits[m->kind_of[g * PLAN_MAX_PP + st]] != placed) {
                rc = vp_errf(e, VP_ESOLVER, "internal: stage counts differ for %s", md->name);
                goto fail_f;
            }
        if (placed > nf) {
            rc = vp_errf(e, VP_ESOLVER, "internal: too many units for %s", md->name);
            goto fail_f;
        }
        if (gr->pp <= 1) {
            for (size_t k = 0; k < placed; k++) {
                const unit *un = &units[j0][k];
                const plan_shape *sh = &gr->shapes[plan_node_bintype(p, &plan->nodes[un->node])];
                rc = place_plan_assign(plan, md->name, freeidx[k], -1, 1, un->node, un->gpus,
                                       un->n_gpus, sh->stage_bytes[0]);
                if (rc < 0) goto bad_f;
                rc = 0;
            }
        } else if (placed) {
            /* Colour stage x node edges with `placed` colours; colour = replica. */
            size_t ne = placed * gr->pp;
            int *es = malloc(ne * sizeof *es), *en = malloc(ne * sizeof *en);
            int *col = malloc(ne * sizeof *col);
            size_t *eu = malloc(ne * sizeof *eu);
            if (!es || !en || !col || !eu) {
                free(es);
                free(en);
                free(col);
                free(eu);
                goto oom_f;
            }
            size_t k = 0;
            for (uint32_t st = 0; st < gr->pp; st++) {
                size_t j = (size_t)m->kind_of[g * PLAN_MAX_PP + st];
                for (size_t u = 0; u < nunits[j]; u++, k++) {
                    es[k] = (int)st;
                    en[k] = units[j][u].node;
                    eu[k] = u;
                    col[k] = -1;
                }
            }
            rc = colour_edges((int)gr->pp, (int)plan->n_nodes, (int)placed, ne, es, en, col);
            for (size_t q = 0; q < ne && !rc; q++) {
                size_t j = (size_t)m->kind_of[g * PLAN_MAX_PP + (size_t)es[q]];
                const unit *un = &units[j][eu[q]];
                const plan_shape *sh = &gr->shapes[plan_node_bintype(p, &plan->nodes[un->node])];
                rc = place_plan_assign(plan, md->name, freeidx[col[q]], es[q], (int)gr->pp,
                                       un->node, un->gpus, un->n_gpus, sh->stage_bytes[es[q]]);
                if (rc >= 0) rc = 0;
            }
            free(es);
            free(en);
            free(col);
            free(eu);
            if (rc) goto bad_f;
        }
        for (size_t q = placed; q < nf; q++)
            if (place_plan_add_unplaced(plan, md->name, freeidx[q],
                                        "no room: inventory exhausted or max_count reached for "
                                        "every allowed instance type"))
                goto oom_f;
    }
    free(freeidx);
    free(rep_off);
    place_plan_drop_idle(plan);
    char why[256];
    if (place_plan_validate(plan, why, sizeof why)) {
        rc = vp_errf(e, VP_ESOLVER, "internal: MIP solution is not a valid plan: %s", why);
        goto fail;
    }
    for (size_t j = 0; j < nk; j++)
        free(units[j]);
    free(units);
    free(nunits);
    free(slot_node);
    free(used_rep);
    *out = plan;
    return 0;
bad_f:
    rc = vp_errf(e, VP_ESOLVER, "internal: MIP solution does not place: %s", vp_strerror(rc));
fail_f:
    free(freeidx);
    goto fail_r;
oom_f:
    free(freeidx);
oom_r:
    rc = vp_errf(e, -ENOMEM, "out of memory");
    goto fail_r;
bad_r:
    rc = vp_errf(e, VP_ESOLVER, "internal: pinned placement does not fit: %s", vp_strerror(rc));
fail_r:
    free(rep_off);
    goto fail;
oom:
    rc = vp_errf(e, -ENOMEM, "out of memory");
fail:
    for (size_t j = 0; units && j < nk; j++)
        free(units[j]);
    free(units);
    free(nunits);
    free(slot_node);
    free(used_rep);
    place_plan_free(plan);
    return rc;
}

/* ---- solving ---- */

typedef struct cbinfo {
    const double *warm;
    bool warm_given, warm_accepted;
    double deadline_ms;
    double known_bound; /* proven elsewhere (colgen), penalised objective scale */
    double best_bound;
    bool proven; /* stopped because the incumbent meets the bound */
    const plan_problem *p;
} cbinfo;

static void mip_callback(glp_tree *T, void *info)
{
    cbinfo *cb = info;
    int reason = glp_ios_reason(T);
    if (reason == GLP_IHEUR && cb->warm && !cb->warm_given) {
        cb->warm_given = true;
        cb->warm_accepted = glp_ios_heur_sol(T, cb->warm) == 0;
    }
    int bn = glp_ios_best_node(T);
    if (bn) {
        double b = glp_ios_node_bound(T, bn);
        if (b > cb->best_bound) cb->best_bound = b;
    }
    glp_prob *P = glp_ios_get_prob(T);
    if (glp_mip_status(P) == GLP_FEAS) {
        double inc = glp_mip_obj_val(P);
        double lb = cb->best_bound > cb->known_bound ? cb->best_bound : cb->known_bound;
        if (inc <= plan_round_bound(cb->p, lb) + 1e-9 * (1 + fabs(inc))) {
            cb->proven = true;
            glp_ios_terminate(T);
            return;
        }
    }
    if (cb->deadline_ms > 0 && plan_now_ms() > cb->deadline_ms) glp_ios_terminate(T);
}

typedef struct solve_out {
    double *x; /* 1-based solution */
    bool have_x;
    bool optimal;
    double bound; /* valid bound on the penalised objective */
    double lp_obj;
    int glp_rc;
} solve_out;

static int mip_solve_guarded(mip *m, cbinfo *cb, double time_limit_s, const char *export_lp,
                             bool export_only, solve_out *so, vp_err *e)
{
    jmp_buf jb, *prev = tl_jmp;
    if (setjmp(jb)) {
        m->P = NULL;
        glpk_lost(prev);
        return vp_errf(e, VP_ESOLVER, "GLPK failed (internal error in the solver library)");
    }
    glpk_enter(&jb);
    mip_load(m, export_lp != NULL);
    if (export_lp) {
        glp_cpxcp cp;
        glp_init_cpxcp(&cp);
        if (glp_write_lp(m->P, &cp, export_lp) != 0) {
            tl_jmp = prev;
            return vp_errf(e, -EIO, "%s: cannot write the LP file", export_lp);
        }
    }
    if (export_only) {
        tl_jmp = prev;
        return 0;
    }
    double t0 = plan_now_ms();
    glp_smcp sm;
    glp_init_smcp(&sm);
    sm.msg_lev = GLP_MSG_OFF;
    sm.tm_lim = (int)(time_limit_s * 1000);
    if (sm.tm_lim < 1) sm.tm_lim = 1;
    glp_scale_prob(m->P, GLP_SF_AUTO);
    glp_adv_basis(m->P, 0);
    int rc = glp_simplex(m->P, &sm);
    so->glp_rc = rc;
    if (rc == 0 && glp_get_status(m->P) == GLP_OPT) {
        so->lp_obj = glp_get_obj_val(m->P);
        so->bound = so->lp_obj;
        cb->best_bound = so->lp_obj;
    } else if (rc == 0 && glp_get_status(m->P) == GLP_NOFEAS) {
        tl_jmp = prev;
        return vp_errf(e, VP_ESOLVER, "MIP: the LP relaxation is infeasible");
    } else {
        tl_jmp = prev;
        if (rc == GLP_ETMLIM) return 0; /* no time left: the caller keeps its warm plan */
        return vp_errf(e, VP_ESOLVER, "MIP: LP relaxation failed: %s", glpk_code_name(rc));
    }
    glp_iocp io;
    glp_init_iocp(&io);
    io.msg_lev = GLP_MSG_OFF;
    io.presolve = GLP_OFF;
    io.br_tech = GLP_BR_PCH;
    io.bt_tech = GLP_BT_BLB;
    /* Measured on the classic instances: MIR cuts pay; Gomory, cover and clique cuts, the
     * feasibility pump and proximity search mostly cost time (and GLPK checks its time limit
     * only between nodes, so long root work overruns it). */
    io.mir_cuts = GLP_ON;
    io.pp_tech = GLP_PP_ROOT;
    io.cb_func = mip_callback;
    io.cb_info = cb;
    double left = time_limit_s * 1000 - (plan_now_ms() - t0);
    io.tm_lim = left < 1 ? 1 : (int)left;
    cb->deadline_ms = plan_now_ms() + io.tm_lim;
    rc = glp_intopt(m->P, &io);
    so->glp_rc = rc;
    int st = glp_mip_status(m->P);
    if (rc != 0 && rc != GLP_ETMLIM && rc != GLP_ESTOP && rc != GLP_EMIPGAP) {
        tl_jmp = prev;
        return vp_errf(e, VP_ESOLVER, "MIP: glp_intopt failed: %s", glpk_code_name(rc));
    }
    if (st == GLP_OPT || st == GLP_FEAS) {
        so->have_x = true;
        for (int j = 1; j <= m->ncols; j++)
            so->x[j] = glp_mip_col_val(m->P, j);
        double obj = glp_mip_obj_val(m->P);
        if ((rc == 0 && st == GLP_OPT) || cb->proven) {
            so->optimal = true;
            if (rc == 0 && st == GLP_OPT) so->bound = obj;
        }
    }
    if (cb->best_bound > so->bound) so->bound = cb->best_bound;
    tl_jmp = prev;
    return 0;
}

static void mip_delete(mip *m)
{
    if (!m->P) return;
    jmp_buf jb, *prev = tl_jmp;
    if (setjmp(jb)) {
        glpk_lost(prev);
        return;
    }
    glpk_enter(&jb);
    glp_delete_prob(m->P);
    m->P = NULL;
    tl_jmp = prev;
}

static bool plan_places_all(const plan_problem *p, const place_plan *plan, const plan_names *nm)
{
    for (size_t u = 0; u < plan->n_unplaced; u++) {
        int g = plan_names_find(nm, plan->unplaced[u].model);
        if (g >= 0 && group_placeable(p, (size_t)g)) return false;
    }
    return true;
}

int plan_ilp_run(const plan_problem *p, const plan_ilp_args *a, place_plan **out, vp_err *e)
{
    double t0 = plan_now_ms();
    mip m = {.p = p, .a = a};
    double *x = NULL;
    int rc = mip_layout(&m, e);
    if (rc) goto done;
    size_t est = mip_estimate_cols(&m);
    if ((a->export_only || a->export_lp) && est > PLAN_ILP_EXPORT_MAX_COLS) {
        rc = vp_errf(e, VP_ETOOBIG,
                     "%s: the MIP would have %zu columns (%zu node slots x %zu unit kinds), over "
                     "the export limit of %d",
                     a->export_lp, est, m.ns, m.nk, PLAN_ILP_EXPORT_MAX_COLS);
        goto done;
    }
    bool too_big = est > PLAN_ILP_MAX_COLS && !a->export_only;
    if (too_big && !a->export_lp) {
        rc = vp_errf(e, VP_ETOOBIG,
                     "MIP: %zu columns (%zu node slots x %zu unit kinds) is over "
                     "the limit of %d; use column generation",
                     est, m.ns, m.nk, PLAN_ILP_MAX_COLS);
        goto done;
    }
    if (too_big) {
        /* Write the model for another solver, but do not try to solve it here. */
        plan_ilp_args b = *a;
        b.export_only = true;
        rc = plan_ilp_run(p, &b, NULL, e);
        if (!rc)
            rc = vp_errf(e, VP_ETOOBIG,
                         "MIP: %zu columns is over the limit of %d (written to %s, not solved); "
                         "use column generation",
                         est, PLAN_ILP_MAX_COLS, a->export_lp);
        goto done;
    }
    rc = mip_build(&m, e);
    if (rc) goto done;
    x = calloc((size_t)m.ncols + 1, sizeof *x);
    double *warm = calloc((size_t)m.ncols + 1, sizeof *warm);
    if (!x || !warm) {
        free(warm);
        rc = vp_errf(e, -ENOMEM, "out of memory");
        goto done;
    }
    bool have_warm = a->warm && mip_warm_vector(&m, a->warm, warm);
    cbinfo cb = {.warm = have_warm ? warm : NULL,
                 .known_bound = a->known_bound,
                 .p = p,
                 .best_bound = -1e300};
    solve_out so = {.x = x, .bound = -1e300};
    double limit = a->time_limit_s - (plan_now_ms() - t0) / 1000.0;
    if (limit < 0.05) limit = 0.05;
    rc = mip_solve_guarded(&m, &cb, limit, a->export_lp, a->export_only, &so, e);
    mip_delete(&m);
    if (rc || a->export_only) {
        free(warm);
        goto done;
    }
    place_plan *plan = NULL;
    if (so.have_x) {
        vp_err sub = {0};
        rc = mip_extract(&m, x, &plan, &sub);
        if (rc && rc != -ENOMEM && a->warm) {
            rc = 0; /* numerical trouble in the incumbent: keep the warm plan */
            plan = NULL;
        } else if (rc) {
            vp_errf(e, rc, "%s", sub.msg);
            free(warm);
            goto done;
        }
    }
    if (!plan) {
        if (!a->warm) {
            free(warm);
            rc = vp_errf(e, VP_ESOLVER, "MIP: no feasible plan found within %.1f s",
                         a->time_limit_s);
            goto done;
        }
        plan = place_plan_clone(a->warm);
        if (!plan) {
            free(warm);
            rc = vp_errf(e, -ENOMEM, "out of memory");
            goto done;
        }
        so.optimal = false;
    }
    free(warm);
    /* The MIP's bound is on cost plus penalties; it bounds cost when the plan places everything
     * that can be placed (then no optimal plan pays a penalty either). */
    double bound = 0;
    if (plan_places_all(p, plan, &m.nm)) bound = so.bound > 0 ? so.bound : 0;
    if (a->known_bound > bound) bound = a->known_bound;
    double cont = plan_bound_continuous(p);
    if (!a->current && cont > bound && plan_places_all(p, plan, &m.nm)) bound = cont;
    plan->lower_bound_per_hour = plan_round_bound(p, bound);
    plan_finish(p, plan, "ilp", "feasible", t0);
    if (so.optimal && plan_places_all(p, plan, &m.nm)) {
        /* Proven: the incumbent's cost is the optimum. */
        if (plan->lower_bound_per_hour < plan->cost_per_hour &&
            plan->cost_per_hour - plan->lower_bound_per_hour < 1e-6 * (1 + plan->cost_per_hour))
            plan->lower_bound_per_hour = plan->cost_per_hour;
        if (so.bound >= plan->cost_per_hour - 1e-6 * (1 + plan->cost_per_hour) ||
            plan->lower_bound_per_hour >= plan->cost_per_hour - 1e-9) {
            plan->lower_bound_per_hour = plan->cost_per_hour;
            place_plan_update_cost(plan);
            snprintf(plan->status, sizeof plan->status, "optimal");
        }
    }
    *out = plan;
    rc = 0;
done:
    free(x);
    mip_free(&m);
    return rc;
}

int plan_ilp(const plan_problem *p, const place_plan *warm, double time_limit_s,
             const char *export_lp, place_plan **out, vp_err *e)
{
    plan_ilp_args a = {
        .warm = warm, .max_moves = -1, .time_limit_s = time_limit_s, .export_lp = export_lp};
    return plan_ilp_run(p, &a, out, e);
}

int plan_ilp_export(const plan_problem *p, const place_plan *warm, const char *path, vp_err *e)
{
    plan_ilp_args a = {.warm = warm, .max_moves = -1, .export_lp = path, .export_only = true};
    return plan_ilp_run(p, &a, NULL, e);
}

/* ---------------------------------------------------------------- the auto path */

/* Columns the compact MIP would have for this problem (0 on error). */
static size_t ilp_size(const plan_problem *p, const place_plan *warm)
{
    plan_ilp_args a = {.warm = warm, .max_moves = -1};
    mip m = {.p = p, .a = &a};
    vp_err e = {0};
    size_t n = mip_layout(&m, &e) ? 0 : mip_estimate_cols(&m);
    mip_free(&m);
    return n;
}

static bool places_all(const plan_problem *p, const place_plan *plan)
{
    plan_names nm;
    if (plan_names_new(p, &nm)) return false;
    bool all = plan_places_all(p, plan, &nm);
    plan_names_free(&nm);
    return all;
}

int plan_optimize(const plan_problem *p, const place_plan *warm, const plan_options *o,
                  place_plan **out, vp_err *e)
{
    double t0 = plan_now_ms();
    /* No options: the default 10 s; a limit of 0 still gets a token 0.1 s. */
    double limit = !o ? 10.0 : o->time_limit_s > 0.1 ? o->time_limit_s : 0.1;
    place_plan *own = NULL, *best = NULL, *cand = NULL;
    int rc = 0;
    if (!warm) {
        rc = plan_ffd(p, &own, e);
        if (rc) return rc;
        warm = own;
    }
    if (o && o->export_lp) {
        rc = plan_ilp_export(p, warm, o->export_lp, e);
        if (rc) goto done;
    }
    size_t cols = ilp_size(p, warm);
    bool mip_ok = cols > 0 && cols <= PLAN_ILP_AUTO_COLS;
    /* Column generation first: its bound is the one worth having, and it often closes the gap
     * by itself. The MIP gets what is left when it is small enough to use it. */
    double bound = 0;
    vp_err sub = {0};
    rc = plan_colgen_run(p, warm, mip_ok ? limit * 0.25 : limit, &best, &bound, &sub);
    if (rc == -ENOMEM) {
        vp_errf(e, rc, "%s", sub.msg);
        goto done;
    }
    if (rc) {
        /* A solver failure is not the end: the warm plan stands. */
        best = place_plan_clone(warm);
        if (!best) {
            rc = vp_errf(e, -ENOMEM, "out of memory");
            goto done;
        }
        bound = warm->lower_bound_per_hour;
        rc = 0;
    }
    if (warm->lower_bound_per_hour > bound) bound = warm->lower_bound_per_hour;
    bool all = places_all(p, best);
    bool solved = all && best->cost_per_hour <= bound + 1e-9 * (1 + best->cost_per_hour);
    double left = limit - (plan_now_ms() - t0) / 1000.0;
    if (!solved && mip_ok && left > 0.05) {
        plan_ilp_args a = {
            .warm = best, .max_moves = -1, .time_limit_s = left, .known_bound = all ? bound : 0};
        int r = plan_ilp_run(p, &a, &cand, &sub);
        if (r == -ENOMEM) {
            rc = vp_errf(e, r, "%s", sub.msg);
            goto done;
        }
        if (r == 0) {
            bool c_all = places_all(p, cand);
            if (c_all && cand->lower_bound_per_hour > bound) bound = cand->lower_bound_per_hour;
            if ((c_all && !all) ||
                (c_all == all && cand->cost_per_hour < best->cost_per_hour - 1e-9)) {
                place_plan_free(best);
                best = cand;
                cand = NULL;
            }
        }
    }
    best->lower_bound_per_hour = plan_round_bound(p, bound);
    plan_finish(p, best, best->solver, "feasible", t0);
    *out = best;
    best = NULL;
done:
    place_plan_free(cand);
    place_plan_free(best);
    place_plan_free(own);
    return rc;
}
