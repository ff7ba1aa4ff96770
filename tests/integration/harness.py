"""Shared machinery for burrow's end-to-end tests: real processes on 127.0.0.1 only.

Every process a test starts is registered for cleanup (stopped by its pid, then its own
process group is killed if it does not stop in time), every wait is bounded, and every
test gets a fresh temporary directory that is removed afterwards (kept, with its path
printed, when BURROW_TEST_KEEP=1). When a test fails, the tail of each process's output is
printed to stderr.

Environment:
  BURROW             path of the burrow binary (default: build/src/cli/burrow in the tree)
  BURROW_TEST_TOOLS  directory of test_origin.py and ws_client.py (default: ../tools)
"""

import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))
TOOLS = os.environ.get("BURROW_TEST_TOOLS") or os.path.join(SOURCE_ROOT, "tests", "tools")
BURROW = os.environ.get("BURROW") or os.path.join(SOURCE_ROOT, "build", "src", "cli", "burrow")
PYTHON = sys.executable or "python3"

sys.path.insert(0, TOOLS)
import test_origin  # noqa: E402  (shared byte pattern for checksums)

LOOPBACK = "127.0.0.1"
DEFAULT_TIMEOUT = 15.0
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY",
               "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "BURROW_TUNNEL_TOKEN")


# How much slower than the release build a time bound may be met: the sanitizer stage of
# scripts/test (which sets ASAN_OPTIONS) runs burrow several times slower, on the same cores.
TIME_FACTOR = 3.0 if os.environ.get("ASAN_OPTIONS") else 1.0

# What AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer print on a finding.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def root_and_tools_missing(*tools):
    """What a privileged test lacks here: the tools not on PATH, and "root"."""
    out = [t for t in tools if shutil.which(t) is None]
    if os.geteuid() != 0:
        out.append("root")
    return out


def clean_env(extra=None):
    """The environment for child processes: no proxies, no inherited token."""
    env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARS}
    env.update(extra or {})
    return env


def free_port():
    """A loopback port that was free a moment ago (for programs that cannot bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(1 << 20)
            if not block:
                return h.hexdigest()
            h.update(block)


def poll(predicate, timeout, interval=0.05, what="condition"):
    """Calls predicate() until it returns a truthy value or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out after %.1fs waiting for %s (last: %r)"
                               % (timeout, what, last))
        time.sleep(interval)


class Process:
    """A child process whose stdout and stderr go to files in the test's directory."""

    def __init__(self, name, argv, workdir, env=None, stdin=subprocess.DEVNULL):
        self.name = name
        self.argv = argv
        self.out_path = os.path.join(workdir, "%s.%d.stdout" % (name, time.monotonic_ns()))
        self.err_path = self.out_path[:-len("stdout")] + "stderr"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.popen = subprocess.Popen(argv, stdout=out, stderr=err, stdin=stdin,
                                          env=env if env is not None else clean_env(),
                                          start_new_session=True)
        self.pid = self.popen.pid

    def __repr__(self):
        return "<%s pid=%d>" % (self.name, self.pid)

    def read(self, stream="stderr"):
        path = self.err_path if stream == "stderr" else self.out_path
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def tail(self, lines=40):
        parts = []
        for stream in ("stdout", "stderr"):
            text = self.read(stream).splitlines()
            if text:
                parts.append("---- %s %s (last %d of %d lines) ----\n%s" % (
                    self, stream, min(lines, len(text)), len(text), "\n".join(text[-lines:])))
        return "\n".join(parts) or "---- %s: no output ----" % self

    def alive(self):
        return self.popen.poll() is None

    def count(self, pattern, stream="stderr"):
        return len(re.findall(pattern, self.read(stream)))

    def wait_for(self, pattern, stream="stderr", count=1, timeout=DEFAULT_TIMEOUT):
        """Waits until `pattern` (a regex) has matched `count` times in the stream.

        Returns the last match. Fails early if the process exits first."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            matches = list(rx.finditer(self.read(stream)))
            if len(matches) >= count:
                return matches[count - 1]
            if not self.alive():
                # One more read: the line may have been written just before exit.
                matches = list(rx.finditer(self.read(stream)))
                if len(matches) >= count:
                    return matches[count - 1]
                raise AssertionError("%s exited with %s while waiting for %r x%d on %s\n%s"
                                     % (self, self.popen.returncode, pattern, count, stream,
                                        self.tail()))
            if time.monotonic() >= deadline:
                raise AssertionError("timed out after %.1fs waiting for %r x%d on %s of %s "
                                     "(seen %d)\n%s" % (timeout, pattern, count, stream, self,
                                                        len(matches), self.tail()))
            time.sleep(0.02)

    def send(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout=DEFAULT_TIMEOUT):
        """Waits for exit; returns the exit status (negative for a signal)."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s did not exit within %.1fs\n%s"
                                 % (self, timeout, self.tail())) from None

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Sends `sig` to the pid; after `timeout` kills its process group. Returns status."""
        if self.alive():
            try:
                os.kill(self.pid, sig)
                return self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
            except ProcessLookupError:
                pass
        self._kill_group()
        return self.popen.wait(timeout=10)

    def _kill_group(self):
        # The child is the leader of its own session (start_new_session), so its pgid is
        # its pid: this reaches it and any children it left behind, and nothing else.
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class Edge:
    """A running `burrow edge` and the addresses it reported."""

    def __init__(self, proc, state_dir, http_port, tunnel_port, https_port=None):
        self.proc = proc
        self.state_dir = state_dir
        self.http_port = http_port
        self.tunnel_port = tunnel_port
        self.https_port = https_port

    @property
    def endpoint(self):
        return "%s:%d" % (LOOPBACK, self.tunnel_port)


def _addr_port(line, key):
    m = re.search(r"(?<![\w-])%s=(\S+):(\d+)" % re.escape(key), line)
    return int(m.group(2)) if m else None


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # http.client.HTTPMessage: case-insensitive get()
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:200])


def http_request(port, path, host=None, method="GET", body=None, headers=None,
                 timeout=DEFAULT_TIMEOUT):
    """One request on a fresh connection to 127.0.0.1:port; returns a Response."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        h = dict(headers or {})
        if host is not None:
            h["Host"] = host
        conn.request(method, path, body=body, headers=h)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, resp.headers, data)
    finally:
        conn.close()


