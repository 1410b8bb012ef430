/*
 * api: CONTRACT §2's endpoints. The HTTP layer (http_server.c) has already parsed,
 * bounded and authenticated the request; this file maps (method, path) to a model
 * operation, enforces If-Match, and turns results into JSON answers with the generation
 * as ETag.
 *
 * A promote with require_healthy and wait_ms waits here, not in the model: it is parked
 * until a health event makes the deployment ready or its timer runs out, and then runs
 * as a normal promote (which answers 409 if the deployment is still unhealthy).
 */
#include "control/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/http_server.h"
#include "control/metrics.h"
#include "control/model.h"
#include "router/base/list.h"
#include "router/base/log.h"
#include "router/router.h"
#include "router/settings.h"

#define MAX_SEGMENTS 8

struct waiting_promote {
    struct list_node    link;
    struct control_api *api;
    struct ctl_request *req;
    uv_timer_t          timer;
    char               *seg[5]; /* p, e, s, id, and the If-Match value or NULL (owned) */
    long                drain_ms;
};

struct event_stream {
    struct list_node link;
    struct ctl_sse  *sse;
};

struct control_api {
    uv_loop_t         *loop;
    struct ctl_server *server;
    struct model      *model;
    struct router     *router;
    struct list_node   waiting; /* struct waiting_promote */
    struct list_node   streams; /* struct event_stream */
    int                rechecking, recheck_again; /* waiting_recheck is not re-entered */
};

/* --- answers ---------------------------------------------------------------------------- */

static void etag_header(struct control_api *a, char *out, size_t cap)
{
    snprintf(out, cap, "ETag: \"%llu\"\r\n", (unsigned long long)model_generation(a->model));
}

static void answer(struct control_api *a, struct ctl_request *req, int status, json_t *body)
{
    char etag[64];
    etag_header(a, etag, sizeof etag);
    if (status == 204 || body == NULL) {
        ctl_respond(req, status, etag, NULL, NULL, 0);
    } else {
        char *text = json_dumps(body, JSON_COMPACT);
        if (text == NULL)
            ctl_respond_error(req, 500, "internal", "out of memory", NULL);
        else
            ctl_respond_json(req, status, etag, text);
        free(text);
    }
    json_decref(body);
}

static void answer_error(struct ctl_request *req, struct model_err *e)
{
    char *details = e->details ? json_dumps(e->details, JSON_COMPACT) : NULL;
    ctl_respond_error(req, e->status, e->code, e->message, details);
    free(details);
    model_err_clear(e);
}

/* A model result: status >= 0 with out, or -1 with e. */
static void answer_result(struct control_api *a, struct ctl_request *req, int status,
                          json_t *out, struct model_err *e)
{
    if (status < 0)
        answer_error(req, e);
    else
        answer(a, req, status, out);
}

/* --- If-Match ---------------------------------------------------------------------------- */

/* 1 when the If-Match value names the current generation ("7", 7, W/"7" or *). */
static int if_match_ok(struct control_api *a, const char *v)
{
    if (v == NULL || strcmp(v, "*") == 0)
        return 1;
    if (strncmp(v, "W/", 2) == 0)
        v += 2;
    char *end;
    const char *p = *v == '"' ? v + 1 : v;
    errno = 0;
    unsigned long long g = strtoull(p, &end, 10);
    if (errno != 0 || end == p || (*v == '"' ? strcmp(end, "\"") != 0 : *end != '\0'))
        return 0;
    return g == model_generation(a->model);
}

static int precondition(struct control_api *a, struct ctl_request *req, const char *if_match)
{
    if (if_match_ok(a, if_match))
        return 0;
    char details[64];
    snprintf(details, sizeof details, "{\"generation\":%llu}",
             (unsigned long long)model_generation(a->model));
    ctl_respond_error(req, 412, "precondition_failed",
                      "If-Match does not name the current generation", details);
    return -1;
}

/* --- bodies ------------------------------------------------------------------------------ */

static json_t *parse_body(struct ctl_request *req, const struct ctl_request_view *v)
{
    json_error_t jerr;
    /* The body is parsed as JSON whatever Content-Type says: curl -d sends
     * application/x-www-form-urlencoded, and refusing that helps nobody. */
    json_t *j = json_loadb(v->body, v->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) {
        char msg[256], details[128];
        snprintf(msg, sizeof msg, "invalid JSON: %s", jerr.text);
        snprintf(details, sizeof details, "{\"field\":\"body\",\"line\":%d,\"column\":%d}",
                 jerr.line, jerr.column);
        ctl_respond_error(req, 400, "invalid_json", msg, details);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        ctl_respond_error(req, 400, "invalid_json", "the body must be a JSON object",
                          "{\"field\":\"body\"}");
        return NULL;
    }
    return j;
}

