/* lp.c - GLPK behind a small interface (see lp.h): the one file that calls it.
 *
 * Every entry point runs inside a guard: it installs an error hook that longjmps back (GLPK
 * would otherwise abort the process), turns terminal output off and installs a hook that
 * swallows whatever GLPK would still print, because a library must not write to the process's
 * stdout (it would corrupt `--report json` and the daemons' output). After a fatal error the
 * thread's GLPK environment is freed, which kills every problem it held: a per-thread generation
 * number makes calls on those dead objects fail with VP_ESOLVER instead of touching freed memory.
 *
 * Locals that live across setjmp are set before it and not changed until a longjmp can happen,
 * which is what C requires; gcc's -Wclobbered cannot see that at -O2 and warns anyway. */
#include <errno.h>
#include <glpk.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lp.h"
#include "lp_cbc.h"
#include "lp_clp.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wclobbered"
#endif

static _Thread_local jmp_buf *tl_jmp;
static _Thread_local unsigned tl_gen = 1;

struct lp_prob {
    glp_prob *P;
    clp_prob *clp; /* set: CLP solves this one (lp_new_fast) */
    unsigned gen;
    int n_rows, n_cols;
};

static void on_error(void *info)
{
    (void)info;
    if (tl_jmp) longjmp(*tl_jmp, 1);
}

static int swallow(void *info, const char *s)
{
    (void)info;
    (void)s;
    return 1; /* non-zero: GLPK prints nothing itself */
}

/* After a fatal error: the environment is undefined; free it and start a new generation. */
static int lost(jmp_buf *prev)
{
    tl_jmp = prev;
    glp_error_hook(NULL, NULL);
    glp_free_env();
    tl_gen++;
    return VP_ESOLVER;
}

static void enter(jmp_buf *jb)
{
    tl_jmp = jb;
    glp_error_hook(on_error, NULL);
    glp_term_hook(swallow, NULL);
    glp_term_out(GLP_OFF);
}

#define GUARD(prev, jb, onlost)                                                                  \
    jmp_buf jb, *prev = tl_jmp;                                                                  \
    if (setjmp(jb)) {                                                                            \
        lost(prev);                                                                              \
        onlost;                                                                                  \
    }                                                                                            \
    enter(&jb)

static bool alive(const lp_prob *lp)
{
    return lp && lp->P && lp->gen == tl_gen;
}

lp_prob *lp_new_fast(const char *name)
{
#ifdef VP_HAVE_CLP
    lp_prob *lp = calloc(1, sizeof *lp);
    if (lp && !(lp->clp = clp_new())) {
        free(lp);
        lp = NULL;
    }
    (void)name;
    return lp;
#else
    return lp_new(name);
#endif
}

lp_prob *lp_new(const char *name)
{
    lp_prob *lp = calloc(1, sizeof *lp);
    if (!lp) return NULL;
    GUARD(prev, jb, {
        free(lp);
        return NULL;
    });
    lp->P = glp_create_prob();
    lp->gen = tl_gen;
    glp_set_prob_name(lp->P, name ? name : "vrampack");
    glp_set_obj_name(lp->P, "cost_per_hour");
    glp_set_obj_dir(lp->P, GLP_MIN);
    tl_jmp = prev;
    return lp;
}

void lp_free(lp_prob *lp)
{
    if (!lp) return;
    if (lp->clp) {
        clp_free(lp->clp);
        free(lp);
        return;
    }
    if (alive(lp)) {
        GUARD(prev, jb, {
            free(lp);
            return;
        });
        glp_delete_prob(lp->P);
        tl_jmp = prev;
    }
    free(lp);
}

static void set_row(glp_prob *P, int i, char sense, double rhs)
{
    switch (sense) {
    case 'G': glp_set_row_bnds(P, i, GLP_LO, rhs, 0); break;
    case 'L': glp_set_row_bnds(P, i, GLP_UP, 0, rhs); break;
    case 'E': glp_set_row_bnds(P, i, GLP_FX, rhs, rhs); break;
    default: glp_set_row_bnds(P, i, GLP_FR, 0, 0); break;
    }
}

static void set_col(glp_prob *P, int j, double lo, double hi)
{
    if (hi < 0)
        glp_set_col_bnds(P, j, GLP_LO, lo, 0);
    else if (hi <= lo)
        glp_set_col_bnds(P, j, GLP_FX, lo, lo);
    else
        glp_set_col_bnds(P, j, GLP_DB, lo, hi);
}

