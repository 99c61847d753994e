"""Fixtures: the real broker binary, the Swift example programs, and Python peers in threads.
Every process and thread started here is stopped by a finalizer, also when a test fails."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import pytest
import zmq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

from sluice_client import Invoker  # noqa: E402
from sluice_client import protocol as p  # noqa: E402

REPO = HERE.parents[2]
BUILD_DIR = Path(os.environ.get("SLUICE_BUILD_DIR", REPO / ".build" / "debug"))
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0


def binary(name: str) -> str:
    path = BUILD_DIR / name
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"{path} not found; build it or set SLUICE_BUILD_DIR")
    return str(path)


def _stop_process(proc: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class Broker:
    """A `sluice broker` subprocess on loopback with OS-chosen ports."""

    def __init__(self, extra_args: Optional[List[str]] = None,
                 controller_endpoint: str = "tcp://127.0.0.1:*",
                 invoker_endpoint: str = "tcp://127.0.0.1:*"):
        args = [binary("sluice"), "broker",
                "--controller-endpoint", controller_endpoint,
                "--invoker-endpoint", invoker_endpoint,
                "--log-level", "warning", "--stats-interval", "0s"] + list(extra_args or [])
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     bufsize=1)
        self.stdout: List[str] = []
        self.stderr: List[str] = []
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._readers = [threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout, True),
                                          daemon=True),
                         threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr, False),
                                          daemon=True)]
        for t in self._readers:
            t.start()
        self.controller_endpoint, self.invoker_endpoint = self._wait_listening()
        self.summary: Optional[Dict[str, str]] = None

    def _read(self, stream, sink: List[str], to_queue: bool) -> None:
        for line in stream:
            sink.append(line.rstrip("\n"))
            if to_queue:
                self._lines.put(line)
        if to_queue:
            self._lines.put(None)

    def _wait_listening(self):
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                pytest.fail(f"broker printed no 'listening' line in {STARTUP_TIMEOUT}s: {self.output()}")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait(5)
                pytest.fail(f"broker exited with {self.proc.returncode} before listening: {self.output()}")
            m = re.match(r"listening controllers=(\S+) invokers=(\S+)", line)
            if m:
                return m.group(1), m.group(2)

    def output(self) -> str:
        return "\nstdout:\n" + "\n".join(self.stdout) + "\nstderr:\n" + "\n".join(self.stderr)

    def stop(self) -> Dict[str, str]:
        """SIGTERM, wait, and return the counters of its `summary` line."""
        _stop_process(self.proc)
        for t in self._readers:
            t.join(5)
        for line in self.stdout:
            if line.startswith("summary "):
                self.summary = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
        return self.summary or {}

    def counter(self, name: str) -> int:
        assert self.summary is not None, "broker not stopped yet or printed no summary" + self.output()
        return int(self.summary[name])


@pytest.fixture
def broker():
    b = Broker()
    yield b
    b.stop()


@pytest.fixture
def start_broker():
    """Factory for tests that need brokers with special arguments or several brokers."""
    started: List[Broker] = []

    def start(**kw) -> Broker:
        b = Broker(**kw)
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


class Processes:
    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.procs: List[subprocess.Popen] = []
        self.logs: Dict[int, Path] = {}

    def start(self, name: str, args: List[str]) -> subprocess.Popen:
        log = self.tmp_path / f"{name}.log"
        fh = open(log, "w")
        proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT)
        fh.close()
        self.procs.append(proc)
        self.logs[proc.pid] = log
        return proc

    def output(self, proc: subprocess.Popen) -> str:
        return self.logs[proc.pid].read_text(errors="replace")

    def wait(self, proc: subprocess.Popen, timeout: float) -> int:
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            pytest.fail(f"process {proc.args} did not finish in {timeout}s: {self.output(proc)}")

    def stop_all(self) -> None:
        for proc in self.procs:
            _stop_process(proc, 5)


@pytest.fixture
def processes(tmp_path):
    procs = Processes(tmp_path)
    yield procs
    procs.stop_all()


def swift_invoker(processes: Processes, endpoint: str, invoker_id: str, slots: int = 8,
                  duration: str = "1ms-3ms") -> subprocess.Popen:
    return processes.start(invoker_id, [binary("sluice-example-invoker"), "--endpoint", endpoint,
                                        "--id", invoker_id, "--slots", str(slots), "--duration", duration])


class InvokerThread:
    """A Python Invoker serving in its own thread (the Invoker is created and used only there)."""

    def __init__(self, endpoint: str, invoker_id: str, handler, **kw):
        self.stop_event = threading.Event()
        self.ready = threading.Event()
        self.invoker: Optional[Invoker] = None
        self.exc: Optional[BaseException] = None
        self._args = (endpoint, invoker_id, handler)
        self._kw = kw
        self.thread = threading.Thread(target=self._run, name=invoker_id, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            inv = Invoker(*self._args, **self._kw)
            self.invoker = inv
            inv.connect(10.0)
            self.ready.set()
            inv.serve(self.stop_event)
        except BaseException as e:  # surfaced by check()
            self.exc = e
            self.ready.set()

    def wait_ready(self, timeout: float = 10.0) -> "InvokerThread":
        assert self.ready.wait(timeout), f"invoker {self._args[1]} not welcomed in {timeout}s"
        self.check()
        return self

    def check(self) -> None:
        if self.exc is not None:
            raise AssertionError(f"invoker thread {self._args[1]} failed: {self.exc!r}") from self.exc

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        self.thread.join(timeout)


@pytest.fixture
def py_invokers():
    started: List[InvokerThread] = []

    def start(endpoint: str, invoker_id: str, handler, **kw) -> InvokerThread:
        t = InvokerThread(endpoint, invoker_id, handler, **kw)
        started.append(t)
        return t.wait_ready()

    yield start
    for t in started:
        t.stop()


class RawPeer:
    """A bare DEALER, to send exactly the frames a test wants."""

    def __init__(self, endpoint: str, inbound: p.Direction, routing_id: Optional[bytes] = None):
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if routing_id is not None:
            self.sock.setsockopt(zmq.ROUTING_ID, routing_id)  # a DEALER may choose its own
        self.sock.connect(endpoint)
        self.inbound = inbound

    def send(self, frames: Iterable[bytes]) -> None:
        self.sock.send_multipart(list(frames))

    def recv(self, timeout: float = 5.0) -> p.Message:
        """The next message other than HEARTBEAT."""
        msg = self.try_recv(timeout)
        assert msg is not None, f"no reply within {timeout}s"
        return msg

    def try_recv(self, timeout: float) -> Optional[p.Message]:
        """The next message other than HEARTBEAT, or None after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if self.sock.poll(max(1, int(remaining * 1000))):
                msg = p.decode(self.sock.recv_multipart(), self.inbound)
                if not isinstance(msg, p.Heartbeat):
                    return msg

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw_peers():
    made: List[RawPeer] = []

    def make(endpoint: str, inbound: p.Direction, routing_id: Optional[bytes] = None) -> RawPeer:
        r = RawPeer(endpoint, inbound, routing_id)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


