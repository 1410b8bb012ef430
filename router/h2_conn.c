/*
 * h2_conn: an HTTP/2 connection (RFC 9113): the nghttp2 server session, its bytes in and
 * out, its deadlines and its defences. See h2.h for the module map.
 *
 * Input: conn.c reads plaintext into c->in and calls h2_conn_on_data(), which hands every
 * byte to nghttp2_session_mem_recv() at once (nghttp2 copies what it keeps), so c->in is
 * empty again after each read.
 *
 * Output: frames are serialised with nghttp2_session_mem_send() into a queue of pool
 * chunks and leave through conn_send() (plaintext today, TLS later), at most one write in
 * flight. No frame is produced while a write is in flight or the queue holds H2_OUT_SOFT
 * bytes: a client that does not read stops its DATA from being produced, which stops the
 * exchanges from consuming their upstream buffers, which stops reading the upstreams.
 * DATA frames use NGHTTP2_DATA_FLAG_NO_COPY: their payload is copied once, from the
 * upstream's buffer into the queue (h2_stream_send_data).
 *
 * Re-entrancy: nghttp2 must not be re-entered from its own callbacks, and exchange code
 * must not run inside a flush that it could recurse into. So sends never flush directly:
 * they schedule the connection (h2_schedule), and a per-worker uv_idle flushes the
 * scheduled sessions once this loop turn's callbacks are done; completions of sends that
 * finish inside nghttp2 are queued and delivered after the nghttp2 call returns.
 * h2->depth counts h2 frames on the stack; a connection closed meanwhile is freed when
 * they unwind.
 *
 * Defences beyond nghttp2 1.52's own (Debian's build has the Rapid Reset token bucket,
 * 1000 burst, and the 8-CONTINUATION limit; it does not cap decoded header size nor
 * count the resets it sends itself): per connection, resets from the client plus stream
 * errors it provoked ("MadeYouReset", invalid headers, header blocks over the limit) may
 * exceed H2_ERR_BUDGET only in proportion to the requests it completed; the same for
 * control frames (SETTINGS, PING, PRIORITY, empty DATA) with H2_CTRL_BUDGET; a header
 * block may not decode to more than H2_BOMB_FACTOR × limits.header_bytes (HPACK bomb)
 * nor be encoded in more than that (CONTINUATION flood). Any of these ends the
 * connection with GOAWAY(ENHANCE_YOUR_CALM); other connections are not affected.
 */
#include <stdlib.h>
#include <string.h>

#include "router/base/log.h"
#include "router/h2.h"

#define H2_ERR_BUDGET  100u /* free resets/stream errors, then one per completed request */
#define H2_CTRL_BUDGET 100u /* free control frames, then two per completed request */
#define H2_BOMB_FACTOR 4u

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

int h2_preface_check(const char *p, size_t n)
{
    size_t k = n < sizeof preface - 1 ? n : sizeof preface - 1;
    if (memcmp(p, preface, k) != 0)
        return -1;
    return k == sizeof preface - 1 ? 1 : 0;
}

/* --- the output queue ------------------------------------------------------------------- */

void h2_out_append(struct h2_conn *h2, const void *p, size_t n)
{
    const char *s = p;
    while (n > 0 && !h2->broken) {
        unsigned k = h2->nout;
        if (k == 0 || h2->out_len[k - 1] == BUFPOOL_CHUNK) {
            /* Frames are only produced below H2_OUT_SOFT, and one is at most a frame
             * header plus 16 KiB: running out of chunks means a bug, not a client. */
            if (k == h2->nchunks) {
                char *chunk = k < H2_OUT_CHUNKS ? bufpool_get(&h2->w->pool) : NULL;
                if (chunk == NULL) {
                    h2->broken = 1;
                    return;
                }
                h2->out[h2->nchunks++] = chunk;
            }
            h2->out_len[k] = 0;
            h2->nout = ++k;
        }
        size_t take = BUFPOOL_CHUNK - h2->out_len[k - 1];
        if (take > n)
            take = n;
        memcpy(h2->out[k - 1] + h2->out_len[k - 1], s, take);
        h2->out_len[k - 1] += (uint32_t)take;
        h2->out_bytes += take;
        s += take;
        n -= take;
    }
}

