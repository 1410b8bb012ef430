/*
 * upstream: this worker's connections to targets, and the choice of target.
 *
 * Per (worker, target) slot: a LIFO list of idle keep-alive connections (reuse the
 * warmest, expire the coldest by DL_UP_IDLE), the number of outstanding requests (leased
 * plus connecting) that power-of-two-choices compares, and passive ejection: eject_after
 * consecutive failures (refused, reset, timeout, invalid response) take the target out
 * of rotation for eject_ms, after which it is tried again. Pools and load counts are this
 * worker's alone; only the failure count and ejection time are shared (relaxed atomics),
 * so every worker stops sending to a dead target as soon as one worker has seen it die.
 *
 * An idle connection keeps reading, so an upstream close is seen (and the connection
 * dropped) before a request is ever written to it; bytes arriving on an idle connection
 * are a protocol error and close it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "router/base/log.h"
#include "router/internal.h"
#include "router/route_table.h"

static void upstream_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void upstream_on_close(uv_handle_t *h)
{
    struct upconn *u = (struct upconn *)h;
    iobuf_release(u->w, &u->in);
    free(u);
}

void upstream_close(struct upconn *u)
{
    struct worker *w = u->w;
    struct slot *s = w->slots[u->slot];

    if (u->state == UP_CLOSED)
        return;
    if (u->state == UP_IDLE) {
        list_unlink(&u->link);
        s->nidle--;
    } else if (u->ex != NULL) {
        s->outstanding--;
        u->ex->up = NULL;
        u->ex = NULL;
    }
    u->state = UP_CLOSED;
    deadline_cancel(&w->wheel, &u->dl);
    uv_close((uv_handle_t *)&u->tcp, upstream_on_close);
}

void upstream_release(struct upconn *u, int keep)
{
    struct worker *w = u->w;
    struct slot *s = w->slots[u->slot];

    if (u->ex != NULL) {
        s->outstanding--;
        u->ex = NULL;
    }
    if (!keep || w->draining || s->nidle >= w->cfg->upstream.max_idle_per_target ||
        u->nreqs >= w->cfg->upstream.max_requests || u->tx.busy) {
        u->state = UP_LEASED; /* so close does not count it twice */
        upstream_close(u);
        return;
    }
    u->state = UP_IDLE;
    u->in.off = u->in.len = 0;
    iobuf_release(w, &u->in); /* idle connections own no buffer */
    upstream_rx_resume(u);
    list_push_head(&s->idle, &u->link);
    s->nidle++;
    deadline_arm(&w->wheel, &u->dl, DL_UP_IDLE, w->cfg->timeouts.upstream_idle_ms);
}

static void upstream_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct upconn *u = (struct upconn *)h;
    (void)suggested;

    if (u->in.p == NULL && iobuf_reserve(u->w, &u->in, BUFPOOL_CHUNK) != 0) {
        *b = uv_buf_init(NULL, 0);
        return;
    }
    *b = uv_buf_init(u->in.p + u->in.len, u->in.cap - u->in.len);
}

void upstream_rx_pause(struct upconn *u)
{
    if (u->reading) {
        uv_read_stop((uv_stream_t *)&u->tcp);
        u->reading = 0;
        /* The client is the slow side now; its deadline runs, not ours. */
        deadline_cancel(&u->w->wheel, &u->dl);
    }
}

void upstream_rx_resume(struct upconn *u)
{
    if (!u->reading && !u->eof && u->state != UP_CLOSED) {
        u->reading = 1;
        uv_read_start((uv_stream_t *)&u->tcp, upstream_alloc, upstream_on_read);
        if (u->state == UP_LEASED && u->ex != NULL && !(u->ex->flags & EX_F_RELAY))
            deadline_arm(&u->w->wheel, &u->dl, DL_UPSTREAM,
                         u->w->cfg->timeouts.upstream_response_ms);
    }
}

