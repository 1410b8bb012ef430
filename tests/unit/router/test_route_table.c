/*
 * Unit tests for router/route_table.c, through router/route_table.h: the single-writer,
 * lock-free-reader map host → (group, port) → route_set, its route sets and groups, its
 * count and memory figures, reclamation through a real epoch domain, a writer racing two
 * reader threads, and the registry that gives addresses stable slots. Leaks and reads of
 * freed memory are ASan's to find.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "router/base/epoch.h"
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

/* A set of nports ports where port p holds one target whose slot is slot0 + p. */
static struct route_set *set_one_per_port(uint32_t nports, uint32_t slot0, uint64_t tag)
{
    struct route_set *s = route_set_new(nports, nports, tag);
    assert_non_null(s);
    for (uint32_t p = 0; p < nports; p++) {
        struct target t = target_v4(0x0a000000 + slot0 + p, (uint16_t)(8000 + p), slot0 + p);
        assert_int_equal(route_set_fill(s, p, &t, 1), 0);
    }
    return s;
}

/* A group with set_one_per_port(nports, slot0, tag) published in t. */
static struct route_group *group_with(struct route_table *t, uint32_t nports, uint32_t slot0,
                                      uint64_t tag)
{
    struct route_group *g = route_group_new();
    assert_non_null(g);
    route_group_publish(t, g, set_one_per_port(nports, slot0, tag));
    return g;
}

static int ins(struct route_table *t, const char *host, struct route_group *g, uint32_t port)
{
    return route_table_insert(t, host, strlen(host), g, port);
}

static int del(struct route_table *t, const char *host)
{
    return route_table_remove(t, host, strlen(host));
}

static const struct route *lookup(const struct route_table *t, const char *host)
{
    return route_table_lookup(t, host, strlen(host));
}

/* --- lookups ------------------------------------------------------------------------- */

static void test_lookup_finds_inserted_hosts_and_misses_others(void **state)
{
    (void)state;
    struct target a[2] = {target_v4(0x0a000001, 8080, 0), target_v4(0x0a000002, 8080, 1)};
    struct target b[1] = {target_v4(0x0a000003, 9090, 2)};
    struct route_table *t = route_table_new(NULL, 4);
    assert_non_null(t);
    struct route_set *sa = route_set_new(1, 2, 11), *sb = route_set_new(1, 1, 22);
    assert_non_null(sa);
    assert_non_null(sb);
    assert_int_equal(route_set_fill(sa, 0, a, 2), 0);
    assert_int_equal(route_set_fill(sb, 0, b, 1), 0);
    struct route_group *ga = route_group_new(), *gb = route_group_new();
    assert_non_null(ga);
    assert_non_null(gb);
    route_group_publish(t, ga, sa);
    route_group_publish(t, gb, sb);
    assert_ptr_equal(route_group_set(ga), sa);
    assert_int_equal(ins(t, "a.example.com", ga, 0), 0);
    assert_int_equal(ins(t, "b.example.com", gb, 0), 0);

    assert_int_equal(route_table_count(t), 2);
    const struct route *r = lookup(t, "a.example.com");
    assert_non_null(r);
    assert_int_equal(r->ntargets, 2);
    assert_int_equal(r->tag, 11);
    assert_memory_equal(&r->targets[0], &a[0], sizeof(a[0]));
    assert_memory_equal(&r->targets[1], &a[1], sizeof(a[1]));
    r = lookup(t, "b.example.com");
    assert_non_null(r);
    assert_int_equal(r->ntargets, 1);
    assert_int_equal(r->tag, 22);
    assert_int_equal(r->targets[0].slot, 2);
    assert_int_equal(ntohs(r->targets[0].addr.in.sin_port), 9090);

    assert_null(lookup(t, "c.example.com"));
    assert_null(lookup(t, "example.com"));
    assert_null(lookup(t, "a.example.co"));
    assert_null(lookup(t, "a.example.comm"));
    assert_null(lookup(t, "xa.example.com"));
    assert_null(route_table_lookup(t, "a.example.com", 0));
    route_group_free(t, ga);
    route_group_free(t, gb);
    route_table_free(t);
}

static void test_lookup_is_exact_match_without_case_folding_or_trimming(void **state)
{
    (void)state;
    struct route_table *t = route_table_new(NULL, 0);
    assert_non_null(t);
    struct route_group *g = group_with(t, 1, 0, 1);
    assert_int_equal(ins(t, "shop.example.com", g, 0), 0);

    assert_non_null(lookup(t, "shop.example.com"));
    assert_null(lookup(t, "Shop.example.com"));
    assert_null(lookup(t, "SHOP.EXAMPLE.COM"));
    assert_null(lookup(t, "shop.example.com."));
    assert_null(lookup(t, "shop.example.com:80"));
    assert_null(lookup(t, " shop.example.com"));
    assert_null(lookup(t, "hop.example.com"));
    /* A prefix of a longer buffer matches only by its length. */
    assert_non_null(route_table_lookup(t, "shop.example.com.evil", 16));
    /* Removal and insertion are exact too. */
    assert_int_equal(del(t, "SHOP.example.com"), -ENOENT);
    assert_int_equal(ins(t, "Shop.example.com", g, 0), 0);
    assert_int_equal(route_table_count(t), 2);
    route_group_free(t, g);
    route_table_free(t);
}

static void test_empty_table_finds_nothing(void **state)
{
    (void)state;
    struct route_table *t = route_table_new(NULL, 0);
    assert_non_null(t);
    assert_int_equal(route_table_count(t), 0);
    assert_null(lookup(t, "a.example.com"));
    assert_int_equal(del(t, "a.example.com"), -ENOENT);
    assert_int_equal(route_table_count(NULL), 0);
    assert_int_equal(route_table_memory(NULL), 0);
    assert_true(route_table_memory(t) > 0);
    route_table_free(t);
    route_table_free(NULL);
}

