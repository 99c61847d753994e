#!/usr/bin/env python3
"""A reconnect storm: ``--clients`` threads, each with its own DEALER (its own
``sluice_client.Controller``, used only by that thread), all in this one process.

Each round, every client waits at a barrier (so they all connect at once), opens a new
connection, says HELLO with its own id (the same id every round: from the broker's side each
round after the first is a reconnect, §3.3), waits for WELCOME, sends one activation, waits
for its answer and disconnects: even-numbered clients say GOODBYE, odd-numbered ones just
close the socket (the broker finds out through liveness or the next HELLO).

Events: round_start, answer (one per activation), client_error, round_done, done.
"""

from __future__ import annotations

import argparse
import threading
import time

import zmq

import common  # noqa: F401  (sets sys.path)
from common import emit, kind_name, result_for

from sluice_client import Controller  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=30.0, help="per connect and per answer")
    ap.add_argument("--prefix", default="storm")
    args = ap.parse_args()

    ctx = zmq.Context(io_threads=2)
    barrier = threading.Barrier(args.clients)
    lock = threading.Lock()
    per_round = [dict(connect_max=0.0, rtt_max=0.0, answers=0, errors=0) for _ in range(args.rounds)]

    def client(n: int) -> None:
        cid = f"{args.prefix}-{n}"
        for r in range(args.rounds):
            try:
                barrier.wait(timeout=120)
            except threading.BrokenBarrierError:
                emit("client_error", client=cid, round=r, error="barrier broken")
                return
            if n == 0:
                emit("round_start", round=r)
            ctl = Controller(args.endpoint, cid, context=ctx)
            try:
                t0 = time.monotonic()
                ctl.connect(args.timeout)
                t1 = time.monotonic()
                payload = f"round {r} client {n}".encode()
                header = ctl.header("storm/ping", activation_id=f"{cid}-r{r}")
                ans = ctl.invoke(header, payload, timeout=args.timeout)
                t2 = time.monotonic()
                emit("answer", id=ans.activation_id, kind=kind_name(ans.kind), invoker=ans.invoker_id,
                     round=r, client=cid, connect=t1 - t0, rtt=t2 - t1,
                     bytes_ok=ans.kind != 0 or ans.result == result_for(ans.activation_id, payload))
                with lock:
                    st = per_round[r]
                    st["connect_max"] = max(st["connect_max"], t1 - t0)
                    st["rtt_max"] = max(st["rtt_max"], t2 - t1)
                    st["answers"] += 1
            except Exception as e:  # reported, and the test fails on it
                with lock:
                    per_round[r]["errors"] += 1
                emit("client_error", client=cid, round=r, error=repr(e))
            finally:
                ctl.close(goodbye=(n % 2 == 0))

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(args.clients)]
    t_start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r, st in enumerate(per_round):
        emit("round_done", round=r, **st)
    emit("done", seconds=time.monotonic() - t_start)
    ctx.term()


if __name__ == "__main__":
    main()
