"""Kafka's documented start/stop/format flow through the repo's shims, as an operator types it:
`bin/kafka-storage.sh random-uuid | format | info`, `bin/kafka-server-start.sh -daemon
config/server.properties`, `bin/kafka-server-stop.sh`. server-stop signals every strom server
it can see, so it runs in a PID namespace of its own (`unshare --pid`), where the only strom
is the one this test started."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from conftest import REPO, free_port

BIN = REPO / "bin"


def shim(tool: str, *args: str, env=None, timeout=20) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / f"kafka-{tool}.sh"), *args], capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)


def write_config(tmp: Path, port: int) -> Path:
    """config/server.properties with this test's port and data dir, as an operator edits it."""
    text = (REPO / "config" / "server.properties").read_text()
    text = re.sub(r"(?m)^listeners=.*$", f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{free_port()}", text)
    text = re.sub(r"(?m)^advertised.listeners=.*$", f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}", text)
    text = re.sub(r"(?m)^log.dirs=.*$", f"log.dirs={tmp / 'data'}", text)
    cfg = tmp / "server.properties"
    cfg.write_text(text)
    return cfg


def test_storage_format_then_start_uses_the_cluster_id(tmp_path):
    r = shim("storage", "random-uuid")
    assert r.returncode == 0, r.stderr
    cluster = r.stdout.strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster), cluster
    port = free_port()
    cfg = write_config(tmp_path, port)
    r = shim("storage", "format", "-t", cluster, "-c", str(cfg))
    assert r.returncode == 0, r.stderr
    assert "Formatting metadata directory" in r.stdout
    r = shim("storage", "format", "-t", cluster, "-c", str(cfg))
    assert r.returncode != 0 and "already formatted" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = shim("storage", "info", "-c", str(cfg))
    assert r.returncode == 0 and f"cluster.id={cluster}" in r.stdout, r.stdout
    r = shim("storage", "format", "-t", "not-a-uuid", "-c", str(cfg))
    assert r.returncode != 0 and "random-uuid" in r.stderr

    proc = subprocess.Popen([str(BIN / "kafka-server-start.sh"), str(cfg)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "broker did not start"
                time.sleep(0.1)
        a = AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"})
        desc = a.describe_cluster(request_timeout=10).result(timeout=15)
        assert desc.cluster_id == cluster
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
    assert (tmp_path / "data" / ".kafka_cleanshutdown").exists()


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare for a PID namespace")
def test_daemon_start_and_server_stop(tmp_path):
    port = free_port()
    cfg = write_config(tmp_path, port)
    logs = tmp_path / "logs"
    script = f"""
set -e
export LOG_DIR={logs}
{BIN}/kafka-server-start.sh -daemon {cfg}
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && break; sleep 0.1; done
(exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null || {{ echo "daemon not listening"; exit 3; }}
{BIN}/kafka-server-stop.sh
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null || break; sleep 0.1; done
(exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && {{ echo "still listening after server-stop"; exit 4; }}
for i in $(seq 100); do [ -e {tmp_path}/data/.kafka_cleanshutdown ] && break; sleep 0.1; done
{BIN}/kafka-server-stop.sh && {{ echo "server-stop succeeded with nothing to stop"; exit 5; }}
exit 0
"""
    r = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "bash", "-c", script],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "started in the background" in out
    assert "Sent SIGTERM" in out
    assert "No Strom server to stop" in out
    log = (logs / "server.out").read_text()
    assert "Strom broker started" in log and "shut down cleanly" in log, log[-2000:]
    assert (tmp_path / "data" / ".kafka_cleanshutdown").exists()