static void test_duplicate_host_is_rejected_with_eexist_and_keeps_the_first(void **state)
{
    (void)state;
    struct route_table *t = route_table_new(NULL, 2);
    assert_non_null(t);
    struct route_group *g1 = group_with(t, 2, 0, 1), *g2 = group_with(t, 2, 10, 2);
    assert_int_equal(ins(t, "a.example.com", g1, 0), 0);
    assert_int_equal(ins(t, "a.example.com", g2, 1), -EEXIST);
    assert_int_equal(ins(t, "a.example.com", g1, 0), -EEXIST);
    assert_int_equal(route_table_count(t), 1);
    const struct route *r = lookup(t, "a.example.com");
    assert_non_null(r);
    assert_int_equal(r->tag, 1);
    assert_int_equal(r->targets[0].slot, 0);
    route_group_free(t, g1);
    route_group_free(t, g2);
    route_table_free(t);
}

static void test_bad_host_length_is_einval(void **state)
{
    (void)state;
    char long_host[300];
    memset(long_host, 'a', sizeof(long_host));
    struct route_table *t = route_table_new(NULL, 2);
    assert_non_null(t);
    struct route_group *g = group_with(t, 1, 0, 1);
    assert_int_equal(route_table_insert(t, "", 0, g, 0), -EINVAL);
    assert_int_equal(route_table_insert(t, long_host, 254, g, 0), -EINVAL);
    assert_int_equal(route_table_insert(t, long_host, 300, g, 0), -EINVAL);
    assert_int_equal(route_table_count(t), 0);
    assert_int_equal(route_table_insert(t, long_host, 253, g, 0), 0);
    assert_int_equal(route_table_count(t), 1);
    assert_non_null(route_table_lookup(t, long_host, 253));
    assert_null(route_table_lookup(t, long_host, 252));
    assert_null(route_table_lookup(t, long_host, 254));
    assert_int_equal(route_table_remove(t, "", 0), -ENOENT);
    assert_int_equal(route_table_remove(t, long_host, 254), -ENOENT);
    assert_int_equal(route_table_remove(t, long_host, 253), 0);
    assert_int_equal(route_table_count(t), 0);
    route_group_free(t, g);
    route_table_free(t);
}

#define MANY_HOSTS 100000u
#define NGROUPS    8u

static void test_hundred_thousand_hosts_are_all_found_after_growth(void **state)
{
    (void)state;
    /* hint 0: every slot array size from 16 up is rebuilt through. */
    struct route_table *t = route_table_new(NULL, 0);
    assert_non_null(t);
    struct route_group *g[NGROUPS];
    for (uint32_t k = 0; k < NGROUPS; k++)
        g[k] = group_with(t, 3, 3 * k, k); /* group k port p → slot 3k + p */
    char host[64];
    for (uint32_t i = 0; i < MANY_HOSTS; i++) {
        int n = snprintf(host, sizeof(host), "h%u.tenant%u.example.com", i, i % 97);
        assert_int_equal(route_table_insert(t, host, (size_t)n, g[i % NGROUPS], i % 3), 0);
    }
    assert_int_equal(route_table_count(t), MANY_HOSTS);
    for (uint32_t i = 0; i < MANY_HOSTS; i++) {
        int n = snprintf(host, sizeof(host), "h%u.tenant%u.example.com", i, i % 97);
        const struct route *r = route_table_lookup(t, host, (size_t)n);
        assert_non_null(r);
        assert_int_equal(r->ntargets, 1);
        assert_int_equal(r->tag, i % NGROUPS);
        assert_int_equal(r->targets[0].slot, 3 * (i % NGROUPS) + i % 3);
    }
    for (uint32_t i = 0; i < 1000; i++) {
        int n = snprintf(host, sizeof(host), "h%u.tenant%u.example.com", i, (i + 1) % 97);
        assert_null(route_table_lookup(t, host, (size_t)n));
    }
    for (uint32_t k = 0; k < NGROUPS; k++)
        route_group_free(t, g[k]);
    route_table_free(t);
}

/* --- groups and sets ----------------------------------------------------------------- */

static void test_host_of_a_group_without_set_gets_zero_targets_not_null(void **state)
{
    (void)state;
    struct route_table *t = route_table_new(NULL, 0);
    assert_non_null(t);
    struct route_group *g = route_group_new();
    assert_non_null(g);
    assert_null(route_group_set(g));
    assert_int_equal(ins(t, "new.example.com", g, 0), 0);
    const struct route *r = lookup(t, "new.example.com");
    assert_non_null(r);
    assert_int_equal(r->ntargets, 0);

    /* A set arrives: the host is served. */
    route_group_publish(t, g, set_one_per_port(1, 5, 9));
    r = lookup(t, "new.example.com");
    assert_non_null(r);
    assert_int_equal(r->ntargets, 1);
    assert_int_equal(r->targets[0].slot, 5);

    /* Publishing NULL takes the targets away again, the host stays known. */
    route_group_publish(t, g, NULL);
    assert_null(route_group_set(g));
    r = lookup(t, "new.example.com");
    assert_non_null(r);
    assert_int_equal(r->ntargets, 0);
    route_group_free(t, g);
    route_table_free(t);
}

