#!/usr/bin/env python3
"""`burrow edge route tcp HOSTNAME PORT`: a public TCP port of the edge carried to a tcp://
route, each connection as the WebSocket stream `burrow access tcp` would open. Plain socket
clients: data both ways, megabytes each way with SHA-256, half-close, `route list`, `route
delete tcp:PORT` closing the port, the refusals (unrouted hostname, a port in use or taken by
another route, bad ports) leaving nothing behind, and the per-client connection cap.

And TCP routes under load: a flood of streams on a tcp:// route (through the edge's http
listener as WebSockets, and through a TCP port), from another loopback address, while a
well-behaved HTTP client on another route and a well-behaved TCP client on the same route keep
being served, quickly. The flood is bounded in connections, bytes and time; its streams write
without reading (the origin echoes into a full window) and past the per-client connection
cap."""

import hashlib

import base64
import os
import socket
import threading
import time

import harness
import test_access_tcp  # its Origin: an echo (and sink, source) TCP server on loopback
import ws_client
from test_hostile import Beside, GoodClient

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


class RawStream:
    """One plain TCP connection to a port of the edge from address `source`."""

    def __init__(self, port, timeout, source="127.0.0.1"):
        self.sock = socket.socket()
        self.sock.settimeout(timeout)
        try:
            self.sock.bind((source, 0))
            self.sock.connect((harness.LOOPBACK, port))
        except BaseException:
            self.sock.close()
            raise

    def send(self, data):
        self.sock.sendall(data)

    def recv_exactly(self, n):
        got = b""
        while len(got) < n:
            piece = self.sock.recv(min(1 << 20, n - len(got)))
            if not piece:
                raise ConnectionError("closed after %d of %d bytes" % (len(got), n))
            got += piece
        return got

    def close(self):
        self.sock.close()


class GoodTcpClient(Beside):
    """Echo round trips on fresh streams, one at a time; each must come back within `within`
    seconds. `open_stream()` returns an object with send, recv_exactly and close."""

    def __init__(self, open_stream, within=2.0):
        self.open_stream = open_stream
        super().__init__(within)

    def _once(self):
        i = self.ok + len(self.failures)
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
            s = None
            try:
                # Open when a first byte came back (a TCP port accepts before refusing).
                s = open_stream(2.0)
                s.send(b"echo\n!")
                s.recv_exactly(1)
            except (OSError, ws_client.WsError):
                if s:
                    s.close()
                with self._lock:
                    self.refused += 1
                continue
            with self._lock:
                self.opened += 1
                self.streams.append(s)
            sent = 0
            try:
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


def start_tcp_and_http_routes(t, edge_flags, ha, log_level=None):
    """On test case `t`: an echo origin (t.origin) behind tcp.test, an HTTP origin behind
    app.test, an edge (t.edge) with `edge_flags`, tunnel "app" and its connector."""
    t.origin = test_access_tcp.Origin()
    t.addCleanup(t.origin.close)
    web, web_port = t.start_origin("A")
    t.edge = t.start_edge(extra=edge_flags, log_level=log_level)
    token = t.create_tunnel(t.edge, "app", ["tcp.test", "app.test"])
    t.reload_edge(t.edge, "app.test")
    config = t.write_file("config.yml", "ingress:\n"
                          "  - hostname: tcp.test\n    service: tcp://127.0.0.1:%d\n"
                          "  - hostname: app.test\n    service: http://127.0.0.1:%d\n"
                          "  - service: http_status:404\n" % (t.origin.port, web_port))
    t.start_connector(t.write_token(token), config=config, ha=ha)


class TcpFloodTest(harness.BurrowTestCase):
    def setUp(self):
        super().setUp()
        start_tcp_and_http_routes(self, ["--max-connections-per-client", str(PER_CLIENT)], ha=2)

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

    def test_flood_on_a_tcp_port_starves_neither_http_nor_tcp(self):
        port = open_tcp_route(self, self.edge, "tcp.test")
        self.check_flood(lambda timeout: RawStream(port, timeout, FLOOD_SOURCE),
                         lambda timeout: RawStream(port, timeout))


def open_tcp_route(test, edge, hostname, port=None):
    """`edge route tcp HOSTNAME PORT`; waits until the running edge listens. Returns PORT."""
    port = port or harness.free_port()
    r = test.burrow("edge", "route", "tcp", hostname, str(port), "--state-dir", edge.state_dir)
    test.assertEqual(r.returncode, 0, r.stderr)
    test.assertIn("port %d carries %s" % (port, hostname), r.stderr)
    edge.proc.wait_for(r"tcp route listening addr=127\.0\.0\.1:%d hostname=%s"
                       % (port, hostname.replace(".", "\\.")))
    return port


def refused(port, timeout=5.0):
    """True when a connection to `port` is refused, or accepted and closed with nothing
    said (how the edge ends a stream it cannot carry, or a client over a limit)."""
    try:
        s = socket.create_connection((harness.LOOPBACK, port), timeout=timeout)
    except (ConnectionRefusedError, ConnectionResetError):  # reset: closed while connecting
        return True
    with s:
        try:
            s.sendall(b"echo\nping")
            return s.recv(100) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False


