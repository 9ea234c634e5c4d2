#!/usr/bin/env bash
# A RoomHub cluster on this machine's loopback: a private redis-server, N RoomHub instances sharing it, and haproxy in
# front of them (round-robin, health checks on /health, WebSocket-friendly timeouts). Everything binds 127.0.0.1.
#
# Usage: deploy/local-cluster.sh [options] up | down | status | restart-instance K
#   up                   start everything, wait until it is healthy, print the URLs and PIDs
#   down                 stop what `up` started (by the PIDs it recorded), instances first
#   status               show each recorded process and whether it is healthy
#   restart-instance K   SIGTERM instance K (1..N), wait for it to exit (its drain), start it again, wait until healthy
# Options:
#   --instances N   number of RoomHub instances (default 3)
#   --port P        load balancer port (default 8080); instance K listens on P+K
#   --redis-port R  port of the private redis-server (default 6380)
#   --dir D         where pids, logs and the haproxy configuration go (default run/local-cluster)
# down, status and restart-instance read the settings `up` recorded in the --dir; only --dir matters for them.
# Needs redis-server and haproxy (installed with apt-get when missing) and the .NET SDK (the server is built in
# Release when RoomHub.Server/bin/Release/net10.0/RoomHub.Server.dll is missing).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
healthcheck="$root/deploy/healthcheck.sh"
dll="$root/RoomHub.Server/bin/Release/net10.0/RoomHub.Server.dll"

instances=3
port=8080
redis_port=6380
dir="$root/run/local-cluster"
command=""
target=""

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2; }
fail() { echo "local-cluster: $*" >&2; exit 1; }

while (($#)); do
  case "$1" in
    --instances) instances="${2:?}"; shift 2 ;;
    --port) port="${2:?}"; shift 2 ;;
    --redis-port) redis_port="${2:?}"; shift 2 ;;
    --dir) dir="${2:?}"; shift 2 ;;
    -h|--help) usage ;;
    up|down|status) command="$1"; shift ;;
    restart-instance) command="$1"; target="${2:-}"; shift; (($#)) && shift ;;
    *) usage ;;
  esac
done
[ -n "$command" ] || usage
[[ "$instances" =~ ^[1-9][0-9]*$ && "$port" =~ ^[0-9]+$ && "$redis_port" =~ ^[0-9]+$ ]] || fail "--instances, --port and --redis-port take numbers"
dir="$(realpath -m "$dir")"

# --- processes --------------------------------------------------------------------------------------------------

# Running and not a zombie (the processes outlive this script, so whoever inherits them may reap them late).
alive() {
  local pid="$1" state
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  state="$(sed 's/^.*) //' "/proc/$pid/stat" | cut -d' ' -f1)"
  [ "$state" != "Z" ]
}

# Alive and still the program we started: a recorded PID may have been reused since.
ours() {
  local pid="$1" pattern="$2"
  alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pattern"
}

recorded_pid() { cat "$dir/$1.pid" 2>/dev/null || true; }

# stop NAME PATTERN TIMEOUT: SIGTERM, wait up to TIMEOUT seconds for the exit, then SIGKILL.
stop() {
  local name="$1" pattern="$2" timeout="$3" pid
  pid="$(recorded_pid "$name")"
  if ours "$pid" "$pattern"; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + timeout))
    while alive "$pid"; do
      if ((SECONDS >= deadline)); then
        echo "$name (pid $pid) did not exit within ${timeout}s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        break
      fi
      sleep 0.1
    done
  fi
  rm -f "$dir/$name.pid"
}

# wait_until WHAT TIMEOUT PID COMMAND...: polls COMMAND until it succeeds; fails if PID exits or TIMEOUT passes.
wait_until() {
  local what="$1" timeout="$2" pid="$3"; shift 3
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    alive "$pid" || fail "$what: the process exited; see its log in $dir"
    ((SECONDS < deadline)) || fail "$what: not healthy after ${timeout}s; see its log in $dir"
    sleep 0.1
  done
}

