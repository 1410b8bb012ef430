/*
 * route_table: the immutable map from a normalised hostname to its route (the target set
 * of the deployment that serves it).
 *
 * A table is built once by the control thread (route_table_builder), published to the
 * workers through an epoch (base/epoch.h) and never changed afterwards: workers read it
 * without locks. Lookup is one hash and, on a hit, one memcmp; its cost does not depend on
 * the number of hosts (open addressing, load factor <= 0.5, keys stored inline).
 *
 * Ownership: the table owns its keys, routes and targets; route_table_free() releases all
 * of them. Pointers returned by lookup live as long as the table. Routes with identical
 * target lists share one copy (thousands of hosts usually point at a few pods).
 */
#ifndef HOSTESS_ROUTER_ROUTE_TABLE_H
#define HOSTESS_ROUTER_ROUTE_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* One backend address. slot is a small integer that stays the same for the same address
 * across tables (target_registry below), so per-worker state (pools, load counters,
 * ejection) is indexed by it and survives reloads and swaps. */
struct target {
    union {
        struct sockaddr     sa;
        struct sockaddr_in  in;
        struct sockaddr_in6 in6;
    } addr;              /* zero-filled beyond salen, so targets compare with memcmp */
    socklen_t salen;
    uint32_t  slot;
};

struct route {
    uint32_t       ntargets;
    struct target *targets; /* ntargets entries */
};

struct route_table;
struct route_table_builder;

/* Returns NULL on allocation failure. hint: expected number of hosts. */
struct route_table_builder *route_table_builder_new(size_t hint);
/* Adds host with a copy of targets[0..n). host must already be normalised
 * (hostname_normalise): lookups compare bytes. Targets must be zero-filled beyond salen
 * for identical lists to be shared. Returns 0, -EEXIST when host is already present,
 * -EINVAL for n == 0 or an empty or over-long host, -ENOMEM. */
int route_table_builder_add(struct route_table_builder *b, const char *host, size_t len,
                            const struct target *targets, size_t n);
/* Turns the builder into a table (the builder is consumed, even on failure: NULL). */
struct route_table *route_table_builder_finish(struct route_table_builder *b);
void route_table_builder_free(struct route_table_builder *b);

/* The route for a normalised host, or NULL. */
const struct route *route_table_lookup(const struct route_table *t, const char *host,
                                       size_t len);
size_t route_table_count(const struct route_table *t);
/* One past the highest target slot in the table (0 when empty). */
uint32_t route_table_slot_limit(const struct route_table *t);
/* Heap bytes held by the table (for the bytes-per-host figure). */
size_t route_table_memory(const struct route_table *t);
void route_table_free(struct route_table *t);

/* Assigns stable slots to addresses. Used by the control thread only (not thread-safe).
 * Slots are never reused, so a slot always means the same address. */
struct target_registry;
struct target_registry *target_registry_new(void);
/* Returns the slot for sa (assigning the next one on first sight), -EINVAL when len is
 * larger than a sockaddr_storage, or -ENOMEM. */
int target_registry_slot(struct target_registry *r, const struct sockaddr *sa, socklen_t len);
void target_registry_free(struct target_registry *r);

#endif
