/* engine_mem.h - memory profiles of serving engines: what vLLM, SGLang and llama.cpp allocate
 * besides the weights and the KV cache, and how each sizes its KV cache (engine_mem.c).
 *
 * A profile is one engine over a range of versions: its constants (default memory fraction, KV
 * block, rotary cache width, default batch shapes, tables read from logs) and the formulas that
 * turn the model's config and the engine's flags into named terms. plan_footprint_compute applies
 * the profile of plan_fp_opts.engine; these functions are for the CLI and the manifest. Pure and
 * thread-safe: static tables only. */
#ifndef PLAN_ENGINE_MEM_H
#define PLAN_ENGINE_MEM_H

#include <stdbool.h>
#include <stdint.h>

#include "footprint.h"

/* true when the engine has a memory profile (vllm, sglang, llama.cpp). */
bool plan_engine_has_profile(eng_kind k);
/* "vllm, sglang, llama.cpp" */
const char *plan_engine_profile_names(void);
/* The label of the profile a version selects ("vllm 0.8+ (V1)"); NULL without a profile. */
const char *plan_engine_profile_label(eng_kind k, uint32_t version);
/* Every profile, one per line ("vllm 0.5.0-0.6.4 (V0): ..."), for --help. Never NULL. */
const char *plan_engine_profiles_text(void);

/* "0.6.4" -> 604, "0.15.1" -> 1501, "b4567" or "4567" (llama.cpp builds) -> 4567. 0 or
 * VP_EINPUT. */
int plan_engine_version_parse(const char *s, uint32_t *out);

/* Reads the flags of an engine's command line that change its memory (vLLM
 * --max-num-batched-tokens, --max-num-seqs, --enforce-eager, --block-size, --kv-cache-dtype,
 * --quantization, --enable-chunked-prefill=false; SGLang --chunked-prefill-size,
 * --disable-cuda-graph, --kv-cache-dtype, --quantization; llama.cpp -ub/--ubatch-size,
 * -fa/--flash-attn, -ctk/--cache-type-k) into o. argv is NULL-terminated (may be NULL); flags
 * the profile does not know are left alone. VP_EINPUT names a flag whose value is not
 * understood. */
int plan_engine_args_apply(eng_kind k, char *const *argv, plan_fp_opts *o, vp_err *e);

#endif
