"""Helpers shared by the interop tests: topic admin, deterministic records, and one
produce/consume implementation per client library (confluent-kafka, kafka-python, aiokafka).

Consumers never join a group: they assign partitions explicitly and start at given offsets
(Strom has no group coordinator yet). Producers never use idempotence.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Iterable

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

log = logging.getLogger("strom-interop")

CLIENTS = ("confluent", "kafka-python", "aiokafka")
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
# CreateTime of record 0, ms: on the hour one to two hours ago. Not a fixed date: time-based
# retention (retention.ms, 7 days by default) rightly deletes rolled segments whose newest
# timestamp is older than that, as Kafka does.
BASE_TS = (int(time.time()) // 3600 - 1) * 3600 * 1000

# ------------------------------------------------------------------------------------------------
# small utilities


def unique_topic(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_for(cond: Callable[[], object], timeout: float, what: str, interval: float = 0.1):
    """Poll cond() until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = cond()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - reported below
            last_exc = e
        if time.monotonic() > deadline:
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{extra}")
        time.sleep(interval)


def admin(bootstrap: str, **conf) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000, **conf})


def topic_partitions(bootstrap: str, topic: str, timeout: float = 10.0) -> dict:
    """Metadata for one topic via confluent-kafka: {partition id: PartitionMetadata}."""
    md = admin(bootstrap).list_topics(topic=topic, timeout=timeout)
    t = md.topics.get(topic)
    if t is None:
        raise AssertionError(f"topic {topic} not in metadata")
    if t.error is not None:
        raise KafkaException(t.error)
    return t.partitions


def create_topic(
    bootstrap: str,
    topic: str,
    partitions: int = 3,
    config: dict[str, str] | None = None,
    timeout: float = 20.0,
) -> None:
    """CreateTopics through AdminClient, then wait until Metadata shows every partition led by
    node 1."""
    a = admin(bootstrap)
    fs = a.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=timeout,
        request_timeout=timeout,
    )
    fs[topic].result(timeout=timeout + 5)
    wait_for_partitions(bootstrap, topic, partitions, timeout)


def wait_for_partitions(bootstrap: str, topic: str, partitions: int, timeout: float = 20.0):
    def ready():
        ps = topic_partitions(bootstrap, topic, timeout=5)
        return len(ps) == partitions and all(p.leader == 1 and p.error is None for p in ps.values())

    wait_for(ready, timeout, f"metadata of {topic} to show {partitions} partitions led by node 1")


def watermarks(bootstrap: str, topic: str, partition: int, timeout: float = 10.0) -> tuple[int, int]:
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"strom-wm-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
    finally:
        c.close()


# ------------------------------------------------------------------------------------------------
# deterministic records


@dataclass(frozen=True)
class Rec:
    partition: int
    key: bytes | None
    value: bytes | None
    headers: tuple  # ((str, bytes), ...) in order, duplicates allowed
    ts: int  # CreateTime, ms

    def short(self) -> str:
        v = self.value if self.value is None or len(self.value) < 40 else self.value[:40] + b"..."
        return f"Rec(p={self.partition}, key={self.key!r}, value={v!r}, headers={self.headers}, ts={self.ts})"


_rng = random.Random(20240601)
# Half text (compressible), half arbitrary bytes (every byte value, incl. invalid UTF-8).
_PAYLOAD = (b"strom says hello to kafka clients; " * 40)[:1024] + bytes(_rng.randrange(256) for _ in range(1024))


def make_records(n: int, tag: str, partitions: int = 3) -> list[Rec]:
    """n records, round-robin over partitions, with keys, headers and varied values.

    Edge cases mixed in: null values (tombstones), empty values, no headers at all, duplicate
    header keys (order must be kept), empty header values, binary bytes, values up to ~1 KiB.
    """
    out = []
    for i in range(n):
        key = f"{tag}-key-{i:08d}".encode()
        if i % 997 == 5:
            value = None
        elif i % 991 == 7:
            value = b""
        else:
            start = (i * 37) % 1024
            length = (i * 7919) % 1000 if i % 50 == 0 else (i % 200)
            value = f"{tag}|{i}|".encode() + _PAYLOAD[start : start + length]
        if i % 11 == 3:
            headers = ()
        else:
            headers = [("i", str(i).encode()), ("tag", tag.encode())]
            if i % 3 == 0:
                headers += [("dup", b"first"), ("dup", b"second")]
            if i % 5 == 0:
                headers.append(("empty", b""))
            if i % 7 == 0:
                headers.append(("bin\u00e9", _PAYLOAD[1024 + i % 500 : 1024 + i % 500 + 16]))
            headers = tuple(headers)
        out.append(Rec(i % partitions, key, value, headers, BASE_TS + i))
    return out


