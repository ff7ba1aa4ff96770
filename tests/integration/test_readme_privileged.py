#!/usr/bin/env python3
"""The README's "Using it for real" and "Connect from home" walk-throughs, run exactly as
written, so that the README cannot drift from the program.

Its shell blocks run unchanged in namespaces of the test's own (network, mount, pid): there
:80 and :7844 are free, /var/lib and /run are empty tmpfs mounts, and a hosts file bound
over /etc/hosts makes vps.example.net and photos.example.net name 127.0.0.1. Its config.yml
is the README's YAML block. The origins the config names are there too: an HTTP origin on
localhost:2342 and one on the Unix socket /run/api.sock. The home block ends with the
connector, which runs until the end, so it runs in the background, as in a second terminal.
When the driver exits the pid namespace ends, and every process in it with it."""

import os
import re
import shutil
import subprocess
import unittest

import harness

README = os.path.join(harness.SOURCE_ROOT, "README.md")


def walkthrough():
    """(vps_block, config_name, config_text, home_block) of the README's section."""
    with open(README) as f:
        text = f.read()
    section = text.split("## Using it for real", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, re.S)
    sh = [body for kind, body in blocks if kind == "sh"]
    yaml = [body for kind, body in blocks if kind == "yaml"]
    assert len(sh) == 2 and len(yaml) == 1, "the walk-through has changed shape: %r" % blocks
    name = re.match(r"#\s*(\S+)", yaml[0]).group(1)
    return sh[0], name, yaml[0], sh[1]


DRIVER = r"""set -eu
mount --make-rprivate /
mount -t tmpfs tmpfs /var/lib
mount -t tmpfs tmpfs /run
mount --bind "$HOSTS" /etc/hosts
ip link set lo up
cd "$WORK"
export PATH="$BIN:$PATH"
"$PY" "$TOOLS/test_origin.py" --port 2342 --name photos > origin-photos.out 2>&1 &
"$PY" "$TOOLS/test_origin.py" --unix /run/api.sock --name api > origin-api.out 2>&1 &
for i in $(seq 100); do [ -S /run/api.sock ] && grep -q 2342 origin-photos.out && break; sleep 0.1; done
echo "=== vps"
bash -eu vps.sh
echo "=== home"
bash -eu home.sh > home.out 2>&1 &
for i in $(seq 150); do
  curl -s -o /dev/null -w '%{http_code}' -H 'Host: photos.example.net' http://127.0.0.1/hello | grep -q 200 && break
  sleep 0.1
done
echo "=== photos"; curl -s -H 'Host: photos.example.net' http://127.0.0.1/hello
echo "=== api"; curl -s -H 'Host: x.apps.example.net' http://127.0.0.1/api/hello
echo "=== other"; curl -s -o /dev/null -w '%{http_code}\n' -H 'Host: x.apps.example.net' http://127.0.0.1/else
echo "=== info"; burrow edge tunnel info home --state-dir /var/lib/burrow-edge
echo "=== home.out"; cat home.out
"""


def home_walkthrough():
    """(vps_block, home_block) of the README's "Connect from home" section."""
    with open(README) as f:
        text = f.read()
    section = text.split("## Connect from home", 1)[1].split("\n## ", 1)[0]
    sh = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(sh) == 2, "the walk-through has changed shape: %r" % sh
    return sh[0], sh[1]


