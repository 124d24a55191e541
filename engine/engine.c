/* engine.c - engine names and command-template placeholders (see engine.h). */
#include "engine.h"

#include <string.h>
#include <strings.h>

static const char *const names[ENG_COUNT] = {
    [ENG_BUILTIN] = "builtin", [ENG_VLLM] = "vllm",       [ENG_SGLANG] = "sglang",
    [ENG_LLAMACPP] = "llama.cpp", [ENG_COMMAND] = "command",
};

int eng_parse(const char *name, eng_kind *out)
{
    if (!name) return VP_ENOTFOUND;
    for (int k = 0; k < ENG_COUNT; k++)
        if (!strcasecmp(name, names[k])) {
            *out = (eng_kind)k;
            return 0;
        }
    if (!strcasecmp(name, "llamacpp") || !strcasecmp(name, "llama-cpp")) {
        *out = ENG_LLAMACPP;
        return 0;
    }
    return VP_ENOTFOUND;
}

const char *eng_name(eng_kind k)
{
    return (unsigned)k < ENG_COUNT ? names[k] : "?";
}

const char *eng_names_list(void)
{
    return "builtin, vllm, sglang, llama.cpp, command";
}

bool eng_placeholder_known(const char *name, size_t len)
{
    static const char *const known[] = {"model",   "id",        "replica",  "source", "tp",
                                        "pp",      "max_seq_len", "max_batch", "kv_dtype",
                                        "kv_bytes", "bytes",    "fraction", "port"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i]) == len && !memcmp(known[i], name, len)) return true;
    return false;
}

size_t eng_placeholder_at(const char *p)
{
    if (*p != '{') return 0;
    size_t n = 1;
    while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= '0' && p[n] <= '9') || p[n] == '_') n++;
    return n > 1 && p[n] == '}' ? n + 1 : 0;
}

int eng_template_check(const char *arg, vp_err *e)
{
    for (const char *p = strchr(arg, '{'); p; p = strchr(p + 1, '{')) {
        size_t n = eng_placeholder_at(p);
        if (n && !eng_placeholder_known(p + 1, n - 2))
            return vp_errf(e, VP_EINPUT, "unknown placeholder %.*s (known: %s)", (int)n, p,
                           ENG_PLACEHOLDERS);
    }
    return 0;
}
