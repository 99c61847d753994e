#!/usr/bin/env python3
"""A fault-injection controller: one OS process, one Python ``sluice_client.Controller``.

It reports everything it observes as JSON lines on stdout (see common.py):
ready, welcome, sent, answer, late_answer_dropped, error, batch_done, done.

Work comes from the command line (``--count`` activations at start) and, with ``--stdin``,
from JSON commands on stdin, one per line:

    {"cmd": "send", "count": 20, "window": 8, "payload": {"ms": 3000}, "tag": "b1"}
    {"cmd": "close"}     stop sending (outstanding activations are still awaited)
    {"cmd": "quit"}      exit once nothing is outstanding (after --settle)

``window`` bounds the activations outstanding at once; ``interval`` paces the sends (a probe
is ``--count N --window 1 --interval 0.05``). ``payload`` is sent as JSON; the fault invoker
reads ``ms`` and ``on_stall`` from it (sluice-example-invoker ignores it).

Every answer event carries the kind as PROTOCOL.md §6.2 spells it, the invoker, the round
trip time and whether the result bytes are exactly what the invoker was sent (``bytes_ok``).
A second answer for an activation is reported as ``answer`` with ``dup: true``; an answer for
an activation this process never sent (answers parked for its controller id, §6.4) has
``foreign: true``.

Client-side answer timer: ``--answer-timeout S`` passes ``answer_timeout=S`` to the
Controller (without it the Controller uses its default, ``max(time limit, 60 s) * 2 + 120 s``).
An answer the Controller made itself (kind ``timeout``, reason ``CLIENT_TIMEOUT_REASON``) is
reported with ``client: true``. A broker ANSWER that the Controller dropped because its timer
had answered first is reported as ``late_answer_dropped``; it never reaches this program as an
answer. If one did, the ``answer`` event would carry ``dup: true``.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import time
from collections import deque

import common  # noqa: F401  (sets sys.path)
from common import emit, error_name, kind_name, result_for, stop_on_sigterm

from sluice_client import CLIENT_TIMEOUT_REASON, Controller  # noqa: E402


class FaultController(Controller):
    def _on_welcome(self, welcome):
        super()._on_welcome(welcome)
        emit("welcome", hello_count=self.hello_count, reconnects=self.reconnects,
             not_registered=self.not_registered_count, heartbeat_ms=welcome.heartbeat_ms)

    def _on_error(self, err):
        super()._on_error(err)
        emit("error", code=err.code, name=error_name(err.code), id=err.activation_id, reason=err.reason)

    def _on_late_answer(self, answer):
        super()._on_late_answer(answer)
        emit("late_answer_dropped", id=answer.activation_id, kind=kind_name(answer.kind), invoker=answer.invoker_id)


class Batch:
    def __init__(self, count: int, window: int, payload, tag: str, interval: float, duration: float,
                 action: str, time_limit_ms: int):
        self.count = count
        self.window = max(1, window)
        self.payload = payload
        self.tag = tag
        self.interval = interval
        self.end = time.monotonic() + duration if duration > 0 else None
        self.action = action
        self.time_limit_ms = time_limit_ms
        self.sent = 0
        self.outstanding = set()
        self.next_send = 0.0
        self.closed = False   # no more sends


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--id", required=True)
    ap.add_argument("--count", type=int, default=0, help="activations to send at start")
    ap.add_argument("--window", type=int, default=16)
    ap.add_argument("--interval", type=float, default=0.0, help="seconds between sends")
    ap.add_argument("--duration", type=float, default=0.0, help="stop sending after this many seconds")
    ap.add_argument("--payload", default="", help="JSON payload for the initial batch")
    ap.add_argument("--payload-bytes", type=int, default=0, help="pad the payload to this size")
    ap.add_argument("--action", default="guest/faults")
    ap.add_argument("--time-limit-ms", type=int, default=60_000)
    ap.add_argument("--answer-timeout", type=float, default=0.0,
                    help="the Controller's client-side answer timeout, seconds; 0: its default")
    ap.add_argument("--settle", type=float, default=0.5,
                    help="after the last answer, keep listening this long for duplicates before 'done'")
    ap.add_argument("--stdin", action="store_true", help="take commands from stdin; exit on quit/EOF/SIGTERM")
    ap.add_argument("--tag", default="run")
    args = ap.parse_args()

    stop = stop_on_sigterm()
    ctl = FaultController(args.endpoint, args.id, answer_timeout=args.answer_timeout or None)
    ctl.connect(15.0)
    emit("ready", id=args.id)

    commands: "queue.Queue" = queue.Queue()
    if args.stdin:
        def read_stdin():
            for line in sys.stdin:
                line = line.strip()
                if line:
                    commands.put(json.loads(line))
            commands.put({"cmd": "quit"})
        threading.Thread(target=read_stdin, daemon=True).start()

    pad = args.payload_bytes

    def make_payload(spec) -> bytes:
        spec = dict(spec or {})
        body = json.dumps(spec).encode()
        if pad > len(body) + 12:
            spec["pad"] = "x" * (pad - len(body) - 12)
            body = json.dumps(spec).encode()
        return body

    batches = deque()
    if args.count:
        spec = json.loads(args.payload) if args.payload else None
        batches.append(Batch(args.count, args.window, spec, args.tag, args.interval, args.duration,
                             args.action, args.time_limit_ms))

    sent_at = {}      # activation id -> (monotonic send time, payload bytes, batch)
    answered = {}     # activation id -> kind name of its first answer
    last_answer = time.monotonic()
    quitting = not args.stdin
    stats = {"sent": 0, "answers": 0, "dups": 0, "foreign": 0, "client_timeouts": 0}

    def batch_finished(b: Batch) -> bool:
        return b.closed and not b.outstanding

    def on_answer(ans) -> None:
        nonlocal last_answer
        now = time.monotonic()
        last_answer = now
        aid = ans.activation_id
        info = sent_at.get(aid)
        fields = dict(id=aid, kind=kind_name(ans.kind), invoker=ans.invoker_id, reason=ans.reason, t=now)
        if ans.reason == CLIENT_TIMEOUT_REASON:
            fields["client"] = True
            stats["client_timeouts"] += 1
        if info is None:
            fields["foreign"] = True
            stats["foreign"] += 1
            fields["bytes_ok"] = ans.kind != 0 or ans.result.startswith(b"result-of:" + aid.encode() + b":")
        else:
            t0, payload, batch = info
            fields["rtt"] = now - t0
            fields["tag"] = batch.tag
            fields["bytes_ok"] = ans.kind != 0 or ans.result == result_for(aid, payload)
            batch.outstanding.discard(aid)
        if aid in answered:
            fields["dup"] = True
            stats["dups"] += 1
        answered.setdefault(aid, fields["kind"])
        stats["answers"] += 1
        emit("answer", **fields)

    while True:
        # Commands.
        while True:
            try:
                cmd = commands.get_nowait()
            except queue.Empty:
                break
            if cmd.get("cmd") == "quit":
                quitting = True
            elif cmd.get("cmd") == "close":  # stop sending; outstanding work is still awaited
                for b in batches:
                    b.closed = True
            elif cmd.get("cmd") == "send":
                batches.append(Batch(int(cmd.get("count", 1)), int(cmd.get("window", 16)), cmd.get("payload"),
                                     str(cmd.get("tag", "cmd")), float(cmd.get("interval", 0.0)),
                                     float(cmd.get("duration", 0.0)), str(cmd.get("action", args.action)),
                                     int(cmd.get("time_limit_ms", args.time_limit_ms))))
        if stop.is_set():
            break
        # Sends.
        now = time.monotonic()
        for b in batches:
            if b.closed:
                continue
            while (b.sent < b.count and len(b.outstanding) < b.window and now >= b.next_send
                   and (b.end is None or now < b.end)):
                payload = make_payload(b.payload)
                header = ctl.header(b.action, time_limit_ms=b.time_limit_ms)
                t0 = time.monotonic()
                ctl.activate(header, payload)
                sent_at[header.activation_id] = (t0, payload, b)
                b.outstanding.add(header.activation_id)
                b.sent += 1
                stats["sent"] += 1
                emit("sent", id=header.activation_id, tag=b.tag, t=t0)
                if b.interval:
                    b.next_send = t0 + b.interval
                    break
            if b.sent >= b.count or (b.end is not None and now >= b.end):
                b.closed = True
        # Answers.
        for ans in ctl.poll(0.02):
            on_answer(ans)
        # Finished batches.
        for b in list(batches):
            if batch_finished(b):
                batches.remove(b)
                emit("batch_done", tag=b.tag, sent=b.sent)
        if quitting and not batches and time.monotonic() - last_answer >= args.settle:
            break
    emit("done", pending=ctl.pending, ctl_client_timeouts=ctl.client_timeouts,
         late_answers_dropped=ctl.late_answers_dropped, **stats)
    ctl.close()


if __name__ == "__main__":
    main()
