/*
 * h1_parse: strict HTTP/1.1 message-head parsing (RFC 9112 §2-§6, RFC 9110 §5-§7) and
 * body framing, the layer that keeps ambiguous messages away from backends (request
 * smuggling) and from clients (response splitting).
 *
 * Once the terminating CRLFCRLF is present, one pass over the head validates every byte
 * with the table-driven character classes below and records spans into the caller's
 * buffer; a second, semantic pass over the (short) field array decides framing, Host,
 * Connection, Upgrade and Expect; llhttp (strict mode) then parses the same bytes as a
 * second opinion and must stop exactly at the end of the head. While the head is
 * incomplete the same pass runs over what has arrived, so malformed bytes and limits
 * are reported as early as possible.
 *
 * The chunked body decoder lives in h1_chunked.c. Nothing here allocates.
 */
#include "router/h1_parse.h"
#include "router/h1_chars.h"

#include <string.h>

#include "llhttp.h"

/* Character classes, one table of bit flags (h1_chars.h names the bits); generated. */
const uint8_t h1_cls[256] = {
    /* 16 bytes a row: 0x00-0x0f, 0x10-0x1f, ... */
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x54, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x54, 0x37, 0x06, 0x15, 0x37, 0x37, 0x37, 0x37, 0x36, 0x36, 0x37, 0x37, 0x36, 0x37, 0x37, 0x16,
    0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x36, 0x36, 0x16, 0x36, 0x16, 0x16,
    0x16, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37,
    0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x36, 0x06, 0x36, 0x17, 0x37,
    0x17, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37,
    0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x37, 0x16, 0x17, 0x16, 0x37, 0x00,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,
    0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14, 0x14,

};



/* Lowercase fold for case-insensitive comparisons against lowercase literals. */
static int ieq_lit(const char *p, size_t n, const char *lit, size_t litlen)
{
    if (n != litlen)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (ascii_lower(p[i]) != lit[i])
            return 0;
    return 1;
}

#define IEQ(p, n, lit) ieq_lit((p), (n), (lit), sizeof(lit) - 1)

static const struct h1_limits default_limits = {8192, 65536, 100};

/* ---- interning ------------------------------------------------------------------- */

enum h1_tok h1_intern(const char *p, size_t n)
{
    switch (n) {
    case 2:
        return IEQ(p, n, "te") ? TOK_TE : TOK_OTHER;
    case 4:
        return IEQ(p, n, "host") ? TOK_HOST : TOK_OTHER;
    case 6:
        return IEQ(p, n, "expect") ? TOK_EXPECT : TOK_OTHER;
    case 7:
        if (IEQ(p, n, "upgrade"))
            return TOK_UPGRADE;
        return IEQ(p, n, "trailer") ? TOK_TRAILER : TOK_OTHER;
    case 10:
        if (IEQ(p, n, "connection"))
            return TOK_CONNECTION;
        return IEQ(p, n, "keep-alive") ? TOK_KEEP_ALIVE : TOK_OTHER;
    case 12:
        return IEQ(p, n, "x-request-id") ? TOK_X_REQUEST_ID : TOK_OTHER;
    case 14:
        if (IEQ(p, n, "content-length"))
            return TOK_CONTENT_LENGTH;
        return IEQ(p, n, "http2-settings") ? TOK_HTTP2_SETTINGS : TOK_OTHER;
    case 15:
        return IEQ(p, n, "x-forwarded-for") ? TOK_X_FORWARDED_FOR : TOK_OTHER;
    case 16:
        if (IEQ(p, n, "proxy-connection"))
            return TOK_PROXY_CONNECTION;
        return IEQ(p, n, "x-forwarded-host") ? TOK_X_FORWARDED_HOST : TOK_OTHER;
    case 17:
        if (IEQ(p, n, "transfer-encoding"))
            return TOK_TRANSFER_ENCODING;
        return IEQ(p, n, "x-forwarded-proto") ? TOK_X_FORWARDED_PROTO : TOK_OTHER;
    case 18:
        return IEQ(p, n, "proxy-authenticate") ? TOK_PROXY_AUTHENTICATE : TOK_OTHER;
    case 19:
        return IEQ(p, n, "proxy-authorization") ? TOK_PROXY_AUTHORIZATION : TOK_OTHER;
    default:
        return TOK_OTHER;
    }
}

