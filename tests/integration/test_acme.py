#!/usr/bin/env python3
"""`burrow edge --acme-email`: certificates for routed names from an ACME server (pebble,
with pebble-challtestsrv as its DNS answering 127.0.0.1 for every name) by HTTP-01 on the
edge's http listener, served by SNI on its https listener; a name whose challenge fails gets
the fallback certificate and a log line while the other is served; a restart reuses the
stored certificate without a new order; short-lived certificates are renewed; `edge cert
list` shows them. Bad flags are refused before anything starts."""

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request

import harness

PEBBLE = shutil.which("pebble") or "/usr/bin/pebble"
CHALLTESTSRV = shutil.which("pebble-challtestsrv") or "/usr/bin/pebble-challtestsrv"


def _connectable(port):
    try:
        with socket.create_connection((harness.LOOPBACK, port), timeout=1):
            return True
    except OSError:
        return False


class AcmeCase(harness.BurrowTestCase):
    """pebble, challtestsrv and an edge using them; no tests of its own (test_acme_dns.py
    builds on it)."""

    def setUp(self):
        super().setUp()
        if not (os.access(PEBBLE, os.X_OK) and os.access(CHALLTESTSRV, os.X_OK)):
            self.skipTest("pebble is not installed (Debian package pebble; scripts/deps test)")

    # ---- pebble ----

    def make_pebble_tls(self):
        """A CA and a certificate for 127.0.0.1 that pebble serves its API with."""
        d = self.path("pebble-tls")
        os.makedirs(d)
        run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True,
                                        cwd=d, timeout=30)
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=api test CA")
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "api.key", "-out", "api.csr", "-subj", "/CN=127.0.0.1")
        with open(os.path.join(d, "ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        run("x509", "-req", "-in", "api.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "api.pem", "-days", "2", "-extfile", "ext")
        return d

    def start_pebble(self, http_port, validity=None, dns_server=None, tls_port=None):
        """Starts challtestsrv and pebble; returns (directory URL, CA file, management port).
        pebble validates HTTP-01 on HTTP_PORT and TLS-ALPN-01 on TLS_PORT; it resolves
        through challtestsrv, or through DNS_SERVER (host:port) when given."""
        tls = self.make_pebble_tls()
        dns_port, chall_mgmt = harness.free_port(), harness.free_port()
        chall = self.spawn("challtestsrv", [
            CHALLTESTSRV, "-http01", "", "-https01", "", "-tlsalpn01", "",
            "-dns01", "127.0.0.1:%d" % dns_port, "-management", "127.0.0.1:%d" % chall_mgmt,
            "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
        harness.poll(lambda: _connectable(chall_mgmt) or not chall.alive(), 10,
                     what="challtestsrv")
        self.assertTrue(chall.alive(), chall.tail())
        api_port, mgmt_port = harness.free_port(), harness.free_port()
        conf = {"pebble": {
            "listenAddress": "127.0.0.1:%d" % api_port,
            "managementListenAddress": "127.0.0.1:%d" % mgmt_port,
            "certificate": os.path.join(tls, "api.pem"),
            "privateKey": os.path.join(tls, "api.key"),
            "httpPort": http_port, "tlsPort": tls_port or harness.free_port(),
            "ocspResponderURL": "", "externalAccountBindingRequired": False}}
        if validity:
            conf["pebble"]["certificateValidityPeriod"] = validity
        path = self.path("pebble.json")
        with open(path, "w") as f:
            json.dump(conf, f)
        env = harness.clean_env({"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"})
        pebble = self.spawn("pebble", [PEBBLE, "-config", path,
                                       "-dnsserver", dns_server or "127.0.0.1:%d" % dns_port],
                            env=env)
        pebble.wait_for(r"ACME directory available at", stream="stdout", timeout=20)
        self.pebble = pebble
        self.chall_mgmt = chall_mgmt
        return ("https://127.0.0.1:%d/dir" % api_port, os.path.join(tls, "ca.pem"), mgmt_port)

    def pebble_root(self, mgmt_port, ca_file):
        ctx = ssl.create_default_context(cafile=ca_file)
        with urllib.request.urlopen("https://127.0.0.1:%d/roots/0" % mgmt_port, context=ctx,
                                    timeout=10) as r:
            return r.read().decode()

    def point(self, host, address):
        """Makes challtestsrv answer `address` for HOST's A record."""
        req = urllib.request.Request(
            "http://127.0.0.1:%d/add-a" % self.chall_mgmt,
            data=json.dumps({"host": host + ".", "addresses": [address]}).encode(),
            method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertEqual(r.status, 200)

    # ---- the edge ----

    def start_acme_edge(self, state, http_port, directory, ca_file, extra=(), https_port=0):
        """HTTP_PORT None: no plain-HTTP listener (TLS-ALPN-01)."""
        edge = self.start_edge(
            state_dir=state, http=http_port and "127.0.0.1:%d" % http_port,
            extra=["--https", "127.0.0.1:%d" % https_port, "--acme-email", "ops@example.net",
                   "--acme-directory", directory, "--acme-ca-file", ca_file, *extra])
        edge.https_port = int(re.search(r"https=127\.0\.0\.1:(\d+)", edge.proc.read()).group(1))
        return edge

    def served(self, edge, host):
        """The DER of the leaf the https listener shows for SNI HOST (not verified)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection((harness.LOOPBACK, edge.https_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as tls:
                return tls.getpeercert(binary_form=True)

    def get_verified(self, edge, host, root_pem):
        """GET / over TLS with SNI HOST, verifying the chain to pebble's root and the name."""
        ctx = ssl.create_default_context(cadata=root_pem)
        with socket.create_connection((harness.LOOPBACK, edge.https_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as tls:
                tls.sendall(("GET /hello HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                             % host).encode())
                data = b""
                while True:
                    chunk = tls.recv(4096)
                    if not chunk:
                        return data
                    data += chunk

    def cert_list(self, state):
        return self.burrow("edge", "cert", "list", "--state-dir", state, check=True).stdout


class AcmeTest(AcmeCase):
    def test_issues_serves_falls_back_and_reuses(self):
        origin, origin_port = self.start_origin()
        http_port = harness.free_port()
        directory, ca_file, mgmt = self.start_pebble(http_port)
        state = self.path("edge-state")
        edge = self.start_acme_edge(state, http_port, directory, ca_file)
        fallback = self.served(edge, "good.test")

        self.point("bad.test", "127.0.0.2")  # nothing answers HTTP-01 there
        token = self.create_tunnel(edge, "app", ["good.test", "bad.test"])
        self.start_connector(self.write_token(token), url="http://127.0.0.1:%d" % origin_port,
                             ha=1)
        edge.proc.wait_for(r"acme certificate issued host=good\.test", timeout=60)
        edge.proc.wait_for(r"acme certificate failed host=bad\.test[^\n]*error=[^\n]*",
                           timeout=60)
        root = self.pebble_root(mgmt, ca_file)

        # good.test: pebble's chain, the name checked by Python's ssl; the route still works.
        data = self.get_verified(edge, "good.test", root)
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:200])
        issued = self.served(edge, "good.test")
        self.assertNotEqual(issued, fallback)
        # bad.test: the fallback certificate, which pebble's root does not vouch for.
        self.assertEqual(self.served(edge, "bad.test"), fallback)
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.get_verified(edge, "bad.test", root)

        listing = self.cert_list(state)
        good = [l for l in listing.splitlines() if l.startswith("good.test ")]
        bad = [l for l in listing.splitlines() if l.startswith("bad.test ")]
        self.assertEqual(len(good), 1, listing)
        self.assertIn("Pebble Intermediate", good[0])
        self.assertEqual(len(bad), 1, listing)
        self.assertIn("challenge failed", bad[0])

        for name in ("account.key", "certs/good.test.crt", "certs/good.test.key"):
            mode = os.stat(os.path.join(state, "acme", name)).st_mode & 0o777
            self.assertEqual(mode, 0o600, name)

        # A restart serves the stored certificate and orders nothing for it.
        edge.proc.stop()
        edge = self.start_acme_edge(state, http_port, directory, ca_file)
        edge.proc.wait_for(r"acme certificate loaded host=good\.test")
        self.assertEqual(self.served(edge, "good.test"), issued)
        # bad.test keeps its backoff across the restart (no new order before it ends);
        # good.test is not ordered at all.
        edge.proc.wait_for(r"acme backoff kept host=bad\.test failures=1 retry_in_s=\d+")
        time.sleep(2)  # a measurement window of two issuer passes, not synchronisation
        self.assertEqual(edge.proc.count(r"acme order host=(bad|good)\.test"), 0,
                         edge.proc.tail())
        with open(os.path.join(state, "acme", "certs", "bad.test.retry")) as f:
            attempts, next_unix = f.read().split()
        self.assertEqual(attempts, "1")
        self.assertGreater(int(next_unix), time.time())

    def test_tls_alpn_01_without_plain_http(self):
        """An edge with no http listener gets its certificates by TLS-ALPN-01 on its https
        listener (pebble validates on that port)."""
        https_port = harness.free_port()
        directory, ca_file, mgmt = self.start_pebble(harness.free_port(), tls_port=https_port)
        state = self.path("edge-state")
        edge = self.start_acme_edge(state, None, directory, ca_file, https_port=https_port)
        self.assertIsNone(edge.http_port)
        fallback = self.served(edge, "alpn.test")
        self.create_tunnel(edge, "app", ["alpn.test"])
        edge.proc.wait_for(r"acme challenge host=alpn\.test type=tls-alpn-01", timeout=60)
        edge.proc.wait_for(r"acme certificate issued host=alpn\.test", timeout=60)
        issued = self.served(edge, "alpn.test")
        self.assertNotEqual(issued, fallback)
        root = self.pebble_root(mgmt, ca_file)
        ctx = ssl.create_default_context(cadata=root)
        with socket.create_connection((harness.LOOPBACK, edge.https_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="alpn.test") as tls:
                self.assertEqual(tls.getpeercert()["subjectAltName"], (("DNS", "alpn.test"),))
        # With the challenge withdrawn, a client offering acme-tls/1 gets the issued
        # certificate and no protocol (the validation's certificate is gone).
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["acme-tls/1"])
        with socket.create_connection((harness.LOOPBACK, edge.https_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="alpn.test") as tls:
                self.assertEqual(tls.getpeercert(binary_form=True), issued)
                self.assertIsNone(tls.selected_alpn_protocol())

    def test_renews_short_lived_certificates(self):
        origin, origin_port = self.start_origin()
        http_port = harness.free_port()
        directory, ca_file, mgmt = self.start_pebble(http_port, validity=12)
        state = self.path("edge-state")
        edge = self.start_acme_edge(state, http_port, directory, ca_file)
        self.create_tunnel(edge, "app", ["renew.test"])
        edge.proc.wait_for(r"acme certificate issued host=renew\.test", timeout=60)
        first = self.served(edge, "renew.test")
        # Two thirds of 12s: a new one within about 8s, installed without a restart.
        edge.proc.wait_for(r"acme certificate issued host=renew\.test", count=2, timeout=60)
        harness.poll(lambda: self.served(edge, "renew.test") != first, 10,
                     what="the renewed certificate to be served")

    def test_bad_flags_are_refused(self):
        state = self.path("state")
        base = ["edge", "--state-dir", state, "--http", "127.0.0.1:0", "--https", "127.0.0.1:0",
                "--tunnel", "127.0.0.1:0"]
        cases = [
            (["--acme-directory", "https://127.0.0.1:1/dir"],
             "--acme-directory, --acme-ca-file and --acme-dns-* need --acme-email"),
            (["--acme-email", "a@b.test", "--acme-ca-file", self.path("missing.pem")],
             "--acme-ca-file"),
            (["--acme-email", "a@b.test", "--acme-directory", "http://127.0.0.1:1/dir"],
             "--acme-directory must be an https:// URL"),
            (["--acme-email", "nobody"], "is not an email address"),
        ]
        for extra, want in cases:
            r = self.burrow(*(base + extra), timeout=10)
            self.assertNotEqual(r.returncode, 0, extra)
            self.assertIn(want, r.stderr, extra)
            self.assertNotIn("edge ready", r.stderr, extra)
        r = self.burrow("edge", "--state-dir", state, "--http", "127.0.0.1:0", "--tunnel",
                        "127.0.0.1:0", "--acme-email", "a@b.test", timeout=10)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--acme-email needs --https", r.stderr)


if __name__ == "__main__":
    harness.main()
