#!/usr/bin/env python3
"""TCP routes under load: a flood of streams on a tcp:// route, from another loopback address,
while a well-behaved HTTP client on another route and a well-behaved TCP client on the same
route keep being served, quickly. The flood is bounded in connections, bytes and time; its
streams write without reading (the origin echoes into a full window) and past the per-client
connection cap."""

import base64
import os
import socket
import threading
import time

import harness
import test_access_tcp  # its Origin: an echo (and sink, source) TCP server on loopback
import ws_client
from test_hostile import GoodClient

FLOOD_SOURCE = "127.0.0.2"
FLOOD_CONNECTIONS = 120  # over the per-client cap below
FLOOD_BYTES = 1 << 20    # per stream, at most
FLOOD_SECONDS = 6.0
PER_CLIENT = 32


class WsStream(ws_client.WsClient):
    """One stream to a tcp:// route through the edge's http listener (a WebSocket, as `burrow
    access` carries it) from address `source`, speaking the echo origin's protocol."""

    def __init__(self, port, hostname, timeout, source="127.0.0.1"):
        self.sock = socket.socket()
        self.sock.settimeout(timeout)
        self.buf = b""
        try:
            self.sock.bind((source, 0))
            self.sock.connect((harness.LOOPBACK, port))
            key = base64.b64encode(os.urandom(16)).decode()
            self.sock.sendall(("GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                               "Sec-WebSocket-Version: 13\r\n\r\n" % (hostname, key)).encode())
            status = self._read_head().split(b"\r\n", 1)[0]
            if b" 101 " not in status + b" ":
                raise ws_client.WsError("handshake answered %r" % status)
        except BaseException:
            self.sock.close()
            raise

    def send(self, data):
        super().send(0x2, data)

    def recv_exactly(self, n):
        got = b""
        while len(got) < n:
            _, payload = self.read_message()
            got += payload
        return got

    def close(self):
        self.sock.close()


class GoodTcpClient:
    """Echo round trips on fresh streams, one at a time; each must come back within `within`
    seconds (times harness.TIME_FACTOR). `open_stream()` returns an object with send,
    recv_exactly and close."""

    def __init__(self, open_stream, within=2.0):
        self.open_stream = open_stream
        self.within = within * harness.TIME_FACTOR
        self.ok = 0
        self.failures = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _once(self, i):
        started = time.monotonic()
        try:
            s = self.open_stream(self.within)
            try:
                msg = b"good %d" % i
                s.send(b"echo\n" + msg)
                if s.recv_exactly(len(msg)) != msg:
                    return "wrong echo"
            finally:
                s.close()
        except (OSError, ws_client.WsError) as e:
            return "error %r" % e
        took = time.monotonic() - started
        return "slow: %.2fs" % took if took > self.within else None

    def _run(self):
        i = 0
        while not self._stop.is_set():
            failure = self._once(i)
            i += 1
            if failure:
                self.failures.append(failure)
            else:
                self.ok += 1
            self._stop.wait(0.05)

    def stop(self):
        self._stop.set()
        self._t.join(timeout=30)


class Flood:
    """FLOOD_CONNECTIONS streams from FLOOD_SOURCE, each writing up to FLOOD_BYTES to the echo
    origin without reading, all closed after FLOOD_SECONDS. Counts the streams that opened
    and those refused."""

    def __init__(self, open_stream):
        self.opened = 0
        self.refused = 0
        self.sent = 0
        self.streams = []
        self._lock = threading.Lock()
        self._deadline = time.monotonic() + FLOOD_SECONDS * harness.TIME_FACTOR
        self._threads = [threading.Thread(target=self._run, args=(open_stream, n), daemon=True)
                         for n in range(4)]
        for t in self._threads:
            t.start()

    def _run(self, open_stream, which):
        piece = b"x" * 16384
        for _ in range(which, FLOOD_CONNECTIONS, 4):
            if time.monotonic() > self._deadline:
                break
            try:
                s = open_stream(2.0)
            except (OSError, ws_client.WsError):
                with self._lock:
                    self.refused += 1
                continue
            with self._lock:
                self.opened += 1
                self.streams.append(s)
            sent = 0
            try:
                s.send(b"echo\n")
                while sent < FLOOD_BYTES and time.monotonic() < self._deadline:
                    s.send(piece)
                    sent += len(piece)
            except (OSError, ws_client.WsError):
                pass  # a full window (nobody reads the echo) times the writer out: expected
            with self._lock:
                self.sent += sent

    def wait(self):
        for t in self._threads:
            t.join(timeout=FLOOD_SECONDS * harness.TIME_FACTOR + 30)

    def close(self):
        with self._lock:
            for s in self.streams:
                s.close()
            self.streams = []


class TcpFloodTest(harness.BurrowTestCase):
    def setUp(self):
        super().setUp()
        self.origin = test_access_tcp.Origin()
        self.addCleanup(self.origin.close)
        web, web_port = self.start_origin("A")
        self.edge = self.start_edge(extra=["--max-connections-per-client", str(PER_CLIENT)])
        token = self.create_tunnel(self.edge, "app", ["tcp.test", "app.test"])
        self.reload_edge(self.edge, "app.test")
        config = self.write_file("config.yml", "ingress:\n"
                                 "  - hostname: tcp.test\n    service: tcp://127.0.0.1:%d\n"
                                 "  - hostname: app.test\n    service: http://127.0.0.1:%d\n"
                                 "  - service: http_status:404\n" % (self.origin.port, web_port))
        self.start_connector(self.write_token(token), config=config, ha=2)

    def ws_stream(self, source="127.0.0.1"):
        return lambda timeout: WsStream(self.edge.http_port, "tcp.test", timeout, source)

    def check_flood(self, flood_stream, good_stream):
        good_http = GoodClient(self.edge.http_port, "app.test", within=2.0)
        self.addCleanup(good_http.stop)
        good_tcp = GoodTcpClient(good_stream)
        self.addCleanup(good_tcp.stop)
        flood = Flood(flood_stream)
        self.addCleanup(flood.close)
        flood.wait()
        # The good clients keep going while the flood's streams are still open.
        time.sleep(1.0)
        good_http.stop()
        good_tcp.stop()
        flood.close()
        print("flood: opened=%d refused=%d sent=%d; good: http=%d tcp=%d" % (
            flood.opened, flood.refused, flood.sent, good_http.ok, good_tcp.ok))
        self.assertTrue(self.edge.proc.alive(), self.edge.proc.tail())
        self.assertGreater(flood.opened, 0, "no flood stream opened at all")
        self.assertLessEqual(flood.opened, PER_CLIENT)
        self.assertGreater(flood.refused, 0, "the per-client cap refused nothing")
        self.assertEqual(good_http.failures, [])
        self.assertEqual(good_tcp.failures, [])
        self.assertGreaterEqual(good_http.ok, 5)
        self.assertGreaterEqual(good_tcp.ok, 5)
        # And after it, a stream of 1 MB still goes through whole.
        s = good_stream(10.0)
        data = bytes(range(256)) * 4096
        s.send(b"echo\n")
        for i in range(0, len(data), 65536):  # messages under the connector's 1 MiB cap
            s.send(data[i:i + 65536])
        self.assertEqual(s.recv_exactly(len(data)), data)
        s.close()

    def test_websocket_flood_on_a_tcp_route_starves_neither_http_nor_tcp(self):
        self.check_flood(self.ws_stream(FLOOD_SOURCE), self.ws_stream())


if __name__ == "__main__":
    harness.main()
