/*
 * Unit tests for control/http_server.c: the control API's HTTP/1.1 server, over real
 * sockets on 127.0.0.1 (an ephemeral port).
 *
 * The server runs on this test's own libuv loop in the main thread; the client is plain
 * blocking sockets in a second thread (with receive timeouts), which records the first
 * failed check (cmocka's asserts must not run off the main thread). The loop ends when
 * the client is done and every deferred answer or stream has finished; a watchdog timer
 * bounds it. Each run ends like libuv's MAKE_VALGRIND_HAPPY: no handle left open, and
 * uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <uv.h>

#include "control/http_server.h"

#define TOKEN            "s3cret-token"
#define MAX_BODY         1024u
#define WATCHDOG_MS      5000
#define CLIENT_TIMEOUT_S 4
#define DEFER_MS         50

enum mode {
    M_NOW,         /* answer 200 {"n":N} at once, with an ETag */
    M_DEFER,       /* answer every request DEFER_MS later */
    M_DEFER_FIRST, /* the first request DEFER_MS later, the others at once */
    M_HOLD,        /* never answer: ctl_server_close() drops them */
    M_ERROR,       /* ctl_respond_error() with characters that need escaping */
    M_SSE,         /* a stream: two events, then wait for the client to leave */
    M_SSE_END,     /* a stream: one event, then ctl_sse_end() */
    M_SSE_FLOOD,   /* a stream to a client that never reads */
    M_SSE_GONE,    /* DEFER_MS later, try to start a stream for a client that left */
};

struct seen { /* one handler call, copied */
    char method[16], path[256], query[256], if_match[64], ctype[64], body[2048];
    int has_if_match, has_ctype;
    size_t body_len;
    int previous_answered; /* every earlier request had its answer when this came */
};

struct fx {
    /* set by the test */
    enum mode mode;
    uint32_t idle_ms;
    const char *new_token; /* ctl_server_set_tokens({new_token}) after start */
    int need_stream_close;
    void (*client)(struct fx *f);

    /* loop thread */
    uv_loop_t loop;
    struct ctl_server *srv;
    uv_async_t client_done;
    uv_timer_t watchdog, defer;
    int ncalls, outstanding, finished, client_finished, timed_out;
    struct seen seen[8];
    struct ctl_request *deferred[8];
    int deferred_n[8], ndeferred;
    struct ctl_sse *sse;
    int sse_closed, sse_sends, sse_refused, sse_gone_null;

    /* shared */
    int port;
    atomic_int handler_calls;
    atomic_int stream_closed;

    /* client thread (read by the test after the join) */
    uv_thread_t thread;
    const char *cerr;
    int cerr_line;
    int elapsed_ms;
};

/* ---- server side ------------------------------------------------------------------- */

static void finish(struct fx *f)
{
    if (f->finished)
        return;
    f->finished = 1;
    ctl_server_close(f->srv);
    uv_close((uv_handle_t *)&f->watchdog, NULL);
    uv_close((uv_handle_t *)&f->defer, NULL);
    if (f->client_finished) /* else on_client_done closes it: the thread still sends */
        uv_close((uv_handle_t *)&f->client_done, NULL);
}

static void maybe_finish(struct fx *f)
{
    if (f->client_finished && f->outstanding == 0 && (!f->need_stream_close || f->sse_closed))
        finish(f);
}

static void on_client_done(uv_async_t *a)
{
    struct fx *f = a->data;
    f->client_finished = 1;
    if (f->finished)
        uv_close((uv_handle_t *)&f->client_done, NULL);
    else
        maybe_finish(f);
}

static void on_watchdog(uv_timer_t *t)
{
    struct fx *f = t->data;
    f->timed_out = 1;
    finish(f);
}

static void answer(struct ctl_request *req, int n)
{
    char body[32];
    snprintf(body, sizeof body, "{\"n\":%d}", n);
    ctl_respond_json(req, 200, "ETag: \"7\"\r\n", body);
}

static void on_stream_close(struct ctl_sse *s, void *ud)
{
    struct fx *f = ud;
    assert_ptr_equal(s, f->sse);
    f->sse_closed++;
    atomic_store(&f->stream_closed, 1);
    maybe_finish(f);
}

