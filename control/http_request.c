/*
 * http_request: the read side of the control API's HTTP/1.1 server (http_server.c has
 * the listener, the answers and the contract's functions; the types are in
 * http_server_internal.h). It turns a connection's bytes into a complete, authenticated
 * request for the handler, or into one of the server's own error answers.
 *
 * How bytes flow through a connection:
 *   rbuf (4 KiB, grown to HEAD_MAX while a head is incomplete) receives what the client
 *   sends. Once a head parses (router/h1_parse.h, the data plane's strict parser), the
 *   strings the handler will see (method, decoded path, query, If-Match, Content-Type)
 *   are copied into the request's own buffer (req.mem), the caller is authenticated, and
 *   the body is moved from rbuf into req.mem behind the strings (de-chunked on the way),
 *   so rbuf never holds more than a head. The handler's view points only into req.mem:
 *   while the handler holds a request, rbuf can keep receiving (pipelined bytes, EOF)
 *   without moving anything the view points at. rbuf is only read into its free tail
 *   then; when it is full, reading pauses until the answer.
 *
 * One request at a time: nothing after a dispatched head is parsed until that request
 * is answered, so answers leave in request order. Authentication comes after the head
 * and before the body: an unauthenticated caller's body is never read.
 */
#include "control/http_server_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "router/base/list.h"
#include "router/base/span.h"
#include "router/h1_parse.h"

#define HEAD_MAX     16384u /* bytes of a request head with its CRLFCRLF; over → 431 */
#define REQ_LINE_MAX 8192u  /* bytes of the request line; over → 414 */
#define FIELDS_MAX   64u    /* header fields per request; over → 431 */
#define RBUF_MIN     4096u  /* first size of rbuf; doubled up to HEAD_MAX for big heads */
#define TRAILER_MAX  4096u  /* bytes of chunked trailers (validated, then dropped) */

static const struct h1_limits head_limits = {REQ_LINE_MAX, HEAD_MAX, FIELDS_MAX};

/* ---- reading a request ----------------------------------------------------------------- */

