"""Consumer groups (classic protocol) with real clients against a real strom.

Group members run as subprocesses (so one can be killed with SIGKILL); each prints JSON lines
(assign / revoke / rec events with wall-clock times) that the test reads. Every test keeps its
session timeouts short and the broker's group.initial.rebalance.delay.ms at 0.

    target/venv/bin/python -m pytest tests/interop/test_groups.py -v
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import _set_pdeathsig
from strom_kafka import create_topic, make_records, ck_produce, unique_topic, wait_for

pytestmark = pytest.mark.timeout(240)

GROUP_BROKER = {"group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "5"}
SESSION_MS = 6000

WORKER = r'''
import json, sys, time, asyncio
cfg = json.loads(sys.argv[1])
def emit(**kw):
    kw["t"] = time.time()
    print(json.dumps(kw), flush=True)

lib = cfg["lib"]
if lib == "ck":
    from confluent_kafka import Consumer
    conf = {
        "bootstrap.servers": cfg["bootstrap"], "group.id": cfg["group"],
        "session.timeout.ms": cfg["session_ms"], "heartbeat.interval.ms": 500,
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
        "partition.assignment.strategy": cfg.get("assignor", "range"),
        "topic.metadata.refresh.interval.ms": 2000,
    }
    if cfg.get("instance"):
        conf["group.instance.id"] = cfg["instance"]
    c = Consumer(conf)
    c.subscribe([cfg["topic"]],
                on_assign=lambda c, ps: emit(ev="assign", parts=[p.partition for p in ps]),
                on_revoke=lambda c, ps: emit(ev="revoke", parts=[p.partition for p in ps]),
                on_lost=lambda c, ps: emit(ev="revoke", parts=[p.partition for p in ps]))
    n = 0
    while cfg.get("max", 0) == 0 or n < cfg["max"]:
        m = c.poll(0.1)
        if m is None or m.error():
            continue
        n += 1
        emit(ev="rec", p=m.partition(), o=m.offset())
        if cfg.get("commit"):
            c.commit(m, asynchronous=False)
    c.close()
    emit(ev="closed")
elif lib == "kp":
    from kafka import KafkaConsumer, ConsumerRebalanceListener
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
    class L(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            emit(ev="revoke", parts=[tp.partition for tp in revoked])
        def on_partitions_assigned(self, assigned):
            emit(ev="assign", parts=[tp.partition for tp in assigned])
    assignor = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}[cfg.get("assignor", "range")]
    c = KafkaConsumer(bootstrap_servers=cfg["bootstrap"], group_id=cfg["group"],
                      session_timeout_ms=cfg["session_ms"], heartbeat_interval_ms=500,
                      auto_offset_reset="earliest", enable_auto_commit=False,
                      partition_assignment_strategy=[assignor], metadata_max_age_ms=2000)
    c.subscribe([cfg["topic"]], listener=L())
    while True:
        for tp, msgs in c.poll(timeout_ms=100).items():
            for m in msgs:
                emit(ev="rec", p=m.partition, o=m.offset)
elif lib == "ak":
    from aiokafka import AIOKafkaConsumer
    from aiokafka.abc import ConsumerRebalanceListener
    class L(ConsumerRebalanceListener):
        async def on_partitions_revoked(self, revoked):
            emit(ev="revoke", parts=[tp.partition for tp in revoked])
        async def on_partitions_assigned(self, assigned):
            emit(ev="assign", parts=[tp.partition for tp in assigned])
    async def main():
        c = AIOKafkaConsumer(bootstrap_servers=cfg["bootstrap"], group_id=cfg["group"],
                             session_timeout_ms=cfg["session_ms"], heartbeat_interval_ms=500,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             metadata_max_age_ms=2000)
        await c.start()
        c.subscribe([cfg["topic"]], listener=L())
        while True:
            batch = await c.getmany(timeout_ms=100)
            for tp, msgs in batch.items():
                for m in msgs:
                    emit(ev="rec", p=m.partition, o=m.offset)
    asyncio.run(main())
'''


class Member:
    """One group member in a subprocess; tracks its current assignment from its events."""

    def __init__(self, name: str, lib: str, bootstrap: str, topic: str, group: str, **cfg):
        self.name = name
        self.owned: set[int] = set()
        self.events: list[dict] = []
        self.assign_count = 0
        self.incremental = cfg.get("assignor") == "cooperative-sticky"
        self.lock = threading.Lock()
        conf = {"lib": lib, "bootstrap": bootstrap, "topic": topic, "group": group,
                "session_ms": SESSION_MS, **cfg}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps(conf)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=_set_pdeathsig,
        )
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.events.append(ev)
                if ev["ev"] == "assign":
                    # Cooperative rebalancing (KIP-429) reports only the added partitions.
                    if self.incremental:
                        self.owned |= set(ev["parts"])
                    else:
                        self.owned = set(ev["parts"])
                    self.assign_count += 1
                elif ev["ev"] == "revoke":
                    self.owned -= set(ev["parts"])

    def _read_err(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def parts(self) -> set[int]:
        with self.lock:
            return set(self.owned)

    def records(self) -> list[tuple[int, int]]:
        with self.lock:
            return [(e["p"], e["o"]) for e in self.events if e["ev"] == "rec"]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        with self.lock:
            self.owned = set()

    def wait(self, timeout: float):
        return self.proc.wait(timeout=timeout)


@pytest.fixture
def members():
    started: list[Member] = []
    yield started
    for m in started:
        m.kill()


def check_intervals(ms: list[Member], kill_times: dict[str, float]):
    """No partition owned by two members at once, from the members' own event times."""
    spans: dict[int, list[tuple[float, float, str]]] = {}
    for m in ms:
        with m.lock:
            evs = list(m.events)
        start: dict[int, float] = {}
        for e in evs:
            if e["ev"] == "assign":
                for p in e["parts"]:
                    start[p] = e["t"]
            elif e["ev"] == "revoke":
                for p in e["parts"]:
                    if p in start:
                        spans.setdefault(p, []).append((start.pop(p), e["t"], m.name))
        end = kill_times.get(m.name, float("inf"))
        for p, s in start.items():
            spans.setdefault(p, []).append((s, end, m.name))
    for p, ss in spans.items():
        ss.sort()
        for a, b in zip(ss, ss[1:]):
            assert a[1] <= b[0], f"partition {p} owned by {a[2]} and {b[2]} at once: {a} {b}"


