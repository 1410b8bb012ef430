#!/usr/bin/python3
"""Helpers for the TLS modes of bench/hostess-bench (standard library only).

  tls_tools.py h2load STDOUT LOGFILE
      h2load's text output and its --log-file -> one JSON object shaped like hosts.lua's
      WRKJSON line (requests, duration_us, bytes, errors, latency_us percentiles), plus the
      negotiated "tls" parameters h2load prints.

  tls_tools.py verify STRACE_OUT REQUESTS
      Proof that every connection of a pass was a full TLS handshake. STRACE_OUT is
      `strace -f -xx -s 512 -e trace=accept,accept4,close,write,writev,send,sendto,sendmsg` of the
      proxy during a pass of new connections. For every accepted client socket the first bytes
      the proxy writes on it are its first handshake flight, which starts with the ServerHello
      in clear text. A TLS 1.3 ServerHello carrying the pre_shared_key extension is a resumed
      handshake; without it, the server sends its certificate and signs (a full handshake with
      a fresh (EC)DHE key share). TLS 1.2: full when a Certificate message follows the
      ServerHello in that flight. Prints JSON: connections accepted, ServerHellos seen, full,
      resumed, HelloRetryRequests, versions, ciphers, groups.

  tls_tools.py probe PORT CAFILE SNI HOST
      Tries to resume a session against a proxy, for TLS 1.3 (ticket/PSK) and TLS 1.2 (session
      ID or ticket): two connections, the second offering the first one's session. Prints JSON
      per version: status line, cipher, whether the server sent a ticket, whether the second
      connection was resumed (it must not be: tickets and cache are off).
"""
import json
import re
import socket
import ssl
import sys

CIPHERS = {
    0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0xC02B: "ECDHE-ECDSA-AES128-GCM-SHA256", 0xC02C: "ECDHE-ECDSA-AES256-GCM-SHA384",
    0xCCA9: "ECDHE-ECDSA-CHACHA20-POLY1305", 0xC02F: "ECDHE-RSA-AES128-GCM-SHA256",
    0xC030: "ECDHE-RSA-AES256-GCM-SHA384", 0xCCA8: "ECDHE-RSA-CHACHA20-POLY1305",
}
GROUPS = {0x001D: "X25519", 0x0017: "P-256", 0x0018: "P-384", 0x0019: "P-521", 0x001E: "X448"}
VERSIONS = {0x0304: "TLSv1.3", 0x0303: "TLSv1.2", 0x0302: "TLSv1.1", 0x0301: "TLSv1.0"}
HRR_RANDOM = bytes.fromhex("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")


