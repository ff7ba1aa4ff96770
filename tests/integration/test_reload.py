#!/usr/bin/env python3
"""The connector reloads its config file on SIGHUP: ingress rules and originRequest for the
requests that follow (those in flight finish as they began), ha-connections, metrics and
loglevel; a file that does not load is refused and the running config stays. Also the
connector's command-line conveniences: --log-level after the command, cloudflared's
--loglevel spelling and `loglevel:` key, and the messages for unknown commands and keys."""

import os
import signal
import threading
import time

import harness

RULES = """ingress:
  - hostname: app.test
    service: http://127.0.0.1:%d
  - service: http_status:404
"""


class ReloadTest(harness.BurrowTestCase):
    def setUp(self):
        super().setUp()
        _, self.port_a = self.start_origin("A")
        _, self.port_b = self.start_origin("B")
        self.edge = self.start_edge()
        token = self.create_tunnel(self.edge, "app", ["app.test"])
        self.reload_edge(self.edge, "app.test")
        self.token_file = self.write_token(token)
        self.config = self.write_file("config.yml", RULES % self.port_a)

    def body(self, path="/hello"):
        r = self.get(self.edge, path, "app.test")
        return r.status, r.body

    def rewrite(self, text):
        tmp = self.config + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.config)

    def wait_serving(self):
        harness.poll(lambda: self.body()[0] == 200, 10, what="the connector serving")

    def reloaded(self, conn, n):
        conn.wait_for(r"config reloaded", count=n, timeout=10)

    def test_ingress_change_applies_to_new_requests_and_spares_those_in_flight(self):
        conn = self.start_connector(self.token_file, config=self.config, ha=2)
        self.assertEqual(self.body(), (200, b"hello from A path=/hello\n"))
        slow = {}

        def slow_request():
            slow["r"] = self.get(self.edge, "/slow?ms=1500", "app.test", timeout=20)

        t = threading.Thread(target=slow_request)
        t.start()
        time.sleep(0.3)  # the slow request is at origin A now
        self.rewrite(RULES % self.port_b)
        conn.send(signal.SIGHUP)
        self.reloaded(conn, 1)
        # A well-behaved client is served by the new rules at once, without a lost request.
        for _ in range(20):
            self.assertEqual(self.body(), (200, b"hello from B path=/hello\n"))
        t.join(20)
        self.assertEqual(slow["r"].status, 200, "the request in flight finished: %r" % slow)
        self.assertEqual(slow["r"].body, b"slept 1500\n")
        self.assertEqual(conn.count(r"connection registered"), 2, "no connection was dropped")

    def test_a_config_that_does_not_load_is_refused_and_the_old_one_kept(self):
        conn = self.start_connector(self.token_file, config=self.config, ha=1)
        self.rewrite("ingress:\n  - hostname: app.test\n    service: http://127.0.0.1:1\n")
        conn.send(signal.SIGHUP)
        line = conn.wait_for(r"reload refused[^\n]*", timeout=10).group(0)
        self.assertIn("config.yml:2: ingress rule #1: the last ingress rule must match all URLs",
                      line)
        self.assertEqual(self.body(), (200, b"hello from A path=/hello\n"))
        # So is a metrics address that is not loopback: refused as a whole.
        self.rewrite(RULES % self.port_b + "metrics: 0.0.0.0:2000\n")
        conn.send(signal.SIGHUP)
        conn.wait_for(r"reload refused[^\n]*loopback addresses only", timeout=10)
        self.assertEqual(self.body(), (200, b"hello from A path=/hello\n"))
        self.assertTrue(conn.alive())

    def test_ha_connections_and_metrics_follow_the_file(self):
        port1, port2 = harness.free_port(), harness.free_port()
        self.rewrite(RULES % self.port_a + "ha-connections: 1\nmetrics: 127.0.0.1:%d\n" % port1)
        conn = self.start_connector(self.token_file, config=self.config, wait=False)
        self.wait_registered(conn, 1)
        self.assertEqual(harness.http_request(port1, "/ready", host="127.0.0.1").status, 200)

        self.rewrite(RULES % self.port_a + "ha-connections: 3\nmetrics: 127.0.0.1:%d\n" % port2)
        conn.send(signal.SIGHUP)
        self.reloaded(conn, 1)
        self.wait_registered(conn, 3)
        ready = harness.poll(lambda: harness.http_request(port2, "/ready", host="127.0.0.1")
                             .json().get("readyConnections") == 3, 10, what="3 connections")
        self.assertTrue(ready)
        with self.assertRaises(OSError, msg="the old metrics listener is closed"):
            harness.http_request(port1, "/ready", host="127.0.0.1", timeout=2)
        info = self.burrow("edge", "tunnel", "info", "app", "--state-dir", self.edge.state_dir,
                           check=True).stdout
        self.assertEqual(info.count("127.0.0.1:"), 3, info)

        # Lowered: the extra connections drain (GOAWAY) and are not dialled again.
        self.rewrite(RULES % self.port_a + "ha-connections: 1\nmetrics: 127.0.0.1:%d\n" % port2)
        conn.send(signal.SIGHUP)
        self.reloaded(conn, 2)
        conn.wait_for(r"connection retired", count=2, timeout=10)
        harness.poll(lambda: harness.http_request(port2, "/ready", host="127.0.0.1")
                     .json().get("readyConnections") == 1, 10, what="1 connection")
        self.assertEqual(self.body(), (200, b"hello from A path=/hello\n"))

    def test_flags_win_over_the_file_on_reload_too(self):
        self.rewrite(RULES % self.port_a + "ha-connections: 3\n")
        conn = self.start_connector(self.token_file, config=self.config, ha=2)
        self.rewrite(RULES % self.port_b + "ha-connections: 1\n")
        conn.send(signal.SIGHUP)
        self.reloaded(conn, 1)
        self.assertIn("ha_connections=2", conn.wait_for(r"config reloaded[^\n]*").group(0))
        self.assertEqual(self.body(), (200, b"hello from B path=/hello\n"))

    def test_url_connector_says_there_is_nothing_to_reload(self):
        conn = self.start_connector(self.token_file, url="http://127.0.0.1:%d" % self.port_a,
                                    ha=1)
        conn.send(signal.SIGHUP)
        conn.wait_for(r"nothing to reload \(the connector runs with --url")
        self.assertEqual(self.body(), (200, b"hello from A path=/hello\n"))

    def test_log_level_after_the_command_and_in_the_file(self):
        conn = self.start_connector(self.token_file, config=self.config, ha=1, wait=False,
                                    extra=["--log-level", "warn"], name="quiet")
        self.wait_serving()
        self.assertEqual(conn.count(r" INF "), 0, conn.tail())
        conn.stop()
        conn = self.start_connector(self.token_file, config=self.config, ha=1,
                                    extra=["--loglevel", "debug"], name="loud")
        self.wait_serving()  # the edge may still pick the stopped connector's closing session
        harness.poll(lambda: conn.count(r" DBG "), 5, what="a debug line")
        conn.stop()
        # loglevel: in the file, when no flag says otherwise.
        self.rewrite(RULES % self.port_a + "loglevel: warn\n")
        conn = self.start_connector(self.token_file, config=self.config, ha=1, wait=False,
                                    name="file")
        self.wait_serving()
        self.assertEqual(conn.count(r" INF "), 0, conn.tail())


