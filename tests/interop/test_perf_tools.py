"""Kafka's perf tools (`bin/kafka-producer-perf-test.sh`, `kafka-consumer-perf-test.sh`,
`kafka-e2e-latency.sh` -> `strom <tool>`) against a real broker, with small counts.

Checked: every output line matches Kafka's layout (regex), the records the tools produce are
really in the topic (confluent-kafka watermarks, and a full read back for one run), and bad
flags give one line on stderr and a non-zero exit. Nothing here is timed: throughput figures
are only parsed, never compared.
"""

from __future__ import annotations

import subprocess

import pytest
import re

from conftest import REPO

BIN = REPO / "bin"

NUM = r"\d+(?:\.\d+)?"
WINDOW = re.compile(
    rf"^\d+ records sent, {NUM} records/sec \({NUM} MB/sec\), {NUM} ms avg latency, {NUM} ms max latency\.$"
)
FINAL = re.compile(
    rf"^(\d+) records sent, \d+\.\d{{6}} records/sec \(\d+\.\d\d MB/sec\), \d+\.\d\d ms avg latency, "
    rf"\d+\.\d\d ms max latency, \d+ ms 50th, \d+ ms 95th, \d+ ms 99th, \d+ ms 99\.9th\.$"
)
CSV_HEADER = (
    "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, "
    "rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
)
DETAILED_HEADER = (
    "time, threadId, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, "
    "rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
)
DATE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3}"
F4 = r"-?\d+\.\d{4}"
CSV_LINE = re.compile(rf"^{DATE}, {DATE}, {F4}, {F4}, (\d+), {F4}, 0, \d+, (?:{F4}|NaN|Infinity), (?:{F4}|NaN|Infinity)$")
DETAILED_LINE = re.compile(rf"^{DATE}, 0, {F4}, {F4}, \d+, {F4}, 0, \d+, {F4}, {F4}$")


def run(tool: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / f"kafka-{tool}.sh"), *args],
        cwd=REPO, capture_output=True, text=True, timeout=timeout,
    )


def ok(tool: str, *args: str) -> list[str]:
    p = run(tool, *args)
    assert p.returncode == 0, f"{tool} {args} exited {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p.stdout.splitlines()


def create(broker, topic: str, partitions: int = 1) -> None:
    ok("topics", "--bootstrap-server", broker.bootstrap, "--create", "--topic", topic,
       "--partitions", str(partitions))


def watermarks_total(broker, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "perf-check"})
    try:
        md = c.list_topics(topic, timeout=10)
        total = 0
        for p in md.topics[topic].partitions:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            total += hi - lo
        return total
    finally:
        c.close()


def read_all(broker, topic: str, n: int) -> list[bytes]:
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "perf-read",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    out = []
    try:
        for _ in range(200):
            for m in c.consume(1000, timeout=0.5):
                assert m.error() is None, m.error()
                out.append(m.value())
            if len(out) >= n:
                break
    finally:
        c.close()
    return out


def test_producer_perf_test_lines_and_records(broker):
    create(broker, "perf-p", 3)
    out = ok("producer-perf-test", "--topic", "perf-p", "--num-records", "5000",
             "--record-size", "100", "--throughput", "-1",
             "--producer-props", f"bootstrap.servers={broker.bootstrap}", "acks=all",
             "linger.ms=1", "batch.size=4096")
    assert len(out) == 1, out
    m = FINAL.match(out[0])
    assert m, out[0]
    assert int(m.group(1)) == 5000
    assert watermarks_total(broker, "perf-p") == 5000
    values = read_all(broker, "perf-p", 5000)
    assert len(values) == 5000
    assert all(len(v) == 100 and v.isalpha() and v.isupper() for v in values)


def test_producer_perf_test_throttled_progress_and_metrics(broker, tmp_path):
    create(broker, "perf-t")
    cfg = tmp_path / "producer.properties"
    cfg.write_text(f"bootstrap.servers={broker.bootstrap}\nacks=1\ncompression.type=lz4\n")
    # 6.5 s at 1000 records/s: one window line at 5 s, then the final line.
    out = ok("producer-perf-test", "--topic", "perf-t", "--num-records", "6500",
             "--record-size", "64", "--throughput", "1000", "--producer.config", str(cfg),
             "--print-metrics")
    assert WINDOW.match(out[0]), out
    finals = [line for line in out if FINAL.match(line)]
    assert len(finals) == 1 and FINAL.match(finals[0]).group(1) == "6500", out
    assert any(line.startswith("producer-metrics:record-send-total:") for line in out), out
    assert watermarks_total(broker, "perf-t") == 6500


def test_producer_perf_test_payload_file(broker, tmp_path):
    create(broker, "perf-f")
    f = tmp_path / "payloads.txt"
    f.write_text("alpha;beta;gamma")
    out = ok("producer-perf-test", "--topic", "perf-f", "--num-records", "300",
             "--payload-file", str(f), "--payload-delimiter", ";", "--throughput", "-1",
             "--producer-props", f"bootstrap.servers={broker.bootstrap}")
    assert out[0].startswith("Reading payloads from: "), out
    assert out[1] == "Number of messages read: 3", out
    assert FINAL.match(out[-1]), out
    values = read_all(broker, "perf-f", 300)
    assert len(values) == 300 and set(values) <= {b"alpha", b"beta", b"gamma"}


