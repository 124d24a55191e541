/* test_slice.c - the slice's accounting: the bump sub-allocator, exact layouts of hand-computed
 * shapes, refusal of what does not fit, the default shape that fills a slice, the decode-bytes
 * formula, and bounds checks on a real (CPU) slice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kern.h"

/* layers 2, hidden 256, intermediate 512, heads 4, kv_heads 2, head_dim 64, vocab 1000 */
static kern_shape small_shape(kern_dtype d)
{
    kern_shape s = {2, 256, 512, 4, 2, 64, 1000, d};
    return s;
}

static void arena_aligns_and_counts_exact_bytes(void **state)
{
    (void)state;
    kern_arena a;
    uint64_t off = 99;
    kern_arena_init(&a, 1000);
    assert_int_equal(kern_arena_take(&a, 10, 1, &off), 0);
    assert_int_equal(off, 0);
    assert_int_equal(kern_arena_take(&a, 100, 256, &off), 0);
    assert_int_equal(off, 256);
    assert_int_equal(a.used, 356);
    assert_int_equal(kern_arena_take(&a, 0, 64, &off), 0);
    assert_int_equal(off, 384);
    assert_int_equal(kern_arena_take(&a, 616, 1, &off), 0);
    assert_int_equal(off, 384);
    assert_int_equal(a.used, 1000);
}

static void arena_refuses_over_budget_and_changes_nothing(void **state)
{
    (void)state;
    kern_arena a;
    uint64_t off = 7;
    kern_arena_init(&a, 1000);
    assert_int_equal(kern_arena_take(&a, 500, 1, &off), 0);
    assert_int_equal(kern_arena_take(&a, 501, 1, &off), VP_ENOSPACE);
    assert_int_equal(a.used, 500);
    assert_int_equal(off, 0);
    /* alignment padding counts: 500 -> 512, leaving 488 */
    assert_int_equal(kern_arena_take(&a, 489, 256, &off), VP_ENOSPACE);
    assert_int_equal(kern_arena_take(&a, 488, 256, &off), 0);
    assert_int_equal(off, 512);
    assert_int_equal(kern_arena_take(&a, 1, 3, &off), VP_EINPUT);
    assert_int_equal(kern_arena_take(&a, UINT64_MAX, 1, &off), VP_ENOSPACE);
}

static void fp16_layout_has_the_hand_computed_sizes(void **state)
{
    (void)state;
    kern_shape s = small_shape(KERN_FP16);
    kern_layout L;
    vp_err e = {0};
    uint64_t w;
    assert_int_equal(kern_shape_weight_bytes(&s, &w), 0);
    /* per layer qkv 262144 + o 131072 + gate_up 524288 + down 262144; embed = lm_head = 512000 */
    assert_int_equal(w, 3383296);
    assert_int_equal(kern_layout_plan(&s, 2, 100, 4000000, &L, &e), 0);
    assert_int_equal(L.weights_bytes, 3383296);
    assert_int_equal(L.layer_stride, 1179648);
    assert_int_equal(L.max_blocks_per_seq, 7);
    assert_int_equal(L.attn_splits * L.attn_split_blocks >= 7, 1);
    /* x 2048, qkv 4096, attn 2048, act 4096, logits 8000->8192, tables 56->256, lens 8->256,
     * partial 2*4*1*68*4 = 2176 -> 2304 (7 blocks are fewer than a split's minimum of 8, so the
     * context is not split) */
    assert_int_equal(L.attn_splits, 1);
    assert_int_equal(L.scratch_bytes, 23296);
    assert_int_equal(L.kv_block_bytes, 8192);
    assert_int_equal(L.kv, 3383296 + 23296);
    assert_int_equal(L.kv_blocks, (4000000 - 3406592) / 16384);
    assert_int_equal(L.kv_bytes, 36 * 16384);
    assert_int_equal(L.bytes_used, 3406592 + 36 * 16384);
}

static void int4_layout_counts_packed_weights_and_scales(void **state)
{
    (void)state;
    kern_shape s = small_shape(KERN_INT4);
    uint64_t w;
    assert_int_equal(kern_shape_weight_bytes(&s, &w), 0);
    /* per layer 65536+2048 + 32768+1024 + 131072+4096 + 65536+2048 = 304128;
     * embed 128000 + scales 4000->4096 */
    assert_int_equal(w, 2 * 304128 + 2 * (128000 + 4096));
}

