"""Idempotent producers under faults (issue 6): numbered records are sent while the broker is
killed with SIGKILL and restarted and while every client connection is cut mid-request (by a
TCP proxy on loopback that the clients are pointed at). Afterwards the log must hold every
acknowledged record exactly once, in send order per partition. A control run with idempotence
off under the same faults must show duplicates, proving the faults bite and the checker sees
them.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections import Counter, defaultdict

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from conftest import free_port
from strom_kafka import create_topic, unique_topic

PARTITIONS = 3
FAULTS_MAX = 24
FAULT_INTERVAL_S = 0.4
RUN_SECONDS_MAX = 120


class CuttingProxy:
    """Forwards 127.0.0.1:<port> to the broker. `cut_all()` makes every open connection drop
    the broker's responses for a moment while the client's requests still reach the broker,
    then closes it: requests are processed but their answers are lost, the case retries
    without idempotence duplicate."""

    BLACKHOLE_S = 0.15

    def __init__(self, target_port: int):
        self.port = free_port()
        self.target_port = target_port
        self.lock = threading.Lock()
        self.pairs: list[dict] = []
        self.srv = socket.create_server(("127.0.0.1", self.port))
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
            except OSError:
                c.close()
                continue
            pair = {"c": c, "u": u, "drop": False}
            with self.lock:
                self.pairs.append(pair)
            threading.Thread(target=self._pump, args=(c, u, pair, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, pair, True), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, pair: dict, is_response: bool):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if is_response and pair["drop"]:
                    continue
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut_all(self) -> int:
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for p in pairs:
            p["drop"] = True
        time.sleep(self.BLACKHOLE_S)
        for p in pairs:
            for s in (p["c"], p["u"]):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
        return len(pairs)

    def close(self):
        self.closed = True
        self.srv.close()
        self.cut_all()


def run_faults(broker, proxy, stop: threading.Event, log: list[str]):
    rnd = random.Random(7)
    n = 0
    while not stop.is_set() and n < FAULTS_MAX:
        time.sleep(FAULT_INTERVAL_S * (0.5 + rnd.random()))
        if stop.is_set():
            break
        n += 1
        if n % 4 == 0:
            broker.kill()
            broker.start()
            log.append("kill -9 + restart")
        else:
            log.append(f"cut {proxy.cut_all()} connections")


def produce_confluent(bootstrap, topic, count, idempotent: bool):
    conf = {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "linger.ms": 5,
        "batch.num.messages": 500,
        "message.timeout.ms": 90_000,
        "socket.timeout.ms": 3_000,
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 500,
        "enable.idempotence": idempotent,
    }
    if not idempotent:
        conf.update({"retries": 1_000_000, "max.in.flight.requests.per.connection": 5})
    p = Producer(conf)
    acked: dict[bytes, tuple[int, int]] = {}
    errors = []

    def cb(err, msg):
        if err is not None:
            errors.append(err)
        else:
            acked[msg.value()] = (msg.partition(), msg.offset())

    start = time.monotonic()
    for i in range(count):
        part = i % PARTITIONS
        while True:
            try:
                p.produce(topic, key=b"k%d" % i, value=b"%d:%09d" % (part, i), partition=part, on_delivery=cb)
                break
            except BufferError:
                p.poll(0.05)
        if i % 2000 == 0:
            p.poll(0)
            # Pace the sends so that production overlaps the faults (~10 s in all).
            ahead = i / 20_000 - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
    left = p.flush(RUN_SECONDS_MAX)
    return acked, errors, left


def produce_kafka_python(bootstrap, topic, count, idempotent: bool):
    import kafka

    p = kafka.KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=idempotent,
        linger_ms=5,
        retries=1_000_000,
        request_timeout_ms=5_000,
        reconnect_backoff_ms=50,
        max_block_ms=60_000,
    )
    acked: dict[bytes, tuple[int, int]] = {}
    errors = []
    futures = []
    start = time.monotonic()
    for i in range(count):
        part = i % PARTITIONS
        v = b"%d:%09d" % (part, i)
        futures.append((v, p.send(topic, key=b"k%d" % i, value=v, partition=part)))
        if i % 1000 == 0:
            ahead = i / 4_000 - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
    p.flush(timeout=RUN_SECONDS_MAX)
    left = 0
    for v, f in futures:
        if not f.is_done:
            left += 1
        elif f.failed():
            errors.append(f.exception)
        else:
            md = f.value
            acked[v] = (md.partition, md.offset)
    p.close(timeout=10)
    return acked, errors, left


def read_all(bootstrap, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False, "enable.partition.eof": True, "auto.offset.reset": "error"})
    out: dict[int, list[tuple[int, bytes]]] = defaultdict(list)
    try:
        hw = {}
        for p in range(PARTITIONS):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            assert lo == 0, f"partition {p} low watermark {lo}"
            hw[p] = hi
        c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        done = {p for p in range(PARTITIONS) if hw[p] == 0}
        deadline = time.monotonic() + 60
        while len(done) < PARTITIONS and time.monotonic() < deadline:
            for m in c.consume(1000, timeout=1):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        if m.offset() >= hw[m.partition()]:
                            done.add(m.partition())
                        continue
                    raise AssertionError(f"consume error {m.error()}")
                out[m.partition()].append((m.offset(), m.value()))
        assert len(done) == PARTITIONS, f"did not reach the end of every partition: {done} of {hw}"
    finally:
        c.close()
    return out


def check_log(log, acked):
    """(duplicates, missing acked, order violations, wrong offsets)."""
    seen = Counter(v for recs in log.values() for _, v in recs)
    dups = sum(n - 1 for n in seen.values() if n > 1)
    missing = [v for v in acked if seen[v] == 0]
    disorder = 0
    for part, recs in log.items():
        nums = [int(v.split(b":")[1]) for _, v in recs]
        disorder += sum(1 for a, b in zip(nums, nums[1:]) if b <= a)
        assert all(int(v.split(b":")[0]) == part for _, v in recs), f"record in the wrong partition {part}"
    where = {v: (p, o) for p, recs in log.items() for o, v in recs}
    wrong = [v for v, po in acked.items() if seen[v] == 1 and where[v] != po]
    return dups, missing, disorder, wrong


def faulty_run(broker_factory, idempotent: bool, count: int, producer=produce_confluent):
    # Brokers advertise the proxy, so every client connection goes through it.
    b = broker_factory({"num.partitions": str(PARTITIONS)})
    proxy = CuttingProxy(b.port)
    b.overrides["advertised.listeners"] = f"PLAINTEXT://127.0.0.1:{proxy.port}"
    b.restart()
    topic = unique_topic("idem" if idempotent else "ctrl")
    create_topic(b.bootstrap, topic, PARTITIONS)
    # Faults run on this thread: a broker started from a short-lived thread would get the
    # harness's parent-death SIGKILL when that thread ends.
    stop = threading.Event()
    faults: list[str] = []
    result: dict = {}

    def produce():
        try:
            result["r"] = producer(f"127.0.0.1:{proxy.port}", topic, count, idempotent)
        except BaseException as e:  # reported below
            result["e"] = e
        finally:
            stop.set()

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    run_faults(b, proxy, stop, faults)
    t.join(RUN_SECONDS_MAX + 30)
    if not b.running():
        b.start()
    assert not t.is_alive(), "producer did not finish"
    if "e" in result:
        raise result["e"]
    acked, errors, left = result["r"]
    log = read_all(b.bootstrap, topic)
    proxy.close()
    return acked, errors, left, log, faults


def test_idempotent_confluent_producer_survives_kills_and_cuts(broker_factory):
    count = 200_000
    acked, errors, left, log, faults = faulty_run(broker_factory, True, count)
    kills = sum(1 for f in faults if f.startswith("kill"))
    print(f"faults: {len(faults)} ({kills} kill -9 restarts); acknowledged {len(acked)} of {count}; delivery errors {len(errors)}")
    assert kills >= 2 and len(faults) >= 8, f"too few faults injected: {faults}"
    assert left == 0, f"{left} records still unacknowledged after flush"
    assert not errors, f"delivery errors: {errors[:5]}"
    dups, missing, disorder, wrong = check_log(log, acked)
    total = sum(len(r) for r in log.values())
    print(f"log holds {total} records: duplicates {dups}, acknowledged but missing {len(missing)}, out of order {disorder}")
    assert len(acked) == count
    assert missing == [], f"{len(missing)} acknowledged records lost, e.g. {missing[:3]}"
    assert dups == 0, f"{dups} duplicates with idempotence on"
    assert disorder == 0, f"{disorder} records out of send order"
    assert wrong == [], f"{len(wrong)} records at another offset than acknowledged"
    assert total == count


def test_idempotent_kafka_python_producer_survives_kills_and_cuts(broker_factory):
    count = 30_000  # a pure-Python producer: fewer records, the same ~8 s of faults
    acked, errors, left, log, faults = faulty_run(broker_factory, True, count, produce_kafka_python)
    kills = sum(1 for f in faults if f.startswith("kill"))
    print(f"kafka-python: faults {len(faults)} ({kills} kill -9 restarts); acknowledged {len(acked)} of {count}; errors {len(errors)}")
    assert kills >= 1 and len(faults) >= 4, f"too few faults injected: {faults}"
    assert left == 0 and not errors, f"{left} unacknowledged, errors {errors[:3]}"
    dups, missing, disorder, wrong = check_log(log, acked)
    print(f"kafka-python: duplicates {dups}, acknowledged but missing {len(missing)}, out of order {disorder}")
    assert (dups, len(missing), disorder, len(wrong)) == (0, 0, 0, 0)
    assert sum(len(r) for r in log.values()) == count


def test_control_without_idempotence_shows_duplicates(broker_factory):
    """The same faults with idempotence off: retries after cut connections duplicate records.
    If this shows none, the faults are not biting and the idempotent run proves nothing."""
    count = 200_000
    acked, errors, left, log, faults = faulty_run(broker_factory, False, count)
    dups, missing, disorder, _ = check_log(log, acked)
    print(f"control: faults {len(faults)}, acknowledged {len(acked)}, duplicates {dups}, missing {len(missing)}, out of order {disorder}")
    assert missing == [], f"{len(missing)} acknowledged records lost (acks=all must not lose data even without idempotence)"
    if dups == 0:
        pytest.fail("the control run without idempotence shows no duplicates: the faults are not biting, so the idempotent run proves nothing")


def describe_producers(port: int, topic: str, partitions: list[int]):
    """DescribeProducers v0 over a raw socket -> {partition: (error, [(pid, epoch, last_seq)])}."""
    import kafka_wire as w

    body = (w.uvarint(2) + w.compact_string(topic) + w.uvarint(len(partitions) + 1)
            + b"".join(w.i32(p) for p in partitions) + w.uvarint(0) + w.uvarint(0))
    s = w.connect(port)
    try:
        s.sendall(w.request(61, 0, 5, body, flexible=True))
        payload = w.read_frame(s)
    finally:
        s.close()
    assert payload is not None, "broker closed the connection"
    r = w.Reader(payload)
    assert r.take(">i") == 5
    r.skip_tags()
    r.take(">i")  # throttle
    out = {}
    for _ in range(r.uvarint() - 1):
        assert r.compact_string() == topic
        for _ in range(r.uvarint() - 1):
            part, err = r.take(">i"), r.take(">h")
            r.compact_string()
            producers = []
            for _ in range(r.uvarint() - 1):
                pid, epoch, last_seq, _ts, _ce, _txn = r.take(">q"), r.take(">i"), r.take(">i"), r.take(">q"), r.take(">i"), r.take(">q")
                r.skip_tags()
                producers.append((pid, epoch, last_seq))
            r.skip_tags()
            out[part] = (err, producers)
        r.skip_tags()
    return out


def test_describe_producers_shows_idempotent_producer_state(broker):
    topic = unique_topic("descprod")
    create_topic(broker.bootstrap, topic, 2)
    p = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True, "acks": "all"})
    for i in range(250):
        p.produce(topic, value=b"%d" % i, partition=0)
    assert p.flush(20) == 0
    got = describe_producers(broker.port, topic, [0, 1, 7])
    assert got[1] == (0, [])
    assert got[7][0] == 3  # UNKNOWN_TOPIC_OR_PARTITION
    err, producers = got[0]
    assert err == 0 and len(producers) == 1, got
    pid, epoch, last_seq = producers[0]
    assert pid >= 0 and epoch == 0 and last_seq == 249
    # The state survives a kill -9 (rebuilt from the log) and a clean restart (snapshot).
    broker.kill()
    broker.start()
    assert describe_producers(broker.port, topic, [0])[0] == (0, [(pid, 0, 249)])
    broker.restart()
    assert describe_producers(broker.port, topic, [0])[0] == (0, [(pid, 0, 249)])
