/*
 * h2_stream: one HTTP/2 stream as the client side of an exchange (struct client_ops).
 *
 * Request: nghttp2 has already validated the header block (pseudo-headers, their order
 * and duplicates, connection-specific fields, TE other than "trailers", upper-case
 * names, content-length against DATA; RFC 9113 §8.2-8.3) and reset malformed streams.
 * Fields are collected into ex.downhead as they are decoded; at END_HEADERS they become
 * an h1_request (spans into that buffer) and the exchange rebuilds the upstream head with
 * h1_write.c like for HTTP/1.1: the same hop-by-hop, X-Forwarded-* and X-Request-Id
 * rules. :authority routes and is forwarded as Host; a host field that disagrees is
 * dropped. Cookie fields are joined with "; " (RFC 9113 §8.2.3). A body without
 * content-length goes upstream chunked. Extended CONNECT with :protocol websocket
 * (RFC 8441) becomes a GET with Upgrade: websocket and a Sec-WebSocket-Key of our own;
 * the upstream's 101 becomes a 200 and the stream a tunnel.
 *
 * Request body flow control: DATA payload is copied into the stream's buffer (one pool
 * chunk; the stream window we advertise is that size) and the window is reopened
 * (nghttp2_session_consume) only when the exchange has written those bytes upstream.
 *
 * Response: the head is submitted at the exchange's first send; the body goes through a
 * data provider over the iovecs the exchange hands us (spans of the upstream's input
 * buffer). It returns NGHTTP2_ERR_DEFERRED when they are used up and is resumed by the
 * next send; the payload is copied into the connection's output queue when the frame is
 * serialised (NO_COPY), and only then is the send complete and the upstream buffer
 * consumed. Chunked trailers from the upstream are captured by the chunked decoder and
 * sent as a trailer HEADERS frame.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router/base/log.h"
#include "router/h1_chars.h"
#include "router/h2.h"

#define STREAM_FREE_MAX 256
#define H2_DATA_MAX 16384 /* our DATA frames, whatever SETTINGS_MAX_FRAME_SIZE allows */

static const struct client_ops h2_client_ops;

static struct h2_stream *stream_of(const struct exchange *ex)
{
    return container_of(ex, struct h2_stream, ex);
}

#define NV(n, v, nl, vl)                                                                       \
    ((nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), (nl), (vl), NGHTTP2_NV_FLAG_NONE})
#define NV_LIT(n, v) NV(n, v, sizeof(n) - 1, sizeof(v) - 1)
/* A field whose value is new in every response (x-request-id): sent as a literal never
 * indexed, so that it neither churns the HPACK dynamic tables (ours and the client's)
 * nor costs a table search and insertion per response. */
#define NV_UNIQUE(n, v, nl, vl)                                                                \
    ((nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), (nl), (vl), NGHTTP2_NV_FLAG_NO_INDEX})

/* --- lifetime --------------------------------------------------------------------------- */

static void stream_on_deadline(struct deadline *d)
{
    struct h2_stream *st = container_of(d, struct h2_stream, dl);
    struct h2_conn *h2 = st->h2;
    if (st->flags & ST_EX)
        exchange_abort(&st->ex, TERM_CLIENT, (st->flags & ST_RELAY) ? PH_RELAY : PH_BODY);
    h2_schedule(h2); /* the RST_STREAM */
}

struct h2_stream *h2_stream_new(struct h2_conn *h2, int32_t id)
{
    struct h2_worker *hw = h2->w->h2;
    struct h2_stream *st;
    struct list_node *n = list_first(&hw->free_streams);

    if (n != NULL) {
        list_unlink(n);
        hw->nfree--;
        st = container_of(n, struct h2_stream, link);
    } else {
        st = calloc(1, sizeof(*st));
        if (st == NULL)
            return NULL;
    }
    memset(&st->ex, 0, offsetof(struct exchange, uphead));
    st->ex.c = h2->c;
    st->ex.ops = &h2_client_ops;
    st->ex.in = &st->in;
    st->ex.cdl = &st->dl;
    st->h2 = h2;
    st->id = id;
    st->flags = ST_NG | ST_HEADERS | (h2->settings_acked ? 0 : ST_BIGBUF);
    st->hbytes = 0;
    st->nnv = 0;
    st->niov = st->iov_i = 0;
    st->iov_off = st->pending = 0;
    list_init(&st->done_link);
    deadline_init(&st->dl, stream_on_deadline);
    list_push_tail(&h2->streams, &st->link);
    h2->nstreams++;
    return st;
}

