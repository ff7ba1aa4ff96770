#!/usr/bin/env bash
# VPN confinement benchmark: `burrow netns` against the same namespace built by hand, in one
# run, on a test bed like tests/integration/test_netns_privileged.py's (a "provider" namespace
# holding a wireguard-go peer, reached from the host over a veth underlay):
#   1. time (hyperfine, RUNS runs each, medians) of `burrow netns up` and `burrow netns down`
#      of a confined namespace, apart and as one up + down, against the shell sequence that
#      does the same by hand (ip netns add, wireguard-go -f, wg set, ip link set ... netns,
#      addresses, default route, nft -f of the ruleset burrow applies; then kill wireguard-go
#      by pid, ip netns del). Each command is a small bash script, so both sides pay the same
#      shell start. These runs are made under a child subreaper that reaps orphans at once,
#      as systemd does; `burrow netns down` is timed once more with orphans left to this
#      machine's PID 1 (see docs/benchmarks.md for why that differs);
#   2. TCP throughput (iperf3 -t DURATION, ROUNDS rounds, medians) from inside the confined
#      namespace through the tunnel to the provider's tunnel address: burrow's namespace, the
#      hand-built one with the same ruleset, and the hand-built one with no ruleset.
#
# Usage: bench/netns.sh   (as root; BURROW=path RUNS=20 DURATION=10 ROUNDS=5 to override)
# Needs: hyperfine, iperf3, wireguard-go, wg, nft, ip, ss, python3 (scripts/deps bench).
# Prints markdown tables on stdout; progress goes to stderr. Everything it makes (namespaces,
# links, processes, by pid, and its temporary directory) is removed on exit, and every step
# is bounded in time.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
BURROW=${BURROW:-$root/build/src/cli/burrow}
runs=${RUNS:-20}
duration=${DURATION:-10}
rounds=${ROUNDS:-5}

# shellcheck source=bench/lib.sh
. "$here/lib.sh"

[ "$(id -u)" = 0 ] || die "run as root (network namespaces need it)"
for tool in hyperfine iperf3 wireguard-go wg nft ip ss python3 setsid; do
  command -v "$tool" >/dev/null || die "$tool not found (scripts/deps bench)"
done
[ -x "$BURROW" ] || die "burrow binary not found at $BURROW"

# Names unique to this run; addresses of the test bed.
sfx=$(($$ % 100000))
pns=nbp$sfx pwg=nbwp$sfx host_veth=nbu$sfx  # provider namespace, its WireGuard link, underlay
bns=nbb$sfx bwg=nbwb$sfx                     # the namespace burrow builds
mns=nbm$sfx mwg=nbwm$sfx                     # the namespace built by hand
host_underlay=10.252.0.1 provider_underlay=10.252.0.2 provider_port=51820
provider_tun=10.78.0.1 burrow_tun=10.78.0.2 manual_tun=10.78.0.3

for link in "$host_veth" "$bwg" "$mwg"; do
  ! ip link show "$link" >/dev/null 2>&1 || die "link $link already exists"
done
for ns in "$pns" "$bns" "$mns"; do [ ! -e "/run/netns/$ns" ] || die "namespace $ns already exists"; done
! ip -4 -o addr show | grep -qE ' (10\.252\.0\.|10\.78\.0\.)' || die "10.252.0.0/30 or 10.78.0.0/24 is in use on the host"

# wait_until SECONDS COMMAND...: polls COMMAND every 0.05 s; fails after SECONDS.