static void upstream_on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct upconn *u = (struct upconn *)st;
    struct worker *w = u->w;
    (void)buf;

    if (n == 0)
        return;
    if (n == UV_ENOBUFS) {
        upstream_rx_pause(u);
        return;
    }
    if (u->state != UP_LEASED || u->ex == NULL) {
        /* Idle: EOF means the upstream closed it; data is a protocol error. */
        upstream_close(u);
        return;
    }
    if (n < 0) {
        u->eof = 1;
        uv_read_stop(st);
        u->reading = 0;
        deadline_cancel(&w->wheel, &u->dl);
        exchange_on_up_eof(u->ex, (int)n);
        return;
    }
    u->in.len += (uint32_t)n;
    if (!(u->ex->flags & EX_F_RELAY))
        deadline_arm(&w->wheel, &u->dl, DL_UPSTREAM, w->cfg->timeouts.upstream_response_ms);
    exchange_on_up_data(u->ex);
    /* u may be idle, closed or leased again by now: touch nothing. */
}

void upstream_on_written(uv_write_t *req, int status)
{
    struct upconn *u = container_of(req, struct upconn, tx.req);

    u->tx.busy = 0;
    if (u->state != UP_LEASED || u->ex == NULL)
        return;
    exchange_on_up_written(u->ex, status);
}

static void upstream_on_deadline(struct deadline *d)
{
    struct upconn *u = container_of(d, struct upconn, dl);
    struct exchange *ex = u->ex;

    switch (u->state) {
    case UP_CONNECTING:
        upstream_slot_failure(u->w, u->slot);
        upstream_close(u);
        exchange_up_failed(ex, UV_ETIMEDOUT, 1);
        break;
    case UP_IDLE:
        upstream_close(u);
        break;
    case UP_LEASED:
        if (ex != NULL)
            exchange_on_up_timeout(ex);
        else
            upstream_close(u);
        break;
    case UP_CLOSED:
        break;
    }
}

static void upstream_on_connect(uv_connect_t *req, int status)
{
    struct upconn *u = container_of(req, struct upconn, creq);
    struct exchange *ex = u->ex;

    if (u->state == UP_CLOSED)
        return; /* the exchange gave up first */
    if (status < 0) {
        log_debug("upstream %s: connect: %s", u->w->slots[u->slot]->name, uv_strerror(status));
        upstream_slot_failure(u->w, u->slot);
        upstream_close(u);
        exchange_up_failed(ex, status, 0);
        return;
    }
    u->state = UP_LEASED;
    uv_tcp_nodelay(&u->tcp, 1);
    u->reading = 1;
    uv_read_start((uv_stream_t *)&u->tcp, upstream_alloc, upstream_on_read);
    exchange_up_ready(ex, u);
}

/* --- choice of target ------------------------------------------------------------------ */

void upstream_slot_success(struct worker *w, uint32_t slot)
{
    if (slot < w->nslots && w->slots[slot] != NULL) {
        struct target_health *h = w->slots[slot]->health;
        /* Read first: the common case writes nothing, so the line is not bounced. */
        if (atomic_load_explicit(&h->fails, memory_order_relaxed) != 0)
            atomic_store_explicit(&h->fails, 0, memory_order_relaxed);
    }
}

void upstream_slot_failure(struct worker *w, uint32_t slot)
{
    if (slot >= w->nslots || w->slots[slot] == NULL)
        return;
    struct slot *s = w->slots[slot];
    if (worker_slot_ejected(s, uv_now(&w->loop)))
        return; /* in-flight attempts failing after the ejection: already counted */
    uint32_t f = atomic_fetch_add_explicit(&s->health->fails, 1, memory_order_relaxed) + 1;
    if (f >= w->cfg->upstream.eject_after) {
        atomic_store_explicit(&s->health->fails, 0, memory_order_relaxed);
        atomic_store_explicit(&s->health->ejected_until,
                              uv_now(&w->loop) + w->cfg->upstream.eject_ms,
                              memory_order_relaxed);
        log_warn("upstream %s ejected for %ums after %u consecutive failures", s->name,
                 w->cfg->upstream.eject_ms, w->cfg->upstream.eject_after);
    }
}

/* Power of two choices among targets not yet tried and not ejected: two distinct random
 * candidates, the one with fewer outstanding requests wins. Returns the route index or
 * -1 (then *retry_after_ms is the wait until the first ejected target returns, or 0). */
