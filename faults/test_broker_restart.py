"""Broker faults: SIGKILL the broker with work in flight and start a new one on the same ports;
and the exit a SIGTERM promises.

§3.3: a session lasts until the broker restarts; a peer that gets ERROR notRegistered (or hears
nothing for 3 heartbeat intervals, §4.3) says HELLO again. Work that was in flight on the old
broker died with it: the new broker knows nothing of it, so only a client-side timer can
answer it. Both client libraries have one: the Swift ControllerClient's `answerTimeout` and the
Python Controller's `answer_timeout`, which the fault controller sets with --answer-timeout.
This test checks the Python library's guarantee: every activation is answered exactly once,
the lost ones by that timer.
"""

from __future__ import annotations

import signal
import time

import pytest

from conftest import answers_by_id, assert_exactly_once

CLIENT_TIMEOUT = 4.0  # Controller(answer_timeout=...), seconds


def _start_on_same_ports(cluster, old, attempts: int = 5):
    for attempt in range(attempts):
        try:
            return cluster.broker(controller_endpoint=old.controller_endpoint,
                                  invoker_endpoint=old.invoker_endpoint, name="broker-2")
        except pytest.fail.Exception:
            if attempt == attempts - 1:
                raise
            time.sleep(0.3)


def test_broker_sigkill_and_restart(cluster, report):
    """Scenario 6."""
    b1 = cluster.broker(name="broker-1")
    py1 = cluster.invoker(b1.invoker_endpoint, "restart-py-1", slots=8)
    py2 = cluster.invoker(b1.invoker_endpoint, "restart-py-2", slots=8)
    cluster.swift_invoker(b1.invoker_endpoint, "restart-swift", slots=4, duration="20ms")
    b1.wait_for(lambda: b1.log_lines(r"invoker=restart-swift .*invoker registered"), 20, "the Swift invoker to register")
    ctl = cluster.controller(b1.controller_endpoint, "restart-ctl", "--answer-timeout", str(CLIENT_TIMEOUT), stdin=True)

    # Old work: held 2.5 s by the Python invokers (the Swift one ignores the payload: 20 ms).
    ctl.send({"cmd": "send", "count": 12, "window": 12, "tag": "old", "payload": {"ms": 2500}})

    def placed():
        on_py = len(py1.evs("dispatch")) + len(py2.evs("dispatch"))
        answered = len([e for e in ctl.evs("answer") if e.get("tag") == "old"])
        return on_py >= 1 and on_py + answered >= 12
    ctl.wait_for(placed, 15, "all old work to be placed", others=(py1, py2, b1))
    held_by_py = {e["id"] for e in py1.evs("dispatch") + py2.evs("dispatch")}
    t_kill = time.monotonic()
    b1.signal(signal.SIGKILL)
    b1.wait_exit(5)

    b2 = _start_on_same_ports(cluster, b1)
    t_up = b2.listening_at
    report("SIGKILL -> new broker listening on the same ports", t_up - t_kill, "s")

    # Everyone re-announces by themselves.
    cw = ctl.wait_event("welcome", 15, "the controller to say HELLO again", count=2, others=(b2,))[-1]
    w1 = py1.wait_event("welcome", 15, count=2)[-1]
    w2 = py2.wait_event("welcome", 15, count=2)[-1]
    sw = b2.wait_for(lambda: b2.log_lines(r"invoker=restart-swift .*invoker registered"), 15,
                     "the Swift invoker to register with the new broker")[0]
    report("new broker up -> controller welcomed (via notRegistered / liveness reconnects)",
           f"{cw['t'] - t_up:.3f} s ({cw['not_registered']} / {cw['reconnects']})")
    report("new broker up -> Python invokers welcomed", f"{w1['t'] - t_up:.3f} / {w2['t'] - t_up:.3f}", "s")
    report("new broker up -> Swift invoker registered", sw[0] - t_up, "s")

    # New work succeeds.
    t_new = time.monotonic()
    ctl.send({"cmd": "send", "count": 24, "window": 24, "tag": "new", "payload": {"ms": 20}})
    ctl.wait_event("batch_done", 15, tag="new")
    report("24 new activations after the restart answered in", time.monotonic() - t_new, "s")

    # Old work: whatever was in flight on the dead broker is answered by the Controller's timer.
    ctl.wait_event("batch_done", CLIENT_TIMEOUT + 15, tag="old")
    # The Python invokers finish the old work on the new broker, which refuses it.
    late_errors = {}

    def late_refused():
        for e in py1.evs("error") + py2.evs("error"):
            if e["id"] in held_by_py:
                late_errors.setdefault(e["id"], []).append(e["name"])
        return len(late_errors) == len(held_by_py)
    py1.wait_for(late_refused, 10, "an ERROR for each old completion sent to the new broker", others=(py2, b2))
    ctl.send({"cmd": "quit"})
    done = ctl.wait_event("done", 15)[0]

    sent = {e["id"]: e["tag"] for e in ctl.evs("sent")}
    sent_t = {e["id"]: e["t"] for e in ctl.evs("sent")}
    answers = answers_by_id(ctl.evs())
    assert_exactly_once(sent, answers, "restart-ctl")
    old = {aid: lst[0] for aid, lst in answers.items() if sent[aid] == "old"}
    new = {aid: lst[0] for aid, lst in answers.items() if sent[aid] == "new"}
    assert all(a["kind"] == "success" and a["bytes_ok"] and not a.get("client") for a in new.values()), new
    timed_out = {aid for aid, a in old.items() if a.get("client")}
    assert all(a["kind"] == "success" and a["bytes_ok"] for aid, a in old.items() if aid not in timed_out), old
    assert held_by_py <= timed_out, "work in flight on the dead broker must be answered by the client-side timer"
    for aid in timed_out:
        a = old[aid]
        # The Controller's own answer: kind timeout (3), no invoker, on time.
        assert a["kind"] == "timeout" and a["invoker"] == "" and a["bytes_ok"], a
        assert CLIENT_TIMEOUT <= a["t"] - sent_t[aid] < CLIENT_TIMEOUT + 1.0, (a, sent_t[aid])
    assert all(names in (["unknownActivation"], ["notRegistered"]) for names in late_errors.values()), late_errors
    timer_fired = [old[aid]["t"] - sent_t[aid] for aid in timed_out]
    report("old work: answered before the kill / by the Controller's answer_timeout",
           f"{len(old) - len(timed_out)} / {len(timed_out)}")
    report("old work: ACTIVATE -> client-side TIMEOUT answer (answer_timeout = 4 s), min / max",
           f"{min(timer_fired):.3f} / {max(timer_fired):.3f}", "s")
    # The library's own bookkeeping agrees: nothing left pending, every lost activation
    # answered by its timer, and the new broker never answered one of them late.
    assert done["pending"] == 0, done
    assert done["ctl_client_timeouts"] == done["client_timeouts"] == len(timed_out), done
    assert done["late_answers_dropped"] == 0 and not ctl.evs("late_answer_dropped"), done

    c = b2.counters_now()
    assert c.get("activations_received") == c.get("answered_success") == len(new), c
    assert c.get("answered") == len(new), c


def test_broker_sigterm_prints_summary_and_exits_0(cluster):
    """README / `sluice broker --help`: SIGTERM answers what is waiting, gives in-flight work
    --shutdown-grace, prints a summary of the counters and exits 0. The summary is where
    operators read counters such as late_completions after a fault."""
    b = cluster.broker(name="broker-exit")
    inv = cluster.invoker(b.invoker_endpoint, "exit-inv", slots=4)
    ctl = cluster.controller(b.controller_endpoint, "exit-ctl", "--count", "10", "--window", "4")
    ctl.wait_event("done", 20)
    ctl.stop()
    inv.stop()
    rc = b.stop()
    assert not b.crashed, b.tail(60)
    assert rc == 0, b.tail(60)
    assert b.summary is not None, b.tail(60)
    assert b.summary.get("answered_success") == "10", b.summary
