"""Produce with keys, values, headers and timestamps through each client and each compression
codec, read everything back by explicit partition assignment, and compare exactly."""

from __future__ import annotations

import pytest

from strom_kafka import (
    CLIENTS,
    CODECS,
    CONSUME,
    PRODUCE,
    check_consumed,
    check_produced,
    ck_consume,
    ck_produce,
    counts_of,
    create_topic,
    expected_from_records,
    make_records,
    topic_partitions,
    unique_topic,
    wait_for_partitions,
    watermarks,
)

PARTITIONS = 3
FULL = 100_000
# kafka-python encodes and decodes records in pure Python (~20-50k records/s on one core of
# the 2-core CI machine, sharing it with the broker); aiokafka's producer side is also mostly
# Python. 100k records x 5 codecs x 2 directions would take several minutes per client, so those
# two run 20k per codec, and one codec each at the full 100k (FULL_RUNS).
REDUCED = 20_000
FULL_RUNS = {("kafka-python", "none"), ("aiokafka", "zstd")}


def count_for(client: str, codec: str) -> int:
    if client == "confluent" or (client, codec) in FULL_RUNS:
        return FULL
    return REDUCED


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("client", CLIENTS)
def test_produce_consume_roundtrip(live_module_broker, client, codec):
    b = live_module_broker
    topic = unique_topic(f"rt-{client}-{codec}")
    create_topic(b.bootstrap, topic, PARTITIONS)
    n = count_for(client, codec)
    records = make_records(n, tag=f"{client}/{codec}", partitions=PARTITIONS)

    produced = PRODUCE[client](b.bootstrap, topic, records, codec)
    check_produced(produced, records)
    b.check_alive()

    counts = counts_of(records)
    for p, cnt in counts.items():
        assert watermarks(b.bootstrap, topic, p) == (0, cnt), f"watermarks of partition {p}"

    consumed = CONSUME[client](b.bootstrap, topic, counts)
    check_consumed(consumed, expected_from_records(records), what=f"{client} reading {client}/{codec}:")


CROSS = [(p, c) for p in CLIENTS for c in CLIENTS if p != c]
CROSS_CODEC = dict(zip(CROSS, ["zstd", "lz4", "snappy", "gzip", "none", "zstd"]))


@pytest.mark.parametrize("producer,consumer", CROSS, ids=[f"{p}-to-{c}" for p, c in CROSS])
def test_cross_client(live_module_broker, producer, consumer):
    """What one client library wrote, another reads back identically."""
    b = live_module_broker
    codec = CROSS_CODEC[(producer, consumer)]
    topic = unique_topic(f"x-{producer}-{consumer}")
    create_topic(b.bootstrap, topic, PARTITIONS)
    records = make_records(10_000, tag=f"{producer}>{consumer}/{codec}", partitions=PARTITIONS)
    check_produced(PRODUCE[producer](b.bootstrap, topic, records, codec), records)
    consumed = CONSUME[consumer](b.bootstrap, topic, counts_of(records))
    check_consumed(consumed, expected_from_records(records), what=f"{consumer} reading {producer}/{codec}:")


def test_mixed_codecs_in_one_partition(live_module_broker):
    """Batches of every codec, from every client, interleaved in the same partitions; every
    client reads the whole mix."""
    b = live_module_broker
    topic = unique_topic("mixed")
    create_topic(b.bootstrap, topic, PARTITIONS)
    all_records = []
    offset_base = {p: 0 for p in range(PARTITIONS)}
    for i, codec in enumerate(CODECS):
        for client in CLIENTS:
            recs = make_records(600, tag=f"mix/{client}/{codec}", partitions=PARTITIONS)
            produced = PRODUCE[client](b.bootstrap, topic, recs, codec)
            assert produced.count() == len(recs) and not produced.errors
            for p in range(PARTITIONS):
                offs = [o for o, _ in produced.expected(p)]
                assert offs == list(range(offset_base[p], offset_base[p] + len(offs))), (
                    f"{client}/{codec}: partition {p} offsets {offs[:3]}..., expected from {offset_base[p]}"
                )
                offset_base[p] += len(offs)
            all_records += recs
    expected = {p: [] for p in range(PARTITIONS)}
    for r in all_records:
        expected[r.partition].append((len(expected[r.partition]), r))
    for client in CLIENTS:
        consumed = CONSUME[client](b.bootstrap, topic, counts_of(all_records))
        check_consumed(consumed, expected, what=f"{client} reading the mix:")


