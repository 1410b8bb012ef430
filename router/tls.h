/*
 * tls: TLS termination for client connections (router/ only).
 *
 * tls_server (tls_server.c), one per router, shared by every worker and read without
 * locks: the listener's SSL_CTX (whose client-hello callback picks the certificate's
 * SSL_CTX from the published cert_store), the published certificate store and the
 * session-ticket keys. The control thread is the only writer; old stores and key sets
 * are retired through the router's epoch domain, so a handshake never sees one freed.
 *
 * tls_conn (tls_conn.c), one per TLS client connection: the byte-stream seam below the
 * HTTP code. Ciphertext read from the socket goes through the SSL object into the
 * connection's plaintext input buffer (c->in), and conn_send() plaintext is encrypted
 * into an output buffer that leaves with one write, so parsing, exchanges, pumps and
 * back-pressure work on plaintext exactly as on a plain connection.
 */
#ifndef HOSTESS_ROUTER_TLS_H
#define HOSTESS_ROUTER_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>

struct cert_store;
struct conn;
struct epoch_domain;
struct worker;
struct tls_server;
struct tls_conn;

/* --- tls_server.c (created and written by the control thread) ----------------------- */

/* Returns NULL and fills err when OpenSSL cannot make the listener context. */
struct tls_server *tls_server_new(struct epoch_domain *epoch, char *err, size_t errlen);
/* Only once no worker runs. Frees the current store and keys. */
void tls_server_free(struct tls_server *s);
/* Publishes store (owned from now on; the previous one is retired). Returns 0, or
 * -ENOMEM (store freed, the previous one stays). */
int tls_server_publish_certs(struct tls_server *s, struct cert_store *store);
/* The store in service (owner's thread only: for the next load's "previous"). */
const struct cert_store *tls_server_certs(struct tls_server *s);
/* Makes a fresh ticket key current; the previous current one still decrypts until the
 * next rotation. Returns 0 or -ENOMEM / -EIO (nothing changed). */
int tls_server_rotate_tickets(struct tls_server *s);

/* --- worker side ----------------------------------------------------------------------- */

/* A server SSL object for one connection (app data set to c), or NULL. tickets: issue
 * session tickets on this connection. */
SSL *tls_server_ssl_new(struct tls_server *s, struct conn *c, int tickets);

/* --- tls_conn.c ------------------------------------------------------------------------ */

/* Makes c a TLS connection (server side); http2: offer "h2" in ALPN (before http/1.1).
 * Returns 0 or -ENOMEM. */
int  tls_conn_attach(struct conn *c, struct tls_server *s, int tickets, int http2);
/* Frees the TLS state (from the handle's close callback: no write is in flight). */
void tls_conn_free(struct conn *c);
/* libuv alloc/read for the ciphertext side. */
void tls_conn_alloc(struct conn *c, uv_buf_t *b);
void tls_conn_on_read(struct conn *c, ssize_t n);
/* conn_send() for TLS connections (same contract); last: the connection closes after
 * this send, whose close_notify then leaves in the same write as its last record. */
int  tls_conn_send(struct conn *c, const uv_buf_t *iov, unsigned n, int last);
/* The upper layer made room in c->in: decrypt what is already buffered (deferred to the
 * worker's idle turn: this may be called from inside the HTTP code). */
void tls_conn_resume(struct conn *c);
/* The socket ended (what TLS still buffers may not be decrypted yet). */
int  tls_conn_eof(const struct conn *c);
/* Queues close_notify, unless it was sent already (the caller then shuts the socket
 * down). */
void tls_conn_close_notify(struct conn *c);
/* 1 when name (raw, may be NULL) normalises to this connection's server name (both none
 * counts as equal). */
int tls_conn_sni_is(const struct conn *c, const char *name);
/* From the client-hello callback: records the raw server name (normalised here). */
void tls_conn_set_sni(struct conn *c, const char *name, size_t len);
/* 421 Misdirected Request (RFC 9110 §15.5.20) for host[0..len) on this connection: a host
 * below domain (generated) on a connection without SNI, or any host the certificate that
 * was served does not cover (domain fronting; a coalesced connection for another name). */
int tls_conn_misdirected(const struct conn *c, const char *host, size_t len, const char *domain);

#endif
