import Testing
import SluiceCore
import SluicePluginAPI
import SluiceProtocol

// Circuit breaker and invoker health: docs/PROTOCOL.md §5, §6.3, §7.

@Suite("Circuit breaker (§5)")
struct CircuitBreakerTests {
    @Test("§5 default deadline is max(time limit, 60 s) * 2 + 60 s")
    func defaultDeadlineFormula() {
        let config = BrokerConfiguration()
        #expect(config.completionTimeout(timeLimitMilliseconds: 1_000) == .seconds(180))
        #expect(config.completionTimeout(timeLimitMilliseconds: 60_000) == .seconds(180))
        #expect(config.completionTimeout(timeLimitMilliseconds: 100_000) == .seconds(260))
    }

    @Test("§5 circuit breaker: a 1 s action times out at 180 s, frees its slot; a late COMPLETION is counted, never answered (§6.3, §7)")
    func circuitBreakerTimeout() throws {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 1)

        #expect(h.activate("a1", timeLimitMilliseconds: 1_000).placements == ["a1->i1"])
        // Not at 1 s * 2 + 60 s = 62 s: the 60 s floor applies.
        #expect(h.advance(toSeconds: 170).answers.isEmpty)
        let a2 = h.activate("a2")
        #expect(a2.dispatches.isEmpty) // i1's only slot is still busy
        #expect(h.advance(toSeconds: 179).answers.isEmpty)

        let fired = h.advance(toSeconds: 181)
        #expect(fired.answers(to: "c1").map(\.activationID) == ["a1"])
        let timeout = try #require(fired.answers.first)
        #expect(timeout.kind == .timeout)
        #expect(timeout.result == [])
        #expect(timeout.header.invokerID == "i1")
        // The slot is freed: the waiting activation goes to i1.
        #expect(fired.placements == ["a2->i1"])

        // The invoker finishes a1 after all: ERROR to the invoker, nothing to the controller.
        let late = h.complete("a1", on: "i1", result: bytes("too late"))
        #expect(late.errors(to: "i1").map(\.code) == [.unknownActivation])
        #expect(late.errors.first?.activationID == "a1")
        #expect(late.errors.first?.endpoint == .invoker)
        #expect(late.answers.isEmpty)
        #expect(late.dispatches.isEmpty)
        #expect(h.core.counters.lateCompletions == 1)
        #expect(h.log.answers(for: "a1").count == 1)

        // a2 runs on the freed slot and completes normally.
        let done = h.complete("a2", on: "i1", result: bytes("ok"))
        #expect(done.answers.map(\.activationID) == ["a2"])
        #expect(done.answers.first?.kind == .success)
        #expect(h.core.counters.answers(.timeout) == 1)
    }

    @Test("§5 circuit breaker fires even when a tick lands just before the deadline in the same wheel slot")
    func circuitBreakerUnalignedDeadline() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 1)

        h.advance(toSeconds: 0.03)
        // Deadline 180.03 s.
        #expect(h.activate("a1", timeLimitMilliseconds: 1_000).placements == ["a1->i1"])
        // A tick at 180.01 s: not due yet.
        #expect(h.advance(toSeconds: 180.01).answers.isEmpty)
        // Well past the deadline (50 ms wheel granularity): answered timeout.
        let fired = h.advance(toSeconds: 181)
        #expect(fired.answers.map(\.activationID) == ["a1"])
        #expect(fired.answers.first?.kind == .timeout)
    }

    @Test("§6.3 a RESULT before the deadline decides the answer; the deadline only frees the slot")
    func resultThenDeadline() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 1)

        h.activate("a1", timeLimitMilliseconds: 1_000)
        let result = h.result("a1", on: "i1", bytes("{\"r\":1}"))
        #expect(result.answers.map(\.kind) == [.success])
        h.advance(toSeconds: 170)
        #expect(h.activate("a2").dispatches.isEmpty)
        let fired = h.advance(toSeconds: 181)
        #expect(fired.answers.isEmpty) // no second answer for a1
        #expect(fired.placements == ["a2->i1"]) // but the slot is freed
        #expect(h.log.answers(for: "a1").count == 1)
    }
}

