#!/usr/bin/python3
"""Render bench/hostess-bench results: a table, the edge/nginx and edge/haproxy ratios,
optionally the JSON (with derived figures) and a PNG plot (only if matplotlib imports).

usage: report.py RESULTS.json [--json OUT.json] [--png OUT.png]

RESULTS.json is what hostess-bench assembles: "runs", one entry per target and round (one
round, or --rounds R) with wrk's figures ("load": 64 connections, "c1": one
connection), the proxy's CPU ticks over the load pass, its peak RSS and, with --syscalls,
strace counts; and with --tls/--h2 "mode_runs": one entry per proxy, TLS mode ("https",
"newconn", "h2") and round with the load generator's figures in the same shape, the CPU ticks of that
pass and, for "newconn", the full-handshake check. With several rounds every figure shown is
the median over the rounds, and every ratio the median of the rounds' own ratios (each
round measures the targets back to back, so its ratio is the least disturbed by the
machine's drift), printed with the per-round values. Only the standard library is required.
"""
import argparse
import json
import sys


def derive(run):
    """Figures per target, from the raw measurements."""
    load, c1 = run["load"], run.get("c1") or {}
    secs = load["duration_us"] / 1e6
    reqs = load["requests"]
    errs = sum(load["errors"].values())
    out = {
        "target": run["target"],
        "rps": reqs / secs if secs else 0.0,
        "p50_us": load["latency_us"]["p50"],
        "p99_us": load["latency_us"]["p99"],
        "p999_us": load["latency_us"]["p999"],
        "errors": errs,
        "cpu_us_per_req": None,
        "cpu_pct": None,
        "rss_mib": None,
        "c1_p50_us": (c1.get("latency_us") or {}).get("p50"),
        "c1_p99_us": (c1.get("latency_us") or {}).get("p99"),
        "c1_added_us": None,
        "syscalls_per_req": None,
    }
    if run.get("cpu_ticks") is not None and reqs:
        cpu_us = run["cpu_ticks"] * 1e6 / run["clk_tck"]
        out["cpu_us_per_req"] = cpu_us / reqs
        out["cpu_pct"] = 100.0 * cpu_us / load["duration_us"]
    if run.get("rss_kb"):
        out["rss_mib"] = run["rss_kb"] / 1024.0
    # CPU that other processes (not the proxy, the load generator or the backend) used during
    # the pass, in % of one CPU: the noise that skews this row.
    out["other_cpu_pct"] = None
    other = run.get("other")
    if other and other.get("wall_us"):
        out["other_cpu_pct"] = 100.0 * other["ticks"] * 1e6 / run["clk_tck"] / other["wall_us"]
    if run.get("syscalls"):
        out["syscalls_per_req"] = run["syscalls"]["per_request"]
        out["syscalls_top"] = run["syscalls"].get("top")
    return out


MODE_TITLES = {
    "https": "HTTPS, HTTP/1.1 keep-alive (wrk)",
    "newconn": "new TLS connection per request, full handshake (wrk, Connection: close)",
    "h2": "HTTP/2 over TLS (h2load)",
}


def derive_mode(run):
    """Figures for one proxy in one TLS mode."""
    out = derive(run)
    out["mode"] = run["mode"]
    v = run.get("verify")
    if v:
        out["verify"] = {k: v.get(k) for k in ("requests", "accepted", "server_hellos", "full",
                                                "resumed", "all_full", "versions", "groups", "ciphers")}
    p = run.get("probe")
    if p:
        out["resumption_refused"] = p.get("resumption_refused")
    if run.get("counters"):
        out["counters"] = run["counters"]
    tls = (run.get("load") or {}).get("tls")
    if tls:
        out["tls"] = tls
    return out


def rounds_of(res):
    """The measured rounds, each {"runs": [...], "mode_runs": [...]}: the entries of
    res["runs"] and res["mode_runs"] grouped by their "round" (older results: one)."""
    n = max([r.get("round", 1) for r in res.get("runs", []) + res.get("mode_runs", [])] or [1])
    return [{"runs": [r for r in res.get("runs", []) if r.get("round", 1) == i],
             "mode_runs": [r for r in res.get("mode_runs", []) if r.get("round", 1) == i]}
            for i in range(1, n + 1)]


def median(values):
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2.0


