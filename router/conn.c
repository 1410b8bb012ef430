/*
 * conn: the client side of an HTTP/1.1 connection.
 *
 * States (enum conn_state), written only here and in exchange.c's hand-offs:
 *   C_IDLE      no request in progress; holds no buffer; DL_IDLE armed
 *   C_READ_HEAD some head bytes arrived; DL_HEADER armed (slowloris bound)
 *   C_BUSY      the embedded exchange runs (exchange.c drives the socket)
 *   C_RELAY     upgraded: exchange.c pumps raw bytes both ways
 *   C_CLOSING   an error was answered; we read and discard until EOF or DL_LINGER, so
 *               the kernel does not reset the connection before the client reads it
 * A request head is parsed only when complete (h1_parse.h); bytes after it stay in the
 * input buffer for the exchange (body) or the next request (pipelining).
 */
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include "router/internal.h"
#include "router/base/log.h"
#include "router/h2.h"
#include "router/tls.h"

/* --- buffers -------------------------------------------------------------------------- */

int iobuf_reserve(struct worker *w, struct iobuf *b, size_t need)
{
    if (b->p != NULL && b->cap >= need)
        return 0;
    if (b->p == NULL && need <= BUFPOOL_CHUNK) {
        b->p = bufpool_get(&w->pool);
        if (b->p == NULL)
            return -1;
        b->cap = BUFPOOL_CHUNK;
        b->big = 0;
        return 0;
    }
    char *q = malloc(need);
    if (q == NULL)
        return -1;
    if (b->p != NULL) {
        memcpy(q, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->big)
            free(b->p);
        else
            bufpool_put(&w->pool, b->p);
    } else {
        b->off = b->len = 0;
    }
    b->p = q;
    b->cap = (uint32_t)need;
    b->big = 1;
    return 0;
}

void iobuf_compact(struct iobuf *b)
{
    if (b->off > 0) {
        memmove(b->p, b->p + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
}

void iobuf_consume(struct iobuf *b, size_t n)
{
    b->off += (uint32_t)n;
    if (b->off == b->len)
        b->off = b->len = 0;
    else if (b->len == b->cap)
        iobuf_compact(b);
}

int iobuf_make_room(struct worker *w, struct iobuf *b, size_t max)
{
    if (b->len < b->cap)
        return 0;
    if (b->off > 0) {
        iobuf_compact(b);
        return 0;
    }
    if (b->cap >= max || iobuf_reserve(w, b, max) != 0)
        return -1;
    return 0;
}

void iobuf_release(struct worker *w, struct iobuf *b)
{
    if (b->p != NULL) {
        if (b->big)
            free(b->p);
        else
            bufpool_put(&w->pool, b->p);
    }
    b->p = NULL;
    b->off = b->len = b->cap = 0;
    b->big = 0;
}

/* --- writes --------------------------------------------------------------------------- */

int sendq_write(struct sendq *q, uv_stream_t *s, const uv_buf_t *iov, unsigned n, uv_write_cb cb)
{
    unsigned i = 0;
    int r = uv_try_write(s, iov, n);

    if (r == UV_EAGAIN)
        r = 0;
    else if (r < 0)
        return r;
    size_t done = (size_t)r;
    while (i < n && done >= iov[i].len)
        done -= iov[i++].len;
    if (i == n)
        return 1;
    q->niov = 0;
    for (; i < n; i++) {
        q->iov[q->niov] = uv_buf_init(iov[i].base + done, (unsigned)(iov[i].len - done));
        q->niov++;
        done = 0;
    }
    r = uv_write(&q->req, s, q->iov, q->niov, cb);
    if (r < 0)
        return r;
    q->busy = 1;
    return 0;
}

void conn_on_sent(struct conn *c, int status)
{
    c->tx.busy = 0;
    if (c->flags & C_F_CLOSED)
        return; /* cancelled by uv_close */
    if (c->h2 != NULL) {
        h2_conn_on_written(c, status);
        return;
    }
    if (c->state == C_BUSY || c->state == C_RELAY)
        exchange_on_client_written(&c->ex, status);
}

static void conn_on_written(uv_write_t *req, int status)
{
    conn_on_sent(container_of(req, struct conn, tx.req), status);
}

int conn_send(struct conn *c, const uv_buf_t *iov, unsigned n)
{
    if (c->tls != NULL)
        return tls_conn_send(c, iov, n, 0);
    return sendq_write(&c->tx, (uv_stream_t *)&c->tcp, iov, n, conn_on_written);
}

int conn_send_last(struct conn *c, const uv_buf_t *iov, unsigned n)
{
    return c->tls != NULL ? tls_conn_send(c, iov, n, 1) : conn_send(c, iov, n);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)req; /* embedded in the conn, which outlives it (freed in the close callback) */
    (void)status;
}

/* --- lifecycle ------------------------------------------------------------------------ */

static void conn_on_close(uv_handle_t *h)
{
    struct conn *c = (struct conn *)h;
    struct worker *w = c->w;
    iobuf_release(w, &c->in);
    iobuf_release(w, &c->ex.uphead);
    iobuf_release(w, &c->ex.downhead);
    tls_conn_free(c);
    free(c);
    worker_conn_gone(w);
}

void conn_close(struct conn *c)
{
    if (c->flags & C_F_CLOSED)
        return;
    c->flags |= C_F_CLOSED;
    if (c->h2 != NULL)
        h2_conn_close(c); /* aborts its streams' exchanges */
    deadline_cancel(&c->w->wheel, &c->dl);
    list_unlink(&c->link);
    uv_close((uv_handle_t *)&c->tcp, conn_on_close);
}

/* A close between requests: over TLS, say so with close_notify first (a cut elsewhere
 * must not, so that a truncated response never looks complete). */
static void conn_close_clean(struct conn *c)
{
    if (c->tls != NULL && !(c->flags & C_F_CLOSED))
        tls_conn_close_notify(c);
    conn_close(c);
}

static void conn_on_deadline(struct deadline *d)
{
    struct conn *c = container_of(d, struct conn, dl);

    switch (c->state) {
    case C_IDLE:
        conn_close_clean(c);
        break;
    case C_CLOSING:
        conn_close(c);
        break;
    case C_READ_HEAD:
        /* Slowloris: a head that does not complete in time is answered 408 and closed. */
        conn_reject(c, 408, "request head timeout");
        break;
    case C_BUSY:
    case C_RELAY:
        exchange_abort(&c->ex, TERM_CLIENT, c->state == C_RELAY ? PH_RELAY : PH_BODY);
        break;
    case C_H2:
        h2_conn_on_deadline(c);
        break;
    }
}

void conn_rx_pause(struct conn *c)
{
    if (!(c->flags & (C_F_RX_PAUSED | C_F_EOF | C_F_CLOSED))) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->flags |= C_F_RX_PAUSED;
    }
}

