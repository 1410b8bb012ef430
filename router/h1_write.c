/*
 * h1_write: serialises the heads the edge sends, always rebuilt from parsed fields
 * (CONTRACT §3): never a raw client or upstream byte outside a validated field.
 *
 * Request heads drop hop-by-hop fields and those named by Connection, write framing
 * (Content-Length or chunked) themselves, and add X-Forwarded-* and X-Request-Id.
 * Response heads drop hop-by-hop fields and write the framing the client side uses.
 */
#include <stdio.h>
#include <string.h>

#include "router/base/hostname.h"
#include "router/internal.h"

struct out {
    struct iobuf *b;
    int           err;
};

static void put(struct out *o, const char *p, size_t n)
{
    if (o->err)
        return;
    if (o->b->len + n > o->b->cap) {
        o->err = 1;
        return;
    }
    memcpy(o->b->p + o->b->len, p, n);
    o->b->len += (uint32_t)n;
}

#define PUT_LIT(o, s) put((o), (s), sizeof(s) - 1)

static void put_span(struct out *o, struct span s)
{
    put(o, s.ptr, s.len);
}

static void put_field(struct out *o, struct span name, struct span value)
{
    put_span(o, name);
    PUT_LIT(o, ": ");
    put_span(o, value);
    PUT_LIT(o, "\r\n");
}

static void put_u64(struct out *o, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    put(o, tmp, (size_t)n);
}

const char *h1_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}

static size_t head_room(const struct h1_field *f, size_t n, size_t extra)
{
    size_t need = extra;
    for (size_t i = 0; i < n; i++)
        need += f[i].name.len + f[i].value.len + 4;
    return need;
}

static int is_x_forwarded(struct span name)
{
    static const struct span prefix = SPAN_LIT("x-forwarded-");
    return name.len > prefix.len && span_ieq(span_make(name.ptr, prefix.len), prefix);
}

/* X-Forwarded-* and X-Request-Id from a client are kept only when it is a trusted proxy
 * (CONTRACT §3); otherwise the edge's own values replace them. */
int h1_build_request(struct exchange *ex, const struct h1_request *req)
{
    struct conn *c = ex->c;
    struct worker *w = c->w;
    struct span xfp = SPAN_NULL, xfh = SPAN_NULL;
    size_t need = head_room(req->fields, req->nfields, req->method.len + req->path.len + 512);
    ex->uphead.len = ex->uphead.off = 0;
    if (iobuf_reserve(w, &ex->uphead, need) != 0)
        return -1;
    struct out o = {&ex->uphead, 0};

    put_span(&o, req->method);
    PUT_LIT(&o, " ");
    put_span(&o, req->path);
    PUT_LIT(&o, " HTTP/1.1\r\n");
    for (size_t i = 0; i < req->nfields; i++) {
        const struct h1_field *f = &req->fields[i];
        switch (f->tok) {
        case TOK_X_FORWARDED_FOR: /* written below, all values in order */
            continue;
        case TOK_X_FORWARDED_PROTO:
            if (c->trusted && xfp.ptr == NULL)
                xfp = f->value;
            continue;
        case TOK_X_FORWARDED_HOST:
            if (c->trusted && xfh.ptr == NULL)
                xfh = f->value;
            continue;
        case TOK_X_REQUEST_ID:
        case TOK_EXPECT: /* the edge answers 100-continue itself */
            continue;
        default:
            break;
        }
        if (f->drop || h1_tok_is_hop_by_hop(f->tok))
            continue;
        if (!c->trusted && is_x_forwarded(f->name))
            continue; /* X-Forwarded-Port and friends: only a trusted proxy may say */
        put_field(&o, f->name, f->value);
    }
    if (req->host.ptr == NULL) /* HTTP/1.0 without Host: upstreams want one */
        put_field(&o, SPAN_LIT("Host"), span_make(ex->host, ex->host_len));
    if (req->body == H1_BODY_CHUNKED)
        PUT_LIT(&o, "Transfer-Encoding: chunked\r\n");
    else if (req->body == H1_BODY_LENGTH ||
             (req->content_length == 0 && req->method_id != H1_M_GET &&
              req->method_id != H1_M_HEAD && req->method_id != H1_M_OPTIONS &&
              req->method_id != H1_M_DELETE)) {
        PUT_LIT(&o, "Content-Length: ");
        put_u64(&o, req->content_length);
        PUT_LIT(&o, "\r\n");
    }
    if (ex->flags & EX_F_UPGRADE)
        PUT_LIT(&o, "Connection: upgrade\r\nUpgrade: websocket\r\n");
    PUT_LIT(&o, "X-Forwarded-For: ");
    for (size_t i = 0; c->trusted && i < req->nfields; i++) {
        if (req->fields[i].tok == TOK_X_FORWARDED_FOR && req->fields[i].value.len > 0) {
            put_span(&o, req->fields[i].value);
            PUT_LIT(&o, ", ");
        }
    }
    put(&o, c->peer_ip, strlen(c->peer_ip));
    PUT_LIT(&o, "\r\nX-Forwarded-Proto: ");
    put_span(&o, xfp.ptr ? xfp : c->tls ? SPAN_LIT("https") : SPAN_LIT("http"));
    PUT_LIT(&o, "\r\nX-Forwarded-Host: ");
    put_span(&o, xfh.ptr ? xfh : (req->host.ptr ? req->host : span_make(ex->host, ex->host_len)));
    PUT_LIT(&o, "\r\nX-Request-Id: ");
    put(&o, ex->reqid, strlen(ex->reqid));
    PUT_LIT(&o, "\r\n\r\n");
    return o.err ? -1 : 0;
}