def test_consumer_perf_test_reads_what_was_produced(broker):
    create(broker, "perf-c", 2)
    ok("producer-perf-test", "--topic", "perf-c", "--num-records", "3000", "--record-size", "200",
       "--throughput", "-1", "--producer-props", f"bootstrap.servers={broker.bootstrap}")
    out = ok("consumer-perf-test", "--bootstrap-server", broker.bootstrap, "--topic", "perf-c",
             "--messages", "3000", "--timeout", "5000")
    assert out[0] == CSV_HEADER
    m = CSV_LINE.match(out[1])
    assert m, out[1]
    assert int(m.group(1)) == 3000
    assert len(out) == 2
    out = ok("consumer-perf-test", "--bootstrap-server", broker.bootstrap, "--topic", "perf-c",
             "--messages", "3000", "--show-detailed-stats", "--reporting-interval", "1",
             "--group", "g1")
    assert out[0] == DETAILED_HEADER
    assert all(DETAILED_LINE.match(line) for line in out[1:]), out
    # Asking for more than exists: Kafka's warning after --timeout, then the line.
    out = ok("consumer-perf-test", "--bootstrap-server", broker.bootstrap, "--topic", "perf-c",
             "--messages", "3001", "--timeout", "1000", "--hide-header")
    assert out[0].startswith("WARNING: Exiting before consuming the expected number of messages")
    assert int(CSV_LINE.match(out[1]).group(1)) == 3000


def test_e2e_latency(broker):
    out = ok("e2e-latency", broker.bootstrap, "perf-e2e", "1500", "all", "100")
    assert out[0] == ('Topic "perf-e2e" does not exist. Will create topic with 1 partition(s) '
                      "and replication factor = 1")
    progress = [line for line in out if re.match(r"^\d+\t\d+(\.\d+)?(e-?\d+)?$", line)]
    assert [p.split("\t")[0] for p in progress] == ["0", "1000"], out
    assert re.match(r"^Avg latency: \d+\.\d{4} ms$", out[-3]), out
    assert re.match(r"^Percentiles: 50th = \d+, 99th = \d+, 99\.9th = \d+$", out[-2]), out
    assert re.match(
        r"^Latency in microseconds: avg = \d+\.\d, 50th = \d+, 99th = \d+, 99\.9th = \d+, max = \d+$",
        out[-1]), out
    assert watermarks_total(broker, "perf-e2e") == 1500


@pytest.mark.parametrize("tool,args,needle", [
    ("producer-perf-test", ["--topic", "x", "--num-records", "10", "--throughput", "-1",
                            "--producer-props", "bootstrap.servers=127.0.0.1:1"],
     "--record-size"),
    ("producer-perf-test", ["--topic", "x", "--num-records", "10", "--record-size", "10",
                            "--throughput", "-1"], "--producer-props"),
    ("producer-perf-test", ["--topic", "x", "--num-records", "0", "--record-size", "10",
                            "--throughput", "-1", "--producer-props", "bootstrap.servers=a:1"],
     "greater than zero"),
    ("producer-perf-test", ["--topic", "x", "--num-records", "10", "--record-size", "10",
                            "--throughput", "-1", "--producer-props", "bootstrap.servers=a:1",
                            "--transactional-id", "t"], "transactions are not supported"),
    ("producer-perf-test", ["--topic", "x", "--num-records", "10", "--record-size", "10",
                            "--throughput", "-1", "--producer-props", "bootstrap.servers=a:1",
                            "acks=1", "enable.idempotence=true"], "acks to all"),
    ("producer-perf-test", ["--bogus"], "--bogus is not a recognized option"),
    ("consumer-perf-test", ["--bootstrap-server", "127.0.0.1:1", "--topic", "x"], "messages"),
    ("consumer-perf-test", ["--bootstrap-server", "127.0.0.1:1", "--messages", "1"],
     "[topic], [include]"),
    ("e2e-latency", ["127.0.0.1:1", "t", "10", "0", "100"], "Please use 1 or all"),
    ("e2e-latency", ["127.0.0.1:1", "t"], "USAGE"),
])
def test_bad_flags_one_line_error(tool, args, needle):
    p = run(tool, *args, timeout=15)
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert needle in lines[0], lines[0]


def test_missing_topic(broker):
    # Kafka's producer asks for auto-creation (the broker's default allows it).
    out = ok("producer-perf-test", "--topic", "perf-auto", "--num-records", "10",
             "--record-size", "10", "--throughput", "-1",
             "--producer-props", f"bootstrap.servers={broker.bootstrap}")
    assert FINAL.match(out[-1]), out
    assert watermarks_total(broker, "perf-auto") == 10
    p = run("consumer-perf-test", "--bootstrap-server", broker.bootstrap, "--topic", "nope",
            "--messages", "1")
    assert p.returncode != 0
    assert p.stderr.strip().splitlines() == [p.stderr.strip()], p.stderr
    assert p.stderr.startswith("Topic nope does not exist"), p.stderr


def test_broker_killed_mid_run_fails_in_one_line(broker):
    create(broker, "perf-kill")
    p = subprocess.Popen(
        [str(BIN / "kafka-producer-perf-test.sh"), "--topic", "perf-kill", "--num-records", "100000",
         "--record-size", "100", "--throughput", "2000",
         "--producer-props", f"bootstrap.servers={broker.bootstrap}"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        import time
        time.sleep(1.5)
        broker.kill()
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode != 0, (out, err)
    assert len(err.strip().splitlines()) == 1, err