static const uint8_t hop_by_hop[TOK__COUNT] = {
    [TOK_CONTENT_LENGTH] = 1,
    [TOK_TRANSFER_ENCODING] = 1,
    [TOK_CONNECTION] = 1,
    [TOK_KEEP_ALIVE] = 1,
    [TOK_PROXY_CONNECTION] = 1,
    [TOK_TE] = 1,
    [TOK_TRAILER] = 1,
    [TOK_UPGRADE] = 1,
    [TOK_PROXY_AUTHORIZATION] = 1,
    [TOK_PROXY_AUTHENTICATE] = 1,
    [TOK_HTTP2_SETTINGS] = 1,
};

int h1_tok_is_hop_by_hop(enum h1_tok t)
{
    return (unsigned)t < TOK__COUNT && hop_by_hop[t];
}

enum h1_method h1_method_id(const char *p, size_t n)
{
#define M(lit, id)                                                                                 \
    if (n == sizeof(lit) - 1 && memcmp(p, lit, n) == 0)                                            \
    return id
    switch (n) {
    case 3:
        M("GET", H1_M_GET);
        M("PUT", H1_M_PUT);
        break;
    case 4:
        M("HEAD", H1_M_HEAD);
        M("POST", H1_M_POST);
        break;
    case 5:
        M("TRACE", H1_M_TRACE);
        M("PATCH", H1_M_PATCH);
        break;
    case 6:
        M("DELETE", H1_M_DELETE);
        break;
    case 7:
        M("OPTIONS", H1_M_OPTIONS);
        M("CONNECT", H1_M_CONNECT);
        break;
    default:
        break;
    }
#undef M
    return H1_M_OTHER; /* methods are case-sensitive (RFC 9110 §9.1) */
}

/* ---- lines ------------------------------------------------------------------------ */

/* Finds the CRLF ending the line that starts at pos. Returns 1 with *cr = index of CR,
 * 0 when the line is incomplete, -1 on a CR not followed by LF (RFC 9112 §2.2: bare CR
 * is rejected). Bare LF inside the line is left to the caller's byte classes, which
 * never admit LF; for an incomplete line it is detected here so it fails early. */
static int find_crlf(const char *buf, size_t len, size_t pos, size_t *cr)
{
    const char *p = memchr(buf + pos, '\r', len - pos);

    if (p == NULL)
        return memchr(buf + pos, '\n', len - pos) != NULL ? -1 : 0;
    *cr = (size_t)(p - buf);
    if (*cr + 1 == len)
        return memchr(buf + pos, '\n', *cr - pos) != NULL ? -1 : 0;
    return p[1] == '\n' ? 1 : -1;
}

/* Per-parse state shared by requests and responses. */
struct head {
    const char      *buf;
    size_t           len;
    struct h1_field *fields;
    size_t           nfields;
    size_t           cap;
    size_t           max_fields;
    size_t           head_len;
    const char      *error;
};

/* Parses field lines from pos up to the empty line (RFC 9112 §5, RFC 9110 §5.5).
 * Returns 1 when the head ended, 0 when more bytes are needed, -400 or -431. */
static int parse_fields(struct head *h, size_t pos)
{
    const char *buf = h->buf;

    for (;;) {
        size_t cr;
        int    r;

        if (pos < h->len && IS(buf[pos], C_WS)) {
            h->error = "obs-fold"; /* RFC 9112 §5.2: rejected, not unfolded */
            return -400;
        }
        r = find_crlf(buf, h->len, pos, &cr);
        if (r < 0) {
            h->error = "bare CR or LF";
            return -400;
        }
        if (r == 0) {
            /* Validate what has arrived of this line so garbage fails early. */
            size_t i = pos;
            while (i < h->len && IS(buf[i], C_TCHAR))
                i++;
            if (i < h->len && buf[i] != ':' && buf[i] != '\r') {
                h->error = i == pos ? "bad field line" : "bad field name";
                return -400;
            }
            return 0;
        }
        if (cr == pos) {
            h->head_len = cr + 2;
            return 1;
        }
        /* field-name = token, immediately followed by ':' (RFC 9112 §5.1). */
        size_t i = pos;
        while (i < cr && IS(buf[i], C_TCHAR))
            i++;
        if (i == pos || i == cr || buf[i] != ':') {
            h->error = i == pos ? "empty field name" : "bad field name";
            return -400;
        }
        size_t vstart = i + 1;
        for (size_t j = vstart; j < cr; j++)
            if (!IS(buf[j], C_FVAL)) {
                h->error = "bad byte in field value";
                return -400;
            }
        if (h->nfields >= h->max_fields || h->nfields >= h->cap) {
            h->error = "too many fields";
            return -431;
        }
        struct h1_field *f = &h->fields[h->nfields++];
        f->name = span_make(buf + pos, i - pos);
        f->value = span_trim(span_make(buf + vstart, cr - vstart));
        f->tok = h1_intern(buf + pos, i - pos);
        f->drop = 0;
        pos = cr + 2;
    }
}

