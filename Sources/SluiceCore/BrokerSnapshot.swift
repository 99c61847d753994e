import SluicePluginAPI
import SluiceProtocol

/// What a running broker looks like at one instant: the tables an operator reads in
/// `/status` and the gauges `/metrics` exports (docs/OPERATIONS.md). Plain values, built by
/// the core on request (`BrokerCore.snapshot()`); the shell publishes it, the monitor reads it.
public struct BrokerSnapshot: Sendable, Equatable {
    public struct Invoker: Sendable, Equatable {
        public var id: String
        public var health: InvokerHealth
        public var draining: Bool
        public var slots: UInt32
        public var slotsUsed: UInt32
        public var memoryMB: UInt32
        public var memoryUsedMB: UInt64
        public var inFlight: Int
        /// Time since its last message of any kind.
        public var sinceLastSeen: Duration
        /// Actions it reported warm containers for (§4.12).
        public var warmActions: Int
    }

    public struct Controller: Sendable, Equatable {
        public var id: String
        public var connected: Bool
        public var inFlight: Int
        /// Answers kept for it while it is away (§6.4).
        public var parked: Int
    }

    public var invokers: [Invoker] = []
    public var controllers: [Controller] = []
    /// Activations waiting, by namespace, most first (ties by name).
    public var waitingByNamespace: [(namespace: String, waiting: Int)] = []
    public var inFlight = 0
    public var waiting = 0
    public var waitingBytes = 0
    public var parkedAnswers = 0
    public var parkedBytes = 0
    public var shuttingDown = false

    public init() {}

    public var connectedControllers: Int { controllers.count(where: \.connected) }
    /// Advertised slots and memory of the invokers that take work (not draining).
    public var slots: Int { invokers.lazy.filter { !$0.draining }.map { Int($0.slots) }.reduce(0, +) }
    public var freeSlots: Int {
        invokers.lazy.filter { !$0.draining }.map { $0.slots > $0.slotsUsed ? Int($0.slots - $0.slotsUsed) : 0 }.reduce(0, +)
    }
    public var memoryMB: UInt64 { invokers.lazy.filter { !$0.draining }.map { UInt64($0.memoryMB) }.reduce(0, +) }
    public var freeMemoryMB: UInt64 {
        invokers.lazy.filter { !$0.draining }
            .map { UInt64($0.memoryMB) > $0.memoryUsedMB ? UInt64($0.memoryMB) - $0.memoryUsedMB : 0 }.reduce(0, +)
    }

    /// Invokers per state: every health state, and `draining` for those that asked for no work.
    public var invokersByState: [(state: String, count: Int)] {
        var result = InvokerHealth.allCases.map { health in
            (state: health.rawValue, count: invokers.count(where: { !$0.draining && $0.health == health }))
        }
        result.append((state: "draining", count: invokers.count(where: \.draining)))
        return result
    }

    public static func == (lhs: BrokerSnapshot, rhs: BrokerSnapshot) -> Bool {
        lhs.invokers == rhs.invokers && lhs.controllers == rhs.controllers
            && lhs.waitingByNamespace.elementsEqual(rhs.waitingByNamespace, by: { $0 == $1 })
            && lhs.inFlight == rhs.inFlight && lhs.waiting == rhs.waiting && lhs.waitingBytes == rhs.waitingBytes
            && lhs.parkedAnswers == rhs.parkedAnswers && lhs.parkedBytes == rhs.parkedBytes && lhs.shuttingDown == rhs.shuttingDown
    }
}

/// Durations the core measured since they were last taken, in nanoseconds, for the latency
/// histograms (docs/OPERATIONS.md). Recorded only when `BrokerConfiguration.recordsLatencies`
/// is on; bounded: past `capacity` samples per kind, further ones are only counted in
/// `dropped` until the shell takes them (it does every tick).
public struct LatencySamples: Sendable, Equatable {
    /// ACTIVATE to DISPATCH: time spent waiting for room (zero for one placed at once).
    public var waited: [UInt64] = []
    /// DISPATCH to COMPLETION: time on the invoker.
    public var ran: [UInt64] = []
    /// ACTIVATE to ANSWER: what the controller waited, whatever the answer.
    public var answered: [UInt64] = []
    public var dropped = 0
    public let capacity: Int

    public init(capacity: Int = 65_536) { self.capacity = capacity }

