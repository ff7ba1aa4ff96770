# What the benchmarks share: sourced by bench/*.sh after `set -euo pipefail`, with `root`
# (the source tree) set. Progress and failures go to stderr; every process a benchmark starts
# goes into `pids` and is stopped by pid (stop_pids), every wait is bounded (wait_until).

log() { printf '%s\n' "bench: $*" >&2; }
die() { log "FAIL: $*"; exit 1; }

# need TOOL...: dies naming the first tool that is not installed.
need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || die "$tool not found (scripts/deps bench)"
  done
}
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

# burrow_binary: BURROW as given, or a release binary built in build-bench/.
burrow_binary() {
  if [ -z "${BURROW:-}" ]; then
    log "building a release binary in build-bench/"
    cmake -S "$root" -B "$root/build-bench" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DBURROW_TESTS=OFF >/dev/null
    timeout 1800 ninja -C "$root/build-bench" burrow >/dev/null
    BURROW=$root/build-bench/src/cli/burrow
  fi
  [ -x "$BURROW" ] || die "burrow binary not found at $BURROW"
}

# stop_pids: SIGTERM to each of `pids`, SIGKILL to what still runs 5 s later.
pids=()
stop_pids() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}

# loopback_work: a work directory under /tmp, removed with every process on exit; many open
# files allowed. Sets `work` and `load_before`.
loopback_work() {
  work=$(mktemp -d /tmp/burrow-bench.XXXXXX)
  chmod 755 "$work"  # nginx workers may run as another user
  trap 'stop_pids; rm -rf "$work"' EXIT
  trap 'exit 130' INT TERM
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_until SECONDS COMMAND...: polls COMMAND every 0.05 s; fails after SECONDS.
wait_until() {
  local limit=$1; shift
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.05
  done
}

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# to_ms VALUE: wrk's "812.00us" / "1.20ms" / "1.01s" in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000
    printf "%.2f", n }'
}

# CPU time: cpu_ticks PID... (user + system, in clock ticks), and per request.
hz=$(getconf CLK_TCK)
cpu_ticks() { local p; for p in "$@"; do awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null; done | awk '{ t += $1 } END { print t + 0 }'; }
cpu_us_per_req() { awk -v t="$1" -v n="$2" -v hz="$hz" 'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "n/a" }'; }
requests() { awk '/requests in/ { print $1 }' "$1"; }  # in a wrk report

# nginx_config DIR SERVER_BLOCK [HTTP_EXTRA]: DIR/nginx.conf, nginx with its own prefix DIR.
nginx_config() {
  local p=$1 server=$2 extra=${3:-}
  mkdir -p "$p/tmp" "$p/logs"
  cat >"$p/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $p/nginx.pid;
error_log $p/logs/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $p/tmp/body;
  proxy_temp_path $p/tmp/proxy;
  fastcgi_temp_path $p/tmp/fastcgi;
  uwsgi_temp_path $p/tmp/uwsgi;
  scgi_temp_path $p/tmp/scgi;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  $extra
  server {
$server
  }
}
EOF
}

# nginx_start DIR SERVER_BLOCK [HTTP_EXTRA]: that nginx in the foreground of a background job
# (its pid in `pids` and `nginx_pid`).
nginx_start() {
  local p=$1
  nginx_config "$@"
  "$nginx_bin" -p "$p/" -c "$p/nginx.conf" -e "$p/logs/error.log" &
  nginx_pid=$!
  pids+=("$nginx_pid")
}

# edge_start FLAGS...: `burrow edge` on loopback ports of its choosing (state in $work/edge);
# sets edge_pid, edge_http, edge_https (when served) and edge_tunnel.
edge_start() {
  "$BURROW" edge --state-dir "$work/edge" --tunnel 127.0.0.1:0 "$@" 2>"$work/edge.log" &
  edge_pid=$!
  pids+=("$edge_pid")
  wait_until 15 grep -q 'edge ready' "$work/edge.log" || die "edge not ready: $(tail -5 "$work/edge.log")"
  local ready
  ready=$(grep -m1 'edge ready' "$work/edge.log")
  edge_http=$(sed -nE 's/.*[^s-]http=[^ ]*:([0-9]+).*/\1/p' <<<" $ready")
  edge_https=$(sed -nE 's/.*https=[^ ]*:([0-9]+).*/\1/p' <<<"$ready")
  edge_tunnel=$(sed -nE 's/.*tunnel=[^ ]*:([0-9]+).*/\1/p' <<<"$ready")
  [[ "$edge_tunnel" =~ ^[0-9]+$ ]] || die "cannot parse: $ready"
}

# tunnel_routes HOSTNAME...: tunnel "bench" on the edge, its token in $work/token (0600), the
# hostnames routed to it, picked up by the running edge.
tunnel_routes() {
  "$BURROW" edge tunnel create bench --state-dir "$work/edge" --endpoint "127.0.0.1:$edge_tunnel" \
    >"$work/token.tmp" 2>>"$work/admin.log" || die "tunnel create: $(cat "$work/admin.log")"
  install -m 600 /dev/null "$work/token"
  cat "$work/token.tmp" >"$work/token"
  rm -f "$work/token.tmp"
  local h
  for h in "$@"; do
    "$BURROW" edge route dns bench "$h" --state-dir "$work/edge" >>"$work/admin.log" 2>&1 \
      || die "route dns $h: $(cat "$work/admin.log")"
  done
  local before
  before=$(grep -c 'reloaded' "$work/edge.log" || true)
  kill -HUP "$edge_pid"
  wait_until 10 _reloaded "$before" || die "the edge did not reload its routes on SIGHUP"
}
_reloaded() { [ "$(grep -c 'reloaded' "$work/edge.log")" -gt "$1" ]; }

# connector_start FLAGS...: `burrow tunnel run` with $work/config.yml and the token; waits
# for its 4 connections. Sets conn_pid.
connector_start() {
  "$BURROW" tunnel run --config "$work/config.yml" --token-file "$work/token" "$@" \
    2>"$work/connector.log" &
  conn_pid=$!
  pids+=("$conn_pid")
  wait_until 20 _registered || die "connector not registered: $(tail -5 "$work/connector.log")"
}
_registered() { [ "$(grep -c 'connection registered' "$work/connector.log")" -ge 4 ]; }
