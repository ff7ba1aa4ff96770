#!/usr/bin/env python3
"""`burrow exec --private-users=pick` and `--ephemeral`: a user range of the unit's own (uid 0
inside is the range's base outside, as the host's /proc shows it), held by a lock while the
service runs and free once it has ended, id-mapped BindPaths=, the range combined with the
other directives (a NetworkNamespacePath= joined before the user namespace, User=, seccomp,
capabilities), and an ephemeral root whose writes are gone once the service ends. Needs root."""

import fcntl
import os
import re
import shutil
import subprocess
import unittest

import harness

RANGE_MIN, RANGE_MAX, RANGE_SIZE = 0x80000, 0x6FFF0000, 0x10000


def candidate(name):
    """The picker's first candidate for `name` (FNV-1a, 64 bits): stable across builds."""
    h = 14695981039346656037
    for b in name.encode():
        h = ((h ^ b) * 1099511628211) % (1 << 64)
    return RANGE_MIN + (h % ((RANGE_MAX - RANGE_MIN) // RANGE_SIZE + 1)) * RANGE_SIZE


def _can_make_namespaces():
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    r = subprocess.run(["unshare", "--user", "--mount", "--net", "--pid", "--fork", "true"],
                       capture_output=True, timeout=30)
    return r.returncode == 0


def ids(pid):
    """The Uid and Gid lines of /proc/PID/status, as the host sees them."""
    status = harness._read("/proc/%d/status" % pid)
    uid = re.search(r"(?m)^Uid:\s+(.*)$", status).group(1).split()
    gid = re.search(r"(?m)^Gid:\s+(.*)$", status).group(1).split()
    return [int(x) for x in uid], [int(x) for x in gid]


def locked(path):
    """True while some holder has the range's lock file flock()ed."""
    with open(path) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


@unittest.skipUnless(_can_make_namespaces(), "needs root allowed to create namespaces")
class UserRangeTest(harness.BurrowTestCase):
    def setUp(self):
        super().setUp()
        self.state = self.path("state")
        self.locks = os.path.join(self.state, "stack", "userns-locks")

    def unit(self, name, exec_start, directives=""):
        os.makedirs(self.path(name + ".d"), exist_ok=True)
        return self.write_file(os.path.join(name + ".d", name),
                               "[Service]\nExecStart=%s\n%s\n" % (exec_start, directives))

    def start(self, unit, *flags):
        """Starts `burrow exec --private-users=pick UNIT` whose service prints its pid."""
        p = self.spawn("exec", [harness.BURROW, "exec", "--no-restart", "--state-dir", self.state,
                                "--private-users=pick", *flags, unit])
        pid = int(p.wait_for(r"(?m)^pid=(\d+)$", stream="stdout").group(1))
        return p, pid

    def run_exec(self, unit, *flags):
        return self.burrow("exec", "--no-restart", "--state-dir", self.state, "--private-users=pick",
                           *flags, unit, timeout=60)

    def test_root_inside_is_the_range_base_outside_and_the_lock_is_held_meanwhile(self):
        unit = self.unit("web.service", "/bin/sh -c 'echo pid=$$; cat /proc/self/uid_map; "
                                        "id -u; exec sleep 60'")
        p, pid = self.start(unit)
        base = candidate("web.service")
        self.assertEqual(ids(pid), ([base] * 4, [base] * 4))
        p.wait_for(r"(?m)^\s*0\s+%d\s+65536$" % base, stream="stdout")
        p.wait_for(r"(?m)^0$", stream="stdout")  # root inside
        lock = os.path.join(self.locks, str(base))
        self.assertTrue(locked(lock))
        p.stop()
        self.assertFalse(locked(lock), "the range is free once the service has ended")

    def test_two_services_of_the_same_name_get_disjoint_ranges(self):
        a = self.unit("web.service", "/bin/sh -c 'echo pid=$$; exec sleep 60'")
        os.makedirs(self.path("other"))
        b = self.write_file("other/web.service", harness._read(a))
        _, pid_a = self.start(a)
        _, pid_b = self.start(b)
        base_a, base_b = ids(pid_a)[0][0], ids(pid_b)[0][0]
        self.assertEqual(base_a, candidate("web.service"))
        self.assertGreaterEqual(abs(base_a - base_b), RANGE_SIZE)
        self.assertEqual(base_b % RANGE_SIZE, 0)
        self.assertTrue(locked(os.path.join(self.locks, str(base_a))))
        self.assertTrue(locked(os.path.join(self.locks, str(base_b))))

    def test_the_range_is_free_again_after_the_service_ends(self):
        unit = self.unit("once.service", "/bin/sh -c 'cat /proc/self/uid_map'")
        first = self.run_exec(unit)
        self.assertEqual(first.returncode, 0, first.stderr)
        second = self.run_exec(unit)
        self.assertEqual(second.returncode, 0, second.stderr)
        self.assertEqual(first.stdout, second.stdout)  # the same range both times
        self.assertIn("%d" % candidate("once.service"), first.stdout)
        self.assertFalse(locked(os.path.join(self.locks, str(candidate("once.service")))))

    def test_bind_paths_are_id_mapped(self):
        data = self.path("data")
        os.makedirs(data)
        os.chmod(data, 0o755)  # root's on the host: only root (0, not the range) may write
        with open(os.path.join(data, "host-file"), "w") as f:
            f.write("x")
        unit = self.unit("data.service",
                         "/bin/sh -c 'stat -c %%u:%%g %s/host-file; echo made > %s/inside && "
                         "mkdir %s/dir && echo wrote'" % (data, data, data),
                         "BindPaths=%s" % data)
        r = self.run_exec(unit)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), ["0:0", "wrote"])  # the host's root is root inside
        for name in ("inside", "dir"):
            st = os.stat(os.path.join(data, name))
            self.assertEqual((st.st_uid, st.st_gid), (0, 0), name)

    def test_bind_read_only_paths_stay_read_only(self):
        data = self.path("ro")
        os.makedirs(data)
        unit = self.unit("ro.service", "/bin/sh -c 'touch %s/x'" % data,
                         "BindReadOnlyPaths=%s" % data)
        r = self.run_exec(unit)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Read-only file system", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(data, "x")))

    def test_a_file_system_that_cannot_be_id_mapped_is_a_clear_error(self):
        ram = self.path("ram")
        os.makedirs(ram)
        if subprocess.run(["mount", "-t", "ramfs", "ramfs", ram]).returncode != 0:
            self.skipTest("cannot mount ramfs")
        self.addCleanup(subprocess.run, ["umount", "-l", ram])
        unit = self.unit("ram.service", "/bin/sh -c 'echo ran'", "BindPaths=%s" % ram)
        r = self.run_exec(unit)
        self.assertEqual(r.returncode, 1)
        self.assertNotIn("ran", r.stdout)
        self.assertIn("BindPaths=%s: ramfs cannot be id-mapped on this kernel" % ram, r.stderr)

    def test_the_range_combines_with_netns_path_user_capabilities_and_seccomp(self):
        # A named network namespace belongs to the host's user namespace: it is joined before
        # the service's user namespace is entered (from inside it, setns() would be refused).
        name = "burrow-users-%d" % os.getpid()
        subprocess.run(["ip", "netns", "add", name], check=True)
        self.addCleanup(subprocess.run, ["ip", "netns", "del", name])
        ns_inode = os.stat("/run/netns/" + name).st_ino
        unit = self.unit(
            "net.service",
            "/bin/sh -c 'echo pid=$$; readlink /proc/self/ns/net; id -u; "
            "grep CapEff /proc/self/status; exec sleep 60'",
            "NetworkNamespacePath=/run/netns/%s\nUser=nobody\nNoNewPrivileges=yes\n"
            "SystemCallFilter=@system-service\nCapabilityBoundingSet=\nProtectSystem=strict\n"
            "PrivateTmp=yes" % name)
        p, pid = self.start(unit)
        base = candidate("net.service")
        nobody = 65534
        self.assertEqual(ids(pid)[0], [base + nobody] * 4)
        p.wait_for(r"(?m)^net:\[%d\]$" % ns_inode, stream="stdout")
        p.wait_for(r"(?m)^%d$" % nobody, stream="stdout")
        p.wait_for(r"(?m)^CapEff:\s+0+$", stream="stdout")
        self.assertNotEqual(os.readlink("/proc/%d/ns/user" % pid),
                            os.readlink("/proc/self/ns/user"))

    def test_private_network_with_a_range(self):
        unit = self.unit("pn.service", "/bin/sh -c 'cat /proc/self/uid_map; "
                                       "readlink /proc/self/ns/net; cat /proc/net/dev'",
                         "PrivateNetwork=yes")
        r = self.run_exec(unit)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("%d" % candidate("pn.service"), r.stdout)
        self.assertNotIn(os.readlink("/proc/self/ns/net"), r.stdout)
        links = [l.split(":")[0].strip() for l in r.stdout.splitlines()[4:]]
        self.assertEqual(links, ["lo"])  # a namespace of its own

    def test_a_user_outside_the_range_is_refused(self):
        big = [l.split(":")[0] for l in subprocess.run(["getent", "passwd"], capture_output=True,
                                                         text=True).stdout.splitlines()
               if int(l.split(":")[2]) >= RANGE_SIZE]
        if not big:
            self.skipTest("no user with an id beyond 65535 here")
        r = self.run_exec(self.unit("big.service", "/bin/true", "User=%s" % big[0]))
        self.assertEqual(r.returncode, 1)
        self.assertIn("outside the service's user range", r.stderr)


