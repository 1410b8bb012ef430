/*
 * internal: the data plane's shared types (router/ only; nothing outside includes it).
 *
 * Objects and owners, per worker thread (nothing here is shared between threads):
 *   worker   owns its loop, listener, conns, upconns, slots, buffer pool, access log;
 *   conn     a client TCP connection; embeds its one exchange (HTTP/1.1 is sequential);
 *   exchange one request/response; leases at most one upconn at a time;
 *   upconn   an upstream TCP connection: in a slot's idle list, leased, or connecting;
 *   slot     this worker's view of one target address (pool, load, ejection), indexed by
 *            target->slot so nothing is hashed per request.
 * Handles are freed in their uv_close callbacks, never before.
 */
#ifndef HOSTESS_ROUTER_INTERNAL_H
#define HOSTESS_ROUTER_INTERNAL_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "router/base/bufpool.h"
#include "router/base/deadline.h"
#include "router/base/list.h"
#include "router/h1_parse.h"
#include "router/route_table.h"
#include "router/router.h"
#include "router/settings.h"

/* Deadline kinds: one FIFO each (base/deadline.h). */
enum dl_kind {
    DL_HEADER, DL_IDLE, DL_CLIENT, DL_LINGER, DL_CONNECT, DL_UPSTREAM, DL_UP_IDLE,
    DL_TUNNEL, DL_DRAIN
};

#define TLS_OUT_CACHE 64 /* idle TLS output buffers a worker keeps (tls_conn.c) */
#define REQID_MAX 128   /* longest client X-Request-Id we keep */
#define LINGER_MS 2000 /* how long a closing client may keep sending before we reset it */

/* A byte buffer: a pool chunk, or a malloc'ed larger one for big heads. */
struct iobuf {
    char    *p;
    uint32_t off, len, cap; /* unread bytes are p[off..len) */
    uint8_t  big;           /* 1: malloc'ed (free), 0: pool chunk (bufpool_put) */
};

#define SENDQ_IOV 64

/* Pending write to one stream: at most one in flight. */
struct sendq {
    uv_write_t req;
    uv_buf_t   iov[SENDQ_IOV];
    unsigned   niov;
    uint8_t    busy;
};

/* Body framing translation: reads input framing, emits output framing as iovecs that point
 * into the input buffer (zero-copy) plus static or pump-owned framing bytes. */
#define PUMP_SPANS 16
struct pump {
    enum h1_body      kind;         /* input framing */
    uint64_t          remaining;    /* LENGTH: bytes still expected */
    struct h1_chunked ck;
    uint8_t           out_chunked;  /* emit chunked framing */
    uint8_t           done;         /* input body complete */
    uint8_t           ended;        /* output terminator emitted (or none needed) */
    uint64_t          moved;        /* payload bytes emitted */
    char              sizes[PUMP_SPANS][20];
};

enum conn_state {
    C_IDLE,      /* keep-alive wait between requests */
    C_READ_HEAD, /* part of a request head has arrived */
    C_BUSY,      /* an exchange runs */
    C_RELAY,     /* upgraded: raw bytes both ways */
    C_CLOSING,   /* error answered; lingering before close */
    C_H2,        /* HTTP/2: h2_conn.c owns the connection (c->h2) */
};

#define C_F_WANT_CLOSE 0x01u /* close after the current response */
#define C_F_RX_PAUSED  0x02u /* reading stopped: buffer full (back-pressure) */
#define C_F_EOF        0x04u /* client sent FIN */
#define C_F_CLOSED     0x08u /* uv_close called */
#define C_F_LINGER     0x10u /* request bytes may still arrive: lingering close */
#define C_F_SHUT       0x20u /* our FIN is queued (c->sreq) */

