/* cmd_plan.c - `vrampack plan`: manifest + fleet -> plan file and report.
 *
 * Nothing is written unless the whole job succeeded: inputs are parsed and solved first, the plan
 * file is written atomically (temp + rename), and only then is the report printed. Exit 0 when
 * every replica is placed, 1 when some are unplaced (the plan and report still list them), 2 on
 * bad input or usage.
 *
 * The solver runs for its time limit (or until its bound proves the plan optimal). This command
 * owns the clock it reads, prints progress on stderr about once a second when stderr is a
 * terminal or --progress is given, and turns the first SIGINT into a stop request: the solver
 * returns the best plan it has, which is written as usual (a second SIGINT ends the process). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "nodeloss.h"
#include "planjson.h"
#include "planner.h"
#include "report.h"
#include "vp_json.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* The solver's clock: monotonic milliseconds. */
static double clock_ms(void *ctx)
{
    (void)ctx;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

typedef struct progress {
    bool print;
    double last_ms;
    bool told_stop;
} progress;

/* Progress on stderr at most once a second; a stop request after SIGINT. */
static int on_progress(const plan_progress *pr, void *ctx)
{
    progress *pg = ctx;
    double now = clock_ms(NULL);
    if (interrupted && !pg->told_stop) {
        pg->told_stop = true;
        fprintf(stderr, "vrampack plan: interrupted: keeping the best plan found so far\n");
    }
    if (pg->print && now - pg->last_ms >= 1000) {
        pg->last_ms = now;
        if (pr->cost_per_hour < 0)
            fprintf(stderr, "[%6.1fs] %-6s no plan yet, bound $%.2f/h\n", pr->elapsed_s, pr->phase,
                    pr->bound_per_hour);
        else
            fprintf(stderr, "[%6.1fs] %-6s $%.2f/h, bound $%.2f/h, gap %.2f%%%s\n", pr->elapsed_s,
                    pr->phase, pr->cost_per_hour, pr->bound_per_hour, 100 * pr->gap,
                    pr->unplaced ? ", some replicas unplaced" : "");
    }
    return interrupted ? 1 : 0;
}

_Static_assert(PLAN_NPLUS1_MAX_NODES == 1000, "the --help text names the N+1 limit");

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vrampack plan MANIFEST [--fleet FILE] [--solver auto|ffd|ilp]\n"
            "                     [--time-limit SEC] [--progress] [--out plan.json]\n"
            "                     [--report [text|md|json|html]] [--export-lp FILE]\n"
            "                     [--spare-nodes 0|1] [--nplus1-time-limit SEC]\n"
            "                     [--current plan.json [--max-moves N] [--moves FILE]]\n"
            "\n"
            "Packs the manifest's model replicas onto the cheapest set of GPU nodes.\n"
            "\n"
            "  MANIFEST           models to place (JSON, see README \"Manifest\"); - reads it\n"
            "                     from standard input (hf_config paths from the current dir)\n"
            "  --fleet FILE       GPU models, instance catalog and/or inventory nodes;\n"
            "                     default: the built-in catalog of cloud instance types\n"
            "  --solver S         ffd (first-fit decreasing, fast), ilp (GLPK MIP first), or\n"
            "                     auto (FFD, then improve within the time limit; default)\n"
            "  --time-limit SEC   time to search for a better plan and a better bound (default\n"
            "                     10); the search ends sooner when the plan is proven optimal\n"
            "  --progress         print progress on stderr about once a second (the default\n"
            "                     when stderr is a terminal); Ctrl-C stops the search and\n"
            "                     keeps the best plan found so far\n"
            "  --out FILE         write the plan as JSON (written atomically)\n"
            "  --report [FMT]     print a cost review: text (default), md, json or html,\n"
            "                     with the N+1 table (what losing each node costs)\n"
            "  --spare-nodes N    1: add the cheapest spare node(s) so that the loss of any one\n"
            "                     node re-places every replica without buying (default 0)\n"
            "                     (the N+1 analysis runs on plans of up to 1000 nodes)\n"
            "  --nplus1-time-limit SEC  search time for the N+1 analysis, shared by the nodes\n"
            "                     (default 1; it is deterministic: effort, not the clock)\n"
            "  --export-lp FILE   write the MIP in CPLEX LP format (solve it with another solver)\n"
            "  --current FILE     rebalance: start from this plan and move few replicas\n"
            "  --max-moves N      at most N running replicas move (default: no limit; 0 only\n"
            "                     places what is new or unplaced)\n"
            "  --moves FILE       write the move list as JSON (printed as text otherwise)\n"
            "\n"
            "Without --report and --out, prints the plan JSON on stdout.\n"
            "exit: 0 all placed, 1 some replicas unplaced, 2 bad input or usage\n");
}