const char *h1_hsts_value(const struct exchange *ex, const struct h1_response *resp)
{
    const struct edge_config *cfg = ex->c->w->cfg;
    if (ex->c->tls == NULL || resp->status == 101)
        return NULL;
    const char *v = hostname_is_below(ex->host, ex->host_len, cfg->domain) ? cfg->tls.hsts_generated
                                                                          : cfg->tls.hsts_custom;
    for (size_t i = 0; v != NULL && i < resp->nfields; i++)
        if (span_ieq(resp->fields[i].name, SPAN_LIT("strict-transport-security")))
            v = NULL;
    return v;
}

int h1_build_response(struct exchange *ex, const struct h1_response *resp)
{
    struct conn *c = ex->c;
    int has_reqid = 0;
    const char *hsts = h1_hsts_value(ex, resp);
    size_t need = head_room(resp->fields, resp->nfields, resp->reason.len + 256 + sizeof ex->reqid +
                                                          (hsts ? strlen(hsts) + 32 : 0));
    ex->downhead.len = ex->downhead.off = 0;
    if (iobuf_reserve(c->w, &ex->downhead, need) != 0)
        return -1;
    struct out o = {&ex->downhead, 0};

    PUT_LIT(&o, "HTTP/1.1 ");
    put_u64(&o, (uint64_t)resp->status);
    PUT_LIT(&o, " ");
    put_span(&o, resp->reason);
    PUT_LIT(&o, "\r\n");
    for (size_t i = 0; i < resp->nfields; i++) {
        const struct h1_field *f = &resp->fields[i];
        /* A bodiless response (HEAD, 304) keeps the length the upstream announced. */
        int keep_cl = f->tok == TOK_CONTENT_LENGTH && resp->body == H1_BODY_NONE;
        if (!keep_cl && (f->drop || h1_tok_is_hop_by_hop(f->tok)))
            continue;
        if (f->tok == TOK_X_REQUEST_ID)
            has_reqid = 1;
        put_field(&o, f->name, f->value);
    }
    if (resp->status == 101) {
        PUT_LIT(&o, "Connection: upgrade\r\nUpgrade: websocket\r\n");
    } else {
        /* Framing towards the client (RFC 9112 §6.3): the same length, or chunked for a
         * chunked or until-close body when the client speaks HTTP/1.1. */
        if (resp->body == H1_BODY_LENGTH) {
            PUT_LIT(&o, "Content-Length: ");
            put_u64(&o, resp->content_length);
            PUT_LIT(&o, "\r\n");
        } else if (ex->resp.out_chunked) {
            PUT_LIT(&o, "Transfer-Encoding: chunked\r\n");
        }
        if (c->flags & C_F_WANT_CLOSE)
            PUT_LIT(&o, "Connection: close\r\n");
        else if (ex->minor == 0)
            PUT_LIT(&o, "Connection: keep-alive\r\n");
    }
    if (!has_reqid) {
        PUT_LIT(&o, "X-Request-Id: ");
        put(&o, ex->reqid, strlen(ex->reqid));
        PUT_LIT(&o, "\r\n");
    }
    if (hsts != NULL) {
        PUT_LIT(&o, "Strict-Transport-Security: ");
        put(&o, hsts, strlen(hsts));
        PUT_LIT(&o, "\r\n");
    }
    PUT_LIT(&o, "\r\n");
    return o.err ? -1 : 0;
}

int h1_build_answer(struct exchange *ex, int status, const char *ctype, struct span location,
                    struct span body, uint32_t retry_after, int close)
{
    ex->downhead.len = ex->downhead.off = 0;
    if (iobuf_reserve(ex->c->w, &ex->downhead, 512 + location.len + body.len) != 0)
        return -1;
    struct out o = {&ex->downhead, 0};
    PUT_LIT(&o, "HTTP/1.1 ");
    put_u64(&o, (uint64_t)status);
    PUT_LIT(&o, " ");
    put(&o, h1_reason(status), strlen(h1_reason(status)));
    PUT_LIT(&o, "\r\nServer: hostess-edge\r\nContent-Type: ");
    put(&o, ctype, strlen(ctype));
    PUT_LIT(&o, "\r\nCache-Control: no-store\r\nContent-Length: ");
    put_u64(&o, (uint64_t)body.len);
    if (location.len > 0) {
        PUT_LIT(&o, "\r\nLocation: ");
        put_span(&o, location);
    }
    if (retry_after > 0) {
        PUT_LIT(&o, "\r\nRetry-After: ");
        put_u64(&o, retry_after);
    }
    if (ex->reqid[0] != '\0') {
        PUT_LIT(&o, "\r\nX-Request-Id: ");
        put(&o, ex->reqid, strlen(ex->reqid));
    }
    if (close)
        PUT_LIT(&o, "\r\nConnection: close");
    else if (ex->minor == 0)
        PUT_LIT(&o, "\r\nConnection: keep-alive");
    PUT_LIT(&o, "\r\n\r\n");
    if (!(ex->flags & EX_F_HEAD_REQ))
        put_span(&o, body);
    return o.err ? -1 : 0;
}

int h1_build_error(struct exchange *ex, int status, const char *detail, uint32_t retry_after,
                   int close)
{
    char body[256];
    int blen = snprintf(body, sizeof body, "%d %s%s%s\n", status, h1_reason(status),
                        detail ? ": " : "", detail ? detail : "");
    if (blen < 0 || (size_t)blen >= sizeof body)
        blen = (int)sizeof body - 1;
    return h1_build_answer(ex, status, "text/plain; charset=utf-8", SPAN_NULL,
                           span_make(body, (size_t)blen), retry_after, close);
}
