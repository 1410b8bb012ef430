/*
 * cert_load: one certificate source's bytes (read by cert_files.c) to a checked SSL_CTX.
 *
 * cert__item_parse() reads the leaf and the intermediates after it, then the private
 * key; checks them (RSA >= 2048 or ECDSA P-256/P-384, the key matches the leaf, at
 * least one usable DNS name in the subjectAltName, chain order); and builds the SSL_CTX
 * with tls_ctx_configure(). Names are normalised here into the store's lookup form.
 *
 * Everything here runs on the control thread and may be slow; nothing here is shared
 * with the workers until the store is published. Encrypted keys are refused: a password
 * prompt on the terminal is never an option for a server (the callback below answers
 * "no password" to OpenSSL).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "certs/internal.h"
#include "certs/tls_settings.h"

/* The most recent OpenSSL reason on this thread's error queue, for messages. The queue
 * is cleared: one file's failure must not leak into the next file's message. */
static const char *ssl_reason(void)
{
    unsigned long e = ERR_peek_last_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

    ERR_clear_error();
    return r != NULL ? r : "unknown reason";
}

static int pem_no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

/* ---- names ---------------------------------------------------------------------- */

char **cert__names_copy(char *const *names, uint32_t n)
{
    size_t bytes = 0;
    char **v;
    char *p;

    for (uint32_t i = 0; i < n; i++)
        bytes += strlen(names[i]) + 1;
    v = malloc(n * sizeof(char *) + bytes + 1);
    if (v == NULL)
        return NULL;
    p = (char *)(v + n);
    for (uint32_t i = 0; i < n; i++) {
        size_t l = strlen(names[i]) + 1;
        memcpy(p, names[i], l);
        v[i] = p;
        p += l;
    }
    return v;
}

/* A SAN for the log: printable ASCII only, bounded. */
static void printable(const unsigned char *in, size_t len, char *out, size_t outlen)
{
    size_t i;

    for (i = 0; i < len && i + 1 < outlen; i++)
        out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? (char)in[i] : '?';
    out[i] = '\0';
}

/* The lookup form of one dNSName SAN: "*.parent" (a wildcard for exactly one label,
 * whose parent has at least two labels, as OpenSSL's own host check requires: no
 * "*.com") or a plain name. Returns the length written to out, or -1. */
static int san_normalise(const unsigned char *in, size_t len, char *out)
{
    char parent[CERT_NAME_MAX + 1];
    int n;

    if (len > 2 && in[0] == '*' && in[1] == '.') {
        n = cert__name_normalise((const char *)in + 2, len - 2, parent);
        if (n < 0 || n + 2 > CERT_NAME_MAX || memchr(parent, '.', (size_t)n) == NULL)
            return -1;
        out[0] = '*';
        out[1] = '.';
        memcpy(out + 2, parent, (size_t)n + 1);
        return n + 2;
    }
    /* Anything else holding a '*' ("f*.example.com", "*", "a.*.com") is refused by
     * cert__name_normalise: partial and inner wildcards are not served. */
    return cert__name_normalise((const char *)in, len, out);
}

/* The DNS names of the leaf's subjectAltName, normalised, into it->names. The subject
 * CN is never read (CA/B Baseline Requirements §7.1.4.3: SANs are the names).
 * Returns 0, -1 (msg) or -ENOMEM. */
