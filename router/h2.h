/*
 * h2: HTTP/2 towards clients (RFC 9113), one nghttp2 server session per connection, each
 * stream proxied as an exchange (exchange.c) to the HTTP/1.1 upstream pool.
 *
 *   h2_conn.c    the session: plaintext in from c->in, frames out through conn_send();
 *                the output queue, flushing, deadlines, GOAWAY, and the per-connection
 *                abuse counters (Rapid Reset, MadeYouReset, CONTINUATION and control-frame
 *                floods, HPACK bombs) that end an abusive connection with GOAWAY.
 *   h2_stream.c  a stream: header collection and checks, translation to an HTTP/1.1
 *                request head (h1_write.c's rules), and the client side of its exchange
 *                (struct client_ops): response head, DATA through a data provider that
 *                reads the upstream's buffer, trailers, flow control, RST_STREAM.
 *
 * Entry points: h2_conn_start() when a connection's first bytes are the client preface
 * (prior knowledge, h2c) or when TLS negotiated ALPN "h2"; the rest are conn.c's and
 * worker.c's hooks for a connection in state C_H2.
 *
 * Ownership: struct h2_conn belongs to its conn (c->h2) and is freed when the connection
 * closes, or once its session is over (then the connection lingers like an h1 one).
 * Streams come from a per-worker free list; their buffers go when their exchange ends,
 * the struct when nghttp2 has closed the stream too.
 */
#ifndef HOSTESS_ROUTER_H2_H
#define HOSTESS_ROUTER_H2_H

#include <nghttp2/nghttp2.h>

#include "router/internal.h"

/* --- hooks (conn.c, worker.c, TLS) ----------------------------------------------------- */

/* 1: p[0..n) holds the whole client preface; 0: a proper prefix of it; -1: not h2. */
int  h2_preface_check(const char *p, size_t n);
/* Turns c (fresh, no request read) into an HTTP/2 connection. c->in may already hold the
 * client's first bytes (the preface and more). */
void h2_conn_start(struct conn *c);
void h2_conn_on_data(struct conn *c);               /* plaintext bytes were added to c->in */
void h2_conn_on_eof(struct conn *c);
void h2_conn_on_written(struct conn *c, int status); /* a queued conn_send() completed */
void h2_conn_on_deadline(struct conn *c);
void h2_conn_close(struct conn *c);                  /* conn_close(): abort every stream */
void h2_conn_drain(struct conn *c);                  /* graceful GOAWAY */
void h2_conn_cut_tagged(struct conn *c, uint64_t tag);
void h2_worker_free(struct worker *w);               /* after the worker's loop closed */

/* --- shared by h2_conn.c and h2_stream.c ----------------------------------------------- */

#define H2_MAX_STREAMS   100
#define H2_STREAM_WINDOW BUFPOOL_CHUNK /* a stream's request body buffer is one chunk */
#define H2_EARLY_WINDOW  65536         /* RFC default, in force until our SETTINGS is acked */
#define H2_CONN_WINDOW   (1u << 20)
#define H2_OUT_CHUNKS    8             /* output queue: up to 8 pool chunks ... */
#define H2_OUT_SOFT      (4u * BUFPOOL_CHUNK) /* ... frames are produced while below this */
#define H2_IOV           (PUMP_SPANS + 2)

struct h2_worker {
    uv_idle_t                  idle;    /* flushes sessions after the callbacks of a turn */
    struct list_node           pending; /* h2_conn.sched */
    struct list_node           free_streams;
    unsigned                   nfree;
    nghttp2_session_callbacks *cbs;
    nghttp2_option            *opt;
};

struct h2_conn {
    struct conn      *c;
    struct worker    *w;
    nghttp2_session  *session;
    struct list_node  streams;     /* h2_stream.link */
    struct list_node  completions; /* h2_stream.done_link: sends finished inside nghttp2 */
    struct list_node  sched;       /* h2_worker.pending */
    char             *out[H2_OUT_CHUNKS];  /* kept while streams are open (no churn) */
    uint32_t          out_len[H2_OUT_CHUNKS];
    unsigned          nout, nchunks;        /* chunks in use, chunks held */
    size_t            out_bytes;
    unsigned          depth;       /* h2 code on the stack: free only when it unwinds */
    uint32_t          nstreams;    /* h2_stream structs alive */
    uint32_t          nex;         /* ... of which an exchange still uses (ST_EX) */
    uint32_t          nheaders;    /* header blocks begun, not yet complete */
    uint32_t          hbegun;      /* request header blocks begun, ever */
    uint32_t          hbegun_dl;   /* ... when DL_HEADER was armed */
    uint32_t          hblock;      /* encoded bytes of the header block being received */
    uint32_t          max_sid;     /* highest client stream id opened */
    uint64_t          sid_used[4]; /* bit (id / 2) % 256: the client opened id (the 256
                                      odd ids up to max_sid; skipped ones are clear) */
    /* Abuse accounting: what a client costs us against the requests it completed. */
    uint32_t          completed;   /* responses sent in full */
    uint32_t          resets;      /* RST_STREAM from the client */
    uint32_t          errors;      /* stream errors the client caused (RST we sent, 4xx) */
    uint32_t          ctrl;        /* SETTINGS, PING, PRIORITY, empty DATA frames */
    int8_t            dl_kind;     /* kind armed on c->dl, -1 none */
    uint8_t           scheduled, flushing, closed, terminating, finished, broken, eof,
                      draining, settings_acked;
};

