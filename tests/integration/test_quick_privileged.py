#!/usr/bin/env python3
"""The README's first command, scripts/quick, as a newcomer runs it (with the binary under test
instead of a build of its own): the example stack comes up behind a local edge, both services
answer by hostname through the tunnel, and Ctrl-C takes it all down and leaves nothing.

It runs in namespaces of the test's own (network, mount, pid; /run a tmpfs), so port 8080 and
the stack's namespaces, links and tables are the test's alone."""

import os
import subprocess
import unittest

import harness

DRIVER = r"""set -um  # job control: a background job keeps SIGINT, as in a terminal
mount --make-rprivate /
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /srv  # the example binds to /srv/www, which exec makes when missing
ip link set lo up
cd "$SRC"
scripts/quick > "$OUT" 2>&1 &
q=$!
for i in $(seq 300); do grep -q '^Open' "$OUT" && break; kill -0 $q || break; sleep 0.1; done
echo "=== hello"; curl -s -m 5 -H 'Host: hello.localhost' http://127.0.0.1:8080/
echo "=== files"; curl -s -m 5 -H 'Host: files.localhost' http://127.0.0.1:8080/README.txt
echo "=== ps"; "$BURROW" ps --state-dir "$TMPDIR"/burrow-quick.*/state
kill -INT $q; wait $q; echo "=== exit $?"
echo "=== left"; ip netns; ip -o link | grep -c bs- ; nft list tables; ls -d "$TMPDIR"/burrow-quick.* 2>/dev/null
echo "=== end"
"""


@unittest.skipIf(harness.root_and_tools_missing("unshare", "ip", "nft", "curl"),
                 "needs root, unshare, ip, nft, curl")
class QuickTest(harness.BurrowTestCase):
    def test_quick_brings_up_the_example_stack_and_ctrl_c_leaves_nothing(self):
        out = self.path("quick.out")
        tmp = self.path("tmp")
        os.makedirs(tmp)
        env = harness.clean_env({"SRC": harness.SOURCE_ROOT, "OUT": out,
                                 "BURROW": harness.BURROW, "TMPDIR": tmp})
        r = subprocess.run(["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc",
                            "bash", "-c", DRIVER], env=env, capture_output=True, text=True,
                           timeout=120 * harness.TIME_FACTOR, stdin=subprocess.DEVNULL)
        text = r.stdout + "\n--- scripts/quick said\n" + harness._read(out)
        print(text)
        self.assertEqual(r.returncode, 0, text + r.stderr)
        self.assertIn("<h1>Hello from burrow</h1>", r.stdout, text)
        self.assertIn("files: the second service of the example stack", r.stdout, text)
        self.assertRegex(r.stdout, r"(?m)^hello\s+running\s+\d+\s+10\.77\.0\.\d+\s+private", text)
        self.assertRegex(r.stdout, r"(?m)^files\s+running", text)
        self.assertIn("=== exit 0", r.stdout, text)
        left = r.stdout.split("=== left\n", 1)[1]
        self.assertEqual(left, "0\n=== end\n", text)
        self.assertIn("Open http://hello.localhost:8080/", harness._read(out))


if __name__ == "__main__":
    harness.main()
