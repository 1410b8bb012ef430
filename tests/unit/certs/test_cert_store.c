/*
 * Unit tests for certs/: the certificate store (certs/cert_store.h), the TLS settings
 * (certs/tls_settings.h) and the ClientHello readers (certs/client_hello.h).
 *
 * Certificates are made at test time with the OpenSSL API, signed by a test CA (and an
 * intermediate for chains), written as PEM files into a mkdtemp() directory per test.
 * RSA key generation is slow, so one RSA 2048 key serves every RSA certificate. Which
 * certificate a lookup or a handshake chose is told by its serial number. Handshakes
 * run in memory: a client SSL and a server SSL joined by a BIO pair, the server
 * switching to the store's SSL_CTX from an SNI (or client-hello) callback, as the
 * listener will.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "certs/cert_store.h"
#include "certs/client_hello.h"
#include "certs/tls_settings.h"
#include "router/base/log.h"

#define DAY (24L * 3600L)

static EVP_PKEY *ca_key, *int_key;
static X509 *ca_cert, *int_cert;
static EVP_PKEY *rsa_key;   /* the one RSA 2048 key */
static EVP_PKEY *ec_key[3]; /* P-256 */

/* ---- making certificates ------------------------------------------------------------ */

static void add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    assert_non_null(e);
    assert_int_equal(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
}

/* A certificate for key, signed by issuer/issuer_key (self-signed when issuer is NULL),
 * valid from now + from_s to now + to_s. sans: "DNS:a,DNS:b" or NULL for none. */
static X509 *make_cert(long serial, const char *cn, const char *sans, EVP_PKEY *key, X509 *issuer,
                       EVP_PKEY *issuer_key, long from_s, long to_s, int is_ca)
{
    X509 *x = X509_new();
    X509_NAME *name;
    X509V3_CTX v3;

    assert_non_null(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), from_s));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), to_s));
    assert_int_equal(X509_set_pubkey(x, key), 1);
    name = X509_get_subject_name(x);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0),
        1);
    assert_int_equal(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name), 1);
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
    if (is_ca) {
        add_ext(x, &v3, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, &v3, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(x, &v3, NID_basic_constraints, "CA:FALSE");
        add_ext(x, &v3, NID_key_usage,
                EVP_PKEY_is_a(key, "RSA") ? "critical,digitalSignature,keyEncipherment"
                                          : "critical,digitalSignature");
        add_ext(x, &v3, NID_ext_key_usage, "serverAuth");
    }
    add_ext(x, &v3, NID_subject_key_identifier, "hash");
    if (sans != NULL)
        add_ext(x, &v3, NID_subject_alt_name, sans);
    assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
    return x;
}

/* A leaf signed by the test CA, valid for a year. */
static X509 *leaf(long serial, const char *sans, EVP_PKEY *key)
{
    return make_cert(serial, "leaf", sans, key, ca_cert, ca_key, -DAY, 365 * DAY, 0);
}

static EVP_PKEY *gen_ec(const char *curve)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
    assert_non_null(k);
    return k;
}

static int setup_all(void **state)
{
    (void)state;
    log_open("/dev/null"); /* the store logs every skipped file; tests read its lists */
    ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    int_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    for (int i = 0; i < 3; i++)
        ec_key[i] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!ca_key || !int_key || !rsa_key || !ec_key[0] || !ec_key[1] || !ec_key[2])
        return -1;
    ca_cert = make_cert(1, "Hostess Test CA", NULL, ca_key, NULL, NULL, -DAY, 3650 * DAY, 1);
    int_cert = make_cert(2, "Hostess Test Intermediate", NULL, int_key, ca_cert, ca_key, -DAY,
                         3650 * DAY, 1);
    return 0;
}

static int teardown_all(void **state)
{
    (void)state;
    X509_free(ca_cert);
    X509_free(int_cert);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(int_key);
    EVP_PKEY_free(rsa_key);
    for (int i = 0; i < 3; i++)
        EVP_PKEY_free(ec_key[i]);
    log_open("-");
    return 0;
}

/* ---- files ---------------------------------------------------------------------- */

static char *tmpdir_new(void)
{
    const char *base = getenv("TMPDIR");
    char path[512];
    char *d;

    snprintf(path, sizeof(path), "%s/certs-test-XXXXXX", base && *base ? base : "/tmp");
    d = mkdtemp(path);
    assert_non_null(d);
    d = strdup(d);
    assert_non_null(d);
    return d;
}

static void tmpdir_free(char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[1024];

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        assert_int_equal(unlink(path), 0);
    }
    closedir(d);
    assert_int_equal(rmdir(dir), 0);
    free(dir);
}

static BIO *file_create(const char *dir, const char *file)
{
    char path[1024];
    BIO *b;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    b = BIO_new_file(path, "w");
    assert_non_null(b);
    return b;
}

static void file_remove(const char *dir, const char *file)
{
    char path[1024];

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    assert_int_equal(unlink(path), 0);
}

/* file holds x, then chain (may be NULL), then key (may be NULL). */
static void write_pem(const char *dir, const char *file, X509 *x, X509 *chain, EVP_PKEY *key)
{
    BIO *b = file_create(dir, file);

    if (x != NULL)
        assert_int_equal(PEM_write_bio_X509(b, x), 1);
    if (chain != NULL)
        assert_int_equal(PEM_write_bio_X509(b, chain), 1);
    if (key != NULL)
        assert_int_equal(PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL), 1);
    BIO_free(b);
}

/* stem.crt (x + chain) and stem.key. */
static void write_pair(const char *dir, const char *stem, X509 *x, X509 *chain, EVP_PKEY *key)
{
    char name[256];

    snprintf(name, sizeof(name), "%s.crt", stem);
    write_pem(dir, name, x, chain, NULL);
    snprintf(name, sizeof(name), "%s.key", stem);
    write_pem(dir, name, NULL, NULL, key);
}

/* Writes a leaf pair and frees the certificate. */
static void put_pair(const char *dir, const char *stem, long serial, const char *sans,
                     EVP_PKEY *key)
{
    X509 *x = leaf(serial, sans, key);
    write_pair(dir, stem, x, NULL, key);
    X509_free(x);
}

