#!/usr/bin/python3
"""misbehaving_backends: upstreams that send surprising bytes must not poison the pool.

A scripted raw-socket backend sends: extra bytes after a complete response (response
queue poisoning), Content-Length + chunked, two different Content-Lengths, a bad chunk,
a 204 with a body, 1xx interim responses, an oversized head, garbage, hop-by-hop response
headers, an HTTP/1.0 until-close response. After each, fresh requests must get THEIR OWN
answers (the edge never reuses an upstream connection in an unknown state). Also: a
client that aborts mid-request or before the response, and a backend that closes idle
keep-alive connections (the edge must notice before reusing them, also for POST).
Each case runs on an edge with workers: 1 so that every request shares one pool.
"""
import socket
import sys
import time

import edgetest as E

c = E.Checker("misbehaving_backends")

RESPONSES = {
    "/poison": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
               b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON",
    "/cl-te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5\r\nhello\r\n0\r\n\r\n",
    "/dup-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "/bad-chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n",
    "/204-body": b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello",
    "/early-hints": b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
                    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal",
    "/continue": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal",
    "/huge-head": b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(70))
                  + b"Content-Length: 2\r\n\r\nok",
    "/garbage": b"HELLO WORLD\r\n\r\n",
    "/bare-lf": b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
    "/hop": b"HTTP/1.1 200 OK\r\nConnection: X-Drop, keep-alive\r\nX-Drop: 1\r\nKeep-Alive: timeout=5\r\n"
            b"X-Keep: 1\r\nContent-Length: 2\r\n\r\nok",
    "/chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n",
    "/http10": b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nold-style body",
    "/no-reason": b"HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok",
}
CLOSE_AFTER = {"/garbage", "/http10", "/huge-head", "/bare-lf"}


def script(be, conn, s, cid):
    while True:
        req = E.read_request(conn)
        got = b"".join(E.body_pieces(conn, req))
        be.record(req)
        p = req.path
        if p == "/split-chunks":
            # Chunk framing in its own packets: size lines, a size line cut in two, the
            # last chunk apart from its final CRLF.
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for piece in (b"5\r\n", b"hello\r\n", b"1", b"0\r\n", b"0123456789abcdef\r\n",
                          b"0\r\n", b"\r\n"):
                time.sleep(0.03)
                s.sendall(piece)
            continue
        if p == "/echo-body":
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(got), got))
            continue
        if p in RESPONSES:
            s.sendall(RESPONSES[p])
            if p in CLOSE_AFTER:
                time.sleep(0.05)
                s.close()
                return
        elif p == "/slow":
            time.sleep(int(req.query.get("ms", "500")) / 1000.0)
            body = b"slow:" + req.target.encode()
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        else:
            body = req.target.encode()
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


def idle_close_script(be, conn, s, cid):
    """Keep-alive, but closes a connection that stays idle for 200 ms."""
    while True:
        s.settimeout(0.2)
        try:
            req = E.read_request(conn)
        except (EOFError, OSError):
            s.close()
            return
        s.settimeout(5)
        for _ in E.body_pieces(conn, req):
            pass
        be.record(req)
        body = req.target.encode()
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


def followups(edge, tag):
    bad = []
    for i in range(3):
        path = "/f-%s-%d" % (tag.strip("/"), i)
        try:
            r = E.http(edge.port, "GET", path, E.HOST_A, timeout=5)
            if r.status != 200 or r.body != path.encode():
                bad.append((path, r.status, r.body[:60]))
        except Exception as e:  # noqa: BLE001
            bad.append((path, repr(e)))
    c.check(not bad, "after %s: next requests get their own responses" % tag, bad)


def one(edge, path, method="GET", version="HTTP/1.1"):
    with E.Client(edge.port, timeout=5) as cl:
        cl.send(E.build_request(method, path, E.HOST_A, version=version))
        try:
            r = cl.read_response(method, timeout=5)
        except (ValueError, socket.timeout) as e:
            r = E.Resp()
            r.error = repr(e)
        r.closed = cl.reader.eof or cl.closed_by_peer(1.0)
        return r


