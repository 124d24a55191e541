/* cmd_controller.c - `vrampack controller`: parse options, run the control plane until SIGINT or
 * SIGTERM. Log lines go to stderr, one per event. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifdef HAVE_VP_CONTROLLER
#include <getopt.h>
#include <sys/resource.h>

#include "controller.h"
#include "http_client.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vrampack controller --state FILE [--listen HOST:PORT] [--api HOST:PORT|off]\n"
            "                           [--fleet F] [--heartbeat-ms N]\n"
            "                           [--agent-token-file F] [--api-token-file F]\n"
            "                           [--public-metrics] [--insecure]\n"
            "                           [--solver auto|ffd|ilp] [--time-limit SEC]\n"
            "                           [--lease-ms N] [--crash-loop-failures K]\n"
            "                           [--crash-loop-window-s S] [--max-moves N]\n"
            "                           [--consolidate-every S] [--min-saving DOLLARS]\n"
            "                           [--log-level debug|info|warn|error]\n\n"
            "Runs the control plane: agents connect to --listen (default 127.0.0.1:7070), users\n"
            "to the HTTP/JSON API on --api (default 127.0.0.1:7071; port 0 picks a free port,\n"
            "the `listening` log line names it). Desired state lives in the SQLite file --state\n"
            "and survives restarts. A node silent for 3 heartbeat intervals (default 1000 ms) is\n"
            "lost; its placements are re-planned once its agent's lease (--lease-ms, default\n"
            "10000) plus 2 heartbeats has passed, by which time the agent has stopped them. A\n"
            "controller that stalls (SIGSTOP, a frozen disk) counts no silence while stalled.\n"
            "A placement that fails K times (default 3)\n"
            "within S seconds (default 600) on one node is placed elsewhere and that node's GPUs\n"
            "are marked suspect. Nodes are priced from --fleet (by name, or by the type an agent\n"
            "gives with --type) or the built-in catalog.\n\n"
            "Live rebalancing: a submit, a node that joins and a consolidation every\n"
            "--consolidate-every seconds (default 600; 0: never) may move up to --max-moves\n"
            "running replicas (default 4; -1: any), make-before-break, when that makes the fleet\n"
            "cheaper; a consolidation only when it saves at least --min-saving $/hour (default\n"
            "1). After a node loss nothing else moves.\n\n"
            "Agents present the token of --agent-token-file; API clients send the admin token of\n"
            "--api-token-file as `Authorization: Bearer`. (--token-file F sets both to one token,\n"
            "which also lets every agent's host administer the controller: avoid it.) A listen\n"
            "or API address other than loopback needs its token, unless --insecure. With\n"
            "--public-metrics, /healthz and /metrics answer without a token.\n");
}

/* Many agents means many sockets: lift the soft descriptor limit to the hard one. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static bool parse_addr(const char *opt, const char *s, char *host, size_t cap, uint16_t *port)
{
    if (cli_split_hostport(s, host, cap, port)) {
        fprintf(stderr, "vrampack controller: %s: '%s' is not HOST:PORT\n", opt, s ? s : "");
        return false;
    }
    return true;
}

enum {
    OPT_LISTEN = 256,
    OPT_API,
    OPT_STATE,
    OPT_FLEET,
    OPT_HEARTBEAT,
    OPT_TOKEN_FILE,
    OPT_SOLVER,
    OPT_TIME_LIMIT,
    OPT_LOG_LEVEL,
    OPT_CRASH_K,
    OPT_CRASH_WINDOW,
    OPT_LEASE,
    OPT_AGENT_TOKEN,
    OPT_API_TOKEN,
    OPT_PUBLIC_METRICS,
    OPT_INSECURE,
    OPT_MAX_MOVES,
    OPT_CONSOLIDATE,
    OPT_MIN_SAVING,
};

static const struct option options[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"api", required_argument, NULL, OPT_API},
    {"state", required_argument, NULL, OPT_STATE},
    {"fleet", required_argument, NULL, OPT_FLEET},
    {"heartbeat-ms", required_argument, NULL, OPT_HEARTBEAT},
    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
    {"solver", required_argument, NULL, OPT_SOLVER},
    {"time-limit", required_argument, NULL, OPT_TIME_LIMIT},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"crash-loop-failures", required_argument, NULL, OPT_CRASH_K},
    {"crash-loop-window-s", required_argument, NULL, OPT_CRASH_WINDOW},
    {"lease-ms", required_argument, NULL, OPT_LEASE},
    {"agent-token-file", required_argument, NULL, OPT_AGENT_TOKEN},
    {"api-token-file", required_argument, NULL, OPT_API_TOKEN},
    {"public-metrics", no_argument, NULL, OPT_PUBLIC_METRICS},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"max-moves", required_argument, NULL, OPT_MAX_MOVES},
    {"consolidate-every", required_argument, NULL, OPT_CONSOLIDATE},
    {"min-saving", required_argument, NULL, OPT_MIN_SAVING},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct token_files {
    const char *both, *agent, *api;
} token_files;

/* One option into cfg; false (after printing why) on a bad value. */
static bool apply_option(int opt, const char *v, ctl_config *cfg, token_files *tf, bool *have_state)
{
    uint64_t n;
    switch (opt) {
    case OPT_AGENT_TOKEN:
        tf->agent = v;
        return true;
    case OPT_API_TOKEN:
        tf->api = v;
        return true;
    case OPT_PUBLIC_METRICS:
        cfg->public_metrics = true;
        return true;
    case OPT_INSECURE:
        cfg->insecure = true;
        return true;
    case OPT_MAX_MOVES:
        if (!strcmp(v, "-1")) {
            cfg->max_moves = -1;
            return true;
        }
        if (!cli_parse_u64("controller", "--max-moves", v, 0, 1000000, false, &n)) return false;
        cfg->max_moves = (long)n;
        return true;
    case OPT_CONSOLIDATE:
        if (!cli_parse_u64("controller", "--consolidate-every", v, 0, 86400 * 7, false, &n))
            return false;
        cfg->consolidate_every_ms = (uint32_t)(n * 1000);
        return true;
    case OPT_MIN_SAVING:
        return cli_parse_double("controller", "--min-saving", v, 0, 1e9, &cfg->min_saving);
    case OPT_LISTEN:
        return parse_addr("--listen", v, cfg->listen_host, sizeof cfg->listen_host,
                          &cfg->listen_port);
    case OPT_API:
        if (!strcmp(v, "off")) {
            cfg->api_host[0] = 0;
            return true;
        }
        return parse_addr("--api", v, cfg->api_host, sizeof cfg->api_host, &cfg->api_port);
    case OPT_STATE:
        if (strlen(v) >= sizeof cfg->state_path) {
            fprintf(stderr, "vrampack controller: --state: path too long\n");
            return false;
        }
        snprintf(cfg->state_path, sizeof cfg->state_path, "%s", v);
        *have_state = true;
        return true;
    case OPT_FLEET:
        cfg->fleet_path = v;
        return true;
    case OPT_HEARTBEAT:
        if (!cli_parse_u64("controller", "--heartbeat-ms", v, 10, 3600000, false, &n)) return false;
        cfg->heartbeat_ms = (uint32_t)n;
        return true;
    case OPT_TOKEN_FILE:
        tf->both = v;
        return true;
    case OPT_SOLVER:
        if (!strcmp(v, "auto"))
            cfg->solve.solver = PLAN_SOLVER_AUTO;
        else if (!strcmp(v, "ffd"))
            cfg->solve.solver = PLAN_SOLVER_FFD;
        else if (!strcmp(v, "ilp"))
            cfg->solve.solver = PLAN_SOLVER_ILP;
        else {
            fprintf(stderr, "vrampack controller: --solver: '%s' is not auto|ffd|ilp\n", v);
            return false;
        }
        return true;
    case OPT_TIME_LIMIT:
        return cli_parse_double("controller", "--time-limit", v, 0.001, 86400,
                                &cfg->solve.time_limit_s);
    case OPT_LOG_LEVEL:
        return cli_parse_log_level("controller", v, &cfg->log_level);
    case OPT_CRASH_K:
        if (!cli_parse_u64("controller", "--crash-loop-failures", v, 1, 16, false, &n))
            return false;
        cfg->crash_loop_failures = (uint32_t)n;
        return true;
    case OPT_LEASE:
        if (!cli_parse_u64("controller", "--lease-ms", v, 10, 3600000, false, &n)) return false;
        cfg->lease_ms = (uint32_t)n;
        return true;
    case OPT_CRASH_WINDOW:
        if (!cli_parse_u64("controller", "--crash-loop-window-s", v, 1, 86400, false, &n))
            return false;
        cfg->crash_loop_window_ms = (uint32_t)(n * 1000);
        return true;
    }
    return false;
}

