#!/usr/bin/env python3
"""Traefik v3 rules in a connector's config.yml, through a real edge and connector.

One edge, one connector, three test origins. Routes by Host, PathPrefix, Method, Header,
Query and ClientIP (clients on 127.0.0.1 and on 127.0.0.2, both loopback), by priority
(Traefik's documented example, and an explicit priority), and hostname routes after the rule
routes. A client that forges the edge's client-address header or X-Forwarded-For changes
neither ClientIP matching nor what the origin is told.
"""

import http.client

import harness

CONFIG = """\
ingress:
  # rule routes, tried first by priority (default: the rule's length)
  - rule: Host(`rules.test`) && PathPrefix(`/api`)
    service: http://127.0.0.1:{b}
  - rule: Host(`rules.test`) && Method(`POST`)
    service: http://127.0.0.1:{c}
  - rule: Host(`rules.test`) && Header(`X-Canary`, `1`)
    service: http_status:418
  - rule: Host(`rules.test`) && Query(`v`, `2`)
    service: http_status:203
  - rule: Host(`ip.test`) && ClientIP(`127.0.0.2`)
    service: http://127.0.0.1:{b}
  - rule: Host(`ip.test`) && ClientIP(`10.0.0.0/8`)
    service: http://127.0.0.1:{c}
  # Traefik's example: the regexp is longer (32 > 24), so it wins for foobar.prio.test
  - rule: Host(`foobar.prio.test`)
    service: http://127.0.0.1:{c}
  - rule: HostRegexp(`[a-z]+\\.prio\\.test`)
    service: http://127.0.0.1:{b}
  - rule: Host(`fixed.prio.test`)
    priority: 100
    service: http://127.0.0.1:{c}
  # cloudflared rules, in file order, after every rule route
  - hostname: rules.test
    service: http://127.0.0.1:{a}
  - hostname: ip.test
    service: http://127.0.0.1:{a}
  - service: http_status:404
"""


