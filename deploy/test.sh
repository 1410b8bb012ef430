#!/bin/sh
# Installs the dependencies, builds hostess-edge with AddressSanitizer and
# UndefinedBehaviorSanitizer, and runs the whole default test suite with ctest
# (labels unit, integration, fuzz-replay; `slow` is left out unless HOSTESS_SLOW=1).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
sh "$here/deploy/install-deps.sh"

build="$here/build-test"
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DHOSTESS_SANITIZE=address,undefined >/dev/null
cmake --build "$build" -j "$(nproc)"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
if [ "${HOSTESS_SLOW:-0}" = 1 ]; then
    exclude=""
else
    exclude="-LE slow"
fi
cd "$build"
# shellcheck disable=SC2086
ctest --output-on-failure --timeout 600 $exclude
