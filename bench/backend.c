/*
 * hostess-bench-backend: a small, fast HTTP/1.1 origin for the benchmark and the demo.
 *
 *   hostess-bench-backend --listen 127.0.0.1:9001 [--listen ...] [--body-size N] [--threads N]
 *
 * Every request gets 200 text/plain: "hello from PORT\n" (so a demo shows which backend
 * answered) or, with --body-size, N bytes; GET /health gets "ok". One process serves many
 * addresses; with --threads N each thread runs its own loop on SO_REUSEPORT sockets.
 *
 * Data flow: reads land in the connection's 16 KiB buffer; complete heads (CRLFCRLF) are
 * parsed in place, request bodies (Content-Length or chunked) are skipped, and each reply
 * is queued as iovecs pointing at immutable canned responses built at startup. After each
 * read the batch goes out with uv_try_write, and only the remainder is queued with
 * uv_write (no copy: the iovecs point at memory that lives as long as the process).
 * Anything malformed closes the connection.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define MAX_LISTEN  256
#define MAX_THREADS 64
#define RBUF_SIZE   16384
#define MAX_IOV     128          /* head + body per reply: 64 pipelined replies per flush */
#define HIGH_WATER  (1u << 20)   /* stop reading while this much output is queued */

enum body_mode { BODY_NONE, BODY_LENGTH, BODY_CHUNK_SIZE, BODY_CHUNK_DATA, BODY_CHUNK_CRLF,
                 BODY_TRAILER };

struct reply {                   /* one canned response: head variant + shared body */
    char       *head;
    size_t      head_len;
    const char *body;
    size_t      body_len;
};

struct site {                    /* one --listen address; replies[kind][conn variant] */
    struct sockaddr_storage sa;
    const char             *arg;       /* as given on the command line */
    char                    name[80];
    struct reply            replies[2][3]; /* [0 hello, 1 health][0 plain, 1 close, 2 keep-alive] */
    char                    hello[32];
};

struct listener {
    uv_tcp_t     tcp;
    struct site *site;
};

struct conn {
    uv_tcp_t            tcp;
    const struct site  *site;
    enum body_mode      body;
    uint64_t            remain;     /* body bytes left in BODY_LENGTH / BODY_CHUNK_DATA */
    const struct reply *pending;    /* reply to send once the request body is skipped */
    int                 pending_head_only, want_close, closing, paused;
    unsigned            nwrites;    /* uv_write requests in flight */
    unsigned            niov;
    size_t              len;        /* bytes in rbuf */
    uv_buf_t            iov[MAX_IOV];
    char                rbuf[RBUF_SIZE];
};

struct wreq {
    uv_write_t   req;
    struct conn *c;
};

static struct site sites[MAX_LISTEN];
static size_t nsites;
static char *body_fixed;          /* --body-size body, or NULL for "hello from PORT\n" */
static long body_size = -1;

static void conn_flush(struct conn *c);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

/* 1 once the connection must close: "close" was asked and its reply is queued. */
static int conn_finished(const struct conn *c)
{
    return c->want_close && c->pending == NULL;
}

/* First CRLF (crlf2 = 0) or CRLFCRLF (crlf2 = 1) in p[0..n), or NULL. */
static const char *find_crlf(const char *p, size_t n, int crlf2)
{
    const char *end = p + n, *q = p;
    size_t need = crlf2 ? 4 : 2;

    while ((size_t)(end - q) >= need &&
           (q = memchr(q, '\r', (size_t)(end - q) - need + 1)) != NULL) {
        if (q[1] == '\n' && (!crlf2 || (q[2] == '\r' && q[3] == '\n')))
            return q;
        q++;
    }
    return NULL;
}

