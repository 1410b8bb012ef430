/*
 * metrics: GET /metrics in the Prometheus text exposition format (version 0.0.4):
 * data-plane counters summed over the workers (router_stats) and the control plane's
 * figures (generation, services, hosts, routes).
 */
#ifndef HOSTESS_CONTROL_METRICS_H
#define HOSTESS_CONTROL_METRICS_H

#include <stddef.h>

struct router;
struct model;

/* Renders into a new heap buffer (*text, caller frees). 0 or -ENOMEM. */
int metrics_render(struct router *r, struct model *m, char **text, size_t *len);

#endif
