#!/usr/bin/env bash
# Runs the measurements behind issue 7's targets, and the same workloads on a stock SignalR hub over the stock Redis
# backplane (--stock) for comparison, each twice (interleaved, so a noisy minute does not hit both runs of
# one figure), writing JSON into RoomHub.Bench/results/targets/. Every run starts its own servers (and redis-server)
# on free loopback ports and stops by itself.
#
# A server that speaks the legacy protocol and is already running can be measured beside them with the same client
# and workload: REPLACED_URL=ws://127.0.0.1:8080/ REPLACED_PID=<its pid> RoomHub.Bench/scripts/run-targets.sh
#
# Usage: RoomHub.Bench/scripts/run-targets.sh [run-number...]   (default: 1 2)
set -euo pipefail
cd "$(dirname "$0")/../.."
dotnet build RoomHub.Bench -c Release -v quiet -nologo >/dev/null
bench=(dotnet RoomHub.Bench/bin/Release/net10.0/RoomHub.Bench.dll)
out=RoomHub.Bench/results/targets
mkdir -p "$out"
common=(--subscribers 100 --publishers 10 --duration 10 --warmup 20)
# Saturation is measured warm: under full load on 2 shared cores a RoomHub instance takes 25-30 s to tier its hot code
# up (the bare server about 5 s), so a 20 s warm-up measured part of the ramp.
saturation=(--subscribers 100 --publishers 10 --duration 10 --warmup 45)
replaced=()
if [[ -n "${REPLACED_URL:-}" ]]; then
  replaced=(--url "$REPLACED_URL" ${REPLACED_PID:+--pid "$REPLACED_PID"})
fi

rounds=("$@")
((${#rounds[@]})) || rounds=(1 2)
for n in "${rounds[@]}"; do
  # Saturation: as many messages as the servers take, 200 in flight.
  "${bench[@]}" cross --instances 2 --client legacy "${saturation[@]}" --label cross-legacy-max --out "$out/cross-legacy-max-$n.json"
  "${bench[@]}" cross --instances 2 --client lean "${saturation[@]}" --label cross-lean-max --out "$out/cross-lean-max-$n.json"
  "${bench[@]}" cross --stock --instances 2 --client lean "${saturation[@]}" --label stock-lean-max --out "$out/stock-lean-max-$n.json"
  "${bench[@]}" fanout --bare --client legacy "${saturation[@]}" --label bare-legacy-max --out "$out/bare-legacy-max-$n.json"
  if ((${#replaced[@]})); then
    "${bench[@]}" fanout "${replaced[@]}" --client legacy "${saturation[@]}" --label replaced-legacy-max --out "$out/replaced-legacy-max-$n.json"
  fi

  # A fixed 50k deliveries/s: CPU per delivery.
  "${bench[@]}" cross --instances 2 --client legacy --rate 50000 "${common[@]}" --label cross-legacy-50k --out "$out/cross-legacy-50k-$n.json"
  "${bench[@]}" cross --instances 2 --client lean --rate 50000 "${common[@]}" --label cross-lean-50k --out "$out/cross-lean-50k-$n.json"
  "${bench[@]}" cross --stock --instances 2 --client lean --rate 50000 "${common[@]}" --label stock-lean-50k --out "$out/stock-lean-50k-$n.json"
  "${bench[@]}" fanout --bare --client legacy --rate 50000 "${common[@]}" --label bare-legacy-50k --out "$out/bare-legacy-50k-$n.json"
  if ((${#replaced[@]})); then
    "${bench[@]}" fanout "${replaced[@]}" --client legacy --rate 50000 "${common[@]}" --label replaced-legacy-50k --out "$out/replaced-legacy-50k-$n.json"
  fi

  # A fixed 100k deliveries/s across instances: latency.
  "${bench[@]}" cross --instances 2 --client lean --rate 100000 "${common[@]}" --label cross-lean-100k --out "$out/cross-lean-100k-$n.json"
  "${bench[@]}" cross --instances 2 --client legacy --rate 100000 "${common[@]}" --label cross-legacy-100k --out "$out/cross-legacy-100k-$n.json"
done