/* Reopens the flow-control windows by n request-body bytes: the stream's while nghttp2
 * still has it, always the connection's (shared by every stream). */
static void stream_window_return(struct h2_stream *st, size_t n)
{
    struct h2_conn *h2 = st->h2;
    if (h2->closed)
        return;
    if (st->flags & ST_NG)
        nghttp2_session_consume(h2->session, st->id, n);
    else
        nghttp2_session_consume_connection(h2->session, n);
    h2_schedule(h2); /* the WINDOW_UPDATE */
}

/* Request body bytes the client sent that will never go upstream (the exchange ended
 * early: an edge answer, an upstream that answered without reading, an abort) go back to
 * the flow-control windows, the connection's above all. */
static void stream_give_back(struct h2_stream *st)
{
    struct iobuf *in = &st->in;
    size_t n = (size_t)(in->len - in->off);

    if (n == 0)
        return;
    in->off = in->len = 0;
    stream_window_return(st, n);
}

void h2_stream_release(struct h2_stream *st)
{
    if (st->flags & (ST_NG | ST_EX | ST_FREE))
        return;
    struct h2_conn *h2 = st->h2;
    struct worker *w = h2->w;
    struct h2_worker *hw = w->h2;

    stream_give_back(st);
    deadline_cancel(&w->wheel, &st->dl);
    list_unlink(&st->link);
    list_unlink(&st->done_link);
    h2->nstreams--;
    iobuf_release(w, &st->in);
    iobuf_release(w, &st->ex.uphead);
    iobuf_release(w, &st->ex.downhead);
    st->flags = ST_FREE;
    if (hw->nfree < STREAM_FREE_MAX) {
        list_push_head(&hw->free_streams, &st->link);
        hw->nfree++;
    } else {
        free(st);
    }
}

void h2_stream_free_list(struct h2_worker *hw, struct worker *w)
{
    struct list_node *n;
    (void)w;
    while ((n = list_first(&hw->free_streams)) != NULL) {
        list_unlink(n);
        free(container_of(n, struct h2_stream, link));
    }
    hw->nfree = 0;
}

void h2_stream_abort(struct h2_stream *st, enum term_side side)
{
    if (st->flags & ST_EX)
        exchange_abort(&st->ex, side, (st->flags & ST_RELAY) ? PH_RELAY : PH_BODY);
    else
        h2_stream_release(st);
}

void h2_stream_closed(struct h2_stream *st, uint32_t error_code)
{
    st->flags &= ~ST_NG;
    if (st->flags & ST_EX) {
        /* A reset (by the client or for its error) before our END_STREAM: the exchange
         * stops. After it, the queued completion finishes the exchange normally. */
        if (!(st->flags & ST_END_SENT) || error_code != NGHTTP2_NO_ERROR)
            exchange_abort(&st->ex, TERM_CLIENT, (st->flags & ST_RELAY) ? PH_RELAY : PH_BODY);
        return;
    }
    h2_stream_release(st);
}

/* --- the request ------------------------------------------------------------------------ */

/* Field records in ex.downhead while the header block arrives: u32 name length, u32 value
 * length, name, value. */
int h2_stream_header(struct h2_stream *st, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen)
{
    struct iobuf *b = &st->ex.downhead;
    size_t need = (size_t)b->len + 8 + namelen + valuelen;
    if (need > b->cap) {
        size_t cap = b->cap ? (size_t)b->cap * 2 : BUFPOOL_CHUNK;
        while (cap < need)
            cap *= 2;
        if (iobuf_reserve(st->h2->w, b, cap) != 0)
            return -1;
    }
    uint32_t l[2] = {(uint32_t)namelen, (uint32_t)valuelen};
    memcpy(b->p + b->len, l, sizeof l);
    memcpy(b->p + b->len + 8, name, namelen);
    memcpy(b->p + b->len + 8 + namelen, value, valuelen);
    b->len = (uint32_t)need;
    return 0;
}

struct rec {
    struct span name, value;
};

static int rec_next(const struct iobuf *b, size_t *off, struct rec *r)
{
    uint32_t l[2];
    if (*off + 8 > b->len)
        return 0;
    memcpy(l, b->p + *off, sizeof l);
    r->name = span_make(b->p + *off + 8, l[0]);
    r->value = span_make(b->p + *off + 8 + l[0], l[1]);
    *off += 8 + (size_t)l[0] + l[1];
    return 1;
}

static int lit_eq(struct span s, const char *lit, size_t n)
{
    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}
#define EQ(s, lit) lit_eq((s), (lit), sizeof(lit) - 1)

