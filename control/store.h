/*
 * store: the durable home of the control model (CONTRACT §2: "nothing is ever lost").
 *
 * The model (control/model.c) hands the store one service at a time, as a JSON object it
 * owns, keyed by "{project}/{environment}/{service}", together with the global generation
 * the change produced. The store makes the change durable before returning, so an answer
 * the control API gave is never lost by a crash. The shape is per service on purpose: a
 * Redis backend (fleets, later) maps it to one key per service plus a generation counter,
 * without reshaping the model.
 *
 * File backend (the default, `state: {backend: file, path: ...}`): a snapshot plus a
 * journal of the commits made since, so a commit costs O(the changed service), not
 * O(the whole state).
 *
 * The snapshot, PATH, is one JSON document
 *     {"format": "hostess-edge-state", "version": 1, "generation": N,
 *      "services": {"p/e/s": {...}, ...}}
 * (compact, keys sorted, one line). It is replaced as a whole: write PATH.tmp, fsync it,
 * hard-link the current PATH to PATH.prev (the previous good copy), rename PATH.tmp over
 * PATH, fsync the directory. At every instant PATH is a complete document; kill -9 at any
 * point leaves either the old or the new one.
 *
 * The journal, PATH.journal, is append-only: one line per commit since the snapshot,
 *     {"generation":N,"key":"p/e/s","service":{...}}\n       (service null: a delete)
 * (compact JSON, keys sorted). A commit appends its line with one write() (O_APPEND) and
 * fdatasync()s the journal before returning 0 (a journal it creates gets its directory
 * fsynced too); the store's copy changes only after that. If the write or the sync fails,
 * the journal is cut back to its previous length (ftruncate; failing that, the next commit
 * cuts it first) and the commit returns -1 with nothing changed. Commits must carry
 * consecutive generations (the store's generation + 1; anything else is refused), which is
 * what lets the loader notice a lost or foreign record.
 *
 * Compaction: once the journal holds at least max(1 MiB, size of the last snapshot) bytes
 * (store_set_compact_bytes overrides the threshold), the commit that crossed it also
 * writes the whole state as a new snapshot (generation = the latest), then starts an
 * empty journal: PATH.journal.tmp created empty, fsync, rename over PATH.journal, fsync of
 * the directory. The work is amortised over at least a snapshot's worth of records. A
 * crash between the two steps is safe: the loader skips journal records whose generation
 * is not above the snapshot's. A failed compaction does not fail the commit (its record
 * is already durable); it is logged and tried again at the next commit.
 *
 * The directory is created (mode 0700) if missing; files are mode 0600. Longest name used:
 * PATH.journal.tmp, so PATH is limited to PATH_MAX - 13 bytes and its last component to
 * NAME_MAX - 12.
 *
 * Loading reads the snapshot, then replays the journal line by line. The snapshot must be a
 * complete, well-formed document of the format above (truncated, not JSON, wrong
 * format/version, wrong types: refused with an error naming the file, line and column).
 * A missing PATH is a fresh start (empty state, generation 0; a journal may follow),
 * unless PATH.prev exists (the state was moved away): that is refused too. Journal
 * records must be well formed (generation a non-negative integer, key a non-empty string,
 * service an object or null, nothing else) and, after those at or below the snapshot's
 * generation (skipped), carry generation = previous + 1, starting at the snapshot's + 1;
 * anything else is refused with "PATH.journal:LINE: message". The one exception is a last
 * line without its newline: a write cut short by a crash, never acknowledged. It is
 * ignored (with a warning in the log), and cut off by the next commit. Loading never
 * writes anything: on a refusal the operator decides (the message points at PATH.prev
 * when it exists). store_commit before a successful store_load is refused (it would
 * overwrite state it never read).
 *
 * Threads: a store is used by the control thread only. Commits block on fsync; the
 * control thread is never a data-plane thread, so workers are not affected.
 */
#ifndef HOSTESS_CONTROL_STORE_H
#define HOSTESS_CONTROL_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct store;

/* Opens the file backend at path (not read yet). Returns NULL with err on failure
 * (path empty or too long, out of memory). */
struct store *store_open_file(const char *path, char *err, size_t errlen);

/* Reads the whole state. On success returns 0 and sets *services to a new reference to a
 * JSON object {key: service} (empty for a fresh start; the caller owns the reference) and
 * *generation. On failure returns -1, *services is NULL, and err holds
 * "PATH:LINE:COL: message" (or "PATH: message" when there is no position). The store's
 * own copy becomes what was loaded, so later commits start from it. */
int store_load(struct store *s, json_t **services, uint64_t *generation, char *err,
               size_t errlen);

/* Durably records one change: service becomes the value of key (service NULL: key is
 * deleted; deleting a missing key is not an error) and generation the new global
 * generation, which must be the store's generation + 1 (the loaded one, then each
 * commit's). service is not stolen (the store takes its own reference, so the caller
 * must not modify it afterwards). Returns 0 once the change is on disk, or -1 with err
 * (then nothing changed: neither on disk nor in the store's copy). */
int store_commit(struct store *s, uint64_t generation, const char *key, json_t *service,
                 char *err, size_t errlen);

/* Compacts once the journal holds at least bytes bytes (1: after every commit, as the
 * tests use it to look at PATH); 0 restores the default, max(1 MiB, snapshot size). */
void store_set_compact_bytes(struct store *s, uint64_t bytes);

/* The path of the file backend (for messages). */
const char *store_describe(const struct store *s);

void store_close(struct store *s);

#endif