/* Everything queued was written. The chunks stay with the connection while it is busy
 * (a download would otherwise take and return them on every write). */
static void out_reset(struct h2_conn *h2)
{
    h2->nout = 0;
    h2->out_bytes = 0;
}

/* Gives the chunks back: the connection is idle (or going away). */
static void out_release(struct h2_conn *h2)
{
    if (h2->c->tx.busy && !h2->closed)
        return; /* a write still points into them */
    for (unsigned i = 0; i < h2->nchunks; i++)
        bufpool_put(&h2->w->pool, h2->out[i]);
    h2->nchunks = h2->nout = 0;
    h2->out_bytes = 0;
}

/* --- lifetime --------------------------------------------------------------------------- */

static void h2_enter(struct h2_conn *h2)
{
    h2->depth++;
}

static void h2_free(struct h2_conn *h2)
{
    list_unlink(&h2->sched);
    if (h2->session != NULL)
        nghttp2_session_del(h2->session);
    h2->closed = 1; /* the connection is closing or lingering: no write of ours is left */
    out_release(h2);
    if (h2->c->h2 == h2)
        h2->c->h2 = NULL;
    free(h2);
}

/* Returns 1 when h2 is gone (freed now). */
static int h2_leave(struct h2_conn *h2)
{
    if (--h2->depth == 0 && (h2->closed || h2->finished)) {
        h2_free(h2);
        return 1;
    }
    return 0;
}

/* Aborts every stream's exchange (the connection is going away) and frees the streams
 * nghttp2 no longer needs to know about. */
static void abort_streams(struct h2_conn *h2, int session_gone)
{
    struct list_node *it, *tmp;
    list_for_each_safe(it, tmp, &h2->streams) {
        struct h2_stream *st = container_of(it, struct h2_stream, link);
        if (session_gone)
            st->flags &= ~ST_NG;
        h2_stream_abort(st, TERM_CLIENT);
    }
}

void h2_conn_close(struct conn *c)
{
    struct h2_conn *h2 = c->h2;
    if (h2->closed)
        return;
    h2->closed = 1;
    deadline_cancel(&h2->w->wheel, &c->dl);
    abort_streams(h2, 1);
    if (h2->depth == 0)
        h2_free(h2);
}

/* The session is over and its last bytes are written: the connection lingers (FIN, then
 * discard what the client still sends) so that our GOAWAY is read before any reset. */
static void h2_finish(struct h2_conn *h2)
{
    struct conn *c = h2->c;
    h2->finished = 1;
    abort_streams(h2, 1);
    deadline_cancel(&h2->w->wheel, &c->dl);
    c->h2 = NULL; /* conn.c treats it as an h1 connection that is closing */
    conn_linger(c);
}

/* --- flushing --------------------------------------------------------------------------- */

static void idle_cb(uv_idle_t *idle);

void h2_schedule(struct h2_conn *h2)
{
    struct h2_worker *hw = h2->w->h2;
    if (h2->scheduled || h2->closed || h2->finished)
        return;
    h2->scheduled = 1;
    list_push_tail(&hw->pending, &h2->sched);
    if (!uv_is_active((uv_handle_t *)&hw->idle))
        uv_idle_start(&hw->idle, idle_cb);
}

static void check_end(struct h2_conn *h2);

/* Produces frames while there is room and no write in flight, delivers completions,
 * writes. Runs only from the top of a callback (idle, read, write, deadline). */
