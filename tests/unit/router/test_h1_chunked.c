/*
 * Unit tests for router/h1_chunked.c: the strict incremental chunked decoder
 * (RFC 9112 §7.1). Valid bodies must decode identically however the input is split;
 * every malformed framing form must return -1 and stay failed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "router/h1_parse.h"

#define MAX_TRAILER 256u

/* Decodes in[0..n) fed in pieces of `step` bytes (0: all at once). Collects data into
 * out. Returns 2 with *consumed on success, -1 on error, 0 if input ran out. */
static int decode(const char *in, size_t n, size_t step, char *out, size_t outcap, size_t *outlen,
                  size_t *consumed)
{
    struct h1_chunked d;
    size_t            pos = 0;

    h1_chunked_init(&d, MAX_TRAILER);
    *outlen = 0;
    while (pos < n) {
        size_t avail = n - pos;
        if (step != 0 && avail > step)
            avail = step;
        size_t      used = 0;
        struct span data;
        int         r = h1_chunked_next(&d, in + pos, avail, &used, &data);
        assert_true(used <= avail);
        if (r < 0)
            return -1;
        if (r == 1) {
            assert_true(data.len > 0);
            assert_true(data.ptr >= in + pos && data.ptr + data.len <= in + pos + used);
            assert_true(*outlen + data.len <= outcap);
            memcpy(out + *outlen, data.ptr, data.len);
            *outlen += data.len;
        } else if (r == 0) {
            assert_int_equal(used, avail);
        }
        pos += used;
        if (r == 2) {
            *consumed = pos;
            return 2;
        }
    }
    return 0;
}

static int decode_all(const char *in)
{
    char   out[4096];
    size_t outlen, consumed;
    return decode(in, strlen(in), 0, out, sizeof(out), &outlen, &consumed);
}

/* Valid body: same data and consumption for every split size. */
static void check_valid(const char *in, size_t n, const char *want, size_t extra)
{
    char   out[8192];
    size_t outlen, consumed;

    for (size_t step = 0; step <= n; step++) {
        int r = decode(in, n, step, out, sizeof(out), &outlen, &consumed);
        if (r != 2)
            fail_msg("step %zu: r=%d", step, r);
        assert_int_equal(outlen, strlen(want));
        assert_memory_equal(out, want, outlen);
        assert_int_equal(consumed, n - extra);
    }
}

#define VALID(name, in, want, extra)                                                               \
    static void name(void **state)                                                                 \
    {                                                                                              \
        (void)state;                                                                               \
        check_valid(in, sizeof(in) - 1, want, extra);                                              \
    }

/* Invalid: -1 whole and fed one byte at a time. */
static void check_invalid(const char *in, size_t n)
{
    char   out[8192];
    size_t outlen, consumed;
    assert_int_equal(decode(in, n, 0, out, sizeof(out), &outlen, &consumed), -1);
    assert_int_equal(decode(in, n, 1, out, sizeof(out), &outlen, &consumed), -1);
}

#define INVALID(name, in)                                                                          \
    static void name(void **state)                                                                 \
    {                                                                                              \
        (void)state;                                                                               \
        check_invalid(in, sizeof(in) - 1);                                                         \
    }

VALID(v_simple, "5\r\nhello\r\n0\r\n\r\n", "hello", 0)
VALID(v_two_chunks, "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", 0)
VALID(v_hex_upper_lower, "A\r\n0123456789\r\nb\r\nabcdefghijk\r\n0\r\n\r\n",
      "0123456789abcdefghijk", 0)
