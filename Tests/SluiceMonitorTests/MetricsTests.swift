import Foundation
import SluiceCore
@testable import SluiceMonitor
import SluiceProtocol
import SluiceStrategyLeastLoaded
import Testing

/// A core driven by scripted events, and what `/metrics` makes of it (issue 14).
struct ScriptedBroker {
    var core: BrokerCore<[UInt8]>
    var now = Timestamp.zero

    init(recordsLatencies: Bool = true) {
        var configuration = BrokerConfiguration()
        configuration.recordsLatencies = recordsLatencies
        core = BrokerCore(configuration: configuration, strategy: LeastLoadedStrategy(), start: .zero)
    }

    @discardableResult
    mutating func send(_ endpoint: Endpoint, from connection: String, _ message: Message, opaque: [UInt8]? = nil) -> [BrokerAction<[UInt8]>] {
        core.handle(.received(endpoint, RoutingID(Array(connection.utf8)), .success(message), opaque: opaque), now: now)
    }

    mutating func controller(_ id: String) { send(.controller, from: id, .controllerHello(controllerID: id)) }
    mutating func invoker(_ id: String, slots: UInt32 = 4, memoryMB: UInt32 = 2048) {
        send(.invoker, from: id, .invokerHello(InvokerHello(invokerID: id, memoryMB: memoryMB, slots: slots)))
    }
    mutating func activate(_ id: String, from controller: String = "c1", namespace: String = "guest", memoryMB: UInt32 = 256) {
        send(.controller, from: controller,
             .activate(RoutingHeader(activationID: id, namespace: namespace, action: "\(namespace)/hello", memoryMB: memoryMB)),
             opaque: Array("payload".utf8))
    }
    /// The invoker that got `id`'s DISPATCH.
    mutating func complete(_ id: String, on invoker: String) {
        send(.invoker, from: invoker, .completion(CompletionHeader(activationID: id, includesResult: true)), opaque: Array("ok".utf8))
    }

    func monitorSnapshot() -> MonitorSnapshot {
        var snapshot = MonitorSnapshot()
        snapshot.state = .running
        snapshot.strategy = core.strategyName
        snapshot.counters = core.counters
        snapshot.broker = core.snapshot()
        return snapshot
    }
}

/// The exposition as `series key -> value` (comments skipped).
func parseExposition(_ bytes: [UInt8]) -> [String: Double] {
    var result: [String: Double] = [:]
    for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
        result[String(line[..<space])] = value
    }
    return result
}

func metricNames(_ bytes: [UInt8]) -> Set<String> {
    Set(String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { line -> String? in
        guard line.hasPrefix("# TYPE ") else { return nil }
        return line.split(separator: " ")[2].description
    })
}

@Suite("Metrics after scripted core events")
struct MetricsTests {
    @Test("Counters and gauges carry the core's numbers under Prometheus names")
    func countersAndGauges() throws {
        var broker = ScriptedBroker()
        broker.controller("c1")
        broker.invoker("inv-a", slots: 2)
        broker.invoker("inv-b", slots: 2)
        for index in 0..<5 { broker.activate("a\(index)") }   // 4 placed, 1 waits
        broker.activate("too-big", memoryMB: 100_000)            // rejected at once
        let metrics = BrokerMetrics(limits: MetricLimits())
        metrics.update(from: broker.monitorSnapshot(), startedAtSeconds: 1_700_000_000, version: "test")
        var values = parseExposition(metrics.exposition())

        #expect(values["sluice_activations_received_total"] == 6)
        #expect(values["sluice_activations_dispatched_total"] == 4)
        #expect(values["sluice_answers_total{kind=\"rejected\"}"] == 1)
        #expect(values["sluice_answers_total{kind=\"success\"}"] == 0)
        #expect(values["sluice_activations_in_flight"] == 4)
        #expect(values["sluice_activations_waiting"] == 1)
        #expect(values["sluice_activations_waiting_by_namespace{namespace=\"guest\"}"] == 1)
        #expect(values["sluice_controllers_connected"] == 1)
        #expect(values["sluice_invokers{state=\"healthy\"}"] == 2)
        #expect(values["sluice_invoker_slots"] == 4)
        #expect(values["sluice_invoker_slots_free"] == 0)
        #expect(values["sluice_invoker_slots_used{invoker=\"inv-a\"}"] == 2)
        #expect(values["sluice_invoker_slots_advertised{invoker=\"inv-b\"}"] == 2)
        #expect(values["sluice_invoker_memory_used_bytes{invoker=\"inv-a\"}"] == Double(512 * 1_048_576))
        #expect(values["sluice_invoker_state{invoker=\"inv-a\",state=\"healthy\"}"] == 1)
        #expect(values["sluice_invoker_state{invoker=\"inv-a\",state=\"unhealthy\"}"] == 0)
        #expect(values["sluice_up{state=\"running\"}"] == 1)
        #expect(values["sluice_build_info{version=\"test\"}"] == 1)

        // Counters move by what happened since; gauges follow; a departed invoker's series go.
        broker.complete("a0", on: "inv-a")
        broker.send(.invoker, from: "inv-b", .goodbye)
        metrics.update(from: broker.monitorSnapshot(), startedAtSeconds: 1_700_000_000, version: "test")
        values = parseExposition(metrics.exposition())
        #expect(values["sluice_answers_total{kind=\"success\"}"] == 1)
        #expect(values["sluice_activations_received_total"] == 6)
        #expect(values["sluice_invoker_slots_used{invoker=\"inv-b\"}"] == nil, "inv-b left: its series are gone")
        #expect(values.keys.filter { $0.contains("inv-b") }.isEmpty)
        #expect(values["sluice_invokers_lost_total"] != nil)
    }

