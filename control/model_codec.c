/*
 * model_codec: services and deployments to and from JSON: the stored form (plain data,
 * what survives a restart), the API's view (plus URLs, derived states and health), and
 * the request bodies of CONTRACT §2, validated field by field so that a 400 names the
 * field ("ports[1].port: must be an integer from 1 to 65535").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/model_internal.h"

static const char *const proto_names[] = {"http", "postgres", "redis", "tcp"};
static const char *const health_names[] = {"http", "tcp", "none"};
static const char *const phase_names[] = {"created", "active", "previous"};

static int name_index(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}
#define NAME_INDEX(arr, s) name_index(arr, sizeof(arr) / sizeof(arr[0]), s)

static int bad(struct model_err *e, const char *field, const char *fmt, const char *what)
{
    e->status = 400;
    snprintf(e->code, sizeof e->code, "invalid_field");
    snprintf(e->message, sizeof e->message, fmt, field, what);
    json_decref(e->details);
    e->details = json_pack("{s:s}", "field", field);
    return -1;
}

void msvc_free(struct msvc *s)
{
    if (s == NULL)
        return;
    for (uint32_t i = 0; i < s->ndeps; i++) {
        free(s->deps[i]->targets);
        free(s->deps[i]);
    }
    free(s->deps);
    free(s);
}

/* --- numbers and strings ----------------------------------------------------------- */

/* Reads an optional integer field into *out (unchanged when absent). */
static int opt_int(json_t *obj, const char *key, const char *path, long long lo, long long hi,
                   long long *out, struct model_err *e)
{
    json_t *v = json_object_get(obj, key);
    char field[96];
    if (v == NULL || json_is_null(v))
        return 0;
    snprintf(field, sizeof field, "%s%s", path, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        char range[64];
        snprintf(range, sizeof range, "%lld to %lld", lo, hi);
        return bad(e, field, "%s: must be an integer from %s", range);
    }
    *out = json_integer_value(v);
    return 0;
}

static int opt_str(json_t *obj, const char *key, const char *path, size_t maxlen,
                   const char **out, struct model_err *e)
{
    json_t *v = json_object_get(obj, key);
    char field[96];
    if (v == NULL || json_is_null(v))
        return 0;
    snprintf(field, sizeof field, "%s%s", path, key);
    if (!json_is_string(v))
        return bad(e, field, "%s: must be a %s", "string");
    if (json_string_length(v) > maxlen || strlen(json_string_value(v)) != json_string_length(v))
        return bad(e, field, "%s: %s", "too long or contains NUL");
    *out = json_string_value(v);
    return 0;
}

/* --- PUT /v1/services/{p}/{e}/{s} ------------------------------------------------------ */

static int parse_ports(struct msvc *s, json_t *ports, struct model_err *e)
{
    if (!json_is_array(ports) || json_array_size(ports) == 0 ||
        json_array_size(ports) > MODEL_MAX_PORTS)
        return bad(e, "ports", "%s: must be an array of 1 to %s ports", "16");
    s->nports = s->npublic = 0;
    for (size_t i = 0; i < json_array_size(ports); i++) {
        json_t *p = json_array_get(ports, i);
        char path[32], field[48];
        snprintf(path, sizeof path, "ports[%zu].", i);
        if (!json_is_object(p)) {
            snprintf(field, sizeof field, "ports[%zu]", i);
            return bad(e, field, "%s: must be an %s", "object");
        }
        long long port = 0;
        if (opt_int(p, "port", path, 1, 65535, &port, e) != 0)
            return -1;
        if (port == 0) {
            snprintf(field, sizeof field, "ports[%zu].port", i);
            return bad(e, field, "%s: %s", "required");
        }
        json_t *pub = json_object_get(p, "public");
        if (pub != NULL && !json_is_boolean(pub)) {
            snprintf(field, sizeof field, "ports[%zu].public", i);
            return bad(e, field, "%s: must be a %s", "boolean");
        }
        s->ports[i].port = (uint16_t)port;
        s->ports[i].public = pub == NULL || json_is_true(pub);
        s->npublic += s->ports[i].public;
        s->nports++;
    }
    return 0;
}

