#!/usr/bin/env python3
"""A tiny DNS server for tests: answers every A question with ANSWER, over UDP and TCP.

Usage: dns_server.py ADDR PORT ANSWER   (prints "ready" on stdout once both sockets listen)
"""

import socket
import struct
import sys
import threading


def answer(query, ip):
    if len(query) < 12:
        return None
    qid, _flags, qdcount = struct.unpack("!HHH", query[:6])
    if qdcount != 1:
        return None
    end = 12
    while end < len(query) and query[end] != 0:
        end += query[end] + 1
    question = query[12:end + 5]
    qtype = struct.unpack("!H", question[-4:-2])[0] if len(question) >= 5 else 0
    ancount = 1 if qtype == 1 else 0
    head = struct.pack("!HHHHHH", qid, 0x8180, 1, ancount, 0, 0)
    body = question
    if ancount:
        body += b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(ip)
    return head + body


def serve_udp(sock, ip):
    while True:
        data, peer = sock.recvfrom(4096)
        reply = answer(data, ip)
        if reply:
            sock.sendto(reply, peer)


def serve_tcp(sock, ip):
    while True:
        conn, _ = sock.accept()
        with conn:
            try:
                n = struct.unpack("!H", conn.recv(2))[0]
                reply = answer(conn.recv(n), ip)
                if reply:
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
            except (OSError, struct.error):
                pass


def main():
    addr, port, ip = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((addr, port))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((addr, port))
    tcp.listen(16)
    threading.Thread(target=serve_udp, args=(udp, ip), daemon=True).start()
    print("ready", flush=True)
    serve_tcp(tcp, ip)


if __name__ == "__main__":
    main()