static void on_close(uv_handle_t *h)
{
    free(h->data);
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void on_write(uv_write_t *req, int status)
{
    struct wreq *w = (struct wreq *)req;
    struct conn *c = w->c;

    free(w);
    c->nwrites--;
    if (c->closing)
        return;
    if (status < 0 || (conn_finished(c) && c->nwrites == 0)) {
        conn_close(c);
        return;
    }
    if (c->paused && c->tcp.write_queue_size < HIGH_WATER / 2) {
        c->paused = 0;
        if (!conn_finished(c))
            uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    }
}

static void queue_reply(struct conn *c, const struct reply *r, int head_only)
{
    if (c->niov + 2 > MAX_IOV)
        conn_flush(c);
    c->iov[c->niov++] = uv_buf_init(r->head, (unsigned)r->head_len);
    if (!head_only && r->body_len > 0)
        c->iov[c->niov++] = uv_buf_init((char *)r->body, (unsigned)r->body_len);
}

static void conn_flush(struct conn *c)
{
    uv_buf_t *b = c->iov;
    unsigned n = c->niov;
    int r;

    c->niov = 0;
    if (n == 0 || c->closing)
        return;
    r = uv_try_write((uv_stream_t *)&c->tcp, b, n);
    if (r == UV_EAGAIN || r == UV_ENOSYS)
        r = 0;
    else if (r < 0) {
        conn_close(c);
        return;
    }
    size_t done = (size_t)r;
    while (n > 0 && done >= b->len)
        done -= b->len, b++, n--;
    if (n == 0)
        return;
    b->base += done;
    b->len -= done;
    struct wreq *w = malloc(sizeof(*w));
    if (w == NULL || uv_write(&w->req, (uv_stream_t *)&c->tcp, b, n, on_write) != 0) {
        free(w);
        conn_close(c);
        return;
    }
    w->c = c;
    c->nwrites++;
    if (c->tcp.write_queue_size > HIGH_WATER && !c->paused) {
        c->paused = 1;
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
}

/* Case-insensitive "does the comma list v contain token tok". */
static int has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; i < n;) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - s == tl && strncasecmp(v + s, tok, tl) == 0)
            return 1;
    }
    return 0;
}

static int parse_u64(const char *p, size_t n, int base, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 15)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int d = (p[i] >= '0' && p[i] <= '9') ? p[i] - '0'
              : (base == 16 && p[i] >= 'a' && p[i] <= 'f') ? p[i] - 'a' + 10
              : (base == 16 && p[i] >= 'A' && p[i] <= 'F') ? p[i] - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * (uint64_t)base + (uint64_t)d;
    }
    *out = v;
    return 0;
}

/* Parses one complete head p[0..n) (ending in CRLFCRLF). Returns 0 or -1 (close). */
static int parse_head(struct conn *c, const char *p, size_t n)
{
    const char *end = p + n - 2, *line = p, *eol;
    int http10, conn_close_tok = 0, conn_ka = 0, chunked = 0, has_cl = 0;
    uint64_t cl = 0;

    for (const char *q = p; q < end; q++)       /* no NUL, bare LF or bare CR anywhere */
        if (*q == '\0' || (*q == '\n' && (q == p || q[-1] != '\r')) ||
            (*q == '\r' && q[1] != '\n'))
            return -1;
    eol = memchr(line, '\r', (size_t)(end - line));
    const char *sp1 = memchr(line, ' ', (size_t)(eol - line));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (sp1 == NULL || sp2 == NULL || sp1 == line || sp2 == sp1 + 1 || eol - sp2 != 9 ||
        memcmp(sp2 + 1, "HTTP/1.", 7) != 0 || (sp2[8] != '0' && sp2[8] != '1'))
        return -1;
    http10 = sp2[8] == '0';
    for (line = eol + 2; line < end; line = eol + 2) {
        eol = memchr(line, '\r', (size_t)(end - line));
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon == NULL || colon == line)
            return -1;
        for (const char *q = line; q < colon; q++)
            if (*q == ' ' || *q == '\t')
                return -1;                       /* "Host : x" and obs-fold */
        const char *v = colon + 1, *ve = eol;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t nl = (size_t)(colon - line), vl = (size_t)(ve - v);
        if (nl == 14 && strncasecmp(line, "content-length", 14) == 0) {
            uint64_t x;
            if (parse_u64(v, vl, 10, &x) < 0 || (has_cl && x != cl))
                return -1;
            cl = x, has_cl = 1;
        } else if (nl == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
            if (chunked || vl != 7 || strncasecmp(v, "chunked", 7) != 0)
                return -1;
            chunked = 1;
        } else if (nl == 10 && strncasecmp(line, "connection", 10) == 0) {
            conn_close_tok |= has_token(v, vl, "close");
            conn_ka |= has_token(v, vl, "keep-alive");
        }
    }
    if (chunked && has_cl)
        return -1;
    size_t tl = (size_t)(sp2 - sp1 - 1);
    int health = (tl == 7 && memcmp(sp1 + 1, "/health", 7) == 0) ||
                 (tl > 8 && memcmp(sp1 + 1, "/health?", 8) == 0);
    int variant = conn_close_tok ? 1 : http10 ? (conn_ka ? 2 : 1) : 0;
    c->want_close = variant == 1;
    c->pending = &c->site->replies[health][variant];
    c->pending_head_only = sp1 - p == 4 && memcmp(p, "HEAD", 4) == 0;
    c->body = chunked ? BODY_CHUNK_SIZE : cl > 0 ? BODY_LENGTH : BODY_NONE;
    c->remain = cl;
    return 0;
}

