import Foundation
import Logging
@testable import SluiceBroker
import SluiceCore
import SluiceOverflowDisk
import SluicePluginAPI
import SluiceProtocol
import SluiceTestKit
import Testing
import ZeroMQ

/// `OverflowJournal` on its own, against a store that fails on demand (docs/ARCHITECTURE.md,
/// "Overflow", rules 1 to 4).
@Suite("OverflowJournal")
struct OverflowJournalTests {
    static func header(_ id: String) -> RoutingHeader {
        RoutingHeader(activationID: id, namespace: "guest", action: "guest/a", answerTo: "c1")
    }

    @Test("Rule 1: a consumed activation is held until the commit that syncs its mark")
    func consumedIsHeldUntilCommit() {
        let faults = FailingOverflowStore.Faults()
        let journal = OverflowJournal(store: FailingOverflowStore(faults: faults))
        #expect(journal.append(Self.header("a"), payload: [1], enqueuedAtMilliseconds: 1) == nil)
        #expect(!journal.mustHold("a"), "waiting work is not held: only its DISPATCH or ANSWER is")
        journal.consume("a")
        #expect(journal.mustHold("a"))
        #expect(!journal.mustHold("never-journaled"))
        #expect(journal.commit() == .durable)
        #expect(!journal.mustHold("a"))
        #expect(faults.syncs == 1 && faults.marks == 1)
        // Nothing new: a commit does not sync again.
        #expect(journal.commit() == .durable)
        #expect(faults.syncs == 1)
    }

    @Test("Rule 2: one sync for everything consumed in a turn")
    func groupCommit() {
        let faults = FailingOverflowStore.Faults()
        let journal = OverflowJournal(store: FailingOverflowStore(faults: faults))
        for n in 0..<100 { _ = journal.append(Self.header("a\(n)"), payload: [], enqueuedAtMilliseconds: 1) }
        #expect(journal.commit() == .durable)
        for n in 0..<100 { journal.consume("a\(n)") }
        #expect(journal.commit() == .durable)
        #expect(faults.syncs == 2, "one sync per commit, not one per activation")
        #expect(faults.marks == 100)
    }

    @Test("Rule 3: a failed consume mark breaks the store; everything journaled is withheld once, new overflow is refused")
    func failedMarkBreaksTheStore() {
        let faults = FailingOverflowStore.Faults()
        let store = FailingOverflowStore(faults: faults)
        let journal = OverflowJournal(store: store)
        for id in ["a", "b", "c"] { _ = journal.append(Self.header(id), payload: [], enqueuedAtMilliseconds: 1) }
        #expect(journal.commit() == .durable)
        journal.consume("a")
        faults.failMarkConsumed = true
        journal.consume("b")
        #expect(journal.broken != nil)
        #expect(journal.mustHold("b"), "b's DISPATCH must not leave: its mark failed")
        #expect(journal.commit() == .broken)
        #expect(journal.takeWithheld() == ["a", "b", "c"], "a's mark was not synced either")
        #expect(journal.takeWithheld().isEmpty, "handed over once")
        #expect(journal.append(Self.header("d"), payload: [], enqueuedAtMilliseconds: 1)?.contains("overflow store broken") == true)
        #expect(faults.abandoned, "the store is abandoned: nothing buffered may reach the disk at close")
        #expect(journal.mustHold("b") && journal.mustHold("c"), "no message about a withheld activation ever leaves")
        // "b" and "c" are still live in the store for the next run (and "a" may be).
        #expect(store.liveSequences.count >= 2)
    }

    @Test("Rule 3: a failed sync withholds what it would have made durable")
    func failedSyncBreaksTheStore() {
        let faults = FailingOverflowStore.Faults()
        let journal = OverflowJournal(store: FailingOverflowStore(faults: faults))
        _ = journal.append(Self.header("a"), payload: [], enqueuedAtMilliseconds: 1)
        #expect(journal.commit() == .durable)
        journal.consume("a")
        faults.failSync = true
        #expect(journal.commit() == .broken)
        #expect(journal.takeWithheld() == ["a"])
    }