/* ---- list helpers (RFC 9110 §5.6.1) ---------------------------------------------- */

/* Iterates the elements of a comma-separated list. Returns 1 with *el (trimmed, maybe
 * empty), 0 at the end. */
static int list_next(struct span *rest, struct span *el)
{
    if (rest->ptr == NULL)
        return 0;
    const char *comma = memchr(rest->ptr, ',', rest->len);
    if (comma == NULL) {
        *el = span_trim(*rest);
        rest->ptr = NULL;
        rest->len = 0;
    } else {
        *el = span_trim(span_make(rest->ptr, (size_t)(comma - rest->ptr)));
        rest->len -= (size_t)(comma - rest->ptr) + 1;
        rest->ptr = comma + 1;
    }
    return 1;
}

static int is_token(struct span s)
{
    if (s.len == 0)
        return 0;
    for (size_t i = 0; i < s.len; i++)
        if (!IS(s.ptr[i], C_TCHAR))
            return 0;
    return 1;
}

/* Host = uri-host [ ":" port ] (RFC 9110 §7.2): non-empty, authority bytes only. */
static int host_ok(struct span s)
{
    if (s.len == 0)
        return 0;
    for (size_t i = 0; i < s.len; i++)
        if (!IS(s.ptr[i], C_HOST))
            return 0;
    return 1;
}

/* ---- framing (RFC 9112 §6) --------------------------------------------------------- */

struct framing {
    int         has_cl;
    int         chunked;
    uint64_t    cl;
    int         conn_close;
    int         keep_alive;
    int         conn_upgrade;
    int         upgrade_ws;
    int         expect_100;
    int         expect_bad;
    size_t      nhost;
    struct span host;
};

/* Validates Content-Length, Transfer-Encoding and Connection; returns 0, or a negative
 * status with h->error set. Statuses are the request's; responses map them to -502. */
