/*
 * Unit tests for router/settings.c: defaults, a full file round trip, and every error
 * path with its exact "edge.yaml:line:col: key.path: message".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "router/base/log.h"
#include "router/settings.h"

static char err[512];

static int load(const char *text, struct edge_config *c)
{
    err[0] = '\0';
    return edge_config_load_string("edge.yaml", text, strlen(text), c, err, sizeof(err));
}

static void assert_load_error(const char *text, const char *want)
{
    struct edge_config c;

    assert_int_equal(load(text, &c), -1);
    assert_string_equal(err, want);
    /* Freed and zeroed: nothing to free, nothing half-applied. */
    assert_null(c.domain);
    assert_null(c.log.access);
    assert_null(c.routes);
    assert_int_equal(c.nroutes, 0);
    assert_int_equal(c.timeouts.idle_ms, 0);
}

static void assert_defaults(const struct edge_config *c)
{
    assert_null(c->path);
    assert_string_equal(c->domain, "hostess.run");
    assert_string_equal(c->listen_http.text, "127.0.0.1:8080");
    assert_int_equal(c->listen_http.sa.ss_family, AF_INET);
    assert_int_equal(c->listen_http.salen, sizeof(struct sockaddr_in));
    assert_int_equal(c->http_mode, HTTP_MODE_PROXY);
    assert_int_equal(c->workers, 0);
    assert_int_equal(c->timeouts.handshake_ms, 10000);
    assert_int_equal(c->timeouts.header_ms, 10000);
    assert_int_equal(c->timeouts.idle_ms, 60000);
    assert_int_equal(c->timeouts.connect_ms, 5000);
    assert_int_equal(c->timeouts.upstream_response_ms, 60000);
    assert_int_equal(c->timeouts.client_ms, 60000);
    assert_int_equal(c->timeouts.tunnel_ms, 3600000);
    assert_int_equal(c->timeouts.drain_ms, 30000);
    assert_int_equal(c->timeouts.upstream_idle_ms, 15000);
    assert_int_equal(c->limits.request_line, 8192);
    assert_int_equal(c->limits.header_bytes, 32768);
    assert_int_equal(c->limits.header_fields, 100);
    assert_int_equal(c->limits.control_body, 1048576);
    assert_int_equal(c->upstream.max_idle_per_target, 64);
    assert_int_equal(c->upstream.max_requests, 1000);
    assert_int_equal(c->upstream.eject_after, 3);
    assert_int_equal(c->upstream.eject_ms, 10000);
    assert_string_equal(c->log.access, "-");
    assert_string_equal(c->log.error, "-");
    assert_int_equal(c->log.level, LOG_INFO);
    assert_int_equal(c->ntrusted_proxies, 0);
    assert_int_equal(c->nroutes, 0);
}

/* ---- defaults and valid files ---- */

static void test_defaults_give_a_loopback_edge(void **state)
{
    struct edge_config c;
    (void)state;
    edge_config_defaults(&c);
    assert_defaults(&c);
    edge_config_free(&c);
    assert_null(c.domain);
}

static void test_null_path_loads_the_defaults(void **state)
{
    struct edge_config c;
    (void)state;
    assert_int_equal(edge_config_load(NULL, &c, err, sizeof(err)), 0);
    assert_defaults(&c);
    edge_config_free(&c);
}

static void test_empty_file_is_every_default(void **state)
{
    struct edge_config c;
    (void)state;
    assert_int_equal(load("", &c), 0);
    assert_defaults(&c);
    edge_config_free(&c);
}

static void test_comments_only_and_bare_document_are_every_default(void **state)
{
    struct edge_config c;
    (void)state;
    assert_int_equal(load("# just a comment\n\n# another\n", &c), 0);
    assert_defaults(&c);
    edge_config_free(&c);
    assert_int_equal(load("---\n", &c), 0);
    assert_defaults(&c);
    edge_config_free(&c);
    assert_int_equal(edge_config_load_string("x", NULL, 0, &c, err, sizeof(err)), 0);
    assert_defaults(&c);
    edge_config_free(&c);
}

