#!/bin/bash
# Smoke test for hostess-bench-backend: start it on a kernel-chosen port, curl /health
# and /, check the bodies, stop it with SIGTERM and expect exit status 0.
# usage: smoke_backend.sh PATH/TO/hostess-bench-backend
set -u
bin=${1:?usage: smoke_backend.sh BACKEND_BIN}
dir=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; cat "$dir/err" >&2 2>/dev/null; exit 1; }

"$bin" --listen 127.0.0.1:0 --listen 127.0.0.1:0 2>"$dir/err" &
pid=$!
for _ in $(seq 100); do
    [ "$(grep -c '^listening on ' "$dir/err")" = 2 ] && break
    kill -0 "$pid" 2>/dev/null || fail "backend exited early"
    sleep 0.05
done
ports=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$dir/err")
[ "$(echo "$ports" | wc -l)" = 2 ] || fail "expected two 'listening on' lines"

for port in $ports; do
    body=$(curl -sS --max-time 5 "http://127.0.0.1:$port/health") || fail "curl /health"
    [ "$body" = "ok" ] || fail "/health said '$body'"
    body=$(curl -sS --max-time 5 "http://127.0.0.1:$port/x") || fail "curl /x"
    [ "$body" = "hello from $port" ] || fail "/x said '$body'"
done
# Two requests on one connection (keep-alive) and a POST body that must be skipped.
out=$(curl -sS --max-time 5 -d 'abc' "http://127.0.0.1:$port/a" "http://127.0.0.1:$port/health") \
    || fail "keep-alive + POST"
[ "$out" = "hello from ${port}
ok" ] || fail "keep-alive + POST said '$out'"

kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
[ "$rc" = 0 ] || fail "exit status $rc after SIGTERM"
echo "ok: backend smoke test passed"
