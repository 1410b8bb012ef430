/*
 * client_hello: readers for the ClientHello extensions that choose a certificate, for
 * the client-hello callback (SSL_CTX_set_client_hello_cb). That callback runs before
 * OpenSSL has parsed any extension, so SSL_get_servername() is still NULL there; it gets
 * the raw extension bodies from SSL_client_hello_get0_ext() and hands them to these.
 *
 * Both read only [ext, ext + len) — the bytes are the peer's — and never allocate.
 */
#ifndef HOSTESS_CERTS_CLIENT_HELLO_H
#define HOSTESS_CERTS_CLIENT_HELLO_H

#include <stddef.h>

/* ext: the body of the signature_algorithms extension (RFC 8446 §4.2.3; the same
 * layout in TLS 1.2, RFC 5246 §7.4.1.4.1): a 2-byte list length, then 2-byte schemes.
 * Returns 1 when the list offers an ECDSA scheme our certificates can sign with
 * (ecdsa_secp256r1_sha256, ecdsa_secp384r1_sha384, ecdsa_secp521r1_sha512; in TLS 1.2
 * the same code points mean ECDSA with SHA-256/384/512), else 0 — also when ext is NULL
 * or malformed, so a confused client gets RSA. */
int client_hello_has_ecdsa(const unsigned char *ext, size_t len);

/* ext: the body of the supported_versions extension (RFC 8446 §4.2.1): a 1-byte list
 * length, then 2-byte versions. Returns 1 when it offers TLS 1.3, else 0 (also when ext
 * is NULL or malformed: such a client negotiates TLS 1.2 at most). */
int client_hello_offers_tls13(const unsigned char *ext, size_t len);

/* suites: the ClientHello's cipher suite list (SSL_client_hello_get0_ciphers: 2-byte
 * code points). Returns 1 when it holds one of our TLS 1.2 ECDHE-ECDSA suites: in TLS 1.2
 * the suite fixes the certificate's key type, so a client offering only ECDHE-RSA suites
 * must get the RSA certificate whatever its signature algorithms say. */
int client_hello_has_ecdsa_suite(const unsigned char *suites, size_t len);

/* ext: the body of the server_name extension (RFC 6066 §3). Sets *name and *name_len to
 * the host_name entry (pointing into ext; not NUL-terminated, not normalised) and
 * returns 0; returns -1 when ext is NULL, malformed, or holds no host_name. */
int client_hello_server_name(const unsigned char *ext, size_t len, const char **name,
                             size_t *name_len);

#endif
