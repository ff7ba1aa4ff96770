#!/usr/bin/env python3
"""`burrow auth` end to end: the real binary as the login portal of a real nginx that uses
auth_request as Authelia's nginx guide sets it up (/api/authz/auth-request), in front of
tests/tools/test_origin.py, with curl as the browser. Also the forward-auth endpoint as
Traefik calls it, the legacy /api/verify, the no-JavaScript login page, regulation, logout,
TOTP (enrolment from the page, the second factor by form and by Authelia's API, replay,
regulation, the SQLite store across a restart and under a wrong key),
`burrow auth hash-password`, configuration errors, and a well-behaved client still served while
an attacker sends malformed and oversized requests to the portal."""

import base64
import hashlib
import hmac
import html
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import unittest
import urllib.parse

import harness

DOMAIN = "example.test"
PORTAL = "http://auth.example.test"
BCRYPT_ALICE = "$2y$05$TD6zXnPpDgmGr2nkRE1aOukIgBQ.L72MNxHXiaWFNFlv6va2ZNL9e"  # battery staple
STORAGE_KEY = "a-storage-encryption-key-for-tests"


def totp(secret_b32, step):
    """RFC 6238 with Authelia's defaults: HMAC-SHA1, 6 digits, `step` = unix time / 30."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, step.to_bytes(8, "big"), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    return "%06d" % ((int.from_bytes(mac[off:off + 4], "big") & 0x7FFFFFFF) % 1000000)


def fresh_step(last):
    """A time step the portal accepts now (within one step of now) that is after `last`."""
    while True:
        now = int(time.time()) // 30
        if last + 1 <= now + 1:
            return max(last + 1, now)
        time.sleep(0.2)

NGINX_SERVER = """
    listen 127.0.0.1:{{port}};
    location = /internal/authelia/authz {{{{
      internal;
      proxy_pass http://127.0.0.1:{auth}/api/authz/auth-request;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header Content-Length "";
      proxy_set_header Connection "";
      proxy_pass_request_body off;
    }}}}
    location / {{{{
      auth_request /internal/authelia/authz;
      auth_request_set $user $upstream_http_remote_user;
      auth_request_set $groups $upstream_http_remote_groups;
      auth_request_set $name $upstream_http_remote_name;
      auth_request_set $email $upstream_http_remote_email;
      proxy_set_header Remote-User $user;
      proxy_set_header Remote-Groups $groups;
      proxy_set_header Remote-Name $name;
      proxy_set_header Remote-Email $email;
      auth_request_set $redirection_url $upstream_http_location;
      error_page 401 =302 $redirection_url;
      proxy_pass http://127.0.0.1:{origin};
    }}}}
"""


def curl(*args, timeout=20):
    """Runs curl; returns (status, headers with lower-case names, body text)."""
    r = subprocess.run(["curl", "-sS", "--noproxy", "*", "-D", "-", "--max-time", "15", *args],
                       capture_output=True, timeout=timeout, env=harness.clean_env())
    if r.returncode != 0:
        raise AssertionError("curl %s failed: %s" % (" ".join(args), r.stderr.decode()))
    head, _, body = r.stdout.decode("utf-8", "replace").partition("\r\n\r\n")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return status, headers, body


def raw(port, data, timeout=10):
    """Sends bytes on a fresh connection; returns what came back until the server closed."""
    with socket.create_connection((harness.LOOPBACK, port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        got = b""
        try:
            while True:
                piece = s.recv(65536)
                if not piece:
                    break
                got += piece
        except (socket.timeout, ConnectionResetError):
            pass
        return got


class AuthTest(harness.BurrowTestCase):

    def setUp(self):
        super().setUp()
        r = subprocess.run([harness.BURROW, "auth", "hash-password"], input="correct horse\n",
                           capture_output=True, text=True, timeout=60, env=harness.clean_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        john_hash = r.stdout.strip()
        self.assertRegex(john_hash, r"^\$argon2id\$v=19\$m=65536,t=3,p=4\$[A-Za-z0-9+/]{22}\$"
                                    r"[A-Za-z0-9+/]{43}$")
        with open(self.path("users_database.yml"), "w") as f:
            f.write("users:\n"
                    "  john:\n"
                    "    displayname: 'John Doe'\n"
                    "    password: '%s'\n"
                    "    email: john.doe@example.test\n"
                    "    groups: [admins, dev]\n"
                    "  alice:\n"
                    "    displayname: Alice\n"
                    "    password: '%s'\n"
                    "    groups: [users]\n"
                    "  carol:\n"
                    "    password: '%s'\n"
                    "    disabled: true\n" % (john_hash, BCRYPT_ALICE, BCRYPT_ALICE))
        with open(self.path("session_secret"), "w") as f:
            f.write("a-long-random-session-secret-for-tests\n")
        self.auth_port = harness.free_port()
        self.write_config(self.path("configuration.yml"))
        self.auth = self.spawn("auth", [harness.BURROW, "auth", "--config",
                                        self.path("configuration.yml")],
                               env=harness.clean_env({
                                   "AUTHELIA_SESSION_SECRET_FILE": self.path("session_secret")}))
        self.auth.wait_for(r"auth listening address=127\.0\.0\.1:%d" % self.auth_port)
        _, self.origin_port = self.start_origin("app")
        _, self.nginx_port = self.start_nginx(NGINX_SERVER.format(auth=self.auth_port,
                                                                  origin=self.origin_port))

    def write_config(self, path, rules_extra="", key=STORAGE_KEY):
        with open(path, "w") as f:
            f.write("""