class TcpRouteTest(harness.BurrowTestCase):
    def setUp(self):
        super().setUp()
        # One connector connection: a client on a shard without it is served through another
        # shard (the edge runs a shard per core and the kernel spreads the connections).
        start_tcp_and_http_routes(self, ["--max-connections-per-client", "3", "--send-timeout",
                                         "1s"], ha=1, log_level="debug")

    def edge_cmd(self, *args):
        return self.burrow("edge", "route", *args, "--state-dir", self.edge.state_dir)

    def tcp_rows(self):
        r = self.edge_cmd("list")
        self.assertEqual(r.returncode, 0, r.stderr)
        return [l.split() for l in r.stdout.splitlines() if l.startswith("tcp:")]

    def test_data_both_ways_megabytes_list_and_delete(self):
        port = open_tcp_route(self, self.edge, "tcp.test")
        self.assertEqual(self.tcp_rows(), [["tcp:%d" % port, "tcp.test", "app"]])
        # Several connections at once, each its own stream.
        socks = [RawStream(port, 30) for _ in range(3)]
        for i, s in enumerate(socks):
            s.send(b"echo\nhello %d" % i)
        for i, s in enumerate(socks):
            self.assertEqual(s.recv_exactly(7), b"hello %d" % i)
            s.close()
        # 4 MB up; the client half-closes, the origin answers the SHA-256 of what it read.
        # From other addresses: the three streams above may still hold their slots of the
        # per-client cap (3) for a moment after their close.
        data = hashlib.sha256(b"up").digest() * (4 << 15)
        s = RawStream(port, 60, source="127.0.0.2")
        s.send(b"sink\n" + data)
        s.sock.shutdown(socket.SHUT_WR)
        self.assertEqual(test_access_tcp.recv_all(s.sock).decode(),
                         hashlib.sha256(data).hexdigest())
        s.close()
        # 4 MB echoed back while it is still being sent.
        s = RawStream(port, 60, source="127.0.0.3")
        sender = threading.Thread(target=s.send, args=(b"echo\n" + data,), daemon=True)
        sender.start()
        self.assertEqual(hashlib.sha256(s.recv_exactly(len(data))).hexdigest(),
                         hashlib.sha256(data).hexdigest())
        sender.join(timeout=30)
        s.close()
        # The access log of the edge is not on; its metrics are not asked: the route is.
        r = self.edge_cmd("delete", "tcp:%d" % port)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.edge.proc.wait_for(r"tcp route closed port=%d hostname=tcp\.test" % port)
        harness.poll(lambda: refused(port), 10, what="port %d to close" % port)
        self.assertEqual(self.tcp_rows(), [])
        r = self.edge_cmd("delete", "tcp:%d" % port)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no TCP route on port %d" % port, r.stderr)

    def test_a_client_that_reads_nothing_is_disconnected_after_the_send_timeout(self):
        port = open_tcp_route(self, self.edge, "tcp.test")
        s = RawStream(port, 30)
        s.send(b"source\n")  # the origin sends 100 MB
        time.sleep(3 * harness.TIME_FACTOR)  # --send-timeout 1s, and nothing read
        started, n = time.monotonic(), 0
        try:
            while True:
                d = s.sock.recv(1 << 20)
                if not d:
                    break
                n += len(d)
        except ConnectionResetError:
            pass
        s.close()
        self.assertLess(n, test_access_tcp.SIZE // 2)
        self.assertLess(time.monotonic() - started, 20)

    def test_every_shard_serves_the_port(self):
        port = open_tcp_route(self, self.edge, "tcp.test")
        for batch in range(4):
            socks = []
            for i in range(3):  # the per-client cap
                s = RawStream(port, 10, source="127.0.0.%d" % (batch + 1))
                s.send(b"echo\nshard %d %d" % (batch, i))
                socks.append(s)
            for i, s in enumerate(socks):
                want = b"shard %d %d" % (batch, i)
                self.assertEqual(s.recv_exactly(len(want)), want)
                s.close()
        if os.cpu_count() > 1:
            self.assertIn("request forwarded", self.edge.proc.read())

    def test_a_stream_that_half_closes_gets_an_answer_that_comes_late(self):
        # Clients from 8 addresses: the kernel spreads them over the shards, and those on a
        # shard without the connector are handed to the other over a socket pair. Each
        # half-closes, and the origin answers 0.6 s later: the end of an upload is not a
        # client gone (the edge checks for those every 250 ms), and the answer comes.
        port = open_tcp_route(self, self.edge, "tcp.test")
        socks = [RawStream(port, 30, source="127.0.1.%d" % (i + 1)) for i in range(8)]
        for s in socks:
            s.send(b"late\nquestion")
            s.sock.shutdown(socket.SHUT_WR)
        for i, s in enumerate(socks):
            self.assertEqual(test_access_tcp.recv_all(s.sock), b"late answer", "client %d" % i)
            s.close()
        if os.cpu_count() > 1:
            self.assertIn("request forwarded", self.edge.proc.read())

    def test_refusals_name_what_and_leave_nothing(self):
        port = harness.free_port()
        r = self.edge_cmd("tcp", "nothere.test", str(port))
        self.assertEqual(r.returncode, 1)
        self.assertIn("hostname nothere.test is not routed to a tunnel", r.stderr)
        r = self.edge_cmd("tcp", "*.test", str(port))
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a wildcard", r.stderr)
        for bad in ("0", "70000", "22x", "-1"):
            r = self.edge_cmd("tcp", "tcp.test", bad)
            self.assertEqual(r.returncode, 1, bad)
            self.assertIn("'%s' is not a port (1 to 65535)" % bad, r.stderr)
        # A port another program holds, and the edge's own http port.
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        self.addCleanup(holder.close)
        held = holder.getsockname()[1]
        for p in (held, self.edge.http_port):
            r = self.edge_cmd("tcp", "tcp.test", str(p))
            self.assertEqual(r.returncode, 1)
            self.assertIn("port %d: cannot listen on 127.0.0.1:%d (the edge's listen address)"
                          % (p, p), r.stderr)
            self.assertIn("no route was added", r.stderr)
        self.assertEqual(self.tcp_rows(), [])
        # A port already carried to another hostname; the same pair again is no change.
        port = open_tcp_route(self, self.edge, "tcp.test", port)
        r = self.edge_cmd("tcp", "app.test", str(port))
        self.assertEqual(r.returncode, 1)
        self.assertIn("port %d is already carried to tcp.test" % port, r.stderr)
        r = self.edge_cmd("tcp", "tcp.test", str(port))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.tcp_rows(), [["tcp:%d" % port, "tcp.test", "app"]])
        # A port for a route the connector serves over HTTP: the stream is refused and the
        # client's connection closed; the edge says why.
        web = open_tcp_route(self, self.edge, "app.test")
        self.assertTrue(refused(web))
        self.edge.proc.wait_for(r"tcp route stream refused hostname=app\.test[^\n]*status=")
        # Deleting the hostname's route deletes its TCP port too.
        r = self.edge_cmd("delete", "app.test")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.edge.proc.wait_for(r"tcp route closed port=%d hostname=app\.test" % web)
        self.assertEqual(self.tcp_rows(), [["tcp:%d" % port, "tcp.test", "app"]])

    def test_per_client_cap_refuses_the_extra_connection_and_serves_others(self):
        port = open_tcp_route(self, self.edge, "tcp.test")
        held = [RawStream(port, 10) for _ in range(3)]  # the cap: 3 per client address
        for i, s in enumerate(held):
            s.send(b"echo\n%d" % i)
            self.assertEqual(s.recv_exactly(1), b"%d" % i)
        self.assertTrue(refused(port))
        # Another client address is served meanwhile.
        other = RawStream(port, 10, source="127.0.0.2")
        other.send(b"echo\nother")
        self.assertEqual(other.recv_exactly(5), b"other")
        other.close()
        # A connection that ends gives its place back.
        held.pop().close()
        def served():
            try:
                s = RawStream(port, 5)
            except OSError:
                return False
            try:
                s.send(b"echo\nback")
                return s.recv_exactly(4) == b"back"
            except OSError:
                return False
            finally:
                s.close()
        harness.poll(served, 10, what="a place under the cap")
        for s in held:
            s.close()


