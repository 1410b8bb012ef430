#!/usr/bin/python3
"""upstream_failures: backends die, hang and misbehave; the edge answers truthfully.

- a refused target -> the next target serves the request (GET and POST: nothing was sent)
- every target refused -> 502; after eject_after failures the targets are ejected -> 503
  with Retry-After; after `eject` a recovered target serves again
- upstream_response timeout -> 504; connect timeout -> 504 (a loopback listener with a
  full accept queue: listen(0) + one unaccepted connection makes further SYNs hang)
- a response truncated mid-body (Content-Length short, chunked without last chunk) is
  never turned into a clean one: curl reports an error (18/56)
- a POST whose bytes reached a backend that then closed is not retried: 502, and the
  other target never sees it
"""
import json
import socket
import sys
import time

import edgetest as E

c = E.Checker("upstream_failures")


class Blackhole:
    """A listener whose accept queue is full: connects to it hang until timeout."""

    def __init__(self):
        self.l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.l.bind(("127.0.0.1", 0))
        self.l.listen(0)
        self.port = self.l.getsockname()[1]
        self.fillers = []
        for _ in range(2):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(0.5)
            try:
                s.connect(("127.0.0.1", self.port))
            except OSError:
                pass
            self.fillers.append(s)
        # prove it: a further connect must hang
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.settimeout(0.5)
        try:
            probe.connect(("127.0.0.1", self.port))
            self.works = False
        except socket.timeout:
            self.works = True
        except OSError:
            self.works = False
        probe.close()

    def close(self):
        for s in self.fillers:
            s.close()
        self.l.close()


def refused_then_next(good):
    dead = E.free_port()
    cfg = E.edge_config({E.HOST_A: [E.target(dead), E.target(good)]}, access="-")
    with E.Edge(cfg) as edge:
        n0 = good.stats()[1]
        st = [E.curl(edge.port, "/echo").status for _ in range(20)]
        c.check(st == [200] * 20, "refused target skipped: 20 GETs all 200", st)
        st = [E.curl(edge.port, "/echo", args=["--data-binary", "body-%d" % i]).status for i in range(10)]
        c.check(st == [200] * 10, "refused target skipped for POST too (nothing was sent)", st)
        c.check(good.stats()[1] - n0 == 30, "good target served all 30", good.stats()[1] - n0)


def all_refused_eject(good_port_holder):
    d1, d2 = E.free_port(), E.free_port()
    tmp = E.TempDir()
    acc = tmp.file("access.log")
    cfg = E.edge_config({E.HOST_A: [E.target(d1), E.target(d2)]}, access=acc,
                        upstream={"eject_after": 3, "eject": "3s"})
    try:
        with E.Edge(cfg, tmp=tmp) as edge:
            res = []
            for _ in range(8):
                r = E.curl(edge.port, "/echo")
                res.append((r.status, r.header("retry-after")))
            c.check(res[0][0] == 502, "all targets refused -> 502", res)
            c.check(all(s in (502, 503) for s, _ in res), "only 502/503 while targets are down", res)
            first503 = next((i for i, (s, _) in enumerate(res) if s == 503), None)
            c.check(first503 is not None and first503 <= 4,
                    "targets ejected after eject_after=3 failures -> 503", res)
            ra = [h for s, h in res if s == 503]
            c.check(ra and all(h and (h.isdigit() or "GMT" in h) for h in ra),
                    "503 carries Retry-After", res)
            # recovery: start a backend on d1 after the eject period
            with E.Backend("revived", port=d1) as be:
                deadline = time.monotonic() + 8
                st = None
                while time.monotonic() < deadline:
                    st = E.curl(edge.port, "/echo").status
                    if st == 200:
                        break
                    time.sleep(0.5)
                c.check(st == 200, "ejected target used again after `eject` once it is back", st)
                c.check(be.stats()[1] >= 1, "revived backend served", be.stats())
            edge.stop()
            lines = edge.access_lines()
            e502 = [e for e in lines if e.get("status") == 502]
            c.check(e502 and all(str(e.get("term", "")).startswith("upstream/") for e in e502),
                    "access log: 502 lines have term upstream/...", e502[:2])
            e503 = [e for e in lines if e.get("status") == 503]
            c.check(bool(e503), "access log has the 503 lines", len(e503))
    finally:
        tmp.cleanup()


