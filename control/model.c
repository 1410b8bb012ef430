/*
 * model: the operations of CONTRACT §2 on services and deployments.
 *
 * Every write follows one pattern (write_service): copy the service through its stored
 * form, change the copy, check its hostnames against everyone else's, make it durable
 * (store_commit with generation + 1), then swap it in (model_reconcile). A failure at any
 * step before the swap frees the copy: model, store and routes are untouched.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/model_internal.h"
#include "control/store.h"
#include "control/strmap.h"
#include "router/base/log.h"

void model_err_clear(struct model_err *e)
{
    json_decref(e->details);
    e->details = NULL;
}

static int fail(struct model_err *e, int status, const char *code, const char *fmt,
                const char *arg)
{
    e->status = status;
    snprintf(e->code, sizeof e->code, "%s", code);
    snprintf(e->message, sizeof e->message, fmt, arg);
    return -1;
}

struct model *model_new(const struct model_options *o)
{
    struct model *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->o = *o;
    m->services = strmap_new();
    m->owners = strmap_new();
    m->claims = strmap_new();
    if (m->services == NULL || m->owners == NULL || m->claims == NULL) {
        model_free(m);
        return NULL;
    }
    return m;
}

void model_free(struct model *m)
{
    if (m == NULL)
        return;
    if (m->services != NULL && m->owners != NULL && m->claims != NULL)
        model_routes_free(m);
    strmap_free(m->services);
    strmap_free(m->owners);
    strmap_free(m->claims);
    free(m);
}

uint64_t model_generation(const struct model *m)
{
    return m->generation;
}

size_t model_host_count(const struct model *m)
{
    return strmap_count(m->claims);
}

size_t model_service_count(const struct model *m)
{
    return strmap_count(m->services);
}

int model_load(struct model *m, char *err, size_t errlen)
{
    json_t *services = NULL;
    const char *key;
    json_t *j;

    if (store_load(m->o.store, &services, &m->generation, err, errlen) != 0)
        return -1;
    m->loading = 1;
    json_object_foreach(services, key, j) {
        struct msvc *s = msvc_from_store(key, j, err, errlen);
        if (s == NULL) {
            json_decref(services);
            m->loading = 0;
            return -1;
        }
        for (uint32_t i = 0; i < s->ndeps; i++)
            if (s->deps[i]->seq > m->seq)
                m->seq = s->deps[i]->seq;
        model_reconcile(m, NULL, s);
    }
    m->loading = 0;
    json_decref(services);
    return 0;
}

/* --- helpers --------------------------------------------------------------------------- */

/* Validates the three path names and builds the key. -1 with a 400. */
static int make_key(const char *p, const char *e, const char *s, char *key, size_t cap,
                    struct model_err *err)
{
    char a[MODEL_NAME_MAX + 1], b[MODEL_NAME_MAX + 1];
    const char *names[] = {p, e, s}, *fields[] = {"project", "environment", "service"};
    for (int i = 0; i < 3; i++) {
        if (msvc_set_name(a, b, names[i]) != 0 || strpbrk(names[i], "/\x1f") != NULL) {
            fail(err, 400, "invalid_name", "%s: must be 1 to 100 bytes with at least one "
                 "letter or digit", fields[i]);
            err->details = json_pack("{s:s}", "field", fields[i]);
            return -1;
        }
    }
    snprintf(key, cap, "%s/%s/%s", p, e, s);
    return 0;
}

static struct msvc *find_service(struct model *m, const char *p, const char *e, const char *s,
                                 char *key, size_t cap, struct model_err *err)
{
    if (make_key(p, e, s, key, cap, err) != 0)
        return NULL;
    struct msvc *svc = strmap_get(m->services, key);
    if (svc == NULL) {
        fail(err, 404, "not_found", "no service %s", key);
        err->details = json_pack("{s:s}", "service", key);
    }
    return svc;
}

