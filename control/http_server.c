/*
 * http_server: the control API's HTTP/1.1 server (contract in http_server.h, CONTRACT §2):
 * the listener, each connection's lifetime and timer, writing answers and event streams,
 * and the contract's functions. Reading a request (parsing, authentication, the body,
 * handing it to the handler) is in http_request.c; the types both files share are in
 * http_server_internal.h.
 *
 * Answers leave in request order (http_request.c parses nothing after a dispatched head
 * until it is answered). An answer given later than the handler call (a promote waiting
 * for health) makes the connection parse what waited in rbuf on the next loop turn
 * (s->kick), never from inside ctl_respond(), so the handler is never re-entered from
 * the caller's own stack.
 *
 * Ownership: the server owns its connections (s->conns); a connection owns rbuf,
 * req.mem and two handles (tcp, timer). It is freed once both handles have closed and
 * the handler no longer holds its request: an answer deferred past a disconnect finds
 * its memory, and is dropped. The server is freed after ctl_server_close() once its
 * handles have closed and its last connection is gone.
 *
 * Timers (one per connection, one deadline at a time): keep-alive idle and the head
 * deadline (armed when a head's first bytes arrive, not pushed back by later bytes) use
 * idle_ms; a body gets idle_ms of inactivity; none while the handler holds the request
 * or the connection streams events.
 */
#include "control/http_server.h"
#include "control/http_server_internal.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/sha.h>

#include "router/base/list.h"
#include "router/base/log.h"

#define SSE_QUEUE_MAX   (4u << 20)  /* bytes queued to a stream client before it is cut */
#define LINGER_MS       2000u       /* lingering close: how long to drain a client after our FIN */
#define RQ_KEEP_MAX     (64u << 10) /* a request buffer above this is freed, not reused */
#define IDLE_DEFAULT_MS 30000u      /* idle_ms == 0 in the options */
#define BACKLOG         128

/* Served when the JSON error body itself cannot be built (out of memory). */
static const char oom_body[] =
    "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\",\"details\":{}}}";

/* A queued write: the bytes uv_try_write() could not send at once, copied. */
struct wreq {
    uv_write_t w;
    char data[];
};

static void on_kick(uv_idle_t *h);

static const char *conn_state_name(enum conn_state st)
{
    static const char *const names[] = {"head", "body", "handler", "sse", "linger", "done"};
    return (unsigned)st < sizeof names / sizeof names[0] ? names[st] : "?";
}

/* Reason phrases, and the error code of the server's own rejections (NULL: never made
 * by the server itself; "bad_request" is the default). */
/* The error code of a status the server layer answers by itself; handlers pass theirs. */
static const char *error_code(int status)
{
    switch (status) {
    case 401: return "unauthorized";
    case 408: return "request_timeout";
    case 413: return "payload_too_large";
    case 414: return "uri_too_long";
    case 417: return "expectation_failed";
    case 431: return "headers_too_large";
    case 500: return "internal";
    case 501: return "not_implemented";
    default: return "bad_request";
    }
}

/* {"error":{"code":..,"message":..,"details":{..}}}, malloc'd; NULL when out of memory.
 * jansson does the escaping; details that are not a JSON object become {}. */
static char *error_body(const char *code, const char *message, const char *details_json)
{
    json_t *details = NULL, *err = json_object(), *root = json_object();
    int bad = root == NULL || err == NULL;

    if (details_json != NULL) {
        details = json_loads(details_json, 0, NULL);
        if (details != NULL && !json_is_object(details)) {
            json_decref(details);
            details = NULL;
        }
        if (details == NULL)
            log_warn("control: error details are not a JSON object: %s", details_json);
    }
    if (details == NULL)
        details = json_object();
    json_t *msg = json_string(message ? message : "");
    if (msg == NULL) /* not UTF-8: say so rather than send nothing */
        msg = json_string("(message is not valid UTF-8)");
    /* The *_new setters take the value's reference even when they fail (also when the
     * object is NULL), so every path below releases everything exactly once. */
    bad |= json_object_set_new(err, "code", json_string(code)) != 0;
    bad |= json_object_set_new(err, "message", msg) != 0;
    bad |= json_object_set_new(err, "details", details) != 0;
    bad |= json_object_set_new(root, "error", err) != 0;
    char *out = bad ? NULL : json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return out;
}

/* ---- lifetime ------------------------------------------------------------------------ */

