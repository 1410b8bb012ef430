/*
 * exchange: one request and its response, from a parsed request head to the last byte of
 * the response (or a relay after a 101).
 *
 * Flow: exchange_start() validates the host, routes, rebuilds the request head and asks
 * upstream.c for a connection. exchange_up_ready() writes the head and streams the body
 * (client input buffer → upstream socket, exchange_pump_request); the response head is
 * parsed from the upstream input buffer and its body streamed back (upstream input buffer
 * → client socket, exchange_pump_response). Payload bytes are never copied: write iovecs
 * point into the input buffers, and those bytes are consumed only when the write is done.
 * Back-pressure is the buffers filling up: a full input buffer stops reading its socket.
 *
 * Errors are decided in one place (exchange_fail): before any response byte went out the
 * client gets the edge's own status page; after, the connection is cut so a truncated
 * response never looks complete. Retries (another target) happen only while no request
 * byte was sent, or for idempotent requests without a body (CONTRACT §3).
 *
 * The client side is an interface (struct client_ops): an HTTP/1.1 connection
 * (h1_client.c) or an HTTP/2 stream (h2_stream.c). Routing, retries, upstream handling
 * and error decisions live here once for both.
 */
#include <string.h>

#include "router/base/log.h"
#include "router/base/hostname.h"
#include "router/internal.h"
#include "router/route_table.h"
#include "router/tls.h"

#define MAX_ATTEMPTS 3

static void exchange_pump_request(struct exchange *ex);
static void exchange_pump_response(struct exchange *ex);

static int reqid_valid(struct span v)
{
    if (v.len == 0 || v.len > REQID_MAX)
        return 0;
    for (size_t i = 0; i < v.len; i++) {
        char ch = v.ptr[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '.' || ch == ':'))
            return 0;
    }
    return 1;
}

static void reqid_generate(struct worker *w, char *out)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = worker_random(w), b = worker_random(w);
    for (int i = 0; i < 16; i++) {
        out[i] = hex[(a >> (i * 4)) & 15];
        out[16 + i] = hex[(b >> (i * 4)) & 15];
    }
    out[32] = '\0';
}

static unsigned client_state(const struct exchange *ex)
{
    return ex->ops->state(ex);
}

static void exchange_finish(struct exchange *ex)
{
    struct worker *w = ex->c->w;
    struct upconn *u = ex->up;

    if (u != NULL) {
        int keep = (ex->flags & EX_F_REQ_DONE) && !(ex->flags & EX_F_UP_NOREUSE) &&
                   u->in.off == u->in.len && !u->eof;
        ex->up = NULL;
        upstream_release(u, keep);
    }
    int unread = (ex->flags & EX_F_HAS_BODY) && !(ex->flags & EX_F_REQ_DONE);
    deadline_cancel(&w->wheel, ex->cdl);
    stats_exchange(w, ex);
    access_log_exchange(w, ex);
    ex->flags = 0;
    ex->ops->done(ex, unread);
}

void exchange_abort(struct exchange *ex, enum term_side side, enum term_phase phase)
{
    struct worker *w = ex->c->w;
    int active = (ex->flags & EX_F_ACTIVE) != 0;

    if (ex->term_side == TERM_NONE) {
        ex->term_side = (uint8_t)side;
        ex->term_phase = (uint8_t)phase;
    }
    if (ex->status == 0 || !(ex->flags & EX_F_HEAD_OUT))
        ex->status = side == TERM_CLIENT ? 499 : 502;
    deadline_cancel(&w->wheel, ex->cdl);
    if (active) {
        stats_exchange(w, ex);
        access_log_exchange(w, ex);
    }
    ex->flags = 0;
    /* The client's pending sends may point into the upstream's input buffer: it is
     * freed only in the upstream's close callback (a later loop phase), and the client
     * side drops those sends now. The h2 side may release the stream (and ex with it)
     * in close, so the upstream goes first. */
    if (ex->up != NULL)
        upstream_close(ex->up);
    ex->ops->close(ex, side);
}

/* The edge answers the request itself (before any response byte went out; else a cut):
 * status, Content-Type ctype, an optional Location, body. */