/* --- promote ----------------------------------------------------------------------------- */

static void waiting_close_cb(uv_handle_t *h)
{
    struct waiting_promote *w = h->data;
    for (int i = 0; i < 5; i++)
        free(w->seg[i]);
    free(w);
}

static void promote_now(struct control_api *a, struct ctl_request *req, char *const seg[5],
                        long drain_ms)
{
    struct model_err e = {0};
    json_t *out = NULL;
    if (precondition(a, req, seg[4]) != 0)
        return;
    int st = model_promote(a->model, seg[0], seg[1], seg[2], seg[3], 1, drain_ms, &out, &e);
    answer_result(a, req, st, out, &e);
}

static void waiting_finish(struct waiting_promote *w)
{
    list_unlink(&w->link);
    uv_timer_stop(&w->timer);
    promote_now(w->api, w->req, w->seg, w->drain_ms);
    uv_close((uv_handle_t *)&w->timer, waiting_close_cb);
}

static void on_wait_timeout(uv_timer_t *t)
{
    waiting_finish(t->data);
}

static void promote(struct control_api *a, struct ctl_request *req,
                    const struct ctl_request_view *v, char *const seg[])
{
    json_t *out = NULL;
    struct model_err e = {0};
    json_t *body = v->body_len ? parse_body(req, v) : json_object();
    if (body == NULL)
        return;
    json_t *rh = json_object_get(body, "require_healthy"), *wait = json_object_get(body, "wait_ms");
    json_t *drain = json_object_get(body, "drain_ms");
    const char *bad = rh && !json_is_boolean(rh) ? "require_healthy"
                      : wait && (!json_is_integer(wait) || json_integer_value(wait) < 0 ||
                                 json_integer_value(wait) > 600000) ? "wait_ms"
                      : drain && (!json_is_integer(drain) || json_integer_value(drain) < 0 ||
                                  json_integer_value(drain) > 86400000) ? "drain_ms" : NULL;
    if (bad != NULL) {
        char msg[128], details[64];
        snprintf(msg, sizeof msg, "%s: must be %s", bad,
                 rh && !json_is_boolean(rh) ? "a boolean"
                 : strcmp(bad, "wait_ms") == 0 ? "an integer from 0 to 600000"
                                               : "an integer from 0 to 86400000");
        snprintf(details, sizeof details, "{\"field\":\"%s\"}", bad);
        json_decref(body);
        ctl_respond_error(req, 400, "invalid_field", msg, details);
        return;
    }
    int require = rh == NULL || json_is_true(rh);
    long wait_ms = wait ? (long)json_integer_value(wait) : 0;
    long drain_ms = drain ? (long)json_integer_value(drain) : -1;
    json_decref(body);
    int ready = model_deployment_ready(a->model, seg[0], seg[1], seg[2], seg[3]);
    if (!require || ready != 0 || wait_ms == 0) {
        int st = model_promote(a->model, seg[0], seg[1], seg[2], seg[3], require, drain_ms,
                               &out, &e);
        answer_result(a, req, st, out, &e);
        return;
    }
    struct waiting_promote *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        ctl_respond_error(req, 500, "internal", "out of memory", NULL);
        return;
    }
    const char *src[5] = {seg[0], seg[1], seg[2], seg[3], v->if_match};
    for (int i = 0; i < 5; i++) {
        if (src[i] != NULL && (w->seg[i] = strdup(src[i])) == NULL) {
            for (int k = 0; k < i; k++)
                free(w->seg[k]);
            free(w);
            ctl_respond_error(req, 500, "internal", "out of memory", NULL);
            return;
        }
    }
    w->api = a;
    w->req = req;
    w->drain_ms = drain_ms;
    uv_timer_init(a->loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_wait_timeout, (uint64_t)wait_ms, 0);
    list_push_tail(&a->waiting, &w->link);
}

/* Health changed somewhere: run the parked promotes whose deployment is now ready (or
 * gone: the promote then answers 404). */
