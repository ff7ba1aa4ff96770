#!/usr/bin/env python3
"""Real SSH through the tunnel: dropbear (Debian's dropbear-bin) on loopback with a throwaway
host key and a throwaway user, an `ssh://` route, and OpenSSH's client with
`ProxyCommand burrow access ssh --hostname %h`: a command runs as that user, and 100 MB go up
and 100 MB come down with SHA-256; then a plain `ssh -p PORT` to the edge's TCP port for the
route (`burrow edge route tcp`). The user and its files are removed afterwards."""

import hashlib
import os
import pwd
import secrets
import subprocess
import unittest

import harness

SIZE = 100 * 1024 * 1024


@unittest.skipIf(harness.root_and_tools_missing("dropbear", "dropbearkey", "ssh", "ssh-keygen",
                                                "useradd", "userdel", "openssl"),
                 "needs root, dropbear (dropbear-bin), ssh, ssh-keygen, useradd, openssl")
class AccessSshTest(harness.BurrowTestCase):
    def make_user(self):
        name = "bsh" + secrets.token_hex(4)
        home = self.path("home")
        subprocess.run(["useradd", "-M", "-d", home, "-s", "/bin/sh", name], check=True,
                       capture_output=True)
        self.addCleanup(subprocess.run, ["userdel", name], capture_output=True)
        pw = pwd.getpwnam(name)
        os.makedirs(os.path.join(home, ".ssh"))
        key = self.path("id_ed25519")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        with open(key + ".pub") as f, open(os.path.join(home, ".ssh", "authorized_keys"),
                                           "w") as out:
            out.write(f.read())
        for d, _, files in os.walk(home):
            os.chown(d, pw.pw_uid, pw.pw_gid)
            for fn in files:
                os.chown(os.path.join(d, fn), pw.pw_uid, pw.pw_gid)
        os.chmod(home, 0o700)
        os.chmod(os.path.join(home, ".ssh"), 0o700)
        return name, home, key

    def test_ssh_through_the_tunnel(self):
        user, home, key = self.make_user()
        hostkey = self.path("dropbear_ed25519")
        subprocess.run(["dropbearkey", "-t", "ed25519", "-f", hostkey], check=True,
                       capture_output=True)
        ssh_port = harness.free_port()
        sshd = self.spawn("dropbear", ["dropbear", "-F", "-E", "-s", "-p",
                                       "127.0.0.1:%d" % ssh_port, "-r", hostkey, "-P",
                                       self.path("dropbear.pid")])
        harness.poll(lambda: harness._connectable(ssh_port), 10, what="dropbear to listen")

        cert, ckey = self.path("ssh.crt"), self.path("ssh.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=ssh.test",
                        "-addext", "subjectAltName=DNS:ssh.test", "-keyout", ckey, "-out", cert],
                       check=True, capture_output=True)
        edge = self.start_edge(https="127.0.0.1:0", cert=cert, key=ckey)
        token = self.create_tunnel(edge, "home", ["ssh.test"])
        self.reload_edge(edge, "ssh.test")
        config = self.write_file("config.yml", "ingress:\n  - hostname: ssh.test\n"
                                 "    service: ssh://127.0.0.1:%d\n"
                                 "  - service: http_status:404\n" % ssh_port)
        self.start_connector(self.write_token(token), config=config, ha=2)

        proxy = "%s access ssh --hostname %%h --edge 127.0.0.1:%d --ca-file %s" % (
            harness.BURROW, edge.https_port, cert)
        ssh = ["ssh", "-F", "/dev/null", "-i", key, "-o", "BatchMode=yes", "-o",
               "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o",
               "LogLevel=ERROR", "-o", "ProxyCommand=" + proxy, "%s@ssh.test" % user]
        r = subprocess.run(ssh + ["echo hello from $(id -un)"], capture_output=True, timeout=60,
                           env=harness.clean_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), "hello from %s\n" % user)

        # 100 MB up: the far side hashes what arrived.
        data = self.path("up.bin")
        with open(data, "wb") as f:
            f.write(os.urandom(SIZE))
        with open(data, "rb") as f:
            want = hashlib.sha256(f.read()).hexdigest()
        with open(data, "rb") as f:
            r = subprocess.run(ssh + ["sha256sum"], stdin=f, capture_output=True, timeout=300,
                               env=harness.clean_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode().split()[0], want)
        # 100 MB down.
        r = subprocess.run(ssh + ["head -c %d /dev/zero" % SIZE], capture_output=True,
                           timeout=300, env=harness.clean_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual((len(r.stdout), hashlib.sha256(r.stdout).hexdigest()),
                         (SIZE, hashlib.sha256(bytes(SIZE)).hexdigest()))

        # A plain ssh client, no ProxyCommand: a TCP port of the edge for the route.
        port = harness.free_port()
        self.burrow("edge", "route", "tcp", "ssh.test", str(port), "--state-dir",
                    edge.state_dir, check=True)
        edge.proc.wait_for(r"tcp route listening addr=127\.0\.0\.1:%d" % port)
        plain = ssh[:-3] + ["-p", str(port), "%s@127.0.0.1" % user]  # without ProxyCommand
        r = subprocess.run(plain + ["echo plain from $(id -un)"], capture_output=True, timeout=60,
                           env=harness.clean_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), "plain from %s\n" % user)
        sshd.stop()


if __name__ == "__main__":
    harness.main()
