/*
 * cert_store: the certificates the edge serves, as one immutable snapshot built from
 * tls.certs_dir (CONTRACT §4), and the SNI lookup over it.
 *
 * Building (control thread): cert_store_load_dir() reads every PEM pair "X.crt" +
 * "X.key" and every combined "X.pem" (leaf first, then intermediates, plus the key) and
 * makes one SSL_CTX per certificate, configured by tls_ctx_configure(). The names a
 * certificate serves are its SAN dNSName entries, never its file name; a certificate
 * without one is refused (CA/Browser Forum practice: CN is not a name source). Several
 * certificates may serve one name: the store keeps the best ECDSA one and the best RSA
 * one, so a client that offers ECDSA gets ECDSA and others get RSA. "Best": loaded now
 * over carried from the previous store, valid now over expired or not yet valid, then
 * the later notAfter (a renewal placed beside the old file wins), then file-name order.
 * The pair named "default" (default.crt + default.key, or default.pem; one of each key
 * type may exist) is served when nothing matches; it also serves its own SAN names.
 *
 * Broken files (unparsable PEM, a key that does not match, a missing half of a pair, a
 * weak or unsupported key) are skipped and reported: in the store's error list and in
 * the log. If the previous store had a certificate from that same file, it is carried
 * over and keeps serving its names (issue 4 §1). Expired certificates are kept and
 * warned about, as nginx does: an expired certificate beats a handshake failure for the
 * clients that still accept it, and the warning reaches the operator.
 *
 * Reading (workers, in the handshake): cert_store_select() is lock-free and
 * allocation-free; the store is never written after it is returned. Publication and
 * reclamation are the owner's: it publishes the store through the epoch domain
 * (router/base/epoch.h) and frees the old one with cert_store_free() once every worker
 * has passed a quiescent point. Connections that switched to a certificate's SSL_CTX
 * hold their own OpenSSL reference to it, so freeing a store never pulls a context from
 * under a live connection.
 */
#ifndef HOSTESS_CERTS_CERT_STORE_H
#define HOSTESS_CERTS_CERT_STORE_H

#include <stddef.h>

#include <openssl/ssl.h>

struct cert_store; /* opaque, immutable once returned */

/* Builds a store from the PEM files in dir. previous (may be NULL) is only read: its
 * certificates are reused as they are when their files did not change (no new parse,
 * no new SSL_CTX), and carried over when their files are broken now.
 * Returns the new store, possibly empty and possibly with per-file errors (see
 * cert_store_error()); or NULL when the directory cannot be read or memory runs out,
 * with the reason in err (errlen bytes, NUL-terminated; err may be NULL). The hash seed
 * (router/base/hash.h) must not change while the store is in use. */
struct cert_store *cert_store_load_dir(const char *dir, const struct cert_store *previous,
                                       char *err, size_t errlen);

/* The same, plus an explicit default pair outside dir (tls.default_cert and default_key,
 * both or neither), served like a "default" pair of the directory. */
struct cert_store *cert_store_load(const char *dir, const char *default_crt,
                                   const char *default_key, const struct cert_store *previous,
                                   char *err, size_t errlen);

/* Frees the store and drops its references to its SSL_CTXs (a context stays alive while
 * a connection or another store still holds it). NULL is ignored. */
void cert_store_free(struct cert_store *s);

/* The context for a ClientHello's server name sni[0..len) (not NUL-terminated; ASCII
 * case and one trailing dot ignored): the certificate for that exact name, else the
 * wildcard "*.parent" covering its first label (one label only), else the default one.
 * Among the certificates for the chosen name, ECDSA when client_has_ecdsa (see
 * client_hello_has_ecdsa()) and one exists, else RSA, else whatever there is.
 * sni may be NULL/len 0 (no SNI): the default. Returns NULL when nothing applies.
 * The pointer is borrowed from the store (valid while the store is); pass it to
 * SSL_set_SSL_CTX(), which takes its own reference. */
SSL_CTX *cert_store_select(const struct cert_store *s, const char *sni, size_t len,
                           int client_has_ecdsa);

/* Number of certificates (SSL_CTXs) in the store, carried-over ones included. */
size_t cert_store_cert_count(const struct cert_store *s);
/* Number of distinct names served: exact names plus wildcard parents. */
size_t cert_store_name_count(const struct cert_store *s);

/* Per-file errors (the file was skipped), in file-name order: "x.crt: key does not
 * match the certificate". Valid while the store is. i < cert_store_error_count(). */
size_t cert_store_error_count(const struct cert_store *s);
const char *cert_store_error(const struct cert_store *s, size_t i);
/* Warnings (the file was loaded): expired or not yet valid, SANs ignored, a chain out
 * of order, a previous certificate kept because its file is broken now. */
size_t cert_store_warning_count(const struct cert_store *s);
const char *cert_store_warning(const struct cert_store *s, size_t i);

#endif
