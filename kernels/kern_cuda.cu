/* kern_cuda.cu - the CUDA backend: one cudaMalloc of the slice, and the decode kernels (GEMV for
 * fp16/bf16/int4, paged attention with a context split in kern_cuda_attn.cu, embedding, fills).
 *
 * Design. Decode is memory-bandwidth bound, so each kernel is built to stream its bytes once at
 * full width: every weight load is a 16-byte, warp-coalesced, L1-bypassing load (512 contiguous
 * bytes per warp instruction). The GEMV deals its work out as kern_gemv_plan_make says (the CPU
 * twin follows the same plan): each warp owns R rows (4 for batch tiles of 1-2, else 2) and
 * multiplies every x value it loads with all of them; a small matrix has its rows shared by up
 * to 8 warps of a block (k-split), whose sums meet in shared memory, so it still has enough warps
 * in flight. Each lane loads its next vector of every row (with the int4 scales) before it
 * multiplies the current one. The int4 path dequantises with fp16x2 magic numbers, one LOP3 per
 * two weights (kern_int4_word, tested bit for bit on the CPU). Accumulation is fp32 throughout.
 * Attention gives each (sequence, KV head, context split) a thread block that reads each K/V row
 * once for the whole GQA group, runs an online softmax, and a small second kernel merges the
 * splits (flash-decoding). The new token's K/V are read from the QKV buffer (rounded to fp16
 * exactly as the cache stores them) and written into the cache by the split that owns the
 * position, so no block reads what another writes in the same launch. All launches go to one
 * stream; every runtime call's status is checked and every launch is followed by
 * cudaGetLastError. Block ids from the tables are checked against the pool, so bad tables cannot
 * make a kernel leave the slice. */#include <dlfcn.h>
#include <unistd.h>

#include "kern_cuda_int.cuh"

struct GemvParams {
    const uint8_t *w;
    const uint16_t *scales;
    const float *x;
    float *y;
    uint32_t n, k, flags;
    uint32_t y_stride;       /* floats per batch row of y */
    uint32_t ksplit;         /* warps sharing a row (kern_gemv_plan) */
    uint32_t rows_per_block; /* (GEMV_WARPS / ksplit) x R */
};

/* One 16-byte vector of each of a warp's R rows, with the int4 rows' scales: a pipeline stage. */
template <int R> struct GemvStage {
    uint4 w[R];
    uint16_t sc[R];
};

template <int DT, int R>
static __device__ __forceinline__ void gemv_load(GemvStage<R> &st, const uint4 *const *wr,
                                                 const uint16_t *const *sr, uint32_t v)
{
#pragma unroll
    for (int r = 0; r < R; r++) {
        st.w[r] = ld_stream(wr[r] + v);
        if (DT == KERN_INT4) st.sc[r] = __ldg(sr[r] + v / 4u); /* 4 vectors per 128-group */
    }
}

/* acc[r][b] += (row r's vector) . (x_b's matching 8 or 32 values); ss[b] += x_b^2 when NORM.
 * The weights of a 32-bit word are decoded once into registers and used for every batch row. */
