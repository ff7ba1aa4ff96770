#!/usr/bin/env python3
"""`burrow edge --metrics ADDR`: /ready, and Prometheus counters checked for content —
requests by tunnel and status code, bytes, requests in flight, client connections, live
connector connections by tunnel, TLS handshakes by result, connections refused by limit (with
a well-behaved client served beside the refused ones). Loopback addresses only."""

import re
import socket
import ssl
import time

import harness


def value(text, name, labels=""):
    m = re.search(r"(?m)^%s%s (\d+)$" % (re.escape(name), re.escape(labels)), text)
    return int(m.group(1)) if m else None


class EdgeMetricsTest(harness.BurrowTestCase):
    def scrape(self, port):
        r = harness.http_request(port, "/metrics", host="127.0.0.1")
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        return r.body.decode()

    def test_counters_by_tunnel_code_and_limit(self):
        origin, origin_port = self.start_origin()
        port = harness.free_port()
        edge = self.start_edge(extra=["--metrics", "127.0.0.1:%d" % port, "--https", "127.0.0.1:0",
                                      "--max-connections-per-client", "3"])
        self.assertIn("metrics=127.0.0.1:%d" % port, edge.proc.read())
        https_port = int(re.search(r"https=127\.0\.0\.1:(\d+)", edge.proc.read()).group(1))
        r = harness.http_request(port, "/ready", host="127.0.0.1")
        self.assertEqual((r.status, r.body), (200, b'{"status":200}\n'))
        self.assertEqual(harness.http_request(port, "/nothing", host="127.0.0.1").status, 404)

        token = self.create_tunnel(edge, "app", ["app.test"])
        self.reload_edge(edge, "app.test")
        conn = self.start_connector(self.write_token(token),
                                    url="http://127.0.0.1:%d" % origin_port, ha=2)
        before = self.scrape(port)
        ok_before = value(before, "burrow_edge_requests_total", '{tunnel="app",code="200"}') or 0
        bytes_before = value(before, "burrow_edge_response_bytes_total", '{tunnel="app"}') or 0
        sent = 0
        for _ in range(3):
            r = self.get(edge, "/bytes/1000", "app.test")
            self.assertBody(r, 200)
            sent += len(r.body)
        self.assertBody(self.get(edge, "/status/418", "app.test"), 418)
        self.assertBody(self.get(edge, "/", "unrouted.test"), 404)
        text = self.scrape(port)
        self.assertIn("# TYPE burrow_edge_requests_total counter", text)
        self.assertEqual(value(text, "burrow_edge_requests_total", '{tunnel="app",code="200"}'),
                         ok_before + 3)
        self.assertEqual(value(text, "burrow_edge_requests_total", '{tunnel="app",code="418"}'), 1)
        self.assertGreaterEqual(value(text, "burrow_edge_requests_total",
                                      '{tunnel="",code="404"}'), 1)
        self.assertGreaterEqual(value(text, "burrow_edge_response_bytes_total", '{tunnel="app"}'),
                                bytes_before + sent)
        self.assertEqual(value(text, "burrow_edge_tunnel_connections", '{tunnel="app"}'), 2)
        self.assertEqual(value(text, "burrow_edge_requests_in_flight"), 0)
        self.assertNotIn("app.test", text)  # no hostname labels

        # TLS: one good handshake (the edge's own certificate), one that fails.
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", https_port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="app.test") as tls:
                tls.sendall(b"GET /hello HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
                self.assertIn(b" 200 ", tls.recv(100))
        with socket.create_connection(("127.0.0.1", https_port), timeout=5) as raw:
            raw.sendall(b"this is not a TLS client hello\r\n\r\n")
            raw.recv(100)
        harness.poll(lambda: value(self.scrape(port), "burrow_edge_tls_handshakes_total",
                                   '{result="failed"}') == 1, 5, what="the failed handshake")
        text = self.scrape(port)
        self.assertEqual(value(text, "burrow_edge_tls_handshakes_total", '{result="ok"}'), 1)

        # Three idle connections from 127.0.0.1 fill its share; the fourth is refused, and
        # a client from 127.0.0.2 is served beside them.
        held = [socket.create_connection(("127.0.0.1", edge.http_port)) for _ in range(3)]
        harness.poll(lambda: value(self.scrape(port), "burrow_edge_client_connections") >= 3, 5,
                     what="three open client connections")
        extra = socket.create_connection(("127.0.0.1", edge.http_port))
        extra.settimeout(5)
        try:
            self.assertIn(extra.recv(10), (b"",))
        except ConnectionResetError:
            pass
        extra.close()
        other = socket.create_connection(("127.0.0.1", edge.http_port),
                                         source_address=("127.0.0.2", 0))
        other.sendall(b"GET /hello HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n")
        other.settimeout(5)
        self.assertIn(b" 200 ", other.recv(100))
        other.close()
        text = self.scrape(port)
        self.assertEqual(value(text, "burrow_edge_refused_connections_total",
                               '{limit="max_connections_per_client"}'), 1)
        self.assertEqual(value(text, "burrow_edge_refused_connections_total",
                               '{limit="max_connections"}'), 0)
        for s in held:
            s.close()

        conn.stop()
        harness.poll(lambda: value(self.scrape(port), "burrow_edge_tunnel_connections",
                                   '{tunnel="app"}') is None, 10,
                     what="the connector's connections to leave the metrics")

    def test_loopback_only(self):
        r = self.burrow("edge", "--state-dir", self.path("state"), "--http", "127.0.0.1:0",
                        "--tunnel", "127.0.0.1:0", "--metrics", "0.0.0.0:0", timeout=10)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("--metrics '0.0.0.0:0': the metrics listener binds loopback addresses only",
                      r.stderr)
        self.assertNotIn("edge ready", r.stderr)


if __name__ == "__main__":
    harness.main()