static void server_maybe_free(struct ctl_server *s)
{
    if (s->closing && s->nhandles == 0 && list_empty(&s->conns)) {
        free(s->tok);
        free(s);
    }
}

static void on_server_handle_closed(uv_handle_t *h)
{
    struct ctl_server *s = h->data;
    s->nhandles--;
    server_maybe_free(s);
}

static void conn_free(struct conn *c)
{
    struct ctl_server *s = c->s;
    list_unlink(&c->link);
    list_unlink(&c->resume);
    free(c->rbuf);
    free(c->req.mem);
    free(c);
    server_maybe_free(s);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;

    if (--c->nhandles > 0)
        return;
    /* on_close may call ctl_server_close(): that skips this connection (CS_SSE). */
    if (c->state == CS_SSE && !(c->flags & CF_SSE_QUIET) && !c->s->closing &&
        c->sse.on_close != NULL)
        c->sse.on_close(&c->sse, c->sse.ud);
    /* The handler still holds the request: ctl_respond() frees the connection. */
    if (c->state == CS_HANDLER && !c->s->closing)
        return;
    conn_free(c);
}

void ctl_conn_close(struct conn *c)
{
    if (c->flags & CF_CLOSING)
        return;
    c->flags |= CF_CLOSING;
    list_unlink(&c->resume);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
}

/* The request is answered but cannot be (client gone): forget it. */
static void conn_drop_answer(struct conn *c)
{
    c->state = CS_DONE;
    if (c->nhandles == 0)
        conn_free(c);
    else
        ctl_conn_close(c); /* no-op when closing: on_conn_handle_closed() frees it */
}

static void on_conn_timer(uv_timer_t *t);

void ctl_conn_arm(struct conn *c, uint64_t ms)
{
    uv_timer_start(&c->timer, on_conn_timer, ms, 0);
}

/* Asks for ctl_conn_process() on the next loop turn (bytes or EOF wait in rbuf). */
static void conn_kick(struct conn *c)
{
    struct ctl_server *s = c->s;
    if (!list_linked(&c->resume))
        list_push_tail(&s->resume, &c->resume);
    uv_idle_start(&s->kick, on_kick); /* no-op when already started */
}

/* ---- writing -------------------------------------------------------------------------- */

static void on_write(uv_write_t *w, int status)
{
    struct conn *c = w->handle->data;
    free(container_of(w, struct wreq, w));
    if (status < 0 && status != UV_ECANCELED) {
        log_debug("control: write: %s", uv_strerror(status));
        ctl_conn_close(c); /* a stream then reports on_close */
    }
}

/* Writes bufs in order after what is already queued: uv_try_write() first, and only the
 * remainder is copied into one queued write. Returns 0 or a negative error. */
int ctl_conn_send(struct conn *c, const uv_buf_t *bufs, unsigned n)
{
    size_t total = 0, done = 0, at = 0;

    for (unsigned i = 0; i < n; i++)
        total += bufs[i].len;
    if (total == 0)
        return 0;
    int r = uv_try_write((uv_stream_t *)&c->tcp, bufs, n);
    if (r >= 0)
        done = (size_t)r;
    else if (r != UV_EAGAIN)
        return r;
    if (done == total)
        return 0;
    struct wreq *w = malloc(sizeof(*w) + (total - done));
    if (w == NULL)
        return -ENOMEM;
    for (unsigned i = 0; i < n; i++) {
        size_t l = bufs[i].len;
        if (done >= l) {
            done -= l;
            continue;
        }
        memcpy(w->data + at, bufs[i].base + done, l - done);
        at += l - done;
        done = 0;
    }
    uv_buf_t b = uv_buf_init(w->data, (unsigned)at);
    r = uv_write(&w->w, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (r < 0)
        free(w);
    return r;
}

static int conn_write_response(struct conn *c, int status, const char *extra, const char *ctype,
                               const char *body, size_t len, int close)
{
    char line[96];
    uv_buf_t b[7];
    unsigned nb = 0;
    /* RFC 9110 §8.6: no Content-Length (and no content) in a 204. */
    int no_len = status == 204;
    int n = no_len
                ? snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, h1_reason(status))
                : snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n", status,
                           h1_reason(status), len);

    b[nb++] = uv_buf_init(line, (unsigned)n);
    if (ctype != NULL) {
        b[nb++] = CBUF("Content-Type: ");
        b[nb++] = uv_buf_init((char *)ctype, (unsigned)strlen(ctype));
        b[nb++] = CBUF("\r\n");
    }
    if (extra != NULL && extra[0] != '\0')
        b[nb++] = uv_buf_init((char *)extra, (unsigned)strlen(extra));
    b[nb++] = close ? CBUF("Connection: close\r\n\r\n") : CBUF("\r\n");
    if (len > 0 && !no_len && !(c->flags & CF_REQ_HEAD))
        b[nb++] = uv_buf_init((char *)body, (unsigned)len);
    return ctl_conn_send(c, b, nb);
}