/* Answers the request with the edge's own status, without routing it. */
static void stream_reject(struct h2_stream *st, int status, const char *why, struct span method,
                          struct span path)
{
    struct exchange *ex = &st->ex;
    struct worker *w = st->h2->w;

    memset(ex, 0, offsetof(struct exchange, uphead));
    ex->slot = UINT32_MAX;
    ex->minor = 1;
    ex->flags = EX_F_ACTIVE;
    ex->t_start = uv_now(&w->loop);
    ex->method_len = (uint8_t)(method.len < sizeof ex->method ? method.len : sizeof ex->method - 1);
    memcpy(ex->method, method.ptr, ex->method_len);
    ex->path_len = (uint16_t)(path.len < sizeof ex->path ? path.len : sizeof ex->path);
    memcpy(ex->path, path.ptr, ex->path_len);
    if (EQ(method, "HEAD"))
        ex->flags |= EX_F_HEAD_REQ;
    log_debug("h2 client %s stream %d: %d %s", st->h2->c->peer_ip, (int)st->id, status, why);
    h2_count_error(st->h2);
    exchange_reject(ex, status, why);
}

static void ws_key(struct worker *w, char out[24])
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t raw[18];
    uint64_t a = worker_random(w), b = worker_random(w);
    memcpy(raw, &a, 8);
    memcpy(raw + 8, &b, 8);
    raw[16] = raw[17] = 0;
    for (int i = 0, o = 0; i < 18; i += 3, o += 4) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        out[o] = b64[(v >> 18) & 63];
        out[o + 1] = b64[(v >> 12) & 63];
        out[o + 2] = b64[(v >> 6) & 63];
        out[o + 3] = b64[v & 63];
    }
    out[22] = out[23] = '='; /* 16 bytes: 22 characters and two pads */
}

