#!/usr/bin/env python3
"""A small, real HTTP/1.1 origin for burrow's integration tests.

Python standard library only. Threaded, keep-alive. Binds 127.0.0.1:0 (or --address, --port) and
prints the bound port alone on the first line of stdout, then serves until killed. With
--unix PATH it serves that Unix socket instead and prints PATH.

Endpoints (any other path answers 404 with a short text body):
  /hello, /.../hello  text "hello from NAME path=PATH"; X-Echo-Host echoes the Host header
  /headers            JSON object of the request headers (lower-case names)
  /bytes/N            N deterministic pseudo-random bytes (see pattern_chunks), streamed
                      in chunks with Content-Length set
  /chunked/N          the same N bytes with Transfer-Encoding: chunked, no Content-Length
  /upload             POST/PUT: reads a Content-Length or chunked body and answers JSON
                      {"length": N, "sha256": "..."}; Expect: 100-continue is honoured
  /sse                text/event-stream: 3 events 300 ms apart, each flushed as it is sent;
                      each event's data is "n=I t=UNIX_TIME_SENT"
  /slow?ms=N          answers "slept N" after N milliseconds
  /status/NNN         answers status NNN
  /ws                 WebSocket echo (RFC 6455): text and binary echoed, ping answered,
                      close echoed

Every response carries X-Origin: NAME (--name), so a test can tell origins apart. With
--log, each request is logged to stderr as "origin request method=M path=P" when its head
has been read (before any body or delay), so a test can wait for a request to be in flight.
"""

import argparse
import base64
import hashlib
import http.server
import json
import socketserver
import struct
import sys
import time
import urllib.parse

BLOCK = 64 * 1024

# /raw/NAME: exact bytes, then the connection closes.
RAW_RESPONSES = {
    # Two lengths: a proxy that picked either one could be made to read a second response.
    "conflicting-length": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    # HTTP/1.0, no length: the body is everything until the close.
    "until-close": b"HTTP/1.0 200 OK\r\nX-Framing: close\r\n\r\n" + b"0123456789" * 1000,
    # Chunked with extensions and a trailer, bare LFs after the size lines.
    "chunked-extensions": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                          b"5;name=value\nhello\r\n6\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
    "folded-header": b"HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 0\r\n\r\n",
}
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def pattern_block(index):
    """Block `index` (64 KiB) of the deterministic byte stream served by /bytes/N."""
    return hashlib.shake_256(b"burrow-test-origin-%d" % index).digest(BLOCK)


def pattern_chunks(n):
    """Yields the first n bytes of the deterministic stream, block by block."""
    index = 0
    while n > 0:
        block = pattern_block(index)
        if n < len(block):
            block = block[:n]
        yield block
        n -= len(block)
        index += 1


def pattern_sha256(n):
    """Hex SHA-256 of the first n bytes of the stream (what a client should receive)."""
    h = hashlib.sha256()
    for chunk in pattern_chunks(n):
        h.update(chunk)
    return h.hexdigest()


