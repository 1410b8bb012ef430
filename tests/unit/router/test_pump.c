/*
 * Unit tests for the body pump (router/pump.c, declared in router/internal.h): framing
 * translation while a body streams. Output iovecs are concatenated and compared byte for
 * byte with the expected encoding, for input split at every point (and every pair of
 * points) as it might arrive from a socket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "router/internal.h"

#define OUT_CAP 8192
#define MAX_IOV 64

struct out {
    char   buf[OUT_CAP];
    size_t len;
    int    calls;
    int    max_iov_seen;
};

static void append(struct out *o, const uv_buf_t *iov, int n)
{
    for (int i = 0; i < n; i++) {
        assert_true(iov[i].len > 0); /* an empty iovec would be a wasted write slot */
        assert_true(o->len + iov[i].len <= OUT_CAP);
        memcpy(o->buf + o->len, iov[i].base, iov[i].len);
        o->len += iov[i].len;
    }
    if (n > o->max_iov_seen)
        o->max_iov_seen = n;
}

/* Feeds in[0..len) to p as a socket would deliver it: bytes up to cuts[0] first, then up
 * to cuts[1], ... (ncuts may be 0). Whenever the pump makes no progress on what has
 * arrived, the next piece arrives. Copies each call's iovecs out before the next call
 * (size lines live in the pump). Returns 0 and sets *consumed, or -1 on malformed input. */
static int drive(struct pump *p, const char *in, size_t len, const size_t *cuts, size_t ncuts,
                 unsigned maxiov, struct out *o, size_t *consumed)
{
    size_t pos = 0, arrived = ncuts > 0 ? cuts[0] : len, next = 1;
    uv_buf_t iov[MAX_IOV];

    assert_true(maxiov <= MAX_IOV);
    memset(o, 0, sizeof(*o));
    for (int guard = 0; guard < 100000; guard++) {
        size_t used = 0;
        int n = pump_fill(p, in + pos, arrived - pos, &used, iov, maxiov);
        if (n < 0)
            return -1;
        assert_true((unsigned)n <= maxiov);
        assert_true(used <= arrived - pos);
        o->calls++;
        append(o, iov, n);
        pos += used;
        if (p->done && p->ended)
            break;
        if ((n == 0 && used == 0) || pos == arrived) {
            if (arrived == len)
                break; /* the input ended; the body did not */
            arrived = next < ncuts ? cuts[next++] : len;
        }
    }
    *consumed = pos;
    return 0;
}

/* --- a chunked body with extensions, trailers and a pipelined request after it --------- */

struct body {
    char   in[512];
    size_t len;      /* of the body, excluding what follows */
    size_t total;    /* with the pipelined request */
    size_t data_off[8], data_len[8];
    size_t nchunks;
    char   payload[256];
    size_t payload_len;
};

static void body_chunk(struct body *b, const char *size_line, const char *data)
{
    size_t n = strlen(data);
    b->len += (size_t)snprintf(b->in + b->len, sizeof(b->in) - b->len, "%s\r\n", size_line);
    b->data_off[b->nchunks] = b->len;
    b->data_len[b->nchunks] = n;
    b->nchunks++;
    memcpy(b->in + b->len, data, n);
    b->len += n;
    memcpy(b->in + b->len, "\r\n", 2);
    b->len += 2;
    memcpy(b->payload + b->payload_len, data, n);
    b->payload_len += n;
}

static const char PIPELINED[] = "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";

static void body_build(struct body *b)
{
    memset(b, 0, sizeof(*b));
    body_chunk(b, "5", "hello");
    body_chunk(b, "1a;name=value;q=\"x y\"", "abcdefghijklmnopqrstuvwxyz");
    body_chunk(b, "1", "!");
    body_chunk(b, "00A ; e", "0123456789");
    static const char last[] = "0\r\nX-Trailer: yes\r\n\r\n";
    memcpy(b->in + b->len, last, sizeof(last) - 1);
    b->len += sizeof(last) - 1;
    memcpy(b->in + b->len, PIPELINED, sizeof(PIPELINED) - 1);
    b->total = b->len + sizeof(PIPELINED) - 1;
}

/* The exact output for b fed with the given cuts: each chunk's data, split where a piece
 * ends, becomes one output chunk of its own; then the last chunk, no trailers. */
