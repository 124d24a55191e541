/* cmd_agent.c - `vrampack agent`: parses the command line, reads the token file and runs the
 * node agent (agent/agent.h) until SIGINT or SIGTERM. */
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
        "                      [--token-file F] [--worker PATH] [--state-dir DIR]\n"
        "                      [--log-level debug|info|warn|error] [--stop-grace-ms N]\n"
        "                      [--sim-max-slice BYTES]\n"
        "\n"
        "Runs the node agent: registers this node's GPUs with the controller, starts one\n"
        "worker per assigned placement (CUDA_VISIBLE_DEVICES set to its GPUs), restarts\n"
        "crashed workers, and reports what runs. Stops on SIGINT/SIGTERM, stopping its workers.\n"
        "\n"
        "  --controller HOST:PORT  the controller's agent port (e.g. 127.0.0.1:7070)\n"
        "  --node NAME             this node's name (A-Z a-z 0-9 . _ -)\n"
        "  --sim GPU:COUNT[:BYTES] simulate GPUs instead of NVML discovery, e.g. L4:4 or\n"
        "                          H100-80GB:8,A10G:1; BYTES gives the memory of other models\n"
        "  --token-file F          file holding the shared token (trailing newline ignored)\n"
        "  --worker PATH           built-in worker (default: vrampack-worker next to vrampack)\n"
        "  --state-dir DIR         restart memory (default /tmp/vrampack-agent-NODE)\n"
        "  --log-level L           debug, info (default), warn or error; logs go to stderr\n"
        "  --stop-grace-ms N       SIGTERM to SIGKILL delay for stopping workers (default 10000)\n"
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

int cli_agent(int argc, char **argv)
{
    agent_config cfg = {0};
    const char *token_file = NULL;
    cfg.handle_signals = true;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            usage(stdout);
            return CLI_OK;
        }
        if (i + 1 >= argc) {
            if (!strncmp(o, "--", 2))
                fprintf(stderr, "vrampack agent: %s needs a value\n", o);
            else
                fprintf(stderr, "vrampack agent: unexpected argument '%s'\n", o);
            usage(stderr);
            return CLI_USAGE;
        }
        const char *v = argv[++i];
        uint64_t n;
        if (!strcmp(o, "--controller"))
            cfg.controller = v;
        else if (!strcmp(o, "--node"))
            cfg.node = v;
        else if (!strcmp(o, "--sim"))
            cfg.sim = v;
        else if (!strcmp(o, "--token-file"))
            token_file = v;
        else if (!strcmp(o, "--worker"))
            cfg.worker_path = v;
        else if (!strcmp(o, "--state-dir"))
            cfg.state_dir = v;
        else if (!strcmp(o, "--log-level")) {
            if (agent_log_level_parse(v, &cfg.log_level) != 0) {
                fprintf(stderr,
                        "vrampack agent: --log-level: '%s' is not debug, info, warn or "
                        "error\n",
                        v);
                return CLI_USAGE;
            }
        } else if (!strcmp(o, "--stop-grace-ms")) {
            if (!cli_parse_u64("agent", o, v, 1, 3600000, false, &n)) return CLI_USAGE;
            cfg.stop_grace_ms = (uint32_t)n;
        } else if (!strcmp(o, "--sim-max-slice")) {
            if (!cli_parse_u64("agent", o, v, 1, 1ULL << 40, true, &n)) return CLI_USAGE;
            cfg.sim_max_slice_bytes = n;
        } else {
            fprintf(stderr, "vrampack agent: unknown option '%s'\n", o);
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (!cfg.controller || !cfg.node) {
        fprintf(stderr, "vrampack agent: --controller and --node are required\n");
        usage(stderr);
        return CLI_USAGE;
    }
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
