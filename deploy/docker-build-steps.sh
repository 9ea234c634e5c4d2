#!/usr/bin/env bash
# Runs what deploy/Dockerfile does, on a machine without Docker:
#   1. lints the Dockerfile (dockerfile-utils under node, from RoomHub.Tests/interop),
#   2. the build stage: restore RoomHub.Server from its project files, publish it to a folder,
#   3. the runtime stage: starts the published server the way the image's ENTRYPOINT and ENV do, and probes it
#      with the image's HEALTHCHECK script.
# Usage: deploy/docker-build-steps.sh [output folder]   (default: artifacts/docker-app)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="$(realpath -m "${1:-artifacts/docker-app}")"

echo "== lint deploy/Dockerfile"
if [ ! -d RoomHub.Tests/interop/node_modules ]; then
  (cd RoomHub.Tests/interop && npm ci --no-audit --no-fund --loglevel=error)
fi
node RoomHub.Tests/interop/lint-dockerfile.mjs deploy/Dockerfile

echo "== build stage: restore and publish to $out"
dotnet restore RoomHub.Server/RoomHub.Server.csproj
dotnet publish RoomHub.Server/RoomHub.Server.csproj -c Release -o "$out" --no-restore -p:UseAppHost=false
for file in RoomHub.Server.dll RoomHub.Server.runtimeconfig.json appsettings.json; do
  [ -f "$out/$file" ] || { echo "publish output lacks $file" >&2; exit 1; }
done

echo "== runtime stage: ENTRYPOINT with the image's ENV, probed by its HEALTHCHECK"
port=$((20000 + RANDOM % 20000))
log="$(mktemp)"
(cd "$out" && PORT=$port ASPNETCORE_HTTP_PORTS= exec dotnet RoomHub.Server.dll) >"$log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"' EXIT
deadline=$((SECONDS + 30))
until PORT=$port deploy/healthcheck.sh /health 2>/dev/null; do
  if ! kill -0 "$pid" 2>/dev/null || ((SECONDS > deadline)); then
    echo "the published server did not become healthy on port $port:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.2
done
echo "healthy on port $port (pid $pid); published to $out"