static size_t expected_rechunked(const struct body *b, const size_t *cuts, size_t ncuts,
                                 char *out)
{
    size_t o = 0;
    for (size_t k = 0; k < b->nchunks; k++) {
        size_t start = b->data_off[k], end = start + b->data_len[k];
        while (start < end) {
            size_t stop = end;
            for (size_t c = 0; c < ncuts; c++)
                if (cuts[c] > start && cuts[c] < stop)
                    stop = cuts[c];
            o += (size_t)sprintf(out + o, "%zx\r\n", stop - start);
            memcpy(out + o, b->in + start, stop - start);
            o += stop - start;
            memcpy(out + o, "\r\n", 2);
            o += 2;
            start = stop;
        }
    }
    memcpy(out + o, "0\r\n\r\n", 5);
    return o + 5;
}

static void check_chunked_split(const struct body *b, const size_t *cuts, size_t ncuts)
{
    static struct out o;
    char expect[OUT_CAP];
    struct pump p;
    size_t consumed = 0;

    pump_init(&p, H1_BODY_CHUNKED, 0, 1);
    assert_int_equal(drive(&p, b->in, b->total, cuts, ncuts, MAX_IOV, &o, &consumed), 0);
    size_t n = expected_rechunked(b, cuts, ncuts, expect);
    assert_true(p.done && p.ended);
    assert_int_equal(consumed, b->len); /* the pipelined request stays in the buffer */
    assert_int_equal(o.len, n);
    assert_memory_equal(o.buf, expect, n);
    assert_int_equal(p.moved, b->payload_len);
}

static void test_chunked_input_is_rechunked_byte_exact_for_every_split(void **state)
{
    (void)state;
    struct body b;
    body_build(&b);

    check_chunked_split(&b, NULL, 0);
    for (size_t s1 = 1; s1 < b.total; s1++) {
        size_t one[1] = {s1};
        check_chunked_split(&b, one, 1);
        for (size_t s2 = s1 + 1; s2 < b.total; s2++) {
            size_t two[2] = {s1, s2};
            check_chunked_split(&b, two, 2);
        }
    }
}

static void test_chunked_input_one_byte_at_a_time_is_rechunked_per_byte(void **state)
{
    (void)state;
    struct body b;
    size_t cuts[512];
    body_build(&b);
    for (size_t i = 0; i + 1 < b.total; i++)
        cuts[i] = i + 1;
    check_chunked_split(&b, cuts, b.total - 1);
}

static void test_chunked_input_is_dechunked_to_the_payload(void **state)
{
    (void)state;
    static struct out o;
    struct body b;
    struct pump p;
    size_t consumed = 0;
    body_build(&b);

    for (size_t s = 0; s < b.total; s++) {
        size_t cut[1] = {s};
        pump_init(&p, H1_BODY_CHUNKED, 0, 0);
        assert_int_equal(drive(&p, b.in, b.total, cut, s ? 1 : 0, MAX_IOV, &o, &consumed), 0);
        assert_true(p.done && p.ended);
        assert_int_equal(consumed, b.len);
        assert_int_equal(o.len, b.payload_len);
        assert_memory_equal(o.buf, b.payload, b.payload_len);
    }
}

static void test_framing_only_input_is_consumed_without_iovecs(void **state)
{
    (void)state;
    /* A size line that arrives alone is consumed (*used) although nothing is emitted: the
     * caller must still advance its buffer by *used, or the decoder, already past the
     * size line, would take those bytes again as chunk data. */
    struct pump p;
    uv_buf_t iov[8];
    size_t used = 99;
    pump_init(&p, H1_BODY_CHUNKED, 0, 1);
    assert_int_equal(pump_fill(&p, "5", 1, &used, iov, 8), 0); /* part of a size line */
    assert_int_equal(used, 1);
    assert_int_equal(pump_fill(&p, "\r\n", 2, &used, iov, 8), 0);
    assert_int_equal(used, 2);
    assert_int_equal(pump_fill(&p, "hello", 5, &used, iov, 8), 3);
    assert_int_equal(used, 5);
    assert_memory_equal(iov[1].base, "hello", 5);
    assert_false(p.done);
}

/* --- Content-Length ------------------------------------------------------------------ */

