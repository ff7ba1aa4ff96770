#!/usr/bin/env python3
"""The stack: `burrow up` of a burrow.yaml with services on private networks behind a real edge,
`ps`, `logs`, restarts, and `down` leaving nothing behind.

Each case runs this file again inside namespaces of its own (network, mount, pid: `unshare`),
where /run is an empty tmpfs, so the namespaces, links and nftables tables the stack makes are
the test's alone, and every process ends with the pid namespace. Inside, a real edge listens on
loopback, a tunnel is created with `burrow edge tunnel create`, and the services are
tests/tools/test_origin.py in burrow's sandbox. An "outside" namespace the case makes stands for
the internet (reached through the stack's NAT, never an address off this machine)."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import unittest

import harness

OUTSIDE = "172.31.255.2"  # the "internet" server, in a namespace of the case's own


def sh(*argv, check=True, timeout=30):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise AssertionError("%s: exit %d\n%s%s" % (" ".join(argv), r.returncode, r.stdout,
                                                     r.stderr))
    return r


class Inside:
    """A case's world, inside the namespaces: an edge, a tunnel, a work directory."""

    def __init__(self, work):
        self.work = work
        self.state = os.path.join(work, "state")
        self.procs = []
        sh("ip", "link", "set", "lo", "up")
        self.edge_port = 8080
        self.edge = self.spawn("edge", harness.BURROW, "edge", "--state-dir", work + "/edge",
                               "--http", "127.0.0.1:8080", "--tunnel", "127.0.0.1:7844")
        harness.poll(lambda: harness._connectable(8080), 10 * harness.TIME_FACTOR, what="edge")
        self.burrow("edge", "tunnel", "create", "home", "--state-dir", work + "/edge",
                    "-o", work + "/token")
        for h in ("a", "b", "c"):
            self.burrow("edge", "route", "dns", "home", h + ".example.net",
                        "--state-dir", work + "/edge")

    def spawn(self, name, *argv):
        out = open(os.path.join(self.work, name + ".log"), "w")
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def burrow(self, *args, check=True, timeout=60):
        return sh(harness.BURROW, *args, check=check, timeout=timeout * harness.TIME_FACTOR)

    def stack(self, *args, check=True, timeout=60):
        return self.burrow(*args, "--state-dir", self.state, "-f", self.work + "/burrow.yaml",
                           check=check, timeout=timeout)

    def write(self, name, text):
        with open(os.path.join(self.work, name), "w") as f:
            f.write(text)

    def get(self, host, path="/hello"):
        r = sh("curl", "-s", "-m", "5", "-o", "-", "-w", "\n%{http_code}", "-H",
               "Host: " + host, "http://127.0.0.1:8080" + path, check=False)
        body, _, code = r.stdout.rpartition("\n")
        return code, body

    def wait_get(self, host, want):
        harness.poll(lambda: self.get(host)[1].startswith(want), 15 * harness.TIME_FACTOR,
                     what="%s answers %r (last: %r)" % (host, want, self.get(host)))

    def ps(self):
        return json.loads(self.stack("ps", "--json").stdout)

    def service(self, name):
        return next(s for s in self.ps()["services"] if s["name"] == name)

    def outside(self):
        """A namespace "outside" with a server on OUTSIDE:9000, linked to this one."""
        sh("ip", "netns", "add", "outside")
        sh("ip", "link", "add", "to-outside", "type", "veth", "peer", "name", "eth0",
           "netns", "outside")
        sh("ip", "addr", "add", "172.31.255.1/30", "dev", "to-outside")
        sh("ip", "link", "set", "to-outside", "up")
        for cmd in (["ip", "addr", "add", OUTSIDE + "/30", "dev", "eth0"],
                    ["ip", "link", "set", "eth0", "up"], ["ip", "link", "set", "lo", "up"]):
            sh("ip", "netns", "exec", "outside", *cmd)
        self.spawn("outside", "ip", "netns", "exec", "outside", harness.PYTHON,
                   harness.TOOLS + "/test_origin.py", "--address", OUTSIDE, "--port", "9000",
                   "--name", "outside", "--log")
        harness.poll(lambda: sh("ip", "netns", "exec", "outside", "curl", "-s", "-m", "1",
                                "http://%s:9000/hello" % OUTSIDE, check=False).returncode == 0,
                     10, what="the outside server")

    def curl_from(self, netns, url):
        """Exit status of curl run inside `netns` (0: reached, 7: refused, 28: timed out)."""
        r = sh("ip", "netns", "exec", netns, "curl", "-s", "-m", "2", "-o", "/dev/null", url,
               check=False)
        return r.returncode

    def leftovers(self):
        """What the stack could leave behind: namespaces, links, tables, mounts."""
        netns = sorted(n.split()[0] for n in sh("ip", "netns", "list").stdout.splitlines()
                       if n.startswith("bs-"))
        links = sorted(l for l in re.findall(r"^\d+: ([^:@]+)", sh("ip", "-o", "link").stdout,
                                             re.M) if l.startswith("bs-"))
        tables = sh("nft", "list", "tables").stdout.split()
        mounts = [l for l in open("/proc/self/mounts") if "/run/netns/bs-" in l]
        return {"netns": netns, "links": links,
                "tables": [t for t in tables if t.startswith("burrow")], "mounts": mounts,
                "record": os.path.exists(self.state + "/stack/state.json")}


