#!/usr/bin/env python3
"""Real unit files under `burrow exec`: ExecStartPre=, ExecStartPost=, ExecReload=, ExecStop=
and ExecStopPost= run in systemd's order with systemd's environment ($MAINPID,
$SERVICE_RESULT, $EXIT_CODE, $EXIT_STATUS) and prefixes ("-", "@", "+", "!"), and an
ExecStart= the sandbox would hide is refused with the directive that hides it. Each command
appends a line to a log file, so the test reads what ran and in which order. Needs root."""

import os
import shutil
import signal
import time
import unittest

import harness
from test_exec_privileged import _can_make_namespaces


@unittest.skipUnless(_can_make_namespaces(), "needs root allowed to create namespaces")
class UnitCommandsTest(harness.BurrowTestCase):
    def setUp(self):
        super().setUp()
        # Commands that run as another user (User=nobody) append to the log too.
        os.chmod(self.path(), 0o755)
        os.makedirs(self.path("logs"), mode=0o777)
        os.chmod(self.path("logs"), 0o777)
        self.log = self.path("logs", "log")
        with open(self.log, "w"):
            pass
        os.chmod(self.log, 0o666)

    def sh(self, script):
        """A command line running `script` with /bin/sh, quoted for a unit file."""
        return "/bin/sh -c '%s'" % script.replace("LOG", self.log)

    def lines(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return f.read().split("\n")[:-1]

    def wait_line(self, prefix, proc, timeout=10):
        deadline = time.monotonic() + timeout * harness.TIME_FACTOR
        while time.monotonic() < deadline:
            if any(l.startswith(prefix) for l in self.lines()):
                return
            self.assertTrue(proc.alive(), proc.tail())
            time.sleep(0.02)
        self.fail("no %r in %r\n%s" % (prefix, self.lines(), proc.tail()))

    def exec_unit(self, body, *args):
        unit = self.write_file("hooks.service", "[Service]\n" + body)
        return self.burrow("--log-level", "warn", "exec", "--no-restart", *args, unit,
                           timeout=60)

    def test_start_order_mainpid_and_stop_results(self):
        posted = self.path("posted")
        r = self.exec_unit(
            "ExecStartPre=%s\n" % self.sh("echo pre1 >> LOG") +
            "ExecStartPre=-/bin/false\n" +
            "ExecStartPre=%s\n" % self.sh("echo pre2 >> LOG") +
            # The main process waits (bounded) until ExecStartPost= has run.
            "ExecStart=%s\n" % self.sh(
                "i=0; while [ ! -e %s ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; "
                "echo main >> LOG; exit 3" % posted) +
            "ExecStartPost=%s\n" % self.sh("echo post $MAINPID >> LOG; touch %s" % posted) +
            "ExecStop=%s\n" % self.sh(
                "echo stop [$MAINPID] $SERVICE_RESULT $EXIT_CODE $EXIT_STATUS >> LOG") +
            "ExecStopPost=%s\n" % self.sh(
                "echo stoppost $SERVICE_RESULT $EXIT_CODE $EXIT_STATUS >> LOG"))
        self.assertEqual(r.returncode, 3, r.stderr)
        got = self.lines()
        self.assertEqual(len(got), 6, got)
        self.assertEqual(got[:2], ["pre1", "pre2"])
        self.assertRegex(got[2], r"^post [1-9][0-9]*$")
        self.assertEqual(got[3:], ["main", "stop [] exit-code exited 3",
                                   "stoppost exit-code exited 3"])

    def test_failed_pre_aborts_the_start_and_stop_post_still_runs(self):
        r = self.exec_unit(
            "ExecStartPre=%s\n" % self.sh("echo pre >> LOG; exit 4") +
            "ExecStartPre=%s\n" % self.sh("echo pre-not-reached >> LOG") +
            "ExecStart=%s\n" % self.sh("echo main >> LOG") +
            "ExecStop=%s\n" % self.sh("echo stop >> LOG") +
            "ExecStopPost=%s\n" % self.sh("echo stoppost $SERVICE_RESULT >> LOG"))
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertEqual(self.lines(), ["pre", "stoppost exit-code"])

    def test_oneshot_runs_each_exec_start_in_turn_then_post(self):
        r = self.exec_unit(
            "Type=oneshot\n" +
            "ExecStart=%s\n" % self.sh("echo one $0 >> LOG") +
            "ExecStart=-%s\n" % self.sh("echo two >> LOG; exit 9") +
            "ExecStart=%s\n" % self.sh("echo three >> LOG") +
            "ExecStartPost=%s\n" % self.sh("echo post >> LOG") +
            "ExecStop=%s\n" % self.sh("echo stop $SERVICE_RESULT >> LOG"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.lines(), ["one /bin/sh", "two", "three", "post", "stop success"])
        r = self.exec_unit(
            "Type=oneshot\n" +
            "ExecStart=%s\n" % self.sh("echo one >> LOG; exit 5") +
            "ExecStart=%s\n" % self.sh("echo not-reached >> LOG") +
            "ExecStopPost=%s\n" % self.sh("echo stoppost $SERVICE_RESULT >> LOG"))
        self.assertEqual(r.returncode, 5, r.stderr)
        self.assertEqual(self.lines()[5:], ["one", "stoppost exit-code"])

    def test_failed_start_post_stops_the_service(self):
        r = self.exec_unit(
            "TimeoutStopSec=2\n" +
            # Ignores SIGTERM: killed once TimeoutStopSec= has passed.
            "ExecStart=%s\n" % self.sh(
                "trap \"\" TERM; echo main >> LOG; i=0; while [ $i -lt 600 ]; do sleep 0.05; "
                "i=$((i+1)); done") +
            # Fails once the main process has set its trap (it writes "main" after it).
            "ExecStartPost=%s\n" % self.sh(
                "i=0; while ! grep -q main LOG && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); "
                "done; echo post >> LOG; exit 6") +
            "ExecStop=%s\n" % self.sh("echo stop >> LOG") +
            "ExecStopPost=%s\n" % self.sh("echo stoppost $SERVICE_RESULT $EXIT_STATUS >> LOG"))
        self.assertEqual(r.returncode, 128 + signal.SIGKILL, r.stderr)
        self.assertEqual(sorted(self.lines()[:2]), ["main", "post"])
        self.assertEqual(self.lines()[2:], ["stoppost signal KILL"])

    def test_missing_pre_binary_is_an_error_and_stop_post_runs(self):
        r = self.exec_unit("ExecStartPre=/nonexistent/prep\n" +
                           "ExecStart=%s\n" % self.sh("echo main >> LOG") +
                           "ExecStopPost=%s\n" % self.sh("echo stoppost >> LOG"))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("ExecStartPre= binary /nonexistent/prep", r.stderr)
        self.assertEqual(self.lines(), ["stoppost"])

    def test_stop_signal_runs_exec_stop_instead_of_sigterm(self):
        unit = self.write_file("hooks.service", "[Service]\n" +
            "ExecStart=%s\n" % self.sh(
                "trap \"echo usr1 >> LOG; exit 0\" USR1; trap \"echo term >> LOG; exit 0\" TERM; "
                "echo ready >> LOG; i=0; while [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done") +
            # Asks the service to stop, and waits (bounded) until it has.
            "ExecStop=%s\n" % self.sh(
                "echo stop $MAINPID >> LOG; kill -USR1 $MAINPID; "
                "for i in $(seq 100); do grep -q usr1 LOG && break; sleep 0.05; done") +
            "ExecStopPost=%s\n" % self.sh("echo stoppost $SERVICE_RESULT >> LOG"))
        p = self.spawn("exec", [harness.BURROW, "--log-level", "warn", "exec", "--no-restart",
                                unit])
        self.wait_line("ready", p)
        p.send(signal.SIGTERM)
        self.assertEqual(p.popen.wait(timeout=30), 0, p.tail())
        got = self.lines()
        self.assertEqual(got[0], "ready")
        self.assertRegex(got[1], r"^stop [1-9][0-9]*$")
        self.assertEqual(got[2:], ["usr1", "stoppost success"])

    def test_sighup_runs_exec_reload_with_mainpid(self):
        unit = self.write_file("hooks.service", "[Service]\n" +
            "ExecStart=%s\n" % self.sh(
                "trap \"echo hup >> LOG\" HUP; trap \"echo term >> LOG; exit 0\" TERM; "
                "echo ready $$ >> LOG; i=0; while [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done") +
            # The reload is still running when SIGTERM comes: the service must get it.
            "ExecReload=%s\n" % self.sh("echo reload $MAINPID >> LOG; sleep 1"))
        p = self.spawn("exec", [harness.BURROW, "--log-level", "warn", "exec", "--no-restart",
                                unit])
        self.wait_line("ready", p)
        p.send(signal.SIGHUP)
        self.wait_line("reload", p)
        p.send(signal.SIGTERM)
        self.assertEqual(p.popen.wait(timeout=10), 0, p.tail())
        got = self.lines()
        pid = got[0].split()[1]
        # The reload command ran with the service's pid; the service never saw SIGHUP.
        self.assertEqual(got, ["ready " + pid, "reload " + pid, "term"])

    def test_prefixes(self):
        out = self.path("out")
        os.makedirs(out)
        os.chmod(out, 0o777)
        r = self.exec_unit(
            "User=nobody\nReadOnlyPaths=%s\n" % out +
            # "+": no sandbox, as root: writes where the sandbox cannot.
            "ExecStartPre=+%s\n" % self.sh("id -u > %s/plus" % out) +
            # "-": the sandboxed write fails (read-only), and the start goes on.
            "ExecStartPre=-%s\n" % self.sh("id -u > %s/minus" % out) +
            # "!": the sandbox (still read-only) without User=: root, so it reads back 0.
            "ExecStartPre=!%s\n" % self.sh("touch %s/bang 2>/dev/null; echo bang $(id -u) >> LOG"
                                           % out) +
            # "@": the second word is argv[0].
            "ExecStartPre=@/bin/sh named-pre -c 'echo argv0 $0 >> %s'\n" % self.log +
            "ExecStart=%s\n" % self.sh("echo main $(id -u) >> LOG"))
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(out, "plus")) as f:
            self.assertEqual(f.read().strip(), "0")
        self.assertFalse(os.path.exists(os.path.join(out, "minus")))
        self.assertFalse(os.path.exists(os.path.join(out, "bang")))
        self.assertEqual(self.lines(), ["bang 0", "argv0 named-pre", "main 65534"])

    def test_strict_runs_stock_units_by_name_and_says_what_is_not_applied(self):
        # systemd's own hardened units (package systemd), as they are, with a drop-in that
        # swaps the daemon for /bin/true, the way an administrator overrides a unit.
        stock = ["systemd-timedated.service", "systemd-hostnamed.service",
                 "systemd-localed.service"]
        for name in stock:
            if not os.path.exists("/lib/systemd/system/" + name):
                self.skipTest("no " + name)
            os.makedirs(self.path("units", name + ".d"))
            self.write_file("units/%s.d/override.conf" % name,
                            "[Service]\nExecStart=\nExecStart=/bin/true\n")
        env = harness.clean_env({"SYSTEMD_UNIT_PATH": self.path("units") + ":"})
        for name in stock:
            r = self.burrow("exec", "--strict", "--no-restart", name, env=env, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertNotIn("unknown directive", r.stderr)
            self.assertRegex(r.stderr, r"unit=%s accepted but not applied by burrow: "
                             r"/lib/systemd/system/%s:\d+: BusName=" % (name, name))
        unit = self.write_file("odd.service", "[Service]\nExecStart=/bin/true\nFrobnicate=1\n")
        r = self.burrow("exec", "--strict", "--no-restart", unit, timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("odd.service:3: unknown directive Frobnicate= in [Service], ignored", r.stderr)

    def test_exec_start_hidden_by_the_sandbox_names_the_directive(self):
        prog = self.path("true")
        shutil.copy2("/bin/true", prog)
        r = self.exec_unit("ExecStart=%s\nPrivateTmp=yes\n" % prog)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("ExecStart=%s is hidden from the service by PrivateTmp=yes, which gives "
                      "the service an empty /tmp" % prog, r.stderr)
        # A bind puts it back, as under systemd (whose mounts go in path order: /tmp first).
        out = self.path("ran")
        r = self.exec_unit("ExecStart=/bin/sh -c '%s && echo $? > /tmp/x && cat /tmp/x > %s'\n"
                           "PrivateTmp=yes\nBindReadOnlyPaths=%s\nBindPaths=%s\n"
                           % (prog, out, prog, os.path.dirname(out)))
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out) as f:
            self.assertEqual(f.read(), "0\n")
        self.assertFalse(os.path.exists("/tmp/x"))
        home = "/root/.burrow-units-%d" % os.getpid()
        os.makedirs(home)
        self.addCleanup(shutil.rmtree, home, True)
        shutil.copy2("/bin/true", home + "/true")
        r = self.exec_unit("ExecStart=%s/true\nProtectHome=yes\n" % home)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("is hidden from the service by ProtectHome=yes, which makes /root "
                      "inaccessible", r.stderr)
        r = self.exec_unit("ExecStart=%s/true\nProtectHome=read-only\n" % home)
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    harness.main()
