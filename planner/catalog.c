/* catalog.c - the built-in fleet: GPU models and cloud instance types, each figure sourced.
 *
 * Memory is what the driver reports as total (nvidia-smi memory.total MiB x 1048576), because that
 * is what gpu_memory_utilization applies to. Bandwidth is the NVIDIA datasheet figure in GB/s
 * (decimal). Prices are on-demand Linux $/hour in us-east-1 (AWS) or us-central1 (GCP). They
 * change: a fleet file overrides the catalog (see README "Fleet files"). The AWS P-family list
 * prices predate AWS's June 2025 GPU price cut (P4/P5 reduced by up to ~45%); they are kept as
 * list prices and flagged here, so plans on them overstate $/hour for those types. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "planner.h"

#define MIB_ 1048576ULL

/* Sources: nvidia-smi memory.total readings collected in public outputs; NVIDIA datasheets.
 * cuda_bytes is the total CUDA reports (cudaMemGetInfo), which engines apply their memory fraction
 * to; the driver keeps a few hundred MiB out of it. Figures read from engine logs and PyTorch
 * out-of-memory messages; where none was found, 438 MiB under memory.total, the gap on A10G,
 * RTX 3090 and H100 alike. TFLOPS: dense (without sparsity) tensor-core BF16 and FP8 from NVIDIA's
 * datasheets, for prefill (compute-bound) estimates; 0 where the GPU has no FP8. */
static const plan_gpu_model builtin_gpus[] = {
    /* A10G (AWS g5): 23028 MiB; 600 GB/s (NVIDIA A10 datasheet; A10G is AWS's variant); CUDA
     * 22.06 GiB (vLLM "total_gpu_memory (22.06GiB)" logs); BF16 125 TFLOPS (A10 datasheet). */
    {"A10G", 23028 * MIB_, 600, 22589 * MIB_, 125, 0},
    /* L4: 23034 MiB; 300 GB/s; CUDA as A10G; BF16 121, FP8 242.5 TFLOPS (NVIDIA L4 datasheet,
     * 242 / 485 with sparsity). */
    {"L4", 23034 * MIB_, 300, 22595 * MIB_, 121, 242},
    /* L40S: 46068 MiB; 864 GB/s; BF16 362, FP8 733 TFLOPS (NVIDIA L40S datasheet). */
    {"L40S", 46068 * MIB_, 864, 45630 * MIB_, 362, 733},
    /* A100 SXM4 40GB: 40960 MiB; 1555 GB/s; CUDA 39.39 GiB (PyTorch "total capacity of 39.39
     * GiB"); BF16 312 TFLOPS (NVIDIA A100 datasheet). */
    {"A100-40GB", 40960 * MIB_, 1555, 40335 * MIB_, 312, 0},
    /* A100 SXM4 80GB: 81920 MiB; 2039 GB/s (SXM); CUDA 79.15 GiB (PyTorch "total capacity of
     * 79.15 GiB"); BF16 312 TFLOPS. */
    {"A100-80GB", 81920 * MIB_, 2039, 81050 * MIB_, 312, 0},
    /* H100 SXM5 80GB: 81559 MiB; 3350 GB/s; CUDA 79.22 GiB (vLLM "total_gpu_memory 79.22GiB",
     * vllm#10511); BF16 989, FP8 1979 TFLOPS (NVIDIA H100 datasheet, SXM). */
    {"H100-80GB", 81559 * MIB_, 3350, 81121 * MIB_, 989, 1979},
    /* H200 SXM: 143771 MiB; 4800 GB/s; BF16 989, FP8 1979 TFLOPS (NVIDIA H200 datasheet). */
    {"H200", 143771 * MIB_, 4800, 143333 * MIB_, 989, 1979},
};

/* Names people write for the same GPU. */
static const struct { const char *alias, *name; } gpu_aliases[] = {
    {"H100", "H100-80GB"}, {"A100", "A100-80GB"}, {"A100-80G", "A100-80GB"},
    {"A100-40G", "A100-40GB"}, {"H200-141GB", "H200"}, {"A10", "A10G"},
};

