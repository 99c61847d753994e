import SluiceCore
import SluicePluginAPI
import SluiceProtocol

/// One Prometheus series: a name, its labels, and a value. The tables below are the list of
/// every metric Sluice exports (docs/OPERATIONS.md, "Metrics"); `BrokerMetrics` feeds them to
/// swift-metrics.
public struct MetricSeries: Sendable, Equatable {
    public var name: String
    public var labels: [Label]
    public var value: Double

    public struct Label: Sendable, Hashable {
        public var name: String
        public var value: String
    }

    init(_ name: String, _ labels: [(String, String)], _ value: Double) {
        self.name = name
        self.labels = labels.map { Label(name: $0.0, value: $0.1) }
        self.value = value
    }

    init(_ name: String, _ labels: [(String, String)], _ value: Int) { self.init(name, labels, Double(value)) }
    init(_ name: String, _ value: Int) { self.init(name, [], Double(value)) }
    init(_ name: String, _ value: Double) { self.init(name, [], value) }

    /// `name{label="value",...}`, the series' identity.
    public var key: String {
        labels.isEmpty ? name : name + "{" + labels.map { "\($0.name)=\"\($0.value)\"" }.joined(separator: ",") + "}"
    }

    var dimensions: [(String, String)] { labels.map { ($0.name, $0.value) } }
}

/// Bounds on label values that come from peers (docs/OPERATIONS.md, "Cardinality").
public struct MetricLimits: Sendable, Equatable {
    /// Namespaces with their own `sluice_activations_waiting_by_namespace` series, most waiting
    /// first; the rest are summed under `namespace="_other"`.
    public var topNamespaces = 10
    /// Invokers with per-invoker series, in id order; the rest only count in the totals.
    public var maxInvokerSeries = 100

    public init(topNamespaces: Int = 10, maxInvokerSeries: Int = 100) {
        self.topNamespaces = topNamespaces
        self.maxInvokerSeries = maxInvokerSeries
    }
}

public enum MetricTables {
    static let mebibyte = 1_048_576.0

    /// Monotonic counters: every counter of the exit summary, and the loop's own.
    public static func counters(_ snapshot: MonitorSnapshot) -> [MetricSeries] {
        let c = snapshot.counters
        var result = [MetricSeries("sluice_activations_received_total", c.activationsReceived)]
        result.append(MetricSeries("sluice_activations_dispatched_total", c.dispatched))
        for kind in AnswerKind.brokerKinds {
            result.append(MetricSeries("sluice_answers_total", [("kind", "\(kind)")], c.answers(kind)))
        }
        result += [
            MetricSeries("sluice_answers_delivered_total", c.answersDelivered),
            MetricSeries("sluice_answers_undelivered_total", c.answersUndelivered),
            MetricSeries("sluice_answers_parked_total", c.answersParked),
            MetricSeries("sluice_answers_dropped_total", c.answersDropped),
            MetricSeries("sluice_late_completions_total", c.lateCompletions),
            MetricSeries("sluice_invokers_lost_total", c.invokersLost),
            MetricSeries("sluice_dispatch_retries_total", c.dispatchRetries),
            MetricSeries("sluice_forced_placements_total", c.forcedPlacements),
            MetricSeries("sluice_strategy_contract_broken_total", c.strategyContractBroken),
            MetricSeries("sluice_strategy_swaps_total", c.strategySwaps),
            MetricSeries("sluice_overflow_recovered_total", c.overflowRecovered),
            MetricSeries("sluice_overflow_uncertain_total", c.overflowUncertain),
            MetricSeries("sluice_overflow_withheld_total", c.overflowWithheld),
            MetricSeries("sluice_publications_received_total", c.publicationsReceived),
            MetricSeries("sluice_publications_delivered_total", c.publicationsDelivered),
            MetricSeries("sluice_publications_dropped_total", c.publicationsDropped),
            MetricSeries("sluice_publications_unheard_total", c.publicationsUnheard),
            MetricSeries("sluice_authentications_total", [("outcome", "accepted")], c.authenticationsAccepted),
            MetricSeries("sluice_authentications_total", [("outcome", "refused")], c.authenticationsRefused),
            MetricSeries("sluice_replies_undelivered_total", c.repliesUndelivered),
            MetricSeries("sluice_loop_slow_turns_total", snapshot.slowTurns),
            MetricSeries("sluice_loop_late_ticks_total", snapshot.lateTicks),
        ]
        // Every known code, so a rate over a code that never happened is 0, not absent.
        for code in ErrorCode.known {
            result.append(MetricSeries("sluice_protocol_errors_total", [("code", code.name)], c.protocolErrors(code)))
        }
        let unknown = c.protocolErrorsByCode.filter { code, _ in !ErrorCode.known.contains(where: { $0.rawValue == code }) }
        if !unknown.isEmpty {
            result.append(MetricSeries("sluice_protocol_errors_total", [("code", "other")], unknown.values.reduce(0, +)))
        }
        return result
    }

