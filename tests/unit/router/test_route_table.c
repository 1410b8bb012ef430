/*
 * Unit tests for router/route_table.c, through router/route_table.h: the immutable
 * hostname → route map, its sharing of identical target lists, its memory figure, and
 * the registry that gives addresses stable slots. Leaks are ASan's to find.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>

#include "router/route_table.h"

/* An IPv4 target, zero-filled beyond salen as the header requires. */
static struct target target_v4(uint32_t ip, uint16_t port, uint32_t slot)
{
    struct target t;
    memset(&t, 0, sizeof(t));
    t.addr.in.sin_family = AF_INET;
    t.addr.in.sin_addr.s_addr = htonl(ip);
    t.addr.in.sin_port = htons(port);
    t.salen = sizeof(struct sockaddr_in);
    t.slot = slot;
    return t;
}

static struct sockaddr_in sa_v4(uint32_t ip, uint16_t port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(ip);
    sa.sin_port = htons(port);
    return sa;
}

static int add(struct route_table_builder *b, const char *host, const struct target *t, size_t n)
{
    return route_table_builder_add(b, host, strlen(host), t, n);
}

static const struct route *lookup(const struct route_table *t, const char *host)
{
    return route_table_lookup(t, host, strlen(host));
}

static void test_lookup_finds_added_hosts_and_misses_others(void **state)
{
    (void)state;
    struct target a[2] = {target_v4(0x0a000001, 8080, 0), target_v4(0x0a000002, 8080, 1)};
    struct target b[1] = {target_v4(0x0a000003, 9090, 2)};
    struct route_table_builder *bld = route_table_builder_new(4);
    assert_non_null(bld);
    assert_int_equal(add(bld, "a.example.com", a, 2), 0);
    assert_int_equal(add(bld, "b.example.com", b, 1), 0);
    struct route_table *t = route_table_builder_finish(bld);
    assert_non_null(t);

    assert_int_equal(route_table_count(t), 2);
    const struct route *r = lookup(t, "a.example.com");
    assert_non_null(r);
    assert_int_equal(r->ntargets, 2);
    assert_memory_equal(&r->targets[0], &a[0], sizeof(a[0]));
    assert_memory_equal(&r->targets[1], &a[1], sizeof(a[1]));
    r = lookup(t, "b.example.com");
    assert_non_null(r);
    assert_int_equal(r->ntargets, 1);
    assert_int_equal(r->targets[0].slot, 2);
    assert_int_equal(ntohs(r->targets[0].addr.in.sin_port), 9090);

    assert_null(lookup(t, "c.example.com"));
    assert_null(lookup(t, "example.com"));
    assert_null(lookup(t, "a.example.co"));
    assert_null(lookup(t, "a.example.comm"));
    assert_null(route_table_lookup(t, "a.example.com", 0));
    route_table_free(t);
}

static void test_lookup_is_exact_match_without_case_folding_or_trimming(void **state)
{
    (void)state;
    struct target a = target_v4(0x7f000001, 80, 0);
    struct route_table_builder *bld = route_table_builder_new(0);
    assert_non_null(bld);
    assert_int_equal(add(bld, "shop.example.com", &a, 1), 0);
    struct route_table *t = route_table_builder_finish(bld);
    assert_non_null(t);

    assert_non_null(lookup(t, "shop.example.com"));
    assert_null(lookup(t, "Shop.example.com"));
    assert_null(lookup(t, "SHOP.EXAMPLE.COM"));
    assert_null(lookup(t, "shop.example.com."));
    assert_null(lookup(t, "shop.example.com:80"));
    assert_null(lookup(t, " shop.example.com"));
    /* A prefix of a longer buffer matches only by its length. */
    assert_non_null(route_table_lookup(t, "shop.example.com.evil", 16));
    route_table_free(t);
}

static void test_empty_table_finds_nothing(void **state)
{
    (void)state;
    struct route_table *t = route_table_builder_finish(route_table_builder_new(0));
    assert_non_null(t);
    assert_int_equal(route_table_count(t), 0);
    assert_int_equal(route_table_slot_limit(t), 0);
    assert_null(lookup(t, "a.example.com"));
    assert_null(lookup(NULL, "a.example.com"));
    assert_int_equal(route_table_count(NULL), 0);
    assert_true(route_table_memory(t) > 0);
    route_table_free(t);
    route_table_free(NULL);
}