void h2_stream_request(struct h2_stream *st)
{
    struct h2_conn *h2 = st->h2;
    struct worker *w = h2->w;
    struct exchange *ex = &st->ex;
    struct iobuf *b = &ex->downhead;
    struct span method = SPAN_LIT("-"), path = SPAN_LIT("-"), authority = SPAN_NULL,
                protocol = SPAN_NULL, host = SPAN_NULL;
    size_t off = 0, cookie_len = 0, ncookie = 0, nf = 1;
    int has_cl = 0, expect = 0, has_key = 0, has_version = 0;
    uint64_t cl = 0;
    struct rec r;

    st->flags |= ST_EX; /* from here on the stream answers through its exchange */
    h2->nex++;
    if (st->flags & ST_TOO_BIG) {
        stream_reject(st, 431, "request header fields too large", method, path);
        return;
    }
    /* Room for the joined cookie and a WebSocket key, before any span is taken. */
    while (rec_next(b, &off, &r))
        if (EQ(r.name, "cookie")) {
            cookie_len += r.value.len + 2;
            ncookie++;
        }
    if (iobuf_reserve(w, b, (size_t)b->len + cookie_len + 64) != 0) {
        stream_reject(st, 500, "out of memory", method, path);
        return;
    }
    struct h1_field *f = w->fields;
    size_t cap = w->fields_cap;
    const char *why = NULL;
    int status = 400;
    off = 0;
    while (rec_next(b, &off, &r)) {
        if (r.name.len > 0 && r.name.ptr[0] == ':') {
            if (EQ(r.name, ":method"))
                method = r.value;
            else if (EQ(r.name, ":path"))
                path = r.value;
            else if (EQ(r.name, ":authority"))
                authority = r.value;
            else if (EQ(r.name, ":protocol"))
                protocol = r.value;
            continue; /* :scheme: http or https, nothing to forward */
        }
        enum h1_tok tok = h1_intern(r.name.ptr, r.name.len);
        if (tok == TOK_HOST) {
            host = r.value;
            continue;
        }
        if (tok == TOK_CONTENT_LENGTH) { /* nghttp2 checked it against the DATA */
            if (has_cl || span_to_u64(r.value, &cl) != 0)
                why = "bad content-length";
            has_cl = 1;
            continue;
        }
        if (tok == TOK_EXPECT) {
            if (r.value.len == 12 && span_ieq(r.value, SPAN_LIT("100-continue")))
                expect = 1;
            else {
                why = "unsupported expect";
                status = 417;
            }
            continue;
        }
        if (EQ(r.name, "cookie"))
            continue;
        if (EQ(r.name, "sec-websocket-key"))
            has_key = 1;
        else if (EQ(r.name, "sec-websocket-version"))
            has_version = 1;
        if (nf + 4 >= cap) {
            why = "too many header fields";
            status = 431;
            break;
        }
        f[nf++] = (struct h1_field){r.name, r.value, tok, 0};
    }
    if (why != NULL) {
        stream_reject(st, status, why, method, path);
        return;
    }
    if (ncookie > 0) {
        char *dst = b->p + b->len;
        size_t k = 0;
        off = 0;
        while (rec_next(b, &off, &r)) {
            if (!EQ(r.name, "cookie"))
                continue;
            if (k > 0) {
                memcpy(dst + k, "; ", 2);
                k += 2;
            }
            memcpy(dst + k, r.value.ptr, r.value.len);
            k += r.value.len;
        }
        b->len += (uint32_t)k;
        f[nf++] = (struct h1_field){SPAN_LIT("cookie"), span_make(dst, k), TOK_OTHER, 0};
    }
    /* :authority routes; a disagreeing host field loses (and is not forwarded). */
    struct span hv = authority.ptr != NULL ? authority : host;
    int host_ok = hv.len > 0;
    for (size_t i = 0; i < hv.len && host_ok; i++)
        host_ok = IS(hv.ptr[i], C_HOST);
    if (!host_ok) {
        stream_reject(st, 400, "missing or invalid :authority", method, path);
        return;
    }
    f[0] = (struct h1_field){SPAN_LIT("host"), hv, TOK_HOST, 0};

    struct h1_request req;
    memset(&req, 0, sizeof req);
    req.method = method;
    if (EQ(method, "CONNECT")) {
        /* RFC 9113 §8.5 CONNECT makes a forward proxy, which the edge is not; RFC 8441's
         * extended CONNECT for WebSocket is relayed to an HTTP/1.1 upgrade. */
        if (protocol.ptr == NULL) {
            stream_reject(st, 400, "CONNECT not supported", method, path);
            return;
        }
        if (!span_ieq(protocol, SPAN_LIT("websocket"))) {
            stream_reject(st, 400, "unsupported :protocol", method, path);
            return;
        }
        req.method = SPAN_LIT("GET");
        req.flags |= H1_F_UPGRADE_WS;
        if (!has_key) {
            char *k = b->p + b->len;
            ws_key(w, k);
            b->len += 24;
            f[nf++] = (struct h1_field){SPAN_LIT("sec-websocket-key"), span_make(k, 24),
                                        TOK_OTHER, 0};
        }
        if (!has_version)
            f[nf++] = (struct h1_field){SPAN_LIT("sec-websocket-version"), SPAN_LIT("13"),
                                        TOK_OTHER, 0};
    } else if (protocol.ptr != NULL) {
        stream_reject(st, 400, ":protocol without CONNECT", method, path);
        return;
    }
    req.method_id = h1_method_id(req.method.ptr, req.method.len);
    /* The path goes into an HTTP/1.1 request line: request-target bytes only. */
    int path_ok = path.len > 0 && (path.ptr[0] == '/' ||
                                   (path.len == 1 && path.ptr[0] == '*' &&
                                    req.method_id == H1_M_OPTIONS));
    for (size_t i = 0; i < path.len && path_ok; i++)
        path_ok = IS(path.ptr[i], C_TARGET);
    if (!path_ok) {
        stream_reject(st, 400, "bad :path", method, path);
        return;
    }
    req.target = req.path = path;
    req.host = hv;
    req.minor = 1;
    req.fields = f;
    req.nfields = nf;
    if (expect)
        req.flags |= H1_F_EXPECT_100;
    if ((req.flags & H1_F_UPGRADE_WS) || (st->flags & ST_EOF))
        req.body = H1_BODY_NONE;
    else if (has_cl) {
        req.body = cl > 0 ? H1_BODY_LENGTH : H1_BODY_NONE;
        req.content_length = cl;
    } else {
        req.body = H1_BODY_CHUNKED; /* exchange.c reads it as "until END_STREAM" */
    }
    exchange_start(ex, &req);
}

