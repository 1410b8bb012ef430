/*
 * store_journal: PATH.journal, the append-only log of the commits made since the last
 * snapshot (format and rules in store.h; the snapshot itself is control/store.c).
 *
 * One record per commit, one line each: compact JSON with sorted keys,
 *     {"generation":N,"key":"p/e/s","service":{...}}\n      (service null: a delete)
 * written with a single write() on an O_APPEND descriptor and fdatasync()ed before the
 * commit is acknowledged, so a commit costs O(the changed service), not O(the state).
 *
 * The store remembers how many bytes of complete, acknowledged records the journal holds
 * (journal_bytes). Anything past that length is garbage: the tail of a record torn by a
 * crash (found by the loader), or of an append that failed and could not be cut back. The
 * next append cuts it off first, so a half-written record never ends up in the middle.
 */
#include "control/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "router/base/log.h"

/* ---- replay ----------------------------------------------------------------------- */

/* Checks one parsed record; returns the message, or NULL when it is well formed. */
static const char *check_record(json_t *rec)
{
    json_t *g, *k, *v;

    if (!json_is_object(rec))
        return "not a journal record (not an object)";
    g = json_object_get(rec, "generation");
    k = json_object_get(rec, "key");
    v = json_object_get(rec, "service");
    if (json_object_size(rec) != 3 || g == NULL || k == NULL || v == NULL)
        return "not a journal record (the members must be \"generation\", \"key\" and "
               "\"service\")";
    if (!json_is_integer(g) || json_integer_value(g) < 0)
        return "\"generation\" is not a non-negative integer";
    if (!json_is_string(k) || json_string_length(k) == 0 ||
        strlen(json_string_value(k)) != json_string_length(k))
        return "\"key\" is not a non-empty string (without NUL)";
    if (!json_is_object(v) && !json_is_null(v))
        return "\"service\" is neither an object nor null";
    return NULL;
}

