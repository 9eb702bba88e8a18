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