class FakeBroker:
    """A ROUTER in the test's thread that shows exactly what a client sends, and speaks only
    when the test says so. Every call is made from the test's thread."""

    WAIT = 5.0

    def __init__(self):
        self.sock = zmq.Context.instance().socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind("tcp://127.0.0.1:*")
        self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self.peer_id: Optional[bytes] = None

    def recv(self, direction: p.Direction = p.Direction.CONTROLLER_TO_BROKER,
             timeout: float = WAIT) -> p.Message:
        """The next message from the client other than HEARTBEAT."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, "the client sent nothing"
            if self.sock.poll(max(1, int(remaining * 1000))):
                frames = self.sock.recv_multipart()
                self.peer_id = frames[0]
                msg = p.decode(frames[1:], direction)
                if not isinstance(msg, p.Heartbeat):
                    return msg

    def nothing(self, direction: p.Direction, seconds: float = 0.2) -> None:
        """Asserts that the client sends nothing but HEARTBEATs for ``seconds``."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.sock.poll(10):
                msg = p.decode(self.sock.recv_multipart()[1:], direction)
                assert isinstance(msg, p.Heartbeat), msg

    def send(self, msg: p.Message) -> None:
        assert self.peer_id is not None
        self.sock.send_multipart([self.peer_id] + p.encode(msg))

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def fake_broker():
    fb = FakeBroker()
    yield fb
    fb.close()
