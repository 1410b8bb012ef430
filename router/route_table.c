/*
 * route_table: open-addressing hash table of hostname → route, immutable once built.
 *
 * Layout: a power-of-two array of 32-byte slots {hash, route, key offset, key length}
 * and a single byte arena for all keys. The route lives in the slot itself, so a hit
 * touches two cache lines (slot, key bytes) plus the target list, which thousands of
 * hosts share and is hot. Lookup hashes the host once, probes linearly comparing the
 * stored 64-bit hash before touching key bytes, and stops at the first empty slot. The
 * load factor stays <= 0.5, so probes are short whatever the size. Building is the
 * control thread's job and may allocate; lookup never does.
 *
 * Invariants: a slot is used iff key_len != 0; keys are unique; a route has >= 1 target.
 */
#include "router/route_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "router/base/hash.h"
#include "router/hostname.h"

struct rt_slot {
    uint64_t     hash;
    struct route route;   /* targets holds an offset until the table is finished */
    uint32_t     key_off;
    uint16_t     key_len; /* 0: free slot */
};

struct route_table {
    struct rt_slot *slots;
    size_t          mask;
    char           *keys;
    size_t          keys_len, keys_cap;
    size_t          nroutes;
    struct target  *targets;
    size_t          ntargets, targets_cap;
    uint32_t        slot_limit;
};

/* A distinct target list already stored, for sharing (builder only). */
struct rt_set {
    uint64_t hash;
    uint32_t off, n; /* n == 0: free */
};

