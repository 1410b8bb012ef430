/*
 * model_internal: the model's private types, shared by model.c (operations),
 * model_codec.c (JSON in and out) and model_routes.c (hosts, route sets, health).
 *
 * A service (struct msvc) and its deployments are plain data that can be copied through
 * JSON; what is attached to the running process (route groups, health checks, timers)
 * hangs off ->rt pointers that are handed from the old copy to the new one on every write.
 */
#ifndef HOSTESS_CONTROL_MODEL_INTERNAL_H
#define HOSTESS_CONTROL_MODEL_INTERNAL_H

#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "control/health.h"
#include "control/model.h"
#include "control/naming.h"

#define MODEL_MAX_PORTS   16
#define MODEL_NAME_MAX    100  /* bytes of a project, environment or service name */
#define MODEL_ID_MAX      64   /* bytes of a deployment id */
#define MODEL_MAX_TARGETS 1024 /* per deployment */

enum mproto { PROTO_HTTP = 0, PROTO_POSTGRES, PROTO_REDIS, PROTO_TCP };
enum mhealth { HEALTH_KIND_HTTP = 0, HEALTH_KIND_TCP, HEALTH_KIND_NONE };
/* What the control API decided; health adds pending/healthy/unhealthy on top. */
enum mphase { PHASE_CREATED = 0, PHASE_ACTIVE, PHASE_PREVIOUS };

struct mtarget {
    char                    address[48];  /* IP literal as given */
    struct sockaddr_storage sa;           /* port 0; each port is set when used */
    socklen_t               salen;
    uint16_t                ports[MODEL_MAX_PORTS]; /* per service port, as given */
    uint8_t                 nports;       /* given; later service ports use their own */
};

struct dep_rt;
struct svc_rt;
struct msvc;

struct mdep {
    char            id[MODEL_ID_MAX + 1];
    char            sha[NAMING_SHA_MAX + 1]; /* "" when none */
    char            id7[NAMING_SHA7_LEN + 1];
    uint64_t        seq;     /* creation order, model-wide: the newest holds a shared host */
    enum mphase     phase;
    struct mtarget *targets;
    uint32_t        ntargets;
    struct dep_rt  *rt;      /* runtime; NULL in a copy not yet applied */
};

struct msvc {
    char          key[3 * MODEL_NAME_MAX + 3]; /* "project/environment/service" */
    char          project[MODEL_NAME_MAX + 1], env[MODEL_NAME_MAX + 1],
                  name[MODEL_NAME_MAX + 1];
    char          np[MODEL_NAME_MAX + 1], ns[MODEL_NAME_MAX + 1]; /* normalised */
    char          nanoid[NAMING_NANOID_LEN + 1];
    enum mproto   proto;
    struct {
        uint16_t port;
        uint8_t  public;
    } ports[MODEL_MAX_PORTS];
    uint32_t      nports, npublic;
    enum mhealth  hkind;
    struct health_spec hspec;     /* path, interval, timeout, thresholds */
    struct mdep **deps;           /* ndeps, in creation order */
    uint32_t      ndeps;
    struct svc_rt *rt;
};

struct model {
    struct model_options o;
    struct strmap       *services; /* key → struct msvc */
    struct strmap       *owners;   /* "project\x1fservice" → struct owner (all envs) */
    struct strmap       *claims;   /* fqdn → struct claim */
    uint64_t             generation;
    uint64_t             seq;      /* last deployment seq given out */
    uint64_t             serial;   /* route tags: runtime only, never reused */
    int                  loading;  /* model_load: active targets start trusted */
};

/* The port to use on t for service port index i (0-based). */
static inline uint16_t mtarget_port(const struct mtarget *t, const struct msvc *s, uint32_t i)
{
    return i < t->nports ? t->ports[i] : s->ports[i].port;
}

/* One target's health check. */
struct hc_ref {
    struct dep_rt       *rt;
    struct health_check *hc;    /* NULL when the service has no checks */
    uint32_t             index; /* in the deployment's targets */
    uint8_t              up;
};

struct dep_rt {
    struct model       *m;
    char                svc_key[3 * MODEL_NAME_MAX + 3];
    char                dep_id[MODEL_ID_MAX + 1];
    struct route_group *group;       /* deployment hosts (http services only) */
    uint64_t            tag;         /* route tag of the deployment hosts (even) */
    uint64_t            stable_tag;  /* route tag of its stable copy, new at every promote
                                        (odd), so a drain cut never hits a later term */
    uint64_t            cut_tag;     /* the stable_tag the running drain will cut */
    struct hc_ref      *checks;      /* one per target */
    uint32_t            nchecks, nup;
    uint8_t             unhealthy;   /* a promote found it unhealthy, or it lost every target */
    uint8_t             draining;    /* replaced; drain timer running */
    uint32_t            drain_ms_next; /* drain deadline to use when it is replaced */
    uv_timer_t          drain;       /* closed (and rt freed) in model_routes.c */
};

struct svc_rt {
    struct route_group *stable;      /* stable hosts and custom domains (http only) */
};

/* Who holds a hostname. Stable hosts: dep_id is "". */
struct claim {
    char     svc_key[3 * MODEL_NAME_MAX + 3];
    char     dep_id[MODEL_ID_MAX + 1];
    uint32_t port;   /* 1-based public port number */
    uint8_t  routed; /* in the route table (http services only) */
};

/* model_codec.c */
/* Copies a project/environment/service name (1..MODEL_NAME_MAX bytes) into dst and its
 * normalised label into ndst. 0, or -1 when it is empty, too long or normalises to "". */
int msvc_set_name(char *dst, char *ndst, const char *src);
/* Sets d->id7 from d->sha, or from d->id when there is no SHA. 0 or -EINVAL (bad SHA). */
int mdep_set_id7(struct mdep *d);
void msvc_free(struct msvc *s);            /* data only; rt pointers are not touched */
json_t *msvc_to_store(const struct msvc *s);
/* Rebuilds a service from its stored form (also used to copy one). NULL with err. */
struct msvc *msvc_from_store(const char *key, json_t *j, char *err, size_t errlen);
/* The API's view: adds urls, derived states and health. */
json_t *msvc_to_api(struct model *m, const struct msvc *s);
json_t *mdep_to_api(struct model *m, const struct msvc *s, const struct mdep *d);
/* Applies a PUT body to s (new or a copy). -1 with err filled (400 naming the field). */
int msvc_apply_put(struct msvc *s, json_t *body, int creating, struct model_err *err);
/* Parses a targets array into d (replacing its targets). -1 with err. */
int mdep_parse_targets(struct mdep *d, json_t *targets, struct model_err *err);
/* What the API shows: the phase, refined by health and drain. */
const char *mdep_state(const struct mdep *d);
int model_fqdn(struct model *m, const struct msvc *s, const char *id, uint32_t port,
               char *out, size_t cap);

/* model_routes.c */
/* 0, or -1 with a 409 in err when a host of s is owned by someone else. */
int model_check_claims(struct model *m, const struct msvc *s, struct model_err *err);
/* Makes the routes, claims and health checks match new (old: the copy it replaces; either
 * may be NULL). Frees old's data and the runtime of deployments new no longer has. */
void model_reconcile(struct model *m, struct msvc *old, struct msvc *neu);
/* Healthy targets of d (for promote). */
uint32_t mdep_healthy(const struct mdep *d);
void mdep_mark_unhealthy(struct mdep *d);
void model_routes_free(struct model *m);

#endif
