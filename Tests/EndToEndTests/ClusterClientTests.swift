import Foundation
import SluiceClient
import SluiceProtocol
import SluiceTestKit
import Synchronization
import Testing

/// A controller in cluster mode (docs/PROTOCOL.md §9) against real cluster brokers and etcd.
extension BrokerEndToEndTests {
    /// Collects a client's streamed answers, by kind, off the test's task.
    final class AnswerTally: Sendable {
        final class Store: Sendable { let answers = Mutex<[ControllerAnswer]>([]) }
        let store = Store()
        let task: Task<Void, Never>

        init(_ client: ControllerClient) {
            let store = store
            task = Task { for await answer in client.answers { store.answers.withLock { $0.append(answer) } } }
        }

        var count: Int { store.answers.withLock { $0.count } }
        var kinds: [AnswerKind: Int] { store.answers.withLock { Dictionary($0.map { ($0.kind, 1) }, uniquingKeysWith: +) } }
        var ids: [String] { store.answers.withLock { $0.map(\.activationID) } }
    }

    @Test("Cluster controller: MEMBERS and room arrive; a SIGKILLed broker's activations are all answered brokerLost at once, once each")
    func brokerLostOnKill() async throws {
        let etcd = try EtcdServer()
        try await etcdReady(etcd)
        let url = etcd.clientURL.absoluteString
        let b1 = try BrokerProcess(["--cluster", "lost", "--etcd", url, "--broker-id", "b1"])
        let b2 = try BrokerProcess(["--cluster", "lost", "--etcd", url, "--broker-id", "b2"])
        defer { _ = try? b2.stop() }
        let invoker = try startInvoker(b1, id: "slow", slots: 8, duration: "60s")
        defer { invoker.signal(SIGKILL) }
        try await b1.waitForInvokers(["slow"])

        let controller = try ControllerClient(id: "ctl", endpoint: b1.controllerEndpoint, answerTimeout: .seconds(120), cluster: true)
        controller.start()
        let tally = AnswerTally(controller)
        defer { tally.task.cancel() }
        try await waitUntil("MEMBERS lists both brokers and the room counts the invoker's 8 slots", timeout: .seconds(20)) {
            let view = controller.cluster
            return view.members.map(\.brokerID).sorted() == ["b1", "b2"] && view.estimate.room?.slots == 8 && view.incarnation != nil
        }
        #expect(controller.cluster.brokerID == "b1")
        #expect(controller.cluster.members.allSatisfy { $0.state == .serving })

        controller.submit((0..<8).map { (RoutingHeader(activationID: "held\($0)", namespace: "guest", action: "guest/slow"), [0]) })
        try await b1.waitForStatus("all 8 run on the invoker") { $0.gauges.inFlight == 8 }
        #expect(controller.cluster.estimate.estimatedRoom <= 0, "the estimate counts what was sent since the last room")

        let killedAt = ContinuousClock.now
        b1.child.signal(SIGKILL)
        try await waitUntil("every held activation answered", timeout: .seconds(30)) { tally.count == 8 }
        let took = killedAt.duration(to: .now)
        #expect(tally.kinds == [.brokerLost: 8])
        #expect(Set(tally.ids) == Set((0..<8).map { "held\($0)" }))
        #expect(controller.cluster.answeredBrokerLost == 8)
        #expect(controller.pendingCount == 0)
        print("cluster: a SIGKILLed broker's 8 activations were answered brokerLost \(took) after the kill (liveness window 3 s)")
        await controller.close()
    }

    @Test("A broker restarted on its endpoint is a new incarnation: what the old one held is answered brokerLost once; the restart rejoins at once")
    func brokerLostOnRestart() async throws {
        let etcd = try EtcdServer()
        try await etcdReady(etcd)
        let url = etcd.clientURL.absoluteString
        let arguments = ["--cluster", "restart", "--etcd", url, "--broker-id", "b1"]
        let first = try BrokerProcess(arguments)
        let invoker = try startInvoker(first, id: "slow", slots: 4, duration: "3s")
        defer { invoker.signal(SIGKILL) }
        try await first.waitForInvokers(["slow"])
        let controller = try ControllerClient(id: "ctl", endpoint: first.controllerEndpoint, answerTimeout: .seconds(120), cluster: true)
        controller.start()
        let tally = AnswerTally(controller)
        defer { tally.task.cancel() }
        try await waitUntil("the first incarnation is known", timeout: .seconds(20)) { controller.cluster.incarnation != nil }
        let oldIncarnation = try #require(controller.cluster.incarnation)
        controller.submit((0..<4).map { (RoutingHeader(activationID: "old\($0)", namespace: "guest", action: "guest/slow"), [0]) })
        try await first.waitForStatus("all 4 run") { $0.gauges.inFlight == 4 }

        first.child.signal(SIGKILL)
        #expect(first.child.waitForExit(timeout: .seconds(10)) != nil)
        // Same endpoints, same id: the record of the dead incarnation is taken over, not waited out.
        let second = try BrokerProcess(arguments, controllerEndpoint: first.controllerEndpoint, invokerEndpoint: first.invokerEndpoint)
        defer { _ = try? second.stop() }
        try await waitUntil("every held activation answered", timeout: .seconds(30)) { tally.count == 4 }
        #expect(tally.kinds == [.brokerLost: 4])
        try await waitUntil("the new incarnation is known", timeout: .seconds(20)) {
            controller.cluster.incarnation.map { $0 != oldIncarnation } ?? false
        }
        // The restarted broker takes new work from the same client.
        try await second.waitForInvokers(["slow"])
        let after = await controller.invoke(RoutingHeader(activationID: "new0", namespace: "guest", action: "guest/slow"), payload: [1])
        #expect(after.kind == .success, "answered by the new incarnation: \(after)")
        #expect(tally.kinds == [.brokerLost: 4], "nothing answered twice")
        await controller.close()
    }
}