static void conn_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

void conn_rx_resume(struct conn *c)
{
    if ((c->flags & C_F_RX_PAUSED) && !(c->flags & (C_F_EOF | C_F_CLOSED))) {
        c->flags &= ~C_F_RX_PAUSED;
        if (c->tls == NULL || !tls_conn_eof(c))
            uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_on_read);
        if (c->tls != NULL)
            tls_conn_resume(c); /* what TLS already holds is not announced by a read */
    }
}

void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct conn *c = (struct conn *)h;
    (void)suggested;

    if (c->tls != NULL) {
        tls_conn_alloc(c, b);
        return;
    }
    if (c->in.p == NULL && iobuf_reserve(c->w, &c->in, BUFPOOL_CHUNK) != 0) {
        *b = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS: we wait (paused) */
        return;
    }
    if (c->in.off == c->in.len && c->state != C_BUSY && c->state != C_RELAY)
        c->in.off = c->in.len = 0; /* nothing references consumed bytes any more */
    *b = uv_buf_init(c->in.p + c->in.len, c->in.cap - c->in.len);
}

/* Lingering close (nginx's lingering_close): send FIN, read and discard what the client
 * still sends until its EOF or DL_LINGER, then close. Closing at once with unread bytes
 * makes the kernel send a reset, which can destroy the response before it is read. */
void conn_linger(struct conn *c)
{
    c->state = C_CLOSING;
    c->flags |= C_F_WANT_CLOSE;
    c->in.off = c->in.len = 0;
    if (c->flags & C_F_EOF) {
        conn_close(c);
        return;
    }
    if (c->tls != NULL)
        tls_conn_close_notify(c);
    if (!(c->flags & C_F_SHUT)) {
        if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
            conn_close(c);
            return;
        }
        c->flags |= C_F_SHUT;
    }
    conn_rx_resume(c);
    deadline_arm(&c->w->wheel, &c->dl, DL_LINGER, LINGER_MS);
}

