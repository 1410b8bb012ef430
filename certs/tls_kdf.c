/*
 * tls_kdf: TLS 1.3's key schedule (RFC 8446 §7.1) without OpenSSL 3.0's per-call costs.
 *
 * libssl runs the key schedule through the "TLS13-KDF" algorithm, fetched anew for each
 * of the ~20 HKDF steps of a handshake; OpenSSL's implementation then fetches the digest
 * by name, builds an HMAC context, and frees it all again. In a profile of a full
 * handshake the key schedule took a fifth of the server's instructions, more than the
 * ECDSA signature, and a third of that was this bookkeeping. So the edge registers a
 * small provider of its own that offers only "TLS13-KDF": the same HKDF-Extract /
 * HKDF-Expand-Label, computed over digest contexts that each thread keeps per digest and
 * reuses for every step of a handshake. The hash is OpenSSL's (the default provider's
 * SHA-256/384); HMAC's two passes over it (RFC 2104) and the TLS 1.3 framing (RFC 8446
 * §7.1) are here.
 * Its output is checked against OpenSSL's own TLS13-KDF in tests/unit/certs/test_tls_kdf.c.
 *
 * Residue: a thread's digest contexts keep the chaining values and the last input block
 * of the last hash they computed, which derive from a connection's secrets;
 * tls_kdf_scrub() (called when a TLS connection is freed) resets them, so none outlives
 * its connection.
 */
#include "certs/tls_kdf.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#define PROVIDER_NAME "hostess-tls"
#define LABEL_MAX     255 /* HkdfLabel's label and context are u8-length vectors */
#define SECRET_INLINE 64   /* secrets up to this long live in the context (P-521's 66-byte
                              or an FFDHE shared secret go to the heap) */

/* The digests TLS 1.3's suites use, each with per-thread digest contexts. */
enum { MD_SHA256, MD_SHA384, MD_COUNT };
static const char *const md_names[MD_COUNT] = { "SHA2-256", "SHA2-384" };
static const size_t md_sizes[MD_COUNT] = { 32, 48 };

static const size_t md_blocks[MD_COUNT] = { 64, 128 };
#define MD_BLOCK_MAX 128

static EVP_MD *mds[MD_COUNT];         /* the default provider's digests, fetched once */
static unsigned char empty_hash[MD_COUNT][EVP_MAX_MD_SIZE]; /* Hash(""), for Derive-Secret */
static pthread_key_t thread_key;      /* -> struct thread_state */
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static const char *loaded_propq;      /* NULL until loaded (or if loading failed) */
static OSSL_PROVIDER *providers[2];   /* default and ours: held until exit (unload) */

/* A thread's two digest contexts (HMAC's inner and outer hash) per digest. */
struct thread_state {
    EVP_MD_CTX *inner[MD_COUNT], *outer[MD_COUNT];
    uint8_t     dirty[MD_COUNT]; /* used with a secret since the last scrub */
};

/* A secret parameter: inline when short, else on the heap; cleansed when replaced. */
struct secret {
    unsigned char *p; /* in or heap; NULL: not set */
    size_t         len;
    unsigned char  in[SECRET_INLINE];
};

/* One KDF context (libssl makes one per HKDF step). Not zeroed as a whole: the fields
 * before the label buffers are initialised, the buffers are written before use. */
struct kdf {
    int           mode;
    int           md; /* MD_*, or -1 when no digest was set */
    struct secret key, salt;
    size_t        prefixlen, labellen, datalen;
    unsigned char prefix[LABEL_MAX], label[LABEL_MAX], data[LABEL_MAX];
};

/* --- HMAC over per-thread digest contexts ---------------------------------------------- */

/* OpenSSL's HMAC builds and copies digest contexts for every key (allocations each
 * time); RFC 2104 needs only two hash passes, which a thread does here with two digest
 * contexts per digest that it keeps and re-initialises between steps (their provider
 * state is made once per connection: tls_kdf_scrub frees it). */
static void thread_state_free(void *p)
{
    struct thread_state *t = p;
    for (int i = 0; i < MD_COUNT; i++) {
        EVP_MD_CTX_free(t->inner[i]); /* cleanses */
        EVP_MD_CTX_free(t->outer[i]);
    }
    free(t);
}