static void on_defer(uv_timer_t *t)
{
    struct fx *f = t->data;
    for (int i = 0; i < f->ndeferred; i++) {
        if (f->mode == M_SSE_GONE)
            f->sse_gone_null = ctl_sse_begin(f->deferred[i], on_stream_close, f) == NULL;
        else
            answer(f->deferred[i], f->deferred_n[i]);
        f->outstanding--;
    }
    f->ndeferred = 0;
    maybe_finish(f);
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static void handler(struct ctl_request *req, const struct ctl_request_view *v, void *ud)
{
    struct fx *f = ud;
    int n = ++f->ncalls;

    if (n <= 8) {
        struct seen *s = &f->seen[n - 1];
        copy(s->method, sizeof s->method, v->method);
        copy(s->path, sizeof s->path, v->path);
        copy(s->query, sizeof s->query, v->query);
        copy(s->if_match, sizeof s->if_match, v->if_match);
        copy(s->ctype, sizeof s->ctype, v->content_type);
        s->has_if_match = v->if_match != NULL;
        s->has_ctype = v->content_type != NULL;
        s->body_len = v->body_len;
        if (v->body_len < sizeof s->body)
            memcpy(s->body, v->body, v->body_len + 1); /* with its NUL */
        s->previous_answered = f->outstanding == 0;
    }
    atomic_store(&f->handler_calls, n);

    if (strcmp(v->path, "/v1/no-content") == 0) {
        ctl_respond(req, 204, NULL, NULL, NULL, 0);
        return;
    }
    switch (f->mode) {
    case M_NOW:
        answer(req, n);
        return;
    case M_DEFER_FIRST:
        if (n > 1) {
            answer(req, n);
            return;
        }
        /* fall through */
    case M_DEFER:
    case M_SSE_GONE:
        f->deferred[f->ndeferred] = req;
        f->deferred_n[f->ndeferred++] = n;
        f->outstanding++;
        /* M_SSE_GONE: long enough for the server to have seen the client leave. */
        uv_timer_start(&f->defer, on_defer, f->mode == M_SSE_GONE ? 300 : DEFER_MS, 0);
        return;
    case M_HOLD:
        return;
    case M_ERROR:
        ctl_respond_error(req, 409, "conflict", "say \"hi\"\n\\ <é>", "{\"field\":\"x\"}");
        return;
    case M_SSE:
    case M_SSE_END:
        f->sse = ctl_sse_begin(req, on_stream_close, f);
        assert_non_null(f->sse);
        assert_int_equal(ctl_sse_send(f->sse, 1, "change", "{\"generation\":1}"), 0);
        if (f->mode == M_SSE_END) {
            ctl_sse_end(f->sse);
            return;
        }
        assert_int_equal(ctl_sse_send(f->sse, 2, NULL, "{\"generation\":2}"), 0);
        return;
    case M_SSE_FLOOD: {
        static char big[64 * 1024 + 1];
        memset(big, 'x', sizeof big - 1);
        f->sse = ctl_sse_begin(req, on_stream_close, f);
        assert_non_null(f->sse);
        /* Bounded: loopback socket buffers plus 4 MiB are far below 1000 × 64 KiB. */
        for (int i = 0; i < 1000; i++) {
            if (ctl_sse_send(f->sse, (uint64_t)i, "change", big) != 0) {
                f->sse_refused = 1;
                break;
            }
            f->sse_sends++;
        }
        return;
    }
    }
}

static void count_open(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        ++*(int *)arg;
}

static void client_main(void *arg)
{
    struct fx *f = arg;
    f->client(f);
    uv_async_send(&f->client_done);
}

static void run(struct fx *f)
{
    struct sockaddr_in a;
    const char *const toks[] = {"other-token", TOKEN};
    char err[256];
    int open = 0;

    signal(SIGPIPE, SIG_IGN);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &a), 0);
    struct ctl_server_options o = {
        .addr = (const struct sockaddr *)&a,
        .addrlen = sizeof a,
        .max_body = MAX_BODY,
        .tokens = toks,
        .ntokens = 2,
        .idle_ms = f->idle_ms ? f->idle_ms : 5000,
        .handler = handler,
        .ud = f,
    };
    f->srv = ctl_server_start(&f->loop, &o, err, sizeof err);
    assert_non_null(f->srv);
    f->port = ctl_server_port(f->srv);
    assert_true(f->port > 0);
    if (f->new_token != NULL) {
        const char *const nt[] = {f->new_token};
        assert_int_equal(ctl_server_set_tokens(f->srv, nt, 1), 0);
    }
    assert_int_equal(uv_async_init(&f->loop, &f->client_done, on_client_done), 0);
    f->client_done.data = f;
    uv_timer_init(&f->loop, &f->watchdog);
    uv_timer_init(&f->loop, &f->defer);
    f->watchdog.data = f->defer.data = f;
    uv_timer_start(&f->watchdog, on_watchdog, WATCHDOG_MS, 0);
    assert_int_equal(uv_thread_create(&f->thread, client_main, f), 0);

    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_thread_join(&f->thread), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_walk(&f->loop, count_open, &open);
    assert_int_equal(open, 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    if (f->cerr != NULL)
        fail_msg("client check failed at line %d: %s", f->cerr_line, f->cerr);
    assert_false(f->timed_out);
}

/* ---- client side (second thread, blocking sockets) --------------------------------- */

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            if (f->cerr == NULL) {                                                                 \
                f->cerr = #cond;                                                                   \
                f->cerr_line = __LINE__;                                                           \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
    } while (0)

struct cl {
    int fd;
    size_t len;
    char buf[32768];
};

struct resp {
    int status;
    char head[2048];
    char body[4096];
    size_t body_len;
};

static int cl_open(struct fx *f, struct cl *c)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    struct timeval tv = {CLIENT_TIMEOUT_S, 0};

    c->len = 0;
    c->buf[0] = '\0';
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -1;
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return connect(c->fd, (struct sockaddr *)&a, sizeof a);
}

static int cl_sendn(struct cl *c, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static int cl_send(struct cl *c, const char *s)
{
    return cl_sendn(c, s, strlen(s));
}

static ssize_t cl_more(struct cl *c)
{
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len - 1, 0);
    if (n > 0)
        c->len += (size_t)n;
    c->buf[c->len] = '\0';
    return n;
}

/* Reads one response (Content-Length framing, or none for 100/204). 0 or -1. */
static int cl_response(struct cl *c, struct resp *r)
{
    char *end;
    size_t cl = 0;

    c->buf[c->len] = '\0';
    while ((end = strstr(c->buf, "\r\n\r\n")) == NULL)
        if (cl_more(c) <= 0)
            return -1;
    size_t hlen = (size_t)(end - c->buf) + 4;
    if (hlen >= sizeof r->head)
        return -1;
    memcpy(r->head, c->buf, hlen);
    r->head[hlen] = '\0';
    if (sscanf(r->head, "HTTP/1.1 %d ", &r->status) != 1)
        return -1;
    const char *p = strstr(r->head, "\r\nContent-Length: ");
    if (p != NULL)
        cl = strtoul(p + 18, NULL, 10);
    if (cl >= sizeof r->body)
        return -1;
    while (c->len < hlen + cl)
        if (cl_more(c) <= 0)
            return -1;
    memcpy(r->body, c->buf + hlen, cl);
    r->body[cl] = '\0';
    r->body_len = cl;
    memmove(c->buf, c->buf + hlen + cl, c->len - hlen - cl);
    c->len -= hlen + cl;
    c->buf[c->len] = '\0';
    return 0;
}

