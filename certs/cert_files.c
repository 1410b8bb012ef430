/*
 * cert_files: the certificate directory's files, before any parsing: listing the
 * directory into stems, reading one source's file(s) with a size bound, hashing the
 * bytes (so an unchanged file is recognised at the next load), wiping key bytes when
 * done; and the message lists the store keeps (errors, warnings), which also log.
 *
 * Runs on the control thread only.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "certs/internal.h"

static int file_read(const char *dir, const char *name, unsigned char **out, size_t *outlen,
                     char *msg, size_t msglen)
{
    char path[4096];
    struct stat st;
    unsigned char *buf = NULL;
    size_t got = 0;
    int fd, n;

    n = dir ? snprintf(path, sizeof(path), "%s/%s", dir, name)
            : snprintf(path, sizeof(path), "%s", name);
    if (n < 0 || (size_t)n >= sizeof(path)) {
        snprintf(msg, msglen, "%s: path too long", name);
        return -1;
    }
    /* O_NONBLOCK: a FIFO named x.pem must not hang the control thread in open(). */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        snprintf(msg, msglen, "%s: cannot open: %s", name, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(msg, msglen, "%s: not a regular file", name);
        goto fail;
    }
    if (st.st_size > CERT_FILE_MAX) {
        snprintf(msg, msglen, "%s: larger than %d bytes", name, CERT_FILE_MAX);
        goto fail;
    }
    /* +1: a file that grew since fstat shows up as "more than we expected". */
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        close(fd);
        return -ENOMEM;
    }
    for (;;) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size + 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(msg, msglen, "%s: read error: %s", name, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        got += (size_t)r;
        if (got > (size_t)st.st_size) {
            snprintf(msg, msglen, "%s: changed while being read", name);
            goto fail;
        }
    }
    close(fd);
    *out = buf;
    *outlen = got;
    return 0;

fail:
    if (buf != NULL) {
        OPENSSL_cleanse(buf, (size_t)st.st_size + 1);
        free(buf);
    }
    close(fd);
    return -1;
}

int cert__source_read(struct cert_source *src, EVP_MD_CTX *md, const EVP_MD *sha256, char *msg,
                      size_t msglen)
{
    char name[1024];
    unsigned dlen = 0;
    size_t lens[2];
    int rc;

    if (src->crt_path != NULL) { /* an explicit pair: paths as configured */
        rc = file_read(NULL, src->crt_path, &src->crt, &src->crt_len, msg, msglen);
        if (rc != 0)
            return rc;
        rc = file_read(NULL, src->key_path, &src->key, &src->key_len, msg, msglen);
        if (rc != 0) {
            cert__source_release(src);
            return rc;
        }
    } else if (src->kind == CERT_SRC_PEM) {
        snprintf(name, sizeof(name), "%s.pem", src->stem);
        rc = file_read(src->dir, name, &src->crt, &src->crt_len, msg, msglen);
        if (rc != 0)
            return rc;
        src->key = src->crt;
        src->key_len = src->crt_len;
    } else {
        if ((src->have & CERT_HAVE_KEY) == 0) {
            snprintf(msg, msglen, "%s.crt: no %s.key beside it", src->stem, src->stem);
            return -1;
        }
        if ((src->have & CERT_HAVE_CRT) == 0) {
            snprintf(msg, msglen, "%s.key: no %s.crt beside it", src->stem, src->stem);
            return -1;
        }
        snprintf(name, sizeof(name), "%s.crt", src->stem);
        rc = file_read(src->dir, name, &src->crt, &src->crt_len, msg, msglen);
        if (rc != 0)
            return rc;
        snprintf(name, sizeof(name), "%s.key", src->stem);
        rc = file_read(src->dir, name, &src->key, &src->key_len, msg, msglen);
        if (rc != 0) {
            cert__source_release(src);
            return rc;
        }
    }
    /* Both lengths first, so moving bytes from one file to the other changes the digest. */
    lens[0] = src->crt_len;
    lens[1] = src->kind == CERT_SRC_PEM ? 0 : src->key_len;
    if (EVP_DigestInit_ex2(md, sha256, NULL) != 1 ||
        EVP_DigestUpdate(md, lens, sizeof(lens)) != 1 ||
        EVP_DigestUpdate(md, src->crt, src->crt_len) != 1 ||
        (src->kind == CERT_SRC_PAIR && EVP_DigestUpdate(md, src->key, src->key_len) != 1) ||
        EVP_DigestFinal_ex(md, src->digest, &dlen) != 1 || dlen != sizeof(src->digest)) {
        ERR_clear_error();
        cert__source_release(src);
        return -ENOMEM;
    }
    return 0;
}