static struct mdep *find_dep(struct msvc *s, const char *id, uint32_t *index)
{
    for (uint32_t i = 0; i < s->ndeps; i++) {
        if (strcmp(s->deps[i]->id, id) == 0) {
            if (index != NULL)
                *index = i;
            return s->deps[i];
        }
    }
    return NULL;
}

static struct mdep *require_dep(struct msvc *s, const char *id, struct model_err *err)
{
    struct mdep *d = find_dep(s, id, NULL);
    if (d == NULL) {
        fail(err, 404, "not_found", "no deployment %s", id);
        err->details = json_pack("{s:s,s:s}", "service", s->key, "deployment", id);
    }
    return d;
}

/* A private copy of s (data only), through the stored form. */
static struct msvc *copy_service(const struct msvc *s, struct model_err *err)
{
    char msg[256] = "out of memory";
    json_t *j = msvc_to_store(s);
    struct msvc *c = j ? msvc_from_store(s->key, j, msg, sizeof msg) : NULL;
    json_decref(j);
    if (c == NULL)
        fail(err, 500, "internal", "%s", msg);
    return c;
}

static void emit(struct model *m, const char *type, json_t *data)
{
    if (m->o.on_event != NULL && data != NULL)
        m->o.on_event(m->o.ud, m->generation, type, data);
    json_decref(data);
}

/* Checks neu's hosts, makes it durable, swaps it in place of old (either may be NULL,
 * not both; key names the service). Consumes neu on failure. */
static int write_service(struct model *m, const char *key, struct msvc *old, struct msvc *neu,
                         struct model_err *err)
{
    char msg[512];
    if (neu != NULL && model_check_claims(m, neu, err) != 0) {
        msvc_free(neu);
        return -1;
    }
    json_t *j = neu != NULL ? msvc_to_store(neu) : NULL;
    if (neu != NULL && j == NULL) {
        msvc_free(neu);
        return fail(err, 500, "internal", "%s", "out of memory");
    }
    int rc = store_commit(m->o.store, m->generation + 1, key, j, msg, sizeof msg);
    json_decref(j);
    /* The commit blocked on fsync while the loop's clock stood still: timers started from
     * here on (drain deadlines, health checks) count from now, not from before it. */
    uv_update_time(m->o.loop);
    if (rc != 0) {
        log_error("state: %s", msg);
        msvc_free(neu);
        fail(err, 500, "store_failed", "the change could not be saved%s", "");
        err->details = json_pack("{s:s}", "reason", msg);
        return -1;
    }
    m->generation++;
    model_reconcile(m, old, neu);
    return 0;
}

static json_t *with_generation(struct model *m, json_t *o)
{
    if (o != NULL)
        json_object_set_new(o, "generation", json_integer((json_int_t)m->generation));
    return o;
}

/* --- services --------------------------------------------------------------------------- */

int model_put_service(struct model *m, const char *p, const char *e, const char *s,
                      json_t *body, json_t **out, struct model_err *err)
{
    char key[sizeof(((struct msvc *)0)->key)];
    if (make_key(p, e, s, key, sizeof key, err) != 0)
        return -1;
    struct msvc *old = strmap_get(m->services, key);
    struct msvc *neu = old ? copy_service(old, err) : calloc(1, sizeof(*neu));
    if (neu == NULL)
        return old ? -1 : fail(err, 500, "internal", "%s", "out of memory");
    if (old == NULL) {
        char scratch[MODEL_NAME_MAX + 1];
        snprintf(neu->key, sizeof neu->key, "%s", key);
        msvc_set_name(neu->project, neu->np, p);
        msvc_set_name(neu->env, scratch, e);
        msvc_set_name(neu->name, neu->ns, s);
        neu->proto = PROTO_HTTP;
        neu->hkind = HEALTH_KIND_HTTP;
        health_spec_defaults(&neu->hspec);
    }
    if (msvc_apply_put(neu, body, old == NULL, err) != 0) {
        msvc_free(neu);
        return -1;
    }
    /* A fresh nanoid that happens to collide is drawn again (36^8 makes it rare). */
    for (int tries = 0; old == NULL && neu->nanoid[0] == '\0'; tries++) {
        if (naming_nanoid_generate(neu->nanoid) != 0) {
            msvc_free(neu);
            return fail(err, 500, "internal", "%s", "no randomness for a nanoid");
        }
        struct model_err probe = {0};
        if (tries < 5 && model_check_claims(m, neu, &probe) != 0 && probe.status == 409)
            neu->nanoid[0] = '\0';
        model_err_clear(&probe);
    }
    if (write_service(m, key, old, neu, err) != 0)
        return -1;
    *out = with_generation(m, msvc_to_api(m, neu));
    emit(m, old ? "service.updated" : "service.created", json_pack("{s:s}", "service", key));
    return old ? 200 : 201;
}