/* ---- after an answer ------------------------------------------------------------------- */

static void on_shutdown(uv_shutdown_t *r, int status)
{
    struct conn *c = r->handle->data;
    c->flags |= CF_SHUT_DONE;
    if (status < 0 || (c->flags & CF_EOF))
        ctl_conn_close(c);
}

/* Lingering close: FIN after the queued answer, then read and discard until the
 * client's EOF or LINGER_MS. Closing with unread bytes (a body we refused) would make
 * the kernel send a reset, which can destroy the answer before the client reads it. */
void ctl_conn_linger(struct conn *c)
{
    struct ctl_server *s = c->s;
    c->state = CS_LINGER;
    list_unlink(&c->resume);
    c->roff = c->rlen = 0;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        ctl_conn_close(c);
        return;
    }
    ctl_conn_arm(c, s->idle_ms < LINGER_MS ? s->idle_ms : LINGER_MS);
    ctl_conn_rx_resume(c); /* discarding, to see the client's EOF */
}

static void req_reset(struct ctl_request *q)
{
    q->len = 0;
    if (q->cap > RQ_KEEP_MAX) { /* a big body: do not keep its memory while idle */
        free(q->mem);
        q->mem = NULL;
        q->cap = 0;
    }
}

/* The current request has its answer queued: on to the next one, or close. */
static void conn_next(struct conn *c, int keep)
{
    req_reset(&c->req);
    if (!keep) {
        ctl_conn_linger(c);
        return;
    }
    c->state = CS_HEAD;
    c->flags &= ~(CF_HEAD_TIMER | CF_REQ_CLOSE | CF_REQ_HEAD);
    if (c->roff == c->rlen)
        c->roff = c->rlen = 0;
    ctl_conn_arm(c, c->s->idle_ms);
    if (!(c->flags & CF_PROCESSING) && (c->rlen > c->roff || (c->flags & (CF_EOF | CF_RX_PAUSED))))
        conn_kick(c);
}

/* Sends an answer to the current request and moves on. force_close: the request's bytes
 * were not all read (or cannot be trusted), so the connection cannot carry another. */
static void conn_answer(struct conn *c, int status, const char *extra, const char *ctype,
                        const char *body, size_t len, int force_close)
{
    /* A client that half-closed with nothing more buffered gets told we close. */
    int keep =
        !force_close && !(c->flags & CF_REQ_CLOSE) && !((c->flags & CF_EOF) && c->rlen == c->roff);

    if (conn_write_response(c, status, extra, ctype, body, len, !keep) != 0) {
        c->state = CS_DONE;
        ctl_conn_close(c);
        return;
    }
    conn_next(c, keep);
}

/* The server's own error answers (before the handler saw the request). */
void ctl_conn_error(struct conn *c, int status, const char *message, const char *extra,
                    int force_close)
{
    char *b = error_body(error_code(status), message, NULL);
    log_debug("control: %d %s", status, message);
    conn_answer(c, status, extra, "application/json", b ? b : oom_body,
                b ? strlen(b) : sizeof(oom_body) - 1, force_close);
    free(b);
}

/* ---- libuv callbacks ------------------------------------------------------------------- */

static void on_conn_timer(uv_timer_t *t)
{
    struct conn *c = t->data;
    log_debug("control: connection timed out in state %s", conn_state_name(c->state));
    if (c->state == CS_BODY || (c->state == CS_HEAD && (c->flags & CF_HEAD_TIMER)))
        ctl_conn_error(c, 408, "request not received in time", NULL, 1);
    else
        ctl_conn_close(c); /* keep-alive idle, or the client does not finish a close */
}

static void on_kick(uv_idle_t *h)
{
    struct ctl_server *s = h->data;
    struct list_node batch, *n;

    /* Only what is queued now: answers given meanwhile wait for the next turn. */
    list_init(&batch);
    while ((n = list_first(&s->resume)) != NULL) {
        list_unlink(n);
        list_push_tail(&batch, n);
    }
    while ((n = list_first(&batch)) != NULL)
        ctl_conn_process(container_of(n, struct conn, resume)); /* unlinks n */
    if (!s->closing && list_empty(&s->resume))
        uv_idle_stop(&s->kick);
}

