#!/usr/bin/python3
"""reload_and_drain: an operator edits the config under load, then stops the edge.

- wrk -c 32 -d 6s against a route while SIGHUP is sent 10 times (alternating two configs
  that both contain the route; one adds a second route) -> zero non-2xx, zero socket errors
- the added route works after reload; an invalid config on SIGHUP is logged and the old
  routes stay; a reload that removes a route makes it 404
- SIGTERM during a /slow?ms=1500 request: it completes with 200, new connections are
  refused after SIGTERM, the edge exits 0 (and an idle keep-alive client does not hold
  the drain for timeouts.drain)
"""
import json
import os
import socket
import sys
import threading
import time

import edgetest as E

c = E.Checker("reload_and_drain")


def wait_status(port, host, want, timeout=3.0, path="/echo"):
    deadline = time.monotonic() + timeout
    r = None
    while time.monotonic() < deadline:
        r = E.curl(port, path, host=host, timeout=3)
        if r.status == want:
            return r
        time.sleep(0.1)
    return r


def reload_under_load(a, b, tmp):
    cfg1 = E.edge_config({E.HOST_A: [E.target(a)]})
    cfg2 = dict(cfg1)
    cfg2["routes"] = cfg1["routes"] + [{"host": E.HOST_B, "targets": [E.target(b)]}]
    with E.Edge(cfg1, tmp=tmp) as edge:
        proc = E.wrk(edge.port, "/health", connections=32, duration=6, popen=True)
        try:
            time.sleep(0.5)
            for i in range(10):
                edge.reload(cfg2 if i % 2 == 0 else cfg1, settle=0)
                time.sleep(0.45)
            w = E.wrk_finish(proc, 6)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        E.log("    " + repr(w))
        c.check(w.requests > 1000, "wrk made requests during reloads", w)
        c.check(w.non2xx == 0, "zero non-2xx during 10 reloads", w)
        c.check(w.total_socket_errors() == 0, "zero socket errors during 10 reloads", w.socket_errors)
        c.check(edge.alive() and edge.pid == edge.proc.pid, "edge still running (same pid)")

        # last reload above was cfg1 (i=9). Now add the route.
        edge.reload(cfg2, settle=0)
        r = wait_status(edge.port, E.HOST_B, 200)
        c.check(r.status == 200 and r.json().get("backend") == "b", "added route works after reload", r)

        # invalid config: logged, old routes kept
        err_before = len(edge.stderr_text())
        with open(edge.config_path, "w") as f:
            f.write("routes: [\n  {host: \"broken\"\n")
        edge.reload(settle=1.0)
        c.check(edge.alive(), "edge survives an invalid config on SIGHUP")
        ra = E.curl(edge.port, "/echo", host=E.HOST_A)
        rb = E.curl(edge.port, "/echo", host=E.HOST_B)
        c.check(ra.status == 200 and rb.status == 200, "old routes kept after invalid config",
                (ra.status, rb.status))
        log_tail = edge.stderr_text()[err_before:] + edge.stdout_text()[-2000:]
        c.check("edge.yaml" in log_tail or "config" in log_tail.lower(),
                "invalid config is logged", log_tail[-300:])
        bad_types = E.to_yaml(cfg1) + "\n"
        bad_types = bad_types.replace('"header": "10s"', '"header": 10').replace('header: "10s"', "header: 10")
        with open(edge.config_path, "w") as f:
            f.write(bad_types)
        edge.reload(settle=1.0)
        rb = E.curl(edge.port, "/echo", host=E.HOST_B)
        c.check(rb.status == 200, "semantically invalid config (bare-number duration) also rejected",
                rb.status)

        # removing a route
        edge.reload(cfg1, settle=0)
        r = wait_status(edge.port, E.HOST_B, 404)
        c.check(r.status == 404, "removed route -> 404 after reload", r)
        r = E.curl(edge.port, "/echo", host=E.HOST_A)
        c.check(r.status == 200, "remaining route still 200", r)

        # the stable route keeps working across a reload that moves it to another target
        cfg3 = E.edge_config({E.HOST_A: [E.target(b)]}, listen=cfg1["listen"])
        edge.reload(cfg3, settle=0)
        deadline = time.monotonic() + 3
        got = None
        while time.monotonic() < deadline:
            r = E.curl(edge.port, "/echo", host=E.HOST_A)
            got = r.json().get("backend") if r.status == 200 else r.status
            if got == "b":
                break
            time.sleep(0.1)
        c.check(got == "b", "route retargeted by reload", got)


