/* log.c - the agent logs through the shared logger (common/vp_log.h): the same line format,
 * levels and --log-level as the controller's, with node=NAME on every line. */
#include "agent_int.h"

int agent_log_level_parse(const char *s, int *level)
{
    return vp_log_level_parse(s, level);
}