void h2_stream_data(struct h2_stream *st, const uint8_t *data, size_t len)
{
    struct h2_conn *h2 = st->h2;
    struct iobuf *in = &st->in;
    /* The window we gave the stream bounds its unconsumed bytes; streams opened before
     * the client saw our SETTINGS may use the RFC's default window. */
    size_t cap = (st->flags & ST_BIGBUF) ? H2_EARLY_WINDOW : H2_STREAM_WINDOW;

    if ((in->p == NULL && iobuf_reserve(h2->w, in, cap) != 0) || in->len + len > in->cap) {
        st->flags |= ST_OURS_RST;
        nghttp2_submit_rst_stream(h2->session, NGHTTP2_FLAG_NONE, st->id,
                                  in->p == NULL ? NGHTTP2_INTERNAL_ERROR
                                                : NGHTTP2_FLOW_CONTROL_ERROR);
        nghttp2_session_consume_connection(h2->session, len);
        return;
    }
    memcpy(in->p + in->len, data, len);
    in->len += (uint32_t)len;
    exchange_on_client_data(&st->ex);
}

void h2_stream_eof(struct h2_stream *st)
{
    st->flags |= ST_EOF;
    if ((st->flags & ST_EX) && st->ex.flags != 0)
        exchange_on_client_eof(&st->ex);
}

/* --- the response: data provider ------------------------------------------------------- */

static void complete_later(struct h2_stream *st)
{
    if (!list_linked(&st->done_link))
        list_push_tail(&st->h2->completions, &st->done_link);
}

static int has_trailers(const struct h2_stream *st)
{
    const struct h1_chunked *ck = &st->ex.resp.ck;
    return st->ex.resp.kind == H1_BODY_CHUNKED && ck->tr_buf != NULL && ck->tr_len > 0 &&
           !ck->tr_over;
}

/* Sends the captured upstream trailers; 1 when a trailer HEADERS frame was submitted. */
static int submit_trailers(struct h2_stream *st)
{
    struct h1_chunked *ck = &st->ex.resp.ck;
    struct iobuf *b = &st->ex.downhead; /* the response head was submitted: free */
    size_t max = 64;
    if (!has_trailers(st))
        return 0;
    b->len = b->off = 0;
    if (iobuf_reserve(st->h2->w, b, max * sizeof(nghttp2_nv)) != 0)
        return 0;
    nghttp2_nv *nv = (nghttp2_nv *)(void *)b->p;
    size_t k = 0;
    char *p = ck->tr_buf, *end = ck->tr_buf + ck->tr_len;
    while (p < end && k < max) {
        char *eol = memchr(p, '\r', (size_t)(end - p));
        char *colon = memchr(p, ':', (size_t)(end - p));
        if (eol == NULL || colon == NULL || colon > eol)
            break; /* the decoder validated the lines: cannot happen */
        size_t nl = (size_t)(colon - p);
        for (size_t i = 0; i < nl; i++)
            p[i] = ascii_lower(p[i]);
        struct span v = span_trim(span_make(colon + 1, (size_t)(eol - colon - 1)));
        enum h1_tok tok = h1_intern(p, nl);
        if (!h1_tok_is_hop_by_hop(tok))
            nv[k++] = NV(p, v.ptr, nl, v.len);
        p = eol + 2;
    }
    if (k == 0)
        return 0;
    return nghttp2_submit_trailer(st->h2->session, st->id, nv, k) == 0;
}

ssize_t h2_stream_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                       uint32_t *data_flags, nghttp2_data_source *source, void *user)
{
    struct h2_stream *st = source->ptr;
    (void)s; (void)id; (void)buf; (void)user;

    if (!(st->flags & ST_EX))
        return NGHTTP2_ERR_DEFERRED; /* aborted: our RST_STREAM is queued */
    if (st->pending == 0) {
        if (!(st->flags & ST_END)) {
            st->flags |= ST_DEFERRED; /* resumed by the next send */
            return NGHTTP2_ERR_DEFERRED;
        }
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        if (submit_trailers(st))
            *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        st->flags |= ST_END_SENT;
        complete_later(st);
        return 0;
    }
    size_t n = st->pending;
    if (n > length)
        n = length;
    if (n > H2_DATA_MAX)
        n = H2_DATA_MAX; /* bounds the output queue whatever frame size the client allows */
    *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (n == st->pending && (st->flags & ST_END)) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        if (submit_trailers(st))
            *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        st->flags |= ST_END_SENT;
    }
    return (ssize_t)n;
}

/* Called right after h2_stream_read() returned length with NO_COPY, in the same
 * mem_send: the frame goes into the output queue, the payload copied from the upstream's
 * buffer. */
