/*
 * deadline: per-thread timeouts without a timer handle per connection.
 *
 * Every timeout kind has one duration at a time, so arming "now + duration" and appending
 * to that kind's FIFO keeps each FIFO sorted by expiry: arming and cancelling are O(1)
 * list operations, and expiry only looks at the head of each FIFO. One uv_timer_t per
 * thread ticks while any deadline is armed. (When a reload changes a duration, entries
 * armed before it may fire up to the difference late; nothing fires early.)
 */
#ifndef HOSTESS_ROUTER_BASE_DEADLINE_H
#define HOSTESS_ROUTER_BASE_DEADLINE_H

#include <stdint.h>
#include <uv.h>

#include "router/base/list.h"

#define DEADLINE_KINDS 10
#define DEADLINE_TICK_MS 50

struct deadline;
typedef void (*deadline_cb)(struct deadline *d);

/* Embedded in its owner; the owner must deadline_cancel() before it is freed. */
struct deadline {
    struct list_node link;
    uint64_t         at;  /* uv_now() value at which it fires */
    deadline_cb      cb;
};

struct deadline_wheel {
    uv_timer_t       timer;
    struct list_node fifo[DEADLINE_KINDS];
    unsigned         armed;   /* entries in all FIFOs */
};

int deadline_wheel_init(struct deadline_wheel *w, uv_loop_t *loop);
/* Closes the timer; the wheel's memory must live until the loop closed the handle. */
void deadline_wheel_close(struct deadline_wheel *w);

static inline void deadline_init(struct deadline *d, deadline_cb cb)
{
    list_init(&d->link);
    d->cb = cb;
    d->at = 0;
}

/* (Re)arms d to fire ms from now in kind's FIFO. cb runs once, from the wheel's timer,
 * after which d is unarmed; it may re-arm or free d's owner. */
void deadline_arm(struct deadline_wheel *w, struct deadline *d, unsigned kind, uint32_t ms);
void deadline_cancel(struct deadline_wheel *w, struct deadline *d);

static inline int deadline_armed(const struct deadline *d)
{
    return list_linked(&d->link);
}

#endif