static void waiting_recheck(struct control_api *a)
{
    /* A promote that runs here emits an event, which lands here again: note it and go
     * round once more instead of walking the list from inside its own walk. */
    if (a->rechecking) {
        a->recheck_again = 1;
        return;
    }
    a->rechecking = 1;
    do {
        a->recheck_again = 0;
        struct list_node *it, *tmp;
        list_for_each_safe(it, tmp, &a->waiting) {
            struct waiting_promote *w = container_of(it, struct waiting_promote, link);
            if (model_deployment_ready(a->model, w->seg[0], w->seg[1], w->seg[2], w->seg[3]) != 0) {
                waiting_finish(w);
                a->recheck_again = 1; /* the list may have changed under tmp */
                break;
            }
        }
    } while (a->recheck_again);
    a->rechecking = 0;
}

/* --- events ------------------------------------------------------------------------------- */

static void stream_closed(struct ctl_sse *s, void *ud)
{
    struct event_stream *es = ud;
    (void)s;
    list_unlink(&es->link);
    free(es);
}

static void events(struct control_api *a, struct ctl_request *req)
{
    struct event_stream *es = calloc(1, sizeof(*es));
    if (es == NULL) {
        ctl_respond_error(req, 500, "internal", "out of memory", NULL);
        return;
    }
    es->sse = ctl_sse_begin(req, stream_closed, es);
    if (es->sse == NULL) {
        free(es);
        return;
    }
    list_push_tail(&a->streams, &es->link);
    char hello[64];
    snprintf(hello, sizeof hello, "{\"generation\":%llu}",
             (unsigned long long)model_generation(a->model));
    ctl_sse_send(es->sse, model_generation(a->model), "hello", hello);
}

void control_api_event(struct control_api *a, uint64_t generation, const char *type,
                       json_t *data)
{
    if (a == NULL)
        return;
    json_t *copy = json_deep_copy(data);
    if (copy != NULL) {
        json_object_set_new(copy, "type", json_string(type));
        json_object_set_new(copy, "generation", json_integer((json_int_t)generation));
        char *text = json_dumps(copy, JSON_COMPACT);
        struct list_node *it, *tmp;
        list_for_each_safe(it, tmp, &a->streams) {
            struct event_stream *es = container_of(it, struct event_stream, link);
            ctl_sse_send(es->sse, generation, type, text ? text : "{}");
        }
        free(text);
        json_decref(copy);
    }
    waiting_recheck(a);
}

/* --- routing ------------------------------------------------------------------------------ */

static void not_found(struct ctl_request *req, const char *path)
{
    char details[300];
    json_t *d = json_pack("{s:s}", "path", path);
    char *t = d ? json_dumps(d, JSON_COMPACT) : NULL;
    snprintf(details, sizeof details, "%s", t ? t : "{}");
    free(t);
    json_decref(d);
    ctl_respond_error(req, 404, "not_found", "no such endpoint", details);
}

static void method_not_allowed(struct ctl_request *req, const char *allow)
{
    char hdr[96], msg[96];
    snprintf(hdr, sizeof hdr, "Allow: %s\r\n", allow);
    snprintf(msg, sizeof msg, "{\"error\":{\"code\":\"method_not_allowed\",\"message\":"
             "\"allowed: %s\",\"details\":{}}}", allow);
    ctl_respond(req, 405, hdr, "application/json", msg, strlen(msg));
}

static int is(const struct ctl_request_view *v, const char *method)
{
    return strcmp(v->method, method) == 0;
}

/* "project=x" from the query, percent-decoding not needed for [a-z0-9-] names; a name
 * with other bytes is matched as given. */
static int query_param(const char *query, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > n && strncmp(p, name, n) == 0 && p[n] == '=' && len - n - 1 < cap) {
            memcpy(out, p + n + 1, len - n - 1);
            out[len - n - 1] = '\0';
            return 1;
        }
        p = amp ? amp + 1 : NULL;
    }
    return 0;
}