def balanced(ms: list[Member], n_parts: int, each: int | None = None) -> bool:
    sets = [m.parts() for m in ms]
    union = set().union(*sets)
    if union != set(range(n_parts)) or sum(len(s) for s in sets) != n_parts:
        return False
    return each is None or all(len(s) == each for s in sets)


def describe(members_: list[Member]) -> str:
    return "; ".join(f"{m.name}={sorted(m.parts())}" for m in members_)


def test_confluent_group_kill9_and_join(broker_factory, members):
    b = broker_factory(GROUP_BROKER)
    topic = unique_topic("grp")
    create_topic(b.bootstrap, topic, 6)
    group = unique_topic("g")
    for i in range(3):
        members.append(Member(f"m{i}", "ck", b.bootstrap, topic, group))
    wait_for(lambda: balanced(members, 6, 2), 40, "three members own two partitions each")
    victim = members[2]
    killed_at = time.time()
    victim.kill()
    rest = members[:2]
    wait_for(lambda: balanced(rest, 6, 3), SESSION_MS / 1000 + 15,
             "the killed member's partitions move to the others")
    moved_s = time.time() - killed_at
    print(f"partitions of the kill -9'd member reassigned after {moved_s:.1f} s (session {SESSION_MS} ms)")
    assert moved_s < SESSION_MS / 1000 + 6
    members.append(Member("m3", "ck", b.bootstrap, topic, group))
    live = rest + [members[3]]
    wait_for(lambda: balanced(live, 6, 2), 30, f"the new member gets a share")
    check_intervals(members, {"m2": killed_at})
    b.check_alive()


def test_committed_offsets_survive_restart(broker_factory, members):
    b = broker_factory(GROUP_BROKER)
    topic = unique_topic("grp")
    create_topic(b.bootstrap, topic, 3)
    recs = make_records(300, "r", partitions=3)
    ck_produce(b.bootstrap, topic, recs)
    group = unique_topic("g")
    first = Member("a", "ck", b.bootstrap, topic, group, commit=True, max=120)
    members.append(first)
    assert first.wait(60) == 0, "".join(first.stderr)
    got1 = first.records()
    assert len(got1) == 120
    b.restart()
    second = Member("b", "ck", b.bootstrap, topic, group, commit=True)
    members.append(second)
    wait_for(lambda: len(second.records()) >= 180, 60, "the rest of the records")
    time.sleep(1)
    got2 = second.records()
    # Exactly the uncommitted remainder: nothing skipped, nothing consumed twice (every
    # record was committed right after it was processed).
    all_ = sorted(got1 + got2)
    assert len(all_) == len(set(all_)) == 300, (len(all_), len(set(all_)))
    for p in range(3):
        offs = sorted(o for q, o in all_ if q == p)
        assert offs == list(range(len(offs))), f"partition {p} has gaps"
        firsts = [o for q, o in got2 if q == p]
        lasts = [o for q, o in got1 if q == p]
        if lasts and firsts:
            assert min(firsts) == max(lasts) + 1, f"partition {p} resumed at {min(firsts)}"