struct route_table_builder {
    struct route_table t;
    struct rt_set     *sets;
    size_t             sets_mask, nsets;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (q == NULL)
        return -ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

#define HUGE_PAGE (2u << 20)

/* Large slot arrays go on 2 MiB-aligned memory marked for transparent huge pages: with a
 * million hosts, random lookups are bound by TLB misses as much as by cache misses. */
static int slots_alloc(struct route_table *t, size_t nslots)
{
    size_t bytes = nslots * sizeof(*t->slots);

    if (bytes >= HUGE_PAGE) {
        bytes = (bytes + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
        t->slots = aligned_alloc(HUGE_PAGE, bytes);
        if (t->slots != NULL) {
            madvise(t->slots, bytes, MADV_HUGEPAGE); /* advice only: failure is harmless */
            memset(t->slots, 0, bytes);
        }
    } else {
        t->slots = calloc(nslots, sizeof(*t->slots));
    }
    if (t->slots == NULL)
        return -ENOMEM;
    t->mask = nslots - 1;
    return 0;
}

static size_t slots_for(size_t n)
{
    size_t s = 16;
    while (s < n * 2)
        s *= 2;
    return s;
}

struct route_table_builder *route_table_builder_new(size_t hint)
{
    struct route_table_builder *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->sets_mask = 63;
    b->sets = calloc(b->sets_mask + 1, sizeof(*b->sets));
    if (b->sets == NULL || slots_alloc(&b->t, slots_for(hint)) != 0) {
        free(b->sets);
        free(b);
        return NULL;
    }
    return b;
}

static struct rt_slot *probe(const struct route_table *t, const char *host, size_t len,
                             uint64_t h)
{
    for (size_t i = h & t->mask;; i = (i + 1) & t->mask) {
        struct rt_slot *s = &t->slots[i];
        if (s->key_len == 0)
            return s;
        if (s->hash == h && s->key_len == len && memcmp(t->keys + s->key_off, host, len) == 0)
            return s;
    }
}

static int rehash(struct route_table *t, size_t nslots)
{
    struct rt_slot *old = t->slots;
    size_t oldn = t->mask + 1;

    if (slots_alloc(t, nslots) != 0) {
        t->slots = old;
        return -ENOMEM;
    }
    for (size_t i = 0; i < oldn; i++) {
        if (old[i].key_len == 0)
            continue;
        size_t j = old[i].hash & t->mask;
        while (t->slots[j].key_len != 0)
            j = (j + 1) & t->mask;
        t->slots[j] = old[i];
    }
    free(old);
    return 0;
}

static int sets_grow(struct route_table_builder *b)
{
    size_t n = (b->sets_mask + 1) * 2;
    struct rt_set *q = calloc(n, sizeof(*q));
    if (q == NULL)
        return -ENOMEM;
    for (size_t i = 0; i <= b->sets_mask; i++) {
        if (b->sets[i].n == 0)
            continue;
        size_t j = b->sets[i].hash & (n - 1);
        while (q[j].n != 0)
            j = (j + 1) & (n - 1);
        q[j] = b->sets[i];
    }
    free(b->sets);
    b->sets = q;
    b->sets_mask = n - 1;
    return 0;
}

/* Offset of an identical stored target list, or of a fresh copy; -ENOMEM. */
static long targets_intern(struct route_table_builder *b, const struct target *targets, size_t n)
{
    struct route_table *t = &b->t;
    size_t bytes = n * sizeof(*targets);
    uint64_t h = hash_bytes(targets, bytes);
    size_t i;

    if ((b->nsets + 1) * 2 > b->sets_mask + 1 && sets_grow(b) != 0)
        return -ENOMEM;
    for (i = h & b->sets_mask; b->sets[i].n != 0; i = (i + 1) & b->sets_mask)
        if (b->sets[i].hash == h && b->sets[i].n == n &&
            memcmp(t->targets + b->sets[i].off, targets, bytes) == 0)
            return b->sets[i].off;
    if (grow((void **)&t->targets, &t->targets_cap, t->ntargets + n, sizeof(*t->targets)) != 0)
        return -ENOMEM;
    memcpy(t->targets + t->ntargets, targets, bytes);
    b->sets[i] = (struct rt_set){h, (uint32_t)t->ntargets, (uint32_t)n};
    b->nsets++;
    t->ntargets += n;
    for (size_t k = 0; k < n; k++)
        if (targets[k].slot >= t->slot_limit)
            t->slot_limit = targets[k].slot + 1;
    return (long)(t->ntargets - n);
}

int route_table_builder_add(struct route_table_builder *b, const char *host, size_t len,
                            const struct target *targets, size_t n)
{
    struct route_table *t = &b->t;

    if (n == 0 || n > UINT32_MAX / 2 || len == 0 || len > HOSTNAME_MAX)
        return -EINVAL;
    if ((t->nroutes + 1) * 2 > t->mask + 1 && rehash(t, (t->mask + 1) * 2) != 0)
        return -ENOMEM;
    uint64_t h = hash_bytes(host, len);
    struct rt_slot *s = probe(t, host, len, h);
    if (s->key_len != 0)
        return -EEXIST;
    if (grow((void **)&t->keys, &t->keys_cap, t->keys_len + len, 1) != 0)
        return -ENOMEM;
    long off = targets_intern(b, targets, n);
    if (off < 0)
        return -ENOMEM;
    memcpy(t->keys + t->keys_len, host, len);
    /* route.targets is fixed up in finish(): the targets array may still move. */
    s->route.ntargets = (uint32_t)n;
    s->route.targets = (struct target *)(uintptr_t)off;
    s->hash = h;
    s->key_off = (uint32_t)t->keys_len;
    s->key_len = (uint16_t)len;
    t->keys_len += len;
    t->nroutes++;
    return 0;
}

struct route_table *route_table_builder_finish(struct route_table_builder *b)
{
    struct route_table *t = malloc(sizeof(*t));
    if (t == NULL) {
        route_table_builder_free(b);
        return NULL;
    }
    *t = b->t;
    free(b->sets);
    free(b);
    for (size_t i = 0; i <= t->mask; i++)
        if (t->slots[i].key_len != 0)
            t->slots[i].route.targets = t->targets + (uintptr_t)t->slots[i].route.targets;
    return t;
}

void route_table_builder_free(struct route_table_builder *b)
{
    if (b == NULL)
        return;
    free(b->t.slots);
    free(b->t.keys);
    free(b->t.targets);
    free(b->sets);
    free(b);
}

const struct route *route_table_lookup(const struct route_table *t, const char *host, size_t len)
{
    if (t == NULL || t->nroutes == 0)
        return NULL;
    const struct rt_slot *s = probe(t, host, len, hash_bytes(host, len));
    return s->key_len == 0 ? NULL : &s->route;
}

size_t route_table_count(const struct route_table *t)
{
    return t ? t->nroutes : 0;
}

uint32_t route_table_slot_limit(const struct route_table *t)
{
    return t ? t->slot_limit : 0;
}

size_t route_table_memory(const struct route_table *t)
{
    if (t == NULL)
        return 0;
    return sizeof(*t) + (t->mask + 1) * sizeof(*t->slots) + t->keys_cap +
           t->targets_cap * sizeof(*t->targets);
}

void route_table_free(struct route_table *t)
{
    if (t == NULL)
        return;
    free(t->slots);
    free(t->keys);
    free(t->targets);
    free(t);
}

/* --- target registry: address → stable slot ------------------------------------------ */

struct target_registry {
    struct {
        struct sockaddr_storage sa;
        socklen_t               len;
    } *addrs;
    size_t n, cap;
};

struct target_registry *target_registry_new(void)
{
    return calloc(1, sizeof(struct target_registry));
}

int target_registry_slot(struct target_registry *r, const struct sockaddr *sa, socklen_t len)
{
    /* Linear: registries hold the distinct backend addresses of one node (hundreds, not
     * millions), and this runs on the control thread only when routes change. */
    if (len > sizeof(struct sockaddr_storage))
        return -EINVAL;
    for (size_t i = 0; i < r->n; i++)
        if (r->addrs[i].len == len && memcmp(&r->addrs[i].sa, sa, len) == 0)
            return (int)i;
    if (grow((void **)&r->addrs, &r->cap, r->n + 1, sizeof(*r->addrs)) != 0)
        return -ENOMEM;
    memset(&r->addrs[r->n].sa, 0, sizeof(r->addrs[r->n].sa));
    memcpy(&r->addrs[r->n].sa, sa, len);
    r->addrs[r->n].len = len;
    return (int)r->n++;
}

void target_registry_free(struct target_registry *r)
{
    if (r == NULL)
        return;
    free(r->addrs);
    free(r);
}
