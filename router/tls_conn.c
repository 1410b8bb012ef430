/*
 * tls_conn: TLS between a client socket and the HTTP code (see tls.h).
 *
 * OpenSSL talks to us through a BIO of our own rather than a socket BIO or a pair of
 * memory BIOs: its read side hands out the ciphertext libuv read into cin (one copy, into
 * OpenSSL's record buffer, as with a socket), its write side appends records to out,
 * which leaves in one write however many records a response took.
 *
 * Reading: ciphertext arrives in cin; tls_pump() runs the handshake, then decrypts into
 * c->in while it has room and hands each piece to the connection (conn_on_input), which
 * parses, starts exchanges and pumps bodies exactly as for plaintext. When c->in is full
 * the connection pauses (stops reading the socket); when the HTTP code makes room it
 * calls conn_rx_resume(), which defers a tls_pump() to the worker's idle turn, because
 * cin and OpenSSL may still hold bytes that no socket read will announce.
 *
 * Writing: tls_conn_send() encrypts the iovecs into out, at most two records ahead of
 * the socket, and completes (as sendq_write does) only when the last byte is written:
 * a slow client holds back the HTTP code, never grows our buffers. Small pieces (a head
 * and a short body) are gathered into one record; large ones are encrypted in place.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "certs/tls_kdf.h"
#include "certs/tls_settings.h"
#include "router/base/hostname.h"
#include "router/base/log.h"
#include "router/h2.h"
#include "router/internal.h"
#include "router/tls.h"

/* ALPN, in our preference order (certs/tls_settings.h's format). */
static const unsigned char alpn_h2_http11[] = "\x02h2\x08http/1.1";

#define TLS_RECORD      16384                      /* TLS maximum plaintext per record */
#define TLS_RECORD_ROOM (TLS_RECORD + 256)         /* a record with header, tag, padding */
#define TLS_OUT_CAP     (2 * TLS_RECORD_ROOM)      /* out: two records ahead of the socket */
#define TLS_GATHER_MAX  4096                       /* pieces below this are gathered */
#define TLS_ALERT_ROOM  64                         /* an alert record, with room to spare */

struct tls_conn {
    SSL             *ssl;
    struct iobuf     cin;       /* ciphertext read, not yet taken by OpenSSL */
    char            *out;       /* ciphertext to write: [0, out_len); the first
                                   out_busy bytes are in a uv_write */
    uint32_t         out_len, out_cap, out_busy;
    uv_write_t       wreq;
    /* The plaintext of the conn_send() in progress: iov[iov_i..niov), the first from
     * iov_off on (the iovecs point into the caller's buffers, as with sendq_write). */
    uv_buf_t         iov[SENDQ_IOV];
    unsigned         niov, iov_i;
    size_t           iov_off;
    uint8_t          sending;    /* a conn_send() is under way (c->tx.busy) */
    uint8_t          notify_last; /* that send ends the connection: close_notify follows
                                     its last record, in the same write */
    uint8_t          handshaken;
    uint8_t          eof;        /* the socket ended (or close_notify came) */
    uint8_t          deferred;   /* on the worker's tls_deferred list */
    uint8_t          want_write; /* OpenSSL stopped for room in out: pump after the write */
    uint8_t          cin_stalled; /* reading paused because cin was full (not by the HTTP
                                     code): the pump resumes it once OpenSSL took bytes */
    struct list_node defer_link;
    char             sni[HOSTNAME_MAX + 1]; /* normalised server name, "" when none */
};

static void tls_pump(struct conn *c);
static void tls_run_deferred(uv_idle_t *h);

/* --- the BIO ---------------------------------------------------------------------------- */

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

/* out has room for need more bytes: an idle buffer from the worker, grown only while no
 * write points into it (a handshake with a long chain; records never need it). */
static int out_reserve(struct conn *c, size_t need)
{
    struct tls_conn *t = c->tls;
    struct worker *w = c->w;

    if (t->out == NULL) {
        t->out = w->ntls_out_free ? w->tls_out_free[--w->ntls_out_free] : malloc(TLS_OUT_CAP);
        if (t->out == NULL)
            return -1;
        t->out_cap = TLS_OUT_CAP;
    }
    if (t->out_len + need <= t->out_cap)
        return 0;
    if (t->out_busy)
        return -1;
    size_t cap = t->out_len + need;
    char *p = t->out_cap == TLS_OUT_CAP ? malloc(cap) : realloc(t->out, cap);
    if (p == NULL)
        return -1;
    if (t->out_cap == TLS_OUT_CAP) {
        memcpy(p, t->out, t->out_len);
        if (w->ntls_out_free < TLS_OUT_CACHE)
            w->tls_out_free[w->ntls_out_free++] = t->out;
        else
            free(t->out);
    }
    t->out = p;
    t->out_cap = (uint32_t)cap;
    return 0;
}

