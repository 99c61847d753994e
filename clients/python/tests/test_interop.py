"""Interop of the Python peers with the real Sluice broker and the Swift example programs.

Every wait is bounded; every process and thread is stopped by a fixture finalizer."""

from __future__ import annotations

import os
import time
from typing import Dict, List

import pytest

from conftest import binary, swift_invoker
from sluice_client import Controller, protocol as p

TEST_TIMEOUT = 90.0


def example_result(activation_id: str, payload: bytes) -> bytes:
    """What `sluice-example-invoker` returns, and what the Swift controller checks for."""
    return b"result-of:" + activation_id.encode() + b":" + payload


def result_of_handler(sleep_s: float = 0.0):
    def handle(d: p.Dispatch) -> bytes:
        if sleep_s:
            time.sleep(sleep_s)
        return example_result(d.header.activation_id, d.payload)
    return handle


def run_window(controller: Controller, count: int, window: int, *, timeout: float = TEST_TIMEOUT,
               action: str = "guest/hello") -> Dict[str, p.Answer]:
    """Send ``count`` activations with unique ids and payloads, at most ``window``
    outstanding. Asserts that every one is answered exactly once, that no foreign answer
    arrives, and that each answer is a success carrying the example invoker's bytes."""
    payloads: Dict[str, bytes] = {}
    answers: Dict[str, p.Answer] = {}
    sent = 0
    deadline = time.monotonic() + timeout

    def take(ans: p.Answer) -> None:
        assert ans.activation_id in payloads, f"answer for an activation this controller never sent: {ans}"
        assert ans.activation_id not in answers, f"second answer for {ans.activation_id}: {ans}"
        answers[ans.activation_id] = ans

    while len(answers) < count:
        while sent < count and sent - len(answers) < window:
            header = controller.header(action, memory_mb=128, time_limit_ms=10_000)
            payload = f"payload-{sent}-{os.urandom(4).hex()}".encode()
            payloads[header.activation_id] = payload
            controller.activate(header, payload)
            sent += 1
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"only {len(answers)} of {count} answered in {timeout}s; errors {list(controller.errors)}"
        ans = controller.receive(min(remaining, 1.0))
        if ans is not None:
            take(ans)
    # Exactly once: nothing else may arrive for a while after the last answer.
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        ans = controller.receive(max(0.0, end - time.monotonic()))
        if ans is not None:
            take(ans)  # fails: every id is answered already
    assert not controller.errors, list(controller.errors)
    for aid, ans in answers.items():
        assert ans.kind == p.AnswerKind.SUCCESS, ans
        assert ans.reason == "", ans
        assert ans.result == example_result(aid, payloads[aid]), ans
    assert controller.pending == 0
    return answers


@pytest.fixture
def controllers():
    made: List[Controller] = []

    def make(endpoint: str, cid: str) -> Controller:
        c = Controller(endpoint, cid)
        made.append(c)
        c.connect(10.0)
        return c

    yield make
    for c in made:
        c.close()


# --------------------------------------------------------------------------- 1
def test_python_controller_with_swift_invokers(broker, processes, controllers):
    for n in (1, 2):
        swift_invoker(processes, broker.invoker_endpoint, f"inv{n}", slots=8, duration="1ms-3ms")
    ctl = controllers(broker.controller_endpoint, "py-ctl-1")
    assert ctl.welcome is not None and ctl.welcome.heartbeat_ms > 0

    answers = run_window(ctl, 500, window=32)

    assert {a.invoker_id for a in answers.values()} == {"inv1", "inv2"}
    ctl.close()
    broker.stop()
    assert broker.counter("activations_received") == 500
    assert broker.counter("answered") == 500
    assert broker.counter("answered_success") == 500
    assert broker.counter("answers_delivered") - broker.counter("answers_undelivered") == 500
    assert broker.counter("protocol_errors") == 0


# --------------------------------------------------------------------------- 2
def test_swift_controller_with_python_invokers(broker, processes, py_invokers):
    invs = [py_invokers(broker.invoker_endpoint, f"py-inv{n}", result_of_handler(), slots=8)
            for n in (1, 2)]
    proc = processes.start("swift-controller", [binary("sluice-example-controller"),
                                                "--endpoint", broker.controller_endpoint,
                                                "--id", "swift-ctl-2", "--count", "300", "--window", "16"])
    rc = processes.wait(proc, TEST_TIMEOUT)
    out = processes.output(proc)
    assert rc == 0, out
    assert "success: 300" in out, out
    for t in invs:
        t.check()
    assert sum(t.invoker.handled for t in invs) == 300
    broker.stop()
    assert broker.counter("answered_success") == 300
    assert broker.counter("answers_delivered") - broker.counter("answers_undelivered") == 300
    assert broker.counter("protocol_errors") == 0


