"""Just enough of the Kafka wire protocol, hand-encoded with struct, for the hostile-input
tests: request headers, ApiVersions, Metadata, Produce v3 with a RecordBatch v2."""

from __future__ import annotations

import socket
import struct
import time

API_PRODUCE = 0
API_METADATA = 3
API_API_VERSIONS = 18

ERR_NONE = 0
ERR_OFFSET_OUT_OF_RANGE = 1
ERR_CORRUPT_MESSAGE = 2
ERR_UNKNOWN_TOPIC_OR_PARTITION = 3
ERR_UNSUPPORTED_VERSION = 35


# -- primitives ----------------------------------------------------------------------------------
def i8(v):
    return struct.pack(">b", v)


def i16(v):
    return struct.pack(">h", v)


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def string(s: str | None) -> bytes:
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def uvarint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint(v: int) -> bytes:
    return uvarint((v << 1) ^ (v >> 63))


def compact_string(s: str | None) -> bytes:
    if s is None:
        return uvarint(0)
    b = s.encode()
    return uvarint(len(b) + 1) + b


def frame(payload: bytes) -> bytes:
    return i32(len(payload)) + payload


def request(api_key: int, version: int, corr: int, body: bytes = b"", client_id: str | None = "strom-wire",
            flexible: bool = False) -> bytes:
    """A framed request with header v1 (or v2 when flexible: adds empty tagged fields)."""
    hdr = i16(api_key) + i16(version) + i32(corr) + string(client_id)
    if flexible:
        hdr += uvarint(0)
    return frame(hdr + body)


def api_versions_request(corr: int, version: int = 0) -> bytes:
    if version >= 3:
        body = compact_string("strom-interop") + compact_string("1.0") + uvarint(0)
        return request(API_API_VERSIONS, version, corr, body, flexible=True)
    return request(API_API_VERSIONS, version, corr)


def metadata_request(corr: int, version: int, topics: list[str] | None = None) -> bytes:
    """Metadata v1..v8 (non-flexible) or v9..v12 (flexible); topics None = all."""
    if version >= 9:
        if topics is None:
            t = uvarint(0)
        else:
            t = uvarint(len(topics) + 1) + b"".join(
                (b"\x00" * 16 if version >= 10 else b"") + compact_string(n) + uvarint(0) for n in topics
            )
        body = t + i8(1)  # allow_auto_topic_creation
        if version <= 10:
            body += i8(0)  # include_cluster_authorized_operations
        body += i8(0) + uvarint(0)  # include_topic_authorized_operations, tags
        return request(API_METADATA, version, corr, body, flexible=True)
    if topics is None:
        t = i32(-1)
    else:
        t = i32(len(topics)) + b"".join(string(n) for n in topics)
    body = t
    if version >= 4:
        body += i8(0)  # allow_auto_topic_creation
    if version >= 8:
        body += i8(0) + i8(0)
    return request(API_METADATA, version, corr, body)


