#!/usr/bin/env python3
"""The stack's dashboard: `burrow up --admin 127.0.0.1:PORT` of a burrow.yaml with a service on a
private network behind a route with middlewares and one confined to a VPN namespace (the
provider: wireguard-go in a namespace of the case's own), looked at in headless Chromium
(Debian's, driven by chromedriver), all inside namespaces of the test's own (as
test_stack_privileged.py does). Screenshots go to $BURROW_SCREENSHOTS (default: screenshots/ in
the working directory)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import unittest
import urllib.error
import urllib.request

import harness
import test_stack_privileged as sp

SHOTS = os.environ.get("BURROW_SCREENSHOTS") or os.path.join(os.getcwd(), "screenshots")
ADMIN = "127.0.0.1:9900"

STACK = """tunnel: { tokenFile: token }
%(namespaces)smiddlewares:
  secure: { headers: { frameDeny: true } }
  strip: { stripPrefix: { prefixes: [/photos] } }
services:
  photos:
%(photos)s  torrent:
%(torrent)sroutes:
  - hostname: a.example.net
    service: http://[photos]:8000
    middlewares: [secure, strip]
  - hostname: b.example.net
    service: http://[torrent]:8080
  - service: http_status:404
"""


def get(path, method="GET"):
    req = urllib.request.Request("http://%s%s" % (ADMIN, path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def browser(work):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-proxy-server", "--window-size=1300,1100",
                "--user-data-dir=" + os.path.join(work, "chromium")):
        options.add_argument(arg)
    service = Service(shutil.which("chromedriver"),
                      log_output=os.path.join(work, "chromedriver.log"))
    b = webdriver.Chrome(service=service, options=options)
    b.set_page_load_timeout(30 * harness.TIME_FACTOR)
    return b


def case_stack_page(w):
    from selenium.webdriver.support.ui import WebDriverWait

    namespaces = sp.vpn_provider(w)
    torrent = sp.origin("torrent", "    network: vpn:vpn\n    sandbox: { User: nobody }\n")
    w.write("burrow.yaml", STACK % {
        "namespaces": namespaces,
        "photos": sp.origin("photos", "    sandbox: { Restart: always, RestartSec: 3s }\n"),
        "torrent": torrent.replace('"8000"', '"8080"')})
    # Anything but a loopback address is refused before anything is made.
    r = w.stack("up", "--detach", "--admin", "0.0.0.0:9900", check=False)
    assert r.returncode == 1 and "--admin 0.0.0.0:9900: not a loopback address" in r.stderr, \
        r.stderr
    assert w.leftovers()["netns"] == [] and not os.path.exists(w.state + "/stack/state.json")
    r = w.stack("up", "--detach", "--admin-actions", check=False)
    assert r.returncode == 1 and "--admin-actions: the dashboard's actions need --admin ADDR" \
        in r.stderr, r.stderr
    assert w.leftovers()["netns"] == [] and not os.path.exists(w.state + "/stack/state.json")
    r = w.stack("up", "--detach", "--admin", ADMIN, "--admin-actions")
    print("=== up\n" + r.stderr + r.stdout)
    assert "dashboard: started (pid " in r.stderr, r.stderr
    w.wait_get("a.example.net", "hello from photos")
    harness.poll(lambda: w.ps()["namespaces"][0]["state"] == "up", 15 * harness.TIME_FACTOR,
                 what="the namespace's handshake: %r" % (w.ps()["namespaces"],))
    # The dashboard runs as a process of the stack; ps --json and /api/stack agree.
    ps = w.ps()
    assert ps["dashboard"]["state"] == "running" and ps["admin"] == ADMIN, ps
    assert ps["admin_actions"] is True, ps
    status, text = get("/api/stack")
    assert status == 200, (status, text)
    api = json.loads(text)
    for k in ("running", "supervisor", "file", "routes", "admin"):
        assert api[k] == ps[k], (k, api[k], ps[k])
    strip = lambda s: {k: v for k, v in s.items() if k not in ("log",)}
    assert [strip(s) for s in api["services"]] == [strip(s) for s in ps["services"]], (api, ps)
    photos = next(s for s in api["services"] if s["name"] == "photos")
    assert photos["network"] == "private" and photos["exposure"] is not None, photos
    assert api["routes"][0]["middlewares"] == ["secure", "strip"], api["routes"]
    assert api["routes"][0]["target"] == "http://%s:8000" % photos["address"], api["routes"]
    ns = api["namespaces"][0]
    assert ns["name"] == "vpn" and ns["last_handshake"] > 0 and ns["tx_bytes"] > 0, ns
    # Only /api/actions takes a POST; a request for another host name is refused.
    assert get("/api/stack", "POST")[0] == 405
    r = sp.sh("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Host: evil.example",
              "http://%s/" % ADMIN, check=False)
    assert r.stdout == "421", r.stdout

    os.makedirs(SHOTS, exist_ok=True)
    b = browser(w.work)
    try:
        wait = lambda cond, what: WebDriverWait(b, 20 * harness.TIME_FACTOR).until(cond, what)

        # Read in one script: the live page swaps <main> whole, so an element found in one
        # call may be gone by the next.
        def cells(name):
            """Name, state, pid, address, ... of the service's row."""
            return b.execute_script(
                "return Array.from(document.querySelectorAll(arguments[0]))"
                ".map(td => td.innerText.trim())", "tr[data-service='%s'] td" % name)

        def row(name):
            return " ".join(cells(name))

        def text(selector):
            return b.execute_script("const e = document.querySelector(arguments[0]);"
                                    "return e ? e.innerText : '';", selector)

        b.get("http://%s/" % ADMIN)
        assert b.title == "burrow stack", b.title
        # A known service shows as running with its address and network.
        wait(lambda b: "running" in row("photos"), "photos shows as running")
        assert cells("photos")[:5] == ["photos", "running", str(photos["pid"]), photos["address"],
                                       "private"], cells("photos")
        assert "vpn:vpn" in row("torrent"), row("torrent")
        assert "running" in row("dashboard") and "running" in row("connector")
        routes = text("#routes")
        assert "a.example.net" in routes and "secure" in routes and "strip" in routes, routes
        wait(lambda b: "up" in text("tr[data-namespace='vpn']"), "the VPN namespace shows as up")
        nodes = b.execute_script("return Array.from(document.querySelectorAll("
                                 "'svg.graph g.node')).map(g => g.dataset.node)")
        for n in ("edge", "connector", "route0", "svc:photos", "svc:torrent", "net:private",
                  "net:vpn:vpn"):
            assert n in nodes, (n, nodes)
        log = text("pre[data-log='photos']")
        assert "service started" in log, log  # the service's last log lines
        b.save_screenshot(os.path.join(SHOTS, "dashboard-stack-1-running.png"))
        b.execute_script("window.burrowMark = 42;")
        # A killed service shows as restarting, then running again, without a reload.
        before = w.service("photos")
        os.kill(sp.service_pid("bs-photos"), signal.SIGKILL)
        wait(lambda b: cells("photos")[1:3] == ["restarting", "-"], "photos shows as restarting")
        b.save_screenshot(os.path.join(SHOTS, "dashboard-stack-2-restarting.png"))
        wait(lambda b: cells("photos")[1] == "running" and
             cells("photos")[2] not in ("-", str(before["pid"])), "photos shows as running again")
        after = w.service("photos")
        assert after["restarts"] == before["restarts"] + 1, (before, after)
        assert cells("photos")[2] == str(after["pid"]), (cells("photos"), after)
        assert cells("photos")[5] == str(after["restarts"]), cells("photos")
        assert b.execute_script("return window.burrowMark") == 42, "the page was reloaded"
        b.save_screenshot(os.path.join(SHOTS, "dashboard-stack-3-running-again.png"))
        actions(w, b, cells, text)
    finally:
        b.quit()
    for shot in ("1-running", "2-restarting", "3-running-again", "4-actions"):
        path = os.path.join(SHOTS, "dashboard-stack-%s.png" % shot)
        assert os.path.getsize(path) > 1000, path
    # Another address for a running stack's dashboard is refused; the stack runs on.
    r = w.stack("up", "--admin", "127.0.0.1:9901", check=False)
    assert r.returncode == 1 and "its dashboard is set when it starts" in r.stderr, r.stderr
    assert get("/api/stack")[0] == 200
    w.stack("down")
    left = w.leftovers()
    assert left == {"netns": [], "links": [], "tables": [], "mounts": [], "record": False}, left
    r = sp.sh("curl", "-s", "-m", "2", "http://%s/" % ADMIN, check=False)
    assert r.returncode == 7, r.returncode  # nothing listens any more