static void on_accept(uv_stream_t *ls, int status)
{
    struct ctl_server *s = ls->data;

    if (status < 0) {
        log_warn("control: accept: %s", uv_strerror(status));
        return;
    }
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        log_error("control: out of memory accepting a connection");
        return;
    }
    c->s = s;
    list_init(&c->resume);
    list_push_tail(&s->conns, &c->link);
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->nhandles = 2;
    c->state = CS_HEAD;
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0 || ctl_conn_read_start(c) != 0) {
        ctl_conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1); /* answers are one write; events should not wait */
    ctl_conn_arm(c, s->idle_ms);
}

/* ---- public API ------------------------------------------------------------------------ */

static void addr_name(const struct sockaddr *sa, char *out, size_t n)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa != NULL && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        uv_ip4_name(in, ip, sizeof ip);
        snprintf(out, n, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        uv_ip6_name(in6, ip, sizeof ip);
        snprintf(out, n, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
    } else
        snprintf(out, n, "(address)");
}

struct ctl_server *ctl_server_start(uv_loop_t *loop, const struct ctl_server_options *o, char *err,
                                    size_t errlen)
{
    char where[INET6_ADDRSTRLEN + 16];
    int fd = -1, one = 1, r;

    addr_name(o ? o->addr : NULL, where, sizeof where);
    if (o == NULL || o->addr == NULL || o->handler == NULL) {
        snprintf(err, errlen, "control API: no address or handler");
        return NULL;
    }
    struct ctl_server *s = calloc(1, sizeof(*s));
    if (s == NULL || ctl_server_set_tokens(s, o->tokens, o->ntokens) != 0) {
        free(s);
        snprintf(err, errlen, "%s: out of memory", where);
        return NULL;
    }
    s->loop = loop;
    s->max_body = o->max_body;
    s->idle_ms = o->idle_ms ? o->idle_ms : IDLE_DEFAULT_MS;
    s->handler = o->handler;
    s->ud = o->ud;
    list_init(&s->conns);
    list_init(&s->resume);

    /* bind() and listen() before any handle exists: the likely failures (address in
     * use, not available) then need no close callback to clean up. */
    fd = socket(o->addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, o->addr, o->addrlen) != 0 || listen(fd, BACKLOG) != 0) {
        snprintf(err, errlen, "%s: %s", where, uv_strerror(uv_translate_sys_error(errno)));
        if (fd >= 0)
            close(fd);
        free(s->tok);
        free(s);
        return NULL;
    }
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->nhandles = 1;
    r = uv_tcp_open(&s->listener, fd);
    if (r == 0)
        r = uv_listen((uv_stream_t *)&s->listener, BACKLOG, on_accept);
    if (r != 0) {
        /* Unlikely; the server is freed by the close callback when the loop runs. */
        snprintf(err, errlen, "%s: %s", where, uv_strerror(r));
        s->closing = 1;
        uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
        return NULL;
    }
    uv_idle_init(loop, &s->kick);
    s->kick.data = s;
    s->nhandles = 2;
    return s;
}

int ctl_server_port(const struct ctl_server *s)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    int r = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
    if (r != 0)
        return r;
    if (ss.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *)&ss)->sin_port);
}

int ctl_server_set_tokens(struct ctl_server *s, const char *const *tokens, size_t n)
{
    unsigned char(*t)[SHA256_DIGEST_LENGTH] = NULL;

    if (n > 0 && (t = calloc(n, sizeof(*t))) == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        /* An empty token is stored but never matches: an empty one is never presented. */
        const char *tk = tokens[i] ? tokens[i] : "";
        if (SHA256((const unsigned char *)tk, strlen(tk), t[i]) == NULL) {
            free(t);
            return -ENOMEM;
        }
    }
    free(s->tok);
    s->tok = t;
    s->ntok = n;
    return 0;
}

void ctl_respond(struct ctl_request *req, int status, const char *extra_headers,
                 const char *content_type, const char *body, size_t len)
{
    struct conn *c = container_of(req, struct conn, req);

    assert(c->state == CS_HANDLER);
    if (c->flags & CF_CLOSING) {
        conn_drop_answer(c);
        return;
    }
    if (status < 200 || status > 999) {
        log_error("control: handler answered with status %d", status);
        status = 500;
        extra_headers = content_type = NULL;
        len = 0;
    }
    conn_answer(c, status, extra_headers, content_type, body, len, 0);
}

