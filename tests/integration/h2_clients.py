#!/usr/bin/python3
"""h2_clients: real HTTP/2 clients against the edge's h2c (prior knowledge): curl, nghttp
and h2load, each request proxied to an HTTP/1.1 backend."""
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


def h2load(edge):
    p = subprocess.run(["h2load", "-n", "5000", "-c", "8", "-m", "8", "-H",
                        ":authority: " + E.HOST_A, "http://127.0.0.1:%d/echo" % edge.port],
                       capture_output=True, timeout=120)
    out = p.stdout.decode()
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored", out)
    c.check(m and m.group(4) == "5000" and m.group(5) == "0" and m.group(6) == "0",
            "h2load 5000 requests, 8 connections x 8 streams: all 2xx", out[-600:])


def main():
    E.require_edge()
    with E.Backend("a") as be:
        with E.Edge(E.edge_config({E.HOST_A: [E.target(be)]})) as edge:
            c.section("curl", curl, edge)
            c.section("nghttp", nghttp, edge)
            c.section("h2load", h2load, edge)
            c.check(edge.alive(), "edge still running")
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
