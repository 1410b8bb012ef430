#!/usr/bin/python3
"""control_api_errors: every way a control API request can fail, and proof that a failed
request changes nothing (CONTRACT §2, docs/control-api.md, TESTING.md "Control API").

Setup (through the API): an edge on hostess.localhost with
  shop/prod/web   dep1 (active, backend a) and dep2 (healthy, not active, backend b)
  a-b/prod/c      d1 (active, backend c)                  - for the host collision
  a/prod/b-c      no deployment                           - the colliding service
The "snapshot" is GET /v1/services (whole body), the generation of GET /v1/health, the
bytes of state/edge.json and state/edge.json.prev, and (status, backend) of a request to
every known host plus an unknown one. After every error case the snapshot must be
byte-for-byte the one before it.

Cases: 401 (every endpoint, every malformed/wrong credential, and before anything else:
body, If-Match, size, path), 400 invalid_json / invalid_field (details.field) /
invalid_name, 404, 405 (Allow), 409 (details.owner), 412 (then the same writes with the
current generation, in every If-Match form), 413 (Content-Length and chunked, and exactly
at the limit), malformed HTTP (400 and close), a store write failure (500 store_failed,
then the same request succeeds and the failed ones left no trace on disk), kill -9 right
after an acknowledged write (it survives), a truncated state file (exit 1 with
PATH:LINE:COL, file untouched; restored, the edge comes back with the previous state).
"""
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import edgetest as E

c = E.Checker("control_api_errors")

MIB = 1 << 20
DOMAIN = "hostess.localhost"
S1 = "/v1/services/shop/prod/web"
ABC = "/v1/services/a-b/prod/c"
BC = "/v1/services/a/prod/b-c"
NEW = "/v1/services/shop/prod/newsvc"
SHA1 = "a1b2c3d4e5f60718"
SHA2 = "b2c3d4e5f6a70819"
SHA_C = "c0ffee1234567890"
HEALTH = {"type": "http", "path": "/health", "interval_ms": 200, "timeout_ms": 1000}
UNKNOWN_HOST = "nope-nope-12345678." + DOMAIN


class World:
    edge = None
    a = b = c = None
    hosts = []
    base = None          # the reference snapshot
    nanoid = {}


W = World()


# --------------------------------------------------------------------------- helpers

def api(method, path, body=None, auth=True, headers=(), raw=None, timeout=10.0):
    """auth: True = the edge's token; None = no Authorization; a string = the whole
    Authorization value."""
    hdrs = list(headers)
    if isinstance(auth, str):
        hdrs.append(("Authorization", auth))
    try:
        return W.edge.api(method, path, body, token=True if auth is True else None,
                          headers=hdrs, raw=raw, timeout=timeout)
    except (OSError, ValueError, IndexError) as e:
        return None, {}, {"_exception": repr(e)}


def state_path(name="edge.json"):
    return os.path.join(W.edge.tmp.path, "state", name)


def read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        return "unreadable: %s" % e


def route(host):
    try:
        r = E.http(W.edge.port, "GET", "/echo", host, timeout=5.0)
    except OSError as e:
        return (None, repr(e))
    backend = None
    if r.status == 200 and r.body.startswith(b"{"):
        try:
            backend = json.loads(r.body).get("backend")
        except ValueError:
            backend = "unparsable"
    return (r.status, backend)


def snapshot():
    st, _, services = api("GET", "/v1/services")
    hst, _, health = api("GET", "/v1/health", auth=None)
    return {
        "services": (st, json.dumps(services, sort_keys=True)),
        "generation": (hst, health.get("generation") if isinstance(health, dict) else None),
        "state": read_bytes(state_path()),
        "prev": read_bytes(state_path("edge.json.prev")),
        "routing": tuple((h, route(h)) for h in W.hosts + [UNKNOWN_HOST]),
    }


def diff(a, b):
    out = []
    for k in a:
        if a[k] != b[k]:
            if k == "routing":
                out.append("routing %s" % [(x, y) for x, y in zip(a[k], b[k]) if x != y])
            elif k in ("state", "prev"):
                out.append("%s file changed (%d -> %d bytes)" % (k, len(a[k]), len(b[k])))
            else:
                out.append("%s %s -> %s" % (k, str(a[k])[:300], str(b[k])[:300]))
    return "; ".join(out)


def unchanged(name):
    """The snapshot equals the reference one (taken before the case)."""
    snap = snapshot()
    same = snap == W.base
    c.check(same, "%s: nothing changed" % name, diff(W.base, snap) if not same else "")
    if not same:
        W.base = snap  # the next case compares with what is there now


def err_of(doc):
    return doc.get("error") if isinstance(doc, dict) and isinstance(doc.get("error"), dict) else None


def expect(name, resp, status, code, field=None, check=None, state=True):
    """resp = (status, headers, doc). Checks the status, the error document's shape, its
    code, details.field, an extra predicate; then that nothing changed."""
    st, hdrs, doc = resp
    e = err_of(doc)
    ok = (st == status and e is not None and e.get("code") == code
          and isinstance(e.get("message"), str) and e.get("message") != ""
          and isinstance(e.get("details"), dict))
    if ok and field is not None:
        ok = e["details"].get("field") == field
    if ok and check is not None:
        ok = bool(check(st, hdrs, e))
    want = "%d %s%s" % (status, code, " field=%s" % field if field else "")
    c.check(ok, "%s -> %s" % (name, want), (st, json.dumps(doc)[:400]))
    if state:
        unchanged(name)
    return ok


def send_raw(data, timeout=10.0, close_wait=3.0):
    """Sends bytes on a fresh control connection; returns (Resp, closed_by_peer)."""
    cl = E.Client(W.edge.control_port, timeout=timeout)
    try:
        try:
            cl.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            r = cl.read_response(timeout=timeout)
        except (OSError, ValueError, IndexError):
            r = E.Resp()
        closed = cl.closed_by_peer(close_wait)
        return r, closed
    finally:
        cl.close()


def resp_tuple(r):
    doc = None
    if r.body:
        try:
            doc = json.loads(r.body)
        except ValueError:
            doc = None
    return r.status, {k.lower(): v for k, v in r.headers}, doc


