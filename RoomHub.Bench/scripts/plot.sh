#!/usr/bin/env bash
# Draws the figures of RoomHub.Bench/README.md from the JSON results: latency percentile curves (from
# results/targets/, the current figures of run-targets.sh) and throughput against subscribers (results/sweep-*.json,
# from sweep-subscribers.sh), as PNG with gnuplot (installed from Debian's packages when missing). The JSON is read
# with python3's standard library only.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v gnuplot >/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq gnuplot-nox >/dev/null
fi
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT

python3 - "$data" <<'PY'
import json, glob, os, sys
data = sys.argv[1]
def load(path):
    with open(path) as f:
        return json.load(f)
# Latency curves: of the runs of each fixed-rate result named below, the one with the median p99 (the lower of two).
for label in ["cross-lean-100k", "cross-legacy-100k", "cross-lean-50k", "stock-lean-50k", "bare-legacy-50k", "replaced-legacy-50k"]:
    runs = sorted((load(path) for path in glob.glob(f"results/targets/{label}-*.json")), key=lambda r: r["latency"]["p99"])
    if not runs:
        continue
    r = runs[(len(runs) - 1) // 2]
    with open(os.path.join(data, f"curve-{label}.dat"), "w") as f:
        for p in r["latency"]["curve"]:
            pct = min(p["percentile"], 99.999)
            f.write(f"{1 / (1 - pct / 100):.6f} {p['milliseconds']:.4f} {pct}\n")
# Throughput against subscribers.
for kind in ["roomhub", "stock", "bare"]:
    rows = []
    for path in glob.glob(f"results/sweep-{kind}-*.json"):
        r = load(path)
        rows.append((r["subscribers"], r["deliveriesPerSecond"]))
    with open(os.path.join(data, f"sweep-{kind}.dat"), "w") as f:
        for s, d in sorted(rows):
            f.write(f"{s} {d / 1000:.1f}\n")
PY

declare -A titles=(
  [cross-lean-100k]="RoomHub, SignalR, 2 instances over Redis, 100k/s"
  [cross-legacy-100k]="RoomHub, legacy, 2 instances over Redis, 100k/s"
  [cross-lean-50k]="RoomHub, SignalR, 2 instances over Redis, 50k/s"
  [stock-lean-50k]="stock SignalR hub, 2 instances over Redis, 50k/s"
  [bare-legacy-50k]="bare Kestrel broadcast, 50k/s"
  [replaced-legacy-50k]="replaced Node server, 50k/s"
)
curves=""
for label in cross-lean-100k cross-legacy-100k cross-lean-50k stock-lean-50k bare-legacy-50k replaced-legacy-50k; do
  [ -f "$data/curve-$label.dat" ] && curves+="${curves:+, }'$data/curve-$label.dat' using 1:2 with linespoints title '${titles[$label]}'"
done
gnuplot <<GP
set terminal pngcairo size 900,640 font 'sans,11'
set output 'plots/latency-percentiles.png'
set title 'Delivery latency by percentile (2 cores shared by client, servers and Redis)'
set logscale x
set logscale y
set ylabel 'latency (ms)'
set xtics ('50%%' 2, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, 'max' 100000)
set grid
set key outside below box
plot $curves
GP

gnuplot <<GP
set terminal pngcairo size 900,540 font 'sans,11'
set output 'plots/throughput-vs-subscribers.png'
set title 'Deliveries/s at saturation vs subscribers in one room (100 B, 2 cores)'
set logscale x
set xrange [8:500]
set yrange [0:*]
set xlabel 'subscribers'
set ylabel 'thousand deliveries/s'
set grid
set key right bottom box opaque
plot '$data/sweep-roomhub.dat' using 1:2 with linespoints title 'RoomHub, 2 instances over Redis, lean SignalR client', \
     '$data/sweep-stock.dat' using 1:2 with linespoints title 'stock SignalR hub, 2 instances over Redis, lean client', \
     '$data/sweep-bare.dat' using 1:2 with linespoints title 'bare Kestrel broadcast, legacy client'
GP
echo "wrote plots/latency-percentiles.png and plots/throughput-vs-subscribers.png"