def test_consume_from_middle_offset(live_module_broker):
    """Fetch at an offset inside a compressed batch returns records from that offset on
    (clients drop the earlier records of the batch themselves)."""
    b = live_module_broker
    topic = unique_topic("mid")
    create_topic(b.bootstrap, topic, 1)
    records = make_records(5000, tag="mid", partitions=1)
    check_produced(ck_produce(b.bootstrap, topic, records, "lz4", **{"linger.ms": 50}), records)
    for client in CLIENTS:
        for start in (1, 2500, 4999, 5000):
            consumed = CONSUME[client](b.bootstrap, topic, {0: 5000 - start}, start={0: start})
            exp = {0: [(o, r) for o, r in expected_from_records(records)[0] if o >= start]}
            check_consumed(consumed, exp, what=f"{client} from offset {start}:")


def test_auto_create_topic_on_produce(broker):
    """auto.create.topics.enable=true (the default): producing to an unknown topic creates it
    with num.partitions (default 1) partitions."""
    topic = unique_topic("auto")
    records = make_records(100, tag="auto", partitions=1)
    produced = ck_produce(broker.bootstrap, topic, records, "none")
    check_produced(produced, records)
    assert len(topic_partitions(broker.bootstrap, topic)) == 1
    check_consumed(ck_consume(broker.bootstrap, topic, {0: 100}), expected_from_records(records))

    # kafka-python and aiokafka with partition left to the client's partitioner.
    from kafka import KafkaProducer

    t2 = unique_topic("auto-kp")
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, enable_idempotence=False, acks=1)
    try:
        md = p.send(t2, key=b"k", value=b"v").get(timeout=30)
    finally:
        p.close(timeout=5)
    assert (md.topic, md.partition, md.offset) == (t2, 0, 0)
    wait_for_partitions(broker.bootstrap, t2, 1)


def test_auto_create_uses_num_partitions(broker_factory):
    b = broker_factory(num_partitions=3)
    topic = unique_topic("auto3")
    records = make_records(300, tag="auto3", partitions=3)
    check_produced(ck_produce(b.bootstrap, topic, records, "gzip"), records)
    assert len(topic_partitions(b.bootstrap, topic)) == 3
    check_consumed(ck_consume(b.bootstrap, topic, counts_of(records)), expected_from_records(records))