static const char FULL[] =
    "# every key this version supports\n"
    "domain: Hostess.LOCALHOST.\n"
    "listen: {http: \"[::1]:18080\"}\n"
    "http_mode: proxy\n"
    "workers: 4\n"
    "timeouts:\n"
    "  handshake: 3s\n"
    "  header: 250ms\n"
    "  idle: 0s\n"
    "  connect: 2s\n"
    "  upstream_response: 2m\n"
    "  client: 45s\n"
    "  tunnel: 2h\n"
    "  drain: 5s\n"
    "  upstream_idle: 1m\n"
    "limits: {request_line: 4KiB, header_bytes: 64KiB, header_fields: 50, control_body: 2MiB}\n"
    "upstream:\n"
    "  max_idle_per_target: 0\n"
    "  max_requests: 1000000000\n"
    "  eject_after: 5\n"
    "  eject: 30s\n"
    "log: {access: off, error: /var/log/edge.err, level: debug}\n"
    "trusted_proxies: [10.1.2.3/8, \"::1\", 192.168.1.7, \"2001:db8::ff/32\"]\n"
    "routes:\n"
    "  - host: App.Example.COM\n"
    "    targets: [\"127.0.0.1:9001\", \"[::1]:9002\"]\n"
    "  - host: other.example.com:8080\n"
    "    targets:\n"
    "      - 10.0.0.5:80\n";

static void test_full_file_round_trips_every_key(void **state)
{
    struct edge_config c;
    char buf[INET6_ADDRSTRLEN];
    (void)state;

    assert_int_equal(load(FULL, &c), 0);
    assert_string_equal(err, "");
    assert_string_equal(c.domain, "hostess.localhost");
    assert_string_equal(c.listen_http.text, "[::1]:18080");
    assert_int_equal(c.listen_http.sa.ss_family, AF_INET6);
    assert_int_equal(c.listen_http.salen, sizeof(struct sockaddr_in6));
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&c.listen_http.sa)->sin6_port), 18080);
    assert_int_equal(c.http_mode, HTTP_MODE_PROXY);
    assert_int_equal(c.workers, 4);
    assert_int_equal(c.timeouts.handshake_ms, 3000);
    assert_int_equal(c.timeouts.header_ms, 250);
    assert_int_equal(c.timeouts.idle_ms, 0);
    assert_int_equal(c.timeouts.connect_ms, 2000);
    assert_int_equal(c.timeouts.upstream_response_ms, 120000);
    assert_int_equal(c.timeouts.client_ms, 45000);
    assert_int_equal(c.timeouts.tunnel_ms, 7200000);
    assert_int_equal(c.timeouts.drain_ms, 5000);
    assert_int_equal(c.timeouts.upstream_idle_ms, 60000);
    assert_int_equal(c.limits.request_line, 4096);
    assert_int_equal(c.limits.header_bytes, 65536);
    assert_int_equal(c.limits.header_fields, 50);
    assert_int_equal(c.limits.control_body, 2097152);
    assert_int_equal(c.upstream.max_idle_per_target, 0);
    assert_int_equal(c.upstream.max_requests, 1000000000);
    assert_int_equal(c.upstream.eject_after, 5);
    assert_int_equal(c.upstream.eject_ms, 30000);
    assert_string_equal(c.log.access, "off");
    assert_string_equal(c.log.error, "/var/log/edge.err");
    assert_int_equal(c.log.level, LOG_DEBUG);

    assert_int_equal(c.ntrusted_proxies, 4);
    const struct sockaddr_in *p0 = (const struct sockaddr_in *)&c.trusted_proxies[0].net;
    assert_int_equal(p0->sin_family, AF_INET);
    assert_int_equal(c.trusted_proxies[0].prefix, 8);
    assert_string_equal(inet_ntop(AF_INET, &p0->sin_addr, buf, sizeof(buf)), "10.0.0.0");
    const struct sockaddr_in6 *p1 = (const struct sockaddr_in6 *)&c.trusted_proxies[1].net;
    assert_int_equal(p1->sin6_family, AF_INET6);
    assert_int_equal(c.trusted_proxies[1].prefix, 128);
    assert_string_equal(inet_ntop(AF_INET6, &p1->sin6_addr, buf, sizeof(buf)), "::1");
    const struct sockaddr_in *p2 = (const struct sockaddr_in *)&c.trusted_proxies[2].net;
    assert_int_equal(c.trusted_proxies[2].prefix, 32);
    assert_string_equal(inet_ntop(AF_INET, &p2->sin_addr, buf, sizeof(buf)), "192.168.1.7");
    const struct sockaddr_in6 *p3 = (const struct sockaddr_in6 *)&c.trusted_proxies[3].net;
    assert_int_equal(c.trusted_proxies[3].prefix, 32);
    assert_string_equal(inet_ntop(AF_INET6, &p3->sin6_addr, buf, sizeof(buf)), "2001:db8::");

    assert_int_equal(c.nroutes, 2);
    assert_string_equal(c.routes[0].host, "app.example.com");
    assert_int_equal(c.routes[0].ntargets, 2);
    assert_string_equal(c.routes[0].targets[0].text, "127.0.0.1:9001");
    assert_int_equal(c.routes[0].targets[0].sa.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&c.routes[0].targets[0].sa)->sin_port), 9001);
    assert_string_equal(c.routes[0].targets[1].text, "[::1]:9002");
    assert_string_equal(c.routes[1].host, "other.example.com");
    assert_int_equal(c.routes[1].ntargets, 1);
    assert_string_equal(c.routes[1].targets[0].text, "10.0.0.5:80");
    edge_config_free(&c);
    assert_null(c.routes);
}

