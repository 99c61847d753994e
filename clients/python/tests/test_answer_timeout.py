"""The controller's client-side answer timer (``Controller(answer_timeout=...)``): every
activation gets exactly one answer, from the broker or, when the broker does not answer in
time, a TIMEOUT made by the client; a broker ANSWER that comes after that is dropped.

Most tests drive the client against a fake broker, a ROUTER in the test's thread that never
answers unless told to. The last test uses the real broker and a Python invoker that holds an
activation longer than the client waits. Every wait is bounded.
"""

from __future__ import annotations

import math
import time
from typing import List

import pytest

from conftest import FakeBroker
from sluice_client import CLIENT_TIMEOUT_REASON, Controller, default_answer_timeout, protocol as p

UP = p.Direction.CONTROLLER_TO_BROKER
WAIT = 5.0


class TimeoutFakeBroker(FakeBroker):
    """The shared fake broker (conftest.py), which also welcomes a controller on demand."""

    def welcome(self, ctl: Controller, heartbeat_ms: int = 2000) -> None:
        """Let ``ctl`` say HELLO (on a new socket, or again on its socket) and welcome it."""
        if ctl._socket is None:
            ctl._open()
        assert isinstance(self.recv(), p.ControllerHello)
        self.send(p.Welcome("fake", heartbeat_ms, 1 << 20))
        deadline = time.monotonic() + WAIT
        while not ctl.registered:
            assert time.monotonic() < deadline, "no WELCOME reached the client"
            ctl._pump(0.05)


@pytest.fixture
def fake():
    fb = TimeoutFakeBroker()
    yield fb
    fb.close()


@pytest.fixture
def controllers():
    made: List[Controller] = []

    def make(endpoint: str, cid: str, **kw) -> Controller:
        c = Controller(endpoint, cid, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close(goodbye=False)


def drain(ctl: Controller, seconds: float) -> List[p.Answer]:
    """Every answer the client delivers within ``seconds`` (running its session meanwhile)."""
    out: List[p.Answer] = []
    end = time.monotonic() + seconds
    while True:
        remaining = end - time.monotonic()
        if remaining <= 0:
            return out
        ans = ctl.receive(remaining)
        if ans is not None:
            out.append(ans)


def success(aid: str, result: bytes = b"late") -> p.Answer:
    return p.Answer(aid, int(p.AnswerKind.SUCCESS), "inv0", "", result)


def assert_client_timeout(ans: p.Answer, aid: str) -> None:
    assert ans == p.Answer(aid, 3, "", CLIENT_TIMEOUT_REASON, b""), ans
    assert ans.kind == p.AnswerKind.TIMEOUT and ans.kind_name == "TIMEOUT" and not ans.ok


# --------------------------------------------------------------------------- no broker needed

def test_default_timeout_is_the_broker_formula_plus_slack():
    # max(time limit, 60 s) * 2 + 120 s, as the Swift ControllerClient's answerTimeout.
    assert default_answer_timeout(1) == 240.0
    assert default_answer_timeout(60_000) == 240.0
    assert default_answer_timeout(90_000) == 300.0
    assert default_answer_timeout(300_000) == 720.0
    ctl = Controller("tcp://127.0.0.1:1", "offline-ctl")  # never connected
    assert ctl.answer_timeout is None
    for limit in (1_000, 60_000, 600_000):
        header = ctl.header("guest/a", time_limit_ms=limit)
        assert ctl.answer_timeout_for(header) == max(limit / 1000, 60) * 2 + 120
    fixed = Controller("tcp://127.0.0.1:1", "offline-ctl", answer_timeout=2.5)
    assert fixed.answer_timeout_for(fixed.header("guest/a", time_limit_ms=600_000)) == 2.5
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError):
            Controller("tcp://127.0.0.1:1", "offline-ctl", answer_timeout=bad)


def test_exactly_one_timeout_when_the_broker_never_answers_and_late_answers_are_dropped(fake, controllers):
    ctl = controllers(fake.endpoint, "ctl-silent", answer_timeout=0.3)
    fake.welcome(ctl)
    t0 = time.monotonic()
    ids = [ctl.activate(ctl.header("guest/a"), b"x") for _ in range(3)]
    for aid in ids:
        assert fake.recv() == p.Activate(ctl.header("guest/a", activation_id=aid), b"x")
    assert ctl.pending == 3

    first = ctl.receive(WAIT)
    waited = time.monotonic() - t0
    rest = drain(ctl, 0.5)
    answers = [first] + rest
    assert sorted(a.activation_id for a in answers) == sorted(ids), answers
    for ans in answers:
        assert_client_timeout(ans, ans.activation_id)
    assert 0.3 <= waited < 0.3 + 1.0, waited
    assert ctl.pending == 0 and ctl.client_timeouts == 3 and ctl.late_answers_dropped == 0

    # The broker answers after all: dropped, never a second answer.
    fake.send(success(ids[0]))
    fake.send(p.Answer(ids[1], int(p.AnswerKind.TIMEOUT), "inv0", "deadline", b""))
    assert drain(ctl, 0.3) == []
    assert ctl.late_answers_dropped == 2
    # An answer for an id this client never sent (answers kept for its controller id, §6.4)
    # is still delivered, as before.
    fake.send(success("someone-elses-1", b"kept"))
    assert drain(ctl, 0.3) == [success("someone-elses-1", b"kept")]
    assert ctl.reconnects == 0


