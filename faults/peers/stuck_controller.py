#!/usr/bin/env python3
"""A controller that stops reading: a raw pyzmq DEALER (no sluice_client session logic).

1. HELLO, wait for WELCOME.
2. Send ``--count`` ACTIVATEs at once (payload ``--payload-bytes`` long; the invoker echoes it
   back, so every answer is about that big).
3. For ``--stuck-seconds``: send a HEARTBEAT every heartbeat interval (so the broker keeps
   the session alive) but never receive. The socket's receive side is made small
   (``--rcvhwm`` messages, ``--rcvbuf`` bytes) so the broker's side of the connection fills
   quickly.
4. Then read again, as a real controller does, until nothing but heartbeats arrives for
   ``--quiet`` seconds: send a HEARTBEAT at once (its next send) and every heartbeat interval,
   and take everything that was queued for it ("pipe" phase). If the broker ended the
   session while the connection was full (it then keeps this controller's answers, §6.4), a
   heartbeat is answered with ERROR notRegistered: send HELLO again with the same id, once
   per lost session (§3.3), at most ``--max-rehellos`` times ("hello_sent" phase), and take
   the kept answers after its WELCOME ("rehello" phase).

Events: welcome, sent_all, stuck_done, answer (with ``phase``), error (with ``phase``;
notRegistered for a heartbeat has an empty id), rehello, done. ``done`` lists the activation
ids refused with an ERROR (never accepted, so never answered) and counts the answers per phase.
"""

from __future__ import annotations

import argparse
import time

import zmq

import common  # noqa: F401  (sets sys.path)
from common import emit, error_name, kind_name, stop_on_sigterm

from sluice_client import protocol as p  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--id", required=True)
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--payload-bytes", type=int, default=4096)
    ap.add_argument("--stuck-seconds", type=float, default=5.0)
    ap.add_argument("--rcvhwm", type=int, default=10)
    ap.add_argument("--rcvbuf", type=int, default=4096)
    ap.add_argument("--quiet", type=float, default=1.0, help="reading ends after this long without a message")
    ap.add_argument("--max-rehellos", type=int, default=5)
    ap.add_argument("--read-limit", type=float, default=60.0, help="stop reading after this long in any case")
    args = ap.parse_args()
    stop = stop_on_sigterm()

    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVHWM, args.rcvhwm)
    s.setsockopt(zmq.RCVBUF, args.rcvbuf)
    s.connect(args.endpoint)
    s.send_multipart(p.encode(p.ControllerHello(args.id)))
    if not s.poll(15000):
        raise SystemExit("no WELCOME")
    welcome = p.decode(s.recv_multipart(), p.Direction.BROKER_TO_CONTROLLER)
    assert isinstance(welcome, p.Welcome), welcome
    hb = welcome.heartbeat_ms / 1000.0
    emit("welcome", heartbeat_ms=welcome.heartbeat_ms)

    payload = b"y" * args.payload_bytes
    ids = []
    for n in range(args.count):
        aid = f"{args.id}-{n}"
        header = p.RoutingHeader(aid, "stuck", "stuck/flood")
        s.send_multipart(p.encode(p.Activate(header, payload)))
        ids.append(aid)
    emit("sent_all", count=len(ids))

    end = time.monotonic() + args.stuck_seconds
    heartbeat = p.encode(p.Heartbeat())
    while time.monotonic() < end and not stop.is_set():
        try:
            s.send_multipart(heartbeat, zmq.NOBLOCK)
        except zmq.Again:
            pass
        time.sleep(min(hb, max(0.0, end - time.monotonic())))
    emit("stuck_done")

    # Reading again, as a real controller would: heartbeats keep going, and ERROR
    # notRegistered (the broker ended the session meanwhile) is answered with one HELLO.
    refused = []
    seen = set()
    not_registered = []   # the phase in which each ERROR notRegistered (empty id) arrived
    counts = {"pipe": 0, "hello_sent": 0, "rehello": 0}
    phase = "pipe"        # -> "hello_sent" when HELLO goes out -> "rehello" at its WELCOME
    rehellos = 0
    last_msg = last_hb = time.monotonic()
    s.send_multipart(heartbeat)  # its next send
    give_up = time.monotonic() + args.read_limit
    while not stop.is_set() and time.monotonic() < give_up:
        now = time.monotonic()
        if now - last_hb >= hb:
            s.send_multipart(heartbeat)
            last_hb = now
        if now - last_msg >= args.quiet and phase != "hello_sent":
            break  # quiet: everything has arrived
        wait = min(hb - (now - last_hb), args.quiet - (now - last_msg))
        if not s.poll(max(1, int(wait * 1000))):
            continue
        msg = p.decode(s.recv_multipart(), p.Direction.BROKER_TO_CONTROLLER)
        if isinstance(msg, p.Heartbeat):
            continue  # the broker's heartbeats do not count as traffic
        last_msg = time.monotonic()
        if isinstance(msg, p.Answer):
            counts[phase] += 1
            dup = msg.activation_id in seen
            seen.add(msg.activation_id)
            emit("answer", id=msg.activation_id, kind=kind_name(msg.kind), invoker=msg.invoker_id,
                 phase=phase, dup=dup, bytes_ok=msg.kind != 0 or msg.result.endswith(b":" + payload))
        elif isinstance(msg, p.Error):
            emit("error", code=msg.code, name=error_name(msg.code), id=msg.activation_id,
                 reason=msg.reason, phase=phase)
            if msg.activation_id:
                refused.append(msg.activation_id)
            elif msg.code == p.ErrorCode.NOT_REGISTERED:
                not_registered.append(phase)
                # §3.3: HELLO again, once per lost session (replies to what was sent before
                # the HELLO all arrive before its WELCOME).
                if phase != "hello_sent" and rehellos < args.max_rehellos:
                    rehellos += 1
                    phase = "hello_sent"
                    emit("rehello", round=rehellos)
                    s.send_multipart(p.encode(p.ControllerHello(args.id)))
        elif isinstance(msg, p.Welcome):
            emit("welcome", heartbeat_ms=msg.heartbeat_ms, phase=phase)
            phase = "rehello"
    emit("done", in_pipe=counts["pipe"], after_rehello=counts["rehello"] + counts["hello_sent"],
         rehellos=rehellos, not_registered=not_registered, refused=refused, distinct=len(seen))
    s.send_multipart(p.encode(p.Goodbye()))
    s.close()
    ctx.term()


if __name__ == "__main__":
    main()
