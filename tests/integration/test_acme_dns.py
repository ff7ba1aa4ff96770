#!/usr/bin/env python3
"""DNS-01 for wildcard routes: `*.zone` gets a certificate for `*.zone` from pebble, served by
SNI for `a.zone`. With `--acme-dns-rfc2136` the edge updates a real BIND `named` (on a
loopback port, TSIG key from tsig-keygen) that pebble resolves through, and removes the
record afterwards; with `--acme-dns-hook` a script sets the record in pebble-challtestsrv. A
failing hook leaves its name on the fallback certificate with the hook's words in `edge cert
list`, and other names are issued; without either flag a wildcard is logged once as needing
DNS-01. Bad DNS-01 flags and key files are refused at start."""

import os
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import time

import harness
from test_acme import AcmeCase

NAMED = shutil.which("named") or "/usr/sbin/named"
TSIG_KEYGEN = shutil.which("tsig-keygen") or "/usr/sbin/tsig-keygen"
DIG = shutil.which("dig") or "/usr/bin/dig"


class AcmeDnsTest(AcmeCase):
    # ---- a DNS server ----

    def start_named(self, zone):
        """BIND's named, authoritative for ZONE on 127.0.0.1:PORT, taking TSIG-signed updates
        of TXT _acme-challenge.ZONE with the key it writes to KEYFILE. Returns (port, keyfile)."""
        if not (os.access(NAMED, os.X_OK) and os.access(TSIG_KEYGEN, os.X_OK)):
            self.fail("named is not installed (Debian package bind9; scripts/deps test)")
        d = self.path("named")
        os.makedirs(d)
        keyfile = os.path.join(d, "acme.key")
        with open(keyfile, "w") as f:
            subprocess.run([TSIG_KEYGEN, "-a", "hmac-sha256", "acme-key"], stdout=f, check=True,
                           timeout=10)
        os.chmod(keyfile, 0o600)
        with open(os.path.join(d, zone + ".zone"), "w") as f:
            f.write("$TTL 60\n@ IN SOA ns.{0}. hostmaster.{0}. 1 60 60 600 60\n"
                    "@ IN NS ns.{0}.\nns IN A 127.0.0.1\n".format(zone))
        last = ""
        for _ in range(5):
            port = harness.free_port()
            conf = os.path.join(d, "named.conf")
            with open(conf, "w") as f:
                f.write("""options {{
  directory "{d}";
  listen-on port {port} {{ 127.0.0.1; }};
  listen-on-v6 {{ none; }};
  pid-file none;
  session-keyfile none;
  recursion no;
  dnssec-validation no;
}};
controls {{ }};
include "{key}";
zone "{zone}" {{
  type primary;
  file "{d}/{zone}.zone";
  update-policy {{ grant acme-key name _acme-challenge.{zone}. TXT; }};
}};
""".format(d=d, port=port, key=keyfile, zone=zone))
            named = self.spawn("named", [NAMED, "-g", "-c", conf])
            try:
                named.wait_for(r"running", timeout=15)
                return port, keyfile
            except Exception:
                last = named.tail()
                named.stop()
        self.fail("named did not start:\n%s" % last)

    def dig_txt(self, port, name):
        r = subprocess.run([DIG, "+short", "-p", str(port), "@127.0.0.1", "TXT", name],
                           capture_output=True, text=True, timeout=10, check=True)
        return r.stdout.strip()

    # ---- the edge ----

    def served_names(self, edge, host, root_pem):
        """The DNS SANs of the certificate served for SNI HOST, verified to pebble's root and
        for HOST by Python's ssl."""
        ctx = ssl.create_default_context(cadata=root_pem)
        with socket.create_connection((harness.LOOPBACK, edge.https_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as tls:
                return [v for k, v in tls.getpeercert()["subjectAltName"] if k == "DNS"]

    def cert_line(self, state, name):
        lines = [l for l in self.cert_list(state).splitlines() if l.startswith(name + " ")]
        self.assertEqual(len(lines), 1, self.cert_list(state))
        return lines[0]

    def write_hook(self, chall_mgmt):
        """A hook that sets/clears the TXT record in challtestsrv and logs its calls; it refuses
        any name under bad.test, as a hook for another DNS provider would."""
        calls = self.path("hook-calls")
        hook = self.path("dns-hook")
        with open(hook, "w") as f:
            f.write("""#!/bin/sh
echo "$@" >> {calls}
case "$2" in
  *bad.test.) echo "no zone for $2 at this provider" >&2; exit 1 ;;
esac
case "$1" in
  present) curl -sf -d '{{"host":"'"$2"'","value":"'"$3"'"}}' http://127.0.0.1:{port}/set-txt ;;
  cleanup) curl -sf -d '{{"host":"'"$2"'"}}' http://127.0.0.1:{port}/clear-txt ;;
  *) echo "unknown action $1" >&2; exit 2 ;;
esac
""".format(calls=calls, port=chall_mgmt))
        os.chmod(hook, 0o755)
        return hook, calls

    # ---- tests ----

    def test_rfc2136_wildcard(self):
        origin, origin_port = self.start_origin()
        dns_port, keyfile = self.start_named("wild.test")
        http_port = harness.free_port()
        directory, ca_file, mgmt = self.start_pebble(http_port,
                                                     dns_server="127.0.0.1:%d" % dns_port)
        state = self.path("edge-state")
        edge = self.start_acme_edge(state, http_port, directory, ca_file, extra=[
            "--acme-dns-rfc2136", "127.0.0.1:%d" % dns_port, "--acme-dns-tsig-file", keyfile])
        fallback = self.served(edge, "a.wild.test")
        token = self.create_tunnel(edge, "app", ["*.wild.test"])
        self.start_connector(self.write_token(token), url="http://127.0.0.1:%d" % origin_port,
                             ha=1)
        edge.proc.wait_for(r"acme certificate issued host=\*\.wild\.test", timeout=90)
        self.assertNotIn("readable by others", edge.proc.read())  # the key is 0600
        self.assertIn("acme dns-01 record added name=_acme-challenge.wild.test zone=wild.test",
                      edge.proc.read())
        root = self.pebble_root(mgmt, ca_file)

        # The SAN is the wildcard, verified for a name under it; the route works through it.
        self.assertEqual(self.served_names(edge, "a.wild.test", root), ["*.wild.test"])
        self.assertNotEqual(self.served(edge, "b.wild.test"), fallback)
        data = self.get_verified(edge, "a.wild.test", root)
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:200])
        # One label only: the bare zone and a deeper name keep the fallback.
        self.assertEqual(self.served(edge, "x.y.wild.test"), fallback)

        # The record is withdrawn once the challenge is done.
        edge.proc.wait_for(r"acme dns-01 record deleted name=_acme-challenge\.wild\.test")
        self.assertEqual(self.dig_txt(dns_port, "_acme-challenge.wild.test"), "")

        self.assertIn("Pebble Intermediate", self.cert_line(state, "*.wild.test"))
        crt = os.path.join(state, "acme", "certs", "_wildcard.wild.test.crt")
        self.assertEqual(stat.S_IMODE(os.stat(crt).st_mode), 0o600)

        # A restart serves the stored wildcard certificate without a new order.
        issued = self.served(edge, "a.wild.test")
        edge.proc.stop()
        edge = self.start_acme_edge(state, http_port, directory, ca_file, extra=[
            "--acme-dns-rfc2136", "127.0.0.1:%d" % dns_port, "--acme-dns-tsig-file", keyfile])
        edge.proc.wait_for(r"acme certificate loaded host=\*\.wild\.test")
        self.assertEqual(self.served(edge, "c.wild.test"), issued)
        self.assertEqual(edge.proc.count(r"acme order host="), 0)

    def test_hook_and_a_failing_hook(self):
        origin, origin_port = self.start_origin()
        http_port = harness.free_port()
        directory, ca_file, mgmt = self.start_pebble(http_port)
        hook, calls = self.write_hook(self.chall_mgmt)
        state = self.path("edge-state")
        edge = self.start_acme_edge(state, http_port, directory, ca_file,
                                    extra=["--acme-dns-hook", hook])
        fallback = self.served(edge, "a.bad.test")
        token = self.create_tunnel(edge, "app", ["*.bad.test", "*.good.test", "plain.test"])
        self.start_connector(self.write_token(token), url="http://127.0.0.1:%d" % origin_port,
                             ha=1)
        edge.proc.wait_for(r"acme certificate failed host=\*\.bad\.test[^\n]*", timeout=90)
        edge.proc.wait_for(r"acme certificate issued host=\*\.good\.test", timeout=90)
        edge.proc.wait_for(r"acme certificate issued host=plain\.test", timeout=90)
        root = self.pebble_root(mgmt, ca_file)

        # The good wildcard by the hook, the exact name by HTTP-01: both verified.
        self.assertEqual(self.served_names(edge, "a.good.test", root), ["*.good.test"])
        self.assertEqual(self.served_names(edge, "plain.test", root), ["plain.test"])
        # The name whose hook failed keeps the fallback; the hook's words are its error.
        self.assertEqual(self.served(edge, "a.bad.test"), fallback)
        self.assertIn("no zone for _acme-challenge.bad.test. at this provider",
                      self.cert_line(state, "*.bad.test"))
        failed = re.search(r"acme certificate failed host=\*\.bad\.test[^\n]*",
                           edge.proc.read()).group(0)
        self.assertIn("exit 1", failed)

        with open(calls) as f:
            lines = f.read().splitlines()
        good = [l for l in lines if "good.test" in l]
        self.assertEqual([l.split()[:2] for l in good],
                         [["present", "_acme-challenge.good.test."],
                          ["cleanup", "_acme-challenge.good.test."]])
        self.assertEqual(good[0].split()[2], good[1].split()[2])  # the same value
        # A record the hook could not set is not cleaned up.
        self.assertTrue(any(l.startswith("present _acme-challenge.bad.test. ") for l in lines))
        self.assertFalse(any(l.startswith("cleanup _acme-challenge.bad.test.") for l in lines))

    def test_stopping_edge_ends_a_hanging_hook(self):
        http_port = harness.free_port()
        directory, ca_file, mgmt = self.start_pebble(http_port)
        pid_file = self.path("hook.pid")
        hook = self.path("hang-hook")
        with open(hook, "w") as f:
            f.write("#!/bin/sh\necho $$ > %s.tmp && mv %s.tmp %s\nexec sleep 300\n"
                    % (pid_file, pid_file, pid_file))
        os.chmod(hook, 0o755)
        state = self.path("edge-state")
        edge = self.start_acme_edge(state, http_port, directory, ca_file,
                                    extra=["--acme-dns-hook", hook])
        self.create_tunnel(edge, "app", ["*.slow.test"])
        harness.poll(lambda: os.path.exists(pid_file), 60, what="the hook to run")
        with open(pid_file) as f:
            hook_pid = int(f.read())
        # SIGTERM: the edge ends the hook (and what it started) and exits, well before the
        # hook's own 2 minutes.
        start = time.monotonic()
        os.kill(edge.proc.pid, signal.SIGTERM)
        self.assertEqual(edge.proc.popen.wait(timeout=15), 0, edge.proc.tail())
        self.assertLess(time.monotonic() - start, 10)
        self.assertFalse(os.path.exists("/proc/%d" % hook_pid))

    def test_wildcard_without_dns01_is_logged_once(self):
        state = self.path("edge-state")
        edge = self.start_edge(
            state_dir=state,
            extra=["--https", "127.0.0.1:0", "--acme-email", "ops@example.net",
                   "--acme-directory", "https://127.0.0.1:1/dir"])
        edge.https_port = int(re.search(r"https=127\.0\.0\.1:(\d+)", edge.proc.read()).group(1))
        fallback = self.served(edge, "a.zone.test")
        self.create_tunnel(edge, "app", ["*.zone.test"])
        edge.proc.wait_for(r"acme certificate failed host=\*\.zone\.test error=needs DNS-01")
        # An exact name afterwards: its failure (nothing listens on port 1) comes passes later.
        self.route(edge, "app", "x.test")
        edge.proc.wait_for(r"acme certificate failed host=x\.test", timeout=30)
        self.assertEqual(edge.proc.count(r"host=\*\.zone\.test"), 1)
        self.assertEqual(self.served(edge, "a.zone.test"), fallback)
        self.assertIn("needs DNS-01", self.cert_line(state, "*.zone.test"))

    def test_bad_dns_flags_are_refused(self):
        state = self.path("state")
        good_key = self.path("good.key")
        with open(good_key, "w") as f:
            subprocess.run([TSIG_KEYGEN, "-a", "hmac-sha256", "k"], stdout=f, check=True,
                           timeout=10)
        md5_key = self.path("md5.key")
        with open(md5_key, "w") as f:
            f.write('key "k" { algorithm hmac-md5; secret "c2VjcmV0c2VjcmV0c2VjcmV0"; };\n')
        not_exec = self.path("hook.txt")
        with open(not_exec, "w") as f:
            f.write("#!/bin/sh\n")
        base = ["edge", "--state-dir", state, "--http", "127.0.0.1:0", "--https", "127.0.0.1:0",
                "--tunnel", "127.0.0.1:0"]
        acme = ["--acme-email", "a@b.test"]
        missing = self.path("missing.key")
        cases = [
            (acme + ["--acme-dns-rfc2136", "127.0.0.1:53", "--acme-dns-tsig-file", missing],
             "--acme-dns-tsig-file: "),
            (acme + ["--acme-dns-rfc2136", "127.0.0.1:53", "--acme-dns-tsig-file", md5_key],
             "--acme-dns-tsig-file %s: key \"k\": algorithm hmac-md5 is not supported" % md5_key),
            (acme + ["--acme-dns-rfc2136", "127.0.0.1:53"],
             "--acme-dns-rfc2136 and --acme-dns-tsig-file go together"),
            (acme + ["--acme-dns-tsig-file", good_key],
             "--acme-dns-rfc2136 and --acme-dns-tsig-file go together"),
            (acme + ["--acme-dns-rfc2136", "127.0.0.1:53", "--acme-dns-tsig-file", good_key,
                     "--acme-dns-hook", "/bin/true"],
             "--acme-dns-rfc2136 and --acme-dns-hook exclude each other"),
            (acme + ["--acme-dns-hook", not_exec], "is not executable"),
            (acme + ["--acme-dns-hook", "true"], "must be a path to an executable"),
            (["--acme-dns-hook", "/bin/true"], "need --acme-email"),
        ]
        for extra, want in cases:
            r = self.burrow(*(base + extra), timeout=10)
            self.assertNotEqual(r.returncode, 0, extra)
            self.assertIn(want, r.stderr, extra)
            self.assertNotIn("edge ready", r.stderr, extra)
        self.assertIn(missing, self.burrow(*(base + cases[0][0]), timeout=10).stderr)

        # A key file others can read is said at start, not refused.
        os.chmod(good_key, 0o644)
        edge = self.start_edge(state_dir=state, extra=[
            "--https", "127.0.0.1:0", "--acme-email", "a@b.test",
            "--acme-directory", "https://127.0.0.1:1/dir",
            "--acme-dns-rfc2136", "127.0.0.1:53", "--acme-dns-tsig-file", good_key])
        self.assertRegex(edge.proc.read(), r"acme tsig key file is readable by others path=%s "
                         r"mode=644" % re.escape(good_key))


if __name__ == "__main__":
    harness.main()