static struct thread_state *thread_state(int md)
{
    struct thread_state *t = pthread_getspecific(thread_key);
    if (t == NULL) {
        t = calloc(1, sizeof(*t));
        if (t == NULL)
            return NULL;
        if (pthread_setspecific(thread_key, t) != 0) {
            free(t);
            return NULL;
        }
    }
    if (t->inner[md] == NULL && (t->inner[md] = EVP_MD_CTX_new()) == NULL)
        return NULL;
    if (t->outer[md] == NULL && (t->outer[md] = EVP_MD_CTX_new()) == NULL)
        return NULL;
    t->dirty[md] = 1;
    return t;
}

void tls_kdf_scrub(void)
{
    if (loaded_propq == NULL)
        return;
    struct thread_state *t = pthread_getspecific(thread_key);
    if (t == NULL)
        return;
    for (int i = 0; i < MD_COUNT; i++) {
        if (!t->dirty[i])
            continue;
        /* A re-init would not do: SHA-384's keeps the last input block, which can hold
         * a shared secret. A reset frees the provider's state, cleansed; the next
         * connection's first step makes a new one (one allocation per connection). */
        EVP_MD_CTX_reset(t->inner[i]);
        EVP_MD_CTX_reset(t->outer[i]);
        t->dirty[i] = 0;
    }
}

