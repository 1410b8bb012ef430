#!/usr/bin/python3
"""tls_termination: users reach their apps over HTTPS through the edge.

Real clients only: curl over TLS (--http1.1, --cacert), openssl s_client, python's ssl.
Certificates come from deploy/mkcerts.sh (a local CA in the test's temp dir).

- SNI picks the exact certificate, else the one-label wildcard, else the default (checked
  on the SAN/subject that came back); ECDSA when the client can, RSA otherwise
- ALPN: http/1.1 negotiated; only-unknown protocols get no_application_protocol;
  acme-tls/1 is refused (no challenge certificate installed)
- TLS 1.0/1.1 and weak ciphers refused; TLS 1.2 and 1.3 accepted
- session tickets: resumption on every try across both workers; session_tickets: false
  resumes nothing
- a silent or half-sent handshake is closed after timeouts.handshake
- 421 for a generated host without SNI, or whose Host the served certificate does not
  cover; HSTS for generated hosts (generated value), custom hosts (custom value or none),
  never over plain HTTP, never added when the upstream sent its own
- streaming over TLS: 64 MiB both ways, chunked, SSE, WebSocket
- the end of a connection: after a complete response on a closing connection (Connection:
  close, HTTP/1.0, an edge error page, a large body) the edge sends close_notify; after a
  response cut short by the upstream it does not (the client must see a truncation)
- garbage on the HTTPS port is closed; the edge keeps serving
- port 80: 308 to https://HOST:PORT/path?query, ACME http-01 tokens from the control API
  answered (unknown 404), a request with a body gets 308 and close
- certificate hot swap + SIGHUP under continuous handshakes: zero failures, new
  handshakes see the new certificate, connections opened before keep working; a broken
  file keeps the previous certificate; default_cert/default_key and X.pem files
- the edge never logs a sanitizer report
"""
import hashlib
import json
import os
import random
import re
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

import edgetest as E

c = E.Checker("tls_termination")

DOMAIN = "hostess.localhost"
HOST_DUAL = "dual.hostess.localhost"   # an ECDSA and an RSA certificate
HOST_RSA = "rsa.hostess.localhost"     # an RSA certificate only
HOST_STS = "sts.hostess.localhost"     # upstream sends its own Strict-Transport-Security
HOST_CUSTOM = "shop.example.test"      # a custom (not generated) host with its own cert
DEFAULT_NAME = "edge-default.test"     # the SAN of the default certificate
HSTS_GENERATED = "max-age=31536000"    # the documented default for generated hosts


def make_certs(certs):
    """The certificates of the main edge; returns {label: cert_info}."""
    made = {
        "default": certs.make(DEFAULT_NAME, stem="default"),
        "wildcard": certs.make("*." + DOMAIN),
        "api": certs.make(E.HOST_B),
        "dual-ec": certs.make(HOST_DUAL, stem="dual-ec"),
        "dual-rsa": certs.make(HOST_DUAL, rsa=True, stem="dual-rsa"),
        "rsa": certs.make(HOST_RSA, rsa=True, stem="rsa-only"),
        "custom": certs.make(HOST_CUSTOM),
    }
    return {k: E.file_cert_info(crt) for k, (crt, key) in made.items()}


def routes(a, sts):
    hosts = [E.HOST_A, E.HOST_B, HOST_DUAL, HOST_RSA, HOST_CUSTOM, "deep.app." + DOMAIN]
    r = [{"host": h, "targets": [E.target(a)]} for h in hosts]
    r.append({"host": HOST_STS, "targets": [E.target(sts)]})
    return r


def sanitizer_clean(edge, what):
    text = edge.stderr_text()
    bad = [ln for ln in text.splitlines()
           if "AddressSanitizer" in ln or "runtime error:" in ln or "LeakSanitizer" in ln]
    c.check(not bad, "%s: no sanitizer report in the edge's log" % what, bad[:5])


def stop_clean(edge, what):
    """SIGTERM: the edge drains and exits 0; at exit LeakSanitizer (in the ASan build)
    reports any leak, which sanitizer_clean() then finds."""
    code = edge.stop(timeout=40)
    c.check(code == 0, "%s: exits 0 on SIGTERM" % what, code)
    sanitizer_clean(edge, what)


def get_req(host, path="/echo", rid=None, close=True):
    lines = ["GET %s HTTP/1.1" % path, "Host: " + host]
    if rid:
        lines.append("X-Request-Id: " + rid)
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_of(out):
    m = re.search(r"^HTTP/1\.1 (\d{3})", out, re.M)
    return int(m.group(1)) if m else None


def hdrs_of(data, name):
    return [v for k, v in data["headers"] if k.lower() == name.lower()]


# --------------------------------------------------------------------------- certificates

def sni_selection(edge, certs, info):
    port = edge.https_port
    cases = [
        (E.HOST_B, "api", "exact name -> its own certificate"),
        ("API.Hostess.LocalHost", "api", "exact name, other case -> its own certificate"),
        (E.HOST_A, "wildcard", "one label under the wildcard -> wildcard"),
        ("anything." + DOMAIN, "wildcard", "another label under the wildcard -> wildcard"),
        ("deep.app." + DOMAIN, "default", "two labels under the wildcard -> default"),
        (DOMAIN, "default", "the wildcard's parent itself -> default"),
        ("unknown.example", "default", "unknown name -> default"),
        (None, "default", "no SNI -> default"),
        (HOST_CUSTOM, "custom", "custom host -> its own certificate"),
        (HOST_RSA, "rsa", "name with only an RSA certificate -> RSA"),
    ]
    for sni, want, what in cases:
        r = E.s_client(port, sni, ["-alpn", "http/1.1"])
        got = r.cert
        ok = got is not None and got["sha256"] == info[want]["sha256"]
        c.check(ok, "SNI %s: %s (SAN %s)" % (sni, what, info[want]["sans"]),
                (got and (got["sans"], got["subject"], got["key"])) or r)
    # python ssl verifying against the CA (hostname check included)
    ctx = E.tls_context(certs.ca)
    for sni, want in [(E.HOST_A, "wildcard"), (E.HOST_B, "api"), (HOST_CUSTOM, "custom")]:
        try:
            r, got = E.tls_get(port, sni, sni, "/echo", ctx)
            c.check(r.status == 200 and got["sha256"] == info[want]["sha256"],
                    "python ssl, SNI %s: verified %s certificate, 200" % (sni, want),
                    (r.status, got["sans"]))
        except (OSError, ssl.SSLError) as e:
            c.check(False, "python ssl, SNI %s: verified handshake" % sni, repr(e))
    # curl --cacert: verifies chain and name
    for host in (E.HOST_A, E.HOST_B, HOST_CUSTOM):
        r = E.curl(port, "/echo", host=host, cacert=certs.ca, args=["--http1.1"])
        c.check(r.rc == 0 and r.status == 200 and r.json().get("backend") == "a",
                "curl --cacert https://%s/echo -> 200 from the backend" % host, r)


def key_type_selection(edge, certs, info):
    port = edge.https_port
    for proto in ("-tls1_3", "-tls1_2"):
        r = E.s_client(port, HOST_DUAL, [proto])
        c.check(r.cert is not None and r.cert["sha256"] == info["dual-ec"]["sha256"],
                "%s client offering ECDSA gets the ECDSA certificate" % proto,
                (r.cert and r.cert["key"]) or r)
        r = E.s_client(port, HOST_DUAL, [proto, "-sigalgs", "RSA-PSS+SHA256:RSA+SHA256"],
                       cafile=certs.ca)
        c.check(r.handshake and r.cert is not None
                and r.cert["sha256"] == info["dual-rsa"]["sha256"],
                "%s client offering only RSA signature algorithms gets the RSA certificate"
                % proto, (r.cert and r.cert["key"]) or r)
    # A TLS 1.2 client whose cipher suites are all ECDHE-RSA cannot use an ECDSA
    # certificate, whatever its signature_algorithms say.
    r = E.s_client(port, HOST_DUAL, ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"],
                   cafile=certs.ca)
    c.check(r.handshake and r.cert is not None and r.cert["key"] == "rsa",
            "TLS 1.2 client offering only ECDHE-RSA suites gets the RSA certificate", r)
    r = E.s_client(port, HOST_RSA, ["-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384"],
                   cafile=certs.ca)
    c.check(r.handshake and r.cipher == "ECDHE-RSA-AES256-GCM-SHA384",
            "RSA-only host: ECDHE-RSA-AES256-GCM-SHA384 negotiated", r)


def default_outside_and_pem(a, tmp):
    """default_cert/default_key name a pair outside certs_dir; an X.pem (chain + key in
    one file) in certs_dir serves its SAN names."""
    certs = E.Certs(os.path.join(tmp.path, "pki2"))
    pcrt, pkey = certs.make("pem." + DOMAIN, stem="pem-src")
    dcrt, dkey = certs.make("outside-default.test", stem="outside",
                            outdir=os.path.join(tmp.path, "pki2-outside"))
    with open(os.path.join(certs.certs_dir, "combined.pem"), "w") as f:
        for p in (pcrt, pkey):
            with open(p) as src:
                f.write(src.read())
    os.remove(pcrt)
    os.remove(pkey)
    want_default = E.file_cert_info(dcrt)
    want_pem = E.file_cert_info(os.path.join(certs.certs_dir, "combined.pem"))
    cfg = E.edge_config({"pem." + DOMAIN: [E.target(a)]}, domain=DOMAIN,
                        tls={"certs_dir": certs.certs_dir, "default_cert": dcrt,
                             "default_key": dkey})
    with E.Edge(cfg) as edge:
        r = E.s_client(edge.https_port, "nothing.example")
        c.check(r.cert is not None and r.cert["sha256"] == want_default["sha256"],
                "default_cert/default_key outside certs_dir serve unknown names", r)
        r = E.curl(edge.https_port, "/echo", host="pem." + DOMAIN, cacert=certs.ca,
                   args=["--http1.1"])
        c.check(r.status == 200, "X.pem (certificate + key in one file) serves its SAN", r)
        got = E.s_client(edge.https_port, "pem." + DOMAIN)
        c.check(got.cert is not None and got.cert["sha256"] == want_pem["sha256"],
                "X.pem: the certificate served is the one in the file", got)
        stop_clean(edge, "default_cert edge")


def openssl(*args, input=None):
    p = subprocess.run([E.OPENSSL] + list(args), capture_output=True, timeout=30, input=input)
    if p.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (args[0], p.stderr.decode(errors="replace")))
    return p.stdout


