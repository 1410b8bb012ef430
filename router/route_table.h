/*
 * route_table: the map from a normalised hostname to its route, changed one host or one
 * group at a time by a single writer (the control thread) while the workers read it
 * without locks.
 *
 * Three levels, so that a change costs work proportional to what changed:
 *
 *   host entry ──► route_group ──► route_set (immutable: one route per port)
 *
 *   - a host entry maps one name to (group, port index). All the stable hosts of a
 *     service (every port, every custom domain) point at the service's group; the hosts
 *     of one deployment point at that deployment's group.
 *   - route_group_publish() swaps a group's set with one atomic store: every host of the
 *     group moves at once, and a reader sees the old set or the new one, never a mix.
 *     This is the blue/green promote, whatever the size of the table.
 *   - adding or removing a host touches one slot; the slot array is rebuilt (and swapped
 *     atomically) only when it must grow or is full of tombstones.
 *
 * Memory a reader may still hold (entries, sets, groups, replaced slot arrays) is retired
 * through an epoch domain (base/epoch.h) and freed once every worker has passed a
 * quiescent point; with a NULL domain (single-threaded tools and tests) it is freed at
 * once. A pointer returned by route_table_lookup() is valid until the reader's next
 * quiescent point.
 */
#ifndef HOSTESS_ROUTER_ROUTE_TABLE_H
#define HOSTESS_ROUTER_ROUTE_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

struct epoch_domain;

/* One backend address. slot is a small integer that stays the same for the same address
 * (target_registry below), so per-worker state (pools, load counters, ejection) is
 * indexed by it and survives swaps. */
struct target {
    union {
        struct sockaddr     sa;
        struct sockaddr_in  in;
        struct sockaddr_in6 in6;
    } addr;              /* zero-filled beyond salen, so targets compare with memcmp */
    socklen_t salen;
    uint32_t  slot;
};

/* The targets of one port of one deployment. ntargets may be 0: the host exists but no
 * target is healthy (the data plane answers 503). */
struct route {
    uint32_t       ntargets;
    struct target *targets;
    uint64_t       tag;      /* the writer's label for this set (see route_set_new) */
};

/* An immutable array of routes, one per public port, in one allocation. */
struct route_set;

/* A set for nports ports with room for ntargets targets in all. tag is copied into every
 * route (the data plane records it per request; the control uses it to find requests
 * still bound to a deployment). NULL on allocation failure. */
struct route_set *route_set_new(uint32_t nports, size_t ntargets, uint64_t tag);
/* Fills port (0-based) with a copy of targets[0..n). Each port is filled once, in any
 * order, before the set is published; the total must not exceed the set's room.
 * Returns 0 or -EINVAL. */
int route_set_fill(struct route_set *s, uint32_t port, const struct target *targets, size_t n);
void route_set_free(struct route_set *s);

struct route_group;
struct route_table;

/* ep may be NULL (free at once). hint: expected number of hosts. NULL on ENOMEM. */
struct route_table *route_table_new(struct epoch_domain *ep, size_t hint);
/* Frees the table and its entries (not the groups). No reader may run any more. */
void route_table_free(struct route_table *t);

/* A group with no set yet (its hosts answer 503 until one is published). */
struct route_group *route_group_new(void);
/* Publishes set (owned by the group from now on; NULL: no targets) and retires the
 * previous one. */
void route_group_publish(struct route_table *t, struct route_group *g, struct route_set *set);
/* The set last published (writer only). */
const struct route_set *route_group_set(const struct route_group *g);
/* Retires g and its set. Every host pointing at g must have been removed first. */
void route_group_free(struct route_table *t, struct route_group *g);

/* Maps host (normalised: hostname_normalise) to port index port of group g.
 * Returns 0, -EEXIST when host is present, -EINVAL for an empty or over-long host,
 * -ENOMEM (then nothing changed). */
int route_table_insert(struct route_table *t, const char *host, size_t len,
                       struct route_group *g, uint32_t port);
/* Points the existing host at (g, port) with one atomic store: no reader ever misses the
 * host in between (a deployment host moving to a newer deployment of the same commit).
 * Returns 0, -ENOENT, or -ENOMEM (then nothing changed). */
int route_table_repoint(struct route_table *t, const char *host, size_t len,
                        struct route_group *g, uint32_t port);
/* Removes host. Returns 0 or -ENOENT. Never allocates... except when it compacts the slot
 * array; if that fails the host is still removed (the compaction waits for later). */
int route_table_remove(struct route_table *t, const char *host, size_t len);

/* Reader side. The route for a normalised host, or NULL for an unknown host. A known host
 * whose group has no set, or no such port, gets a route with ntargets == 0. */
const struct route *route_table_lookup(const struct route_table *t, const char *host,
                                       size_t len);

size_t route_table_count(const struct route_table *t);
/* Heap bytes held by the slot array and the entries (not groups or sets). */
size_t route_table_memory(const struct route_table *t);

/* Assigns stable slots to addresses. Used by the writer only (not thread-safe).
 * Slots are never reused, so a slot always means the same address. */
struct target_registry;
struct target_registry *target_registry_new(void);
/* Returns the slot for sa (assigning the next one on first sight), -EINVAL when len is
 * larger than a sockaddr_storage, or -ENOMEM. */
int target_registry_slot(struct target_registry *r, const struct sockaddr *sa, socklen_t len);
void target_registry_free(struct target_registry *r);

#endif