static void test_content_length_passes_through_and_stops_at_the_length(void **state)
{
    (void)state;
    static struct out o;
    static const char in[] = "hello, world" "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    const size_t body = 12, total = sizeof(in) - 1;
    struct pump p;
    size_t consumed = 0;

    for (size_t s = 0; s < total; s++) {
        size_t cut[1] = {s};
        pump_init(&p, H1_BODY_LENGTH, body, 0);
        assert_int_equal(drive(&p, in, total, cut, s ? 1 : 0, MAX_IOV, &o, &consumed), 0);
        assert_true(p.done && p.ended);
        assert_int_equal(consumed, body);
        assert_int_equal(o.len, body);
        assert_memory_equal(o.buf, "hello, world", body);
        assert_int_equal(p.moved, body);
    }

    /* Once done, further calls consume nothing. */
    uv_buf_t iov[4];
    size_t used = 7;
    assert_int_equal(pump_fill(&p, in + body, total - body, &used, iov, 4), 0);
    assert_int_equal(used, 0);
}

static void test_content_length_body_can_be_sent_chunked(void **state)
{
    (void)state;
    static struct out o;
    static const char in[] = "hello, world" "NEXT";
    struct pump p;
    size_t consumed = 0;
    size_t cut[1] = {5};

    pump_init(&p, H1_BODY_LENGTH, 12, 1);
    assert_int_equal(drive(&p, in, sizeof(in) - 1, cut, 1, MAX_IOV, &o, &consumed), 0);
    static const char expect[] = "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n";
    assert_int_equal(consumed, 12);
    assert_int_equal(o.len, sizeof(expect) - 1);
    assert_memory_equal(o.buf, expect, sizeof(expect) - 1);
}

static void test_content_length_short_input_waits_for_more(void **state)
{
    (void)state;
    struct pump p;
    uv_buf_t iov[4];
    size_t used = 0;

    pump_init(&p, H1_BODY_LENGTH, 10, 0);
    assert_int_equal(pump_fill(&p, "abcd", 4, &used, iov, 4), 1);
    assert_int_equal(used, 4);
    assert_false(p.done);
    assert_int_equal(p.remaining, 6);
    assert_int_equal(pump_fill(&p, "", 0, &used, iov, 4), 0);
    assert_int_equal(used, 0);
    /* EOF does not complete a Content-Length body. */
    assert_int_equal(pump_eof(&p, iov), 0);
    assert_false(p.done);
}

static void test_length_zero_is_done_at_once(void **state)
{
    (void)state;
    struct pump p;
    uv_buf_t iov[4];
    size_t used = 5;

    pump_init(&p, H1_BODY_LENGTH, 0, 0);
    assert_true(p.done && p.ended);
    assert_int_equal(pump_fill(&p, "GET /", 5, &used, iov, 4), 0);
    assert_int_equal(used, 0);

    pump_init(&p, H1_BODY_NONE, 0, 0);
    assert_true(p.done && p.ended);
    used = 5;
    assert_int_equal(pump_fill(&p, "GET /", 5, &used, iov, 4), 0);
    assert_int_equal(used, 0);

    /* Chunked output of an empty body is the last chunk alone, emitted once. */
    pump_init(&p, H1_BODY_LENGTH, 0, 1);
    assert_true(p.done);
    assert_int_equal(pump_fill(&p, "GET /", 5, &used, iov, 4), 1);
    assert_int_equal(used, 0);
    assert_int_equal(iov[0].len, 5);
    assert_memory_equal(iov[0].base, "0\r\n\r\n", 5);
    assert_true(p.ended);
    assert_int_equal(pump_fill(&p, "GET /", 5, &used, iov, 4), 0);
}

/* --- until close ---------------------------------------------------------------------- */

