/* kern_cuda_int.cuh - what the CUDA backend's translation units share (not public): the slice
 * context, status checks, the launch widths and the device helpers every kernel uses. Device
 * helpers are inline, so each .cu file compiles them into its own kernels (no relocatable device
 * code needed). */
#ifndef KERN_CUDA_INT_CUH
#define KERN_CUDA_INT_CUH

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern_impl.h"

#define GEMV_WARPS ((int)KERN_GEMV_WARPS)
#define GEMV_THREADS (GEMV_WARPS * 32)
#define ATTN_THREADS 128

struct kcuda_ctx {
    uint8_t *base;
    uint64_t bytes;
    int sms;
    cudaStream_t stream;
    cudaEvent_t ev0, ev1;
    cudaGraph_t graph;
    cudaGraphExec_t exec;
};

static inline int cu_fail(vp_err *e, cudaError_t st, const char *what)
{
    return vp_errf(e, VP_ESTATE, "cuda: %s: %s (error %d)", what, cudaGetErrorString(st), (int)st);
}

#define CU(call, what)                                                                             \
    do {                                                                                           \
        cudaError_t st_ = (call);                                                                  \
        if (st_ != cudaSuccess) return cu_fail(e, st_, what);                                      \
    } while (0)

/* ---- device helpers ---- */

/* 16-byte streaming load that does not allocate in L1 (weights are read exactly once). */
static __device__ __forceinline__ uint4 ld_stream(const uint4 *p)
{
    uint4 r;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
        : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w)
        : "l"(p));
    return r;
}

static __device__ __forceinline__ float warp_sum(float v)
{
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

static __device__ __forceinline__ uint32_t word_of(const uint4 &v, int j)
{
    return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w;
}

/* The two fp16/bf16 values packed in a 32-bit word, low half first (exact conversions). */
template <int DT> static __device__ __forceinline__ void decode2(uint32_t w, float &lo, float &hi)
{
    if (DT == KERN_FP16) {
        __half2 h2 = *reinterpret_cast<const __half2 *>(&w);
        float2 f = __half22float2(h2);
        lo = f.x;
        hi = f.y;
    } else {
        lo = __uint_as_float(w << 16);
        hi = __uint_as_float(w & 0xffff0000u);
    }
}

static __device__ __forceinline__ __half2 as_half2(uint32_t u)
{
    return *reinterpret_cast<const __half2 *>(&u);
}

/* The eight int4 weights (q - 8) of word w in element order: kern_int4_word (kern_impl.h, tested
 * bit for bit on the CPU) with fp16x2 instructions - four AND-ORs (LOP3), one shift, two
 * subtracts and two fused multiply-adds for eight weights, then exact fp16 -> fp32 conversions. */
static __device__ __forceinline__ void int4_word(uint32_t w, float f[8])
{
    const uint32_t w8 = w >> 8;
    const __half2 lo = as_half2((w & KERN_INT4_MASK_LO) | KERN_INT4_MAGIC);
    const __half2 hi = as_half2((w & KERN_INT4_MASK_HI) | KERN_INT4_MAGIC);
    const __half2 lo8 = as_half2((w8 & KERN_INT4_MASK_LO) | KERN_INT4_MAGIC);
    const __half2 hi8 = as_half2((w8 & KERN_INT4_MASK_HI) | KERN_INT4_MAGIC);
    const __half2 k1032 = __float2half2_rn(1032.0f), k16th = __float2half2_rn(0.0625f),
                  km72 = __float2half2_rn(-72.0f);
    const float2 a = __half22float2(__hsub2(lo, k1032));
    const float2 b = __half22float2(__hfma2(hi, k16th, km72));
    const float2 c = __half22float2(__hsub2(lo8, k1032));
    const float2 d = __half22float2(__hfma2(hi8, k16th, km72));
    f[0] = a.x;
    f[4] = a.y;
    f[1] = b.x;
    f[5] = b.y;
    f[2] = c.x;
    f[6] = c.y;
    f[3] = d.x;
    f[7] = d.y;
}

/* The attention kernels (kern_cuda_attn.cu): loads their modules now (see load_all_kernels). */
cudaError_t kcuda_attn_load(void);

#endif