def running(pid):
    """True while `pid` runs (a zombie, which pid 1 of the case does not reap, does not)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def origin(name, extra=""):
    return ('    exec: [%s, %s/test_origin.py, --address, 0.0.0.0, --port, "8000", --name, %s]\n%s'
            % (harness.PYTHON, harness.TOOLS, name, extra))


STACK = """tunnel: { tokenFile: token }
services:
  a:
%s    connects: [b]
  b:
%s  c:
%s    network: host
routes:
  - hostname: a.example.net
    service: http://[a]:8000
  - hostname: b.example.net
    service: http://[b]:8000
  - hostname: c.example.net
    service: http://[c]:8001
  - service: http_status:404
""" % (origin("a"), origin("b", "    sandbox: { Restart: always, RestartSec: 100ms }\n"),
       origin("c").replace('"8000"', '"8001"').replace("0.0.0.0", "127.0.0.1"))


def case_private_networks(w):
    w.outside()
    # A listener of the host's own, on every address: the services must not reach it.
    w.spawn("host-listener", harness.PYTHON, harness.TOOLS + "/test_origin.py", "--address",
            "0.0.0.0", "--port", "9100", "--name", "host")
    # A host on systemd-resolved: /etc/resolv.conf names its stub (127.0.0.53), which a private
    # network cannot reach; the services get resolved's upstream list instead.
    w.write("resolv.stub", "nameserver 127.0.0.53\noptions edns0 trust-ad\n")
    sh("mount", "--bind", w.work + "/resolv.stub", "/etc/resolv.conf")
    os.makedirs("/run/systemd/resolve")
    upstream = "nameserver %s\n" % OUTSIDE
    with open("/run/systemd/resolve/resolv.conf", "w") as f:
        f.write(upstream)
    w.write("burrow.yaml", STACK)
    r = w.stack("up", "--detach")
    print("=== up\n" + r.stderr + r.stdout)
    assert re.search(r"^b\s+running", r.stdout, re.M), r.stdout
    seen = open("/proc/%d/root/etc/resolv.conf" % service_pid("bs-a")).read()
    assert seen == upstream, seen
    assert "no DNS" not in r.stderr, r.stderr
    for h in "abc":
        w.wait_get(h + ".example.net", "hello from " + h)
    a, b = w.service("a"), w.service("b")
    assert a["network"] == "private" and b["network"] == "private", (a, b)
    assert a["address"] != b["address"], (a, b)
    print("=== isolation")
    reach = {
        "a->b": w.curl_from("bs-a", "http://%s:8000/" % b["address"]),
        "b->a": w.curl_from("bs-b", "http://%s:8000/" % a["address"]),
        "a->host": w.curl_from("bs-a", "http://%s:9100/" % a["address"].rsplit(".", 1)[0] + ".1"),
        "b->host(10.77.0.1)": w.curl_from("bs-b", "http://10.77.0.1:9100/"),
        "a->outside": w.curl_from("bs-a", "http://%s:9000/" % OUTSIDE),
    }
    print(reach)
    assert reach["a->b"] == 0, reach            # connects: [b]
    assert reach["b->a"] != 0, reach            # not listed: dropped
    assert reach["a->host"] != 0, reach         # the host's listeners: never
    assert reach["b->host(10.77.0.1)"] != 0, reach
    assert reach["a->outside"] == 0, reach      # NAT to the outside
    # The outside saw the host's address, not the private one (masquerade).
    log = open(w.work + "/outside.log").read()
    assert "peer=172.31.255.1" in log and "peer=10.77." not in log, log
    # ps as a table and as JSON
    table = w.stack("ps").stdout
    print("=== ps\n" + table)
    assert re.search(r"^a\s+running\s+\d+\s+%s\s+private" % re.escape(a["address"]), table,
                     re.M), table
    assert re.search(r"^connector\s+running", table, re.M), table
    # The connector runs sandboxed, as any service: no capability, no_new_privs, seccomp.
    monitor = w.ps()["connector"]["pid"]
    children = open("/proc/%d/task/%d/children" % (monitor, monitor)).read().split()
    assert len(children) == 1, children
    status = open("/proc/%s/status" % children[0]).read()
    for want in (r"^NoNewPrivs:\s+1$", r"^Seccomp:\s+2$", r"^CapEff:\s+0+$", r"^CapBnd:\s+0+$"):
        assert re.search(want, status, re.M), (want, status)
    assert "token" in os.listdir(w.state + "/stack")
    # logs: the service's own output
    logs = w.stack("logs", "a").stdout
    assert "8000" in logs, logs
    # -f names the stack: another file is refused, and without -f the running one is found.
    w.write("other.yaml", STACK)
    for cmd in (["ps"], ["logs", "a"], ["down"]):
        r = w.burrow(*cmd, "--state-dir", w.state, "-f", w.work + "/other.yaml", check=False)
        assert r.returncode == 1 and "runs %s/burrow.yaml, not %s/other.yaml" % (
            w.work, w.work) in r.stderr, (cmd, r.stderr)
    assert "a " in w.burrow("ps", "--state-dir", w.state).stdout

    # kill -9 of b's process: restarted (Restart=always), reachable again, one restart.
    pids = sh("ip", "netns", "pids", "bs-b").stdout.split()
    assert pids, "no process in bs-b"
    for p in pids:
        os.kill(int(p), signal.SIGKILL)
    harness.poll(lambda: w.service("b")["restarts"] == 1 and
                 w.service("b")["state"] == "running", 15 * harness.TIME_FACTOR,
                 what="b restarted: %r" % (w.service("b"),))
    w.wait_get("b.example.net", "hello from b")
    assert w.service("a")["restarts"] == 0
    # kill -9 of the connector: restarted too.
    conn = w.ps()["connector"]["pid"]
    os.kill(conn, signal.SIGKILL)
    harness.poll(lambda: w.ps()["connector"]["restarts"] == 1 and
                 w.ps()["connector"]["state"] == "running", 15 * harness.TIME_FACTOR,
                 what="connector restarted")
    w.wait_get("a.example.net", "hello from a")
    print("=== kill ok")

    before = [int(s["pid"]) for s in w.ps()["services"]]
    r = w.stack("down")
    print("=== down\n" + r.stderr)
    left = w.leftovers()
    print(left)
    assert left == {"netns": [], "links": [], "tables": [], "mounts": [], "record": False}, left
    assert "token" not in os.listdir(w.state + "/stack"), "the token's copy outlived down"
    for p in before:
        assert not running(p), "pid %d outlived down" % p
    assert w.get("a.example.net")[0] == "502", w.get("a.example.net")
    assert open("/proc/sys/net/ipv4/ip_forward").read().strip() == "0"


def case_foreground_and_killed_supervisor(w):
    w.write("burrow.yaml", STACK)
    # In the foreground: SIGTERM takes it all down, exit 0.
    up = subprocess.Popen([harness.BURROW, "up", "--state-dir", w.state, "-f",
                           w.work + "/burrow.yaml"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    w.wait_get("a.example.net", "hello from a")
    up.send_signal(signal.SIGTERM)
    out, err = up.communicate(timeout=60 * harness.TIME_FACTOR)
    print("=== foreground\n" + err + out)
    assert up.returncode == 0, (up.returncode, err)
    assert "stopping the stack" in err, err
    left = w.leftovers()
    assert left == {"netns": [], "links": [], "tables": [], "mounts": [], "record": False}, left

    # A supervisor killed with SIGKILL: its services end with it; down removes the rest.
    w.stack("up", "--detach")
    w.wait_get("a.example.net", "hello from a")
    sup = w.ps()["supervisor"]
    services = [int(s["pid"]) for s in w.ps()["services"]]
    os.kill(sup, signal.SIGKILL)
    harness.poll(lambda: not w.ps()["running"], 10, what="ps sees the supervisor gone")
    table = w.stack("ps").stdout
    print("=== ps after kill\n" + table)
    assert "no supervisor runs" in table, table
    # up again (as an init restarts it): what the killed one made goes first, then all comes up.
    r = w.stack("up", "--detach")
    print("=== up after kill\n" + r.stderr)
    assert ("the last supervisor (pid %d) ended without taking its stack down: removing what "
            "its record lists" % sup) in r.stderr, r.stderr
    w.wait_get("a.example.net", "hello from a")
    assert w.ps()["running"] and w.ps()["supervisor"] != sup
    os.kill(w.ps()["supervisor"], signal.SIGKILL)
    harness.poll(lambda: not w.ps()["running"], 10, what="ps sees the supervisor gone")
    services = [int(s["pid"]) for s in w.ps()["services"]]
    r = w.stack("down")
    print("=== down\n" + r.stderr)
    assert "no supervisor runs: removing what its record lists" in r.stderr, r.stderr
    left = w.leftovers()
    assert left == {"netns": [], "links": [], "tables": [], "mounts": [], "record": False}, left
    harness.poll(lambda: not any(running(p) for p in services), 5, what="services gone")
    r = w.stack("down", check=False)
    assert r.returncode == 1 and "no stack is up" in r.stderr, r.stderr


def case_bad_input(w):
    def refused(text, *want, links=()):
        w.write("burrow.yaml", text)
        r = w.stack("up", "--detach", "--strict", check=False)
        msg = r.stderr
        assert r.returncode != 0, "accepted:\n" + text
        for part in want:
            assert part in msg, "want %r in %r" % (part, msg)
        left = w.leftovers()
        assert left == {"netns": [], "links": list(links), "tables": [], "mounts": [],
                        "record": False}, (left, text)
        print("refused: " + msg.strip().splitlines()[-1])

    good = origin("a")
    refused("services:\n  a:\n" + good + "    binds: [/nonexistent/src:/data]\n",
            "burrow.yaml:", "/nonexistent/src")
    refused("services:\n  a:\n" + good + "routes:\n  - service: http://[nope]:80\n",
            "burrow.yaml:", "nope")
    refused("tunnel: { tokenFile: missing-token }\nservices:\n  a:\n" + good +
            "routes:\n  - service: http://[a]:8000\n", "tunnel.tokenFile", "missing-token")
    refused("services:\n  a:\n" + good + "    sandbox: { ProtectSystem: sometimes }\n",
            "services.a:", "ProtectSystem=sometimes")
    # Unknown keys: a warning with the line; an error under --strict, before anything starts.
    typo = "services:\n  a:\n" + good + "    netwrok: host\n"
    refused(typo, "--strict: 1 unknown key(s)", "burrow.yaml:4: unknown key 'services.a.netwrok'",
            "did you mean 'network'?")
    w.write("burrow.yaml", typo)
    r = w.stack("up", "--detach")
    assert "unknown key 'services.a.netwrok'" in r.stderr, r.stderr
    w.stack("down")
    # A service that ends at once: up says so and fails; the stack stays up for its logs.
    w.write("burrow.yaml", "services:\n  a:\n    exec: [/bin/sh, -c, 'echo broken >&2; exit 3']\n")
    r = w.stack("up", "--detach", check=False)
    print("=== failing service\n" + r.stderr)
    assert r.returncode == 1, r.stderr
    assert re.search(r"^a\s+(failed|restarting)", r.stderr, re.M), r.stderr
    assert "not running: a (" in r.stderr and "burrow logs NAME" in r.stderr, r.stderr
    assert "broken" in w.stack("logs", "a").stdout
    w.stack("down")
    # A step that fails half-way takes back what was made before it: b's link name is taken.
    sh("ip", "link", "add", "bs-b", "type", "veth", "peer", "name", "taken-b")
    refused("services:\n  a:\n" + good + "  b:\n" + origin("b"),
            "link bs-b already exists", links=["bs-b"])
    sh("ip", "link", "del", "bs-b")


def service_pid(netns):
    """The service's own process in `netns` (its monitor stays in the host's namespace)."""
    pids = sh("ip", "netns", "pids", netns).stdout.split()
    assert len(pids) == 1, (netns, pids)
    return int(pids[0])


def status_ids(pid):
    text = open("/proc/%d/status" % pid).read()
    return [int(re.search(r"^%s:\s+(\d+)" % k, text, re.M).group(1)) for k in ("Uid", "Gid")]


def case_users_and_ephemeral(w):
    probe = "/etc/burrow-ephemeral-probe"
    w.write("burrow.yaml", """tunnel: { tokenFile: token }
