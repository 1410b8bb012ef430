#!/bin/sh
# Installs the dependencies, builds hostess-edge, and runs it in front of sample backends:
# local state, two hostnames under hostess.localhost, printed curl lines. Ctrl-C stops all.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
sh "$here/deploy/install-deps.sh"

build="$here/build"
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHOSTESS_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target hostess-edge hostess-bench-backend

port=${HOSTESS_DEMO_PORT:-8080}
state="$here/demo-state"
mkdir -p "$state"
cat > "$state/edge.yaml" <<YAML
# Written by deploy/demo.sh. Edit and send SIGHUP (kill -HUP \$(cat $state/edge.pid)) to reload.
domain: hostess.localhost
listen: {http: "127.0.0.1:$port"}
workers: auto
log: {access: "$state/access.log", error: "-", level: info}
routes:
  - host: shop-web-a8k2m9x1.hostess.localhost
    targets: ["127.0.0.1:9101", "127.0.0.1:9102"]
  - host: shop-api-q7w3e5r2.hostess.localhost
    targets: ["127.0.0.1:9103"]
YAML

"$build/bench/hostess-bench-backend" --listen 127.0.0.1:9101 --listen 127.0.0.1:9102 \
    --listen 127.0.0.1:9103 2>"$state/backends.log" &
backends=$!
"$build/control/hostess-edge" --config "$state/edge.yaml" &
edge=$!
echo "$edge" > "$state/edge.pid"
trap 'kill $edge $backends 2>/dev/null; wait $edge $backends 2>/dev/null; exit 0' INT TERM
i=0
while ! curl -s -o /dev/null "http://127.0.0.1:$port/"; do
    i=$((i + 1))
    if [ $i -ge 50 ] || ! kill -0 $edge 2>/dev/null; then
        echo "hostess-edge did not start (see the messages above)" >&2
        kill $edge $backends 2>/dev/null
        exit 1
    fi
    sleep 0.1
done

cat <<MSG

hostess-edge is running on http://127.0.0.1:$port (config: $state/edge.yaml,
access log: $state/access.log). Try:

  curl -H 'Host: shop-web-a8k2m9x1.hostess.localhost' http://127.0.0.1:$port/
  curl -H 'Host: shop-web-a8k2m9x1.hostess.localhost' http://127.0.0.1:$port/   # repeat: spread over both pods
  curl -H 'Host: shop-api-q7w3e5r2.hostess.localhost' http://127.0.0.1:$port/
  curl -i -H 'Host: unknown.hostess.localhost' http://127.0.0.1:$port/          # 404 from the edge
  curl --resolve shop-web-a8k2m9x1.hostess.localhost:$port:127.0.0.1 http://shop-web-a8k2m9x1.hostess.localhost:$port/

Ctrl-C stops the edge and the sample backends.
MSG
wait $edge