template <int DT, int B, int R, bool NORM>
static __device__ __forceinline__ void gemv_compute(const GemvStage<R> &st, const float4 *x4,
                                                    uint32_t xs, uint32_t v, float (&acc)[R][B],
                                                    float (&ss)[B])
{
    if (DT != KERN_INT4) {
#pragma unroll
        for (int h = 0; h < 2; h++) { /* two halves of 4 values: x4 per batch row stays small */
            float wf[R][4];
#pragma unroll
            for (int r = 0; r < R; r++) {
                decode2<DT>(word_of(st.w[r], 2 * h), wf[r][0], wf[r][1]);
                decode2<DT>(word_of(st.w[r], 2 * h + 1), wf[r][2], wf[r][3]);
            }
#pragma unroll
            for (int b = 0; b < B; b++) {
                const float4 xv = __ldg(x4 + b * xs + v * 2u + h);
                const float xf[4] = {xv.x, xv.y, xv.z, xv.w};
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    if (NORM) ss[b] = fmaf(xf[i], xf[i], ss[b]);
#pragma unroll
                    for (int r = 0; r < R; r++)
                        acc[r][b] = fmaf(wf[r][i], xf[i], acc[r][b]);
                }
            }
        }
    } else {
        float part[R][B];
#pragma unroll
        for (int r = 0; r < R; r++)
#pragma unroll
            for (int b = 0; b < B; b++)
                part[r][b] = 0.0f;
#pragma unroll
        for (int j = 0; j < 4; j++) { /* word j holds elements 8 j .. 8 j + 7 of the vector */
            float wf[R][8];
#pragma unroll
            for (int r = 0; r < R; r++)
                int4_word(word_of(st.w[r], j), wf[r]);
#pragma unroll
            for (int b = 0; b < B; b++) {
                const float4 xa = __ldg(x4 + b * xs + v * 8u + j * 2u);
                const float4 xb = __ldg(x4 + b * xs + v * 8u + j * 2u + 1u);
                const float xf[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
#pragma unroll
                for (int i = 0; i < 8; i++) {
                    if (NORM) ss[b] = fmaf(xf[i], xf[i], ss[b]);
#pragma unroll
                    for (int r = 0; r < R; r++)
                        part[r][b] = fmaf(wf[r][i], xf[i], part[r][b]);
                }
            }
        }
#pragma unroll
        for (int r = 0; r < R; r++) {
            const float sc = __half2float(__ushort_as_half(st.sc[r]));
#pragma unroll
            for (int b = 0; b < B; b++)
                acc[r][b] = fmaf(sc, part[r][b], acc[r][b]);
        }
    }
}

/* Blocks per SM each GEMV must fit, which caps its registers: fp16/bf16 3 (85 registers, 24
 * warps) for batch tiles of 1-2, where bandwidth is the limit, else 2 (128); int4 2 up to 4 batch
 * rows (its dequantised weights need about 100 registers at R = 4), and 1 for 5-8 rows, which are
 * bound by their multiply-adds and would spill under 128 registers. */
static constexpr int gemv_min_blocks(int dt, int b)
{
    return dt == KERN_INT4 ? (b <= 4 ? 2 : 1) : (b <= 2 ? 3 : 2);
}

/* y = W x over a tile of B batch rows, as kern_gemv_plan deals it out: warp w of the block is
 * k-slice w % ksplit of row group w / ksplit, whose R rows start at blockIdx.x * rows_per_block +
 * group * R. Lane l of slice s reads vectors (32 i + s) * 32 + l of each row (512 contiguous bytes
 * per warp instruction), with the next vector's loads (and int4 scales) issued before the current
 * one is multiplied. The slices' warp-reduced sums meet in shared memory and are added in slice
 * order; the flags' work is done once on the total. Rows past n re-read row n - 1 and are not
 * stored, so every warp reaches the barrier. */
