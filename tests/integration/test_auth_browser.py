#!/usr/bin/env python3
"""The login portal in a real browser: headless Chromium (Debian's, driven by chromedriver)
through a real edge and connector, with `burrow auth` behind its own route.

A browser asks for a route that needs a session, is sent to the portal's page, signs in with the
form (no JavaScript involved), comes back to the page it asked for, and signs out; a wrong
password shows the error on the page. A route under a two_factor rule: the browser enrols TOTP
from the page (the key read from the page, the code computed here), reaches the route, signs
out, and signs in again with the password and a code. Screenshots of each step are saved in
$BURROW_SCREENSHOTS (default: screenshots/ in the working directory: build/tests/ under ctest).
"""

import os
import shutil
import subprocess
import unittest

import harness
from test_auth import fresh_step, totp

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

BCRYPT_ALICE = "$2y$05$TD6zXnPpDgmGr2nkRE1aOukIgBQ.L72MNxHXiaWFNFlv6va2ZNL9e"  # battery staple
DOMAIN = "example.test"
SHOTS = os.environ.get("BURROW_SCREENSHOTS") or os.path.join(os.getcwd(), "screenshots")

CONFIG = """\
ingress:
  - hostname: auth.{domain}
    service: http://127.0.0.1:{portal}
  - hostname: app.{domain}
    service: http://127.0.0.1:{origin}
    originRequest:
      access: {{required: true, portal: 'http://127.0.0.1:{portal}'}}
  - hostname: mfa.{domain}
    service: http://127.0.0.1:{origin}
    originRequest:
      access: {{required: true, portal: 'http://127.0.0.1:{portal}'}}
  - service: http_status:404
"""

PORTAL_CONFIG = """
server:
  address: 'tcp://127.0.0.1:{port}/'
session:
  cookies:
    - domain: '{domain}'
      authelia_url: 'http://auth.{domain}:{edge}/'
authentication_backend:
  file:
    path: '{users}'
access_control:
  default_policy: deny
  rules:
    - domain: 'app.{domain}'
      policy: one_factor
    - domain: 'mfa.{domain}'
      policy: two_factor
totp:
  issuer: '{domain}'
storage:
  encryption_key: 'a-storage-encryption-key-for-tests'
  local:
    path: '{db}'
"""


