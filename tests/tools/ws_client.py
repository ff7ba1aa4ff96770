#!/usr/bin/env python3
"""A WebSocket (RFC 6455) echo-checking client, Python standard library only.

Connects to ws://HOST:PORT/PATH (plain TCP only), optionally with another Host header,
checks the handshake (101 and Sec-WebSocket-Accept), sends one message per --sizes entry
(masked, as a client must; text messages for --text, else binary), and checks that each
echo comes back identical and in order. Then closes cleanly (close frame, echo expected).
Exit status 0 when every check held, 1 otherwise (the reason goes to stderr).

  ws_client.py ws://127.0.0.1:8080/ws --host app.test --sizes 1,125,126,65536 --count 2
"""

import argparse
import base64
import hashlib
import os
import socket
import struct
import sys
import urllib.parse

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WsError(Exception):
    pass


def _unmask(payload, mask):
    n = len(payload)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")


def _frame(opcode, payload):
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + _unmask(payload, mask)


class WsClient:
    """One client connection. Raises WsError (or OSError) on any protocol failure."""

    def __init__(self, url, host=None, timeout=10.0):
        u = urllib.parse.urlsplit(url)
        if u.scheme != "ws":
            raise WsError("only ws:// URLs are supported, got %r" % url)
        port = u.port or 80
        path = (u.path or "/") + ("?" + u.query if u.query else "")
        self.sock = socket.create_connection((u.hostname, port), timeout=timeout)
        self.buf = b""
        key = base64.b64encode(os.urandom(16)).decode()
        host_header = host or u.netloc
        request = (
            "GET %s HTTP/1.1\r\n"
            "Host: %s\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            "\r\n" % (path, host_header, key)
        )
        self.sock.sendall(request.encode())
        head = self._read_head()
        lines = head.decode("iso-8859-1").split("\r\n")
        status = lines[0].split(" ", 2)
        if len(status) < 2 or status[1] != "101":
            raise WsError("handshake answered %r, expected 101" % lines[0])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        want = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        if headers.get("sec-websocket-accept") != want:
            raise WsError("bad Sec-WebSocket-Accept %r, expected %r"
                          % (headers.get("sec-websocket-accept"), want))
        if headers.get("upgrade", "").lower() != "websocket":
            raise WsError("handshake lacks Upgrade: websocket (got %r)" % headers.get("upgrade"))

    def _read_head(self):
        while b"\r\n\r\n" not in self.buf:
            piece = self.sock.recv(65536)
            if not piece:
                raise WsError("connection closed during handshake after %r" % self.buf[:200])
            self.buf += piece
            if len(self.buf) > 65536:
                raise WsError("handshake response head too long")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        return head

    def _read_exact(self, n):
        while len(self.buf) < n:
            piece = self.sock.recv(max(65536, n - len(self.buf)))
            if not piece:
                raise WsError("connection closed inside a frame")
            self.buf += piece
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_frame(self):
        b0, b1 = self._read_exact(2)
        if b1 & 0x80:
            raise WsError("server frame is masked")
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read_exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read_exact(8))
        return bool(b0 & 0x80), b0 & 0x0F, self._read_exact(length)

    def read_message(self):
        """Returns (opcode, payload) of the next data message; answers pings."""
        op, parts = None, []
        while True:
            fin, opcode, payload = self.read_frame()
            if opcode == 0x9:
                self.sock.sendall(_frame(0xA, payload))
                continue
            if opcode == 0xA:
                continue
            if opcode == 0x8:
                raise WsError("server closed the connection: %r" % payload)
            if opcode in (0x1, 0x2):
                op, parts = opcode, [payload]
            elif opcode == 0x0 and op is not None:
                parts.append(payload)
            else:
                raise WsError("unexpected opcode %d" % opcode)
            if fin:
                return op, b"".join(parts)

    def send(self, opcode, payload):
        self.sock.sendall(_frame(opcode, payload))

    def close(self):
        """Sends close 1000 and waits for the server's close frame."""
        self.sock.sendall(_frame(0x8, struct.pack("!H", 1000)))
        while True:
            _, opcode, payload = self.read_frame()
            if opcode == 0x8:
                break
        self.sock.close()


def message(i, size, text):
    """Deterministic, distinct payload number i of `size` bytes."""
    seed = hashlib.sha256(b"ws-%d-%d" % (i, size)).digest()
    if text:
        alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789"
        data = bytes(alphabet[b % len(alphabet)] for b in seed) * (size // 32 + 1)
    else:
        data = seed * (size // 32 + 1)
    return data[:size]


def run(url, host, sizes, count, text, timeout):
    client = WsClient(url, host=host, timeout=timeout)
    opcode = 0x1 if text else 0x2
    i = 0
    for _ in range(count):
        for size in sizes:
            payload = message(i, size, text)
            client.send(opcode, payload)
            got_op, got = client.read_message()
            if got_op != opcode:
                raise WsError("message %d: echo opcode %d, sent %d" % (i, got_op, opcode))
            if got != payload:
                raise WsError("message %d (%d bytes): echo differs (%d bytes back)"
                              % (i, size, len(got)))
            i += 1
    client.close()
    return i


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("url")
    ap.add_argument("--host", help="Host header to send (default: from the URL)")
    ap.add_argument("--sizes", default="1,125,126,65535,65536,1000000",
                    help="comma-separated message sizes in bytes")
    ap.add_argument("--count", type=int, default=1, help="rounds over --sizes")
    ap.add_argument("--text", action="store_true", help="send text instead of binary")
    ap.add_argument("--timeout", type=float, default=10.0, help="per socket operation")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    try:
        n = run(args.url, args.host, sizes, args.count, args.text, args.timeout)
    except (WsError, OSError) as e:
        sys.stderr.write("ws_client: FAIL: %s\n" % e)
        return 1
    sys.stdout.write("ws_client: OK %d messages echoed\n" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