int lp_add_row(lp_prob *lp, char sense, double rhs)
{
    if (lp && lp->clp) return lp->n_rows = clp_add_row(lp->clp, sense, rhs) + 1, lp->n_rows - 1;
    if (!alive(lp)) return VP_ESOLVER;
    GUARD(prev, jb, return VP_ESOLVER);
    int i = glp_add_rows(lp->P, 1);
    set_row(lp->P, i, sense, rhs);
    tl_jmp = prev;
    lp->n_rows = i;
    return i - 1;
}

int lp_add_col(lp_prob *lp, double cost, double lo, double hi, int nnz, const int *rows,
               const double *vals)
{
    if (lp && lp->clp) {
        for (int k = 0; k < nnz; k++)
            if (rows[k] < 0 || rows[k] >= lp->n_rows) return VP_ESOLVER;
        lp->n_cols = clp_add_col(lp->clp, cost, lo, hi, nnz, rows, vals) + 1;
        return lp->n_cols - 1;
    }
    if (!alive(lp) || nnz < 0) return VP_ESOLVER;
    int *ind = malloc(((size_t)nnz + 1) * sizeof *ind);
    double *val = malloc(((size_t)nnz + 1) * sizeof *val);
    int rc = 0;
    if (!ind || !val) rc = -ENOMEM;
    for (int k = 0; k < nnz && !rc; k++) {
        if (rows[k] < 0 || rows[k] >= lp->n_rows) rc = VP_ESOLVER;
        ind[k + 1] = rows[k] + 1;
        val[k + 1] = vals[k];
    }
    if (rc) {
        free(ind);
        free(val);
        return rc;
    }
    GUARD(prev, jb, {
        free(ind);
        free(val);
        return VP_ESOLVER;
    });
    int j = glp_add_cols(lp->P, 1);
    glp_set_obj_coef(lp->P, j, cost);
    set_col(lp->P, j, lo, hi);
    glp_set_mat_col(lp->P, j, nnz, ind, val);
    tl_jmp = prev;
    free(ind);
    free(val);
    lp->n_cols = j;
    return j - 1;
}

int lp_set_rhs(lp_prob *lp, int row, double rhs)
{
    if (lp && lp->clp && row >= 0 && row < lp->n_rows)
        return clp_set_rhs(lp->clp, row, rhs) ? -ENOMEM : 0;
    if (!alive(lp) || row < 0 || row >= lp->n_rows) return VP_ESOLVER;
    GUARD(prev, jb, return VP_ESOLVER);
    int t = glp_get_row_type(lp->P, row + 1);
    set_row(lp->P, row + 1, t == GLP_LO ? 'G' : t == GLP_UP ? 'L' : t == GLP_FX ? 'E' : 'F', rhs);
    tl_jmp = prev;
    return 0;
}

int lp_set_col_bounds(lp_prob *lp, int col, double lo, double hi)
{
    if (lp && lp->clp && col >= 0 && col < lp->n_cols)
        return clp_set_col_bounds(lp->clp, col, lo, hi) ? -ENOMEM : 0;
    if (!alive(lp) || col < 0 || col >= lp->n_cols) return VP_ESOLVER;
    GUARD(prev, jb, return VP_ESOLVER);
    set_col(lp->P, col + 1, lo, hi);
    tl_jmp = prev;
    return 0;
}

int lp_set_kind(lp_prob *lp, int col, char kind)
{
    if (!alive(lp) || col < 0 || col >= lp->n_cols) return VP_ESOLVER;
    GUARD(prev, jb, return VP_ESOLVER);
    glp_set_col_kind(lp->P, col + 1, kind == 'B' ? GLP_BV : kind == 'I' ? GLP_IV : GLP_CV);
    tl_jmp = prev;
    return 0;
}

int lp_set_col_name(lp_prob *lp, int col, const char *name)
{
    if (!alive(lp) || col < 0 || col >= lp->n_cols) return VP_ESOLVER;
    GUARD(prev, jb, return VP_ESOLVER);
    glp_set_col_name(lp->P, col + 1, name);
    tl_jmp = prev;
    return 0;
}

int lp_n_cols(const lp_prob *lp)
{
    return lp ? lp->n_cols : 0;
}

