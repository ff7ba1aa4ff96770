#!/usr/bin/env python3
"""`burrow netns`: a namespace whose only way out is its WireGuard tunnel, fail-closed.

The test bed, made and removed by each test: a "provider" namespace holding the WireGuard
peer (wireguard-go), a web server and a DNS server behind the tunnel, and DNS-like listeners
on an address that is not pinned; a "clearnet" namespace with a web server that must never be
reached; both joined to the host by veth links (the underlay). burrow builds the confined
namespace; probes run inside it with `ip netns exec` (nftables holds whatever runs there) or
as services under `burrow exec --netns`. Needs root."""

import json
import os
import socket
import subprocess
import time
import unittest

import harness

TOOLS = harness.TOOLS
PROVIDER_TUN = "10.77.0.1"  # the provider's tunnel address: web :8000, pinned DNS :53
OTHER_TUN = "10.77.0.99"  # also behind the tunnel: DNS-like ports and web :8000, not pinned
CONFINED_TUN = "10.77.0.2"
PROVIDER_UNDERLAY = "10.250.0.2"
CLEARNET = "10.250.1.2"


def _tools_missing():
    return harness.root_and_tools_missing("ip", "wireguard-go", "wg", "nft", "unshare")


def run(*argv, check=True, timeout=30):
    r = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError("%s exited %d: %s" % (" ".join(argv), r.returncode, r.stderr))
    return r


def running(pid):
    """False once `pid` has exited, reaped or not (a zombie waits for PID 1 here)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def rx_packets(link, ns=None):
    argv = ["ip", "-j", "-s", "link", "show", link]
    if ns:
        argv = ["ip", "-n", ns] + argv[1:]
    return json.loads(run(*argv).stdout)[0]["stats64"]["rx"]["packets"]


# Runs inside the confined namespace: one TCP connect or DNS query, exit 0 on an answer.
PROBE = r"""
import socket, struct, sys
kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
q = struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"\x04test\x00" + struct.pack("!HH", 1, 1)
try:
    if kind == "tcp":
        socket.create_connection((host, port), timeout=1.5).close()
    elif kind == "dns-udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1.5)
        s.sendto(q, (host, port)); s.recvfrom(512)
    elif kind == "dns-tcp":
        s = socket.create_connection((host, port), timeout=1.5)
        s.sendall(struct.pack("!H", len(q)) + q); s.settimeout(1.5)
        if not s.recv(2): sys.exit(1)
    elif kind == "tcp6":
        socket.create_connection((host, port), timeout=1.5).close()
    elif kind == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1.5)
        s.sendto(b"ping", (host, port))
        if s.recvfrom(512)[0] != b"ping": sys.exit(1)
except OSError as e:
    print(e); sys.exit(1)
"""


# A UDP echo server: ADDRESS PORT.
UDP_ECHO = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(512)
    s.sendto(data, peer)
"""