template <int DT, int B, int R, bool NORM>
__global__ void __launch_bounds__(GEMV_THREADS, gemv_min_blocks(DT, B)) gemv_kernel(GemvParams p)
{
    __shared__ float red[GEMV_WARPS][R * B + B]; /* per warp: R x B sums, then B sums of x^2 */
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const uint32_t ks = p.ksplit, slice = (uint32_t)warp % ks, group = (uint32_t)warp / ks;
    const uint32_t row0 = blockIdx.x * p.rows_per_block + group * R;
    const uint32_t k = p.k;
    const uint64_t row_bytes = DT == KERN_INT4 ? k / 2u : (uint64_t)k * 2u;
    const uint32_t groups = k / KERN_INT4_GROUP;
    const uint4 *wr[R];
    const uint16_t *sr[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        const uint32_t row = min(row0 + r, p.n - 1u);
        wr[r] = reinterpret_cast<const uint4 *>(p.w + row * row_bytes);
        sr[r] = p.scales + (uint64_t)row * groups;
    }
    float acc[R][B], ss[B];
#pragma unroll
    for (int b = 0; b < B; b++) {
        ss[b] = 0.0f;
#pragma unroll
        for (int r = 0; r < R; r++)
            acc[r][b] = 0.0f;
    }
    const float4 *x4 = reinterpret_cast<const float4 *>(p.x);
    const uint32_t xs = k / 4u; /* float4s per batch row */
    const uint32_t nvec = DT == KERN_INT4 ? k / 32u : k / 8u;
    const uint32_t step = 32u * ks;

    /* two-stage software pipeline over this lane's vectors slice * 32 + lane, + step, ... */
    uint32_t v = slice * 32u + lane;
    GemvStage<R> cur;
    if (v < nvec) gemv_load<DT, R>(cur, wr, sr, v);
    while (v < nvec) {
        const uint32_t vn = v + step;
        GemvStage<R> nxt;
        if (vn < nvec) gemv_load<DT, R>(nxt, wr, sr, vn);
        gemv_compute<DT, B, R, NORM>(cur, x4, xs, v, acc, ss);
        cur = nxt;
        v = vn;
    }

#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int b = 0; b < B; b++) {
            const float t = warp_sum(acc[r][b]);
            if (lane == 0) red[warp][r * B + b] = t;
        }
    if (NORM) {
#pragma unroll
        for (int b = 0; b < B; b++) {
            const float t = warp_sum(ss[b]);
            if (lane == 0) red[warp][R * B + b] = t;
        }
    }
    __syncthreads();

    /* thread t < groups x R x B finishes (group g, row r, batch b) */
    const uint32_t t = threadIdx.x, per_group = R * B;
    if (t >= (GEMV_WARPS / ks) * per_group) return;
    const uint32_t g = t / per_group, r = t % per_group / B, b = t % B;
    const uint32_t row = blockIdx.x * p.rows_per_block + g * R + r;
    if (row >= p.n) return;
    float sum = red[g * ks][r * B + b];
    float sq = NORM ? red[g * ks][R * B + b] : 0.0f;
    for (uint32_t s = 1; s < ks; s++) {
        sum += red[g * ks + s][r * B + b];
        if (NORM) sq += red[g * ks + s][R * B + b];
    }
    if (NORM) sum *= rsqrtf(sq / (float)k + 1e-5f);
    float *yb = p.y + (uint64_t)b * p.y_stride;
    if (p.flags & KERN_GEMV_SWIGLU) {
        /* (gate, up) pairs: R is even and a group's first row even, so row + 1 is this group's */
        if (r & 1u) return;
        float up = red[g * ks][(r + 1) * B + b];
        for (uint32_t s = 1; s < ks; s++)
            up += red[g * ks + s][(r + 1) * B + b];
        if (NORM) up *= rsqrtf(sq / (float)k + 1e-5f);
        yb[row / 2u] = sum / (1.0f + expf(-sum)) * up;
    } else if (p.flags & KERN_GEMV_ACCUMULATE) {
        yb[row] += sum;
    } else {
        yb[row] = sum;
    }
}

typedef void (*gemv_fn)(GemvParams);

/* Rows per warp follow kern_gemv_plan_make: 4 for tiles of 1 or 2 batch rows, else 2. */
template <int DT, bool NORM> static gemv_fn gemv_pick_b(uint32_t b)
{
    switch (b) {
    case 1:
        return gemv_kernel<DT, 1, 4, NORM>;
    case 2:
        return gemv_kernel<DT, 2, 4, NORM>;
    case 3:
        return gemv_kernel<DT, 3, 2, NORM>;
    case 4:
        return gemv_kernel<DT, 4, 2, NORM>;
    case 5:
        return gemv_kernel<DT, 5, 2, NORM>;
    case 6:
        return gemv_kernel<DT, 6, 2, NORM>;
    case 7:
        return gemv_kernel<DT, 7, 2, NORM>;
    default:
        return gemv_kernel<DT, 8, 2, NORM>;
    }
}