def head(method, path, extra=(), auth=True):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1:%d" % W.edge.control_port]
    if auth:
        lines.append("Authorization: Bearer " + W.edge.token())
    lines += ["%s: %s" % kv for kv in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunked(data, piece=65536):
    out = bytearray()
    for i in range(0, len(data), piece):
        part = data[i:i + piece]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return bytes(out) + b"0\r\n\r\n"


def generation():
    st, _, doc = api("GET", "/v1/health", auth=None)
    return doc.get("generation") if st == 200 and isinstance(doc, dict) else None


def wait_state(path, want, timeout=8.0):
    deadline = time.monotonic() + timeout
    doc = None
    while time.monotonic() < deadline:
        st, _, doc = api("GET", path)
        if st == 200 and doc.get("state") in want:
            return doc
        time.sleep(0.1)
    return doc


def structure(services_doc):
    """What a restart must keep: names, nanoids, ports, health settings, deployments (id,
    sha, targets), the active one. Not health results (checked again after a start)."""
    out = []
    for s in (services_doc or {}).get("services", []):
        out.append((s["project"], s["environment"], s["service"], s["nanoid"], s["protocol"],
                    json.dumps(s["ports"]), json.dumps(s["health"], sort_keys=True),
                    s["active"],
                    tuple((d["id"], d["sha"], json.dumps([[t["address"], t["ports"]]
                                                          for t in d["targets"]]))
                          for d in s["deployments"])))
    return sorted(out)


# --------------------------------------------------------------------------- setup

def start_edge(e):
    """Edge.start() waits for the data port, which listens before the control plane has
    loaded the state and opened the control port: wait for the control port as well."""
    if not e.alive():
        e.start()
    E.wait_port(e.control_port, 10.0, e.proc)


def setup():
    st, _, s1 = api("PUT", S1, {"ports": [{"port": 8000}], "health": HEALTH})
    c.check(st == 201, "setup: create shop/prod/web", (st, s1))
    st, _, d = api("POST", S1 + "/deployments", {"id": "dep1", "sha": SHA1,
                                                 "targets": [{"address": "127.0.0.1",
                                                              "ports": [W.a.port]}]})
    c.check(st == 201, "setup: deployment dep1", (st, d))
    st, _, d = api("POST", S1 + "/deployments/dep1/promote", {"wait_ms": 8000})
    c.check(st == 200 and d.get("active") == "dep1", "setup: promote dep1 (waits for health)",
            (st, d))
    st, _, d = api("POST", S1 + "/deployments", {"id": "dep2", "sha": SHA2,
                                                 "targets": [{"address": "127.0.0.1",
                                                              "ports": [W.b.port]}]})
    c.check(st == 201, "setup: deployment dep2", (st, d))
    d = wait_state(S1 + "/deployments/dep2", ("healthy",))
    c.check(d and d.get("state") == "healthy", "setup: dep2 healthy", d)

    st, _, abc = api("PUT", ABC, {"ports": [{"port": 8000}], "health": HEALTH})
    c.check(st == 201, "setup: create a-b/prod/c", (st, abc))
    st, _, d = api("POST", ABC + "/deployments", {"id": "d1", "sha": SHA_C,
                                                  "targets": [{"address": "127.0.0.1",
                                                               "ports": [W.c.port]}]})
    c.check(st == 201, "setup: deployment d1 of a-b/prod/c", (st, d))
    st, _, d = api("POST", ABC + "/deployments/d1/promote", {"wait_ms": 8000})
    c.check(st == 200, "setup: promote d1", (st, d))
    st, _, bc = api("PUT", BC, {"ports": [{"port": 8000}], "health": HEALTH})
    c.check(st == 201, "setup: create a/prod/b-c", (st, bc))

    st, _, all_ = api("GET", "/v1/services")
    hosts = []
    for s in all_.get("services", []):
        for p in s["urls"]["ports"]:
            hosts.append(p["external_host"])
        for dep in s["deployments"]:
            for p in dep["urls"]["ports"]:
                hosts.append(p["deployment_host"])
    W.hosts = sorted(set(hosts))
    W.nanoid = {s["project"] + "/" + s["service"]: s["nanoid"] for s in all_["services"]}
    exp = {
        "shop-web-%s.%s" % (W.nanoid["shop/web"], DOMAIN): (200, "a"),
        "shop-web-%s.%s" % (SHA1[:7], DOMAIN): (200, "a"),
        "shop-web-%s.%s" % (SHA2[:7], DOMAIN): (200, "b"),
        "a-b-c-%s.%s" % (W.nanoid["a-b/c"], DOMAIN): (200, "c"),
        "a-b-c-%s.%s" % (SHA_C[:7], DOMAIN): (200, "c"),
    }
    W.base = snapshot()
    routing = dict(W.base["routing"])
    c.check(len(W.hosts) == 6 and all(routing.get(h) == v for h, v in exp.items())
            and routing.get(UNKNOWN_HOST, (None,))[0] == 404,
            "setup: every host routes where expected, unknown host 404", routing)
    bc_host = "a-b-c-%s.%s" % (W.nanoid["a/b-c"], DOMAIN)
    c.check(routing.get(bc_host, (None,))[0] == 503,
            "setup: a service without an active deployment answers 503", routing.get(bc_host))
    c.check(W.base["generation"] == (200, 8), "setup: generation 8 after 8 writes",
            W.base["generation"])
    c.check(isinstance(W.base["state"], bytes) and b'"generation":8' in W.base["state"],
            "setup: state file written with generation 8", str(W.base["state"])[:200])


# --------------------------------------------------------------------------- 401

def endpoints():
    dep3 = {"id": "dep3", "sha": "d3d3d3d3d3", "targets": [{"address": "127.0.0.1",
                                                            "ports": [W.a.port]}]}
    return [
        ("PUT service", "PUT", S1, {"ports": [{"port": 8000}, {"port": 9000}]}),
        ("PUT new service", "PUT", NEW, {"ports": [{"port": 8000}]}),
        ("DELETE service", "DELETE", S1, None),
        ("GET service", "GET", S1, None),
        ("POST deployment", "POST", S1 + "/deployments", dep3),
        ("GET deployment", "GET", S1 + "/deployments/dep1", None),
        ("PUT targets", "PUT", S1 + "/deployments/dep2/targets",
         {"targets": [{"address": "127.0.0.1", "ports": [W.a.port]}]}),
        ("promote", "POST", S1 + "/deployments/dep2/promote", {"require_healthy": False}),
        ("DELETE deployment", "DELETE", S1 + "/deployments/dep2", None),
        ("GET services", "GET", "/v1/services", None),
        ("GET /metrics", "GET", "/metrics", None),
        ("GET /v1/events", "GET", "/v1/events", None),
        ("unknown endpoint", "GET", "/v1/nope", None),
        ("domains (501 when authorised)", "POST", S1 + "/domains", {"domain": "x.example"}),
    ]


def unauthorized():
    tok = W.edge.token()
    basic = "Basic " + base64.b64encode(("hostess:" + tok).encode()).decode()
    variants = [
        ("no Authorization", None),
        ("wrong token", "Bearer wrong-token-0123456789abcdef"),
        ("'Bearer' without a token", "Bearer"),
        ("'Bearer ' and spaces only", "Bearer    "),
        ("Basic with the token as password", basic),
        ("Basic with the token", "Basic " + tok),
        ("scheme 'Token'", "Token " + tok),
        ("no space after Bearer", "Bearer" + tok),
        ("tab instead of SP (RFC 7235: 1*SP)", "Bearer\t" + tok),
        ("token with a byte appended", "Bearer " + tok + "x"),
        ("token followed by a space and more", "Bearer " + tok + " x"),
        ("token missing its last byte", "Bearer " + tok[:-1]),
        ("token in upper case", "Bearer " + tok.upper() if tok.upper() != tok else "Bearer x" + tok),
    ]
    for ename, method, path, body in endpoints():
        for vname, auth in variants:
            resp = api(method, path, body, auth=auth)
            expect("%s, %s" % (ename, vname), resp, 401, "unauthorized",
                   check=lambda st, h, e: h.get("www-authenticate", "").split()[:1] == ["Bearer"])
    # Two Authorization fields (one right): not one credential -> refused (401; 400 would do).
    resp = api("GET", "/v1/services", headers=[("Authorization", "Bearer " + tok)],
               auth="Bearer wrong-token-0123456789abcdef")
    c.check(resp[0] in (400, 401), "two Authorization fields -> 401/400", resp[:1])
    resp = api("GET", "/v1/services", headers=[("Authorization", "Bearer wrong-token-0123456789")],
               auth="Bearer " + tok)
    c.check(resp[0] in (400, 401), "two Authorization fields (right one last) -> 401/400",
            resp[:1])

    # 401 before anything else: body, If-Match, size, path, JSON.
    expect("no token + invalid JSON body", api("PUT", S1, raw=b"{nope", auth=None), 401,
           "unauthorized")
    expect("no token + stale If-Match", api("PUT", S1, {"ports": [{"port": 8000}]}, auth=None,
                                             headers=[("If-Match", '"1"')]), 401, "unauthorized")
    expect("no token + unknown service", api("GET", "/v1/services/x/y/z", auth=None), 401,
           "unauthorized")
    expect("no token + wrong method", api("PATCH", S1, {}, auth=None), 401, "unauthorized")
    t0 = time.monotonic()
    r, closed = send_raw(head("PUT", S1, [("Content-Length", str(2 * MIB))], auth=False),
                         timeout=5.0)
    el = time.monotonic() - t0
    expect("no token + 2 MiB Content-Length, body never sent", resp_tuple(r), 401,
           "unauthorized", check=lambda st, h, e: el < 4.0)
    c.check(closed, "401 to a request with an unread body closes the connection", closed)

    # Accepted: scheme case-insensitive (RFC 7235 §2.1 / RFC 9110 §11.1), 1*SP, trailing
    # whitespace is not part of the field value (RFC 9110 §5.5).
    for vname, auth in [("lower-case 'bearer'", "bearer " + tok),
                        ("upper-case 'BEARER'", "BEARER " + tok),
                        ("two spaces after Bearer (1*SP)", "Bearer  " + tok),
                        ("token with a trailing space (OWS, RFC 9110 §5.5)", "Bearer " + tok + " "),
                        ("token with a trailing tab (OWS)", "Bearer " + tok + "\t")]:
        st, _, doc = api("GET", "/v1/services", auth=auth)
        c.check(st == 200 and isinstance(doc, dict) and "services" in doc,
                "%s is accepted" % vname, (st, json.dumps(doc)[:200]))
    unchanged("accepted credentials on reads")

    # health needs no token (and ignores a wrong one)
    for vname, auth in [("no token", None), ("wrong token", "Bearer wrong-token-0123456789ab")]:
        st, h, doc = api("GET", "/v1/health", auth=auth)
        c.check(st == 200 and doc.get("status") == "ok" and isinstance(doc.get("generation"), int),
                "GET /v1/health with %s -> 200" % vname, (st, doc))
    st, _, doc = api("POST", "/v1/health", {}, auth=None)
    c.check(st == 401, "POST /v1/health without a token -> 401 (only GET is open)", (st, doc))
    unchanged("health reads")


# --------------------------------------------------------------------------- 400

def invalid_json():
    bad = [
        ("not JSON", b"hello"),
        ("truncated JSON", b'{"ports":[{"port":8000}'),
        ("a JSON array", b'[{"ports":[{"port":8000}]}]'),
        ("a JSON string", b'"ports"'),
        ("a JSON number", b"8000"),
        ("JSON null", b"null"),
        ("duplicate keys", b'{"ports":[{"port":8000}],"ports":[{"port":9000}]}'),
        ("duplicate nested keys", b'{"ports":[{"port":8000,"port":9000}]}'),
        ("trailing garbage", b'{"ports":[{"port":8000}]} x'),
        ("two documents", b'{"ports":[{"port":8000}]}{"ports":[]}'),
        ("invalid UTF-8", b'{"ports":[{"port":8000}],"x":"\xff\xfe"}'),
        ("empty body (Content-Length: 0)", b""),
        ("whitespace only", b"   \r\n"),
    ]
    targets = [("PUT service", "PUT", S1), ("PUT new service", "PUT", NEW),
               ("POST deployment", "POST", S1 + "/deployments"),
               ("PUT targets", "PUT", S1 + "/deployments/dep2/targets"),
               ("promote", "POST", S1 + "/deployments/dep2/promote")]
    for tname, method, path in targets:
        for bname, raw in bad:
            if tname == "promote" and raw == b"":
                continue  # an empty promote body means {} (documented defaults)
            resp = api(method, path, raw=raw)

            def chk(st, h, e, bname=bname):
                d = e["details"]
                if bname == "a JSON array":
                    return True  # valid JSON, not an object: no position to name
                # a syntax error names where: details.line / details.column
                return isinstance(d.get("line"), int) and isinstance(d.get("column"), int)
            expect("%s: %s" % (tname, bname), resp, 400, "invalid_json", check=chk)
    # PUT with no body at all (no Content-Length, no Transfer-Encoding)
    r, _ = send_raw(head("PUT", S1))
    expect("PUT service without any body", resp_tuple(r), 400, "invalid_json")
    r, _ = send_raw(head("POST", S1 + "/deployments"))
    expect("POST deployment without any body", resp_tuple(r), 400, "invalid_json")


def invalid_fields():
    p = lambda *ports: {"ports": list(ports)}  # noqa: E731
    svc_cases = [
        ("ports missing on create", {"protocol": "http"}, "ports", (NEW,)),
        ("ports not an array", {"ports": 8000}, "ports", (NEW, S1)),
        ("ports an object", {"ports": {"port": 8000}}, "ports", (NEW, S1)),
        ("ports empty", {"ports": []}, "ports", (NEW, S1)),
        ("17 ports", {"ports": [{"port": 8000 + i} for i in range(17)]}, "ports", (NEW, S1)),
        ("ports[0] not an object", {"ports": [8000]}, "ports[0]", (NEW, S1)),
        ("ports[1].port = 0", p({"port": 8000}, {"port": 0}), "ports[1].port", (NEW, S1)),
        ("ports[1].port = 70000", p({"port": 8000}, {"port": 70000}), "ports[1].port", (NEW, S1)),
        ("ports[1].port = \"80\"", p({"port": 8000}, {"port": "80"}), "ports[1].port", (NEW, S1)),
        ("ports[1].port = 80.5", p({"port": 8000}, {"port": 80.5}), "ports[1].port", (NEW, S1)),
        ("ports[1].port missing", p({"port": 8000}, {"public": True}), "ports[1].port", (NEW, S1)),
        ("ports[0].public = \"yes\"", p({"port": 8000, "public": "yes"}), "ports[0].public",
         (NEW, S1)),
        ("no public port (http)", p({"port": 8000, "public": False}), "ports", (NEW, S1)),
        ("protocol \"ftp\"", dict(p({"port": 8000}), protocol="ftp"), "protocol", (NEW, S1)),
        ("protocol 1", dict(p({"port": 8000}), protocol=1), "protocol", (NEW, S1)),
        ("nanoid \"UPPERCASE\"", dict(p({"port": 8000}), nanoid="UPPERCASE"), "nanoid", (NEW, S1)),
        ("nanoid \"UPPERCAS\" (8 chars)", dict(p({"port": 8000}), nanoid="UPPERCAS"), "nanoid",
         (NEW, S1)),
        ("nanoid \"short\"", dict(p({"port": 8000}), nanoid="short"), "nanoid", (NEW, S1)),
        ("health not an object", dict(p({"port": 8000}), health="http"), "health", (NEW, S1)),
        ("health.type \"icmp\"", dict(p({"port": 8000}), health={"type": "icmp"}), "health.type",
         (NEW, S1)),
        ("health.path \"no-slash\"", dict(p({"port": 8000}), health={"path": "no-slash"}),
         "health.path", (NEW, S1)),
        ("health.path with a space", dict(p({"port": 8000}), health={"path": "/a b"}),
         "health.path", (NEW, S1)),
        ("health.interval_ms 5", dict(p({"port": 8000}), health={"interval_ms": 5}),
         "health.interval_ms", (NEW, S1)),
        ("health.timeout_ms \"1s\"", dict(p({"port": 8000}), health={"timeout_ms": "1s"}),
         "health.timeout_ms", (NEW, S1)),
        ("health.healthy_threshold 0", dict(p({"port": 8000}), health={"healthy_threshold": 0}),
         "health.healthy_threshold", (NEW, S1)),
    ]
    for name, body, field, paths in svc_cases:
        for path in paths:
            where = "create" if path == NEW else "update"
            expect("PUT service (%s): %s" % (where, name), api("PUT", path, body), 400,
                   "invalid_field", field=field)
    st, _, doc = api("GET", NEW)
    c.check(st == 404, "the refused creates created nothing", (st, doc))

    t = lambda **kw: dict({"id": "dep3", "sha": "d3d3d3d3d3",  # noqa: E731
                           "targets": [{"address": "127.0.0.1", "ports": [W.a.port]}]}, **kw)
    dep_cases = [
        ("id missing", {"sha": "d3d3d3d3d3", "targets": []}, "id"),
        ("id not a string", t(id=3), "id"),
        ("id empty", t(id=""), "id"),
        ("id with a space", t(id="dep 3"), "id"),
        ("id with a slash", t(id="dep/3"), "id"),
        ("id of 65 characters", t(id="d" * 65), "id"),
        ("sha \"xyz\"", t(sha="xyz"), "sha"),
        ("sha of 6 hex digits", t(sha="abcdef"), "sha"),
        ("sha with a non-hex character", t(sha="abcdefg1"), "sha"),
        ("sha of 65 hex digits", t(sha="a" * 65), "sha"),
        ("sha a number", t(sha=1234567), "sha"),
        ("targets missing", {"id": "dep3", "sha": "d3d3d3d3d3"}, "targets"),
        ("targets not an array", t(targets={"address": "127.0.0.1"}), "targets"),
        ("targets[0] not an object", t(targets=["127.0.0.1"]), "targets[0]"),
        ("targets[0].address \"example.com\" (no DNS)",
         t(targets=[{"address": "example.com", "ports": [W.a.port]}]), "targets[0].address"),
        ("targets[0].address \"localhost\"",
         t(targets=[{"address": "localhost", "ports": [W.a.port]}]), "targets[0].address"),
        ("targets[0].address missing", t(targets=[{"ports": [W.a.port]}]), "targets[0].address"),
        ("targets[0].address with a port",
         t(targets=[{"address": "127.0.0.1:80", "ports": [W.a.port]}]), "targets[0].address"),
        ("targets[1].address bad",
         t(targets=[{"address": "127.0.0.1", "ports": [W.a.port]}, {"address": "1.2.3"}]),
         "targets[1].address"),
        ("targets[0].ports[0] 0", t(targets=[{"address": "127.0.0.1", "ports": [0]}]),
         "targets[0].ports[0]"),
        ("targets[0].ports[0] 65536", t(targets=[{"address": "127.0.0.1", "ports": [65536]}]),
         "targets[0].ports[0]"),
        # More ports than the service has are accepted (kept unused); more than 16 is not.
        ("targets[0].ports: 17 ports",
         t(targets=[{"address": "127.0.0.1", "ports": [W.a.port] * 17}]),
         "targets[0].ports"),
    ]
    for name, body, field in dep_cases:
        expect("POST deployment: %s" % name, api("POST", S1 + "/deployments", body), 400,
               "invalid_field", field=field)

    tg_cases = [
        ("targets missing", {}, "targets"),
        ("targets not an array", {"targets": "127.0.0.1"}, "targets"),
        ("targets[0].address \"example.com\"",
         {"targets": [{"address": "example.com", "ports": [W.a.port]}]}, "targets[0].address"),
        ("targets[0].ports[0] 0", {"targets": [{"address": "127.0.0.1", "ports": [0]}]},
         "targets[0].ports[0]"),
    ]
    for name, body, field in tg_cases:
        expect("PUT targets: %s" % name, api("PUT", S1 + "/deployments/dep2/targets", body), 400,
               "invalid_field", field=field)

    pr_cases = [
        ("require_healthy \"yes\"", {"require_healthy": "yes"}, "require_healthy"),
        ("require_healthy 1", {"require_healthy": 1}, "require_healthy"),
        ("wait_ms -1", {"wait_ms": -1}, "wait_ms"),
        ("wait_ms \"5s\"", {"wait_ms": "5s"}, "wait_ms"),
        ("wait_ms 600001", {"wait_ms": 600001}, "wait_ms"),
        ("drain_ms -1", {"drain_ms": -1}, "drain_ms"),
        ("drain_ms 1.5", {"drain_ms": 1.5}, "drain_ms"),
    ]
    for name, body, field in pr_cases:
        # dep2 is healthy: a promote that skipped validation would switch the stable host
        expect("promote: %s" % name, api("POST", S1 + "/deployments/dep2/promote", body), 400,
               "invalid_field", field=field)


def invalid_names():
    body = {"ports": [{"port": 8000}]}
    cases = [
        ("project \"---\"", "/v1/services/---/prod/web", "project"),
        ("project \"%2D%2D%2D\" (decodes to ---)", "/v1/services/%2D%2D%2D/prod/web", "project"),
        ("project of 101 bytes", "/v1/services/%s/prod/web" % ("p" * 101), "project"),
        ("project of 101 bytes (UTF-8)", "/v1/services/%s/prod/web" % ("%C3%A9" * 50 + "p"),
         "project"),
        ("service \"___\"", "/v1/services/shop/prod/___", "service"),
        ("environment \"..\"", "/v1/services/shop/../web", "environment"),
        ("environment of 101 bytes", "/v1/services/shop/%s/web" % ("e" * 101), "environment"),
    ]
    for name, path, field in cases:
        expect("PUT service: %s" % name, api("PUT", path, body), 400, "invalid_name", field=field)
    # reads with an invalid name: 400 too (or 404): never a 5xx
    st, _, doc = api("GET", "/v1/services/---/prod/web")
    c.check(st in (400, 404), "GET with an invalid name -> 400/404", (st, doc))
    unchanged("GET with an invalid name")
    # An encoded slash (%2F) is refused by the server layer (400 bad_request): decoded, it
    # would become a segment separator and address another resource.
    st, _, doc = api("PUT", "/v1/services/a%2Fb/prod/web", body)
    c.check(st == 400 and (err_of(doc) or {}).get("code") == "bad_request",
            "PUT service: project with an encoded slash (a%2Fb) -> 400 bad_request", (st, doc))
    unchanged("PUT service: project with an encoded slash")
    st, _, doc = api("GET", S1 + "%2Fdeployments%2Fdep2")
    c.check(st == 400 and (err_of(doc) or {}).get("code") == "bad_request",
            "GET service named \"web/deployments/dep2\" (encoded slashes) -> 400, "
            "not deployment dep2", (st, json.dumps(doc)[:200]))
    unchanged("GET with encoded slashes")


# --------------------------------------------------------------------------- 404 / 405

def not_found():
    dep = {"id": "dep9", "sha": "9999999999",
           "targets": [{"address": "127.0.0.1", "ports": [W.a.port]}]}
    cases = [
        ("GET unknown service", "GET", "/v1/services/nope/prod/web", None),
        ("DELETE unknown service", "DELETE", "/v1/services/nope/prod/web", None),
        ("GET service of an unknown environment", "GET", "/v1/services/shop/staging/web", None),
        ("POST deployment to an unknown service", "POST", "/v1/services/nope/prod/web/deployments",
         dep),
        ("promote an unknown deployment", "POST", S1 + "/deployments/nope/promote", {}),
        ("promote an unknown deployment (wait_ms)", "POST", S1 + "/deployments/nope/promote",
         {"wait_ms": 5000}),
        ("promote in an unknown service", "POST", "/v1/services/nope/prod/web/deployments/dep1/"
         "promote", {}),
        ("DELETE an unknown deployment", "DELETE", S1 + "/deployments/nope", None),
        ("PUT targets of an unknown deployment", "PUT", S1 + "/deployments/nope/targets",
         {"targets": [{"address": "127.0.0.1", "ports": [W.a.port]}]}),
        ("GET an unknown deployment", "GET", S1 + "/deployments/nope", None),
        ("deployment of another service", "GET", ABC + "/deployments/dep1", None),
        ("unknown endpoint /v1/nope", "GET", "/v1/nope", None),
        ("unknown endpoint /v2/services", "GET", "/v2/services", None),
        ("unknown endpoint /", "GET", "/", None),
        ("unknown endpoint /v1/services/a/b", "GET", "/v1/services/a/b", None),
        ("unknown endpoint /v1/services/ (trailing slash)", "GET", "/v1/services/", None),
        ("unknown endpoint under a service", "GET", S1 + "/nope", None),
        ("unknown endpoint under a deployment", "POST", S1 + "/deployments/dep2/nope", {}),
        ("unknown endpoint, too deep", "GET", S1 + "/deployments/dep2/promote/x/y", None),
        ("health with a trailing slash", "GET", "/v1/health/", None),
    ]
    for name, method, path, body in cases:
        expect(name, api(method, path, body), 404, "not_found")


def not_allowed():
    cases = [
        ("PATCH a service", "PATCH", S1, {"ports": [{"port": 8000}]}, {"GET", "PUT", "DELETE"}),
        ("POST a service", "POST", S1, {"ports": [{"port": 8000}]}, {"GET", "PUT", "DELETE"}),
        ("POST /v1/services", "POST", "/v1/services", {"ports": []}, {"GET"}),
        ("DELETE /v1/services", "DELETE", "/v1/services", None, {"GET"}),
        ("DELETE /metrics", "DELETE", "/metrics", None, {"GET"}),
        ("POST /v1/events", "POST", "/v1/events", {}, {"GET"}),
        ("DELETE /v1/health", "DELETE", "/v1/health", None, {"GET"}),
        ("GET deployments", "GET", S1 + "/deployments", None, {"POST"}),
        ("PUT a deployment", "PUT", S1 + "/deployments/dep2", {}, {"GET", "DELETE"}),
        ("GET promote", "GET", S1 + "/deployments/dep2/promote", None, {"POST"}),
        ("PUT promote", "PUT", S1 + "/deployments/dep2/promote", {}, {"POST"}),
        ("POST targets", "POST", S1 + "/deployments/dep2/targets", {"targets": []}, {"PUT"}),
    ]
    for name, method, path, body, allow in cases:
        def chk(st, h, e, allow=allow):
            got = {x.strip() for x in h.get("allow", "").split(",") if x.strip()}
            return got == allow
        expect("%s" % name, api(method, path, body), 405, "method_not_allowed", check=chk)


# --------------------------------------------------------------------------- 409

def conflicts():
    expect("second deployment with id dep1",
           api("POST", S1 + "/deployments", {"id": "dep1", "sha": "e5e5e5e5e5",
                                             "targets": [{"address": "127.0.0.1",
                                                          "ports": [W.a.port]}]}),
           409, "conflict", check=lambda st, h, e: e["details"].get("deployment") == "dep1")
    expect("second deployment with id dep2 (same body)",
           api("POST", S1 + "/deployments", {"id": "dep2", "sha": SHA2,
                                             "targets": [{"address": "127.0.0.1",
                                                          "ports": [W.b.port]}]}),
           409, "conflict")
    expect("delete the active deployment", api("DELETE", S1 + "/deployments/dep1"), 409,
           "conflict")
    expect("change the nanoid of a service",
           api("PUT", S1, {"ports": [{"port": 8000}], "nanoid": "zzzzzzzz"}), 409, "conflict",
           check=lambda st, h, e: e["details"].get("nanoid") == W.nanoid["shop/web"])
    owner = {"service": "a-b/prod/c", "deployment": "d1"}
    host_c = "a-b-c-%s.%s" % (SHA_C[:7], DOMAIN)
    expect("a-b/c vs a/b-c: deployment host collision (same SHA)",
           api("POST", BC + "/deployments", {"id": "x1", "sha": SHA_C,
                                             "targets": [{"address": "127.0.0.1",
                                                          "ports": [W.b.port]}]}),
           409, "conflict",
           check=lambda st, h, e: (e["details"].get("owner") == owner
                                   and e["details"].get("host") == host_c))
    expect("a-b/c vs a/b-c: same SHA, upper case",
           api("POST", BC + "/deployments", {"id": "x2", "sha": SHA_C.upper(),
                                             "targets": [{"address": "127.0.0.1",
                                                          "ports": [W.b.port]}]}),
           409, "conflict",
           check=lambda st, h, e: (e["details"].get("owner") or {}).get("service") == "a-b/prod/c")
    nano_c = W.nanoid["a-b/c"]
    expect("a/staging/b-c with the nanoid of a-b/prod/c: stable host collision",
           api("PUT", "/v1/services/a/staging/b-c", {"ports": [{"port": 8000}], "nanoid": nano_c}),
           409, "conflict",
           check=lambda st, h, e: ((e["details"].get("owner") or {}).get("service") == "a-b/prod/c"
                                   and e["details"].get("host") == "a-b-c-%s.%s" % (nano_c, DOMAIN)))
    expect("A-B/prod/C (normalises to a-b-c) with the same nanoid",
           api("PUT", "/v1/services/A-B/prod/C", {"ports": [{"port": 8000}], "nanoid": nano_c}),
           409, "conflict",
           check=lambda st, h, e: (e["details"].get("owner") or {}).get("service") == "a-b/prod/c")
    st, _, doc = api("GET", "/v1/services/a/staging/b-c")
    c.check(st == 404, "the refused service was not created", (st, doc))
    unchanged("conflict reads")


# --------------------------------------------------------------------------- 412

def stale_writes():
    g = generation()
    dep3 = {"id": "dep3", "sha": "d3d3d3d3d3", "targets": [{"address": "127.0.0.1",
                                                            "ports": [W.a.port]}]}
    writes = [
        ("PUT service", "PUT", S1, {"ports": [{"port": 8000}, {"port": 9000}], "health": HEALTH}),
        ("PUT new service", "PUT", NEW, {"ports": [{"port": 8000}]}),
        ("POST deployment", "POST", S1 + "/deployments", dep3),
        ("promote", "POST", S1 + "/deployments/dep2/promote", {}),
        ("promote (wait_ms)", "POST", S1 + "/deployments/dep2/promote", {"wait_ms": 3000}),
        ("PUT targets", "PUT", S1 + "/deployments/dep2/targets",
         {"targets": [{"address": "127.0.0.1", "ports": [W.a.port]}]}),
        ("DELETE deployment", "DELETE", S1 + "/deployments/dep2", None),
        ("DELETE service", "DELETE", S1, None),
    ]
    stale = [("bare", str(g - 1)), ("quoted", '"%d"' % (g - 1)), ("weak", 'W/"%d"' % (g - 1)),
             ("future", str(g + 1)), ("zero", "0"), ("not a number", "abc"),
             ("half-quoted", '"%d' % g), ("negative", "-%d" % g)]
    for wname, method, path, body in writes:
        for sname, value in stale:
            expect("%s with If-Match %s (%s)" % (wname, value, sname),
                   api(method, path, body, headers=[("If-Match", value)]), 412,
                   "precondition_failed",
                   check=lambda st, h, e: e["details"].get("generation") == g)
    r, _ = send_raw(head("PUT", S1, [("If-Match", str(g)), ("If-Match", str(g)),
                                     ("Content-Length", "2")]) + b"{}")
    c.check(r.status in (400, 412), "two If-Match fields -> 400/412", r.status)
    unchanged("two If-Match fields")


# --------------------------------------------------------------------------- 413

def too_large():
    path = S1
    # Exactly at the limit: a JSON object of 1 MiB whose ports field is wrong (so that
    # the server layer's acceptance shows as a 400 from the API layer, not a change).
    prefix, suffix = b'{"ports":"x","pad":"', b'"}'
    exact = prefix + b"a" * (MIB - len(prefix) - len(suffix)) + suffix
    assert len(exact) == MIB

    def hdr(extra):
        return head("PUT", path, [("Content-Type", "application/json")] + extra)

    r, closed = send_raw(hdr([("Content-Length", str(MIB + 1))]) + exact + b" ")
    expect("Content-Length 1 MiB + 1", resp_tuple(r), 413, "payload_too_large")
    c.check(closed, "413 closes the connection", closed)
    r, closed = send_raw(hdr([("Content-Length", str(MIB + 1))]))
    expect("Content-Length 1 MiB + 1, body not sent: answered at once", resp_tuple(r), 413,
           "payload_too_large")
    r, closed = send_raw(hdr([("Content-Length", str(10 << 30))]))
    expect("Content-Length 10 GiB", resp_tuple(r), 413, "payload_too_large")
    r, closed = send_raw(hdr([("Content-Length", "99999999999999999999999")]))
    c.check(r.status in (400, 413), "Content-Length beyond 64 bits -> 400/413", r.status)
    unchanged("Content-Length beyond 64 bits")
    r, closed = send_raw(hdr([("Transfer-Encoding", "chunked")]) + chunked(exact + b" "))
    expect("chunked body of 1 MiB + 1", resp_tuple(r), 413, "payload_too_large")
    c.check(closed, "413 (chunked) closes the connection", closed)
    r, closed = send_raw(hdr([("Transfer-Encoding", "chunked")]) + chunked(exact + b" " * 65536))
    expect("chunked body of 1 MiB + 64 KiB", resp_tuple(r), 413, "payload_too_large")
    r, closed = send_raw(hdr([("Transfer-Encoding", "chunked")]) + chunked(b" " * (2 * MIB),
                                                                          piece=2 * MIB))
    expect("one chunk of 2 MiB", resp_tuple(r), 413, "payload_too_large")

    r, closed = send_raw(hdr([("Content-Length", str(MIB))]) + exact)
    expect("Content-Length exactly 1 MiB: accepted by the server layer, then 400 (ports)",
           resp_tuple(r), 400, "invalid_field", field="ports")
    r, closed = send_raw(hdr([("Transfer-Encoding", "chunked")]) + chunked(exact))
    expect("chunked body of exactly 1 MiB: accepted, then 400 (ports)", resp_tuple(r), 400,
           "invalid_field", field="ports")
    r, closed = send_raw(hdr([("Transfer-Encoding", "chunked")]) + chunked(exact, piece=1000))
    expect("chunked body of exactly 1 MiB in 1000-byte chunks: accepted, then 400",
           resp_tuple(r), 400, "invalid_field", field="ports")
    # 413 on other endpoints too
    r, closed = send_raw(head("POST", S1 + "/deployments", [("Content-Length", str(MIB + 1))]))
    expect("POST deployment, Content-Length 1 MiB + 1", resp_tuple(r), 413, "payload_too_large")
    r, closed = send_raw(head("POST", S1 + "/deployments/dep2/promote",
                              [("Content-Length", str(MIB + 1))]))
    expect("promote, Content-Length 1 MiB + 1", resp_tuple(r), 413, "payload_too_large")


# --------------------------------------------------------------------------- malformed HTTP

def malformed():
    tok = W.edge.token()
    cases = [
        ("garbage request line", b"GARBAGE\r\n\r\n"),
        ("binary garbage", b"\x00\x01\x02\x03\xff\r\n\r\n"),
        ("HTTP/0.9 request", b"GET /v1/health\r\n\r\n"),
        ("unknown version", b"GET /v1/health HTTP/7.3\r\nHost: x\r\n\r\n"),
        ("header line without a colon", b"GET /v1/health HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"),
        ("no Host", b"GET /v1/health HTTP/1.1\r\n\r\n"),
        ("bare LF line ends", b"GET /v1/health HTTP/1.1\nHost: x\n\n"),
        ("Content-Length and Transfer-Encoding",
         ("PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 5\r\n"
          "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % (S1, tok)).encode()),
        ("two Content-Length",
         ("PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 2\r\n"
          "Content-Length: 3\r\n\r\n{}" % (S1, tok)).encode()),
        ("invalid percent-escape in the path",
         ("GET /v1/services/%%zz/prod/web HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s"
          "\r\n\r\n" % tok).encode()),
        ("%00 in the path",
         ("GET /v1/services/a%%00b/prod/web HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s"
          "\r\n\r\n" % tok).encode()),
        ("malformed chunk size",
         ("PUT %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked"
          "\r\n\r\nzz\r\n{}\r\n0\r\n\r\n" % (S1, tok)).encode()),
    ]
    for name, data in cases:
        st, got, closed = E.raw_exchange(W.edge.control_port, data, timeout=5.0, close_wait=3.0)
        body = got.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in got else b""
        try:
            e = json.loads(body).get("error", {})
        except ValueError:
            e = {}
        c.check(st == 400 and e.get("code") == "bad_request" and closed,
                "malformed HTTP (%s) -> 400 bad_request and close" % name,
                (st, got[:200], closed))
        unchanged("malformed HTTP (%s)" % name)
    # A good request, then garbage on the same connection: 200, then 400 and close.
    st, got, closed = E.raw_exchange(W.edge.control_port,
                                     b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n",
                                     timeout=5.0, close_wait=3.0)
    c.check(E.statuses(got) == [200, 400] and closed,
            "pipelined: good request then garbage -> 200, 400, close",
            (E.statuses(got), closed))
    unchanged("pipelined garbage")
    # The API still works afterwards.
    st, _, doc = api("GET", "/v1/services")
    c.check(st == 200, "API answers after the malformed requests", st)


# --------------------------------------------------------------------------- store failure

def store_failure():
    tmp = state_path("edge.json.journal")
    # The journal is empty after every compaction; a directory in its place means no
    # commit can be appended: every write fails.
    if os.path.isfile(tmp) and os.path.getsize(tmp) == 0:
        os.unlink(tmp)
    os.mkdir(tmp)
    dep3 = {"id": "dep3", "sha": "d3d3d3d3d3", "targets": [{"address": "127.0.0.1",
                                                            "ports": [W.a.port]}]}
    upd = {"ports": [{"port": 8000}], "health": dict(HEALTH, interval_ms=300)}
    writes = [
        ("PUT service (update)", "PUT", S1, upd),
        ("PUT new service", "PUT", NEW, {"ports": [{"port": 8000}], "nanoid": "n3w5vc00"}),
        ("POST deployment", "POST", S1 + "/deployments", dep3),
        ("PUT targets", "PUT", S1 + "/deployments/dep2/targets",
         {"targets": [{"address": "127.0.0.1", "ports": [W.c.port]}]}),
        ("promote", "POST", S1 + "/deployments/dep2/promote", {}),
        ("promote (wait_ms)", "POST", S1 + "/deployments/dep2/promote", {"wait_ms": 2000}),
        ("DELETE deployment", "DELETE", S1 + "/deployments/dep2", None),
        ("DELETE service", "DELETE", S1, None),
        ("DELETE other service", "DELETE", BC, None),
    ]
    try:
        for name, method, path, body in writes:
            expect("store cannot write: %s" % name, api(method, path, body), 500, "store_failed")
        st, _, doc = api("GET", NEW)
        c.check(st == 404, "store failure: the new service does not exist", (st, doc))
        c.check(W.edge.alive(), "edge still running after the store failures")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    before = json.loads(W.base["state"])
    g = generation()
    st, h, doc = api("PUT", S1, upd)
    c.check(st == 200 and doc.get("health", {}).get("interval_ms") == 300,
            "obstacle removed: the same PUT succeeds", (st, json.dumps(doc)[:300]))
    c.check(generation() == g + 1 and h.get("etag") == '"%d"' % (g + 1),
            "the successful write bumps the generation by one (ETag)", (g, h.get("etag")))
    after = json.loads(read_bytes(state_path()))
    exp = json.loads(json.dumps(before["services"]))
    exp["shop/prod/web"]["health"]["interval_ms"] = 300
    c.check(after["services"] == exp and after["generation"] == g + 1,
            "state file after recovery: only the successful change (no trace of the failed "
            "create, deployment, targets, promote or deletes)",
            sorted(set(after["services"]) ^ set(exp)) or "services differ")
    prev = json.loads(read_bytes(state_path("edge.json.prev")))
    c.check(prev == before, "edge.json.prev is the state before the successful write",
            prev.get("generation"))
    # routing unchanged by all of this
    snap = snapshot()
    c.check(snap["routing"] == W.base["routing"], "routing unchanged after store failures",
            diff({"routing": W.base["routing"]}, {"routing": snap["routing"]}))
    W.base = snap


# --------------------------------------------------------------------------- current If-Match

def current_if_match():
    g = generation()

    def ok(name, resp, status, g_new):
        st, h, doc = resp
        good = st == status and h.get("etag") == '"%d"' % g_new and generation() == g_new
        c.check(good, "%s -> %d, generation %d" % (name, status, g_new),
                (st, h.get("etag"), json.dumps(doc)[:300]))
        W.base = snapshot()  # the reference for the error cases that follow
        return good

    dep3 = {"id": "dep3", "sha": "d3d3d3d3d3", "targets": [{"address": "127.0.0.1",
                                                            "ports": [W.a.port]}]}
    ok("POST deployment with If-Match W/\"%d\"" % g,
       api("POST", S1 + "/deployments", dep3, headers=[("If-Match", 'W/"%d"' % g)]), 201, g + 1)
    d = wait_state(S1 + "/deployments/dep3", ("healthy",))  # let its health settle
    c.check(d and d.get("state") == "healthy", "dep3 becomes healthy", d)
    W.base = snapshot()
    expect("the generation before is now stale",
           api("DELETE", S1 + "/deployments/dep3", headers=[("If-Match", str(g))]), 412,
           "precondition_failed",
           check=lambda st, h, e: e["details"].get("generation") == g + 1)
    ok("DELETE deployment with If-Match %d" % (g + 1),
       api("DELETE", S1 + "/deployments/dep3", headers=[("If-Match", str(g + 1))]), 204, g + 2)
    resp = api("POST", S1 + "/deployments/dep2/promote", {},
               headers=[("If-Match", '"%d"' % (g + 2))])
    if ok("promote dep2 with If-Match \"%d\"" % (g + 2), resp, 200, g + 3):
        c.check(resp[2].get("active") == "dep2" and resp[2].get("previous") == "dep1",
                "promote answer names active and previous", resp[2])
    stable = "shop-web-%s.%s" % (W.nanoid["shop/web"], DOMAIN)
    c.check(route(stable) == (200, "b"), "stable host now routes to dep2 (backend b)",
            route(stable))
    ok("PUT targets with If-Match *",
       api("PUT", S1 + "/deployments/dep1/targets",
           {"targets": [{"address": "127.0.0.1", "ports": [W.a.port]}]},
           headers=[("If-Match", "*")]), 200, g + 4)
    # exactly 1 MiB, valid: the limit is inclusive
    prefix, suffix = b'{"ports":[{"port":8000}],"health":{"interval_ms":200},"pad":"', b'"}'
    exact = prefix + b"a" * (MIB - len(prefix) - len(suffix)) + suffix
    r, _ = send_raw(head("PUT", S1, [("Content-Length", str(MIB)),
                                     ("If-Match", str(g + 4))]) + exact)
    ok("PUT service, valid body of exactly 1 MiB, If-Match %d" % (g + 4), resp_tuple(r), 200,
       g + 5)
    W.base = snapshot()


# --------------------------------------------------------------------------- kill -9, corrupt

def durability():
    e = W.edge
    st, _, doc = api("PUT", "/v1/services/durable/prod/svc", {"ports": [{"port": 8000}]})
    g = doc.get("generation") if isinstance(doc, dict) else None
    nanoid = doc.get("nanoid") if isinstance(doc, dict) else None
    os.kill(e.pid, signal.SIGKILL)  # right after the answer
    try:
        e.proc.wait(5)
    except subprocess.TimeoutExpired:
        pass
    c.check(st == 201 and nanoid, "acknowledged create before kill -9", (st, doc))
    on_disk = read_bytes(state_path())
    try:
        disk = json.loads(on_disk)
    except (ValueError, TypeError):
        disk = {}
    c.check(disk.get("generation") == g and
            (disk.get("services", {}).get("durable/prod/svc") or {}).get("nanoid") == nanoid,
            "state file holds the acknowledged write after kill -9", disk.get("generation"))
    before = json.loads(W.base["services"][1])
    start_edge(e)
    st, _, doc = api("GET", "/v1/services/durable/prod/svc")
    if not c.check(st == 200 and doc.get("nanoid") == nanoid, "after restart: the write is "
                   "there, same nanoid", (st, doc)):
        E.log("edge alive: %s; stderr tail:\n%s" % (e.alive(), e.stderr_text()[-2000:]))
    c.check(generation() == g, "after restart: same generation", (generation(), g))
    st, _, all_ = api("GET", "/v1/services")
    exp = structure(before)
    got = [s for s in structure(all_) if s[0] != "durable"]
    c.check(got == exp, "after restart: every other service as before", (got, exp))
    c.check(read_bytes(state_path()) == on_disk, "a restart does not rewrite the state file")
    stable = "shop-web-%s.%s" % (W.nanoid["shop/web"], DOMAIN)
    c.check(route(stable) == (200, "b"), "after restart: stable host routes to the active "
            "deployment at once", route(stable))


def corrupt_state():
    e = W.edge
    code = e.stop(timeout=40)
    c.check(code == 0, "edge stops on SIGTERM", code)
    path = state_path()
    good = read_bytes(path)
    prev = read_bytes(state_path("edge.json.prev"))
    with open(path, "r+b") as f:
        f.truncate(len(good) // 2)
    broken = read_bytes(path)
    try:
        p = subprocess.run([E.EDGE_BIN, "--config", e.config_path], cwd=e.tmp.path,
                           capture_output=True, timeout=15)
        rc, out = p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        rc, out = None, "still running after 15 s"
    m = re.search(r"(?:\./)?state/edge\.json:(\d+):(\d+): \S", out)
    c.check(rc == 1, "truncated state file: the edge exits 1", (rc, out[-500:]))
    c.check(m is not None and int(m.group(1)) >= 1 and int(m.group(2)) >= 1,
            "truncated state file: error names PATH:LINE:COL", out[-500:])
    c.check("edge.json.prev" in out, "the error points at PATH.prev (the previous good copy)",
            out[-500:])
    c.check(read_bytes(path) == broken, "truncated state file left byte for byte as it was")
    c.check(read_bytes(state_path("edge.json.prev")) == prev, "edge.json.prev untouched")
    c.check(not os.path.exists(state_path("edge.json.tmp")), "no temp file left behind")
    # restore: the edge starts with the previous state
    with open(path, "wb") as f:
        f.write(good)
    start_edge(e)
    st, _, all_ = api("GET", "/v1/services")
    exp = []
    for key, s in json.loads(good)["services"].items():
        exp.append((s["project"], s["environment"], s["service"], s["nanoid"]))
    got = [(s["project"], s["environment"], s["service"], s["nanoid"])
           for s in (all_ or {}).get("services", [])]
    c.check(st == 200 and sorted(got) == sorted(exp), "restored file: the edge starts with the "
            "previous state (services and nanoids)", (got, exp))
    c.check(generation() == json.loads(good)["generation"], "restored file: same generation",
            generation())
    c.check(read_bytes(path) == good, "restored file not rewritten at start")


# --------------------------------------------------------------------------- main

def main():
    E.require_edge()
    t0 = time.monotonic()
    with E.Backend("a") as a, E.Backend("b") as b, E.Backend("c") as cc:
        W.a, W.b, W.c = a, b, cc
        # A new snapshot after every commit, so that state/edge.json always holds the
        # whole state and the checks below can compare its bytes (the journal between
        # snapshots is covered by test_store and by orchestrator_flow's restart).
        cfg = E.edge_config([], domain=DOMAIN, state={"compact_after": "1"})
        with E.Edge(cfg) as edge:
            W.edge = edge
            start_edge(edge)
            c.section("setup", setup)
            if W.base is None:
                return c.summary()
            c.section("401 unauthorized", unauthorized)
            c.section("400 invalid_json", invalid_json)
            c.section("400 invalid_field", invalid_fields)
            c.section("400 invalid_name", invalid_names)
            c.section("404 not_found", not_found)
            c.section("405 method_not_allowed", not_allowed)
            c.section("409 conflict", conflicts)
            c.section("412 precondition_failed", stale_writes)
            c.section("413 payload_too_large", too_large)
            c.section("malformed HTTP", malformed)
            c.section("500 store_failed", store_failure)
            c.section("writes with the current generation", current_if_match)
            c.section("kill -9 after an acknowledged write", durability)
            c.section("corrupt state file", corrupt_state)
            c.check(edge.alive(), "edge running at the end")
    E.log("elapsed %.1fs" % (time.monotonic() - t0))
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