#define EX_F_ACTIVE     0x0001u
#define EX_F_REQ_SENT   0x0002u /* some request byte was written upstream */
#define EX_F_REQ_DONE   0x0004u /* the whole request was written upstream */
#define EX_F_RESP_HEAD  0x0008u /* response head received */
#define EX_F_HEAD_OUT   0x0010u /* response head given to the client socket */
#define EX_F_RESP_DONE  0x0020u /* response body complete from upstream */
#define EX_F_UPGRADE    0x0040u /* client asked for a WebSocket upgrade */
#define EX_F_EXPECT     0x0080u /* client sent Expect: 100-continue, not answered yet */
#define EX_F_IDEMPOTENT 0x0100u
#define EX_F_HEAD_REQ   0x0200u /* HEAD request: response has no body */
#define EX_F_UP_NOREUSE 0x0800u /* the upstream connection cannot carry another request */
#define EX_F_HAS_BODY   0x1000u /* the request has body bytes to forward */
#define EX_F_CANNED     0x2000u /* the response is the edge's own */
#define EX_F_RELAY      0x4000u /* upgraded (101): raw bytes both ways */

enum term_side { TERM_NONE, TERM_CLIENT, TERM_UPSTREAM, TERM_EDGE };
enum term_phase { PH_HEAD, PH_BODY, PH_ROUTE, PH_CONNECT, PH_RESP_HEAD, PH_RESP_BODY, PH_RELAY };

struct upconn;
struct conn;
struct worker;
struct tls_conn;
struct tls_server;
struct exchange;
struct h2_conn;
struct h2_worker;

/*
 * The client side of an exchange: an HTTP/1.1 connection (h1_client.c) or an HTTP/2
 * stream (h2_stream.c). exchange.c routes, retries, talks to upstreams and decides
 * errors once; these calls are all it knows of the client.
 *
 * Sends follow conn_send's contract: 1 done at once, 0 queued (exchange_on_client_written
 * runs once later), or a negative error; at most one send in flight (CL_BUSY). Body
 * iovecs point into the upstream's input buffer and stay valid until the send completes.
 */
#define CL_EOF  0x1u /* the client will send no more request bytes (FIN, END_STREAM) */
#define CL_BUSY 0x2u /* a send is in flight */
#define CL_GONE 0x4u /* the client side is closed: nothing more can be sent */

#define CL_SEND_HEAD 0x1u /* the response head (ops->head) goes out first */
#define CL_SEND_END  0x2u /* these are the last body bytes: end the response */

struct client_ops {
    uint8_t h1; /* the client reads HTTP/1.1 bytes: the edge writes framing and heads */
    unsigned (*state)(const struct exchange *ex); /* CL_* */
    /* Prepares the response head from the parsed upstream head (spans valid only during
     * the call). Returns 0 or -1 (too large). */
    int  (*head)(struct exchange *ex, const struct h1_response *resp);
    int  (*send)(struct exchange *ex, const uv_buf_t *iov, unsigned n, unsigned flags);
    /* The edge's own response (no response byte went out yet): status, Content-Type
     * ctype, Location when location.len > 0, Retry-After when retry_after > 0, body (not
     * sent for HEAD; copied, so it may live on the caller's stack). Same returns as send. */
    int  (*answer)(struct exchange *ex, int status, const char *ctype, struct span location,
                   struct span body, uint32_t retry_after);
    /* 100 Continue: same returns as send. */
    int  (*interim)(struct exchange *ex);
    /* n bytes of ex->in were written upstream (or are dead): release them. */
    void (*consume)(struct exchange *ex, size_t n);
    void (*rx_pause)(struct exchange *ex);
    void (*rx_resume)(struct exchange *ex);
    void (*relay)(struct exchange *ex);  /* a 101 turned the exchange into a tunnel */
    /* The response is complete (or canned and sent); unread: request body left unread. */
    void (*done)(struct exchange *ex, int unread);
    /* Abort: cut the client side; pending sends are dropped, never completed. */
    void (*close)(struct exchange *ex, enum term_side side);
};

