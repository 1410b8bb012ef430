#!/usr/bin/python3
"""h2_abuse: hostile HTTP/2 clients get GOAWAY; everybody else keeps getting 200s.

Each abuse runs on its own connection while a well-behaved client (h2test.Witness) GETs
on another; the scenario asserts the edge's answer to the abuser (GOAWAY with
ENHANCE_YOUR_CALM, or the protocol's own error) and that the witness saw only 200s.
Counts, never timing: every flood is bounded and every wait has a deadline.

  Rapid Reset (CVE-2023-44487)      HEADERS + RST_STREAM, 500 times
  MadeYouReset (CVE-2025-8671)      streams the server must reset itself (WINDOW_UPDATE 0,
                                    DATA after END_STREAM), 500 times
  CONTINUATION flood (CVE-2024-28182) one header block in endless CONTINUATION frames
  HPACK bomb                        a 4 KiB dynamic-table entry referenced 100 times
  oversized header block            431 for that stream, the connection lives on
  PING / SETTINGS / empty DATA / PRIORITY floods
  more than 100 concurrent streams  the 101st is refused, the first 100 are served
  a header block that never ends    GOAWAY after timeouts.header
"""
import sys
import time

import edgetest as E
import h2test as H

c = E.Checker("h2_abuse")
CALM = H.ENHANCE_YOUR_CALM


def goaway_calm(r, name):
    r.wait_goaway(10)
    c.check(r.goaway is not None and r.goaway[1] == CALM,
            "%s: GOAWAY ENHANCE_YOUR_CALM" % name, r.goaway)
    c.check(r.wait_closed(10), "%s: then the connection is closed" % name, r.closed)


def rapid_reset(edge):
    w = H.Witness(edge.port)
    with H.RawH2(edge.port) as r:
        for _ in range(500):
            sid = r.sid()
            if not r.send(r.headers(sid, H.req_fields("/slow?ms=2000")) +
                          H.frame(H.RST_STREAM, 0, sid, H.CANCEL.to_bytes(4, "big"))):
                break
        goaway_calm(r, "Rapid Reset")
        c.check(len(r.status) < 500, "Rapid Reset: not every stream reached an upstream",
                len(r.status))
    H.witness_ok(c, w, "Rapid Reset")


def made_you_reset(edge):
    """Streams the server resets itself for the client's error (nghttp2 answers other
    provocations, a zero WINDOW_UPDATE or DATA after END_STREAM, with a connection
    error outright): each is cheap to send and costs the server a stream."""
    w = H.Witness(edge.port)
    vectors = [
        ("WINDOW_UPDATE overflowing the stream window",
         lambda r, sid: r.headers(sid, H.req_fields("/slow?ms=2000")) +
         H.frame(H.WINDOW_UPDATE, 0, sid, (0x7FFFFFFF).to_bytes(4, "big"))),
        ("DATA beyond content-length",
         lambda r, sid: r.headers(sid, H.req_fields("/upload", method="POST",
                                                    extra=[("content-length", "1")]),
                                  end_stream=False) +
         H.frame(H.DATA, H.END_STREAM, sid, b"xx")),
        ("an invalid header field",
         lambda r, sid: r.headers(sid, H.req_fields(extra=[("connection", "close")]))),
    ]
    for name, make in vectors:
        with H.RawH2(edge.port) as r:
            sid = r.sid()
            r.send(make(r, sid))
            r.read(lambda s: sid in s.resets or s.goaway, 5)
            c.check(sid in r.resets and r.goaway is None,
                    "MadeYouReset (%s): one is a stream error" % name, (r.resets, r.goaway))
            # In batches under the concurrency limit, as an attacker would: a burst of
            # more streams than SETTINGS_MAX_CONCURRENT_STREAMS is already a connection
            # error (nghttp2 counts streams whose RST_STREAM is not yet sent).
            for batch in range(50):
                sids = [r.sid() for _ in range(20)]
                if not r.send(b"".join(make(r, x) for x in sids)):
                    break
                r.read(lambda s: all(x in s.resets for x in sids) or s.goaway, 5)
                if r.goaway is not None:
                    break
            goaway_calm(r, "MadeYouReset (%s)" % name)
    H.witness_ok(c, w, "MadeYouReset")


def continuation_flood(edge):
    w = H.Witness(edge.port)
    with H.RawH2(edge.port) as r:
        sid = r.sid()
        r.send(H.frame(H.HEADERS, H.END_STREAM, sid, H.hp_block(H.req_fields())))
        for i in range(2000):
            if not r.send(H.frame(H.CONTINUATION, 0, sid, H.hp_literal("x-c%d" % i, "v" * 50))):
                break
        r.wait_goaway(10)
        c.check(r.goaway is not None and r.goaway[1] in (H.PROTOCOL_ERROR, CALM),
                "CONTINUATION flood: GOAWAY", r.goaway)
        c.check(r.wait_closed(10), "CONTINUATION flood: connection closed", r.closed)
        c.check(sid not in r.status, "CONTINUATION flood: the request never started", r.status)
    H.witness_ok(c, w, "CONTINUATION flood")