def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server_version = "burrow-test-origin"

    def version_string(self):
        return self.server_version

    # ---- plumbing ----

    def log_message(self, fmt, *args):  # noqa: D102 - silence the default access log
        pass

    def note_request(self):
        if self.server.log_requests:
            peer = self.client_address[0] if isinstance(self.client_address, tuple) else "unix"
            line = "origin request method=%s path=%s peer=%s\n" % (self.command, self.path, peer)
            sys.stderr.write(line)
            sys.stderr.flush()

    def send_common(self, status, ctype=None, length=None):
        self.send_response(status)
        self.send_header("X-Origin", self.server.name)
        if ctype is not None:
            self.send_header("Content-Type", ctype)
        if length is not None:
            self.send_header("Content-Length", str(length))

    def send_text(self, status, text, extra=None):
        body = text.encode()
        self.send_common(status, "text/plain; charset=utf-8", len(body))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status, obj):
        body = (json.dumps(obj, sort_keys=True) + "\n").encode()
        self.send_common(status, "application/json", len(body))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def read_body(self):
        """Yields the request body in pieces (Content-Length or chunked)."""
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("eof in chunk size")
                size = int(line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while True:  # trailers up to the empty line
                        t = self.rfile.readline(65537)
                        if t in (b"\r\n", b"\n", b""):
                            return
                while size > 0:
                    piece = self.rfile.read(min(size, BLOCK))
                    if not piece:
                        raise ConnectionError("eof in chunk")
                    size -= len(piece)
                    yield piece
                self.rfile.readline(3)  # CRLF after the chunk data
        else:
            remaining = int(self.headers.get("Content-Length", "0") or "0")
            while remaining > 0:
                piece = self.rfile.read(min(remaining, BLOCK))
                if not piece:
                    raise ConnectionError("eof in body")
                remaining -= len(piece)
                yield piece

    # ---- dispatch ----

    def do_GET(self):
        self.note_request()
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        query = urllib.parse.parse_qs(url.query)
        if path == "/hello" or path.endswith("/hello"):
            host = self.headers.get("Host", "")
            self.send_text(200, "hello from %s path=%s\n" % (self.server.name, path),
                           {"X-Echo-Host": host})
        elif path == "/headers":
            headers = {}
            for k, v in self.headers.items():
                k = k.lower()
                headers[k] = headers[k] + ", " + v if k in headers else v
            self.send_json(200, headers)
        elif path.startswith("/bytes/"):
            self.serve_bytes(int(path[len("/bytes/"):]), chunked=False)
        elif path.startswith("/chunked/"):
            self.serve_bytes(int(path[len("/chunked/"):]), chunked=True)
        elif path == "/sse":
            self.serve_sse()
        elif path == "/slow":
            ms = int(query.get("ms", ["1000"])[0])
            time.sleep(ms / 1000.0)
            self.send_text(200, "slept %d\n" % ms)
        elif path.startswith("/status/"):
            code = int(path[len("/status/"):])
            if code in (204, 304) or code < 200:
                self.send_common(code)
                self.end_headers()
            else:
                self.send_text(code, "status %d\n" % code)
        elif path == "/ws":
            self.serve_websocket()
        elif path.startswith("/raw/") and path[len("/raw/"):] in RAW_RESPONSES:
            # Hand-written answers a well-behaved server library would never send.
            self.wfile.write(RAW_RESPONSES[path[len("/raw/"):]])
            self.wfile.flush()
            self.close_connection = True
        elif path == "/upload":
            self.send_text(405, "POST or PUT a body to /upload\n")
        else:
            self.send_text(404, "no such endpoint on %s: %s\n" % (self.server.name, path))

    def do_HEAD(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path.startswith("/bytes/"):
            self.note_request()
            self.send_common(200, "application/octet-stream", int(url.path[len("/bytes/"):]))
            self.end_headers()
        else:
            self.do_GET()

    def do_POST(self):
        self.note_request()
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/upload":
            for _ in self.read_body():
                pass
            self.send_text(404, "no such endpoint on %s: %s\n" % (self.server.name, url.path))
            return
        h = hashlib.sha256()
        length = 0
        for piece in self.read_body():
            h.update(piece)
            length += len(piece)
        self.send_json(200, {"length": length, "sha256": h.hexdigest()})

    do_PUT = do_POST

    # ---- endpoints ----

    def serve_bytes(self, n, chunked):
        self.send_common(200, "application/octet-stream", None if chunked else n)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.command == "HEAD":
            return
        for chunk in pattern_chunks(n):
            if chunked:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            else:
                self.wfile.write(chunk)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def serve_sse(self):
        self.send_common(200, "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(3):
            if i:
                time.sleep(0.3)
            event = "id: %d\ndata: n=%d t=%.6f\n\n" % (i + 1, i + 1, time.time())
            self.write_chunk(event.encode())
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def serve_websocket(self):
        key = self.headers.get("Sec-WebSocket-Key")
        upgrade = self.headers.get("Upgrade", "")
        if key is None or upgrade.lower() != "websocket":
            self.send_text(400, "not a websocket handshake\n")
            return
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", ws_accept(key))
        self.send_header("X-Origin", self.server.name)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        try:
            ws_echo_loop(self.rfile, self.wfile)
        except (ConnectionError, OSError, ValueError):
            pass


def read_exact(f, n):
    data = b""
    while len(data) < n:
        piece = f.read(n - len(data))
        if not piece:
            raise ConnectionError("eof in websocket frame")
        data += piece
    return data


def ws_read_frame(f):
    """Returns (fin, opcode, payload) of one frame, unmasking if masked."""
    b0, b1 = read_exact(f, 2)
    fin = bool(b0 & 0x80)
    opcode = b0 & 0x0F
    masked = bool(b1 & 0x80)
    length = b1 & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", read_exact(f, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", read_exact(f, 8))
    mask = read_exact(f, 4) if masked else None
    payload = read_exact(f, length) if length else b""
    if mask:
        payload = ws_unmask(payload, mask)
    return fin, opcode, payload


def ws_unmask(payload, mask):
    n = len(payload)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")


def ws_frame(opcode, payload, mask=None):
    head = bytes([0x80 | opcode])
    mbit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if mask:
        return head + mask + ws_unmask(payload, mask)
    return head + payload


def ws_echo_loop(rfile, wfile):
    message_op = None
    parts = []
    while True:
        fin, opcode, payload = ws_read_frame(rfile)
        if opcode == 0x8:  # close: echo the status code back, then stop
            wfile.write(ws_frame(0x8, payload[:2]))
            wfile.flush()
            return
        if opcode == 0x9:  # ping
            wfile.write(ws_frame(0xA, payload))
            wfile.flush()
            continue
        if opcode == 0xA:  # pong
            continue
        if opcode in (0x1, 0x2):
            message_op = opcode
            parts = [payload]
        elif opcode == 0x0 and message_op is not None:
            parts.append(payload)
        else:
            raise ValueError("unexpected websocket opcode %d" % opcode)
        if fin:
            wfile.write(ws_frame(message_op, b"".join(parts)))
            wfile.flush()
            message_op, parts = None, []


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # Peers that go away mid-request (resets, closed pipes) are routine in these tests.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class UnixHandler(Handler):
    disable_nagle_algorithm = False  # TCP_NODELAY is not a Unix socket option


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        # BaseHTTPRequestHandler wants a (host, port) peer; a Unix socket's has none.
        sock, _ = super().get_request()
        return sock, ("unix", 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--address", default="127.0.0.1", help="listen on this IPv4 address")
    ap.add_argument("--name", default="origin", help="reported in X-Origin and /hello")
    ap.add_argument("--log", action="store_true", help="log each request head to stderr")
    ap.add_argument("--unix", help="listen on this Unix socket instead (prints its path)")
    args = ap.parse_args()
    if args.unix:
        server = UnixServer(args.unix, UnixHandler)
        where = args.unix
    else:
        server = Server((args.address, args.port), Handler)
        where = server.server_address[1]
    server.name = args.name
    server.log_requests = args.log
    sys.stdout.write("%s\n" % where)
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