http_ok() { HEALTHCHECK_HOST=127.0.0.1 PORT="$1" "$healthcheck" "${2:-/health}"; }

redis_ok() (
  exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
  printf 'PING\r\n' >&3
  IFS= read -r -t 2 reply <&3 || true
  [[ "$reply" == +PONG* ]]
)

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- components -------------------------------------------------------------------------------------------------

instance_port() { echo $((port + $1)); }

start_instance() {
  local k="$1" p pid
  p="$(instance_port "$k")"
  port_free "$p" || fail "port $p (instance $k) is in use"
  (
    cd "$(dirname "$dll")"
    # Behind haproxy: the client's address comes in X-Forwarded-For (for the per-address connection limit).
    ASPNETCORE_URLS="http://127.0.0.1:$p" REDIS_URL="redis://127.0.0.1:$redis_port" ASPNETCORE_FORWARDEDHEADERS_ENABLED=true \
      exec dotnet "$dll" </dev/null >>"$dir/instance-$k.log" 2>&1
  ) &
  pid=$!
  echo "$pid" >"$dir/instance-$k.pid"
  wait_until "instance $k on port $p" 60 "$pid" http_ok "$p"
}

write_haproxy_config() {
  local k limit maxconn
  # Each proxied connection takes two descriptors; stay within this shell's limit (haproxy refuses to start otherwise).
  limit="$(ulimit -n)"
  maxconn=20000
  [[ "$limit" =~ ^[0-9]+$ ]] && ((limit / 2 - 100 < maxconn)) && maxconn=$((limit / 2 - 100))
  {
    cat <<EOF
# Generated by deploy/local-cluster.sh.
global
    maxconn $maxconn

defaults
    mode http
    option dontlognull
    timeout connect 5s
    timeout http-request 10s
    # Long polling holds a request open for up to 90 s.
    timeout client 120s
    timeout server 120s
    # An upgraded WebSocket is a tunnel; SignalR's keep-alive pings every 15 s, so an idle hour never happens.
    timeout tunnel 1h
    timeout client-fin 10s

frontend roomhub
    bind 127.0.0.1:$port
    default_backend roomhub

backend roomhub
    balance roundrobin
    # A draining or Redis-less instance answers 503 on /health: it gets no new connections, keeps its current ones.
    option httpchk
    http-check send meth GET uri /health ver HTTP/1.1 hdr Host localhost
    http-check expect status 200
    default-server inter 1s fall 2 rise 2
    # The client's address, for the instances' per-address connection limit.
    option forwardfor
    # Cookie affinity, for clients that negotiate or use SSE / long polling. WebSockets with skipNegotiation need none.
    cookie ROOMHUB_INSTANCE insert indirect nocache httponly
    # A client whose cookie names an instance that is gone, or draining (it refuses newcomers with 503), is sent to
    # another instance at once instead of retrying the same one until the health check marks it down.
    option redispatch 1
    retries 2
    retry-on conn-failure empty-response 503
EOF
    for ((k = 1; k <= instances; k++)); do
      echo "    server instance-$k 127.0.0.1:$(instance_port "$k") check cookie instance-$k"
    done
  } >"$dir/haproxy.cfg"
}

require() {
  local program="$1" package="$2"
  command -v "$program" >/dev/null 2>&1 || [ -x "/usr/sbin/$program" ] && return 0
  echo "Installing $package from Debian's packages" >&2
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$package" >/dev/null
}

program_path() { command -v "$1" 2>/dev/null || echo "/usr/sbin/$1"; }

load_settings() {
  [ -f "$dir/cluster.env" ] || fail "no cluster recorded in $dir (run up first)"
  # shellcheck source=/dev/null
  . "$dir/cluster.env"
}

# --- commands ---------------------------------------------------------------------------------------------------

