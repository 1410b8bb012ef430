/*
 * tls_server: what every TLS connection of the router shares: the listener's SSL_CTX,
 * the certificate store and the session-ticket keys (see tls.h).
 *
 * Certificate choice happens in the client-hello callback, before OpenSSL has parsed any
 * extension: the server name and signature algorithms come raw from the ClientHello
 * (certs/client_hello.h), the store answers exact → wildcard → default with ECDSA when
 * the client can take it, and SSL_set_SSL_CTX() switches the connection to that
 * certificate's context (which takes its own reference, so a store retired during the
 * handshake is harmless).
 *
 * Tickets: the keys are ours, not OpenSSL's per-context random ones, so that every
 * worker (and every certificate context: OpenSSL uses the listener context's callback)
 * encrypts and decrypts with the same keys, and so that they rotate: a fresh key every
 * tls.ticket_key_rotation, the previous one still accepted (its tickets are renewed).
 * The cipher and MAC are fetched once, not per handshake (OpenSSL 3.0's fetches take
 * locks: openssl/openssl#21005).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "certs/cert_store.h"
#include "certs/client_hello.h"
#include "certs/tls_settings.h"
#include "router/base/epoch.h"
#include "router/base/log.h"
#include "router/internal.h"
#include "router/tls.h"

struct ticket_key {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
};

/* Immutable once published: [0] encrypts new tickets, [0] and [1] decrypt. */
struct ticket_keys {
    struct ticket_key key[2];
    unsigned          n;
};

struct tls_server {
    SSL_CTX                      *ctx;     /* the listener's; holds no certificate */
    struct epoch_domain          *epoch;   /* the router's: retires stores and keys */
    _Atomic(struct cert_store *)  certs;
    _Atomic(struct ticket_keys *) tickets;
    EVP_CIPHER                   *aes;     /* AES-256-CBC, fetched once */
};

static void tls_log_errors(const char *what)
{
    unsigned long e;
    char buf[256];
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof buf);
        log_debug("tls: %s: %s", what, buf);
    }
}

/* --- certificate choice ---------------------------------------------------------------- */

static int tls_on_client_hello(SSL *ssl, int *alert, void *arg)
{
    struct tls_server *s = arg;
    struct conn *c = SSL_get_app_data(ssl);
    const unsigned char *ext;
    size_t len;
    const char *name = NULL;
    size_t name_len = 0;

    /* TLS-ALPN-01 (RFC 8737): a validation handshake must get the challenge certificate
     * or nothing. No challenge certificates are installed by this version, so the
     * handshake is refused rather than answered with an ordinary certificate. */
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation,
                                  &ext, &len) == 1 &&
        tls_alpn_offers(ext, len, "acme-tls/1", 10)) {
        *alert = SSL_AD_NO_APPLICATION_PROTOCOL;
        return SSL_CLIENT_HELLO_ERROR;
    }
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &len) == 1 &&
        client_hello_server_name(ext, len, &name, &name_len) != 0) {
        *alert = SSL_AD_DECODE_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    int ecdsa = SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_signature_algorithms, &ext, &len) == 1 &&
                client_hello_has_ecdsa(ext, len);
    if (ecdsa && !(SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_supported_versions, &ext, &len) == 1 &&
                   client_hello_offers_tls13(ext, len))) {
        /* TLS 1.2: the cipher suite decides the key type too. */
        const unsigned char *suites;
        size_t n = SSL_client_hello_get0_ciphers(ssl, &suites);
        ecdsa = client_hello_has_ecdsa_suite(suites, n);
    }
    const struct cert_store *store = atomic_load_explicit(&s->certs, memory_order_acquire);
    SSL_CTX *ctx = store ? cert_store_select(store, name, name_len, ecdsa) : NULL;
    if (ctx == NULL) {
        log_debug("tls: no certificate for \"%.*s\"", (int)(name_len < 253 ? name_len : 253),
                  name ? name : "");
        *alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_CLIENT_HELLO_ERROR;
    }
    if (SSL_set_SSL_CTX(ssl, ctx) == NULL) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    if (c != NULL)
        tls_conn_set_sni(c, name, name_len);
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* Acknowledges the server name (RFC 6066 §3: an empty server_name in the ServerHello),
 * which is also what makes OpenSSL keep it in the session, for tls_on_ticket_decrypted().
 * The certificate was chosen in the client-hello callback already. */
static int tls_on_servername(SSL *ssl, int *alert, void *arg)
{
    (void)ssl;
    (void)alert;
    (void)arg;
    return SSL_TLSEXT_ERR_OK;
}

/* --- session tickets ------------------------------------------------------------------- */

static int tls_on_ticket_key(SSL *ssl, unsigned char name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
                             EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
    const struct conn *c = SSL_get_app_data(ssl);
    struct tls_server *s = c->w->tls;
    const struct ticket_keys *keys = atomic_load_explicit(&s->tickets, memory_order_acquire);
    const struct ticket_key *k = NULL;
    int rc = 1;

    if (keys == NULL || keys->n == 0)
        return enc ? -1 : 0;
    if (enc) {
        k = &keys->key[0];
        if (RAND_bytes(iv, 16) != 1)
            return -1;
        memcpy(name, k->name, 16);
        if (EVP_EncryptInit_ex(cctx, s->aes, NULL, k->aes, iv) != 1)
            return -1;
    } else {
        for (unsigned i = 0; i < keys->n && k == NULL; i++)
            if (memcmp(name, keys->key[i].name, 16) == 0) {
                k = &keys->key[i];
                rc = i == 0 ? 1 : 2; /* 2: valid, but issue a ticket under the new key */
            }
        if (k == NULL)
            return 0; /* unknown or expired key: a full handshake */
        if (EVP_DecryptInit_ex(cctx, s->aes, NULL, k->aes, iv) != 1)
            return -1;
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac, sizeof k->hmac),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_CTX_set_params(hctx, params) != 1)
        return -1;
    return rc;
}