static void write_text(const char *dir, const char *file, const char *text)
{
    BIO *b = file_create(dir, file);
    assert_int_equal(BIO_puts(b, text), (int)strlen(text));
    BIO_free(b);
}

/* ---- looking at a store ------------------------------------------------------------ */

static long serial_of_ctx(SSL_CTX *ctx)
{
    X509 *x;

    if (ctx == NULL)
        return -1;
    x = SSL_CTX_get0_certificate(ctx);
    assert_non_null(x);
    return ASN1_INTEGER_get(X509_get0_serialNumber(x));
}

/* Serial of the certificate chosen for name (NULL: no SNI), or -1 for none. */
static long pick(const struct cert_store *s, const char *name, int ecdsa)
{
    return serial_of_ctx(cert_store_select(s, name, name ? strlen(name) : 0, ecdsa));
}

static struct cert_store *load(const char *dir, const struct cert_store *prev)
{
    char err[256];
    struct cert_store *s = cert_store_load_dir(dir, prev, err, sizeof(err));
    if (s == NULL)
        fail_msg("load %s: %s", dir, err);
    return s;
}

/* 1 when some error (or warning) contains both a and b. */
static int reported(const struct cert_store *s, int errors, const char *a, const char *b)
{
    size_t n = errors ? cert_store_error_count(s) : cert_store_warning_count(s);

    for (size_t i = 0; i < n; i++) {
        const char *m = errors ? cert_store_error(s, i) : cert_store_warning(s, i);
        if (strstr(m, a) != NULL && (b == NULL || strstr(m, b) != NULL))
            return 1;
    }
    return 0;
}

/* ---- selection ------------------------------------------------------------------ */

static void test_select_prefers_exact_then_wildcard_then_default(void **state)
{
    char *dir = tmpdir_new();
    struct cert_store *s;
    X509 *w;

    (void)state;
    put_pair(dir, "a", 101, "DNS:a.example.com", ec_key[0]);
    /* A combined file, leaf signed by the intermediate which follows it, then the key. */
    w = make_cert(102, "wild", "DNS:*.example.com", ec_key[1], int_cert, int_key, -DAY, 90 * DAY,
                  0);
    write_pem(dir, "wild.pem", w, int_cert, ec_key[1]);
    X509_free(w);
    put_pair(dir, "default", 103, "DNS:default.test", ec_key[2]);

    s = load(dir, NULL);
    assert_int_equal(cert_store_error_count(s), 0);
    assert_int_equal(cert_store_cert_count(s), 3);
    assert_int_equal(cert_store_name_count(s), 3); /* a.example.com, *.example.com, default.test */

    assert_int_equal(pick(s, "a.example.com", 1), 101);
    assert_int_equal(pick(s, "a.example.com", 0), 101); /* only ECDSA there: served anyway */
    assert_int_equal(pick(s, "b.example.com", 1), 102);
    assert_int_equal(pick(s, "default.test", 1), 103);
    assert_int_equal(pick(s, "other.test", 1), 103);
    assert_int_equal(pick(s, NULL, 1), 103);
    assert_int_equal(pick(s, "", 1), 103);
    cert_store_free(s);
    tmpdir_free(dir);
}