def chains_and_renewals(a, tmp):
    """What certs_dir holds in real life: a leaf + intermediate chain (clients that trust
    only the root verify it), a renewal placed beside the old file (the later notAfter
    serves), an expired certificate beside a valid one (the valid one serves; an expired
    one alone still serves, with a warning), a passphrase-protected key (skipped, logged,
    the edge keeps serving)."""
    d = os.path.join(tmp.path, "pki-chain")
    certs = E.Certs(d)
    certs.make(DEFAULT_NAME, stem="default")
    cd = certs.certs_dir
    w = lambda name: os.path.join(tmp.path, name)  # noqa: E731 - scratch files
    # intermediate CA under the root, leaf under the intermediate
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", w("int.key"))
    openssl("req", "-new", "-key", w("int.key"), "-subj", "/CN=Hostess Test Intermediate",
            "-out", w("int.csr"))
    with open(w("int.ext"), "w") as f:
        f.write("basicConstraints=critical,CA:true,pathlen:0\n"
                "keyUsage=critical,keyCertSign,cRLSign\n")
    openssl("x509", "-req", "-in", w("int.csr"), "-CA", certs.ca, "-CAkey",
            os.path.join(d, "ca.key"), "-CAcreateserial", "-CAserial", w("ca.srl"), "-days",
            "30", "-sha256", "-extfile", w("int.ext"), "-out", w("int.crt"))
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
            os.path.join(cd, "chain.key"))
    openssl("req", "-new", "-key", os.path.join(cd, "chain.key"), "-subj",
            "/CN=chain." + DOMAIN, "-out", w("leaf.csr"))
    with open(w("leaf.ext"), "w") as f:
        f.write("subjectAltName=DNS:chain.%s\nbasicConstraints=critical,CA:false\n"
                "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n" % DOMAIN)
    openssl("x509", "-req", "-in", w("leaf.csr"), "-CA", w("int.crt"), "-CAkey", w("int.key"),
            "-CAcreateserial", "-CAserial", w("int.srl"), "-days", "30", "-sha256", "-extfile",
            w("leaf.ext"), "-out", w("leaf.crt"))
    with open(os.path.join(cd, "chain.crt"), "w") as f:
        for p in (w("leaf.crt"), w("int.crt")):
            with open(p) as src:
                f.write(src.read())
    # renewals and expiry
    old_r, _ = certs.make("renew." + DOMAIN, stem="renew-a", days=30)
    new_r, _ = certs.make("renew." + DOMAIN, stem="renew-b", days=90)
    old_r2, _ = certs.make("renew2." + DOMAIN, stem="renew2-b", days=30)
    new_r2, _ = certs.make("renew2." + DOMAIN, stem="renew2-a", days=90)
    exp, _ = certs.make("exp." + DOMAIN, stem="exp-a", days=0)
    valid, _ = certs.make("exp." + DOMAIN, stem="exp-b", days=30)
    only_exp, _ = certs.make("expired-only." + DOMAIN, stem="expired-only", days=0)
    # a passphrase-protected key
    _, enc_key = certs.make("enc." + DOMAIN, stem="enc")
    data = openssl("pkey", "-in", enc_key, "-aes256", "-passout", "pass:secret")
    with open(enc_key, "wb") as f:
        f.write(data)
    time.sleep(1.1)  # the days=0 certificates expire the second after they were made
    info = {k: E.file_cert_info(v) for k, v in [("new_r", new_r), ("new_r2", new_r2),
                                                ("valid", valid), ("only_exp", only_exp)]}
    default = E.file_cert_info(os.path.join(cd, "default.crt"))
    hosts = [h + "." + DOMAIN for h in ("chain", "renew", "renew2", "exp", "expired-only",
                                        "enc")]
    cfg = E.edge_config({h: [E.target(a)] for h in hosts}, domain=DOMAIN,
                        tls={"certs_dir": cd})
    with E.Edge(cfg) as edge:
        port = edge.https_port
        ctx = E.tls_context(certs.ca)  # trusts the root only
        try:
            r, got = E.tls_get(port, "chain." + DOMAIN, "chain." + DOMAIN, "/health", ctx)
            c.check(r.status == 200 and got["sans"] == ["chain." + DOMAIN],
                    "leaf + intermediate in X.crt: a client trusting only the root verifies, 200",
                    (r.status, got["sans"]))
        except (OSError, ssl.SSLError) as e:
            c.check(False, "leaf + intermediate: verified by a client trusting the root", repr(e))
        sc = E.s_client(port, "chain." + DOMAIN, ["-showcerts"])
        c.check(sc.out.count("-----BEGIN CERTIFICATE-----") == 2,
                "the chain sent is leaf + intermediate (2 certificates)",
                sc.out.count("-----BEGIN CERTIFICATE-----"))
        for sni, want, what in [("renew." + DOMAIN, "new_r", "renewal in a later-sorting file"),
                                ("renew2." + DOMAIN, "new_r2",
                                 "renewal in an earlier-sorting file"),
                                ("exp." + DOMAIN, "valid", "expired beside valid"),
                                ("expired-only." + DOMAIN, "only_exp",
                                 "only an expired certificate (still served)")]:
            r = E.s_client(port, sni, [])
            c.check(r.cert is not None and r.cert["sha256"] == info[want]["sha256"],
                    "%s: %s -> the right certificate" % (sni, what), r)
        r = E.s_client(port, "enc." + DOMAIN, [])
        c.check(r.cert is not None and r.cert["sha256"] == default["sha256"],
                "passphrase-protected key: its certificate is skipped (default served)", r)
        log = edge.stderr_text()
        c.check("enc.key" in log or "enc.crt" in log, "the encrypted key is reported in the log",
                log[-500:])
        c.check("expired-only" in log, "the expired certificate is warned about", log[-500:])
        stop_clean(edge, "chains edge")


# --------------------------------------------------------------------------- protocol

def alpn(edge, certs):
    port = edge.https_port
    r = E.s_client(port, E.HOST_A, ["-alpn", "http/1.1"], cafile=certs.ca)
    c.check(r.handshake and r.alpn == "http/1.1", "ALPN http/1.1 offered -> http/1.1", r)
    r = E.s_client(port, E.HOST_A, ["-alpn", "h3-none"])
    c.check(not r.handshake and r.alert == "no application protocol",
            "ALPN offering only h3-none -> no_application_protocol alert", r)
    r = E.s_client(port, E.HOST_A, ["-alpn", "foo,bar/2"])
    c.check(not r.handshake and r.alert == "no application protocol",
            "ALPN offering only unknown protocols -> no_application_protocol alert", r)
    r = E.s_client(port, E.HOST_A, [], cafile=certs.ca)
    c.check(r.handshake and r.alpn is None, "no ALPN extension: handshake, nothing negotiated", r)
    r = E.s_client(port, E.HOST_A, ["-alpn", "acme-tls/1"])
    c.check(not r.handshake and r.cert is None,
            "ALPN acme-tls/1 (no challenge certificate installed): handshake refused, no "
            "certificate sent", r)
    r = E.s_client(port, E.HOST_A, ["-alpn", "acme-tls/1,http/1.1"])
    c.check(r.cert is None or r.alpn != "acme-tls/1",
            "ALPN acme-tls/1 next to http/1.1: never answered as acme-tls/1", r)
    # python ssl without ALPN speaks HTTP/1.1
    ctx = E.tls_context(certs.ca, alpn=None)
    try:
        with E.Client(port, tls=ctx, sni=E.HOST_A) as cl:
            neg = cl.sock.selected_alpn_protocol()
            r = cl.request("GET", "/health", E.HOST_A)
        c.check(neg is None and r.status == 200, "client without ALPN gets HTTP/1.1 200",
                (neg, r.status))
    except (OSError, ssl.SSLError) as e:
        c.check(False, "client without ALPN gets HTTP/1.1 200", repr(e))
    r = E.curl(port, "/health", host=E.HOST_A, cacert=certs.ca, args=["--http1.1"])
    c.check(r.status == 200 and r.http_version == "1.1",
            "curl --http1.1 over TLS: HTTP/1.1 200", (r, r.http_version))


def protocols_and_ciphers(edge, certs):
    port = edge.https_port
    for flag, name in [("-tls1_1", "TLS 1.1"), ("-tls1", "TLS 1.0")]:
        r = E.s_client(port, E.HOST_A, [flag, "-cipher", "DEFAULT@SECLEVEL=0"])
        c.check(not r.handshake and r.alert == "protocol version",
                "%s offer refused with a protocol_version alert" % name, r)
    for flag, name in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")]:
        r = E.s_client(port, E.HOST_A, [flag], cafile=certs.ca)
        c.check(r.handshake and r.protocol == name, "%s handshake succeeds" % name, r)
    for cipher in ["AES128-SHA", "AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-SHA",
                   "ECDHE-ECDSA-AES128-SHA256", "DHE-RSA-AES128-GCM-SHA256"]:
        r = E.s_client(port, E.HOST_A, ["-tls1_2", "-cipher", cipher + "@SECLEVEL=0"])
        c.check(not r.handshake and r.alert == "handshake failure",
                "TLS 1.2 weak cipher offer %s refused (handshake_failure)" % cipher, r)
    for cipher in ["AES128-SHA", "ECDHE-RSA-AES128-SHA"]:
        r = E.s_client(port, HOST_RSA, ["-tls1_2", "-cipher", cipher + "@SECLEVEL=0"])
        c.check(not r.handshake, "RSA host: weak TLS 1.2 cipher %s refused" % cipher, r)
    r = E.s_client(port, E.HOST_A, ["-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_SHA256"])
    c.check(not r.handshake, "TLS 1.3 suite outside the profile (AES_128_CCM) refused", r)
    r = E.s_client(port, E.HOST_A, ["-tls1_2", "-curves", "secp521r1"])
    c.check(not r.handshake, "TLS 1.2 offering only the P-521 group refused", r)
    r = E.s_client(port, E.HOST_A, ["-tls1_3", "-groups", "X25519"], cafile=certs.ca)
    c.check(r.handshake, "TLS 1.3 with X25519 accepted", r)
    # python ssl with TLS 1.1 as the ceiling
    ctx = E.tls_context(certs.ca)
    ctx.set_ciphers("DEFAULT@SECLEVEL=0")
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        with E.Client(port, tls=ctx, sni=E.HOST_A):
            refused = False
    except ssl.SSLError as e:
        refused = "VERSION" in str(e).upper()
    except OSError:
        refused = True
    c.check(refused, "python ssl capped at TLS 1.1 is refused")


# --------------------------------------------------------------------------- resumption

