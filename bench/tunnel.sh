#!/usr/bin/env bash
# Tunnel benchmark: one origin (nginx on 127.0.0.1 serving a 1 KB file and a 1 GB sparse
# file), measured in the same run
#   1. direct to the origin,
#   2. through burrow (edge + connector, separate processes, release build),
#   3. through the classic two-hop nginx chain (front nginx -> TLS -> middle nginx -> origin,
#      keepalive upstreams),
# with wrk -t2 -c32 -d10s --latency (requests/s, p50, p99 and ratios vs the chain), bulk
# throughput of the 1 GB file with curl (MB/s), and the peak RSS (VmHWM) of the edge and
# the connector idle and during 1,000 concurrent connections (wrk -c1000). Then HTTP/2 rapid
# reset: requests/s of a well-behaved h2load client on the edge's https listener alone, and
# while tests/tools/hostile.py resets streams as fast as it can (20 connections, reopened as
# the edge closes them), as a ratio.
#
# Usage: bench/tunnel.sh            (builds a release binary in build-bench/ if BURROW unset)
#        BURROW=path/to/burrow DURATION=10s ROUNDS=3 bench/tunnel.sh
# Needs: wrk, h2load (nghttp2-client), nginx (nginx-light), curl, openssl, python3 with
# python3-h2 (scripts/deps bench installs them).
# Prints a markdown table on stdout; progress goes to stderr. Every process it starts is
# stopped by pid on exit, and every step is bounded in time.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
duration=${DURATION:-10s}
conns=${CONNS:-32}
threads=${THREADS:-2}
rounds=${ROUNDS:-3}

# shellcheck source=bench/lib.sh
. "$here/lib.sh"
need wrk h2load nginx curl openssl python3
burrow_binary
loopback_work

mkdir -p "$work/www"
head -c 1024 /dev/urandom >"$work/www/1k.bin"
truncate -s 1G "$work/www/1g.bin"

# start_nginx NAME SERVER_BLOCK [HTTP_EXTRA]: nginx with its own prefix under $work.
start_nginx() {
  nginx_start "$work/$1" "$2" "${3:-}"
  nginx_master[$1]=$nginx_pid
}

declare -A nginx_master  # name -> pid of that nginx's master process
origin_port=$(free_port)
start_nginx origin "    listen 127.0.0.1:$origin_port;
    location / { root $work/www; }"
wait_until 10 curl -sf -o /dev/null "http://127.0.0.1:$origin_port/1k.bin" || die "origin nginx did not start"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=middle \
  -keyout "$work/middle.key" -out "$work/middle.crt" 2>/dev/null
middle_port=$(free_port)
start_nginx middle "    listen 127.0.0.1:$middle_port ssl;
    ssl_certificate $work/middle.crt;
    ssl_certificate_key $work/middle.key;
    ssl_protocols TLSv1.3;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
    }" "upstream origin { server 127.0.0.1:$origin_port; keepalive 128; }"
front_port=$(free_port)
start_nginx front "    listen 127.0.0.1:$front_port;
    location / {
      proxy_pass https://middle;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
      proxy_ssl_session_reuse on;
      proxy_ssl_protocols TLSv1.3;
    }" "upstream middle { server 127.0.0.1:$middle_port; keepalive 128; }"
wait_until 10 curl -sf -o /dev/null "http://127.0.0.1:$front_port/1k.bin" || die "nginx chain did not start"

# ---- burrow: edge + connector ----

# wrk -c1000 below comes from one address: let it.
edge_start --http 127.0.0.1:0 --https 127.0.0.1:0 --max-connections-per-client 4096
tunnel_routes bench.test

cat >"$work/config.yml" <<EOF
ingress:
  - hostname: bench.test
    service: http://127.0.0.1:$origin_port
  - service: http_status:404
EOF
metrics_port=$(free_port)
connector_start --metrics "127.0.0.1:$metrics_port"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: bench.test' "http://127.0.0.1:$edge_http/1k.bin")
[ "$code" = 200 ] || die "request through burrow answered $code"

