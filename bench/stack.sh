#!/usr/bin/env bash
# Stack benchmark: `burrow up` / `burrow down` of a burrow.yaml against the same work done by
# hand, in one run, inside network, mount and pid namespaces of the script's own (with a tmpfs
# over /run, as tests/integration/test_stack_privileged.py does):
#   1. time (hyperfine -N, RUNS runs each, mean ± σ) of `burrow up --detach` + `burrow down` of
#      SERVICES services, each `network: private` running /bin/sleep infinity, against one bash
#      script that does the same by hand: per service ip netns add, a veth pair with its peer
#      in the namespace, addresses, links up, default route; one nftables table of the shape
#      burrow applies (taken from a `burrow up` with `nft list table`, names changed); the
#      ip_forward sysctl; SERVICES launches of `ip netns exec NS unshare --mount /bin/sleep
#      infinity`, waiting until each runs sleep; then the reverse. Also up and down apart.
#      `up` ends with a fixed one-second wait for services that fail at once (src/stack/
#      stack.cc, bringUp): the report gives burrow's figures with and without that second;
#   2. requests/s through a real edge and the stack's connector (wrk -t2 -c32 -d DURATION,
#      ROUNDS interleaved rounds, medians) to nginx serving a 1 KB file, once as a
#      `network: private` service and once as a `network: host` service of the same stack;
#   3. the supervisor's VmRSS and VmHWM with the SERVICES services of 1 running, and with
#      the two nginx services and the connector of 2 after the wrk rounds.
#
# Usage: bench/stack.sh   (as root; BURROW=path RUNS=10 SERVICES=10 DURATION=10s ROUNDS=3)
# Needs: hyperfine, wrk, nginx (nginx-light), nft, ip, unshare, curl, python3
# (scripts/deps bench). Prints markdown tables on stdout; progress goes to stderr. Everything
# it makes lives in its own namespaces and ends with them; its temporary directory is removed
# on exit, and every step is bounded in time.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
BURROW=${BURROW:-$root/build/src/cli/burrow}
runs=${RUNS:-10}
services=${SERVICES:-10}
duration=${DURATION:-10s}
rounds=${ROUNDS:-3}

# shellcheck source=bench/lib.sh
. "$here/lib.sh"

# ---- outside: checks, a copy of the binary, then this script again in its namespaces ----

if [ "${1:-}" != --inner ]; then
  [ "$(id -u)" = 0 ] || die "run as root (namespaces and nftables need it)"
  for tool in hyperfine wrk nft ip unshare curl python3; do
    command -v "$tool" >/dev/null || die "$tool not found (scripts/deps bench)"
  done
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || die "nginx not found (scripts/deps bench)"
  [ -x "$BURROW" ] || die "burrow binary not found at $BURROW"
  [[ "$services" =~ ^[0-9]+$ ]] && [ "$services" -ge 1 ] && [ "$services" -le 200 ] \
    || die "SERVICES must be 1 to 200"
  work=$(mktemp -d /tmp/burrow-bench-stack.XXXXXX)
  chmod 755 "$work"  # nginx workers run as nobody
  trap 'rm -rf "$work"' EXIT
  trap 'exit 130' INT TERM
  # A copy, so that a rebuild during the run does not change (or remove) what is measured.
  built=$(date -u -r "$BURROW" +%Y-%m-%dT%H:%MZ)
  cp "$BURROW" "$work/burrow"
  "$work/burrow" --version >/dev/null || die "$BURROW does not run (being rebuilt?)"
  commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
  dirty=$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null | grep -q . \
    && echo " + uncommitted changes" || true)
  cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
  echo "Machine: $(nproc) CPUs, $cpu; $(uname -sr). burrow $commit$dirty ($BURROW, built $built)."
  echo "$(date -u +%Y-%m-%d), load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)." \
    "$(hyperfine --version), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)."
  echo
  # PID 1 of the new pid namespace is the inner bash: when it ends, every process of the run
  # ends, and the namespaces with them.
  rc=0
  BURROW=$work/burrow timeout 600 unshare --net --mount --pid --fork --mount-proc \
    bash "$0" --inner "$work" || rc=$?
  [ "$rc" = 0 ] || die "the run inside the namespaces failed (exit $rc)"
  exit 0
fi

# ---- inside ----

work=$2
mount -t tmpfs tmpfs /run
ip link set lo up
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
b() { timeout 60 "$BURROW" --log-level error "$@"; }

# wait_until SECONDS COMMAND...: polls COMMAND every 0.05 s; fails after SECONDS.

