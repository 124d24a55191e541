/* vp_json.c - file reading and field getters shared by every JSON parser (see vp_json.h). */
#include "vp_json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int vp_read_file(const char *path, size_t max_bytes, char **out, size_t *out_len, vp_err *e)
{
    /* O_NONBLOCK so that a FIFO or device cannot park the caller in open(); only regular files
     * are read at all. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return vp_errf(e, -errno, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return vp_errf(e, VP_EINPUT, "%s: not a regular file", path);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int err = errno;
        close(fd);
        return vp_errf(e, -err, "%s: cannot open: %s", path, strerror(err));
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf) { fclose(f); return vp_errf(e, -ENOMEM, "%s: out of memory", path); }
    for (;;) {
        if (len + 1 >= cap) {
            if (cap > max_bytes + 1) break;
            char *p = realloc(buf, cap * 2);
            if (!p) { free(buf); fclose(f); return vp_errf(e, -ENOMEM, "%s: out of memory", path); }
            buf = p;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (len > max_bytes) break;
        if (n == 0) break;
    }
    int rerr = ferror(f);
    fclose(f);
    if (len > max_bytes) {
        free(buf);
        return vp_errf(e, VP_ETOOBIG, "%s: larger than the %zu-byte limit", path, max_bytes);
    }
    if (rerr) { free(buf); return vp_errf(e, -EIO, "%s: read error", path); }
    buf[len] = '\0';
    *out = buf;
    if (out_len) *out_len = len;
    return 0;
}

/* Length of the UTF-8 sequence starting at s (at most n bytes available), or 0 when it is not
 * well-formed: overlong forms, surrogates and code points above U+10FFFF are refused, as RFC 3629
 * asks. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; min = 0x80; }
    else if ((c & 0xf0) == 0xe0) { len = 3; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; min = 0x10000; }
    else return 0;
    if (n < len) return 0;
    unsigned cp = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

/* Text that cJSON would accept but that must not reach a parser's caller: invalid UTF-8, a NUL
 * byte (C strings would end there and silently lose the rest), a raw control character inside a
 * string, or a \u0000 escape (the same truncation, spelled differently). Trailing NULs after the
 * text are tolerated, as before. */
static int check_text(const char *buf, size_t len, const char *what, vp_err *e)
{
    const unsigned char *s = (const unsigned char *)buf;
    while (len && s[len - 1] == 0) len--;
    bool in_str = false;
    for (size_t i = 0; i < len;) {
        unsigned c = s[i];
        if (c == 0) return vp_errf(e, VP_EPARSE, "%s: NUL byte at offset %zu", what, i);
        if (c >= 0x80) {
            size_t n = utf8_len(s + i, len - i);
            if (!n) return vp_errf(e, VP_EPARSE, "%s: invalid UTF-8 at offset %zu", what, i);
            i += n;
            continue;
        }
        if (in_str) {
            if (c < 0x20)
                return vp_errf(e, VP_EPARSE, "%s: control character in a string at offset %zu",
                               what, i);
            if (c == '\\') {
                if (i + 5 < len && s[i + 1] == 'u' && !memcmp(s + i + 2, "0000", 4))
                    return vp_errf(e, VP_EPARSE, "%s: \\u0000 in a string at offset %zu", what, i);
                i += 2;
                continue;
            }
            if (c == '"') in_str = false;
        } else if (c == '"') {
            in_str = true;
        }
        i++;
    }
    return 0;
}

int vp_json_parse(const char *buf, size_t len, const char *what, cJSON **out, vp_err *e)
{
    int bad = check_text(buf, len, what, e);
    if (bad) return bad;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!root) {
        size_t off = end && end >= buf ? (size_t)(end - buf) : 0;
        if (off > len) off = len;
        unsigned line = 1, col = 1;
        for (size_t i = 0; i < off; i++) {
            if (buf[i] == '\n') { line++; col = 1; } else col++;
        }
        return vp_errf(e, VP_EPARSE, "%s: malformed JSON near line %u column %u", what, line, col);
    }
    /* Allow only trailing whitespace after the value. */
    for (const char *p = end; p && p < buf + len; p++) {
        if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t' && *p != '\0') {
            cJSON_Delete(root);
            return vp_errf(e, VP_EPARSE, "%s: unexpected data after the JSON value", what);
        }
    }
    *out = root;
    return 0;
}

int vp_json_load(const char *path, size_t max_bytes, cJSON **out, vp_err *e)
{
    char *buf;
    size_t len;
    int rc = vp_read_file(path, max_bytes, &buf, &len, e);
    if (rc) return rc;
    rc = vp_json_parse(buf, len, path, out, e);
    free(buf);
    return rc;
}

static int get(const cJSON *obj, const char *key, const char *ctx, bool required,
               const cJSON **item, vp_err *e)
{
    *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (*item && !cJSON_IsNull(*item)) return 0;
    if (required) return vp_errf(e, VP_EINPUT, "%s.%s: missing (required)", ctx, key);
    return 1;
}

