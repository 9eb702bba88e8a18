"""`strom server-start` as an operator uses it (DESIGN.md, product contract): invalid config
values refuse to start naming the key, a data dir of another node is refused, SIGTERM is a
clean shutdown within 5 s even under load."""

from __future__ import annotations

import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from conftest import STROM_BIN, free_port
from strom_kafka import ck_producer, create_topic, make_records, unique_topic


def run_strom(data_dir: Path, *overrides: str, timeout: float = 15) -> subprocess.CompletedProcess:
    """Start strom expecting it to exit by itself; kill it if it is still up after `timeout`."""
    port = free_port()
    args = [
        str(STROM_BIN), "server-start",
        "--override", f"listeners=PLAINTEXT://127.0.0.1:{port}",
        "--override", f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "--override", f"log.dirs={data_dir}",
    ]
    for o in overrides:
        args += ["--override", o]
    try:
        return subprocess.run(args, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(
            f"strom kept running with {overrides}; expected it to refuse to start.\n"
            f"stderr: {(e.stderr or b'')[-3000:]!r}"
        ) from None


def test_invalid_config_value_refuses_to_start():
    with tempfile.TemporaryDirectory() as d:
        p = run_strom(Path(d) / "data", "num.partitions=abc")
        assert p.returncode != 0
        err = (p.stderr + p.stdout).decode(errors="replace")
        assert "num.partitions" in err and "abc" in err, err[-2000:]


def test_out_of_range_config_value_refuses_to_start():
    with tempfile.TemporaryDirectory() as d:
        p = run_strom(Path(d) / "data", "num.partitions=0")
        assert p.returncode != 0
        assert "num.partitions" in (p.stderr + p.stdout).decode(errors="replace")


def test_unknown_key_is_a_warning_not_an_error(broker_factory):
    b = broker_factory({"strom.no.such.key": "1"})
    b.check_alive()
    assert "strom.no.such.key" in b.stderr_text(), "unknown key not named in a warning"


def test_data_dir_of_another_node_is_refused(broker):
    """meta.properties says the dir belongs to node 7; this node is node 1: refuse, as Kafka
    does ("Stored node id 7 doesn't match previous node id 1"), naming the mismatch.
    (Changing cluster.id in a lone log dir is not a detectable conflict: Kafka starts too.)"""
    topic = unique_topic("owned")
    create_topic(broker.bootstrap, topic, 1)
    broker.stop()
    meta = broker.data_dir / "meta.properties"
    text = meta.read_text()
    assert re.search(r"^node\.id=1$", text, re.M), f"no node.id=1 in meta.properties:\n{text}"
    meta.write_text(re.sub(r"^node\.id=1$", "node.id=7", text, flags=re.M))
    p = run_strom(broker.data_dir)
    assert p.returncode != 0, "strom started on a data dir of another node"
    err = (p.stderr + p.stdout).decode(errors="replace")
    assert "node" in err.lower() and "7" in err, err[-2000:]


def test_sigterm_under_load_is_clean_and_fast(broker):
    """SIGTERM while a producer is busy: exits 0 within 5 s (Broker.stop checks), and the next
    start finds a clean shutdown (no recovery needed) and all the acknowledged data."""
    topic = unique_topic("termload")
    create_topic(broker.bootstrap, topic, 2)
    records = make_records(200_000, tag="term", partitions=2)
    acked = []
    stop = threading.Event()

    def produce():
        p = ck_producer(broker.bootstrap, acks=1, **{"message.timeout.ms": 3000})
        for r in records:
            if stop.is_set():
                break
            while True:
                try:
                    p.produce(topic, value=r.value, key=r.key, partition=r.partition,
                              on_delivery=lambda e, m: e is None and acked.append((m.partition(), m.offset())))
                    break
                except BufferError:
                    p.poll(0.05)
            p.poll(0)
        p.flush(10)

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 20_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert acked, "nothing acknowledged before SIGTERM"
    broker.stop()
    stop.set()
    t.join(30)
    assert (broker.data_dir / ".kafka_cleanshutdown").exists(), "no clean-shutdown marker after SIGTERM"
    broker.start()
    from strom_kafka import watermarks

    for part in range(2):
        top = max((o for p, o in acked if p == part), default=-1)
        lo, hi = watermarks(broker.bootstrap, topic, part)
        assert lo == 0 and hi > top, f"partition {part}: watermarks {(lo, hi)}, acknowledged up to {top}"
