/* cmd_agent.c - `vrampack agent` (placeholder until the module lands). */
#include <stdio.h>

#include "cli.h"

int cli_agent(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "vrampack agent: not available in this build\n");
    return CLI_USAGE;
}
