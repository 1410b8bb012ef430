#!/usr/bin/python3
"""h2_conformance: HTTP/2 towards clients (prior-knowledge h2c) as a proxy must speak it.

python3-h2 (and raw frames where it refuses to misbehave) against the edge with HTTP/1.1
backends: SETTINGS, stream states, flow control both ways, header validation (RFC 9113
§8.2/8.3), :authority vs host, CONTINUATION, GOAWAY, trailers, RFC 8441 WebSocket,
edge answers (400/404/431/502), HEAD, one access-log line per stream.
"""
import json
import os
import sys

import edgetest as E
import h2test as H

c = E.Checker("h2_conformance")


def echo(st):
    try:
        return json.loads(bytes(st.data))
    except ValueError:
        return {}


def hdr(doc, name):
    for k, v in doc.get("headers", []):
        if k.lower() == name:
            return v
    return None


def settings_and_basics(edge, be):
    with H.H2Client(edge.port) as cl:
        st = cl.get("/echo?x=1")
        rs = cl.remote_settings
        c.check(rs.get(3) == 100, "SETTINGS_MAX_CONCURRENT_STREAMS is 100", rs)
        c.check(rs.get(8) == 1, "SETTINGS_ENABLE_CONNECT_PROTOCOL is 1 (RFC 8441)", rs)
        c.check(rs.get(6) == 32768, "SETTINGS_MAX_HEADER_LIST_SIZE is limits.header_bytes", rs)
        c.check(st.status == 200, "GET over h2c answers 200", st)
        d = echo(st)
        c.check(d.get("version") == "HTTP/1.1" and d.get("target") == "/echo?x=1",
                "upstream gets an HTTP/1.1 request with the :path", d.get("target"))
        c.check(hdr(d, "host") == E.HOST_A, ":authority is forwarded as Host", hdr(d, "host"))
        c.check(hdr(d, "x-forwarded-for") == "127.0.0.1" and
                hdr(d, "x-forwarded-proto") == "http" and
                hdr(d, "x-forwarded-host") == E.HOST_A,
                "X-Forwarded-* set like HTTP/1.1", d.get("headers"))
        rid = st.header("x-request-id")
        c.check(rid is not None and hdr(d, "x-request-id") == rid,
                "X-Request-Id generated, sent upstream and returned", (rid, hdr(d, "x-request-id")))
        c.check(all(k == k.lower() for k, _ in st.headers), "response header names lower-case",
                st.headers)
        c.check(st.header("connection") is None and st.header("keep-alive") is None,
                "no connection-specific response fields", st.headers)
        # many streams at once on one connection
        sids = [cl.request("/echo?i=%d" % i) for i in range(60)]
        res = cl.wait(sids, 20)
        c.check(all(s.status == 200 for s in res) and
                [echo(s).get("target") for s in res] == ["/echo?i=%d" % i for i in range(60)],
                "60 concurrent streams on one connection all answered, each its own",
                [s for s in res if s.status != 200][:3])
        # A request id is new in every response: sent never indexed (RFC 7541 §6.2.3), so
        # it neither fills the client's HPACK table nor costs the edge a table insertion.
        from hpack import NeverIndexedHeaderTuple
        rids = [h for s in res for h in s.headers if h[0] == "x-request-id"]
        c.check(len(rids) == 60 and all(isinstance(h, NeverIndexedHeaderTuple) for h in rids),
                "x-request-id sent as a never-indexed literal", rids[:2])
        table = [n for n, _ in cl.conn.decoder.header_table.dynamic_entries]
        c.check(b"x-request-id" not in table and "x-request-id" not in table,
                "no request id in the client's HPACK dynamic table", table[:5])
        # client X-Request-Id kept, client X-Forwarded-For dropped (untrusted peer)
        st = cl.get("/echo", headers=[("x-request-id", "abc-123"),
                                       ("x-forwarded-for", "6.6.6.6"), ("cookie", "a=1"),
                                       ("cookie", "b=2")])
        d = echo(st)
        c.check(hdr(d, "x-request-id") == "abc-123" and hdr(d, "x-forwarded-for") == "127.0.0.1",
                "client X-Request-Id kept, untrusted X-Forwarded-For replaced", d.get("headers"))
        c.check(hdr(d, "cookie") == "a=1; b=2", "cookie fields joined with '; ' (§8.2.3)",
                hdr(d, "cookie"))
        st = cl.get("/echo", method="HEAD")
        c.check(st.status == 200 and len(st.data) == 0 and st.header("content-length"),
                "HEAD: no body, content-length kept", st)