def index_of(rec: Rec) -> int:
    return int(rec.key.rsplit(b"-", 1)[1])


def norm_headers(h) -> tuple:
    if not h:
        return ()
    return tuple((k if isinstance(k, str) else k.decode(), bytes(v) if v is not None else None) for k, v in h)


# ------------------------------------------------------------------------------------------------
# results and checks


class Produced:
    """What a producer got acknowledged: per partition, offset -> record."""

    def __init__(self):
        self.by_partition: dict[int, dict[int, Rec]] = {}
        self.errors: list[str] = []

    def ack(self, rec: Rec, partition: int, offset: int):
        d = self.by_partition.setdefault(partition, {})
        if offset in d:
            self.errors.append(f"offset {offset} of partition {partition} acknowledged twice")
        d[offset] = rec

    def count(self) -> int:
        return sum(len(d) for d in self.by_partition.values())

    def expected(self, partition: int) -> list[tuple[int, Rec]]:
        return sorted(self.by_partition.get(partition, {}).items())


def check_produced(produced: Produced, records: list[Rec], start_offset: int = 0):
    """Every record acknowledged, in the partition asked for, at offsets start..start+n-1 in
    production order (one producer, one fresh topic)."""
    assert not produced.errors, produced.errors[:10]
    assert produced.count() == len(records), f"acknowledged {produced.count()} of {len(records)}"
    want: dict[int, list[Rec]] = {}
    for r in records:
        want.setdefault(r.partition, []).append(r)
    for p, recs in want.items():
        got = produced.expected(p)
        offsets = [o for o, _ in got]
        assert offsets == list(range(start_offset, start_offset + len(recs))), (
            f"partition {p}: acknowledged offsets are not {start_offset}..{start_offset + len(recs) - 1}: "
            f"first {offsets[:5]} last {offsets[-5:]}"
        )
        for (o, g), r in zip(got, recs):
            assert g == r, f"partition {p} offset {o}: acknowledged {g.short()} but sent {r.short()} here (order)"


def check_consumed(
    consumed: dict[int, list[tuple[int, Rec]]],
    expected: dict[int, list[tuple[int, Rec]]],
    what: str = "",
):
    """consumed and expected: partition -> [(offset, Rec)] in read order. Exact match."""
    for p in sorted(set(expected) | set(consumed)):
        want = expected.get(p, [])
        got = consumed.get(p, [])
        for idx, (w, g) in enumerate(zip(want, got)):
            if w != g:
                raise AssertionError(
                    f"{what} partition {p}, record #{idx}: expected offset {w[0]} {w[1].short()}\n"
                    f"  but read offset {g[0]} {g[1].short()}"
                )
        assert len(got) == len(want), (
            f"{what} partition {p}: read {len(got)} records, expected {len(want)} "
            f"(last read offset {got[-1][0] if got else None}, "
            f"last expected {want[-1][0] if want else None})"
        )


def expected_from_records(records: Iterable[Rec], start_offset: int = 0) -> dict[int, list[tuple[int, Rec]]]:
    exp: dict[int, list[tuple[int, Rec]]] = {}
    for r in records:
        lst = exp.setdefault(r.partition, [])
        lst.append((start_offset + len(lst), r))
    return exp


# ------------------------------------------------------------------------------------------------
# confluent-kafka (librdkafka)


def ck_producer(bootstrap: str, **conf) -> Producer:
    base = {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": False,
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": 60000,
        "queue.buffering.max.messages": 500000,
        "queue.buffering.max.kbytes": 512 * 1024,
    }
    base.update(conf)
    return Producer(base)