static const plan_instance builtin_types[] = {
    /* AWS G5 (A10G), us-east-1 on-demand (AWS EC2 pricing page). */
    {"g5.xlarge", "A10G", 1, 1.006, -1, PLAN_TIER_ON_DEMAND, 0},
    {"g5.12xlarge", "A10G", 4, 5.672, -1, PLAN_TIER_ON_DEMAND, 0},
    {"g5.48xlarge", "A10G", 8, 16.288, -1, PLAN_TIER_ON_DEMAND, 0},
    /* AWS G6 (L4), us-east-1 on-demand (AWS EC2 pricing page). */
    {"g6.xlarge", "L4", 1, 0.8048, -1, PLAN_TIER_ON_DEMAND, 0},
    {"g6.12xlarge", "L4", 4, 4.6016, -1, PLAN_TIER_ON_DEMAND, 0},
    {"g6.48xlarge", "L4", 8, 13.3504, -1, PLAN_TIER_ON_DEMAND, 0},
    /* AWS G6e (L40S), us-east-1 on-demand (AWS EC2 pricing page, 2025). */
    {"g6e.xlarge", "L40S", 1, 1.861, -1, PLAN_TIER_ON_DEMAND, 0},
    {"g6e.12xlarge", "L40S", 4, 10.493, -1, PLAN_TIER_ON_DEMAND, 0},
    {"g6e.48xlarge", "L40S", 8, 30.131, -1, PLAN_TIER_ON_DEMAND, 0},
    /* GCP A2 (A100 40GB), us-central1 on-demand, GPU included (GCP VM pricing page). */
    {"a2-highgpu-1g", "A100-40GB", 1, 3.6731, -1, PLAN_TIER_ON_DEMAND, 0},
    {"a2-highgpu-4g", "A100-40GB", 4, 14.6924, -1, PLAN_TIER_ON_DEMAND, 0},
    /* AWS P4d (A100 40GB): list price before the June 2025 cut (~33% lower since). */
    {"p4d.24xlarge", "A100-40GB", 8, 32.7726, -1, PLAN_TIER_ON_DEMAND, 0},
    /* GCP A2 ultra (A100 80GB), us-central1 on-demand (GCP VM pricing page). */
    {"a2-ultragpu-1g", "A100-80GB", 1, 5.0688, -1, PLAN_TIER_ON_DEMAND, 0},
    {"a2-ultragpu-4g", "A100-80GB", 4, 20.2752, -1, PLAN_TIER_ON_DEMAND, 0},
    /* AWS P4de (A100 80GB): list price before the June 2025 cut. */
    {"p4de.24xlarge", "A100-80GB", 8, 40.9657, -1, PLAN_TIER_ON_DEMAND, 0},
    /* GCP A3 (H100 80GB), us-central1 on-demand (GCP VM pricing page); 1- and 4-GPU shapes. */
    {"a3-highgpu-1g", "H100-80GB", 1, 11.0613, -1, PLAN_TIER_ON_DEMAND, 0},
    {"a3-highgpu-4g", "H100-80GB", 4, 44.2452, -1, PLAN_TIER_ON_DEMAND, 0},
    /* AWS P5 (H100 80GB): list price before the June 2025 cut (up to ~45% lower since). */
    {"p5.48xlarge", "H100-80GB", 8, 98.32, -1, PLAN_TIER_ON_DEMAND, 0},
    /* AWS P5e (H200): not in the reference price table; estimated from P5 list price x 1.1.
     * Override with a fleet file before relying on H200 costs. */
    {"p5e.48xlarge", "H200", 8, 108.152, -1, PLAN_TIER_ON_DEMAND, 0},
};

/* Spot capacity: the built-in on-demand types at 40% of their price. Google documents Spot VM
 * discounts of 60-91% off on-demand (docs.cloud.google.com/compute/docs/instances/create-use-spot,
 * read 2025) and AWS "up to 90%"; 60% is the low end, the default until a fleet file gives real
 * spot prices. Reclaims: 0.05 per node-hour, an assumption (no provider publishes an hourly rate
 * for GPU types); set interruptions_per_hour from your own history. */
#define SPOT_PRICE_PPM 400000
#define SPOT_INTERRUPTIONS_PER_HOUR 0.05

/* Specialised GPU clouds, single-GPU on-demand list prices as published by the vendors (Lambda:
 * lambda.ai/pricing; Modal: modal.com/pricing, billed per second of use), verified 2026-05-07 in
 * techbytes.app's "Serverless GPU Pricing Matrix". Lambda's A10 (24 GB, 600 GB/s) sizes as the
 * A10G. */
