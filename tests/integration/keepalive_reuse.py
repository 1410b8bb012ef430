#!/usr/bin/python3
"""keepalive_reuse: a client keeps its connection open; the edge keeps its upstream
connections open too.

200 sequential keep-alive requests over ONE client connection -> the backend sees at most a
few TCP connections; many short client connections still reuse pooled upstream
connections; pipelined requests are answered in order; upstream.max_requests closes an
upstream connection after that many requests.
"""
import json
import sys
import time

import edgetest as E

c = E.Checker("keepalive_reuse")


def one_connection(edge, be):
    conns0, reqs0 = be.stats()
    peers = set()
    ok = 0
    with E.Client(edge.port) as cl:
        for i in range(200):
            r = cl.request("GET", "/echo?i=%d" % i, E.HOST_A)
            if r.status == 200:
                d = json.loads(r.body)
                if d["target"] == "/echo?i=%d" % i:
                    ok += 1
                peers.add(d["peer_port"])
            else:
                c.check(False, "request %d on the kept-alive connection" % i, r)
                break
            if cl.reader.eof:
                break
    conns1, reqs1 = be.stats()
    c.check(ok == 200, "200 sequential requests over one client connection", ok)
    c.check(reqs1 - reqs0 == 200, "backend saw 200 requests", reqs1 - reqs0)
    c.check(conns1 - conns0 <= 3, "backend saw <= 3 connections for 200 requests",
            "connections %d, peer ports %d" % (conns1 - conns0, len(peers)))


def many_clients(edge, be):
    conns0, reqs0 = be.stats()
    statuses = []
    for i in range(60):
        r = E.http(edge.port, "GET", "/health", E.HOST_A, [("Connection", "close")])
        statuses.append(r.status)
    conns1, reqs1 = be.stats()
    c.check(statuses == [200] * 60, "60 requests on 60 client connections", statuses)
    c.check(conns1 - conns0 <= 8, "upstream connections pooled across client connections",
            "60 requests used %d backend connections" % (conns1 - conns0))


def pipelining(edge, be):
    with E.Client(edge.port) as cl:
        reqs = [E.build_request("GET", "/slow?ms=300", E.HOST_A)]
        reqs += [E.build_request("GET", "/echo?i=%d" % i, E.HOST_A) for i in range(1, 10)]
        reqs += [E.build_request("POST", "/echo?i=10", E.HOST_A, body=b"x" * 1000)]
        reqs += [E.build_request("HEAD", "/bytes?n=5000", E.HOST_A)]
        reqs += [E.build_request("GET", "/echo?i=12", E.HOST_A)]
        cl.send(b"".join(reqs))
        order = []
        r = cl.read_response("GET")
        order.append("slow" if r.status == 200 and r.body == b"slow\n" else repr(r))
        for i in range(1, 11):
            r = cl.read_response("GET")
            try:
                order.append(json.loads(r.body)["target"])
            except Exception:
                order.append(repr(r))
        r = cl.read_response("HEAD")
        order.append("head:%s:%s:%d" % (r.status, r.header("content-length"), len(r.body)))
        r = cl.read_response("GET")
        try:
            order.append(json.loads(r.body)["target"])
        except Exception:
            order.append(repr(r))
    want = (["slow"] + ["/echo?i=%d" % i for i in range(1, 11)] + ["head:200:5000:0"]
            + ["/echo?i=12"])
    c.check(order == want, "13 pipelined requests answered in order", order)


def wrk_reuse(edge, be):
    conns0, reqs0 = be.stats()
    w = E.wrk(edge.port, "/health", connections=16, duration=3)
    conns1, reqs1 = be.stats()
    c.check(w.requests > 500 and w.non2xx == 0 and w.total_socket_errors() == 0,
            "wrk -c 16 -d 3 all 2xx", w)
    c.check(conns1 - conns0 <= 40 and (reqs1 - reqs0) >= 20 * max(1, conns1 - conns0),
            "backend connections far fewer than requests",
            "%d requests over %d backend connections" % (reqs1 - reqs0, conns1 - conns0))


