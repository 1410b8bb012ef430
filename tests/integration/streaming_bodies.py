#!/usr/bin/python3
"""streaming_bodies: bodies flow through the edge as they come, both ways.

SSE events arrive one by one; chunked and until-close responses (until-close sent to an
HTTP/1.1 client as chunked); Content-Length responses; HEAD, 204, 304 framing; client
chunked uploads re-framed to the upstream; Expect: 100-continue answered by the edge
itself and not forwarded; curl upload with Expect.
"""
import hashlib
import json
import os
import socket
import sys
import time

import edgetest as E

c = E.Checker("streaming_bodies")


def pattern(n):
    full, rest = divmod(n, len(E.PATTERN))
    return E.PATTERN * full + E.PATTERN[:rest]


def sse(edge):
    n, iv = 5, 400
    events = []
    buf = bytearray()

    def sink(piece):
        now = time.time()
        buf.extend(piece)
        while b"\n\n" in buf:
            i = buf.index(b"\n\n")
            ev = bytes(buf[:i])
            del buf[:i + 2]
            for line in ev.split(b"\n"):
                if line.startswith(b"data: "):
                    events.append((now, json.loads(line[6:])))

    with E.Client(edge.port) as cl:
        cl.send(E.build_request("GET", "/sse?n=%d&interval_ms=%d" % (n, iv), E.HOST_A))
        r = cl.read_response("GET", timeout=15, sink=sink)
    c.check(r.status == 200 and r.complete, "SSE response 200, cleanly ended", r)
    c.check((r.header("content-type") or "").startswith("text/event-stream"),
            "SSE content-type kept", r.headers)
    c.check(len(events) == n, "all %d SSE events received" % n, len(events))
    if len(events) == n:
        last_sent = events[-1][1]["t"]
        first_arrival = events[0][0]
        c.check(first_arrival < last_sent - 1.0,
                "first event arrived well before the last was sent",
                "first arrival %.3f, last sent %.3f" % (first_arrival, last_sent))
        lags = [arr - ev["t"] for arr, ev in events]
        c.check(max(lags) < 0.25, "every event arrives within 250 ms of being sent",
                ["%.3f" % x for x in lags])
        gaps = [events[i + 1][0] - events[i][0] for i in range(n - 1)]
        c.check(min(gaps) > 0.2, "arrivals spread like the sends", ["%.3f" % g for g in gaps])


def response_framings(edge):
    n = 300000
    want = pattern(n)
    with E.Client(edge.port) as cl:
        for mode in ["length", "chunked", "close"]:
            r = cl.request("GET", "/bytes?n=%d&mode=%s" % (n, mode), E.HOST_A)
            c.check(r.status == 200 and r.complete and r.body == want,
                    "%s response body intact" % mode, "status %s len %d" % (r.status, len(r.body)))
            if mode == "length":
                c.check(r.header("content-length") == str(n), "Content-Length kept", r.headers)
            if mode == "close":
                te = (r.header("transfer-encoding") or "").lower()
                c.check(te == "chunked" and r.header("content-length") is None,
                        "until-close response sent to HTTP/1.1 client as chunked", r.headers)
            if cl.reader.eof:
                c.check(False, "client connection kept alive after %s response" % mode, "closed")
                return
            r2 = cl.request("GET", "/health", E.HOST_A)
            c.check(r2.status == 200 and r2.body == b"ok\n",
                    "same client connection usable after %s response" % mode, r2)
    # HTTP/1.0 client: until-close body, then close
    st, data, closed = E.raw_exchange(edge.port, b"GET /bytes?n=100000&mode=close HTTP/1.0\r\nHost: "
                                      + E.HOST_A.encode() + b"\r\n\r\n", timeout=5, close_wait=3)
    body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
    head = data.split(b"\r\n\r\n", 1)[0].lower()
    if b"transfer-encoding: chunked" in head:
        c.check(False, "no chunked to an HTTP/1.0 client", head)
    else:
        c.check(st == 200 and closed and body == pattern(100000),
                "until-close response to HTTP/1.0 client intact and closed",
                "status %s closed %s len %d" % (st, closed, len(body)))