hwm() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
sleep 1  # let start-up settle before calling it idle
idle_edge=$(hwm "$edge_pid")
idle_conn=$(hwm "$conn_pid")

# ---- wrk ----

# run_wrk LABEL URL [HOST] : sets rps, p50, p99, errs
run_wrk() {
  local label=$1 url=$2 host=${3:-} out=$work/wrk.$1.txt
  local hdr=()
  [ -n "$host" ] && hdr=(-H "Host: $host")
  log "wrk $label: -t$threads -c$conns -d$duration $url"
  timeout 60 wrk -t"$threads" -c"$conns" -d2s "${hdr[@]}" "$url" >/dev/null 2>&1 || true  # warm-up
  local t0 i0
  t0=$(cpu_ticks $cpu_pids)
  i0=$(idle_ticks)
  timeout 120 wrk -t"$threads" -c"$conns" -d"$duration" --latency "${hdr[@]}" "$url" >"$out" 2>&1 \
    || die "wrk $label failed: $(cat "$out")"
  cpu=$(cpu_us_per_req $(($(cpu_ticks $cpu_pids) - t0)) "$(requests "$out")")
  idle=$(awk -v i="$(($(idle_ticks) - i0))" -v hz="$hz" -v n="$(nproc)" -v d="${duration%s}" \
    'BEGIN { printf "%.0f", 100 * i / (hz * n * d) }')
  rps=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$out")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
  errs=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$out")
}

# idle_ticks: clock ticks all CPUs spent idle so far (the fourth field of /proc/stat's cpu line).
idle_ticks() { awk '$1 == "cpu" { print $5; exit }' /proc/stat; }
# nginx_pids NAME: the master and workers of one nginx.
nginx_pids() { echo "${nginx_master[$1]}" $(pgrep -P "${nginx_master[$1]}"); }

cpu_pids=""  # processes whose CPU run_wrk charges to the requests it measures

# median V...: the middle value (the lower middle for an even count).

# The three paths take turns, ROUNDS times, so that a passing load on the machine hits all of
# them alike; the report gives each figure's median over the rounds.
d_r=() d_5=() d_9=() b_r=() b_5=() b_9=() c_r=() c_5=() c_9=() b_cpu=() c_cpu=() b_idle=() c_idle=()
d_err=0 b_err=0 c_err=0
for round in $(seq "$rounds"); do
  log "round $round of $rounds"
  run_wrk direct "http://127.0.0.1:$origin_port/1k.bin"
  d_r+=("$rps") d_5+=("$p50") d_9+=("$p99") d_err=$((d_err + errs))
  cpu_pids="$edge_pid $conn_pid"
  run_wrk burrow "http://127.0.0.1:$edge_http/1k.bin" bench.test
  b_r+=("$rps") b_5+=("$p50") b_9+=("$p99") b_err=$((b_err + errs)) b_cpu+=("$cpu") b_idle+=("$idle")
  cpu_pids="$(nginx_pids front) $(nginx_pids middle)"
  run_wrk chain "http://127.0.0.1:$front_port/1k.bin"
  c_r+=("$rps") c_5+=("$p50") c_9+=("$p99") c_err=$((c_err + errs)) c_cpu+=("$cpu") c_idle+=("$idle")
  cpu_pids=""
done
d_rps=$(median "${d_r[@]}") d_p50=$(median "${d_5[@]}") d_p99=$(median "${d_9[@]}")
b_rps=$(median "${b_r[@]}") b_p50=$(median "${b_5[@]}") b_p99=$(median "${b_9[@]}")
c_rps=$(median "${c_r[@]}") c_p50=$(median "${c_5[@]}") c_p99=$(median "${c_9[@]}")

# ---- bulk: 1 GB ----