int h2_stream_send_data(nghttp2_session *s, nghttp2_frame *frame, const uint8_t *framehd,
                        size_t length, nghttp2_data_source *source, void *user)
{
    struct h2_stream *st = source->ptr;
    struct h2_conn *h2 = user;
    (void)s;

    if (!(st->flags & ST_EX) || length > st->pending || frame->data.padlen > 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE; /* cannot happen: end the connection */
    h2_out_append(h2, framehd, 9);
    size_t left = length;
    while (left > 0) {
        uv_buf_t *v = &st->iov[st->iov_i];
        size_t take = v->len - st->iov_off;
        if (take > left)
            take = left;
        h2_out_append(h2, v->base + st->iov_off, take);
        st->iov_off += take;
        left -= take;
        if (st->iov_off == v->len) {
            st->iov_i++;
            st->iov_off = 0;
        }
    }
    st->pending -= length;
    if (st->pending == 0 && (st->flags & ST_SENDING) &&
        (!(st->flags & ST_END) || (st->flags & ST_END_SENT)))
        complete_later(st);
    return 0;
}

void h2_stream_completed(struct h2_stream *st)
{
    if (!(st->flags & ST_SENDING))
        return;
    st->flags &= ~ST_SENDING;
    if (st->flags & ST_EX)
        exchange_on_client_written(&st->ex, 0);
}

/* --- client_ops ------------------------------------------------------------------------- */

static unsigned h2s_state(const struct exchange *ex)
{
    const struct h2_stream *st = stream_of(ex);
    const struct h2_conn *h2 = st->h2;
    unsigned s = 0;
    if (st->flags & ST_EOF)
        s |= CL_EOF;
    if (st->flags & ST_SENDING)
        s |= CL_BUSY;
    if (!(st->flags & ST_NG) || h2->closed || h2->terminating)
        s |= CL_GONE;
    return s;
}

/* The three digits of a status code (llhttp and the edge's answers only make 100..999):
 * on every response, where snprintf cost more than the rest of the head. */
static size_t status_digits(char *s, unsigned status)
{
    s[0] = (char)('0' + status / 100 % 10);
    s[1] = (char)('0' + status / 10 % 10);
    s[2] = (char)('0' + status % 10);
    return 3;
}

/* The response head as nghttp2_nv entries at the start of ex.downhead, names lower-cased,
 * hop-by-hop fields dropped; a 101 (WebSocket accepted) becomes 200 (RFC 8441 §5). */
static int h2s_head(struct exchange *ex, const struct h1_response *resp)
{
    struct h2_stream *st = stream_of(ex);
    struct worker *w = st->h2->w;
    struct iobuf *b = &ex->downhead;
    const char *hsts = h1_hsts_value(ex, resp);
    size_t hsts_len = hsts ? strlen(hsts) : 0;
    size_t nmax = resp->nfields + 4, strings = 64 + sizeof ex->reqid + hsts_len;

    for (size_t i = 0; i < resp->nfields; i++)
        strings += resp->fields[i].name.len + resp->fields[i].value.len;
    b->len = b->off = 0;
    if (iobuf_reserve(w, b, nmax * sizeof(nghttp2_nv) + strings) != 0)
        return -1;
    nghttp2_nv *nv = (nghttp2_nv *)(void *)b->p;
    char *s = b->p + nmax * sizeof(nghttp2_nv);
    size_t k = 0;
    int has_reqid = 0;

    size_t sl = status_digits(s, resp->status == 101 ? 200 : resp->status);
    nv[k++] = NV(":status", s, 7, sl);
    s += sl;
    for (size_t i = 0; i < resp->nfields; i++) {
        const struct h1_field *fl = &resp->fields[i];
        /* content-length is the body's length in HTTP/2 too (or a HEAD's or 304's). */
        int keep_cl = fl->tok == TOK_CONTENT_LENGTH &&
                      (resp->body == H1_BODY_NONE || resp->body == H1_BODY_LENGTH);
        if (!keep_cl && (fl->drop || h1_tok_is_hop_by_hop(fl->tok)))
            continue;
        if (resp->status == 101 && span_ieq(fl->name, SPAN_LIT("sec-websocket-accept")))
            continue;
        if (fl->tok == TOK_X_REQUEST_ID)
            has_reqid = 1;
        for (size_t j = 0; j < fl->name.len; j++)
            s[j] = ascii_lower(fl->name.ptr[j]);
        memcpy(s + fl->name.len, fl->value.ptr, fl->value.len);
        nv[k++] = fl->tok == TOK_X_REQUEST_ID
                      ? NV_UNIQUE(s, s + fl->name.len, fl->name.len, fl->value.len)
                      : NV(s, s + fl->name.len, fl->name.len, fl->value.len);
        s += fl->name.len + fl->value.len;
    }
    if (!has_reqid)
        nv[k++] = NV_UNIQUE("x-request-id", ex->reqid, 12, strlen(ex->reqid));
    if (hsts != NULL) { /* copied: the config it lives in may be replaced before submit */
        memcpy(s, hsts, hsts_len);
        nv[k++] = NV("strict-transport-security", s, 25, hsts_len);
        s += hsts_len;
    }
    st->nnv = (uint32_t)k;
    /* Trailers of a chunked response are captured into the request head's buffer, which
     * nothing reads any more once the response began (unless its write is in flight). */
    if (resp->body == H1_BODY_CHUNKED && ex->uphead.p != NULL && ex->up != NULL &&
        !ex->up->tx.busy) {
        ex->resp.ck.tr_buf = ex->uphead.p;
        ex->resp.ck.tr_cap = ex->uphead.cap;
        ex->resp.ck.tr_len = 0;
    }
    return 0;
}

static int h2s_send(struct exchange *ex, const uv_buf_t *iov, unsigned n, unsigned flags)
{
    struct h2_stream *st = stream_of(ex);
    struct h2_conn *h2 = st->h2;
    size_t total = 0;

    if ((h2s_state(ex) & CL_GONE) || n > H2_IOV)
        return UV_ECANCELED;
    for (unsigned i = 0; i < n; i++) {
        st->iov[i] = iov[i];
        total += iov[i].len;
    }
    st->niov = n;
    st->iov_i = 0;
    st->iov_off = 0;
    st->pending = total;
    if (flags & CL_SEND_END)
        st->flags |= ST_END;
    if (flags & CL_SEND_HEAD) {
        nghttp2_data_provider prd = {.source.ptr = st, .read_callback = h2_stream_read};
        int bodiless = (flags & CL_SEND_END) && total == 0 && !has_trailers(st);
        if (nghttp2_submit_response(h2->session, st->id, (nghttp2_nv *)(void *)ex->downhead.p,
                                    st->nnv, bodiless ? NULL : &prd) != 0)
            return UV_EPROTO;
        st->flags |= ST_RESP | (bodiless ? ST_END_SENT : 0);
    } else if (st->flags & ST_DEFERRED) {
        st->flags &= ~ST_DEFERRED;
        nghttp2_session_resume_data(h2->session, st->id);
    }
    h2_schedule(h2);
    if (total == 0 && !((flags & CL_SEND_END) && !(st->flags & ST_END_SENT)))
        return 1; /* a head alone: nothing to wait for */
    st->flags |= ST_SENDING;
    return 0;
}

static int h2s_answer(struct exchange *ex, int status, const char *ctype, struct span location,
                      struct span body, uint32_t retry_after)
{
    struct h2_stream *st = stream_of(ex);
    struct h2_conn *h2 = st->h2;
    struct iobuf *b = &ex->downhead;
    nghttp2_nv nv[9];
    size_t k = 0;

    if (h2s_state(ex) & CL_GONE)
        return UV_ECANCELED;
    b->len = b->off = 0;
    if (iobuf_reserve(h2->w, b, 256 + body.len + location.len) != 0)
        return UV_ENOMEM;
    /* Everything nghttp2 or the data provider reads later lives in downhead. */
    char *s = b->p;
    int bl = (int)body.len;
    memcpy(s, body.ptr, body.len);
    char *num = s + body.len;
    size_t sl = status_digits(num, (unsigned)status);
    nv[k++] = NV(":status", num, 7, sl);
    nv[k++] = NV_LIT("server", "hostess-edge");
    nv[k++] = NV("content-type", (char *)ctype, 12, strlen(ctype));
    nv[k++] = NV_LIT("cache-control", "no-store");
    char *len = num + 4;
    int ll = snprintf(len, 24, "%d", bl);
    nv[k++] = NV("content-length", len, 14, (size_t)ll);
    char *more = len + 24;
    if (retry_after > 0) {
        int rl = snprintf(more, 24, "%u", retry_after);
        nv[k++] = NV("retry-after", more, 11, (size_t)rl);
        more += 24;
    }
    if (location.len > 0) {
        memcpy(more, location.ptr, location.len);
        nv[k++] = NV("location", more, 8, location.len);
    }
    if (ex->reqid[0] != '\0')
        nv[k++] = NV_UNIQUE("x-request-id", ex->reqid, 12, strlen(ex->reqid));
    int head_only = (ex->flags & EX_F_HEAD_REQ) != 0;
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = h2_stream_read};
    st->iov[0] = uv_buf_init(s, (unsigned)bl);
    st->niov = 1;
    st->iov_i = 0;
    st->iov_off = 0;
    st->pending = head_only ? 0 : (size_t)bl;
    st->flags |= ST_END;
    if (nghttp2_submit_response(h2->session, st->id, nv, k, head_only ? NULL : &prd) != 0)
        return UV_EPROTO;
    st->flags |= ST_RESP;
    h2_schedule(h2);
    if (head_only) {
        st->flags |= ST_END_SENT;
        return 1;
    }
    st->flags |= ST_SENDING;
    return 0;
}