static void h2_flush(struct h2_conn *h2)
{
    struct conn *c = h2->c;

    if (h2->flushing || h2->closed || h2->finished)
        return;
    h2->flushing = 1;
    for (int round = 0; round < 64 && !h2->broken && !h2->closed; round++) {
        int progress = 0;
        while (!c->tx.busy && h2->out_bytes < H2_OUT_SOFT && !h2->broken) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(h2->session, &data);
            if (n < 0) {
                log_debug("h2 client %s: mem_send: %s", c->peer_ip, nghttp2_strerror((int)n));
                h2->broken = 1;
                break;
            }
            if (n == 0)
                break;
            h2_out_append(h2, data, (size_t)n);
        }
        struct list_node *n;
        while ((n = list_first(&h2->completions)) != NULL && !h2->closed) {
            struct h2_stream *st = container_of(n, struct h2_stream, done_link);
            list_unlink(n);
            h2_stream_completed(st);
            progress = 1;
        }
        if (!c->tx.busy && h2->out_bytes > 0 && !h2->broken && !h2->closed) {
            uv_buf_t iov[H2_OUT_CHUNKS];
            for (unsigned i = 0; i < h2->nout; i++)
                iov[i] = uv_buf_init(h2->out[i], h2->out_len[i]);
            int r = conn_send(c, iov, h2->nout);
            if (r < 0) {
                h2->broken = 1;
            } else if (r == 1) {
                out_reset(h2);
                progress = 1;
            }
        }
        if (!progress)
            break;
        if (round == 63)
            h2_schedule(h2); /* still busy: continue next turn, let others run */
    }
    h2->flushing = 0;
    check_end(h2);
}

/* Flushes the sessions scheduled before this turn. One that schedules itself again (a
 * flush that hit its round limit, or sends from exchanges run by this flush) waits for
 * the next turn, so that the loop polls sockets and timers in between. */
static void idle_cb(uv_idle_t *idle)
{
    struct h2_worker *hw = container_of(idle, struct h2_worker, idle);
    struct list_node batch, *n;

    list_init(&batch);
    while ((n = list_first(&hw->pending)) != NULL) {
        list_unlink(n);
        list_push_tail(&batch, n);
    }
    /* h2_free() unlinks a connection's node from whichever list holds it. */
    while ((n = list_first(&batch)) != NULL) {
        struct h2_conn *h2 = container_of(n, struct h2_conn, sched);
        list_unlink(n);
        h2->scheduled = 0;
        h2_enter(h2);
        h2_flush(h2);
        h2_leave(h2);
    }
    if (list_empty(&hw->pending))
        uv_idle_stop(idle);
}

/* Arms the connection's deadline: the header timeout while a header block is incomplete
 * (slowloris over h2), the idle timeout while no exchange runs (streams whose exchange
 * ended and that wait for the client, or for our last frames, have no deadline of their
 * own); running exchanges have theirs. */
static void arm_deadline(struct h2_conn *h2)
{
    struct worker *w = h2->w;
    struct conn *c = h2->c;
    if (h2->terminating)
        return; /* DL_LINGER bounds the goodbye */
    if (h2->nheaders > 0) {
        /* Per header block: a busy client's reads often end inside the next block, so
         * the timer restarts when a new block began since it was armed (blocks cannot
         * interleave: the earlier one is complete). */
        if (h2->dl_kind != DL_HEADER || !deadline_armed(&c->dl) ||
            h2->hbegun_dl != h2->hbegun) {
            deadline_arm(&w->wheel, &c->dl, DL_HEADER, w->cfg->timeouts.header_ms);
            h2->dl_kind = DL_HEADER;
            h2->hbegun_dl = h2->hbegun;
        }
    } else if (h2->nex == 0) {
        deadline_arm(&w->wheel, &c->dl, DL_IDLE, w->cfg->timeouts.idle_ms);
        h2->dl_kind = DL_IDLE;
        if (h2->nstreams == 0) {
            /* An idle connection holds no buffer: the output queue's chunks, and the
             * input chunk, whose bytes nghttp2 consumed (it copies what it keeps); the
             * next read borrows one again, as an idle h1 connection's does. */
            if (h2->out_bytes == 0)
                out_release(h2);
            if (c->in.off == c->in.len)
                iobuf_release(w, &c->in);
        }
    } else {
        deadline_cancel(&w->wheel, &c->dl);
        h2->dl_kind = -1;
    }
}

static void check_end(struct h2_conn *h2)
{
    struct conn *c = h2->c;
    if (h2->closed || h2->finished)
        return;
    if (h2->broken) {
        conn_close(c);
        return;
    }
    if (c->tx.busy || h2->out_bytes > 0)
        return;
    if (h2->eof) {
        /* The client sent FIN: answer the requests it completed, then close. */
        struct list_node *it;
        for (it = h2->streams.next; it != &h2->streams; it = it->next)
            if (container_of(it, struct h2_stream, link)->flags & ST_EX)
                return;
        conn_close(c);
        return;
    }
    if (!nghttp2_session_want_read(h2->session) && !nghttp2_session_want_write(h2->session))
        h2_finish(h2);
    else
        arm_deadline(h2);
}