# bulk URL [HOST]: MB/s (10^6 bytes) of one 1 GB download, checked for size.
bulk() {
  local hdr=()
  [ -n "${2:-}" ] && hdr=(-H "Host: $2")
  local r
  r=$(timeout 300 curl -s -o /dev/null "${hdr[@]}" -w '%{http_code} %{size_download} %{speed_download}' "$1") \
    || die "bulk download of $1 failed"
  read -r code size speed <<<"$r"
  [ "$code" = 200 ] && [ "$size" = 1073741824 ] || die "bulk download of $1: code $code, $size bytes"
  awk -v s="$speed" 'BEGIN { printf "%.0f", s / 1e6 }'
}
log "bulk: 1 GB direct, through burrow, through the chain"
bulk_direct=$(bulk "http://127.0.0.1:$origin_port/1g.bin")
bulk_burrow=$(bulk "http://127.0.0.1:$edge_http/1g.bin" bench.test)
bulk_chain=$(bulk "http://127.0.0.1:$front_port/1g.bin")

# ---- 1,000 concurrent connections through burrow ----

# Reset the peak so that it measures this phase alone (see proc(5), clear_refs "5").
reset_peak=yes
echo 5 >"/proc/$edge_pid/clear_refs" 2>/dev/null || reset_peak=no
echo 5 >"/proc/$conn_pid/clear_refs" 2>/dev/null || reset_peak=no
log "wrk burrow: -t$threads -c1000 -d$duration"
timeout 120 wrk -t"$threads" -c1000 -d"$duration" --latency -H "Host: bench.test" \
  "http://127.0.0.1:$edge_http/1k.bin" >"$work/wrk.c1000.txt" 2>&1 || die "wrk -c1000 failed"
k_rps=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$work/wrk.c1000.txt")
k_p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$work/wrk.c1000.txt")")
k_err=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$work/wrk.c1000.txt")
load_edge=$(hwm "$edge_pid")
load_conn=$(hwm "$conn_pid")
kill -0 "$edge_pid" && kill -0 "$conn_pid" || die "burrow died under load"

# ---- HTTP/2 rapid reset: the same well-behaved client alone and beside an attacker ----

py=/usr/bin/python3
[ -x "$py" ] || py=python3
# h2good: sets h2_rps and h2_fail from a 10 s h2load run (8 connections, 10 streams each).
h2good() {
  local out=$work/h2load.$1.txt
  timeout 60 h2load -D 10 -c 8 -m 10 -H ':authority: bench.test' \
    "https://127.0.0.1:$edge_https/1k.bin" >"$out" 2>&1 || die "h2load failed: $(tail -5 "$out")"
  h2_rps=$(awk '/^finished in/ { gsub(/,/, ""); printf "%.0f", $4 }' "$out")
  h2_fail=$(awk '/^requests:/ { print $10 + $12 + $14 }' "$out")
}
served() { curl -s "http://127.0.0.1:$metrics_port/metrics" | awk '$1 == "burrow_tunnel_requests_total" { print $2 }'; }
# burrow_cpu TICKS: the CPU burrow's edge and connector used in a 10 s phase, in % of one core.
burrow_cpu() { awk -v t="$1" -v hz="$hz" 'BEGIN { printf "%.0f", 100 * t / (hz * 10) }'; }
log "h2load alone: -c8 -m10 -D10 on the https listener"
t0=$(cpu_ticks "$edge_pid" "$conn_pid")
h2good alone
alone_cpu=$(burrow_cpu $(($(cpu_ticks "$edge_pid" "$conn_pid") - t0)))
alone_rps=$h2_rps alone_fail=$h2_fail
log "h2load beside a rapid-reset attacker (20 connections)"
before=$(served)
timeout 60 "$py" "$root/tests/tools/hostile.py" rapid-reset --host 127.0.0.1 --port "$edge_https" \
  --authority bench.test --path /1k.bin --connections 20 --streams 20000 --seconds 10 --reconnect \
  >"$work/attack.json" 2>"$work/attack.err" &