static int framing(struct head *h, struct framing *fr, int minor)
{
    size_t      ncl = 0, nte = 0;
    struct span te = SPAN_NULL;

    memset(fr, 0, sizeof(*fr));
    for (size_t i = 0; i < h->nfields; i++) {
        struct h1_field *f = &h->fields[i];
        switch (f->tok) {
        case TOK_CONTENT_LENGTH:
            ncl++;
            /* RFC 9112 §6.3 (5): 1*DIGIT; lists and duplicates are not merged. */
            if (f->value.len == 0 || f->value.len > 19 || span_to_u64(f->value, &fr->cl) != 0) {
                h->error = "bad Content-Length";
                return -400;
            }
            break;
        case TOK_TRANSFER_ENCODING:
            nte++;
            te = f->value;
            break;
        case TOK_HOST:
            fr->nhost++;
            fr->host = f->value;
            break;
        case TOK_CONNECTION: {
            struct span rest = f->value, el;
            while (list_next(&rest, &el)) {
                if (el.len == 0)
                    continue; /* RFC 9110 §5.6.1: empty list elements are ignored */
                if (!is_token(el)) {
                    h->error = "bad Connection";
                    return -400;
                }
                if (IEQ(el.ptr, el.len, "close"))
                    fr->conn_close = 1;
                else if (IEQ(el.ptr, el.len, "keep-alive"))
                    fr->keep_alive = 1;
                else if (IEQ(el.ptr, el.len, "upgrade"))
                    fr->conn_upgrade = 1;
                /* RFC 9110 §7.6.1: the options name fields that are hop-by-hop here.
                 * Host is never dropped (the route and the backend need it); framing
                 * is computed from the fields whether or not they are dropped. */
                for (size_t k = 0; k < h->nfields; k++)
                    if (h->fields[k].tok != TOK_HOST && span_ieq(h->fields[k].name, el))
                        h->fields[k].drop = 1;
            }
            break;
        }
        default:
            break;
        }
    }
    if (ncl > 1) {
        h->error = "duplicate Content-Length";
        return -400;
    }
    fr->has_cl = ncl == 1;
    if (nte == 0)
        return 0;
    if (ncl != 0) {
        h->error = "CL+TE"; /* RFC 9112 §6.3 (3): a smuggling attempt; reject */
        return -400;
    }
    if (minor == 0) {
        h->error = "Transfer-Encoding in HTTP/1.0"; /* RFC 9112 §6.1 */
        return -400;
    }
    if (nte > 1) {
        h->error = "duplicate Transfer-Encoding";
        return -400;
    }
    if (IEQ(te.ptr, te.len, "chunked")) {
        fr->chunked = 1;
        return 0;
    }
    /* Not a lone "chunked": tell a well-formed unknown coding (501, RFC 9112 §6.1) from
     * malformed or ambiguous lists (400). chunked must be final and appear once. */
    struct span rest = te, el;
    size_t      nel = 0, nchunked = 0;
    int         chunked_last = 0;
    while (list_next(&rest, &el)) {
        if (!is_token(el)) {
            h->error = "bad Transfer-Encoding";
            return -400;
        }
        nel++;
        chunked_last = IEQ(el.ptr, el.len, "chunked");
        nchunked += (size_t)chunked_last;
    }
    if (nchunked > 1 || (nchunked == 1 && !chunked_last)) {
        h->error = "bad Transfer-Encoding";
        return -400;
    }
    h->error = "unsupported transfer coding";
    return -501;
}

/* ---- llhttp second opinion ---------------------------------------------------------- */

static int llhttp_pause_cb(llhttp_t *p)
{
    (void)p;
    return HPE_PAUSED;
}

static const llhttp_settings_t llhttp_settings = {
    .on_headers_complete = llhttp_pause_cb,
};

/* Static "llhttp: <errno>" reasons: req->error must outlive the call. */
#define LLE(e) [e] = "llhttp: " #e
static const char *const llhttp_reasons[] = {
    LLE(HPE_OK),
    LLE(HPE_INTERNAL),
    LLE(HPE_STRICT),
    LLE(HPE_CR_EXPECTED),
    LLE(HPE_LF_EXPECTED),
    LLE(HPE_UNEXPECTED_CONTENT_LENGTH),
    LLE(HPE_UNEXPECTED_SPACE),
    LLE(HPE_CLOSED_CONNECTION),
    LLE(HPE_INVALID_METHOD),
    LLE(HPE_INVALID_URL),
    LLE(HPE_INVALID_CONSTANT),
    LLE(HPE_INVALID_VERSION),
    LLE(HPE_INVALID_HEADER_TOKEN),
    LLE(HPE_INVALID_CONTENT_LENGTH),
    LLE(HPE_INVALID_CHUNK_SIZE),
    LLE(HPE_INVALID_STATUS),
    LLE(HPE_INVALID_EOF_STATE),
    LLE(HPE_INVALID_TRANSFER_ENCODING),
    LLE(HPE_CB_MESSAGE_BEGIN),
    LLE(HPE_CB_HEADERS_COMPLETE),
    LLE(HPE_CB_MESSAGE_COMPLETE),
    LLE(HPE_PAUSED),
    LLE(HPE_PAUSED_UPGRADE),
    LLE(HPE_PAUSED_H2_UPGRADE),
    LLE(HPE_USER),
};
#undef LLE

/* Runs llhttp over exactly the head; it must pause at headers-complete (our callback
 * returns HPE_PAUSED, checked before any upgrade handling) with nothing left over.
 * Returns 0 or -1 with *error = "llhttp: HPE_...". */