static void exchange_answer_as(struct exchange *ex, int status, const char *ctype,
                               struct span location, struct span body, uint32_t retry_after,
                               enum term_side side, enum term_phase phase)
{
    struct worker *w = ex->c->w;

    if ((ex->flags & EX_F_HEAD_OUT) || (client_state(ex) & CL_BUSY)) {
        exchange_abort(ex, side, phase);
        return;
    }
    if (ex->up != NULL)
        upstream_close(ex->up);
    ex->status = (uint16_t)status;
    ex->term_side = (uint8_t)side;
    ex->term_phase = (uint8_t)phase;
    ex->flags |= EX_F_CANNED | EX_F_HEAD_OUT | EX_F_RESP_HEAD;
    pump_init(&ex->resp, H1_BODY_NONE, 0, 0);
    ex->resp_used = 0;
    int r = ex->ops->answer(ex, status, ctype, location, body, retry_after);
    if (r == UV_ENOMEM)
        exchange_abort(ex, TERM_EDGE, phase);
    else if (r < 0)
        exchange_abort(ex, TERM_CLIENT, PH_RESP_HEAD);
    else if (r == 1)
        exchange_finish(ex);
    else
        deadline_arm(&w->wheel, ex->cdl, DL_CLIENT, w->cfg->timeouts.client_ms);
}

/* The edge's plain-text error page for status. */
static void exchange_fail(struct exchange *ex, int status, const char *detail,
                          uint32_t retry_after, enum term_side side, enum term_phase phase)
{
    char body[256];
    int n = snprintf(body, sizeof body, "%d %s%s%s\n", status, h1_reason(status),
                     detail ? ": " : "", detail ? detail : "");
    if (n < 0 || (size_t)n >= sizeof body)
        n = (int)sizeof body - 1;
    exchange_answer_as(ex, status, "text/plain; charset=utf-8", SPAN_NULL,
                       span_make(body, (size_t)n), retry_after, side, phase);
}

void exchange_answer(struct exchange *ex, int status, const char *ctype, struct span location,
                     struct span body)
{
    exchange_answer_as(ex, status, ctype, location, body, 0, TERM_EDGE, PH_ROUTE);
}

void exchange_reject(struct exchange *ex, int status, const char *detail)
{
    exchange_fail(ex, status, detail, 0, status == 408 ? TERM_CLIENT : TERM_EDGE, PH_HEAD);
}

/* Tries the next target, or answers the failure (timed_out: the last attempt timed out). */
static void exchange_connect(struct exchange *ex, int timed_out)
{
    struct worker *w = ex->c->w;
    uint32_t retry_after = 0;
    int r = -ENOENT;

    while (ex->attempts < MAX_ATTEMPTS) {
        const struct route *rt = route_table_lookup(w->routes, ex->host, ex->host_len);
        if (rt == NULL) {
            exchange_fail(ex, 503, "the route was removed", 1, TERM_EDGE, PH_ROUTE);
            return;
        }
        r = upstream_acquire(ex, rt, &retry_after);
        if (r == 0)
            return;
        if (r == -EAGAIN || r == -ENOENT)
            break; /* no target left to try */
        /* connect() itself failed on that target: the loop tries the next one */
    }
    if (timed_out)
        exchange_fail(ex, 504, "upstream timed out", 0, TERM_UPSTREAM, PH_CONNECT);
    else
        exchange_fail(ex, 502, "upstream unreachable", 0, TERM_UPSTREAM, PH_CONNECT);
}