/* Skips request body bytes from *off. Returns 1 when the body is done, 0 for more, -1. */
static int skip_body(struct conn *c, size_t *off)
{
    for (;;) {
        const char *p = c->rbuf + *off;
        size_t n = c->len - *off;
        const char *crlf;
        switch (c->body) {
        case BODY_NONE:
            return 1;
        case BODY_LENGTH:
        case BODY_CHUNK_DATA: {
            size_t k = c->remain < n ? (size_t)c->remain : n;
            *off += k, c->remain -= k;
            if (c->remain > 0)
                return 0;
            c->body = c->body == BODY_LENGTH ? BODY_NONE : BODY_CHUNK_CRLF;
            break;
        }
        case BODY_CHUNK_CRLF:
            if (n < 2)
                return 0;
            if (p[0] != '\r' || p[1] != '\n')
                return -1;
            *off += 2, c->body = BODY_CHUNK_SIZE;
            break;
        case BODY_CHUNK_SIZE:
        case BODY_TRAILER:
            crlf = find_crlf(p, n, 0);
            if (crlf == NULL)
                return n >= 4096 ? -1 : 0;
            *off += (size_t)(crlf - p) + 2;
            if (c->body == BODY_TRAILER) {
                if (crlf == p)
                    c->body = BODY_NONE;
                break;
            }
            const char *semi = memchr(p, ';', (size_t)(crlf - p));
            if (parse_u64(p, (size_t)((semi ? semi : crlf) - p), 16, &c->remain) < 0)
                return -1;
            c->body = c->remain ? BODY_CHUNK_DATA : BODY_TRAILER;
            break;
        }
    }
}

