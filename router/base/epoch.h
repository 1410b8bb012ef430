/*
 * epoch: lock-free publication of immutable snapshots to reader threads, with
 * reclamation once every reader has passed a quiescent point (RCU, the simple way).
 *
 * One writer thread publishes; N readers (workers) each call epoch_quiescent() at a point
 * where they hold no pointer obtained from the domain (the top of a loop turn). A retired
 * object is freed by the writer once every reader's last quiescent point happened after
 * the retirement. A reader that sleeps in epoll holds reclamation back: the writer wakes
 * readers after publishing (the caller's job; see router/worker.c).
 */
#ifndef HOSTESS_ROUTER_BASE_EPOCH_H
#define HOSTESS_ROUTER_BASE_EPOCH_H

#include <stdatomic.h>
#include <stdint.h>

#define EPOCH_MAX_READERS 256

typedef void (*epoch_free_cb)(void *obj);

struct epoch_retired;

struct epoch_reader {
    _Alignas(64) _Atomic uint64_t seen; /* last global epoch observed at a quiescent point */
};

struct epoch_domain {
    _Atomic(void *)        current;  /* the published snapshot */
    _Atomic uint64_t       global;
    unsigned               nreaders;
    struct epoch_reader   *readers;  /* nreaders entries, owned */
    struct epoch_retired  *retired;  /* writer-only list */
};

/* Returns 0 or -ENOMEM. initial becomes the current snapshot. */
int epoch_domain_init(struct epoch_domain *d, unsigned nreaders, void *initial);
/* Frees the retired list (with its callbacks) and the current snapshot with free_cb.
 * Only once no reader runs any more. */
void epoch_domain_destroy(struct epoch_domain *d, epoch_free_cb free_cb);

/* Reader side: returns the current snapshot; valid until this reader's next call. */
void *epoch_quiescent(struct epoch_domain *d, unsigned reader);

/* Writer side: makes next current and retires the previous one (freed later with cb,
 * which must not be NULL).
 * Returns 0 or -ENOMEM (then nothing changed). */
int epoch_publish(struct epoch_domain *d, void *next, epoch_free_cb cb);
/* Writer side: retires obj, which the writer has already made unreachable for new
 * reads (unlinked it and published that with a release store); it is freed with cb once
 * every reader has passed a quiescent point. Returns 0 or -ENOMEM: then nothing was
 * queued, and the caller must keep obj (leaking is safe, freeing is not). */
int epoch_retire(struct epoch_domain *d, void *obj, epoch_free_cb cb);
/* Writer side: frees what no reader can see any more. Returns how many remain. */
unsigned epoch_reclaim(struct epoch_domain *d);
/* Writer side: the current snapshot (the writer's own view). */
void *epoch_current(struct epoch_domain *d);

#endif
