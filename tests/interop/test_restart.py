"""Restarts: kill -9 in the middle of a produce loop (acks=1) and clean SIGTERM restarts.

kill -9 does not drop the page cache, so these tests check recovery and offset bookkeeping,
not fsync: every acknowledged record must be readable at its acknowledged offset afterwards,
and new records must never reuse an offset.
"""

from __future__ import annotations

import re
import time

from confluent_kafka import TopicCollection, TopicPartition
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from strom_kafka import (
    Rec,
    admin,
    check_consumed,
    check_produced,
    ck_consume,
    ck_produce,
    ck_producer,
    counts_of,
    create_topic,
    expected_from_records,
    make_records,
    topic_partitions,
    unique_topic,
    watermarks,
)

T = 20


def topic_id(bootstrap, topic):
    a = admin(bootstrap)  # keep the client alive until its futures resolve
    d = a.describe_topics(TopicCollection([topic]), request_timeout=T)[topic].result(timeout=T)
    return str(d.topic_id)


def topic_config(bootstrap, topic):
    res = ConfigResource(ResourceType.TOPIC, topic)
    a = admin(bootstrap)  # keep the client alive until its futures resolve
    return a.describe_configs([res], request_timeout=T)[res].result(timeout=T)


class AckLog:
    """Acknowledged (partition, offset) -> record, across producers and restarts."""

    def __init__(self):
        self.acked: dict[tuple[int, int], Rec] = {}
        self.reused: list[str] = []
        self.failed = 0

    def callback(self, by_key):
        def on_delivery(err, msg):
            if err is not None:
                self.failed += 1
                return
            k = (msg.partition(), msg.offset())
            rec = by_key[msg.key()]
            if k in self.acked and self.acked[k] != rec:
                self.reused.append(f"partition {k[0]} offset {k[1]}: {self.acked[k].key!r} then {rec.key!r}")
            self.acked[k] = rec

        return on_delivery


def verify_acked(bootstrap, topic, partitions, acks: AckLog, what: str):
    """Every acknowledged record is at its offset; the log has no holes below the high
    watermark. Returns the high watermarks."""
    assert not acks.reused, f"{what}: offsets acknowledged for two different records: {acks.reused[:5]}"
    hws = {}
    for p in range(partitions):
        lo, hi = watermarks(bootstrap, topic, p)
        assert lo == 0, f"{what}: partition {p} low watermark {lo}"
        hws[p] = hi
        top = max((o for (pp, o) in acks.acked if pp == p), default=-1)
        assert hi > top, f"{what}: partition {p} high watermark {hi} but offset {top} was acknowledged"
    consumed = ck_consume(bootstrap, topic, hws)
    lost = []
    for p in range(partitions):
        offs = [o for o, _ in consumed[p]]
        assert offs == list(range(hws[p])), f"{what}: partition {p} offsets are not 0..{hws[p] - 1} (holes or repeats)"
        got = dict(consumed[p])
        for (pp, o), rec in acks.acked.items():
            if pp == p and got.get(o) != rec:
                lost.append(f"p{p}@{o}: acked {rec.short()}, read {got[o].short() if o in got else None}")
    assert not lost, f"{what}: acknowledged records lost or changed: {len(lost)} of {len(acks.acked)}: {lost[:5]}"
    return hws