class TcpRouteStartTest(harness.BurrowTestCase):
    def test_a_port_taken_at_start_is_logged_and_opened_once_free(self):
        # Routed before any edge ran on the directory: nothing to check the port against yet.
        state = self.path("edge-state")
        for args in (["tunnel", "create", "app", "--endpoint", "127.0.0.1:7844"],
                     ["route", "dns", "app", "tcp.test"]):
            self.burrow("edge", *args, "--state-dir", state, check=True)
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        r = self.burrow("edge", "route", "tcp", "tcp.test", str(port), "--state-dir", state)
        self.assertEqual(r.returncode, 0, r.stderr)
        try:
            edge = self.start_edge(state_dir=state)
            edge.proc.wait_for(r"tcp route cannot listen addr=127\.0\.0\.1:%d hostname=tcp\.test"
                               r"[^\n]*error=Address already in use" % port)
            # The rest of the edge is up: its http listener answers.
            self.assertEqual(harness.http_request(edge.http_port, "/", host="x.test").status, 404)
        finally:
            holder.close()
        edge.proc.wait_for(r"tcp route listening addr=127\.0\.0\.1:%d hostname=tcp\.test" % port)
        # Now that an edge ran here, its address is known: a port in use is refused at once.
        r = self.burrow("edge", "route", "tcp", "tcp.test", str(edge.http_port), "--state-dir",
                        state)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot listen on 127.0.0.1:%d" % edge.http_port, r.stderr)


if __name__ == "__main__":
    harness.main()
