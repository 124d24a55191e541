/* kern.h - the built-in worker's engine: a VRAM slice sub-allocator, bandwidth-bound decode
 * kernels (CUDA, with a CPU twin of every function) and a bandwidth probe.
 *
 * Design. A worker owns one slice: ONE allocation of exactly the slice's bytes (cudaMalloc on a
 * GPU, an aligned host allocation on the CPU backend). Everything the kernels touch lives inside
 * it, addressed by byte offsets from the slice's base, so every call can be bounds-checked against
 * the slice and nothing is ever allocated on the device outside it. The layout (weights, a paged
 * KV pool of 16-token blocks, scratch) is computed by pure functions (kern_layout_plan and
 * friends) that need no memory and are unit-tested on their own; the KV block tables are host
 * bookkeeping (kern_kv) uploaded into the slice's scratch before each step.
 *
 * Numbers. Weights are fp16, bf16 or int4 (two per byte, low nibble first, value (q - 8) * scale
 * with one fp16 scale per KERN_INT4_GROUP consecutive weights of a row). Activations are fp32; the
 * KV cache is fp16; every dot product accumulates in fp32. The CPU and CUDA backends compute the
 * same functions on the same bytes; they differ only in summation order and in exp(), so results
 * agree to KERN_TOL_REL (relative L2 error, below). Fills are deterministic pseudo-random values
 * (never zeros) defined per element index, so both backends fill the same bytes for a seed.
 *
 * This header uses no CUDA types: the CUDA part is compiled in only when the toolkit is found;
 * without it every CUDA request fails cleanly with "cuda backend not built".
 *
 * Threads: a kern_slice and a kern_kv belong to one thread at a time. The pure functions
 * (kern_layout_*, kern_shape_*, kern_decode_bytes_per_step, conversions) are thread-safe. */
#ifndef KERN_H
#define KERN_H

#include <stddef.h>
#include <stdint.h>

#include "vp.h"