void ctl_respond_json(struct ctl_request *req, int status, const char *extra_headers,
                      const char *json)
{
    ctl_respond(req, status, extra_headers, "application/json", json, json ? strlen(json) : 0);
}

void ctl_respond_error(struct ctl_request *req, int status, const char *code, const char *message,
                       const char *details_json)
{
    char *b =
        error_body(code ? code : "error", message ? message : h1_reason(status), details_json);
    ctl_respond(req, status, NULL, "application/json", b ? b : oom_body,
                b ? strlen(b) : sizeof(oom_body) - 1);
    free(b);
}

struct ctl_sse *ctl_sse_begin(struct ctl_request *req, ctl_sse_close_cb on_close, void *ud)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                               "Cache-Control: no-cache\r\nConnection: keep-alive\r\n\r\n";
    struct conn *c = container_of(req, struct conn, req);
    uv_buf_t b = CBUF(head);

    assert(c->state == CS_HANDLER);
    if (c->flags & (CF_CLOSING | CF_EOF)) { /* nobody left to stream to */
        conn_drop_answer(c);
        return NULL;
    }
    c->state = CS_SSE;
    c->sse.on_close = on_close;
    c->sse.ud = ud;
    uv_timer_stop(&c->timer);
    list_unlink(&c->resume);
    /* A stream lives long and reads nothing: give its buffers back. */
    free(c->rbuf);
    free(c->req.mem);
    c->rbuf = c->req.mem = NULL;
    c->roff = c->rlen = c->rcap = c->req.len = c->req.cap = 0;
    if (ctl_conn_send(c, &b, 1) != 0) {
        c->flags |= CF_SSE_QUIET;
        ctl_conn_close(c);
        return NULL;
    }
    ctl_conn_rx_resume(c); /* reading goes on (into s->discard) only to see the client leave */
    return &c->sse;
}

int ctl_sse_send(struct ctl_sse *ss, uint64_t id, const char *event, const char *data)
{
    struct conn *c = container_of(ss, struct conn, sse);
    char idl[48];
    uv_buf_t b[7];
    unsigned nb = 0;
    size_t total = 0;

    if (c->state != CS_SSE || (c->flags & (CF_CLOSING | CF_SSE_QUIET)))
        return -1;
    assert(strchr(data, '\n') == NULL && (event == NULL || strchr(event, '\n') == NULL));
    int n = snprintf(idl, sizeof idl, "id: %" PRIu64 "\n", id);
    b[nb++] = uv_buf_init(idl, (unsigned)n);
    if (event != NULL) {
        b[nb++] = CBUF("event: ");
        b[nb++] = uv_buf_init((char *)event, (unsigned)strlen(event));
        b[nb++] = CBUF("\n");
    }
    b[nb++] = CBUF("data: ");
    b[nb++] = uv_buf_init((char *)data, (unsigned)strlen(data));
    b[nb++] = CBUF("\n\n");
    for (unsigned i = 0; i < nb; i++)
        total += b[i].len;
    /* A client that does not read would otherwise make us hold every event forever. */
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) + total > SSE_QUEUE_MAX) {
        log_warn("control: event stream client is %zu bytes behind; ending the stream",
                 uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp));
        ctl_conn_close(c);
        return -1;
    }
    if (ctl_conn_send(c, b, nb) != 0) {
        ctl_conn_close(c);
        return -1;
    }
    return 0;
}

void ctl_sse_end(struct ctl_sse *ss)
{
    struct conn *c = container_of(ss, struct conn, sse);
    c->flags |= CF_SSE_QUIET;
    if (c->state == CS_SSE && !(c->flags & CF_CLOSING))
        ctl_conn_linger(c); /* the queued events go out first, then FIN */
}

void ctl_server_close(struct ctl_server *s)
{
    struct list_node *n, *next;

    s->closing = 1;
    uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
    uv_close((uv_handle_t *)&s->kick, on_server_handle_closed);
    for (n = s->conns.next; n != &s->conns; n = next) {
        struct conn *c = container_of(n, struct conn, link);
        next = n->next;
        if (!(c->flags & CF_CLOSING))
            ctl_conn_close(c);
        else if (c->nhandles == 0 && c->state == CS_HANDLER)
            conn_free(c); /* client gone, answer never came: nobody will free it */
    }
}
