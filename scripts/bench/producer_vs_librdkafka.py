#!/usr/bin/env python3
"""Strom's producer (`strom producer-perf-test`) against librdkafka (confluent-kafka) on the
same broker, the same workload and the same producer settings, interleaved A B B A. The
librdkafka side calls librdkafka's C API (rd_kafka_produce_batch) through ctypes, so Python
adds no per-record cost.

    target/venv/bin/python scripts/bench/producer_vs_librdkafka.py [--pairs 3] [--json out.json]

Starts target/release/strom on a free loopback port with a temp data dir (pinned to CPU 0 when
the machine has two or more cores; the load generators run on CPU 1), and for each workload
runs strom (A) and librdkafka (B) in the order A B B A per pair, each on a fresh topic that is
deleted afterwards. Throughput is records acknowledged / seconds from producer creation to the
last acknowledgement (strom: the tool's final line; librdkafka: measured around rd_kafka_new,
rd_kafka_produce_batch and rd_kafka_flush). Prints each run, the ratio strom/librdkafka per pair, the median and
range of the ratios, and the load average before and after. A benchmark, not a test.

Also usable alone as the librdkafka load generator:

    target/venv/bin/python scripts/bench/producer_vs_librdkafka.py --rdkafka-only \
        --bootstrap 127.0.0.1:9092 --topic t --num-records 100000 --record-size 1024 \
        --producer-props acks=1 linger.ms=5 batch.size=16384
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STROM = Path(os.environ.get("STROM_BIN", REPO / "target" / "release" / "strom"))

# (name, partitions, record bytes, records, producer props shared by both clients)
WORKLOADS = [
    ("1KiB x 4 partitions, acks=1", 4, 1024, 300_000,
     {"acks": "1", "linger.ms": "5", "batch.size": "16384", "enable.idempotence": "false",
      "max.in.flight.requests.per.connection": "5", "compression.type": "none"}),
    ("100B x 1 partition, acks=all, idempotent", 1, 100, 1_000_000,
     {"acks": "all", "linger.ms": "5", "batch.size": "16384", "enable.idempotence": "true",
      "max.in.flight.requests.per.connection": "5", "compression.type": "none"}),
]

FINAL = re.compile(r"^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\)")


def librdkafka():
    """The librdkafka shared library that confluent-kafka ships, through ctypes."""
    import ctypes
    import glob

    import confluent_kafka

    pkg = Path(confluent_kafka.__file__).resolve().parent
    libs = glob.glob(str(pkg.parent / "confluent_kafka.libs" / "librdkafka*.so*"))
    lib = ctypes.CDLL(libs[0] if libs else "librdkafka.so.1")
    vp, cp, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
    lib.rd_kafka_conf_new.restype = vp
    lib.rd_kafka_conf_set.argtypes = [vp, cp, cp, cp, sz]
    lib.rd_kafka_new.restype = vp
    lib.rd_kafka_new.argtypes = [ctypes.c_int, vp, cp, sz]
    lib.rd_kafka_topic_new.restype = vp
    lib.rd_kafka_topic_new.argtypes = [vp, cp, vp]
    lib.rd_kafka_produce_batch.argtypes = [vp, ctypes.c_int32, ctypes.c_int, vp, ctypes.c_int]
    lib.rd_kafka_poll.argtypes = [vp, ctypes.c_int]
    lib.rd_kafka_flush.argtypes = [vp, ctypes.c_int]
    lib.rd_kafka_topic_destroy.argtypes = [vp]
    lib.rd_kafka_destroy.argtypes = [vp]
    lib.rd_kafka_version_str.restype = cp
    return lib


def run_rdkafka(bootstrap: str, topic: str, n: int, size: int, props: dict[str, str]) -> float:
    """Produces n records of `size` bytes with librdkafka's C API (rd_kafka_produce_batch, one
    call per 10,000 records, payloads not copied: the per-record cost is librdkafka's alone).
    Returns records/s from producer creation to the last acknowledgement."""
    import ctypes

    class Message(ctypes.Structure):  # rd_kafka_message_t
        _fields_ = [("err", ctypes.c_int), ("rkt", ctypes.c_void_p),
                    ("partition", ctypes.c_int32), ("payload", ctypes.c_void_p),
                    ("len", ctypes.c_size_t), ("key", ctypes.c_void_p),
                    ("key_len", ctypes.c_size_t), ("offset", ctypes.c_int64),
                    ("_private", ctypes.c_void_p)]

    lib = librdkafka()
    payload = ctypes.create_string_buffer(bytes((65 + (i * 7) % 26) for i in range(size)), size)
    conf_values = {"bootstrap.servers": bootstrap, "queue.buffering.max.kbytes": str(32 * 1024),
                   "queue.buffering.max.messages": "2000000", **props}
    start = time.perf_counter()
    conf = lib.rd_kafka_conf_new()
    err = ctypes.create_string_buffer(512)
    for k, v in conf_values.items():
        if lib.rd_kafka_conf_set(conf, k.encode(), str(v).encode(), err, 512) != 0:
            raise SystemExit(f"librdkafka config {k}={v}: {err.value.decode()}")
    rk = lib.rd_kafka_new(0, conf, err, 512)
    if not rk:
        raise SystemExit(f"rd_kafka_new: {err.value.decode()}")
    rkt = lib.rd_kafka_topic_new(rk, topic.encode(), None)
    chunk = 10_000
    msgs = (Message * chunk)()
    for i in range(chunk):
        msgs[i].payload = ctypes.addressof(payload)
        msgs[i].len = size
    sent = 0
    RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_PARTITION = -1, 0x8
    while sent < n:
        k = min(chunk, n - sent)
        first = 0
        while first < k:
            ok = lib.rd_kafka_produce_batch(rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_PARTITION,
                                            ctypes.byref(msgs, first * ctypes.sizeof(Message)),
                                            k - first)
            if ok == k - first:
                break
            # Only failed messages have err set; clear it before resubmitting them.
            failed = [i for i in range(first, k) if msgs[i].err != 0]
            # librdkafka enqueues in order and fails the rest once its queue is full.
            assert failed == list(range(failed[0], k)), "non-suffix failures"
            first = failed[0]
            for i in failed:
                msgs[i].err = 0
            lib.rd_kafka_poll(rk, 1)
        sent += k
        lib.rd_kafka_poll(rk, 0)
    left = lib.rd_kafka_flush(rk, 120_000)
    elapsed = time.perf_counter() - start
    lib.rd_kafka_topic_destroy(rkt)
    lib.rd_kafka_destroy(rk)
    if left != 0:
        raise SystemExit(f"librdkafka flush failed with error {left}")
    return n / elapsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pin(cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu)] if cpu is not None and shutil.which("taskset") else []


def strom(*args: str, cpu: int | None = None, check: bool = True) -> str:
    r = subprocess.run(pin(cpu) + [str(STROM), *args], capture_output=True, text=True, timeout=600)
    if check and r.returncode != 0:
        raise SystemExit(f"strom {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout


def end_offsets(bootstrap: str, topic: str) -> int:
    out = strom("get-offsets", "--bootstrap-server", bootstrap, "--topic", topic)
    return sum(int(line.rsplit(":", 1)[1]) for line in out.split() if line)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--json")
    ap.add_argument("--rdkafka-only", action="store_true")
    ap.add_argument("--bootstrap")
    ap.add_argument("--topic")
    ap.add_argument("--num-records", type=int)
    ap.add_argument("--record-size", type=int)
    ap.add_argument("--producer-props", nargs="*", default=[])
    ap.add_argument("--scale", type=float, default=1.0, help="multiply record counts")
    ap.add_argument("--no-pin", action="store_true", help="do not pin broker and clients to CPUs")
    a = ap.parse_args()
    if a.rdkafka_only:
        props = dict(kv.split("=", 1) for kv in a.producer_props)
        rate = run_rdkafka(a.bootstrap, a.topic, a.num_records, a.record_size, props)
        print(f"{a.num_records} records sent, {rate:f} records/sec "
              f"({rate * a.record_size / 1048576:.2f} MB/sec) (librdkafka {librdkafka().rd_kafka_version_str().decode()})")
        return

    cpus = os.cpu_count() or 1
    broker_cpu, client_cpu = (0, 1) if cpus >= 2 and not a.no_pin else (None, None)
    tmp = Path(tempfile.mkdtemp(prefix="strom-bench-"))
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    listener = f"PLAINTEXT://{bootstrap}"
    log = open(tmp / "broker.log", "w")
    broker = subprocess.Popen(pin(broker_cpu) + [
        str(STROM), "server-start", "--override", f"listeners={listener}",
        "--override", f"advertised.listeners={listener}", "--override", f"log.dirs={tmp / 'data'}",
    ], stdout=log, stderr=subprocess.STDOUT)
    results = {"load_before": os.getloadavg(), "pinned": broker_cpu is not None,
               "workloads": []}
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        run_no = 0
        for name, parts, size, n, props in WORKLOADS:
            n = int(n * a.scale)
            rows = []

            def one(kind: str) -> float:
                nonlocal run_no
                run_no += 1
                topic = f"bench-{run_no}"
                strom("topics", "--bootstrap-server", bootstrap, "--create", "--topic", topic,
                      "--partitions", str(parts))
                if kind == "strom":
                    out = strom("producer-perf-test", "--topic", topic, "--num-records", str(n),
                                "--record-size", str(size), "--throughput", "-1",
                                "--producer-props", f"bootstrap.servers={bootstrap}",
                                *[f"{k}={v}" for k, v in props.items()], cpu=client_cpu)
                    m = [FINAL.match(line) for line in out.splitlines()]
                    m = [x for x in m if x]
                    rate = float(m[-1].group(2))
                else:
                    out = subprocess.run(pin(client_cpu) + [
                        sys.executable, __file__, "--rdkafka-only", "--bootstrap", bootstrap,
                        "--topic", topic, "--num-records", str(n), "--record-size", str(size),
                        "--producer-props", *[f"{k}={v}" for k, v in props.items()]],
                        capture_output=True, text=True, timeout=600)
                    if out.returncode != 0:
                        raise SystemExit(f"librdkafka run failed: {out.stderr.strip()}")
                    rate = float(FINAL.match(out.stdout).group(2))
                got = end_offsets(bootstrap, topic)
                if got != n:
                    raise SystemExit(f"{kind}: {got} records in {topic}, expected {n}")
                strom("topics", "--bootstrap-server", bootstrap, "--delete", "--topic", topic)
                print(f"  {kind:10} {rate:12.0f} records/s {rate * size / 1048576:8.1f} MB/s",
                      flush=True)
                return rate

            print(f"{name}: {n} records of {size} B; {props}", flush=True)
            for _ in range(a.pairs):
                s1 = one("strom")
                r1 = one("librdkafka")
                r2 = one("librdkafka")
                s2 = one("strom")
                ratio = (s1 + s2) / (r1 + r2)
                rows.append({"strom": [s1, s2], "librdkafka": [r1, r2], "ratio": ratio})
                print(f"  pair ratio strom/librdkafka = {ratio:.3f}", flush=True)
            ratios = [r["ratio"] for r in rows]
            summary = {"name": name, "records": n, "record_bytes": size, "partitions": parts,
                       "props": props, "pairs": rows, "median_ratio": statistics.median(ratios),
                       "min_ratio": min(ratios), "max_ratio": max(ratios)}
            results["workloads"].append(summary)
            print(f"  median ratio {summary['median_ratio']:.3f} "
                  f"(range {summary['min_ratio']:.3f} .. {summary['max_ratio']:.3f})", flush=True)
    finally:
        broker.terminate()
        try:
            broker.wait(10)
        except subprocess.TimeoutExpired:
            broker.kill()
        log.close()
        results["load_after"] = os.getloadavg()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average before {results['load_before']}, after {results['load_after']}")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
