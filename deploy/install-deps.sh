#!/bin/sh
# Installs, with apt-get, everything hostess-edge needs to build, to run the demo and to
# run its tests on Debian 12. Idempotent: a second run installs nothing new.
# Services that packages ship (nginx, haproxy) are never started here: the tests and the
# benchmark start their own copies on free loopback ports.
set -eu

if [ "$(id -u)" != 0 ]; then
    echo "install-deps.sh: run as root (apt-get needs it)" >&2
    exit 1
fi

BUILD="build-essential cmake ninja-build pkg-config libuv1-dev libssl-dev libnghttp2-dev \
  libyaml-dev libcurl4-openssl-dev libjansson-dev libhiredis-dev node-llhttp libcmocka-dev"
PEERS="ca-certificates openssl curl wrk nginx-light haproxy varnish python3 \
  python3-websockets python3-h2 nghttp2-client procps sslscan"

missing=""
for p in $BUILD $PEERS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

export DEBIAN_FRONTEND=noninteractive
# Keep package maintainer scripts from starting nginx/haproxy on :80 (no init system here).
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT

apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