static int leaf_names(X509 *leaf, const char *file, struct cert_item *it, struct cert_msgs *warn,
                      char *msg, size_t msglen)
{
    GENERAL_NAMES *gens;
    char buf[CERT_NAME_MAX + 1];
    size_t bytes = 0;
    uint32_t count = 0;
    int crit = -1, pass;
    char *p = NULL;

    gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, NULL);
    if (gens == NULL) {
        ERR_clear_error();
        if (crit == -1)
            snprintf(msg, msglen, "%s: no subjectAltName (names come from SANs, never the CN)",
                     file);
        else
            snprintf(msg, msglen, "%s: unreadable subjectAltName", file);
        return -1;
    }
    /* Pass 0 counts and warns, pass 1 fills one allocation. */
    for (pass = 0; pass < 2; pass++) {
        uint32_t k = 0;
        for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
            const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
            const unsigned char *d;
            int dl, n;

            if (g->type != GEN_DNS)
                continue; /* IP addresses, e-mails, URIs: not SNI names */
            d = ASN1_STRING_get0_data(g->d.dNSName);
            dl = ASN1_STRING_length(g->d.dNSName);
            n = dl > 0 ? san_normalise(d, (size_t)dl, buf) : -1;
            if (n < 0) {
                if (pass == 0) {
                    char shown[80];
                    printable(d, dl > 0 ? (size_t)dl : 0, shown, sizeof(shown));
                    cert__msgs_add(warn, LOG_WARN,
                                   "%s: SAN \"%s\" ignored (not a name we can serve)", file, shown);
                }
                continue;
            }
            if (pass == 0) {
                count++;
                bytes += (size_t)n + 1;
            } else {
                memcpy(p, buf, (size_t)n + 1);
                it->names[k++] = p;
                p += n + 1;
            }
        }
        if (pass == 0) {
            if (count == 0) {
                GENERAL_NAMES_free(gens);
                snprintf(msg, msglen, "%s: no usable DNS name in subjectAltName", file);
                return -1;
            }
            it->names = malloc(count * sizeof(char *) + bytes);
            if (it->names == NULL) {
                GENERAL_NAMES_free(gens);
                return -ENOMEM;
            }
            p = (char *)(it->names + count);
        }
    }
    it->nnames = count;
    GENERAL_NAMES_free(gens);
    return 0;
}

/* ---- keys, times, chain ----------------------------------------------------------- */

/* RSA of at least 2048 bits, or ECDSA on P-256/P-384 (Mozilla intermediate's
 * certificate types). Returns 0 and sets *key, or -1 (msg). */
static int key_kind(EVP_PKEY *pkey, const char *file, uint8_t *key, char *msg, size_t msglen)
{
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits < 2048) {
            snprintf(msg, msglen, "%s: RSA key of %d bits (at least 2048)", file, bits);
            return -1;
        }
        *key = CERT_KEY_RSA;
        return 0;
    }
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64] = "";
        size_t glen = 0;
        if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen) != 1 ||
            (strcmp(group, "prime256v1") != 0 && strcmp(group, "secp384r1") != 0)) {
            ERR_clear_error();
            snprintf(msg, msglen, "%s: ECDSA key on curve \"%s\" (P-256 or P-384 only)", file,
                     group);
            return -1;
        }
        *key = CERT_KEY_ECDSA;
        return 0;
    }
    snprintf(msg, msglen, "%s: unsupported key type %s (RSA or ECDSA only)", file,
             EVP_PKEY_get0_type_name(pkey) != NULL ? EVP_PKEY_get0_type_name(pkey) : "?");
    return -1;
}

static int asn1_time_unix(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return -1;
    *out = (int64_t)timegm(&tm);
    return 0;
}

/* Reads every CERTIFICATE block of bytes: the leaf, then the chain. Other blocks (the
 * key of a .pem) are skipped by OpenSSL's PEM reader. Returns 0, -1 (msg), -ENOMEM. */
static int read_certs(const struct cert_source *src, const char *file, X509 **leaf,
                      STACK_OF(X509) * *chain, char *msg, size_t msglen)
{
    BIO *b = BIO_new_mem_buf(src->crt, (int)src->crt_len);
    X509 *c;

    *leaf = NULL;
    *chain = sk_X509_new_null();
    if (b == NULL || *chain == NULL)
        goto oom;
    *leaf = PEM_read_bio_X509(b, NULL, pem_no_password, NULL);
    if (*leaf == NULL) {
        snprintf(msg, msglen, "%s: no certificate (%s)", file, ssl_reason());
        goto fail;
    }
    for (;;) {
        unsigned long e;
        c = PEM_read_bio_X509(b, NULL, pem_no_password, NULL);
        if (c != NULL) {
            if (sk_X509_push(*chain, c) <= 0) {
                X509_free(c);
                goto oom;
            }
            continue;
        }
        e = ERR_peek_last_error();
        if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
            ERR_clear_error(); /* the normal end: no more blocks */
            break;
        }
        snprintf(msg, msglen, "%s: bad certificate %d in the chain (%s)", file,
                 sk_X509_num(*chain) + 2, ssl_reason());
        goto fail;
    }
    BIO_free(b);
    return 0;

oom:
    ERR_clear_error();
    BIO_free(b);
    X509_free(*leaf);
    sk_X509_pop_free(*chain, X509_free);
    return -ENOMEM;