static void test_load_from_a_file_records_its_path(void **state)
{
    char path[] = "/tmp/test_settings_XXXXXX";
    struct edge_config c;
    int fd = mkstemp(path);
    (void)state;

    assert_true(fd >= 0);
    assert_int_equal(write(fd, "workers: 2\nlisten: {http: 0.0.0.0:80}\n", 38), 38);
    close(fd);
    assert_int_equal(edge_config_load(path, &c, err, sizeof(err)), 0);
    assert_string_equal(c.path, path);
    assert_int_equal(c.workers, 2);
    assert_string_equal(c.listen_http.text, "0.0.0.0:80");
    edge_config_free(&c);

    fd = open(path, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, "workers: 0\n", 11), 11);
    close(fd);
    assert_int_equal(edge_config_load(path, &c, err, sizeof(err)), -1);
    char want[256];
    snprintf(want, sizeof(want), "%s:1:10: workers: expected \"auto\" or an integer between 1 and 256, got \"0\"", path);
    assert_string_equal(err, want);
    assert_null(c.path);
    unlink(path);
}

static void test_unreadable_file_reports_path_and_strerror(void **state)
{
    struct edge_config c;
    (void)state;
    assert_int_equal(edge_config_load("/nonexistent/edge.yaml", &c, err, sizeof(err)), -1);
    assert_string_equal(err, "/nonexistent/edge.yaml: cannot read: No such file or directory");
    assert_null(c.domain);
    assert_int_equal(edge_config_load("/", &c, err, sizeof(err)), -1);
    assert_string_equal(err, "/: cannot read: Is a directory");
}

static void test_workers_accept_auto_and_a_count(void **state)
{
    struct edge_config c;
    (void)state;
    assert_int_equal(load("workers: auto\n", &c), 0);
    assert_int_equal(c.workers, 0);
    edge_config_free(&c);
    assert_int_equal(load("workers: 256\n", &c), 0);
    assert_int_equal(c.workers, 256);
    edge_config_free(&c);
}

static void test_null_sections_and_lists_keep_the_defaults(void **state)
{
    struct edge_config c;
    (void)state;
    assert_int_equal(load("timeouts:\nlimits: ~\nroutes:\ntrusted_proxies: []\nlisten:\n", &c), 0);
    assert_defaults(&c);
    edge_config_free(&c);
}

static void test_log_access_may_be_off_and_error_a_path(void **state)
{
    struct edge_config c;
    (void)state;
    assert_int_equal(load("log:\n  access: /tmp/a.log\n  level: warn\n", &c), 0);
    assert_string_equal(c.log.access, "/tmp/a.log");
    assert_int_equal(c.log.level, LOG_WARN);
    edge_config_free(&c);
}

/* ---- unknown and unsupported keys ---- */

static void test_unknown_top_level_key_is_reported_at_the_key(void **state)
{
    (void)state;
    assert_load_error("domain: a.b\nfoo: 1\n", "edge.yaml:2:1: unknown key \"foo\"");
}

static void test_unknown_nested_key_names_the_section(void **state)
{
    (void)state;
    assert_load_error("timeouts:\n  idle: 5s\n  keepalive: 5s\n",
                      "edge.yaml:3:3: timeouts: unknown key \"keepalive\"");
    assert_load_error("limits: {headers: 10}\n", "edge.yaml:1:10: limits: unknown key \"headers\"");
    assert_load_error("upstream: {eject_ms: 5s}\n", "edge.yaml:1:12: upstream: unknown key \"eject_ms\"");
    assert_load_error("log: {file: x}\n", "edge.yaml:1:7: log: unknown key \"file\"");
    assert_load_error("listen: {htp: \"1.2.3.4:80\"}\n", "edge.yaml:1:10: listen: unknown key \"htp\"");
}

