#!/usr/bin/env python3
"""Processes coming and going: 502 without a connector, HA connections, the edge restarting
under a running connector (no hot loop while it is away), and the SIGTERM drain."""

import os
import re
import signal
import threading
import time

import harness


def cpu_seconds(pid):
    """utime + stime of a process, in seconds (see proc(5), /proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


class LifecycleTest(harness.BurrowTestCase):
    def setUp(self):
        super().setUp()
        self.origin, self.origin_port = self.start_origin("A")
        self.config = self.write_file(
            "config.yml",
            "ingress:\n  - hostname: app.test\n    service: http://127.0.0.1:%d\n"
            "  - service: http_status:404\n" % self.origin_port)

    def edge_with_tunnel(self):
        edge = self.start_edge()
        token = self.create_tunnel(edge, "app", ["app.test"])
        self.reload_edge(edge, "app.test")
        return edge, self.write_token(token)

    def assert_502(self, edge):
        r = self.get(edge, "/hello", "app.test")
        self.assertEqual(r.status, 502, r.body)
        reason = r.body.decode("utf-8", "replace").strip()
        self.assertTrue(reason, "a 502 carries a one-line reason")
        self.assertNotIn("\n", reason)

    def wait_status(self, edge, status, timeout=10):
        harness.poll(lambda: self.get(edge, "/hello", "app.test").status == status, timeout,
                     what="status %d for app.test" % status)

    def test_502_without_connector(self):
        edge, token_file = self.edge_with_tunnel()
        self.assert_502(edge)
        conn = self.start_connector(token_file, config=self.config, ha=2)
        self.assertBody(self.get(edge, "/hello", "app.test"), 200, b"hello from A path=/hello\n")
        self.assertEqual(conn.stop(signal.SIGTERM, timeout=15), 0)
        # Once the connector is gone the edge says so again (its connections were closed).
        self.wait_status(edge, 502)
        self.assert_502(edge)

    def test_ha_connections_have_distinct_indexes(self):
        edge, token_file = self.edge_with_tunnel()
        conn = self.start_connector(token_file, config=self.config)  # default: 4
        indexes = re.findall(r"connection registered[^\n]*index=(\d+)", conn.read())
        self.assertEqual(sorted(set(indexes)), ["0", "1", "2", "3"], indexes)
        self.assertBody(self.get(edge, "/hello", "app.test"), 200, b"hello from A path=/hello\n")

    def test_edge_restart_connector_reconnects(self):
        edge, token_file = self.edge_with_tunnel()
        conn = self.start_connector(token_file, config=self.config, ha=2)
        self.assertBody(self.get(edge, "/hello", "app.test"), 200, b"hello from A path=/hello\n")

        self.assertEqual(edge.proc.stop(signal.SIGTERM, timeout=15), 0, edge.proc.tail())
        # While the edge is away the connector retries with backoff, not in a hot loop.
        cpu_before = cpu_seconds(conn.pid)
        time.sleep(3)  # a measurement window, not synchronisation
        self.assertTrue(conn.alive(), "the connector must keep retrying\n" + conn.tail())
        spent = cpu_seconds(conn.pid) - cpu_before
        self.assertLess(spent, 0.5, "connector burnt %.2fs CPU in 3s without an edge" % spent)

        # Same state, same tunnel address (it is in the token); any HTTP port.
        edge2 = self.start_edge(state_dir=edge.state_dir, tunnel=edge.endpoint)
        self.assertEqual(edge2.tunnel_port, edge.tunnel_port)
        # Backoff starts at 1 s and is capped; 2 fresh registrations must come in time.
        self.wait_registered(conn, 4, timeout=45)
        r = self.get(edge2, "/hello", "app.test")
        self.assertBody(r, 200, b"hello from A path=/hello\n")

    def test_first_connect_failing_backs_off_then_connects(self):
        """The edge is down when the connector starts: it keeps retrying without a hot loop
        (a known cloudflared complaint) and registers once the edge is back."""
        edge, token_file = self.edge_with_tunnel()
        self.assertEqual(edge.proc.stop(signal.SIGTERM, timeout=15), 0, edge.proc.tail())
        conn = self.start_connector(token_file, config=self.config, ha=2, wait=False)
        # The window opens once both connections have failed once, so it holds retries only:
        # start-up (certificates, config) is not the loop under test and, on a loaded CI
        # machine, was charged half a second of CPU on its own.
        conn.wait_for(r"connection lost index=", count=2)
        cpu_before = cpu_seconds(conn.pid)
        time.sleep(3)  # a measurement window, not synchronisation
        self.assertTrue(conn.alive(), "a refused first connect is not permanent\n" + conn.tail())
        spent = cpu_seconds(conn.pid) - cpu_before
        self.assertLess(spent, 0.5, "connector burnt %.2fs CPU in 3s without an edge" % spent)
        self.assertEqual(conn.count("connection registered"), 0)
        edge2 = self.start_edge(state_dir=edge.state_dir, tunnel=edge.endpoint)
        self.wait_registered(conn, 2, timeout=45)
        self.assertBody(self.get(edge2, "/hello", "app.test"), 200, b"hello from A path=/hello\n")

    def test_sigterm_drains_in_flight_request(self):
        edge, token_file = self.edge_with_tunnel()
        conn = self.start_connector(token_file, config=self.config, ha=2, grace="10s")
        result = {}

        def slow_request():
            try:
                result["resp"] = self.get(edge, "/slow?ms=1500", "app.test", timeout=20)
            except Exception as e:  # reported by the main thread
                result["error"] = e

        t = threading.Thread(target=slow_request, daemon=True)
        t.start()
        self.origin.wait_for(r"origin request method=GET path=/slow\?ms=1500")
        sent = time.monotonic()
        conn.send(signal.SIGTERM)
        t.join(timeout=20)
        self.assertFalse(t.is_alive(), "the in-flight request never finished")
        self.assertNotIn("error", result, "in-flight request failed: %r" % result.get("error"))
        self.assertBody(result["resp"], 200, b"slept 1500\n")
        self.assertEqual(conn.wait(timeout=15), 0, "connector exit status after SIGTERM")
        self.assertLess(time.monotonic() - sent, 12, "drain must end within the grace period")
        self.wait_status(edge, 502)

    def test_sigterm_grace_period_is_bounded(self):
        edge, token_file = self.edge_with_tunnel()
        conn = self.start_connector(token_file, config=self.config, ha=2, grace="1s")
        result = {}

        def very_slow_request():
            try:
                result["resp"] = self.get(edge, "/slow?ms=8000", "app.test", timeout=20)
            except Exception as e:
                result["error"] = e

        t = threading.Thread(target=very_slow_request, daemon=True)
        t.start()
        self.origin.wait_for(r"origin request method=GET path=/slow\?ms=8000")
        sent = time.monotonic()
        conn.send(signal.SIGTERM)
        self.assertEqual(conn.wait(timeout=10), 0)
        self.assertLess(time.monotonic() - sent, 5, "a 1s grace period took too long")
        t.join(timeout=20)
        resp = result.get("resp")
        self.assertFalse(resp is not None and resp.status == 200,
                         "a request longer than the grace period cannot have completed")


if __name__ == "__main__":
    harness.main()
