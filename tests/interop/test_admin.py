"""Topic and config administration through confluent-kafka's AdminClient, with the effects
checked in Metadata and in the data."""

from __future__ import annotations

import concurrent.futures

import pytest

import kafka_wire as w
from confluent_kafka import KafkaError, KafkaException, TopicCollection, TopicPartition
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourceType,
)

from strom_kafka import (
    BASE_TS,
    admin,
    check_consumed,
    check_produced,
    ck_consume,
    ck_consumer,
    ck_produce,
    counts_of,
    create_topic,
    expected_from_records,
    make_records,
    topic_partitions,
    unique_topic,
    wait_for,
    wait_for_partitions,
    watermarks,
)

T = 20  # seconds per admin call


def only(futures: dict):
    """The single future of an admin call's result dict. (Not dict.popitem(): the client's
    completion callback maps results through that same dict.)"""
    (f,) = futures.values()
    return f


def wire_call(broker, request: bytes, parse):
    s = w.connect(broker.port)
    try:
        s.sendall(request)
        payload = w.read_frame(s, T)
        assert payload is not None, "broker closed the connection instead of answering"
        return parse(payload)
    finally:
        s.close()


def kafka_error(fut) -> KafkaError:
    """The KafkaError a failed admin future carries (fails if the future succeeded)."""
    with pytest.raises(KafkaException) as ei:
        fut.result(timeout=T)
    err = ei.value.args[0]
    assert isinstance(err, KafkaError), repr(ei.value)
    return err


def topic_names(bootstrap):
    return set(admin(bootstrap).list_topics(timeout=10).topics)


def source(entry) -> ConfigSource:
    s = entry.source
    return s if isinstance(s, ConfigSource) else ConfigSource(int(s))


def describe_topic_configs(bootstrap, topic) -> dict:
    res = ConfigResource(ResourceType.TOPIC, topic)
    a = admin(bootstrap)  # keep the client alive until its futures resolve
    return a.describe_configs([res], request_timeout=T)[res].result(timeout=T)


def test_create_topic_with_configs(live_module_broker):
    b = live_module_broker
    topic = unique_topic("cfg")
    a = admin(b.bootstrap)  # keep the client alive until its futures resolve
    fs = a.create_topics(
        [
            NewTopic(
                topic,
                num_partitions=4,
                replication_factor=1,
                config={"retention.ms": "2592000000", "segment.bytes": "1048576", "cleanup.policy": "delete"},
            )
        ],
        operation_timeout=T,
    )
    assert fs[topic].result(timeout=T) is None
    wait_for_partitions(b.bootstrap, topic, 4)
    parts = topic_partitions(b.bootstrap, topic)
    assert sorted(parts) == [0, 1, 2, 3]
    for p in parts.values():
        assert p.leader == 1 and list(p.replicas) == [1] and list(p.isrs) == [1]

    cfg = describe_topic_configs(b.bootstrap, topic)
    assert cfg["retention.ms"].value == "2592000000"
    assert source(cfg["retention.ms"]) == ConfigSource.DYNAMIC_TOPIC_CONFIG
    assert not cfg["retention.ms"].is_default
    assert cfg["segment.bytes"].value == "1048576"
    # A config that was not set is described with its default.
    assert cfg["max.message.bytes"].value == "1048588"
    assert source(cfg["max.message.bytes"]) == ConfigSource.DEFAULT_CONFIG
    assert cfg["max.message.bytes"].is_default


def test_create_topic_broker_defaults(live_module_broker):
    """num_partitions=-1 / replication_factor=-1 (KIP-464) take the broker defaults."""
    b = live_module_broker
    topic = unique_topic("dflt")
    a = admin(b.bootstrap)  # keep the client alive until its futures resolve
    fs = a.create_topics([NewTopic(topic)], operation_timeout=T)
    fs[topic].result(timeout=T)
    wait_for_partitions(b.bootstrap, topic, 1)


