#!/usr/bin/env python3
"""A fault-injection invoker: one OS process, one Python ``sluice_client.Invoker``.

It holds every DISPATCH for a while and then answers it with one combined COMPLETION whose
result is ``result-of:<activation id>:<payload>`` (the format of sluice-example-invoker).

How long it holds an activation:
- the payload is JSON with ``"ms"``: that many milliseconds;
- otherwise ``--duration-ms`` (plus up to ``--jitter-ms``).

Stall handling, for SIGSTOP/SIGCONT tests: when the process notices it was not running for
more than ``--stall-seconds`` (a gap in CLOCK_MONOTONIC, which keeps counting while a process
is stopped), it emits ``stall`` and then, for every activation it still holds whose payload
has ``"on_stall"``:
- ``"now"``: completes it at once, before anything else is sent (on the connection it had
  before the stall);
- ``"rehello"``: completes it right after the next WELCOME (once a new session exists).
Other held activations keep their normal due time.

Events (JSON lines on stdout, see common.py): ready, welcome, dispatch, complete, error,
stall, bye.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import time

import common  # noqa: F401  (sets sys.path)
from common import emit, error_name, result_for, stop_on_sigterm

from sluice_client import Invoker  # noqa: E402


class FaultInvoker(Invoker):
    welcomes = 0

    def _on_welcome(self, welcome):
        super()._on_welcome(welcome)
        self.welcomes += 1
        emit("welcome", hello_count=self.hello_count, reconnects=self.reconnects,
             heartbeat_ms=welcome.heartbeat_ms)

    def _on_error(self, err):
        super()._on_error(err)
        emit("error", code=err.code, name=error_name(err.code), id=err.activation_id, reason=err.reason)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--id", required=True)
    ap.add_argument("--slots", type=int, default=8)
    ap.add_argument("--memory", type=int, default=4096)
    ap.add_argument("--duration-ms", type=float, default=20.0)
    ap.add_argument("--jitter-ms", type=float, default=0.0)
    ap.add_argument("--stall-seconds", type=float, default=0.5)
    args = ap.parse_args()

    stop = stop_on_sigterm()
    inv = FaultInvoker(args.endpoint, args.id, None, slots=args.slots, memory_mb=args.memory)
    inv.connect(15.0)
    emit("ready", id=args.id)

    held = []          # heap of (due, seq, activation id)
    meta = {}          # activation id -> (payload, on_stall)
    after_rehello = [] # activation ids to complete after the next WELCOME
    seq = 0
    welcomes_at_stall = None

    def complete(aid: str, phase: str) -> None:
        payload, _ = meta.pop(aid)
        inv.complete(aid, result_for(aid, payload))
        emit("complete", id=aid, phase=phase)

    last_alive = time.monotonic()

    def check_stall() -> None:
        nonlocal last_alive, welcomes_at_stall
        now = time.monotonic()
        gap = now - last_alive
        last_alive = now
        if gap < args.stall_seconds:
            return
        emit("stall", gap=gap, held=len(meta))
        welcomes_at_stall = inv.welcomes
        for aid, (payload, on_stall) in list(meta.items()):
            if on_stall == "now":
                complete(aid, "after-stall")
            elif on_stall == "rehello":
                after_rehello.append(aid)

    while not stop.is_set():
        check_stall()
        timeout = 0.05
        if held:
            timeout = max(0.0, min(timeout, held[0][0] - time.monotonic()))
        inv.poll(timeout)
        check_stall()
        while inv.dispatches:
            d = inv.dispatches.popleft()
            aid = d.header.activation_id
            ms = args.duration_ms + (random.uniform(0, args.jitter_ms) if args.jitter_ms else 0.0)
            on_stall = None
            try:
                spec = json.loads(d.payload)
                if isinstance(spec, dict):
                    ms = float(spec.get("ms", ms))
                    on_stall = spec.get("on_stall")
            except ValueError:
                pass
            meta[aid] = (d.payload, on_stall)
            seq += 1
            heapq.heappush(held, (time.monotonic() + ms / 1000.0, seq, aid))
            emit("dispatch", id=aid, controller=d.header.answer_to, ms=ms)
        if after_rehello and inv.registered and welcomes_at_stall is not None and inv.welcomes > welcomes_at_stall:
            for aid in after_rehello:
                if aid in meta:
                    complete(aid, "after-rehello")
            after_rehello.clear()
        now = time.monotonic()
        while held and held[0][0] <= now:
            _, _, aid = heapq.heappop(held)
            if aid in meta and aid not in after_rehello:
                complete(aid, "normal")
    emit("bye", handled=len(meta))
    inv.close()


if __name__ == "__main__":
    main()