/* out = HMAC-H(key, a || b || c) (RFC 2104), H = mds[md]; out holds md_sizes[md]. */
static int hmac3(int md, const unsigned char *key, size_t keylen, const unsigned char *a,
                 size_t alen, const unsigned char *b, size_t blen, const unsigned char *c,
                 size_t clen, unsigned char *out)
{
    struct thread_state *t = thread_state(md);
    size_t bs = md_blocks[md], hl = md_sizes[md];
    unsigned char k[MD_BLOCK_MAX], pad[MD_BLOCK_MAX], ih[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int ok = 0;

    if (t == NULL)
        return 0;
    EVP_MD_CTX *in = t->inner[md], *o = t->outer[md];
    if (keylen > bs) { /* a key longer than a block is hashed first */
        if (EVP_DigestInit_ex(in, mds[md], NULL) != 1 || EVP_DigestUpdate(in, key, keylen) != 1 ||
            EVP_DigestFinal_ex(in, k, &n) != 1 || n != hl)
            goto out;
        keylen = hl;
    } else if (keylen) {
        memcpy(k, key, keylen);
    }
    memset(k + keylen, 0, bs - keylen);
    for (size_t i = 0; i < bs; i++)
        pad[i] = k[i] ^ 0x36;
    if (EVP_DigestInit_ex(in, mds[md], NULL) != 1 || EVP_DigestUpdate(in, pad, bs) != 1 ||
        (alen && EVP_DigestUpdate(in, a, alen) != 1) ||
        (blen && EVP_DigestUpdate(in, b, blen) != 1) ||
        (clen && EVP_DigestUpdate(in, c, clen) != 1) || EVP_DigestFinal_ex(in, ih, &n) != 1 ||
        n != hl)
        goto out;
    for (size_t i = 0; i < bs; i++)
        pad[i] = k[i] ^ 0x5c;
    if (EVP_DigestInit_ex(o, mds[md], NULL) != 1 || EVP_DigestUpdate(o, pad, bs) != 1 ||
        EVP_DigestUpdate(o, ih, hl) != 1 || EVP_DigestFinal_ex(o, out, &n) != 1 || n != hl)
        goto out;
    ok = 1;
out:
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
    OPENSSL_cleanse(ih, sizeof(ih));
    return ok;
}

/* --- RFC 5869 / RFC 8446 §7.1 ------------------------------------------------------------- */

/* HKDF-Expand-Label(secret, prefix || label, data, outlen) into out. */
static int expand_label(int md, const unsigned char *secret, size_t secretlen,
                        const struct kdf *k, const unsigned char *data, size_t datalen,
                        unsigned char *out, size_t outlen)
{
    size_t hlen = md_sizes[md];
    unsigned char info[2 + 1 + LABEL_MAX + 1 + LABEL_MAX]; /* lengths checked below */
    unsigned char t[EVP_MAX_MD_SIZE];
    size_t n = 0, tlen = 0;

    if (outlen > 0xffff || outlen > 255 * hlen || k->prefixlen + k->labellen > LABEL_MAX ||
        datalen > LABEL_MAX)
        return 0;
    /* struct { uint16 length; opaque label<7..255>; opaque context<0..255>; } HkdfLabel */
    info[n++] = (unsigned char)(outlen >> 8);
    info[n++] = (unsigned char)outlen;
    info[n++] = (unsigned char)(k->prefixlen + k->labellen);
    memcpy(info + n, k->prefix, k->prefixlen);
    n += k->prefixlen;
    memcpy(info + n, k->label, k->labellen);
    n += k->labellen;
    info[n++] = (unsigned char)datalen;
    memcpy(info + n, data, datalen);
    n += datalen;

    /* T(i) = HMAC(secret, T(i-1) || info || i) */
    for (size_t done = 0, i = 1; done < outlen; i++) {
        unsigned char ctr = (unsigned char)i;
        if (!hmac3(md, secret, secretlen, t, tlen, info, n, &ctr, 1, t)) {
            OPENSSL_cleanse(t, sizeof(t));
            return 0;
        }
        tlen = hlen;
        size_t take = outlen - done < hlen ? outlen - done : hlen;
        memcpy(out + done, t, take);
        done += take;
    }
    OPENSSL_cleanse(t, sizeof(t));
    return 1;
}

/* The TLS 1.3 extract step: HKDF-Extract(salt', key), where salt' is
 * Derive-Secret(salt, label, "") when a salt (the previous secret) is given, else empty,
 * and key defaults to hlen zeros (as OpenSSL's TLS13-KDF does). */
static int extract(int md, const struct kdf *k, unsigned char *out, size_t outlen)
{
    static const unsigned char zeros[EVP_MAX_MD_SIZE];
    size_t hlen = md_sizes[md];
    unsigned char salt[EVP_MAX_MD_SIZE];
    size_t saltlen = 0;
    int ok = 0;

    if (outlen != hlen)
        return 0;
    if (k->salt.p != NULL) {
        if (!expand_label(md, k->salt.p, k->salt.len, k, empty_hash[md], hlen, salt, hlen))
            goto out;
        saltlen = hlen;
    }
    ok = hmac3(md, salt, saltlen, k->key.p ? k->key.p : zeros, k->key.p ? k->key.len : hlen,
               NULL, 0, NULL, 0, out);
out:
    OPENSSL_cleanse(salt, sizeof(salt));
    return ok;
}

/* --- the provider's KDF ------------------------------------------------------------------- */

static void secret_clear(struct secret *s)
{
    if (s->p != NULL)
        OPENSSL_cleanse(s->p, s->len);
    if (s->p != NULL && s->p != s->in)
        free(s->p);
    s->p = NULL;
    s->len = 0;
}

static int secret_set(struct secret *s, const OSSL_PARAM *p)
{
    if (p->data_type != OSSL_PARAM_OCTET_STRING || (p->data == NULL && p->data_size))
        return 0;
    secret_clear(s);
    s->p = p->data_size <= sizeof(s->in) ? s->in : malloc(p->data_size);
    if (s->p == NULL)
        return 0;
    if (p->data_size)
        memcpy(s->p, p->data, p->data_size);
    s->len = p->data_size;
    return 1;
}

static void kdf_init(struct kdf *k)
{
    k->mode = 0;
    k->md = -1;
    k->key.p = k->salt.p = NULL;
    k->key.len = k->salt.len = 0;
    k->prefixlen = k->labellen = k->datalen = 0;
}

static void *kdf_new(void *provctx)
{
    (void)provctx;
    struct kdf *k = malloc(sizeof(*k));
    if (k != NULL)
        kdf_init(k);
    return k;
}

static void kdf_reset(void *vk)
{
    struct kdf *k = vk;
    secret_clear(&k->key);
    secret_clear(&k->salt);
    kdf_init(k);
}

static void kdf_free(void *vk)
{
    if (vk != NULL) {
        kdf_reset(vk);
        free(vk);
    }
}

static int set_octets(const OSSL_PARAM *p, unsigned char *dst, size_t cap, size_t *len)
{
    if (p->data_type != OSSL_PARAM_OCTET_STRING || p->data_size > cap ||
        (p->data == NULL && p->data_size))
        return 0;
    if (p->data_size)
        memcpy(dst, p->data, p->data_size);
    *len = p->data_size;
    return 1;
}

/* 1 when the UTF-8 string parameter p is name (ASCII, any case). Its data need not
 * end in NUL: data_size is the length (a trailing NUL is tolerated). */
static int utf8_is(const OSSL_PARAM *p, const char *name)
{
    size_t n = p->data_size, len = strlen(name);
    if (p->data_type != OSSL_PARAM_UTF8_STRING || p->data == NULL)
        return 0;
    if (n == len + 1 && ((const char *)p->data)[len] == '\0')
        n = len;
    return n == len && strncasecmp(p->data, name, len) == 0;
}

static int digest_index(const OSSL_PARAM *p)
{
    static const char *const names[MD_COUNT][3] = {
        { "SHA2-256", "SHA-256", "SHA256" },
        { "SHA2-384", "SHA-384", "SHA384" },
    };
    for (int i = 0; i < MD_COUNT; i++)
        for (int j = 0; j < 3; j++)
            if (utf8_is(p, names[i][j]))
                return i;
    return -1;
}

static int kdf_set_params(void *vk, const OSSL_PARAM params[])
{
    struct kdf *k = vk;
    for (const OSSL_PARAM *p = params; p != NULL && p->key != NULL; p++) {
        if (strcmp(p->key, OSSL_KDF_PARAM_MODE) == 0) {
            if (p->data_type == OSSL_PARAM_UTF8_STRING) {
                if (utf8_is(p, "EXTRACT_ONLY"))
                    k->mode = EVP_KDF_HKDF_MODE_EXTRACT_ONLY;
                else if (utf8_is(p, "EXPAND_ONLY"))
                    k->mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
                else
                    return 0;
            } else if (OSSL_PARAM_get_int(p, &k->mode) != 1) {
                return 0;
            }
        } else if (strcmp(p->key, OSSL_KDF_PARAM_DIGEST) == 0) {
            /* Only TLS 1.3's digests; with any other a handshake fails cleanly. */
            if ((k->md = digest_index(p)) < 0)
                return 0;
        } else if (strcmp(p->key, OSSL_KDF_PARAM_KEY) == 0) {
            if (!secret_set(&k->key, p))
                return 0;
        } else if (strcmp(p->key, OSSL_KDF_PARAM_SALT) == 0) {
            if (!secret_set(&k->salt, p))
                return 0;
        } else if (strcmp(p->key, OSSL_KDF_PARAM_PREFIX) == 0) {
            if (!set_octets(p, k->prefix, sizeof(k->prefix), &k->prefixlen))
                return 0;
        } else if (strcmp(p->key, OSSL_KDF_PARAM_LABEL) == 0) {
            if (!set_octets(p, k->label, sizeof(k->label), &k->labellen))
                return 0;
        } else if (strcmp(p->key, OSSL_KDF_PARAM_DATA) == 0) {
            if (!set_octets(p, k->data, sizeof(k->data), &k->datalen))
                return 0;
        }
        /* OSSL_KDF_PARAM_PROPERTIES and anything else: the digest is always ours. */
    }
    return 1;
}

static int kdf_derive(void *vk, unsigned char *out, size_t outlen, const OSSL_PARAM params[])
{
    struct kdf *k = vk;
    if (!kdf_set_params(k, params) || k->md < 0 || outlen == 0)
        return 0;
    switch (k->mode) {
    case EVP_KDF_HKDF_MODE_EXTRACT_ONLY:
        return extract(k->md, k, out, outlen);
    case EVP_KDF_HKDF_MODE_EXPAND_ONLY:
        return k->key.p != NULL && expand_label(k->md, k->key.p, k->key.len, k, k->data,
                                                k->datalen, out, outlen);
    default:
        return 0; /* TLS13-KDF has no extract-and-expand mode */
    }
}

static const OSSL_PARAM *kdf_settable(void *vk, void *provctx)
{
    (void)vk;
    (void)provctx;
    static const OSSL_PARAM p[] = {
        OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_MODE, NULL, 0),
        OSSL_PARAM_int(OSSL_KDF_PARAM_MODE, NULL),
        OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_PROPERTIES, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_DIGEST, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_KEY, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_SALT, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_PREFIX, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_LABEL, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_DATA, NULL, 0),
        OSSL_PARAM_END,
    };
    return p;
}

