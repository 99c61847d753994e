"""Reconnect storm: 200 controllers connect and say HELLO at the same moment, three times
over, each sending one activation per round, while a probe controller measures round trips.

§3.3: a second HELLO with the same id from a new connection replaces the old connection.
The broker must stay responsive and answer every activation exactly once.
"""

from __future__ import annotations

import statistics

from conftest import answers_by_id, assert_exactly_once

CLIENTS = 200
ROUNDS = 5
PROBE_BOUND = 2.0  # seconds: a probe round trip during the storm must stay below this


def test_reconnect_storm(cluster, report):
    """Scenario 5."""
    b = cluster.broker()
    cluster.swift_invoker(b.invoker_endpoint, "storm-inv-0", slots=32, duration="1ms-3ms")
    cluster.swift_invoker(b.invoker_endpoint, "storm-inv-1", slots=32, duration="1ms-3ms")
    for name in ("storm-inv-0", "storm-inv-1"):
        b.wait_for(lambda: b.log_lines(rf"invoker={name} .*invoker registered"), 20, f"{name} to register")

    probe = cluster.controller(b.controller_endpoint, "probe", "--count", "100000", "--window", "1",
                               "--interval", "0.05", stdin=True)
    probe.wait_event("answer", 10, count=5)

    storm = cluster.storm(b.controller_endpoint, "--clients", str(CLIENTS), "--rounds", str(ROUNDS))
    storm_start = storm.wait_event("round_start", 60, round=0)[0]["t"]
    done = storm.wait_event("done", 75, "the storm to finish", others=(b,))[0]
    storm_end = done["t"]
    probe.send({"cmd": "close"})
    probe.send({"cmd": "quit"})
    probe_done = probe.wait_event("done", 15)[0]

    # Every storm activation answered exactly once, successfully, bytes intact.
    errors = storm.evs("client_error")
    assert not errors, errors[:10]
    expected = {f"storm-{n}-r{r}" for n in range(CLIENTS) for r in range(ROUNDS)}
    answers = answers_by_id(storm.evs())
    assert_exactly_once(expected, answers, "storm clients")
    bad = [a for (a,) in answers.values() if a["kind"] != "success" or not a["bytes_ok"]]
    assert not bad, bad[:5]

    # The probe: every activation answered exactly once; round trips during the storm bounded.
    psent = [e["id"] for e in probe.evs("sent")]
    panswers = answers_by_id(probe.evs())
    assert_exactly_once(psent, panswers, "probe")
    assert probe_done["dups"] == 0
    assert all(a["kind"] == "success" for (a,) in panswers.values())
    during = sorted(a["rtt"] for (a,) in panswers.values() if storm_start <= a["t"] <= storm_end)
    before = sorted(a["rtt"] for (a,) in panswers.values() if a["t"] < storm_start)
    assert len(during) >= 5, f"the probe got only {len(during)} answers during the storm"

    for r in storm.evs("round_done"):
        report(f"round {r['round']}: slowest HELLO->WELCOME / slowest answer",
               f"{r['connect_max'] * 1000:.0f} / {r['rtt_max'] * 1000:.0f}", "ms")
    report("storm: clients x rounds, wall time", f"{CLIENTS} x {ROUNDS}, {storm_end - storm_start:.2f} s")
    report("probe round trip before the storm p50", statistics.median(before) * 1000, "ms")
    report("probe round trips during the storm: count / p50 / max",
           f"{len(during)} / {statistics.median(during) * 1000:.1f} / {during[-1] * 1000:.1f}", "ms")
    report("probe bound", PROBE_BOUND * 1000, "ms")
    assert during[-1] < PROBE_BOUND, f"probe round trip {during[-1]:.3f}s during the storm (bound {PROBE_BOUND}s)"

    c = b.counters_now()
    total = len(expected) + len(psent)
    assert c.get("answered") == c.get("activations_received") == total, c
    assert c.get("answered_success") == total and c.get("answers_dropped", 0) == 0, c