static const plan_instance cloud_types[] = {
    {"lambda-gpu_1x_h100_sxm5", "H100-80GB", 1, 3.78, -1, PLAN_TIER_ON_DEMAND, 0},
    {"lambda-gpu_1x_a100_sxm4", "A100-40GB", 1, 1.48, -1, PLAN_TIER_ON_DEMAND, 0},
    {"lambda-gpu_1x_a10", "A10G", 1, 0.86, -1, PLAN_TIER_ON_DEMAND, 0},
    {"modal-h100", "H100-80GB", 1, 3.9492, -1, PLAN_TIER_ON_DEMAND, 0},
    {"modal-a100-80gb", "A100-80GB", 1, 2.4984, -1, PLAN_TIER_ON_DEMAND, 0},
    {"modal-l40s", "L40S", 1, 1.9512, -1, PLAN_TIER_ON_DEMAND, 0},
    {"modal-l4", "L4", 1, 0.7992, -1, PLAN_TIER_ON_DEMAND, 0},
};

static int add_type(plan_fleet *f, const plan_instance *t)
{
    for (size_t i = 0; i < f->n_types; i++)
        if (!strcmp(f->types[i].type, t->type)) return 0;
    plan_instance *a = realloc(f->types, (f->n_types + 1) * sizeof *a);
    if (!a) return -12;
    f->types = a;
    f->types[f->n_types++] = *t;
    return 0;
}

int plan_fleet_add_builtin(plan_fleet *f, unsigned parts)
{
    for (size_t i = 0; i < VP_ARRAY_LEN(builtin_types); i++) {
        if ((parts & PLAN_CATALOG_ON_DEMAND) && add_type(f, &builtin_types[i])) return -12;
        if (parts & PLAN_CATALOG_SPOT) {
            plan_instance t = builtin_types[i];
            snprintf(t.type, sizeof t.type, "%s:spot", builtin_types[i].type);
            t.price_per_hour = builtin_types[i].price_per_hour * SPOT_PRICE_PPM / 1e6;
            t.tier = PLAN_TIER_SPOT;
            t.interruptions_per_hour = SPOT_INTERRUPTIONS_PER_HOUR;
            if (add_type(f, &t)) return -12;
        }
    }
    for (size_t i = 0; (parts & PLAN_CATALOG_GPU_CLOUDS) && i < VP_ARRAY_LEN(cloud_types); i++)
        if (add_type(f, &cloud_types[i])) return -12;
    return 0;
}

static const char *canonical_gpu(const char *name)
{
    for (size_t i = 0; i < VP_ARRAY_LEN(gpu_aliases); i++)
        if (!strcmp(name, gpu_aliases[i].alias)) return gpu_aliases[i].name;
    return name;
}

plan_fleet *plan_fleet_new_empty(void)
{
    plan_fleet *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->gpus = malloc(sizeof builtin_gpus);
    if (!f->gpus) { free(f); return NULL; }
    memcpy(f->gpus, builtin_gpus, sizeof builtin_gpus);
    f->n_gpus = VP_ARRAY_LEN(builtin_gpus);
    f->util_ppm = 900000;
    strcpy(f->source, "built-in catalog");
    return f;
}

plan_fleet *plan_fleet_builtin(void)
{
    plan_fleet *f = plan_fleet_new_empty();
    if (!f) return NULL;
    f->types = malloc(sizeof builtin_types);
    if (!f->types) { plan_fleet_free(f); return NULL; }
    memcpy(f->types, builtin_types, sizeof builtin_types);
    f->n_types = VP_ARRAY_LEN(builtin_types);
    return f;
}

int plan_fleet_add_node(plan_fleet *f, const plan_inv_node *n)
{
    plan_inv_node *a = realloc(f->nodes, (f->n_nodes + 1) * sizeof *a);
    if (!a) return -12;
    f->nodes = a;
    f->nodes[f->n_nodes++] = *n;
    return 0;
}

void plan_fleet_free(plan_fleet *f)
{
    if (!f) return;
    free(f->gpus);
    free(f->types);
    free(f->nodes);
    free(f);
}

const plan_gpu_model *plan_fleet_gpu(const plan_fleet *f, const char *name)
{
    for (size_t i = 0; i < f->n_gpus; i++)
        if (!strcmp(f->gpus[i].name, name)) return &f->gpus[i];
    const char *c = canonical_gpu(name);
    for (size_t i = 0; i < f->n_gpus; i++)
        if (!strcmp(f->gpus[i].name, c)) return &f->gpus[i];
    return NULL;
}

uint64_t plan_gpu_cuda_bytes(const plan_gpu_model *g)
{
    return g->cuda_bytes ? g->cuda_bytes : g->memory_bytes;
}

uint64_t plan_fleet_usable(const plan_fleet *f, const plan_gpu_model *g)
{
    uint64_t u = 0;
    vp_muldiv_floor_u64(g->memory_bytes, f->util_ppm, 1000000, &u);
    return u;
}