/* out is empty and idle: back to the worker (an idle connection holds no buffer). */
static void out_release(struct conn *c)
{
    struct tls_conn *t = c->tls;
    struct worker *w = c->w;
    if (t->out == NULL || t->out_len != 0 || t->out_busy != 0)
        return;
    if (t->out_cap == TLS_OUT_CAP && w->ntls_out_free < TLS_OUT_CACHE)
        w->tls_out_free[w->ntls_out_free++] = t->out;
    else
        free(t->out);
    t->out = NULL;
    t->out_cap = 0;
}

static int bio_write(BIO *b, const char *data, int len)
{
    struct conn *c = BIO_get_data(b);
    struct tls_conn *t = c->tls;

    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    if (out_reserve(c, (size_t)len) != 0) {
        t->want_write = 1;
        BIO_set_retry_write(b);
        return -1;
    }
    memcpy(t->out + t->out_len, data, (size_t)len);
    t->out_len += (uint32_t)len;
    return len;
}

static int bio_read(BIO *b, char *buf, int len)
{
    struct conn *c = BIO_get_data(b);
    struct tls_conn *t = c->tls;
    size_t avail = t->cin.len - t->cin.off;

    BIO_clear_retry_flags(b);
    if (avail == 0) {
        if (t->eof)
            return 0;
        BIO_set_retry_read(b);
        return -1;
    }
    size_t n = avail < (size_t)len ? avail : (size_t)len;
    memcpy(buf, t->cin.p + t->cin.off, n);
    t->cin.off += (uint32_t)n;
    if (t->cin.off == t->cin.len)
        t->cin.off = t->cin.len = 0;
    return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static void bio_method_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "hostess-conn");
    if (m == NULL || BIO_meth_set_write(m, bio_write) != 1 || BIO_meth_set_read(m, bio_read) != 1 ||
        BIO_meth_set_ctrl(m, bio_ctrl) != 1 || BIO_meth_set_create(m, bio_create) != 1) {
        BIO_meth_free(m);
        return;
    }
    bio_method = m;
}

/* --- lifecycle -------------------------------------------------------------------------- */

int tls_conn_attach(struct conn *c, struct tls_server *s, int tickets, int http2)
{
    pthread_once(&bio_once, bio_method_init);
    struct tls_conn *t = calloc(1, sizeof(*t));
    BIO *bio = bio_method ? BIO_new(bio_method) : NULL;
    if (t == NULL || bio == NULL)
        goto fail;
    c->tls = t;
    list_init(&t->defer_link);
    t->ssl = tls_server_ssl_new(s, c, tickets);
    if (t->ssl == NULL)
        goto fail;
    BIO_set_data(bio, c);
    SSL_set_bio(t->ssl, bio, bio); /* the SSL owns the BIO (one reference, both sides) */
    if (http2 && tls_set_alpn(t->ssl, alpn_h2_http11) != 0) {
        bio = NULL; /* freed with the SSL */
        SSL_free(t->ssl);
        goto fail;
    }
    return 0;
fail:
    BIO_free(bio);
    free(t);
    c->tls = NULL;
    return -ENOMEM;
}

void tls_conn_free(struct conn *c)
{
    struct tls_conn *t = c->tls;
    if (t == NULL)
        return;
    if (t->deferred)
        list_unlink(&t->defer_link);
    SSL_free(t->ssl);
    tls_kdf_scrub(); /* this connection's last secrets in the thread's KDF digest state */
    iobuf_release(c->w, &t->cin);
    t->out_len = t->out_busy = 0;
    out_release(c);
    free(t);
    c->tls = NULL;
}

/* --- writing ---------------------------------------------------------------------------- */

static void tls_on_written(uv_write_t *req, int status);

/* Starts writing what out holds, unless a write is already under way. Returns 0 or a UV
 * error. */
static int tls_flush(struct conn *c)
{
    struct tls_conn *t = c->tls;
    uv_stream_t *s = (uv_stream_t *)&c->tcp;

    if (t->out_busy || t->out_len == 0 || (c->flags & C_F_CLOSED))
        return 0;
    uv_buf_t b = uv_buf_init(t->out, t->out_len);
    int r = uv_try_write(s, &b, 1);
    if (r == UV_EAGAIN)
        r = 0;
    else if (r < 0)
        return r;
    if ((uint32_t)r < t->out_len) {
        memmove(t->out, t->out + r, t->out_len - (uint32_t)r);
        t->out_len -= (uint32_t)r;
        b = uv_buf_init(t->out, t->out_len);
        t->wreq.data = c;
        r = uv_write(&t->wreq, s, &b, 1, tls_on_written);
        if (r < 0)
            return r;
        t->out_busy = t->out_len;
        return 0;
    }
    t->out_len = 0;
    if (!t->sending)
        out_release(c);
    return 0;
}

