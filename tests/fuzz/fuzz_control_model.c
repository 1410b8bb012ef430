/*
 * fuzz_control_model: libFuzzer entry for the control-plane model (control/model.h).
 *
 * One process-wide fixture, built on the first input: a router running one worker (its
 * route table is what the model publishes into; the fuzzer's thread is the table's writer
 * and observes it with route_table_lookup), a libuv loop of our own for health checks and
 * drain timers, a file store in a temporary directory (on /dev/shm when there is one, so a
 * commit costs no disk I/O) and a model for the domain "hostess.localhost".
 *
 * Input: up to MAX_OPS lines ('\n' separates them). In each line
 *   byte 0   the operation: one of OP_LETTERS (S put service, D create deployment,
 *            T replace targets, P promote, H promote with require_healthy, X delete
 *            deployment, R delete service, G get service, g get deployment, L list,
 *            l list one project), any other byte modulo the number of operations;
 *   byte 1   the (project, environment, service) names: '0'-'9' then 'a'-'z' index
 *            names[] (modulo its size), any other byte modulo too;
 *   byte 2   the deployment id in the path: 'a'-'z' index ids[] ('a' is ids[0]), any
 *            other byte as is, modulo its size;
 *   the rest the JSON body (json_loadb, duplicates rejected as in the API; any JSON
 *            value). Empty: a NULL body. Not JSON: the line is skipped. A promote reads
 *            "drain_ms" from it.
 *
 * Target addresses in deployment bodies that parse as IP literals are rewritten to
 * loopback (IPv4 127.254.c.d keeping the last two bytes, IPv6 ::1) before the call, so
 * that health checks never leave the machine; anything else is passed as given. The one
 * exception is "127.0.0.1": it stays, and its ports are set to a responder the fixture
 * runs on its loop (answers "200 OK" to anything), so inputs can make targets healthy
 * under http and tcp checks too, not only with health type none.
 *
 * After every operation (and after pumping the loop) the invariants that must always hold
 * are checked, abort() on violation:
 *   - a failed operation (-1, with a 4xx/5xx status and a code) leaves the generation
 *     unchanged, and (except a promote refused as "unhealthy", which marks the deployment)
 *     the whole listing, the host count and the route table's size too;
 *   - a successful write bumps the generation by exactly 1; get, list and a promote of
 *     the active deployment leave it; a result body carries the current generation;
 *   - every listed service reads back (GET) exactly as listed; each of its stable hosts
 *     (urls.ports[].external_host) is in the route table when the service is http, with
 *     as many targets as the active deployment has healthy ones (0 with none active),
 *     and is absent when it is not http; the table never holds more hosts than the model
 *     claims;
 *   - a deleted service's stable hosts are gone from the table.
 * At the end of every input every service is deleted, and the model's hosts and the
 * route table must be back to zero, so state stays bounded across inputs.
 *
 * FUZZ_VERBOSE=1 in the environment prints one line per operation (what, result, error).
 *
 * Build for fuzzing:  clang -fsanitize=fuzzer,address,undefined ... fuzz_control_model.c
 * Build for replay:   cc -DFUZZ_REPLAY_MAIN ... fuzz_control_model.c; ./a.out FILE...
 */
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "control/model.h"
#include "control/store.h"
#include "router/base/log.h"
#include "router/route_table.h"
#include "router/router.h"
#include "router/settings.h"
#include "tests/support/rm_rf.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_control_model: check failed at line %d: %s\n", __LINE__, #c);  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_OPS 8

enum op {
    OP_PUT,
    OP_DEP,
    OP_TARGETS,
    OP_PROMOTE,
    OP_PROMOTE_HEALTHY,
    OP_DEL_DEP,
    OP_DEL_SVC,
    OP_GET,
    OP_GET_DEP,
    OP_LIST,
    OP_LIST_PROJECT,
    NOPS
};
static const char OP_LETTERS[] = "SDTPHXRGgLl"; /* in enum op order */

#define X10 "xxxxxxxxxx"
#define X90 X10 X10 X10 X10 X10 X10 X10 X10 X10