int lp_del_cols(lp_prob *lp, int n, const int *cols)
{
    if (lp && lp->clp) {
        for (int k = 0; k < n; k++)
            if (cols[k] < 0 || cols[k] >= lp->n_cols) return VP_ESOLVER;
        clp_del_cols(lp->clp, n, cols);
        lp->n_cols -= n;
        return 0;
    }
    if (!alive(lp) || n < 0) return VP_ESOLVER;
    if (n == 0) return 0;
    int *num = malloc(((size_t)n + 1) * sizeof *num);
    if (!num) return -ENOMEM;
    for (int k = 0; k < n; k++) {
        if (cols[k] < 0 || cols[k] >= lp->n_cols) {
            free(num);
            return VP_ESOLVER;
        }
        num[k + 1] = cols[k] + 1;
    }
    GUARD(prev, jb, {
        free(num);
        return VP_ESOLVER;
    });
    glp_del_cols(lp->P, n, num);
    tl_jmp = prev;
    free(num);
    lp->n_cols -= n;
    return 0;
}

bool lp_is_basic(const lp_prob *lp, int col)
{
    if (lp && lp->clp) return col >= 0 && col < lp->n_cols && clp_is_basic(lp->clp, col);
    if (!alive(lp) || col < 0 || col >= lp->n_cols) return false;
    return glp_get_col_stat(lp->P, col + 1) == GLP_BS;
}

int lp_n_rows(const lp_prob *lp)
{
    return lp ? lp->n_rows : 0;
}

int lp_load(lp_prob *lp, const lp_model *m)
{
    if (!alive(lp) || lp->n_rows || lp->n_cols || m->n_rows < 0 || m->n_cols < 0)
        return VP_ESOLVER;
    size_t nz = m->nnz;
    int *ia = malloc((nz + 1) * sizeof *ia), *ja = malloc((nz + 1) * sizeof *ja);
    double *ar = malloc((nz + 1) * sizeof *ar);
    int rc = ia && ja && ar ? 0 : -ENOMEM;
    for (size_t k = 0; k < nz && !rc; k++) {
        if (m->row[k] < 0 || m->row[k] >= m->n_rows || m->col[k] < 0 || m->col[k] >= m->n_cols)
            rc = VP_ESOLVER;
        else {
            ia[k + 1] = m->row[k] + 1;
            ja[k + 1] = m->col[k] + 1;
            ar[k + 1] = m->val[k];
        }
    }
    if (rc) goto out;
    {
        GUARD(prev, jb, {
            rc = VP_ESOLVER;
            goto out;
        });
        if (m->n_rows) glp_add_rows(lp->P, m->n_rows);
        if (m->n_cols) glp_add_cols(lp->P, m->n_cols);
        for (int i = 0; i < m->n_rows; i++)
            set_row(lp->P, i + 1, m->sense[i], m->rhs[i]);
        for (int j = 0; j < m->n_cols; j++) {
            char k = m->kind ? m->kind[j] : 'C';
            glp_set_obj_coef(lp->P, j + 1, m->cost[j]);
            glp_set_col_kind(lp->P, j + 1, k == 'B' ? GLP_BV : k == 'I' ? GLP_IV : GLP_CV);
            if (k != 'B') set_col(lp->P, j + 1, m->lo[j], m->hi[j]);
        }
        glp_load_matrix(lp->P, (int)nz, ia, ja, ar);
        tl_jmp = prev;
        lp->n_rows = m->n_rows;
        lp->n_cols = m->n_cols;
    }
out:
    free(ia);
    free(ja);
    free(ar);
    return rc;
}

int lp_write(lp_prob *lp, const char *path)
{
    if (!alive(lp)) return VP_ESOLVER;
    GUARD(prev, jb, return VP_ESOLVER);
    glp_cpxcp cp;
    glp_init_cpxcp(&cp);
    int rc = glp_write_lp(lp->P, &cp, path);
    tl_jmp = prev;
    return rc ? -EIO : 0;
}

/* Milliseconds GLPK may spend: the budget's time left, at least 1 ms. Without a clock the
 * budget counts ticks; GLPK then gets the whole limit as a safety net. */
static int time_limit_ms(const bg_budget *b)
{
    double ms = b->clock ? bg_left_s(b) * 1000 : b->limit_s * 1000;
    if (ms < 1) ms = 1;
    return ms > 2e9 ? 2000000000 : (int)ms;
}

