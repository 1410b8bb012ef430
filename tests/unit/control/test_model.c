/*
 * Unit tests for the control-plane model (control/model.h, CONTRACT §1 and §2 as described
 * in docs/control-api.md): services, deployments, generated hostnames and who owns them,
 * route publication through the route table, health-gated promotes, drains, durability and
 * all-or-nothing writes.
 *
 * Fixture: a real router (router_create + router_run with one worker thread: a router that
 * never ran cannot be torn down without leaking its workers, see the report), a libuv loop
 * of our own for health checks and drain timers (run only when a test pumps it), a file
 * store in a mkdtemp directory, and a model on top (domain "hostess.localhost", drain 50 ms)
 * whose events are recorded. The test thread is the route table's writer; it observes
 * routing with route_table_lookup().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <uv.h>

#include "control/model.h"
#include "control/store.h"
#include "router/base/log.h"
#include "router/route_table.h"
#include "router/router.h"
#include "router/settings.h"
#include "tests/support/rm_rf.h"

#define DOMAIN ".hostess.localhost"
#define MAX_EVENTS 512

/* ---- fixture ----------------------------------------------------------------------- */

struct env {
    int             loop_ok;
    uv_loop_t       loop;
    uv_timer_t      tick;    /* keeps a pumped loop from blocking (see RUN_UNTIL) */
    struct router  *router;
    struct store   *store;
    struct model   *model;
};

struct event {
    char     type[40];
    uint64_t generation;
    char     deployment[80];
    char     state[24];
};

/* A health-check target: a TCP server on an env's loop answering every request with
 * "HTTP/1.1 200 OK". port is first so that the handle's data never points at itself
 * (env_close frees the connections, whose data does). */
struct hsrv {
    int      port;
    unsigned hits;
    uv_tcp_t tcp;
};

struct fx {
    char         dir[64];          /* /tmp/test_model.XXXXXX */
    char         path[128];        /* dir/state.json */
    char         tmp[160];         /* path.journal: a directory there makes commits fail */
    struct env   env[2];           /* [1]: a restart on the same state file */
    struct event ev[MAX_EVENTS];
    size_t       nev;
    struct hsrv  srv[2];
};

static void on_event(void *ud, uint64_t generation, const char *type, json_t *data)
{
    struct fx *fx = ud;
    struct event *ev;
    json_t *v;

    if (fx->nev >= MAX_EVENTS)
        return;
    ev = &fx->ev[fx->nev++];
    memset(ev, 0, sizeof(*ev));
    snprintf(ev->type, sizeof(ev->type), "%s", type);
    ev->generation = generation;
    if ((v = json_object_get(data, "deployment")) != NULL && json_is_string(v))
        snprintf(ev->deployment, sizeof(ev->deployment), "%s", json_string_value(v));
    if ((v = json_object_get(data, "state")) != NULL && json_is_string(v))
        snprintf(ev->state, sizeof(ev->state), "%s", json_string_value(v));
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

/* Closes what is left on a loop at the end; heap handles mark themselves with data == h. */
static void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, h->data == (void *)h ? free_handle : NULL);
}

static void tick_cb(uv_timer_t *t)
{
    (void)t;
}

/* A loopback port nobody listens on (bound, then closed), or -1. */
static int unused_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Router (one worker, running), loop, store at fx->path, model loaded from it. The config
 * refuses port 0, so the listener takes a port found free just before. 0, or -1 with a
 * message (what was built is left for env_close). */
static int env_open(struct fx *fx, struct env *e)
{
    char err[1024], yaml[128];
    struct edge_config *cfg;
    struct router_snapshot *snap;
    int port = unused_port();

    memset(e, 0, sizeof(*e));
    if (port < 0 || uv_loop_init(&e->loop) != 0) {
        print_error("no port or no loop\n");
        return -1;
    }
    e->loop_ok = 1;
    uv_timer_init(&e->loop, &e->tick);
    snprintf(yaml, sizeof(yaml), "listen: {http: \"127.0.0.1:%d\"}\ncontrol: {listen: \"off\"}\n",
             port);
    cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL || edge_config_load_string("t", yaml, strlen(yaml), cfg, err, sizeof(err)) != 0) {
        print_error("edge_config_load_string: %s\n", cfg ? err : "out of memory");
        free(cfg);
        return -1;
    }
    snap = calloc(1, sizeof(*snap));
    if (snap == NULL) {
        edge_config_free(cfg);
        free(cfg);
        return -1;
    }
    snap->cfg = cfg;
    e->router = router_create(snap, 1, err, sizeof(err));
    if (e->router == NULL) {
        print_error("router_create: %s\n", err);
        return -1;
    }
    if (router_run(e->router, err, sizeof(err)) != 0) {
        print_error("router_run: %s\n", err);
        return -1;
    }
    e->store = store_open_file(fx->path, err, sizeof(err));
    if (e->store == NULL) {
        print_error("store_open_file: %s\n", err);
        return -1;
    }
    struct model_options o = {
        .loop = &e->loop,
        .router = e->router,
        .store = e->store,
        .domain = "hostess.localhost",
        .url_scheme = "http",
        .url_port = 0,
        .drain_ms = 50,
        .on_event = on_event,
        .ud = fx,
    };
    e->model = model_new(&o);
    if (e->model == NULL) {
        print_error("model_new: out of memory\n");
        return -1;
    }
    if (model_load(e->model, err, sizeof(err)) != 0) {
        print_error("model_load: %s\n", err);
        return -1;
    }
    return 0;
}

/* model_free, then the loop until every handle is closed, then the router (drain, join,
 * free: router_join of a router that never ran would join threads that do not exist). */
static void env_close(struct env *e)
{
    if (e->model != NULL) {
        model_free(e->model);
        e->model = NULL;
    }
    if (e->loop_ok) {
        uv_walk(&e->loop, walk_close, NULL);
        uv_run(&e->loop, UV_RUN_DEFAULT);
        int rc = uv_loop_close(&e->loop);
        e->loop_ok = 0;
        if (rc != 0)
            print_error("uv_loop_close: %s\n", uv_strerror(rc));
    }
    if (e->router != NULL) {
        router_drain(e->router, 0);
        router_join(e->router);
        router_free(e->router);
        e->router = NULL;
    }
    if (e->store != NULL) {
        store_close(e->store);
        e->store = NULL;
    }
}

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));

    if (fx == NULL)
        return -1;
    strcpy(fx->dir, "/tmp/test_model.XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        free(fx);
        return -1;
    }
    snprintf(fx->path, sizeof(fx->path), "%s/state.json", fx->dir);
    snprintf(fx->tmp, sizeof(fx->tmp), "%s.journal", fx->path);
    *state = fx;
    if (env_open(fx, &fx->env[0]) != 0) {
        env_close(&fx->env[0]);
        rm_rf(fx->dir);
        free(fx);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    struct fx *fx = *state;

    env_close(&fx->env[1]);
    env_close(&fx->env[0]);
    rm_rf(fx->dir);
    free(fx);
    return 0;
}

/* Pumps e's loop until cond holds or ms pass; the tick timer bounds each turn. */
#define RUN_UNTIL(e, ms, cond)                                                            \
    do {                                                                                  \
        uint64_t dl_ = uv_hrtime() + (uint64_t)(ms) * 1000000u;                           \
        uv_timer_start(&(e)->tick, tick_cb, 2, 2);                                        \
        while (!(cond) && uv_hrtime() < dl_)                                              \
            uv_run(&(e)->loop, UV_RUN_ONCE);                                              \
        uv_timer_stop(&(e)->tick);                                                        \
    } while (0)

/* ---- a health-check target --------------------------------------------------------- */

struct hconn {
    uv_tcp_t     tcp;      /* first: data == the handle == the allocation */
    uv_write_t   w;
    char         buf[1024];
    int          answered;
    struct hsrv *srv;
};

static const char http_ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

static void hconn_close(struct hconn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, free_handle);
}

static void hconn_alloc(uv_handle_t *h, size_t size, uv_buf_t *b)
{
    struct hconn *c = (struct hconn *)h;
    (void)size;
    b->base = c->buf;
    b->len = sizeof(c->buf);
}

static void hconn_written(uv_write_t *w, int status)
{
    (void)status;
    hconn_close(w->data);
}

static void hconn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct hconn *c = (struct hconn *)s;
    (void)b;
    if (n < 0) {
        hconn_close(c);
        return;
    }
    if (n > 0 && !c->answered) {
        uv_buf_t r = uv_buf_init((char *)http_ok, sizeof(http_ok) - 1);
        c->answered = 1;
        c->srv->hits++;
        c->w.data = c;
        if (uv_write(&c->w, s, &r, 1, hconn_written) != 0)
            hconn_close(c);
    }
}

static void hsrv_conn(uv_stream_t *l, int status)
{
    struct hsrv *srv = l->data;
    struct hconn *c;

    if (status < 0 || (c = calloc(1, sizeof(*c))) == NULL)
        return;
    uv_tcp_init(l->loop, &c->tcp);
    c->tcp.data = c;
    c->srv = srv;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, hconn_alloc, hconn_read) != 0)
        hconn_close(c);
}

static void hsrv_start(struct env *e, struct hsrv *srv)
{
    struct sockaddr_in sa;
    struct sockaddr_storage got;
    int len = sizeof(got);

    memset(srv, 0, sizeof(*srv));
    assert_int_equal(uv_tcp_init(&e->loop, &srv->tcp), 0);
    srv->tcp.data = srv;
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sa), 0);
    assert_int_equal(uv_tcp_bind(&srv->tcp, (struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&srv->tcp, 64, hsrv_conn), 0);
    assert_int_equal(uv_tcp_getsockname(&srv->tcp, (struct sockaddr *)&got, &len), 0);
    srv->port = ntohs(((struct sockaddr_in *)&got)->sin_port);
}

static int closed_port(void)
{
    int port = unused_port();

    assert_true(port > 0);
    return port;
}

/* ---- JSON and model calls ------------------------------------------------------------ */

static json_t *js(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);

    if (v == NULL)
        fail_msg("bad test JSON %s: %s", text, e.text);
    return v;
}

/* printf into a JSON body. */
static json_t *jsf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *jsf(const char *fmt, ...)
{
    char buf[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    return js(buf);
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_string(v))
        fail_msg("\"%s\" is not a string", key);
    return json_string_value(v);
}

static long long jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_integer(v))
        fail_msg("\"%s\" is not an integer", key);
    return json_integer_value(v);
}

