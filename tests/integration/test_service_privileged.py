#!/usr/bin/env python3
"""`burrow service install|uninstall|status`: the files for systemd and OpenRC checked with the
real tools (systemd-analyze verify and security, sh -n), users made and removed, modes and
owners, and the exact refusal when a step cannot be elevated: run as a user without sudo, and
as one whose sudo allows only named commands. Every test removes its users, files and sudoers
entries. Needs root."""

import base64
import grp
import json
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import unittest

import harness


def _missing(*more):
    return harness.root_and_tools_missing("useradd", "userdel", "runuser", "systemd-analyze",
                                          "sudo", *more)


def pid1():
    with open("/proc/1/comm") as f:
        return f.read().strip()


_BIN_DIR = "/run/burrow-it-bin-%d" % os.getpid()


def installed_burrow():
    """A copy of burrow outside /tmp and /home, which a systemd unit's PrivateTmp= and
    ProtectHome= hide (install refuses a burrow there); removed when the module ends."""
    path = os.path.join(_BIN_DIR, "burrow")
    if not os.path.exists(path):
        os.makedirs(_BIN_DIR, mode=0o755, exist_ok=True)
        shutil.copy2(os.path.realpath(harness.BURROW), path)
    return path


def tearDownModule():
    shutil.rmtree(_BIN_DIR, ignore_errors=True)


def kill_processes_of(user):
    """SIGKILL, by pid, every process running as `user` (so that userdel can remove it)."""
    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        return
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat("/proc/" + pid).st_uid == uid:
                os.kill(int(pid), 9)
        except OSError:
            pass


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


