/* args.c - argument parsing and atomic file output shared by the subcommands. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
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
