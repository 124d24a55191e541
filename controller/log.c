/* log.c - the controller's clock for log lines and the event table: wall-clock milliseconds.
 *
 * The controller logs through the shared logger (common/vp_log.h, the same line format, levels
 * and --log-level as the agent's): ctl->log is a vp_log whose sink the command line chooses. */
#include <time.h>

#include "ctl_internal.h"

uint64_t ctl_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
