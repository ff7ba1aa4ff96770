#!/usr/bin/env python3
"""The command line as users and their scripts meet it: `tunnel ingress validate` and
`tunnel ingress rule` with cloudflared's output, `burrow quick`, `--url`, and --help."""

import os
import re
import signal

import harness

GOOD = """\
tunnel: home
credentials-file: /nonexistent/creds.json
originRequest:
  connectTimeout: 10s
ingress:
  - hostname: photos.example.net
    service: http://localhost:8001
  - hostname: "*.example.net"
    path: ^/api/
    service: http://localhost:8002
    originRequest:
      noTLSVerify: true
  - hostname: status.example.net
    service: http_status:204
  - service: http_status:404
"""


class IngressCliTest(harness.BurrowTestCase):
    def validate(self, text, name="config.yml"):
        path = self.write_file(name, text)
        r = self.burrow("tunnel", "ingress", "validate", "--config", path)
        return r, path

    def test_validate_ok(self):
        r, _ = self.validate(GOOD)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("OK", r.stdout)

    def assert_invalid(self, text, line=None, words=()):
        r, path = self.validate(text)
        out = r.stdout + r.stderr
        self.assertNotEqual(r.returncode, 0, "accepted:\n%s" % text)
        self.assertIn("Validation failed", out)
        self.assertIn(os.path.basename(path), out, "the error names the file")
        if line is not None:
            # The rule's line, or the line of the offending key inside the rule.
            lines = line if isinstance(line, tuple) else (line,)
            self.assertRegex(out, r"%s:(%s)\b" % (re.escape(os.path.basename(path)),
                                                   "|".join(str(n) for n in lines)),
                             "the error names the line")
        for w in words:
            self.assertIn(w.lower(), out.lower())
        return out

    def test_last_rule_must_be_catch_all(self):
        self.assert_invalid("ingress:\n  - hostname: a.example\n    service: http://localhost:1\n")

    def test_catch_all_before_last(self):
        self.assert_invalid("ingress:\n"
                            "  - service: http://localhost:1\n"
                            "  - hostname: a.example\n    service: http://localhost:2\n"
                            "  - service: http_status:404\n", line=2, words=["#1"])

    def test_wildcard_only_first_label(self):
        self.assert_invalid("ingress:\n"
                            "  - hostname: a.*.example\n    service: http://localhost:1\n"
                            "  - service: http_status:404\n", line=2, words=["#1"])

    def test_service_with_path(self):
        self.assert_invalid("ingress:\n"
                            "  - hostname: a.example\n    service: http://localhost:1\n"
                            "  - hostname: b.example\n    service: http://localhost:2/sub\n"
                            "  - service: http_status:404\n", line=(4, 5), words=["#2"])

    def test_bad_path_regex(self):
        self.assert_invalid("ingress:\n"
                            "  - hostname: a.example\n    path: \"([a-\"\n"
                            "    service: http://localhost:1\n"
                            "  - service: http_status:404\n", line=(2, 3), words=["#1"])

    def test_hostname_with_port(self):
        self.assert_invalid("ingress:\n"
                            "  - hostname: a.example:8080\n    service: http://localhost:1\n"
                            "  - service: http_status:404\n", line=2, words=["#1"])

    def test_bad_http_status(self):
        self.assert_invalid("ingress:\n  - service: http_status:abc\n")

    def test_missing_file(self):
        r = self.burrow("tunnel", "ingress", "validate", "--config", self.path("nope.yml"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("nope.yml", r.stdout + r.stderr)

    def rule(self, url):
        path = self.write_file("config.yml", GOOD)
        r = self.burrow("tunnel", "ingress", "rule", url, "--config", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_rule_matches(self):
        cases = [
            ("https://photos.example.net/", 1, "http://localhost:8001"),
            ("https://photos.example.net:8443/x", 1, "http://localhost:8001"),
            ("https://a.b.example.net/api/v1", 2, "http://localhost:8002"),
            ("https://x.example.net/web", 4, "http_status:404"),  # path does not match
            ("https://example.net/api/", 4, "http_status:404"),   # apex is not *.example.net
            ("https://status.example.net/", 3, "http_status:204"),
            ("https://elsewhere.org/", 4, "http_status:404"),
        ]
        for url, n, service in cases:
            with self.subTest(url=url):
                out = self.rule(url)
                self.assertIn("Matched rule #%d" % n, out)
                self.assertIn(service, out)


class QuickTest(harness.BurrowTestCase):
    def start_quick(self, *args):
        p = self.spawn("quick", [harness.BURROW, "quick", *args])
        m = p.wait_for(r"(?m)^.*?(http://127\.0\.0\.1:(\d+)/)\s*$", stream="stdout")
        return p, m.group(1), int(m.group(2))

    def test_quick_hello_page(self):
        p, url, port = self.start_quick()
        r = harness.http_request(port, "/")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.body, "the hello page has a body")
        self.assertEqual(p.stop(signal.SIGTERM, timeout=15), 0, p.tail())

    def test_quick_with_url(self):
        _, origin_port = self.start_origin("Q")
        p, url, port = self.start_quick("--url", "http://127.0.0.1:%d" % origin_port)
        r = harness.http_request(port, "/hello")
        self.assertBody(r, 200, b"hello from Q path=/hello\n")
        r = harness.http_request(port, "/bytes/100000")
        self.assertEqual(r.body, b"".join(harness.test_origin.pattern_chunks(100000)))
        self.assertEqual(p.stop(signal.SIGTERM, timeout=15), 0, p.tail())


class HelpTest(harness.BurrowTestCase):
    def test_help_lists_commands(self):
        r = self.burrow("--help")
        self.assertEqual(r.returncode, 0, r.stderr)
        for word in ("edge", "tunnel", "quick"):
            self.assertIn(word, r.stdout)

    def test_unknown_command_fails(self):
        r = self.burrow("no-such-command")
        self.assertNotEqual(r.returncode, 0)


if __name__ == "__main__":
    harness.main()