void cert__source_release(struct cert_source *src)
{
    if (src->key != NULL && src->key != src->crt) {
        OPENSSL_cleanse(src->key, src->key_len);
        free(src->key);
    }
    if (src->crt != NULL) {
        /* A .pem holds the key too; a .crt holds nothing secret, but wiping is cheap. */
        OPENSSL_cleanse(src->crt, src->crt_len);
        free(src->crt);
    }
    src->crt = src->key = NULL;
    src->crt_len = src->key_len = 0;
}

/* ---- the directory ----------------------------------------------------------- */

static int dir_name_cmp(const void *a, const void *b)
{
    return strcmp(((const struct cert_dir_name *)a)->stem, ((const struct cert_dir_name *)b)->stem);
}

int cert__dir_scan(const char *dir, struct cert_dir_name **out, size_t *nout, char *err,
                   size_t errlen)
{
    struct cert_dir_name *v = NULL;
    size_t n = 0, cap = 0, w = 0;
    struct dirent *de;
    DIR *d = opendir(dir);

    if (d == NULL) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    for (;;) {
        size_t len;
        unsigned have;

        errno = 0;
        de = readdir(d);
        if (de == NULL)
            break;
        len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len < 5)
            continue; /* dot-files are temporaries (and Kubernetes' ..data links) */
        if (strcmp(de->d_name + len - 4, ".crt") == 0)
            have = CERT_HAVE_CRT;
        else if (strcmp(de->d_name + len - 4, ".key") == 0)
            have = CERT_HAVE_KEY;
        else if (strcmp(de->d_name + len - 4, ".pem") == 0)
            have = CERT_HAVE_PEM;
        else
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct cert_dir_name *nv = realloc(v, ncap * sizeof(*nv));
            if (nv == NULL)
                goto oom;
            v = nv;
            cap = ncap;
        }
        v[n].stem = strndup(de->d_name, len - 4);
        if (v[n].stem == NULL)
            goto oom;
        v[n++].have = have;
    }
    if (errno != 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        closedir(d);
        for (size_t i = 0; i < n; i++)
            free(v[i].stem);
        free(v);
        return -1;
    }
    closedir(d);
    if (n > 0)
        qsort(v, n, sizeof(*v), dir_name_cmp);
    for (size_t r = 0; r < n; r++) {
        if (w > 0 && strcmp(v[w - 1].stem, v[r].stem) == 0) {
            v[w - 1].have |= v[r].have;
            free(v[r].stem);
        } else {
            v[w++] = v[r];
        }
    }
    *out = v;
    *nout = w;
    return 0;

oom:
    closedir(d);
    for (size_t i = 0; i < n; i++)
        free(v[i].stem);
    free(v);
    return -ENOMEM;
}

/* ---- messages ------------------------------------------------------------------- */

void cert__msgs_add(struct cert_msgs *m, enum log_level level, const char *fmt, ...)
{
    char buf[CERT_MSG_MAX * 2];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    /* File names and SANs end up here: one log line must stay one line. */
    for (char *c = buf; *c != '\0'; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    if (log_level >= level)
        log_emit(level, "certs: %s", buf);
    cert__msgs_push(m, buf);
}

void cert__msgs_push(struct cert_msgs *m, const char *msg)
{
    char *copy;

    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        char **v = realloc(m->v, cap * sizeof(*v));
        if (v == NULL) {
            m->oom = 1;
            return;
        }
        m->v = v;
        m->cap = cap;
    }
    copy = strdup(msg);
    if (copy == NULL) {
        m->oom = 1;
        return;
    }
    m->v[m->n++] = copy;
}

void cert__msgs_free(struct cert_msgs *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->v[i]);
    free(m->v);
    memset(m, 0, sizeof(*m));
}
