"""`bin/kafka-consumer-groups.sh` (-> `strom consumer-groups`) against groups of a real
confluent-kafka consumer.

Records are produced with known partitions and timestamps, a consumer in group G reads them
and commits chosen offsets, and every figure the tool prints (CURRENT-OFFSET, LOG-END-OFFSET,
LAG, the member's ids, the reset plan) is checked against what was produced and committed.
Resets are checked by consuming again in the group. Bad input: one line on stderr, non-zero
exit, within 10 s.

    target/venv/bin/python -m pytest tests/interop/test_consumer_groups_tool.py -v
"""

from __future__ import annotations

import subprocess
import time
from datetime import datetime, timezone

import pytest
from confluent_kafka import Consumer, TopicPartition

from conftest import REPO
from strom_kafka import (
    BASE_TS,
    ck_produce,
    ck_rec,
    create_topic,
    make_records,
    unique_topic,
    wait_for,
)

pytestmark = pytest.mark.timeout(240)

TOOL = REPO / "bin" / "kafka-consumer-groups.sh"
TOOL_TIMEOUT_S = 10.0
GROUP_BROKER = {"group.initial.rebalance.delay.ms": "0", "offsets.topic.num.partitions": "5"}
PARTITIONS = 3
N = 30  # 10 records per partition: record i is at partition i % 3, offset i // 3
PER_PARTITION = N // PARTITIONS
OFFSETS_HEADER = ["GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG",
                  "CONSUMER-ID", "HOST", "CLIENT-ID"]


def tool(broker, *args: str, server: str | None = None):
    """Runs the shim; returns (returncode, stdout, stderr). Every run must end within 10 s."""
    cmd = [str(TOOL), "--bootstrap-server", server or broker.bootstrap, *args]
    start = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=REPO)
    took = time.monotonic() - start
    assert took < TOOL_TIMEOUT_S, f"{args} took {took:.1f} s"
    return p.returncode, p.stdout, p.stderr


def ok(broker, *args: str) -> tuple[str, str]:
    rc, out, err = tool(broker, *args)
    assert rc == 0, f"{args} exited {rc}\nstdout: {out}\nstderr: {err}"
    return out, err


def fails(broker, *args: str, server: str | None = None) -> str:
    """The tool must fail with exactly one non-empty line on stderr; returns it."""
    rc, out, err = tool(broker, *args, server=server)
    assert rc != 0, f"{args} succeeded\nstdout: {out}\nstderr: {err}"
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"{args}: stderr is not one line: {err!r}"
    return lines[0]


def table(out: str, header: list[str]) -> list[dict[str, str]]:
    """Parses a whitespace-aligned table whose header row is `header` (no blanks in cells)."""
    lines = out.splitlines()
    idx = [i for i, line in enumerate(lines) if line.split() == header]
    assert idx, f"no header {header} in:\n{out}"
    rows = []
    for line in lines[idx[0] + 1:]:
        if not line.strip():
            continue
        cells = line.split()
        assert len(cells) == len(header), f"row {line!r} does not have {len(header)} cells"
        rows.append(dict(zip(header, cells)))
    return rows


def by_partition(rows: list[dict[str, str]]) -> dict[int, dict[str, str]]:
    return {int(r["PARTITION"]): r for r in rows}


def setup_topic(broker) -> tuple[str, list]:
    topic = unique_topic("cg")
    create_topic(broker.bootstrap, topic, partitions=PARTITIONS)
    records = make_records(N, topic, partitions=PARTITIONS)
    produced = ck_produce(broker.bootstrap, topic, records)
    assert produced.count() == N
    return topic, records


def group_consumer(broker, group: str, client_id: str = "cg-test-client", **conf) -> Consumer:
    base = {
        "bootstrap.servers": broker.bootstrap,
        "group.id": group,
        "client.id": client_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
    }
    base.update(conf)
    return Consumer(base)


