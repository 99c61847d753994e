"""Fault-injection harness: the real `sluice broker`, real invoker and controller processes
(faults/peers/*.py and the Swift example programs) over tcp loopback, and signals sent to
their process ids.

- Every process is started through the ``cluster`` fixture, which stops all of them in a
  finalizer (SIGCONT first, in case a test left one stopped, then SIGTERM, then SIGKILL),
  also when the test fails.
- Peers print one JSON event per line (see peers/common.py); reader threads collect them
  with the moment they arrived. Tests wait for events with bounded polling
  (``Proc.wait_for``), never with long fixed sleeps.
- The broker runs at log level info with a short stats interval, so its counters can be read
  while it runs (``Broker.counters_now``): the suite does not depend on the summary printed
  at exit (a separate test checks that summary).
- ``report(name, value)`` prints a measured number at once (visible with ``-s``) and again in
  a table at the end of the run.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEERS = HERE / "peers"


def _build_dir() -> Path:
    raw = Path(os.environ.get("SLUICE_BUILD_DIR", ".build/debug"))
    for candidate in ([raw] if raw.is_absolute() else [Path.cwd() / raw, REPO / raw]):
        if candidate.is_dir():
            return candidate.resolve()
    return (REPO / raw) if not raw.is_absolute() else raw


BUILD_DIR = _build_dir()

# Broker settings used unless a test overrides them: a short heartbeat so that liveness
# windows cost a fraction of a second (200 ms x 3 = 600 ms).
HEARTBEAT_MS = 200
LIVENESS = 3
LIVENESS_WINDOW = HEARTBEAT_MS * LIVENESS / 1000.0
STATS_INTERVAL = "250ms"


_SNAPSHOT_DIR: Optional[Path] = None
_SNAPSHOTS: Dict[str, str] = {}


def binary(name: str) -> str:
    """A private copy of ``$SLUICE_BUILD_DIR/<name>``, taken on first use and then used for
    the whole run: another engineer may rebuild the binaries while the suite runs, and a
    binary replaced half-way would make processes fail to start or mix two builds."""
    global _SNAPSHOT_DIR
    if name in _SNAPSHOTS:
        return _SNAPSHOTS[name]
    path = BUILD_DIR / name
    if _SNAPSHOT_DIR is None:
        _SNAPSHOT_DIR = Path(tempfile.mkdtemp(prefix="sluice-faults-bin-"))
        atexit.register(shutil.rmtree, _SNAPSHOT_DIR, True)
    copy = _SNAPSHOT_DIR / name
    problem = ""
    for _ in range(10):
        if not path.is_file() or not os.access(path, os.X_OK):
            problem = "not found"
        else:
            try:
                shutil.copy2(path, copy)
                # The copy must run: a half-written binary fails here, and we try again.
                subprocess.run([str(copy), "--help"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               timeout=30, check=True)
                _SNAPSHOTS[name] = str(copy)
                mtime = time.strftime("%H:%M:%S", time.localtime(path.stat().st_mtime))
                _MEASUREMENTS.append(f"(binary {name}: copy of {path}, built {mtime})")
                return str(copy)
            except (OSError, subprocess.SubprocessError) as e:
                problem = repr(e)
        time.sleep(1.0)
    pytest.fail(f"{path}: {problem}; build it (not from this suite) or set SLUICE_BUILD_DIR")


_PY_CLIENT: Optional[str] = None


def py_client_path() -> str:
    """A private copy of clients/python (the sluice_client package), taken on first use, for
    the same reason as ``binary``: the package may be edited while the suite runs."""
    global _PY_CLIENT, _SNAPSHOT_DIR
    if _PY_CLIENT is not None:
        return _PY_CLIENT
    if _SNAPSHOT_DIR is None:
        _SNAPSHOT_DIR = Path(tempfile.mkdtemp(prefix="sluice-faults-bin-"))
        atexit.register(shutil.rmtree, _SNAPSHOT_DIR, True)
    dest = _SNAPSHOT_DIR / "python"
    problem = ""
    for _ in range(10):
        try:
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(REPO / "clients" / "python" / "sluice_client", dest / "sluice_client",
                            ignore=shutil.ignore_patterns("__pycache__"))
            subprocess.run([sys.executable, "-c", "import sluice_client; sluice_client.Controller; sluice_client.Invoker"],
                           cwd=str(dest), check=True, timeout=30, capture_output=True)
            _PY_CLIENT = str(dest)
            return _PY_CLIENT
        except (OSError, subprocess.SubprocessError) as e:
            problem = repr(e) + (getattr(e, "stderr", b"") or b"").decode(errors="replace")
        time.sleep(1.0)
    pytest.fail(f"clients/python/sluice_client does not import: {problem}")


# --------------------------------------------------------------------------- measurements

_MEASUREMENTS: List[str] = []


@pytest.fixture
def report(request):
    def rep(name: str, value, unit: str = "") -> None:
        if isinstance(value, float):
            value = f"{value:.3f}"
        line = f"{request.node.name}: {name} = {value}{(' ' + unit) if unit else ''}"
        _MEASUREMENTS.append(line)
        print(f"[faults] {line}", flush=True)
    return rep


def pytest_terminal_summary(terminalreporter):
    if _MEASUREMENTS:
        terminalreporter.section("fault-injection measurements")
        for line in _MEASUREMENTS:
            terminalreporter.write_line(line)


# --------------------------------------------------------------------------- processes

class Proc:
    """A child process whose stdout (JSON events, or plain lines) and stderr are read by
    threads. ``events`` holds parsed JSON lines, each with ``_rt``, the monotonic time the
    line was read."""

    def __init__(self, name: str, args: List[str], log_dir: Path, stdin: bool = False,
                 env: Optional[Dict[str, str]] = None):
        self.name = name
        self.args = args
        self.cond = threading.Condition()
        self.events: List[dict] = []
        self.stdout: List[tuple] = []  # (arrival, line)
        self.stderr: List[tuple] = []
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "a", buffering=1)
        self._log.write(f"$ {' '.join(args)}\n")
        full_env = dict(os.environ)
        full_env["PYTHONUNBUFFERED"] = "1"
        full_env.update(env or {})
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
                                     env=full_env)
        self.pid = self.proc.pid
        self._readers = [threading.Thread(target=self._read, args=(self.proc.stdout, True), daemon=True),
                         threading.Thread(target=self._read, args=(self.proc.stderr, False), daemon=True)]
        for t in self._readers:
            t.start()

    def _read(self, stream, is_stdout: bool) -> None:
        for line in stream:
            now = time.monotonic()
            line = line.rstrip("\n")
            ev = None
            if is_stdout and line.startswith("{"):
                try:
                    ev = json.loads(line)
                    ev["_rt"] = now
                except ValueError:
                    ev = None
            with self.cond:
                (self.stdout if is_stdout else self.stderr).append((now, line))
                if ev is not None:
                    self.events.append(ev)
                self.cond.notify_all()
            try:
                self._log.write(("" if is_stdout else "[stderr] ") + line + "\n")
            except ValueError:
                pass
        with self.cond:
            self.cond.notify_all()

    # ---------------------------------------------------------------- queries
    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def evs(self, ev: Optional[str] = None, **match) -> List[dict]:
        with self.cond:
            out = list(self.events)
        return [e for e in out if (ev is None or e.get("ev") == ev)
                and all(e.get(k) == v for k, v in match.items())]

    def tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            lines = []
        return f"--- {self.name} (pid {self.pid}, rc {self.proc.poll()}) last {n} lines of {self.log_path}:\n" + \
            "\n".join(lines[-n:])

    def wait_for(self, check: Callable[[], object], timeout: float, what: str, others=()) -> object:
        """Poll ``check`` (re-evaluated whenever this process prints a line) until it returns
        something truthy; fail with the logs after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                result = check()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.cond.wait(min(remaining, 0.05))
        logs = "\n".join(p.tail() for p in (self, *others))
        pytest.fail(f"timed out after {timeout}s waiting for {what}\n{logs}")

    def wait_event(self, ev: str, timeout: float, what: str = "", count: int = 1, others=(), **match) -> List[dict]:
        def check():
            found = self.evs(ev, **match)
            return found if len(found) >= count else None
        return self.wait_for(check, timeout, what or f"{count} '{ev}' event(s) {match or ''} from {self.name}", others)

    # ---------------------------------------------------------------- control
    def send(self, obj: dict) -> None:
        assert self.proc.stdin is not None, f"{self.name} has no stdin"
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def signal(self, sig: int) -> None:
        if self.running:
            os.kill(self.pid, sig)

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} did not exit within {timeout}s\n{self.tail()}")

    def stop(self, timeout: float = 5.0) -> Optional[int]:
        if self.running:
            try:
                os.kill(self.pid, signal.SIGCONT)  # a stopped process cannot handle SIGTERM
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for t in self._readers:
            t.join(5)
        if self.proc.stdin:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        self._log.close()
        return self.proc.returncode


