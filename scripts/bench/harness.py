#!/usr/bin/env python3
"""Strom's benchmark harness: Strom against the machine's limits and against Tansu, in one run.

    target/venv/bin/python scripts/bench/harness.py --json bench.json --markdown bench.md
    target/venv/bin/python scripts/bench/harness.py --scale 0.05 --pairs 1          # smoke run
    target/venv/bin/python scripts/bench/harness.py --only produce-1k,e2e --skip-tansu

A benchmark, not a test: it prints figures and exits 0 whether or not the targets are met
(non-zero only when it could not run at all). Any Python 3.9+ works (stdlib only).

What it needs, and gets when missing:
  - target/release/strom-bench: the load generator (librdkafka through the `rdkafka` crate) and
    the machine-limit probes; built with `cargo build --release -p strom-bench` (--no-build
    skips the build when the binary exists).
  - the broker: $STROM_BIN, else target/release/strom (built with `cargo build --release -p
    strom-cli` when missing).
  - Tansu 0.6.0: $TANSU_BIN, else target/bench-tools/bin/tansu, installed with `cargo install
    --root target/bench-tools tansu --version 0.6.0 --features dynostore,libsql` when missing
    (a long build; --skip-tansu leaves Tansu out, and a failed install is reported, not fatal).
  - iperf3 (`apt-get install -y iperf3` when missing; skipped with a notice if that fails),
    taskset, and strace (for Strom's bytes per fsync; without it the fdatasync probe uses the
    record size and says so).

How it measures:
  - Every broker run is a fresh process on a free 127.0.0.1 port with a fresh data dir under a
    temp dir (--dir), pinned with taskset to CPU 0; the load generator and the probes' client
    side run on CPU 1 (no pinning on a one-CPU machine). Brokers are stopped by pid (SIGTERM,
    then SIGKILL), also when the harness fails or gets Ctrl-C/SIGTERM.
  - Systems are interleaved per pair as A B C D D C B A: Strom first, then its comparators (the
    workload's machine-limit probe, Tansu with its memory engine, Tansu with its SQLite engine).
    The ratio of a pair is (A1 + A2) / (X1 + X2); the Markdown reports the median of the pair
    ratios and their range (min..max).
  - Broker CPU-seconds per GB: utime + stime of the broker process (/proc/<pid>/stat, all its
    threads) over the timed part of the run only, per 10^9 payload bytes. Peak RSS: VmHWM of
    /proc/<pid>/status, reset through /proc/<pid>/clear_refs just before the timed part.
  - Start-to-accepting: from spawning the broker to the first TCP connection it accepts. Idle
    RSS: VmRSS one second after that, with no client connected.
  - Load average (1, 5, 15 min) before and after the whole run, and before every run.
  - The load generator's own CPU time (getrusage of the child) per second of the timed part:
    near 1 means its core was full and the client, not the broker, set the pace.

Workloads (the sizes are those of --scale 1; --scale multiplies counts and durations):
  startup       start-to-accepting and idle RSS (no load; the same for every scale)
  produce-1k    1 KiB records, 16 partitions, acks=1, 1 GiB; vs probe-recv-to-file of the
                same bytes (loopback socket -> file in the page cache)
  produce-100b  100-byte records, 1 partition, acks=1, 5,000,000 records (one producer)
  acks-all      1 KiB records, 1 partition, acks=all, topic flush.messages=1 (Strom fsyncs
                before acknowledging), 256 MiB; vs probe-fdatasync at Strom's mean bytes per
                fsync, measured in one extra Strom run under `strace -f --seccomp-bpf -y -e
                trace=fsync,fdatasync` (only that run is traced): bytes of the topic's .log
                files / fsync+fdatasync calls on them
  consume       catch-up of a 2 GiB backlog (1 KiB records, 16 partitions, produced untimed
                with acks=1) by a fresh consumer from offset 0; vs probe-sendfile of the same
                bytes (cached file -> socket with sendfile)
  e2e           end-to-end latency at 10,000 records/s of 1 KiB, 1 partition, acks=1, 30 s
                (+2 s warm-up), open loop: intended send times in the payload, so coordinated
                omission is corrected; p50/p99/p99.9 in microseconds
The producer settings are librdkafka's defaults plus the workload's acks, linger.ms=5 and
compression.type=none (e2e: linger.ms=0 and TCP_NODELAY on both clients); every system gets the
same client and the same settings. Plus, once before the workloads, iperf3 over loopback.

Tansu 0.6.0 runs as
    tansu broker --cluster-id strom-bench --listener-url tcp://127.0.0.1:PORT
        --advertised-listener-url tcp://127.0.0.1:PORT --storage-engine memory://tansu/
and with --storage-engine sqlite://tansu.db (a path relative to its working directory, which
is the run's temp dir). A workload Tansu fails (an unsupported feature, a timeout) is recorded as
failed with the reason, and the remaining runs of that system in that workload are skipped.

Output: --json FILE gets every run's raw numbers (generator output, broker CPU, RSS, load) and
the summaries; --markdown FILE a table of the ratios with the target next to each figure. Both
are also summarised on stdout.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "target" / "release" / "strom-bench"
TANSU_ROOT = REPO / "target" / "bench-tools"
TANSU_VERSION = "0.6.0"
MiB = 1 << 20
GiB = 1 << 30

PRODUCE_PROPS = ["linger.ms=5", "compression.type=none", "enable.idempotence=false"]
E2E_PROPS = ["acks=1", "compression.type=none", "enable.idempotence=false"]

# name -> what it runs; counts and durations at --scale 1.
WORKLOADS = {
    "startup": {"kind": "startup"},
    "produce-1k": {"kind": "produce", "record": 1024, "partitions": 16, "bytes": GiB,
                   "props": ["acks=1"], "probe": "recv-to-file", "metric": "mb_per_sec"},
    "produce-100b": {"kind": "produce", "record": 100, "partitions": 1, "records": 5_000_000,
                     "props": ["acks=1"], "probe": None, "metric": "records_per_sec"},
    "acks-all": {"kind": "produce", "record": 1024, "partitions": 1, "bytes": 256 * MiB,
                 "props": ["acks=all"], "topic_config": ["flush.messages=1"],
                 "probe": "fdatasync", "metric": "mb_per_sec"},
    "consume": {"kind": "consume", "record": 1024, "partitions": 16, "bytes": 2 * GiB,
                "probe": "sendfile", "metric": "mb_per_sec"},
    "e2e": {"kind": "e2e", "record": 1024, "partitions": 1, "rate": 10_000, "seconds": 30,
            "warmup": 2, "metric": "p99_us"},
}

# The targets. (workload, figure) -> (text, test on the median)
TARGETS = {
    ("produce-1k", "probe"): (">= 0.60", lambda v: v >= 0.60),
    ("produce-1k", "cpu"): ("<= 1.5 CPU-s/GB", lambda v: v <= 1.5),
    ("produce-1k", "tansu-memory"): (">= 1.5", lambda v: v >= 1.5),
    ("produce-1k", "tansu-sqlite"): (">= 5", lambda v: v >= 5),
    ("produce-100b", "abs"): (">= 500,000 records/s", lambda v: v >= 500_000),
    ("produce-100b", "tansu-memory"): (">= 1.5", lambda v: v >= 1.5),
    ("produce-100b", "tansu-sqlite"): (">= 5", lambda v: v >= 5),
    ("acks-all", "probe"): (">= 0.80", lambda v: v >= 0.80),
    ("consume", "probe"): (">= 0.60", lambda v: v >= 0.60),
    ("e2e", "abs"): ("p99 <= 1,000 us", lambda v: v <= 1000),
    ("e2e", "tansu-memory"): ("< 1 (lower p99)", lambda v: v < 1),
    ("e2e", "tansu-sqlite"): ("< 1 (lower p99)", lambda v: v < 1),
    ("startup", "start"): ("<= 100 ms", lambda v: v <= 100),
    ("startup", "rss"): ("<= 30 MiB", lambda v: v <= 30),
}

LIVE: dict[int, subprocess.Popen] = {}  # brokers and servers we started, by pid


def say(msg: str) -> None:
    print(msg, flush=True)


def notice(msg: str) -> None:
    print(f"*** NOTICE: {msg}", flush=True)


# --- processes ----------------------------------------------------------------------------------

class Pins:
    def __init__(self, enabled: bool):
        self.enabled = enabled and (os.cpu_count() or 1) >= 2 and shutil.which("taskset")
        self.broker_cpu = 0 if self.enabled else None
        self.client_cpu = 1 if self.enabled else None

    def broker(self) -> list[str]:
        return ["taskset", "-c", "0"] if self.enabled else []

    def client(self) -> list[str]:
        return ["taskset", "-c", "1"] if self.enabled else []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(p: subprocess.Popen, pid: int | None = None, grace: float = 10.0) -> None:
    """SIGTERM to the broker's pid (`pid`, else the process we spawned), then SIGKILL."""
    target = pid or p.pid
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        if p.poll() is not None:
            break
        try:
            os.kill(target, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(wait)
        except subprocess.TimeoutExpired:
            if target != p.pid and sig == signal.SIGKILL:
                p.kill()  # a tracer whose tracee is gone
    if p.poll() is None:
        p.kill()
        p.wait(5)
    LIVE.pop(p.pid, None)


def stop_all() -> None:
    for p in list(LIVE.values()):
        stop(p, grace=3.0)


def on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def proc_stat_cpu(pid: int) -> float:
    """utime + stime of the process (all threads), seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_kib(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def bench(args: list[str], timeout: float, pins: Pins) -> tuple[dict | None, str | None]:
    """Runs strom-bench on the client CPU: (its JSON, None) or (None, the reason it failed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        r = subprocess.run(pins.client() + [str(BENCH), *args], capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"strom-bench {args[0]}: no result within {timeout:.0f} s"
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["(no message)"])[-1]
        return None, last[:500]
    try:
        out = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None, f"strom-bench {args[0]}: unreadable output {r.stdout[:200]!r}"
    # The load generator's own CPU time (all its threads, set-up included): near 1 CPU-second
    # per second means the client, not the broker, set the pace.
    out["client_cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return out, None


# --- brokers ------------------------------------------------------------------------------------

class Broker:
    """One broker process with its own port and data dir; `pid` is the broker itself (under
    strace, the tracee)."""

    def __init__(self, system: str, cfg, tmp: Path, pins: Pins, strace_out: Path | None = None):
        self.system, self.tmp = system, tmp
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.data = tmp / "data"
        self.log = open(tmp / "broker.log", "wb")
        if system == "strom":
            listener = f"PLAINTEXT://{self.bootstrap}"
            cmd = [str(cfg.strom), "server-start", "--override", f"listeners={listener}",
                   "--override", f"advertised.listeners={listener}",
                   "--override", f"log.dirs={self.data}"]
        else:
            engine = "memory://tansu/" if system == "tansu-memory" else "sqlite://tansu.db"
            url = f"tcp://{self.bootstrap}"
            cmd = [str(cfg.tansu), "broker", "--cluster-id", "strom-bench",
                   "--listener-url", url, "--advertised-listener-url", url,
                   "--storage-engine", engine]
        self.data.mkdir()
        if strace_out is not None:
            cmd = ["strace", "-f", "--seccomp-bpf", "-qq", "-e", "signal=none", "-y",
                   "-e", "trace=fsync,fdatasync", "-o", str(strace_out), "--", *cmd]
        env = dict(os.environ)
        env.pop("RUST_LOG", None)
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(pins.broker() + cmd, cwd=tmp, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        LIVE[self.proc.pid] = self.proc
        self.pid = self.proc.pid
        try:
            self.start_ms = self._wait_accepting(30.0)
        except BaseException:
            self.stop()
            raise
        if strace_out is not None:
            kids = children(self.proc.pid)
            self.pid = kids[0] if kids else self.proc.pid
            self.start_ms = None  # the tracer's start-up is not the broker's

    def _wait_accepting(self, limit: float) -> float:
        deadline = time.perf_counter() + limit
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.system} exited with {self.proc.returncode} at start: "
                                   f"{self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.1).close()
                return (time.perf_counter() - self.t0) * 1000
            except OSError:
                time.sleep(0.001)
        raise RuntimeError(f"{self.system} not accepting on {self.bootstrap} within {limit} s")

    def log_tail(self) -> str:
        try:
            self.log.flush()
            lines = (self.tmp / "broker.log").read_text(errors="replace").strip().splitlines()
            return " | ".join(lines[-3:])[-400:]
        except OSError:
            return ""

    def cpu(self) -> float:
        return proc_stat_cpu(self.pid)

    def stop(self) -> None:
        stop(self.proc, self.pid)
        self.log.close()


# --- one run of one system ----------------------------------------------------------------------

def counts(w: dict, scale: float) -> tuple[int, int]:
    """(records, payload bytes) of a workload at a scale."""
    n = w["records"] if "records" in w else w["bytes"] // w["record"]
    n = max(1000, int(n * scale))
    return n, n * w["record"]


def run_broker_workload(cfg, name: str, w: dict, system: str, run_no: int, pins: Pins,
                        extra: dict) -> dict:
    """Starts `system`, runs the workload's timed part with the load generator, stops it."""
    tmp = Path(tempfile.mkdtemp(prefix=f"run{run_no}-", dir=cfg.dir))
    rec = {"system": system, "run": run_no, "load": os.getloadavg()}
    strace_out = tmp / "strace.txt" if extra.get("strace") else None
    b = None
    try:
        b = Broker(system, cfg, tmp, pins, strace_out)
        rec["start_ms"] = b.start_ms
        topic = f"bench-{name}-{run_no}"
        timeout = cfg.run_timeout
        if w["kind"] == "startup":
            time.sleep(1.0)
            rec["idle_rss_mib"] = proc_status_kib(b.pid, "VmRSS") / 1024
            rec["value"] = rec["start_ms"]
            return rec
        if w["kind"] == "consume":
            n, nbytes = counts(w, cfg.scale)
            out, err = bench(["produce", "--bootstrap", b.bootstrap, "--topic", topic,
                              "--partitions", str(w["partitions"]), "--record-size",
                              str(w["record"]), "--count", str(n), "--timeout-secs",
                              str(timeout), "acks=1", *PRODUCE_PROPS], timeout + 60, pins)
            if err:
                rec["error"] = f"producing the backlog: {err}"
                return rec
            rec["backlog"] = out
        cpu0, rss_reset = b.cpu(), reset_peak_rss(b.pid)
        if w["kind"] == "produce":
            n, nbytes = counts(w, cfg.scale)
            args = ["produce", "--bootstrap", b.bootstrap, "--topic", topic, "--partitions",
                    str(w["partitions"]), "--record-size", str(w["record"]), "--count", str(n),
                    "--timeout-secs", str(timeout)]
            for c in w.get("topic_config", []):
                args += ["--topic-config", c]
            out, err = bench(args + w["props"] + PRODUCE_PROPS, timeout + 60, pins)
        elif w["kind"] == "consume":
            out, err = bench(["consume", "--bootstrap", b.bootstrap, "--topic", topic,
                              "--timeout-secs", str(timeout)], timeout + 60, pins)
        else:  # e2e
            secs = max(2.0, w["seconds"] * cfg.scale)
            out, err = bench(["e2e", "--bootstrap", b.bootstrap, "--topic", topic,
                              "--partitions", str(w["partitions"]), "--rate", str(w["rate"]),
                              "--record-size", str(w["record"]), "--duration-secs", str(secs),
                              "--warmup-secs", str(w["warmup"]), *E2E_PROPS],
                             secs * 2 + 120, pins)
        cpu = b.cpu() - cpu0
        rec["broker_cpu_s"] = cpu
        rec["peak_rss_mib"] = (proc_status_kib(b.pid, "VmHWM") or 0) / 1024
        rec["peak_rss_reset"] = rss_reset
        if err:
            rec["error"] = err
            return rec
        rec["out"] = out
        if w["kind"] == "e2e" and out.get("missing"):
            rec["warning"] = f"{out['missing']} records never arrived"
        # Payload bytes the broker handled in the timed part (e2e: warm-up records too).
        gb = (out.get("bytes") or out.get("records_sent", out["records"]) * w["record"]) / 1e9
        rec["cpu_s_per_gb"] = cpu / gb if gb > 0 else None
        rec["value"] = out[w["metric"]]
        if strace_out is not None:
            b.stop()
            rec["fsync"] = fsync_stats(strace_out, b.data, topic)
        return rec
    except Exception as e:  # noqa: BLE001 - a failed run is a result, not the end of the run
        rec["error"] = f"{type(e).__name__}: {e}"
        if b is not None:
            rec["broker_log"] = b.log_tail()
        return rec
    finally:
        if b is not None:
            b.stop()
        shutil.rmtree(tmp, ignore_errors=True)


SYNC_LINE = re.compile(r"\b(fsync|fdatasync)\(\d+<([^>]*)>\)")


def fsync_stats(strace_out: Path, data: Path, topic: str) -> dict:
    """Syncs of the topic's segment files and the bytes in them."""
    syncs = 0
    prefix = str(data / f"{topic}-")
    for line in strace_out.read_text(errors="replace").splitlines():
        m = SYNC_LINE.search(line)
        if m and m.group(2).startswith(prefix) and m.group(2).endswith(".log"):
            syncs += 1
    log_bytes = sum(f.stat().st_size for f in data.glob(f"{topic}-*/*.log"))
    return {"syncs": syncs, "log_bytes": log_bytes,
            "bytes_per_sync": log_bytes / syncs if syncs else None}


def run_probe(cfg, probe: str, w: dict, run_no: int, pins: Pins, extra: dict) -> dict:
    rec = {"system": "probe", "probe": probe, "run": run_no, "load": os.getloadavg()}
    tmp = Path(tempfile.mkdtemp(prefix=f"probe{run_no}-", dir=cfg.dir))
    _, nbytes = counts(w, cfg.scale)
    cpus = []
    if pins.enabled:
        cpus = ["--server-cpu", "0", "--client-cpu", "1"]
    try:
        if probe == "recv-to-file":
            args = ["probe-recv-to-file", "--bytes", str(nbytes), "--dir", str(tmp), *cpus]
        elif probe == "sendfile":
            args = ["probe-sendfile", "--bytes", str(nbytes), "--dir", str(tmp), *cpus]
        else:
            bps = int(extra.get("bytes_per_sync") or w["record"])
            rec["bytes_per_sync"] = bps
            args = ["probe-fdatasync", "--bytes", str(nbytes), "--bytes-per-sync", str(bps),
                    "--dir", str(tmp), "--max-secs", str(min(60.0, cfg.run_timeout))]
            if pins.enabled:
                args += ["--cpu", "0"]
        # The probe pins its own threads; the process itself is not confined to one CPU.
        out, err = bench(args, cfg.run_timeout + 60, Pins(False))
        if err:
            rec["error"] = err
        else:
            rec["out"], rec["value"] = out, out["mb_per_sec"]
        return rec
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def iperf3(pins: Pins, seconds: float) -> dict:
    if not shutil.which("iperf3"):
        if shutil.which("apt-get") and os.geteuid() == 0:
            say("apt-get install -y iperf3")
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            r = subprocess.run(["apt-get", "install", "-y", "-q", "iperf3"], env=env,
                               capture_output=True, timeout=600)
            if r.returncode != 0:
                subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True,
                               timeout=600)
                subprocess.run(["apt-get", "install", "-y", "-q", "iperf3"], env=env,
                               capture_output=True, timeout=600)
        if not shutil.which("iperf3"):
            notice("iperf3 is missing and could not be installed; the loopback probe is skipped")
            return {"error": "iperf3 not available"}
    port = free_port()
    server = subprocess.Popen(pins.broker() + ["iperf3", "-s", "-B", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    LIVE[server.pid] = server
    try:
        for attempt in range(20):  # until the server listens (a bare connect would be a test)
            time.sleep(0.1 * (attempt + 1))
            r = subprocess.run(pins.client() + ["iperf3", "-c", "127.0.0.1", "-p", str(port),
                                                "-t", str(seconds), "-J"],
                               capture_output=True, text=True, timeout=seconds + 30)
            j = json.loads(r.stdout)
            if "error" not in j:
                break
            if "connect" not in j["error"]:
                return {"error": j["error"]}
        if "error" in j:
            return {"error": j["error"]}
        bps = j["end"]["sum_received"]["bits_per_second"]
        return {"gbit_per_sec": bps / 1e9, "mb_per_sec": bps / 8 / 1e6, "seconds": seconds}
    except (ValueError, KeyError, subprocess.TimeoutExpired) as e:
        return {"error": f"iperf3: {e}"}
    finally:
        stop(server, grace=2.0)


# --- one workload, interleaved ------------------------------------------------------------------

def run_workload(cfg, name: str, w: dict, pins: Pins, systems: list[str], counter) -> dict:
    probe = w.get("probe")
    others = ([f"probe:{probe}"] if probe else []) + [s for s in systems if s != "strom"]
    order = ["strom", *others, *reversed(others), "strom"]
    extra: dict = {}
    result: dict = {"name": name, "spec": w, "calibration": None, "pairs": []}
    if name == "acks-all" and "strom" in systems:
        if shutil.which("strace"):
            say("  calibration: Strom under strace for its bytes per fsync (not timed)")
            rec = run_broker_workload(cfg, name, w, "strom", next(counter), pins,
                                      {"strace": True})
            result["calibration"] = rec
            bps = (rec.get("fsync") or {}).get("bytes_per_sync")
            if bps:
                extra["bytes_per_sync"] = bps
                say(f"    {rec['fsync']['syncs']} syncs of {rec['fsync']['log_bytes']} bytes: "
                    f"{bps:,.0f} bytes per sync")
            else:
                notice(f"no fsync of the topic seen ({rec.get('error', 'no error')}); "
                       f"probe-fdatasync uses {w['record']} bytes per sync")
        else:
            notice(f"strace missing: probe-fdatasync uses {w['record']} bytes per sync")
    failed: dict[str, str] = {}
    for pair in range(cfg.pairs):
        runs: dict[str, list[dict]] = {}
        for system in order:
            if system in failed:
                rec = {"system": system, "error": f"skipped after a failure: {failed[system]}"}
            elif system.startswith("probe:"):
                rec = run_probe(cfg, probe, w, next(counter), pins, extra)
            else:
                rec = run_broker_workload(cfg, name, w, system, next(counter), pins, {})
            runs.setdefault(system, []).append(rec)
            show(name, rec, w)
            if "error" in rec and not rec["error"].startswith("skipped"):
                failed[system] = rec["error"]
        result["pairs"].append(runs)
    return result


def show(name: str, rec: dict, w: dict) -> None:
    sys_ = rec["system"] if rec["system"] != "probe" else f"probe {rec['probe']}"
    if "error" in rec:
        say(f"  {sys_:14} FAILED: {rec['error']}")
        return
    if w["kind"] == "startup":
        say(f"  {sys_:14} accepting after {rec['start_ms']:.1f} ms, idle RSS "
            f"{rec['idle_rss_mib']:.1f} MiB")
        return
    out = rec["out"]
    if w["kind"] == "e2e":
        fig = (f"p50 {out['p50_us']:.0f} us  p99 {out['p99_us']:.0f} us  "
               f"p99.9 {out['p999_us']:.0f} us  max {out['max_us']:.0f} us")
    else:
        fig = f"{out.get('records_per_sec', 0):12,.0f} rec/s {out['mb_per_sec']:9.1f} MB/s"
    if rec["system"] != "probe":
        fig += (f"  broker {rec['cpu_s_per_gb']:.2f} CPU-s/GB, peak RSS "
                f"{rec['peak_rss_mib']:.0f} MiB, client CPU {out['client_cpu_s']:.1f} s "
                f"in {out['seconds']:.1f} s")
    say(f"  {sys_:14} {fig}{'  ' + rec['warning'] if 'warning' in rec else ''}")


# --- summaries ----------------------------------------------------------------------------------

UNIT = {"mb_per_sec": "MB/s", "records_per_sec": "records/s", "p99_us": "p99 us"}
PROBE_LABEL = {"recv-to-file": "socket -> page-cache probe", "sendfile": "sendfile probe",
               "fdatasync": "fdatasync probe at Strom's bytes per sync"}


def mean_of(recs: list[dict], key) -> float | None:
    """The mean of a system's runs in one pair; None when one of them failed."""
    vals = [key(r) for r in recs if "error" not in r]
    vals = [v for v in vals if v is not None]
    if len(vals) != len(recs) or not vals:
        return None
    return sum(vals) / len(vals)


def spread(vals: list[float | None]) -> dict | None:
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def first_error(res: dict, system: str) -> str | None:
    for p in res["pairs"]:
        for r in p.get(system, []):
            if "error" in r:
                return r["error"]
    return None


def summarize(res: dict) -> dict:
    """Ratios of one workload (median and range over pairs) and each system's figures (median
    and range over its runs)."""
    name, w = res["name"], res["spec"]
    ratios, systems = [], []
    if not res["pairs"]:
        return {"ratios": ratios, "systems": systems}

    def per_pair(system: str, key) -> list[float | None]:
        return [mean_of(p.get(system, []), key) for p in res["pairs"]]

    def add(figure: str, target_key: str | None, vals: list[float | None], failed_of: str):
        ratios.append({"figure": figure, "target": target_key, "stats": spread(vals),
                       "failed": first_error(res, failed_of)})

    def ratio(key, vs: str) -> list[float | None]:
        return [x / y if x is not None and y else None
                for x, y in zip(per_pair("strom", key), per_pair(vs, key))]

    names = list(res["pairs"][0])
    if w["kind"] == "startup":
        add("Strom start to accepting, ms", "start", per_pair("strom", lambda r: r["start_ms"]),
            "strom")
        add("Strom idle RSS, MiB", "rss", per_pair("strom", lambda r: r["idle_rss_mib"]),
            "strom")
        for system in names:
            runs = [r for p in res["pairs"] for r in p.get(system, [])]
            systems.append({"system": system, "failed": first_error(res, system), "figures": {
                "start to accepting, ms": spread([r.get("start_ms") for r in runs]),
                "idle RSS, MiB": spread([r.get("idle_rss_mib") for r in runs])}})
        return {"ratios": ratios, "systems": systems}
    value = lambda r: r.get("value")  # noqa: E731
    add(f"Strom {UNIT[w['metric']]}", "abs", per_pair("strom", value), "strom")
    if w.get("probe"):
        add(f"Strom / {PROBE_LABEL[w['probe']]}", "probe", ratio(value, f"probe:{w['probe']}"),
            f"probe:{w['probe']}")
    for t in ("tansu-memory", "tansu-sqlite"):
        if t in names:
            word = "Strom p99 / p99 of" if w["kind"] == "e2e" else "Strom /"
            add(f"{word} {t}", t, ratio(value, t), t)
    add("Strom broker CPU-s/GB", "cpu", per_pair("strom", lambda r: r.get("cpu_s_per_gb")),
        "strom")
    for system in names:
        runs = [r for p in res["pairs"] for r in p.get(system, []) if "error" not in r]
        figs = {}
        if w["kind"] == "e2e":
            for q, label in (("p50_us", "p50 us"), ("p99_us", "p99 us"), ("p999_us", "p99.9 us")):
                figs[label] = spread([r["out"][q] for r in runs])
        else:
            figs["MB/s"] = spread([r["out"]["mb_per_sec"] for r in runs])
            if w["kind"] != "consume" or not system.startswith("probe"):
                figs["records/s"] = spread([r["out"].get("records_per_sec") for r in runs])
        if not system.startswith("probe"):
            figs["broker CPU-s/GB"] = spread([r.get("cpu_s_per_gb") for r in runs])
            figs["peak RSS, MiB"] = spread([r.get("peak_rss_mib") for r in runs])
            figs["client CPU-s/s"] = spread([r["out"]["client_cpu_s"] / r["out"]["seconds"]
                                             for r in runs])
        systems.append({"system": system, "failed": first_error(res, system), "figures": figs})
    return {"ratios": ratios, "systems": systems}


def fmt(v: float) -> str:
    if abs(v) < 0.1:
        return f"{v:.2g}"
    if v >= 10_000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def cell(s: dict | None) -> str:
    if not s:
        return "-"
    if s["n"] == 1 or s["min"] == s["max"]:
        return fmt(s["median"])
    return f"{fmt(s['median'])} ({fmt(s['min'])} .. {fmt(s['max'])})"


def markdown(report: dict) -> str:
    m = report["meta"]
    load = lambda xs: " ".join(f"{x:.2f}" for x in xs)  # noqa: E731
    lines = [
        "# Strom benchmark",
        "",
        f"{m['date']} on {m['host']} ({m['cpus']} CPUs, Linux {m['kernel']}); broker "
        f"`{m['strom']}`, harness at {m['git']}; Tansu: {m['tansu'] or 'not run'}; "
        f"{m['pairs']} pairs per workload, scale {m['scale']}; broker pinned to CPU 0 and load "
        f"generator to CPU 1: {'yes' if m['pinned'] else 'no'}.",
        "",
        f"Load average (1, 5, 15 min) before: {load(m['load_before'])}; after: "
        f"{load(m['load_after'])}.",
        "",
        "## Machine limits",
        "",
        "| probe | MB/s: median (range) |",
        "|---|---|",
    ]
    ip = report.get("iperf3") or {}
    if "gbit_per_sec" in ip:
        lines.append(f"| loopback TCP, iperf3, 1 stream, {ip['seconds']:.0f} s | "
                     f"{fmt(ip['mb_per_sec'])} ({ip['gbit_per_sec']:.1f} Gbit/s) |")
    else:
        lines.append(f"| loopback TCP, iperf3 | not run: {ip.get('error', 'skipped')} |")
    for res in report["workloads"]:
        probe = res["spec"].get("probe")
        if not probe:
            continue
        runs = [r for p in res["pairs"] for r in p.get(f"probe:{probe}", [])]
        what = {"recv-to-file": "socket -> file in page cache", "sendfile":
                "cached file -> socket, sendfile", "fdatasync": "append + fdatasync"}[probe]
        bps = [r["bytes_per_sync"] for r in runs if r.get("bytes_per_sync")]
        if bps:
            what += f", {statistics.median(bps):,.0f} bytes per sync"
        err = first_error(res, f"probe:{probe}")
        lines.append(f"| {what} ({res['name']}) | "
                     f"{cell(spread([r.get('value') for r in runs])) if not err else err} |")
    lines += ["", "## Ratios and targets", "",
              "Median over the pairs and range (min .. max); a ratio is (Strom A1 + A2) / "
              "(X1 + X2) of one A B B A pair.", "",
              "| workload | figure | median (range) | target | met |", "|---|---|---|---|---|"]
    for res in report["workloads"]:
        for row in res["summary"]["ratios"]:
            t = TARGETS.get((res["name"], row["target"]))
            if row["stats"]:
                val, met = cell(row["stats"]), (("yes" if t[1](row["stats"]["median"])
                                                 else "**no**") if t else "")
            else:
                val = "failed: " + (row["failed"] or "no run")[:150].replace("|", "/")
                met = "**no**" if t else ""
            if t or row["target"] in ("probe", "tansu-memory", "tansu-sqlite", "abs"):
                lines.append(f"| {res['name']} | {row['figure']} | {val} | "
                             f"{t[0] if t else ''} | {met} |")
    lines += ["", "## Every system", "",
              "Median over its runs and range; client CPU-s/s is the load generator's CPU time "
              "per second of the timed part (1 = its core was full).", "",
              "| workload | system | figures |", "|---|---|---|"]
    for res in report["workloads"]:
        for srow in res["summary"]["systems"]:
            figs = "; ".join(f"{k} {cell(v)}" for k, v in srow["figures"].items() if v)
            if srow["failed"]:
                figs = (figs + "; " if figs else "") + "FAILED: " + srow["failed"][:200]
            lines.append(f"| {res['name']} | {srow['system']} | {figs.replace('|', '/')} |")
    for res in report["workloads"]:
        f = (res.get("calibration") or {}).get("fsync") or {}
        if f.get("bytes_per_sync"):
            lines += ["", f"Strom's bytes per fsync ({res['name']}, one extra run under strace): "
                      f"{f['syncs']:,} fsync/fdatasync calls on the topic's segments holding "
                      f"{f['log_bytes']:,} bytes: {f['bytes_per_sync']:,.0f} bytes per sync."]
    lines.append("")
    return "\n".join(lines)


# --- setup --------------------------------------------------------------------------------------

def run_cmd(cmd: list[str], what: str, log: Path | None = None) -> bool:
    say(f"==> {' '.join(cmd)}")
    t0 = time.perf_counter()
    if log:
        with open(log, "w") as f:
            r = subprocess.run(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT)
    else:
        r = subprocess.run(cmd, cwd=REPO)
    say(f"    {what}: exit {r.returncode} after {time.perf_counter() - t0:.0f} s")
    return r.returncode == 0


def find_tansu(install: bool) -> Path | None:
    env = os.environ.get("TANSU_BIN")
    if env:
        return Path(env) if Path(env).exists() else None
    path = TANSU_ROOT / "bin" / "tansu"
    if path.exists() or not install:
        return path if path.exists() else None
    log = REPO / "target" / "bench-tools-install.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    ok = run_cmd(["cargo", "install", "--locked", "--root", str(TANSU_ROOT), "tansu", "--version",
                  TANSU_VERSION, "--features", "dynostore,libsql"], f"installing Tansu (log {log})",
                 log)
    return path if ok and path.exists() else None


def main() -> int:
    ap = argparse.ArgumentParser(description="Strom vs the machine's limits and Tansu.",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=5, help="A B B A pairs per workload (5)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="fraction of the default sizes, e.g. 0.05 for a smoke run")
    ap.add_argument("--only", help=f"comma-separated workloads of: {', '.join(WORKLOADS)}")
    ap.add_argument("--skip-tansu", action="store_true", help="Strom and the probes only")
    ap.add_argument("--json", help="write every run's raw numbers here")
    ap.add_argument("--markdown", help="write the table of ratios here")
    ap.add_argument("--dir", help="where the temp data dirs go (default: $TMPDIR)")
    ap.add_argument("--run-timeout", type=float, default=600.0,
                    help="seconds one load-generator run may take before it counts as failed")
    ap.add_argument("--iperf-seconds", type=float, default=5.0)
    ap.add_argument("--no-build", action="store_true",
                    help="do not run cargo build for strom-bench when it exists")
    ap.add_argument("--no-pin", action="store_true", help="do not pin to CPUs")
    cfg = ap.parse_args()
    if cfg.pairs < 1 or cfg.scale <= 0:
        ap.error("--pairs must be >= 1 and --scale > 0")
    names = list(WORKLOADS)
    if cfg.only:
        names = [n.strip() for n in cfg.only.split(",") if n.strip()]
        bad = [n for n in names if n not in WORKLOADS]
        if bad:
            ap.error(f"unknown workload(s) {bad}; known: {', '.join(WORKLOADS)}")
    signal.signal(signal.SIGTERM, on_signal)

    if not (cfg.no_build and BENCH.exists()):
        if not run_cmd(["cargo", "build", "--release", "-p", "strom-bench"], "strom-bench"):
            return 2
    cfg.strom = Path(os.environ.get("STROM_BIN", REPO / "target" / "release" / "strom"))
    if not cfg.strom.exists():
        if "STROM_BIN" in os.environ or not run_cmd(
                ["cargo", "build", "--release", "-p", "strom-cli"], "strom"):
            print(f"error: no broker binary at {cfg.strom}", file=sys.stderr)
            return 2
    systems = ["strom"]
    cfg.tansu = None
    if not cfg.skip_tansu:
        cfg.tansu = find_tansu(install=True)
        if cfg.tansu:
            systems += ["tansu-memory", "tansu-sqlite"]
        else:
            notice("Tansu is not available (see target/bench-tools-install.log); "
                   "running without it")
    pins = Pins(not cfg.no_pin)
    if not pins.enabled:
        notice("not pinning broker and load generator to separate CPUs")
    tmp_root = Path(tempfile.mkdtemp(prefix="strom-bench-", dir=cfg.dir))
    cfg.dir = str(tmp_root)
    git = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip()
    tansu_version = None
    if cfg.tansu:
        tansu_version = subprocess.run([str(cfg.tansu), "--version"], capture_output=True,
                                       text=True).stdout.strip() or str(cfg.tansu)
    report = {"meta": {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "host": socket.gethostname(), "cpus": os.cpu_count(), "kernel": os.uname().release,
        "strom": str(cfg.strom), "git": git, "tansu": tansu_version, "pairs": cfg.pairs,
        "scale": cfg.scale, "pinned": bool(pins.enabled), "systems": systems,
        "load_before": os.getloadavg(),
    }, "workloads": []}
    say(f"load average before: {report['meta']['load_before']}")
    counter = iter(range(1, 1_000_000))
    try:
        say("iperf3 over loopback")
        report["iperf3"] = iperf3(pins, max(1.0, cfg.iperf_seconds * min(1.0, cfg.scale * 4)))
        say(f"  {report['iperf3']}")
        for name in names:
            w = WORKLOADS[name]
            say(f"{name}: {w}")
            res = run_workload(cfg, name, w, pins, systems, counter)
            res["summary"] = summarize(res)
            report["workloads"].append(res)
    except KeyboardInterrupt as e:
        notice(f"interrupted ({e}); writing what was measured")
        report["interrupted"] = True
    finally:
        stop_all()
        shutil.rmtree(tmp_root, ignore_errors=True)
        report["meta"]["load_after"] = os.getloadavg()
        for res in report["workloads"]:
            res.setdefault("summary", summarize(res))
        md = markdown(report)
        if cfg.json:
            Path(cfg.json).write_text(json.dumps(report, indent=1, default=str))
        if cfg.markdown:
            Path(cfg.markdown).write_text(md)
        say("")
        say(md)
    return 130 if report.get("interrupted") else 0


if __name__ == "__main__":
    sys.exit(main())