class CommandLineTest(harness.BurrowTestCase):
    def test_unknown_command_is_named(self):
        for args, word, where in [(["update"], "update", "burrow"),
                                  (["tunnel", "rn"], "rn", "burrow tunnel"),
                                  (["--log-level", "debug", "edge", "route", "lst"], "lst",
                                   "burrow edge route")]:
            r = self.burrow(*args)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("unknown command '%s' for %s" % (word, where), r.stderr)

    def test_validate_suggests_keys_and_strict_fails_on_them(self):
        cfg = self.write_file("c.yml", "originRequest:\n  connectTimout: 5s\n"
                                       "ingress:\n  - service: http_status:404\n")
        r = self.burrow("tunnel", "ingress", "validate", "--config", cfg)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("unknown key 'connectTimout' ignored; did you mean 'connectTimeout'?",
                      r.stderr)
        r = self.burrow("tunnel", "ingress", "validate", "--strict", "--config", cfg)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("Validation failed", r.stdout)

    def test_validate_refuses_metrics_as_run_does(self):
        cfg = self.write_file("c.yml", "metrics: 0.0.0.0:2000\n"
                                       "ingress:\n  - service: http_status:404\n")
        v = self.burrow("tunnel", "ingress", "validate", "--config", cfg)
        self.assertEqual(v.returncode, 1)
        token = self.write_token("unused")
        r = self.burrow("tunnel", "run", "--config", cfg, "--token-file", token)
        self.assertEqual(r.returncode, 1)
        msg = "c.yml:1: metrics: '0.0.0.0:2000': the metrics listener binds loopback addresses only"
        self.assertIn(msg, v.stdout)
        self.assertIn(msg, r.stderr)


if __name__ == "__main__":
    harness.main()