def hpack_bomb(edge):
    w = H.Witness(edge.port)
    with H.RawH2(edge.port) as r:
        big = "b" * 4000
        # First request: put a 4000-byte value into the decoder's dynamic table (index 62).
        sid = r.sid()
        block = H.hp_block(H.req_fields()) + H.hp_literal("x-bomb", big, index=True)
        r.send(H.frame(H.HEADERS, H.END_STREAM | H.END_HEADERS, sid, block))
        r.read(lambda s: sid in s.status, 5)
        c.check(r.status.get(sid) == 200, "HPACK bomb: the priming request is fine", r.status)
        # Then 100 one-byte references to it: ~400 KB decoded from ~100 bytes.
        sid = r.sid()
        block = H.hp_block(H.req_fields()) + b"\xbe" * 100
        r.send(H.frame(H.HEADERS, H.END_STREAM | H.END_HEADERS, sid, block))
        goaway_calm(r, "HPACK bomb")
        c.check(sid not in r.status, "HPACK bomb: no request went upstream", r.status)
    with H.RawH2(edge.port) as r:
        sid = r.sid()
        block = H.hp_block(H.req_fields()) + H.hp_literal("x-bomb", "b" * 4000, index=True)
        r.send(H.frame(H.HEADERS, H.END_STREAM | H.END_HEADERS, sid, block))
        sid = r.sid()
        # 10 references: 40 KB decoded, over the 32 KiB cap but no bomb: 431, carry on.
        block = H.hp_block(H.req_fields()) + b"\xbe" * 10
        r.send(H.frame(H.HEADERS, H.END_STREAM | H.END_HEADERS, sid, block))
        r.read(lambda s: sid in s.status, 5)
        c.check(r.status.get(sid) == 431, "decoded header block over the cap: 431", r.status)
        ok = r.get()
        r.read(lambda s: ok in s.status, 5)
        c.check(r.status.get(ok) == 200 and r.goaway is None,
                "after a 431 the connection carries on", (r.status, r.goaway))
    H.witness_ok(c, w, "HPACK bomb")


def control_floods(edge):
    w = H.Witness(edge.port)
    floods = [
        ("PING flood", lambda i: H.frame(H.PING, 0, 0, i.to_bytes(8, "big"))),
        ("SETTINGS flood", lambda i: H.frame(H.SETTINGS, 0, 0, b"")),
        ("PRIORITY flood", lambda i: H.frame(H.PRIORITY, 0, 2 * i + 1,
                                             (0).to_bytes(4, "big") + b"\x10")),
    ]
    for name, make in floods:
        with H.RawH2(edge.port) as r:
            for i in range(1000):
                if not r.send(make(i)):
                    break
            goaway_calm(r, name)
    with H.RawH2(edge.port) as r:
        sid = r.sid()
        r.send(r.headers(sid, H.req_fields("/upload", method="POST"), end_stream=False))
        for i in range(1000):
            if not r.send(H.frame(H.DATA, 0, sid, b"")):
                break
        goaway_calm(r, "empty DATA flood")
    H.witness_ok(c, w, "control-frame floods")


def well_behaved_budget(edge):
    """The budgets scale with completed requests: a busy client that pings and cancels
    now and then is never cut."""
    with H.H2Client(edge.port) as cl:
        for i in range(300):
            sid = cl.request("/echo")
            if i % 3 == 0:
                cl.conn.ping(i.to_bytes(8, "big"))
            if i % 5 == 0:
                sid2 = cl.request("/slow?ms=50")
                cl.conn.reset_stream(sid2)
            cl.flush()
            st = cl.wait([sid], 10)[0]
            if st.status != 200:
                break
        c.check(st.status == 200 and cl.goaway is None,
                "300 requests with PINGs and occasional cancels: never cut", (st, cl.goaway))


def too_many_streams(edge):
    w = H.Witness(edge.port)
    for extra in (0, 1):
        with H.RawH2(edge.port) as r:
            # Wait for our SETTINGS to be acknowledged so the limit is in force.
            r.read(lambda s: any(f[0] == H.SETTINGS and f[1] & H.ACK for f in s.frames), 5)
            sids = []
            for i in range(100 + extra):
                sid = r.sid()
                sids.append(sid)
                r.send(r.headers(sid, H.req_fields("/upload", method="POST",
                                                   extra=[("content-length", "1")]),
                                 end_stream=False))
            if extra:
                # RFC 9113 §5.1.2: REFUSED_STREAM or PROTOCOL_ERROR; nghttp2 makes the
                # latter a connection error once the limit is acknowledged.
                r.read(lambda s: sids[-1] in s.resets or s.goaway, 5)
                c.check(r.resets.get(sids[-1]) in (H.REFUSED_STREAM, H.PROTOCOL_ERROR) or
                        (r.goaway is not None and r.goaway[1] == H.PROTOCOL_ERROR),
                        "stream 101 is refused", (r.resets, r.goaway))
                c.check(sids[-1] not in r.status, "stream 101 never reaches an upstream",
                        r.status.get(sids[-1]))
                continue
            for sid in sids:
                r.send(H.frame(H.DATA, H.END_STREAM, sid, b"x"))
            r.read(lambda s: all(x in s.status for x in sids), 20)
            c.check(all(r.status.get(x) == 200 for x in sids) and r.goaway is None,
                    "100 concurrent streams are served",
                    len([x for x in sids if r.status.get(x) == 200]))
    H.witness_ok(c, w, "max concurrent streams")


