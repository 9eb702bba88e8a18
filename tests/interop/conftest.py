"""Interop tests: a real `strom` process driven by real Kafka clients.

Run everything (builds, installs the pinned clients into target/venv, runs all tests):

    scripts/test.sh

Run one test by hand, after `cargo build --release` and one run of scripts/test.sh (for the venv):

    target/venv/bin/python -m pytest tests/interop/test_admin.py::test_create_topics -v
    target/venv/bin/python -m pytest tests/interop -k "confluent and zstd" -x -v

The broker binary is $STROM_BIN, else target/release/strom. Each broker gets a free port on
127.0.0.1 and a fresh temp data dir; its stderr goes to <tmpdir>/broker-stderr.log and is shown
in the report of a failing test. Set STROM_KEEP_TMP=1 to keep the temp dirs after the run.

Fixtures:
    broker         a broker for one test (function scope)
    module_broker  a broker shared by the tests of one module (each test uses its own topics)
    broker_factory start(**overrides) -> Broker, for tests that need special settings

A Broker has .bootstrap ("127.0.0.1:port"), .port, .data_dir, .proc, .stderr_path and
.stop() (SIGTERM, wait), .kill() (SIGKILL, wait), .start(), .restart() (same port and dir).
At teardown every broker a fixture started is killed by pid, also on failure, and the test
errors if the broker died on its own or its stderr shows a Rust panic.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STROM_BIN = Path(os.environ.get("STROM_BIN", REPO / "target" / "release" / "strom"))
READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0
STDERR_TAIL_CHARS = 20_000

# Every broker started in this pytest process, so that none outlives it.
_ALL_BROKERS: list["Broker"] = []


def _set_pdeathsig() -> None:
    """In the child before exec: get SIGKILL if pytest dies, so no broker is orphaned."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BrokerError(AssertionError):
    pass


class Broker:
    def __init__(self, tmp_dir: Path, overrides: dict[str, str] | None = None):
        self.tmp_dir = Path(tmp_dir)
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.data_dir = self.tmp_dir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.stderr_path = self.tmp_dir / "broker-stderr.log"
        self.overrides = dict(overrides or {})
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        # Exits we caused (stop/kill); any other exit is a crash.
        self._expected_exit = False
        self.unexpected_exits: list[str] = []
        _ALL_BROKERS.append(self)

    # -- process control -----------------------------------------------------------------------
    def command(self) -> list[str]:
        listener = f"PLAINTEXT://127.0.0.1:{self.port}"
        args = [
            str(STROM_BIN),
            "server-start",
            "--override", f"listeners={listener}",
            "--override", f"advertised.listeners={listener}",
            "--override", f"log.dirs={self.data_dir}",
        ]
        for k, v in self.overrides.items():
            args += ["--override", f"{k}={v}"]
        return args

    def start(self) -> "Broker":
        if self.proc is not None and self.proc.poll() is None:
            raise BrokerError("broker already running")
        if not STROM_BIN.exists():
            raise BrokerError(f"{STROM_BIN} does not exist: run `cargo build --release` first")
        self.starts += 1
        with open(self.stderr_path, "ab") as f:
            f.write(f"\n===== strom start #{self.starts}: {' '.join(self.command())}\n".encode())
            f.flush()
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=f,
                stderr=f,
                cwd=self.tmp_dir,
                preexec_fn=_set_pdeathsig,
                env={**os.environ, "RUST_BACKTRACE": "1"},
            )
        self._expected_exit = False
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            code = self.proc.poll()
            if code is not None:
                self._expected_exit = True
                raise BrokerError(
                    f"strom exited with code {code} before accepting connections on "
                    f"{self.bootstrap}\n--- broker stderr ---\n{self.stderr_tail()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise BrokerError(
                    f"strom did not accept connections on {self.bootstrap} within "
                    f"{READY_TIMEOUT_S:.0f} s\n--- broker stderr ---\n{self.stderr_tail()}"
                )
            time.sleep(0.1)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> None:
        """Fail now if the broker is gone (a crash must not pass as a client time-out)."""
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            raise BrokerError(
                f"broker is not running (exit code {code})\n--- broker stderr ---\n"
                f"{self.stderr_tail()}"
            )

    def _note_unexpected_exit(self) -> None:
        if self.proc is not None and not self._expected_exit and self.proc.poll() is not None:
            self.unexpected_exits.append(
                f"start #{self.starts} exited on its own with code {self.proc.returncode}"
            )
            self._expected_exit = True

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM and wait. Fails if the broker needs longer than `timeout` (contract: 5 s)
        or exits as killed by the signal instead of shutting down cleanly."""
        if self.proc is None:
            return 0
        if self.proc.poll() is not None:
            self._note_unexpected_exit()
            return self.proc.returncode
        self._expected_exit = True
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise BrokerError(
                f"broker did not exit within {timeout} s of SIGTERM (killed it)\n"
                f"--- broker stderr ---\n{self.stderr_tail()}"
            )
        if code not in (0, 128 + signal.SIGTERM):
            raise BrokerError(
                f"broker exit code after SIGTERM was {code}, expected 0 (clean shutdown)\n"
                f"--- broker stderr ---\n{self.stderr_tail()}"
            )
        return code

    def kill(self) -> None:
        """SIGKILL and wait."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._expected_exit = True
            self.proc.kill()
            self.proc.wait()
        else:
            self._note_unexpected_exit()

    def restart(self, clean: bool = True) -> "Broker":
        """Stop (SIGTERM if clean, else SIGKILL) and start again on the same port and dir."""
        if self.running():
            if clean:
                self.stop()
            else:
                self.kill()
        else:
            self._note_unexpected_exit()
        return self.start()

    # -- diagnostics ---------------------------------------------------------------------------
    def stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stderr_tail(self, chars: int = STDERR_TAIL_CHARS) -> str:
        text = self.stderr_text()
        if len(text) > chars:
            text = "[... cut ...]\n" + text[-chars:]
        return text

    def panics(self) -> list[str]:
        return [l for l in self.stderr_text().splitlines() if "panicked at" in l]

    def teardown_problems(self) -> list[str]:
        """Kill the broker (by pid) and say what went wrong with it, if anything."""
        self._note_unexpected_exit()
        self.kill()
        problems = list(self.unexpected_exits)
        panics = self.panics()
        if panics:
            problems.append("broker panicked: " + " | ".join(panics[:5]))
        return problems


