"""h2test: HTTP/2 client pieces for the h2_* scenarios (Debian's python3-h2 4.1 and hpack).

  H2Client(port)        a well-behaved prior-knowledge (h2c) client on python3-h2:
                        get()/request() -> Stream results, concurrent streams, flow control
  RawH2(port)           raw frames for what python3-h2 refuses to send (invalid headers,
                        floods, CONTINUATION, HPACK bombs): frame builders, a tiny HPACK
                        literal encoder, a frame reader that decodes the server's HEADERS
  Witness(port, host)   a well-behaved client on its own connection, GETting in a thread
                        while an abuse runs; .statuses() must all be 200

Everything is bounded by deadlines; nothing asserts durations.
"""

import socket
import struct
import threading
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import hpack

import edgetest as E

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# frame types
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20

# error codes
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, \
    STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, \
    CONNECT_ERROR, ENHANCE_YOUR_CALM = range(12)


class Stream:
    def __init__(self, sid):
        self.id = sid
        self.status = None
        self.headers = []
        self.informational = []
        self.data = bytearray()
        self.trailers = None
        self.ended = False
        self.reset = None      # error code of a RST_STREAM from the server
        self.events = []       # ("data", n) / ("end",) in arrival order

    def header(self, name, default=None):
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def done(self):
        return self.ended or self.reset is not None

    def __repr__(self):
        return "<Stream %d status=%s reset=%s ended=%s %dB>" % (
            self.id, self.status, self.reset, self.ended, len(self.data))


