/* vp.c - error names, error lines, string builder and checked arithmetic (see vp.h). */
#include "vp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *vp_strerror(int code)
{
    switch (code) {
    case VP_OK: return "success";
    case VP_EPARSE: return "malformed input";
    case VP_EINPUT: return "invalid input";
    case VP_ENOTFOUND: return "unknown name";
    case VP_ETOOBIG: return "too big";
    case VP_EPROTO: return "protocol error";
    case VP_EAGAIN: return "incomplete input";
    case VP_EAUTH: return "authentication failed";
    case VP_ESOLVER: return "solver failure";
    case VP_ENOSPACE: return "does not fit";
    case VP_EDUP: return "duplicate name";
    case VP_EOVERFLOW: return "arithmetic overflow";
    case VP_EUSAGE: return "bad usage";
    case VP_ESTATE: return "invalid state";
    default: break;
    }
    if (code < 0 && code > -4096) return strerror(-code);
    return "unknown error";
}

int vp_errf(vp_err *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = code;
    }
    return code;
}

static int sb_reserve(vp_sb *sb, size_t extra)
{
    if (sb->oom) return -1;
    if (sb->len + extra + 1 <= sb->cap) return 0;
    size_t cap = sb->cap ? sb->cap : 256;
    while (cap < sb->len + extra + 1) {
        if (cap > SIZE_MAX / 2) { sb->oom = 1; return -1; }
        cap *= 2;
    }
    char *p = realloc(sb->buf, cap);
    if (!p) { sb->oom = 1; return -1; }
    sb->buf = p;
    sb->cap = cap;
    return 0;
}

void vp_sb_append(vp_sb *sb, const char *s, size_t n)
{
    if (sb_reserve(sb, n)) return;
    memcpy(sb->buf + sb->len, s, n);
    sb->len += n;
    sb->buf[sb->len] = '\0';
}

void vp_sb_vprintf(vp_sb *sb, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0 || sb_reserve(sb, (size_t)n)) return;
    vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, ap);
    sb->len += (size_t)n;
}

void vp_sb_printf(vp_sb *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vp_sb_vprintf(sb, fmt, ap);
    va_end(ap);
}

void vp_sb_json_str(vp_sb *sb, const char *s)
{
    vp_sb_append(sb, "\"", 1);
    const char *run = s;
    for (const char *p = s;; p++) {
        unsigned char c = (unsigned char)*p;
        if (c != 0 && c != '"' && c != '\\' && c >= 0x20 && c != 0x7f) continue;
        vp_sb_append(sb, run, (size_t)(p - run));
        if (c == 0) break;
        switch (c) {
        case '"': vp_sb_append(sb, "\\\"", 2); break;
        case '\\': vp_sb_append(sb, "\\\\", 2); break;
        case '\n': vp_sb_append(sb, "\\n", 2); break;
        case '\r': vp_sb_append(sb, "\\r", 2); break;
        case '\t': vp_sb_append(sb, "\\t", 2); break;
        default: vp_sb_printf(sb, "\\u%04x", c); break;
        }
        run = p + 1;
    }
    vp_sb_append(sb, "\"", 1);
}

int vp_sb_ok(const vp_sb *sb) { return !sb->oom; }
const char *vp_sb_str(const vp_sb *sb) { return sb->buf ? sb->buf : ""; }

char *vp_sb_steal(vp_sb *sb)
{
    char *p = sb->buf;
    if (!p && !sb->oom) p = calloc(1, 1);
    sb->buf = NULL;
    sb->len = sb->cap = 0;
    sb->oom = 0;
    return p;
}

void vp_sb_free(vp_sb *sb)
{
    free(sb->buf);
    sb->buf = NULL;
    sb->len = sb->cap = 0;
    sb->oom = 0;
}

int vp_grow(void **arr, size_t *cap, size_t need, size_t elem, size_t first)
{
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : (first ? first : 16);
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / (elem ? elem : 1)) return -ENOMEM;
        nc *= 2;
    }
    void *a = realloc(*arr, nc * elem);
    if (!a) return -ENOMEM;
    *arr = a;
    *cap = nc;
    return 0;
}

int vp_mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (__builtin_mul_overflow(a, b, out)) return VP_EOVERFLOW;
    return 0;
}

int vp_add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (__builtin_add_overflow(a, b, out)) return VP_EOVERFLOW;
    return 0;
}

int vp_muldiv_ceil_u64(uint64_t a, uint64_t num, uint64_t den, uint64_t *out)
{
    if (den == 0) return VP_EINPUT;
    unsigned __int128 p = (unsigned __int128)a * num;
    unsigned __int128 q = p / den + (p % den != 0);
    if (q > UINT64_MAX) return VP_EOVERFLOW;
    *out = (uint64_t)q;
    return 0;
}

int vp_muldiv_floor_u64(uint64_t a, uint64_t num, uint64_t den, uint64_t *out)
{
    if (den == 0) return VP_EINPUT;
    unsigned __int128 q = (unsigned __int128)a * num / den;
    if (q > UINT64_MAX) return VP_EOVERFLOW;
    *out = (uint64_t)q;
    return 0;
}

/* The multiplier a quantity suffix names, or 0 when it names none. */
static uint64_t bytes_suffix(const char *s)
{
    static const struct { const char *sfx; uint64_t mult; } table[] = {
        {"", 1ULL},
        {"B", 1ULL},
        {"Ki", 1ULL << 10}, {"KiB", 1ULL << 10},
        {"Mi", 1ULL << 20}, {"MiB", 1ULL << 20},
        {"Gi", 1ULL << 30}, {"GiB", 1ULL << 30},
        {"Ti", 1ULL << 40}, {"TiB", 1ULL << 40},
        {"Pi", 1ULL << 50}, {"PiB", 1ULL << 50},
        {"k", 1000ULL}, {"K", 1000ULL}, {"kB", 1000ULL}, {"KB", 1000ULL},
        {"M", 1000000ULL}, {"MB", 1000000ULL},
        {"G", 1000000000ULL}, {"GB", 1000000000ULL},
        {"T", 1000000000000ULL}, {"TB", 1000000000000ULL},
        {"P", 1000000000000000ULL}, {"PB", 1000000000000000ULL},
    };
    for (size_t i = 0; i < VP_ARRAY_LEN(table); i++)
        if (!strcmp(s, table[i].sfx)) return table[i].mult;
    return 0;
}

int vp_parse_bytes(const char *s, uint64_t *out)
{
    /* mantissa = whole digits and up to 18 fraction digits, kept as an exact fraction
     * num / 10^frac so that "1.5Gi" is 1610612736 with no float in the way. */
    uint64_t num = 0, den = 1;
    int digits = 0, frac = -1;
    const char *p = s;
    for (; *p; p++) {
        if (*p == '.' && frac < 0) { frac = 0; continue; }
        if (*p < '0' || *p > '9') break;
        if (frac >= 0 && ++frac > 18) return VP_EINPUT;
        if (vp_mul_u64(num, 10, &num) || vp_add_u64(num, (uint64_t)(*p - '0'), &num))
            return VP_EOVERFLOW;
        if (frac > 0) den *= 10;
        digits++;
    }
    if (!digits || frac == 0) return VP_EINPUT; /* "", "Gi", "1." */
    uint64_t mult = bytes_suffix(p);
    if (!mult) return VP_EINPUT;
    unsigned __int128 v = (unsigned __int128)num * mult;
    if (v % den) return VP_EINPUT;
    v /= den;
    if (v > UINT64_MAX) return VP_EOVERFLOW;
    *out = (uint64_t)v;
    return 0;
}
