/*
 * settings: the edge's YAML config (CONTRACT §4) → struct edge_config.
 *
 * Flow: edge_config_defaults() fills every field; cfg_parse() builds a positioned node
 * tree; cfg_keys_apply() walks it with the keyword tables below, each key either a typed
 * field (duration, size, integer, string) or a small parser here for values with their
 * own syntax (addresses, CIDRs, routes). The first error stops the load and is reported
 * as "file:line:column: key.path: message"; the struct is then freed and zeroed, so a
 * caller never sees a half-applied config.
 *
 * Ownership: every string and array reachable from an edge_config is a heap copy owned
 * by it, defaults included, so edge_config_free() never has to know where a value came
 * from. Each parser below frees the value it replaces, and arrays count only the elements
 * already initialised (calloc'ed), so freeing after a failure midway is always safe.
 */
#include "router/settings.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router/base/cfg.h"
#include "router/base/log.h"
#include "router/base/span.h"
#include "router/base/hostname.h"

#define EC        struct edge_config
#define MS_DAY    (24u * 3600u * 1000u)
#define KIB       1024u
#define MIB       (1024u * 1024u)
#define FILE_MAX  (16u * MIB) /* a config larger than this is a mistake, not a config */

static const char ADDR_EXPECTED[] = "expected an address such as 127.0.0.1:8080 or [::1]:8080";

static void *xstrdup(const char *s)
{
    char *d = strdup(s);

    if (d == NULL) {
        fprintf(stderr, "hostess-edge: out of memory loading config defaults\n");
        abort();
    }
    return d;
}

/* ---- values with their own syntax ---- */

static int port_parse(const char *p, size_t len, uint16_t *port)
{
    uint64_t v;

    if (len == 0 || len > 5 || span_to_u64(span_make(p, len), &v) != 0 || v == 0 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

/* "1.2.3.4:80" or "[::1]:80", numeric only: a config load never waits on DNS. */
static int addr_parse(const char *s, size_t len, struct cfg_addr *a)
{
    char host[INET6_ADDRSTRLEN], shown[INET6_ADDRSTRLEN];
    const char *port;
    size_t hlen;
    uint16_t pnum;

    memset(a, 0, sizeof(*a));
    if (strlen(s) != len)
        return -1;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        hlen = (size_t)(close - s) - 1;
        port = close + 2;
    } else {
        const char *colon = strchr(s, ':');
        if (colon == NULL)
            return -1;
        hlen = (size_t)(colon - s);
        port = colon + 1;
    }
    if (hlen == 0 || hlen >= sizeof(host) || port_parse(port, strlen(port), &pnum) < 0)
        return -1;
    memcpy(host, s[0] == '[' ? s + 1 : s, hlen);
    host[hlen] = '\0';
    if (s[0] == '[') {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->sa;
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
            return -1;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(pnum);
        a->salen = sizeof(*sin6);
        inet_ntop(AF_INET6, &sin6->sin6_addr, shown, sizeof(shown));
        snprintf(a->text, sizeof(a->text), "[%s]:%u", shown, pnum);
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)&a->sa;
        if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
            return -1;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(pnum);
        a->salen = sizeof(*sin);
        inet_ntop(AF_INET, &sin->sin_addr, shown, sizeof(shown));
        snprintf(a->text, sizeof(a->text), "%s:%u", shown, pnum);
    }
    return 0;
}

static int read_addr(struct cfg_ctx *ctx, const struct cfg_node *v, struct cfg_addr *a)
{
    char got[80];

    if (v->type != CFG_SCALAR || v->is_null || addr_parse(v->str, v->len, a) < 0)
        return cfg_fail(ctx, v, "%s, got %s", ADDR_EXPECTED, cfg_node_describe(v, got, sizeof(got)));
    return 0;
}

/* "10.0.0.0/8", "::1/128", or a bare address (a /32 or /128). Host bits are cleared so
 * that matching is a masked compare of the network only. */
