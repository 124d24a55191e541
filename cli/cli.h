/* cli.h - the vrampack command's subcommands and the small argument helpers they share.
 * Exit codes (DESIGN.md): 0 success, 1 the work could not be done, 2 bad input or usage. */
#ifndef CLI_H
#define CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "planner.h"
#include "vp.h"

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

/* A usage error as one line on stderr, "vrampack CMD: MESSAGE (see 'vrampack CMD --help')";
 * returns CLI_USAGE. */
int cli_usage_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* getopt_long's '?' or ':' (with opterr = 0 and an optstring that starts with ':') as that one
 * line: "unknown option '--x'", "--api needs a value", "--json takes no value"; CLI_USAGE. */
int cli_usage_error(const char *cmd, int c, char **argv);

/* ---- input: a path, or "-" for standard input ---- */

/* Reads path whole (at most max bytes), or standard input when path is "-". Errors name the
 * file, or "stdin". The caller frees *buf (NUL-terminated). */
int cli_read_input(const char *path, size_t max, char **buf, size_t *len, vp_err *e);
/* The name inputs go by in messages: path, or "stdin" for "-". */
const char *cli_input_name(const char *path);
/* A manifest from path, or from standard input for "-". hf_config paths are relative to the
 * manifest's directory, or to the current directory for standard input. */
int cli_manifest_load(const char *path, plan_manifest **out, vp_err *e);
/* The self-contained JSON text of that manifest (every hf_config inlined); caller frees. */
int cli_manifest_inline(const char *path, char **out, vp_err *e);

/* ---- the controller's API: what submit and status share ---- */

#define CLI_ENV_API "VRAMPACK_API"               /* default for --api */
#define CLI_ENV_TOKEN_FILE "VRAMPACK_TOKEN_FILE" /* default for --token-file */

typedef struct cli_api {
    const char *addr;       /* --api, else $VRAMPACK_API */
    const char *token_file; /* --token-file, else $VRAMPACK_TOKEN_FILE; NULL or "": no token */
    char token[256];        /* the token file's first line, or "" */
} cli_api;

/* Fills what the flags left unset from the environment (flags win), checks the address and loads
 * the token. CLI_OK, or CLI_USAGE after one line on stderr naming the flag or variable. */
int cli_api_resolve(const char *cmd, cli_api *a);
/* The one line for a request the controller answered with an error status:
 * "vrampack CMD: HTTP 401: missing or wrong token"; returns CLI_USAGE for 400, 401, 403 and 413
 * (the request was wrong), else CLI_FAIL. */
struct cli_http_resp;
int cli_api_error(const char *cmd, const char *what, const struct cli_http_resp *r);

#endif
