#!/usr/bin/env python3
"""Routing through the tunnel: hostnames at the edge, ingress rules at the connector.

One edge, one connector with a cloudflared-style config.yml, three test origins and an
nginx serving a static file. Checks host and path routing, wildcards, the catch-all,
http_status services, the edge's 404 for unknown hosts, 502 for a refusing origin, HEAD,
and the X-Forwarded-* headers the origin sees.
"""

import os

import harness


class RoutingTest(harness.BurrowTestCase):
    def setUp(self):
        super().setUp()
        _, self.port_a = self.start_origin("A")
        _, self.port_b = self.start_origin("B")
        _, self.port_c = self.start_origin("C")
        with open(os.path.join(self.nginx_root(), "page.txt"), "w") as f:
            f.write("static page from nginx\n")
        _, self.port_nginx = self.start_nginx(
            "    listen 127.0.0.1:{port};\n    location / {{ root {root}; }}\n")
        self.closed_port = harness.free_port()  # nothing listens there
        config = """\
# cloudflared-style ingress, as a user would write it
tunnel: app
ingress:
  - hostname: app.test
    path: ^/api/
    service: http://127.0.0.1:{b}
  - hostname: app.test
    service: http://127.0.0.1:{a}
  - hostname: static.test
    service: http://127.0.0.1:{nginx}
  - hostname: "*.wild.test"
    service: http://127.0.0.1:{b}
  - hostname: teapot.test
    service: http_status:418
  - hostname: refused.test
    service: http://127.0.0.1:{closed}
  - service: http://127.0.0.1:{c}
""".format(a=self.port_a, b=self.port_b, c=self.port_c, nginx=self.port_nginx,
           closed=self.closed_port)
        self.edge, self.conn = self.tunnel_to_origin(
            ["app.test", "static.test", "*.wild.test", "teapot.test", "refused.test",
             "other.test"], config_text=config)

    def origin_of(self, resp):
        return resp.headers.get("X-Origin")

    def test_host_routing(self):
        r = self.get(self.edge, "/hello", "app.test")
        self.assertBody(r, 200, b"hello from A path=/hello\n")
        self.assertEqual(r.headers.get("X-Echo-Host"), "app.test")
        r = self.get(self.edge, "/page.txt", "static.test")
        self.assertBody(r, 200, b"static page from nginx\n")

    def test_port_in_host_is_ignored_for_matching(self):
        r = self.get(self.edge, "/hello", "app.test:%d" % self.edge.http_port)
        self.assertBody(r, 200, b"hello from A path=/hello\n")

    def test_hostname_is_case_insensitive(self):
        r = self.get(self.edge, "/hello", "APP.Test")
        self.assertBody(r, 200, b"hello from A path=/hello\n")

    def test_path_routing(self):
        r = self.get(self.edge, "/api/hello", "app.test")
        self.assertBody(r, 200, b"hello from B path=/api/hello\n")
        # The regex is anchored: /v1/api/ does not match it and goes to the next rule.
        r = self.get(self.edge, "/v1/api/hello", "app.test")
        self.assertBody(r, 200, b"hello from A path=/v1/api/hello\n")
        # The query string is not part of the path that is matched.
        r = self.get(self.edge, "/hello?x=/api/", "app.test")
        self.assertBody(r, 200, b"hello from A path=/hello\n")

    def test_wildcard_hostname(self):
        for host in ("a.wild.test", "x.y.wild.test"):
            with self.subTest(host=host):
                r = self.get(self.edge, "/hello", host)
                self.assertBody(r, 200, ("hello from B path=/hello\n").encode())
        # The apex is not covered by "*.wild.test" (and not routed at the edge either).
        r = self.get(self.edge, "/hello", "wild.test")
        self.assertEqual(r.status, 404)

    def test_catch_all(self):
        r = self.get(self.edge, "/hello", "other.test")
        self.assertBody(r, 200, b"hello from C path=/hello\n")
        self.assertEqual(self.origin_of(r), "C")

    def test_http_status_service(self):
        r = self.get(self.edge, "/anything", "teapot.test")
        self.assertEqual(r.status, 418)

    def test_unknown_host_is_404_at_the_edge(self):
        r = self.get(self.edge, "/hello", "nobody.example")
        self.assertEqual(r.status, 404)
        self.assertIsNone(self.origin_of(r), "an unknown host must not reach any origin")
        # And the edge keeps serving known hosts.
        self.assertBody(self.get(self.edge, "/hello", "app.test"), 200,
                        b"hello from A path=/hello\n")

    def test_origin_refusing_is_502(self):
        r = self.get(self.edge, "/hello", "refused.test")
        self.assertEqual(r.status, 502, r.body)
        text = r.body.decode("utf-8", "replace").strip()
        self.assertTrue(text, "502 must carry a reason")
        self.assertNotIn("\n", text, "the 502 reason is one line: %r" % text)
        self.assertBody(self.get(self.edge, "/hello", "app.test"), 200,
                        b"hello from A path=/hello\n")

    def test_origin_response_framing(self):
        # A close-delimited HTTP/1.0 body arrives whole; chunk extensions and trailers are
        # decoded away.
        r = self.get(self.edge, "/raw/until-close", "app.test")
        self.assertBody(r, 200, b"0123456789" * 1000)
        self.assertEqual(r.headers.get("X-Framing"), "close")
        self.assertBody(self.get(self.edge, "/raw/chunked-extensions", "app.test"), 200,
                        b"hello world")

    def test_malformed_origin_response_is_502(self):
        for name, reason in (("conflicting-length", "Content-Length"),
                             ("folded-header", "folding")):
            r = self.get(self.edge, "/raw/" + name, "app.test")
            # The visitor learns the status only; the reason is in the connector's log.
            self.assertEqual((r.status, r.body), (502, b"502 Bad Gateway\n"), name)
            self.conn.wait_for(r"origin request failed service=\S+ error=[^\n]*" + reason)
        self.assertBody(self.get(self.edge, "/hello", "app.test"), 200,
                        b"hello from A path=/hello\n")

    def test_forwarded_headers(self):
        r = self.get(self.edge, "/headers", "app.test", headers={"X-Custom": "kept"})
        self.assertEqual(r.status, 200, r.body)
        h = r.json()
        self.assertEqual(h.get("host"), "app.test")
        self.assertIn("127.0.0.1", h.get("x-forwarded-for", ""))
        self.assertEqual(h.get("x-forwarded-proto"), "http")
        self.assertEqual(h.get("x-forwarded-host"), "app.test")
        self.assertEqual(h.get("x-custom"), "kept")

    def test_forwarded_for_appends_to_client_value(self):
        r = self.get(self.edge, "/headers", "app.test", headers={"X-Forwarded-For": "203.0.113.7"})
        self.assertEqual(r.status, 200, r.body)
        xff = [p.strip() for p in r.json().get("x-forwarded-for", "").split(",")]
        self.assertEqual(xff[-1], "127.0.0.1", "the edge must add the peer it saw last: %r" % xff)

    def test_head(self):
        r = self.get(self.edge, "/bytes/1000", "app.test", method="HEAD")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get("Content-Length"), "1000")
        self.assertEqual(r.body, b"")
        # The connection state survives a HEAD: a GET right after gets the full body.
        r = self.get(self.edge, "/bytes/1000", "app.test")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"".join(harness.test_origin.pattern_chunks(1000)))

    def test_keep_alive_client(self):
        """Several requests on one client connection, to different origins."""
        conn = harness.http.client.HTTPConnection(harness.LOOPBACK, self.edge.http_port,
                                                  timeout=harness.DEFAULT_TIMEOUT)
        self.addCleanup(conn.close)
        for host, path, want in (("app.test", "/hello", b"hello from A path=/hello\n"),
                                 ("app.test", "/api/hello", b"hello from B path=/api/hello\n"),
                                 ("static.test", "/page.txt", b"static page from nginx\n"),
                                 ("app.test", "/hello", b"hello from A path=/hello\n")):
            conn.request("GET", path, headers={"Host": host})
            resp = conn.getresponse()
            self.assertEqual((resp.status, resp.read()), (200, want))


if __name__ == "__main__":
    harness.main()