class Broker(Proc):
    def __init__(self, name: str, log_dir: Path, args: List[str], startup_timeout: float = 20.0):
        super().__init__(name, args, log_dir)
        self.summary: Optional[Dict[str, str]] = None

        def listening():
            for _, line in self.stdout:
                m = re.match(r"listening controllers=(\S+) invokers=(\S+)", line)
                if m:
                    return m.groups()
            if not self.running:
                return ("exited", "exited")
            return None

        ctl, inv = self.wait_for(listening, startup_timeout, f"broker {name} to print its endpoints")
        if ctl == "exited":
            pytest.fail(f"broker {name} exited before listening\n{self.tail()}")
        self.controller_endpoint, self.invoker_endpoint = ctl, inv
        self.listening_at = time.monotonic()

    def log_lines(self, pattern: str, since: float = 0.0) -> List[tuple]:
        rx = re.compile(pattern)
        with self.cond:
            lines = list(self.stderr)
        return [(t, line) for t, line in lines if t >= since and rx.search(line)]

    @staticmethod
    def _parse_fields(line: str) -> Dict[str, str]:
        return dict(re.findall(r"(\w+)=(\S+)", line))

    def counters_now(self, timeout: float = 10.0) -> Dict[str, int]:
        """The broker's counters from the first stats log line written after this call (it
        logs every STATS_INTERVAL; counters that are 0 are left out of it)."""
        since = time.monotonic() + 0.01
        found = self.wait_for(lambda: self.log_lines(r"\] stats$", since), timeout, "a stats line from the broker")
        fields = self._parse_fields(found[0][1].split(" sluice.broker: ", 1)[-1])
        return {k: int(v) for k, v in fields.items() if v.isdigit()}

    def stop(self, timeout: float = 15.0) -> Optional[int]:
        rc = super().stop(timeout)
        for _, line in self.stdout:
            if line.startswith("summary "):
                self.summary = self._parse_fields(line)
        return rc

    @property
    def crashed(self) -> bool:
        return any("Program crashed" in line for _, line in self.stderr)


