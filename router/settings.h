/*
 * settings: the edge's configuration, loaded from YAML (CONTRACT §4) into one immutable
 * struct. Every key has a default, so an empty file (or no file) gives a working edge on
 * loopback. `hostess-edge check` and startup and SIGHUP all run edge_config_load().
 *
 * Ownership: an edge_config owns every string and array it points to; edge_config_free()
 * releases them. After load it is read-only and may be shared between threads.
 */
#ifndef HOSTESS_ROUTER_SETTINGS_H
#define HOSTESS_ROUTER_SETTINGS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* One "host:port" listen or target address, resolved numerically (no DNS at load). */
struct cfg_addr {
    struct sockaddr_storage sa;
    socklen_t               salen;
    char                    text[64]; /* as "127.0.0.1:8080" or "[::1]:8080", for logs */
};

struct cfg_route {
    char            *host;     /* normalised (hostname_normalise), NUL-terminated */
    struct cfg_addr *targets;  /* ntargets >= 1 */
    size_t           ntargets;
};

struct cfg_cidr {
    struct sockaddr_storage net; /* AF_INET or AF_INET6, host bits cleared */
    uint8_t                 prefix;
};

enum http_mode { HTTP_MODE_PROXY = 0, HTTP_MODE_REDIRECT = 1 };

struct edge_config {
    char           *path;          /* the file loaded, or NULL when run without --config */
    char           *domain;        /* default "hostess.run" */
    struct cfg_addr listen_http;   /* listen.http, default 127.0.0.1:8080 */
    struct cfg_addr listen_https;  /* listen.https, default 127.0.0.1:8443 ... */
    int             https_enabled; /* ... opened when listen.https or a tls section is
                                      given (and listen.https is not "off") */
    enum http_mode  http_mode;     /* default redirect when HTTPS is on, else proxy */
    unsigned        workers;       /* 0 = "auto": one per online CPU */

    struct {
        uint32_t handshake_ms;         /* 10s: accept to the end of the TLS handshake */
        uint32_t header_ms;            /* 10s: first byte of a request head to its end */
        uint32_t idle_ms;              /* 60s: keep-alive wait between requests */
        uint32_t connect_ms;           /* 5s: upstream TCP connect */
        uint32_t upstream_response_ms; /* 60s: request sent → response head, and between
                                          two reads of the response body */
        uint32_t client_ms;            /* 60s: between two reads of a request body, and
                                          while a client does not take our writes */
        uint32_t tunnel_ms;            /* 1h: idle WebSocket/upgraded connection */
        uint32_t drain_ms;             /* 30s: SIGTERM grace period */
        uint32_t upstream_idle_ms;     /* 15s: idle pooled upstream connection lifetime */
    } timeouts;

    struct {
        uint32_t request_line;  /* 8KiB → 414 */
        uint32_t header_bytes;  /* 32KiB → 431 */
        uint32_t header_fields; /* 100 → 431 */
        uint32_t control_body;  /* 1MiB (control API, later) */
    } limits;

    struct {
        uint32_t max_idle_per_target; /* 64 idle connections per (worker, target) */
        uint32_t max_requests;        /* 1000 requests per upstream connection, then close */
        uint32_t eject_after;         /* 3 consecutive failures eject a target ... */
        uint32_t eject_ms;            /* ... for 10s, then it is tried again */
    } upstream;

    struct {
        char *access;    /* "-" stdout, "off", or a file path; default "-" */
        char *error;     /* "-" stderr or a file path; default "-" */
        int   level;     /* enum log_level; default info */
    } log;

    struct cfg_cidr *trusted_proxies; /* client X-Forwarded-* is kept only from these */
    size_t           ntrusted_proxies;

    struct {
        struct cfg_addr listen;      /* control.listen, default 127.0.0.1:9090 */
        int             enabled;     /* 0 when listen is "off" */
        char           *token_file;  /* default "./control.token" (created if missing) */
        char          **tokens;      /* control.tokens: inline tokens, in addition */
        size_t          ntokens;
    } control;

    struct {
        char    *path;               /* state.path, default "./state/edge.json" */
        uint32_t compact_after;      /* journal bytes before a new snapshot; 0: automatic
                                        (the larger of 1 MiB and the snapshot) */
    } state;

    struct {
        char    *certs_dir;          /* tls.certs_dir, default "./state/certs" */
        char    *default_cert;       /* tls.default_cert + default_key: a default pair
                                        outside certs_dir (NULL: none) */
        char    *default_key;
        int      session_tickets;    /* tls.session_tickets, default on */
        int      http2;              /* tls.http2: offer h2 in ALPN, default on */
        uint32_t ticket_rotation_ms; /* tls.ticket_key_rotation, default 12h */
        char    *hsts_generated;     /* Strict-Transport-Security value for hosts under
                                        domain; NULL when "off" */
        char    *hsts_custom;        /* the same for other (custom) hosts; default off */
    } tls;

    struct cfg_route *routes;         /* routes: static routes from the file */
    size_t            nroutes;

    /* Which of the interdependent keys the file named (for the defaults that follow). */
    uint8_t https_given, tls_given, http_mode_given;
};

/* Fills c with every default (c need not be initialised). Strings are heap copies like
 * loaded ones, so edge_config_free() treats both alike; running out of memory here aborts
 * with a message, which can only happen at boot. */
void edge_config_defaults(struct edge_config *c);

/* Loads path into c (defaults first, then the file); c need not be initialised and is
 * overwritten, so free a previous config first. path NULL: defaults only. A file that
 * cannot be read gives "path: cannot read: <strerror>".
 * Returns 0, or -1 with err holding "file:line:column: message" (NUL-terminated,
 * truncated to errlen). On failure c is left freed and zeroed. */
int edge_config_load(const char *path, struct edge_config *c, char *err, size_t errlen);

/* Same, from memory; name is used in messages instead of a file name. */
int edge_config_load_string(const char *name, const char *text, size_t len,
                            struct edge_config *c, char *err, size_t errlen);

void edge_config_free(struct edge_config *c);

/* Frees only the routes (once they are built into a route table, the config need not keep
 * a second copy: with a million hosts that copy is most of the process's memory). */
void edge_config_routes_free(struct edge_config *c);

#endif