pids=()  # processes this script started itself: the edge
cleanup() {
  set +e
  for s in "$work/s1" "$work/s2"; do
    [ -e "$s/stack/state.json" ] && b down --state-dir "$s" >/dev/null 2>&1
  done
  [ -e "$work/m-down.sh" ] && timeout 30 bash "$work/m-down.sh" 2>/dev/null
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  wait 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. up and down: the stack file and the script by hand ----

{
  echo "services:"
  for i in $(seq 0 $((services - 1))); do
    printf '  s%d:\n    exec: [/bin/sleep, infinity]\n    network: private\n' "$i"
  done
} >"$work/stack1.yaml"

head='set -euo pipefail'
# burrow prints its progress on stderr: kept aside, and shown when a step fails.
b_up="\"$BURROW\" --log-level error up --detach -f $work/stack1.yaml --state-dir $work/s1 >/dev/null 2>$work/b.err || { tail -5 $work/b.err >&2; exit 1; }"
b_down="\"$BURROW\" --log-level error down -f $work/stack1.yaml --state-dir $work/s1 >/dev/null 2>$work/b.err || { tail -5 $work/b.err >&2; exit 1; }"

# By hand, the steps burrow takes, with the same pool (10.77.0.0/16, a /30 each, the host's
# end .1, the service's .2 named eth0) and link names hs-sN for bs-sN. Each service runs in a
# mount namespace of its own inside its network namespace, as burrow's (a bare service of a
# stack has no PID namespace; PrivatePIDs= would add one); up waits until each runs sleep.
# Down: SIGTERM to each, waited for; the table, the sysctl, each link, each namespace.
m_up=$(cat <<EOF
n=$services
for i in \$(seq 0 \$((n - 1))); do
  a=\$((4 * i))
  host=10.77.\$((a / 256)).\$((a % 256 + 1)) inside=10.77.\$((a / 256)).\$((a % 256 + 2))
  ip netns add hs-s\$i
  ip link add hs-s\$i type veth peer name eth0 netns hs-s\$i
  ip addr add \$host/30 dev hs-s\$i
  ip link set hs-s\$i up
  ip -n hs-s\$i addr add \$inside/30 dev eth0
  ip -n hs-s\$i link set eth0 up
  ip -n hs-s\$i route add default via \$host dev eth0
done
nft -f $work/manual.nft
sysctl -qw net.ipv4.ip_forward=1
pids=()
for i in \$(seq 0 \$((n - 1))); do
  ip netns exec hs-s\$i unshare --mount /bin/sleep infinity </dev/null >/dev/null 2>&1 &
  pids+=(\$!)
done
echo "\${pids[*]}" >$work/manual.pids
for pid in "\${pids[@]}"; do
  for t in \$(seq 1001); do
    [ \$t -le 1000 ] || exit 1
    [ "\$(cat /proc/\$pid/comm 2>/dev/null)" != sleep ] || break
    sleep 0.005
  done
done
EOF
)
m_down=$(cat <<EOF
if [ -e $work/manual.pids ]; then
  read -r -a pids <$work/manual.pids
  kill -TERM "\${pids[@]}" 2>/dev/null || true
  for pid in "\${pids[@]}"; do
    for t in \$(seq 201); do
      [ -r /proc/\$pid/stat ] || break
      read -r _ _ state _ </proc/\$pid/stat || break
      [ "\$state" != Z ] || break
      [ \$t -le 200 ] || kill -KILL \$pid
      sleep 0.005
    done
  done
  rm -f $work/manual.pids
fi
if nft list table inet hand_stack >/dev/null 2>&1; then nft delete table inet hand_stack; fi
sysctl -qw net.ipv4.ip_forward=0
for i in \$(seq 0 $((services - 1))); do
  if ip link show hs-s\$i >/dev/null 2>&1; then ip link del hs-s\$i; fi
  if [ -e /run/netns/hs-s\$i ]; then ip netns del hs-s\$i; fi
done
EOF
)

# script NAME BODY...: $work/NAME.sh, its errors appended to $work/errors.log.
script() {
  local name=$1; shift
  { echo "$head"; echo "exec 2>>$work/errors.log"; printf '%s\n' "$@"; } >"$work/$name.sh"
}
script b-up "$b_up"
script b-down "$b_down"
script b-cycle "$b_up" "$b_down"
script m-up "$m_up"
script m-down "$m_down"
script m-cycle "$m_up" "$m_down"
# Each timed run starts from nothing; a timed `down` starts with its stack just up. Both
# sides' children are reaped by this pid namespace's PID 1, the bash running this script.
script reset "if [ -e $work/s1/stack/state.json ]; then $b_down; fi" "bash $work/m-down.sh"
script b-ready "bash $work/reset.sh" "$b_up"
script m-ready "bash $work/reset.sh" "$m_up"

# run_script NAME: runs $work/NAME.sh, failing with its errors.
run_script() {
  : >"$work/errors.log"
  timeout 60 bash "$work/$1.sh" || die "$1 failed: $(tail -5 "$work/errors.log")"
}

log "burrow up once, as a check, to take its ruleset and the supervisor's memory"
: >"$work/errors.log"
# With --log-level info its log lines carry timestamps: where the time of `up` goes.
t0=$EPOCHREALTIME
timeout 60 "$BURROW" --log-level info up --detach -f "$work/stack1.yaml" --state-dir "$work/s1" \
  >"$work/up1.out" 2>&1 || die "burrow up: $(tail -5 "$work/up1.out")"
t1=$EPOCHREALTIME
ps1=$(b ps --json -f "$work/stack1.yaml" --state-dir "$work/s1")
python3 - "$ps1" "$services" <<'PY' || die "burrow ps: not all running: $ps1"
import json, sys
s = json.loads(sys.argv[1])
ok = s["running"] and len(s["services"]) == int(sys.argv[2]) and all(
    x["state"] == "running" and x["network"] == "private" for x in s["services"])
sys.exit(0 if ok else 1)
PY
for i in $(seq 0 $((services - 1))); do
  [ "$(ip netns pids "bs-s$i" | wc -l)" -ge 1 ] || die "no process in namespace bs-s$i"
done
sup1=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["supervisor"])' "$ps1")
monitors1=$(python3 -c 'import json,sys; print(" ".join(str(x["pid"]) for x in json.loads(sys.argv[1])["services"]))' "$ps1")
kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
sup1_rss=$(kib "$sup1" VmRSS) sup1_hwm=$(kib "$sup1" VmHWM)
# pss PID: its proportional set size in KiB (pages shared with N processes count 1/N).
pss() { awk '$1 == "Pss:" {print $2}' "/proc/$1/smaps_rollup"; }
sup1_pss=$(pss "$sup1") mon1_rss=0 mon1_pss=0
for p in $monitors1; do
  mon1_rss=$((mon1_rss + $(kib "$p" VmRSS))) mon1_pss=$((mon1_pss + $(pss "$p")))
