/* cmd_controller.c - `vrampack controller` (placeholder until the module lands). */
#include <stdio.h>

#include "cli.h"

int cli_controller(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "vrampack controller: not available in this build\n");
    return CLI_USAGE;
}