HOME_DRIVER = r"""set -eu
mount --make-rprivate /
mount -t tmpfs tmpfs /var/lib
mount -t tmpfs tmpfs /run
mount --bind "$HOSTS" /etc/hosts
ip link set lo up
cd "$WORK"
export PATH="$BIN:$PATH"
"$PY" "$TOOLS/test_origin.py" --port 2342 --name photos > origin-photos.out 2>&1 &
for i in $(seq 100); do grep -q 2342 origin-photos.out && break; sleep 0.1; done
echo "=== vps"
bash -eu vps.sh
# As a person would: the edge is up before the home logs in.
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/7844) 2>/dev/null && break; sleep 0.1; done
echo "=== home"
bash -eu home.sh > home.out 2>&1 &
for i in $(seq 150); do
  curl -s -o /dev/null -w '%{http_code}' -H 'Host: photos.example.net' http://127.0.0.1/hello | grep -q 200 && break
  sleep 0.1
done
echo "=== photos"; curl -s -H 'Host: photos.example.net' http://127.0.0.1/hello
echo "=== modes"; stat -c '%a %n' /var/lib/burrow/login.token /var/lib/burrow/photos.token
echo "=== logins"; burrow edge login-token list --state-dir /var/lib/burrow-edge
echo "=== home.out"; cat home.out
"""


@unittest.skipIf(harness.root_and_tools_missing("unshare", "ip", "curl"),
                 "needs root, unshare, ip, curl")
class ReadmeTest(harness.BurrowTestCase):
    def run_driver(self, files, driver):
        """Writes FILES ({name: text}) to a work directory and runs DRIVER there in
        namespaces of its own; returns (work directory, stdout, its parts by "=== NAME")."""
        work = self.path("work")
        os.makedirs(work)
        for name, text in files.items():
            with open(os.path.join(work, name), "w") as f:
                f.write(text)
        bindir = self.path("bin")
        os.makedirs(bindir)
        os.symlink(harness.BURROW, os.path.join(bindir, "burrow"))
        hosts = self.path("hosts")
        with open(hosts, "w") as f:
            f.write("127.0.0.1 localhost vps.example.net photos.example.net\n")
        env = harness.clean_env({"HOSTS": hosts, "WORK": work, "BIN": bindir,
                                 "PY": harness.PYTHON, "TOOLS": harness.TOOLS})
        r = subprocess.run(["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc",
                            "bash", "-c", driver], env=env, capture_output=True, text=True,
                           timeout=120, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return work, r.stdout, dict(re.findall(r"=== (\S+)\n(.*?)(?==== |\Z)", r.stdout, re.S))

    def test_using_it_for_real_runs_as_written(self):
        vps, config_name, config_text, home = walkthrough()
        work, out, parts = self.run_driver(
            {"vps.sh": vps, "home.sh": home, config_name: config_text}, DRIVER)
        # The VPS block: the token file is private, the routes are there.
        self.assertIn("ROUTES:   photos.example.net, *.apps.example.net", parts["vps"], out)
        self.assertEqual(oct(os.stat(os.path.join(work, "home.token")).st_mode & 0o777), "0o600")
        # The home block: validate says OK, rule names rule #1, the connector serves both rules.
        self.assertIn("OK\n", parts["home.out"], out)
        self.assertIn("Matched rule #1", parts["home.out"], out)
        self.assertEqual(parts["photos"], "hello from photos path=/hello\n", out)
        self.assertEqual(parts["api"], "hello from api path=/api/hello\n", out)
        self.assertEqual(parts["other"], "404\n", out)
        self.assertRegex(parts["info"], r"127\.0\.0\.1:\d+", "the connector is live:\n" + out)

    def test_connect_from_home_runs_as_written(self):
        vps, home = home_walkthrough()
        work, out, parts = self.run_driver({"vps.sh": vps, "home.sh": home}, HOME_DRIVER)
        self.assertEqual(oct(os.stat(os.path.join(work, "home-login.token")).st_mode & 0o777),
                         "0o600")
        self.assertIn("as login home (zones: example.net)", parts["home.out"], out)
        self.assertRegex(parts["home.out"], r"Created tunnel photos with id [0-9a-f-]{36}", out)
        self.assertEqual(parts["photos"], "hello from photos path=/hello\n", out)
        self.assertEqual(parts["modes"], "600 /var/lib/burrow/login.token\n"
                                         "600 /var/lib/burrow/photos.token\n", out)
        self.assertRegex(parts["logins"], r"(?m)^home\s+[0-9a-f-]{36}\s+\S+Z\s+-\s+example\.net$",
                         out)


if __name__ == "__main__":
    harness.main()
