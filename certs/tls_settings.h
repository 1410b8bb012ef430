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

/* Applies the policy to a server context (protocol range, ciphers, groups, options,
 * session settings). Certificates, ALPN and callbacks are left to the caller.
 * Returns 0, or -EINVAL when OpenSSL refused a setting (its error queue says which);
 * ctx is then partly configured and should be freed. */
int tls_ctx_configure(SSL_CTX *ctx);

#endif