static const struct {
    const char *p, *e, *s;
} names[] = {
    {"my-app", "prod", "web"},
    {"my-app", "staging", "web"},              /* same owner, another environment */
    {"a-b", "x", "c"},                         /* "a-b-c-…" ... */
    {"a", "x", "b-c"},                         /* ... the same labels, another owner */
    {X90 "abcdefgh-1", "prod", "web"},         /* 100 bytes: shortened in labels ... */
    {X90 "abcdefgh-2", "prod", "web"},         /* ... to the same prefix */
    {"my-app", X90 "abcdefghij", "web"},       /* 100-byte environment */
    {"\xc3\x9c" "ber__Shop", "prod", "\xe6\x97\xa5\xe6\x9c\xac-web"}, /* Über__Shop, 日本-web */
    {"My App!", "prod", "WEB"},                /* normalises to my-app/web, another owner */
    {"db", "prod", "pg"},
    {"my-app", "prod", "\xe6\x97\xa5\xe6\x9c\xac"}, /* 日本: normalises to "" (400) */
    {"", "prod", "web"},                       /* empty (400) */
    {X90 "abcdefghijk", "prod", "web"},        /* 101 bytes (400) */
    {"a/b", "prod", "web"},                    /* '/' (400) */
    {"p\x1fq", "e", "s"},                      /* unit separator (400) */
    {"my-app", "prod", "a" X90 "bcdefghij"},   /* 100-byte service */
};
#define NNAMES (sizeof(names) / sizeof(names[0]))

static const char *const ids[] = {
    "d1", "d2", "d3", "dep.v2_rc-1",
    "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",  /* 64 */
    "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd", /* 65 */
    "", "bad/id",
};
#define NIDS (sizeof(ids) / sizeof(ids[0]))

static struct {
    int            ready;
    int            verbose;  /* FUZZ_VERBOSE set: one line per operation on stderr */
    char           dir[64];
    char           path[128];
    uv_loop_t      loop;
    struct router *router;
    struct store  *store;
    struct model  *model;
    uv_tcp_t       resp;      /* the responder: answers health checks (see localise_targets) */
    int            resp_port;
} F;

/* ---- fixture ------------------------------------------------------------------------- */

static void remove_dir(void)
{
    if (F.dir[0] != '\0')
        rm_rf(F.dir);
}

static void on_event(void *ud, uint64_t generation, const char *type, json_t *data)
{
    (void)ud;
    CHECK(type != NULL && type[0] != '\0');
    CHECK(json_is_object(data));
    CHECK(generation == model_generation(F.model));
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

/* The responder: a TCP server on the fixture's loop that answers anything it reads with
 * "200 OK" and closes, so targets pointed at it pass http and tcp checks. A connection's
 * handle comes first and its data points at itself: teardown frees such handles. */
struct rconn {
    uv_tcp_t   tcp;
    uv_write_t w;
    char       buf[512];
    int        answered;
};

static const char resp_ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void rconn_close(struct rconn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, free_handle);
}

static void rconn_alloc(uv_handle_t *h, size_t size, uv_buf_t *b)
{
    struct rconn *c = (struct rconn *)h;
    (void)size;
    b->base = c->buf;
    b->len = sizeof(c->buf);
}

static void rconn_written(uv_write_t *w, int status)
{
    (void)status;
    rconn_close(w->data);
}

static void rconn_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct rconn *c = (struct rconn *)st;
    (void)b;
    if (n < 0) {
        rconn_close(c);
        return;
    }
    if (n > 0 && !c->answered) {
        uv_buf_t r = uv_buf_init((char *)resp_ok, sizeof(resp_ok) - 1);
        c->answered = 1;
        c->w.data = c;
        if (uv_write(&c->w, st, &r, 1, rconn_written) != 0)
            rconn_close(c);
    }
}

static void resp_conn(uv_stream_t *l, int status)
{
    struct rconn *c;

    if (status < 0 || (c = calloc(1, sizeof(*c))) == NULL)
        return;
    uv_tcp_init(l->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, rconn_alloc, rconn_read) != 0)
        rconn_close(c);
}

/* Listens on 127.0.0.1, port chosen by the kernel. 0 or -1. */
static int resp_start(void)
{
    struct sockaddr_in sa;
    struct sockaddr_storage got;
    int len = sizeof(got);

    if (uv_tcp_init(&F.loop, &F.resp) != 0 || uv_ip4_addr("127.0.0.1", 0, &sa) != 0 ||
        uv_tcp_bind(&F.resp, (struct sockaddr *)&sa, 0) != 0 ||
        uv_listen((uv_stream_t *)&F.resp, 128, resp_conn) != 0 ||
        uv_tcp_getsockname(&F.resp, (struct sockaddr *)&got, &len) != 0)
        return -1;
    F.resp_port = ntohs(((struct sockaddr_in *)&got)->sin_port);
    return 0;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "fuzz_control_model: %s: %s\n", what, msg);
    remove_dir();
    exit(1);
}

