/*
 * h1_parse: strict HTTP/1.1 message-head parsing and body framing (RFC 9112), the
 * validation layer that stands above llhttp.
 *
 * A head is parsed only once it is complete (its terminating CRLFCRLF has arrived), in
 * one pass that also validates it; llhttp (strict mode) then parses the same bytes as a
 * second opinion and must agree. Anything ambiguous is rejected: bare CR or LF, obs-fold,
 * empty or non-token field names, control characters in values, CL+TE, duplicate or
 * invalid Content-Length, Transfer-Encoding other than a lone "chunked", missing or
 * duplicate Host, HTTP/0.9 and unknown versions, '*' outside OPTIONS, fragments,
 * whitespace or control bytes in the target.
 *
 * Parsed fields are spans into the caller's buffer: they live as long as those bytes.
 * Nothing here allocates; the caller provides the field array.
 */
#ifndef HOSTESS_ROUTER_H1_PARSE_H
#define HOSTESS_ROUTER_H1_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "router/base/span.h"

/* Well-known field names, interned at parse time so later passes test ids, not strings. */
enum h1_tok {
    TOK_OTHER = 0,
    TOK_HOST,
    TOK_CONTENT_LENGTH,
    TOK_TRANSFER_ENCODING,
    TOK_CONNECTION,
    TOK_KEEP_ALIVE,
    TOK_PROXY_CONNECTION,
    TOK_TE,
    TOK_TRAILER,
    TOK_UPGRADE,
    TOK_EXPECT,
    TOK_PROXY_AUTHORIZATION,
    TOK_PROXY_AUTHENTICATE,
    TOK_X_FORWARDED_FOR,
    TOK_X_FORWARDED_PROTO,
    TOK_X_FORWARDED_HOST,
    TOK_X_REQUEST_ID,
    TOK_HTTP2_SETTINGS,
    TOK__COUNT
};

/* Fields a proxy never forwards as received (RFC 9110 §7.6.1): Connection, Keep-Alive,
 * Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-Authorization,
 * Proxy-Authenticate, HTTP2-Settings, and Content-Length too: the edge always writes
 * the framing fields itself. Returns 1 or 0. */
int h1_tok_is_hop_by_hop(enum h1_tok t);

/* The token of a field name (any case); TOK_OTHER for names without one. Shared with
 * the HTTP/2 side, whose fields are not parsed from HTTP/1.1 bytes. */
enum h1_tok h1_intern(const char *p, size_t n);

struct h1_field {
    struct span name;  /* as received (case preserved), validated token */
    struct span value; /* OWS trimmed */
    enum h1_tok tok;
    uint8_t     drop; /* set by h1_parse when Connection names this field */
};

struct h1_limits {
    uint32_t request_line;  /* bytes of the request line, without CRLF; over → -414 */
    uint32_t header_bytes;  /* bytes of the whole head; over → -431 */
    uint32_t header_fields; /* number of fields; over → -431 */
};

enum h1_body { H1_BODY_NONE = 0, H1_BODY_LENGTH, H1_BODY_CHUNKED, H1_BODY_UNTIL_CLOSE };

enum h1_method {
    H1_M_OTHER = 0,
    H1_M_GET,
    H1_M_HEAD,
    H1_M_POST,
    H1_M_PUT,
    H1_M_DELETE,
    H1_M_OPTIONS,
    H1_M_TRACE,
    H1_M_PATCH,
    H1_M_CONNECT
};

#define H1_F_CONN_CLOSE 0x01u    /* Connection: close, or HTTP/1.0 without keep-alive */
#define H1_F_UPGRADE_WS 0x02u    /* GET with Connection: upgrade and Upgrade: websocket */
#define H1_F_EXPECT_100 0x04u    /* Expect: 100-continue (HTTP/1.1 only) */
#define H1_F_ABSOLUTE_FORM 0x08u /* target was absolute-form; path holds the origin-form */

/* The method id of a method token (case-sensitive), H1_M_OTHER for other tokens. */
enum h1_method h1_method_id(const char *p, size_t n);

struct h1_request {
    struct span      method;
    struct span      target; /* as received */
    struct span      path;   /* origin-form to forward ("/..." or "*") */
    struct span      host;   /* the Host value (trimmed), exactly one present */
    enum h1_method   method_id;
    uint8_t          minor; /* 0 or 1: HTTP/1.0 or HTTP/1.1 */
    uint32_t         flags; /* H1_F_* */
    enum h1_body     body;  /* NONE, LENGTH or CHUNKED (never UNTIL_CLOSE) */
    uint64_t         content_length;
    struct h1_field *fields; /* caller's array */
    size_t           nfields;
    size_t           head_len; /* bytes of the head including the final CRLFCRLF */
    const char      *error;    /* on failure: a short reason for logs ("CL+TE", ...) */
};