void exchange_start(struct exchange *ex, const struct h1_request *req)
{
    struct conn *c = ex->c;
    struct worker *w = c->w;
    char host[HOSTNAME_MAX + 1];

    memset(ex, 0, offsetof(struct exchange, uphead));
    ex->slot = UINT32_MAX;
    ex->flags = EX_F_ACTIVE;
    ex->t_start = uv_now(&w->loop);
    ex->method_id = (uint8_t)req->method_id;
    ex->minor = req->minor;
    ex->method_len = (uint8_t)(req->method.len < sizeof ex->method ? req->method.len
                                                                  : sizeof ex->method - 1);
    memcpy(ex->method, req->method.ptr, ex->method_len);
    ex->path_len = (uint16_t)(req->path.len < sizeof ex->path ? req->path.len : sizeof ex->path);
    memcpy(ex->path, req->path.ptr, ex->path_len);
    deadline_cancel(&w->wheel, ex->cdl);

    for (size_t i = 0; i < req->nfields; i++) {
        if (req->fields[i].tok == TOK_X_REQUEST_ID && reqid_valid(req->fields[i].value)) {
            memcpy(ex->reqid, req->fields[i].value.ptr, req->fields[i].value.len);
            ex->reqid[req->fields[i].value.len] = '\0';
            break;
        }
    }
    if (ex->reqid[0] == '\0')
        reqid_generate(w, ex->reqid);
    if (ex->ops->h1 && ((req->flags & H1_F_CONN_CLOSE) || w->cfg->timeouts.idle_ms == 0))
        c->flags |= C_F_WANT_CLOSE; /* idle: 0 turns keep-alive off */
    switch (req->method_id) {
    case H1_M_HEAD:
        ex->flags |= EX_F_HEAD_REQ | EX_F_IDEMPOTENT;
        break;
    case H1_M_GET: case H1_M_OPTIONS: case H1_M_TRACE: case H1_M_PUT: case H1_M_DELETE:
        ex->flags |= EX_F_IDEMPOTENT;
        break;
    default:
        break;
    }
    if (req->flags & H1_F_UPGRADE_WS)
        ex->flags |= EX_F_UPGRADE;
    /* The h2 side streams a body of unknown length as UNTIL_CLOSE (END_STREAM ends it)
     * and asks for chunked framing upstream. */
    enum h1_body in_kind = req->body;
    if (!ex->ops->h1 && req->body == H1_BODY_CHUNKED)
        in_kind = H1_BODY_UNTIL_CLOSE;
    if (req->body == H1_BODY_CHUNKED || (req->body == H1_BODY_LENGTH && req->content_length > 0)) {
        ex->flags |= EX_F_HAS_BODY;
        if (req->flags & H1_F_EXPECT_100)
            ex->flags |= EX_F_EXPECT;
    }
    pump_init(&ex->req, in_kind, req->content_length, req->body == H1_BODY_CHUNKED);

    int hl = req->host.ptr ? hostname_normalise(req->host.ptr, req->host.len, host) : -1;
    if (hl <= 0) {
        ex->ops->consume(ex, req->head_len);
        exchange_fail(ex, 400, "missing or invalid Host", 0, TERM_CLIENT, PH_HEAD);
        return;
    }
    memcpy(ex->host, host, (size_t)hl);
    ex->host_len = (uint8_t)hl;

    if (c->tls != NULL && tls_conn_misdirected(c, ex->host, ex->host_len, w->cfg->domain)) {
        ex->ops->consume(ex, req->head_len);
        exchange_fail(ex, 421, "this connection's certificate does not cover the host", 0,
                      TERM_CLIENT, PH_ROUTE);
        return;
    }
    if (c->tls == NULL && port80_challenge(ex, req)) /* an ACME http-01 token */
        return;
    const struct route *rt = route_table_lookup(w->routes, ex->host, ex->host_len);
    if (rt == NULL) {
        ex->ops->consume(ex, req->head_len);
        exchange_fail(ex, 404, "no route for this host", 0, TERM_EDGE, PH_ROUTE);
        return;
    }
    if (c->tls == NULL && w->cfg->http_mode == HTTP_MODE_REDIRECT) {
        port80_redirect(ex, req);
        return;
    }
    ex->route_tag = rt->tag;
    int built = h1_build_request(ex, req);
    ex->ops->consume(ex, req->head_len); /* the head's spans are dead from here on */
    if (built != 0) {
        exchange_fail(ex, 500, "out of memory", 0, TERM_EDGE, PH_HEAD);
        return;
    }
    uint32_t retry_after = 0;
    int r = upstream_acquire(ex, rt, &retry_after);
    if (r == -EAGAIN)
        exchange_fail(ex, 503, "no healthy target", retry_after ? retry_after : 1, TERM_EDGE,
                      PH_ROUTE);
    else if (r < 0)
        exchange_connect(ex, 0);
}