class AuthBrowserTest(harness.BurrowTestCase):
    def setUp(self):
        super().setUp()
        missing = [t for t in ("chromium", "chromedriver", "zbarimg")
                   if shutil.which(t) is None]
        self.assertEqual(missing, [], "scripts/deps test installs them")
        os.makedirs(SHOTS, exist_ok=True)
        with open(self.path("users_database.yml"), "w") as f:
            f.write("users:\n  alice:\n    displayname: Alice\n    password: '%s'\n"
                    "    email: alice@%s\n    groups: [admins]\n" % (BCRYPT_ALICE, DOMAIN))
        with open(self.path("session_secret"), "w") as f:
            f.write("a-long-random-session-secret-for-tests\n")
        portal_port = harness.free_port()
        _, origin = self.start_origin("A")
        self.edge, _ = self.tunnel_to_origin(
            ["auth." + DOMAIN, "app." + DOMAIN, "mfa." + DOMAIN],
            config_text=CONFIG.format(domain=DOMAIN, portal=portal_port, origin=origin))
        # The portal's URL is the edge's, so it is written once the edge listens.
        self.write_file("configuration.yml", PORTAL_CONFIG.format(
            port=portal_port, domain=DOMAIN, edge=self.edge.http_port,
            users=self.path("users_database.yml"), db=self.path("db.sqlite3")))
        portal = self.spawn("auth", [harness.BURROW, "auth", "--config",
                                     self.path("configuration.yml")],
                            env=harness.clean_env({
                                "AUTHELIA_SESSION_SECRET_FILE": self.path("session_secret")}))
        portal.wait_for(r"auth listening address=127\.0\.0\.1:%d" % portal_port)
        self.browser = self.start_browser()

    def start_browser(self):
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-proxy-server", "--window-size=1000,760",
                    "--user-data-dir=" + self.path("chromium"),
                    # Every name of the test domain is the edge on loopback; nothing else resolves.
                    "--host-resolver-rules=MAP *.%s 127.0.0.1, EXCLUDE localhost" % DOMAIN):
            options.add_argument(arg)
        service = Service(shutil.which("chromedriver"), log_output=self.path("chromedriver.log"))
        browser = webdriver.Chrome(service=service, options=options)
        self.addCleanup(browser.quit)
        browser.set_page_load_timeout(30 * harness.TIME_FACTOR)
        return browser

    def url(self, host, path="/"):
        return "http://%s.%s:%d%s" % (host, DOMAIN, self.edge.http_port, path)

    def shot(self, name):
        path = os.path.join(SHOTS, "auth-%s.png" % name)
        self.assertTrue(self.browser.save_screenshot(path), path)
        self.assertGreater(os.path.getsize(path), 1000, path)

    def wait_for_url(self, prefix):
        WebDriverWait(self.browser, 15 * harness.TIME_FACTOR).until(
            lambda b: b.current_url.startswith(prefix),
            "the browser did not reach %s" % prefix)

    def sign_in(self, password):
        self.browser.find_element(By.ID, "username").send_keys("alice")
        self.browser.find_element(By.ID, "password").send_keys(password)
        self.browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()

    def test_log_in_come_back_and_log_out(self):
        b = self.browser
        b.get(self.url("app", "/hello?x=1"))
        # Sent to the portal's page, with the page asked for kept in rd=.
        self.wait_for_url(self.url("auth", "/?rd="))
        self.assertEqual(b.title, "Sign in")
        self.assertIn("app.%s" % DOMAIN, b.current_url)
        self.shot("1-sign-in")
        # A wrong password: the page says so, and no session.
        self.sign_in("wrong")
        WebDriverWait(b, 15 * harness.TIME_FACTOR).until(
            lambda b: b.find_elements(By.CSS_SELECTOR, "p.error"))
        self.assertIn("Authentication failed",
                      b.find_element(By.CSS_SELECTOR, "p.error").text)
        self.assertIsNone(b.get_cookie("authelia_session"))
        self.shot("2-wrong-password")
        # The right one: back where the browser was going, the origin's answer.
        self.sign_in("battery staple")
        self.wait_for_url(self.url("app", "/hello?x=1"))
        self.assertIn("hello from A path=/hello", b.find_element(By.TAG_NAME, "body").text)
        cookie = b.get_cookie("authelia_session")
        self.assertIsNotNone(cookie)
        self.assertTrue(cookie["httpOnly"])
        self.assertEqual(cookie["domain"].lstrip("."), DOMAIN)
        self.shot("3-back-at-the-app")
        # The portal shows who is signed in; signing out ends the session everywhere.
        b.get(self.url("auth", "/"))
        self.assertIn("signed in as alice", b.find_element(By.TAG_NAME, "body").text)
        self.shot("4-signed-in")
        b.find_element(By.CSS_SELECTOR, "form[action='/logout'] button").click()
        WebDriverWait(b, 15 * harness.TIME_FACTOR).until(
            lambda b: b.find_elements(By.ID, "username"))
        self.shot("5-signed-out")
        b.get(self.url("app", "/hello"))
        self.wait_for_url(self.url("auth", "/?rd="))
        self.assertNotIn("hello from A", b.page_source)

    def send_code(self, action, step):
        b = self.browser
        b.find_element(By.ID, "token").send_keys(totp(self.secret, step))
        b.find_element(By.CSS_SELECTOR, "form[action='%s'] button[type=submit]" % action).click()

    def test_enrol_totp_then_sign_in_with_password_and_code(self):
        b = self.browser
        b.get(self.url("mfa", "/hello?x=2"))
        self.wait_for_url(self.url("auth", "/?rd="))
        self.sign_in("battery staple")
        # No second factor yet: the page enrols one, its secret shown as a QR code and as text.
        WebDriverWait(b, 15 * harness.TIME_FACTOR).until(
            lambda b: b.find_elements(By.ID, "totp-secret"))
        self.assertEqual(b.title, "Set up a second factor")
        self.secret = b.find_element(By.ID, "totp-secret").text
        self.assertRegex(self.secret, r"^[A-Z2-7]{32}$")
        uri = b.find_element(By.ID, "totp-uri").text
        self.assertEqual(uri, "otpauth://totp/%s:alice?secret=%s&issuer=%s&algorithm=SHA1"
                              "&digits=6&period=30" % (DOMAIN, self.secret, DOMAIN))
        qr = b.find_element(By.CSS_SELECTOR, ".qr svg")
        self.assertGreaterEqual(qr.size["width"], 180)
        b.set_window_size(1000, 1000)  # the whole page in the picture
        self.shot("6-enrol-totp")
        # The QR code as a phone's camera sees it: zbarimg reads it off the screenshot.
        r = subprocess.run(["zbarimg", "-q", "--raw", os.path.join(SHOTS, "auth-6-enrol-totp.png")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.stdout.strip(), uri, r.stderr)
        b.set_window_size(1000, 760)
        step = fresh_step(0)
        self.send_code("/totp/enrol", step)
        self.wait_for_url(self.url("mfa", "/hello?x=2"))
        self.assertIn("hello from A path=/hello", b.find_element(By.TAG_NAME, "body").text)
        # Signed out, then in again: the password, then a code from the same app.
        b.get(self.url("auth", "/"))
        b.find_element(By.CSS_SELECTOR, "form[action='/logout'] button").click()
        WebDriverWait(b, 15 * harness.TIME_FACTOR).until(
            lambda b: b.find_elements(By.ID, "username"))
        b.get(self.url("mfa", "/hello?again=1"))
        self.wait_for_url(self.url("auth", "/?rd="))
        self.sign_in("battery staple")
        WebDriverWait(b, 15 * harness.TIME_FACTOR).until(
            lambda b: b.find_elements(By.CSS_SELECTOR, "form[action='/totp']"))
        self.assertEqual(b.title, "One-time code")
        self.assertNotIn(self.secret, b.page_source)
        self.shot("7-totp-code")
        self.send_code("/totp", fresh_step(step))
        self.wait_for_url(self.url("mfa", "/hello?again=1"))
        self.assertIn("hello from A path=/hello", b.find_element(By.TAG_NAME, "body").text)


if __name__ == "__main__":
    unittest.main()