def join_and_read(c: Consumer, topic: str, want: int, timeout: float = 60) -> list:
    """Subscribes, waits for all partitions and reads `want` records. Returns the messages."""
    assigned = []
    c.subscribe([topic], on_assign=lambda _c, ps: assigned.extend(ps))
    msgs = []
    deadline = time.monotonic() + timeout
    while len(msgs) < want or len(assigned) < PARTITIONS:
        assert time.monotonic() < deadline, f"read {len(msgs)} of {want}, assigned {assigned}"
        m = c.poll(0.2)
        if m is None or m.error():
            continue
        msgs.append(m)
    return msgs


def commit(c: Consumer, topic: str, offsets: dict[int, int]):
    c.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)


def read_all_in_group(broker, group: str, topic: str, want: int) -> dict[int, list[int]]:
    """A fresh group member reads `want` records from the committed offsets: partition ->
    offsets read. Also checks each record is the one produced at that offset."""
    c = group_consumer(broker, group, client_id="cg-reader", **{"auto.offset.reset": "error"})
    try:
        got: dict[int, list[int]] = {}
        for m in join_and_read(c, topic, want):
            assert m.topic() == topic
            rec = ck_rec(m)
            index = m.offset() * PARTITIONS + m.partition()
            assert rec.key == f"{topic}-key-{index:08d}".encode(), f"p{m.partition()}@{m.offset()}: {rec.short()}"
            got.setdefault(m.partition(), []).append(m.offset())
        # Nothing beyond `want` arrives.
        extra = c.poll(1.0)
        assert extra is None or extra.error(), f"unexpected extra record at {extra.partition()}@{extra.offset()}"
        return got
    finally:
        c.close()


def test_describe_lag_active_and_after_close(broker_factory):
    b = broker_factory(**GROUP_BROKER)
    topic, _ = setup_topic(b)
    group = unique_topic("g")
    c = group_consumer(b, group)
    try:
        join_and_read(c, topic, N)
        commit(c, topic, {0: 4, 1: 7})  # partition 2: no commit
        member_id = c.memberid()

        out, err = ok(b, "--describe", "--group", group)
        assert err == ""
        lines = out.splitlines()
        assert lines[0] == "" and lines[1].split() == OFFSETS_HEADER, out
        # Kafka's column layout: 15-wide minimum for group and topic, 10 for PARTITION, 15 for
        # the numbers, consumer id and host as wide as their longest value.
        gw, tw = max(15, len(group)), max(15, len(topic))
        row0 = f"{group:<{gw}} {topic:<{tw}} {0:<10} {4:<15} {10:<15} {6:<15} {member_id} /127.0.0.1"
        assert any(line.startswith(row0) for line in lines), f"no line starting {row0!r}:\n{out}"
        rows = by_partition(table(out, OFFSETS_HEADER))
        assert set(rows) == {0, 1, 2}
        for p, (cur, lag) in {0: ("4", "6"), 1: ("7", "3"), 2: ("-", "-")}.items():
            r = rows[p]
            assert (r["GROUP"], r["TOPIC"]) == (group, topic)
            assert r["CURRENT-OFFSET"] == cur and r["LAG"] == lag, r
            assert r["LOG-END-OFFSET"] == str(PER_PARTITION), r
            assert r["CONSUMER-ID"] == member_id and r["CLIENT-ID"] == "cg-test-client", r
            assert r["HOST"] == "/127.0.0.1", r

        out, _ = ok(b, "--describe", "--group", group, "--members", "--verbose")
        mrows = table(out, ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS",
                            "CURRENT-EPOCH", "CURRENT-ASSIGNMENT", "TARGET-EPOCH", "TARGET-ASSIGNMENT"])
        assert len(mrows) == 1
        assert mrows[0]["CONSUMER-ID"] == member_id and mrows[0]["#PARTITIONS"] == "3"
        assert mrows[0]["CURRENT-ASSIGNMENT"] == f"{topic}:0,1,2"

        out, _ = ok(b, "--describe", "--group", group, "--state")
        srows = out.splitlines()
        assert srows[1].split() == ["GROUP", "COORDINATOR", "(ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS"]
        assert srows[2].split() == [group, f"127.0.0.1:{b.port}", "(1)", "range", "Stable", "1"], out

        out, _ = ok(b, "--list")
        assert group in out.splitlines()
        out, _ = ok(b, "--list", "--state")
        assert [group, "Stable"] in [line.split() for line in out.splitlines()[1:]]
        assert out.splitlines()[0].split() == ["GROUP", "STATE"]
        out, _ = ok(b, "--list", "--state", "empty")
        assert group not in out
    finally:
        c.close()

    # The member left: Kafka's notice on stderr, then the committed partitions without owner.
    rc, out, err = tool(b, "--describe", "--group", group)
    assert rc == 0, err
    assert err == f"\nConsumer group '{group}' has no active members.\n"
    rows = by_partition(table(out, OFFSETS_HEADER))
    assert set(rows) == {0, 1}, out
    for p, (cur, lag) in {0: ("4", "6"), 1: ("7", "3")}.items():
        r = rows[p]
        assert (r["CURRENT-OFFSET"], r["LOG-END-OFFSET"], r["LAG"]) == (cur, "10", lag), r
        assert (r["CONSUMER-ID"], r["HOST"], r["CLIENT-ID"]) == ("-", "-", "-"), r
    out, _ = ok(b, "--list", "--state", "Empty")
    assert [group, "Empty"] in [line.split() for line in out.splitlines()[1:]]


