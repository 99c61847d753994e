import Testing
import SluiceCore
import SluicePluginAPI
import SluiceProtocol

// Answers: docs/PROTOCOL.md §3.3 (controller reconnect), §4.6 (answer-to, duplicates), §4.9,
// §4.10, §4.11, §6.3 (exactly one answer), §6.4 (absent controllers), shutdown (§6.2).

@Suite("Answers (§4.6, §6)")
struct AnswerTests {
    @Test("§3.3/§6.4 a controller reconnecting from a new connection receives its answers there")
    func controllerReconnectNewConnection() {
        var h = Harness()
        h.controllerHello("c1", connection: "c1-a")
        h.invokerHello("i1", memoryMB: 4096, slots: 2)
        #expect(h.activate("a1").placements == ["a1->i1"])

        let hello = h.controllerHello("c1", connection: "c1-b")
        #expect(hello.welcomes(to: "c1-b").count == 1)

        let done = h.complete("a1", on: "i1", result: bytes("r1"))
        #expect(done.answers(to: "c1-b").map(\.activationID) == ["a1"])
        #expect(done.answers(to: "c1-b").first?.result == bytes("r1"))
        #expect(done.answers(to: "c1-a").isEmpty)

        // The replaced connection no longer has a session.
        let stale = h.activate("a2", connection: "c1-a")
        #expect(stale.errors(to: "c1-a").map(\.code) == [.notRegistered])
        #expect(stale.dispatches.isEmpty)
        #expect(stale.answers.isEmpty)
    }