struct exchange {
    struct upconn *up;          /* leased, or connecting for us */
    uint32_t       flags;       /* EX_F_* */
    uint32_t       slot;        /* target slot of up */
    uint16_t       status;      /* status sent (or to send) to the client */
    uint8_t        term_side, term_phase;
    uint8_t        attempts;
    uint8_t        method_id;
    uint8_t        minor;
    uint64_t       tried;       /* bit i: route target i already tried */
    uint64_t       route_tag;   /* struct route .tag of the route this request took */
    struct pump    req;         /* client → upstream body */
    struct pump    resp;        /* upstream → client body */
    size_t         req_used;    /* client bytes covered by the in-flight upstream write */
    size_t         resp_used;   /* upstream bytes covered by the in-flight client write */
    uint64_t       t_start, t_connect, t_header;
    /* For the access log and retries; copied out of the input buffer. */
    uint8_t        host_len, method_len;
    uint16_t       path_len;
    char           host[254];
    char           method[16];
    char           path[256];
    char           reqid[REQID_MAX + 1];
    /* Kept across exchanges (everything above is zeroed when one starts). */
    struct iobuf   uphead;      /* rebuilt request head */
    struct iobuf   downhead;    /* rebuilt response head */
    /* The client side, bound once (h1_client_bind, h2 stream setup). */
    struct conn             *c;   /* the client connection (the h2 stream's connection) */
    const struct client_ops *ops;
    struct iobuf            *in;  /* request body bytes from the client */
    struct deadline         *cdl; /* the client-side deadline */
};

struct conn {
    uv_tcp_t         tcp; /* first: handle ↔ conn */
    struct worker   *w;
    struct list_node link;
    enum conn_state  state;
    uint32_t         flags;
    uint32_t         nreqs;
    struct deadline  dl;
    struct iobuf     in;
    struct sendq     tx;
    uv_shutdown_t    sreq;          /* the lingering close's FIN */
    struct tls_conn *tls;           /* NULL: plaintext (owned; tls.h) */
    uint8_t          trusted;       /* peer is a trusted proxy */
    char             peer_ip[INET6_ADDRSTRLEN];
    struct h2_conn  *h2;            /* C_H2: the HTTP/2 session (h2.h) */
    struct exchange  ex;
};

enum up_state { UP_CONNECTING, UP_LEASED, UP_IDLE, UP_CLOSED };

struct upconn {
    uv_tcp_t         tcp;
    uv_connect_t     creq;
    uv_shutdown_t    sreq;
    struct worker   *w;
    struct list_node link; /* slot idle list */
    struct exchange *ex;
    enum up_state    state;
    uint32_t         slot;
    uint32_t         nreqs;
    struct deadline  dl;
    struct iobuf     in;
    struct sendq     tx;
    uint8_t          eof;
    uint8_t          reading;
};

/* Passive health of a target, shared by all workers (so one worker's failures eject the
 * target for every worker, as HAProxy does): written with relaxed atomics, no lock. */
struct target_health {
    _Atomic uint32_t fails;         /* consecutive failures */
    _Atomic uint64_t ejected_until; /* uv_now() ms (same monotonic clock in every loop) */
};

struct slot {
    struct sockaddr_storage sa;
    socklen_t               salen;
    char                    name[64];
    struct list_node        idle;        /* LIFO: head is the most recently used */
    uint32_t                nidle;
    uint32_t                outstanding; /* leased + connecting: P2C's load figure */
    struct target_health   *health;      /* shared, owned by the router */
};

struct access_log;

/* Written by the owning worker only; see stats.c. */
struct worker_stats {
    _Atomic uint64_t requests, upstream_errors, latency_sum_ms, accepted, open;
    _Atomic uint64_t tls_handshakes, tls_resumed, tls_failed, h2_requests;
    _Atomic uint64_t status[6];
    _Atomic uint64_t latency[ROUTER_LATENCY_BUCKETS];
};

struct worker {
    uv_loop_t                     loop;
    uv_thread_t                   thread;
    unsigned                      id;
    struct router                *r;
    uv_tcp_t                      listener;
    int                           listen_fd;
    uv_tcp_t                      listener_tls;
    int                           listen_fd_tls; /* -1: no HTTPS listener */
    struct tls_server            *tls;           /* the router's; NULL without HTTPS */
    struct list_node              tls_deferred;  /* TLS conns to pump on the idle turn */
    uv_idle_t                     tls_idle;
    char                         *tls_scratch;   /* one record of gathered plaintext */
    char                         *tls_out_free[TLS_OUT_CACHE]; /* idle TLS output buffers */
    unsigned                      ntls_out_free;
    uv_async_t                    wake;
    uv_prepare_t                  prep;
    struct deadline_wheel         wheel;
    struct deadline               drain_dl;
    struct bufpool                pool;
    const struct router_snapshot *snap;
    const struct edge_config     *cfg;     /* snap->cfg */
    const struct route_table     *routes;  /* the router's; read without locks */
    struct h1_limits              limits;
    struct h1_field              *fields;  /* parse scratch, limits.header_fields + 1 */
    size_t                        fields_cap;
    struct list_node              conns;
    unsigned                      nconns;
    struct slot                 **slots;
    uint32_t                      nslots;
    uint64_t                      rng;
    struct access_log            *alog;
    int                           draining;
    int                           stopping;
    int                           started;   /* its thread was created */
    uint64_t                      cut_seen;  /* router cut_seq already applied */
    struct h2_worker             *h2;        /* HTTP/2 per-worker state, made on first use */
    struct worker_stats           stats;
};

