#!/usr/bin/python3
"""swap_under_load: blue/green promotes through the control API while traffic flows.

CONTRACT §2: "Promote = blue/green swap: one atomic switch of the stable hosts ... Requests
in flight on the previous deployment finish; new requests go to the new one; no request
gets an error because of the swap. The previous deployment keeps its deployment URL while
retained." docs/control-api.md (promote, drain_ms, states, events).

- service demo/prod/web (health every 500 ms), deployments blue (sha aaaaaaa…) and green
  (sha bbbbbbb…), 2 targets each on hostess-bench-backend; both healthy; promote blue
- keep-alive: wrk -t2 -c32 -d20s on the stable host while the test promotes green/blue
  alternately 100 times -> every promote 200 with the right active/previous, a request
  right after each promote lands on the new deployment, wrk: zero socket errors, zero
  non-2xx, and the access log shows both deployments served traffic
- new connection per request: wrk -H "Connection: close" -d10s during 50 promotes -> same
- keep-alive again, 16 promotes with drain_ms 200, ~375 ms apart: every drain ends (and
  cuts what still runs on the replaced deployment) while wrk runs -> still zero errors
- drain (service demo/prod/live on edgetest Backends): two SSE streams in flight on the
  old deployment during a promote with drain_ms 3000: the one that ends before the
  deadline streams on and completes, the longer one is cut about at the deadline; the
  old deployment goes draining -> retained, and GET /v1/events shows deployment.retained
- a WebSocket through the stable host is closed by the edge about drain_ms (1000) after a
  promote, while WebSockets through deployment URLs stay open and echo
"""
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

import edgetest as E

BENCH_BIN = E.BACKEND_BIN
SHA_BLUE = "a" * 40
SHA_GREEN = "b" * 40
SHA_LBLUE = "c" * 40
SHA_LGREEN = "d" * 40
HEALTH = {"type": "http", "path": "/health", "interval_ms": 500, "timeout_ms": 1000,
          "healthy_threshold": 1, "unhealthy_threshold": 3}

c = E.Checker("swap_under_load")


# --------------------------------------------------------------------------- helpers

class BenchBackends:
    """One hostess-bench-backend process listening on n free loopback ports. It answers
    every request with "hello from PORT\\n" (GET /health: "ok")."""

    def __init__(self, n, threads=2):
        if not os.path.exists(BENCH_BIN):
            raise RuntimeError("bench backend not found: %s (HOSTESS_BACKEND_BIN)" % BENCH_BIN)
        self.ports = [E.free_port() for _ in range(n)]
        cmd = [BENCH_BIN, "--threads", str(threads)]
        for p in self.ports:
            cmd += ["--listen", "127.0.0.1:%d" % p]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        try:
            for p in self.ports:
                E.wait_port(p, 5.0, self.proc)
        except Exception:
            self.close()
            raise

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def wait_control(edge, timeout=10.0):
    """The edge listens on its data port before its control API is up and its token file
    written (Edge() only waits for the data port): wait for GET /v1/health and the token."""
    deadline = time.monotonic() + timeout
    tok = os.path.join(edge.tmp.path, "control.token")
    while time.monotonic() < deadline:
        try:
            st, _, _ = edge.api("GET", "/v1/health", token=None, timeout=2)
            if st == 200 and os.path.exists(tok) and edge.token():
                return True
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise RuntimeError("control API not ready after %.0fs" % timeout)


def svc_path(svc):
    return "/v1/services/demo/prod/" + svc


def create_service(edge, svc):
    st, _, doc = edge.api("PUT", svc_path(svc), {"ports": [{"port": 8000}], "health": HEALTH})
    c.check(st == 201, "PUT service demo/prod/%s -> 201" % svc, (st, doc))
    return doc or {}


def create_deployment(edge, svc, dep, sha, ports):
    body = {"id": dep, "sha": sha,
            "targets": [{"address": "127.0.0.1", "ports": [p]} for p in ports]}
    st, _, doc = edge.api("POST", svc_path(svc) + "/deployments", body)
    c.check(st == 201 and doc and doc.get("state") == "pending",
            "POST deployment %s/%s -> 201 pending" % (svc, dep), (st, doc))
    return doc or {}