/// Answers of a closed-loop run through a cluster controller.
struct ClusterLoad {
    var sent = 0
    var answers: [String: [ControllerAnswer]] = [:]
    var arrivals: [(id: String, kind: AnswerKind, at: ContinuousClock.Instant)] = []

    var kinds: [AnswerKind: Int] { Dictionary(answers.values.flatMap { $0 }.map { ($0.kind, 1) }, uniquingKeysWith: +) }
    var answeredTwice: [String] { answers.filter { $0.value.count > 1 }.map(\.key) }
}

/// Keeps `window` activations outstanding over `actions` actions until `count` are answered
/// (or `stop` says so: then what is outstanding is still waited for); `onAnswer` sees the
/// number answered so far. Bounded without a timer of its own: every activation gets an
/// answer, at the latest the controller's own `answerTimeout` one.
func drive(_ controller: ClusterController, prefix: String, count: Int, window: Int, actions: Int,
           stop: @Sendable () -> Bool = { false }, onAnswer: (Int) -> Void = { _ in }) async -> ClusterLoad {
    var load = ClusterLoad()
    func next() -> (RoutingHeader, [UInt8]) {
        let id = "\(prefix)-\(load.sent)"
        load.sent += 1
        return (RoutingHeader(activationID: id, namespace: "guest", action: "guest/a\(load.sent % actions)", memoryMB: 128,
                              timeLimitMilliseconds: 10_000), Array(id.utf8))
    }
    controller.submit((0..<min(window, count)).map { _ in next() })
    var answered = 0
    for await answer in controller.answers {
        load.answers[answer.activationID, default: []].append(answer)
        load.arrivals.append((answer.activationID, answer.kind, .now))
        answered += 1
        onAnswer(answered)
        if load.sent < count && !stop() { controller.submit([next()]) }
        if answered >= load.sent && (load.sent >= count || stop()) { break }
    }
    return load
}

/// The invoker ids registered with each broker, read from /status (a stopped broker: none).
func invokersByBroker(_ brokers: [BrokerProcess]) async -> [[String]] {
    var result: [[String]] = []
    for broker in brokers { result.append((try? await broker.status().invokers.map(\.id)) ?? []) }
    return result
}

/// Waits until every one of `ids` is registered with exactly one of `brokers` (invokers of a
/// cluster settle on their homes, docs/CLUSTER.md).
func waitForSettledInvokers(_ brokers: [BrokerProcess], _ ids: [String], timeout: Duration = .seconds(30)) async throws -> [[String]] {
    var placement: [[String]] = []
    do {
        try await waitUntil("invokers \(ids) each registered with one broker", timeout: timeout) {
            placement = await invokersByBroker(brokers)
            return placement.flatMap { $0 }.sorted() == ids.sorted()
        }
    } catch {
        throw TestFailure("\(error); last placement by broker: \(placement)")
    }
    return placement
}

/// Three cluster brokers on one etcd, a cluster invoker started at each, settled on their
/// homes: the start of every cluster scenario. `stop()` ends every process.
final class ClusterFixture {
    let etcd: EtcdServer
    let name: String
    let extra: [String]
    var brokers: [BrokerProcess]
    let invokers: [ChildProcess]
    /// Invoker ids registered with each broker once settled.
    let placed: [[String]]

    var url: String { etcd.clientURL.absoluteString }

    /// The broker arguments of member `index` (1-based).
    func arguments(_ index: Int) -> [String] {
        ["--cluster", name, "--etcd", url, "--broker-id", "b\(index)"] + extra
    }

    init(_ test: BrokerEndToEndTests, name: String, extra: [String] = [], invokerDuration: String, eventLog: String? = nil) async throws {
        etcd = try EtcdServer()
        self.name = name
        self.extra = extra
        try await test.etcdReady(etcd)
        let url = etcd.clientURL.absoluteString
        brokers = try (1...3).map { try BrokerProcess(["--cluster", name, "--etcd", url, "--broker-id", "b\($0)"] + extra) }
        invokers = try brokers.enumerated().map { index, broker in
            try startInvoker(broker, id: "inv\(index + 1)", slots: 4, duration: invokerDuration, cluster: true, eventLog: eventLog)
        }
        placed = try await waitForSettledInvokers(brokers, ["inv1", "inv2", "inv3"])
    }