def test_max_message_bytes(live_module_broker):
    """A record batch over max.message.bytes (default 1048588) is refused with
    MESSAGE_TOO_LARGE; a topic override of max.message.bytes lets it through."""
    from confluent_kafka import KafkaError

    from strom_kafka import Rec, ck_producer

    b = live_module_broker
    small = unique_topic("mmb")
    big = unique_topic("mmb-big")
    create_topic(b.bootstrap, small, 1)
    create_topic(b.bootstrap, big, 1, config={"max.message.bytes": "3000000"})
    value = bytes(range(256)) * (1_500_000 // 256)  # ~1.5 MB, incompressible enough uncompressed

    def produce_one(topic):
        res = []
        p = ck_producer(b.bootstrap, **{"message.max.bytes": 10_000_000, "compression.type": "none",
                                        "message.timeout.ms": 20000})
        p.produce(topic, value=value, key=b"big", partition=0, on_delivery=lambda e, m: res.append((e, m.offset())))
        assert p.flush(30) == 0
        return res[0]

    err, _ = produce_one(small)
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE, err
    assert watermarks(b.bootstrap, small, 0) == (0, 0)

    err, off = produce_one(big)
    assert err is None and off == 0, err
    got = ck_consume(b.bootstrap, big, {0: 1}, **{"fetch.max.bytes": 5_000_000, "receive.message.max.bytes": 6_000_000})
    assert [(o, r.key, r.value == value) for o, r in got[0]] == [(0, b"big", True)]


def test_small_fetch_sizes_still_progress(live_module_broker):
    """Fetch limits smaller than one batch still return that first batch (KIP-74), so
    consumers with tiny fetch sizes make progress."""
    b = live_module_broker
    topic = unique_topic("tinyfetch")
    create_topic(b.bootstrap, topic, 2)
    records = make_records(3000, tag="tiny", partitions=2)
    check_produced(ck_produce(b.bootstrap, topic, records, "gzip", **{"linger.ms": 50}), records)
    consumed = ck_consume(b.bootstrap, topic, counts_of(records),
                          **{"message.max.bytes": 1000, "fetch.max.bytes": 1024,
                             "max.partition.fetch.bytes": 512, "fetch.min.bytes": 1})
    check_consumed(consumed, expected_from_records(records), what="librdkafka, tiny fetch sizes:")
    # The same through kafka-python.
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP

    c = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="none", fetch_max_bytes=1024, max_partition_fetch_bytes=512)
    try:
        tp = KTP(topic, 0)
        c.assign([tp])
        c.seek(tp, 0)
        n = 0
        import time as _t

        deadline = _t.monotonic() + 60
        while n < 1500 and _t.monotonic() < deadline:
            for _, msgs in c.poll(timeout_ms=500).items():
                n += len(msgs)
        assert n == 1500, f"kafka-python with tiny fetch sizes read {n} of 1500"
    finally:
        c.close()


def test_long_poll_wakes_on_produce(live_module_broker):
    """A consumer waiting at the end of the log with fetch.wait.max.ms=10 s gets a newly
    produced record at once: the broker completes the parked fetch when data arrives."""
    import threading
    import time as _t

    from strom_kafka import ck_consumer, ck_producer
    from confluent_kafka import TopicPartition

    b = live_module_broker
    topic = unique_topic("longpoll")
    create_topic(b.bootstrap, topic, 1)
    c = ck_consumer(b.bootstrap, **{"fetch.wait.max.ms": 10000, "fetch.min.bytes": 1, "enable.partition.eof": False})
    p = ck_producer(b.bootstrap, **{"linger.ms": 0})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        # Let the consumer reach the (empty) end and park its fetch.
        assert c.consume(num_messages=10, timeout=2.0) == []
        latencies = []
        for i in range(3):
            _t.sleep(0.5)
            sent = _t.monotonic()
            p.produce(topic, value=f"wake-{i}".encode(), partition=0)
            p.flush(10)
            msgs = []
            while not msgs and _t.monotonic() - sent < 15:
                msgs = [m for m in c.consume(num_messages=10, timeout=0.2) if m.error() is None]
            assert msgs, "record never arrived"
            latencies.append(_t.monotonic() - sent)
        print(f"produce->consume latency with a parked 10 s fetch: {[f'{x:.3f}' for x in latencies]} s")
        assert max(latencies) < 2.0, f"parked fetch not woken by produce: latencies {latencies}"
    finally:
        c.close()


def test_fetch_beyond_end_is_out_of_range(live_module_broker):
    from confluent_kafka import KafkaError, TopicPartition

    from strom_kafka import ck_consumer, wait_for

    b = live_module_broker
    topic = unique_topic("beyond")
    create_topic(b.bootstrap, topic, 1)
    recs = make_records(10, tag="beyond", partitions=1)
    check_produced(ck_produce(b.bootstrap, topic, recs), recs)
    c = ck_consumer(b.bootstrap)
    try:
        c.assign([TopicPartition(topic, 0, 1000)])

        def out_of_range():
            for m in c.consume(num_messages=10, timeout=0.5):
                e = m.error()
                assert e is not None, f"read offset {m.offset()} beyond the high watermark 10"
                if e.code() in (KafkaError.OFFSET_OUT_OF_RANGE, KafkaError._AUTO_OFFSET_RESET):
                    return True
                assert e.code() == KafkaError._PARTITION_EOF, e

        wait_for(out_of_range, 15, "OFFSET_OUT_OF_RANGE for a fetch beyond the end")
    finally:
        c.close()
