/*
 * Unit tests for router/base/epoch.c: publication of snapshots to reader threads and
 * reclamation once every reader has passed a quiescent point. The single-threaded cases
 * step readers by hand; the stress case runs one writer and three readers on pthreads and
 * checks a magic value that the free callback poisons (ASan also catches the read).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

#include "router/base/epoch.h"

#define MAGIC 0x5eed5eed5eed5eedull
#define POISON 0xdeaddeaddeaddeadull

struct snap {
    uint64_t magic;
    uint64_t seq;
};

static atomic_uint freed_count;
static uint64_t freed_seq[64]; /* single-threaded tests: sequence numbers freed, in order */

static struct snap *snap_new(uint64_t seq)
{
    struct snap *s = malloc(sizeof(*s));
    assert_non_null(s);
    s->magic = MAGIC;
    s->seq = seq;
    return s;
}

static void snap_free(void *obj)
{
    struct snap *s = obj;
    unsigned n = atomic_fetch_add(&freed_count, 1);
    if (n < sizeof(freed_seq) / sizeof(freed_seq[0]))
        freed_seq[n] = s->seq;
    s->magic = POISON;
    free(s);
}

static int reset(void **state)
{
    (void)state;
    atomic_store(&freed_count, 0);
    memset(freed_seq, 0, sizeof(freed_seq));
    return 0;
}

static void test_init_rejects_zero_or_too_many_readers(void **state)
{
    (void)state;
    struct epoch_domain d;
    assert_int_equal(epoch_domain_init(&d, 0, NULL), -EINVAL);
    assert_int_equal(epoch_domain_init(&d, EPOCH_MAX_READERS + 1, NULL), -EINVAL);
    assert_int_equal(epoch_domain_init(&d, EPOCH_MAX_READERS, NULL), 0);
    assert_null(epoch_current(&d));
    epoch_domain_destroy(&d, snap_free);
    assert_int_equal(atomic_load(&freed_count), 0);
}

static void test_readers_see_the_published_snapshot_at_their_next_quiescent_point(void **state)
{
    (void)state;
    struct epoch_domain d;
    struct snap *a = snap_new(1), *b = snap_new(2);
    assert_int_equal(epoch_domain_init(&d, 2, a), 0);
    assert_ptr_equal(epoch_quiescent(&d, 0), a);
    assert_ptr_equal(epoch_current(&d), a);
    assert_int_equal(epoch_publish(&d, b, snap_free), 0);
    assert_ptr_equal(epoch_current(&d), b);
    assert_ptr_equal(epoch_quiescent(&d, 0), b);
    assert_ptr_equal(epoch_quiescent(&d, 1), b);
    assert_int_equal(epoch_reclaim(&d), 0);
    epoch_domain_destroy(&d, snap_free);
    assert_int_equal(atomic_load(&freed_count), 2);
}

static void test_retired_snapshot_is_freed_only_after_every_reader_passed(void **state)
{
    (void)state;
    struct epoch_domain d;
    struct snap *a = snap_new(1), *b = snap_new(2);
    assert_int_equal(epoch_domain_init(&d, 2, a), 0);
    assert_ptr_equal(epoch_quiescent(&d, 0), a);
    assert_ptr_equal(epoch_quiescent(&d, 1), a);

    assert_int_equal(epoch_publish(&d, b, snap_free), 0);
    assert_int_equal(epoch_reclaim(&d), 1);
    assert_int_equal(atomic_load(&freed_count), 0);
    assert_int_equal(a->magic, MAGIC); /* reader 1 may still hold it */

    assert_ptr_equal(epoch_quiescent(&d, 0), b);
    assert_int_equal(epoch_reclaim(&d), 1);
    assert_int_equal(atomic_load(&freed_count), 0);
    assert_int_equal(a->magic, MAGIC);

    assert_ptr_equal(epoch_quiescent(&d, 1), b);
    assert_int_equal(epoch_reclaim(&d), 0);
    assert_int_equal(atomic_load(&freed_count), 1);
    assert_int_equal(freed_seq[0], 1);

    epoch_domain_destroy(&d, snap_free);
    assert_int_equal(atomic_load(&freed_count), 2);
    assert_int_equal(freed_seq[1], 2);
}

