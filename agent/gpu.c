/* gpu.c - what GPUs this node has: simulated from --sim, or found through NVML.
 *
 * NVML is loaded with dlopen so the agent builds and runs on machines without the driver; only
 * the seven entry points below are used. GPU model names are mapped to the catalog's names so
 * the controller can match them against its plan. The simulated memory sizes repeat the
 * catalog's driver-reported totals (planner/catalog.c) in a small table of our own, because the
 * agent depends only on proto and placement, not on the planner; a spec may also give the
 * bytes explicitly ("X:2:24Gi") for any other model. */
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_int.h"
#include "vp_json.h"

#define MIB 1048576ULL

/* nvidia-smi memory.total in MiB x 2^20, as in planner/catalog.c. */
static const struct {
    const char *name;
    uint64_t total_bytes;
} sim_models[] = {
    {"A10G", 23028 * MIB},      {"L4", 23034 * MIB},        {"L40S", 46068 * MIB},
    {"A100-40GB", 40960 * MIB}, {"A100-80GB", 81920 * MIB}, {"H100-80GB", 81559 * MIB},
    {"H200", 143771 * MIB},
};

static const struct {
    const char *alias, *name;
} sim_aliases[] = {
    {"H100", "H100-80GB"},
    {"A100", "A100-80GB"},
    {"A10", "A10G"},
    {"H200-141GB", "H200"},
};

int agent_sim_parse(const char *spec, proto_gpu *gpus, int *n, vp_err *e)
{
    *n = 0;
    if (!spec || !*spec) return vp_errf(e, VP_EUSAGE, "--sim: empty (want MODEL:COUNT[,...])");
    char buf[1024];
    if (strlen(spec) >= sizeof buf) return vp_errf(e, VP_EUSAGE, "--sim: too long");
    strcpy(buf, spec);
    int count_all = 0;
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *model = item, *cnt = strchr(item, ':'), *bytes = NULL;
        if (!cnt) return vp_errf(e, VP_EUSAGE, "--sim: \"%s\": want MODEL:COUNT[:BYTES]", item);
        *cnt++ = '\0';
        bytes = strchr(cnt, ':');
        if (bytes) *bytes++ = '\0';
        char *end;
        long c = strtol(cnt, &end, 10);
        if (!*cnt || *end || c < 1 || c > PROTO_MAX_GPUS)
            return vp_errf(e, VP_EUSAGE,
                           "--sim: %s: count must be an integer in [1, %d] (got \"%s\")", model,
                           PROTO_MAX_GPUS, cnt);
        if (!*model || strlen(model) >= PROTO_GPU_MODEL_MAX)
            return vp_errf(e, VP_EUSAGE, "--sim: bad GPU model name \"%s\"", model);
        for (const char *p = model; *p; p++)
            if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
                return vp_errf(e, VP_EUSAGE, "--sim: bad GPU model name \"%s\"", model);
        const char *name = model;
        for (size_t i = 0; i < VP_ARRAY_LEN(sim_aliases); i++)
            if (!strcmp(model, sim_aliases[i].alias)) name = sim_aliases[i].name;
        uint64_t total = 0;
        if (bytes) {
            if (vp_parse_bytes(bytes, &total) || total == 0 || total > VP_JSON_MAX_EXACT)
                return vp_errf(e, VP_EUSAGE,
                               "--sim: %s: bad byte count \"%s\" (bytes, or a quantity such as "
                               "24Gi or 80G)",
                               model, bytes);
        } else {
            for (size_t i = 0; i < VP_ARRAY_LEN(sim_models); i++)
                if (!strcmp(name, sim_models[i].name)) total = sim_models[i].total_bytes;
            if (!total)
                return vp_errf(e, VP_EUSAGE,
                               "--sim: unknown GPU model \"%s\" (known: A10G, L4, L40S, A100-40GB, "
                               "A100-80GB, H100-80GB, H200; or give MODEL:COUNT:BYTES)",
                               model);
        }
        if (count_all + c > PROTO_MAX_GPUS)
            return vp_errf(e, VP_EUSAGE, "--sim: more than %d GPUs in all", PROTO_MAX_GPUS);
        for (long i = 0; i < c; i++) {
            proto_gpu *g = &gpus[count_all];
            memset(g, 0, sizeof *g);
            g->index = (uint32_t)count_all;
            snprintf(g->model, sizeof g->model, "%s", name);
            g->total_bytes = total;
            count_all++;
        }
    }
    if (count_all == 0) return vp_errf(e, VP_EUSAGE, "--sim: no GPUs (want MODEL:COUNT[,...])");
    *n = count_all;
    return 0;
}

/* ---- NVML ------------------------------------------------------------------------------- */

typedef int nvml_ret;
typedef struct nvml_device *nvml_device;
typedef struct {
    unsigned long long total, free, used;
} nvml_memory;

/* Maps an NVML product name to the catalog's name; others keep their name with "NVIDIA "
 * dropped and spaces turned into dashes. */