    /// Values that go up and down, with per-namespace and per-invoker series bounded by `limits`.
    public static func gauges(_ snapshot: MonitorSnapshot, limits: MetricLimits) -> [MetricSeries] {
        let b = snapshot.broker
        var result: [MetricSeries] = [
            MetricSeries("sluice_up", [("state", snapshot.state.rawValue)], 1),
            MetricSeries("sluice_activations_waiting", b.waiting),
            MetricSeries("sluice_activations_waiting_bytes", b.waitingBytes),
            MetricSeries("sluice_activations_in_flight", b.inFlight),
            MetricSeries("sluice_answers_parked", b.parkedAnswers),
            MetricSeries("sluice_answers_parked_bytes", b.parkedBytes),
            MetricSeries("sluice_controllers_connected", b.connectedControllers),
            MetricSeries("sluice_controllers_known", b.controllers.count),
            MetricSeries("sluice_invoker_slots", b.slots),
            MetricSeries("sluice_invoker_slots_free", b.freeSlots),
            MetricSeries("sluice_invoker_memory_bytes", Double(b.memoryMB) * mebibyte),
            MetricSeries("sluice_invoker_memory_free_bytes", Double(b.freeMemoryMB) * mebibyte),
        ]
        for (state, count) in b.invokersByState {
            result.append(MetricSeries("sluice_invokers", [("state", state)], count))
        }
        let shown = b.waitingByNamespace.prefix(max(0, limits.topNamespaces))
        for entry in shown {
            result.append(MetricSeries("sluice_activations_waiting_by_namespace", [("namespace", entry.namespace)], entry.waiting))
        }
        let others = b.waitingByNamespace.dropFirst(shown.count).map(\.waiting).reduce(0, +)
        if others > 0 {
            result.append(MetricSeries("sluice_activations_waiting_by_namespace", [("namespace", "_other")], others))
        }
        for invoker in b.invokers.prefix(max(0, limits.maxInvokerSeries)) {
            let label = [("invoker", invoker.id)]
            result += [
                MetricSeries("sluice_invoker_slots_used", label, Int(invoker.slotsUsed)),
                MetricSeries("sluice_invoker_slots_advertised", label, Int(invoker.slots)),
                MetricSeries("sluice_invoker_memory_used_bytes", label, Double(invoker.memoryUsedMB) * mebibyte),
                MetricSeries("sluice_invoker_memory_advertised_bytes", label, Double(invoker.memoryMB) * mebibyte),
                MetricSeries("sluice_invoker_last_seen_seconds", label, invoker.sinceLastSeen.seconds),
            ]
            let current = invoker.draining ? "draining" : invoker.health.rawValue
            for state in InvokerHealth.allCases.map(\.rawValue) + ["draining"] {
                result.append(MetricSeries("sluice_invoker_state", [("invoker", invoker.id), ("state", state)], state == current ? 1 : 0))
            }
        }
        result.append(MetricSeries("sluice_invoker_series_omitted", max(0, b.invokers.count - max(0, limits.maxInvokerSeries))))
        if let overflow = snapshot.overflow {
            result += [
                MetricSeries("sluice_overflow_store_records", overflow.records),
                MetricSeries("sluice_overflow_store_bytes", overflow.bytes),
                MetricSeries("sluice_overflow_store_budget_bytes", overflow.budgetBytes ?? 0),
                MetricSeries("sluice_overflow_store_broken", overflow.broken == nil ? 0 : 1),
            ]
        }
        return result
    }

    /// The latency histograms: name, and what each measures (docs/OPERATIONS.md).
    static var histograms: [(name: String, kind: WritableKeyPath<PendingSamples, [UInt64]>)] {[
        ("sluice_activation_wait_seconds", \.waited),
        ("sluice_activation_run_seconds", \.ran),
        ("sluice_activation_answer_seconds", \.answered),
        ("sluice_loop_turn_seconds", \.turns),
        ("sluice_loop_tick_lateness_seconds", \.tickLateness),
    ]}

