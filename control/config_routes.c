/*
 * config_routes: the config file's routes as a sorted list of (host, group), merged
 * against each new config on reload. Work is proportional to the config's routes, never
 * to the whole table.
 */
#include "control/config_routes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router/base/log.h"
#include "router/route_table.h"
#include "router/router.h"
#include "router/settings.h"

struct cr_entry {
    char               *host;  /* owned, NUL-terminated */
    struct route_group *group; /* owned (retired through the table) */
};

struct config_routes {
    struct router   *r;
    struct cr_entry *v;        /* sorted by host */
    size_t           n;
};

struct config_routes *config_routes_new(struct router *r)
{
    struct config_routes *c = calloc(1, sizeof(*c));
    if (c != NULL)
        c->r = r;
    return c;
}

static int cmp_route(const void *a, const void *b)
{
    return strcmp((*(const struct cfg_route *const *)a)->host,
                  (*(const struct cfg_route *const *)b)->host);
}

/* The route set of one configured route (one port). NULL with err. */
static struct route_set *set_build(struct router *r, const struct cfg_route *cr, char *err,
                                   size_t errlen)
{
    struct route_set *s = route_set_new(1, cr->ntargets, 0);
    struct target *t = calloc(cr->ntargets, sizeof(*t));
    if (s == NULL || t == NULL)
        goto nomem;
    for (size_t j = 0; j < cr->ntargets; j++) {
        const struct cfg_addr *a = &cr->targets[j];
        int slot = router_target_slot(r, (const struct sockaddr *)&a->sa, a->salen);
        if (slot < 0 || a->salen > sizeof t[j].addr)
            goto nomem;
        memcpy(&t[j].addr, &a->sa, a->salen);
        t[j].salen = a->salen;
        t[j].slot = (uint32_t)slot;
    }
    if (route_set_fill(s, 0, t, cr->ntargets) != 0)
        goto nomem;
    free(t);
    return s;
nomem:
    snprintf(err, errlen, "route %s: out of memory", cr->host);
    free(t);
    route_set_free(s);
    return NULL;
}

int config_routes_apply(struct config_routes *c, const struct edge_config *cfg, char *err,
                        size_t errlen)
{
    struct route_table *t = router_routes(c->r);
    size_t n = cfg->nroutes;
    const struct cfg_route **sorted = calloc(n ? n : 1, sizeof(*sorted));
    struct route_set **sets = calloc(n ? n : 1, sizeof(*sets));
    struct cr_entry *next = calloc(n ? n : 1, sizeof(*next));
    int rc = -1;

    if (sorted == NULL || sets == NULL || next == NULL) {
        snprintf(err, errlen, "routes: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        sorted[i] = &cfg->routes[i];
    qsort(sorted, n, sizeof(*sorted), cmp_route);

    /* Prepare everything that can fail before touching the table. */
    for (size_t i = 0, o = 0; i < n; i++) {
        const char *h = sorted[i]->host;
        while (o < c->n && strcmp(c->v[o].host, h) < 0)
            o++;
        int kept = o < c->n && strcmp(c->v[o].host, h) == 0;
        if (!kept && route_table_lookup(t, h, strlen(h)) != NULL) {
            snprintf(err, errlen, "route %s: the host is already served by a service of the "
                     "control API", h);
            goto out;
        }
        sets[i] = set_build(c->r, sorted[i], err, errlen);
        next[i].host = kept ? NULL : strdup(h);
        next[i].group = kept ? c->v[o].group : route_group_new();
        if (sets[i] == NULL || (!kept && (next[i].host == NULL || next[i].group == NULL))) {
            if (sets[i] != NULL)
                snprintf(err, errlen, "route %s: out of memory", h);
            goto out;
        }
    }

    /* Commit: publish, add the new hosts, remove the dropped ones. */
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const char *h = sorted[i]->host;
        for (; o < c->n && strcmp(c->v[o].host, h) < 0; o++) {
            route_table_remove(t, c->v[o].host, strlen(c->v[o].host));
            route_group_free(t, c->v[o].group);
            free(c->v[o].host);
        }
        route_group_publish(t, next[i].group, sets[i]);
        sets[i] = NULL;
        if (next[i].host == NULL) { /* kept: take the old entry's name */
            next[i].host = c->v[o].host;
            o++;
        } else if (route_table_insert(t, h, strlen(h), next[i].group, 0) != 0) {
            /* Only ENOMEM can get here (the host was checked free above). */
            log_error("route %s: out of memory; host not added", h);
        }
    }
    for (; o < c->n; o++) {
        route_table_remove(t, c->v[o].host, strlen(c->v[o].host));
        route_group_free(t, c->v[o].group);
        free(c->v[o].host);
    }
    free(c->v);
    c->v = next;
    c->n = n;
    next = NULL;
    rc = 0;
out:
    if (next != NULL) {
        for (size_t i = 0; i < n; i++) {
            if (next[i].host != NULL) { /* a fresh entry that never reached the table */
                free(next[i].host);
                route_group_free(t, next[i].group);
            }
        }
        free(next);
    }
    if (sets != NULL)
        for (size_t i = 0; i < n; i++)
            route_set_free(sets[i]);
    free(sets);
    free(sorted);
    if (rc == 0)
        router_wake(c->r);
    return rc;
}

int config_routes_owns(const struct config_routes *c, const char *host, size_t len)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *k = c->v[mid].host;
        size_t kl = strlen(k);
        int d = memcmp(k, host, kl < len ? kl : len);
        if (d == 0)
            d = kl < len ? -1 : kl > len ? 1 : 0;
        if (d == 0)
            return 1;
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

size_t config_routes_count(const struct config_routes *c)
{
    return c->n;
}

void config_routes_free(struct config_routes *c)
{
    if (c == NULL)
        return;
    struct route_table *t = router_routes(c->r);
    for (size_t i = 0; i < c->n; i++) {
        route_table_remove(t, c->v[i].host, strlen(c->v[i].host));
        route_group_free(t, c->v[i].group);
        free(c->v[i].host);
    }
    free(c->v);
    free(c);
}
