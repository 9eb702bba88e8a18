"""kcat (librdkafka's command-line client): list metadata, produce lines, consume to the end."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from strom_kafka import create_topic, unique_topic, watermarks

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
pytestmark = pytest.mark.skipif(KCAT is None, reason="kcat is not installed (scripts/test.sh tries apt-get install kcat)")


def kcat(*args, input: bytes | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    p = subprocess.run([KCAT, *args], input=input, capture_output=True, timeout=timeout)
    assert p.returncode == 0, f"kcat {' '.join(args)} exited {p.returncode}\nstdout: {p.stdout[-2000:]!r}\nstderr: {p.stderr[-4000:]!r}"
    return p


def test_kcat_metadata(broker):
    topic = unique_topic("kcat-md")
    create_topic(broker.bootstrap, topic, 3)
    out = kcat("-b", broker.bootstrap, "-L").stdout.decode()
    assert f"broker 1 at 127.0.0.1:{broker.port}" in out, out
    assert f'topic "{topic}" with 3 partitions:' in out, out
    for p in range(3):
        assert f"partition {p}, leader 1, replicas: 1, isrs: 1" in out, out

    js = kcat("-b", broker.bootstrap, "-L", "-J", "-t", topic).stdout.decode()
    import json

    md = json.loads(js)
    assert [b["id"] for b in md["brokers"]] == [1]
    (t,) = md["topics"]
    assert t["topic"] == topic and len(t["partitions"]) == 3


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_kcat_produce_consume(broker, codec):
    topic = unique_topic(f"kcat-{codec}")
    create_topic(broker.bootstrap, topic, 1)
    lines = [f"key{i}:line {i} " + "x" * (i % 50) for i in range(2000)]
    kcat("-b", broker.bootstrap, "-P", "-t", topic, "-p", "0", "-K", ":", "-z", codec,
         "-X", "enable.idempotence=false", input=("\n".join(lines) + "\n").encode())
    assert watermarks(broker.bootstrap, topic, 0) == (0, 2000)

    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e",
               "-f", "%o|%k|%s\n").stdout.decode()
    got = out.splitlines()
    want = [f"{i}|{line.split(':', 1)[0]}|{line.split(':', 1)[1]}" for i, line in enumerate(lines)]
    assert got == want, (got[:3], want[:3], len(got))


def test_kcat_consume_with_headers_and_offsets(broker):
    topic = unique_topic("kcat-hdr")
    create_topic(broker.bootstrap, topic, 1)
    for i in range(5):
        kcat("-b", broker.bootstrap, "-P", "-t", topic, "-p", "0", "-H", f"n={i}", "-H", "kind=kcat",
             input=f"value-{i}".encode())
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-p", "0", "-o", "2", "-e",
               "-f", "%o %h %s\n").stdout.decode()
    assert out.splitlines() == [f"{i} n={i},kind=kcat value-{i}" for i in range(2, 5)], out
    # Negative offset: relative to the end.
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-p", "0", "-o", "-1", "-e", "-f", "%o %s\n").stdout.decode()
    assert out.splitlines() == ["4 value-4"], out