# --------------------------------------------------------------------------- 3
def test_mixed_peers(broker, processes, controllers, py_invokers):
    swift_invoker(processes, broker.invoker_endpoint, "swift-inv", slots=8, duration="1ms-3ms")
    # The Python invoker works ~2 ms per activation so that it fills up like the Swift one
    # and the placement really spreads over both.
    py = py_invokers(broker.invoker_endpoint, "py-inv", result_of_handler(0.002), slots=8)
    ctl = controllers(broker.controller_endpoint, "py-ctl-3")
    swift_ctl = processes.start("swift-controller", [binary("sluice-example-controller"),
                                                     "--endpoint", broker.controller_endpoint,
                                                     "--id", "swift-ctl-3", "--count", "300",
                                                     "--window", "16", "--payload-bytes", "64"])

    answers = run_window(ctl, 300, window=16)

    rc = processes.wait(swift_ctl, TEST_TIMEOUT)
    out = processes.output(swift_ctl)
    assert rc == 0, out
    assert "success: 300" in out, out
    assert {a.invoker_id for a in answers.values()} == {"swift-inv", "py-inv"}
    py.check()
    assert py.invoker.handled > 0
    ctl.close()
    broker.stop()
    assert broker.counter("activations_received") == 600
    assert broker.counter("answered_success") == 600
    assert broker.counter("answers_delivered") - broker.counter("answers_undelivered") == 600
    assert broker.counter("answers_parked") == 0
    assert broker.counter("protocol_errors") == 0


# --------------------------------------------------------------------------- 4
def test_invalid_input(broker, raw_peers):
    ctl = raw_peers(broker.controller_endpoint, p.Direction.BROKER_TO_CONTROLLER)
    hello = p.encode(p.ControllerHello("raw-ctl"))

    # §3.1 / §7: a bad signature frame is ERROR badSignature (code 1).
    ctl.send([b"XYZ\x01"] + hello[1:])
    err = ctl.recv()
    assert isinstance(err, p.Error) and err.code == 1 == p.ErrorCode.BAD_SIGNATURE, err

    # ...and SLU with another version byte is badVersion (code 2).
    ctl.send([b"SLU\x02"] + hello[1:])
    err = ctl.recv()
    assert isinstance(err, p.Error) and err.code == p.ErrorCode.BAD_VERSION, err

    # §3.3: ACTIVATE before HELLO is ERROR notRegistered naming the activation.
    header = p.RoutingHeader("early-activation-1", "guest", "guest/hello", max_wait_ms=1000)
    ctl.send(p.encode(p.Activate(header, b"too early")))
    err = ctl.recv()
    assert isinstance(err, p.Error), err
    assert err.code == p.ErrorCode.NOT_REGISTERED == 7, err
    assert err.activation_id == "early-activation-1", err

    # After HELLO the same connection works, and per-activation faults become ANSWERs.
    ctl.send(hello)
    assert isinstance(ctl.recv(), p.Welcome)
    ctl.send([p.SIGNATURE, bytes([0x7F])])
    err = ctl.recv()
    assert isinstance(err, p.Error) and err.code == p.ErrorCode.UNKNOWN_COMMAND, err
    ctl.send(p.encode(p.Dispatch(header, b"")))  # DISPATCH is broker -> invoker only
    err = ctl.recv()
    assert isinstance(err, p.Error) and err.code == p.ErrorCode.UNEXPECTED_COMMAND, err
    # §7: a check failing after the activation id was read is ANSWER rejected.
    bad_flags = bytearray(p.encode_routing_header(p.RoutingHeader("bad-flags-1", "guest", "guest/hello")))
    flags_at = 1 + len("bad-flags-1") + 1 + len("guest") + 2 + len("guest/hello") + 1 + 4 + 4
    assert bad_flags[flags_at] == 0
    bad_flags[flags_at] = 0x80
    ctl.send([p.SIGNATURE, bytes([p.Command.ACTIVATE]), bytes(bad_flags), b""])
    ans = ctl.recv()
    assert isinstance(ans, p.Answer) and ans.activation_id == "bad-flags-1", ans
    assert ans.kind == p.AnswerKind.REJECTED and ans.reason, ans

    # An id that is waiting is refused with ERROR duplicateActivation (no invoker here).
    waiting = p.RoutingHeader("waiting-1", "guest", "guest/hello", max_wait_ms=1000)
    ctl.send(p.encode(p.Activate(waiting, b"")))
    ctl.send(p.encode(p.Activate(waiting, b"")))
    err = ctl.recv()
    assert isinstance(err, p.Error) and err.code == p.ErrorCode.DUPLICATE_ACTIVATION, err
    assert err.activation_id == "waiting-1"
    ans = ctl.recv(5.0)  # the original still gets its single answer: expired
    assert isinstance(ans, p.Answer) and ans.activation_id == "waiting-1", ans
    assert ans.kind == p.AnswerKind.EXPIRED, ans

    # Invoker side: COMPLETION for nothing in flight is unknownActivation.
    inv = raw_peers(broker.invoker_endpoint, p.Direction.BROKER_TO_INVOKER)
    inv.send(p.encode(p.InvokerHello("raw-inv", 64, 1)))
    assert isinstance(inv.recv(), p.Welcome)
    inv.send(p.encode(p.Completion("nothing-1", result=b"x")))
    err = inv.recv()
    assert isinstance(err, p.Error) and err.code == p.ErrorCode.UNKNOWN_ACTIVATION, err
    assert err.activation_id == "nothing-1"

    # The broker survived all of it and counted it.
    broker.stop()
    assert broker.counter("protocol_errors") >= 7
    assert broker.counter("protocol_errors_badSignature") == 1
    assert broker.counter("protocol_errors_notRegistered") == 1