def max_requests(be):
    cfg = E.edge_config({E.HOST_A: [E.target(be)]}, upstream={"max_requests": 10})
    with E.Edge(cfg) as edge:
        conns0, reqs0 = be.stats()
        ok = 0
        with E.Client(edge.port) as cl:
            for i in range(50):
                r = cl.request("GET", "/health", E.HOST_A)
                ok += r.status == 200
        conns1, reqs1 = be.stats()
        c.check(ok == 50, "50 requests with upstream.max_requests: 10", ok)
        c.check(5 <= conns1 - conns0 <= 8, "upstream connection replaced every 10 requests",
                "%d backend connections for 50 requests" % (conns1 - conns0))


def backend_close(edge, be):
    """The backend closes after a response (Connection: close); the next request on the
    client connection still works (the edge does not reuse the closed upstream)."""
    with E.Client(edge.port) as cl:
        statuses = []
        for path in ["/close", "/health", "/close", "/health", "/health"]:
            r = cl.request("GET", path, E.HOST_A)
            statuses.append(r.status)
            time.sleep(0.05)
    c.check(statuses == [200] * 5, "requests after a backend Connection: close succeed", statuses)


def connection_semantics(edge):
    with E.Client(edge.port) as cl:
        cl.send(b"GET /health HTTP/1.0\r\nHost: %s\r\nConnection: keep-alive\r\n\r\n" % E.HOST_A.encode())
        r = cl.read_response("GET")
        c.check(r.status == 200 and "keep-alive" in (r.header("connection") or "").lower(),
                "HTTP/1.0 client with Connection: keep-alive gets keep-alive", r)
        if not cl.reader.eof:
            cl.send(b"GET /health HTTP/1.0\r\nHost: %s\r\n\r\n" % E.HOST_A.encode())
            r = cl.read_response("GET")
            c.check(r.status == 200, "second HTTP/1.0 request on the kept connection", r)
            c.check(cl.reader.eof or cl.closed_by_peer(2.0), "HTTP/1.0 without keep-alive: closed after")
        else:
            c.check(False, "HTTP/1.0 keep-alive connection kept open", "closed")
    with E.Client(edge.port) as cl:
        r = cl.request("GET", "/health", E.HOST_A, [("Connection", "close")])
        c.check(r.status == 200 and "close" in (r.header("connection") or "").lower(),
                "Connection: close answered with Connection: close", r)
        c.check(cl.reader.eof or cl.closed_by_peer(2.0), "edge closes after Connection: close")


def pipeline_mixed_hosts(edge):
    with E.Client(edge.port) as cl:
        cl.send(E.build_request("GET", "/echo?i=1", E.HOST_A)
                + E.build_request("GET", "/echo?i=2", "nope.hostess.localhost")
                + E.build_request("POST", "/echo?i=3", E.HOST_A, body=b"abc")
                + E.build_request("GET", "/echo?i=4", E.HOST_A))
        got = []
        for m in ["GET", "GET", "POST", "GET"]:
            r = cl.read_response(m)
            got.append(r.status)
            if r.status is None:
                break
    c.check(got == [200, 404, 200, 200], "pipeline with an unknown host in the middle", got)


def concurrency(edge, be):
    n = 400
    socks = []
    try:
        for _ in range(n):
            s = E.Client(edge.port, timeout=15)
            socks.append(s)
        for i, s in enumerate(socks):
            s.send(E.build_request("GET", "/echo?c=%d" % i, E.HOST_A))
        ok = 0
        for i, s in enumerate(socks):
            r = s.read_response("GET", timeout=15)
            ok += r.status == 200 and (b"/echo?c=%d\"" % i) in r.body
    finally:
        for s in socks:
            s.close()
    c.check(ok == n, "%d concurrent client connections all answered correctly" % n, ok)


def main():
    E.require_edge()
    with E.Backend("a") as be:
        with E.Edge(E.edge_config({E.HOST_A: [E.target(be)]})) as edge:
            c.section("one client connection", one_connection, edge, be)
            c.section("many client connections", many_clients, edge, be)
            c.section("pipelining", pipelining, edge, be)
            c.section("backend closes", backend_close, edge, be)
            c.section("connection semantics", connection_semantics, edge)
            c.section("pipeline with mixed hosts", pipeline_mixed_hosts, edge)
            c.section("concurrency", concurrency, edge, be)
            c.section("wrk reuse", wrk_reuse, edge, be)
            c.check(edge.alive(), "edge still running")
        c.section("upstream max_requests", max_requests, be)
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
