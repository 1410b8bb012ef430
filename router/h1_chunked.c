/*
 * h1_chunked: strict, incremental decoder for the chunked transfer coding
 * (RFC 9112 §7.1), zero-copy: data comes back as spans into the caller's input.
 *
 * Every framing byte goes through a small state machine, so input may be split at any
 * byte boundary. Rejected (-1, sticky): chunk-size without digits or over 16 hex digits,
 * whitespace not followed by ';', malformed extensions (name = token, value = token or
 * quoted-string, RFC 9112 §7.1.1) or extension lines over 4 KiB, anything but CRLF after
 * the size line and after the data, bare CR or LF, control bytes, malformed trailer
 * lines, obs-fold in trailers, framing or routing fields in trailers (Content-Length,
 * Transfer-Encoding, Host: RFC 9110 §6.5.1), and trailer sections over max_trailer.
 */
#include "router/h1_parse.h"
#include "router/h1_chars.h"

#include <string.h>


#define MAX_EXT_LINE 4096u /* bytes of one chunk-size line with its extensions */
#define MAX_DIGITS 16u     /* 16 hex digits fill a uint64_t */

enum {
    S_SIZE = 0,    /* chunk-size digits */
    S_EXT,         /* after size, a name or a value: CR, ';' or BWS */
    S_EXT_WS,      /* BWS seen: only more BWS or ';' */
    S_EXT_NAME0,   /* after ';': BWS then the first tchar of a name */
    S_EXT_NAME,    /* in a name */
    S_EXT_NAME_WS, /* BWS after a name: more BWS, ';' or '=' */
    S_EXT_VAL0,    /* after '=': BWS then a token or a quoted-string */
    S_EXT_VAL,     /* in a token value */
    S_EXT_QS,      /* in a quoted-string */
    S_EXT_QS_ESC,  /* after a backslash in a quoted-string */
    S_SIZE_LF,     /* CR of the size line seen */
    S_DATA,
    S_DATA_CR,  /* data done: CR */
    S_DATA_LF,  /* data done: LF */
    S_TR_START, /* start of a trailer line or of the final CRLF */
    S_TR_NAME,
    S_TR_VALUE,
    S_TR_LF,    /* CR of a trailer line seen */
    S_FINAL_LF, /* CR of the final empty line seen */
    S_DONE,
    S_ERROR,
};

/* Trailer fields that must not appear (RFC 9110 §6.5.1): matched incrementally,
 * lowercase, one bit each in d->name_match. */
static const char *const banned_trailers[] = {"content-length", "transfer-encoding", "host"};
#define NBANNED (sizeof(banned_trailers) / sizeof(banned_trailers[0]))
static const uint8_t banned_len[NBANNED] = {14, 17, 4};

void h1_chunked_init(struct h1_chunked *d, uint32_t max_trailer)
{
    memset(d, 0, sizeof(*d));
    d->state = S_SIZE;
    d->max_trailer = max_trailer;
}

static int fail(struct h1_chunked *d)
{
    d->state = S_ERROR;
    return -1;
}

/* Advances the banned-trailer matcher with the name byte at index pos (line_bytes). */
static void match_name(struct h1_chunked *d, char c, uint32_t pos)
{
    char l = ascii_lower(c);
    for (unsigned k = 0; k < NBANNED; k++)
        if ((d->name_match & (1u << k)) && (pos >= banned_len[k] || banned_trailers[k][pos] != l))
            d->name_match &= (uint8_t) ~(1u << k);
}

static int banned_name(const struct h1_chunked *d, uint32_t n)
{
    for (unsigned k = 0; k < NBANNED; k++)
        if ((d->name_match & (1u << k)) && banned_len[k] == n)
            return 1;
    return 0;
}

int h1_chunked_next(struct h1_chunked *d, const char *in, size_t len, size_t *used,
                    struct span *data)
{
    size_t i = 0;

