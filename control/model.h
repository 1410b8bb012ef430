/*
 * model: the Hostess routing model (CONTRACT §1, §2): services keyed by
 * (project, environment, service) with ordered ports, protocol and health settings;
 * deployments with id, SHA, targets and state; the active deployment per service; the
 * hostnames all of that generates, and who owns each one.
 *
 * Every write is all-or-nothing: the service is copied, the copy changed and validated
 * (names, collisions), the copy made durable through the store, and only then swapped in
 * and reconciled with the data plane (route groups, host entries, health checks). Any
 * failure before the swap leaves the model, the store and the routes as they were.
 *
 * Routing follows CONTRACT §1 through the route table's groups (router/route_table.h):
 * one group per service for its stable hosts, one per deployment for its deployment
 * hosts. A promote publishes the new deployment's targets into the service's group: one
 * atomic store, every stable host at once, work proportional to the service.
 *
 * Health: each deployment's targets are checked (control/health.h) on the port of the
 * service's first public port; only healthy targets are published. After a restart the
 * targets of active deployments are trusted until a check says otherwise, so a restart
 * does not turn live traffic into 503s.
 *
 * Threads: control thread only. Results and errors are JSON (jansson), ready for the API.
 */
#ifndef HOSTESS_CONTROL_MODEL_H
#define HOSTESS_CONTROL_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <uv.h>

struct router;
struct store;

/* A failed operation: HTTP status, error code ("not_found", "conflict", ...), message,
 * details (a JSON object owned by the struct, or NULL). model_err_clear() frees details. */
struct model_err {
    int     status;
    char    code[32];
    char    message[768];
    json_t *details;
};
void model_err_clear(struct model_err *e);

struct model_options {
    uv_loop_t            *loop;
    struct router        *router;
    struct store         *store;
    const char           *domain;         /* base domain, e.g. "hostess.run" */
    const char           *url_scheme;     /* "http" or "https" for external URLs */
    unsigned              url_port;       /* appended to URLs unless 0 */
    uint32_t              drain_ms;       /* default drain deadline of a replaced deployment */
    /* Called after every change (generation bumped) and every health transition (same
     * generation): type e.g. "service.updated", data is borrowed for the call. */
    void                (*on_event)(void *ud, uint64_t generation, const char *type,
                                    json_t *data);
    void                 *ud;
};

struct model;

/* NULL on allocation failure. */
struct model *model_new(const struct model_options *o);
/* Loads the store, rebuilds every service and publishes its routes. 0, or -1 with err. */
int model_load(struct model *m, char *err, size_t errlen);
/* Stops health checks, removes the model's hosts and groups, frees everything. */
void model_free(struct model *m);

uint64_t model_generation(const struct model *m);
/* Number of hosts the model serves (stable + deployment). */
size_t model_host_count(const struct model *m);
size_t model_service_count(const struct model *m);

/* The operations of CONTRACT §2. Each returns the HTTP status of success and sets *out to
 * a new JSON reference (the body; NULL for 204), or returns -1 with e filled. */
int model_put_service(struct model *m, const char *p, const char *e, const char *s,
                      json_t *body, json_t **out, struct model_err *err);
int model_get_service(struct model *m, const char *p, const char *e, const char *s,
                      json_t **out, struct model_err *err);
int model_delete_service(struct model *m, const char *p, const char *e, const char *s,
                         struct model_err *err);
/* project NULL: all. Sorted by key. 200, or 500 when out of memory (*out NULL). */
int model_list_services(struct model *m, const char *project, json_t **out);
int model_create_deployment(struct model *m, const char *p, const char *e, const char *s,
                            json_t *body, json_t **out, struct model_err *err);
int model_get_deployment(struct model *m, const char *p, const char *e, const char *s,
                         const char *id, json_t **out, struct model_err *err);
int model_replace_targets(struct model *m, const char *p, const char *e, const char *s,
                          const char *id, json_t *body, json_t **out, struct model_err *err);
int model_delete_deployment(struct model *m, const char *p, const char *e, const char *s,
                            const char *id, struct model_err *err);

/* Promote, immediate part: require_healthy and the deployment has no healthy target →
 * 409 "unhealthy". drain_ms < 0: the default. */
int model_promote(struct model *m, const char *p, const char *e, const char *s,
                  const char *id, int require_healthy, long drain_ms, json_t **out,
                  struct model_err *err);
/* 1 when the deployment exists and has a healthy target, 0 when it exists without one,
 * -1 when it does not exist. For a promote that waits. */
int model_deployment_ready(struct model *m, const char *p, const char *e, const char *s,
                           const char *id);

#endif
