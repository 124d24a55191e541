/* test_lp.c - the LP/MIP layer: GLPK writes nothing to the process's stdout or stderr (not on a
 * solve, not on a failed file write, not on a fatal error, which comes back as VP_ESOLVER with the
 * thread's GLPK objects retired cleanly), every solve stops at the budget, and a stop request
 * from the progress callback ends a running branch and bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lp.h"
#include "solver_fixture.h"

/* Runs fn with fds 1 and 2 going to a file; returns how many bytes were written there. */
static long captured(void (*fn)(void *), void *arg)
{
    char path[] = "/tmp/test_lp_out_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stdout);
    fflush(stderr);
    int o1 = dup(1), o2 = dup(2);
    dup2(fd, 1);
    dup2(fd, 2);
    fn(arg);
    fflush(stdout);
    fflush(stderr);
    dup2(o1, 1);
    dup2(o2, 2);
    close(o1);
    close(o2);
    long n = lseek(fd, 0, SEEK_END);
    if (n > 0) {
        char buf[512] = "";
        lseek(fd, 0, SEEK_SET);
        ssize_t r = read(fd, buf, sizeof buf - 1);
        buf[r > 0 ? r : 0] = 0;
        fprintf(stderr, "captured output: %s\n", buf);
    }
    close(fd);
    remove(path);
    return n;
}

static void budget(bg_budget *b, double seconds)
{
    plan_options o;
    plan_options_default(&o);
    o.time_limit_s = seconds;
    bg_init(b, &o);
}

/* A small knapsack-like MIP: max value in 3 items of weight 3, 4, 5 under 7 (as minimisation). */
static lp_prob *small_mip(void)
{
    lp_prob *lp = lp_new("t");
    assert_non_null(lp);
    assert_int_equal(lp_add_row(lp, 'L', 7), 0);
    const double w[] = {3, 4, 5}, v[] = {4, 5, 6};
    for (int j = 0; j < 3; j++) {
        int row = 0;
        assert_int_equal(lp_add_col(lp, -v[j], 0, 1, 1, &row, &w[j]), j);
        assert_int_equal(lp_set_kind(lp, j, 'B'), 0);
    }
    return lp;
}

static void solve_and_fail_quietly(void *arg)
{
    int *rc = arg;
    bg_budget b;
    budget(&b, 5);
    lp_prob *lp = small_mip();
    double x[3];
    lp_mip_opts o = {.stop_at = -1e300};
    lp_mip_result r;
    rc[0] = lp_mip(lp, &b, &o, x, &r);
    rc[1] = r.found && r.optimal && r.obj < -8.999 && r.obj > -9.001; /* 3 + 4 */
    rc[2] = lp_write(lp, "/nonexistent-dir/x.lp");
    lp_free(lp);
}

static void glpk_prints_nothing_on_solves_and_failed_writes(void **state)
{
    (void)state;
    int rc[3];
    long n = captured(solve_and_fail_quietly, rc);
    assert_int_equal(rc[0], 0);
    assert_int_equal(rc[1], 1);
    assert_int_not_equal(rc[2], 0);
    assert_int_equal(n, 0);
}

static void fatal_error_quietly(void *arg)
{
    int *rc = arg;
    bg_budget b;
    budget(&b, 5);
    lp_prob *older = small_mip();
    lp_prob *lp = lp_new("bad");
    /* The same element twice: GLPK's glp_load_matrix stops the process on this. */
    const char sense[] = {'L'};
    const double rhs[] = {1}, cost[] = {1}, lo[] = {0}, hi[] = {1}, val[] = {1, 1};
    const int row[] = {0, 0}, col[] = {0, 0};
    lp_model m = {.n_rows = 1, .n_cols = 1, .sense = sense, .rhs = rhs, .cost = cost, .lo = lo,
                  .hi = hi, .nnz = 2, .row = row, .col = col, .val = val};
    rc[0] = lp_load(lp, &m);
    double obj;
    rc[1] = lp_solve(older, &b, false, &obj); /* retired with the environment */
    lp_free(lp);
    lp_free(older);
    lp_prob *fresh = small_mip(); /* a new environment works */
    rc[2] = lp_solve(fresh, &b, false, &obj);
    lp_free(fresh);
}

static void a_glpk_fatal_error_is_an_error_code_and_prints_nothing(void **state)
{
    (void)state;
    int rc[3];
    long n = captured(fatal_error_quietly, rc);
    assert_int_equal(rc[0], VP_ESOLVER);
    assert_int_equal(rc[1], VP_ESOLVER);
    assert_int_equal(rc[2], 0);
    assert_int_equal(n, 0);
}