def add_counts(dicts):
    """Sums the numbers of several {name: count} dicts (other values: the first one's)."""
    out = {}
    for d in dicts:
        for k, v in (d or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out[k] = out.get(k, 0) + v
            else:
                out.setdefault(k, v)
    return out


def merge_rounds(per_round):
    """One row per target from per-round rows (lists of derived rows, targets in order):
    the median of every figure, errors summed, and a check holds only if it held in every
    round."""
    order, by = [], {}
    for rows in per_round:
        for r in rows:
            if r["target"] not in by:
                order.append(r["target"])
                by[r["target"]] = []
            by[r["target"]].append(r)
    merged = []
    for t in order:
        rows = by[t]
        out = dict(rows[0])
        if len(rows) > 1:
            for k, v in rows[0].items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    out[k] = median(r.get(k) for r in rows)
            out["errors"] = sum(r["errors"] for r in rows)
            out["rounds"] = len(rows)
            merge_checks(out, rows)
        merged.append(out)
    return merged


def merge_checks(out, rows):
    """The newconn checks of several rounds into out: counts summed, a check passes only
    if it passed in every round."""
    vs = [r["verify"] for r in rows if r.get("verify")]
    if vs:
        out["verify"] = {k: sum(v.get(k) or 0 for v in vs)
                         for k in ("requests", "accepted", "server_hellos", "full", "resumed")}
        out["verify"]["all_full"] = all(v.get("all_full") for v in vs) and len(vs) == len(rows)
        for k in ("versions", "groups", "ciphers"):
            out["verify"][k] = add_counts(v.get(k) for v in vs)
    refused = [r.get("resumption_refused") for r in rows if "resumption_refused" in r]
    if refused:
        out["resumption_refused"] = all(refused)
    cs = [r["counters"] for r in rows if r.get("counters")]
    if cs:
        out["counters"] = add_counts(cs)


def paired_ratios(per_round, others, keys=("rps", "cpu_us_per_req", "rss_mib")):
    """edge/OTHER for each of keys: the median of the rounds' own ratios, and the list."""
    out = {}
    for other in others:
        by_key = {k: [] for k in keys}
        for rows in per_round:
            by = {r["target"]: r for r in rows}
            e, o = by.get("edge"), by.get(other)
            if e and o:
                for k in keys:
                    by_key[k].append(ratio(e[k], o[k]))
        if by_key[keys[0]]:
            name = {"rss_mib": "rss"}
            out["edge/" + other] = {name.get(k, k): median(v) for k, v in by_key.items()}
            if len(per_round) > 1:
                out["edge/" + other]["by_round"] = {name.get(k, k): v for k, v in by_key.items()}
    return out


def spread(v, key):
    """ " (rounds: 0.78 0.81 0.76)" for a ratio with per-round values, else ""."""
    rounds = (v.get("by_round") or {}).get(key)
    if not rounds:
        return ""
    return " (rounds: %s)" % " ".join(fmt(x, "%.2f") for x in rounds)


def check_text(r):
    v = r.get("verify")
    if v:
        text = "full %d/%d" % (v["full"] or 0, v["server_hellos"] or 0)
        if v.get("groups"):
            text += " " + ",".join(sorted(v["groups"]))
        if not v.get("all_full"):
            text += " NOT ALL FULL"
        if r.get("resumption_refused") is False:
            text += " RESUMED"
        c = r.get("counters")
        if c:
            text += "; own counters: %d full, %d resumed" % (c["full"], c["resumed"])
        return text
    if r.get("tls"):
        return "%s %s" % (r["tls"].get("alpn", ""), r["tls"].get("group", ""))
    return ""


def report_modes(res):
    """Table and ratios for the TLS modes; returns (summary, ratios) for the JSON."""
    summary, ratios = {}, {}
    for m in res.get("modes", []):
        per_round = [[derive_mode(r) for r in rd["mode_runs"] if r["mode"] == m]
                     for rd in rounds_of(res)]
        rows = merge_rounds(per_round)
        summary[m] = rows
        by = {r["target"]: r for r in rows}
        unit = "conn" if m == "newconn" else "req"
        print()
        print("%s: %s" % (m, MODE_TITLES.get(m, m)))
        if not rows:
            print("  (no target measured)")
            continue
        line = "%-8s %10s %8s %8s %8s %11s %6s %8s %7s %7s  %s"
        print(line % ("target", unit + "/s", "p50", "p99", "p99.9", "CPU us/" + unit, "CPU %",
                      "RSS MiB", "errors", "other%", "check"))
        for r in rows:
            print(line % (r["target"], "%.0f" % r["rps"], fmt_us(r["p50_us"]), fmt_us(r["p99_us"]),
                          fmt_us(r["p999_us"]), fmt(r["cpu_us_per_req"], "%.2f"),
                          fmt(r["cpu_pct"], "%.0f"), fmt(r["rss_mib"], "%.1f"), r["errors"],
                          fmt(r["other_cpu_pct"], "%.0f"), check_text(r)))
        edge = by.get("edge")
        mr = paired_ratios(per_round, ("nginx", "haproxy"))
        for k, v in mr.items():
            print("  %-13s %s/s %s   CPU us/%s %s   RSS %s%s" % (
                k, unit, fmt(v["rps"], "%.2fx"), unit, fmt(v["cpu_us_per_req"], "%.2fx"),
                fmt(v["rss"], "%.2fx"), spread(v, "cpu_us_per_req")))
        if not edge:
            print("  (no edge figures in this mode: no ratios)")
        ratios[m] = mr
    if res.get("notes"):
        print()
        for n in res["notes"]:
            print("note: " + n)
    if res.get("failed_modes"):
        print("\nfailed TLS passes: %s" % " ".join(res["failed_modes"]))
    if any(r["errors"] for rows in summary.values() for r in rows):
        print("\nwarning: some TLS passes had errors: their figures are suspect")
    return summary, ratios


def fmt_us(v):
    if v is None:
        return "-"
    return "%.0fus" % v if v < 1000 else "%.2fms" % (v / 1000.0)


def fmt(v, spec):
    return "-" if v is None else spec % v


def ratio(a, b):
    return a / b if a is not None and b else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--json")
    ap.add_argument("--png")
    args = ap.parse_args()

    res = json.load(open(args.results))
    per_round = []
    for rd in rounds_of(res):
        rows = [derive(r) for r in rd["runs"]]
        direct = next((r for r in rows if r["target"] == "direct"), None)
        for r in rows:
            if direct and r["c1_p50_us"] is not None and direct["c1_p50_us"] is not None:
                r["c1_added_us"] = r["c1_p50_us"] - direct["c1_p50_us"]
        per_round.append(rows)
    rows = merge_rounds(per_round)
    by = {r["target"]: r for r in rows}

    print()
    nrounds = len(per_round)
    print("hostess-bench: %d hosts, %d backends, %d connections, %d s per target, body %d B, %s%s"
          % (res["hosts"], res["backends"], res["connections"], res["duration_s"], res["body_bytes"],
             "proxy on CPU %s, load on CPU %s" % (res["proxy_cpu"], res["load_cpu"])
             if res["pinned"] else "not pinned",
             "; medians of %d rounds" % nrounds if nrounds > 1 else ""))
    if res.get("loadavg"):
        print("load average (1/5/15 min): %s at start, %s at end (other work on the machine skews "
              "every figure)" % ("/".join(res["loadavg"]["start"]), "/".join(res["loadavg"]["end"])))
    head = ("target", "req/s", "p50", "p99", "p99.9", "CPU us/req", "CPU %", "RSS MiB",
            "1-conn p50", "added", "syscalls/req", "errors")
    line = "%-8s %10s %8s %8s %8s %10s %6s %8s %10s %8s %12s %7s"
    print(line % head)
    for r in rows:
        print(line % (r["target"], "%.0f" % r["rps"], fmt_us(r["p50_us"]), fmt_us(r["p99_us"]),
                      fmt_us(r["p999_us"]), fmt(r["cpu_us_per_req"], "%.2f"), fmt(r["cpu_pct"], "%.0f"),
                      fmt(r["rss_mib"], "%.1f"), fmt_us(r["c1_p50_us"]),
                      "-" if r["c1_added_us"] is None or r["target"] == "direct"
                      else "%+.0fus" % r["c1_added_us"],
                      fmt(r["syscalls_per_req"], "%.2f"), r["errors"]))

    ratios = paired_ratios(per_round, ("nginx", "haproxy", "direct"))
    if ratios:
        print()
        print("ratios (same run): req/s higher is better; CPU us/req and RSS lower are better")
        for k, v in ratios.items():
            if k == "edge/direct":  # direct has no proxy: only throughput compares
                print("  %-13s req/s %s (share of direct throughput kept)" % (k, fmt(v["rps"], "%.2fx")))
                continue
            print("  %-13s req/s %s   CPU us/req %s   RSS %s%s" % (
                k, fmt(v["rps"], "%.2fx"), fmt(v["cpu_us_per_req"], "%.2fx"), fmt(v["rss"], "%.2fx"),
                spread(v, "cpu_us_per_req")))
    if any(r["other_cpu_pct"] is not None for r in rows):
        print("other processes during the load passes (%% of one CPU): %s" % ", ".join(
            "%s %s" % (r["target"], fmt(r["other_cpu_pct"], "%.0f")) for r in rows))
    if res.get("failed"):
        print("\nfailed: %s" % " ".join(res["failed"]))
    if any(r["errors"] for r in rows):
        print("\nwarning: some targets had errors (non-2xx or socket errors): their figures are suspect")
    mode_summary = mode_ratios = None
    if res.get("modes"):
        mode_summary, mode_ratios = report_modes(res)

    if args.json:
        res["summary"] = rows
        res["ratios"] = ratios
        if mode_summary is not None:
            res["mode_summary"] = mode_summary
            res["mode_ratios"] = mode_ratios
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
            f.write("\n")
    if args.png:
        plot(rows, args.png)


def plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:
        return  # optional: silently skipped without matplotlib
    names = [r["target"] for r in rows]
    fig, ax = plt.subplots(1, 3, figsize=(12, 4))
    ax[0].bar(names, [r["rps"] for r in rows])
    ax[0].set_title("req/s (64 connections)")
    ax[1].bar(names, [r["cpu_us_per_req"] or 0 for r in rows])
    ax[1].set_title("proxy CPU us per request")
    ax[2].bar(names, [r["p99_us"] / 1000.0 for r in rows])
    ax[2].set_title("p99 latency (ms)")
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    sys.exit(main())
