/*
 * cert_store: an immutable snapshot of the certificates in tls.certs_dir, and the SNI
 * lookup the handshake makes over it.
 *
 * Build (control thread, cert_store_load_dir):
 *   1. list the directory: every "X.crt", "X.key", "X.pem" (dot-files ignored, so a
 *      publisher can write ".X.pem.tmp" and rename it), grouped by stem X in name
 *      order; a stem gives a pair source (X.crt + X.key) and/or a pem source (X.pem);
 *   2. per source: read and hash the bytes; if the previous store has a certificate
 *      from the same source with the same digest, share its SSL_CTX (no parse, no new
 *      context: a reload costs a read per unchanged file); otherwise parse and check
 *      (cert_load.c). A broken source is reported, and the previous store's certificate
 *      from that source, if any, is carried over;
 *   3. index every item's names in two open-addressing tables: exact names, and
 *      wildcard parents ("*.example.com" is stored as "example.com" in the wildcard
 *      table). A slot keeps one certificate per key type, the best by: a fresh one over
 *      a carried one, one valid now over one expired or not yet valid, then the later
 *      notAfter (a renewed certificate next to the old one wins), then the first in
 *      file order.
 *
 * Lookup (workers, cert_store_select): normalise the SNI into a stack buffer, one probe
 * in the exact table, one in the wildcard table for the name minus its first label,
 * else the default. No lock, no allocation, no write: the store never changes after it
 * is returned. Both tables stay at most half full, so a probe sequence always ends at
 * an empty slot.
 *
 * Invariants: every slot name points into an item's names of the same store; every
 * non-NULL slot->cert[k] has key type k; items own one SSL_CTX reference each, and
 * several stores may share a context, which lives until the last reference goes.
 */
#include "certs/cert_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>

#include "certs/internal.h"
#include "router/base/hash.h"
#include "router/base/hostname.h"


struct name_slot {
    uint64_t hash;
    const char *name; /* NULL: empty slot; else len bytes (NUL-terminated) */
    size_t len;
    const struct cert_item *cert[CERT_KEY_TYPES]; /* best per key type, or NULL */
};

struct name_table {
    struct name_slot *slots; /* NULL when the table holds no name */
    size_t mask;
    size_t count;
};

struct cert_store {
    struct cert_item *items;
    size_t nitems;
    const struct cert_item **by_source; /* items sorted by source, for the next load */
    struct name_table exact;            /* "a.example.com" */
    struct name_table wild;             /* "example.com" for "*.example.com" */
    const struct cert_item *dflt[CERT_KEY_TYPES];
    struct cert_msgs errors, warnings;
};

/* ---- names ---------------------------------------------------------------------- */

int cert__name_normalise(const char *in, size_t len, char *out)
{
    /* The router's normal form (lower case, one trailing dot dropped, labels of
     * [a-z0-9-_]), without what a certificate name cannot be: a port or an IP literal. */
    if (memchr(in, ':', len) != NULL || memchr(in, '[', len) != NULL)
        return -1;
    return hostname_normalise(in, len, out);
}

/* ---- tables --------------------------------------------------------------------- */

static int table_init(struct name_table *t, size_t n)
{
    size_t cap = 8;

    if (n == 0)
        return 0;
    while (cap < 2 * n)
        cap <<= 1;
    t->slots = calloc(cap, sizeof(*t->slots));
    if (t->slots == NULL)
        return -ENOMEM;
    t->mask = cap - 1;
    return 0;
}

static const struct name_slot *table_find(const struct name_table *t, const char *name, size_t len)
{
    uint64_t h;
    size_t i;

    if (t->slots == NULL)
        return NULL;
    h = hash_bytes(name, len);
    for (i = h & t->mask; t->slots[i].name != NULL; i = (i + 1) & t->mask) {
        const struct name_slot *s = &t->slots[i];
        if (s->hash == h && s->len == len && memcmp(s->name, name, len) == 0)
            return s;
    }
    return NULL;
}

/* 1 when a should serve instead of b (same name, same key type). */
static int item_better(const struct cert_item *a, const struct cert_item *b)
{
    int a_fresh = (a->flags & CERT_F_CARRIED) == 0, b_fresh = (b->flags & CERT_F_CARRIED) == 0;
    int a_valid = (a->flags & (CERT_F_EXPIRED | CERT_F_EARLY)) == 0;
    int b_valid = (b->flags & (CERT_F_EXPIRED | CERT_F_EARLY)) == 0;

    if (a_fresh != b_fresh)
        return a_fresh;
    if (a_valid != b_valid)
        return a_valid;
    return a->not_after > b->not_after;
}