class H2Client(E.SocketOwner):
    """A python3-h2 client over a raw socket (prior knowledge). auto_ack: whether data is
    acknowledged (WINDOW_UPDATE) as soon as it is received."""

    def __init__(self, port, timeout=10.0, settings=None, auto_ack=True, validate=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                        validate_outbound_headers=validate,
                                        normalize_outbound_headers=validate,
                                        validate_inbound_headers=True)
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.streams = {}
        self.goaway = None          # (error_code, last_stream_id)
        self.closed = False
        self.remote_settings = {}
        self.auto_ack = auto_ack
        self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, path="/echo", host="app.hostess.localhost", method="GET", headers=(),
                body=None, end=True, authority=True):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", "http"), (":path", path)]
        if authority:
            hdrs.insert(1, (":authority", host))
        hdrs += list(headers)
        self.streams[sid] = Stream(sid)
        self.conn.send_headers(sid, hdrs, end_stream=(body is None and end))
        if body is not None:
            self.send_body(sid, body, end)
        self.flush()
        return sid

    def send_body(self, sid, body, end=True, deadline=None):
        """Sends body respecting flow control (reads while the window is closed)."""
        deadline = deadline or time.monotonic() + 60
        view = memoryview(body)
        while view:
            win = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if win <= 0:
                self.flush()
                self.pump(deadline, until=lambda: self.conn.local_flow_control_window(sid) > 0
                          or self.streams[sid].done())
                if self.streams[sid].done() or self.closed or time.monotonic() >= deadline:
                    return  # answered, gone, or the window stayed shut: the caller checks
                continue
            n = min(win, len(view))
            self.conn.send_data(sid, bytes(view[:n]))
            view = view[n:]
            self.flush()
        if end:
            self.conn.end_stream(sid)
            self.flush()

    def _on_events(self, events):
        for ev in events:
            st = self.streams.get(getattr(ev, "stream_id", None))
            if isinstance(ev, h2.events.ResponseReceived):
                st.headers = list(ev.headers)
                st.status = int(dict(ev.headers)[":status"])
            elif isinstance(ev, h2.events.InformationalResponseReceived):
                st.informational.append(list(ev.headers))
            elif isinstance(ev, h2.events.DataReceived):
                if st is not None:
                    st.data += ev.data
                    st.events.append(("data", len(ev.data)))
                if self.auto_ack and ev.flow_controlled_length:
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.TrailersReceived):
                st.trailers = list(ev.headers)
            elif isinstance(ev, h2.events.StreamEnded):
                st.ended = True
                st.events.append(("end",))
            elif isinstance(ev, h2.events.StreamReset):
                if st is not None:
                    st.reset = ev.error_code
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.goaway = (int(ev.error_code), ev.last_stream_id)
            elif isinstance(ev, h2.events.RemoteSettingsChanged):
                for k, v in ev.changed_settings.items():
                    self.remote_settings[int(k)] = v.new_value

    def pump(self, deadline, until):
        """Reads and processes frames until until() is true, EOF, or the deadline."""
        while not until():
            rem = deadline - time.monotonic()
            if rem <= 0:
                return False
            self.sock.settimeout(min(rem, 1.0))
            try:
                data = self.sock.recv(262144)
            except socket.timeout:
                continue
            except (ConnectionResetError, OSError):
                data = b""
            if not data:
                self.closed = True
                return until()
            try:
                events = self.conn.receive_data(data)
            except h2.exceptions.ProtocolError:
                self.closed = True
                return until()
            self._on_events(events)
            self.flush()
        return True

    def wait(self, sids, timeout=10.0):
        deadline = time.monotonic() + timeout
        self.pump(deadline, lambda: all(self.streams[s].done() for s in sids) or self.closed)
        return [self.streams[s] for s in sids]

    def get(self, path="/echo", host="app.hostess.localhost", timeout=10.0, **kw):
        sid = self.request(path, host, **kw)
        return self.wait([sid], timeout)[0]

    def wait_goaway(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        self.pump(deadline, lambda: self.goaway is not None or self.closed)
        return self.goaway



# --------------------------------------------------------------------------- raw frames

def frame(ftype, flags, sid, payload=b""):
    return struct.pack("!I", len(payload))[1:] + struct.pack("!BBI", ftype, flags, sid) + payload


def hp_int(value, prefix_bits, first=0):
    mx = (1 << prefix_bits) - 1
    if value < mx:
        return bytes([first | value])
    out = bytearray([first | mx])
    value -= mx
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hp_literal(name, value, index=False):
    """A literal field with a new name, without (or with incremental) indexing."""
    if isinstance(name, str):
        name = name.encode()
    if isinstance(value, str):
        value = value.encode()
    first = 0x40 if index else 0x00
    prefix = 6 if index else 4
    return hp_int(0, prefix, first) + hp_int(len(name), 7) + name + hp_int(len(value), 7) + value


def hp_block(fields):
    return b"".join(hp_literal(k, v) for k, v in fields)


def req_fields(path="/echo", host="app.hostess.localhost", method="GET", extra=()):
    return [(":method", method), (":scheme", "http"), (":authority", host),
            (":path", path)] + list(extra)


class RawH2(E.SocketOwner):
    """Raw frames on a socket after the preface and an empty SETTINGS. read() returns
    parsed server frames; HEADERS blocks are decoded with hpack."""

    def __init__(self, port, timeout=10.0, settings=b""):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.dec = hpack.Decoder()
        self.dec.max_allowed_table_size = 65536
        self.frames = []           # (type, flags, sid, payload)
        self.goaway = None         # (last_sid, code)
        self.resets = {}           # sid -> code
        self.status = {}           # sid -> int
        self.ended = set()
        self.closed = False
        self.next_sid = 1
        self.send(PREFACE + frame(SETTINGS, 0, 0, settings))

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.closed = True
            return False

    def sid(self):
        s = self.next_sid
        self.next_sid += 2
        return s

    def headers(self, sid, fields, end_stream=True, end_headers=True):
        flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
        return frame(HEADERS, flags, sid, hp_block(fields) if isinstance(fields, list) else fields)

    def get(self, path="/echo", host="app.hostess.localhost", extra=()):
        sid = self.sid()
        self.send(self.headers(sid, req_fields(path, host, extra=extra)))
        return sid

    def _parse(self):
        while len(self.buf) >= 9:
            ln = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + ln:
                return
            ftype, flags = self.buf[3], self.buf[4]
            sid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
            payload = bytes(self.buf[9:9 + ln])
            del self.buf[:9 + ln]
            self.frames.append((ftype, flags, sid, payload))
            if ftype == GOAWAY:
                self.goaway = (int.from_bytes(payload[:4], "big") & 0x7FFFFFFF,
                               int.from_bytes(payload[4:8], "big"))
            elif ftype == RST_STREAM:
                self.resets[sid] = int.from_bytes(payload[:4], "big")
            elif ftype == HEADERS:
                block = payload
                if flags & PADDED:
                    block = block[1:len(block) - payload[0]]
                if flags & PRIORITY_FLAG:
                    block = block[5:]
                try:
                    for k, v in self.dec.decode(block):
                        if k in (":status", b":status"):
                            code = int(v)
                            if code >= 200:
                                self.status[sid] = code
                except Exception:  # noqa: BLE001 - a continuation we do not join
                    pass
                if flags & END_STREAM:
                    self.ended.add(sid)
            elif ftype == DATA and flags & END_STREAM:
                self.ended.add(sid)
            elif ftype == SETTINGS and not flags & ACK:
                self.send(frame(SETTINGS, ACK, 0))
            elif ftype == PING and not flags & ACK:
                pass  # the abuse scenarios decide whether to answer

    def read(self, until, timeout=10.0):
        """Reads until until(self) is true, EOF or the deadline; returns until(self)."""
        deadline = time.monotonic() + timeout
        while not until(self) and not self.closed:
            rem = deadline - time.monotonic()
            if rem <= 0:
                break
            self.sock.settimeout(min(rem, 0.5))
            try:
                d = self.sock.recv(262144)
            except socket.timeout:
                continue
            except (ConnectionResetError, OSError):
                d = b""
            if not d:
                self.closed = True
                break
            self.buf += d
            self._parse()
        return until(self)

    def wait_goaway(self, timeout=10.0):
        self.read(lambda s: s.goaway is not None, timeout)
        return self.goaway

    def wait_closed(self, timeout=10.0):
        """True when the server closed the connection (EOF or reset) within timeout."""
        self.read(lambda s: False, timeout)
        return self.closed



class Witness(threading.Thread):
    """A well-behaved h2 client on its own connection: GETs in a loop until stop()."""

    def __init__(self, port, host="app.hostess.localhost", path="/echo"):
        super().__init__(daemon=True)
        self.port, self.host, self.path = port, host, path
        self.results = []
        self.errors = []
        self._stop_ev = threading.Event()
        self.start()

    def run(self):
        try:
            with H2Client(self.port) as c:
                while not self._stop_ev.is_set():
                    st = c.get(self.path, self.host, timeout=10)
                    self.results.append(st.status)
                    if c.closed or c.goaway is not None:
                        self.errors.append("connection ended: %s" % (c.goaway,))
                        return
                    time.sleep(0.02)
        except Exception as e:  # noqa: BLE001 - reported by the scenario
            self.errors.append(repr(e))

    def stop(self):
        """Stops after at least one more request; returns (statuses, errors)."""
        n = len(self.results)
        deadline = time.monotonic() + 10
        while len(self.results) <= n and time.monotonic() < deadline and self.is_alive():
            time.sleep(0.02)
        self._stop_ev.set()
        self.join(15)
        return list(self.results), list(self.errors)


def witness_ok(c, w, name):
    statuses, errors = w.stop()
    c.check(statuses and all(s == 200 for s in statuses) and not errors,
            "%s: a well-behaved client on another connection kept getting 200s" % name,
            (statuses[-5:], len(statuses), errors))