/* A decrypted ticket resumes only under the server name it was issued for (RFC 6066 §3;
 * RFC 8446 §4.6.1 asks the same of clients): the session's certificate was chosen for
 * that name, and the 421 rule checks hosts against the certificate the client saw. */
static SSL_TICKET_RETURN tls_on_ticket_decrypted(SSL *ssl, SSL_SESSION *sess,
                                                 const unsigned char *keyname, size_t keyname_len,
                                                 SSL_TICKET_STATUS status, void *arg)
{
    (void)keyname;
    (void)keyname_len;
    (void)arg;
    switch (status) {
    case SSL_TICKET_SUCCESS:
    case SSL_TICKET_SUCCESS_RENEW:
        break;
    case SSL_TICKET_EMPTY:
    case SSL_TICKET_NO_DECRYPT:
        return SSL_TICKET_RETURN_IGNORE_RENEW; /* a full handshake, and a fresh ticket */
    default:
        return SSL_TICKET_RETURN_ABORT;
    }
    const struct conn *c = SSL_get_app_data(ssl);
    const char *was = SSL_SESSION_get0_hostname(sess);
    if (!tls_conn_sni_is(c, was))
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    return status == SSL_TICKET_SUCCESS ? SSL_TICKET_RETURN_USE : SSL_TICKET_RETURN_USE_RENEW;
}

int tls_server_rotate_tickets(struct tls_server *s)
{
    struct ticket_keys *next = calloc(1, sizeof(*next));
    struct ticket_keys *prev = atomic_load_explicit(&s->tickets, memory_order_relaxed);
    if (next == NULL)
        return -ENOMEM;
    if (RAND_bytes((unsigned char *)&next->key[0], sizeof next->key[0]) != 1) {
        free(next);
        return -EIO;
    }
    next->n = 1;
    if (prev != NULL && prev->n > 0) {
        next->key[1] = prev->key[0];
        next->n = 2;
    }
    atomic_store_explicit(&s->tickets, next, memory_order_release);
    if (prev != NULL && epoch_retire(s->epoch, prev, free) != 0)
        log_warn("tls: out of memory retiring ticket keys (%zu bytes kept)", sizeof(*prev));
    return 0;
}

/* --- certificates ---------------------------------------------------------------------- */

static void cert_store_free_cb(void *p)
{
    cert_store_free(p);
}

int tls_server_publish_certs(struct tls_server *s, struct cert_store *store)
{
    struct cert_store *prev = atomic_load_explicit(&s->certs, memory_order_relaxed);
    atomic_store_explicit(&s->certs, store, memory_order_release);
    if (prev != NULL && epoch_retire(s->epoch, prev, cert_store_free_cb) != 0)
        log_warn("tls: out of memory retiring the previous certificate store (kept)");
    return 0;
}

const struct cert_store *tls_server_certs(struct tls_server *s)
{
    return atomic_load_explicit(&s->certs, memory_order_relaxed);
}

/* --- setup ----------------------------------------------------------------------------- */

struct tls_server *tls_server_new(struct epoch_domain *epoch, char *err, size_t errlen)
{
    struct tls_server *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "tls: out of memory");
        return NULL;
    }
    s->epoch = epoch;
    s->ctx = tls_server_ctx_new();
    s->aes = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
    if (s->ctx == NULL || s->aes == NULL || tls_ctx_configure(s->ctx) != 0) {
        tls_log_errors("listener context");
        snprintf(err, errlen, "tls: OpenSSL cannot make the listener context");
        tls_server_free(s);
        return NULL;
    }
    SSL_CTX_set_client_hello_cb(s->ctx, tls_on_client_hello, s);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(s->ctx, tls_on_ticket_key);
    SSL_CTX_set_session_ticket_cb(s->ctx, NULL, tls_on_ticket_decrypted, NULL);
    SSL_CTX_set_tlsext_servername_callback(s->ctx, tls_on_servername);
    if (tls_server_rotate_tickets(s) != 0) {
        snprintf(err, errlen, "tls: cannot make a session ticket key");
        tls_server_free(s);
        return NULL;
    }
    return s;
}

void tls_server_free(struct tls_server *s)
{
    if (s == NULL)
        return;
    SSL_CTX_free(s->ctx);
    EVP_CIPHER_free(s->aes);
    cert_store_free(atomic_load(&s->certs));
    free(atomic_load(&s->tickets));
    free(s);
}

SSL *tls_server_ssl_new(struct tls_server *s, struct conn *c, int tickets)
{
    SSL *ssl = SSL_new(s->ctx);
    if (ssl == NULL)
        return NULL;
    SSL_set_app_data(ssl, c);
    if (!tickets) {
        /* No stateless tickets, and in TLS 1.3 no (stateful) tickets either: the session
         * cache is off, so they could never be used. */
        SSL_set_options(ssl, SSL_OP_NO_TICKET);
        SSL_set_num_tickets(ssl, 0);
    }
    SSL_set_accept_state(ssl);
    return ssl;
}