int store_journal_replay(struct store *s, json_t *services, uint64_t *generation, char *err,
                         size_t errlen)
{
    const uint64_t snap_gen = *generation;
    uint64_t gen = snap_gen, off = 0;
    json_error_t jerr;
    struct stat st;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned long lineno = 0;
    int fd, rc = -1;
    FILE *f;

    s->journal_bytes = 0;
    do
        fd = open(s->journal, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0 && errno == ENOENT)
        return 0; /* no commit since the snapshot (or never any) */
    if (fd < 0) {
        store_fail(err, errlen, "%s: cannot open: %s", s->journal, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        store_fail(err, errlen, "%s: not a regular file", s->journal);
        close(fd);
        return -1;
    }
    f = fdopen(fd, "rb");
    if (f == NULL) {
        store_fail(err, errlen, "%s: %s", s->journal, strerror(errno));
        close(fd);
        return -1;
    }

    for (;;) {
        json_t *rec, *svc;
        const char *why, *key;
        uint64_t g;

        errno = 0;
        n = getline(&line, &cap, f);
        if (n < 0) {
            if (ferror(f)) {
                store_fail(err, errlen, "%s: read error: %s", s->journal,
                           strerror(errno != 0 ? errno : EIO));
                goto out;
            }
            break;
        }
        lineno++;
        if (line[n - 1] != '\n') {
            /* Written by an append that a crash cut short, before its fdatasync: that
             * commit was never acknowledged. Load never writes, so the tail stays until
             * the next commit cuts it off. */
            log_warn("state: %s:%lu: incomplete last record (%zd bytes without a newline) "
                     "ignored: a write cut short by a crash, never acknowledged; it is cut "
                     "off at the next commit",
                     s->journal, lineno, n);
            break;
        }
        rec = json_loadb(line, (size_t)n - 1, STORE_LOAD_FLAGS, &jerr);
        if (rec == NULL) {
            store_fail(err, errlen, "%s:%lu: not a JSON record: %s (column %d; file left as it "
                       "is)", s->journal, lineno, jerr.text, jerr.column > 0 ? jerr.column : 1);
            goto out;
        }
        why = check_record(rec);
        if (why != NULL) {
            store_fail(err, errlen, "%s:%lu: %s (file left as it is)", s->journal, lineno, why);
            json_decref(rec);
            goto out;
        }
        g = (uint64_t)json_integer_value(json_object_get(rec, "generation"));
        if (gen == snap_gen && g <= snap_gen) {
            /* Already in the snapshot: a crash came between writing the snapshot and
             * starting a fresh journal. */
            json_decref(rec);
            off += (uint64_t)n;
            continue;
        }
        if (g != gen + 1) {
            store_fail(err, errlen,
                       "%s:%lu: generation %" PRIu64 " out of sequence (expected %" PRIu64
                       "%s; file left as it is)",
                       s->journal, lineno, g, gen + 1,
                       gen == snap_gen ? ", the snapshot's generation + 1" : "");
            json_decref(rec);
            goto out;
        }
        key = json_string_value(json_object_get(rec, "key"));
        svc = json_object_get(rec, "service");
        if (json_is_null(svc))
            json_object_del(services, key); /* -1 for a missing key: nothing to do */
        else if (json_object_set(services, key, svc) < 0) {
            store_fail(err, errlen, "%s:%lu: out of memory", s->journal, lineno);
            json_decref(rec);
            goto out;
        }
        json_decref(rec);
        gen = g;
        off += (uint64_t)n;
    }
    *generation = gen;
    s->journal_bytes = off;
    rc = 0;
out:
    free(line);
    fclose(f);
    return rc;
}

/* ---- append ----------------------------------------------------------------------- */

static int datasync_retry(int fd)
{
    int rc;

    do
        rc = fdatasync(fd);
    while (rc < 0 && errno == EINTR);
    return rc;
}

/* The record's line, malloc'd, with its length in *len; NULL with err. */
static char *encode_record(const struct store *s, uint64_t generation, const char *key,
                           json_t *service, size_t *len, char *err, size_t errlen)
{
    /* "s" checks that key is UTF-8; "O" takes a new reference (null is a singleton). */
    json_t *rec = json_pack("{s:I,s:s,s:O}", "generation", (json_int_t)generation, "key", key,
                            "service", service != NULL ? service : json_null());
    char *text = rec != NULL ? json_dumps(rec, STORE_DUMP_FLAGS) : NULL;
    char *line;

    if (text == NULL) {
        json_decref(rec);
        store_fail(err, errlen,
                   "%s: service \"%s\" cannot be encoded as JSON (out of memory or not UTF-8)",
                   s->path, key);
        return NULL;
    }
    json_decref(rec);
    *len = strlen(text);
    line = realloc(text, *len + 2);
    if (line == NULL) {
        free(text);
        store_fail(err, errlen, "%s: out of memory", s->path);
        return NULL;
    }
    line[(*len)++] = '\n';
    line[*len] = '\0';
    return line;
}

int store_journal_append(struct store *s, int dirfd, uint64_t generation, const char *key,
                         json_t *service, char *err, size_t errlen)
{
    struct stat st;
    size_t len;
    char *line = encode_record(s, generation, key, service, &len, err, errlen);
    int fd, created = 0, rc;

    if (line == NULL)
        return -1;
    do
        fd = openat(dirfd, s->name_journal, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    while (fd < 0 && errno == EINTR);
    if (fd < 0 && errno == ENOENT) {
        do
            fd = openat(dirfd, s->name_journal,
                        O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        while (fd < 0 && errno == EINTR);
        created = fd >= 0;
    }
    if (fd < 0) {
        store_fail(err, errlen, "%s: cannot open for appending: %s", s->journal, strerror(errno));
        free(line);
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        store_fail(err, errlen, "%s: fstat: %s", s->journal, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        store_fail(err, errlen, "%s: not a regular file", s->journal);
        goto fail;
    }
    if ((uint64_t)st.st_size < s->journal_bytes) {
        /* Acknowledged records are gone: someone else cut or replaced the file. Appending
         * would leave a hole in the generations that the next load refuses. */
        store_fail(err, errlen,
                   "%s: holds %jd bytes, but %" PRIu64 " bytes of records were written to it "
                   "(changed by someone else?): restart to reload the state",
                   s->journal, (intmax_t)st.st_size, s->journal_bytes);
        goto fail;
    }
    /* A file created under a narrow umask: set the mode outright. */
    if (created && fchmod(fd, 0600) < 0) {
        store_fail(err, errlen, "%s: chmod: %s", s->journal, strerror(errno));
        goto fail;
    }
    /* A torn record left by a crash, or by a failed append that could not be cut back. */
    if ((uint64_t)st.st_size > s->journal_bytes && ftruncate(fd, (off_t)s->journal_bytes) < 0) {
        store_fail(err, errlen, "%s: cannot cut off an incomplete record: %s", s->journal,
                   strerror(errno));
        goto fail;
    }
    rc = store_write_all(fd, line, len);
    if (rc < 0) {
        store_fail(err, errlen, "%s: write: %s", s->journal, strerror(-rc));
        goto fail;
    }
    if (datasync_retry(fd) < 0) {
        store_fail(err, errlen, "%s: fdatasync: %s", s->journal, strerror(errno));
        goto fail;
    }
    /* A new journal's name must survive a crash too. */
    if (created && store_fsync(dirfd) < 0) {
        store_fail(err, errlen, "%s: fsync of directory %s: %s", s->journal, s->dir,
                   strerror(errno));
        goto fail;
    }
    /* After a successful fdatasync, close has nothing left to report on Linux. */
    close(fd);
    free(line);
    s->journal_bytes += len;
    return 0;

fail:
    /* Back to the last acknowledged record, so that no half-written one lingers. If this
     * fails too, the next append cuts the file first (the size check above). */
    if (ftruncate(fd, (off_t)s->journal_bytes) == 0)
        (void)datasync_retry(fd);
    close(fd);
    if (created)
        unlinkat(dirfd, s->name_journal, 0);
    free(line);
    return -1;
}

/* ---- reset ------------------------------------------------------------------------ */

int store_journal_reset(struct store *s, int dirfd, char *err, size_t errlen)
{
    int fd;

    do
        fd = openat(dirfd, s->name_journal_tmp,
                    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        store_fail(err, errlen, "%s: cannot create: %s", s->journal_tmp, strerror(errno));
        return -1;
    }
    if (fchmod(fd, 0600) < 0 || store_fsync(fd) < 0) {
        store_fail(err, errlen, "%s: %s", s->journal_tmp, strerror(errno));
        close(fd);
        unlinkat(dirfd, s->name_journal_tmp, 0);
        return -1;
    }
    close(fd);
    if (renameat(dirfd, s->name_journal_tmp, dirfd, s->name_journal) < 0) {
        store_fail(err, errlen, "%s: cannot rename to %s: %s", s->journal_tmp, s->journal,
                   strerror(errno));
        unlinkat(dirfd, s->name_journal_tmp, 0);
        return -1;
    }
    /* The journal is empty from here on, whether or not the rename survives a crash (the
     * old one holds only records the snapshot has). */
    s->journal_bytes = 0;
    if (store_fsync(dirfd) < 0) {
        store_fail(err, errlen, "%s: fsync of directory %s: %s", s->journal, s->dir,
                   strerror(errno));
        return -1;
    }
    return 0;
}
