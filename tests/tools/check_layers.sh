#!/bin/sh
# check_layers: fails on an upward #include arrow (STYLE.md §1).
#   router/       must not include control/, acme/ or tunnel/ headers;
#   router/base/  must not include anything from router/ outside router/base/;
#   certs/        may include only router/base/ (router and acme call it, not the reverse).
# Usage: check_layers.sh [SOURCE_ROOT]   (default: the repository holding this script)
# Prints each offending line as file:line:text and exits 1; exits 0 when clean.
set -u

root=${1:-$(dirname "$0")/../..}
cd "$root" || { echo "check_layers: cannot cd to $root" >&2; exit 2; }
[ -d router ] || { echo "check_layers: no router/ under $root" >&2; exit 2; }

tmp=$(mktemp) || exit 2
trap 'rm -f "$tmp"' EXIT INT TERM

# Every #include line ("..." or <...>, with optional spaces after # and before the name)
# of the C sources and headers under a directory, as file:line:text.
includes() {
    find "$1" -type f \( -name '*.c' -o -name '*.h' \) -print | LC_ALL=C sort |
        while IFS= read -r f; do
            grep -nH -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]' "$f"
        done
}

includes router |
    grep -E '#[[:space:]]*include[[:space:]]*[<"](\./|\.\./)*(control|acme|tunnel)/' >>"$tmp"

includes router/base |
    grep -E '#[[:space:]]*include[[:space:]]*[<"](\./|\.\./)*router/' |
    grep -v -E '#[[:space:]]*include[[:space:]]*[<"](\./|\.\./)*router/base/' >>"$tmp"
# A relative include that climbs out of router/base/ ("../x.h") is an upward arrow too.
includes router/base |
    grep -E '#[[:space:]]*include[[:space:]]*"\.\./' |
    grep -v -E '#[[:space:]]*include[[:space:]]*"\.\./base/' >>"$tmp"

if [ -d certs ]; then
    includes certs |
        grep -E '#[[:space:]]*include[[:space:]]*[<"](\./|\.\./)*(control|acme|tunnel|router)/' |
        grep -v -E '#[[:space:]]*include[[:space:]]*[<"](\./|\.\./)*router/base/' >>"$tmp"
fi

if [ -s "$tmp" ]; then
    echo "check_layers: upward #include (see STYLE.md section 1):"
    sort -u "$tmp"
    exit 1
fi
echo "check_layers: ok"
exit 0
