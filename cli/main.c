/* main.c - `vrampack`: dispatches to one subcommand per file (cmd_*.c). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "vp.h"

int cli_export(int argc, char **argv); /* cmd_export.c */

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *help;
} commands[] = {
    {"estimate", cli_estimate, "memory footprint of one model (weights, KV cache, overhead)"},
    {"plan", cli_plan, "pack a manifest's models onto the cheapest fleet; --report for review"},
    {"export", cli_export, "write a plan as Kubernetes YAML, a CSV or vLLM command lines"},
    {"controller", cli_controller, "run the control plane (agents port + HTTP API)"},
    {"agent", cli_agent, "run the node agent that launches workers into VRAM slices"},
    {"submit", cli_submit, "send a manifest to a running controller"},
    {"status", cli_status, "show a running controller's nodes and placements"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: vrampack COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n`vrampack COMMAND --help` describes each command.\n"
               "exit codes: 0 success, 1 the work could not be done, 2 bad input or usage\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("vrampack %s\n", VP_VERSION);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "vrampack: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CLI_USAGE;
}
