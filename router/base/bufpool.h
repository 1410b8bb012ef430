/*
 * bufpool: a per-thread recycler of fixed-size byte chunks (16 KiB by default).
 *
 * Connections borrow a chunk when bytes arrive and give it back when they have consumed
 * them, so an idle keep-alive connection owns no buffer. Not thread-safe: one pool per
 * worker. In sanitizer builds chunks go straight to malloc/free so ASan sees every
 * use-after-return.
 */
#ifndef HOSTESS_ROUTER_BASE_BUFPOOL_H
#define HOSTESS_ROUTER_BASE_BUFPOOL_H

#include <stddef.h>

#define BUFPOOL_CHUNK 16384

struct bufpool {
    void    *free_list; /* singly linked through the first word of each chunk */
    unsigned nfree;
    unsigned max_free;  /* chunks kept beyond this are returned to malloc */
};

void bufpool_init(struct bufpool *p, unsigned max_free);
/* A BUFPOOL_CHUNK-byte chunk, or NULL when memory is exhausted. */
char *bufpool_get(struct bufpool *p);
void bufpool_put(struct bufpool *p, char *chunk);
void bufpool_destroy(struct bufpool *p);

#endif
