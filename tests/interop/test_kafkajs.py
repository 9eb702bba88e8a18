"""kafkajs (Node): admin createTopics / fetchTopicOffsets / fetchTopicMetadata and a producer
with keys, headers, null values and gzip; the records are read back with confluent-kafka.
kafkajs has no manual partition assignment (its consumer always joins a group), so it does
not consume here until Strom has consumer groups."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO
from strom_kafka import Rec, check_consumed, ck_consume, counts_of, unique_topic

NODE = shutil.which("node")
MODULES = REPO / "target" / "kafkajs" / "node_modules"
SCRIPT = Path(__file__).parent / "kafkajs" / "produce.js"
pytestmark = pytest.mark.skipif(
    NODE is None or not (MODULES / "kafkajs").is_dir(),
    reason="node or kafkajs missing (scripts/test.sh installs kafkajs into target/kafkajs when node is present)",
)


def expected_records(count: int, base: int) -> list[Rec]:
    out = []
    for i in range(count):
        value = None if i % 97 == 5 else (f"kafkajs|{i}|" + "x" * (i % 120)).encode()
        out.append(Rec(i % 3, f"kjs-key-{i}".encode(), value, (("i", str(i).encode()), ("kind", b"kafkajs")), base + i))
    return out


@pytest.mark.parametrize("codec", ["none", "gzip"])
def test_kafkajs_produce_and_admin(broker, codec):
    topic = unique_topic(f"kjs-{codec}")
    count = 6000
    p = subprocess.run(
        [NODE, str(SCRIPT), broker.bootstrap, topic, str(count), codec],
        capture_output=True, timeout=120, env={**os.environ, "NODE_PATH": str(MODULES)},
    )
    assert p.returncode == 0, f"kafkajs failed:\n{p.stderr.decode()[-4000:]}"
    out = json.loads(p.stdout.decode().strip().splitlines()[-1])
    assert out["created"] is True
    assert out["partitions"] == 3
    assert all(a["errorCode"] == 0 for a in out["acks"]), out["acks"][:5]
    offsets = {o["partition"]: (int(o["low"]), int(o["high"])) for o in out["offsets"]}
    assert offsets == {0: (0, 2000), 1: (0, 2000), 2: (0, 2000)}, offsets

    records = expected_records(count, out["base"])
    exp: dict[int, list] = {}
    for r in records:
        exp.setdefault(r.partition, []).append((len(exp.get(r.partition, [])), r))
    check_consumed(ck_consume(broker.bootstrap, topic, counts_of(records)), exp, what=f"confluent reading kafkajs/{codec}:")
