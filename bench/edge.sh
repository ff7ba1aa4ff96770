#!/usr/bin/env bash
# The edge on the open internet: TLS handshakes per second on the edge's https listener with a
# certificate it got by ACME (from pebble, HTTP-01) against nginx serving that same certificate
# (a new connection per request, answered 404 by each without going anywhere), and TCP
# throughput with iperf3, both directions: through the tunnel (a tcp:// route and `burrow
# access tcp`), through `ssh -L` (dropbear), and direct. Same run, as ratios.
#
# Usage: bench/edge.sh            (builds a release binary in build-bench/ if BURROW unset)
#        BURROW=path/to/burrow DURATION=10s ROUNDS=3 SECONDS_TCP=5 bench/edge.sh
# Runs as root: dropbear logs root in with a key from a /root of its own, and wrk finds the
# certificate's name in an /etc/hosts of its own (mount namespaces; the host's stay as they are).
# Needs: wrk, nginx (nginx-light), iperf3, openssl, curl, python3, pebble, dropbear-bin,
# openssh-client (scripts/deps bench). Prints a markdown report on stdout; progress goes to
# stderr. Every process it starts is stopped by pid on exit, and every step is bounded in
# time. Loopback only.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
duration=${DURATION:-10s}
conns=${CONNS:-32}
rounds=${ROUNDS:-3}
tcp_secs=${SECONDS_TCP:-5}

# shellcheck source=bench/lib.sh
. "$here/lib.sh"
[ "$(id -u)" = 0 ] || die "run as root (dropbear's /root and wrk's /etc/hosts are mounts of their own)"
need wrk nginx iperf3 openssl curl python3 pebble pebble-challtestsrv dropbear dropbearkey ssh \
  ssh-keygen unshare
burrow_binary
loopback_work
connectable() { python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1).close()" "$1"; }

# ---- pebble: the ACME server (its DNS, pebble-challtestsrv, says 127.0.0.1 for every name) ----
mkdir -p "$work/pebble"
(
  cd "$work/pebble"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=pebble api CA" -keyout ca.key -out ca.pem
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
    -keyout api.key -out api.csr
  echo "subjectAltName=IP:127.0.0.1" >ext
  openssl x509 -req -in api.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext \
    -out api.pem
) >/dev/null 2>&1 || die "openssl: pebble's API certificate"
dns_port=$(free_port) chall_port=$(free_port) api_port=$(free_port) mgmt_port=$(free_port)
edge_http_port=$(free_port)
pebble-challtestsrv -http01 "" -https01 "" -tlsalpn01 "" -dns01 "127.0.0.1:$dns_port" \
  -management "127.0.0.1:$chall_port" -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
  >"$work/challtestsrv.log" 2>&1 &
pids+=($!)
cat >"$work/pebble.json" <<EOF
{"pebble": {"listenAddress": "127.0.0.1:$api_port", "managementListenAddress": "127.0.0.1:$mgmt_port",
  "certificate": "$work/pebble/api.pem", "privateKey": "$work/pebble/api.key",
  "httpPort": $edge_http_port, "tlsPort": $(free_port), "ocspResponderURL": "",
  "externalAccountBindingRequired": false}}
EOF
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 pebble -config "$work/pebble.json" \
  -dnsserver "127.0.0.1:$dns_port" >"$work/pebble.log" 2>&1 &
pids+=($!)
wait_until 20 grep -q 'ACME directory available' "$work/pebble.log" \
  || die "pebble did not start: $(tail -5 "$work/pebble.log")"

# ---- iperf3 server: the tcp:// route's origin ----
iperf_port=$(free_port)
iperf3 -s -B 127.0.0.1 -p "$iperf_port" >"$work/iperf-server.log" 2>&1 &
pids+=($!)
wait_until 10 python3 -c "import socket; socket.create_connection(('127.0.0.1', $iperf_port)).close()" \
  || die "iperf3 server did not start"

# ---- burrow: edge (its https certificate by ACME), tunnel, connector ----
edge_start --http "127.0.0.1:$edge_http_port" --https 127.0.0.1:0 --acme-email bench@bench.test \
  --acme-directory "https://127.0.0.1:$api_port/dir" --acme-ca-file "$work/pebble/ca.pem"
tunnel_routes tcp.bench.test hs.bench.test
cert=$work/edge/acme/certs/hs.bench.test
wait_until 60 test -s "$cert.crt" || die "no ACME certificate: $(grep acme "$work/edge.log" | tail -3)"
curl -sfk "https://127.0.0.1:$mgmt_port/roots/0" >"$work/pebble-root.pem" \
  || die "pebble's root certificate"
issuer=$(openssl x509 -in "$cert.crt" -noout -issuer | sed 's/^issuer=//')
cat >"$work/config.yml" <<EOF
ingress:
  - hostname: tcp.bench.test
    service: tcp://127.0.0.1:$iperf_port
  - service: http_status:404