/* Ends the session with GOAWAY(code); the connection closes once it is written. */
static void h2_goaway(struct h2_conn *h2, uint32_t code)
{
    if (h2->terminating)
        return;
    h2->terminating = 1;
    nghttp2_session_terminate_session(h2->session, code);
    deadline_arm(&h2->w->wheel, &h2->c->dl, DL_LINGER, LINGER_MS);
    h2->dl_kind = DL_LINGER;
    h2_schedule(h2);
}

void h2_abuse(struct h2_conn *h2, const char *why)
{
    if (h2->terminating)
        return;
    log_warn("h2 client %s: %s (resets %u, errors %u, control %u, completed %u): GOAWAY",
             h2->c->peer_ip, why, h2->resets, h2->errors, h2->ctrl, h2->completed);
    h2_goaway(h2, NGHTTP2_ENHANCE_YOUR_CALM);
    /* Stop the upstream work it started; streams end with the session. */
    struct list_node *it, *tmp;
    list_for_each_safe(it, tmp, &h2->streams) {
        struct h2_stream *st = container_of(it, struct h2_stream, link);
        if (st->flags & ST_EX)
            h2_stream_abort(st, TERM_CLIENT);
    }
}

static void check_budget(struct h2_conn *h2)
{
    if (h2->resets + h2->errors > H2_ERR_BUDGET + h2->completed)
        h2_abuse(h2, "too many stream resets and errors");
    else if (h2->ctrl > H2_CTRL_BUDGET + 2 * h2->completed)
        h2_abuse(h2, "control frame flood");
}

void h2_count_error(struct h2_conn *h2)
{
    h2->errors++;
    check_budget(h2);
}

/* --- nghttp2 callbacks ------------------------------------------------------------------ */

/* A HEADERS frame on client stream id: records a new id (and the ids it skips) and
 * says whether a lower one is a protocol error. */
#define SID_WINDOW 256u
static int sid_check(struct h2_conn *h2, uint32_t id)
{
    uint32_t k = id >> 1;
    if (id > h2->max_sid) {
        uint32_t from = h2->max_sid ? (h2->max_sid >> 1) + 1 : 0;
        if (k - from >= SID_WINDOW)
            memset(h2->sid_used, 0, sizeof h2->sid_used);
        else
            for (uint32_t i = from; i < k; i++) /* skipped: implicitly closed, never open */
                h2->sid_used[(i % SID_WINDOW) / 64] &= ~(1ull << (i % 64));
        h2->sid_used[(k % SID_WINDOW) / 64] |= 1ull << (k % 64);
        h2->max_sid = id;
        return 0;
    }
    if ((h2->max_sid >> 1) - k >= SID_WINDOW)
        return 0; /* too old to tell: ignored, as nghttp2 does */
    /* A stream the client opened and we closed (we reset it, say) may still see its
     * trailers or other frames in flight: ignored (RFC 9113 §5.4.2, §6.4). An id it
     * skipped is a new stream id lower than one used (§5.1.1). */
    return (h2->sid_used[(k % SID_WINDOW) / 64] >> (k % 64) & 1) ? 0 : -1;
}