def test_kill9_during_produce(broker):
    """acks=1, kill -9 while producing, restart; 3 rounds. Every acknowledged record survives,
    and produce resumes at the high watermark without reusing an offset."""
    partitions = 3
    rounds = 3
    topic = unique_topic("kill9")
    create_topic(broker.bootstrap, topic, partitions, config={"segment.bytes": "1048576"})
    tid = topic_id(broker.bootstrap, topic)
    acks = AckLog()
    total_sent = 0

    for rnd in range(rounds):
        records = make_records(40_000, tag=f"kill9-r{rnd}", partitions=partitions)
        by_key = {r.key: r for r in records}
        cb = acks.callback(by_key)
        p = ck_producer(
            broker.bootstrap,
            acks=1,
            **{"linger.ms": 2, "message.timeout.ms": 4000, "retry.backoff.ms": 100, "socket.timeout.ms": 3000},
        )
        acked_before = len(acks.acked)
        killed_at = None
        deadline = time.monotonic() + 60
        for r in records:
            while True:
                try:
                    p.produce(topic, value=r.value, key=r.key, partition=r.partition,
                              headers=list(r.headers) or None, timestamp=r.ts, on_delivery=cb)
                    break
                except BufferError:
                    p.poll(0.05)
            total_sent += 1
            p.poll(0)
            if killed_at is None and len(acks.acked) - acked_before >= 15_000:
                broker.kill()
                killed_at = len(acks.acked)
            if time.monotonic() > deadline:
                break
        if killed_at is None:
            broker.kill()
            killed_at = len(acks.acked)
        p.flush(15)  # what is still queued fails with message.timeout.ms while the broker is down
        assert len(p) == 0, f"round {rnd}: {len(p)} records neither acknowledged nor failed"
        del p

        broker.restart(clean=False)
        assert topic_id(broker.bootstrap, topic) == tid, "topic id changed across kill -9"
        hws = verify_acked(broker.bootstrap, topic, partitions, acks, f"after kill -9 #{rnd + 1}")

        # New produce continues exactly at the high watermark.
        more = make_records(300, tag=f"after-r{rnd}", partitions=partitions)
        produced = ck_produce(broker.bootstrap, topic, more, acks=1)
        for part in range(partitions):
            offs = [o for o, _ in produced.expected(part)]
            assert offs == list(range(hws[part], hws[part] + len(offs))), (
                f"round {rnd}: new records in partition {part} got offsets {offs[:3]}..., "
                f"expected from the high watermark {hws[part]}"
            )
            for o, rec in produced.expected(part):
                acks.acked[(part, o)] = rec

    verify_acked(broker.bootstrap, topic, partitions, acks, "at the end")
    print(
        f"kill -9: acknowledged records lost: 0 of {len(acks.acked)} over {rounds} restarts "
        f"({total_sent} sent, {acks.failed} failed delivery while the broker was down)"
    )


def test_ack_checker_sees_loss():
    """Control: the checker used above reports a record that is not where it was acked."""
    acks = AckLog()
    r1, r2 = make_records(2, tag="ctl", partitions=1)

    class Msg:
        def __init__(self, o, k):
            self.o, self.k = o, k

        def partition(self):
            return 0

        def offset(self):
            return self.o

        def key(self):
            return self.k

    cb = acks.callback({r1.key: r1, r2.key: r2})
    cb(None, Msg(0, r1.key))
    cb(None, Msg(0, r2.key))
    assert acks.reused, "reused offset not detected"