/* Answers an edge-generated error (status) for the request being read, then closes. */
void conn_reject(struct conn *c, int status, const char *why)
{
    struct exchange *ex = &c->ex;
    log_debug("client %s: %d %s", c->peer_ip, status, why ? why : "");
    if (!(ex->flags & EX_F_ACTIVE)) {
        memset(ex, 0, offsetof(struct exchange, uphead));
        ex->c = c;
        ex->slot = UINT32_MAX;
        ex->minor = 1;
        ex->t_start = uv_now(&c->w->loop);
    }
    ex->status = (uint16_t)status;
    ex->term_side = status == 408 ? TERM_CLIENT : TERM_EDGE;
    ex->term_phase = PH_HEAD;
    c->flags |= C_F_WANT_CLOSE;
    if (h1_build_error(ex, status, why, 0, 1) == 0) {
        uv_buf_t b = uv_buf_init(ex->downhead.p, ex->downhead.len);
        /* Best effort: the connection closes either way. Over TLS the records are made
         * now, and what the socket does not take at once leaves before the shutdown. */
        int r = 0;
        if (c->tls == NULL)
            r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        else if (!c->tx.busy) /* never plaintext on a TLS socket, nor a second send */
            r = tls_conn_send(c, &b, 1, 1);
        (void)r;
    }
    access_log_exchange(c->w, ex);
    ex->flags = 0;
    conn_linger(c);
}

/* Parses and starts as many requests as the buffer holds (pipelining), one at a time. */
static void conn_process(struct conn *c)
{
    struct worker *w = c->w;

    while (c->state == C_IDLE || c->state == C_READ_HEAD) {
        struct h1_request req;
        size_t avail = c->in.len - c->in.off;
        if (avail == 0) {
            if (c->state == C_IDLE) {
                iobuf_release(w, &c->in); /* idle connections own no buffer */
                if (c->flags & C_F_EOF)
                    conn_close(c);
            }
            return;
        }
        if (c->nreqs == 0 && c->tls == NULL) {
            /* HTTP/2 with prior knowledge (h2c, RFC 9113 §3.3): the client preface. Over
             * TLS, HTTP/2 is what ALPN said or nothing (RFC 9113 §3.2). */
            int p = h2_preface_check(c->in.p + c->in.off, avail);
            if (p > 0) {
                h2_conn_start(c);
                return;
            }
            if (p == 0 && !(c->flags & C_F_EOF)) {
                c->state = C_READ_HEAD; /* the header deadline armed at accept runs */
                return;
            }
        }
        int r = h1_parse_request(c->in.p + c->in.off, avail, &w->limits, &req, w->fields,
                                 w->fields_cap);
        if (r == 0) {
            if (c->flags & C_F_EOF) {
                conn_reject(c, 400, "connection closed inside a request head");
                return;
            }
            if (c->state == C_IDLE) {
                c->state = C_READ_HEAD;
                deadline_arm(&w->wheel, &c->dl, DL_HEADER, w->cfg->timeouts.header_ms);
            }
            /* The limits are checked as bytes arrive, so growth is bounded. */
            if (iobuf_make_room(w, &c->in, (size_t)w->limits.request_line +
                                              w->limits.header_bytes + 4) != 0)
                conn_reject(c, 431, "request head too large");
            return;
        }
        if (r < 0) {
            conn_reject(c, -r, req.error);
            return;
        }
        c->state = C_BUSY;
        c->nreqs++;
        exchange_start(&c->ex, &req);
        /* exchange_start() either runs (C_BUSY), answered and went back to C_IDLE, or
         * closed the connection (C_CLOSING): the loop condition covers all three. */
    }
}

void conn_on_input_eof(struct conn *c)
{
    c->flags |= C_F_EOF;
    uv_read_stop((uv_stream_t *)&c->tcp);
    switch (c->state) {
    case C_IDLE:
    case C_CLOSING:
        conn_close(c);
        return;
    case C_READ_HEAD:
        conn_process(c);
        return;
    case C_BUSY:
    case C_RELAY:
        exchange_on_client_eof(&c->ex);
        return;
    case C_H2:
        h2_conn_on_eof(c);
        return;
    }
}

void conn_input_failed(struct conn *c)
{
    if (c->state == C_BUSY || c->state == C_RELAY)
        exchange_abort(&c->ex, TERM_CLIENT, c->state == C_RELAY ? PH_RELAY : PH_BODY);
    else
        conn_close(c);
}

void conn_on_input(struct conn *c, size_t n)
{
    c->in.len += (uint32_t)n;
    switch (c->state) {
    case C_IDLE:
    case C_READ_HEAD:
        conn_process(c);
        break;
    case C_BUSY:
    case C_RELAY:
        exchange_on_client_data(&c->ex);
        break;
    case C_CLOSING:
        c->in.off = c->in.len = 0; /* discard */
        break;
    case C_H2:
        h2_conn_on_data(c);
        break;
    }
}

