/*
 * model_routes: what the model's services mean for the running process: who owns each
 * hostname (claims), the route table's host entries and groups, the published target
 * sets, health checks, and the drain timer of a replaced deployment.
 *
 * Order inside model_reconcile keeps traffic whole: target sets are published before new
 * hosts are inserted, a host that changes holder is repointed in one store (never removed
 * and re-added), and groups are retired only after their last host is gone.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/model_internal.h"
#include "control/strmap.h"
#include "router/base/log.h"
#include "router/route_table.h"
#include "router/router.h"

struct owner {
    size_t n;
    char **keys; /* service keys of one (project, service) across environments */
};

static void owner_key(const struct msvc *s, char *out, size_t cap)
{
    snprintf(out, cap, "%s\x1f%s", s->project, s->name);
}

static int same_owner(const struct msvc *a, const struct msvc *b)
{
    return strcmp(a->project, b->project) == 0 && strcmp(a->name, b->name) == 0;
}

/* --- conflicts ------------------------------------------------------------------------ */

static int conflict(struct model *m, struct model_err *e, const char *host, const struct claim *c)
{
    e->status = 409;
    snprintf(e->code, sizeof e->code, "conflict");
    json_decref(e->details);
    if (c == NULL) {
        snprintf(e->message, sizeof e->message,
                 "host %s is already routed by the edge's configuration file", host);
        e->details = json_pack("{s:s,s:{s:s}}", "host", host, "owner", "source", "config");
        return -1;
    }
    snprintf(e->message, sizeof e->message, "host %s is already owned by service %s%s%s", host,
             c->svc_key, c->dep_id[0] ? ", deployment " : "", c->dep_id);
    e->details = json_pack("{s:s,s:{s:s,s:s*}}", "host", host, "owner", "service", c->svc_key,
                           "deployment", c->dep_id[0] ? c->dep_id : NULL);
    (void)m;
    return -1;
}

static int name_error(struct model_err *e, int rc)
{
    e->status = 400;
    snprintf(e->code, sizeof e->code, "invalid_name");
    snprintf(e->message, sizeof e->message, "cannot build a hostname under the domain: %s",
             strerror(-rc));
    return -1;
}

int model_check_claims(struct model *m, const struct msvc *s, struct model_err *e)
{
    const struct route_table *t = router_routes(m->o.router);
    char host[NAMING_FQDN_MAX + 1];

    for (uint32_t n = 1; n <= s->npublic; n++) {
        int rc = model_fqdn(m, s, s->nanoid, n, host, sizeof host);
        if (rc < 0)
            return name_error(e, rc);
        const struct claim *c = strmap_get(m->claims, host);
        if (c != NULL ? c->dep_id[0] != '\0' || strcmp(c->svc_key, s->key) != 0
                      : route_table_lookup(t, host, (size_t)rc) != NULL)
            return conflict(m, e, host, c);
    }
    for (uint32_t i = 0; i < s->ndeps; i++) {
        for (uint32_t n = 1; n <= s->npublic; n++) {
            int rc = model_fqdn(m, s, s->deps[i]->id7, n, host, sizeof host);
            if (rc < 0)
                return name_error(e, rc);
            const struct claim *c = strmap_get(m->claims, host);
            if (c == NULL) {
                if (route_table_lookup(t, host, (size_t)rc) != NULL)
                    return conflict(m, e, host, NULL);
                continue;
            }
            const struct msvc *holder = strmap_get(m->services, c->svc_key);
            if (c->dep_id[0] == '\0' || holder == NULL || !same_owner(holder, s))
                return conflict(m, e, host, c);
        }
    }
    return 0;
}

/* --- route sets and health ------------------------------------------------------------ */

/* The address of target t of s for service port k (0-based). */
static struct sockaddr_storage target_addr(const struct msvc *s, const struct mtarget *t,
                                           uint32_t k)
{
    struct sockaddr_storage sa = t->sa;
    uint16_t port = htons(mtarget_port(t, s, k));
    if (sa.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&sa)->sin6_port = port;
    else
        ((struct sockaddr_in *)&sa)->sin_port = port;
    return sa;
}