static int kdf_get_params(void *vk, OSSL_PARAM params[])
{
    struct kdf *k = vk;
    OSSL_PARAM *p = OSSL_PARAM_locate(params, OSSL_KDF_PARAM_SIZE);
    if (p == NULL)
        return -2; /* as OpenSSL's KDFs: nothing asked that we know */
    size_t size = SIZE_MAX;
    if (k->mode == EVP_KDF_HKDF_MODE_EXTRACT_ONLY) {
        if (k->md < 0)
            return 0;
        size = md_sizes[k->md];
    }
    return OSSL_PARAM_set_size_t(p, size);
}

static const OSSL_PARAM *kdf_gettable(void *vk, void *provctx)
{
    (void)vk;
    (void)provctx;
    static const OSSL_PARAM p[] = { OSSL_PARAM_size_t(OSSL_KDF_PARAM_SIZE, NULL), OSSL_PARAM_END };
    return p;
}

static const OSSL_DISPATCH kdf_functions[] = {
    { OSSL_FUNC_KDF_NEWCTX, (void (*)(void))kdf_new },
    { OSSL_FUNC_KDF_FREECTX, (void (*)(void))kdf_free },
    { OSSL_FUNC_KDF_RESET, (void (*)(void))kdf_reset },
    { OSSL_FUNC_KDF_DERIVE, (void (*)(void))kdf_derive },
    { OSSL_FUNC_KDF_SETTABLE_CTX_PARAMS, (void (*)(void))kdf_settable },
    { OSSL_FUNC_KDF_SET_CTX_PARAMS, (void (*)(void))kdf_set_params },
    { OSSL_FUNC_KDF_GETTABLE_CTX_PARAMS, (void (*)(void))kdf_gettable },
    { OSSL_FUNC_KDF_GET_CTX_PARAMS, (void (*)(void))kdf_get_params },
    { 0, NULL },
};