static int cidr_parse(const char *s, size_t len, struct cfg_cidr *c)
{
    char addr[INET6_ADDRSTRLEN];
    const char *slash;
    unsigned char *bytes;
    unsigned max;
    uint64_t prefix;
    size_t alen;

    memset(c, 0, sizeof(*c));
    if (strlen(s) != len)
        return -1;
    slash = strchr(s, '/');
    alen = slash ? (size_t)(slash - s) : len;
    if (alen == 0 || alen >= sizeof(addr))
        return -1;
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    if (memchr(addr, ':', alen) != NULL) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&c->net;
        if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) != 1)
            return -1;
        sin6->sin6_family = AF_INET6;
        bytes = sin6->sin6_addr.s6_addr;
        max = 128;
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)&c->net;
        if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
            return -1;
        sin->sin_family = AF_INET;
        bytes = (unsigned char *)&sin->sin_addr.s_addr;
        max = 32;
    }
    prefix = max;
    if (slash && (len - alen - 1 > 3 ||
                  span_to_u64(span_make(slash + 1, len - alen - 1), &prefix) != 0 || prefix > max))
        return -1;
    c->prefix = (uint8_t)prefix;
    for (unsigned bit = (unsigned)prefix; bit < max; bit++)
        bytes[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
    return 0;
}

/* ---- keys with their own parser ---- */

static int parse_domain(struct cfg_ctx *ctx, const struct cfg_node *v, void *base)
{
    EC *c = base;
    char norm[HOSTNAME_MAX + 1], got[80];
    int n;

    /* The base domain is a DNS name: no port, no IP literal. */
    if (v->type != CFG_SCALAR || v->is_null || memchr(v->str, ':', v->len) != NULL ||
        v->str[0] == '[' || (n = hostname_normalise(v->str, v->len, norm)) < 0)
        return cfg_fail(ctx, v, "expected a hostname such as hostess.localhost, got %s",
                        cfg_node_describe(v, got, sizeof(got)));
    char *copy = strdup(norm);
    if (copy == NULL)
        return cfg_fail(ctx, v, "out of memory");
    free(c->domain);
    c->domain = copy;
    return 0;
}

static int parse_listen_http(struct cfg_ctx *ctx, const struct cfg_node *v, void *base)
{
    return read_addr(ctx, v, &((EC *)base)->listen_http);
}

/* listen.https: an address, or "off". Naming it turns HTTPS on (as a tls section does). */
static int parse_listen_https(struct cfg_ctx *ctx, const struct cfg_node *v, void *base)
{
    EC *c = base;
    c->https_given = 1;
    if (cfg_scalar_is(v, "off")) {
        c->https_enabled = 0;
        return 0;
    }
    c->https_enabled = 1;
    return read_addr(ctx, v, &c->listen_https);
}

static int parse_http_mode(struct cfg_ctx *ctx, const struct cfg_node *v, void *base)
{
    char got[80];

    if (cfg_scalar_is(v, "proxy")) {
        ((EC *)base)->http_mode = HTTP_MODE_PROXY;
        ((EC *)base)->http_mode_given = 1;
        return 0;
    }
    if (cfg_scalar_is(v, "redirect")) {
        ((EC *)base)->http_mode = HTTP_MODE_REDIRECT;
        ((EC *)base)->http_mode_given = 1;
        return 0;
    }
    return cfg_fail(ctx, v, "expected \"proxy\" or \"redirect\", got %s",
                    cfg_node_describe(v, got, sizeof(got)));
}

static int parse_bool(struct cfg_ctx *ctx, const struct cfg_node *v, int *out)
{
    char got[80];
    if (cfg_scalar_is(v, "true") || cfg_scalar_is(v, "on") || cfg_scalar_is(v, "yes")) {
        *out = 1;
        return 0;
    }
    if (cfg_scalar_is(v, "false") || cfg_scalar_is(v, "off") || cfg_scalar_is(v, "no")) {
        *out = 0;
        return 0;
    }
    return cfg_fail(ctx, v, "expected true or false, got %s",
                    cfg_node_describe(v, got, sizeof(got)));
}