static gemv_fn gemv_pick(kern_dtype d, uint32_t b, bool norm)
{
    switch (d) {
    case KERN_FP16:
        return norm ? gemv_pick_b<KERN_FP16, true>(b) : gemv_pick_b<KERN_FP16, false>(b);
    case KERN_BF16:
        return norm ? gemv_pick_b<KERN_BF16, true>(b) : gemv_pick_b<KERN_BF16, false>(b);
    default:
        return norm ? gemv_pick_b<KERN_INT4, true>(b) : gemv_pick_b<KERN_INT4, false>(b);
    }
}

/* ---- embedding and fills ---- */

__global__ void embed_kernel(kern_embed_args a, const uint8_t *base)
{
    const uint32_t b = blockIdx.x;
    const int32_t *lens = reinterpret_cast<const int32_t *>(base + a.lens);
    float *x =
        reinterpret_cast<float *>(const_cast<uint8_t *>(base) + a.x) + (uint64_t)b * a.hidden;
    const uint32_t tok = kern_token(a.seed, b, (uint32_t)lens[b], a.vocab);
    for (uint32_t j = threadIdx.x; j < a.hidden; j += blockDim.x) {
        if (a.dtype == KERN_INT4) {
            const uint8_t *p = base + a.table + (uint64_t)tok * (a.hidden / 2u);
            const uint16_t *s = reinterpret_cast<const uint16_t *>(base + a.scales) +
                                (uint64_t)tok * (a.hidden / KERN_INT4_GROUP);
            int q = (j & 1u) ? (p[j / 2u] >> 4) : (p[j / 2u] & 0xf);
            x[j] = (float)(q - 8) * kern_h2f(s[j / KERN_INT4_GROUP]);
        } else {
            const uint16_t *p =
                reinterpret_cast<const uint16_t *>(base + a.table) + (uint64_t)tok * a.hidden;
            x[j] = a.dtype == KERN_FP16 ? kern_h2f(p[j]) : kern_b2f(p[j]);
        }
    }
}

__global__ void fill_kernel(uint8_t *dst, int kind, uint64_t count, uint64_t seed, float scale)
{
    const uint64_t stride = (uint64_t)gridDim.x * blockDim.x;
    for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride) {
        switch (kind) {
        case KERN_FILL_F32:
            reinterpret_cast<float *>(dst)[i] = kern_fill_f32(seed, i, scale);
            break;
        case KERN_FILL_F16:
            reinterpret_cast<uint16_t *>(dst)[i] = kern_f2h(kern_fill_f32(seed, i, scale));
            break;
        case KERN_FILL_BF16:
            reinterpret_cast<uint16_t *>(dst)[i] = kern_f2b(kern_fill_f32(seed, i, scale));
            break;
        case KERN_FILL_F16_POS:
            reinterpret_cast<uint16_t *>(dst)[i] = kern_f2h(kern_fill_pos(seed, i, scale));
            break;
        default:
            dst[i] = kern_fill_byte(seed, i);
            break;
        }
    }
}

/* ---- host side ---- */

extern "C" int kcuda_built(void)
{
    return 1;
}

extern "C" int kcuda_device_count(vp_err *e)
{
    int n = 0;
    cudaError_t st = cudaGetDeviceCount(&n);
    if (st != cudaSuccess) {
        (void)cudaGetLastError();
        vp_errf(e, VP_ESTATE, "cudaGetDeviceCount: %s (error %d)", cudaGetErrorString(st), (int)st);
        return 0;
    }
    if (n == 0) vp_errf(e, VP_ESTATE, "cudaGetDeviceCount: no devices");
    return n;
}