/* The set of d's healthy targets, per public port of s; tag marks stable use. */
static struct route_set *set_build(struct model *m, const struct msvc *s, const struct mdep *d,
                                   int stable)
{
    const struct dep_rt *rt = d->rt;
    struct route_set *set = route_set_new(s->npublic, (size_t)rt->nup * s->npublic,
                                          stable ? rt->stable_tag : rt->tag);
    struct target *tv = calloc(d->ntargets ? d->ntargets : 1, sizeof(*tv));
    if (set == NULL || tv == NULL)
        goto fail;
    for (uint32_t k = 0, n = 0; k < s->nports; k++) {
        if (!s->ports[k].public)
            continue;
        size_t cnt = 0;
        for (uint32_t i = 0; i < d->ntargets && i < rt->nchecks; i++) {
            if (!rt->checks[i].up)
                continue;
            struct target *t = &tv[cnt];
            struct sockaddr_storage sa = target_addr(s, &d->targets[i], k);
            memset(t, 0, sizeof(*t));
            memcpy(&t->addr, &sa, d->targets[i].salen);
            t->salen = d->targets[i].salen;
            int slot = router_target_slot(m->o.router, &t->addr.sa, t->salen);
            if (slot < 0)
                goto fail;
            t->slot = (uint32_t)slot;
            cnt++;
        }
        if (route_set_fill(set, n++, tv, cnt) != 0)
            goto fail;
    }
    free(tv);
    return set;
fail:
    log_error("service %s: out of memory building the routes of %s", s->key, d->id);
    free(tv);
    route_set_free(set);
    return NULL;
}

static const struct mdep *active_dep(const struct msvc *s)
{
    for (uint32_t i = 0; i < s->ndeps; i++)
        if (s->deps[i]->phase == PHASE_ACTIVE)
            return s->deps[i];
    return NULL;
}

/* Publishes d's set, and the stable set when d is active. On ENOMEM the old sets stay. */
static void publish_dep(struct model *m, const struct msvc *s, const struct mdep *d)
{
    struct route_table *t = router_routes(m->o.router);
    struct route_set *set = set_build(m, s, d, 0);
    if (set != NULL)
        route_group_publish(t, d->rt->group, set);
    if (d->phase == PHASE_ACTIVE && (set = set_build(m, s, d, 1)) != NULL)
        route_group_publish(t, s->rt->stable, set);
}

static void publish_service(struct model *m, const struct msvc *s)
{
    for (uint32_t i = 0; i < s->ndeps; i++)
        publish_dep(m, s, s->deps[i]);
    if (active_dep(s) == NULL)
        route_group_publish(router_routes(m->o.router), s->rt->stable, NULL);
    router_wake(m->o.router);
}

static struct mdep *find_dep(const struct msvc *s, const char *id)
{
    for (uint32_t i = 0; s != NULL && i < s->ndeps; i++)
        if (strcmp(s->deps[i]->id, id) == 0)
            return s->deps[i];
    return NULL;
}

/* Target i of d passed its checks: clear the data plane's passive ejection of each of its
 * ports (requests that failed while it was down ejected it for upstream.eject). */
static void target_recovered(struct model *m, const struct msvc *s, const struct mdep *d,
                             uint32_t i)
{
    for (uint32_t k = 0; k < s->nports; k++) {
        struct sockaddr_storage sa = target_addr(s, &d->targets[i], k);
        int slot = router_target_slot(m->o.router, (struct sockaddr *)&sa, d->targets[i].salen);
        if (slot >= 0)
            router_target_healthy(m->o.router, (uint32_t)slot);
    }
}