    @Test("A full budget refuses one activation but does not break the store")
    func budgetIsNotBreakage() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-journal-budget-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = OverflowJournal(store: try DiskOverflowStore(directory: directory, budgetBytes: 200))
        let refusal = journal.append(Self.header("big"), payload: [UInt8](repeating: 1, count: 1000), enqueuedAtMilliseconds: 1)
        #expect(refusal?.contains("budget") == true, "\(refusal ?? "kept")")
        #expect(journal.broken == nil)
        #expect(journal.append(Self.header("small"), payload: [1], enqueuedAtMilliseconds: 1) == nil)
    }

    @Test("Rule 4: recovery separates records the store cannot vouch for, and retires a second record of one id")
    func recoverySeparatesUncertain() throws {
        let store = FailingOverflowStore(records: [(Self.header("a"), [1]), (Self.header("b"), [2]), (Self.header("a"), [3])],
                                         uncertain: [1])
        let journal = OverflowJournal(store: store)
        let found = try journal.recover()
        #expect(found.records.map(\.header.activationID) == ["a"])
        #expect(found.uncertain.map(\.activationID) == ["b"])
        #expect(found.duplicates == 1)
        #expect(journal.commit() == .durable)
        #expect(store.liveSequences.count == 2, "the duplicate is consumed")
    }
}

/// Hands one store object to successive brokers, as a directory would survive a restart.
final class StoreBox: @unchecked Sendable {
    let store: FailingOverflowStore
    init(_ store: FailingOverflowStore) { self.store = store }
}

/// Polls `condition` (state, not time) until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(20), _ condition: () -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

/// The broker with a store that fails on demand, driven by raw peers over tcp loopback.
@Suite("Broker with a failing overflow store")
struct FailingStoreBrokerTests {
    static func broker(_ box: StoreBox) async throws -> (Broker, BoundEndpoints) {
        var configuration = BrokerNodeConfiguration()
        configuration.controllerEndpoint = "tcp://127.0.0.1:*"
        configuration.invokerEndpoint = "tcp://127.0.0.1:*"
        configuration.statsInterval = .zero
        configuration.shutdownGrace = .milliseconds(200)
        var logger = Logger(label: "test.broker")
        logger.logLevel = .critical
        let broker = try Broker(configuration: configuration, overflowStore: { box.store }, logger: logger)
        return (broker, try await broker.start())
    }

    static func stop(_ broker: Broker) async {
        broker.requestShutdown()
        await broker.waitUntilStopped()
    }

    static func activation(_ id: String) -> RoutingHeader {
        RoutingHeader(activationID: id, namespace: "guest", action: "guest/a")
    }

    static func hello(_ peer: RawPeer, invoker id: String, slots: UInt32) throws {
        try peer.send(.invokerHello(InvokerHello(invokerID: id, memoryMB: 256 * slots, slots: slots)))
    }

    /// The next `count` messages that are DISPATCHes, skipping WELCOME.
    static func dispatches(_ peer: RawPeer, count: Int) throws -> [RoutingHeader] {
        var found: [RoutingHeader] = []
        while found.count < count, let (message, _) = try peer.receive(timeoutMilliseconds: 10_000) {
            if case .dispatch(let header) = message { found.append(header) }
        }
        return found
    }

    @Test("Issue 13 item 3: one sync for a batch: 100 journaled activations leave for an invoker after one sync, not 100")
    func groupCommitInTheBroker() async throws {
        let faults = FailingOverflowStore.Faults()
        let (broker, endpoints) = try await Self.broker(StoreBox(FailingOverflowStore(faults: faults)))
        let context = try ZMQContext()
        let controller = try RawPeer(context: context, endpoint: endpoints.controller, inbound: .brokerToController)
        try controller.send(.controllerHello(controllerID: "c1"))
        for n in 0..<100 { try controller.send(.activate(Self.activation("g\(n)")), opaque: [UInt8(n)]) }
        #expect(await eventually { broker.status.waiting == 100 }, "all 100 wait (no invoker yet)")
        #expect(await eventually { faults.appends == 100 })
        let before = faults.syncs
        let invoker = try RawPeer(context: context, endpoint: endpoints.invoker, inbound: .brokerToInvoker)
        try Self.hello(invoker, invoker: "i1", slots: 100)
        #expect(try Self.dispatches(invoker, count: 100).count == 100)
        // Before the journal, the loop synced before every DISPATCH: 100 syncs here.
        #expect(faults.syncs - before == 1, "syncs for the batch: \(faults.syncs - before)")
        #expect(faults.marks == 100)
        await Self.stop(broker)
    }