def busy_header_blocks(edge):
    """The header timeout bounds each header block, not the connection: a busy client
    whose every write ends inside its next HEADERS frame (TCP is a byte stream) completes
    each block at once and is never cut, however long it runs (here 2.5 x timeouts.header)."""
    with H.RawH2(edge.port) as r:
        r.read(lambda s: any(f[0] == H.SETTINGS and f[1] & H.ACK for f in s.frames), 5)
        sid = r.sid()
        pending = r.headers(sid, H.req_fields())
        done, t0 = [], time.monotonic()
        while time.monotonic() - t0 < 5.0 and r.goaway is None and not r.closed:
            nsid = r.sid()
            nxt = r.headers(nsid, H.req_fields())
            r.send(pending + nxt[:20])  # the rest of one block, the start of the next
            pending = nxt[20:]
            r.read(lambda s: sid in s.ended or s.goaway is not None, 5)
            done.append(sid in r.ended)
            sid = nsid
            time.sleep(0.05)
        c.check(r.goaway is None and not r.closed and len(done) > 10 and all(done),
                "header blocks split across writes for 5 s: each answered, no GOAWAY",
                (r.goaway, len(done), done.count(False)))


def half_open_streams(edge):
    """Requests complete from the server's point of view (content-length: 0, or all of
    their content-length sent) whose END_STREAM never comes: once answered, the edge
    resets them with NO_ERROR (RFC 9113 §8.1), so they hold no slot, buffer or connection."""
    w = H.Witness(edge.port)
    with H.RawH2(edge.port) as r:
        r.read(lambda s: any(f[0] == H.SETTINGS and f[1] & H.ACK for f in s.frames), 5)
        sids = []
        for i in range(100):
            sid = r.sid()
            sids.append(sid)
            if i % 10:
                r.send(r.headers(sid, H.req_fields(extra=[("content-length", "0")]),
                                 end_stream=False))
            else:
                r.send(r.headers(sid, H.req_fields("/upload", method="POST",
                                                   extra=[("content-length", "1")]),
                                 end_stream=False) + H.frame(H.DATA, 0, sid, b"x"))
        r.read(lambda s: all(x in s.ended for x in sids), 20)
        c.check(all(x in r.ended for x in sids), "half-open streams: 100 responses",
                len([x for x in sids if x in r.ended]))
        r.read(lambda s: all(x in s.resets for x in sids), 5)
        c.check(all(r.resets.get(x) == H.NO_ERROR for x in sids),
                "half-open streams: each reset with NO_ERROR after its response",
                [(x, r.resets.get(x)) for x in sids if r.resets.get(x) != H.NO_ERROR][:5])
        sid = r.get()
        r.read(lambda s: sid in s.ended or sid in s.resets or s.goaway is not None, 5)
        c.check(sid in r.ended and r.goaway is None,
                "half-open streams: the connection still serves a new stream",
                (r.resets.get(sid), r.goaway))
    H.witness_ok(c, w, "half-open streams")


def endless_header_block(edge):
    w = H.Witness(edge.port)
    with H.RawH2(edge.port) as r:
        sid = r.sid()
        block = H.hp_block(H.req_fields())
        r.send(H.frame(H.HEADERS, H.END_STREAM, sid, block[:10]))  # no END_HEADERS, ever
        r.wait_goaway(15)
        c.check(r.goaway is not None, "a header block that never ends: GOAWAY (timeouts.header)",
                r.goaway)
        c.check(r.wait_closed(10), "a header block that never ends: connection closed", r.closed)
    H.witness_ok(c, w, "endless header block")


def main():
    E.require_edge()
    with E.Backend("a") as be:
        cfg = E.edge_config({E.HOST_A: [E.target(be)]}, timeouts={"header": "2s"})
        with E.Edge(cfg) as edge:
            c.section("Rapid Reset", rapid_reset, edge)
            c.section("MadeYouReset", made_you_reset, edge)
            c.section("CONTINUATION flood", continuation_flood, edge)
            c.section("HPACK bomb", hpack_bomb, edge)
            c.section("control-frame floods", control_floods, edge)
            c.section("budgets scale with real work", well_behaved_budget, edge)
            c.section("max concurrent streams", too_many_streams, edge)
            c.section("endless header block", endless_header_block, edge)
            c.section("half-open streams", half_open_streams, edge)
            c.section("busy header blocks", busy_header_blocks, edge)
            c.check(edge.alive(), "edge still running")
            st = E.http(edge.port, "GET", "/echo", E.HOST_A)
            c.check(st.status == 200, "HTTP/1.1 clients unaffected", st)
            warned = edge.stderr_text().count("GOAWAY")
            c.check(warned >= 9, "each abuser is named in the error log", warned)
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
