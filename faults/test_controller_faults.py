"""Controller faults: a controller process that vanishes (SIGKILL) with work in flight, one
that never comes back, and one that stops reading its socket.

PROTOCOL.md §6.4: answers go to the controller named by id, not by connection; answers for an
absent controller are kept (default up to 10,000 for up to 300 s) and delivered in order when
a controller says HELLO with that id; past either bound they are dropped and counted.
ARCHITECTURE.md "Promises" 5: a slow or absent controller gets its answers kept for it, and
sends never block the broker's loop.
"""

from __future__ import annotations

import signal
import statistics
import time

from conftest import answers_by_id, assert_exactly_once


def _parked(broker, at_least: int, timeout: float = 10.0) -> dict:
    def check():
        c = broker.counters_now()
        return c if c.get("answers_parked", 0) >= at_least else None
    return broker.wait_for(check, timeout, f"the broker to keep {at_least} answers for an absent controller")


def test_controller_killed_then_returns_gets_pending_answers(cluster, report):
    """Scenario 3: controller 'phoenix' sends 16 activations and is SIGKILLed. 8 finish
    while no 'phoenix' is connected (the broker must keep them); 8 are still running when a
    new process says HELLO as 'phoenix'. The new process gets all 16, each exactly once: the
    kept ones right after WELCOME, the others as they finish."""
    b = cluster.broker()
    inv = cluster.invoker(b.invoker_endpoint, "inv-phoenix", slots=32)
    first = cluster.controller(b.controller_endpoint, "phoenix", stdin=True, name="phoenix-1")
    first.send({"cmd": "send", "count": 8, "window": 16, "tag": "kept", "payload": {"ms": 700}})
    first.send({"cmd": "send", "count": 8, "window": 16, "tag": "live", "payload": {"ms": 3000}})
    inv.wait_event("dispatch", 15, count=16)
    sent = {e["id"]: e["tag"] for e in first.evs("sent")}
    assert len(sent) == 16
    t_kill = time.monotonic()
    first.signal(signal.SIGKILL)
    first.wait_exit(5)

    kept_ids = {aid for aid, tag in sent.items() if tag == "kept"}
    inv.wait_for(lambda: kept_ids <= {e["id"] for e in inv.evs("complete")}, 10, "the 'kept' work to finish")
    c = _parked(b, 8)
    report("answers kept for the absent controller", c.get("answers_parked"))

    second = cluster.controller(b.controller_endpoint, "phoenix", stdin=True, name="phoenix-2")
    welcome_t = second.evs("welcome")[0]["t"]
    second.wait_for(lambda: len(second.evs("answer")) >= 16, 15, "all 16 answers at the new connection", others=(b,))
    second.send({"cmd": "quit"})
    second.wait_event("done", 10)

    answers = answers_by_id(first.evs() + second.evs())
    assert_exactly_once(sent, answers, "controller 'phoenix' (both processes)")
    assert not first.evs("answer"), "the first process died before any work finished"
    for aid, (a,) in answers.items():
        assert a["kind"] == "success" and a["bytes_ok"], a
        assert a.get("foreign"), "the answer reached the new process, which never sent it"
    kept_t = [answers[aid][0]["t"] for aid in kept_ids]
    live_t = [answers[aid][0]["t"] for aid, tag in sent.items() if tag == "live"]
    report("WELCOME -> last kept answer delivered", max(kept_t) - welcome_t, "s")
    report("SIGKILL -> new process welcomed", welcome_t - t_kill, "s")
    assert max(kept_t) - welcome_t < 2.0
    assert min(live_t) > max(kept_t)  # the live ones came later, straight to the new connection
    # §6.4 "delivered in order": the kept answers arrive in the order the work finished.
    order = [e["id"] for e in second.evs("answer") if e["id"] in kept_ids]
    finished = [e["id"] for e in inv.evs("complete") if e["id"] in kept_ids]
    assert order == finished, (order, finished)

    c = b.counters_now()
    assert c.get("answers_dropped", 0) == 0, c
    assert c.get("answered_success") == 16, c


