/*
 * worker: one thread, one libuv loop, one SO_REUSEPORT listener; and the router API the
 * control side uses to start, feed and stop the workers.
 *
 * Snapshots: at the top of each loop turn (uv_prepare, where no callback is running and
 * no exchange holds a snapshot pointer: exchanges keep only slot numbers and copied
 * strings across turns) a worker passes its epoch quiescent point and picks up the
 * current snapshot. The publisher wakes every worker (uv_async) so that an idle worker
 * does not hold reclamation back.
 *
 * Drain: the listener closes, idle connections close, busy ones close after their
 * response; the loop ends when no connection is left, or at the drain deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "certs/cert_store.h"
#include "router/base/epoch.h"
#include "router/base/log.h"
#include "router/h2.h"
#include "router/internal.h"
#include "router/route_table.h"
#include "router/tls.h"

#define HEALTH_CHUNK  1024u
#define HEALTH_CHUNKS 4096u /* 4M target addresses per process lifetime */
#define CUT_RING      64u

/* ACME http-01 tokens (port80.c), immutable once published: copy on write, retired
 * through the epoch domain. A handful at a time, so a linear scan. */
struct http01_table {
    size_t n;
    struct http01_entry {
        char *token;
        char *key_authorization;
    } e[];
};

struct router {
    struct epoch_domain   epoch;
    _Atomic(struct http01_table *) http01; /* NULL: none */
    /* Chunks are allocated by the publishing thread before a snapshot that needs them is
     * published, and never freed before router_join: workers read them without locks. */
    _Atomic(struct target_health *) health[HEALTH_CHUNKS];
    unsigned              nworkers;
    struct worker        *workers;   /* nworkers entries */
    struct route_table   *routes;    /* owned; written by the owner's thread only */
    struct target_registry *registry; /* owned; owner's thread only */
    struct tls_server    *tls;       /* owned; NULL when HTTPS is off */
    _Atomic int           draining;
    _Atomic uint32_t      drain_ms;
    /* router_close_tagged(): a ring of tags, written by the owner; workers catch up with
     * cut_seq on their next wake (falling more than CUT_RING behind loses the oldest). */
    _Atomic uint64_t      cut_tags[CUT_RING];
    _Atomic uint64_t      cut_seq;
};

void router_snapshot_free(struct router_snapshot *s)
{
    if (s == NULL)
        return;
    if (s->cfg != NULL) {
        edge_config_free(s->cfg);
        free(s->cfg);
    }
    free(s);
}

static void snapshot_free_cb(void *p)
{
    router_snapshot_free(p);
}

uint64_t worker_random(struct worker *w)
{
    /* xorshift64*: request ids and P2C need speed and spread, not secrecy. */
    uint64_t x = w->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->rng = x;
    return x * 0x2545f4914f6cdd1dull;
}

struct slot *worker_slot(struct worker *w, const struct target *t)
{
    if (t->slot >= w->nslots) {
        uint32_t n = w->nslots ? w->nslots : 16;
        while (n <= t->slot)
            n *= 2;
        struct slot **q = realloc(w->slots, n * sizeof(*q));
        if (q == NULL)
            return NULL;
        memset(q + w->nslots, 0, (n - w->nslots) * sizeof(*q));
        w->slots = q;
        w->nslots = n;
    }
    struct slot *s = w->slots[t->slot];
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL)
            return NULL;
        memcpy(&s->sa, &t->addr, t->salen);
        s->salen = t->salen;
        char ip[INET6_ADDRSTRLEN] = "?";
        if (t->addr.sa.sa_family == AF_INET6) {
            uv_ip6_name(&t->addr.in6, ip, sizeof ip);
            snprintf(s->name, sizeof s->name, "[%s]:%u", ip, ntohs(t->addr.in6.sin6_port));
        } else {
            uv_ip4_name(&t->addr.in, ip, sizeof ip);
            snprintf(s->name, sizeof s->name, "%s:%u", ip, ntohs(t->addr.in.sin_port));
        }
        list_init(&s->idle);
        s->health = atomic_load(&w->r->health[t->slot / HEALTH_CHUNK]);
        if (s->health == NULL) { /* cannot happen: reserved before publication */
            free(s);
            return NULL;
        }
        s->health += t->slot % HEALTH_CHUNK;
        w->slots[t->slot] = s;
    }
    return s;
}

