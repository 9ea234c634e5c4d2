#!/usr/bin/env bash
# Runs the measurements quoted in RoomHub.Bench/README.md, each twice, writing JSON into RoomHub.Bench/results/.
# Every run starts its own servers (and redis-server) on free loopback ports and stops by itself.
# Usage: RoomHub.Bench/scripts/run-suite.sh [run-number...]   (default: 1 2)
set -euo pipefail
cd "$(dirname "$0")/../.."
dotnet build RoomHub.Bench -c Release -v quiet -nologo >/dev/null
bench=(dotnet RoomHub.Bench/bin/Release/net10.0/RoomHub.Bench.dll)
out=RoomHub.Bench/results
mkdir -p "$out"
# Open files: idle needs one per connection in the client and in the server; raise the soft limit to the hard one.
ulimit -n "$(ulimit -Hn)"
idle=$(( $(ulimit -n) >= 21000 ? 20000 : 19000 ))
# The first published figures (3 s warm-up, sends of a connection one at a time); scripts/run-targets.sh takes the
# current ones. Ten publishers: when these were taken, each SendMessage waited for its Redis round trips before the
# connection's next one started, so two publishers capped the run far below the servers' capacity.
common=(--duration 10 --warmup 3 --publishers 10)

for run in "${@:-1 2}"; do
  for n in $run; do
    "${bench[@]}" cross --instances 2 --subscribers 100 --client lean "${common[@]}" --label "cross-lean-max" --out "$out/cross-lean-max-$n.json"
    "${bench[@]}" fanout --bare --client legacy --subscribers 100 "${common[@]}" --label "bare-legacy-max" --out "$out/bare-legacy-max-$n.json"
    "${bench[@]}" cross --instances 2 --subscribers 100 --client lean --window 1000 "${common[@]}" --label "cross-lean-max-window1000" --out "$out/cross-lean-max-window1000-$n.json"
    "${bench[@]}" fanout --bare --client legacy --subscribers 100 --window 1000 "${common[@]}" --label "bare-legacy-max-window1000" --out "$out/bare-legacy-max-window1000-$n.json"
    "${bench[@]}" cross --instances 2 --subscribers 100 --client lean --rate 50000 "${common[@]}" --label "cross-lean-50k" --out "$out/cross-lean-50k-$n.json"
    "${bench[@]}" fanout --bare --client legacy --subscribers 100 --rate 50000 "${common[@]}" --label "bare-legacy-50k" --out "$out/bare-legacy-50k-$n.json"
    "${bench[@]}" cross --instances 2 --subscribers 100 --client lean --rate 100000 "${common[@]}" --label "cross-lean-100k" --out "$out/cross-lean-100k-$n.json"
    "${bench[@]}" rooms --instances 2 --connections 2000 --client lean "${common[@]}" --label "rooms-lean-2000" --out "$out/rooms-lean-2000-$n.json"
    "${bench[@]}" idle --instances 1 --connections "$idle" --client lean --duration 10 --label "idle-lean-$idle" --out "$out/idle-lean-$n.json"
  done
done