struct h1_response {
    int              status; /* 100..999 */
    uint8_t          minor;
    struct span      reason;
    uint32_t         flags; /* H1_F_CONN_CLOSE */
    enum h1_body     body;  /* NONE (HEAD, 1xx, 204, 304), LENGTH, CHUNKED, UNTIL_CLOSE */
    uint64_t         content_length;
    struct h1_field *fields;
    size_t           nfields;
    size_t           head_len;
    const char      *error;
};

/* The reason phrase of an HTTP status code ("Not Found"), "Unknown" for codes we never
 * send. Shared by the data plane and the control API. */
const char *h1_reason(int status);

/* Parses a request head at buf[0..len).
 * Returns head_len (> 0) when a complete, valid head was parsed; 0 when more bytes are
 * needed and the limits still allow them; or a negative HTTP status: -400 (malformed or
 * ambiguous), -414 (request line over the limit), -417 (an Expect other than
 * 100-continue), -431 (head over the byte or field limit, or more fields than cap),
 * -501 (a well-formed transfer coding other than a lone chunked). req->error says why.
 * Bytes after head_len (a body, a pipelined request) are not looked at.
 * lim may be NULL for defaults (8192 / 65536 / 100).
 *
 * Details: CONNECT and authority-form are rejected (-400). In absolute-form, path is the
 * origin-form part ("/" when empty; "http://a?q" is rejected) and the authority must
 * equal Host ignoring case; an HTTP/1.0 request without Host takes host from it.
 * Content-Length: 0 gives H1_BODY_NONE. Connection options mark the named fields drop=1,
 * except Host; framing is computed from all fields regardless. Expect is ignored in
 * HTTP/1.0 but must still be 100-continue. The head must also satisfy llhttp (strict),
 * which only knows its fixed method list: other tokens fail with "llhttp: ...". */
int h1_parse_request(const char *buf, size_t len, const struct h1_limits *lim,
                     struct h1_request *req, struct h1_field *fields, size_t cap);

/* Parses a response head. req_method is the request's method (HEAD and CONNECT change
 * framing). Returns like h1_parse_request, with -502 for anything invalid or over
 * the limits (the upstream misbehaved). 1xx heads parse as complete messages.
 * lim->request_line bounds the status line. "HTTP/1.1 200\r\n" (no SP, no reason) is
 * accepted. CL and TE are validated even when the body is NONE; CL+TE is -502 (never
 * "TE wins"). Content-Length: 0 gives NONE. UNTIL_CLOSE also sets H1_F_CONN_CLOSE. */
int h1_parse_response(const char *buf, size_t len, enum h1_method req_method,
                      const struct h1_limits *lim, struct h1_response *resp,
                      struct h1_field *fields, size_t cap);

/* Incremental, strict chunked-body decoder (RFC 9112 §7.1). Chunk extensions are
 * validated and discarded (capped at 4 KiB per chunk line); trailers are validated and
 * discarded (capped by max_trailer bytes). */
struct h1_chunked {
    /* Optional capture of the trailer section's field lines ("name: value\r\n"...), for
     * an HTTP/2 client; tr_over is set when they did not fit in tr_cap bytes. */
    char    *tr_buf;
    uint32_t tr_len, tr_cap;
    uint8_t  tr_over;
    int      state;
    uint64_t remaining;  /* data bytes left in the current chunk */
    uint32_t line_bytes; /* bytes of the current size/extension/trailer line */
    uint32_t trailer_bytes;
    uint32_t max_trailer;
    uint8_t  ndigits;
    uint8_t  name_match; /* trailer name still matching a forbidden field (bits) */
};

void h1_chunked_init(struct h1_chunked *d, uint32_t max_trailer);

/* Consumes framing from in[0..len). Returns:
 *   1: *data is the next run of body bytes (a span into in); *used counts bytes consumed
 *      including the data;
 *   0: everything given was consumed (*used == len) and more input is needed;
 *   2: the last chunk and the trailers ended; *used counts the bytes consumed, and bytes
 *      after that belong to the next message;
 *  -1: malformed framing (bad size, missing CRLF, bare CR, oversize extension...).
 * Call again with the rest after 1. */
int h1_chunked_next(struct h1_chunked *d, const char *in, size_t len, size_t *used,
                    struct span *data);

#endif