static void setup(void)
{
    char err[1024], yaml[128];
    struct edge_config *cfg;
    struct router_snapshot *snap;
    int port = unused_port();
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";

    F.verbose = getenv("FUZZ_VERBOSE") != NULL;
    signal(SIGPIPE, SIG_IGN); /* health checks write to sockets peers may have closed */
    log_open("/dev/null");    /* "cannot route", "drained, retained": noise at this rate */
    snprintf(F.dir, sizeof(F.dir), "%s/fuzz_control_model.XXXXXX", base);
    if (mkdtemp(F.dir) == NULL) {
        F.dir[0] = '\0';
        die("mkdtemp", base);
    }
    snprintf(F.path, sizeof(F.path), "%s/state.json", F.dir);
    if (port < 0 || uv_loop_init(&F.loop) != 0 || resp_start() != 0)
        die("setup", "no free port, no loop or no responder");
    snprintf(yaml, sizeof(yaml),
             "listen: {http: \"127.0.0.1:%d\"}\ncontrol: {listen: \"off\"}\n", port);
    cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL || edge_config_load_string("fuzz", yaml, strlen(yaml), cfg, err,
                                               sizeof(err)) != 0)
        die("edge_config_load_string", cfg ? err : "out of memory");
    snap = calloc(1, sizeof(*snap));
    if (snap == NULL)
        die("setup", "out of memory");
    snap->cfg = cfg;
    if ((F.router = router_create(snap, 1, err, sizeof(err))) == NULL)
        die("router_create", err);
    if (router_run(F.router, err, sizeof(err)) != 0)
        die("router_run", err);
    if ((F.store = store_open_file(F.path, err, sizeof(err))) == NULL)
        die("store_open_file", err);
    struct model_options o = {
        .loop = &F.loop,
        .router = F.router,
        .store = F.store,
        .domain = "hostess.localhost",
        .url_scheme = "http",
        .url_port = 0,
        .drain_ms = 1,
        .on_event = on_event,
        .ud = NULL,
    };
    if ((F.model = model_new(&o)) == NULL)
        die("model_new", "out of memory");
    if (model_load(F.model, err, sizeof(err)) != 0)
        die("model_load", err);
    CHECK(route_table_count(router_routes(F.router)) == 0);
    F.ready = 1;
#ifndef FUZZ_REPLAY_MAIN
    atexit(remove_dir); /* libFuzzer never returns to a teardown */
#endif
}

#ifdef FUZZ_REPLAY_MAIN
static void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, h->data == (void *)h ? free_handle : NULL);
}

/* model_free, the loop until every handle is closed, the router, the store, the files. */
static void teardown(void)
{
    if (!F.ready)
        return;
    model_free(F.model);
    uv_walk(&F.loop, walk_close, NULL);
    uv_run(&F.loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&F.loop) == 0);
    router_drain(F.router, 0);
    router_join(F.router);
    router_free(F.router);
    store_close(F.store);
    remove_dir();
    F.ready = 0;
}
#endif

static void pump(int turns)
{
    for (int i = 0; i < turns; i++)
        uv_run(&F.loop, UV_RUN_NOWAIT);
}

/* ---- invariants ----------------------------------------------------------------------- */

static json_t *list_all(void)
{
    json_t *out = NULL;
    int rc = model_list_services(F.model, NULL, &out);

    CHECK(rc == 200 && json_is_object(out));
    CHECK(json_is_array(json_object_get(out, "services")));
    CHECK(json_integer_value(json_object_get(out, "generation")) ==
          (json_int_t)model_generation(F.model));
    return out;
}

static const char *sget(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    CHECK(json_is_string(v));
    return json_string_value(v);
}

static const struct route *lookup(const char *host)
{
    return route_table_lookup(router_routes(F.router), host, strlen(host));
}