    @Test("Every counter of the exit summary has a Prometheus series carrying its value")
    func everySummaryCounterIsExported() throws {
        // Every stored counter set to a value of its own, so each can be told apart.
        var c = BrokerCounters()
        var next = 1_000
        func value() -> Int { next += 7; return next }
        c.activationsReceived = value(); c.dispatched = value()
        for index in c.answersByKind.indices { c.answersByKind[index] = value() }
        c.answersDelivered = value(); c.answersUndelivered = value(); c.answersParked = value(); c.answersDropped = value()
        c.lateCompletions = value()
        for code in ErrorCode.known { c.protocolErrorsByCode[code.rawValue] = value() }
        c.invokersLost = value(); c.dispatchRetries = value(); c.forcedPlacements = value(); c.strategyContractBroken = value()
        c.strategySwaps = value(); c.overflowRecovered = value(); c.overflowUncertain = value(); c.overflowWithheld = value()
        c.publicationsReceived = value(); c.publicationsDelivered = value(); c.publicationsDropped = value()
        c.publicationsUnheard = value(); c.authenticationsAccepted = value(); c.authenticationsRefused = value()
        c.repliesUndelivered = value()
        // A counter added to BrokerCounters must be set above, and so checked below.
        #expect(Mirror(reflecting: c).children.count == 24, "BrokerCounters has a field this test does not set")

        var snapshot = ScriptedBroker().monitorSnapshot()
        snapshot.counters = c
        let series = MetricTables.counters(snapshot)
        // Sums of other counters ("answered", "protocol_errors") are what a query sums.
        for (name, count) in c.fields where name != "answered" && name != "protocol_errors" {
            let exported = series.filter { $0.value == Double(count) }
            #expect(exported.count == 1, "summary counter \(name) = \(count) has no Prometheus series of its own")
            #expect(exported.allSatisfy { $0.name.hasSuffix("_total") })
        }
    }

