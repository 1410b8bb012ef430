/*
 * store_internal: what control/store.c (the snapshot, PATH) and control/store_journal.c
 * (the journal, PATH.journal) share. Private to those two files; the interface and the
 * on-disk format are described in store.h.
 */
#ifndef HOSTESS_CONTROL_STORE_INTERNAL_H
#define HOSTESS_CONTROL_STORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* Duplicate keys are refused: a hand-edited file with one would silently lose a service.
 * NUL inside strings is allowed because jansson writes it (as \u0000), and anything a
 * commit writes must load again. */
#define STORE_LOAD_FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)
#define STORE_DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)

/* The journal is compacted into a new snapshot once it holds this many bytes, or as many
 * bytes as the last snapshot if that is more (store_set_compact_bytes overrides it). */
#define STORE_COMPACT_MIN (1024 * 1024)

struct store {
    char *path;                   /* as given: messages and store_describe() */
    char *tmp;                    /* PATH.tmp, full, for messages */
    char *prev;                   /* PATH.prev, full, for messages */
    char *journal;                /* PATH.journal, full, for messages */
    char *journal_tmp;            /* PATH.journal.tmp, full, for messages */
    char *dir;                    /* directory part of path; "." when it has no '/' */
    const char *name;             /* last component of path: the *at() calls work inside dir */
    const char *name_tmp;         /* last component of tmp */
    const char *name_prev;        /* last component of prev */
    const char *name_journal;     /* last component of journal */
    const char *name_journal_tmp; /* last component of journal_tmp */
    json_t *services;             /* the store's copy, key -> service object; owned */
    int loaded;                   /* a store_load() succeeded: commits may write */
    uint64_t generation;          /* of the store's copy (snapshot + journal) */
    uint64_t snapshot_bytes;      /* size of PATH as last read or written */
    uint64_t journal_bytes;       /* bytes of complete, acknowledged records in the journal */
    uint64_t compact_bytes;       /* 0: the default threshold (STORE_COMPACT_MIN rule) */
};

/* Formats err (truncating, always NUL-terminated when errlen > 0). */
void store_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* fsync, retried on EINTR. */
int store_fsync(int fd);

/* write() until done: loops on short writes and EINTR. Returns 0 or -errno. */
int store_write_all(int fd, const char *p, size_t n);

/* Replays PATH.journal over services (the snapshot's copy, at *generation): on success
 * *generation is the last record's and s->journal_bytes the length of the complete
 * records. Never writes. Returns 0, or -1 with err "PATH.journal:LINE: message" (or
 * "PATH.journal: message"); services may then be half-updated (the caller drops it). */
int store_journal_replay(struct store *s, json_t *services, uint64_t *generation, char *err,
                         size_t errlen);

/* Appends one record (generation, key, service or NULL for a delete) to PATH.journal
 * inside dirfd and syncs it. Returns 0 once it is on disk, or -1 with err; then the
 * journal is back to its previous length (or will be cut back at the next append). */
int store_journal_append(struct store *s, int dirfd, uint64_t generation, const char *key,
                         json_t *service, char *err, size_t errlen);

/* Replaces PATH.journal with an empty file (PATH.journal.tmp, fsync, rename, fsync of the
 * directory). Call only once a snapshot holding every record is on disk. 0 or -1. */
int store_journal_reset(struct store *s, int dirfd, char *err, size_t errlen);

#endif