/* Checks a failed call: -1, status, code and (when field) details.field. Clears err. */
static void expect_err(int rc, struct model_err *err, int status, const char *code,
                       const char *field)
{
    if (rc != -1)
        fail_msg("expected %d %s, got %d", status, code, rc);
    if (err->status != status || strcmp(err->code, code) != 0)
        fail_msg("expected %d %s, got %d %s: %s", status, code, err->status, err->code,
                 err->message);
    if (field != NULL) {
        json_t *f = json_object_get(err->details, "field");
        if (!json_is_string(f) || strcmp(json_string_value(f), field) != 0)
            fail_msg("expected details.field %s (%s)", field, err->message);
    }
    model_err_clear(err);
}

static void expect_ok(int rc, int want, struct model_err *err, const char *what)
{
    if (rc != want)
        fail_msg("%s: expected %d, got %d: %d %s: %s", what, want, rc, err->status, err->code,
                 err->message);
}

/* The calls: body is JSON text. *_raw return the status (or -1) and fill err; the others
 * require want and return the body (a new reference; NULL for 204). */
static int put_raw(struct env *e, const char *p, const char *en, const char *s,
                   json_t *body, json_t **out, struct model_err *err)
{
    int rc = model_put_service(e->model, p, en, s, body, out, err);
    json_decref(body);
    return rc;
}

static json_t *put(struct env *e, const char *p, const char *en, const char *s, json_t *body,
                   int want)
{
    struct model_err err = {0};
    json_t *out = NULL;
    int rc = put_raw(e, p, en, s, body, &out, &err);

    expect_ok(rc, want, &err, "PUT service");
    return out;
}

static int dep_raw(struct env *e, const char *p, const char *en, const char *s, json_t *body,
                   json_t **out, struct model_err *err)
{
    int rc = model_create_deployment(e->model, p, en, s, body, out, err);
    json_decref(body);
    return rc;
}

static json_t *dep(struct env *e, const char *p, const char *en, const char *s, json_t *body)
{
    struct model_err err = {0};
    json_t *out = NULL;
    int rc = dep_raw(e, p, en, s, body, &out, &err);

    expect_ok(rc, 201, &err, "POST deployment");
    return out;
}

static json_t *promote(struct env *e, const char *p, const char *en, const char *s,
                       const char *id, int require_healthy, long drain_ms)
{
    struct model_err err = {0};
    json_t *out = NULL;
    int rc = model_promote(e->model, p, en, s, id, require_healthy, drain_ms, &out, &err);

    expect_ok(rc, 200, &err, "promote");
    return out;
}

static int targets_raw(struct env *e, const char *p, const char *en, const char *s,
                       const char *id, json_t *body, json_t **out, struct model_err *err)
{
    int rc = model_replace_targets(e->model, p, en, s, id, body, out, err);
    json_decref(body);
    return rc;
}

static json_t *targets(struct env *e, const char *p, const char *en, const char *s,
                       const char *id, json_t *body)
{
    struct model_err err = {0};
    json_t *out = NULL;
    int rc = targets_raw(e, p, en, s, id, body, &out, &err);

    expect_ok(rc, 200, &err, "PUT targets");
    return out;
}

static void deldep(struct env *e, const char *p, const char *en, const char *s, const char *id)
{
    struct model_err err = {0};
    int rc = model_delete_deployment(e->model, p, en, s, id, &err);

    expect_ok(rc, 204, &err, "DELETE deployment");
}

static void delsvc(struct env *e, const char *p, const char *en, const char *s)
{
    struct model_err err = {0};
    int rc = model_delete_service(e->model, p, en, s, &err);

    expect_ok(rc, 204, &err, "DELETE service");
}

static json_t *get_svc(struct env *e, const char *p, const char *en, const char *s)
{
    struct model_err err = {0};
    json_t *out = NULL;
    int rc = model_get_service(e->model, p, en, s, &out, &err);

    expect_ok(rc, 200, &err, "GET service");
    return out;
}

static json_t *get_dep(struct env *e, const char *p, const char *en, const char *s,
                       const char *id)
{
    struct model_err err = {0};
    json_t *out = NULL;
    int rc = model_get_deployment(e->model, p, en, s, id, &out, &err);

    expect_ok(rc, 200, &err, "GET deployment");
    return out;
}

/* The deployment's "state" in GET …/deployments/{id}. */
static void assert_state(struct env *e, const char *p, const char *en, const char *s,
                         const char *id, const char *want)
{
    json_t *d = get_dep(e, p, en, s, id);
    const char *got = jstr(d, "state");

    if (strcmp(got, want) != 0)
        fail_msg("deployment %s: state %s, expected %s", id, got, want);
    json_decref(d);
}

static int state_is(struct env *e, const char *p, const char *en, const char *s,
                    const char *id, const char *want)
{
    json_t *d = get_dep(e, p, en, s, id);
    int same = strcmp(jstr(d, "state"), want) == 0;

    json_decref(d);
    return same;
}

/* ---- routing observations ------------------------------------------------------------ */

/* label + DOMAIN, from a ring of buffers (valid for a few calls). */
static const char *H(const char *label)
{
    static char ring[16][320];
    static unsigned next;
    char *b = ring[next++ % 16];

    snprintf(b, sizeof(ring[0]), "%s%s", label, DOMAIN);
    return b;
}

static const struct route *look(struct env *e, const char *host)
{
    return route_table_lookup(router_routes(e->router), host, strlen(host));
}

/* "-" for an unknown host, else "n=N a:p a:p …" (and " tag=T" with with_tag). */
static void route_desc(struct env *e, const char *host, int with_tag, char *buf, size_t cap)
{
    const struct route *r = look(e, host);
    size_t off;

    if (r == NULL) {
        snprintf(buf, cap, "-");
        return;
    }
    off = (size_t)snprintf(buf, cap, "n=%u", r->ntargets);
    if (with_tag && off < cap)
        off += (size_t)snprintf(buf + off, cap - off, " tag=%llu", (unsigned long long)r->tag);
    for (uint32_t i = 0; i < r->ntargets && off < cap; i++) {
        char a[INET6_ADDRSTRLEN] = "?";
        const struct target *t = &r->targets[i];
        unsigned port;
        if (t->addr.sa.sa_family == AF_INET6) {
            inet_ntop(AF_INET6, &t->addr.in6.sin6_addr, a, sizeof(a));
            port = ntohs(t->addr.in6.sin6_port);
        } else {
            inet_ntop(AF_INET, &t->addr.in.sin_addr, a, sizeof(a));
            port = ntohs(t->addr.in.sin_port);
        }
        off += (size_t)snprintf(buf + off, cap - off, " %s:%u", a, port);
    }
}

#define assert_route(e, host, want)                                                       \
    do {                                                                                  \
        char got_[1024];                                                                  \
        route_desc((e), (host), 0, got_, sizeof(got_));                                   \
        if (strcmp(got_, (want)) != 0)                                                    \
            fail_msg("route of %s: \"%s\", expected \"%s\"", (host), got_, (want));      \
    } while (0)

static unsigned ntargets(struct env *e, const char *host)
{
    const struct route *r = look(e, host);

    return r ? r->ntargets : 0;
}

static uint64_t tag_of(struct env *e, const char *host)
{
    const struct route *r = look(e, host);

    if (r == NULL)
        fail_msg("no route for %s", host);
    return r->tag;
}

static int count_events(struct fx *fx, const char *type)
{
    int n = 0;

    for (size_t i = 0; i < fx->nev; i++)
        n += strcmp(fx->ev[i].type, type) == 0;
    return n;
}

static const struct event *last_event(struct fx *fx)
{
    assert_true(fx->nev > 0);
    return &fx->ev[fx->nev - 1];
}

static void assert_last_event(struct fx *fx, const char *type, uint64_t gen)
{
    const struct event *ev = last_event(fx);

    if (strcmp(ev->type, type) != 0 || ev->generation != gen)
        fail_msg("last event %s@%llu, expected %s@%llu", ev->type,
                 (unsigned long long)ev->generation, type, (unsigned long long)gen);
}

/* A canonical dump of GET /v1/services (services keyed by "p/e/s", sorted keys). */
static char *services_dump(struct env *e)
{
    json_t *out = NULL, *by = json_object();
    size_t i;
    json_t *s;
    char key[400];

    assert_int_equal(model_list_services(e->model, NULL, &out), 200);
    json_array_foreach(json_object_get(out, "services"), i, s) {
        snprintf(key, sizeof(key), "%s/%s/%s", jstr(s, "project"), jstr(s, "environment"),
                 jstr(s, "service"));
        json_object_set(by, key, s);
    }
    json_object_set(by, "generation", json_object_get(out, "generation"));
    char *text = json_dumps(by, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(by);
    json_decref(out);
    assert_non_null(text);
    return text;
}

static int valid_nanoid(const char *s)
{
    if (strlen(s) != 8)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'z')))
            return 0;
    return 1;
}

#define M(fx) ((fx)->env[0].model)
#define E0(fx) (&(fx)->env[0])

static const char *const svc_none = "{\"ports\":[{\"port\":8000}],\"health\":{\"type\":\"none\"}}";

/* ---- tests: services --------------------------------------------------------------- */