def resumption(edge, certs, tmp):
    port = edge.https_port
    for proto, tag in [("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")]:
        sess = os.path.join(tmp.path, "sess-%s.pem" % tag)
        first = E.s_client(port, E.HOST_A, [proto, "-sess_out", sess, "-ign_eof"],
                           data=get_req(E.HOST_A, rid="res-%s-first" % tag), cafile=certs.ca)
        if not c.check(first.handshake and status_of(first.out) == 200 and os.path.exists(sess),
                       "%s: first connection 200, session saved" % tag, first):
            continue
        reused, workers, tries, failures = 0, set(), 0, []
        deadline = time.monotonic() + 60
        while tries < 40 and time.monotonic() < deadline:
            rid = "res-%s-%d" % (tag, tries)
            r = E.s_client(port, E.HOST_A, [proto, "-sess_in", sess, "-ign_eof"],
                           data=get_req(E.HOST_A, rid=rid), cafile=certs.ca)
            tries += 1
            if r.reused and status_of(r.out) == 200:
                reused += 1
            else:
                failures.append(r)
            e = edge.wait_access(lambda x, rid=rid: x.get("request_id") == rid, timeout=3)
            if e is not None:
                workers.add(e.get("worker"))
            if tries >= 10 and len(workers) >= 2:
                break
        c.check(reused == tries and tries >= 10,
                "%s: resumed (\"Reused\") on every one of %d reconnects" % (tag, tries),
                "%d of %d; first failure %r" % (reused, tries, failures[:1]))
        c.check(len(workers) >= 2, "%s: the resumed connections were served by both workers"
                % tag, sorted(map(str, workers)))
    # python ssl: the session has a ticket and is reused across connections
    ctx = E.tls_context(certs.ca)
    try:
        with E.Client(port, tls=ctx, sni=E.HOST_A) as cl:
            r = cl.request("GET", "/health", E.HOST_A)
            sess = cl.sock.session
        ok = []
        for _ in range(6):
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            s = ctx.wrap_socket(raw, server_hostname=E.HOST_A, session=sess)
            ok.append(s.session_reused)
            s.close()
        c.check(r.status == 200 and sess is not None and sess.has_ticket and all(ok),
                "python ssl: session has a ticket and resumes 6 times",
                (r.status, sess and sess.has_ticket, ok))
    except (OSError, ssl.SSLError) as e:
        c.check(False, "python ssl: session resumption", repr(e))


def resumption_other_name(edge, certs, info, tmp):
    """A session made for one server name is not resumed under another (RFC 6066 §3: "MUST
    NOT accept the request to resume the session if the server_name extension contains a
    different name"): the client gets a full handshake and the new name's certificate,
    never a connection for a name whose certificate it was not shown."""
    port = edge.https_port
    for proto, tag in [("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")]:
        f = os.path.join(tmp.path, "xsni-%s.pem" % tag)
        first = E.s_client(port, E.HOST_B, [proto, "-sess_out", f, "-ign_eof"],
                           data=get_req(E.HOST_B), cafile=certs.ca)
        if not c.check(first.handshake and os.path.exists(f), "%s: session for SNI %s"
                       % (tag, E.HOST_B), first):
            continue
        r = E.s_client(port, HOST_CUSTOM, [proto, "-sess_in", f, "-ign_eof"],
                       data=get_req(HOST_CUSTOM), cafile=certs.ca)
        c.check(r.handshake and not r.reused and r.cert is not None
                and r.cert["sha256"] == info["custom"]["sha256"],
                "%s: that session offered with SNI %s -> full handshake, %s's certificate"
                % (tag, HOST_CUSTOM, HOST_CUSTOM),
                "reused=%s cert=%s status=%s" % (r.reused, r.cert and r.cert["sans"],
                                                 status_of(r.out)))
    ctx = E.tls_context(certs.ca, check_hostname=False)
    try:
        with E.Client(port, tls=ctx, sni=HOST_CUSTOM) as cl:
            cl.request("GET", "/health", HOST_CUSTOM)
            sess = cl.sock.session
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        sk = ctx.wrap_socket(raw, server_hostname=E.HOST_A, session=sess)
        reused = sk.session_reused
        got = E.cert_info(sk.getpeercert(True))["sans"]
        sk.close()
        c.check(not reused and got == info["wildcard"]["sans"],
                "python ssl: a %s session offered with SNI %s -> not resumed, wildcard "
                "certificate" % (HOST_CUSTOM, E.HOST_A), (reused, got))
    except (OSError, ssl.SSLError) as e:
        c.check(False, "python ssl: cross-name resumption refused", repr(e))


def handshake_counters(edge):
    with E.Client(edge.control_port) as cl:
        r = cl.request("GET", "/metrics", "127.0.0.1:%d" % edge.control_port,
                       [("Authorization", "Bearer " + edge.token())])
    out = {}
    for m in re.finditer(rb'^hostess_tls_handshakes_total\{result="(\w+)"\} (\d+)', r.body,
                         re.M):
        out[m.group(1).decode()] = int(m.group(2))
    return r.status, out


def metrics_and_log(edge, certs, tmp):
    """Operators see handshakes in /metrics (full, resumed, failed, counted exactly) and
    tls/proto in the access log."""
    port = edge.https_port
    st, before = handshake_counters(edge)
    if not c.check(st == 200 and set(before) >= {"full", "resumed", "failed"},
                   "/metrics has hostess_tls_handshakes_total{result=full|resumed|failed}",
                   (st, before)):
        return
    f = os.path.join(tmp.path, "metrics-sess.pem")
    for i in range(3):
        E.s_client(port, E.HOST_A, ["-tls1_3", "-ign_eof"] + (["-sess_out", f] if i == 0 else []),
                   data=get_req(E.HOST_A, path="/health"), cafile=certs.ca)
    for _ in range(2):
        E.s_client(port, E.HOST_A, ["-tls1_3", "-sess_in", f, "-ign_eof"],
                   data=get_req(E.HOST_A, path="/health"), cafile=certs.ca)
    for _ in range(2):
        E.s_client(port, E.HOST_A, ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"])
    deadline = time.monotonic() + 5
    while True:
        st, after = handshake_counters(edge)
        delta = {k: after.get(k, 0) - before.get(k, 0) for k in ("full", "resumed", "failed")}
        if delta == {"full": 3, "resumed": 2, "failed": 2} or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    c.check(delta == {"full": 3, "resumed": 2, "failed": 2},
            "3 full, 2 resumed and 2 refused handshakes counted as such", delta)
    rid = "log-tls-1"
    r = E.curl(port, "/health", host=E.HOST_A, cacert=certs.ca,
               args=["--http1.1", "-H", "X-Request-Id: " + rid])
    e = edge.wait_access(lambda x: x.get("request_id") == rid, timeout=3)
    c.check(r.status == 200 and e is not None and e.get("tls") is True
            and e.get("proto") == "HTTP/1.1", "access log: an HTTPS request has tls true, "
            "proto HTTP/1.1", e)
    rid = "log-plain-1"
    E.curl(edge.port, "/x", host=E.HOST_A, args=["-H", "X-Request-Id: " + rid])
    e = edge.wait_access(lambda x: x.get("request_id") == rid, timeout=3)
    c.check(e is not None and e.get("tls") is False and e.get("status") == 308,
            "access log: the plain-HTTP redirect has tls false, status 308", e)


def no_tickets(a, certs, tmp):
    cfg = E.edge_config(routes(a, a), domain=DOMAIN,
                        tls={"certs_dir": certs.certs_dir, "session_tickets": False})
    with E.Edge(cfg) as edge:
        port = edge.https_port
        for proto, tag in [("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")]:
            sess = os.path.join(tmp.path, "nt-sess-%s.pem" % tag)
            first = E.s_client(port, E.HOST_A, [proto, "-sess_out", sess, "-ign_eof"],
                               data=get_req(E.HOST_A), cafile=certs.ca)
            c.check(first.handshake and status_of(first.out) == 200,
                    "session_tickets false, %s: first connection 200" % tag, first)
            new = 0
            for i in range(4):
                args = [proto, "-ign_eof"] + (["-sess_in", sess] if os.path.exists(sess) else [])
                r = E.s_client(port, E.HOST_A, args, data=get_req(E.HOST_A), cafile=certs.ca)
                if r.handshake and not r.reused and status_of(r.out) == 200:
                    new += 1
            c.check(new == 4, "session_tickets false, %s: every reconnect is a full handshake"
                    % tag, "%d of 4 full" % new)
        ctx = E.tls_context(certs.ca)
        try:
            with E.Client(port, tls=ctx, sni=E.HOST_A) as cl:
                r = cl.request("GET", "/health", E.HOST_A)
                sess = cl.sock.session
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            s = ctx.wrap_socket(raw, server_hostname=E.HOST_A, session=sess)
            reused = s.session_reused
            s.close()
            c.check(r.status == 200 and not sess.has_ticket and not reused,
                    "session_tickets false: python ssl gets no ticket and no resumption",
                    (r.status, sess.has_ticket, reused))
        except (OSError, ssl.SSLError) as e:
            c.check(False, "session_tickets false: python ssl", repr(e))
        stop_clean(edge, "no-tickets edge")


# --------------------------------------------------------------------------- timeouts, garbage

def handshake_timeout(a, certs):
    # The header timeout is far longer, so only the handshake timeout can close early.
    cfg = E.edge_config(routes(a, a), domain=DOMAIN, tls={"certs_dir": certs.certs_dir},
                        timeouts={"handshake": "1s", "header": "60s", "idle": "60s"})
    with E.Edge(cfg) as edge:
        silent = socket.create_connection(("127.0.0.1", edge.https_port), timeout=10)
        half = socket.create_connection(("127.0.0.1", edge.https_port), timeout=10)
        # the first bytes of a ClientHello record, then nothing
        half.sendall(bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]))
        for s, what in [(silent, "a silent connection"), (half, "a half-sent ClientHello")]:
            deadline = time.monotonic() + 8
            closed = False
            while time.monotonic() < deadline:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    d = s.recv(4096)
                except socket.timeout:
                    break
                except OSError:
                    closed = True
                    break
                if not d:
                    closed = True
                    break
            c.check(closed, "%s on the HTTPS port is closed (handshake 1s, bounded wait 8s)"
                    % what)
            s.close()
        r = E.curl(edge.https_port, "/health", host=E.HOST_A, cacert=certs.ca,
                   args=["--http1.1"])
        c.check(r.status == 200, "a prompt client still gets 200 on that edge", r)
        stop_clean(edge, "handshake-timeout edge")


def timeouts_after_handshake(a, certs):
    """Once TLS is up, the HTTP timeouts hold as on plain HTTP: a head that stops half-way
    gets 408 and close; an idle kept-alive TLS connection is closed."""
    cfg = E.edge_config(routes(a, a), domain=DOMAIN, tls={"certs_dir": certs.certs_dir},
                        timeouts={"handshake": "10s", "header": "1s", "idle": "1s"})
    with E.Edge(cfg) as edge:
        ctx = E.tls_context(certs.ca)
        try:
            with E.Client(edge.https_port, tls=ctx, sni=E.HOST_A, timeout=10) as cl:
                cl.send(b"GET /health HTTP/1.1\r\nHost: " + E.HOST_A.encode() + b"\r\nX-Half: ")
                r = cl.read_response(timeout=8)
                closed = cl.closed_by_peer(5)
            c.check(r.status == 408 and closed,
                    "TLS: a head left half-sent -> 408 and close (header 1s, bounded wait)",
                    (r.status, closed))
        except (OSError, ssl.SSLError) as e:
            c.check(False, "TLS: half-sent head -> 408", repr(e))
        try:
            with E.Client(edge.https_port, tls=ctx, sni=E.HOST_A, timeout=10) as cl:
                r = cl.request("GET", "/health", E.HOST_A)
                closed = cl.closed_by_peer(8)
            c.check(r.status == 200 and closed,
                    "TLS: an idle kept-alive connection is closed (idle 1s, bounded wait)",
                    (r.status, closed))
        except (OSError, ssl.SSLError) as e:
            c.check(False, "TLS: idle keep-alive closed", repr(e))
        stop_clean(edge, "timeouts edge")