def authority(edge, be, be_b):
    with H.H2Client(edge.port, validate=False) as cl:
        st = cl.get("/echo", host=E.HOST_A, headers=[("host", E.HOST_B)])
        d = echo(st)
        c.check(st.status == 200 and d.get("backend") == "a" and hdr(d, "host") == E.HOST_A,
                ":authority routes and wins over a conflicting host", (st.status, d.get("backend"),
                                                                      hdr(d, "host")))
        st = cl.get("/echo", host=E.HOST_B, authority=False, headers=[("host", E.HOST_B)])
        c.check(st.status == 200 and echo(st).get("backend") == "b",
                "without :authority the host field routes", st)
        st = cl.get("/echo", host="nope.hostess.localhost")
        c.check(st.status == 404, "unknown :authority gets the edge's 404", st)
        st = cl.get("/echo", authority=False)
        c.check(st.status == 400 or st.reset == H.PROTOCOL_ERROR,
                "no :authority and no host: refused (400 or PROTOCOL_ERROR)", st)
        st = cl.get("/echo")
        c.check(st.status == 200 and not cl.closed, "the connection carries on after 4xx", st)


def bodies(edge, be):
    with H.H2Client(edge.port) as cl:
        body = bytes(i % 251 for i in range(300000))
        import hashlib
        sha = hashlib.sha256(body).hexdigest()
        sid = cl.request("/upload", method="POST", headers=[("content-length", str(len(body)))],
                         body=body)
        st = cl.wait([sid], 30)[0]
        d = echo(st)
        c.check(st.status == 200 and d.get("len") == len(body) and d.get("sha256") == sha,
                "POST with content-length: 300 KB through 16 KiB windows, intact", d)
        sid = cl.request("/upload", method="POST", body=body)
        st = cl.wait([sid], 30)[0]
        d = echo(st)
        c.check(st.status == 200 and d.get("len") == len(body) and d.get("sha256") == sha,
                "POST without content-length goes upstream chunked, intact", d)
        sid = cl.request("/echo", method="POST", body=b"")
        st = cl.wait([sid], 10)[0]
        d = echo(st)
        c.check(st.status == 200 and d.get("body_len") == 0, "POST with an empty body", d)
    # a client with a tiny window: the edge must respect it
    with H.H2Client(edge.port, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1000}) as cl:
        st = cl.get("/bytes?n=200000", timeout=30)
        c.check(st.status == 200 and bytes(st.data) == (E.PATTERN * 4)[:200000],
                "download through a 1000-byte client window, intact", (st.status, len(st.data)))
        frames_ok = all(n <= 1000 for kind, *rest in st.events if kind == "data"
                        for n in rest)
        c.check(frames_ok, "no DATA frame larger than the client's window",
                [e for e in st.events if e[0] == "data" and e[1] > 1000][:3])
    with H.H2Client(edge.port) as cl:
        st = cl.get("/bytes?n=1000000&mode=chunked", timeout=30)
        c.check(st.status == 200 and len(st.data) == 1000000 and
                st.header("content-length") is None,
                "chunked upstream body arrives as DATA without framing", (st.status, len(st.data)))
        st = cl.get("/sse?n=3&interval_ms=50", timeout=30)
        ev = bytes(st.data).count(b"data: ")
        c.check(st.status == 200 and ev == 3, "SSE over h2: 3 events", st)


import h2.settings  # noqa: E402 (used above)