static void test_put_service_created_updated_nanoid_generation_events(void **state)
{
    struct fx *fx = *state;
    struct env *e = E0(fx);
    struct model_err err = {0};
    json_t *out = NULL;

    assert_int_equal(model_generation(M(fx)), 0);
    json_t *s = put(e, "p", "prod", "web", js(svc_none), 201);
    const char *nanoid = jstr(s, "nanoid");
    char saved[16];
    assert_true(valid_nanoid(nanoid));
    snprintf(saved, sizeof(saved), "%s", nanoid);
    assert_int_equal(jint(s, "generation"), 1);
    assert_string_equal(jstr(s, "project"), "p");
    assert_string_equal(jstr(s, "protocol"), "http");
    assert_true(json_is_null(json_object_get(s, "active")));
    json_decref(s);
    assert_int_equal(model_generation(M(fx)), 1);
    assert_int_equal(fx->nev, 1);
    assert_last_event(fx, "service.created", 1);

    /* the same PUT again is an update; the nanoid stays */
    s = put(e, "p", "prod", "web", js("{}"), 200);
    assert_string_equal(jstr(s, "nanoid"), saved);
    assert_int_equal(jint(s, "generation"), 2);
    json_decref(s);
    assert_last_event(fx, "service.updated", 2);

    /* a supplied nanoid is used verbatim; giving it again is fine */
    s = put(e, "p", "prod", "api",
            js("{\"ports\":[{\"port\":8000}],\"nanoid\":\"abcd1234\",\"health\":{\"type\":\"none\"}}"),
            201);
    assert_string_equal(jstr(s, "nanoid"), "abcd1234");
    json_decref(s);
    assert_last_event(fx, "service.created", 3);
    json_decref(put(e, "p", "prod", "api", js("{\"nanoid\":\"abcd1234\"}"), 200));
    assert_int_equal(model_generation(M(fx)), 4);

    /* a different nanoid later: 409, nothing changes */
    size_t nev = fx->nev;
    expect_err(put_raw(e, "p", "prod", "api", js("{\"nanoid\":\"zzzz9999\"}"), &out, &err), &err,
               409, "conflict", "nanoid");
    expect_err(put_raw(e, "p", "prod", "web", js("{\"nanoid\":\"abcd1234\"}"), &out, &err), &err,
               409, "conflict", "nanoid");
    assert_int_equal(model_generation(M(fx)), 4);
    assert_int_equal(fx->nev, nev);
    s = get_svc(e, "p", "prod", "api");
    assert_string_equal(jstr(s, "nanoid"), "abcd1234");
    assert_int_equal(jint(s, "generation"), 4);
    json_decref(s);
    s = get_svc(e, "p", "prod", "web");
    assert_string_equal(jstr(s, "nanoid"), saved);
    json_decref(s);

    /* two generated nanoids differ; every write bumps the generation by one */
    s = put(e, "p", "prod", "worker", js(svc_none), 201);
    assert_true(valid_nanoid(jstr(s, "nanoid")));
    assert_string_not_equal(jstr(s, "nanoid"), saved);
    json_decref(s);
    assert_int_equal(model_generation(M(fx)), 5);
    assert_int_equal(model_service_count(M(fx)), 3);
    assert_int_equal(count_events(fx, "service.created"), 3);
    assert_int_equal(count_events(fx, "service.updated"), 2);
    for (size_t i = 0; i < fx->nev; i++)
        assert_int_equal(fx->ev[i].generation, i + 1);

    /* unknown service */
    expect_err(model_get_service(M(fx), "p", "prod", "nope", &out, &err), &err, 404,
               "not_found", NULL);

    /* the list, whole and by project */
    json_decref(put(e, "q", "prod", "web", js(svc_none), 201));
    assert_int_equal(model_list_services(M(fx), NULL, &out), 200);
    assert_int_equal(json_array_size(json_object_get(out, "services")), 4);
    assert_int_equal(jint(out, "generation"), 6);
    json_decref(out);
    assert_int_equal(model_list_services(M(fx), "p", &out), 200);
    assert_int_equal(json_array_size(json_object_get(out, "services")), 3);
    json_decref(out);
    assert_int_equal(model_list_services(M(fx), "nope", &out), 200);
    assert_int_equal(json_array_size(json_object_get(out, "services")), 0);
    json_decref(out);
}

static void test_stable_hosts_number_public_ports_only(void **state)
{
    struct fx *fx = *state;
    struct env *e = E0(fx);

    json_t *s = put(e, "My App", "prod", "Web",
                    js("{\"ports\":[{\"port\":8000},{\"port\":8001,\"public\":false},"
                       "{\"port\":8002}],\"nanoid\":\"m2x8k9n4\",\"health\":{\"type\":\"none\"}}"),
                    201);
    json_t *urls = json_object_get(s, "urls");
    assert_string_equal(jstr(urls, "external_host"), H("my-app-web-m2x8k9n4"));
    assert_string_equal(jstr(urls, "external_url"), "http://my-app-web-m2x8k9n4" DOMAIN);
    json_t *ports = json_object_get(urls, "ports");
    assert_int_equal(json_array_size(ports), 2);
    assert_int_equal(jint(json_array_get(ports, 0), "n"), 1);
    assert_int_equal(jint(json_array_get(ports, 0), "port"), 8000);
    assert_int_equal(jint(json_array_get(ports, 1), "n"), 2);
    assert_int_equal(jint(json_array_get(ports, 1), "port"), 8002);
    assert_string_equal(jstr(json_array_get(ports, 1), "external_host"),
                        H("my-app-web-m2x8k9n4-2"));
    json_decref(s);

    /* both stable hosts exist (no active deployment: no targets), no third one */
    assert_route(e, H("my-app-web-m2x8k9n4"), "n=0");
    assert_route(e, H("my-app-web-m2x8k9n4-2"), "n=0");
    assert_route(e, H("my-app-web-m2x8k9n4-3"), "-");
    assert_int_equal(model_host_count(M(fx)), 2);

    /* once active, -2 goes to the third service port (the second public one) */
    json_decref(dep(e, "My App", "prod", "Web",
                    js("{\"id\":\"v1\",\"sha\":\"0123456789abcdef\",\"targets\":["
                       "{\"address\":\"10.0.0.1\",\"ports\":[9000,9001,9002]},"
                       "{\"address\":\"10.0.0.2\"}]}")));
    json_decref(promote(e, "My App", "prod", "Web", "v1", 1, -1));
    assert_route(e, H("my-app-web-m2x8k9n4"), "n=2 10.0.0.1:9000 10.0.0.2:8000");
    assert_route(e, H("my-app-web-m2x8k9n4-2"), "n=2 10.0.0.1:9002 10.0.0.2:8002");
    assert_route(e, H("my-app-web-0123456"), "n=2 10.0.0.1:9000 10.0.0.2:8000");
    assert_route(e, H("my-app-web-0123456-2"), "n=2 10.0.0.1:9002 10.0.0.2:8002");
    assert_route(e, H("my-app-web-0123456-3"), "-");
    assert_int_equal(model_host_count(M(fx)), 4);

    /* making the middle port public renumbers: -2 is 8001 now, -3 appears */
    json_decref(put(e, "My App", "prod", "Web",
                    js("{\"ports\":[{\"port\":8000},{\"port\":8001},{\"port\":8002}]}"), 200));
    assert_route(e, H("my-app-web-m2x8k9n4-2"), "n=2 10.0.0.1:9001 10.0.0.2:8001");
    assert_route(e, H("my-app-web-m2x8k9n4-3"), "n=2 10.0.0.1:9002 10.0.0.2:8002");
    assert_route(e, H("my-app-web-0123456-3"), "n=2 10.0.0.1:9002 10.0.0.2:8002");
    assert_int_equal(model_host_count(M(fx)), 6);
    /* and back: the -3 hosts go */
    json_decref(put(e, "My App", "prod", "Web",
                    js("{\"ports\":[{\"port\":8000},{\"port\":8001,\"public\":false},"
                       "{\"port\":8002}]}"), 200));
    assert_route(e, H("my-app-web-m2x8k9n4-2"), "n=2 10.0.0.1:9002 10.0.0.2:8002");
    assert_route(e, H("my-app-web-m2x8k9n4-3"), "-");
    assert_route(e, H("my-app-web-0123456-3"), "-");
    assert_int_equal(model_host_count(M(fx)), 4);
}

