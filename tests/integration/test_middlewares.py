#!/usr/bin/env python3
"""Traefik middlewares in a connector's config.yml, through a real edge and connector, with curl.

One edge, one connector, one test origin (which echoes the path and the headers it received).
Each middleware is tried with and without its condition: headers (request and response),
stripPrefix, addPrefix, redirectScheme, redirectRegex, ipAllowList (clients on 127.0.0.1 and
127.0.0.2, both loopback), basicAuth (bcrypt, apr1 and SHA hashes made by htpasswd, in users:
and in a usersFile), chain, and rateLimit, where a well-behaved client is still served while
an attacker from another address is refused.
"""

import json
import shutil
import subprocess
import unittest

import harness

CONFIG = """\
middlewares:
  sec:
    headers:
      customRequestHeaders: {{X-Script-Name: test, X-Drop: ""}}
      customResponseHeaders: {{X-Custom: "yes", X-Origin-Secret: ""}}
      stsSeconds: 60
      frameDeny: true
      contentTypeNosniff: true
      referrerPolicy: no-referrer
  forced-sts: {{headers: {{stsSeconds: 60, stsIncludeSubdomains: true, forceSTSHeader: true}}}}
  strip: {{stripPrefix: {{prefixes: [/api]}}}}
  add: {{addPrefix: {{prefix: /v2}}}}
  tls: {{redirectScheme: {{scheme: https, permanent: true}}}}
  moved: {{redirectRegex: {{regex: '^http://regex\\.test/old/(.*)', replacement: 'https://new.test/${{1}}'}}}}
  home: {{ipAllowList: {{sourceRange: [127.0.0.1/32]}}}}
  auth:
    basicAuth:
      users: ['{alice}']
      usersFile: users.htpasswd
      realm: burrow-test
      removeHeader: true
      headerField: X-WebAuth-User
  both: {{chain: {{middlewares: [strip, add]}}}}
  limit: {{rateLimit: {{average: 1, period: 10s, burst: 3}}}}
ingress:
  - hostname: headers.test
    service: http://127.0.0.1:{port}
    middlewares: [sec@file]
  - hostname: sts.test
    service: http://127.0.0.1:{port}
    middlewares: [forced-sts]
  - hostname: strip.test
    service: http://127.0.0.1:{port}
    middlewares: [strip]
  - hostname: add.test
    service: http://127.0.0.1:{port}
    middlewares: [add]
  - hostname: tls.test
    service: http://127.0.0.1:{port}
    middlewares: [tls]
  - hostname: regex.test
    service: http://127.0.0.1:{port}
    middlewares: [moved]
  - hostname: home.test
    service: http://127.0.0.1:{port}
    middlewares: [home]
  - hostname: auth.test
    service: http://127.0.0.1:{port}
    middlewares: [sec, auth]
  - hostname: chain.test
    service: http://127.0.0.1:{port}
    middlewares: [both]
  - hostname: limit.test
    service: http://127.0.0.1:{port}
    middlewares: [limit]
  - service: http_status:404
"""

HOSTS = ["headers.test", "sts.test", "strip.test", "add.test", "tls.test", "regex.test",
         "home.test", "auth.test", "chain.test", "limit.test"]


def htpasswd(flag, user, password):
    """A `user:hash` line made by Debian's htpasswd (-B bcrypt, -m apr1, -s SHA)."""
    out = subprocess.run(["htpasswd", "-nb", flag, user, password], capture_output=True,
                         check=True, text=True)
    return out.stdout.strip()