static int llhttp_agrees(const char *buf, size_t head_len, llhttp_type_t type, const char **error)
{
    llhttp_t       p;
    llhttp_errno_t e;

    llhttp_init(&p, type, &llhttp_settings);
    e = llhttp_execute(&p, buf, head_len);
    if ((e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) && llhttp_get_error_pos(&p) == buf + head_len)
        return 0;
    if (e == HPE_OK)
        *error = "llhttp: head not complete";
    else if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE)
        *error = "llhttp: stopped before the end of the head";
    else if ((size_t)e < sizeof(llhttp_reasons) / sizeof(llhttp_reasons[0]) && llhttp_reasons[e])
        *error = llhttp_reasons[e];
    else
        *error = "llhttp: rejected";
    return -1;
}

/* ---- requests ----------------------------------------------------------------------- */

static int fail_req(struct h1_request *req, struct head *h, int status)
{
    req->error = h->error;
    req->nfields = h->nfields;
    return status;
}

/* request-target forms, RFC 9112 §3.2. */
static int parse_target(struct h1_request *req, struct head *h, struct span *authority)
{
    const char *t = req->target.ptr;
    size_t      n = req->target.len;

    *authority = SPAN_NULL;
    if (t[0] == '/') {
        req->path = req->target; /* origin-form */
        return 0;
    }
    if (n == 1 && t[0] == '*') {
        if (req->method_id != H1_M_OPTIONS) { /* asterisk-form only for OPTIONS §3.2.4 */
            h->error = "'*' target outside OPTIONS";
            return -400;
        }
        req->path = req->target;
        return 0;
    }
    size_t skip = 0;
    if (n >= 7 && IEQ(t, 7, "http://"))
        skip = 7;
    else if (n >= 8 && IEQ(t, 8, "https://"))
        skip = 8;
    if (skip == 0) {
        h->error = "bad request-target"; /* authority-form or unknown scheme */
        return -400;
    }
    size_t a = skip;
    while (a < n && t[a] != '/' && t[a] != '?') {
        if (!IS(t[a], C_HOST)) { /* no userinfo (RFC 9110 §4.2.4) */
            h->error = "bad authority in absolute-form";
            return -400;
        }
        a++;
    }
    if (a == skip || (a < n && t[a] == '?')) {
        h->error = "bad absolute-form";
        return -400;
    }
    *authority = span_make(t + skip, a - skip);
    req->path = a < n ? span_make(t + a, n - a) : SPAN_LIT("/");
    req->flags |= H1_F_ABSOLUTE_FORM;
    return 0;
}

int h1_parse_request(const char *buf, size_t len, const struct h1_limits *lim,
                     struct h1_request *req, struct h1_field *fields, size_t cap)
{
    struct head h = {.buf = buf, .len = len, .fields = fields, .cap = cap};
    size_t      cr, i;
    int         r;

    if (lim == NULL)
        lim = &default_limits;
    memset(req, 0, sizeof(*req));
    req->fields = fields;
    h.max_fields = lim->header_fields;

    /* request-line = method SP request-target SP HTTP-version (RFC 9112 §3) */
    r = find_crlf(buf, len, 0, &cr);
    if (r < 0) {
        h.error = "bare CR or LF in request line";
        return fail_req(req, &h, -400);
    }
    if (r == 0) {
        if (len - (len > 0 && buf[len - 1] == '\r') > lim->request_line) {
            h.error = "request line too long";
            return fail_req(req, &h, -414);
        }
        if (len > lim->header_bytes) {
            h.error = "head too large";
            return fail_req(req, &h, -431);
        }
        /* Early check of the method: most garbage fails here. */
        for (i = 0; i < len && IS(buf[i], C_TCHAR); i++)
            ;
        if (i < len && (buf[i] != ' ' || i == 0)) {
            h.error = "bad method";
            return fail_req(req, &h, -400);
        }
        return 0;
    }
    if (cr > lim->request_line) {
        h.error = "request line too long";
        return fail_req(req, &h, -414);
    }
    for (i = 0; i < cr && IS(buf[i], C_TCHAR); i++)
        ;
    if (i == 0 || i == cr || buf[i] != ' ') {
        h.error = "bad method";
        return fail_req(req, &h, -400);
    }
    req->method = span_make(buf, i);
    req->method_id = h1_method_id(buf, i);
    size_t ts = ++i; /* exactly one SP */
    while (i < cr && IS(buf[i], C_TARGET))
        i++;
    if (i == ts || i == cr || buf[i] != ' ') {
        h.error = i < cr && buf[i] == '#' ? "fragment in target" : "bad request-target";
        return fail_req(req, &h, -400);
    }
    req->target = span_make(buf + ts, i - ts);
    i++;
    /* HTTP-version is case-sensitive (RFC 9112 §2.3); only 1.0 and 1.1. */
    if (cr - i != 8 || memcmp(buf + i, "HTTP/1.", 7) != 0 ||
        (buf[i + 7] != '0' && buf[i + 7] != '1')) {
        h.error = "bad HTTP version";
        return fail_req(req, &h, -400);
    }
    req->minor = (uint8_t)(buf[i + 7] - '0');