typedef struct args {
    const char *manifest, *fleet, *out, *current, *moves;
    long max_moves;
    unsigned spare_nodes;
    double nplus1_s;
    bool report, progress;
    plan_report_fmt fmt;
    plan_options opt;
} args;

enum {
    O_FLEET = 256,
    O_OUT,
    O_CURRENT,
    O_MOVES,
    O_MAX_MOVES,
    O_EXPORT,
    O_SOLVER,
    O_TIME,
    O_REPORT,
    O_PROGRESS,
    O_SPARE,
    O_NPLUS1_TIME,
    O_HELP
};

static int parse_option(args *a, int c, const char *arg)
{
    switch (c) {
    case O_FLEET:
        a->fleet = arg;
        return 0;
    case O_OUT:
        a->out = arg;
        return 0;
    case O_CURRENT:
        a->current = arg;
        return 0;
    case O_MOVES:
        a->moves = arg;
        return 0;
    case O_EXPORT:
        a->opt.export_lp = arg;
        return 0;
    case O_PROGRESS:
        a->progress = true;
        return 0;
    case O_MAX_MOVES: {
        uint64_t v;
        if (!cli_parse_u64("plan", "--max-moves", arg, 0, PLAN_MAX_TOTAL_REPLICAS, false, &v))
            return CLI_USAGE;
        a->max_moves = (long)v;
        return 0;
    }
    case O_SPARE: {
        uint64_t v;
        if (!cli_parse_u64("plan", "--spare-nodes", arg, 0, 1, false, &v)) return CLI_USAGE;
        a->spare_nodes = (unsigned)v;
        return 0;
    }
    case O_NPLUS1_TIME:
        return cli_parse_double("plan", "--nplus1-time-limit", arg, 0.0, 3600.0, &a->nplus1_s)
                   ? 0
                   : CLI_USAGE;
    case O_SOLVER:
        if (!strcmp(arg, "auto"))
            a->opt.solver = PLAN_SOLVER_AUTO;
        else if (!strcmp(arg, "ffd"))
            a->opt.solver = PLAN_SOLVER_FFD;
        else if (!strcmp(arg, "ilp"))
            a->opt.solver = PLAN_SOLVER_ILP;
        else {
            fprintf(stderr, "vrampack plan: --solver: '%s' is not auto, ffd or ilp\n", arg);
            return CLI_USAGE;
        }
        return 0;
    case O_TIME:
        return cli_parse_double("plan", "--time-limit", arg, 0.0, 86400.0, &a->opt.time_limit_s)
                   ? 0
                   : CLI_USAGE;
    default:
        return CLI_USAGE;
    }
}

/* --report takes its format as --report=FMT or as the next argument when that is a format. */
static int parse_report(args *a, int argc, char **argv, const char *arg)
{
    a->report = true;
    if (arg) {
        if (plan_report_parse_fmt(arg, &a->fmt) == 0) return 0;
        fprintf(stderr, "vrampack plan: --report: '%s' is not text, md, json or html\n", arg);
        return CLI_USAGE;
    }
    if (optind < argc && argv[optind][0] != '-' &&
        plan_report_parse_fmt(argv[optind], &a->fmt) == 0)
        optind++;
    return 0;
}

static int parse_args(int argc, char **argv, args *a)
{
    static const struct option longs[] = {
        {"fleet", required_argument, NULL, O_FLEET},
        {"out", required_argument, NULL, O_OUT},
        {"current", required_argument, NULL, O_CURRENT},
        {"moves", required_argument, NULL, O_MOVES},
        {"max-moves", required_argument, NULL, O_MAX_MOVES},
        {"export-lp", required_argument, NULL, O_EXPORT},
        {"solver", required_argument, NULL, O_SOLVER},
        {"time-limit", required_argument, NULL, O_TIME},
        {"report", optional_argument, NULL, O_REPORT},
        {"progress", no_argument, NULL, O_PROGRESS},
        {"spare-nodes", required_argument, NULL, O_SPARE},
        {"nplus1-time-limit", required_argument, NULL, O_NPLUS1_TIME},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0}};
    opterr = 0;
    optind = 1;
    int c, rc = 0;
    while (!rc && (c = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
        if (c == O_HELP || c == 'h') return usage(stdout), -1;
        if (c == O_REPORT)
            rc = parse_report(a, argc, argv, optarg);
        else if (c == '?' || c == ':')
            return cli_usage_error("plan", c, argv);
        else
            rc = parse_option(a, c, optarg);
    }
    if (rc) return rc;
    if (optind < argc) a->manifest = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "vrampack plan: unexpected argument '%s' (one manifest only)\n",
                argv[optind]);
        return CLI_USAGE;
    }
    if (!a->manifest) {
        fprintf(stderr, "vrampack plan: missing MANIFEST\n");
        usage(stderr);
        return CLI_USAGE;
    }
    if (!a->current && (a->max_moves >= 0 || a->moves)) {
        fprintf(stderr, "vrampack plan: --max-moves and --moves need --current\n");
        return CLI_USAGE;
    }
    if (a->current && a->spare_nodes)
        return cli_usage_fail("plan",
                              "--spare-nodes plans afresh; it cannot be used with --current");
    return 0;
}

