/*
 * Unit tests for control/health.c: active HTTP and TCP checks against a small scripted
 * server on 127.0.0.1, served from the test's own libuv loop (the same loop as the check,
 * so nothing here needs a thread). The server answers the n-th request with script[n] (the
 * last entry repeats), which makes the order of results, and so every transition, exact
 * rather than timing-dependent.
 *
 * Every run of the loop is bounded by a watchdog timer, so a broken check fails the test
 * within seconds instead of hanging until ctest's timeout. Teardown closes every handle and
 * asserts uv_loop_close() == 0: a handle the check forgot to close fails the test, and a
 * struct it forgot to free fails under ASan or valgrind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cmocka.h>

#include "control/health.h"

/* Script entries that are not bytes to send. */
#define NEVER_ANSWER NULL /* read the request, then wait for the client to go */
#define CLOSE_SILENTLY "" /* read the request, then close without a byte */

#define OK_200 "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
#define ERR_503 "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
#define GARBAGE "garbage\r\n"

#define MAX_EVENTS 32
#define WAIT_MS 3000 /* generous: valgrind is slow; a passing run needs far less */

struct event {
    int      healthy;
    char     detail[64];
    size_t   served; /* requests the server had answered (or held) at the time */
    uint64_t at;     /* loop time */
};

struct srv_conn {
    uv_tcp_t         tcp;
    uv_write_t       write;
    struct srv_conn *next;
    size_t           len;
    int              answered;
    char             buf[2048];
};

static struct fixture {
    uv_loop_t            loop;
    uv_timer_t           watchdog;
    uv_tcp_t             listener;
    int                  listening;
    struct sockaddr_in   addr;
    struct srv_conn     *conns; /* open server connections */
    const char *const   *script;
    size_t               nscript;
    size_t               served;   /* requests read to their end */
    size_t               accepted; /* connections accepted */
    char                 captured[2049]; /* the last request head received, + NUL */
    size_t               captured_len;
    struct health_check *hc;
    struct event         ev[MAX_EVENTS];
    size_t               nev;
    int                  in_start;    /* inside health_check_start */
    int                  cb_in_start; /* the callback ran inside health_check_start */
    int                  stop_in_cb;  /* the callback stops the check */
    int                  close_listener_on_healthy;
    int                  fill_queue_on_healthy; /* connect filler to addr */
    int                  raw_fd;                /* a listening socket nobody accepts on */
    uv_tcp_t             filler;
    uv_connect_t         filler_req;
    int                  filling;
} fx;

/* ---- the scripted server ------------------------------------------------------------ */

static void srv_on_close(uv_handle_t *h)
{
    struct srv_conn *c = h->data;

    for (struct srv_conn **p = &fx.conns; *p != NULL; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    free(c);
}

static void srv_close(struct srv_conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, srv_on_close);
}

static void srv_on_write(uv_write_t *req, int status)
{
    (void)status; /* the check may have reset the connection already */
    srv_close(req->handle->data);
}

static void srv_answer(struct srv_conn *c)
{
    const char *resp = fx.script[fx.served < fx.nscript ? fx.served : fx.nscript - 1];
    uv_buf_t b;

    c->answered = 1;
    fx.served++;
    memcpy(fx.captured, c->buf, c->len);
    fx.captured_len = c->len;
    if (resp == NEVER_ANSWER)
        return;
    if (resp[0] == '\0') {
        srv_close(c);
        return;
    }
    b = uv_buf_init((char *)resp, (unsigned)strlen(resp));
    if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, srv_on_write) != 0)
        srv_close(c);
}

static void srv_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct srv_conn *c = h->data;

    (void)suggested;
    *b = uv_buf_init(c->buf + c->len, (unsigned)(sizeof(c->buf) - c->len));
}

static void srv_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct srv_conn *c = s->data;

    (void)b;
    if (n < 0) {
        srv_close(c); /* EOF or reset: the check is done with us */
        return;
    }
    c->len += (size_t)n;
    if (c->answered)
        c->len = 0; /* only the request head is of interest */
    else if (c->len >= 4 && memcmp(c->buf + c->len - 4, "\r\n\r\n", 4) == 0)
        srv_answer(c);
    else if (c->len == sizeof(c->buf))
        srv_close(c);
}