int model_get_service(struct model *m, const char *p, const char *e, const char *s,
                      json_t **out, struct model_err *err)
{
    char key[sizeof(((struct msvc *)0)->key)];
    struct msvc *svc = find_service(m, p, e, s, key, sizeof key, err);
    if (svc == NULL)
        return -1;
    *out = with_generation(m, msvc_to_api(m, svc));
    return 200;
}

int model_delete_service(struct model *m, const char *p, const char *e, const char *s,
                         struct model_err *err)
{
    char key[sizeof(((struct msvc *)0)->key)];
    struct msvc *svc = find_service(m, p, e, s, key, sizeof key, err);
    if (svc == NULL || write_service(m, key, svc, NULL, err) != 0)
        return -1;
    emit(m, "service.deleted", json_pack("{s:s}", "service", key));
    return 204;
}

static int cmp_service(const void *a, const void *b)
{
    return strcmp((*(const struct msvc *const *)a)->key, (*(const struct msvc *const *)b)->key);
}

int model_list_services(struct model *m, const char *project, json_t **out)
{
    size_t n = 0, pos = 0;
    const char *key;
    void *v;
    const struct msvc **list = malloc((strmap_count(m->services) + 1) * sizeof(*list));
    json_t *a = json_array();
    if (list == NULL || a == NULL) {
        free(list);
        json_decref(a);
        *out = NULL;
        return 500;
    }
    while (strmap_next(m->services, &pos, &key, &v))
        if (project == NULL || strcmp(project, ((const struct msvc *)v)->project) == 0)
            list[n++] = v;
    qsort(list, n, sizeof(*list), cmp_service); /* stable output: sorted by key */
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, msvc_to_api(m, list[i]));
    free(list);
    *out = with_generation(m, json_pack("{s:o}", "services", a));
    return 200;
}

/* --- deployments ------------------------------------------------------------------------ */

static int id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > MODEL_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
              (id[i] >= '0' && id[i] <= '9') || id[i] == '-' || id[i] == '_' || id[i] == '.'))
            return 0;
    return 1;
}

