/*
 * certs/internal.h: what the store's files share — cert_store.c (the snapshot and its
 * lookup), cert_files.c (directory, file bytes, message lists) and cert_load.c (PEM,
 * checks, SSL_CTX). Nothing outside certs/ includes this.
 */
#ifndef HOSTESS_CERTS_INTERNAL_H
#define HOSTESS_CERTS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "router/base/log.h"

#define CERT_NAME_MAX 253           /* DNS name, without the trailing dot */
#define CERT_FILE_MAX (1024 * 1024) /* a chain and a key are a few KiB; refuse more */
#define CERT_MSG_MAX  512

enum cert_key { CERT_KEY_ECDSA = 0, CERT_KEY_RSA = 1, CERT_KEY_TYPES = 2 };

#define CERT_F_DEFAULT 0x01u /* from the pair named "default" */
#define CERT_F_CARRIED 0x02u /* its file is broken now: kept from the previous store */
#define CERT_F_EXPIRED 0x04u /* notAfter had passed when the store was built */
#define CERT_F_EARLY   0x08u /* notBefore had not come when the store was built */

/* A growable list of messages. Allocation failure sets oom, which fails the whole load. */
struct cert_msgs {
    char  **v;
    size_t  n, cap;
    int     oom;
};

/* Formats a message, logs it at level (prefixed "certs: ") and appends it. */
void cert__msgs_add(struct cert_msgs *m, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends a copy of msg without logging it (it was logged when it was first found). */
void cert__msgs_push(struct cert_msgs *m, const char *msg);
void cert__msgs_free(struct cert_msgs *m);

/* One certificate: leaf + chain + key inside ctx. Owned by one store; a reused or carried
 * certificate is a new item sharing ctx (SSL_CTX_up_ref) and copying its names. */
struct cert_item {
    SSL_CTX         *ctx;        /* one reference owned by this item */
    char            *source;     /* "x.crt" (the pair x.crt + x.key) or "x.pem": the
                                    identity of the file across loads */
    char           **names;      /* nnames normalised SAN names ("a.example.com",
                                    "*.example.com"); pointers and bytes in one block */
    uint32_t         nnames;
    uint8_t          key;        /* enum cert_key */
    uint8_t          flags;      /* CERT_F_* */
    int64_t          not_before; /* Unix seconds */
    int64_t          not_after;
    unsigned char    digest[32]; /* SHA-256 of the file bytes: unchanged files reuse ctx */
    struct cert_msgs notes;      /* warnings found when the file was parsed (SANs ignored,
                                    chain order), repeated in every store that holds it */
};

enum cert_source_kind { CERT_SRC_PAIR, CERT_SRC_PEM };

/* One candidate certificate in the directory: the pair stem.crt + stem.key, or stem.pem. */
struct cert_source {
    const char           *dir;        /* NULL for an explicit pair (crt_path, key_path) */
    const char           *stem;
    const char           *crt_path;   /* explicit pair (tls.default_cert/default_key) */
    const char           *key_path;
    enum cert_source_kind kind;
    unsigned              have;       /* CERT_HAVE_* found in dir for this stem */
    char                 *id;         /* "stem.crt" or "stem.pem", owned */
    unsigned char        *crt, *key;  /* file bytes; for a .pem both are the one buffer */
    size_t                crt_len, key_len;
    unsigned char         digest[32]; /* SHA-256 of the bytes, set by cert__source_read */
};

#define CERT_HAVE_CRT 0x01u
#define CERT_HAVE_KEY 0x02u
#define CERT_HAVE_PEM 0x04u

/* One stem of the directory ("x" for x.crt, x.key, x.pem) with the extensions found. */
struct cert_dir_name {
    char    *stem; /* owned */
    unsigned have; /* CERT_HAVE_* */
};

/* The stems of dir's certificate files (dot-files skipped), sorted, one entry per stem.
 * Returns 0 (*out owned by the caller), -1 (err says why) or -ENOMEM. */
int cert__dir_scan(const char *dir, struct cert_dir_name **out, size_t *nout, char *err,
                   size_t errlen);

/* Reads the source's file(s) and hashes their bytes (sha256, fetched once by the caller,
 * through md). Returns 0; -1 when the source is broken (msg says which file and why);
 * -ENOMEM. */
int cert__source_read(struct cert_source *src, EVP_MD_CTX *md, const EVP_MD *sha256, char *msg,
                      size_t msglen);
/* Wipes (key material) and frees the bytes read. */
void cert__source_release(struct cert_source *src);

/* Parses and checks what cert__source_read() read and builds the SSL_CTX: fills it->ctx,
 * names, nnames, key, not_before, not_after, notes (not source, flags, digest); it must
 * be zeroed. Returns 0; -1 when the source is broken (msg); -ENOMEM. On failure it holds
 * nothing. */
int cert__item_parse(const struct cert_source *src, struct cert_item *it, char *msg, size_t msglen);

/* Copies names[0..n) into one allocation (pointers then bytes). NULL on ENOMEM. */
char **cert__names_copy(char *const *names, uint32_t n);

/* The lookup form of a DNS name: ASCII lowercase, one trailing dot removed, labels of
 * [a-z0-9-_] of 1..63 octets, at most CERT_NAME_MAX octets (the router's hostname rules,
 * without ports or IP literals). Writes out (CERT_NAME_MAX + 1 bytes, NUL-terminated)
 * and returns the length, or -1 when in[0..len) is not such a name. */
int cert__name_normalise(const char *in, size_t len, char *out);

#endif