    @Test("§4.4/§6.4 an answer produced after the controller's GOODBYE is kept and delivered after its next HELLO")
    func answerParkedAfterGoodbye() {
        var h = Harness()
        h.controllerHello("c1", connection: "c1-a")
        h.invokerHello("i1", memoryMB: 4096, slots: 2)
        h.activate("a1")
        h.controllerGoodbye("c1")

        let done = h.complete("a1", on: "i1", result: bytes("r1"))
        #expect(done.answers.isEmpty)
        #expect(h.core.counters.answersParked == 1)

        let back = h.controllerHello("c1", connection: "c1-b")
        #expect(back.answers.map(\.route) == ["c1-b"])
        #expect(back.answers.first?.activationID == "a1")
        #expect(back.answers.first?.kind == .success)
        #expect(back.answers.first?.result == bytes("r1"))
        // WELCOME first, then the kept answers.
        let welcome = back.indexOfSend(to: "c1-b") { if case .welcome = $0 { true } else { false } }
        let answer = back.indexOfSend(to: "c1-b") { if case .answer = $0 { true } else { false } }
        #expect(welcome != nil && answer != nil)
        if let welcome, let answer { #expect(welcome < answer) }
        #expect(h.log.answers(for: "a1").count == 1)
    }

    @Test("§5/§6.4 answers produced while a controller is declared dead are kept, in order, until its HELLO")
    func answersParkedAfterControllerDeath() {
        var h = Harness()
        h.controllerHello("c1", connection: "c1-a")
        h.invokerHello("i1", memoryMB: 4096, slots: 2)
        h.activate("a1")
        h.activate("a2")

        h.stopHeartbeats("c1-a")
        let silence = h.advance(toSeconds: 4)
        #expect(silence.notices.contains(.controllerLost(id: "c1")))
        #expect(h.core.connectedControllerCount == 0)

        #expect(h.complete("a1", on: "i1", result: bytes("r1")).answers.isEmpty)
        #expect(h.complete("a2", on: "i1", result: bytes("r2")).answers.isEmpty)

        let back = h.controllerHello("c1", connection: "c1-b")
        #expect(back.answers(to: "c1-b").map(\.activationID) == ["a1", "a2"])
        #expect(back.answers(to: "c1-b").map(\.result) == [bytes("r1"), bytes("r2")])
        #expect(h.log.answers(to: "c1-a").isEmpty)
    }

    @Test("§6.4 a burst of kept answers that overflows the connection: every failed send is kept again, none dropped")
    func parkedBurstOverflowingTheConnection() {
        var h = Harness()
        h.controllerHello("c1", connection: "c1-a")
        h.invokerHello("i1", memoryMB: 4096, slots: 8)
        for n in 1...6 { h.activate("a\(n)") }
        h.controllerGoodbye("c1")
        for n in 1...6 { h.complete("a\(n)", on: "i1", result: bytes("r\(n)")) }

        // HELLO sends all six at once; the connection takes two and then is full (EAGAIN):
        // the shell reports the other four, one by one, after the core ended the session.
        let back = h.controllerHello("c1", connection: "c1-b")
        let burst = back.answers(to: "c1-b")
        #expect(burst.map(\.activationID) == ["a1", "a2", "a3", "a4", "a5", "a6"])
        for answer in burst.dropFirst(2) {
            h.handle(.answerUndeliverable(route("c1-b"), answer.header, result: answer.result))
        }
        #expect(h.core.counters.answersDropped == 0, "no answer of the burst may be lost")
        #expect(h.core.connectedControllerCount == 0, "the full connection's session ended")

        // Its next HELLO gets exactly the four that did not go out, in order, once each.
        let again = h.controllerHello("c1", connection: "c1-b")
        #expect(again.answers(to: "c1-b").map(\.activationID) == ["a3", "a4", "a5", "a6"])
        #expect(again.answers(to: "c1-b").map(\.result) == [bytes("r3"), bytes("r4"), bytes("r5"), bytes("r6")])
        #expect(h.core.counters.answered == 6)
    }

    @Test("§4.6 answer-to sends the ANSWER to the named controller, not the sender; §4.9 DISPATCH carries it")
    func answerToOtherController() {
        var h = Harness()
        h.controllerHello("c1")
        h.controllerHello("c2")
        h.invokerHello("i1", memoryMB: 4096, slots: 4)

        let a1 = h.activate("a1", from: "c1", answerTo: "c2")
        #expect(a1.dispatches.first?.header.answerTo == "c2")
        let done = h.complete("a1", on: "i1", result: bytes("r1"))
        #expect(done.answers(to: "c2").map(\.activationID) == ["a1"])
        #expect(done.answers(to: "c1").isEmpty)

        // Empty answer-to: the DISPATCH names the sender; header and payload otherwise unchanged.
        let a2 = h.activate("a2", from: "c1", payload: bytes("{\"x\":[1,2]}"))
        let expected = RoutingHeader(activationID: "a2", namespace: "guest", action: "guest/echo", revision: "1-abc",
                                     memoryMB: 256, timeLimitMilliseconds: 60_000, answerTo: "c1")
        #expect(a2.dispatches.first?.header == expected)
        #expect(a2.dispatches.first?.payload == bytes("{\"x\":[1,2]}"))

        // answer-to naming a controller that has not said HELLO yet: kept until it does.
        h.activate("a3", from: "c1", answerTo: "c3")
        #expect(h.complete("a3", on: "i1").answers.isEmpty)
        let c3 = h.controllerHello("c3")
        #expect(c3.answers(to: "c3").map(\.activationID) == ["a3"])
    }

    @Test("§6.3/§4.10 RESULT then COMPLETION: one answer (the RESULT's); the slot is freed only at COMPLETION")
    func resultThenCompletion() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 1)
        h.activate("a1")
        #expect(h.activate("a2").dispatches.isEmpty)

        let result = h.result("a1", on: "i1", bytes("{\"error\":\"boom\"}"), outcome: .applicationError)
        #expect(result.answers(to: "c1").map(\.activationID) == ["a1"])
        #expect(result.answers.first?.kind == .applicationError)
        #expect(result.answers.first?.result == bytes("{\"error\":\"boom\"}"))
        #expect(result.answers.first?.header.invokerID == "i1")
        #expect(result.dispatches.isEmpty) // the slot stays busy

        let completion = h.complete("a1", on: "i1")
        #expect(completion.answers.isEmpty) // no second answer
        #expect(completion.placements == ["a2->i1"]) // now the slot is free

