/*
 * strmap: a string-keyed hash map for the control thread (services by key, hostnames by
 * owner). Open addressing with linear probing and backward-shift deletion, so there are
 * no tombstones. Keys are copied; values are the caller's pointers (not freed here).
 */
#ifndef HOSTESS_CONTROL_STRMAP_H
#define HOSTESS_CONTROL_STRMAP_H

#include <stddef.h>

struct strmap;

struct strmap *strmap_new(void);
/* Frees the map and its keys (not the values). */
void strmap_free(struct strmap *m);
/* The value for key, or NULL. */
void *strmap_get(const struct strmap *m, const char *key);
/* Sets key to value (value must not be NULL). 0 or -ENOMEM (then nothing changed). */
int strmap_set(struct strmap *m, const char *key, void *value);
/* Removes key; returns its value or NULL. */
void *strmap_del(struct strmap *m, const char *key);
size_t strmap_count(const struct strmap *m);

/* Iteration: pos starts at 0; returns 1 with key and value filled, 0 at the end. The map
 * must not change during an iteration. */
int strmap_next(const struct strmap *m, size_t *pos, const char **key, void **value);

#endif