static void on_health(struct health_check *hc, int healthy, const char *detail, void *ud)
{
    struct hc_ref *ref = ud;
    struct dep_rt *rt = ref->rt;
    struct model *m = rt->m;
    (void)hc;

    if (ref->up == (uint8_t)healthy)
        return;
    ref->up = (uint8_t)healthy;
    rt->nup = healthy ? rt->nup + 1 : rt->nup - 1;
    if (healthy)
        rt->unhealthy = 0;
    else if (rt->nup == 0)
        rt->unhealthy = 1;
    struct msvc *s = strmap_get(m->services, rt->svc_key);
    struct mdep *d = find_dep(s, rt->dep_id);
    if (s == NULL || d == NULL)
        return;
    log_info("service %s deployment %s: target %s is %s (%s)", s->key, d->id,
             d->targets[ref->index].address, healthy ? "healthy" : "unhealthy", detail);
    if (healthy)
        target_recovered(m, s, d, ref->index);
    publish_dep(m, s, d);
    router_wake(m->o.router);
    if (m->o.on_event != NULL) {
        json_t *data = json_pack("{s:s,s:s,s:s,s:b,s:s,s:s}", "service", s->key, "deployment",
                                 d->id, "target", d->targets[ref->index].address, "healthy",
                                 healthy, "detail", detail, "state", mdep_state(d));
        m->o.on_event(m->o.ud, m->generation, "deployment.health", data);
        json_decref(data);
    }
}

static void checks_stop(struct dep_rt *rt)
{
    for (uint32_t i = 0; i < rt->nchecks; i++)
        health_check_stop(rt->checks[i].hc);
    free(rt->checks);
    rt->checks = NULL;
    rt->nchecks = rt->nup = 0;
}

/* 1 when target i of d was healthy in od (same address and ports): a target that
 * survives a change of the pod set keeps its traffic while it is checked again. */
static int was_up(const struct mdep *od, const struct hc_ref *old, uint32_t nold,
                  const struct mtarget *t)
{
    for (uint32_t j = 0; od != NULL && j < od->ntargets && j < nold; j++)
        if (old[j].up && memcmp(&od->targets[j], t, sizeof(*t)) == 0)
            return 1;
    return 0;
}

/* (Re)starts the checks of d's targets. trusted: every target counts as healthy until its
 * checks fail (after a restart, for the active deployment); otherwise targets that were
 * healthy in od keep that state, and new ones start unhealthy. */
static void checks_start(struct model *m, const struct msvc *s, struct mdep *d,
                         const struct mdep *od, int trusted)
{
    struct dep_rt *rt = d->rt;
    struct health_spec spec = s->hspec;
    struct hc_ref *old = rt->checks;
    uint32_t nold = rt->nchecks, k = 0;

    rt->checks = calloc(d->ntargets ? d->ntargets : 1, sizeof(*rt->checks));
    if (rt->checks == NULL) {
        log_error("service %s: out of memory starting health checks", s->key);
        rt->checks = old;
        return;
    }
    rt->nchecks = d->ntargets;
    rt->nup = 0;
    while (k < s->nports && !s->ports[k].public)
        k++;
    if (k == s->nports)
        k = 0;
    spec.kind = s->hkind == HEALTH_KIND_TCP ? HEALTH_TCP : HEALTH_HTTP;
    if (model_fqdn(m, s, d->id7, 1, spec.host, sizeof spec.host) < 0)
        snprintf(spec.host, sizeof spec.host, "localhost");
    for (uint32_t i = 0; i < d->ntargets; i++) {
        struct hc_ref *ref = &rt->checks[i];
        ref->rt = rt;
        ref->index = i;
        int up = trusted || was_up(od, old, nold, &d->targets[i]);
        if (s->hkind == HEALTH_KIND_NONE || up) {
            ref->up = 1;
            rt->nup++;
        }
        spec.start_healthy = (uint8_t)up;
        if (s->hkind == HEALTH_KIND_NONE)
            continue;
        struct sockaddr_storage sa = target_addr(s, &d->targets[i], k);
        ref->hc = health_check_start(m->o.loop, (struct sockaddr *)&sa, d->targets[i].salen,
                                     &spec, on_health, ref);
        if (ref->hc == NULL)
            log_error("service %s: out of memory starting a health check", s->key);
    }
    for (uint32_t i = 0; i < nold; i++)
        health_check_stop(old[i].hc);
    free(old);
}

/* --- deployment runtime -------------------------------------------------------------- */

static void rt_close_cb(uv_handle_t *h)
{
    free(h->data);
}

