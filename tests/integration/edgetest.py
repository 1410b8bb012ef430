"""edgetest: the harness shared by the integration scenarios of Hostess Edge.

Run with Debian's /usr/bin/python3 (stdlib only here). Everything a scenario starts
(the edge, backends, curl, wrk) runs on free loopback ports, is bounded in time, and is
stopped by PID / shut down in a finally (context managers below).

Pieces:
  free_port(), TempDir, to_yaml(), edge_config()
  Edge(config, workers=2)            the hostess-edge process (context manager)
  Backend(name)                      HTTP/1.1 backend (raw sockets, keep-alive) with
                                     /echo /sse /bytes /upload /ws /slow /truncate /status
                                     /health /drop; counts connections and requests
  RecordingBackend()                 records every raw byte it receives; 200 per request
  raw_exchange(), read_response(), Client   raw-socket HTTP client pieces
  ws_connect(), ws_send(), ws_recv()  minimal RFC 6455 client
  Edge.api(), api_call(), EventStream  control API calls and its SSE event stream
  curl(), wrk(), rss_kib()
  Checker                            counts passed/failed checks, prints the summary
TLS (issue 4):
  edge_config(..., tls={...})        adds a tls section and listen.https on a free port
                                     (Edge.https_port)
  Certs(dir)                         a local CA + certificates made by deploy/mkcerts.sh
  tls_context(), Client(..., tls=ctx, sni=NAME), ws_connect(..., tls=, sni=)
  curl(..., cacert=CA)               curl over HTTPS (SNI = the host, --resolve to 127.0.0.1)
  s_client()                         openssl s_client, parsed (SClient)
  cert_info()                        SANs, subject, key type, SHA-256 fingerprint of a cert
"""

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# ctest sets both to the build under test; by hand, the default build directory.
EDGE_BIN = os.environ.get("HOSTESS_EDGE_BIN", os.path.join(REPO, "build/control/hostess-edge"))
BACKEND_BIN = os.environ.get("HOSTESS_BACKEND_BIN",
                             os.path.join(REPO, "build/bench/hostess-bench-backend"))
CURL = "/usr/bin/curl"
WRK = "/usr/bin/wrk"
OPENSSL = "/usr/bin/openssl"
MKCERTS = os.path.join(REPO, "deploy", "mkcerts.sh")
HOST_A = "app.hostess.localhost"
HOST_B = "api.hostess.localhost"

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PATTERN = bytes(i % 251 for i in range(65536))  # 64 KiB piece of the /bytes pattern


def log(*a):
    print(*a, flush=True)


# --------------------------------------------------------------------------- basics

def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


class TempDir:
    """A temp dir removed on exit (kept when HOSTESS_KEEP_TMP=1, for debugging)."""

    def __init__(self, prefix="hostess-it-"):
        self.path = tempfile.mkdtemp(prefix=prefix)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    def cleanup(self):
        if os.environ.get("HOSTESS_KEEP_TMP") != "1":
            shutil.rmtree(self.path, ignore_errors=True)

    def file(self, name, text=None):
        p = os.path.join(self.path, name)
        if text is not None:
            with open(p, "w") as f:
                f.write(text)
        return p