def https_off(a, certs):
    """listen.https: off next to a tls section: no HTTPS listener, and the plain listener
    proxies (http_mode defaults to proxy without HTTPS), without HSTS."""
    cfg = E.edge_config(routes(a, a), domain=DOMAIN, tls={"certs_dir": certs.certs_dir})
    cfg["listen"]["https"] = "off"
    with E.Edge(cfg) as edge:
        r = E.curl(edge.port, "/echo", host=E.HOST_A)
        c.check(r.status == 200 and r.header("strict-transport-security") is None,
                "listen.https off: plain HTTP proxied (200), no HSTS", (r.status, r.headers))
        log = edge.stderr_text()
        c.check("(https)" not in log, "listen.https off: no HTTPS listener in the log",
                [ln for ln in log.splitlines() if "listening" in ln])
        stop_clean(edge, "https-off edge")


def port_443(a, certs):
    """With the HTTPS listener on port 443 the redirect omits the port. Needs 127.0.0.1:443
    free (checked; said so when it is not)."""
    try:
        probe = socket.socket()
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", 443))
        probe.close()
    except OSError as e:
        E.log("    127.0.0.1:443 is not free (%s): the :443 case is not checked" % e)
        return
    cfg = E.edge_config(routes(a, a), domain=DOMAIN, tls={"certs_dir": certs.certs_dir},
                        listen={"https": "127.0.0.1:443"})
    with E.Edge(cfg) as edge:
        r = E.http(edge.port, "GET", "/p?q=1", E.HOST_A + ":%d" % edge.port)
        c.check(r.status == 308 and r.header("location") == "https://%s/p?q=1" % E.HOST_A,
                "HTTPS on port 443: Location https://HOST/path?query without a port",
                (r.status, r.header("location")))
        r = E.curl(443, "/health", host=E.HOST_A, cacert=certs.ca, args=["--http1.1"])
        c.check(r.status == 200, "HTTPS on 127.0.0.1:443 serves", r)
        stop_clean(edge, "port-443 edge")


def sni_oddities(edge, certs, info):
    port = edge.https_port
    cases = [
        (E.HOST_B + ".", "api", "exact name with a trailing dot -> its certificate"),
        ("127.0.0.1", "default", "an IP literal as SNI -> default"),
        ("a" * 63 + "." + "b" * 63 + "." + "c" * 63 + ".hostess.localhost", "default",
         "a 210-character name -> default"),
        ("xn--bcher-kva." + DOMAIN, "wildcard", "an A-label under the wildcard -> wildcard"),
        ("under_score." + DOMAIN, "wildcard", "a label with an underscore -> wildcard"),
    ]
    for sni, want, what in cases:
        r = E.s_client(port, sni, [])
        c.check(r.cert is not None and r.cert["sha256"] == info[want]["sha256"],
                "SNI %s: %s" % (sni[:40], what), r)
    c.check(edge.alive(), "edge alive after odd SNI names")


def garbage(edge, certs):
    port = edge.https_port
    rnd = random.Random(4)
    junk = bytes([0]) + bytes(rnd.getrandbits(8) for _ in range(100000))
    cases = [
        ("plain HTTP request", get_req(E.HOST_A, path="/health")),
        ("100 KB of random bytes", junk),
        ("SSLv2-style hello", bytes.fromhex("8046010301002d0000001000") + b"\x00" * 60),
        ("TLS record of an unknown content type", bytes([0x42, 0x03, 0x03, 0x00, 0x05])
         + b"hello"),
        ("TLS handshake record that is not a ClientHello",
         bytes([0x16, 0x03, 0x03, 0x00, 0x08, 0x0b, 0x00, 0x00, 0x04]) + b"\x00" * 4),
    ]
    for what, data in cases:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        got = bytearray()
        closed = False
        try:
            try:
                s.sendall(data)
            except OSError:
                pass
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    d = s.recv(65536)
                except socket.timeout:
                    break
                except OSError:
                    closed = True
                    break
                if not d:
                    closed = True
                    break
                got += d
        finally:
            s.close()
        c.check(closed and not got.startswith(b"HTTP/1.1 2"),
                "%s on the HTTPS port: closed, nothing served" % what,
                (closed, bytes(got[:40])))
    c.check(edge.alive(), "edge alive after garbage on the HTTPS port")
    r = E.curl(port, "/health", host=E.HOST_A, cacert=certs.ca, args=["--http1.1"])
    c.check(r.status == 200, "HTTPS still serves after the garbage", r)
    r = E.curl(edge.port, "/health", host=E.HOST_A)
    c.check(r.status == 308, "the HTTP port still answers after the garbage", r)


# --------------------------------------------------------------------------- HTTP rules

def misdirected(edge, certs, info):
    port = edge.https_port
    noverify = E.tls_context(verify=False)
    ca_nohost = E.tls_context(certs.ca, check_hostname=False)
    cases = [
        (None, E.HOST_A, 421, "generated host without SNI -> 421"),
        (None, HOST_CUSTOM, 200, "custom host without SNI -> 200"),
        (E.HOST_B, E.HOST_A, 421, "SNI api (exact cert, not covering app), Host app -> 421"),
        ("deep.app." + DOMAIN, E.HOST_A, 421,
         "SNI served by the default cert, Host app -> 421"),
        (E.HOST_A, E.HOST_B, 200, "SNI app (wildcard cert), Host api (covered) -> 200"),
        (E.HOST_A, E.HOST_A + ":443", 200, "Host with a port matching SNI -> 200"),
        (E.HOST_A, "APP.HOSTESS.LOCALHOST", 200, "Host in upper case -> 200"),
        (HOST_CUSTOM, E.HOST_A, 421, "SNI custom host (cert not covering app), Host app -> 421"),
    ]
    for sni, host, want, what in cases:
        ctx = noverify if sni is None else ca_nohost
        try:
            r, got = E.tls_get(port, sni, host, "/echo", ctx)
        except (OSError, ssl.SSLError) as e:
            c.check(False, what, repr(e))
            continue
        c.check(r.status == want, what, (r.status, r.body[:100]))
    # on one connection: a covered host, then an uncovered one, then a covered one again
    try:
        with E.Client(port, tls=ca_nohost, sni=E.HOST_B) as cl:
            s1 = cl.request("GET", "/echo", E.HOST_B).status
            s2 = cl.request("GET", "/echo", E.HOST_A).status
            s3 = None if cl.reader.eof else cl.request("GET", "/echo", E.HOST_B).status
        c.check(s1 == 200 and s2 == 421 and s3 in (200, None),
                "same connection: covered 200, uncovered 421 (then 200 or closed)", (s1, s2, s3))
    except (OSError, ssl.SSLError) as e:
        c.check(False, "421 on a kept-alive connection", repr(e))
    r = E.curl(port, "/echo", host="nope." + DOMAIN, cacert=certs.ca, args=["--http1.1"])
    c.check(r.status == 404, "unknown generated host over TLS (wildcard cert) -> 404", r)


def hsts(edge, certs, a, sts):
    port = edge.https_port
    r = E.curl(port, "/echo", host=E.HOST_A, cacert=certs.ca, args=["--http1.1"])
    got = [v for k, v in r.headers if k.lower() == "strict-transport-security"]
    c.check(r.status == 200 and got == [HSTS_GENERATED],
            "generated host over HTTPS: Strict-Transport-Security: %s" % HSTS_GENERATED, got)
    r = E.curl(port, "/echo", host=HOST_CUSTOM, cacert=certs.ca, args=["--http1.1"])
    got = [v for k, v in r.headers if k.lower() == "strict-transport-security"]
    c.check(r.status == 200 and got == [], "custom host (custom: off by default): no HSTS", got)
    r = E.curl(port, "/", host=HOST_STS, cacert=certs.ca, args=["--http1.1"])
    got = [v for k, v in r.headers if k.lower() == "strict-transport-security"]
    c.check(r.status == 200 and got == ["max-age=5"],
            "upstream's own Strict-Transport-Security kept, none added", got)
    r = E.curl(port, "/status?code=404", host=E.HOST_A, cacert=certs.ca, args=["--http1.1"])
    got = [v for k, v in r.headers if k.lower() == "strict-transport-security"]
    c.check(r.status == 404 and got == [HSTS_GENERATED], "HSTS also on an upstream 404", got)

    cfg = E.edge_config(routes(a, sts), domain=DOMAIN, http_mode="proxy",
                        tls={"certs_dir": certs.certs_dir,
                             "hsts": {"generated": "off", "custom": "max-age=60; preload"}})
    with E.Edge(cfg) as e2:
        r = E.curl(e2.https_port, "/echo", host=E.HOST_A, cacert=certs.ca, args=["--http1.1"])
        got = [v for k, v in r.headers if k.lower() == "strict-transport-security"]
        c.check(r.status == 200 and got == [], "hsts.generated off: no HSTS for a generated host",
                got)
        r = E.curl(e2.https_port, "/echo", host=HOST_CUSTOM, cacert=certs.ca,
                   args=["--http1.1"])
        got = [v for k, v in r.headers if k.lower() == "strict-transport-security"]
        c.check(r.status == 200 and got == ["max-age=60; preload"],
                "hsts.custom set: custom host gets that value", got)
        # http_mode proxy: the plain listener proxies, and never sends HSTS
        for host in (E.HOST_A, HOST_CUSTOM):
            r = E.curl(e2.port, "/echo", host=host)
            got = [v for k, v in r.headers if k.lower() == "strict-transport-security"]
            c.check(r.status == 200 and got == [],
                    "http_mode proxy: plain HTTP to %s proxied (200) without HSTS" % host,
                    (r.status, got))
            if r.status == 200:
                c.check(hdrs_of(r.json(), "x-forwarded-proto") == ["http"],
                        "plain HTTP request forwarded with X-Forwarded-Proto: http",
                        hdrs_of(r.json(), "x-forwarded-proto"))
        stop_clean(e2, "hsts/proxy edge")


def forwarded_proto(edge, certs):
    r = E.curl(edge.https_port, "/echo", host=E.HOST_A, cacert=certs.ca, args=["--http1.1"],
               )
    if c.check(r.status == 200, "HTTPS /echo", r):
        d = r.json()
        c.check(hdrs_of(d, "x-forwarded-proto") == ["https"],
                "request over TLS forwarded with X-Forwarded-Proto: https",
                hdrs_of(d, "x-forwarded-proto"))
        c.check(d["version"] == "HTTP/1.1" and d["method"] == "GET",
                "upstream request is HTTP/1.1", d["version"])


