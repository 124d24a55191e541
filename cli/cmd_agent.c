/* cmd_agent.c - `vrampack agent`: parses the command line, reads the token file and runs the
 * node agent (agent/agent.h) until SIGINT or SIGTERM. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifdef HAVE_VP_AGENT
#include "agent.h"
#include "vp_json.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: vrampack agent --controller HOST:PORT --node NAME [--sim GPU:COUNT[,GPU:COUNT]]\n"
        "                      [--token-file F] [--type INSTANCE_TYPE] [--ports LO-HI]\n"
        "                      [--engine NAME=PATH]... [--worker PATH] [--state-dir DIR]\n"
        "                      [--log-level debug|info|warn|error] [--stop-grace-ms N]\n"
        "                      [--probe-ms N] [--lease-ms N] [--allow-commands F]\n"
        "                      [--sim-max-slice BYTES]\n"
        "\n"
        "Runs the node agent: registers this node's GPUs with the controller, starts one\n"
        "worker per assigned placement (the built-in worker, vLLM, SGLang, llama.cpp or the\n"
        "manifest's command) with CUDA_VISIBLE_DEVICES set to its GPUs, probes engines until\n"
        "they answer their health endpoint, restarts crashed workers, and reports what runs.\n"
        "A restarted agent adopts the engines it left running. Stops on SIGINT/SIGTERM,\n"
        "stopping its workers.\n"
        "\n"
        "  --controller HOST:PORT  the controller's agent port (e.g. 127.0.0.1:7070)\n"
        "  --node NAME             this node's name (A-Z a-z 0-9 . _ -)\n"
        "  --sim GPU:COUNT[:BYTES] simulate GPUs instead of NVML discovery, e.g. L4:4 or\n"
        "                          H100-80GB:8,A10G:1; BYTES (e.g. 24Gi, 48G) gives the memory\n"
        "                          of other models\n"
        "  --token-file F          file holding the agent token (trailing newline ignored)\n"
        "  --type T                this node's instance type (e.g. g5.12xlarge): its price\n"
        "                          comes from the controller's fleet file or catalog\n"
        "  --ports LO-HI           ports handed to engines (default 20000-29999)\n"
        "  --engine NAME=PATH      binary of an engine (vllm, sglang, llama.cpp); default: the\n"
        "                          profile's (vllm, python3, llama-server) found through PATH\n"
        "  --worker PATH           built-in worker (default: vrampack-worker next to vrampack)\n"
        "  --state-dir DIR         restart memory (default /tmp/vrampack-agent-NODE)\n"
        "  --log-level L           debug, info (default), warn or error; logs go to stderr\n"
        "  --stop-grace-ms N       stop signal to SIGKILL delay (default: the engine's, 10-30 s)\n"
        "  --probe-ms N            health probe interval while an engine loads (default 1000)\n"
        "  --allow-commands F      programs a manifest's worker.command may start here, one per\n"
        "                          line (engines and the built-in worker need no listing;\n"
        "                          without it no template runs)\n"
        "  --lease-ms N            with no lease renewal from the controller for this long, stop\n"
        "                          every worker (default 10000; the controller's, if shorter)\n"
        "  --sim-max-slice BYTES   host memory a simulated worker takes at most (default 64Mi)\n");
}

static int read_token(const char *path, char **out)
{
    vp_err e = {0};
    char *buf;
    size_t len;
    if (vp_read_file(path, 4096, &buf, &len, &e) != 0) {
        fprintf(stderr, "vrampack agent: --token-file: %s\n", e.msg);
        return CLI_USAGE;
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
                       buf[len - 1] == '\t'))
        buf[--len] = '\0';
    if (len == 0 || strlen(buf) != len) {
        fprintf(stderr, "vrampack agent: --token-file: %s: empty or not text\n", path);
        free(buf);
        return CLI_USAGE;
    }
    *out = buf;
    return 0;
}

/* --engine NAME=PATH */
static bool engine_option(const char *v, agent_config *cfg)
{
    const char *eq = strchr(v, '=');
    char name[32];
    eng_kind k;
    if (!eq || eq == v || (size_t)(eq - v) >= sizeof name || !eq[1]) goto bad;
    memcpy(name, v, (size_t)(eq - v));
    name[eq - v] = '\0';
    if (eng_parse(name, &k) || k == ENG_BUILTIN || k == ENG_COMMAND) goto bad;
    cfg->engine_bin[k] = eq + 1;
    return true;
bad:
    fprintf(stderr,
            "vrampack agent: --engine: '%s' is not NAME=PATH with NAME one of vllm, "
            "sglang, llama.cpp\n",
            v);
    return false;
}

enum {
    OPT_CONTROLLER = 256,
    OPT_NODE,
    OPT_SIM,
    OPT_TOKEN_FILE,
    OPT_TYPE,
    OPT_PORTS,
    OPT_ENGINE,
    OPT_WORKER,
    OPT_STATE_DIR,
    OPT_LOG_LEVEL,
    OPT_STOP_GRACE,
    OPT_PROBE_MS,
    OPT_LEASE_MS,
    OPT_ALLOW,
    OPT_SIM_MAX_SLICE,
};