void exchange_up_ready(struct exchange *ex, struct upconn *u)
{
    struct worker *w = ex->c->w;

    ex->up = u;
    u->ex = ex;
    u->nreqs++;
    ex->t_connect = uv_now(&w->loop);
    if ((ex->flags & EX_F_EXPECT) && !(client_state(ex) & CL_BUSY)) {
        /* RFC 9110 §10.1.1: we have somewhere to send the body, so ask for it. */
        ex->flags &= ~EX_F_EXPECT;
        if (ex->ops->interim(ex) < 0) {
            exchange_abort(ex, TERM_CLIENT, PH_BODY);
            return;
        }
    }
    deadline_arm(&w->wheel, &u->dl, DL_UPSTREAM, w->cfg->timeouts.upstream_response_ms);
    exchange_pump_request(ex);
}

void exchange_up_failed(struct exchange *ex, int status, int timed_out)
{
    log_debug("upstream for %.*s failed: %s", (int)ex->host_len, ex->host, uv_strerror(status));
    exchange_connect(ex, timed_out);
}

/* Client → upstream: the request head, then body bytes as they are in the input buffer.
 * Loops while writes complete at once; returns when a write is queued, input is needed,
 * or the request is done. */
static void exchange_pump_request(struct exchange *ex)
{
    struct worker *w = ex->c->w;

    while (ex->up != NULL && ex->up->state == UP_LEASED && !ex->up->tx.busy &&
           !(ex->flags & EX_F_REQ_DONE)) {
        struct upconn *u = ex->up;
        struct iobuf *in = ex->in;
        uv_buf_t iov[SENDQ_IOV];
        unsigned n = 0;
        size_t used = 0, avail = in->len - in->off;

        if (!(ex->flags & EX_F_REQ_SENT))
            iov[n++] = uv_buf_init(ex->uphead.p, ex->uphead.len);
        int k = pump_fill(&ex->req, in->p + in->off, avail, &used, iov + n, SENDQ_IOV - n);
        if (k < 0) {
            exchange_fail(ex, 400, "malformed chunked body", 0, TERM_CLIENT, PH_BODY);
            return;
        }
        n += (unsigned)k;
        unsigned st = client_state(ex);
        /* A body of unknown length from an h2 client ends with its END_STREAM. */
        if ((st & CL_EOF) && used == avail && !(ex->flags & EX_F_RELAY) && n < SENDQ_IOV)
            n += (unsigned)pump_eof(&ex->req, iov + n);
        if (n == 0) {
            ex->ops->consume(ex, used); /* framing alone (a size line) was consumed */
            if (st & CL_EOF) {
                if (ex->flags & EX_F_RELAY) /* the client ended the tunnel */
                    exchange_abort(ex, TERM_NONE, PH_RELAY);
                else
                    exchange_abort(ex, TERM_CLIENT, PH_BODY);
                return;
            }
            if (!(ex->flags & EX_F_RELAY))
                deadline_arm(&w->wheel, ex->cdl, DL_CLIENT, w->cfg->timeouts.client_ms);
            ex->ops->rx_resume(ex);
            return;
        }
        ex->req_used = used;
        ex->flags |= EX_F_REQ_SENT;
        int r = sendq_write(&u->tx, (uv_stream_t *)&u->tcp, iov, n, upstream_on_written);
        if (r < 0) {
            exchange_on_up_eof(ex, r);
            return;
        }
        if (r == 0) {
            /* The upstream must take these bytes within upstream_response. */
            if (!(ex->flags & EX_F_RELAY))
                deadline_arm(&w->wheel, &u->dl, DL_UPSTREAM, w->cfg->timeouts.upstream_response_ms);
            return; /* exchange_on_up_written() continues */
        }
        exchange_on_up_written(ex, 0);
        return;
    }
}

