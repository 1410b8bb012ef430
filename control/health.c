/*
 * health: active health checks (see health.h for the contract).
 *
 * One struct per check, allocated once in health_check_start and freed in the last close
 * callback after health_check_stop. Nothing is allocated per attempt: the connection,
 * its connect and write requests, the request bytes and the read buffer are all fields,
 * and an attempt reuses them once the previous attempt's socket has finished closing.
 *
 * Two timers drive a check:
 *   - tick: the start of the next attempt. It is re-armed (one-shot, interval_ms) when an
 *     attempt starts, so attempts start interval apart measured start to start. When it
 *     fires while the previous attempt is still running (or its socket still closing), the
 *     check only notes that an attempt is due; the close callback then starts it at once.
 *     There is never more than one connection per check.
 *   - deadline: timeout_ms from the start of an attempt; bounds connect + status line.
 *
 * An attempt goes ATT_IDLE → ATT_CONNECTING → (HTTP: ATT_RESPONSE) → ATT_CLOSING →
 * ATT_IDLE (in the close callback). attempt_end() is the one place that decides an attempt:
 * it closes the socket first and only then counts the result and maybe calls the user's
 * callback, so a callback that calls health_check_stop() finds no attempt left to close
 * except the one already closing. Requests cancelled by the close (connect, write) come back
 * with UV_ECANCELED while the state is ATT_CLOSING and are ignored.
 *
 * The counts start at 0 whichever state the target starts in (spec.start_healthy), so a
 * trusted target needs unhealthy_threshold failures in a row, and an untrusted one
 * healthy_threshold passes, before the first callback.
 *
 * Stop closes both timers and the socket (if open); nclosing counts the close callbacks
 * still to come, and the last one frees the struct. uv_close never runs its callback
 * synchronously, so the struct outlives any callback of ours that called stop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/health.h"

/* Only the status line matters; a longer one (a reason phrase of ~500 bytes) is judged a
 * bad status line rather than buffered. */
#define HEALTH_RBUF 512

/* "GET " + path (<= 255) + " HTTP/1.1\r\nHost: " + host (<= 255) + the fixed fields: 587. */
#define HEALTH_REQ_MAX 640

enum att_state {
    ATT_IDLE,       /* no socket; the next attempt may start */
    ATT_CONNECTING, /* tcp initialised, connect pending */
    ATT_RESPONSE,   /* HTTP: request written (or being written), reading the status line */
    ATT_CLOSING,    /* decided; waiting for the socket's close callback */
};

struct health_check {
    uv_loop_t              *loop;
    uv_timer_t              tick;     /* starts attempts interval apart */
    uv_timer_t              deadline; /* timeout of the current attempt */
    uv_tcp_t                tcp;      /* the current attempt's connection */
    uv_connect_t            connect;
    uv_write_t              write;
    struct sockaddr_storage addr;
    struct health_spec      spec;
    health_cb               cb;
    void                   *ud;

    enum att_state state;
    int            due;      /* tick fired while an attempt was running */
    int            stopped;  /* health_check_stop was called: no more callbacks */
    unsigned       nclosing; /* close callbacks still to come */
    int            healthy;
    uint32_t       passes;   /* consecutive */
    uint32_t       failures; /* consecutive */

    size_t req_len;
    size_t rlen;
    char   req[HEALTH_REQ_MAX];
    char   rbuf[HEALTH_RBUF];
    char   detail[64];
};

void health_spec_defaults(struct health_spec *spec)
{
    memset(spec, 0, sizeof(*spec));
    spec->kind = HEALTH_HTTP;
    memcpy(spec->path, "/health", sizeof("/health"));
    memcpy(spec->host, "localhost", sizeof("localhost"));
    spec->interval_ms = 2000;
    spec->timeout_ms = 1000;
    spec->healthy_threshold = 1;
    spec->unhealthy_threshold = 3;
}

static void start_attempt(struct health_check *hc);
static void on_tick(uv_timer_t *t);