cleanup() {
  local pid orphans=()
  set +e
  # burrow's namespace: `netns down`, then its wireguard-go by pid if that failed.
  local rec=$work/state/netns/$bns/state.json
  if [ -e "$rec" ]; then
    pid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["wireguard_pid"])' "$rec" 2>/dev/null)
    timeout 20 "$BURROW" --log-level error netns down "$bns" --state-dir "$work/state" >/dev/null 2>&1
    if [ -n "$pid" ]; then
      orphans+=("$pid")
      [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = wireguard-go ] && kill -KILL "$pid" 2>/dev/null
    fi
  fi
  [ -e "/run/netns/$bns" ] && ip netns del "$bns" 2>/dev/null
  # The hand-built namespace.
  [ -e "$work/manual.pid" ] && orphans+=("$(cat "$work/manual.pid")")
  [ -e "$work/m-down.sh" ] && timeout 20 bash "$work/m-down.sh" 2>/dev/null
  [ -e "/run/netns/$mns" ] && ip netns del "$mns" 2>/dev/null
  # This script's own children: the provider's wireguard-go and iperf3 server.
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  done
  wait 2>/dev/null
  [ -e "/run/netns/$pns" ] && ip netns del "$pns" 2>/dev/null
  ip link show "$host_veth" >/dev/null 2>&1 && ip link del "$host_veth" 2>/dev/null
  for f in "$pwg" "$bwg" "$mwg"; do rm -f "/var/run/wireguard/$f.sock"; done
  # wireguard-go processes started by burrow or by m-up.sh are orphans, reaped by PID 1:
  # wait (bounded) until they are gone, so that nothing of this run is listed afterwards.
  for pid in "${orphans[@]}"; do
    for _ in $(seq 100); do [ -e "/proc/$pid" ] || break; sleep 0.05; done
  done
  rm -rf "$work"
}

pids=()  # processes this script started itself (its children)
work=$(mktemp -d /tmp/burrow-bench-netns.XXXXXX)
trap cleanup EXIT
trap 'exit 130' INT TERM
# A copy, so that a rebuild during the run does not change (or remove) what is measured.
built=$(date -u -r "$BURROW" +%Y-%m-%dT%H:%MZ)
cp "$BURROW" "$work/burrow"
BURROW_SRC=$BURROW BURROW=$work/burrow
"$BURROW" --version >/dev/null || die "$BURROW_SRC does not run (being rebuilt?)"
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " + uncommitted changes" || true)

load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the test bed: provider namespace, underlay, the provider's WireGuard peer ----

log "test bed: namespace $pns, underlay $host_veth, wireguard-go $pwg"
ip netns add "$pns"
ip link add "$host_veth" type veth peer name eth0 netns "$pns"
ip addr add "$host_underlay/30" dev "$host_veth"
ip link set "$host_veth" up
ip -n "$pns" addr add "$provider_underlay/30" dev eth0
ip -n "$pns" link set eth0 up
ip -n "$pns" link set lo up

(umask 077
 for k in provider burrow manual; do wg genkey >"$work/$k.key"; done)
pub() { wg pubkey <"$work/$1.key"; }

ip netns exec "$pns" env WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 LOG_LEVEL=error \
  wireguard-go -f "$pwg" </dev/null >"$work/provider-wg.log" 2>&1 &
pids+=($!)
wait_until 10 test -S "/var/run/wireguard/$pwg.sock" || die "provider wireguard-go did not start"
ip netns exec "$pns" wg set "$pwg" private-key "$work/provider.key" listen-port "$provider_port" \
  peer "$(pub burrow)" allowed-ips "$burrow_tun/32" \
  peer "$(pub manual)" allowed-ips "$manual_tun/32"
ip -n "$pns" addr add "$provider_tun/24" dev "$pwg"
ip -n "$pns" link set "$pwg" up

ip netns exec "$pns" iperf3 -s -B "$provider_tun" -p 5201 </dev/null >"$work/iperf3-server.log" 2>&1 &
pids+=($!)
listening() { [ -n "$(ip netns exec "$pns" ss -Hltn "sport = :5201")" ]; }
wait_until 10 listening || die "iperf3 server did not start: $(cat "$work/iperf3-server.log")"

# ---- the two ways to build the confined namespace, as bash scripts ----

cat >"$work/burrow.yml" <<EOF
{"namespaces": {"$bns": {
  "wireguard": {"interface": "$bwg", "privateKeyFile": "$work/burrow.key",
                "address": ["$burrow_tun/32"],
                "peers": [{"publicKey": "$(pub provider)", "endpoint": "$provider_underlay:$provider_port",
                           "allowedIPs": ["0.0.0.0/0"], "persistentKeepalive": 5}]},
  "dns": {"mode": "strict", "servers": ["$provider_tun"]}}}}
EOF

head='set -euo pipefail'
b_up="\"$BURROW\" --log-level error netns up $bns -f $work/burrow.yml --state-dir $work/state >/dev/null"
b_down="\"$BURROW\" --log-level error netns down $bns --state-dir $work/state >/dev/null"