/* C linkage for the CUDA translation unit (nvcc compiles it as C++). */
#ifdef __cplusplus
extern "C" {
#endif

/* Tokens per KV block (PagedAttention's block size). */
#define KERN_KV_BLOCK_TOKENS 16u
/* Weights per int4 scale group, along a row (the reduction dimension). */
#define KERN_INT4_GROUP 128u
/* Alignment of every region carved from a slice (bytes); also the slice base's alignment. */
#define KERN_ALIGN 256u
/* Batch rows one GEMV pass multiplies with each weight it reads; larger batches take
 * ceil(batch / KERN_GEMV_BATCH_TILE) passes over the weights (kern_decode_bytes_per_step counts
 * them). */
#define KERN_GEMV_BATCH_TILE 8u
/* Most query heads sharing one KV head (GQA group size). */
#define KERN_MAX_GQA 8u
/* Agreement between the CUDA and CPU results of any kernel here on the same inputs, and between
 * the CPU kernels and a double-precision reference: ||a - b||_2 / ||b||_2 <= KERN_TOL_REL. Both
 * backends accumulate in fp32 and differ only in summation order and exp(); the CPU kernels
 * measure at most 3.2e-7 against the reference (tests/kernels), so the bound leaves a wide margin
 * for the CUDA side's different order. Whole decode steps compound layers: tests allow 10x. */
#define KERN_TOL_REL 1e-4

typedef enum kern_dtype { KERN_FP16 = 0, KERN_BF16 = 1, KERN_INT4 = 2 } kern_dtype;

/* "fp16" | "bf16" | "int4" -> dtype; 0 or VP_ENOTFOUND. */
int kern_dtype_parse(const char *s, kern_dtype *out);
const char *kern_dtype_name(kern_dtype d); /* static storage; "?" for an unknown value */

/* ---- fp16 / bf16 conversions (round to nearest even; NaN stays NaN, overflow goes to inf) ---- */
uint16_t kern_f32_to_f16(float f);
float kern_f16_to_f32(uint16_t h);
uint16_t kern_f32_to_bf16(float f);
float kern_bf16_to_f32(uint16_t h);

/* ---- Model shape and slice layout (pure) ---- */

/* A decoder model as the worker runs it: per layer a fused QKV projection, paged attention, an
 * output projection, a fused gate/up projection with SwiGLU and a down projection; token
 * embedding and an untied LM head of the same dtype. RMS norms have unit gain (no weights). */
typedef struct kern_shape {
    uint32_t layers, hidden, intermediate, heads, kv_heads, head_dim, vocab;
    kern_dtype dtype;
} kern_shape;

/* Checks a shape: hidden, intermediate and heads * head_dim multiples of 128; head_dim a power of
 * two in [8, 256]; heads a multiple of kv_heads with at most KERN_MAX_GQA per KV head; all counts
 * non-zero. 0 or VP_EINPUT with the field named in e. */
int kern_shape_check(const kern_shape *s, vp_err *e);

/* Bytes of all weights of a shape (matrices, int4 scales, embedding, LM head, each region rounded
 * up to KERN_ALIGN as the layout places them). VP_EOVERFLOW on overflow. */
int kern_shape_weight_bytes(const kern_shape *s, uint64_t *out);

/* Fills the zero fields of *s so the model fills a slice of slice_bytes: weights take about 60%
 * (at most what leaves room for batch sequences of context tokens in the KV pool and the scratch),
 * the KV pool most of the rest. Fields already set are kept (dtype is always taken as given). The
 * hidden size is the largest of a fixed ladder (8192 down to 128) that gives at least 8 layers,
 * head_dim is 128 (64 below hidden 2048), kv_heads = heads / 4, intermediate = 3.5 x hidden
 * rounded to 128, vocab fills about 15% of the weights (at most 32768). 0, VP_ENOSPACE when even
 * the smallest model does not fit, or VP_EINPUT for a bad fixed field. */
int kern_shape_fill(kern_shape *s, uint64_t slice_bytes, uint32_t batch, uint32_t context,
                    vp_err *e);

/* Bytes read from memory by one decode step of batch sequences at `context` tokens: every weight
 * once per GEMV pass (ceil(batch / KERN_GEMV_BATCH_TILE) passes; the embedding only the batch's
 * rows) plus the KV cache: 2 x layers x kv_heads x head_dim x context x batch x 2 bytes (the new
 * token's K/V write counted as its read). Activations are ignored (under 0.1% at real shapes).
 * The planner's latency model is this over the measured bandwidth. 0 on overflow. */
uint64_t kern_decode_bytes_per_step(const kern_shape *s, uint32_t batch, uint32_t context);

/* A bump sub-allocator over [0, size): pure accounting, no memory. */
typedef struct kern_arena {
    uint64_t size, used;
} kern_arena;

void kern_arena_init(kern_arena *a, uint64_t size);
/* Takes bytes at the next multiple of align (a power of two); *off receives the offset. A request
 * that does not fit returns VP_ENOSPACE and changes nothing (VP_EINPUT for a bad align). */
int kern_arena_take(kern_arena *a, uint64_t bytes, uint64_t align, uint64_t *off);

/* Offsets of one layer's weights (scales are 0-sized offsets for fp16/bf16). */
typedef struct kern_layer_offs {
    uint64_t qkv, qkv_scales, o, o_scales, gate_up, gate_up_scales, down, down_scales;
} kern_layer_offs;

/* Where everything sits in a slice. All offsets are from the slice base, KERN_ALIGN-aligned. */
typedef struct kern_layout {
    kern_shape shape;
    uint32_t batch, context;
    uint64_t slice_bytes;
    uint64_t weights_bytes, kv_bytes, scratch_bytes, bytes_used; /* bytes_used <= slice_bytes */
    /* weights */
    uint64_t embed, embed_scales, lm_head, lm_head_scales;
    uint64_t layer0, layer_stride; /* layer l's region starts at layer0 + l * layer_stride */
    kern_layer_offs layer_rel;     /* offsets inside a layer's region */
    /* paged KV pool: layer l, block b, K (0) or V (1), kv head h, slot t:
     * kv + ((l * kv_blocks + b) * 2 + kv) * kv_heads * 16 * head_dim * 2 + (h * 16 + t) * head_dim
     * * 2 */
    uint64_t kv;
    uint32_t kv_blocks, max_blocks_per_seq;
    uint64_t kv_block_bytes; /* one block of one layer, K and V */
    /* scratch (fp32 unless said) */
    uint64_t x;        /* batch x hidden: the residual stream */
    uint64_t qkv_out;  /* batch x (heads + 2 kv_heads) x head_dim */
    uint64_t attn_out; /* batch x heads x head_dim */
    uint64_t act;      /* batch x intermediate: SwiGLU output */
    uint64_t logits;   /* batch x vocab */
    uint64_t tables;   /* int32 batch x max_blocks_per_seq */
    uint64_t lens;     /* int32 batch: cached tokens before this step */
    uint64_t partial;  /* batch x heads x attn_splits x (head_dim + 4): m, l, 2 pad, acc */
    uint32_t attn_splits,
        attn_split_blocks; /* context split: splits x split_blocks >= max blocks */
} kern_layout;

/* Lays a shape out in a slice: weights, then scratch, then a KV pool of every whole block left
 * (at least batch x ceil(context / 16) blocks). 0, VP_EINPUT (bad shape, batch or context) or
 * VP_ENOSPACE naming what does not fit. */
int kern_layout_plan(const kern_shape *s, uint32_t batch, uint32_t context, uint64_t slice_bytes,
                     kern_layout *out, vp_err *e);
void kern_layout_layer(const kern_layout *l, uint32_t layer, kern_layer_offs *out);

/* ---- Paged KV block bookkeeping (host side) ---- */

/* Blocks are handed out from a LIFO free list, so freed blocks are reused first. */
typedef struct kern_kv {
    uint32_t num_blocks, max_seqs, max_blocks_per_seq;
    uint32_t free_top;   /* number of free blocks */
    uint32_t *free_list; /* free_list[0 .. free_top) */
    uint32_t *tables;    /* max_seqs x max_blocks_per_seq */
    uint32_t *lens;      /* tokens per sequence */
} kern_kv;

/* Allocates the bookkeeping (host memory); 0, VP_EINPUT for a zero count or -ENOMEM. */
int kern_kv_init(kern_kv *kv, uint32_t num_blocks, uint32_t max_seqs, uint32_t max_blocks_per_seq);
void kern_kv_close(kern_kv *kv); /* accepts a zeroed or closed kv */
/* Makes sequence seq hold exactly `tokens` tokens: allocates blocks on demand when growing, frees
 * the tail blocks when shrinking. VP_ENOSPACE (pool or block table full) or VP_EINPUT (seq out of
 * range) leave everything unchanged. */
int kern_kv_resize(kern_kv *kv, uint32_t seq, uint32_t tokens);
void kern_kv_release(kern_kv *kv, uint32_t seq); /* same as resize to 0 */
uint32_t kern_kv_len(const kern_kv *kv, uint32_t seq);
uint32_t kern_kv_free_blocks(const kern_kv *kv);
/* Block ids of sequence seq, ceil(len / 16) of them; owned by kv, valid until the next resize. */
const uint32_t *kern_kv_table(const kern_kv *kv, uint32_t seq);

/* ---- Slices and backends ---- */

typedef enum kern_backend { KERN_BACKEND_CPU = 0, KERN_BACKEND_CUDA = 1 } kern_backend;
typedef enum kern_backend_req {
    KERN_REQ_AUTO = 0,
    KERN_REQ_CPU = 1,
    KERN_REQ_CUDA = 2
} kern_backend_req;

/* "auto" | "cpu" | "cuda"; 0 or VP_ENOTFOUND. */
int kern_backend_parse(const char *s, kern_backend_req *out);
const char *kern_backend_name(kern_backend b);

/* 1 when the CUDA backend was compiled in. */
int kern_cuda_built(void);
/* Number of usable CUDA devices (0 when none, when the driver is missing, or when not built).
 * Never fails; the reason for 0 goes into e when given. */
int kern_cuda_device_count(vp_err *e);

/* CUDA device 0 as the runtime sees it. Versions are encoded 1000 x major + 10 x minor (12040 is
 * 12.4); the driver's is the newest CUDA it supports. */
typedef struct kern_cuda_info {
    int driver_version, runtime_version;
    int sms, cc_major, cc_minor;
    uint64_t total_bytes, free_bytes;
    char name[128];
} kern_cuda_info;

/* Fills *out for device 0 (this creates the CUDA context). VP_ESTATE naming the cause when there
 * is no usable device; the versions are filled in even then, where they can be read (a driver
 * older than the runtime is the common cause: error 35). */
int kern_cuda_describe(kern_cuda_info *out, vp_err *e);

typedef struct kern_slice kern_slice;

/* Takes a slice of exactly `bytes` bytes with one allocation: device memory of device 0 for CUDA,
 * KERN_ALIGN-aligned host memory for the CPU, every page touched (zeroed). AUTO picks CUDA when a
 * device is usable, else the CPU. The caller frees with kern_slice_close. 0, VP_EINPUT,
 * VP_ESTATE ("cuda backend not built", no device) or -ENOMEM. */
int kern_slice_open(kern_backend_req req, uint64_t bytes, kern_slice **out, vp_err *e);
void kern_slice_close(kern_slice *s); /* accepts NULL */

/* What a CUDA process holds on the device besides its slice: the context with every kernel
 * loaded (measured when the slice is opened), plus this much headroom for what the runtime may
 * still take later (a CUDA graph, events), and allocations round up to 2 MiB pages. When the
 * context cannot be measured, KERN_CUDA_CONTEXT_ASSUMED stands in for it (the planner's default
 * per-GPU reserve). */
#define KERN_CUDA_HEADROOM (32ull << 20)
#define KERN_CUDA_GRANULE (2ull << 20)
#define KERN_CUDA_CONTEXT_ASSUMED (512ull << 20)

/* The slice a budget leaves once `context` bytes are held and `headroom` kept free, rounded down
 * to a multiple of granule (a power of two): 0, or VP_ENOSPACE when nothing is left. Pure. */
int kern_budget_slice(uint64_t budget, uint64_t context, uint64_t headroom, uint64_t granule,
                      uint64_t *slice);

/* Like kern_slice_open, but `budget` bounds everything the process holds on the device, the CUDA
 * context included: on CUDA it creates the context, loads every kernel (so none is loaded lazily
 * after the slice is taken), measures what the process then holds and takes the slice
 * kern_budget_slice leaves (VP_ENOSPACE, naming the measured context, when none is left). On the
 * CPU the slice is the whole budget. This is what the worker's --slice-bytes means. */
int kern_slice_open_budget(kern_backend_req req, uint64_t budget, kern_slice **out, vp_err *e);

/* How a slice's budget was spent (bytes). For a slice from kern_slice_open, budget = slice and
 * context = headroom = 0. context_source says how the context was found: "none" (CPU, or not
 * asked), "process" (the driver's per-process count, as nvidia-smi shows it), "device" (the
 * device's used bytes before and after the context was made) or "assumed". */
typedef struct kern_slice_mem {
    uint64_t budget, context, headroom, slice;
    const char *context_source; /* static storage */
} kern_slice_mem;
void kern_slice_memory(const kern_slice *s, kern_slice_mem *out);

/* Device bytes this process holds now, as the driver counts them per process (what nvidia-smi
 * shows). VP_ESTATE when that cannot be known (the CPU backend, no NVML, a PID namespace that
 * hides the process from the driver). */
int kern_slice_device_used(kern_slice *s, uint64_t *bytes, vp_err *e);
kern_backend kern_slice_backend(const kern_slice *s);
uint64_t kern_slice_bytes(const kern_slice *s);
const char *kern_slice_device(const kern_slice *s); /* "cpu" or the GPU's name; owned by s */
/* Host address of the slice base for the CPU backend (for tests and host-side twins); NULL for
 * CUDA, whose memory the host cannot touch. */
void *kern_slice_host(kern_slice *s);

/* Bounded transfers and fills. Every [off, off + n) must lie inside the slice (VP_EINPUT
 * otherwise). Calls are ordered; results are visible to the host after kern_slice_sync (download
 * synchronises itself). */
int kern_upload(kern_slice *s, uint64_t off, const void *src, uint64_t n, vp_err *e);
int kern_download(kern_slice *s, uint64_t off, void *dst, uint64_t n, vp_err *e);
int kern_slice_sync(kern_slice *s, vp_err *e);

typedef enum kern_fill_kind {
    KERN_FILL_F32 = 0,     /* uniform in [-scale, scale) */
    KERN_FILL_F16 = 1,     /* same, stored fp16 */
    KERN_FILL_BF16 = 2,    /* same, stored bf16 */
    KERN_FILL_F16_POS = 3, /* uniform in [0.5 scale, 1.5 scale), stored fp16 (int4 scales) */
    KERN_FILL_BYTES = 4    /* uniform random bytes (packed int4 weights); scale unused */
} kern_fill_kind;

/* Fills count elements at off; element i's value depends only on (seed, i), so both backends
 * produce identical bytes. */
int kern_fill(kern_slice *s, uint64_t off, kern_fill_kind kind, uint64_t count, uint64_t seed,
              float scale, vp_err *e);
/* The same values computed on the host into dst (count elements of the kind's size). */
void kern_fill_host(void *dst, kern_fill_kind kind, uint64_t count, uint64_t seed, float scale);

/* ---- Kernels (all offsets into the slice) ---- */

enum {
    KERN_GEMV_ACCUMULATE = 1, /* y += W x instead of y = W x (residual add) */
    KERN_GEMV_NORM_X = 2, /* multiply by 1/rms(x_b) (RMS norm of the input, unit gain, eps 1e-5) */
    KERN_GEMV_SWIGLU = 4, /* rows come in (gate, up) pairs: y[b][j] = silu(g_j) * u_j, j < n/2 */
};

/* y (batch x n, or batch x n/2 with SWIGLU) = W (n x k, row-major) x (batch x k). For int4, w
 * holds n rows of k/2 bytes and scales n x k/128 fp16. k must be a multiple of 128; n even with
 * SWIGLU. y must not overlap x or w. */
typedef struct kern_gemv_args {
    kern_dtype dtype;
    uint64_t w, scales, x, y;
    uint32_t n, k, batch;
    unsigned flags;
} kern_gemv_args;

/* Decode attention for one layer over paged KV, one new token per sequence. For sequence b with
 * pos = lens[b] cached tokens, the new token's q, k, v come from qkv (batch x (heads + 2 kv_heads)
 * x head_dim fp32: q heads, then k heads, then v heads); k and v are rounded to fp16 and written
 * into the cache at position pos (the block table must already hold that position), and out
 * (batch x heads x head_dim) receives softmax(q k^T / sqrt(head_dim)) v over positions 0..pos.
 * Query head i reads KV head i / (heads / kv_heads). partial is scratch for CUDA's context split
 * (batch x heads x splits x (head_dim + 4) fp32); the CPU does not use it. */
typedef struct kern_attn_args {
    uint64_t qkv, out, kv, tables, lens, partial;
    uint32_t batch, heads, kv_heads, head_dim;
    uint32_t kv_blocks; /* blocks in this layer's pool (kv points at the layer's block 0) */
    uint32_t max_blocks_per_seq;   /* row stride of tables */
    uint32_t splits, split_blocks; /* context split; splits x split_blocks >= max_blocks_per_seq */
} kern_attn_args;

/* x[b] = row tok_b of the embedding, tok_b a pseudo-random function of (seed, b, lens[b]). */
typedef struct kern_embed_args {
    kern_dtype dtype;
    uint64_t table, scales, lens, x;
    uint32_t vocab, hidden, batch;
    uint64_t seed;
} kern_embed_args;

int kern_gemv(kern_slice *s, const kern_gemv_args *a, vp_err *e);
int kern_attention(kern_slice *s, const kern_attn_args *a, vp_err *e);
int kern_embed(kern_slice *s, const kern_embed_args *a, vp_err *e);

/* Bytes a GEMV reads and writes (weights, scales, x, y) - what its achieved bandwidth counts. */
uint64_t kern_gemv_bytes(const kern_gemv_args *a);

/* How a GEMV's work is dealt out, the same on both backends. A row's weights are read as 16-byte
 * vectors (8 fp16/bf16 or 32 int4 weights). A block of KERN_GEMV_WARPS warps takes
 * rows_per_block rows: its warps form groups of ksplit warps, each group owns rows_per_warp rows,
 * and the warps of a group share those rows' vectors, 32 consecutive vectors (one per lane) at a
 * time in turn (kern_gemv_slice_of), so a small matrix still gets enough warps in flight. The
 * partial sums of a row are added in slice order 0, 1, ..., ksplit - 1, and the flags' work (norm
 * scale, SwiGLU, residual add) is done once, on the total. */
#define KERN_GEMV_WARPS 8u
/* Streaming multiprocessors the CPU twin plans for (an H100/H200 has 132), so its slices match
 * the GPU's on the parts the benchmark targets. */
#define KERN_GEMV_PLAN_SMS 132u
typedef struct kern_gemv_plan {
    uint32_t rows_per_warp;  /* rows a warp multiplies with each x value it loads */
    uint32_t ksplit;         /* warps sharing a row: 1, 2, 4 or 8 */
    uint32_t rows_per_block; /* (KERN_GEMV_WARPS / ksplit) x rows_per_warp */
    uint32_t blocks;         /* ceil(n / rows_per_block) */
} kern_gemv_plan;

/* The plan for an n x k GEMV of dtype d over a batch tile of `batch` rows (1..8) on a GPU with
 * `sms` multiprocessors (0: KERN_GEMV_PLAN_SMS): rows_per_warp 4 for batch <= 2, else 2; ksplit
 * the smallest power of two that gives at least 32 warps per multiprocessor, but no more than
 * leaves every lane two vectors of each row. Pure. */
void kern_gemv_plan_make(kern_dtype d, uint32_t n, uint32_t k, uint32_t batch, uint32_t sms,
                         kern_gemv_plan *p);

/* ---- Timing and the bandwidth probe ---- */

/* Marks the start of a timed region on the slice's stream (device events on CUDA, the monotonic
 * clock on the CPU); kern_timer_stop waits for the work and returns the milliseconds between. */
int kern_timer_start(kern_slice *s, vp_err *e);
int kern_timer_stop(kern_slice *s, double *ms, vp_err *e);

/* Copies n bytes from src to dst inside the slice (device to device on CUDA). */
int kern_copy(kern_slice *s, uint64_t dst, uint64_t src, uint64_t n, vp_err *e);

/* Bandwidth probe: copies n bytes src -> dst `iters` times after two warm-up copies, timing each,
 * and reports the median copy's GB/s counting bytes read plus written (2n / t, GB = 1e9 bytes). */
int kern_probe_copy(kern_slice *s, uint64_t dst, uint64_t src, uint64_t n, unsigned iters,
                    double *gbs, vp_err *e);

/* ---- The decode model on a slice ---- */

typedef struct kern_model kern_model;

/* Lays the shape out in slice s (which it borrows; s must outlive the model), fills weights and
 * the whole KV pool with pseudo-random values from seed, zeroes the scratch, and starts batch
 * sequences at staggered lengths below context. Caller frees with kern_model_close. */
int kern_model_open(kern_slice *s, const kern_shape *shape, uint32_t batch, uint32_t context,
                    uint64_t seed, kern_model **out, vp_err *e);
void kern_model_close(kern_model *m); /* accepts NULL */
const kern_layout *kern_model_layout(const kern_model *m);
/* One decode step for every sequence: embedding, all layers, LM head; sequences that reach
 * context are released and restarted (their blocks go back to the pool). Synchronous: returns
 * when the step is done. *bytes (may be NULL) receives what the step read, as
 * kern_decode_bytes_per_step counts it at the sequences' actual lengths. */
int kern_model_step(kern_model *m, uint64_t *bytes, vp_err *e);
/* Pins every sequence at `context` tokens (for timing a fixed context): each later step attends
 * over exactly context tokens. context must be >= 1 and <= the layout's context. */
int kern_model_pin_context(kern_model *m, uint32_t context, vp_err *e);
/* Downloads logits (batch x vocab fp32) into dst. */
int kern_model_logits(kern_model *m, float *dst, vp_err *e);

#ifdef __cplusplus
}
#endif

#endif