static void test_a_reader_that_never_passes_holds_every_reclamation(void **state)
{
    (void)state;
    struct epoch_domain d;
    assert_int_equal(epoch_domain_init(&d, 3, snap_new(0)), 0);
    for (uint64_t i = 1; i <= 10; i++) {
        assert_int_equal(epoch_publish(&d, snap_new(i), snap_free), 0);
        epoch_quiescent(&d, 0);
        epoch_quiescent(&d, 1); /* reader 2 sleeps throughout */
        assert_int_equal(epoch_reclaim(&d), i);
    }
    assert_int_equal(atomic_load(&freed_count), 0);

    struct snap *cur = epoch_quiescent(&d, 2);
    assert_int_equal(cur->seq, 10);
    assert_int_equal(epoch_reclaim(&d), 0);
    assert_int_equal(atomic_load(&freed_count), 10);
    epoch_domain_destroy(&d, snap_free);
    assert_int_equal(atomic_load(&freed_count), 11);
}

static void test_a_stale_reader_holds_only_what_it_could_still_see(void **state)
{
    (void)state;
    struct epoch_domain d;
    assert_int_equal(epoch_domain_init(&d, 2, snap_new(0)), 0);
    epoch_quiescent(&d, 0);
    epoch_quiescent(&d, 1);
    assert_int_equal(epoch_publish(&d, snap_new(1), snap_free), 0); /* retires 0 */
    struct snap *held = epoch_quiescent(&d, 1);                    /* reader 1 holds 1 */
    assert_int_equal(held->seq, 1);
    assert_int_equal(epoch_publish(&d, snap_new(2), snap_free), 0); /* retires 1 */
    assert_int_equal(epoch_publish(&d, snap_new(3), snap_free), 0); /* retires 2 */
    epoch_quiescent(&d, 0);
    /* Reader 1 passed after 0 was retired but not after 1 or 2. */
    assert_int_equal(epoch_reclaim(&d), 2);
    assert_int_equal(atomic_load(&freed_count), 1);
    assert_int_equal(freed_seq[0], 0);
    assert_int_equal(held->magic, MAGIC);

    epoch_quiescent(&d, 1);
    assert_int_equal(epoch_reclaim(&d), 0);
    assert_int_equal(atomic_load(&freed_count), 3);
    epoch_domain_destroy(&d, snap_free);
    assert_int_equal(atomic_load(&freed_count), 4);
}

static void test_destroy_frees_the_current_and_every_retired_snapshot(void **state)
{
    (void)state;
    struct epoch_domain d;
    assert_int_equal(epoch_domain_init(&d, 4, snap_new(0)), 0);
    for (uint64_t i = 1; i <= 5; i++)
        assert_int_equal(epoch_publish(&d, snap_new(i), snap_free), 0);
    assert_int_equal(epoch_reclaim(&d), 5); /* no reader ever passed */
    epoch_domain_destroy(&d, snap_free);
    assert_int_equal(atomic_load(&freed_count), 6);
    assert_null(d.readers);
}

static void test_publishing_null_retires_nothing_to_free(void **state)
{
    (void)state;
    struct epoch_domain d;
    assert_int_equal(epoch_domain_init(&d, 1, NULL), 0);
    assert_int_equal(epoch_publish(&d, snap_new(1), snap_free), 0); /* retires NULL */
    const struct snap *cur = epoch_quiescent(&d, 0);
    assert_non_null(cur);
    assert_int_equal(cur->seq, 1);
    assert_int_equal(epoch_reclaim(&d), 0);
    assert_int_equal(atomic_load(&freed_count), 0);
    epoch_domain_destroy(&d, snap_free);
    assert_int_equal(atomic_load(&freed_count), 1);
}

/* --- stress: one writer, three readers ------------------------------------------------ */

#define STRESS_READERS 3
#define STRESS_SNAPSHOTS 10000u
#define STRESS_READER_MAX_ITERS 2000000u

struct stress {
    struct epoch_domain d;
    atomic_int          writer_done;
    atomic_uint         bad_magic;   /* a reader saw a poisoned or foreign snapshot */
    atomic_uint         went_back;   /* a reader saw an older snapshot after a newer one */
    atomic_uint         reads[STRESS_READERS];
    atomic_uint         publish_fail;
};

struct reader_arg {
    struct stress *s;
    unsigned       id;
};