def test_answers_for_a_controller_that_never_returns_are_dropped_and_counted(cluster, report, tmp_path):
    """Scenario 3b: answers kept for a controller that does not come back are dropped after
    `answers.max-parked-age` and counted (`answers_dropped`). There is no command-line flag
    for that bound (it is 300 s by default); the configuration file sets it here to 1 s."""
    max_age = 1.0
    cfg = tmp_path / "parked.yaml"
    cfg.write_text(f"answers:\n  max-parked-age: {int(max_age * 1000)}ms\n")
    b = cluster.broker("--config", str(cfg))
    inv = cluster.invoker(b.invoker_endpoint, "inv-ghost", slots=8)
    ghost = cluster.controller(b.controller_endpoint, "ghost", stdin=True)
    ghost.send({"cmd": "send", "count": 6, "window": 6, "tag": "orphan", "payload": {"ms": 200}})
    inv.wait_event("dispatch", 15, count=6)
    ghost.signal(signal.SIGKILL)
    ghost.wait_exit(5)
    done = inv.wait_event("complete", 10, count=6)
    t_answered = max(e["t"] for e in done)

    def dropped_all():
        lines = b.log_lines(r"controller=ghost .*answers dropped for an absent controller")
        total = sum(int(line.split("count=")[1].split()[0]) for _, line in lines)
        return lines if total >= 6 else None
    lines = b.wait_for(dropped_all, max_age + 10, "the kept answers to be dropped")
    t_dropped = lines[-1][0]
    report("answers.max-parked-age (config file; no CLI flag)", max_age, "s")
    report("last answer made -> dropped", t_dropped - t_answered, "s")
    assert max_age - 0.1 <= t_dropped - t_answered <= max_age + 2.0
    c = b.counters_now()
    assert c.get("answers_parked") == 6 and c.get("answers_dropped") == 6, c

    # The id comes back after all: nothing is left for it.
    since = time.monotonic()
    back = cluster.controller(b.controller_endpoint, "ghost", stdin=True, name="ghost-returns")
    b.wait_for(lambda: b.log_lines(r"controller=ghost parked_answers=0 reconnected=true .*controller registered", since),
               10, "the broker to register 'ghost' again with nothing kept")
    time.sleep(0.3)
    assert not back.evs("answer"), back.evs("answer")


def test_controller_that_stops_reading_never_blocks_the_broker(cluster, report):
    """Scenario 4: a raw DEALER says HELLO, sends 3000 activations with 4 KiB payloads and
    then only heartbeats, never reading, for 6 s. Meanwhile another controller sends 800
    activations and gets every answer, fast. Afterwards the stuck one reads: every activation
    the broker accepted from it is answered exactly once, from its connection's queue or,
    if the broker kept some for it, after it said HELLO again (§6.4)."""
    b = cluster.broker()
    cluster.swift_invoker(b.invoker_endpoint, "flood-0", slots=32, duration="1ms-2ms")
    cluster.swift_invoker(b.invoker_endpoint, "flood-1", slots=32, duration="1ms-2ms")
    for name in ("flood-0", "flood-1"):
        b.wait_for(lambda: b.log_lines(rf"invoker={name} .*invoker registered"), 20, f"{name} to register")

    count, stuck_seconds = 3000, 6.0
    stuck = cluster.stuck_controller(b.controller_endpoint, "stuck", "--count", str(count), "--payload-bytes", "4096",
                                     "--stuck-seconds", str(stuck_seconds), "--quiet", "0.5")
    stuck.wait_event("sent_all", 20)
    t0 = time.monotonic()
    good = cluster.controller(b.controller_endpoint, "good", "--count", "800", "--window", "16",
                              "--payload-bytes", "256")
    good_done = good.wait_event("done", 30, "the well-behaved controller's 800 answers", others=(b,))[0]
    t_good = time.monotonic() - t0
    assert not stuck.evs("stuck_done"), "the good controller must finish while the stuck one is not reading"

    # The broker queues answers for a connection up to its send high-water mark, which is
    # 100,000 messages (BrokerNodeConfiguration.sendHighWaterMark, not configurable); only
    # past that does a send fail and the answer get kept for the controller (§6.4). This
    # test cannot reach that within its time budget, so it checks the guarantee itself: the
    # broker kept serving the good controller while thousands of answers sat unread.
    c = b.counters_now()
    report("broker counters while the stuck controller is not reading",
           {k: c.get(k, 0) for k in ("answers_delivered", "answers_parked", "answers_dropped")})

    gsent = [e["id"] for e in good.evs("sent")]
    ganswers = answers_by_id(good.evs())
    assert_exactly_once(gsent, ganswers, "good controller")
    assert good_done["dups"] == 0
    bad = [a for (a,) in ganswers.values() if a["kind"] != "success" or not a["bytes_ok"]]
    assert not bad, bad[:5]
    rtts = sorted(a["rtt"] for (a,) in ganswers.values())
    p50, p99, mx = statistics.median(rtts), rtts[int(len(rtts) * 0.99) - 1], rtts[-1]
    report("good controller: 800 answers in", t_good, "s")
    report("good controller round trip p50 / p99 / max", f"{p50 * 1000:.1f} / {p99 * 1000:.1f} / {mx * 1000:.1f}", "ms")
    assert mx < 2.0, f"a round trip took {mx:.3f}s while another controller was not reading"

    done = stuck.wait_event("done", stuck_seconds + 30, "the stuck controller to read everything", others=(b,))[0]
    refused = set(done["refused"])
    accepted = {f"stuck-{n}" for n in range(count)} - refused
    sanswers = answers_by_id(stuck.evs())
    assert_exactly_once(accepted, sanswers, "stuck controller")
    assert all(a["kind"] == "success" and a["bytes_ok"] for (a,) in sanswers.values())
    report("stuck controller: answers read from its connection / after HELLO again / refused",
           f"{done['in_pipe']} / {done['after_rehello']} / {len(refused)}")
    c = b.counters_now()
    assert c.get("answers_dropped", 0) == 0, c
    assert c.get("answered") == c.get("activations_received") == len(accepted) + len(gsent), c
