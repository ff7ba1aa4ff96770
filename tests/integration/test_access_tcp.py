#!/usr/bin/env python3
"""Raw TCP through the tunnel: a `tcp://` route at the connector and `burrow access tcp` at
the client, carried as WebSocket streams over the edge's https listener, as cloudflared does.
An echo, 100 MB each way with SHA-256, several streams at once, stdin/stdout (an ssh
ProxyCommand), the edge's certificate checked against --ca-file (a wrong CA refused), a plain
HTTP request to the route answered 400, and a route that is not tcp:// refusing the stream."""

import hashlib
import socket
import subprocess
import threading
import time

import harness

SIZE = 100 * 1024 * 1024


def pattern(n):
    block = hashlib.sha256(b"burrow").digest() * 2048  # 64 KiB
    while n > 0:
        piece = block[:min(n, len(block))]
        n -= len(piece)
        yield piece


class Origin:
    """A TCP server on loopback: `echo` echoes; `sink` answers the SHA-256 of what it read;
    `source` sends SIZE bytes of a known pattern; `late` reads to the end, then answers 0.6 s
    later."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        with c:
            mode = b""
            while not mode.endswith(b"\n"):
                b = c.recv(1)
                if not b:
                    return
                mode += b
            if mode == b"echo\n":
                while True:
                    d = c.recv(65536)
                    if not d:
                        return
                    c.sendall(d)
            elif mode == b"sink\n":
                h = hashlib.sha256()
                while True:
                    d = c.recv(1 << 20)
                    if not d:
                        break
                    h.update(d)
                c.sendall(h.hexdigest().encode())
            elif mode == b"late\n":
                while c.recv(65536):
                    pass
                time.sleep(0.6)  # past two of the edge's 250 ms checks for a client gone
                c.sendall(b"late answer")
            elif mode == b"source\n":
                for piece in pattern(SIZE):
                    c.sendall(piece)

    def close(self):
        self.sock.close()


def recv_all(s):
    out = bytearray()
    while True:
        d = s.recv(1 << 20)
        if not d:
            return bytes(out)
        out += d


class AccessTcpTest(harness.BurrowTestCase):
    def setUp(self):
        super().setUp()
        self.origin = Origin()
        self.addCleanup(self.origin.close)
        # A certificate for the route's name, trusted by the client through --ca-file.
        self.cert, self.key = self.path("tcp.crt"), self.path("tcp.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=tcp.test",
                        "-addext", "subjectAltName=DNS:tcp.test,DNS:web.test", "-keyout", self.key,
                        "-out", self.cert], check=True, capture_output=True)
        self.edge = self.start_edge(https="127.0.0.1:0", cert=self.cert, key=self.key)
        token = self.create_tunnel(self.edge, "app", ["tcp.test", "web.test"])
        self.reload_edge(self.edge, "tcp.test")
        web, web_port = self.start_origin()
        config = self.write_file("config.yml", "ingress:\n"
                                 "  - hostname: tcp.test\n    service: tcp://127.0.0.1:%d\n"
                                 "  - hostname: web.test\n    service: http://127.0.0.1:%d\n"
                                 "  - service: http_status:404\n" % (self.origin.port, web_port))
        self.start_connector(self.write_token(token), config=config, ha=2)
        self.edge_addr = "127.0.0.1:%d" % self.edge.https_port

    def start_access(self, hostname="tcp.test", extra=()):
        port = harness.free_port()
        p = self.spawn("access", [harness.BURROW, "access", "tcp", "--hostname", hostname,
                                  "--url", "127.0.0.1:%d" % port, "--edge", self.edge_addr,
                                  *extra])
        p.wait_for(r"access listening url=127\.0\.0\.1:%d" % port)
        return port

    def test_echo_and_100_mb_each_way(self):
        port = self.start_access(extra=["--ca-file", self.cert])
        # Several streams at once.
        socks = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(4)]
        for i, s in enumerate(socks):
            s.sendall(b"echo\nhello %d" % i)
        for i, s in enumerate(socks):
            want = b"hello %d" % i
            got = b""
            while len(got) < len(want):
                got += s.recv(100)
            self.assertEqual(got, want)
            s.close()
        # 100 MB up: the origin answers the SHA-256 of what arrived.
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        s.sendall(b"sink\n")
        h = hashlib.sha256()
        for piece in pattern(SIZE):
            s.sendall(piece)
            h.update(piece)
        s.shutdown(socket.SHUT_WR)
        self.assertEqual(recv_all(s).decode(), h.hexdigest())
        s.close()
        # 100 MB down.
        s = socket.create_connection(("127.0.0.1", port), timeout=60)
        s.sendall(b"source\n")
        got = hashlib.sha256()
        n = 0
        while True:
            d = s.recv(1 << 20)
            if not d:
                break
            got.update(d)
            n += len(d)
        s.close()
        want = hashlib.sha256()
        for piece in pattern(SIZE):
            want.update(piece)
        self.assertEqual((n, got.hexdigest()), (SIZE, want.hexdigest()))

    def test_stdin_stdout_for_an_ssh_proxy_command(self):
        r = subprocess.run([harness.BURROW, "access", "ssh", "--hostname", "tcp.test", "--edge",
                            self.edge_addr, "--ca-file", self.cert],
                           input=b"echo\nthrough stdin and stdout", capture_output=True,
                           timeout=30, env=harness.clean_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"through stdin and stdout")

    def test_refusals_say_why(self):
        # A CA that did not sign the edge's certificate.
        other = self.path("other.crt")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=other",
                        "-keyout", self.path("other.key"), "-out", other], check=True,
                       capture_output=True)
        r = self.burrow("access", "tcp", "--hostname", "tcp.test", "--edge", self.edge_addr,
                        "--ca-file", other, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("TLS with the edge %s failed" % self.edge_addr, r.stderr)
        self.assertIn("certificate verify failed", r.stderr)
        # A route that is not tcp://: the origin is asked for a WebSocket it does not serve.
        r = self.burrow("access", "tcp", "--hostname", "nothere.test", "--edge", self.edge_addr,
                        "--insecure", timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("the edge refused the stream for nothere.test: HTTP/1.1 404", r.stderr)
        r = self.burrow("access", "tcp", "--hostname", "tcp.test", "--edge", self.edge_addr,
                        "--insecure", "--ca-file", self.cert, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--insecure and --ca-file exclude each other", r.stderr)
        # Plain HTTP to a tcp:// route: 400, and what to use instead.
        c = self.curl("-sk", "--resolve", "tcp.test:%d:127.0.0.1" % self.edge.https_port,
                      "https://tcp.test:%d/" % self.edge.https_port, "-w", "\n%{http_code}")
        body, code = c.stdout.decode().rsplit("\n", 1)
        self.assertEqual((code, body), ("400", "400 Bad Request\n"))
        # The web route beside it is served as ever.
        c = self.curl("-sk", "--resolve", "web.test:%d:127.0.0.1" % self.edge.https_port,
                      "https://web.test:%d/hello" % self.edge.https_port, "-w", "%{http_code}")
        self.assertTrue(c.stdout.decode().endswith("200"), c.stdout)

    def test_tcp_service_needs_a_port(self):
        config = self.write_file("bad.yml", "ingress:\n  - hostname: x.test\n"
                                 "    service: tcp://127.0.0.1\n  - service: http_status:404\n")
        r = self.burrow("tunnel", "ingress", "validate", "--config", config)
        self.assertEqual(r.returncode, 1)
        self.assertIn("'tcp://127.0.0.1': a tcp:// service needs a port", r.stdout + r.stderr)
        config = self.write_file("ok.yml", "ingress:\n  - hostname: x.test\n"
                                 "    service: ssh://127.0.0.1\n  - service: http_status:404\n")
        r = self.burrow("tunnel", "ingress", "validate", "--config", config)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    harness.main()