def request(port, path, host, method="GET", headers=None, source="127.0.0.1"):
    """One request from `source` (a loopback address) to the edge."""
    conn = http.client.HTTPConnection(harness.LOOPBACK, port, timeout=harness.DEFAULT_TIMEOUT,
                                      source_address=(source, 0))
    try:
        h = dict(headers or {})
        h["Host"] = host
        conn.request(method, path, body=b"" if method == "POST" else None, headers=h)
        resp = conn.getresponse()
        return harness.Response(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


class RulesTest(harness.BurrowTestCase):
    def setUp(self):
        super().setUp()
        _, a = self.start_origin("A")
        _, b = self.start_origin("B")
        _, c = self.start_origin("C")
        self.config = CONFIG.format(a=a, b=b, c=c)
        self.edge, self.conn = self.tunnel_to_origin(
            ["rules.test", "ip.test", "*.prio.test"], config_text=self.config)

    def origin(self, path, host, **kw):
        """Which origin answered (the origin itself may answer 404 for a path it lacks)."""
        r = request(self.edge.http_port, path, host, **kw)
        self.assertIsNotNone(r.headers.get("X-Origin"), "%s%s: %r" % (host, path, r))
        return r.headers.get("X-Origin")

    def test_well_behaved_request_reaches_the_hostname_route(self):
        r = request(self.edge.http_port, "/hello", "rules.test")
        self.assertBody(r, 200, b"hello from A path=/hello\n")

    def test_host_and_path_prefix(self):
        self.assertEqual(self.origin("/api/hello", "rules.test"), "B")
        self.assertEqual(self.origin("/api", "RULES.test:%d" % self.edge.http_port), "B")
        self.assertEqual(self.origin("/apix", "rules.test"), "B")  # a prefix, not a segment
        self.assertEqual(self.origin("/v1/api", "rules.test"), "A")
        self.assertEqual(self.origin("/api/hello", "ip.test"), "A")

    def test_method(self):
        self.assertEqual(self.origin("/hello", "rules.test", method="POST"), "C")
        self.assertEqual(self.origin("/hello", "rules.test", method="PUT"), "A")

    def test_header(self):
        r = request(self.edge.http_port, "/hello", "rules.test", headers={"X-Canary": "1"})
        self.assertEqual(r.status, 418)
        self.assertEqual(self.origin("/hello", "rules.test", headers={"X-Canary": "10"}), "A")

    def test_query(self):
        self.assertEqual(request(self.edge.http_port, "/hello?a=1&v=2", "rules.test").status, 203)
        self.assertEqual(self.origin("/hello?v=3", "rules.test"), "A")
        self.assertEqual(self.origin("/hello?v=2;x=1", "rules.test"), "A")  # ';': pair dropped

    def test_client_ip(self):
        self.assertEqual(self.origin("/hello", "ip.test", source="127.0.0.2"), "B")
        # 127.0.0.1 is neither 127.0.0.2 nor in 10.0.0.0/8: the hostname route.
        self.assertEqual(self.origin("/hello", "ip.test", source="127.0.0.1"), "A")

    def test_forged_client_address_changes_nothing(self):
        forged = {"Cf-Connecting-Ip": "127.0.0.2", "X-Forwarded-For": "127.0.0.2",
                  "X-Real-Ip": "127.0.0.2"}
        self.assertEqual(self.origin("/hello", "ip.test", headers=forged), "A")
        for value in ("10.1.2.3", "127.0.0.2, 10.1.2.3", " 127.0.0.2"):
            with self.subTest(value=value):
                self.assertEqual(self.origin("/hello", "ip.test",
                                             headers={"CF-CONNECTING-IP": value}), "A")
        # The origin is told the address the edge saw, once, and X-Forwarded-For ends with it.
        r = request(self.edge.http_port, "/headers", "ip.test", headers=forged)
        self.assertEqual(r.status, 200, r)
        seen = r.json()
        self.assertEqual(seen.get("cf-connecting-ip"), "127.0.0.1", seen)
        xff = [p.strip() for p in seen.get("x-forwarded-for", "").split(",")]
        self.assertEqual(xff, ["127.0.0.2", "127.0.0.1"], seen)
        # A client on 127.0.0.2 that claims 127.0.0.1 is still 127.0.0.2.
        r = request(self.edge.http_port, "/headers", "ip.test", source="127.0.0.2",
                    headers={"Cf-Connecting-Ip": "127.0.0.1"})
        self.assertEqual(r.headers.get("X-Origin"), "B", r)
        self.assertEqual(r.json().get("cf-connecting-ip"), "127.0.0.2")

    def test_priority(self):
        self.assertEqual(self.origin("/hello", "foobar.prio.test"), "B")
        self.assertEqual(self.origin("/hello", "other.prio.test"), "B")
        self.assertEqual(self.origin("/hello", "fixed.prio.test"), "C")
        self.assertEqual(request(self.edge.http_port, "/", "9.prio.test").status, 404)

    def test_ingress_rule_explains_the_match(self):
        path = self.path("config.yml")
        r = self.burrow("tunnel", "ingress", "rule", "https://rules.test/api/x", "--config", path,
                        check=True)
        self.assertTrue(r.stdout.startswith(
            "Matched rule #1\n"
            "\trule: Host(`rules.test`) && PathPrefix(`/api`)\n"
            "\tpriority: 40\n"), r.stdout)
        r = self.burrow("tunnel", "ingress", "rule", "https://foobar.prio.test/", "--config",
                        path, check=True)
        self.assertIn("Matched rule #8\n\trule: HostRegexp(`[a-z]+\\.prio\\.test`)\n"
                      "\tpriority: 32\n", r.stdout)
        r = self.burrow("tunnel", "ingress", "rule", "https://ip.test/", "--config", path,
                        check=True)
        self.assertTrue(r.stdout.startswith("Matched rule #11\n\thostname: ip.test\n"), r.stdout)
        self.assertIn("\tassumed: a GET with no headers from an unknown address", r.stdout)
        r = self.burrow("tunnel", "ingress", "validate", "--config", path)
        self.assertEqual((r.returncode, r.stdout), (0, "OK\n"), r.stderr)

    def test_a_bad_rule_is_refused_with_its_column(self):
        bad = self.write_file("bad.yml", "ingress:\n"
                                         "  - rule: Host(`a.com` && Path(`/`)\n"
                                         "    service: http_status:200\n"
                                         "  - service: http_status:404\n")
        r = self.burrow("tunnel", "ingress", "validate", "--config", bad)
        self.assertEqual(r.returncode, 1, r)
        self.assertEqual(r.stdout.strip(),
                         "Validation failed: %s:2: ingress rule #1: rule: 1:14: expected ')' "
                         "after the arguments of Host, got '&'" % bad)


if __name__ == "__main__":
    harness.main()
