/*
 * Unit tests for router/h1_parse.c: request and response heads. Every rejection the
 * validation layer promises (TESTING.md "Security regressions") has a case asserting
 * its exact status, next to the valid forms that must keep working.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "router/h1_parse.h"

static const struct h1_limits LIM = {
    .request_line = 256, .header_bytes = 1024, .header_fields = 16};
static struct h1_field    F[32];
static struct h1_request  R;
static struct h1_response S;

static int reqn(const char *s, size_t n)
{
    return h1_parse_request(s, n, &LIM, &R, F, 32);
}

static int req(const char *s)
{
    return reqn(s, strlen(s));
}

static int resp(const char *s, enum h1_method m)
{
    return h1_parse_response(s, strlen(s), m, &LIM, &S, F, 32);
}

static int span_is(struct span s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

#define H11(rest) "GET / HTTP/1.1\r\nHost: a.example\r\n" rest

/* One rejection per test: the exact status and a reason for the logs. */
#define REQ_REJECT(name, status, str)                                                              \
    static void name(void **state)                                                                 \
    {                                                                                              \
        (void)state;                                                                               \
        assert_int_equal(req(str), status);                                                        \
        assert_non_null(R.error);                                                                  \
    }
#define RESP_REJECT(name, str)                                                                     \
    static void name(void **state)                                                                 \
    {                                                                                              \
        (void)state;                                                                               \
        assert_int_equal(resp(str, H1_M_GET), -502);                                               \
        assert_non_null(S.error);                                                                  \
    }

