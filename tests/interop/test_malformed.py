"""Hostile input over raw sockets. After each kind of garbage the broker must have answered or
closed that connection (never hang it, never panic), and a fresh confluent-kafka client must
still produce and consume. Also: pipelined requests are answered in order."""

from __future__ import annotations

import os
import random
import socket
import struct
import time

import pytest

import kafka_wire as w
from strom_kafka import (
    check_consumed,
    check_produced,
    ck_consume,
    ck_produce,
    create_topic,
    expected_from_records,
    make_records,
    unique_topic,
    watermarks,
)


def assert_healthy(broker):
    """The broker process is up and a fresh librdkafka client can produce and consume."""
    broker.check_alive()
    topic = unique_topic("health")
    recs = make_records(50, tag="health", partitions=1)
    check_produced(ck_produce(broker.bootstrap, topic, recs, "lz4", timeout=30), recs)
    check_consumed(ck_consume(broker.bootstrap, topic, {0: 50}, timeout=30), expected_from_records(recs))
    broker.check_alive()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def send_and_expect(broker, data: bytes, close_after_send: bool = False, timeout: float = 10.0) -> str:
    s = w.connect(broker.port)
    try:
        s.sendall(data)
        if close_after_send:
            return "closed by us"
        return w.answered_or_closed(s, timeout)
    finally:
        s.close()


GARBAGE = {
    "negative_size": struct.pack(">i", -2) + b"\x00" * 32,
    "min_int_size": struct.pack(">i", -(2**31)) + b"\x00" * 32,
    "zero_size": struct.pack(">i", 0) + b"\x00" * 8,
    "huge_size": struct.pack(">i", 0x7FFFFFFF) + b"\x00" * 64,
    "size_over_request_max": struct.pack(">i", 104857600 + 1) + b"\x00" * 64,
    "size_below_header": w.frame(b"\x00\x12\x00"),
    "unknown_api_key": w.request(0x7ABC, 0, 7, b""),
    "negative_api_key": w.request(-5, 0, 7, b""),
    "metadata_unsupported_version": w.request(w.API_METADATA, 999, 7, b"\x00" * 16),
    "client_id_longer_than_frame": w.frame(w.i16(18) + w.i16(0) + w.i32(7) + w.i16(1000) + b"abc"),
    "bad_header_tagged_fields": w.frame(w.i16(18) + w.i16(3) + w.i32(7) + w.string("x") + b"\x05\xff\xff"),
    "array_length_larger_than_frame": w.request(w.API_METADATA, 1, 7, w.i32(0x10000000) + b"\x00\x01a"),
    "negative_array_length_in_produce": w.request(w.API_PRODUCE, 3, 7, w.string(None) + w.i16(1) + w.i32(1000) + w.i32(-7)),
    "varint_overflow_in_flexible_body": w.request(w.API_METADATA, 12, 7, b"\xff" * 12, flexible=True),
    "tls_client_hello": bytes.fromhex("16030100c4010000c00303") + os.urandom(64),
    "http_request": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
}


@pytest.mark.parametrize("name", list(GARBAGE))
def test_garbage_frame(broker, name):
    outcome = send_and_expect(broker, GARBAGE[name])
    print(f"{name}: {outcome}")
    assert_healthy(broker)


@pytest.mark.parametrize("name", ["huge_size", "size_over_request_max"])
def test_oversized_frame_closes_connection(broker, name):
    """A size over socket.request.max.bytes (100 MiB) is refused by closing, not answered."""
    assert send_and_expect(broker, GARBAGE[name]) == "closed"


def test_truncated_frames_then_close(broker):
    """Frames cut short, then the connection closed, at every cut point of a valid request."""
    full = w.metadata_request(1, 9)
    for cut in range(1, len(full)):
        s = w.connect(broker.port)
        s.sendall(full[:cut])
        s.close()
    # Half-open connections that claim a size and send part of it, left open while others work.
    held = []
    for _ in range(20):
        s = w.connect(broker.port)
        s.sendall(w.i32(1000) + b"\x00\x03\x00\x01")
        held.append(s)
    try:
        assert_healthy(broker)
    finally:
        for s in held:
            s.close()
    assert_healthy(broker)


