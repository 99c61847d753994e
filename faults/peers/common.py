"""Shared by the fault-injection peer programs: the import path of the Python SLU/1 client,
one-JSON-object-per-line event output, and SIGTERM handling.

Every event a peer prints is one JSON object on one line of stdout, flushed at once, with
``ev`` (the event name) and ``t`` (``time.monotonic()``). CLOCK_MONOTONIC is system-wide on
Linux, so the test process can compare these times with its own (for example the moment it
sent SIGKILL) to measure how long a guarantee took.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, os.environ.get("SLUICE_PY_CLIENT", str(REPO / "clients" / "python")))

# Answer kinds as PROTOCOL.md §6.2 spells them.
KIND_NAMES = {0: "success", 1: "applicationError", 2: "systemError", 3: "timeout", 4: "invokerLost",
              5: "overloaded", 6: "throttled", 7: "expired", 8: "rejected"}
# Error codes as PROTOCOL.md §7 spells them.
ERROR_NAMES = {1: "badSignature", 2: "badVersion", 3: "unknownCommand", 4: "unexpectedCommand",
               5: "malformed", 6: "invalidId", 7: "notRegistered", 8: "duplicateActivation",
               9: "unknownActivation", 10: "oversize"}

_out_lock = threading.Lock()


def emit(ev: str, **fields) -> None:
    fields["ev"] = ev
    fields.setdefault("t", time.monotonic())
    line = json.dumps(fields, separators=(",", ":"))
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def kind_name(kind: int) -> str:
    return KIND_NAMES.get(kind, f"unknown{kind}")


def error_name(code: int) -> str:
    return ERROR_NAMES.get(code, f"code{code}")


def result_for(activation_id: str, payload: bytes) -> bytes:
    """The result bytes every fault invoker sends: the format of sluice-example-invoker, so
    controllers can check any invoker's result byte for byte."""
    return b"result-of:" + activation_id.encode() + b":" + payload


def stop_on_sigterm() -> threading.Event:
    """An Event set by SIGTERM/SIGINT, so a peer can say GOODBYE and exit cleanly."""
    stop = threading.Event()

    def handler(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop
