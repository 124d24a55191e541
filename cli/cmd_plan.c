/* cmd_plan.c - `vrampack plan`: manifest + fleet -> plan file and report.
 *
 * Nothing is written unless the whole job succeeded: inputs are parsed and solved first, the plan
 * file is written atomically (temp + rename), and only then is the report printed. Exit 0 when
 * every replica is placed, 1 when some are unplaced (the plan and report still list them), 2 on
 * bad input or usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "planner.h"
#include "report.h"
#include "vp_json.h"

/* The solver's clock: monotonic milliseconds. */
static double clock_ms(void *ctx)
{
    (void)ctx;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Progress on stderr, at most once a second. */
typedef struct progress {
    bool on;
    double last_ms;
} progress;

static int on_progress(const plan_progress *pr, void *ctx)
{
    progress *pg = ctx;
    double now = clock_ms(NULL);
    if (pg->on && now - pg->last_ms >= 1000) {
        pg->last_ms = now;
        if (pr->cost_per_hour < 0)
            fprintf(stderr, "[%6.1fs] %-6s no plan yet, bound $%.2f/h\n", pr->elapsed_s, pr->phase,
                    pr->bound_per_hour);
        else
            fprintf(stderr, "[%6.1fs] %-6s $%.2f/h, bound $%.2f/h, gap %.2f%%%s\n", pr->elapsed_s,
                    pr->phase, pr->cost_per_hour, pr->bound_per_hour, 100 * pr->gap,
                    pr->unplaced ? " (some replicas unplaced)" : "");
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vrampack plan MANIFEST [--fleet FILE] [--solver auto|ffd|ilp]\n"
            "                     [--time-limit SEC] [--out plan.json]\n"
            "                     [--report [text|md|json|html]] [--export-lp FILE]\n"
            "                     [--current plan.json [--max-moves N] [--moves FILE]]\n"
            "\n"
            "Packs the manifest's model replicas onto the cheapest set of GPU nodes.\n"
            "\n"
            "  MANIFEST           models to place (JSON, see README \"Manifest\")\n"
            "  --fleet FILE       GPU models, instance catalog and/or inventory nodes;\n"
            "                     default: the built-in catalog of cloud instance types\n"
            "  --solver S         ffd (first-fit decreasing, fast), ilp (GLPK MIP), or\n"
            "                     auto (FFD, then improve within the time limit; default)\n"
            "  --time-limit SEC   time for the MIP / column generation (default 10)\n"
            "  --out FILE         write the plan as JSON (written atomically)\n"
            "  --report [FMT]     print a cost review: text (default), md, json or html\n"
            "  --export-lp FILE   write the MIP in CPLEX LP format (solve it with another solver)\n"
            "  --current FILE     rebalance: start from this plan and move few replicas\n"
            "  --max-moves N      at most N running replicas move (default: no limit; 0 only\n"
            "                     places what is new or unplaced)\n"
            "  --moves FILE       write the move list as JSON (printed as text otherwise)\n"
            "\n"
            "Without --report and --out, prints the plan JSON on stdout.\n"
            "exit: 0 all placed, 1 some replicas unplaced, 2 bad input or usage\n");
}

int cli_plan(int argc, char **argv)
{
    const char *manifest_path = NULL, *fleet_path = NULL, *out_path = NULL;
    const char *current_path = NULL, *moves_path = NULL;
    long max_moves = -1;
    bool report = false;
    plan_report_fmt fmt = PLAN_REPORT_TEXT;
    plan_options opt;
    plan_options_default(&opt);
    opt.clock = clock_ms;
    progress pg = {.on = getenv("VRAMPACK_PROGRESS") != NULL};
    opt.progress = on_progress;
    opt.progress_ctx = &pg;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return CLI_OK;
        } else if (!strcmp(a, "--fleet") && has_val) {
            fleet_path = argv[++i];
        } else if (!strcmp(a, "--out") && has_val) {
            out_path = argv[++i];
        } else if (!strcmp(a, "--current") && has_val) {
            current_path = argv[++i];
        } else if (!strcmp(a, "--moves") && has_val) {
            moves_path = argv[++i];
        } else if (!strcmp(a, "--max-moves") && has_val) {
            uint64_t v;
            if (!cli_parse_u64("plan", "--max-moves", argv[++i], 0, PLAN_MAX_TOTAL_REPLICAS, false,
                               &v))
                return CLI_USAGE;
            max_moves = (long)v;
        } else if (!strcmp(a, "--export-lp") && has_val) {
            opt.export_lp = argv[++i];
        } else if (!strcmp(a, "--solver") && has_val) {
            const char *s = argv[++i];
            if (!strcmp(s, "auto")) opt.solver = PLAN_SOLVER_AUTO;
            else if (!strcmp(s, "ffd")) opt.solver = PLAN_SOLVER_FFD;
            else if (!strcmp(s, "ilp")) opt.solver = PLAN_SOLVER_ILP;
            else {
                fprintf(stderr, "vrampack plan: --solver: '%s' is not auto, ffd or ilp\n", s);
                return CLI_USAGE;
            }
        } else if (!strcmp(a, "--time-limit") && has_val) {
            if (!cli_parse_double("plan", "--time-limit", argv[++i], 0.0, 86400.0,
                                  &opt.time_limit_s))
                return CLI_USAGE;
        } else if (!strcmp(a, "--report")) {
            report = true;
            if (has_val && argv[i + 1][0] != '-' && plan_report_parse_fmt(argv[i + 1], &fmt) == 0)
                i++;
        } else if (!strncmp(a, "--report=", 9)) {
            report = true;
            if (plan_report_parse_fmt(a + 9, &fmt)) {
                fprintf(stderr, "vrampack plan: --report: '%s' is not text, md, json or html\n",
                        a + 9);
                return CLI_USAGE;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "vrampack plan: unknown option or missing value: %s\n", a);
            usage(stderr);
            return CLI_USAGE;
        } else if (!manifest_path) {
            manifest_path = a;
        } else {
            fprintf(stderr, "vrampack plan: unexpected argument '%s' (one manifest only)\n", a);
            return CLI_USAGE;
        }
    }
    if (!manifest_path) {
        fprintf(stderr, "vrampack plan: missing MANIFEST\n");
        usage(stderr);
        return CLI_USAGE;
    }
    if (!current_path && (max_moves >= 0 || moves_path)) {
        fprintf(stderr, "vrampack plan: --max-moves and --moves need --current\n");
        return CLI_USAGE;
    }

    int rc = CLI_USAGE;
    vp_err e = {0};
    plan_manifest *m = NULL;
    plan_fleet *f = NULL;
    plan_problem *prob = NULL;
    place_plan *plan = NULL;
    plan_baselines base;
    bool have_base = false;
    char *json = NULL, *text = NULL, *moves_json = NULL;
    place_plan *current = NULL;
    plan_moves moves = {0};

    if (plan_manifest_load(manifest_path, &m, &e)) goto err;
    if (fleet_path ? plan_fleet_load(fleet_path, &f, &e) : !(f = plan_fleet_builtin())) goto err;
    if (plan_problem_build(m, f, &prob, &e)) goto err;
    if (current_path) {
        char *buf;
        size_t len;
        if (vp_read_file(current_path, PLAN_MAX_FILE_BYTES, &buf, &len, &e)) goto err;
        int r = plan_from_json(buf, len, current_path, &current, &e);
        free(buf);
        if (r) goto err;
        if (plan_rebalance(prob, current, max_moves, &opt, &plan, &moves, &e)) {
            rc = CLI_FAIL;
            goto err;
        }
        moves_json = plan_moves_to_json(&moves);
        if (!moves_json) {
            fprintf(stderr, "vrampack plan: out of memory\n");
            rc = CLI_FAIL;
            goto out;
        }
    } else if (plan_solve(prob, &opt, &plan, &e)) {
        rc = CLI_FAIL;
        goto err;
    }
    char why[256];
    if (place_plan_validate(plan, why, sizeof why)) {
        fprintf(stderr, "vrampack plan: internal error, the plan is inconsistent: %s\n", why);
        rc = CLI_FAIL;
        goto out;
    }
    json = plan_to_json(plan);
    if (!json) {
        fprintf(stderr, "vrampack plan: out of memory\n");
        rc = CLI_FAIL;
        goto out;
    }
    if (report) {
        if (plan_baselines_compute(prob, &base, &e)) goto err;
        have_base = true;
        text = plan_report(prob, plan, &base, fmt);
        if (!text) {
            fprintf(stderr, "vrampack plan: out of memory\n");
            rc = CLI_FAIL;
            goto out;
        }
    }
    if (out_path) {
        size_t n = strlen(json);
        json[n] = '\0';
        char *withnl = malloc(n + 2);
        if (!withnl) { rc = CLI_FAIL; goto out; }
        memcpy(withnl, json, n);
        withnl[n] = '\n';
        int w = cli_write_file_atomic(out_path, withnl, n + 1);
        free(withnl);
        if (w) {
            fprintf(stderr, "vrampack plan: --out %s: cannot write: %s\n", out_path,
                    vp_strerror(w));
            rc = CLI_FAIL;
            goto out;
        }
    }
    if (moves_path) {
        int w = cli_write_file_atomic(moves_path, moves_json, strlen(moves_json));
        if (w) {
            fprintf(stderr, "vrampack plan: --moves %s: cannot write: %s\n", moves_path,
                    vp_strerror(w));
            rc = CLI_FAIL;
            goto out;
        }
    }
    if (current && !moves_path) {
        static const char *kind[] = {"start", "migrate", "stop"};
        printf("moves (make-before-break order): %zu steps, %zu replicas migrate, $%.2f/hour -> "
               "$%.2f/hour\n",
               moves.n, moves.migrated_replicas, moves.cost_before, moves.cost_after);
        for (size_t k = 0; k < moves.n; k++) {
            const plan_move *mv = &moves.v[k];
            printf("  %3zu. %-7s %-28s %s%s%s  %s $%.2f/hour%s\n", k + 1, kind[mv->kind],
                   mv->id, mv->from_node, mv->from_node[0] && mv->to_node[0] ? " -> " : "",
                   mv->to_node, mv->saves_per_hour < 0 ? "adds" : "saves",
                   mv->saves_per_hour < 0 ? -mv->saves_per_hour : mv->saves_per_hour,
                   mv->break_before_make ? " (stop first: no room to start before)" : "");
        }
    }
    if (report)
        fputs(text, stdout);
    else if (!out_path)
        printf("%s\n", json);
    else
        printf("plan: %zu placements on %zu nodes, $%.2f/hour (lower bound $%.2f, gap %.1f%%), "
               "%zu unplaced -> %s\n",
               plan->n_placements, plan->n_nodes, plan->cost_per_hour,
               plan->lower_bound_per_hour, plan->gap * 100, plan->n_unplaced, out_path);
    rc = plan->n_unplaced ? CLI_FAIL : CLI_OK;
    goto out;
err:
    fprintf(stderr, "vrampack plan: %s\n", e.msg[0] ? e.msg : vp_strerror(e.code));
out:
    if (have_base) plan_baselines_free(&base);
    free(moves_json);
    plan_moves_free(&moves);
    place_plan_free(current);
    free(json);
    free(text);
    place_plan_free(plan);
    plan_problem_free(prob);
    plan_fleet_free(f);
    plan_manifest_free(m);
    return rc;
}
