/* cli.h - the vrampack command's subcommands and the small argument helpers they share.
 * Exit codes (DESIGN.md): 0 success, 1 the work could not be done, 2 bad input or usage. */
#ifndef CLI_H
#define CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

int cli_estimate(int argc, char **argv);
int cli_plan(int argc, char **argv);
int cli_controller(int argc, char **argv);
int cli_agent(int argc, char **argv);
int cli_submit(int argc, char **argv);
int cli_status(int argc, char **argv);

/* Parses a decimal integer in [min, max] with an optional K/M/G/Ki/Mi/Gi suffix when
 * allow_suffix; prints "vrampack CMD: OPTION: ..." and returns false on error. */
bool cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t min, uint64_t max,
                   bool allow_suffix, uint64_t *out);
/* Parses a byte count as vp_parse_bytes does ("25769803776", "24Gi", "1.5Ti", "80G") in
 * [min, max]; prints "vrampack CMD: OPTION: ..." and returns false on error. */
bool cli_parse_bytes(const char *cmd, const char *opt, const char *s, uint64_t min, uint64_t max,
                     uint64_t *out);
bool cli_parse_double(const char *cmd, const char *opt, const char *s, double min, double max,
                      double *out);
/* --log-level debug|info|warn|error into a VP_LOG_* level (vp_log.h); prints why and returns
 * false when it is none of those. */
bool cli_parse_log_level(const char *cmd, const char *s, int *level);
/* Writes data to path atomically (temp file + rename), so no half-written file is ever left. */
int cli_write_file_atomic(const char *path, const char *data, size_t len);

#endif
