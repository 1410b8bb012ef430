/*
 * store: the file backend of the durable control state (interface and format in store.h).
 * This file is the snapshot (PATH) and the commit logic; the journal (PATH.journal) is
 * control/store_journal.c.
 *
 * Data flow: store_load() parses PATH once, checks every level of the document, replays
 * PATH.journal over it, and keeps the services object as the store's copy. store_commit()
 * appends one record to the journal (O(the changed service)) and applies the change to the
 * copy. Once the journal has grown past the compaction threshold, the commit also writes
 * the whole copy as a new snapshot (PATH.tmp, fsync, PATH -> PATH.prev hard link, rename,
 * fsync of the directory) and starts an empty journal. The copy and the disk move
 * together: if the append fails, the change is taken back out of the copy. A failed
 * compaction does not fail the commit (its record is already on disk); it is logged and
 * tried again at the next commit.
 *
 * Why the copy is changed in a way that can always be undone without allocating:
 *   - a new key is inserted before writing (the only step that may fail for lack of
 *     memory, and then nothing has happened yet); undoing it is a delete, which frees;
 *   - an existing key is replaced through its iterator (json_object_iter_set) once the
 *     record is on disk, which only swaps a pointer, whereas json_object_set may rehash,
 *     i.e. allocate, even to replace;
 *   - a delete is not applied until the record is on disk, and then cannot fail.
 *
 * The snapshot is written by hand at the top level and by jansson for each service:
 * compact, keys sorted, so the same state always gives the same bytes. Writes go through
 * a 64 KiB buffer (json_dumpfd writes a few bytes per system call and gives up on short
 * writes). Reads go through json_load_callback, 1 KiB per system call (json_loadfd reads
 * one byte per system call, which a million-service file would feel).
 *
 * Ownership: the store owns its path strings and its copy of the services; the services
 * inside are shared with callers (see store_commit/store_load in store.h) and never
 * modified here.
 */
#include "control/store.h"
#include "control/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "router/base/log.h"

#define STORE_FORMAT  "hostess-edge-state"
#define STORE_VERSION 1
#define IO_CHUNK      (64 * 1024)

/* The loader reads integers as json_int_t: a commit never writes a generation it could
 * not read back. */
#if JSON_INTEGER_IS_LONG_LONG
#define GENERATION_MAX ((uint64_t)LLONG_MAX)
#else
#define GENERATION_MAX ((uint64_t)LONG_MAX)
#endif

/* The longest name the store uses next to PATH. */
#define LONGEST_SUFFIX ".journal.tmp"

/* ---- errors ----------------------------------------------------------------------- */

/* snprintf truncates and always NUL-terminates when errlen > 0. */
void store_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* The tail of every refusal to load: the operator decides what to do with the file, and
 * PATH.prev is the obvious candidate when it exists. */
static const char *prev_hint(const struct store *s, char *buf, size_t cap)
{
    struct stat st;

    if (stat(s->prev, &st) == 0 && S_ISREG(st.st_mode))
        snprintf(buf, cap, " (file left as it is; %s holds the previous good copy)", s->prev);
    else
        snprintf(buf, cap, " (file left as it is)");
    return buf;
}

/* ---- open / close ----------------------------------------------------------------- */

static char *concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 1);

    if (p != NULL) {
        memcpy(p, a, la);
        memcpy(p + la, b, lb + 1);
    }
    return p;
}

struct store *store_open_file(const char *path, char *err, size_t errlen)
{
    struct store *s;
    const char *slash;
    size_t len, name_off;

    if (path == NULL || path[0] == '\0') {
        store_fail(err, errlen, "state path is empty");
        return NULL;
    }
    len = strlen(path);
    slash = strrchr(path, '/');
    name_off = slash != NULL ? (size_t)(slash - path) + 1 : 0;
    /* The longest name used is PATH.journal.tmp: check it now, so a commit never meets
     * ENAMETOOLONG after the service was accepted. */
    if (len + sizeof(LONGEST_SUFFIX) > PATH_MAX) {
        /* Not echoed: a path this long would push the reason out of most buffers. */
        store_fail(err, errlen, "state path too long (%zu bytes; the longest allowed is %d)", len,
             PATH_MAX - (int)sizeof(LONGEST_SUFFIX));
        return NULL;
    }
    if (len - name_off == 0) {
        store_fail(err, errlen, "%s: state path names a directory, not a file", path);
        return NULL;
    }
    if (len - name_off + sizeof(LONGEST_SUFFIX) - 1 > NAME_MAX) {
        store_fail(err, errlen, "%s: state file name too long (the longest allowed is %d bytes)", path,
             NAME_MAX - (int)sizeof(LONGEST_SUFFIX) + 1);
        return NULL;
    }

