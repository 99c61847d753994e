#!/usr/bin/env python3
"""A controller that stops reading: a raw pyzmq DEALER (no sluice_client session logic).

1. HELLO, wait for WELCOME.
2. Send ``--count`` ACTIVATEs at once (payload ``--payload-bytes`` long; the invoker echoes it
   back, so every answer is about that big).
3. For ``--stuck-seconds``: send a HEARTBEAT every heartbeat interval (so the broker keeps
   the session alive) but never receive. The socket's receive side is made small
   (``--rcvhwm`` messages, ``--rcvbuf`` bytes) so the broker's side of the connection fills
   quickly.
4. Then read everything that was queued for it ("pipe" phase), send HELLO again with the
   same id (the broker may have ended the session when the connection was full: it keeps
   such answers for the controller, §6.4) and read until quiet ("rehello" phase).

Events: welcome, sent_all, stuck_done, answer (with ``phase``), error, done. ``done`` lists
the activation ids refused with an ERROR (never accepted, so never answered).
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

    refused = []
    seen = set()

    def read(phase: str) -> int:
        n = 0
        while not stop.is_set() and s.poll(int(args.quiet * 1000)):
            msg = p.decode(s.recv_multipart(), p.Direction.BROKER_TO_CONTROLLER)
            if isinstance(msg, p.Answer):
                n += 1
                dup = msg.activation_id in seen
                seen.add(msg.activation_id)
                emit("answer", id=msg.activation_id, kind=kind_name(msg.kind), invoker=msg.invoker_id,
                     phase=phase, dup=dup, bytes_ok=msg.kind != 0 or msg.result.endswith(b":" + payload))
            elif isinstance(msg, p.Error):
                if msg.activation_id:
                    refused.append(msg.activation_id)
                    emit("error", code=msg.code, name=error_name(msg.code), id=msg.activation_id,
                         reason=msg.reason, phase=phase)
            elif isinstance(msg, p.Welcome):
                emit("welcome", heartbeat_ms=msg.heartbeat_ms, phase=phase)
        return n

    in_pipe = read("pipe")
    s.send_multipart(p.encode(p.ControllerHello(args.id)))
    after = read("rehello")
    emit("done", in_pipe=in_pipe, after_rehello=after, refused=refused, distinct=len(seen))
    s.send_multipart(p.encode(p.Goodbye()))
    s.close()
    ctx.term()


if __name__ == "__main__":
    main()
