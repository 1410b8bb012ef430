/*
 * pump: translates one body's framing while it streams, without copying payload bytes.
 *
 * Input framing is what the sender used (Content-Length, chunked, until-close); output
 * framing is what the edge writes (the same length, or chunked). Payload iovecs point
 * into the caller's input buffer; chunk-size lines live in the pump (sizes[]), so a
 * batch holds at most PUMP_SPANS chunks. The caller consumes *used input bytes only once
 * the write of the returned iovecs completed.
 */
#include <stdio.h>

#include "router/internal.h"

static char crlf[] = "\r\n";
static char last_chunk[] = "0\r\n\r\n";

void pump_init(struct pump *p, enum h1_body kind, uint64_t length, int out_chunked)
{
    p->kind = kind;
    p->remaining = length;
    p->out_chunked = (uint8_t)out_chunked;
    p->done = (kind == H1_BODY_NONE || (kind == H1_BODY_LENGTH && length == 0));
    p->ended = p->done && !out_chunked;
    p->moved = 0;
    if (kind == H1_BODY_CHUNKED)
        h1_chunked_init(&p->ck, 16384);
}

/* Adds one payload run (and its chunk framing) to iov. */
static unsigned emit(struct pump *p, unsigned k, const char *data, size_t n, uv_buf_t *iov)
{
    unsigned i = 0;
    if (p->out_chunked) {
        int m = snprintf(p->sizes[k], sizeof p->sizes[k], "%zx\r\n", n);
        iov[i++] = uv_buf_init(p->sizes[k], (unsigned)m);
        iov[i++] = uv_buf_init((char *)data, (unsigned)n);
        iov[i++] = uv_buf_init(crlf, 2);
    } else {
        iov[i++] = uv_buf_init((char *)data, (unsigned)n);
    }
    p->moved += n;
    return i;
}

int pump_fill(struct pump *p, const char *src, size_t len, size_t *used, uv_buf_t *iov,
              unsigned maxiov)
{
    unsigned n = 0, k = 0;
    size_t off = 0;
    const unsigned per = p->out_chunked ? 3 : 1;

    while (!p->done && off < len && k < PUMP_SPANS && n + per + 1 <= maxiov) {
        const char *s = src + off;
        size_t avail = len - off;

        if (p->kind == H1_BODY_LENGTH) {
            size_t take = avail < p->remaining ? avail : (size_t)p->remaining;
            n += emit(p, k++, s, take, iov + n);
            off += take;
            p->remaining -= take;
            if (p->remaining == 0)
                p->done = 1;
        } else if (p->kind == H1_BODY_UNTIL_CLOSE) {
            n += emit(p, k++, s, avail, iov + n);
            off += avail;
        } else { /* chunked */
            size_t u = 0;
            struct span data;
            int r = h1_chunked_next(&p->ck, s, avail, &u, &data);
            if (r < 0)
                return -1;
            off += u;
            if (r == 1 && data.len > 0)
                n += emit(p, k++, data.ptr, data.len, iov + n);
            else if (r == 2)
                p->done = 1;
            else if (r == 0)
                break;
        }
    }
    if (p->done && !p->ended && n + 1 <= maxiov) {
        if (p->out_chunked)
            iov[n++] = uv_buf_init(last_chunk, sizeof last_chunk - 1);
        p->ended = 1;
    }
    *used = off;
    return (int)n;
}

int pump_eof(struct pump *p, uv_buf_t *iov)
{
    if (p->kind != H1_BODY_UNTIL_CLOSE || p->done)
        return 0;
    p->done = 1;
    p->ended = 1;
    if (p->out_chunked) {
        iov[0] = uv_buf_init(last_chunk, sizeof last_chunk - 1);
        return 1;
    }
    return 0;
}