/* worker.c */
uint64_t worker_random(struct worker *w);
int worker_slot_ejected(const struct slot *s, uint64_t now);
struct slot *worker_slot(struct worker *w, const struct target *t);
void worker_conn_gone(struct worker *w);

/* conn.c */
void conn_accept(struct worker *w, uv_stream_t *server, int tls);
void conn_close(struct conn *c);
void conn_close_idle(struct conn *c);
void conn_rx_pause(struct conn *c);
void conn_rx_resume(struct conn *c);
void conn_exchange_done(struct conn *c);
void conn_reject(struct conn *c, int status, const char *why);
/* Sends FIN, discards what the client still sends until its EOF or DL_LINGER, closes. */
void conn_linger(struct conn *c);
void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
/* The byte stream below the HTTP code (plaintext, or tls_conn.c) reports: n plaintext
 * bytes were appended to c->in; the client's stream ended; it failed (a TLS error). */
void conn_on_input(struct conn *c, size_t n);
void conn_on_input_eof(struct conn *c);
void conn_input_failed(struct conn *c);
/* A conn_send() that returned 0 is done (status < 0: failed). */
void conn_on_sent(struct conn *c, int status);
/* Sends iov to the client (the byte-stream seam: plaintext, or through TLS). Same
 * contract as sendq_write: 1 all written at once, 0 queued (exchange_on_client_written
 * runs once when done), or a negative UV error. At most one send in flight (c->tx.busy). */
int  conn_send(struct conn *c, const uv_buf_t *iov, unsigned n);
/* conn_send() of the connection's last bytes (it closes once they are written): over TLS
 * the close_notify leaves in the same write, saving the client a segment and a wakeup. */
int  conn_send_last(struct conn *c, const uv_buf_t *iov, unsigned n);
/* 1 when the connection closes once its current exchange is done (no keep-alive). */
int  conn_closes_after_exchange(const struct conn *c);
void iobuf_release(struct worker *w, struct iobuf *b);
int  iobuf_reserve(struct worker *w, struct iobuf *b, size_t need);
/* Moves the unread bytes to the front of b. */
void iobuf_compact(struct iobuf *b);
/* Marks n bytes read; an emptied buffer restarts at 0, a full one is compacted. Only
 * when no pending write points into b. */
void iobuf_consume(struct iobuf *b, size_t n);
/* b is full and more must be read (a head longer than the buffer): compact, or grow up
 * to max bytes. Returns 0, or -1 when b already holds max bytes or memory ran out. */
int  iobuf_make_room(struct worker *w, struct iobuf *b, size_t max);

/* sendq: write iov to s. Returns 1 when everything was written at once (cb never runs),
 * 0 when the rest was queued (cb runs once), or a negative UV error (cb never runs). */
int sendq_write(struct sendq *q, uv_stream_t *s, const uv_buf_t *iov, unsigned n, uv_write_cb cb);

/* pump.c */
void pump_init(struct pump *p, enum h1_body kind, uint64_t length, int out_chunked);
/* Translates src[0..len) into at most maxiov iovecs. Returns the count, sets *used to the
 * source bytes covered; -1 on malformed input framing. */
int pump_fill(struct pump *p, const char *src, size_t len, size_t *used, uv_buf_t *iov,
              unsigned maxiov);
/* The input ended with EOF (UNTIL_CLOSE bodies): returns the terminator iov count (0/1). */
int pump_eof(struct pump *p, uv_buf_t *iov);

/* h1_client.c */
extern const struct client_ops h1_client_ops;
void h1_client_bind(struct conn *c);