static void test_duplicate_host_is_rejected_with_eexist_and_keeps_the_first(void **state)
{
    (void)state;
    struct target a = target_v4(0x0a000001, 80, 0);
    struct target b = target_v4(0x0a000002, 80, 1);
    struct route_table_builder *bld = route_table_builder_new(2);
    assert_non_null(bld);
    assert_int_equal(add(bld, "a.example.com", &a, 1), 0);
    assert_int_equal(add(bld, "a.example.com", &b, 1), -EEXIST);
    struct route_table *t = route_table_builder_finish(bld);
    assert_non_null(t);
    assert_int_equal(route_table_count(t), 1);
    const struct route *r = lookup(t, "a.example.com");
    assert_non_null(r);
    assert_int_equal(r->targets[0].slot, 0);
    assert_int_equal(route_table_slot_limit(t), 1);
    route_table_free(t);
}

static void test_zero_targets_or_bad_host_length_is_einval(void **state)
{
    (void)state;
    struct target a = target_v4(0x0a000001, 80, 0);
    char long_host[255];
    memset(long_host, 'a', sizeof(long_host));
    struct route_table_builder *bld = route_table_builder_new(2);
    assert_non_null(bld);
    assert_int_equal(add(bld, "a.example.com", &a, 0), -EINVAL);
    assert_int_equal(route_table_builder_add(bld, "", 0, &a, 1), -EINVAL);
    assert_int_equal(route_table_builder_add(bld, long_host, 254, &a, 1), -EINVAL);
    assert_int_equal(route_table_builder_add(bld, long_host, 253, &a, 1), 0);
    struct route_table *t = route_table_builder_finish(bld);
    assert_non_null(t);
    assert_int_equal(route_table_count(t), 1);
    assert_null(lookup(t, "a.example.com"));
    assert_non_null(route_table_lookup(t, long_host, 253));
    route_table_free(t);
}

#define MANY_HOSTS 100000u

static void test_hundred_thousand_hosts_are_all_found_after_growth(void **state)
{
    (void)state;
    struct target set[4];
    for (uint32_t i = 0; i < 4; i++)
        set[i] = target_v4(0x0a000001 + i, 8080, i);
    /* hint 0: every slot array size from 16 up is rehashed through. */
    struct route_table_builder *bld = route_table_builder_new(0);
    assert_non_null(bld);
    char host[64];
    for (uint32_t i = 0; i < MANY_HOSTS; i++) {
        int n = snprintf(host, sizeof(host), "h%u.tenant%u.example.com", i, i % 97);
        assert_int_equal(route_table_builder_add(bld, host, (size_t)n, set, 1 + i % 4), 0);
    }
    struct route_table *t = route_table_builder_finish(bld);
    assert_non_null(t);
    assert_int_equal(route_table_count(t), MANY_HOSTS);
    for (uint32_t i = 0; i < MANY_HOSTS; i++) {
        int n = snprintf(host, sizeof(host), "h%u.tenant%u.example.com", i, i % 97);
        const struct route *r = route_table_lookup(t, host, (size_t)n);
        assert_non_null(r);
        assert_int_equal(r->ntargets, 1 + i % 4);
        assert_int_equal(r->targets[0].slot, 0);
    }
    for (uint32_t i = 0; i < 1000; i++) {
        int n = snprintf(host, sizeof(host), "h%u.tenant%u.example.com", i, (i + 1) % 97);
        assert_null(route_table_lookup(t, host, (size_t)n));
    }
    route_table_free(t);
}

