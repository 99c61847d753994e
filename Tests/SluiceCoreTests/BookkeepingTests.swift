import SluiceCore
import SluiceProtocol
import Testing

// docs/PROTOCOL.md §10: COMPLETED notices and INVENTORY for platforms that keep their own books.

extension Observed {
    var completedNotices: [(route: String, notice: CompletedNotice)] {
        actions.compactMap {
            if case .send(.controller, let route, .completed(let notice), _) = $0 { return (routeName(route), notice) }
            return nil
        }
    }

    var inventories: [Inventory] {
        actions.compactMap {
            if case .send(.controller, _, .inventory(let inventory), _) = $0 { return inventory }
            return nil
        }
    }
}

@Suite("Bookkeeping notices and inventory (§10)")
struct BookkeepingTests {
    @Test("§10.1 a following controller hears COMPLETED when a RESULT-answered activation's slot is freed; once, and not an answer")
    func completedAfterResult() throws {
        var h = Harness()
        h.controllerHello("c1")
        h.receive(.controller, from: "c1", .follow)
        h.invokerHello("i1", memoryMB: 4096, slots: 2)
        #expect(h.activate("a1").placements == ["a1->i1"])
        let result = h.result("a1", on: "i1", bytes("r"))
        #expect(result.answers.map(\.activationID) == ["a1"])
        #expect(result.completedNotices.isEmpty, "the slot is still busy")

        let done = h.complete("a1", on: "i1", systemError: true)
        #expect(done.answers.isEmpty, "one answer per activation")
        let notices = done.completedNotices
        #expect(notices.count == 1)
        #expect(notices.first?.route == "c1")
        #expect(notices.first?.notice == CompletedNotice(activationID: "a1", invokerID: "i1", systemError: true, cause: .completion))
        #expect(h.core.counters.answered == 1)
    }

    @Test("§10.1 no COMPLETED when the answer itself freed the slot, nor for a controller that did not FOLLOW")
    func noNoticeWhenNotNeeded() {
        var h = Harness()
        h.controllerHello("c1")
        h.controllerHello("c2")
        h.receive(.controller, from: "c1", .follow)
        h.invokerHello("i1", memoryMB: 4096, slots: 4)
        h.activate("combined", from: "c1")
        #expect(h.complete("combined", on: "i1", result: bytes("r")).completedNotices.isEmpty, "the ANSWER is the notice")
        h.activate("quiet", from: "c2")
        h.result("quiet", on: "i1", bytes("r"))
        #expect(h.complete("quiet", on: "i1").completedNotices.isEmpty, "c2 did not FOLLOW")
    }

    @Test("§10.1 COMPLETED when an answered activation's invoker is lost or its circuit breaker fires")
    func completedWithoutCompletion() {
        var h = Harness()
        h.controllerHello("c1")
        h.receive(.controller, from: "c1", .follow)
        h.invokerHello("i1", memoryMB: 4096, slots: 2)
        h.invokerHello("i2", memoryMB: 4096, slots: 2)
        h.activate("lost", targetInvoker: "i1")
        h.activate("slow", timeLimitMilliseconds: 1_000, targetInvoker: "i2")
        h.result("lost", on: "i1", bytes("r"))
        h.result("slow", on: "i2", bytes("r"))

        let gone = h.invokerGoodbye("i1")
        #expect(gone.answers.isEmpty)
        #expect(gone.completedNotices.map(\.notice) == [CompletedNotice(activationID: "lost", invokerID: "i1", systemError: true, cause: .invokerLost)])

        let fired = h.advance(toSeconds: 181)
        #expect(fired.answers.isEmpty)
        #expect(fired.completedNotices.map(\.notice) == [CompletedNotice(activationID: "slow", invokerID: "i2", systemError: false, cause: .timeout)])
    }

    @Test("§10.1 FOLLOW belongs to the session: a reconnect without FOLLOW gets no notices; a repeated HELLO on the same connection keeps it; notices are not kept for an absent controller")
    func followIsPerSession() {
        var h = Harness()
        h.controllerHello("c1")
        h.receive(.controller, from: "c1", .follow)
        h.invokerHello("i1", memoryMB: 4096, slots: 4)
        h.activate("a1")
        h.result("a1", on: "i1", bytes("r"))
        h.controllerHello("c1")   // the same connection again
        #expect(h.complete("a1", on: "i1").completedNotices.count == 1)

        h.activate("a2")
        h.result("a2", on: "i1", bytes("r"))
        h.controllerHello("c1", connection: "c1-new")
        #expect(h.complete("a2", on: "i1").completedNotices.isEmpty, "the new session did not FOLLOW")

        h.receive(.controller, from: "c1-new", .follow)
        h.activate("a3", connection: "c1-new")
        h.result("a3", on: "i1", bytes("r"))
        h.controllerGoodbye("c1")
        let done = h.complete("a3", on: "i1")
        #expect(done.completedNotices.isEmpty)
        #expect(done.answers.isEmpty, "a notice is never kept as an answer")
        let back = h.controllerHello("c1", connection: "c1-back")
        #expect(back.answers.isEmpty && back.completedNotices.isEmpty)
    }

    @Test("§10.1 INVOKERS is answered at once with every invoker in id order: health, capacity, use, tags; and the controllers connected")
    func inventory() throws {
        var h = Harness()
        h.controllerHello("c1")
        h.controllerHello("c2")
        h.receive(.invoker, from: "i2", .invokerHello(InvokerHello(invokerID: "i2", memoryMB: 2048, slots: 4, tags: ["gpu"],
                                                                   dedicatedNamespaces: ["ns"])))
        h.invokerHello("i1", memoryMB: 1024, slots: 2)
        h.invokerHello("i3", memoryMB: 1024, slots: 2)
        h.capacity("i3", memoryMB: 0, slots: 0)
        h.activate("a1", targetInvoker: "i2")
        let asked = h.receive(.controller, from: "c1", .invokers)
        let inventory = try #require(asked.inventories.first)
        #expect(asked.inventories.count == 1)
        #expect(inventory.controllers == 2)
        #expect(inventory.invokers.map(\.invokerID) == ["i1", "i2", "i3"])
        #expect(inventory.invokers[1] == Inventory.Entry(invokerID: "i2", health: .healthy, memoryMB: 2048, slots: 4, usedMemoryMB: 256,
                                                         usedSlots: 1, tags: ["gpu"], dedicatedNamespaces: ["ns"]))
        #expect(inventory.invokers[2].health == .draining)

        // Unhealthy after more than 3 system errors.
        for n in 1...4 {
            h.activate("e\(n)", targetInvoker: "i1")
            h.complete("e\(n)", on: "i1", systemError: true)
        }
        let later = try #require(h.receive(.controller, from: "c2", .invokers).inventories.first)
        #expect(later.invokers.first?.health == .unhealthy)
    }

    @Test("§10.1 INVENTORY stops at the last invoker that fits in max-message")
    func inventoryFits() throws {
        var configuration = BrokerConfiguration()
        configuration.maxMessageBytes = 1024
        var h = Harness(configuration: configuration)
        h.controllerHello("c1")
        for n in 0..<200 { h.invokerHello("invoker-\(1000 + n)", memoryMB: 1024, slots: 2) }
        let inventory = try #require(h.receive(.controller, from: "c1", .invokers).inventories.first)
        #expect(inventory.invokers.count > 10 && inventory.invokers.count < 200)
        #expect(Codec.encode(.inventory(inventory)).reduce(0) { $0 + $1.count } <= 1024)
    }
}