    /// A cluster controller seeded with the first broker, once it knows every broker that has invokers.
    func controller() async throws -> ClusterController {
        try await seededController(brokers, placed: placed)
    }

    func stop() {
        invokers.forEach { $0.signal(SIGKILL) }
        for broker in brokers {
            broker.child.signal(SIGCONT)
            _ = try? broker.stop()
        }
    }
}

/// A cluster controller seeded with the first of `brokers` (answer timeout 60 s: what bounds
/// every drive), once it knows every broker that has invokers.
func seededController(_ brokers: [BrokerProcess], placed: [[String]]) async throws -> ClusterController {
    let controller = try ClusterController(id: "ctl", seeds: [brokers[0].controllerEndpoint], answerTimeout: .seconds(60))
    controller.start()
    let serving = placed.filter { !$0.isEmpty }.count
    guard await controller.waitUntilReady(brokers: serving, timeout: .seconds(30)) else {
        throw TestFailure("the controller did not find \(serving) serving brokers with room: \(controller.brokers)")
    }
    return controller
}

extension BrokerEndToEndTests {
    @Test("Three brokers, one seed: the controller finds every member and spreads work; SIGKILL of one under load: each activation answered once, its share brokerLost, the rest succeed")
    func threeBrokerCluster() async throws {
        let cluster = try await ClusterFixture(self, name: "three", invokerDuration: "2ms-6ms")
        defer { cluster.stop() }
        let (brokers, invokers, placed) = (cluster.brokers, cluster.invokers, cluster.placed)
        print("cluster: invokers settled on their homes: \(placed)")
        let controller = try await cluster.controller()
        try await waitUntil("the controller learned every member from the seed", timeout: .seconds(20)) {
            controller.brokers.map(\.brokerID).sorted() == ["b1", "b2", "b3"]
        }

        let warm = await drive(controller, prefix: "warm", count: 600, window: 24, actions: 30)
        #expect(warm.kinds == [.success: 600])
        var received: [Int] = []
        try await waitUntil("the brokers' status counts all 600", timeout: .seconds(10)) {
            received = []
            for broker in brokers { received.append(try await broker.status().counters["activations_received"] ?? 0) }
            return received.reduce(0, +) == 600
        }
        #expect(zip(received, placed).allSatisfy { $0.0 > 0 || $0.1.isEmpty }, "every broker with invokers took a share: \(received) \(placed)")
        print("cluster: 600 activations over 3 brokers, action affinity: \(received)")

        // SIGKILL b2 after 300 answers of the next run.
        let killedAt = Mutex<ContinuousClock.Instant?>(nil)
        let total = 8000
        let run = await drive(controller, prefix: "kill", count: total, window: 24, actions: 30, onAnswer: { answered in
            if answered == 1000 {
                brokers[1].child.signal(SIGKILL)
                killedAt.withLock { $0 = .now }
            }
        })
        #expect(run.answers.count == total, "every activation answered")
        #expect(run.answeredTwice.isEmpty, "none answered twice")
        #expect(Set(run.kinds.keys).isSubset(of: [.success, .brokerLost]), "\(run.kinds)")
        let lost = run.arrivals.filter { $0.kind == .brokerLost }
        #expect(lost.count <= 24, "only what b2 held when it died: \(lost.count)")
        if let killed = killedAt.withLock({ $0 }), let last = lost.map(\.at).max() {
            // Throughput in the second before the kill and after the last brokerLost.
            let before = run.arrivals.filter { $0.at <= killed && $0.at > killed - .seconds(1) }.count
            let after = run.arrivals.filter { $0.at > last && $0.at <= last + .seconds(1) }.count
            print("cluster: b2 SIGKILLed; \(lost.count) held activations answered brokerLost within \(killed.duration(to: last)); "
                  + "answers per second: \(before) in the second before the kill, \(after) in the second after the last brokerLost")
        }
        #expect(controller.brokers.first { $0.brokerID == "b2" }?.live == false)

        // b2's invoker moves to a live member on its own (§9.4).
        do {
            _ = try await waitForSettledInvokers([brokers[0], brokers[2]], ["inv1", "inv2", "inv3"])
        } catch {
            throw TestFailure("\(error)\n" + invokers.map { $0.errors.current.suffix(3000) + $0.output.current.suffix(2000) }.joined(separator: "\n---\n"))
        }
        if let killed = killedAt.withLock({ $0 }) {
            print("cluster: every invoker was registered with b1 or b3 \(killed.duration(to: .now)) after the kill (read from /status)")
        }
        let afterMove = await drive(controller, prefix: "moved", count: 600, window: 24, actions: 30)
        #expect(afterMove.kinds == [.success: 600], "the two brokers left serve with all three invokers")
        await controller.close()
    }

    @Test("Rolling restart of every broker under load (SIGTERM, restart on the same endpoints), two controller processes: zero brokerLost, nothing lost, answered twice, run twice or over capacity")
    func rollingRestart() async throws {
        let directory = try Self.temporaryDirectory("cluster-rolling")
        defer { try? FileManager.default.removeItem(at: directory) }
        let invokerLog = directory.appendingPathComponent("invokers.log").path
        let cluster = try await ClusterFixture(self, name: "rolling", extra: ["--shutdown-grace", "10s"], invokerDuration: "2ms-20ms",
                                               eventLog: invokerLog)
        defer { cluster.stop() }
        let controllers = try ["ctl-a", "ctl-b"].map {
            try ControllerProcess(seed: cluster.brokers[0], id: $0, log: directory.appendingPathComponent("\($0).log").path)
        }
        defer { controllers.forEach { $0.child.signal(SIGKILL) } }
        for controller in controllers { try await controller.waitForAnswers(200) }

        let started = ContinuousClock.now
        for index in 0..<3 {
            let old = cluster.brokers[index]
            let stepStart = ContinuousClock.now
            old.child.signal(SIGTERM)
            #expect(await old.child.exit(timeout: .seconds(30)) == 0, "b\(index + 1) drained and stopped")
            cluster.brokers[index] = try BrokerProcess(cluster.arguments(index + 1), controllerEndpoint: old.controllerEndpoint,
                                                       invokerEndpoint: old.invokerEndpoint)
            let stoppedAfter = stepStart.duration(to: .now)
            // Serving again: both controllers connected to the new incarnation and, if it had
            // invokers before, its home invokers back and work flowing through it.
            let hadInvokers = !cluster.placed[index].isEmpty
            do {
                try await cluster.brokers[index].waitForStatus(timeout: .seconds(30), "b\(index + 1) serving both controllers") {
                    $0.controllers.filter(\.connected).count == 2 && (!hadInvokers || ($0.counters["activations_received"] ?? 0) > 0)
                }
            } catch {
                // Seen once in CI (b2 connected to both controllers, never chosen): say what the
                // controllers logged, since the test's directory is removed.
                throw TestFailure("\(error)\n" + controllers.map { $0.log + ":\n" + $0.child.errors.current.suffix(4000) + $0.child.output.current.suffix(2000) }
                    .joined(separator: "\n---\n"))
            }
            print("cluster: b\(index + 1) stopped \(stoppedAfter) after SIGTERM, serving again \(stepStart.duration(to: .now)) after it")
        }
        var checks: [ControllerLogCheck] = []
        for controller in controllers { checks.append(try await controller.finish(stop: true)) }
        let runs = try InvokerLogCheck(path: invokerLog)
        for check in checks {
            #expect(check.lost.isEmpty, "lost: \(check.lost.prefix(5))")
            #expect(check.answeredTwice.isEmpty, "answered twice: \(check.answeredTwice.prefix(5))")
            #expect(check.kinds["brokerLost"] == nil, "no activation lost with a broker: \(check.kinds)")
            #expect((check.kinds["success"] ?? 0) > 0)
        }
        #expect(runs.dispatchedTwice.isEmpty, "ran twice: \(runs.dispatchedTwice.prefix(5))")
        #expect(runs.overCapacity.isEmpty, "\(runs.overCapacity)")
        print("cluster: rolling restart of 3 brokers in \(started.duration(to: .now)) under 2 controller processes: "
              + checks.map { "\($0.sent) sent, answers \($0.kinds)" }.joined(separator: "; ")
              + "; none lost or twice; \(runs.started) runs, none twice, no invoker over its slots")
    }
}

/// A checker over the invokers' event logs, in the manner of Jepsen's queue checkers: what ran
/// twice anywhere, and any invoker that ever ran more at once than its slots.
struct InvokerLogCheck {
    var started = 0
    var dispatchedTwice: [String] = []
    var overCapacity: [String] = []

    init(path: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var starts: [String: Int] = [:]
        var events: [String: [(at: UInt64, delta: Int, slots: Int)]] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 5, let slots = Int(parts[3]), let at = UInt64(parts[4]) else { continue }
            let (kind, id, invoker) = (String(parts[0]), String(parts[1]), String(parts[2]))
            if kind == "start" {
                starts[id, default: 0] += 1
                started += 1
            }
            events[invoker, default: []].append((at, kind == "start" ? 1 : -1, slots))
        }
        dispatchedTwice = starts.filter { $0.value > 1 }.map(\.key).sorted()
        for (invoker, list) in events {
            var running = 0
            // Ends before starts at the same instant: a slot freed and taken at once is not two.
            for event in list.sorted(by: { ($0.at, $0.delta) < ($1.at, $1.delta) }) {
                running += event.delta
                if running > event.slots {
                    overCapacity.append("\(invoker): \(running) running with \(event.slots) slots")
                    break
                }
            }
        }
    }
}