static void test_unsupported_listeners_are_refused(void **state)
{
    (void)state;
    assert_load_error("listen: {postgres: \"127.0.0.1:15432\"}\n",
                      "edge.yaml:1:10: listen.postgres: not supported by this version of hostess-edge");
    assert_load_error("listen: {redis: \"127.0.0.1:16379\"}\n",
                      "edge.yaml:1:10: listen.redis: not supported by this version of hostess-edge");
}

static void test_control_and_state_keys(void **state)
{
    struct edge_config c;
    (void)state;
    assert_int_equal(load("", &c), 0);
    assert_int_equal(c.control.enabled, 1);
    assert_string_equal(c.control.listen.text, "127.0.0.1:9090");
    assert_string_equal(c.control.token_file, "./control.token");
    assert_int_equal(c.control.ntokens, 0);
    assert_string_equal(c.state.path, "./state/edge.json");
    assert_int_equal(c.state.compact_after, 0);
    edge_config_free(&c);

    assert_int_equal(load("control:\n  listen: \"127.0.0.1:7000\"\n  token_file: /etc/t\n"
                          "  tokens: [\"0123456789abcdef\", \"fedcba9876543210xyz\"]\n"
                          "state: {backend: file, path: /var/lib/edge.json, compact_after: 2MiB}\n",
                          &c), 0);
    assert_int_equal(c.state.compact_after, 2 * 1024 * 1024);
    assert_string_equal(c.control.listen.text, "127.0.0.1:7000");
    assert_string_equal(c.control.token_file, "/etc/t");
    assert_int_equal(c.control.ntokens, 2);
    assert_string_equal(c.control.tokens[1], "fedcba9876543210xyz");
    assert_string_equal(c.state.path, "/var/lib/edge.json");
    edge_config_free(&c);

    assert_int_equal(load("control: {listen: \"off\"}\n", &c), 0);
    assert_int_equal(c.control.enabled, 0);
    edge_config_free(&c);

    assert_load_error("control: {tokens: [\"short\"]}\n",
                      "edge.yaml:1:20: control.tokens[0]: expected a token of 16 to 256 visible "
                      "ASCII characters, got \"short\"");
    assert_load_error("control: {listen: \"nowhere\"}\n",
                      "edge.yaml:1:19: control.listen: expected an address such as 127.0.0.1:8080 or [::1]:8080, "
                      "got \"nowhere\"");
    assert_load_error("state: {backend: redis}\n",
                      "edge.yaml:1:18: state.backend: the redis state backend is not supported by "
                      "this version");
    assert_load_error("state: {backend: disk}\n",
                      "edge.yaml:1:18: state.backend: expected \"file\", got \"disk\"");
}

static void test_unsupported_top_level_sections_are_refused(void **state)
{
    (void)state;
    assert_load_error("acme:\n  enabled: true\n",
                      "edge.yaml:1:1: acme: not supported by this version of hostess-edge");
}

static void test_https_is_off_without_tls_and_on_with_it(void **state)
{
    struct edge_config c;
    (void)state;

    assert_int_equal(load("", &c), 0);
    assert_int_equal(c.https_enabled, 0);
    assert_int_equal(c.http_mode, HTTP_MODE_PROXY);
    assert_string_equal(c.tls.certs_dir, "./state/certs");
    assert_int_equal(c.tls.session_tickets, 1);
    assert_int_equal(c.tls.http2, 1);
    assert_int_equal(c.tls.ticket_rotation_ms, 12 * 3600 * 1000);
    assert_string_equal(c.tls.hsts_generated, "max-age=31536000");
    assert_null(c.tls.hsts_custom);
    edge_config_free(&c);

    /* A tls section turns HTTPS on at the default address, and port 80 redirects. */
    assert_int_equal(load("tls:\n", &c), 0);
    assert_int_equal(c.https_enabled, 1);
    assert_string_equal(c.listen_https.text, "127.0.0.1:8443");
    assert_int_equal(c.http_mode, HTTP_MODE_REDIRECT);
    edge_config_free(&c);

    assert_int_equal(load("listen: {https: \"127.0.0.1:9443\"}\nhttp_mode: proxy\n"
                          "tls: {certs_dir: /etc/certs, session_tickets: false, http2: off,\n"
                          "      ticket_key_rotation: 1h, default_cert: d.crt, default_key: d.key,\n"
                          "      hsts: {generated: off, custom: \"max-age=60; includeSubDomains\"}}\n",
                          &c), 0);
    assert_int_equal(c.https_enabled, 1);
    assert_string_equal(c.listen_https.text, "127.0.0.1:9443");
    assert_int_equal(c.http_mode, HTTP_MODE_PROXY);
    assert_string_equal(c.tls.certs_dir, "/etc/certs");
    assert_int_equal(c.tls.session_tickets, 0);
    assert_int_equal(c.tls.http2, 0);
    assert_int_equal(c.tls.ticket_rotation_ms, 3600 * 1000);
    assert_string_equal(c.tls.default_cert, "d.crt");
    assert_string_equal(c.tls.default_key, "d.key");
    assert_null(c.tls.hsts_generated);
    assert_string_equal(c.tls.hsts_custom, "max-age=60; includeSubDomains");
    edge_config_free(&c);

    /* listen.https: off wins over a tls section. */
    assert_int_equal(load("listen: {https: \"off\"}\ntls: {certs_dir: ./c}\n", &c), 0);
    assert_int_equal(c.https_enabled, 0);
    assert_int_equal(c.http_mode, HTTP_MODE_PROXY);
    edge_config_free(&c);
}