static void test_explicit_default_pair_outside_the_directory_serves_unmatched_names(void **state)
{
    char *dir = tmpdir_new(), *elsewhere = tmpdir_new();
    char crt[4096], key[4096], err[256];
    struct cert_store *s, *s2;

    (void)state;
    put_pair(dir, "a", 111, "DNS:a.example.com", ec_key[0]);
    put_pair(elsewhere, "fallback", 112, "DNS:fallback.test", ec_key[1]);
    snprintf(crt, sizeof crt, "%s/fallback.crt", elsewhere);
    snprintf(key, sizeof key, "%s/fallback.key", elsewhere);

    s = cert_store_load(dir, crt, key, NULL, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(cert_store_error_count(s), 0);
    assert_int_equal(cert_store_cert_count(s), 2);
    assert_int_equal(pick(s, "a.example.com", 1), 111);
    assert_int_equal(pick(s, "other.test", 1), 112);
    assert_int_equal(pick(s, NULL, 1), 112);

    /* Broken later (the key vanished): reported, and the previous pair keeps serving. */
    file_remove(elsewhere, "fallback.key");
    s2 = cert_store_load(dir, crt, key, s, err, sizeof err);
    assert_non_null(s2);
    assert_int_equal(cert_store_error_count(s2), 1);
    assert_true(reported(s2, 1, "fallback.key", "cannot open"));
    assert_int_equal(pick(s2, "other.test", 1), 112);
    cert_store_free(s);
    cert_store_free(s2);
    tmpdir_free(dir);
    tmpdir_free(elsewhere);
}

static void test_wildcard_covers_exactly_one_label(void **state)
{
    char *dir = tmpdir_new();
    char l63[64], n253[300], sans[1024];
    struct cert_store *s, *s2;

    (void)state;
    put_pair(dir, "w", 201, "DNS:*.example.com", ec_key[0]);
    /* "*.com" (a wildcard over a one-label parent) and partial wildcards are not served. */
    put_pair(dir, "odd", 202, "DNS:*.com,DNS:f*.example.org,DNS:a.*.example.net,DNS:ok.test",
             ec_key[1]);
    /* DNS names have 253 octets at most, "*." included: the 253-octet name is served,
     * one octet more is not, nor a wildcard over the 253-octet name. */
    memset(l63, 'x', 63);
    l63[63] = '\0';
    snprintf(n253, sizeof(n253), "%s.%s.%s.%.61s", l63, l63, l63, l63);
    snprintf(sans, sizeof(sans), "DNS:%s,DNS:%sy,DNS:*.%s", n253, n253, n253);
    put_pair(dir, "long", 203, sans, ec_key[2]);
    s = load(dir, NULL);
    assert_int_equal(cert_store_error_count(s), 0);
    assert_int_equal(strlen(n253), 253);
    assert_int_equal(pick(s, n253, 1), 203);
    assert_true(reported(s, 0, "long.crt", "ignored"));
    assert_int_equal(pick(s, "a.example.com", 1), 201);
    assert_int_equal(pick(s, "A.Example.Com.", 1), 201);
    assert_int_equal(pick(s, "a.b.example.com", 1), -1);
    assert_int_equal(pick(s, "example.com", 1), -1);
    assert_int_equal(pick(s, ".example.com", 1), -1);
    assert_int_equal(pick(s, "*.example.com", 1), -1); /* a literal '*' is not a host */
    assert_int_equal(pick(s, "x.com", 1), -1);
    assert_int_equal(pick(s, "foo.example.org", 1), -1);
    assert_int_equal(pick(s, "a.b.example.net", 1), -1);
    assert_int_equal(pick(s, "ok.test", 1), 202);
    assert_true(reported(s, 0, "odd.crt", "*.com"));
    assert_true(reported(s, 0, "odd.crt", "f*.example.org"));
    /* A reload that reuses the unchanged file still reports what parsing found. */
    s2 = load(dir, s);
    assert_int_equal(cert_store_warning_count(s2), cert_store_warning_count(s));
    assert_true(reported(s2, 0, "odd.crt", "*.com"));
    cert_store_free(s);
    cert_store_free(s2);
    tmpdir_free(dir);
}

static void test_same_name_serves_ecdsa_to_clients_that_offer_it_and_rsa_otherwise(void **state)
{
    char *dir = tmpdir_new();
    struct cert_store *s;
    X509 *x;

    (void)state;
    put_pair(dir, "same-ec", 301, "DNS:same.example.com", ec_key[0]);
    put_pair(dir, "same-rsa", 302, "DNS:same.example.com", rsa_key);
    put_pair(dir, "only-rsa", 303, "DNS:r.example.com", rsa_key);
    put_pair(dir, "only-ec", 304, "DNS:e.example.com", ec_key[1]);
    /* Two defaults, one per key type: default.crt + default.key and default.pem. */
    put_pair(dir, "default", 305, "DNS:default.test", ec_key[2]);
    x = leaf(306, "DNS:default.test", rsa_key);
    write_pem(dir, "default.pem", x, NULL, rsa_key);
    X509_free(x);

    s = load(dir, NULL);
    assert_int_equal(cert_store_error_count(s), 0);
    assert_int_equal(cert_store_cert_count(s), 6);
    assert_int_equal(pick(s, "same.example.com", 1), 301);
    assert_int_equal(pick(s, "same.example.com", 0), 302);
    assert_int_equal(pick(s, "r.example.com", 1), 303); /* no ECDSA one: RSA for everyone */
    assert_int_equal(pick(s, "e.example.com", 0), 304); /* no RSA one: ECDSA for everyone */
    assert_int_equal(pick(s, "nowhere.test", 1), 305);
    assert_int_equal(pick(s, "nowhere.test", 0), 306);
    cert_store_free(s);
    tmpdir_free(dir);
}

static void test_names_come_from_sans_never_from_file_names_or_the_cn(void **state)
{
    char *dir = tmpdir_new();
    struct cert_store *s;
    X509 *x;

    (void)state;
    x = make_cert(401, "b.example.com", "DNS:x.example.com", ec_key[0], ca_cert, ca_key, -DAY, DAY,
                  0);
    write_pair(dir, "b.example.com", x, NULL, ec_key[0]);
    X509_free(x);
    x = make_cert(402, "nosan.example.com", NULL, ec_key[1], ca_cert, ca_key, -DAY, DAY, 0);
    write_pair(dir, "nosan.example.com", x, NULL, ec_key[1]);
    X509_free(x);
    put_pair(dir, "iponly", 403, "IP:127.0.0.1", ec_key[2]);

    s = load(dir, NULL);
    assert_int_equal(cert_store_cert_count(s), 1);
    assert_int_equal(pick(s, "x.example.com", 1), 401);
    assert_int_equal(pick(s, "b.example.com", 1), -1);     /* file name and CN */
    assert_int_equal(pick(s, "nosan.example.com", 1), -1); /* refused: CN only */
    assert_int_equal(cert_store_error_count(s), 2);
    assert_true(reported(s, 1, "nosan.example.com.crt", "subjectAltName"));
    assert_true(reported(s, 1, "iponly.crt", "no usable DNS name"));
    cert_store_free(s);
    tmpdir_free(dir);
}

static void test_sni_is_normalised_and_bounded(void **state)
{
    char *dir = tmpdir_new();
    char longname[300];
    struct cert_store *s;

    (void)state;
    put_pair(dir, "a", 501, "DNS:A.Example.COM.", ec_key[0]); /* SANs are normalised too */
    put_pair(dir, "default", 502, "DNS:default.test", ec_key[1]);
    s = load(dir, NULL);
    assert_int_equal(pick(s, "a.example.com", 1), 501);
    assert_int_equal(pick(s, "A.EXAMPLE.COM.", 1), 501);
    assert_int_equal(pick(s, "a.example.com..", 1), 502);
    assert_int_equal(serial_of_ctx(cert_store_select(s, "a.example.com\0evil", 18, 1)), 502);
    assert_int_equal(serial_of_ctx(cert_store_select(s, "a.example.comXYZ", 13, 1)), 501);
    memset(longname, 'a', sizeof(longname));
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(pick(s, longname, 1), 502);
    assert_int_equal(pick(s, "a example.com", 1), 502);
    cert_store_free(s);
    tmpdir_free(dir);
}

/* ---- broken files, expiry, previous store ----------------------------------------- */

static void test_broken_files_are_reported_logged_and_skipped(void **state)
{
    char *dir = tmpdir_new(), *logdir = tmpdir_new();
    char logpath[600], logtext[8192];
    struct cert_store *s;
    EVP_PKEY *p521 = gen_ec("P-521");
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    X509 *x;
    BIO *b;
    FILE *f;
    size_t n;

    (void)state;
    assert_non_null(ed);
    put_pair(dir, "good", 601, "DNS:good.example.com", ec_key[0]);
    write_text(dir, "garbage.pem", "this is not PEM at all\n");
    write_text(dir, "badb64.crt",
               "-----BEGIN CERTIFICATE-----\n!!!!not base64!!!!\n"
               "-----END CERTIFICATE-----\n");
    write_pem(dir, "badb64.key", NULL, NULL, ec_key[0]);
    x = leaf(602, "DNS:mismatch.example.com", ec_key[0]);
    write_pair(dir, "mismatch", x, NULL, ec_key[1]); /* a key that is not the cert's */
    write_pem(dir, "lonely.crt", x, NULL, NULL);     /* no lonely.key */
    X509_free(x);
    write_pem(dir, "orphan.key", NULL, NULL, ec_key[0]); /* no orphan.crt */
    put_pair(dir, "p521", 603, "DNS:p521.example.com", p521);
    put_pair(dir, "ed", 604, "DNS:ed.example.com", ed);
    /* An encrypted key must fail, never prompt for a password on the terminal. */
    x = leaf(605, "DNS:enc.example.com", ec_key[2]);
    write_pem(dir, "enc.crt", x, NULL, NULL);
    X509_free(x);
    b = file_create(dir, "enc.key");
    assert_int_equal(PEM_write_bio_PrivateKey(b, ec_key[2], EVP_aes_128_cbc(),
                                              (unsigned char *)"secret", 6, NULL, NULL),
                     1);
    BIO_free(b);
    /* A FIFO must be refused, not block the loader; a newline in a file name must not
     * split a log line. */
    snprintf(logpath, sizeof(logpath), "%s/fifo.pem", dir);
    assert_int_equal(mkfifo(logpath, 0600), 0);
    put_pair(dir, "new\nline", 606, "DNS:nl.example.com", ec_key[1]);
    write_text(dir, "new\nline.key", "garbage\n");
    /* Not certificate files at all: ignored without a word. */
    write_text(dir, "README.txt", "hello\n");
    write_text(dir, ".good.pem.tmp", "half-written\n");

    snprintf(logpath, sizeof(logpath), "%s/edge.log", logdir);
    assert_int_equal(log_open(logpath), 0);
    s = load(dir, NULL);
    assert_int_equal(log_open("/dev/null"), 0);

    assert_int_equal(cert_store_cert_count(s), 1);
    assert_int_equal(pick(s, "good.example.com", 1), 601);
    assert_int_equal(pick(s, "mismatch.example.com", 1), -1);
    assert_int_equal(pick(s, "p521.example.com", 1), -1);
    assert_int_equal(cert_store_error_count(s), 10);
    assert_true(reported(s, 1, "fifo.pem", "not a regular file"));
    assert_true(reported(s, 1, "new?line.key", "no usable private key"));
    assert_true(reported(s, 1, "garbage.pem", "no certificate"));
    assert_true(reported(s, 1, "badb64.crt", NULL));
    assert_true(reported(s, 1, "mismatch.key", "does not match"));
    assert_true(reported(s, 1, "lonely.crt", "no lonely.key"));
    assert_true(reported(s, 1, "orphan.key", "no orphan.crt"));
    assert_true(reported(s, 1, "p521.key", "P-256 or P-384"));
    assert_true(reported(s, 1, "ed.key", "unsupported key type"));
    assert_true(reported(s, 1, "enc.key", "private key"));
    assert_null(cert_store_error(s, 10));

    /* Each error reached the log, as one line. */
    f = fopen(logpath, "r");
    assert_non_null(f);
    n = fread(logtext, 1, sizeof(logtext) - 1, f);
    fclose(f);
    logtext[n] = '\0';
    for (size_t i = 0; i < cert_store_error_count(s); i++)
        assert_non_null(strstr(logtext, cert_store_error(s, i)));
    assert_non_null(strstr(logtext, "error certs: mismatch.key"));
    assert_null(strstr(logtext, "\nline.key"));

    cert_store_free(s);
    EVP_PKEY_free(p521);
    EVP_PKEY_free(ed);
    tmpdir_free(dir);
    tmpdir_free(logdir);
}

static void test_expired_certificate_is_served_with_a_warning_until_a_valid_one_comes(void **state)
{
    char *dir = tmpdir_new();
    struct cert_store *s;
    X509 *x;

    (void)state;
    x = make_cert(701, "old", "DNS:old.example.com", ec_key[0], ca_cert, ca_key, -30 * DAY, -DAY,
                  0);
    write_pair(dir, "old", x, NULL, ec_key[0]);
    X509_free(x);
    s = load(dir, NULL);
    assert_int_equal(cert_store_error_count(s), 0);
    assert_int_equal(pick(s, "old.example.com", 1), 701);
    assert_true(reported(s, 0, "old.crt", "expired"));
    cert_store_free(s);

    /* A renewed certificate beside it (even with an earlier file name) wins. */
    put_pair(dir, "a-renewed", 702, "DNS:old.example.com", ec_key[1]);
    s = load(dir, NULL);
    assert_int_equal(pick(s, "old.example.com", 1), 702);
    cert_store_free(s);

    /* One not valid yet (a CA clock ahead of ours) does not take over, even though it
     * lasts longer; it is warned about. */
    x = make_cert(703, "early", "DNS:old.example.com", ec_key[2], ca_cert, ca_key, DAY, 400 * DAY,
                  0);
    write_pair(dir, "0-early", x, NULL, ec_key[2]);
    X509_free(x);
    s = load(dir, NULL);
    assert_int_equal(pick(s, "old.example.com", 1), 702);
    assert_true(reported(s, 0, "0-early.crt", "not valid before"));
    cert_store_free(s);
    tmpdir_free(dir);
}

static void test_previous_certificate_keeps_serving_while_its_file_is_broken(void **state)
{
    char *dir = tmpdir_new();
    struct cert_store *s1, *s2, *s3, *s4, *s5;
    SSL_CTX *a1, *b1;

    (void)state;
    put_pair(dir, "a", 801, "DNS:a.example.com,DNS:a2.example.com", ec_key[0]);
    put_pair(dir, "b", 802, "DNS:b.example.com", ec_key[1]);
    s1 = load(dir, NULL);
    a1 = cert_store_select(s1, "a.example.com", 13, 1);
    b1 = cert_store_select(s1, "b.example.com", 13, 1);
    assert_int_equal(serial_of_ctx(a1), 801);

    /* a.key replaced by a key that does not match: a's previous certificate stays. */
    write_pem(dir, "a.key", NULL, NULL, ec_key[2]);
    s2 = load(dir, s1);
    assert_int_equal(cert_store_error_count(s2), 1);
    assert_true(reported(s2, 1, "a.key", "does not match"));
    assert_true(reported(s2, 0, "a.crt", "keeps serving"));
    assert_int_equal(cert_store_cert_count(s2), 2);
    assert_ptr_equal(cert_store_select(s2, "a.example.com", 13, 1), a1);
    assert_ptr_equal(cert_store_select(s2, "a2.example.com", 14, 1), a1);
    /* b did not change: same context, not rebuilt. */
    assert_ptr_equal(cert_store_select(s2, "b.example.com", 13, 1), b1);

    /* The old store goes (as the epoch domain would retire it); the new one still
     * serves the shared contexts (ASan watches). Still broken at the next reload. */
    cert_store_free(s1);
    assert_int_equal(pick(s2, "a.example.com", 1), 801);
    s3 = load(dir, s2);
    assert_int_equal(pick(s3, "a.example.com", 1), 801);
    assert_ptr_equal(cert_store_select(s3, "a.example.com", 13, 1), a1);
    cert_store_free(s2);

    /* A new, good file for the name takes over from the carried one. */
    put_pair(dir, "c", 803, "DNS:a.example.com", ec_key[1]);
    s4 = load(dir, s3);
    assert_int_equal(pick(s4, "a.example.com", 1), 803);
    assert_int_equal(pick(s4, "a2.example.com", 1), 801);
    cert_store_free(s3);

    /* Removed files are not carried: removal is what the operator meant. */
    file_remove(dir, "a.crt");
    file_remove(dir, "a.key");
    file_remove(dir, "c.crt");
    file_remove(dir, "c.key");
    s5 = load(dir, s4);
    assert_int_equal(cert_store_error_count(s5), 0);
    assert_int_equal(pick(s5, "a.example.com", 1), -1);
    assert_int_equal(pick(s5, "a2.example.com", 1), -1);
    assert_int_equal(pick(s5, "b.example.com", 1), 802);
    cert_store_free(s4);
    cert_store_free(s5);
    tmpdir_free(dir);
}

static void test_fixed_file_is_loaded_fresh_after_being_broken(void **state)
{
    char *dir = tmpdir_new();
    struct cert_store *s1, *s2, *s3;

    (void)state;
    put_pair(dir, "a", 901, "DNS:a.example.com", ec_key[0]);
    s1 = load(dir, NULL);
    write_text(dir, "a.crt", "garbage\n");
    s2 = load(dir, s1);
    assert_int_equal(pick(s2, "a.example.com", 1), 901);
    put_pair(dir, "a", 902, "DNS:a.example.com", ec_key[0]);
    s3 = load(dir, s2);
    assert_int_equal(cert_store_error_count(s3), 0);
    assert_int_equal(cert_store_warning_count(s3), 0);
    assert_int_equal(pick(s3, "a.example.com", 1), 902);
    cert_store_free(s1);
    cert_store_free(s2);
    cert_store_free(s3);
    tmpdir_free(dir);
}

static void test_missing_directory_fails_and_empty_one_gives_an_empty_store(void **state)
{
    char err[256];
    char *dir = tmpdir_new();
    struct cert_store *s;

    (void)state;
    assert_null(cert_store_load_dir("/nonexistent/hostess-certs", NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/hostess-certs"));
    assert_null(cert_store_load_dir("/nonexistent/hostess-certs", NULL, NULL, 0));
    s = load(dir, NULL);
    assert_int_equal(cert_store_cert_count(s), 0);
    assert_int_equal(cert_store_name_count(s), 0);
    assert_null(cert_store_select(s, "a.example.com", 13, 1));
    assert_null(cert_store_select(s, NULL, 0, 0));
    cert_store_free(s);
    cert_store_free(NULL);
    tmpdir_free(dir);
}

/* 100 certificates × 100 SANs. Lookups hash once per table, whatever the count; this
 * checks correctness at that size (timings are printed, never asserted). */
static void test_ten_thousand_names_are_each_found(void **state)
{
    enum { CERTS = 100, PER = 100 };
    char *dir = tmpdir_new();
    char *sans = malloc(PER * 32), stem[32], name[64];
    struct cert_store *s, *s2;
    struct timespec t0, t1, t2;
    uint32_t rnd = 12345;

    (void)state;
    assert_non_null(sans);
    for (int c = 0; c < CERTS; c++) {
        size_t off = 0;
        for (int k = 0; k < PER; k++)
            off += (size_t)snprintf(sans + off, PER * 32 - off, "%sDNS:h%d.bulk.test", k ? "," : "",
                                    c * PER + k);
        snprintf(stem, sizeof(stem), "bulk%03d", c);
        put_pair(dir, stem, 10000 + c, sans, ec_key[c % 3]);
    }
    free(sans);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    s = load(dir, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(cert_store_error_count(s), 0);
    assert_int_equal(cert_store_cert_count(s), CERTS);
    assert_int_equal(cert_store_name_count(s), CERTS * PER);
    for (int i = 0; i < 5000; i++) {
        int h;
        rnd = rnd * 1103515245u + 12345u;
        h = (int)((rnd >> 8) % (CERTS * PER));
        snprintf(name, sizeof(name), "h%d.bulk.test", h);
        assert_int_equal(pick(s, name, 1), 10000 + h / PER);
        snprintf(name, sizeof(name), "h%d.bulk.test", h + CERTS * PER);
        assert_int_equal(pick(s, name, 1), -1);
    }
    /* A reload with nothing changed shares every context and parses nothing. */
    s2 = load(dir, s);
    clock_gettime(CLOCK_MONOTONIC, &t2);
    for (int c = 0; c < CERTS; c++) {
        snprintf(name, sizeof(name), "h%d.bulk.test", c * PER);
        assert_ptr_equal(cert_store_select(s2, name, strlen(name), 1),
                         cert_store_select(s, name, strlen(name), 1));
    }
    print_message("10,000 names: first load %.1f ms, unchanged reload %.1f ms\n",
                  (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
                  (double)(t2.tv_sec - t1.tv_sec) * 1e3 + (double)(t2.tv_nsec - t1.tv_nsec) / 1e6);
    cert_store_free(s);
    cert_store_free(s2);
    tmpdir_free(dir);
}

/* ---- ClientHello readers -------------------------------------------------------- */

static void test_client_hello_has_ecdsa_reads_signature_schemes(void **state)
{
    /* Chrome-like TLS 1.3 list: ecdsa_secp256r1_sha256 first. */
    static const unsigned char chrome[] = {0x00, 0x10, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05,
                                           0x03, 0x08, 0x05, 0x05, 0x01, 0x08, 0x06, 0x06, 0x01};
    /* RSA only: rsa_pss_rsae_sha256, rsa_pkcs1_sha256, rsa_pkcs1_sha384, ed25519. */
    static const unsigned char rsa[] = {0x00, 0x08, 0x08, 0x04, 0x04, 0x01, 0x05, 0x01, 0x08, 0x07};
    /* TLS 1.2 pair (sha512, ecdsa) last. */
    static const unsigned char tls12[] = {0x00, 0x04, 0x04, 0x01, 0x06, 0x03};
    /* Only ecdsa_sha1 and (sha224, ecdsa): not signable at our security level. */
    static const unsigned char sha1[] = {0x00, 0x04, 0x02, 0x03, 0x03, 0x03};
    static const unsigned char short_len[] = {0x00, 0x04, 0x04, 0x03};            /* claims 4 */
    static const unsigned char long_len[] = {0x00, 0x02, 0x04, 0x03, 0x04, 0x03}; /* extra */
    static const unsigned char odd[] = {0x00, 0x03, 0x04, 0x03, 0x04};
    static const unsigned char empty[] = {0x00, 0x00};

    (void)state;
    assert_int_equal(client_hello_has_ecdsa(chrome, sizeof(chrome)), 1);
    assert_int_equal(client_hello_has_ecdsa(rsa, sizeof(rsa)), 0);
    assert_int_equal(client_hello_has_ecdsa(tls12, sizeof(tls12)), 1);
    assert_int_equal(client_hello_has_ecdsa(sha1, sizeof(sha1)), 0);
    assert_int_equal(client_hello_has_ecdsa(short_len, sizeof(short_len)), 0);
    assert_int_equal(client_hello_has_ecdsa(long_len, sizeof(long_len)), 0);
    assert_int_equal(client_hello_has_ecdsa(odd, sizeof(odd)), 0);
    assert_int_equal(client_hello_has_ecdsa(empty, sizeof(empty)), 0);
    assert_int_equal(client_hello_has_ecdsa(chrome, 1), 0);
    assert_int_equal(client_hello_has_ecdsa(NULL, 0), 0);
}

static void test_client_hello_server_name_reads_the_host_name_entry(void **state)
{
    static const unsigned char one[] = {0x00, 0x10, 0x00, 0x00, 0x0d, 'a', '.', 'e', 'x',
                                        'a',  'm',  'p',  'l',  'e',  '.', 'c', 'o', 'm'};
    /* An unknown name type first (skipped), then host_name "b.io". */
    static const unsigned char two[] = {0x00, 0x0c, 0x05, 0x00, 0x02, 'x', 'y',
                                        0x00, 0x00, 0x04, 'b',  '.',  'i', 'o'};
    static const unsigned char overrun[] = {0x00, 0x06, 0x00, 0x00, 0x09, 'a', 'b', 'c'};
    static const unsigned char empty_name[] = {0x00, 0x03, 0x00, 0x00, 0x00};
    static const unsigned char no_host[] = {0x00, 0x05, 0x05, 0x00, 0x02, 'x', 'y'};
    const char *name = NULL;
    size_t len = 0;

    (void)state;
    assert_int_equal(client_hello_server_name(one, sizeof(one), &name, &len), 0);
    assert_int_equal(len, 13);
    assert_memory_equal(name, "a.example.com", 13);
    assert_int_equal(client_hello_server_name(two, sizeof(two), &name, &len), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(name, "b.io", 4);
    assert_int_equal(client_hello_server_name(overrun, sizeof(overrun), &name, &len), -1);
    assert_int_equal(client_hello_server_name(empty_name, sizeof(empty_name), &name, &len), -1);
    assert_int_equal(client_hello_server_name(no_host, sizeof(no_host), &name, &len), -1);
    assert_int_equal(client_hello_server_name(one, sizeof(one) - 1, &name, &len), -1);
    assert_int_equal(client_hello_server_name(NULL, 0, &name, &len), -1);
}

static void test_client_hello_version_and_suite_readers(void **state)
{
    static const unsigned char v13[] = {0x04, 0x03, 0x04, 0x03, 0x03};
    static const unsigned char v12[] = {0x02, 0x03, 0x03};
    static const unsigned char v_odd[] = {0x03, 0x03, 0x04, 0x03};
    static const unsigned char v_short[] = {0x04, 0x03, 0x04};
    static const unsigned char rsa_only[] = {0xC0, 0x2F, 0xC0, 0x30, 0xCC, 0xA8};
    static const unsigned char with_ecdsa[] = {0xC0, 0x2F, 0xCC, 0xA9};
    static const unsigned char odd[] = {0xC0, 0x2F, 0xC0};

    (void)state;
    assert_int_equal(client_hello_offers_tls13(v13, sizeof v13), 1);
    assert_int_equal(client_hello_offers_tls13(v12, sizeof v12), 0);
    assert_int_equal(client_hello_offers_tls13(v_odd, sizeof v_odd), 0);
    assert_int_equal(client_hello_offers_tls13(v_short, sizeof v_short), 0);
    assert_int_equal(client_hello_offers_tls13(NULL, 0), 0);
    assert_int_equal(client_hello_has_ecdsa_suite(rsa_only, sizeof rsa_only), 0);
    assert_int_equal(client_hello_has_ecdsa_suite(with_ecdsa, sizeof with_ecdsa), 1);
    assert_int_equal(client_hello_has_ecdsa_suite(odd, sizeof odd), 0);
    assert_int_equal(client_hello_has_ecdsa_suite(NULL, 0), 0);
}

/* ---- TLS settings and handshakes ------------------------------------------------- */

static int has_cipher(STACK_OF(SSL_CIPHER) * sk, const char *name)
{
    for (int i = 0; i < sk_SSL_CIPHER_num(sk); i++)
        if (strcmp(SSL_CIPHER_get_name(sk_SSL_CIPHER_value(sk, i)), name) == 0)
            return 1;
    return 0;
}

static void test_tls_settings_are_mozilla_intermediate(void **state)
{
    static const char *const want[] = {
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_AES_128_GCM_SHA256",        "TLS_AES_256_GCM_SHA384",
        "TLS_CHACHA20_POLY1305_SHA256"};
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    STACK_OF(SSL_CIPHER) * sk;
    uint64_t opts;

    (void)state;
    assert_non_null(ctx);
    assert_int_equal(tls_ctx_configure(ctx), 0);
    assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
    assert_int_equal(SSL_CTX_get_max_proto_version(ctx), TLS1_3_VERSION);
    opts = SSL_CTX_get_options(ctx);
    assert_true(opts & SSL_OP_NO_COMPRESSION);
    assert_true(opts & SSL_OP_NO_RENEGOTIATION);
    assert_false(opts & SSL_OP_CIPHER_SERVER_PREFERENCE);
    assert_false(opts & SSL_OP_NO_TICKET);
    assert_int_equal(SSL_CTX_get_session_cache_mode(ctx), SSL_SESS_CACHE_OFF);
    sk = SSL_CTX_get_ciphers(ctx);
    assert_int_equal(sk_SSL_CIPHER_num(sk), sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_true(has_cipher(sk, want[i]));
    SSL_CTX_free(ctx);
}

struct hs {
    int ok;
    long serial;              /* of the certificate the client received */
    int version;              /* negotiated */
    long verify;              /* client's verify result */
    unsigned long server_err; /* first server-side OpenSSL error when it failed */
};

/* One in-memory handshake of a fresh client against a server SSL made from front. The
 * client trusts only the test CA and checks the name verify_host (when not NULL). */
static struct hs handshake(SSL_CTX *front, const char *sni, int min, int max, const char *sigalgs,
                           const char *verify_host)
{
    struct hs r = {0, -1, 0, -1, 0};
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL *c, *sv;
    BIO *cb, *sb;
    int cdone = 0, sdone = 0, failed = 0;

    assert_non_null(cctx);
    assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(cctx), ca_cert), 1);
    SSL_CTX_set_verify(cctx, SSL_VERIFY_PEER, NULL);
    if (min < TLS1_2_VERSION) {
        /* OpenSSL 3.0 offers TLS 1.1 only at security level 0. */
        SSL_CTX_set_security_level(cctx, 0);
        assert_int_equal(SSL_CTX_set_cipher_list(cctx, "DEFAULT:@SECLEVEL=0"), 1);
    }
    assert_int_equal(SSL_CTX_set_min_proto_version(cctx, min), 1);
    assert_int_equal(SSL_CTX_set_max_proto_version(cctx, max), 1);
    c = SSL_new(cctx);
    sv = SSL_new(front);
    assert_non_null(c);
    assert_non_null(sv);
    if (sigalgs != NULL)
        assert_int_equal(SSL_set1_sigalgs_list(c, sigalgs), 1);
    if (sni != NULL)
        assert_int_equal(SSL_set_tlsext_host_name(c, sni), 1);
    if (verify_host != NULL)
        assert_int_equal(SSL_set1_host(c, verify_host), 1);
    assert_int_equal(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
    SSL_set_bio(c, cb, cb);
    SSL_set_bio(sv, sb, sb);
    SSL_set_connect_state(c);
    SSL_set_accept_state(sv);
    ERR_clear_error();
    for (int i = 0; i < 64 && !failed && !(cdone && sdone); i++) {
        if (!cdone) {
            int rc = SSL_do_handshake(c);
            int e = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(c, rc);
            if (rc == 1)
                cdone = 1;
            else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                failed = 1;
            ERR_clear_error();
        }
        if (!sdone && !failed) {
            int rc = SSL_do_handshake(sv);
            int e = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(sv, rc);
            if (rc == 1) {
                sdone = 1;
            } else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                failed = 1;
                r.server_err = ERR_peek_error();
            }
            ERR_clear_error();
        }
    }
    r.ok = cdone && sdone && !failed;
    if (r.ok) {
        r.serial = ASN1_INTEGER_get(X509_get0_serialNumber(SSL_get0_peer_certificate(c)));
        r.version = SSL_version(c);
        r.verify = SSL_get_verify_result(c);
    }
    SSL_free(c);
    SSL_free(sv);
    SSL_CTX_free(cctx);
    return r;
}

/* The listener's way, in its simplest form: SNI callback → store → SSL_set_SSL_CTX. */
static int on_servername(SSL *s, int *al, void *arg)
{
    const struct cert_store *store = arg;
    const char *name = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
    SSL_CTX *ctx = cert_store_select(store, name, name ? strlen(name) : 0, 1);

    if (ctx == NULL) {
        *al = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    SSL_set_SSL_CTX(s, ctx);
    return SSL_TLSEXT_ERR_OK;
}

/* The way that can choose by key type: the client-hello callback, before OpenSSL has
 * parsed the extensions, with our readers. */
static int on_client_hello(SSL *s, int *al, void *arg)
{
    const struct cert_store *store = arg;
    const unsigned char *ext;
    const char *name = NULL;
    size_t len, nlen = 0;
    int ecdsa = 0;
    SSL_CTX *ctx;

    if (SSL_client_hello_get0_ext(s, TLSEXT_TYPE_server_name, &ext, &len) == 1 &&
        client_hello_server_name(ext, len, &name, &nlen) != 0)
        name = NULL, nlen = 0;
    if (SSL_client_hello_get0_ext(s, TLSEXT_TYPE_signature_algorithms, &ext, &len) == 1)
        ecdsa = client_hello_has_ecdsa(ext, len);
    ctx = cert_store_select(store, name, nlen, ecdsa);
    if (ctx == NULL) {
        *al = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_CLIENT_HELLO_ERROR;
    }
    SSL_set_SSL_CTX(s, ctx);
    return SSL_CLIENT_HELLO_SUCCESS;
}

static SSL_CTX *front_new(struct cert_store *store, int use_client_hello)
{
    SSL_CTX *front = SSL_CTX_new(TLS_server_method());

    assert_non_null(front);
    assert_int_equal(tls_ctx_configure(front), 0);
    if (use_client_hello) {
        SSL_CTX_set_client_hello_cb(front, on_client_hello, store);
    } else {
        SSL_CTX_set_tlsext_servername_callback(front, on_servername);
        SSL_CTX_set_tlsext_servername_arg(front, store);
    }
    return front;
}

/* A store for the handshake tests: a.example.com (ECDSA, leaf signed by the
 * intermediate, which the client does not know: the chain must be sent), *.example.com
 * (RSA), default.test (ECDSA). */
static struct cert_store *handshake_store(char **dirp)
{
    char *dir = tmpdir_new();
    X509 *x;

    x = make_cert(1501, "a", "DNS:a.example.com", ec_key[0], int_cert, int_key, -DAY, 90 * DAY, 0);
    write_pair(dir, "a", x, int_cert, ec_key[0]);
    X509_free(x);
    put_pair(dir, "wild", 1502, "DNS:*.example.com", rsa_key);
    put_pair(dir, "default", 1503, "DNS:default.test", ec_key[1]);
    *dirp = dir;
    return load(dir, NULL);
}

static void test_handshake_serves_the_certificate_chosen_by_sni_over_tls12_and_tls13(void **state)
{
    static const int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};
    char *dir;
    struct cert_store *store = handshake_store(&dir);
    SSL_CTX *front = front_new(store, 0);

    (void)state;
    assert_int_equal(cert_store_error_count(store), 0);
    for (int i = 0; i < 2; i++) {
        int v = versions[i];
        struct hs r;

        r = handshake(front, "a.example.com", v, v, NULL, "a.example.com");
        assert_true(r.ok);
        assert_int_equal(r.version, v);
        assert_int_equal(r.serial, 1501);
        assert_int_equal(r.verify, X509_V_OK); /* the intermediate came with it */

        r = handshake(front, "b.example.com", v, v, NULL, "b.example.com");
        assert_true(r.ok);
        assert_int_equal(r.serial, 1502);

        r = handshake(front, "unknown.test", v, v, NULL, "default.test");
        assert_true(r.ok);
        assert_int_equal(r.serial, 1503);

        r = handshake(front, NULL, v, v, NULL, "default.test"); /* no SNI at all */
        assert_true(r.ok);
        assert_int_equal(r.serial, 1503);
    }
    /* Both allowed: TLS 1.3 is what a modern client gets. */
    assert_int_equal(
        handshake(front, "a.example.com", TLS1_2_VERSION, TLS1_3_VERSION, NULL, "a.example.com")
            .version,
        TLS1_3_VERSION);
    SSL_CTX_free(front);
    cert_store_free(store);
    tmpdir_free(dir);
}

static void test_handshake_refuses_a_tls11_client(void **state)
{
    char *dir;
    struct cert_store *store = handshake_store(&dir);
    SSL_CTX *front = front_new(store, 0);
    struct hs r;

    (void)state;
    r = handshake(front, "a.example.com", TLS1_1_VERSION, TLS1_1_VERSION, NULL, NULL);
    assert_false(r.ok);
    /* Refused by the server for its version (not a client that could not even try). */
    assert_int_equal(ERR_GET_LIB(r.server_err), ERR_LIB_SSL);
    assert_int_equal(ERR_GET_REASON(r.server_err), SSL_R_UNSUPPORTED_PROTOCOL);
    /* The same client allowed TLS 1.2 succeeds. */
    r = handshake(front, "a.example.com", TLS1_1_VERSION, TLS1_2_VERSION, NULL, NULL);
    assert_true(r.ok);
    assert_int_equal(r.version, TLS1_2_VERSION);
    SSL_CTX_free(front);
    cert_store_free(store);
    tmpdir_free(dir);
}

static void test_handshake_gives_rsa_to_a_client_without_ecdsa(void **state)
{
    static const int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};
    char *dir = tmpdir_new();
    struct cert_store *store;
    SSL_CTX *front;

    (void)state;
    put_pair(dir, "same-ec", 1701, "DNS:same.example.com", ec_key[0]);
    put_pair(dir, "same-rsa", 1702, "DNS:same.example.com", rsa_key);
    store = load(dir, NULL);
    front = front_new(store, 1);
    for (int i = 0; i < 2; i++) {
        int v = versions[i];
        struct hs r = handshake(front, "same.example.com", v, v, NULL, "same.example.com");
        assert_true(r.ok);
        assert_int_equal(r.serial, 1701);
        r = handshake(front, "same.example.com", v, v, "rsa_pss_rsae_sha256:rsa_pkcs1_sha256",
                      "same.example.com");
        assert_true(r.ok);
        assert_int_equal(r.serial, 1702);
    }
    SSL_CTX_free(front);
    cert_store_free(store);
    tmpdir_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_prefers_exact_then_wildcard_then_default),
        cmocka_unit_test(test_explicit_default_pair_outside_the_directory_serves_unmatched_names),
        cmocka_unit_test(test_wildcard_covers_exactly_one_label),
        cmocka_unit_test(test_same_name_serves_ecdsa_to_clients_that_offer_it_and_rsa_otherwise),
        cmocka_unit_test(test_names_come_from_sans_never_from_file_names_or_the_cn),
        cmocka_unit_test(test_sni_is_normalised_and_bounded),
        cmocka_unit_test(test_broken_files_are_reported_logged_and_skipped),
        cmocka_unit_test(test_expired_certificate_is_served_with_a_warning_until_a_valid_one_comes),
        cmocka_unit_test(test_previous_certificate_keeps_serving_while_its_file_is_broken),
        cmocka_unit_test(test_fixed_file_is_loaded_fresh_after_being_broken),
        cmocka_unit_test(test_missing_directory_fails_and_empty_one_gives_an_empty_store),
        cmocka_unit_test(test_ten_thousand_names_are_each_found),
        cmocka_unit_test(test_client_hello_has_ecdsa_reads_signature_schemes),
        cmocka_unit_test(test_client_hello_server_name_reads_the_host_name_entry),
        cmocka_unit_test(test_client_hello_version_and_suite_readers),
        cmocka_unit_test(test_tls_settings_are_mozilla_intermediate),
        cmocka_unit_test(test_handshake_serves_the_certificate_chosen_by_sni_over_tls12_and_tls13),
        cmocka_unit_test(test_handshake_refuses_a_tls11_client),
        cmocka_unit_test(test_handshake_gives_rsa_to_a_client_without_ecdsa),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
