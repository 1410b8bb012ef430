#!/bin/sh
# CI smoke test for bench/hostess-bench: a --quick run over every target that is
# installed must complete, and every target must serve requests with no wrk errors.
# It asserts that the benchmark works, never how fast anything is.
# usage: smoke_bench.sh EDGE_BIN BACKEND_BIN
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$here/hostess-bench" --quick --no-pin --edge-bin "$1" --backend-bin "$2" \
    --json "$out/bench.json" > "$out/stdout" 2>&1 || { cat "$out/stdout"; exit 1; }
cat "$out/stdout"
/usr/bin/python3 - "$out/bench.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
bad = list(d.get("failed", []))
for r in d["runs"]:
    load = r.get("load") or {}
    errs = sum((load.get("errors") or {}).values())
    if not load.get("requests") or errs:
        bad.append("%s: %s requests, %s errors" % (r["target"], load.get("requests"), errs))
targets = [r["target"] for r in d["runs"]]
if "edge" not in targets or "direct" not in targets:
    bad.append("edge or direct missing from %s" % targets)
print("bench smoke: %d targets, problems: %s" % (len(targets), bad or "none"))
sys.exit(1 if bad else 0)
PY