static void conn_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = (struct conn *)s;
    (void)buf;

    if (n == 0)
        return;
    if (n == UV_ENOBUFS) {
        conn_rx_pause(c);
        return;
    }
    if (c->tls != NULL)
        tls_conn_on_read(c, n);
    else if (n < 0)
        conn_on_input_eof(c);
    else
        conn_on_input(c, (size_t)n);
}

int conn_closes_after_exchange(const struct conn *c)
{
    return (c->flags & C_F_WANT_CLOSE) || c->w->draining;
}

/* The exchange ended and its response is fully written: keep-alive or close. */
void conn_exchange_done(struct conn *c)
{
    struct worker *w = c->w;

    if (conn_closes_after_exchange(c)) {
        /* Unread request bytes (a body we did not forward, pipelined requests): linger. */
        if (c->in.off != c->in.len || (c->flags & C_F_LINGER))
            conn_linger(c);
        else
            conn_close_clean(c);
        return;
    }
    c->state = C_IDLE;
    deadline_arm(&w->wheel, &c->dl, DL_IDLE, w->cfg->timeouts.idle_ms);
    /* Head buffers go back to the worker's pool: an idle connection owns no buffer. */
    iobuf_release(w, &c->ex.uphead);
    iobuf_release(w, &c->ex.downhead);
    iobuf_compact(&c->in); /* a pipelined request's head starts at 0 */
    conn_rx_resume(c);
    conn_process(c);
}

void conn_close_idle(struct conn *c)
{
    if (c->state == C_IDLE)
        conn_close_clean(c);
    else if (c->state == C_H2)
        h2_conn_drain(c); /* GOAWAY: finish the open streams, take no new ones */
}

static int peer_is_trusted(const struct edge_config *cfg, const struct sockaddr_storage *ss)
{
    for (size_t i = 0; i < cfg->ntrusted_proxies; i++) {
        const struct cfg_cidr *n = &cfg->trusted_proxies[i];
        const uint8_t *a, *b;
        size_t alen;
        if (n->net.ss_family != ss->ss_family)
            continue;
        if (ss->ss_family == AF_INET) {
            a = (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
            b = (const uint8_t *)&((const struct sockaddr_in *)&n->net)->sin_addr;
            alen = 4;
        } else {
            a = (const uint8_t *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
            b = (const uint8_t *)&((const struct sockaddr_in6 *)&n->net)->sin6_addr;
            alen = 16;
        }
        unsigned bits = n->prefix, k = 0;
        for (; bits >= 8 && k < alen; k++, bits -= 8)
            if (a[k] != b[k])
                goto next;
        if (bits > 0 && k < alen && ((a[k] ^ b[k]) & (uint8_t)(0xff << (8 - bits))) != 0)
            goto next;
        return 1;
    next:;
    }
    return 0;
}

void conn_accept(struct worker *w, uv_stream_t *server, int tls)
{
    struct conn *c = calloc(1, sizeof(*c));
    struct sockaddr_storage ss;
    int len = sizeof ss;

    if (c == NULL)
        return; /* the connection stays in the backlog; accept retries on the next event */
    c->w = w;
    h1_client_bind(c);
    deadline_init(&c->dl, conn_on_deadline);
    list_init(&c->link);
    uv_tcp_init(&w->loop, &c->tcp);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        c->flags |= C_F_CLOSED;
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    w->nconns++;
    stats_conn(w, 1);
    list_push_tail(&w->conns, &c->link);
    uv_tcp_nodelay(&c->tcp, 1);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET)
            uv_ip4_name((struct sockaddr_in *)&ss, c->peer_ip, sizeof c->peer_ip);
        else
            uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer_ip, sizeof c->peer_ip);
        c->trusted = (uint8_t)peer_is_trusted(w->cfg, &ss);
    }
    c->state = C_IDLE;
    if (tls && tls_conn_attach(c, w->tls, w->cfg->tls.session_tickets, w->cfg->tls.http2) != 0) {
        conn_close(c);
        return;
    }
    /* The first request gets the header timeout from accept (over TLS, the handshake
     * timeout first): a client that connects and sends nothing is a slowloris too. */
    deadline_arm(&w->wheel, &c->dl, DL_HEADER,
                 tls ? w->cfg->timeouts.handshake_ms : w->cfg->timeouts.header_ms);
    uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_on_read);
}
