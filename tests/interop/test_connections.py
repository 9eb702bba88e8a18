"""Connection costs and shutdown: 1,000 idle connections stay cheap, and a broker with open
connections still shuts down cleanly and fast."""

from __future__ import annotations

import socket
import struct
import time

IDLE_CONNECTIONS = 1000
IDLE_RSS_GROWTH_MIB_MAX = 100


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def api_versions_frame(correlation_id: int) -> bytes:
    """ApiVersions v0: header v1 (api key, version, correlation id, client id) and no body."""
    client = b"conn-test"
    body = struct.pack(">hhih", 18, 0, correlation_id, len(client)) + client
    return struct.pack(">i", len(body)) + body


def read_frame(s: socket.socket) -> bytes:
    def exactly(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            assert chunk, "connection closed"
            buf += chunk
        return buf

    (size,) = struct.unpack(">i", exactly(4))
    return exactly(size)


def test_thousand_idle_connections_cost_little(broker):
    pid = broker.proc.pid
    before = rss_kib(pid)
    conns = []
    try:
        for i in range(IDLE_CONNECTIONS):
            s = socket.create_connection(("127.0.0.1", broker.port), timeout=10)
            conns.append(s)
        # Every connection is live: each answers an ApiVersions request.
        for i, s in enumerate(conns):
            s.sendall(api_versions_frame(i))
        for i, s in enumerate(conns):
            resp = read_frame(s)
            assert struct.unpack(">i", resp[:4])[0] == i
        time.sleep(0.5)
        grown_mib = (rss_kib(pid) - before) / 1024
        print(f"RSS growth for {IDLE_CONNECTIONS} idle connections: {grown_mib:.1f} MiB")
        assert grown_mib < IDLE_RSS_GROWTH_MIB_MAX, f"{IDLE_CONNECTIONS} idle connections cost {grown_mib:.1f} MiB"
        # The broker still serves a new client while they are open.
        with socket.create_connection(("127.0.0.1", broker.port), timeout=10) as s:
            s.sendall(api_versions_frame(7))
            assert struct.unpack(">i", read_frame(s)[:4])[0] == 7
    finally:
        for s in conns:
            s.close()


def test_sigterm_with_open_connections_is_clean_and_fast(broker):
    conns = [socket.create_connection(("127.0.0.1", broker.port), timeout=10) for _ in range(50)]
    try:
        start = time.monotonic()
        code = broker.stop()
        took = time.monotonic() - start
        assert code == 0, f"exit code {code} on SIGTERM"
        assert took < 5, f"clean shutdown took {took:.1f} s"
        assert (broker.data_dir / ".kafka_cleanshutdown").exists(), "no clean-shutdown marker"
        assert "shut down cleanly" in broker.stderr_text()
    finally:
        for s in conns:
            s.close()
