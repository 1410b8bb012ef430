/*
 * tls_settings: Mozilla "intermediate" server configuration, applied to an SSL_CTX.
 *
 * Everything is set explicitly rather than inherited from OpenSSL's defaults or from
 * the system openssl.cnf (Debian's raises the security level and the minimum protocol
 * there), so the edge behaves the same on every host it runs on.
 */
#include "certs/tls_settings.h"

#include "certs/tls_kdf.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

/* Mozilla intermediate (server side) for TLS 1.2: forward secrecy and AEAD only. Order
 * matters little since clients choose (no SSL_OP_CIPHER_SERVER_PREFERENCE). */
const char tls_ciphers_tls12[] = "ECDHE-ECDSA-AES128-GCM-SHA256:"
                                 "ECDHE-RSA-AES128-GCM-SHA256:"
                                 "ECDHE-ECDSA-AES256-GCM-SHA384:"
                                 "ECDHE-RSA-AES256-GCM-SHA384:"
                                 "ECDHE-ECDSA-CHACHA20-POLY1305:"
                                 "ECDHE-RSA-CHACHA20-POLY1305";
const char tls_ciphersuites_tls13[] = "TLS_AES_128_GCM_SHA256:"
                                      "TLS_AES_256_GCM_SHA384:"
                                      "TLS_CHACHA20_POLY1305_SHA256";
const char tls_groups[] = "X25519:prime256v1:secp384r1";

/* One value for every context: SSL_set_SSL_CTX() keeps a session's id context only when
 * old and new contexts agree, and resumption checks it. */
static const unsigned char sid_ctx[] = "hostess-edge";

const unsigned char tls_alpn_http11[] = "\x08http/1.1";

/* The per-connection list lives in ex_data: the ALPN callback belongs to each certificate's
 * context (OpenSSL 3.0 calls the one of the context chosen from the SNI), while the list
 * is the listener's business. */
static int alpn_index = -1;
static pthread_once_t alpn_once = PTHREAD_ONCE_INIT;

static void alpn_index_init(void)
{
    alpn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

int tls_set_alpn(SSL *ssl, const unsigned char *wire)
{
    pthread_once(&alpn_once, alpn_index_init);
    if (alpn_index < 0 || SSL_set_ex_data(ssl, alpn_index, (void *)wire) != 1)
        return -1;
    return 0;
}

int tls_alpn_offers(const unsigned char *ext, size_t len, const char *proto, size_t plen)
{
    if (ext == NULL || len < 2)
        return 0;
    size_t list = ((size_t)ext[0] << 8) | ext[1];
    if (list != len - 2)
        return 0;
    for (size_t i = 2; i < len;) {
        size_t n = ext[i];
        if (n == 0 || i + 1 + n > len)
            return 0;
        if (n == plen && memcmp(ext + i + 1, proto, plen) == 0)
            return 1;
        i += 1 + n;
    }
    return 0;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
    (void)arg;
    pthread_once(&alpn_once, alpn_index_init);
    const unsigned char *wire = alpn_index >= 0 ? SSL_get_ex_data(ssl, alpn_index) : NULL;
    if (wire == NULL)
        wire = tls_alpn_http11;
    unsigned wlen = 0;
    while (wire[wlen] != 0) /* a run of length-prefixed names, ended by a NUL byte */
        wlen += 1u + wire[wlen];
    unsigned char *sel = NULL;
    unsigned char sellen = 0;
    if (SSL_select_next_proto(&sel, &sellen, wire, wlen, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* RFC 7301 §3.2: no_application_protocol */
    *out = sel;
    *outlen = sellen;
    return SSL_TLSEXT_ERR_OK;
}

SSL_CTX *tls_server_ctx_new(void)
{
    return SSL_CTX_new_ex(NULL, tls_kdf_propq(), TLS_server_method());
}

int tls_ctx_configure(SSL_CTX *ctx)
{
    /* Security level 2: RSA and DH >= 2048 bits, ECC >= 224 bits, no SHA-1 signatures.
     * Matches what the certificate store accepts. */
    SSL_CTX_set_security_level(ctx, 2);
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1)
        return -EINVAL;
    if (SSL_CTX_set_cipher_list(ctx, tls_ciphers_tls12) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, tls_ciphersuites_tls13) != 1)
        return -EINVAL;
    if (SSL_CTX_set1_groups_list(ctx, tls_groups) != 1)
        return -EINVAL;

    /* No compression (CRIME); no renegotiation at all (TLS 1.2 client-initiated
     * renegotiation is a CPU lever for attackers, and TLS 1.3 has none). Tickets on;
     * the client chooses the cipher (Mozilla intermediate: "server preference: no"). */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                   SSL_OP_ALLOW_CLIENT_RENEGOTIATION);

    /* Resumption is by ticket only: the stateful server cache is one locked table per
     * context, shared by every worker, and not shared between edge nodes. Tickets carry
     * the session and need only the (shared, rotated) ticket keys. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_timeout(ctx, 86400); /* Mozilla: sessions live one day */
    if (SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1) != 1)
        return -EINVAL;

    /* Idle connections give their read/write buffers back (nginx and HAProxy do too):
     * with many keep-alive clients, memory matters more than one malloc per record. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    return 0;
}