def test_a_broker_answer_in_time_cancels_the_timer(fake, controllers):
    ctl = controllers(fake.endpoint, "ctl-answered", answer_timeout=0.3)
    fake.welcome(ctl)
    aid = ctl.activate(ctl.header("guest/a"), b"x")
    fake.recv()
    fake.send(success(aid, b"in time"))
    assert ctl.receive(WAIT) == success(aid, b"in time")
    assert drain(ctl, 0.6) == []  # well past the timeout: nothing more
    assert ctl.client_timeouts == 0 and ctl.late_answers_dropped == 0 and ctl.pending == 0
    assert not ctl._timed_out and ctl._next_due() is None


def test_invoke_returns_the_client_timeout(fake, controllers):
    ctl = controllers(fake.endpoint, "ctl-invoke", answer_timeout=0.3)
    fake.welcome(ctl)
    t0 = time.monotonic()
    ans = ctl.invoke("guest/a", b"x", timeout=WAIT)  # returns the TIMEOUT, does not raise
    assert 0.3 <= time.monotonic() - t0 < 1.3
    assert_client_timeout(ans, ans.activation_id)
    assert isinstance(fake.recv(), p.Activate)
    fake.send(success(ans.activation_id))
    assert ctl.poll(0.3) == []
    assert ctl.late_answers_dropped == 1


def test_an_overdue_timer_is_delivered_without_waiting(fake, controllers):
    """The timer fires on the next call that waits, and that call returns at once: it does
    not first wait for traffic (here the next heartbeat would be 2 s away)."""
    ctl = controllers(fake.endpoint, "ctl-overdue", answer_timeout=0.05)
    fake.welcome(ctl)
    first = ctl.activate(ctl.header("guest/a"), b"x")
    time.sleep(0.2)  # nobody runs the controller meanwhile
    t0 = time.monotonic()
    assert_client_timeout(ctl.receive(WAIT), first)
    assert time.monotonic() - t0 < 0.5
    second = ctl.activate(ctl.header("guest/a"), b"x")
    time.sleep(0.2)
    t0 = time.monotonic()
    answers = ctl.poll(WAIT)
    assert time.monotonic() - t0 < 0.5
    assert len(answers) == 1
    assert_client_timeout(answers[0], second)


def test_the_timer_runs_while_the_broker_is_gone(fake, controllers):
    """The case the timer exists for: the broker dies with the activation; the client
    reconnects over and over (liveness) and still answers the activation once, on time."""
    ctl = controllers(fake.endpoint, "ctl-orphan", answer_timeout=1.0)
    fake.welcome(ctl, heartbeat_ms=100)
    t0 = time.monotonic()
    aid = ctl.activate(ctl.header("guest/a"), b"x")
    fake.recv()
    fake.close()  # the broker is gone, and with it everything it knew
    ans = ctl.receive(WAIT)
    assert_client_timeout(ans, aid)
    assert 1.0 <= time.monotonic() - t0 < 2.0
    assert ctl.reconnects >= 1  # liveness (3 x 100 ms) reconnected meanwhile
    assert drain(ctl, 0.3) == [] and ctl.pending == 0