static struct dep_rt *dep_rt_new(struct model *m, const struct msvc *s, const struct mdep *d)
{
    struct dep_rt *rt = calloc(1, sizeof(*rt));
    if (rt == NULL)
        return NULL;
    rt->group = route_group_new();
    if (rt->group == NULL) {
        free(rt);
        return NULL;
    }
    rt->m = m;
    rt->tag = ++m->serial << 1;
    snprintf(rt->svc_key, sizeof rt->svc_key, "%s", s->key);
    snprintf(rt->dep_id, sizeof rt->dep_id, "%s", d->id);
    uv_timer_init(m->o.loop, &rt->drain);
    rt->drain.data = rt;
    return rt;
}

/* Frees rt once its hosts are gone (the caller made sure). */
static void dep_rt_free(struct model *m, struct dep_rt *rt)
{
    checks_stop(rt);
    route_group_free(router_routes(m->o.router), rt->group);
    uv_close((uv_handle_t *)&rt->drain, rt_close_cb);
}

static void on_drained(uv_timer_t *t)
{
    struct dep_rt *rt = t->data;
    struct model *m = rt->m;
    rt->draining = 0;
    /* Requests that came in through the stable hosts and still run on the replaced
     * deployment (long downloads, WebSockets) end now; its deployment URL keeps working. */
    router_close_tagged(m->o.router, rt->cut_tag);
    log_info("service %s: deployment %s drained, retained", rt->svc_key, rt->dep_id);
    if (m->o.on_event != NULL) {
        json_t *data = json_pack("{s:s,s:s,s:s}", "service", rt->svc_key, "deployment",
                                 rt->dep_id, "state", "retained");
        m->o.on_event(m->o.ud, m->generation, "deployment.retained", data);
        json_decref(data);
    }
}

void mdep_mark_unhealthy(struct mdep *d)
{
    if (d->rt != NULL && d->rt->nup == 0)
        d->rt->unhealthy = 1;
}

uint32_t mdep_healthy(const struct mdep *d)
{
    return d->rt ? d->rt->nup : 0;
}

/* --- hosts ----------------------------------------------------------------------------- */

/* Makes host hold (svc_key, dep_id, port) in the claims and, for http, in the table
 * (group g); want 0 removes it. Only touches hosts that are free or held by holder_ok. */
static void host_set(struct model *m, const char *host, int want, int routed,
                     const char *svc_key, const char *dep_id, uint32_t port,
                     struct route_group *g)
{
    struct route_table *t = router_routes(m->o.router);
    struct claim *c = strmap_get(m->claims, host);
    size_t len = strlen(host);

    if (!want) {
        if (c == NULL)
            return;
        route_table_remove(t, host, len);
        free(strmap_del(m->claims, host));
        return;
    }
    if (c == NULL) {
        c = calloc(1, sizeof(*c));
        if (c == NULL || strmap_set(m->claims, host, c) != 0) {
            free(c);
            log_error("host %s: out of memory", host);
            return;
        }
    }
    snprintf(c->svc_key, sizeof c->svc_key, "%s", svc_key);
    snprintf(c->dep_id, sizeof c->dep_id, "%s", dep_id);
    c->port = port;
    c->routed = (uint8_t)routed;
    if (!routed) {
        route_table_remove(t, host, len);
        return;
    }
    int rc = route_table_repoint(t, host, len, g, port - 1);
    if (rc == -ENOENT) {
        rc = route_table_insert(t, host, len, g, port - 1);
    }
    if (rc != 0)
        log_error("host %s: cannot route: %s", host, strerror(-rc));
}

static void stable_sync(struct model *m, const struct msvc *s, int want_all)
{
    char host[NAMING_FQDN_MAX + 1];
    for (uint32_t n = 1; n <= MODEL_MAX_PORTS; n++) {
        if (model_fqdn(m, s, s->nanoid, n, host, sizeof host) < 0)
            continue;
        const struct claim *c = strmap_get(m->claims, host);
        if (c != NULL && (c->dep_id[0] != '\0' || strcmp(c->svc_key, s->key) != 0))
            continue; /* not ours */
        int want = want_all && n <= s->npublic;
        if (!want && c == NULL)
            continue;
        if (want && c != NULL && c->port == n && c->routed == (s->proto == PROTO_HTTP))
            continue; /* already there, through the same group */
        host_set(m, host, want, s->proto == PROTO_HTTP, s->key, "", n,
                 s->rt ? s->rt->stable : NULL);
    }
}