int model_create_deployment(struct model *m, const char *p, const char *e, const char *s,
                            json_t *body, json_t **out, struct model_err *err)
{
    char key[sizeof(((struct msvc *)0)->key)];
    struct msvc *old = find_service(m, p, e, s, key, sizeof key, err);
    if (old == NULL)
        return -1;
    json_t *jid = json_object_get(body, "id"), *jsha = json_object_get(body, "sha");
    json_t *targets = json_object_get(body, "targets");
    if (!json_is_object(body))
        return fail(err, 400, "invalid_field", "%s: must be a JSON object", "body");
    if (!json_is_string(jid) || !id_valid(json_string_value(jid))) {
        fail(err, 400, "invalid_field", "%s: must be 1 to 64 characters of [A-Za-z0-9._-]", "id");
        err->details = json_pack("{s:s}", "field", "id");
        return -1;
    }
    const char *id = json_string_value(jid);
    if (find_dep(old, id, NULL) != NULL) {
        fail(err, 409, "conflict", "deployment %s already exists", id);
        err->details = json_pack("{s:s,s:s}", "service", key, "deployment", id);
        return -1;
    }
    struct mdep *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return fail(err, 500, "internal", "%s", "out of memory");
    snprintf(d->id, sizeof d->id, "%s", id);
    if (jsha != NULL && !json_is_null(jsha)) {
        if (!json_is_string(jsha) || json_string_length(jsha) > NAMING_SHA_MAX ||
            naming_sha7(json_string_value(jsha), json_string_length(jsha), d->id7) != 0) {
            free(d);
            fail(err, 400, "invalid_field", "%s: must be 7 to 64 hexadecimal digits", "sha");
            err->details = json_pack("{s:s}", "field", "sha");
            return -1;
        }
        snprintf(d->sha, sizeof d->sha, "%s", json_string_value(jsha));
        for (char *c = d->sha; *c; c++)
            if (*c >= 'A' && *c <= 'F')
                *c = (char)(*c - 'A' + 'a');
    } else {
        mdep_set_id7(d);
    }
    if (targets == NULL) {
        free(d);
        fail(err, 400, "invalid_field", "%s: required", "targets");
        err->details = json_pack("{s:s}", "field", "targets");
        return -1;
    }
    if (mdep_parse_targets(d, targets, err) != 0) {
        free(d);
        return -1;
    }
    d->seq = m->seq + 1;
    struct msvc *neu = copy_service(old, err);
    struct mdep **deps = neu ? realloc(neu->deps, (neu->ndeps + 1) * sizeof(*deps)) : NULL;
    if (deps == NULL) {
        free(d->targets);
        free(d);
        msvc_free(neu);
        return fail(err, 500, "internal", "%s", "out of memory");
    }
    neu->deps = deps;
    neu->deps[neu->ndeps++] = d;
    if (write_service(m, key, old, neu, err) != 0)
        return -1;
    m->seq++;
    *out = with_generation(m, mdep_to_api(m, neu, d));
    emit(m, "deployment.created", json_pack("{s:s,s:s}", "service", key, "deployment", id));
    return 201;
}

int model_get_deployment(struct model *m, const char *p, const char *e, const char *s,
                         const char *id, json_t **out, struct model_err *err)
{
    char key[sizeof(((struct msvc *)0)->key)];
    struct msvc *svc = find_service(m, p, e, s, key, sizeof key, err);
    struct mdep *d = svc ? require_dep(svc, id, err) : NULL;
    if (d == NULL)
        return -1;
    *out = with_generation(m, mdep_to_api(m, svc, d));
    return 200;
}

int model_replace_targets(struct model *m, const char *p, const char *e, const char *s,
                          const char *id, json_t *body, json_t **out, struct model_err *err)
{
    char key[sizeof(((struct msvc *)0)->key)];
    struct msvc *old = find_service(m, p, e, s, key, sizeof key, err);
    if (old == NULL || require_dep(old, id, err) == NULL)
        return -1;
    json_t *targets = json_is_object(body) ? json_object_get(body, "targets") : NULL;
    if (targets == NULL) {
        fail(err, 400, "invalid_field", "%s: required", "targets");
        err->details = json_pack("{s:s}", "field", "targets");
        return -1;
    }
    struct msvc *neu = copy_service(old, err);
    if (neu == NULL)
        return -1;
    struct mdep *d = find_dep(neu, id, NULL);
    if (mdep_parse_targets(d, targets, err) != 0) {
        msvc_free(neu);
        return -1;
    }
    if (write_service(m, key, old, neu, err) != 0)
        return -1;
    *out = with_generation(m, mdep_to_api(m, neu, d));
    emit(m, "deployment.targets", json_pack("{s:s,s:s}", "service", key, "deployment", id));
    return 200;
}