static const struct option options[] = {
    {"controller", required_argument, NULL, OPT_CONTROLLER},
    {"node", required_argument, NULL, OPT_NODE},
    {"sim", required_argument, NULL, OPT_SIM},
    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
    {"type", required_argument, NULL, OPT_TYPE},
    {"ports", required_argument, NULL, OPT_PORTS},
    {"engine", required_argument, NULL, OPT_ENGINE},
    {"worker", required_argument, NULL, OPT_WORKER},
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"stop-grace-ms", required_argument, NULL, OPT_STOP_GRACE},
    {"probe-ms", required_argument, NULL, OPT_PROBE_MS},
    {"lease-ms", required_argument, NULL, OPT_LEASE_MS},
    {"allow-commands", required_argument, NULL, OPT_ALLOW},
    {"sim-max-slice", required_argument, NULL, OPT_SIM_MAX_SLICE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Fills cfg from the command line; CLI_OK, CLI_USAGE, or -1 for --help (printed). */
static int parse_options(int argc, char **argv, agent_config *cfg, const char **token_file)
{
    uint64_t n;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        const char *v = optarg;
        switch (c) {
        case 'h':
            usage(stdout);
            return -1;
        case OPT_CONTROLLER:
            cfg->controller = v;
            break;
        case OPT_NODE:
            cfg->node = v;
            break;
        case OPT_SIM:
            cfg->sim = v;
            break;
        case OPT_TOKEN_FILE:
            *token_file = v;
            break;
        case OPT_TYPE:
            cfg->instance_type = v;
            break;
        case OPT_WORKER:
            cfg->worker_path = v;
            break;
        case OPT_STATE_DIR:
            cfg->state_dir = v;
            break;
        case OPT_PORTS: {
            uint32_t lo, hi;
            if (agent_ports_parse(v, &lo, &hi)) {
                fprintf(stderr,
                        "vrampack agent: --ports: '%s' is not LO-HI with 1024 <= LO <= HI "
                        "<= 65535\n",
                        v);
                return CLI_USAGE;
            }
            cfg->ports = v;
            break;
        }
        case OPT_ENGINE:
            if (!engine_option(v, cfg)) return CLI_USAGE;
            break;
        case OPT_LOG_LEVEL:
            if (!cli_parse_log_level("agent", v, &cfg->log_level)) return CLI_USAGE;
            break;
        case OPT_STOP_GRACE:
            if (!cli_parse_u64("agent", "--stop-grace-ms", v, 1, 3600000, false, &n))
                return CLI_USAGE;
            cfg->stop_grace_ms = (uint32_t)n;
            break;
        case OPT_PROBE_MS:
            if (!cli_parse_u64("agent", "--probe-ms", v, 10, 600000, false, &n)) return CLI_USAGE;
            cfg->probe_ms = (uint32_t)n;
            break;
        case OPT_LEASE_MS:
            if (!cli_parse_u64("agent", "--lease-ms", v, 100, 3600000, false, &n)) return CLI_USAGE;
            cfg->lease_ms = (uint32_t)n;
            break;
        case OPT_ALLOW:
            cfg->allow_commands = v;
            break;
        case OPT_SIM_MAX_SLICE:
            if (!cli_parse_bytes("agent", "--sim-max-slice", v, 1, 1ULL << 40, &n))
                return CLI_USAGE;
            cfg->sim_max_slice_bytes = n;
            break;
        default:
            return cli_usage_error("agent", c, argv);
        }
    }
    if (optind < argc) return cli_usage_fail("agent", "unexpected argument '%s'", argv[optind]);
    return CLI_OK;
}

int cli_agent(int argc, char **argv)
{
    agent_config cfg = {0};
    const char *token_file = NULL;
    cfg.handle_signals = true;
    int prc = parse_options(argc, argv, &cfg, &token_file);
    if (prc) return prc < 0 ? CLI_OK : prc;
    if (!cfg.controller || !cfg.node)
        return cli_usage_fail("agent", "--controller and --node are required");
    char *token = NULL;
    if (token_file) {
        int rc = read_token(token_file, &token);
        if (rc) return rc;
        cfg.token = token;
    }
    agent *a = NULL;
    vp_err e = {0};
    int rc = agent_new(&cfg, &a, &e);
    free(token);
    if (rc) {
        fprintf(stderr, "vrampack agent: %s\n", e.msg);
        return rc == VP_EUSAGE ? CLI_USAGE : CLI_FAIL;
    }
    rc = agent_run(a);
    agent_free(a);
    return rc ? CLI_FAIL : CLI_OK;
}

#else

int cli_agent(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "vrampack agent: not available in this build\n");
    return CLI_USAGE;
}

#endif