static void test_bad_tls_settings_are_errors(void **state)
{
    (void)state;
    assert_load_error("tls: {session_tickets: maybe}\n",
                      "edge.yaml:1:24: tls.session_tickets: expected true or false, got \"maybe\"");
    assert_load_error("tls: {ticket_key_rotation: 1s}\n",
                      "edge.yaml:1:28: tls.ticket_key_rotation: expected a duration between 1m and 168h, got \"1s\"");
    assert_load_error("tls:\n  default_cert: x.crt\n",
                      "edge.yaml:2:3: tls: default_cert and default_key go together");
    assert_load_error("tls: {hsts: {generated: \"max-age=1\\r\\nX: y\"}}\n",
                      "edge.yaml:1:25: tls.hsts.generated: expected \"off\" or a header value such as "
                      "\"max-age=31536000; includeSubDomains\", got \"max-age=1\\x0d\\x0aX: y\"");
    assert_load_error("listen: {http: \"127.0.0.1:8080\", https: \"127.0.0.1:8080\"}\n",
                      "edge.yaml:1:9: listen: http and https cannot share an address");
    assert_load_error("tls: {certs: ./c}\n", "edge.yaml:1:7: tls: unknown key \"certs\"");
}

static void test_http_mode_redirect_needs_tls(void **state)
{
    (void)state;
    assert_load_error("http_mode: redirect\n",
                      "edge.yaml:1:12: http_mode: redirect needs HTTPS (a tls section or listen.https)");
    assert_load_error("http_mode: tunnel\n",
                      "edge.yaml:1:12: http_mode: expected \"proxy\" or \"redirect\", got \"tunnel\"");
}

/* ---- wrong types ---- */

static void test_top_level_must_be_a_mapping(void **state)
{
    (void)state;
    assert_load_error("- a\n- b\n", "edge.yaml:1:1: expected a mapping, got a list");
    assert_load_error("hello\n", "edge.yaml:1:1: expected a mapping, got \"hello\"");
}

static void test_wrong_types_say_what_was_expected(void **state)
{
    (void)state;
    assert_load_error("domain: [a]\n",
                      "edge.yaml:1:9: domain: expected a hostname such as hostess.localhost, got a list");
    assert_load_error("timeouts: 5s\n", "edge.yaml:1:11: timeouts: expected a mapping, got \"5s\"");
    assert_load_error("timeouts: {idle: {a: 1}}\n",
                      "edge.yaml:1:18: timeouts.idle: expected a duration such as 30s, got a mapping");
    assert_load_error("limits: {header_bytes: [1]}\n",
                      "edge.yaml:1:24: limits.header_bytes: expected a size such as 8KiB, got a list");
    assert_load_error("log: {access: [a]}\n", "edge.yaml:1:15: log.access: expected a string, got a list");
    assert_load_error("log: {error: }\n", "edge.yaml:1:14: log.error: expected a string, got nothing");
    assert_load_error("routes: {host: a}\n", "edge.yaml:1:9: routes: expected a list, got a mapping");
    assert_load_error("trusted_proxies: 10.0.0.0/8\n",
                      "edge.yaml:1:18: trusted_proxies: expected a list, got \"10.0.0.0/8\"");
    assert_load_error("routes: [a.example]\n", "edge.yaml:1:10: routes[0]: expected a mapping, got \"a.example\"");
    assert_load_error("workers: {n: 1}\n",
                      "edge.yaml:1:10: workers: expected \"auto\" or an integer between 1 and 256, got a mapping");
}

/* ---- bad values ---- */

