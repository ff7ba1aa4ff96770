#!/usr/bin/env bash
# forwardAuth benchmark: requests/s through the tunnel (edge + connector, a 1 KB file from
# nginx) for the same route without middleware and behind forwardAuth to `burrow auth`
# (/api/authz/forward-auth, a logged-in session cookie sent by wrk), taking turns in the same
# run, as a ratio; beside them the same route with forwardAuth to nginx answering `return 200`
# (the cheapest server there is: what the exchange itself costs); then the portal's login
# cost: POST /api/firstfactor with an argon2id hash at Authelia's default parameters
# (m=64 MiB, t=3, p=4), one at a time and 4 at once.
#
# Usage: bench/auth.sh            (builds a release binary in build-bench/ if BURROW unset)
#        BURROW=path/to/burrow DURATION=10s ROUNDS=3 LOGINS=20 bench/auth.sh
# Needs: wrk, nginx (nginx-light), curl, python3 (scripts/deps bench installs them).
# Prints a markdown report on stdout; progress goes to stderr. Every process it starts is
# stopped by pid on exit, and every step is bounded in time. Loopback only.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
duration=${DURATION:-10s}
conns=${CONNS:-32}
threads=${THREADS:-2}
rounds=${ROUNDS:-3}
logins=${LOGINS:-20}
[ "$logins" -ge 4 ] || { echo "bench: LOGINS must be at least 4 (one batch of 4 at once)" >&2; exit 2; }

# shellcheck source=bench/lib.sh
. "$here/lib.sh"
need wrk nginx curl python3
burrow_binary
loopback_work

# ---- the origin ----

mkdir -p "$work/www"
head -c 1024 /dev/urandom >"$work/www/1k.bin"
origin_port=$(free_port)
nginx_start "$work/origin" "    listen 127.0.0.1:$origin_port;
    location / { root $work/www; }
    location = /auth { return 200; }"
wait_until 10 curl -sf -o /dev/null "http://127.0.0.1:$origin_port/1k.bin" || die "origin nginx did not start"

# ---- the portal: one user, argon2id at Authelia's defaults ----

hash=$(printf 'correct horse\n' | timeout 60 "$BURROW" auth hash-password) || die "hash-password failed"
cat >"$work/users_database.yml" <<EOF
users:
  john:
    displayname: John Doe
    password: '$hash'
    email: john@bench.test
    groups: [admins]
EOF
head -c 32 /dev/urandom | base64 >"$work/session_secret"
portal_port=$(free_port)
cat >"$work/configuration.yml" <<EOF
server:
  address: 'tcp://127.0.0.1:$portal_port/'
session:
  cookies:
    - domain: bench.test
      authelia_url: 'http://auth.bench.test'
authentication_backend:
  file:
    path: '$work/users_database.yml'
access_control:
  default_policy: one_factor
EOF
AUTHELIA_SESSION_SECRET_FILE=$work/session_secret "$BURROW" auth --config "$work/configuration.yml" \
  2>"$work/auth.log" &
auth_pid=$!
pids+=("$auth_pid")
wait_until 15 grep -q 'auth listening' "$work/auth.log" || die "portal not ready: $(tail -5 "$work/auth.log")"

login_body='{"username":"john","password":"correct horse","keepMeLoggedIn":false,"targetURL":""}'
login() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 30 -H 'Host: auth.bench.test' \
    -H 'Content-Type: application/json' --data-binary "$login_body" \
    "http://127.0.0.1:$portal_port/api/firstfactor"
}
cookie=$(curl -s -D - -o /dev/null --max-time 30 -H 'Host: auth.bench.test' \
  -H 'Content-Type: application/json' --data-binary "$login_body" \
  "http://127.0.0.1:$portal_port/api/firstfactor" | tr -d '\r' |
  sed -n 's/^[Ss]et-[Cc]ookie: \(authelia_session=[^;]*\).*/\1/p' | head -1)
[ -n "$cookie" ] || die "login failed: $(tail -5 "$work/auth.log")"

# ---- burrow: edge + connector, two routes to the same origin ----

edge_start --http 127.0.0.1:0
tunnel_routes plain.bench.test sso.bench.test floor.bench.test