static int h2s_interim(struct exchange *ex)
{
    struct h2_stream *st = stream_of(ex);
    nghttp2_nv nv[] = {NV_LIT(":status", "100")};
    if (h2s_state(ex) & CL_GONE)
        return UV_ECANCELED;
    if (nghttp2_submit_headers(st->h2->session, NGHTTP2_FLAG_NONE, st->id, NULL, nv, 1, NULL) < 0)
        return UV_EPROTO;
    h2_schedule(st->h2);
    return 1;
}

static void h2s_consume(struct exchange *ex, size_t n)
{
    struct h2_stream *st = stream_of(ex);
    if (n == 0)
        return;
    iobuf_consume(&st->in, n);
    iobuf_compact(&st->in); /* no write points into it now; keep the free room at the end */
    /* The bytes went upstream: now the client may send more (flow control is the
     * back-pressure). */
    stream_window_return(st, n);
}

static void h2s_rx_pause(struct exchange *ex)
{
    (void)ex; /* the stream window does it: it is reopened only by consume */
}

static void h2s_rx_resume(struct exchange *ex)
{
    (void)ex;
}

static void h2s_relay(struct exchange *ex)
{
    stream_of(ex)->flags |= ST_RELAY;
}

/* The exchange let go of the stream: it needs none of its buffers any more (nghttp2
 * copied the response and trailer fields; every body byte was serialised). */
