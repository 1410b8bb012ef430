#!/bin/sh
# Installs the dependencies, builds hostess-edge, and runs it in front of sample backends
# the way the deploy orchestrator does: through the control API (create a service with
# two ports, deploy v1, promote; deploy v2 next to it). It serves HTTPS with a local CA
# and a *.hostess.localhost ECDSA certificate made by deploy/mkcerts.sh; plain HTTP
# redirects there. Local state, printed curl lines (--cacert for the local CA).
# Ctrl-C stops everything; the state (and the CA) survives in demo-state/ for the next run.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
sh "$here/deploy/install-deps.sh"

build="$here/build"
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHOSTESS_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target hostess-edge hostess-bench-backend

port=${HOSTESS_DEMO_PORT:-8080}
hport=${HOSTESS_DEMO_HTTPS_PORT:-8443}
cport=${HOSTESS_DEMO_CONTROL_PORT:-9090}
state="$here/demo-state"
mkdir -p "$state"
# A local CA and a *.hostess.localhost ECDSA P-256 certificate (kept across runs).
pki="$state/tls"
ca="$pki/ca.crt"
if [ ! -s "$pki/certs/wildcard.hostess.localhost.crt" ] || [ ! -s "$ca" ]; then
    sh "$here/deploy/mkcerts.sh" "$pki" '*.hostess.localhost' >/dev/null
fi
cat > "$state/edge.yaml" <<YAML
# Written by deploy/demo.sh. Edit and send SIGHUP (kill -HUP \$(cat $state/edge.pid)) to reload
# (also after changing the certificates in $pki/certs).
domain: hostess.localhost
listen: {http: "127.0.0.1:$port", https: "127.0.0.1:$hport"}
http_mode: redirect
tls: {certs_dir: "$pki/certs"}
workers: auto
control: {listen: "127.0.0.1:$cport", token_file: "$state/control.token"}
state: {path: "$state/state/edge.json"}
log: {access: "$state/access.log", error: "-", level: info}
YAML

# Pods: v1 serves ports 9101 (web) and 9102 (admin); v2 serves 9201 and 9202.
"$build/bench/hostess-bench-backend" --listen 127.0.0.1:9101 --listen 127.0.0.1:9102 \
    --listen 127.0.0.1:9201 --listen 127.0.0.1:9202 2>"$state/backends.log" &
backends=$!
"$build/control/hostess-edge" --config "$state/edge.yaml" &
edge=$!
echo "$edge" > "$state/edge.pid"
trap 'kill $edge $backends 2>/dev/null; wait $edge $backends 2>/dev/null; exit 0' INT TERM
i=0
while ! curl -s -o /dev/null "http://127.0.0.1:$cport/v1/health"; do
    i=$((i + 1))
    if [ $i -ge 50 ] || ! kill -0 $edge 2>/dev/null; then
        echo "hostess-edge did not start (see the messages above)" >&2
        kill $edge $backends 2>/dev/null
        exit 1
    fi
    sleep 0.1
done

api() { # METHOD PATH [BODY]: one control API call; fails the demo on an error status
    curl -sS --fail-with-body -X "$1" -H "Authorization: Bearer $(cat "$state/control.token")" \
        "http://127.0.0.1:$cport$2" ${3:+-d "$3"} || return 1
    echo
}
svc=/v1/services/shop/prod/web
# The orchestrator may supply the nanoid it already has; the edge keeps it forever.
api PUT $svc '{"ports":[{"port":8000},{"port":9000}],"nanoid":"a8k2m9x1",
               "health":{"path":"/","interval_ms":1000}}' >/dev/null
if ! api GET $svc/deployments/v1 >/dev/null 2>&1; then
    api POST $svc/deployments '{"id":"v1","sha":"1a2b3c4d5e6f",
        "targets":[{"address":"127.0.0.1","ports":[9101,9102]}]}' >/dev/null
    api POST $svc/deployments/v1/promote '{"require_healthy":true,"wait_ms":10000}' >/dev/null
fi
if ! api GET $svc/deployments/v2 >/dev/null 2>&1; then
    api POST $svc/deployments '{"id":"v2","sha":"9f8e7d6c5b4a",
        "targets":[{"address":"127.0.0.1","ports":[9201,9202]}]}' >/dev/null
fi

web=shop-web-a8k2m9x1.hostess.localhost
# curl resolves *.localhost to the loopback address itself: no /etc/hosts entry needed.
# Does the edge speak HTTP/2 (ALPN h2)? Asked now rather than assumed.
h2=$(curl -s -o /dev/null --max-time 5 --http2 --cacert "$ca" -w '%{http_version}' \
     "https://$web:$hport/" || true)
if [ "$h2" = 2 ]; then
    h2lines="
  curl --http2 --cacert $ca https://$web:$hport/   # HTTP/2 (ALPN h2)
  curl --http2 --cacert $ca -I https://shop-web-9f8e7d6.hostess.localhost:$hport/"
else
    h2lines="
  (HTTP/2 to clients comes later: this edge answers ALPN with http/1.1 only, so curl's
   --http2 falls back to HTTP/1.1 here.)"
fi
redirect=$(curl -s -i --max-time 5 "http://$web:$port/some/path?q=1" | tr -d '\r' |
           grep -iE '^(HTTP/|location:)' | sed 's/^/    /' || true)
cat <<MSG

hostess-edge is running: HTTPS on https://127.0.0.1:$hport (certificate for
*.hostess.localhost from the local CA $ca), plain HTTP on
http://127.0.0.1:$port (redirects to HTTPS), control API http://127.0.0.1:$cport
(token in $state/control.token; state in $state/state/).
Service shop/prod/web has deployment v1 (active) and v2 (pending promotion). Try:

  curl --http1.1 --cacert $ca https://$web:$hport/   # stable host, port 1 (v1)
  curl --http1.1 --cacert $ca https://shop-web-a8k2m9x1-2.hostess.localhost:$hport/   # stable host, port 2
  curl --http1.1 --cacert $ca https://shop-web-1a2b3c4.hostess.localhost:$hport/   # deployment v1
  curl --http1.1 --cacert $ca https://shop-web-9f8e7d6.hostess.localhost:$hport/   # deployment v2
  curl --http1.1 --cacert $ca -i https://unknown.hostess.localhost:$hport/   # 404 from the edge
$h2lines

Plain HTTP redirects (308) to the same URL on HTTPS:

  curl -i 'http://$web:$port/some/path?q=1'
$redirect
  curl -L --cacert $ca http://$web:$port/   # follow it

  T=\$(cat $state/control.token)
  curl -H "Authorization: Bearer \$T" http://127.0.0.1:$cport/v1/services/shop/prod/web
  curl -H "Authorization: Bearer \$T" -X POST -d '{"require_healthy":true,"wait_ms":5000}' \\
       http://127.0.0.1:$cport/v1/services/shop/prod/web/deployments/v2/promote   # blue/green swap
  curl -N -H "Authorization: Bearer \$T" http://127.0.0.1:$cport/v1/events          # change stream
  curl -H "Authorization: Bearer \$T" http://127.0.0.1:$cport/metrics

The API is documented in docs/control-api.md. Ctrl-C stops the edge and the backends.
MSG
wait $edge
