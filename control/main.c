/*
 * hostess-edge: the process entry point (CONTRACT §4).
 *
 *   hostess-edge [--config FILE]          run the edge
 *   hostess-edge check --config FILE      validate FILE; exit 0, or 1 with file:line:col
 *   hostess-edge version
 *
 * The main thread is the control thread: it loads the config, builds routing snapshots,
 * starts the workers, and then runs its own loop for signals. SIGHUP reloads config and
 * routes (an invalid file is reported and the running config kept) and reopens the logs;
 * SIGTERM/SIGINT drain (stop accepting, finish in-flight requests within timeouts.drain)
 * and exit 0.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "certs/cert_store.h"
#include "router/base/hash.h"
#include "router/base/log.h"
#include "control/config_routes.h"
#include "control/plane.h"
#include "router/route_table.h"
#include "router/router.h"
#include "router/settings.h"

#ifndef HOSTESS_VERSION
#define HOSTESS_VERSION "dev"
#endif

struct edge_main {
    const char             *config_path;
    struct router          *router;
    struct config_routes   *config_routes;
    struct control_plane   *plane;
    uint64_t                generation;
    uv_signal_t             sighup, sigterm, sigint;
    uv_timer_t              reclaim;
    uv_timer_t              tickets;     /* session-ticket key rotation */
    uint32_t                tickets_ms;
    uv_fs_event_t           certs_watch; /* tls.certs_dir changes ... */
    uv_timer_t              certs_settle;/* ... reload once writes have settled */
    char                   *certs_watched;
    int                     stop_signal;
};

static int usage(void)
{
    fprintf(stderr, "usage: hostess-edge [--config FILE]\n"
                    "       hostess-edge check --config FILE\n"
                    "       hostess-edge version\n");
    return 2;
}

/* A snapshot that takes ownership of cfg (freed on failure). NULL on ENOMEM. */
static struct router_snapshot *snapshot_new(struct edge_main *m, struct edge_config *cfg)
{
    struct router_snapshot *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        edge_config_free(cfg);
        free(cfg);
        return NULL;
    }
    s->cfg = cfg;
    s->generation = ++m->generation;
    return s;
}

/* Loads cfg's routes into the table, then drops the config's copy of them: with a million
 * hosts that copy would be most of the process's memory. */
static int routes_apply(struct edge_main *m, struct edge_config *cfg, char *err, size_t errlen)
{
    if (config_routes_apply(m->config_routes, cfg, err, errlen) != 0)
        return -1;
    edge_config_routes_free(cfg);
#ifdef __GLIBC__
    malloc_trim(0); /* hand the YAML tree and the route copies back to the system */
#endif
    return 0;
}

static int open_logs(const struct edge_config *cfg)
{
    int rc = log_open(cfg->log.error);
    if (rc != 0) {
        fprintf(stderr, "hostess-edge: log.error %s: %s\n", cfg->log.error, strerror(-rc));
        return -1;
    }
    log_level = (enum log_level)cfg->log.level;
    rc = access_log_open(cfg->log.access);
    if (rc != 0) {
        log_error("log.access %s: %s", cfg->log.access, strerror(-rc));
        return -1;
    }
    return 0;
}

/* mkdir -p (0700: keys live there); 0 when the directory exists afterwards. */
static int dir_create(const char *dir)
{
    char p[PATH_MAX];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof p) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(p, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (i < len && p[i] != '/')
            continue;
        p[i] = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return -1;
        if (i < len)
            p[i] = '/';
    }
    return 0;
}

/* Loads tls.certs_dir into a new certificate store and publishes it. Files that fail are
 * reported (and their previous certificates kept, see cert_store.h); a directory that
 * cannot be read keeps the whole running store. Returns 0, or -1 with err. */
static int certs_load(struct edge_main *m, const struct edge_config *cfg, char *err,
                      size_t errlen)
{
    if (!router_https(m->router))
        return 0;
    if (dir_create(cfg->tls.certs_dir) != 0) {
        snprintf(err, errlen, "tls.certs_dir %s: cannot create: %s", cfg->tls.certs_dir,
                 strerror(errno));
        return -1;
    }
    struct cert_store *s = cert_store_load(cfg->tls.certs_dir, cfg->tls.default_cert,
                                           cfg->tls.default_key, router_certs(m->router), err,
                                           errlen);
    if (s == NULL)
        return -1;
    if (cert_store_cert_count(s) == 0) /* the store logged what it found */
        log_warn("tls: no certificate in %s: HTTPS handshakes fail until one is added",
                 cfg->tls.certs_dir);
    router_publish_certs(m->router, s);
    return 0;
}

#define CERTS_SETTLE_MS 500 /* a writer puts .crt and .key in place one after the other */