static void offer(const struct cert_item **cur, const struct cert_item *it)
{
    if (*cur == NULL || item_better(it, *cur))
        *cur = it;
}

/* Table sized by table_init() for at least every name inserted: never full. */
static void table_insert(struct name_table *t, const char *name, size_t len,
                         const struct cert_item *it)
{
    uint64_t h = hash_bytes(name, len);
    struct name_slot *s;
    size_t i;

    for (i = h & t->mask;; i = (i + 1) & t->mask) {
        s = &t->slots[i];
        if (s->name == NULL) {
            s->hash = h;
            s->name = name;
            s->len = len;
            t->count++;
            break;
        }
        if (s->hash == h && s->len == len && memcmp(s->name, name, len) == 0)
            break;
    }
    offer(&s->cert[it->key], it);
}

static int index_names(struct cert_store *s)
{
    size_t nexact = 0, nwild = 0;

    for (size_t i = 0; i < s->nitems; i++) {
        const struct cert_item *it = &s->items[i];
        for (uint32_t k = 0; k < it->nnames; k++) {
            if (it->names[k][0] == '*')
                nwild++;
            else
                nexact++;
        }
        if (it->flags & CERT_F_DEFAULT)
            offer(&s->dflt[it->key], it);
    }
    if (table_init(&s->exact, nexact) != 0 || table_init(&s->wild, nwild) != 0)
        return -ENOMEM;
    for (size_t i = 0; i < s->nitems; i++) {
        const struct cert_item *it = &s->items[i];
        for (uint32_t k = 0; k < it->nnames; k++) {
            const char *n = it->names[k];
            if (n[0] == '*')
                table_insert(&s->wild, n + 2, strlen(n + 2), it); /* "*.p" → "p" */
            else
                table_insert(&s->exact, n, strlen(n), it);
        }
    }
    return 0;
}

/* ---- lookup --------------------------------------------------------------------- */

static SSL_CTX *pick(const struct cert_item *const cert[CERT_KEY_TYPES], int ecdsa)
{
    const struct cert_item *it;

    if (ecdsa)
        it = cert[CERT_KEY_ECDSA] != NULL ? cert[CERT_KEY_ECDSA] : cert[CERT_KEY_RSA];
    else
        it = cert[CERT_KEY_RSA] != NULL ? cert[CERT_KEY_RSA] : cert[CERT_KEY_ECDSA];
    return it != NULL ? it->ctx : NULL;
}

SSL_CTX *cert_store_select(const struct cert_store *s, const char *sni, size_t len,
                           int client_has_ecdsa)
{
    char name[CERT_NAME_MAX + 1];
    const struct name_slot *slot;
    const char *dot;
    int n;

    if (s == NULL)
        return NULL;
    if (sni != NULL && len > 0 && (n = cert__name_normalise(sni, len, name)) > 0) {
        slot = table_find(&s->exact, name, (size_t)n);
        if (slot != NULL)
            return pick(slot->cert, client_has_ecdsa);
        /* "*.example.com" covers "a.example.com": strip exactly the first label. The
         * wildcard table holds parents of two labels or more, so "example.com" (parent
         * "com") and "a.b.example.com" (parent "b.example.com") do not match it. */
        dot = memchr(name, '.', (size_t)n);
        if (dot != NULL) {
            slot = table_find(&s->wild, dot + 1, (size_t)n - (size_t)(dot + 1 - name));
            if (slot != NULL)
                return pick(slot->cert, client_has_ecdsa);
        }
    }
    return pick(s->dflt, client_has_ecdsa);
}

/* ---- building ------------------------------------------------------------------- */

static int by_source_cmp(const void *a, const void *b)
{
    const struct cert_item *x = *(const struct cert_item *const *)a;
    const struct cert_item *y = *(const struct cert_item *const *)b;
    return strcmp(x->source, y->source);
}