static void test_until_close_input_is_chunked_and_terminated_at_eof(void **state)
{
    (void)state;
    struct out o;
    struct pump p;
    uv_buf_t iov[8];
    size_t used = 0;
    memset(&o, 0, sizeof(o));

    pump_init(&p, H1_BODY_UNTIL_CLOSE, 0, 1);
    int n = pump_fill(&p, "abc", 3, &used, iov, 8);
    assert_int_equal(used, 3);
    append(&o, iov, n);
    n = pump_fill(&p, "defghijklmnopqr", 15, &used, iov, 8);
    assert_int_equal(used, 15);
    append(&o, iov, n);
    assert_false(p.done);
    n = pump_eof(&p, iov);
    assert_int_equal(n, 1);
    append(&o, iov, n);
    assert_true(p.done && p.ended);

    static const char expect[] = "3\r\nabc\r\nf\r\ndefghijklmnopqr\r\n0\r\n\r\n";
    assert_int_equal(o.len, sizeof(expect) - 1);
    assert_memory_equal(o.buf, expect, sizeof(expect) - 1);
    assert_true(o.len >= 5 && memcmp(o.buf + o.len - 5, "0\r\n\r\n", 5) == 0);

    /* Nothing after the end, and a second EOF adds nothing. */
    assert_int_equal(pump_fill(&p, "x", 1, &used, iov, 8), 0);
    assert_int_equal(used, 0);
    assert_int_equal(pump_eof(&p, iov), 0);
}

static void test_until_close_passed_through_unchunked_ends_without_terminator(void **state)
{
    (void)state;
    struct pump p;
    uv_buf_t iov[4];
    size_t used = 0;

    static const char src[] = "abc";

    pump_init(&p, H1_BODY_UNTIL_CLOSE, 0, 0);
    assert_int_equal(pump_fill(&p, src, 3, &used, iov, 4), 1);
    assert_int_equal(iov[0].len, 3);
    assert_ptr_equal(iov[0].base, src); /* zero-copy: the iovec points into the input */
    assert_int_equal(pump_eof(&p, iov), 0);
    assert_true(p.done && p.ended);
}

static void test_until_close_eof_with_no_body_is_just_the_last_chunk(void **state)
{
    (void)state;
    struct pump p;
    uv_buf_t iov[4];

    pump_init(&p, H1_BODY_UNTIL_CLOSE, 0, 1);
    assert_int_equal(pump_eof(&p, iov), 1);
    assert_int_equal(iov[0].len, 5);
    assert_memory_equal(iov[0].base, "0\r\n\r\n", 5);
}

/* --- malformed chunked ---------------------------------------------------------------- */

static void test_malformed_chunked_input_fails_and_stays_failed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "zz\r\nhello\r\n0\r\n\r\n",          /* not a size */
        "5\r\nhelloXX0\r\n\r\n",             /* data not followed by CRLF */
        "5\nhello\r\n0\r\n\r\n",             /* bare LF */
        "-5\r\nhello\r\n0\r\n\r\n",          /* sign */
        "5 \r\nhello\r\n0\r\n\r\n",          /* BWS without extension */
        "0\r\nContent-Length: 5\r\n\r\n",    /* framing field in trailers */
        "11111111111111111\r\n",             /* 17 hex digits */
    };
    static struct out o;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        for (size_t s = 0; s < strlen(bad[i]); s++) {
            struct pump p;
            size_t consumed = 0;
            size_t cut[1] = {s};
            pump_init(&p, H1_BODY_CHUNKED, 0, 1);
            assert_int_equal(drive(&p, bad[i], strlen(bad[i]), cut, s ? 1 : 0, MAX_IOV, &o,
                                   &consumed),
                             -1);
            uv_buf_t iov[4];
            size_t used = 0;
            assert_int_equal(pump_fill(&p, "0\r\n\r\n", 5, &used, iov, 4), -1);
            assert_false(p.done);
        }
    }
}

/* --- iovec limits ---------------------------------------------------------------------- */