fail:
    BIO_free(b);
    X509_free(*leaf);
    sk_X509_pop_free(*chain, X509_free);
    return -1;
}

static EVP_PKEY *read_key(const struct cert_source *src, const char *file, char *msg, size_t msglen)
{
    BIO *b = BIO_new_mem_buf(src->key, (int)src->key_len);
    EVP_PKEY *pkey;

    if (b == NULL) {
        snprintf(msg, msglen, "%s: out of memory", file);
        return NULL;
    }
    pkey = PEM_read_bio_PrivateKey(b, NULL, pem_no_password, NULL);
    if (pkey == NULL)
        snprintf(msg, msglen, "%s: no usable private key (%s; encrypted keys are not supported)",
                 file, ssl_reason());
    BIO_free(b);
    return pkey;
}

/* Intermediates must follow the leaf in issuing order; OpenSSL sends them as given, and
 * most clients cope with disorder, so this is a warning, not a refusal. */
static void check_chain_order(X509 *leaf, STACK_OF(X509) * chain, const char *file,
                              struct cert_msgs *warn)
{
    X509 *child = leaf;

    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *parent = sk_X509_value(chain, i);
        if (X509_check_issued(parent, child) != X509_V_OK) {
            cert__msgs_add(warn, LOG_WARN,
                           "%s: certificate %d of the file did not issue certificate %d "
                           "(intermediates go after the leaf, each followed by its issuer)",
                           file, i + 2, i + 1);
            break;
        }
        child = parent;
    }
    ERR_clear_error();
}

int cert__item_parse(const struct cert_source *src, struct cert_item *it, char *msg, size_t msglen)
{
    struct cert_msgs *warn = &it->notes;
    char crt_file[1024], key_file[1024];
    STACK_OF(X509) *chain = NULL;
    EVP_PKEY *pkey = NULL;
    X509 *leaf = NULL;
    SSL_CTX *ctx = NULL;
    int rc;

    snprintf(crt_file, sizeof(crt_file), "%s.%s", src->stem,
             src->kind == CERT_SRC_PEM ? "pem" : "crt");
    snprintf(key_file, sizeof(key_file), "%s.%s", src->stem,
             src->kind == CERT_SRC_PEM ? "pem" : "key");
    rc = read_certs(src, crt_file, &leaf, &chain, msg, msglen);
    if (rc != 0)
        return rc;
    pkey = read_key(src, key_file, msg, msglen);
    if (pkey == NULL) {
        rc = -1;
        goto out;
    }
    rc = -1;
    if (key_kind(pkey, key_file, &it->key, msg, msglen) != 0)
        goto out;
    if (X509_check_private_key(leaf, pkey) != 1) {
        ERR_clear_error();
        snprintf(msg, msglen, "%s: the key does not match the certificate", key_file);
        goto out;
    }
    if (asn1_time_unix(X509_get0_notBefore(leaf), &it->not_before) != 0 ||
        asn1_time_unix(X509_get0_notAfter(leaf), &it->not_after) != 0) {
        ERR_clear_error();
        snprintf(msg, msglen, "%s: unreadable validity dates", crt_file);
        goto out;
    }
    rc = leaf_names(leaf, crt_file, it, warn, msg, msglen);
    if (rc != 0)
        goto out;
    check_chain_order(leaf, chain, crt_file, warn);

    rc = -ENOMEM;
    ctx = tls_server_ctx_new();
    if (ctx == NULL)
        goto out;
    rc = -1;
    if (tls_ctx_configure(ctx) != 0) {
        snprintf(msg, msglen, "%s: TLS settings refused (%s)", crt_file, ssl_reason());
        goto out;
    }
    /* These also apply the security level: a weak signature or a small CA key is
     * refused here, with OpenSSL's reason ("ca md too weak", "ee key too small"). */
    if (SSL_CTX_use_certificate(ctx, leaf) != 1 || SSL_CTX_set1_chain(ctx, chain) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, pkey) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(msg, msglen, "%s: refused by the TLS library (%s)", crt_file, ssl_reason());
        goto out;
    }
    it->ctx = ctx;
    ctx = NULL;
    rc = warn->oom ? -ENOMEM : 0;

out:
    if (rc != 0) {
        free(it->names);
        it->names = NULL;
        it->nnames = 0;
        SSL_CTX_free(it->ctx);
        it->ctx = NULL;
        cert__msgs_free(warn);
        ERR_clear_error();
    }
    SSL_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}