extern "C" int kcuda_describe(kern_cuda_info *out, vp_err *e)
{
    memset(out, 0, sizeof *out);
    if (cudaDriverGetVersion(&out->driver_version) != cudaSuccess) (void)cudaGetLastError();
    if (cudaRuntimeGetVersion(&out->runtime_version) != cudaSuccess) (void)cudaGetLastError();
    if (kcuda_device_count(e) == 0) return VP_ESTATE;
    CU(cudaSetDevice(0), "cudaSetDevice(0)");
    cudaDeviceProp prop;
    CU(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    snprintf(out->name, sizeof out->name, "%.127s", prop.name);
    out->sms = prop.multiProcessorCount;
    out->cc_major = prop.major;
    out->cc_minor = prop.minor;
    size_t fr = 0, tot = 0;
    CU(cudaMemGetInfo(&fr, &tot), "cudaMemGetInfo");
    out->free_bytes = fr;
    out->total_bytes = tot;
    return 0;
}

/* ---- NVML, loaded at run time: the per-process device memory nvidia-smi shows ----
 * Only the few entry points used here are declared, with the layouts of NVML's public header
 * (nvmlProcessInfo_t as taken by the _v2/_v3 process queries); the library comes with the driver,
 * and without it the context is measured another way or assumed. */
typedef struct nvml_dev_st *nvml_dev;
typedef struct {
    unsigned long long total, free, used;
} nvml_memory;
typedef struct {
    unsigned int pid;
    unsigned long long used;
    unsigned int gpu_instance, compute_instance;
} nvml_process;

static struct {
    int tried, ok;
    int (*init)(void);
    int (*by_bus_id)(const char *, nvml_dev *);
    int (*memory)(nvml_dev, nvml_memory *);
    int (*processes)(nvml_dev, unsigned int *, nvml_process *);
} nvml;

static int nvml_load(void)
{
    if (nvml.tried) return nvml.ok;
    nvml.tried = 1;
    void *h = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) return 0;
    nvml.init = (int (*)(void))dlsym(h, "nvmlInit_v2");
    nvml.by_bus_id = (int (*)(const char *, nvml_dev *))dlsym(h, "nvmlDeviceGetHandleByPciBusId_v2");
    nvml.memory = (int (*)(nvml_dev, nvml_memory *))dlsym(h, "nvmlDeviceGetMemoryInfo");
    nvml.processes = (int (*)(nvml_dev, unsigned int *, nvml_process *))dlsym(
        h, "nvmlDeviceGetComputeRunningProcesses_v3");
    if (!nvml.processes)
        nvml.processes = (int (*)(nvml_dev, unsigned int *, nvml_process *))dlsym(
            h, "nvmlDeviceGetComputeRunningProcesses_v2");
    nvml.ok = nvml.init && nvml.by_bus_id && nvml.memory && nvml.init() == 0;
    return nvml.ok; /* the library stays loaded for the life of the process */
}

/* NVML's handle of CUDA device 0 (matched by PCI bus id, so CUDA_VISIBLE_DEVICES is honoured). */
static nvml_dev nvml_device0(void)
{
    char bus[32];
    nvml_dev d = NULL;
    if (!nvml_load() || cudaDeviceGetPCIBusId(bus, (int)sizeof bus, 0) != cudaSuccess) {
        (void)cudaGetLastError();
        return NULL;
    }
    return nvml.by_bus_id(bus, &d) == 0 ? d : NULL;
}

/* Bytes process `pid` holds on d; 0 when NVML does not list it (e.g. another PID namespace). */
static uint64_t nvml_process_bytes(nvml_dev d, unsigned int pid)
{
    nvml_process procs[64];
    unsigned int n = 64;
    if (!d || !nvml.processes || nvml.processes(d, &n, procs) != 0) return 0;
    for (unsigned int i = 0; i < n && i < 64; i++)
        if (procs[i].pid == pid && procs[i].used != ~0ull) return procs[i].used;
    return 0;
}