static int parse_health(struct msvc *s, json_t *h, struct model_err *e)
{
    const char *type = NULL, *path = NULL;
    long long v;

    if (!json_is_object(h))
        return bad(e, "health", "%s: must be an %s", "object");
    if (opt_str(h, "type", "health.", 8, &type, e) != 0 ||
        opt_str(h, "path", "health.", sizeof s->hspec.path - 1, &path, e) != 0)
        return -1;
    if (type != NULL) {
        int k = NAME_INDEX(health_names, type);
        if (k < 0)
            return bad(e, "health.type", "%s: must be %s", "\"http\", \"tcp\" or \"none\"");
        s->hkind = (enum mhealth)k;
    }
    if (path != NULL) {
        int ok = path[0] == '/';
        for (const char *c = path; ok && *c; c++)
            ok = (unsigned char)*c > 0x20 && *c != 0x7f;
        if (!ok)
            return bad(e, "health.path", "%s: %s",
                       "must start with / and contain no spaces or control characters");
        snprintf(s->hspec.path, sizeof s->hspec.path, "%s", path);
    }
    static const struct {
        const char *key;
        size_t      off; /* of a uint32_t in struct health_spec */
        long long   lo, hi;
    } ints[] = {
        {"interval_ms", offsetof(struct health_spec, interval_ms), 100, 3600000},
        {"timeout_ms", offsetof(struct health_spec, timeout_ms), 10, 600000},
        {"healthy_threshold", offsetof(struct health_spec, healthy_threshold), 1, 100},
        {"unhealthy_threshold", offsetof(struct health_spec, unhealthy_threshold), 1, 100},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        uint32_t *field = (uint32_t *)((char *)&s->hspec + ints[i].off);
        v = *field;
        if (opt_int(h, ints[i].key, "health.", ints[i].lo, ints[i].hi, &v, e) != 0)
            return -1;
        *field = (uint32_t)v;
    }
    return 0;
}

int msvc_apply_put(struct msvc *s, json_t *body, int creating, struct model_err *e)
{
    const char *proto = NULL, *nanoid = NULL;

    if (!json_is_object(body))
        return bad(e, "body", "%s: must be a JSON %s", "object");
    json_t *ports = json_object_get(body, "ports");
    if (ports == NULL && creating)
        return bad(e, "ports", "%s: %s", "required");
    if (ports != NULL && parse_ports(s, ports, e) != 0)
        return -1;
    if (opt_str(body, "protocol", "", 16, &proto, e) != 0 ||
        opt_str(body, "nanoid", "", 64, &nanoid, e) != 0)
        return -1;
    if (proto != NULL) {
        int k = NAME_INDEX(proto_names, proto);
        if (k < 0)
            return bad(e, "protocol", "%s: must be %s",
                       "\"http\", \"postgres\", \"redis\" or \"tcp\"");
        if (creating)
            s->hkind = k == PROTO_HTTP ? HEALTH_KIND_HTTP : HEALTH_KIND_TCP;
        s->proto = (enum mproto)k;
    }
    if (nanoid != NULL) {
        if (!naming_nanoid_valid(nanoid, strlen(nanoid)))
            return bad(e, "nanoid", "%s: %s", "must be 8 characters of [0-9a-z]");
        if (!creating && strcmp(nanoid, s->nanoid) != 0) {
            e->status = 409;
            snprintf(e->code, sizeof e->code, "conflict");
            snprintf(e->message, sizeof e->message,
                     "the service already has nanoid %s; a nanoid never changes", s->nanoid);
            e->details = json_pack("{s:s,s:s}", "field", "nanoid", "nanoid", s->nanoid);
            return -1;
        }
        memcpy(s->nanoid, nanoid, NAMING_NANOID_LEN + 1);
    }
    json_t *h = json_object_get(body, "health");
    if (h != NULL && !json_is_null(h) && parse_health(s, h, e) != 0)
        return -1;
    if (s->npublic == 0 && s->proto == PROTO_HTTP)
        return bad(e, "ports", "%s: %s", "an http service needs at least one public port");
    return 0;
}

