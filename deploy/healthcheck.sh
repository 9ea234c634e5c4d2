#!/usr/bin/env bash
# Health probe for the container image, which has neither curl nor wget: a plain HTTP/1.1 GET through bash's
# /dev/tcp. Exits 0 when the server answers 200 on the given path (default /health), non-zero otherwise.
# Usage: healthcheck.sh [path]   (port from PORT, default 8080; host from HEALTHCHECK_HOST, default 127.0.0.1)
set -euo pipefail

path="${1:-/health}"
host="${HEALTHCHECK_HOST:-127.0.0.1}"
port="${PORT:-8080}"

exec 3<>"/dev/tcp/${host}/${port}"
printf 'GET %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n\r\n' "$path" "$host" "$port" >&3
IFS=' ' read -r -t 5 _ status _ <&3
exec 3<&-
[[ "$status" == "200" ]]