@unittest.skipIf(_missing(), "needs root and %s" % _missing())
class ServiceTest(harness.BurrowTestCase):

    def setUp(self):
        super().setUp()
        sfx = "%d" % (os.getpid() % 100000)
        self.name = "burrow-it" + sfx
        self.state = self.path("state")
        self.unit = "/etc/systemd/system/%s.service" % self.name
        self.script = "/etc/init.d/" + self.name
        self.record = "/var/lib/burrow/services/" + self.name
        # What a connector is installed with: install copies it into the state directory.
        self.token = self.write_token("not read by a service that is not started", 0o644)
        # Whatever a test leaves, this removes (by exact name), pass or fail.
        self.addCleanup(self._scrub)
        self.root_before = sorted(os.listdir("/root")) if os.path.isdir("/root") else []

    def _scrub(self):
        for path in (self.unit, self.script, self.record):
            if os.path.exists(path):
                os.unlink(path)
        for user in (self.name, "bnosudo" + self.name[9:], "bsudo" + self.name[9:]):
            if user_exists(user):
                kill_processes_of(user)
                subprocess.run(["userdel", user], capture_output=True)
        sudoers = "/etc/sudoers.d/" + self.name
        if os.path.exists(sudoers):
            os.unlink(sudoers)

    def install(self, *extra, init="systemd", user=None, command=None):
        argv = ["service", "install", "--init", init, "--name", self.name, "--state-dir",
                self.state, *extra, "--"]
        argv += command or ["tunnel", "run", "--config", self.state + "/config.yml",
                            "--token-file", self.token]
        if user is None:
            return subprocess.run([installed_burrow(), *argv], capture_output=True, text=True,
                                  timeout=60, env=harness.clean_env())
        return self.as_user(user, [installed_burrow(), *argv])

    def as_user(self, user, argv):
        """Runs argv (its first word a program path) as `user`."""
        return subprocess.run(["runuser", "-u", user, "--", *argv], capture_output=True,
                              text=True, timeout=60, env=harness.clean_env())

    def make_users(self):
        """Two system users of the test's own: (one without sudo, one for allow_sudo)."""
        sfx = self.name[9:]
        users = ("bnosudo" + sfx, "bsudo" + sfx)
        for u in users:
            subprocess.run(["useradd", "--system", "--no-create-home", u], check=True)
        os.chmod(self.tmp, 0o755)
        return users

    def allow_sudo(self, user, command):
        path = "/etc/sudoers.d/" + self.name
        with open(path, "w") as f:
            f.write("%s ALL=(root) NOPASSWD: %s\n" % (user, command))
        os.chmod(path, 0o440)

    def test_systemd_unit_verifies_scores_and_uninstalls_cleanly(self):
        r = self.install()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("created system user " + self.name, r.stdout)
        self.assertIn("wrote " + self.unit, r.stdout)
        if pid1() != "systemd":
            self.assertIn("not started: PID 1 is %s" % pid1(), r.stdout)
        st = os.stat(self.unit)
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o644, 0))
        st = os.stat(self.state)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o700)
        self.assertEqual(pwd.getpwuid(st.st_uid).pw_name, self.name)
        self.assertEqual(grp.getgrgid(st.st_gid).gr_name, self.name)
        # The token, which only root could read, is the service user's own copy now.
        self.assertIn("copied the token from %s to %s/token (0600, owned by %s)"
                      % (self.token, self.state, self.name), r.stdout)
        st = os.stat(self.state + "/token")
        self.assertEqual((stat.S_IMODE(st.st_mode), pwd.getpwuid(st.st_uid).pw_name),
                         (0o600, self.name))
        # The install is recorded where the name alone finds it: root's, readable by all.
        self.assertIn("wrote " + self.record, r.stdout)
        st = os.stat(self.record)
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o644, 0))
        # The real tools: the unit verifies and rates 2.0 or lower.
        v = subprocess.run(["systemd-analyze", "verify", self.unit], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(v.returncode, 0, v.stderr)
        self.assertEqual(v.stderr.strip(), "")
        s = subprocess.run(["systemd-analyze", "security", "--offline=true", self.unit],
                           capture_output=True, text=True, timeout=60)
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d)", s.stdout)
        self.assertIsNotNone(m, s.stdout + s.stderr)
        self.assertLessEqual(float(m.group(1)), 2.0, s.stdout)
        # Reinstall: the same file, nothing new made.
        with open(self.unit) as f:
            first = f.read()
        self.assertIn(" tunnel run --state-dir %s --config " % self.state, first)
        self.assertIn(" --token-file %s/token\n" % self.state, first)
        r = self.install()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("rewrote " + self.unit, r.stdout)
        self.assertNotIn("created", r.stdout)
        with open(self.unit) as f:
            self.assertEqual(f.read(), first)
        # Another init, or another state directory, for the same name: uninstall first.
        r = self.install(init="openrc")
        self.assertEqual(r.returncode, 1)
        self.assertIn("burrow: %s is installed already, for --init systemd with its state in %s: "
                      "uninstall it first (--keep-state keeps its files)"
                      % (self.name, self.state), r.stderr)
        self.assertFalse(os.path.exists(self.script))
        r = self.burrow("service", "status", "--name", self.name)
        self.assertIn("%s: systemd service, %s" % (self.name, self.unit), r.stdout)
        # Uninstall removes the unit, the user, the state directory with the token, and the
        # record.
        r = self.burrow("service", "uninstall", "--name", self.name)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("removed %s and all it held (--keep-state keeps it)" % self.state,
                      r.stdout)
        self.assertFalse(os.path.exists(self.unit) or os.path.exists(self.record))
        self.assertFalse(user_exists(self.name))
        self.assertFalse(os.path.exists(self.state))
        r = self.burrow("service", "uninstall", "--name", self.name)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no service %s installed by burrow" % self.name, r.stderr)

    def test_uninstall_leaves_no_file_to_a_freed_uid(self):
        # A state directory that was there before, with the token in it: uninstall removes it
        # whole, as it does one install made.
        os.makedirs(self.state)
        self.token = self.write_token("t")
        shutil.copy(self.token, self.state + "/token")
        r = self.install(command=["tunnel", "run", "--token-file", self.state + "/token"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("made %s/token the service user's own (0600)" % self.state, r.stdout)
        uid = pwd.getpwnam(self.name).pw_uid
        self.assertEqual(os.stat(self.state + "/token").st_uid, uid)
        r = self.burrow("service", "uninstall", "--name", self.name)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(self.state) or user_exists(self.name))
        # --keep-state keeps it, handed to root with all it holds: the next system user, who
        # may get the same uid, gets none of it.
        r = self.install()
        self.assertEqual(r.returncode, 0, r.stderr)
        uid = pwd.getpwnam(self.name).pw_uid
        with open(self.state + "/kept", "w") as f:
            f.write("the service's\n")
        os.chown(self.state + "/kept", uid, uid)
        r = self.burrow("service", "uninstall", "--name", self.name, "--keep-state")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("kept %s, now owned by root (its user goes)" % self.state, r.stdout)
        self.assertFalse(user_exists(self.name) or os.path.exists(self.record))
        self.assertEqual(sorted(os.listdir(self.state)), ["kept", "token"])
        for p in (self.state, self.state + "/kept", self.state + "/token"):
            st = os.stat(p)
            self.assertEqual((st.st_uid, st.st_gid), (0, 0), p)
        self.assertEqual(stat.S_IMODE(os.stat(self.state).st_mode), 0o700)
        # A file at the unit's path that burrow did not write is left alone.
        shutil.rmtree(self.state)
        with open(self.unit, "w") as f:
            f.write("[Service]\nExecStart=/bin/true\n")
        r = self.install()
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s exists and was not written by burrow" % self.unit, r.stderr)
        self.assertFalse(user_exists(self.name) or os.path.exists(self.state))

    def test_openrc_script(self):
        r = self.install(init="openrc")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(self.script).st_mode), 0o755)
        n = subprocess.run(["sh", "-n", self.script], capture_output=True, text=True)
        self.assertEqual(n.returncode, 0, n.stderr)
        with open(self.script) as f:
            text = f.read()
        self.assertTrue(text.startswith("#!/sbin/openrc-run\n"))
        for line in ("supervisor=supervise-daemon", "command_user='%s:%s'" % (self.name, self.name),
                     "pidfile='%s/%s.pid'" % (self.state, self.name)):
            self.assertIn("\n%s\n" % line, text)
        self.assertIn("depend() {\n\tneed net\n}", text)
        r = self.burrow("service", "uninstall", "--name", self.name)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(self.script))

    def test_bad_input_leaves_nothing_behind(self):
        r = self.burrow("service", "install", "--init", "upstart", "--", "tunnel", "run")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--init upstart: expected auto, systemd, openrc or none", r.stderr)
        r = self.install(command=["tunnel", "run", "--config", "/x.yml"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("add --token-file FILE", r.stderr)
        r = self.install("--user", "-bad")
        self.assertEqual(r.returncode, 1)
        self.assertIn("--user -bad", r.stderr)
        # A token that is not there: said, before anything is made.
        missing = self.path("no-token")
        r = self.install(command=["tunnel", "run", "--token-file", missing])
        self.assertEqual(r.returncode, 1)
        self.assertIn("burrow: --token-file %s: cannot read it (" % missing, r.stderr)
        self.assertIn("create the tunnel first, e.g. `burrow edge tunnel create NAME > %s`"
                      % missing, r.stderr)
        r = self.install(command=["tunnel", "run", "--token-file", self.write_file("e", "\n")])
        self.assertEqual(r.returncode, 1)
        self.assertIn("--token-file %s is empty" % self.path("e"), r.stderr)
        # The stack: root's, in the foreground, its file there.
        stack = self.write_file("burrow.yaml", "services: {}\n")
        for extra, command, want in (
                (["--user", "nobody"], ["up", "-f", stack],
                 "--user nobody: the stack's supervisor runs as root"),
                ([], ["up", "-f", stack, "--detach"],
                 "--detach: the init system keeps `burrow up` in the foreground"),
                ([], ["up", "-f", self.path("missing.yaml")],
                 "up -f %s: No such file or directory" % self.path("missing.yaml")),
                ([], ["down"], "service install runs `burrow edge`, `burrow tunnel run` or "
                               "`burrow up`")):
            r = self.install(*extra, command=command)
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertIn(want, r.stderr)
            self.assertFalse(os.path.exists(self.unit) or os.path.exists(self.state))
        # The records are root's: no service may own them.
        for self.state in ("/srv", "/var/lib/../lib/x"):
            r = self.install()
            self.assertEqual(r.returncode, 1)
            self.assertIn("--state-dir %s: give an absolute path two levels deep or more, "
                          "without .. (uninstall removes it)" % self.state, r.stderr)
        for self.state in ("/var/lib/burrow", "/var/lib/burrow/services/x"):
            r = self.install()
            self.assertEqual(r.returncode, 1)
            self.assertIn("--state-dir %s: /var/lib/burrow/services holds burrow's records of "
                          "services, root's own" % self.state, r.stderr)
        self.state = self.path("state")
        self.assertFalse(user_exists(self.name) or os.path.exists(self.state))
        # A state directory on a read-only file system: the user made first is removed again.
        ro = self.path("ro")
        os.makedirs(ro)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", ro], check=True)
        self.addCleanup(subprocess.run, ["umount", ro], check=True)
        self.state = ro + "/state"
        r = self.install()
        self.assertEqual(r.returncode, 1)
        self.assertIn("make %s the service's own (0700) failed" % self.state, r.stderr)
        self.assertFalse(user_exists(self.name))
        self.assertFalse(os.path.exists(self.unit))
        # A burrow where the unit would hide it from the service (PrivateTmp=): refused.
        self.state = self.path("state")
        hidden = os.path.join("/tmp", os.path.basename(self.tmp) + "-burrow")
        self.addCleanup(os.unlink, hidden)
        shutil.copy2(installed_burrow(), hidden)
        r = subprocess.run([hidden, "service", "install", "--init", "systemd", "--name",
                            self.name, "--", "tunnel", "run", "--token-file", "/x"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s is under /tmp, which the unit's PrivateTmp=/ProtectHome= hide from "
                      "the service" % hidden, r.stderr)
        self.assertFalse(user_exists(self.name) or os.path.exists(self.unit))
        # A user that cannot be made (a group of its name is in the way): a clear error, and
        # nothing written.
        subprocess.run(["groupadd", "--system", self.name], check=True)
        self.addCleanup(subprocess.run, ["groupdel", self.name], capture_output=True)
        r = self.install()
        self.assertEqual(r.returncode, 1)
        self.assertIn("create the service user %s failed" % self.name, r.stderr)
        self.assertFalse(user_exists(self.name))
        self.assertFalse(os.path.exists(self.unit))
        self.assertFalse(os.path.exists(self.state))

    def test_unprivileged_users_get_the_exact_refusal_or_elevate_named_steps(self):
        nosudo, withsudo = self.make_users()
        r = self.install(user=nosudo)
        self.assertEqual(r.returncode, 1)
        uid = pwd.getpwnam(nosudo).pw_uid
        want = ("burrow: create the service user %s needs root: burrow runs as uid %d and "
                "`sudo -n useradd --system --user-group --no-create-home --home-dir %s --shell "
                "/usr/sbin/nologin %s` was refused (sudo: a password is required); run it as "
                "root, or allow that command without a password in sudoers\n"
                % (self.name, uid, self.state, self.name))
        self.assertEqual(r.stderr, want)
        self.assertFalse(user_exists(self.name))
        # Passwordless sudo for named commands only: the service user exists already, so
        # install needs just `install`.
        self.allow_sudo(withsudo, "/usr/bin/install")
        subprocess.run(["useradd", "--system", "--no-create-home", self.name], check=True)
        r = self.install(user=withsudo)
        self.assertEqual(r.returncode, 0, r.stderr)
        st = os.stat(self.unit)
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o644, 0))
        self.assertEqual(pwd.getpwuid(os.stat(self.state).st_uid).pw_name, self.name)
        # Uninstall needs `rm`, which that sudo does not allow: refused, nothing removed.
        r = self.as_user(withsudo, [harness.BURROW, "service", "uninstall", "--name", self.name])
        self.assertEqual(r.returncode, 1)
        self.assertIn("remove %s needs root" % self.unit, r.stderr)
        self.assertTrue(os.path.exists(self.unit))
        self.assertEqual(sorted(os.listdir("/root")) if os.path.isdir("/root") else [],
                         self.root_before)

    def test_state_dir_is_explicit_for_services_and_xdg_for_users(self):
        # A user's edge keeps its state under $XDG_STATE_HOME/burrow, or ~/.local/state/burrow.
        user = self.make_users()[0]
        pw = pwd.getpwnam(user)
        home = self.path("home")
        os.makedirs(home)
        os.chown(home, pw.pw_uid, pw.pw_gid)
        argv = [harness.BURROW, "edge", "tunnel", "create", "t1", "--endpoint", "127.0.0.1:7844"]
        # (runuser sets HOME from the password database: env sets what the test wants.)
        for env, where in ((["XDG_STATE_HOME=%s/xdg" % home], home + "/xdg/burrow"),
                           (["-u", "XDG_STATE_HOME", "HOME=" + home],
                            home + "/.local/state/burrow")):
            r = self.as_user(user, ["env", *env, *argv])
            self.assertEqual(r.returncode, 0, r.stderr)
            st = os.stat(where)
            self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o700, pw.pw_uid))
        # As root the default is /var/lib/burrow; a service gets its state directory spelled out.
        r = self.burrow("edge", "--help")
        self.assertIn("--state-dir TEXT=/var/lib/burrow", r.stdout)
        r = self.install(command=["edge", "--http", "127.0.0.1:8080", "--tunnel", "127.0.0.1:7844"])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.unit) as f:
            self.assertIn(" edge --state-dir %s --http " % self.state, f.read())

    def test_every_init_flavour_by_both_users(self):
        # The user without sudo is refused at the first step, whatever the init; the one whose
        # sudo allows exactly the commands burrow names installs and uninstalls each of them.
        nosudo, withsudo = self.make_users()
        tools = ["useradd", "userdel", "install", "rm", "runuser", "kill", "cat", "test", "chown",
                 "tail"]
        self.allow_sudo(withsudo, ", ".join(shutil.which(t) for t in tools))
        # A token only root can read: install reads it through sudo and copies it.
        edge = self.start_edge()
        token = self.write_token(self.create_tunnel(edge, "svc"), name="root-token")
        for init in ("systemd", "openrc", "none"):
            r = self.install(init=init, user=nosudo)
            self.assertEqual(r.returncode, 1, init)
            self.assertTrue(r.stderr.startswith(
                "burrow: create the service user %s needs root: burrow runs as uid %d and "
                "`sudo -n useradd" % (self.name, pwd.getpwnam(nosudo).pw_uid)), r.stderr)
            self.assertFalse(user_exists(self.name))
            r = self.install(init=init, user=withsudo,
                             command=["tunnel", "run", "--url", "http://127.0.0.1:9",
                                      "--token-file", token])
            self.assertEqual(r.returncode, 0, "%s: %s" % (init, r.stderr))
            path = {"systemd": self.unit, "openrc": self.script, "none": self.record}[init]
            st = os.stat(path)
            mode = {"systemd": 0o644, "openrc": 0o755, "none": 0o644}[init]
            self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (mode, 0), init)
            if init == "none":
                self.assertIn("started " + self.name, r.stdout)
                r = self.as_user(withsudo, [harness.BURROW, "service", "status", "--name",
                                            self.name])
                self.assertIn("\nrunning: supervisor pid ", r.stdout)
            st = os.stat(self.state)
            self.assertEqual((stat.S_IMODE(st.st_mode), pwd.getpwuid(st.st_uid).pw_name),
                             (0o700, self.name), init)
            r = self.as_user(withsudo, [harness.BURROW, "service", "uninstall", "--name",
                                        self.name])
            self.assertEqual(r.returncode, 0, "%s: %s" % (init, r.stderr))
            self.assertFalse(os.path.exists(path), init)
            self.assertFalse(os.path.exists(self.state), init)
            self.assertFalse(user_exists(self.name), init)
        self.assertEqual(sorted(os.listdir("/root")) if os.path.isdir("/root") else [],
                         self.root_before)

    def test_netns_up_is_elevated_as_one_named_step(self):
        user = self.make_users()[0]
        cfg = self.write_file("ns.yml", "namespaces: {x%s: {wireguard: {interface: wgx%s, "
                              "privateKey: %s, address: [10.9.0.2/32], peers: [{publicKey: %s, "
                              "endpoint: '192.0.2.1:51820', allowedIPs: [0.0.0.0/0]}]}, "
                              "dns: {servers: [10.9.0.1]}}}\n"
                              % (self.name[9:], self.name[9:], base64.b64encode(bytes(32)).decode(),
                                 base64.b64encode(bytes([1] * 32)).decode()))
        argv = [harness.BURROW, "netns", "up", "x" + self.name[9:], "-f", cfg, "--state-dir",
                self.state]
        r = self.as_user(user, argv)
        self.assertEqual(r.returncode, 1)
        uid = pwd.getpwnam(user).pw_uid
        self.assertRegex(r.stderr, r"^burrow: create network namespace x%s needs root: burrow "
                         r"runs as uid %d and `sudo -n \S+ netns up x%s -f %s --state-dir %s` was "
                         r"refused \(sudo: .*\); run it as root, or allow that command without a "
                         r"password in sudoers\n$" % (self.name[9:], uid, self.name[9:],
                                                      re.escape(cfg), re.escape(self.state)))
        self.assertFalse(os.path.exists("/run/netns/x" + self.name[9:]))
        status = [harness.BURROW, "netns", "status", "x" + self.name[9:], "--json",
                  "--state-dir", self.state]
        r = self.as_user(user, status)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"^burrow: read the state of network namespace x%s needs "
                         r"root: " % self.name[9:])
        # With sudo allowed for burrow, the same command line runs again as root, whole.
        if shutil.which("wireguard-go") and shutil.which("nft"):
            self.allow_sudo(user, os.path.realpath(harness.BURROW))
            down = [harness.BURROW, "netns", "down", "x" + self.name[9:], "--state-dir",
                    self.state]
            self.addCleanup(subprocess.run, down, capture_output=True)
            r = self.as_user(user, argv)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(os.path.exists("/run/netns/x" + self.name[9:]))
            r = self.as_user(user, status)
            self.assertEqual(r.returncode, 0, r.stderr)
            st = json.loads(r.stdout)[0]
            self.assertTrue(st["up"] and st["link_running"], st)
            r = self.as_user(user, down)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertFalse(os.path.exists("/run/netns/x" + self.name[9:]))

    def test_exec_is_elevated_as_one_named_step(self):
        nosudo, withsudo = self.make_users()
        unit = self.write_file("seven.service", "[Service]\nExecStart=/bin/sh -c 'exit 7'\n"
                               "ProtectSystem=strict\nPrivateTmp=yes\n")
        os.chmod(unit, 0o644)
        argv = [harness.BURROW, "exec", "--no-restart", unit]
        r = self.as_user(nosudo, argv)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"^burrow: run seven.service in its sandbox needs root: burrow "
                         r"runs as uid %d and `sudo -n \S+ exec --no-restart %s` was refused "
                         r"\(sudo: .*\); run it as root, or allow that command without a "
                         r"password in sudoers\n$" % (pwd.getpwnam(nosudo).pw_uid,
                                                      re.escape(unit)))
        self.allow_sudo(withsudo, os.path.realpath(harness.BURROW))
        r = self.as_user(withsudo, argv)
        self.assertEqual(r.returncode, 7, r.stderr)  # the service's own status, through sudo