# --------------------------------------------------------------------------- 5
def test_python_peers_say_hello_again_after_broker_restart(start_broker, controllers, py_invokers):
    """§3.3: after a broker restart the peers get ERROR notRegistered and send HELLO again;
    an ACTIVATE refused that way is sent again after the new WELCOME."""
    first = start_broker()
    inv = py_invokers(first.invoker_endpoint, "py-inv-restart", result_of_handler(), slots=2)
    ctl = controllers(first.controller_endpoint, "py-ctl-restart")
    ans = ctl.invoke("guest/hello", b"before", timeout=10)
    assert ans.ok and ans.result == example_result(ans.activation_id, b"before"), ans
    first.stop()

    # Same ports (the ones the OS gave the first broker), new broker process.
    second = start_broker(controller_endpoint=first.controller_endpoint,
                          invoker_endpoint=first.invoker_endpoint)
    ans = ctl.invoke("guest/hello", b"after", timeout=20)
    assert ans.ok and ans.result == example_result(ans.activation_id, b"after"), ans
    # Re-registered through ERROR notRegistered, not through the liveness fallback.
    assert ctl.not_registered_count >= 1
    assert ctl.hello_count >= 2 and ctl.reconnects == 0
    inv.check()
    assert inv.invoker.not_registered_count >= 1
    assert inv.invoker.hello_count >= 2 and inv.invoker.reconnects == 0
    assert inv.invoker.handled == 2
    second.stop()
    assert second.counter("answered_success") == 1
    assert second.counter("protocol_errors_notRegistered") >= 1


def test_a_drain_survives_a_broker_restart(start_broker, controllers, py_invokers):
    """§4.1: an invoker drained with CAPACITY 0/0 says 0/0 in the HELLO after a reconnect, so
    the new broker sends it nothing. (It used to re-announce its first capacity.)"""
    first = start_broker()
    holder: List = []

    def drain_after_first(d: p.Dispatch) -> bytes:
        # The handler runs on the invoker's own thread, the only one that may use it.
        holder[0].invoker.set_capacity(0, 0)
        return example_result(d.header.activation_id, d.payload)

    inv = py_invokers(first.invoker_endpoint, "py-inv-drain", drain_after_first, slots=2)
    holder.append(inv)
    ctl = controllers(first.controller_endpoint, "py-ctl-drain")
    assert ctl.invoke("guest/hello", b"before", timeout=10).ok
    first.stop()

    second = start_broker(controller_endpoint=first.controller_endpoint,
                          invoker_endpoint=first.invoker_endpoint)
    deadline = time.monotonic() + 20
    while inv.invoker.hello_count < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert inv.invoker.hello_count >= 2, "the invoker did not say HELLO to the new broker"
    with pytest.raises(TimeoutError):
        ctl.invoke("guest/hello", b"after", timeout=3)
    inv.check()
    assert inv.invoker.handled == 1, "a drained invoker got work after the broker restarted"
    second.stop()
    assert second.counter("dispatched") == 0