extension BrokerEndToEndTests {
    @Test("SIGSTOP a broker past the liveness window, then SIGCONT, under a controller process: its work is answered brokerLost once, late answers dropped, no invoker over its slots, nothing run twice")
    func pausedBroker() async throws {
        let directory = try Self.temporaryDirectory("cluster-pause")
        defer { try? FileManager.default.removeItem(at: directory) }
        let invokerLog = directory.appendingPathComponent("invokers.log").path
        let cluster = try await ClusterFixture(self, name: "pause", invokerDuration: "20ms-150ms", eventLog: invokerLog)
        defer { cluster.stop() }
        let brokers = cluster.brokers
        // Pause a broker that has invokers, so its work is running when it stops.
        let paused = try #require(cluster.placed.firstIndex { !$0.isEmpty })
        let controller = try ControllerProcess(seed: brokers[0], log: directory.appendingPathComponent("controller.log").path, count: 2000)
        defer { controller.child.signal(SIGKILL) }

        try await controller.waitForAnswers(200)
        brokers[paused].child.signal(SIGSTOP)
        let stoppedAt = ContinuousClock.now
        // Resumed once the controller has found it silent (past the liveness window: its first
        // brokerLost answer), while the load goes on.
        try await controller.waitForAnswers(1, .brokerLost, timeout: .seconds(30))
        brokers[paused].child.signal(SIGCONT)
        let pausedFor = stoppedAt.duration(to: .now)
        let answers = try await controller.finish()
        // Its late answers (invokerLost, timeouts) go out after SIGCONT; the controller drops them.
        try await brokers[paused].waitForStatus(timeout: .seconds(20), "the resumed broker has dropped its dead sessions") {
            $0.gauges.inFlight == 0
        }
        let runs = try InvokerLogCheck(path: invokerLog)
        #expect(answers.sent == 2000)
        #expect(answers.lost.isEmpty, "lost: \(answers.lost.prefix(5))")
        #expect(answers.answeredTwice.isEmpty, "answered twice: \(answers.answeredTwice.prefix(5))")
        #expect(Set(answers.kinds.keys).isSubset(of: ["success", "brokerLost"]), "\(answers.kinds)")
        #expect(runs.started >= answers.kinds["success"] ?? 0, "every success ran, and was logged")
        #expect(runs.dispatchedTwice.isEmpty, "ran twice: \(runs.dispatchedTwice.prefix(5))")
        #expect(runs.overCapacity.isEmpty, "\(runs.overCapacity)")
        print("cluster: b\(paused + 1) SIGSTOPped \(pausedFor) under a controller process: \(answers.sent) sent, answers \(answers.kinds), "
              + "none lost or twice; \(runs.started) runs, none twice, no invoker over its slots")
    }
}

extension BrokerEndToEndTests {
    @Test("etcd killed under a controller process: every broker keeps serving with the members it last saw; etcd back: they see it again")
    func etcdKilled() async throws {
        let directory = try Self.temporaryDirectory("cluster-noetcd")
        defer { try? FileManager.default.removeItem(at: directory) }
        let cluster = try await ClusterFixture(self, name: "noetcd", invokerDuration: "2ms-6ms")
        defer { cluster.stop() }
        let (etcd, brokers) = (cluster.etcd, cluster.brokers)
        let controller = try ControllerProcess(seed: brokers[0], log: directory.appendingPathComponent("controller.log").path, count: 3000)
        defer { controller.child.signal(SIGKILL) }

        try await controller.waitForAnswers(500)
        etcd.kill()
        let run = try await controller.finish()
        #expect(run.sent == 3000 && run.kinds == ["success": 3000], "activations kept flowing without etcd: \(run.kinds)")
        try await waitUntil("every broker reports etcd unreachable", timeout: .seconds(30)) {
            var all = true
            for broker in brokers where try await broker.status().cluster?.etcdReachable != false { all = false }
            return all
        }
        for broker in brokers {
            #expect(try await broker.status().cluster?.members.count == 3, "the members last seen are kept")
        }
        let later = try ControllerProcess(seed: brokers[0], id: "ctl-later", log: directory.appendingPathComponent("later.log").path, count: 600)
        defer { later.child.signal(SIGKILL) }
        let after = try await later.finish()
        #expect(after.kinds == ["success": 600], "a new controller is served with etcd down: \(after.kinds)")

        try etcd.launch()
        try await waitUntil("every broker sees etcd again", timeout: .seconds(60)) {
            var all = true
            for broker in brokers where try await broker.status().cluster?.etcdReachable != true { all = false }
            return all
        }
        print("cluster: etcd SIGKILLed under a controller process: \(run.sent + after.sent) activations (two controllers) all answered success; "
              + "brokers rejoined when it came back")
    }
}

