/*
 * http_server_internal: the control API server's private types, shared by http_server.c
 * (listener, lifetime, writing answers, the public API) and http_request.c (reading and
 * validating a request, authentication, dispatch). Nothing outside those two files may
 * include it; the contract is control/http_server.h.
 *
 * A connection (struct conn) moves through enum conn_state; its one request (struct
 * ctl_request) is embedded in it, and so is its event stream (struct ctl_sse), so the
 * pointers the handler holds lead back to the connection with container_of().
 */
#ifndef HOSTESS_CONTROL_HTTP_SERVER_INTERNAL_H
#define HOSTESS_CONTROL_HTTP_SERVER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/sha.h>
#include <uv.h>

#include "control/http_server.h"
#include "router/base/list.h"
#include "router/h1_parse.h"

#define NO_OFF ((size_t)-1) /* an absent optional string in struct ctl_request */

#define CBUF(lit) uv_buf_init((char *)(lit), (unsigned)(sizeof(lit) - 1))

enum conn_state {
    CS_HEAD,    /* waiting for a request head (keep-alive idle included) */
    CS_BODY,    /* head accepted and authorised; the body moves from rbuf to req.mem */
    CS_HANDLER, /* the handler holds the request; nothing more is parsed */
    CS_SSE,     /* the answer is an event stream; client bytes are discarded */
    CS_LINGER,  /* last answer queued, FIN requested; discarding until EOF or LINGER_MS */
    CS_DONE,    /* nothing left to do; the handles are closing */
};

#define CF_CLOSING    0x01u  /* uv_close() called on both handles */
#define CF_EOF        0x02u  /* the client sent FIN */
#define CF_RX_PAUSED  0x04u  /* reading stopped: rbuf full while the handler holds a request */
#define CF_PROCESSING 0x08u  /* inside ctl_conn_process(): it goes on after an answer itself */
#define CF_HEAD_TIMER 0x10u  /* part of a head arrived: its deadline runs */
#define CF_REQ_CLOSE  0x20u  /* close after this answer (Connection: close, HTTP/1.0) */
#define CF_REQ_HEAD   0x40u  /* this request is HEAD: answers carry no body */
#define CF_SSE_QUIET  0x80u  /* ctl_sse_end() was called: on_close must not run */
#define CF_SHUT_DONE  0x100u /* our FIN went out (uv_shutdown completed) */

/* One request; embedded in its connection (there is at most one at a time). */
struct ctl_request {
    char *mem; /* "method\0path\0query\0[if-match\0][content-type\0]body\0" */
    size_t len, cap;
    /* where each string starts in mem; NO_OFF: absent */
    size_t o_path, o_query, o_if_match, o_ctype, o_body;
    uint64_t body_left; /* Content-Length bytes not yet read */
    int chunked;
    struct h1_chunked ck;
    struct ctl_request_view view; /* what the handler got; valid until the answer */
};

struct ctl_sse {
    ctl_sse_close_cb on_close;
    void *ud;
};

struct conn {
    struct list_node link;   /* in s->conns until freed */
    struct list_node resume; /* in s->resume while buffered bytes wait for a parse */
    struct ctl_server *s;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shut;
    enum conn_state state;
    uint32_t flags; /* CF_* */
    int nhandles;   /* handles whose close callback has not run yet */
    char *rbuf;
    size_t roff, rlen, rcap; /* unparsed bytes are rbuf[roff, rlen) */
    struct ctl_request req;
    struct ctl_sse sse;
};

struct ctl_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_idle_t kick; /* runs ctl_conn_process() for s->resume on the next turn */
    int nhandles;   /* listener and kick, until their close callbacks */
    int closing;
    struct list_node conns;
    struct list_node resume;
    size_t max_body;
    uint32_t idle_ms;
    ctl_handler handler;
    void *ud;
    /* SHA-256 of each token: comparing digests takes the same time whatever the
     * configured tokens' lengths, so timing reveals neither a token nor its length. */
    unsigned char (*tok)[SHA256_DIGEST_LENGTH];
    size_t ntok;
    char discard[4096]; /* read target for bytes that are thrown away */
};

/* ---- http_server.c -------------------------------------------------------------------- */

/* Closes both handles (once); the connection is freed from their close callbacks. */
void ctl_conn_close(struct conn *c);
/* (Re)starts the connection's one timer: ms from now. */
void ctl_conn_arm(struct conn *c, uint64_t ms);
/* Writes bufs in order after what is queued. Returns 0 or a negative error. */
int ctl_conn_send(struct conn *c, const uv_buf_t *bufs, unsigned n);
/* Lingering close: FIN after the queued answer, then discard until EOF or a timeout. */
void ctl_conn_linger(struct conn *c);
/* Answers with the server's own JSON error body (the handler never saw the request);
 * force_close: the connection cannot carry another request. */
void ctl_conn_error(struct conn *c, int status, const char *message, const char *extra,
                    int force_close);

/* ---- http_request.c ------------------------------------------------------------------- */

/* Starts reading from the client into rbuf (or the discard buffer). 0 or a UV_E* code. */
int ctl_conn_read_start(struct conn *c);
/* Restarts reading that a full rbuf stopped (CF_RX_PAUSED). */
void ctl_conn_rx_resume(struct conn *c);
/* Parses what waits in rbuf: heads, bodies, dispatch, until it needs bytes or the
 * handler holds a request. */
void ctl_conn_process(struct conn *c);

#endif