/* 1 when the server closed the connection and sent nothing more. */
static int cl_eof(struct cl *c)
{
    return c->len == 0 && cl_more(c) == 0;
}

static void cl_close(struct cl *c)
{
    close(c->fd);
}

/* Closes with a reset (SO_LINGER 0): the server's read fails with ECONNRESET. */
static void cl_reset(struct cl *c)
{
    struct linger lg = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(c->fd);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Waits (bounded) until the handler has been called n times. */
static int wait_calls(struct fx *f, int n)
{
    for (int i = 0; i < CLIENT_TIMEOUT_S * 200; i++) {
        if (atomic_load(&f->handler_calls) >= n)
            return 0;
        sleep_ms(5);
    }
    return -1;
}

static struct fx *fx_new(enum mode mode, void (*client)(struct fx *))
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->mode = mode;
    f->client = client;
    return f;
}

#define AUTH "Authorization: Bearer " TOKEN "\r\n"

/* ---- authentication ------------------------------------------------------------------ */

static void client_health(struct fx *f)
{
    struct cl c;
    struct resp r;
    CHECK(cl_open(f, &c) == 0);
    CHECK(cl_send(&c, "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
    CHECK(cl_response(&c, &r) == 0);
    CHECK(r.status == 200);
    CHECK(strcmp(r.body, "{\"n\":1}") == 0);
    CHECK(strstr(r.head, "Content-Type: application/json\r\n") != NULL);
    CHECK(strstr(r.head, "ETag: \"7\"\r\n") != NULL);
    CHECK(strstr(r.head, "Connection: close") == NULL);
    /* keep-alive: a second request on the same connection */
    CHECK(cl_send(&c, "GET /v1/health?verbose=1 HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
    CHECK(cl_response(&c, &r) == 0);
    CHECK(r.status == 200 && strcmp(r.body, "{\"n\":2}") == 0);
    cl_close(&c);
}

static void test_health_reaches_the_handler_without_a_token(void **state)
{
    struct fx *f = fx_new(M_NOW, client_health);
    (void)state;
    run(f);
    assert_int_equal(f->ncalls, 2);
    assert_string_equal(f->seen[0].method, "GET");
    assert_string_equal(f->seen[0].path, "/v1/health");
    assert_string_equal(f->seen[0].query, "");
    assert_string_equal(f->seen[1].query, "verbose=1");
    assert_false(f->seen[0].has_if_match);
    assert_int_equal(f->seen[0].body_len, 0);
    assert_string_equal(f->seen[0].body, "");
    free(f);
}

static void client_no_token(struct fx *f)
{
    struct cl c;
    struct resp r;
    CHECK(cl_open(f, &c) == 0);
    CHECK(cl_send(&c, "GET /v1/services HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
    CHECK(cl_response(&c, &r) == 0);
    CHECK(r.status == 401);
    CHECK(strstr(r.head, "HTTP/1.1 401 Unauthorized\r\n") == r.head);
    CHECK(strstr(r.head, "WWW-Authenticate: Bearer\r\n") != NULL);
    CHECK(strstr(r.body, "\"code\":\"unauthorized\"") != NULL);
    /* No body was announced: the connection goes on. POST /v1/health needs a token. */
    CHECK(cl_send(&c, "POST /v1/health HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
    CHECK(cl_response(&c, &r) == 0);
    CHECK(r.status == 401);
    /* A body was announced and not read: 401, then the connection closes. */
    CHECK(cl_send(&c, "PUT /v1/services/a/b/c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                      "\r\nhello") == 0);
    CHECK(cl_response(&c, &r) == 0);
    CHECK(r.status == 401);
    CHECK(strstr(r.head, "Connection: close\r\n") != NULL);
    CHECK(cl_eof(&c));
    cl_close(&c);
}

static void test_other_paths_without_a_token_get_401_and_never_reach_the_handler(void **state)
{
    struct fx *f = fx_new(M_NOW, client_no_token);
    (void)state;
    run(f);
    assert_int_equal(f->ncalls, 0);
    free(f);
}

static void client_wrong_tokens(struct fx *f)
{
    static const char *const bad[] = {
        "Authorization: Bearer wrong\r\n",
        "Authorization: Bearer s3cret\r\n",     /* a prefix of the token */
        "Authorization: Bearer " TOKEN "x\r\n", /* the token and more */
        "Authorization: Basic " TOKEN "\r\n",   /* not Bearer */
        "Authorization: Bearer\r\n",            /* no token */
        AUTH "Authorization: Bearer wrong\r\n", /* two of them */
    };
    struct cl c;
    struct resp r;
    char req[256];
    CHECK(cl_open(f, &c) == 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(req, sizeof req, "GET /v1/services HTTP/1.1\r\nHost: x\r\n%s\r\n", bad[i]);
        CHECK(cl_send(&c, req) == 0);
        CHECK(cl_response(&c, &r) == 0);
        CHECK(r.status == 401);
    }
    /* The scheme is case-insensitive; any configured token is accepted. */
    CHECK(cl_send(&c, "GET /v1/services HTTP/1.1\r\nHost: x\r\nauthorization: bearer " TOKEN
                      "\r\n\r\n") == 0);
    CHECK(cl_response(&c, &r) == 0);
    CHECK(r.status == 200);
    CHECK(cl_send(&c, "GET /v1/services HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                      "other-token\r\n\r\n") == 0);
    CHECK(cl_response(&c, &r) == 0);
    CHECK(r.status == 200);
    cl_close(&c);
}

static void test_a_wrong_token_gets_401(void **state)
{
    struct fx *f = fx_new(M_NOW, client_wrong_tokens);
    (void)state;
    run(f);
    assert_int_equal(f->ncalls, 2);
    free(f);
}

static void client_new_token(struct fx *f)
{
    struct cl c;
    struct resp r;
    CHECK(cl_open(f, &c) == 0);
    CHECK(cl_send(&c, "GET /v1/services HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n") == 0);
    CHECK(cl_response(&c, &r) == 0);
    CHECK(r.status == 401);
    CHECK(cl_send(&c, "GET /v1/services HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer  "
                      "rotated \r\n\r\n") == 0);
    CHECK(cl_response(&c, &r) == 0);
    CHECK(r.status == 200);
    cl_close(&c);
}

static void test_set_tokens_replaces_the_accepted_tokens(void **state)
{
    struct fx *f = fx_new(M_NOW, client_new_token);
    (void)state;
    f->new_token = "rotated";
    run(f);
    assert_int_equal(f->ncalls, 1);
    free(f);
}

/* ---- what the handler sees ----------------------------------------------------------- */

static void client_full_request(struct fx *f)
{
    struct cl c;
    struct resp r;
    CHECK(cl_open(f, &c) == 0);
    CHECK(cl_send(&c, "PUT /v1/services/my%20proj/prod/w%65b?dry_run=1&x=%41 HTTP/1.1\r\n"
                      "Host: x\r\n" AUTH "If-Match: \"7\"\r\n"
                      "Content-Type: application/json\r\nContent-Length: 13\r\n\r\n"
                      "{\"ports\":[]}\n") == 0);
    CHECK(cl_response(&c, &r) == 0);
    CHECK(r.status == 200);
    CHECK(strcmp(r.body, "{\"n\":1}") == 0);
    cl_close(&c);
}

static void test_the_right_token_passes_method_decoded_path_query_if_match_and_body(void **s)
{
    struct fx *f = fx_new(M_NOW, client_full_request);
    (void)s;
    run(f);
    assert_int_equal(f->ncalls, 1);
    assert_string_equal(f->seen[0].method, "PUT");
    assert_string_equal(f->seen[0].path, "/v1/services/my proj/prod/web");
    assert_string_equal(f->seen[0].query, "dry_run=1&x=%41");
    assert_true(f->seen[0].has_if_match);
    assert_string_equal(f->seen[0].if_match, "\"7\"");
    assert_true(f->seen[0].has_ctype);
    assert_string_equal(f->seen[0].ctype, "application/json");
    assert_int_equal(f->seen[0].body_len, 13);
    assert_string_equal(f->seen[0].body, "{\"ports\":[]}\n");
    free(f);
}

static void client_chunked(struct fx *f)
{
    struct cl c;
    struct resp r;
    CHECK(cl_open(f, &c) == 0);
    CHECK(cl_send(&c, "POST /v1/tunnels/tokens HTTP/1.1\r\nHost: x\r\n" AUTH
                      "Transfer-Encoding: chunked\r\n\r\n5\r\nhel") == 0);
    sleep_ms(20); /* the rest arrives in a later read */
    CHECK(cl_send(&c, "lo\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n") == 0);
    CHECK(cl_response(&c, &r) == 0);
    CHECK(r.status == 200);
    cl_close(&c);
}

static void test_a_chunked_body_is_decoded(void **state)
{
    struct fx *f = fx_new(M_NOW, client_chunked);
    (void)state;
    run(f);
    assert_int_equal(f->ncalls, 1);
    assert_int_equal(f->seen[0].body_len, 12);
    assert_string_equal(f->seen[0].body, "hello, world");
    free(f);
}

/* ---- limits and malformed requests --------------------------------------------------- */

static void client_too_large(struct fx *f)
{
    struct cl c;
    struct resp r;
    char req[512];
    /* Content-Length over max_body: 413 before any body byte (and no 100 Continue). */
    CHECK(cl_open(f, &c) == 0);
    snprintf(req, sizeof req,
             "POST /v1/services/a/b/c/deployments HTTP/1.1\r\nHost: x\r\n" AUTH
             "Expect: 100-continue\r\nContent-Length: %u\r\n\r\n",
             MAX_BODY + 1);
    CHECK(cl_send(&c, req) == 0);
    CHECK(cl_response(&c, &r) == 0);
    CHECK(r.status == 413);
    CHECK(strstr(r.body, "\"code\":\"payload_too_large\"") != NULL);
    CHECK(cl_eof(&c));
    cl_close(&c);

    /* Chunked: 413 once the decoded size passes max_body. */
    CHECK(cl_open(f, &c) == 0);
    CHECK(cl_send(&c, "POST /v1/x HTTP/1.1\r\nHost: x\r\n" AUTH
                      "Transfer-Encoding: chunked\r\n\r\n") == 0);
    char chunk[700];
    memset(chunk, 'a', sizeof chunk);
    for (int i = 0; i < 2; i++) {
        CHECK(cl_send(&c, "2bc\r\n") == 0); /* 700 */
        CHECK(cl_sendn(&c, chunk, sizeof chunk) == 0);
        CHECK(cl_send(&c, "\r\n") == 0);
    }
    CHECK(cl_response(&c, &r) == 0);
    CHECK(r.status == 413);
    CHECK(cl_eof(&c));
    cl_close(&c);

    /* Exactly max_body is fine. */
    CHECK(cl_open(f, &c) == 0);
    snprintf(req, sizeof req,
             "POST /v1/x HTTP/1.1\r\nHost: x\r\n" AUTH "Content-Length: %u\r\n\r\n", MAX_BODY);
    CHECK(cl_send(&c, req) == 0);
    char body[MAX_BODY];
    memset(body, 'b', sizeof body);
    CHECK(cl_sendn(&c, body, sizeof body) == 0);
    CHECK(cl_response(&c, &r) == 0);
    CHECK(r.status == 200);
    cl_close(&c);
}

static void test_bodies_over_max_body_get_413_and_never_reach_the_handler(void **state)
{
    struct fx *f = fx_new(M_NOW, client_too_large);
    (void)state;
    run(f);
    assert_int_equal(f->ncalls, 1); /* only the last one, of exactly max_body */
    assert_int_equal(f->seen[0].body_len, MAX_BODY);
    free(f);
}

/* Sends req on a new connection; expects status, then the connection to close. */
static int one_rejected(struct fx *f, const char *req, size_t len, int status)
{
    struct cl c;
    struct resp r;
    int ok;
    if (cl_open(f, &c) != 0)
        return 0;
    ok = cl_sendn(&c, req, len) == 0 && cl_response(&c, &r) == 0 && r.status == status &&
         strstr(r.head, "Content-Type: application/json\r\n") != NULL &&
         strstr(r.body, "{\"error\":{\"code\":\"") == r.body && cl_eof(&c);
    cl_close(&c);
    return ok;
}

#define REJECTED(req, status) one_rejected(f, req, sizeof(req) - 1, status)

static void client_malformed(struct fx *f)
{
    static char long_line[9000], big_head[17000];
    CHECK(REJECTED("GET /v1/health HTTP/1.1 junk\r\nHost: x\r\n\r\n", 400));
    CHECK(REJECTED("GET  /v1/health HTTP/1.1\r\nHost: x\r\n\r\n", 400));
    CHECK(REJECTED("NOT A REQUEST\r\n\r\n", 400));
    CHECK(REJECTED("GET /v1/health HTTP/1.1\r\n\r\n", 400)); /* no Host */
    CHECK(REJECTED("GET /v1/a%00b HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n", 400));
    CHECK(REJECTED("GET /v1/a%zzb HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n", 400));
    CHECK(REJECTED("GET /v1/a%4 HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n", 400));
    CHECK(REJECTED("GET /v1/a HTTP/1.1\r\nHost: x\r\n" AUTH "If-Match: \"1\"\r\n"
                   "If-Match: \"2\"\r\n\r\n",
                   400));
    CHECK(REJECTED(
        "POST /v1/x HTTP/1.1\r\nHost: x\r\n" AUTH "Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400));
    CHECK(REJECTED("POST /v1/x HTTP/1.1\r\nHost: x\r\n" AUTH
                   "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                   400));
    int n = snprintf(long_line, sizeof long_line, "GET /");
    memset(long_line + n, 'a', 8500);
    snprintf(long_line + n + 8500, sizeof long_line - (size_t)n - 8500,
             " HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(one_rejected(f, long_line, strlen(long_line), 414));
    n = snprintf(big_head, sizeof big_head, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(big_head + n, 'a', 16500);
    snprintf(big_head + n + 16500, sizeof big_head - (size_t)n - 16500, "\r\n\r\n");
    CHECK(one_rejected(f, big_head, strlen(big_head), 431));
}

static void test_malformed_requests_get_400_414_431_and_close(void **state)
{
    struct fx *f = fx_new(M_NOW, client_malformed);
    (void)state;
    run(f);
    assert_int_equal(f->ncalls, 0);
    free(f);
}

/* ---- connections ----------------------------------------------------------------------- */

static void client_close_modes(struct fx *f)
{
    struct cl c;
    struct resp r;
    CHECK(cl_open(f, &c) == 0);
    CHECK(cl_send(&c, "GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") == 0);
    CHECK(cl_response(&c, &r) == 0);
    CHECK(r.status == 200);
    CHECK(strstr(r.head, "Connection: close\r\n") != NULL);
    CHECK(cl_eof(&c));
    cl_close(&c);

    CHECK(cl_open(f, &c) == 0); /* HTTP/1.0 closes, even when it asks for keep-alive */
    CHECK(cl_send(&c, "GET /v1/health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") == 0);
    CHECK(cl_response(&c, &r) == 0);
    CHECK(r.status == 200);
    CHECK(cl_eof(&c));
    cl_close(&c);

    CHECK(cl_open(f, &c) == 0); /* 204: neither Content-Length nor body; keep-alive */
    CHECK(cl_send(&c, "DELETE /v1/no-content HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n") == 0);
    CHECK(cl_response(&c, &r) == 0);
    CHECK(strcmp(r.head, "HTTP/1.1 204 No Content\r\n\r\n") == 0);
    cl_close(&c);

    CHECK(cl_open(f, &c) == 0); /* HEAD: Content-Length, no body */
    CHECK(cl_send(&c, "HEAD /v1/services HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n"
                      "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
    while (strstr(c.buf, "{\"n\":5}") == NULL)
        CHECK(cl_more(&c) > 0);
    CHECK(strncmp(c.buf, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n", 36) == 0);
    const char *second = strstr(c.buf, "\r\n\r\n"); /* the HEAD answer has no body */
    CHECK(second != NULL && strncmp(second + 4, "HTTP/1.1 200 OK\r\n", 17) == 0);
    cl_close(&c);
}

static void test_connection_close_http10_and_head_are_honoured(void **state)
{
    struct fx *f = fx_new(M_NOW, client_close_modes);
    (void)state;
    run(f);
    assert_int_equal(f->ncalls, 5);
    assert_string_equal(f->seen[2].method, "DELETE");
    assert_string_equal(f->seen[3].method, "HEAD");
    free(f);
}

static void client_pipelined(struct fx *f)
{
    struct cl c;
    struct resp r;
    CHECK(cl_open(f, &c) == 0);
    CHECK(cl_send(&c, "GET /v1/a HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n"
                      "POST /v1/b HTTP/1.1\r\nHost: x\r\n" AUTH "Content-Length: 2\r\n\r\nhi"
                      "GET /v1/c HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n") == 0);
    for (int i = 1; i <= 3; i++) {
        char want[16];
        snprintf(want, sizeof want, "{\"n\":%d}", i);
        CHECK(cl_response(&c, &r) == 0);
        CHECK(r.status == 200);
        CHECK(strcmp(r.body, want) == 0);
    }
    cl_close(&c);
}

static void test_pipelined_requests_are_dispatched_one_at_a_time_and_answered_in_order(void **s)
{
    struct fx *f = fx_new(M_DEFER_FIRST, client_pipelined);
    (void)s;
    run(f);
    assert_int_equal(f->ncalls, 3);
    assert_string_equal(f->seen[0].path, "/v1/a");
    assert_string_equal(f->seen[1].path, "/v1/b");
    assert_string_equal(f->seen[1].body, "hi");
    assert_string_equal(f->seen[2].path, "/v1/c");
    assert_true(f->seen[1].previous_answered); /* not dispatched while /v1/a was held */
    free(f);
}

#define NPIPE 100

static void client_pipeline_flood(struct fx *f)
{
    static char reqs[NPIPE * 128];
    struct cl c;
    struct resp r;
    size_t len = 0;
    for (int i = 1; i <= NPIPE; i++)
        len += (size_t)snprintf(reqs + len, sizeof reqs - len,
                                "GET /v1/p/%d HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n", i);
    CHECK(cl_open(f, &c) == 0);
    CHECK(cl_sendn(&c, reqs, len) == 0); /* more than rbuf holds while /v1/p/1 waits */
    for (int i = 1; i <= NPIPE; i++) {
        char want[16];
        snprintf(want, sizeof want, "{\"n\":%d}", i);
        CHECK(cl_response(&c, &r) == 0);
        CHECK(r.status == 200 && strcmp(r.body, want) == 0);
    }
    cl_close(&c);
}

static void test_a_full_buffer_pauses_reading_until_the_held_request_is_answered(void **s)
{
    struct fx *f = fx_new(M_DEFER_FIRST, client_pipeline_flood);
    (void)s;
    run(f);
    assert_int_equal(f->ncalls, NPIPE);
    assert_string_equal(f->seen[7].path, "/v1/p/8");
    free(f);
}

static void client_half_close(struct fx *f)
{
    struct cl c;
    struct resp r;
    CHECK(cl_open(f, &c) == 0); /* a whole request, then FIN: the answer still comes */
    CHECK(cl_send(&c, "GET /v1/a HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n") == 0);
    CHECK(shutdown(c.fd, SHUT_WR) == 0);
    CHECK(cl_response(&c, &r) == 0);
    CHECK(r.status == 200);
    CHECK(strstr(r.head, "Connection: close\r\n") != NULL);
    CHECK(cl_eof(&c));
    cl_close(&c);

    CHECK(cl_open(f, &c) == 0); /* FIN inside a head */
    CHECK(cl_send(&c, "GET /v1/a HTTP/1.1\r\nHost: x\r\n") == 0);
    CHECK(shutdown(c.fd, SHUT_WR) == 0);
    CHECK(cl_response(&c, &r) == 0);
    CHECK(r.status == 400);
    CHECK(cl_eof(&c));
    cl_close(&c);

    CHECK(cl_open(f, &c) == 0); /* FIN inside a body */
    CHECK(cl_send(&c, "PUT /v1/a HTTP/1.1\r\nHost: x\r\n" AUTH "Content-Length: 10\r\n\r\nabc") ==
          0);
    CHECK(shutdown(c.fd, SHUT_WR) == 0);
    CHECK(cl_response(&c, &r) == 0);
    CHECK(r.status == 400);
    CHECK(cl_eof(&c));
    cl_close(&c);
}

static void test_a_half_closed_client_gets_its_answer_and_a_cut_request_gets_400(void **s)
{
    struct fx *f = fx_new(M_DEFER, client_half_close);
    (void)s;
    run(f);
    assert_int_equal(f->ncalls, 1);
    free(f);
}

static void client_expect(struct fx *f)
{
    struct cl c;
    struct resp r;
    CHECK(cl_open(f, &c) == 0);
    CHECK(cl_send(&c, "POST /v1/x HTTP/1.1\r\nHost: x\r\n" AUTH
                      "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n") == 0);
    CHECK(cl_response(&c, &r) == 0);
    CHECK(strcmp(r.head, "HTTP/1.1 100 Continue\r\n\r\n") == 0);
    CHECK(cl_send(&c, "hello") == 0);
    CHECK(cl_response(&c, &r) == 0);
    CHECK(r.status == 200);
    cl_close(&c);

    CHECK(cl_open(f, &c) == 0); /* no token: 401 instead of 100, then close */
    CHECK(cl_send(&c, "POST /v1/x HTTP/1.1\r\nHost: x\r\n"
                      "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n") == 0);
    CHECK(cl_response(&c, &r) == 0);
    CHECK(r.status == 401);
    CHECK(cl_eof(&c));
    cl_close(&c);
}

static void test_expect_100_continue_is_answered_after_auth_and_before_the_body(void **s)
{
    struct fx *f = fx_new(M_NOW, client_expect);
    (void)s;
    run(f);
    assert_int_equal(f->ncalls, 1);
    assert_string_equal(f->seen[0].body, "hello");
    free(f);
}

static void client_idle(struct fx *f)
{
    struct cl c, d;
    struct resp r;
    int t0 = now_ms();
    CHECK(cl_open(f, &c) == 0); /* idle: closed without a word */
    CHECK(cl_open(f, &d) == 0); /* half a head: 408 */
    CHECK(cl_send(&d, "GET /v1/health HTTP/1.1\r\n") == 0);
    CHECK(cl_eof(&c));
    f->elapsed_ms = now_ms() - t0;
    CHECK(cl_response(&d, &r) == 0);
    CHECK(r.status == 408);
    CHECK(cl_eof(&d));
    cl_close(&c);
    cl_close(&d);
}

static void test_idle_and_slow_head_connections_time_out(void **state)
{
    struct fx *f = fx_new(M_NOW, client_idle);
    (void)state;
    f->idle_ms = 150;
    run(f);
    assert_true(f->elapsed_ms >= 100);
    assert_int_equal(f->ncalls, 0);
    free(f);
}

/* ---- deferred answers ------------------------------------------------------------------ */

static void client_deferred(struct fx *f)
{
    struct cl c;
    struct resp r;
    int t0 = now_ms();
    CHECK(cl_open(f, &c) == 0);
    CHECK(cl_send(&c, "POST /v1/services/a/b/c/deployments/d/promote HTTP/1.1\r\nHost: x\r\n" AUTH
                      "Content-Length: 2\r\n\r\n{}") == 0);
    CHECK(cl_response(&c, &r) == 0);
    f->elapsed_ms = now_ms() - t0;
    CHECK(r.status == 200 && strcmp(r.body, "{\"n\":1}") == 0);
    CHECK(cl_send(&c, "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n") == 0); /* still usable */
    CHECK(cl_response(&c, &r) == 0);
    CHECK(r.status == 200 && strcmp(r.body, "{\"n\":2}") == 0);
    cl_close(&c);
}

static void test_a_deferred_answer_arrives(void **state)
{
    struct fx *f = fx_new(M_DEFER, client_deferred);
    (void)state;
    run(f);
    assert_int_equal(f->ncalls, 2);
    assert_true(f->elapsed_ms >= DEFER_MS - 10);
    free(f);
}

static void client_leaves_early(struct fx *f)
{
    struct cl c, d;
    CHECK(cl_open(f, &c) == 0); /* FIN while the answer is pending */
    CHECK(cl_send(&c, "GET /v1/a HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n") == 0);
    CHECK(wait_calls(f, 1) == 0);
    cl_close(&c);
    CHECK(cl_open(f, &d) == 0); /* reset while the answer is pending */
    CHECK(cl_send(&d, "GET /v1/b HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n") == 0);
    CHECK(wait_calls(f, 2) == 0);
    cl_reset(&d);
}

static void test_a_client_gone_before_a_deferred_answer_is_harmless(void **state)
{
    struct fx *f = fx_new(M_DEFER, client_leaves_early);
    (void)state;
    run(f); /* ASan / valgrind: no use after free, no leak */
    assert_int_equal(f->ncalls, 2);
    assert_int_equal(f->outstanding, 0);
    free(f);
}

static void client_held(struct fx *f)
{
    struct cl c, d;
    CHECK(cl_open(f, &c) == 0); /* stays connected */
    CHECK(cl_send(&c, "GET /v1/a HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n") == 0);
    CHECK(wait_calls(f, 1) == 0);
    CHECK(cl_open(f, &d) == 0); /* leaves with a reset */
    CHECK(cl_send(&d, "GET /v1/b HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n") == 0);
    CHECK(wait_calls(f, 2) == 0);
    cl_reset(&d);
    sleep_ms(50); /* the server notices the reset */
    cl_close(&c);
}

static void test_server_close_drops_unanswered_requests(void **state)
{
    struct fx *f = fx_new(M_HOLD, client_held);
    (void)state;
    run(f); /* ASan / valgrind: nothing leaks */
    assert_int_equal(f->ncalls, 2);
    free(f);
}

static void client_error(struct fx *f)
{
    struct cl c;
    struct resp r;
    CHECK(cl_open(f, &c) == 0);
    CHECK(cl_send(&c, "GET /v1/x HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n") == 0);
    CHECK(cl_response(&c, &r) == 0);
    CHECK(r.status == 409);
    CHECK(strstr(r.head, "HTTP/1.1 409 Conflict\r\n") == r.head);
    CHECK(strstr(r.head, "Content-Type: application/json\r\n") != NULL);
    json_t *j = json_loads(r.body, 0, NULL);
    CHECK(j != NULL);
    const char *code = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
    const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    json_t *det = json_object_get(json_object_get(j, "error"), "details");
    int ok = code && strcmp(code, "conflict") == 0 && msg &&
             strcmp(msg, "say \"hi\"\n\\ <é>") == 0 && json_is_object(det) &&
             json_string_value(json_object_get(det, "field")) != NULL &&
             strcmp(json_string_value(json_object_get(det, "field")), "x") == 0;
    json_decref(j);
    CHECK(ok);
    cl_close(&c);
}

static void test_error_bodies_are_escaped_json(void **state)
{
    struct fx *f = fx_new(M_ERROR, client_error);
    (void)state;
    run(f);
    assert_int_equal(f->ncalls, 1);
    free(f);
}

/* ---- event streams --------------------------------------------------------------------- */

static const char sse_head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                               "Cache-Control: no-cache\r\nConnection: keep-alive\r\n\r\n";

static void client_sse(struct fx *f)
{
    static const char want[] = "id: 1\nevent: change\ndata: {\"generation\":1}\n\n"
                               "id: 2\ndata: {\"generation\":2}\n\n";
    struct cl c;
    CHECK(cl_open(f, &c) == 0);
    CHECK(cl_send(&c, "GET /v1/events HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n") == 0);
    while (c.len < sizeof sse_head - 1 + sizeof want - 1)
        CHECK(cl_more(&c) > 0);
    CHECK(strncmp(c.buf, sse_head, sizeof sse_head - 1) == 0);
    CHECK(strcmp(c.buf + sizeof sse_head - 1, want) == 0);
    /* Bytes sent on a stream are ignored. */
    CHECK(cl_send(&c, "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
    cl_close(&c);
}

static void test_sse_frames_events_and_reports_the_client_close_once(void **state)
{
    struct fx *f = fx_new(M_SSE, client_sse);
    (void)state;
    f->need_stream_close = 1;
    run(f);
    assert_int_equal(f->ncalls, 1);
    assert_int_equal(f->sse_closed, 1);
    free(f);
}

static void client_sse_end(struct fx *f)
{
    static const char want[] = "id: 1\nevent: change\ndata: {\"generation\":1}\n\n";
    struct cl c;
    CHECK(cl_open(f, &c) == 0);
    CHECK(cl_send(&c, "GET /v1/events HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n") == 0);
    for (;;) {
        ssize_t n = cl_more(&c);
        CHECK(n >= 0);
        if (n == 0)
            break;
    }
    CHECK(c.len == sizeof sse_head - 1 + sizeof want - 1);
    CHECK(strcmp(c.buf + sizeof sse_head - 1, want) == 0);
    cl_close(&c);
}

static void test_sse_end_sends_what_is_queued_then_closes_without_on_close(void **state)
{
    struct fx *f = fx_new(M_SSE_END, client_sse_end);
    (void)state;
    run(f);
    assert_int_equal(f->sse_closed, 0);
    free(f);
}

static void client_sse_flood(struct fx *f)
{
    struct cl c;
    CHECK(cl_open(f, &c) == 0);
    CHECK(cl_send(&c, "GET /v1/events HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n") == 0);
    for (int i = 0; i < CLIENT_TIMEOUT_S * 200 && !atomic_load(&f->stream_closed); i++)
        sleep_ms(5); /* never reads */
    CHECK(atomic_load(&f->stream_closed));
    cl_close(&c);
}

static void test_sse_client_that_falls_behind_is_cut_off(void **state)
{
    struct fx *f = fx_new(M_SSE_FLOOD, client_sse_flood);
    (void)state;
    f->need_stream_close = 1;
    run(f);
    assert_true(f->sse_refused);
    assert_true(f->sse_sends >= 60); /* about 4 MiB queued, plus what the kernel took */
    assert_int_equal(f->sse_closed, 1);
    free(f);
}

static void client_sse_gone(struct fx *f)
{
    struct cl c;
    CHECK(cl_open(f, &c) == 0);
    CHECK(cl_send(&c, "GET /v1/events HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n") == 0);
    CHECK(wait_calls(f, 1) == 0);
    cl_close(&c);
}

static void test_sse_begin_for_a_client_that_left_returns_null(void **state)
{
    struct fx *f = fx_new(M_SSE_GONE, client_sse_gone);
    (void)state;
    run(f);
    assert_true(f->sse_gone_null);
    assert_int_equal(f->sse_closed, 0);
    free(f);
}

/* ---- start ------------------------------------------------------------------------------ */

static void noop_handler(struct ctl_request *req, const struct ctl_request_view *v, void *ud)
{
    (void)v;
    (void)ud;
    ctl_respond(req, 204, NULL, NULL, NULL, 0);
}

static void test_start_reports_an_address_in_use(void **state)
{
    uv_loop_t loop;
    struct sockaddr_in a;
    char err[256] = "";
    (void)state;

    assert_int_equal(uv_loop_init(&loop), 0);
    uv_ip4_addr("127.0.0.1", 0, &a);
    struct ctl_server_options o = {.addr = (const struct sockaddr *)&a,
                                   .addrlen = sizeof a,
                                   .max_body = 10,
                                   .handler = noop_handler};
    struct ctl_server *s1 = ctl_server_start(&loop, &o, err, sizeof err);
    assert_non_null(s1);
    int port = ctl_server_port(s1);
    a.sin_port = htons((uint16_t)port);
    struct ctl_server *s2 = ctl_server_start(&loop, &o, err, sizeof err);
    assert_null(s2);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d: address already in use", port);
    assert_string_equal(err, want);
    ctl_server_close(s1);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_reaches_the_handler_without_a_token),
        cmocka_unit_test(test_other_paths_without_a_token_get_401_and_never_reach_the_handler),
        cmocka_unit_test(test_a_wrong_token_gets_401),
        cmocka_unit_test(test_set_tokens_replaces_the_accepted_tokens),
        cmocka_unit_test(test_the_right_token_passes_method_decoded_path_query_if_match_and_body),
        cmocka_unit_test(test_a_chunked_body_is_decoded),
        cmocka_unit_test(test_bodies_over_max_body_get_413_and_never_reach_the_handler),
        cmocka_unit_test(test_malformed_requests_get_400_414_431_and_close),
        cmocka_unit_test(test_connection_close_http10_and_head_are_honoured),
        cmocka_unit_test(
            test_pipelined_requests_are_dispatched_one_at_a_time_and_answered_in_order),
        cmocka_unit_test(test_a_full_buffer_pauses_reading_until_the_held_request_is_answered),
        cmocka_unit_test(test_a_half_closed_client_gets_its_answer_and_a_cut_request_gets_400),
        cmocka_unit_test(test_expect_100_continue_is_answered_after_auth_and_before_the_body),
        cmocka_unit_test(test_idle_and_slow_head_connections_time_out),
        cmocka_unit_test(test_a_deferred_answer_arrives),
        cmocka_unit_test(test_a_client_gone_before_a_deferred_answer_is_harmless),
        cmocka_unit_test(test_server_close_drops_unanswered_requests),
        cmocka_unit_test(test_error_bodies_are_escaped_json),
        cmocka_unit_test(test_sse_frames_events_and_reports_the_client_close_once),
        cmocka_unit_test(test_sse_end_sends_what_is_queued_then_closes_without_on_close),
        cmocka_unit_test(test_sse_client_that_falls_behind_is_cut_off),
        cmocka_unit_test(test_sse_begin_for_a_client_that_left_returns_null),
        cmocka_unit_test(test_start_reports_an_address_in_use),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
