#!/usr/bin/python3
"""Turn bench/run.sh's raw rows into the markdown of bench/RESULTS.md.

usage: summarize.py META RAW [F_RESULT_LINE]
META: id, title, N, C, limit seconds ("-" for none), tab-separated.
RAW: scen, tool, run, wall, cpu, rss_kb, ok, failed, inner, tab-separated.
Medians over runs; ratios are median over median.
"""
import statistics
import sys
from collections import OrderedDict, defaultdict

# scenario -> the most fetchd/floor may be
TARGET = {"a": 1.10, "b50": 1.15, "b500": 1.15, "c": 1.05}
ORDER = ["fetchd", "floor", "floor-req", "floor-P", "curl", "aiohttp", "wget2", "aria2c",
         "h2load-h1", "h2load-h2"]


def load(meta_path, raw_path):
    meta = OrderedDict()
    for line in open(meta_path):
        f = line.rstrip("\n").split("\t")
        if len(f) >= 5:
            meta[f[0]] = dict(title=f[1], n=int(f[2]), c=int(f[3]),
                              limit=None if f[4] == "-" else float(f[4]))
    rows = defaultdict(list)
    for line in open(raw_path):
        f = line.rstrip("\n").split("\t")
        if len(f) < 9:
            continue
        rows[(f[0], f[1])].append(dict(
            wall=float(f[3]), cpu=float(f[4]), rss=int(f[5] or 0) / 1024.0,
            ok=int(f[6] or 0), failed=int(f[7] or 0),
            inner=None if f[8] in ("-", "") else float(f[8])))
    return meta, rows


def med(rs, k):
    v = [r[k] for r in rs if r[k] is not None]
    return statistics.median(v) if v else None


def fmt(x, nd=3):
    return "–" if x is None else ("%.*f" % (nd, x))


