#!/usr/bin/env python3
"""Bodies through the tunnel: 50 MB each way with SHA-256 checksums, chunked bodies,
Expect: 100-continue, 200 concurrent requests, and bounded memory while streaming."""

import hashlib
import mmap
import os
import re

import harness
from harness import test_origin

MB = 1024 * 1024
BIG = 50 * MB


def vm_hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        m = re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M)
    return int(m.group(1))


def sanitized_binary():
    """ASan keeps freed memory in quarantine, so RSS says nothing about buffering there."""
    with open(harness.BURROW, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        return m.find(b"__asan_") != -1


class TransferTest(harness.BurrowTestCase):
    def setUp(self):
        super().setUp()
        _, self.origin_port = self.start_origin("A")
        config = "ingress:\n  - hostname: app.test\n    service: http://127.0.0.1:%d\n" \
                 "  - service: http_status:404\n" % self.origin_port
        self.edge, self.conn = self.tunnel_to_origin(["app.test"], config_text=config)
        self.base = "http://127.0.0.1:%d" % self.edge.http_port

    def curl_app(self, *args, timeout=180):
        return self.curl("-H", "Host: app.test", *args, timeout=timeout)

    def check_hwm_growth(self, before, what):
        if sanitized_binary():
            return
        for name, proc in (("edge", self.edge.proc), ("connector", self.conn)):
            grown = vm_hwm_kib(proc.pid) - before[name]
            self.assertLess(grown, 40 * 1024,
                            "%s peak RSS grew by %d KiB during %s: the body is being buffered"
                            % (name, grown, what))

    def hwm(self):
        return {"edge": vm_hwm_kib(self.edge.proc.pid), "connector": vm_hwm_kib(self.conn.pid)}

    def test_download_50mb(self):
        before = self.hwm()
        out = self.path("download.bin")
        r = self.curl_app("-o", out, "-w", "%{http_code}", "%s/bytes/%d" % (self.base, BIG))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), "200")
        self.assertEqual(os.path.getsize(out), BIG)
        self.assertEqual(harness.sha256_file(out), test_origin.pattern_sha256(BIG))
        self.check_hwm_growth(before, "a 50 MB download")

    def test_download_chunked(self):
        n = 5 * MB + 12345
        out = self.path("chunked.bin")
        r = self.curl_app("-o", out, "-w", "%{http_code}", "%s/chunked/%d" % (self.base, n))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode(), "200")
        self.assertEqual(harness.sha256_file(out), test_origin.pattern_sha256(n))

    def make_upload_file(self, size):
        path = self.path("upload.bin")
        h = hashlib.sha256()
        with open(path, "wb") as f:
            left = size
            while left:
                block = os.urandom(min(left, MB))
                h.update(block)
                f.write(block)
                left -= len(block)
        return path, h.hexdigest()

    def upload(self, path, *headers):
        args = ["-X", "POST", "--data-binary", "@" + path, "-w", "\n%{http_code}"]
        for h in headers:
            args += ["-H", h]
        r = self.curl_app(*args, "%s/upload" % self.base)
        self.assertEqual(r.returncode, 0, r.stderr)
        body, _, code = r.stdout.decode().rpartition("\n")
        self.assertEqual(code, "200", body)
        return harness.json.loads(body)

    def test_upload_small_with_content_length(self):
        body = os.urandom(1000)
        r = self.get(self.edge, "/upload", "app.test", method="POST", body=body,
                     headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json(), {"length": 1000, "sha256": hashlib.sha256(body).hexdigest()})

    def test_upload_50mb(self):
        path, digest = self.make_upload_file(BIG + 7)
        before = self.hwm()
        # curl waits for "100 Continue" before sending the body: the tunnel must pass it.
        got = self.upload(path, "Expect: 100-continue", "Content-Type: application/octet-stream")
        self.assertEqual(got, {"length": BIG + 7, "sha256": digest})
        self.check_hwm_growth(before, "a 50 MB upload")

    def test_upload_chunked(self):
        path, digest = self.make_upload_file(10 * MB + 3)
        got = self.upload(path, "Transfer-Encoding: chunked")
        self.assertEqual(got, {"length": 10 * MB + 3, "sha256": digest})

    def test_200_concurrent_requests(self):
        n = 200
        outdir = self.path("parallel")
        os.mkdir(outdir)
        sizes = [1000 + 97 * i for i in range(n)]
        cfg = self.path("parallel.curlrc")
        with open(cfg, "w") as f:
            for i, size in enumerate(sizes):
                f.write('url = "%s/bytes/%d?i=%d"\noutput = "%s/%d"\n'
                        % (self.base, size, i, outdir, i))
        r = self.curl_app("--parallel", "--parallel-immediate", "--parallel-max", str(n),
                          "-K", cfg, "-w", "%{http_code} %{filename_effective}\n", timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        codes = r.stdout.decode().split("\n")
        codes = [line.split(" ", 1) for line in codes if line]
        self.assertEqual(len(codes), n)
        bad = [c for c in codes if c[0] != "200"]
        self.assertEqual(bad, [], "%d of %d requests failed" % (len(bad), n))
        for i, size in enumerate(sizes):
            with open(os.path.join(outdir, str(i)), "rb") as f:
                body = f.read()
            want = b"".join(test_origin.pattern_chunks(size))
            self.assertEqual(len(body), size, "request %d: wrong length" % i)
            self.assertTrue(body == want, "request %d: wrong body" % i)


if __name__ == "__main__":
    harness.main()
