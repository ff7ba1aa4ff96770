#!/usr/bin/env bash
# The edge on the open internet: TLS handshakes per second on the edge's https listener against
# nginx with the same certificate (a new connection per request, answered 404 by each without
# going anywhere), and TCP throughput through the tunnel (a tcp:// route and `burrow access
# tcp`) against a direct connection, with iperf3, both directions. Same run, as ratios.
#
# Usage: bench/edge.sh            (builds a release binary in build-bench/ if BURROW unset)
#        BURROW=path/to/burrow DURATION=10s ROUNDS=3 SECONDS_TCP=5 bench/edge.sh
# Needs: wrk, nginx (nginx-light), iperf3, openssl, curl, python3 (scripts/deps bench).
# Prints a markdown report on stdout; progress goes to stderr. Every process it starts is
# stopped by pid on exit, and every step is bounded in time. Loopback only.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
duration=${DURATION:-10s}
conns=${CONNS:-32}
rounds=${ROUNDS:-3}
tcp_secs=${SECONDS_TCP:-5}

log() { printf '%s\n' "bench: $*" >&2; }
die() { log "FAIL: $*"; exit 1; }

for tool in wrk nginx iperf3 openssl curl python3; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || die "$tool not found (scripts/deps bench)"
done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

if [ -z "${BURROW:-}" ]; then
  log "building a release binary in build-bench/"
  cmake -S "$root" -B "$root/build-bench" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DBURROW_TESTS=OFF >/dev/null
  timeout 1800 ninja -C "$root/build-bench" burrow >/dev/null
  BURROW=$root/build-bench/src/cli/burrow
fi
[ -x "$BURROW" ] || die "burrow binary not found at $BURROW"

work=$(mktemp -d /tmp/burrow-bench.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_until() {
  local limit=$1; shift
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.1
  done
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# ---- one certificate for both: ECDSA P-256, as ACME CAs issue ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=bench.test -addext "subjectAltName=DNS:*.bench.test,DNS:bench.test" \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null || die "openssl req failed"

# ---- nginx: https, 404 for everything ----
ngx_port=$(free_port)
p=$work/nginx
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
  server {
    listen 127.0.0.1:$ngx_port ssl;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { return 404; }
  }
}
EOF
"$nginx_bin" -p "$p/" -c "$p/nginx.conf" -e "$p/logs/error.log" &
pids+=($!)
wait_until 10 curl -sk -o /dev/null "https://127.0.0.1:$ngx_port/" || die "nginx did not start"

# ---- iperf3 server: the tcp:// route's origin ----
iperf_port=$(free_port)
iperf3 -s -B 127.0.0.1 -p "$iperf_port" >"$work/iperf-server.log" 2>&1 &
pids+=($!)
wait_until 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $iperf_port)).close()" \
  || die "iperf3 server did not start"

# ---- burrow: edge (http, https with the same certificate), tunnel, connector ----
"$BURROW" edge --state-dir "$work/edge" --http 127.0.0.1:0 --https 127.0.0.1:0 \
  --cert "$work/cert.pem" --key "$work/key.pem" --tunnel 127.0.0.1:0 2>"$work/edge.log" &
pids+=($!)
wait_until 15 grep -q 'edge ready' "$work/edge.log" || die "edge not ready: $(tail -5 "$work/edge.log")"
ready=$(grep -m1 'edge ready' "$work/edge.log")
edge_https=$(sed -E 's/.*https=[^ ]*:([0-9]+).*/\1/' <<<"$ready")
edge_tunnel=$(sed -E 's/.*tunnel=[^ ]*:([0-9]+).*/\1/' <<<"$ready")
[[ "$edge_https" =~ ^[0-9]+$ && "$edge_tunnel" =~ ^[0-9]+$ ]] || die "cannot parse: $ready"
"$BURROW" edge tunnel create bench --state-dir "$work/edge" --endpoint "127.0.0.1:$edge_tunnel" \
  >"$work/token.tmp" 2>"$work/admin.log" || die "tunnel create: $(cat "$work/admin.log")"