static void srv_on_connection(uv_stream_t *server, int status)
{
    struct srv_conn *c;

    if (status < 0)
        return;
    c = calloc(1, sizeof(*c));
    assert_non_null(c);
    uv_tcp_init(&fx.loop, &c->tcp);
    c->tcp.data = c;
    c->next = fx.conns;
    fx.conns = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, srv_alloc, srv_on_read) != 0) {
        srv_close(c);
        return;
    }
    fx.accepted++;
}

static void srv_script(const char *const *script, size_t n)
{
    fx.script = script;
    fx.nscript = n;
}

static void listener_close(void)
{
    if (fx.listening) {
        uv_close((uv_handle_t *)&fx.listener, NULL);
        fx.listening = 0;
    }
}

/* ---- running the loop, bounded -------------------------------------------------------- */

static void on_watchdog(uv_timer_t *t)
{
    (void)t; /* only wakes uv_run so the deadline is seen */
}

/* Runs the loop until done(arg) or ms of loop time have passed; returns done(arg). */
static int run_until(int (*done)(size_t), size_t arg, uint64_t ms)
{
    uint64_t end;

    uv_update_time(&fx.loop);
    end = uv_now(&fx.loop) + ms;
    uv_timer_start(&fx.watchdog, on_watchdog, ms, 0);
    while (!(done != NULL && done(arg)) && uv_now(&fx.loop) < end)
        uv_run(&fx.loop, UV_RUN_ONCE);
    uv_timer_stop(&fx.watchdog);
    return done != NULL && done(arg);
}

static void run_for(uint64_t ms)
{
    run_until(NULL, 0, ms);
}

static int have_events(size_t n)
{
    return fx.nev >= n;
}

static int have_served(size_t n)
{
    return fx.served >= n;
}

static void on_filler(uv_connect_t *req, int status)
{
    (void)req;
    (void)status; /* connected into the queue, or cancelled at teardown */
}

/* ---- the check under test ------------------------------------------------------------- */

static void on_health(struct health_check *hc, int healthy, const char *detail, void *ud)
{
    struct event *e;

    assert_ptr_equal(ud, &fx);
    if (fx.in_start)
        fx.cb_in_start = 1;
    if (fx.nev < MAX_EVENTS) {
        e = &fx.ev[fx.nev];
        e->healthy = healthy;
        snprintf(e->detail, sizeof(e->detail), "%s", detail);
        e->served = fx.served;
        e->at = uv_now(&fx.loop);
    }
    fx.nev++;
    if (healthy && fx.close_listener_on_healthy)
        listener_close();
    if (healthy && fx.fill_queue_on_healthy && !fx.filling) {
        /* no need to wait for it: its handshake is done long before the next attempt */
        uv_tcp_init(&fx.loop, &fx.filler);
        fx.filling = 1;
        uv_tcp_connect(&fx.filler_req, &fx.filler, (const struct sockaddr *)&fx.addr,
                       on_filler);
    }
    if (fx.stop_in_cb) {
        health_check_stop(hc);
        fx.hc = NULL;
    }
}

/* A fast spec: 20 ms between attempt starts, 100 ms per attempt. */
static struct health_spec fast_spec(enum health_kind kind, uint32_t up, uint32_t down)
{
    struct health_spec spec;

    health_spec_defaults(&spec);
    spec.kind = kind;
    spec.interval_ms = 20;
    spec.timeout_ms = 100;
    spec.healthy_threshold = up;
    spec.unhealthy_threshold = down;
    return spec;
}

static void check_start(const struct health_spec *spec)
{
    fx.in_start = 1;
    fx.hc = health_check_start(&fx.loop, (const struct sockaddr *)&fx.addr, sizeof(fx.addr),
                               spec, on_health, &fx);
    fx.in_start = 0;
    assert_non_null(fx.hc);
    assert_int_equal(fx.nev, 0);
    assert_int_equal(health_check_healthy(fx.hc), spec->start_healthy != 0);
}

static void check_stop(void)
{
    health_check_stop(fx.hc);
    fx.hc = NULL;
}

static void assert_event(size_t i, int healthy, const char *detail)
{
    assert_true(fx.nev > i);
    assert_int_equal(fx.ev[i].healthy, healthy);
    assert_string_equal(fx.ev[i].detail, detail);
}