def scen_table(sid, m, rows, out):
    tools = [t for t in ORDER if (sid, t) in rows]
    fd = rows.get((sid, "fetchd"))
    fl = rows.get((sid, "floor"))
    fdw = med(fd, "wall") if fd else None
    flw = med(fl, "wall") if fl else None
    out.append("### (%s) %s" % (sid, m["title"]))
    out.append("")
    out.append("| tool | wall s (median) | min–max | CPU s | peak RSS MiB "
               "| req/s | × floor | fetchd ÷ tool | failed |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for t in tools:
        rs = rows[(sid, t)]
        w = med(rs, "wall")
        inner = med(rs, "inner")
        name = t
        if t.startswith("h2load") or (t == "aiohttp" and inner is not None):
            name += " (own timer %.3f s)" % inner if inner else ""
        out.append("| %s | %s | %s–%s | %s | %.1f | %.0f | %s | %s | %d |" % (
            "**%s**" % name if t == "fetchd" else name, fmt(w),
            fmt(min(r["wall"] for r in rs)), fmt(max(r["wall"] for r in rs)),
            fmt(med(rs, "cpu"), 2), med(rs, "rss"), m["n"] / w,
            fmt(w / flw, 2) if flw else "–",
            fmt(fdw / w, 2) if fdw else "–",
            sum(r["failed"] for r in rs)))
    out.append("")
    return fdw, flw


def main():
    meta, rows = load(sys.argv[1], sys.argv[2])
    fres = sys.argv[3] if len(sys.argv) > 3 else ""
    head, body, verdicts = [], [], []
    head.append("| scenario | fetchd s | floor s | fetchd ÷ floor | target "
                "| fetchd ÷ limit | fetchd ÷ curl | fetchd ÷ aiohttp "
                "| fetchd CPU s | floor CPU s | fetchd RSS MiB |")
    head.append("|---|---|---|---|---|---|---|---|---|---|---|")
    fdw_of = {}
    for sid, m in meta.items():
        if sid == "e" or sid == "f":
            continue
        fdw, flw = scen_table(sid, m, rows, body)
        fdw_of[sid] = fdw
        if fdw is None:
            continue
        lim = m["limit"]
        h2 = rows.get((sid, "h2load-h1")) or rows.get((sid, "h2load-h2"))
        if lim is None and h2:
            lim = med(h2, "wall")
            limname = "h2load"
        else:
            limname = "ideal"
        cu = rows.get((sid, "curl"))
        ai = rows.get((sid, "aiohttp"))
        tgt = TARGET.get(sid)
        ratio = fdw / flw if flw else None
        verdict = "report"
        if tgt and ratio:
            verdict = "≤ %.2f: %s" % (tgt, "**met**" if ratio <= tgt
                                      else "**missed**")
        fd = rows[(sid, "fetchd")]
        fl = rows.get((sid, "floor"))
        head.append("| (%s) %s | %.3f | %s | %s | %s | %s | %s | %s | %s "
                    "| %s | %.1f |" % (
                        sid, m["title"], fdw, fmt(flw), fmt(ratio, 2),
                        verdict,
                        ("%.2f (%s)" % (fdw / lim, limname)) if lim else "–",
                        fmt(fdw / med(cu, "wall"), 2) if cu else "–",
                        fmt(fdw / med(ai, "wall"), 2) if ai else "–",
                        fmt(med(fd, "cpu"), 2),
                        fmt(med(fl, "cpu"), 2) if fl else "–",
                        med(fd, "rss")))
        fr = rows.get((sid, "floor-req"))
        if fr:
            frw = med(fr, "wall")
            verdicts.append(
                "- (%s) against floor-req (the floor sending fetchd's "
                "request, byte for byte): fetchd ÷ floor-req = %.2f wall, "
                "%.2f CPU (≤ 1.15: %s); the request itself costs "
                "floor-req ÷ floor = %.2f" % (
                    sid, fdw / frw, med(fd, "cpu") / med(fr, "cpu"),
                    "**met**" if fdw / frw <= 1.15 else "**missed**",
                    frw / flw if flw else float("nan")))
        fp = rows.get((sid, "floor-P"))
        if fp:
            verdicts.append(
                "- (%s) against floor-P (floor-req split over as many "
                "processes as fetchd has fetch threads: the floor on the "
                "same cores): fetchd ÷ floor-P = %.2f wall, %.2f CPU" % (
                    sid, fdw / med(fp, "wall"),
                    med(fd, "cpu") / med(fp, "cpu")))
        if sid.startswith("b") and cu and ai:
            verdicts.append(
                "- (%s) curl ÷ fetchd = %.2f (target ≥ 1.5), aiohttp ÷ "
                "fetchd = %.2f (target ≥ 6)" % (
                    sid, med(cu, "wall") / fdw, med(ai, "wall") / fdw))
    if fdw_of.get("d") and fdw_of.get("d1"):
        verdicts.append(
            "- (d) HTTP/2 vs HTTP/1.1 at concurrency 500, 100 ms: fetchd "
            "%.3f s over h2, %.3f s over h1 (%s)" % (
                fdw_of["d"], fdw_of["d1"],
                "h2 faster" if fdw_of["d"] < fdw_of["d1"] else
                "**h2 not faster**"))
    if fdw_of.get("d0") and fdw_of.get("b50"):
        verdicts.append(
            "- (d0) zero latency, concurrency 50: fetchd %.3f s over "
            "HTTPS+h2, %.3f s over plain h1 (b50)" % (
                fdw_of["d0"], fdw_of["b50"]))
    if "e" in meta and (("e", "fetchd") in rows):
        e = rows[("e", "fetchd")]
        m = meta["e"]
        rate = m["n"] / med(e, "wall")
        rss = max(r["rss"] for r in e)
        body.append("### (e) %s" % m["title"])
        body.append("")
        body.append("| run | wall s | req/s | CPU s | peak RSS MiB | failed |")
        body.append("|---|---|---|---|---|---|")
        for i, r in enumerate(e, 1):
            body.append("| %d | %.3f | %.0f | %.2f | %.1f | %d |" % (
                i, r["wall"], m["n"] / r["wall"], r["cpu"], r["rss"],
                r["failed"]))
        body.append("")
        ref = fdw_of.get("b500")
        refrate = meta["b500"]["n"] / ref if ref else None
        verdicts.append(
            "- (e) %d URLs: %.0f req/s (median), peak RSS %.1f MiB "
            "(target < 64: %s); rate vs (b500) %s" % (
                m["n"], rate, rss, "**met**" if rss < 64 else "**missed**",
                ("%.0f req/s: %.2f (target ≥ 0.90: %s)" % (
                    refrate, rate / refrate,
                    "**met**" if rate / refrate >= 0.9 else "**missed**"))
                if refrate else "–"))
    if fres:
        p99 = None
        for tok in fres.split():
            if tok.startswith("p99="):
                p99 = float(tok[4:])
        verdicts.append("- (f) %s%s" % (
            fres, "" if p99 is None else
            " (target p99 < 10 ms: %s)" % ("**met**" if p99 < 10
                                           else "**missed**")))
    print("\n".join(head))
    print()
    print("\n".join(verdicts))
    print()
    print("\n".join(body))


if __name__ == "__main__":
    main()