int lp_solve(lp_prob *lp, bg_budget *b, bool dual, double *obj)
{
    if (lp && lp->clp) {
        if (bg_over(b)) return LP_STOPPED;
        int r = clp_solve(lp->clp, time_limit_ms(b) / 1000.0, dual, obj);
        return r == 0 ? 0 : r == 1 ? VP_ENOSPACE : r == 2 ? LP_STOPPED : VP_ESOLVER;
    }
    if (!alive(lp)) return VP_ESOLVER;
    if (bg_over(b)) return LP_STOPPED;
    glp_smcp sm;
    glp_init_smcp(&sm);
    sm.msg_lev = GLP_MSG_OFF;
    sm.presolve = GLP_OFF;
    sm.meth = dual ? GLP_DUALP : GLP_PRIMAL;
    sm.tm_lim = time_limit_ms(b);
    GUARD(prev, jb, return VP_ESOLVER);
    int rc = glp_simplex(lp->P, &sm);
    if (rc == GLP_EBADB || rc == GLP_ESING || rc == GLP_ECOND) {
        /* A basis gone bad after many added columns: start again from an advanced basis. */
        glp_adv_basis(lp->P, 0);
        rc = glp_simplex(lp->P, &sm);
    }
    int st = rc ? 0 : glp_get_status(lp->P);
    if (obj) *obj = rc ? 0 : glp_get_obj_val(lp->P);
    tl_jmp = prev;
    if (rc == GLP_ETMLIM || rc == GLP_EITLIM) return LP_STOPPED;
    if (rc) return VP_ESOLVER;
    if (st == GLP_OPT) return 0;
    if (st == GLP_NOFEAS || st == GLP_INFEAS) return VP_ENOSPACE;
    return VP_ESOLVER;
}

/* Reading values never fails in GLPK once the indices are valid, which we check. */
double lp_col(const lp_prob *lp, int col)
{
    if (lp && lp->clp) return col >= 0 && col < lp->n_cols ? clp_col(lp->clp, col) : 0;
    if (!alive(lp) || col < 0 || col >= lp->n_cols) return 0;
    return glp_get_col_prim(lp->P, col + 1);
}

double lp_dual(const lp_prob *lp, int row)
{
    if (lp && lp->clp) return row >= 0 && row < lp->n_rows ? clp_dual(lp->clp, row) : 0;
    if (!alive(lp) || row < 0 || row >= lp->n_rows) return 0;
    return glp_get_row_dual(lp->P, row + 1);
}

double lp_reduced_cost(const lp_prob *lp, int col)
{
    if (lp && lp->clp) return col >= 0 && col < lp->n_cols ? clp_reduced_cost(lp->clp, col) : 0;
    if (!alive(lp) || col < 0 || col >= lp->n_cols) return 0;
    return glp_get_col_dual(lp->P, col + 1);
}

double lp_round_up(double v, double quantum)
{
    if (!(quantum > 0)) return v;
    double q = v / quantum;
    double r = ceil(q - 1e-7 * (1 + fabs(q)));
    return r > q ? r * quantum : v; /* never lower a bound by rounding */
}

typedef struct mip_cb {
    bg_budget *b;
    const lp_mip_opts *o;
    const double *warm1; /* 1-based */
    bool warm_given, warm_taken, proven;
    double best_bound;
} mip_cb;

static void mip_callback(glp_tree *T, void *info)
{
    mip_cb *cb = info;
    if (glp_ios_reason(T) == GLP_IHEUR && cb->warm1 && !cb->warm_given) {
        cb->warm_given = true;
        cb->warm_taken = glp_ios_heur_sol(T, cb->warm1) == 0;
    }
    int bn = glp_ios_best_node(T);
    if (bn) {
        double v = glp_ios_node_bound(T, bn);
        if (v > cb->best_bound) cb->best_bound = v;
    }
    glp_prob *P = glp_ios_get_prob(T);
    if (glp_mip_status(P) == GLP_FEAS) {
        double inc = glp_mip_obj_val(P), tol = 1e-9 * (1 + fabs(inc));
        if (inc <= cb->o->stop_at + tol ||
            inc <= lp_round_up(cb->best_bound, cb->o->quantum) + tol) {
            cb->proven = true;
            glp_ios_terminate(T);
            return;
        }
    }
    if (bg_over(cb->b)) glp_ios_terminate(T);
}

