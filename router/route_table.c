/*
 * route_table: single-writer, multi-reader hostname → (group, port) map.
 *
 * Layout: a power-of-two array of atomic entry pointers (open addressing, linear
 * probing). An entry holds the 64-bit keyed hash, the group, the port index and the key
 * bytes inline, so a probe that hits touches the slot and one entry cache line. Removal
 * leaves a tombstone (readers probe past it); the writer rebuilds the array into a fresh
 * one, published with one release store, when live entries plus tombstones would pass
 * half of it. Readers therefore always see an array with at least one empty slot, so a
 * probe ends.
 *
 * Ordering: the writer fills an entry completely, then publishes its pointer with a
 * release store; readers load slots and sets with acquire. Everything a reader might
 * still hold after an unlink is retired through the epoch domain.
 *
 * Invariants (writer's view): keys are unique among live entries; used = live +
 * tombstones; (used + 1) * 2 <= nslots after every insert.
 */
#include "router/route_table.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "router/base/epoch.h"
#include "router/base/hash.h"
#include "router/base/hostname.h"

struct route_set {
    uint32_t     nports;
    uint32_t     room, used; /* targets: capacity and filled (writer, before publication) */
    struct target *targets;  /* points just after routes[nports] */
    struct route routes[];
};

struct route_group {
    _Atomic(struct route_set *) set;
};

struct rt_entry {
    uint64_t            hash;
    struct route_group *group;
    uint32_t            port;
    uint8_t             len;
    char                key[]; /* len bytes, not NUL-terminated */
};

struct rt_slots {
    size_t                     mask;
    size_t                     bytes; /* of this allocation */
    _Atomic(struct rt_entry *) e[];
};

struct route_table {
    _Atomic(struct rt_slots *) slots;
    struct epoch_domain       *ep;
    size_t                     live, used; /* writer only */
    size_t                     entry_bytes;
};

/* Readers step over it; its hash never matches because len 0 never equals a key's. */
static struct rt_entry tombstone;
#define TOMBSTONE (&tombstone)

static const struct route no_route = {0, NULL, 0};

/* --- route sets ---------------------------------------------------------------------- */

struct route_set *route_set_new(uint32_t nports, size_t ntargets, uint64_t tag)
{
    if (ntargets > UINT32_MAX / 2)
        return NULL;
    struct route_set *s = calloc(1, sizeof(*s) + nports * sizeof(struct route) +
                                        ntargets * sizeof(struct target));
    if (s == NULL)
        return NULL;
    s->nports = nports;
    s->room = (uint32_t)ntargets;
    s->targets = (struct target *)&s->routes[nports];
    for (uint32_t i = 0; i < nports; i++)
        s->routes[i].tag = tag;
    return s;
}

int route_set_fill(struct route_set *s, uint32_t port, const struct target *targets, size_t n)
{
    if (port >= s->nports || s->routes[port].targets != NULL || n > s->room - s->used)
        return -EINVAL;
    struct target *dst = s->targets + s->used;
    if (n > 0)
        memcpy(dst, targets, n * sizeof(*targets));
    s->routes[port].targets = dst;
    s->routes[port].ntargets = (uint32_t)n;
    s->used += (uint32_t)n;
    return 0;
}

void route_set_free(struct route_set *s)
{
    free(s);
}

static void set_free_cb(void *p)
{
    route_set_free(p);
}

/* Hands obj to the epoch domain, or frees it now when there are no readers. When the
 * domain cannot queue it (no memory), obj is leaked: freeing it could crash a reader. */
static void retire(struct route_table *t, void *obj, epoch_free_cb cb)
{
    if (obj == NULL)
        return;
    if (t->ep == NULL)
        cb(obj);
    else
        (void)epoch_retire(t->ep, obj, cb);
}

/* --- groups -------------------------------------------------------------------------- */

struct route_group *route_group_new(void)
{
    struct route_group *g = malloc(sizeof(*g));
    if (g != NULL)
        atomic_init(&g->set, NULL);
    return g;
}