def response_timeout(good):
    tmp = E.TempDir()
    cfg = E.edge_config({E.HOST_A: [E.target(good)]}, timeouts={"upstream_response": "1s"},
                        access=tmp.file("access.log"))
    try:
        with E.Edge(cfg, tmp=tmp) as edge:
            r = E.curl(edge.port, "/slow?ms=3000", args=["-H", "X-Request-Id: timeout-1"])
            c.check(r.status == 504, "upstream_response 1s vs /slow?ms=3000 -> 504", r)
            c.check(0.8 < r.elapsed < 2.6, "504 after about 1 s", "%.2fs" % r.elapsed)
            r = E.curl(edge.port, "/slow?ms=300")
            c.check(r.status == 200, "a fast enough response still 200", r)
            e = edge.wait_access(lambda e: e.get("request_id") == "timeout-1", timeout=3)
            c.check(e is not None and e.get("status") == 504
                    and str(e.get("term", "")).startswith("upstream/")
                    and e.get("upstream") == E.target(good),
                    "access log: 504 line with term upstream/... and the upstream", e)
    finally:
        tmp.cleanup()


def slow_upload_is_not_an_upstream_timeout(good):
    """upstream_response runs from "request sent" to the response head: a client upload
    that keeps progressing for longer than that (each piece within timeouts.client) must
    reach the upstream and get its answer, not a 504."""
    cfg = E.edge_config({E.HOST_A: [E.target(good)]},
                        timeouts={"upstream_response": "1s", "client": "3s"})
    with E.Edge(cfg) as edge:
        with E.Client(edge.port, timeout=10) as cl:
            cl.send(b"POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Length: 4096\r\n\r\n"
                    % E.HOST_A.encode())
            for _ in range(8):  # 3 s of upload, 0.4 s apart
                time.sleep(0.4)
                cl.send(b"u" * 512)
            r = cl.read_response("POST", timeout=5)
        ok = r.status == 200 and b'"len": 4096' in r.body
        c.check(ok, "an upload progressing for 3 s with upstream_response 1s: 200", (r.status, r.body[:120]))


def connect_timeout():
    bh = Blackhole()
    try:
        if not bh.works:
            c.check(False, "connect-timeout setup (full accept queue on loopback)",
                    "cannot make connects hang here")
            return
        cfg = E.edge_config({E.HOST_A: [E.target(bh.port)]}, timeouts={"connect": "1s"})
        with E.Edge(cfg) as edge:
            r = E.curl(edge.port, "/echo")
            c.check(r.status == 504, "connect timeout -> 504", r)
            c.check(0.8 < r.elapsed < 3.5, "504 after about the connect timeout", "%.2fs" % r.elapsed)
    finally:
        bh.close()


def truncated(good):
    cfg = E.edge_config({E.HOST_A: [E.target(good)]})
    with E.Edge(cfg) as edge:
        for mode in ["length", "chunked"]:
            r = E.curl(edge.port, "/truncate?mode=%s" % mode)
            c.check(r.rc in (18, 56), "truncated %s response -> curl error 18/56" % mode,
                    (r.rc, r.status, r.stderr.strip()))
            with E.Client(edge.port) as cl:
                cl.send(E.build_request("GET", "/truncate?mode=%s" % mode, E.HOST_A))
                resp = cl.read_response("GET", timeout=5)
                c.check(resp.status == 200 and not resp.complete,
                        "truncated %s: client sees no clean end" % mode, resp)
                c.check(cl.reader.eof or cl.closed_by_peer(2.0),
                        "truncated %s: client connection closed" % mode)
        r = E.curl(edge.port, "/echo")
        c.check(r.status == 200, "edge fine after truncations", r)