/* ---- request line ----------------------------------------------------------------- */
REQ_REJECT(rl_http09, -400, "GET /\r\n\r\n")
REQ_REJECT(rl_http20, -400, "GET / HTTP/2.0\r\nHost: a\r\n\r\n")
REQ_REJECT(rl_http12, -400, "GET / HTTP/1.2\r\nHost: a\r\n\r\n")
REQ_REJECT(rl_lower_version, -400, "GET / http/1.1\r\nHost: a\r\n\r\n")
REQ_REJECT(rl_two_spaces_after_method, -400, "GET  / HTTP/1.1\r\nHost: a\r\n\r\n")
REQ_REJECT(rl_two_spaces_before_version, -400, "GET /  HTTP/1.1\r\nHost: a\r\n\r\n")
REQ_REJECT(rl_trailing_space, -400, "GET / HTTP/1.1 \r\nHost: a\r\n\r\n")
REQ_REJECT(rl_leading_space, -400, " GET / HTTP/1.1\r\nHost: a\r\n\r\n")
REQ_REJECT(rl_tab_separator, -400, "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n")
REQ_REJECT(rl_bad_method_char, -400, "G(T / HTTP/1.1\r\nHost: a\r\n\r\n")
REQ_REJECT(rl_empty_line_first, -400, "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
REQ_REJECT(rl_bare_lf, -400, "GET / HTTP/1.1\nHost: a\r\n\r\n")
REQ_REJECT(rl_bare_cr, -400, "GET / HTTP/1.1\rHost: a\r\n\r\n")
REQ_REJECT(rl_fragment, -400, "GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n")
REQ_REJECT(rl_star_get, -400, "GET * HTTP/1.1\r\nHost: a\r\n\r\n")
REQ_REJECT(rl_connect_authority, -400,
           "CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n")
REQ_REJECT(rl_authority_form_get, -400, "GET a.example:80 HTTP/1.1\r\nHost: a.example\r\n\r\n")
REQ_REJECT(rl_ftp_scheme, -400, "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n")
REQ_REJECT(rl_absolute_host_mismatch, -400,
           "GET http://a.example/x HTTP/1.1\r\nHost: b.example\r\n\r\n")
REQ_REJECT(rl_absolute_userinfo, -400, "GET http://u@a/x HTTP/1.1\r\nHost: a\r\n\r\n")
REQ_REJECT(rl_absolute_empty_authority, -400, "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n")
REQ_REJECT(rl_absolute_query_no_path, -400, "GET http://a?x HTTP/1.1\r\nHost: a\r\n\r\n")
REQ_REJECT(rl_relative_target, -400, "GET x/y HTTP/1.1\r\nHost: a\r\n\r\n")
REQ_REJECT(rl_custom_method_llhttp, -400, "FROB / HTTP/1.1\r\nHost: a\r\n\r\n")

static void rl_nonascii_target(void **state)
{
    (void)state;
    assert_int_equal(req("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
    assert_int_equal(req("GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
    assert_int_equal(reqn("GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n", 28), -400);
}

static void rl_too_long_414(void **state)
{
    char buf[600];
    (void)state;
    memcpy(buf, "GET /", 5);
    memset(buf + 5, 'a', sizeof(buf) - 5);
    /* incomplete line already over the limit */
    assert_int_equal(reqn(buf, 300), -414);
    /* complete line over the limit */
    memcpy(buf + 280, " HTTP/1.1\r\nHost: a\r\n\r\n", 23);
    assert_int_equal(reqn(buf, 303), -414);
    /* right at the limit: not yet */
    assert_int_equal(reqn(buf, 256), 0);
}

/* ---- fields ----------------------------------------------------------------------- */
REQ_REJECT(f_space_before_colon, -400, H11("X-A : 1\r\n\r\n"))
REQ_REJECT(f_host_space_before_colon, -400, "GET / HTTP/1.1\r\nHost : a\r\n\r\n")
REQ_REJECT(f_space_in_name, -400, H11("X A: 1\r\n\r\n"))
REQ_REJECT(f_empty_name, -400, H11(": 1\r\n\r\n"))
REQ_REJECT(f_no_colon, -400, H11("X-A\r\n\r\n"))
REQ_REJECT(f_obs_fold_sp, -400, H11("X-A: 1\r\n 2\r\n\r\n"))
REQ_REJECT(f_obs_fold_tab, -400, H11("X-A: 1\r\n\t2\r\n\r\n"))
REQ_REJECT(f_bare_lf_line, -400, H11("X-A: 1\nX-B: 2\r\n\r\n"))
REQ_REJECT(f_bare_cr_value, -400, H11("X-A: 1\r2\r\n\r\n"))
REQ_REJECT(f_bare_lf_end, -400, H11("X-A: 1\r\n\n"))
REQ_REJECT(f_end_cr_x, -400, H11("X-A: 1\r\n\rX"))
REQ_REJECT(f_end_cr_x_more, -400, H11("\rX\r\n\r\n"))
REQ_REJECT(f_ctl_value, -400, H11("X-A: a\x01z\r\n\r\n"))
REQ_REJECT(f_del_value, -400, H11("X-A: a\x7fz\r\n\r\n"))
REQ_REJECT(f_esc_value, -400, H11("X-A: \x1b[0m\r\n\r\n"))
REQ_REJECT(f_nonascii_name, -400, H11("X-\xc3\xa9: 1\r\n\r\n"))

static void f_nul_value(void **state)
{
    static const char m[] = "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n";
    (void)state;
    assert_int_equal(reqn(m, sizeof(m) - 1), -400);
}

static void f_too_many_431(void **state)
{
    char   buf[1024];
    size_t n = 0;
    (void)state;
    n += (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 16; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%d: v\r\n", i);
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
    assert_int_equal(reqn(buf, n), -431);
}

static void f_cap_431(void **state)
{
    struct h1_field small[2];
    const char     *m = H11("X-A: 1\r\nX-B: 2\r\n\r\n");
    (void)state;
    assert_int_equal(h1_parse_request(m, strlen(m), &LIM, &R, small, 2), -431);
}

static void f_head_bytes_431(void **state)
{
    char buf[1200];
    (void)state;
    memcpy(buf, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ", 32);
    memset(buf + 32, 'v', sizeof(buf) - 32);
    /* incomplete, already past header_bytes */
    assert_int_equal(reqn(buf, 1025), -431);
    assert_int_equal(reqn(buf, 1024), 0);
    /* complete but over */
    memcpy(buf + 1020, "\r\n\r\n", 4);
    assert_int_equal(reqn(buf, 1024), 1024);
    memcpy(buf + 1020, "v\r\n\r\n", 5);
    assert_int_equal(reqn(buf, 1025), -431);
}

/* ---- Host ------------------------------------------------------------------------- */
REQ_REJECT(h_missing_11, -400, "GET / HTTP/1.1\r\nX-A: 1\r\n\r\n")
REQ_REJECT(h_duplicate, -400, "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n")
REQ_REJECT(h_duplicate_10, -400, "GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n")
REQ_REJECT(h_empty, -400, "GET / HTTP/1.1\r\nHost: \r\n\r\n")
REQ_REJECT(h_space_inside, -400, "GET / HTTP/1.1\r\nHost: a b\r\n\r\n")
REQ_REJECT(h_slash, -400, "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n")
REQ_REJECT(h_userinfo, -400, "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n")

/* ---- framing ---------------------------------------------------------------------- */
REQ_REJECT(fr_cl_te, -400, H11("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"))
REQ_REJECT(fr_te_cl, -400, H11("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"))
REQ_REJECT(fr_cl_dup_same, -400, H11("Content-Length: 5\r\nContent-Length: 5\r\n\r\n"))
REQ_REJECT(fr_cl_dup_diff, -400, H11("Content-Length: 5\r\nContent-Length: 6\r\n\r\n"))
REQ_REJECT(fr_cl_list, -400, H11("Content-Length: 5, 5\r\n\r\n"))
REQ_REJECT(fr_cl_sign, -400, H11("Content-Length: +5\r\n\r\n"))
REQ_REJECT(fr_cl_neg, -400, H11("Content-Length: -1\r\n\r\n"))
REQ_REJECT(fr_cl_hex, -400, H11("Content-Length: 0x5\r\n\r\n"))
REQ_REJECT(fr_cl_empty, -400, H11("Content-Length: \r\n\r\n"))
REQ_REJECT(fr_cl_inner_space, -400, H11("Content-Length: 1 2\r\n\r\n"))
REQ_REJECT(fr_cl_20_digits, -400, H11("Content-Length: 00000000000000000001\r\n\r\n"))
REQ_REJECT(fr_te_dup, -400, H11("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"))
REQ_REJECT(fr_te_chunked_twice, -400, H11("Transfer-Encoding: chunked, chunked\r\n\r\n"))
REQ_REJECT(fr_te_chunked_not_last, -400, H11("Transfer-Encoding: chunked, gzip\r\n\r\n"))
REQ_REJECT(fr_te_empty, -400, H11("Transfer-Encoding: \r\n\r\n"))
REQ_REJECT(fr_te_empty_element, -400, H11("Transfer-Encoding: , chunked\r\n\r\n"))
REQ_REJECT(fr_te_garbage, -400, H11("Transfer-Encoding: chun ked\r\n\r\n"))
REQ_REJECT(fr_te_params, -400, H11("Transfer-Encoding: chunked;q=1\r\n\r\n"))
REQ_REJECT(fr_te_gzip_chunked, -501, H11("Transfer-Encoding: gzip, chunked\r\n\r\n"))
REQ_REJECT(fr_te_identity, -501, H11("Transfer-Encoding: identity\r\n\r\n"))
REQ_REJECT(fr_te_gzip, -501, H11("Transfer-Encoding: gzip\r\n\r\n"))
REQ_REJECT(fr_te_http10, -400, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n")

/* ---- Expect ----------------------------------------------------------------------- */
REQ_REJECT(ex_other, -417, H11("Expect: 200-ok\r\n\r\n"))
REQ_REJECT(ex_empty, -417, H11("Expect: \r\n\r\n"))
REQ_REJECT(ex_other_10, -417, "GET / HTTP/1.0\r\nExpect: x\r\n\r\n")

static void ex_100_continue(void **state)
{
    (void)state;
    assert_true(
        req("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n") > 0);
    assert_true(R.flags & H1_F_EXPECT_100);
    assert_true(req("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n") > 0);
    assert_false(R.flags & H1_F_EXPECT_100); /* ignored in HTTP/1.0 (RFC 9110 §10.1.1) */
}

/* ---- Connection ------------------------------------------------------------------- */
REQ_REJECT(cn_bad_token, -400, H11("Connection: clo\"se\r\n\r\n"))

static void cn_close(void **state)
{
    (void)state;
    assert_true(req(H11("Connection: keep-alive, Close\r\n\r\n")) > 0);
    assert_true(R.flags & H1_F_CONN_CLOSE);
    assert_true(req(H11("\r\n")) > 0);
    assert_false(R.flags & H1_F_CONN_CLOSE);
}

static void cn_http10(void **state)
{
    (void)state;
    assert_true(req("GET / HTTP/1.0\r\n\r\n") > 0);
    assert_true(R.flags & H1_F_CONN_CLOSE);
    assert_int_equal(R.minor, 0);
    assert_null(R.host.ptr);
    assert_true(req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: a\r\n\r\n") > 0);
    assert_false(R.flags & H1_F_CONN_CLOSE);
    assert_true(span_is(R.host, "a"));
}

static void cn_drop_named(void **state)
{
    (void)state;
    assert_true(req("GET / HTTP/1.1\r\nConnection: x-secret, , HOST,keep-alive\r\nHost: a\r\n"
                    "X-Secret: 1\r\nx-secret: 2\r\nX-Other: 3\r\nKeep-Alive: t=5\r\n\r\n") > 0);
    assert_int_equal(R.nfields, 6);
    assert_int_equal(F[0].drop, 0); /* Connection itself: hop-by-hop, not "named" */
    assert_int_equal(F[1].drop, 0); /* Host is never dropped */
    assert_int_equal(F[2].drop, 1);
    assert_int_equal(F[3].drop, 1);
    assert_int_equal(F[4].drop, 0);
    assert_int_equal(F[5].drop, 1);
    assert_true(span_is(R.host, "a"));
}

static void cn_drop_framing_kept(void **state)
{
    (void)state;
    assert_true(req(H11("Connection: content-length\r\nContent-Length: 4\r\n\r\n")) > 0);
    assert_int_equal(R.body, H1_BODY_LENGTH); /* framing ignores drop */
    assert_int_equal(R.content_length, 4);
}

static void cn_websocket(void **state)
{
    (void)state;
    assert_true(req("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
                    "Upgrade: h2c, WebSocket\r\nSec-WebSocket-Version: 13\r\n\r\n") > 0);
    assert_true(R.flags & H1_F_UPGRADE_WS);
    /* no "upgrade" option */
    assert_true(req("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n") > 0);
    assert_false(R.flags & H1_F_UPGRADE_WS);
    /* not GET */
    assert_true(
        req("POST /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n") >
        0);
    assert_false(R.flags & H1_F_UPGRADE_WS);
    /* HTTP/1.0 */
    assert_true(req("GET /ws HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n") > 0);
    assert_false(R.flags & H1_F_UPGRADE_WS);
    /* other protocol */
    assert_true(
        req("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocketx\r\n\r\n") >
        0);
    assert_false(R.flags & H1_F_UPGRADE_WS);
}

/* ---- valid requests ---------------------------------------------------------------- */
static void ok_simple_pipelined(void **state)
{
    const char *m = "GET /a?b=c HTTP/1.1\r\nHost:  a.example:8080 \r\nX-Empty:\r\n"
                    "User-Agent: t\xc3\xa9st\t\r\n\r\nGET /next HTTP/1.1\r\n";
    size_t      head = strlen(m) - strlen("GET /next HTTP/1.1\r\n");
    (void)state;
    assert_int_equal(req(m), (int)head);
    assert_int_equal(R.head_len, head);
    assert_true(span_is(R.method, "GET"));
    assert_int_equal(R.method_id, H1_M_GET);
    assert_true(span_is(R.target, "/a?b=c"));
    assert_true(span_is(R.path, "/a?b=c"));
    assert_true(span_is(R.host, "a.example:8080"));
    assert_int_equal(R.minor, 1);
    assert_int_equal(R.flags, 0);
    assert_int_equal(R.body, H1_BODY_NONE);
    assert_int_equal(R.nfields, 3);
    assert_ptr_equal(R.fields, F);
    assert_true(span_is(F[0].name, "Host"));
    assert_int_equal(F[0].tok, TOK_HOST);
    assert_true(span_is(F[1].name, "X-Empty"));
    assert_int_equal(F[1].value.len, 0);
    assert_int_equal(F[1].tok, TOK_OTHER);
    assert_true(span_is(F[2].value, "t\xc3\xa9st")); /* obs-text kept, OWS trimmed */
    assert_ptr_equal(F[2].value.ptr, strstr(m, "t\xc3\xa9st"));
    assert_null(R.error);
}

static void ok_need_more(void **state)
{
    const char *m = H11("X-A: 1\r\n\r\n");
    size_t      n = strlen(m);
    (void)state;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(reqn(m, i), 0);
    assert_int_equal(reqn(m, n), (int)n);
}

static void ok_methods(void **state)
{
    static const struct {
        const char    *m;
        enum h1_method id;
    } t[] = {
        {"GET", H1_M_GET},     {"HEAD", H1_M_HEAD},     {"POST", H1_M_POST},
        {"PUT", H1_M_PUT},     {"DELETE", H1_M_DELETE}, {"OPTIONS", H1_M_OPTIONS},
        {"TRACE", H1_M_TRACE}, {"PATCH", H1_M_PATCH},   {"PROPFIND", H1_M_OTHER},
    };
    char buf[128];
    (void)state;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        int n = snprintf(buf, sizeof(buf), "%s / HTTP/1.1\r\nHost: a\r\n\r\n", t[i].m);
        assert_int_equal(reqn(buf, (size_t)n), n);
        assert_int_equal(R.method_id, t[i].id);
    }
}

static void ok_lowercase_method_is_other(void **state)
{
    (void)state;
    /* methods are case-sensitive; llhttp does not know "get" */
    assert_int_equal(req("get / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
}

static void ok_options_star(void **state)
{
    (void)state;
    assert_true(req("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n") > 0);
    assert_true(span_is(R.path, "*"));
    assert_int_equal(R.method_id, H1_M_OPTIONS);
}

static void ok_absolute_form(void **state)
{
    (void)state;
    assert_true(req("GET HTTP://A.Example:80/p?q=1 HTTP/1.1\r\nHost: a.example:80\r\n\r\n") > 0);
    assert_true(R.flags & H1_F_ABSOLUTE_FORM);
    assert_true(span_is(R.path, "/p?q=1"));
    assert_true(span_is(R.target, "HTTP://A.Example:80/p?q=1"));
    assert_true(span_is(R.host, "a.example:80"));
    assert_true(req("GET https://a HTTP/1.1\r\nHost: a\r\n\r\n") > 0);
    assert_true(span_is(R.path, "/"));
    assert_true(req("GET http://a/x HTTP/1.0\r\n\r\n") > 0);
    assert_true(span_is(R.host, "a"));
}

static void ok_content_length(void **state)
{
    (void)state;
    assert_true(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\nhello world!") > 0);
    assert_int_equal(R.body, H1_BODY_LENGTH);
    assert_int_equal(R.content_length, 12);
    assert_int_equal(R.head_len,
                     strlen("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n"));
    assert_true(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n") > 0);
    assert_int_equal(R.body, H1_BODY_NONE);
    assert_int_equal(R.content_length, 0);
    assert_true(req("POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 9999999999999999999\r\n\r\n") >
                0);
    assert_int_equal(R.content_length, 9999999999999999999ull);
}

static void ok_chunked(void **state)
{
    (void)state;
    assert_true(req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  CHUNKED \r\n\r\n5\r\n") > 0);
    assert_int_equal(R.body, H1_BODY_CHUNKED);
    assert_int_equal(F[1].tok, TOK_TRANSFER_ENCODING);
}

static void ok_interning(void **state)
{
    static const struct {
        const char *n;
        enum h1_tok t;
        int         hop;
    } t[] = {
        {"HOST", TOK_HOST, 0},
        {"content-length", TOK_CONTENT_LENGTH, 1},
        {"Connection", TOK_CONNECTION, 1},
        {"keep-alive", TOK_KEEP_ALIVE, 1},
        {"Proxy-Connection", TOK_PROXY_CONNECTION, 1},
        {"te", TOK_TE, 1},
        {"Trailer", TOK_TRAILER, 1},
        {"upgrade", TOK_UPGRADE, 1},
        {"Proxy-Authorization", TOK_PROXY_AUTHORIZATION, 1},
        {"proxy-authenticate", TOK_PROXY_AUTHENTICATE, 1},
        {"X-Forwarded-For", TOK_X_FORWARDED_FOR, 0},
        {"x-forwarded-proto", TOK_X_FORWARDED_PROTO, 0},
        {"X-Forwarded-Host", TOK_X_FORWARDED_HOST, 0},
        {"X-Request-Id", TOK_X_REQUEST_ID, 0},
        {"HTTP2-Settings", TOK_HTTP2_SETTINGS, 1},
        {"X-Hostx", TOK_OTHER, 0},
        {"Hosts", TOK_OTHER, 0},
    };
    char buf[256];
    (void)state;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n%s: 0\r\n%s\r\n", t[i].n,
                         t[i].t == TOK_HOST ? "" : "Host: a\r\n");
        assert_int_equal(reqn(buf, (size_t)n), n);
        assert_int_equal(F[0].tok, t[i].t);
        assert_int_equal(h1_tok_is_hop_by_hop(F[0].tok), t[i].hop);
    }
    assert_true(h1_tok_is_hop_by_hop(TOK_TRANSFER_ENCODING));
    assert_false(h1_tok_is_hop_by_hop(TOK_OTHER));
    assert_false(h1_tok_is_hop_by_hop(TOK_EXPECT));
}

static void ok_null_limits(void **state)
{
    const char *m = H11("\r\n");
    (void)state;
    assert_int_equal(h1_parse_request(m, strlen(m), NULL, &R, F, 32), (int)strlen(m));
}

/* ---- responses --------------------------------------------------------------------- */
RESP_REJECT(rs_http09, "200 OK\r\n\r\n")
RESP_REJECT(rs_http20, "HTTP/2.0 200 OK\r\n\r\n")
RESP_REJECT(rs_lower, "http/1.1 200 OK\r\n\r\n")
RESP_REJECT(rs_two_digits, "HTTP/1.1 20 OK\r\n\r\n")
RESP_REJECT(rs_four_digits, "HTTP/1.1 2000 OK\r\n\r\n")
RESP_REJECT(rs_status_099, "HTTP/1.1 099 X\r\n\r\n")
RESP_REJECT(rs_double_space, "HTTP/1.1  200 OK\r\n\r\n")
RESP_REJECT(rs_reason_ctl, "HTTP/1.1 200 O\x01K\r\n\r\n")
RESP_REJECT(rs_bare_lf, "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n")
RESP_REJECT(rs_cl_te, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
RESP_REJECT(rs_cl_dup, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n")
RESP_REJECT(rs_cl_bad, "HTTP/1.1 200 OK\r\nContent-Length: 3x\r\n\r\n")
RESP_REJECT(rs_te_gzip, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")
RESP_REJECT(rs_te_http10, "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
RESP_REJECT(rs_obs_fold, "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\n\r\n")
RESP_REJECT(rs_space_colon, "HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n")
RESP_REJECT(rs_end_cr_x, "HTTP/1.1 200 OK\r\nX-A: 1\r\n\rX")

static void rs_204_still_validates(void **state)
{
    (void)state;
    assert_int_equal(
        resp("HTTP/1.1 204 No Content\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", H1_M_GET),
        -502);
    assert_int_equal(
        resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
             H1_M_HEAD),
        -502);
}

static void rs_limits(void **state)
{
    char buf[1100];
    (void)state;
    memcpy(buf, "HTTP/1.1 200 ", 13);
    memset(buf + 13, 'r', sizeof(buf) - 13);
    assert_int_equal(h1_parse_response(buf, 300, H1_M_GET, &LIM, &S, F, 32), -502);
    memcpy(buf, "HTTP/1.1 200 OK\r\nX: ", 20);
    assert_int_equal(h1_parse_response(buf, 1025, H1_M_GET, &LIM, &S, F, 32), -502);
    assert_int_equal(h1_parse_response(buf, 1000, H1_M_GET, &LIM, &S, F, 32), 0);
}

static void rs_framing(void **state)
{
    static const struct {
        const char    *head;
        enum h1_method m;
        enum h1_body   body;
        uint64_t       cl;
        int            close;
    } t[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", H1_M_GET, H1_BODY_LENGTH, 5, 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", H1_M_HEAD, H1_BODY_NONE, 5, 0},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", H1_M_GET, H1_BODY_CHUNKED, 0, 0},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", H1_M_HEAD, H1_BODY_NONE, 0, 0},
        {"HTTP/1.1 204 No Content\r\n\r\n", H1_M_GET, H1_BODY_NONE, 0, 0},
        {"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", H1_M_GET, H1_BODY_NONE, 10, 0},
        {"HTTP/1.1 100 Continue\r\n\r\n", H1_M_POST, H1_BODY_NONE, 0, 0},
        {"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
         H1_M_GET, H1_BODY_NONE, 0, 0},
        {"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", H1_M_GET, H1_BODY_NONE, 0, 0},
        {"HTTP/1.1 200 OK\r\n\r\n", H1_M_GET, H1_BODY_UNTIL_CLOSE, 0, 1},
        {"HTTP/1.1 200 OK\r\n\r\n", H1_M_CONNECT, H1_BODY_NONE, 0, 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", H1_M_GET, H1_BODY_NONE, 0, 0},
        {"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 1\r\n\r\n", H1_M_GET,
         H1_BODY_LENGTH, 1, 1},
        {"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", H1_M_GET, H1_BODY_LENGTH, 1, 1},
        {"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", H1_M_GET,
         H1_BODY_LENGTH, 1, 0},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        int r = resp(t[i].head, t[i].m);
        if (r != (int)strlen(t[i].head))
            fail_msg("case %zu: %d (%s)", i, r, S.error ? S.error : "");
        assert_int_equal(S.body, t[i].body);
        assert_int_equal(S.content_length, t[i].cl);
        assert_int_equal(!!(S.flags & H1_F_CONN_CLOSE), t[i].close);
    }
}

static void rs_status_line_forms(void **state)
{
    (void)state;
    assert_true(resp("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", H1_M_GET) > 0);
    assert_int_equal(S.status, 200);
    assert_int_equal(S.reason.len, 0);
    assert_true(resp("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", H1_M_GET) > 0);
    assert_int_equal(S.reason.len, 0);
    assert_true(resp("HTTP/1.1 599 Some Thing \xe2\x9c\x93\r\nContent-Length: 0\r\n\r\nbody",
                     H1_M_GET) > 0);
    assert_int_equal(S.status, 599);
    assert_true(span_is(S.reason, "Some Thing \xe2\x9c\x93"));
    assert_int_equal(S.head_len,
                     strlen("HTTP/1.1 599 Some Thing \xe2\x9c\x93\r\nContent-Length: 0\r\n\r\n"));
    assert_int_equal(S.nfields, 1);
    assert_int_equal(resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", H1_M_GET), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rl_http09),
        cmocka_unit_test(rl_http20),
        cmocka_unit_test(rl_http12),
        cmocka_unit_test(rl_lower_version),
        cmocka_unit_test(rl_two_spaces_after_method),
        cmocka_unit_test(rl_two_spaces_before_version),
        cmocka_unit_test(rl_trailing_space),
        cmocka_unit_test(rl_leading_space),
        cmocka_unit_test(rl_tab_separator),
        cmocka_unit_test(rl_bad_method_char),
        cmocka_unit_test(rl_empty_line_first),
        cmocka_unit_test(rl_bare_lf),
        cmocka_unit_test(rl_bare_cr),
        cmocka_unit_test(rl_fragment),
        cmocka_unit_test(rl_star_get),
        cmocka_unit_test(rl_connect_authority),
        cmocka_unit_test(rl_authority_form_get),
        cmocka_unit_test(rl_ftp_scheme),
        cmocka_unit_test(rl_absolute_host_mismatch),
        cmocka_unit_test(rl_absolute_userinfo),
        cmocka_unit_test(rl_absolute_empty_authority),
        cmocka_unit_test(rl_absolute_query_no_path),
        cmocka_unit_test(rl_relative_target),
        cmocka_unit_test(rl_custom_method_llhttp),
        cmocka_unit_test(rl_nonascii_target),
        cmocka_unit_test(rl_too_long_414),
        cmocka_unit_test(f_space_before_colon),
        cmocka_unit_test(f_host_space_before_colon),
        cmocka_unit_test(f_space_in_name),
        cmocka_unit_test(f_empty_name),
        cmocka_unit_test(f_no_colon),
        cmocka_unit_test(f_obs_fold_sp),
        cmocka_unit_test(f_obs_fold_tab),
        cmocka_unit_test(f_bare_lf_line),
        cmocka_unit_test(f_bare_cr_value),
        cmocka_unit_test(f_bare_lf_end),
        cmocka_unit_test(f_end_cr_x),
        cmocka_unit_test(f_end_cr_x_more),
        cmocka_unit_test(f_ctl_value),
        cmocka_unit_test(f_del_value),
        cmocka_unit_test(f_esc_value),
        cmocka_unit_test(f_nonascii_name),
        cmocka_unit_test(f_nul_value),
        cmocka_unit_test(f_too_many_431),
        cmocka_unit_test(f_cap_431),
        cmocka_unit_test(f_head_bytes_431),
        cmocka_unit_test(h_missing_11),
        cmocka_unit_test(h_duplicate),
        cmocka_unit_test(h_duplicate_10),
        cmocka_unit_test(h_empty),
        cmocka_unit_test(h_space_inside),
        cmocka_unit_test(h_slash),
        cmocka_unit_test(h_userinfo),
        cmocka_unit_test(fr_cl_te),
        cmocka_unit_test(fr_te_cl),
        cmocka_unit_test(fr_cl_dup_same),
        cmocka_unit_test(fr_cl_dup_diff),
        cmocka_unit_test(fr_cl_list),
        cmocka_unit_test(fr_cl_sign),
        cmocka_unit_test(fr_cl_neg),
        cmocka_unit_test(fr_cl_hex),
        cmocka_unit_test(fr_cl_empty),
        cmocka_unit_test(fr_cl_inner_space),
        cmocka_unit_test(fr_cl_20_digits),
        cmocka_unit_test(fr_te_dup),
        cmocka_unit_test(fr_te_chunked_twice),
        cmocka_unit_test(fr_te_chunked_not_last),
        cmocka_unit_test(fr_te_empty),
        cmocka_unit_test(fr_te_empty_element),
        cmocka_unit_test(fr_te_garbage),
        cmocka_unit_test(fr_te_params),
        cmocka_unit_test(fr_te_gzip_chunked),
        cmocka_unit_test(fr_te_identity),
        cmocka_unit_test(fr_te_gzip),
        cmocka_unit_test(fr_te_http10),
        cmocka_unit_test(ex_other),
        cmocka_unit_test(ex_empty),
        cmocka_unit_test(ex_other_10),
        cmocka_unit_test(ex_100_continue),
        cmocka_unit_test(cn_bad_token),
        cmocka_unit_test(cn_close),
        cmocka_unit_test(cn_http10),
        cmocka_unit_test(cn_drop_named),
        cmocka_unit_test(cn_drop_framing_kept),
        cmocka_unit_test(cn_websocket),
        cmocka_unit_test(ok_simple_pipelined),
        cmocka_unit_test(ok_need_more),
        cmocka_unit_test(ok_methods),
        cmocka_unit_test(ok_lowercase_method_is_other),
        cmocka_unit_test(ok_options_star),
        cmocka_unit_test(ok_absolute_form),
        cmocka_unit_test(ok_content_length),
        cmocka_unit_test(ok_chunked),
        cmocka_unit_test(ok_interning),
        cmocka_unit_test(ok_null_limits),
        cmocka_unit_test(rs_http09),
        cmocka_unit_test(rs_http20),
        cmocka_unit_test(rs_lower),
        cmocka_unit_test(rs_two_digits),
        cmocka_unit_test(rs_four_digits),
        cmocka_unit_test(rs_status_099),
        cmocka_unit_test(rs_double_space),
        cmocka_unit_test(rs_reason_ctl),
        cmocka_unit_test(rs_bare_lf),
        cmocka_unit_test(rs_cl_te),
        cmocka_unit_test(rs_cl_dup),
        cmocka_unit_test(rs_cl_bad),
        cmocka_unit_test(rs_te_gzip),
        cmocka_unit_test(rs_te_http10),
        cmocka_unit_test(rs_obs_fold),
        cmocka_unit_test(rs_space_colon),
        cmocka_unit_test(rs_end_cr_x),
        cmocka_unit_test(rs_204_still_validates),
        cmocka_unit_test(rs_limits),
        cmocka_unit_test(rs_framing),
        cmocka_unit_test(rs_status_line_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