static void test_deployment_hosts_sha7_and_fallback(void **state)
{
    struct fx *fx = *state;
    struct env *e = E0(fx);

    json_decref(put(e, "shop", "prod", "api",
                    js("{\"ports\":[{\"port\":8000},{\"port\":9000}],\"nanoid\":\"q1w2e3r4\","
                       "\"health\":{\"type\":\"none\"}}"), 201));
    json_t *d = dep(e, "shop", "prod", "api",
                    js("{\"id\":\"dep_1\",\"sha\":\"ABCDEF0123456789\",\"targets\":"
                       "[{\"address\":\"10.1.0.1\"}]}"));
    assert_int_equal(jint(d, "generation"), 2);
    assert_last_event(fx, "deployment.created", 2);
    assert_string_equal(last_event(fx)->deployment, "dep_1");
    assert_string_equal(jstr(d, "host_id"), "abcdef0");
    assert_string_equal(jstr(d, "state"), "healthy"); /* health none: at once */
    assert_int_equal(jint(d, "healthy_targets"), 1);
    json_t *urls = json_object_get(d, "urls");
    assert_string_equal(jstr(urls, "deployment_host"), H("shop-api-abcdef0"));
    assert_string_equal(jstr(urls, "deployment_url"), "http://shop-api-abcdef0" DOMAIN);
    assert_string_equal(jstr(json_array_get(json_object_get(urls, "ports"), 1), "deployment_host"),
                        H("shop-api-abcdef0-2"));
    json_decref(d);
    assert_route(e, H("shop-api-abcdef0"), "n=1 10.1.0.1:8000");
    assert_route(e, H("shop-api-abcdef0-2"), "n=1 10.1.0.1:9000");
    assert_route(e, H("shop-api-ABCDEF0"), "-");

    /* no SHA: a 7-character fallback whose first character is in [g-z] */
    d = dep(e, "shop", "prod", "api", js("{\"id\":\"build-42\",\"targets\":[{\"address\":\"10.1.0.2\"}]}"));
    const char *id7 = jstr(d, "host_id");
    char label[64];
    assert_int_equal(strlen(id7), 7);
    assert_true(id7[0] >= 'g' && id7[0] <= 'z');
    for (const char *c = id7; *c; c++)
        assert_true((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z'));
    assert_true(json_is_null(json_object_get(d, "sha")));
    snprintf(label, sizeof(label), "shop-api-%s", id7);
    assert_string_equal(jstr(json_object_get(d, "urls"), "deployment_host"), H(label));
    assert_route(e, H(label), "n=1 10.1.0.2:8000");
    snprintf(label, sizeof(label), "shop-api-%s-2", id7);
    assert_route(e, H(label), "n=1 10.1.0.2:9000");
    json_decref(d);
    assert_int_equal(model_host_count(M(fx)), 6);
}

static void test_long_names_are_shortened_to_63_octets(void **state)
{
    struct fx *fx = *state;
    struct env *e = E0(fx);
    char a60[61], p60[61], s60[61], label[80], want[80];

    memset(a60, 'a', 60);
    a60[60] = '\0';
    memset(p60, 'p', 60);
    p60[60] = '\0';
    memset(s60, 's', 60);
    s60[60] = '\0';

    json_t *s = put(e, a60, "prod", "web",
                    js("{\"ports\":[{\"port\":8000},{\"port\":9000}],\"nanoid\":\"m2x8k9n4\","
                       "\"health\":{\"type\":\"none\"}}"), 201);
    /* budget 63 - 10 = 53: the project keeps 50 characters */
    snprintf(label, sizeof(label), "%.50s-web-m2x8k9n4", a60);
    assert_int_equal(strlen(label), 63);
    assert_string_equal(jstr(json_object_get(s, "urls"), "external_host"), H(label));
    json_decref(s);
    assert_route(e, H(label), "n=0");
    /* port 2: budget 51, the project keeps 48 */
    snprintf(label, sizeof(label), "%.48s-web-m2x8k9n4-2", a60);
    assert_int_equal(strlen(label), 63);
    assert_route(e, H(label), "n=0");

    json_decref(dep(e, a60, "prod", "web",
                    js("{\"id\":\"d\",\"sha\":\"1234567abc\",\"targets\":[{\"address\":\"10.2.0.1\"}]}")));
    /* deployment: budget 54, the project keeps 51 */
    snprintf(label, sizeof(label), "%.51s-web-1234567", a60);
    assert_int_equal(strlen(label), 63);
    assert_route(e, H(label), "n=1 10.2.0.1:8000");
    snprintf(label, sizeof(label), "%.49s-web-1234567-2", a60);
    assert_int_equal(strlen(label), 63);
    assert_route(e, H(label), "n=1 10.2.0.1:9000");

    /* both long: the project is cut to 1 character, then the service to 52 */
    s = put(e, p60, "prod", s60,
            js("{\"ports\":[{\"port\":8000}],\"nanoid\":\"z9y8x7w6\",\"health\":{\"type\":\"none\"}}"),
            201);
    snprintf(want, sizeof(want), "p-%.52s-z9y8x7w6", s60);
    assert_int_equal(strlen(want), 63);
    assert_string_equal(jstr(json_object_get(s, "urls"), "external_host"), H(want));
    json_decref(s);
    assert_route(e, H(want), "n=0");
    assert_int_equal(model_host_count(M(fx)), 5);
}

/* ---- tests: routing -------------------------------------------------------------------- */

static void test_promote_switches_every_stable_host_and_keeps_deployment_hosts(void **state)
{
    struct fx *fx = *state;
    struct env *e = E0(fx);
    const char *st1 = H("p-web-n1n1n1n1"), *st2 = H("p-web-n1n1n1n1-2");
    const char *a1 = H("p-web-aaaaaaa"), *a2 = H("p-web-aaaaaaa-2");
    const char *b1 = H("p-web-bbbbbbb"), *b2 = H("p-web-bbbbbbb-2");

    json_decref(put(e, "p", "prod", "web",
                    js("{\"ports\":[{\"port\":8000},{\"port\":9000}],\"nanoid\":\"n1n1n1n1\","
                       "\"health\":{\"type\":\"none\"}}"), 201));
    json_decref(dep(e, "p", "prod", "web",
                    js("{\"id\":\"a\",\"sha\":\"aaaaaaa\",\"targets\":["
                       "{\"address\":\"10.0.0.1\",\"ports\":[8001,9001]},{\"address\":\"10.0.0.2\"}]}")));
    /* before a promote the stable hosts exist with no target */
    assert_non_null(look(e, st1));
    assert_route(e, st1, "n=0");
    assert_route(e, st2, "n=0");
    assert_route(e, a1, "n=2 10.0.0.1:8001 10.0.0.2:8000");
    assert_route(e, a2, "n=2 10.0.0.1:9001 10.0.0.2:9000");

    uint64_t gen = model_generation(M(fx));
    json_t *r = promote(e, "p", "prod", "web", "a", 1, -1);
    assert_string_equal(jstr(r, "active"), "a");
    assert_true(json_is_null(json_object_get(r, "previous")));
    assert_int_equal(jint(r, "generation"), gen + 1);
    json_decref(r);
    assert_last_event(fx, "deployment.promoted", gen + 1);
    assert_string_equal(last_event(fx)->deployment, "a");
    assert_route(e, st1, "n=2 10.0.0.1:8001 10.0.0.2:8000");
    assert_route(e, st2, "n=2 10.0.0.1:9001 10.0.0.2:9000");
    /* stable routes are tagged odd, deployment routes even: a drain cut of the stable
     * copy never hits the deployment URL */
    uint64_t ts = tag_of(e, st1), ta = tag_of(e, a1);
    assert_int_equal(ts & 1, 1);
    assert_int_equal(ta & 1, 0);
    assert_true(ts != ta);
    assert_int_equal(tag_of(e, st2), ts);
    assert_int_equal(tag_of(e, a2), ta);
    json_t *s = get_svc(e, "p", "prod", "web");
    assert_string_equal(jstr(s, "active"), "a");
    assert_string_equal(jstr(json_object_get(s, "urls"), "deployment_url"), "http://p-web-aaaaaaa" DOMAIN);
    json_decref(s);

    json_decref(dep(e, "p", "prod", "web",
                    js("{\"id\":\"b\",\"sha\":\"bbbbbbb\",\"targets\":[{\"address\":\"10.0.1.1\"}]}")));
    /* a new deployment does not touch the stable hosts */
    assert_route(e, st1, "n=2 10.0.0.1:8001 10.0.0.2:8000");
    assert_route(e, b1, "n=1 10.0.1.1:8000");
    r = promote(e, "p", "prod", "web", "b", 1, -1);
    assert_string_equal(jstr(r, "previous"), "a");
    json_decref(r);
    assert_route(e, st1, "n=1 10.0.1.1:8000");
    assert_route(e, st2, "n=1 10.0.1.1:9000");
    /* the old deployment's hosts still route to it */
    assert_route(e, a1, "n=2 10.0.0.1:8001 10.0.0.2:8000");
    assert_route(e, a2, "n=2 10.0.0.1:9001 10.0.0.2:9000");
    assert_route(e, b2, "n=1 10.0.1.1:9000");
    uint64_t ts2 = tag_of(e, st1), tb = tag_of(e, b1);
    assert_int_equal(ts2 & 1, 1);
    assert_int_equal(tb & 1, 0);
    assert_true(ts2 != ts);
    assert_true(tb != ta);
    assert_int_equal(tag_of(e, st2), ts2);
    assert_int_equal(tag_of(e, a1), ta);
    /* promoting a back: a stable tag of its own again (the drain of its first term may
     * still cut), and the same targets as before */
    json_decref(promote(e, "p", "prod", "web", "a", 1, -1));
    assert_route(e, st1, "n=2 10.0.0.1:8001 10.0.0.2:8000");
    uint64_t ts3 = tag_of(e, st1);
    assert_int_equal(ts3 & 1, 1);
    assert_true(ts3 != ts && ts3 != ts2);
    assert_int_equal(tag_of(e, a1), ta);
    assert_int_equal(tag_of(e, b1), tb);
}

static void test_states_healthy_active_draining_retained(void **state)
{
    struct fx *fx = *state;
    struct env *e = E0(fx);

    json_decref(put(e, "p", "prod", "web", js(svc_none), 201));
    json_decref(dep(e, "p", "prod", "web", js("{\"id\":\"v1\",\"targets\":[{\"address\":\"10.0.0.1\"}]}")));
    assert_state(e, "p", "prod", "web", "v1", "healthy");
    json_decref(promote(e, "p", "prod", "web", "v1", 1, -1));
    assert_state(e, "p", "prod", "web", "v1", "active");
    json_decref(dep(e, "p", "prod", "web", js("{\"id\":\"v2\",\"targets\":[{\"address\":\"10.0.0.2\"}]}")));
    assert_state(e, "p", "prod", "web", "v2", "healthy");
    /* the drain counts from the promote, however long ago the loop last ran (here: not
     * since the fixture started) or the state write took */
    uint64_t t0 = uv_hrtime();
    json_decref(promote(e, "p", "prod", "web", "v2", 1, -1));
    uint64_t gen = model_generation(M(fx));
    assert_state(e, "p", "prod", "web", "v2", "active");
    assert_state(e, "p", "prod", "web", "v1", "draining");

    RUN_UNTIL(e, 3000, state_is(e, "p", "prod", "web", "v1", "retained"));
    assert_state(e, "p", "prod", "web", "v1", "retained");
    assert_true(uv_hrtime() - t0 >= 45 * 1000000ull); /* drain_ms 50 */
    assert_last_event(fx, "deployment.retained", gen); /* no new generation */
    assert_string_equal(last_event(fx)->deployment, "v1");
    assert_int_equal(model_generation(M(fx)), gen);
    /* a retained deployment's URL keeps working */
    char label[64];
    json_t *d = get_dep(e, "p", "prod", "web", "v1");
    snprintf(label, sizeof(label), "%s", jstr(json_object_get(d, "urls"), "deployment_host"));
    json_decref(d);
    assert_route(e, label, "n=1 10.0.0.1:8000");

    /* promoting back stops a running drain: v2 drains (explicit 60 s), v1 is active */
    json_decref(promote(e, "p", "prod", "web", "v1", 1, 60000));
    assert_state(e, "p", "prod", "web", "v1", "active");
    assert_state(e, "p", "prod", "web", "v2", "draining");
    json_decref(promote(e, "p", "prod", "web", "v2", 1, -1));
    assert_state(e, "p", "prod", "web", "v2", "active");
    assert_state(e, "p", "prod", "web", "v1", "draining");
}

static void test_promote_require_healthy_and_noop(void **state)
{
    struct fx *fx = *state;
    struct env *e = E0(fx);
    struct model_err err = {0};
    json_t *out = NULL;
    const char *st = H("p-web-h0h0h0h0");
    int dead = closed_port();

    json_decref(put(e, "p", "prod", "web",
                    js("{\"ports\":[{\"port\":8000}],\"nanoid\":\"h0h0h0h0\",\"health\":{\"type\":\"none\"}}"),
                    201));
    json_decref(dep(e, "p", "prod", "web", js("{\"id\":\"v1\",\"targets\":[{\"address\":\"10.0.0.1\"}]}")));
    json_decref(promote(e, "p", "prod", "web", "v1", 1, -1));
    /* switch to TCP checks (a long interval): v1's target stays healthy meanwhile */
    json_decref(put(e, "p", "prod", "web",
                    js("{\"health\":{\"type\":\"tcp\",\"interval_ms\":3600000,\"timeout_ms\":500}}"), 200));
    assert_route(e, st, "n=1 10.0.0.1:8000");
    json_t *d = dep(e, "p", "prod", "web",
                    jsf("{\"id\":\"v2\",\"targets\":[{\"address\":\"127.0.0.1\",\"ports\":[%d]}]}", dead));
    assert_string_equal(jstr(d, "state"), "pending");
    assert_int_equal(jint(d, "healthy_targets"), 0);
    json_decref(d);
    assert_int_equal(model_deployment_ready(M(fx), "p", "prod", "web", "v2"), 0);
    assert_int_equal(model_deployment_ready(M(fx), "p", "prod", "web", "v1"), 1);
    assert_int_equal(model_deployment_ready(M(fx), "p", "prod", "web", "nope"), -1);

    uint64_t gen = model_generation(M(fx));
    size_t nev = fx->nev;
    int rc = model_promote(M(fx), "p", "prod", "web", "v2", 1, -1, &out, &err);
    assert_int_equal(rc, -1);
    assert_int_equal(err.status, 409);
    assert_string_equal(err.code, "unhealthy");
    assert_string_equal(jstr(err.details, "active"), "v1");
    model_err_clear(&err);
    assert_int_equal(model_generation(M(fx)), gen);
    assert_int_equal(fx->nev, nev);
    assert_state(e, "p", "prod", "web", "v2", "unhealthy");
    assert_state(e, "p", "prod", "web", "v1", "active");
    json_t *s = get_svc(e, "p", "prod", "web");
    assert_string_equal(jstr(s, "active"), "v1");
    json_decref(s);
    assert_route(e, st, "n=1 10.0.0.1:8000");

    /* promoting the active deployment: 200, previous null, nothing changes */
    json_t *r = promote(e, "p", "prod", "web", "v1", 1, -1);
    assert_string_equal(jstr(r, "active"), "v1");
    assert_true(json_is_null(json_object_get(r, "previous")));
    assert_int_equal(jint(r, "generation"), gen);
    json_decref(r);
    assert_int_equal(model_generation(M(fx)), gen);
    assert_int_equal(fx->nev, nev);
    assert_state(e, "p", "prod", "web", "v1", "active");

    /* without require_healthy the promote goes through: the stable host has no target */
    r = promote(e, "p", "prod", "web", "v2", 0, -1);
    assert_string_equal(jstr(r, "previous"), "v1");
    json_decref(r);
    assert_int_equal(model_generation(M(fx)), gen + 1);
    assert_route(e, st, "n=0");

    /* unknown deployment / service */
    expect_err(model_promote(M(fx), "p", "prod", "web", "v9", 1, -1, &out, &err), &err, 404,
               "not_found", NULL);
    expect_err(model_promote(M(fx), "p", "prod", "nope", "v1", 1, -1, &out, &err), &err, 404,
               "not_found", NULL);
}

static void test_delete_deployment_and_service(void **state)
{
    struct fx *fx = *state;
    struct env *e = E0(fx);
    struct model_err err = {0};
    json_t *out = NULL;

    json_decref(put(e, "p", "prod", "web",
                    js("{\"ports\":[{\"port\":8000},{\"port\":9000}],\"nanoid\":\"d3d3d3d3\","
                       "\"health\":{\"type\":\"none\"}}"), 201));
    json_decref(dep(e, "p", "prod", "web",
                    js("{\"id\":\"v1\",\"sha\":\"1111111\",\"targets\":[{\"address\":\"10.0.0.1\"}]}")));
    json_decref(dep(e, "p", "prod", "web",
                    js("{\"id\":\"v2\",\"sha\":\"2222222\",\"targets\":[{\"address\":\"10.0.0.2\"}]}")));
    json_decref(promote(e, "p", "prod", "web", "v1", 1, -1));
    assert_int_equal(model_host_count(M(fx)), 6);

    uint64_t gen = model_generation(M(fx));
    expect_err(model_delete_deployment(M(fx), "p", "prod", "web", "v1", &err), &err, 409,
               "conflict", NULL);
    expect_err(model_delete_deployment(M(fx), "p", "prod", "web", "v9", &err), &err, 404,
               "not_found", NULL);
    assert_int_equal(model_generation(M(fx)), gen);
    assert_route(e, H("p-web-1111111"), "n=1 10.0.0.1:8000");

    deldep(e, "p", "prod", "web", "v2");
    assert_int_equal(model_generation(M(fx)), gen + 1);
    assert_last_event(fx, "deployment.deleted", gen + 1);
    assert_null(look(e, H("p-web-2222222")));
    assert_null(look(e, H("p-web-2222222-2")));
    assert_route(e, H("p-web-d3d3d3d3"), "n=1 10.0.0.1:8000");
    assert_route(e, H("p-web-1111111-2"), "n=1 10.0.0.1:9000");
    assert_int_equal(model_host_count(M(fx)), 4);
    expect_err(model_get_deployment(M(fx), "p", "prod", "web", "v2", &out, &err), &err, 404,
               "not_found", NULL);

    /* a draining deployment can go too (its drain timer with it) */
    json_decref(dep(e, "p", "prod", "web",
                    js("{\"id\":\"v3\",\"sha\":\"3333333\",\"targets\":[{\"address\":\"10.0.0.3\"}]}")));
    json_decref(promote(e, "p", "prod", "web", "v3", 1, 60000));
    assert_state(e, "p", "prod", "web", "v1", "draining");
    deldep(e, "p", "prod", "web", "v1");
    assert_null(look(e, H("p-web-1111111")));

    delsvc(e, "p", "prod", "web");
    assert_last_event(fx, "service.deleted", model_generation(M(fx)));
    assert_null(look(e, H("p-web-d3d3d3d3")));
    assert_null(look(e, H("p-web-d3d3d3d3-2")));
    assert_null(look(e, H("p-web-3333333")));
    assert_null(look(e, H("p-web-3333333-2")));
    assert_int_equal(model_host_count(M(fx)), 0);
    assert_int_equal(model_service_count(M(fx)), 0);
    assert_int_equal(route_table_count(router_routes(e->router)), 0);
    expect_err(model_get_service(M(fx), "p", "prod", "web", &out, &err), &err, 404, "not_found",
               NULL);
    expect_err(model_delete_service(M(fx), "p", "prod", "web", &err), &err, 404, "not_found",
               NULL);
    /* the name is free again, with the same nanoid */
    json_decref(put(e, "p", "prod", "web",
                    js("{\"ports\":[{\"port\":8000}],\"nanoid\":\"d3d3d3d3\",\"health\":{\"type\":\"none\"}}"),
                    201));
    assert_route(e, H("p-web-d3d3d3d3"), "n=0");
}

/* ---- tests: ownership of hosts --------------------------------------------------------- */

static void test_same_commit_takeover_and_collisions(void **state)
{
    struct fx *fx = *state;
    struct env *e = E0(fx);
    struct model_err err = {0};
    json_t *out = NULL;
    const char *h = H("p-web-cafe123");

    json_decref(put(e, "p", "prod", "web", js(svc_none), 201));
    json_decref(dep(e, "p", "prod", "web",
                    js("{\"id\":\"old\",\"sha\":\"CAFE1234\",\"targets\":[{\"address\":\"10.0.0.1\"}]}")));
    assert_route(e, h, "n=1 10.0.0.1:8000");
    json_decref(dep(e, "p", "prod", "web",
                    js("{\"id\":\"new\",\"sha\":\"cafe1234ff\",\"targets\":[{\"address\":\"10.0.0.2\"}]}")));
    assert_route(e, h, "n=1 10.0.0.2:8000"); /* the newer holds the host */
    json_t *d = get_dep(e, "p", "prod", "web", "old");
    assert_string_equal(jstr(json_object_get(d, "urls"), "deployment_host"), h);
    json_decref(d);
    deldep(e, "p", "prod", "web", "new");
    assert_route(e, h, "n=1 10.0.0.1:8000"); /* back to the older */

    /* the same SHA in another environment of the same project and service takes over */
    json_decref(put(e, "p", "staging", "web", js(svc_none), 201));
    json_decref(dep(e, "p", "staging", "web",
                    js("{\"id\":\"s1\",\"sha\":\"cafe1234\",\"targets\":[{\"address\":\"10.0.0.3\"}]}")));
    assert_route(e, h, "n=1 10.0.0.3:8000");
    /* a write to the older side does not take it back */
    json_decref(put(e, "p", "prod", "web", js("{}"), 200));
    json_decref(targets(e, "p", "prod", "web", "old", js("{\"targets\":[{\"address\":\"10.0.0.4\"}]}")));
    assert_route(e, h, "n=1 10.0.0.3:8000");
    delsvc(e, "p", "staging", "web");
    assert_route(e, h, "n=1 10.0.0.4:8000");

    /* "a-b"/"c" and "a"/"b-c" give the same labels: the second is refused, naming the owner */
    json_decref(put(e, "a-b", "prod", "c", js(svc_none), 201));
    json_decref(dep(e, "a-b", "prod", "c",
                    js("{\"id\":\"x\",\"sha\":\"beef123\",\"targets\":[{\"address\":\"10.9.0.1\"}]}")));
    json_decref(put(e, "a", "prod", "b-c", js(svc_none), 201));
    const char *hc = H("a-b-c-beef123");
    assert_route(e, hc, "n=1 10.9.0.1:8000");
    uint64_t gen = model_generation(M(fx));
    size_t hosts = model_host_count(M(fx)), nev = fx->nev;
    int rc = dep_raw(e, "a", "prod", "b-c",
                     js("{\"id\":\"y\",\"sha\":\"beef123\",\"targets\":[{\"address\":\"10.9.0.2\"}]}"),
                     &out, &err);
    assert_int_equal(rc, -1);
    assert_int_equal(err.status, 409);
    assert_string_equal(err.code, "conflict");
    assert_string_equal(jstr(err.details, "host"), hc);
    json_t *owner = json_object_get(err.details, "owner");
    assert_string_equal(jstr(owner, "service"), "a-b/prod/c");
    assert_string_equal(jstr(owner, "deployment"), "x");
    assert_non_null(strstr(err.message, "a-b/prod/c"));
    model_err_clear(&err);
    assert_int_equal(model_generation(M(fx)), gen);
    assert_int_equal(model_host_count(M(fx)), hosts);
    assert_int_equal(fx->nev, nev);
    assert_route(e, hc, "n=1 10.9.0.1:8000");
    json_t *s = get_svc(e, "a", "prod", "b-c");
    assert_int_equal(json_array_size(json_object_get(s, "deployments")), 0);
    json_decref(s);

    /* stable hosts too: a supplied nanoid that another service's names already use */
    json_decref(put(e, "x-y", "prod", "z",
                    js("{\"ports\":[{\"port\":1}],\"nanoid\":\"n0n0n0n0\",\"health\":{\"type\":\"none\"}}"),
                    201));
    gen = model_generation(M(fx));
    rc = put_raw(e, "x", "prod", "y-z",
                 js("{\"ports\":[{\"port\":1}],\"nanoid\":\"n0n0n0n0\",\"health\":{\"type\":\"none\"}}"),
                 &out, &err);
    assert_int_equal(rc, -1);
    assert_int_equal(err.status, 409);
    assert_string_equal(jstr(json_object_get(err.details, "owner"), "service"), "x-y/prod/z");
    model_err_clear(&err);
    assert_int_equal(model_generation(M(fx)), gen);
    expect_err(model_get_service(M(fx), "x", "prod", "y-z", &out, &err), &err, 404, "not_found",
               NULL);
}

/* ---- tests: health ----------------------------------------------------------------------- */

static void test_replace_targets_keeps_survivors_and_gates_new_ones(void **state)
{
    struct fx *fx = *state;
    struct env *e = E0(fx);
    struct hsrv *s1 = &fx->srv[0], *s2 = &fx->srv[1];
    const char *st = H("p-web-r5r5r5r5"), *dh = H("p-web-5555555");
    char want[128];

    hsrv_start(e, s1);
    hsrv_start(e, s2);
    json_decref(put(e, "p", "prod", "web",
                    js("{\"ports\":[{\"port\":8000}],\"nanoid\":\"r5r5r5r5\",\"health\":{\"type\":"
                       "\"http\",\"path\":\"/health\",\"interval_ms\":3600000,\"timeout_ms\":2000}}"),
                    201));
    json_t *d = dep(e, "p", "prod", "web",
                    jsf("{\"id\":\"v1\",\"sha\":\"5555555\",\"targets\":[{\"address\":\"127.0.0.1\","
                        "\"ports\":[%d]}]}", s1->port));
    assert_string_equal(jstr(d, "state"), "pending");
    json_decref(d);
    assert_route(e, dh, "n=0"); /* the host exists and waits for a check */
    uint64_t gen = model_generation(M(fx));

    RUN_UNTIL(e, 3000, ntargets(e, dh) == 1);
    snprintf(want, sizeof(want), "n=1 127.0.0.1:%d", s1->port);
    assert_route(e, dh, want);
    assert_true(s1->hits >= 1);
    assert_state(e, "p", "prod", "web", "v1", "healthy");
    assert_last_event(fx, "deployment.health", gen);
    assert_string_equal(last_event(fx)->state, "healthy");
    assert_int_equal(model_generation(M(fx)), gen);
    json_decref(promote(e, "p", "prod", "web", "v1", 1, -1));
    assert_route(e, st, want);

    /* add a second target: the first keeps its traffic at once, the new one waits */
    unsigned hits2 = s2->hits;
    d = targets(e, "p", "prod", "web", "v1",
                jsf("{\"targets\":[{\"address\":\"127.0.0.1\",\"ports\":[%d]},"
                    "{\"address\":\"127.0.0.1\",\"ports\":[%d]}]}", s1->port, s2->port));
    assert_int_equal(jint(d, "healthy_targets"), 1);
    assert_true(json_is_true(json_object_get(json_array_get(json_object_get(d, "targets"), 0), "healthy")));
    assert_true(json_is_false(json_object_get(json_array_get(json_object_get(d, "targets"), 1), "healthy")));
    json_decref(d);
    assert_last_event(fx, "deployment.targets", gen + 2);
    assert_route(e, st, want);
    assert_route(e, dh, want);
    assert_int_equal(s2->hits, hits2);

    RUN_UNTIL(e, 3000, ntargets(e, st) == 2);
    snprintf(want, sizeof(want), "n=2 127.0.0.1:%d 127.0.0.1:%d", s1->port, s2->port);
    assert_route(e, st, want);
    assert_route(e, dh, want);
    assert_true(s2->hits >= 1);

    /* keep only the second: still routed without waiting for a check */
    json_decref(targets(e, "p", "prod", "web", "v1",
                        jsf("{\"targets\":[{\"address\":\"127.0.0.1\",\"ports\":[%d]}]}", s2->port)));
    snprintf(want, sizeof(want), "n=1 127.0.0.1:%d", s2->port);
    assert_route(e, st, want);
    assert_route(e, dh, want);

    /* a new target that never answers is never routed */
    int dead = closed_port();
    json_decref(targets(e, "p", "prod", "web", "v1",
                        jsf("{\"targets\":[{\"address\":\"127.0.0.1\",\"ports\":[%d]},"
                            "{\"address\":\"127.0.0.1\",\"ports\":[%d]}]}", s2->port, dead)));
    RUN_UNTIL(e, 200, 0);
    assert_route(e, st, want);
    assert_state(e, "p", "prod", "web", "v1", "active");
}

/* ---- tests: persistence ---------------------------------------------------------------- */

static const char *const persisted_hosts[] = {
    "my-app-web-p1p1p1p1",   "my-app-web-p1p1p1p1-2", "my-app-web-p1p1p1p1-3",
    "my-app-web-aaaaaaa",    "my-app-web-aaaaaaa-2",  "my-app-web-bbbbbbb",
    "my-app-web-bbbbbbb-2",  "my-app-web-s2s2s2s2",   "my-app-web-s2s2s2s2-2",
    "api-db-d4d4d4d4",       "api-db-ccccccc",        "gone-x-g0g0g0g0",
};
#define NPERSISTED (sizeof(persisted_hosts) / sizeof(persisted_hosts[0]))

static void test_restart_gives_back_services_and_routes(void **state)
{
    struct fx *fx = *state;
    struct env *e = E0(fx);
    char before[NPERSISTED + 1][1024];

    json_decref(put(e, "My App", "prod", "web",
                    js("{\"ports\":[{\"port\":8000},{\"port\":9000,\"public\":false},{\"port\":9100}],"
                       "\"nanoid\":\"p1p1p1p1\",\"health\":{\"type\":\"none\"}}"), 201));
    json_decref(dep(e, "My App", "prod", "web",
                    js("{\"id\":\"d1\",\"sha\":\"AAAAAAA1\",\"targets\":["
                       "{\"address\":\"10.0.0.1\",\"ports\":[8001,9001,9101]},{\"address\":\"::1\"}]}")));
    json_decref(dep(e, "My App", "prod", "web",
                    js("{\"id\":\"d2\",\"sha\":\"bbbbbbb\",\"targets\":[{\"address\":\"10.0.0.2\"}]}")));
    json_decref(dep(e, "My App", "prod", "web",
                    js("{\"id\":\"d3\",\"targets\":[{\"address\":\"10.0.0.3\"}]}")));
    json_decref(promote(e, "My App", "prod", "web", "d1", 1, -1));
    json_decref(promote(e, "My App", "prod", "web", "d2", 1, -1));
    json_decref(targets(e, "My App", "prod", "web", "d3",
                        js("{\"targets\":[{\"address\":\"10.0.0.33\",\"ports\":[8033]}]}")));
    /* another environment, same SHA as d1: takes its host */
    json_decref(put(e, "My App", "staging", "web",
                    js("{\"ports\":[{\"port\":8000},{\"port\":9100}],\"nanoid\":\"s2s2s2s2\","
                       "\"health\":{\"type\":\"none\"}}"), 201));
    json_decref(dep(e, "My App", "staging", "web",
                    js("{\"id\":\"s1\",\"sha\":\"aaaaaaa2\",\"targets\":[{\"address\":\"10.0.0.4\"}]}")));
    /* a non-HTTP service: names reserved, not routed */
    json_decref(put(e, "api", "prod", "db",
                    js("{\"ports\":[{\"port\":5432}],\"protocol\":\"postgres\",\"nanoid\":\"d4d4d4d4\","
                       "\"health\":{\"type\":\"none\"}}"), 201));
    json_decref(dep(e, "api", "prod", "db",
                    js("{\"id\":\"pg\",\"sha\":\"ccccccc\",\"targets\":[{\"address\":\"10.0.0.9\"}]}")));
    json_decref(promote(e, "api", "prod", "db", "pg", 1, -1));
    /* created and deleted */
    json_decref(put(e, "gone", "prod", "x",
                    js("{\"ports\":[{\"port\":1}],\"nanoid\":\"g0g0g0g0\",\"health\":{\"type\":\"none\"}}"),
                    201));
    delsvc(e, "gone", "prod", "x");
    RUN_UNTIL(e, 3000, state_is(e, "My App", "prod", "web", "d1", "retained"));
    assert_state(e, "My App", "prod", "web", "d1", "retained");

    assert_route(e, H("my-app-web-aaaaaaa"), "n=1 10.0.0.4:8000");
    assert_route(e, H("my-app-web-p1p1p1p1-2"), "n=1 10.0.0.2:9100");
    assert_null(look(e, H("api-db-d4d4d4d4")));
    char *dump = services_dump(e);
    uint64_t gen = model_generation(M(fx));
    size_t nhosts = model_host_count(M(fx)), nsvc = model_service_count(M(fx));
    for (size_t i = 0; i < NPERSISTED; i++)
        route_desc(e, H(persisted_hosts[i]), 0, before[i], sizeof(before[i]));
    env_close(e);

    struct env *e1 = &fx->env[1];
    assert_int_equal(env_open(fx, e1), 0);
    assert_int_equal(model_generation(e1->model), gen);
    assert_int_equal(model_host_count(e1->model), nhosts);
    assert_int_equal(model_service_count(e1->model), nsvc);
    char *dump1 = services_dump(e1);
    assert_string_equal(dump1, dump);
    free(dump1);
    free(dump);
    for (size_t i = 0; i < NPERSISTED; i++)
        assert_route(e1, H(persisted_hosts[i]), before[i]);
    assert_route(e1, H("my-app-web-p1p1p1p1"), "n=1 10.0.0.2:8000");
    assert_route(e1, H("my-app-web-p1p1p1p1"), before[0]);

    /* writes continue: generation, and a new deployment is newer than every loaded one */
    json_decref(dep(e1, "My App", "prod", "web",
                    js("{\"id\":\"d5\",\"sha\":\"aaaaaaa3\",\"targets\":[{\"address\":\"10.0.0.5\"}]}")));
    assert_int_equal(model_generation(e1->model), gen + 1);
    assert_route(e1, H("my-app-web-aaaaaaa"), "n=1 10.0.0.5:8000");
    struct model_err err = {0};
    json_t *out = NULL;
    expect_err(put_raw(e1, "My App", "prod", "web", js("{\"nanoid\":\"zzzzzzzz\"}"), &out, &err),
               &err, 409, "conflict", "nanoid");
}

static void test_restart_trusts_active_targets_until_checks_fail(void **state)
{
    struct fx *fx = *state;
    struct env *e = E0(fx);
    int dead = closed_port();
    const char *st = H("t-web-t7t7t7t7"), *h1 = H("t-web-1111111"), *h2 = H("t-web-2222222");
    char want[64];

    json_decref(put(e, "t", "prod", "web",
                    js("{\"ports\":[{\"port\":8000}],\"nanoid\":\"t7t7t7t7\",\"health\":{\"type\":\"tcp\","
                       "\"interval_ms\":100,\"timeout_ms\":500,\"unhealthy_threshold\":1}}"), 201));
    json_decref(dep(e, "t", "prod", "web",
                    jsf("{\"id\":\"v1\",\"sha\":\"1111111\",\"targets\":[{\"address\":\"127.0.0.1\","
                        "\"ports\":[%d]}]}", dead)));
    json_decref(dep(e, "t", "prod", "web",
                    jsf("{\"id\":\"v2\",\"sha\":\"2222222\",\"targets\":[{\"address\":\"127.0.0.1\","
                        "\"ports\":[%d]}]}", dead)));
    json_decref(promote(e, "t", "prod", "web", "v1", 0, -1));
    assert_route(e, st, "n=0");
    uint64_t gen = model_generation(M(fx));
    env_close(e);

    struct env *e1 = &fx->env[1];
    assert_int_equal(env_open(fx, e1), 0);
    snprintf(want, sizeof(want), "n=1 127.0.0.1:%d", dead);
    /* at once, before any check: the active deployment's targets are trusted */
    assert_route(e1, st, want);
    assert_route(e1, h1, want);
    assert_route(e1, h2, "n=0"); /* other deployments are checked from scratch */
    assert_state(e1, "t", "prod", "web", "v1", "active");
    assert_state(e1, "t", "prod", "web", "v2", "pending");
    json_t *d = get_dep(e1, "t", "prod", "web", "v1");
    assert_int_equal(jint(d, "healthy_targets"), 1);
    json_decref(d);

    /* the first failed check (unhealthy_threshold 1) takes it out */
    size_t nev = fx->nev;
    RUN_UNTIL(e1, 3000, ntargets(e1, st) == 0);
    assert_route(e1, st, "n=0");
    assert_route(e1, h1, "n=0");
    assert_true(fx->nev > nev);
    assert_last_event(fx, "deployment.health", gen);
    assert_string_equal(last_event(fx)->deployment, "v1");
    assert_int_equal(model_generation(e1->model), gen);
}

/* ---- tests: all-or-nothing writes -------------------------------------------------------- */

static const char *const atomic_hosts[] = {
    "p-web-aaaa1111", "p-web-aaaa1111-2", "p-web-1111111", "p-web-1111111-2", "p-web-2222222",
    "p-web-2222222-2", "p-web-3333333", "p-web-3333333-2", "p-api-bbbb2222",
};
#define NATOMIC (sizeof(atomic_hosts) / sizeof(atomic_hosts[0]))

struct snapshot {
    char    *dump;
    char    *file;
    uint64_t gen;
    size_t   nev, nhosts, nsvc;
    char     routes[NATOMIC][512];
};

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL)
        return strdup("");
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    rewind(f);
    buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return buf;
}

