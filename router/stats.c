/*
 * stats: per-worker counters for GET /metrics. Each worker writes only its own counters
 * (relaxed load + store: plain instructions, no lock prefix, no shared cache line); the
 * control thread sums them with relaxed loads. A sum may mix counters from slightly
 * different instants, which Prometheus counters tolerate.
 */
#include <string.h>

#include "router/internal.h"

/* Bucket upper bounds in ms; the last bucket is +Inf. */
const uint32_t router_latency_bounds_ms[ROUTER_LATENCY_BUCKETS - 1] = {
    1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};

static inline void bump(_Atomic uint64_t *c, uint64_t by)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                          memory_order_relaxed);
}

void stats_exchange(struct worker *w, const struct exchange *ex)
{
    struct worker_stats *s = &w->stats;
    uint64_t ms = uv_now(&w->loop) - ex->t_start;
    unsigned b = 0;

    while (b < ROUTER_LATENCY_BUCKETS - 1 && ms > router_latency_bounds_ms[b])
        b++;
    bump(&s->requests, 1);
    if (!ex->ops->h1)
        bump(&s->h2_requests, 1);
    bump(&s->status[ex->status >= 100 && ex->status < 600 ? ex->status / 100 : 0], 1);
    if (ex->term_side == TERM_UPSTREAM)
        bump(&s->upstream_errors, 1);
    bump(&s->latency[b], 1);
    bump(&s->latency_sum_ms, ms);
}

void stats_conn(struct worker *w, int opened)
{
    if (opened)
        bump(&w->stats.accepted, 1);
    atomic_store_explicit(&w->stats.open, w->nconns, memory_order_relaxed);
}

void stats_tls(struct worker *w, int ok, int resumed)
{
    bump(ok ? &w->stats.tls_handshakes : &w->stats.tls_failed, 1);
    if (ok && resumed)
        bump(&w->stats.tls_resumed, 1);
}

void stats_sum(const struct worker *w, unsigned n, struct router_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < n; i++) {
        const struct worker_stats *s = &w[i].stats;
#define LOAD(f) atomic_load_explicit(&((struct worker_stats *)s)->f, memory_order_relaxed)
        out->requests += LOAD(requests);
        out->upstream_errors += LOAD(upstream_errors);
        out->latency_sum_ms += LOAD(latency_sum_ms);
        out->connections_accepted += LOAD(accepted);
        out->connections_open += LOAD(open);
        out->tls_handshakes += LOAD(tls_handshakes);
        out->tls_resumed += LOAD(tls_resumed);
        out->tls_failed += LOAD(tls_failed);
        out->h2_requests += LOAD(h2_requests);
        for (unsigned k = 0; k < 6; k++)
            out->status[k] += LOAD(status[k]);
        for (unsigned k = 0; k < ROUTER_LATENCY_BUCKETS; k++)
            out->latency[k] += LOAD(latency[k]);
#undef LOAD
    }
}
