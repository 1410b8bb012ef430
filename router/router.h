/*
 * router: the data plane. N worker threads, each with its own libuv loop and its own
 * SO_REUSEPORT listener, serve HTTP/1.1 clients and proxy them to upstream targets.
 *
 * The controlling thread (control/) publishes configuration snapshots with
 * router_publish() and changes routes in place through router_routes() (route_table.h:
 * single writer, lock-free readers); workers pick both up without taking a lock.
 * router_drain() starts a graceful stop.
 *
 * Ownership: a router_snapshot passed to router_create/router_publish belongs to the
 * router from then on; it is freed (router_snapshot_free) once no worker can see it. The
 * route table belongs to the router; its groups belong to whoever created them.
 */
#ifndef HOSTESS_ROUTER_ROUTER_H
#define HOSTESS_ROUTER_ROUTER_H

#include <stdint.h>

#include <sys/socket.h>

struct cert_store;
struct edge_config;
struct route_table;

struct router_snapshot {
    struct edge_config *cfg;       /* owned */
    uint64_t            generation;
};

/* Frees cfg and the snapshot. */
void router_snapshot_free(struct router_snapshot *s);

struct router;

/* Binds the listeners (so address errors are reported here) and creates the (empty)
 * route table; no thread runs yet, so routes can be loaded before the first request.
 * Returns NULL and fills err on failure (snap is then freed). */
struct router *router_create(struct router_snapshot *snap, unsigned nworkers, char *err,
                             size_t errlen);
/* Starts the worker threads. Returns 0, or -1 with err. */
int router_run(struct router *r, char *err, size_t errlen);

/* The route table (owner's thread only; see route_table.h). */
struct route_table *router_routes(struct router *r);
/* The stable slot of a target address (route_table.h's struct target .slot), with the
 * workers' shared health state for it made ready. Returns the slot or -errno. */
int router_target_slot(struct router *r, const struct sockaddr *sa, socklen_t len);
/* Closes, in every worker, the requests in flight (and relayed WebSockets) that were routed
 * through a route whose tag is tag (route_table.h). Used when a replaced deployment's
 * drain deadline passes. Returns at once. */
void router_close_tagged(struct router *r, uint64_t tag);
#define ROUTER_LATENCY_BUCKETS 13
/* Upper bounds (ms) of the first ROUTER_LATENCY_BUCKETS - 1 buckets; the last is +Inf. */
extern const uint32_t router_latency_bounds_ms[ROUTER_LATENCY_BUCKETS - 1];

/* Counters summed over the workers (requests = finished exchanges, including the edge's
 * own answers). Not cumulative latency buckets: latency[i] counts requests whose duration
 * fell in bucket i. */
struct router_stats {
    uint64_t requests;
    uint64_t status[6];        /* [1..5]: 1xx..5xx; [0]: none sent */
    uint64_t upstream_errors;  /* exchanges ended by an upstream failure */
    uint64_t latency[ROUTER_LATENCY_BUCKETS];
    uint64_t latency_sum_ms;
    uint64_t connections_accepted;
    uint64_t connections_open;
    uint64_t tls_handshakes;   /* completed (tls_resumed of them by session ticket) */
    uint64_t tls_resumed;
    uint64_t tls_failed;       /* handshakes that failed (alerts, timeouts not included) */
    uint64_t h2_requests;      /* of requests: those that came as HTTP/2 streams */
};
/* Any thread. */
void router_stats(struct router *r, struct router_stats *out);

/* An active health check passed for slot's target: forget its passive failures and end
 * any ejection, so it takes traffic again at once rather than when the ejection ends. */
void router_target_healthy(struct router *r, uint32_t slot);
/* Wakes the workers after route changes, so that idle ones pass a quiescent point and
 * retired route memory can be reclaimed (router_reclaim). */
void router_wake(struct router *r);
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

/* 1 when the router has an HTTPS listener (listen.https / tls in the first config). */
int router_https(const struct router *r);
/* Publishes a certificate store (certs/cert_store.h) for new handshakes; owned by the
 * router from now on, the previous one is freed once no handshake can read it. Returns 0,
 * or -EINVAL without HTTPS (store freed). Owner's thread. */
int router_publish_certs(struct router *r, struct cert_store *store);
/* The store in service, or NULL (owner's thread: the "previous" of the next load). */
const struct cert_store *router_certs(struct router *r);
/* Makes a new session-ticket key current (the previous one still decrypts, and its
 * tickets are renewed). Returns 0 or -errno. Owner's thread. */
int router_rotate_ticket_keys(struct router *r);

/* ACME http-01 (RFC 8555 §8.3): the plain-HTTP listener answers
 * GET /.well-known/acme-challenge/TOKEN with key_authorization, for any host. Tokens are
 * base64url (1..256), key authorizations base64url with dots (1..512). Returns 0 (set: a
 * new token; delete: done), 1 (set: replaced; delete: done), -EINVAL (bad characters),
 * -ENOENT (delete: no such token) or -ENOMEM. Owner's thread. */
int router_http01_set(struct router *r, const char *token, const char *key_authorization);
int router_http01_delete(struct router *r, const char *token);

/* Waits for every worker thread to end (workers never started are closed in place) and
 * frees their state. Route groups may then be
 * freed (route_group_free) before router_free. */
void router_join(struct router *r);
/* Frees the route table, retired memory and the router. */
void router_free(struct router *r);

#endif