    @Test("Every name follows Prometheus conventions: sluice_ prefix, _total counters, base units")
    func names() throws {
        var broker = ScriptedBroker()
        broker.controller("c1")
        broker.invoker("inv")
        let metrics = BrokerMetrics(limits: MetricLimits())
        metrics.update(from: broker.monitorSnapshot(), startedAtSeconds: 0, version: "test")
        let text = String(decoding: metrics.exposition(), as: UTF8.self)
        let types = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { $0.split(separator: " ") }
        #expect(types.count > 40, "\(types.count) metric families")
        for family in types {
            let name = String(family[2]), type = String(family[3])
            #expect(name.wholeMatch(of: /sluice_[a-z_]+/) != nil, "\(name)")
            #expect((type == "counter") == name.hasSuffix("_total"), "\(name) is a \(type)")
            #expect(!name.contains("_mb") && !name.contains("_ms") && !name.contains("milli"), "\(name): base units only")
            if type == "histogram" { #expect(name.hasSuffix("_seconds"), "\(name)") }
        }
        let helped = Set(text.split(separator: "\n").filter { $0.hasPrefix("# HELP ") }.map { String($0.split(separator: " ")[2]) })
        #expect(Set(types.map { String($0[2]) }).subtracting(helped).isEmpty, "every family has # HELP")
        for histogram in ["sluice_activation_wait_seconds", "sluice_activation_run_seconds", "sluice_activation_answer_seconds",
                          "sluice_loop_turn_seconds", "sluice_loop_tick_lateness_seconds"] {
            #expect(text.contains("# TYPE \(histogram) histogram"), "\(histogram)")
        }
    }

    @Test("Histograms count every recorded duration in the right bucket")
    func histograms() {
        var broker = ScriptedBroker()
        broker.controller("c1")
        broker.invoker("inv", slots: 1)
        broker.activate("first")
        broker.now = Timestamp(nanoseconds: 3_000_000)       // 3 ms
        broker.complete("first", on: "inv")
        let feed = MonitorFeed(version: "test", configuration: [])
        feed.record(latencies: broker.core.takeLatencySamples(), turns: [50_000, 200_000], tickLateness: [])
        let metrics = BrokerMetrics(limits: MetricLimits())
        metrics.record(feed.takeSamples())
        let values = parseExposition(metrics.exposition())
        #expect(values["sluice_activation_run_seconds_count"] == 1)
        #expect(values["sluice_activation_run_seconds_bucket{le=\"0.0025\"}"] == 0)
        #expect(values["sluice_activation_run_seconds_bucket{le=\"0.005\"}"] == 1)
        #expect(values["sluice_activation_answer_seconds_count"] == 1)
        #expect(values["sluice_activation_wait_seconds_bucket{le=\"0.0001\"}"] == 1, "placed at once: waited 0")
        #expect(values["sluice_loop_turn_seconds_count"] == 2)
        #expect(values["sluice_loop_turn_seconds_bucket{le=\"0.0001\"}"] == 1)
    }

    @Test("Peer-named series are bounded: top namespaces plus _other, and at most N invokers")
    func cardinality() {
        var broker = ScriptedBroker()
        broker.controller("c1")
        for index in 0..<5 { broker.invoker("inv-\(index)", slots: 1) }
        for index in 0..<5 { broker.activate("fill-\(index)") }
        // Waiting: ns-0 has 1, ns-1 has 2, ..., ns-5 has 6.
        for namespace in 0..<6 {
            for index in 0...namespace { broker.activate("w-\(namespace)-\(index)", namespace: "ns-\(namespace)") }
        }
        let metrics = BrokerMetrics(limits: MetricLimits(topNamespaces: 2, maxInvokerSeries: 3))
        metrics.update(from: broker.monitorSnapshot(), startedAtSeconds: 0, version: "test")
        let values = parseExposition(metrics.exposition())
        let namespaces = values.keys.filter { $0.hasPrefix("sluice_activations_waiting_by_namespace{") }.sorted()
        #expect(namespaces == ["sluice_activations_waiting_by_namespace{namespace=\"_other\"}",
                               "sluice_activations_waiting_by_namespace{namespace=\"ns-4\"}",
                               "sluice_activations_waiting_by_namespace{namespace=\"ns-5\"}"])
        #expect(values["sluice_activations_waiting_by_namespace{namespace=\"_other\"}"] == Double(1 + 2 + 3 + 4))
        let invokers = Set(values.keys.filter { $0.hasPrefix("sluice_invoker_slots_used{") })
        #expect(invokers.count == 3)
        #expect(values["sluice_invoker_series_omitted"] == 2)
        #expect(values["sluice_invokers{state=\"healthy\"}"] == 5, "the totals still count every invoker")
    }

    @Test("A feed nobody reads keeps a bounded number of samples and counts the rest")
    func pendingSamplesAreBounded() {
        let feed = MonitorFeed(version: "test", configuration: [])
        let many = [UInt64](repeating: 1, count: PendingSamples.capacity)
        feed.record(latencies: LatencySamples(), turns: many, tickLateness: [])
        feed.record(latencies: LatencySamples(), turns: [1, 2, 3], tickLateness: [])
        let taken = feed.takeSamples()
        #expect(taken.turns.count == PendingSamples.capacity)
        #expect(taken.dropped == 3)
        #expect(feed.takeSamples().turns.isEmpty)
    }
}

@Suite("Monitoring examples and docs name only metrics that exist")
struct MonitoringExamplesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Every metric family the broker exports, with an overflow store so its gauges appear.
    func exported() -> Set<String> {
        var broker = ScriptedBroker()
        broker.controller("c1")
        broker.invoker("inv", slots: 1)
        broker.activate("runs")
        broker.activate("waits")
        var snapshot = broker.monitorSnapshot()
        snapshot.overflow = OverflowStatus(store: "disk", records: 0, bytes: 0, budgetBytes: 1, broken: nil)
        let metrics = BrokerMetrics(limits: MetricLimits())
        metrics.update(from: snapshot, startedAtSeconds: 0, version: "test")
        metrics.record(PendingSamples(dropped: 1))
        return metricNames(metrics.exposition())
    }

    func referenced(in file: String) throws -> Set<String> {
        let text = try String(contentsOf: Self.root.appendingPathComponent(file), encoding: .utf8)
        let names = text.matches(of: /sluice_[a-z_]+/).map { String($0.output) }
        return Set(names.map { name in
            for suffix in ["_bucket", "_count", "_sum"] where name.hasSuffix(suffix) { return String(name.dropLast(suffix.count)) }
            return name
        })
    }

    @Test("The Grafana dashboard, the alert rules and docs/OPERATIONS.md use exported names", arguments: [
        "Examples/monitoring/grafana-dashboard.json", "Examples/monitoring/sluice-alerts.yml", "docs/OPERATIONS.md",
    ])
    func namesExist(file: String) throws {
        let exported = exported()
        let unknown = try referenced(in: file).filter { !exported.contains($0) }
        #expect(unknown.isEmpty, "\(file) names metrics that are not exported: \(unknown.sorted())")
    }

    @Test("docs/OPERATIONS.md documents every exported metric")
    func everyMetricDocumented() throws {
        let documented = try referenced(in: "docs/OPERATIONS.md")
        let text = try String(contentsOf: Self.root.appendingPathComponent("docs/OPERATIONS.md"), encoding: .utf8)
        let missing = exported().filter { name in !documented.contains(name) || !text.contains("`\(name)`") }
        #expect(missing.isEmpty, "not in docs/OPERATIONS.md: \(missing.sorted())")
    }
}
