/*
 * tls_settings: the one place where the edge's TLS policy is written down, so the
 * certificate store's per-certificate contexts and the live listener's context agree.
 *
 * The policy is Mozilla's "intermediate" profile (server side): TLS 1.2 and 1.3 only;
 * TLS 1.2 suites ECDHE-ECDSA/ECDHE-RSA with AES-GCM or CHACHA20-POLY1305; the three
 * TLS 1.3 suites; groups X25519, P-256, P-384; no compression; no renegotiation; the
 * client's cipher preference (the profile leaves the choice to clients, which know
 * whether they have AES hardware); session tickets on (the ticket keys, shared by all
 * workers and rotated, come with the listener work: tickets.c).
 */
#ifndef HOSTESS_CERTS_TLS_SETTINGS_H
#define HOSTESS_CERTS_TLS_SETTINGS_H

#include <openssl/ssl.h>

/* The TLS 1.2 cipher list and the TLS 1.3 suites, in OpenSSL syntax (for tests, logs). */
extern const char tls_ciphers_tls12[];
extern const char tls_ciphersuites_tls13[];
extern const char tls_groups[];

/* ALPN server preference lists: RFC 7301 wire format (length-prefixed names) ended by a
 * NUL byte, as a C string literal of them is: "\x02h2\x08http/1.1". */
extern const unsigned char tls_alpn_http11[];     /* http/1.1 */

/* The protocols this connection may negotiate, in server preference order (a list as
 * above, which must outlive the handshake). Without a call: http/1.1 only. A client that
 * offers ALPN without any of them gets a no_application_protocol alert; a client that
 * offers none negotiates nothing (HTTP/1.1 by default). Returns 0, or -1 on ENOMEM. */
int tls_set_alpn(SSL *ssl, const unsigned char *wire);

/* 1 when the ClientHello's ALPN extension body (ext[0..len)) lists the protocol
 * proto[0..plen), else 0 (also when malformed). For the client-hello callback. */
int tls_alpn_offers(const unsigned char *ext, size_t len, const char *proto, size_t plen);

/* A new server context (TLS_server_method) that prefers tls_kdf's TLS 1.3 key schedule;
 * every server context of the edge is made here, so that one handshake uses one property
 * query whichever certificate's context it switches to. NULL on failure. */
SSL_CTX *tls_server_ctx_new(void);

/* Applies the policy to a server context (protocol range, ciphers, groups, options,
 * session settings, the ALPN selection above). Certificates, ALPN and callbacks are left to the caller.
 * Returns 0, or -EINVAL when OpenSSL refused a setting (its error queue says which);
 * ctx is then partly configured and should be freed. */
int tls_ctx_configure(SSL_CTX *ctx);

#endif
