#!/usr/bin/env python3
"""The connector dials out and holds no listening socket: every socket inode in
/proc/PID/fd is compared with the LISTEN rows (state 0A) of /proc/net/tcp and tcp6."""

import harness


class NoListenTest(harness.BurrowTestCase):
    def listening_sockets_of(self, pid):
        listening = harness.listening_tcp_inodes()
        return sorted(listening[i] for i in harness.socket_inodes(pid) if i in listening)

    def test_connector_has_no_listening_socket(self):
        _, origin_port = self.start_origin("A")
        edge, conn = self.tunnel_to_origin(
            ["app.test"], url="http://127.0.0.1:%d" % origin_port, ha=4)
        # Traffic first, so that origin pools and streams exist while we look.
        for _ in range(5):
            self.assertBody(self.get(edge, "/hello", "app.test"), 200,
                            b"hello from A path=/hello\n")
        self.assertEqual(self.listening_sockets_of(conn.pid), [],
                         "the connector listens on TCP")
        self.assertTrue(harness.socket_inodes(conn.pid),
                        "the connector has no socket at all: is this the right process?")
        # The same check does see the edge's listeners (so it can fail).
        self.assertGreaterEqual(len(self.listening_sockets_of(edge.proc.pid)), 2)


if __name__ == "__main__":
    harness.main()