static uint64_t nvml_device_used(nvml_dev d)
{
    nvml_memory m;
    return d && nvml.memory(d, &m) == 0 ? m.used : 0;
}

/* Loads every kernel's module now: with lazy loading (the default since CUDA 12.2) a kernel's
 * code would otherwise be loaded at its first launch, after the slice was taken, and could fail
 * with "out of memory" on a GPU the slice filled. */
static cudaError_t load_all_kernels(void)
{
    cudaFuncAttributes fa;
    const kern_dtype dts[] = {KERN_FP16, KERN_BF16, KERN_INT4};
    cudaError_t st = cudaSuccess;
    for (int d = 0; d < 3 && st == cudaSuccess; d++)
        for (uint32_t b = 1; b <= KERN_GEMV_BATCH_TILE && st == cudaSuccess; b++) {
            st = cudaFuncGetAttributes(&fa, gemv_pick(dts[d], b, false));
            if (st == cudaSuccess) st = cudaFuncGetAttributes(&fa, gemv_pick(dts[d], b, true));
        }
    if (st == cudaSuccess) st = kcuda_attn_load();
    if (st == cudaSuccess) st = cudaFuncGetAttributes(&fa, embed_kernel);
    if (st == cudaSuccess) st = cudaFuncGetAttributes(&fa, fill_kernel);
    return st;
}

/* What the context holds (into mem), measured after every kernel is loaded. */
static void measure_context(nvml_dev d, uint64_t used_before, kern_slice_mem *mem)
{
    uint64_t own = nvml_process_bytes(d, (unsigned int)getpid());
    uint64_t after = nvml_device_used(d);
    if (own > 0) {
        mem->context = own;
        mem->context_source = "process";
    } else if (used_before > 0 && after > used_before) {
        mem->context = after - used_before;
        mem->context_source = "device";
    } else {
        mem->context = KERN_CUDA_CONTEXT_ASSUMED;
        mem->context_source = "assumed";
    }
}