static int parse_session_tickets(struct cfg_ctx *ctx, const struct cfg_node *v, void *base)
{
    return parse_bool(ctx, v, &((EC *)base)->tls.session_tickets);
}

static int parse_tls_http2(struct cfg_ctx *ctx, const struct cfg_node *v, void *base)
{
    return parse_bool(ctx, v, &((EC *)base)->tls.http2);
}

/* An HSTS header value ("max-age=N[; includeSubDomains][; preload]"), or "off". The value
 * goes into response heads as it is, so only visible ASCII and spaces are taken. */
static int read_hsts(struct cfg_ctx *ctx, const struct cfg_node *v, char **out)
{
    char got[80];
    free(*out);
    *out = NULL;
    if (cfg_scalar_is(v, "off"))
        return 0;
    int ok = v->type == CFG_SCALAR && !v->is_null && v->len > 8 && v->len < 256 &&
             strncasecmp(v->str, "max-age=", 8) == 0;
    for (size_t i = 0; ok && i < v->len; i++)
        ok = v->str[i] >= 0x20 && v->str[i] < 0x7f;
    if (!ok)
        return cfg_fail(ctx, v, "expected \"off\" or a header value such as "
                        "\"max-age=31536000; includeSubDomains\", got %s",
                        cfg_node_describe(v, got, sizeof(got)));
    if ((*out = strndup(v->str, v->len)) == NULL)
        return cfg_fail(ctx, v, "out of memory");
    return 0;
}

static int parse_hsts_generated(struct cfg_ctx *ctx, const struct cfg_node *v, void *base)
{
    return read_hsts(ctx, v, &((EC *)base)->tls.hsts_generated);
}

static int parse_hsts_custom(struct cfg_ctx *ctx, const struct cfg_node *v, void *base)
{
    return read_hsts(ctx, v, &((EC *)base)->tls.hsts_custom);
}

static const struct cfg_key hsts_keys[] = {
    CFG_FUNC("generated", parse_hsts_generated),
    CFG_FUNC("custom", parse_hsts_custom),
    CFG_END,
};

static int parse_default_cert(struct cfg_ctx *ctx, const struct cfg_node *v, void *base)
{
    return cfg_read_string(ctx, v, &((EC *)base)->tls.default_cert);
}

static int parse_default_key(struct cfg_ctx *ctx, const struct cfg_node *v, void *base)
{
    return cfg_read_string(ctx, v, &((EC *)base)->tls.default_key);
}

static const struct cfg_key tls_keys[] = {
    CFG_STRING("certs_dir", EC, tls.certs_dir, "./state/certs"),
    CFG_FUNC("default_cert", parse_default_cert),
    CFG_FUNC("default_key", parse_default_key),
    CFG_FUNC("session_tickets", parse_session_tickets),
    CFG_FUNC("http2", parse_tls_http2),
    CFG_MS("ticket_key_rotation", EC, tls.ticket_rotation_ms, 60000, 7 * MS_DAY, 12 * 3600000),
    CFG_SECTION("hsts", hsts_keys),
    CFG_END,
};

/* A tls section turns HTTPS on (its listener defaults to 127.0.0.1:8443). */
static int parse_tls(struct cfg_ctx *ctx, const struct cfg_node *v, void *base)
{
    EC *c = base;
    c->tls_given = 1;
    if (v->type == CFG_SCALAR && v->is_null)
        return 0; /* "tls:" alone: every default */
    return cfg_keys_apply(ctx, v, tls_keys, base);
}