typedef struct job {
    plan_manifest *m;
    plan_fleet *f;
    plan_problem *prob;
    place_plan *plan, *current;
    plan_baselines base;
    bool have_base;
    plan_nplus1 loss;
    size_t spares;
    double plain_cost;
    char *json, *text, *moves_json;
    plan_moves moves;
    vp_err e;
} job;

/* Solves (or rebalances) with SIGINT turned into a stop request for the duration. */
static int solve(const args *a, job *j)
{
    progress pg = {.print = a->progress || isatty(STDERR_FILENO), .last_ms = clock_ms(NULL)};
    plan_options opt = a->opt;
    opt.clock = clock_ms;
    opt.progress = on_progress;
    opt.progress_ctx = &pg;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C ends the process */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    int rc;
    if (a->current)
        rc = plan_rebalance(j->prob, j->current, a->max_moves, &opt, &j->plan, &j->moves, &j->e);
    else
        rc = plan_solve(j->prob, &opt, &j->plan, &j->e);
    sigaction(SIGINT, &old, NULL);
    return rc;
}

static int load(const args *a, job *j)
{
    if (cli_manifest_load(a->manifest, &j->m, &j->e)) return CLI_USAGE;
    if (a->fleet ? plan_fleet_load(a->fleet, &j->f, &j->e) : !(j->f = plan_fleet_builtin()))
        return CLI_USAGE;
    if (plan_problem_build(j->m, j->f, &j->prob, &j->e)) return CLI_USAGE;
    if (!a->current) return 0;
    char *buf;
    size_t len;
    if (vp_read_file(a->current, PLAN_MAX_FILE_BYTES, &buf, &len, &j->e)) return CLI_USAGE;
    int r = plan_from_json(buf, len, a->current, &j->current, &j->e);
    free(buf);
    return r ? CLI_USAGE : 0;
}

static int write_file(const char *what, const char *path, const char *data)
{
    int w = cli_write_file_atomic(path, data, strlen(data));
    if (w) fprintf(stderr, "vrampack plan: %s %s: cannot write: %s\n", what, path, vp_strerror(w));
    return w ? CLI_FAIL : 0;
}

static void print_moves(const plan_moves *mv)
{
    static const char *kind[] = {"start", "migrate", "stop"};
    printf("moves (make-before-break order): %zu steps, %zu replicas migrate, $%.2f/hour -> "
           "$%.2f/hour\n",
           mv->n, mv->migrated_replicas, mv->cost_before, mv->cost_after);
    for (size_t k = 0; k < mv->n; k++) {
        const plan_move *m = &mv->v[k];
        printf("  %3zu. %-7s %-28s %s%s%s  %s $%.2f/hour%s\n", k + 1, kind[m->kind], m->id,
               m->from_node, m->from_node[0] && m->to_node[0] ? " -> " : "", m->to_node,
               m->saves_per_hour < 0 ? "adds" : "saves",
               m->saves_per_hour < 0 ? -m->saves_per_hour : m->saves_per_hour,
               m->break_before_make ? " (stop first: no room to start before)" : "");
    }
}

/* The N+1 analysis and spare nodes search without a clock: the same input gives the same table. */
static plan_options nplus1_options(const args *a)
{
    plan_options o;
    plan_options_default(&o);
    o.solver = a->opt.solver;
    o.time_limit_s = a->nplus1_s;
    return o;
}