def _kill_all_brokers() -> None:
    for b in _ALL_BROKERS:
        try:
            if b.proc is not None and b.proc.poll() is None:
                b.proc.kill()
                b.proc.wait(timeout=5)
        except Exception:
            pass


class _Factory:
    def __init__(self, tmp_root: Path):
        self.tmp_root = tmp_root
        self.brokers: list[Broker] = []

    def __call__(self, overrides: dict[str, str] | None = None, **kw) -> Broker:
        """Start a broker; overrides as a dict ({"num.partitions": "3"}) or as keywords with
        dots written as underscores (num_partitions=3)."""
        d = Path(tempfile.mkdtemp(prefix=f"broker{len(self.brokers)}-", dir=self.tmp_root))
        o = {k: str(v) for k, v in (overrides or {}).items()}
        o.update({k.replace("_", "."): str(v) for k, v in kw.items()})
        b = Broker(d, o)
        self.brokers.append(b)
        b.start()
        return b

    def finish(self) -> None:
        problems = []
        for b in self.brokers:
            for p in b.teardown_problems():
                problems.append(f"{b.bootstrap} ({b.stderr_path}): {p}")
        keep = os.environ.get("STROM_KEEP_TMP") == "1"
        if not keep and not problems:
            shutil.rmtree(self.tmp_root, ignore_errors=True)
        if problems:
            tails = "\n".join(
                f"--- stderr of {b.bootstrap} ---\n{b.stderr_tail()}" for b in self.brokers
            )
            pytest.fail("\n".join(problems) + "\n" + tails, pytrace=False)


def _make_factory(name: str) -> _Factory:
    safe = "".join(c if c.isalnum() else "_" for c in name)[:60]
    return _Factory(Path(tempfile.mkdtemp(prefix=f"strom-{safe}-")))


@pytest.fixture
def broker_factory(request):
    f = _make_factory(request.node.name)
    request.node._strom_brokers = f.brokers
    try:
        yield f
    finally:
        f.finish()


@pytest.fixture
def broker(broker_factory) -> Broker:
    return broker_factory()


@pytest.fixture(scope="module")
def _module_factory(request):
    f = _make_factory(request.module.__name__)
    try:
        yield f
    finally:
        f.finish()


@pytest.fixture(scope="module")
def module_broker(_module_factory) -> Broker:
    return _module_factory()


@pytest.fixture
def live_module_broker(module_broker, request):
    """module_broker, checked to be alive before and after the test."""
    request.node._strom_brokers = [module_broker]
    module_broker.check_alive()
    yield module_broker
    module_broker.check_alive()


# -- reporting ---------------------------------------------------------------------------------
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    brokers = list(getattr(item, "_strom_brokers", []) or [])
    for v in getattr(item, "funcargs", {}).values():
        if isinstance(v, Broker) and v not in brokers:
            brokers.append(v)
    for b in brokers:
        rep.sections.append(
            (f"strom broker stderr {b.bootstrap} ({b.stderr_path})", b.stderr_tail())
        )


def pytest_sessionfinish(session, exitstatus):
    _kill_all_brokers()


def pytest_configure(config):
    # If pytest is told to stop (e.g. by `timeout` in scripts/test.sh), still kill brokers.
    def on_term(signum, frame):
        _kill_all_brokers()
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)


def pytest_report_header(config):
    exists = "present" if STROM_BIN.exists() else "MISSING"
    return [f"strom binary: {STROM_BIN} ({exists})"]