def test_cooperative_sticky_rebalancing(broker_factory, members):
    """librdkafka's cooperative-sticky assignor (KIP-429) over the classic protocol: members
    keep their partitions across rebalances and only moved partitions are revoked."""
    b = broker_factory(GROUP_BROKER)
    topic = unique_topic("coop")
    create_topic(b.bootstrap, topic, 6)
    group = unique_topic("g")
    members.append(Member("c0", "ck", b.bootstrap, topic, group, assignor="cooperative-sticky"))
    wait_for(lambda: balanced(members, 6, 6), 40, "the first member owns all six partitions")
    members.append(Member("c1", "ck", b.bootstrap, topic, group, assignor="cooperative-sticky"))
    wait_for(lambda: balanced(members, 6, 3), 40, "two members own three partitions each")
    kept = members[0].parts()
    # Sticky and incremental: the first member gave up exactly the three it no longer owns.
    with members[0].lock:
        revoked = [p for e in members[0].events if e["ev"] == "revoke" for p in e["parts"]]
    assert sorted(revoked) == sorted(set(range(6)) - kept), f"c0 revoked {revoked}, kept {kept}"
    members.append(Member("c2", "ck", b.bootstrap, topic, group, assignor="cooperative-sticky"))
    wait_for(lambda: balanced(members, 6, 2), 40, "three members own two partitions each")
    killed_at = time.time()
    members[2].kill()
    wait_for(lambda: balanced(members[:2], 6, 3), SESSION_MS / 1000 + 15, "the survivors take over")
    check_intervals(members, {"c2": killed_at})


@pytest.mark.parametrize("lib", ["kp", "ak"])
def test_python_client_groups(broker_factory, members, lib):
    b = broker_factory(GROUP_BROKER)
    topic = unique_topic("grp")
    create_topic(b.bootstrap, topic, 4)
    group = unique_topic("g")
    for i in range(2):
        members.append(Member(f"{lib}{i}", lib, b.bootstrap, topic, group))
    wait_for(lambda: balanced(members, 4, 2), 60, f"two {lib} members own two partitions each")
    killed_at = time.time()
    members[1].kill()
    wait_for(lambda: balanced(members[:1], 4, 4), SESSION_MS / 1000 + 20,
             "the survivor takes all partitions")
    print(f"{lib}: reassigned after {time.time() - killed_at:.1f} s")
    members.append(Member(f"{lib}2", lib, b.bootstrap, topic, group))
    live = [members[0], members[2]]
    wait_for(lambda: balanced(live, 4, 2), 60, "a new member gets a share")
    check_intervals(members, {members[1].name: killed_at})


@pytest.mark.parametrize("assignor", ["range", "roundrobin"])
def test_mixed_librdkafka_and_kafka_python(broker_factory, members, assignor):
    b = broker_factory(GROUP_BROKER)
    topic = unique_topic("grp")
    create_topic(b.bootstrap, topic, 6)
    group = unique_topic("g")
    members.append(Member("ck", "ck", b.bootstrap, topic, group, assignor=assignor))
    members.append(Member("kp", "kp", b.bootstrap, topic, group, assignor=assignor))
    members.append(Member("ck2", "ck", b.bootstrap, topic, group, assignor=assignor))
    wait_for(lambda: balanced(members, 6, 2), 60, f"mixed group shares 6 partitions ({describe(members)})")
    check_intervals(members, {})


def test_static_member_restart_keeps_partitions(broker_factory, members):
    b = broker_factory(GROUP_BROKER)
    topic = unique_topic("grp")
    create_topic(b.bootstrap, topic, 6)
    group = unique_topic("g")
    static = dict(instance=None)
    a = Member("a", "ck", b.bootstrap, topic, group, instance="inst-a", session_ms=10000)
    bb = Member("b", "ck", b.bootstrap, topic, group, instance="inst-b", session_ms=10000)
    members += [a, bb]
    wait_for(lambda: balanced(members, 6, 3), 60, "two static members own three each")
    time.sleep(2)
    before_a = a.parts()
    b_assigns = bb.assign_count
    killed_at = time.time()
    a.kill()
    a2 = Member("a2", "ck", b.bootstrap, topic, group, instance="inst-a", session_ms=10000)
    members.append(a2)
    wait_for(lambda: a2.parts() == before_a, 20, "the restarted static member gets its partitions back")
    print(f"static member back with its partitions after {time.time() - killed_at:.1f} s")
    time.sleep(3)
    assert bb.assign_count == b_assigns, "the other member saw a rebalance"
    assert bb.parts() == set(range(6)) - before_a
    del static


def test_offsets_of_empty_group_expire(broker_factory):
    """Committed offsets of a group with no members expire after offsets.retention.minutes
    (here 1 minute, checked every second), and the expiry survives a restart."""
    from confluent_kafka import Consumer, TopicPartition

    b = broker_factory({**GROUP_BROKER, "offsets.retention.minutes": "1", "offsets.retention.check.interval.ms": "1000"})
    topic = unique_topic("exp")
    create_topic(b.bootstrap, topic, 1)
    group = unique_topic("g")
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "enable.auto.commit": False})
    c.commit(offsets=[TopicPartition(topic, 0, 5)], asynchronous=False)
    assert c.committed([TopicPartition(topic, 0)], timeout=10)[0].offset == 5
    c.close()

    def committed():
        k = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "enable.auto.commit": False})
        try:
            return k.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
        finally:
            k.close()

    assert committed() == 5, "expired too early"
    wait_for(lambda: committed() < 0, 90, "the committed offset to expire")
    b.restart()
    assert committed() < 0, "an expired offset came back after a restart (no tombstone?)"