def post(form, headers=()):
    """curl -d FORM to /api/actions: (status, body)."""
    args = ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-m", "10"]
    for h in headers:
        args += ["-H", h]
    for k, v in form.items():
        args += ["--data-urlencode", "%s=%s" % (k, v)]
    r = sp.sh(*args, "http://%s/api/actions" % ADMIN, check=False)
    body, _, status = r.stdout.rpartition("\n")
    return int(status or 0), body


def actions(w, b, cells, text):
    """--admin-actions: restart, drain and reload from the page; refused without the token."""
    import re
    from selenium.webdriver.support.ui import WebDriverWait
    wait = lambda cond, what: WebDriverWait(b, 30 * harness.TIME_FACTOR).until(cond, what)

    def click(selector):
        b.execute_script("document.querySelector(arguments[0]).click()", selector)

    # `burrow restart` from the command line: a new process, counted as no failure.
    before = w.service("photos")
    r = w.burrow("restart", "photos", "--state-dir", w.state, timeout=120)
    after = w.service("photos")
    assert after["pid"] not in (0, before["pid"]) and after["state"] == "running", after
    assert "photos running again (pid %d)" % after["pid"] in r.stderr, r.stderr
    assert after["restarts"] == before["restarts"], (before, after)
    r = w.burrow("restart", "nothere", "--state-dir", w.state, check=False)
    assert r.returncode == 1 and "no service named 'nothere'" in r.stderr and \
        "(it has: photos, torrent, connector)" in r.stderr, r.stderr

    # Without the page's token, or from another origin, nothing is done.
    token = re.search(r'name="csrf" value="([0-9a-f]{64})"', get("/")[1]).group(1)
    pid = after["pid"]
    for form, headers, why in (
            ({"action": "restart", "target": "photos"}, (), "no valid CSRF token"),
            ({"csrf": "0" * 64, "action": "restart", "target": "photos"}, (),
             "no valid CSRF token"),
            ({"csrf": token, "action": "restart", "target": "photos"},
             ("Origin: http://evil.example",), "the form came from http://evil.example"),
            ({"csrf": token, "action": "restart", "target": "photos"},
             ("Sec-Fetch-Site: cross-site",), "the form came from another site")):
        status, body = post(form, headers)
        assert status == 403 and why in body, (form, headers, status, body)
    status, body = post({"csrf": token, "action": "restart", "target": "nothere"})
    assert status == 409 and "no service named 'nothere'" in body, (status, body)
    status, body = post({"csrf": token, "action": "drain", "target": "photos"})
    assert status == 409 and "drain for the connector" in body, (status, body)
    assert w.service("photos")["pid"] == pid
    log = w.burrow("logs", "dashboard", "--state-dir", w.state).stdout
    assert log.count("dashboard action refused") == 4, log

    # From the page: restart a service, drain the connector, reload the stack.
    b.get("http://%s/" % ADMIN)
    wait(lambda b: cells("photos")[1] == "running", "photos shows as running")
    click("tr[data-service='photos'] button[value='restart']")
    wait(lambda b: cells("photos")[1] == "running" and
         cells("photos")[2] not in ("-", str(pid)), "photos running again after the restart")
    assert "restart photos: stopping photos (pid %d), then starting it again" % pid in \
        text("#actions"), text("#actions")
    connector = w.ps()["connector"]["pid"]
    click("tr[data-service='connector'] button[value='drain']")
    wait(lambda b: cells("connector")[1] == "running" and
         cells("connector")[2] not in ("-", str(connector)), "a new connector after the drain")
    w.wait_get("a.example.net", "hello from photos")
    click("#actions button[value='reload']")
    wait(lambda b: "reload: the supervisor (pid %d) applies" % w.ps()["supervisor"] in
         text("#actions"), "the reload listed")
    b.save_screenshot(os.path.join(SHOTS, "dashboard-stack-4-actions.png"))
    log = w.burrow("logs", "dashboard", "--state-dir", w.state).stdout
    for a in ("action=restart target=photos", "action=drain target=connector",
              "action=reload target= "):
        assert "dashboard " + a in log, (a, log)