    @Test("Issue 13 item 4: a failed consume mark withholds the work; the next run answers each exactly once")
    func failedMarkAnsweredOnceAfterRestart() async throws {
        let faults = FailingOverflowStore.Faults()
        let box = StoreBox(FailingOverflowStore(faults: faults))
        let context = try ZMQContext()
        let ids = (0..<5).map { "w\($0)" }
        do {
            let (broker, endpoints) = try await Self.broker(box)
            let controller = try RawPeer(context: context, endpoint: endpoints.controller, inbound: .brokerToController)
            try controller.send(.controllerHello(controllerID: "c1"))
            for id in ids { try controller.send(.activate(Self.activation(id)), opaque: Array(id.utf8)) }
            #expect(await eventually { broker.status.waiting == 5 })
            #expect(await eventually { faults.appends == 5 })

            faults.failMarkConsumed = true
            let invoker = try RawPeer(context: context, endpoint: endpoints.invoker, inbound: .brokerToInvoker)
            try Self.hello(invoker, invoker: "i1", slots: 5)
            #expect(await eventually { broker.status.counters.overflowWithheld == 5 })
            #expect(broker.status.waiting == 0 && broker.status.inFlight == 0)
            // Withheld in the same turn that broke the store: nothing left for the invoker
            // or the controller (before the fix: DISPATCHed or answered `overloaded`, then
            // recovered and answered again after the restart).
            var sent: [Message] = []
            while let (message, _) = try invoker.receive(timeoutMilliseconds: 300) { sent.append(message) }
            #expect(!sent.contains { if case .dispatch = $0 { true } else { false } }, "nothing dispatched: \(sent)")
            var answersBefore: [AnswerHeader] = []
            while let (message, _) = try controller.receive(timeoutMilliseconds: 300) {
                if case .answer(let answer) = message { answersBefore.append(answer) }
            }
            #expect(answersBefore.isEmpty, "no answer from the run whose store broke: \(answersBefore)")

            // New work that must wait is refused with a reason: the store is broken. Fill the
            // invoker's 5 free slots first (placed at once, never journaled).
            for n in 0..<5 { try controller.send(.activate(Self.activation("fill\(n)")), opaque: [1]) }
            #expect(try Self.dispatches(invoker, count: 5).count == 5)
            try controller.send(.activate(Self.activation("late")), opaque: [1])
            var refused: AnswerHeader?
            while refused == nil, let (message, _) = try controller.receive(timeoutMilliseconds: 10_000) {
                if case .answer(let answer) = message, answer.activationID == "late" { refused = answer }
            }
            #expect(refused?.kind == .overloaded)
            #expect(refused?.reason.contains("overflow store broken") == true, "\(String(describing: refused))")
            await Self.stop(broker)
        }

        // The next run, on the same store: the five come back and are answered once each.
        faults.failMarkConsumed = false
        #expect(box.store.liveSequences.count == 5)
        let (broker, endpoints) = try await Self.broker(box)
        let controller = try RawPeer(context: context, endpoint: endpoints.controller, inbound: .brokerToController)
        try controller.send(.controllerHello(controllerID: "c1"))
        let invoker = try RawPeer(context: context, endpoint: endpoints.invoker, inbound: .brokerToInvoker)
        try Self.hello(invoker, invoker: "i2", slots: 5)
        let dispatched = try Self.dispatches(invoker, count: 5)
        #expect(Set(dispatched.map(\.activationID)) == Set(ids))
        for header in dispatched {
            try invoker.send(.completion(CompletionHeader(activationID: header.activationID, includesResult: true)), opaque: [7])
        }
        var answers: [String: Int] = [:]
        while answers.values.reduce(0, +) < 5, let (message, _) = try controller.receive(timeoutMilliseconds: 10_000) {
            if case .answer(let answer) = message {
                #expect(answer.kind == .success)
                answers[answer.activationID, default: 0] += 1
            }
        }
        #expect(answers == Dictionary(uniqueKeysWithValues: ids.map { ($0, 1) }))
        #expect(await eventually { box.store.liveSequences.isEmpty })
        await Self.stop(broker)
    }