def connection_window(edge, be):
    """Request bodies the edge received but never forwarded (here: 404) go back to the
    connection's receive window: 80 x 16 KiB (more than its 1 MiB) then a real upload."""
    import time
    with H.H2Client(edge.port) as cl:
        piece = b"x" * 16384
        answered = 0
        for i in range(80):
            sid = cl.request("/upload", host="nohost.hostess.localhost", method="POST",
                             end=False)
            cl.send_body(sid, piece, end=False, deadline=time.monotonic() + 10)
            st = cl.wait([sid], 10)[0]
            answered += st.status == 404
        c.check(answered == 80 and not cl.closed,
                "80 uploads answered early (404) without their END_STREAM", answered)
        body = bytes(i % 251 for i in range(100000))
        sid = cl.request("/upload", method="POST", end=False)
        cl.send_body(sid, body, deadline=time.monotonic() + 10)
        st = cl.wait([sid], 10)[0]
        d = echo(st)
        c.check(st.status == 200 and d.get("len") == len(body),
                "then an upload on the same connection is not starved of window (RFC 9113 "
                "§6.9: unforwarded DATA is given back)",
                (st.status, d.get("len"), cl.conn.outbound_flow_control_window))


def header_validation(edge, be):
    cases = [
        ("connection-specific field", [("connection", "keep-alive")]),
        ("transfer-encoding", [("transfer-encoding", "chunked")]),
        ("te other than trailers", [("te", "gzip")]),
        ("upper-case field name", [("X-Upper", "1")]),
        ("keep-alive field", [("keep-alive", "1")]),
        ("upgrade field", [("upgrade", "websocket")]),
        ("proxy-connection field", [("proxy-connection", "x")]),
        ("space in a field name", [("bad name", "1")]),
    ]
    for name, extra in cases:
        with H.RawH2(edge.port) as r:
            sid = r.get(extra=extra)
            r.read(lambda s: sid in s.resets or sid in s.status or s.goaway, 5)
            c.check(r.resets.get(sid) == H.PROTOCOL_ERROR,
                    "%s: RST_STREAM PROTOCOL_ERROR" % name, (r.resets, r.status, r.goaway))
            ok = r.get()
            r.read(lambda s: ok in s.status, 5)
            c.check(r.status.get(ok) == 200, "%s: the connection stays usable" % name, r.status)
    with H.RawH2(edge.port) as r:
        sid = r.get(extra=[("te", "trailers")])
        r.read(lambda s: sid in s.status or sid in s.resets, 5)
        c.check(r.status.get(sid) == 200, "te: trailers is allowed", (r.status, r.resets))
    pseudo = [
        ("missing :path", [(":method", "GET"), (":scheme", "http"), (":authority", E.HOST_A)]),
        ("missing :method", [(":scheme", "http"), (":authority", E.HOST_A), (":path", "/")]),
        ("duplicate :method", H.req_fields() + [(":method", "GET")]),
        ("pseudo-header after a regular one",
         [(":method", "GET"), (":scheme", "http"), ("x-a", "1"), (":authority", E.HOST_A),
          (":path", "/")]),
        ("unknown pseudo-header", H.req_fields() + [(":foo", "bar")]),
        ("response pseudo-header in a request", H.req_fields() + [(":status", "200")]),
        ("empty :path", [(":method", "GET"), (":scheme", "http"), (":authority", E.HOST_A),
                         (":path", "")]),
        ("CONNECT with :path and :scheme (no :protocol)",
         [(":method", "CONNECT"), (":scheme", "http"), (":authority", E.HOST_A),
          (":path", "/")]),
        ("content-length differs from the DATA", None),
    ]
    for name, fields in pseudo:
        with H.RawH2(edge.port) as r:
            sid = r.sid()
            if fields is None:
                r.send(r.headers(sid, H.req_fields("/upload", method="POST",
                                                   extra=[("content-length", "10")]),
                                 end_stream=False) +
                       H.frame(H.DATA, H.END_STREAM, sid, b"12345"))
            else:
                r.send(r.headers(sid, fields))
            r.read(lambda s: sid in s.resets or sid in s.status or s.goaway, 5)
            c.check(r.resets.get(sid) == H.PROTOCOL_ERROR or
                    (r.goaway is not None and r.goaway[1] == H.PROTOCOL_ERROR),
                    "%s: rejected with PROTOCOL_ERROR" % name, (r.resets, r.status, r.goaway))
    with H.RawH2(edge.port) as r:
        sid = r.sid()
        r.send(r.headers(sid, [(":method", "CONNECT"), (":authority", "example.com:443")]))
        r.read(lambda s: sid in s.status or sid in s.resets, 5)
        c.check(r.status.get(sid) == 400, "plain CONNECT (forward proxy) gets 400",
                (r.status, r.resets))
        sid = r.sid()
        r.send(r.headers(sid, H.req_fields("/a b")))
        r.read(lambda s: sid in s.status or sid in s.resets, 5)
        c.check(r.status.get(sid) == 400 or r.resets.get(sid) == H.PROTOCOL_ERROR,
                "a :path that is no HTTP/1.1 request-target is refused", (r.status, r.resets))
    # header block over limits.header_bytes: 431, the connection lives on
    with H.H2Client(edge.port) as cl:
        st = cl.get("/echo", headers=[("x-big", "v" * 40000)])
        c.check(st.status == 431, "header block over the limit: 431", st)
        st = cl.get("/echo")
        c.check(st.status == 200 and cl.goaway is None, "the connection survives a 431", st)


