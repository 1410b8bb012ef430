/*
 * Unit tests for certs/tls_kdf.h: the edge's TLS13-KDF gives the same bytes as OpenSSL's
 * own (the default provider's), in both modes, for both TLS 1.3 digests, for every shape
 * of input libssl and the RFC allow (with and without salt, key, context; short and long
 * outputs; keys longer than a hash block), and refuses what OpenSSL's refuses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include "certs/tls_kdf.h"

struct kdf_in {
    const char          *digest;
    int                  mode;
    const unsigned char *key, *salt, *data;
    size_t               keylen, saltlen, datalen;
    const char          *label;
};

/* Derives outlen bytes with the TLS13-KDF that query selects; returns EVP_KDF_derive's. */
static int derive(const char *query, const struct kdf_in *in, unsigned char *out, size_t outlen)
{
    static const char prefix[] = "tls13 ";
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_TLS1_3_KDF, query);
    assert_non_null(kdf);
    EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
    EVP_KDF_free(kdf);
    assert_non_null(ctx);
    OSSL_PARAM params[9], *p = params;
    int mode = in->mode;
    *p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)in->digest, 0);
    if (in->key != NULL)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)in->key,
                                                 in->keylen);
    if (in->salt != NULL)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)in->salt,
                                                 in->saltlen);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PREFIX, (void *)prefix,
                                             sizeof(prefix) - 1);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_LABEL, (void *)in->label,
                                             strlen(in->label));
    if (in->data != NULL)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_DATA, (void *)in->data,
                                                 in->datalen);
    *p = OSSL_PARAM_construct_end();
    int r = EVP_KDF_derive(ctx, out, outlen, params);
    EVP_KDF_CTX_free(ctx);
    return r;
}

/* Ours and OpenSSL's agree: both succeed with the same bytes, or both fail. */
static void same(const struct kdf_in *in, size_t outlen)
{
    unsigned char ours[2048], theirs[2048];
    assert_true(outlen <= sizeof(ours));
    memset(ours, 0xaa, sizeof(ours));
    memset(theirs, 0x55, sizeof(theirs));
    int a = derive("provider=hostess-tls", in, ours, outlen);
    int b = derive("provider=default", in, theirs, outlen);
    if (a != b || (a == 1 && memcmp(ours, theirs, outlen) != 0))
        fail_msg("digest %s mode %d keylen %zu salt %zu data %zu label %s outlen %zu: ours %d, "
                 "OpenSSL's %d", in->digest, in->mode, in->keylen, in->salt ? in->saltlen : 0,
                 in->datalen, in->label, outlen, a, b);
}

static int setup(void **state)
{
    (void)state;
    return tls_kdf_propq() == NULL ? -1 : 0;
}

static void test_propq_prefers_ours(void **state)
{
    (void)state;
    const char *q = tls_kdf_propq();
    assert_non_null(q);
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_TLS1_3_KDF, q);
    assert_non_null(kdf);
    assert_string_equal(OSSL_PROVIDER_get0_name(EVP_KDF_get0_provider(kdf)), "hostess-tls");
    EVP_KDF_free(kdf);
    /* Everything else still comes from OpenSSL's providers under the same query. */
    EVP_MD *md = EVP_MD_fetch(NULL, "SHA2-256", q);
    assert_non_null(md);
    assert_string_equal(OSSL_PROVIDER_get0_name(EVP_MD_get0_provider(md)), "default");
    EVP_MD_free(md);
}