def test_claimed_sizes_do_not_allocate(broker):
    """30 connections each claim a 90 MiB request (under the 100 MiB limit) and send 100 bytes.
    The broker must not allocate for what is merely claimed."""
    before = rss_kib(broker.proc.pid)
    held = []
    try:
        for _ in range(30):
            s = w.connect(broker.port)
            s.sendall(w.i32(90 * 1024 * 1024) + b"\x00\x00\x00\x03\x00\x00\x00\x01" + b"\x00" * 92)
            held.append(s)
        time.sleep(1.0)
        broker.check_alive()
        growth_mib = (rss_kib(broker.proc.pid) - before) / 1024
        print(f"RSS growth with 30 x 90 MiB claimed: {growth_mib:.1f} MiB")
        assert growth_mib < 256, f"broker RSS grew {growth_mib:.0f} MiB for 30 claimed 90 MiB frames"
    finally:
        for s in held:
            s.close()
    assert_healthy(broker)


def test_api_versions_unsupported_version_kip511(broker):
    """An ApiVersions version newer than the broker knows gets a v0-format response with error
    35 (UNSUPPORTED_VERSION) that lists the ApiVersions range, so the client can retry."""
    for version in (127, 32767):
        s = w.connect(broker.port)
        try:
            s.sendall(w.api_versions_request(4242, version))
            payload = w.read_frame(s, 10)
            assert payload is not None, f"ApiVersions v{version}: connection closed instead of a KIP-511 answer"
            corr, err, keys = w.parse_api_versions_v0(payload)
            assert corr == 4242
            assert err == w.ERR_UNSUPPORTED_VERSION, f"error code {err}"
            assert w.API_API_VERSIONS in keys, f"ApiVersions range missing from {keys}"
            lo, hi = keys[w.API_API_VERSIONS]
            assert lo == 0 and hi >= 3, (lo, hi)
            # The same connection then works with a supported version.
            s.sendall(w.api_versions_request(4243, 3))
            payload = w.read_frame(s, 10)
            assert payload is not None, "connection closed after the KIP-511 answer"
            corr, err, keys = w.parse_api_versions_v3(payload)
            assert (corr, err) == (4243, 0)
        finally:
            s.close()
    assert_healthy(broker)


def test_api_versions_all_versions(broker):
    """v0..v3 answer with error 0 and the same API table."""
    s = w.connect(broker.port)
    try:
        tables = []
        for v in range(4):
            s.sendall(w.api_versions_request(100 + v, v))
            payload = w.read_frame(s)
            assert payload is not None, f"closed on ApiVersions v{v}"
            if v == 0:
                corr, err, keys = w.parse_api_versions_v0(payload)
            elif v < 3:
                corr, err = struct.unpack_from(">ih", payload)
                (n,) = struct.unpack_from(">i", payload, 6)
                keys = {k: (lo, hi) for k, lo, hi in (struct.unpack_from(">hhh", payload, 10 + 6 * i) for i in range(n))}
                assert len(payload) == 10 + 6 * n + 4, "v1/v2 end with throttle_time_ms"
            else:
                corr, err, keys = w.parse_api_versions_v3(payload)
            assert (corr, err) == (100 + v, 0)
            tables.append(keys)
        assert all(t == tables[0] for t in tables)
        for api in (0, 1, 2, 3, 18, 19, 20):
            assert api in tables[0], f"api key {api} not advertised: {sorted(tables[0])}"
    finally:
        s.close()