def split_framing(edge):
    r = one(edge, "/split-chunks")
    c.check(r.status == 200 and r.body == b"hello0123456789abcdef",
            "response chunk framing split over packets arrives intact", r)
    # The same on the request side: the client sends framing alone in each packet.
    with E.Client(edge.port, timeout=5) as cl:
        cl.send(b"POST /echo-body HTTP/1.1\r\nHost: " + E.HOST_A.encode() +
                b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in (b"5\r\n", b"hello\r\n", b"1", b"0\r\n", b"0123456789abcdef\r\n",
                      b"0\r\n", b"\r\n"):
            time.sleep(0.03)
            cl.send(piece)
        r = cl.read_response("POST", timeout=5)
    c.check(r.status == 200 and r.body == b"hello0123456789abcdef",
            "request chunk framing split over packets reaches the backend intact", r)


def cases(be):
    cfg = E.edge_config({E.HOST_A: [E.target(be)]}, upstream={"eject_after": 1000})
    with E.Edge(cfg, workers=1) as edge:
        split_framing(edge)
        r = one(edge, "/poison")
        c.check(r.status == 200 and r.body == b"ok", "extra bytes after a response: client gets 'ok'", r)
        followups(edge, "/poison")

        r = one(edge, "/cl-te")
        cl_and_te = r.header("content-length") is not None and r.header("transfer-encoding") is not None
        c.check(r.status == 502 or (r.status == 200 and r.body == b"hello" and not cl_and_te),
                "response with CL + chunked: 502 or consistent chunked", r)
        followups(edge, "/cl-te")

        r = one(edge, "/dup-cl")
        c.check(r.status == 502, "response with two different Content-Lengths -> 502", r)
        followups(edge, "/dup-cl")

        r = one(edge, "/bad-chunk")
        c.check(r.status == 502 or (r.status == 200 and not r.complete),
                "response with a bad chunk: no clean end", r)
        followups(edge, "/bad-chunk")

        with E.Client(edge.port, timeout=5) as cl:
            r = cl.request("GET", "/204-body", E.HOST_A)
            c.check(r.status == 204 and r.body == b"", "204 with a body: client gets 204 without it", r)
            if not cl.reader.eof:
                r2 = cl.request("GET", "/same-conn", E.HOST_A)
                c.check(r2.status == 200 and r2.body == b"/same-conn",
                        "after 204 with a body: same client connection answered correctly", r2)
        followups(edge, "/204-body")

        for path in ["/early-hints", "/continue"]:
            r = one(edge, path)
            c.check(r.status == 200 and r.body == b"final", "%s: final 200 delivered" % path, r)
            followups(edge, path)

        r = one(edge, "/huge-head")
        c.check(r.status == 502, "70 KB upstream response head -> 502", r)
        followups(edge, "/huge-head")

        r = one(edge, "/garbage")
        c.check(r.status == 502, "garbage instead of a status line -> 502", r)
        followups(edge, "/garbage")

        r = one(edge, "/bare-lf")
        c.check(r.status in (200, 502), "bare-LF response -> 200 or 502", r)
        followups(edge, "/bare-lf")

        r = one(edge, "/no-reason")
        c.check(r.status == 200 and r.body == b"ok", "status line without reason phrase -> 200", r)

        r = one(edge, "/hop")
        names = [k.lower() for k, _ in r.headers]
        conn_tokens = ",".join(r.header_all("connection")).lower()
        c.check(r.status == 200 and "x-drop" not in names and "keep-alive" not in names
                and "x-drop" not in conn_tokens and "x-keep" in names,
                "hop-by-hop response headers removed, others kept", r.headers)

        r = one(edge, "/chunked", version="HTTP/1.0")
        c.check(r.status == 200 and r.body == b"hello" and r.header("transfer-encoding") is None
                and r.closed, "chunked upstream response de-chunked for an HTTP/1.0 client", r)

        with E.Client(edge.port, timeout=5) as cl:
            r = cl.request("GET", "/http10", E.HOST_A)
            c.check(r.status == 200 and r.body == b"old-style body" and r.complete
                    and (r.header("transfer-encoding") or "").lower() == "chunked",
                    "HTTP/1.0 until-close upstream response -> chunked to HTTP/1.1 client", r)
            if not cl.reader.eof:
                r2 = cl.request("GET", "/after-http10", E.HOST_A)
                c.check(r2.status == 200 and r2.body == b"/after-http10",
                        "client connection usable after until-close upstream response", r2)
            else:
                c.check(False, "client connection usable after until-close upstream response", "closed")
        followups(edge, "/http10")
        c.check(edge.alive(), "edge alive after misbehaving responses")


def client_aborts(be):
    cfg = E.edge_config({E.HOST_A: [E.target(be)]})
    with E.Edge(cfg, workers=1) as edge:
        for i in range(3):
            # client A asks for a slow response and goes away before it arrives
            a = socket.create_connection(("127.0.0.1", edge.port))
            a.sendall(E.build_request("GET", "/slow?ms=600&abort=%d" % i, E.HOST_A))
            time.sleep(0.1)
            a.close()
            t0 = time.monotonic()
            try:
                r = E.http(edge.port, "GET", "/b-%d" % i, E.HOST_A, timeout=5)
                ok = r.status == 200 and r.body == b"/b-%d" % i
                detail = (r.status, r.body[:60], "%.2fs" % (time.monotonic() - t0))
            except Exception as e:  # noqa: BLE001
                ok, detail = False, repr(e)
            c.check(ok, "client aborted before response %d: next client gets its own answer" % i, detail)
        time.sleep(0.8)  # the slow responses complete upstream
        followups(edge, "/aborted-slow")

        # client aborts in the middle of an upload body
        for i in range(2):
            a = socket.create_connection(("127.0.0.1", edge.port))
            a.sendall(b"POST /partial-%d HTTP/1.1\r\nHost: %s\r\nContent-Length: 100000\r\n\r\n"
                      % (i, E.HOST_A.encode()) + b"p" * 50000)
            time.sleep(0.2)
            a.close()
            time.sleep(0.1)
            try:
                r = E.http(edge.port, "POST", "/after-partial-%d" % i, E.HOST_A, body=b"x" * 10,
                           timeout=5)
                ok = r.status == 200 and r.body == b"/after-partial-%d" % i
                detail = (r.status, r.body[:60])
            except Exception as e:  # noqa: BLE001
                ok, detail = False, repr(e)
            c.check(ok, "client aborted mid-upload %d: next request framed correctly upstream" % i, detail)
        c.check(edge.alive(), "edge alive after client aborts")


def idle_close():
    with E.ScriptBackend(idle_close_script, "idleclose") as be:
        cfg = E.edge_config({E.HOST_A: [E.target(be)]}, upstream={"eject_after": 1000})
        with E.Edge(cfg, workers=1) as edge:
            res = []
            for i in range(12):
                method = "GET" if i % 2 == 0 else "POST"
                body = None if method == "GET" else b"data-%d" % i
                try:
                    r = E.http(edge.port, method, "/idle-%d" % i, E.HOST_A, body=body, timeout=5)
                    res.append((method, r.status, r.body == b"/idle-%d" % i))
                except Exception as e:  # noqa: BLE001
                    res.append((method, repr(e)))
                time.sleep(0.35)  # longer than the backend's 200 ms idle timeout
            bad = [x for x in res if x[1:] != (200, True)]
            c.check(not bad, "backend closing idle keep-alive connections: no failed GET or POST", bad)


def main():
    E.require_edge()
    with E.ScriptBackend(script, "scripted") as be:
        c.section("misbehaving responses", cases, be)
        c.section("client aborts", client_aborts, be)
    c.section("idle upstream close", idle_close)
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