/* /v1/services/{p}/{e}/{s}[/deployments[/{id}[/targets|/promote]]] */
static void services(struct control_api *a, struct ctl_request *req,
                     const struct ctl_request_view *v, char **seg, int n)
{
    struct model_err e = {0};
    json_t *out = NULL, *body = NULL;
    int st;

    if (n == 2) {
        if (!is(v, "GET"))
            return method_not_allowed(req, "GET");
        char project[128];
        int filtered = query_param(v->query, "project", project, sizeof project);
        if (model_list_services(a->model, filtered ? project : NULL, &out) != 200)
            return ctl_respond_error(req, 500, "internal", "out of memory", NULL);
        return answer(a, req, 200, out);
    }
    if (n < 5)
        return not_found(req, v->path);
    if (n == 6 && strcmp(seg[5], "domains") == 0)
        return ctl_respond_error(req, 501, "not_implemented",
                                 "custom domains arrive with ACME support", NULL);
    /* Every write checks If-Match first, before its body is looked at. */
    if ((is(v, "PUT") || is(v, "POST") || is(v, "DELETE")) &&
        precondition(a, req, v->if_match) != 0)
        return;
    if (n == 5) {
        if (is(v, "GET")) {
            st = model_get_service(a->model, seg[2], seg[3], seg[4], &out, &e);
        } else if (is(v, "PUT")) {
            if ((body = parse_body(req, v)) == NULL)
                return;
            st = model_put_service(a->model, seg[2], seg[3], seg[4], body, &out, &e);
        } else if (is(v, "DELETE")) {
            st = model_delete_service(a->model, seg[2], seg[3], seg[4], &e);
        } else {
            return method_not_allowed(req, "GET, PUT, DELETE");
        }
    } else if (strcmp(seg[5], "deployments") != 0) {
        return not_found(req, v->path);
    } else if (n == 6) {
        if (!is(v, "POST"))
            return method_not_allowed(req, "POST");
        if ((body = parse_body(req, v)) == NULL)
            return;
        st = model_create_deployment(a->model, seg[2], seg[3], seg[4], body, &out, &e);
    } else if (n == 7) {
        if (is(v, "GET"))
            st = model_get_deployment(a->model, seg[2], seg[3], seg[4], seg[6], &out, &e);
        else if (is(v, "DELETE"))
            st = model_delete_deployment(a->model, seg[2], seg[3], seg[4], seg[6], &e);
        else
            return method_not_allowed(req, "GET, DELETE");
    } else if (n == 8 && strcmp(seg[7], "targets") == 0) {
        if (!is(v, "PUT"))
            return method_not_allowed(req, "PUT");
        if ((body = parse_body(req, v)) == NULL)
            return;
        st = model_replace_targets(a->model, seg[2], seg[3], seg[4], seg[6], body, &out, &e);
    } else if (n == 8 && strcmp(seg[7], "promote") == 0) {
        if (!is(v, "POST"))
            return method_not_allowed(req, "POST");
        char *pseg[4] = {seg[2], seg[3], seg[4], seg[6]};
        return promote(a, req, v, pseg);
    } else {
        return not_found(req, v->path);
    }
    json_decref(body);
    answer_result(a, req, st, out, &e);
}

/* PUT|DELETE /v1/acme/http-01/{token}: the port-80 responder's token table. Not part of
 * the persisted state: a challenge lives for minutes and its ACME client makes it again. */
static void acme_http01(struct control_api *a, struct ctl_request *req,
                        const struct ctl_request_view *v, const char *token)
{
    if (is(v, "DELETE")) {
        int rc = router_http01_delete(a->router, token);
        if (rc == -ENOENT)
            return not_found(req, v->path);
        if (rc < 0)
            return ctl_respond_error(req, 500, "internal", "out of memory", NULL);
        return ctl_respond(req, 204, NULL, NULL, NULL, 0);
    }
    if (!is(v, "PUT"))
        return method_not_allowed(req, "PUT, DELETE");
    json_t *body = parse_body(req, v);
    if (body == NULL)
        return;
    json_t *ka = json_object_get(body, "key_authorization");
    int rc = json_is_string(ka) ? router_http01_set(a->router, token, json_string_value(ka))
                                : -EINVAL;
    if (rc == -EINVAL) {
        json_decref(body);
        return ctl_respond_error(req, 400, "invalid_field",
                                 "key_authorization: expected TOKEN.THUMBPRINT in base64url "
                                 "(at most 512 characters), with a base64url token in the path",
                                 "{\"field\":\"key_authorization\"}");
    }
    if (rc < 0) {
        json_decref(body);
        return ctl_respond_error(req, 500, "internal", "out of memory", NULL);
    }
    json_t *o = json_pack("{s:s,s:O}", "token", token, "key_authorization", ka);
    json_decref(body);
    answer(a, req, rc == 0 ? 201 : 200, o); /* 201: a new token, 200: replaced */
}