@unittest.skipIf(_tools_missing(), "needs root, ip, wireguard-go, wg, nft: %s" % _tools_missing())
class NetnsTest(harness.BurrowTestCase):

    def setUp(self):
        super().setUp()
        sfx = "%d" % (os.getpid() % 100000)
        self.provider, self.clearnet = "bprov" + sfx, "bclr" + sfx
        self.name, self.wg_if, self.peer_if = "bv" + sfx, "wgb" + sfx, "wgp" + sfx
        self.state = self.path("state")
        self._underlay(self.provider, "bu" + sfx, "10.250.0.1", PROVIDER_UNDERLAY)
        self._underlay(self.clearnet, "bc" + sfx, "10.250.1.1", CLEARNET)
        self.host_links = {"bu" + sfx: self.provider, "bc" + sfx: self.clearnet}
        self._provider_wireguard()
        www = self.path("www")
        os.makedirs(www)
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write("behind the tunnel\n")
        self.in_ns_spawn(self.provider, "web", ["python3", "-m", "http.server", "--bind",
                                                PROVIDER_TUN, "--directory", www, "8000"])
        self.in_ns_spawn(self.provider, "web-other", ["python3", "-m", "http.server", "--bind",
                                                      OTHER_TUN, "--directory", www, "8000"])
        self.in_ns_spawn(self.clearnet, "clearnet", ["python3", "-m", "http.server", "--bind",
                                                     CLEARNET, "--directory", www, "8000"])
        self.dns(self.provider, PROVIDER_TUN, 53)
        for port in (53, 853, 5353, 5355):
            self.dns(self.provider, OTHER_TUN, port)
        harness.poll(lambda: run("ip", "netns", "exec", self.provider, "python3", "-c", PROBE,
                                 "tcp", PROVIDER_TUN, "8000", check=False).returncode == 0,
                     10, what="provider web server")

    # ---- the test bed ----

    def _underlay(self, ns, host_link, host_addr, ns_addr):
        run("ip", "netns", "add", ns)
        self.addCleanup(run, "ip", "netns", "del", ns, check=False)
        run("ip", "link", "add", host_link, "type", "veth", "peer", "name", "eth0", "netns", ns)
        self.addCleanup(run, "ip", "link", "del", host_link, check=False)
        # No IPv6 on the underlay: neighbour discovery would blur the packet counts.
        with open("/proc/sys/net/ipv6/conf/%s/disable_ipv6" % host_link, "w") as f:
            f.write("1")
        run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        run("ip", "addr", "add", host_addr + "/30", "dev", host_link)
        run("ip", "link", "set", host_link, "up")
        run("ip", "-n", ns, "addr", "add", ns_addr + "/30", "dev", "eth0")
        run("ip", "-n", ns, "link", "set", "eth0", "up")
        run("ip", "-n", ns, "link", "set", "lo", "up")

    def _provider_wireguard(self):
        self.key = self.path("confined.key")
        self.peer_key = self.path("provider.key")
        for path in (self.key, self.peer_key):
            with open(path, "w") as f:
                f.write(run("wg", "genkey").stdout)
            os.chmod(path, 0o600)
        self.pub = self._pubkey(self.key)
        self.in_ns_spawn(self.provider, "wireguard-go",
                         ["env", "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1",
                          "wireguard-go", "-f", self.peer_if])
        harness.poll(lambda: os.path.exists("/var/run/wireguard/%s.sock" % self.peer_if), 10,
                     what="provider wireguard-go")
        p = self.provider
        run("ip", "netns", "exec", p, "wg", "set", self.peer_if, "private-key", self.peer_key,
            "listen-port", "51820", "peer", self.pub, "allowed-ips", CONFINED_TUN + "/32")
        run("ip", "-n", p, "addr", "add", PROVIDER_TUN + "/24", "dev", self.peer_if)
        run("ip", "-n", p, "addr", "add", OTHER_TUN + "/32", "dev", self.peer_if)
        run("ip", "-n", p, "link", "set", self.peer_if, "up")

    def _pubkey(self, path):
        with open(path) as f:
            return subprocess.run(["wg", "pubkey"], input=f.read(), capture_output=True,
                                  text=True, check=True).stdout.strip()

    def in_ns_spawn(self, ns, name, argv):
        return self.spawn(name, ["ip", "netns", "exec", ns] + argv)

    def dns(self, ns, addr, port):
        p = self.in_ns_spawn(ns, "dns-%s-%d" % (addr, port),
                             ["python3", os.path.join(TOOLS, "dns_server.py"), addr, str(port),
                              PROVIDER_TUN])
        p.wait_for("ready", stream="stdout")

    def config(self, name=None, **ns):
        """Writes a namespace file; `ns` overrides keys of namespaces.NAME."""
        name = name or self.name
        doc = {
            "wireguard": {
                "interface": self.wg_if,
                "privateKeyFile": self.key,
                "address": [CONFINED_TUN + "/32"],
                "peers": [{"publicKey": self._pubkey(self.peer_key),
                           "endpoint": PROVIDER_UNDERLAY + ":51820",
                           "allowedIPs": ["0.0.0.0/0"], "persistentKeepalive": 5}],
            },
            "dns": {"mode": "strict", "servers": [PROVIDER_TUN]},
        }
        for key, value in ns.items():
            if isinstance(value, dict) and isinstance(doc.get(key), dict):
                for k, v in value.items():
                    if v is None:
                        doc[key].pop(k, None)
                    else:
                        doc[key][k] = v
            elif value is None:
                doc.pop(key, None)
            else:
                doc[key] = value
        path = self.path("%s.yml" % name)
        with open(path, "w") as f:
            json.dump({"namespaces": {name: doc}}, f)  # JSON is YAML
        return path

    def up(self, name=None, **ns):
        name = name or self.name
        r = self.burrow("netns", "up", name, "-f", self.config(name, **ns),
                        "--state-dir", self.state)
        if r.returncode == 0:
            self.addCleanup(self.burrow, "netns", "down", name, "--state-dir", self.state)
        return r

    def status(self, name=None):
        r = self.burrow("netns", "status", name or self.name, "--json", "--state-dir",
                        self.state, check=True)
        return json.loads(r.stdout)[0]

    def probe(self, kind, host, port, ns=None):
        r = run("ip", "netns", "exec", ns or self.name, "python3", "-c", PROBE, kind, host,
                str(port), check=False)
        return r.returncode == 0

    def probe_here(self, kind, host, port):
        """The probe run on the host."""
        return run("python3", "-c", PROBE, kind, host, str(port), check=False).returncode == 0

    def serve(self, ns, proto, port, addr="0.0.0.0"):
        """A TCP (HTTP) or UDP (echo) server in namespace `ns`, answering once this returns."""
        if proto == "tcp":
            self.in_ns_spawn(ns, "%s-tcp-%d" % (ns, port),
                             ["python3", "-m", "http.server", "--bind", addr, str(port)])
            harness.poll(lambda: self.probe("tcp", "127.0.0.1", port, ns=ns), 10,
                         what="tcp listener %s:%d" % (ns, port))
        else:
            p = self.in_ns_spawn(ns, "%s-udp-%d" % (ns, port),
                                 ["python3", "-c", UDP_ECHO, addr, str(port)])
            p.wait_for("ready", stream="stdout")

    def unit(self, name, exec_start, extra=""):
        path = self.path(name + ".service")
        with open(path, "w") as f:
            f.write("[Service]\nExecStart=%s\n%s" % (exec_start, extra))
        return path

    def assert_nothing_left(self, name=None):
        name = name or self.name
        self.assertFalse(os.path.exists("/run/netns/" + name))
        self.assertNotIn(self.wg_if, run("ip", "link", "show").stdout)
        self.assertFalse(os.path.exists("/var/run/wireguard/%s.sock" % self.wg_if))
        self.assertFalse(os.path.exists(os.path.join(self.state, "netns", name)))

    # ---- the tests ----

    def test_tunnel_carries_http_and_dns_and_nothing_leaks(self):
        # (An IPv6 address, as wg-quick files from providers carry: said, and left out.)
        r = self.up(wireguard={"address": [CONFINED_TUN + "/32", "fd77::2/128"]})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("address fd77::2/128 not configured: IPv6 is off inside", r.stderr)
        st = self.status()
        self.assertTrue(st["up"] and st["wireguard_running"] and st["link_running"], st)
        self.assertIn(self.name, run("ip", "netns", "list").stdout)
        # The first handshake (persistentKeepalive starts it) before the first probe, whose
        # 1.5 s a handshake retried under load could outlast.
        harness.poll(lambda: self.status()["last_handshake"] > 0, 15, what="a handshake")
        # (a) HTTP and DNS through the tunnel; DNS by name, through the pinned resolv.conf.
        self.assertTrue(self.probe("tcp", PROVIDER_TUN, 8000))
        self.assertTrue(self.probe("dns-udp", PROVIDER_TUN, 53))
        self.assertTrue(self.probe("dns-tcp", PROVIDER_TUN, 53))
        r = self.burrow("exec", "--netns", self.name, "--state-dir", self.state, "--no-restart",
                        self.unit("getent", "/usr/bin/getent ahostsv4 photos.example.test"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(PROVIDER_TUN, r.stdout)
        self.assertGreater(self.status()["last_handshake"], 0)
        # (b) the underlay and clearnet are out of reach.
        self.assertFalse(self.probe("tcp", CLEARNET, 8000))
        self.assertFalse(self.probe("tcp", PROVIDER_UNDERLAY, 51820))
        # (c) DNS to any server that is not pinned: every DNS-like port, UDP and TCP; the same
        # address answers on a port that is not DNS-like, so the drop is the DNS policy.
        self.assertTrue(self.probe("tcp", OTHER_TUN, 8000))
        for port in (53, 853, 5353, 5355):
            self.assertTrue(self.probe("dns-udp", OTHER_TUN, port, ns=self.provider), port)
            self.assertFalse(self.probe("dns-udp", OTHER_TUN, port), port)
            self.assertFalse(self.probe("dns-tcp", OTHER_TUN, port), port)
        # (d) no IPv6 at all.
        out = run("ip", "netns", "exec", self.name, "sysctl", "-n",
                  "net.ipv6.conf.all.disable_ipv6").stdout.strip()
        self.assertEqual(out, "1")
        self.assertFalse(self.probe("tcp6", "fd00::1", 80))
        self.assertIn("meta nfproto ipv6 drop",
                      run("ip", "netns", "exec", self.name, "nft", "list", "ruleset").stdout)
        # `netns status` in text form names the namespace's state.
        text = self.burrow("netns", "status", "--state-dir", self.state, check=True).stdout
        self.assertIn("%s: up" % self.name, text)
        self.assertIn("dns        strict: " + PROVIDER_TUN, text)

    def status_text(self):
        return self.burrow("netns", "status", "--state-dir", self.state, check=True).stdout

    def test_status_says_no_namespaces_then_whether_the_peer_ever_answered(self):
        self.assertEqual(self.status_text(), "no namespaces\n")
        r = self.burrow("netns", "status", "--json", "--state-dir", self.state, check=True)
        self.assertEqual(json.loads(r.stdout), [])
        # A peer that never answers (nothing listens on that port): up, but no handshake.
        peer = {"publicKey": self._pubkey(self.peer_key), "endpoint": PROVIDER_UNDERLAY + ":51821",
                "allowedIPs": ["0.0.0.0/0"], "persistentKeepalive": 1}
        self.assertEqual(self.up(wireguard={"peers": [peer]}).returncode, 0)
        # Handshake initiations went out (tx counts them) and none was answered.
        harness.poll(lambda: self.status()["tx_bytes"] > 0, 10, what="a handshake initiation")
        self.assertEqual(self.status_text().splitlines()[0],
                         "%s: up (no handshake yet)" % self.name)
        self.assertEqual(self.status()["state"], "up (no handshake yet)")
        self.burrow("netns", "down", self.name, "--state-dir", self.state, check=True)
        self.assertEqual(self.up().returncode, 0)
        harness.poll(lambda: self.status()["last_handshake"] > 0, 15, what="a handshake")
        self.assertEqual(self.status_text().splitlines()[0], "%s: up" % self.name)
        self.assertEqual(self.status()["state"], "up")
        os.kill(self.status()["wireguard_pid"], 9)
        harness.poll(lambda: self.status()["state"] == "degraded", 5, what="degraded")
        self.assertEqual(self.status_text().splitlines()[0], "%s: degraded" % self.name)

    def test_confined_services_see_pinned_resolver_files_only(self):
        r = self.burrow("exec", "--netns", self.name, "--state-dir", self.state, "--no-restart",
                        self.unit("early", "/bin/true"))
        self.assertEqual(r.returncode, 1)  # fail-closed: no namespace, no start
        self.assertIn("namespace %s is not up" % self.name, r.stderr)
        self.assertEqual(self.up().returncode, 0)
        # The host resolver's IPC is hidden from confined services (strict DNS, the default).
        ipc = "/run/nscd"
        made = not os.path.exists(ipc)
        if made:
            os.mkdir(ipc)
            self.addCleanup(os.rmdir, ipc)
        marker = os.path.join(ipc, "burrow-test-%d" % os.getpid())
        open(marker, "w").close()
        self.addCleanup(os.unlink, marker)
        look = "/bin/sh -c 'cat /etc/resolv.conf; grep ^hosts: /etc/nsswitch.conf; ls %s'" % ipc
        # NetworkNamespacePath= naming a namespace burrow made confines it like --netns.
        r = self.burrow("exec", "--state-dir", self.state, "--no-restart",
                        self.unit("look", look,
                                  "NetworkNamespacePath=/run/netns/%s\n" % self.name))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("nameserver " + PROVIDER_TUN, r.stdout)
        self.assertIn("hosts: files myhostname dns", r.stdout)
        self.assertNotIn(os.path.basename(marker), r.stdout)
        # allowHostResolverIPC: true leaves it visible.
        self.burrow("netns", "down", self.name, "--state-dir", self.state, check=True)
        self.assertEqual(self.up(dns={"allowHostResolverIPC": True}).returncode, 0)
        r = self.burrow("exec", "--netns", self.name, "--state-dir", self.state, "--no-restart",
                        self.unit("look2", look))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(os.path.basename(marker), r.stdout)

    def _confined_sleeper(self):
        svc = self.spawn("confined", [harness.BURROW, "exec", "--netns", self.name, "--state-dir",
                                      self.state, "--no-restart",
                                      self.unit("sleeper", "/bin/sleep 600")])
        harness.poll(lambda: self.status()["processes"] >= 1, 10, what="confined service")
        return svc

    def test_tunnel_loss_stops_confined_services_and_nothing_reaches_the_underlay(self):
        self.assertEqual(self.up().returncode, 0)
        svc = self._confined_sleeper()
        before_far = {ns: rx_packets("eth0", ns) for ns in self.host_links.values()}
        t0 = time.monotonic()
        os.kill(self.status()["wireguard_pid"], 9)  # (e) the tunnel goes down
        svc.wait(timeout=5)
        took = time.monotonic() - t0  # about 20 ms here; the promise is one second
        self.assertLess(took, 1.5, "service still there %.0f ms after the tunnel" % (took * 1000))
        self.assertEqual(run("ip", "netns", "pids", self.name).stdout.strip(), "")
        self.assertIn("tunnel link %s is down" % self.wg_if, svc.read())
        # Nothing from the namespace reaches the underlay now.
        for host in (PROVIDER_UNDERLAY, CLEARNET, PROVIDER_TUN):
            self.assertFalse(self.probe("tcp", host, 8000))
        self.assertEqual({ns: rx_packets("eth0", ns) for ns in self.host_links.values()},
                         before_far)
        # A confined service refuses to start while the tunnel is down; `down` still cleans up
        # after a wireguard-go that died.

        r = self.burrow("exec", "--netns", self.name, "--state-dir", self.state, "--no-restart",
                        self.unit("late", "/bin/true"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("is down", r.stderr)
        self.assertEqual(self.burrow("netns", "down", self.name, "--state-dir",
                                     self.state).returncode, 0)
        self.assert_nothing_left()

    def test_removing_the_namespace_stops_its_services(self):
        self.assertEqual(self.up().returncode, 0)
        svc = self._confined_sleeper()
        t0 = time.monotonic()
        run("ip", "netns", "del", self.name)  # (f)
        svc.wait(timeout=5)
        self.assertLess(time.monotonic() - t0, 1.5)
        self.assertIn("namespace %s was removed" % self.name, svc.read())

    def test_down_stops_services_first_and_leaves_nothing(self):
        self.assertEqual(self.up().returncode, 0)
        svc = self._confined_sleeper()
        t0 = time.monotonic()
        r = self.burrow("netns", "down", self.name, "--state-dir", self.state)
        self.assertEqual(r.returncode, 0, r.stderr)
        # No waiting out the grace period: wireguard-go, which `up` left to PID 1, counts as
        # gone once it has exited, reaped or not.
        self.assertLess(time.monotonic() - t0, 1.0)
        svc.wait(timeout=5)
        self.assert_nothing_left()
        r = self.burrow("netns", "down", self.name, "--state-dir", self.state)
        self.assertEqual(r.returncode, 1)
        self.assertIn("namespace %s is not up" % self.name, r.stderr)

    def test_allow_list_reaches_only_listed_destinations(self):
        r = self.up(egress={"mode": "allowList", "allowedCidrs": [PROVIDER_TUN + "/32"],
                            "allowedPorts": [8000]})
        self.assertEqual(r.returncode, 0, r.stderr)  # (g)
        self.assertTrue(self.probe("tcp", PROVIDER_TUN, 8000))
        self.assertFalse(self.probe("tcp", OTHER_TUN, 8000))
        self.in_ns_spawn(self.provider, "web-8001", ["python3", "-m", "http.server", "--bind",
                                                     PROVIDER_TUN, "8001"])
        harness.poll(lambda: self.probe("tcp", PROVIDER_TUN, 8001, ns=self.provider), 10)
        self.assertFalse(self.probe("tcp", PROVIDER_TUN, 8001))
        self.assertTrue(self.probe("dns-udp", PROVIDER_TUN, 53))  # DNS policy comes first

    def test_published_ports_and_nothing_else_reach_the_host(self):
        r = self.up(publishToHost={"tcp": [8080]})
        self.assertEqual(r.returncode, 0, r.stderr)  # (h)
        st = self.status()
        addr = st["namespace_address"]
        self.assertTrue(addr.startswith("169.254."), st)
        for port in (8080, 8081):
            self.in_ns_spawn(self.name, "svc-%d" % port, ["python3", "-m", "http.server",
                                                          "--bind", "0.0.0.0", str(port)])
        for port in (8080, 8081):
            harness.poll(lambda: self.probe("tcp", "127.0.0.1", port), 10, what="listener")

        def reach(port):
            try:
                socket.create_connection((addr, port), timeout=1.5).close()
                return True
            except OSError:
                return False
        self.assertTrue(reach(8080))
        self.assertFalse(reach(8081))
        # The host link carries nothing the namespace starts itself.
        self.assertFalse(self.probe("tcp", st["host_address"], 22))
        # A /30 that already has an address on the host is not used twice.
        self.burrow("netns", "down", self.name, "--state-dir", self.state, check=True)
        taken = "bz" + self.name[2:]
        run("ip", "link", "add", taken, "type", "veth", "peer", "name", taken + "p")
        self.addCleanup(run, "ip", "link", "del", taken, check=False)
        run("ip", "addr", "add", st["host_address"] + "/30", "dev", taken)
        self.assertEqual(self.up(publishToHost={"tcp": [8080]}).returncode, 0)
        again = self.status()
        self.assertNotEqual(again["host_address"], st["host_address"])
        self.assertTrue(again["namespace_address"].startswith("169.254."), again)

    def test_open_vpn_ports_take_connections_through_the_tunnel_only(self):
        # An allow list that does not hold the provider: the replies pass as replies.
        r = self.up(openVPNPorts=[{"port": 9000}, {"port": 9001, "protocol": "udp"},
                                  {"port": 9003, "protocol": "both"}],
                    egress={"mode": "allowList", "allowedCidrs": ["10.99.0.0/24"]})
        self.assertEqual(r.returncode, 0, r.stderr)
        for port in (9000, 9002, 9003):
            self.serve(self.name, "tcp", port)
        for port in (9000, 9001, 9003):
            self.serve(self.name, "udp", port)
        harness.poll(lambda: self.status()["last_handshake"] > 0, 15, what="a handshake")
        # From the far side of the tunnel: the opened ports and protocols, nothing else.
        at = self.provider
        self.assertTrue(self.probe("tcp", CONFINED_TUN, 9000, ns=at))
        self.assertFalse(self.probe("udp", CONFINED_TUN, 9000, ns=at))
        self.assertTrue(self.probe("udp", CONFINED_TUN, 9001, ns=at))
        self.assertFalse(self.probe("tcp", CONFINED_TUN, 9002, ns=at))
        self.assertTrue(self.probe("tcp", CONFINED_TUN, 9003, ns=at))
        self.assertTrue(self.probe("udp", CONFINED_TUN, 9003, ns=at))
        # The allow list still holds for what the namespace starts itself.
        self.assertFalse(self.probe("tcp", PROVIDER_TUN, 8000))
        self.assertIn("  vpn ports  tcp 9000, 9003; udp 9001, 9003\n", self.status_text())

    def test_port_mappings_serve_accessible_from_clients_only(self):
        sfx = self.name[2:]
        lan, lan_link = "blan" + sfx, "bl" + sfx
        self._underlay(lan, lan_link, "10.250.2.1", "10.250.2.2")
        # The host forwards what comes in on these two (test-owned) links, so that only
        # burrow's rules decide who gets through.
        for link in (lan_link, "bc" + sfx):
            with open("/proc/sys/net/ipv4/conf/%s/forwarding" % link, "w") as f:
                f.write("1")
        r = self.up(accessibleFrom=["10.250.2.0/30"],
                    portMappings=[{"from": 18080, "to": 8080},
                                  {"from": 17000, "to": 7000, "protocol": "udp"}])
        self.assertEqual(r.returncode, 0, r.stderr)
        st = self.status()
        inside = st["namespace_address"]
        self.serve(self.name, "tcp", 8080)
        self.serve(self.name, "tcp", 8082)
        self.serve(self.name, "udp", 7000)
        self.serve(lan, "tcp", 8000)
        # An accessibleFrom client reaches the mapped ports on the host's address.
        self.assertTrue(self.probe("tcp", "10.250.2.1", 18080, ns=lan))
        self.assertTrue(self.probe("udp", "10.250.2.1", 17000, ns=lan))
        self.assertFalse(self.probe("tcp", "10.250.2.1", 18082, ns=lan))
        # A client from elsewhere does not, though the host forwards for it too.
        self.assertFalse(self.probe("tcp", "10.250.1.1", 18080, ns=self.clearnet))
        self.assertFalse(self.probe("udp", "10.250.1.1", 17000, ns=self.clearnet))
        # The host itself reaches the mapped ports of the namespace, and no other.
        self.assertTrue(self.probe_here("tcp", inside, 8080))
        self.assertFalse(self.probe_here("tcp", inside, 8082))
        # The namespace cannot open a connection to the LAN it answers.
        self.assertTrue(self.probe_here("tcp", "10.250.2.2", 8000))
        self.assertFalse(self.probe("tcp", "10.250.2.2", 8000))
        self.assertIn("  mappings   tcp 18080 -> 8080, udp 17000 -> 7000 (forwarded for "
                      "10.250.2.0/30)\n", self.status_text())
        table = "burrow_" + self.name
        self.assertEqual(run("nft", "list", "table", "ip", table, check=False).returncode, 0)
        self.burrow("netns", "down", self.name, "--state-dir", self.state, check=True)
        self.assertNotEqual(run("nft", "list", "table", "ip", table, check=False).returncode, 0)
        self.assert_nothing_left()

    def test_wg_quick_file_and_udp_published_on_a_chosen_host_address(self):
        with open(self.key) as f:
            key = f.read().strip()
        conf = self.path("provider.conf")
        with open(conf, "w") as f:
            f.write("[Interface]\nPrivateKey = %s\nAddress = %s/32\nDNS = %s\n\n"
                    "[Peer]\nPublicKey = %s\nEndpoint = %s:51820\nAllowedIPs = 0.0.0.0/0\n"
                    "PersistentKeepalive = 5\n"
                    % (key, CONFINED_TUN, PROVIDER_TUN, self._pubkey(self.peer_key),
                       PROVIDER_UNDERLAY))
        self.wg_if = self.name + "0"  # vpn-confinement's name for the link
        host = "10.251.%d.1" % (os.getpid() % 250)
        r = self.up(wireguard=None, dns=None, wireguardConfigFile=conf,
                    publishToHost={"udp": [7000], "hostAddress": host})
        self.assertEqual(r.returncode, 0, r.stderr)
        st = self.status()
        self.assertEqual(st["interface"], self.wg_if)
        self.assertEqual((st["host_address"], st["publish_udp"]), (host, [7000]))
        self.assertEqual(st["namespace_address"], host[:-1] + "2")
        harness.poll(lambda: self.status()["last_handshake"] > 0, 15, what="a handshake")
        self.assertTrue(self.probe("tcp", PROVIDER_TUN, 8000))
        self.assertTrue(self.probe("dns-udp", PROVIDER_TUN, 53))  # the file's DNS= is pinned
        self.serve(self.name, "udp", 7000)
        self.serve(self.name, "udp", 7001)
        self.assertTrue(self.probe_here("udp", st["namespace_address"], 7000))
        self.assertFalse(self.probe_here("udp", st["namespace_address"], 7001))
        text = self.status_text()
        self.assertIn("host link  bh-%s %s <-> %s (udp 7000)"
                      % (self.name, host, st["namespace_address"]), text)

    def test_endpoint_refresh_follows_a_host_name_to_its_new_address(self):
        # burrow resolves through the real /etc/hosts; the test never edits it. burrow runs in
        # a mount namespace of its own where a test-owned file is bound over it (that mount
        # made private first, so nothing reaches the host), while /run/netns stays shared.
        hosts = self.path("hosts")
        name = "vpn-%s.burrow.test" % self.name
        with open(hosts, "w") as f:
            f.write("127.0.0.1 localhost\n%s %s\n" % (CLEARNET, name))  # no WireGuard there
        peer = {"publicKey": self._pubkey(self.peer_key), "endpoint": name + ":51820",
                "allowedIPs": ["0.0.0.0/0"], "persistentKeepalive": 1}
        cfg = self.config(wireguard={"allowHostnameEndpoints": True, "endpointRefresh": 1,
                                     "peers": [peer]})
        script = ('mount --make-private "$(findmnt -n -o TARGET -T /etc/hosts)" && '
                  'mount --bind "$0" /etc/hosts && exec "$@"')
        r = run("unshare", "-m", "--propagation", "unchanged", "sh", "-c", script, hosts,
                harness.BURROW, "netns", "up", self.name, "-f", cfg, "--state-dir", self.state,
                check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.addCleanup(self.burrow, "netns", "down", self.name, "--state-dir", self.state)

        def endpoint():
            return run("wg", "show", self.wg_if, "endpoints").stdout.split()[-1]
        self.assertEqual(endpoint(), CLEARNET + ":51820")
        with open(os.path.join(self.state, "netns", self.name, "state.json")) as f:
            refresher = json.load(f)["refresh_pid"]
        self.assertGreater(refresher, 0)
        self.assertIn("  endpoints  resolved again every 1s (burrow-refresh pid %d)\n" % refresher,
                      self.status_text())
        # The name moves (the file is rewritten in place: the bind mount shows the change).
        with open(hosts, "w") as f:
            f.write("127.0.0.1 localhost\n%s %s\n" % (PROVIDER_UNDERLAY, name))
        harness.poll(lambda: endpoint() == PROVIDER_UNDERLAY + ":51820", 10,
                     what="the endpoint to follow the name")
        harness.poll(lambda: self.status()["last_handshake"] > 0, 15, what="a handshake")
        self.assertTrue(self.probe("tcp", PROVIDER_TUN, 8000))
        # `down` stops the refresher with the rest.
        self.burrow("netns", "down", self.name, "--state-dir", self.state, check=True)
        self.assertFalse(running(refresher))
        self.assert_nothing_left()

    def test_high_assurance_refusals(self):
        with open(self.key) as f:
            inline = f.read().strip()
        r = self.up(securityProfile="highAssurance",
                    wireguard={"privateKeyFile": None, "privateKey": inline},
                    egress={"allowedCidrs": ["10.77.0.0/24"]})
        self.assertEqual(r.returncode, 1)  # (i)
        self.assertIn("privateKey", r.stderr)
        self.assert_nothing_left()
        r = self.up(securityProfile="highAssurance", egress={"allowedCidrs": ["10.77.0.0/24"]})
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.burrow("exec", "--netns", self.name, "--state-dir", self.state, "--no-restart",
                        self.unit("rooted", "/bin/true"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("refuses services that run as root", r.stderr)
        r = self.burrow("exec", "--netns", self.name, "--state-dir", self.state, "--no-restart",
                        self.unit("nobody", "/bin/true", "User=nobody\n"))
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_failed_up_rolls_back_everything(self):
        # The second address fails inside the namespace, after the namespace, wireguard-go and
        # the moved link were made: all of it goes again.
        r = self.up(wireguard={"address": [CONFINED_TUN + "/32", CONFINED_TUN + "/32"]})
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("add address %s/32 to %s: File exists" % (CONFINED_TUN, self.wg_if),
                      r.stderr)
        self.assert_nothing_left()
        self.assertEqual(self.up().returncode, 0)
        r = self.up()
        self.assertEqual(r.returncode, 1)
        self.assertIn("already up", r.stderr)
        # Interface names are host-wide: the provider's, from another namespace, is taken.
        r = self.up("bw" + self.name[2:], wireguard={"interface": self.peer_if})
        self.assertEqual(r.returncode, 1)
        self.assertIn("a wireguard-go already serves interface " + self.peer_if, r.stderr)
        self.assertFalse(os.path.exists("/run/netns/bw" + self.name[2:]))


if __name__ == "__main__":
    unittest.main()
