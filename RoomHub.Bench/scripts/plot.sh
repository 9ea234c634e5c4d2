#!/usr/bin/env bash
# Draws the figures of RoomHub.Bench/README.md from the JSON results: a latency percentile curve and throughput
# against subscribers, as PNG with gnuplot (installed from Debian's packages when missing). The JSON is read with
# python3's standard library only.
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
# Latency curves: the first run of each fixed-rate and saturation result named below.
for label in ["cross-lean-50k", "cross-lean-100k", "bare-legacy-50k", "replaced-legacy-50k"]:
    files = sorted(glob.glob(f"results/{label}-*.json"))
    if not files:
        continue
    r = load(files[0])
    with open(os.path.join(data, f"curve-{label}.dat"), "w") as f:
        for p in r["latency"]["curve"]:
            pct = min(p["percentile"], 99.999)
            f.write(f"{1 / (1 - pct / 100):.6f} {p['milliseconds']:.4f} {pct}\n")
# Throughput against subscribers.
for kind in ["roomhub", "bare"]:
    rows = []
    for path in glob.glob(f"results/sweep-{kind}-*.json"):
        r = load(path)
        rows.append((r["subscribers"], r["deliveriesPerSecond"]))
    with open(os.path.join(data, f"sweep-{kind}.dat"), "w") as f:
        for s, d in sorted(rows):
            f.write(f"{s} {d / 1000:.1f}\n")
PY

declare -A titles=(
  [cross-lean-50k]="RoomHub, 2 instances over Redis, 50k deliveries/s"
  [cross-lean-100k]="RoomHub, 2 instances over Redis, 100k deliveries/s"
  [bare-legacy-50k]="bare Kestrel broadcast, 50k deliveries/s"
  [replaced-legacy-50k]="replaced Node server, 50k deliveries/s (saturated)"
)
curves=""
for label in cross-lean-50k cross-lean-100k bare-legacy-50k replaced-legacy-50k; do
  [ -f "$data/curve-$label.dat" ] && curves+="${curves:+, }'$data/curve-$label.dat' using 1:2 with linespoints title '${titles[$label]}'"
done
gnuplot <<GP
set terminal pngcairo size 900,540 font 'sans,11'
set output 'plots/latency-percentiles.png'
set title 'Delivery latency by percentile (2 cores shared by client, servers and Redis)'
set logscale x
set logscale y
set xlabel 'percentile'
set ylabel 'latency (ms)'
set xtics ('50%%' 2, '90%%' 10, '99%%' 100, '99.9%%' 1000, '99.99%%' 10000, 'max' 100000)
set grid
set key left top box opaque
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
     '$data/sweep-bare.dat' using 1:2 with linespoints title 'bare Kestrel broadcast, legacy client'
GP
echo "wrote plots/latency-percentiles.png and plots/throughput-vs-subscribers.png"