/* ---- fixture ------------------------------------------------------------------------ */

static int setup(void **state)
{
    int namelen = sizeof(fx.addr);

    (void)state;
    memset(&fx, 0, sizeof(fx));
    fx.raw_fd = -1;
    assert_int_equal(uv_loop_init(&fx.loop), 0);
    assert_int_equal(uv_timer_init(&fx.loop, &fx.watchdog), 0);
    assert_int_equal(uv_tcp_init(&fx.loop, &fx.listener), 0);
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &fx.addr), 0);
    assert_int_equal(uv_tcp_bind(&fx.listener, (const struct sockaddr *)&fx.addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&fx.listener, 16, srv_on_connection), 0);
    assert_int_equal(
        uv_tcp_getsockname(&fx.listener, (struct sockaddr *)&fx.addr, &namelen), 0);
    fx.listening = 1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    check_stop();
    listener_close();
    for (struct srv_conn *c = fx.conns; c != NULL; c = c->next)
        srv_close(c);
    uv_close((uv_handle_t *)&fx.watchdog, NULL);
    if (fx.filling)
        uv_close((uv_handle_t *)&fx.filler, NULL);
    if (fx.raw_fd >= 0)
        close(fx.raw_fd);
    /* Closing needs no waiting: a few turns run every close callback. */
    for (int i = 0; i < 100 && uv_loop_alive(&fx.loop); i++)
        uv_run(&fx.loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&fx.loop), 0); /* no handle of the check left open */
    return 0;
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_spec_defaults_match_the_header(void **state)
{
    struct health_spec spec;

    (void)state;
    memset(&spec, 0x55, sizeof(spec));
    health_spec_defaults(&spec);
    assert_int_equal(spec.kind, HEALTH_HTTP);
    assert_string_equal(spec.path, "/health");
    assert_string_equal(spec.host, "localhost");
    assert_int_equal(spec.interval_ms, 2000);
    assert_int_equal(spec.timeout_ms, 1000);
    assert_int_equal(spec.healthy_threshold, 1);
    assert_int_equal(spec.unhealthy_threshold, 3);
    assert_int_equal(spec.start_healthy, 0); /* a new target must earn its traffic */
}

static void test_start_rejects_a_spec_it_cannot_run(void **state)
{
    struct health_spec spec = fast_spec(HEALTH_HTTP, 1, 1);
    const struct sockaddr *sa = (const struct sockaddr *)&fx.addr;
    struct sockaddr un = {.sa_family = AF_UNIX};

    (void)state;
    spec.healthy_threshold = 0;
    assert_null(health_check_start(&fx.loop, sa, sizeof(fx.addr), &spec, on_health, &fx));
    spec = fast_spec(HEALTH_HTTP, 1, 0);
    assert_null(health_check_start(&fx.loop, sa, sizeof(fx.addr), &spec, on_health, &fx));
    spec = fast_spec(HEALTH_HTTP, 1, 1);
    spec.timeout_ms = 0;
    assert_null(health_check_start(&fx.loop, sa, sizeof(fx.addr), &spec, on_health, &fx));
    spec = fast_spec(HEALTH_HTTP, 1, 1);
    spec.interval_ms = 0;
    assert_null(health_check_start(&fx.loop, sa, sizeof(fx.addr), &spec, on_health, &fx));
    /* a path or host that would inject header fields, or is not a path */
    spec = fast_spec(HEALTH_HTTP, 1, 1);
    snprintf(spec.path, sizeof(spec.path), "/x HTTP/1.1\r\nX-Evil: 1\r\n\r\nGET /");
    assert_null(health_check_start(&fx.loop, sa, sizeof(fx.addr), &spec, on_health, &fx));
    snprintf(spec.path, sizeof(spec.path), "health");
    assert_null(health_check_start(&fx.loop, sa, sizeof(fx.addr), &spec, on_health, &fx));
    spec = fast_spec(HEALTH_HTTP, 1, 1);
    snprintf(spec.host, sizeof(spec.host), "a\nb");
    assert_null(health_check_start(&fx.loop, sa, sizeof(fx.addr), &spec, on_health, &fx));
    memset(spec.host, 'h', sizeof(spec.host)); /* not NUL-terminated */
    assert_null(health_check_start(&fx.loop, sa, sizeof(fx.addr), &spec, on_health, &fx));
    /* addresses other than IPv4/IPv6, or truncated */
    spec = fast_spec(HEALTH_HTTP, 1, 1);
    assert_null(health_check_start(&fx.loop, &un, sizeof(un), &spec, on_health, &fx));
    assert_null(health_check_start(&fx.loop, sa, sizeof(fx.addr) - 1, &spec, on_health, &fx));
    assert_null(health_check_start(&fx.loop, NULL, 0, &spec, on_health, &fx));
    /* and the loop holds nothing of these (teardown's uv_loop_close proves it) */
    health_check_stop(NULL);
    assert_false(health_check_healthy(NULL));
}

