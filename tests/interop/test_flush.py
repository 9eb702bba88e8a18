"""Topics that fsync before acknowledging (`flush.messages=1`), with pipelined requests.

The broker keeps reading a connection's requests while earlier Produce requests wait for
their fsync, so one fsync can cover several (group commit). These tests check what a client
must still see: replies in request order, offsets in append order, records readable only
once acknowledged, nothing lost across a restart, and acks=0 requests that get no reply.
"""

from __future__ import annotations

import struct

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


def test_pipelined_produce_on_a_flushing_topic_is_answered_in_order(broker):
    """40 Produce v3 requests (acks=-1, 5 records each) interleaved with Metadata requests,
    written back to back on one connection: every reply comes back in request order, each
    Produce with error 0 and base offset 5 x its index, and the high watermark covers all."""
    topic = unique_topic("flushpipe")
    create_topic(broker.bootstrap, topic, 1, config={"flush.messages": "1"})
    reqs, expect = [], []
    n_produce = 40
    for i in range(n_produce):
        corr = 5000 + 3 * i
        batch = w.record_batch([f"r{i}-{j}".encode() for j in range(5)])
        reqs.append(w.produce_request_v3(corr, topic, 0, batch, acks=-1))
        expect.append((corr, "produce", i))
        if i % 4 == 0:
            corr2 = 9000 + i
            reqs.append(w.metadata_request(corr2, 1, [topic]))
            expect.append((corr2, "metadata", i))
    s = w.connect(broker.port)
    try:
        s.sendall(b"".join(reqs))
        for corr, kind, i in expect:
            payload = w.read_frame(s, 20)
            assert payload is not None, f"connection closed before the reply to {kind} {i}"
            got = struct.unpack_from(">i", payload)[0]
            assert got == corr, f"reply {got} arrived where {corr} ({kind} {i}) was due"
            if kind == "produce":
                err, base = w.parse_produce_response_v3(payload)
                assert (err, base) == (0, 5 * i), f"produce {i}: error {err}, base offset {base}"
    finally:
        s.close()
    assert watermarks(broker.bootstrap, topic, 0) == (0, 5 * n_produce)


def test_acks_zero_on_a_flushing_topic_gets_no_reply(broker):
    """acks=0 Produce requests on a flush.messages=1 topic get no reply, and the request after
    them is still answered (its reply is not mistaken for theirs); the records are appended."""
    topic = unique_topic("flushack0")
    create_topic(broker.bootstrap, topic, 1, config={"flush.messages": "1"})
    s = w.connect(broker.port)
    try:
        data = b"".join(
            w.produce_request_v3(100 + i, topic, 0, w.record_batch([b"a", b"b"]), acks=0)
            for i in range(10)
        )
        s.sendall(data + w.metadata_request(777, 1, [topic]))
        payload = w.read_frame(s, 20)
        assert payload is not None, "connection closed"
        assert struct.unpack_from(">i", payload)[0] == 777, "a reply to an acks=0 request was sent"
    finally:
        s.close()
    assert watermarks(broker.bootstrap, topic, 0) == (0, 20)


def test_librdkafka_pipelined_acks_all_on_a_flushing_topic_survives_kill(broker):
    """librdkafka with 5 requests in flight, acks=all, to 3 flush.messages=1 partitions:
    every record is acknowledged at the offset it is read back at, and still there after a
    kill -9 and restart (acknowledged after fsync)."""
    topic = unique_topic("flushck")
    create_topic(broker.bootstrap, topic, 3, config={"flush.messages": "1"})
    recs = make_records(6000, tag="flush", partitions=3)
    produced = ck_produce(
        broker.bootstrap, topic, recs, "none",
        **{"acks": "all", "linger.ms": "0", "batch.num.messages": "50",
           "max.in.flight.requests.per.connection": "5"},
    )
    check_produced(produced, recs)
    broker.kill()
    broker.start()
    check_consumed(ck_consume(broker.bootstrap, topic, {0: 2000, 1: 2000, 2: 2000}, timeout=60),
                   expected_from_records(recs))