def test_reset_offsets_plans_and_execution(broker_factory):
    b = broker_factory(**GROUP_BROKER)
    topic, _ = setup_topic(b)
    group = unique_topic("g")
    c = group_consumer(b, group)
    try:
        join_and_read(c, topic, N)
        commit(c, topic, {0: 8, 1: 9, 2: 10})
        # Refused while the group has a member, with Kafka's words, and nothing changes.
        line = fails(b, "--reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute")
        assert line == (f"Error: Assignments can only be reset if the group '{group}' is inactive, "
                        "but the current state is Stable.")
    finally:
        c.close()
    rows = by_partition(table(ok(b, "--describe", "--group", group)[0], OFFSETS_HEADER))
    assert {p: r["CURRENT-OFFSET"] for p, r in rows.items()} == {0: "8", 1: "9", 2: "10"}

    plan_header = ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]

    def plan(*args):
        out, err = ok(b, "--reset-offsets", "--group", group, *args)
        return {int(r["PARTITION"]): int(r["NEW-OFFSET"]) for r in table(out, plan_header)}, out, err

    # Dry run is the default (with Kafka's warning) and changes nothing.
    p, out, err = plan("--topic", topic, "--to-earliest")
    assert p == {0: 0, 1: 0, 2: 0}
    assert err.startswith("WARN: No action will be performed as the --execute option is missing.")
    gw, tw = max(15, len(group)), max(15, len(topic))
    assert out.splitlines()[:3] == ["", f"{'GROUP':<{gw}} {'TOPIC':<{tw}} {'PARTITION':<10} NEW-OFFSET",
                                   f"{group:<{gw}} {topic:<{tw}} {0:<10} 0"], out
    p, _, err = plan("--topic", topic, "--shift-by", "-3", "--dry-run")
    assert p == {0: 5, 1: 6, 2: 7} and err == ""
    p, _, _ = plan("--all-topics", "--to-offset", "100", "--dry-run")  # clamped to the log end
    assert p == {0: 10, 1: 10, 2: 10}
    p, _, _ = plan("--topic", f"{topic}:1,2", "--to-offset", "3", "--dry-run")
    assert p == {1: 3, 2: 3}
    # Record i has timestamp BASE_TS + i: the first at or after BASE_TS + 15 is i = 15, 16, 17,
    # which sit at offset 5 of partitions 0, 1, 2.
    dt = datetime.fromtimestamp((BASE_TS + 15) / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    p, _, _ = plan("--topic", topic, "--to-datetime", dt, "--dry-run")
    assert p == {0: 5, 1: 5, 2: 5}
    p, _, _ = plan("--topic", topic, "--by-duration", "P3650D", "--dry-run")
    assert p == {0: 0, 1: 0, 2: 0}
    p, _, _ = plan("--topic", topic, "--to-current", "--dry-run")
    assert p == {0: 8, 1: 9, 2: 10}
    rows = by_partition(table(ok(b, "--describe", "--group", group)[0], OFFSETS_HEADER))
    assert {p: r["CURRENT-OFFSET"] for p, r in rows.items()} == {0: "8", 1: "9", 2: "10"}

    # Execute: to earliest, then the group reads everything again.
    p, _, _ = plan("--topic", topic, "--to-earliest", "--execute")
    assert p == {0: 0, 1: 0, 2: 0}
    rows = by_partition(table(ok(b, "--describe", "--group", group)[0], OFFSETS_HEADER))
    assert {p: (r["CURRENT-OFFSET"], r["LAG"]) for p, r in rows.items()} == {q: ("0", "10") for q in range(3)}
    got = read_all_in_group(b, group, topic, N)
    assert got == {q: list(range(PER_PARTITION)) for q in range(PARTITIONS)}

    # Shift forward from the committed offsets (the reader committed nothing: still 0), then
    # the group reads only the tail.
    p, _, _ = plan("--topic", topic, "--shift-by", "7", "--execute")
    assert p == {0: 7, 1: 7, 2: 7}
    got = read_all_in_group(b, group, topic, 3 * (PER_PARTITION - 7))
    assert got == {q: [7, 8, 9] for q in range(PARTITIONS)}

    # --to-offset on one partition only leaves the others alone.
    p, _, _ = plan("--topic", f"{topic}:2", "--to-offset", "9", "--execute")
    assert p == {2: 9}
    rows = by_partition(table(ok(b, "--describe", "--group", group)[0], OFFSETS_HEADER))
    assert {p: (r["CURRENT-OFFSET"], r["LAG"]) for p, r in rows.items()} == {0: ("7", "3"), 1: ("7", "3"), 2: ("9", "1")}

    # A partition that does not exist is refused.
    line = fails(b, "--reset-offsets", "--group", group, "--topic", f"{topic}:7", "--to-earliest", "--execute")
    assert f'The partitions "{topic}-7" do not exist' in line


def test_delete_and_delete_offsets(broker_factory):
    b = broker_factory(**GROUP_BROKER)
    topic, _ = setup_topic(b)
    other, _ = setup_topic(b)
    group = unique_topic("g")
    c = group_consumer(b, group)
    try:
        join_and_read(c, topic, N)
        commit(c, topic, {0: 1, 1: 2, 2: 3})
        line = fails(b, "--delete", "--group", group)
        assert line == (f"Error: Deletion of some consumer groups failed: * Group '{group}' could not be "
                        "deleted due to: org.apache.kafka.common.errors.GroupNotEmptyException: The group is not empty.")
        # Offsets of a topic the member is subscribed to cannot be deleted.
        rc, out, err = tool(b, "--delete-offsets", "--group", group, "--topic", topic)
        assert rc != 0
        assert err.strip() == "Error: Encountered some partition-level error, see the follow-up details."
        tw = max(15, len(topic))
        assert out.splitlines()[1:] == [f"{'TOPIC':<{tw}} {'PARTITION':<10} {'STATUS':<15}"] + [
            f"{topic:<{tw}} {p:<10} Error: org.apache.kafka.common.errors.GroupSubscribedToTopicException: "
            "The consumer group is actively subscribed to the topic" for p in range(PARTITIONS)], out
    finally:
        c.close()

    # A second group commits on `other` too (from outside any generation, as Kafka allows).
    out, _ = ok(b, "--reset-offsets", "--group", group, "--topic", other, "--to-offset", "4", "--execute")
    rows = table(ok(b, "--describe", "--group", group)[0], OFFSETS_HEADER)
    assert sorted((r["TOPIC"], int(r["PARTITION"]), r["CURRENT-OFFSET"]) for r in rows) == sorted(
        [(topic, 0, "1"), (topic, 1, "2"), (topic, 2, "3"), (other, 0, "4"), (other, 1, "4"), (other, 2, "4")])

    out, err = ok(b, "--delete-offsets", "--group", group, "--topic", f"{topic}:0,2")
    lines = out.splitlines()
    assert lines[0] == f"Request succeeded for deleting offsets from group {group}."
    tw = max(15, len(topic))
    assert lines[2] == f"{'TOPIC':<{tw}} {'PARTITION':<10} {'STATUS':<15}"
    assert lines[3:5] == [f"{topic:<{tw}} {0:<10} {'Successful':<15}", f"{topic:<{tw}} {2:<10} {'Successful':<15}"]
    out, _ = ok(b, "--delete-offsets", "--group", group, "--topic", other)
    assert len([line for line in out.splitlines() if line.endswith("Successful     ")]) == 3
    rows = table(ok(b, "--describe", "--group", group)[0], OFFSETS_HEADER)
    assert [(r["TOPIC"], r["PARTITION"], r["CURRENT-OFFSET"]) for r in rows] == [(topic, "1", "2")]

    out, _ = ok(b, "--delete", "--group", group)
    assert out == f"Deletion of requested consumer groups ('{group}') was successful.\n"
    assert group not in ok(b, "--list")[0].splitlines()
    assert fails(b, "--describe", "--group", group) == f"Error: Consumer group '{group}' does not exist."
    line = fails(b, "--delete", "--group", group)
    assert line.endswith(f"* Group '{group}' could not be deleted due to: "
                         "org.apache.kafka.common.errors.GroupIdNotFoundException: The group id does not exist.")


def test_bad_input_is_one_line_and_fast(broker):
    assert fails(broker, "--describe", "--group", "no-such-group") == "Error: Consumer group 'no-such-group' does not exist."
    assert fails(broker, "--describe") == "Option [describe] takes one of these options: [all-groups], [group]"
    assert fails(broker, "--reset-offsets", "--to-earliest") == (
        "Option [reset-offsets] takes one of these options: [all-groups], [group]")
    assert fails(broker, "--delete-offsets", "--group", "g") == (
        "Option [delete-offsets] takes the following options: [group], [topic]")
    assert fails(broker, "--group", "g").startswith("Command must include exactly one action: --list, --describe")
    assert fails(broker, "--list", "--state", "bogus").startswith("Invalid state list 'bogus'. Valid states are: ")
    assert fails(broker, "--reset-offsets", "--group", "g", "--to-earliest", "--shift-by", "1", "--dry-run") == (
        "Option \"[to-earliest]\" can't be used with option \"[shift-by]\"")
    line = fails(broker, "--reset-offsets", "--group", "g", "--to-earliest", "--dry-run")
    assert line == "One of the reset scopes should be defined: --all-topics, --topic."
    line = fails(broker, "--reset-offsets", "--group", "g", "--topic", "t", "--to-datetime", "yesterday", "--dry-run")
    assert "It does not contain a 'T' according to ISO8601 format" in line
    with_nothing = subprocess.run([str(TOOL), "--list"], capture_output=True, text=True, timeout=30)
    assert with_nothing.returncode != 0 and with_nothing.stderr.startswith('Missing required argument "[bootstrap-server]"')
    # Unreachable servers: a closed port, and an address that drops packets (bounded wait).
    s = __import__("socket").socket()
    s.bind(("127.0.0.1", 0))
    closed = f"127.0.0.1:{s.getsockname()[1]}"
    s.close()
    line = fails(broker, "--list", server=closed)
    assert line.startswith(f"cannot connect to {closed}"), line
    line = fails(broker, "--describe", "--group", "g", server="10.255.255.1:9092")
    assert "10.255.255.1:9092" in line, line


CONSOLE = REPO / "bin" / "kafka-console-consumer.sh"


def console_group_read(broker, group: str, topic: str, *extra: str) -> list[tuple[int, int]]:
    """Runs console-consumer in `group`; returns the (partition, offset) of each printed record."""
    p = subprocess.run(
        [str(CONSOLE), "--bootstrap-server", broker.bootstrap, "--topic", topic, "--group", group,
         "--property", "print.partition=true", "--property", "print.offset=true",
         "--property", "print.value=false", *extra],
        capture_output=True, text=True, timeout=60, cwd=REPO)
    assert p.returncode == 0, p.stderr
    out = []
    for line in p.stdout.splitlines():
        part, off = line.split("\t")
        out.append((int(part.removeprefix("Partition:")), int(off.removeprefix("Offset:"))))
    assert p.stderr.strip().endswith(f"Processed a total of {len(out)} messages"), p.stderr
    return out


def test_console_consumer_group_commits_what_it_printed(broker_factory):
    b = broker_factory(**GROUP_BROKER)
    topic, _ = setup_topic(b)
    group = unique_topic("g")
    first = console_group_read(b, group, topic, "--from-beginning", "--max-messages", "12")
    assert len(first) == 12
    printed: dict[int, list[int]] = {}
    for part, off in first:
        printed.setdefault(part, []).append(off)
    for offs in printed.values():
        assert offs == list(range(len(offs))), printed
    rows = by_partition(table(ok(b, "--describe", "--group", group)[0], OFFSETS_HEADER))
    # Exactly what was printed is committed: next offset per partition, lag the rest.
    for q in range(PARTITIONS):
        done = len(printed.get(q, []))
        assert (rows[q]["CURRENT-OFFSET"], rows[q]["LAG"]) == (str(done), str(PER_PARTITION - done)), rows[q]

    # A second run in the group resumes at the committed offsets: the complement, no repeats.
    second = console_group_read(b, group, topic, "--timeout-ms", "3000")
    assert sorted(first + second) == [(q, o) for q in range(PARTITIONS) for o in range(PER_PARTITION)]
    rows = by_partition(table(ok(b, "--describe", "--group", group)[0], OFFSETS_HEADER))
    assert {q: (r["CURRENT-OFFSET"], r["LAG"]) for q, r in rows.items()} == {q: ("10", "0") for q in range(3)}

    # After a reset to earliest the group reads everything again.
    ok(b, "--reset-offsets", "--group", group, "--all-topics", "--to-earliest", "--execute")
    third = console_group_read(b, group, topic, "--timeout-ms", "3000")
    assert sorted(third) == [(q, o) for q in range(PARTITIONS) for o in range(PER_PARTITION)]


def test_console_consumer_shares_a_group_with_librdkafka(broker_factory):
    b = broker_factory(**GROUP_BROKER)
    topic, _ = setup_topic(b)
    group = unique_topic("g")
    c = group_consumer(b, group)
    console = None
    try:
        join_and_read(c, topic, 0)
        console = subprocess.Popen(
            [str(CONSOLE), "--bootstrap-server", b.bootstrap, "--topic", topic, "--group", group,
             "--timeout-ms", "20000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO)

        def shared():
            c.poll(0.2)  # lets librdkafka take part in the rebalance
            _, out, _ = tool(b, "--describe", "--group", group, "--members")
            rows = table(out, ["GROUP", "CONSUMER-ID", "HOST", "CLIENT-ID", "#PARTITIONS"])
            counts = sorted(int(r["#PARTITIONS"]) for r in rows)
            return counts == [1, 2] and rows

        rows = wait_for(shared, 60, "librdkafka and console-consumer to share 3 partitions")
        assert {r["CLIENT-ID"] for r in rows} == {"cg-test-client", "strom-tools"}, rows
    finally:
        c.close()
        if console is not None:
            console.terminate()
            console.wait(timeout=10)