extension BrokerEndToEndTests {
    @Test("A cluster broker restarted on its disk overflow store: RECOVERED keeps its recovered work from brokerLost; each activation runs once and is answered once")
    func recoveredAfterRestart() async throws {
        let etcd = try EtcdServer()
        try await etcdReady(etcd)
        let url = etcd.clientURL.absoluteString
        let store = try Self.temporaryDirectory("cluster-overflow")
        defer { try? FileManager.default.removeItem(at: store) }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-recovered-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let arguments = ["--cluster", "recover", "--etcd", url, "--broker-id", "b1", "--overflow-store", "disk", "--overflow-path", store.path]
        let first = try BrokerProcess(arguments)
        let invoker = try startInvoker(first, id: "one", slots: 1, duration: "300ms", cluster: true, eventLog: log)
        defer { invoker.signal(SIGKILL) }
        try await first.waitForInvokers(["one"])
        let controller = try ControllerClient(id: "ctl", endpoint: first.controllerEndpoint, answerTimeout: .seconds(120), cluster: true)
        controller.start()
        let tally = AnswerTally(controller)
        defer { tally.task.cancel() }
        try await waitUntil("the broker's room is known", timeout: .seconds(20)) { controller.cluster.estimate.room?.slots == 1 }
        let count = 10
        controller.submit((0..<count).map { (RoutingHeader(activationID: "r\($0)", namespace: "guest", action: "guest/one"), [0]) })
        try await first.waitForStatus("one runs, the rest wait on disk") { $0.gauges.inFlight == 1 && $0.overflow?.records == count - 1 }

        first.child.signal(SIGKILL)
        #expect(first.child.waitForExit(timeout: .seconds(10)) != nil)
        let second = try BrokerProcess(arguments, controllerEndpoint: first.controllerEndpoint, invokerEndpoint: first.invokerEndpoint)
        defer { _ = try? second.stop() }
        try await waitUntil("every activation answered", timeout: .seconds(60)) { tally.count == count }
        let kinds = tally.kinds
        #expect(Set(tally.ids).count == count, "one answer each")
        #expect(Set(kinds.keys).isSubset(of: [.success, .brokerLost]), "\(kinds)")
        // Recovered work runs on the new incarnation; if the controller heard the new incarnation
        // before the liveness window ran out, RECOVERED kept those from brokerLost.
        try await second.waitForStatus("the recovered work has run") { $0.counters["overflow_recovered"] == count - 1 && $0.gauges.waiting == 0 && $0.gauges.inFlight == 0 }
        let check = try InvokerLogCheck(path: log)
        #expect(check.dispatchedTwice.isEmpty, "ran twice: \(check.dispatchedTwice)")
        #expect(check.overCapacity.isEmpty, "\(check.overCapacity)")
        print("cluster: broker restarted on its disk store with \(count - 1) recovered: answers \(kinds), \(check.started) runs, none twice"
              + " (RECOVERED path: \((kinds[.success] ?? 0) >= count - 1 ? "yes" : "no, the controller found it silent first"))")
        await controller.close()
    }
}

extension BrokerEndToEndTests {
    /// `faults/peers/tcp_proxy.py` forwarding a free port (or `port`) to etcd; returns it and its port.
    func etcdProxy(_ etcd: EtcdServer, port: Int? = nil) throws -> (ChildProcess, Int) {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let proxy = try ChildProcess("/usr/bin/env", ["python3", root.appendingPathComponent("faults/peers/tcp_proxy.py").path,
                                                      etcd.clientURL.host ?? "127.0.0.1", "\(etcd.clientURL.port ?? 2379)"]
                                     + (port.map { ["\($0)"] } ?? []))
        guard let line = proxy.output.wait(for: "listening ", timeout: .seconds(10)),
              let bound = line.split(separator: "\n").last(where: { $0.hasPrefix("listening ") }).flatMap({ Int($0.dropFirst(10)) }) else {
            proxy.signal(SIGKILL)
            throw TestFailure("the etcd proxy did not start: \(proxy.errors.current)")
        }
        return (proxy, bound)
    }

