#!/usr/bin/python3
"""smuggling: raw-byte HTTP/1.1 request-smuggling and malformed-request cases.

Every REJECT case is sent on a fresh socket to the edge whose only route points at a
RecordingBackend. For each case we assert:
  - the status line (expected status, or one of a small set where the RFCs allow both),
  - the edge closes the connection afterwards (recv returns b"" within 2 s),
  - the recording backend received NO byte (recorded per case, reset between cases).
CONTROL cases are valid requests that must reach the backend rebuilt: exactly the body,
Content-Length or chunked but never both, no hop-by-hop headers.

Usage: smuggling.py                       against hostess-edge (HOSTESS_EDGE_BIN)
       smuggling.py --target-port PORT --backend-port BPORT
                                          against another proxy already running on PORT
                                          whose route for app.hostess.localhost points at
                                          127.0.0.1:BPORT (the script starts the recorder
                                          on BPORT) — used to sanity-check with nginx.
"""
import argparse
import sys
import time

import edgetest as E

H = E.HOST_A
HOST = b"Host: " + H.encode() + b"\r\n"
CLOSE = b"Connection: close\r\n"


def req(line=b"GET / HTTP/1.1", headers=HOST, body=b""):
    return line + b"\r\n" + headers + b"\r\n" + body


def post(headers, body):
    return b"POST /p HTTP/1.1\r\n" + HOST + headers + b"\r\n" + body


CHUNKED = b"Transfer-Encoding: chunked\r\n"
ZERO = b"0\r\n\r\n"

