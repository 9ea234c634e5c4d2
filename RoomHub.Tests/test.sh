#!/usr/bin/env bash
# Runs the whole RoomHub test suite on a fresh Debian machine: installs what is missing (redis-server, haproxy,
# node/npm from Debian's packages; the JavaScript clients and the manifest validator with `npm ci`), then runs every
# test against real processes.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v dotnet >/dev/null || { echo "The .NET 10 SDK is required: https://dot.net" >&2; exit 1; }

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  echo "Installing ${missing[*]} from Debian's packages"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The manifest tests render the kustomizations with `kubectl kustomize`, which needs kubectl 1.21 or later (kustomize
# v4+). Debian's own kubernetes-client (1.20, kustomize v2) cannot read them, so it is not a substitute.
command -v kubectl >/dev/null || echo "warning: kubectl (1.21 or later) is not installed: DeploymentManifestTests will fail" >&2

(cd RoomHub.Tests/interop && npm ci --no-audit --no-fund --loglevel=error)

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
dotnet test RoomHub.sln -c Release "$@" 2>&1 | tee "$log" || status=$?

# One closing line in the plain "N passed, N failed" form, summed over every test assembly.
awk '/(Passed|Failed)!  - Failed:/ { gsub(",", ""); for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) } }
     END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