attack_pid=$!
pids+=("$attack_pid")
t0=$(cpu_ticks "$edge_pid" "$conn_pid")
h2good attacked
attacked_cpu=$(burrow_cpu $(($(cpu_ticks "$edge_pid" "$conn_pid") - t0)))
wait "$attack_pid" || die "the attacker failed: $(tail -5 "$work/attack.err")"
after=$(served)
attacked_rps=$h2_rps attacked_fail=$h2_fail
attack_streams=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["sent"])' "$work/attack.json")
attack_closed=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["closed"])' "$work/attack.json")
attack_opened=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["opened"])' "$work/attack.json")
# Requests that reached the connector in the attacked run, beyond the good client's own.
h2_done=$(awk '/^requests:/ { print $8 }' "$work/h2load.attacked.txt")
reached=$(( after - before - h2_done ))
calm=$(grep -c 'resets streams faster' "$work/edge.log" || true)  # lines: one a second at most
kill -0 "$edge_pid" && kill -0 "$conn_pid" || die "burrow died under the rapid-reset attack"

# ---- report ----


cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " + uncommitted changes" || true)

cat <<EOF
Machine: $(nproc) CPUs, $cpu; $(uname -sr). burrow $commit$dirty.
Load average before the run: $load_before.

## Requests: wrk -t$threads -c$conns -d$duration, 1 KB file (median of $rounds rounds)

burrow requests/s by round: ${b_r[*]}; the chain's: ${c_r[*]}.

CPU per request (user + system, from /proc/PID/stat): burrow's edge + connector
$(median "${b_cpu[@]}") µs; the chain's front + middle nginx $(median "${c_cpu[@]}") µs
(rounds: ${b_cpu[*]} / ${c_cpu[*]}). CPU left idle during the run, all cores: burrow
$(median "${b_idle[@]}")%, the chain $(median "${c_idle[@]}")% (rounds: ${b_idle[*]} / ${c_idle[*]}).

| path | requests/s | p50 ms | p99 ms | errors | req/s vs chain | p99 vs chain |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
| direct to nginx | $d_rps | $d_p50 | $d_p99 | $d_err | $(ratio "$d_rps" "$c_rps") | $(ratio "$d_p99" "$c_p99") |
| burrow (edge + connector) | $b_rps | $b_p50 | $b_p99 | $b_err | $(ratio "$b_rps" "$c_rps") | $(ratio "$b_p99" "$c_p99") |
| nginx chain (front -> TLS -> middle) | $c_rps | $c_p50 | $c_p99 | $c_err | 1.00 | 1.00 |

## Bulk: one 1 GB download with curl

| path | MB/s | vs direct |
| --- | ---: | ---: |
| direct to nginx | $bulk_direct | 1.00 |
| burrow | $bulk_burrow | $(ratio "$bulk_burrow" "$bulk_direct") |
| nginx chain | $bulk_chain | $(ratio "$bulk_chain" "$bulk_direct") |

## Memory: peak RSS (VmHWM)

| process | idle MiB | during wrk -c1000 MiB |
| --- | ---: | ---: |
| edge | $(mib "$idle_edge") | $(mib "$load_edge") |
| connector | $(mib "$idle_conn") | $(mib "$load_conn") |

wrk -c1000 through burrow: $k_rps requests/s, p99 $k_p99 ms, $k_err errors.
Peak reset before the -c1000 phase: $reset_peak (if no, that column is the peak of the whole run).

## HTTP/2 rapid reset (h2load -c8 -m10 -D10 on the https listener)

| well-behaved client | requests/s | failed | vs alone | CPU of edge + connector, % of one core |
| --- | ---: | ---: | ---: | ---: |
| alone | $alone_rps | $alone_fail | 1.00 | $alone_cpu |
| beside the attacker | $attacked_rps | $attacked_fail | $(ratio "$attacked_rps" "$alone_rps") | $attacked_cpu |

The attacker (tests/tools/hostile.py: 20 threads, each sending HEADERS then RST_STREAM at
once and opening a new connection whenever the edge closes its last) opened $attack_opened
connections and sent $attack_streams streams; the edge closed $attack_closed of them
($calm log lines of ENHANCE_YOUR_CALM); $reached of its requests reached the connector.
EOF
