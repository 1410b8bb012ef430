#!/usr/bin/python3
"""tls_scan: an operator scans the edge's HTTPS port with sslscan (Debian's package).

The scan must show exactly TLS 1.2 and TLS 1.3, exactly the Mozilla "intermediate" suites
of certs/tls_settings.c for the certificate's key type (ECDHE-ECDSA-* for an ECDSA
certificate, ECDHE-RSA-* for an RSA one, both for a name that has both), only the groups
X25519/P-256/P-384, no Heartbleed and no insecure renegotiation.

A control scan of `openssl s_server` with TLS 1.0 and weak ciphers on shows that the
scanner does see what the edge must refuse (else "disabled" would prove nothing).
Label `slow` (three full scans, each a few hundred handshakes).
"""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import edgetest as E

c = E.Checker("tls_scan")
SSLSCAN = "/usr/bin/sslscan"
DOMAIN = "hostess.localhost"

TLS13 = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
TLS12_ECDSA = {"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
               "ECDHE-ECDSA-CHACHA20-POLY1305"}
TLS12_RSA = {"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
             "ECDHE-RSA-CHACHA20-POLY1305"}
GROUPS = {"x25519", "secp256r1", "secp384r1"}


class Scan:
    def __init__(self, port, sni, tmp):
        out = os.path.join(tmp.path, "scan-%s-%d.xml" % (sni or "nosni", port))
        cmd = [SSLSCAN, "--no-colour", "--xml=" + out, "127.0.0.1:%d" % port]
        if sni:
            cmd.insert(1, "--sni-name=" + sni)
        p = subprocess.run(cmd, capture_output=True, timeout=240)
        self.rc = p.returncode
        self.text = p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")
        self.protocols = set()
        self.ciphers = {}   # version -> set of names
        self.groups = set()
        self.heartbleed = []
        self.reneg = None
        self.cert_type = None
        if not os.path.exists(out):
            return
        test = ET.parse(out).getroot().find("ssltest")
        if test is None:
            return
        for p in test.findall("protocol"):
            if p.get("enabled") == "1":
                self.protocols.add("%s%s" % ("SSLv" if p.get("type") == "ssl" else "TLSv",
                                             p.get("version")))
        for ci in test.findall("cipher"):
            self.ciphers.setdefault(ci.get("sslversion"), set()).add(ci.get("cipher"))
        for g in test.findall("group"):
            self.groups.add(g.get("name").split(" ")[0])
        self.heartbleed = [h.get("vulnerable") for h in test.findall("heartbleed")]
        r = test.find("renegotiation")
        if r is not None:
            self.reneg = (r.get("supported"), r.get("secure"))
        pk = test.find("certificates/certificate/pk")
        if pk is not None:
            self.cert_type = pk.get("type")

    def __repr__(self):
        return "<sslscan rc=%s protocols=%s ciphers=%s groups=%s cert=%s>" % (
            self.rc, sorted(self.protocols), {k: sorted(v) for k, v in self.ciphers.items()},
            sorted(self.groups), self.cert_type)


def control(tmp, certs):
    """sslscan against a deliberately weak openssl s_server sees TLS 1.0 and a CBC suite."""
    crt, key = os.path.join(certs.certs_dir, "rsa-only.crt"), os.path.join(certs.certs_dir,
                                                                          "rsa-only.key")
    port = E.free_port()
    srv = subprocess.Popen([E.OPENSSL, "s_server", "-accept", "127.0.0.1:%d" % port,
                            "-cert", crt, "-key", key, "-www", "-min_protocol", "TLSv1",
                            "-cipher", "ALL:@SECLEVEL=0"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           stdin=subprocess.DEVNULL)
    try:
        E.wait_port(port, 5, srv)
        s = Scan(port, "rsa." + DOMAIN, tmp)
    finally:
        srv.kill()
        srv.wait(5)
    c.check("TLSv1.0" in s.protocols and "AES128-SHA" in s.ciphers.get("TLSv1.2", set()),
            "control: sslscan detects TLS 1.0 and AES128-SHA on a weak server", s)


def scans(edge, tmp):
    port = edge.https_port
    cases = [
        ("app." + DOMAIN, "EC", TLS12_ECDSA, "ECDSA certificate"),
        ("rsa." + DOMAIN, "RSA", TLS12_RSA, "RSA certificate"),
        ("dual." + DOMAIN, None, TLS12_ECDSA | TLS12_RSA, "ECDSA and RSA certificates"),
    ]
    for sni, cert_type, tls12, what in cases:
        s = Scan(port, sni, tmp)
        E.log("    " + repr(s))
        c.check(s.rc == 0, "sslscan %s exits 0" % sni, s.text[-300:])
        c.check(s.protocols == {"TLSv1.2", "TLSv1.3"},
                "%s (%s): exactly TLSv1.2 and TLSv1.3 enabled" % (sni, what), sorted(s.protocols))
        c.check(s.ciphers.get("TLSv1.3", set()) == TLS13,
                "%s: exactly the three TLS 1.3 suites" % sni, sorted(s.ciphers.get("TLSv1.3", [])))
        c.check(s.ciphers.get("TLSv1.2", set()) == tls12,
                "%s: exactly the intended TLS 1.2 suites for %s" % (sni, what),
                sorted(s.ciphers.get("TLSv1.2", [])))
        c.check(set(s.ciphers) <= {"TLSv1.2", "TLSv1.3"}, "%s: no suite under another version"
                % sni, sorted(s.ciphers))
        c.check(s.groups and s.groups <= GROUPS and "x25519" in s.groups,
                "%s: key exchange groups within X25519/P-256/P-384 (X25519 included)" % sni,
                sorted(s.groups))
        c.check(s.heartbleed and all(v == "0" for v in s.heartbleed),
                "%s: not vulnerable to Heartbleed" % sni, s.heartbleed)
        c.check(s.reneg is None or s.reneg[0] == "0" or s.reneg[1] == "1",
                "%s: no insecure renegotiation" % sni, s.reneg)
        if cert_type:
            c.check(s.cert_type == cert_type, "%s: the scan saw the %s" % (sni, what),
                    s.cert_type)
    c.check(edge.alive(), "edge alive after the scans")
    text = edge.stderr_text()
    bad = [ln for ln in text.splitlines() if "AddressSanitizer" in ln or "runtime error:" in ln]
    c.check(not bad, "no sanitizer report in the edge's log", bad[:5])


def main():
    E.require_edge()
    if not os.path.exists(SSLSCAN):
        E.log("sslscan not installed (deploy/install-deps.sh installs it)")
        c.check(False, "sslscan installed at %s" % SSLSCAN)
        return c.summary()
    with E.TempDir() as tmp, E.Backend("a") as a:
        certs = E.Certs(os.path.join(tmp.path, "pki"))
        certs.make("edge-default.test", stem="default")
        certs.make("*." + DOMAIN)
        certs.make("rsa." + DOMAIN, rsa=True, stem="rsa-only")
        certs.make("dual." + DOMAIN, stem="dual-ec")
        certs.make("dual." + DOMAIN, rsa=True, stem="dual-rsa")
        c.section("control scan", control, tmp, certs)
        hosts = ["app." + DOMAIN, "rsa." + DOMAIN, "dual." + DOMAIN]
        cfg = E.edge_config({h: [E.target(a)] for h in hosts}, domain=DOMAIN,
                            tls={"certs_dir": certs.certs_dir})
        with E.Edge(cfg) as edge:
            c.section("sslscan of the edge", scans, edge, tmp)
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