static void test_http_200_makes_the_target_healthy_once(void **state)
{
    static const char *const script[] = {OK_200};
    struct health_spec spec = fast_spec(HEALTH_HTTP, 1, 3);

    (void)state;
    srv_script(script, 1);
    check_start(&spec);
    assert_true(run_until(have_events, 1, WAIT_MS));
    assert_false(fx.cb_in_start);
    assert_event(0, 1, "HTTP 200");
    assert_int_equal(fx.ev[0].served, 1);
    assert_true(health_check_healthy(fx.hc));
    /* more passing attempts are no transitions */
    assert_true(run_until(have_served, 5, WAIT_MS));
    assert_int_equal(fx.nev, 1);
    assert_true(health_check_healthy(fx.hc));
}

static void test_http_503_never_makes_the_target_healthy(void **state)
{
    static const char *const script[] = {ERR_503};
    struct health_spec spec = fast_spec(HEALTH_HTTP, 1, 1);

    (void)state;
    srv_script(script, 1);
    check_start(&spec);
    assert_true(run_until(have_served, 5, WAIT_MS));
    assert_int_equal(fx.nev, 0); /* it started unhealthy and stayed so: no transition */
    assert_false(health_check_healthy(fx.hc));
}

static void test_200_then_503_is_unhealthy_after_exactly_the_threshold(void **state)
{
    static const char *const script[] = {OK_200, ERR_503};
    struct health_spec spec = fast_spec(HEALTH_HTTP, 1, 3);

    (void)state;
    srv_script(script, 2);
    check_start(&spec);
    assert_true(run_until(have_events, 2, WAIT_MS));
    assert_event(0, 1, "HTTP 200");
    assert_int_equal(fx.ev[0].served, 1);
    assert_event(1, 0, "HTTP 503");
    assert_int_equal(fx.ev[1].served, 1 + 3); /* the third 503 in a row, not earlier */
    assert_false(health_check_healthy(fx.hc));
    run_for(100);
    assert_int_equal(fx.nev, 2);
}

static void test_thresholds_count_consecutive_results_only(void **state)
{
    /* up after 2 passes in a row, down after 3 failures in a row */
    static const char *const script[] = {
        ERR_503, OK_200,  ERR_503, OK_200, OK_200,          /* healthy at #5 */
        ERR_503, ERR_503, OK_200,  ERR_503, ERR_503, ERR_503, /* unhealthy at #11 */
        OK_200,  OK_200,                                       /* healthy at #13 */
    };
    struct health_spec spec = fast_spec(HEALTH_HTTP, 2, 3);

    (void)state;
    srv_script(script, sizeof(script) / sizeof(script[0]));
    check_start(&spec);
    assert_true(run_until(have_events, 3, WAIT_MS));
    assert_event(0, 1, "HTTP 200");
    assert_int_equal(fx.ev[0].served, 5);
    assert_event(1, 0, "HTTP 503");
    assert_int_equal(fx.ev[1].served, 11);
    assert_event(2, 1, "HTTP 200");
    assert_int_equal(fx.ev[2].served, 13);
}

/* Alternating passes and failures with thresholds of 1: every attempt is a transition,
 * and its detail is the verdict on that one response. */
static void test_a_trusted_target_starts_healthy_and_stays_so_on_passes(void **state)
{
    static const char *const script[] = {OK_200};
    struct health_spec spec = fast_spec(HEALTH_HTTP, 1, 3);

    (void)state;
    spec.start_healthy = 1;
    srv_script(script, 1);
    check_start(&spec);
    assert_true(health_check_healthy(fx.hc));
    assert_true(run_until(have_served, 4, WAIT_MS));
    assert_int_equal(fx.nev, 0); /* no transition, so no callback */
    assert_true(health_check_healthy(fx.hc));
}

