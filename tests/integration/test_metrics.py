#!/usr/bin/env python3
"""The connector's loopback metrics listener: /ready and /healthcheck follow the real state
of the edge connections, /metrics counts requests and answers, and the listener refuses any
address that is not loopback."""

import json
import re

import harness


class MetricsTest(harness.BurrowTestCase):
    def metrics_get(self, port, path):
        return harness.http_request(port, path, host="127.0.0.1")

    def test_ready_healthcheck_and_counters(self):
        origin, origin_port = self.start_origin()
        edge = self.start_edge()
        token = self.create_tunnel(edge, "app", ["app.test"])
        self.reload_edge(edge, "app.test")
        port = harness.free_port()
        conn = self.start_connector(self.write_token(token), url="http://127.0.0.1:%d" % origin_port,
                                    ha=2, extra=["--metrics", "127.0.0.1:%d" % port])
        ready = self.metrics_get(port, "/ready")
        self.assertEqual(ready.status, 200, ready.body)
        doc = json.loads(ready.body)
        self.assertEqual(doc["status"], 200)
        self.assertEqual(doc["readyConnections"], 2)
        self.assertRegex(doc["connectorId"], r"^[0-9a-f-]{36}$")
        self.assertEqual(self.metrics_get(port, "/healthcheck").status, 200)

        for _ in range(3):
            self.assertBody(self.get(edge, "/hello", "app.test"), 200)
        self.assertBody(self.get(edge, "/status/418", "app.test"), 418)
        text = self.metrics_get(port, "/metrics").body.decode()
        self.assertIn("# TYPE burrow_tunnel_requests_total counter", text)
        self.assertRegex(text, r"(?m)^burrow_tunnel_requests_total [4-9]\d*$")
        self.assertRegex(text, r'(?m)^burrow_tunnel_responses_total\{code="200"\} [3-9]\d*$')
        self.assertRegex(text, r'(?m)^burrow_tunnel_responses_total\{code="418"\} 1$')
        self.assertRegex(text, r"(?m)^burrow_tunnel_ha_connections 2$")
        self.assertRegex(text, r'(?m)^burrow_tunnel_registrations_total\{result="success"\} 2$')
        self.assertNotIn("app.test", text)  # no per-hostname labels

        # Without the edge, readiness must say so (cloudflared's /healthcheck does not).
        edge.proc.stop()
        harness.poll(lambda: self.metrics_get(port, "/ready").status == 503, 10,
                     what="/ready to turn 503")
        self.assertEqual(json.loads(self.metrics_get(port, "/ready").body)["readyConnections"], 0)
        self.assertEqual(self.metrics_get(port, "/healthcheck").status, 503)
        self.assertEqual(self.metrics_get(port, "/nothing").status, 404)
        conn.stop()

    def test_config_key_and_loopback_only(self):
        edge = self.start_edge()
        token = self.create_tunnel(edge, "app", ["app.test"])
        token_file = self.write_token(token)
        port = harness.free_port()
        config = self.write_file("config.yml", "metrics: 127.0.0.1:%d\ningress:\n"
                                 "  - service: http_status:204\n" % port)
        self.start_connector(token_file, config=config, ha=1)
        self.assertEqual(self.metrics_get(port, "/ready").status, 200)

        r = self.burrow("tunnel", "run", "--token-file", token_file, "--url",
                        "http://127.0.0.1:9", "--metrics", "0.0.0.0:0", timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn("loopback", r.stderr)


if __name__ == "__main__":
    harness.main()