def percentiles(values):
    values = sorted(values)
    n = len(values)
    if not n:
        return {"mean": 0, "stdev": 0, "max": 0, "p50": 0, "p90": 0, "p99": 0, "p999": 0}
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / n

    def q(p):
        return values[min(n - 1, int(n * p))]
    return {"mean": round(mean, 1), "stdev": round(var ** 0.5, 1), "max": values[-1],
            "p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "p999": q(0.999)}


def h2load(stdout_path, log_path):
    text = open(stdout_path, errors="replace").read()

    def num(pattern, default=0.0):
        m = re.search(pattern, text)
        return float(m.group(1)) if m else default
    done = int(num(r"requests: \d+ total, \d+ started, (\d+) done"))
    ok = int(num(r"(\d+) succeeded"))
    failed = int(num(r"(\d+) failed"))
    errored = int(num(r"(\d+) errored"))
    timeout = int(num(r"(\d+) timeout"))
    rps = num(r"finished in [\d.]+s, ([\d.]+) req/s")
    bad_status = int(num(r"\d+ 2xx, \d+ 3xx, (\d+) 4xx")) + int(num(r"(\d+) 5xx"))
    traffic = int(num(r"traffic: \S+ \((\d+)\) total"))
    lat, statuses = [], {}
    try:
        for line in open(log_path):
            f = line.split()
            if len(f) >= 3:
                statuses[f[1]] = statuses.get(f[1], 0) + 1
                lat.append(int(f[2]))
    except OSError:
        pass
    tls = {}
    for key, pat in (("protocol", r"TLS Protocol: (\S+)"), ("cipher", r"Cipher: (\S+)"),
                     ("group", r"Server Temp Key: (\S+)"), ("alpn", r"Application protocol: (\S+)")):
        m = re.search(pat, text)
        if m:
            tls[key] = m.group(1)
    return {
        "requests": ok, "duration_us": int(done / rps * 1e6) if rps else 0, "bytes": traffic,
        "errors": {"connect": 0, "read": errored, "write": 0, "status": failed + bad_status,
                   "timeout": timeout},
        "latency_us": percentiles(lat), "statuses": statuses, "tls": tls,
        "started": text.count("starting benchmark") > 0,
    }


def parse_flight(data):
    """First server flight bytes -> dict describing the ServerHello, or None."""
    if len(data) < 5 + 4 + 38 or data[0] != 0x16 or data[5] != 0x02:
        return None
    rec_len = int.from_bytes(data[3:5], "big")
    hs = data[5:5 + rec_len]
    body_len = int.from_bytes(hs[1:4], "big")
    body = hs[4:4 + body_len]
    legacy = int.from_bytes(body[0:2], "big")
    random = body[2:34]
    p = 34
    sid_len = body[p]
    p += 1 + sid_len
    cipher = int.from_bytes(body[p:p + 2], "big")
    p += 3  # cipher + compression
    out = {"version": VERSIONS.get(legacy, hex(legacy)), "cipher": CIPHERS.get(cipher, hex(cipher)),
           "group": None, "psk": False, "hrr": random == HRR_RANDOM, "certificate": False}
    if p + 2 <= len(body):
        ext_end = p + 2 + int.from_bytes(body[p:p + 2], "big")
        p += 2
        while p + 4 <= min(ext_end, len(body)):
            etype = int.from_bytes(body[p:p + 2], "big")
            elen = int.from_bytes(body[p + 2:p + 4], "big")
            ev = body[p + 4:p + 4 + elen]
            if etype == 0x002B and len(ev) >= 2:
                v = int.from_bytes(ev[0:2], "big")
                out["version"] = VERSIONS.get(v, hex(v))
            elif etype == 0x0033 and len(ev) >= 2:
                g = int.from_bytes(ev[0:2], "big")
                out["group"] = GROUPS.get(g, hex(g))
            elif etype == 0x0029:
                out["psk"] = True
            p += 4 + elen
    if out["version"] != "TLSv1.3":
        # TLS 1.2: the Certificate handshake message follows the ServerHello in clear text,
        # in the same record or in the next one.
        rest = hs[4 + body_len:]
        if rest:
            out["certificate"] = rest[0] == 0x0B
        else:
            nxt = data[5 + rec_len:]
            out["certificate"] = len(nxt) >= 6 and nxt[0] == 0x16 and nxt[5] == 0x0B
    return out


STR = re.compile(r'"((?:\\x[0-9a-f]{2})*)"')
LINE = re.compile(r"^(?:\[pid\s+)?(\d+)\]?\s+(.*)$")
WRITE = re.compile(r"^(write|writev|send|sendto|sendmsg)\((\d+),")
ACCEPT_OK = re.compile(r"^(?:accept4?\(|<\.\.\. accept4? resumed>).*\)\s+=\s+(\d+)(?:\s|$)")
CLOSE = re.compile(r"^close\((\d+)")


def verify(strace_path, requests):
    pending = set()       # client sockets accepted, first write not seen yet
    accepted = closed_silent = 0
    hellos = 0
    full = resumed = hrr = unknown = 0
    versions, ciphers, groups = {}, {}, {}
    for raw in open(strace_path, errors="replace"):
        m = LINE.match(raw.strip())
        call = m.group(2) if m else raw.strip()
        a = ACCEPT_OK.match(call)
        if a:
            accepted += 1
            pending.add(int(a.group(1)))
            continue
        c = CLOSE.match(call)
        if c:
            if int(c.group(1)) in pending:  # closed before the proxy wrote anything
                pending.discard(int(c.group(1)))
                closed_silent += 1
            continue
        w = WRITE.match(call)
        if not w:
            continue
        fd = int(w.group(2))
        if fd not in pending:
            continue
        pending.discard(fd)
        s = STR.search(call)
        data = bytes.fromhex(s.group(1).replace("\\x", "")) if s else b""
        info = parse_flight(data)
        if not info:
            unknown += 1
            continue
        hellos += 1
        versions[info["version"]] = versions.get(info["version"], 0) + 1
        ciphers[info["cipher"]] = ciphers.get(info["cipher"], 0) + 1
        if info["group"]:
            groups[info["group"]] = groups.get(info["group"], 0) + 1
        if info["hrr"]:
            hrr += 1
        if info["version"] == "TLSv1.3":
            if info["psk"]:
                resumed += 1
            else:
                full += 1
        elif info["certificate"]:
            full += 1
        else:
            resumed += 1
    return {"requests": requests, "accepted": accepted, "server_hellos": hellos, "full": full,
            "resumed": resumed, "hello_retry": hrr, "unparsed_first_writes": unknown,
            "closed_before_write": closed_silent,
            "open_without_write": len(pending), "versions": versions, "ciphers": ciphers,
            "groups": groups,
            "all_full": hellos > 0 and resumed == 0 and unknown == 0 and full == hellos
            and accepted >= requests}


def probe(port, cafile, sni, host):
    out = {}
    for name, ver in (("TLSv1.3", ssl.TLSVersion.TLSv1_3), ("TLSv1.2", ssl.TLSVersion.TLSv1_2)):
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.minimum_version = ctx.maximum_version = ver
        sess, r = None, {}
        try:
            for i in range(2):
                raw = socket.create_connection(("127.0.0.1", port), timeout=5)
                s = ctx.wrap_socket(raw, server_hostname=sni, session=sess)
                s.sendall(("GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host).encode())
                data = b""
                while True:
                    try:
                        b = s.recv(65536)
                    except (ssl.SSLError, OSError):
                        break
                    if not b:
                        break
                    data += b
                if i == 0:
                    r["status"] = data.split(b"\r\n", 1)[0].decode(errors="replace")
                    r["cipher"] = s.cipher()[0]
                    sess = s.session
                    r["ticket_sent"] = bool(sess is not None and sess.has_ticket)
                else:
                    r["resumed"] = s.session_reused
                s.close()
        except (OSError, ssl.SSLError) as e:
            r["error"] = str(e)
        out[name] = r
    out["resumption_refused"] = all(v.get("resumed") is False for v in out.values()
                                    if isinstance(v, dict))
    return out


def main(argv):
    if len(argv) >= 3 and argv[0] == "h2load":
        print(json.dumps(h2load(argv[1], argv[2])))
    elif len(argv) >= 3 and argv[0] == "verify":
        print(json.dumps(verify(argv[1], int(argv[2]))))
    elif len(argv) >= 5 and argv[0] == "probe":
        print(json.dumps(probe(int(argv[1]), argv[2], argv[3], argv[4])))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