static void test_a_trusted_target_needs_the_threshold_of_failures(void **state)
{
    static const char *const script[] = {ERR_503};
    struct health_spec spec = fast_spec(HEALTH_HTTP, 1, 3);

    (void)state;
    spec.start_healthy = 1;
    srv_script(script, 1);
    check_start(&spec);
    assert_true(run_until(have_events, 1, WAIT_MS));
    assert_event(0, 0, "HTTP 503");
    assert_int_equal(fx.ev[0].served, 3);
    assert_false(health_check_healthy(fx.hc));
    run_for(100);
    assert_int_equal(fx.nev, 1);
}

static void test_status_lines_pass_on_2xx_and_3xx_only(void **state)
{
    static char long_reason[700];
    static const char *script[] = {
        "HTTP/1.1 200 OK\r\n\r\n",
        "HTTP/1.1 404 Not Found\r\n\r\n",
        "HTTP/1.0 302 Found\r\nLocation: /\r\n\r\n",
        "HTTP/1.1 200 OK\n\n",                /* bare LF */
        "HTTP/1.1 204\r\n\r\n",               /* no reason phrase */
        "HTTP/2 200 OK\r\n\r\n",              /* not HTTP/1.x */
        "HTTP/1.1 399 \tOdd\x80 reason\r\n\r\n",
        "HTTP/1.1 199 Early\r\n\r\n",         /* 1xx is not a final answer */
        "HTTP/1.1 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",             /* two digits */
        "HTTP/1.1 201 Created\r\n\r\n",
        "HTTP/1.1 500 Internal Server Error\r\n\r\n",
        "HTTP/1.1 301 Moved\r\n\r\n",
        "HTTP/1.1 200 O\x01K\r\n\r\n",        /* a control character */
        "HTTP/1.1 200 OK\r\n\r\n",
        NULL,                                 /* long_reason: more than the 512-byte buffer */
        "HTTP/1.1 200 OK\r\n\r\n",
        GARBAGE,
    };
    static const struct {
        int         healthy;
        const char *detail;
    } want[] = {
        {1, "HTTP 200"}, {0, "HTTP 404"},        {1, "HTTP 302"},
        {0, "bad status line"}, {1, "HTTP 204"}, {0, "bad status line"},
        {1, "HTTP 399"}, {0, "HTTP 199"},        {1, "HTTP 200"},
        {0, "bad status line"}, {1, "HTTP 201"}, {0, "HTTP 500"},
        {1, "HTTP 301"}, {0, "bad status line"}, {1, "HTTP 200"},
        {0, "bad status line"}, {1, "HTTP 200"}, {0, "bad status line"},
    };
    const size_t n = sizeof(script) / sizeof(script[0]);
    struct health_spec spec = fast_spec(HEALTH_HTTP, 1, 1);

    (void)state;
    assert_int_equal(n, sizeof(want) / sizeof(want[0]));
    memset(long_reason, 'x', sizeof(long_reason) - 1);
    memcpy(long_reason, "HTTP/1.1 200 ", 13);
    memcpy(long_reason + sizeof(long_reason) - 5, "\r\n\r\n", 5);
    script[15] = long_reason;
    srv_script(script, n);
    check_start(&spec);
    assert_true(run_until(have_events, n, WAIT_MS));
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(fx.ev[i].healthy, want[i].healthy);
        assert_string_equal(fx.ev[i].detail, want[i].detail);
        assert_int_equal(fx.ev[i].served, i + 1);
    }
}

static void test_a_server_that_never_answers_times_out(void **state)
{
    static const char *const script[] = {OK_200, NEVER_ANSWER};
    struct health_spec spec = fast_spec(HEALTH_HTTP, 1, 1);

    (void)state;
    srv_script(script, 2);
    check_start(&spec);
    assert_true(run_until(have_events, 2, WAIT_MS));
    assert_event(0, 1, "HTTP 200");
    assert_event(1, 0, "timeout");
    /* the next attempt starts after the callback, and its timeout counts from its start */
    assert_true(fx.ev[1].at - fx.ev[0].at >= spec.timeout_ms);
}

