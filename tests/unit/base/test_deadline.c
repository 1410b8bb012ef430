/*
 * Unit tests for router/base/deadline.c on a real uv_loop: FIFO order per kind, cancel,
 * re-arm, the shared timer stopping when nothing is armed, and callbacks that re-arm or
 * free their owner. Nothing asserts on elapsed wall time: a deadline must never fire
 * before its expiry, and the order of firing is checked, not when it happens. Each test
 * closes the wheel, runs the loop dry, checks that no handle is left open and that
 * uv_loop_close() succeeds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <uv.h>

#include "router/base/deadline.h"

#define MAX_FIRED 32

struct item {
    struct deadline dl;
    int             id;
    int             fired;
    int             rearm_left; /* re-arm itself this many more times */
    uint32_t        rearm_ms;
    struct item    *cancel;     /* cancels this one when it fires */
    int             free_self;  /* frees its own memory when it fires */
};

struct fixture {
    uv_loop_t             loop;
    struct deadline_wheel w;
    int                   order[MAX_FIRED];
    int                   nfired;
    int                   early;   /* a deadline fired before its expiry */
};

static struct fixture *fx; /* the running test's fixture, for the callbacks */

static void on_deadline(struct deadline *d)
{
    struct item *it = container_of(d, struct item, dl);
    if (uv_now(&fx->loop) < d->at)
        fx->early++;
    if (deadline_armed(d))
        fx->early += 1000; /* must be unarmed while its callback runs */
    if (fx->nfired < MAX_FIRED)
        fx->order[fx->nfired] = it->id;
    fx->nfired++;
    it->fired++;
    if (it->cancel != NULL)
        deadline_cancel(&fx->w, &it->cancel->dl);
    if (it->rearm_left > 0) {
        it->rearm_left--;
        deadline_arm(&fx->w, d, 0, it->rearm_ms);
    }
    if (it->free_self)
        free(it);
}

static void item_init(struct item *it, int id)
{
    memset(it, 0, sizeof(*it));
    it->id = id;
    deadline_init(&it->dl, on_deadline);
}

static int setup(void **state)
{
    fx = calloc(1, sizeof(*fx));
    if (fx == NULL || uv_loop_init(&fx->loop) != 0)
        return -1;
    if (deadline_wheel_init(&fx->w, &fx->loop) != 0)
        return -1;
    *state = fx;
    return 0;
}

static void count_open(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        (*(int *)arg)++;
}

/* MAKE_VALGRIND_HAPPY, one step further: nothing may be left open for us to close. */
static int teardown(void **state)
{
    struct fixture *f = *state;
    int open = 0;

    deadline_wheel_close(&f->w);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_walk(&f->loop, count_open, &open);
    assert_int_equal(open, 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    fx = NULL;
    return 0;
}

static void test_deadlines_of_a_kind_fire_in_arming_order_never_early(void **state)
{
    struct fixture *f = *state;
    struct item a, b, c, d;
    item_init(&a, 1);
    item_init(&b, 2);
    item_init(&c, 3);
    item_init(&d, 4);

    deadline_arm(&f->w, &a.dl, 0, 10);
    deadline_arm(&f->w, &b.dl, 0, 10);
    deadline_arm(&f->w, &c.dl, 0, 10);
    deadline_arm(&f->w, &d.dl, 1, 120);
    assert_true(deadline_armed(&a.dl));
    assert_int_equal(f->w.armed, 4);
    assert_true(uv_is_active((uv_handle_t *)&f->w.timer));

    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->nfired, 4);
    assert_int_equal(f->order[0], 1);
    assert_int_equal(f->order[1], 2);
    assert_int_equal(f->order[2], 3);
    assert_int_equal(f->order[3], 4);
    assert_int_equal(f->early, 0);
    assert_int_equal(a.fired + b.fired + c.fired + d.fired, 4);
    assert_false(deadline_armed(&d.dl));
    assert_int_equal(f->w.armed, 0);
}

static void test_cancel_prevents_firing(void **state)
{
    struct fixture *f = *state;
    struct item a, b, never;
    item_init(&a, 1);
    item_init(&b, 2);
    item_init(&never, 3);

    deadline_arm(&f->w, &a.dl, 2, 10);
    deadline_arm(&f->w, &b.dl, 2, 10);
    deadline_cancel(&f->w, &a.dl);
    deadline_cancel(&f->w, &a.dl);     /* twice: harmless */
    deadline_cancel(&f->w, &never.dl); /* never armed: harmless */
    assert_false(deadline_armed(&a.dl));
    assert_int_equal(f->w.armed, 1);

    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(a.fired, 0);
    assert_int_equal(b.fired, 1);
    assert_int_equal(never.fired, 0);
    assert_int_equal(f->early, 0);
}