        // A combined COMPLETION after a RESULT does not answer again either.
        h.result("a2", on: "i1", bytes("first"))
        let combined = h.complete("a2", on: "i1", result: bytes("second"))
        #expect(combined.answers.isEmpty)
        #expect(h.log.answers(for: "a2").map(\.result) == [bytes("first")])
        #expect(h.core.counters.answered == 2)
    }

    @Test("§4.11 COMPLETION without a result and no RESULT before: success, empty result, 'completed without a result'")
    func completionWithoutResult() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 2)
        h.activate("a1")
        h.activate("a2")

        let bare = h.complete("a1", on: "i1")
        #expect(bare.answers.count == 1)
        let answer = bare.answers.first
        #expect(answer?.activationID == "a1")
        #expect(answer?.kind == .success)
        #expect(answer?.result == [])
        #expect(answer?.header.reason == "completed without a result")
        #expect(answer?.header.invokerID == "i1")

        // With the system-error bit: kind systemError, same reason.
        let sys = h.complete("a2", on: "i1", systemError: true)
        #expect(sys.answers.map(\.kind) == [.systemError])
        #expect(sys.answers.first?.header.reason == "completed without a result")
        #expect(sys.answers.first?.result == [])

        // The combined form answers with its own result and outcome.
        h.activate("a3")
        let combined = h.complete("a3", on: "i1", result: bytes("{\"ok\":1}"), outcome: .success)
        #expect(combined.answers.map(\.kind) == [.success])
        #expect(combined.answers.first?.result == bytes("{\"ok\":1}"))
    }

    @Test("§4.6 a duplicate activation id while waiting or in flight gets ERROR duplicateActivation; the original keeps its single answer")
    func duplicateActivation() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 1)
        h.activate("a1")

        let dup = h.activate("a1", payload: bytes("impostor"))
        #expect(dup.errors(to: "c1").map(\.code) == [.duplicateActivation])
        #expect(dup.errors.first?.activationID == "a1")
        #expect(dup.errors.first?.endpoint == .controller)
        #expect(dup.answers.isEmpty)
        #expect(dup.dispatches.isEmpty)

        #expect(h.activate("a2").dispatches.isEmpty) // waits
        let dupWaiting = h.activate("a2", payload: bytes("impostor"))
        #expect(dupWaiting.errors(to: "c1").map(\.code) == [.duplicateActivation])
        #expect(dupWaiting.answers.isEmpty)
        #expect(h.core.waitingCount == 1)

        let first = h.complete("a1", on: "i1", result: bytes("r1"))
        #expect(first.answers.map(\.activationID) == ["a1"])
        #expect(first.answers.first?.result == bytes("r1"))
        #expect(first.dispatches.map(\.payload) == [Harness.payload(for: "a2")]) // the original a2
        h.complete("a2", on: "i1")

        #expect(h.log.answers(for: "a1").count == 1)
        #expect(h.log.answers(for: "a2").count == 1)
        #expect(h.log.dispatchedIDs == ["a1", "a2"])
        #expect(h.core.counters.protocolErrors(.duplicateActivation) == 2)
    }

    @Test("§6.2 shutdown: waiting work and new ACTIVATEs are answered overloaded; in-flight completes; finish answers the rest timeout")
    func shutdown() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 2)
        for n in 1...4 { h.activate("a\(n)") }
        #expect(h.log.dispatchedIDs == ["a1", "a2"])

        let begin = h.handle(.beginShutdown)
        #expect(begin.answers(to: "c1").map(\.activationID) == ["a3", "a4"])
        #expect(begin.answers.allSatisfy { $0.kind == .overloaded && $0.result == [] })
        #expect(begin.dispatches.isEmpty)
        #expect(h.core.waitingCount == 0)

        let a5 = h.activate("a5")
        #expect(a5.answers.map(\.activationID) == ["a5"])
        #expect(a5.answers.first?.kind == .overloaded)
        #expect(a5.dispatches.isEmpty)

        let done = h.complete("a1", on: "i1", result: bytes("r1"))
        #expect(done.answers.map(\.kind) == [.success])
        #expect(done.answers.first?.result == bytes("r1"))
        #expect(done.dispatches.isEmpty)

        let finish = h.handle(.finishShutdown)
        #expect(finish.answers.map(\.activationID) == ["a2"])
        #expect(finish.answers.first?.kind == .timeout)
        #expect(h.core.inFlightCount == 0)

        for n in 1...5 { #expect(h.log.answers(for: "a\(n)").count == 1, "a\(n)") }
        #expect(h.complete("a2", on: "i1").answers.isEmpty)
    }
}

@Suite("Parked answers are bounded (§6.4, issue 13 item 7)")
struct ParkedAnswerBoundTests {
    @Test("answers for absent controllers are bounded in total, not only per controller: any answer-to can be named")
    func totalBound() {
        var configuration = BrokerConfiguration()
        configuration.maxParkedAnswers = 5
        var h = Harness(configuration: configuration)
        h.controllerHello("c1")
        h.invokerHello("i1", slots: 16)
        for n in 0..<8 { h.activate("a\(n)", answerTo: "absent\(n)") }
        for n in 0..<8 { h.complete("a\(n)", on: "i1", result: bytes("r")) }
        #expect(h.core.parkedAnswerCount == 5)
        #expect(h.core.counters.answersParked == 5)
        #expect(h.core.counters.answersDropped == 3)
        // The kept ones still reach their controllers, once.
        #expect(h.controllerHello("absent0").answers(to: "absent0").map(\.activationID) == ["a0"])
        #expect(h.core.parkedAnswerCount == 4)
    }