def stream_states(edge, be):
    with H.RawH2(edge.port) as r:
        sid = r.get()
        r.read(lambda s: sid in s.ended, 5)
        r.send(H.frame(H.DATA, 0, sid, b"late"))
        r.read(lambda s: sid in s.resets or s.goaway, 3)
        c.check(r.resets.get(sid) == H.STREAM_CLOSED or
                (r.goaway and r.goaway[1] == H.STREAM_CLOSED),
                "DATA on a closed stream: STREAM_CLOSED", (r.resets, r.goaway))
    with H.RawH2(edge.port) as r:
        r.send(r.headers(2, H.req_fields()))
        c.check(r.wait_goaway(5) is not None and r.goaway[1] == H.PROTOCOL_ERROR,
                "HEADERS on an even (server) stream id: GOAWAY PROTOCOL_ERROR", r.goaway)
    with H.RawH2(edge.port) as r:
        r.send(r.headers(5, H.req_fields()))
        r.read(lambda s: 5 in s.ended, 5)
        r.send(r.headers(3, H.req_fields()))
        c.check(r.wait_goaway(5) is not None and r.goaway[1] == H.PROTOCOL_ERROR,
                "a stream id lower than one used: GOAWAY PROTOCOL_ERROR", r.goaway)
    with H.RawH2(edge.port) as r:
        sid = r.sid()
        r.send(r.headers(sid, H.req_fields("/slow?ms=300")))
        r.send(H.frame(H.RST_STREAM, 0, sid, (H.CANCEL).to_bytes(4, "big")))
        ok = r.get()
        r.read(lambda s: ok in s.status, 5)
        c.check(r.status.get(ok) == 200 and sid not in r.status,
                "a client RST_STREAM cancels that stream only", (r.status, r.resets))
    with H.RawH2(edge.port) as r:
        # Trailers in flight when the edge reset the stream are ignored (RFC 9113 §5.4.2,
        # §6.4), also once the edge forgot the stream (150 streams later).
        r.send(H.frame(H.WINDOW_UPDATE, 0, 0, (1 << 30).to_bytes(4, "big")))  # 150 answers
        sid = r.sid()
        r.send(r.headers(sid, H.req_fields("/x", "nohost.hostess.localhost", "POST"),
                         end_stream=False))
        r.read(lambda s: sid in s.resets, 5)
        last = None
        for i in range(150):
            last = r.get()
            if i % 50 == 49:
                r.read(lambda s: last in s.ended, 10)
        r.read(lambda s: last in s.ended, 10)
        r.send(H.frame(H.HEADERS, H.END_STREAM | H.END_HEADERS, sid,
                       H.hp_block([("x-trailer", "1")])))
        nxt = r.get()
        r.read(lambda s: nxt in s.ended or s.goaway is not None, 5)
        c.check(r.resets.get(sid) is not None and r.goaway is None and nxt in r.ended,
                "trailers on a stream the edge reset: ignored, the connection carries on",
                (r.resets.get(sid), r.goaway))
        # ... but a stream id the client skipped is not one it may open later (§5.1.1)
        skipped = r.sid()
        r.get()
        r.send(r.headers(skipped, H.req_fields()))
        c.check(r.wait_goaway(5) is not None and r.goaway[1] == H.PROTOCOL_ERROR,
                "a skipped (lower) stream id after others: GOAWAY PROTOCOL_ERROR", r.goaway)
    with H.RawH2(edge.port) as r:
        r.send(H.frame(H.WINDOW_UPDATE, 0, 0, (0).to_bytes(4, "big")))
        c.check(r.wait_goaway(5) is not None and r.goaway[1] == H.PROTOCOL_ERROR,
                "WINDOW_UPDATE 0 on the connection: GOAWAY PROTOCOL_ERROR", r.goaway)
    with H.RawH2(edge.port) as r:
        r.send(H.frame(H.SETTINGS, 0, 0, (4).to_bytes(2, "big") + (1 << 31).to_bytes(4, "big")))
        c.check(r.wait_goaway(5) is not None and r.goaway[1] == H.FLOW_CONTROL_ERROR,
                "SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1: GOAWAY FLOW_CONTROL_ERROR", r.goaway)
    with H.RawH2(edge.port) as r:
        r.send(H.frame(H.PING, 0, 0, b"12345678"))
        r.read(lambda s: any(f[0] == H.PING and f[1] & H.ACK for f in s.frames), 5)
        c.check(any(f[0] == H.PING and f[1] & H.ACK and f[3] == b"12345678" for f in r.frames),
                "PING is answered with the same payload", r.frames[-3:])


