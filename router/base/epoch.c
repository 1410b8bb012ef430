/*
 * epoch: publication and deferred reclamation.
 *
 * Invariants:
 *   - current is only replaced by the writer, with a seq_cst exchange followed by an
 *     increment of global; the replaced pointer is tagged with the new global value e;
 *   - a reader that stores seen >= e has loaded current after the exchange, so it can no
 *     longer hold the replaced pointer; when every reader's seen >= e the object is freed.
 */
#include "router/base/epoch.h"

#include <errno.h>
#include <stdlib.h>

struct epoch_retired {
    struct epoch_retired *next;
    void                 *obj;
    epoch_free_cb         cb;
    uint64_t              epoch;
};

int epoch_domain_init(struct epoch_domain *d, unsigned nreaders, void *initial)
{
    if (nreaders == 0 || nreaders > EPOCH_MAX_READERS)
        return -EINVAL;
    d->readers = aligned_alloc(64, sizeof(*d->readers) * nreaders);
    if (d->readers == NULL)
        return -ENOMEM;
    for (unsigned i = 0; i < nreaders; i++)
        atomic_init(&d->readers[i].seen, 0);
    d->nreaders = nreaders;
    d->retired = NULL;
    atomic_init(&d->global, 0);
    atomic_init(&d->current, initial);
    return 0;
}

void *epoch_quiescent(struct epoch_domain *d, unsigned reader)
{
    uint64_t g = atomic_load(&d->global);
    void *cur = atomic_load(&d->current);
    atomic_store_explicit(&d->readers[reader].seen, g, memory_order_release);
    return cur;
}

void *epoch_current(struct epoch_domain *d)
{
    return atomic_load(&d->current);
}

int epoch_publish(struct epoch_domain *d, void *next, epoch_free_cb cb)
{
    struct epoch_retired *r = malloc(sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    r->obj = atomic_exchange(&d->current, next);
    r->cb = cb;
    r->epoch = atomic_fetch_add(&d->global, 1) + 1;
    r->next = d->retired;
    d->retired = r;
    return 0;
}

int epoch_retire(struct epoch_domain *d, void *obj, epoch_free_cb cb)
{
    struct epoch_retired *r = malloc(sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    r->obj = obj;
    r->cb = cb;
    /* seq_cst: a reader that observes the new global also observes the unlinking that
     * preceded it, so it can no longer reach obj. */
    r->epoch = atomic_fetch_add(&d->global, 1) + 1;
    r->next = d->retired;
    d->retired = r;
    return 0;
}

unsigned epoch_reclaim(struct epoch_domain *d)
{
    uint64_t min = UINT64_MAX;
    unsigned left = 0;

    for (unsigned i = 0; i < d->nreaders; i++) {
        uint64_t s = atomic_load_explicit(&d->readers[i].seen, memory_order_acquire);
        if (s < min)
            min = s;
    }
    struct epoch_retired **pp = &d->retired;
    while (*pp != NULL) {
        struct epoch_retired *r = *pp;
        if (r->epoch <= min) {
            *pp = r->next;
            if (r->obj != NULL)
                r->cb(r->obj);
            free(r);
        } else {
            pp = &r->next;
            left++;
        }
    }
    return left;
}

void epoch_domain_destroy(struct epoch_domain *d, epoch_free_cb free_cb)
{
    while (d->retired != NULL) {
        struct epoch_retired *r = d->retired;
        d->retired = r->next;
        if (r->obj != NULL)
            r->cb(r->obj);
        free(r);
    }
    void *cur = atomic_load(&d->current);
    if (cur != NULL && free_cb != NULL)
        free_cb(cur);
    free(d->readers);
    d->readers = NULL;
}