static void take(struct fx *fx, struct snapshot *s)
{
    struct env *e = E0(fx);

    s->dump = services_dump(e);
    /* The durable state is the snapshot plus the journal of commits since. */
    char *snap = slurp(fx->path), *journal = slurp(fx->tmp);
    s->file = malloc(strlen(snap) + strlen(journal) + 1);
    assert_non_null(s->file);
    strcpy(s->file, snap);
    strcat(s->file, journal);
    free(snap);
    free(journal);
    s->gen = model_generation(M(fx));
    s->nev = fx->nev;
    s->nhosts = model_host_count(M(fx));
    s->nsvc = model_service_count(M(fx));
    for (size_t i = 0; i < NATOMIC; i++)
        route_desc(e, H(atomic_hosts[i]), 1, s->routes[i], sizeof(s->routes[i]));
}

static void same_as(struct fx *fx, struct snapshot *s, const char *what)
{
    struct snapshot now;

    take(fx, &now);
    if (strcmp(now.dump, s->dump) != 0)
        fail_msg("%s: services changed:\n%s\n%s", what, s->dump, now.dump);
    assert_string_equal(now.file, s->file);
    assert_int_equal(now.gen, s->gen);
    assert_int_equal(now.nev, s->nev);
    assert_int_equal(now.nhosts, s->nhosts);
    assert_int_equal(now.nsvc, s->nsvc);
    for (size_t i = 0; i < NATOMIC; i++)
        if (strcmp(now.routes[i], s->routes[i]) != 0)
            fail_msg("%s: route of %s changed: %s -> %s", what, atomic_hosts[i], s->routes[i],
                     now.routes[i]);
    free(now.dump);
    free(now.file);
    free(s->dump);
    free(s->file);
}