def ck_produce(bootstrap: str, topic: str, records: list[Rec], codec: str = "none", timeout: float = 180, **conf) -> Produced:
    produced = Produced()
    by_key = {r.key: r for r in records}
    p = ck_producer(bootstrap, **{"compression.type": codec}, **conf)

    def on_delivery(err, msg):
        if err is not None:
            produced.errors.append(f"delivery failed for key {msg.key()!r}: {err}")
            return
        produced.ack(by_key[msg.key()], msg.partition(), msg.offset())

    deadline = time.monotonic() + timeout
    for r in records:
        while True:
            try:
                p.produce(
                    topic,
                    value=r.value,
                    key=r.key,
                    partition=r.partition,
                    headers=list(r.headers) if r.headers else None,
                    timestamp=r.ts,
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                p.poll(0.05)
                assert time.monotonic() < deadline, "producer queue stayed full"
        p.poll(0)
    left = p.flush(max(1.0, deadline - time.monotonic()))
    assert left == 0, f"{left} records not delivered within {timeout} s; errors: {produced.errors[:5]}"
    return produced


def ck_rec(msg) -> Rec:
    ts_type, ts = msg.timestamp()
    from confluent_kafka import TIMESTAMP_CREATE_TIME

    assert ts_type == TIMESTAMP_CREATE_TIME, f"timestamp type {ts_type} at offset {msg.offset()}"
    return Rec(msg.partition(), msg.key(), msg.value(), norm_headers(msg.headers()), ts)


def ck_consumer(bootstrap: str, **conf) -> Consumer:
    base = {
        "bootstrap.servers": bootstrap,
        # librdkafka needs a group.id even for assign(); nothing is committed and no group is
        # joined (assign() with explicit offsets, no commits).
        "group.id": f"strom-interop-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "error",
    }
    base.update(conf)
    return Consumer(base)


def ck_consume(
    bootstrap: str,
    topic: str,
    counts: dict[int, int],
    start: dict[int, int] | None = None,
    timeout: float = 180,
    **conf,
) -> dict[int, list[tuple[int, Rec]]]:
    """Read `counts[p]` records from each partition p starting at start[p] (default 0), then
    until end of partition. Returns partition -> [(offset, Rec)]."""
    start = start or {}
    c = ck_consumer(bootstrap, **conf)
    out: dict[int, list[tuple[int, Rec]]] = {p: [] for p in counts}
    eof_after_enough = set()
    errors = []
    try:
        c.assign([TopicPartition(topic, p, start.get(p, 0)) for p in counts])
        deadline = time.monotonic() + timeout
        while len(eof_after_enough) < len(counts):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"consume timed out after {timeout} s: read "
                    f"{ {p: len(v) for p, v in out.items()} } of {counts}; errors: {errors[:5]}"
                )
            for m in c.consume(num_messages=10000, timeout=0.5):
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        if len(out.get(m.partition(), ())) >= counts.get(m.partition(), 0):
                            eof_after_enough.add(m.partition())
                        continue
                    if err.fatal() or m.topic() == topic:
                        raise AssertionError(f"consumer error on {m.topic()}[{m.partition()}]: {err}")
                    errors.append(str(err))
                    continue
                out.setdefault(m.partition(), []).append((m.offset(), ck_rec(m)))
    finally:
        c.close()
    return out


# ------------------------------------------------------------------------------------------------
# kafka-python


def kp_produce(bootstrap: str, topic: str, records: list[Rec], codec: str = "none", timeout: float = 300) -> Produced:
    from kafka import KafkaProducer

    p = KafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=False,  # kafka-python 3 defaults to True; Strom has no InitProducerId yet
        acks="all",
        compression_type=None if codec == "none" else codec,
        linger_ms=5,
        batch_size=256 * 1024,
        max_request_size=4 * 1024 * 1024,
        request_timeout_ms=30000,
    )
    produced = Produced()
    try:
        futs = []
        for r in records:
            futs.append(
                (
                    r,
                    p.send(
                        topic,
                        value=r.value,
                        key=r.key,
                        headers=list(r.headers),
                        partition=r.partition,
                        timestamp_ms=r.ts,
                    ),
                )
            )
        p.flush(timeout=timeout)
        for r, f in futs:
            md = f.get(timeout=10)
            produced.ack(r, md.partition, md.offset)
    finally:
        p.close(timeout=10)
    return produced


