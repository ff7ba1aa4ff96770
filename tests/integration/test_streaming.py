#!/usr/bin/env python3
"""Long-lived exchanges through the tunnel: WebSocket echo and server-sent events that must
be flushed as they come, not when the response ends."""

import http.client
import os
import re
import signal
import subprocess
import time

import harness

import ws_client  # noqa: E402  (from the tools directory, put on sys.path by harness)


class StreamingTest(harness.BurrowTestCase):
    def setUp(self):
        super().setUp()
        _, self.origin_port = self.start_origin("A")
        config = "ingress:\n  - hostname: app.test\n    service: http://127.0.0.1:%d\n" \
                 "  - service: http_status:404\n" % self.origin_port
        self.edge, self.conn = self.tunnel_to_origin(["app.test"], config_text=config)
        self.ws_url = "ws://127.0.0.1:%d/ws" % self.edge.http_port

    def run_ws_client(self, *args):
        r = subprocess.run([harness.PYTHON, os.path.join(harness.TOOLS, "ws_client.py"),
                            self.ws_url, "--host", "app.test", *args],
                           capture_output=True, text=True, timeout=120, env=harness.clean_env())
        self.assertEqual(r.returncode, 0, "ws_client failed: %s%s" % (r.stdout, r.stderr))
        return r.stdout

    def test_websocket_echo_binary(self):
        out = self.run_ws_client("--sizes", "1,125,126,65535,65536,1000000", "--count", "2")
        self.assertIn("OK 12 messages", out)

    def test_websocket_echo_text(self):
        out = self.run_ws_client("--text", "--sizes", "0,5,300,70000", "--count", "3")
        self.assertIn("OK 12 messages", out)

    def test_websocket_alongside_plain_requests(self):
        """An open WebSocket holds no one else up, and two sockets stay separate."""
        a = ws_client.WsClient(self.ws_url, host="app.test")
        self.addCleanup(a.sock.close)
        b = ws_client.WsClient(self.ws_url, host="app.test")
        self.addCleanup(b.sock.close)
        a.send(0x1, b"first on a")
        b.send(0x1, b"first on b")
        self.assertEqual(b.read_message(), (0x1, b"first on b"))
        r = self.get(self.edge, "/hello", "app.test")
        self.assertBody(r, 200, b"hello from A path=/hello\n")
        self.assertEqual(a.read_message(), (0x1, b"first on a"))
        a.close()
        b.send(0x2, b"\x00\x01\x02")
        self.assertEqual(b.read_message(), (0x2, b"\x00\x01\x02"))
        b.close()

    def test_closed_websocket_leaves_nothing_in_flight(self):
        """After a clean close, the WebSocket's stream is over: a SIGTERM drain (30 s grace
        by default) has nothing to wait for and the connector exits at once."""
        self.run_ws_client("--sizes", "10,100000", "--count", "1")
        b = ws_client.WsClient(self.ws_url, host="app.test")
        b.send(0x1, b"x")
        self.assertEqual(b.read_message(), (0x1, b"x"))
        b.close()
        self.assertBody(self.get(self.edge, "/hello", "app.test"), 200,
                        b"hello from A path=/hello\n")
        started = time.monotonic()
        self.conn.send(signal.SIGTERM)
        self.assertEqual(self.conn.wait(timeout=20), 0)
        self.assertLess(time.monotonic() - started, 5,
                        "drain waited for closed WebSockets:\n" + self.conn.tail())

    def test_sse_events_are_flushed(self):
        conn = http.client.HTTPConnection(harness.LOOPBACK, self.edge.http_port, timeout=10)
        self.addCleanup(conn.close)
        conn.request("GET", "/sse", headers={"Host": "app.test", "Accept": "text/event-stream"})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertIn("text/event-stream", resp.headers.get("Content-Type", ""))
        events = []  # (n, sent at, arrived at)
        while len(events) < 3:
            line = resp.readline()
            if not line:
                break
            m = re.match(rb"data: n=(\d+) t=([\d.]+)", line)
            if m:
                events.append((int(m.group(1)), float(m.group(2)), time.time()))
        self.assertEqual([e[0] for e in events], [1, 2, 3], "expected 3 events, got %r" % events)
        first_arrived = events[0][2]
        last_sent = events[2][1]
        # The origin sends the events 300 ms apart; a proxy that buffers delivers them all
        # together after the last one was sent.
        self.assertLess(first_arrived, last_sent - 0.3,
                        "the first event arrived %.3fs after the last was sent: not flushed"
                        % (first_arrived - last_sent))
        for n, sent, arrived in events:  # generous: CI may run sanitised builds, in parallel
            self.assertLess(arrived - sent, 1.0, "event %d took %.3fs" % (n, arrived - sent))


if __name__ == "__main__":
    harness.main()