static int parse_workers(struct cfg_ctx *ctx, const struct cfg_node *v, void *base)
{
    uint64_t n = 0;
    char got[80];

    if (cfg_scalar_is(v, "auto")) {
        ((EC *)base)->workers = 0;
        return 0;
    }
    if (v->type != CFG_SCALAR || v->is_null || span_to_u64(span_make(v->str, v->len), &n) != 0 ||
        n < 1 || n > 256)
        return cfg_fail(ctx, v, "expected \"auto\" or an integer between 1 and 256, got %s",
                        cfg_node_describe(v, got, sizeof(got)));
    ((EC *)base)->workers = (unsigned)n;
    return 0;
}

static int parse_log_error(struct cfg_ctx *ctx, const struct cfg_node *v, void *base)
{
    /* "off" would silently create a file named "off" (nginx's old trap): refuse it. */
    if (cfg_scalar_is(v, "off"))
        return cfg_fail(ctx, v, "expected \"-\" or a file path (the error log cannot be "
                                "turned off), got \"off\"");
    return cfg_read_string(ctx, v, &((EC *)base)->log.error);
}

static int parse_log_level(struct cfg_ctx *ctx, const struct cfg_node *v, void *base)
{
    enum log_level l;
    char got[80];

    if (v->type != CFG_SCALAR || v->is_null || strlen(v->str) != v->len ||
        log_level_parse(v->str, &l) < 0)
        return cfg_fail(ctx, v, "expected one of error, warn, info, debug, got %s",
                        cfg_node_describe(v, got, sizeof(got)));
    ((EC *)base)->log.level = (int)l;
    return 0;
}

static int expect_list(struct cfg_ctx *ctx, const struct cfg_node *v)
{
    char got[80];

    if (v->type != CFG_SEQUENCE)
        return cfg_fail(ctx, v, "expected a list, got %s", cfg_node_describe(v, got, sizeof(got)));
    return 0;
}

static int parse_trusted_proxies(struct cfg_ctx *ctx, const struct cfg_node *v, void *base)
{
    EC *c = base;
    char got[80];

    free(c->trusted_proxies);
    c->trusted_proxies = NULL;
    c->ntrusted_proxies = 0;
    if (v->type == CFG_SCALAR && v->is_null)
        return 0;
    if (expect_list(ctx, v) < 0)
        return -1;
    if (v->nkids == 0)
        return 0;
    if ((c->trusted_proxies = calloc(v->nkids, sizeof(*c->trusted_proxies))) == NULL)
        return cfg_fail(ctx, v, "out of memory");
    for (size_t i = 0; i < v->nkids; i++) {
        const struct cfg_node *item = v->kids[i];
        if (item->type != CFG_SCALAR || item->is_null ||
            cidr_parse(item->str, item->len, &c->trusted_proxies[i]) < 0) {
            cfg_path_push_index(ctx, i); /* the caller pops the whole key */
            return cfg_fail(ctx, item, "expected an IP address or CIDR such as 10.0.0.0/8, got %s",
                            cfg_node_describe(item, got, sizeof(got)));
        }
        c->ntrusted_proxies++;
    }
    return 0;
}

static int route_host_read(struct cfg_ctx *ctx, const struct cfg_node *v, struct cfg_route *r)
{
    char norm[HOSTNAME_MAX + 1], got[80];

    if (v->type != CFG_SCALAR || v->is_null || hostname_normalise(v->str, v->len, norm) < 0)
        return cfg_fail(ctx, v, "expected a hostname such as app.hostess.localhost, got %s",
                        cfg_node_describe(v, got, sizeof(got)));
    if ((r->host = strdup(norm)) == NULL)
        return cfg_fail(ctx, v, "out of memory");
    return 0;
}

static int route_targets_read(struct cfg_ctx *ctx, const struct cfg_node *v, struct cfg_route *r)
{
    if (expect_list(ctx, v) < 0)
        return -1;
    if (v->nkids == 0)
        return cfg_fail(ctx, v, "expected at least one target");
    if ((r->targets = calloc(v->nkids, sizeof(*r->targets))) == NULL)
        return cfg_fail(ctx, v, "out of memory");
    for (size_t i = 0; i < v->nkids; i++) {
        size_t saved = cfg_path_push_index(ctx, i);
        if (read_addr(ctx, v->kids[i], &r->targets[i]) < 0)
            return -1; /* the path stays: it names the bad target */
        r->ntargets++;
        cfg_path_pop(ctx, saved);
    }
    return 0;
}