static void test_port_beyond_the_set_gets_zero_targets(void **state)
{
    (void)state;
    struct route_table *t = route_table_new(NULL, 0);
    assert_non_null(t);
    struct route_group *g = group_with(t, 2, 0, 4);
    assert_int_equal(ins(t, "p0.example.com", g, 0), 0);
    assert_int_equal(ins(t, "p1.example.com", g, 1), 0);
    assert_int_equal(ins(t, "p2.example.com", g, 2), 0);
    assert_int_equal(ins(t, "p9.example.com", g, 0xffffffffu), 0);
    assert_int_equal(lookup(t, "p0.example.com")->ntargets, 1);
    assert_int_equal(lookup(t, "p1.example.com")->ntargets, 1);
    const struct route *r = lookup(t, "p2.example.com");
    assert_non_null(r);
    assert_int_equal(r->ntargets, 0);
    r = lookup(t, "p9.example.com");
    assert_non_null(r);
    assert_int_equal(r->ntargets, 0);

    /* A wider set gives port 2 its targets. */
    route_group_publish(t, g, set_one_per_port(3, 20, 5));
    r = lookup(t, "p2.example.com");
    assert_non_null(r);
    assert_int_equal(r->ntargets, 1);
    assert_int_equal(r->targets[0].slot, 22);
    assert_int_equal(r->tag, 5);
    route_group_free(t, g);
    route_table_free(t);
}

static void test_publish_moves_every_host_of_the_group_at_once(void **state)
{
    (void)state;
    static const char *const stable[] = {"web.example.com", "shop.customer.org",
                                         "api.example.com", "api.customer.org"};
    static const uint32_t port[] = {0, 0, 1, 1};
    struct route_table *t = route_table_new(NULL, 0);
    assert_non_null(t);
    struct route_group *svc = group_with(t, 2, 100, 1);
    struct route_group *other = group_with(t, 2, 200, 77);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ins(t, stable[i], svc, port[i]), 0);
    assert_int_equal(ins(t, "other.example.com", other, 1), 0);

    for (uint64_t v = 1; v <= 3; v++) {
        if (v > 1) {
            struct route_set *s = set_one_per_port(2, (uint32_t)(100 * v), v);
            route_group_publish(t, svc, s);
            assert_ptr_equal(route_group_set(svc), s);
        }
        for (int i = 0; i < 4; i++) {
            const struct route *r = lookup(t, stable[i]);
            assert_non_null(r);
            assert_int_equal(r->tag, v);
            assert_int_equal(r->ntargets, 1);
            assert_int_equal(r->targets[0].slot, 100 * v + port[i]);
        }
        const struct route *o = lookup(t, "other.example.com");
        assert_non_null(o);
        assert_int_equal(o->tag, 77);
        assert_int_equal(o->targets[0].slot, 201);
    }
    route_group_free(t, svc);
    route_group_free(t, other);
    route_table_free(t);
}

static void test_remove_then_lookup_misses_and_reinsert_works(void **state)
{
    (void)state;
    struct route_table *t = route_table_new(NULL, 0);
    assert_non_null(t);
    struct route_group *g1 = group_with(t, 2, 0, 1), *g2 = group_with(t, 2, 10, 2);
    assert_int_equal(ins(t, "a.example.com", g1, 0), 0);
    assert_int_equal(ins(t, "b.example.com", g1, 1), 0);
    assert_int_equal(del(t, "a.example.com"), 0);
    assert_null(lookup(t, "a.example.com"));
    assert_int_equal(del(t, "a.example.com"), -ENOENT);
    assert_int_equal(route_table_count(t), 1);
    assert_non_null(lookup(t, "b.example.com")); /* its neighbour is untouched */

    assert_int_equal(ins(t, "a.example.com", g2, 1), 0);
    const struct route *r = lookup(t, "a.example.com");
    assert_non_null(r);
    assert_int_equal(r->tag, 2);
    assert_int_equal(r->targets[0].slot, 11);
    assert_int_equal(ins(t, "a.example.com", g1, 0), -EEXIST);
    assert_int_equal(route_table_count(t), 2);
    route_group_free(t, g1);
    route_group_free(t, g2);
    route_table_free(t);
}

static void test_repoint_moves_a_host_without_a_gap(void **state)
{
    (void)state;
    struct epoch_domain d;
    assert_int_equal(epoch_domain_init(&d, 1, NULL), 0);
    struct route_table *t = route_table_new(&d, 0);
    assert_non_null(t);
    struct route_group *old = group_with(t, 2, 0, 1), *next = group_with(t, 2, 10, 2);
    assert_int_equal(ins(t, "dep-abc.example.com", old, 0), 0);
    assert_int_equal(ins(t, "other.example.com", old, 1), 0);
    size_t count = route_table_count(t), mem = route_table_memory(t);

    (void)epoch_quiescent(&d, 0);
    const struct route *held = lookup(t, "dep-abc.example.com");
    assert_int_equal(route_table_repoint(t, "dep-abc.example.com", 19, next, 1), 0);
    const struct route *r = lookup(t, "dep-abc.example.com");
    assert_non_null(r);
    assert_int_equal(r->tag, 2);
    assert_int_equal(r->targets[0].slot, 11);
    assert_int_equal(held->targets[0].slot, 0); /* the old route is untouched */
    assert_int_equal(lookup(t, "other.example.com")->tag, 1);
    assert_int_equal(route_table_count(t), count);
    assert_int_equal(route_table_memory(t), mem);
    assert_int_equal(epoch_reclaim(&d), 1); /* the replaced entry waits for the reader */
    (void)epoch_quiescent(&d, 0);
    assert_int_equal(epoch_reclaim(&d), 0);

    assert_int_equal(route_table_repoint(t, "absent.example.com", 18, next, 0), -ENOENT);
    assert_int_equal(route_table_repoint(t, "", 0, next, 0), -ENOENT);
    assert_null(lookup(t, "absent.example.com"));
    /* A repointed host is removed and inserted like any other. */
    assert_int_equal(ins(t, "dep-abc.example.com", old, 0), -EEXIST);
    assert_int_equal(del(t, "dep-abc.example.com"), 0);
    assert_null(lookup(t, "dep-abc.example.com"));
    assert_int_equal(route_table_count(t), count - 1);
    route_group_free(t, old);
    route_group_free(t, next);
    route_table_free(t);
    epoch_domain_destroy(&d, NULL);
}

