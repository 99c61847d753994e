import SluicePluginAPI
import SluiceProtocol
import Testing
@testable import SluiceCore

/// docs/PROTOCOL.md §6.1: fairness, bounds, wait limits, namespace limits, and the overflow
/// journal the shell writes to an overflow store.
@Suite("Waiting queue")
struct WaitingQueueTests {
    @discardableResult
    func submit(_ h: inout Harness, _ id: String, namespace: String = "guest", action: String? = nil,
                maxWait: UInt32 = 0, from controller: String = "c1") -> Observed {
        h.receive(.controller, from: controller, .activate(RoutingHeader(
            activationID: id, namespace: namespace, action: action ?? "\(namespace)/act", memoryMB: 128,
            maxWaitMilliseconds: maxWait)), opaque: Harness.payload(for: id))
    }

    @Test("§6.1 a flood from one namespace delays another by at most one activation per turn")
    func namespacesTakeTurns() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 1)
        for n in 0..<20 { submit(&h, "flood\(n)", namespace: "flood") }
        submit(&h, "quiet0", namespace: "quiet")
        #expect(h.log.dispatchedIDs == ["flood0"])
        // First free slot: the turn order is flood, quiet (flood was first to wait).
        #expect(h.complete("flood0", on: "i1").dispatchedIDs == ["flood1"])
        // Next free slot: quiet's turn, not the 18 flood activations still waiting.
        #expect(h.complete("flood1", on: "i1").dispatchedIDs == ["quiet0"])
        #expect(h.complete("quiet0", on: "i1").dispatchedIDs == ["flood2"])
    }

    @Test("§6.1 within a namespace the oldest activation goes first")
    func fifoWithinNamespace() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 1)
        for n in 0..<4 { submit(&h, "a\(n)") }
        var order: [String] = ["a0"]
        for n in 0..<3 { order += h.complete(order[n], on: "i1").dispatchedIDs }
        #expect(order == ["a0", "a1", "a2", "a3"])
    }

    @Test("§6.1 the per-action cap answers throttled; other actions still wait")
    func perActionCap() {
        var configuration = BrokerConfiguration()
        configuration.maxWaitingPerAction = 2
        var h = Harness(configuration: configuration)
        h.controllerHello("c1")
        for n in 0..<2 { #expect(submit(&h, "hot\(n)", action: "guest/hot").answers.isEmpty) }
        let third = submit(&h, "hot2", action: "guest/hot")
        #expect(third.answers.map(\.kind) == [.throttled])
        #expect(third.answers.first?.header.reason.contains("guest/hot") == true)
        #expect(submit(&h, "cold0", action: "guest/cold").answers.isEmpty)
        #expect(h.core.waitingCount == 3)
    }

    @Test("§6.1 a namespace's waiting share answers throttled; the global bound answers overloaded")
    func namespaceShareAndGlobalBound() {
        var configuration = BrokerConfiguration()
        configuration.maxWaitingPerNamespace = 2
        configuration.maxWaiting = 3
        var h = Harness(configuration: configuration)
        h.controllerHello("c1")
        submit(&h, "a0", namespace: "a")
        submit(&h, "a1", namespace: "a")
        #expect(submit(&h, "a2", namespace: "a").answers.map(\.kind) == [.throttled])
        #expect(submit(&h, "b0", namespace: "b").answers.isEmpty)
        #expect(submit(&h, "c0", namespace: "c").answers.map(\.kind) == [.overloaded])
    }

    @Test("§6.1 max-wait-ms shortens one activation's wait; others keep the broker's limit")
    func perActivationWaitLimit() {
        var h = Harness()
        h.controllerHello("c1")
        submit(&h, "short", maxWait: 2_000)
        submit(&h, "long")
        #expect(h.advance(by: .seconds(1.5)).answers.isEmpty)
        let expired = h.advance(by: .seconds(1))
        #expect(expired.answers.map(\.activationID) == ["short"])
        #expect(expired.answers.first?.kind == .expired)
        #expect(h.core.waitingCount == 1)
        // A request for more than the broker's limit gets the broker's limit.
        submit(&h, "greedy", maxWait: 3_600_000)
        let later = h.advance(by: .seconds(61))
        #expect(Set(later.answers.map(\.activationID)) == ["long", "greedy"])
    }

    @Test("§6.1 a namespace limit caps in-flight work cluster-wide: the excess waits, other namespaces are not held up")
    func namespaceConcurrencyLimit() {
        var configuration = BrokerConfiguration()
        configuration.namespaceConcurrencyLimits = ["capped": 2]
        var h = Harness(configuration: configuration)
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 8192, slots: 10)
        h.invokerHello("i2", memoryMB: 8192, slots: 10)
        for n in 0..<5 { submit(&h, "capped\(n)", namespace: "capped") }
        #expect(h.log.dispatchedIDs.filter { $0.hasPrefix("capped") }.count == 2)
        #expect(submit(&h, "free0", namespace: "free").dispatchedIDs == ["free0"])
        let done = h.complete("capped0", on: h.log.dispatches.first { $0.activationID == "capped0" }!.route)
        #expect(done.dispatchedIDs == ["capped2"])
        #expect(h.core.waitingCount == 2)
    }

    @Test("§6 persist only the overflow: work placed at once is never journaled; waiting work is, and is consumed before its DISPATCH")
    func journalOnlyTheExcess() throws {
        var configuration = BrokerConfiguration()
        configuration.persistOverflow = true
        var h = Harness(configuration: configuration)
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 1)
        let direct = submit(&h, "direct")
        #expect(direct.dispatchedIDs == ["direct"])
        #expect(!direct.actions.contains { if case .overflowAppend = $0 { true } else { false } })
        let waits = submit(&h, "waits")
        #expect(waits.actions.contains { if case .overflowAppend(let header, _, _) = $0 { header.activationID == "waits" } else { false } })
        let freed = h.complete("direct", on: "i1")
        let consumeIndex = try #require(freed.actions.firstIndex { if case .overflowConsume("waits") = $0 { true } else { false } })
        let dispatchIndex = try #require(freed.actions.firstIndex { if case .send(_, _, .dispatch, _) = $0 { true } else { false } })
        #expect(consumeIndex < dispatchIndex, "the consume mark is written before the DISPATCH leaves")
    }

    @Test("§6 recovered overflow is dispatched in order when invokers come; answers wait for their controller")
    func recoveryAfterRestart() {
        var configuration = BrokerConfiguration()
        configuration.persistOverflow = true
        var h = Harness(configuration: configuration)
        let recovered = h.handle(Harness.recovered(["r0", "r1", "r2"], for: "gone", waited: .seconds(5)))
        #expect(recovered.dispatches.isEmpty)
        #expect(!recovered.actions.contains { if case .overflowAppend = $0 { true } else { false } }, "already in the store")
        #expect(h.core.counters.overflowRecovered == 3)
        h.invokerHello("i1", memoryMB: 4096, slots: 1)
        #expect(h.log.dispatchedIDs == ["r0"])
        h.complete("r0", on: "i1")
        #expect(h.log.dispatchedIDs == ["r0", "r1"])
        // The controller comes back with the same id: the answer kept for it arrives.
        let hello = h.controllerHello("gone")
        #expect(hello.answers(to: "gone").map(\.activationID) == ["r0"])
        // What waited 5 s before the restart expires 55 s after it, not 60 s.
        let expiry = h.advance(by: .seconds(56))
        #expect(expiry.answers.map(\.activationID).contains("r2"))
    }
}

