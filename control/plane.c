/*
 * plane: wiring of store → model → API, and the control token file.
 */
#include "control/plane.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control/api.h"
#include "control/model.h"
#include "control/store.h"
#include "router/base/log.h"
#include "router/router.h"
#include "router/settings.h"

#define TOKEN_MAX 256

struct control_plane {
    struct store       *store;
    struct model       *model;
    struct control_api *api;
    char               *domain; /* owned: the model keeps pointing at it */
    char                listen[64], state_path[PATH_MAX]; /* as started (reload warnings) */
    char                file_token[TOKEN_MAX + 1];
};

static void on_model_event(void *ud, uint64_t generation, const char *type, json_t *data)
{
    struct control_plane *p = ud;
    control_api_event(p->api, generation, type, data);
}

/* Writes a fresh random token to path (O_EXCL, 0600). 0 or -errno. */
static int token_create(const char *path, char *out)
{
    unsigned char raw[32];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return -EIO;
    for (size_t i = 0; i < sizeof raw; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    char line[2 * sizeof raw + 2];
    int n = snprintf(line, sizeof line, "%s\n", out);
    int rc = write(fd, line, (size_t)n) == n && fsync(fd) == 0 ? 0 : -EIO;
    close(fd);
    if (rc != 0)
        unlink(path);
    return rc;
}

/* Reads the first line of path into out. 0, -ENOENT, or -1 with err. */
static int token_read(const char *path, char *out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        if (errno == ENOENT)
            return -ENOENT;
        snprintf(err, errlen, "control.token_file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[TOKEN_MAX + 2] = "";
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    size_t n = strlen(line);
    for (size_t i = 0; ok && i < n; i++)
        ok = line[i] > 0x20 && line[i] < 0x7f;
    if (!ok || n < 16 || n > TOKEN_MAX) {
        snprintf(err, errlen, "control.token_file %s: the first line must be a token of 16 "
                 "to 256 visible ASCII characters", path);
        return -1;
    }
    memcpy(out, line, n + 1);
    return 0;
}

/* Fills p->file_token (maybe creating the file) and tokens[] (borrowed pointers). */
static int tokens_collect(struct control_plane *p, const struct edge_config *cfg,
                          const char **tokens, size_t *n, char *err, size_t errlen)
{
    *n = 0;
    for (size_t i = 0; i < cfg->control.ntokens; i++)
        tokens[(*n)++] = cfg->control.tokens[i];
    p->file_token[0] = '\0';
    const char *path = cfg->control.token_file;
    if (path != NULL && path[0] != '\0') {
        int rc = token_read(path, p->file_token, err, errlen);
        if (rc == -1)
            return -1;
        if (rc == -ENOENT && *n == 0) {
            if ((rc = token_create(path, p->file_token)) != 0) {
                snprintf(err, errlen, "control.token_file %s: cannot create: %s", path,
                         strerror(-rc));
                return -1;
            }
            log_info("control API token written to %s", path);
        }
        if (p->file_token[0] != '\0')
            tokens[(*n)++] = p->file_token;
    }
    if (*n == 0) {
        snprintf(err, errlen, "control: no token configured (control.tokens or "
                 "control.token_file)");
        return -1;
    }
    return 0;
}

struct control_plane *control_plane_start(uv_loop_t *loop, const struct edge_config *cfg,
                                          struct router *r, char *err, size_t errlen)
{
    struct control_plane *p = calloc(1, sizeof(*p));
    const char *tokens[64 + 1];
    size_t ntokens = 0;

    if (p == NULL || (p->domain = strdup(cfg->domain)) == NULL) {
        snprintf(err, errlen, "control: out of memory");
        free(p);
        return NULL;
    }
    snprintf(p->listen, sizeof p->listen, "%s",
             cfg->control.enabled ? cfg->control.listen.text : "off");
    snprintf(p->state_path, sizeof p->state_path, "%s", cfg->state.path);
    p->store = store_open_file(cfg->state.path, err, errlen);
    if (p->store == NULL)
        goto fail;
    store_set_compact_bytes(p->store, cfg->state.compact_after);
    /* Service URLs point where visitors go: the HTTPS listener when there is one. The
     * port sits at the same offset in sockaddr_in and sockaddr_in6. */
    const struct cfg_addr *pub = cfg->https_enabled ? &cfg->listen_https : &cfg->listen_http;
    unsigned port = ntohs(((const struct sockaddr_in *)&pub->sa)->sin_port);
    unsigned dflt = cfg->https_enabled ? 443 : 80;
    struct model_options mo = {
        .loop = loop,
        .router = r,
        .store = p->store,
        .domain = p->domain,
        .url_scheme = cfg->https_enabled ? "https" : "http",
        .url_port = port == dflt ? 0 : port,
        .drain_ms = cfg->timeouts.drain_ms,
        .on_event = on_model_event,
        .ud = p,
    };
    p->model = model_new(&mo);
    if (p->model == NULL) {
        snprintf(err, errlen, "control: out of memory");
        goto fail;
    }
    if (model_load(p->model, err, errlen) != 0)
        goto fail;
    log_info("state %s: %zu services, %zu hosts, generation %llu", cfg->state.path,
             model_service_count(p->model), model_host_count(p->model),
             (unsigned long long)model_generation(p->model));
    if (!cfg->control.enabled) {
        log_warn("control API disabled (control.listen: off)");
        return p;
    }
    if (cfg->control.ntokens > 64) {
        snprintf(err, errlen, "control.tokens: at most 64 tokens");
        goto fail;
    }
    if (tokens_collect(p, cfg, tokens, &ntokens, err, errlen) != 0)
        goto fail;
    p->api = control_api_start(loop, cfg, p->model, r, tokens, ntokens, err, errlen);
    if (p->api == NULL)
        goto fail;
    return p;
fail:
    control_plane_free(p);
    return NULL;
}

void control_plane_reload(struct control_plane *p, const struct edge_config *cfg)
{
    const char *tokens[64 + 1];
    size_t n = 0;
    char err[512];

    if (strcmp(cfg->domain, p->domain) != 0)
        log_warn("reload: domain changed to %s; generated hosts change only on restart",
                 cfg->domain);
    if (strcmp(cfg->control.enabled ? cfg->control.listen.text : "off", p->listen) != 0)
        log_warn("reload: control.listen changed; it changes only on restart");
    if (strcmp(cfg->state.path, p->state_path) != 0)
        log_warn("reload: state.path changed; it changes only on restart");
    if (p->api == NULL)
        return;
    if (cfg->control.ntokens > 64 || tokens_collect(p, cfg, tokens, &n, err, sizeof err) != 0) {
        log_error("reload: control tokens kept: %s", cfg->control.ntokens > 64
                  ? "control.tokens: at most 64 tokens" : err);
        return;
    }
    if (control_api_set_tokens(p->api, tokens, n) != 0)
        log_error("reload: control tokens kept: out of memory");
}

void control_plane_stop_api(struct control_plane *p)
{
    if (p == NULL)
        return;
    control_api_close(p->api);
    p->api = NULL;
}

void control_plane_free(struct control_plane *p)
{
    if (p == NULL)
        return;
    control_plane_stop_api(p);
    model_free(p->model);
    store_close(p->store);
    free(p->domain);
    free(p);
}