/* The healthy targets of svc's active deployment, 0 with none active. */
static json_int_t active_healthy(json_t *svc)
{
    json_t *active = json_object_get(svc, "active"), *deps = json_object_get(svc, "deployments");
    size_t i;
    json_t *d;

    CHECK(json_is_array(deps));
    if (json_is_null(active))
        return 0;
    CHECK(json_is_string(active));
    json_array_foreach(deps, i, d) {
        if (strcmp(sget(d, "id"), json_string_value(active)) == 0) {
            CHECK(strcmp(sget(d, "state"), "active") == 0);
            json_t *h = json_object_get(d, "healthy_targets");
            CHECK(json_is_integer(h) && json_integer_value(h) >= 0);
            return json_integer_value(h);
        }
    }
    CHECK(!"the active deployment is not listed");
    return 0;
}

static void check_service(json_t *svc)
{
    const char *p = sget(svc, "project"), *e = sget(svc, "environment"), *s = sget(svc, "service");
    struct model_err err = {0};
    json_t *got = NULL, *urls, *ports, *port, *sports;
    size_t i, npublic = 0;

    /* It reads back as listed. */
    CHECK(model_get_service(F.model, p, e, s, &got, &err) == 200);
    CHECK(json_integer_value(json_object_get(got, "generation")) ==
          (json_int_t)model_generation(F.model));
    json_object_del(got, "generation");
    CHECK(json_equal(got, svc));
    json_decref(got);

    sports = json_object_get(svc, "ports");
    CHECK(json_is_array(sports) && json_array_size(sports) >= 1 && json_array_size(sports) <= 16);
    json_array_foreach(sports, i, port)
        npublic += json_is_true(json_object_get(port, "public"));

    /* Its stable hosts route (http) or stay out of the table (other protocols). */
    int http = strcmp(sget(svc, "protocol"), "http") == 0;
    json_int_t healthy = active_healthy(svc);
    urls = json_object_get(svc, "urls");
    ports = json_object_get(urls, "ports");
    CHECK(json_is_array(ports) && json_array_size(ports) == npublic);
    CHECK(http ? npublic >= 1 : 1);
    json_array_foreach(ports, i, port) {
        const char *host = sget(port, "external_host");
        const struct route *r = lookup(host);

        if (i == 0)
            CHECK(strcmp(host, sget(urls, "external_host")) == 0);
        if (http) {
            CHECK(r != NULL);
            CHECK((json_int_t)r->ntargets == healthy);
        } else {
            CHECK(r == NULL);
        }
    }
}

static void check_model(void)
{
    json_t *list = list_all(), *svcs = json_object_get(list, "services"), *svc;
    size_t i;

    CHECK(json_array_size(svcs) == model_service_count(F.model));
    CHECK(route_table_count(router_routes(F.router)) <= model_host_count(F.model));
    json_array_foreach(svcs, i, svc)
        check_service(svc);
    json_decref(list);
}

/* ---- operations ----------------------------------------------------------------------- */

/* names[]: '0'-'9' are 0-9, 'a'-'z' 10-35; any other byte as is; modulo the size. */
static unsigned pick_name(uint8_t b)
{
    unsigned v = b;

    if (b >= '0' && b <= '9')
        v = (unsigned)(b - '0');
    else if (b >= 'a' && b <= 'z')
        v = (unsigned)(b - 'a' + 10);
    return v % (unsigned)NNAMES;
}

/* ids[]: 'a'-'z' are 0-25; any other byte as is; modulo the size. */
static unsigned pick_id(uint8_t b)
{
    unsigned v = b >= 'a' && b <= 'z' ? (unsigned)(b - 'a') : b;

    return v % (unsigned)NIDS;
}

static enum op pick_op(uint8_t b)
{
    const char *c = b != 0 ? strchr(OP_LETTERS, b) : NULL;

    return c != NULL ? (enum op)(c - OP_LETTERS) : (enum op)(b % NOPS);
}

/* Keeps health checks on this machine: IP literals become loopback addresses that nobody
 * listens on, except 127.0.0.1, whose ports all become the responder's. */
