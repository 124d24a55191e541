/* test_kv.c - paged KV block bookkeeping: blocks handed out on demand, block tables, freeing and
 * reuse of freed blocks, refusals that change nothing, and the pool's invariants under a long
 * pseudo-random sequence of resizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kern.h"

static void blocks_are_allocated_on_demand_sixteen_tokens_each(void **state)
{
    (void)state;
    kern_kv kv;
    assert_int_equal(kern_kv_init(&kv, 10, 2, 5), 0);
    assert_int_equal(kern_kv_free_blocks(&kv), 10);
    assert_int_equal(kern_kv_resize(&kv, 0, 1), 0);
    assert_int_equal(kern_kv_free_blocks(&kv), 9);
    assert_int_equal(kern_kv_resize(&kv, 0, 16), 0); /* still one block */
    assert_int_equal(kern_kv_free_blocks(&kv), 9);
    assert_int_equal(kern_kv_resize(&kv, 0, 17), 0);
    assert_int_equal(kern_kv_free_blocks(&kv), 8);
    assert_int_equal(kern_kv_len(&kv, 0), 17);
    const uint32_t *t = kern_kv_table(&kv, 0);
    assert_int_equal(t[0], 0);
    assert_int_equal(t[1], 1);
    assert_int_equal(kern_kv_resize(&kv, 1, 40), 0);
    t = kern_kv_table(&kv, 1);
    assert_int_equal(t[0], 2);
    assert_int_equal(t[1], 3);
    assert_int_equal(t[2], 4);
    assert_int_equal(kern_kv_free_blocks(&kv), 5);
    kern_kv_close(&kv);
}

static void freed_blocks_are_reused_before_untouched_ones(void **state)
{
    (void)state;
    kern_kv kv;
    assert_int_equal(kern_kv_init(&kv, 8, 3, 8), 0);
    assert_int_equal(kern_kv_resize(&kv, 0, 48), 0); /* blocks 0 1 2 */
    assert_int_equal(kern_kv_resize(&kv, 1, 16), 0); /* block 3 */
    kern_kv_release(&kv, 0);
    assert_int_equal(kern_kv_len(&kv, 0), 0);
    assert_int_equal(kern_kv_free_blocks(&kv), 7);
    assert_int_equal(kern_kv_resize(&kv, 2, 48), 0);
    const uint32_t *t = kern_kv_table(&kv, 2);
    /* the three freed blocks come back (lowest first), not 4, 5, 6 */
    assert_int_equal(t[0], 0);
    assert_int_equal(t[1], 1);
    assert_int_equal(t[2], 2);
    kern_kv_close(&kv);
}

static void shrinking_frees_only_the_tail_blocks(void **state)
{
    (void)state;
    kern_kv kv;
    assert_int_equal(kern_kv_init(&kv, 8, 1, 8), 0);
    assert_int_equal(kern_kv_resize(&kv, 0, 64), 0); /* 0 1 2 3 */
    assert_int_equal(kern_kv_resize(&kv, 0, 20), 0); /* keeps 0 1 */
    assert_int_equal(kern_kv_free_blocks(&kv), 6);
    const uint32_t *t = kern_kv_table(&kv, 0);
    assert_int_equal(t[0], 0);
    assert_int_equal(t[1], 1);
    assert_int_equal(kern_kv_resize(&kv, 0, 33), 0);
    assert_int_equal(t[2], 2); /* the block just freed comes back */
    kern_kv_close(&kv);
}

static void a_full_pool_refuses_and_changes_nothing(void **state)
{
    (void)state;
    kern_kv kv;
    assert_int_equal(kern_kv_init(&kv, 4, 2, 4), 0);
    assert_int_equal(kern_kv_resize(&kv, 0, 48), 0);
    assert_int_equal(kern_kv_resize(&kv, 1, 32), VP_ENOSPACE); /* needs 2, 1 free */
    assert_int_equal(kern_kv_len(&kv, 1), 0);
    assert_int_equal(kern_kv_free_blocks(&kv), 1);
    assert_int_equal(kern_kv_resize(&kv, 0, 65), VP_ENOSPACE); /* over the per-sequence table */
    assert_int_equal(kern_kv_len(&kv, 0), 48);
    assert_int_equal(kern_kv_resize(&kv, 2, 1), VP_EINPUT);
    assert_int_equal(kern_kv_resize(&kv, 1, 16), 0);
    assert_int_equal(kern_kv_free_blocks(&kv), 0);
    kern_kv_close(&kv);
    kern_kv_close(&kv); /* closing twice is harmless */
    assert_int_equal(kern_kv_init(&kv, 0, 1, 1), VP_EINPUT);
    assert_null(kv.free_list);
}

/* Every block is either free or in exactly one table, and each table holds ceil(len / 16). */
static void check_invariants(const kern_kv *kv)
{
    uint8_t *seen = calloc(kv->num_blocks, 1);
    assert_non_null(seen);
    uint32_t used = 0;
    for (uint32_t s = 0; s < kv->max_seqs; s++) {
        uint32_t n = (kern_kv_len(kv, s) + 15) / 16;
        const uint32_t *t = kern_kv_table(kv, s);
        for (uint32_t i = 0; i < n; i++) {
            assert_true(t[i] < kv->num_blocks);
            assert_int_equal(seen[t[i]], 0);
            seen[t[i]] = 1;
        }
        used += n;
    }
    for (uint32_t i = 0; i < kv->free_top; i++) {
        assert_int_equal(seen[kv->free_list[i]], 0);
        seen[kv->free_list[i]] = 1;
    }
    assert_int_equal(used + kern_kv_free_blocks(kv), kv->num_blocks);
    free(seen);
}

static void random_resizes_keep_every_block_in_exactly_one_place(void **state)
{
    (void)state;
    kern_kv kv;
    assert_int_equal(kern_kv_init(&kv, 64, 8, 16), 0);
    uint64_t r = 12345;
    unsigned refused = 0;
    for (int step = 0; step < 3000; step++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        uint32_t seq = (uint32_t)(r >> 33) % 8, tokens = (uint32_t)(r >> 40) % 300;
        uint32_t before = kern_kv_len(&kv, seq);
        int rc = kern_kv_resize(&kv, seq, tokens);
        if (rc) {
            assert_int_equal(rc, VP_ENOSPACE);
            assert_int_equal(kern_kv_len(&kv, seq), before);
            refused++;
        } else {
            assert_int_equal(kern_kv_len(&kv, seq), tokens);
        }
        if (step % 7 == 0) kern_kv_release(&kv, (uint32_t)(r >> 20) % 8);
        check_invariants(&kv);
    }
    assert_true(refused > 0); /* the pool really ran full along the way */
    kern_kv_close(&kv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blocks_are_allocated_on_demand_sixteen_tokens_each),
        cmocka_unit_test(freed_blocks_are_reused_before_untouched_ones),
        cmocka_unit_test(shrinking_frees_only_the_tail_blocks),
        cmocka_unit_test(a_full_pool_refuses_and_changes_nothing),
        cmocka_unit_test(random_resizes_keep_every_block_in_exactly_one_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