enum atomic_op {
    OP_PUT_NEW, OP_PUT_UPDATE, OP_DEPLOY, OP_TARGETS, OP_PROMOTE, OP_DEL_DEP, OP_DEL_SVC,
};

static int run_op(struct fx *fx, enum atomic_op op, struct model_err *err)
{
    struct env *e = E0(fx);
    json_t *out = NULL;
    int rc = -1;

    switch (op) {
    case OP_PUT_NEW:
        rc = put_raw(e, "p", "prod", "api",
                     js("{\"ports\":[{\"port\":8000}],\"nanoid\":\"bbbb2222\",\"health\":{\"type\":\"none\"}}"),
                     &out, err);
        break;
    case OP_PUT_UPDATE: /* adds a public port: new -2 hosts */
        rc = put_raw(e, "p", "prod", "web", js("{\"ports\":[{\"port\":8000},{\"port\":9000}]}"),
                     &out, err);
        break;
    case OP_DEPLOY: /* same SHA as the active one: would take its host */
        rc = dep_raw(e, "p", "prod", "web",
                     js("{\"id\":\"v3\",\"sha\":\"1111111f\",\"targets\":[{\"address\":\"10.0.0.3\"}]}"),
                     &out, err);
        break;
    case OP_TARGETS:
        rc = targets_raw(e, "p", "prod", "web", "v1",
                         js("{\"targets\":[{\"address\":\"10.0.0.11\"}]}"), &out, err);
        break;
    case OP_PROMOTE:
        rc = model_promote(M(fx), "p", "prod", "web", "v2", 1, -1, &out, err);
        break;
    case OP_DEL_DEP:
        rc = model_delete_deployment(M(fx), "p", "prod", "web", "v1", err);
        break;
    case OP_DEL_SVC:
        rc = model_delete_service(M(fx), "p", "prod", "web", err);
        break;
    }
    json_decref(out);
    return rc;
}

