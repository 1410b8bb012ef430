/*
 * tls_kdf: a provider of TLS 1.3's key schedule ("TLS13-KDF") that reuses per-thread HMAC
 * contexts instead of fetching and building them for every HKDF step (see tls_kdf.c).
 */
#ifndef HOSTESS_CERTS_TLS_KDF_H
#define HOSTESS_CERTS_TLS_KDF_H

/* Loads the provider into OpenSSL's default library context (once; thread-safe) and
 * returns the property query to make SSL_CTXs with: it prefers our TLS13-KDF and takes
 * everything else from OpenSSL's providers. NULL when loading failed: then OpenSSL's
 * own implementation serves (the same keys, more slowly). */
const char *tls_kdf_propq(void);

/* Re-keys this thread's HMAC contexts with an empty key, so that no connection's
 * secret outlives the connection in them (call when a TLS connection is freed). */
void tls_kdf_scrub(void);

#endif