# By hand, the same steps burrow takes: the namespace with IPv6 off and lo up, the resolver
# file, wireguard-go started in the host namespace and configured, its link moved inside,
# address, MTU, link up, default route, the ruleset. Down: wireguard-go stopped by pid
# (SIGTERM, then waited for), the namespace removed.
m_up=$(cat <<EOF
ip netns add $mns
ip netns exec $mns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n $mns link set lo up
printf 'nameserver %s\n' $provider_tun >$work/manual.resolv.conf
env WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 LOG_LEVEL=error setsid wireguard-go -f $mwg </dev/null >>$work/manual-wg.log 2>&1 &
echo \$! >$work/manual.pid
for _ in \$(seq 500); do [ -S /var/run/wireguard/$mwg.sock ] && break; kill -0 \$! || exit 1; sleep 0.01; done
wg set $mwg private-key $work/manual.key peer $(pub provider) endpoint $provider_underlay:$provider_port allowed-ips 0.0.0.0/0 persistent-keepalive 5
ip link set $mwg netns $mns
ip -n $mns addr add $manual_tun/32 dev $mwg
ip -n $mns link set $mwg mtu 1420 up
ip -n $mns route add default dev $mwg
ip netns exec $mns nft -f $work/manual.nft
EOF
)
m_down=$(cat <<EOF
if [ -e $work/manual.pid ]; then
  pid=\$(cat $work/manual.pid)
  if [ "\$(cat /proc/\$pid/comm 2>/dev/null)" = wireguard-go ]; then
    kill -TERM \$pid
    for i in \$(seq 201); do
      [ -r /proc/\$pid/stat ] || break
      read -r _ _ state _ </proc/\$pid/stat || break
      [ "\$state" != Z ] || break
      [ \$i -le 200 ] || kill -KILL \$pid
      sleep 0.01
    done
  fi
  rm -f $work/manual.pid /var/run/wireguard/$mwg.sock
fi
if [ -e /run/netns/$mns ]; then ip netns del $mns; fi
rm -f $work/manual.resolv.conf
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
# Each timed run starts from the bare test bed; a `down` starts with its namespace just up.
script reset "if [ -e /run/netns/$bns ]; then $b_down; fi" "$m_down"
script b-ready "bash $work/reset.sh" "$b_up"
script m-ready "bash $work/reset.sh" "$m_up"

# run_script NAME: runs $work/NAME.sh, failing with its errors.
run_script() {
  : >"$work/errors.log"
  timeout 30 bash "$work/$1.sh" || die "$1 failed: $(tail -5 "$work/errors.log")"
}

# The ruleset for the hand-built namespace: what burrow applied, for the other link.
log "burrow netns up once, to take its ruleset"
run_script b-up
st=$("$BURROW" netns status "$bns" --json --state-dir "$work/state")
python3 -c 'import json,sys; s=json.loads(sys.argv[1])[0]; sys.exit(0 if s["up"] and s["wireguard_running"] and s["link_running"] else 1)' "$st" \
  || die "burrow netns status: not up: $st"
{ echo "flush ruleset"; ip netns exec "$bns" nft list ruleset | sed "s/\"$bwg\"/\"$mwg\"/g"; } >"$work/manual.nft"
grep -q "oifname != \"$mwg\" drop" "$work/manual.nft" || die "unexpected ruleset: $(cat "$work/manual.nft")"
run_script b-down
log "hand-built namespace once, as a check"
run_script m-up
run_script m-down

# ---- 1. up and down: hyperfine ----

# A child subreaper that reaps every orphan as soon as it exits (as systemd does), then exits
# with the status of the command it ran.
cat >"$work/reap.py" <<'PY'
import ctypes, os, sys
PR_SET_CHILD_SUBREAPER = 36
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER) failed")
child = os.fork()
if child == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
while True:
    pid, status = os.wait()
    if pid == child:
        sys.exit(os.waitstatus_to_exitcode(status))
PY

log "hyperfine: $runs runs of each, orphans reaped at once"
: >"$work/errors.log"
timeout 900 python3 "$work/reap.py" hyperfine -N --warmup 2 --runs "$runs" --export-json "$work/h.json" \
  --prepare "bash $work/reset.sh" --prepare "bash $work/reset.sh" \
  --prepare "bash $work/reset.sh" --prepare "bash $work/reset.sh" \
  --prepare "bash $work/b-ready.sh" --prepare "bash $work/m-ready.sh" \
  -n burrow-cycle "bash $work/b-cycle.sh" -n manual-cycle "bash $work/m-cycle.sh" \
  -n burrow-up "bash $work/b-up.sh" -n manual-up "bash $work/m-up.sh" \
  -n burrow-down "bash $work/b-down.sh" -n manual-down "bash $work/m-down.sh" >&2 \
  || die "hyperfine failed: $(tail -5 "$work/errors.log")"