    s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto oom;
    s->path = concat(path, "");
    s->tmp = concat(path, ".tmp");
    s->prev = concat(path, ".prev");
    s->journal = concat(path, ".journal");
    s->journal_tmp = concat(path, LONGEST_SUFFIX);
    s->services = json_object();
    if (slash == NULL)
        s->dir = concat(".", "");
    else if (slash == path)
        s->dir = concat("/", "");
    else if ((s->dir = malloc(name_off)) != NULL) {
        memcpy(s->dir, path, name_off - 1);
        s->dir[name_off - 1] = '\0';
    }
    if (s->path == NULL || s->tmp == NULL || s->prev == NULL || s->journal == NULL ||
        s->journal_tmp == NULL || s->dir == NULL || s->services == NULL)
        goto oom;
    s->name = s->path + name_off;
    s->name_tmp = s->tmp + name_off;
    s->name_prev = s->prev + name_off;
    s->name_journal = s->journal + name_off;
    s->name_journal_tmp = s->journal_tmp + name_off;
    return s;

oom:
    store_close(s);
    store_fail(err, errlen, "%s: out of memory", path);
    return NULL;
}

void store_close(struct store *s)
{
    if (s == NULL)
        return;
    json_decref(s->services);
    free(s->path);
    free(s->tmp);
    free(s->prev);
    free(s->journal);
    free(s->journal_tmp);
    free(s->dir);
    free(s);
}

const char *store_describe(const struct store *s)
{
    return s->path;
}

void store_set_compact_bytes(struct store *s, uint64_t bytes)
{
    s->compact_bytes = bytes;
}

/* ---- load ------------------------------------------------------------------------- */

struct reader {
    int fd;
    int error; /* errno of a failed read; jansson only sees end of input */
};

static size_t read_cb(void *buf, size_t cap, void *data)
{
    struct reader *r = data;
    ssize_t n;

    do
        n = read(r->fd, buf, cap);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        r->error = errno;
        return (size_t)-1;
    }
    return (size_t)n;
}

/* Checks every level above the service objects; returns the message, or NULL when the
 * document is ours. */
static const char *check_document(json_t *root, char *msg, size_t cap)
{
    const char *key;
    json_t *v;

    if (!json_is_object(root))
        return "not a hostess-edge state file (the top level is not an object)";
    /* A key we do not know would be dropped by the next commit, which rewrites the
     * document from what it understood: refuse instead of losing it. */
    for (void *it = json_object_iter(root); it != NULL; it = json_object_iter_next(root, it)) {
        key = json_object_iter_key(it);
        if (strcmp(key, "format") != 0 && strcmp(key, "version") != 0 &&
            strcmp(key, "generation") != 0 && strcmp(key, "services") != 0) {
            snprintf(msg, cap, "unexpected key \"%s\" (this build reads version %d)", key,
                     STORE_VERSION);
            return msg;
        }
    }
    v = json_object_get(root, "format");
    if (!json_is_string(v) || strcmp(json_string_value(v), STORE_FORMAT) != 0)
        return "not a hostess-edge state file (\"format\" is not \"" STORE_FORMAT "\")";
    v = json_object_get(root, "version");
    if (!json_is_integer(v)) {
        snprintf(msg, cap, "\"version\" is missing or not an integer (this build reads %d)",
                 STORE_VERSION);
        return msg;
    }
    if (json_integer_value(v) != STORE_VERSION) {
        snprintf(msg, cap,
                 "version %" JSON_INTEGER_FORMAT " is not supported (this build reads %d)",
                 json_integer_value(v), STORE_VERSION);
        return msg;
    }
    v = json_object_get(root, "generation");
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return "\"generation\" is missing or not a non-negative integer";
    v = json_object_get(root, "services");
    if (!json_is_object(v))
        return "\"services\" is missing or not an object";
    for (void *it = json_object_iter(v); it != NULL; it = json_object_iter_next(v, it)) {
        if (!json_is_object(json_object_iter_value(it))) {
            snprintf(msg, cap, "service \"%s\" is not an object", json_object_iter_key(it));
            return msg;
        }
    }
    return NULL;
}