static void test_bare_number_duration_is_an_error_with_line_and_column(void **state)
{
    (void)state;
    assert_load_error("timeouts:\n  idle: 30\n",
                      "edge.yaml:2:9: timeouts.idle: expected a duration such as 30s, got \"30\"");
}

static void test_word_duration_is_an_error(void **state)
{
    (void)state;
    assert_load_error("timeouts:\n  connect: soon\n",
                      "edge.yaml:2:12: timeouts.connect: expected a duration such as 30s, got \"soon\"");
    assert_load_error("upstream: {eject: 10}\n",
                      "edge.yaml:1:19: upstream.eject: expected a duration such as 30s, got \"10\"");
}

static void test_duration_out_of_range_is_an_error(void **state)
{
    (void)state;
    assert_load_error("timeouts: {tunnel: 25h}\n",
                      "edge.yaml:1:20: timeouts.tunnel: expected a duration between 1ms and 24h, got \"25h\"");
    assert_load_error("timeouts: {header: 0s}\n",
                      "edge.yaml:1:20: timeouts.header: expected a duration between 1ms and 24h, got \"0s\"");
    assert_load_error("timeouts: {idle: 1441m}\n",
                      "edge.yaml:1:18: timeouts.idle: expected a duration between 0s and 24h, got \"1441m\"");
}

static void test_bad_size_is_an_error(void **state)
{
    (void)state;
    assert_load_error("limits:\n  request_line: 8KB\n",
                      "edge.yaml:2:17: limits.request_line: expected a size such as 8KiB, got \"8KB\"");
    assert_load_error("limits: {control_body: lots}\n",
                      "edge.yaml:1:24: limits.control_body: expected a size such as 8KiB, got \"lots\"");
}

static void test_size_out_of_range_is_an_error(void **state)
{
    (void)state;
    assert_load_error("limits: {request_line: 100}\n",
                      "edge.yaml:1:24: limits.request_line: expected a size between 256B and 1MiB, got \"100\"");
    assert_load_error("limits: {header_bytes: 2MiB}\n",
                      "edge.yaml:1:24: limits.header_bytes: expected a size between 1KiB and 1MiB, got \"2MiB\"");
    assert_load_error("limits: {control_body: 65MiB}\n",
                      "edge.yaml:1:24: limits.control_body: expected a size between 1KiB and 64MiB, got \"65MiB\"");
}

static void test_integer_out_of_range_is_an_error(void **state)
{
    (void)state;
    assert_load_error("limits: {header_fields: 10001}\n",
                      "edge.yaml:1:25: limits.header_fields: expected an integer between 1 and 10000, got \"10001\"");
    assert_load_error("upstream: {max_requests: 0}\n",
                      "edge.yaml:1:26: upstream.max_requests: expected an integer between 1 and 1000000000, got \"0\"");
    assert_load_error("upstream: {eject_after: 1001}\n",
                      "edge.yaml:1:25: upstream.eject_after: expected an integer between 1 and 1000, got \"1001\"");
    assert_load_error("upstream: {max_idle_per_target: -1}\n",
                      "edge.yaml:1:33: upstream.max_idle_per_target: expected an integer between 0 and 10000, got \"-1\"");
    assert_load_error("workers: 257\n",
                      "edge.yaml:1:10: workers: expected \"auto\" or an integer between 1 and 256, got \"257\"");
}

static void test_bad_domain_is_an_error(void **state)
{
    (void)state;
    assert_load_error("domain: \"a..b\"\n",
                      "edge.yaml:1:9: domain: expected a hostname such as hostess.localhost, got \"a..b\"");
    assert_load_error("domain: \"hostess.run:80\"\n",
                      "edge.yaml:1:9: domain: expected a hostname such as hostess.localhost, got \"hostess.run:80\"");
    assert_load_error("domain: \"[::1]\"\n",
                      "edge.yaml:1:9: domain: expected a hostname such as hostess.localhost, got \"[::1]\"");
}

static void test_bad_listen_address_is_an_error(void **state)
{
    static const char *bad[] = {
        "localhost:80", "1.2.3.4", "1.2.3.4:", "1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:80x",
        "::1:80", "[::1]", "[::1]80", "[zz]:80", "1.2.3:80", ":80", "[]:80",
    };
    char text[128], want[256];
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "listen:\n  http: \"%s\"\n", bad[i]);
        snprintf(want, sizeof(want),
                 "edge.yaml:2:9: listen.http: expected an address such as 127.0.0.1:8080 or "
                 "[::1]:8080, got \"%s\"", bad[i]);
        assert_load_error(text, want);
    }
}