static const struct cert_item *prev_find(const struct cert_store *prev, const char *id)
{
    size_t lo = 0, hi;

    if (prev == NULL)
        return NULL;
    hi = prev->nitems;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(prev->by_source[mid]->source, id);
        if (c == 0)
            return prev->by_source[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* it (zeroed) becomes a second holder of old's context, with its own copy of the
 * names and notes. */
static int item_share(struct cert_item *it, const struct cert_item *old)
{
    for (size_t i = 0; i < old->notes.n; i++)
        cert__msgs_push(&it->notes, old->notes.v[i]);
    it->names = cert__names_copy(old->names, old->nnames);
    if (it->names == NULL || it->notes.oom || SSL_CTX_up_ref(old->ctx) != 1) {
        free(it->names);
        it->names = NULL;
        cert__msgs_free(&it->notes);
        return -ENOMEM;
    }
    it->ctx = old->ctx;
    it->nnames = old->nnames;
    it->key = old->key;
    it->not_before = old->not_before;
    it->not_after = old->not_after;
    memcpy(it->digest, old->digest, sizeof(it->digest));
    return 0;
}

static void item_clear(struct cert_item *it)
{
    SSL_CTX_free(it->ctx);
    free(it->names);
    free(it->source);
    cert__msgs_free(&it->notes);
    memset(it, 0, sizeof(*it));
}

/* Loads one source into s->items[s->nitems] (or not, when it is broken and nothing
 * is carried). Returns 0 or -ENOMEM. */
static int load_source(struct cert_store *s, const struct cert_store *prev, struct cert_source *src,
                       EVP_MD_CTX *md, const EVP_MD *sha256, int64_t now)
{
    struct cert_item *it = &s->items[s->nitems];
    const struct cert_item *old = prev_find(prev, src->id);
    char msg[CERT_MSG_MAX];
    int rc;

    memset(it, 0, sizeof(*it));
    rc = cert__source_read(src, md, sha256, msg, sizeof(msg));
    if (rc == -ENOMEM)
        return rc;
    if (rc == 0) {
        if (old != NULL && memcmp(old->digest, src->digest, sizeof(src->digest)) == 0) {
            rc = item_share(it, old);
        } else {
            rc = cert__item_parse(src, it, msg, sizeof(msg));
            memcpy(it->digest, src->digest, sizeof(it->digest));
        }
        cert__source_release(src);
        if (rc == -ENOMEM)
            return rc;
    }
    if (rc != 0) {
        cert__msgs_add(&s->errors, LOG_ERROR, "%s", msg);
        if (old == NULL)
            return 0;
        /* Issue 4 §1: the previous certificate for those names keeps serving. */
        if (item_share(it, old) != 0)
            return -ENOMEM;
        it->flags |= CERT_F_CARRIED;
        cert__msgs_add(&s->warnings, LOG_WARN,
                       "%s: broken, so the certificate loaded from it before keeps serving %s%s",
                       src->id, old->names[0], old->nnames > 1 ? " and its other names" : "");
    }
    it->source = strdup(src->id);
    if (it->source == NULL) {
        item_clear(it);
        return -ENOMEM;
    }
    for (size_t i = 0; i < it->notes.n; i++)
        cert__msgs_push(&s->warnings, it->notes.v[i]);
    if (strcmp(src->stem, "default") == 0)
        it->flags |= CERT_F_DEFAULT;
    if (now > it->not_after) {
        /* nginx and Caddy serve it too: some clients accept it, and the alternative is
         * no handshake at all. */
        it->flags |= CERT_F_EXPIRED;
        cert__msgs_add(&s->warnings, LOG_WARN,
                       "%s: certificate for %s expired %lld days ago; still served", src->id,
                       it->names[0], (long long)((now - it->not_after) / 86400));
    } else if (now < it->not_before) {
        it->flags |= CERT_F_EARLY;
        cert__msgs_add(&s->warnings, LOG_WARN,
                       "%s: certificate for %s not valid before %lld (Unix time); served anyway",
                       src->id, it->names[0], (long long)it->not_before);
    }
    s->nitems++;
    return 0;
}

static int load_stem(struct cert_store *s, const struct cert_store *prev, const char *dir,
                     const struct cert_dir_name *dn, EVP_MD_CTX *md, const EVP_MD *sha256,
                     int64_t now)
{
    static const enum cert_source_kind kinds[2] = {CERT_SRC_PAIR, CERT_SRC_PEM};
    size_t idlen = strlen(dn->stem) + 5;

    for (int k = 0; k < 2; k++) {
        struct cert_source src = {.dir = dir, .stem = dn->stem, .kind = kinds[k], .have = dn->have};
        int rc;

        if (kinds[k] == CERT_SRC_PAIR && (dn->have & (CERT_HAVE_CRT | CERT_HAVE_KEY)) == 0)
            continue;
        if (kinds[k] == CERT_SRC_PEM && (dn->have & CERT_HAVE_PEM) == 0)
            continue;
        src.id = malloc(idlen);
        if (src.id == NULL)
            return -ENOMEM;
        snprintf(src.id, idlen, "%s.%s", dn->stem, kinds[k] == CERT_SRC_PEM ? "pem" : "crt");
        rc = load_source(s, prev, &src, md, sha256, now);
        free(src.id);
        if (rc != 0)
            return rc;
    }
    return 0;
}

struct cert_store *cert_store_load_dir(const char *dir, const struct cert_store *previous,
                                       char *err, size_t errlen)
{
    return cert_store_load(dir, NULL, NULL, previous, err, errlen);
}

struct cert_store *cert_store_load(const char *dir, const char *default_crt,
                                   const char *default_key, const struct cert_store *previous,
                                   char *err, size_t errlen)
{
    struct cert_store *s = calloc(1, sizeof(*s));
    struct cert_dir_name *names = NULL;
    size_t nnames = 0;
    EVP_MD *sha256 = NULL;
    EVP_MD_CTX *md = NULL;
    char ebuf[256];
    int64_t now;
    int rc = -ENOMEM;

    if (err == NULL) {
        err = ebuf;
        errlen = sizeof(ebuf);
    }
    if (errlen > 0)
        err[0] = '\0';
    if (s == NULL)
        goto fail;
    rc = cert__dir_scan(dir, &names, &nnames, err, errlen);
    if (rc != 0)
        goto fail;
    rc = -ENOMEM;
    /* Fetched once per load, not once per file (OpenSSL 3.0 fetches are costly). */
    sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    md = EVP_MD_CTX_new();
    /* At most two sources (pair, pem) per stem, one item per source, and the explicit
     * default pair. */
    s->items = calloc(nnames * 2 + 2, sizeof(*s->items));
    if (sha256 == NULL || md == NULL || s->items == NULL)
        goto fail;
    now = (int64_t)time(NULL);
    for (size_t i = 0; i < nnames; i++) {
        rc = load_stem(s, previous, dir, &names[i], md, sha256, now);
        if (rc != 0)
            goto fail;
    }
    if (default_crt != NULL && default_key != NULL) {
        /* Its identity across loads (and name in messages) is its certificate path. */
        size_t idlen = strlen(default_crt) + sizeof "tls.default_cert ";
        struct cert_source src = {.stem = "default", .kind = CERT_SRC_PAIR,
                                  .crt_path = default_crt, .key_path = default_key,
                                  .have = CERT_HAVE_CRT | CERT_HAVE_KEY};
        rc = -ENOMEM;
        if ((src.id = malloc(idlen)) == NULL)
            goto fail;
        snprintf(src.id, idlen, "tls.default_cert %s", default_crt);
        rc = load_source(s, previous, &src, md, sha256, now);
        free(src.id);
        if (rc != 0)
            goto fail;
    }
    rc = -ENOMEM;
    if (s->errors.oom || s->warnings.oom || index_names(s) != 0)
        goto fail;
    s->by_source = malloc((s->nitems + 1) * sizeof(*s->by_source));
    if (s->by_source == NULL)
        goto fail;
    for (size_t i = 0; i < s->nitems; i++)
        s->by_source[i] = &s->items[i];
    qsort(s->by_source, s->nitems, sizeof(*s->by_source), by_source_cmp);

    log_info("certs: %s: %zu certificates for %zu names, %zu files skipped", dir, s->nitems,
             s->exact.count + s->wild.count, s->errors.n);
    for (size_t i = 0; i < nnames; i++)
        free(names[i].stem);
    free(names);
    EVP_MD_CTX_free(md);
    EVP_MD_free(sha256);
    return s;

fail:
    if (rc == -ENOMEM)
        snprintf(err, errlen, "%s: out of memory", dir);
    ERR_clear_error();
    for (size_t i = 0; i < nnames; i++)
        free(names[i].stem);
    free(names);
    EVP_MD_CTX_free(md);
    EVP_MD_free(sha256);
    cert_store_free(s);
    return NULL;
}

void cert_store_free(struct cert_store *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nitems; i++)
        item_clear(&s->items[i]);
    free(s->items);
    free(s->by_source);
    free(s->exact.slots);
    free(s->wild.slots);
    cert__msgs_free(&s->errors);
    cert__msgs_free(&s->warnings);
    free(s);
}

/* ---- reports -------------------------------------------------------------------- */

size_t cert_store_cert_count(const struct cert_store *s)
{
    return s->nitems;
}

size_t cert_store_name_count(const struct cert_store *s)
{
    return s->exact.count + s->wild.count;
}

size_t cert_store_error_count(const struct cert_store *s)
{
    return s->errors.n;
}

const char *cert_store_error(const struct cert_store *s, size_t i)
{
    return i < s->errors.n ? s->errors.v[i] : NULL;
}

size_t cert_store_warning_count(const struct cert_store *s)
{
    return s->warnings.n;
}

const char *cert_store_warning(const struct cert_store *s, size_t i)
{
    return i < s->warnings.n ? s->warnings.v[i] : NULL;
}