run_script reset

pid1=$(cat /proc/1/comm)
log "hyperfine: burrow netns down, orphans left to PID 1 ($pid1)"
timeout 900 hyperfine -N --warmup 1 --runs "$runs" --export-json "$work/h1.json" \
  --prepare "bash $work/b-ready.sh" -n burrow-down-pid1 "bash $work/b-down.sh" >&2 \
  || die "hyperfine failed: $(tail -5 "$work/errors.log")"
run_script reset

# ---- 2. throughput: iperf3 through each tunnel ----

log "throughput: both namespaces up"
run_script b-up
run_script m-up

# iperf NS: Mbit/s received by the provider in one iperf3 run from namespace NS.
iperf() {
  local out=$work/iperf3.json
  timeout $((duration + 30)) ip netns exec "$1" iperf3 -c "$provider_tun" -p 5201 -t "$duration" -O 1 -J \
    >"$out" 2>&1 || die "iperf3 from $1 failed: $(tail -5 "$out")"
  python3 -c 'import json,sys; print("%.0f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e6))' "$out"
}
# measure KIND: one iperf3 run of KIND (b: burrow, m: by hand, n: by hand without the ruleset).
t_b=() t_m=() t_n=()
measure() {
  case $1 in
    b) t_b+=("$(iperf "$bns")") ;;
    m) t_m+=("$(iperf "$mns")") ;;
    n) ip netns exec "$mns" nft flush ruleset
       t_n+=("$(iperf "$mns")")
       ip netns exec "$mns" nft -f "$work/manual.nft" ;;
  esac
}
# The three take turns, each round starting with the next one, so that a passing load on
# the machine, or the order, favours none of them.
order=(b m n)
for round in $(seq "$rounds"); do
  first=$(((round - 1) % 3))
  turn=("${order[@]:first}" "${order[@]:0:first}")
  log "throughput round $round of $rounds: ${turn[*]} (b: burrow, m: by hand, n: by hand without ruleset)"
  for kind in "${turn[@]}"; do measure "$kind"; done
done

# ---- report ----

# median V...: the middle value (the lower middle for an even count).

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
b_tp=$(median "${t_b[@]}") m_tp=$(median "${t_m[@]}") n_tp=$(median "${t_n[@]}")

cat <<EOF
Machine: $(nproc) CPUs, $cpu; $(uname -sr). burrow $commit$dirty ($BURROW_SRC, built $built).
$(date -u +%Y-%m-%d), load average before the run: $load_before. wireguard-go $(dpkg-query -W -f='${Version}' wireguard-go 2>/dev/null || echo '?'), $(iperf3 --version | head -1 | cut -d' ' -f1-2).

## Up and down: hyperfine -N, $runs runs, median ms

EOF
python3 - "$work/h.json" "$work/h1.json" "$pid1" <<'PY'
import json, sys
r = {x["command"]: x for f in sys.argv[1:3] for x in json.load(open(f))["results"]}
ms = lambda name: r[name]["median"] * 1e3
print("| step | burrow | by hand | burrow / by hand |")
print("| --- | ---: | ---: | ---: |")
for label, key in (("up", "up"), ("down", "down"), ("up + down in one run", "cycle")):
    b, m = ms("burrow-" + key), ms("manual-" + key)
    print("| %s | %.1f | %.1f | %.2f |" % (label, b, m, b / m))
print("| down, orphans reaped by PID 1 (%s) | %.1f | — | — |" % (sys.argv[3], ms("burrow-down-pid1")))
PY
cat <<EOF

## Throughput: iperf3 -t $duration -O 1, one TCP stream, namespace -> provider's tunnel address (median of $rounds rounds)

| namespace | Mbit/s | by round | vs by hand, same ruleset |
| --- | ---: | --- | ---: |
| burrow netns | $b_tp | ${t_b[*]} | $(ratio "$b_tp" "$m_tp") |
| by hand, burrow's ruleset | $m_tp | ${t_m[*]} | 1.00 |
| by hand, no ruleset | $n_tp | ${t_n[*]} | $(ratio "$n_tp" "$m_tp") |
EOF