void route_group_publish(struct route_table *t, struct route_group *g, struct route_set *set)
{
    struct route_set *old = atomic_exchange_explicit(&g->set, set, memory_order_acq_rel);
    retire(t, old, set_free_cb);
}

const struct route_set *route_group_set(const struct route_group *g)
{
    return atomic_load_explicit(&((struct route_group *)g)->set, memory_order_relaxed);
}

static void group_free_cb(void *p)
{
    struct route_group *g = p;
    route_set_free(atomic_load_explicit(&g->set, memory_order_relaxed));
    free(g);
}

void route_group_free(struct route_table *t, struct route_group *g)
{
    retire(t, g, group_free_cb);
}

/* --- the slot array ------------------------------------------------------------------ */

#define HUGE_PAGE (2u << 20)

/* Large arrays go on 2 MiB-aligned memory marked for transparent huge pages: with a
 * million hosts, random lookups are bound by TLB misses as much as by cache misses. */
static struct rt_slots *slots_new(size_t nslots)
{
    size_t bytes = sizeof(struct rt_slots) + nslots * sizeof(struct rt_entry *);
    struct rt_slots *s;

    if (bytes >= HUGE_PAGE) {
        bytes = (bytes + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
        s = aligned_alloc(HUGE_PAGE, bytes);
        if (s != NULL)
            madvise(s, bytes, MADV_HUGEPAGE); /* advice only: failure is harmless */
    } else {
        s = malloc(bytes);
    }
    if (s == NULL)
        return NULL;
    memset(s, 0, bytes); /* all-zero is a NULL atomic pointer on every platform we run */
    s->mask = nslots - 1;
    s->bytes = bytes;
    return s;
}

static void slots_free_cb(void *p)
{
    free(p);
}

static size_t slots_for(size_t n)
{
    size_t s = 16;
    while (s < n * 2 + 2)
        s *= 2;
    return s;
}

struct route_table *route_table_new(struct epoch_domain *ep, size_t hint)
{
    struct route_table *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    struct rt_slots *s = slots_new(slots_for(hint));
    if (s == NULL) {
        free(t);
        return NULL;
    }
    atomic_init(&t->slots, s);
    t->ep = ep;
    return t;
}

void route_table_free(struct route_table *t)
{
    if (t == NULL)
        return;
    struct rt_slots *s = atomic_load(&t->slots);
    for (size_t i = 0; i <= s->mask; i++) {
        struct rt_entry *e = atomic_load_explicit(&s->e[i], memory_order_relaxed);
        if (e != NULL && e != TOMBSTONE)
            free(e);
    }
    free(s);
    free(t);
}

/* Writer: rebuilds the array with the live entries only, sized for live + extra. */
static int rebuild(struct route_table *t, size_t extra)
{
    struct rt_slots *old = atomic_load_explicit(&t->slots, memory_order_relaxed);
    struct rt_slots *s = slots_new(slots_for(t->live + extra));
    if (s == NULL)
        return -ENOMEM;
    for (size_t i = 0; i <= old->mask; i++) {
        struct rt_entry *e = atomic_load_explicit(&old->e[i], memory_order_relaxed);
        if (e == NULL || e == TOMBSTONE)
            continue;
        size_t j = e->hash & s->mask;
        while (atomic_load_explicit(&s->e[j], memory_order_relaxed) != NULL)
            j = (j + 1) & s->mask;
        atomic_store_explicit(&s->e[j], e, memory_order_relaxed);
    }
    atomic_store_explicit(&t->slots, s, memory_order_release);
    t->used = t->live;
    retire(t, old, slots_free_cb);
    return 0;
}

/* Writer: the slot holding host, or NULL; *free_slot gets the first reusable slot seen
 * (a tombstone, else the empty slot that ended the probe). */
static _Atomic(struct rt_entry *) *find(struct rt_slots *s, const char *host, size_t len,
                                        uint64_t h, _Atomic(struct rt_entry *) **free_slot)
{
    *free_slot = NULL;
    for (size_t i = h & s->mask;; i = (i + 1) & s->mask) {
        struct rt_entry *e = atomic_load_explicit(&s->e[i], memory_order_relaxed);
        if (e == NULL) {
            if (*free_slot == NULL)
                *free_slot = &s->e[i];
            return NULL;
        }
        if (e == TOMBSTONE) {
            if (*free_slot == NULL)
                *free_slot = &s->e[i];
            continue;
        }
        if (e->hash == h && e->len == len && memcmp(e->key, host, len) == 0)
            return &s->e[i];
    }
}

int route_table_insert(struct route_table *t, const char *host, size_t len,
                       struct route_group *g, uint32_t port)
{
    if (len == 0 || len > HOSTNAME_MAX)
        return -EINVAL;
    uint64_t h = hash_bytes(host, len);
    struct rt_slots *s = atomic_load_explicit(&t->slots, memory_order_relaxed);
    _Atomic(struct rt_entry *) *free_slot;