    r = parse_fields(&h, cr + 2);
    if (r < 0)
        return fail_req(req, &h, r);
    if (r == 0) {
        if (len > lim->header_bytes) {
            h.error = "head too large";
            return fail_req(req, &h, -431);
        }
        req->nfields = 0;
        return 0;
    }
    if (h.head_len > lim->header_bytes) {
        h.error = "head too large";
        return fail_req(req, &h, -431);
    }
    req->nfields = h.nfields;
    req->head_len = h.head_len;

    if (req->method_id == H1_M_CONNECT) {
        h.error = "CONNECT not supported";
        return fail_req(req, &h, -400);
    }
    struct span authority;
    r = parse_target(req, &h, &authority);
    if (r < 0)
        return fail_req(req, &h, r);

    struct framing fr;
    r = framing(&h, &fr, req->minor);
    if (r < 0)
        return fail_req(req, &h, r);

    /* Host (RFC 9112 §3.2): exactly one in HTTP/1.1, at most one in HTTP/1.0. */
    if (fr.nhost > 1 || (fr.nhost == 0 && req->minor == 1)) {
        h.error = fr.nhost ? "duplicate Host" : "missing Host";
        return fail_req(req, &h, -400);
    }
    if (fr.nhost == 1) {
        if (!host_ok(fr.host)) {
            h.error = "bad Host";
            return fail_req(req, &h, -400);
        }
        req->host = fr.host;
    }
    if (req->flags & H1_F_ABSOLUTE_FORM) {
        /* RFC 9112 §3.2.2: the target's authority wins; a different Host is a
         * routing ambiguity, so both must agree. */
        if (fr.nhost == 0)
            req->host = authority;
        else if (!span_ieq(authority, fr.host)) {
            h.error = "absolute-form authority differs from Host";
            return fail_req(req, &h, -400);
        }
    }

    /* Expect (RFC 9110 §10.1.1); ignored in HTTP/1.0. */
    for (i = 0; i < h.nfields; i++) {
        struct h1_field *f = &fields[i];
        if (f->tok == TOK_EXPECT) {
            if (!IEQ(f->value.ptr, f->value.len, "100-continue")) {
                h.error = "unsupported Expect";
                return fail_req(req, &h, -417);
            }
            if (req->minor == 1)
                req->flags |= H1_F_EXPECT_100;
        } else if (f->tok == TOK_UPGRADE && !fr.upgrade_ws) {
            struct span rest = f->value, el;
            while (list_next(&rest, &el))
                if (IEQ(el.ptr, el.len, "websocket") ||
                    (el.len > 10 && IEQ(el.ptr, 10, "websocket/")))
                    fr.upgrade_ws = 1;
        }
    }
    if (fr.conn_close || (req->minor == 0 && !fr.keep_alive))
        req->flags |= H1_F_CONN_CLOSE;
    if (fr.conn_upgrade && fr.upgrade_ws && req->method_id == H1_M_GET && req->minor == 1)
        req->flags |= H1_F_UPGRADE_WS;

    if (fr.chunked) {
        req->body = H1_BODY_CHUNKED;
    } else if (fr.has_cl && fr.cl > 0) {
        req->body = H1_BODY_LENGTH;
        req->content_length = fr.cl;
    }

    if (llhttp_agrees(buf, h.head_len, HTTP_REQUEST, &h.error) != 0)
        return fail_req(req, &h, -400);
    return (int)h.head_len;
}

