"""Compression across clients and the broker's `compression.type` (issue 6): every codec each
client writes is read back identically by every other client; a topic with a named
`compression.type` stores batches in that codec whatever the producer sent; keyless records
on a compacted topic are refused with INVALID_RECORD while the broker keeps serving."""

from __future__ import annotations

import struct

import pytest

import kafka_wire as w
from strom_kafka import (
    CLIENTS,
    CODECS,
    CONSUME,
    PRODUCE,
    check_consumed,
    check_produced,
    counts_of,
    create_topic,
    expected_from_records,
    make_records,
    unique_topic,
)

MATRIX = [(p, c, codec) for p in CLIENTS for c in CLIENTS for codec in CODECS]
CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
INVALID_RECORD = 87


@pytest.mark.parametrize("producer,consumer,codec", MATRIX, ids=[f"{p}-{codec}-to-{c}" for p, c, codec in MATRIX])
def test_every_codec_between_every_client_pair(live_module_broker, producer, consumer, codec):
    b = live_module_broker
    topic = unique_topic(f"m-{codec}")
    create_topic(b.bootstrap, topic, 2)
    records = make_records(300, tag=f"{producer}/{codec}", partitions=2)
    check_produced(PRODUCE[producer](b.bootstrap, topic, records, codec), records)
    consumed = CONSUME[consumer](b.bootstrap, topic, counts_of(records))
    check_consumed(consumed, expected_from_records(records), what=f"{consumer} reading {producer}/{codec}:")


def stored_codecs(partition_dir) -> list[int]:
    """Codec ids of every batch in the partition's .log files, read straight from disk."""
    out = []
    for seg in sorted(partition_dir.glob("*.log")):
        data = seg.read_bytes()
        pos = 0
        while pos + 61 <= len(data):
            (length,) = struct.unpack_from(">i", data, pos + 8)
            (attrs,) = struct.unpack_from(">h", data, pos + 21)
            out.append(attrs & 0x07)
            pos += 12 + length
    return out


@pytest.mark.parametrize("target", ["zstd", "gzip", "uncompressed"])
def test_topic_compression_type_recompresses(broker, target):
    topic = unique_topic(f"rc-{target}")
    create_topic(broker.bootstrap, topic, 1, config={"compression.type": target})
    sends = [("confluent", "lz4", "a"), ("kafka-python", "snappy", "b"), ("confluent", "none", "c")]
    written = []
    for producer, codec, tag in sends:
        recs = make_records(800, tag=f"rc/{target}/{tag}", partitions=1)
        PRODUCE[producer](broker.bootstrap, topic, recs, codec)
        written += recs
    codecs = stored_codecs(broker.data_dir / f"{topic}-0")
    want = 0 if target == "uncompressed" else CODEC_IDS[target]
    assert codecs and set(codecs) == {want}, f"stored codecs {sorted(set(codecs))}, want only {want}"
    # The records read back as written, in produce order.
    consumed = CONSUME["confluent"](broker.bootstrap, topic, {0: len(written)})
    assert [r.value for _, r in consumed[0]] == [r.value for r in written]
    assert [r.key for _, r in consumed[0]] == [r.key for r in written]


def test_keyless_records_on_compacted_topic_are_refused(broker):
    compacted = unique_topic("compact")
    plain = unique_topic("plain")
    create_topic(broker.bootstrap, compacted, 1, config={"cleanup.policy": "compact"})
    create_topic(broker.bootstrap, plain, 1)
    s = w.connect(broker.port)
    batch = w.record_batch([b"no key here", b"nor here"])
    s.sendall(w.produce_request_v3(1, compacted, 0, batch))
    payload = w.read_frame(s)
    assert payload is not None, "broker closed the connection"
    err, base = w.parse_produce_response_v3(payload)
    assert (err, base) == (INVALID_RECORD, -1)
    # The same connection and the broker keep serving: the batch goes to a normal topic.
    s.sendall(w.produce_request_v3(2, plain, 0, batch))
    err, base = w.parse_produce_response_v3(w.read_frame(s))
    assert (err, base) == (0, 0)
    s.close()


def test_null_header_key_is_invalid_record(broker):
    topic = unique_topic("nullhdr")
    create_topic(broker.bootstrap, topic, 1)
    # One record with one header whose key length is -1 (null).
    body = (w.i8(0) + w.varint(0) + w.varint(0) + w.varint(1) + b"k" + w.varint(1) + b"v"
            + w.varint(1) + w.varint(-1) + w.varint(1) + b"x")
    rec = w.varint(len(body)) + body
    batch = w.record_batch([b"placeholder"], raw_records=rec)
    s = w.connect(broker.port)
    s.sendall(w.produce_request_v3(1, topic, 0, batch))
    err, base = w.parse_produce_response_v3(w.read_frame(s))
    s.close()
    assert (err, base) == (INVALID_RECORD, -1)


def test_produce_v8_carries_record_errors_and_error_message(broker):
    """Produce v8+ responses name the bad records (`record_errors`) and say why
    (`error_message`), as Kafka fills them."""
    compacted = unique_topic("compact8")
    create_topic(broker.bootstrap, compacted, 1, config={"cleanup.policy": "compact"})
    batch = w.record_batch([b"a", b"b", b"c"])  # three keyless records
    body = (w.string(None) + w.i16(-1) + w.i32(10000) + w.i32(1) + w.string(compacted)
            + w.i32(1) + w.i32(0) + w.i32(len(batch)) + batch)
    s = w.connect(broker.port)
    s.sendall(w.request(0, 8, 9, body))
    r = w.Reader(w.read_frame(s))
    s.close()
    assert r.take(">i") == 9
    assert r.take(">i") == 1
    (n,) = (r.take(">h"),)
    r.pos += n
    assert r.take(">i") == 1
    index, err, base, append_time, log_start = r.take(">i"), r.take(">h"), r.take(">q"), r.take(">q"), r.take(">q")
    assert (index, err, base, append_time, log_start) == (0, INVALID_RECORD, -1, -1, -1)
    errors = []
    for _ in range(r.take(">i")):
        bi = r.take(">i")
        ln = r.take(">h")
        msg = r.b[r.pos:r.pos + ln].decode()
        r.pos += ln
        errors.append((bi, msg))
    ln = r.take(">h")
    message = r.b[r.pos:r.pos + ln].decode()
    r.pos += ln
    assert [i for i, _ in errors] == [0, 1, 2], errors
    assert all("without key" in m for _, m in errors), errors
    assert "without key" in message
    assert r.take(">i") == 0  # throttle time
    assert r.pos == len(r.b)