int worker_slot_ejected(const struct slot *s, uint64_t now)
{
    return atomic_load_explicit(&s->health->ejected_until, memory_order_relaxed) > now;
}

int router_target_slot(struct router *r, const struct sockaddr *sa, socklen_t len)
{
    int slot = target_registry_slot(r->registry, sa, len);
    if (slot < 0)
        return slot;
    uint32_t c = (uint32_t)slot / HEALTH_CHUNK;
    if (c >= HEALTH_CHUNKS)
        return -ENOMEM;
    if (atomic_load(&r->health[c]) == NULL) {
        /* Published before any route names the slot, so workers find it there. */
        struct target_health *h = calloc(HEALTH_CHUNK, sizeof(*h));
        if (h == NULL)
            return -ENOMEM;
        atomic_store(&r->health[c], h);
    }
    return slot;
}

void router_target_healthy(struct router *r, uint32_t slot)
{
    struct target_health *h = atomic_load(&r->health[slot / HEALTH_CHUNK]);
    if (h == NULL)
        return;
    h += slot % HEALTH_CHUNK;
    atomic_store_explicit(&h->fails, 0, memory_order_relaxed);
    atomic_store_explicit(&h->ejected_until, 0, memory_order_relaxed);
}

struct route_table *router_routes(struct router *r)
{
    return r->routes;
}

void router_wake(struct router *r)
{
    for (unsigned i = 0; i < r->nworkers; i++)
        uv_async_send(&r->workers[i].wake);
}

static void worker_take_snapshot(struct worker *w)
{
    const struct router_snapshot *snap = epoch_quiescent(&w->r->epoch, w->id);
    if (snap == w->snap)
        return;
    w->snap = snap;
    w->cfg = snap->cfg;
    w->limits.request_line = snap->cfg->limits.request_line;
    w->limits.header_bytes = snap->cfg->limits.header_bytes;
    w->limits.header_fields = snap->cfg->limits.header_fields;
    size_t need = (size_t)snap->cfg->limits.header_fields + 1;
    if (need > w->fields_cap) {
        struct h1_field *f = realloc(w->fields, need * sizeof(*f));
        if (f != NULL) {
            w->fields = f;
            w->fields_cap = need;
        } else {
            w->limits.header_fields = (uint32_t)w->fields_cap - 1; /* keep the old cap */
        }
    }
}

static void worker_stop_loop(struct worker *w)
{
    if (w->stopping)
        return;
    w->stopping = 1;
    uv_stop(&w->loop);
}

void worker_conn_gone(struct worker *w)
{
    w->nconns--;
    stats_conn(w, 0);
    if (w->draining && w->nconns == 0)
        worker_stop_loop(w);
}

/* Ends every connection now: exchanges abort (closing their upstream), the rest close. */
static void worker_close_conns(struct worker *w)
{
    struct list_node *it, *tmp;
    list_for_each_safe(it, tmp, &w->conns) {
        struct conn *c = container_of(it, struct conn, link);
        if (c->state == C_BUSY || c->state == C_RELAY)
            exchange_abort(&c->ex, TERM_EDGE, PH_BODY);
        else
            conn_close(c);
    }
}

static void worker_on_drain_deadline(struct deadline *d)
{
    struct worker *w = container_of(d, struct worker, drain_dl);
    log_warn("worker %u: drain deadline reached, closing %u connections", w->id, w->nconns);
    worker_close_conns(w);
    if (w->nconns == 0)
        worker_stop_loop(w);
}