static void test_maxiov_is_respected_and_the_next_call_continues(void **state)
{
    (void)state;
    char in[1024];
    char payload[512];
    size_t len = 0, plen = 0;
    for (int i = 0; i < 40; i++) { /* 40 chunks: more than PUMP_SPANS per call */
        char data[8];
        int n = snprintf(data, sizeof(data), "c%02d", i);
        len += (size_t)sprintf(in + len, "%x\r\n%s\r\n", n, data);
        memcpy(payload + plen, data, (size_t)n);
        plen += (size_t)n;
    }
    len += (size_t)sprintf(in + len, "0\r\n\r\n");
    char expect[1024];
    size_t elen = 0;
    for (int i = 0; i < 40; i++)
        elen += (size_t)sprintf(expect + elen, "3\r\nc%02d\r\n", i);
    elen += (size_t)sprintf(expect + elen, "0\r\n\r\n");

    static struct out o;
    static const unsigned limits[] = {4, 5, 7, 10, 13, 49, MAX_IOV};
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        struct pump p;
        size_t consumed = 0;
        pump_init(&p, H1_BODY_CHUNKED, 0, 1);
        assert_int_equal(drive(&p, in, len, NULL, 0, limits[i], &o, &consumed), 0);
        assert_true(p.done && p.ended);
        assert_int_equal(consumed, len);
        assert_true(o.max_iov_seen <= (int)limits[i]);
        assert_true(o.calls > 1); /* 40 chunks never fit one call (PUMP_SPANS) */
        assert_int_equal(o.len, elen);
        assert_memory_equal(o.buf, expect, elen);

        pump_init(&p, H1_BODY_CHUNKED, 0, 0);
        assert_int_equal(drive(&p, in, len, NULL, 0, limits[i], &o, &consumed), 0);
        assert_int_equal(consumed, len);
        assert_true(o.max_iov_seen <= (int)limits[i]);
        assert_int_equal(o.len, plen);
        assert_memory_equal(o.buf, payload, plen);
    }
}

static void test_one_call_emits_at_most_pump_spans_runs(void **state)
{
    (void)state;
    char in[1024];
    size_t len = 0;
    for (int i = 0; i < 2 * PUMP_SPANS; i++)
        len += (size_t)sprintf(in + len, "1\r\n%c\r\n", 'a' + i % 26);
    len += (size_t)sprintf(in + len, "0\r\n\r\n");

    struct pump p;
    uv_buf_t iov[MAX_IOV];
    size_t used = 0, pos = 0;
    int calls = 0, runs = 0;
    pump_init(&p, H1_BODY_CHUNKED, 0, 0);
    int n = pump_fill(&p, in, len, &used, iov, MAX_IOV);
    assert_int_equal(n, PUMP_SPANS);
    assert_true(used < len);
    assert_false(p.done);
    for (; !p.done && calls < 10; calls++) {
        pos += used;
        runs += n;
        n = pump_fill(&p, in + pos, len - pos, &used, iov, MAX_IOV);
        assert_true(n >= 0 && n <= PUMP_SPANS);
    }
    pos += used;
    runs += n;
    assert_true(p.done && p.ended);
    assert_int_equal(pos, len);
    assert_int_equal(runs, 2 * PUMP_SPANS);
}

static void test_too_small_maxiov_consumes_nothing(void **state)
{
    (void)state;
    /* Chunked output needs room for a whole run (size line, data, CRLF) and the
     * terminator: with less, nothing is consumed and nothing written past maxiov. */
    struct pump p;
    uv_buf_t iov[4];
    size_t used = 9;
    memset(iov, 0, sizeof(iov));
    pump_init(&p, H1_BODY_UNTIL_CLOSE, 0, 1);
    assert_int_equal(pump_fill(&p, "abc", 3, &used, iov, 3), 0);
    assert_int_equal(used, 0);
    assert_int_equal(pump_fill(&p, "abc", 3, &used, iov, 4), 3);
    assert_int_equal(used, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunked_input_is_rechunked_byte_exact_for_every_split),
        cmocka_unit_test(test_chunked_input_one_byte_at_a_time_is_rechunked_per_byte),
        cmocka_unit_test(test_chunked_input_is_dechunked_to_the_payload),
        cmocka_unit_test(test_framing_only_input_is_consumed_without_iovecs),
        cmocka_unit_test(test_content_length_passes_through_and_stops_at_the_length),
        cmocka_unit_test(test_content_length_body_can_be_sent_chunked),
        cmocka_unit_test(test_content_length_short_input_waits_for_more),
        cmocka_unit_test(test_length_zero_is_done_at_once),
        cmocka_unit_test(test_until_close_input_is_chunked_and_terminated_at_eof),
        cmocka_unit_test(test_until_close_passed_through_unchunked_ends_without_terminator),
        cmocka_unit_test(test_until_close_eof_with_no_body_is_just_the_last_chunk),
        cmocka_unit_test(test_malformed_chunked_input_fails_and_stays_failed),
        cmocka_unit_test(test_maxiov_is_respected_and_the_next_call_continues),
        cmocka_unit_test(test_one_call_emits_at_most_pump_spans_runs),
        cmocka_unit_test(test_too_small_maxiov_consumes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
