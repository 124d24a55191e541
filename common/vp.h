/* vp.h - the few basics every vrampack module shares: error codes, error messages, a string
 * builder and checked integer arithmetic.
 *
 * Convention (the whole project): functions return int, 0 on success and a negative code on
 * failure. System errors are -errno, libuv codes pass through unchanged, and vrampack's own codes
 * live in the VP_E* range below. vp_strerror() names every one of them. Functions that can fail
 * on input also take a vp_err *, into which they write ONE human-readable line naming the file,
 * the object and the field at fault; the caller decides whether and where to print it.
 * Libraries never print and never exit. */
#ifndef VP_H
#define VP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    VP_OK = 0,
    VP_EPARSE = -30001,     /* input is not well-formed (JSON syntax, a number that is not one) */
    VP_EINPUT = -30002,     /* well-formed input with a missing, wrong-typed or out-of-range field */
    VP_ENOTFOUND = -30003,  /* a name that refers to nothing (GPU model, instance type, model) */
    VP_ETOOBIG = -30004,    /* a size over a hard limit (file, frame, count) */
    VP_EPROTO = -30005,     /* a protocol frame that breaks the wire contract */
    VP_EAGAIN = -30006,     /* not enough bytes yet: call again with more */
    VP_EAUTH = -30007,      /* missing or wrong token */
    VP_ESOLVER = -30008,    /* the solver library failed (not a verdict: infeasible is a result) */
    VP_ENOSPACE = -30009,   /* a request that does not fit the capacity it was given */
    VP_EDUP = -30010,       /* a duplicate name where names must be unique */
    VP_EOVERFLOW = -30011,  /* arithmetic that would not fit 64 bits */
    VP_EUSAGE = -30012,     /* a command line that does not make sense */
    VP_ESTATE = -30013,     /* a call that is not valid in the object's current state */
};

/* Name of any code this project returns (its own, -errno, or 0). Never NULL; static storage. */
const char *vp_strerror(int code);

/* One error line, filled by the failing function. msg is always NUL-terminated. */
typedef struct vp_err {
    int code;
    char msg[512];
} vp_err;

/* Formats msg into e (when e is not NULL) and returns code, so callers can write
 * `return vp_errf(e, VP_EINPUT, "%s: models[%zu].dtype: unknown dtype \"%s\"", ...);`. */
int vp_errf(vp_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Growable NUL-terminated string. Zero-initialise (`vp_sb sb = {0};`) then append; the owner
 * calls vp_sb_free. On allocation failure the builder sets oom and ignores further appends, so
 * callers check once at the end with vp_sb_ok(). */
typedef struct vp_sb {
    char *buf;
    size_t len, cap;
    int oom;
} vp_sb;

void vp_sb_printf(vp_sb *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vp_sb_vprintf(vp_sb *sb, const char *fmt, va_list ap);
void vp_sb_append(vp_sb *sb, const char *s, size_t n);
/* Appends s as a quoted JSON string: " \\ and control characters escaped, other bytes as they
 * are (UTF-8 passes through). */
void vp_sb_json_str(vp_sb *sb, const char *s);
int vp_sb_ok(const vp_sb *sb);            /* 1 when no allocation failed */
const char *vp_sb_str(const vp_sb *sb);   /* "" when empty; owned by sb */
char *vp_sb_steal(vp_sb *sb);             /* caller frees; sb is reset */
void vp_sb_free(vp_sb *sb);

/* Makes room for `need` elements of `elem` bytes in the array *arr whose capacity is *cap,
 * doubling from `first`; 0 or -ENOMEM (the array is then unchanged). The one growth policy for
 * every dynamic array in the project. */
int vp_grow(void **arr, size_t *cap, size_t need, size_t elem, size_t first);

/* Checked arithmetic: return 0 and store the result, or VP_EOVERFLOW. */
int vp_mul_u64(uint64_t a, uint64_t b, uint64_t *out);
int vp_add_u64(uint64_t a, uint64_t b, uint64_t *out);
/* ceil(a * num / den) with a 128-bit intermediate; VP_EOVERFLOW when the result exceeds 64 bits,
 * VP_EINPUT when den is 0. The way every fraction (overhead, utilisation, bits per weight) is
 * applied to a byte count, so no float ever rounds a byte total. */
int vp_muldiv_ceil_u64(uint64_t a, uint64_t num, uint64_t den, uint64_t *out);
/* floor(a * num / den), same contract. */
int vp_muldiv_floor_u64(uint64_t a, uint64_t num, uint64_t den, uint64_t *out);

/* A byte quantity as people write it: "25769803776", "24Gi", "24GiB", "1.5Ti", "80G", "512M",
 * "4k". Binary suffixes Ki Mi Gi Ti Pi (optionally followed by B), decimal k/K M G T P (also
 * kB, MB, GB, TB, PB), as Kubernetes quantities do. The value must be a whole number of bytes
 * ("0.1Ki" is refused) and fit 64 bits. 0, VP_EINPUT (malformed or not whole) or VP_EOVERFLOW. */
int vp_parse_bytes(const char *s, uint64_t *out);

/* The software version (CMake's project VERSION, passed to every module through vp_common). */
#ifndef VP_VERSION
#define VP_VERSION "0.0.0-unknown"
#endif

#define VP_GIB (1024.0 * 1024.0 * 1024.0)
#define VP_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#ifdef __cplusplus
}
#endif

#endif