    if (find(s, host, len, h, &free_slot) != NULL)
        return -EEXIST;
    struct rt_entry *e = malloc(sizeof(*e) + len);
    if (e == NULL)
        return -ENOMEM;
    e->hash = h;
    e->group = g;
    e->port = port;
    e->len = (uint8_t)len;
    memcpy(e->key, host, len);
    int fresh = atomic_load_explicit(free_slot, memory_order_relaxed) == NULL;
    if (fresh && (t->used + 2) * 2 > s->mask + 1) {
        /* Room for live / 64 more fresh slots at least: sized for live + 1 only, a table
         * whose live count sits just under half a power of two (with churn: removes leave
         * tombstones, inserts take fresh slots) would be rebuilt at the same size on
         * every other insert, each time copying and retiring the whole array. */
        if (rebuild(t, 1 + t->live / 64) != 0) {
            free(e);
            return -ENOMEM;
        }
        s = atomic_load_explicit(&t->slots, memory_order_relaxed);
        (void)find(s, host, len, h, &free_slot);
        fresh = 1;
    }
    atomic_store_explicit(free_slot, e, memory_order_release);
    t->live++;
    t->used += (size_t)fresh;
    t->entry_bytes += sizeof(*e) + len;
    return 0;
}

static void entry_free_cb(void *p)
{
    free(p);
}

/* Writer: the slot holding host, or NULL. */
static _Atomic(struct rt_entry *) *locate(struct route_table *t, const char *host, size_t len)
{
    _Atomic(struct rt_entry *) *free_slot;
    if (len == 0 || len > HOSTNAME_MAX)
        return NULL;
    return find(atomic_load_explicit(&t->slots, memory_order_relaxed), host, len,
                hash_bytes(host, len), &free_slot);
}

int route_table_repoint(struct route_table *t, const char *host, size_t len,
                        struct route_group *g, uint32_t port)
{
    _Atomic(struct rt_entry *) *at = locate(t, host, len);
    if (at == NULL)
        return -ENOENT;
    struct rt_entry *old = atomic_load_explicit(at, memory_order_relaxed);
    struct rt_entry *e = malloc(sizeof(*e) + len);
    if (e == NULL)
        return -ENOMEM;
    memcpy(e, old, sizeof(*e) + len);
    e->group = g;
    e->port = port;
    atomic_store_explicit(at, e, memory_order_release);
    retire(t, old, entry_free_cb);
    return 0;
}

int route_table_remove(struct route_table *t, const char *host, size_t len)
{
    _Atomic(struct rt_entry *) *at = locate(t, host, len);
    if (at == NULL)
        return -ENOENT;
    struct rt_entry *e = atomic_load_explicit(at, memory_order_relaxed);
    atomic_store_explicit(at, TOMBSTONE, memory_order_release);
    t->live--;
    t->entry_bytes -= sizeof(*e) + e->len;
    retire(t, e, entry_free_cb);
    /* Mostly tombstones: compact (and shrink) so probes stay short. */
    if (t->used > 64 && t->live * 4 < t->used)
        (void)rebuild(t, 0);
    return 0;
}

/* --- reader -------------------------------------------------------------------------- */

const struct route *route_table_lookup(const struct route_table *t, const char *host, size_t len)
{
    struct rt_slots *s = atomic_load_explicit(&((struct route_table *)t)->slots,
                                              memory_order_acquire);
    uint64_t h = hash_bytes(host, len);

    for (size_t i = h & s->mask;; i = (i + 1) & s->mask) {
        struct rt_entry *e = atomic_load_explicit(&s->e[i], memory_order_acquire);
        if (e == NULL)
            return NULL;
        if (e->hash != h || e->len != len || memcmp(e->key, host, len) != 0)
            continue; /* also steps over the tombstone (len 0) */
        const struct route_set *set = atomic_load_explicit(&e->group->set, memory_order_acquire);
        if (set == NULL || e->port >= set->nports)
            return &no_route;
        return &set->routes[e->port];
    }
}

size_t route_table_count(const struct route_table *t)
{
    return t ? t->live : 0;
}

size_t route_table_memory(const struct route_table *t)
{
    if (t == NULL)
        return 0;
    const struct rt_slots *s = atomic_load(&((struct route_table *)t)->slots);
    return sizeof(*t) + s->bytes + t->entry_bytes;
}

/* --- target registry: address → stable slot ------------------------------------------ */

struct reg_addr {
    struct sockaddr_storage sa;
    socklen_t               len;
};

/* Open addressing over the address bytes; index[i] holds slot + 1 (0: empty). */
struct target_registry {
    struct reg_addr *addrs;
    size_t           n, cap;
    uint32_t        *index;
    size_t           index_mask;
};

struct target_registry *target_registry_new(void)
{
    return calloc(1, sizeof(struct target_registry));
}

static int registry_grow_index(struct target_registry *r)
{
    size_t n = r->index ? (r->index_mask + 1) * 2 : 64;
    uint32_t *q = calloc(n, sizeof(*q));
    if (q == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < r->n; i++) {
        size_t j = hash_bytes(&r->addrs[i].sa, r->addrs[i].len) & (n - 1);
        while (q[j] != 0)
            j = (j + 1) & (n - 1);
        q[j] = (uint32_t)i + 1;
    }
    free(r->index);
    r->index = q;
    r->index_mask = n - 1;
    return 0;
}

int target_registry_slot(struct target_registry *r, const struct sockaddr *sa, socklen_t len)
{
    if (len > sizeof(struct sockaddr_storage))
        return -EINVAL;
    if ((r->n + 1) * 2 > (r->index ? r->index_mask + 1 : 0) && registry_grow_index(r) != 0)
        return -ENOMEM;
    size_t j = hash_bytes(sa, len) & r->index_mask;
    for (; r->index[j] != 0; j = (j + 1) & r->index_mask) {
        const struct reg_addr *a = &r->addrs[r->index[j] - 1];
        if (a->len == len && memcmp(&a->sa, sa, len) == 0)
            return (int)(r->index[j] - 1);
    }
    if (r->n >= (size_t)INT32_MAX)
        return -ENOMEM;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct reg_addr *q = realloc(r->addrs, cap * sizeof(*q));
        if (q == NULL)
            return -ENOMEM;
        r->addrs = q;
        r->cap = cap;
    }
    memset(&r->addrs[r->n].sa, 0, sizeof(r->addrs[r->n].sa));
    memcpy(&r->addrs[r->n].sa, sa, len);
    r->addrs[r->n].len = len;
    r->index[j] = (uint32_t)r->n + 1;
    return (int)r->n++;
}

void target_registry_free(struct target_registry *r)
{
    if (r == NULL)
        return;
    free(r->addrs);
    free(r->index);
    free(r);
}