def test_create_topic_errors(live_module_broker):
    b = live_module_broker
    a = admin(b.bootstrap)

    bad_rf = unique_topic("rf3")
    fs = a.create_topics([NewTopic(bad_rf, num_partitions=1, replication_factor=3)], operation_timeout=T)
    err = kafka_error(fs[bad_rf])
    assert err.code() == KafkaError.INVALID_REPLICATION_FACTOR, err
    assert bad_rf not in topic_names(b.bootstrap)

    dup = unique_topic("dup")
    create_topic(b.bootstrap, dup, 2)
    fs = a.create_topics([NewTopic(dup, num_partitions=2, replication_factor=1)], operation_timeout=T)
    err = kafka_error(fs[dup])
    assert err.code() == KafkaError.TOPIC_ALREADY_EXISTS, err

    bad_cfg = unique_topic("badcfg")
    fs = a.create_topics(
        [NewTopic(bad_cfg, num_partitions=1, replication_factor=1, config={"retention.ms": "not-a-number"})],
        operation_timeout=T,
    )
    err = kafka_error(fs[bad_cfg])
    assert err.code() == KafkaError.INVALID_CONFIG, err
    assert bad_cfg not in topic_names(b.bootstrap)

    validate = unique_topic("validate")
    fs = a.create_topics([NewTopic(validate, num_partitions=2, replication_factor=1)], validate_only=True, operation_timeout=T)
    assert fs[validate].result(timeout=T) is None
    assert validate not in topic_names(b.bootstrap), "validate_only must not create the topic"


def test_describe_broker_configs(live_module_broker):
    b = live_module_broker
    res = ConfigResource(ResourceType.BROKER, "1")
    a = admin(b.bootstrap)  # keep the client alive until its futures resolve
    cfg = a.describe_configs([res], request_timeout=T)[res].result(timeout=T)
    assert cfg["num.partitions"].value == "1"
    assert cfg["auto.create.topics.enable"].value == "true"


def test_alter_configs_replaces_topic_configs(live_module_broker):
    """Legacy AlterConfigs sets exactly the given configs: others revert to their defaults."""
    b = live_module_broker
    topic = unique_topic("alter")
    create_topic(b.bootstrap, topic, 1, config={"segment.bytes": "2097152"})
    res = ConfigResource(ResourceType.TOPIC, topic, set_config={"retention.ms": "7200000"})
    a = admin(b.bootstrap)  # keep the client alive until its futures resolve
    fs = a.alter_configs([res], request_timeout=T)
    assert fs[res].result(timeout=T) is None

    cfg = describe_topic_configs(b.bootstrap, topic)
    assert cfg["retention.ms"].value == "7200000"
    assert source(cfg["retention.ms"]) == ConfigSource.DYNAMIC_TOPIC_CONFIG
    assert cfg["segment.bytes"].value == "1073741824", "AlterConfigs must reset unset configs to defaults"
    assert source(cfg["segment.bytes"]) == ConfigSource.DEFAULT_CONFIG


def test_incremental_alter_configs(live_module_broker):
    b = live_module_broker
    a = admin(b.bootstrap)
    topic = unique_topic("incr")
    create_topic(b.bootstrap, topic, 1, config={"segment.bytes": "2097152"})

    def incr(*entries):
        res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=list(entries))
        return a.incremental_alter_configs([res], request_timeout=T)[res]

    assert incr(ConfigEntry("retention.ms", "86400000", incremental_operation=AlterConfigOpType.SET)).result(timeout=T) is None
    cfg = describe_topic_configs(b.bootstrap, topic)
    assert cfg["retention.ms"].value == "86400000"
    assert source(cfg["retention.ms"]) == ConfigSource.DYNAMIC_TOPIC_CONFIG
    assert cfg["segment.bytes"].value == "2097152", "incremental alter must keep other configs"

    assert incr(ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE)).result(timeout=T) is None
    cfg = describe_topic_configs(b.bootstrap, topic)
    assert cfg["retention.ms"].value == "604800000"
    assert source(cfg["retention.ms"]) == ConfigSource.DEFAULT_CONFIG
    assert cfg["segment.bytes"].value == "2097152"

    err = kafka_error(incr(ConfigEntry("retention.ms", "abc", incremental_operation=AlterConfigOpType.SET)))
    assert err.code() == KafkaError.INVALID_CONFIG, err
    assert describe_topic_configs(b.bootstrap, topic)["retention.ms"].value == "604800000"

    # validate_only changes nothing.
    res = ConfigResource(
        ResourceType.TOPIC, topic,
        incremental_configs=[ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)],
    )
    a.incremental_alter_configs([res], validate_only=True, request_timeout=T)[res].result(timeout=T)
    assert describe_topic_configs(b.bootstrap, topic)["retention.ms"].value == "604800000"

    missing = ConfigResource(
        ResourceType.TOPIC, unique_topic("missing"),
        incremental_configs=[ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)],
    )
    err = kafka_error(a.incremental_alter_configs([missing], request_timeout=T)[missing])
    assert err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, err