static void test_identical_target_lists_share_one_copy(void **state)
{
    (void)state;
    struct target ab[2] = {target_v4(0x0a000001, 80, 0), target_v4(0x0a000002, 80, 1)};
    struct target ab2[2];
    memcpy(ab2, ab, sizeof(ab)); /* equal bytes, different caller memory */
    struct target ba[2] = {ab[1], ab[0]};
    struct target c[1] = {target_v4(0x0a000003, 80, 2)};
    struct route_table_builder *bld = route_table_builder_new(8);
    assert_non_null(bld);
    assert_int_equal(add(bld, "a.example.com", ab, 2), 0);
    assert_int_equal(add(bld, "b.example.com", ab2, 2), 0);
    assert_int_equal(add(bld, "c.example.com", c, 1), 0);
    assert_int_equal(add(bld, "d.example.com", ba, 2), 0);
    assert_int_equal(add(bld, "e.example.com", ab, 1), 0); /* a prefix is another list */
    struct route_table *t = route_table_builder_finish(bld);
    assert_non_null(t);

    const struct route *a = lookup(t, "a.example.com");
    const struct route *b = lookup(t, "b.example.com");
    const struct route *cr = lookup(t, "c.example.com");
    const struct route *d = lookup(t, "d.example.com");
    const struct route *e = lookup(t, "e.example.com");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(cr);
    assert_non_null(d);
    assert_non_null(e);
    assert_ptr_equal(a->targets, b->targets);
    assert_ptr_not_equal(a->targets, cr->targets);
    assert_ptr_not_equal(a->targets, d->targets); /* order matters */
    assert_int_equal(e->ntargets, 1);
    assert_memory_equal(&e->targets[0], &ab[0], sizeof(ab[0]));
    assert_memory_equal(d->targets, ba, sizeof(ba));
    route_table_free(t);
}

static void test_sharing_survives_many_distinct_lists(void **state)
{
    (void)state;
    /* Enough distinct lists to grow the builder's set index several times. */
    struct route_table_builder *bld = route_table_builder_new(0);
    assert_non_null(bld);
    char host[64];
    for (uint32_t i = 0; i < 2000; i++) {
        struct target t1 = target_v4(0x0a000000 + i % 500, 80, i % 500);
        int n = snprintf(host, sizeof(host), "h%u.example.com", i);
        assert_int_equal(route_table_builder_add(bld, host, (size_t)n, &t1, 1), 0);
    }
    struct route_table *t = route_table_builder_finish(bld);
    assert_non_null(t);
    for (uint32_t i = 0; i < 500; i++) {
        char h2[64];
        int n1 = snprintf(host, sizeof(host), "h%u.example.com", i);
        int n2 = snprintf(h2, sizeof(h2), "h%u.example.com", i + 1500);
        const struct route *r1 = route_table_lookup(t, host, (size_t)n1);
        const struct route *r2 = route_table_lookup(t, h2, (size_t)n2);
        assert_non_null(r1);
        assert_non_null(r2);
        assert_ptr_equal(r1->targets, r2->targets);
        assert_int_equal(r1->targets[0].slot, i);
    }
    assert_int_equal(route_table_slot_limit(t), 500);
    route_table_free(t);
}

static void test_slot_limit_is_one_past_the_highest_slot(void **state)
{
    (void)state;
    struct target a[2] = {target_v4(0x0a000001, 80, 3), target_v4(0x0a000002, 80, 0)};
    struct target b[1] = {target_v4(0x0a000003, 80, 41)};
    struct target c[1] = {target_v4(0x0a000004, 80, 7)};
    struct route_table_builder *bld = route_table_builder_new(4);
    assert_non_null(bld);
    assert_int_equal(add(bld, "a.example.com", a, 2), 0);
    assert_int_equal(add(bld, "b.example.com", b, 1), 0);
    assert_int_equal(add(bld, "c.example.com", c, 1), 0);
    struct route_table *t = route_table_builder_finish(bld);
    assert_non_null(t);
    assert_int_equal(route_table_slot_limit(t), 42);
    assert_int_equal(route_table_slot_limit(NULL), 0);
    route_table_free(t);
}

/* Builds MANY_HOSTS hosts of 4 targets each: one shared list, or a distinct list per host.
 * Returns route_table_memory() of the result. */
static size_t memory_of_many_hosts(int distinct)
{
    struct route_table_builder *bld = route_table_builder_new(MANY_HOSTS);
    assert_non_null(bld);
    char host[64];
    struct target set[4];
    for (uint32_t i = 0; i < MANY_HOSTS; i++) {
        for (uint32_t k = 0; k < 4; k++)
            set[k] = target_v4(0x0a000001 + k + (distinct ? 4 * i : 0), 8080, k);
        int n = snprintf(host, sizeof(host), "app-%u.example.com", i);
        assert_int_equal(route_table_builder_add(bld, host, (size_t)n, set, 4), 0);
    }
    struct route_table *t = route_table_builder_finish(bld);
    assert_non_null(t);
    size_t mem = route_table_memory(t);
    route_table_free(t);
    return mem;
}

