#!/bin/sh
# Installs the dependencies, builds hostess-edge, and runs it in front of sample backends
# the way the deploy orchestrator does: through the control API (create a service with
# two ports, deploy v1, promote; deploy v2 next to it). Local state, printed curl lines.
# Ctrl-C stops everything; the state survives in demo-state/ for the next run.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
sh "$here/deploy/install-deps.sh"

build="$here/build"
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHOSTESS_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target hostess-edge hostess-bench-backend

port=${HOSTESS_DEMO_PORT:-8080}
cport=${HOSTESS_DEMO_CONTROL_PORT:-9090}
state="$here/demo-state"
mkdir -p "$state"
cat > "$state/edge.yaml" <<YAML
# Written by deploy/demo.sh. Edit and send SIGHUP (kill -HUP \$(cat $state/edge.pid)) to reload.
domain: hostess.localhost
listen: {http: "127.0.0.1:$port"}
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
cat <<MSG

hostess-edge is running: data plane http://127.0.0.1:$port, control API
http://127.0.0.1:$cport (token in $state/control.token; state in $state/state/).
Service shop/prod/web has deployment v1 (active) and v2 (pending promotion). Try:

  curl -H 'Host: $web' http://127.0.0.1:$port/                       # stable host, port 1 (v1)
  curl -H 'Host: shop-web-a8k2m9x1-2.hostess.localhost' http://127.0.0.1:$port/     # stable host, port 2
  curl -H 'Host: shop-web-1a2b3c4.hostess.localhost' http://127.0.0.1:$port/        # deployment v1
  curl -H 'Host: shop-web-9f8e7d6.hostess.localhost' http://127.0.0.1:$port/        # deployment v2
  curl -i -H 'Host: unknown.hostess.localhost' http://127.0.0.1:$port/               # 404 from the edge

  T=\$(cat $state/control.token)
  curl -H "Authorization: Bearer \$T" http://127.0.0.1:$cport/v1/services/shop/prod/web
  curl -H "Authorization: Bearer \$T" -X POST -d '{"require_healthy":true,"wait_ms":5000}' \\
       http://127.0.0.1:$cport/v1/services/shop/prod/web/deployments/v2/promote   # blue/green swap
  curl -N -H "Authorization: Bearer \$T" http://127.0.0.1:$cport/v1/events          # change stream
  curl -H "Authorization: Bearer \$T" http://127.0.0.1:$cport/metrics

The API is documented in docs/control-api.md. Ctrl-C stops the edge and the backends.
MSG
wait $edge