VALID(v_leading_zeros, "0005\r\nhello\r\n000\r\n\r\n", "hello", 0)
VALID(v_empty_body, "0\r\n\r\n", "", 0)
VALID(v_pipelined_after, "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "abc", 16)
VALID(v_ext_token, "5;foo\r\nhello\r\n0;bar\r\n\r\n", "hello", 0)
VALID(v_ext_value, "5;foo=bar;baz=1\r\nhello\r\n0\r\n\r\n", "hello", 0)
VALID(v_ext_quoted, "5;foo=\"a b;\\\"c\"\r\nhello\r\n0\r\n\r\n", "hello", 0)
VALID(v_ext_bws, "5 ;foo = bar\t; x\r\nhello\r\n0\r\n\r\n", "hello", 0)
VALID(v_trailers,
      "5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Empty:\r\nServer-Timing: a;dur=1\r\n\r\n", "hello",
      0)
VALID(v_data_with_crlf, "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n", 0)
VALID(v_16_digits, "0000000000000003\r\nabc\r\n0\r\n\r\n", "abc", 0)
VALID(v_trailer_hostx, "1\r\na\r\n0\r\nHostx: 1\r\nContent-Lengt: 1\r\nX-Host: a\r\n\r\n", "a", 0)

INVALID(i_empty_size, "\r\nhello\r\n0\r\n\r\n")
INVALID(i_data_no_crlf, "5\r\nhelloXX0\r\n\r\n")
INVALID(i_data_only_cr, "5\r\nhello\r0\r\n\r\n")
INVALID(i_data_only_lf, "5\r\nhello\n0\r\n\r\n")
INVALID(i_size_bare_lf, "5\nhello\r\n0\r\n\r\n")
INVALID(i_size_bare_cr, "5\rhello\r\n0\r\n\r\n")
INVALID(i_size_non_hex, "5g\r\nhello\r\n0\r\n\r\n")
INVALID(i_size_sign, "+5\r\nhello\r\n0\r\n\r\n")
INVALID(i_size_0x, "0x5\r\nhello\r\n0\r\n\r\n")
INVALID(i_size_leading_space, " 5\r\nhello\r\n0\r\n\r\n")
INVALID(i_size_trailing_space, "5 \r\nhello\r\n0\r\n\r\n")
INVALID(i_size_17_digits, "00000000000000005\r\nhello\r\n0\r\n\r\n")
INVALID(i_size_overflow, "10000000000000000\r\n")
INVALID(i_ext_bare_cr, "5;a\rb\r\nhello\r\n0\r\n\r\n")
INVALID(i_ext_bare_lf, "5;a\nb\r\nhello\r\n0\r\n\r\n")
INVALID(i_ext_ctl, "5;a=\x01\r\nhello\r\n0\r\n\r\n")
INVALID(i_ext_empty_name, "5;\r\nhello\r\n0\r\n\r\n")
INVALID(i_ext_empty_value, "5;a=\r\nhello\r\n0\r\n\r\n")
INVALID(i_ext_no_semicolon, "5 a\r\nhello\r\n0\r\n\r\n")
INVALID(i_ext_unterminated_qs, "5;a=\"bc\r\nhello\r\n0\r\n\r\n")
INVALID(i_ext_qs_ctl, "5;a=\"b\x7f\"\r\nhello\r\n0\r\n\r\n")
INVALID(i_ext_value_ws_equals, "5;a=b =c\r\nhello\r\n0\r\n\r\n")
INVALID(i_ext_ws_before_crlf, "5;a \r\nhello\r\n0\r\n\r\n")
INVALID(i_last_no_crlf, "0\r\n\rX")
INVALID(i_last_lf_only, "0\r\n\n")
INVALID(i_trailer_obs_fold, "0\r\nX-A: 1\r\n 2\r\n\r\n")
INVALID(i_trailer_no_colon, "0\r\nX-A\r\n\r\n")
INVALID(i_trailer_space_colon, "0\r\nX-A : 1\r\n\r\n")
INVALID(i_trailer_empty_name, "0\r\n: 1\r\n\r\n")
INVALID(i_trailer_bare_lf, "0\r\nX-A: 1\n\r\n")
INVALID(i_trailer_bare_cr, "0\r\nX-A: 1\r2\r\n\r\n")
INVALID(i_trailer_ctl, "0\r\nX-A: \x01\r\n\r\n")
INVALID(i_trailer_content_length, "1\r\na\r\n0\r\nContent-Length: 5\r\n\r\n")
INVALID(i_trailer_transfer_encoding, "0\r\ntransfer-encoding: chunked\r\n\r\n")
INVALID(i_trailer_host, "0\r\nHOST: evil\r\n\r\n")

static void i_ext_line_too_long(void **state)
{
    static char buf[6000];
    size_t      n = 0;
    (void)state;
    buf[n++] = '5';
    buf[n++] = ';';
    buf[n++] = 'a';
    buf[n++] = '=';
    memset(buf + n, 'x', 4200);
    n += 4200;
    memcpy(buf + n, "\r\nhello\r\n0\r\n\r\n", 15);
    n += 15;
    check_invalid(buf, n);
    /* just under 4 KiB including CR is fine */
    memmove(buf + 4 + 4000, buf + 4 + 4200, 15);
    n = 4 + 4000 + 15;
    char   out[64];
    size_t outlen, consumed;
    assert_int_equal(decode(buf, n, 0, out, sizeof(out), &outlen, &consumed), 2);
}

static void i_trailer_too_large(void **state)
{
    static char buf[600];
    size_t      n = 0;
    (void)state;
    memcpy(buf, "0\r\nX-Big: ", 10);
    n = 10;
    memset(buf + n, 'v', 300);
    n += 300;
    memcpy(buf + n, "\r\n\r\n", 4);
    n += 4;
    check_invalid(buf, n);
    /* exactly at the limit: 256 bytes of trailer fields, plus the final CRLF */
    n = 10 + (MAX_TRAILER - 9);
    memcpy(buf + n, "\r\n\r\n", 4);
    n += 4;
    char   out[16];
    size_t outlen, consumed;
    assert_int_equal(decode(buf, n, 0, out, sizeof(out), &outlen, &consumed), 2);
    buf[n - 4] = 'v';
    memcpy(buf + n - 3, "\r\n\r\n", 4);
    assert_int_equal(decode(buf, n + 1, 0, out, sizeof(out), &outlen, &consumed), -1);
}

static void s_error_is_sticky(void **state)
{
    struct h1_chunked d;
    size_t            used;
    struct span       data;
    (void)state;
    h1_chunked_init(&d, 64);
    assert_int_equal(h1_chunked_next(&d, "z", 1, &used, &data), -1);
    assert_int_equal(h1_chunked_next(&d, "0\r\n\r\n", 5, &used, &data), -1);
}

static void s_done_returns_2(void **state)
{
    struct h1_chunked d;
    size_t            used;
    struct span       data;
    (void)state;
    h1_chunked_init(&d, 64);
    assert_int_equal(h1_chunked_next(&d, "0\r\n\r\nNEXT", 9, &used, &data), 2);
    assert_int_equal(used, 5);
    assert_int_equal(h1_chunked_next(&d, "NEXT", 4, &used, &data), 2);
    assert_int_equal(used, 0);
}

static void s_zero_copy_and_partial(void **state)
{
    struct h1_chunked d;
    size_t            used;
    struct span       data;
    const char       *in = "a\r\n0123456789\r\n0\r\n\r\n";
    (void)state;
    h1_chunked_init(&d, 64);
    assert_int_equal(h1_chunked_next(&d, in, 0, &used, &data), 0);
    assert_int_equal(used, 0);
    assert_int_equal(h1_chunked_next(&d, in, 2, &used, &data), 0); /* "a\r" */
    assert_int_equal(used, 2);
    assert_int_equal(h1_chunked_next(&d, in + 2, 5, &used, &data), 1); /* "\n0123" */
    assert_int_equal(used, 5);
    assert_ptr_equal(data.ptr, in + 3);
    assert_int_equal(data.len, 4);
    assert_int_equal(d.remaining, 6);
    assert_int_equal(h1_chunked_next(&d, in + 7, 20, &used, &data), 1);
    assert_int_equal(used, 6);
    assert_ptr_equal(data.ptr, in + 7);
    assert_int_equal(h1_chunked_next(&d, in + 13, strlen(in) - 13, &used, &data), 2);
    assert_int_equal(used, strlen(in) - 13);
}

static void s_large_chunk_size(void **state)
{
    struct h1_chunked d;
    size_t            used;
    struct span       data;
    (void)state;
    h1_chunked_init(&d, 64);
    assert_int_equal(h1_chunked_next(&d, "FFFFFFFFFFFFFFFF\r\nab", 20, &used, &data), 1);
    assert_int_equal(data.len, 2);
    assert_true(d.remaining == UINT64_MAX - 2);
}

static void s_one_byte_at_a_time_mixed(void **state)
{
    /* A long body with every feature, fed in all split sizes by check_valid. */
    static const char in[] =
        "1\r\na\r\n"
        "1a;name=\"quoted \\\\ value\";n2=tok\r\nabcdefghijklmnopqrstuvwxyz\r\n"
        "3 ; x\r\n\r\n\n\r\n"
        "0;last\r\nTrailer-A: 1\r\nTrailer-B:  x y \r\n\r\n";
    (void)state;
    check_valid(in, sizeof(in) - 1, "aabcdefghijklmnopqrstuvwxyz\r\n\n", 0);
}

static void s_invalid_all_prefixes_never_2(void **state)
{
    static const char in[] = "5\r\nhelloXX0\r\n\r\n";
    (void)state;
    for (size_t n = 0; n <= sizeof(in) - 1; n++) {
        char   out[64];
        size_t outlen, consumed;
        assert_true(decode(in, n, 1, out, sizeof(out), &outlen, &consumed) != 2);
    }
    assert_int_equal(decode_all(in), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(v_simple),
        cmocka_unit_test(v_two_chunks),
        cmocka_unit_test(v_hex_upper_lower),
        cmocka_unit_test(v_leading_zeros),
        cmocka_unit_test(v_empty_body),
        cmocka_unit_test(v_pipelined_after),
        cmocka_unit_test(v_ext_token),
        cmocka_unit_test(v_ext_value),
        cmocka_unit_test(v_ext_quoted),
        cmocka_unit_test(v_ext_bws),
        cmocka_unit_test(v_trailers),
        cmocka_unit_test(v_data_with_crlf),
        cmocka_unit_test(v_16_digits),
        cmocka_unit_test(v_trailer_hostx),
        cmocka_unit_test(i_empty_size),
        cmocka_unit_test(i_data_no_crlf),
        cmocka_unit_test(i_data_only_cr),
        cmocka_unit_test(i_data_only_lf),
        cmocka_unit_test(i_size_bare_lf),
        cmocka_unit_test(i_size_bare_cr),
        cmocka_unit_test(i_size_non_hex),
        cmocka_unit_test(i_size_sign),
        cmocka_unit_test(i_size_0x),
        cmocka_unit_test(i_size_leading_space),
        cmocka_unit_test(i_size_trailing_space),
        cmocka_unit_test(i_size_17_digits),
        cmocka_unit_test(i_size_overflow),
        cmocka_unit_test(i_ext_bare_cr),
        cmocka_unit_test(i_ext_bare_lf),
        cmocka_unit_test(i_ext_ctl),
        cmocka_unit_test(i_ext_empty_name),
        cmocka_unit_test(i_ext_empty_value),
        cmocka_unit_test(i_ext_no_semicolon),
        cmocka_unit_test(i_ext_unterminated_qs),
        cmocka_unit_test(i_ext_qs_ctl),
        cmocka_unit_test(i_ext_value_ws_equals),
        cmocka_unit_test(i_ext_ws_before_crlf),
        cmocka_unit_test(i_last_no_crlf),
        cmocka_unit_test(i_last_lf_only),
        cmocka_unit_test(i_trailer_obs_fold),
        cmocka_unit_test(i_trailer_no_colon),
        cmocka_unit_test(i_trailer_space_colon),
        cmocka_unit_test(i_trailer_empty_name),
        cmocka_unit_test(i_trailer_bare_lf),
        cmocka_unit_test(i_trailer_bare_cr),
        cmocka_unit_test(i_trailer_ctl),
        cmocka_unit_test(i_trailer_content_length),
        cmocka_unit_test(i_trailer_transfer_encoding),
        cmocka_unit_test(i_trailer_host),
        cmocka_unit_test(i_ext_line_too_long),
        cmocka_unit_test(i_trailer_too_large),
        cmocka_unit_test(s_error_is_sticky),
        cmocka_unit_test(s_done_returns_2),
        cmocka_unit_test(s_zero_copy_and_partial),
        cmocka_unit_test(s_large_chunk_size),
        cmocka_unit_test(s_one_byte_at_a_time_mixed),
        cmocka_unit_test(s_invalid_all_prefixes_never_2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