/* --- targets ------------------------------------------------------------------------- */

int mdep_parse_targets(struct mdep *d, json_t *targets, struct model_err *e)
{
    if (!json_is_array(targets) || json_array_size(targets) > MODEL_MAX_TARGETS)
        return bad(e, "targets", "%s: must be an array of at most %s targets", "1024");
    size_t n = json_array_size(targets);
    struct mtarget *v = calloc(n ? n : 1, sizeof(*v));
    char field[64];
    if (v == NULL) {
        e->status = 500;
        snprintf(e->code, sizeof e->code, "internal");
        snprintf(e->message, sizeof e->message, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(targets, i);
        const char *addr = NULL;
        char path[32];
        snprintf(path, sizeof path, "targets[%zu].", i);
        if (!json_is_object(t)) {
            snprintf(field, sizeof field, "targets[%zu]", i);
            bad(e, field, "%s: must be an %s", "object");
            goto fail;
        }
        if (opt_str(t, "address", path, sizeof v[i].address - 1, &addr, e) != 0)
            goto fail;
        snprintf(field, sizeof field, "targets[%zu].address", i);
        struct sockaddr_in *in = (struct sockaddr_in *)&v[i].sa;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&v[i].sa;
        if (addr == NULL) {
            bad(e, field, "%s: %s", "required");
            goto fail;
        } else if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
            in->sin_family = AF_INET;
            v[i].salen = sizeof(*in);
        } else if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
            in6->sin6_family = AF_INET6;
            v[i].salen = sizeof(*in6);
        } else {
            bad(e, field, "%s: %s", "must be an IPv4 or IPv6 address (no DNS names)");
            goto fail;
        }
        snprintf(v[i].address, sizeof v[i].address, "%s", addr);
        json_t *ports = json_object_get(t, "ports");
        snprintf(field, sizeof field, "targets[%zu].ports", i);
        /* More ports than the service has are kept (a later PUT may add service ports
         * again) and unused; fewer fall back to the service's port numbers. */
        if (ports != NULL && (!json_is_array(ports) || json_array_size(ports) > MODEL_MAX_PORTS)) {
            bad(e, field, "%s: must be an array of at most %s ports", "16");
            goto fail;
        }
        for (size_t k = 0; ports != NULL && k < json_array_size(ports); k++) {
            json_t *p = json_array_get(ports, k);
            if (!json_is_integer(p) || json_integer_value(p) < 1 || json_integer_value(p) > 65535) {
                snprintf(field, sizeof field, "targets[%zu].ports[%zu]", i, k);
                bad(e, field, "%s: must be an integer from %s", "1 to 65535");
                goto fail;
            }
            v[i].ports[k] = (uint16_t)json_integer_value(p);
            v[i].nports = (uint8_t)(k + 1);
        }
    }
    free(d->targets);
    d->targets = v;
    d->ntargets = (uint32_t)n;
    return 0;
fail:
    free(v);
    return -1;
}

/* --- stored form --------------------------------------------------------------------- */

static json_t *targets_json(const struct mdep *d)
{
    json_t *a = json_array();
    for (uint32_t i = 0; a != NULL && i < d->ntargets; i++) {
        json_t *ports = json_array();
        for (uint32_t k = 0; ports != NULL && k < d->targets[i].nports; k++)
            json_array_append_new(ports, json_integer(d->targets[i].ports[k]));
        json_array_append_new(a, json_pack("{s:s,s:o}", "address", d->targets[i].address,
                                           "ports", ports));
    }
    return a;
}