extern "C" int kcuda_open(uint64_t bytes, kern_slice_mem *mem, kcuda_ctx **out, char *name,
                          size_t name_len, vp_err *e)
{
    *out = NULL;
    const bool budgeted = mem->budget != 0;
    /* before the context exists: the device's used bytes, for the fallback measurement */
    nvml_dev nd = budgeted ? nvml_device0() : NULL;
    const uint64_t used_before = nvml_device_used(nd);
    /* sleep, not spin, while waiting for the GPU: a worker should not burn a host core */
    cudaError_t st = cudaSetDeviceFlags(cudaDeviceScheduleBlockingSync);
    if (st != cudaSuccess) (void)cudaGetLastError(); /* already active: keep its flags */
    CU(cudaSetDevice(0), "cudaSetDevice(0)");
    CU(cudaFree(0), "context creation");
    cudaDeviceProp prop;
    CU(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
    CU(load_all_kernels(), "loading the kernels");
    kcuda_ctx *c = (kcuda_ctx *)calloc(1, sizeof *c);
    if (!c) return vp_errf(e, -ENOMEM, "cuda: out of host memory");
    snprintf(name, name_len, "%s", prop.name);
    c->sms = prop.multiProcessorCount;
    st = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
    if (st == cudaSuccess) st = cudaEventCreate(&c->ev0);
    if (st == cudaSuccess) st = cudaEventCreate(&c->ev1);
    if (st != cudaSuccess) {
        kcuda_close(c);
        return cu_fail(e, st, "stream setup");
    }
    mem->slice = bytes;
    if (budgeted) {
        measure_context(nd, used_before, mem);
        mem->headroom = KERN_CUDA_HEADROOM;
        if (kern_budget_slice(mem->budget, mem->context, mem->headroom, KERN_CUDA_GRANULE,
                              &mem->slice)) {
            kcuda_close(c);
            return vp_errf(e, VP_ENOSPACE,
                           "cuda: a %llu-byte budget leaves no slice after the CUDA context "
                           "(%llu bytes, %s) and %llu bytes of headroom",
                           (unsigned long long)mem->budget, (unsigned long long)mem->context,
                           mem->context_source, (unsigned long long)mem->headroom);
        }
    }
    c->bytes = mem->slice;
    st = cudaMalloc((void **)&c->base, (size_t)c->bytes);
    if (st != cudaSuccess) {
        (void)cudaGetLastError(); /* clear it, or the next launch check would report it */
        c->base = NULL;
        kcuda_close(c);
        return vp_errf(e, st == cudaErrorMemoryAllocation ? VP_ENOSPACE : VP_ESTATE,
                       "cuda: cudaMalloc of the %llu-byte slice: %s", (unsigned long long)mem->slice,
                       cudaGetErrorString(st));
    }
    st = cudaMemsetAsync(c->base, 0, (size_t)c->bytes, c->stream);
    if (st == cudaSuccess) st = cudaStreamSynchronize(c->stream);
    if (st != cudaSuccess) {
        kcuda_close(c);
        return cu_fail(e, st, "slice setup");
    }
    *out = c;
    return 0;
}

extern "C" int kcuda_device_used(kcuda_ctx *c, uint64_t *bytes, vp_err *e)
{
    (void)c;
    uint64_t own = nvml_process_bytes(nvml_device0(), (unsigned int)getpid());
    if (own == 0)
        return vp_errf(e, VP_ESTATE,
                       "device memory: the driver does not list this process (no NVML, or "
                       "another PID namespace)");
    *bytes = own;
    return 0;
}

extern "C" void kcuda_close(kcuda_ctx *c)
{
    if (!c) return;
    if (c->stream) cudaStreamSynchronize(c->stream);
    if (c->exec) cudaGraphExecDestroy(c->exec);
    if (c->graph) cudaGraphDestroy(c->graph);
    if (c->ev0) cudaEventDestroy(c->ev0);
    if (c->ev1) cudaEventDestroy(c->ev1);
    if (c->stream) cudaStreamDestroy(c->stream);
    if (c->base) cudaFree(c->base);
    free(c);
}

extern "C" int kcuda_upload(kcuda_ctx *c, uint64_t off, const void *src, uint64_t n, vp_err *e)
{
    /* from pageable memory this returns once src has been staged, so src may be reused */
    CU(cudaMemcpyAsync(c->base + off, src, (size_t)n, cudaMemcpyHostToDevice, c->stream), "upload");
    return 0;
}

extern "C" int kcuda_download(kcuda_ctx *c, uint64_t off, void *dst, uint64_t n, vp_err *e)
{
    CU(cudaMemcpyAsync(dst, c->base + off, (size_t)n, cudaMemcpyDeviceToHost, c->stream),
       "download");
    CU(cudaStreamSynchronize(c->stream), "download sync");
    return 0;
}

extern "C" int kcuda_sync(kcuda_ctx *c, vp_err *e)
{
    CU(cudaStreamSynchronize(c->stream), "synchronize");
    return 0;
}

extern "C" int kcuda_fill(kcuda_ctx *c, uint64_t off, kern_fill_kind kind, uint64_t count,
                          uint64_t seed, float scale, vp_err *e)
{
    uint64_t blocks = (count + 255u) / 256u, cap = (uint64_t)c->sms * 32u;
    if (blocks > cap) blocks = cap;
    fill_kernel<<<(unsigned)blocks, 256, 0, c->stream>>>(c->base + off, (int)kind, count, seed,
                                                         scale);
    CU(cudaGetLastError(), "fill launch");
    return 0;
}

extern "C" int kcuda_gemv(kcuda_ctx *c, const kern_gemv_args *a, vp_err *e)
{
    const bool swiglu = (a->flags & KERN_GEMV_SWIGLU) != 0;
    const uint32_t y_stride = swiglu ? a->n / 2u : a->n;
    for (uint32_t b0 = 0; b0 < a->batch; b0 += KERN_GEMV_BATCH_TILE) {
        uint32_t bt = a->batch - b0 < KERN_GEMV_BATCH_TILE ? a->batch - b0 : KERN_GEMV_BATCH_TILE;
        kern_gemv_plan plan;
        kern_gemv_plan_make(a->dtype, a->n, a->k, bt, (uint32_t)c->sms, &plan);
        GemvParams p;
        p.w = c->base + a->w;
        p.scales = reinterpret_cast<const uint16_t *>(c->base + a->scales);
        p.x = reinterpret_cast<const float *>(c->base + a->x) + (uint64_t)b0 * a->k;
        p.y = reinterpret_cast<float *>(c->base + a->y) + (uint64_t)b0 * y_stride;
        p.n = a->n;
        p.k = a->k;
        p.flags = a->flags;
        p.y_stride = y_stride;
        p.ksplit = plan.ksplit;
        p.rows_per_block = plan.rows_per_block;
        gemv_pick(a->dtype, bt, (a->flags & KERN_GEMV_NORM_X) != 0)<<<plan.blocks, GEMV_THREADS, 0,
                                                                    c->stream>>>(p);
        CU(cudaGetLastError(), "gemv launch");
    }
    return 0;
}


extern "C" int kcuda_embed(kcuda_ctx *c, const kern_embed_args *a, vp_err *e)
{
    embed_kernel<<<a->batch, 256, 0, c->stream>>>(*a, c->base);
    CU(cudaGetLastError(), "embed launch");
    return 0;
}

extern "C" int kcuda_copy(kcuda_ctx *c, uint64_t dst, uint64_t src, uint64_t n, vp_err *e)
{
    CU(cudaMemcpyAsync(c->base + dst, c->base + src, (size_t)n, cudaMemcpyDeviceToDevice,
                       c->stream),
       "device copy");
    return 0;
}

extern "C" int kcuda_timer_start(kcuda_ctx *c, vp_err *e)
{
    CU(cudaEventRecord(c->ev0, c->stream), "event record");
    return 0;
}

extern "C" int kcuda_timer_stop(kcuda_ctx *c, double *ms, vp_err *e)
{
    float f = 0.0f;
    CU(cudaEventRecord(c->ev1, c->stream), "event record");
    CU(cudaEventSynchronize(c->ev1), "event synchronize");
    CU(cudaEventElapsedTime(&f, c->ev0, c->ev1), "event elapsed time");
    *ms = f;
    return 0;
}

extern "C" int kcuda_capture_begin(kcuda_ctx *c, vp_err *e)
{
    CU(cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal), "begin capture");
    return 0;
}

extern "C" int kcuda_capture_end(kcuda_ctx *c, vp_err *e)
{
    cudaGraph_t g = NULL;
    CU(cudaStreamEndCapture(c->stream, &g), "end capture");
    cudaGraphExec_t x = NULL;
    cudaError_t st = cudaGraphInstantiate(&x, g, 0);
    if (st != cudaSuccess) {
        cudaGraphDestroy(g);
        return cu_fail(e, st, "graph instantiate");
    }
    if (c->exec) cudaGraphExecDestroy(c->exec);
    if (c->graph) cudaGraphDestroy(c->graph);
    c->graph = g;
    c->exec = x;
    return 0;
}

extern "C" int kcuda_replay(kcuda_ctx *c, vp_err *e)
{
    if (!c->exec) return vp_errf(e, VP_ESTATE, "cuda: no captured step to replay");
    CU(cudaGraphLaunch(c->exec, c->stream), "graph launch");
    return 0;
}