up() {
  if [ -f "$dir/cluster.env" ]; then
    for name in haproxy redis $(cd "$dir" && ls instance-*.pid 2>/dev/null | sed 's/\.pid$//'); do
      alive "$(recorded_pid "$name")" && fail "a cluster recorded in $dir is still running: run down first"
    done
  fi
  require redis-server redis-server
  require haproxy haproxy
  command -v dotnet >/dev/null || fail "the .NET 10 SDK is required"
  if [ ! -f "$dll" ]; then
    echo "Building RoomHub.Server (Release)" >&2
    dotnet build "$root/RoomHub.Server/RoomHub.Server.csproj" -c Release -v quiet -nologo >&2
  fi

  mkdir -p "$dir"
  # A failed start leaves nothing running behind it.
  trap 'echo "local-cluster: up failed; stopping what it started" >&2; down >/dev/null 2>&1 || true' EXIT
  printf 'instances=%s\nport=%s\nredis_port=%s\n' "$instances" "$port" "$redis_port" >"$dir/cluster.env"

  port_free "$redis_port" || fail "port $redis_port (redis) is in use"
  port_free "$port" || fail "port $port (load balancer) is in use"
  "$(program_path redis-server)" --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --protected-mode no --loglevel warning </dev/null >>"$dir/redis.log" 2>&1 &
  echo $! >"$dir/redis.pid"
  wait_until "redis-server on port $redis_port" 20 "$(recorded_pid redis)" redis_ok "$redis_port"

  for ((k = 1; k <= instances; k++)); do
    start_instance "$k"
  done

  write_haproxy_config
  "$(program_path haproxy)" -c -q -f "$dir/haproxy.cfg" || fail "haproxy rejected $dir/haproxy.cfg"
  "$(program_path haproxy)" -db -f "$dir/haproxy.cfg" </dev/null >>"$dir/haproxy.log" 2>&1 &
  echo $! >"$dir/haproxy.pid"
  wait_until "haproxy on port $port" 20 "$(recorded_pid haproxy)" http_ok "$port"
  trap - EXIT

  status
}

down() {
  load_settings
  local k
  # Instances first, so that none is left with a missing Redis; each gets its full drain (30 s) plus a margin.
  local stopping=()
  for ((k = 1; k <= instances; k++)); do
    stop "instance-$k" RoomHub.Server.dll 45 &
    stopping+=("$!")
  done
  # Only these: a bare wait would also wait for the redis-server a failed `up` started, which is stopped below.
  wait "${stopping[@]}"
  stop haproxy haproxy 10
  stop redis redis-server 10
  rm -f "$dir/cluster.env"
  echo "stopped the cluster recorded in $dir"
}

status() {
  load_settings
  local k pid health
  echo "load balancer: http://127.0.0.1:$port/hubs/rooms   (health: http://127.0.0.1:$port/health)"
  line() { # name pattern port path
    pid="$(recorded_pid "$1")"
    if ! ours "$pid" "$2"; then health="stopped"
    elif [ "$3" = redis ]; then redis_ok "$redis_port" && health="healthy" || health="unhealthy"
    else http_ok "$3" && health="healthy" || health="unhealthy"
    fi
    printf '  %-12s pid %-8s %-10s %s\n' "$1" "${pid:--}" "$health" "$4"
  }
  line redis redis-server redis "redis://127.0.0.1:$redis_port"
  for ((k = 1; k <= instances; k++)); do
    line "instance-$k" RoomHub.Server.dll "$(instance_port "$k")" "http://127.0.0.1:$(instance_port "$k")"
  done
  line haproxy haproxy "$port" "http://127.0.0.1:$port"
  echo "  logs and pids: $dir"
}

restart_instance() {
  load_settings
  [[ "$target" =~ ^[0-9]+$ ]] && ((target >= 1 && target <= instances)) || fail "restart-instance takes an instance number, 1..$instances"
  local pid
  pid="$(recorded_pid "instance-$target")"
  # SIGTERM starts the graceful drain; allow the drain timeout (30 s) plus a margin before giving up.
  stop "instance-$target" RoomHub.Server.dll 45
  start_instance "$target"
  echo "instance-$target restarted: pid ${pid:-none} -> $(recorded_pid "instance-$target") on port $(instance_port "$target")"
}

case "$command" in
  up) up ;;
  down) down ;;
  status) status ;;
  restart-instance) restart_instance ;;
esac
