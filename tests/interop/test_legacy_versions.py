"""API versions Kafka 3.x served and Kafka 4 dropped (KIP-896), which older clients still
send: ListOffsets v0, CreateTopics v0-v1, DeleteTopics v0, DescribeConfigs v0. Hand-encoded
requests over a raw socket, answers decoded field by field."""

from __future__ import annotations

import socket
import struct

from confluent_kafka import Producer

from strom_kafka import unique_topic


def s16(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">h", len(b)) + b


class Conn:
    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.corr = 0

    def call(self, api_key: int, version: int, body: bytes) -> "Buf":
        self.corr += 1
        hdr = struct.pack(">hhi", api_key, version, self.corr) + s16("legacy-test")
        frame = hdr + body
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", self._exactly(4))[0]
        b = Buf(self._exactly(size))
        assert b.i32() == self.corr, "correlation id"
        return b

    def _exactly(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            c = self.sock.recv(n - len(out))
            assert c, "broker closed the connection"
            out += c
        return out


class Buf:
    def __init__(self, b: bytes):
        self.b, self.p = b, 0

    def _u(self, fmt: str):
        (v,) = struct.unpack_from(fmt, self.b, self.p)
        self.p += struct.calcsize(fmt)
        return v

    def i8(self):
        return self._u(">b")

    def i16(self):
        return self._u(">h")

    def i32(self):
        return self._u(">i")

    def i64(self):
        return self._u(">q")

    def s(self):
        n = self.i16()
        if n < 0:
            return None
        v = self.b[self.p:self.p + n].decode()
        self.p += n
        return v

    def end(self):
        assert self.p == len(self.b), f"{len(self.b) - self.p} trailing bytes in the response"


def create_v(conn, version, name, partitions, configs=(), validate_only=False):
    body = struct.pack(">i", 1) + s16(name) + struct.pack(">ihi", partitions, 1, 0)
    body += struct.pack(">i", len(configs)) + b"".join(s16(k) + s16(v) for k, v in configs)
    body += struct.pack(">i", 10_000)
    if version >= 1:
        body += struct.pack(">b", 1 if validate_only else 0)
    r = conn.call(19, version, body)
    assert r.i32() == 1
    assert r.s() == name
    code = r.i16()
    msg = r.s() if version >= 1 else None
    r.end()
    return code, msg


def test_create_describe_list_offsets_delete_at_old_versions(broker):
    c = Conn(broker.port)
    t = unique_topic("legacy")
    assert create_v(c, 0, t, 2, [("retention.ms", "123456")]) == (0, None)
    assert create_v(c, 0, t, 2)[0] == 36  # TOPIC_ALREADY_EXISTS
    code, msg = create_v(c, 1, "bad name!", 1)
    assert code == 17 and msg  # INVALID_TOPIC_EXCEPTION with a message
    assert create_v(c, 1, unique_topic("legacy-v"), 1, validate_only=True) == (0, None)

    p = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(7):
        p.produce(t, value=b"x%d" % i, partition=1)
    assert p.flush(20) == 0

    # ListOffsets v0: latest (-1) and earliest (-2) as one-element "old style" offset lists.
    body = struct.pack(">i", -1) + struct.pack(">i", 1) + s16(t) + struct.pack(">i", 2)
    body += struct.pack(">iqi", 1, -1, 1) + struct.pack(">iqi", 0, -2, 1)
    r = c.call(2, 0, body)
    assert r.i32() == 1 and r.s() == t and r.i32() == 2
    got = {}
    for _ in range(2):
        part, err, n = r.i32(), r.i16(), r.i32()
        assert err == 0
        got[part] = [r.i64() for _ in range(n)]
    r.end()
    assert got == {1: [7], 0: [0]}

    # DescribeConfigs v0: is_default false for the override, true for an untouched default.
    body = struct.pack(">i", 1) + struct.pack(">b", 2) + s16(t) + struct.pack(">i", 2) + s16("retention.ms") + s16("segment.bytes")
    r = c.call(32, 0, body)
    assert r.i32() == 0  # throttle
    assert r.i32() == 1
    assert r.i16() == 0 and r.s() is None and r.i8() == 2 and r.s() == t
    entries = {}
    for _ in range(r.i32()):
        name, value, read_only, is_default, sensitive = r.s(), r.s(), r.i8(), r.i8(), r.i8()
        entries[name] = (value, read_only, is_default, sensitive)
    r.end()
    assert entries == {"retention.ms": ("123456", 0, 0, 0), "segment.bytes": ("1073741824", 0, 1, 0)}

    # DeleteTopics v0, then the topic is gone (UNKNOWN_TOPIC_OR_PARTITION on a second delete).
    for expect in (0, 3):
        r = c.call(20, 0, struct.pack(">i", 1) + s16(t) + struct.pack(">i", 10_000))
        assert r.i32() == 1 and r.s() == t and r.i16() == expect
        r.end()


def test_truncated_legacy_request_closes_the_connection(broker):
    c = Conn(broker.port)
    hdr = struct.pack(">hhi", 19, 0, 1) + s16("x")
    frame = hdr + struct.pack(">i", 1_000_000)  # a topic count the frame cannot hold
    c.sock.sendall(struct.pack(">i", len(frame)) + frame)
    assert c.sock.recv(10) == b"", "the broker answered a malformed request instead of closing"
    # And it still serves others.
    assert create_v(Conn(broker.port), 0, unique_topic("after"), 1) == (0, None)


def offset_fetch_v0(c, group, topic, partitions):
    body = s16(group) + struct.pack(">i", 1) + s16(topic) + struct.pack(">i", len(partitions))
    body += b"".join(struct.pack(">i", p) for p in partitions)
    r = c.call(9, 0, body)
    assert r.i32() == 1 and r.s() == topic
    out = {}
    for _ in range(r.i32()):
        p, off, meta, err = r.i32(), r.i64(), r.s(), r.i16()
        out[p] = (off, meta, err)
    r.end()
    return out


def test_offset_commit_v0_v1_and_offset_fetch_v0(broker):
    from confluent_kafka import Consumer, TopicPartition

    c = Conn(broker.port)
    t = unique_topic("legacy-off")
    assert create_v(c, 0, t, 2) == (0, None)
    group = unique_topic("legacy-g")
    # OffsetCommit v0: group, [topic, [partition, offset, metadata]].
    body = s16(group) + struct.pack(">i", 1) + s16(t) + struct.pack(">i", 2)
    body += struct.pack(">iq", 0, 42) + s16("m0") + struct.pack(">iq", 5, 1) + s16("x")
    r = c.call(8, 0, body)
    assert r.i32() == 1 and r.s() == t and r.i32() == 2
    assert (r.i32(), r.i16()) == (0, 0)
    assert (r.i32(), r.i16()) == (5, 3)  # UNKNOWN_TOPIC_OR_PARTITION
    r.end()
    assert offset_fetch_v0(c, group, t, [0, 1]) == {0: (42, "m0", 0), 1: (-1, "", 0)}
    # OffsetCommit v1: adds generation and member id (outside a group: -1 and "") and a
    # per-partition timestamp.
    body = s16(group) + struct.pack(">i", -1) + s16("") + struct.pack(">i", 1) + s16(t)
    body += struct.pack(">i", 1) + struct.pack(">iqq", 1, 7, -1) + s16("m1")
    r = c.call(8, 1, body)
    assert r.i32() == 1 and r.s() == t and r.i32() == 1 and (r.i32(), r.i16()) == (1, 0)
    r.end()
    assert offset_fetch_v0(c, group, t, [0, 1]) == {0: (42, "m0", 0), 1: (7, "m1", 0)}
    # A modern client sees the same offsets.
    k = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        got = k.committed([TopicPartition(t, 0), TopicPartition(t, 1)], timeout=10)
        assert [x.offset for x in got] == [42, 7]
    finally:
        k.close()
    import kafka

    kc = kafka.KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group)
    try:
        tp = kafka.TopicPartition(t, 1)
        meta = kc.committed(tp, metadata=True)
        assert (meta.offset, meta.metadata) == (7, "m1")
    finally:
        kc.close()