@Suite("Invoker health (§5)")
struct HealthTests {
    @Test("§5 more than 3 system errors in the last 10 make an invoker unhealthy; one probe after the cool-down; a clean completion heals it")
    func systemErrorsMakeUnhealthy() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 1)

        for n in 1...4 {
            // The 4th still gets dispatched: 3 system errors are not "more than 3".
            #expect(h.activate("e\(n)").placements == ["e\(n)->i1"])
            let done = h.complete("e\(n)", on: "i1", systemError: true)
            #expect(done.answers.map(\.kind) == [.systemError])
        }
        #expect(h.core.invoker("i1")?.health == .unhealthy)

        h.invokerHello("i2", memoryMB: 4096, slots: 1)
        // Both idle with equal load: a healthy i1 would win the tie on its id. It gets nothing.
        #expect(h.activate("b1").placements == ["b1->i2"])
        let b2 = h.activate("b2")
        #expect(b2.dispatches.isEmpty)
        #expect(h.advance(toSeconds: 9.5).dispatches.isEmpty)

        // Cool-down (10 s) over: exactly one probe.
        let probe = h.advance(toSeconds: 10.5)
        #expect(probe.placements == ["b2->i1"])
        let b3 = h.activate("b3")
        #expect(b3.dispatches.isEmpty) // no second activation while the probe runs

        let clean = h.complete("b2", on: "i1")
        #expect(clean.answers.map(\.kind) == [.success])
        #expect(h.core.invoker("i1")?.health == .healthy)
        #expect(clean.placements == ["b3->i1"]) // healthy again: it takes work

        // A clean history: three new system errors do not make it unhealthy again.
        h.complete("b3", on: "i1", systemError: true)
        for n in 1...2 {
            #expect(h.activate("x\(n)").placements == ["x\(n)->i1"])
            h.complete("x\(n)", on: "i1", systemError: true)
        }
        #expect(h.core.invoker("i1")?.health == .healthy)
        #expect(h.activate("x3").placements == ["x3->i1"])
    }

    @Test("§4.11 outcome systemError with flag bit 1 clear is answered systemError but counts as clean: five in a row leave the invoker healthy; bit 1 set counts whatever the outcome")
    func outcomeAloneIsNotBlame() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 1)
        for n in 1...5 {
            #expect(h.activate("o\(n)").placements == ["o\(n)->i1"])
            let done = h.complete("o\(n)", on: "i1", result: bytes("boom"), outcome: .systemError, systemError: false)
            #expect(done.answers.map(\.kind) == [.systemError])
        }
        #expect(h.core.invoker("i1")?.health == .healthy, "the action failed; the invoker is not blamed")
        // Bit 1 with a success outcome: four of those make it unhealthy.
        for n in 1...4 {
            #expect(h.activate("s\(n)").placements == ["s\(n)->i1"])
            h.complete("s\(n)", on: "i1", result: bytes("ok"), outcome: .success, systemError: true)
        }
        #expect(h.core.invoker("i1")?.health == .unhealthy)
    }

    @Test("§4.8/§6.1 work aimed at a drained invoker waits for it (it was rejected: 'has 0 MB'), and goes when it takes work again")
    func targetedAtDrainedInvoker() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 2)
        h.capacity("i1", memoryMB: 0, slots: 0)
        let waiting = h.activate("a1", targetInvoker: "i1")
        #expect(waiting.answers.isEmpty, "not rejected: \(waiting.answers.map(\.header.reason))")
        #expect(waiting.dispatches.isEmpty)
        #expect(h.capacity("i1", memoryMB: 4096, slots: 2).placements == ["a1->i1"])
        // Still refused when the invoker, taking work, is too small for it.
        #expect(h.activate("big", memoryMB: 8192, targetInvoker: "i1").answers.map(\.kind) == [.rejected])
    }

    @Test("§4.8/§6.1 work dispatched before a drain still completes normally after it: answered, slot freed, no error; no new work reaches the drained invoker")
    func completionAfterDrain() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 2)
        #expect(h.activate("a1").placements == ["a1->i1"])
        h.capacity("i1", memoryMB: 0, slots: 0)
        let waiting = h.activate("a2")
        #expect(waiting.dispatches.isEmpty, "a drained invoker gets no new work")
        let done = h.complete("a1", on: "i1", result: bytes("ok"))
        #expect(done.answers.map(\.activationID) == ["a1"])
        #expect(done.answers.first?.kind == .success)
        #expect(done.errors.isEmpty)
        #expect(done.dispatches.isEmpty, "the freed slot is not offered while drained")
        #expect(h.core.inFlightCount == 0)
        #expect(h.capacity("i1", memoryMB: 4096, slots: 2).placements == ["a2->i1"], "raised again: the waiting work goes")
    }

    @Test("§5 more than 3 timeouts make an invoker unresponsive; a failed probe restarts the cool-down")
    func timeoutsMakeUnresponsive() {
        var config = BrokerConfiguration()
        // Deadline = time limit, so timeouts happen quickly.
        config.completionTimeoutFloor = .zero
        config.completionTimeoutMultiplier = 1
        config.completionTimeoutSlack = .zero
        var h = Harness(configuration: config)
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 4)

        for n in 1...4 { h.activate("t\(n)", timeLimitMilliseconds: 1_000) }
        #expect(h.log.dispatchedIDs(to: "i1") == ["t1", "t2", "t3", "t4"])
        let fired = h.advance(toSeconds: 2)
        #expect(fired.answers.count == 4)
        #expect(fired.answers.allSatisfy { $0.kind == .timeout })
        #expect(h.core.invoker("i1")?.health == .unresponsive)

        h.invokerHello("i2", memoryMB: 4096, slots: 1)
        #expect(h.activate("b1").placements == ["b1->i2"])
        let b2 = h.activate("b2", timeLimitMilliseconds: 1_000)
        #expect(b2.dispatches.isEmpty)
        #expect(h.advance(toSeconds: 10.5).dispatches.isEmpty)

        // Cool-down ends at 11 s (10 s after the 4th timeout at 1 s): the probe.
        #expect(h.advance(toSeconds: 11.5).placements == ["b2->i1"])
        #expect(h.activate("b3").dispatches.isEmpty)

        // The probe times out too: answered timeout, and the cool-down starts again.
        let failedProbe = h.advance(toSeconds: 13)
        #expect(failedProbe.answers.map(\.activationID) == ["b2"])
        #expect(failedProbe.answers.first?.kind == .timeout)
        #expect(failedProbe.dispatches.isEmpty)
        #expect(h.core.invoker("i1")?.health == .unresponsive)
        #expect(h.advance(toSeconds: 22).dispatches.isEmpty)

        // Second probe at 22.5 s; a clean completion heals it.
        #expect(h.advance(toSeconds: 23).placements == ["b3->i1"])
        let clean = h.complete("b3", on: "i1")
        #expect(clean.answers.map(\.kind) == [.success])
        #expect(h.core.invoker("i1")?.health == .healthy)
        #expect(h.activate("b4").placements == ["b4->i1"])
    }

    @Test("§5 a fresh HELLO resets an invoker's health")
    func freshHelloResetsHealth() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 1)
        for n in 1...4 {
            h.activate("e\(n)")
            h.complete("e\(n)", on: "i1", systemError: true)
        }
        #expect(h.core.invoker("i1")?.health == .unhealthy)
        #expect(h.activate("a1").dispatches.isEmpty)

        let hello = h.invokerHello("i1", memoryMB: 4096, slots: 1, connection: "i1-restarted")
        #expect(h.core.invoker("i1")?.health == .healthy)
        #expect(hello.placements == ["a1->i1-restarted"])
    }
}

