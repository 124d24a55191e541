/* cmd_plan.c - `vrampack plan` (placeholder until the module lands). */
#include <stdio.h>

#include "cli.h"

int cli_plan(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "vrampack plan: not available in this build\n");
    return CLI_USAGE;
}