def kp_consume(
    bootstrap: str,
    topic: str,
    counts: dict[int, int],
    start: dict[int, int] | None = None,
    timeout: float = 300,
) -> dict[int, list[tuple[int, Rec]]]:
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP

    start = start or {}
    c = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="none",
        fetch_max_bytes=16 * 1024 * 1024,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        request_timeout_ms=30000,
    )
    out: dict[int, list[tuple[int, Rec]]] = {p: [] for p in counts}
    try:
        tps = [KTP(topic, p) for p in counts]
        c.assign(tps)
        for tp in tps:
            c.seek(tp, start.get(tp.partition, 0))
        deadline = time.monotonic() + timeout
        while any(len(out[p]) < n for p, n in counts.items()):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"consume timed out after {timeout} s: read {({p: len(v) for p, v in out.items()})} of {counts}"
                )
            for tp, msgs in c.poll(timeout_ms=500, max_records=20000).items():
                for m in msgs:
                    assert m.timestamp_type == 0, f"timestamp type {m.timestamp_type} at offset {m.offset}"
                    out.setdefault(tp.partition, []).append(
                        (m.offset, Rec(tp.partition, m.key, m.value, norm_headers(m.headers), m.timestamp))
                    )
        # Nothing beyond what was expected: one more short poll must be empty.
        for tp, msgs in c.poll(timeout_ms=300).items():
            for m in msgs:
                out[tp.partition].append((m.offset, Rec(tp.partition, m.key, m.value, norm_headers(m.headers), m.timestamp)))
    finally:
        c.close()
    return out


# ------------------------------------------------------------------------------------------------
# aiokafka


def ak_produce(bootstrap: str, topic: str, records: list[Rec], codec: str = "none", timeout: float = 300) -> Produced:
    from aiokafka import AIOKafkaProducer

    async def run():
        p = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            enable_idempotence=False,
            acks="all",
            compression_type=None if codec == "none" else codec,
            linger_ms=5,
            max_batch_size=256 * 1024,
            max_request_size=4 * 1024 * 1024,
            request_timeout_ms=30000,
        )
        await p.start()
        produced = Produced()
        try:
            futs = []
            for r in records:
                fut = await p.send(
                    topic,
                    value=r.value,
                    key=r.key,
                    partition=r.partition,
                    timestamp_ms=r.ts,
                    headers=list(r.headers),
                )
                futs.append((r, fut))
            await p.flush()
            for r, fut in futs:
                md = await fut
                produced.ack(r, md.partition, md.offset)
        finally:
            await p.stop()
        return produced

    return asyncio.run(asyncio.wait_for(run(), timeout))


def ak_consume(
    bootstrap: str,
    topic: str,
    counts: dict[int, int],
    start: dict[int, int] | None = None,
    timeout: float = 300,
) -> dict[int, list[tuple[int, Rec]]]:
    from aiokafka import AIOKafkaConsumer
    from aiokafka import TopicPartition as ATP

    start = start or {}

    async def run():
        c = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="none",
            fetch_max_bytes=16 * 1024 * 1024,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            request_timeout_ms=30000,
        )
        await c.start()
        out: dict[int, list[tuple[int, Rec]]] = {p: [] for p in counts}
        try:
            tps = [ATP(topic, p) for p in counts]
            c.assign(tps)
            for tp in tps:
                c.seek(tp, start.get(tp.partition, 0))
            while any(len(out[p]) < n for p, n in counts.items()):
                data = await c.getmany(timeout_ms=500, max_records=20000)
                for tp, msgs in data.items():
                    for m in msgs:
                        assert m.timestamp_type == 0, f"timestamp type {m.timestamp_type} at offset {m.offset}"
                        out[tp.partition].append(
                            (m.offset, Rec(tp.partition, m.key, m.value, norm_headers(m.headers), m.timestamp))
                        )
            for tp, msgs in (await c.getmany(timeout_ms=300)).items():
                for m in msgs:
                    out[tp.partition].append((m.offset, Rec(tp.partition, m.key, m.value, norm_headers(m.headers), m.timestamp)))
        finally:
            await c.stop()
        return out

    try:
        return asyncio.run(asyncio.wait_for(run(), timeout))
    except asyncio.TimeoutError:
        raise AssertionError(f"aiokafka consume timed out after {timeout} s") from None


PRODUCE = {"confluent": ck_produce, "kafka-python": kp_produce, "aiokafka": ak_produce}
CONSUME = {"confluent": ck_consume, "kafka-python": kp_consume, "aiokafka": ak_consume}


def counts_of(records: Iterable[Rec]) -> dict[int, int]:
    c: dict[int, int] = {}
    for r in records:
        c[r.partition] = c.get(r.partition, 0) + 1
    return c