/* --spare-nodes, then the N+1 table for the report. */
static int nplus1(const args *a, job *j)
{
    plan_options o = nplus1_options(a);
    j->plain_cost = j->plan->cost_per_hour;
    size_t used = plan_nodes_in_use(j->plan);
    if (used > PLAN_NPLUS1_MAX_NODES) {
        if (a->spare_nodes)
            return vp_errf(&j->e, CLI_FAIL,
                           "--spare-nodes: the plan uses %zu nodes; the N+1 analysis it needs runs "
                           "on plans of up to %d",
                           used, PLAN_NPLUS1_MAX_NODES);
        if (a->report)
            fprintf(stderr,
                    "vrampack plan: the N+1 analysis is skipped: the plan uses %zu nodes "
                    "(it runs on plans of up to %d)\n",
                    used, PLAN_NPLUS1_MAX_NODES);
        return 0;
    }
    if (a->spare_nodes && plan_add_spare_nodes(j->prob, j->plan, &o, &j->spares, &j->e))
        return CLI_FAIL;
    if (a->report && plan_nplus1_analyse(j->prob, j->plan, &o, &j->loss, &j->e)) return CLI_FAIL;
    return 0;
}

static int render(const args *a, job *j)
{
    if (plan_baselines_compute(j->prob, &j->base, &j->e)) return CLI_USAGE;
    j->have_base = true;
    plan_report_input in = {.problem = j->prob,
                            .plan = j->plan,
                            .baselines = &j->base,
                            .node_loss = j->loss.loss,
                            .n_node_loss = j->loss.n,
                            .spare_nodes = j->spares,
                            .plain_cost_per_hour = j->plain_cost};
    if (!(j->text = plan_report_render(&in, a->fmt))) {
        fprintf(stderr, "vrampack plan: out of memory\n");
        return CLI_FAIL;
    }
    return 0;
}

/* Everything after a plan exists: checks, files, report, summary. */
static int output(const args *a, job *j)
{
    char why[512];
    int rc = nplus1(a, j);
    if (rc) {
        fprintf(stderr, "vrampack plan: %s\n", j->e.msg[0] ? j->e.msg : vp_strerror(j->e.code));
        return rc;
    }
    if (plan_check(j->prob, j->plan, why, sizeof why)) {
        fprintf(stderr, "vrampack plan: internal error, the plan is inconsistent: %s\n", why);
        return CLI_FAIL;
    }
    j->json = plan_to_json_fleet(j->plan, j->f);
    if (a->current) j->moves_json = plan_moves_to_json(&j->moves);
    if (!j->json || (a->current && !j->moves_json)) {
        fprintf(stderr, "vrampack plan: out of memory\n");
        return CLI_FAIL;
    }
    if (a->report && (rc = render(a, j))) return rc;
    size_t n = strlen(j->json);
    char *withnl = malloc(n + 2);
    if (!withnl) return CLI_FAIL;
    memcpy(withnl, j->json, n);
    memcpy(withnl + n, "\n", 2);
    rc = a->out ? write_file("--out", a->out, withnl) : 0;
    free(withnl);
    if (!rc && a->moves) rc = write_file("--moves", a->moves, j->moves_json);
    if (rc) return rc;
    if (a->current && !a->moves) print_moves(&j->moves);
    if (a->report)
        fputs(j->text, stdout);
    else if (!a->out)
        printf("%s\n", j->json);
    else
        printf("plan: %zu placements on %zu nodes%s, $%.2f/hour (lower bound $%.2f, gap %.1f%%), "
               "%zu unplaced -> %s\n",
               j->plan->n_placements, j->plan->n_nodes,
               j->spares ? (j->spares == 1 ? " (1 spare)" : " (spares)") : "",
               j->plan->cost_per_hour, j->plan->lower_bound_per_hour, j->plan->gap * 100,
               j->plan->n_unplaced, a->out);
    return j->plan->n_unplaced ? CLI_FAIL : CLI_OK;
}

int cli_plan(int argc, char **argv)
{
    args a = {.max_moves = -1, .fmt = PLAN_REPORT_TEXT, .nplus1_s = 1};
    plan_options_default(&a.opt);
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc < 0 ? CLI_OK : rc;
    job j = {0};
    interrupted = 0;
    rc = load(&a, &j);
    if (!rc && solve(&a, &j)) rc = CLI_FAIL;
    if (rc)
        fprintf(stderr, "vrampack plan: %s\n", j.e.msg[0] ? j.e.msg : vp_strerror(j.e.code));
    else
        rc = output(&a, &j);
    if (j.have_base) plan_baselines_free(&j.base);
    plan_nplus1_free(&j.loss);
    free(j.moves_json);
    plan_moves_free(&j.moves);
    place_plan_free(j.current);
    free(j.json);
    free(j.text);
    place_plan_free(j.plan);
    plan_problem_free(j.prob);
    plan_fleet_free(j.f);
    plan_manifest_free(j.m);
    return rc;
}