/* The write of ex->req_used client bytes (and maybe the head) finished. */
void exchange_on_up_written(struct exchange *ex, int status)
{
    struct worker *w = ex->c->w;

    if (status < 0) {
        exchange_on_up_eof(ex, status);
        return;
    }
    ex->ops->consume(ex, ex->req_used);
    ex->req_used = 0;
    if (ex->flags & EX_F_RELAY) {
        deadline_arm(&w->wheel, ex->cdl, DL_TUNNEL, w->cfg->timeouts.tunnel_ms);
    } else if (ex->req.done && ex->req.ended) {
        ex->flags |= EX_F_REQ_DONE;
        if (!(client_state(ex) & CL_BUSY))
            deadline_cancel(&w->wheel, ex->cdl);
        if (!(ex->flags & EX_F_RESP_HEAD) && ex->up != NULL)
            deadline_arm(&w->wheel, &ex->up->dl, DL_UPSTREAM,
                         w->cfg->timeouts.upstream_response_ms);
        return;
    } else if (!(ex->flags & EX_F_RESP_HEAD) && ex->up != NULL) {
        /* The upstream took what we had: until the client sends more, the wait is the
         * client's (timeouts.client), not the upstream's; upstream_response starts when
         * the request is complete (RFC-wise: "request sent → response head"). */
        deadline_cancel(&w->wheel, &ex->up->dl);
    }
    exchange_pump_request(ex);
}

void exchange_on_client_data(struct exchange *ex)
{
    struct worker *w = ex->c->w;

    if (ex->flags & EX_F_RELAY) {
        deadline_arm(&w->wheel, ex->cdl, DL_TUNNEL, w->cfg->timeouts.tunnel_ms);
        exchange_pump_request(ex);
        return;
    }
    if (!(ex->flags & EX_F_REQ_DONE)) {
        exchange_pump_request(ex);
    }
    if (ex->ops->h1 && ex->in->len == ex->in->cap)
        ex->ops->rx_pause(ex); /* pipelined bytes wait for this exchange to end */
}

void exchange_on_client_eof(struct exchange *ex)
{
    if (ex->ops->h1)
        ex->c->flags |= C_F_WANT_CLOSE;
    /* In a relay the pump forwards what is still buffered, then ends the tunnel.
     * Half-close after a complete request is legal: answer, then close. A body still
     * missing is found by the request pump, which then aborts (h1) or ends it (h2). */
    if ((ex->flags & EX_F_RELAY) || !(ex->flags & EX_F_REQ_DONE))
        exchange_pump_request(ex);
}

/* --- the response ---------------------------------------------------------------------- */

static void exchange_start_relay(struct exchange *ex)
{
    struct worker *w = ex->c->w;
    ex->ops->relay(ex);
    ex->flags |= EX_F_RELAY | EX_F_REQ_SENT | EX_F_UP_NOREUSE;
    ex->flags &= ~EX_F_REQ_DONE;
    pump_init(&ex->req, H1_BODY_UNTIL_CLOSE, 0, 0);
    pump_init(&ex->resp, H1_BODY_UNTIL_CLOSE, 0, 0);
    deadline_cancel(&w->wheel, &ex->up->dl);
    deadline_arm(&w->wheel, ex->cdl, DL_TUNNEL, w->cfg->timeouts.tunnel_ms);
}