/* Encrypts pending plaintext while out has room for a whole record, then flushes.
 * Returns 0 or a negative error. */
static int tls_encrypt(struct conn *c)
{
    struct tls_conn *t = c->tls;
    struct worker *w = c->w;

    while (t->iov_i < t->niov) {
        if (t->out_cap - t->out_len < TLS_RECORD_ROOM || t->out == NULL) {
            int r = tls_flush(c);
            if (r < 0)
                return r;
            if (t->out_busy)
                return 0; /* the write's completion goes on */
            if (out_reserve(c, TLS_RECORD_ROOM) != 0)
                return UV_ENOMEM;
        }
        const uv_buf_t *cur = &t->iov[t->iov_i];
        const char *p;
        size_t k = cur->len - t->iov_off;
        if (k >= TLS_GATHER_MAX) { /* a large piece: encrypt it where it is */
            p = cur->base + t->iov_off;
            if (k > TLS_RECORD)
                k = TLS_RECORD;
            t->iov_off += k;
            if (t->iov_off == cur->len) {
                t->iov_i++;
                t->iov_off = 0;
            }
        } else { /* small pieces: gather into one record */
            if (w->tls_scratch == NULL && (w->tls_scratch = malloc(TLS_RECORD)) == NULL)
                return UV_ENOMEM;
            k = 0;
            while (t->iov_i < t->niov && k < TLS_RECORD) {
                cur = &t->iov[t->iov_i];
                size_t rem = cur->len - t->iov_off;
                if (rem >= TLS_GATHER_MAX && k > 0)
                    break; /* the large piece gets its own record */
                size_t take = rem < TLS_RECORD - k ? rem : TLS_RECORD - k;
                memcpy(w->tls_scratch + k, cur->base + t->iov_off, take);
                k += take;
                t->iov_off += take;
                if (t->iov_off == cur->len) {
                    t->iov_i++;
                    t->iov_off = 0;
                }
            }
            p = w->tls_scratch;
        }
        if (k == 0)
            continue;
        size_t done = 0;
        if (SSL_write_ex(t->ssl, p, k, &done) != 1 || done != k) {
            /* out had room for the record, so this is a TLS failure, not a wait. */
            ERR_clear_error();
            return UV_EPROTO;
        }
    }
    if (t->notify_last && t->iov_i == t->niov) {
        /* The alert needs a few bytes more; out grows unless a write points into it, and
         * then the write's completion comes back here with out idle. */
        if (t->out_busy && t->out_cap - t->out_len < TLS_ALERT_ROOM)
            return 0;
        t->notify_last = 0;
        if (SSL_shutdown(t->ssl) < 0)
            ERR_clear_error(); /* best effort, as at any close */
    }
    return tls_flush(c);
}

/* The send in progress is finished (all plaintext encrypted and written) or failed. */
static void tls_send_done(struct conn *c, int status)
{
    struct tls_conn *t = c->tls;
    t->sending = 0;
    t->notify_last = 0;
    t->niov = t->iov_i = 0;
    out_release(c);
    conn_on_sent(c, status);
}

static void tls_on_written(uv_write_t *req, int status)
{
    struct conn *c = req->data;
    struct tls_conn *t = c->tls;

    if (c->flags & C_F_CLOSED)
        return; /* cancelled by uv_close */
    t->out_len -= t->out_busy;
    memmove(t->out, t->out + t->out_busy, t->out_len);
    t->out_busy = 0;
    if (status >= 0 && t->sending)
        status = tls_encrypt(c);
    else if (status >= 0)
        status = tls_flush(c);
    if (t->want_write && status >= 0) { /* OpenSSL waited for room: let it go on (deferred) */
        t->want_write = 0;
        tls_conn_resume(c);
    }
    if (t->sending && (status < 0 || (t->iov_i == t->niov && t->out_len == 0))) {
        tls_send_done(c, status);
        return;
    }
    if (status < 0)
        conn_input_failed(c);
}