    *used = 0;
    *data = SPAN_NULL;
    if (d->state == S_ERROR)
        return -1;
    if (d->state == S_DONE)
        return 2;
    while (i < len) {
        char c = in[i];

        if (d->state == S_DATA) {
            size_t n = len - i;
            if (n > d->remaining)
                n = (size_t)d->remaining;
            *data = span_make(in + i, n);
            d->remaining -= n;
            if (d->remaining == 0)
                d->state = S_DATA_CR;
            *used = i + n;
            return 1;
        }
        if (d->state < S_SIZE_LF && ++d->line_bytes > MAX_EXT_LINE)
            return fail(d);
        if (d->state >= S_TR_START && d->state <= S_FINAL_LF &&
            ++d->trailer_bytes > (uint64_t)d->max_trailer + 2) /* + the final CRLF */
            return fail(d);
        if (d->tr_buf != NULL && d->state >= S_TR_START && d->state <= S_TR_LF &&
            !(d->state == S_TR_START && c == '\r')) {
            if (d->tr_len < d->tr_cap)
                d->tr_buf[d->tr_len++] = c;
            else
                d->tr_over = 1;
        }
        i++;
        switch (d->state) {
        case S_SIZE:
            if (IS(c, C_HEX)) {
                if (++d->ndigits > MAX_DIGITS)
                    return fail(d);
                unsigned v =
                    (c <= '9') ? (unsigned)(c - '0') : (unsigned)(ascii_lower(c) - 'a' + 10);
                d->remaining = (d->remaining << 4) | v;
                break;
            }
            if (d->ndigits == 0)
                return fail(d);
            goto ext; /* the byte after the digits */
        case S_EXT:
        ext:
            if (c == '\r')
                d->state = S_SIZE_LF;
            else if (c == ';')
                d->state = S_EXT_NAME0;
            else if (IS(c, C_WS))
                d->state = S_EXT_WS;
            else
                return fail(d);
            break;
        case S_EXT_WS:
            /* BWS only separates: it must lead to ';', never to CR. */
            if (c == ';')
                d->state = S_EXT_NAME0;
            else if (!IS(c, C_WS))
                return fail(d);
            break;
        case S_EXT_NAME_WS:
            if (c == ';')
                d->state = S_EXT_NAME0;
            else if (c == '=')
                d->state = S_EXT_VAL0;
            else if (!IS(c, C_WS))
                return fail(d);
            break;
        case S_EXT_NAME0:
            if (IS(c, C_TCHAR))
                d->state = S_EXT_NAME;
            else if (!IS(c, C_WS))
                return fail(d);
            break;
        case S_EXT_NAME:
            if (IS(c, C_TCHAR))
                break;
            if (c == '=') {
                d->state = S_EXT_VAL0;
                break;
            }
            if (IS(c, C_WS)) {
                d->state = S_EXT_NAME_WS;
                break;
            }
            goto ext;
        case S_EXT_VAL0:
            if (c == '"')
                d->state = S_EXT_QS;
            else if (IS(c, C_TCHAR))
                d->state = S_EXT_VAL;
            else if (!IS(c, C_WS))
                return fail(d);
            break;
        case S_EXT_VAL:
            if (!IS(c, C_TCHAR))
                goto ext;
            break;
        case S_EXT_QS:
            if (c == '"')
                d->state = S_EXT;
            else if (c == '\\')
                d->state = S_EXT_QS_ESC;
            else if (!IS(c, C_QDTEXT))
                return fail(d);
            break;
        case S_EXT_QS_ESC:
            /* quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
            if (!IS(c, C_FVAL))
                return fail(d);
            d->state = S_EXT_QS;
            break;
        case S_SIZE_LF:
            if (c != '\n')
                return fail(d);
            d->line_bytes = 0;
            d->ndigits = 0;
            if (d->remaining == 0) {
                d->state = S_TR_START; /* last-chunk (RFC 9112 §7.1) */
                d->trailer_bytes = 0;
            } else {
                d->state = S_DATA;
            }
            break;
        case S_DATA_CR:
            if (c != '\r')
                return fail(d); /* chunk-data must be followed by exactly CRLF */
            d->state = S_DATA_LF;
            break;
        case S_DATA_LF:
            if (c != '\n')
                return fail(d);
            d->state = S_SIZE;
            break;
        case S_TR_START:
            if (c == '\r') {
                d->state = S_FINAL_LF;
            } else if (IS(c, C_TCHAR)) {
                d->state = S_TR_NAME;
                d->name_match = (1u << NBANNED) - 1;
                d->line_bytes = 0;
                match_name(d, c, d->line_bytes++);
            } else {
                return fail(d); /* obs-fold, empty name, bare LF, ... (RFC 9112 §5.2) */
            }
            break;
        case S_TR_NAME:
            if (IS(c, C_TCHAR)) {
                match_name(d, c, d->line_bytes++);
            } else if (c == ':' && !banned_name(d, d->line_bytes)) {
                d->state = S_TR_VALUE;
            } else {
                return fail(d);
            }
            break;
        case S_TR_VALUE:
            if (c == '\r')
                d->state = S_TR_LF;
            else if (!IS(c, C_FVAL))
                return fail(d);
            break;
        case S_TR_LF:
            if (c != '\n')
                return fail(d);
            d->state = S_TR_START;
            break;
        case S_FINAL_LF:
            if (c != '\n')
                return fail(d);
            d->state = S_DONE;
            *used = i;
            return 2;
        default:
            return fail(d);
        }
    }
    *used = len;
    return 0;
}