/* Parses the response head once complete; 1 when parsed, 0 when waiting, -1 when failed. */
static int exchange_response_head(struct exchange *ex)
{
    struct upconn *u = ex->up;
    struct worker *w = ex->c->w;

    for (;;) {
        struct h1_response resp;
        size_t avail = u->in.len - u->in.off;
        int r = h1_parse_response(u->in.p + u->in.off, avail, (enum h1_method)ex->method_id,
                                  &w->limits, &resp, w->fields, w->fields_cap);
        if (r == 0) {
            if (u->eof) {
                exchange_on_up_eof(ex, UV_EOF);
                return -1;
            }
            if (iobuf_make_room(w, &u->in, (size_t)w->limits.header_bytes +
                                               w->limits.request_line + 4) != 0) {
                upstream_slot_failure(w, ex->slot);
                exchange_fail(ex, 502, "upstream response head too large", 0, TERM_UPSTREAM,
                              PH_RESP_HEAD);
                return -1;
            }
            return 0;
        }
        if (r < 0) {
            log_warn("upstream %s: invalid response: %s", w->slots[ex->slot]->name,
                     resp.error ? resp.error : "?");
            upstream_slot_failure(w, ex->slot);
            exchange_fail(ex, 502, "invalid upstream response", 0, TERM_UPSTREAM, PH_RESP_HEAD);
            return -1;
        }
        if (resp.status < 200 && resp.status != 101) {
            u->in.off += (uint32_t)r; /* interim responses are not forwarded (documented) */
            continue;
        }
        if (resp.status == 101 && !(ex->flags & EX_F_UPGRADE)) {
            exchange_fail(ex, 502, "unexpected 101 from upstream", 0, TERM_UPSTREAM,
                          PH_RESP_HEAD);
            return -1;
        }
        ex->flags |= EX_F_RESP_HEAD;
        ex->status = (uint16_t)resp.status;
        ex->t_header = uv_now(&w->loop);
        upstream_slot_success(w, ex->slot);
        if ((resp.flags & H1_F_CONN_CLOSE) || resp.body == H1_BODY_UNTIL_CLOSE)
            ex->flags |= EX_F_UP_NOREUSE;
        int unframed = resp.body == H1_BODY_CHUNKED || resp.body == H1_BODY_UNTIL_CLOSE;
        if (unframed && ex->minor == 0 && ex->ops->h1)
            ex->c->flags |= C_F_WANT_CLOSE; /* HTTP/1.0 client: the close delimits */
        /* HTTP/2 frames the body itself: payload only, no chunked framing. */
        pump_init(&ex->resp, resp.body, resp.content_length,
                  unframed && ex->minor == 1 && ex->ops->h1);
        if (ex->ops->head(ex, &resp) != 0) {
            exchange_fail(ex, 502, "response head too large", 0, TERM_EDGE, PH_RESP_HEAD);
            return -1;
        }
        u->in.off += (uint32_t)r;
        if (resp.status == 101)
            exchange_start_relay(ex);
        return 1;
    }
}

void exchange_on_up_data(struct exchange *ex)
{
    struct worker *w = ex->c->w;

    if (ex->flags & EX_F_RELAY)
        deadline_arm(&w->wheel, ex->cdl, DL_TUNNEL, w->cfg->timeouts.tunnel_ms);
    if (!(ex->flags & EX_F_RESP_HEAD)) {
        if (exchange_response_head(ex) <= 0)
            return;
        if (ex->flags & EX_F_RELAY) /* client bytes that came with the upgrade request */
            exchange_pump_request(ex);
        if (ex->flags == 0)
            return; /* the relay ended at once */
    }
    exchange_pump_response(ex);
}

/* Upstream → client: the response head, then body bytes as they are in the upstream
 * input buffer. */
static void exchange_pump_response(struct exchange *ex)
{
    struct worker *w = ex->c->w;

    while ((ex->flags & EX_F_RESP_HEAD) && !(client_state(ex) & (CL_BUSY | CL_GONE))) {
        struct upconn *u = ex->up;
        uv_buf_t iov[SENDQ_IOV];
        unsigned n = 0, flags = 0;
        size_t used = 0;

        if (!(ex->flags & EX_F_HEAD_OUT))
            flags |= CL_SEND_HEAD;
        if (u != NULL) {
            size_t avail = u->in.len - u->in.off;
            /* one iovec stays free for the h1 side's head */
            int k = pump_fill(&ex->resp, u->in.p + u->in.off, avail, &used, iov,
                              SENDQ_IOV - 1);
            if (k < 0) {
                /* Before any byte went out this is still a clean 502; after, a cut. */
                log_warn("upstream %s: malformed chunked body", w->slots[ex->slot]->name);
                upstream_slot_failure(w, ex->slot);
                exchange_fail(ex, 502, "invalid upstream response body", 0, TERM_UPSTREAM,
                              PH_RESP_BODY);
                return;
            }
            n += (unsigned)k;
            if (u->eof && used == avail && n < SENDQ_IOV - 1)
                n += (unsigned)pump_eof(&ex->resp, iov + n);
            if (n == 0)
                iobuf_consume(&u->in, used); /* framing alone was consumed */
        }
        if (ex->resp.done && ex->resp.ended)
            flags |= CL_SEND_END;
        if (n == 0 && !(flags & CL_SEND_HEAD)) {
            if (flags & CL_SEND_END) {
                /* h1: the framing already ended it; h2: END_STREAM (or trailers) */
                int r = ex->ops->send(ex, NULL, 0, CL_SEND_END);
                if (r < 0)
                    exchange_abort(ex, TERM_CLIENT, PH_RESP_BODY);
                else if (r == 1)
                    exchange_finish(ex);
                return; /* r == 0: exchange_on_client_written() finishes */
            }
            if (u == NULL || u->eof) {
                /* The upstream ended before the body did: cut, never complete it. */
                exchange_abort(ex, TERM_UPSTREAM, PH_RESP_BODY);
                return;
            }
            upstream_rx_resume(u);
            return;
        }
        ex->resp_used = used;
        ex->flags |= EX_F_HEAD_OUT;
        int r = ex->ops->send(ex, iov, n, flags);
        if (r < 0) {
            exchange_abort(ex, TERM_CLIENT, PH_RESP_BODY);
            return;
        }
        if (r == 0) {
            if (!(ex->flags & EX_F_RELAY))
                deadline_arm(&w->wheel, ex->cdl, DL_CLIENT, w->cfg->timeouts.client_ms);
            return;
        }
        exchange_on_client_written(ex, 0);
        return;
    }
}

