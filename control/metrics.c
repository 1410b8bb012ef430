/*
 * metrics: one open_memstream buffer, written top to bottom. Histogram buckets are
 * cumulative in the exposition format, so the per-bucket counts are summed on the way.
 */
#include "control/metrics.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "control/model.h"
#include "router/route_table.h"
#include "router/router.h"

int metrics_render(struct router *r, struct model *m, char **text, size_t *len)
{
    struct router_stats s;
    FILE *f = open_memstream(text, len);
    if (f == NULL)
        return -ENOMEM;
    router_stats(r, &s);

    fprintf(f, "# HELP hostess_requests_total Requests answered by the data plane, by status class.\n"
               "# TYPE hostess_requests_total counter\n");
    for (int k = 1; k <= 5; k++)
        fprintf(f, "hostess_requests_total{code=\"%dxx\"} %llu\n", k,
                (unsigned long long)s.status[k]);
    fprintf(f, "hostess_requests_total{code=\"none\"} %llu\n", (unsigned long long)s.status[0]);
    fprintf(f, "# HELP hostess_upstream_errors_total Requests ended by an upstream failure "
               "(refused, reset, timed out, truncated).\n"
               "# TYPE hostess_upstream_errors_total counter\n"
               "hostess_upstream_errors_total %llu\n", (unsigned long long)s.upstream_errors);
    fprintf(f, "# HELP hostess_request_duration_seconds Time from the request head to the "
               "end of the response.\n"
               "# TYPE hostess_request_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (int b = 0; b < ROUTER_LATENCY_BUCKETS - 1; b++) {
        cum += s.latency[b];
        fprintf(f, "hostess_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
                router_latency_bounds_ms[b] / 1000.0, (unsigned long long)cum);
    }
    cum += s.latency[ROUTER_LATENCY_BUCKETS - 1];
    fprintf(f, "hostess_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
               "hostess_request_duration_seconds_sum %.3f\n"
               "hostess_request_duration_seconds_count %llu\n",
            (unsigned long long)cum, s.latency_sum_ms / 1000.0, (unsigned long long)cum);
    fprintf(f, "# HELP hostess_connections_accepted_total Client connections accepted.\n"
               "# TYPE hostess_connections_accepted_total counter\n"
               "hostess_connections_accepted_total %llu\n"
               "# HELP hostess_connections_open Client connections open now.\n"
               "# TYPE hostess_connections_open gauge\n"
               "hostess_connections_open %llu\n",
            (unsigned long long)s.connections_accepted, (unsigned long long)s.connections_open);
    fprintf(f, "# HELP hostess_tls_handshakes_total TLS handshakes, by result.\n"
               "# TYPE hostess_tls_handshakes_total counter\n"
               "hostess_tls_handshakes_total{result=\"full\"} %llu\n"
               "hostess_tls_handshakes_total{result=\"resumed\"} %llu\n"
               "hostess_tls_handshakes_total{result=\"failed\"} %llu\n"
               "# HELP hostess_http2_requests_total Requests that came as HTTP/2 streams.\n"
               "# TYPE hostess_http2_requests_total counter\n"
               "hostess_http2_requests_total %llu\n",
            (unsigned long long)(s.tls_handshakes - s.tls_resumed),
            (unsigned long long)s.tls_resumed, (unsigned long long)s.tls_failed,
            (unsigned long long)s.h2_requests);
    fprintf(f, "# HELP hostess_routes Hostnames in the route table (API and config file).\n"
               "# TYPE hostess_routes gauge\n"
               "hostess_routes %zu\n"
               "# HELP hostess_services Services known to the control API.\n"
               "# TYPE hostess_services gauge\n"
               "hostess_services %zu\n"
               "# HELP hostess_generation The state generation (bumped by every change).\n"
               "# TYPE hostess_generation gauge\n"
               "hostess_generation %llu\n",
            route_table_count(router_routes(r)), model_service_count(m),
            (unsigned long long)model_generation(m));
    if (fclose(f) != 0) {
        free(*text);
        *text = NULL;
        return -ENOMEM;
    }
    return 0;
}
