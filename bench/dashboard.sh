#!/usr/bin/env bash
# Dashboard benchmark: what an open dashboard costs the data path. One edge with --admin and
# a connector (nginx serving a 1 KB file as the origin); wrk -t2 -c32 through the tunnel,
# rounds taking turns in the same run: with no page open, and with the dashboard open in
# headless Chromium (its live page connected to /api/events, re-rendered every second while
# the counts change; the browser is given SETTLE seconds, default 10, to finish starting). Requests/s as a ratio (the target: >= 0.98), and the CPU the edge and
# the browser spent per round.
#
# Usage: bench/dashboard.sh         (builds a release binary in build-bench/ if BURROW unset)
#        BURROW=path/to/burrow DURATION=10s ROUNDS=3 bench/dashboard.sh
# Needs: wrk, nginx (nginx-light), curl, chromium (scripts/deps bench and test install them).
# Prints a markdown report on stdout; progress goes to stderr. Every process it starts is
# stopped by pid on exit, and every step is bounded in time. Loopback only.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
duration=${DURATION:-10s}
conns=${CONNS:-32}
threads=${THREADS:-2}
rounds=${ROUNDS:-3}
settle=${SETTLE:-10}  # seconds the browser gets to finish starting before a round

# shellcheck source=bench/lib.sh
. "$here/lib.sh"
need wrk nginx curl chromium
burrow_binary
loopback_work

mkdir -p "$work/www"
head -c 1024 /dev/urandom >"$work/www/1k.bin"
origin_port=$(free_port)
nginx_start "$work/origin" "    listen 127.0.0.1:$origin_port;
    location / { root $work/www; }"
wait_until 10 curl -sf -o /dev/null "http://127.0.0.1:$origin_port/1k.bin" || die "origin nginx did not start"

edge_start --http 127.0.0.1:0 --admin 127.0.0.1:0
admin=$(grep -m1 'edge ready' "$work/edge.log" | sed -nE 's/.*admin=([^ ]+).*/\1/p')
[ -n "$admin" ] || die "the edge did not say its admin address"
tunnel_routes app.bench.test
cat >"$work/config.yml" <<EOF
ingress:
  - hostname: app.bench.test
    service: http://127.0.0.1:$origin_port
  - service: http_status:404
EOF
connector_start
url=http://127.0.0.1:$edge_http/1k.bin
[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: app.bench.test' "$url")" = 200 ] \
  || die "the route does not answer 200"

# The browser, in a process group of its own so that its helpers stop with it.
browser_pid=
browser_open() {
  setsid chromium --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --no-proxy-server --user-data-dir="$work/chromium" "http://$admin/" \
    >"$work/chromium.log" 2>&1 &
  browser_pid=$!
  pids+=("$browser_pid")
  wait_until 30 _live || die "the page did not connect to /api/events: $(tail -3 "$work/chromium.log")"
  sleep "$settle"  # Chromium's own start-up (seconds of CPU) is not the dashboard's cost
}
_live() { [ "$(ss -Htn state established "( sport = :${admin##*:} )" | wc -l)" -ge 1 ]; }
browser_close() {
  kill -TERM -- "-$browser_pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$browser_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$browser_pid" 2>/dev/null || true
  wait "$browser_pid" 2>/dev/null || true
  browser_pid=
}
# CPU ticks of the browser's whole process group.
browser_ticks() {
  [ -n "$browser_pid" ] || { echo 0; return; }
  local p t=0
  for p in $(pgrep -g "$browser_pid" 2>/dev/null); do t=$((t + $(cpu_ticks "$p"))); done
  echo "$t"
}

# run_wrk LABEL: sets rps and cpu (edge + connector µs/request) and bcpu (browser, s).
run_wrk() {
  local out=$work/wrk.$1.txt
  log "wrk $1: -t$threads -c$conns -d$duration"
  timeout 60 wrk -t"$threads" -c"$conns" -d2s -H 'Host: app.bench.test' "$url" >/dev/null 2>&1 || true
  local t0 b0
  t0=$(cpu_ticks "$edge_pid" "$conn_pid")
  b0=$(browser_ticks)
  timeout 120 wrk -t"$threads" -c"$conns" -d"$duration" -H 'Host: app.bench.test' "$url" >"$out" 2>&1 \
    || die "wrk $1 failed: $(cat "$out")"
  rps=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$out")
  cpu=$(cpu_us_per_req $(($(cpu_ticks "$edge_pid" "$conn_pid") - t0)) "$(requests "$out")")
  bcpu=$(awk -v t="$(($(browser_ticks) - b0))" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }')
}

closed_r=() open_r=() ratios=() closed_c=() open_c=() open_b=()
for round in $(seq "$rounds"); do
  log "round $round of $rounds"
  run_wrk closed
  closed_r+=("$rps") closed_c+=("$cpu")
  browser_open
  run_wrk open
  open_r+=("$rps") open_c+=("$cpu") open_b+=("$bcpu")
  sse=$(ss -Htn state established "( sport = :${admin##*:} )" | wc -l)
  browser_close
  ratios+=("$(ratio "${open_r[-1]}" "${closed_r[-1]}")")
done
kill -0 "$edge_pid" && kill -0 "$conn_pid" || die "a process died under load"
page=$(curl -s "http://$admin/" | wc -c)
css=$(curl -s "http://$admin/assets/dashboard.css" | wc -c)
js=$(curl -s "http://$admin/assets/dashboard.js" | wc -c)

cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " + uncommitted changes" || true)
c_rps=$(median "${closed_r[@]}") o_rps=$(median "${open_r[@]}")
cat <<EOF
Machine: $(nproc) CPUs, $cpu_model; $(uname -sr). burrow $commit$dirty.
Load average before the run: $load_before.

## The dashboard's cost to the data path: wrk -t$threads -c$conns -d$duration, 1 KB file (median of $rounds rounds)

| | requests/s | CPU µs/request (edge + connector) | browser CPU s per round | vs no page |
| --- | ---: | ---: | ---: | ---: |
| no dashboard open | $c_rps | $(median "${closed_c[@]}") | - | 1.00 |
| dashboard open in headless Chromium (live) | $o_rps | $(median "${open_c[@]}") | $(median "${open_b[@]}") | $(ratio "$o_rps" "$c_rps") |

Requests/s by round, closed: ${closed_r[*]}; open: ${open_r[*]}; ratio by round: ${ratios[*]}.
Connections to the admin listener during the last open round: $sse.
Page $page bytes, dashboard.css $css bytes, dashboard.js $js bytes (with one tunnel).
EOF