    @Test("Issue 13 item 5: recovered work the store cannot vouch for is answered systemError and never dispatched")
    func uncertainRecordsAreAnsweredNotRun() async throws {
        let records = [("u0", true), ("c0", false)].map { id, _ in
            (RoutingHeader(activationID: id, namespace: "guest", action: "guest/a", answerTo: "c1"), [UInt8](id.utf8))
        }
        // Enqueued now: records that waited since 1970 would expire at the first tick.
        let box = StoreBox(FailingOverflowStore(records: records, uncertain: [0],
                                                enqueuedAtMilliseconds: UInt64(Date().timeIntervalSince1970 * 1000)))
        let (broker, endpoints) = try await Self.broker(box)
        let context = try ZMQContext()
        let controller = try RawPeer(context: context, endpoint: endpoints.controller, inbound: .brokerToController)
        try controller.send(.controllerHello(controllerID: "c1"))
        let invoker = try RawPeer(context: context, endpoint: endpoints.invoker, inbound: .brokerToInvoker)
        try Self.hello(invoker, invoker: "i1", slots: 4)
        let dispatched = try Self.dispatches(invoker, count: 1)
        #expect(dispatched.map(\.activationID) == ["c0"], "only the certain record runs")
        var uncertainAnswer: AnswerHeader?
        while uncertainAnswer == nil, let (message, _) = try controller.receive(timeoutMilliseconds: 10_000) {
            if case .answer(let answer) = message, answer.activationID == "u0" { uncertainAnswer = answer }
        }
        #expect(uncertainAnswer?.kind == .systemError)
        #expect(uncertainAnswer?.reason.contains("cannot tell whether it already ran") == true)
        #expect(await eventually { broker.status.counters.overflowUncertain == 1 })
        #expect(box.store.liveSequences.isEmpty, "both consumed")
        await Self.stop(broker)
    }
}

@Suite("BadInputLogLimiter")
struct BadInputLogLimiterTests {
    @Test("the first few per peer and window are logged, the rest summarised by code, peers apart")
    func limits() {
        var limiter = BadInputLogLimiter(perWindow: 2, window: .seconds(10), start: .zero)
        let a = BadInputLogLimiter.Peer(endpoint: .controller, route: RoutingID([1]))
        let b = BadInputLogLimiter.Peer(endpoint: .invoker, route: RoutingID([1]))
        var admitted: [Bool] = []
        admitted.append(limiter.admit(a, code: "malformed"))
        admitted.append(limiter.admit(a, code: "malformed"))
        admitted.append(limiter.admit(a, code: "malformed"))
        admitted.append(limiter.admit(a, code: "invalidId"))
        #expect(admitted == [true, true, false, false])
        let other = limiter.admit(b, code: "malformed")
        #expect(other, "another peer has its own allowance")
        let early = limiter.endWindow(now: Timestamp(nanoseconds: 5_000_000_000))
        #expect(early.isEmpty, "the window is not over")
        let summaries = limiter.endWindow(now: Timestamp(nanoseconds: 10_000_000_000))
        #expect(summaries == [.init(peer: a, suppressed: 2, codes: ["malformed": 1, "invalidId": 1])])
        let fresh = limiter.admit(a, code: "malformed")
        #expect(fresh, "a new window starts afresh")
    }
}

@Suite("Broker in Swift concurrency (issue 13 item 14)")
struct BrokerConcurrencyTests {
    @Test("cancelling waitUntilStopped returns at once and shuts the broker down")
    func cancellationIsHonoured() async throws {
        var configuration = BrokerNodeConfiguration()
        configuration.controllerEndpoint = "tcp://127.0.0.1:*"
        configuration.invokerEndpoint = "tcp://127.0.0.1:*"
        configuration.statsInterval = .zero
        configuration.shutdownGrace = .milliseconds(100)
        var logger = Logger(label: "test.cancel")
        logger.logLevel = .critical
        let broker = try Broker(configuration: configuration, logger: logger)
        try await broker.start()
        let waiting = Task { await broker.waitUntilStopped() }
        waiting.cancel()
        // Before the fix the cancelled wait went on until someone else stopped the broker;
        // the 30 s bound only turns such a hang into a failure.
        let returned = await withTaskGroup(of: Bool.self) { group in
            group.addTask { _ = await waiting.value; return true }
            group.addTask { try? await Task.sleep(for: .seconds(30)); return false }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        #expect(returned, "a cancelled waitUntilStopped returns")
        // The cancellation asked the broker to shut down: an uncancelled wait now ends too.
        #expect(await broker.waitUntilStopped() == nil)
    }
}