static json_t *health_json(const struct msvc *s)
{
    return json_pack("{s:s,s:s,s:I,s:I,s:I,s:I}", "type", health_names[s->hkind], "path",
                     s->hspec.path, "interval_ms", (json_int_t)s->hspec.interval_ms,
                     "timeout_ms", (json_int_t)s->hspec.timeout_ms, "healthy_threshold",
                     (json_int_t)s->hspec.healthy_threshold, "unhealthy_threshold",
                     (json_int_t)s->hspec.unhealthy_threshold);
}

static json_t *ports_json(const struct msvc *s)
{
    json_t *a = json_array();
    for (uint32_t i = 0; a != NULL && i < s->nports; i++)
        json_array_append_new(a, json_pack("{s:i,s:b}", "port", s->ports[i].port, "public",
                                           s->ports[i].public));
    return a;
}

json_t *msvc_to_store(const struct msvc *s)
{
    json_t *deps = json_array();
    for (uint32_t i = 0; deps != NULL && i < s->ndeps; i++) {
        const struct mdep *d = s->deps[i];
        json_array_append_new(deps, json_pack("{s:s,s:s,s:I,s:s,s:o}", "id", d->id, "sha",
                                              d->sha, "seq", (json_int_t)d->seq, "phase",
                                              phase_names[d->phase], "targets",
                                              targets_json(d)));
    }
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o}", "project", s->project,
                     "environment", s->env, "service", s->name, "nanoid", s->nanoid,
                     "protocol", proto_names[s->proto], "ports", ports_json(s), "health",
                     health_json(s), "deployments", deps);
}

/* Copies a name into dst and its normalised label into ndst. */
int msvc_set_name(char *dst, char *ndst, const char *src)
{
    size_t len = strlen(src);
    if (len == 0 || len > MODEL_NAME_MAX)
        return -1;
    memcpy(dst, src, len + 1);
    return naming_label_normalise(src, len, ndst, MODEL_NAME_MAX + 1) > 0 ? 0 : -1;
}

int mdep_set_id7(struct mdep *d)
{
    if (d->sha[0] != '\0')
        return naming_sha7(d->sha, strlen(d->sha), d->id7);
    naming_fallback7(d->id, strlen(d->id), d->id7);
    return 0;
}

struct msvc *msvc_from_store(const char *key, json_t *j, char *err, size_t errlen)
{
    struct msvc *s = calloc(1, sizeof(*s));
    const char *p, *e, *n, *nanoid, *proto, *htype, *hpath;
    char scratch[MODEL_NAME_MAX + 1];
    json_t *ports, *deps;
    json_int_t iv, tv, ht, ut;
    json_error_t jerr;
    struct model_err me = {0};