static void test_failed_commit_changes_nothing(void **state)
{
    struct fx *fx = *state;
    struct env *e = E0(fx);
    static const struct {
        enum atomic_op op;
        int            status;
        const char    *name;
    } ops[] = {
        {OP_PUT_NEW, 201, "PUT new service"},   {OP_PUT_UPDATE, 200, "PUT update"},
        {OP_DEPLOY, 201, "POST deployment"},    {OP_TARGETS, 200, "PUT targets"},
        {OP_PROMOTE, 200, "promote"},           {OP_DEL_DEP, 204, "DELETE deployment"},
        {OP_DEL_SVC, 204, "DELETE service"},
    };

    json_decref(put(e, "p", "prod", "web",
                    js("{\"ports\":[{\"port\":8000}],\"nanoid\":\"aaaa1111\",\"health\":{\"type\":\"none\"}}"),
                    201));
    json_decref(dep(e, "p", "prod", "web",
                    js("{\"id\":\"v1\",\"sha\":\"1111111\",\"targets\":[{\"address\":\"10.0.0.1\"}]}")));
    json_decref(dep(e, "p", "prod", "web",
                    js("{\"id\":\"v2\",\"sha\":\"2222222\",\"targets\":[{\"address\":\"10.0.0.2\"}]}")));
    json_decref(promote(e, "p", "prod", "web", "v1", 1, -1));

    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        struct model_err err = {0};
        struct snapshot s;

        char saved[sizeof(fx->tmp) + 8];
        snprintf(saved, sizeof saved, "%s.saved", fx->tmp);
        take(fx, &s);
        /* A directory where the journal should be: the append cannot happen. */
        int had_journal = rename(fx->tmp, saved) == 0;
        assert_int_equal(mkdir(fx->tmp, 0700), 0);
        int rc = run_op(fx, ops[i].op, &err);
        if (rc != -1 || err.status != 500 || strcmp(err.code, "store_failed") != 0)
            fail_msg("%s with the store failing: %d %d %s", ops[i].name, rc, err.status, err.code);
        model_err_clear(&err);
        assert_int_equal(rmdir(fx->tmp), 0);
        if (had_journal)
            assert_int_equal(rename(saved, fx->tmp), 0);
        same_as(fx, &s, ops[i].name);
        rc = run_op(fx, ops[i].op, &err);
        if (rc != ops[i].status)
            fail_msg("%s once the store works: %d (%d %s %s)", ops[i].name, rc, err.status,
                     err.code, err.message);
        model_err_clear(&err);
        assert_int_equal(model_generation(M(fx)), s.gen + 1);
    }
    /* what the successful calls did */
    assert_int_equal(model_service_count(M(fx)), 1);
    assert_null(look(e, H("p-web-aaaa1111")));
    assert_route(e, H("p-api-bbbb2222"), "n=0");
}

/* ---- tests: validation -------------------------------------------------------------------- */