/* splitmix64: deterministic. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#define MODEL_HOSTS 20000u
#define MODEL_OPS   200000u
#define MODEL_GROUP 8u

struct model_host {
    int8_t  group; /* -1: absent */
    uint8_t port;
};

static int model_name(char *out, size_t cap, uint32_t i)
{
    return snprintf(out, cap, "m%u-%x.model.example", i, i * 2654435761u);
}

/* Checks that t agrees with the model for host i. */
static void model_check(const struct route_table *t, const struct model_host *m, uint32_t i)
{
    char host[64];
    int n = model_name(host, sizeof(host), i);
    const struct route *r = route_table_lookup(t, host, (size_t)n);
    if (m[i].group < 0) {
        assert_null(r);
        return;
    }
    assert_non_null(r);
    assert_int_equal(r->ntargets, 1);
    assert_int_equal(r->tag, (uint64_t)m[i].group);
    assert_int_equal(r->targets[0].slot, 2u * (uint32_t)m[i].group + m[i].port);
}

static void test_random_inserts_and_removes_agree_with_a_model(void **state)
{
    (void)state;
    struct model_host *m = malloc(MODEL_HOSTS * sizeof(*m));
    assert_non_null(m);
    for (uint32_t i = 0; i < MODEL_HOSTS; i++)
        m[i].group = -1, m[i].port = 0;
    struct route_table *t = route_table_new(NULL, 0);
    assert_non_null(t);
    struct route_group *g[MODEL_GROUP];
    for (uint32_t k = 0; k < MODEL_GROUP; k++)
        g[k] = group_with(t, 2, 2 * k, k);

    uint64_t rng = 42;
    size_t live = 0, peak = 0;
    char host[64];
    for (uint32_t op = 0; op < MODEL_OPS; op++) {
        /* Phases of 20k ops lean towards inserts or removes, so the table grows, fills
         * with tombstones, compacts and shrinks several times. */
        static const unsigned insert_pct[] = {90, 50, 10, 70, 5, 95, 30, 50, 20, 60};
        unsigned pct = insert_pct[(op / 20000) % 10];
        uint64_t x = rng_next(&rng);
        uint32_t i = (uint32_t)(x % MODEL_HOSTS);
        int n = model_name(host, sizeof(host), i);
        if ((x >> 32) % 100 < pct) {
            uint32_t k = (uint32_t)(x >> 40) % MODEL_GROUP, p = (uint32_t)(x >> 50) & 1;
            int rc = route_table_insert(t, host, (size_t)n, g[k], p);
            if (m[i].group >= 0) {
                assert_int_equal(rc, -EEXIST);
            } else {
                assert_int_equal(rc, 0);
                m[i].group = (int8_t)k, m[i].port = (uint8_t)p;
                live++;
            }
        } else {
            int rc = route_table_remove(t, host, (size_t)n);
            if (m[i].group < 0) {
                assert_int_equal(rc, -ENOENT);
            } else {
                assert_int_equal(rc, 0);
                m[i].group = -1;
                live--;
            }
        }
        model_check(t, m, i);
        model_check(t, m, (uint32_t)(rng_next(&rng) % MODEL_HOSTS));
        assert_int_equal(route_table_count(t), live);
        if (live > peak)
            peak = live;
        if (op % 10000 == 9999)
            for (uint32_t j = 0; j < MODEL_HOSTS; j++)
                model_check(t, m, j);
    }
    assert_true(peak > MODEL_HOSTS / 2);
    /* Remove everything: each removal is checked, and the table ends empty. */
    for (uint32_t i = 0; i < MODEL_HOSTS; i++) {
        int n = model_name(host, sizeof(host), i);
        assert_int_equal(route_table_remove(t, host, (size_t)n), m[i].group >= 0 ? 0 : -ENOENT);
        m[i].group = -1;
    }
    assert_int_equal(route_table_count(t), 0);
    for (uint32_t j = 0; j < MODEL_HOSTS; j += 7)
        model_check(t, m, j);
    for (uint32_t k = 0; k < MODEL_GROUP; k++)
        route_group_free(t, g[k]);
    route_table_free(t);
    free(m);
}

static void test_count_and_memory_follow_inserts_and_removes(void **state)
{
    (void)state;
    struct route_table *t = route_table_new(NULL, 0);
    assert_non_null(t);
    struct route_group *g = group_with(t, 1, 0, 1);
    size_t m0 = route_table_memory(t);
    assert_true(m0 > 0);

    /* Small enough that no insert rebuilds the slot array: memory moves by the entry. */
    static const char host[] = "a-rather-long-hostname.example.com";
    assert_int_equal(ins(t, host, g, 0), 0);
    assert_int_equal(route_table_count(t), 1);
    size_t m1 = route_table_memory(t);
    assert_true(m1 >= m0 + strlen(host));
    assert_int_equal(del(t, host), 0);
    assert_int_equal(route_table_count(t), 0);
    assert_int_equal(route_table_memory(t), m0);
    assert_int_equal(del(t, host), -ENOENT);
    assert_int_equal(route_table_memory(t), m0);

    /* Growth, then removal of everything gives the slot array back. */
    char name[64];
    for (uint32_t i = 0; i < MANY_HOSTS; i++) {
        int n = snprintf(name, sizeof(name), "app-%u.example.com", i);
        assert_int_equal(route_table_insert(t, name, (size_t)n, g, 0), 0);
    }
    assert_int_equal(route_table_count(t), MANY_HOSTS);
    size_t big = route_table_memory(t);
    assert_true(big > m0 + (size_t)MANY_HOSTS * 16);
    assert_true(big / MANY_HOSTS < 128); /* slot + entry + key: small per host */
    for (uint32_t i = 0; i < MANY_HOSTS; i++) {
        int n = snprintf(name, sizeof(name), "app-%u.example.com", i);
        assert_int_equal(route_table_remove(t, name, (size_t)n), 0);
        assert_int_equal(route_table_count(t), MANY_HOSTS - 1 - i);
    }
    size_t empty = route_table_memory(t);
    assert_true(empty < big / 64);
    assert_true(empty < m0 + 4096);
    route_group_free(t, g);
    route_table_free(t);
}