int tls_conn_send(struct conn *c, const uv_buf_t *iov, unsigned n, int last)
{
    struct tls_conn *t = c->tls;

    if (n > SENDQ_IOV)
        return UV_EINVAL;
    memcpy(t->iov, iov, n * sizeof(*iov));
    t->niov = n;
    t->iov_i = 0;
    t->iov_off = 0;
    t->sending = 1;
    t->notify_last = last && t->handshaken;
    int r = tls_encrypt(c);
    if (r < 0 || (t->iov_i == t->niov && t->out_len == 0)) {
        t->sending = 0;
        t->notify_last = 0;
        t->niov = t->iov_i = 0;
        out_release(c);
        return r < 0 ? r : 1;
    }
    c->tx.busy = 1;
    return 0;
}

void tls_conn_close_notify(struct conn *c)
{
    struct tls_conn *t = c->tls;
    if (SSL_get_shutdown(t->ssl) & SSL_SENT_SHUTDOWN)
        return; /* it left with the last response (tls_conn_send's last) */
    if (t->handshaken && !t->sending && SSL_shutdown(t->ssl) >= 0)
        (void)tls_flush(c); /* best effort: the connection closes either way */
    ERR_clear_error();
}

/* --- reading ---------------------------------------------------------------------------- */

void tls_conn_alloc(struct conn *c, uv_buf_t *b)
{
    struct tls_conn *t = c->tls;

    if (t->cin.p == NULL && iobuf_reserve(c->w, &t->cin, BUFPOOL_CHUNK) != 0) {
        *b = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS: we wait (paused) */
        return;
    }
    iobuf_compact(&t->cin);
    if (t->cin.len == t->cin.cap)
        t->cin_stalled = 1; /* an empty buffer: read_cb gets UV_ENOBUFS and pauses */
    *b = uv_buf_init(t->cin.p + t->cin.len, t->cin.cap - t->cin.len);
}

void tls_conn_on_read(struct conn *c, ssize_t n)
{
    struct tls_conn *t = c->tls;
    if (n < 0) {
        t->eof = 1;
        uv_read_stop((uv_stream_t *)&c->tcp);
    } else {
        t->cin.len += (uint32_t)n;
    }
    tls_pump(c);
}

int tls_conn_eof(const struct conn *c)
{
    return c->tls->eof;
}

static void tls_fail(struct conn *c, const char *what)
{
    unsigned long e = ERR_peek_error();
    char buf[160] = "";
    if (e != 0)
        ERR_error_string_n(e, buf, sizeof buf);
    log_debug("client %s: tls %s failed %s", c->peer_ip, what, buf);
    ERR_clear_error();
    (void)tls_flush(c); /* the alert OpenSSL wrote, if the socket takes it now */
    conn_input_failed(c);
}

static void tls_handshake_done(struct conn *c)
{
    struct worker *w = c->w;
    const unsigned char *proto = NULL;
    unsigned len = 0;

    c->tls->handshaken = 1;
    stats_tls(w, 1, SSL_session_reused(c->tls->ssl));
    SSL_get0_alpn_selected(c->tls->ssl, &proto, &len);
    if (len == 2 && memcmp(proto, "h2", 2) == 0) {
        h2_conn_start(c); /* the connection is the HTTP/2 session's from here on */
        return;
    }
    /* From here on the first request head has timeouts.header, as on plain HTTP. */
    deadline_arm(&w->wheel, &c->dl, DL_HEADER, w->cfg->timeouts.header_ms);
}