def test_random_frames(broker):
    """100 random frames (valid size prefix, random content) on 100 connections, then 20
    connections of raw random bytes (then half-closed); each answered or closed; the broker
    lives on.

    Half the frames start with a known api key and a small version. A random body that happens
    to parse as Produce with acks=0 (no response) or as Fetch with a long max_wait_ms may
    legitimately stay unanswered, so connections whose frame claims api key 0 or 1 may also
    still be pending at the end."""
    rng = random.Random(1234)
    socks = []
    try:
        for i in range(100):
            n = rng.randrange(1, 600)
            body = bytes(rng.randrange(256) for _ in range(n))
            if i % 2 == 0:
                api = rng.choice([0, 1, 2, 3, 8, 9, 10, 11, 18, 19, 20, 32, 33, 37, 44, 60])
                body = w.i16(api) + w.i16(rng.randrange(0, 14)) + w.i32(i) + body
            data = w.frame(body)
            s = w.connect(broker.port)
            s.sendall(data)
            socks.append((s, data))
        for _ in range(20):
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 2048)))
            s = w.connect(broker.port)
            s.sendall(data)
            # The first 4 bytes may claim a frame longer than what follows, which a broker
            # rightly waits for: half-close so it sees the end of the stream.
            s.shutdown(socket.SHUT_WR)
            socks.append((s, data))
        outcomes = {}
        hung = []
        deadline = time.monotonic() + 15
        for s, data in socks:
            # Answered requests leave the connection open: one answer is enough.
            try:
                o = w.answered_or_closed(s, max(0.5, deadline - time.monotonic()))
            except AssertionError:
                api = struct.unpack_from(">h", data, 4)[0] if len(data) >= 6 else None
                o = "pending (api 0/1)" if api in (0, 1) else "hung"
                if o == "hung":
                    hung.append(data[:40].hex())
            outcomes[o] = outcomes.get(o, 0) + 1
        print(f"random frames: {outcomes}")
        assert not hung, f"{len(hung)} connections neither answered nor closed; frames start: {hung[:5]}"
    finally:
        for s, _ in socks:
            s.close()
    assert_healthy(broker)


def test_one_byte_at_a_time(broker):
    """A valid request trickled one byte per 20 ms is answered normally."""
    s = w.connect(broker.port)
    try:
        req = w.api_versions_request(77, 3)
        for b in req:
            s.sendall(bytes([b]))
            time.sleep(0.02)
        payload = w.read_frame(s, 10)
        assert payload is not None
        corr, err, keys = w.parse_api_versions_v3(payload)
        assert (corr, err) == (77, 0) and w.API_API_VERSIONS in keys
    finally:
        s.close()


def test_pipelined_requests_answered_in_order(broker):
    """Requests written back-to-back on one connection are answered in correlation-id order."""
    topic = unique_topic("pipe")
    create_topic(broker.bootstrap, topic, 2)
    reqs = []
    corr_ids = []
    for i in range(60):
        corr = 1000 + 7 * i  # not consecutive, so order is checked, not counting
        kind = i % 5
        if kind == 0:
            reqs.append(w.api_versions_request(corr, 0))
        elif kind == 1:
            reqs.append(w.api_versions_request(corr, 3))
        elif kind == 2:
            reqs.append(w.metadata_request(corr, 1, [topic]))
        elif kind == 3:
            reqs.append(w.metadata_request(corr, 9, None))
        else:
            reqs.append(w.metadata_request(corr, 12, [topic]))
        corr_ids.append(corr)
    s = w.connect(broker.port)
    try:
        s.sendall(b"".join(reqs))
        got = []
        for _ in reqs:
            payload = w.read_frame(s, 15)
            assert payload is not None, f"connection closed after {len(got)} of {len(reqs)} responses"
            got.append(struct.unpack_from(">i", payload)[0])
        assert got == corr_ids, f"responses out of order: {got[:10]}... expected {corr_ids[:10]}..."
    finally:
        s.close()


