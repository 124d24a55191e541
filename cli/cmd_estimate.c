/* cmd_estimate.c - `vrampack estimate` (placeholder until the module lands). */
#include <stdio.h>

#include "cli.h"

int cli_estimate(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "vrampack estimate: not available in this build\n");
    return CLI_USAGE;
}
