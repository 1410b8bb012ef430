#!/usr/bin/python3
"""h2_clients: real HTTP/2 clients against the edge's h2c (prior knowledge): curl, nghttp
and h2load, each request proxied to an HTTP/1.1 backend. Then the same over TLS, where
ALPN picks h2: curl --http2, openssl s_client -alpn, h2load, and the HTTP/1.1 fallback."""
import json
import re
import subprocess
import sys

import edgetest as E

c = E.Checker("h2_clients")


def curl(edge):
    r = E.curl(edge.port, "/echo", args=["--http2-prior-knowledge", "-w", "%{http_version}"])
    c.check(r.rc == 0 and r.status == 200, "curl --http2-prior-knowledge GET: 200", r)
    d = json.loads(r.body or b"{}")
    c.check(d.get("version") == "HTTP/1.1" and d.get("backend") == "a",
            "curl h2 request reached the HTTP/1.1 backend", d)
    r = E.curl(edge.port, "/upload", args=["--http2-prior-knowledge", "--data-binary",
                                           "@" + sys.argv[0]])
    with open(sys.argv[0], "rb") as f:
        n = len(f.read())
    c.check(r.status == 200 and json.loads(r.body).get("len") == n, "curl h2 POST body intact",
            r)


def nghttp(edge):
    p = subprocess.run(["nghttp", "-v", "-H", ":authority: " + E.HOST_A,
                        "http://127.0.0.1:%d/echo" % edge.port], capture_output=True, timeout=20)
    out = p.stdout.decode("utf-8", "replace")
    c.check(p.returncode == 0 and ":status: 200" in out, "nghttp -v (prior knowledge): 200",
            out[-500:])
    c.check("SETTINGS_ENABLE_CONNECT_PROTOCOL(0x08):1" in out,
            "nghttp sees SETTINGS_ENABLE_CONNECT_PROTOCOL", out[:800])
    p = subprocess.run(["nghttp", "-n", "-m", "20", "-H", ":authority: " + E.HOST_A,
                        "http://127.0.0.1:%d/bytes?n=100000" % edge.port],
                       capture_output=True, timeout=30)
    c.check(p.returncode == 0, "nghttp: 20 concurrent downloads", p.stderr[-300:])


def run_h2load(args, timeout=120):
    """h2load's output, and whether all of its n requests succeeded (none failed or errored)."""
    p = subprocess.run(["h2load"] + args, capture_output=True, timeout=timeout)
    out = p.stdout.decode()
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored", out)
    n = args[args.index("-n") + 1]
    return out, bool(m and m.group(4) == n and m.group(5) == "0" and m.group(6) == "0")


def h2load(edge):
    out, ok = run_h2load(["-n", "5000", "-c", "8", "-m", "8", "-H", ":authority: " + E.HOST_A,
                          "http://127.0.0.1:%d/echo" % edge.port])
    c.check(ok, "h2load 5000 requests, 8 connections x 8 streams: all 2xx", out[-600:])


def over_tls(edge, certs):
    port = edge.https_port
    r = E.curl(port, "/echo", cacert=certs.ca, args=["--http2"])
    c.check(r.rc == 0 and r.status == 200 and r.http_version == "2",
            "curl --http2 over TLS: ALPN h2, 200", r)
    d = json.loads(r.body or b"{}")
    c.check(d.get("version") == "HTTP/1.1", "the h2 request reached the HTTP/1.1 backend", d)
    xfp = {k.lower(): v for k, v in d.get("headers", [])}.get("x-forwarded-proto")
    c.check(xfp == "https", "X-Forwarded-Proto: https for an h2 stream over TLS", xfp)
    hsts = r.header("strict-transport-security")
    c.check(hsts == "max-age=31536000", "HSTS on an h2 response for a generated host", hsts)
    r = E.curl(port, "/echo", cacert=certs.ca, args=["--http1.1"])
    c.check(r.status == 200 and r.http_version == "1.1", "curl --http1.1 over TLS still HTTP/1.1", r)
    s = E.s_client(port, E.HOST_A, args=["-alpn", "h2,http/1.1"], cafile=certs.ca)
    c.check(s.handshake and s.alpn == "h2", "s_client offering h2,http/1.1 gets h2", s)
    s = E.s_client(port, E.HOST_A, args=["-alpn", "http/1.1"], cafile=certs.ca)
    c.check(s.handshake and s.alpn == "http/1.1", "s_client offering http/1.1 gets http/1.1", s)
    out, ok = run_h2load(["-n", "3000", "-c", "6", "-m", "4", "--connect-to=127.0.0.1:%d" % port,
                          "https://%s:%d/echo" % (E.HOST_A, port)])
    c.check(ok, "h2load over TLS (SNI, ALPN h2): 3000 requests all 2xx", out[-600:])
    c.check("Application protocol: h2" in out, "h2load negotiated h2", out[-600:])
    # No SNI for a generated host: 421 on that stream (issue 4: SNI required).
    p = subprocess.run(["h2load", "-n", "10", "-c", "1", "-H", ":authority: " + E.HOST_A,
                        "https://127.0.0.1:%d/echo" % port], capture_output=True, timeout=60)
    out = p.stdout.decode()
    c.check("0 2xx" in out and "10 4xx" in out,
            "h2 without SNI for a generated host: 421 on every stream", out[:900])


def metrics(edge):
    """GET /metrics: the TLS handshake and HTTP/2 request counters move."""
    s = E.s_client(edge.https_port, E.HOST_A, args=["-tls1_1"])
    c.check(not s.handshake, "a TLS 1.1 handshake fails", s)
    r = E.curl(edge.control_port, "/metrics", host=None,
               args=["-H", "Authorization: Bearer " + edge.token()])
    text = r.body.decode() if isinstance(r.body, bytes) else str(r.body)
    vals = dict(re.findall(r'^(hostess_(?:tls_handshakes_total\{result="\w+"\}|'
                           r'http2_requests_total)) (\d+)$', text, re.M))
    c.check(int(vals.get('hostess_tls_handshakes_total{result="full"}', 0)) > 0,
            "metrics: full TLS handshakes counted", vals)
    c.check(int(vals.get('hostess_tls_handshakes_total{result="failed"}', 0)) >= 1,
            "metrics: the failed handshake counted", vals)
    c.check(int(vals.get("hostess_http2_requests_total", 0)) >= 8000,
            "metrics: HTTP/2 requests counted (h2c and over TLS)", vals)


def main():
    E.require_edge()
    with E.TempDir() as tmp, E.Backend("a") as be:
        certs = E.Certs(tmp.path)
        certs.make("*.hostess.localhost")
        certs.make("default.test", stem="default")  # what a client without SNI gets
        cfg = E.edge_config({E.HOST_A: [E.target(be)]}, tls={"certs_dir": certs.certs_dir},
                            http_mode="proxy", domain="hostess.localhost")
        with E.Edge(cfg) as edge:
            c.section("curl", curl, edge)
            c.section("nghttp", nghttp, edge)
            c.section("h2load", h2load, edge)
            c.section("over TLS", over_tls, edge, certs)
            c.section("metrics", metrics, edge)
            c.check(edge.alive(), "edge still running")
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