static void worker_start_drain(struct worker *w)
{
    struct list_node *it, *tmp;

    w->draining = 1;
    if (w->listen_fd >= 0) {
        uv_close((uv_handle_t *)&w->listener, NULL);
        w->listen_fd = -1;
    }
    if (w->listen_fd_tls >= 0) {
        uv_close((uv_handle_t *)&w->listener_tls, NULL);
        w->listen_fd_tls = -1;
    }
    list_for_each_safe(it, tmp, &w->conns) {
        struct conn *c = container_of(it, struct conn, link);
        c->flags |= C_F_WANT_CLOSE;
        conn_close_idle(c);
    }
    deadline_init(&w->drain_dl, worker_on_drain_deadline);
    deadline_arm(&w->wheel, &w->drain_dl, DL_DRAIN, atomic_load(&w->r->drain_ms));
    if (w->nconns == 0)
        worker_stop_loop(w);
}

/* Aborts the requests that took a route tagged with one of the tags published since this
 * worker last looked (a replaced deployment whose drain deadline passed). */
static void worker_cut_tagged(struct worker *w)
{
    uint64_t seq = atomic_load_explicit(&w->r->cut_seq, memory_order_acquire);
    if (seq == w->cut_seen)
        return;
    if (seq - w->cut_seen > CUT_RING)
        w->cut_seen = seq - CUT_RING;
    for (; w->cut_seen < seq; w->cut_seen++) {
        uint64_t tag = atomic_load_explicit(&w->r->cut_tags[w->cut_seen % CUT_RING],
                                            memory_order_relaxed);
        struct list_node *it, *tmp;
        list_for_each_safe(it, tmp, &w->conns) {
            struct conn *c = container_of(it, struct conn, link);
            if ((c->state == C_BUSY || c->state == C_RELAY) && c->ex.route_tag == tag)
                exchange_abort(&c->ex, TERM_EDGE, PH_BODY);
            else if (c->state == C_H2)
                h2_conn_cut_tagged(c, tag);
        }
    }
}

void router_stats(struct router *r, struct router_stats *out)
{
    stats_sum(r->workers, r->nworkers, out);
}

void router_close_tagged(struct router *r, uint64_t tag)
{
    uint64_t seq = atomic_load_explicit(&r->cut_seq, memory_order_relaxed);
    atomic_store_explicit(&r->cut_tags[seq % CUT_RING], tag, memory_order_relaxed);
    atomic_store_explicit(&r->cut_seq, seq + 1, memory_order_release);
    router_wake(r);
}

static void worker_on_wake(uv_async_t *a)
{
    struct worker *w = a->data;
    worker_take_snapshot(w);
    worker_cut_tagged(w);
    if (atomic_load(&w->r->draining) && !w->draining)
        worker_start_drain(w);
}

static void worker_on_prepare(uv_prepare_t *p)
{
    struct worker *w = p->data;
    worker_take_snapshot(w);
    access_log_flush(w->alog);
}

static void worker_on_connection(uv_stream_t *server, int status)
{
    struct worker *w = server->data;
    if (status < 0) {
        log_warn("worker %u: accept: %s", w->id, uv_strerror(status));
        return;
    }
    if (w->draining)
        return;
    conn_accept(w, server, server == (uv_stream_t *)&w->listener_tls);
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Closes whatever is still open in w's loop (idle upstream connections, timers, the
 * listener) and the loop itself. */
