#!/usr/bin/python3
"""slowloris: 200 clients each trickle a request head, one byte at a time.

With timeouts.header: 2s every one of them is closed by about 4 s after it started,
however slowly it keeps sending (the header timeout runs from the first byte of the head,
not from the last byte received); the edge's RSS grows < 20 MiB; a normal request is
answered promptly meanwhile. Also: a connection that never sends a byte is closed too.
"""
import select
import socket
import sys
import threading
import time

import edgetest as E

c = E.Checker("slowloris")
N = 200


def slow_heads(edge):
    rss0 = E.rss_kib(edge.pid)["VmRSS"]
    head = ("GET /health HTTP/1.1\r\nHost: %s\r\nUser-Agent: slowloris\r\nX-Pad: %s\r\n"
            % (E.HOST_A, "p" * 200)).encode()  # never finished: no final CRLF
    socks = []
    opened = time.monotonic()
    for _ in range(N):
        s = socket.create_connection(("127.0.0.1", edge.port), timeout=3)
        s.setblocking(False)
        socks.append(s)
    c.check(len(socks) == N, "%d connections opened" % N, len(socks))
    start = {s: time.monotonic() for s in socks}
    sent = {s: 0 for s in socks}
    closed_at = {}
    max_rss = rss0
    normal = {}

    def normal_request():
        time.sleep(1.0)
        r = E.curl(edge.port, "/health", timeout=5)
        normal["status"], normal["elapsed"] = r.status, r.elapsed

    th = threading.Thread(target=normal_request, daemon=True)
    th.start()
    deadline = opened + 8.0
    next_byte = time.monotonic()
    while len(closed_at) < N and time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_byte:
            # one byte per open socket every 250 ms
            for s in socks:
                if s in closed_at or sent[s] >= len(head):
                    continue
                try:
                    s.send(head[sent[s]:sent[s] + 1])
                    sent[s] += 1
                except BlockingIOError:
                    pass
                except OSError:
                    closed_at[s] = now
            next_byte = now + 0.25
            max_rss = max(max_rss, E.rss_kib(edge.pid)["VmRSS"])
        live = [s for s in socks if s not in closed_at]
        r, _, _ = select.select(live, [], [], 0.05) if live else ([], [], [])
        for s in r:
            try:
                d = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                d = b""
            if not d:
                closed_at[s] = time.monotonic()
            # a 408 response is fine; we wait for the close
    th.join(6)
    for s in socks:
        s.close()
    took = [closed_at[s] - start[s] for s in closed_at]
    c.check(len(closed_at) == N, "all %d slow clients closed by the edge" % N,
            "%d of %d closed within 8 s" % (len(closed_at), N))
    if took:
        c.check(max(took) <= 4.0, "each closed within ~4 s of its first byte (header: 2s)",
                "min %.2fs max %.2fs" % (min(took), max(took)))
        c.check(min(took) >= 1.5, "not closed before the header timeout", "min %.2fs" % min(took))
    c.check(normal.get("status") == 200 and normal.get("elapsed", 9) < 1.0,
            "a normal request is served meanwhile", normal)
    growth = max_rss - rss0
    c.check(growth < 20 * 1024, "edge RSS growth < 20 MiB", "%d KiB" % growth)
    E.log("    rss before %d KiB, max %d KiB" % (rss0, max_rss))


def silent_connection(edge):
    s = socket.create_connection(("127.0.0.1", edge.port), timeout=6)
    t0 = time.monotonic()
    try:
        d = s.recv(100)
        while d:
            d = s.recv(100)
        closed = True
    except socket.timeout:
        closed = False
    except OSError:
        closed = True
    s.close()
    dt = time.monotonic() - t0
    c.check(closed and dt < 5.0, "a connection that sends nothing is closed (header/idle timeout)",
            "closed=%s after %.2fs" % (closed, dt))


def keepalive_then_partial(edge):
    """A good request, then a partial second head on the same connection: the header
    timer starts at the second head's first byte and closes the connection."""
    with E.Client(edge.port, timeout=8) as cl:
        r = cl.request("GET", "/health", E.HOST_A)
        c.check(r.status == 200, "first request on the connection", r)
        cl.send(b"GET /health HTTP/1.1\r\nHo")
        t0 = time.monotonic()
        closed = cl.closed_by_peer(5.0)
        c.check(closed and time.monotonic() - t0 < 4.0, "partial second head closed by header timeout",
                "closed=%s after %.2fs" % (closed, time.monotonic() - t0))


def slow_body(edge, be):
    """A client that sends a head and part of its body, then stalls: closed after
    timeouts.client; the upstream never sees a complete body."""
    n0 = be.stats()[1]
    with E.Client(edge.port, timeout=10) as cl:
        cl.send(b"POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Length: 100000\r\n\r\n"
                % E.HOST_A.encode() + b"x" * 1000)
        t0 = time.monotonic()
        cl.sock.settimeout(6)
        data = b""
        try:
            while True:
                d = cl.sock.recv(4096)
                if not d:
                    break
                data += d
        except socket.timeout:
            pass
        except OSError:
            pass
        dt = time.monotonic() - t0
    c.check(1.5 <= dt <= 4.0, "stalled request body closed after timeouts.client (2 s)",
            "closed after %.2fs, got %r" % (dt, data[:60]))
    time.sleep(0.3)
    c.check(be.stats()[1] == n0, "upstream did not get a complete request from the stalled body",
            be.stats()[1] - n0)


def idle_keepalive(edge):
    with E.Client(edge.port, timeout=10) as cl:
        r = cl.request("GET", "/health", E.HOST_A)
        t0 = time.monotonic()
        closed = cl.closed_by_peer(6.0)
        dt = time.monotonic() - t0
    c.check(r.status == 200 and closed and 2.5 <= dt <= 4.5,
            "idle keep-alive connection closed after timeouts.idle (3 s)", "closed=%s after %.2fs" % (closed, dt))


def main():
    E.require_edge()
    with E.Backend("a") as be:
        cfg = E.edge_config({E.HOST_A: [E.target(be)]}, timeouts={"header": "2s", "idle": "3s", "client": "2s"})
        with E.Edge(cfg) as edge:
            c.section("200 slow heads", slow_heads, edge)
            c.section("silent connection", silent_connection, edge)
            c.section("keep-alive then partial head", keepalive_then_partial, edge)
            c.section("stalled request body", slow_body, edge, be)
            c.section("idle keep-alive", idle_keepalive, edge)
            c.check(edge.alive(), "edge still running")
            r = E.curl(edge.port, "/health")
            c.check(r.status == 200, "edge serves after the attack", r)
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