done
{ echo "flush ruleset"
  nft list table inet burrow_stack | sed -e 's/"bs-/"hs-/g' -e 's/burrow_stack/hand_stack/'
} >"$work/manual.nft"
grep -q 'masquerade' "$work/manual.nft" && grep -q '"hs-s0"' "$work/manual.nft" \
  || die "unexpected ruleset: $(cat "$work/manual.nft")"
# The hand-built side must not flush burrow's table when both are measured in turn.
sed -i '1d' "$work/manual.nft"
run_script b-down
left="$(ip netns list)$(ip -o link | grep ' bs-' || true)$(nft list tables)"
[ -z "$left" ] || die "burrow down left: $left"
log "by hand once, as a check"
run_script m-up
run_script m-down

log "hyperfine: $runs runs of each (up + down, up, down; burrow and by hand)"
: >"$work/errors.log"
timeout 900 hyperfine -N --warmup 1 --runs "$runs" --export-json "$work/h.json" \
  --prepare "bash $work/reset.sh" --prepare "bash $work/reset.sh" \
  --prepare "bash $work/reset.sh" --prepare "bash $work/reset.sh" \
  --prepare "bash $work/b-ready.sh" --prepare "bash $work/m-ready.sh" \
  -n burrow-cycle "bash $work/b-cycle.sh" -n manual-cycle "bash $work/m-cycle.sh" \
  -n burrow-up "bash $work/b-up.sh" -n manual-up "bash $work/m-up.sh" \
  -n burrow-down "bash $work/b-down.sh" -n manual-down "bash $work/m-down.sh" >&2 \
  || die "hyperfine failed: $(tail -5 "$work/errors.log")"
run_script reset

# ---- 2. requests through the tunnel: a private service and a host one ----

log "edge, tunnel and two nginx services (private and host)"
mkdir -p "$work/www"
head -c 1024 /dev/urandom >"$work/www/1k.bin"
chmod 644 "$work/www/1k.bin"
"$BURROW" edge --state-dir "$work/edge" --http 127.0.0.1:8080 --tunnel 127.0.0.1:7844 \
  >"$work/edge.log" 2>&1 &