static void worker_teardown(struct worker *w)
{
    worker_close_conns(w);
    for (uint32_t i = 0; i < w->nslots; i++) {
        struct slot *s = w->slots[i];
        struct list_node *n;
        while (s != NULL && (n = list_first(&s->idle)) != NULL)
            upstream_close(container_of(n, struct upconn, link));
    }
    uv_walk(&w->loop, close_walk_cb, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    access_log_flush(w->alog);
    if (uv_loop_close(&w->loop) != 0)
        log_warn("worker %u: loop closed with handles still open", w->id);
}

static void worker_main(void *arg)
{
    struct worker *w = arg;

    uv_run(&w->loop, UV_RUN_DEFAULT);
    worker_teardown(w);
}

/* SO_REUSEPORT would let a second edge (or anything else using it) share our port and
 * silently take part of the traffic: first make sure nobody holds the address, with a
 * socket that does not allow sharing. */
static int listen_address_free(const struct cfg_addr *a, char *err, size_t errlen)
{
    int one = 1, rc = 0;
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (const struct sockaddr *)&a->sa, a->salen) != 0) {
        snprintf(err, errlen, "listen %s: %s", a->text, strerror(errno));
        rc = -1;
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

/* A listening socket of our own: libuv 1.44 cannot set SO_REUSEPORT. */
static int listen_socket(const struct cfg_addr *a, char *err, size_t errlen)
{
    int one = 1;
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        goto fail;
    if (bind(fd, (const struct sockaddr *)&a->sa, a->salen) != 0)
        goto fail;
    return fd;
fail:
    snprintf(err, errlen, "listen %s: %s", a->text, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

static int worker_listen(struct worker *w, uv_tcp_t *l, int fd, char *err, size_t errlen)
{
    uv_tcp_init(&w->loop, l);
    l->data = w;
    int rc = uv_tcp_open(l, fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)l, 4096, worker_on_connection);
    if (rc != 0) {
        snprintf(err, errlen, "listen: %s", uv_strerror(rc));
        return -1;
    }
    return 0;
}

static int worker_init(struct router *r, struct worker *w, unsigned id, int fd, int fd_tls,
                       const struct router_snapshot *snap, char *err, size_t errlen)
{
    memset(w, 0, sizeof(*w));
    w->id = id;
    w->r = r;
    w->listen_fd = fd;
    w->listen_fd_tls = fd_tls;
    w->tls = r->tls;
    list_init(&w->conns);
    list_init(&w->tls_deferred);
    bufpool_init(&w->pool, 1024);
    if (getrandom(&w->rng, sizeof w->rng, 0) != sizeof w->rng || w->rng == 0)
        w->rng = 0x853c49e6748fea9bull ^ ((uint64_t)id << 32) ^ (uint64_t)(uintptr_t)w;
    w->alog = access_log_new();
    if (w->alog == NULL)
        goto nomem;
    (void)epoch_quiescent(&r->epoch, id);
    w->snap = NULL;
    w->routes = r->routes;
    (void)snap;
    if (uv_loop_init(&w->loop) != 0)
        goto nomem;
    worker_take_snapshot(w);
    if (w->fields == NULL)
        goto nomem;
    deadline_wheel_init(&w->wheel, &w->loop);
    uv_async_init(&w->loop, &w->wake, worker_on_wake);
    w->wake.data = w;
    uv_prepare_init(&w->loop, &w->prep);
    w->prep.data = w;
    uv_prepare_start(&w->prep, worker_on_prepare);
    uv_idle_init(&w->loop, &w->tls_idle);
    if (worker_listen(w, &w->listener, fd, err, errlen) != 0)
        return -1;
    if (fd_tls >= 0 && worker_listen(w, &w->listener_tls, fd_tls, err, errlen) != 0)
        return -1;
    return 0;
nomem:
    snprintf(err, errlen, "out of memory starting worker %u", id);
    return -1;
}

struct router *router_create(struct router_snapshot *snap, unsigned nworkers, char *err,
                             size_t errlen)
{
    struct router *r = calloc(1, sizeof(*r));
    int *fds = NULL;
    const struct edge_config *cfg = snap->cfg;
    unsigned nlisten = cfg->https_enabled ? 2 : 1;

    if (r == NULL || epoch_domain_init(&r->epoch, nworkers, snap) != 0) {
        snprintf(err, errlen, "out of memory");
        free(r);
        router_snapshot_free(snap);
        return NULL;
    }
    r->nworkers = nworkers;
    r->routes = route_table_new(&r->epoch, 1024);
    r->registry = target_registry_new();
    if (r->routes == NULL || r->registry == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL; /* boot failure: main exits */
    }
    atomic_init(&r->draining, 0);
    atomic_init(&r->drain_ms, snap->cfg->timeouts.drain_ms);
    r->workers = calloc(nworkers, sizeof(*r->workers));
    fds = calloc((size_t)nworkers * 2, sizeof(*fds)); /* [i]: http, [nworkers + i]: https */
    if (r->workers == NULL || fds == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (unsigned i = 0; i < nworkers * 2; i++)
        fds[i] = -1;
    if (cfg->https_enabled && (r->tls = tls_server_new(&r->epoch, err, errlen)) == NULL)
        goto fail;
    for (unsigned l = 0; l < nlisten; l++) {
        const struct cfg_addr *a = l == 0 ? &cfg->listen_http : &cfg->listen_https;
        if (listen_address_free(a, err, errlen) != 0)
            goto fail;
        for (unsigned i = 0; i < nworkers; i++) {
            fds[l * nworkers + i] = listen_socket(a, err, errlen);
            if (fds[l * nworkers + i] < 0)
                goto fail;
        }
    }
    for (unsigned i = 0; i < nworkers; i++) {
        if (worker_init(r, &r->workers[i], i, fds[i], fds[nworkers + i], snap, err, errlen) != 0)
            goto fail; /* a half-built worker set at boot: the process exits */
        fds[i] = fds[nworkers + i] = -1;
    }
    free(fds);
    return r;
fail:
    if (fds != NULL)
        for (unsigned i = 0; i < nworkers * 2; i++)
            if (fds[i] >= 0)
                close(fds[i]);
    free(fds);
    return NULL; /* boot failure: main exits, the OS reclaims the rest */
}

int router_run(struct router *r, char *err, size_t errlen)
{
    for (unsigned i = 0; i < r->nworkers; i++) {
        if (uv_thread_create(&r->workers[i].thread, worker_main, &r->workers[i]) != 0) {
            snprintf(err, errlen, "cannot start worker thread %u", i);
            return -1; /* boot failure: main exits */
        }
        r->workers[i].started = 1;
    }
    const struct router_snapshot *snap = epoch_current(&r->epoch);
    if (r->tls != NULL)
        log_info("listening on %s (http, %s) and %s (https) with %u workers",
                 snap->cfg->listen_http.text,
                 snap->cfg->http_mode == HTTP_MODE_REDIRECT ? "redirect" : "proxy",
                 snap->cfg->listen_https.text, r->nworkers);
    else
        log_info("listening on %s (http) with %u workers", snap->cfg->listen_http.text,
                 r->nworkers);
    return 0;
}

int router_publish(struct router *r, struct router_snapshot *snap)
{
    if (epoch_publish(&r->epoch, snap, snapshot_free_cb) != 0) {
        router_snapshot_free(snap);
        return -ENOMEM;
    }
    atomic_store(&r->drain_ms, snap->cfg->timeouts.drain_ms);
    router_wake(r);
    return 0;
}

void router_reclaim(struct router *r)
{
    epoch_reclaim(&r->epoch);
}

const struct router_snapshot *router_current(struct router *r)
{
    return epoch_current(&r->epoch);
}

void router_drain(struct router *r, uint32_t deadline_ms)
{
    atomic_store(&r->drain_ms, deadline_ms);
    atomic_store(&r->draining, 1);
    router_wake(r);
}

void router_join(struct router *r)
{
    for (unsigned i = 0; i < r->nworkers; i++) {
        struct worker *w = &r->workers[i];
        if (w->started)
            uv_thread_join(&w->thread);
        else
            worker_teardown(w); /* never ran (startup failed after router_create) */
        upstream_slots_free(w);
        free(w->fields);
        free(w->tls_scratch);
        while (w->ntls_out_free > 0)
            free(w->tls_out_free[--w->ntls_out_free]);
        h2_worker_free(w);
        bufpool_destroy(&w->pool);
        access_log_free(w->alog);
    }
    free(r->workers);
    r->workers = NULL;
    r->nworkers = 0;
}

static void http01_table_free(void *p)
{
    struct http01_table *t = p;
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->e[i].token);
        free(t->e[i].key_authorization);
    }
    free(t);
}

const char *worker_http01_lookup(struct worker *w, const char *token, size_t len)
{
    const struct http01_table *t = atomic_load_explicit(&w->r->http01, memory_order_acquire);
    for (size_t i = 0; t != NULL && i < t->n; i++)
        if (strlen(t->e[i].token) == len && memcmp(t->e[i].token, token, len) == 0)
            return t->e[i].key_authorization;
    return NULL;
}

/* base64url, as ACME tokens and thumbprints are (RFC 8555 §8.1); dots join the two. */
static int http01_chars_ok(const char *s, size_t max, int dot)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || (dot && ch == '.')))
            return 0;
    }
    return 1;
}