/* ---- responses ---------------------------------------------------------------------- */

static int fail_resp(struct h1_response *resp, struct head *h, const char *why)
{
    resp->error = why ? why : h->error;
    resp->nfields = h->nfields;
    return -502;
}

int h1_parse_response(const char *buf, size_t len, enum h1_method req_method,
                      const struct h1_limits *lim, struct h1_response *resp,
                      struct h1_field *fields, size_t cap)
{
    struct head h = {.buf = buf, .len = len, .fields = fields, .cap = cap};
    size_t      cr, i;
    int         r;

    if (lim == NULL)
        lim = &default_limits;
    memset(resp, 0, sizeof(*resp));
    resp->fields = fields;
    h.max_fields = lim->header_fields;

    /* status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4) */
    r = find_crlf(buf, len, 0, &cr);
    if (r < 0)
        return fail_resp(resp, &h, "bare CR or LF in status line");
    if (r == 0) {
        if (len - (len > 0 && buf[len - 1] == '\r') > lim->request_line)
            return fail_resp(resp, &h, "status line too long");
        if (len > lim->header_bytes)
            return fail_resp(resp, &h, "head too large");
        size_t n = len < 8 ? len : 8;
        if (memcmp(buf, "HTTP/1.1", n) != 0 && memcmp(buf, "HTTP/1.0", n) != 0)
            return fail_resp(resp, &h, "bad HTTP version");
        return 0;
    }
    if (cr > lim->request_line)
        return fail_resp(resp, &h, "status line too long");
    if (cr < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || (buf[7] != '0' && buf[7] != '1') ||
        buf[8] != ' ')
        return fail_resp(resp, &h, "bad status line");
    resp->minor = (uint8_t)(buf[7] - '0');
    for (i = 9; i < 12; i++)
        if (buf[i] < '0' || buf[i] > '9')
            return fail_resp(resp, &h, "bad status code");
    resp->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    if (resp->status < 100)
        return fail_resp(resp, &h, "bad status code");
    /* The SP before an empty reason is often omitted; accept "HTTP/1.1 200\r\n". */
    if (cr > 12) {
        if (buf[12] != ' ')
            return fail_resp(resp, &h, "bad status line");
        for (i = 13; i < cr; i++)
            if (!IS(buf[i], C_FVAL))
                return fail_resp(resp, &h, "bad reason phrase");
        resp->reason = span_make(buf + 13, cr - 13);
    } else {
        resp->reason = span_make(buf + 12, 0);
    }

    r = parse_fields(&h, cr + 2);
    if (r < 0)
        return fail_resp(resp, &h, NULL);
    if (r == 0) {
        if (len > lim->header_bytes)
            return fail_resp(resp, &h, "head too large");
        return 0;
    }
    if (h.head_len > lim->header_bytes)
        return fail_resp(resp, &h, "head too large");
    resp->nfields = h.nfields;
    resp->head_len = h.head_len;

    struct framing fr;
    if (framing(&h, &fr, resp->minor) < 0)
        return fail_resp(resp, &h, NULL);
    if (fr.conn_close || (resp->minor == 0 && !fr.keep_alive))
        resp->flags |= H1_F_CONN_CLOSE;

    /* Message body length, RFC 9112 §6.3, in its order. */
    if (req_method == H1_M_HEAD || resp->status < 200 || resp->status == 204 ||
        resp->status == 304 || (req_method == H1_M_CONNECT && resp->status < 300)) {
        resp->body = H1_BODY_NONE;
        resp->content_length = fr.has_cl ? fr.cl : 0;
    } else if (fr.chunked) {
        resp->body = H1_BODY_CHUNKED;
    } else if (fr.has_cl) {
        resp->body = fr.cl > 0 ? H1_BODY_LENGTH : H1_BODY_NONE;
        resp->content_length = fr.cl;
    } else {
        resp->body = H1_BODY_UNTIL_CLOSE;
        resp->flags |= H1_F_CONN_CLOSE;
    }

    if (llhttp_agrees(buf, h.head_len, HTTP_RESPONSE, &h.error) != 0)
        return fail_resp(resp, &h, NULL);
    return (int)h.head_len;
}