/* exchange.c */
/* ex is bound to its client side (ex->c, ops, in, cdl). The request's spans are read
 * during the call only. */
void exchange_start(struct exchange *ex, const struct h1_request *req);
/* The edge answers status for a request it refuses before routing (no upstream). */
void exchange_reject(struct exchange *ex, int status, const char *detail);
void exchange_on_client_data(struct exchange *ex);
void exchange_on_client_eof(struct exchange *ex);
void exchange_abort(struct exchange *ex, enum term_side side, enum term_phase phase);
void exchange_on_client_written(struct exchange *ex, int status);
/* Answers the request with a response of the edge's own (redirects, ACME tokens). The
 * request head must already be consumed from c->in. */
void exchange_answer(struct exchange *ex, int status, const char *ctype, struct span location,
                     struct span body);

/* port80.c: what the plain-HTTP listener answers itself. */
/* An ACME http-01 request for a token in the table: answered (1), else 0 (in redirect
 * mode an unknown token under the challenge path is answered 404). Consumes the head when
 * it answers. */
int  port80_challenge(struct exchange *ex, const struct h1_request *req);
/* http_mode: redirect: 308 to the same URL on https. Consumes the head. */
void port80_redirect(struct exchange *ex, const struct h1_request *req);
/* The token table (worker.c): the key authorization for token[0..len), or NULL. Valid
 * until the worker's next quiescent point. */
const char *worker_http01_lookup(struct worker *w, const char *token, size_t len);

/* upstream.c */
/* Picks a target of the exchange's route and leases a connection: exchange_up_ready() or
 * exchange_up_failed() runs later (or at once, from inside this call). */
/* Returns 0 when under way, -ENOENT when every target was tried, -EAGAIN when every
 * remaining target is ejected (*retry_after_s set), or a UV error from connect. */
int upstream_acquire(struct exchange *ex, const struct route *route, uint32_t *retry_after_s);
void upstream_release(struct upconn *u, int keep);
void upstream_close(struct upconn *u);
void upstream_rx_pause(struct upconn *u);
void upstream_rx_resume(struct upconn *u);
void upstream_slot_success(struct worker *w, uint32_t slot);
void upstream_slot_failure(struct worker *w, uint32_t slot);
void upstream_slots_free(struct worker *w);
void upstream_on_written(uv_write_t *req, int status);
void exchange_up_ready(struct exchange *ex, struct upconn *u);
void exchange_up_failed(struct exchange *ex, int status, int timed_out);
void exchange_on_up_written(struct exchange *ex, int status);
void exchange_on_up_data(struct exchange *ex);
void exchange_on_up_eof(struct exchange *ex, int err);
void exchange_on_up_timeout(struct exchange *ex);

/* h1_write.c */
int h1_build_request(struct exchange *ex, const struct h1_request *req);
int h1_build_response(struct exchange *ex, const struct h1_response *resp);
/* A complete response of the edge's own in ex->downhead: status, Content-Type ctype, an
 * optional Location (location.len > 0), body (not sent for HEAD). */
int h1_build_answer(struct exchange *ex, int status, const char *ctype, struct span location,
                    struct span body, uint32_t retry_after, int close);
/* The same with the edge's plain-text error page for status. */
int h1_build_error(struct exchange *ex, int status, const char *detail, uint32_t retry_after,
                   int close);
/* The Strict-Transport-Security value the edge adds to a response to ex (over TLS, per
 * host class, when the upstream sent none), or NULL. */
const char *h1_hsts_value(const struct exchange *ex, const struct h1_response *resp);

/* stats.c */
void stats_exchange(struct worker *w, const struct exchange *ex);
void stats_conn(struct worker *w, int opened);
/* A TLS handshake ended: ok (resumed: by ticket), or failed. */
void stats_tls(struct worker *w, int ok, int resumed);
void stats_sum(const struct worker *w, unsigned n, struct router_stats *out);

/* access_log.c */
struct access_log *access_log_new(void);
void access_log_free(struct access_log *l);
void access_log_exchange(struct worker *w, const struct exchange *ex);
void access_log_flush(struct access_log *l);
int access_log_open(const char *path); /* main thread: "-", "off" or a file; -errno */
const char *term_name(enum term_side s, enum term_phase p);

#endif
