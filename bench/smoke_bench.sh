#!/bin/sh
# CI smoke test for bench/hostess-bench: a --quick --tls run (and --h2 when h2load is
# installed) over every target that is installed must complete; every target must serve
# requests with no errors, in plain HTTP and in each TLS mode (the edge too: https, newconn
# and h2), and every checked new connection must have been a full handshake.
# It asserts that the benchmark works, never how fast anything is.
# usage: smoke_bench.sh EDGE_BIN BACKEND_BIN
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
h2=''
command -v h2load >/dev/null && h2=--h2
"$here/hostess-bench" --quick --no-pin --tls $h2 --edge-bin "$1" --backend-bin "$2" \
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
bad += ["TLS pass failed: " + m for m in d.get("failed_modes", [])]
measured = set()
for r in d.get("mode_runs", []):
    name = "%s/%s" % (r["target"], r["mode"])
    measured.add(name)
    load = r.get("load") or {}
    errs = sum((load.get("errors") or {}).values())
    if not load.get("requests") or errs:
        bad.append("%s: %s requests, %s errors" % (name, load.get("requests"), errs))
    v = r.get("verify")
    if v is not None and not v.get("all_full"):
        bad.append("%s: not every connection was a full handshake: %s" % (name, v))
    p = r.get("probe")
    if p is not None and not p.get("resumption_refused"):
        bad.append("%s: a session was resumed: %s" % (name, p))
    c = r.get("counters")
    if c is not None and (c.get("resumed") or not c.get("full")):
        bad.append("%s: the edge's counters: %s" % (name, c))
for m in ["edge/https", "edge/newconn"] + (["edge/h2"] if "h2" in d.get("modes", []) else []):
    if m not in measured:
        bad.append("%s not measured (%s)" % (m, "; ".join(d.get("notes", []))))
print("bench smoke: %d targets, %d TLS passes, problems: %s" % (len(targets), len(measured), bad or "none"))
sys.exit(1 if bad else 0)
PY