int model_delete_deployment(struct model *m, const char *p, const char *e, const char *s,
                            const char *id, struct model_err *err)
{
    char key[sizeof(((struct msvc *)0)->key)];
    struct msvc *old = find_service(m, p, e, s, key, sizeof key, err);
    struct mdep *od = old ? require_dep(old, id, err) : NULL;
    if (od == NULL)
        return -1;
    if (od->phase == PHASE_ACTIVE) {
        fail(err, 409, "conflict", "deployment %s is active; promote another one first", id);
        err->details = json_pack("{s:s,s:s}", "service", key, "deployment", id);
        return -1;
    }
    struct msvc *neu = copy_service(old, err);
    if (neu == NULL)
        return -1;
    uint32_t i;
    struct mdep *d = find_dep(neu, id, &i);
    free(d->targets);
    free(d);
    memmove(&neu->deps[i], &neu->deps[i + 1], (neu->ndeps - i - 1) * sizeof(*neu->deps));
    neu->ndeps--;
    if (write_service(m, key, old, neu, err) != 0)
        return -1;
    emit(m, "deployment.deleted", json_pack("{s:s,s:s}", "service", key, "deployment", id));
    return 204;
}

int model_deployment_ready(struct model *m, const char *p, const char *e, const char *s,
                           const char *id)
{
    char key[sizeof(((struct msvc *)0)->key)];
    struct model_err err = {0};
    struct msvc *svc = find_service(m, p, e, s, key, sizeof key, &err);
    struct mdep *d = svc ? find_dep(svc, id, NULL) : NULL;
    model_err_clear(&err);
    if (d == NULL)
        return -1;
    return mdep_healthy(d) > 0;
}

int model_promote(struct model *m, const char *p, const char *e, const char *s,
                  const char *id, int require_healthy, long drain_ms, json_t **out,
                  struct model_err *err)
{
    char key[sizeof(((struct msvc *)0)->key)];
    struct msvc *old = find_service(m, p, e, s, key, sizeof key, err);
    struct mdep *od = old ? require_dep(old, id, err) : NULL;
    if (od == NULL)
        return -1;
    struct mdep *prev = NULL;
    for (uint32_t i = 0; i < old->ndeps; i++)
        if (old->deps[i]->phase == PHASE_ACTIVE)
            prev = old->deps[i];
    if (prev == od) { /* already active: nothing to change */
        *out = with_generation(m, json_pack("{s:s,s:n}", "active", id, "previous"));
        return 200;
    }
    if (require_healthy && mdep_healthy(od) == 0) {
        mdep_mark_unhealthy(od);
        fail(err, 409, "unhealthy", "deployment %s has no healthy target; the active "
             "deployment stays", id);
        err->details = json_pack("{s:s,s:s,s:s*}", "service", key, "deployment", id, "active",
                                 prev ? prev->id : NULL);
        return -1;
    }
    struct msvc *neu = copy_service(old, err);
    if (neu == NULL)
        return -1;
    for (uint32_t i = 0; i < neu->ndeps; i++) {
        if (neu->deps[i]->phase == PHASE_ACTIVE)
            neu->deps[i]->phase = PHASE_PREVIOUS;
        if (strcmp(neu->deps[i]->id, id) == 0)
            neu->deps[i]->phase = PHASE_ACTIVE;
    }
    if (prev != NULL && prev->rt != NULL)
        prev->rt->drain_ms_next = drain_ms < 0 ? m->o.drain_ms : (uint32_t)drain_ms;
    char prev_id[MODEL_ID_MAX + 1] = "";
    if (prev != NULL)
        snprintf(prev_id, sizeof prev_id, "%s", prev->id);
    if (write_service(m, key, old, neu, err) != 0)
        return -1;
    *out = with_generation(m, json_pack("{s:s,s:o}", "active", id, "previous",
                                        prev_id[0] ? json_string(prev_id) : json_null()));
    emit(m, "deployment.promoted", json_pack("{s:s,s:s,s:o}", "service", key, "deployment", id,
                                             "previous", prev_id[0] ? json_string(prev_id)
                                                                    : json_null()));
    return 200;
}
