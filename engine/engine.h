/* engine.h - the serving engines a placement may run, and the placeholders of command templates.
 *
 * A manifest names its engine (`builtin`, `vllm`, `sglang`, `llama.cpp`, or `command` for a
 * template of its own). The planner checks templates with eng_template_check when it reads a
 * manifest, so an unknown placeholder is refused with the field named instead of reaching a
 * worker's command line verbatim; the agent fills the same placeholders when it starts a worker.
 * Pure and thread-safe: static tables only. */
#ifndef VP_ENGINE_H
#define VP_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "vp.h"

typedef enum eng_kind {
    ENG_BUILTIN,  /* vrampack-worker */
    ENG_VLLM,     /* vllm serve */
    ENG_SGLANG,   /* python -m sglang.launch_server */
    ENG_LLAMACPP, /* llama-server */
    ENG_COMMAND,  /* the manifest's worker.command template */
    ENG_COUNT
} eng_kind;

/* "builtin", "vllm", "sglang", "llama.cpp" (also "llamacpp", "llama-cpp"), "command" -> kind.
 * 0 or VP_ENOTFOUND. */
int eng_parse(const char *name, eng_kind *out);
/* Canonical name; never NULL. */
const char *eng_name(eng_kind k);
/* "builtin, vllm, sglang, llama.cpp, command": for messages and --help. */
const char *eng_names_list(void);

/* Placeholders a command template may hold, as "{name}". */
#define ENG_PLACEHOLDERS                                                                          \
    "{model} {id} {replica} {source} {tp} {pp} {max_seq_len} {max_batch} {kv_dtype} {kv_bytes} " \
    "{bytes} {fraction} {port}"

/* true when `name` (len bytes, without braces) is a known placeholder. */
bool eng_placeholder_known(const char *name, size_t len);

/* A placeholder is "{" + [a-z0-9_]+ + "}"; any other brace is literal text, so JSON arguments
 * such as '{"temperature": 0.5}' pass through. Length of the placeholder token at p (braces
 * included), or 0 when p does not start one. */
size_t eng_placeholder_at(const char *p);

/* Checks one template argument: every placeholder token is a known one. Returns 0, or VP_EINPUT
 * with e->msg "unknown placeholder {x} (known: ...)". */
int eng_template_check(const char *arg, vp_err *e);

#endif
