#!/usr/bin/env python3
"""Prints a markdown table of RoomHub.Bench results: every run of each label and the median, from results/*.json.
Standard library only. Usage: RoomHub.Bench/scripts/summarize.py [results-dir]"""
import glob, json, os, re, statistics, sys
from collections import defaultdict

directory = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "results")
groups = defaultdict(list)
for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
    name = os.path.basename(path)[:-5]
    if name.startswith("sweep-"):
        continue
    groups[re.sub(r"-\d+$", "", name)].append(json.load(open(path)))

def fmt(values, pattern):
    runs = " / ".join(pattern.format(v) for v in values)
    return f"{pattern.format(statistics.median(values))} ({runs})" if len(values) > 1 else runs

print("| run | deliveries/s | p50 / p99 ms | server CPU µs/delivery | +redis | lost | order | server RSS per idle conn |")
print("|---|---|---|---|---|---|---|---|")
for label, runs in sorted(groups.items()):
    if runs[0]["scenario"] == "idle":
        kb = [r.get("serverRssBytesPerConnection", 0) / 1024 for r in runs]
        print(f"| {label} ({runs[0]['connections']:,} conns) | | | | | | | {fmt(kb, '{:.1f}')} KB |")
        continue
    print("| {} | {} | {} / {} | {} | {} | {} | {} | |".format(
        label,
        fmt([r["deliveriesPerSecond"] for r in runs], "{:,.0f}"),
        fmt([r["latency"]["p50"] for r in runs], "{:.1f}"),
        fmt([r["latency"]["p99"] for r in runs], "{:.1f}"),
        fmt([r["serverCpuMicrosecondsPerDelivery"] for r in runs], "{:.2f}"),
        fmt([r["redisCpuMicrosecondsPerDelivery"] for r in runs], "{:.2f}"),
        sum(r["lost"] for r in runs),
        sum(r["orderViolations"] for r in runs)))