@Suite("Overflow store failures")
struct OverflowFailureTests {
    @Test("ARCHITECTURE Overflow rule 3: a held DISPATCH withheld because the store broke is not answered, and its slot goes to the next")
    func withheldDispatch() {
        var configuration = BrokerConfiguration()
        configuration.persistOverflow = true
        var h = Harness(configuration: configuration)
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 1)
        h.activate("a1")
        h.activate("a2")
        h.activate("a3")
        h.activate("a4")
        #expect(h.log.dispatchedIDs == ["a1"])
        #expect(h.complete("a1", on: "i1").dispatchedIDs == ["a2"])
        // The shell held a2's DISPATCH for its consume mark, and the store broke: a2 and a3
        // (still journaled, waiting) stay in the store for the next run.
        let withheld = h.handle(.overflowWithheld(activationIDs: ["a2", "a3"], reason: "overflow store broken"))
        #expect(withheld.answers.isEmpty, "a withheld activation is answered by the next run, never by this one")
        #expect(withheld.dispatchedIDs == ["a4"], "the slot a2 held goes to the next waiting activation; a3 is gone")
        #expect(h.core.counters.overflowWithheld == 2)
        #expect(h.core.waitingCount == 0)
        #expect(h.log.answers(for: "a2").isEmpty && h.log.answers(for: "a3").isEmpty)
    }

    @Test("ARCHITECTURE Overflow rule 3: an answer kept for an absent controller is withdrawn when its activation is withheld")
    func withheldParkedAnswer() {
        var configuration = BrokerConfiguration()
        configuration.persistOverflow = true
        configuration.maxWaitingAge = .seconds(2)
        var h = Harness(configuration: configuration)
        h.controllerHello("c1")
        h.controllerHello("away")
        h.activate("x", from: "c1", answerTo: "away")
        h.controllerGoodbye("away")
        // x expires while its controller is away: the answer is kept (and its consume mark
        // would be synced at the end of the turn).
        h.advance(by: .seconds(3))
        #expect(h.core.parkedAnswerCount == 1)
        // The sync failed: the store broke and x is withheld. Its kept answer must go too, or
        // the next run would recover x and answer it a second time.
        h.handle(.overflowWithheld(activationIDs: ["x"], reason: "overflow store broken"))
        #expect(h.core.parkedAnswerCount == 0)
        #expect(h.controllerHello("away").answers(to: "away").isEmpty, "before the fix: expired, then a second answer next run")
        // And the id is not taken again in this run.
        #expect(h.activate("x", from: "c1").answers.map(\.kind) == [.rejected])
    }

    @Test("ARCHITECTURE Overflow rule 4: a recovered record the store cannot vouch for is answered systemError, consumed, never dispatched")
    func uncertainRecovery() {
        var configuration = BrokerConfiguration()
        configuration.persistOverflow = true
        var h = Harness(configuration: configuration)
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 4)
        let header = RoutingHeader(activationID: "u1", namespace: "guest", action: "guest/a", answerTo: "c1")
        let actions = h.handle(.recoveredUncertain([header], reason: "overflow store damaged"))
        #expect(actions.answers.map(\.activationID) == ["u1"])
        #expect(actions.answers.first?.kind == .systemError)
        #expect(actions.dispatchedIDs.isEmpty)
        let consumed = actions.actions.compactMap { action -> String? in
            if case .overflowConsume(let id) = action { return id }
            return nil
        }
        #expect(consumed == ["u1"], "consumed (so the shell holds the answer until the mark is synced)")
        #expect(h.core.counters.overflowUncertain == 1)
    }

    @Test("§1 a dispatchFailed for a route that no longer holds the activation is ignored")
    func staleDispatchFailure() throws {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 2)
        h.invokerHello("i2", memoryMB: 4096, slots: 2)
        let sent = try #require(h.activate("a1").dispatches.first)
        let other = sent.route == "i1" ? "i2" : "i1"
        let stale = h.handle(.dispatchFailed(route(other), sent.header, payload: sent.payload, unreachable: true))
        #expect(stale.dispatches.isEmpty && stale.answers.isEmpty)
        #expect(h.core.invokerCount == 2, "no invoker was dropped for someone else's failure")
        #expect(h.core.counters.dispatchRetries == 0)
    }
}

