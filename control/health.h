/*
 * health: active health checks of upstream targets (CONTRACT §2 "Health checks per
 * service type"), run on the control thread's libuv loop.
 *
 * One health_check watches one target address with one spec. HTTP checks send
 *     GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: hostess-edge-health\r\n
 *     Connection: close\r\n\r\n
 * on a fresh TCP connection and pass when a complete status line with a 2xx or 3xx code
 * arrives within timeout; TCP checks pass when connect() succeeds within timeout. Each
 * attempt is bounded by timeout; attempts start interval apart (the first one at once).
 *
 * A target starts unhealthy (or healthy with spec.start_healthy). healthy_threshold
 * consecutive passes make it healthy;
 * unhealthy_threshold consecutive failures make it unhealthy again. The callback runs
 * only on a transition (and never from inside health_check_start).
 *
 * Ownership: the caller owns a health_check until health_check_stop(), which may be
 * called from anywhere on the loop thread, including from inside the callback; the
 * memory is released once libuv has closed the handles (the callback is never called
 * after stop).
 */
#ifndef HOSTESS_CONTROL_HEALTH_H
#define HOSTESS_CONTROL_HEALTH_H

#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

enum health_kind { HEALTH_HTTP = 0, HEALTH_TCP = 1 };

struct health_spec {
    enum health_kind kind;
    char             path[256];  /* HTTP: request target, "/health" by default */
    char             host[256];  /* HTTP: Host header value (the target's host name) */
    uint32_t         interval_ms;
    uint32_t         timeout_ms;
    uint32_t         healthy_threshold;   /* >= 1 */
    uint32_t         unhealthy_threshold; /* >= 1 */
    uint8_t          start_healthy; /* 1: the target starts healthy (trusted after a
                                       restart) and needs unhealthy_threshold failures */
};

/* Defaults: HTTP GET /health, Host "localhost", interval 2s, timeout 1s, healthy after 1
 * pass, unhealthy after 3 failures. */
void health_spec_defaults(struct health_spec *spec);

struct health_check;

/* healthy is 1 or 0; detail is a short reason for logs ("HTTP 503", "connect: connection
 * refused", "timeout") valid only during the call. */
typedef void (*health_cb)(struct health_check *hc, int healthy, const char *detail,
                          void *ud);

/* Starts checking sa (copied). Returns NULL on allocation failure or an invalid spec
 * (zero interval/timeout/threshold, a path not starting with '/', control characters or
 * spaces in path or host) or address. */
struct health_check *health_check_start(uv_loop_t *loop, const struct sockaddr *sa,
                                        socklen_t salen, const struct health_spec *spec,
                                        health_cb cb, void *ud);

/* 1 when the target is currently healthy. */
int health_check_healthy(const struct health_check *hc);

/* Stops checking; see Ownership above. Call it exactly once per check; NULL is allowed. */
void health_check_stop(struct health_check *hc);

#endif