def read_int(path):
    with open(path) as f:
        return int(f.read())


def registrations(log):
    """How often the connector logged a registration in `log` (0 before the log exists)."""
    try:
        with open(log) as f:
            return f.read().count("connection registered")
    except FileNotFoundError:
        return 0


def pid_in(path):
    """The pid a pidfile holds, or None while it is missing or not yet written."""
    try:
        return read_int(path)
    except (FileNotFoundError, ValueError):
        return None


def gone(pid):
    """True when pid no longer runs (a zombie waiting for PID 1 counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@unittest.skipIf(_missing(), "needs root and %s" % _missing())
class SupervisedByBurrowTest(harness.BurrowTestCase):
    """--init none: burrow runs the real connector itself, brings it back after kill -9, and
    says what it sees: install only calls a service started that stays up, and status says
    when it keeps failing, how often it was restarted, how it last ended and what it logged."""

    def setUp(self):
        super().setUp()
        self.name = "burrow-nv%d" % (os.getpid() % 100000)
        self.state = self.path("state")
        self.record = "/var/lib/burrow/services/" + self.name
        self.addCleanup(self._scrub)

    def _scrub(self):
        kill_processes_of(self.name)
        subprocess.run(["userdel", self.name], capture_output=True)
        if os.path.exists(self.record):
            os.unlink(self.record)

    def install(self, token, init="none", state=True):
        argv = ["service", "install", "--init", init, "--name", self.name]
        argv += ["--state-dir", self.state] if state else []
        return self.burrow(*argv, "--", "tunnel", "run", "--url", "http://127.0.0.1:9",
                           "--token-file", token, timeout=60)

    def status(self):
        r = self.burrow("service", "status", "--name", self.name)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_runs_the_connector_restarts_it_and_uninstalls(self):
        edge = self.start_edge()
        # The token as `tunnel create > token` leaves it: root's, 0600, which the service user
        # cannot read. Install copies it into the state directory.
        token = self.write_token(self.create_tunnel(edge, "svc"))
        r = self.install(token)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("started %s (burrow's supervisor pid " % self.name, r.stdout)
        pw = pwd.getpwnam(self.name)
        st = os.stat(self.state + "/token")
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o600, pw.pw_uid))
        log = os.path.join(self.state, self.name + ".log")
        pidfile = os.path.join(self.state, self.name + ".pid")
        supfile = os.path.join(self.state, self.name + ".supervisor.pid")
        sup = read_int(supfile)
        self.addCleanup(lambda: gone(sup) or os.kill(sup, 9))

        def registered():
            return registrations(log)
        harness.poll(lambda: registered() >= 4, 15, what="connector registered")
        first = read_int(pidfile)
        self.assertEqual(os.stat("/proc/%d" % first).st_uid, pw.pw_uid)
        self.assertEqual(os.stat("/proc/%d" % sup).st_uid, pw.pw_uid)
        # The name is enough: status finds the state directory in the record.
        out = self.status()
        self.assertIn("\nrunning: supervisor pid %d, service pid %d, up " % (sup, first), out)
        self.assertNotIn("restarts:", out)
        self.assertIn("connection registered", out)
        os.kill(first, 9)
        harness.poll(lambda: os.path.exists(pidfile) and read_int(pidfile) != first,
                     10, what="a new service pid")
        harness.poll(lambda: registered() >= 8, 15, what="connector registered again")
        out = self.status()
        self.assertIn("\nrunning: supervisor pid %d, service pid %d, up " % (sup, read_int(pidfile)),
                      out)
        self.assertIn("\nrestarts: 1; last exit: signal 9 (Killed), ", out)
        # A reinstall (here through --init auto, where nothing else runs as PID 1) replaces
        # the supervisor and says what auto picked.
        if pid1() != "systemd" and not os.path.exists("/run/openrc/softlevel"):
            r = self.install(token, init="auto")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("init: none (auto picked it: PID 1 is %s" % pid1(), r.stdout)
            self.assertIn("rewrote " + self.record, r.stdout)
            self.assertTrue(gone(sup))
            sup = read_int(supfile)
        second = read_int(pidfile)
        r = self.burrow("service", "uninstall", "--name", self.name)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(gone(sup) and gone(second))
        self.assertFalse(os.path.exists(self.state) or os.path.exists(self.record))
        self.assertFalse(user_exists(self.name))

    def test_reload_reaches_the_connector_which_rereads_its_config(self):
        _, port_a = self.start_origin("A")
        _, port_b = self.start_origin("B")
        edge = self.start_edge()
        token = self.write_token(self.create_tunnel(edge, "svc", ["svc.test"]))
        rules = "ingress:\n  - service: http://127.0.0.1:%d\n"
        # No --config and no --url: the connector reads config.yml in its state directory.
        os.makedirs(self.state)
        config = os.path.join(self.state, "config.yml")
        with open(config, "w") as f:
            f.write(rules % port_a)
        r = self.burrow("service", "install", "--init", "none", "--name", self.name,
                        "--state-dir", self.state, "--", "tunnel", "run", "--token-file", token,
                        timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        sup = read_int(os.path.join(self.state, self.name + ".supervisor.pid"))
        self.addCleanup(lambda: gone(sup) or os.kill(sup, 9))
        self.addCleanup(lambda: self.burrow("service", "uninstall", "--name", self.name))

        def body():
            try:
                return self.get(edge, "/hello", "svc.test").body
            except OSError:
                return None
        harness.poll(lambda: body() == b"hello from A path=/hello\n", 15, what="origin A")
        with open(config + ".new", "w") as f:
            f.write(rules % port_b)
        os.replace(config + ".new", config)
        r = self.burrow("service", "reload", "--name", self.name)
        self.assertEqual(r.returncode, 0, r.stderr)
        harness.poll(lambda: body() == b"hello from B path=/hello\n", 10, what="origin B")
        with open(os.path.join(self.state, self.name + ".log")) as f:
            self.assertIn("config reloaded", f.read())

    def test_a_service_that_exits_is_not_started_and_one_that_keeps_exiting_is_failing(self):
        # A token the connector refuses: it exits at once. Install says so with its last log
        # lines, exits 1, and takes back all it made.
        bad = self.write_token("not a token")
        r = self.install(bad)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertNotIn("started", r.stdout)
        self.assertIn("burrow: %s did not stay up: it ended within 2 s of starting (exit status 1)"
                      % self.name, r.stderr)
        self.assertIn("\nlast lines of %s/%s.log:\n  " % (self.state, self.name), r.stderr)
        self.assertIn("token", r.stderr.split("last lines of", 1)[1])
        self.assertIn("\ninstall taken back: removed %s and all it held" % self.state, r.stderr)
        self.assertFalse(user_exists(self.name) or os.path.exists(self.state)
                         or os.path.exists(self.record))
        # A connector whose tunnel is deleted keeps exiting: status says failing, how often it
        # was restarted, how it ended, and the refusal it logged. The default state
        # directory, named for the service, is found from the name alone.
        edge = self.start_edge()
        token = self.write_token(self.create_tunnel(edge, "svc"))
        self.state = "/var/lib/burrow/" + self.name
        self.addCleanup(shutil.rmtree, self.state, ignore_errors=True)
        r = self.install(token, state=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("copied the token from %s to %s/token" % (token, self.state), r.stdout)
        sup = read_int(os.path.join(self.state, self.name + ".supervisor.pid"))
        self.addCleanup(lambda: gone(sup) or os.kill(sup, 9))
        self.burrow("edge", "tunnel", "delete", "svc", "--state-dir", edge.state_dir, check=True)
        edge.proc.send(signal.SIGHUP)
        out = harness.poll(lambda: (lambda o: "\nfailing: " in o and o)(self.status()), 30,
                           interval=0.2, what="status saying failing")
        self.assertRegex(out, r"\nfailing: the service exited \d+ times in a row, each within a "
                         r"minute of starting; (burrow starts it again in \d+ s|running again)")
        self.assertRegex(out, r"\nrestarts: [1-9]\d*; last exit: exit status 1, \d+ s ago\n")
        self.assertIn("unknown tunnel", out.split("\nlast lines of %s/%s.log:\n"
                                                  % (self.state, self.name), 1)[1])
        r = self.burrow("service", "uninstall", "--name", self.name)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(gone(sup))
        self.assertFalse(os.path.exists(self.state) or user_exists(self.name))


def children(pid):
    """Pids whose parent is pid."""
    out = []
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/stat" % p) as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p))
        except (OSError, ValueError, IndexError):
            pass
    return out


def _openrc_missing():
    out = _missing("openrc-run", "supervise-daemon", "unshare", "nsenter")
    if os.path.exists("/run/openrc/softlevel"):
        out.append("a host not booted by OpenRC (this one is: the test would start it for real)")
    return out


@unittest.skipIf(_openrc_missing(), "needs root and %s" % _openrc_missing())
class SupervisedByOpenRCTest(harness.BurrowTestCase):
    """--init openrc, run by OpenRC itself: install enables and starts the script, which runs
    the real connector under supervise-daemon as the service user and brings it back after
    kill -9. This host was not booted by OpenRC, so OpenRC runs in a mount namespace of the
    test's own: its /run/openrc says OpenRC booted (softlevel), and /etc/init.d (with a `net`
    service, which nothing provides here) and /etc/runlevels are private copies. Nothing of it
    is seen outside."""

    def setUp(self):
        super().setUp()
        self.name = "burrow-orc%d" % (os.getpid() % 100000)
        self.script = "/etc/init.d/" + self.name
        self.record = "/var/lib/burrow/services/" + self.name
        self.addCleanup(self._scrub)

    def _scrub(self):
        for path in (self.script, self.record):
            if os.path.exists(path):
                os.unlink(path)
        if user_exists(self.name):
            kill_processes_of(self.name)
            subprocess.run(["userdel", self.name], capture_output=True)

    def openrc_namespace(self):
        """The pid of a process holding the mount namespace described above."""
        root = self.path("openrc")
        os.makedirs(root + "/run")
        subprocess.run(["cp", "-a", "/run/openrc/.", root + "/run"], check=True)
        subprocess.run(["cp", "-a", "/etc/init.d", root + "/init.d"], check=True)
        subprocess.run(["cp", "-a", "/etc/runlevels", root + "/runlevels"], check=True)
        with open(root + "/init.d/net", "w") as f:
            f.write("#!/sbin/openrc-run\nstart() { return 0; }\nstop() { return 0; }\n")
        os.chmod(root + "/init.d/net", 0o755)
        holder = self.spawn("openrc-ns", [
            "unshare", "--mount", "--propagation", "private", "sh", "-c",
            "mount -t tmpfs -o mode=0755 tmpfs /run/openrc && cp -a {0}/run/. /run/openrc/ && "
            "touch /run/openrc/softlevel && mount --bind {0}/init.d /etc/init.d && "
            "mount --bind {0}/runlevels /etc/runlevels && echo ready >&2 && exec sleep 600"
            .format(root)])
        holder.wait_for("ready")
        return holder.pid

    def in_ns(self, holder, *argv):
        return subprocess.run(["nsenter", "--target", str(holder), "--mount", "--", *argv],
                              capture_output=True, text=True, timeout=60,
                              env=harness.clean_env())

    def test_openrc_runs_the_connector_respawns_it_and_uninstalls(self):
        edge = self.start_edge()
        state = self.path("state")
        os.makedirs(state)
        token = os.path.join(state, "token")
        good = self.create_tunnel(edge, "svc") + "\n"
        with open(token, "w") as f:
            f.write(good)
        os.chmod(token, 0o600)
        os.chmod(self.tmp, 0o755)
        install = ["service", "install", "--name", self.name, "--state-dir", state, "--",
                   "tunnel", "run", "--url", "http://127.0.0.1:9", "--token-file", token]
        # Where OpenRC does not run, --init openrc writes the script and says why it did not
        # start it; OpenRC reads the script (describe).
        r = self.burrow(*install[:2], "--init", "openrc", *install[2:])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("created system user " + self.name, r.stdout)
        self.assertIn("not started: PID 1 is %s, neither systemd nor OpenRC" % pid1(), r.stdout)
        d = subprocess.run([self.script, "describe"], capture_output=True, text=True, timeout=60)
        self.assertEqual(d.returncode, 0, d.stderr)
        self.assertIn("burrow tunnel run", d.stdout + d.stderr)
        r = self.burrow("service", "uninstall", "--name", self.name, "--keep-state")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(self.script) or user_exists(self.name))
        self.assertEqual(os.stat(token).st_uid, 0)  # its user is gone: root's now

        # Where OpenRC runs, auto picks it, and install enables and starts the service.
        subprocess.run(["useradd", "--system", "--no-create-home", self.name], check=True)
        pw = pwd.getpwnam(self.name)
        os.chown(token, pw.pw_uid, pw.pw_gid)
        holder = self.openrc_namespace()
        # A token the connector refuses: supervise-daemon sees it exit at once, and install
        # says so with its log's last lines and takes back the script and its runlevel.
        bad = self.write_token("not a token", 0o644, name="bad-token")
        r = self.in_ns(holder, harness.BURROW, *install[:2], "--init", "openrc", *install[2:-1],
                       bad)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("burrow: %s did not stay up: it ended within 2 s of starting "
                      "(supervise-daemon starts it again)\nlast lines of %s/%s.log:\n"
                      % (self.name, state, self.name), r.stderr)
        self.assertIn("token", r.stderr.split("last lines of", 1)[1])
        self.assertIn("\ninstall taken back: removed %s; kept %s;" % (self.script, state),
                      r.stderr)
        for path in (self.script, "/etc/runlevels/default/" + self.name):
            self.assertNotEqual(self.in_ns(holder, "test", "-e", path).returncode, 0, path)
        self.assertIn("; put back the token that was in %s\n" % token, r.stderr)
        self.assertFalse(os.path.exists(self.record))
        self.assertTrue(user_exists(self.name))
        with open(token) as f:
            self.assertEqual(f.read(), good)
        r = self.in_ns(holder, harness.BURROW, *install[:2], "--init", "auto", *install[2:])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("init: openrc (auto picked it: OpenRC is running (PID 1 is %s))" % pid1(),
                      r.stdout)
        self.assertIn("started " + self.name, r.stdout)
        self.assertFalse(os.path.exists(self.script), "the script is the namespace's alone")
        pidfile = os.path.join(state, self.name + ".pid")
        sup = harness.poll(lambda: pid_in(pidfile), 10, what="supervise-daemon's pidfile")
        self.addCleanup(lambda: [os.kill(p, 9) for p in [sup, *children(sup)] if not gone(p)])
        log = os.path.join(state, self.name + ".log")

        def registered():
            return registrations(log)
        harness.poll(lambda: registered() >= 4, 15, what="connector registered")
        first = harness.poll(lambda: children(sup), 5, what="the connector")[0]
        self.assertEqual(os.stat("/proc/%d" % first).st_uid, pw.pw_uid)
        os.kill(first, 9)
        harness.poll(lambda: [p for p in children(sup) if p != first], 15,
                     what="supervise-daemon starting the connector again")
        harness.poll(lambda: registered() >= 8, 15, what="connector registered again")
        r = self.in_ns(holder, harness.BURROW, "service", "status", "--name", self.name)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("status: started", r.stdout + r.stderr)
        r = self.in_ns(holder, harness.BURROW, "service", "restart", "--name", self.name)
        self.assertEqual(r.returncode, 0, r.stderr)
        harness.poll(lambda: registered() >= 12, 15, what="connector registered after restart")
        self.assertTrue(gone(sup))
        sup = pid_in(pidfile)
        # Uninstall stops and disables the service and removes the script, its record and its
        # pidfile; --keep-state keeps the token and the log, and the user, whom install did
        # not make, stays.
        r = self.in_ns(holder, harness.BURROW, "service", "uninstall", "--name", self.name,
                       "--keep-state")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("removed " + self.script, r.stdout)
        harness.poll(lambda: gone(sup) and not children(sup), 10, what="the service stopped")
        for path in (self.script, "/etc/runlevels/default/" + self.name):
            self.assertNotEqual(self.in_ns(holder, "test", "-e", path).returncode, 0, path)
        self.assertTrue(user_exists(self.name))
        self.assertFalse(os.path.exists(self.record))
        self.assertEqual(sorted(os.listdir(state)), sorted(["token", self.name + ".log"]))
        self.assertEqual(os.stat(token).st_uid, pw.pw_uid)

def _nspawn_missing():
    out = _missing("systemd-nspawn", "nsenter")
    if not all(os.path.islink("/" + d) for d in ("bin", "sbin", "lib")):
        out.append("a merged /usr")
    return out


def descendants(pid):
    """Every process below pid."""
    out, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        out += kids
        todo += kids
    return out


@unittest.skipIf(_nspawn_missing(), "needs root and %s" % _nspawn_missing())
class SupervisedBySystemdTest(harness.BurrowTestCase):
    """--init auto under a running systemd: this host's PID 1 is not systemd, so the test boots
    this machine's own systemd in a container (systemd-nspawn, private network, /usr read-only
    from the host, a copy of /etc, nothing else). There install picks systemd, and systemd runs
    the real connector under the hardened unit against an edge in the same container, restarts
    it after kill -9, and rates the unit; uninstall takes it all back."""

    def boot(self):
        """Boots the container; returns the host pid of its systemd."""
        root = self.path("root")
        for d in ("usr/lib", "var", "tmp", "root", "run"):
            os.makedirs(os.path.join(root, d))
        for d in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            if os.path.islink("/" + d):
                os.symlink(os.readlink("/" + d), os.path.join(root, d))
        subprocess.run(["cp", "-a", "/etc", root + "/etc"], check=True)
        open(root + "/etc/machine-id", "w").close()  # a new one, not the host's
        shutil.copy("/usr/lib/os-release", root + "/usr/lib/os-release")
        bindir = os.path.dirname(installed_burrow())
        # Not ServiceTest's name: the container starts from a copy of the host's /etc.
        self.machine = "burrow-sd%d" % (os.getpid() % 100000)
        self.init = None
        # Runs after nspawn is stopped (cleanups run last-registered first): a container whose
        # halt hangs would keep its systemd, and all under it, running on the host.
        self.addCleanup(self.kill_container)
        c = self.spawn("nspawn", [
            "systemd-nspawn", "-D", root, "--bind-ro=/usr", "--bind-ro=%s:/opt/burrow-it" % bindir,
            "--private-network", "--register=no", "--keep-unit", "--link-journal=no",
            "-M", self.machine, "-b", "--console=pipe", "--",
            "systemd.unit=multi-user.target"])

        def init():
            for pid in descendants(c.pid):
                try:
                    with open("/proc/%d/comm" % pid) as f:
                        if f.read().strip() == "systemd":
                            return pid
                except OSError:
                    pass
            return None
        self.init = harness.poll(init, 30, what="systemd in the container")
        # ("degraded": the host's own services, nginx or a database, fail in there.)
        harness.poll(lambda: self.inside("systemctl", "is-system-running", "--wait",
                                         timeout=120).stdout.strip() in ("running", "degraded"),
                     120, interval=0.2, what="the container's systemd up")
        self.burrow_bin = "/opt/burrow-it/burrow"

    def kill_container(self):
        """SIGKILL to the container's PID 1 (by pid) ends every process of its PID namespace."""
        if self.init is None:
            return
        try:
            os.kill(self.init, signal.SIGKILL)
        except ProcessLookupError:
            return
        harness.poll(lambda: not os.path.exists("/proc/%d/comm" % self.init) or
                     open("/proc/%d/stat" % self.init).read().split()[2] == "Z", 10,
                     what="the container's systemd gone")

    def inside(self, *argv, timeout=60, stdin=None):
        return subprocess.run(["nsenter", "--target", str(self.init), "--all", "--", *argv],
                              capture_output=True, text=True, timeout=timeout, input=stdin,
                              env=harness.clean_env())

    def journal(self, unit):
        return self.inside("journalctl", "--no-pager", "-o", "cat", "-u", unit).stdout

    def test_systemd_runs_the_connector_restarts_it_and_uninstalls(self):
        self.boot()
        b = self.burrow_bin
        name, state = self.machine, "/var/lib/" + self.machine
        r = self.inside("systemd-run", "--unit", "it-edge", b, "edge", "--state-dir",
                        "/var/lib/it-edge", "--http", "127.0.0.1:8080", "--tunnel",
                        "127.0.0.1:7844")
        self.assertEqual(r.returncode, 0, r.stderr)
        token = harness.poll(lambda: self.inside(b, "edge", "tunnel", "create", "svc",
                                                 "--state-dir", "/var/lib/it-edge").stdout,
                             15, what="a tunnel from the container's edge")
        install = [b, "service", "install", "--init", "auto", "--name", name, "--state-dir",
                   state, "--", "tunnel", "run", "--url", "http://127.0.0.1:9", "--token-file",
                   "/root/token"]
        # A token the connector refuses: it exits at once, and install says so with the
        # journal's last lines and takes itself back.
        self.inside("sh", "-c", "umask 077 && cat > /root/token", stdin="not a token\n")
        r = self.inside(*install)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("burrow: %s did not stay up: within 2 s of starting, systemd reports it "
                      % name, r.stderr)
        self.assertIn("\nlast lines of its journal:\n", r.stderr)
        self.assertIn("\ninstall taken back: ", r.stderr)
        self.assertEqual(self.inside("systemctl", "show", "-P", "LoadState", name).stdout.strip(),
                         "not-found")
        # The token as `tunnel create > token` leaves it, root's: install copies it.
        self.inside("sh", "-c", "umask 077 && cat > /root/token", stdin=token)
        r = self.inside(*install)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("init: systemd (auto picked it: PID 1 is systemd)", r.stdout)
        self.assertIn("created system user " + name, r.stdout)
        self.assertIn("started " + name, r.stdout)

        def registered():
            return self.journal(name).count("connection registered")
        harness.poll(lambda: registered() >= 4, 30, what="connector registered")

        def main_pid():
            return int(self.inside("systemctl", "show", "-P", "MainPID", name).stdout or 0)
        first = main_pid()
        self.inside("kill", "-9", str(first))
        harness.poll(lambda: main_pid() not in (0, first), 20, what="systemd restarting it")
        harness.poll(lambda: registered() >= 8, 20, what="connector registered again")
        # The live rating of the unit as systemd runs it.
        r = self.inside("systemd-analyze", "security", name)
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d)", r.stdout)
        self.assertIsNotNone(m, r.stdout + r.stderr)
        self.assertLessEqual(float(m.group(1)), 2.0, r.stdout)
        r = self.inside(b, "service", "status", "--name", name)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("\nactive\nrestarts: 1; last exit status: ", r.stdout)
        self.assertIn("\nlast lines of its journal:\n", r.stdout)
        for action in ("reload", "restart"):
            r = self.inside(b, "service", action, "--name", name)
            self.assertEqual((r.returncode, r.stdout), (0, "%s: %s done\n" % (name, action)),
                             r.stderr)
        harness.poll(lambda: registered() >= 12, 20, what="connector registered after restart")
        # Uninstall: stopped and disabled, the unit, the state directory with the token, and
        # the user gone.
        r = self.inside(b, "service", "uninstall", "--name", name)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("removed /etc/systemd/system/%s.service" % name, r.stdout)
        self.assertIn("removed %s and all it held" % state, r.stdout)
        self.assertIn("removed system user " + name, r.stdout)
        r = self.inside("systemctl", "show", "-P", "LoadState", name)
        self.assertEqual(r.stdout.strip(), "not-found")
        self.assertFalse(os.path.exists("/etc/systemd/system/%s.service" % name))

    def test_systemd_runs_a_stack_brings_it_back_and_uninstall_leaves_nothing(self):
        """`service install -- up -f FILE`: systemd runs the stack's supervisor (root, in the
        foreground); a service on a private network answers; after kill -9 of the supervisor
        systemd starts it again, which takes down what the killed one left and brings the stack
        up anew; uninstall stops it (SIGTERM to the supervisor alone, KillMode=mixed) and no
        namespace, link or firewall table is left."""
        self.boot()
        b = self.burrow_bin
        name, state = self.machine + "-stack", "/var/lib/%s-stack" % self.machine
        stack = """services:
  web:
    exec: [/usr/bin/python3, -m, http.server, --bind, 0.0.0.0, "8000", --directory, /usr/lib]
    sandbox: { ProtectSystem: strict, ProtectHome: "yes", PrivateTmp: "yes", Restart: always,
               RestartSec: 100ms }
"""
        self.inside("sh", "-c", "mkdir -p /srv/stack && cat > /srv/stack/burrow.yaml",
                    stdin=stack)
        r = self.inside("sh", "-c", "cd /srv/stack && exec %s service install --name %s "
                        "--state-dir %s -- up" % (b, name, state))
        print("=== install\n" + r.stdout + r.stderr)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("init: systemd (auto picked it: PID 1 is systemd)", r.stdout)
        self.assertNotIn("created system user", r.stdout)
        self.assertIn("started " + name, r.stdout)
        self.assertIn("its services: burrow ps --state-dir " + state, r.stdout)
        unit = self.inside("cat", "/etc/systemd/system/%s.service" % name).stdout
        self.assertIn("ExecStart=%s up --state-dir %s -f /srv/stack/burrow.yaml\n" % (b, state),
                      unit)

        def ps():
            r = self.inside(b, "ps", "--state-dir", state, "--json")
            return json.loads(r.stdout) if r.returncode == 0 else {}

        def serving():
            p = ps()
            web = [s for s in p.get("services", []) if s["name"] == "web"]
            if not p.get("running") or not web or web[0]["state"] != "running":
                return None
            r = self.inside("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "3",
                            "http://%s:8000/" % web[0]["address"])
            return p if r.stdout == "200" else None
        first = harness.poll(serving, 30, what="the stack's service answering")
        main_pid = int(self.inside("systemctl", "show", "-P", "MainPID", name).stdout)
        self.assertEqual(main_pid, first["supervisor"])
        # kill -9 of a service: the stack's supervisor starts it again, systemd sees nothing.
        pids = self.inside("ip", "netns", "pids", "bs-web").stdout.split()
        self.assertEqual(len(pids), 1, pids)
        self.inside("kill", "-9", pids[0])
        again = harness.poll(lambda: (lambda p: p if p and p["services"][0]["restarts"] == 1
                                      else None)(serving()), 30, what="the service restarted")
        self.assertEqual(again["supervisor"], main_pid)
        # service restart: SIGTERM to the supervisor alone, which takes its stack down in order
        # and exits; systemd starts it again, and the stack comes up anew.
        r = self.inside(b, "service", "restart", "--name", name)
        self.assertEqual((r.returncode, r.stdout), (0, "%s: restart done\n" % name), r.stderr)
        anew = harness.poll(lambda: (lambda p: p if p and p["supervisor"] != main_pid else None)(
            serving()), 30, what="the stack up again after the restart")
        self.assertEqual(anew["services"][0]["restarts"], 0)
        log = self.journal(name)
        self.assertIn("stopping the stack", log)
        self.assertNotIn("Killing process", log)  # nothing outlived the supervisor's stop
        r = self.inside(b, "service", "status", "--name", name)
        self.assertIn("\nactive\n", r.stdout)
        r = self.inside(b, "service", "uninstall", "--name", name)
        print("=== uninstall\n" + r.stdout + r.stderr)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("removed %s and all it held" % state, r.stdout)
        self.assertEqual(self.inside("ip", "netns", "list").stdout, "")
        self.assertNotIn("bs-web", self.inside("ip", "-o", "link").stdout)
        self.assertNotIn("burrow_stack", self.inside("nft", "list", "tables").stdout)
        self.assertIn("stopping the stack", self.journal(name))


if __name__ == "__main__":
    unittest.main()