    public var isEmpty: Bool { waited.isEmpty && ran.isEmpty && answered.isEmpty && dropped == 0 }

    /// Which histogram a sample belongs to (a key path here cost a runtime call per sample).
    enum Kind { case waited, ran, answered }

    mutating func add(_ duration: UInt64, to kind: Kind) {
        switch kind {
        case .waited: Self.append(duration, to: &waited, capacity: capacity, dropped: &dropped)
        case .ran: Self.append(duration, to: &ran, capacity: capacity, dropped: &dropped)
        case .answered: Self.append(duration, to: &answered, capacity: capacity, dropped: &dropped)
        }
    }

    private static func append(_ duration: UInt64, to samples: inout [UInt64], capacity: Int, dropped: inout Int) {
        if samples.count < capacity { samples.append(duration) } else { dropped += 1 }
    }
}

extension BrokerCore {
    /// Slots free on invokers that can take work now (healthy or probing, not draining): what a
    /// broker of a cluster advertises to controllers (docs/CLUSTER.md). O(invokers).
    public var freeSlots: Int {
        invokers.values.reduce(0) { total, invoker in
            invoker.canTake(memoryMB: 1) ? total + Int(invoker.slots - min(invoker.usedSlots, invoker.slots)) : total
        }
    }

    /// Slots advertised by invokers that take work (not draining). O(invokers).
    public var snapshotSlots: Int {
        invokers.values.reduce(0) { total, invoker in invoker.draining ? total : total + Int(invoker.slots) }
    }

    /// The tables and gauges of `BrokerSnapshot`. O(invokers + controllers + namespaces +
    /// activations in flight): the shell calls it a few times a second at most, never per message.
    public func snapshot() -> BrokerSnapshot {
        var result = BrokerSnapshot()
        result.invokers = invokers.values.map { invoker in
            BrokerSnapshot.Invoker(id: invoker.id, health: invoker.health, draining: invoker.draining, slots: invoker.slots,
                                   slotsUsed: invoker.usedSlots, memoryMB: invoker.memoryMB, memoryUsedMB: invoker.usedMemoryMB,
                                   inFlight: invoker.inFlight.count, sinceLastSeen: now.since(invoker.lastSeen),
                                   warmActions: invoker.warm.count)
        }.sorted { $0.id < $1.id }
        var inFlightByController: [String: Int] = [:]
        inFlight.forEachLive { record in inFlightByController[record.answerTo, default: 0] += 1 }
        result.controllers = controllers.values.map { controller in
            BrokerSnapshot.Controller(id: controller.id, connected: controller.route != nil,
                                      inFlight: inFlightByController[controller.id, default: 0], parked: controller.parkedCount)
        }.sorted { $0.id < $1.id }
        result.waitingByNamespace = waiting.perNamespace.map { (namespace: $0.key, waiting: $0.value) }
            .sorted { $0.waiting != $1.waiting ? $0.waiting > $1.waiting : $0.namespace < $1.namespace }
        result.inFlight = inFlight.count
        result.waiting = waiting.count
        result.waitingBytes = waiting.bytes
        result.parkedAnswers = parkedTotal
        result.parkedBytes = parkedBytes
        result.shuttingDown = shuttingDown
        return result
    }

    /// The latency samples recorded since the last call (see `LatencySamples`); the core
    /// starts a new, empty set.
    public mutating func takeLatencySamples() -> LatencySamples {
        let taken = latencySamples
        latencySamples = LatencySamples(capacity: taken.capacity)
        return taken
    }

    /// Time from `start` to now, in nanoseconds, recorded as `kind` if the configuration asks.
    @inline(__always)
    mutating func recordLatency(since start: Timestamp, as kind: LatencySamples.Kind) {
        guard configuration.recordsLatencies else { return }
        latencySamples.add(now.nanoseconds >= start.nanoseconds ? now.nanoseconds - start.nanoseconds : 0, to: kind)
    }

    /// When an in-flight activation was dispatched: its deadline less the allowance it was given
    /// (`completionDeadline`), so the record need not carry a second timestamp.
    func dispatchedAt(_ record: InFlightRecord) -> Timestamp {
        let allowance = completionDeadline(timeLimitMilliseconds: record.timeLimitMilliseconds).nanoseconds &- now.nanoseconds
        return Timestamp(nanoseconds: record.deadline.nanoseconds > allowance ? record.deadline.nanoseconds - allowance : 0)
    }
}