static void localise_targets(json_t *body)
{
    json_t *targets = json_object_get(body, "targets"), *t;
    size_t i;

    if (!json_is_array(targets))
        return;
    json_array_foreach(targets, i, t) {
        json_t *a = json_object_get(t, "address");
        unsigned char b[16];
        char buf[32];

        if (!json_is_string(a))
            continue;
        if (strcmp(json_string_value(a), "127.0.0.1") == 0) {
            json_t *ports = json_array();
            for (int k = 0; k < 16; k++)
                json_array_append_new(ports, json_integer(F.resp_port));
            json_object_set_new(t, "ports", ports);
        } else if (inet_pton(AF_INET, json_string_value(a), b) == 1) {
            snprintf(buf, sizeof(buf), "127.254.%u.%u", b[2], b[3]);
            json_object_set_new(t, "address", json_string(buf));
        } else if (inet_pton(AF_INET6, json_string_value(a), b) == 1) {
            json_object_set_new(t, "address", json_string("::1"));
        }
    }
}

/* The stable hosts of p/e/s as GET shows them (a new reference to an array, or NULL). */
static json_t *stable_hosts(const char *p, const char *e, const char *s)
{
    struct model_err err = {0};
    json_t *got = NULL, *hosts, *port;
    size_t i;

    if (model_get_service(F.model, p, e, s, &got, &err) != 200) {
        CHECK(err.status == 400 || err.status == 404);
        model_err_clear(&err);
        return NULL;
    }
    hosts = json_array();
    CHECK(hosts != NULL);
    json_array_foreach(json_object_get(json_object_get(got, "urls"), "ports"), i, port)
        json_array_append(hosts, json_object_get(port, "external_host"));
    json_decref(got);
    return hosts;
}

static void run_op(enum op op, const char *p, const char *e, const char *s, const char *id,
                   json_t *body)
{
    struct model_err err = {0};
    json_t *out = NULL, *before = list_all(), *hosts = NULL;
    uint64_t gen = model_generation(F.model);
    size_t nhosts = model_host_count(F.model);
    size_t nroutes = route_table_count(router_routes(F.router));
    int rc = -1, noop = 0;

    switch (op) {
    case OP_PUT:
        rc = model_put_service(F.model, p, e, s, body, &out, &err);
        CHECK(rc == -1 || rc == 200 || rc == 201);
        break;
    case OP_DEP:
        localise_targets(body);
        rc = model_create_deployment(F.model, p, e, s, body, &out, &err);
        CHECK(rc == -1 || rc == 201);
        break;
    case OP_TARGETS:
        localise_targets(body);
        rc = model_replace_targets(F.model, p, e, s, id, body, &out, &err);
        CHECK(rc == -1 || rc == 200);
        break;
    case OP_PROMOTE:
    case OP_PROMOTE_HEALTHY: {
        json_t *dm = json_object_get(body, "drain_ms"), *cur = NULL;
        long drain = json_is_integer(dm) && json_integer_value(dm) >= -1 &&
                             json_integer_value(dm) <= 86400000
                         ? (long)json_integer_value(dm)
                         : -1;
        struct model_err e2 = {0};

        /* Promoting the active deployment again is the one write that changes nothing. */
        if (model_get_service(F.model, p, e, s, &cur, &e2) == 200) {
            json_t *a = json_object_get(cur, "active");
            noop = json_is_string(a) && strcmp(json_string_value(a), id) == 0;
            json_decref(cur);
        }
        model_err_clear(&e2);
        rc = model_promote(F.model, p, e, s, id, op == OP_PROMOTE_HEALTHY, drain, &out, &err);
        CHECK(rc == -1 || rc == 200);
        if (rc == 200) {
            CHECK(strcmp(sget(out, "active"), id) == 0);
            CHECK(noop ? json_is_null(json_object_get(out, "previous")) : 1);
        }
        break;
    }
    case OP_DEL_DEP:
        rc = model_delete_deployment(F.model, p, e, s, id, &err);
        CHECK(rc == -1 || rc == 204);
        break;
    case OP_DEL_SVC:
        hosts = stable_hosts(p, e, s);
        rc = model_delete_service(F.model, p, e, s, &err);
        CHECK(rc == -1 || rc == 204);
        break;
    case OP_GET:
        rc = model_get_service(F.model, p, e, s, &out, &err);
        CHECK(rc == -1 || rc == 200);
        noop = 1;
        break;
    case OP_GET_DEP:
        rc = model_get_deployment(F.model, p, e, s, id, &out, &err);
        CHECK(rc == -1 || rc == 200);
        if (rc == 200)
            CHECK(strcmp(sget(out, "id"), id) == 0);
        noop = 1;
        break;
    case OP_LIST:
    case OP_LIST_PROJECT: {
        const char *proj = op == OP_LIST ? NULL : p;
        json_t *svc;
        size_t i;

        rc = model_list_services(F.model, proj, &out);
        CHECK(rc == 200 && out != NULL);
        CHECK(json_array_size(json_object_get(out, "services")) <=
              model_service_count(F.model));
        json_array_foreach(json_object_get(out, "services"), i, svc)
            CHECK(proj == NULL || strcmp(sget(svc, "project"), proj) == 0);
        noop = 1;
        break;
    }
    case NOPS:
        break;
    }

    if (F.verbose)
        fprintf(stderr, "%c %s/%s/%s %s -> %d %d %s %s (generation %llu)\n", OP_LETTERS[op],
                p, e, s, id, rc, err.status, err.code, err.message,
                (unsigned long long)model_generation(F.model));
    if (rc == -1) {
        CHECK(out == NULL);
        CHECK(err.status >= 400 && err.status <= 599 && err.code[0] != '\0');
        CHECK(model_generation(F.model) == gen);
        /* A refused promote marks the deployment "unhealthy"; nothing else may change. */
        if (!(err.status == 409 && strcmp(err.code, "unhealthy") == 0)) {
            json_t *after = list_all();
            CHECK(json_equal(before, after));
            json_decref(after);
        }
        CHECK(model_host_count(F.model) == nhosts);
        CHECK(route_table_count(router_routes(F.router)) == nroutes);
    } else {
        CHECK(err.details == NULL);
        CHECK(model_generation(F.model) == gen + (noop ? 0 : 1));
        if (rc != 204) {
            CHECK(json_is_object(out));
            CHECK(json_integer_value(json_object_get(out, "generation")) ==
                  (json_int_t)model_generation(F.model));
        }
        if (op == OP_DEL_SVC) {
            json_t *h;
            size_t i;

            CHECK(hosts != NULL);
            json_array_foreach(hosts, i, h)
                CHECK(lookup(json_string_value(h)) == NULL);
        }
    }
    model_err_clear(&err);
    json_decref(out);
    json_decref(hosts);
    json_decref(before);
}