static void test_validation_errors_name_the_field(void **state)
{
    struct fx *fx = *state;
    struct env *e = E0(fx);
    struct model_err err = {0};
    json_t *out = NULL;
    char id65[66];

    memset(id65, 'a', 65);
    id65[65] = '\0';
#define PUT_FAILS(body, status, code, field)                                                 \
    expect_err(put_raw(e, "p", "prod", "web", js(body), &out, &err), &err, status, code, field)
    PUT_FAILS("{\"ports\":[{\"port\":80},{\"port\":0}]}", 400, "invalid_field", "ports[1].port");
    PUT_FAILS("{\"ports\":[{\"port\":80},{\"port\":70000}]}", 400, "invalid_field", "ports[1].port");
    PUT_FAILS("{\"ports\":[{\"port\":80},{\"port\":\"x\"}]}", 400, "invalid_field", "ports[1].port");
    PUT_FAILS("{\"ports\":[{\"port\":80},{}]}", 400, "invalid_field", "ports[1].port");
    PUT_FAILS("{\"ports\":[{\"port\":80},{\"port\":81,\"public\":1}]}", 400, "invalid_field",
              "ports[1].public");
    PUT_FAILS("{}", 400, "invalid_field", "ports");
    PUT_FAILS("{\"ports\":[]}", 400, "invalid_field", "ports");
    PUT_FAILS("{\"ports\":[{\"port\":80,\"public\":false}]}", 400, "invalid_field", "ports");
    PUT_FAILS("{\"ports\":[{\"port\":80}],\"protocol\":\"ftp\"}", 400, "invalid_field", "protocol");
    PUT_FAILS("{\"ports\":[{\"port\":80}],\"nanoid\":\"ABCD1234\"}", 400, "invalid_field", "nanoid");
    PUT_FAILS("{\"ports\":[{\"port\":80}],\"nanoid\":\"abc\"}", 400, "invalid_field", "nanoid");
    PUT_FAILS("{\"ports\":[{\"port\":80}],\"health\":{\"interval_ms\":5}}", 400, "invalid_field",
              "health.interval_ms");
    PUT_FAILS("{\"ports\":[{\"port\":80}],\"health\":{\"path\":\"no-slash\"}}", 400,
              "invalid_field", "health.path");
    PUT_FAILS("{\"ports\":[{\"port\":80}],\"health\":{\"type\":\"icmp\"}}", 400, "invalid_field",
              "health.type");
#undef PUT_FAILS
    expect_err(put_raw(e, "---", "prod", "web", js(svc_none), &out, &err), &err, 400,
               "invalid_name", "project");
    expect_err(put_raw(e, "p", "", "web", js(svc_none), &out, &err), &err, 400, "invalid_name",
               "environment");
    expect_err(put_raw(e, "p", "prod", "a/b", js(svc_none), &out, &err), &err, 400,
               "invalid_name", "service");
    assert_int_equal(model_generation(M(fx)), 0);
    assert_int_equal(model_service_count(M(fx)), 0);
    assert_int_equal(fx->nev, 0);

    json_decref(put(e, "p", "prod", "web",
                    js("{\"ports\":[{\"port\":8000},{\"port\":9000}],\"health\":{\"type\":\"none\"}}"),
                    201));
    json_decref(dep(e, "p", "prod", "web", js("{\"id\":\"v1\",\"targets\":[]}")));
    uint64_t gen = model_generation(M(fx));
    size_t nev = fx->nev;
#define DEP_FAILS(body, status, code, field)                                                 \
    expect_err(dep_raw(e, "p", "prod", "web", js(body), &out, &err), &err, status, code, field)
    DEP_FAILS("{\"id\":\"v2\",\"targets\":[{\"address\":\"example.com\"}]}", 400, "invalid_field",
              "targets[0].address");
    DEP_FAILS("{\"id\":\"v2\",\"targets\":[{\"address\":\"10.0.0.1\"},{\"address\":\"10.0.0.256\"}]}",
              400, "invalid_field", "targets[1].address");
    DEP_FAILS("{\"id\":\"v2\",\"targets\":[{}]}", 400, "invalid_field", "targets[0].address");
    DEP_FAILS("{\"id\":\"v2\",\"targets\":[{\"address\":7}]}", 400, "invalid_field",
              "targets[0].address");
    DEP_FAILS("{\"id\":\"v2\",\"targets\":[{\"address\":\"10.0.0.1\",\"ports\":[80,0]}]}", 400,
              "invalid_field", "targets[0].ports[1]");
    /* more ports than the service has are kept unused; more than 16 is an error */
    DEP_FAILS("{\"id\":\"v2\",\"targets\":[{\"address\":\"10.0.0.1\",\"ports\":"
              "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]}]}",
              400, "invalid_field", "targets[0].ports");
    DEP_FAILS("{\"id\":\"v2\",\"targets\":{}}", 400, "invalid_field", "targets");
    DEP_FAILS("{\"id\":\"v2\"}", 400, "invalid_field", "targets");
    DEP_FAILS("{\"id\":\"v2\",\"sha\":\"xyz1234\",\"targets\":[]}", 400, "invalid_field", "sha");
    DEP_FAILS("{\"id\":\"v2\",\"sha\":\"abc123\",\"targets\":[]}", 400, "invalid_field", "sha");
    DEP_FAILS("{\"id\":\"v2\",\"sha\":12345678,\"targets\":[]}", 400, "invalid_field", "sha");
    DEP_FAILS("{\"id\":\"bad id\",\"targets\":[]}", 400, "invalid_field", "id");
    DEP_FAILS("{\"id\":\"\",\"targets\":[]}", 400, "invalid_field", "id");
    expect_err(dep_raw(e, "p", "prod", "web", jsf("{\"id\":\"%s\",\"targets\":[]}", id65), &out,
                       &err),
               &err, 400, "invalid_field", "id");
    DEP_FAILS("{\"targets\":[]}", 400, "invalid_field", "id");
    DEP_FAILS("{\"id\":\"v1\",\"targets\":[]}", 409, "conflict", NULL);
#undef DEP_FAILS
    expect_err(dep_raw(e, "p", "prod", "nope", js("{\"id\":\"v2\",\"targets\":[]}"), &out, &err),
               &err, 404, "not_found", NULL);
    expect_err(targets_raw(e, "p", "prod", "web", "v1",
                           js("{\"targets\":[{\"address\":\"::1\"},{\"address\":\"nope\"}]}"), &out,
                           &err),
               &err, 400, "invalid_field", "targets[1].address");
    expect_err(targets_raw(e, "p", "prod", "web", "v1", js("{}"), &out, &err), &err, 400,
               "invalid_field", "targets");
    expect_err(targets_raw(e, "p", "prod", "web", "v9", js("{\"targets\":[]}"), &out, &err), &err,
               404, "not_found", NULL);
    assert_int_equal(model_generation(M(fx)), gen);
    assert_int_equal(fx->nev, nev);
    /* the 64-character id is the longest accepted */
    id65[64] = '\0';
    json_decref(dep(e, "p", "prod", "web", jsf("{\"id\":\"%s\",\"targets\":[]}", id65)));
}

/* ---- tests: found by these tests ---------------------------------------------------------- */

/* A service whose deployment gives per-port target overrides ("ports":[8001,9001]) for
 * two service ports, then a PUT down to one port. The PUT is accepted (200); the service
 * must stay writable, and the state it wrote must load again. (Refusing the PUT with a
 * 4xx would be an acceptable answer too.) Returns 1 when the PUT was accepted. */
static int shrink_ports(struct env *e)
{
    struct model_err err = {0};
    json_t *out = NULL;

    json_decref(put(e, "p", "prod", "web",
                    js("{\"ports\":[{\"port\":8000},{\"port\":9000}],\"nanoid\":\"f2f2f2f2\","
                       "\"health\":{\"type\":\"none\"}}"), 201));
    json_decref(dep(e, "p", "prod", "web",
                    js("{\"id\":\"v1\",\"targets\":[{\"address\":\"10.0.0.1\",\"ports\":[8001,9001]}]}")));
    json_decref(promote(e, "p", "prod", "web", "v1", 1, -1));
    int rc = put_raw(e, "p", "prod", "web", js("{\"ports\":[{\"port\":8000}]}"), &out, &err);
    json_decref(out);
    if (rc == -1) {
        assert_int_equal(err.status / 100, 4);
        model_err_clear(&err);
        return 0;
    }
    assert_int_equal(rc, 200);
    assert_route(e, H("p-web-f2f2f2f2"), "n=1 10.0.0.1:8001");
    assert_route(e, H("p-web-f2f2f2f2-2"), "-");
    return 1;
}

static void test_fewer_ports_than_target_overrides_then_another_write(void **state)
{
    struct fx *fx = *state;
    struct env *e = E0(fx);
    struct model_err err = {0};
    json_t *out = NULL;

    if (!shrink_ports(e))
        return;
    int rc = dep_raw(e, "p", "prod", "web",
                     js("{\"id\":\"v2\",\"targets\":[{\"address\":\"10.0.0.2\"}]}"), &out, &err);
    json_decref(out);
    if (rc != 201)
        fail_msg("POST deployment after shrinking ports: %d %d %s: %s", rc, err.status, err.code,
                 err.message);
}

static void test_fewer_ports_than_target_overrides_then_restart(void **state)
{
    struct fx *fx = *state;
    struct env *e = E0(fx);

    if (!shrink_ports(e))
        return;
    env_close(e);
    /* fails (with model_load's message) when the state cannot be loaded */
    assert_int_equal(env_open(fx, &fx->env[1]), 0);
    assert_int_equal(model_service_count(fx->env[1].model), 1);
    assert_route(&fx->env[1], H("p-web-f2f2f2f2"), "n=1 10.0.0.1:8001");
}

/* http -> postgres -> http: the hosts leave the HTTP route table (names stay reserved) and
 * must come back, routed as before. */
static void test_protocol_change_back_to_http_routes_again(void **state)
{
    struct fx *fx = *state;
    struct env *e = E0(fx);
    const char *st = H("p-web-k9k9k9k9"), *dh = H("p-web-abcdef1");

    json_decref(put(e, "p", "prod", "web",
                    js("{\"ports\":[{\"port\":8000}],\"nanoid\":\"k9k9k9k9\",\"health\":{\"type\":\"none\"}}"),
                    201));
    json_decref(dep(e, "p", "prod", "web",
                    js("{\"id\":\"v1\",\"sha\":\"abcdef1\",\"targets\":[{\"address\":\"10.0.0.1\"}]}")));
    json_decref(promote(e, "p", "prod", "web", "v1", 1, -1));
    assert_route(e, st, "n=1 10.0.0.1:8000");
    assert_route(e, dh, "n=1 10.0.0.1:8000");
    json_decref(put(e, "p", "prod", "web", js("{\"protocol\":\"postgres\"}"), 200));
    assert_route(e, st, "-");
    assert_route(e, dh, "-");
    assert_int_equal(model_host_count(M(fx)), 2); /* still reserved */
    json_decref(put(e, "p", "prod", "web", js("{\"protocol\":\"http\"}"), 200));
    assert_route(e, st, "n=1 10.0.0.1:8000");
    assert_route(e, dh, "n=1 10.0.0.1:8000");
}

/* A host of the configuration file (here put in the table directly, as config_routes does)
 * is not the model's to take. */
static void test_hosts_of_the_config_file_are_refused(void **state)
{
    struct fx *fx = *state;
    struct env *e = E0(fx);
    struct model_err err = {0};
    json_t *out = NULL;
    struct route_table *t = router_routes(e->router);
    struct route_group *g = route_group_new();
    const char *h = H("cfg-web-c0c0c0c0");

    assert_non_null(g);
    assert_int_equal(route_table_insert(t, h, strlen(h), g, 0), 0);
    int rc = put_raw(e, "cfg", "prod", "web",
                     js("{\"ports\":[{\"port\":1}],\"nanoid\":\"c0c0c0c0\",\"health\":{\"type\":\"none\"}}"),
                     &out, &err);
    int status = err.status;
    json_t *owner = json_incref(json_object_get(err.details, "owner"));
    model_err_clear(&err);
    route_table_remove(t, h, strlen(h));
    route_group_free(t, g);
    assert_int_equal(rc, -1);
    assert_int_equal(status, 409);
    assert_string_equal(jstr(owner, "source"), "config");
    json_decref(owner);
    assert_int_equal(model_generation(M(fx)), 0);
    assert_int_equal(model_service_count(M(fx)), 0);
}

int main(void)
{
    log_level = LOG_WARN;
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_put_service_created_updated_nanoid_generation_events),
        T(test_stable_hosts_number_public_ports_only),
        T(test_deployment_hosts_sha7_and_fallback),
        T(test_long_names_are_shortened_to_63_octets),
        T(test_promote_switches_every_stable_host_and_keeps_deployment_hosts),
        T(test_states_healthy_active_draining_retained),
        T(test_promote_require_healthy_and_noop),
        T(test_delete_deployment_and_service),
        T(test_same_commit_takeover_and_collisions),
        T(test_replace_targets_keeps_survivors_and_gates_new_ones),
        T(test_restart_gives_back_services_and_routes),
        T(test_restart_trusts_active_targets_until_checks_fail),
        T(test_failed_commit_changes_nothing),
        T(test_validation_errors_name_the_field),
        T(test_protocol_change_back_to_http_routes_again),
        T(test_hosts_of_the_config_file_are_refused),
        T(test_fewer_ports_than_target_overrides_then_another_write),
        T(test_fewer_ports_than_target_overrides_then_restart),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