/* One "- {host: ..., targets: [...]}" item. r is zeroed; on error it may hold parts. */
static int route_read(struct cfg_ctx *ctx, const struct cfg_node *item, struct cfg_route *r)
{
    const struct cfg_node *host, *targets;
    char got[80];

    if (item->type != CFG_MAPPING)
        return cfg_fail(ctx, item, "expected a mapping, got %s",
                        cfg_node_describe(item, got, sizeof(got)));
    for (size_t i = 0; i < item->nkids; i += 2)
        if (!cfg_scalar_is(item->kids[i], "host") && !cfg_scalar_is(item->kids[i], "targets"))
            return cfg_fail(ctx, item->kids[i], "unknown key %s",
                            cfg_node_describe(item->kids[i], got, sizeof(got)));
    host = cfg_map_get(item, "host");
    targets = cfg_map_get(item, "targets");
    if (host == NULL)
        return cfg_fail(ctx, item, "missing key \"host\"");
    if (targets == NULL)
        return cfg_fail(ctx, item, "missing key \"targets\"");
    size_t saved = cfg_path_push(ctx, "host");
    if (route_host_read(ctx, host, r) < 0)
        return -1; /* the path stays: it names the bad value */
    cfg_path_pop(ctx, saved);
    cfg_path_push(ctx, "targets");
    if (route_targets_read(ctx, targets, r) < 0)
        return -1; /* the path stays: it names the bad value */
    cfg_path_pop(ctx, saved);
    return 0;
}

struct host_ref {
    const char *host;
    size_t      idx;
};

