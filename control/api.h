/*
 * api: the control API of CONTRACT §2 on top of http_server (protocol, auth) and model
 * (state): request routing, JSON bodies, generation/ETag/If-Match, promotes that wait for
 * health, the event stream and the Prometheus metrics.
 *
 * Control thread only. Ownership: the api borrows the model and the router; both must
 * outlive it.
 */
#ifndef HOSTESS_CONTROL_API_H
#define HOSTESS_CONTROL_API_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <uv.h>

struct model;
struct router;
struct edge_config;
struct control_api;

/* Listens on cfg->control.listen with the given bearer tokens. NULL with err. */
struct control_api *control_api_start(uv_loop_t *loop, const struct edge_config *cfg,
                                      struct model *m, struct router *r,
                                      const char *const *tokens, size_t ntokens, char *err,
                                      size_t errlen);
/* The model's event hook: sends the event to every stream and wakes waiting promotes. */
void control_api_event(struct control_api *a, uint64_t generation, const char *type,
                       json_t *data);
/* New tokens after SIGHUP. Returns 0 or -ENOMEM (the old tokens stay). */
int control_api_set_tokens(struct control_api *a, const char *const *tokens, size_t ntokens);
/* Stops listening; waiting promotes and event streams end. Run the loop afterwards so
 * that handles finish closing. */
void control_api_close(struct control_api *a);

#endif