def wait_port(port, timeout=5.0, proc=None, host="127.0.0.1"):
    """Poll-connects until the port accepts; raises on timeout or if proc exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s before listening" % proc.returncode)
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d not ready after %.1fs" % (port, timeout))


def port_refuses(port, host="127.0.0.1"):
    """True if a connect to the port is refused (nothing listening)."""
    try:
        s = socket.create_connection((host, port), timeout=1.0)
    except ConnectionRefusedError:
        return True
    except OSError:
        return True
    s.close()
    return False


# --------------------------------------------------------------------------- config

def _yaml_scalar(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return str(v)
    return json.dumps(str(v))  # a JSON string is a valid double-quoted YAML scalar


def to_yaml(obj, indent=0):
    """Block-style YAML for dicts/lists of scalars (flow lists for scalar lists)."""
    pad = "  " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, dict):
                if not v:
                    out.append("%s%s: {}" % (pad, k))
                else:
                    out.append("%s%s:" % (pad, k))
                    out.append(to_yaml(v, indent + 1))
            elif isinstance(v, list):
                if all(not isinstance(x, (dict, list)) for x in v):
                    out.append("%s%s: [%s]" % (pad, k, ", ".join(_yaml_scalar(x) for x in v)))
                else:
                    out.append("%s%s:" % (pad, k))
                    out.append(to_yaml(v, indent + 1))
            else:
                out.append("%s%s: %s" % (pad, k, _yaml_scalar(v)))
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, dict):
                sub = to_yaml(item, indent + 1).split("\n")
                first = sub[0].lstrip()
                out.append("%s- %s" % (pad, first))
                out.extend(sub[1:])
            else:
                out.append("%s- %s" % (pad, _yaml_scalar(item)))
    else:
        out.append(pad + _yaml_scalar(obj))
    return "\n".join(out)


def _merge(a, b):
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(a.get(k), dict):
            _merge(a[k], v)
        else:
            a[k] = v
    return a


def edge_config(routes, port=None, access="off", tls=None, **overrides):
    """routes: {host: [targets]} or a list of {"host":..,"targets":[..]}. Overrides are
    deep-merged (e.g. timeouts={"header": "2s"}). tls: a dict for the tls section (e.g.
    {"certs_dir": certs.certs_dir}); it also puts listen.https on a free port (override
    listen={"https": ...} to choose)."""
    if isinstance(routes, dict):
        routes = [{"host": h, "targets": list(t)} for h, t in routes.items()]
    cfg = {
        "listen": {"http": "127.0.0.1:%d" % (port or free_port())},
        "workers": 2,
        "timeouts": {"header": "10s", "idle": "60s", "connect": "5s",
                     "upstream_response": "60s", "client": "60s", "drain": "30s",
                     "upstream_idle": "15s"},
        "limits": {"request_line": "8KiB", "header_bytes": "32KiB", "header_fields": 100},
        "upstream": {"max_idle_per_target": 64, "max_requests": 1000, "eject_after": 3,
                     "eject": "10s"},
        "log": {"access": access, "error": "-", "level": "info"},
        "trusted_proxies": ["10.0.0.0/8"],
        "control": {"listen": "127.0.0.1:%d" % free_port()},
        "routes": routes,
    }
    if tls is not None:
        cfg["listen"]["https"] = "127.0.0.1:%d" % free_port()
        cfg["tls"] = dict(tls)
    return _merge(cfg, overrides)


def target(backend_or_port):
    p = backend_or_port if isinstance(backend_or_port, int) else backend_or_port.port
    return "127.0.0.1:%d" % p


# --------------------------------------------------------------------------- the edge

class Edge:
    """Runs hostess-edge on a config (dict or YAML text). Context manager; always kills.

    e = Edge(cfg); e.port, e.pid, e.reload(new_cfg=None), e.stop() -> exit code,
    e.stderr_text(), e.access_lines(). e.https_port: the HTTPS listener's port (None
    without one; 8443 when a tls section names none); start() waits for it too."""

    def __init__(self, config, workers=2, tmp=None, start=True, ready_timeout=5.0):
        self._own_tmp = tmp is None
        self.tmp = tmp or TempDir(prefix="hostess-edge-")
        self.workers = workers
        self.config_path = os.path.join(self.tmp.path, "edge.yaml")
        self.access_path = None
        self.proc = None
        self.ready_timeout = ready_timeout
        self._write_config(config)
        if start:
            self.start()

    def _write_config(self, config):
        if isinstance(config, dict):
            config = dict(config)
            if self.workers is not None:
                config["workers"] = self.workers
            self.port = int(config["listen"]["http"].rsplit(":", 1)[1])
            https = config["listen"].get("https")
            if https is not None and https != "off":
                self.https_port = int(str(https).rsplit(":", 1)[1])
            elif https is None and "tls" in config:
                self.https_port = 8443
            else:
                self.https_port = None
            listen = config.get("control", {}).get("listen", "127.0.0.1:9090")
            self.control_port = int(listen.rsplit(":", 1)[1]) if listen != "off" else None
            acc = config.get("log", {}).get("access")
            self.access_path = acc if acc not in (None, "-", "off") else None
            text = to_yaml(config) + "\n"
        else:
            text = config
            m = re.search(r'\bhttp:\s*"?[0-9.]+:(\d+)', text)
            self.port = int(m.group(1)) if m else None
            m = re.search(r'\bhttps:\s*"?[0-9.]+:(\d+)', text)
            self.https_port = int(m.group(1)) if m else None
            if not re.search(r'^control:', text, re.M):
                # Keep parallel scenarios off the default control port.
                self.control_port = free_port()
                text += '\ncontrol: {listen: "127.0.0.1:%d"}\n' % self.control_port
            else:
                self.control_port = None  # the scenario knows its own control port
        self.config_text = text
        tmp_path = self.config_path + ".tmp"
        with open(tmp_path, "w") as f:
            f.write(text)
        os.replace(tmp_path, self.config_path)

    def start(self):
        if not os.path.exists(EDGE_BIN):
            raise RuntimeError("edge binary not found: %s (set HOSTESS_EDGE_BIN)" % EDGE_BIN)
        self.out = open(os.path.join(self.tmp.path, "edge.stdout"), "wb")
        self.err = open(os.path.join(self.tmp.path, "edge.stderr"), "wb")
        # Relative paths (state/edge.json, control.token) land in the edge's temp dir.
        self.proc = subprocess.Popen([EDGE_BIN, "--config", self.config_path],
                                     stdout=self.out, stderr=self.err, stdin=subprocess.DEVNULL,
                                     cwd=self.tmp.path)
        self.pid = self.proc.pid
        try:
            wait_port(self.port, self.ready_timeout, self.proc)
            if getattr(self, "https_port", None):
                wait_port(self.https_port, self.ready_timeout, self.proc)
            if getattr(self, "control_port", None):
                # The data port listens before the control plane has loaded its state.
                wait_port(self.control_port, self.ready_timeout, self.proc)
        except Exception as e:
            self.kill()
            raise RuntimeError("edge did not start: %s\nstderr:\n%s" % (e, self.stderr_text()))
        return self

    def reload(self, config=None, settle=0.5):
        """Optionally rewrite the config, then SIGHUP and wait `settle` seconds."""
        if config is not None:
            self._write_config(config)
        os.kill(self.pid, signal.SIGHUP)
        if settle:
            time.sleep(settle)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=35.0, sig=signal.SIGTERM):
        """SIGTERM, wait bounded, SIGKILL on timeout. Returns the exit code (None if it had
        to be killed)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass

    def stderr_text(self):
        try:
            self.err.flush()
            with open(os.path.join(self.tmp.path, "edge.stderr"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except Exception:
            return ""

    def stdout_text(self):
        try:
            self.out.flush()
            with open(os.path.join(self.tmp.path, "edge.stdout"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except Exception:
            return ""

    def access_lines(self, path=None):
        """Parsed JSON objects from the access log (lines that do not parse are returned
        as {"_raw": line})."""
        path = path or self.access_path
        out = []
        if not path or not os.path.exists(path):
            return out
        with open(path, "rb") as f:
            for line in f.read().decode("utf-8", "replace").splitlines():
                if not line.strip():
                    continue
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append({"_raw": line})
        return out

    def wait_access(self, pred, timeout=3.0):
        """Waits (bounded) until some access-log entry satisfies pred; returns it or None."""
        deadline = time.monotonic() + timeout
        while True:
            for e in self.access_lines():
                if pred(e):
                    return e
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)

    def rss(self):
        return rss_kib(self.pid)

    def token(self):
        with open(os.path.join(self.tmp.path, "control.token")) as f:
            return f.readline().strip()

    def api(self, method, path, body=None, token=True, headers=(), raw=None, timeout=10.0):
        """One control API call. Returns (status, headers dict (lower-case), parsed JSON or
        None). token: True (the edge's), a string, or None (no Authorization)."""
        return api_call(self.control_port, method, path, body,
                        self.token() if token is True else token, headers, raw, timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        for f in (getattr(self, "out", None), getattr(self, "err", None)):
            if f:
                f.close()
        if exc[0] is not None and os.environ.get("HOSTESS_SHOW_EDGE_LOG", "1") == "1":
            tail = self.stderr_text()[-3000:]
            if tail:
                log("--- edge stderr (tail) ---\n" + tail)
        if self._own_tmp:
            self.tmp.cleanup()


class EventStream:
    """GET /v1/events on a raw socket; a thread parses the SSE blocks into
    {"id","event","data"} dicts."""

    def __init__(self, port, token):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.sendall(("GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                           "Authorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n"
                           % (port, token)).encode())
        self.status = None
        self.headers = {}
        self.events = []
        self.lock = threading.Lock()
        self.eof = False
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        buf = b""
        head = False
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            if not d:
                break
            buf += d
            if not head:
                i = buf.find(b"\r\n\r\n")
                if i < 0:
                    continue
                lines = buf[:i].decode("latin-1").split("\r\n")
                self.status = int(lines[0].split(" ")[1])
                for ln in lines[1:]:
                    k, _, v = ln.partition(":")
                    self.headers[k.strip().lower()] = v.strip()
                buf = buf[i + 4:]
                head = True
            while b"\n\n" in buf:
                block, buf = buf.split(b"\n\n", 1)
                ev = {"id": None, "event": None, "data": ""}
                for ln in block.decode("utf-8", "replace").split("\n"):
                    k, _, v = ln.partition(":")
                    if v.startswith(" "):
                        v = v[1:]
                    if k in ("id", "event"):
                        ev[k] = v
                    elif k == "data":
                        ev["data"] += v
                try:
                    ev["json"] = json.loads(ev["data"])
                except ValueError:
                    ev["json"] = None
                with self.lock:
                    self.events.append(ev)
        self.eof = True

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def wait(self, pred, timeout=3.0):
        """The first event satisfying pred, waiting (bounded) for it; None on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.snapshot():
                if pred(ev):
                    return ev
            if time.monotonic() > deadline:
                return None
            time.sleep(0.02)

    def close(self):
        self._stop = True
        try:
            self.sock.close()
        except OSError:
            pass
        self.thread.join(2)


def api_call(port, method, path, body=None, token=None, headers=(), raw=None, timeout=10.0):
    """A control API request on a fresh connection (raw: bytes to send as the body)."""
    hdrs = list(headers)
    if token is not None:
        hdrs.append(("Authorization", "Bearer " + token))
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if data is not None:
        hdrs.append(("Content-Type", "application/json"))
    with Client(port, timeout=timeout) as c:
        r = c.request(method, path, "127.0.0.1:%d" % port, hdrs, data, timeout)
    doc = None
    if r.body:
        try:
            doc = json.loads(r.body)
        except ValueError:
            doc = None
    return r.status, {k.lower(): v for k, v in r.headers}, doc


def run_edge_cmd(args, timeout=10):
    """Runs hostess-edge with args; returns (exit code, stdout, stderr)."""
    p = subprocess.run([EDGE_BIN] + list(args), capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


# --------------------------------------------------------------------------- process stats

def _descendants(pid):
    kids = []
    try:
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
                ppid = int(st.rsplit(")", 1)[1].split()[1])
                if ppid == pid:
                    kids.append(int(d))
            except OSError:
                pass
    except OSError:
        pass
    out = list(kids)
    for k in kids:
        out.extend(_descendants(k))
    return out


def rss_kib(pid, include_children=True):
    """{'VmRSS': kib, 'VmHWM': kib} summed over pid and (if any) its child processes."""
    total = {"VmRSS": 0, "VmHWM": 0}
    pids = [pid] + (_descendants(pid) if include_children else [])
    for p in pids:
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    k, _, v = line.partition(":")
                    if k in total:
                        total[k] += int(v.split()[0])
        except OSError:
            pass
    return total


# --------------------------------------------------------------------------- raw HTTP client

class Resp:
    def __init__(self):
        self.version = None
        self.status = None
        self.reason = ""
        self.headers = []
        self.body = b""
        self.complete = False   # body framing reached a clean end
        self.interim = []       # 1xx responses seen before the final one

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def __repr__(self):
        return "<Resp %s %r body=%dB complete=%s>" % (self.status, self.headers, len(self.body),
                                                     self.complete)


class Reader:
    """Buffered reader over a socket with a per-call deadline."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.eof = False

    def _fill(self, deadline):
        if self.eof:
            return False
        rem = deadline - time.monotonic()
        if rem <= 0:
            raise socket.timeout("deadline")
        self.sock.settimeout(rem)
        try:
            data = self.sock.recv(262144)
        except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def read_until(self, sep, deadline, limit=1 << 20):
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                out = bytes(self.buf[:i + len(sep)])
                del self.buf[:i + len(sep)]
                return out
            if len(self.buf) > limit:
                raise ValueError("line too long")
            if not self._fill(deadline):
                return None

    def read_exact(self, n, deadline, sink=None):
        """Reads n bytes (returns them, or feeds them to sink and returns count). Returns
        fewer on EOF."""
        got = 0
        out = bytearray()
        while got < n:
            if not self.buf and not self._fill(deadline):
                break
            take = min(n - got, len(self.buf))
            piece = bytes(self.buf[:take])
            del self.buf[:take]
            got += take
            if sink:
                sink(piece)
            else:
                out += piece
        return got if sink else bytes(out)

    def read_to_eof(self, deadline, sink=None):
        out = bytearray()
        total = 0
        while True:
            if self.buf:
                piece = bytes(self.buf)
                self.buf.clear()
                total += len(piece)
                if sink:
                    sink(piece)
                else:
                    out += piece
            if not self._fill(deadline):
                break
        return total if sink else bytes(out)


def parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    return lines[0], [tuple(x.split(":", 1)) for x in lines[1:] if x and ":" in x]


def read_response(reader, method="GET", timeout=10.0, sink=None):
    """Reads one full response (after any 1xx) from a Reader. Returns Resp; Resp.status is
    None if the connection closed before a status line. sink: optional callable for body
    pieces (then Resp.body stays empty and Resp.body_len counts)."""
    deadline = time.monotonic() + timeout
    r = Resp()
    r.body_len = 0
    while True:
        head = reader.read_until(b"\r\n\r\n", deadline)
        if head is None:
            return r
        status_line, hdrs = parse_head(head)
        parts = status_line.split(" ", 2)
        code = int(parts[1])
        if 100 <= code < 200 and code != 101:
            r.interim.append((code, [(k.strip(), v.strip()) for k, v in hdrs]))
            continue
        r.version = parts[0]
        r.status = code
        r.reason = parts[2] if len(parts) > 2 else ""
        r.headers = [(k.strip(), v.strip()) for k, v in hdrs]
        break

    body = bytearray()

    def feed(piece):
        r.body_len += len(piece)
        if sink:
            sink(piece)
        else:
            body.extend(piece)

    te = (r.header("transfer-encoding") or "").lower()
    cl = r.header("content-length")
    if method == "HEAD" or r.status in (204, 304) or r.status == 101:
        r.complete = True
    elif "chunked" in te:
        while True:
            line = reader.read_until(b"\r\n", deadline)
            if line is None:
                break
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                while True:
                    t = reader.read_until(b"\r\n", deadline)
                    if t is None:
                        break
                    if t == b"\r\n":
                        r.complete = True
                        break
                break
            n = reader.read_exact(size, deadline, sink=feed)
            if n < size:
                break
            if reader.read_exact(2, deadline) != b"\r\n":
                break
    elif cl is not None:
        n = int(cl)
        got = reader.read_exact(n, deadline, sink=feed)
        r.complete = got == n
    else:
        reader.read_to_eof(deadline, sink=feed)
        r.complete = True  # until-close: only the caller knows whether that was clean
    if not sink:
        r.body = bytes(body)
    return r


class SocketOwner:
    """A test client holding self.sock: close() ignores a socket already gone, and it is a
    context manager that closes."""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Client(SocketOwner):
    """One raw keep-alive client connection to the edge. tls: an ssl.SSLContext (see
    tls_context()) to speak TLS, with sni as the server name (None: no SNI); the
    handshake happens here (ssl.SSLError on failure), and self.sock is the SSLSocket."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0, tls=None, sni=None):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls is not None:
            try:
                self.sock = tls.wrap_socket(self.sock, server_hostname=sni)
            except BaseException:
                self.sock.close()
                raise
        self.reader = Reader(self.sock)
        self.timeout = timeout

    def send(self, data):
        self.sock.sendall(data)

    def request(self, method, path, host, headers=(), body=None, timeout=None):
        self.send(build_request(method, path, host, headers, body))
        return read_response(self.reader, method, timeout or self.timeout)

    def read_response(self, method="GET", timeout=None, sink=None):
        return read_response(self.reader, method, timeout or self.timeout, sink=sink)

    def closed_by_peer(self, timeout=2.0):
        """True if the peer closes (recv returns b'' or reset) within timeout, discarding
        any bytes still to come."""
        deadline = time.monotonic() + timeout
        self.reader.buf.clear()
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
                return True
            if not d:
                return True
        return False


def build_request(method, path, host, headers=(), body=None, version="HTTP/1.1"):
    lines = ["%s %s %s" % (method, path, version)]
    if host is not None:
        lines.append("Host: %s" % host)
    names = set()
    for k, v in headers:
        lines.append("%s: %s" % (k, v))
        names.add(k.lower())
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        lines.append("Content-Length: %d" % len(body))
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if body:
        data += body
    return data


def http(port, method, path, host, headers=(), body=None, timeout=10.0):
    """One request on a fresh connection; returns Resp."""
    with Client(port, timeout=timeout) as c:
        return c.request(method, path, host, headers, body, timeout)


def raw_exchange(port, data, timeout=3.0, close_wait=2.0):
    """Sends raw bytes on a fresh socket. Returns (first response status or None, all bytes
    received, closed) where closed is True if the edge closed the connection within
    close_wait after its response."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    received = bytearray()
    closed = False
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        deadline = time.monotonic() + timeout
        # read until we have a status line + head, or close
        while b"\r\n\r\n" not in received and time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not d:
                closed = True
                break
            received += d
        if not closed:
            deadline = time.monotonic() + close_wait
            while time.monotonic() < deadline:
                s.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    d = s.recv(65536)
                except socket.timeout:
                    break
                except ConnectionResetError:
                    closed = True
                    break
                if not d:
                    closed = True
                    break
                received += d
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", bytes(received))
    return (int(m.group(1)) if m else None), bytes(received), closed


def statuses(data, method="GET"):
    """Final status codes of the responses in a byte stream, parsed in sequence with their
    framing (1xx skipped; HEAD bodies not expected)."""
    class _Fake:
        def __init__(self, d):
            self.d = d

        def settimeout(self, t):
            pass

        def recv(self, n):
            out, self.d = self.d[:n], self.d[n:]
            return out

    rd = Reader(_Fake(bytes(data)))
    out = []
    while True:
        try:
            r = read_response(rd, method, timeout=1.0)
        except (ValueError, IndexError):
            break
        if r.status is None:
            break
        out.append(r.status)
        if not r.complete:
            break
    return out


# --------------------------------------------------------------------------- WebSocket client

def ws_key():
    return base64.b64encode(os.urandom(16)).decode()


def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def ws_frame(opcode, payload, mask=True, fin=True):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    hdr = bytearray([b0])
    mbit = 0x80 if mask else 0
    if n < 126:
        hdr.append(mbit | n)
    elif n < 65536:
        hdr.append(mbit | 126)
        hdr += struct.pack("!H", n)
    else:
        hdr.append(mbit | 127)
        hdr += struct.pack("!Q", n)
    if mask:
        mk = os.urandom(4)
        hdr += mk
        payload = _ws_mask(payload, mk)
    return bytes(hdr) + payload


def _ws_mask(data, mk):
    if not data:
        return b""
    n = len(data)
    m = (mk * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(m, "big")).to_bytes(n, "big")


def ws_read_frame(reader, deadline):
    """Returns (fin, opcode, payload) or None on EOF."""
    h = reader.read_exact(2, deadline)
    if len(h) < 2:
        return None
    fin = bool(h[0] & 0x80)
    op = h[0] & 0x0F
    masked = bool(h[1] & 0x80)
    n = h[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", reader.read_exact(2, deadline))[0]
    elif n == 127:
        n = struct.unpack("!Q", reader.read_exact(8, deadline))[0]
    mk = reader.read_exact(4, deadline) if masked else None
    payload = reader.read_exact(n, deadline)
    if len(payload) < n:
        return None
    if mk:
        payload = _ws_mask(payload, mk)
    return fin, op, payload


def ws_connect(port, host, path="/ws", timeout=10.0, extra_headers=(), tls=None, sni=None):
    """Opens a WebSocket through port (over TLS with tls/sni as for Client). Returns
    (Client, Resp). Resp.status should be 101."""
    c = Client(port, timeout=timeout, tls=tls, sni=sni)
    key = ws_key()
    hdrs = [("Connection", "Upgrade"), ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Key", key)] + list(extra_headers)
    r = c.request("GET", path, host, hdrs)
    r.expected_accept = ws_accept(key)
    return c, r


def ws_send(client, opcode, payload):
    client.send(ws_frame(opcode, payload))


def ws_recv(client, timeout=10.0):
    """Returns (opcode, message) reassembling fragments, or None on EOF."""
    deadline = time.monotonic() + timeout
    msg = bytearray()
    first_op = None
    while True:
        f = ws_read_frame(client.reader, deadline)
        if f is None:
            return None
        fin, op, payload = f
        if op >= 8:
            return op, payload
        if first_op is None:
            first_op = op
        msg += payload
        if fin:
            return first_op, bytes(msg)


# --------------------------------------------------------------------------- backends

class _Conn:
    """Server-side buffered connection."""

    def __init__(self, sock, on_bytes=None):
        self.sock = sock
        self.buf = bytearray()
        self.on_bytes = on_bytes

    def fill(self):
        try:
            data = self.sock.recv(262144)
        except (ConnectionResetError, OSError):
            data = b""
        if not data:
            raise EOFError
        if self.on_bytes:
            self.on_bytes(data)
        self.buf += data

    def read_until(self, sep, limit=1 << 20):
        start = 0
        while True:
            i = self.buf.find(sep, start)
            if i >= 0:
                out = bytes(self.buf[:i + len(sep)])
                del self.buf[:i + len(sep)]
                return out
            if len(self.buf) > limit:
                raise ValueError("head too long")
            start = max(0, len(self.buf) - len(sep) + 1)
            self.fill()

    def read_exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_pieces(self, n, piece=262144):
        """Yields n bytes in pieces without accumulating them."""
        left = n
        while left > 0:
            if not self.buf:
                self.fill()
            take = min(left, len(self.buf), piece)
            out = bytes(self.buf[:take])
            del self.buf[:take]
            left -= take
            yield out


class Request:
    def __init__(self, method, target, version, headers, raw_head):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.raw_head = raw_head
        u = urllib.parse.urlsplit(target)
        self.path = u.path
        self.query = dict(urllib.parse.parse_qsl(u.query))
        self.body_len = 0
        self.body_sha = None

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def framing(self):
        te = self.header("transfer-encoding")
        cl = self.header("content-length")
        return te, cl


def _read_request(conn):
    head = conn.read_until(b"\r\n\r\n")
    lines = head[:-4].decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = []
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers.append((k, v.strip(" \t")))
    return Request(method, target, version, headers, head)


def _body_pieces(conn, req):
    te, cl = req.framing()
    if te is not None and "chunked" in te.lower():
        while True:
            line = conn.read_until(b"\r\n", limit=1 << 16)
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while conn.read_until(b"\r\n", limit=1 << 16) != b"\r\n":
                    pass
                return
            yield from conn.read_pieces(size)
            if conn.read_exact(2) != b"\r\n":
                raise ValueError("bad chunk end")
    elif cl is not None:
        yield from conn.read_pieces(int(cl))


def _resp_head(status, headers, reason=None):
    reasons = {100: "Continue", 101: "Switching Protocols", 200: "OK", 204: "No Content",
               304: "Not Modified", 404: "Not Found", 500: "Internal Server Error"}
    lines = ["HTTP/1.1 %d %s" % (status, reason or reasons.get(status, "Status"))]
    lines += ["%s: %s" % kv for kv in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512
    block_on_close = False


class _BaseBackend:
    """Starts a threaded TCP server on a free loopback port (context manager)."""

    def __init__(self, name="backend", port=0):
        self.name = name
        self.lock = threading.Lock()
        self.connections = 0
        self.requests_count = 0
        self.requests = []          # recent Request objects (bounded)
        self.open_socks = set()
        outer = self

        class H(socketserver.BaseRequestHandler):
            def handle(self):
                s = self.request
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with outer.lock:
                    outer.connections += 1
                    cid = outer.connections
                    outer.open_socks.add(s)
                try:
                    outer.serve_conn(s, cid, self.client_address)
                except (EOFError, ConnectionError, BrokenPipeError, socket.timeout, OSError,
                        ValueError):
                    pass
                finally:
                    with outer.lock:
                        outer.open_socks.discard(s)

        self.server = _Server(("127.0.0.1", port), H)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def record(self, req):
        with self.lock:
            self.requests_count += 1
            self.requests.append(req)
            if len(self.requests) > 20000:
                del self.requests[:10000]

    def stats(self):
        with self.lock:
            return self.connections, self.requests_count

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            socks = list(self.open_socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Backend(_BaseBackend):
    """The HTTP/1.1 test backend. Endpoints (query args in brackets):
      /echo                    JSON: method, path, target, version, headers [[k,v]..] in
                               order, body_len, body_sha256, peer_port, conn_id, backend
      /sse [n, interval_ms]    text/event-stream, chunked, one write per event;
                               data: {"i":i,"t":send_time}
      /bytes [n, mode=length|chunked|close]   n bytes of PATTERN in 64 KiB pieces
      /upload                  reads the body streaming; JSON {"len","sha256"}
      /ws                      WebSocket echo (RFC 6455)
      /slow [ms]               waits, then 200 "slow"
      /truncate [mode=length|chunked]  part of the body, then close
      /status [code]           that status; no body for 1xx/204/304
      /health                  200 ok
      /drop                    reads the request, closes without answering
      /close                   answers 200 with Connection: close and closes
    HEAD is answered with the GET headers and no body."""

    def serve_conn(self, s, cid, addr):
        conn = _Conn(s)
        while True:
            req = _read_request(conn)
            req.conn_id = cid
            req.peer_port = addr[1]
            keep = self.dispatch(conn, s, req)
            if not keep:
                try:
                    s.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                # drain briefly so that the close is clean (FIN, not RST)
                s.settimeout(0.2)
                try:
                    while s.recv(65536):
                        pass
                except OSError:
                    pass
                return

    def _keep(self, req):
        c = (req.header("connection") or "").lower()
        if req.version == "HTTP/1.0":
            return "keep-alive" in c
        return "close" not in c

    def _read_body(self, conn, req, s):
        if (req.header("expect") or "").lower() == "100-continue":
            s.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        h = hashlib.sha256()
        n = 0
        for piece in _body_pieces(conn, req):
            h.update(piece)
            n += len(piece)
        req.body_len = n
        req.body_sha = h.hexdigest()

    def send_simple(self, s, req, status, body, ctype="text/plain", extra=(), keep=True):
        hdrs = [("Content-Type", ctype), ("Content-Length", str(len(body)))] + list(extra)
        if not keep:
            hdrs.append(("Connection", "close"))
        s.sendall(_resp_head(status, hdrs) + (b"" if req.method == "HEAD" else body))

    def dispatch(self, conn, s, req):
        p = req.path
        if p.startswith("/echo/") or p.startswith("/echo;"):
            p = "/echo"  # any path under /echo echoes (path-preservation tests)
        q = req.query
        keep = self._keep(req)
        if p == "/drop":
            self._read_body(conn, req, s)
            self.record(req)
            return False
        if p == "/ws":
            self.record(req)
            return self.ws(conn, s, req)
        if p == "/upload" and "wait_ms" in q:
            time.sleep(int(q["wait_ms"]) / 1000.0)
        self._read_body(conn, req, s)
        self.record(req)
        if p == "/echo" or p == "/upload":
            if p == "/echo":
                obj = {"method": req.method, "path": req.path, "target": req.target,
                       "version": req.version, "headers": [list(h) for h in req.headers],
                       "body_len": req.body_len, "body_sha256": req.body_sha,
                       "peer_port": req.peer_port, "conn_id": req.conn_id,
                       "backend": self.name}
            else:
                obj = {"len": req.body_len, "sha256": req.body_sha, "backend": self.name}
            body = json.dumps(obj).encode()
            self.send_simple(s, req, 200, body, "application/json",
                             [("X-Backend", self.name)], keep)
        elif p == "/health":
            self.send_simple(s, req, 200, b"ok\n", keep=keep)
        elif p == "/close":
            self.send_simple(s, req, 200, b"bye\n", keep=False)
            return False
        elif p == "/slow":
            time.sleep(int(q.get("ms", "1000")) / 1000.0)
            self.send_simple(s, req, 200, b"slow\n", keep=keep)
        elif p == "/status":
            code = int(q.get("code", "200"))
            if code in (204, 304):
                hdrs = [("X-Backend", self.name)]
                if code == 304:
                    hdrs.append(("ETag", '"v1"'))
                s.sendall(_resp_head(code, hdrs))
            else:
                self.send_simple(s, req, code, b"status %d\n" % code, keep=keep)
        elif p == "/sse":
            n = int(q.get("n", "5"))
            iv = int(q.get("interval_ms", "200")) / 1000.0
            s.sendall(_resp_head(200, [("Content-Type", "text/event-stream"),
                                       ("Cache-Control", "no-cache"),
                                       ("Transfer-Encoding", "chunked")]))
            if req.method == "HEAD":
                return keep
            for i in range(n):
                if i:
                    time.sleep(iv)
                ev = ("id: %d\ndata: {\"i\": %d, \"t\": %.6f}\n\n" % (i, i, time.time())).encode()
                s.sendall(b"%x\r\n%s\r\n" % (len(ev), ev))
            s.sendall(b"0\r\n\r\n")
        elif p == "/bytes":
            n = int(q.get("n", "1024"))
            mode = q.get("mode", "length")
            hdrs = [("Content-Type", "application/octet-stream")]
            if mode == "length":
                hdrs.append(("Content-Length", str(n)))
            elif mode == "chunked":
                hdrs.append(("Transfer-Encoding", "chunked"))
            else:
                hdrs.append(("Connection", "close"))
                keep = False
            s.sendall(_resp_head(200, hdrs))
            if req.method == "HEAD":
                return keep
            left = n
            while left > 0:
                piece = PATTERN if left >= len(PATTERN) else PATTERN[:left]
                if mode == "chunked":
                    s.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
                else:
                    s.sendall(piece)
                left -= len(piece)
            if mode == "chunked":
                s.sendall(b"0\r\n\r\n")
        elif p == "/truncate":
            mode = q.get("mode", "length")
            if mode == "length":
                s.sendall(_resp_head(200, [("Content-Length", "100000")]) + b"x" * 50000)
            else:
                s.sendall(_resp_head(200, [("Transfer-Encoding", "chunked")]) +
                          b"1000\r\n" + b"y" * 4096 + b"\r\n" + b"1000\r\n" + b"y" * 1000)
            time.sleep(0.1)
            return False
        else:
            self.send_simple(s, req, 404, b"no such endpoint\n", keep=keep)
        return keep

    def ws(self, conn, s, req):
        key = req.header("sec-websocket-key")
        if (req.header("upgrade") or "").lower() != "websocket" or not key:
            self.send_simple(s, req, 400, b"not a websocket request\n", keep=False)
            return False
        if req.query.get("refuse"):
            self.send_simple(s, req, 403, b"no websocket for you\n", keep=self._keep(req))
            return self._keep(req)
        head = _resp_head(101, [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                ("Sec-WebSocket-Accept", ws_accept(key))])
        if req.query.get("hello"):  # server speaks first, in the same packet as the 101
            head += ws_frame(1, b"hello-from-server", mask=False)
        s.sendall(head)
        while True:
            h = conn.read_exact(2)
            fin = h[0] & 0x80
            op = h[0] & 0x0F
            n = h[1] & 0x7F
            if n == 126:
                n = struct.unpack("!H", conn.read_exact(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", conn.read_exact(8))[0]
            mk = conn.read_exact(4) if h[1] & 0x80 else None
            payload = conn.read_exact(n)
            if mk:
                payload = _ws_mask(payload, mk)
            if op == 8:
                s.sendall(ws_frame(8, payload[:2], mask=False))
                return False
            if op == 9:
                s.sendall(ws_frame(10, payload, mask=False))
                continue
            s.sendall(ws_frame(op, payload, mask=False, fin=bool(fin)))


class DropBackend(_BaseBackend):
    """Reads each request (head + body) and closes without answering. Records requests."""

    def serve_conn(self, s, cid, addr):
        conn = _Conn(s)
        req = _read_request(conn)
        for _ in _body_pieces(conn, req):
            pass
        self.record(req)
        s.close()


class RecordingBackend(_BaseBackend):
    """Records every raw byte received (all connections, in arrival order) and answers
    200 "ok" to each request it can frame (Content-Length or chunked)."""

    def __init__(self, name="recorder", port=0):
        self.raw = bytearray()
        super().__init__(name, port)

    def reset(self):
        with self.lock:
            self.raw.clear()
            self.requests.clear()
            self.requests_count = 0

    def received(self):
        with self.lock:
            return bytes(self.raw)

    def _on_bytes(self, data):
        with self.lock:
            self.raw += data

    def serve_conn(self, s, cid, addr):
        conn = _Conn(s, on_bytes=self._on_bytes)
        while True:
            req = _read_request(conn)
            h = hashlib.sha256()
            n = 0
            for piece in _body_pieces(conn, req):
                h.update(piece)
                n += len(piece)
            req.body_len = n
            req.body_sha = h.hexdigest()
            req.conn_id = cid
            self.record(req)
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


class ScriptBackend(_BaseBackend):
    """A backend whose behaviour is a function: script(backend, conn, sock, cid) serves one
    TCP connection (conn is a buffered _Conn; use read_request(conn) / body_pieces()).
    For misbehaving-upstream tests."""

    def __init__(self, script, name="script", port=0):
        self.script = script
        super().__init__(name, port)

    def serve_conn(self, s, cid, addr):
        self.script(self, _Conn(s), s, cid)


read_request = _read_request
body_pieces = _body_pieces
resp_head = _resp_head


@contextlib.contextmanager
def refused_port():
    """Yields a loopback port on which nothing listens (bound then closed)."""
    yield free_port()


# --------------------------------------------------------------------------- curl / wrk

class CurlResult:
    """rc, status, headers [(k, v)], body, stderr, elapsed; http_version ("1.1", "2")."""

    def __init__(self, rc, status, headers, body, stderr, elapsed):
        self.rc = rc
        self.status = status
        self.headers = headers
        self.body = body
        self.stderr = stderr
        self.elapsed = elapsed

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<curl rc=%s status=%s body=%r err=%r>" % (self.rc, self.status, self.body[:200],
                                                         self.stderr[-300:])


def curl(port, path="/", host=HOST_A, args=(), timeout=20.0, body_to=None, cacert=None,
         sni=None):
    """Runs curl against the edge with a Host header. Returns CurlResult (the final
    response's headers). body_to: a file path (e.g. /dev/null) instead of capturing.
    cacert: HTTPS instead, trusting that CA: the URL is https://SNI:port/path with SNI
    (default: host) resolved to 127.0.0.1, and a Host header only when host differs."""
    tmp = tempfile.mkdtemp(prefix="hostess-curl-")
    try:
        hdr_path = os.path.join(tmp, "h")
        out_path = body_to or os.path.join(tmp, "b")
        cmd = [CURL, "-sS", "--noproxy", "*", "-o", out_path, "-D", hdr_path,
               "-w", "%{http_version} %{http_code}", "--max-time", str(int(timeout)),
               "http://127.0.0.1:%d%s" % (port, path)]
        if cacert is not None:
            name = sni or host
            cmd[-1] = "https://%s:%d%s" % (name, port, path)
            cmd[1:1] = ["--cacert", cacert, "--resolve", "%s:%d:127.0.0.1" % (name, port)]
            if host is not None and host != name:
                cmd[1:1] = ["-H", "Host: " + host]
        elif host is not None:
            cmd[1:1] = ["-H", "Host: " + host]
        cmd[1:1] = list(args)
        t0 = time.monotonic()
        try:
            p = subprocess.run(cmd, capture_output=True, timeout=timeout + 5)
            rc, out, err = p.returncode, p.stdout.decode(), p.stderr.decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            rc, out, err = -1, "000", "curl: killed after timeout"
        elapsed = time.monotonic() - t0
        headers = []
        try:
            with open(hdr_path, "rb") as f:
                blocks = f.read().decode("latin-1").split("\r\n\r\n")
            blocks = [b for b in blocks if b.startswith("HTTP/")]
            if blocks:
                for ln in blocks[-1].split("\r\n")[1:]:
                    if ":" in ln:
                        k, v = ln.split(":", 1)
                        headers.append((k.strip(), v.strip()))
        except OSError:
            pass
        body = b""
        if body_to is None and os.path.exists(out_path):
            with open(out_path, "rb") as f:
                body = f.read()
        try:
            status = int(out.strip()[-3:])
        except ValueError:
            status = 0
        res = CurlResult(rc, status, headers, body, err, elapsed)
        res.http_version = out.strip().split(" ")[0] if " " in out.strip() else None
        return res
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class WrkResult:
    def __init__(self, rc, out, err):
        self.rc = rc
        self.out = out
        self.err = err
        self.requests = 0
        self.rps = 0.0
        self.non2xx = 0
        self.socket_errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
        m = re.search(r"(\d+) requests in", out)
        if m:
            self.requests = int(m.group(1))
        m = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if m:
            self.rps = float(m.group(1))
        m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        if m:
            self.non2xx = int(m.group(1))
        m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        if m:
            self.socket_errors = dict(zip(("connect", "read", "write", "timeout"),
                                          map(int, m.groups())))

    def total_socket_errors(self):
        return sum(self.socket_errors.values())

    def __repr__(self):
        return "<wrk requests=%d rps=%.0f non2xx=%d socket_errors=%s rc=%s>" % (
            self.requests, self.rps, self.non2xx, self.socket_errors, self.rc)


def wrk(port, path="/", host=HOST_A, connections=32, duration=6, threads=2, timeout_s=5,
        popen=False):
    cmd = [WRK, "-t", str(threads), "-c", str(connections), "-d", "%ds" % duration,
           "--timeout", "%ds" % timeout_s, "-H", "Host: " + host,
           "http://127.0.0.1:%d%s" % (port, path)]
    if popen:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p = subprocess.run(cmd, capture_output=True, timeout=duration + timeout_s + 20)
    return WrkResult(p.returncode, p.stdout.decode(), p.stderr.decode())


def wrk_finish(proc, duration, timeout_s=5):
    try:
        out, err = proc.communicate(timeout=duration + timeout_s + 20)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return WrkResult(proc.returncode, out.decode(), err.decode())


# --------------------------------------------------------------------------- TLS

class Certs:
    """A local CA and server certificates made with deploy/mkcerts.sh under dir:
    dir/ca.crt (what clients trust) and dir/certs/STEM.crt + STEM.key (dir/certs is the
    edge's tls.certs_dir: certs.certs_dir)."""

    def __init__(self, dir):
        self.dir = dir
        self.ca = os.path.join(dir, "ca.crt")
        self.certs_dir = os.path.join(dir, "certs")

    def make(self, *names, rsa=False, stem=None, days=None, outdir=None):
        """Makes a certificate for names (SANs; the first is the CN) signed by this CA.
        outdir: write it under outdir/certs instead (same CA, which must exist: make one
        certificate first), e.g. to swap it in later. Returns (crt path, key path)."""
        out = outdir or self.dir
        if outdir is not None:
            if not os.path.exists(self.ca):
                raise RuntimeError("Certs.make(outdir=...): make a certificate in %s first"
                                   % self.dir)
            os.makedirs(out, exist_ok=True)
            for f in ("ca.crt", "ca.key"):
                if not os.path.exists(os.path.join(out, f)):
                    shutil.copy(os.path.join(self.dir, f), os.path.join(out, f))
        cmd = ["/bin/sh", MKCERTS, out]
        if rsa:
            cmd.append("--rsa")
        if stem:
            cmd += ["--stem", stem]
        if days is not None:
            cmd += ["--days", str(days)]
        cmd += list(names)
        p = subprocess.run(cmd, capture_output=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError("mkcerts.sh failed (%d): %s" % (p.returncode,
                                                             p.stderr.decode(errors="replace")))
        st = stem or names[0].replace("*", "wildcard")
        return (os.path.join(out, "certs", st + ".crt"), os.path.join(out, "certs", st + ".key"))


def tls_context(cafile=None, alpn=("http/1.1",), verify=True, minimum=None, maximum=None,
                ciphers=None, check_hostname=None):
    """A client ssl.SSLContext: trusts cafile (verify=False: checks nothing), offers alpn
    (None: no ALPN extension). minimum/maximum: ssl.TLSVersion. check_hostname defaults to
    verify (it needs an SNI name)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        ctx.load_verify_locations(cafile)
        ctx.check_hostname = verify if check_hostname is None else check_hostname
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def cert_info(cert):
    """Facts about one certificate (PEM text/bytes, the first certificate of a chain or
    of a combined file, or DER bytes): {"sans": [dns names],
    "subject": "CN = ...", "key": "ec" | "rsa" | other, "sha256": hex fingerprint}."""
    if isinstance(cert, str):
        cert = cert.encode()
    if cert.lstrip().startswith(b"-----BEGIN"):
        m = re.search(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", cert, re.S)
        der = ssl.PEM_cert_to_DER_cert(m.group(0).decode())  # the first (leaf) certificate
    else:
        der = cert
    p = subprocess.run([OPENSSL, "x509", "-inform", "DER", "-noout", "-text", "-subject",
                        "-nameopt", "oneline"], input=der, capture_output=True, timeout=10)
    text = p.stdout.decode("utf-8", "replace")
    info = {"sha256": hashlib.sha256(der).hexdigest(), "sans": [], "subject": None, "key": None}
    m = re.search(r"X509v3 Subject Alternative Name:.*?\n\s*(.*)\n", text)
    if m:
        info["sans"] = [x.strip()[4:] for x in m.group(1).split(",") if x.strip().startswith("DNS:")]
    m = re.search(r"^subject=\s*(.*)$", text, re.M)
    if m:
        info["subject"] = m.group(1).strip()
    m = re.search(r"Public Key Algorithm:\s*(\S+)", text)
    if m:
        alg = m.group(1)
        info["key"] = {"id-ecPublicKey": "ec", "rsaEncryption": "rsa"}.get(alg, alg)
    return info


def file_cert_info(path):
    with open(path, "rb") as f:
        return cert_info(f.read())


class SClient:
    """What openssl s_client printed: rc, out, err, and parsed: handshake (bool: a
    certificate came back and a cipher was agreed), protocol ("TLSv1.3"), cipher,
    reused (bool), alpn (str or None), cert (cert_info() of the leaf, or None), and
    alert (the alert text in err, e.g. "no application protocol", or None)."""

    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err
        m = re.search(r"^(New|Reused), (TLSv[\d.]+|SSLv3|\(NONE\)), Cipher is (\S+)", out, re.M)
        self.reused = bool(m and m.group(1) == "Reused")
        self.protocol = m.group(2) if m else None
        self.cipher = m.group(3) if m else None
        self.handshake = bool(m and self.cipher not in ("(NONE)", "0000"))
        m = re.search(r"^ALPN protocol: (\S+)", out, re.M)
        self.alpn = m.group(1) if m else None
        m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
        self.cert = cert_info(m.group(0)) if m else None
        m = re.search(r"alert ([a-z ]+?)(?::|$)", err, re.M)
        self.alert = m.group(1).strip() if m else None
        m = re.search(r"Peer signature type: (\S+)", out + err)
        self.peer_sig = m.group(1) if m else None

    def __repr__(self):
        return "<s_client rc=%s %s %s reused=%s alpn=%s cert=%s alert=%s err=%r>" % (
            self.rc, self.protocol, self.cipher, self.reused, self.alpn,
            self.cert and (self.cert["sans"], self.cert["key"]), self.alert, self.err[-300:])


def s_client(port, servername=None, args=(), data=b"", timeout=10.0, cafile=None):
    """Runs `openssl s_client -connect 127.0.0.1:port` (-servername when given; -noservername
    otherwise) with extra args, writes data to its stdin and returns SClient. With data
    empty, s_client closes right after the handshake; for a request use data with
    "Connection: close" and "-ign_eof" in args."""
    cmd = [OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port]
    cmd += ["-servername", servername] if servername else ["-noservername"]
    if cafile:
        cmd += ["-CAfile", cafile, "-verify_return_error"]
    cmd += list(args)
    try:
        p = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = -1, e.stdout or b"", (e.stderr or b"") + b"\ns_client: killed after timeout"
    return SClient(rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def tls_get(port, sni, host, path, ctx, headers=(), timeout=10.0):
    """One HTTPS request on a fresh TLS connection (SNI sni, may be None). Returns
    (Resp, cert_info of the served certificate)."""
    with Client(port, timeout=timeout, tls=ctx, sni=sni) as cl:
        info = cert_info(cl.sock.getpeercert(binary_form=True))
        r = cl.request("GET", path, host, headers, None, timeout)
    return r, info


# --------------------------------------------------------------------------- checks

class Checker:
    """check(cond, name, detail) records a result; summary() prints "N passed, M failed"
    and returns the exit code."""

    def __init__(self, title):
        self.title = title
        self.passed = 0
        self.failed = []

    def check(self, cond, name, detail=""):
        if cond:
            self.passed += 1
            log("  ok   %s" % name)
        else:
            self.failed.append(name)
            log("  FAIL %s%s" % (name, (": " + str(detail)) if detail != "" else ""))
        return bool(cond)

    def error(self, name, exc):
        self.failed.append(name)
        log("  FAIL %s: exception %s: %s" % (name, type(exc).__name__, exc))

    def section(self, name, fn, *a, **kw):
        """Runs fn; an exception counts as one failure and the script goes on."""
        log("== %s" % name)
        try:
            fn(*a, **kw)
        except Exception as e:  # noqa: BLE001 - a scenario must report, not crash
            import traceback
            traceback.print_exc()
            self.error(name, e)

    def summary(self):
        log("%s: %d passed, %d failed" % (self.title, self.passed, len(self.failed)))
        if self.failed:
            log("failed: " + "; ".join(self.failed))
        log("%d passed, %d failed" % (self.passed, len(self.failed)))
        return 0 if not self.failed else 1


def require_edge():
    if not os.path.exists(EDGE_BIN):
        log("edge binary not found at %s (HOSTESS_EDGE_BIN); build it first" % EDGE_BIN)
        sys.exit(2)
