/*
 * router: the data plane. N worker threads, each with its own libuv loop and its own
 * SO_REUSEPORT listener, serve HTTP/1.1 clients and proxy them to upstream targets.
 *
 * The controlling thread (control/main.c) builds snapshots (config + route table) and
 * publishes them with router_publish(); workers pick them up at the top of their next loop
 * turn without taking a lock. router_drain() starts a graceful stop.
 *
 * Ownership: a router_snapshot passed to router_start/router_publish belongs to the router
 * from then on; it is freed (router_snapshot_free) once no worker can see it.
 */
#ifndef HOSTESS_ROUTER_ROUTER_H
#define HOSTESS_ROUTER_ROUTER_H

#include <stdint.h>

struct edge_config;
struct route_table;

struct router_snapshot {
    struct edge_config *cfg;       /* owned */
    struct route_table *routes;    /* owned */
    uint64_t            generation;
};

/* Frees cfg, routes and the snapshot. */
void router_snapshot_free(struct router_snapshot *s);

struct router;

/* Binds the listeners (so address errors are reported here, before any thread starts),
 * starts nworkers threads. Returns NULL and fills err on failure (snap is then freed). */
struct router *router_start(struct router_snapshot *snap, unsigned nworkers, char *err,
                            size_t errlen);
/* Publishes snap; workers use it for every request they start from their next loop turn.
 * Returns 0 or -ENOMEM (snap freed, nothing changed). */
int router_publish(struct router *r, struct router_snapshot *snap);
/* Frees snapshots no worker can see any more. Call periodically from the owner's loop. */
void router_reclaim(struct router *r);
/* The snapshot most recently published (owner's thread only). */
const struct router_snapshot *router_current(struct router *r);
/* Graceful stop: listeners close, idle connections close, in-flight exchanges finish;
 * after deadline_ms what remains is closed. Returns at once. */
void router_drain(struct router *r, uint32_t deadline_ms);
/* Opens the access log shared by all workers: "-" (stdout), "off", or a file path opened
 * for append. Calling it again (SIGHUP) reopens in place. Returns 0 or -errno. */
int access_log_open(const char *path);

/* Waits for every worker thread to end, then frees everything. */
void router_join(struct router *r);

#endif