def read_to_end(sock, timeout=5.0):
    """Everything the edge sends until it ends the connection, and how it ended it:
    "close_notify" (a clean TLS end), "cut" (TCP closed without close_notify: needs a
    socket wrapped with suppress_ragged_eofs=False) or "open" (nothing more in time)."""
    data = bytearray()
    deadline = time.monotonic() + timeout
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            d = sock.recv(65536)
        except ssl.SSLZeroReturnError:
            return bytes(data), "close_notify"
        except ConnectionResetError:
            return bytes(data), "cut"
        except ssl.SSLError as e:
            if isinstance(e, ssl.SSLEOFError) or e.reason == "UNEXPECTED_EOF_WHILE_READING":
                return bytes(data), "cut"
            raise
        except socket.timeout:
            return bytes(data), "open"
        if not d:
            return bytes(data), "close_notify"
        data += d


def connection_end(edge, certs):
    ctx = E.tls_context(certs.ca)
    # Debian's python3 turns OpenSSL's OP_IGNORE_UNEXPECTED_EOF on, which reports a TCP
    # close without close_notify as a clean end: the very difference checked here.
    ctx.options &= ~getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)

    def exchange(request, timeout=5.0):
        raw = socket.create_connection(("127.0.0.1", edge.https_port), timeout=10)
        sock = ctx.wrap_socket(raw, server_hostname=E.HOST_A, suppress_ragged_eofs=False)
        try:
            sock.sendall(request)
            return read_to_end(sock, timeout)
        finally:
            sock.close()

    def complete(data):
        head, _, body = data.partition(b"\r\n\r\n")
        m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
        return m is not None and len(body) == int(m.group(1)), head.split(b"\r\n")[0]

    n = 300000  # several records: the last leaves after the first writes completed
    cases = [
        (E.build_request("GET", "/echo", E.HOST_A, [("Connection", "close")]),
         "Connection: close"),
        (E.build_request("GET", "/echo", E.HOST_A, version="HTTP/1.0"), "HTTP/1.0"),
        (E.build_request("GET", "/", "nobody.example.test", [("Connection", "close")]),
         "an edge error page (unknown host) with Connection: close"),
        (E.build_request("GET", "/bytes?n=%d" % n, E.HOST_A, [("Connection", "close")]),
         "a %d-byte body with Connection: close" % n),
    ]
    for req, what in cases:
        data, end = exchange(req)
        ok, status = complete(data)
        c.check(ok, "%s: complete response" % what, (status, len(data)))
        c.check(end == "close_notify", "%s: then close_notify" % what, end)
    data, end = exchange(E.build_request("GET", "/truncate?mode=length", E.HOST_A,
                                         [("Connection", "close")]))
    ok, status = complete(data)
    c.check(status.startswith(b"HTTP/1.1 200") and not ok,
            "upstream cut mid-body: the client gets part of the body", (status, len(data)))
    c.check(end == "cut", "upstream cut mid-body: no close_notify (a truncation shows)", end)
    data, end = exchange(E.build_request("GET", "/echo", E.HOST_A), timeout=1.0)
    c.check(complete(data)[0] and end == "open",
            "keep-alive: complete response, connection stays open", (len(data), end))


def h2_statuses(port, sni, authorities, ctx, path="/echo", timeout=10.0):
    """One TLS connection with ALPN h2 (SNI sni), one GET stream per :authority, in order;
    returns ([status or None], {status: headers} of the last of each). python3-h2."""
    import h2.config
    import h2.connection
    import h2.events
    cl = E.Client(port, tls=ctx, sni=sni, timeout=timeout)
    sock = cl.sock
    try:
        if sock.selected_alpn_protocol() != "h2":
            return None, sock.selected_alpn_protocol()
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        sids = []
        for a in authorities:
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, [(":method", "GET"), (":scheme", "https"),
                                    (":authority", a), (":path", path)], end_stream=True)
            sids.append(sid)
        sock.sendall(conn.data_to_send())
        status, heads, done = {}, {}, set()
        deadline = time.monotonic() + timeout
        while len(done) < len(sids) and time.monotonic() < deadline:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = sock.recv(65536)
            except (socket.timeout, ssl.SSLError, OSError):
                break
            if not data:
                break
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    hd = {k.decode(): v.decode() for k, v in ev.headers}
                    status[ev.stream_id] = int(hd[":status"])
                    heads[int(hd[":status"])] = hd
                elif isinstance(ev, h2.events.DataReceived):
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                    done.add(ev.stream_id)
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    done.update(sids)
            out = conn.data_to_send()
            if out:
                sock.sendall(out)
        return [status.get(sid) for sid in sids], heads
    finally:
        cl.close()


def tls_and_h2(edge, certs, a):
    """Where TLS meets HTTP/2: on one h2 connection (which browsers reuse for every host
    its certificate covers), a covered :authority is served and an uncovered one gets
    421; HSTS rides on h2 too; tls.http2: false takes h2 out of ALPN."""
    port = edge.https_port
    ctx = E.tls_context(certs.ca, alpn=("h2", "http/1.1"))
    st, heads = h2_statuses(port, E.HOST_A, [E.HOST_A, E.HOST_B, HOST_CUSTOM, E.HOST_A], ctx)
    if not c.check(st is not None, "ALPN h2,http/1.1 -> h2", heads):
        return
    c.check(st == [200, 200, 421, 200],
            "h2, SNI app (wildcard cert): app 200, api 200 (covered), shop.example.test 421, "
            "app again 200 on the same connection", st)
    c.check(heads.get(200, {}).get("strict-transport-security") == HSTS_GENERATED,
            "h2: HSTS on a generated host's response", heads.get(200))
    st, _ = h2_statuses(port, E.HOST_B, [E.HOST_B, E.HOST_A], ctx)
    c.check(st == [200, 421], "h2, SNI api (exact cert): api 200, app 421", st)
    cfg = E.edge_config(routes(a, a), domain=DOMAIN,
                        tls={"certs_dir": certs.certs_dir, "http2": False})
    with E.Edge(cfg) as e2:
        r = E.s_client(e2.https_port, E.HOST_A, ["-alpn", "h2,http/1.1"], cafile=certs.ca)
        c.check(r.handshake and r.alpn == "http/1.1", "tls.http2 false: h2,http/1.1 -> http/1.1",
                r)
        r = E.s_client(e2.https_port, E.HOST_A, ["-alpn", "h2"])
        c.check(not r.handshake and r.alert == "no application protocol",
                "tls.http2 false: an h2-only client gets no_application_protocol", r)
        stop_clean(e2, "http2-off edge")


# --------------------------------------------------------------------------- streaming

def pattern_sha(n):
    h = hashlib.sha256()
    left = n
    while left > 0:
        piece = E.PATTERN if left >= len(E.PATTERN) else E.PATTERN[:left]
        h.update(piece)
        left -= len(piece)
    return h.hexdigest()