# (name, bytes, expected status or set of statuses)
REJECT = [
    # --- CL + TE, TE + CL, in several spellings
    ("cl_te", post(b"Content-Length: 5\r\n" + CHUNKED, ZERO), 400),
    ("te_cl", post(CHUNKED + b"Content-Length: 5\r\n", ZERO), 400),
    ("cl_te_upper", post(b"CONTENT-LENGTH: 5\r\nTRANSFER-ENCODING: CHUNKED\r\n", ZERO), 400),
    ("cl_te_tab_value", post(b"Content-Length: 5\r\nTransfer-Encoding:\tchunked\r\n", ZERO), 400),
    ("cl_te_trailing_tab", post(b"Content-Length: 5\r\nTransfer-Encoding: chunked\t\r\n", ZERO), 400),
    ("cl_te_mixed_case", post(b"Content-Length: 5\r\nTransfer-Encoding: ChUnKeD\r\n", ZERO), 400),
    ("cl_te_cl0", post(b"Content-Length: 0\r\n" + CHUNKED, b"5\r\nhello\r\n0\r\n\r\n"), 400),
    ("cl_te_obsfold", post(b"Content-Length: 5\r\nTransfer-Encoding:\r\n chunked\r\n", ZERO), 400),
    ("cl_te_space_before_colon", post(b"Content-Length: 5\r\nTransfer-Encoding : chunked\r\n", ZERO), 400),
    ("cl_te_double", post(b"Content-Length: 5\r\n" + CHUNKED + CHUNKED, ZERO), 400),
    # --- duplicate / malformed Content-Length
    ("dup_cl_same", post(b"Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"), 400),
    ("dup_cl_diff", post(b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"), 400),
    ("cl_list", post(b"Content-Length: 5, 5\r\n", b"hello"), 400),
    ("cl_plus", post(b"Content-Length: +5\r\n", b"hello"), 400),
    ("cl_minus", post(b"Content-Length: -5\r\n", b"hello"), 400),
    ("cl_inner_space", post(b"Content-Length: 1 0\r\n", b"helloworld"), 400),
    ("cl_hex", post(b"Content-Length: 0x5\r\n", b"hello"), 400),
    ("cl_empty", post(b"Content-Length: \r\n", b""), 400),
    ("cl_huge", post(b"Content-Length: 99999999999999999999999999\r\n", b"hello"), 400),
    ("cl_trailing_garbage", post(b"Content-Length: 5x\r\n", b"hello"), 400),
    ("cl_decimal", post(b"Content-Length: 5.0\r\n", b"hello"), 400),
    # --- Transfer-Encoding variants (no CL)
    ("te_gzip_chunked", post(b"Transfer-Encoding: gzip, chunked\r\n", ZERO), 501),
    ("te_chunked_chunked", post(b"Transfer-Encoding: chunked, chunked\r\n", ZERO), {400, 501}),
    ("te_two_chunked_headers", post(CHUNKED + CHUNKED, ZERO), {400, 501}),
    ("te_chunked_gzip", post(b"Transfer-Encoding: chunked, gzip\r\n", ZERO), {400, 501}),
    ("te_xchunked", post(b"Transfer-Encoding: xchunked\r\n", ZERO), {400, 501}),
    ("te_identity", post(b"Transfer-Encoding: identity\r\n", b""), {400, 501}),
    ("te_gzip", post(b"Transfer-Encoding: gzip\r\n", b"hello"), {400, 501}),
    ("te_empty", post(b"Transfer-Encoding: \r\n", b""), {400, 501}),
    ("te_http10", b"POST /p HTTP/1.0\r\n" + HOST + CHUNKED + b"\r\n" + ZERO, 400),
    ("te_http10_with_cl", b"POST /p HTTP/1.0\r\n" + HOST + CHUNKED + b"Content-Length: 5\r\n\r\n" + ZERO, 400),
    # --- bad chunk framing
    ("chunk_size_0x", post(CHUNKED, b"0x5\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_negative", post(CHUNKED, b"-5\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_17_hex_digits", post(CHUNKED, b"10000000000000005\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_missing", post(CHUNKED, b"\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_not_hex", post(CHUNKED, b"g\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_data_without_crlf", post(CHUNKED, b"5\r\nhelloXX0\r\n\r\n"), 400),
    ("chunk_bare_cr_in_ext", post(CHUNKED, b"5;a\rb\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_huge_extension", post(CHUNKED, b"5;" + b"e" * 5000 + b"\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_lf_only", post(CHUNKED, b"5\nhello\n0\n\n"), 400),
    ("chunk_cl_in_trailers", post(CHUNKED, b"5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n"), 400),
    ("chunk_size_trailing_space", post(CHUNKED, b"5 \r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_leading_space", post(CHUNKED, b" 5\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_nul_in_ext", post(CHUNKED, b"5;a=\x00\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_trailer_obs_fold", post(CHUNKED, b"5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n"), 400),
    ("chunk_trailer_bad_name", post(CHUNKED, b"5\r\nhello\r\n0\r\nX T: a\r\n\r\n"), 400),
    ("chunk_te_in_trailers", post(CHUNKED, b"5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400),
    # --- header block framing
    ("head_ended_by_cr_x", b"GET / HTTP/1.1\r\n" + HOST + b"\rXGET /smuggled HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    ("bare_lf_everywhere", b"GET / HTTP/1.1\nHost: " + H.encode() + b"\n\n", 400),
    ("bare_lf_one_header", b"GET / HTTP/1.1\r\nX-A: 1\nHost: " + H.encode() + b"\r\n\r\n", 400),
    ("bare_lf_request_line", b"GET / HTTP/1.1\n" + HOST + b"\r\n", 400),
    ("bare_cr_in_value", req(headers=HOST + b"X-A: a\rb\r\n"), 400),
    ("nul_in_value", req(headers=HOST + b"X-A: a\x00b\r\n"), 400),
    ("del_in_value", req(headers=HOST + b"X-A: a\x7fb\r\n"), 400),
    ("obs_fold", req(headers=HOST + b"X-A: a\r\n b\r\n"), 400),
    ("obs_fold_first_line", req(headers=b" X-A: a\r\n" + HOST), 400),
    ("space_before_colon", req(headers=HOST + b"X-A : b\r\n"), 400),
    ("tab_before_colon", post(b"Content-Length\t: 5\r\n", b"hello"), 400),
    ("empty_header_name", req(headers=HOST + b": b\r\n"), 400),
    ("space_in_header_name", req(headers=HOST + b"X A: b\r\n"), 400),
    ("bad_char_in_header_name", req(headers=HOST + b"X(A): b\r\n"), 400),
    ("header_without_colon", req(headers=HOST + b"X-A b\r\n"), 400),
    # --- Host
    ("missing_host", req(headers=b"X-A: 1\r\n"), 400),
    ("duplicate_host_same", req(headers=HOST + HOST), 400),
    ("duplicate_host_diff", req(headers=HOST + b"Host: api.hostess.localhost\r\n"), 400),
    ("empty_host", req(headers=b"Host: \r\n"), 400),
    ("host_with_space", req(headers=b"Host: app hostess.localhost\r\n"), 400),
    ("host_with_slash", req(headers=b"Host: app.hostess.localhost/x\r\n"), 400),
    ("host_with_userinfo", req(headers=b"Host: u@app.hostess.localhost\r\n"), 400),
    ("host_bad_port", req(headers=b"Host: app.hostess.localhost:8o\r\n"), 400),
    # --- request line
    ("http09", b"GET /\r\n\r\n", 400),
    ("asterisk_get", req(b"GET * HTTP/1.1"), 400),
    ("fragment_in_target", req(b"GET /a#frag HTTP/1.1"), 400),
    ("space_in_target", req(b"GET /a b HTTP/1.1"), 400),
    ("double_space_after_method", req(b"GET  / HTTP/1.1"), 400),
    ("trailing_space_after_version", req(b"GET / HTTP/1.1 "), 400),
    ("tab_separators", req(b"GET\t/\tHTTP/1.1"), 400),
    ("absolute_form_host_mismatch", req(b"GET http://api.hostess.localhost/ HTTP/1.1"), 400),
    ("absolute_form_other_scheme", req(b"GET ftp://app.hostess.localhost/ HTTP/1.1"), 400),
    ("invalid_method_chars", req(b"G(T / HTTP/1.1"), 400),
    ("nul_in_method", req(b"G\x00T / HTTP/1.1"), 400),
    ("lowercase_version", req(b"GET / http/1.1"), 400),
    ("version_2_0", req(b"GET / HTTP/2.0"), {400, 505}),
    ("version_garbage", req(b"GET / HTTP/1.x"), 400),
    ("ctl_in_target", req(b"GET /a\x01b HTTP/1.1"), 400),
    ("del_in_target", req(b"GET /a\x7fb HTTP/1.1"), 400),
    ("non_ascii_in_target", req(b"GET /caf\xc3\xa9 HTTP/1.1"), 400),
    ("connect_method", b"CONNECT app.hostess.localhost:443 HTTP/1.1\r\n" + HOST + b"\r\n", {400, 405, 501}),
    # --- limits
    ("request_line_too_long", req(b"GET /" + b"a" * 9000 + b" HTTP/1.1"), 414),
    ("too_many_header_fields", req(headers=HOST + b"".join(b"X-H%d: v\r\n" % i for i in range(120))), 431),
    ("head_too_large", req(headers=HOST + b"".join(b"X-Big%d: %s\r\n" % (i, b"v" * 9000) for i in range(4))), 431),
    # --- Expect
    ("expect_other", post(b"Content-Length: 5\r\nExpect: something-else\r\n", b"hello"), 417),
]

# Pipelining: the first request is valid and must be answered (and forwarded); the second
# is malformed and must be rejected 400 without any of its bytes reaching the backend.
VALID1 = b"GET /first HTTP/1.1\r\n" + HOST + b"\r\n"
PIPELINE = [
    ("pipeline_valid_then_cl_te", VALID1 + post(b"Content-Length: 5\r\n" + CHUNKED, ZERO)),
    ("pipeline_valid_then_bare_lf", VALID1 + b"GET /second HTTP/1.1\nHost: " + H.encode() + b"\n\n"),
    ("pipeline_valid_then_http09", VALID1 + b"GET /second\r\n\r\n"),
    ("pipeline_valid_then_dup_cl", VALID1 + post(b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!")),
    ("pipeline_valid_then_obs_fold", VALID1 + b"GET /second HTTP/1.1\r\n" + HOST + b"X-A: a\r\n b\r\n\r\n"),
]

HOP = [b"connection:", b"keep-alive:", b"proxy-connection:", b"te:", b"trailer:", b"upgrade:",
       b"proxy-authorization:", b"x-secret:", b"http2-settings:"]

# (name, bytes, expected body, expected status, required-in-request checks)
CONTROLS = [
    ("ctl_chunked_with_extensions",
     post(CHUNKED + CLOSE, b"5;ext=1\r\nhello\r\n6;a=\"b c\";d\r\n world\r\n0\r\n\r\n"), b"hello world"),
    ("ctl_chunked_with_trailer",
     post(CHUNKED + CLOSE, b"5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"), b"hello"),
    ("ctl_te_tab_ows", post(b"Transfer-Encoding:\tchunked\t\r\n" + CLOSE, b"5\r\nhello\r\n0\r\n\r\n"), b"hello"),
    ("ctl_cl_leading_zeros", post(b"Content-Length: 005\r\n" + CLOSE, b"hello"), b"hello"),
    ("ctl_chunk_leading_zeros_upper_hex",
     post(CHUNKED + CLOSE, b"0005\r\nhello\r\n00A\r\n0123456789\r\n0;last=1\r\n\r\n"), b"hello0123456789"),
    ("ctl_content_length_body", post(b"Content-Length: 5\r\n" + CLOSE, b"hello"), b"hello"),
    ("ctl_http10", b"GET /h10 HTTP/1.0\r\n" + HOST + b"\r\n", b""),
    ("ctl_hop_by_hop_stripped",
     b"GET /hop HTTP/1.1\r\n" + HOST + b"Connection: keep-alive, X-Secret, close\r\nX-Secret: s\r\n"
     b"Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nTrailer: X-T\r\n"
     b"Proxy-Authorization: Basic dTpw\r\n\r\n", b""),
    ("ctl_h2c_upgrade_stripped",
     b"GET /upgrade-test HTTP/1.1\r\n" + HOST + b"Connection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\n"
     b"HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n", b""),
    ("ctl_absolute_form_same_host",
     b"GET http://app.hostess.localhost/abs HTTP/1.1\r\n" + HOST + CLOSE + b"\r\n", b""),
    ("ctl_request_line_near_limit", req(b"GET /" + b"a" * 8000 + b" HTTP/1.1", HOST + CLOSE), b""),
    ("ctl_100_header_fields",
     req(headers=HOST + CLOSE + b"".join(b"X-H%d: v\r\n" % i for i in range(98))), b""),
]


def check_reject(c, port, rec, name, data, expect):
    rec.reset()
    status, got, closed = E.raw_exchange(port, data, timeout=3.0, close_wait=2.0)
    time.sleep(0.15)  # anything forwarded asynchronously would have arrived by now
    raw = rec.received()
    exp = expect if isinstance(expect, set) else {expect}
    problems = []
    if status not in exp:
        problems.append("status %s, expected %s" % (status, "/".join(map(str, sorted(exp)))))
    if not closed:
        problems.append("connection not closed within 2 s")
    if raw:
        problems.append("backend received %d bytes: %r" % (len(raw), raw[:120]))
    return c.check(not problems, name, "; ".join(problems) + (" | reply %r" % got[:100] if problems else ""))


def check_pipeline(c, port, rec, name, data):
    rec.reset()
    status, got, closed = E.raw_exchange(port, data, timeout=3.0, close_wait=2.0)
    time.sleep(0.15)
    raw = rec.received()
    st = E.statuses(got)
    problems = []
    if st != [200, 400]:
        problems.append("statuses %s, expected [200, 400]" % st)
    if not closed:
        problems.append("connection not closed within 2 s")
    with rec.lock:
        n = rec.requests_count
        paths = [r.target for r in rec.requests]
    if n != 1 or paths != ["/first"]:
        problems.append("backend saw %d requests %s, expected only /first" % (n, paths))
    if raw.count(b"HTTP/1.") != 1 or b"/second" in raw or b"POST" in raw:
        problems.append("backend received bytes of the second request: %r" % raw[:300])
    return c.check(not problems, name, "; ".join(problems))


def check_control(c, port, rec, name, data, body):
    rec.reset()
    status, got, closed = E.raw_exchange(port, data, timeout=3.0, close_wait=2.0)
    time.sleep(0.15)
    raw = rec.received()
    problems = []
    if status != 200:
        problems.append("status %s, expected 200 (reply %r)" % (status, got[:120]))
    with rec.lock:
        reqs = list(rec.requests)
    if len(reqs) != 1:
        problems.append("backend saw %d requests, expected 1" % len(reqs))
    else:
        r = reqs[0]
        te, cl = r.header("transfer-encoding"), r.header("content-length")
        if te is not None and cl is not None:
            problems.append("backend got both Content-Length and Transfer-Encoding")
        if len(r.header_all("content-length")) > 1 or len(r.header_all("transfer-encoding")) > 1:
            problems.append("backend got a duplicated framing header")
        if body and te is None and cl is None:
            problems.append("backend got a body without Content-Length or chunked")
        if te is not None and te.strip().lower() != "chunked":
            problems.append("backend got Transfer-Encoding %r" % te)
        import hashlib
        if r.body_len != len(body) or r.body_sha != hashlib.sha256(body).hexdigest():
            problems.append("backend body %d bytes, expected %d" % (r.body_len, len(body)))
        head = r.raw_head.lower()
        for hop in HOP:
            if (b"\r\n" + hop) in head:
                problems.append("hop-by-hop header reached the backend: %s" % hop.decode())
        if r.target.startswith("http://") or r.target.startswith("ftp://"):
            pass  # absolute-form may be forwarded as is; origin-form preferred
    if b"X-Secret: s" in raw or b"h2c" in raw:
        problems.append("stripped header value reached the backend")
    return c.check(not problems, name, "; ".join(problems))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target-port", type=int)
    ap.add_argument("--backend-port", type=int, default=0)
    args = ap.parse_args()
    c = E.Checker("smuggling")
    log = E.log
    log("cases: %d reject + %d pipeline + %d controls" % (len(REJECT), len(PIPELINE), len(CONTROLS)))
    names = [n for n, *_ in REJECT + PIPELINE + CONTROLS]
    assert len(names) == len(set(names)), "duplicate case names"

    with E.RecordingBackend(port=args.backend_port) as rec:
        def run(port):
            log("== reject cases")
            for name, data, expect in REJECT:
                check_reject(c, port, rec, name, data, expect)
            log("== pipelining")
            for name, data in PIPELINE:
                check_pipeline(c, port, rec, name, data)
            log("== valid controls")
            for name, data, body in CONTROLS:
                check_control(c, port, rec, name, data, body)

        if args.target_port:
            run(args.target_port)
        else:
            E.require_edge()
            with E.Edge(E.edge_config({H: [E.target(rec)]})) as edge:
                run(edge.port)
                c.check(edge.alive(), "edge still running after all cases")
    return c.summary()


if __name__ == "__main__":
    sys.exit(main())