edge_pid=$!
pids+=("$edge_pid")
wait_until 15 grep -q 'edge ready' "$work/edge.log" || die "edge not ready: $(tail -5 "$work/edge.log")"
b edge tunnel create bench --state-dir "$work/edge" --endpoint 127.0.0.1:7844 -o "$work/token" \
  >"$work/admin.log" 2>&1 || die "tunnel create: $(cat "$work/admin.log")"
for h in private host; do
  b edge route dns bench "$h.bench.test" --state-dir "$work/edge" >>"$work/admin.log" 2>&1 \
    || die "route dns: $(cat "$work/admin.log")"
done
kill -HUP "$edge_pid"
code() { curl -s -m 5 -o /dev/null -w '%{http_code}' -H "Host: $1" "http://127.0.0.1:8080${2:-/}"; }
known() { [ "$(code private.bench.test)" != 404 ]; }
wait_until 10 known || die "edge did not pick up the routes on SIGHUP"

# nginx_conf NAME LISTEN: an nginx prefix of its own under $work; prints its command line.
nginx_conf() {
  local p=$work/nginx-$1
  nginx_config "$p" "    listen $2;
    location / { root $work/www; }"
  printf '[%s, -p, %s/, -c, %s/nginx.conf, -e, %s/logs/error.log]' "$nginx_bin" "$p" "$p" "$p"
}
cat >"$work/stack2.yaml" <<EOF
tunnel: { tokenFile: $work/token }
services:
  web:
    exec: $(nginx_conf private 0.0.0.0:8000)
    network: private
  webhost:
    exec: $(nginx_conf host 127.0.0.1:8001)
    network: host
routes:
  - hostname: private.bench.test
    service: http://[web]:8000
  - hostname: host.bench.test
    service: http://[webhost]:8001
  - service: http_status:404
EOF
b up --detach -f "$work/stack2.yaml" --state-dir "$work/s2" >"$work/up2.out" 2>&1 \
  || die "burrow up (nginx): $(tail -5 "$work/up2.out")"
for h in private host; do
  ok() { [ "$(code "$h.bench.test" /1k.bin)" = 200 ]; }
  wait_until 20 ok || die "$h.bench.test does not answer 200 through the edge: $(code "$h.bench.test" /1k.bin)"
done
ps2=$(b ps --json -f "$work/stack2.yaml" --state-dir "$work/s2")
sup2=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["supervisor"])' "$ps2")
web_address=$(python3 -c 'import json,sys; print([x["address"] for x in json.loads(sys.argv[1])["services"] if x["name"] == "web"][0])' "$ps2")

