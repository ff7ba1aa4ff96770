#!/usr/bin/env python3
"""`burrow exec`: every directive shown to take effect. For each one the probe
(tests/tools/probe.cc) does a forbidden thing twice, in a unit without the directive (it
works) and with it (it fails with the errno the directive promises), so no directive can pass
by doing nothing. Then the seed's whole cloudflared profile, exit statuses, signals, Restart=,
and bad input. Needs root: namespaces and mounts."""

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import unittest

import harness

PROBE = os.environ.get("BURROW_PROBE") or os.path.join(harness.SOURCE_ROOT, "build", "tests",
                                                        "burrow_probe")


def _can_make_namespaces():
    """Root in a container without CAP_SYS_ADMIN cannot: say so instead of failing."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    r = subprocess.run(["unshare", "--mount", "--net", "--pid", "--fork", "true"],
                       capture_output=True, timeout=30)
    return r.returncode == 0


@unittest.skipUnless(_can_make_namespaces(), "needs root allowed to create namespaces")
class ExecTest(harness.BurrowTestCase):
    @classmethod
    def setUpClass(cls):
        # The build tree may sit under /tmp or a home directory, which PrivateTmp= and
        # ProtectHome= hide: run a copy of the probe from /run instead.
        cls.probe_dir = "/run/burrow-probe-%d" % os.getpid()
        os.makedirs(cls.probe_dir, mode=0o755, exist_ok=True)
        cls.probe_bin = os.path.join(cls.probe_dir, "burrow_probe")
        shutil.copy2(PROBE, cls.probe_bin)
        os.chmod(cls.probe_bin, 0o755)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.probe_dir, ignore_errors=True)

    def unit(self, exec_start, directives="", name="probe.service"):
        text = "[Service]\nExecStart=%s\n%s\n" % (exec_start, directives)
        return self.write_file(name, text)

    def probe(self, action, directives="", *args):
        unit = self.unit(" ".join([self.probe_bin, action] + [str(a) for a in args]), directives)
        r = self.burrow("--log-level", "warn", "exec", "--no-restart", unit, timeout=60)
        return r.returncode, r.stdout.strip()

    def assertTakesEffect(self, directives, action, *args, errno_names=None):
        code, out = self.probe(action, "", *args)
        self.assertEqual((code, out), (0, "ok"), "%s without %r" % (action, directives))
        code, out = self.probe(action, directives, *args)
        want = ["errno=%s" % e for e in errno_names]
        self.assertIn(out, want, "%s with %r (exit %d)" % (action, directives, code))
        self.assertEqual(code, 1)

    def marker(self, directory):
        path = os.path.join(directory, ".burrow-probe-%d" % os.getpid())
        with open(path, "w") as f:
            f.write("marker\n")
        self.addCleanup(lambda: os.path.exists(path) and os.unlink(path))
        return path

    # ---- filesystem ----

    def test_protect_system_strict(self):
        self.assertTakesEffect("ProtectSystem=strict", "write", "/usr/.burrow-probe-%d" % os.getpid(),
                               errno_names=["EROFS"])

    def test_protect_system_full_covers_etc(self):
        self.assertTakesEffect("ProtectSystem=full", "write", "/etc/.burrow-probe-%d" % os.getpid(),
                               errno_names=["EROFS"])

    def test_read_write_paths_stay_writable(self):
        d = self.path("rw")
        os.makedirs(d)
        code, out = self.probe("write", "ProtectSystem=strict\nReadWritePaths=%s" % d,
                               os.path.join(d, "f"))
        self.assertEqual((code, out), (0, "ok"))

    def test_protect_home(self):
        self.assertTakesEffect("ProtectHome=yes", "read", self.marker("/root"), errno_names=["ENOENT"])

    def test_private_tmp(self):
        self.assertTakesEffect("PrivateTmp=yes", "read", self.marker("/tmp"), errno_names=["ENOENT"])

    def test_inaccessible_paths(self):
        d = self.path("secret")
        os.makedirs(d)
        path = self.marker(d)
        self.assertTakesEffect("InaccessiblePaths=%s" % d, "read", path, errno_names=["ENOENT"])

    def test_private_devices(self):
        dev = next((d for d in ("/dev/kmsg", "/dev/loop-control", "/dev/mem", "/dev/fuse")
                    if os.path.exists(d)), None)
        if dev is None:
            self.skipTest("no device to probe")
        self.assertTakesEffect("PrivateDevices=yes", "open-dev", dev, errno_names=["ENOENT"])

    def test_protect_kernel_tunables(self):
        self.assertTakesEffect("ProtectKernelTunables=yes", "write-sys", errno_names=["EROFS"])

    # ---- system calls ----

    def test_system_call_filter_mount(self):
        self.assertTakesEffect("SystemCallFilter=~@mount\nSystemCallErrorNumber=EPERM", "mount",
                               errno_names=["EPERM"])

    def test_system_call_filter_debug(self):
        self.assertTakesEffect("SystemCallFilter=~@debug\nSystemCallErrorNumber=EPERM", "ptrace",
                               errno_names=["EPERM"])

    def test_system_call_filter_kills_by_default(self):
        code, out = self.probe("ptrace", "SystemCallFilter=~@debug")
        self.assertEqual(code, 128 + signal.SIGSYS, out)

    def test_restrict_address_families(self):
        self.assertTakesEffect("RestrictAddressFamilies=AF_INET AF_INET6", "socket-unix",
                               errno_names=["EAFNOSUPPORT"])

    def test_memory_deny_write_execute(self):
        self.assertTakesEffect("MemoryDenyWriteExecute=yes", "mmap-wx", errno_names=["EACCES", "EPERM"])

    def test_protect_clock(self):
        self.assertTakesEffect("ProtectClock=yes", "adjtime", errno_names=["EPERM"])

    def test_restrict_namespaces(self):
        self.assertTakesEffect("RestrictNamespaces=yes", "unshare-user", errno_names=["EPERM"])

    def test_clone3_answers_enosys_so_libc_falls_back(self):
        self.assertTakesEffect("RestrictNamespaces=yes", "clone3", errno_names=["ENOSYS"])
        # An allow list without clone3: the call answers ENOSYS instead of killing the service.
        self.assertEqual(self.probe("clone3", "SystemCallFilter=@system-service\nSystemCallFilter=~clone3"),
                         (1, "errno=ENOSYS"))

    def test_lock_personality(self):
        self.assertTakesEffect("LockPersonality=yes", "personality", errno_names=["EPERM"])

    def test_restrict_suid_sgid(self):
        d = self.path("suid")
        os.makedirs(d)
        self.assertTakesEffect("RestrictSUIDSGID=yes", "setuid-file", d, errno_names=["EPERM"])

    def test_restrict_realtime(self):
        self.assertTakesEffect("RestrictRealtime=yes", "realtime", errno_names=["EPERM"])

    def test_protect_kernel_modules(self):
        self.assertTakesEffect("ProtectKernelModules=yes", "module", errno_names=["EPERM"])

    def test_protect_hostname(self):
        self.assertTakesEffect("ProtectHostname=yes", "hostname", errno_names=["EPERM"])

    # ---- processes, identity, capabilities ----

    def test_private_pids(self):
        self.assertTakesEffect("PrivatePIDs=yes", "see-pid", os.getpid(), errno_names=["ENOENT"])
        # As under systemd 257, the service itself is PID 1 of the namespace.
        unit = self.unit("/bin/readlink /proc/self", "PrivatePIDs=yes")
        r = self.burrow("--log-level", "warn", "exec", "--no-restart", unit)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "1"))

    def test_no_new_privileges(self):
        self.assertTakesEffect("NoNewPrivileges=yes", "nnp", errno_names=["EPERM"])

    def test_capability_bounding_set(self):
        self.assertTakesEffect("CapabilityBoundingSet=~CAP_SYS_ADMIN", "cap", 21, errno_names=["EPERM"])

    def test_user(self):
        self.assertEqual(self.probe("uid", "User=nobody"), (0, "uid=65534"))
        self.assertEqual(self.probe("uid"), (0, "uid=0"))

    def test_private_network(self):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        self.addCleanup(srv.close)
        port = srv.getsockname()[1]
        self.assertTakesEffect("PrivateNetwork=yes", "connect", port, errno_names=["ECONNREFUSED"])

    def test_ambient_capabilities(self):
        # In a network namespace of its own, so that the low port is surely free.
        base = "User=nobody\nPrivateNetwork=yes"
        self.assertEqual(self.probe("bind-low", base, 81), (1, "errno=EACCES"))
        self.assertEqual(self.probe("bind-low", base + "\nAmbientCapabilities=CAP_NET_BIND_SERVICE", 81),
                         (0, "ok"))

    def test_system_call_architectures_native(self):
        if self.probe("syscall32") != (0, "ok"):
            self.skipTest("this kernel runs no 32-bit system calls (no IA32 emulation)")
        code, out = self.probe("syscall32", "SystemCallArchitectures=native")
        self.assertEqual(code, 128 + signal.SIGSYS, out)

    def test_protect_kernel_logs(self):
        if not os.path.exists("/dev/kmsg"):
            self.skipTest("no /dev/kmsg here")
        self.assertTakesEffect("ProtectKernelLogs=yes", "open-dev", "/dev/kmsg",
                               errno_names=["ENXIO", "EACCES", "ENOENT"])

    def test_limits(self):
        self.assertEqual(self.probe("nofile", "LimitNOFILE=123:456"), (0, "nofile=123:456"))
        self.assertEqual(self.probe("nofile", "LimitNOFILE=77"), (0, "nofile=77:77"))

    def test_keyring_mode(self):
        inherit = self.probe("keyring", "KeyringMode=inherit")[1]
        private_a = self.probe("keyring", "KeyringMode=private")[1]
        private_b = self.probe("keyring", "KeyringMode=private")[1]
        self.assertTrue(inherit.startswith("keyring="), inherit)
        self.assertNotEqual(private_a, inherit)
        self.assertNotEqual(private_a, private_b)

    def test_bind_paths_and_temporary_file_system(self):
        src = self.path("src")
        os.makedirs(src)
        marker = self.marker(src)
        dst = self.path("dst")
        os.makedirs(dst)
        seen = os.path.join(dst, os.path.basename(marker))
        self.assertEqual(self.probe("read", "BindPaths=%s:%s" % (src, dst), seen), (0, "ok"))
        self.assertEqual(self.probe("write", "BindReadOnlyPaths=%s:%s" % (src, dst), seen + ".new"),
                         (1, "errno=EROFS"))
        self.assertTakesEffect("TemporaryFileSystem=%s:ro" % src, "read", marker, errno_names=["ENOENT"])
        # A bind into a read-only tmpfs: its mount point is made in the tmpfs, which stays
        # read-only; the bind's source is found though the tmpfs now covers it.
        inner = os.path.join(src, "a", "b")
        self.assertEqual(self.probe("read", "TemporaryFileSystem=%s:ro\nBindReadOnlyPaths=%s:%s"
                                    % (src, marker, inner), inner), (0, "ok"))
        self.assertEqual(self.probe("write", "TemporaryFileSystem=%s:ro\nBindReadOnlyPaths=%s:%s"
                                    % (src, marker, inner), os.path.join(src, "new")),
                         (1, "errno=EROFS"))
        self.assertFalse(os.path.exists(os.path.join(src, "a")))
        r = self.burrow("exec", self.unit("/bin/true", "BindPaths=/nonexistent/src:%s" % dst))
        self.assertEqual(r.returncode, 1)
        self.assertIn("BindPaths=/nonexistent/src", r.stderr)

    def test_private_users(self):
        # A file only uid 4321 may read: root reads it anyway, unless PrivateUsers= leaves the
        # service without capabilities toward the host's users.
        path = self.path("private")
        with open(path, "w") as f:
            f.write("x\n")
        os.chown(path, 4321, 4321)
        os.chmod(path, 0o600)
        self.assertTakesEffect("PrivateUsers=yes", "read", path, errno_names=["EACCES"])
        self.assertEqual(self.probe("uid", "PrivateUsers=yes\nUser=nobody"), (0, "uid=65534"))

    def test_root_directory(self):
        # A root of its own: the system's programs bound in read-only, one file of its own.
        root = self._small_root("root")
        unit = self.write_file("root.service", "[Service]\nExecStart=/run/probe read /only-in-root\n"
                               "RootDirectory=%s\nBindReadOnlyPaths=/usr\nProtectSystem=strict\n" % root)
        r = self.burrow("--log-level", "warn", "exec", "--no-restart", unit)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "ok"), r.stderr)
        self.assertFalse(os.path.exists("/only-in-root"))
        # Inside, ProtectSystem=strict holds for the new root.
        unit = self.write_file("root2.service", "[Service]\nExecStart=/run/probe write /new-file\n"
                               "RootDirectory=%s\nBindReadOnlyPaths=/usr\nProtectSystem=strict\n" % root)
        r = self.burrow("--log-level", "warn", "exec", "--no-restart", unit)
        self.assertEqual((r.returncode, r.stdout.strip()), (1, "errno=EROFS"), r.stderr)
        r = self.burrow("exec", self.unit("/bin/true", "RootDirectory=/nonexistent/root"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("RootDirectory=/nonexistent/root", r.stderr)

    def _small_root(self, name):
        """A root of its own: the system's programs get bound in, /run holds the probe."""
        root = self.path(name)
        for d in ("usr", "etc", "run", "tmp", "proc", "dev", "var/lib/burrow-it-state"):
            os.makedirs(os.path.join(root, d))
        for link, to in (("lib", "usr/lib"), ("lib64", "usr/lib64"), ("bin", "usr/bin")):
            os.symlink(to, os.path.join(root, link))
        with open(os.path.join(root, "only-in-root"), "w") as f:
            f.write("x\n")
        shutil.copy2(self.probe_bin, os.path.join(root, "run", "probe"))
        shutil.copy2(os.path.realpath("/bin/sh"), os.path.join(root, "run", "sh"))
        return root

    def test_root_image(self):
        if shutil.which("mkfs.ext4") is None or not os.path.exists("/dev/loop-control"):
            self.skipTest("needs mkfs.ext4 and loop devices")
        image = self.path("root.img")
        subprocess.run(["mkfs.ext4", "-q", "-d", self._small_root("image-root"), image, "16M"],
                       check=True, capture_output=True, timeout=60)
        # What the service reads now comes from the image, not from the directory it was made of.
        os.unlink(os.path.join(self.tmp, "image-root", "only-in-root"))
        before = subprocess.run(["losetup", "-j", image], capture_output=True, text=True).stdout
        self.assertEqual(before, "")
        common = "RootImage=%s\nBindReadOnlyPaths=/usr\n" % image
        r = self.burrow("--log-level", "warn", "exec", "--no-restart",
                        self.unit("/run/probe read /only-in-root", common))
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "ok"), r.stderr)
        # The image is mounted read-only, and the loop device goes when the service ends.
        r = self.burrow("--log-level", "warn", "exec", "--no-restart",
                        self.unit("/run/probe write /new-file", common))
        self.assertEqual((r.returncode, r.stdout.strip()), (1, "errno=EROFS"), r.stderr)
        after = subprocess.run(["losetup", "-j", image], capture_output=True, text=True).stdout
        self.assertEqual(after, "")
        # StateDirectory= lives on the host and is bound into the image at the same path.
        state = "/var/lib/burrow-it-state"
        self.addCleanup(shutil.rmtree, state, ignore_errors=True)
        r = self.burrow("--log-level", "warn", "exec", "--no-restart",
                        self.unit("/bin/sh -c 'echo kept > %s/from-image'" % state,
                                  common + "StateDirectory=burrow-it-state\n"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(state + "/from-image"))
        # Bad input: a file that is no file system, both roots at once.
        junk = self.write_file("junk.img", "not a file system\n" * 100)
        r = self.burrow("exec", self.unit("/bin/true", "RootImage=%s" % junk))
        self.assertEqual(r.returncode, 1)
        self.assertIn("not an ext4, squashfs, erofs, xfs or btrfs file system image", r.stderr)
        r = self.burrow("exec", self.unit("/bin/true", "RootImage=%s\nRootDirectory=/" % image))
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot both be set", r.stderr)

    def test_state_directory_inside_root_directory(self):
        root = self._small_root("state-root")
        state = "/var/lib/burrow-it-state2"
        self.addCleanup(shutil.rmtree, state, ignore_errors=True)
        r = self.burrow("--log-level", "warn", "exec", "--no-restart",
                        self.unit("/run/sh -c 'echo kept > %s/from-root'" % state,
                                  "RootDirectory=%s\nBindReadOnlyPaths=/usr\n"
                                  "ProtectSystem=strict\nStateDirectory=burrow-it-state2\n" % root))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(state + "/from-root"))
        self.assertFalse(os.path.exists(root + state + "/from-root"))

    def test_remove_ipc(self):
        def segment_exists(shmid):
            for line in harness._read("/proc/sysvipc/shm").splitlines()[1:]:
                if line.split()[1] == shmid:
                    return True
            return False
        code, out = self.probe("make-ipc", "User=nobody")
        self.assertEqual(code, 0, out)
        shmid = out.split("=")[1]
        self.addCleanup(lambda: subprocess.run(["ipcrm", "-m", shmid], capture_output=True))
        self.assertTrue(segment_exists(shmid), "without RemoveIPC= the segment stays")
        code, out = self.probe("make-ipc", "User=nobody\nRemoveIPC=yes")
        self.assertEqual(code, 0, out)
        self.assertFalse(segment_exists(out.split("=")[1]), "RemoveIPC= left the segment")

    # ---- the seed's profile: everything at once, and the service still works ----

    def test_seed_cloudflared_profile(self):
        # The seed's profile, with errno answers instead of SIGSYS so the probe can report.
        profile = harness._read(os.path.join(harness.SOURCE_ROOT, "tests", "data", "profiles",
                                             "seed-cloudflared.conf")) + "SystemCallErrorNumber=EPERM\n"
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        self.addCleanup(srv.close)
        port = srv.getsockname()[1]
        self.assertEqual(self.probe("connect", profile, port), (0, "ok"))
        for action, args, errnos in [
                ("socket-unix", [], ["EAFNOSUPPORT"]), ("mount", [], ["EPERM"]),
                ("ptrace", [], ["EPERM"]), ("mmap-wx", [], ["EACCES", "EPERM"]),
                ("adjtime", [], ["EPERM"]), ("unshare-user", [], ["EPERM"]),
                ("personality", [], ["EPERM"]), ("realtime", [], ["EPERM"]),
                ("see-pid", [os.getpid()], ["ENOENT"]), ("write", ["/usr/.x"], ["EROFS"]),
                ("read", [self.marker("/tmp")], ["ENOENT"]), ("nnp", [], ["EPERM"]),
                ("cap", [21], ["EPERM"]), ("module", [], ["EPERM"]), ("hostname", [], ["EPERM"])]:
            code, out = self.probe(action, profile, *args)
            self.assertIn(out, ["errno=%s" % e for e in errnos], action)

    # ---- running: status, signals, Restart= ----

    def test_exit_status_and_extra_args(self):
        unit = self.unit("/bin/sh -c 'exit $0' 7")
        self.assertEqual(self.burrow("exec", "--no-restart", unit).returncode, 7)
        unit = self.unit("/bin/sh -c 'exit $1' sh")
        self.assertEqual(self.burrow("exec", "--no-restart", unit, "--", "9").returncode, 9)

    def test_sigterm_reaches_the_service(self):
        cases = [
            # (directives, command, status): a plain service dies of SIGTERM; with
            # PrivatePIDs= it is PID 1, which gets only signals it handles, so a shell that
            # traps TERM exits its own way and `sleep` lasts until TimeoutStopSec='s SIGKILL.
            ("", "/bin/sleep 30", 128 + signal.SIGTERM),
            ("PrivatePIDs=yes", "/bin/sh -c 'trap \"exit 7\" TERM; while :; do sleep 0.1; done'",
             7),
            ("PrivatePIDs=yes\nTimeoutStopSec=500ms", "/bin/sleep 30", 128 + signal.SIGKILL),
        ]
        for directives, command, status in cases:
            unit = self.unit(command, directives)
            p = self.spawn("exec", [harness.BURROW, "exec", unit])
            p.wait_for(r"service started")
            time.sleep(0.2)  # the shell's trap is set
            started = time.monotonic()
            p.send(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=10), status, directives)
            took = time.monotonic() - started
            self.assertLess(took, 5)
            if status == 128 + signal.SIGKILL:
                self.assertGreaterEqual(took, 0.5)
                p.wait_for(r"did not stop in time")

    def test_service_dies_with_burrow(self):
        # SIGKILL leaves burrow no time to stop the service: the kernel must (PR_SET_PDEATHSIG,
        # and for PrivatePIDs= the namespace's init going with it).
        for directives in ("", "PrivatePIDs=yes\nPrivateUsers=yes\nUser=nobody"):
            marker = "0.000%d%d" % (os.getpid(), time.monotonic_ns() % 100000)
            unit = self.unit("/bin/sleep 3600 %s" % marker, directives)
            p = self.spawn("exec", [harness.BURROW, "exec", unit])
            p.wait_for(r"service started")

            def service_pids():
                found = []
                for pid in filter(str.isdigit, os.listdir("/proc")):
                    try:
                        with open("/proc/%s/cmdline" % pid, "rb") as f:
                            if marker.encode() in f.read().split(b"\0"):
                                found.append(int(pid))
                    except OSError:
                        pass
                return found

            harness.poll(service_pids, 10, what="the service running")
            os.kill(p.pid, signal.SIGKILL)
            p.wait(timeout=10)
            harness.poll(lambda: not service_pids(), 5, what="the service gone (%r)" % directives)

    def test_restart_on_failure(self):
        counter = self.path("runs")
        script = ("n=$(cat %s 2>/dev/null || echo 0); n=$((n+1)); echo $n > %s; "
                  "[ $n -ge 3 ]") % (counter, counter)
        unit = self.unit("/bin/sh -c '%s'" % script, "Restart=on-failure\nRestartSec=50ms")
        self.assertEqual(self.burrow("exec", unit, timeout=30).returncode, 0)
        self.assertEqual(harness._read(counter).strip(), "3")
        os.unlink(counter)
        self.assertEqual(self.burrow("exec", "--no-restart", unit).returncode, 1)
        self.assertEqual(harness._read(counter).strip(), "1")

    # ---- bad input: a clear error before anything starts ----

    def test_bad_input(self):
        r = self.burrow("exec", self.unit("/bin/true", "User=no-such-user-here"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("User=no-such-user-here: no such user", r.stderr)
        r = self.burrow("exec", self.unit("/nonexistent/binary"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent/binary", r.stderr)
        r = self.burrow("exec", self.unit("/bin/true", "ReadWritePaths=/nonexistent/dir"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("ReadWritePaths=/nonexistent/dir", r.stderr)
        r = self.burrow("exec", self.unit("/bin/true", "ProtectSystem=sometimes"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("probe.service:3: ProtectSystem=sometimes", r.stderr)
        r = self.burrow("exec", "--strict", self.unit("/bin/true", "Frobnicate=1"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown directive Frobnicate=", r.stderr)
        # A step that fails in the child names itself; nothing is left mounted on the host.
        before = harness._read("/proc/self/mountinfo")
        r = self.burrow("exec", self.unit("/bin/true", "WorkingDirectory=/nonexistent/wd"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("chdir to WorkingDirectory=", r.stderr)
        self.assertEqual(harness._read("/proc/self/mountinfo"), before)


if __name__ == "__main__":
    harness.main()
