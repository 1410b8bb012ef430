/*
 * h1_client: the HTTP/1.1 connection as the client side of its embedded exchange
 * (struct client_ops, internal.h).
 *
 * The exchange writes HTTP/1.1 bytes here: heads rebuilt by h1_write.c, bodies framed by
 * pump.c. Everything goes out through conn_send (the byte-stream seam TLS sits behind);
 * request bytes come from the connection's input buffer, and back-pressure is stopping
 * the socket's reads.
 */
#include <string.h>

#include "router/internal.h"

static char continue_100[] = "HTTP/1.1 100 Continue\r\n\r\n";

static struct conn *conn_of(const struct exchange *ex)
{
    return ex->c;
}

static unsigned h1_state(const struct exchange *ex)
{
    const struct conn *c = conn_of(ex);
    unsigned s = 0;
    if (c->flags & C_F_EOF)
        s |= CL_EOF;
    if (c->tx.busy)
        s |= CL_BUSY;
    if (c->flags & C_F_CLOSED)
        s |= CL_GONE;
    return s;
}

static int h1_head(struct exchange *ex, const struct h1_response *resp)
{
    return h1_build_response(ex, resp);
}

static int h1_send(struct exchange *ex, const uv_buf_t *iov, unsigned n, unsigned flags)
{
    uv_buf_t all[SENDQ_IOV];
    unsigned k = 0;

    if (flags & CL_SEND_HEAD)
        all[k++] = uv_buf_init(ex->downhead.p, ex->downhead.len);
    for (unsigned i = 0; i < n && k < SENDQ_IOV; i++)
        all[k++] = iov[i];
    if (k == 0)
        return 1; /* the end of an HTTP/1.1 body is in its framing: nothing to send */
    if ((flags & CL_SEND_END) && conn_closes_after_exchange(conn_of(ex)))
        return conn_send_last(conn_of(ex), all, k);
    return conn_send(conn_of(ex), all, k);
}

static int h1_answer(struct exchange *ex, int status, const char *ctype, struct span location,
                     struct span body, uint32_t retry_after)
{
    struct conn *c = conn_of(ex);

    if (((ex->flags & EX_F_HAS_BODY) && !(ex->flags & EX_F_REQ_DONE)) || status == 400)
        c->flags |= C_F_WANT_CLOSE; /* unread body, or a client we cannot trust to frame */
    if (h1_build_answer(ex, status, ctype, location, body, retry_after,
                        (c->flags & C_F_WANT_CLOSE) != 0) != 0)
        return UV_ENOMEM;
    uv_buf_t b = uv_buf_init(ex->downhead.p, ex->downhead.len);
    return conn_closes_after_exchange(c) ? conn_send_last(c, &b, 1) : conn_send(c, &b, 1);
}

static int h1_interim(struct exchange *ex)
{
    uv_buf_t b = uv_buf_init(continue_100, sizeof continue_100 - 1);
    return conn_send(conn_of(ex), &b, 1);
}

static void h1_consume(struct exchange *ex, size_t n)
{
    iobuf_consume(&conn_of(ex)->in, n);
}

static void h1_rx_pause(struct exchange *ex)
{
    conn_rx_pause(conn_of(ex));
}

static void h1_rx_resume(struct exchange *ex)
{
    conn_rx_resume(conn_of(ex));
}

static void h1_relay(struct exchange *ex)
{
    struct conn *c = conn_of(ex);
    c->state = C_RELAY;
    c->flags |= C_F_WANT_CLOSE; /* the connection ends with the tunnel */
}

static void h1_done(struct exchange *ex, int unread)
{
    struct conn *c = conn_of(ex);
    if (unread)
        c->flags |= C_F_WANT_CLOSE | C_F_LINGER; /* unread request body: framing is lost */
    conn_exchange_done(c);
}

static void h1_close(struct exchange *ex, enum term_side side)
{
    (void)side;
    /* uv_close stops the pending write, which may point into the upstream's input
     * buffer, before that buffer can be freed. */
    conn_close(conn_of(ex));
}

const struct client_ops h1_client_ops = {
    .h1 = 1,
    .state = h1_state,
    .head = h1_head,
    .send = h1_send,
    .answer = h1_answer,
    .interim = h1_interim,
    .consume = h1_consume,
    .rx_pause = h1_rx_pause,
    .rx_resume = h1_rx_resume,
    .relay = h1_relay,
    .done = h1_done,
    .close = h1_close,
};

void h1_client_bind(struct conn *c)
{
    c->ex.c = c;
    c->ex.ops = &h1_client_ops;
    c->ex.in = &c->in;
    c->ex.cdl = &c->dl;
}