static void on_close(uv_handle_t *h)
{
    struct health_check *hc = h->data;

    hc->nclosing--;
    if (h == (uv_handle_t *)&hc->tcp)
        hc->state = ATT_IDLE;
    if (hc->stopped) {
        if (hc->nclosing == 0)
            free(hc);
        return;
    }
    if (h == (uv_handle_t *)&hc->tcp && hc->due)
        start_attempt(hc);
}

/* Closes the attempt's socket. A reset rather than a FIN: we usually close first, and a
 * check every 2 s per target would otherwise leave a TIME_WAIT socket (and an ephemeral
 * port) per attempt on our side for a minute — HAProxy closes its checks the same way. */
static void close_tcp(struct health_check *hc)
{
    hc->state = ATT_CLOSING;
    hc->nclosing++;
    if (uv_tcp_close_reset(&hc->tcp, on_close) != 0)
        uv_close((uv_handle_t *)&hc->tcp, on_close); /* no socket yet, or setsockopt failed */
}

/* Counts one result and calls back on a transition. The socket is already closing, so the
 * callback may stop the check. */
static void count_result(struct health_check *hc, int pass)
{
    int was = hc->healthy;

    if (pass) {
        hc->failures = 0;
        if (hc->passes < UINT32_MAX)
            hc->passes++;
        if (!hc->healthy && hc->passes >= hc->spec.healthy_threshold)
            hc->healthy = 1;
    } else {
        hc->passes = 0;
        if (hc->failures < UINT32_MAX)
            hc->failures++;
        if (hc->healthy && hc->failures >= hc->spec.unhealthy_threshold)
            hc->healthy = 0;
    }
    if (hc->healthy != was && !hc->stopped && hc->cb != NULL)
        hc->cb(hc, hc->healthy, hc->detail, hc->ud);
}

/* Decides the current attempt; hc->detail must already say why. */
static void attempt_end(struct health_check *hc, int pass)
{
    uv_timer_stop(&hc->deadline);
    close_tcp(hc);
    count_result(hc, pass);
}

static void attempt_fail_uv(struct health_check *hc, const char *what, int err)
{
    snprintf(hc->detail, sizeof(hc->detail), "%s: %s", what, uv_strerror(err));
    attempt_end(hc, 0);
}

