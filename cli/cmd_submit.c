/* cmd_submit.c - `vrampack submit` (placeholder until the module lands). */
#include <stdio.h>

#include "cli.h"

int cli_submit(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "vrampack submit: not available in this build\n");
    return CLI_USAGE;
}
