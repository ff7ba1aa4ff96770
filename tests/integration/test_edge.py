#!/usr/bin/env python3
"""The edge facing the internet: malformed and oversized request heads, garbage on the
tunnel port, the HTTPS listener (HTTP/1.1 and HTTP/2 by ALPN) — and after each, the edge
keeps serving everyone else."""

import os
import socket
import ssl
import subprocess
import threading

import harness

HELLO = b"hello from A path=/hello\n"


def raw_exchange(port, data, timeout=10):
    """Sends `data` on a fresh connection (from a thread, so a server that answers early
    and closes cannot block us) and returns everything received until close or timeout."""
    sock = socket.create_connection((harness.LOOPBACK, port), timeout=timeout)
    sent = {}

    def sender():
        try:
            sock.sendall(data)
        except OSError as e:  # the server may answer and close before reading it all
            sent["error"] = e

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    received = b""
    try:
        while True:
            piece = sock.recv(65536)
            if not piece:
                break
            received += piece
            if b"\r\n\r\n" in received and _complete(received):
                break
    except (ConnectionResetError, socket.timeout):
        pass
    finally:
        sock.close()
        t.join(timeout=timeout)
    return received


def _complete(data):
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            return len(body) >= int(v.strip() or b"0")
    return False


def status_of(response):
    line = response.split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise AssertionError("no HTTP status line in %r" % response[:200])
    return int(parts[1])


class EdgeTest(harness.BurrowTestCase):
    def setUp(self):
        super().setUp()
        _, self.origin_port = self.start_origin("A")
        self.config_text = ("ingress:\n  - hostname: app.test\n    service: http://127.0.0.1:%d\n"
                            "  - service: http_status:404\n" % self.origin_port)
        self.config = self.write_file("config.yml", self.config_text)

    def serving(self, edge):
        self.assertTrue(edge.proc.alive(), edge.proc.tail())
        self.assertBody(self.get(edge, "/hello", "app.test"), 200, HELLO)

    def test_malformed_heads_get_400(self):
        edge, _ = self.tunnel_to_origin(["app.test"], config_text=self.config_text)
        cases = {
            "header without colon": b"GET /hello HTTP/1.1\r\nHost app.test\r\n\r\n",
            "not a request line": b"THIS IS NOT HTTP\r\n\r\n",
            "bad content-length": b"POST /upload HTTP/1.1\r\nHost: app.test\r\n"
                                  b"Content-Length: abc\r\n\r\n",
            "two content-lengths": b"POST /upload HTTP/1.1\r\nHost: app.test\r\n"
                                   b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            "bad chunk size": b"POST /upload HTTP/1.1\r\nHost: app.test\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        }
        for name, data in cases.items():
            with self.subTest(case=name):
                resp = raw_exchange(edge.http_port, data)
                self.assertEqual(status_of(resp), 400, "%s: %r" % (name, resp[:300]))
                self.serving(edge)

    def test_oversized_head_gets_431(self):
        edge, _ = self.tunnel_to_origin(["app.test"], config_text=self.config_text)
        big = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"a" * 8000) for i in range(32))
        resp = raw_exchange(edge.http_port,
                            b"GET /hello HTTP/1.1\r\nHost: app.test\r\n" + big + b"\r\n")
        self.assertEqual(status_of(resp), 431, resp[:300])
        self.serving(edge)
        one_huge = b"X-Huge: " + b"b" * (256 * 1024) + b"\r\n"
        resp = raw_exchange(edge.http_port,
                            b"GET /hello HTTP/1.1\r\nHost: app.test\r\n" + one_huge + b"\r\n")
        self.assertEqual(status_of(resp), 431, resp[:300])
        self.serving(edge)

    def test_missing_host_is_400(self):
        edge, _ = self.tunnel_to_origin(["app.test"], config_text=self.config_text)
        resp = raw_exchange(edge.http_port, b"GET /hello HTTP/1.1\r\n\r\n")
        self.assertEqual(status_of(resp), 400, resp[:300])
        self.serving(edge)

    def test_garbage_on_tunnel_port(self):
        """Unauthenticated or broken tunnel peers are dropped; the edge stays up."""
        edge = self.start_edge()
        token = self.create_tunnel(edge, "app", ["app.test"])
        self.reload_edge(edge, "app.test")
        # Plain HTTP, random bytes, and a TLS client that speaks the wrong protocol.
        raw_exchange(edge.tunnel_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=5)
        raw_exchange(edge.tunnel_port, os.urandom(4096), timeout=5)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        try:
            with socket.create_connection((harness.LOOPBACK, edge.tunnel_port), timeout=5) as s:
                with ctx.wrap_socket(s) as tls:
                    tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + os.urandom(1024))
                    tls.recv(4096)
        except (OSError, ssl.SSLError):
            pass  # refusing the handshake or closing is fine; staying up is what counts
        self.assertTrue(edge.proc.alive(), edge.proc.tail())
        self.start_connector(self.write_token(token), config=self.config, ha=2)
        self.serving(edge)

    def make_cert(self, hostname):
        cert, key = self.path("edge.crt"), self.path("edge.key")
        r = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-days", "2", "-subj", "/CN=" + hostname,
             "-addext", "subjectAltName=DNS:" + hostname, "-keyout", key, "-out", cert],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        os.chmod(key, 0o600)
        return cert, key

    def test_https_listener_http1_and_http2(self):
        cert, key = self.make_cert("app.test")
        edge = self.start_edge(https="127.0.0.1:0", cert=cert, key=key)
        token = self.create_tunnel(edge, "app", ["app.test"])
        self.reload_edge(edge, "app.test")
        self.start_connector(self.write_token(token), config=self.config, ha=2)
        url = "https://app.test:%d" % edge.https_port
        resolve = "app.test:%d:127.0.0.1" % edge.https_port
        for flag, version in (("--http1.1", "1.1"), ("--http2", "2")):
            with self.subTest(http=version):
                r = self.curl("--cacert", cert, "--resolve", resolve, flag,
                              "-w", "\n%{http_code} %{http_version}", url + "/hello")
                self.assertEqual(r.returncode, 0, r.stderr)
                body, _, tail = r.stdout.rpartition(b"\n")
                self.assertEqual(tail.decode(), "200 " + version)
                self.assertEqual(body, HELLO)
        r = self.curl("--cacert", cert, "--resolve", resolve, "--http2", url + "/headers")
        self.assertEqual(r.returncode, 0, r.stderr)
        h = harness.json.loads(r.stdout)
        self.assertEqual(h.get("x-forwarded-proto"), "https")
        # The client's Host header as sent, port included.
        self.assertEqual(h.get("x-forwarded-host"), "app.test:%d" % edge.https_port)
        # Many streams on one HTTP/2 connection, bodies checked.
        outdir = self.path("h2")
        os.mkdir(outdir)
        args = ["--cacert", cert, "--resolve", resolve, "--http2", "--parallel",
                "--parallel-max", "50", "-w", "%{http_code}\n"]
        for i in range(50):
            args += ["-o", os.path.join(outdir, str(i)), "%s/bytes/%d" % (url, 5000 + i)]
        r = self.curl(*args)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode().split(), ["200"] * 50)
        for i in range(50):
            with open(os.path.join(outdir, str(i)), "rb") as f:
                want = b"".join(harness.test_origin.pattern_chunks(5000 + i))
                self.assertTrue(f.read() == want, "stream %d: wrong body" % i)


if __name__ == "__main__":
    harness.main()