#define ST_NG       0x0001u /* nghttp2 has the stream open */
#define ST_EX       0x0002u /* an exchange (or a canned answer) uses the stream */
#define ST_EOF      0x0004u /* END_STREAM received */
#define ST_HEADERS  0x0008u /* request header block being received */
#define ST_TOO_BIG  0x0010u /* decoded header bytes over limits.header_bytes */
#define ST_RESP     0x0020u /* response HEADERS submitted */
#define ST_END      0x0040u /* the exchange gave the last body bytes */
#define ST_END_SENT 0x0080u /* END_STREAM (or trailers) produced */
#define ST_SENDING  0x0100u /* a send is in flight: completion pending */
#define ST_DEFERRED 0x0200u /* the data provider returned DEFERRED */
#define ST_RELAY    0x0400u /* extended CONNECT tunnel (WebSocket) */
#define ST_OURS_RST 0x0800u /* we reset it (not the client's fault) */
#define ST_TRAILERS 0x1000u /* request trailers being received (dropped) */
#define ST_BIGBUF   0x2000u /* opened before our SETTINGS was acked: 64 KiB window */
#define ST_RST_LATER 0x4000u /* RST_STREAM(NO_ERROR) once our END_STREAM is sent */
#define ST_FREE     0x8000u /* on the worker's free list */

struct h2_stream {
    struct exchange   ex;
    struct h2_conn   *h2;
    struct list_node  link;      /* h2->streams, or h2_worker.free_streams */
    struct list_node  done_link; /* h2->completions */
    struct deadline   dl;        /* ex.cdl */
    struct iobuf      in;        /* request body bytes not yet written upstream */
    int32_t           id;
    uint32_t          flags;     /* ST_* */
    uint32_t          hbytes;    /* decoded header bytes (RFC 9113 §6.5.2 accounting) */
    uint32_t          nnv;       /* response head: nghttp2_nv entries at ex.downhead.p */
    uv_buf_t          iov[H2_IOV]; /* body bytes handed over by the exchange */
    unsigned          niov, iov_i;
    size_t            iov_off, pending;
};

/* h2_conn.c */
struct h2_worker *h2_worker_get(struct worker *w);
void   h2_schedule(struct h2_conn *h2);          /* flush after this loop turn's callbacks */
void   h2_abuse(struct h2_conn *h2, const char *why);
void   h2_count_error(struct h2_conn *h2);       /* a stream error the client caused */
void   h2_out_append(struct h2_conn *h2, const void *p, size_t n);

/* h2_stream.c */
struct h2_stream *h2_stream_new(struct h2_conn *h2, int32_t id);
void h2_stream_release(struct h2_stream *st);   /* frees once neither side needs it */
void h2_stream_free_list(struct h2_worker *hw, struct worker *w);
int  h2_stream_header(struct h2_stream *st, const uint8_t *name, size_t namelen,
                      const uint8_t *value, size_t valuelen);
void h2_stream_request(struct h2_stream *st);   /* the request header block is complete */
void h2_stream_data(struct h2_stream *st, const uint8_t *data, size_t len);
void h2_stream_eof(struct h2_stream *st);       /* END_STREAM from the client */
void h2_stream_closed(struct h2_stream *st, uint32_t error_code);
void h2_stream_abort(struct h2_stream *st, enum term_side side);
ssize_t h2_stream_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                       uint32_t *data_flags, nghttp2_data_source *source, void *user);
int  h2_stream_send_data(nghttp2_session *s, nghttp2_frame *frame, const uint8_t *framehd,
                         size_t length, nghttp2_data_source *source, void *user);
void h2_stream_completed(struct h2_stream *st); /* runs exchange_on_client_written */

#endif
