/*
 * deadline: FIFOs per timeout kind, scanned from their heads every tick.
 */
#include "router/base/deadline.h"

static void wheel_tick(uv_timer_t *t)
{
    struct deadline_wheel *w = container_of(t, struct deadline_wheel, timer);
    uint64_t now = uv_now(t->loop);

    for (unsigned k = 0; k < DEADLINE_KINDS; k++) {
        struct list_node *n;
        while ((n = list_first(&w->fifo[k])) != NULL) {
            struct deadline *d = container_of(n, struct deadline, link);
            if (d->at > now)
                break;
            list_unlink(n);
            w->armed--;
            d->cb(d);
        }
    }
    if (w->armed == 0)
        uv_timer_stop(&w->timer);
}

int deadline_wheel_init(struct deadline_wheel *w, uv_loop_t *loop)
{
    for (unsigned k = 0; k < DEADLINE_KINDS; k++)
        list_init(&w->fifo[k]);
    w->armed = 0;
    return uv_timer_init(loop, &w->timer);
}

void deadline_wheel_close(struct deadline_wheel *w)
{
    uv_close((uv_handle_t *)&w->timer, NULL);
}

void deadline_arm(struct deadline_wheel *w, struct deadline *d, unsigned kind, uint32_t ms)
{
    if (list_linked(&d->link))
        list_unlink(&d->link);
    else if (w->armed++ == 0)
        uv_timer_start(&w->timer, wheel_tick, DEADLINE_TICK_MS, DEADLINE_TICK_MS);
    /* At least 1 ms: a callback re-arming "now" must not fire again in the same tick. */
    d->at = uv_now(w->timer.loop) + (ms ? ms : 1);
    list_push_tail(&w->fifo[kind], &d->link);
}

void deadline_cancel(struct deadline_wheel *w, struct deadline *d)
{
    if (list_linked(&d->link)) {
        list_unlink(&d->link);
        w->armed--;
    }
}