def test_clean_restart_keeps_topics_configs_ids_and_data(broker):
    a = admin(broker.bootstrap)
    t1 = unique_topic("keep1")
    t2 = unique_topic("keep2")
    # retention.ms 30 days: the records carry CreateTimes one to two hours old (BASE_TS).
    create_topic(broker.bootstrap, t1, 3, config={"retention.ms": "2592000000", "segment.bytes": "1048576"})
    create_topic(broker.bootstrap, t2, 1)
    # A config set after creation, and one deleted topic that must stay deleted.
    res = ConfigResource(ResourceType.TOPIC, t2, incremental_configs=[
        ConfigEntry("max.message.bytes", "2000000", incremental_operation=AlterConfigOpType.SET)])
    a.incremental_alter_configs([res], request_timeout=T)[res].result(timeout=T)
    gone = unique_topic("gone")
    create_topic(broker.bootstrap, gone, 1)
    a.delete_topics([gone], operation_timeout=T)[gone].result(timeout=T)

    r1 = make_records(30_000, tag="keep1", partitions=3)  # ~4 MB: several 1 MiB segments
    r2 = make_records(1000, tag="keep2", partitions=1)
    check_produced(ck_produce(broker.bootstrap, t1, r1, "none"), r1)
    check_produced(ck_produce(broker.bootstrap, t2, r2, "gzip"), r2)
    ids = {t: topic_id(broker.bootstrap, t) for t in (t1, t2)}

    broker.restart(clean=True)

    names = set(admin(broker.bootstrap).list_topics(timeout=10).topics)
    assert {t1, t2} <= names, f"topics lost across a clean restart: {names}"
    assert gone not in names, "a deleted topic came back after restart"
    assert len(topic_partitions(broker.bootstrap, t1)) == 3
    assert {t: topic_id(broker.bootstrap, t) for t in (t1, t2)} == ids, "topic ids changed across restart"
    c1 = topic_config(broker.bootstrap, t1)
    assert c1["retention.ms"].value == "2592000000"
    assert c1["segment.bytes"].value == "1048576"
    assert topic_config(broker.bootstrap, t2)["max.message.bytes"].value == "2000000"

    check_consumed(ck_consume(broker.bootstrap, t1, counts_of(r1)), expected_from_records(r1), what="t1 after restart:")
    check_consumed(ck_consume(broker.bootstrap, t2, counts_of(r2)), expected_from_records(r2), what="t2 after restart:")

    more = make_records(30, tag="keep1-more", partitions=3)
    produced = ck_produce(broker.bootstrap, t1, more)
    assert [o for o, _ in produced.expected(0)] == list(range(10_000, 10_010))

    # And a second restart, after appending past the recovery point.
    broker.restart(clean=True)
    exp = expected_from_records(r1)
    for part in range(3):
        exp[part] += [(10_000 + i, rec) for i, (_, rec) in enumerate(produced.expected(part))]
    check_consumed(ck_consume(broker.bootstrap, t1, {p: 10_010 for p in range(3)}), exp, what="t1 after 2nd restart:")


def test_clean_restart_keeps_log_start_offset(broker):
    topic = unique_topic("lso")
    create_topic(broker.bootstrap, topic, 1)
    recs = make_records(500, tag="lso", partitions=1)
    check_produced(ck_produce(broker.bootstrap, topic, recs), recs)
    a = admin(broker.bootstrap)  # keep the client alive until its futures resolve
    fs = a.delete_records([TopicPartition(topic, 0, 123)], operation_timeout=T)
    assert next(iter(fs.values())).result(timeout=T).low_watermark == 123
    broker.restart(clean=True)
    assert watermarks(broker.bootstrap, topic, 0) == (123, 500)


def test_clean_shutdown_disk_layout(broker):
    """After SIGTERM the data dir has Kafka's layout (DESIGN.md, Disk)."""
    topic = unique_topic("layout")
    create_topic(broker.bootstrap, topic, 2)
    recs = make_records(100, tag="layout", partitions=2)
    check_produced(ck_produce(broker.bootstrap, topic, recs), recs)
    broker.stop()
    d = broker.data_dir
    names = {p.name for p in d.iterdir()}
    assert "meta.properties" in names, names
    assert ".kafka_cleanshutdown" in names, f"no clean-shutdown marker in {d}: {sorted(names)}"
    for part in (0, 1):
        pd = d / f"{topic}-{part}"
        assert pd.is_dir(), f"{pd} missing; {sorted(names)}"
        files = {p.name for p in pd.iterdir()}
        for suffix in (".log", ".index", ".timeindex"):
            assert any(re.fullmatch(r"\d{20}" + re.escape(suffix), f) for f in files), (suffix, files)
        assert "00000000000000000000.log" in files
    broker.start()
    check_consumed(ck_consume(broker.bootstrap, topic, counts_of(recs)), expected_from_records(recs))
