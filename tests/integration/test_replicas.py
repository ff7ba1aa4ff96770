#!/usr/bin/env python3
"""Two connector replicas of one tunnel: requests spread over both, and draining one of them
(SIGTERM) loses no request — the edge stops choosing it at GOAWAY and moves any stream it
refused to the other replica."""

import collections
import signal
import threading
import time

import harness


class ReplicaTest(harness.BurrowTestCase):
    def test_draining_one_replica_loses_no_request(self):
        origin, origin_port = self.start_origin()
        edge = self.start_edge()
        token = self.create_tunnel(edge, "app", ["app.test"])
        self.reload_edge(edge, "app.test")
        token_file = self.write_token(token)
        url = "http://127.0.0.1:%d" % origin_port
        a = self.start_connector(token_file, url=url, ha=2, name="replica-a")
        b = self.start_connector(token_file, url=url, ha=2, name="replica-b")

        statuses = collections.Counter()
        failures = []
        stop = threading.Event()
        lock = threading.Lock()

        def hammer():
            while not stop.is_set():
                try:
                    r = self.get(edge, "/hello", "app.test", timeout=10)
                    with lock:
                        statuses[r.status] += 1
                        if r.status != 200:
                            failures.append(r.body[:200])
                except Exception as e:  # a dropped connection is a lost request too
                    with lock:
                        failures.append(repr(e))

        threads = [threading.Thread(target=hammer, daemon=True) for _ in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while sum(statuses.values()) < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        a.send(signal.SIGTERM)
        self.assertEqual(a.wait(timeout=15), 0, a.tail())
        served_at_drain = sum(statuses.values())
        while sum(statuses.values()) < served_at_drain + 300 and time.monotonic() < deadline + 10:
            time.sleep(0.05)
        stop.set()
        for t in threads:
            t.join(timeout=15)
        self.assertEqual(failures, [], "requests lost while a replica drained: %s" % statuses)
        self.assertGreater(statuses[200], served_at_drain, "replica b served nothing after")
        self.assertTrue(b.alive())


if __name__ == "__main__":
    harness.main()