/* The hosts of one commit (id7) of one (project, service): held by the newest deployment
 * with that id7 among all its environments. ref gives the names. */
static void commit_sync(struct model *m, const struct msvc *ref, const char *id7)
{
    char okey[2 * MODEL_NAME_MAX + 2], host[NAMING_FQDN_MAX + 1];
    const struct owner *o;
    const struct msvc *best_s = NULL;
    const struct mdep *best = NULL;

    owner_key(ref, okey, sizeof okey);
    o = strmap_get(m->owners, okey);
    for (size_t i = 0; o != NULL && i < o->n; i++) {
        const struct msvc *s = strmap_get(m->services, o->keys[i]);
        for (uint32_t k = 0; s != NULL && k < s->ndeps; k++) {
            const struct mdep *d = s->deps[k];
            if (strcmp(d->id7, id7) == 0 && d->rt != NULL && (best == NULL || d->seq > best->seq)) {
                best = d;
                best_s = s;
            }
        }
    }
    for (uint32_t n = 1; n <= MODEL_MAX_PORTS; n++) {
        if (model_fqdn(m, ref, id7, n, host, sizeof host) < 0)
            continue;
        const struct claim *c = strmap_get(m->claims, host);
        if (c != NULL) {
            const struct msvc *h = strmap_get(m->services, c->svc_key);
            if (c->dep_id[0] == '\0' || (h != NULL && !same_owner(h, ref)))
                continue; /* someone else's */
        }
        int want = best != NULL && n <= best_s->npublic;
        if (!want && c == NULL)
            continue;
        if (want && c != NULL && strcmp(c->svc_key, best_s->key) == 0 &&
            strcmp(c->dep_id, best->id) == 0 && c->port == n &&
            c->routed == (best_s->proto == PROTO_HTTP))
            continue;
        host_set(m, host, want, want && best_s->proto == PROTO_HTTP,
                 want ? best_s->key : "", want ? best->id : "", n,
                 want ? best->rt->group : NULL);
    }
}

static int owner_add(struct model *m, const struct msvc *s)
{
    char okey[2 * MODEL_NAME_MAX + 2];
    owner_key(s, okey, sizeof okey);
    struct owner *o = strmap_get(m->owners, okey);
    if (o == NULL) {
        o = calloc(1, sizeof(*o));
        if (o == NULL || strmap_set(m->owners, okey, o) != 0) {
            free(o);
            return -ENOMEM;
        }
    }
    char **k = realloc(o->keys, (o->n + 1) * sizeof(*k));
    if (k == NULL)
        return -ENOMEM;
    o->keys = k;
    if ((k[o->n] = strdup(s->key)) == NULL)
        return -ENOMEM;
    o->n++;
    return 0;
}

static void owner_del(struct model *m, const struct msvc *s)
{
    char okey[2 * MODEL_NAME_MAX + 2];
    owner_key(s, okey, sizeof okey);
    struct owner *o = strmap_get(m->owners, okey);
    for (size_t i = 0; o != NULL && i < o->n; i++) {
        if (strcmp(o->keys[i], s->key) == 0) {
            free(o->keys[i]);
            o->keys[i] = o->keys[--o->n];
            break;
        }
    }
    if (o != NULL && o->n == 0) {
        strmap_del(m->owners, okey);
        free(o->keys);
        free(o);
    }
}

static int same_targets(const struct mdep *a, const struct mdep *b)
{
    return a->ntargets == b->ntargets &&
           memcmp(a->targets, b->targets, a->ntargets * sizeof(*a->targets)) == 0;
}

/* --- reconcile ------------------------------------------------------------------------- */