@unittest.skipUnless(_can_make_namespaces(), "needs root allowed to create namespaces")
class EphemeralTest(harness.BurrowTestCase):
    def unit(self, exec_start, directives=""):
        return self.write_file("eph.service",
                               "[Service]\nExecStart=%s\n%s\n" % (exec_start, directives))

    def run_exec(self, unit, *flags):
        return self.burrow("exec", "--no-restart", "--state-dir", self.path("state"), *flags, unit,
                           timeout=60)

    def test_writes_to_the_root_vanish_and_the_host_root_is_untouched(self):
        tag = "burrow-ephemeral-%d" % os.getpid()
        etc_new, var_new = "/etc/" + tag, "/var/" + tag
        kept = "/var/tmp/%s-kept" % tag  # on the host: changed and removed inside
        with open(kept, "w") as f:
            f.write("host\n")
        self.addCleanup(os.unlink, kept)
        for p in (etc_new, var_new):
            self.addCleanup(lambda p=p: os.path.exists(p) and os.unlink(p))
        etc_before = sorted(os.listdir("/etc"))
        unit = self.unit("/bin/sh -c 'echo inside > %s && echo inside > %s && "
                         "echo inside > %s && cat %s && rm %s && test ! -e %s && "
                         "cat /proc/self/mountinfo | head -1'"
                         % (etc_new, var_new, kept, etc_new, kept, kept))
        r = self.run_exec(unit, "--ephemeral")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines()[0], "inside")
        self.assertIn(" / ", r.stdout.splitlines()[1])
        self.assertIn("overlay", r.stdout.splitlines()[1])
        self.assertFalse(os.path.exists(etc_new))
        self.assertFalse(os.path.exists(var_new))
        self.assertEqual(harness._read(kept), "host\n")
        self.assertEqual(sorted(os.listdir("/etc")), etc_before)
        # Without --ephemeral the same write reaches the host: the test can tell.
        r = self.run_exec(self.unit("/bin/sh -c 'echo inside > %s'" % var_new))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(var_new))

    def test_binds_reach_the_host_and_other_directives_apply_on_top(self):
        data = self.path("data")
        os.makedirs(data)
        unit = self.unit("/bin/sh -c 'echo kept > %s/out; ls /proc/self/fd >/dev/null && "
                         "test -c /dev/null && ls /sys/class/net >/dev/null && echo api-ok; "
                         "touch /etc/x 2>&1 || true'" % data,
                         "BindPaths=%s\nProtectSystem=strict" % data)
        r = self.run_exec(unit, "--ephemeral")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("api-ok", r.stdout)
        self.assertIn("Read-only file system", r.stdout + r.stderr)  # ProtectSystem=strict
        self.assertEqual(harness._read(os.path.join(data, "out")), "kept\n")

    def test_with_a_user_range_and_an_id_mapped_bind(self):
        data = self.path("data")
        os.makedirs(data)
        unit = self.unit("/bin/sh -c 'cat /proc/self/uid_map; touch %s/f && echo ok'" % data,
                         "BindPaths=%s" % data)
        r = self.run_exec(unit, "--ephemeral", "--private-users=pick")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ok", r.stdout)
        self.assertEqual(os.stat(os.path.join(data, "f")).st_uid, 0)

    def test_refused_with_root_directory(self):
        r = self.run_exec(self.unit("/bin/true", "RootDirectory=%s" % self.tmp), "--ephemeral")
        self.assertEqual(r.returncode, 1)
        self.assertIn("ephemeral root cannot be combined with RootDirectory=", r.stderr)


if __name__ == "__main__":
    harness.main()
