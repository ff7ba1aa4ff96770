#!/usr/bin/env python3
"""The edge's https listener under attack while it serves a certificate it got by ACME (from
pebble, as in test_acme.py): connections that never finish their handshake, half a
ClientHello, plain HTTP or junk on the TLS port, a flood of handshakes naming hostnames that
are not routed (none of which may make the edge order a certificate), and a flood from one
address beyond its connection cap. Beside every attacker a well-behaved client names the
routed hostname, verifies pebble's chain and gets its page through the tunnel, quickly."""

import os
import random
import re
import socket
import ssl
import string
import threading
import time

import harness
import test_acme

HELLO = b"hello from origin path=/hello"
ATTACKER = "127.0.0.2"  # the floods come from here; the good client from 127.0.0.1


def client_hello_prefix():
    """The first bytes of a real ClientHello (made by Python's ssl, never sent whole)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="good.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    return hello[: len(hello) // 2]


class HostileTlsTest(test_acme.AcmeCase):  # pebble and the ACME edge, as test_acme.py
    def open_stalled(self, port, n, first_bytes=b""):
        """n connections from ATTACKER that send `first_bytes` and then nothing."""
        socks = []
        for _ in range(n):
            s = socket.socket()
            self.addCleanup(s.close)
            s.bind((ATTACKER, 0))
            s.settimeout(5)
            try:
                s.connect((harness.LOOPBACK, port))
                if first_bytes:
                    s.sendall(first_bytes)
            except OSError:
                s.close()
                continue
            socks.append(s)
        return socks

    def assert_good_client_served(self, edge, root, times=3, within=3.0):
        for _ in range(times):
            t0 = time.monotonic()
            data = self.get_verified(edge, "good.test", root)
            took = time.monotonic() - t0
            self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:200])
            self.assertIn(HELLO, data)
            self.assertLess(took, within, "the good client waited %.1f s" % took)

    def test_attacks_on_the_tls_listener_leave_the_good_client_served(self):
        origin, origin_port = self.start_origin()
        http_port = harness.free_port()
        directory, ca_file, mgmt = self.start_pebble(http_port)
        state = self.path("edge-state")
        metrics = harness.free_port()
        # A small per-address cap (the flood below reaches it) and metrics.
        edge = self.start_edge(
            state_dir=state, http="127.0.0.1:%d" % http_port,
            extra=["--https", "127.0.0.1:0", "--acme-email", "ops@example.net",
                   "--acme-directory", directory, "--acme-ca-file", ca_file,
                   "--max-connections-per-client", "64", "--metrics", "127.0.0.1:%d" % metrics])
        edge.https_port = int(re.search(r"https=127\.0\.0\.1:(\d+)", edge.proc.read()).group(1))
        token = self.create_tunnel(edge, "app", ["good.test"])
        self.start_connector(self.write_token(token), url="http://127.0.0.1:%d" % origin_port,
                             ha=1)
        edge.proc.wait_for(r"acme certificate issued host=good\.test", timeout=60)
        root = self.pebble_root(mgmt, ca_file)
        self.assert_good_client_served(edge, root)
        port = edge.https_port

        # 1. Connections that say nothing, and connections that stop halfway through their
        #    ClientHello: 30 + 30, under the cap of 64 from one address.
        silent = self.open_stalled(port, 30)
        half = self.open_stalled(port, 30, client_hello_prefix())
        self.assertEqual(len(silent) + len(half), 60)
        self.assert_good_client_served(edge, root)

        # 2. Plain HTTP and junk on the TLS port: refused, the connection closed at once.
        for junk in (b"GET / HTTP/1.1\r\nHost: good.test\r\n\r\n", os.urandom(4096),
                     b"\x16\x03\x01\xff\xff" + b"\x00" * 64):
            with socket.create_connection((harness.LOOPBACK, port), timeout=10) as s:
                s.sendall(junk)
                try:
                    got = s.recv(4096)
                    while got and not got.startswith(b"HTTP/"):  # a TLS alert, then the end
                        more = s.recv(4096)
                        if not more:
                            break
                        got += more
                except ConnectionResetError:
                    got = b""
                self.assertFalse(got.startswith(b"HTTP/"), got[:100])
        self.assert_good_client_served(edge, root)

        # 3. Beyond the cap from the attacker's address: refused, the good client still served.
        extra = self.open_stalled(port, 40)
        time.sleep(1)  # well within the 10 s handshake limit: only the cap closes them now
        refused = 40 - len(extra)  # reset while connecting: refused too
        for s in extra:
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    refused += 1
            except ConnectionResetError:
                refused += 1
            except BlockingIOError:
                pass
        self.assertGreaterEqual(refused, 30, "connections past the cap of 64 were not refused")
        self.assert_good_client_served(edge, root)

        # 4. Handshakes naming hostnames nobody routed, from many threads: each gets the
        #    fallback certificate, and none makes the edge order one.
        fallback = self.served(edge, "nobody.test")
        names = ["".join(random.choice(string.ascii_lowercase) for _ in range(12)) + ".test"
                 for _ in range(200)]
        errors = []

        def shake(batch):
            for name in batch:
                try:
                    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                    with socket.create_connection((harness.LOOPBACK, port), timeout=10) as raw:
                        with ctx.wrap_socket(raw, server_hostname=name) as tls:
                            if tls.getpeercert(binary_form=True) != fallback:
                                errors.append("%s: not the fallback certificate" % name)
                except OSError as e:
                    errors.append("%s: %r" % (name, e))

        threads = [threading.Thread(target=shake, args=(names[i::8],)) for i in range(8)]
        for t in threads:
            t.start()
        self.assert_good_client_served(edge, root)
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        time.sleep(2)  # the ACME thread looks at the routes every second
        self.assertEqual(edge.proc.count(r"acme order host=(?!good\.test)"), 0,
                         edge.proc.tail())
        listed = [l.split()[0] for l in self.cert_list(state).splitlines()
                  if l.split() and l.split()[0].endswith(".test")]
        self.assertEqual(listed, ["good.test"])

        # 5. The stalled handshakes are closed by the edge after its 10 s handshake limit.
        def closed(s):
            try:
                s.settimeout(0.5)
                return s.recv(1) == b""
            except ConnectionResetError:
                return True
            except socket.timeout:
                return False

        deadline = time.monotonic() + 20
        open_ones = silent + half
        while open_ones and time.monotonic() < deadline:
            open_ones = [s for s in open_ones if not closed(s)]
        self.assertEqual(len(open_ones), 0, "stalled handshakes still open after 20 s")
        text = harness.http_request(metrics, "/metrics").body.decode()
        failed = re.search(r'burrow_edge_tls_handshakes_total\{result="failed"\} (\d+)', text)
        self.assertIsNotNone(failed, text[:500])
        self.assertGreaterEqual(int(failed.group(1)), 60 + 3)
        self.assertTrue(edge.proc.alive())
        self.assert_good_client_served(edge, root)


if __name__ == "__main__":
    harness.main()
