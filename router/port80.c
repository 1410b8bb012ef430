/*
 * port80: what the plain-HTTP listener answers itself once the edge has HTTPS.
 *
 *   GET|HEAD /.well-known/acme-challenge/TOKEN   the key authorization for TOKEN, from the
 *       token table the ACME client fills (router_http01_set), for any Host: a custom
 *       domain is validated before it has a route. An unknown token is a 404 in redirect
 *       mode, and goes to the upstream in proxy mode (it may run its own ACME client).
 *   anything else, http_mode: redirect           308 to https://HOST[:PORT]/same-target,
 *       PORT being listen.https's unless it is 443. 308 rather than 301 keeps the method
 *       and body (RFC 9110 §15.4.9); a request body is not read, so the connection
 *       closes after the answer.
 * Hosts without a route get the usual 404 before any redirect: the edge does not send
 * visitors of names it does not serve anywhere.
 */
#include <stdio.h>
#include <string.h>

#include "router/base/hostname.h"
#include "router/internal.h"

#define CHALLENGE_PREFIX "/.well-known/acme-challenge/"

/* The path of a request target (origin-form as it is; absolute-form without its scheme
 * and authority, RFC 9112 §3.2.2). */
static struct span target_path(struct span t)
{
    if (t.len > 0 && t.ptr[0] == '/')
        return t;
    const char *scheme = memchr(t.ptr, ':', t.len);
    if (scheme != NULL && (size_t)(t.ptr + t.len - scheme) > 3 && scheme[1] == '/' &&
        scheme[2] == '/') {
        const char *auth = scheme + 3;
        const char *slash = memchr(auth, '/', (size_t)(t.ptr + t.len - auth));
        if (slash != NULL)
            return span_make(slash, (size_t)(t.ptr + t.len - slash));
    }
    return SPAN_LIT("/");
}

int port80_challenge(struct exchange *ex, const struct h1_request *req)
{
    struct conn *c = ex->c;
    struct span path = target_path(req->path);
    size_t plen = sizeof CHALLENGE_PREFIX - 1;

    if ((req->method_id != H1_M_GET && req->method_id != H1_M_HEAD) || path.len <= plen ||
        memcmp(path.ptr, CHALLENGE_PREFIX, plen) != 0)
        return 0;
    const char *token = path.ptr + plen;
    const char *end = memchr(token, '?', path.len - plen);
    size_t tlen = end ? (size_t)(end - token) : path.len - plen;
    const char *ka = worker_http01_lookup(c->w, token, tlen);
    if (ka == NULL && c->w->cfg->http_mode != HTTP_MODE_REDIRECT)
        return 0;
    ex->ops->consume(ex, req->head_len);
    if (ka == NULL)
        exchange_answer(ex, 404, "text/plain; charset=utf-8", SPAN_NULL,
                        SPAN_LIT("404 Not Found: unknown ACME challenge token\n"));
    else
        exchange_answer(ex, 200, "application/octet-stream", SPAN_NULL,
                        span_make(ka, strlen(ka)));
    return 1;
}

void port80_redirect(struct exchange *ex, const struct h1_request *req)
{
    struct conn *c = ex->c;
    const struct edge_config *cfg = c->w->cfg;
    struct span path = target_path(req->path);
    char head[HOSTNAME_MAX + 32];
    char *loc = NULL;
    int port = 443;

    if (cfg->listen_https.sa.ss_family == AF_INET)
        port = ntohs(((const struct sockaddr_in *)&cfg->listen_https.sa)->sin_port);
    else if (cfg->listen_https.sa.ss_family == AF_INET6)
        port = ntohs(((const struct sockaddr_in6 *)&cfg->listen_https.sa)->sin6_port);
    int n = port == 443 ? snprintf(head, sizeof head, "https://%.*s", (int)ex->host_len, ex->host)
                        : snprintf(head, sizeof head, "https://%.*s:%d", (int)ex->host_len,
                                   ex->host, port);
    /* The Location is built in the upstream-head buffer, unused by an answered request. */
    if (n > 0 && (size_t)n < sizeof head &&
        iobuf_reserve(c->w, &ex->uphead, (size_t)n + path.len) == 0) {
        loc = ex->uphead.p;
        memcpy(loc, head, (size_t)n);
        memcpy(loc + n, path.ptr, path.len);
    }
    ex->ops->consume(ex, req->head_len); /* path points into the request: copied above */
    if (loc == NULL) {
        exchange_answer(ex, 500, "text/plain; charset=utf-8", SPAN_NULL,
                        SPAN_LIT("500 Internal Server Error: out of memory\n"));
        return;
    }
    exchange_answer(ex, 308, "text/plain; charset=utf-8", span_make(loc, (size_t)n + path.len),
                    SPAN_LIT("308 Permanent Redirect\n"));
}
