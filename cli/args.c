/* args.c - what the subcommands share: value parsing, usage errors, input from a path or
 * standard input ("-"), the API client's flags and environment defaults, and atomic file output.
 *
 * Every command parses with getopt_long (so `--opt=value` and `--opt value` both work) and calls
 * cli_usage_error for what getopt refuses, so usage errors read alike and exit 2 everywhere. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "http_client.h"
#include "vp_json.h"
#include "vp_log.h"

bool cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t min, uint64_t max,
                   bool allow_suffix, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+') goto bad;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) goto bad;
    uint64_t mul = 1;
    if (*end && allow_suffix) {
        static const struct { const char *sfx; uint64_t mul; } sfx[] = {
            {"K", 1000ULL}, {"M", 1000000ULL}, {"G", 1000000000ULL}, {"T", 1000000000000ULL},
            {"Ki", 1ULL << 10}, {"Mi", 1ULL << 20}, {"Gi", 1ULL << 30}, {"Ti", 1ULL << 40},
            {"KiB", 1ULL << 10}, {"MiB", 1ULL << 20}, {"GiB", 1ULL << 30}, {"TiB", 1ULL << 40},
            {"B", 1000000000ULL},
        };
        size_t i;
        for (i = 0; i < sizeof sfx / sizeof sfx[0]; i++)
            if (!strcmp(end, sfx[i].sfx)) break;
        if (i == sizeof sfx / sizeof sfx[0]) goto bad;
        mul = sfx[i].mul;
        end += strlen(end);
    }
    if (*end) goto bad;
    if (v > max / mul) goto range;
    v *= mul;
    if (v < min || v > max) goto range;
    *out = v;
    return true;
range:
    fprintf(stderr, "vrampack %s: %s: %s is out of range [%llu, %llu]\n", cmd, opt, s,
            (unsigned long long)min, (unsigned long long)max);
    return false;
bad:
    fprintf(stderr, "vrampack %s: %s: '%s' is not a non-negative integer\n", cmd, opt,
            s ? s : "");
    return false;
}

bool cli_parse_bytes(const char *cmd, const char *opt, const char *s, uint64_t min, uint64_t max,
                     uint64_t *out)
{
    uint64_t v;
    int rc = s ? vp_parse_bytes(s, &v) : VP_EINPUT;
    if (rc == 0 && v >= min && v <= max) {
        *out = v;
        return true;
    }
    if (rc == VP_EINPUT)
        fprintf(stderr,
                "vrampack %s: %s: '%s' is not a byte count (bytes, or a quantity such as 24Gi, "
                "512Mi, 80G)\n",
                cmd, opt, s ? s : "");
    else
        fprintf(stderr, "vrampack %s: %s: %s is out of range [%llu, %llu] bytes\n", cmd, opt, s,
                (unsigned long long)min, (unsigned long long)max);
    return false;
}

bool cli_parse_double(const char *cmd, const char *opt, const char *s, double min, double max,
                      double *out)
{
    char *end;
    errno = 0;
    double d = s ? strtod(s, &end) : NAN;
    if (!s || errno || end == s || *end || !isfinite(d) || d < min || d > max) {
        fprintf(stderr, "vrampack %s: %s: '%s' must be a number in [%g, %g]\n", cmd, opt,
                s ? s : "", min, max);
        return false;
    }
    *out = d;
    return true;
}

bool cli_parse_log_level(const char *cmd, const char *s, int *level)
{
    if (!vp_log_level_parse(s, level)) return true;
    fprintf(stderr, "vrampack %s: --log-level: '%s' is not debug, info, warn or error\n", cmd,
            s ? s : "");
    return false;
}

int cli_write_file_atomic(const char *path, const char *data, size_t len)
{
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    if (!tmp) return -ENOMEM;
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) { int rc = -errno; free(tmp); return rc; }
    int rc = 0;
    if (fwrite(data, 1, len, f) != len) rc = -EIO;
    if (fflush(f) != 0 && !rc) rc = -errno;
    if (fsync(fileno(f)) != 0 && !rc) rc = -errno;
    if (fclose(f) != 0 && !rc) rc = -errno;
    if (!rc && rename(tmp, path) != 0) rc = -errno;
    if (rc) unlink(tmp);
    free(tmp);
    return rc;
}

int cli_usage_fail(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "vrampack %s: %s (see 'vrampack %s --help')\n", cmd, msg, cmd);
    return CLI_USAGE;
}

int cli_usage_error(const char *cmd, int c, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    if (c == ':') {
        if (optopt > ' ' && optopt < 0x7f) return cli_usage_fail(cmd, "-%c needs a value", optopt);
        return cli_usage_fail(cmd, "%s needs a value", arg);
    }
    if (optopt && !strncmp(arg, "--", 2) && strchr(arg, '='))
        return cli_usage_fail(cmd, "%.*s takes no value", (int)strcspn(arg, "="), arg);
    if (optopt > ' ' && optopt < 0x7f && strncmp(arg, "--", 2))
        return cli_usage_fail(cmd, "unknown option '-%c'", optopt);
    return cli_usage_fail(cmd, "unknown option '%s'", arg);
}

const char *cli_input_name(const char *path)
{
    return path && !strcmp(path, "-") ? "stdin" : path;
}

int cli_read_input(const char *path, size_t max, char **buf, size_t *len, vp_err *e)
{
    if (strcmp(path, "-")) return vp_read_file(path, max, buf, len, e);
    size_t cap = 64 * 1024, n = 0;
    char *b = malloc(cap + 1);
    if (!b) return vp_errf(e, -ENOMEM, "stdin: out of memory");
    for (;;) {
        if (n == cap) {
            if (cap > max) break;
            char *nb = realloc(b, cap * 2 + 1);
            if (!nb) {
                free(b);
                return vp_errf(e, -ENOMEM, "stdin: out of memory");
            }
            b = nb;
            cap *= 2;
        }
        size_t got = fread(b + n, 1, cap - n, stdin);
        n += got;
        if (got == 0) break;
    }
    if (ferror(stdin)) {
        int rc = errno ? -errno : -EIO;
        free(b);
        return vp_errf(e, rc, "stdin: %s", vp_strerror(rc));
    }
    if (n > max) {
        free(b);
        return vp_errf(e, VP_ETOOBIG, "stdin: larger than %zu bytes", max);
    }
    b[n] = 0;
    *buf = b;
    *len = n;
    return 0;
}

int cli_manifest_load(const char *path, plan_manifest **out, vp_err *e)
{
    if (strcmp(path, "-")) return plan_manifest_load(path, out, e);
    char *buf;
    size_t len;
    int rc = cli_read_input(path, PLAN_MAX_FILE_BYTES, &buf, &len, e);
    if (rc) return rc;
    rc = plan_manifest_parse(buf, len, "stdin", ".", out, e);
    free(buf);
    return rc;
}

int cli_manifest_inline(const char *path, char **out, vp_err *e)
{
    if (strcmp(path, "-")) return plan_manifest_inline_file(path, out, e);
    char *buf;
    size_t len;
    int rc = cli_read_input(path, PLAN_MAX_FILE_BYTES, &buf, &len, e);
    if (rc) return rc;
    rc = plan_manifest_inline_buf(buf, len, "stdin", ".", out, e);
    free(buf);
    return rc;
}

int cli_api_resolve(const char *cmd, cli_api *a)
{
    const char *from_env = NULL;
    if (!a->addr && (a->addr = getenv(CLI_ENV_API)) && *a->addr) from_env = CLI_ENV_API;
    if (!a->addr || !*a->addr) {
        fprintf(stderr, "vrampack %s: --api HOST:PORT is required (or set %s)\n", cmd, CLI_ENV_API);
        return CLI_USAGE;
    }
    char host[256];
    uint16_t port;
    const char *hp = a->addr;
    if (!strncmp(hp, "http://", 7))
        hp += 7;
    else if (!strncmp(hp, "https://", 8))
        hp += 8;
    char bare[300];
    snprintf(bare, sizeof bare, "%.*s", (int)strcspn(hp, "/"), hp);
    if (cli_split_hostport(bare, host, sizeof host, &port)) {
        fprintf(stderr, "vrampack %s: %s: '%s' is not HOST:PORT or http://HOST:PORT\n", cmd,
                from_env ? from_env : "--api", a->addr);
        return CLI_USAGE;
    }
    if (!a->token_file) a->token_file = getenv(CLI_ENV_TOKEN_FILE);
    a->token[0] = 0;
    if (a->token_file && *a->token_file && cli_token_load(a->token_file, a->token, sizeof a->token))
        return CLI_USAGE;
    return CLI_OK;
}

int cli_api_error(const char *cmd, const char *what, const struct cli_http_resp *r)
{
    char msg[600];
    cli_http_error_text(r, msg, sizeof msg);
    fprintf(stderr, "vrampack %s: %s%sHTTP %d: %s\n", cmd, what ? what : "", what ? ": " : "",
            r->status, msg);
    int s = r->status;
    return s == 400 || s == 401 || s == 403 || s == 413 ? CLI_USAGE : CLI_FAIL;
}