install -m 600 /dev/null "$work/token"
cat "$work/token.tmp" >"$work/token"
"$BURROW" edge route dns bench tcp.bench.test --state-dir "$work/edge" >>"$work/admin.log" 2>&1 \
  || die "route dns: $(cat "$work/admin.log")"
cat >"$work/config.yml" <<EOF
ingress:
  - hostname: tcp.bench.test
    service: tcp://127.0.0.1:$iperf_port
  - service: http_status:404
EOF
"$BURROW" tunnel run --config "$work/config.yml" --token-file "$work/token" 2>"$work/connector.log" &
pids+=($!)
wait_until 20 grep -q 'connection registered' "$work/connector.log" \
  || die "connector not registered: $(tail -5 "$work/connector.log")"
access_port=$(free_port)
"$BURROW" access tcp --hostname tcp.bench.test --url "127.0.0.1:$access_port" \
  --edge "127.0.0.1:$edge_https" --ca-file "$work/cert.pem" 2>"$work/access.log" &
pids+=($!)
wait_until 15 grep -q 'access listening' "$work/access.log" || die "access not ready: $(tail -5 "$work/access.log")"

# ---- TLS handshakes: a new connection per request (wrk with Connection: close) ----
run_hs() {  # PORT -> requests/s
  local out=$work/wrk.out
  timeout 120 wrk -t2 -c"$conns" -d"$duration" -H 'Connection: close' -H 'Host: none.bench.test' \
    "https://127.0.0.1:$1/" >"$out" 2>&1 || die "wrk failed: $(cat "$out")"
  awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out"
}
e_r=() n_r=()
for r in $(seq "$rounds"); do
  log "handshakes round $r/$rounds: burrow edge"
  e_r+=("$(run_hs "$edge_https")")
  log "handshakes round $r/$rounds: nginx"
  n_r+=("$(run_hs "$ngx_port")")
done
e_hs=$(median "${e_r[@]}") n_hs=$(median "${n_r[@]}")

# ---- TCP throughput with iperf3 ----
run_iperf() {  # PORT [-R] -> Gbit/s received
  timeout $((tcp_secs + 30)) iperf3 -c 127.0.0.1 -p "$1" -t "$tcp_secs" -J ${2:-} >"$work/iperf.json" \
    2>&1 || die "iperf3 failed: $(tail -5 "$work/iperf.json")"
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('%.2f' % (d['end']['sum_received']['bits_per_second'] / 1e9))" "$work/iperf.json"
}
log "tcp: direct, up"; d_up=$(run_iperf "$iperf_port")
log "tcp: through the tunnel, up"; t_up=$(run_iperf "$access_port")
log "tcp: direct, down"; d_down=$(run_iperf "$iperf_port" -R)
log "tcp: through the tunnel, down"; t_down=$(run_iperf "$access_port" -R)

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
cat <<EOF
Machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo); Linux $(uname -r). burrow $commit.
Load average before the run: $load_before.

## TLS handshakes: wrk -t2 -c$conns -d$duration, Connection: close, ECDSA P-256 (median of $rounds rounds)

| server | handshakes/s | vs nginx |
| --- | ---: | ---: |
| nginx (\`worker_processes auto\`) | $n_hs | 1.00 |
| burrow edge | $e_hs | $(ratio "$e_hs" "$n_hs") |

By round: burrow ${e_r[*]}; nginx ${n_r[*]}.

## TCP through the tunnel: iperf3 -t $tcp_secs, one stream

| path | up Gbit/s | down Gbit/s | up vs direct | down vs direct |
| --- | ---: | ---: | ---: | ---: |
| direct | $d_up | $d_down | 1.00 | 1.00 |
| burrow access tcp → edge (TLS) → tunnel → connector | $t_up | $t_down | $(ratio "$t_up" "$d_up") | $(ratio "$t_down" "$d_down") |
EOF