def head_204_304(edge):
    with E.Client(edge.port) as cl:
        for mode in ["length", "chunked"]:
            r = cl.request("HEAD", "/bytes?n=5000&mode=%s" % mode, E.HOST_A)
            c.check(r.status == 200 and r.body == b"", "HEAD %s: 200 without body" % mode, r)
            if mode == "length":
                c.check(r.header("content-length") == "5000", "HEAD keeps Content-Length", r.headers)
            r = cl.request("GET", "/echo", E.HOST_A)
            c.check(r.status == 200 and r.body.startswith(b"{"),
                    "request after HEAD %s on same connection" % mode, r)
        for code in [204, 304]:
            r = cl.request("GET", "/status?code=%d" % code, E.HOST_A)
            c.check(r.status == code and r.body == b"" and r.header("transfer-encoding") is None,
                    "%d: no body, no chunked framing" % code, r)
            if code == 304:
                c.check(r.header("etag") == '"v1"', "304 keeps ETag", r.headers)
            cl.sock.settimeout(0.3)
            try:
                extra = cl.sock.recv(100)
            except socket.timeout:
                extra = b""
            cl.reader.buf += extra
            c.check(extra == b"", "no stray bytes after %d" % code, extra)
            r = cl.request("GET", "/echo", E.HOST_A)
            c.check(r.status == 200 and r.body.startswith(b"{"),
                    "request after %d on same connection" % code, r)


def uploads(edge):
    body = os.urandom(1 << 20)
    sha = hashlib.sha256(body).hexdigest()
    # Content-Length upload
    r = E.http(edge.port, "POST", "/echo", E.HOST_A, body=body)
    d = json.loads(r.body) if r.status == 200 else {}
    c.check(d.get("body_len") == len(body) and d.get("body_sha256") == sha,
            "1 MiB Content-Length upload intact", d.get("body_len"))
    # chunked upload, sent in uneven pieces with pauses
    with E.Client(edge.port) as cl:
        cl.send(b"POST /echo HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n"
                % E.HOST_A.encode())
        off = 0
        sizes = [1, 100, 4096, 70000, 300000]
        i = 0
        while off < len(body):
            n = sizes[i % len(sizes)]
            piece = body[off:off + n]
            cl.send(b"%x;e=%d\r\n" % (len(piece), i) + piece + b"\r\n")
            off += n
            i += 1
            if i % 5 == 0:
                time.sleep(0.01)
        cl.send(b"0\r\n\r\n")
        r = cl.read_response("POST")
    d = json.loads(r.body) if r.status == 200 else {}
    c.check(d.get("body_len") == len(body) and d.get("body_sha256") == sha,
            "1 MiB chunked upload intact", (r.status, d.get("body_len")))
    names = [k.lower() for k, _ in d.get("headers", [])]
    te = [v for k, v in d.get("headers", []) if k.lower() == "transfer-encoding"]
    c.check(("content-length" in names) != bool(te) and (not te or te == ["chunked"]),
            "upstream got exactly one of Content-Length / chunked", d.get("headers"))


def expect_continue(edge):
    body = os.urandom(200000)
    with E.Client(edge.port) as cl:
        cl.send(b"POST /echo HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n"
                % (E.HOST_A.encode(), len(body)))
        t0 = time.monotonic()
        cl.sock.settimeout(3)
        got = b""
        try:
            while b"\r\n\r\n" not in got:
                d = cl.sock.recv(4096)
                if not d:
                    break
                got += d
        except socket.timeout:
            pass
        c.check(got.startswith(b"HTTP/1.1 100 "), "edge answers 100 Continue before the body",
                "%r after %.2fs" % (got[:80], time.monotonic() - t0))
        i = got.find(b"\r\n\r\n")
        cl.reader.buf += got[i + 4:] if i >= 0 else got
        cl.send(body)
        r = cl.read_response("POST")
    d = json.loads(r.body) if r.status == 200 else {}
    c.check(d.get("body_len") == len(body), "body after 100 Continue forwarded", (r.status, d.get("body_len")))
    c.check("expect" not in [k.lower() for k, _ in d.get("headers", [])], "Expect not forwarded",
            d.get("headers"))
    # curl sends Expect: 100-continue itself for bodies > 1 MiB; make it explicit
    tmp = E.TempDir()
    try:
        p = tmp.file("up.bin")
        with open(p, "wb") as f:
            f.write(os.urandom(3 << 20))
        with open(p, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        r = E.curl(edge.port, "/upload", args=["-H", "Expect: 100-continue", "--expect100-timeout", "10",
                                               "--data-binary", "@" + p])
        ok = r.status == 200 and r.json().get("sha256") == sha
        c.check(ok, "curl upload with Expect: 100-continue", r)
        c.check(r.elapsed < 5, "curl did not wait for the expect timeout", "%.2fs" % r.elapsed)
    finally:
        tmp.cleanup()


def main():
    E.require_edge()
    with E.Backend("a") as be:
        with E.Edge(E.edge_config({E.HOST_A: [E.target(be)]})) as edge:
            c.section("SSE", sse, edge)
            c.section("response framings", response_framings, edge)
            c.section("HEAD 204 304", head_204_304, edge)
            c.section("uploads", uploads, edge)
            c.section("Expect: 100-continue", expect_continue, edge)
            c.check(edge.alive(), "edge still running")
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