class Cluster:
    """Starts brokers and peers for one test and stops every one of them afterwards."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.procs: List[Proc] = []
        self._names: Dict[str, int] = {}

    def _name(self, base: str) -> str:
        n = self._names.get(base, 0)
        self._names[base] = n + 1
        return base if n == 0 else f"{base}.{n}"

    def broker(self, *extra: str, controller_endpoint: str = "tcp://127.0.0.1:*",
               invoker_endpoint: str = "tcp://127.0.0.1:*", heartbeat_ms: int = HEARTBEAT_MS,
               liveness: int = LIVENESS, name: str = "broker") -> Broker:
        args = [binary("sluice"), "broker",
                "--controller-endpoint", controller_endpoint, "--invoker-endpoint", invoker_endpoint,
                "--heartbeat-interval", f"{heartbeat_ms}ms", "--liveness", str(liveness),
                "--stats-interval", STATS_INTERVAL, "--log-level", "info", "--shutdown-grace", "1s", *extra]
        b = Broker(self._name(name), self.log_dir, args)
        self.procs.append(b)
        return b

    def _peer(self, script: str, name: str, args: List[str], stdin: bool = False) -> Proc:
        p = Proc(self._name(name), [sys.executable, str(PEERS / script), *args], self.log_dir, stdin=stdin,
                 env={"SLUICE_PY_CLIENT": py_client_path()})
        self.procs.append(p)
        return p

    def invoker(self, endpoint: str, invoker_id: str, *, slots: int = 8, duration_ms: float = 20.0,
                jitter_ms: float = 0.0, ready: bool = True) -> Proc:
        p = self._peer("invoker.py", invoker_id,
                       ["--endpoint", endpoint, "--id", invoker_id, "--slots", str(slots),
                        "--duration-ms", str(duration_ms), "--jitter-ms", str(jitter_ms)])
        if ready:
            p.wait_event("ready", 20, f"invoker {invoker_id} to be welcomed")
        return p

    def swift_invoker(self, endpoint: str, invoker_id: str, *, slots: int = 8, duration: str = "2ms-5ms") -> Proc:
        p = Proc(self._name(invoker_id), [binary("sluice-example-invoker"), "--endpoint", endpoint, "--id", invoker_id,
                                          "--slots", str(slots), "--duration", duration], self.log_dir)
        self.procs.append(p)
        return p

    def controller(self, endpoint: str, controller_id: str, *args: str, stdin: bool = False,
                   ready: bool = True, name: Optional[str] = None) -> Proc:
        p = self._peer("controller.py", name or controller_id,
                       ["--endpoint", endpoint, "--id", controller_id, *args] + (["--stdin"] if stdin else []),
                       stdin=stdin)
        if ready:
            p.wait_event("ready", 20, f"controller {controller_id} to be welcomed")
        return p

    def stuck_controller(self, endpoint: str, controller_id: str, *args: str) -> Proc:
        return self._peer("stuck_controller.py", controller_id, ["--endpoint", endpoint, "--id", controller_id, *args])

    def storm(self, endpoint: str, *args: str) -> Proc:
        return self._peer("storm.py", "storm", ["--endpoint", endpoint, *args])

    def stop_all(self) -> None:
        # Peers first (they say GOODBYE), brokers last.
        for p in reversed([p for p in self.procs if not isinstance(p, Broker)]):
            p.stop(5)
        for b in reversed([p for p in self.procs if isinstance(p, Broker)]):
            b.stop(15)


@pytest.fixture
def cluster(tmp_path, request):
    c = Cluster(tmp_path)
    yield c
    c.stop_all()
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        print(f"\n[faults] logs of {request.node.name} kept in {tmp_path}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


# --------------------------------------------------------------------------- answer checks

def answers_by_id(events: List[dict]) -> Dict[str, List[dict]]:
    out: Dict[str, List[dict]] = {}
    for e in events:
        if e.get("ev") == "answer":
            out.setdefault(e["id"], []).append(e)
    return out


def assert_exactly_once(sent_ids, answers: Dict[str, List[dict]], what: str) -> None:
    """Every id in ``sent_ids`` has exactly one answer, and no answer is for anything else."""
    sent = set(sent_ids)
    missing = sorted(sent - set(answers))
    extra = sorted(set(answers) - sent)
    dups = {aid: [a["kind"] for a in lst] for aid, lst in answers.items() if len(lst) > 1}
    assert not missing and not extra and not dups, (
        f"{what}: {len(sent)} sent, {len(answers)} answered; unanswered {len(missing)} {missing[:10]}; "
        f"answers for unknown ids {extra[:10]}; answered more than once {dict(list(dups.items())[:10])}")