static void test_set_fill_rejects_bad_ports_and_overflow(void **state)
{
    (void)state;
    struct target tg[4] = {target_v4(0x0a000001, 80, 0), target_v4(0x0a000002, 80, 1),
                           target_v4(0x0a000003, 80, 2), target_v4(0x0a000004, 80, 3)};
    struct route_set *s = route_set_new(3, 3, 7);
    assert_non_null(s);
    assert_int_equal(route_set_fill(s, 3, tg, 1), -EINVAL); /* no such port */
    assert_int_equal(route_set_fill(s, 0xffffffffu, tg, 1), -EINVAL);
    assert_int_equal(route_set_fill(s, 0, tg, 4), -EINVAL); /* more than the room */
    assert_int_equal(route_set_fill(s, 1, tg, 2), 0);
    assert_int_equal(route_set_fill(s, 1, tg, 1), -EINVAL);     /* filled twice */
    assert_int_equal(route_set_fill(s, 0, tg + 2, 2), -EINVAL); /* 2 + 2 > 3 */
    assert_int_equal(route_set_fill(s, 0, tg + 2, 0), 0);       /* empty port: fine */
    assert_int_equal(route_set_fill(s, 0, tg + 2, 1), -EINVAL); /* filled (empty) */
    assert_int_equal(route_set_fill(s, 2, tg + 3, 1), 0);       /* exactly the room */
    route_set_free(s);

    s = route_set_new(1, 0, 1);
    assert_non_null(s);
    assert_int_equal(route_set_fill(s, 0, tg, 1), -EINVAL);
    assert_int_equal(route_set_fill(s, 0, NULL, 0), 0);
    route_set_free(s);
    route_set_free(NULL);
}

static void test_tag_is_copied_to_every_route(void **state)
{
    (void)state;
    struct target tg[3] = {target_v4(0x0a000001, 80, 0), target_v4(0x0a000002, 80, 1),
                           target_v4(0x0a000003, 80, 2)};
    struct route_table *t = route_table_new(NULL, 0);
    assert_non_null(t);
    struct route_set *s = route_set_new(4, 3, 0xfeedbeefcafe1234ull);
    assert_non_null(s);
    assert_int_equal(route_set_fill(s, 2, tg, 2), 0);
    assert_int_equal(route_set_fill(s, 0, tg + 2, 1), 0);
    assert_int_equal(route_set_fill(s, 1, NULL, 0), 0);
    /* port 3 never filled */
    struct route_group *g = route_group_new();
    assert_non_null(g);
    route_group_publish(t, g, s);
    static const char *const hosts[] = {"p0.example.com", "p1.example.com", "p2.example.com",
                                        "p3.example.com"};
    static const uint32_t nt[] = {1, 0, 2, 0};
    for (uint32_t p = 0; p < 4; p++)
        assert_int_equal(ins(t, hosts[p], g, p), 0);
    for (uint32_t p = 0; p < 4; p++) {
        const struct route *r = lookup(t, hosts[p]);
        assert_non_null(r);
        assert_int_equal(r->tag, 0xfeedbeefcafe1234ull);
        assert_int_equal(r->ntargets, nt[p]);
    }
    const struct route *r = lookup(t, "p2.example.com");
    assert_memory_equal(r->targets, tg, 2 * sizeof(tg[0]));
    assert_memory_equal(lookup(t, "p0.example.com")->targets, &tg[2], sizeof(tg[0]));
    route_group_free(t, g);
    route_table_free(t);
}

/* --- reclamation through an epoch domain ---------------------------------------------- */

static void test_epoch_keeps_removed_entries_and_replaced_sets_until_quiescent(void **state)
{
    (void)state;
    struct epoch_domain d;
    assert_int_equal(epoch_domain_init(&d, 1, NULL), 0);
    (void)epoch_quiescent(&d, 0);
    struct route_table *t = route_table_new(&d, 0);
    assert_non_null(t);
    struct route_group *g = route_group_new();
    assert_non_null(g);
    route_group_publish(t, g, set_one_per_port(2, 40, 1)); /* replaces nothing */
    assert_int_equal(ins(t, "a.example.com", g, 1), 0);
    assert_int_equal(ins(t, "b.example.com", g, 0), 0);
    assert_int_equal(epoch_reclaim(&d), 0);

    /* The reader takes a route, then the writer removes the host and replaces the set. */
    (void)epoch_quiescent(&d, 0);
    const struct route *held = lookup(t, "a.example.com");
    assert_non_null(held);
    assert_int_equal(del(t, "a.example.com"), 0);
    route_group_publish(t, g, set_one_per_port(2, 50, 2));
    assert_null(lookup(t, "a.example.com"));
    assert_int_equal(lookup(t, "b.example.com")->tag, 2);
    /* The entry and the old set wait for the reader... */
    assert_int_equal(epoch_reclaim(&d), 2);
    /* ... so what it holds is still readable (ASan would report a freed read). */
    assert_int_equal(held->tag, 1);
    assert_int_equal(held->ntargets, 1);
    assert_int_equal(held->targets[0].slot, 41);
    assert_int_equal(epoch_reclaim(&d), 2);
    assert_int_equal(held->targets[0].slot, 41);

    /* Once it passes a quiescent point, everything goes. */
    (void)epoch_quiescent(&d, 0);
    assert_int_equal(epoch_reclaim(&d), 0);

    /* A quiescent point before a retirement does not release it. */
    (void)epoch_quiescent(&d, 0);
    assert_int_equal(del(t, "b.example.com"), 0);
    assert_int_equal(epoch_reclaim(&d), 1);
    (void)epoch_quiescent(&d, 0);
    assert_int_equal(epoch_reclaim(&d), 0);

    /* Replaced slot arrays wait too: growing from 16 slots retires the old arrays. */
    char name[32];
    for (uint32_t i = 0; i < 100; i++) {
        int n = snprintf(name, sizeof(name), "grow%u.example.com", i);
        assert_int_equal(route_table_insert(t, name, (size_t)n, g, 0), 0);
    }
    assert_true(epoch_reclaim(&d) >= 3);
    (void)epoch_quiescent(&d, 0);
    assert_int_equal(epoch_reclaim(&d), 0);

    /* The group and its set are retired together (the hosts still pointing at it are
     * never looked up again). */
    route_group_free(t, g);
    assert_int_equal(epoch_reclaim(&d), 1);
    (void)epoch_quiescent(&d, 0);
    assert_int_equal(epoch_reclaim(&d), 0);
    route_table_free(t); /* frees the entries still in it */
    epoch_domain_destroy(&d, NULL);
}

/* Churn around a table size where a rebuild leaves exactly one free slot of headroom (2 *
 * (live + 1) + 2 is a power of two) must not rebuild the slot array again and again: each
 * rebuild copies the whole array and retires it to the epoch domain. */
static void test_churn_at_a_power_of_two_boundary_does_not_rebuild_each_insert(void **state)
{
    (void)state;
    enum { LIVE = 8190, CYCLES = 2000 };
    struct epoch_domain d;
    assert_int_equal(epoch_domain_init(&d, 1, NULL), 0);
    struct route_table *t = route_table_new(&d, LIVE);
    assert_non_null(t);
    struct route_group *g = group_with(t, 1, 0, 1);
    char name[48];
    for (uint32_t i = 0; i < LIVE; i++) {
        int n = snprintf(name, sizeof(name), "c%u.example.com", i);
        assert_int_equal(route_table_insert(t, name, (size_t)n, g, 0), 0);
    }
    assert_int_equal(epoch_reclaim(&d), 0);
    /* The reader never passes: everything retired stays queued and is counted. */
    for (uint32_t i = 0; i < CYCLES; i++) {
        int n = snprintf(name, sizeof(name), "c%u.example.com", i);
        assert_int_equal(route_table_remove(t, name, (size_t)n), 0);
        n = snprintf(name, sizeof(name), "c%u.example.com", LIVE + i);
        assert_int_equal(route_table_insert(t, name, (size_t)n, g, 0), 0);
    }
    assert_int_equal(route_table_count(t), LIVE);
    unsigned queued = epoch_reclaim(&d);
    assert_true(queued >= CYCLES);     /* the removed entries */
    assert_true(queued - CYCLES < 16); /* and a few slot arrays, not one per insert */
    for (uint32_t i = CYCLES; i < LIVE + CYCLES; i++) {
        int n = snprintf(name, sizeof(name), "c%u.example.com", i);
        assert_non_null(route_table_lookup(t, name, (size_t)n));
    }
    (void)epoch_quiescent(&d, 0);
    assert_int_equal(epoch_reclaim(&d), 0);
    route_group_free(t, g);
    route_table_free(t);
    epoch_domain_destroy(&d, NULL);
}

/* --- one writer, two readers --------------------------------------------------------- */

#define RACE_READERS 2
#define RACE_PUBLISH 10000u
#define RACE_NAMED   6u   /* stable hosts with real-looking names */
#define RACE_EXTRA   256u /* more stable hosts, a random 16 of them looked up per turn */
#define RACE_PICK    16u
#define RACE_CHURN   600u

static const char *const race_named[RACE_NAMED] = {
    "web.race.example", "www.customer.example", "shop.customer.example",
    "api.race.example", "api.customer.example", "grpc.race.example"};
static const uint32_t race_named_port[RACE_NAMED] = {0, 0, 0, 1, 1, 1};

/* Stable host i (< RACE_NAMED + RACE_EXTRA): its name and port. */
static int race_stable_name(char *out, size_t cap, uint32_t i, uint32_t *port)
{
    if (i < RACE_NAMED) {
        *port = race_named_port[i];
        return snprintf(out, cap, "%s", race_named[i]);
    }
    *port = i & 1;
    return snprintf(out, cap, "stable%u.race.example", i);
}

static int race_churn_name(char *out, size_t cap, uint32_t c)
{
    return snprintf(out, cap, "churn%u.race.example", c);
}

struct race {
    struct epoch_domain *ep;
    struct route_table  *t;
    _Atomic uint64_t     announced; /* tag about to be published (stored before) */
    _Atomic uint64_t     published; /* tag published (stored after) */
    atomic_bool          stop;
    atomic_uint          started;
    atomic_uint          failures;
    _Atomic uint64_t     lookups;
    char                 failure[160];
    atomic_flag          failure_taken;
};

struct race_reader {
    struct race *r;
    unsigned     id;
};

static void race_fail(struct race *r, const char *what, uint64_t a, uint64_t b)
{
    if (!atomic_flag_test_and_set(&r->failure_taken))
        snprintf(r->failure, sizeof(r->failure), "%s (%llu, %llu)", what,
                 (unsigned long long)a, (unsigned long long)b);
    atomic_fetch_add(&r->failures, 1);
}

/* A set's port p has 1 + tag % 3 targets, each with slot tag * 2 + p and port 1000 + p:
 * a route torn between two sets, or taken from the wrong port, shows. */
static struct route_set *race_set(uint64_t tag)
{
    uint32_t per = 1 + (uint32_t)(tag % 3);
    struct route_set *s = route_set_new(2, 2 * per, tag);
    if (s == NULL)
        abort();
    for (uint32_t p = 0; p < 2; p++) {
        struct target tg[3];
        for (uint32_t k = 0; k < per; k++)
            tg[k] = target_v4(0x0a000000 + k, (uint16_t)(1000 + p), (uint32_t)(tag * 2 + p));
        if (route_set_fill(s, p, tg, per) != 0)
            abort();
    }
    return s;
}

static int race_route_ok(const struct route *rt, uint32_t port)
{
    uint64_t tag = rt->tag;
    if (rt->ntargets != 1 + tag % 3)
        return 0;
    for (uint32_t k = 0; k < rt->ntargets; k++)
        if (rt->targets[k].slot != (uint32_t)(tag * 2 + port) ||
            ntohs(rt->targets[k].addr.in.sin_port) != 1000 + port)
            return 0;
    return 1;
}

static void *race_reader_main(void *p)
{
    struct race_reader *rr = p;
    struct race *r = rr->r;
    uint64_t rng = 1234 + rr->id, n = 0, last = 0;
    char name[48];
    enum { HELD = RACE_NAMED + RACE_PICK };

    atomic_fetch_add(&r->started, 1);
    while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
        (void)epoch_quiescent(r->ep, rr->id);
        /* What a lookup returns stays readable until the next quiescent point, whatever
         * the writer does meanwhile: held routes are checked again at the end. */
        const struct route *held[HELD];
        uint32_t held_port[HELD];
        uint64_t lo = atomic_load(&r->published);
        for (uint32_t k = 0; k < HELD; k++) {
            uint32_t i = k < RACE_NAMED
                             ? k
                             : RACE_NAMED + (uint32_t)(rng_next(&rng) % RACE_EXTRA);
            int len = race_stable_name(name, sizeof(name), i, &held_port[k]);
            held[k] = route_table_lookup(r->t, name, (size_t)len);
            n++;
            if (held[k] == NULL) {
                race_fail(r, "stable host not found", i, lo);
                continue;
            }
            uint64_t tag = held[k]->tag, hi = atomic_load(&r->announced);
            if (tag < lo || tag > hi)
                race_fail(r, "tag neither the old nor the new set's", tag, lo);
            if (tag < last)
                race_fail(r, "tag went backwards", tag, last);
            last = tag;
            if (!race_route_ok(held[k], held_port[k]))
                race_fail(r, "route mixes two sets or ports", tag, i);
        }
        /* Churning hosts: absent, or a consistent route of either group. */
        for (int k = 0; k < 8; k++) {
            uint32_t c = (uint32_t)(rng_next(&rng) % RACE_CHURN);
            int len = race_churn_name(name, sizeof(name), c);
            const struct route *rt = route_table_lookup(r->t, name, (size_t)len);
            n++;
            if (rt != NULL && !race_route_ok(rt, c & 1))
                race_fail(r, "churn route mixes two sets or ports", rt->tag, c);
        }
        for (uint32_t k = 0; k < HELD; k++)
            if (held[k] != NULL && !race_route_ok(held[k], held_port[k]))
                race_fail(r, "held route changed", held[k]->tag, k);
    }
    atomic_fetch_add(&r->lookups, n);
    return NULL;
}

static void test_readers_see_old_or_new_set_while_the_writer_churns(void **state)
{
    (void)state;
    struct epoch_domain d;
    assert_int_equal(epoch_domain_init(&d, RACE_READERS, NULL), 0);
    static struct race r;
    memset(&r, 0, sizeof(r));
    r.ep = &d;
    r.t = route_table_new(&d, 0);
    assert_non_null(r.t);
    atomic_init(&r.announced, 1);
    atomic_init(&r.published, 1);
    atomic_flag_clear(&r.failure_taken);

    struct route_group *svc = route_group_new(), *churn = route_group_new();
    assert_non_null(svc);
    assert_non_null(churn);
    route_group_publish(r.t, svc, race_set(1));
    route_group_publish(r.t, churn, race_set(0));
    /* Churn hosts first, so that stable hosts probe past them: their removal leaves
     * tombstones on the stable hosts' paths. */
    uint8_t present[RACE_CHURN];
    char name[48];
    for (uint32_t c = 0; c < RACE_CHURN; c++) {
        int len = race_churn_name(name, sizeof(name), c);
        assert_int_equal(route_table_insert(r.t, name, (size_t)len, churn, c & 1), 0);
        present[c] = 1;
    }
    for (uint32_t i = 0; i < RACE_NAMED + RACE_EXTRA; i++) {
        uint32_t port;
        int len = race_stable_name(name, sizeof(name), i, &port);
        assert_int_equal(route_table_insert(r.t, name, (size_t)len, svc, port), 0);
    }

    pthread_t th[RACE_READERS];
    struct race_reader rr[RACE_READERS];
    for (unsigned i = 0; i < RACE_READERS; i++) {
        rr[i].r = &r, rr[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, race_reader_main, &rr[i]), 0);
    }
    while (atomic_load(&r.started) < RACE_READERS)
        sched_yield();

    uint64_t rng = 99;
    for (uint64_t tag = 2; tag < 2 + RACE_PUBLISH; tag++) {
        atomic_store(&r.announced, tag);
        route_group_publish(r.t, svc, race_set(tag));
        atomic_store(&r.published, tag);
        /* Other hosts come, go and move between the groups: tombstones, growth and
         * compaction of the slot array under the readers' feet. */
        for (int k = 0; k < 4; k++) {
            uint64_t x = rng_next(&rng);
            uint32_t c = (uint32_t)(x % RACE_CHURN);
            struct route_group *g = (x >> 32) & 1 ? svc : churn;
            int len = race_churn_name(name, sizeof(name), c);
            if (!present[c]) {
                assert_int_equal(route_table_insert(r.t, name, (size_t)len, g, c & 1), 0);
                present[c] = 1;
            } else if ((x >> 40) % 4 == 0) {
                assert_int_equal(route_table_repoint(r.t, name, (size_t)len, g, c & 1), 0);
            } else {
                assert_int_equal(route_table_remove(r.t, name, (size_t)len), 0);
                present[c] = 0;
            }
        }
        if (tag % 32 == 0)
            (void)epoch_reclaim(&d);
        if (tag % 1024 == 0)
            sched_yield(); /* let the readers run on a busy machine */
    }
    atomic_store(&r.stop, true);
    for (unsigned i = 0; i < RACE_READERS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);

    if (atomic_load(&r.failures) != 0)
        fail_msg("%u reader failures, first: %s", atomic_load(&r.failures), r.failure);
    assert_true(atomic_load(&r.lookups) > 0);
    print_message("%d readers: %llu lookups during %u publishes\n", RACE_READERS,
                  (unsigned long long)atomic_load(&r.lookups), RACE_PUBLISH);
    for (unsigned i = 0; i < RACE_READERS; i++)
        (void)epoch_quiescent(&d, i);
    assert_int_equal(epoch_reclaim(&d), 0);

    /* No reader any more: the groups go to the domain, the entries with the table. */
    route_group_free(r.t, svc);
    route_group_free(r.t, churn);
    route_table_free(r.t);
    epoch_domain_destroy(&d, NULL);
}