    @Test("A broker cut off from etcd only (its etcd path killed) keeps serving its sessions; nothing runs twice; it is a member again when the path returns")
    func brokerCutOffFromEtcd() async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-partition-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let etcd = try EtcdServer()
        try await etcdReady(etcd)
        var (proxy, port) = try etcdProxy(etcd)
        defer { proxy.signal(SIGKILL) }
        let direct = etcd.clientURL.absoluteString
        let brokers = try [direct, "http://127.0.0.1:\(port)", direct].enumerated().map { index, url in
            try BrokerProcess(["--cluster", "cut", "--etcd", url, "--broker-id", "b\(index + 1)"])
        }
        defer { for broker in brokers { _ = try? broker.stop() } }
        let invokers = try brokers.enumerated().map { index, broker in
            try startInvoker(broker, id: "inv\(index + 1)", slots: 4, duration: "5ms-40ms", cluster: true, eventLog: log)
        }
        defer { invokers.forEach { $0.signal(SIGKILL) } }
        _ = try await waitForSettledInvokers(brokers, ["inv1", "inv2", "inv3"])
        let controllerLog = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-partition-ctl-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: controllerLog) }
        let controller = try ControllerProcess(seed: brokers[0], log: controllerLog, count: 3000)
        defer { controller.child.signal(SIGKILL) }

        try await controller.waitForAnswers(300)
        proxy.signal(SIGKILL)
        try await brokers[1].waitForStatus(timeout: .seconds(30), "b2 finds etcd unreachable") { $0.cluster?.etcdReachable == false }
        try await brokers[0].waitForStatus(timeout: .seconds(30), "b2's record expired for the others") {
            $0.cluster?.members.map(\.id).contains("b2") == false
        }
        let run = try await controller.finish()
        #expect(run.sent == 3000)
        #expect(run.lost.isEmpty && run.answeredTwice.isEmpty, "lost \(run.lost.prefix(5)), twice \(run.answeredTwice.prefix(5))")
        #expect(run.kinds.keys.allSatisfy { $0 == "success" }, "no broker was lost: \(run.kinds)")
        let stillServing = try await brokers[1].status()
        #expect(stillServing.state == "running", "b2 keeps serving without etcd")

        // The path back: b2 registers again.
        (proxy, port) = try etcdProxy(etcd, port: port)
        try await brokers[0].waitForStatus(timeout: .seconds(60), "b2 is a member again") {
            $0.cluster?.members.map(\.id).contains("b2") == true
        }
        let laterLog = controllerLog + ".later"
        defer { try? FileManager.default.removeItem(atPath: laterLog) }
        let later = try ControllerProcess(seed: brokers[1], id: "ctl-later", log: laterLog, count: 600)
        defer { later.child.signal(SIGKILL) }
        let after = try await later.finish()
        #expect(after.kinds == ["success": 600], "\(after.kinds)")
        let check = try InvokerLogCheck(path: log)
        #expect(check.dispatchedTwice.isEmpty, "ran twice: \(check.dispatchedTwice.prefix(5))")
        #expect(check.overCapacity.isEmpty, "\(check.overCapacity)")
        print("cluster: b2 cut off from etcd under load: it kept serving, its record expired for the others (lease TTL 3 s); "
              + "\(run.sent + after.sent) activations all success; \(check.started) runs, none twice, no invoker over its slots; b2 a member again once the path returned")
    }
}

extension BrokerEndToEndTests {
    @Test("etcd with 3 members, its leader SIGKILLed under load: activations keep flowing; brokers keep etcd through the others")
    func etcdLeaderKilled() async throws {
        let members = try EtcdServer.cluster(members: 3)
        try await waitUntil("the etcd members elect a leader", timeout: .seconds(30)) {
            var leaders = 0
            for member in members where await member.isLeader() { leaders += 1 }
            return leaders == 1
        }
        for member in members { try await etcdReady(member) }
        let urls = members.map(\.clientURL.absoluteString).joined(separator: ",")
        let brokers = try (1...3).map { try BrokerProcess(["--cluster", "leader", "--etcd", urls, "--broker-id", "b\($0)"]) }
        defer { for broker in brokers { _ = try? broker.stop() } }
        let invokers = try brokers.enumerated().map { index, broker in
            try startInvoker(broker, id: "inv\(index + 1)", slots: 4, duration: "2ms-6ms", cluster: true)
        }
        defer { invokers.forEach { $0.signal(SIGKILL) } }
        _ = try await waitForSettledInvokers(brokers, ["inv1", "inv2", "inv3"])
        let controllerLog = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-leader-ctl-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: controllerLog) }
        let controller = try ControllerProcess(seed: brokers[0], log: controllerLog, count: 3000)
        defer { controller.child.signal(SIGKILL) }

        var leader: EtcdServer?
        for member in members where await member.isLeader() { leader = member }
        let killed = try #require(leader)
        try await controller.waitForAnswers(300)
        killed.kill()
        let run = try await controller.finish()
        #expect(run.sent == 3000 && run.kinds == ["success": 3000], "activations kept flowing while etcd changed leader: \(run.kinds)")
        // The others elect a new leader; the brokers reach etcd through them.
        try await waitUntil("a new etcd leader", timeout: .seconds(30)) {
            var leaders = 0
            for member in members where member !== killed {
                if await member.isLeader() { leaders += 1 }
            }
            return leaders == 1
        }
        for broker in brokers {
            try await broker.waitForStatus(timeout: .seconds(30), "etcd reachable through the other members, all three brokers listed") {
                $0.cluster?.etcdReachable == true && $0.cluster?.members.count == 3
            }
        }
        print("cluster: etcd leader SIGKILLed under a controller process (3 members): \(run.sent) activations, all success; every broker reaches etcd through the others and lists all 3 members")
    }
}

