#!/usr/bin/env python3
"""SIGTERM to the edge: its listeners close at once, a request in flight still gets its
answer, and the edge exits 0 within its --grace-period (also when one is cut off)."""

import signal
import socket
import threading
import time

import harness


class EdgeDrainTest(harness.BurrowTestCase):
    def start_slow(self, edge, ms, result):
        def run():
            try:
                result["resp"] = self.get(edge, "/slow?ms=%d" % ms, "app.test", timeout=20)
            except Exception as e:  # recorded, asserted by the test
                result["error"] = repr(e)
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def setup_tunnel(self, grace):
        origin, origin_port = self.start_origin()
        edge = self.start_edge(extra=["--grace-period", grace])
        token = self.create_tunnel(edge, "app", ["app.test"])
        self.reload_edge(edge, "app.test")
        self.start_connector(self.write_token(token), url="http://127.0.0.1:%d" % origin_port, ha=1)
        return origin, edge

    def test_in_flight_request_finishes_and_listeners_close(self):
        origin, edge = self.setup_tunnel("10s")
        result = {}
        t = self.start_slow(edge, 1500, result)
        origin.wait_for(r"/slow\?ms=1500")
        started = time.monotonic()
        edge.proc.send(signal.SIGTERM)
        edge.proc.wait_for(r"draining in_flight=1")
        # No new client is accepted once draining began.
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", edge.http_port), timeout=2).close()
        self.assertEqual(edge.proc.wait(timeout=10), 0)
        t.join(timeout=10)
        self.assertNotIn("error", result, result)
        self.assertBody(result["resp"], 200, b"slept 1500\n")
        self.assertLess(time.monotonic() - started, 8)

    def test_grace_period_cuts_off_a_slow_request(self):
        origin, edge = self.setup_tunnel("1s")
        result = {}
        t = self.start_slow(edge, 8000, result)
        origin.wait_for(r"/slow\?ms=8000")
        started = time.monotonic()
        edge.proc.send(signal.SIGTERM)
        self.assertEqual(edge.proc.wait(timeout=10), 0)
        elapsed = time.monotonic() - started
        self.assertGreater(elapsed, 0.8)
        self.assertLess(elapsed, 5)
        t.join(timeout=10)
        self.assertNotIn("resp", result)  # the slow answer was cut off, not completed


if __name__ == "__main__":
    harness.main()
