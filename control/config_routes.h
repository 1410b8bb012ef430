/*
 * config_routes: the `routes:` list of the config file, kept in the router's route table.
 *
 * Hosts with the same target list share one route group. A reload is applied as a
 * difference: a host in both the old and the new list keeps its entry (moved to the group
 * of its new target list with one atomic store, so no request during SIGHUP sees a
 * missing host), hosts only in the old list are removed, hosts only in the new list are
 * added, and groups no host uses any more are retired.
 *
 * Owned by the control thread; uses router_routes() and router_target_slot().
 */
#ifndef HOSTESS_CONTROL_CONFIG_ROUTES_H
#define HOSTESS_CONTROL_CONFIG_ROUTES_H

#include <stddef.h>

struct router;
struct edge_config;
struct config_routes;

struct config_routes *config_routes_new(struct router *r);

/* Makes the table's config hosts exactly cfg's routes. A host that another owner (the
 * control API's model) already holds is an error: then nothing changed. Returns 0, or -1
 * with err ("route HOST: ..."). */
int config_routes_apply(struct config_routes *c, const struct edge_config *cfg, char *err,
                        size_t errlen);

/* Removes every config host and frees c. */
void config_routes_free(struct config_routes *c);

#endif