class BurrowTestCase(unittest.TestCase):
    """Base class: a temp dir per test, and helpers that start the real programs."""

    maxDiff = 4000

    def setUp(self):
        if not os.access(BURROW, os.X_OK):
            self.fail("burrow binary not found at %s (set BURROW)" % BURROW)
        self.tmp = tempfile.mkdtemp(prefix="burrow-it-")
        # nginx workers may run as another user: they need to reach files in here.
        os.chmod(self.tmp, 0o755)
        self.addCleanup(self._remove_tmp)
        self.procs = []
        self.addCleanup(self._report_on_failure)
        # Runs after every process was stopped (cleanups run last-in, first-out).
        self.addCleanup(self._check_sanitizers)

    # ---- bookkeeping ----

    def _failed(self):
        # Cleanups run after the test's own outcome has been recorded in the result.
        result = getattr(getattr(self, "_outcome", None), "result", None)
        recorded = getattr(result, "failures", []) + getattr(result, "errors", [])
        return any(test is self for test, _ in recorded)

    def _report_on_failure(self):
        if self._failed():
            for p in self.procs:
                sys.stderr.write("\n%s\n" % p.tail())
            sys.stderr.flush()

    def _check_sanitizers(self):
        """A sanitizer report in any process's output fails the test (ASan/UBSan builds)."""
        for p in self.procs:
            text = p.read("stderr")
            if any(m in text for m in SANITIZER_MARKS):
                raise AssertionError("sanitizer report from %r:\n%s" % (p, p.tail(80)))

    def _remove_tmp(self):
        if os.environ.get("BURROW_TEST_KEEP") == "1":
            sys.stderr.write("\nkept test directory %s\n" % self.tmp)
            return
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def spawn(self, name, argv, env=None, stop_signal=signal.SIGTERM):
        """Starts a process that is stopped (by pid) when the test ends, pass or fail."""
        p = Process(name, argv, self.tmp, env=env)
        self.procs.append(p)
        self.addCleanup(p.stop, stop_signal)
        return p

    # ---- one-shot burrow commands ----

    def burrow(self, *args, timeout=30, env=None, check=False):
        """Runs `burrow ARGS...` to completion; returns CompletedProcess (text)."""
        try:
            r = subprocess.run([BURROW, *args], capture_output=True, text=True, timeout=timeout,
                               env=env if env is not None else clean_env(),
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            self.fail("burrow %s did not finish within %ds (stdout %r, stderr %r)"
                      % (" ".join(args), timeout, e.stdout, e.stderr))
        if any(m in (r.stderr or "") for m in SANITIZER_MARKS):
            self.fail("sanitizer report from burrow %s:\n%s" % (" ".join(args), r.stderr))
        if check and r.returncode != 0:
            self.fail("burrow %s exited %d\nstdout: %s\nstderr: %s"
                      % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    # ---- origins ----

    def start_origin(self, name="origin"):
        """Starts tests/tools/test_origin.py; returns (process, port)."""
        p = self.spawn("origin-" + name, [PYTHON, os.path.join(TOOLS, "test_origin.py"),
                                          "--name", name, "--log"])
        m = p.wait_for(r"(?m)^(\d+)$", stream="stdout")
        return p, int(m.group(1))

    def start_nginx(self, server_block, name="nginx"):
        """Starts Debian's nginx with its own prefix in the test dir, on 127.0.0.1 only.

        `server_block` is the body of one server {} with "{port}" and "{root}" placeholders;
        {root} is a directory of the test (create files with nginx_root()). Returns
        (process, port). The port is chosen free, so a lost race is retried."""
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.access(nginx, os.X_OK):
            self.fail("nginx is not installed (Debian package nginx-light; scripts/deps test)")
        prefix = self.path(name)
        for sub in ("", "tmp", "logs", "www"):
            os.makedirs(os.path.join(prefix, sub), exist_ok=True)
            os.chmod(os.path.join(prefix, sub), 0o755)
        last = ""
        for _ in range(5):
            port = free_port()
            conf = os.path.join(prefix, "nginx.conf")
            with open(conf, "w") as f:
                block = server_block.format(port=port, root=self.nginx_root(name))
                f.write(nginx_conf(prefix, block))
            p = self.spawn(name, [nginx, "-p", prefix + "/", "-c", conf,
                                  "-e", os.path.join(prefix, "logs", "error.log")],
                           stop_signal=signal.SIGQUIT)
            try:
                poll(lambda: _connectable(port) or not p.alive(), 10, what="nginx to listen")
            except TimeoutError:
                pass
            if p.alive() and _connectable(port):
                return p, port
            last = _read(os.path.join(prefix, "logs", "error.log"))
            p.stop()
        self.fail("nginx did not start:\n%s" % last)

    def nginx_root(self, name="nginx"):
        """The document root that start_nginx(name=name) serves as {root}."""
        root = self.path(name, "www")
        os.makedirs(root, exist_ok=True)
        return root

    # ---- edge ----

    def start_edge(self, state_dir=None, http="%s:0" % LOOPBACK, tunnel="%s:0" % LOOPBACK,
                   https=None, cert=None, key=None, extra=(), log_level=None, wrap=()):
        """Starts `burrow edge`; waits for its `edge ready` line and parses the ports.

        `wrap` goes before burrow's path (e.g. prlimit and its arguments)."""
        state_dir = state_dir or self.path("edge-state")
        argv = list(wrap) + [BURROW] + (["--log-level", log_level] if log_level else [])
        argv += ["edge", "--state-dir", state_dir, "--tunnel", tunnel]
        if http:  # None: no plain-HTTP listener
            argv += ["--http", http]
        if https:
            argv += ["--https", https, "--cert", cert, "--key", key]
        argv += list(extra)
        p = self.spawn("edge", argv)
        m = p.wait_for(r"edge ready[^\n]*")
        line = m.group(0)
        http_port = _addr_port(line, "http")
        tunnel_port = _addr_port(line, "tunnel")
        https_port = _addr_port(line, "https") if https else None
        if ((http and http_port is None) or tunnel_port is None
                or (https and https_port is None)):
            self.fail("cannot parse the edge's ready line: %r" % line)
        return Edge(p, state_dir, http_port, tunnel_port, https_port)

    def create_tunnel(self, edge, name, hostnames=(), endpoint=True):
        """Creates tunnel NAME (and its routes) in the edge's state; returns the token.

        The running edge finds it within a second (reload_edge waits until it does)."""
        args = ["edge", "tunnel", "create", name, "--state-dir", edge.state_dir]
        if endpoint:
            args += ["--endpoint", edge.endpoint]
        r = self.burrow(*args, check=True)
        lines = [l for l in r.stdout.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, "tunnel create must print one line: %r" % r.stdout)
        for h in hostnames:
            self.route(edge, name, h)
        return lines[0].strip()

    def route(self, edge, name, hostname):
        self.burrow("edge", "route", "dns", name, hostname, "--state-dir", edge.state_dir,
                    check=True)

    def reload_edge(self, edge, probe_host, want=lambda status: status != 404, timeout=10.0):
        """SIGHUPs the edge, then polls it until a request for probe_host gets a status
        for which want(status) holds (by default: the hostname is known, i.e. not 404)."""
        edge.proc.send(signal.SIGHUP)
        last = {}

        def probe():
            try:
                r = http_request(edge.http_port, "/", host=probe_host, timeout=5)
            except OSError as e:
                last["err"] = repr(e)
                return False
            last["status"] = r.status
            return want(r.status)

        try:
            poll(probe, timeout, what="the edge to reload (probe %s)" % probe_host)
        except TimeoutError as e:
            self.fail("%s; last probe: %r\n%s" % (e, last, edge.proc.tail()))

    # ---- connector ----

    def write_token(self, token, mode=0o600, name="token"):
        path = self.path(name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        os.chmod(path, mode)
        return path

    def write_file(self, name, text):
        path = self.path(name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def start_connector(self, token_file, config=None, url=None, ha=None, grace=None,
                        wait=True, name="connector", extra=()):
        """Starts `burrow tunnel run`; with wait, waits for every HA connection."""
        argv = [BURROW, "tunnel", "run", "--token-file", token_file]
        if config:
            argv += ["--config", config]
        if url:
            argv += ["--url", url]
        if ha is not None:
            argv += ["--ha-connections", str(ha)]
        if grace is not None:
            argv += ["--grace-period", grace]
        argv += list(extra)
        p = self.spawn(name, argv)
        if wait:
            self.wait_registered(p, ha if ha is not None else 4)
        return p

    def wait_registered(self, proc, n, timeout=DEFAULT_TIMEOUT):
        return proc.wait_for(r"connection registered[^\n]*index=\d+", count=n, timeout=timeout)

    def tunnel_to_origin(self, hostnames, config_text=None, url=None, ha=2, name="app"):
        """Edge + tunnel NAME routed for `hostnames` + connector with the given ingress.

        Returns (edge, connector). The edge is reloaded and probed before the connector
        starts, so the connector never races the reload."""
        edge = self.start_edge()
        token = self.create_tunnel(edge, name, hostnames)
        self.reload_edge(edge, _probe_name(hostnames[0]))
        config = self.write_file("config.yml", config_text) if config_text else None
        conn = self.start_connector(self.write_token(token), config=config, url=url, ha=ha)
        return edge, conn

    # ---- clients ----

    def get(self, edge, path, host, **kw):
        return http_request(edge.http_port, path, host=host, **kw)

    def curl(self, *args, timeout=120):
        try:
            return subprocess.run(["curl", "--noproxy", "*", "-sS", *args], capture_output=True,
                                  timeout=timeout, env=clean_env(), stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            self.fail("curl %s did not finish within %ds" % (" ".join(args), timeout))

    def assertBody(self, resp, status, body=None, contains=None):
        self.assertEqual(resp.status, status, "unexpected status; body %r" % resp.body[:500])
        if body is not None:
            self.assertEqual(resp.body, body)
        if contains is not None:
            self.assertIn(contains, resp.body)


def _probe_name(hostname):
    """A concrete hostname matched by `hostname` (which may be a wildcard)."""
    return "probe" + hostname[1:] if hostname.startswith("*.") else hostname


def _connectable(port):
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1):
            return True
    except OSError:
        return False


def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def nginx_conf(prefix, server_block, extra_http=""):
    return """worker_processes 1;
daemon off;
master_process on;
pid {p}/nginx.pid;
error_log {p}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {p}/tmp/body;
  proxy_temp_path {p}/tmp/proxy;
  fastcgi_temp_path {p}/tmp/fastcgi;
  uwsgi_temp_path {p}/tmp/uwsgi;
  scgi_temp_path {p}/tmp/scgi;
  default_type application/octet-stream;
  sendfile on;
  {extra}
  server {{
{server}
  }}
}}
""".format(p=prefix, server=server_block, extra=extra_http)


# ---- sockets of a process (for "the connector does not listen") ----

def socket_inodes(pid):
    """Inodes of the sockets open in process `pid` (from /proc/PID/fd)."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        m = re.match(r"socket:\[(\d+)\]", target)
        if m:
            inodes.add(int(m.group(1)))
    return inodes


def listening_tcp_inodes():
    """{inode: "table local_address"} of every TCP socket in state LISTEN (0A)."""
    rows = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == "0A":
                rows[int(cols[9])] = "%s %s" % (os.path.basename(table), cols[1])
    return rows


def main():
    """unittest.main() with verbose output by default."""
    unittest.main(verbosity=2)