def test_create_partitions(live_module_broker):
    b = live_module_broker
    a = admin(b.bootstrap)
    topic = unique_topic("grow")
    create_topic(b.bootstrap, topic, 2)
    recs = make_records(200, tag="before", partitions=2)
    check_produced(ck_produce(b.bootstrap, topic, recs), recs)

    fs = a.create_partitions([NewPartitions(topic, 5)], operation_timeout=T)
    assert fs[topic].result(timeout=T) is None
    wait_for_partitions(b.bootstrap, topic, 5)

    # Old partitions keep their data; new ones start empty at offset 0.
    assert watermarks(b.bootstrap, topic, 0) == (0, 100)
    assert watermarks(b.bootstrap, topic, 4) == (0, 0)
    more = make_records(500, tag="after", partitions=5)
    produced = ck_produce(b.bootstrap, topic, more)
    assert produced.count() == 500 and not produced.errors
    assert [o for o, _ in produced.expected(4)] == list(range(100))
    assert [o for o, _ in produced.expected(0)] == list(range(100, 200))

    err = kafka_error(a.create_partitions([NewPartitions(topic, 3)], operation_timeout=T)[topic])
    assert err.code() == KafkaError.INVALID_PARTITIONS, err
    nope = unique_topic("nope")
    err = kafka_error(only(a.create_partitions([NewPartitions(nope, 3)], operation_timeout=T)))
    assert err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, err
    # The same on the wire, with the topic name echoed.
    assert wire_call(b, w.create_partitions_v2(5, nope, 3), w.parse_create_partitions_v2)[0][:2] == (
        nope, w.ERR_UNKNOWN_TOPIC_OR_PARTITION)
    assert len(topic_partitions(b.bootstrap, topic)) == 5


def test_delete_records(live_module_broker):
    b = live_module_broker
    a = admin(b.bootstrap)
    topic = unique_topic("delrec")
    create_topic(b.bootstrap, topic, 2)
    records = make_records(2000, tag="dr", partitions=2)
    check_produced(ck_produce(b.bootstrap, topic, records, "zstd"), records)

    fs = a.delete_records([TopicPartition(topic, 0, 250), TopicPartition(topic, 1, -1)], operation_timeout=T)
    results = {tp.partition: f.result(timeout=T) for tp, f in fs.items()}
    assert results[0].low_watermark == 250
    assert results[1].low_watermark == 1000  # OFFSET_END: everything

    assert watermarks(b.bootstrap, topic, 0) == (250, 1000)
    assert watermarks(b.bootstrap, topic, 1) == (1000, 1000)
    lo = a.list_offsets({TopicPartition(topic, 0): OffsetSpec.earliest()}, request_timeout=T)
    assert next(iter(lo.values())).result(timeout=T).offset == 250

    # Reading from the new low watermark gives exactly the records from 250 on.
    exp = expected_from_records(records)
    consumed = ck_consume(b.bootstrap, topic, {0: 750, 1: 0}, start={0: 250, 1: 1000})
    check_consumed(consumed, {0: [x for x in exp[0] if x[0] >= 250], 1: []}, what="after delete_records:")

    # Below the low watermark is out of range.
    c = ck_consumer(b.bootstrap)
    try:
        c.assign([TopicPartition(topic, 0, 10)])
        def out_of_range():
            for m in c.consume(num_messages=100, timeout=0.5):
                e = m.error()
                assert e is None or e.code() in (KafkaError._PARTITION_EOF, KafkaError.OFFSET_OUT_OF_RANGE, KafkaError._AUTO_OFFSET_RESET), e
                assert e is not None, f"read offset {m.offset()} below the low watermark"
                if e.code() in (KafkaError.OFFSET_OUT_OF_RANGE, KafkaError._AUTO_OFFSET_RESET):
                    return True
        wait_for(out_of_range, 15, "OFFSET_OUT_OF_RANGE below the low watermark")
    finally:
        c.close()

    # Beyond the high watermark fails; moving backwards is a no-op.
    err = kafka_error(only(a.delete_records([TopicPartition(topic, 0, 5000)], operation_timeout=T)))
    assert err.code() == KafkaError.OFFSET_OUT_OF_RANGE, err
    # On the wire: low_watermark -1 with the error, as Kafka answers.
    (res,) = wire_call(b, w.delete_records_v2(6, topic, 0, 5000), w.parse_delete_records_v2)
    assert res == (topic, 0, -1, w.ERR_OFFSET_OUT_OF_RANGE), res
    res = only(a.delete_records([TopicPartition(topic, 0, 100)], operation_timeout=T)).result(timeout=T)
    assert res.low_watermark == 250

    # Produce continues at the high watermark.
    more = make_records(10, tag="dr2", partitions=2)
    produced = ck_produce(b.bootstrap, topic, more)
    assert [o for o, _ in produced.expected(1)] == list(range(1000, 1005))