static int on_begin_frame(nghttp2_session *s, const nghttp2_frame_hd *hd, void *user)
{
    struct h2_conn *h2 = user;
    uint32_t cap = h2->w->limits.header_bytes;

    switch (hd->type) {
    case NGHTTP2_HEADERS:
        h2->hblock = (uint32_t)hd->length;
        /* RFC 9113 §5.1.1: a new stream id must be larger than every one used before;
         * nghttp2 ignores a HEADERS on any stream it no longer knows. */
        if ((hd->stream_id & 1) && sid_check(h2, (uint32_t)hd->stream_id) != 0 &&
            nghttp2_session_find_stream(s, hd->stream_id) == NULL) {
            h2->errors++;
            h2_goaway(h2, NGHTTP2_PROTOCOL_ERROR);
        }
        break;
    case NGHTTP2_CONTINUATION:
        h2->hblock += (uint32_t)hd->length;
        if (h2->hblock > H2_BOMB_FACTOR * cap + 16384)
            h2_abuse(h2, "CONTINUATION flood");
        break;
    case NGHTTP2_SETTINGS:
    case NGHTTP2_PING:
        if (!(hd->flags & NGHTTP2_FLAG_ACK)) {
            h2->ctrl++;
            check_budget(h2);
        }
        break;
    case NGHTTP2_PRIORITY:
        h2->ctrl++;
        check_budget(h2);
        break;
    case NGHTTP2_DATA:
        if (hd->length == 0 && !(hd->flags & NGHTTP2_FLAG_END_STREAM)) {
            h2->ctrl++; /* empty DATA frames cost work and carry nothing */
            check_budget(h2);
        }
        break;
    default:
        break;
    }
    return 0;
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *frame, void *user)
{
    struct h2_conn *h2 = user;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        if (h2->terminating)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        struct h2_stream *st = h2_stream_new(h2, frame->hd.stream_id);
        if (st == NULL)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        nghttp2_session_set_stream_user_data(s, frame->hd.stream_id, st);
        h2->nheaders++;
        h2->hbegun++;
    } else {
        struct h2_stream *st = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
        if (st != NULL)
            st->flags |= ST_TRAILERS;
    }
    return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
    struct h2_conn *h2 = user;
    struct h2_stream *st = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    (void)flags;

    if (st == NULL || h2->terminating)
        return 0;
    /* RFC 9113 §6.5.2: 32 bytes of overhead per field, so a bomb of empty fields counts. */
    st->hbytes += (uint32_t)(namelen + valuelen + 32);
    uint32_t cap = h2->w->limits.header_bytes;
    if (st->hbytes > cap) {
        if (!(st->flags & ST_TOO_BIG)) {
            st->flags |= ST_TOO_BIG;
            h2_count_error(h2);
        }
        if (st->hbytes > H2_BOMB_FACTOR * cap) {
            h2_abuse(h2, "header block decodes past the limit (HPACK bomb)");
            return NGHTTP2_ERR_PAUSE; /* stop decoding: the session is over */
        }
        return 0;
    }
    if (st->flags & ST_TRAILERS)
        return 0; /* request trailers are not forwarded (documented) */
    return h2_stream_header(st, name, namelen, value, valuelen) == 0
               ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

static int on_invalid_header(nghttp2_session *s, const nghttp2_frame *frame,
                             const uint8_t *name, size_t namelen, const uint8_t *value,
                             size_t valuelen, uint8_t flags, void *user)
{
    (void)s; (void)frame; (void)name; (void)namelen; (void)value; (void)valuelen;
    (void)flags; (void)user;
    /* RFC 9113 §8.2.1: a field nghttp2 would silently drop makes the request malformed:
     * reset the stream (PROTOCOL_ERROR); the RST counts as a provoked error when sent. */
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *user)
{
    struct h2_conn *h2 = user;
    struct h2_stream *st = frame->hd.stream_id != 0
                               ? nghttp2_session_get_stream_user_data(s, frame->hd.stream_id)
                               : NULL;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        if (st == NULL)
            break;
        if (st->flags & ST_HEADERS) {
            st->flags &= ~ST_HEADERS;
            h2->nheaders--;
            if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
                st->flags |= ST_EOF;
            if (!h2->terminating)
                h2_stream_request(st);
        } else if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
            h2_stream_eof(st); /* after trailers */
        }
        break;
    case NGHTTP2_DATA:
        if (st != NULL && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
            h2_stream_eof(st);
        break;
    case NGHTTP2_RST_STREAM:
        h2->resets++;
        check_budget(h2);
        break;
    case NGHTTP2_SETTINGS:
        if (frame->hd.flags & NGHTTP2_FLAG_ACK)
            h2->settings_acked = 1;
        break;
    default:
        break;
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user)
{
    struct h2_conn *h2 = user;
    struct h2_stream *st = nghttp2_session_get_stream_user_data(s, id);
    (void)flags;
    if (st == NULL || !(st->flags & ST_EX) || h2->terminating) {
        nghttp2_session_consume(s, id, len); /* nobody reads it: give the window back */
        return 0;
    }
    h2_stream_data(st, data, len);
    return 0;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *frame, void *user)
{
    struct h2_conn *h2 = user;
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        struct h2_stream *st = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
        if (st != NULL && (st->flags & ST_RST_LATER)) {
            /* Our response ended; the request never will (h2s_done). */
            st->flags &= ~ST_RST_LATER;
            nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
        }
    } else if (frame->hd.type == NGHTTP2_RST_STREAM) {
        struct h2_stream *st = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
        /* nghttp2 resets streams for protocol errors the client made (a zero window
         * increment, DATA on a closed stream, a bad header...): "MadeYouReset" turns
         * these into free work for the server unless they are counted. */
        if ((st == NULL || !(st->flags & ST_OURS_RST)) &&
            frame->rst_stream.error_code != NGHTTP2_NO_ERROR)
            h2_count_error(h2);
    }
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *user)
{
    struct h2_conn *h2 = user;
    struct h2_stream *st = nghttp2_session_get_stream_user_data(s, id);
    if (st == NULL)
        return 0;
    if (st->flags & ST_HEADERS) {
        st->flags &= ~ST_HEADERS;
        h2->nheaders--;
    }
    h2_stream_closed(st, error_code);
    return 0;
}