static void catalog_name(const char *nvml, uint64_t total, char *out, size_t cap)
{
    const uint64_t gib = 1ULL << 30;
    if (strstr(nvml, "H200"))
        snprintf(out, cap, "H200");
    else if (strstr(nvml, "H100") && total < 90 * gib)
        snprintf(out, cap, "H100-80GB");
    else if (strstr(nvml, "A100"))
        snprintf(out, cap, total > 60 * gib ? "A100-80GB" : "A100-40GB");
    else if (strstr(nvml, "L40S"))
        snprintf(out, cap, "L40S");
    else if (strstr(nvml, "A10G"))
        snprintf(out, cap, "A10G");
    else {
        const char *s = !strncmp(nvml, "NVIDIA ", 7) ? nvml + 7 : nvml;
        if (!strcmp(s, "L4")) {
            snprintf(out, cap, "L4");
            return;
        }
        size_t o = 0;
        for (; *s && o + 1 < cap; s++)
            out[o++] = *s == ' ' ? '-' : *s;
        out[o] = '\0';
    }
}

int agent_nvml_discover(proto_gpu *gpus, int *n, vp_err *e)
{
    *n = 0;
    void *lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return vp_errf(e, -ENOENT,
                       "no NVIDIA driver found (cannot load libnvidia-ml.so.1); use --sim "
                       "MODEL:COUNT to simulate GPUs");
    nvml_ret (*init)(void) = (nvml_ret(*)(void))dlsym(lib, "nvmlInit_v2");
    nvml_ret (*shutdown)(void) = (nvml_ret(*)(void))dlsym(lib, "nvmlShutdown");
    nvml_ret (*count)(unsigned *) = (nvml_ret(*)(unsigned *))dlsym(lib, "nvmlDeviceGetCount_v2");
    nvml_ret (*handle)(unsigned, nvml_device *) =
        (nvml_ret(*)(unsigned, nvml_device *))dlsym(lib, "nvmlDeviceGetHandleByIndex_v2");
    nvml_ret (*meminfo)(nvml_device, nvml_memory *) =
        (nvml_ret(*)(nvml_device, nvml_memory *))dlsym(lib, "nvmlDeviceGetMemoryInfo");
    nvml_ret (*getname)(nvml_device, char *, unsigned) =
        (nvml_ret(*)(nvml_device, char *, unsigned))dlsym(lib, "nvmlDeviceGetName");
    nvml_ret (*getuuid)(nvml_device, char *, unsigned) =
        (nvml_ret(*)(nvml_device, char *, unsigned))dlsym(lib, "nvmlDeviceGetUUID");
    int rc = 0;
    if (!init || !shutdown || !count || !handle || !meminfo || !getname || !getuuid) {
        rc = vp_errf(e, -ENOENT, "libnvidia-ml.so.1 lacks the NVML functions needed; use --sim");
        goto out;
    }
    nvml_ret r = init();
    if (r != 0) {
        rc = vp_errf(e, -ENODEV,
                     "NVML failed to initialise (error %d: no GPU or driver not "
                     "loaded); use --sim MODEL:COUNT to simulate GPUs",
                     r);
        goto out;
    }
    unsigned cnt = 0;
    if ((r = count(&cnt)) != 0) {
        rc = vp_errf(e, -EIO, "nvmlDeviceGetCount failed (error %d)", r);
        goto done;
    }
    if (cnt == 0) {
        rc = vp_errf(e, -ENODEV, "NVML reports no GPUs; use --sim to simulate GPUs");
        goto done;
    }
    if (cnt > PROTO_MAX_GPUS) cnt = PROTO_MAX_GPUS;
    for (unsigned i = 0; i < cnt; i++) {
        nvml_device d;
        nvml_memory mem;
        char name[96] = "", uuid[96] = "";
        if ((r = handle(i, &d)) != 0 || (r = meminfo(d, &mem)) != 0 ||
            (r = getname(d, name, sizeof name)) != 0 || (r = getuuid(d, uuid, sizeof uuid)) != 0) {
            rc = vp_errf(e, -EIO, "NVML: GPU %u: query failed (error %d)", i, r);
            goto done;
        }
        proto_gpu *g = &gpus[i];
        memset(g, 0, sizeof *g);
        g->index = i;
        g->total_bytes = mem.total;
        catalog_name(name, mem.total, g->model, sizeof g->model);
        snprintf(g->uuid, sizeof g->uuid, "%s", uuid);
    }
    *n = (int)cnt;
done:
    shutdown();
out:
    dlclose(lib);
    return rc;
}

void agent_default_worker_path(char *buf, size_t cap)
{
    char exe[4096];
    size_t len = sizeof exe;
    if (uv_exepath(exe, &len) == 0) {
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            static const char *const rel[] = {"/vrampack-worker", "/../vrampack-worker",
                                              "/../kernels/vrampack-worker",
                                              "/../bin/vrampack-worker"};
            for (size_t i = 0; i < VP_ARRAY_LEN(rel); i++) {
                snprintf(buf, cap, "%s%s", exe, rel[i]);
                if (access(buf, X_OK) == 0) return;
            }
        }
    }
    snprintf(buf, cap, "vrampack-worker");
}