static int req_reserve(struct ctl_request *q, size_t need)
{
    if (need <= q->cap)
        return 0;
    size_t ncap = q->cap ? q->cap : 256;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    char *m = realloc(q->mem, ncap);
    if (m == NULL)
        return -ENOMEM;
    q->mem = m;
    q->cap = ncap;
    return 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = ascii_lower(ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Percent-decodes in into out (room for in.len bytes). Returns the length, or -1 for an
 * invalid escape or one that decodes to NUL (it would cut the handler's string short). */
static int pct_decode(struct span in, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < in.len; i++) {
        char ch = in.ptr[i];
        if (ch == '%') {
            if (in.len - i < 3)
                return -1;
            int hi = hexval(in.ptr[i + 1]), lo = hexval(in.ptr[i + 2]);
            if (hi < 0 || lo < 0 || (hi | lo) == 0)
                return -1;
            ch = (char)(hi << 4 | lo);
            if (ch == '/')
                return -1; /* an encoded slash would become a segment separator */
            i += 2;
        }
        out[o++] = ch;
    }
    return (int)o;
}

static void put_str(struct ctl_request *q, struct span v)
{
    if (v.len > 0)
        memcpy(q->mem + q->len, v.ptr, v.len);
    q->len += v.len;
    q->mem[q->len++] = '\0';
}

/* Copies what the handler sees into q->mem (the head's bytes in rbuf are then free to go)
 * and reserves room for body_hint bytes of body. Returns 0, -400 with *why, or -ENOMEM. */
static int req_fill(struct ctl_request *q, const struct h1_request *hr, size_t body_hint,
                    const char **why)
{
    struct span ifm = SPAN_NULL, ct = SPAN_NULL, path = hr->path, query = SPAN_NULL;
    int nifm = 0, nct = 0;

    for (size_t i = 0; i < hr->nfields; i++) {
        const struct h1_field *f = &hr->fields[i];
        if (span_ieq(f->name, SPAN_LIT("If-Match"))) {
            ifm = f->value;
            nifm++;
        } else if (span_ieq(f->name, SPAN_LIT("Content-Type"))) {
            ct = f->value;
            nct++;
        }
    }
    if (nifm > 1 || nct > 1) {
        *why = nifm > 1 ? "duplicate If-Match" : "duplicate Content-Type";
        return -400;
    }
    const char *qm = memchr(path.ptr, '?', path.len);
    if (qm != NULL) {
        query = span_make(qm + 1, path.len - (size_t)(qm + 1 - path.ptr));
        path.len = (size_t)(qm - path.ptr);
    }
    size_t strs = hr->method.len + path.len + query.len + ifm.len + ct.len + 6;
    if (body_hint > SIZE_MAX - strs || req_reserve(q, strs + body_hint) != 0)
        return -ENOMEM;
    q->len = 0;
    put_str(q, hr->method);
    q->o_path = q->len;
    int n = pct_decode(path, q->mem + q->len);
    if (n < 0) {
        *why = "invalid percent-escape (or %00, %2F) in the path";
        return -400;
    }
    q->len += (size_t)n;
    q->mem[q->len++] = '\0';
    q->o_query = q->len;
    put_str(q, query);
    q->o_if_match = nifm ? q->len : NO_OFF;
    if (nifm)
        put_str(q, ifm);
    q->o_ctype = nct ? q->len : NO_OFF;
    if (nct)
        put_str(q, ct);
    q->o_body = q->len;
    q->mem[q->len] = '\0';
    return 0;
}

/* 1 when the request carries exactly one "Authorization: Bearer <t>" whose t is one of
 * the tokens. Every digest is compared, so the time does not say which one matched. */
static int authorized(const struct ctl_server *s, const struct h1_request *hr)
{
    struct span v = SPAN_NULL;
    int n = 0, ok = 0;
    unsigned char d[SHA256_DIGEST_LENGTH];

    for (size_t i = 0; i < hr->nfields; i++) {
        if (span_ieq(hr->fields[i].name, SPAN_LIT("Authorization"))) {
            v = hr->fields[i].value;
            n++;
        }
    }
    /* auth-scheme is case-insensitive (RFC 9110 §11.1), then 1*SP, then the token. */
    if (n != 1 || v.len < 8 || !span_ieq(span_make(v.ptr, 6), SPAN_LIT("Bearer")) ||
        v.ptr[6] != ' ')
        return 0;
    struct span t = span_trim(span_make(v.ptr + 7, v.len - 7));
    if (t.len == 0 || SHA256((const unsigned char *)t.ptr, t.len, d) == NULL)
        return 0;
    for (size_t i = 0; i < s->ntok; i++)
        ok |= CRYPTO_memcmp(d, s->tok[i], sizeof d) == 0;
    return ok;
}

/* Hands the complete request to the handler. Returns 1: ctl_conn_process() goes on (the
 * handler may have answered already). */
static int conn_dispatch(struct conn *c)
{
    struct ctl_request *q = &c->req;

    q->mem[q->len] = '\0';
    q->view = (struct ctl_request_view){
        .method = q->mem,
        .path = q->mem + q->o_path,
        .query = q->mem + q->o_query,
        .if_match = q->o_if_match == NO_OFF ? NULL : q->mem + q->o_if_match,
        .content_type = q->o_ctype == NO_OFF ? NULL : q->mem + q->o_ctype,
        .body = q->mem + q->o_body,
        .body_len = q->len - q->o_body,
    };
    if (c->roff == c->rlen)
        c->roff = c->rlen = 0;
    c->state = CS_HANDLER;
    uv_timer_stop(&c->timer);
    c->s->handler(q, &q->view, c->s->ud);
    return 1;
}

/* Makes room in rbuf for more of an incomplete head: compact, grow, or 431. */
static int conn_head_room(struct conn *c)
{
    if (c->rlen < c->rcap)
        return 0;
    if (c->roff > 0) {
        memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
        c->rlen -= c->roff;
        c->roff = 0;
        return 0;
    }
    if (c->rcap >= HEAD_MAX) {
        ctl_conn_error(c, 431, "request head too large", NULL, 1);
        return 0;
    }
    char *nb = realloc(c->rbuf, c->rcap * 2);
    if (nb == NULL) {
        ctl_conn_error(c, 500, "out of memory", NULL, 1);
        return 0;
    }
    c->rbuf = nb;
    c->rcap *= 2;
    return 0;
}

/* CS_HEAD: parses a head, authenticates, and starts the body or dispatches.
 * Returns 1 when ctl_conn_process() should go on, 0 when it waits for bytes (or closed). */
static int conn_read_head(struct conn *c)
{
    struct ctl_server *s = c->s;
    struct h1_field fields[FIELDS_MAX];
    struct h1_request hr;
    const char *why = NULL;
    size_t avail = c->rlen - c->roff;

    if (avail == 0) {
        c->roff = c->rlen = 0;
        if (c->flags & CF_EOF)
            ctl_conn_linger(c); /* the client is done: flush what is queued, then close */
        return 0;
    }
    int r = h1_parse_request(c->rbuf + c->roff, avail, &head_limits, &hr, fields, FIELDS_MAX);
    if (r == 0) {
        if (c->flags & CF_EOF) {
            ctl_conn_error(c, 400, "connection closed inside a request head", NULL, 1);
            return 0;
        }
        if (!(c->flags & CF_HEAD_TIMER)) {
            c->flags |= CF_HEAD_TIMER;
            ctl_conn_arm(c, s->idle_ms);
        }
        return conn_head_room(c);
    }
    if (r < 0) {
        ctl_conn_error(c, -r, hr.error ? hr.error : "malformed request", NULL, 1);
        return 0;
    }
    c->roff += (size_t)r; /* hr's spans stay valid: rbuf is not touched until req_fill */
    c->flags &= ~(CF_HEAD_TIMER | CF_REQ_CLOSE | CF_REQ_HEAD);
    if ((hr.flags & H1_F_CONN_CLOSE) || hr.minor == 0)
        c->flags |= CF_REQ_CLOSE;
    if (hr.method_id == H1_M_HEAD)
        c->flags |= CF_REQ_HEAD;

    int has_body = hr.body != H1_BODY_NONE;
    size_t hint = hr.body == H1_BODY_LENGTH && hr.content_length <= s->max_body
                      ? (size_t)hr.content_length
                      : 0;
    int rc = req_fill(&c->req, &hr, hint, &why);
    if (rc != 0) {
        ctl_conn_error(c, rc == -ENOMEM ? 500 : -rc, rc == -ENOMEM ? "out of memory" : why, NULL,
                       1);
        return 0;
    }
    const char *path = c->req.mem + c->req.o_path;
    if (!(hr.method_id == H1_M_GET && strcmp(path, "/v1/health") == 0) && !authorized(s, &hr)) {
        /* The body was not read: a connection that announced one cannot go on. */
        ctl_conn_error(c, 401, "a valid bearer token is required", "WWW-Authenticate: Bearer\r\n",
                       has_body);
        return 1;
    }
    if (!has_body)
        return conn_dispatch(c);
    if (hr.body == H1_BODY_LENGTH) {
        if (hr.content_length > s->max_body) {
            ctl_conn_error(c, 413, "request body too large", NULL, 1);
            return 0;
        }
        c->req.chunked = 0;
        c->req.body_left = hr.content_length;
    } else {
        c->req.chunked = 1;
        h1_chunked_init(&c->req.ck, TRAILER_MAX);
    }
    if (hr.flags & H1_F_EXPECT_100) {
        uv_buf_t b = CBUF("HTTP/1.1 100 Continue\r\n\r\n");
        if (ctl_conn_send(c, &b, 1) != 0) {
            ctl_conn_close(c);
            return 0;
        }
    }
    c->state = CS_BODY;
    ctl_conn_arm(c, s->idle_ms);
    return 1;
}

/* CS_BODY: moves body bytes from rbuf into req.mem (decoding chunked framing). Returns
 * like conn_read_head(). */
static int conn_read_body(struct conn *c)
{
    struct ctl_request *q = &c->req;
    const char *in = c->rbuf + c->roff;
    size_t avail = c->rlen - c->roff;

    if (!q->chunked) {
        size_t n = avail < q->body_left ? avail : (size_t)q->body_left;
        if (n > 0)
            memcpy(q->mem + q->len, in, n); /* reserved by req_fill */
        q->len += n;
        q->body_left -= n;
        c->roff += n;
        if (q->body_left == 0)
            return conn_dispatch(c);
    } else {
        for (;;) {
            size_t used = 0;
            struct span d;
            int r = h1_chunked_next(&q->ck, in, avail, &used, &d);
            if (r < 0) {
                ctl_conn_error(c, 400, "malformed chunked body", NULL, 1);
                return 0;
            }
            in += used;
            avail -= used;
            c->roff += used;
            if (r == 2)
                return conn_dispatch(c);
            if (r == 0)
                break;
            if (d.len > c->s->max_body - (q->len - q->o_body)) {
                ctl_conn_error(c, 413, "request body too large", NULL, 1);
                return 0;
            }
            if (req_reserve(q, q->len + d.len + 1) != 0) {
                ctl_conn_error(c, 500, "out of memory", NULL, 1);
                return 0;
            }
            memcpy(q->mem + q->len, d.ptr, d.len);
            q->len += d.len;
        }
    }
    /* Everything in rbuf was body: it is empty again. */
    c->roff = c->rlen = 0;
    if (c->flags & CF_EOF) {
        ctl_conn_error(c, 400, "connection closed inside a request body", NULL, 1);
        return 0;
    }
    ctl_conn_arm(c, c->s->idle_ms);
    return 0;
}

void ctl_conn_process(struct conn *c)
{
    c->flags |= CF_PROCESSING;
    list_unlink(&c->resume);
    for (;;) {
        int more = 0;
        if (c->flags & CF_CLOSING)
            break;
        if (c->state == CS_HEAD)
            more = conn_read_head(c);
        else if (c->state == CS_BODY)
            more = conn_read_body(c);
        if (!more)
            break;
    }
    c->flags &= ~CF_PROCESSING;
    if (c->state == CS_HEAD || c->state == CS_BODY) /* rbuf has room again */
        ctl_conn_rx_resume(c);
}

/* ---- reading from the socket ----------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    struct conn *c = h->data;
    (void)hint;
    if (c->state == CS_SSE || c->state == CS_LINGER || c->state == CS_DONE) {
        *b = uv_buf_init(c->s->discard, sizeof c->s->discard);
        return;
    }
    if (c->rbuf == NULL) {
        c->rbuf = malloc(RBUF_MIN);
        c->rcap = c->rbuf ? RBUF_MIN : 0;
    }
    /* An empty buffer makes libuv report UV_ENOBUFS (rbuf full, or no memory). */
    *b = uv_buf_init(c->rbuf ? c->rbuf + c->rlen : NULL, (unsigned)(c->rcap - c->rlen));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct conn *c = st->data;
    (void)b;

    if (n == 0)
        return;
    if (n == UV_ENOBUFS) {
        uv_read_stop(st);
        if (c->state == CS_HANDLER)
            c->flags |= CF_RX_PAUSED; /* resumed after the answer */
        else
            ctl_conn_close(c); /* no memory for a buffer */
        return;
    }
    if (n < 0) {
        uv_read_stop(st);
        if (n != UV_EOF) { /* reset: the client is gone (an unanswered request is dropped) */
            ctl_conn_close(c);
            return;
        }
        c->flags |= CF_EOF;
        switch (c->state) {
        case CS_SSE:
            ctl_conn_close(c);
            return; /* on_close runs from the close callback */
        case CS_LINGER:
            if (c->flags & CF_SHUT_DONE)
                ctl_conn_close(c);
            return;
        case CS_HANDLER:
            return; /* maybe only a half-close: the answer still goes out */
        case CS_DONE:
            return;
        case CS_HEAD:
        case CS_BODY:
            ctl_conn_process(c);
            return;
        }
        return;
    }
    if (c->state != CS_HEAD && c->state != CS_BODY && c->state != CS_HANDLER)
        return; /* discarded */
    c->rlen += (size_t)n;
    if (c->state != CS_HANDLER) /* else parsed once the request is answered */
        ctl_conn_process(c);
}

int ctl_conn_read_start(struct conn *c)
{
    return uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* Restarts reading that a full rbuf stopped (CF_RX_PAUSED). */
void ctl_conn_rx_resume(struct conn *c)
{
    if ((c->flags & (CF_CLOSING | CF_EOF | CF_RX_PAUSED)) != CF_RX_PAUSED)
        return;
    c->flags &= ~CF_RX_PAUSED;
    if (ctl_conn_read_start(c) != 0)
        ctl_conn_close(c);
}