/* A write to the client finished (the response, an edge error page or a 100 Continue). */
void exchange_on_client_written(struct exchange *ex, int status)
{
    struct upconn *u = ex->up;

    if (status < 0) {
        exchange_abort(ex, TERM_CLIENT, PH_RESP_BODY);
        return;
    }
    if (!(ex->flags & EX_F_HEAD_OUT)) { /* it was the 100 Continue */
        exchange_pump_response(ex);
        return;
    }
    if (ex->flags & EX_F_CANNED) {
        exchange_finish(ex);
        return;
    }
    if (u != NULL)
        iobuf_consume(&u->in, ex->resp_used);
    ex->resp_used = 0;
    if (!(ex->flags & EX_F_RELAY) && (ex->flags & EX_F_REQ_DONE))
        deadline_cancel(&ex->c->w->wheel, ex->cdl);
    if (ex->resp.done && ex->resp.ended) {
        exchange_finish(ex);
        return;
    }
    exchange_pump_response(ex);
}

void exchange_on_up_eof(struct exchange *ex, int err)
{
    struct worker *w = ex->c->w;
    struct upconn *u = ex->up;

    if (ex->flags & EX_F_RESP_HEAD) {
        /* Until-close bodies end here cleanly; anything else is truncated, which
         * exchange_pump_response() finds once the buffered bytes are out. */
        if (!(client_state(ex) & CL_BUSY))
            exchange_pump_response(ex);
        return;
    }
    /* No response yet. A connection we reused may have been closed by the upstream just
     * as we sent (keep-alive race): safe to replay only without a body and when the
     * method is idempotent, or when nothing was sent. */
    int reused = u != NULL && u->nreqs > 1;
    log_debug("upstream %s ended before a response: %s",
              ex->slot < w->nslots ? w->slots[ex->slot]->name : "?", uv_strerror(err));
    int replayable = !(ex->flags & EX_F_REQ_SENT) ||
                     ((ex->flags & EX_F_IDEMPOTENT) && !(ex->flags & EX_F_HAS_BODY));
    if (!reused)
        upstream_slot_failure(w, ex->slot);
    if (u != NULL)
        upstream_close(u);
    if (replayable && ex->attempts < MAX_ATTEMPTS) {
        if (reused) /* the same target may be fine: let it be picked again */
            ex->tried = 0;
        ex->flags &= ~(EX_F_REQ_SENT | EX_F_REQ_DONE);
        exchange_connect(ex, 0);
        return;
    }
    exchange_fail(ex, 502, "upstream closed the connection", 0, TERM_UPSTREAM, PH_RESP_HEAD);
}

void exchange_on_up_timeout(struct exchange *ex)
{
    if (ex->flags & EX_F_RESP_HEAD) {
        exchange_abort(ex, TERM_UPSTREAM, PH_RESP_BODY);
        return;
    }
    upstream_slot_failure(ex->c->w, ex->slot);
    exchange_fail(ex, 504, "upstream timed out", 0, TERM_UPSTREAM, PH_RESP_HEAD);
}