static void on_certs_settled(uv_timer_t *t)
{
    struct edge_main *m = t->data;
    char err[1024];
    log_info("tls: %s changed: reloading certificates", m->certs_watched);
    if (certs_load(m, router_current(m->router)->cfg, err, sizeof err) != 0)
        log_error("tls: certificates kept: %s", err);
}

static void on_certs_changed(uv_fs_event_t *h, const char *name, int events, int status)
{
    struct edge_main *m = h->data;
    (void)events;
    if (status < 0 || (name != NULL && name[0] == '.'))
        return; /* dot-files are temporaries of atomic writers (and ignored by the store) */
    uv_timer_start(&m->certs_settle, on_certs_settled, CERTS_SETTLE_MS, 0);
}

/* Watches tls.certs_dir, so that a pair published into it (an ACME client's renewal, a
 * deploy hook) serves without a SIGHUP; follows the directory across reloads. */
static void certs_watch(struct edge_main *m, const struct edge_config *cfg)
{
    if (!router_https(m->router) ||
        (m->certs_watched != NULL && strcmp(m->certs_watched, cfg->tls.certs_dir) == 0))
        return;
    if (m->certs_watched != NULL)
        uv_fs_event_stop(&m->certs_watch);
    free(m->certs_watched);
    m->certs_watched = strdup(cfg->tls.certs_dir);
    int rc = m->certs_watched ? uv_fs_event_start(&m->certs_watch, on_certs_changed,
                                                  m->certs_watched, 0)
                              : UV_ENOMEM;
    if (rc != 0) {
        log_warn("tls: cannot watch %s (%s): new certificates need a SIGHUP", cfg->tls.certs_dir,
                 uv_strerror(rc));
        free(m->certs_watched);
        m->certs_watched = NULL;
    }
}

static void on_rotate_tickets(uv_timer_t *t)
{
    struct edge_main *m = t->data;
    if (router_rotate_ticket_keys(m->router) != 0)
        log_error("tls: session ticket key rotation failed; the current key stays");
}

static void tickets_schedule(struct edge_main *m, const struct edge_config *cfg)
{
    if (!router_https(m->router) || cfg->tls.ticket_rotation_ms == m->tickets_ms)
        return;
    m->tickets_ms = cfg->tls.ticket_rotation_ms;
    uv_timer_start(&m->tickets, on_rotate_tickets, m->tickets_ms, m->tickets_ms);
}

static void on_reclaim(uv_timer_t *t)
{
    struct edge_main *m = t->data;
    router_reclaim(m->router);
}

static void reload(struct edge_main *m)
{
    char err[1024];
    struct edge_config *cfg = calloc(1, sizeof(*cfg));

    if (cfg == NULL) {
        log_error("reload: out of memory; keeping the running configuration");
        return;
    }
    if (edge_config_load(m->config_path, cfg, err, sizeof err) != 0) {
        log_error("reload failed, keeping the running configuration: %s", err);
        free(cfg);
        return;
    }
    const struct edge_config *cur = router_current(m->router)->cfg;
    if (memcmp(&cur->listen_http.sa, &cfg->listen_http.sa, sizeof cfg->listen_http.sa) != 0)
        log_warn("reload: listen.http changed to %s; listeners change only on restart",
                 cfg->listen_http.text);
    if (cur->https_enabled != cfg->https_enabled ||
        memcmp(&cur->listen_https.sa, &cfg->listen_https.sa, sizeof cfg->listen_https.sa) != 0)
        log_warn("reload: listen.https changed; listeners change only on restart");
    if (cur->workers != cfg->workers)
        log_warn("reload: workers changed; the worker count changes only on restart");
    if (open_logs(cfg) != 0)
        log_warn("reload: logs not reopened");
    size_t nroutes = cfg->nroutes; /* routes_apply frees the route list */
    if (routes_apply(m, cfg, err, sizeof err) != 0) {
        log_error("reload failed, keeping the running configuration: %s", err);
        edge_config_free(cfg);
        free(cfg);
        return;
    }
    struct router_snapshot *s = snapshot_new(m, cfg);
    if (s == NULL) {
        log_error("reload: out of memory; routes changed but settings kept");
        return;
    }
    if (router_publish(m->router, s) != 0) {
        log_error("reload failed: out of memory; keeping the running configuration");
        return;
    }
    control_plane_reload(m->plane, router_current(m->router)->cfg);
    if (certs_load(m, router_current(m->router)->cfg, err, sizeof err) != 0)
        log_error("reload: certificates kept: %s", err);
    tickets_schedule(m, router_current(m->router)->cfg);
    certs_watch(m, router_current(m->router)->cfg);
    log_info("reloaded %s: %zu routes, generation %llu", m->config_path ? m->config_path : "defaults",
             nroutes, (unsigned long long)m->generation);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct edge_main *m = h->data;

    if (signum == SIGHUP) {
        reload(m);
        return;
    }
    m->stop_signal = signum;
    uv_stop(h->loop);
}

