"""Writes the seed corpus for the SLU/1 decoder fuzzer from valid messages made by the Python
peer's encoder (itself tested against the spec's golden bytes). Run from the repository root:
    python3 Fuzz/make_seeds.py"""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "clients", "python"))
from sluice_client import protocol as p  # noqa: E402

CHANNELS = {"c2b": 0, "b2c": 1, "i2b": 2, "b2i": 3}  # order of Channel.allCases


def seed(name, channel, frames):
    data = bytes([CHANNELS[channel]]) + b"".join(struct.pack(">H", len(f)) + f for f in frames)
    with open(os.path.join(os.path.dirname(__file__), "corpus", "protocol", name), "wb") as out:
        out.write(data)


def main():
    h = p.RoutingHeader("a1", "guest", "guest/hello", "1-a", 256, 60000, flags=1, target_invoker="inv0",
                        answer_to="ctl0", required_tags=("gpu",), max_wait_ms=500)
    warm = (p.WarmEntry("guest/hello", 1, 2),)
    messages = [
        ("hello-controller", "c2b", p.ControllerHello("ctl0")),
        ("hello-invoker", "i2b", p.InvokerHello("inv0", 2048, 16, ("gpu",), ("guest",))),
        ("welcome", "b2c", p.Welcome("sluice", 1000, 2097152)),
        ("heartbeat", "c2b", p.Heartbeat()),
        ("heartbeat-warm", "i2b", p.Heartbeat(warm)),
        ("goodbye", "i2b", p.Goodbye()),
        ("error", "b2i", p.Error(9, "a1", "late")),
        ("activate", "c2b", p.Activate(h, b"{}")),
        ("dispatch", "b2i", p.Dispatch(h, b"{}")),
        ("answer", "b2c", p.Answer("a1", 0, "inv0", "", b"ok")),
        ("capacity", "i2b", p.Capacity(1024, 8)),
        ("result", "i2b", p.Result("a1", 1, b"err")),
        ("completion", "i2b", p.Completion("a1")),
        ("completion-combined-warm", "i2b", p.Completion("a1", 0, b"ok", True, warm)),
        ("subscribe", "c2b", p.Subscribe("cache")),
        ("unsubscribe", "i2b", p.Unsubscribe("")),
        ("publish", "i2b", p.Publish("events", b"{}")),
        ("publication", "b2c", p.Publication("events", 1, "inv0", b"{}")),
    ]
    for name, channel, message in messages:
        seed(name, channel, p.encode(message))
    print(f"wrote {len(messages)} seeds to Fuzz/corpus/protocol")


if __name__ == "__main__":
    main()
