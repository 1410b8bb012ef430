#!/usr/bin/python3
"""websocket_echo: a browser-style WebSocket through the edge.

GET + Connection: Upgrade + Upgrade: websocket is forwarded with its upgrade headers, the
backend's 101 comes back with a valid Sec-WebSocket-Accept, and from then on bytes are
relayed raw both ways: text, binary, fragmented, 1 MiB, ping/pong, close. Also several
concurrent sockets, a real client library (Debian's python3-websockets) and an Upgrade
to an unknown host (404, no backend contacted).
"""
import asyncio
import os
import sys

import edgetest as E

c = E.Checker("websocket_echo")


def echo_session(edge, be):
    cl, r = E.ws_connect(edge.port, E.HOST_A)
    with cl:
        if not c.check(r.status == 101, "upgrade answered 101", r):
            return
        c.check(r.header("sec-websocket-accept") == r.expected_accept, "Sec-WebSocket-Accept valid",
                r.headers)
        c.check((r.header("upgrade") or "").lower() == "websocket", "101 carries Upgrade: websocket",
                r.headers)
        with be.lock:
            ws_reqs = [q for q in be.requests if q.path == "/ws"]
        if ws_reqs:
            q = ws_reqs[-1]
            c.check((q.header("upgrade") or "").lower() == "websocket"
                    and "upgrade" in (q.header("connection") or "").lower(),
                    "backend got Upgrade: websocket + Connection: upgrade",
                    q.headers)
            c.check(q.header("sec-websocket-key") is not None, "backend got Sec-WebSocket-Key", q.headers)
        msgs = [(1, b"hello"), (2, bytes(range(256))), (1, "h\u00e9llo \u2603".encode()),
                (2, b""), (1, b"x" * 125), (1, b"y" * 126), (2, b"z" * 65535), (2, b"w" * 65536),
                (2, os.urandom(1 << 20)), (1, b"after big")]
        for op, payload in msgs:
            E.ws_send(cl, op, payload)
            got = E.ws_recv(cl, timeout=15)
            c.check(got == (op, payload), "echo %s of %d bytes" % ("text" if op == 1 else "binary",
                                                                    len(payload)),
                    None if got is None else (got[0], len(got[1])))
        # several messages in flight before reading
        batch = [os.urandom(1000 + i) for i in range(20)]
        cl.send(b"".join(E.ws_frame(2, m) for m in batch))
        back = [E.ws_recv(cl) for _ in batch]
        c.check(back == [(2, m) for m in batch], "20 pipelined messages echoed in order",
                [len(b[1]) if b else None for b in back][:5])
        # fragmented message
        cl.send(E.ws_frame(1, b"frag-", fin=False) + E.ws_frame(0, b"ment", fin=True))
        got = E.ws_recv(cl)
        c.check(got == (1, b"frag-ment"), "fragmented message echoed", got)
        E.ws_send(cl, 9, b"ping!")
        got = E.ws_recv(cl)
        c.check(got == (10, b"ping!"), "ping -> pong", got)
        E.ws_send(cl, 8, b"\x03\xe8")
        got = E.ws_recv(cl)
        c.check(got is not None and got[0] == 8, "close echoed", got)
        c.check(cl.closed_by_peer(3.0), "connection closed after close handshake")


def concurrent(edge):
    socks = []
    try:
        for i in range(8):
            cl, r = E.ws_connect(edge.port, E.HOST_A)
            socks.append(cl)
            if r.status != 101:
                c.check(False, "concurrent upgrade %d" % i, r)
                return
        for i, cl in enumerate(socks):
            E.ws_send(cl, 1, b"sock %d" % i)
        got = [E.ws_recv(cl) for cl in socks]
        c.check(got == [(1, b"sock %d" % i) for i in range(8)], "8 concurrent sockets echo", got)
    finally:
        for cl in socks:
            cl.close()


def library_client(edge):
    import websockets

    async def run():
        # the URI names the routed host (sent as Host); host/port say where to connect
        uri = "ws://%s:%d/ws" % (E.HOST_A, edge.port)
        async with websockets.connect(uri, host="127.0.0.1", port=edge.port, max_size=4 << 20,
                                      open_timeout=5, close_timeout=5) as ws:
            out = []
            for m in ["one", b"two", "x" * 100000]:
                await ws.send(m)
                out.append(await asyncio.wait_for(ws.recv(), 5) == m)
            return out

    try:
        res = asyncio.run(asyncio.wait_for(run(), 20))
    except Exception as e:  # noqa: BLE001
        res = repr(e)
    c.check(res == [True, True, True], "python3-websockets client echo through the edge", res)


def unknown_host(edge, be):
    before = be.stats()
    cl, r = E.ws_connect(edge.port, "nope.hostess.localhost")
    cl.close()
    c.check(r.status == 404, "upgrade to unknown host -> 404", r)
    c.check(be.stats() == before, "no backend contacted for unknown host", (before, be.stats()))


def early_data(edge):
    """Bytes right after the upgrade request (client frame in the same packet) and right
    after the 101 (server frame in the same packet) must be relayed, not lost."""
    cl = E.Client(edge.port)
    with cl:
        key = E.ws_key()
        req = E.build_request("GET", "/ws?hello=1", E.HOST_A,
                              [("Connection", "Upgrade"), ("Upgrade", "websocket"),
                               ("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Key", key)])
        cl.send(req + E.ws_frame(1, b"early-client-frame"))
        r = cl.read_response("GET")
        if not c.check(r.status == 101, "upgrade with early client data -> 101", r):
            return
        try:
            got1 = E.ws_recv(cl, timeout=3)
        except OSError as e:
            got1 = "nothing within 3 s (%r)" % e
        c.check(got1 == (1, b"hello-from-server"), "server frame sent with the 101 relayed", got1)
        try:
            got2 = E.ws_recv(cl, timeout=3)
        except OSError as e:
            got2 = "nothing within 3 s (%r)" % e
        c.check(got2 == (1, b"early-client-frame"),
                "client frame sent in the same packet as the upgrade request relayed", got2)


def refused_upgrade(edge):
    """The backend answers the upgrade with a normal 403: the client gets it and the
    connection stays plain HTTP."""
    cl, r = E.ws_connect(edge.port, E.HOST_A, path="/ws?refuse=1")
    with cl:
        c.check(r.status == 403 and r.body == b"no websocket for you\n", "refused upgrade -> 403 relayed", r)
        if not cl.reader.eof:
            r2 = cl.request("GET", "/echo", E.HOST_A)
            c.check(r2.status == 200 and r2.body.startswith(b"{"),
                    "connection still HTTP after a refused upgrade (or closed)", r2)


def main():
    E.require_edge()
    with E.Backend("a") as be:
        with E.Edge(E.edge_config({E.HOST_A: [E.target(be)]})) as edge:
            c.section("echo session", echo_session, edge, be)
            c.section("concurrent sockets", concurrent, edge)
            c.section("python3-websockets client", library_client, edge)
            c.section("unknown host", unknown_host, edge, be)
            c.section("early data around the 101", early_data, edge)
            c.section("refused upgrade", refused_upgrade, edge)
            c.check(edge.alive(), "edge still running")
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
