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
    cfg = E.edge_config({E.HOST_A: [E.target(good)]}, timeouts={"upstream_response": "1s"})
    with E.Edge(cfg) as edge:
        r = E.curl(edge.port, "/slow?ms=3000")
        c.check(r.status == 504, "upstream_response 1s vs /slow?ms=3000 -> 504", r)
        c.check(0.8 < r.elapsed < 2.6, "504 after about 1 s", "%.2fs" % r.elapsed)
        r = E.curl(edge.port, "/slow?ms=300")
        c.check(r.status == 200, "a fast enough response still 200", r)


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


def main():
    E.require_edge()
    with E.Backend("good") as good:
        c.section("refused -> next target", refused_then_next, good)
        c.section("all refused, eject, recover", all_refused_eject, None)
        c.section("response timeout", response_timeout, good)
        c.section("connect timeout", connect_timeout)
        c.section("truncated responses", truncated, good)
        c.section("POST not retried", post_not_retried)
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
