"""Kafka's operator tools (`bin/kafka-*.sh` -> `strom <tool>`) run as a user types them.

The acceptance session of issue 4 runs verbatim through the shims against a fresh broker (port
substituted) and every output line is checked against Kafka's layout. Bad input must give one
line on stderr and a non-zero exit within 10 s. Keys, headers and every print.* property
round-trip between console-producer and console-consumer.
"""

from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
import time

import pytest

from conftest import REPO

BIN = REPO / "bin"
TOOL_TIMEOUT_S = 10.0
KAFKA_UUID = r"[A-Za-z0-9_-]{22}"
COLLISION_WARNING = (
    "WARNING: Due to limitations in metric names, topics with a period ('.') or underscore "
    "('_') could collide. To avoid issues it is best to use either, but not both."
)


def sh(cmd: str, port: int, stdin: str | None = None, timeout: float = 30.0):
    """Runs one shell line from the repo root with localhost:9092 replaced by the test port."""
    cmd = cmd.replace("localhost:9092", f"localhost:{port}")
    start = time.monotonic()
    p = subprocess.run(
        ["bash", "-c", cmd],
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return p, time.monotonic() - start


def ok(cmd: str, port: int, stdin: str | None = None) -> list[str]:
    p, _ = sh(cmd, port, stdin)
    assert p.returncode == 0, f"{cmd!r} exited {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
    return p.stdout.splitlines()


def test_issue_4_session(broker):
    port = broker.port
    out = ok("bin/kafka-topics.sh --create --topic hello.kafka --bootstrap-server localhost:9092", port)
    assert out == [COLLISION_WARNING, "Created topic hello.kafka."]

    out = ok(
        "bin/kafka-topics.sh --create --bootstrap-server localhost:9092 --partitions 3 "
        "--replication-factor 1 --config retention.ms=172800000 --topic hello.kafka.2",
        port,
    )
    assert out == [COLLISION_WARNING, "Created topic hello.kafka.2."]

    out = ok("bin/kafka-topics.sh --bootstrap-server localhost:9092 --list", port)
    assert out == ["hello.kafka", "hello.kafka.2"]

    out = ok("bin/kafka-topics.sh --bootstrap-server localhost:9092 --describe --topic hello.kafka.2", port)
    assert len(out) == 4, out
    assert re.fullmatch(
        rf"Topic: hello\.kafka\.2\tTopicId: {KAFKA_UUID}\tPartitionCount: 3\tReplicationFactor: 1"
        r"\tConfigs: retention\.ms=172800000",
        out[0],
    ), repr(out[0])
    for i, line in enumerate(out[1:]):
        assert line == (
            f"\tTopic: hello.kafka.2\tPartition: {i}\tLeader: 1\tReplicas: 1\tIsr: 1\tElr: \tLastKnownElr: "
        ), repr(line)

    out = ok(
        "bin/kafka-configs.sh --bootstrap-server localhost:9092 --entity-type topics "
        "--entity-name hello.kafka.2 --alter --add-config retention.ms=86400000",
        port,
    )
    assert out == ["Completed updating config for topic hello.kafka.2."]

    out = ok(
        "bin/kafka-configs.sh --bootstrap-server localhost:9092 --entity-type topics "
        "--entity-name hello.kafka.2 --describe",
        port,
    )
    assert out[0] == "Dynamic configs for topic hello.kafka.2 are:"
    assert len(out) == 2, out
    assert re.fullmatch(
        r"  retention\.ms=86400000 sensitive=false synonyms=\{DYNAMIC_TOPIC_CONFIG:retention\.ms=86400000(, [A-Z_]+:[a-z.]+=\d+)*\}",
        out[1],
    ), repr(out[1])

    out = ok("bin/kafka-topics.sh --bootstrap-server localhost:9092 --alter --topic hello.kafka.2 --partitions 4", port)
    assert out == []
    out = ok("bin/kafka-topics.sh --bootstrap-server localhost:9092 --describe --topic hello.kafka.2", port)
    assert "\tPartitionCount: 4\t" in out[0] and "Configs: retention.ms=86400000" in out[0]
    assert len(out) == 5

    p, _ = sh(
        "printf 'This is a message\\nThis is another message\\n' | "
        "bin/kafka-console-producer.sh --bootstrap-server localhost:9092 --topic hello.kafka",
        port,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout == "" and p.stderr == ""

    p, _ = sh(
        "bin/kafka-console-consumer.sh --bootstrap-server localhost:9092 --topic hello.kafka "
        "--from-beginning --max-messages 2",
        port,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["This is a message", "This is another message"]
    assert p.stderr.splitlines() == ["Processed a total of 2 messages"]

    out = ok("bin/kafka-broker-api-versions.sh --bootstrap-server localhost:9092", port)
    assert re.fullmatch(r"(localhost|127\.0\.0\.1):\d+ \(id: 1 rack: null isFenced: false\) -> \(", out[0]), out[0]
    assert out[-1] == ")"
    body = out[1:-1]
    for line in body[:-1]:
        assert line.endswith(","), repr(line)
    api_line = re.compile(r"\t[A-Za-z]+\(\d+\): (UNSUPPORTED|\d+( to \d+)? \[(usable: \d+|unusable: node too (new|old))\]),?")
    for line in body:
        assert api_line.fullmatch(line), repr(line)
    keys = [int(re.search(r"\((\d+)\)", l).group(1)) for l in body]
    assert keys == sorted(keys)
    assert "\tProduce(0): 0 to 13 [usable: 13]," in body
    assert "\tApiVersions(18): 0 to 4 [usable: 4]," in body
    assert any(l.startswith("\tDescribeLogDirs(35): 1 to 4 [usable: 4]") for l in body)

    out = ok("bin/kafka-topics.sh --bootstrap-server localhost:9092 --delete --topic hello.kafka", port)
    assert out == []
    assert ok("bin/kafka-topics.sh --bootstrap-server localhost:9092 --list", port) == ["hello.kafka.2"]


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BAD_INPUT = [
    # (command, a fragment the one error line must contain)
    ("bin/kafka-topics.sh --bootstrap-server localhost:9092 --list --frobnicate", "--frobnicate is not a recognized option"),
    ("bin/kafka-topics.sh --bootstrap-server localhost:9092 --create --partitions 1", 'Missing required argument "[topic]"'),
    ("bin/kafka-console-producer.sh --bootstrap-server localhost:9092", 'Missing required argument "[topic]"'),
    ("bin/kafka-topics.sh --bootstrap-server localhost:9092 --describe --topic no.such.topic", "Topic 'no.such.topic' does not exist as expected"),
    ("bin/kafka-console-consumer.sh --bootstrap-server localhost:9092 --topic no-such-topic --from-beginning", "does not exist"),
    ("bin/kafka-configs.sh --bootstrap-server localhost:9092 --entity-type topics --entity-name no-such-topic --describe", "UnknownTopicOrPartition"),
    ("bin/kafka-topics.sh --bootstrap-server localhost:9092 --create --topic badcfg --config retention.ms=soon", "retention.ms"),
    ("bin/kafka-configs.sh --bootstrap-server localhost:9092 --entity-type topics --entity-name cfgtopic --alter --add-config retention.ms=soon", "retention.ms"),
    ("bin/kafka-topics.sh --zookeeper localhost:2181 --list", "--bootstrap-server"),
    ("bin/kafka-topics.sh --bootstrap-server localhost:9092", "exactly one action"),
    ("bin/kafka-console-consumer.sh --bootstrap-server localhost:9092 --topic t --offset 5", "partition is required"),
    ("bin/kafka-dump-log.sh --files /no/such/00000000000000000000.log", "cannot read /no/such"),
]


def test_bad_input_gives_one_line_and_nonzero_exit(broker):
    ok("bin/kafka-topics.sh --bootstrap-server localhost:9092 --create --topic cfgtopic", broker.port)
    for cmd, fragment in BAD_INPUT:
        p, took = sh(cmd, broker.port, timeout=TOOL_TIMEOUT_S + 5)
        assert p.returncode != 0, f"{cmd}: exit 0\n{p.stdout}"
        lines = p.stderr.splitlines()
        assert len(lines) == 1, f"{cmd}: stderr is not one line: {p.stderr!r}"
        assert fragment in lines[0], f"{cmd}: {lines[0]!r} lacks {fragment!r}"
        assert took < TOOL_TIMEOUT_S, f"{cmd} took {took:.1f} s"
    # Nothing was created by the failed commands.
    assert ok("bin/kafka-topics.sh --bootstrap-server localhost:9092 --list", broker.port) == ["cfgtopic"]


@pytest.mark.parametrize(
    "tool",
    [
        "kafka-topics.sh --list",
        "kafka-console-consumer.sh --topic t",
        "kafka-configs.sh --entity-type topics --entity-name t --describe",
        "kafka-broker-api-versions.sh",
        "kafka-get-offsets.sh --topic t",
        "kafka-log-dirs.sh --describe",
    ],
)
def test_unreachable_bootstrap_server(tool):
    port = _closed_port()
    p, took = sh(f"bin/{tool} --bootstrap-server 127.0.0.1:{port}", port, timeout=TOOL_TIMEOUT_S + 5)
    assert p.returncode != 0
    assert took < TOOL_TIMEOUT_S
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert f"cannot connect to 127.0.0.1:{port}: Connection refused" in lines[0]
    assert "--bootstrap-server" in lines[0]


def test_silent_server_fails_within_10s():
    """A listener that accepts but never answers (a hung broker): the tool must give up on
    its own, with one line, inside 10 s."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        port = srv.getsockname()[1]
        p, took = sh(f"bin/kafka-topics.sh --bootstrap-server 127.0.0.1:{port} --list", port,
                     timeout=TOOL_TIMEOUT_S + 5)
    assert p.returncode != 0
    assert took < TOOL_TIMEOUT_S, f"took {took:.1f} s"
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and f"no response from 127.0.0.1:{port}" in lines[0], p.stderr


def test_keys_headers_and_print_properties_round_trip(broker):
    port = broker.port
    ok("bin/kafka-topics.sh --bootstrap-server localhost:9092 --create --topic rt --partitions 1", port)
    lines = "h1:a,h2:b|k1|v1\nNUL|k2|v2\nh3:NUL|NUL|NUL\n"
    ok(
        "bin/kafka-console-producer.sh --bootstrap-server localhost:9092 --topic rt "
        "--property parse.key=true --property key.separator='|' --property parse.headers=true "
        "--property headers.delimiter='|' --property null.marker=NUL --compression-codec lz4",
        port,
        stdin=lines,
    )
    base = "bin/kafka-console-consumer.sh --bootstrap-server localhost:9092 --topic rt --from-beginning --max-messages 3"
    out = ok(
        base
        + " --property print.key=true --property print.headers=true --property print.offset=true"
        " --property print.partition=true --property print.timestamp=true --property null.literal=NIL",
        port,
    )
    assert len(out) == 3
    now_ms = time.time() * 1000
    rows = [l.split("\t") for l in out]
    for i, r in enumerate(rows):
        assert re.fullmatch(r"CreateTime:\d+", r[0]) and abs(int(r[0][11:]) - now_ms) < 60_000
        assert r[1] == "Partition:0" and r[2] == f"Offset:{i}"
    assert [r[3:] for r in rows] == [
        ["h1:a,h2:b", "k1", "v1"],
        ["NO_HEADERS", "k2", "v2"],
        ["h3:NIL", "NIL", "NIL"],
    ]
    out = ok(base + " --property print.value=false --property print.key=true --property line.separator=';'", port)
    assert out == ["k1;k2;null;"]
    out = ok(
        base + " --property print.headers=true --property headers.separator=' & ' --property key.separator=' => '",
        port,
    )
    assert out == ["h1:a & h2:b => v1", "NO_HEADERS => v2", "h3:null => null"]

    # Keyed records land where Kafka's murmur2 partitioner puts them.
    ok("bin/kafka-topics.sh --bootstrap-server localhost:9092 --create --topic keyed --partitions 4", port)
    ok(
        "bin/kafka-console-producer.sh --bootstrap-server localhost:9092 --topic keyed --property parse.key=true",
        port,
        stdin="foobar\tx\n21\ty\n",
    )
    out = ok(
        "bin/kafka-console-consumer.sh --bootstrap-server localhost:9092 --topic keyed --from-beginning "
        "--max-messages 2 --property print.partition=true --property print.key=true",
        port,
    )
    # murmur2("foobar") = -790332482 -> (x & 0x7fffffff) % 4 = 2; murmur2("21") -> 0
    assert sorted(out) == ["Partition:0\t21\ty", "Partition:2\tfoobar\tx"]


def test_other_tools(broker):
    port = broker.port
    ok("bin/kafka-topics.sh --bootstrap-server localhost:9092 --create --topic ot --partitions 2", port)
    ok("bin/kafka-console-producer.sh --bootstrap-server localhost:9092 --topic ot --property parse.key=true",
       port, stdin="".join(f"k{i}\tv{i}\n" for i in range(20)))
    latest = ok("bin/kafka-get-offsets.sh --bootstrap-server localhost:9092 --topic ot", port)
    counts = {int(l.split(":")[1]): int(l.split(":")[2]) for l in latest}
    assert all(re.fullmatch(r"ot:\d:\d+", l) for l in latest) and sum(counts.values()) == 20
    assert ok("bin/kafka-get-offsets.sh --bootstrap-server localhost:9092 --topic ot --time -2", port) == ["ot:0:0", "ot:1:0"]

    offsets = broker.tmp_dir / "offsets.json"
    offsets.write_text(json.dumps({"partitions": [{"topic": "ot", "partition": 0, "offset": 1}], "version": 1}))
    out = ok(f"bin/kafka-delete-records.sh --bootstrap-server localhost:9092 --offset-json-file {offsets}", port)
    assert out == ["Executing records delete operation", "Records delete operation completed:",
                   "partition: ot-0\tlow_watermark: 1"]
    assert ok("bin/kafka-get-offsets.sh --bootstrap-server localhost:9092 --topic ot --partitions 0 --time earliest", port) == ["ot:0:1"]

    out = ok("bin/kafka-log-dirs.sh --bootstrap-server localhost:9092 --describe --topic-list ot", port)
    assert out[:2] == ["Querying brokers for log directories information",
                       "Received log directory information from brokers 1"]
    doc = json.loads(out[2])
    assert doc["version"] == 1 and doc["brokers"][0]["broker"] == 1
    dirs = doc["brokers"][0]["logDirs"]
    assert dirs[0]["error"] is None and dirs[0]["logDir"] == str(broker.data_dir)
    parts = {p["partition"]: p for p in dirs[0]["partitions"]}
    assert set(parts) == {"ot-0", "ot-1"}
    assert sum(p["size"] for p in parts.values()) > 0
    assert all(p["offsetLag"] == 0 and p["isFuture"] is False for p in parts.values())

    seg = broker.data_dir / "ot-1" / "00000000000000000000.log"
    out = ok(f"bin/kafka-dump-log.sh --files {seg} --print-data-log", port)
    assert out[0] == f"Dumping {seg}" and out[1] == "Log starting offset: 0"
    assert re.fullmatch(
        r"baseOffset: 0 lastOffset: \d+ count: \d+ baseSequence: -1 lastSequence: -1 producerId: -1 "
        r"producerEpoch: -1 partitionLeaderEpoch: 0 isTransactional: false isControl: false "
        r"deleteHorizonMs: OptionalLong.empty position: 0 CreateTime: \d+ size: \d+ magic: 2 "
        r"compresscodec: none crc: \d+ isvalid: true",
        out[2],
    ), out[2]
    records = [l for l in out if l.startswith("| offset: ")]
    assert len(records) == counts[1]
    assert re.fullmatch(
        r"\| offset: 0 CreateTime: \d+ keySize: 2 valueSize: 2 sequence: -1 headerKeys: \[\] key: k\d+ payload: v\d+",
        records[0],
    ), records[0]


def test_help_and_version():
    for tool in ["topics", "console-producer", "console-consumer", "configs", "broker-api-versions",
                 "get-offsets", "delete-records", "log-dirs", "dump-log"]:
        p, _ = sh(f"bin/kafka-{tool}.sh --help", 0)
        assert p.returncode == 0 and "Examples:" in p.stdout and "--version" in p.stdout, tool
        p, _ = sh(f"bin/kafka-{tool}.sh --version", 0)
        assert p.returncode == 0 and "(Strom)" in p.stdout, tool


def test_console_producer_many_lines_and_no_progress_in_pipes(broker):
    """Thousands of piped lines arrive (Produce v3+ takes one batch per partition, so a round
    larger than --batch-size must not split), and with stderr a pipe no progress indicator is
    drawn: stderr carries only Kafka's lines."""
    port = broker.port
    ok("bin/kafka-topics.sh --create --topic many --partitions 1 --bootstrap-server localhost:9092", port)
    lines = "".join(f"line-{i}\n" for i in range(20000))
    p, _ = sh("bin/kafka-console-producer.sh --bootstrap-server localhost:9092 --topic many", port, stdin=lines)
    assert p.returncode == 0, p.stderr
    assert p.stderr == "", p.stderr
    p, _ = sh("bin/kafka-console-consumer.sh --bootstrap-server localhost:9092 --topic many "
              "--from-beginning --timeout-ms 3000", port)
    assert sorted(p.stdout.splitlines()) == sorted(f"line-{i}" for i in range(20000))
    assert p.stderr.splitlines() == ["Processed a total of 20000 messages"], p.stderr