    if (s == NULL) {
        snprintf(err, errlen, "%s: out of memory", key);
        return NULL;
    }
    if (json_unpack_ex(j, &jerr, JSON_STRICT, "{s:s,s:s,s:s,s:s,s:s,s:o,s:{s:s,s:s,s:I,s:I,s:I,s:I},s:o}",
                       "project", &p, "environment", &e, "service", &n, "nanoid", &nanoid,
                       "protocol", &proto, "ports", &ports, "health", "type", &htype, "path",
                       &hpath, "interval_ms", &iv, "timeout_ms", &tv, "healthy_threshold", &ht,
                       "unhealthy_threshold", &ut, "deployments", &deps) != 0) {
        snprintf(err, errlen, "service %s: %s", key, jerr.text);
        goto fail;
    }
    snprintf(s->key, sizeof s->key, "%s", key);
    if (msvc_set_name(s->project, s->np, p) != 0 || msvc_set_name(s->env, scratch, e) != 0 ||
        msvc_set_name(s->name, s->ns, n) != 0 ||
        !naming_nanoid_valid(nanoid, strlen(nanoid)) || NAME_INDEX(proto_names, proto) < 0 ||
        NAME_INDEX(health_names, htype) < 0 || strlen(hpath) >= sizeof s->hspec.path ||
        iv < 1 || tv < 1 || ht < 1 || ut < 1 || iv > UINT32_MAX || tv > UINT32_MAX ||
        ht > 100 || ut > 100) {
        snprintf(err, errlen, "service %s: invalid name, nanoid, protocol or health", key);
        goto fail;
    }
    memcpy(s->nanoid, nanoid, sizeof s->nanoid);
    s->proto = (enum mproto)NAME_INDEX(proto_names, proto);
    s->hkind = (enum mhealth)NAME_INDEX(health_names, htype);
    health_spec_defaults(&s->hspec);
    snprintf(s->hspec.path, sizeof s->hspec.path, "%s", hpath);
    s->hspec.interval_ms = (uint32_t)iv;
    s->hspec.timeout_ms = (uint32_t)tv;
    s->hspec.healthy_threshold = (uint32_t)ht;
    s->hspec.unhealthy_threshold = (uint32_t)ut;
    if (parse_ports(s, ports, &me) != 0 || !json_is_array(deps)) {
        snprintf(err, errlen, "service %s: %s", key, me.message[0] ? me.message : "deployments");
        goto fail;
    }
    s->deps = calloc(json_array_size(deps) + 1, sizeof(*s->deps));
    if (s->deps == NULL)
        goto nomem;
    for (size_t i = 0; i < json_array_size(deps); i++) {
        const char *id, *sha, *phase;
        json_int_t seq;
        json_t *targets;
        struct mdep *d = calloc(1, sizeof(*d));
        if (d == NULL)
            goto nomem;
        s->deps[s->ndeps++] = d;
        if (json_unpack_ex(json_array_get(deps, i), &jerr, JSON_STRICT, "{s:s,s:s,s:I,s:s,s:o}",
                           "id", &id, "sha", &sha, "seq", &seq, "phase", &phase, "targets",
                           &targets) != 0 ||
            strlen(id) == 0 || strlen(id) > MODEL_ID_MAX || strlen(sha) > NAMING_SHA_MAX ||
            NAME_INDEX(phase_names, phase) < 0 || seq < 0) {
            snprintf(err, errlen, "service %s: deployments[%zu]: %s", key, i,
                     jerr.text[0] ? jerr.text : "invalid id, sha, seq or phase");
            goto fail;
        }
        snprintf(d->id, sizeof d->id, "%s", id);
        snprintf(d->sha, sizeof d->sha, "%s", sha);
        d->seq = (uint64_t)seq;
        d->phase = (enum mphase)NAME_INDEX(phase_names, phase);
        if (mdep_set_id7(d) != 0 || mdep_parse_targets(d, targets, &me) != 0) {
            snprintf(err, errlen, "service %s: deployments[%zu]: %s", key, i,
                     me.message[0] ? me.message : "invalid sha");
            goto fail;
        }
    }
    model_err_clear(&me);
    return s;
nomem:
    snprintf(err, errlen, "service %s: out of memory", key);
fail:
    model_err_clear(&me);
    msvc_free(s);
    return NULL;
}

/* --- the API's view ------------------------------------------------------------------ */

int model_fqdn(struct model *m, const struct msvc *s, const char *id, uint32_t port,
               char *out, size_t cap)
{
    char label[NAMING_LABEL_MAX + 1];
    int n = naming_host_label(label, sizeof label, s->np, s->ns, id, port);
    if (n < 0)
        return n;
    return naming_host_fqdn(out, cap, label, m->o.domain);
}