def get_dep(edge, svc, dep):
    st, _, doc = edge.api("GET", svc_path(svc) + "/deployments/" + dep)
    return doc if st == 200 and doc else {}


def wait_healthy(edge, svc, dep, want=2, timeout=10.0):
    deadline = time.monotonic() + timeout
    d = {}
    while time.monotonic() < deadline:
        d = get_dep(edge, svc, dep)
        if d.get("healthy_targets") == want:
            return d
        time.sleep(0.1)
    return d


def wait_state(edge, svc, dep, want, timeout):
    deadline = time.monotonic() + timeout
    d = {}
    while True:
        d = get_dep(edge, svc, dep)
        if d.get("state") == want or time.monotonic() > deadline:
            return d.get("state")
        time.sleep(0.05)


def promote(edge, svc, dep, **kw):
    body = {"require_healthy": True}
    body.update(kw)
    st, _, doc = edge.api("POST", svc_path(svc) + "/deployments/%s/promote" % dep, body)
    return st, doc or {}


def hello_port(edge, host):
    """One request on a fresh connection through host; returns the bench backend port
    that answered (or a description of what went wrong)."""
    try:
        r = E.http(edge.port, "GET", "/", host, timeout=5)
    except Exception as e:  # noqa: BLE001
        return "error %r" % e
    m = re.match(rb"hello from (\d+)", r.body or b"")
    if r.status != 200 or not m:
        return "status %s body %r" % (r.status, (r.body or b"")[:80])
    return int(m.group(1))


def wrk_cmd(port, host, duration, close=False, connections=32, threads=2, timeout_s=5):
    cmd = [E.WRK, "-t", str(threads), "-c", str(connections), "-d", "%ds" % duration,
           "--timeout", "%ds" % timeout_s, "-H", "Host: " + host]
    if close:
        cmd += ["-H", "Connection: close"]
    cmd.append("http://127.0.0.1:%d/" % port)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def log_size(edge):
    try:
        return os.path.getsize(edge.access_path)
    except OSError:
        return 0


def log_counts(edge, start, ports, host):
    """Counts, in the access log from byte offset start: lines, lines for host, 200s,
    term ok, and per upstream port."""
    time.sleep(0.3)  # workers flush once per loop turn
    with open(edge.access_path, "rb") as f:
        f.seek(start)
        data = f.read()
    out = {"lines": data.count(b"\n"),
           "host": data.count(b'"host":"%s"' % host.encode()),
           "200": data.count(b'"status":200,'),
           "term_ok": data.count(b'"term":"ok"')}
    for p in ports:
        out[p] = data.count(b'"upstream":"127.0.0.1:%d"' % p)
    bad = [ln for ln in data.split(b"\n") if ln and
           (b'"status":200,' not in ln or b'"term":"ok"' not in ln)]
    out["bad_sample"] = [b.decode("utf-8", "replace") for b in bad[:3]]
    return out