/* The LP relaxation (scaled, from an advanced basis); 0, LP_STOPPED, VP_ENOSPACE or VP_ESOLVER. */
static int mip_root(lp_prob *lp, bg_budget *b, double *lp_obj)
{
    glp_smcp sm;
    glp_init_smcp(&sm);
    sm.msg_lev = GLP_MSG_OFF;
    sm.tm_lim = time_limit_ms(b);
    glp_scale_prob(lp->P, GLP_SF_AUTO);
    glp_adv_basis(lp->P, 0);
    int rc = glp_simplex(lp->P, &sm);
    if (rc == GLP_ETMLIM || rc == GLP_EITLIM) return LP_STOPPED;
    if (rc) return VP_ESOLVER;
    int st = glp_get_status(lp->P);
    if (st == GLP_NOFEAS || st == GLP_INFEAS) return VP_ENOSPACE;
    if (st != GLP_OPT) return VP_ESOLVER;
    *lp_obj = glp_get_obj_val(lp->P);
    return 0;
}

int lp_mip(lp_prob *lp, bg_budget *b, const lp_mip_opts *o, double *x, lp_mip_result *r)
{
    *r = (lp_mip_result){.bound = -INFINITY};
    if (!alive(lp)) return VP_ESOLVER;
    double *w1 = NULL;
    if (o->warm) {
        w1 = malloc(((size_t)lp->n_cols + 1) * sizeof *w1);
        if (!w1) return -ENOMEM;
        w1[0] = 0;
        memcpy(w1 + 1, o->warm, (size_t)lp->n_cols * sizeof *w1);
    }
    mip_cb cb = {.b = b, .o = o, .warm1 = w1, .best_bound = -INFINITY};
    int rc = 0;
    GUARD(prev, jb, {
        free(w1);
        return VP_ESOLVER;
    });
    double lp_obj = 0;
    int root = mip_root(lp, b, &lp_obj);
    if (root == 0) {
        cb.best_bound = lp_obj;
        glp_iocp io;
        glp_init_iocp(&io);
        io.msg_lev = GLP_MSG_OFF;
        io.presolve = GLP_OFF;
        io.br_tech = GLP_BR_PCH;
        io.bt_tech = GLP_BT_BLB;
        /* Measured on the classic instances: MIR cuts pay; Gomory, cover and clique cuts, the
         * feasibility pump and proximity search mostly cost time (and GLPK checks its time
         * limit only between nodes, so long root work overruns it). */
        /* GLPK checks its time limit only between nodes: on large models the cut rounds
         * alone can outlast the budget, so cuts are for small ones. */
        io.mir_cuts = lp->n_cols <= 5000 ? GLP_ON : GLP_OFF;
        io.pp_tech = GLP_PP_ROOT;
        io.mip_gap = o->rel_gap > 0 ? o->rel_gap : 0;
        io.cb_func = mip_callback;
        io.cb_info = &cb;
        io.tm_lim = time_limit_ms(b);
        int g = glp_intopt(lp->P, &io);
        int st = glp_mip_status(lp->P);
        if (g != 0 && g != GLP_ETMLIM && g != GLP_ESTOP && g != GLP_EMIPGAP) rc = VP_ESOLVER;
        if (!rc && (st == GLP_OPT || st == GLP_FEAS)) {
            r->found = true;
            r->obj = glp_mip_obj_val(lp->P);
            for (int j = 0; j < lp->n_cols; j++)
                x[j] = glp_mip_col_val(lp->P, j + 1);
            r->optimal = (g == 0 && st == GLP_OPT) || cb.proven;
            if (g == 0 && st == GLP_OPT && cb.best_bound < r->obj) cb.best_bound = r->obj;
        }
        r->bound = cb.best_bound;
    } else if (root == VP_ESOLVER) {
        rc = VP_ESOLVER;
    }
    r->warm_taken = cb.warm_taken;
    tl_jmp = prev;
    free(w1);
    return rc;
}

int lp_triplets_add(lp_triplets *t, int row, int col, double v)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 4096;
        int *r = realloc(t->row, cap * sizeof *r);
        if (r) t->row = r;
        int *c = realloc(t->col, cap * sizeof *c);
        if (c) t->col = c;
        double *x = realloc(t->val, cap * sizeof *x);
        if (x) t->val = x;
        if (!r || !c || !x) return -ENOMEM;
        t->cap = cap;
    }
    t->row[t->n] = row;
    t->col[t->n] = col;
    t->val[t->n++] = v;
    return 0;
}