static double now_ms(void *ctx)
{
    (void)ctx;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int stop_after(const plan_progress *pr, void *ctx)
{
    (void)pr;
    int *calls = ctx;
    return ++*calls >= 20;
}

/* A MIP too hard to finish (many equal-value items into a capacity no subset fills) stops on
 * the stop request within a few callbacks, keeping the incumbent. */
static void a_stop_request_ends_branch_and_bound(void **state)
{
    (void)state;
    int calls = 0;
    plan_options o;
    plan_options_default(&o);
    o.time_limit_s = 60;
    o.clock = now_ms;
    o.progress = stop_after;
    o.progress_ctx = &calls;
    bg_budget b;
    bg_init(&b, &o);
    lp_prob *lp = lp_new("hard");
    assert_int_equal(lp_add_row(lp, 'L', 1001), 0);
    for (int j = 0; j < 60; j++) {
        int row = 0;
        double w = 2 * (50 + j), v = -w;
        assert_int_equal(lp_add_col(lp, v, 0, 1, 1, &row, &w), j);
        assert_int_equal(lp_set_kind(lp, j, 'B'), 0);
    }
    double x[60], t0 = now_ms(NULL);
    lp_mip_opts mo = {.stop_at = -1e300};
    lp_mip_result r;
    assert_int_equal(lp_mip(lp, &b, &mo, x, &r), 0);
    double ms = now_ms(NULL) - t0;
    assert_true(b.cancelled);
    if (ms > 5000) fail_msg("stopped after %.0f ms", ms);
    if (r.found) assert_le(r.obj, 0);
    lp_free(lp);
}

/* The simplex stops at the deadline: an LP with a deadline already gone is not solved. */
static void an_exhausted_budget_stops_the_simplex(void **state)
{
    (void)state;
    plan_options o;
    plan_options_default(&o);
    o.clock = now_ms;
    o.deadline_ms = now_ms(NULL) - 1;
    bg_budget b;
    bg_init(&b, &o);
    for (int fast = 0; fast < 2; fast++) {
        lp_prob *lp = fast ? lp_new_fast("t") : lp_new("t");
        int row = lp_add_row(lp, 'G', 1);
        double one = 1, obj;
        lp_add_col(lp, 1, 0, -1, 1, &row, &one);
        assert_int_equal(lp_solve(lp, &b, false, &obj), LP_STOPPED);
        lp_free(lp);
    }
}

/* The knapsack above as a whole model for lp_mip_model (CBC when the build has it). */
static void whole_model_mip(void *arg)
{
    double *out = arg;
    const char sense[] = {'L'};
    const double rhs[] = {7}, cost[] = {-4, -5, -6}, lo[] = {0, 0, 0}, hi[] = {1, 1, 1};
    const char kind[] = {'B', 'B', 'B'};
    const int row[] = {0, 0, 0}, col[] = {0, 1, 2};
    const double val[] = {3, 4, 5};
    lp_model m = {.n_rows = 1, .n_cols = 3, .sense = sense, .rhs = rhs, .cost = cost,
                  .lo = lo, .hi = hi, .kind = kind, .nnz = 3, .row = row, .col = col,
                  .val = val};
    for (int variant = 0; variant < 2; variant++) {
        bg_budget b;
        budget(&b, 5);
        double x[3] = {-1, -1, -1};
        lp_mip_opts o = {.stop_at = -1e300, .variant = variant};
        lp_mip_result r;
        out[variant * 5] = lp_mip_model(&m, &b, &o, x, &r);
        out[variant * 5 + 1] = r.found ? r.obj : 1;
        for (int j = 0; j < 3; j++)
            out[variant * 5 + 2 + j] = x[j];
    }
}

static void a_whole_model_is_solved_quietly_with_either_setting(void **state)
{
    (void)state;
    double out[10];
    long n = captured(whole_model_mip, out);
    assert_int_equal(n, 0);
    for (int v = 0; v < 2; v++) {
        assert_int_equal((int)out[v * 5], 0);
        assert_true(out[v * 5 + 1] < -8.999 && out[v * 5 + 1] > -9.001); /* items 1 and 2 */
        assert_true(out[v * 5 + 2] > 0.5 && out[v * 5 + 3] > 0.5 && out[v * 5 + 4] < 0.5);
    }
}

/* An exhausted budget: nothing is solved, nothing found, no error. */
static void a_whole_model_on_a_spent_budget_finds_nothing(void **state)
{
    (void)state;
    const char sense[] = {'G'};
    const double rhs[] = {1}, cost[] = {1}, lo[] = {0}, hi[] = {-1};
    const char kind[] = {'I'};
    const int row[] = {0}, col[] = {0};
    const double val[] = {1};
    lp_model m = {.n_rows = 1, .n_cols = 1, .sense = sense, .rhs = rhs, .cost = cost, .lo = lo,
                  .hi = hi, .kind = kind, .nnz = 1, .row = row, .col = col, .val = val};
    bg_budget b;
    budget(&b, 0.001);
    while (!bg_over(&b)) {
    }
    double x[1];
    lp_mip_opts o = {.stop_at = -1e300};
    lp_mip_result r;
    assert_int_equal(lp_mip_model(&m, &b, &o, x, &r), 0);
    assert_false(r.found);
}

static void on_sigint(int sig)
{
    (void)sig;
}

/* CLP's root solve inside CBC installs a SIGINT handler of its own and puts the caller's back
 * without its flags: the caller's action (here with SA_RESETHAND) comes out as it went in. */
static void the_callers_sigint_action_survives_a_whole_model_solve(void **state)
{
    (void)state;
    struct sigaction sa, old, after;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    double out[10];
    whole_model_mip(out);
    sigaction(SIGINT, NULL, &after);
    sigaction(SIGINT, &old, NULL);
    assert_true(out[1] < -8.999);
    assert_true(after.sa_handler == on_sigint);
    assert_true(after.sa_flags & SA_RESETHAND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(glpk_prints_nothing_on_solves_and_failed_writes),
        cmocka_unit_test(a_glpk_fatal_error_is_an_error_code_and_prints_nothing),
        cmocka_unit_test(a_stop_request_ends_branch_and_bound),
        cmocka_unit_test(an_exhausted_budget_stops_the_simplex),
        cmocka_unit_test(a_whole_model_is_solved_quietly_with_either_setting),
        cmocka_unit_test(a_whole_model_on_a_spent_budget_finds_nothing),
        cmocka_unit_test(the_callers_sigint_action_survives_a_whole_model_solve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
