/*
 * bufpool: LIFO free list of chunks (the most recently used chunk is the warmest in cache).
 */
#include "router/base/bufpool.h"

#include <stdlib.h>

void bufpool_init(struct bufpool *p, unsigned max_free)
{
    p->free_list = NULL;
    p->nfree = 0;
    p->max_free = max_free;
}

char *bufpool_get(struct bufpool *p)
{
#ifndef HOSTESS_SANITIZED
    if (p->free_list != NULL) {
        char *c = p->free_list;
        p->free_list = *(void **)c;
        p->nfree--;
        return c;
    }
#else
    (void)p;
#endif
    return malloc(BUFPOOL_CHUNK);
}

void bufpool_put(struct bufpool *p, char *chunk)
{
#ifndef HOSTESS_SANITIZED
    if (p->nfree < p->max_free) {
        *(void **)chunk = p->free_list;
        p->free_list = chunk;
        p->nfree++;
        return;
    }
#else
    (void)p;
#endif
    free(chunk);
}

void bufpool_destroy(struct bufpool *p)
{
    while (p->free_list != NULL) {
        void *c = p->free_list;
        p->free_list = *(void **)c;
        free(c);
    }
    p->nfree = 0;
}