@Suite("Health probes wait for older work")
struct ProbeIsolationTests {
    @Test("§5 the probe is sent only once nothing else is in flight, so an older clean completion does not heal the invoker")
    func probeWaitsForOlderWork() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 2)
        // Two activations in flight; then four system errors make it unhealthy while "slow"
        // is still running there.
        #expect(h.activate("slow").placements == ["slow->i1"])
        for n in 1...4 {
            #expect(h.activate("e\(n)").placements == ["e\(n)->i1"])
            h.complete("e\(n)", on: "i1", systemError: true)
        }
        #expect(h.core.invoker("i1")?.health == .unhealthy)
        h.activate("next")
        // Cool-down over, but "slow" still runs: no probe yet.
        let early = h.advance(toSeconds: 12)
        #expect(early.dispatches.isEmpty)
        #expect(h.core.invoker("i1")?.health == .unhealthy)
        // "slow" completes cleanly: that is not a probe, so the invoker stays sick...
        h.complete("slow", on: "i1")
        #expect(h.core.invoker("i1")?.health == .unhealthy)
        // ...until the next tick makes it probing and it gets exactly one activation.
        let probe = h.advance(toSeconds: 13)
        #expect(probe.placements == ["next->i1"])
        #expect(h.core.invoker("i1")?.health == .probing)
    }
}
