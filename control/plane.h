/*
 * plane: the control plane as one unit on the main thread's loop: the state store, the
 * model (loaded from it, routes published before the workers start), the control API
 * and its bearer tokens.
 *
 * Tokens: control.tokens from the config, plus the first line of control.token_file.
 * When no token is configured and the token file does not exist, a random 256-bit token
 * is written there (mode 0600) and its path logged, so an empty config gives a control
 * API that is on and locked, never open.
 */
#ifndef HOSTESS_CONTROL_PLANE_H
#define HOSTESS_CONTROL_PLANE_H

#include <stddef.h>
#include <uv.h>

struct router;
struct edge_config;
struct control_plane;

/* Opens the store, loads the model into the router's table and starts the API.
 * NULL with err (a corrupt state file, a taken control port...). */
struct control_plane *control_plane_start(uv_loop_t *loop, const struct edge_config *cfg,
                                          struct router *r, char *err, size_t errlen);
/* SIGHUP: re-reads the tokens. Settings that only apply at start are reported. */
void control_plane_reload(struct control_plane *p, const struct edge_config *cfg);
/* Stops the API (before the data plane drains). */
void control_plane_stop_api(struct control_plane *p);
/* Frees the model (its hosts leave the table) and the store. After router_join, before
 * router_free. */
void control_plane_free(struct control_plane *p);

#endif