def test_a_refused_activation_keeps_its_first_deadline_and_errors_get_no_timeout(fake, controllers):
    ctl = controllers(fake.endpoint, "ctl-refused", answer_timeout=1.0)
    fake.welcome(ctl)
    t0 = time.monotonic()
    aid = ctl.activate(ctl.header("guest/a"), b"x")
    bad = ctl.activate(ctl.header("guest/b"), b"y")
    fake.recv(), fake.recv()
    # An ERROR refuses `bad` outright: it goes to errors and gets no answer, not even a timeout.
    fake.send(p.Error(p.ErrorCode.MALFORMED, bad, "refused"))
    assert drain(ctl, 0.4) == []
    # The broker lost the session: notRegistered -> HELLO -> WELCOME -> ACTIVATE again.
    fake.send(p.Error(p.ErrorCode.NOT_REGISTERED, aid, "send HELLO"))
    ctl.poll(0.1)
    fake.welcome(ctl)
    resent = fake.recv()
    assert isinstance(resent, p.Activate) and resent.header.activation_id == aid
    assert drain(ctl, 0.2) == []
    # The same id sent again while pending does not restart its timer either.
    ctl.activate(ctl.header("guest/a", activation_id=aid), b"x")
    fake.recv()
    t_again = time.monotonic() - t0
    ans = ctl.receive(WAIT)
    waited = time.monotonic() - t0
    assert_client_timeout(ans, aid)
    # Timed from the first ACTIVATE: a timer restarted by either re-send would fire 1 s after it.
    assert t_again >= 0.6 and 1.0 <= waited < 1.4, (t_again, waited)
    assert drain(ctl, 0.6) == []
    assert [e.activation_id for e in ctl.errors] == [bad]
    assert ctl.client_timeouts == 1 and ctl.pending == 0


def test_timer_bookkeeping_stays_bounded(fake, controllers):
    ctl = controllers(fake.endpoint, "ctl-many")  # default timeout: 240 s
    fake.welcome(ctl)
    got: List[p.Answer] = []
    for _ in range(6):  # in chunks, so that no socket reaches its high-water mark
        ids = [ctl.activate(ctl.header("guest/a"), b"") for _ in range(250)]
        for aid in ids:
            assert fake.recv().header.activation_id == aid
            fake.send(success(aid, b""))
        want = len(got) + len(ids)
        deadline = time.monotonic() + WAIT
        while len(got) < want and time.monotonic() < deadline:
            got += ctl.poll(0.1)
    assert len(got) == 1500 and len({a.activation_id for a in got}) == 1500 and ctl.pending == 0
    assert not ctl._deadlines and len(ctl._timer_heap) <= 1024 + 1  # stale entries compacted
    assert ctl._next_due() is None

    # Remembered timeouts: bounded in number (oldest forgotten first) and in time.
    ctl.answer_timeout = 0.05
    ctl.max_remembered_timeouts = 2
    ctl.late_answer_memory = 0.0
    t_ids = [ctl.activate(ctl.header("guest/a", time_limit_ms=1), b"") for _ in range(3)]
    assert len(drain(ctl, 0.3)) == 3
    assert list(ctl._timed_out) == t_ids[1:]

    off = controllers(fake.endpoint, "ctl-off", answer_timeout=math.inf)
    assert off.answer_timeout_for(off.header("guest/a")) == math.inf


# --------------------------------------------------------------------------- real broker

def test_real_broker_late_answer_is_dropped(broker, py_invokers, controllers):
    """Against the real broker: the invoker holds one activation 1.5 s, the client waits
    0.5 s. The client answers it TIMEOUT at 0.5 s; the broker's success at 1.5 s is dropped.
    A quick activation sent just before gets its real answer (the Python invoker runs its
    handler in its own thread, one activation after the other)."""
    def handle(d: p.Dispatch) -> bytes:
        if d.payload == b"slow":
            time.sleep(1.5)
        return b"ran:" + d.payload
    inv = py_invokers(broker.invoker_endpoint, "inv-late", handle, slots=2)
    ctl = controllers(broker.controller_endpoint, "ctl-late", answer_timeout=0.5)
    ctl.connect(10.0)
    t0 = time.monotonic()
    quick = ctl.activate(ctl.header("guest/quick"), b"quick")
    slow = ctl.activate(ctl.header("guest/slow"), b"slow")
    answers = {}
    deadline = time.monotonic() + 10
    while (len(answers) < 2 or ctl.late_answers_dropped < 1) and time.monotonic() < deadline:
        for ans in ctl.poll(0.1):
            assert ans.activation_id not in answers, f"second answer: {ans}"
            answers[ans.activation_id] = (ans, time.monotonic() - t0)
    assert set(answers) == {slow, quick}, answers
    assert answers[quick][0].ok and answers[quick][0].result == b"ran:quick"
    assert_client_timeout(answers[slow][0], slow)
    assert 0.5 <= answers[slow][1] < 1.4, answers[slow][1]
    assert ctl.late_answers_dropped == 1  # the broker's success for `slow`, after 1.5 s
    assert drain(ctl, 0.3) == [] and ctl.pending == 0
    ctl.close()
    inv.check()
    broker.stop()
    # The broker did answer both; the client delivered the first answer of each.
    assert broker.counter("answered_success") == 2
    assert broker.counter("answers_delivered") - broker.counter("answers_undelivered") == 2