void lp_triplets_free(lp_triplets *t)
{
    free(t->row);
    free(t->col);
    free(t->val);
    memset(t, 0, sizeof *t);
}

/* Branch-and-bound nodes a budget tick stands for when CBC runs without a clock. */
#define LP_CBC_NODES_PER_TICK 2
#define LP_CBC_POLL_NS 50000000L /* the budget's polls while CBC runs on a clock */

typedef struct cbc_job {
    const lp_model *m;
    const cbc_args *a;
    double *x, obj, bound;
    bool optimal;
    long nodes;
    int rc;
    atomic_bool done;
} cbc_job;

static void *cbc_thread(void *arg)
{
    cbc_job *j = arg;
    j->rc = cbc_mip(j->m, j->a, j->x, &j->obj, &j->bound, &j->optimal, &j->nodes);
    atomic_store(&j->done, true);
    return NULL;
}

/* CBC cannot be polled, so on a clock it runs in a thread of its own while this one keeps
 * polling the budget: progress reports go on about once a second, and a stop request is noted
 * at once (CBC itself still runs to its time limit). Without a clock it runs here, so that the
 * ticks, and the result, stay deterministic.
 * CLP's root solve inside CBC installs a SIGINT handler of its own for its duration (and then
 * puts back the caller's handler, without its flags): a Ctrl-C in that window would stop the LP
 * and never reach the caller. So SIGINT stays blocked in this thread and in CBC's while CBC runs,
 * the caller's action is put back as it was, and a SIGINT that came meanwhile is delivered to it
 * once CBC is done. */
static int run_cbc(const lp_model *m, const cbc_args *a, bg_budget *b, double *x,
                   lp_mip_result *r, long *nodes)
{
    cbc_job j = {.m = m, .a = a, .x = x, .bound = -INFINITY};
    atomic_init(&j.done, false);
    sigset_t intr, mask;
    sigemptyset(&intr);
    sigaddset(&intr, SIGINT);
    struct sigaction action;
    pthread_sigmask(SIG_BLOCK, &intr, &mask);
    sigaction(SIGINT, NULL, &action);
    pthread_t t;
    if (!b->clock || pthread_create(&t, NULL, cbc_thread, &j) != 0) {
        cbc_thread(&j);
    } else {
        const struct timespec pause = {0, LP_CBC_POLL_NS};
        while (!atomic_load(&j.done)) {
            nanosleep(&pause, NULL);
            bg_over(b);
        }
        pthread_join(t, NULL);
    }
    sigaction(SIGINT, &action, NULL);
    pthread_sigmask(SIG_SETMASK, &mask, NULL);
    r->obj = j.obj;
    r->bound = j.bound;
    r->optimal = j.optimal;
    *nodes = j.nodes;
    return j.rc;
}

int lp_mip_model(const lp_model *m, bg_budget *b, const lp_mip_opts *o, double *x,
                 lp_mip_result *r)
{
    *r = (lp_mip_result){.bound = -INFINITY};
    if (bg_over(b)) return 0;
    if (cbc_available()) {
        /* No cutoff: measured on Hard28's integer masters, a cutoff just under the incumbent
         * kept CBC from finding in 20 s the solution it found in 2 s without one. */
        cbc_args a = {.seconds = b->clock ? bg_left_s(b) : b->limit_s,
                      .max_nodes = -1,
                      .no_cuts = !(o->variant & 1)};
        if (!b->clock) a.max_nodes = (long)(bg_left_s(b) * BG_TICKS_PER_S * LP_CBC_NODES_PER_TICK);
        if (o->known_lower > 0 && isfinite(o->stop_at) && o->stop_at >= o->known_lower)
            a.abs_gap = o->stop_at - o->known_lower + 1e-9 * (1 + fabs(o->stop_at));
        long nodes = 0;
        int rc = run_cbc(m, &a, b, x, r, &nodes);
        if (!b->clock) b->ticks += (unsigned long)(nodes / LP_CBC_NODES_PER_TICK);
        if (rc == -ENOMEM) return rc;
        if (rc == -1) return VP_ESOLVER;
        if (rc != -2) {
            r->found = rc == 1;
            return 0;
        }
    }
    lp_prob *lp = lp_new("vrampack-mip");
    if (!lp) return -ENOMEM;
    int rc = lp_load(lp, m);
    if (!rc) rc = lp_mip(lp, b, o, x, r);
    lp_free(lp);
    return rc;
}