/* Publishes a copy of the current table without token, plus (token, ka) when ka != NULL. */
static int http01_replace(struct router *r, const char *token, const char *ka)
{
    struct http01_table *cur = atomic_load_explicit(&r->http01, memory_order_relaxed);
    size_t n = cur ? cur->n : 0, k = 0;
    struct http01_table *next = calloc(1, sizeof(*next) + (n + 1) * sizeof(next->e[0]));
    int found = 0;
    if (next == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cur->e[i].token, token) == 0) {
            found = 1;
            continue;
        }
        next->e[k].token = strdup(cur->e[i].token);
        next->e[k].key_authorization = strdup(cur->e[i].key_authorization);
        next->n = ++k;
        if (next->e[k - 1].token == NULL || next->e[k - 1].key_authorization == NULL)
            goto nomem;
    }
    if (ka == NULL && !found) {
        http01_table_free(next);
        return -ENOENT;
    }
    if (ka != NULL) {
        next->e[k].token = strdup(token);
        next->e[k].key_authorization = strdup(ka);
        next->n = ++k;
        if (next->e[k - 1].token == NULL || next->e[k - 1].key_authorization == NULL)
            goto nomem;
    }
    if (cur != NULL && epoch_retire(&r->epoch, cur, http01_table_free) != 0)
        goto nomem;
    atomic_store_explicit(&r->http01, next, memory_order_release);
    router_wake(r);
    return found;