static void stream_unuse(struct h2_stream *st)
{
    struct worker *w = st->h2->w;

    stream_give_back(st);
    if (st->flags & ST_EX)
        st->h2->nex--;
    st->flags &= ~(ST_EX | ST_SENDING);
    list_unlink(&st->done_link);
    iobuf_release(w, &st->in);
    iobuf_release(w, &st->ex.uphead);
    iobuf_release(w, &st->ex.downhead);
}

static void h2s_done(struct exchange *ex, int unread)
{
    struct h2_stream *st = stream_of(ex);
    struct h2_conn *h2 = st->h2;

    (void)unread;
    h2->completed++;
    stream_unuse(st);
    if ((st->flags & ST_NG) && !(st->flags & ST_EOF) && !h2->closed) {
        /* The response is complete but the client has not ended the request (a body left
         * unread, or all of it sent without END_STREAM): the stream would stay open, and
         * hold one of the 100 slots, for ever. RFC 9113 §8.1: a complete response may end
         * the request with RST_STREAM(NO_ERROR), after our END_STREAM (before it, the
         * reset would discard the rest of the response). */
        st->flags |= ST_OURS_RST;
        if (nghttp2_session_get_stream_local_close(h2->session, st->id) == 0) {
            st->flags |= ST_RST_LATER; /* on_frame_send() */
        } else {
            nghttp2_submit_rst_stream(h2->session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
            h2_schedule(h2);
        }
    }
    h2_stream_release(st);
}

static void h2s_close(struct exchange *ex, enum term_side side)
{
    struct h2_stream *st = stream_of(ex);
    struct h2_conn *h2 = st->h2;

    st->niov = 0;
    st->pending = 0;
    stream_unuse(st);
    st->flags &= ~ST_RST_LATER;
    if ((st->flags & ST_NG) && !h2->closed) {
        uint32_t code = side == TERM_CLIENT ? NGHTTP2_CANCEL
                        : side == TERM_NONE ? NGHTTP2_NO_ERROR
                                            : NGHTTP2_INTERNAL_ERROR;
        st->flags |= ST_OURS_RST;
        nghttp2_submit_rst_stream(h2->session, NGHTTP2_FLAG_NONE, st->id, code);
        h2_schedule(h2);
    }
    h2_stream_release(st);
}

static const struct client_ops h2_client_ops = {
    .h1 = 0,
    .state = h2s_state,
    .head = h2s_head,
    .send = h2s_send,
    .answer = h2s_answer,
    .interim = h2s_interim,
    .consume = h2s_consume,
    .rx_pause = h2s_rx_pause,
    .rx_resume = h2s_rx_resume,
    .relay = h2s_relay,
    .done = h2s_done,
    .close = h2s_close,
};