def continuation(edge, be):
    with H.RawH2(edge.port) as r:
        sid = r.sid()
        block = H.hp_block(H.req_fields(extra=[("x-a", "1" * 100), ("x-b", "2" * 100)]))
        a, b2, c3 = block[:50], block[50:150], block[150:]
        r.send(H.frame(H.HEADERS, H.END_STREAM, sid, a) + H.frame(H.CONTINUATION, 0, sid, b2) +
               H.frame(H.CONTINUATION, H.END_HEADERS, sid, c3))
        r.read(lambda s: sid in s.status, 5)
        c.check(r.status.get(sid) == 200, "HEADERS + 2 CONTINUATION frames: one request", r.status)
    with H.RawH2(edge.port) as r:
        sid = r.sid()
        block = H.hp_block(H.req_fields())
        r.send(H.frame(H.HEADERS, H.END_STREAM, sid, block[:10]) +
               H.frame(H.PING, 0, 0, b"abcdefgh") +
               H.frame(H.CONTINUATION, H.END_HEADERS, sid, block[10:]))
        c.check(r.wait_goaway(5) is not None and r.goaway[1] == H.PROTOCOL_ERROR,
                "a frame inside a header block: GOAWAY PROTOCOL_ERROR", r.goaway)


def goaway(edge, be):
    with H.RawH2(edge.port) as r:
        sid = r.sid()
        r.send(r.headers(sid, H.req_fields("/slow?ms=300")))
        r.send(H.frame(H.GOAWAY, 0, 0, (0).to_bytes(4, "big") + (0).to_bytes(4, "big")))
        r.read(lambda s: sid in s.ended, 10)
        c.check(r.status.get(sid) == 200 and sid in r.ended,
                "after the client's GOAWAY, open streams finish", (r.status, r.resets))
        c.check(r.wait_closed(5), "then the edge closes the connection", r.closed)


def trailers_and_heads(edge, sb):
    with H.H2Client(edge.port) as cl:
        st = cl.get("/trailers", host=E.HOST_B)
        c.check(st.status == 200 and bytes(st.data) == b"hello world",
                "chunked upstream body with trailers: body", st)
        c.check(st.trailers is not None and ("x-checksum", "abc") in st.trailers and
                ("x-mixed", "Yes") in st.trailers,
                "upstream trailers passed as a trailer HEADERS frame, names lower-cased",
                st.trailers)
        st = cl.get("/heads", host=E.HOST_B)
        names = [k for k, _ in st.headers]
        c.check(st.status == 200 and "x-mixed-case" in names and "connection" not in names and
                "keep-alive" not in names and "transfer-encoding" not in names,
                "response: names lower-cased, hop-by-hop dropped", st.headers)


