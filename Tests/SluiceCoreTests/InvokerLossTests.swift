import Testing
import SluiceCore
import SluicePluginAPI
import SluiceProtocol

// Losing invokers: docs/PROTOCOL.md §3.3 (reconnect), §4.4 (GOODBYE), §5 (liveness),
// §6.2 (`invokerLost`), §1 (at-most-once delivery).

@Suite("Invoker loss (§3.3, §4.4, §5)")
struct InvokerLossTests {
    @Test("§5 a dead invoker's in-flight work is answered invokerLost at once and never redelivered; its waiting work goes to the survivor")
    func deadInvoker() throws {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 2)
        h.invokerHello("i2", memoryMB: 4096, slots: 1)

        for n in 1...3 { h.activate("a\(n)") }
        #expect(h.log.placements == ["a1->i1", "a2->i2", "a3->i1"])
        let a4 = h.activate("a4")
        #expect(a4.dispatches.isEmpty) // everyone is full: a4 waits

        // i1 falls silent; c1 and i2 keep sending heartbeats.
        h.stopHeartbeats("i1")
        #expect(h.advance(toSeconds: 2.5).answers.isEmpty)

        // Past heartbeat interval * liveness (3 s): one tick answers all of i1's work.
        let death = h.advance(toSeconds: 3.5)
        #expect(death.answers.count == 2)
        #expect(Set(death.answers.map(\.activationID)) == ["a1", "a3"])
        for answer in death.answers {
            #expect(answer.route == "c1")
            #expect(answer.kind == .invokerLost)
            #expect(answer.header.invokerID == "i1")
            #expect(answer.result == [])
        }
        #expect(death.dispatches.isEmpty) // nothing is redelivered
        #expect(h.core.invoker("i1") == nil)
        #expect(h.core.counters.invokersLost == 1)

        // The waiting activation is unaffected and goes to i2 when it frees up.
        let freed = h.complete("a2", on: "i2")
        #expect(freed.answers.map(\.activationID) == ["a2"])
        #expect(freed.placements == ["a4->i2"])

        // Much later, nothing more happens to a1 or a3.
        #expect(h.advance(toSeconds: 30).answers.isEmpty)
        #expect(h.log.dispatchedIDs.filter { $0 == "a1" || $0 == "a3" }.count == 2)
        #expect(h.log.answers(for: "a1").count == 1)
        #expect(h.log.answers(for: "a3").count == 1)