int vp_json_u64(const cJSON *obj, const char *key, const char *ctx, bool required, uint64_t min,
                uint64_t max, uint64_t *out, vp_err *e)
{
    const cJSON *it;
    int rc = get(obj, key, ctx, required, &it, e);
    if (rc) return rc;
    if (!cJSON_IsNumber(it))
        return vp_errf(e, VP_EINPUT, "%s.%s: must be an integer", ctx, key);
    double d = it->valuedouble;
    if (max > VP_JSON_MAX_EXACT) max = VP_JSON_MAX_EXACT;
    if (!isfinite(d) || d != floor(d) || d < (double)min || d > (double)max)
        return vp_errf(e, VP_EINPUT, "%s.%s: must be an integer in [%llu, %llu] (got %.17g)", ctx,
                       key, (unsigned long long)min, (unsigned long long)max, d);
    *out = (uint64_t)d;
    return 0;
}

int vp_json_u32(const cJSON *obj, const char *key, const char *ctx, bool required, uint32_t min,
                uint32_t max, uint32_t *out, vp_err *e)
{
    uint64_t v = 0;
    int rc = vp_json_u64(obj, key, ctx, required, min, max, &v, e);
    if (rc == 0) *out = (uint32_t)v;
    return rc;
}

int vp_json_bytes(const cJSON *obj, const char *key, const char *ctx, bool required, uint64_t min,
                  uint64_t max, uint64_t *out, vp_err *e)
{
    const cJSON *it;
    int rc = get(obj, key, ctx, required, &it, e);
    if (rc) return rc;
    if (!cJSON_IsString(it)) return vp_json_u64(obj, key, ctx, required, min, max, out, e);
    uint64_t v;
    if (vp_parse_bytes(it->valuestring, &v) || v < min || v > max)
        return vp_errf(e, VP_EINPUT,
                       "%s.%s: must be a byte count in [%llu, %llu]: an integer or a quantity "
                       "such as \"24Gi\" (got \"%.40s\")",
                       ctx, key, (unsigned long long)min, (unsigned long long)max,
                       it->valuestring);
    *out = v;
    return 0;
}

int vp_json_double(const cJSON *obj, const char *key, const char *ctx, bool required, double min,
                   double max, double *out, vp_err *e)
{
    const cJSON *it;
    int rc = get(obj, key, ctx, required, &it, e);
    if (rc) return rc;
    if (!cJSON_IsNumber(it)) return vp_errf(e, VP_EINPUT, "%s.%s: must be a number", ctx, key);
    double d = it->valuedouble;
    if (!isfinite(d) || d < min || d > max)
        return vp_errf(e, VP_EINPUT, "%s.%s: must be a number in [%g, %g] (got %g)", ctx, key, min,
                       max, d);
    *out = d;
    return 0;
}

int vp_json_bool(const cJSON *obj, const char *key, const char *ctx, bool required, bool *out,
                 vp_err *e)
{
    const cJSON *it;
    int rc = get(obj, key, ctx, required, &it, e);
    if (rc) return rc;
    if (!cJSON_IsBool(it)) return vp_errf(e, VP_EINPUT, "%s.%s: must be true or false", ctx, key);
    *out = cJSON_IsTrue(it);
    return 0;
}

int vp_json_str(const cJSON *obj, const char *key, const char *ctx, bool required, char *out,
                size_t cap, vp_err *e)
{
    const cJSON *it;
    int rc = get(obj, key, ctx, required, &it, e);
    if (rc) return rc;
    if (!cJSON_IsString(it) || !it->valuestring)
        return vp_errf(e, VP_EINPUT, "%s.%s: must be a string", ctx, key);
    size_t n = strlen(it->valuestring);
    if (n == 0) return vp_errf(e, VP_EINPUT, "%s.%s: must not be empty", ctx, key);
    if (n >= cap)
        return vp_errf(e, VP_EINPUT, "%s.%s: longer than %zu characters", ctx, key, cap - 1);
    memcpy(out, it->valuestring, n + 1);
    return 0;
}

int vp_json_only_keys(const cJSON *obj, const char *const *allowed, const char *ctx, vp_err *e)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        /* cJSON keeps duplicate keys and lookups see the first: refuse them instead. */
        for (const cJSON *prev = obj->child; prev && prev != it; prev = prev->next)
            if (prev->string && it->string && !strcmp(prev->string, it->string))
                return vp_errf(e, VP_EINPUT, "%s.%s: given twice", ctx, it->string);
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (it->string && strcmp(it->string, *a) == 0) { ok = true; break; }
        if (!ok)
            return vp_errf(e, VP_EINPUT, "%s.%s: unknown field", ctx,
                           it->string ? it->string : "?");
    }
    return 0;
}
