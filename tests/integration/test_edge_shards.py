#!/usr/bin/env python3
"""The edge runs one shard per core. A shard without a connection to the request's tunnel
hands the request to a shard that has one: with a single HA connection, every request still
gets through, whichever shard the kernel gave its client connection to, with the same
X-Forwarded-* headers, bodies both ways and WebSocket upgrades."""

import hashlib
import json
import os
import unittest

import harness
import ws_client  # noqa: E402  (from the tools directory, put on sys.path by harness)

FORWARDED = r"request forwarded from_shard="


@unittest.skipIf((os.cpu_count() or 1) < 2, "one core: the edge runs a single shard")
class EdgeShardTest(harness.BurrowTestCase):
    def setUp(self):
        super().setUp()
        _, origin_port = self.start_origin("A")
        self.edge = self.start_edge(log_level="debug")
        token = self.create_tunnel(self.edge, "app", ["app.test"])
        self.reload_edge(self.edge, "app.test")
        self.start_connector(self.write_token(token), url="http://127.0.0.1:%d" % origin_port,
                             ha=1)

    def forwarded(self):
        return self.edge.proc.count(FORWARDED)

    def test_every_request_arrives_with_one_connection(self):
        for i in range(60):  # each on a fresh connection, spread over the shards
            r = self.get(self.edge, "/headers", "app.test",
                         headers={"X-Forwarded-For": "203.0.113.9"})
            self.assertEqual(r.status, 200, r)
            h = json.loads(r.body)
            # One hop appended, by the shard that took the connection, not by both.
            self.assertEqual(h.get("x-forwarded-for"), "203.0.113.9, 127.0.0.1", h)
            self.assertEqual(h.get("x-forwarded-proto"), "http", h)
            self.assertEqual(h.get("x-forwarded-host"), "app.test", h)
        self.assertGreater(self.forwarded(), 0, "no request crossed shards: " + self.edge.proc.tail())

    def test_uploads_and_websockets_cross_shards(self):
        body = os.urandom(1 << 20)
        want = hashlib.sha256(body).hexdigest()
        before = self.forwarded()
        for i in range(20):
            r = self.get(self.edge, "/upload", "app.test", method="POST", body=body)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(json.loads(r.body), {"length": len(body), "sha256": want})
        self.assertGreater(self.forwarded(), before, "no upload crossed shards")
        before = self.forwarded()
        url = "ws://127.0.0.1:%d/ws" % self.edge.http_port
        for i in range(20):
            ws = ws_client.WsClient(url, host="app.test")
            try:
                ws.send(0x2, b"shard %d" % i)
                self.assertEqual(ws.read_message(), (0x2, b"shard %d" % i))
                ws.close()
            finally:
                ws.sock.close()
        self.assertGreater(self.forwarded(), before, "no WebSocket crossed shards")


if __name__ == "__main__":
    harness.main()
