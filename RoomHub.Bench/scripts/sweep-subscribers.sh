#!/usr/bin/env bash
# Throughput at saturation against the number of subscribers, for RoomHub (2 instances over Redis, lean client), a
# stock SignalR hub (2 instances over its Redis backplane, lean client) and the bare Kestrel broadcast (legacy
# client). Each point is one run of 5 s after the 20 s warm-up the JIT needs; JSON into RoomHub.Bench/results/sweep-*.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
dotnet build RoomHub.Bench -c Release -v quiet -nologo >/dev/null
bench=(dotnet RoomHub.Bench/bin/Release/net10.0/RoomHub.Bench.dll)
out=RoomHub.Bench/results
for s in 10 25 50 100 200 400; do
  "${bench[@]}" cross --instances 2 --subscribers "$s" --client lean --publishers 10 --duration 5 --warmup 20 --label "sweep-roomhub-$s" --out "$out/sweep-roomhub-$s.json"
  "${bench[@]}" cross --stock --instances 2 --subscribers "$s" --client lean --publishers 10 --duration 5 --warmup 20 --label "sweep-stock-$s" --out "$out/sweep-stock-$s.json"
  "${bench[@]}" fanout --bare --client legacy --subscribers "$s" --publishers 10 --duration 5 --warmup 20 --label "sweep-bare-$s" --out "$out/sweep-bare-$s.json"
done