static const OSSL_ALGORITHM provider_kdfs[] = {
    { OSSL_KDF_NAME_TLS1_3_KDF, "provider=" PROVIDER_NAME, kdf_functions,
      "TLS 1.3 key schedule with per-thread HMAC contexts" },
    { NULL, NULL, NULL, NULL },
};

static const OSSL_ALGORITHM *provider_query(void *provctx, int operation_id, int *no_cache)
{
    (void)provctx;
    *no_cache = 0;
    return operation_id == OSSL_OP_KDF ? provider_kdfs : NULL;
}

static const OSSL_DISPATCH provider_functions[] = {
    { OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))provider_query },
    { 0, NULL },
};

static int provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
                         const OSSL_DISPATCH **out, void **provctx)
{
    (void)in;
    *out = provider_functions;
    *provctx = (void *)handle;
    return 1;
}

/* --- loading -------------------------------------------------------------------------------- */

/* At exit, our references go back so that OpenSSL's own cleanup (registered before
 * this, so run after it) frees the providers and digests with everything else. Every
 * SSL_CTX and worker thread is gone by then. */
static void unload(void)
{
    loaded_propq = NULL;
    for (int i = 0; i < MD_COUNT; i++) {
        EVP_MD_free(mds[i]);
        mds[i] = NULL;
    }
    for (int i = 1; i >= 0; i--) {
        if (providers[i] != NULL)
            OSSL_PROVIDER_unload(providers[i]);
        providers[i] = NULL;
    }
}

static void load(void)
{
    /* Loading a provider explicitly turns off OpenSSL's implicit default provider, so
     * load that too (a second reference when the configuration already loaded it). */
    if ((providers[0] = OSSL_PROVIDER_load(NULL, "default")) == NULL)
        return;
    for (int i = 0; i < MD_COUNT; i++) {
        unsigned int n = 0;
        mds[i] = EVP_MD_fetch(NULL, md_names[i], "provider=default");
        if (mds[i] == NULL || EVP_Digest("", 0, empty_hash[i], &n, mds[i], NULL) != 1 ||
            n != md_sizes[i])
            return;
    }
    if (pthread_key_create(&thread_key, thread_state_free) != 0 ||
        OSSL_PROVIDER_add_builtin(NULL, PROVIDER_NAME, provider_init) != 1 ||
        (providers[1] = OSSL_PROVIDER_load(NULL, PROVIDER_NAME)) == NULL ||
        atexit(unload) != 0)
        return;
    loaded_propq = "?provider=" PROVIDER_NAME;
}

const char *tls_kdf_propq(void)
{
    pthread_once(&load_once, load);
    return loaded_propq;
}