static void test_extract_matches(void **state)
{
    (void)state;
    static const char *const digests[] = { "SHA2-256", "SHA2-384", "SHA256", "sha384" };
    unsigned char key[200], salt[48];
    RAND_bytes(key, sizeof(key));
    RAND_bytes(salt, sizeof(salt));
    for (size_t d = 0; d < sizeof(digests) / sizeof(*digests); d++) {
        size_t hlen = strstr(digests[d], "384") ? 48 : 32;
        /* key lengths: none (zeros), X25519/P-256, P-384, P-521, an FFDHE-size secret */
        static const size_t keylens[] = { 0, 32, 48, 66, 200 };
        for (size_t i = 0; i < sizeof(keylens) / sizeof(*keylens); i++) {
            for (int with_salt = 0; with_salt < 2; with_salt++) {
                struct kdf_in in = { .digest = digests[d], .mode = EVP_KDF_HKDF_MODE_EXTRACT_ONLY,
                                     .key = keylens[i] ? key : NULL, .keylen = keylens[i],
                                     .salt = with_salt ? salt : NULL, .saltlen = hlen,
                                     .label = "derived" };
                same(&in, hlen);
            }
        }
    }
}

static void test_expand_matches(void **state)
{
    (void)state;
    static const char *const labels[] = { "key", "iv", "finished", "c hs traffic",
                                          "s ap traffic", "exp master", "res binder",
                                          "a label far longer than any TLS 1.3 uses" };
    static const size_t outlens[] = { 1, 12, 16, 32, 48, 64, 100, 1000 };
    unsigned char key[300], data[64];
    RAND_bytes(key, sizeof(key));
    RAND_bytes(data, sizeof(data));
    for (int d = 0; d < 2; d++) {
        const char *digest = d ? "SHA2-384" : "SHA2-256";
        size_t hlen = d ? 48 : 32;
        /* the hash length as libssl uses; longer than a block: hashed first (RFC 2104) */
        size_t keylens[] = { hlen, 1, 64, 128, 129, 300 };
        for (size_t l = 0; l < sizeof(labels) / sizeof(*labels); l++)
            for (size_t o = 0; o < sizeof(outlens) / sizeof(*outlens); o++)
                for (size_t k = 0; k < sizeof(keylens) / sizeof(*keylens); k++)
                    for (int with_data = 0; with_data < 3; with_data++) {
                        struct kdf_in in = { .digest = digest,
                                             .mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, .key = key,
                                             .keylen = keylens[k], .label = labels[l],
                                             .data = with_data ? data : NULL,
                                             .datalen = with_data == 2 ? 0 : hlen };
                        same(&in, outlens[o]);
                    }
    }
}

static void test_refusals_match(void **state)
{
    (void)state;
    unsigned char key[48] = { 1 };
    struct kdf_in in = { .digest = "SHA2-256", .mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY,
                         .label = "key" };
    same(&in, 16); /* expand without a key */
    in.key = key;
    in.keylen = 32;
    in.mode = EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND; /* TLS13-KDF has no such mode */
    same(&in, 32);
    in.mode = EVP_KDF_HKDF_MODE_EXTRACT_ONLY;
    same(&in, 16); /* extract's output is one hash long */
    unsigned char out[64];
    in.digest = "SHA1"; /* not a TLS 1.3 digest: ours refuses (OpenSSL's would not) */
    assert_int_not_equal(derive("provider=hostess-tls", &in, out, 20), 1);
}

static void test_scrub_keeps_working(void **state)
{
    (void)state;
    unsigned char key[32] = { 7 }, a[32], b[32];
    struct kdf_in in = { .digest = "SHA2-256", .mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY,
                         .key = key, .keylen = 32, .label = "key" };
    assert_int_equal(derive("provider=hostess-tls", &in, a, 32), 1);
    tls_kdf_scrub();
    tls_kdf_scrub(); /* twice, and with nothing to scrub */
    assert_int_equal(derive("provider=hostess-tls", &in, b, 32), 1);
    assert_memory_equal(a, b, 32);
    same(&in, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_propq_prefers_ours),
        cmocka_unit_test(test_extract_matches),
        cmocka_unit_test(test_expand_matches),
        cmocka_unit_test(test_refusals_match),
        cmocka_unit_test(test_scrub_keeps_working),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