static void test_a_close_before_the_status_line_fails(void **state)
{
    static const char *const script[] = {OK_200, CLOSE_SILENTLY};
    struct health_spec spec = fast_spec(HEALTH_HTTP, 1, 1);

    (void)state;
    srv_script(script, 2);
    check_start(&spec);
    assert_true(run_until(have_events, 2, WAIT_MS));
    assert_event(0, 1, "HTTP 200");
    assert_event(1, 0, "closed before status line");
}

static void test_a_closed_port_fails_with_connection_refused(void **state)
{
    static const char *const script[] = {OK_200};
    struct health_spec spec = fast_spec(HEALTH_HTTP, 1, 1);

    (void)state;
    srv_script(script, 1);
    fx.close_listener_on_healthy = 1;
    check_start(&spec);
    assert_true(run_until(have_events, 2, WAIT_MS));
    assert_event(0, 1, "HTTP 200");
    assert_event(1, 0, "connect: connection refused");
    assert_int_equal(fx.served, 1);
}

static void test_tcp_check_passes_with_a_listener_and_fails_without(void **state)
{
    static const char *const script[] = {OK_200};
    struct health_spec spec = fast_spec(HEALTH_TCP, 1, 1);

    (void)state;
    srv_script(script, 1);
    fx.close_listener_on_healthy = 1;
    check_start(&spec);
    assert_true(run_until(have_events, 2, WAIT_MS));
    assert_event(0, 1, "connected");
    assert_event(1, 0, "connect: connection refused");
    assert_int_equal(fx.served, 0); /* a TCP check sends nothing */
}

static void test_http_request_is_the_documented_one(void **state)
{
    static const char *const script[] = {OK_200};
    static const char want[] = "GET /custom?x=1 HTTP/1.1\r\n"
                               "Host: api.example.test:8080\r\n"
                               "User-Agent: hostess-edge-health\r\n"
                               "Connection: close\r\n"
                               "\r\n";
    struct health_spec spec = fast_spec(HEALTH_HTTP, 1, 1);

    (void)state;
    snprintf(spec.path, sizeof(spec.path), "/custom?x=1");
    snprintf(spec.host, sizeof(spec.host), "api.example.test:8080");
    srv_script(script, 1);
    check_start(&spec);
    assert_true(run_until(have_events, 1, WAIT_MS));
    fx.captured[fx.captured_len] = '\0';
    assert_string_equal(fx.captured, want);
}

static void test_the_longest_path_and_host_fit(void **state)
{
    static const char *const script[] = {OK_200};
    struct health_spec spec = fast_spec(HEALTH_HTTP, 1, 1);
    char want[1024];

    (void)state;
    memset(spec.path, 'p', sizeof(spec.path) - 1);
    spec.path[0] = '/';
    spec.path[sizeof(spec.path) - 1] = '\0';
    memset(spec.host, 'h', sizeof(spec.host) - 1);
    spec.host[sizeof(spec.host) - 1] = '\0';
    snprintf(want, sizeof(want),
             "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: hostess-edge-health\r\n"
             "Connection: close\r\n\r\n",
             spec.path, spec.host);
    srv_script(script, 1);
    check_start(&spec);
    assert_true(run_until(have_events, 1, WAIT_MS));
    fx.captured[fx.captured_len] = '\0';
    assert_string_equal(fx.captured, want);
}

static void test_stop_inside_the_callback_ends_all_callbacks(void **state)
{
    /* without the stop, attempt 2 would make it unhealthy */
    static const char *const script[] = {OK_200, ERR_503};
    struct health_spec spec = fast_spec(HEALTH_HTTP, 1, 1);

    (void)state;
    srv_script(script, 2);
    fx.stop_in_cb = 1;
    check_start(&spec);
    assert_true(run_until(have_events, 1, WAIT_MS));
    assert_null(fx.hc);
    run_for(150);
    assert_int_equal(fx.nev, 1);
    assert_int_equal(fx.served, 1);
}

static void test_stop_inside_the_unhealthy_callback(void **state)
{
    static const char *const script[] = {OK_200, GARBAGE};
    struct health_spec spec = fast_spec(HEALTH_HTTP, 1, 1);

    (void)state;
    srv_script(script, 2);
    check_start(&spec);
    assert_true(run_until(have_events, 1, WAIT_MS));
    fx.stop_in_cb = 1;
    assert_true(run_until(have_events, 2, WAIT_MS));
    assert_event(1, 0, "bad status line");
    assert_null(fx.hc);
    run_for(100);
    assert_int_equal(fx.nev, 2);
}