static int host_ref_cmp(const void *a, const void *b)
{
    const struct host_ref *x = a, *y = b;
    int r = strcmp(x->host, y->host);
    return r != 0 ? r : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Duplicate hosts, found by sorting (n log n: a generated file may hold a million routes).
 * The error names the first duplicate in file order and the line of its first use. */
static int routes_check_unique(struct cfg_ctx *ctx, const struct cfg_node *v, EC *c)
{
    struct host_ref *refs = calloc(c->nroutes, sizeof(*refs));
    size_t dup = SIZE_MAX, first = 0;
    char got[80];

    if (refs == NULL)
        return cfg_fail(ctx, v, "out of memory");
    for (size_t i = 0; i < c->nroutes; i++)
        refs[i] = (struct host_ref){c->routes[i].host, i};
    qsort(refs, c->nroutes, sizeof(*refs), host_ref_cmp);
    for (size_t i = 1; i < c->nroutes; i++) {
        if (strcmp(refs[i].host, refs[i - 1].host) == 0 && refs[i].idx < dup) {
            dup = refs[i].idx;
            size_t k = i;
            while (k > 0 && strcmp(refs[k - 1].host, refs[i].host) == 0)
                k--;
            first = refs[k].idx;
        }
    }
    free(refs);
    if (dup == SIZE_MAX)
        return 0;
    const struct cfg_node *host = cfg_map_get(v->kids[dup], "host");
    cfg_path_push_index(ctx, dup);
    cfg_path_push(ctx, "host");
    return cfg_fail(ctx, host, "duplicate host %s (first at line %u)",
                    cfg_node_describe(host, got, sizeof(got)),
                    cfg_map_get(v->kids[first], "host")->line);
}

static int parse_routes(struct cfg_ctx *ctx, const struct cfg_node *v, void *base)
{
    EC *c = base;

    if (v->type == CFG_SCALAR && v->is_null)
        return 0;
    if (expect_list(ctx, v) < 0)
        return -1;
    if (v->nkids == 0)
        return 0;
    if ((c->routes = calloc(v->nkids, sizeof(*c->routes))) == NULL)
        return cfg_fail(ctx, v, "out of memory");
    for (size_t i = 0; i < v->nkids; i++) {
        size_t saved = cfg_path_push_index(ctx, i);
        c->nroutes++; /* counted before filling, so a failure midway frees its parts */
        if (route_read(ctx, v->kids[i], &c->routes[i]) < 0)
            return -1;
        cfg_path_pop(ctx, saved);
    }
    return routes_check_unique(ctx, v, c);
}

static int parse_control_listen(struct cfg_ctx *ctx, const struct cfg_node *v, void *base)
{
    EC *c = base;
    if (cfg_scalar_is(v, "off")) {
        c->control.enabled = 0;
        return 0;
    }
    c->control.enabled = 1;
    return read_addr(ctx, v, &c->control.listen);
}

static void tokens_free(EC *c)
{
    for (size_t i = 0; i < c->control.ntokens; i++)
        free(c->control.tokens[i]);
    free(c->control.tokens);
    c->control.tokens = NULL;
    c->control.ntokens = 0;
}

static int parse_control_tokens(struct cfg_ctx *ctx, const struct cfg_node *v, void *base)
{
    EC *c = base;
    char got[80];

    tokens_free(c);
    if (v->type == CFG_SCALAR && v->is_null)
        return 0;
    if (expect_list(ctx, v) < 0)
        return -1;
    if (v->nkids == 0)
        return 0;
    if ((c->control.tokens = calloc(v->nkids, sizeof(*c->control.tokens))) == NULL)
        return cfg_fail(ctx, v, "out of memory");
    for (size_t i = 0; i < v->nkids; i++) {
        const struct cfg_node *item = v->kids[i];
        int ok = item->type == CFG_SCALAR && !item->is_null && item->len >= 16 && item->len <= 256;
        for (size_t k = 0; ok && k < item->len; k++)
            ok = item->str[k] > 0x20 && item->str[k] < 0x7f;
        if (!ok) {
            cfg_path_push_index(ctx, i);
            return cfg_fail(ctx, item, "expected a token of 16 to 256 visible ASCII characters, "
                            "got %s", cfg_node_describe(item, got, sizeof(got)));
        }
        if ((c->control.tokens[i] = strndup(item->str, item->len)) == NULL)
            return cfg_fail(ctx, v, "out of memory");
        c->control.ntokens++;
    }
    return 0;
}

static int parse_state_backend(struct cfg_ctx *ctx, const struct cfg_node *v, void *base)
{
    char got[80];
    (void)base;
    if (cfg_scalar_is(v, "file"))
        return 0;
    if (cfg_scalar_is(v, "redis"))
        return cfg_fail(ctx, v, "the redis state backend is not supported by this version");
    return cfg_fail(ctx, v, "expected \"file\", got %s", cfg_node_describe(v, got, sizeof(got)));
}

/* ---- the tables ---- */

static const struct cfg_key timeout_keys[] = {
    CFG_MS("handshake", EC, timeouts.handshake_ms, 1, MS_DAY, 10000),
    CFG_MS("header", EC, timeouts.header_ms, 1, MS_DAY, 10000),
    CFG_MS("idle", EC, timeouts.idle_ms, 0, MS_DAY, 60000), /* 0: no keep-alive */
    CFG_MS("connect", EC, timeouts.connect_ms, 1, MS_DAY, 5000),
    CFG_MS("upstream_response", EC, timeouts.upstream_response_ms, 1, MS_DAY, 60000),
    CFG_MS("client", EC, timeouts.client_ms, 1, MS_DAY, 60000),
    CFG_MS("tunnel", EC, timeouts.tunnel_ms, 1, MS_DAY, 3600000),
    CFG_MS("drain", EC, timeouts.drain_ms, 1, MS_DAY, 30000),
    CFG_MS("upstream_idle", EC, timeouts.upstream_idle_ms, 1, MS_DAY, 15000),
    CFG_END,
};

static const struct cfg_key limit_keys[] = {
    CFG_BYTES("request_line", EC, limits.request_line, 256, MIB, 8 * KIB),
    CFG_BYTES("header_bytes", EC, limits.header_bytes, KIB, MIB, 32 * KIB),
    CFG_U32("header_fields", EC, limits.header_fields, 1, 10000, 100),
    CFG_BYTES("control_body", EC, limits.control_body, KIB, 64 * MIB, MIB),
    CFG_END,
};

static const struct cfg_key upstream_keys[] = {
    CFG_U32("max_idle_per_target", EC, upstream.max_idle_per_target, 0, 10000, 64),
    CFG_U32("max_requests", EC, upstream.max_requests, 1, 1000000000, 1000),
    CFG_U32("eject_after", EC, upstream.eject_after, 1, 1000, 3),
    CFG_MS("eject", EC, upstream.eject_ms, 1, MS_DAY, 10000),
    CFG_END,
};

static const struct cfg_key log_keys[] = {
    CFG_STRING("access", EC, log.access, "-"), /* "-" stdout, "off", or a path */
    CFG_FUNC("error", parse_log_error),
    CFG_FUNC("level", parse_log_level),
    CFG_END,
};

/* TLS, the control API, state and ACME arrive in later versions: naming them is an
 * error rather than a silent no-op, so nobody believes they are on. */
static const struct cfg_key listen_keys[] = {
    CFG_FUNC("http", parse_listen_http),
    CFG_FUNC("https", parse_listen_https),
    CFG_UNSUPPORTED("postgres"),
    CFG_UNSUPPORTED("redis"),
    CFG_END,
};

static const struct cfg_key control_keys[] = {
    CFG_FUNC("listen", parse_control_listen),
    CFG_STRING("token_file", EC, control.token_file, "./control.token"),
    CFG_FUNC("tokens", parse_control_tokens),
    CFG_END,
};

static const struct cfg_key state_keys[] = {
    CFG_FUNC("backend", parse_state_backend),
    CFG_STRING("path", EC, state.path, "./state/edge.json"),
    CFG_BYTES("compact_after", EC, state.compact_after, 0, 1024u * MIB, 0),
    CFG_UNSUPPORTED("url"),
    CFG_END,
};

static const struct cfg_key top_keys[] = {
    CFG_FUNC("domain", parse_domain),
    CFG_SECTION("listen", listen_keys),
    CFG_FUNC("http_mode", parse_http_mode),
    CFG_FUNC("workers", parse_workers),
    CFG_SECTION("timeouts", timeout_keys),
    CFG_SECTION("limits", limit_keys),
    CFG_SECTION("upstream", upstream_keys),
    CFG_SECTION("log", log_keys),
    CFG_FUNC("trusted_proxies", parse_trusted_proxies),
    CFG_FUNC("routes", parse_routes),
    CFG_SECTION("control", control_keys),
    CFG_SECTION("state", state_keys),
    CFG_FUNC("tls", parse_tls),
    CFG_UNSUPPORTED("acme"),
    CFG_END,
};

/* The keys that depend on each other, once the whole file is read. */
static int tls_settle(struct cfg_ctx *ctx, const struct cfg_node *root, EC *c)
{
    if (c->tls_given && !c->https_given)
        c->https_enabled = 1;
    if (!c->http_mode_given)
        c->http_mode = c->https_enabled ? HTTP_MODE_REDIRECT : HTTP_MODE_PROXY;
    if (c->http_mode == HTTP_MODE_REDIRECT && !c->https_enabled)
        return cfg_fail(ctx, cfg_map_get(root, "http_mode"),
                        "http_mode: redirect needs HTTPS (a tls section or listen.https)");
    if ((c->tls.default_cert == NULL) != (c->tls.default_key == NULL)) {
        const struct cfg_node *tls = cfg_map_get(root, "tls");
        return cfg_fail(ctx, tls, "tls: default_cert and default_key go together");
    }
    if (c->https_enabled &&
        memcmp(&c->listen_https.sa, &c->listen_http.sa, sizeof c->listen_https.sa) == 0)
        return cfg_fail(ctx, cfg_map_get(root, "listen"),
                        "listen: http and https cannot share an address");
    return 0;
}

/* ---- public ---- */

void edge_config_defaults(struct edge_config *c)
{
    memset(c, 0, sizeof(*c));
    cfg_keys_defaults(top_keys, c);
    /* Defaults of the CFG_FUNC keys. */
    c->domain = xstrdup("hostess.run");
    addr_parse("127.0.0.1:8080", 14, &c->listen_http);
    addr_parse("127.0.0.1:8443", 14, &c->listen_https);
    c->http_mode = HTTP_MODE_PROXY;
    c->workers = 0;
    cfg_keys_defaults(tls_keys, c);
    c->tls.session_tickets = 1;
    c->tls.http2 = 1;
    c->tls.hsts_generated = xstrdup("max-age=31536000");
    c->log.error = xstrdup("-");
    c->log.level = LOG_INFO;
    addr_parse("127.0.0.1:9090", 14, &c->control.listen);
    c->control.enabled = 1;
}

void edge_config_routes_free(struct edge_config *c)
{
    for (size_t i = 0; i < c->nroutes; i++) {
        free(c->routes[i].host);
        free(c->routes[i].targets);
    }
    free(c->routes);
    c->routes = NULL;
    c->nroutes = 0;
}

void edge_config_free(struct edge_config *c)
{
    cfg_keys_free(top_keys, c);
    cfg_keys_free(tls_keys, c);
    free(c->tls.default_cert);
    free(c->tls.default_key);
    free(c->tls.hsts_generated);
    free(c->tls.hsts_custom);
    free(c->path);
    free(c->domain);
    free(c->log.error);
    free(c->trusted_proxies);
    tokens_free(c);
    edge_config_routes_free(c);
    memset(c, 0, sizeof(*c));
}

int edge_config_load_string(const char *name, const char *text, size_t len,
                            struct edge_config *c, char *err, size_t errlen)
{
    struct cfg_node *root = NULL;
    struct cfg_ctx ctx;

    edge_config_defaults(c);
    cfg_ctx_init(&ctx, name, err, errlen);
    if (err && errlen)
        err[0] = '\0';
    if (cfg_parse(&ctx, text ? text : "", text ? len : 0, &root) < 0)
        goto fail;
    /* No document, or a bare "---", is an empty config: every default. */
    if (root && cfg_keys_apply(&ctx, root, top_keys, c) < 0)
        goto fail;
    if (tls_settle(&ctx, root, c) < 0)
        goto fail;
    cfg_node_free(root);
    return 0;
fail:
    cfg_node_free(root);
    edge_config_free(c);
    return -1;
}

static int file_read(const char *path, char **out, size_t *outlen)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;

    if (f == NULL)
        return -errno;
    for (;;) {
        if (len == cap) {
            char *nb;
            cap = cap ? cap * 2 : 4096;
            if (cap > FILE_MAX + 1 || (nb = realloc(buf, cap)) == NULL) {
                free(buf);
                fclose(f);
                return cap > FILE_MAX + 1 ? -EFBIG : -ENOMEM;
            }
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            int e = ferror(f) ? (errno ? errno : EIO) : 0;
            fclose(f);
            if (e) {
                free(buf);
                return -e;
            }
            break;
        }
    }
    *out = buf;
    *outlen = len;
    return 0;
}

int edge_config_load(const char *path, struct edge_config *c, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (path == NULL) {
        edge_config_defaults(c);
        return 0;
    }
    if ((rc = file_read(path, &text, &len)) < 0) {
        memset(c, 0, sizeof(*c));
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-rc));
        return -1;
    }
    rc = edge_config_load_string(path, text, len, c, err, errlen);
    free(text);
    if (rc == 0 && (c->path = strdup(path)) == NULL) {
        edge_config_free(c);
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(ENOMEM));
        return -1;
    }
    return rc;
}