static int on_error(nghttp2_session *s, int code, const char *msg, size_t len, void *user)
{
    struct h2_conn *h2 = user;
    (void)s; (void)code;
    log_debug("h2 client %s: %.*s", h2->c->peer_ip, (int)len, msg);
    return 0;
}

/* --- per worker ------------------------------------------------------------------------- */

struct h2_worker *h2_worker_get(struct worker *w)
{
    if (w->h2 != NULL)
        return w->h2;
    struct h2_worker *hw = calloc(1, sizeof(*hw));
    if (hw == NULL)
        return NULL;
    if (nghttp2_session_callbacks_new(&hw->cbs) != 0 || nghttp2_option_new(&hw->opt) != 0) {
        if (hw->cbs != NULL)
            nghttp2_session_callbacks_del(hw->cbs);
        free(hw);
        return NULL;
    }
    nghttp2_session_callbacks *cb = hw->cbs;
    nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_invalid_header_callback(cb, on_invalid_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_send_data_callback(cb, h2_stream_send_data);
    nghttp2_session_callbacks_set_error_callback2(cb, on_error);
    /* Windows reopen only when the bytes went upstream (h2_stream.c). */
    nghttp2_option_set_no_auto_window_update(hw->opt, 1);
    nghttp2_option_set_max_continuations(hw->opt, 8);
    uv_idle_init(&w->loop, &hw->idle);
    list_init(&hw->pending);
    list_init(&hw->free_streams);
    w->h2 = hw;
    return hw;
}

void h2_worker_free(struct worker *w)
{
    struct h2_worker *hw = w->h2;
    if (hw == NULL)
        return;
    h2_stream_free_list(hw, w);
    nghttp2_session_callbacks_del(hw->cbs);
    nghttp2_option_del(hw->opt);
    free(hw);
    w->h2 = NULL;
}

/* --- conn.c hooks ----------------------------------------------------------------------- */

void h2_conn_start(struct conn *c)
{
    struct worker *w = c->w;
    struct h2_worker *hw = h2_worker_get(w);
    struct h2_conn *h2 = hw != NULL ? calloc(1, sizeof(*h2)) : NULL;

    if (h2 == NULL || nghttp2_session_server_new2(&h2->session, hw->cbs, h2, hw->opt) != 0) {
        free(h2);
        conn_close(c);
        return;
    }
    h2->c = c;
    h2->w = w;
    h2->dl_kind = -1;
    list_init(&h2->streams);
    list_init(&h2->completions);
    list_init(&h2->sched);
    c->h2 = h2;
    c->state = C_H2;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_MAX_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, w->limits.header_bytes},
        {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
    };
    if (nghttp2_submit_settings(h2->session, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0 ||
        nghttp2_session_set_local_window_size(h2->session, NGHTTP2_FLAG_NONE, 0,
                                              H2_CONN_WINDOW) != 0) {
        conn_close(c);
        return;
    }
    deadline_cancel(&w->wheel, &c->dl);
    if (c->in.len > c->in.off)
        h2_conn_on_data(c);
    else
        h2_schedule(h2);
}

void h2_conn_on_data(struct conn *c)
{
    struct h2_conn *h2 = c->h2;

    h2_enter(h2);
    if (!h2->terminating && !h2->closed) {
        ssize_t n = nghttp2_session_mem_recv(h2->session, (const uint8_t *)c->in.p + c->in.off,
                                             c->in.len - c->in.off);
        if (n < 0) {
            log_debug("h2 client %s: %s", c->peer_ip, nghttp2_strerror((int)n));
            if (n == NGHTTP2_ERR_FLOODED)
                h2_abuse(h2, "outbound queue flood");
            else
                h2_goaway(h2, NGHTTP2_PROTOCOL_ERROR);
        }
    }
    /* Everything was handed to nghttp2 (or is discarded: the session is ending). */
    if (!h2->closed)
        c->in.off = c->in.len = 0;
    h2_flush(h2);
    if (!h2->closed && !h2->finished) {
        /* A client that does not read our output may not queue more work, nor make us
         * process frames (WINDOW_UPDATE, DATA for streams that wait) that cannot lead
         * to output until it does: reading resumes when the write completes. */
        if (c->tx.busy && h2->out_bytes > 0)
            conn_rx_pause(c);
        if (!h2->terminating)
            arm_deadline(h2);
    }
    h2_leave(h2);
}

void h2_conn_on_written(struct conn *c, int status)
{
    struct h2_conn *h2 = c->h2;

    h2_enter(h2);
    if (status < 0) {
        h2->broken = 1;
    } else {
        out_reset(h2);
        if (!h2->closed && !h2->finished && !h2->terminating)
            conn_rx_resume(c);
    }
    h2_flush(h2);
    h2_leave(h2);
}

void h2_conn_on_eof(struct conn *c)
{
    struct h2_conn *h2 = c->h2;

    h2_enter(h2);
    h2->eof = 1;
    /* Streams still waiting for request bytes can never complete. */
    struct list_node *it, *tmp;
    list_for_each_safe(it, tmp, &h2->streams) {
        struct h2_stream *st = container_of(it, struct h2_stream, link);
        if (!(st->flags & ST_EOF) || (st->flags & ST_RELAY))
            h2_stream_abort(st, TERM_CLIENT);
    }
    h2_flush(h2);
    h2_leave(h2);
}

void h2_conn_on_deadline(struct conn *c)
{
    struct h2_conn *h2 = c->h2;

    h2_enter(h2);
    if (h2->terminating) {
        conn_close(c); /* the goodbye took too long: the client is not reading */
    } else if (h2->dl_kind == DL_HEADER) {
        log_debug("h2 client %s: header block timeout", c->peer_ip);
        h2_goaway(h2, NGHTTP2_PROTOCOL_ERROR);
        abort_streams(h2, 0);
    } else {
        h2_goaway(h2, NGHTTP2_NO_ERROR); /* idle */
    }
    h2_flush(h2);
    h2_leave(h2);
}

void h2_conn_drain(struct conn *c)
{
    struct h2_conn *h2 = c->h2;
    if (h2->draining || h2->terminating)
        return;
    h2->draining = 1;
    /* Streams up to the last one processed are answered; new ones are refused. */
    nghttp2_submit_goaway(h2->session, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(h2->session),
                          NGHTTP2_NO_ERROR, NULL, 0);
    h2_schedule(h2);
}

void h2_conn_cut_tagged(struct conn *c, uint64_t tag)
{
    struct h2_conn *h2 = c->h2;
    struct list_node *it, *tmp;

    h2_enter(h2);
    list_for_each_safe(it, tmp, &h2->streams) {
        struct h2_stream *st = container_of(it, struct h2_stream, link);
        if ((st->flags & ST_EX) && st->ex.route_tag == tag)
            exchange_abort(&st->ex, TERM_EDGE, PH_BODY);
    }
    h2_schedule(h2);
    h2_leave(h2);
}