static json_t *url_json(struct model *m, const struct msvc *s, const char *host)
{
    static const char *const schemes[] = {NULL, "postgresql", "rediss", "tcp"};
    const char *scheme = s->proto == PROTO_HTTP ? m->o.url_scheme : schemes[s->proto];
    char url[NAMING_FQDN_MAX + 32];
    if (m->o.url_port != 0 && s->proto == PROTO_HTTP)
        snprintf(url, sizeof url, "%s://%s:%u", scheme, host, m->o.url_port);
    else
        snprintf(url, sizeof url, "%s://%s", scheme, host);
    return json_string(url);
}

/* {"url"/"host" of port 1, "ports":[{"n","port","url","host"}]} under the given names. */
static json_t *urls_json(struct model *m, const struct msvc *s, const char *id,
                         const char *url_key, const char *host_key)
{
    json_t *o = json_object(), *ports = json_array();
    char host[NAMING_FQDN_MAX + 1];
    uint32_t n = 0;

    for (uint32_t i = 0; i < s->nports; i++) {
        if (!s->ports[i].public)
            continue;
        if (model_fqdn(m, s, id, ++n, host, sizeof host) < 0)
            continue;
        if (n == 1) {
            json_object_set_new(o, url_key, url_json(m, s, host));
            json_object_set_new(o, host_key, json_string(host));
        }
        json_array_append_new(ports, json_pack("{s:i,s:i,s:o,s:s}", "n", n, "port",
                                               s->ports[i].port, url_key,
                                               url_json(m, s, host), host_key, host));
    }
    json_object_set_new(o, "ports", ports);
    return o;
}

const char *mdep_state(const struct mdep *d)
{
    switch (d->phase) {
    case PHASE_ACTIVE:
        return "active";
    case PHASE_PREVIOUS:
        return d->rt != NULL && d->rt->draining ? "draining" : "retained";
    default:
        break;
    }
    if (d->rt != NULL && d->rt->nup > 0)
        return "healthy";
    if (d->rt != NULL && d->rt->unhealthy)
        return "unhealthy";
    return "pending";
}

json_t *mdep_to_api(struct model *m, const struct msvc *s, const struct mdep *d)
{
    json_t *targets = targets_json(d);
    for (uint32_t i = 0; i < d->ntargets; i++) {
        int up = d->rt != NULL && i < d->rt->nchecks && d->rt->checks[i].up;
        json_object_set_new(json_array_get(targets, i), "healthy", json_boolean(up));
    }
    json_t *urls = urls_json(m, s, d->id7, "deployment_url", "deployment_host");
    return json_pack("{s:s,s:o,s:s,s:s,s:o,s:i,s:o}", "id", d->id, "sha",
                     d->sha[0] ? json_string(d->sha) : json_null(), "host_id", d->id7, "state",
                     mdep_state(d), "targets", targets, "healthy_targets",
                     d->rt ? (int)d->rt->nup : 0, "urls", urls);
}

json_t *msvc_to_api(struct model *m, const struct msvc *s)
{
    json_t *deps = json_array();
    const struct mdep *active = NULL;
    for (uint32_t i = 0; i < s->ndeps; i++) {
        json_array_append_new(deps, mdep_to_api(m, s, s->deps[i]));
        if (s->deps[i]->phase == PHASE_ACTIVE)
            active = s->deps[i];
    }
    json_t *urls = urls_json(m, s, s->nanoid, "external_url", "external_host");
    if (active != NULL) {
        char host[NAMING_FQDN_MAX + 1];
        if (model_fqdn(m, s, active->id7, 1, host, sizeof host) > 0)
            json_object_set_new(urls, "deployment_url", url_json(m, s, host));
    } else {
        json_object_set_new(urls, "deployment_url", json_null());
    }
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:[],s:o}", "project", s->project,
                     "environment", s->env, "service", s->name, "nanoid", s->nanoid,
                     "protocol", proto_names[s->proto], "ports", ports_json(s), "health",
                     health_json(s), "active", active ? json_string(active->id) : json_null(),
                     "deployments",
                     deps, "domains", "urls", urls);
}