/* Reads PATH into *loaded (a new reference to its services object) and *generation; a
 * missing PATH is an empty state at generation 0. Returns 0 or -1 with err. */
static int load_snapshot(struct store *s, json_t **loaded, uint64_t *generation, char *err,
                         size_t errlen)
{
    struct reader r = {.fd = -1, .error = 0};
    json_error_t jerr;
    struct stat st;
    json_t *root;
    const char *why;
    char msg[256], hint[PATH_MAX + 64];

    *loaded = NULL;
    do
        r.fd = open(s->path, O_RDONLY | O_CLOEXEC);
    while (r.fd < 0 && errno == EINTR);
    if (r.fd < 0 && errno == ENOENT && access(s->prev, F_OK) == 0) {
        /* PATH gone but its previous copy here: someone moved the state away. Starting
         * empty would let the next commit bury it, so the operator decides. */
        store_fail(err, errlen, "%s: missing, but %s exists: restore it (mv %s %s) or remove it "
             "to start with an empty state", s->path, s->prev, s->prev, s->path);
        return -1;
    }
    if (r.fd < 0 && errno == ENOENT) {
        /* Fresh start (or only a journal so far). Nothing is created here: load never
         * writes. */
        *loaded = json_object();
        if (*loaded == NULL) {
            store_fail(err, errlen, "%s: out of memory", s->path);
            return -1;
        }
        s->snapshot_bytes = 0;
        *generation = 0;
        return 0;
    }
    if (r.fd < 0) {
        store_fail(err, errlen, "%s: cannot open: %s", s->path, strerror(errno));
        return -1;
    }
    if (fstat(r.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        store_fail(err, errlen, "%s: not a regular file", s->path);
        close(r.fd);
        return -1;
    }

    root = json_load_callback(read_cb, &r, STORE_LOAD_FLAGS, &jerr);
    close(r.fd);
    if (r.error != 0) {
        json_decref(root);
        store_fail(err, errlen, "%s: read error: %s", s->path, strerror(r.error));
        return -1;
    }
    if (root == NULL) {
        /* jansson's column is that of the last character it read, 0 when it read none
         * on the line (an empty file, a bad first byte); editors count from 1. */
        if (jerr.line > 0)
            store_fail(err, errlen, "%s:%d:%d: %s%s", s->path, jerr.line,
                 jerr.column > 0 ? jerr.column : 1, jerr.text, prev_hint(s, hint, sizeof(hint)));
        else
            store_fail(err, errlen, "%s: %s%s", s->path, jerr.text, prev_hint(s, hint, sizeof(hint)));
        return -1;
    }
    why = check_document(root, msg, sizeof(msg));
    if (why != NULL) {
        store_fail(err, errlen, "%s: %s%s", s->path, why, prev_hint(s, hint, sizeof(hint)));
        json_decref(root);
        return -1;
    }
    *loaded = json_incref(json_object_get(root, "services"));
    *generation = (uint64_t)json_integer_value(json_object_get(root, "generation"));
    s->snapshot_bytes = (uint64_t)st.st_size;
    json_decref(root);
    return 0;
}

int store_load(struct store *s, json_t **services, uint64_t *generation, char *err, size_t errlen)
{
    /* On failure the store keeps what it had (and stays unable to commit if it never
     * loaded). */
    const uint64_t old_snapshot = s->snapshot_bytes, old_journal = s->journal_bytes;
    json_t *loaded, *copy;
    uint64_t gen;

    *services = NULL;
    if (load_snapshot(s, &loaded, &gen, err, errlen) < 0)
        goto fail;
    /* The journal holds the commits made since the snapshot. */
    if (store_journal_replay(s, loaded, &gen, err, errlen) < 0) {
        json_decref(loaded);
        goto fail;
    }

    /* The caller gets its own object (shallow copy), so commits that add or remove keys
     * in the store's copy never change the caller's object under it. */
    copy = json_copy(loaded);
    if (copy == NULL) {
        json_decref(loaded);
        store_fail(err, errlen, "%s: out of memory", s->path);
        goto fail;
    }
    json_decref(s->services);
    s->services = loaded;
    s->generation = gen;
    s->loaded = 1;
    *services = copy;
    *generation = gen;
    return 0;

fail:
    s->snapshot_bytes = old_snapshot;
    s->journal_bytes = old_journal;
    return -1;
}

/* ---- writing the document --------------------------------------------------------- */

struct writer {
    int fd;
    int error;  /* errno of the first failed write; 0 while all is well */
    size_t len; /* bytes waiting in buf */
    char *buf;  /* IO_CHUNK bytes */
};

int store_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        if (w == 0) /* a regular file never does this; do not spin on it */
            return -EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int writer_flush(struct writer *w)
{
    int rc;

    if (w->error != 0)
        return -1;
    rc = store_write_all(w->fd, w->buf, w->len);
    w->len = 0;
    if (rc < 0) {
        w->error = -rc;
        return -1;
    }
    return 0;
}

static int writer_put(struct writer *w, const char *p, size_t n)
{
    if (w->error != 0)
        return -1;
    if (n > IO_CHUNK - w->len && writer_flush(w) < 0)
        return -1;
    if (n >= IO_CHUNK) {
        int rc = store_write_all(w->fd, p, n);

        if (rc < 0)
            w->error = -rc;
        return rc < 0 ? -1 : 0;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
    return 0;
}

static int writer_str(struct writer *w, const char *s)
{
    return writer_put(w, s, strlen(s));
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    return writer_put(data, buf, size);
}

/* A JSON string for an object key. Keys are valid UTF-8 without NUL (jansson checks both
 * on json_object_set and on load), so only '"', '\\' and control characters need escapes. */
static int writer_key(struct writer *w, const char *key)
{
    static const char hex[] = "0123456789abcdef";
    const char *run = key;
    const char *p;

    if (writer_put(w, "\"", 1) < 0)
        return -1;
    for (p = key; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

        if (c != '"' && c != '\\' && c >= 0x20)
            continue;
        if (writer_put(w, run, (size_t)(p - run)) < 0)
            return -1;
        run = p + 1;
        if (c == '"' || c == '\\') {
            esc[1] = (char)c;
            if (writer_put(w, esc, 2) < 0)
                return -1;
        } else if (writer_put(w, esc, sizeof(esc)) < 0) {
            return -1;
        }
    }
    if (writer_put(w, run, (size_t)(p - run)) < 0)
        return -1;
    return writer_put(w, "\"", 1);
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Writes the whole document for the store's copy, leaving out the key skip (a pending
 * delete; NULL for none). Returns 0, or -1 with err. */
static int write_document(struct store *s, int fd, uint64_t generation, const char *skip, char *err,
                          size_t errlen)
{
    struct writer w = {.fd = fd, .error = 0, .len = 0, .buf = NULL};
    size_t n = json_object_size(s->services), i = 0;
    const char **keys = NULL;
    const char *bad = NULL;
    char head[128];
    int first = 1, rc = -1;

    w.buf = malloc(IO_CHUNK);
    keys = malloc((n > 0 ? n : 1) * sizeof(*keys));
    if (w.buf == NULL || keys == NULL) {
        store_fail(err, errlen, "%s: out of memory", s->tmp);
        goto out;
    }
    for (void *it = json_object_iter(s->services); it != NULL;
         it = json_object_iter_next(s->services, it))
        keys[i++] = json_object_iter_key(it);
    qsort(keys, n, sizeof(*keys), cmp_keys);

    snprintf(head, sizeof(head),
             "{\"format\":\"%s\",\"version\":%d,\"generation\":%" PRIu64 ",\"services\":{",
             STORE_FORMAT, STORE_VERSION, generation);
    writer_str(&w, head);
    for (i = 0; i < n && w.error == 0 && bad == NULL; i++) {
        if (skip != NULL && strcmp(keys[i], skip) == 0)
            continue;
        if (!first)
            writer_put(&w, ",", 1);
        first = 0;
        writer_key(&w, keys[i]);
        writer_put(&w, ":", 1);
        if (json_dump_callback(json_object_get(s->services, keys[i]), dump_cb, &w, STORE_DUMP_FLAGS) !=
                0 &&
            w.error == 0)
            bad = keys[i];
    }
    /* The newline is for the operator's terminal; the loader skips it. */
    writer_str(&w, "}}\n");
    writer_flush(&w);
    if (bad != NULL)
        store_fail(err, errlen, "%s: service \"%s\" cannot be encoded as JSON", s->path, bad);
    else if (w.error != 0)
        store_fail(err, errlen, "%s: write: %s", s->tmp, strerror(w.error));
    else
        rc = 0;
out:
    free(keys);
    free(w.buf);
    return rc;
}

/* ---- the directory ---------------------------------------------------------------- */

int store_fsync(int fd)
{
    int rc;

    do
        rc = fsync(fd);
    while (rc < 0 && errno == EINTR);
    return rc;
}

/* fsyncs the directory that holds the entry ending at path[end] (so a new directory's name
 * survives a crash, not only its contents). */
static int fsync_parent(char *path, size_t end)
{
    size_t cut = end;
    char saved;
    int fd, rc;

    while (cut > 0 && path[cut - 1] != '/')
        cut--;
    while (cut > 1 && path[cut - 1] == '/')
        cut--;
    if (cut == 0) {
        fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } else {
        saved = path[cut];
        path[cut] = '\0';
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        path[cut] = saved;
    }
    if (fd < 0)
        return -1;
    rc = store_fsync(fd);
    close(fd);
    return rc;
}

/* mkdir -p with mode 0700 for every directory it creates. */
static int make_dirs(const struct store *s, char *err, size_t errlen)
{
    size_t len = strlen(s->dir);
    char *p = concat(s->dir, "");
    size_t i;

    if (p == NULL) {
        store_fail(err, errlen, "%s: out of memory", s->path);
        return -1;
    }
    for (i = 1; i <= len; i++) {
        if (i < len && (p[i] != '/' || p[i - 1] == '/'))
            continue;
        p[i] = '\0';
        if (mkdir(p, 0700) == 0) {
            if (fsync_parent(p, i) < 0) {
                store_fail(err, errlen, "%s: cannot sync the parent directory: %s", p, strerror(errno));
                free(p);
                return -1;
            }
        } else if (errno != EEXIST) {
            store_fail(err, errlen, "%s: cannot create directory: %s", p, strerror(errno));
            free(p);
            return -1;
        }
        if (i < len)
            p[i] = '/';
    }
    free(p);
    return 0;
}

static int open_dir(const struct store *s, char *err, size_t errlen)
{
    int fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 && errno == ENOENT) {
        if (make_dirs(s, err, errlen) < 0)
            return -1;
        fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (fd < 0)
        store_fail(err, errlen, "%s: cannot open directory: %s", s->dir, strerror(errno));
    return fd;
}

/* ---- commit ----------------------------------------------------------------------- */

/* Writes PATH.tmp and swaps it in. Returns 0, or -1 with err; on -1 PATH is the old
 * document, except after a failed fsync of the directory (see the message). */
static int replace_file(struct store *s, int dirfd, uint64_t generation, const char *skip,
                        char *err, size_t errlen)
{
    struct stat st;
    int fd, rc;

    do
        fd =
            openat(dirfd, s->name_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        store_fail(err, errlen, "%s: cannot create: %s", s->tmp, strerror(errno));
        return -1;
    }
    /* A PATH.tmp left by a crash keeps its old mode under O_CREAT, and the umask may have
     * narrowed ours: set it outright. */
    if (fchmod(fd, 0600) < 0) {
        store_fail(err, errlen, "%s: chmod: %s", s->tmp, strerror(errno));
        goto fail_open;
    }
    if (write_document(s, fd, generation, skip, err, errlen) < 0)
        goto fail_open;
    if (store_fsync(fd) < 0) {
        store_fail(err, errlen, "%s: fsync: %s", s->tmp, strerror(errno));
        goto fail_open;
    }
    /* After a successful fsync, close has nothing left to report on Linux; EINTR must not
     * be retried (the descriptor is gone). */
    rc = close(fd);
    if (rc < 0 && errno != EINTR) {
        store_fail(err, errlen, "%s: close: %s", s->tmp, strerror(errno));
        goto fail_closed;
    }

    if (fstatat(dirfd, s->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (unlinkat(dirfd, s->name_prev, 0) < 0 && errno != ENOENT) {
            store_fail(err, errlen, "%s: cannot remove: %s", s->prev, strerror(errno));
            goto fail_closed;
        }
        if (linkat(dirfd, s->name, dirfd, s->name_prev, 0) < 0) {
            store_fail(err, errlen, "%s: cannot link to %s: %s", s->prev, s->path, strerror(errno));
            goto fail_closed;
        }
    } else if (errno != ENOENT) {
        store_fail(err, errlen, "%s: %s", s->path, strerror(errno));
        goto fail_closed;
    }
    if (renameat(dirfd, s->name_tmp, dirfd, s->name) < 0) {
        store_fail(err, errlen, "%s: cannot rename to %s: %s", s->tmp, s->path, strerror(errno));
        goto fail_closed;
    }
    if (store_fsync(dirfd) < 0) {
        /* Too late to take the rename back: say what the disk holds. The store's copy is
         * rolled back, and the next commit rewrites the whole document from it. */
        store_fail(err, errlen,
             "%s: fsync of directory %s: %s (%s already holds the new "
             "document, but it may not survive a crash)",
             s->path, s->dir, strerror(errno), s->path);
        return -1;
    }
    return 0;

fail_open:
    close(fd);
fail_closed:
    unlinkat(dirfd, s->name_tmp, 0);
    return -1;
}

/* Writes the store's copy as the new snapshot and starts an empty journal, once the
 * journal has grown past the threshold. Failing here loses nothing (every record is in
 * the journal, which keeps growing): it is logged and tried again at the next commit. */
static void maybe_compact(struct store *s, int dirfd)
{
    uint64_t limit = s->compact_bytes;
    struct stat st;
    char err[PATH_MAX + 256];

    if (limit == 0)
        limit = s->snapshot_bytes > STORE_COMPACT_MIN ? s->snapshot_bytes : STORE_COMPACT_MIN;
    if (s->journal_bytes < limit)
        return;
    /* Crash after this and before the reset: the load skips the journal's records, which
     * the snapshot already holds (their generations are not above its own). */
    if (replace_file(s, dirfd, s->generation, NULL, err, sizeof(err)) < 0) {
        log_warn("state: compaction of %s failed (nothing lost, every change is in %s; "
                 "tried again at the next commit): %s", s->journal, s->journal, err);
        return;
    }
    if (fstatat(dirfd, s->name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        s->snapshot_bytes = (uint64_t)st.st_size;
    if (store_journal_reset(s, dirfd, err, sizeof(err)) < 0)
        log_warn("state: %s written, but the journal could not be emptied (nothing lost; "
                 "tried again at the next commit): %s", s->path, err);
}

int store_commit(struct store *s, uint64_t generation, const char *key, json_t *service, char *err,
                 size_t errlen)
{
    void *iter = NULL;
    int inserted = 0, dirfd, rc;

    if (key == NULL || key[0] == '\0') {
        store_fail(err, errlen, "%s: empty service key", s->path);
        return -1;
    }
    if (service != NULL && !json_is_object(service)) {
        store_fail(err, errlen, "%s: service \"%s\" is not a JSON object", s->path, key);
        return -1;
    }
    if (generation > GENERATION_MAX) {
        store_fail(err, errlen, "%s: generation %" PRIu64 " out of range", s->path, generation);
        return -1;
    }
    /* Without a load, the copy is empty and a commit would replace a file full of services
     * with one service. */
    if (!s->loaded) {
        store_fail(err, errlen,
             "%s: the state was not loaded (store_load must succeed before "
             "store_commit)",
             s->path);
        return -1;
    }
    /* The loader accepts only consecutive generations in the journal: never write a record
     * it would refuse. */
    if (generation != s->generation + 1) {
        store_fail(err, errlen,
                   "%s: generation %" PRIu64 " is not the next one (the state is at %" PRIu64 ")",
                   s->path, generation, s->generation);
        return -1;
    }

    if (service != NULL) {
        iter = json_object_iter_at(s->services, key);
        if (iter == NULL) {
            if (json_object_set(s->services, key, service) < 0) {
                /* Out of memory, or key not UTF-8: nothing was inserted. */
                store_fail(err, errlen, "%s: cannot add service \"%s\" (out of memory or not UTF-8)",
                           s->path, key);
                return -1;
            }
            inserted = 1;
        }
    }
    dirfd = open_dir(s, err, errlen);
    rc = dirfd < 0 ? -1
                   : store_journal_append(s, dirfd, generation, key, service, err, errlen);
    if (rc < 0) {
        if (inserted)
            json_object_del(s->services, key);
        if (dirfd >= 0)
            close(dirfd);
        return -1;
    }

    /* On disk: the copy follows, without allocating. */
    if (iter != NULL)
        json_object_iter_set(s->services, iter, service);
    else if (service == NULL)
        json_object_del(s->services, key); /* -1 for a missing key: nothing to do */
    s->generation = generation;
    maybe_compact(s, dirfd);
    close(dirfd);
    return 0;
}