def case_login(w):
    """--admin on an address that is not loopback, behind --admin-users: basic auth for the page,
    its API and its actions, the user named in the log."""
    import base64
    import hashlib
    addr = "192.0.2.10:9900"  # on a link of this namespace's own
    sp.sh("ip", "link", "add", "dash0", "type", "veth", "peer", "name", "dash1")
    sp.sh("ip", "addr", "add", "192.0.2.10/24", "dev", "dash0")
    for link in ("dash0", "dash1"):
        sp.sh("ip", "link", "set", link, "up")
    w.write("burrow.yaml", "tunnel: { tokenFile: token }\nservices:\n  photos:\n%sroutes:\n"
            "  - hostname: a.example.net\n    service: http://[photos]:8000\n"
            "  - service: http_status:404\n" % sp.origin("photos"))
    digest = base64.b64encode(hashlib.sha1(b"s3cret").digest()).decode()
    w.write("admins", "alice:{SHA}%s\n" % digest)
    r = w.stack("up", "--detach", "--admin-users", "admins", check=False)
    assert r.returncode == 1 and "--admin-users: the dashboard's login needs --admin ADDR" in \
        r.stderr, r.stderr
    r = w.stack("up", "--detach", "--admin", addr, check=False)
    assert r.returncode == 1 and "--admin %s: not a loopback address, and the dashboard has no " \
        "login of its own: give --admin-users FILE" % addr in r.stderr, r.stderr
    assert w.leftovers()["netns"] == [] and not os.path.exists(w.state + "/stack/state.json")
    # A relative file is the working directory's; the dashboard's sandbox sees it.
    r = w.stack("up", "--detach", "--admin", addr, "--admin-users", "admins", "--admin-actions")
    print("=== up --admin %s --admin-users admins\n%s%s" % (addr, r.stderr, r.stdout))
    assert "dashboard: started (pid " in r.stderr, r.stderr
    ps = w.ps()
    assert ps["admin"] == addr and ps["admin_users"] == w.work + "/admins", ps
    assert ps["admin_access"] == "", ps

    def curl(*args):
        r = sp.sh("curl", "-s", "-m", "10", "-o", "-", "-w", "\n%{http_code}", *args,
                  check=False)
        body, _, status = r.stdout.rpartition("\n")
        return int(status or 0), body
    url = "http://%s" % addr
    harness.poll(lambda: curl(url + "/api/stack")[0] == 401, 15 * harness.TIME_FACTOR,
                 what="the dashboard on %s asks for a login" % addr)
    assert curl("-u", "alice:wrong", url + "/api/stack")[0] == 401
    status, body = curl("-u", "alice:s3cret", url + "/api/stack")
    assert status == 200 and json.loads(body)["admin_users"] == w.work + "/admins", (status, body)
    # An action needs the login and the page's token; the log names who did it.
    import re
    token = re.search(r'name="csrf" value="([0-9a-f]{64})"',
                      curl("-u", "alice:s3cret", url + "/")[1]).group(1)
    form = ["--data-urlencode", "csrf=" + token, "--data-urlencode", "action=restart",
            "--data-urlencode", "target=photos"]
    assert curl(*form, url + "/api/actions")[0] == 401
    pid = w.service("photos")["pid"]
    status, body = curl("-u", "alice:s3cret", *form, url + "/api/actions")
    assert status == 303, (status, body)
    harness.poll(lambda: w.service("photos")["state"] == "running" and
                 w.service("photos")["pid"] not in (0, pid), 30 * harness.TIME_FACTOR,
                 what="photos restarted from the page")
    log = w.burrow("logs", "dashboard", "--state-dir", w.state).stdout
    assert "dashboard action=restart target=photos client=192.0.2.10 user=alice done=" in log, log
    print("=== the dashboard's log\n" + log)
    w.stack("down")
    sp.sh("ip", "link", "del", "dash0")
    left = w.leftovers()
    assert left == {"netns": [], "links": [], "tables": [], "mounts": [], "record": False}, left


