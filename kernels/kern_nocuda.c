/* kern_nocuda.c - the CUDA backend's entry points when vrampack is built without the CUDA
 * toolkit: each one fails cleanly with VP_ESTATE "cuda backend not built", and the device count is
 * 0, so --backend auto picks the CPU and --backend cuda says why it cannot. */
#include <string.h>

#include "kern_impl.h"

#define NOT_BUILT(e) vp_errf(e, VP_ESTATE, "cuda backend not built")

int kcuda_built(void)
{
    return 0;
}

int kcuda_device_count(vp_err *e)
{
    NOT_BUILT(e);
    return 0;
}

int kcuda_describe(kern_cuda_info *out, vp_err *e)
{
    memset(out, 0, sizeof *out);
    return NOT_BUILT(e);
}

int kcuda_open(uint64_t bytes, kern_slice_mem *mem, kcuda_ctx **out, char *name, size_t name_len,
               vp_err *e)
{
    *out = NULL;
    return NOT_BUILT(e);
}

int kcuda_device_used(kcuda_ctx *c, uint64_t *bytes, vp_err *e)
{
    return NOT_BUILT(e);
}

void kcuda_close(kcuda_ctx *c)
{
    (void)c;
}

int kcuda_upload(kcuda_ctx *c, uint64_t off, const void *src, uint64_t n, vp_err *e)
{
    return NOT_BUILT(e);
}

int kcuda_download(kcuda_ctx *c, uint64_t off, void *dst, uint64_t n, vp_err *e)
{
    return NOT_BUILT(e);
}

int kcuda_sync(kcuda_ctx *c, vp_err *e)
{
    return NOT_BUILT(e);
}

int kcuda_fill(kcuda_ctx *c, uint64_t off, kern_fill_kind kind, uint64_t count, uint64_t seed,
               float scale, vp_err *e)
{
    return NOT_BUILT(e);
}

int kcuda_gemv(kcuda_ctx *c, const kern_gemv_args *a, vp_err *e)
{
    return NOT_BUILT(e);
}

int kcuda_attention(kcuda_ctx *c, const kern_attn_args *a, vp_err *e)
{
    return NOT_BUILT(e);
}

int kcuda_embed(kcuda_ctx *c, const kern_embed_args *a, vp_err *e)
{
    return NOT_BUILT(e);
}

int kcuda_copy(kcuda_ctx *c, uint64_t dst, uint64_t src, uint64_t n, vp_err *e)
{
    return NOT_BUILT(e);
}

int kcuda_timer_start(kcuda_ctx *c, vp_err *e)
{
    return NOT_BUILT(e);
}

int kcuda_timer_stop(kcuda_ctx *c, double *ms, vp_err *e)
{
    return NOT_BUILT(e);
}

int kcuda_capture_begin(kcuda_ctx *c, vp_err *e)
{
    return NOT_BUILT(e);
}

int kcuda_capture_end(kcuda_ctx *c, vp_err *e)
{
    return NOT_BUILT(e);
}

int kcuda_replay(kcuda_ctx *c, vp_err *e)
{
    return NOT_BUILT(e);
}