    /// Bucket bounds of every histogram: 100 µs to 2 minutes.
    public static let buckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(120),
    ]

    /// `# HELP` text of every family (swift-metrics' API carries none; `BrokerMetrics`
    /// inserts these into the exposition). docs/OPERATIONS.md says more.
    public static let help: [String: String] = [
        "sluice_activations_received_total": "ACTIVATE messages taken, including those refused at once.",
        "sluice_activations_dispatched_total": "DISPATCH messages handed to an invoker connection.",
        "sluice_answers_total": "Answers by kind, exactly one per activation.",
        "sluice_answers_delivered_total": "Answers handed to a controller connection.",
        "sluice_answers_undelivered_total": "Answer sends that failed; the answer is kept again.",
        "sluice_answers_parked_total": "Answers kept for an absent controller.",
        "sluice_answers_dropped_total": "Kept answers dropped past the parking bounds.",
        "sluice_late_completions_total": "Completions of activations already answered timeout or invokerLost.",
        "sluice_invokers_lost_total": "Invokers declared dead after the liveness window.",
        "sluice_dispatch_retries_total": "DISPATCH sends that failed and went back to the queue.",
        "sluice_forced_placements_total": "Placements a strategy forced onto a full invoker.",
        "sluice_strategy_contract_broken_total": "Decisions refused because the strategy chose an ineligible invoker.",
        "sluice_strategy_swaps_total": "Routing strategy changes while running.",
        "sluice_overflow_recovered_total": "Waiting activations recovered from the overflow store after a restart.",
        "sluice_overflow_uncertain_total": "Recovered activations the store could not vouch for, answered systemError.",
        "sluice_overflow_withheld_total": "Activations left in a broken overflow store for the next run.",
        "sluice_publications_received_total": "PUBLISH messages received.",
        "sluice_publications_delivered_total": "Publications handed to subscribers.",
        "sluice_publications_dropped_total": "Publications a full or gone subscriber missed.",
        "sluice_publications_unheard_total": "Publications no session was subscribed to.",
        "sluice_authentications_total": "CURVE client keys let in or refused.",
        "sluice_replies_undelivered_total": "ERROR, HEARTBEAT and WELCOME messages a full or gone connection did not take.",
        "sluice_protocol_errors_total": "Bad input from peers by ERROR code.",
        "sluice_loop_slow_turns_total": "Broker loop turns longer than 20 ms.",
        "sluice_loop_late_ticks_total": "Broker loop ticks that ran more than 20 ms late.",
        "sluice_monitor_samples_dropped_total": "Durations the monitor could not keep because nobody read them.",
        "sluice_up": "1, labelled with the broker's state.",
        "sluice_build_info": "1, labelled with the version.",
        "sluice_start_time_seconds": "Process start time, Unix seconds.",
        "sluice_activations_waiting": "Activations waiting for room.",
        "sluice_activations_waiting_bytes": "Payload bytes of the waiting activations.",
        "sluice_activations_waiting_by_namespace": "Activations waiting per namespace (top N, then _other).",
        "sluice_activations_in_flight": "Activations dispatched and not yet completed.",
        "sluice_answers_parked": "Answers kept for absent controllers now.",
        "sluice_answers_parked_bytes": "Result bytes of the answers kept for absent controllers.",
        "sluice_controllers_connected": "Controllers with a live session.",
        "sluice_controllers_known": "Controllers connected or away with answers kept.",
        "sluice_invokers": "Invokers per state.",
        "sluice_invoker_slots": "Slots advertised by invokers that take work.",
        "sluice_invoker_slots_free": "Free slots of invokers that take work.",
        "sluice_invoker_memory_bytes": "Memory advertised by invokers that take work.",
        "sluice_invoker_memory_free_bytes": "Free memory of invokers that take work.",
        "sluice_invoker_slots_used": "Slots in use, per invoker.",
        "sluice_invoker_slots_advertised": "Slots advertised, per invoker.",
        "sluice_invoker_memory_used_bytes": "Memory in use, per invoker.",
        "sluice_invoker_memory_advertised_bytes": "Memory advertised, per invoker.",
        "sluice_invoker_last_seen_seconds": "Time since the invoker's last message.",
        "sluice_invoker_state": "1 for the invoker's current state, 0 for the others.",
        "sluice_invoker_series_omitted": "Invokers without per-invoker series (past monitor.max-invoker-series).",
        "sluice_overflow_store_records": "Live records in the overflow store.",
        "sluice_overflow_store_bytes": "Bytes the overflow store holds on disk.",
        "sluice_overflow_store_budget_bytes": "The overflow store's budget.",
        "sluice_overflow_store_broken": "1 once the overflow store broke and was abandoned.",
        "sluice_activation_wait_seconds": "ACTIVATE to DISPATCH: time waiting for room.",
        "sluice_activation_run_seconds": "DISPATCH to COMPLETION: time on the invoker.",
        "sluice_activation_answer_seconds": "ACTIVATE to ANSWER: what the controller waited.",
        "sluice_loop_turn_seconds": "Duration of broker loop turns that handled messages.",
        "sluice_loop_tick_lateness_seconds": "How late the broker loop's ticks ran.",
    ]
}