@Suite("Placement batched per loop turn (BrokerConfiguration.batchesPlacement)")
struct BatchedPlacementTests {
    func harness() -> Harness {
        var configuration = BrokerConfiguration()
        configuration.batchesPlacement = true
        var h = Harness(configuration: configuration)
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 2)
        return h
    }

    @Test("completions in a batch free their slots; the waiting work is placed once, at the end of the batch, oldest first")
    func placedAtEndOfBatch() {
        var h = harness()
        for id in ["a1", "a2", "w1", "w2", "w3"] { h.activate(id) }
        #expect(h.core.waitingCount == 3)
        #expect(h.complete("a1", on: "i1", result: bytes("r")).dispatches.isEmpty, "deferred to the end of the batch")
        #expect(h.complete("a2", on: "i1", result: bytes("r")).dispatches.isEmpty)
        #expect(h.handle(.endOfBatch).placements == ["w1->i1", "w2->i1"], "one pass, oldest first")
        #expect(h.handle(.endOfBatch).placements.isEmpty, "nothing pending any more")
    }

    @Test("a freed slot still goes to waiting work before an activation that arrives later in the same batch")
    func waitingBeforeNewcomer() {
        var h = harness()
        for id in ["a1", "a2", "w1"] { h.activate(id) }
        h.complete("a1", on: "i1", result: bytes("r"))
        let newcomer = h.activate("new")
        #expect(newcomer.placements == ["w1->i1"], "the waiting one takes the slot; the newcomer waits")
        #expect(h.core.waitingCount == 1)
    }

    @Test("a tick places what a batch left pending, after expiring what waited too long")
    func tickFlushes() {
        var h = harness()
        for id in ["a1", "a2", "w1"] { h.activate(id) }
        h.complete("a1", on: "i1", result: bytes("r"))
        #expect(h.advance(by: .milliseconds(100)).placements == ["w1->i1"])
    }

    @Test("the queue's lanes: removal from the middle, work sent back to the front, expiry, and a namespace that leaves and returns")
    func lanes() {
        typealias Queue = WaitingQueue<[UInt8]>
        func item(_ id: String, _ namespace: String, deadline: Int64 = 60_000) -> Queue.Item {
            Queue.Item(header: RoutingHeader(activationID: id, namespace: namespace, action: "\(namespace)/act", memoryMB: 128),
                       payload: Array(id.utf8), enqueuedAt: .zero, deadline: Timestamp(nanoseconds: UInt64(deadline) * 1_000_000))
        }
        func ids(_ items: [Queue.Item]) -> [String] { items.map(\.header.activationID) }
        var queue = Queue(start: .zero)
        queue.add(item("a1", "a", deadline: 1_000))
        queue.add(item("a2", "a"))
        queue.add(item("a3", "a", deadline: 1_000))
        queue.add(item("b1", "b"))
        #expect(queue.remove("a2")?.header.activationID == "a2")
        #expect(queue.remove("a2") == nil)
        // A DISPATCH that could not be sent goes back in front of its namespace's work.
        queue.add(item("a0", "a"), atFront: true)
        #expect(ids(queue.orderedItems) == ["a0", "a1", "a3", "b1"])
        #expect(queue.count == 4 && queue.waiting(namespace: "a") == 3 && queue.waiting(action: "a/act") == 3)
        #expect(queue.bytes == 8)

        var turn: [Int] = []
        queue.lanesInTurn(into: &turn)
        #expect(turn.map(queue.namespace(of:)) == ["a", "b"])
        var scanned: [String] = []
        var after: Int64?
        while let (next, token) = queue.item(in: turn[0], after: after) {
            scanned.append(next.header.activationID)
            after = token
        }
        #expect(scanned == ["a0", "a1", "a3"])

        // Wait limits: a1 and a3 pass theirs; a0 and b1 do not.
        #expect(Set(ids(queue.expired(at: Timestamp(nanoseconds: 2_000_000_000)))) == ["a1", "a3"])
        #expect(ids(queue.orderedItems) == ["a0", "b1"])
        #expect(queue.remove("a0") != nil)
        queue.lanesInTurn(into: &turn)
        #expect(turn.map(queue.namespace(of:)) == ["b"])
        #expect(queue.waiting(namespace: "a") == 0 && queue.waiting(action: "a/act") == 0)

        // The namespace comes back (its old lane may be reused): behind b in turn order.
        queue.add(item("a4", "a"))
        queue.lanesInTurn(into: &turn)
        #expect(turn.map(queue.namespace(of:)) == ["b", "a"])
        #expect(ids(queue.orderedItems) == ["b1", "a4"])
        #expect(queue.perNamespace == ["a": 1, "b": 1])
        #expect(queue.remove("b1") != nil && queue.remove("a4") != nil)
        #expect(queue.isEmpty && queue.bytes == 0 && queue.perAction.isEmpty)
    }
}