services:
  a:
    exec: [%(py)s, %(tools)s/test_origin.py, --address, 0.0.0.0, --port, "80", --name, a]
    users: pick
  b:
%(b)s    users: pick
  c:
    exec: [/bin/sh, -c, "echo inside > %(probe)s && exec %(py)s %(tools)s/test_origin.py --address 0.0.0.0 --port 8000 --name c"]
    ephemeral: true
routes:
  - hostname: a.example.net
    service: http://[a]:80
  - hostname: c.example.net
    service: http://[c]:8000
  - service: http_status:404
""" % {"py": harness.PYTHON, "tools": harness.TOOLS, "b": origin("b"), "probe": probe})
    r = w.stack("up", "--detach")
    print("=== up\n" + r.stderr + r.stdout)
    w.wait_get("a.example.net", "hello from a")  # root in a range binds port 80
    w.wait_get("c.example.net", "hello from c")
    a, b = w.service("a"), w.service("b")
    print("=== ranges", a["user_base"], b["user_base"])
    for s in (a, b):
        base = s["user_base"]
        assert 0x80000 <= base <= 0x6FFF0000 and base % 65536 == 0, s
    assert abs(a["user_base"] - b["user_base"]) >= 65536, (a, b)
    # uid and gid 0 inside are the range's first ids outside.
    for name, s in (("a", a), ("b", b)):
        ids = status_ids(service_pid("bs-" + name))
        print("=== %s ids %r" % (name, ids))
        assert ids == [s["user_base"], s["user_base"]], (ids, s)
    locks = os.listdir(w.state + "/stack/userns-locks")
    assert sorted(locks) == sorted(str(s["user_base"]) for s in (a, b)), locks
    # c wrote to /etc: its own view has the file, the host's does not.
    c = service_pid("bs-c")
    assert open("/proc/%d/root%s" % (c, probe)).read() == "inside\n"
    assert not os.path.exists(probe), "the ephemeral service wrote to the host's /etc"
    w.stack("down")
    assert not os.path.exists(probe)
    assert os.listdir(w.state + "/stack/userns-locks") == [], "a range is still locked"
    left = w.leftovers()
    assert left == {"netns": [], "links": [], "tables": [], "mounts": [], "record": False}, left


def case_apply_changes(w):
    w.write("burrow.yaml", STACK)
    w.stack("up", "--detach")
    w.wait_get("a.example.net", "hello from a")
    w.wait_get("b.example.net", "hello from b")
    pids = {s["name"]: s["pid"] for s in w.ps()["services"]}
    conn = w.ps()["connector"]["pid"]
    # A 200 MB download through a's route, in flight across the change.
    size = 200 * 1024 * 1024
    dl = subprocess.Popen(["curl", "-s", "-o", w.work + "/big", "--limit-rate", "40M", "-w",
                           "%{http_code} %{size_download}", "-H", "Host: a.example.net",
                           "http://127.0.0.1:8080/bytes/%d" % size], stdout=subprocess.PIPE,
                          text=True)
    harness.poll(lambda: os.path.exists(w.work + "/big") and
                 os.path.getsize(w.work + "/big") > 10 << 20, 30, what="download under way")
    # b changes (another name on its page); a's route moves under a path; c goes.
    changed = STACK.replace("--name, b]", "--name, b2]").replace(
        "  - hostname: a.example.net\n", "  - hostname: a.example.net\n    path: ^/(hello|bytes)\n")
    changed = re.sub(r"  c:\n.*?network: host\n", "", changed, flags=re.S)
    changed = changed.replace("  - hostname: c.example.net\n    service: http://[c]:8001\n", "")
    w.write("burrow.yaml", changed)
    r = w.stack("up")
    print("=== up again\n" + r.stderr + r.stdout)
    assert r.returncode == 0
    for line in ("service b: changed, stopped", "service c: removed, stopped",
                 "service b: started", "connector: routes reloaded"):
        assert line in r.stderr, (line, r.stderr)
    w.wait_get("b.example.net", "hello from b2")
    after = {s["name"]: s["pid"] for s in w.ps()["services"]}
    assert set(after) == {"a", "b"}, after
    assert after["a"] == pids["a"], "a was restarted: %r -> %r" % (pids, after)
    assert after["b"] != pids["b"], "b was not restarted"
    assert w.ps()["connector"]["pid"] == conn, "the connector was restarted, not reloaded"
    assert w.get("a.example.net", "/other")[0] == "404", w.get("a.example.net", "/other")
    out, _ = dl.communicate(timeout=120 * harness.TIME_FACTOR)
    print("=== download", out)
    assert out == "200 %d" % size, out
    assert os.path.getsize(w.work + "/big") == size
    # A file that does not load: refused, the stack runs on unchanged.
    w.write("burrow.yaml", changed.replace("services:", "services: [", 1))
    r = w.stack("up", check=False)
    print("=== bad file\n" + r.stderr)
    assert r.returncode != 0 and "burrow.yaml:" in r.stderr, r.stderr
    assert {s["name"]: s["pid"] for s in w.ps()["services"]} == after
    w.wait_get("b.example.net", "hello from b2")
    # The same file twice: nothing to do.
    w.write("burrow.yaml", changed)
    r = w.stack("up")
    assert "nothing changed" in r.stderr, r.stderr
    w.stack("down")
    left = w.leftovers()
    assert left == {"netns": [], "links": [], "tables": [], "mounts": [], "record": False}, left


PROVIDER_TUN, CONFINED_TUN, PROVIDER_UNDERLAY = "10.66.0.1", "10.66.0.2", "10.250.0.2"


VPN_NAMESPACE = """namespaces:
  vpn:
    wireguard:
      interface: wgvpn
      privateKeyFile: %(key)s
      address: [%(confined)s/32]
      peers:
        - { publicKey: %(pub)s, endpoint: "%(underlay)s:51820", allowedIPs: [0.0.0.0/0],
            persistentKeepalive: 5 }
    dns: { mode: strict, servers: [%(provider)s] }
    publishToHost: { tcp: [8080] }
