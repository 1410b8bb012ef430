#!/usr/bin/python3
"""tls_cert_watch: a certificate published into tls.certs_dir serves without a SIGHUP.

The edge watches certs_dir (inotify) and reloads the store once writes settle (500 ms).
Checks, each with a bounded wait:
  - a new pair copied in (atomically: dot-file, then rename) serves its name;
  - half a pair (the .crt alone) breaks nothing: the name keeps its current certificate
    and the error is logged; when the .key follows, the new certificate serves;
  - a renewed certificate replacing a file serves new handshakes, while a connection
    opened before keeps working with the old one;
  - a file made unreadable garbage keeps its previous certificate serving.
"""
import os
import shutil
import sys
import time

import edgetest as E

c = E.Checker("tls_cert_watch")
NAME = "watch.hostess.localhost"


def publish(src, dst_dir, name):
    """Copies src to dst_dir/name the way a careful writer does: temp dot-file, rename."""
    tmp = os.path.join(dst_dir, "." + name + ".tmp")
    shutil.copy(src, tmp)
    os.replace(tmp, os.path.join(dst_dir, name))


def served(edge, sni, certs):
    s = E.s_client(edge.https_port, sni, cafile=certs.ca)
    return s.cert["sha256"] if s.handshake and s.cert else None


def wait_served(edge, sni, certs, want, timeout=5.0):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = served(edge, sni, certs)
        if got == want:
            return True, got
        time.sleep(0.2)
    return False, got


def fingerprint(path):
    with open(path, "rb") as f:
        return E.cert_info(f.read())["sha256"]


def main():
    E.require_edge()
    with E.TempDir() as tmp, E.Backend("a") as be:
        certs = E.Certs(tmp.path)
        certs.make("default.test", stem="default")
        staged = os.path.join(tmp.path, "staged")
        exact_crt, exact_key = certs.make(NAME, stem="watch", outdir=staged)
        renewed = os.path.join(tmp.path, "renewed")
        new_crt, new_key = certs.make(NAME, stem="watch", outdir=renewed)
        cfg = E.edge_config({NAME: [E.target(be)]}, tls={"certs_dir": certs.certs_dir},
                            http_mode="proxy")
        with E.Edge(cfg) as edge:
            dflt = fingerprint(os.path.join(certs.certs_dir, "default.crt"))
            c.check(served(edge, NAME, certs) is None or served(edge, NAME, certs) == dflt,
                    "before: the name has no certificate of its own")

            publish(exact_crt, certs.certs_dir, "watch.crt")
            time.sleep(1.5)  # past the settle time: the lone .crt was looked at
            c.check(served(edge, NAME, certs) != fingerprint(exact_crt),
                    "a lone .crt does not serve (its key is missing)")
            deadline = time.monotonic() + 5
            logged = False
            while time.monotonic() < deadline and not logged:
                logged = "no watch.key beside it" in edge.stderr_text()
                time.sleep(0.1)
            c.check(logged, "the missing key is reported in the log")
            publish(exact_key, certs.certs_dir, "watch.key")
            ok, got = wait_served(edge, NAME, certs, fingerprint(exact_crt))
            c.check(ok, "the completed pair serves its name without a SIGHUP", got)

            ctx = E.tls_context(certs.ca)
            with E.Client(edge.https_port, tls=ctx, sni=NAME) as old:
                r = old.request("GET", "/echo", NAME)
                c.check(r.status == 200, "a connection opened before the renewal", r.status)
                publish(new_key, certs.certs_dir, "watch.key.new")  # not a pair name: ignored
                os.replace(os.path.join(certs.certs_dir, "watch.key.new"),
                           os.path.join(certs.certs_dir, "watch.key"))
                publish(new_crt, certs.certs_dir, "watch.crt")
                ok, got = wait_served(edge, NAME, certs, fingerprint(new_crt))
                c.check(ok, "the renewed certificate serves new handshakes", got)
                r = old.request("GET", "/echo", NAME)
                c.check(r.status == 200, "the connection opened before keeps working", r.status)

            reloads = edge.stderr_text().count("changed: reloading")
            with open(os.path.join(certs.certs_dir, ".garbage.tmp"), "w") as f:
                f.write("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
            os.replace(os.path.join(certs.certs_dir, ".garbage.tmp"),
                       os.path.join(certs.certs_dir, "watch.crt"))
            deadline = time.monotonic() + 5
            while (time.monotonic() < deadline and
                   edge.stderr_text().count("changed: reloading") <= reloads):
                time.sleep(0.1)
            c.check(edge.stderr_text().count("changed: reloading") > reloads,
                    "the broken file was looked at")
            c.check(served(edge, NAME, certs) == fingerprint(new_crt),
                    "a broken file keeps the certificate loaded from it before")
            c.check(edge.alive(), "edge still running")
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