/* Deletes every service; the model's hosts and the route table must then be empty. */
static void reset(void)
{
    json_t *list = list_all(), *svc;
    size_t i;

    json_array_foreach(json_object_get(list, "services"), i, svc) {
        struct model_err err = {0};
        uint64_t gen = model_generation(F.model);
        int rc = model_delete_service(F.model, sget(svc, "project"), sget(svc, "environment"),
                                      sget(svc, "service"), &err);
        CHECK(rc == 204);
        CHECK(model_generation(F.model) == gen + 1);
    }
    json_decref(list);
    pump(3); /* closes what the deletes released */
    CHECK(model_service_count(F.model) == 0);
    CHECK(model_host_count(F.model) == 0);
    CHECK(route_table_count(router_routes(F.router)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0;

    if (!F.ready)
        setup();
    for (int n = 0; n < MAX_OPS && pos < size; n++) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t end = nl != NULL ? (size_t)(nl - data) : size, len = end - pos;
        const uint8_t *line = data + pos;

        pos = end + 1;
        if (len < 3)
            continue;
        enum op op = pick_op(line[0]);
        unsigned k = pick_name(line[1]);
        const char *id = ids[pick_id(line[2])];
        json_t *body = NULL;
        if (len > 3) {
            json_error_t jerr;
            body = json_loadb((const char *)line + 3, len - 3,
                              JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
            if (body == NULL)
                continue;
        }
        run_op(op, names[k].p, names[k].e, names[k].s, id, body);
        json_decref(body);
        check_model();
        pump(3); /* health checks (a connect, a request, an answer) and drains move on */
        check_model();
    }
    reset();
    return 0;
}

#ifdef FUZZ_REPLAY_MAIN
int main(int argc, char **argv)
{
    static uint8_t buf[1 << 20];

    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (f == NULL) {
            perror(argv[i]);
            teardown();
            return 1;
        }
        size_t n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        /* A heap copy of exactly n bytes lets ASan catch reads past the input. */
        uint8_t *copy = malloc(n ? n : 1);
        if (copy == NULL)
            return 1;
        memcpy(copy, buf, n);
        LLVMFuzzerTestOneInput(copy, n);
        free(copy);
    }
    teardown();
    printf("replayed %d input(s)\n", argc - 1);
    return 0;
}
#endif
