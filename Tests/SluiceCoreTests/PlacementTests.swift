import Testing
import SluiceCore
import SluicePluginAPI
import SluiceProtocol

// Placement, credit and late binding: docs/PROTOCOL.md §4.1, §4.6, §4.8, §6.1.

@Suite("Placement and late binding (§4.1, §6.1)")
struct PlacementTests {
    @Test("§4.1/§6.1 an invoker never has more activations in flight than its slots")
    func placementRespectsSlots() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 2)

        var outstanding = 0
        var maxOutstanding = 0
        func track(_ observed: Observed, completed: Int = 0) {
            outstanding += observed.dispatches(to: "i1").count - completed
            maxOutstanding = max(maxOutstanding, outstanding)
        }

        for n in 1...5 { track(h.activate("a\(n)")) }
        #expect(h.log.dispatchedIDs(to: "i1") == ["a1", "a2"])
        #expect(h.core.waitingCount == 3)
        #expect(maxOutstanding == 2)

        // Each COMPLETION frees exactly one slot: exactly one more DISPATCH.
        let afterFirst = h.complete("a1", on: "i1")
        track(afterFirst, completed: 1)
        #expect(afterFirst.dispatchedIDs == ["a3"])
        for id in ["a2", "a3", "a4"] { track(h.complete(id, on: "i1"), completed: 1) }
        #expect(h.log.dispatchedIDs(to: "i1") == ["a1", "a2", "a3", "a4", "a5"])
        #expect(maxOutstanding == 2)
        #expect(h.core.invoker("i1")?.inFlight == 1)
    }

    @Test("§4.1/§6.1 an invoker never has more memory in flight than its memory-mb")
    func placementRespectsMemory() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 512, slots: 10)

        for n in 1...5 { h.activate("a\(n)", memoryMB: 256) }
        // 2 x 256 MB fill 512 MB even though 8 slots are free.
        #expect(h.log.dispatchedIDs(to: "i1") == ["a1", "a2"])
        #expect(h.core.waitingCount == 3)
        #expect(h.log.answers.isEmpty)

        let freed = h.complete("a1", on: "i1")
        #expect(freed.dispatchedIDs == ["a3"])
        #expect(h.core.invoker("i1")?.freeMemoryMB == 0)
        #expect(h.core.invoker("i1")?.inFlight == 2)
    }

    @Test("§6.1 least-loaded placement balances work over two invokers")
    func leastLoadedBalances() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 4)
        h.invokerHello("i2", memoryMB: 4096, slots: 4)

        for n in 1...4 { h.activate("a\(n)") }
        // Equal load alternates (ties go to the smaller id).
        #expect(h.log.placements == ["a1->i1", "a2->i2", "a3->i1", "a4->i2"])

        // i1 empties: it is now the least loaded one and gets the next two.
        h.complete("a1", on: "i1")
        h.complete("a3", on: "i1")
        let next = [h.activate("a5"), h.activate("a6")]
        #expect(next.flatMap(\.placements) == ["a5->i1", "a6->i1"])
        #expect(h.core.invoker("i1")?.inFlight == 2)
        #expect(h.core.invoker("i2")?.inFlight == 2)
    }

    @Test("§6.1 load is relative to slots: a larger invoker takes proportionally more")
    func leastLoadedIsRelativeToSlots() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 2)
        h.invokerHello("i2", memoryMB: 4096, slots: 4)

        for n in 1...3 { h.activate("a\(n)") }
        // a1: both idle, tie -> i1. a2: i1 at 1/2, i2 at 0/4 -> i2. a3: 1/2 vs 1/4 -> i2.
        #expect(h.log.placements == ["a1->i1", "a2->i2", "a3->i2"])
    }

    @Test("§6.1 late binding: waiting work goes, oldest first, to the first invoker that frees up")
    func lateBindingFIFO() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 1)
        h.invokerHello("i2", memoryMB: 4096, slots: 1)

        h.activate("a1")
        h.activate("a2")
        #expect(h.log.placements == ["a1->i1", "a2->i2"])

        // Everyone is full: no DISPATCH, no ANSWER; the work waits.
        var queued = Observed()
        for id in ["a3", "a4", "a5"] { queued += h.activate(id) }
        #expect(queued.dispatches.isEmpty)
        #expect(queued.answers.isEmpty)
        #expect(h.core.waitingCount == 3)

        // i2 frees up first: the oldest waiting activation goes to i2, with its payload unchanged.
        let fromI2 = h.complete("a2", on: "i2")
        #expect(fromI2.placements == ["a3->i2"])
        #expect(fromI2.dispatches.first?.payload == Harness.payload(for: "a3"))

        let fromI1 = h.complete("a1", on: "i1")
        #expect(fromI1.placements == ["a4->i1"])

        let again = h.complete("a4", on: "i1")
        #expect(again.placements == ["a5->i1"])
        #expect(h.core.waitingCount == 0)

        // Every activation answered once, nobody dispatched twice.
        #expect(h.log.dispatchedIDs == ["a1", "a2", "a3", "a4", "a5"])
    }

    @Test("§6.1 FIFO: the oldest waiting activation that fits goes first, a smaller one is not blocked by one that does not fit")
    func oldestThatFitsGoesFirst() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 1024, slots: 4)

        h.activate("big1", memoryMB: 768)
        #expect(h.log.dispatchedIDs == ["big1"])
        // 768 + 512 > 1024: big2 waits.
        let big2 = h.activate("big2", memoryMB: 512)
        #expect(big2.dispatches.isEmpty)
        // 768 + 256 = 1024 and a slot is free: i1 has room, so small is bound now (§6.1).
        let small = h.activate("small", memoryMB: 256)
        #expect(small.placements == ["small->i1"])

        // big2 still goes first once it fits.
        h.complete("small", on: "i1")
        let freed = h.complete("big1", on: "i1")
        #expect(freed.placements == ["big2->i1"])
    }

    @Test("§6.1 the waiting queue is bounded: past maxWaiting an activation is answered overloaded at once")
    func waitingQueueBound() {
        var config = BrokerConfiguration()
        config.maxWaiting = 2
        var h = Harness(configuration: config)
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 1)

        h.activate("a1")
        let a2 = h.activate("a2")
        let a3 = h.activate("a3")
        #expect(a2.answers.isEmpty && a3.answers.isEmpty)
        #expect(h.core.waitingCount == 2)

        let a4 = h.activate("a4")
        #expect(a4.answers(to: "c1").map(\.activationID) == ["a4"])
        #expect(a4.answers.first?.kind == .overloaded)
        #expect(a4.answers.first?.result == [])
        #expect(a4.dispatches.isEmpty)
        #expect(h.core.waitingCount == 2)
        #expect(h.core.counters.answers(.overloaded) == 1)

        // The refused one is never dispatched later; the queued ones are, in order.
        h.complete("a1", on: "i1")
        h.complete("a2", on: "i1")
        #expect(h.log.dispatchedIDs == ["a1", "a2", "a3"])
    }

    @Test("§6.2 waiting work is answered expired after maxWaitingAge and never dispatched")
    func waitingAgeExpires() {
        var h = Harness() // maxWaitingAge defaults to 60 s
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 1)

        h.activate("a1", timeLimitMilliseconds: 60_000) // in flight; deadline 180 s
        h.activate("a2") // waits from t = 0
        h.advance(toSeconds: 30)
        h.activate("a3") // waits from t = 30 s

        #expect(h.advance(toSeconds: 59).answers.isEmpty)
        let first = h.advance(toSeconds: 61)
        #expect(first.answers(to: "c1").map(\.activationID) == ["a2"])
        #expect(first.answers.first?.kind == .expired)
        #expect(first.answers.first?.result == [])
        #expect(h.core.waitingCount == 1)

        #expect(h.advance(toSeconds: 89).answers.isEmpty)
        let second = h.advance(toSeconds: 91)
        #expect(second.answers.map(\.activationID) == ["a3"])
        #expect(second.answers.first?.kind == .expired)

        // The slot frees up later: nothing expired is dispatched.
        let freed = h.complete("a1", on: "i1")
        #expect(freed.dispatches.isEmpty)
        #expect(h.log.dispatchedIDs == ["a1"])
        #expect(h.core.counters.answers(.expired) == 2)
    }

    @Test("§4.6 target-invoker: only that invoker runs it, even while another is free")
    func targetInvokerOnly() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 1)
        h.invokerHello("i2", memoryMB: 4096, slots: 1)

        let a1 = h.activate("a1", targetInvoker: "i1")
        #expect(a1.placements == ["a1->i1"])
        #expect(a1.dispatches.first?.header.targetInvoker == "i1")

        // i1 is full and i2 is idle: a2 still waits for i1.
        let a2 = h.activate("a2", targetInvoker: "i1")
        #expect(a2.dispatches.isEmpty)
        #expect(a2.answers.isEmpty)

        // Untargeted work behind it is not held up: it goes to i2.
        let a3 = h.activate("a3")
        #expect(a3.placements == ["a3->i2"])

        let freed = h.complete("a1", on: "i1")
        #expect(freed.placements == ["a2->i1"])
        #expect(h.log.dispatches(to: "i2").map(\.activationID) == ["a3"])
    }

    @Test("§4.6 an unknown target-invoker or a memory size larger than every invoker is answered rejected")
    func unplaceableIsRejected() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 1)
        h.invokerHello("i2", memoryMB: 2048, slots: 1)

        let unknown = h.activate("a1", targetInvoker: "i9")
        #expect(unknown.answers(to: "c1").map(\.activationID) == ["a1"])
        #expect(unknown.answers.first?.kind == .rejected)
        #expect(unknown.answers.first?.header.reason.isEmpty == false)
        #expect(unknown.dispatches.isEmpty)

        let tooBig = h.activate("a2", memoryMB: 8192)
        #expect(tooBig.answers.map(\.kind) == [.rejected])
        #expect(tooBig.answers.first?.header.reason.isEmpty == false)
        #expect(tooBig.dispatches.isEmpty)

        let tooBigForTarget = h.activate("a3", memoryMB: 3072, targetInvoker: "i2")
        #expect(tooBigForTarget.answers.map(\.kind) == [.rejected])
        #expect(tooBigForTarget.dispatches.isEmpty)

        #expect(h.core.waitingCount == 0)
        #expect(h.core.counters.answers(.rejected) == 3)
    }

    @Test("§4.1 an invoker that says HELLO with 0/0 is registered drained: no work until CAPACITY raises it")
    func helloDrained() {
        var h = Harness()
        h.controllerHello("c1")
        #expect(h.invokerHello("i1", memoryMB: 0, slots: 0).dispatches.isEmpty)
        let waiting = h.activate("a1")
        #expect(waiting.dispatches.isEmpty)
        #expect(waiting.answers.isEmpty, "work waits for a drained invoker; it is not rejected")
        #expect(h.core.invoker("i1")?.draining == true)
        #expect(h.capacity("i1", memoryMB: 4096, slots: 2).placements == ["a1->i1"])
    }

    @Test("§4.8 CAPACITY 0 0 drains an invoker: no new work, in-flight work completes normally")
    func capacityZeroDrains() {
        var h = Harness()
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 2)
        h.invokerHello("i2", memoryMB: 4096, slots: 1)

        #expect(h.activate("a1").placements == ["a1->i1"])
        let drain = h.capacity("i1", memoryMB: 0, slots: 0)
        #expect(drain.answers.isEmpty) // nothing in flight is cancelled

        // i1 is idle-ish and least loaded, but draining: a2 goes to i2, a3 waits.
        #expect(h.activate("a2").placements == ["a2->i2"])
        let a3 = h.activate("a3")
        #expect(a3.dispatches.isEmpty)
        #expect(a3.answers.isEmpty)

        // a1 still completes normally and frees nothing that i1 may reuse.
        let done = h.complete("a1", on: "i1", result: bytes("{\"ok\":true}"))
        #expect(done.answers(to: "c1").map(\.kind) == [.success])
        #expect(done.answers.first?.result == bytes("{\"ok\":true}"))
        #expect(done.dispatches.isEmpty)

        // The waiting one goes to i2 once it frees up.
        #expect(h.complete("a2", on: "i2").placements == ["a3->i2"])

        // Capacity back: i1 gets work again.
        let a4 = h.activate("a4")
        #expect(a4.dispatches.isEmpty)
        #expect(h.capacity("i1", memoryMB: 4096, slots: 2).placements == ["a4->i1"])
    }

    @Test("RoutingStrategy contract: a strategy naming an ineligible invoker is logged and the work waits")
    func brokenStrategyContract() {
        var h = Harness(strategy: RogueStrategy())
        h.controllerHello("c1")
        h.invokerHello("i1", memoryMB: 4096, slots: 1)

        let observed = h.activate("a1")
        #expect(observed.dispatches.isEmpty)
        #expect(observed.answers.isEmpty)
        #expect(h.core.waitingCount == 1)
        #expect(observed.notices.contains(.strategyContractBroken(strategy: "rogue", invokerID: "nobody")))
    }
}

/// A strategy that breaks its contract: it names an invoker that is not eligible.
private struct RogueStrategy: RoutingStrategy {
    static var name: String { "rogue" }
    mutating func place(_ request: PlacementRequest, in cluster: ClusterView) -> PlacementDecision {
        .place(invokerID: "nobody")
    }
}
