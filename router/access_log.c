/*
 * access_log: one JSON object per exchange, rendered into a per-worker buffer and written
 * once per loop turn (or when the buffer fills), so no request pays for a write() of its
 * own. All workers append to one file descriptor opened with O_APPEND; each write holds
 * whole lines, so lines never interleave. SIGHUP reopens the file (log rotation) by
 * dup2() onto the same descriptor number, which workers never see change.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "router/internal.h"

#define ALOG_BUF 65536
#define ALOG_LINE_MAX 2048

struct access_log {
    char    *buf;
    size_t   len;
    time_t   ts_sec;        /* cached timestamp prefix for this second */
    char     ts[32];
};

static _Atomic int access_fd = -1; /* -1: access log off */

int access_log_open(const char *path)
{
    int fd;

    if (path == NULL || strcmp(path, "off") == 0) {
        atomic_store(&access_fd, -1);
        return 0;
    }
    if (strcmp(path, "-") == 0)
        fd = dup(1);
    else
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int cur = atomic_load(&access_fd);
    if (cur >= 0) {
        /* Same descriptor number, new file: in-flight writers stay valid. */
        if (dup2(fd, cur) < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        close(fd);
    } else {
        atomic_store(&access_fd, fd);
    }
    return 0;
}

struct access_log *access_log_new(void)
{
    struct access_log *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->buf = malloc(ALOG_BUF);
    if (l->buf == NULL) {
        free(l);
        return NULL;
    }
    return l;
}

void access_log_free(struct access_log *l)
{
    if (l == NULL)
        return;
    access_log_flush(l);
    free(l->buf);
    free(l);
}

void access_log_flush(struct access_log *l)
{
    int fd = atomic_load(&access_fd);
    size_t off = 0;

    while (fd >= 0 && off < l->len) {
        ssize_t n = write(fd, l->buf + off, l->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* disk full or closed: drop rather than stall the worker */
        off += (size_t)n;
    }
    l->len = 0;
}

const char *term_name(enum term_side s, enum term_phase p)
{
#define PHASES(side)                                                                        \
    {side "/head", side "/body", side "/route", side "/connect", side "/resp_head",          \
     side "/resp_body", side "/relay"}
    static const char *const names[4][7] = {
        {"ok", "ok", "ok", "ok", "ok", "ok", "ok"}, PHASES("client"), PHASES("upstream"),
        PHASES("edge")};
#undef PHASES
    return names[s][p];
}

/* JSON string body: our fields are validated visible ASCII, so only quote and backslash
 * need escaping; anything else outside printable ASCII is written as \u00XX. */
static size_t json_str(char *out, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 6 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20 || ch >= 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    return o;
}

void access_log_exchange(struct worker *w, const struct exchange *ex)
{
    struct access_log *l = w->alog;
    char host[512], method[40], path[1600];
    struct timeval tv;

    if (atomic_load_explicit(&access_fd, memory_order_relaxed) < 0)
        return;
    if (l->len + ALOG_LINE_MAX > ALOG_BUF)
        access_log_flush(l);
    gettimeofday(&tv, NULL);
    if (tv.tv_sec != l->ts_sec) {
        struct tm tm;
        gmtime_r(&tv.tv_sec, &tm);
        strftime(l->ts, sizeof l->ts, "%Y-%m-%dT%H:%M:%S", &tm);
        l->ts_sec = tv.tv_sec;
    }
    uint64_t now = uv_now(&w->loop);
    size_t hl = json_str(host, sizeof host, ex->host, ex->host_len);
    size_t ml = json_str(method, sizeof method, ex->method, ex->method_len);
    size_t pl = json_str(path, sizeof path, ex->path, ex->path_len);
    const char *up = NULL;
    if (ex->slot < w->nslots && w->slots[ex->slot] != NULL)
        up = w->slots[ex->slot]->name;
    char upq[80];
    if (up != NULL)
        snprintf(upq, sizeof upq, "\"%s\"", up);
    else
        snprintf(upq, sizeof upq, "null");
    long long connect_ms = ex->t_connect ? (long long)(ex->t_connect - ex->t_start) : -1;
    long long header_ms = ex->t_header ? (long long)(ex->t_header - ex->t_start) : -1;
    int n = snprintf(l->buf + l->len, ALOG_BUF - l->len,
                     "{\"time\":\"%s.%03dZ\",\"worker\":%u,\"client\":\"%s\",\"host\":\"%.*s\","
                     "\"proto\":\"%s\",\"tls\":%s,"
                     "\"method\":\"%.*s\",\"path\":\"%.*s\",\"status\":%u,\"bytes\":%llu,"
                     "\"duration_ms\":%llu,\"upstream\":%s,\"upstream_connect_ms\":%lld,"
                     "\"upstream_header_ms\":%lld,\"request_id\":\"%s\",\"term\":\"%s\"}\n",
                     l->ts, (int)(tv.tv_usec / 1000), w->id, ex->c->peer_ip, (int)hl, host,
                     !ex->ops->h1 ? "HTTP/2" : ex->minor == 0 ? "HTTP/1.0" : "HTTP/1.1", ex->c->tls ? "true" : "false",
                     (int)ml, method, (int)pl, path, ex->status,
                     (unsigned long long)ex->resp.moved,
                     (unsigned long long)(now - ex->t_start), upq, connect_ms, header_ms,
                     ex->reqid, term_name(ex->term_side, ex->term_phase));
    if (n > 0 && (size_t)n < ALOG_BUF - l->len)
        l->len += (size_t)n;
}