static unsigned workers_auto(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (unsigned)n;
}

static int run(const char *path)
{
    struct edge_main m = {.config_path = path};
    char err[1024];
    uint64_t seed;

    if (getrandom(&seed, sizeof seed, 0) == sizeof seed)
        hash_seed_set(seed);
    signal(SIGPIPE, SIG_IGN);
    struct edge_config *cfg = calloc(1, sizeof(*cfg));
    if (cfg == NULL)
        return 1;
    if (edge_config_load(path, cfg, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        free(cfg);
        return 1;
    }
    if (open_logs(cfg) != 0) {
        edge_config_free(cfg);
        free(cfg);
        return 1;
    }
    unsigned nworkers = cfg->workers ? cfg->workers : workers_auto();
    struct router_snapshot *snap = snapshot_new(&m, cfg);
    if (snap == NULL)
        return 1;
    m.router = router_create(snap, nworkers, err, sizeof err);
    if (m.router == NULL) {
        log_error("%s", err);
        return 1;
    }
    if (certs_load(&m, cfg, err, sizeof err) != 0) {
        log_error("%s", err);
        return 1;
    }
    m.config_routes = config_routes_new(m.router);
    if (m.config_routes == NULL || routes_apply(&m, cfg, err, sizeof err) != 0) {
        log_error("%s", m.config_routes ? err : "out of memory");
        return 1;
    }
    uv_loop_t *loop = uv_default_loop();
    m.plane = control_plane_start(loop, router_current(m.router)->cfg, m.router, err,
                                  sizeof err);
    if (m.plane == NULL) {
        log_error("%s", err);
        config_routes_free(m.config_routes);
        router_join(m.router);
        router_free(m.router);
        uv_loop_close(loop);
        access_log_open("off");
        return 1;
    }
    log_info("hostess-edge %s starting: %zu routes", HOSTESS_VERSION,
             route_table_count(router_routes(m.router)));
    if (router_run(m.router, err, sizeof err) != 0) {
        log_error("%s", err);
        return 1;
    }

    uv_signal_init(loop, &m.sighup);
    uv_signal_init(loop, &m.sigterm);
    uv_signal_init(loop, &m.sigint);
    m.sighup.data = m.sigterm.data = m.sigint.data = &m;
    uv_signal_start(&m.sighup, on_signal, SIGHUP);
    uv_signal_start(&m.sigterm, on_signal, SIGTERM);
    uv_signal_start(&m.sigint, on_signal, SIGINT);
    uv_timer_init(loop, &m.reclaim);
    m.reclaim.data = &m;
    uv_timer_start(&m.reclaim, on_reclaim, 100, 100);
    uv_timer_init(loop, &m.tickets);
    m.tickets.data = &m;
    tickets_schedule(&m, router_current(m.router)->cfg);
    uv_fs_event_init(loop, &m.certs_watch);
    m.certs_watch.data = &m;
    uv_timer_init(loop, &m.certs_settle);
    m.certs_settle.data = &m;
    certs_watch(&m, router_current(m.router)->cfg);

    uv_run(loop, UV_RUN_DEFAULT);

    uint32_t drain_ms = router_current(m.router)->cfg->timeouts.drain_ms;
    log_info("signal %d: draining (up to %ums)", m.stop_signal, drain_ms);
    control_plane_stop_api(m.plane);
    router_drain(m.router, drain_ms);
    router_join(m.router);
    control_plane_free(m.plane);
    config_routes_free(m.config_routes);
    router_free(m.router);
    uv_close((uv_handle_t *)&m.sighup, NULL);
    uv_close((uv_handle_t *)&m.sigterm, NULL);
    uv_close((uv_handle_t *)&m.sigint, NULL);
    uv_close((uv_handle_t *)&m.reclaim, NULL);
    uv_close((uv_handle_t *)&m.tickets, NULL);
    uv_close((uv_handle_t *)&m.certs_watch, NULL);
    uv_close((uv_handle_t *)&m.certs_settle, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    free(m.certs_watched);
    access_log_open("off");
    log_info("stopped");
    return 0;
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    int check = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "version") == 0 || strcmp(argv[i], "--version") == 0) {
            printf("hostess-edge %s\n", HOSTESS_VERSION);
            return 0;
        } else if (strcmp(argv[i], "check") == 0 && i == 1) {
            check = 1;
        } else if ((strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) && i + 1 < argc) {
            config = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            config = argv[i] + 9;
        } else {
            return usage();
        }
    }
    if (check) {
        char err[1024];
        struct edge_config cfg;
        if (config == NULL)
            return usage();
        if (edge_config_load(config, &cfg, err, sizeof err) != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        printf("%s: ok (%zu routes)\n", config, cfg.nroutes);
        edge_config_free(&cfg);
        return 0;
    }
    return run(config);
}