        // The dead connection finishing a1 has no session any more.
        let late = h.complete("a1", on: "i1", result: bytes("late"))
        #expect(late.errors(to: "i1").map(\.code) == [.notRegistered])
        #expect(late.answers.isEmpty)
    }

    @Test("§4.4 an invoker's GOODBYE answers its unfinished activations invokerLost")
    func invokerGoodbye() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 2)
        h.activate("a1")
        h.activate("a2")
        h.activate("a3") // waits

        let bye = h.invokerGoodbye("i1")
        #expect(Set(bye.answers.map(\.activationID)) == ["a1", "a2"])
        #expect(bye.answers.allSatisfy { $0.kind == .invokerLost })
        #expect(bye.dispatches.isEmpty)
        #expect(h.core.waitingCount == 1) // waiting work stays for other invokers

        let newcomer = h.invokerHello("i2", memoryMB: 4096, slots: 2)
        #expect(newcomer.placements == ["a3->i2"])
    }

    @Test("§3.3 an invoker's HELLO from a new connection answers the old connection's in-flight work invokerLost first")
    func invokerReconnect() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 2, connection: "i1-a")
        h.activate("a1")
        h.activate("a2")
        #expect(h.log.placements == ["a1->i1-a", "a2->i1-a"])

        let reconnect = h.invokerHello("i1", memoryMB: 4096, slots: 2, connection: "i1-b")
        #expect(reconnect.answers.count == 2)
        #expect(Set(reconnect.answers.map(\.activationID)) == ["a1", "a2"])
        #expect(reconnect.answers.allSatisfy { $0.kind == .invokerLost && $0.route == "c1" })
        #expect(reconnect.welcomes(to: "i1-b").count == 1)
        let firstAnswer = reconnect.indexOfSend(to: "c1") { if case .answer = $0 { true } else { false } }
        let welcome = reconnect.indexOfSend(to: "i1-b") { if case .welcome = $0 { true } else { false } }
        if let firstAnswer, let welcome { #expect(firstAnswer < welcome) }
        #expect(reconnect.dispatches.isEmpty) // never redelivered, not even to the new connection

        // New work goes to the new connection.
        #expect(h.activate("a3").placements == ["a3->i1-b"])

        // The restarted invoker reports a1 after all: counted, ERROR, no second answer.
        let late = h.complete("a1", on: "i1")
        #expect(late.errors(to: "i1-b").map(\.code) == [.unknownActivation])
        #expect(late.answers.isEmpty)
        #expect(h.core.counters.lateCompletions == 1)

        // The old connection has no session any more.
        let old = h.complete("a2", on: "i1", connection: "i1-a")
        #expect(old.errors(to: "i1-a").map(\.code) == [.notRegistered])
        #expect(old.answers.isEmpty)
        #expect(h.log.answers(for: "a1").count == 1)
        #expect(h.log.answers(for: "a2").count == 1)
    }

    @Test("§1/§5 dispatchFailed (unreachable): the activation goes to another invoker exactly once; the lost invoker's other work is answered invokerLost")
    func dispatchFailedUnreachable() throws {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 2)
        h.invokerHello("i2", memoryMB: 4096, slots: 2)
        for n in 1...3 { h.activate("a\(n)") }
        #expect(h.log.placements == ["a1->i1", "a2->i2", "a3->i1"])
        let sent = try #require(h.log.dispatches.last)
        #expect(sent.activationID == "a3")

        // The shell could not hand a3 to i1: its connection is gone.
        h.stopHeartbeats("i1")
        let failed = h.handle(.dispatchFailed(route("i1"), sent.header, payload: sent.payload, unreachable: true))
        #expect(failed.placements == ["a3->i2"])
        #expect(failed.dispatches.first?.payload == Harness.payload(for: "a3"))
        #expect(failed.answers.map(\.activationID) == ["a1"])
        #expect(failed.answers.first?.kind == .invokerLost)
        #expect(h.core.counters.dispatchRetries == 1)
        #expect(h.core.counters.invokersLost == 1)
        #expect(h.core.counters.dispatched == 4, "DISPATCHes handed to the shell; the failed one is also a retry")

        let done = h.complete("a3", on: "i2", result: bytes("r3"))
        #expect(done.answers.map(\.kind) == [.success])
        #expect(done.answers.first?.result == bytes("r3"))
        #expect(h.log.answers(for: "a3").count == 1)
        // Exactly one DISPATCH of a3 reached a live invoker.
        #expect(h.log.dispatches.filter { $0.activationID == "a3" && $0.route != "i1" }.count == 1)
    }
}

@Suite("Dispatch to a full pipe")
struct FullPipeTests {
    @Test("§1 dispatchFailed with a full pipe: the work goes to another invoker once, and the stalled invoker gets no more")
    func dispatchFailedFullPipe() throws {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 4)
        h.invokerHello("i2", memoryMB: 4096, slots: 4)
        #expect(h.activate("a1").placements == ["a1->i1"])
        let sent = try #require(h.activate("a2").dispatches.first)
        #expect(sent.route == "i2")
        let failed = h.handle(.dispatchFailed(route("i2"), sent.header, payload: sent.payload, unreachable: false))
        #expect(failed.placements == ["a2->i1"])
        #expect(h.core.invoker("i2") == nil, "an invoker that stopped reading is not offered work again")
        #expect(h.core.counters.dispatched == 3, "DISPATCHes handed to the shell; the failed one is also a retry")
        #expect(h.core.counters.dispatchRetries == 1)
        // No answer yet: a2 was never handed over, so it is not lost.
        #expect(failed.answers.isEmpty)
    }
}

@Suite("Heartbeats to peers (§4.3)")
struct HeartbeatSpreadTests {
    @Test("100 invokers that register together get their heartbeats spread over the interval, each exactly one per interval")
    func spread() {
        var h = Harness()
        h.controllerHello("c1")
        for n in 0..<100 { h.invokerHello("inv-\(n)") }
        var perTick: [Int] = []
        var perInvoker: [String: Int] = [:]
        for _ in 0..<30 {
            let observed = h.advance(by: .milliseconds(100), step: .milliseconds(100))
            let beats = observed.actions.compactMap { action -> String? in
                if case .send(.invoker, let route, .heartbeat, _) = action { return routeName(route) }
                return nil
            }
            perTick.append(beats.count)
            for route in beats { perInvoker[route, default: 0] += 1 }
        }
        // 3 s of ticks every 100 ms: each invoker gets 3 heartbeats (one per second).
        #expect(perInvoker.count == 100)
        #expect(perInvoker.values.allSatisfy { $0 == 3 }, "\(perInvoker.values.sorted())")
        // Spread: no tick carries more than a third of them (they were all due at once before).
        #expect(perTick.max() ?? 0 <= 34, "heartbeats per 100 ms tick: \(perTick)")
    }
}