server:
  address: 'tcp://127.0.0.1:{port}/'
log:
  level: info
session:
  cookies:
    - domain: '{domain}'
      authelia_url: '{portal}'
      default_redirection_url: 'http://www.{domain}/'
authentication_backend:
  file:
    path: '{users}'
access_control:
  default_policy: deny
  rules:
    - domain: 'public.{domain}'
      policy: bypass
    - domain: 'secret.{domain}'
      policy: deny
    - domain: 'admin.{domain}'
      subject: 'group:admins'
      policy: one_factor
    - domain: 'admin.{domain}'
      policy: deny
    - domain: 'mfa.{domain}'
      policy: two_factor
    - domain: '*.{domain}'
      policy: one_factor
{extra}
totp:
  issuer: Burrow Test
storage:
  encryption_key: '{key}'
  local:
    path: '{db}'
regulation:
  max_retries: 3
  find_time: 2m
  ban_time: 5m
""".format(port=self.auth_port, domain=DOMAIN, portal=PORTAL, users=self.path("users_database.yml"),
           extra=rules_extra, key=key, db=self.path("db.sqlite3")))

    # ---- helpers ----

    def via_nginx(self, host, path="/headers", cookie=None, extra=()):
        args = ["http://127.0.0.1:%d%s" % (self.nginx_port, path), "-H", "Host: " + host,
                "-H", "Accept: text/html,application/xhtml+xml"]
        if cookie:
            args += ["-H", "Cookie: " + cookie]
        return curl(*args, *extra)

    def login(self, user, password, target="", remember=False):
        body = json.dumps({"username": user, "password": password, "keepMeLoggedIn": remember,
                           "targetURL": target})
        return curl("http://127.0.0.1:%d/api/firstfactor" % self.auth_port,
                    "-H", "Host: auth." + DOMAIN, "-H", "Content-Type: application/json",
                    "--data-binary", body)

    def session_cookie(self, headers):
        for c in headers.get("set-cookie", []):
            if c.startswith("authelia_session=") and not c.startswith("authelia_session=;"):
                return c.split(";", 1)[0]
        self.fail("no session cookie in %r" % headers)

    def portal(self, path, cookie, *args):
        return curl("http://127.0.0.1:%d%s" % (self.auth_port, path), "-H", "Host: auth." + DOMAIN,
                    "-H", "Cookie: " + cookie, *args)

    def level(self, cookie):
        return json.loads(self.portal("/api/state", cookie)[2])["data"]["authentication_level"]

    def enrol(self, user, password, rd):
        """Logs in with the form, enrols TOTP from the page; returns (cookie, secret, step)."""
        status, headers, _ = curl("http://127.0.0.1:%d/login" % self.auth_port,
                                  "-H", "Host: auth." + DOMAIN,
                                  "--data-urlencode", "username=" + user,
                                  "--data-urlencode", "password=" + password,
                                  "--data-urlencode", "rd=" + rd)
        self.assertEqual(status, 303)
        # rd asks for a second factor: the portal asks for it before sending the browser on.
        page = "/?rd=" + urllib.parse.quote(rd, safe="")
        self.assertEqual(headers["location"], [page])
        cookie = self.session_cookie(headers)
        status, headers, body = self.portal(page, cookie)
        self.assertEqual(status, 200)
        self.assertIn('<form method="post" action="/totp/enrol">', body)
        uri = html.unescape(re.search(r'<code id="totp-uri">([^<]*)</code>', body).group(1))
        m = re.fullmatch(r"otpauth://totp/Burrow%20Test:" + user + r"\?secret=([A-Z2-7]{32})"
                         r"&issuer=Burrow%20Test&algorithm=SHA1&digits=6&period=30", uri)
        self.assertTrue(m, uri)
        secret = m.group(1)
        self.assertIn('<code id="totp-secret">%s</code>' % secret, body)
        self.assertIn("<svg", body)  # the QR code, inline
        self.assertNotIn("<script", body)
        self.assertEqual(body.count(secret), 2)  # shown, never in a form field
        self.assertIn("form-action 'self' http://mfa.%s " % DOMAIN,
                      headers["content-security-policy"][0])
        # The same session sees the same secret until it is confirmed.
        self.assertIn(secret, self.portal(page, cookie)[2])
        # A wrong code stores nothing and comes back to the page.
        good = totp(secret, int(time.time()) // 30)
        wrong = "%06d" % ((int(good) + 1) % 1000000)
        status, headers, _ = self.portal("/totp/enrol", cookie, "--data-urlencode",
                                         "token=" + wrong, "--data-urlencode", "rd=" + rd)
        self.assertEqual(status, 303)
        self.assertTrue(headers["location"][0].startswith("/?error=1&rd="))
        self.assertEqual(self.level(cookie), 1)
        step = fresh_step(0)
        status, headers, _ = self.portal("/totp/enrol", cookie,
                                         "--data-urlencode", "token=" + totp(secret, step),
                                         "--data-urlencode", "rd=" + rd)
        self.assertEqual((status, headers["location"]), (303, [rd]))
        self.assertEqual(self.level(cookie), 2)
        return cookie, secret, step

    # ---- the flows ----

    def test_login_through_nginx_reaches_the_origin_with_identity(self):
        status, headers, _ = self.via_nginx("app." + DOMAIN, "/headers?x=1")
        self.assertEqual(status, 302)
        location = headers["location"][0]
        self.assertEqual(location, PORTAL + "/?rd=" + urllib.parse.quote(
            "http://app.%s/headers?x=1" % DOMAIN, safe="") + "&rm=GET")

        status, headers, body = self.login("john", "correct horse",
                                           target="http://app.%s/headers?x=1" % DOMAIN)
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body), {"status": "OK", "data": {
            "redirect": "http://app.%s/headers?x=1" % DOMAIN}})
        set_cookie = headers["set-cookie"][0]
        self.assertIn("Domain=%s" % DOMAIN, set_cookie)
        self.assertIn("HttpOnly", set_cookie)
        self.assertIn("SameSite=Lax", set_cookie)
        self.assertNotIn("Secure", set_cookie)  # the portal here is http://
        self.assertNotIn("Max-Age", set_cookie)  # not kept: a browser-session cookie
        cookie = self.session_cookie(headers)

        status, _, body = self.via_nginx("app." + DOMAIN, "/headers", cookie)
        self.assertEqual(status, 200, body)
        seen = json.loads(body)
        self.assertEqual(seen["remote-user"], "john")
        self.assertEqual(seen["remote-groups"], "admins,dev")
        self.assertEqual(seen["remote-name"], "John Doe")
        self.assertEqual(seen["remote-email"], "john.doe@example.test")

        # The subject rule: john is an admin, alice is not.
        status, _, _ = self.via_nginx("admin." + DOMAIN, "/headers", cookie)
        self.assertEqual(status, 200)
        status, headers, _ = self.login("alice", "battery staple")
        self.assertEqual(status, 200)
        alice = self.session_cookie(headers)
        status, _, _ = self.via_nginx("admin." + DOMAIN, "/headers", alice)
        self.assertEqual(status, 403)  # not an admin: the next rule denies
        status, _, body = self.via_nginx("app." + DOMAIN, "/headers", alice)
        self.assertEqual(json.loads(body)["remote-user"], "alice")

        status, _, body = curl("http://127.0.0.1:%d/api/state" % self.auth_port,
                               "-H", "Host: auth." + DOMAIN, "-H", "Cookie: " + cookie)
        self.assertEqual(json.loads(body), {"status": "OK", "data": {
            "username": "john", "authentication_level": 1,
            "default_redirection_url": "http://www.%s/" % DOMAIN}})

        # Logout ends the session on the server: the same cookie no longer works.
        status, headers, body = curl("http://127.0.0.1:%d/api/logout" % self.auth_port,
                                     "-X", "POST", "-H", "Host: auth." + DOMAIN,
                                     "-H", "Cookie: " + cookie)
        self.assertEqual((status, json.loads(body)), (200, {"status": "OK"}))
        self.assertIn("Max-Age=0", headers["set-cookie"][0])
        status, _, _ = self.via_nginx("app." + DOMAIN, "/headers", cookie)
        self.assertEqual(status, 302)

    def test_totp_enrolment_second_factor_replay_and_restart(self):
        rd = "http://mfa.%s/headers" % DOMAIN
        # No session: the two_factor site sends the browser to the portal as any other.
        self.assertEqual(self.via_nginx("mfa." + DOMAIN)[0], 302)
        cookie, secret, last = self.enrol("john", "correct horse", rd)
        status, _, body = self.via_nginx("mfa." + DOMAIN, "/headers", cookie)
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["remote-user"], "john")
        self.assertNotIn(secret, self.auth.read())  # secrets are never logged
        self.assertRegex(self.auth.read(), r"second factor ok user=john ip=\S+ enrolled=totp")
        self.assertEqual(os.stat(self.path("db.sqlite3")).st_mode & 0o777, 0o600)
        with open(self.path("db.sqlite3"), "rb") as f:
            self.assertNotIn(secret.encode(), f.read())  # stored encrypted

        # A new login is at level 1: one_factor sites pass, the two_factor one does not, and
        # its answer is Authelia's for a level too low: the portal for a browser, 401 for XHR.
        status, headers, body = self.login("john", "correct horse", target=rd)
        self.assertEqual((status, json.loads(body)), (200, {"status": "OK"}))
        cookie = self.session_cookie(headers)
        self.assertEqual(self.level(cookie), 1)
        self.assertEqual(self.via_nginx("app." + DOMAIN, "/headers", cookie)[0], 200)
        self.assertEqual(self.via_nginx("mfa." + DOMAIN, "/headers", cookie)[0], 302)
        fa = ["http://127.0.0.1:%d/api/authz/forward-auth" % self.auth_port,
              "-H", "X-Forwarded-Proto: http", "-H", "X-Forwarded-Host: mfa." + DOMAIN,
              "-H", "X-Forwarded-Uri: /x", "-H", "X-Forwarded-Method: GET",
              "-H", "Cookie: " + cookie]
        status, headers, _ = curl(*fa, "-H", "Accept: text/html")
        self.assertEqual((status, headers["location"]), (302, [
            PORTAL + "/?rd=" + urllib.parse.quote("http://mfa.%s/x" % DOMAIN, safe="") +
            "&rm=GET"]))
        status, _, _ = curl(*fa, "-H", "Accept: application/json",
                            "-H", "X-Requested-With: XMLHttpRequest")
        self.assertEqual(status, 401)
        # The portal page asks for the code now, not for an enrolment.
        _, _, body = self.portal("/?rd=" + urllib.parse.quote(rd, safe=""), cookie)
        self.assertIn('<form method="post" action="/totp">', body)
        self.assertNotIn(secret, body)

        # Authelia's API: the code just used is refused (replay), a fresh one passes.
        api = "http://127.0.0.1:%d/api/secondfactor/totp" % self.auth_port
        def second(token):
            return curl(api, "-H", "Host: auth." + DOMAIN, "-H", "Cookie: " + cookie,
                        "-H", "Content-Type: application/json",
                        "--data-binary", json.dumps({"token": token, "targetURL": rd}))
        status, _, body = second(totp(secret, last))
        self.assertEqual((status, json.loads(body)), (401, {
            "status": "KO", "message": "Authentication failed, please retry later."}))
        self.assertRegex(self.auth.read(), r"second factor failed user=john ip=\S+ "
                                           r"reason=code used before")
        last = fresh_step(last)
        status, _, body = second(totp(secret, last))
        self.assertEqual((status, json.loads(body)), (200, {"status": "OK", "data": {
            "redirect": rd}}))
        self.assertEqual(self.level(cookie), 2)
        self.assertEqual(self.via_nginx("mfa." + DOMAIN, "/headers", cookie)[0], 200)
        status, headers, _ = curl(*fa, "-H", "Accept: text/html")
        self.assertEqual((status, headers["remote-user"]), (200, ["john"]))

        # A restart keeps the enrolment (sessions are in memory: log in again).
        self.auth.stop()
        self.auth = self.spawn("auth2", [harness.BURROW, "auth", "--config",
                                         self.path("configuration.yml")],
                               env=harness.clean_env({
                                   "AUTHELIA_SESSION_SECRET_FILE": self.path("session_secret")}))
        self.auth.wait_for(r"auth listening address=127\.0\.0\.1:%d .* totp=sqlite" %
                           self.auth_port)
        _, headers, _ = self.login("john", "correct horse", target=rd)
        cookie = self.session_cookie(headers)
        _, _, body = self.portal("/?rd=" + urllib.parse.quote(rd, safe=""), cookie)
        self.assertIn('<form method="post" action="/totp">', body)
        last = fresh_step(last)
        status, headers, _ = self.portal("/totp", cookie, "--data-urlencode",
                                         "token=" + totp(secret, last),
                                         "--data-urlencode", "rd=" + rd)
        self.assertEqual((status, headers["location"]), (303, [rd]))
        self.assertEqual(self.via_nginx("mfa." + DOMAIN, "/headers", cookie)[0], 200)
        # A code posted from a page outside the session domains is refused (login CSRF).
        status, _, _ = self.portal("/totp", cookie, "-H", "Origin: https://evil.test",
                                   "--data-urlencode", "token=123456")
        self.assertEqual(status, 403)

        # Another encryption key for the same database: refused at start, not garbage codes.
        self.auth.stop()
        self.write_config(self.path("other.yml"), key="another-key-of-enough-characters")
        r = self.burrow("auth", "--config", self.path("other.yml"),
                        env=harness.clean_env({
                            "AUTHELIA_SESSION_SECRET_FILE": self.path("session_secret")}))
        self.assertEqual(r.returncode, 1)
        self.assertIn("other.yml: storage.encryption_key: not the key the database %s was "
                      "created with" % self.path("db.sqlite3"), r.stderr)

    def test_totp_enrolment_before_any_two_factor_site(self):
        _, headers, _ = self.login("alice", "battery staple")
        cookie = self.session_cookie(headers)
        _, _, body = self.portal("/", cookie)
        self.assertIn('<a id="enrol" href="/?enrol=1">', body)
        _, _, body = self.portal("/?enrol=1", cookie)
        self.assertIn('<form method="post" action="/totp/enrol">', body)
        secret = re.search(r'<code id="totp-secret">([A-Z2-7]{32})</code>', body).group(1)
        self.assertIn("otpauth://totp/Burrow%20Test:alice?secret=" + secret, body)
        step = fresh_step(0)
        status, headers, _ = self.portal("/totp/enrol", cookie, "--data-urlencode",
                                         "token=" + totp(secret, step))
        self.assertEqual((status, headers["location"]), (303, ["http://www.%s/" % DOMAIN]))
        self.assertEqual(self.level(cookie), 2)
        _, _, body = self.portal("/", cookie)
        self.assertNotIn("enrol", body)
        # Enrolled: a new session is offered the code page, never a new secret.
        _, headers, _ = self.login("alice", "battery staple")
        cookie = self.session_cookie(headers)
        _, _, body = self.portal("/?enrol=1", cookie)
        self.assertIn('<form method="post" action="/totp">', body)
        self.assertNotIn("totp-secret", body)
        status, headers, _ = self.portal("/totp/enrol", cookie, "--data-urlencode",
                                         "token=" + totp(secret, fresh_step(step)))
        self.assertTrue(headers["location"][0].startswith("/?error=1"))
        self.assertRegex(self.auth.read(), r"second factor failed user=alice ip=\S+ "
                                           r"reason=enrolled already")

    def test_totp_failures_count_toward_the_ban(self):
        rd = "http://mfa.%s/" % DOMAIN
        cookie, secret, last = self.enrol("john", "correct horse", rd)
        _, headers, _ = self.login("john", "correct horse")
        cookie = self.session_cookie(headers)
        api = "http://127.0.0.1:%d/api/secondfactor/totp" % self.auth_port
        def second(token):
            return curl(api, "-H", "Host: auth." + DOMAIN, "-H", "Cookie: " + cookie,
                        "-H", "Content-Type: application/json",
                        "--data-binary", json.dumps({"token": token}))
        good = totp(secret, fresh_step(last))
        wrong = "%06d" % ((int(good) + 1) % 1000000)
        for _ in range(3):  # max_retries (a success before cleared the enrolment's failure)
            start = time.monotonic()
            status, _, body = second(wrong)
            self.assertEqual(status, 401, body)
            self.assertGreaterEqual(time.monotonic() - start, 0.5)  # the failure floor
        status, _, body = second(good)
        self.assertEqual(status, 401, body)  # banned: even the right code
        self.assertRegex(self.auth.read(), r"second factor failed user=john ip=\S+ reason=banned")
        self.assertEqual(self.level(cookie), 1)
        self.assertEqual(self.login("john", "correct horse")[0], 401)  # passwords too
        # Without a session, or with a malformed body, nothing is checked.
        status, _, _ = curl(api, "-H", "Host: auth." + DOMAIN, "--data-binary",
                            json.dumps({"token": good}))
        self.assertEqual(status, 401)
        status, _, _ = curl(api, "-H", "Host: auth." + DOMAIN, "-H", "Cookie: " + cookie,
                            "--data-binary", "{")
        self.assertEqual(status, 400)

    def test_wrong_password_missing_and_disabled_users_answer_alike(self):
        times = {}
        for user, password in (("john", "wrong"), ("nobody", "wrong"), ("carol", "battery staple")):
            start = time.monotonic()
            status, headers, body = self.login(user, password)
            times[user] = time.monotonic() - start
            self.assertEqual(status, 401, body)
            self.assertEqual(json.loads(body), {
                "status": "KO", "message": "Authentication failed. Check your credentials."})
            self.assertNotIn("set-cookie", headers)
        # Every failure waits out the same floor (0.5 s, plus up to 0.1 s of jitter).
        for user, t in times.items():
            self.assertGreaterEqual(t, 0.5, user)
            self.assertLess(t, 10.0 * harness.TIME_FACTOR, user)
        self.assertRegex(self.auth.read(), r"login failed user=nobody ip=\S+ reason=no such user")
        self.assertNotIn("battery staple", self.auth.read())  # passwords are never logged

    def test_bypass_and_deny(self):
        status, _, body = self.via_nginx("public." + DOMAIN, "/headers")
        self.assertEqual(status, 200)
        self.assertNotIn("remote-user", json.loads(body))
        status, _, _ = self.via_nginx("secret." + DOMAIN, "/headers")
        self.assertEqual(status, 403)
        status, headers, _ = self.login("john", "correct horse")
        cookie = self.session_cookie(headers)
        status, _, _ = self.via_nginx("secret." + DOMAIN, "/headers", cookie)
        self.assertEqual(status, 403)
        # A host outside every cookie domain is refused, never let through.
        status, _, body = self.via_nginx("app.elsewhere.test", "/headers")
        self.assertNotEqual(status, 200)
        self.assertNotIn("remote-user", body)

    def test_regulation_bans_after_max_retries(self):
        for _ in range(3):
            status, _, _ = self.login("alice", "not it")
            self.assertEqual(status, 401)
        status, _, body = self.login("alice", "battery staple")
        self.assertEqual(status, 401, body)
        self.assertRegex(self.auth.read(), r"login failed user=alice ip=\S+ reason=banned")
        status, _, _ = self.login("john", "correct horse")  # others are not affected
        self.assertEqual(status, 200)

    def test_sighup_reloads_the_users_file(self):
        _, headers, _ = self.login("alice", "battery staple")
        alice = self.session_cookie(headers)
        self.assertEqual(self.via_nginx("app." + DOMAIN, "/headers", alice)[0], 200)
        with open(self.path("users_database.yml")) as f:
            users = f.read()
        # A file that does not load is refused; the users already loaded stay.
        with open(self.path("users_database.yml"), "w") as f:
            f.write("users:\n  alice:\n    password: 'plain'\n")
        self.auth.send(signal.SIGHUP)
        self.auth.wait_for(r"users file not reloaded, the loaded users stay error=.*"
                           r"user 'alice': password: not a password hash")
        self.assertEqual(self.via_nginx("app." + DOMAIN, "/headers", alice)[0], 200)
        # alice disabled: her session ends at its next use, and she cannot log in again.
        with open(self.path("users_database.yml"), "w") as f:
            f.write(users.replace("    groups: [users]\n", "    groups: [users]\n"
                                                          "    disabled: true\n"))
        self.auth.send(signal.SIGHUP)
        self.auth.wait_for(r"users reloaded users=3")
        self.assertEqual(self.via_nginx("app." + DOMAIN, "/headers", alice)[0], 302)
        self.assertEqual(self.login("alice", "battery staple")[0], 401)
        self.assertTrue(self.auth.alive())

    def test_no_open_redirect(self):
        status, _, body = self.login("john", "correct horse", target="https://evil.test/steal")
        self.assertEqual((status, json.loads(body)), (200, {"status": "OK"}))
        status, _, body = self.login("john", "correct horse",
                                     target="http://app.%s.evil.test/" % DOMAIN)
        self.assertEqual((status, json.loads(body)), (200, {"status": "OK"}))
        status, _, body = self.login("john", "correct horse")
        self.assertEqual(json.loads(body)["data"]["redirect"], "http://www.%s/" % DOMAIN)

    def test_forward_auth_as_traefik_calls_it(self):
        url = "http://127.0.0.1:%d/api/authz/forward-auth" % self.auth_port
        fwd = ["-H", "X-Forwarded-Proto: https", "-H", "X-Forwarded-Host: app." + DOMAIN,
               "-H", "X-Forwarded-Uri: /a?b=c", "-H", "X-Forwarded-For: 192.0.2.7"]
        target = urllib.parse.quote("https://app.%s/a?b=c" % DOMAIN, safe="")
        status, headers, _ = curl(url, *fwd, "-H", "X-Forwarded-Method: GET",
                                  "-H", "Accept: text/html")
        self.assertEqual(status, 302)
        self.assertEqual(headers["location"][0], "%s/?rd=%s&rm=GET" % (PORTAL, target))
        status, headers, _ = curl(url, *fwd, "-H", "X-Forwarded-Method: POST",
                                  "-H", "Accept: text/html")
        self.assertEqual(status, 303)
        self.assertEqual(headers["location"][0], "%s/?rd=%s&rm=POST" % (PORTAL, target))
        status, _, _ = curl(url, *fwd, "-H", "X-Forwarded-Method: GET",
                            "-H", "X-Requested-With: XMLHttpRequest", "-H", "Accept: text/html")
        self.assertEqual(status, 401)
        status, _, _ = curl(url, *fwd, "-H", "X-Forwarded-Method: GET",
                            "-H", "Accept: application/json")
        self.assertEqual(status, 401)
        status, _, _ = curl(url, "-H", "Accept: text/html")  # no forwarded headers
        self.assertEqual(status, 401)

        _, headers, _ = self.login("john", "correct horse")
        cookie = self.session_cookie(headers)
        status, headers, _ = curl(url, *fwd, "-H", "X-Forwarded-Method: GET",
                                  "-H", "Cookie: " + cookie)
        self.assertEqual(status, 200)
        self.assertEqual(headers["remote-user"], ["john"])
        self.assertEqual(headers["remote-groups"], ["admins,dev"])
        # A forged cookie is nobody.
        forged = cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")
        status, _, _ = curl(url, *fwd, "-H", "X-Forwarded-Method: GET", "-H", "Cookie: " + forged,
                            "-H", "Accept: text/html")
        self.assertEqual(status, 302)

        # Legacy /api/verify: X-Original-URL, and rd names the portal to send the browser to.
        legacy = "http://127.0.0.1:%d/api/verify?rd=%s" % (
            self.auth_port, urllib.parse.quote(PORTAL + "/", safe=""))
        status, headers, _ = curl(legacy, "-H", "X-Original-URL: https://app.%s/x" % DOMAIN,
                                  "-H", "Accept: text/html")
        self.assertEqual(status, 302)
        self.assertTrue(headers["location"][0].startswith(PORTAL + "/?rd=https%3A%2F%2Fapp."))
        status, _, _ = curl(legacy, "-H", "X-Original-URL: https://app.%s/x" % DOMAIN,
                            "-H", "Cookie: " + cookie)
        self.assertEqual(status, 200)

    def test_login_page_without_javascript(self):
        rd = "http://app.%s/page" % DOMAIN
        status, headers, body = curl("http://127.0.0.1:%d/?rd=%s" % (
            self.auth_port, urllib.parse.quote(rd, safe="")), "-H", "Host: auth." + DOMAIN)
        self.assertEqual(status, 200)
        self.assertIn("text/html", headers["content-type"][0])
        self.assertIn('<form method="post" action="/login">', body)
        self.assertIn('name="rd" value="%s"' % rd, body)
        self.assertNotIn("<script", body)
        self.assertEqual(headers["content-security-policy"], [
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' "
            "http://app.%s http://www.%s; frame-ancestors 'none'" % (DOMAIN, DOMAIN)])
        form = ["--data-urlencode", "username=john", "--data-urlencode", "password=correct horse",
                "--data-urlencode", "rd=" + rd, "--data-urlencode", "keepMeLoggedIn=true"]
        status, headers, _ = curl("http://127.0.0.1:%d/login" % self.auth_port,
                                  "-H", "Host: auth." + DOMAIN, *form)
        self.assertEqual(status, 303)
        self.assertEqual(headers["location"], [rd])
        self.assertIn("Max-Age=2592000", headers["set-cookie"][0])  # remember_me: 1 month
        cookie = self.session_cookie(headers)
        status, _, body = curl("http://127.0.0.1:%d/" % self.auth_port,
                               "-H", "Host: auth." + DOMAIN, "-H", "Cookie: " + cookie)
        self.assertIn("signed in as <b>john</b>", body)
        # Signed in, the page sends the browser straight on to rd.
        status, headers, _ = curl("http://127.0.0.1:%d/?rd=%s" % (
            self.auth_port, urllib.parse.quote(rd, safe="")), "-H", "Host: auth." + DOMAIN,
            "-H", "Cookie: " + cookie)
        self.assertEqual((status, headers["location"]), (302, [rd]))
        # A login posted from a page outside the session domains is refused (login CSRF).
        status, _, _ = curl("http://127.0.0.1:%d/login" % self.auth_port,
                            "-H", "Host: auth." + DOMAIN, "-H", "Origin: https://evil.test", *form)
        self.assertEqual(status, 403)
        # A wrong password comes back to the form with a message, rd kept.
        form[3] = "password=nope"
        status, headers, _ = curl("http://127.0.0.1:%d/login" % self.auth_port,
                                  "-H", "Host: auth." + DOMAIN, *form)
        self.assertEqual(status, 303)
        self.assertTrue(headers["location"][0].startswith("/?error=1&rd="))
        # An rd outside the session domain is dropped from the page.
        status, _, body = curl("http://127.0.0.1:%d/?rd=https%%3A%%2F%%2Fevil.test%%2F" %
                               self.auth_port, "-H", "Host: auth." + DOMAIN)
        self.assertNotIn("evil.test", body)

    def test_attacker_does_not_stop_the_portal(self):
        _, headers, _ = self.login("john", "correct horse")
        cookie = self.session_cookie(headers)
        url = "http://127.0.0.1:%d/api/authz/forward-auth" % self.auth_port
        fwd = ["-H", "X-Forwarded-Proto: https", "-H", "X-Forwarded-Host: app." + DOMAIN,
               "-H", "X-Forwarded-Uri: /", "-H", "X-Forwarded-Method: GET",
               "-H", "Cookie: " + cookie]

        self.assertIn(b" 400 ", raw(self.auth_port, b"GARBAGE\x00\x01 / HTTP/9\r\n\r\n")[:20])
        self.assertIn(b" 431 ", raw(self.auth_port, b"GET / HTTP/1.1\r\nHost: a\r\nX: " +
                                    b"a" * 100000 + b"\r\n\r\n")[:20])
        big = b"x" * (1 << 20)
        got = raw(self.auth_port, b"POST /api/firstfactor HTTP/1.1\r\nHost: auth.example.test\r\n"
                                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                  % len(big) + big)
        self.assertIn(b" 413 ", got[:20])
        status, _, body = curl("http://127.0.0.1:%d/api/firstfactor" % self.auth_port,
                               "-H", "Host: auth." + DOMAIN, "-H", "Content-Type: application/json",
                               "--data-binary", "[" * 5000)
        self.assertEqual(status, 400)

        stop = threading.Event()

        def attack():
            payloads = [b"\x16\x03\x01\x02\x00garbage-tls-hello",
                        b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n",
                        b"POST /api/firstfactor HTTP/1.1\r\nHost: auth.example.test\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\nzzzz\r\n",
                        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
                        b"GET / HTTP/1.1\r\nHost: a\r\n"]  # an unfinished head
            i = 0
            while not stop.is_set():
                try:
                    raw(self.auth_port, payloads[i % len(payloads)], timeout=0.5)
                except OSError:
                    pass
                i += 1

        attackers = [threading.Thread(target=attack, daemon=True) for _ in range(4)]
        for t in attackers:
            t.start()
        try:
            for _ in range(20):
                start = time.monotonic()
                status, headers, _ = curl(url, *fwd)
                self.assertEqual(status, 200)
                self.assertEqual(headers["remote-user"], ["john"])
                self.assertLess(time.monotonic() - start, 2.0 * harness.TIME_FACTOR)
        finally:
            stop.set()
            for t in attackers:
                t.join(5)
        self.assertTrue(self.auth.alive())


class AuthConfigErrorsTest(harness.BurrowTestCase):

    def test_refusals(self):
        with open(self.path("users.yml"), "w") as f:
            f.write("users:\n  john:\n    password: 'hunter2'\n")
        cfg = ("session:\n  secret: s\n  cookies: [{domain: example.test, "
               "authelia_url: 'https://auth.example.test'}]\n"
               "authentication_backend: {file: {path: '%s'}}\n" % self.path("users.yml"))
        with open(self.path("c1.yml"), "w") as f:
            f.write(cfg)
        r = self.burrow("auth", "--config", self.path("c1.yml"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("users.yml:3: user 'john': password: not a password hash", r.stderr)

        with open(self.path("c2.yml"), "w") as f:
            f.write(cfg + "access_control:\n  rules:\n    - domain: a.example.test\n"
                          "      policy: two_factor\n")
        r = self.burrow("auth", "--config", self.path("c2.yml"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("c2.yml:1: storage.local.path is required by the two_factor rule at "
                      "line 7", r.stderr)
        with open(self.path("c3.yml"), "w") as f:
            f.write(cfg + "access_control: {default_policy: two_factor}\n"
                          "storage: {encryption_key: short, local: {path: '%s'}}\n"
                          % self.path("db.sqlite3"))
        r = self.burrow("auth", "--config", self.path("c3.yml"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("c3.yml:6: storage.encryption_key: must be at least 20 characters",
                      r.stderr)

    def test_hash_password_reads_a_file_never_argv(self):
        with open(self.path("pw"), "w") as f:
            f.write("s3cret\n")
        r = self.burrow("auth", "hash-password", "--password-file", self.path("pw"), check=True)
        self.assertRegex(r.stdout, r"^\$argon2id\$v=19\$m=65536,t=3,p=4\$")
        r = self.burrow("auth", "hash-password", "s3cret")
        self.assertEqual(r.returncode, 2)  # no password on the command line
        with open(self.path("empty"), "w") as f:
            f.write("\n")
        r = self.burrow("auth", "hash-password", "--password-file", self.path("empty"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("the password is empty", r.stderr)


if __name__ == "__main__":
    unittest.main()