def drain(a):
    cfg = E.edge_config({E.HOST_A: [E.target(a)]}, timeouts={"drain": "10s"})
    with E.Edge(cfg) as edge:
        idle = E.Client(edge.port)  # an idle keep-alive client
        r = idle.request("GET", "/health", E.HOST_A)
        c.check(r.status == 200, "idle keep-alive client made a request", r)
        result = {}

        def slow():
            try:
                with E.Client(edge.port, timeout=10) as cl:
                    result["resp"] = cl.request("GET", "/slow?ms=1500", E.HOST_A)
                    result["closed_after"] = cl.closed_by_peer(3.0)
            except Exception as e:  # noqa: BLE001
                result["error"] = repr(e)

        th = threading.Thread(target=slow, daemon=True)
        th.start()
        time.sleep(0.4)
        t0 = time.monotonic()
        os.kill(edge.pid, 15)
        # new connections are refused soon after SIGTERM
        refused = False
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            if E.port_refuses(edge.port):
                refused = True
                break
            time.sleep(0.05)
        c.check(refused, "new connections refused after SIGTERM",
                "still accepting %.2fs after SIGTERM" % (time.monotonic() - t0))
        try:
            code = edge.proc.wait(15)
        except Exception:
            code = None
        dt = time.monotonic() - t0
        th.join(5)
        resp = result.get("resp")
        c.check(resp is not None and resp.status == 200 and resp.body == b"slow\n",
                "in-flight /slow request completed with 200 during drain", result)
        c.check(code == 0, "edge exits 0 after drain", code)
        c.check(dt < 5.0, "drain finished soon after the last request (idle client did not hold it)",
                "%.2fs" % dt)
        c.check(result.get("closed_after", True), "drained connection closed after its response")
        idle.close()


def drain_deadline(a):
    """A request longer than timeouts.drain does not keep the edge alive past it."""
    cfg = E.edge_config({E.HOST_A: [E.target(a)]}, timeouts={"drain": "1s"})
    with E.Edge(cfg) as edge:
        cl = E.Client(edge.port, timeout=10)
        cl.send(E.build_request("GET", "/slow?ms=6000", E.HOST_A))
        time.sleep(0.3)
        t0 = time.monotonic()
        os.kill(edge.pid, 15)
        try:
            code = edge.proc.wait(8)
        except Exception:
            code = None
        dt = time.monotonic() - t0
        c.check(code == 0, "edge exits 0 when the drain deadline passes", code)
        c.check(0.8 <= dt < 3.0, "exit about timeouts.drain (1 s) after SIGTERM", "%.2fs" % dt)
        c.check(cl.closed_by_peer(2.0), "the unfinished client connection is closed")
        cl.close()


def reload_keeps_connections(a, b):
    """Connections open across a SIGHUP (a WebSocket, a slow request, an idle keep-alive
    client) keep working; a route moved by the reload applies to new requests."""
    cfg1 = E.edge_config({E.HOST_A: [E.target(a)]})
    with E.Edge(cfg1) as edge:
        ws, r = E.ws_connect(edge.port, E.HOST_A)
        idle = E.Client(edge.port)
        r0 = idle.request("GET", "/echo", E.HOST_A)
        res = {}

        def slow():
            try:
                res["r"] = E.http(edge.port, "GET", "/slow?ms=1500", E.HOST_A, timeout=10)
            except Exception as e:  # noqa: BLE001
                res["e"] = repr(e)

        th = threading.Thread(target=slow, daemon=True)
        th.start()
        time.sleep(0.3)
        cfg2 = E.edge_config({E.HOST_A: [E.target(b)]}, listen=cfg1["listen"])
        edge.reload(cfg2, settle=0.7)
        try:
            E.ws_send(ws, 1, b"after reload")
            got = E.ws_recv(ws, timeout=5)
        except Exception as e:  # noqa: BLE001
            got = repr(e)
        c.check(r.status == 101 and got == (1, b"after reload"), "WebSocket survives SIGHUP", got)
        th.join(10)
        rr = res.get("r")
        c.check(rr is not None and rr.status == 200 and rr.body == b"slow\n",
                "request in flight across SIGHUP completes", res)
        try:
            r1 = idle.request("GET", "/echo", E.HOST_A)
            backend = json.loads(r1.body).get("backend") if r1.status == 200 else r1.status
        except Exception as e:  # noqa: BLE001
            backend = repr(e)
        c.check(r0.status == 200 and backend in ("a", "b"),
                "kept-alive client connection works after SIGHUP", backend)
        r2 = E.curl(edge.port, "/echo")
        c.check(r2.status == 200 and r2.json().get("backend") == "b",
                "new requests use the reloaded route", r2)
        ws.close()
        idle.close()


def main():
    E.require_edge()
    with E.TempDir() as tmp, E.Backend("a") as a, E.Backend("b") as b:
        c.section("reload under load", reload_under_load, a, b, tmp)
        c.section("connections across SIGHUP", reload_keeps_connections, a, b)
        c.section("drain on SIGTERM", drain, a)
        c.section("drain deadline", drain_deadline, a)
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