/* Handshake, then decrypt into c->in and hand it up, while there is room and input. */
static void tls_pump(struct conn *c)
{
    struct tls_conn *t = c->tls;
    struct worker *w = c->w;

    while (!(c->flags & C_F_CLOSED)) {
        if (!t->handshaken) {
            int r = SSL_do_handshake(t->ssl);
            int f = tls_flush(c);
            if (f < 0) {
                conn_close(c);
                return;
            }
            if (r == 1) {
                tls_handshake_done(c);
                continue;
            }
            int e = SSL_get_error(t->ssl, r);
            if (e == SSL_ERROR_WANT_WRITE)
                return; /* tls_on_written() resumes */
            if (e == SSL_ERROR_WANT_READ && !t->eof)
                break;
            stats_tls(w, 0, 0);
            tls_fail(c, "handshake");
            return;
        }
        /* Paused by the HTTP code (c->in full, or HTTP/2 output backed up): it resumes us. */
        if ((c->flags & C_F_RX_PAUSED) && !t->cin_stalled && c->state != C_CLOSING)
            return;
        if (c->in.p == NULL && iobuf_reserve(w, &c->in, BUFPOOL_CHUNK) != 0) {
            conn_rx_pause(c); /* out of memory: the client's timeout ends it */
            return;
        }
        if (c->in.off == c->in.len && c->state != C_BUSY && c->state != C_RELAY)
            c->in.off = c->in.len = 0; /* nothing references consumed bytes any more */
        if (c->in.len == c->in.cap) {
            conn_rx_pause(c);
            return;
        }
        size_t got = 0;
        int r = SSL_read_ex(t->ssl, c->in.p + c->in.len, c->in.cap - c->in.len, &got);
        if (tls_flush(c) < 0) { /* a KeyUpdate answer or a session ticket */
            conn_close(c);
            return;
        }
        if (r == 1) {
            conn_on_input(c, got);
            continue;
        }
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_WANT_READ && !t->eof)
            break;
        if (e == SSL_ERROR_WANT_WRITE)
            return;
        if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_WANT_READ ||
            (e == SSL_ERROR_SYSCALL && t->eof)) {
            /* close_notify, or the socket ended (HTTP/1.1 frames its own messages, so a
             * missing close_notify is treated like a TCP FIN, as browsers and nginx do). */
            ERR_clear_error();
            t->eof = 1;
            conn_on_input_eof(c);
            return;
        }
        tls_fail(c, "read");
        return;
    }
    /* OpenSSL wants more ciphertext: if reading stopped only because cin was full (say,
     * while a handshake write was pending), read again now that it took bytes. */
    if (!(c->flags & C_F_CLOSED) && t->cin_stalled && t->cin.len < t->cin.cap) {
        t->cin_stalled = 0;
        conn_rx_resume(c);
    }
    if (!(c->flags & C_F_CLOSED) && t->cin.off == t->cin.len)
        iobuf_release(w, &t->cin); /* an idle connection holds no buffer */
}

/* --- deferred pumps --------------------------------------------------------------------- */

void tls_conn_resume(struct conn *c)
{
    struct tls_conn *t = c->tls;
    struct worker *w = c->w;
    if (t->deferred || (c->flags & C_F_CLOSED))
        return;
    t->deferred = 1;
    list_push_tail(&w->tls_deferred, &t->defer_link);
    if (!uv_is_active((uv_handle_t *)&w->tls_idle)) {
        w->tls_idle.data = w;
        uv_idle_start(&w->tls_idle, tls_run_deferred);
    }
}

/* The worker's idle turn: the deferred decrypts. */
static void tls_run_deferred(uv_idle_t *h)
{
    struct worker *w = h->data;
    struct list_node batch, *n;

    /* Pumps may defer again (a buffer filled anew): those wait for the next turn. */
    list_init(&batch);
    while ((n = list_first(&w->tls_deferred)) != NULL) {
        list_unlink(n);
        list_push_tail(&batch, n);
    }
    while ((n = list_first(&batch)) != NULL) {
        struct tls_conn *t = container_of(n, struct tls_conn, defer_link);
        struct conn *c = SSL_get_app_data(t->ssl);
        list_unlink(n);
        t->deferred = 0;
        if (!(c->flags & C_F_CLOSED))
            tls_pump(c);
    }
    if (list_first(&w->tls_deferred) == NULL)
        uv_idle_stop(&w->tls_idle);
}

/* --- names ------------------------------------------------------------------------------ */

void tls_conn_set_sni(struct conn *c, const char *name, size_t len)
{
    char norm[HOSTNAME_MAX + 1];
    int n = name != NULL && len > 0 ? hostname_normalise(name, len, norm) : -1;
    if (n > 0) {
        memcpy(c->tls->sni, norm, (size_t)n);
        c->tls->sni[n] = '\0';
    } else {
        c->tls->sni[0] = '\0';
    }
}

int tls_conn_sni_is(const struct conn *c, const char *name)
{
    char norm[HOSTNAME_MAX + 1];
    int n = name != NULL && name[0] != '\0' ? hostname_normalise(name, strlen(name), norm) : 0;
    if (n < 0)
        return 0;
    norm[n] = '\0';
    return strcmp(norm, c->tls->sni) == 0;
}

/* The certificate served on this connection covers host[0..len). */
static int tls_conn_cert_covers(const struct conn *c, const char *host, size_t len)
{
    X509 *x = SSL_get_certificate(c->tls->ssl);
    return x != NULL &&
           X509_check_host(x, host, len, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
}

int tls_conn_misdirected(const struct conn *c, const char *host, size_t len, const char *domain)
{
    const char *sni = c->tls->sni;
    if (sni[0] == '\0')
        return hostname_is_below(host, len, domain);
    if (strlen(sni) == len && memcmp(sni, host, len) == 0)
        return 0;
    return !tls_conn_cert_covers(c, host, len);
}