def inner(work):
    os.chdir(work)
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/run"], check=True)
    w = sp.Inside(work)
    try:
        case_stack_page(w)
        case_login(w)
    finally:
        for p in w.procs:
            p.kill()


@unittest.skipIf(harness.root_and_tools_missing("unshare", "ip", "nft", "curl", "wireguard-go",
                                                "wg"),
                 "needs root, unshare, ip, nft, curl, wireguard-go, wg")
class StackDashboardTest(harness.BurrowTestCase):
    def test_the_stack_page_in_a_browser(self):
        missing = [t for t in ("chromium", "chromedriver") if shutil.which(t) is None]
        self.assertEqual(missing, [], "scripts/deps test installs them")
        work = self.path("work")
        os.makedirs(work)
        env = harness.clean_env()
        env["BURROW_SCREENSHOTS"] = os.path.abspath(SHOTS)
        r = subprocess.run(["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc",
                            harness.PYTHON, os.path.abspath(__file__), "--inner", work],
                           capture_output=True, text=True, timeout=300 * harness.TIME_FACTOR,
                           stdin=subprocess.DEVNULL, env=env)
        print(r.stdout)
        logs = ""
        for root, dirs, files in os.walk(work):
            dirs[:] = [d for d in dirs if d != "chromium"]  # the browser's own files
            for f in files:
                if f.endswith(".log"):
                    logs += "--- %s\n%s" % (f, harness._read(os.path.join(root, f))[-3000:])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + logs)
        self.assertIn("CASE OK", r.stdout)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--inner":
        inner(sys.argv[2])
        print("CASE OK")
        sys.exit(0)
    harness.main()