static void *reader_main(void *p)
{
    struct reader_arg *a = p;
    struct stress *s = a->s;
    uint64_t last = 0;
    unsigned n = 0;

    while (n < STRESS_READER_MAX_ITERS) {
        int done = atomic_load(&s->writer_done);
        const struct snap *cur = epoch_quiescent(&s->d, a->id);
        /* Read the snapshot a few times, as a request would, before the next pass. */
        for (int k = 0; k < 4; k++) {
            if (cur->magic != MAGIC)
                atomic_fetch_add(&s->bad_magic, 1);
        }
        if (cur->seq < last)
            atomic_fetch_add(&s->went_back, 1);
        last = cur->seq;
        n++;
        if (done)
            break; /* one full pass after the writer finished */
    }
    atomic_store(&s->reads[a->id], n);
    return NULL;
}

static void *writer_main(void *p)
{
    struct stress *s = p;
    for (uint64_t i = 1; i <= STRESS_SNAPSHOTS; i++) {
        struct snap *n = malloc(sizeof(*n));
        if (n == NULL) {
            atomic_fetch_add(&s->publish_fail, 1);
            break;
        }
        n->magic = MAGIC;
        n->seq = i;
        if (epoch_publish(&s->d, n, snap_free) != 0) {
            free(n);
            atomic_fetch_add(&s->publish_fail, 1);
            break;
        }
        epoch_reclaim(&s->d);
    }
    atomic_store(&s->writer_done, 1);
    return NULL;
}

static void test_concurrent_readers_never_see_a_freed_snapshot(void **state)
{
    (void)state;
    static struct stress s; /* large and aligned; zeroed per run below */
    memset(&s, 0, sizeof(s));
    assert_int_equal(epoch_domain_init(&s.d, STRESS_READERS, snap_new(0)), 0);

    pthread_t readers[STRESS_READERS], writer;
    struct reader_arg args[STRESS_READERS];
    for (unsigned i = 0; i < STRESS_READERS; i++) {
        args[i] = (struct reader_arg){&s, i};
        assert_int_equal(pthread_create(&readers[i], NULL, reader_main, &args[i]), 0);
    }
    assert_int_equal(pthread_create(&writer, NULL, writer_main, &s), 0);
    assert_int_equal(pthread_join(writer, NULL), 0);
    for (unsigned i = 0; i < STRESS_READERS; i++)
        assert_int_equal(pthread_join(readers[i], NULL), 0);

    assert_int_equal(atomic_load(&s.publish_fail), 0);
    assert_int_equal(atomic_load(&s.bad_magic), 0);
    assert_int_equal(atomic_load(&s.went_back), 0);
    for (unsigned i = 0; i < STRESS_READERS; i++)
        assert_true(atomic_load(&s.reads[i]) > 0);

    /* Every reader has finished its last pass after the final publish: all but the
     * current snapshot can go now. */
    for (unsigned i = 0; i < STRESS_READERS; i++)
        epoch_quiescent(&s.d, i);
    assert_int_equal(epoch_reclaim(&s.d), 0);
    assert_int_equal(atomic_load(&freed_count), STRESS_SNAPSHOTS);
    const struct snap *last = epoch_current(&s.d);
    assert_int_equal(last->seq, STRESS_SNAPSHOTS);
    epoch_domain_destroy(&s.d, snap_free);
    assert_int_equal(atomic_load(&freed_count), STRESS_SNAPSHOTS + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_init_rejects_zero_or_too_many_readers, reset),
        cmocka_unit_test_setup(test_readers_see_the_published_snapshot_at_their_next_quiescent_point,
                               reset),
        cmocka_unit_test_setup(test_retired_snapshot_is_freed_only_after_every_reader_passed,
                               reset),
        cmocka_unit_test_setup(test_a_reader_that_never_passes_holds_every_reclamation, reset),
        cmocka_unit_test_setup(test_a_stale_reader_holds_only_what_it_could_still_see, reset),
        cmocka_unit_test_setup(test_destroy_frees_the_current_and_every_retired_snapshot, reset),
        cmocka_unit_test_setup(test_publishing_null_retires_nothing_to_free, reset),
        cmocka_unit_test_setup(test_concurrent_readers_never_see_a_freed_snapshot, reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