# run_wrk KIND: one wrk run through the edge to KIND.bench.test; appends to r_KIND, p50_KIND,
# p99_KIND, err_KIND.
declare -A rps p50 p99 errs
run_wrk() {
  local out=$work/wrk.$1.txt url=http://127.0.0.1:8080/1k.bin
  timeout 60 wrk -t2 -c32 -d2s -H "Host: $1.bench.test" "$url" >/dev/null 2>&1 || true  # warm-up
  timeout 120 wrk -t2 -c32 -d"$duration" --latency -H "Host: $1.bench.test" "$url" >"$out" 2>&1 \
    || die "wrk $1 failed: $(cat "$out")"
  rps[$1]+=" $(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$out")"
  p50[$1]+=" $(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")"
  p99[$1]+=" $(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")"
  errs[$1]=$((${errs[$1]:-0} + $(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$out")))
}
# passive_opens: TCP connections accepted so far in the private service's namespace (see
# /proc/net/snmp), to tell whether the connector keeps its connections to the origin.
passive_opens() {
  ip netns exec bs-web awk '$1 == "Tcp:" && $2 ~ /^[0-9]+$/ {print $7}' /proc/net/snmp
}
opens0=$(passive_opens)
# The two take turns, each round starting with the other one.
for round in $(seq "$rounds"); do
  if [ $((round % 2)) = 1 ]; then turn=(private host); else turn=(host private); fi
  log "wrk round $round of $rounds: ${turn[*]} (-t2 -c32 -d$duration)"
  for kind in "${turn[@]}"; do run_wrk "$kind"; done
done
opens=$(($(passive_opens) - opens0))
# Each origin straight from the host, without the tunnel: what the veth link costs alone.
direct() {
  timeout 30 wrk -t2 -c32 -d5s "$1" 2>&1 | awk '/^Requests\/sec/ {printf "%.0f", $2}'
}
log "wrk straight to each origin (-d5s)"
direct_private=$(direct "http://$(python3 -c 'import json,sys; print([x["address"] for x in json.loads(sys.argv[1])["services"] if x["name"] == "web"][0])' "$ps2"):8000/1k.bin")
direct_host=$(direct http://127.0.0.1:8001/1k.bin)
sup2_rss=$(kib "$sup2" VmRSS) sup2_hwm=$(kib "$sup2" VmHWM) sup2_pss=$(pss "$sup2")
b down -f "$work/stack2.yaml" --state-dir "$work/s2" >/dev/null 2>&1 || die "burrow down (nginx) failed"

# ---- report ----

# median V...: the middle value (the lower middle for an even count).

cat <<EOF
## Up and down of $services private services (/bin/sleep infinity): hyperfine -N, $runs runs, mean ± σ ms

EOF
python3 - "$work/h.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
f = lambda x, d=0.0: "%.0f ± %.0f" % ((x["mean"] - d) * 1e3, (x["stddev"] or 0) * 1e3)
print("| step | burrow | by hand | burrow / by hand |")
print("| --- | ---: | ---: | ---: |")
for label, key in (("up + down in one run", "cycle"), ("up", "up"), ("down", "down")):
    b, m = r["burrow-" + key], r["manual-" + key]
    print("| %s | %s | %s | %.2f |" % (label, f(b), f(m), b["mean"] / m["mean"]))
    if key != "down":
        print("| %s, burrow minus its fixed 1 s settle | %s | %s | %.2f |"
              % (label, f(b, 1.0), f(m), (b["mean"] - 1.0) / m["mean"]))
PY
cat <<EOF

Where the time of one \`burrow up --detach\` goes (the run's first, with --log-level info;
from its log lines' millisecond timestamps):

EOF
python3 - "$work/up1.out" "$t0" "$t1" <<'PY'
import datetime, re, sys
t0, t1 = float(sys.argv[2]), float(sys.argv[3])
net, started = [], []
for line in open(sys.argv[1]):
    m = re.match(r"(\S+Z) INF (private network up|stack started)", line)
    if m:
        t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ")
        t = t.replace(tzinfo=datetime.timezone.utc).timestamp()
        (net if m.group(2).startswith("private") else started).append(t)
ms = lambda a, b: "%.0f" % ((b - a) * 1e3)
print("| phase | ms |")
print("| --- | ---: |")
print("| start, file, checks, the first namespace and link | %s |" % ms(t0, net[0]))
print("| the other %d namespaces and links | %s |" % (len(net) - 1, ms(net[0], net[-1])))
print("| nftables table and ip_forward | %s |" % ms(net[-1], started[0]))
print("| starting the %d services (fork of each monitor) | %s |" % (len(started), ms(started[0], started[-1])))
print("| the fixed 1 s settle, the table, return | %s |" % ms(started[-1], t1))
print("| total | %s |" % ms(t0, t1))
PY
cat <<EOF

## Requests through the tunnel: wrk -t2 -c32 -d$duration, 1 KB file from nginx, $rounds rounds, median

| service | requests/s | by round | p50 ms | p99 ms | errors | vs host |
| --- | ---: | --- | ---: | ---: | ---: | ---: |
| network: private ($web_address:8000) | $(median ${rps[private]}) | ${rps[private]# } | $(median ${p50[private]}) | $(median ${p99[private]}) | ${errs[private]} | $(ratio "$(median ${rps[private]})" "$(median ${rps[host]})") |
| network: host (127.0.0.1:8001) | $(median ${rps[host]}) | ${rps[host]# } | $(median ${p50[host]}) | $(median ${p99[host]}) | ${errs[host]} | 1.00 |

The private service's nginx accepted $opens TCP connections during its rounds (and their
warm-ups). Straight from the host, without the tunnel (wrk -t2 -c32 -d5s, once): private
$direct_private requests/s, host $direct_host, ratio $(ratio "$direct_private" "$direct_host").

## The supervisor's memory (\`burrow ps --json\` → supervisor), MiB

| stack | VmRSS | VmHWM | Pss |
| --- | ---: | ---: | ---: |
| $services private services, just up | $(mib "$sup1_rss") | $(mib "$sup1_hwm") | $(mib "$sup1_pss") |
| 2 nginx services + connector, after the wrk rounds | $(mib "$sup2_rss") | $(mib "$sup2_hwm") | $(mib "$sup2_pss") |

Beside the supervisor, each service has a monitor process (burrow, forked by the supervisor,
running the service's sandbox): the $services of them together $(mib "$mon1_rss") MiB VmRSS,
$(mib "$mon1_pss") MiB Pss (pages shared with the supervisor and each other counted once).
EOF