def test_produce_bad_crc_is_refused(broker):
    """Produce v3 with a RecordBatch whose CRC is wrong: CORRUPT_MESSAGE, nothing appended.
    The same batch with the right CRC is appended at offset 0."""
    topic = unique_topic("crc")
    create_topic(broker.bootstrap, topic, 1)
    vals = [f"v{i}".encode() for i in range(5)]
    s = w.connect(broker.port)
    try:
        s.sendall(w.produce_request_v3(1, topic, 0, w.record_batch(vals, corrupt_crc=True)))
        payload = w.read_frame(s, 10)
        if payload is not None:  # closing the connection is also acceptable
            err, _ = w.parse_produce_response_v3(payload)
            assert err == w.ERR_CORRUPT_MESSAGE, f"bad CRC: error {err}, expected 2 CORRUPT_MESSAGE"
    finally:
        s.close()
    assert watermarks(broker.bootstrap, topic, 0) == (0, 0), "a batch with a bad CRC was appended"

    s = w.connect(broker.port)
    try:
        s.sendall(w.produce_request_v3(2, topic, 0, w.record_batch(vals)))
        payload = w.read_frame(s, 10)
        assert payload is not None
        assert w.parse_produce_response_v3(payload) == (0, 0)
    finally:
        s.close()
    assert watermarks(broker.bootstrap, topic, 0) == (0, 5)


@pytest.mark.parametrize(
    "name,batch",
    [
        ("count_mismatch", lambda v: w.record_batch(v, records_count=1000)),
        ("unknown_codec", lambda v: w.record_batch(v, attributes=7)),
        ("control_batch_from_client", lambda v: w.record_batch(v, attributes=0x20)),
        ("truncated_batch", lambda v: w.record_batch(v)[:-7]),
        ("batch_length_too_big", lambda v: (lambda b: b[:8] + w.i32(len(b)) + b[12:])(w.record_batch(v))),
    ],
)
def test_produce_bad_batches_refused(broker, name, batch):
    topic = unique_topic("badbatch")
    create_topic(broker.bootstrap, topic, 1)
    s = w.connect(broker.port)
    try:
        s.sendall(w.produce_request_v3(9, topic, 0, batch([b"a", b"b", b"c"])))
        payload = w.read_frame(s, 10)
        if payload is not None:
            err, _ = w.parse_produce_response_v3(payload)
            assert err != 0, f"{name}: the broker accepted a bad batch"
    finally:
        s.close()
    assert watermarks(broker.bootstrap, topic, 0) == (0, 0), f"{name}: a bad batch was appended"
    assert_healthy(broker)


def _produce_raw(broker, topic, batch: bytes) -> int | None:
    s = w.connect(broker.port)
    try:
        s.sendall(w.produce_request_v3(21, topic, 0, batch))
        payload = w.read_frame(s, 30)
        return None if payload is None else w.parse_produce_response_v3(payload)[0]
    finally:
        s.close()


@pytest.mark.parametrize("codec,attr", [("gzip", 1), ("snappy", 2), ("lz4", 3), ("zstd", 4)])
def test_garbage_compressed_payload(broker, codec, attr):
    """A batch flagged as compressed whose payload is not valid for the codec: the broker
    answers (an error, or stores it verbatim) or closes; it must not panic or hang."""
    topic = unique_topic(f"badz-{codec}")
    create_topic(broker.bootstrap, topic, 1)
    rng = random.Random(attr)
    garbage = bytes(rng.randrange(256) for _ in range(3000))
    err = _produce_raw(broker, topic, w.record_batch([b"x"] * 3, attributes=attr, raw_records=garbage))
    print(f"{codec} garbage payload: {'closed' if err is None else f'error {err}'}")
    assert_healthy(broker)


def test_decompression_bomb(broker):
    """One gzip record that inflates to 400 MiB from ~400 KiB: no memory blow-up (whatever the
    broker decides about the batch), and it keeps serving."""
    import gzip

    topic = unique_topic("bomb")
    create_topic(broker.bootstrap, topic, 1)
    value = bytes(400 * 1024 * 1024)
    batch = w.record_batch([value], attributes=1, compress=lambda b: gzip.compress(b, compresslevel=9))
    del value
    assert len(batch) < 1_000_000, len(batch)
    before = rss_kib(broker.proc.pid)
    err = _produce_raw(broker, topic, batch)
    broker.check_alive()
    growth_mib = (rss_kib(broker.proc.pid) - before) / 1024
    print(f"decompression bomb: {'closed' if err is None else f'error {err}'}, RSS growth {growth_mib:.0f} MiB")
    assert growth_mib < 256, f"broker RSS grew {growth_mib:.0f} MiB on a 400 MiB gzip bomb"
    assert_healthy(broker)