static void test_rearm_moves_the_expiry_and_fires_once(void **state)
{
    struct fixture *f = *state;
    struct item a;
    item_init(&a, 1);

    deadline_arm(&f->w, &a.dl, 0, 10);
    uint64_t first = a.dl.at;
    deadline_arm(&f->w, &a.dl, 1, 120); /* later, and in another kind */
    assert_int_equal(f->w.armed, 1);
    assert_true(a.dl.at == uv_now(&f->loop) + 120);
    assert_true(a.dl.at > first);

    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(a.fired, 1);
    assert_int_equal(f->early, 0); /* not at the first expiry: at the moved one */

    /* Moving it earlier works too. */
    deadline_arm(&f->w, &a.dl, 2, 60000);
    deadline_arm(&f->w, &a.dl, 2, 5);
    assert_int_equal(f->w.armed, 1);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(a.fired, 2);
    assert_int_equal(f->early, 0);
}

static void test_timer_stops_when_nothing_is_armed(void **state)
{
    struct fixture *f = *state;
    struct item a;
    item_init(&a, 1);

    assert_false(uv_is_active((uv_handle_t *)&f->w.timer));
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);

    /* Cancelled before it fired: the timer ticks at most once more, then stops, so the
     * loop runs out of work and uv_run returns. */
    deadline_arm(&f->w, &a.dl, 0, 10);
    assert_true(uv_is_active((uv_handle_t *)&f->w.timer));
    deadline_cancel(&f->w, &a.dl);
    assert_int_equal(f->w.armed, 0);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_false(uv_is_active((uv_handle_t *)&f->w.timer));
    assert_int_equal(a.fired, 0);

    /* After firing, the same. */
    deadline_arm(&f->w, &a.dl, 0, 10);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_false(uv_is_active((uv_handle_t *)&f->w.timer));
    assert_int_equal(a.fired, 1);
}

static void test_a_callback_may_rearm_its_own_deadline(void **state)
{
    struct fixture *f = *state;
    struct item a;
    item_init(&a, 7);
    a.rearm_left = 3;
    a.rearm_ms = 1;

    deadline_arm(&f->w, &a.dl, 0, 1);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(a.fired, 4);
    assert_int_equal(a.rearm_left, 0);
    assert_false(deadline_armed(&a.dl));
    assert_int_equal(f->w.armed, 0);
    assert_int_equal(f->early, 0);
    assert_false(uv_is_active((uv_handle_t *)&f->w.timer));
}

static void test_a_callback_may_cancel_the_next_due_deadline(void **state)
{
    struct fixture *f = *state;
    struct item a, b, c;
    item_init(&a, 1);
    item_init(&b, 2);
    item_init(&c, 3);
    a.cancel = &b; /* same kind, same expiry: b is due in the same tick */

    deadline_arm(&f->w, &a.dl, 4, 10);
    deadline_arm(&f->w, &b.dl, 4, 10);
    deadline_arm(&f->w, &c.dl, 4, 10);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(a.fired, 1);
    assert_int_equal(b.fired, 0);
    assert_int_equal(c.fired, 1);
    assert_int_equal(f->nfired, 2);
    assert_int_equal(f->order[1], 3);
    assert_int_equal(f->w.armed, 0);
}

static void test_a_callback_may_free_its_owner(void **state)
{
    struct fixture *f = *state;
    struct item *a = malloc(sizeof(*a));
    struct item *b = malloc(sizeof(*b));
    struct item c;
    assert_non_null(a);
    assert_non_null(b);
    item_init(a, 1);
    item_init(b, 2);
    item_init(&c, 3);
    a->free_self = 1;
    b->free_self = 1;

    deadline_arm(&f->w, &a->dl, DEADLINE_KINDS - 1, 10);
    deadline_arm(&f->w, &b->dl, DEADLINE_KINDS - 1, 10);
    deadline_arm(&f->w, &c.dl, DEADLINE_KINDS - 1, 10);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0); /* ASan: no use after free */
    assert_int_equal(f->nfired, 3);
    assert_int_equal(f->order[0], 1);
    assert_int_equal(f->order[1], 2);
    assert_int_equal(f->order[2], 3);
}

static void test_closing_with_deadlines_armed_leaves_no_handle_open(void **state)
{
    struct fixture *f = *state;
    struct item a;
    item_init(&a, 1);
    deadline_arm(&f->w, &a.dl, 0, 60000);
    /* The owner cancels before it goes away; the teardown then closes the wheel with
     * its timer still running, which must not keep the loop alive. */
    deadline_cancel(&f->w, &a.dl);
    assert_true(uv_is_active((uv_handle_t *)&f->w.timer));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_deadlines_of_a_kind_fire_in_arming_order_never_early,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_prevents_firing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rearm_moves_the_expiry_and_fires_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_timer_stops_when_nothing_is_armed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_callback_may_rearm_its_own_deadline, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_callback_may_cancel_the_next_due_deadline, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_callback_may_free_its_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closing_with_deadlines_armed_leaves_no_handle_open,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