static void attempt_fail(struct health_check *hc, const char *why)
{
    snprintf(hc->detail, sizeof(hc->detail), "%s", why);
    attempt_end(hc, 0);
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Judges the status line rbuf[0..lf], lf being the index of its '\n' (RFC 9112 §4):
 *     HTTP-version SP status-code [ SP reason-phrase ] CRLF
 * with HTTP/1.x only. The reason phrase may be absent (a common leniency); a bare LF, a
 * control character or anything else malformed is a bad status line. Returns the code
 * (100..999), or -1. */
static int parse_status_line(const char *s, size_t lf)
{
    size_t end;

    if (lf < 13 || s[lf - 1] != '\r')
        return -1;
    end = lf - 1; /* the CR */
    if (memcmp(s, "HTTP/1.", 7) != 0 || !is_digit(s[7]) || s[8] != ' ' || !is_digit(s[9]) ||
        !is_digit(s[10]) || !is_digit(s[11]) || s[9] == '0')
        return -1;
    if (end > 12) {
        if (s[12] != ' ')
            return -1;
        for (size_t i = 13; i < end; i++) {
            unsigned char c = (unsigned char)s[i];

            if (c != '\t' && (c < 0x20 || c == 0x7f))
                return -1;
        }
    }
    return (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
}

/* Looks at what has arrived so far: decides the attempt once the status line is complete,
 * or as soon as it cannot become one. */
static void check_status(struct health_check *hc)
{
    const char *lf = memchr(hc->rbuf, '\n', hc->rlen);
    size_t n = hc->rlen < 7 ? hc->rlen : 7;
    int code;

    if (memcmp(hc->rbuf, "HTTP/1.", n) != 0) {
        attempt_fail(hc, "bad status line"); /* not HTTP/1.x: no need to wait for more */
        return;
    }
    if (lf == NULL) {
        if (hc->rlen == sizeof(hc->rbuf))
            attempt_fail(hc, "bad status line"); /* far too long to be one */
        return;
    }
    code = parse_status_line(hc->rbuf, (size_t)(lf - hc->rbuf));
    if (code < 0) {
        attempt_fail(hc, "bad status line");
        return;
    }
    snprintf(hc->detail, sizeof(hc->detail), "HTTP %d", code);
    attempt_end(hc, code >= 200 && code <= 399);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct health_check *hc = h->data;

    (void)suggested;
    /* never full here: a full buffer decides the attempt and stops reading */
    *buf = uv_buf_init(hc->rbuf + hc->rlen, (unsigned)(sizeof(hc->rbuf) - hc->rlen));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct health_check *hc = s->data;

    (void)buf;
    if (hc->state != ATT_RESPONSE || n == 0)
        return;
    if (n == UV_EOF)
        attempt_fail(hc, "closed before status line");
    else if (n < 0)
        attempt_fail_uv(hc, "read", (int)n);
    else {
        hc->rlen += (size_t)n;
        check_status(hc);
    }
}

static void on_write(uv_write_t *req, int status)
{
    struct health_check *hc = req->handle->data;

    /* UV_ECANCELED comes after the attempt was decided (state ATT_CLOSING) */
    if (status < 0 && hc->state == ATT_RESPONSE)
        attempt_fail_uv(hc, "write", status);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct health_check *hc = req->handle->data;
    uv_buf_t b;
    int rc;

    if (hc->state != ATT_CONNECTING)
        return; /* cancelled by a timeout or a stop */
    if (status < 0) {
        attempt_fail_uv(hc, "connect", status);
        return;
    }
    if (hc->spec.kind == HEALTH_TCP) {
        snprintf(hc->detail, sizeof(hc->detail), "connected");
        attempt_end(hc, 1);
        return;
    }
    hc->state = ATT_RESPONSE;
    b = uv_buf_init(hc->req, (unsigned)hc->req_len);
    rc = uv_write(&hc->write, (uv_stream_t *)&hc->tcp, &b, 1, on_write);
    if (rc < 0) {
        attempt_fail_uv(hc, "write", rc);
        return;
    }
    rc = uv_read_start((uv_stream_t *)&hc->tcp, on_alloc, on_read);
    if (rc < 0)
        attempt_fail_uv(hc, "read", rc); /* the queued write is cancelled by the close */
}

static void on_deadline(uv_timer_t *t)
{
    struct health_check *hc = t->data;

    if (hc->state == ATT_CONNECTING || hc->state == ATT_RESPONSE)
        attempt_fail(hc, "timeout");
}

static void start_attempt(struct health_check *hc)
{
    int rc;

    hc->due = 0;
    hc->rlen = 0;
    uv_timer_start(&hc->tick, on_tick, hc->spec.interval_ms, 0);
    uv_timer_start(&hc->deadline, on_deadline, hc->spec.timeout_ms, 0);
    rc = uv_tcp_init(hc->loop, &hc->tcp);
    if (rc < 0) {
        /* nothing to close: the attempt fails here and the next one starts on the tick */
        uv_timer_stop(&hc->deadline);
        snprintf(hc->detail, sizeof(hc->detail), "socket: %s", uv_strerror(rc));
        count_result(hc, 0);
        return;
    }
    hc->tcp.data = hc;
    hc->state = ATT_CONNECTING;
    rc = uv_tcp_connect(&hc->connect, &hc->tcp, (const struct sockaddr *)&hc->addr, on_connect);
    if (rc < 0)
        attempt_fail_uv(hc, "connect", rc); /* e.g. EMFILE; refused comes to on_connect */
}

static void on_tick(uv_timer_t *t)
{
    struct health_check *hc = t->data;

    if (hc->state == ATT_IDLE)
        start_attempt(hc);
    else
        hc->due = 1; /* one connection at a time: on_close starts it */
}

/* A request target or Host value goes into the request verbatim, so it must be a
 * NUL-terminated run without controls or spaces: a CR, LF or SP would let a caller's string
 * add header fields or end the head. Bytes >= 0x80 pass: a server that refuses them
 * answers 400, which the check reports, rather than the check never starting. */
static int field_ok(const char *s, size_t cap, int empty_ok)
{
    size_t len = strnlen(s, cap);

    if (len == cap || (len == 0 && !empty_ok))
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c <= 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

static int spec_ok(const struct health_spec *spec)
{
    if (spec->interval_ms == 0 || spec->timeout_ms == 0 || spec->healthy_threshold == 0 ||
        spec->unhealthy_threshold == 0)
        return 0;
    if (spec->kind == HEALTH_TCP)
        return 1;
    if (spec->kind != HEALTH_HTTP)
        return 0;
    return field_ok(spec->path, sizeof(spec->path), 0) && spec->path[0] == '/' &&
           field_ok(spec->host, sizeof(spec->host), 1);
}

static int addr_ok(const struct sockaddr *sa, socklen_t salen)
{
    if (sa == NULL)
        return 0;
    if (sa->sa_family == AF_INET)
        return salen >= (socklen_t)sizeof(struct sockaddr_in);
    if (sa->sa_family == AF_INET6)
        return salen >= (socklen_t)sizeof(struct sockaddr_in6);
    return 0;
}

struct health_check *health_check_start(uv_loop_t *loop, const struct sockaddr *sa,
                                        socklen_t salen, const struct health_spec *spec,
                                        health_cb cb, void *ud)
{
    struct health_check *hc;
    int n;

    if (loop == NULL || spec == NULL || !addr_ok(sa, salen) || !spec_ok(spec))
        return NULL;
    hc = calloc(1, sizeof(*hc));
    if (hc == NULL)
        return NULL;
    hc->loop = loop;
    memcpy(&hc->addr, sa,
           sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
    hc->spec = *spec;
    hc->cb = cb;
    hc->ud = ud;
    hc->state = ATT_IDLE;
    hc->healthy = spec->start_healthy != 0;
    if (spec->kind == HEALTH_HTTP) {
        n = snprintf(hc->req, sizeof(hc->req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: hostess-edge-health\r\n"
                     "Connection: close\r\n\r\n",
                     spec->path, spec->host);
        if (n < 0 || (size_t)n >= sizeof(hc->req)) { /* cannot happen: both fields < 256 */
            free(hc);
            return NULL;
        }
        hc->req_len = (size_t)n;
    }
    /* Timer init cannot fail on a live loop; neither can start with a callback. */
    uv_timer_init(loop, &hc->tick);
    uv_timer_init(loop, &hc->deadline);
    hc->tick.data = hc;
    hc->deadline.data = hc;
    /* The first attempt starts on the next loop turn, so the callback never runs in here. */
    uv_timer_start(&hc->tick, on_tick, 0, 0);
    return hc;
}

int health_check_healthy(const struct health_check *hc)
{
    return hc != NULL && hc->healthy;
}

void health_check_stop(struct health_check *hc)
{
    if (hc == NULL || hc->stopped)
        return;
    hc->stopped = 1;
    hc->nclosing += 2;
    uv_close((uv_handle_t *)&hc->tick, on_close);
    uv_close((uv_handle_t *)&hc->deadline, on_close);
    if (hc->state == ATT_CONNECTING || hc->state == ATT_RESPONSE)
        close_tcp(hc); /* cancels connect/write; their callbacks see ATT_CLOSING */
    /* ATT_CLOSING: that close is already counted; ATT_IDLE: no socket */
}