static int pick(struct worker *w, struct exchange *ex, const struct route *rt,
                uint64_t *retry_after_ms)
{
    uint64_t now = uv_now(&w->loop), soonest = UINT64_MAX;
    uint32_t n = rt->ntargets, eligible = 0;
    int first = -1;

    for (uint32_t i = 0; i < n; i++) {
        if (i < 64 && (ex->tried & (1ull << i)))
            continue;
        struct slot *s = worker_slot(w, &rt->targets[i]);
        if (s == NULL)
            continue;
        uint64_t until = atomic_load_explicit(&s->health->ejected_until, memory_order_relaxed);
        if (until > now) {
            if (until < soonest)
                soonest = until;
            continue;
        }
        if (first < 0)
            first = (int)i;
        eligible++;
    }
    *retry_after_ms = soonest == UINT64_MAX ? 0 : soonest - now;
    if (eligible <= 1)
        return first;
    uint64_t r = worker_random(w);
    uint32_t a = (uint32_t)(r % eligible), b = (uint32_t)((r >> 32) % (eligible - 1));
    if (b >= a)
        b++;
    int ia = -1, ib = -1;
    for (uint32_t i = 0, k = 0; i < n && (ia < 0 || ib < 0); i++) {
        if (i < 64 && (ex->tried & (1ull << i)))
            continue;
        if (worker_slot_ejected(w->slots[rt->targets[i].slot], now))
            continue;
        if (k == a)
            ia = (int)i;
        if (k == b)
            ib = (int)i;
        k++;
    }
    return w->slots[rt->targets[ia].slot]->outstanding <= w->slots[rt->targets[ib].slot]->outstanding
               ? ia : ib;
}

int upstream_acquire(struct exchange *ex, const struct route *rt, uint32_t *retry_after_s)
{
    struct worker *w = ex->c->w;
    uint64_t wait_ms = 0;
    if (rt->ntargets == 0) { /* the host exists, but no target is healthy (yet) */
        *retry_after_s = 1;
        return -EAGAIN;
    }
    int i = pick(w, ex, rt, &wait_ms);

    if (i < 0) {
        *retry_after_s = (uint32_t)((wait_ms + 999) / 1000);
        return wait_ms > 0 ? -EAGAIN : -ENOENT;
    }
    if (i < 64)
        ex->tried |= 1ull << i;
    ex->attempts++;
    const struct target *t = &rt->targets[i];
    struct slot *s = w->slots[t->slot];
    ex->slot = t->slot;
    s->outstanding++;

    struct list_node *n;
    while ((n = list_first(&s->idle)) != NULL) {
        struct upconn *u = container_of(n, struct upconn, link);
        list_unlink(n);
        s->nidle--;
        deadline_cancel(&w->wheel, &u->dl);
        u->state = UP_LEASED;
        u->ex = ex;
        ex->up = u;
        exchange_up_ready(ex, u);
        return 0;
    }

    struct upconn *u = calloc(1, sizeof(*u));
    if (u == NULL) {
        s->outstanding--;
        return UV_ENOMEM;
    }
    u->w = w;
    u->slot = t->slot;
    list_init(&u->link);
    deadline_init(&u->dl, upstream_on_deadline);
    uv_tcp_init(&w->loop, &u->tcp);
    u->state = UP_CONNECTING;
    u->ex = ex;
    ex->up = u;
    int r = uv_tcp_connect(&u->creq, &u->tcp, (const struct sockaddr *)&s->sa, upstream_on_connect);
    if (r < 0) {
        upstream_slot_failure(w, t->slot);
        upstream_close(u);
        return r;
    }
    deadline_arm(&w->wheel, &u->dl, DL_CONNECT, w->cfg->timeouts.connect_ms);
    return 0;
}

void upstream_slots_free(struct worker *w)
{
    for (uint32_t i = 0; i < w->nslots; i++)
        free(w->slots[i]);
    free(w->slots);
    w->slots = NULL;
    w->nslots = 0;
}