def post_not_retried():
    with E.DropBackend("d1") as d1, E.DropBackend("d2") as d2:
        cfg = E.edge_config({E.HOST_A: [E.target(d1), E.target(d2)]},
                            upstream={"eject_after": 100})
        with E.Edge(cfg) as edge:
            for i in range(3):
                r = E.curl(edge.port, "/drop", args=["--data-binary", "post-%d" % i])
                c.check(r.status == 502, "POST %d to a backend that closes -> 502" % i, r)
                time.sleep(0.2)
                seen = d1.stats()[1] + d2.stats()[1]
                c.check(seen == i + 1, "POST %d reached exactly one target (not retried)" % i,
                        "total POSTs seen by both targets: %d" % seen)


def expect_without_upstream(good):
    """Expect: 100-continue is answered only once an upstream connection exists: an
    unknown host or an all-refused route gets its final status without a 100 first."""
    dead = E.free_port()
    cfg = E.edge_config({E.HOST_A: [E.target(dead)], E.HOST_B: [E.target(good)]})
    with E.Edge(cfg) as edge:
        for host, want in [("nope.hostess.localhost", 404), (E.HOST_A, 502)]:
            with E.Client(edge.port, timeout=5) as cl:
                cl.send(b"POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Length: 10\r\n"
                        b"Expect: 100-continue\r\n\r\n" % host.encode())
                r = cl.read_response("POST", timeout=5)
            c.check(r.status == want and not r.interim,
                    "Expect: 100-continue to %s -> %d without 100 Continue" % (host, want),
                    (r.status, r.interim))
        with E.Client(edge.port, timeout=5) as cl:
            cl.send(b"POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Length: 10\r\n"
                    b"Expect: 100-continue\r\n\r\n" % E.HOST_B.encode())
            t0 = time.monotonic()
            got = b""
            cl.sock.settimeout(3)
            try:
                while b"\r\n\r\n" not in got:
                    d = cl.sock.recv(1000)
                    if not d:
                        break
                    got += d
            except socket.timeout:
                pass
            c.check(got.startswith(b"HTTP/1.1 100"), "Expect to a live route -> 100 Continue",
                    (got[:60], "%.2fs" % (time.monotonic() - t0)))
            cl.reader.buf += got[got.find(b"\r\n\r\n") + 4:]
            cl.send(b"0123456789")
            r = cl.read_response("POST", timeout=5)
            c.check(r.status == 200 and b'"len": 10' in r.body, "body after 100 Continue uploaded", r)


def balancing(a):
    with E.Backend("b2") as b:
        cfg = E.edge_config({E.HOST_A: [E.target(a), E.target(b)]})
        with E.Edge(cfg) as edge:
            na, nb = a.stats()[1], b.stats()[1]
            st = [E.http(edge.port, "GET", "/health", E.HOST_A, [("Connection", "close")]).status
                  for _ in range(100)]
            da, db = a.stats()[1] - na, b.stats()[1] - nb
            c.check(st == [200] * 100, "100 requests over two healthy targets", st)
            c.check(da >= 15 and db >= 15, "both targets get traffic", (da, db))


def main():
    E.require_edge()
    with E.Backend("good") as good:
        c.section("refused -> next target", refused_then_next, good)
        c.section("all refused, eject, recover", all_refused_eject, None)
        c.section("response timeout", response_timeout, good)
        c.section("slow upload", slow_upload_is_not_an_upstream_timeout, good)
        c.section("connect timeout", connect_timeout)
        c.section("truncated responses", truncated, good)
        c.section("POST not retried", post_not_retried)
        c.section("Expect without an upstream", expect_without_upstream, good)
        c.section("load balancing", balancing, good)
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