def swap_loop(edge, svc, host, deps, nswaps, duration, close, figures, label, **promote_kw):
    """wrk for `duration` s (keep-alive, or Connection: close) while nswaps promotes
    alternate between the deployments; deps = {id: [ports]}, first id is active."""
    order = list(deps)
    all_ports = [p for ps in deps.values() for p in ps]
    off = log_size(edge)
    proc = wrk_cmd(edge.port, host, duration, close=close)
    bad_promotes, misrouted, lat = [], [], []
    try:
        time.sleep(0.7)
        t0 = time.monotonic()
        span = duration - 2.0  # leave the last ~1.3 s of wrk after the last promote
        for i in range(nswaps):
            due = t0 + span * i / nswaps
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            new, old = order[(i + 1) % 2], order[i % 2]
            ts = time.monotonic()
            st, doc = promote(edge, svc, new, **promote_kw)
            lat.append(time.monotonic() - ts)
            if st != 200 or doc.get("active") != new or doc.get("previous") != old:
                bad_promotes.append((i, new, st, doc))
            got = hello_port(edge, host)
            if got not in deps[new]:
                misrouted.append((i, new, got))
        w = E.wrk_finish(proc, duration)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    E.log("    " + repr(w))
    if w.rc != 0 or w.requests == 0:
        E.log("    wrk stdout: %s\n    wrk stderr: %s" % (w.out, w.err))
    cnt = log_counts(edge, off, all_ports, host)
    per_dep = {d: sum(cnt[p] for p in ps) for d, ps in deps.items()}
    E.log("    access log: %d lines, %d for the stable host, %d x 200, %d term ok, per "
          "deployment %s, per target %s" % (cnt["lines"], cnt["host"], cnt["200"],
                                            cnt["term_ok"], per_dep,
                                            {p: cnt[p] for p in all_ports}))
    E.log("    promote latency: median %.1f ms, max %.1f ms" % (
        1000 * sorted(lat)[len(lat) // 2] if lat else 0, 1000 * max(lat) if lat else 0))
    drain_ms = promote_kw.get("drain_ms")
    slow = [round(x * 1000) for x in lat if drain_ms is not None and x * 1000 >= drain_ms / 2]
    if slow:
        # The drain deadline is armed with the control loop's cached time, taken before
        # the (synchronous, fsync'd) state write: a write that takes most of drain_ms
        # leaves the replaced deployment's in-flight requests almost no drain at all.
        E.log("    %d promotes took >= drain_ms/2 (%s ms): their drains end early" % (
            len(slow), slow[:10]))
    figures[label] = {"requests": w.requests, "rps": w.rps, "non2xx": w.non2xx,
                      "socket_errors": w.socket_errors, "promotes": nswaps,
                      "bad_promotes": len(bad_promotes), "misrouted": len(misrouted),
                      "per_deployment": per_dep}

    c.check(not bad_promotes, "%s: %d promotes all 200 with the right active/previous"
            % (label, nswaps), bad_promotes[:5])
    c.check(not misrouted, "%s: a request right after each promote reaches the new "
            "deployment" % label, "%d of %d: %s" % (len(misrouted), nswaps, misrouted[:5]))
    minimum = 1000 * duration // (4 if close else 2)
    c.check(w.requests >= minimum, "%s: wrk made a non-trivial number of requests (>= %d)"
            % (label, minimum), w)
    c.check(w.total_socket_errors() == 0, "%s: zero wrk socket errors" % label,
            w.socket_errors)
    c.check(w.non2xx == 0, "%s: zero non-2xx/3xx responses" % label, w)
    c.check(cnt["host"] >= w.requests and cnt["200"] == cnt["lines"]
            and cnt["term_ok"] == cnt["lines"],
            "%s: access log: every exchange 200 and term ok" % label,
            {k: cnt[k] for k in ("lines", "host", "200", "term_ok", "bad_sample")})
    c.check(all(per_dep[d] > w.requests // 20 for d in deps),
            "%s: both deployments received traffic (access log)" % label, per_dep)
    c.check(all(cnt[p] > 0 for p in all_ports), "%s: all 4 targets received traffic" % label,
            {p: cnt[p] for p in all_ports})
    return order[nswaps % 2]


# --------------------------------------------------------------------------- part 3 helpers

def sse_stream(port, host, n, interval_ms, result, started):
    """Reads /sse?n&interval_ms through host, recording when each body piece arrives."""
    try:
        with E.Client(port, timeout=30) as cl:
            cl.send(E.build_request("GET", "/sse?n=%d&interval_ms=%d" % (n, interval_ms), host))
            pieces = []

            def sink(piece):
                pieces.append((time.monotonic(), piece))
                started.set()

            r = cl.read_response(timeout=30, sink=sink)
            result["status"] = r.status
            result["complete"] = r.complete
            result["pieces"] = pieces
            result["end"] = time.monotonic()
            result["events"] = b"".join(p for _, p in pieces).count(b"data:")
    except Exception as e:  # noqa: BLE001
        result["error"] = repr(e)
        result["end"] = time.monotonic()
    finally:
        started.set()


def backend_names(host_port, host, tries=4):
    names = set()
    for _ in range(tries):
        r = E.http(host_port, "GET", "/echo", host, timeout=5)
        names.add(json.loads(r.body).get("backend") if r.status == 200 else r.status)
    return names


def ws_echo(ws, msg):
    try:
        E.ws_send(ws, 1, msg)
        return E.ws_recv(ws, timeout=3) == (1, msg)
    except Exception:  # noqa: BLE001
        return False


def wait_ws_closed(ws, timeout):
    """Waits for the edge to end the WebSocket (EOF, reset, or a close frame then EOF).
    Returns the time it happened, or None if it stayed open."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            f = E.ws_recv(ws, timeout=max(0.01, deadline - time.monotonic()))
        except socket.timeout:
            return None
        except (ConnectionError, OSError):
            return time.monotonic()
        if f is None or f[0] == 8:
            return time.monotonic()
    return None


# --------------------------------------------------------------------------- sections

def under_load(edge, bench, figures):
    blue_ports, green_ports = bench.ports[:2], bench.ports[2:]
    svc = create_service(edge, "web")
    host = (svc.get("urls") or {}).get("external_host")
    c.check(bool(host), "service has a stable host", svc.get("urls"))
    create_deployment(edge, "web", "blue", SHA_BLUE, blue_ports)
    create_deployment(edge, "web", "green", SHA_GREEN, green_ports)
    for dep in ("blue", "green"):
        d = wait_healthy(edge, "web", dep)
        c.check(d.get("healthy_targets") == 2 and d.get("state") == "healthy",
                "%s: both targets healthy" % dep, d)
    st, doc = promote(edge, "web", "blue")
    c.check(st == 200 and doc.get("active") == "blue" and doc.get("previous") is None,
            "promote blue -> 200 active blue, previous null", (st, doc))
    got = hello_port(edge, host)
    c.check(got in blue_ports, "stable host routes to blue", got)

    deps = {"blue": blue_ports, "green": green_ports}
    E.log("== keep-alive load during 100 promotes")
    active = swap_loop(edge, "web", host, deps, 100, 20, False, figures, "keep-alive")
    E.log("== Connection: close load during 50 promotes")
    order = {active: deps[active]}
    order.update({d: p for d, p in deps.items() if d != active})
    active = swap_loop(edge, "web", host, order, 50, 10, True, figures, "conn-close")
    # Drains that end while the load runs: each replaced deployment's drain deadline
    # (200 ms) passes before the next promote (~375 ms later), so the edge cuts what still
    # runs on it through the stable host; wrk's sub-millisecond requests must never be
    # among them.
    E.log("== keep-alive load during 16 promotes with drain_ms 200")
    order = {active: deps[active]}
    order.update({d: p for d, p in deps.items() if d != active})
    active = swap_loop(edge, "web", host, order, 16, 8, False, figures, "short-drain",
                       drain_ms=200)

    st, _, doc = edge.api("GET", svc_path("web"))
    states = {d["id"]: d["state"] for d in (doc or {}).get("deployments", [])}
    other = "green" if active == "blue" else "blue"
    c.check(st == 200 and doc.get("active") == active and states.get(active) == "active"
            and states.get(other) == "retained",
            "after the swaps: %s active, %s retained (drain_ms 200 passed)" % (active, other),
            (st, states, (doc or {}).get("active")))
    c.check(edge.alive(), "edge still running after 166 promotes under load")


def drain_in_flight(edge, backends):
    lb1, lb2, lg1, lg2 = backends
    svc = create_service(edge, "live")
    host = (svc.get("urls") or {}).get("external_host")
    create_deployment(edge, "live", "live-blue", SHA_LBLUE, [lb1.port, lb2.port])
    green = create_deployment(edge, "live", "live-green", SHA_LGREEN, [lg1.port, lg2.port])
    green_host = ((green.get("urls") or {}).get("deployment_host"))
    for dep in ("live-blue", "live-green"):
        d = wait_healthy(edge, "live", dep)
        c.check(d.get("healthy_targets") == 2, "%s: both targets healthy" % dep, d)
    blue_host = (get_dep(edge, "live", "live-blue").get("urls") or {}).get("deployment_host")
    st, doc = promote(edge, "live", "live-blue")
    c.check(st == 200 and doc.get("active") == "live-blue", "promote live-blue", (st, doc))
    names = backend_names(edge.port, host)
    c.check(names <= {"lb1", "lb2"}, "stable host of live routes to live-blue", names)

    off = log_size(edge)
    events = E.EventStream(edge.control_port, edge.token())
    try:
        # --- two SSE streams in flight on live-blue during a promote with drain_ms 3000
        short, long_ = {}, {}
        ev_s, ev_l = threading.Event(), threading.Event()
        ts = threading.Thread(target=sse_stream, args=(edge.port, host, 12, 200, short, ev_s),
                              daemon=True)
        tl = threading.Thread(target=sse_stream, args=(edge.port, host, 60, 200, long_, ev_l),
                              daemon=True)
        ts.start()
        tl.start()
        ev_s.wait(5)
        ev_l.wait(5)
        time.sleep(0.3)
        t_promote = time.monotonic()
        st, doc = promote(edge, "live", "live-green", drain_ms=3000)
        c.check(st == 200 and doc.get("active") == "live-green" and
                doc.get("previous") == "live-blue",
                "promote live-green (drain_ms 3000) -> 200 active live-green, previous "
                "live-blue", (st, doc))
        state = get_dep(edge, "live", "live-blue").get("state")
        c.check(state == "draining", "live-blue is draining right after the promote", state)
        names = backend_names(edge.port, host)
        c.check(names <= {"lg1", "lg2"}, "new requests on the stable host go to live-green",
                names)

        ts.join(10)
        after = [t for t, _ in short.get("pieces", []) if t > t_promote + 0.05]
        c.check(short.get("status") == 200 and short.get("complete") and
                short.get("events") == 12,
                "SSE stream ending before the drain deadline completes (12 events)",
                {k: v for k, v in short.items() if k != "pieces"})
        c.check(len(after) >= 3 and short.get("end", 1e9) - t_promote < 3.0,
                "it kept streaming after the promote (%d pieces after it)" % len(after),
                "end %.2fs after promote" % (short.get("end", 0) - t_promote))

        time.sleep(0.2)
        with open(edge.access_path, "rb") as f:
            f.seek(off)
            lines = [json.loads(ln) for ln in f.read().splitlines() if b"/sse?n=12" in ln]
        blue_ups = {E.target(lb1), E.target(lb2)}
        c.check(len(lines) == 1 and lines[0].get("upstream") in blue_ups and
                lines[0].get("status") == 200 and lines[0].get("term") == "ok",
                "access log: the completed stream ran on live-blue and ended ok", lines)

        st_ret = wait_state(edge, "live", "live-blue", "retained", 3000 / 1000.0 + 2.5)
        t_ret = time.monotonic() - t_promote
        c.check(st_ret == "retained", "live-blue goes draining -> retained after drain_ms",
                "%s after %.2fs" % (st_ret, t_ret))
        tl.join(12)
        cut_at = long_.get("end", 0) - t_promote
        c.check(long_.get("status") == 200 and not long_.get("complete") and
                2.7 <= cut_at <= 5.0 and 10 <= long_.get("events", 0) < 60,
                "SSE stream longer than the drain is cut about at the deadline (3 s)",
                "cut %.2fs after promote, %s" % (
                    cut_at, {k: v for k, v in long_.items() if k != "pieces"}))
        ev = events.wait(lambda e: e["event"] == "deployment.retained" and
                         (e["json"] or {}).get("deployment") == "live-blue", 2.0)
        c.check(ev is not None and ev["json"].get("service") == "demo/prod/live",
                "GET /v1/events: deployment.retained for live-blue",
                [e["event"] for e in events.snapshot()])
        c.check(events.wait(lambda e: e["event"] == "deployment.promoted" and
                            (e["json"] or {}).get("deployment") == "live-green" and
                            (e["json"] or {}).get("previous") == "live-blue", 0.5) is not None,
                "GET /v1/events: deployment.promoted live-green (previous live-blue)")
        names = backend_names(edge.port, blue_host)
        c.check(names <= {"lb1", "lb2"}, "retained live-blue's deployment URL still routes",
                names)

        # --- WebSockets: stable host vs deployment URLs, promote with drain_ms 1000
        ws_stable, r1 = E.ws_connect(edge.port, host)
        ws_dep, r2 = E.ws_connect(edge.port, green_host)
        ws_old, r3 = E.ws_connect(edge.port, blue_host)
        try:
            c.check(r1.status == 101 and r2.status == 101 and r3.status == 101,
                    "WebSockets open via the stable host, live-green's and live-blue's "
                    "deployment URLs", (r1.status, r2.status, r3.status))
            c.check(ws_echo(ws_stable, b"s1") and ws_echo(ws_dep, b"d1") and
                    ws_echo(ws_old, b"o1"), "the three WebSockets echo before the promote")
            t0 = time.monotonic()
            st, doc = promote(edge, "live", "live-blue", drain_ms=1000)
            t_resp = time.monotonic()  # the swap happened before this answer
            c.check(st == 200 and doc.get("active") == "live-blue" and
                    doc.get("previous") == "live-green",
                    "promote live-blue (drain_ms 1000) -> 200", (st, doc))
            c.check(ws_echo(ws_stable, b"s2"),
                    "stable-host WebSocket still works during the drain")
            closed = wait_ws_closed(ws_stable, 1.0 + 2.0 - (time.monotonic() - t0))
            dt = (closed - t0) if closed else None
            c.check(closed is not None,
                    "stable-host WebSocket closed by the edge within drain + 2 s",
                    "still open 3 s after the promote")
            if closed is not None:
                E.log("    stable-host WebSocket closed %.3fs after the promote was sent, "
                      "%.3fs after its answer (promote took %.0f ms)" % (
                          closed - t0, closed - t_resp, 1000 * (t_resp - t0)))
                # drain_ms counts from the swap, which precedes the answer (50 ms slack
                # for timer and scheduling jitter).
                c.check(closed - t_resp >= 0.95,
                        "it stayed open for the full drain (>= 1 s after the swap)",
                        "closed %.3fs after the promote's answer" % (closed - t_resp))
            c.check(ws_echo(ws_dep, b"d2"),
                    "WebSocket via live-green's deployment URL stays open after the drain")
            c.check(ws_echo(ws_old, b"o2"),
                    "WebSocket via live-blue's deployment URL stays open")
            st_ret = wait_state(edge, "live", "live-green", "retained", 1.0)
            c.check(st_ret == "retained", "live-green retained after the 1 s drain", st_ret)
            ev = events.wait(lambda e: e["event"] == "deployment.retained" and
                             (e["json"] or {}).get("deployment") == "live-green", 1.0)
            c.check(ev is not None, "GET /v1/events: deployment.retained for live-green",
                    [e["event"] for e in events.snapshot()])
            ws_new, r4 = E.ws_connect(edge.port, green_host)
            c.check(r4.status == 101 and ws_echo(ws_new, b"n1"),
                    "a new WebSocket via retained live-green's deployment URL works",
                    r4.status)
            ws_new.close()
        finally:
            for w in (ws_stable, ws_dep, ws_old):
                w.close()
    finally:
        events.close()


def main():
    E.require_edge()
    t_start = time.monotonic()
    figures = {}
    with E.TempDir() as tmp, BenchBackends(4) as bench, \
            E.Backend("lb1") as lb1, E.Backend("lb2") as lb2, \
            E.Backend("lg1") as lg1, E.Backend("lg2") as lg2:
        access = os.path.join(tmp.path, "access.log")
        cfg = E.edge_config([], access=access, domain="hostess.test")
        with E.Edge(cfg, tmp=tmp) as edge:
            wait_control(edge)
            c.section("promotes under load", under_load, edge, bench, figures)
            c.section("in-flight requests across a promote", drain_in_flight, edge,
                      (lb1, lb2, lg1, lg2))
            c.check(edge.alive(), "edge still running at the end")
            code = edge.stop(timeout=10)
            err = edge.stderr_text()
            san = [ln for ln in err.splitlines() if "Sanitizer" in ln or "runtime error" in ln]
            c.check(code == 0 and not san, "SIGTERM: edge exits 0, no sanitizer report",
                    (code, san[:5]))
    for label, f in figures.items():
        E.log("figures %s: %d requests, %.0f req/s, non-2xx %d, socket errors %s, %d "
              "promotes (%d bad, %d misrouted), per deployment %s" % (
                  label, f["requests"], f["rps"], f["non2xx"], f["socket_errors"],
                  f["promotes"], f["bad_promotes"], f["misrouted"], f["per_deployment"]))
    E.log("runtime %.1fs" % (time.monotonic() - t_start))
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