def websocket(edge, be):
    with H.H2Client(edge.port) as cl:
        sid = cl.conn.get_next_available_stream_id()
        cl.streams[sid] = H.Stream(sid)
        cl.conn.send_headers(sid, [(":method", "CONNECT"), (":protocol", "websocket"),
                                   (":scheme", "http"), (":path", "/ws"),
                                   (":authority", E.HOST_A), ("sec-websocket-version", "13")])
        cl.flush()
        import time
        cl.pump(time.monotonic() + 5, lambda: cl.streams[sid].status is not None or
                cl.streams[sid].done())
        st = cl.streams[sid]
        c.check(st.status == 200 and st.header("sec-websocket-accept") is None,
                "extended CONNECT :protocol websocket: 200 (RFC 8441)", st)
        cl.conn.send_data(sid, E.ws_frame(1, b"hello over h2"))
        cl.flush()
        cl.pump(time.monotonic() + 5, lambda: len(st.data) >= 15 or st.done())
        c.check(bytes(st.data[:2]) == b"\x81\x0d" and bytes(st.data[2:15]) == b"hello over h2",
                "WebSocket frames relayed both ways over the stream", bytes(st.data))
        cl.conn.send_data(sid, E.ws_frame(8, b"\x03\xe8"))
        cl.flush()
        cl.pump(time.monotonic() + 5, lambda: st.done())
        c.check(st.done(), "the tunnel ends when the upstream closes", st)
        st2 = cl.get("/echo")
        c.check(st2.status == 200, "the connection carries on", st2)


def errors(edge):
    with H.H2Client(edge.port) as cl:
        st = cl.get("/echo", host="down.hostess.localhost")
        c.check(st.status == 502 and b"502" in bytes(st.data), "upstream unreachable: 502", st)


def script(backend, conn, sock, cid):
    while True:
        req = E.read_request(conn)
        for _ in E.body_pieces(conn, req):
            pass
        if req.path == "/trailers":
            sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
                         b"5\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\nX-Mixed: Yes\r\n\r\n")
        else:
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Mixed-Case: 1\r\n"
                         b"Keep-Alive: timeout=5\r\nConnection: keep-alive\r\n\r\nok")


def drain(edge):
    import threading
    with H.RawH2(edge.port) as r:
        sid = r.get("/slow?ms=1000")
        r.read(lambda s: any(f[0] == H.SETTINGS and f[1] & H.ACK for f in s.frames), 5)
        rc = {}
        t = threading.Thread(target=lambda: rc.setdefault("rc", edge.stop()), daemon=True)
        t.start()
        r.read(lambda s: sid in s.ended, 15)
        c.check(r.goaway is not None and r.goaway[1] == H.NO_ERROR and r.goaway[0] >= sid,
                "SIGTERM: GOAWAY NO_ERROR covering the open stream", r.goaway)
        c.check(r.status.get(sid) == 200 and sid in r.ended, "SIGTERM: the open stream finishes",
                r.status)
        c.check(r.wait_closed(10), "SIGTERM: then the connection closes", r.closed)
        t.join(40)
        c.check(rc.get("rc") == 0, "the edge exits 0 after draining h2 connections", rc)


def main():
    E.require_edge()
    with E.Backend("a") as be, E.Backend("b") as be_b, E.ScriptBackend(script) as sb:
        tmp = E.TempDir()
        access = os.path.join(tmp.path, "access.log")
        with E.refused_port() as dead:
            routes = {E.HOST_A: [E.target(be)], E.HOST_B: [E.target(be_b)],
                      "down.hostess.localhost": ["127.0.0.1:%d" % dead]}
            with E.Edge(E.edge_config(routes, access=access)) as edge:
                c.section("settings and basics", settings_and_basics, edge, be)
                c.section(":authority", authority, edge, be, be_b)
                c.section("bodies and flow control", bodies, edge, be)
                c.section("connection window", connection_window, edge, be)
                c.section("header validation", header_validation, edge, be)
                c.section("stream states", stream_states, edge, be)
                c.section("CONTINUATION", continuation, edge, be)
                c.section("GOAWAY", goaway, edge, be)
                c.section("websocket (RFC 8441)", websocket, edge, be)
                c.section("errors", errors, edge)
                lines = edge.wait_access(lambda e: e.get("path") == "/echo?i=59", 3)
                c.check(lines is not None and lines.get("status") == 200,
                        "each stream gets its own access-log line", lines)
                c.check(edge.alive(), "edge still running")
        with E.Edge(E.edge_config({E.HOST_B: [E.target(sb)]})) as edge:
            c.section("trailers and response heads", trailers_and_heads, edge, sb)
            c.check(edge.alive(), "edge still running (script backend)")
        with E.Edge(E.edge_config({E.HOST_A: [E.target(be)]})) as edge:
            c.section("drain (SIGTERM)", drain, edge)
        tmp.cleanup()
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
