/*
 * http_server: the control API's HTTP/1.1 server (CONTRACT §2), on the control thread's
 * libuv loop, on its own listener (never a public port).
 *
 * It owns the protocol: request heads are parsed by the data plane's strict parser
 * (router/h1_parse.h); bodies are Content-Length or chunked and are read whole, up to
 * max_body bytes (more: 413 before the rest is read, and close); authentication happens
 * after the head and before the body is read: every request except GET /v1/health needs
 * "Authorization: Bearer <token>" equal (constant time) to one of the configured tokens,
 * else 401 {"error":{"code":"unauthorized",...}} with WWW-Authenticate: Bearer, and the
 * handler never sees it. Malformed requests get 400 and close; keep-alive otherwise.
 *
 * The handler sees complete, authenticated requests and answers each exactly once, at
 * once or later (e.g. a promote that waits for health): ctl_respond*() may be called from
 * any later loop callback. If the client goes away first, the request stays valid until
 * it is answered, and the answer is then dropped. Responses on one connection go out in
 * request order (pipelining is allowed; the next request is not dispatched before the
 * previous one is answered).
 *
 * Server-Sent Events: ctl_sse_begin() answers 200 text/event-stream and keeps the
 * connection for ctl_sse_send(); the stream ends when the client closes (the on_close
 * callback runs once, after which the stream must not be used) or on ctl_sse_end().
 */
#ifndef HOSTESS_CONTROL_HTTP_SERVER_H
#define HOSTESS_CONTROL_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

struct ctl_server;
struct ctl_request;

struct ctl_request_view {
    const char *method;     /* NUL-terminated, e.g. "GET" */
    const char *path;       /* NUL-terminated, percent-decoded, without the query */
    const char *query;      /* NUL-terminated raw query after '?', or "" */
    const char *if_match;   /* NUL-terminated If-Match value (quotes kept), or NULL */
    const char *content_type; /* or NULL */
    const char *body;       /* body bytes (NUL-terminated for convenience), "" if none */
    size_t      body_len;
};

typedef void (*ctl_handler)(struct ctl_request *req, const struct ctl_request_view *v,
                            void *ud);

struct ctl_server_options {
    const struct sockaddr *addr;
    socklen_t              addrlen;
    size_t                 max_body;   /* bytes; over → 413 */
    const char *const     *tokens;     /* ntokens bearer tokens (copied) */
    size_t                 ntokens;
    uint32_t               idle_ms;    /* keep-alive idle and header timeout */
    ctl_handler            handler;
    void                  *ud;
};

/* Binds and listens. NULL with err ("127.0.0.1:9090: address already in use"). */
struct ctl_server *ctl_server_start(uv_loop_t *loop, const struct ctl_server_options *o,
                                    char *err, size_t errlen);

/* The bound TCP port (useful when addr asked for port 0), or a negative UV_E* code. */
int ctl_server_port(const struct ctl_server *s);

/* Replaces the accepted tokens (SIGHUP). Returns 0 or -ENOMEM (old tokens kept). */
int ctl_server_set_tokens(struct ctl_server *s, const char *const *tokens, size_t n);

/* Answers req (which is then invalid). extra_headers: NULL or complete header lines, each
 * ending in "\r\n" (e.g. "ETag: \"7\"\r\n"). body may be NULL when len is 0. The server
 * adds Content-Length, Content-Type (when content_type is not NULL), Date is not sent. */
void ctl_respond(struct ctl_request *req, int status, const char *extra_headers,
                 const char *content_type, const char *body, size_t len);

/* Convenience: application/json from a NUL-terminated string. */
void ctl_respond_json(struct ctl_request *req, int status, const char *extra_headers,
                      const char *json);

/* The standard error body {"error":{"code":code,"message":message,"details":details}};
 * details_json is a JSON object text or NULL (then {} is sent). */
void ctl_respond_error(struct ctl_request *req, int status, const char *code,
                       const char *message, const char *details_json);

struct ctl_sse;
typedef void (*ctl_sse_close_cb)(struct ctl_sse *s, void *ud);

/* Turns req into an event stream (req is then invalid). Returns NULL when no stream can
 * start: the client has already gone, or the response head could not be written (the
 * connection is then closed and on_close never runs). */
struct ctl_sse *ctl_sse_begin(struct ctl_request *req, ctl_sse_close_cb on_close, void *ud);

/* Sends "id: {id}\nevent: {event}\ndata: {data}\n\n" (data must not contain '\n';
 * event may be NULL). If the client does not keep up (more than 4 MiB queued), the stream
 * is ended (on_close runs). Returns 0 or -1 when the stream is already ending. */
int ctl_sse_send(struct ctl_sse *s, uint64_t id, const char *event, const char *data);

/* Ends the stream from the server side (on_close is not called). */
void ctl_sse_end(struct ctl_sse *s);

/* Stops listening and closes every connection; requests not yet answered are dropped,
 * and streams end without their on_close. After this call no ctl_* function may be used
 * on its requests or streams. Memory is freed by close callbacks: run the loop after. */
void ctl_server_close(struct ctl_server *s);

#endif