def test_list_offsets(live_module_broker):
    b = live_module_broker
    a = admin(b.bootstrap)
    topic = unique_topic("lo")
    create_topic(b.bootstrap, topic, 1)
    records = make_records(1000, tag="lo", partitions=1)  # CreateTime BASE_TS + i
    check_produced(ck_produce(b.bootstrap, topic, records, "snappy"), records)
    tp = TopicPartition(topic, 0)

    def one(spec):
        return next(iter(a.list_offsets({tp: spec}, request_timeout=T).values())).result(timeout=T)

    assert one(OffsetSpec.earliest()).offset == 0
    assert one(OffsetSpec.latest()).offset == 1000
    r = one(OffsetSpec.for_timestamp(BASE_TS + 500))
    assert (r.offset, r.timestamp) == (500, BASE_TS + 500)
    assert one(OffsetSpec.for_timestamp(BASE_TS - 5)).offset == 0
    assert one(OffsetSpec.for_timestamp(BASE_TS + 10_000)).offset == -1
    r = one(OffsetSpec.max_timestamp())
    assert (r.offset, r.timestamp) == (999, BASE_TS + 999)


def test_delete_topics(live_module_broker):
    b = live_module_broker
    a = admin(b.bootstrap)
    topic = unique_topic("del")
    create_topic(b.bootstrap, topic, 3)
    records = make_records(300, tag="del", partitions=3)
    check_produced(ck_produce(b.bootstrap, topic, records), records)
    old_id = a.describe_topics(TopicCollection([topic]), request_timeout=T)[topic].result(timeout=T).topic_id

    fs = a.delete_topics([topic], operation_timeout=T)
    assert fs[topic].result(timeout=T) is None
    wait_for(lambda: topic not in topic_names(b.bootstrap), 20, f"{topic} to leave metadata")
    err = kafka_error(a.delete_topics([topic], operation_timeout=T)[topic])
    assert err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, err

    # Same name again: a new topic (new id), empty.
    create_topic(b.bootstrap, topic, 2)
    new_id = a.describe_topics(TopicCollection([topic]), request_timeout=T)[topic].result(timeout=T).topic_id
    assert str(new_id) != str(old_id)
    assert watermarks(b.bootstrap, topic, 0) == (0, 0)
    recs = make_records(20, tag="del2", partitions=2)
    check_produced(ck_produce(b.bootstrap, topic, recs), recs)
    check_consumed(ck_consume(b.bootstrap, topic, counts_of(recs)), expected_from_records(recs))


def test_describe_topics_and_cluster(live_module_broker):
    b = live_module_broker
    a = admin(b.bootstrap)
    topic = unique_topic("desc")
    create_topic(b.bootstrap, topic, 3)
    d = a.describe_topics(TopicCollection([topic]), request_timeout=T)[topic].result(timeout=T)
    assert d.name == topic
    assert str(d.topic_id) not in ("", "AAAAAAAAAAAAAAAAAAAAAA"), "topic id must not be the zero uuid"
    assert not d.is_internal
    assert [p.id for p in d.partitions] == [0, 1, 2]
    for p in d.partitions:
        assert p.leader.id == 1 and [r.id for r in p.replicas] == [1] and [r.id for r in p.isr] == [1]

    c = a.describe_cluster(request_timeout=T).result(timeout=T)
    assert c.cluster_id, "cluster id must be set"
    assert [(n.id, n.host, n.port) for n in c.nodes] == [(1, "127.0.0.1", b.port)]
    assert c.controller is not None and c.controller.id == 1

    md = a.list_topics(timeout=10)
    assert md.cluster_id == c.cluster_id
    assert [(n.id, n.host, n.port) for n in md.brokers.values()] == [(1, "127.0.0.1", b.port)]
    assert md.controller_id == 1
