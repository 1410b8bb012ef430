#!/usr/bin/python3
"""h2_streaming: bodies stream through HTTP/2 streams without the edge buffering them.

SSE over h2: each event arrives in its own DATA frame, before the stream ends. 1 GiB
download over h2c (curl --http2-prior-knowledge to /dev/null): complete, edge VmRSS
sampled and bounded. A client that stops reading (no WINDOW_UPDATE) a 512 MiB response:
the edge's RSS stays bounded while it stalls, and the download completes once it reads
again. A 64 MiB upload over one stream: intact, through 16 KiB windows.
"""
import hashlib
import subprocess
import sys
import time

import edgetest as E
import h2test as H
from large_bodies import RssSampler

c = E.Checker("h2_streaming")
GIB = 1 << 30
RSS_LIMIT_KIB = 64 * 1024


def sse(edge):
    with H.H2Client(edge.port) as cl:
        sid = cl.request("/sse?n=5&interval_ms=200")
        st = cl.streams[sid]
        seen = []
        deadline = time.monotonic() + 15
        while not st.done() and time.monotonic() < deadline:
            n = bytes(st.data).count(b"data: ")
            if n > len(seen):
                seen.append((n, st.ended))
            cl.pump(min(deadline, time.monotonic() + 0.05), lambda: st.done() or
                    bytes(st.data).count(b"data: ") > n)
        c.check(st.status == 200 and bytes(st.data).count(b"data: ") == 5,
                "SSE over h2: all 5 events", st)
        c.check(len([e for e in st.events if e[0] == "data"]) >= 5,
                "SSE over h2: events in separate DATA frames", st.events)
        c.check(seen and seen[0] == (1, False),
                "SSE over h2: the first event arrived alone, before the stream ended", seen)


def download(edge):
    s = RssSampler(edge.pid)
    s.start()
    p = subprocess.run([E.CURL, "-sS", "--http2-prior-knowledge", "--noproxy", "*", "-o",
                        "/dev/null", "--max-time", "200", "-w", "%{http_code} %{size_download} %{http_version}",
                        "-H", "Host: " + E.HOST_A,
                        "http://127.0.0.1:%d/bytes?n=%d" % (edge.port, GIB)],
                       capture_output=True, timeout=240)
    s.stop()
    out = p.stdout.decode().split()
    c.check(p.returncode == 0 and out == ["200", str(GIB), "2"],
            "1 GiB download over h2c complete", (p.returncode, out, p.stderr[-200:]))
    c.check(s.max_rss < RSS_LIMIT_KIB, "edge VmRSS bounded during a 1 GiB h2 download",
            "%d KiB" % s.max_rss)
    E.log("    max VmRSS during the 1 GiB h2 download: %d KiB" % s.max_rss)


def stalled_reader(edge):
    n = 512 << 20
    with H.H2Client(edge.port, auto_ack=False) as cl:
        sid = cl.request("/bytes?n=%d" % n)
        st = cl.streams[sid]
        cl.pump(time.monotonic() + 10, lambda: len(st.data) >= 60000 or st.done())
        got_before = len(st.data)
        time.sleep(2.0)  # the client does not open its window: the edge must not buffer
        rss = E.rss_kib(edge.pid)["VmRSS"]
        c.check(rss < RSS_LIMIT_KIB, "edge RSS while an h2 client stalls a 512 MiB download",
                "%d KiB" % rss)
        c.check(got_before <= 65535, "the edge respected the client's window",
                got_before)
        # Read again: acknowledge as we go.
        cl.auto_ack = True
        cl.conn.acknowledge_received_data(len(st.data), sid)
        cl.flush()
        total = [len(st.data)]
        st.data = bytearray()  # do not keep 512 MiB in the test either

        def drain():
            total[0] += len(st.data)
            st.data.clear()
            return st.done()
        deadline = time.monotonic() + 120
        while not drain() and time.monotonic() < deadline:
            cl.pump(min(deadline, time.monotonic() + 0.5), lambda: len(st.data) > (8 << 20) or
                    st.done())
        drain()
        c.check(st.ended and total[0] == n, "the stalled h2 download completes", (st, total[0]))


def upload(edge):
    body = bytes(i % 251 for i in range(1 << 20)) * 64
    sha = hashlib.sha256(body).hexdigest()
    with H.H2Client(edge.port) as cl:
        sid = cl.request("/upload", method="POST", headers=[("content-length", str(len(body)))],
                         body=body)
        st = cl.wait([sid], 120)[0]
        import json
        d = json.loads(bytes(st.data) or b"{}")
        c.check(st.status == 200 and d.get("len") == len(body) and d.get("sha256") == sha,
                "64 MiB upload over one h2 stream intact", d)


def main():
    E.require_edge()
    with E.Backend("a") as be:
        with E.Edge(E.edge_config({E.HOST_A: [E.target(be)]})) as edge:
            c.section("SSE", sse, edge)
            c.section("1 GiB download", download, edge)
            c.section("stalled reader", stalled_reader, edge)
            c.section("upload", upload, edge)
            m = E.rss_kib(edge.pid)
            c.check(m["VmHWM"] < RSS_LIMIT_KIB, "edge VmHWM < 64 MiB after all that",
                    "%d KiB" % m["VmHWM"])
            c.check(edge.alive(), "edge still running")
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
