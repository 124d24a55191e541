/* cmd_controller.c - `vrampack controller`: parse options, run the control plane until SIGINT or
 * SIGTERM. Log lines go to stderr, one per event. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifdef HAVE_VP_CONTROLLER
#include <sys/resource.h>

#include "controller.h"
#include "http_client.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vrampack controller --state FILE [--listen HOST:PORT] [--api HOST:PORT|off]\n"
            "                           [--fleet F] [--heartbeat-ms N] [--token-file F]\n"
            "                           [--solver auto|ffd|ilp] [--time-limit SEC]\n"
            "                           [--log-level debug|info|warn|error]\n\n"
            "Runs the control plane: agents connect to --listen (default 127.0.0.1:7070), users\n"
            "to the HTTP/JSON API on --api (default 127.0.0.1:7071; port 0 picks a free port,\n"
            "the `listening` log line names it). Desired state lives in the SQLite file --state\n"
            "and survives restarts. A node silent for 3 heartbeat intervals (default 1000 ms) is\n"
            "lost and its placements are re-planned. With --token-file, agents and API clients\n"
            "must present that token.\n");
}

static void log_stderr(void *ud, int level, const char *line)
{
    (void)ud;
    (void)level;
    fprintf(stderr, "%s\n", line);
    fflush(stderr);
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

int cli_controller(int argc, char **argv)
{
    ctl_config cfg;
    ctl_config_default(&cfg);
    cfg.handle_signals = true;
    const char *token_file = NULL;
    bool have_state = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return CLI_OK;
        }
        if (!v) {
            fprintf(stderr, "vrampack controller: %s: missing value (or unknown option)\n", a);
            return CLI_USAGE;
        }
        i++;
        if (!strcmp(a, "--listen")) {
            if (!parse_addr(a, v, cfg.listen_host, sizeof cfg.listen_host, &cfg.listen_port))
                return CLI_USAGE;
        } else if (!strcmp(a, "--api")) {
            if (!strcmp(v, "off"))
                cfg.api_host[0] = 0;
            else if (!parse_addr(a, v, cfg.api_host, sizeof cfg.api_host, &cfg.api_port))
                return CLI_USAGE;
        } else if (!strcmp(a, "--state")) {
            if (strlen(v) >= sizeof cfg.state_path) {
                fprintf(stderr, "vrampack controller: --state: path too long\n");
                return CLI_USAGE;
            }
            snprintf(cfg.state_path, sizeof cfg.state_path, "%s", v);
            have_state = true;
        } else if (!strcmp(a, "--fleet")) {
            cfg.fleet_path = v;
        } else if (!strcmp(a, "--heartbeat-ms")) {
            uint64_t n;
            if (!cli_parse_u64("controller", a, v, 10, 3600000, false, &n)) return CLI_USAGE;
            cfg.heartbeat_ms = (uint32_t)n;
        } else if (!strcmp(a, "--token-file")) {
            token_file = v;
        } else if (!strcmp(a, "--solver")) {
            if (!strcmp(v, "auto"))
                cfg.solve.solver = PLAN_SOLVER_AUTO;
            else if (!strcmp(v, "ffd"))
                cfg.solve.solver = PLAN_SOLVER_FFD;
            else if (!strcmp(v, "ilp"))
                cfg.solve.solver = PLAN_SOLVER_ILP;
            else {
                fprintf(stderr, "vrampack controller: --solver: '%s' is not auto|ffd|ilp\n", v);
                return CLI_USAGE;
            }
        } else if (!strcmp(a, "--time-limit")) {
            if (!cli_parse_double("controller", a, v, 0.001, 86400, &cfg.solve.time_limit_s))
                return CLI_USAGE;
        } else if (!strcmp(a, "--log-level")) {
            static const char *const names[] = {"debug", "info", "warn", "error"};
            int lv = -1;
            for (int k = 0; k < 4; k++)
                if (!strcmp(v, names[k])) lv = k;
            if (lv < 0) {
                fprintf(stderr,
                        "vrampack controller: --log-level: '%s' is not "
                        "debug|info|warn|error\n",
                        v);
                return CLI_USAGE;
            }
            cfg.log_level = lv;
        } else {
            fprintf(stderr, "vrampack controller: unknown option '%s'\n", a);
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (!have_state) {
        fprintf(stderr, "vrampack controller: --state FILE is required\n");
        usage(stderr);
        return CLI_USAGE;
    }
    vp_err e = {0};
    if (token_file && ctl_token_load(token_file, cfg.token, sizeof cfg.token, &e)) {
        fprintf(stderr, "vrampack controller: --token-file: %s\n", e.msg);
        return CLI_USAGE;
    }
    cfg.log = log_stderr;
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