@unittest.skipIf(shutil.which("htpasswd") is None, "htpasswd (apache2-utils) is not installed")
class MiddlewaresTest(harness.BurrowTestCase):
    def setUp(self):
        super().setUp()
        _, port = self.start_origin("A")
        self.write_file("users.htpasswd", "# made by htpasswd\n%s\n%s\n" % (
            htpasswd("-m", "bob", "hunter2"), htpasswd("-s", "carol", "pa:ss")))
        config = CONFIG.format(port=port, alice=htpasswd("-B", "alice", "s3cret"))
        self.edge, self.conn = self.tunnel_to_origin(HOSTS, config_text=config)

    def fetch(self, host, path, *args, source="127.0.0.1"):
        """curl from `source`: (status, headers with lowercase names, body)."""
        url = "http://%s:%d%s" % (harness.LOOPBACK, self.edge.http_port, path)
        r = self.curl("-D", "-", "--interface", source, "-H", "Host: " + host, *args, url)
        self.assertEqual(r.returncode, 0, r.stderr)
        head, _, body = r.stdout.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(lines[0].split()[1]), headers, body

    def echoed(self, host, path, *args, **kw):
        """The request headers the origin received."""
        status, _, body = self.fetch(host, path, *args, **kw)
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def test_headers_request_and_response(self):
        seen = self.echoed("headers.test", "/headers", "-H", "X-Drop: 1", "-H", "X-Keep: 1")
        self.assertEqual(seen.get("x-script-name"), "test")
        self.assertNotIn("x-drop", seen)
        self.assertEqual(seen.get("x-keep"), "1")
        status, headers, _ = self.fetch("headers.test", "/hello")
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("x-custom"), "yes")
        self.assertEqual(headers.get("x-frame-options"), "DENY")
        self.assertEqual(headers.get("x-content-type-options"), "nosniff")
        self.assertEqual(headers.get("referrer-policy"), "no-referrer")
        self.assertEqual(headers.get("x-origin"), "A")
        # Plain HTTP: no HSTS unless forced.
        self.assertNotIn("strict-transport-security", headers)
        _, forced, _ = self.fetch("sts.test", "/hello")
        self.assertEqual(forced.get("strict-transport-security"), "max-age=60; includeSubDomains")
        # Without the middleware, none of it.
        _, plain, _ = self.fetch("strip.test", "/hello")
        self.assertNotIn("x-frame-options", plain)
        self.assertNotIn("x-custom", plain)

    def test_strip_and_add_prefix(self):
        status, _, body = self.fetch("strip.test", "/api/hello?x=1")
        self.assertEqual((status, body), (200, b"hello from A path=/hello\n"))
        self.assertEqual(self.echoed("strip.test", "/api/headers").get("x-forwarded-prefix"),
                         "/api")
        status, _, body = self.fetch("strip.test", "/other/hello")
        self.assertEqual((status, body), (200, b"hello from A path=/other/hello\n"))
        self.assertNotIn("x-forwarded-prefix", self.echoed("strip.test", "/headers"))
        status, _, body = self.fetch("add.test", "/hello")
        self.assertEqual((status, body), (200, b"hello from A path=/v2/hello\n"))
        status, _, body = self.fetch("chain.test", "/api/hello")
        self.assertEqual((status, body), (200, b"hello from A path=/v2/hello\n"))

    def test_redirects(self):
        status, headers, _ = self.fetch("tls.test", "/p?q=1")
        self.assertEqual(status, 301)
        self.assertEqual(headers.get("location"), "https://tls.test/p?q=1")
        status, headers, _ = self.fetch("tls.test", "/p", "-X", "POST", "-d", "x")
        self.assertEqual(status, 308)
        status, headers, _ = self.fetch("regex.test", "/old/a/b?c=d")
        self.assertEqual(status, 302)
        self.assertEqual(headers.get("location"), "https://new.test/a/b?c=d")
        status, _, body = self.fetch("regex.test", "/hello")
        self.assertEqual((status, body), (200, b"hello from A path=/hello\n"))

    def test_ip_allow_list(self):
        status, _, body = self.fetch("home.test", "/hello")
        self.assertEqual((status, body), (200, b"hello from A path=/hello\n"))
        # Another address is refused, whatever X-Forwarded-For says.
        status, headers, _ = self.fetch("home.test", "/hello", "-H", "X-Forwarded-For: 127.0.0.1",
                                        source="127.0.0.2")
        self.assertEqual(status, 403)
        self.assertNotIn("x-origin", headers)

    def test_basic_auth_each_hash_kind(self):
        for user, password in (("alice", "s3cret"), ("bob", "hunter2"), ("carol", "pa:ss")):
            seen = self.echoed("auth.test", "/headers", "-u", "%s:%s" % (user, password))
            self.assertEqual(seen.get("x-webauth-user"), user)
            self.assertNotIn("authorization", seen)  # removeHeader
            status, headers, _ = self.fetch("auth.test", "/headers", "-u", user + ":wrong")
            self.assertEqual(status, 401, user)
            self.assertEqual(headers.get("www-authenticate"), 'Basic realm="burrow-test"')
            self.assertNotIn("x-origin", headers)
            # The headers middleware before it still marks the refusal.
            self.assertEqual(headers.get("x-frame-options"), "DENY")
        status, headers, _ = self.fetch("auth.test", "/hello")
        self.assertEqual(status, 401)
        self.assertNotIn("x-origin", headers)

    def test_rate_limit_refuses_the_attacker_and_serves_the_others(self):
        attacker = [self.fetch("limit.test", "/hello", source="127.0.0.2")[0] for _ in range(12)]
        self.assertEqual(attacker[:3], [200, 200, 200])  # the burst
        self.assertGreaterEqual(attacker.count(429), 6, attacker)
        # A well-behaved client, at another address, is served all along.
        for _ in range(3):
            self.assertEqual(self.fetch("limit.test", "/hello")[0], 200)
            self.assertEqual(self.fetch("limit.test", "/hello", source="127.0.0.2")[0], 429)

    def test_ingress_rule_names_the_middlewares(self):
        r = self.burrow("tunnel", "ingress", "rule", "http://chain.test/api/x", "--config",
                        self.path("config.yml"), check=True)
        self.assertIn("\tmiddlewares: both\n\truns: strip (stripPrefix), add (addPrefix)\n",
                      r.stdout)


if __name__ == "__main__":
    unittest.main()
