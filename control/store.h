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
 * File backend (the default, `state: {backend: file, path: ...}`): the whole state lives in
 * one JSON document
 *     {"format": "hostess-edge-state", "version": 1, "generation": N,
 *      "services": {"p/e/s": {...}, ...}}
 * rewritten on every commit as: write PATH.tmp, fsync it, hard-link the current PATH to
 * PATH.prev (the previous good copy), rename PATH.tmp over PATH, fsync the directory. At
 * every instant PATH is a complete document; kill -9 at any point leaves either the old
 * or the new one. The directory is created (mode 0700) if missing; files are mode 0600.
 *
 * Loading refuses anything that is not a complete, well-formed document of this format
 * (truncated, not JSON, wrong format/version, wrong types) with an error naming the file,
 * line and column, and never writes over it: the operator decides (the message points at
 * PATH.prev). A missing PATH is a fresh start (empty state, generation 0), unless
 * PATH.prev exists (the state was moved away): that is refused too. store_commit before a
 * successful store_load is refused (it would overwrite a file it never read).
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
 * generation. service is not stolen (the store takes its own reference, so the caller
 * must not modify it afterwards). Returns 0 once the change is on disk, or -1 with err
 * (then nothing changed: neither on disk nor in the store's copy). */
int store_commit(struct store *s, uint64_t generation, const char *key, json_t *service,
                 char *err, size_t errlen);

/* The path of the file backend (for messages). */
const char *store_describe(const struct store *s);

void store_close(struct store *s);

#endif
