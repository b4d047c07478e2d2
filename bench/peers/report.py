#!/usr/bin/env python3
"""Helper for run_peers.sh: picks the best sweep settings and prints the Markdown tables.

  report.py best  SWEEP.tsv              -> prints "datasketch<TAB>ARGS" and "simhash<TAB>ARGS"
  report.py sweep SWEEP.tsv              -> Markdown sweep table
  report.py table RESULTS.tsv            -> Markdown results table

SWEEP.tsv rows:   peer, args, own_rate, score.json
RESULTS.tsv rows: tool, setting, file, run, own_rate, wall_s, rss_kb, score.json ('-' = no gold),
                  cpu_s (user + system)
"""
import json
import sys
from collections import OrderedDict


def rows(path):
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def score(path):
    if path == "-":
        return None
    with open(path) as f:
        return json.load(f)


def sweep_rows(path):
    out = []
    for peer, args, rate, sc in rows(path):
        out.append((peer, args, float(rate), score(sc)))
    return out


def best(path):
    picked = {}
    for peer, args, rate, s in sweep_rows(path):
        key = (s["dup_bcubed_f1"], rate)  # ties: the faster setting
        if peer not in picked or key > picked[peer][0]:
            picked[peer] = (key, args)
    for peer, (_, args) in picked.items():
        print(f"{peer}\t{args}")


def sweep_table(path):
    picked = {}
    data = sweep_rows(path)
    for peer, args, rate, s in data:
        key = (s["dup_bcubed_f1"], rate)
        if peer not in picked or key > picked[peer][0]:
            picked[peer] = (key, args)
    print("| peer | setting | copy B³ F1 (P/R) | story B³ F1 | articles/s (own, 1 run) | best |")
    print("|---|---|---|---|---:|---|")
    for peer, args, rate, s in data:
        mark = "**best**" if picked[peer][1] == args else ""
        print(f"| {peer} | `{args}` | {s['dup_bcubed_f1']:.4f} ({s['dup_bcubed_p']:.3f}/"
              f"{s['dup_bcubed_r']:.3f}) | {s['story_bcubed_f1']:.4f} | {rate:.0f} | {mark} |")


def table(path):
    # best of the runs: max own rate, min wall, max peak RSS is not "better": take min as well
    # (RSS barely varies run to run).
    agg = OrderedDict()
    for tool, setting, file, _run, rate, wall, rss, sc, cpu in rows(path):
        k = (tool, setting, file)
        a = agg.setdefault(k, {"rate": 0.0, "wall": float("inf"), "rss": float("inf"), "score": sc,
                               "cpu": float("inf"), "n": 0})
        a["rate"] = max(a["rate"], float(rate))
        a["wall"] = min(a["wall"], float(wall))
        a["cpu"] = min(a["cpu"], float(cpu))
        a["rss"] = min(a["rss"], float(rss))
        a["n"] += 1
    storyd = {k[2]: v for k, v in agg.items() if k[0] == "storyd"}
    print("| tool | setting | file | articles/s (own timer) | wall s (whole command) | "
          "articles/s (wall) | CPU s | articles per CPU s | peak RSS MB | copy B³ F1 (P/R) | "
          "story B³ F1 | storyd/peer throughput (own; wall; CPU) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---|---|---|")
    for (tool, setting, file), a in agg.items():
        n_articles = int(file.split("(")[-1].rstrip(")")) if "(" in file else 0
        wall_rate = n_articles / a["wall"] if n_articles and a["wall"] > 0 else 0.0
        cpu_rate = n_articles / a["cpu"] if n_articles and a["cpu"] > 0 else 0.0
        s = score(a["score"])
        if s:
            copy = f"{s['dup_bcubed_f1']:.4f} ({s['dup_bcubed_p']:.3f}/{s['dup_bcubed_r']:.3f})"
            story = f"{s['story_bcubed_f1']:.4f}"
        else:
            copy = story = "n/a (no gold)"
        if tool == "storyd":
            ratio = "1 (reference)"
        else:
            ref = storyd.get(file)
            if ref:
                ratio = (f"{ref['rate'] / a['rate']:.2f}x; {a['wall'] / ref['wall']:.2f}x; "
                         f"{a['cpu'] / ref['cpu']:.2f}x")
            else:
                ratio = "-"
        print(f"| {tool} | `{setting}` | {file} | {a['rate']:.0f} | {a['wall']:.2f} | "
              f"{wall_rate:.0f} | {a['cpu']:.2f} | {cpu_rate:.0f} | {a['rss'] / 1024:.0f} | "
              f"{copy} | {story} | {ratio} |")


if __name__ == "__main__":
    cmd, path = sys.argv[1], sys.argv[2]
    {"best": best, "sweep": sweep_table, "table": table}[cmd](path)
