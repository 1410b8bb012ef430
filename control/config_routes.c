/*
 * config_routes: the config file's routes as a sorted list of (host, shared group),
 * merged against each new config on reload. Hosts with the same target list share one
 * route group and one route set (a config of 10,000 names over the same four backends
 * holds one set, not 10,000): less memory, and a hotter cache on the lookup path. Work
 * is proportional to the config's routes, never to the whole table.
 */
#include "control/config_routes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/strmap.h"
#include "router/base/log.h"
#include "router/route_table.h"
#include "router/router.h"
#include "router/settings.h"

/* One distinct target list. */
struct cr_group {
    struct route_group *group; /* retired through the table when no host uses it */
    struct route_set   *fresh; /* built by this apply, published at commit; else NULL */
};

struct cr_entry {
    char            *host; /* owned, NUL-terminated */
    struct cr_group *g;    /* owned by the groups map */
};

struct config_routes {
    struct router   *r;
    struct cr_entry *v;      /* sorted by host */
    size_t           n;
    struct strmap   *groups; /* target list text → struct cr_group */
};

struct config_routes *config_routes_new(struct router *r)
{
    struct config_routes *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->groups = strmap_new()) == NULL) {
        free(c);
        return NULL;
    }
    c->r = r;
    return c;
}

static int cmp_route(const void *a, const void *b)
{
    return strcmp((*(const struct cfg_route *const *)a)->host,
                  (*(const struct cfg_route *const *)b)->host);
}

/* The route set of one configured target list (one port). NULL on ENOMEM. */
static struct route_set *set_build(struct router *r, const struct cfg_route *cr)
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
    free(t);
    route_set_free(s);
    return NULL;
}

/* "ip:port,ip:port,..." in the configured order: the identity of a target list. */
static char *targets_key(const struct cfg_route *cr)
{
    size_t len = 1;
    for (size_t j = 0; j < cr->ntargets; j++)
        len += strlen(cr->targets[j].text) + 1;
    char *k = malloc(len), *p = k;
    if (k == NULL)
        return NULL;
    for (size_t j = 0; j < cr->ntargets; j++)
        p += sprintf(p, "%s%s", j ? "," : "", cr->targets[j].text);
    *p = '\0';
    return k;
}

/* Frees the groups this apply created but never published (map entries with fresh). */
static void groups_discard(struct config_routes *c, struct strmap *groups)
{
    size_t pos = 0;
    const char *key;
    void *v;
    while (strmap_next(groups, &pos, &key, &v)) {
        struct cr_group *g = v;
        if (g->fresh == NULL)
            continue; /* an old group, still owned by c->groups */
        route_set_free(g->fresh);
        route_group_free(router_routes(c->r), g->group);
        free(g);
    }
    strmap_free(groups);
}

int config_routes_apply(struct config_routes *c, const struct edge_config *cfg, char *err,
                        size_t errlen)
{
    struct route_table *t = router_routes(c->r);
    size_t n = cfg->nroutes;
    const struct cfg_route **sorted = calloc(n ? n : 1, sizeof(*sorted));
    struct cr_entry *next = calloc(n ? n : 1, sizeof(*next));
    struct strmap *groups = strmap_new();
    int rc = -1;

    if (sorted == NULL || next == NULL || groups == NULL) {
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
        char *key = targets_key(sorted[i]);
        struct cr_group *g = key ? strmap_get(groups, key) : NULL;
        if (key != NULL && g == NULL) {
            g = strmap_get(c->groups, key);
            if (g == NULL && (g = calloc(1, sizeof(*g))) != NULL &&
                ((g->group = route_group_new()) == NULL ||
                 (g->fresh = set_build(c->r, sorted[i])) == NULL)) {
                route_group_free(t, g->group);
                free(g);
                g = NULL;
            }
            if (g != NULL && strmap_set(groups, key, g) != 0) {
                if (g->fresh != NULL) {
                    route_set_free(g->fresh);
                    route_group_free(t, g->group);
                    free(g);
                }
                g = NULL;
            }
        }
        free(key);
        next[i].g = g;
        next[i].host = kept ? NULL : strdup(h);
        if (g == NULL || (!kept && next[i].host == NULL)) {
            snprintf(err, errlen, "route %s: out of memory", h);
            goto out;
        }
    }

    /* Commit: publish the new sets, then add, move and remove hosts, then retire the
     * groups no host uses any more. */
    size_t pos = 0;
    const char *key;
    void *v;
    while (strmap_next(groups, &pos, &key, &v)) {
        struct cr_group *g = v;
        if (g->fresh != NULL) {
            route_group_publish(t, g->group, g->fresh);
            g->fresh = NULL;
        }
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        const char *h = sorted[i]->host;
        for (; o < c->n && strcmp(c->v[o].host, h) < 0; o++) {
            route_table_remove(t, c->v[o].host, strlen(c->v[o].host));
            free(c->v[o].host);
        }
        if (next[i].host == NULL) { /* kept: take the old entry's name, move if needed */
            next[i].host = c->v[o].host;
            if (c->v[o].g != next[i].g &&
                route_table_repoint(t, h, strlen(h), next[i].g->group, 0) != 0)
                log_error("route %s: out of memory; targets not changed", h);
            o++;
        } else if (route_table_insert(t, h, strlen(h), next[i].g->group, 0) != 0) {
            /* Only ENOMEM can get here (the host was checked free above). */
            log_error("route %s: out of memory; host not added", h);
        }
    }
    for (; o < c->n; o++) {
        route_table_remove(t, c->v[o].host, strlen(c->v[o].host));
        free(c->v[o].host);
    }
    pos = 0;
    while (strmap_next(c->groups, &pos, &key, &v)) {
        if (strmap_get(groups, key) == NULL) {
            route_group_free(t, ((struct cr_group *)v)->group);
            free(v);
        }
    }
    strmap_free(c->groups);
    c->groups = groups;
    groups = NULL;
    free(c->v);
    c->v = next;
    c->n = n;
    next = NULL;
    rc = 0;
out:
    if (next != NULL) {
        for (size_t i = 0; i < n; i++)
            free(next[i].host); /* fresh names that never reached the table */
        free(next);
    }
    if (groups != NULL)
        groups_discard(c, groups);
    free(sorted);
    if (rc == 0)
        router_wake(c->r);
    return rc;
}

void config_routes_free(struct config_routes *c)
{
    if (c == NULL)
        return;
    struct route_table *t = router_routes(c->r);
    for (size_t i = 0; i < c->n; i++) {
        route_table_remove(t, c->v[i].host, strlen(c->v[i].host));
        free(c->v[i].host);
    }
    size_t pos = 0;
    const char *key;
    void *v;
    while (strmap_next(c->groups, &pos, &key, &v)) {
        route_group_free(t, ((struct cr_group *)v)->group);
        free(v);
    }
    strmap_free(c->groups);
    free(c->v);
    free(c);
}
