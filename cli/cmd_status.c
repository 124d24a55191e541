/* cmd_status.c - `vrampack status` (placeholder until the module lands). */
#include <stdio.h>

#include "cli.h"

int cli_status(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "vrampack status: not available in this build\n");
    return CLI_USAGE;
}