static void test_stop_before_the_first_attempt(void **state)
{
    static const char *const script[] = {OK_200};
    struct health_spec spec = fast_spec(HEALTH_HTTP, 1, 1);

    (void)state;
    srv_script(script, 1);
    check_start(&spec);
    check_stop();
    run_for(100);
    assert_int_equal(fx.nev, 0);
    assert_int_equal(fx.accepted, 0);
}

/* A silent server holds each attempt for the whole timeout (100 ms) while the interval is
 * 20 ms: attempts must wait for one another, so one starts about every 100 ms, not every
 * 20 ms. Then stop with an attempt in flight: teardown proves every handle closed, and
 * ASan/valgrind that the struct was freed. */
static void test_one_attempt_at_a_time_and_stop_in_flight(void **state)
{
    static const char *const script[] = {NEVER_ANSWER};
    struct health_spec spec = fast_spec(HEALTH_HTTP, 1, 1);
    uint64_t t0, elapsed;

    (void)state;
    srv_script(script, 1);
    uv_update_time(&fx.loop);
    t0 = uv_now(&fx.loop);
    check_start(&spec);
    run_for(350);
    elapsed = uv_now(&fx.loop) - t0;
    assert_true(fx.accepted >= 2);
    assert_true(fx.accepted <= elapsed / spec.timeout_ms + 1);
    /* now catch one in flight: the request has arrived and is unanswered */
    assert_true(run_until(have_served, fx.served + 1, WAIT_MS));
    check_stop();
    run_for(150);
    assert_int_equal(fx.nev, 0);
}

/* A TCP check that cannot connect in time. The target is a plain listening socket with a
 * backlog of 0 that nobody accepts from: the check's first connection completes into the
 * accept queue (healthy), then a filler connection keeps the queue full, so Linux drops
 * every later SYN and the check's connect stays pending until its timeout. Then stop while
 * a connect is pending. */
static void test_tcp_connect_timeout_and_stop_while_connecting(void **state)
{
    struct health_spec spec = fast_spec(HEALTH_TCP, 1, 1);
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    (void)state;
    fx.raw_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fx.raw_fd >= 0);
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sin), 0);
    assert_int_equal(bind(fx.raw_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(fx.raw_fd, 0), 0);
    assert_int_equal(getsockname(fx.raw_fd, (struct sockaddr *)&sin, &len), 0);
    fx.addr = sin;
    fx.fill_queue_on_healthy = 1;
    check_start(&spec);
    assert_true(run_until(have_events, 2, WAIT_MS));
    assert_event(0, 1, "connected");
    assert_event(1, 0, "timeout");
    assert_true(fx.ev[1].at - fx.ev[0].at >= spec.timeout_ms);
    /* the next attempt started at once (the interval had passed) and is connecting */
    run_for(30);
    check_stop();
    run_for(50);
    assert_int_equal(fx.nev, 2);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_defaults_match_the_header),
        T(test_start_rejects_a_spec_it_cannot_run),
        T(test_http_200_makes_the_target_healthy_once),
        T(test_http_503_never_makes_the_target_healthy),
        T(test_200_then_503_is_unhealthy_after_exactly_the_threshold),
        T(test_thresholds_count_consecutive_results_only),
        T(test_a_trusted_target_starts_healthy_and_stays_so_on_passes),
        T(test_a_trusted_target_needs_the_threshold_of_failures),
        T(test_status_lines_pass_on_2xx_and_3xx_only),
        T(test_a_server_that_never_answers_times_out),
        T(test_a_close_before_the_status_line_fails),
        T(test_a_closed_port_fails_with_connection_refused),
        T(test_tcp_check_passes_with_a_listener_and_fails_without),
        T(test_http_request_is_the_documented_one),
        T(test_the_longest_path_and_host_fit),
        T(test_stop_inside_the_callback_ends_all_callbacks),
        T(test_stop_inside_the_unhealthy_callback),
        T(test_stop_before_the_first_attempt),
        T(test_one_attempt_at_a_time_and_stop_in_flight),
        T(test_tcp_connect_timeout_and_stop_while_connecting),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