static void test_bad_cidr_is_an_error_at_its_item(void **state)
{
    static const char *bad[] = {
        "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/8/8", "10.0.0/8", "host.example",
        "10.0.0.0/-1", "10.0.0.0/0008", "/8",
    };
    char text[128], want[256];
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "trusted_proxies:\n  - 127.0.0.1\n  - \"%s\"\n", bad[i]);
        snprintf(want, sizeof(want),
                 "edge.yaml:3:5: trusted_proxies[1]: expected an IP address or CIDR such as "
                 "10.0.0.0/8, got \"%s\"", bad[i]);
        assert_load_error(text, want);
    }
}

static void test_cidr_clears_host_bits(void **state)
{
    struct edge_config c;
    char buf[INET6_ADDRSTRLEN];
    (void)state;

    assert_int_equal(load("trusted_proxies: [192.168.255.255/17, \"fe80::ffff:1/10\", 1.2.3.4/0]\n", &c), 0);
    assert_string_equal(inet_ntop(AF_INET, &((struct sockaddr_in *)&c.trusted_proxies[0].net)->sin_addr,
                                  buf, sizeof(buf)), "192.168.128.0");
    assert_string_equal(inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&c.trusted_proxies[1].net)->sin6_addr,
                                  buf, sizeof(buf)), "fe80::");
    assert_int_equal(c.trusted_proxies[2].prefix, 0);
    assert_string_equal(inet_ntop(AF_INET, &((struct sockaddr_in *)&c.trusted_proxies[2].net)->sin_addr,
                                  buf, sizeof(buf)), "0.0.0.0");
    edge_config_free(&c);
}

static void test_bad_log_values_are_errors(void **state)
{
    (void)state;
    assert_load_error("log: {level: loud}\n",
                      "edge.yaml:1:14: log.level: expected one of error, warn, info, debug, got \"loud\"");
    assert_load_error("log: {error: off}\n",
                      "edge.yaml:1:14: log.error: expected \"-\" or a file path (the error log cannot "
                      "be turned off), got \"off\"");
    assert_load_error("log: {access: \"\"}\n",
                      "edge.yaml:1:15: log.access: expected a non-empty string, got \"\"");
}

/* ---- routes ---- */

static void test_bad_route_host_is_an_error(void **state)
{
    (void)state;
    assert_load_error("routes:\n  - host: \"bad host\"\n    targets: [\"127.0.0.1:1\"]\n",
                      "edge.yaml:2:11: routes[0].host: expected a hostname such as "
                      "app.hostess.localhost, got \"bad host\"");
}

static void test_bad_route_target_names_its_index(void **state)
{
    (void)state;
    assert_load_error("routes:\n  - host: a.example\n    targets:\n      - 127.0.0.1:80\n      - web:80\n",
                      "edge.yaml:5:9: routes[0].targets[1]: expected an address such as "
                      "127.0.0.1:8080 or [::1]:8080, got \"web:80\"");
}

static void test_route_needs_host_and_at_least_one_target(void **state)
{
    (void)state;
    assert_load_error("routes:\n  - targets: [\"127.0.0.1:1\"]\n",
                      "edge.yaml:2:5: routes[0]: missing key \"host\"");
    assert_load_error("routes:\n  - host: a.example\n", "edge.yaml:2:5: routes[0]: missing key \"targets\"");
    assert_load_error("routes:\n  - host: a.example\n    targets: []\n",
                      "edge.yaml:3:14: routes[0].targets: expected at least one target");
    assert_load_error("routes:\n  - host: a.example\n    targets: 127.0.0.1:80\n",
                      "edge.yaml:3:14: routes[0].targets: expected a list, got \"127.0.0.1:80\"");
}

static void test_unknown_key_in_a_route_is_an_error(void **state)
{
    (void)state;
    assert_load_error("routes:\n  - host: a.example\n    target: [\"127.0.0.1:1\"]\n",
                      "edge.yaml:3:5: routes[0]: unknown key \"target\"");
}

static void test_duplicate_host_names_the_line_of_the_first(void **state)
{
    (void)state;
    assert_load_error("routes:\n"
                      "  - host: a.example\n"
                      "    targets: [\"127.0.0.1:1\"]\n"
                      "  - host: b.example\n"
                      "    targets: [\"127.0.0.1:2\"]\n"
                      "  - host: A.Example.:443\n"
                      "    targets: [\"127.0.0.1:3\"]\n",
                      "edge.yaml:6:11: routes[2].host: duplicate host \"A.Example.:443\" (first at line 2)");
}

/* ---- YAML-level errors come through with the file name ---- */