static void test_memory_per_host_stays_small_with_shared_targets(void **state)
{
    (void)state;
    size_t shared = memory_of_many_hosts(0);
    size_t distinct = memory_of_many_hosts(1);

    assert_true(shared / MANY_HOSTS < 400);
    /* The shared list is stored once: a table with a copy per host holds at least the
     * other 99 999 copies more, and nothing else differs. */
    assert_true(distinct >= shared);
    assert_true(distinct - shared >= (size_t)(MANY_HOSTS - 1) * 4 * sizeof(struct target));
}

static void test_registry_gives_stable_slots_per_address(void **state)
{
    (void)state;
    struct target_registry *r = target_registry_new();
    assert_non_null(r);
    struct sockaddr_in a = sa_v4(0x0a000001, 80);
    struct sockaddr_in a_again = sa_v4(0x0a000001, 80);
    struct sockaddr_in a_other_port = sa_v4(0x0a000001, 81);
    struct sockaddr_in b = sa_v4(0x0a000002, 80);
    struct sockaddr_in6 v6;
    memset(&v6, 0, sizeof(v6));
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(80);
    v6.sin6_addr.s6_addr[15] = 1;

    assert_int_equal(target_registry_slot(r, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(target_registry_slot(r, (struct sockaddr *)&b, sizeof(b)), 1);
    assert_int_equal(target_registry_slot(r, (struct sockaddr *)&a_again, sizeof(a)), 0);
    assert_int_equal(target_registry_slot(r, (struct sockaddr *)&a_other_port, sizeof(a)), 2);
    assert_int_equal(target_registry_slot(r, (struct sockaddr *)&v6, sizeof(v6)), 3);
    assert_int_equal(target_registry_slot(r, (struct sockaddr *)&b, sizeof(b)), 1);
    assert_int_equal(target_registry_slot(r, (struct sockaddr *)&v6, sizeof(v6)), 3);
    /* Past the initial capacity, old slots keep their meaning. */
    for (uint32_t i = 0; i < 100; i++) {
        struct sockaddr_in s = sa_v4(0x0b000000 + i, 80);
        assert_int_equal(target_registry_slot(r, (struct sockaddr *)&s, sizeof(s)), 4 + (int)i);
    }
    assert_int_equal(target_registry_slot(r, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(target_registry_slot(r, (struct sockaddr *)&v6, sizeof(v6)), 3);
    target_registry_free(r);
    target_registry_free(NULL);
}

static void test_freeing_an_unfinished_builder_leaks_nothing(void **state)
{
    (void)state;
    struct target set[3];
    for (uint32_t i = 0; i < 3; i++)
        set[i] = target_v4(0x0a000001 + i, 80, i);
    struct route_table_builder *bld = route_table_builder_new(0);
    assert_non_null(bld);
    char host[64];
    for (uint32_t i = 0; i < 5000; i++) {
        struct target own = target_v4(0x0c000000 + i, 80, 10 + i);
        int n = snprintf(host, sizeof(host), "h%u.example.com", i);
        if (i % 2)
            assert_int_equal(route_table_builder_add(bld, host, (size_t)n, set, 1 + i % 3), 0);
        else
            assert_int_equal(route_table_builder_add(bld, host, (size_t)n, &own, 1), 0);
    }
    route_table_builder_free(bld); /* LeakSanitizer reports anything left behind */
    route_table_builder_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_finds_added_hosts_and_misses_others),
        cmocka_unit_test(test_lookup_is_exact_match_without_case_folding_or_trimming),
        cmocka_unit_test(test_empty_table_finds_nothing),
        cmocka_unit_test(test_duplicate_host_is_rejected_with_eexist_and_keeps_the_first),
        cmocka_unit_test(test_zero_targets_or_bad_host_length_is_einval),
        cmocka_unit_test(test_hundred_thousand_hosts_are_all_found_after_growth),
        cmocka_unit_test(test_identical_target_lists_share_one_copy),
        cmocka_unit_test(test_sharing_survives_many_distinct_lists),
        cmocka_unit_test(test_slot_limit_is_one_past_the_highest_slot),
        cmocka_unit_test(test_memory_per_host_stays_small_with_shared_targets),
        cmocka_unit_test(test_registry_gives_stable_slots_per_address),
        cmocka_unit_test(test_freeing_an_unfinished_builder_leaks_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