nomem:
    http01_table_free(next);
    return -ENOMEM;
}

int router_http01_set(struct router *r, const char *token, const char *key_authorization)
{
    if (!http01_chars_ok(token, 256, 0) || !http01_chars_ok(key_authorization, 512, 1))
        return -EINVAL;
    return http01_replace(r, token, key_authorization);
}

int router_http01_delete(struct router *r, const char *token)
{
    return http01_replace(r, token, NULL);
}

int router_https(const struct router *r)
{
    return r->tls != NULL;
}

int router_publish_certs(struct router *r, struct cert_store *store)
{
    if (r->tls == NULL) {
        cert_store_free(store);
        return -EINVAL;
    }
    int rc = tls_server_publish_certs(r->tls, store);
    router_wake(r);
    return rc;
}

const struct cert_store *router_certs(struct router *r)
{
    return r->tls ? tls_server_certs(r->tls) : NULL;
}

int router_rotate_ticket_keys(struct router *r)
{
    if (r->tls == NULL)
        return 0;
    int rc = tls_server_rotate_tickets(r->tls);
    router_wake(r);
    return rc;
}

void router_free(struct router *r)
{
    for (unsigned c = 0; c < HEALTH_CHUNKS; c++)
        free(atomic_load(&r->health[c]));
    epoch_domain_destroy(&r->epoch, snapshot_free_cb);
    route_table_free(r->routes);
    target_registry_free(r->registry);
    tls_server_free(r->tls); /* after the epoch domain ran its retired callbacks */
    http01_table_free(atomic_load(&r->http01));
    free(r);
}
