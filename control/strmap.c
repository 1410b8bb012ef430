/*
 * strmap: open addressing, load <= 0.5, backward-shift deletion (Knuth 6.4 algorithm R),
 * keyed by the process-seeded hash of router/base/hash.h.
 */
#include "control/strmap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "router/base/hash.h"

struct sm_slot {
    char *key; /* NULL: empty */
    void *value;
    uint64_t hash;
};

struct strmap {
    struct sm_slot *slots;
    size_t          mask, n;
};

struct strmap *strmap_new(void)
{
    struct strmap *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->slots = calloc(16, sizeof(*m->slots));
    if (m->slots == NULL) {
        free(m);
        return NULL;
    }
    m->mask = 15;
    return m;
}

void strmap_free(struct strmap *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i <= m->mask; i++)
        free(m->slots[i].key);
    free(m->slots);
    free(m);
}

static size_t find(const struct strmap *m, const char *key, uint64_t h)
{
    size_t i = h & m->mask;
    while (m->slots[i].key != NULL &&
           (m->slots[i].hash != h || strcmp(m->slots[i].key, key) != 0))
        i = (i + 1) & m->mask;
    return i;
}

void *strmap_get(const struct strmap *m, const char *key)
{
    size_t i = find(m, key, hash_bytes(key, strlen(key)));
    return m->slots[i].key ? m->slots[i].value : NULL;
}

static int grow(struct strmap *m)
{
    size_t n = (m->mask + 1) * 2;
    struct sm_slot *s = calloc(n, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    for (size_t i = 0; i <= m->mask; i++) {
        if (m->slots[i].key == NULL)
            continue;
        size_t j = m->slots[i].hash & (n - 1);
        while (s[j].key != NULL)
            j = (j + 1) & (n - 1);
        s[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = s;
    m->mask = n - 1;
    return 0;
}

int strmap_set(struct strmap *m, const char *key, void *value)
{
    uint64_t h = hash_bytes(key, strlen(key));
    size_t i = find(m, key, h);
    if (m->slots[i].key != NULL) {
        m->slots[i].value = value;
        return 0;
    }
    if ((m->n + 1) * 2 > m->mask + 1) {
        if (grow(m) != 0)
            return -ENOMEM;
        i = find(m, key, h);
    }
    char *k = strdup(key);
    if (k == NULL)
        return -ENOMEM;
    m->slots[i] = (struct sm_slot){k, value, h};
    m->n++;
    return 0;
}

void *strmap_del(struct strmap *m, const char *key)
{
    size_t i = find(m, key, hash_bytes(key, strlen(key)));
    if (m->slots[i].key == NULL)
        return NULL;
    void *v = m->slots[i].value;
    free(m->slots[i].key);
    m->n--;
    /* Shift back every following entry whose home slot does not lie in (i, j]. */
    for (size_t j = (i + 1) & m->mask; m->slots[j].key != NULL; j = (j + 1) & m->mask) {
        size_t home = m->slots[j].hash & m->mask;
        int between = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (between)
            continue;
        m->slots[i] = m->slots[j];
        i = j;
    }
    m->slots[i].key = NULL;
    m->slots[i].value = NULL;
    return v;
}

size_t strmap_count(const struct strmap *m)
{
    return m->n;
}

int strmap_next(const struct strmap *m, size_t *pos, const char **key, void **value)
{
    for (; *pos <= m->mask; (*pos)++) {
        if (m->slots[*pos].key != NULL) {
            *key = m->slots[*pos].key;
            *value = m->slots[*pos].value;
            (*pos)++;
            return 1;
        }
    }
    return 0;
}