int cli_controller(int argc, char **argv)
{
    ctl_config cfg;
    ctl_config_default(&cfg);
    cfg.handle_signals = true;
    token_files tf = {0};
    bool have_state = false;
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        if (opt == 'h') {
            usage(stdout);
            return CLI_OK;
        }
        if (opt == ':' || opt == '?') return cli_usage_error("controller", opt, argv);
        if (!apply_option(opt, optarg, &cfg, &tf, &have_state)) return CLI_USAGE;
    }
    if (optind < argc)
        return cli_usage_fail("controller", "unexpected argument '%s'", argv[optind]);
    if (!have_state) return cli_usage_fail("controller", "--state FILE is required");
    vp_err e = {0};
    if (tf.both) {
        fprintf(stderr, "vrampack controller: warning: --token-file gives agents the admin "
                        "token too; use --agent-token-file and --api-token-file\n");
        if (!tf.agent) tf.agent = tf.both;
        if (!tf.api) tf.api = tf.both;
    }
    if (tf.agent && ctl_token_load(tf.agent, cfg.agent_token, sizeof cfg.agent_token, &e)) {
        fprintf(stderr, "vrampack controller: --agent-token-file: %s\n", e.msg);
        return CLI_USAGE;
    }
    if (tf.api && ctl_token_load(tf.api, cfg.api_token, sizeof cfg.api_token, &e)) {
        fprintf(stderr, "vrampack controller: --api-token-file: %s\n", e.msg);
        return CLI_USAGE;
    }
    if (cfg.agent_token[0] && !strcmp(cfg.agent_token, cfg.api_token) && !tf.both)
        fprintf(stderr, "vrampack controller: warning: the agent and API tokens are the same\n");
    cfg.log = vp_log_write_file;
    cfg.log_ud = stderr;
    raise_nofile();
    ctl *c = NULL;
    int rc = ctl_new(&cfg, &c, &e);
    if (rc) {
        fprintf(stderr, "vrampack controller: %s\n", e.msg);
        return rc == VP_EINPUT || rc == VP_EPARSE || rc == VP_ENOTFOUND ? CLI_USAGE : CLI_FAIL;
    }
    rc = ctl_run(c);
    ctl_free(c);
    return rc ? CLI_FAIL : CLI_OK;
}

#else

int cli_controller(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "vrampack controller: not available in this build\n");
    return CLI_USAGE;
}

#endif
