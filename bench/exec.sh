#!/usr/bin/env bash
# Spawn latency of a sandboxed /bin/true, measured in one hyperfine run (medians):
#   1. burrow exec with the seed's whole cloudflared profile (tests/data/profiles/
#      seed-cloudflared.conf) running /bin/true,
#   2. bwrap --unshare-all --die-with-parent --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp,
#   3. the floor: unshare -U -r -p -f -m -n true,
#   4. plain /bin/true.
# Usage: bench/exec.sh   (as root; BURROW=path RUNS=50 to override). Prints a markdown table.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
BURROW=${BURROW:-$root/build/src/cli/burrow}
runs=${RUNS:-50}
for tool in hyperfine bwrap unshare python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not found (scripts/deps bench)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench: run as root (burrow exec needs it)" >&2; exit 1; }
work=$(mktemp -d /tmp/burrow-bench-exec.XXXXXX)
trap 'rm -rf "$work"' EXIT
{ printf '[Service]\nExecStart=/bin/true\n'; cat "$root/tests/data/profiles/seed-cloudflared.conf"; } \
  >"$work/true.service"
"$BURROW" --log-level error exec --no-restart "$work/true.service"  # fails loudly if broken
hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/h.json" \
  -n burrow "$BURROW --log-level error exec --no-restart $work/true.service" \
  -n bwrap "bwrap --unshare-all --die-with-parent --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp true" \
  -n unshare "unshare -U -r -p -f -m -n true" \
  -n true "/bin/true" >&2
python3 - "$work/h.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
bw = r["bwrap"]["median"]
print("| command | median ms | mean ms | vs bwrap |")
print("| --- | ---: | ---: | ---: |")
for name in ("burrow", "bwrap", "unshare", "true"):
    x = r[name]
    print("| %s | %.2f | %.2f | %.2f |" % (name, x["median"] * 1e3, x["mean"] * 1e3, x["median"] / bw))
PY