/* --- target registry ----------------------------------------------------------------- */

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

static void test_registry_stays_consistent_past_a_hundred_thousand_addresses(void **state)
{
    (void)state;
    enum { N = 120000 };
    struct target_registry *r = target_registry_new();
    assert_non_null(r);
    for (uint32_t i = 0; i < N; i++) {
        struct sockaddr_in s = sa_v4(0x0a000000 + i, (uint16_t)(1 + i % 7));
        assert_int_equal(target_registry_slot(r, (struct sockaddr *)&s, sizeof(s)), (int)i);
    }
    struct sockaddr_in6 v6;
    memset(&v6, 0, sizeof(v6));
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(443);
    v6.sin6_addr.s6_addr[0] = 0xfd;
    assert_int_equal(target_registry_slot(r, (struct sockaddr *)&v6, sizeof(v6)), N);
    for (uint32_t i = 0; i < N; i += 3) {
        struct sockaddr_in s = sa_v4(0x0a000000 + i, (uint16_t)(1 + i % 7));
        assert_int_equal(target_registry_slot(r, (struct sockaddr *)&s, sizeof(s)), (int)i);
    }
    assert_int_equal(target_registry_slot(r, (struct sockaddr *)&v6, sizeof(v6)), N);
    struct sockaddr_in s = sa_v4(0x0a000000, 8); /* same address, another port */
    assert_int_equal(target_registry_slot(r, (struct sockaddr *)&s, sizeof(s)), N + 1);
    target_registry_free(r);
}

static void test_registry_rejects_an_oversize_address(void **state)
{
    (void)state;
    struct target_registry *r = target_registry_new();
    assert_non_null(r);
    struct {
        struct sockaddr_storage ss;
        char                    more[8];
    } big;
    memset(&big, 0, sizeof(big));
    big.ss.ss_family = AF_INET;
    assert_int_equal(target_registry_slot(r, (struct sockaddr *)&big,
                                          (socklen_t)sizeof(struct sockaddr_storage) + 1),
                     -EINVAL);
    assert_int_equal(target_registry_slot(r, (struct sockaddr *)&big,
                                          (socklen_t)sizeof(struct sockaddr_storage)),
                     0);
    target_registry_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_finds_inserted_hosts_and_misses_others),
        cmocka_unit_test(test_lookup_is_exact_match_without_case_folding_or_trimming),
        cmocka_unit_test(test_empty_table_finds_nothing),
        cmocka_unit_test(test_duplicate_host_is_rejected_with_eexist_and_keeps_the_first),
        cmocka_unit_test(test_bad_host_length_is_einval),
        cmocka_unit_test(test_hundred_thousand_hosts_are_all_found_after_growth),
        cmocka_unit_test(test_host_of_a_group_without_set_gets_zero_targets_not_null),
        cmocka_unit_test(test_port_beyond_the_set_gets_zero_targets),
        cmocka_unit_test(test_publish_moves_every_host_of_the_group_at_once),
        cmocka_unit_test(test_remove_then_lookup_misses_and_reinsert_works),
        cmocka_unit_test(test_repoint_moves_a_host_without_a_gap),
        cmocka_unit_test(test_random_inserts_and_removes_agree_with_a_model),
        cmocka_unit_test(test_count_and_memory_follow_inserts_and_removes),
        cmocka_unit_test(test_set_fill_rejects_bad_ports_and_overflow),
        cmocka_unit_test(test_tag_is_copied_to_every_route),
        cmocka_unit_test(test_epoch_keeps_removed_entries_and_replaced_sets_until_quiescent),
        cmocka_unit_test(test_churn_at_a_power_of_two_boundary_does_not_rebuild_each_insert),
        cmocka_unit_test(test_readers_see_old_or_new_set_while_the_writer_churns),
        cmocka_unit_test(test_registry_gives_stable_slots_per_address),
        cmocka_unit_test(test_registry_stays_consistent_past_a_hundred_thousand_addresses),
        cmocka_unit_test(test_registry_rejects_an_oversize_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