"""


def vpn_provider(w):
    """A VPN provider: wireguard-go in a namespace "provider" of the case's own with a web
    server on PROVIDER_TUN:9000 behind it. Returns the stack file's `namespaces:` with the VPN
    namespace `vpn` confined to it (publishing tcp 8080 to the host)."""
    sh("ip", "netns", "add", "provider")
    sh("ip", "link", "add", "to-provider", "type", "veth", "peer", "name", "eth0", "netns",
       "provider")
    sh("ip", "addr", "add", "10.250.0.1/30", "dev", "to-provider")
    sh("ip", "link", "set", "to-provider", "up")
    for cmd in (["ip", "addr", "add", PROVIDER_UNDERLAY + "/30", "dev", "eth0"],
                ["ip", "link", "set", "eth0", "up"], ["ip", "link", "set", "lo", "up"]):
        sh("ip", "netns", "exec", "provider", *cmd)
    keys = {}
    for k in ("confined", "provider"):
        path = os.path.join(w.work, k + ".key")
        with open(path, "w") as f:
            f.write(sh("wg", "genkey").stdout)
        os.chmod(path, 0o600)
        keys[k] = (path, subprocess.run(["wg", "pubkey"], input=open(path).read(), text=True,
                                        capture_output=True, check=True).stdout.strip())
    w.spawn("provider-wg", "ip", "netns", "exec", "provider", "env",
            "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1", "wireguard-go", "-f", "wgprov")
    harness.poll(lambda: os.path.exists("/var/run/wireguard/wgprov.sock"), 10,
                 what="provider wireguard-go")
    p = ["ip", "netns", "exec", "provider"]
    sh(*p, "wg", "set", "wgprov", "private-key", keys["provider"][0], "listen-port", "51820",
       "peer", keys["confined"][1], "allowed-ips", CONFINED_TUN + "/32")
    sh(*p, "ip", "addr", "add", PROVIDER_TUN + "/24", "dev", "wgprov")
    sh(*p, "ip", "link", "set", "wgprov", "up")
    w.spawn("provider-web", *p, harness.PYTHON, harness.TOOLS + "/test_origin.py", "--address",
            PROVIDER_TUN, "--port", "9000", "--name", "provider", "--log")
    return VPN_NAMESPACE % {"key": keys["confined"][0], "confined": CONFINED_TUN,
                            "pub": keys["provider"][1], "underlay": PROVIDER_UNDERLAY,
                            "provider": PROVIDER_TUN}


def case_vpn_service(w):
    """A service confined to a VPN namespace (the provider: wireguard-go in a namespace of the
    case's own), reached by its route through the namespace's host link; its traffic leaves
    only through the tunnel."""
    w.outside()  # the clearnet: must stay out of the confined service's reach
    namespaces = vpn_provider(w)
    w.write("burrow.yaml", """tunnel: { tokenFile: token }
%(namespaces)sservices:
  torrent:
    exec: [%(py)s, %(tools)s/test_origin.py, --address, 0.0.0.0, --port, "8080", --name, torrent]
    network: vpn:vpn
    sandbox: { User: nobody }
routes:
  - hostname: a.example.net
    service: http://[torrent]:8080
  - service: http_status:404
""" % {"namespaces": namespaces, "py": harness.PYTHON, "tools": harness.TOOLS})
    r = w.stack("up", "--detach")
    print("=== up\n" + r.stderr + r.stdout)
    assert "namespace vpn: up" in r.stderr, r.stderr
    t = w.service("torrent")
    assert t["network"] == "vpn:vpn" and t["address"].startswith("169.254."), t
    w.wait_get("a.example.net", "hello from torrent")
    harness.poll(lambda: w.ps()["namespaces"][0]["state"] == "up", 15,
                 what="the namespace's handshake: %r" % (w.ps()["namespaces"],))
    assert re.search(r"^namespace vpn: up, last handshake \d+s ago$", w.stack("ps").stdout,
                     re.M), w.stack("ps").stdout
    # Inside: the provider through the tunnel, never the clearnet.
    assert w.curl_from("vpn", "http://%s:9000/hello" % PROVIDER_TUN) == 0
    assert w.curl_from("vpn", "http://%s:9000/" % OUTSIDE) != 0
    log = open(w.work + "/provider-web.log").read()
    assert "peer=%s" % CONFINED_TUN in log, log
    # A route to a port the namespace does not publish is refused before anything changes.
    w.write("burrow.yaml", open(w.work + "/burrow.yaml").read().replace(
        "[torrent]:8080", "[torrent]:8081"))
    r = w.stack("up", check=False)
    assert r.returncode == 1 and "does not publish port 8081" in r.stderr, r.stderr
    w.stack("down")
    left = w.leftovers()
    assert left == {"netns": [], "links": [], "tables": [], "mounts": [], "record": False}, left
    assert "vpn" not in sh("ip", "netns", "list").stdout


def case_binds_to(w):
    """web bindsTo db: it stops when db ends, and starts again once db runs again."""
    w.write("burrow.yaml", """services:
  web:
%s    bindsTo: db
  db:
%s""" % (origin("web"), origin("db", "    sandbox: { Restart: always, RestartSec: 3s }\n")))
    # A host whose only resolver is on loopback, and no resolved: up says so, per service.
    w.write("resolv.local", "nameserver 127.0.0.1\n")
    sh("mount", "--bind", w.work + "/resolv.local", "/etc/resolv.conf")
    r = w.stack("up", "--detach")
    print("=== up\n" + r.stderr + r.stdout)
    assert ("network web: no DNS: /etc/resolv.conf names only loopback resolvers, which a "
            "private network cannot reach, and /run/systemd/resolve/resolv.conf lists none "
            "either") in r.stderr, r.stderr
    # bindsTo orders the start: db first.
    assert [s["name"] for s in w.ps()["services"]] == ["db", "web"], w.ps()
    web = w.service("web")["pid"]
    sh("kill", "-9", str(service_pid("bs-db")))
    harness.poll(lambda: w.service("web")["state"] == "stopped", 10 * harness.TIME_FACTOR,
                 what="web stopped with db: %r" % (w.ps()["services"],))
    assert w.service("db")["state"] == "restarting", w.ps()
    harness.poll(lambda: w.service("web")["state"] == "running" and
                 w.service("web")["pid"] != web, 15 * harness.TIME_FACTOR,
                 what="web started again with db: %r" % (w.ps()["services"],))
    assert w.service("db")["state"] == "running"
    w.stack("down")
    # A cycle through bindsTo is refused, naming the file.
    w.write("burrow.yaml", "services:\n  a:\n%s    bindsTo: b\n  b:\n%s    bindsTo: a\n"
            % (origin("a"), origin("b")))
    r = w.stack("up", "--detach", check=False)
    print("=== cycle\n" + r.stderr)
    assert r.returncode != 0 and "burrow.yaml:" in r.stderr, r.stderr
    left = w.leftovers()
    assert left == {"netns": [], "links": [], "tables": [], "mounts": [], "record": False}, left


def case_logs_rotate(w):
    """A service's output past 10 MiB: the log is rotated (one old part kept), and `logs` shows
    both parts in order, nothing lost; --follow goes on in the new file."""
    size = 11 * 1024 * 1024
    w.write("burrow.yaml", """services:
  chatty:
    exec: [/bin/sh, -c, "yes 0123456789abcdef 2>/dev/null | head -c %d; echo after-rotation; exec sleep 600"]
    network: host
""" % size)
    w.stack("up", "--detach")
    log = w.state + "/stack/logs/chatty.log"
    harness.poll(lambda: os.path.exists(log) and b"after-rotation" in open(log, "rb").read(),
                 30, what="the output after the rotation")
    old = os.path.getsize(log + ".1")
    print("=== sizes", old, os.path.getsize(log))
    assert old > 10 * 1024 * 1024, old
    # The rest: 11 MiB less the old part, plus the last line and the sandbox's own line (the
    # old part ends wherever the write that crossed 10 MiB ended).
    assert os.path.getsize(log) < 1024 * 1024 + 4096, os.path.getsize(log)
    r = sh(harness.BURROW, "logs", "chatty", "--state-dir", w.state)
    want = ("0123456789abcdef\n" * (size // 17 + 1))[:size] + "after-rotation\n"
    # The sandbox's own line first ("... INF service started unit=chatty.service pid=N"), then
    # the service's output, whole and in order.
    first, _, rest = r.stdout.partition("\n")
    assert " INF service started unit=chatty.service pid=" in first, first
    assert rest == want, (len(rest), rest[:100], rest[-100:])
    w.stack("down")


AUTH_STACK = """tunnel:
  tokenFile: token
  accessLog: logs/access.log
  accessLogFormat: json
  metrics: 127.0.0.1:2099
services:
  auth:
    exec: [burrow, auth, --config, /config/configuration.yml]
    binds: ["auth:/config:ro"]
    sandbox:
      DynamicUser: yes
      ProtectSystem: strict
      ProtectHome: yes
      PrivateDevices: yes
      NoNewPrivileges: yes
      RestrictAddressFamilies: AF_INET AF_UNIX
      SystemCallFilter: "@system-service"
      Environment: AUTHELIA_SESSION_SECRET_FILE=/config/secret
  a:
{a}routes:
  - hostname: auth.example.net
    service: http://[auth]:9091
  - hostname: a.example.net
    service: http://[a]:8000
    originRequest:
      access: {{ required: true, portal: "http://[auth]:9091" }}
  - service: http_status:404
"""

AUTH_CONFIG = """server: {{ address: 'tcp://0.0.0.0:9091/' }}
session:
  cookies:
    - domain: example.net
      authelia_url: http://auth.example.net:8080/
authentication_backend: {{ file: {{ path: /config/users.yml }} }}
access_control:
  default_policy: one_factor
"""


def case_auth_portal(w):
    """`exec: [burrow, auth, ...]`: the login portal as a service of the stack, sandboxed and on
    a private network, reached by hostname through the tunnel."""
    w.burrow("edge", "route", "dns", "home", "auth.example.net", "--state-dir", w.work + "/edge")
    os.makedirs(w.work + "/auth")
    hashed = subprocess.run([harness.BURROW, "auth", "hash-password"], input="correct horse\n",
                            capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    w.write("auth/users.yml", "users:\n  john:\n    password: '%s'\n    groups: [admins]\n"
            % hashed)
    w.write("auth/secret", "a-long-random-session-secret-for-the-stack\n")
    w.write("auth/configuration.yml", AUTH_CONFIG.format())
    w.write("burrow.yaml", AUTH_STACK.format(a=origin("a")))
    os.makedirs(w.work + "/logs")
    r = w.stack("up", "--detach")
    print("=== up\n" + r.stderr + r.stdout)
    assert re.search(r"^auth\s+running", r.stdout, re.M), r.stdout
    # Not the host's burrow on PATH (there is none here): the stack's own binary, sandboxed.
    pid = service_pid("bs-auth")
    assert os.readlink("/proc/%d/exe" % pid) == os.path.realpath(harness.BURROW)
    status = open("/proc/%d/status" % pid).read()
    assert re.search(r"^Uid:\s+[1-9]\d*", status, re.M), status  # DynamicUser: not root
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M), status

    def portal(path, *extra):
        r = sh("curl", "-s", "-m", "5", "-D", "-", "-H", "Host: auth.example.net", *extra,
               "http://127.0.0.1:8080" + path, check=False)
        return r.stdout

    harness.poll(lambda: "200 OK" in portal("/api/state"), 15 * harness.TIME_FACTOR,
                 what="the portal through the tunnel: %r" % portal("/api/state"))
    login = json.dumps({"username": "john", "password": "correct horse",
                        "targetURL": "http://a.example.net/"})
    out = portal("/api/firstfactor", "-H", "Content-Type: application/json",
                 "--data-binary", login)
    assert '"status":"OK"' in out and "http://a.example.net/" in out, out
    cookie = re.search(r"^set-cookie: (authelia_session=[^;]+)", out, re.M | re.I)
    assert cookie, out
    state = portal("/api/state", "-H", "Cookie: " + cookie.group(1))
    assert '"username":"john"' in state and '"authentication_level":1' in state, state
    # access: required: a's route asks the portal first: a browser without a session is sent
    # to log in, one with the session reaches a.
    def app(*extra):
        return sh("curl", "-s", "-m", "5", "-D", "-", "-o", "/dev/null", "-H",
                  "Host: a.example.net", "-H", "Accept: text/html", *extra,
                  "http://127.0.0.1:8080/hello", check=False).stdout
    out = app()
    assert out.startswith("HTTP/1.1 302"), out
    assert re.search(r"^location: http://auth\.example\.net:8080/\?rd=http%3A%2F%2Fa\.example"
                     r"\.net", out, re.M | re.I), out
    assert w.get("a.example.net")[0] != "200"
    out = app("-H", "Cookie: " + cookie.group(1))
    assert out.startswith("HTTP/1.1 200"), out
    wrong = portal("/api/firstfactor", "-H", "Content-Type: application/json", "--data-binary",
                   login.replace("correct horse", "wrong"))
    assert wrong.startswith("HTTP/1.1 401"), wrong
    # The connector's access log and metrics (tunnel.accessLog, tunnel.metrics), written from
    # its sandbox into a directory the stack bound in.
    def logged():
        try:
            with open(w.work + "/logs/access.log") as f:
                return [json.loads(l) for l in f if l.strip()]
        except FileNotFoundError:
            return []
    harness.poll(lambda: any(l["status"] == 200 and l["host"] == "a.example.net"
                             for l in logged()), 10, what="a's 200 in the access log")
    lines = logged()
    assert [l["status"] for l in lines if l["host"] == "a.example.net"][:1] == [302], lines
    assert any(l["host"] == "auth.example.net" and l["status"] == 401 for l in lines), lines
    ready = sh("curl", "-s", "-m", "5", "http://127.0.0.1:2099/ready", check=False).stdout
    assert '"status":200' in ready, ready
    w.stack("down")
    left = w.leftovers()
    assert left == {"netns": [], "links": [], "tables": [], "mounts": [], "record": False}, left


def case_login(w):
    """tunnel.login instead of tokenFile: up makes tunnel NAME on the login's edge and routes
    the hostnames of its routes (a rule's Host() too); down keeps it, down --purge deletes it."""
    edge_state = w.work + "/edge"
    w.burrow("edge", "login-token", "create", "--zone", "example.org", "--name", "stack",
             "--endpoint", "127.0.0.1:7844", "-o", w.work + "/login.token",
             "--state-dir", edge_state)
    stack = """tunnel: { login: login.token, name: homelab }
services:
  d:
%s
routes:
  - hostname: d.example.org
    service: http://[d]:8000
  - rule: Host(`e.example.org`) && PathPrefix(`/hello`)
    service: http://[d]:8000
  - service: http_status:404
""" % origin("d")
    w.write("burrow.yaml", stack)
    r = w.stack("up", "--detach")
    print("=== up\n" + r.stderr)
    w.wait_get("d.example.org", "hello from d")
    code, body = w.get("e.example.org")
    assert (code, body) == ("200", "hello from d path=/hello\n"), (code, body)
    routes = w.burrow("edge", "route", "list", "--state-dir", edge_state).stdout
    print("=== routes\n" + routes)
    for h in ("d.example.org", "e.example.org"):
        assert re.search(r"(?m)^%s\s+homelab\s" % re.escape(h), routes), routes
    token = w.state + "/stack/tunnel-homelab.token"
    assert oct(os.stat(token).st_mode & 0o777) == "0o600"
    tunnels = lambda: [l for l in w.burrow("edge", "tunnel", "list", "--state-dir",
                                           edge_state).stdout.splitlines() if " homelab " in l]
    first = tunnels()
    assert len(first) == 1, first
    # down keeps the tunnel; up again uses it (same id), no second one.
    w.stack("down")
    w.stack("up", "--detach")
    w.wait_get("d.example.org", "hello from d")
    again = tunnels()
    assert len(again) == 1 and again[0].split()[0] == first[0].split()[0], (first, again)
    r = w.stack("down", "--purge")
    print("=== down --purge\n" + r.stderr)
    assert "--purge: deleted tunnel homelab and its routes on the edge" in r.stderr, r.stderr
    assert tunnels() == [] and not os.path.exists(token)
    assert "example.org" not in w.burrow("edge", "route", "list", "--state-dir",
                                         edge_state).stdout
    left = w.leftovers()
    assert left == {"netns": [], "links": [], "tables": [], "mounts": [], "record": False}, left
    # A hostname outside the login's zones: up fails saying so, and leaves nothing.
    w.write("burrow.yaml", stack.replace("d.example.org", "d.example.net"))
    r = w.stack("up", "--detach", check=False)
    print("=== outside the zone\n" + r.stderr)
    assert r.returncode == 1, r.returncode
    assert ("hostname d.example.net is outside the zones of login 'stack' (example.org)"
            in r.stderr), r.stderr
    assert tunnels() == [] and not os.path.exists(token)
    left = w.leftovers()
    assert left == {"netns": [], "links": [], "tables": [], "mounts": [], "record": False}, left


def inner(case, work):
    os.chdir(work)
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/run"], check=True)
    w = Inside(work)
    try:
        CASES[case](w)
    finally:
        for p in w.procs:
            p.kill()


CASES = {f.__name__[5:]: f for f in (case_private_networks, case_foreground_and_killed_supervisor,
                                     case_bad_input, case_users_and_ephemeral,
                                     case_apply_changes, case_vpn_service, case_binds_to,
                                     case_logs_rotate, case_auth_portal, case_login)}


@unittest.skipIf(harness.root_and_tools_missing("unshare", "ip", "nft", "curl"),
                 "needs root, unshare, ip, nft, curl")
class StackTest(harness.BurrowTestCase):
    def run_case(self, case):
        work = self.path("work")
        os.makedirs(work)
        r = subprocess.run(["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc",
                            harness.PYTHON, os.path.abspath(__file__), "--inner", case, work],
                           capture_output=True, text=True, timeout=300 * harness.TIME_FACTOR,
                           stdin=subprocess.DEVNULL, env=harness.clean_env())
        print(r.stdout)
        logs = ""
        for root, _, files in os.walk(work):
            for f in files:
                if f.endswith(".log"):
                    logs += "--- %s\n%s" % (f, harness._read(os.path.join(root, f))[-3000:])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + logs)
        self.assertIn("CASE OK", r.stdout)

    def test_private_networks_isolation_nat_restarts_and_down(self):
        self.run_case("private_networks")

    def test_foreground_sigterm_and_a_killed_supervisor(self):
        self.run_case("foreground_and_killed_supervisor")

    def test_bad_input_is_refused_and_leaves_nothing(self):
        self.run_case("bad_input")

    def test_users_pick_and_ephemeral(self):
        self.run_case("users_and_ephemeral")

    def test_binds_to_stops_and_starts_with_what_it_binds_to(self):
        self.run_case("binds_to")

    def test_logs_are_rotated_and_shown_whole(self):
        self.run_case("logs_rotate")

    def test_the_login_portal_as_a_service_of_the_stack(self):
        self.run_case("auth_portal")

    def test_a_login_makes_the_tunnel_and_its_routes_and_purge_deletes_them(self):
        self.run_case("login")

    def test_up_again_applies_only_the_difference(self):
        self.run_case("apply_changes")

    @unittest.skipIf(harness.root_and_tools_missing("wireguard-go", "wg"),
                     "needs wireguard-go, wg")
    def test_a_vpn_confined_service_behind_a_route(self):
        self.run_case("vpn_service")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--inner":
        inner(sys.argv[2], sys.argv[3])
        print("CASE OK")
        sys.exit(0)
    harness.main()