# -- CRC-32C and RecordBatch v2 ---------------------------------------------------------------
def _crc32c_table():
    t = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_CRC_T = _crc32c_table()


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_T[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def record_batch(values: list[bytes], base_ts: int = 1_700_000_000_000, attributes: int = 0,
                 corrupt_crc: bool = False, records_count: int | None = None,
                 compress=None, raw_records: bytes | None = None) -> bytes:
    """A magic-v2 batch, base offset 0. Records are uncompressed unless `compress` (a function
    bytes -> bytes, with the codec set in `attributes`) is given; `raw_records` replaces the
    encoded records section entirely (for garbage)."""
    recs = b""
    for i, v in enumerate(values):
        body = i8(0) + varint(i) + varint(i) + varint(-1) + varint(len(v)) + v + uvarint(0)
        recs += varint(len(body)) + body
    if compress is not None:
        recs = compress(recs)
    if raw_records is not None:
        recs = raw_records
    n = len(values) if records_count is None else records_count
    after_crc = (
        i16(attributes) + i32(len(values) - 1) + i64(base_ts) + i64(base_ts + len(values) - 1)
        + i64(-1) + i16(-1) + i32(-1) + i32(n) + recs
    )
    crc = crc32c(after_crc)
    if corrupt_crc:
        crc ^= 0x1
    after_len = i32(0) + i8(2) + struct.pack(">I", crc) + after_crc  # leader epoch, magic, crc
    return i64(0) + i32(len(after_len)) + after_len


def produce_request_v3(corr: int, topic: str, partition: int, batch: bytes, acks: int = -1) -> bytes:
    body = (
        string(None) + i16(acks) + i32(10000)
        + i32(1) + string(topic) + i32(1) + i32(partition) + i32(len(batch)) + batch
    )
    return request(API_PRODUCE, 3, corr, body)


def parse_produce_response_v3(payload: bytes) -> tuple[int, int]:
    """-> (error_code, base_offset) of the single partition in the response (after corr id)."""
    pos = 4
    (nt,) = struct.unpack_from(">i", payload, pos); pos += 4
    assert nt == 1, nt
    (ln,) = struct.unpack_from(">h", payload, pos); pos += 2 + ln
    (np_,) = struct.unpack_from(">i", payload, pos); pos += 4
    assert np_ == 1, np_
    _idx, err, base = struct.unpack_from(">ihq", payload, pos)
    return err, base


def create_partitions_v2(corr: int, topic: str, count: int) -> bytes:
    body = (uvarint(2) + compact_string(topic) + i32(count) + uvarint(0) + uvarint(0)
            + i32(10000) + i8(0) + uvarint(0))
    return request(37, 2, corr, body, flexible=True)


def delete_records_v2(corr: int, topic: str, partition: int, offset: int) -> bytes:
    body = (uvarint(2) + compact_string(topic) + uvarint(2) + i32(partition) + i64(offset) + uvarint(0)
            + uvarint(0) + i32(10000) + uvarint(0))
    return request(21, 2, corr, body, flexible=True)


class Reader:
    def __init__(self, payload: bytes, pos: int = 0):
        self.b, self.pos = payload, pos

    def take(self, fmt: str):
        v = struct.unpack_from(fmt, self.b, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def uvarint(self) -> int:
        shift = v = 0
        while True:
            c = self.b[self.pos]
            self.pos += 1
            v |= (c & 0x7F) << shift
            if not c & 0x80:
                return v
            shift += 7

    def compact_string(self):
        n = self.uvarint() - 1
        if n < 0:
            return None
        s = self.b[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def skip_tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.pos += self.uvarint()


def parse_create_partitions_v2(payload: bytes) -> list[tuple[str, int, str | None]]:
    """-> [(topic, error_code, error_message)]; response header v1 (flexible)."""
    r = Reader(payload)
    r.take(">i")  # correlation id
    r.skip_tags()
    r.take(">i")  # throttle
    out = []
    for _ in range(r.uvarint() - 1):
        name = r.compact_string()
        err = r.take(">h")
        msg = r.compact_string()
        r.skip_tags()
        out.append((name, err, msg))
    return out


def parse_delete_records_v2(payload: bytes) -> list[tuple[str, int, int, int]]:
    """-> [(topic, partition, low_watermark, error_code)]."""
    r = Reader(payload)
    r.take(">i")
    r.skip_tags()
    r.take(">i")
    out = []
    for _ in range(r.uvarint() - 1):
        name = r.compact_string()
        for _ in range(r.uvarint() - 1):
            idx, lw, err = r.take(">iqh")
            r.skip_tags()
            out.append((name, idx, lw, err))
        r.skip_tags()
    return out


# -- reading -----------------------------------------------------------------------------------
def connect(port: int, timeout: float = 10.0) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(s: socket.socket, n: int, deadline: float) -> bytes | None:
    """n bytes, or None if the peer closed first. Raises TimeoutError at the deadline."""
    buf = bytearray()
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"read {len(buf)} of {n} bytes before the deadline")
        s.settimeout(left)
        try:
            chunk = s.recv(n - len(buf))
        except socket.timeout:
            raise TimeoutError(f"read {len(buf)} of {n} bytes before the deadline") from None
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def read_frame(s: socket.socket, timeout: float = 10.0) -> bytes | None:
    """One response payload (correlation id first), or None if the connection was closed."""
    deadline = time.monotonic() + timeout
    hdr = recv_exact(s, 4, deadline)
    if hdr is None:
        return None
    (size,) = struct.unpack(">i", hdr)
    assert 4 <= size <= 64 * 1024 * 1024, f"response frame size {size}"
    payload = recv_exact(s, size, deadline)
    assert payload is not None, "connection closed in the middle of a response"
    return payload


def answered_or_closed(s: socket.socket, timeout: float = 10.0) -> str:
    """'closed' or 'answered' (a complete frame arrived); fails if neither within timeout."""
    try:
        f = read_frame(s, timeout)
    except TimeoutError as e:
        raise AssertionError(f"broker neither answered nor closed the connection within {timeout} s ({e})")
    return "closed" if f is None else "answered"


def parse_api_versions_v0(payload: bytes) -> tuple[int, int, dict[int, tuple[int, int]]]:
    """Strict v0 body: -> (correlation id, error code, {api key: (min, max)}); the payload must
    end exactly after the array."""
    corr, err, n = struct.unpack_from(">ihi", payload, 0)
    assert 0 <= n <= 1000, f"api_keys count {n}"
    keys = {}
    pos = 10
    for _ in range(n):
        k, lo, hi = struct.unpack_from(">hhh", payload, pos)
        pos += 6
        keys[k] = (lo, hi)
    assert pos == len(payload), f"ApiVersions v0 response has {len(payload) - pos} trailing bytes"
    return corr, err, keys


def parse_api_versions_v3(payload: bytes) -> tuple[int, int, dict[int, tuple[int, int]]]:
    """v3 body (response header is v0 for ApiVersions, no tagged fields in the header)."""
    corr, err = struct.unpack_from(">ih", payload, 0)
    pos = 6

    def uv():
        nonlocal pos
        shift = v = 0
        while True:
            b = payload[pos]; pos += 1
            v |= (b & 0x7F) << shift
            if not b & 0x80:
                return v
            shift += 7

    n = uv() - 1
    keys = {}
    for _ in range(n):
        k, lo, hi = struct.unpack_from(">hhh", payload, pos)
        pos += 6
        tags = uv()
        assert tags == 0 or tags < 100
        for _ in range(tags):
            uv(); pos += uv()
        keys[k] = (lo, hi)
    return corr, err, keys