EOF
connector_start
access_port=$(free_port)
"$BURROW" access tcp --hostname tcp.bench.test --url "127.0.0.1:$access_port" \
  --edge "127.0.0.1:$edge_https" --ca-file "$work/pebble-root.pem" 2>"$work/access.log" &
pids+=($!)
wait_until 15 grep -q 'access listening' "$work/access.log" || die "access not ready: $(tail -5 "$work/access.log")"

# ---- nginx: https with the edge's ACME certificate, 404 for everything ----
ngx_port=$(free_port)
nginx_start "$work/nginx" "    listen 127.0.0.1:$ngx_port ssl;
    ssl_certificate $cert.crt;
    ssl_certificate_key $cert.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { return 404; }"
wait_until 10 curl -sk -o /dev/null "https://127.0.0.1:$ngx_port/" || die "nginx did not start"

# ---- ssh -L: dropbear (as root, with a /root of its own holding the key) and an ssh client ----
mkdir -m 700 -p "$work/sshhome/.ssh"
ssh-keygen -q -t ed25519 -N '' -f "$work/client_key" >/dev/null
install -m 600 "$work/client_key.pub" "$work/sshhome/.ssh/authorized_keys"
dropbearkey -t ed25519 -f "$work/hostkey" >/dev/null 2>&1 || die "dropbearkey failed"
ssh_port=$(free_port) fwd_port=$(free_port)
# -W: OpenSSH's channel window (2 MiB), not dropbear's 24 KiB default, which would cap it.
unshare --mount sh -c 'mount --bind "$1" /root && exec dropbear -F -E -s -W 2097152 -p "127.0.0.1:$2" -r "$3" -P "$4"' \
  sh "$work/sshhome" "$ssh_port" "$work/hostkey" "$work/dropbear.pid" 2>"$work/dropbear.log" &
pids+=($!)
wait_until 10 connectable "$ssh_port" || die "dropbear did not start: $(tail -3 "$work/dropbear.log")"
ssh -N -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
  -o ExitOnForwardFailure=yes -i "$work/client_key" -p "$ssh_port" \
  -L "127.0.0.1:$fwd_port:127.0.0.1:$iperf_port" root@127.0.0.1 2>"$work/ssh.log" &
pids+=($!)
wait_until 15 connectable "$fwd_port" || die "ssh -L did not start: $(tail -3 "$work/ssh.log")"
ssh_version=$(ssh -V 2>&1 | cut -d, -f1)
dropbear_version=$(dropbear -V 2>&1 | awk '{print $NF}')

# ---- TLS handshakes: a new connection per request (wrk with Connection: close) ----
echo "127.0.0.1 hs.bench.test" >"$work/hosts"
run_hs() {  # PORT -> requests/s (wrk names hs.bench.test: SNI picks the ACME certificate)
  local out=$work/wrk.out
  timeout 120 unshare --mount sh -c 'mount --bind "$1" /etc/hosts && shift && exec "$@"' sh \
    "$work/hosts" wrk -t2 -c"$conns" -d"$duration" -H 'Connection: close' \
    -H 'Host: none.bench.test' "https://hs.bench.test:$1/" >"$out" 2>&1 \
    || die "wrk failed: $(cat "$out")"
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
log "tcp: ssh -L, up"; s_up=$(run_iperf "$fwd_port")
log "tcp: ssh -L, down"; s_down=$(run_iperf "$fwd_port" -R)

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
cat <<EOF
Machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo); Linux $(uname -r). burrow $commit.
Load average before the run: $load_before.

## TLS handshakes: wrk -t2 -c$conns -d$duration, Connection: close (median of $rounds rounds)

Both serve the certificate the edge got by ACME (HTTP-01) from pebble: ECDSA P-256, issued by
$issuer, with the chain pebble sent.

| server | handshakes/s | vs nginx |
| --- | ---: | ---: |
| nginx (\`worker_processes auto\`) | $n_hs | 1.00 |
| burrow edge | $e_hs | $(ratio "$e_hs" "$n_hs") |

By round: burrow ${e_r[*]}; nginx ${n_r[*]}.

## TCP through the tunnel: iperf3 -t $tcp_secs, one stream

| path | up Gbit/s | down Gbit/s | up vs direct | down vs direct | up vs ssh -L | down vs ssh -L |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
| direct | $d_up | $d_down | 1.00 | 1.00 | | |
| ssh -L ($ssh_version to dropbear $dropbear_version, window 2 MiB) | $s_up | $s_down | $(ratio "$s_up" "$d_up") | $(ratio "$s_down" "$d_down") | 1.00 | 1.00 |
| burrow access tcp → edge (TLS) → tunnel → connector | $t_up | $t_down | $(ratio "$t_up" "$d_up") | $(ratio "$t_down" "$d_down") | $(ratio "$t_up" "$s_up") | $(ratio "$t_down" "$s_down") |
EOF