void model_reconcile(struct model *m, struct msvc *old, struct msvc *neu)
{
    const struct msvc *ref = neu ? neu : old;

    /* 1. Hand the runtime over, deployment by deployment. */
    if (neu != NULL) {
        neu->rt = old ? old->rt : calloc(1, sizeof(*neu->rt));
        if (old != NULL)
            old->rt = NULL;
        else if (neu->rt != NULL && (neu->rt->stable = route_group_new()) == NULL) {
            free(neu->rt);
            neu->rt = NULL;
        }
        for (uint32_t i = 0; i < neu->ndeps; i++) {
            struct mdep *d = neu->deps[i], *od = find_dep(old, d->id);
            int restart = od == NULL || !same_targets(od, d) ||
                          (old != NULL && (old->hkind != neu->hkind ||
                                           memcmp(&old->hspec, &neu->hspec, sizeof old->hspec) != 0 ||
                                           memcmp(old->ports, neu->ports, sizeof old->ports) != 0));
            if (od != NULL) {
                d->rt = od->rt;
                od->rt = NULL;
            } else if (d->rt == NULL) {
                d->rt = dep_rt_new(m, neu, d);
            }
            if (d->rt == NULL) {
                log_error("service %s: out of memory for deployment %s", neu->key, d->id);
                continue;
            }
            if (restart)
                checks_start(m, neu, d, od, m->loading && d->phase == PHASE_ACTIVE);
            if (od != NULL && od->phase == PHASE_ACTIVE && d->phase == PHASE_PREVIOUS) {
                d->rt->draining = 1;
                d->rt->cut_tag = d->rt->stable_tag;
                uv_timer_start(&d->rt->drain, on_drained, d->rt->drain_ms_next, 0);
            }
            if (d->phase == PHASE_ACTIVE && (od == NULL || od->phase != PHASE_ACTIVE)) {
                d->rt->stable_tag = ++m->serial << 1 | 1;
                if (d->rt->draining) { /* promoted back before its drain ended */
                    d->rt->draining = 0;
                    uv_timer_stop(&d->rt->drain);
                }
            }
        }
    }
    /* 2. The service map and the owner index. */
    if (neu != NULL) {
        strmap_set(m->services, neu->key, neu); /* the key exists or was reserved */
        if (old == NULL && owner_add(m, neu) != 0)
            log_error("service %s: out of memory indexing its owner", neu->key);
    } else {
        strmap_del(m->services, old->key);
    }
    /* 3. Sets first, then hosts, so that a new host routes at once. */
    if (neu != NULL && neu->rt != NULL)
        publish_service(m, neu);
    stable_sync(m, ref, neu != NULL && neu->rt != NULL);
    for (uint32_t i = 0; old != NULL && i < old->ndeps; i++)
        commit_sync(m, ref, old->deps[i]->id7);
    for (uint32_t i = 0; neu != NULL && i < neu->ndeps; i++)
        commit_sync(m, ref, neu->deps[i]->id7);
    /* 4. What is gone. */
    for (uint32_t i = 0; old != NULL && i < old->ndeps; i++)
        if (old->deps[i]->rt != NULL)
            dep_rt_free(m, old->deps[i]->rt);
    if (neu == NULL) {
        owner_del(m, old);
        if (old->rt != NULL) {
            route_group_free(router_routes(m->o.router), old->rt->stable);
            free(old->rt);
        }
    }
    router_wake(m->o.router);
    msvc_free(old);
}

void model_routes_free(struct model *m)
{
    size_t pos = 0;
    const char *key;
    void *v;
    while (strmap_next(m->services, &pos, &key, &v)) {
        struct msvc *s = v;
        for (uint32_t i = 0; i < s->ndeps; i++)
            if (s->deps[i]->rt != NULL) {
                uv_timer_stop(&s->deps[i]->rt->drain);
                checks_stop(s->deps[i]->rt);
            }
    }
    /* Remove every host, then free groups and runtime. */
    pos = 0;
    while (strmap_next(m->claims, &pos, &key, &v)) {
        route_table_remove(router_routes(m->o.router), key, strlen(key));
        free(v);
    }
    pos = 0;
    while (strmap_next(m->services, &pos, &key, &v)) {
        struct msvc *s = v;
        for (uint32_t i = 0; i < s->ndeps; i++)
            if (s->deps[i]->rt != NULL)
                dep_rt_free(m, s->deps[i]->rt);
        if (s->rt != NULL) {
            route_group_free(router_routes(m->o.router), s->rt->stable);
            free(s->rt);
        }
        msvc_free(s);
    }
    pos = 0;
    while (strmap_next(m->owners, &pos, &key, &v)) {
        struct owner *o = v;
        for (size_t i = 0; i < o->n; i++)
            free(o->keys[i]);
        free(o->keys);
        free(o);
    }
}