/// A checker over a controller's event log: activations sent and never answered (lost), and
/// answered more than once.
struct ControllerLogCheck {
    var sent = 0
    var lost: [String] = []
    var answeredTwice: [String] = []
    var kinds: [String: Int] = [:]

    init(path: String) throws {
        var answers: [String: Int] = [:]
        var sentIDs: [String] = []
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 3, parts[0] == "sent" { sentIDs.append(String(parts[1])) }
            if parts.count == 4, parts[0] == "answer" {
                answers[String(parts[1]), default: 0] += 1
                kinds[String(parts[2]), default: 0] += 1
            }
        }
        sent = sentIDs.count
        lost = sentIDs.filter { answers[$0] == nil }
        answeredTwice = answers.filter { $0.value > 1 }.map(\.key).sorted()
    }
}


/// `sluice-example-controller --cluster` as a process of its own, seeded with one broker,
/// appending its event log to `log` for `ControllerLogCheck`. It sends `count` activations, or
/// until `finish()` tells it to stop sending (SIGTERM), then waits for every one sent.
final class ControllerProcess {
    let child: ChildProcess
    let log: String

    init(seed: BrokerProcess, id: String = "ctl", log: String, count: Int = 100_000_000, window: Int = 16, actions: Int = 30) throws {
        self.log = log
        child = try ChildProcess(Products.path("sluice-example-controller"), [
            "--cluster", "--endpoint", seed.controllerEndpoint, "--id", id, "--count", "\(count)", "--window", "\(window)",
            "--actions", "\(actions)", "--event-log", log,
        ])
    }

    /// Answers in the log so far, of `kind` when given.
    func answers(_ kind: AnswerKind? = nil) -> Int {
        let prefix = "answer "
        return ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").count { line in
            line.hasPrefix(prefix) && (kind.map { line.split(separator: " ").dropFirst(2).first == "\($0)" } ?? true)
        }
    }

    func waitForAnswers(_ count: Int, _ kind: AnswerKind? = nil, timeout: Duration = .seconds(60)) async throws {
        try await waitUntil("\(count) \(kind.map { "\($0) " } ?? "")answers in \(log)", timeout: timeout) { self.answers(kind) >= count }
    }

    /// Waits for the controller to end (told to stop sending first when `stop`), expects a clean
    /// exit (everything it sent answered, every result intact) and returns the check of its log.
    func finish(stop: Bool = false, timeout: Duration = .seconds(120)) async throws -> ControllerLogCheck {
        if stop { child.signal(SIGTERM) }
        guard let status = await child.exit(timeout: timeout) else {
            child.signal(SIGKILL)
            throw TestFailure("the controller did not finish within \(timeout): \(child.output.current.suffix(600))")
        }
        #expect(status == 0, "every activation sent was answered, every result intact: \(child.output.current.suffix(600))")
        return try ControllerLogCheck(path: log)
    }
}

extension BrokerEndToEndTests {
    @Test("SIGKILL of a broker with the controller and the invokers as separate processes: the checker over their event logs finds nothing lost, answered twice, run twice or over capacity")
    func killCheckedFromEventLogs() async throws {
        let directory = try Self.temporaryDirectory("cluster-logs")
        defer { try? FileManager.default.removeItem(at: directory) }
        let invokerLog = directory.appendingPathComponent("invokers.log").path
        let controllerLog = directory.appendingPathComponent("controller.log").path
        let cluster = try await ClusterFixture(self, name: "logged", invokerDuration: "2ms-10ms", eventLog: invokerLog)
        defer { cluster.stop() }
        let count = 4000
        let controller = try ControllerProcess(seed: cluster.brokers[0], log: controllerLog, count: count)
        defer { controller.child.signal(SIGKILL) }
        // Kill a broker with invokers once the controller has 500 answers.
        let victim = try #require(cluster.placed.indices.last { !cluster.placed[$0].isEmpty })
        try await controller.waitForAnswers(500)
        cluster.brokers[victim].child.signal(SIGKILL)
        let answers = try await controller.finish()
        let runs = try InvokerLogCheck(path: invokerLog)
        #expect(answers.sent == count)
        #expect(answers.lost.isEmpty, "lost: \(answers.lost.prefix(5))")
        #expect(answers.answeredTwice.isEmpty, "answered twice: \(answers.answeredTwice.prefix(5))")
        #expect(Set(answers.kinds.keys).isSubset(of: ["success", "brokerLost"]), "\(answers.kinds)")
        #expect(runs.dispatchedTwice.isEmpty, "ran twice: \(runs.dispatchedTwice.prefix(5))")
        #expect(runs.overCapacity.isEmpty, "\(runs.overCapacity)")
        print("cluster: b\(victim + 1) SIGKILLed under a controller process: \(answers.sent) sent, answers \(answers.kinds), "
              + "none lost or twice; \(runs.started) runs, none twice, no invoker over its slots")
    }
}