static void test_duplicate_key_is_an_error(void **state)
{
    (void)state;
    assert_load_error("workers: 2\ndomain: a.b\nworkers: 3\n",
                      "edge.yaml:3:1: duplicate key \"workers\" (first at line 1)");
    assert_load_error("timeouts:\n  idle: 1s\n  idle: 2s\n",
                      "edge.yaml:3:3: timeouts: duplicate key \"idle\" (first at line 2)");
}

static void test_yaml_syntax_error_is_reported_at_the_problem(void **state)
{
    (void)state;
    assert_load_error("domain: a.b\n workers: 2\n",
                      "edge.yaml:2:9: invalid YAML: mapping values are not allowed in this context");
}

static void test_anchors_aliases_and_tags_are_refused(void **state)
{
    (void)state;
    assert_load_error("timeouts: &t {idle: 1s}\n",
                      "edge.yaml:1:11: timeouts: YAML anchors (&t) are not supported");
    assert_load_error("workers: *w\n", "edge.yaml:1:10: workers: YAML aliases (*w) are not supported");
    assert_load_error("workers: !!int 4\n",
                      "edge.yaml:1:10: workers: YAML tags (tag:yaml.org,2002:int) are not supported");
}

static void test_small_error_buffer_is_truncated_safely(void **state)
{
    struct edge_config c;
    char small[10];
    (void)state;
    assert_int_equal(edge_config_load_string("edge.yaml", "foo: 1\n", 7, &c, small, sizeof(small)), -1);
    assert_string_equal(small, "edge.yaml");
    assert_int_equal(edge_config_load_string("edge.yaml", "foo: 1\n", 7, &c, NULL, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_give_a_loopback_edge),
        cmocka_unit_test(test_null_path_loads_the_defaults),
        cmocka_unit_test(test_empty_file_is_every_default),
        cmocka_unit_test(test_comments_only_and_bare_document_are_every_default),
        cmocka_unit_test(test_full_file_round_trips_every_key),
        cmocka_unit_test(test_load_from_a_file_records_its_path),
        cmocka_unit_test(test_unreadable_file_reports_path_and_strerror),
        cmocka_unit_test(test_workers_accept_auto_and_a_count),
        cmocka_unit_test(test_null_sections_and_lists_keep_the_defaults),
        cmocka_unit_test(test_log_access_may_be_off_and_error_a_path),
        cmocka_unit_test(test_unknown_top_level_key_is_reported_at_the_key),
        cmocka_unit_test(test_unknown_nested_key_names_the_section),
        cmocka_unit_test(test_unsupported_listeners_are_refused),
        cmocka_unit_test(test_unsupported_top_level_sections_are_refused),
        cmocka_unit_test(test_control_and_state_keys),
        cmocka_unit_test(test_http_mode_redirect_needs_tls),
        cmocka_unit_test(test_https_is_off_without_tls_and_on_with_it),
        cmocka_unit_test(test_bad_tls_settings_are_errors),
        cmocka_unit_test(test_top_level_must_be_a_mapping),
        cmocka_unit_test(test_wrong_types_say_what_was_expected),
        cmocka_unit_test(test_bare_number_duration_is_an_error_with_line_and_column),
        cmocka_unit_test(test_word_duration_is_an_error),
        cmocka_unit_test(test_duration_out_of_range_is_an_error),
        cmocka_unit_test(test_bad_size_is_an_error),
        cmocka_unit_test(test_size_out_of_range_is_an_error),
        cmocka_unit_test(test_integer_out_of_range_is_an_error),
        cmocka_unit_test(test_bad_domain_is_an_error),
        cmocka_unit_test(test_bad_listen_address_is_an_error),
        cmocka_unit_test(test_bad_cidr_is_an_error_at_its_item),
        cmocka_unit_test(test_cidr_clears_host_bits),
        cmocka_unit_test(test_bad_log_values_are_errors),
        cmocka_unit_test(test_bad_route_host_is_an_error),
        cmocka_unit_test(test_bad_route_target_names_its_index),
        cmocka_unit_test(test_route_needs_host_and_at_least_one_target),
        cmocka_unit_test(test_unknown_key_in_a_route_is_an_error),
        cmocka_unit_test(test_duplicate_host_names_the_line_of_the_first),
        cmocka_unit_test(test_duplicate_key_is_an_error),
        cmocka_unit_test(test_yaml_syntax_error_is_reported_at_the_problem),
        cmocka_unit_test(test_anchors_aliases_and_tags_are_refused),
        cmocka_unit_test(test_small_error_buffer_is_truncated_safely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