    @Test("result bytes kept for absent controllers are bounded")
    func byteBound() {
        var configuration = BrokerConfiguration()
        configuration.maxParkedAnswerBytes = 1000
        var h = Harness(configuration: configuration)
        h.controllerHello("c1")
        h.invokerHello("i1", slots: 16)
        for n in 0..<3 { h.activate("b\(n)", answerTo: "away") }
        for n in 0..<3 { h.complete("b\(n)", on: "i1", result: [UInt8](repeating: 1, count: 400)) }
        #expect(h.core.parkedAnswerCount == 2, "two of 400 bytes fit in 1000, the third does not")
        #expect(h.core.counters.answersDropped == 1)
    }

    @Test("a controller entry made for an answer-to id is forgotten once its answers expire")
    func idleEntriesAreRemoved() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", slots: 64)
        for n in 0..<50 { h.activate("e\(n)", answerTo: "ghost\(n)") }
        for n in 0..<50 { h.complete("e\(n)", on: "i1", result: bytes("r")) }
        #expect(h.core.knownControllerCount == 51)
        h.advance(by: .seconds(301))
        #expect(h.core.parkedAnswerCount == 0)
        #expect(h.core.counters.answersDropped == 50)
        // Before the fix every ghost kept an entry for the life of the broker.
        #expect(h.core.knownControllerCount == 1, "only the connected controller is kept")
    }

    @Test("a peer cycling through controller ids on one connection leaves nothing behind")
    func helloCyclingLeavesNothing() {
        var h = Harness()
        for n in 0..<100 { h.controllerHello("cycle\(n)", connection: "one") }
        #expect(h.core.knownControllerCount == 1)
        #expect(h.core.connectedControllerCount == 1)
    }

    @Test("parking and expiry keep answers in order; expiry drops only the oldest")
    func partialExpiry() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", slots: 8)
        h.activate("p0", answerTo: "later")
        h.complete("p0", on: "i1", result: bytes("0"))
        h.advance(by: .seconds(200))
        h.activate("p1", answerTo: "later")
        h.activate("p2", answerTo: "later")
        h.complete("p1", on: "i1", result: bytes("1"))
        h.complete("p2", on: "i1", result: bytes("2"))
        h.advance(by: .seconds(110))
        #expect(h.core.parkedAnswerCount == 2, "p0 expired after 300 s; p1 and p2 are younger")
        #expect(h.controllerHello("later").answers(to: "later").map(\.activationID) == ["p1", "p2"])
    }
}

@Suite("A reused activation id never takes another run's result (§4.6, issue 13 item 9)")
struct ReusedIDTests {
    @Test("after a timeout, the same id is answered rejected, and the first run's late RESULT answers nothing")
    func reuseAfterTimeout() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", slots: 4)
        h.activate("x", timeLimitMilliseconds: 1_000)
        let timedOut = h.advance(by: .seconds(200))
        #expect(timedOut.answers.map(\.kind) == [.timeout])
        let again = h.activate("x", timeLimitMilliseconds: 1_000)
        #expect(again.dispatches.isEmpty, "before the fix the second x went to i1, still running the first")
        #expect(again.answers.map(\.kind) == [.rejected])
        let late = h.result("x", on: "i1", bytes("first run"))
        #expect(late.answers.isEmpty, "the first run's result answers nothing")
        #expect(h.core.counters.lateCompletions == 1)
        #expect(h.log.answers(for: "x").map(\.kind) == [.timeout, .rejected])
    }

    @Test("after an invoker is lost, the same id is answered rejected, even when the invoker returns")
    func reuseAfterInvokerLost() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", slots: 4)
        h.activate("y")
        h.invokerGoodbye("i1")
        #expect(h.log.answers(for: "y").map(\.kind) == [.invokerLost])
        h.invokerHello("i1", slots: 4)
        #expect(h.activate("y").answers.map(\.kind) == [.rejected])
        #expect(h.complete("y", on: "i1", result: bytes("old")).answers.isEmpty)
    }
}