static void on_request(struct ctl_request *req, const struct ctl_request_view *v, void *ud)
{
    struct control_api *a = ud;
    char path[2048], *seg[MAX_SEGMENTS + 1];
    int n = 0;

    if (strcmp(v->path, "/v1/health") == 0) {
        if (!is(v, "GET"))
            return method_not_allowed(req, "GET");
        json_t *o = json_pack("{s:s,s:I}", "status", "ok", "generation",
                              (json_int_t)model_generation(a->model));
        return answer(a, req, 200, o);
    }
    if (strcmp(v->path, "/metrics") == 0) {
        if (!is(v, "GET"))
            return method_not_allowed(req, "GET");
        char *text = NULL;
        size_t len = 0;
        if (metrics_render(a->router, a->model, &text, &len) != 0)
            return ctl_respond_error(req, 500, "internal", "out of memory", NULL);
        ctl_respond(req, 200, NULL, "text/plain; version=0.0.4; charset=utf-8", text, len);
        free(text);
        return;
    }
    if (strcmp(v->path, "/v1/events") == 0) {
        if (!is(v, "GET"))
            return method_not_allowed(req, "GET");
        return events(a, req);
    }
    if (strlen(v->path) >= sizeof path || v->path[0] != '/')
        return not_found(req, v->path);
    strcpy(path, v->path + 1);
    for (char *p = path; p != NULL && n <= MAX_SEGMENTS;) {
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        seg[n++] = p;
        p = slash ? slash + 1 : NULL;
    }
    for (int i = 0; i < n; i++)
        if (seg[i][0] == '\0')
            return not_found(req, v->path); /* empty segment: "//" or a trailing "/" */
    if (n > MAX_SEGMENTS || n < 2 || strcmp(seg[0], "v1") != 0)
        return not_found(req, v->path);
    if (strcmp(seg[1], "services") == 0)
        return services(a, req, v, seg, n);
    if (n == 4 && strcmp(seg[1], "acme") == 0 && strcmp(seg[2], "http-01") == 0)
        return acme_http01(a, req, v, seg[3]);
    if (strcmp(seg[1], "domains") == 0)
        return ctl_respond_error(req, 501, "not_implemented",
                                 "custom domains arrive with ACME support", NULL);
    if (strcmp(seg[1], "tunnels") == 0)
        return ctl_respond_error(req, 501, "not_implemented",
                                 "tunnel tokens arrive with database tunnels", NULL);
    not_found(req, v->path);
}

/* --- lifecycle ---------------------------------------------------------------------------- */

struct control_api *control_api_start(uv_loop_t *loop, const struct edge_config *cfg,
                                      struct model *m, struct router *r,
                                      const char *const *tokens, size_t ntokens, char *err,
                                      size_t errlen)
{
    struct control_api *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        snprintf(err, errlen, "control: out of memory");
        return NULL;
    }
    a->loop = loop;
    a->model = m;
    a->router = r;
    list_init(&a->waiting);
    list_init(&a->streams);
    struct ctl_server_options o = {
        .addr = (const struct sockaddr *)&cfg->control.listen.sa,
        .addrlen = cfg->control.listen.salen,
        .max_body = cfg->limits.control_body,
        .tokens = tokens,
        .ntokens = ntokens,
        .idle_ms = cfg->timeouts.idle_ms ? cfg->timeouts.idle_ms : 60000,
        .handler = on_request,
        .ud = a,
    };
    char e2[256];
    a->server = ctl_server_start(loop, &o, e2, sizeof e2);
    if (a->server == NULL) {
        snprintf(err, errlen, "control.listen %s", e2);
        free(a);
        return NULL;
    }
    log_info("control API on %s", cfg->control.listen.text);
    return a;
}

int control_api_set_tokens(struct control_api *a, const char *const *tokens, size_t ntokens)
{
    return ctl_server_set_tokens(a->server, tokens, ntokens);
}

void control_api_close(struct control_api *a)
{
    if (a == NULL)
        return;
    struct list_node *it, *tmp;
    list_for_each_safe(it, tmp, &a->waiting) {
        struct waiting_promote *w = container_of(it, struct waiting_promote, link);
        list_unlink(&w->link);
        uv_timer_stop(&w->timer);
        uv_close((uv_handle_t *)&w->timer, waiting_close_cb);
    }
    list_for_each_safe(it, tmp, &a->streams) {
        struct event_stream *es = container_of(it, struct event_stream, link);
        list_unlink(&es->link);
        ctl_sse_end(es->sse);
        free(es);
    }
    ctl_server_close(a->server);
    free(a);
}
