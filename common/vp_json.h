/* vp_json.h - reading files and typed JSON fields with errors that name the file and field.
 *
 * Every vrampack parser (manifests, fleets, HF configs, plans, protocol messages) goes through
 * these getters so that a bad value always yields the same kind of one-line message:
 *   "fleet.json: catalog[2].price_per_hour: must be a number >= 0 (got -1)".
 * `ctx` is the prefix of that message (file plus path to the object); the getters append the key.
 * Integers must be exact JSON integers no larger than 2^53 (where a double stops being exact).
 * Getters return 0 when the field was read, 1 when it is absent and optional (the output is left
 * untouched, so callers preset defaults), or a negative VP_E* code with e filled. */
#ifndef VP_JSON_H
#define VP_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vp.h"

#define VP_JSON_MAX_EXACT 9007199254740992ULL /* 2^53 */

/* Reads a whole file into a NUL-terminated buffer the caller frees. Refuses files larger than
 * max_bytes with VP_ETOOBIG. */
int vp_read_file(const char *path, size_t max_bytes, char **out, size_t *out_len, vp_err *e);

/* Parses JSON text; on error the message names `what` and the line and column. The caller owns
 * *out (cJSON_Delete). Thread-safe (does not use cJSON_GetErrorPtr). */
int vp_json_parse(const char *buf, size_t len, const char *what, cJSON **out, vp_err *e);

/* Reads and parses a file in one step (vp_read_file + vp_json_parse). */
int vp_json_load(const char *path, size_t max_bytes, cJSON **out, vp_err *e);

int vp_json_u64(const cJSON *obj, const char *key, const char *ctx, bool required, uint64_t min,
                uint64_t max, uint64_t *out, vp_err *e);
int vp_json_u32(const cJSON *obj, const char *key, const char *ctx, bool required, uint32_t min,
                uint32_t max, uint32_t *out, vp_err *e);
/* A byte count: a JSON integer, or a quantity string such as "24Gi" (vp_parse_bytes). */
int vp_json_bytes(const cJSON *obj, const char *key, const char *ctx, bool required, uint64_t min,
                  uint64_t max, uint64_t *out, vp_err *e);
int vp_json_double(const cJSON *obj, const char *key, const char *ctx, bool required, double min,
                   double max, double *out, vp_err *e);
int vp_json_bool(const cJSON *obj, const char *key, const char *ctx, bool required, bool *out,
                 vp_err *e);
/* Copies a non-empty string of at most cap-1 bytes into out. */
int vp_json_str(const cJSON *obj, const char *key, const char *ctx, bool required, char *out,
                size_t cap, vp_err *e);

/* Refuses keys of obj not in the NULL-terminated list `allowed` (catches typos such as
 * "replica" for "replicas"). */
int vp_json_only_keys(const cJSON *obj, const char *const *allowed, const char *ctx, vp_err *e);

#endif