def streaming(edge, certs, tmp):
    port = edge.https_port
    n = 64 << 20
    up = os.path.join(tmp.path, "upload.bin")
    h = hashlib.sha256()
    with open(up, "wb") as f:
        for _ in range(n // (1 << 20)):
            b = os.urandom(1 << 20)
            h.update(b)
            f.write(b)
    r = E.curl(port, "/upload", host=E.HOST_A, cacert=certs.ca, timeout=120,
               args=["--http1.1", "--data-binary", "@" + up, "-H",
                     "Content-Type: application/octet-stream"])
    d = r.json() if r.status == 200 else {}
    c.check(d.get("len") == n and d.get("sha256") == h.hexdigest(),
            "64 MiB upload over TLS arrives intact", (r.status, d))
    os.remove(up)
    down = os.path.join(tmp.path, "download.bin")
    for mode in ("length", "chunked"):
        r = E.curl(port, "/bytes?n=%d&mode=%s" % (n, mode), host=E.HOST_A, cacert=certs.ca,
                   timeout=120, body_to=down, args=["--http1.1"])
        got = hashlib.sha256()
        size = 0
        if os.path.exists(down):
            with open(down, "rb") as f:
                while True:
                    b = f.read(1 << 20)
                    if not b:
                        break
                    size += len(b)
                    got.update(b)
            os.remove(down)
        c.check(r.status == 200 and size == n and got.hexdigest() == pattern_sha(n),
                "64 MiB %s download over TLS intact" % mode, (r.status, size))

    ctx = E.tls_context(certs.ca)
    # keep-alive: several requests, different framings, on one TLS connection
    try:
        with E.Client(port, tls=ctx, sni=E.HOST_A, timeout=20) as cl:
            res = []
            for path in ("/health", "/bytes?n=300000&mode=chunked", "/bytes?n=300000&mode=close",
                         "/status?code=204", "/echo"):
                rr = cl.request("GET", path, E.HOST_A)
                res.append((rr.status, len(rr.body), rr.complete))
            ok = [s for s, _, comp in res] == [200, 200, 200, 204, 200] and all(
                comp for _, _, comp in res)
            c.check(ok and res[1][1] == 300000 and res[2][1] == 300000,
                    "five requests on one kept-alive TLS connection", res)
    except (OSError, ssl.SSLError) as e:
        c.check(False, "keep-alive over TLS", repr(e))

    # SSE: events arrive one by one
    n_ev, iv = 5, 400
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

    try:
        with E.Client(port, tls=ctx, sni=E.HOST_A, timeout=20) as cl:
            cl.send(E.build_request("GET", "/sse?n=%d&interval_ms=%d" % (n_ev, iv), E.HOST_A))
            r = cl.read_response("GET", timeout=20, sink=sink)
        c.check(r.status == 200 and r.complete and len(events) == n_ev,
                "SSE over TLS: 200, all %d events, clean end" % n_ev, (r.status, len(events)))
        if len(events) == n_ev:
            c.check(events[0][0] < events[-1][1]["t"],
                    "SSE over TLS: the first event arrived before the last was sent",
                    (events[0][0], events[-1][1]["t"]))
    except (OSError, ssl.SSLError) as e:
        c.check(False, "SSE over TLS", repr(e))

    # WebSocket over TLS
    try:
        cl, r = E.ws_connect(port, E.HOST_A, tls=ctx, sni=E.HOST_A)
        with cl:
            if c.check(r.status == 101 and r.header("sec-websocket-accept") == r.expected_accept,
                       "WebSocket upgrade over TLS: 101 with a valid accept", r):
                msgs = [(1, b"hello over tls"), (2, os.urandom(70000)), (2, os.urandom(1 << 20)),
                        (1, b"after big")]
                for op, payload in msgs:
                    E.ws_send(cl, op, payload)
                    got = E.ws_recv(cl, timeout=20)
                    c.check(got == (op, payload), "WebSocket over TLS echoes %d bytes"
                            % len(payload), None if got is None else (got[0], len(got[1])))
                E.ws_send(cl, 9, b"ping")
                c.check(E.ws_recv(cl) == (10, b"ping"), "WebSocket over TLS: ping -> pong")
                E.ws_send(cl, 8, b"\x03\xe8")
                got = E.ws_recv(cl)
                c.check(got is not None and got[0] == 8, "WebSocket over TLS: close echoed", got)
    except (OSError, ssl.SSLError) as e:
        c.check(False, "WebSocket over TLS", repr(e))


def slow_reader(edge, certs):
    """A client that stops reading a 256 MiB TLS download for a while: the edge holds
    back (back-pressure through TLS) instead of buffering the body; then it all arrives."""
    n = 256 << 20
    ctx = E.tls_context(certs.ca)
    base = E.rss_kib(edge.pid)["VmRSS"]
    peak = base
    h = hashlib.sha256()
    try:
        with E.Client(edge.https_port, tls=ctx, sni=E.HOST_A, timeout=120) as cl:
            cl.send(E.build_request("GET", "/bytes?n=%d" % n, E.HOST_A))
            pause_end = time.monotonic() + 4
            while time.monotonic() < pause_end:
                peak = max(peak, E.rss_kib(edge.pid)["VmRSS"])
                time.sleep(0.2)
            r = cl.read_response("GET", timeout=120, sink=h.update)
    except (OSError, ssl.SSLError) as e:
        c.check(False, "slow reader over TLS", repr(e))
        return
    grew = peak - base
    E.log("    edge VmRSS %d KiB before, %d KiB peak while the reader paused" % (base, peak))
    c.check(r.status == 200 and r.body_len == n and h.hexdigest() == pattern_sha(n),
            "256 MiB over TLS to a client that paused: complete and intact",
            (r.status, r.body_len))
    c.check(grew < 64 * 1024, "the edge did not buffer the paused download (RSS grew %d KiB, "
            "limit 64 MiB of 256 MiB)" % grew, grew)


def tls_records(edge, certs, tmp):
    """How requests are cut into TLS records must not matter: many requests in one record,
    one request in one-byte records, a TLS 1.3 KeyUpdate mid-connection; no
    renegotiation, no 0-RTT; many connections at once."""
    port = edge.https_port
    ctx = E.tls_context(certs.ca)
    try:
        with E.Client(port, tls=ctx, sni=E.HOST_A, timeout=20) as cl:
            cl.send(b"".join(E.build_request("GET", "/echo?i=%d" % i, E.HOST_A)
                             for i in range(20)))  # one sendall: one TLS record
            got = [cl.read_response() for _ in range(20)]
        targets = [json.loads(r.body)["target"] if r.status == 200 else r.status for r in got]
        c.check(targets == ["/echo?i=%d" % i for i in range(20)],
                "20 pipelined requests in one TLS record: 20 answers in order", targets[:4])
    except (OSError, ssl.SSLError, ValueError) as e:
        c.check(False, "pipelined requests in one TLS record", repr(e))
    try:
        with E.Client(port, tls=ctx, sni=E.HOST_A, timeout=20) as cl:
            req = E.build_request("POST", "/echo", E.HOST_A, body=b"0123456789")
            for i in range(len(req)):
                cl.send(req[i:i + 1])  # a record per byte
            r = cl.read_response()
        d = json.loads(r.body) if r.status == 200 else {}
        c.check(d.get("body_len") == 10, "a request sent one byte per TLS record: 200",
                (r.status, d.get("body_len")))
    except (OSError, ssl.SSLError, ValueError) as e:
        c.check(False, "a request sent one byte per TLS record", repr(e))

    def interactive(args, first, then):
        """s_client taking a command letter (first: b"K\\n", b"R\\n"; s_client reads
        them only without -ign_eof), then the request `then`; returns when the response
        came or the connection closed (bounded)."""
        cmd = [E.OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port, "-servername",
               E.HOST_A, "-CAfile", certs.ca] + args
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
        buf = bytearray()

        def pump():
            while True:
                d = p.stdout.read1(65536)
                if not d:
                    return
                buf.extend(d)

        th = threading.Thread(target=pump, daemon=True)
        th.start()

        def wait_for(pred, t):
            deadline = time.monotonic() + t
            while time.monotonic() < deadline and not pred() and th.is_alive():
                time.sleep(0.05)

        try:
            wait_for(lambda: b"Verify return code" in buf, 10)
            p.stdin.write(first)
            p.stdin.flush()
            wait_for(lambda: b"KEYUPDATE" in buf or b"RENEGOTIATING" in buf, 5)
            time.sleep(0.5)  # the peer's side of it
            try:
                p.stdin.write(then)
                p.stdin.flush()
            except OSError:
                pass
            wait_for(lambda: re.search(rb"HTTP/1\.1 \d{3}", buf) is not None, 10)
            try:
                p.stdin.close()
            except OSError:
                pass
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
        th.join(5)
        return p.returncode, bytes(buf).decode("utf-8", "replace"), ""

    req = get_req(E.HOST_A, path="/health")
    rc, out, err = interactive(["-tls1_3"], b"K\n", req)
    c.check("KEYUPDATE" in out + err and status_of(out) == 200,
            "TLS 1.3 KeyUpdate (update_requested) from the client, then a request: 200",
            (rc, (out + err)[-300:]))
    rc, out, err = interactive(["-tls1_2"], b"R\n", req)
    c.check(status_of(out) != 200 or "RENEGOTIATING" in out + err,
            "TLS 1.2 renegotiation attempt: tried", (rc, (out + err)[-300:]))
    c.check(edge.alive(), "edge alive after a renegotiation attempt")
    c.check("no renegotiation" in err or status_of(out) is None
            or "Secure Renegotiation IS NOT supported" in out,
            "TLS 1.2 renegotiation refused (no_renegotiation alert or close)",
            (rc, (out + err)[-300:]))

    sess = os.path.join(tmp.path, "early.pem")
    early = os.path.join(tmp.path, "early.txt")
    with open(early, "wb") as f:
        f.write(get_req(E.HOST_A, path="/echo?early=1", close=False))
    E.s_client(port, E.HOST_A, ["-tls1_3", "-sess_out", sess, "-ign_eof"],
               data=get_req(E.HOST_A, path="/health"), cafile=certs.ca)
    r = E.s_client(port, E.HOST_A, ["-tls1_3", "-sess_in", sess, "-early_data", early],
                   cafile=certs.ca)
    c.check(r.handshake and "Early data was accepted" not in r.out,
            "0-RTT early data is not accepted (no replayable requests)",
            re.findall(r"Early data.*", r.out))

    conns = []
    try:
        for _ in range(100):
            conns.append(E.Client(port, tls=ctx, sni=E.HOST_A, timeout=20))
        sts = [cl.request("GET", "/health", E.HOST_A).status for cl in conns]
        c.check(sts == [200] * 100, "100 TLS connections open at once: each gets 200",
                sts.count(200))
    except (OSError, ssl.SSLError) as e:
        c.check(False, "100 TLS connections open at once", "%d opened: %r" % (len(conns), e))
    finally:
        for cl in conns:
            cl.close()
    r = E.tls_get(port, E.HOST_A, None, "/echo", ctx)[0]
    c.check(r.status == 400, "request over TLS without Host -> 400", r.status)


# --------------------------------------------------------------------------- port 80

def port80(edge, a):
    hp = edge.https_port
    before = a.stats()
    cases = [
        ("GET", "/", E.HOST_A, "https://%s:%d/" % (E.HOST_A, hp)),
        ("GET", "/a/b?x=1&y=%20z", E.HOST_A, "https://%s:%d/a/b?x=1&y=%%20z" % (E.HOST_A, hp)),
        ("GET", "/p?q", E.HOST_A + ":%d" % edge.port, "https://%s:%d/p?q" % (E.HOST_A, hp)),
        ("HEAD", "/h", E.HOST_B, "https://%s:%d/h" % (E.HOST_B, hp)),
        ("DELETE", "/d", E.HOST_B, "https://%s:%d/d" % (E.HOST_B, hp)),
        ("GET", "/.well-known/other", E.HOST_A,
         "https://%s:%d/.well-known/other" % (E.HOST_A, hp)),
        ("POST", "/.well-known/acme-challenge/x", E.HOST_A,
         "https://%s:%d/.well-known/acme-challenge/x" % (E.HOST_A, hp)),
    ]
    for method, path, host, want in cases:
        body = b"" if method == "POST" else None
        r = E.http(edge.port, method, path, host, body=body)
        c.check(r.status == 308 and r.header("location") == want,
                "port 80: %s %s (Host %s) -> 308 Location %s" % (method, path, host, want),
                (r.status, r.header("location")))
    # curl -L follows the redirect to the HTTPS listener... only with the CA; just show it
    r = E.curl(edge.port, "/a?b=c", host=E.HOST_A)
    c.check(r.status == 308 and r.header("location") == "https://%s:%d/a?b=c" % (E.HOST_A, hp),
            "curl -i sees the 308 and its Location", r)
    c.check(r.header("strict-transport-security") is None,
            "no Strict-Transport-Security over plain HTTP (RFC 6797 §7.2)", r.headers)
    r = E.http(edge.port, "GET", "/x", "nope." + DOMAIN)
    c.check(r.status == 404, "port 80: unknown host -> 404 (no redirect)", r.status)
    # the Location's authority is always the routed host: no open redirect
    r = E.http(edge.port, "GET", "http://%s/abs?x=1" % E.HOST_A, E.HOST_A)
    c.check((r.status == 308 and r.header("location") == "https://%s:%d/abs?x=1"
             % (E.HOST_A, hp)) or r.status == 400,
            "port 80: absolute-form target -> 308 to its path (or 400)",
            (r.status, r.header("location")))
    r = E.http(edge.port, "GET", "//evil.example/p", E.HOST_A)
    c.check(r.status in (308, 400) and (r.status == 400 or (r.header("location") or "")
                                        .startswith("https://%s:%d/" % (E.HOST_A, hp))),
            "port 80: target //evil.example/p stays on the routed host",
            (r.status, r.header("location")))
    for bad in ["evil.example@" + E.HOST_A, E.HOST_A + "/evil", E.HOST_A + "@evil.example",
                "evil.example", E.HOST_A + "\\evil.example"]:
        r = E.http(edge.port, "GET", "/", bad)
        loc = r.header("location") or ""
        c.check(r.status in (400, 404) or (r.status == 308 and loc.startswith(
                "https://%s:%d/" % (E.HOST_A, hp))),
                "port 80: Host %r gets no redirect elsewhere" % bad, (r.status, loc))
    # a request with a body: 308 and the connection closed
    with E.Client(edge.port) as cl:
        r = cl.request("POST", "/upload", E.HOST_A, [("Content-Type", "text/plain")],
                       b"x" * 5000)
        closed = cl.closed_by_peer(3.0)
    c.check(r.status == 308 and r.header("location") == "https://%s:%d/upload" % (E.HOST_A, hp)
            and closed, "port 80: POST with a body -> 308 and the connection closed",
            (r.status, r.header("location"), closed))
    with E.Client(edge.port) as cl:
        cl.send(b"PUT /c HTTP/1.1\r\nHost: " + E.HOST_A.encode()
                + b"\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        r = cl.read_response("PUT")
        closed = cl.closed_by_peer(3.0)
    c.check(r.status == 308 and closed, "port 80: chunked PUT -> 308 and close", (r.status, closed))
    # a body-less redirect keeps the connection usable
    with E.Client(edge.port) as cl:
        r1 = cl.request("GET", "/one", E.HOST_A)
        r2 = None if cl.reader.eof else cl.request("GET", "/two", E.HOST_A)
    c.check(r1.status == 308 and r2 is not None and r2.status == 308,
            "port 80: two GETs on one kept-alive connection both get 308",
            (r1.status, r2 and r2.status))
    after = a.stats()
    c.check(after[1] == before[1], "port 80 redirects never reached the backend",
            (before, after))


def acme_tokens(edge):
    tok, ka = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", \
        "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
    path = "/.well-known/acme-challenge/" + tok
    r = E.http(edge.port, "GET", path, E.HOST_A)
    c.check(r.status == 404, "ACME token not yet in the table -> 404", r.status)
    st, _, _ = edge.api("PUT", "/v1/acme/http-01/" + tok, {"key_authorization": ka})
    c.check(st == 201, "PUT /v1/acme/http-01/TOKEN -> 201", st)
    r = E.http(edge.port, "GET", path, E.HOST_A)
    # docs/control-api.md: the key authorization as the body, application/octet-stream
    # (as in RFC 8555 §8.3's example)
    c.check(r.status == 200 and r.body == ka.encode()
            and (r.header("content-type") or "") == "application/octet-stream",
            "port 80: GET acme-challenge/TOKEN -> 200, the key authorization, "
            "application/octet-stream",
            (r.status, r.headers, r.body[:120]))
    r = E.http(edge.port, "HEAD", path, E.HOST_A)
    c.check(r.status == 200 and r.body == b"", "port 80: HEAD acme-challenge/TOKEN -> 200", r)
    r = E.http(edge.port, "GET", path, E.HOST_B)
    c.check(r.status == 200 and r.body == ka.encode(),
            "the token is answered for another known host too", r.status)
    st, _, _ = edge.api("PUT", "/v1/acme/http-01/" + tok, {"key_authorization": ka + "x"})
    c.check(st == 200, "PUT of an existing token -> 200", st)
    r = E.http(edge.port, "GET", path, E.HOST_A)
    c.check(r.status == 200 and r.body == (ka + "x").encode(),
            "replaced key authorization served", r.body[:120])
    r = E.http(edge.port, "GET", "/.well-known/acme-challenge/unknown-token", E.HOST_A)
    c.check(r.status == 404, "port 80: unknown ACME token -> 404", r.status)
    r = E.http(edge.port, "GET", path + "/extra", E.HOST_A)
    c.check(r.status in (404, 308), "acme-challenge/TOKEN/extra is not the token",
            r.status)
    st, _, _ = edge.api("PUT", "/v1/acme/http-01/" + tok, {"key_authorization": ka}, token=None)
    c.check(st == 401, "PUT without the bearer token -> 401", st)
    st, _, _ = edge.api("PUT", "/v1/acme/http-01/t2", raw=b"{not json")
    c.check(st == 400, "PUT with bad JSON -> 400", st)
    st, _, _ = edge.api("PUT", "/v1/acme/http-01/t2", {"nope": 1})
    c.check(st == 400, "PUT without key_authorization -> 400", st)
    st, _, _ = edge.api("PUT", "/v1/acme/http-01/t2", {"key_authorization": "has spaces.x y"})
    c.check(st == 400, "PUT with a key authorization that is not base64url -> 400", st)
    st, _, _ = edge.api("PUT", "/v1/acme/http-01/bad!token", {"key_authorization": "a.b"})
    c.check(st == 400, "PUT with a token that is not base64url -> 400", st)
    st, _, _ = edge.api("DELETE", "/v1/acme/http-01/never-put")
    c.check(st == 404, "DELETE of an unknown token -> 404", st)
    st, _, _ = edge.api("DELETE", "/v1/acme/http-01/" + tok, token="wrong-token-wrong-token")
    c.check(st == 401, "DELETE with a wrong bearer token -> 401", st)
    st, _, _ = edge.api("DELETE", "/v1/acme/http-01/" + tok)
    c.check(st == 204, "DELETE /v1/acme/http-01/TOKEN -> 204", st)
    r = E.http(edge.port, "GET", path, E.HOST_A)
    c.check(r.status == 404, "deleted token -> 404", r.status)


def api_urls(edge, certs, a):
    """With HTTPS on, the URLs the control API hands the orchestrator are https URLs on the
    HTTPS listener's port (the plain port only redirects)."""
    st, _, d = edge.api("PUT", "/v1/services/shop/prod/web", {"ports": [{"port": 8000}]})
    if not c.check(st == 201 and d, "PUT a service through the control API -> 201", (st, d)):
        return
    u = d.get("urls", {})
    host = "shop-web-%s.%s" % (d.get("nanoid"), DOMAIN)
    c.check(u.get("external_host") == host, "urls.external_host is the generated host", u)
    c.check(u.get("external_url") == "https://%s:%d" % (host, edge.https_port),
            "urls.external_url = https://HOST:HTTPS-PORT when HTTPS is on",
            u.get("external_url"))
    st, _, d = edge.api("POST", "/v1/services/shop/prod/web/deployments",
                        {"id": "v1", "sha": "1a2b3c4d5e6f",
                         "targets": [{"address": "127.0.0.1", "ports": [a.port]}]})
    urls = (d or {}).get("urls", {})
    c.check(st == 201 and str(urls.get("deployment_url", "")).startswith("https://")
            and str(urls.get("deployment_url", "")).endswith(":%d" % edge.https_port),
            "deployment urls are https on the HTTPS port", (st, urls))
    edge.api("DELETE", "/v1/services/shop/prod/web")


# --------------------------------------------------------------------------- hot swap

def swap_under_load(a, tmp):
    name = "swap." + DOMAIN
    certs = E.Certs(os.path.join(tmp.path, "pki-swap"))
    certs.make(DEFAULT_NAME, stem="default")
    crt, key = certs.make(name, stem="swap")
    old = E.file_cert_info(crt)
    stage = os.path.join(tmp.path, "pki-swap-stage")
    ncrt, nkey = certs.make(name, stem="swap", outdir=stage)
    new = E.file_cert_info(ncrt)
    cfg = E.edge_config({name: [E.target(a)], "added." + DOMAIN: [E.target(a)]},
                        domain=DOMAIN, tls={"certs_dir": certs.certs_dir})
    with E.Edge(cfg) as edge:
        port = edge.https_port
        ctx = E.tls_context(certs.ca)
        pre = E.Client(port, tls=ctx, sni=name, timeout=20)
        pre_fp = E.cert_info(pre.sock.getpeercert(binary_form=True))["sha256"]
        r0 = pre.request("GET", "/health", name)
        ws, wr = E.ws_connect(port, name, tls=ctx, sni=name)
        c.check(r0.status == 200 and pre_fp == old["sha256"],
                "connection opened before the swap: 200 with the old certificate", r0.status)

        results = []
        lock = threading.Lock()
        stop = threading.Event()
        load_deadline = time.monotonic() + 10

        def worker():
            while not stop.is_set() and time.monotonic() < load_deadline:
                t0 = time.monotonic()
                try:
                    with E.Client(port, tls=ctx, sni=name, timeout=10) as cl:
                        t1 = time.monotonic()
                        fp = hashlib.sha256(cl.sock.getpeercert(binary_form=True)).hexdigest()
                        rr = cl.request("GET", "/health", name, [("Connection", "close")])
                    rec = (t0, t1, fp, rr.status == 200, None if rr.status == 200 else rr.status)
                except (OSError, ssl.SSLError) as e:
                    rec = (t0, time.monotonic(), None, False, repr(e))
                with lock:
                    results.append(rec)

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            time.sleep(3)
            os.replace(nkey, key)
            os.replace(ncrt, crt)
            t_swap = time.monotonic()
            edge.reload(settle=0)
            seen_new = None
            while time.monotonic() < load_deadline:
                with lock:
                    hits = [r for r in results if r[2] == new["sha256"]]
                if hits:
                    seen_new = min(r[1] for r in hits)
                    break
                time.sleep(0.05)
            for t in threads:
                t.join(load_deadline - time.monotonic() + 15)
        finally:
            stop.set()
        with lock:
            res = list(results)
        fails = [r for r in res if not r[3]]
        E.log("    %d handshakes+requests in 10 s, %d failed" % (len(res), len(fails)))
        c.check(len(res) >= 20, "the load loop made handshakes the whole time", len(res))
        c.check(not fails, "zero failed handshakes/requests across the swap + SIGHUP", fails[:3])
        c.check(seen_new is not None, "new handshakes see the new certificate after SIGHUP")
        if seen_new is not None:
            later = [r for r in res if r[0] > seen_new and r[3]]
            stale = [r for r in later if r[2] != new["sha256"]]
            c.check(later and not stale,
                    "every handshake begun after the first new-certificate handshake gets the "
                    "new one", "%d of %d stale" % (len(stale), len(later)))
            before = [r for r in res if r[1] < t_swap and r[3]]
            c.check(before and all(r[2] == old["sha256"] for r in before),
                    "handshakes before the swap got the old certificate", len(before))
        try:
            r1 = pre.request("GET", "/echo", name)
            c.check(r1.status == 200, "connection opened before the swap still works after it",
                    r1.status)
        except (OSError, ssl.SSLError) as e:
            c.check(False, "connection opened before the swap still works after it", repr(e))
        pre.close()

        def wait_log(needles, offset):
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                text = edge.stderr_text()[offset:]
                if any(n in text for n in needles):
                    return True
                time.sleep(0.1)
            return False

        def served():
            try:
                r, info = E.tls_get(port, name, name, "/health", ctx)
                return r.status, info["sha256"]
            except (OSError, ssl.SSLError) as e:
                return None, repr(e)

        # a broken certificate file: logged, the previous certificate keeps serving
        off = len(edge.stderr_text())
        with open(crt + ".tmp", "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n"
                    "-----END CERTIFICATE-----\n")
        os.replace(crt + ".tmp", crt)
        edge.reload(settle=0)
        c.check(wait_log(["swap.crt"], off), "the broken swap.crt is reported in the log",
                edge.stderr_text()[off:][-400:])
        got = [served() for _ in range(6)]
        c.check(all(g == (200, new["sha256"]) for g in got),
                "broken file + SIGHUP: the previous certificate keeps serving", got[:2])
        # a key that does not match: same
        _, other_key = certs.make("other." + DOMAIN, stem="other",
                                  outdir=os.path.join(tmp.path, "pki-other"))
        ncrt2, nkey2 = certs.make(name, stem="swap", outdir=os.path.join(tmp.path, "pki-s2"))
        os.replace(ncrt2, crt)  # a valid certificate...
        with open(other_key) as src, open(key + ".tmp", "w") as dst:
            dst.write(src.read())  # ...with somebody else's key
        os.replace(key + ".tmp", key)
        off = len(edge.stderr_text())
        edge.reload(settle=0)
        c.check(wait_log(["swap.crt", "swap.key"], off), "the mismatched pair is reported in the log",
                edge.stderr_text()[off:][-400:])
        got = [served() for _ in range(6)]
        c.check(all(g == (200, new["sha256"]) for g in got),
                "mismatched key + SIGHUP: the previous certificate keeps serving", got[:2])
        # a good pair again, and a new name: both served after SIGHUP
        c3crt, c3key = certs.make(name, stem="swap", outdir=os.path.join(tmp.path, "pki-s3"))
        third = E.file_cert_info(c3crt)
        os.replace(c3key, key)
        os.replace(c3crt, crt)
        acrt, _ = certs.make("added." + DOMAIN)
        added = E.file_cert_info(acrt)
        edge.reload(settle=0)
        deadline = time.monotonic() + 5
        g = h = None
        while time.monotonic() < deadline:
            g = served()
            try:
                rr, h = E.tls_get(port, "added." + DOMAIN, "added." + DOMAIN, "/health", ctx)
                h = (rr.status, h["sha256"])
            except (OSError, ssl.SSLError) as e:
                h = (None, repr(e))
            if g == (200, third["sha256"]) and h == (200, added["sha256"]):
                break
            time.sleep(0.1)
        c.check(g == (200, third["sha256"]), "a fixed pair serves again after SIGHUP", g)
        c.check(h == (200, added["sha256"]), "a new pair in certs_dir serves its name after "
                "SIGHUP", h)
        c.check(edge.alive(), "edge alive after the swaps")
        reload_storm(edge, certs, name, crt, key, tmp)
        try:
            E.ws_send(ws, 1, b"after the swaps")
            got = E.ws_recv(ws, timeout=10)
        except (OSError, ssl.SSLError) as e:
            got = repr(e)
        c.check(wr.status == 101 and got == (1, b"after the swaps"),
                "a TLS WebSocket opened before the swaps still echoes after 20+ reloads", got)
        ws.close()
        stop_clean(edge, "hot-swap edge")


def reload_storm(edge, certs, name, crt, key, tmp):
    """20 certificate swaps + SIGHUPs in 6 s while 4 clients handshake continuously: no
    failed handshake, every certificate served is one of the two being swapped in."""
    pairs = [certs.make(name, stem="swap", outdir=os.path.join(tmp.path, "pki-storm%d" % i))
             for i in range(2)]
    fps = set()
    blobs = []
    for c_, k_ in pairs:
        fps.add(E.file_cert_info(c_)["sha256"])
        with open(c_, "rb") as f1, open(k_, "rb") as f2:
            blobs.append((f1.read(), f2.read()))
    with open(crt, "rb") as f:
        fps.add(E.cert_info(f.read())["sha256"])  # the one serving now
    port = edge.https_port
    ctx = E.tls_context(certs.ca)
    results = []
    lock = threading.Lock()
    deadline = time.monotonic() + 6

    def worker():
        while time.monotonic() < deadline:
            try:
                with E.Client(port, tls=ctx, sni=name, timeout=10) as cl:
                    fp = hashlib.sha256(cl.sock.getpeercert(binary_form=True)).hexdigest()
                    rr = cl.request("GET", "/health", name, [("Connection", "close")])
                rec = (fp, rr.status)
            except (OSError, ssl.SSLError) as e:
                rec = (None, repr(e))
            with lock:
                results.append(rec)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    swaps = 0
    while time.monotonic() < deadline - 0.5 and swaps < 20:
        cb, kb = blobs[swaps % 2]
        for path, data in ((key, kb), (crt, cb)):
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.replace(path + ".tmp", path)
        edge.reload(settle=0)
        swaps += 1
        time.sleep(0.25)
    for t in threads:
        t.join(deadline - time.monotonic() + 15)
    bad = [r for r in results if r[1] != 200]
    foreign = [r for r in results if r[1] == 200 and r[0] not in fps]
    E.log("    %d swaps, %d handshakes+requests, %d failed" % (swaps, len(results), len(bad)))
    c.check(swaps >= 10 and len(results) >= 20, "the storm ran (swaps, handshakes)",
            (swaps, len(results)))
    c.check(not bad, "%d swaps + SIGHUPs under handshakes: zero failures" % swaps, bad[:3])
    c.check(not foreign, "every certificate served during the storm is one of the swapped ones",
            len(foreign))
    c.check(edge.alive(), "edge alive after the reload storm")


def aborts(edge, certs):
    """Clients that vanish mid-handshake or mid-download leave the edge serving."""
    port = edge.https_port
    ctx = E.tls_context(certs.ca)
    for i in range(5):
        cl = E.Client(port, tls=ctx, sni=E.HOST_A, timeout=20)
        cl.send(E.build_request("GET", "/bytes?n=%d" % (256 << 20), E.HOST_A))
        got = 0
        while got < (1 << 20):
            d = cl.sock.recv(65536)
            if not d:
                break
            got += len(d)
        raw = cl.sock.detach() if i % 2 else None  # half of them: RST, no close_notify
        if raw is not None:
            s = socket.socket(fileno=raw)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        else:
            cl.close()
    for i in range(5):  # RST in the middle of a handshake: the ClientHello, then reset
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        hello = bytearray(b"\x16\x03\x01\x00\xf0\x01\x00\x00\xec\x03\x03") + os.urandom(32)
        s.sendall(bytes(hello))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    r = E.curl(port, "/health", host=E.HOST_A, cacert=certs.ca, args=["--http1.1"])
    c.check(edge.alive() and r.status == 200,
            "after 5 abandoned 256 MiB downloads and 5 reset handshakes: 200", r)


# --------------------------------------------------------------------------- config

def config_checks(tmp, certs):
    good = E.edge_config({E.HOST_A: ["127.0.0.1:9001"]}, domain=DOMAIN,
                         tls={"certs_dir": certs.certs_dir, "session_tickets": False,
                              "ticket_key_rotation": "1h",
                              "hsts": {"generated": "max-age=60", "custom": "off"}},
                         timeouts={"handshake": "3s"})
    p = tmp.file("tls-good.yaml", E.to_yaml(good) + "\n")
    rc, out, err = E.run_edge_cmd(["check", "--config", p])
    c.check(rc == 0, "check accepts a full tls section", (rc, out + err))
    bad = [
        ("redirect without https", 'http_mode: redirect\nlisten: {https: "off"}\n'),
        ("bad hsts value", 'tls:\n  hsts: {generated: "one year"}\n'),
        ("default_cert without default_key", 'tls:\n  default_cert: /x.crt\n'),
        ("http and https on one address",
         'listen: {http: "127.0.0.1:8080", https: "127.0.0.1:8080"}\n'),
        ("session_tickets not a boolean", 'tls:\n  session_tickets: sometimes\n'),
    ]
    for name, text in bad:
        p = tmp.file("tls-bad-%s.yaml" % name.replace(" ", "_"), text)
        rc, out, err = E.run_edge_cmd(["check", "--config", p])
        c.check(rc == 1 and re.search(re.escape(p) + r":\d+:\d+: ", out + err),
                "check refuses %s with file:line:col" % name, (rc, (out + err)[-200:]))


# --------------------------------------------------------------------------- main

def sts_script(backend, conn, s, cid):
    while True:
        req = E.read_request(conn)
        for _ in E.body_pieces(conn, req):
            pass
        s.sendall(E.resp_head(200, [("Strict-Transport-Security", "max-age=5"),
                                    ("Content-Length", "3")]) + b"ok\n")


def main():
    E.require_edge()
    with E.TempDir() as tmp, E.Backend("a") as a, E.ScriptBackend(sts_script, "sts") as sts:
        certs = E.Certs(os.path.join(tmp.path, "pki"))
        info = make_certs(certs)
        c.section("config check", config_checks, tmp, certs)
        access = os.path.join(tmp.path, "access.log")
        cfg = E.edge_config(routes(a, sts), domain=DOMAIN, access=access,
                            tls={"certs_dir": certs.certs_dir})
        with E.Edge(cfg, workers=2) as edge:
            c.section("SNI picks the certificate", sni_selection, edge, certs, info)
            c.section("ECDSA or RSA", key_type_selection, edge, certs, info)
            c.section("ALPN", alpn, edge, certs)
            c.section("protocols and ciphers", protocols_and_ciphers, edge, certs)
            c.section("session resumption across workers", resumption, edge, certs, tmp)
            c.section("no resumption under another name", resumption_other_name, edge, certs,
                      info, tmp)
            c.section("handshake metrics and access log", metrics_and_log, edge, certs, tmp)
            c.section("421 Misdirected Request", misdirected, edge, certs, info)
            c.section("HSTS", hsts, edge, certs, a, sts)
            c.section("X-Forwarded-Proto", forwarded_proto, edge, certs)
            c.section("the end of a connection", connection_end, edge, certs)
            c.section("TLS and HTTP/2", tls_and_h2, edge, certs, a)
            c.section("streaming over TLS", streaming, edge, certs, tmp)
            c.section("slow reader over TLS", slow_reader, edge, certs)
            c.section("TLS records, KeyUpdate, renegotiation, 0-RTT", tls_records, edge, certs,
                      tmp)
            c.section("garbage on the HTTPS port", garbage, edge, certs)
            c.section("odd SNI names", sni_oddities, edge, certs, info)
            c.section("port 80 redirect", port80, edge, a)
            c.section("ACME http-01 tokens", acme_tokens, edge)
            c.section("control API URLs", api_urls, edge, certs, a)
            c.section("clients that go away", aborts, edge, certs)
            c.check(edge.alive(), "main edge still running")
            stop_clean(edge, "main edge")
        c.section("session_tickets: false", no_tickets, a, certs, tmp)
        c.section("handshake timeout", handshake_timeout, a, certs)
        c.section("HTTP timeouts over TLS", timeouts_after_handshake, a, certs)
        c.section("HTTPS on port 443", port_443, a, certs)
        c.section("listen.https: off", https_off, a, certs)
        c.section("default_cert and X.pem", default_outside_and_pem, a, tmp)
        c.section("chains, renewals, expiry, encrypted keys", chains_and_renewals, a, tmp)
        c.section("certificate hot swap under load", swap_under_load, a, tmp)
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