static int cmp_off(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

static void layout_regions_are_aligned_disjoint_and_inside_the_slice(void **state)
{
    (void)state;
    const kern_dtype dts[] = {KERN_FP16, KERN_BF16, KERN_INT4};
    for (unsigned d = 0; d < 3; d++) {
        kern_shape s = small_shape(dts[d]);
        kern_layout L;
        assert_int_equal(kern_layout_plan(&s, 3, 333, 8000000, &L, NULL), 0);
        uint64_t qkv_n = (uint64_t)(s.heads + 2 * s.kv_heads) * s.head_dim;
        int q = dts[d] == KERN_INT4;
#define MB(n, k) (q ? (uint64_t)(n) * (k) / 2 : (uint64_t)(n) * (k)*2)
#define SB(n, k) (q ? (uint64_t)(n) * ((k) / 128) * 2 : 0)
        uint64_t r[64][2];
        unsigned nr = 0;
        r[nr][0] = L.embed;
        r[nr++][1] = MB(s.vocab, s.hidden);
        r[nr][0] = L.embed_scales;
        r[nr++][1] = SB(s.vocab, s.hidden);
        r[nr][0] = L.lm_head;
        r[nr++][1] = MB(s.vocab, s.hidden);
        r[nr][0] = L.lm_head_scales;
        r[nr++][1] = SB(s.vocab, s.hidden);
        for (uint32_t l = 0; l < s.layers; l++) {
            kern_layer_offs o;
            kern_layout_layer(&L, l, &o);
            r[nr][0] = o.qkv;
            r[nr++][1] = MB(qkv_n, s.hidden);
            r[nr][0] = o.qkv_scales;
            r[nr++][1] = SB(qkv_n, s.hidden);
            r[nr][0] = o.o;
            r[nr++][1] = MB(s.hidden, s.heads * s.head_dim);
            r[nr][0] = o.o_scales;
            r[nr++][1] = SB(s.hidden, s.heads * s.head_dim);
            r[nr][0] = o.gate_up;
            r[nr++][1] = MB(2 * s.intermediate, s.hidden);
            r[nr][0] = o.gate_up_scales;
            r[nr++][1] = SB(2 * s.intermediate, s.hidden);
            r[nr][0] = o.down;
            r[nr++][1] = MB(s.hidden, s.intermediate);
            r[nr][0] = o.down_scales;
            r[nr++][1] = SB(s.hidden, s.intermediate);
        }
        uint64_t B = L.batch;
        r[nr][0] = L.x;
        r[nr++][1] = B * s.hidden * 4;
        r[nr][0] = L.qkv_out;
        r[nr++][1] = B * qkv_n * 4;
        r[nr][0] = L.attn_out;
        r[nr++][1] = B * s.heads * s.head_dim * 4;
        r[nr][0] = L.act;
        r[nr++][1] = B * s.intermediate * 4;
        r[nr][0] = L.logits;
        r[nr++][1] = B * s.vocab * 4;
        r[nr][0] = L.tables;
        r[nr++][1] = B * L.max_blocks_per_seq * 4;
        r[nr][0] = L.lens;
        r[nr++][1] = B * 4;
        r[nr][0] = L.partial;
        r[nr++][1] = B * s.heads * L.attn_splits * (s.head_dim + 4) * 4;
        r[nr][0] = L.kv;
        r[nr++][1] = L.kv_bytes;
#undef MB
#undef SB
        uint64_t sum = 0;
        unsigned kept = 0;
        for (unsigned i = 0; i < nr; i++) {
            assert_int_equal(r[i][0] % KERN_ALIGN, 0);
            sum += r[i][1];
            if (r[i][1]) { /* empty regions (fp16 scales) may share an offset */
                r[kept][0] = r[i][0];
                r[kept++][1] = r[i][1];
            }
        }
        nr = kept;
        qsort(r, nr, sizeof r[0], cmp_off);
        for (unsigned i = 0; i + 1 < nr; i++)
            assert_true(r[i][0] + r[i][1] <= r[i + 1][0]);
        assert_true(r[nr - 1][0] + r[nr - 1][1] <= L.bytes_used);
        assert_true(L.bytes_used <= L.slice_bytes);
        assert_true(sum <= L.bytes_used);
        assert_int_equal(L.kv_bytes, (uint64_t)L.kv_blocks * L.kv_block_bytes * s.layers);
        /* the pool took every whole block: one more would not fit */
        assert_true(L.bytes_used + L.kv_block_bytes * s.layers > L.slice_bytes);
    }
}

static void layout_refuses_a_slice_one_byte_short(void **state)
{
    (void)state;
    kern_shape s = small_shape(KERN_FP16);
    kern_layout L;
    vp_err e = {0};
    /* weights + scratch 3406592, then 2 sequences x 7 blocks x 16384 bytes */
    uint64_t exact = 3406592 + 14 * 16384;
    assert_int_equal(kern_layout_plan(&s, 2, 100, exact - 1, &L, &e), VP_ENOSPACE);
    assert_non_null(strstr(e.msg, "KV pool"));
    assert_int_equal(kern_layout_plan(&s, 2, 100, exact, &L, &e), 0);
    assert_int_equal(L.kv_blocks, 14);
    assert_int_equal(L.bytes_used, exact);
    assert_int_equal(kern_layout_plan(&s, 2, 100, 3383296 - 1, &L, &e), VP_ENOSPACE);
    assert_non_null(strstr(e.msg, "weights"));
}

static void shape_check_names_the_bad_field(void **state)
{
    (void)state;
    vp_err e = {0};
    kern_shape s = small_shape(KERN_FP16);
    assert_int_equal(kern_shape_check(&s, &e), 0);
    s.hidden = 200;
    assert_int_equal(kern_shape_check(&s, &e), VP_EINPUT);
    assert_non_null(strstr(e.msg, "hidden"));
    s = small_shape(KERN_FP16);
    s.kv_heads = 3;
    assert_int_equal(kern_shape_check(&s, &e), VP_EINPUT);
    assert_non_null(strstr(e.msg, "kv_heads"));
    s = small_shape(KERN_FP16);
    s.head_dim = 96;
    assert_int_equal(kern_shape_check(&s, &e), VP_EINPUT);
    assert_non_null(strstr(e.msg, "head_dim"));
    s = small_shape(KERN_FP16);
    s.heads = 32;
    s.kv_heads = 2; /* 16 query heads per KV head */
    assert_int_equal(kern_shape_check(&s, &e), VP_EINPUT);
    s = small_shape(KERN_FP16);
    s.layers = 0;
    assert_int_equal(kern_shape_check(&s, &e), VP_EINPUT);
    assert_non_null(strstr(e.msg, "layers"));
}

static void default_shape_fills_the_slice_with_weights_near_sixty_percent(void **state)
{
    (void)state;
    const uint64_t slices[] = {16u << 20, 256u << 20, 3ull << 30, 80ull << 30};
    const kern_dtype dts[] = {KERN_FP16, KERN_INT4};
    for (unsigned i = 0; i < VP_ARRAY_LEN(slices); i++)
        for (unsigned d = 0; d < 2; d++) {
            kern_shape s = {0};
            s.dtype = dts[d];
            vp_err e = {0};
            assert_int_equal(kern_shape_fill(&s, slices[i], 1, 1024, &e), 0);
            kern_layout L;
            assert_int_equal(kern_layout_plan(&s, 1, 1024, slices[i], &L, &e), 0);
            double frac = (double)L.weights_bytes / (double)slices[i];
            assert_true(frac > 0.45 && frac <= 0.61);
            assert_true(L.bytes_used <= slices[i]);
            assert_true((double)L.bytes_used > 0.95 * (double)slices[i]);
            assert_int_equal(s.dtype, dts[d]);
            kern_shape again = {0};
            again.dtype = dts[d];
            assert_int_equal(kern_shape_fill(&again, slices[i], 1, 1024, &e), 0);
            assert_memory_equal(&s, &again, sizeof s);
        }
}

static void default_shape_keeps_the_fields_it_is_given(void **state)
{
    (void)state;
    kern_shape s = {0};
    s.hidden = 1024;
    s.layers = 3;
    s.vocab = 5000;
    vp_err e = {0};
    assert_int_equal(kern_shape_fill(&s, 256u << 20, 2, 512, &e), 0);
    assert_int_equal(s.hidden, 1024);
    assert_int_equal(s.layers, 3);
    assert_int_equal(s.vocab, 5000);
    assert_int_equal(kern_shape_check(&s, &e), 0);
    kern_shape big = {0};
    big.hidden = 8192;
    big.layers = 80;
    assert_int_equal(kern_shape_fill(&big, 256u << 20, 1, 1024, &e), VP_ENOSPACE);
    kern_shape none = {0};
    assert_int_equal(kern_shape_fill(&none, 4096, 1, 1024, &e), VP_ENOSPACE);
}

static void decode_bytes_are_weights_per_pass_plus_kv_at_context(void **state)
{
    (void)state;
    kern_shape s = small_shape(KERN_FP16);
    /* 2 layers x 1179648 + lm_head 512000, 2 embedding rows of 512, KV 2*2*2*64*2 per token */
    assert_int_equal(kern_decode_bytes_per_step(&s, 2, 100), 2871296 + 1024 + 1024 * 200);
    /* 9 sequences take two passes over the weights */
    assert_int_equal(kern_decode_bytes_per_step(&s, 9, 100), 2 * 2871296 + 9 * 512 + 1024 * 900);
    kern_shape q = small_shape(KERN_INT4);
    /* unaligned int4 bytes: layer 304128 (all parts were already multiples of 256), lm_head
     * 128000 + 4000, embedding row 128 + 4 */
    assert_int_equal(kern_decode_bytes_per_step(&q, 1, 16), 2 * 304128 + 132000 + 132 + 1024 * 16);
}

static void cpu_slice_holds_exactly_its_bytes_and_refuses_outside_access(void **state)
{
    (void)state;
    kern_slice *s = NULL;
    vp_err e = {0};
    assert_int_equal(kern_slice_open(KERN_REQ_CPU, 4096 + 3, &s, &e), 0);
    assert_int_equal(kern_slice_bytes(s), 4099);
    assert_int_equal(kern_slice_backend(s), KERN_BACKEND_CPU);
    assert_int_equal((uintptr_t)kern_slice_host(s) % KERN_ALIGN, 0);
    uint8_t buf[16] = {1, 2, 3};
    assert_int_equal(kern_upload(s, 4099 - 16, buf, 16, &e), 0);
    assert_int_equal(kern_upload(s, 4099 - 15, buf, 16, &e), VP_EINPUT);
    assert_non_null(strstr(e.msg, "outside"));
    assert_int_equal(kern_download(s, UINT64_MAX - 4, buf, 16, &e), VP_EINPUT);
    assert_int_equal(kern_fill(s, 4092, KERN_FILL_F32, 1, 1, 1.0f, &e), 0);
    assert_int_equal(kern_fill(s, 4092, KERN_FILL_F32, 2, 1, 1.0f, &e), VP_EINPUT);
    assert_int_equal(kern_fill(s, 4090, KERN_FILL_F32, 1, 1, 1.0f, &e), VP_EINPUT); /* unaligned */
    assert_int_equal(kern_copy(s, 0, 8, 16, &e), VP_EINPUT); /* overlapping */
    kern_gemv_args g = {KERN_FP16, 0, 0, 0, 2048, 16, 128, 1, 0};
    assert_int_equal(kern_gemv(s, &g, &e), VP_EINPUT); /* x overlaps the weights */
    g.n = 64;                                          /* weights 64 x 128 x 2 = 16384 > 4099 */
    assert_int_equal(kern_gemv(s, &g, &e), VP_EINPUT);
    kern_slice_close(s);
    assert_int_equal(kern_slice_open(KERN_REQ_CPU, 0, &s, &e), VP_EINPUT);
    assert_null(s);
}

static void cuda_requests_fail_cleanly_without_a_device(void **state)
{
    (void)state;
    vp_err e = {0};
    if (kern_cuda_device_count(&e) > 0) skip();
    kern_slice *s = NULL;
    assert_int_equal(kern_slice_open(KERN_REQ_CUDA, 1 << 20, &s, &e), VP_ESTATE);
    assert_null(s);
    if (!kern_cuda_built())
        assert_non_null(strstr(e.msg, "cuda backend not built"));
    else
        assert_non_null(strstr(e.msg, "no usable CUDA device"));
    assert_int_equal(kern_slice_open(KERN_REQ_AUTO, 1 << 20, &s, &e), 0);
    assert_int_equal(kern_slice_backend(s), KERN_BACKEND_CPU);
    kern_slice_close(s);
}

static void budget_leaves_the_slice_after_context_and_headroom_in_whole_pages(void **state)
{
    (void)state;
    const uint64_t MiB = 1ull << 20, G = KERN_CUDA_GRANULE;
    uint64_t slice = 0;
    /* an 80 GiB H100 placement of 40 GiB with a 530 MiB context */
    assert_int_equal(kern_budget_slice(40960 * MiB, 530 * MiB, KERN_CUDA_HEADROOM, G, &slice), 0);
    assert_int_equal(slice, (40960 - 530 - 32) * MiB);
    /* the remainder rounds down to a whole page, never up past the budget */
    assert_int_equal(kern_budget_slice(1000 * MiB + 12345, 300 * MiB + 1, 32 * MiB, G, &slice), 0);
    assert_int_equal(slice, 668 * MiB);
    assert_true(slice + 300 * MiB + 1 + 32 * MiB <= 1000 * MiB + 12345);
    /* nothing left: a context bigger than the budget, or less than a page after headroom */
    slice = 7;
    assert_int_equal(kern_budget_slice(512 * MiB, 530 * MiB, 0, G, &slice), VP_ENOSPACE);
    assert_int_equal(kern_budget_slice(563 * MiB, 530 * MiB, 32 * MiB, G, &slice), VP_ENOSPACE);
    assert_int_equal(slice, 7); /* unchanged on failure */
    assert_int_equal(kern_budget_slice(566 * MiB, 530 * MiB, 32 * MiB, G, &slice), 0);
    assert_int_equal(slice, 4 * MiB);
    assert_int_equal(kern_budget_slice(UINT64_MAX, UINT64_MAX, 1, G, &slice), VP_ENOSPACE);
    assert_int_equal(kern_budget_slice(100 * MiB, 0, 0, 3, &slice), VP_EINPUT);
}

static void cpu_budget_is_the_whole_slice(void **state)
{
    (void)state;
    kern_slice *s = NULL;
    vp_err e = {0};
    assert_int_equal(kern_slice_open_budget(KERN_REQ_CPU, 3u << 20, &s, &e), 0);
    kern_slice_mem m;
    kern_slice_memory(s, &m);
    assert_int_equal(m.budget, 3u << 20);
    assert_int_equal(m.slice, 3u << 20);
    assert_int_equal(m.context, 0);
    assert_int_equal(m.headroom, 0);
    assert_string_equal(m.context_source, "none");
    assert_int_equal(kern_slice_bytes(s), 3u << 20);
    uint64_t used = 0;
    assert_int_equal(kern_slice_device_used(s, &used, &e), VP_ESTATE);
    kern_slice_close(s);
    /* a CUDA request without a device fails the same way as an exact slice */
    e.msg[0] = '\0';
    assert_int_equal(kern_slice_open_budget(KERN_REQ_CUDA, 3u << 20, &s, &e), VP_ESTATE);
    assert_null(s);
    assert_non_null(strstr(e.msg, "backend cuda"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arena_aligns_and_counts_exact_bytes),
        cmocka_unit_test(arena_refuses_over_budget_and_changes_nothing),
        cmocka_unit_test(fp16_layout_has_the_hand_computed_sizes),
        cmocka_unit_test(int4_layout_counts_packed_weights_and_scales),
        cmocka_unit_test(layout_regions_are_aligned_disjoint_and_inside_the_slice),
        cmocka_unit_test(layout_refuses_a_slice_one_byte_short),
        cmocka_unit_test(shape_check_names_the_bad_field),
        cmocka_unit_test(default_shape_fills_the_slice_with_weights_near_sixty_percent),
        cmocka_unit_test(default_shape_keeps_the_fields_it_is_given),
        cmocka_unit_test(decode_bytes_are_weights_per_pass_plus_kv_at_context),
        cmocka_unit_test(cpu_slice_holds_exactly_its_bytes_and_refuses_outside_access),
        cmocka_unit_test(cuda_requests_fail_cleanly_without_a_device),
        cmocka_unit_test(budget_leaves_the_slice_after_context_and_headroom_in_whole_pages),
        cmocka_unit_test(cpu_budget_is_the_whole_slice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