cat >"$work/config.yml" <<EOF
middlewares:
  sso:
    forwardAuth:
      address: http://127.0.0.1:$portal_port/api/authz/forward-auth
      trustForwardHeader: true
      authResponseHeaders: [Remote-User, Remote-Groups, Remote-Name, Remote-Email]
  floor:
    forwardAuth:
      address: http://127.0.0.1:$origin_port/auth
      trustForwardHeader: true
      authResponseHeaders: [Remote-User, Remote-Groups, Remote-Name, Remote-Email]
ingress:
  - hostname: plain.bench.test
    service: http://127.0.0.1:$origin_port
  - hostname: sso.bench.test
    service: http://127.0.0.1:$origin_port
    middlewares: [sso]
  - hostname: floor.bench.test
    service: http://127.0.0.1:$origin_port
    middlewares: [floor]
  - service: http_status:404
EOF
connector_start
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code -H 'Host: plain.bench.test' "http://127.0.0.1:$edge_http/1k.bin")" = 200 ] \
  || die "the plain route does not answer 200"
[ "$(code -H 'Host: sso.bench.test' -H 'Accept: application/json' "http://127.0.0.1:$edge_http/1k.bin")" = 401 ] \
  || die "the sso route without a session does not answer 401"
[ "$(code -H 'Host: sso.bench.test' -H "Cookie: $cookie" "http://127.0.0.1:$edge_http/1k.bin")" = 200 ] \
  || die "the sso route with a session does not answer 200"
[ "$(code -H 'Host: floor.bench.test' "http://127.0.0.1:$edge_http/1k.bin")" = 200 ] \
  || die "the route with forwardAuth to nginx does not answer 200"

# ---- wrk ----

# run_wrk LABEL HOST [HEADER] : sets rps, p50, p99, errs, cpu (edge + connector + portal, µs/request)
run_wrk() {
  local label=$1 host=$2 out=$work/wrk.$1.txt
  local hdr=(-H "Host: $host")
  [ -n "${3:-}" ] && hdr+=(-H "$3")
  local url=http://127.0.0.1:$edge_http/1k.bin
  log "wrk $label: -t$threads -c$conns -d$duration $host"
  timeout 60 wrk -t"$threads" -c"$conns" -d2s "${hdr[@]}" "$url" >/dev/null 2>&1 || true  # warm-up
  local t0 te tc ta
  t0=$(cpu_ticks "$edge_pid" "$conn_pid" "$auth_pid")
  te=$(cpu_ticks "$edge_pid") tc=$(cpu_ticks "$conn_pid") ta=$(cpu_ticks "$auth_pid")
  timeout 120 wrk -t"$threads" -c"$conns" -d"$duration" --latency "${hdr[@]}" "$url" >"$out" 2>&1 \
    || die "wrk $label failed: $(cat "$out")"
  local n
  n=$(requests "$out")
  cpu=$(cpu_us_per_req $(($(cpu_ticks "$edge_pid" "$conn_pid" "$auth_pid") - t0)) "$n")
  cpu_parts="$(cpu_us_per_req $(($(cpu_ticks "$edge_pid") - te)) "$n") / $(cpu_us_per_req $(($(cpu_ticks "$conn_pid") - tc)) "$n") / $(cpu_us_per_req $(($(cpu_ticks "$auth_pid") - ta)) "$n")"
  rps=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$out")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
  errs=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$out")
}

n_r=() n_5=() n_9=() n_c=() s_r=() s_5=() s_9=() s_c=() n_err=0 s_err=0 ratios=()
f_r=() f_5=() f_9=() f_c=() f_err=0 f_ratios=()
for round in $(seq "$rounds"); do
  log "round $round of $rounds"
  run_wrk plain plain.bench.test
  n_r+=("$rps") n_5+=("$p50") n_9+=("$p99") n_c+=("$cpu") n_err=$((n_err + errs))
  n_parts=$cpu_parts
  plain_rps=$rps
  run_wrk sso sso.bench.test "Cookie: $cookie"
  s_r+=("$rps") s_5+=("$p50") s_9+=("$p99") s_c+=("$cpu") s_err=$((s_err + errs))
  s_parts=$cpu_parts
  ratios+=("$(awk -v a="$rps" -v b="$plain_rps" 'BEGIN { printf "%.2f", a / b }')")
  run_wrk floor floor.bench.test "Cookie: $cookie"
  f_r+=("$rps") f_5+=("$p50") f_9+=("$p99") f_c+=("$cpu") f_err=$((f_err + errs))
  f_parts=$cpu_parts
  f_ratios+=("$(awk -v a="$rps" -v b="$plain_rps" 'BEGIN { printf "%.2f", a / b }')")
done
kill -0 "$edge_pid" && kill -0 "$conn_pid" && kill -0 "$auth_pid" || die "a process died under load"
auth_conns=$(ss -Htn state established "( sport = :$portal_port )" 2>/dev/null | wc -l)

# ---- login cost ----

now_ns() { date +%s%N; }
log "logins: $logins one at a time"
t0=$(now_ns)
for _ in $(seq "$logins"); do
  [ "$(login)" = 200 ] || die "a login failed: $(tail -3 "$work/auth.log")"
done
seq_ms=$(awk -v d="$(($(now_ns) - t0))" -v n="$logins" 'BEGIN { printf "%.0f", d / 1e6 / n }')
log "logins: $logins, 4 at a time"
t0=$(now_ns)
for _ in $(seq $((logins / 4))); do
  batch=()
  for i in 1 2 3 4; do login >"$work/login.$i.$RANDOM" & batch+=($!); done
  wait "${batch[@]}"  # not a bare wait: the edge, connector and portal are children too
done
par_s=$(awk -v d="$(($(now_ns) - t0))" 'BEGIN { printf "%.3f", d / 1e9 }')
par_ok=0 par_busy=0
for f in "$work"/login.*.*; do  # each holds one status, without a newline
  case $(cat "$f") in 200) par_ok=$((par_ok + 1)) ;; 503) par_busy=$((par_busy + 1)) ;; esac
done
par_rate=$(awk -v n="$par_ok" -v s="$par_s" 'BEGIN { printf "%.1f", n / s }')
auth_hwm=$(awk '/^VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$auth_pid/status")

# ---- report ----

cpu_model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " + uncommitted changes" || true)
n_rps=$(median "${n_r[@]}") s_rps=$(median "${s_r[@]}") f_rps=$(median "${f_r[@]}")

cat <<EOF
Machine: $(nproc) CPUs, $cpu_model; $(uname -sr). burrow $commit$dirty.
Load average before the run: $load_before.

## forwardAuth to burrow auth: wrk -t$threads -c$conns -d$duration, 1 KB file (median of $rounds rounds)

| route | requests/s | p50 ms | p99 ms | errors | CPU µs/request (edge + connector + portal) | vs no middleware |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
| no middleware | $n_rps | $(median "${n_5[@]}") | $(median "${n_9[@]}") | $n_err | $(median "${n_c[@]}") | 1.00 |
| forwardAuth, logged-in session | $s_rps | $(median "${s_5[@]}") | $(median "${s_9[@]}") | $s_err | $(median "${s_c[@]}") | $(ratio "$s_rps" "$n_rps") |
| forwardAuth to nginx \`return 200\` (no check at all) | $f_rps | $(median "${f_5[@]}") | $(median "${f_9[@]}") | $f_err | $(median "${f_c[@]}") | $(ratio "$f_rps" "$n_rps") |

Requests/s by round, no middleware: ${n_r[*]}; forwardAuth: ${s_r[*]}; ratio by round: ${ratios[*]};
forwardAuth to nginx: ${f_r[*]}, ratio by round: ${f_ratios[*]}.
CPU µs/request by process (edge / connector / portal), last round: no middleware $n_parts;
forwardAuth $s_parts; forwardAuth to nginx $f_parts (nginx's own CPU is not counted).
Connections from the connector to the portal after the run: $auth_conns (kept alive and reused).

## Login: POST /api/firstfactor, argon2id m=65536 t=3 p=4

| | figure |
| --- | ---: |
| one at a time ($logins logins) | $seq_ms ms per login, $(awk -v m="$seq_ms" 'BEGIN { printf "%.1f", 1000 / m }') logins/s |
| 4 at a time ($par_ok logins in $par_s s; $par_busy refused 503 as too many at once) | $par_rate logins/s |
| portal peak RSS (VmHWM) | $auth_hwm MiB |
EOF