/* Handles every complete request in rbuf. Returns 0, or -1 to close. */
static int conn_feed(struct conn *c)
{
    size_t off = 0;
    int r = 0;

    while (!c->closing) {
        if (c->pending != NULL) {
            if ((r = skip_body(c, &off)) <= 0)
                break;
            queue_reply(c, c->pending, c->pending_head_only);
            c->pending = NULL;
            if (c->want_close)
                break;
        }
        while (off + 1 < c->len && c->rbuf[off] == '\r' && c->rbuf[off + 1] == '\n')
            off += 2;                            /* RFC 9112 2.2: ignore leading empty lines */
        const char *p = c->rbuf + off;
        const char *e = find_crlf(p, c->len - off, 1);
        if (e == NULL) {
            r = (off == 0 && c->len == RBUF_SIZE) ? -1 : 0;   /* head too large */
            break;
        }
        if ((r = parse_head(c, p, (size_t)(e - p) + 4)) < 0)
            break;
        off += (size_t)(e - p) + 4;
    }
    memmove(c->rbuf, c->rbuf + off, c->len - off);
    c->len -= off;
    return r < 0 ? -1 : 0;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct conn *c = h->data;
    (void)hint;
    *buf = uv_buf_init(c->rbuf + c->len, (unsigned)(RBUF_SIZE - c->len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = s->data;
    (void)buf;
    if (n < 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)n;
    if (conn_feed(c) < 0) {
        conn_close(c);
        return;
    }
    conn_flush(c);
    if (conn_finished(c) && !c->closing) {
        uv_read_stop(s);
        if (c->nwrites == 0)
            conn_close(c);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    struct listener *l = server->data;
    struct conn *c;

    if (status < 0 || (c = calloc(1, sizeof(*c))) == NULL)
        return;
    c->site = l->site;
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static int listener_open(uv_loop_t *loop, struct listener *l, struct site *s, int reuseport)
{
    int fd = -1, one = 1, namelen = sizeof(s->sa), err;

    l->site = s;
    l->tcp.data = l;
    if ((err = uv_tcp_init_ex(loop, &l->tcp, s->sa.ss_family)) != 0)
        return err;
    uv_fileno((uv_handle_t *)&l->tcp, &fd);
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
        return uv_translate_sys_error(errno);
    if ((err = uv_tcp_bind(&l->tcp, (struct sockaddr *)&s->sa, 0)) != 0 ||
        (err = uv_listen((uv_stream_t *)&l->tcp, 4096, on_connection)) != 0)
        return err;
    return uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&s->sa, &namelen); /* port 0 */
}

static void make_reply(struct reply *r, const char *body, size_t body_len, int variant)
{
    static const char *const conn_hdr[3] = {"", "Connection: close\r\n",
                                            "Connection: keep-alive\r\n"};
    char tmp[256];
    int n = snprintf(tmp, sizeof(tmp),
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n",
                     body_len, conn_hdr[variant]);
    r->head = malloc((size_t)n);
    if (r->head == NULL)
        abort();
    memcpy(r->head, tmp, (size_t)n);
    r->head_len = (size_t)n;
    r->body = body;
    r->body_len = body_len;
}

static void site_finish(struct site *s)
{
    char host[64] = "";
    int port = 0;
    if (s->sa.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&s->sa;
        uv_ip6_name(a, host, sizeof(host));
        port = ntohs(a->sin6_port);
        snprintf(s->name, sizeof(s->name), "[%s]:%d", host, port);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&s->sa;
        uv_ip4_name(a, host, sizeof(host));
        port = ntohs(a->sin_port);
        snprintf(s->name, sizeof(s->name), "%s:%d", host, port);
    }
    int hl = snprintf(s->hello, sizeof(s->hello), "hello from %d\n", port);
    for (int v = 0; v < 3; v++) {
        make_reply(&s->replies[0][v], body_fixed ? body_fixed : s->hello,
                   body_fixed ? (size_t)body_size : (size_t)hl, v);
        make_reply(&s->replies[1][v], "ok", 2, v);
    }
}

static int parse_addr(const char *arg, struct sockaddr_storage *sa)
{
    const char *colon = strrchr(arg, ':');
    char host[64];
    char *end;
    long port;
    if (colon == NULL || (size_t)(colon - arg) >= sizeof(host))
        return -1;
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1 || port < 0 || port > 65535)
        return -1;
    memcpy(host, arg, (size_t)(colon - arg));
    host[colon - arg] = '\0';
    if (host[0] == '[' && colon[-1] == ']') {
        host[colon - arg - 1] = '\0';
        return uv_ip6_addr(host + 1, (int)port, (struct sockaddr_in6 *)sa) ? -1 : 0;
    }
    return uv_ip4_addr(host[0] ? host : "0.0.0.0", (int)port, (struct sockaddr_in *)sa) ? -1 : 0;
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h, (void)signum;
    _exit(0);
}

static void run_loop(void *arg)
{
    uv_run(arg, UV_RUN_DEFAULT);
}

static void usage(void)
{
    fprintf(stderr, "usage: hostess-bench-backend --listen HOST:PORT [--listen ...]"
                    " [--body-size N] [--threads N]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static uv_loop_t loops[MAX_THREADS];
    static struct listener *ls;
    static uv_signal_t sigs[2];
    uv_thread_t tids[MAX_THREADS];
    long nthreads = 1;
    char *end;
    struct sigaction sa = {.sa_handler = SIG_IGN};

    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--listen") == 0 && nsites < MAX_LISTEN) {
            sites[nsites].arg = argv[++i];
            if (parse_addr(argv[i], &sites[nsites++].sa) < 0) {
                fprintf(stderr, "hostess-bench-backend: bad address %s\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--body-size") == 0) {
            body_size = strtol(argv[++i], &end, 10);
            if (*end != '\0' || body_size < 0 || body_size > (64L << 20))
                usage();
        } else if (strcmp(argv[i], "--threads") == 0) {
            nthreads = strtol(argv[++i], &end, 10);
            if (*end != '\0' || nthreads < 1 || nthreads > MAX_THREADS)
                usage();
        } else {
            usage();
        }
    }
    if (nsites == 0)
        usage();
    sigaction(SIGPIPE, &sa, NULL);
    if (body_size >= 0) {
        if ((body_fixed = malloc((size_t)body_size + 1)) == NULL)
            return 1;
        for (long i = 0; i < body_size; i++)
            body_fixed[i] = (char)('a' + i % 26);
        if (body_size > 0)
            body_fixed[body_size - 1] = '\n';
    }
    if ((ls = calloc(nsites * (size_t)nthreads, sizeof(*ls))) == NULL)
        return 1;
    for (long t = 0; t < nthreads; t++)
        uv_loop_init(&loops[t]);
    for (size_t s = 0; s < nsites; s++) {
        for (long t = 0; t < nthreads; t++) {    /* thread 0 fixes the port if it was 0 */
            int err = listener_open(&loops[t], &ls[s * (size_t)nthreads + (size_t)t],
                                    &sites[s], nthreads > 1);
            if (err != 0) {
                fprintf(stderr, "hostess-bench-backend: listen %s: %s\n", sites[s].arg,
                        uv_strerror(err));
                return 1;
            }
        }
        site_finish(&sites[s]);
        fprintf(stderr, "listening on %s\n", sites[s].name);
    }
    uv_signal_init(&loops[0], &sigs[0]);
    uv_signal_init(&loops[0], &sigs[1]);
    uv_signal_start(&sigs[0], on_signal, SIGTERM);
    uv_signal_start(&sigs[1], on_signal, SIGINT);
    for (long t = 1; t < nthreads; t++)
        uv_thread_create(&tids[t], run_loop, &loops[t]);
    uv_run(&loops[0], UV_RUN_DEFAULT);
    return 0;
}
