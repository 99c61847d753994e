import Foundation
import SluiceCore

/// The JSON of `GET /status` (docs/OPERATIONS.md, "/status"). Keys are snake case on the wire.
/// `sluice status` decodes it; anything else may too: fields are only ever added.
public struct StatusDocument: Codable, Sendable, Equatable {
    public struct Invoker: Codable, Sendable, Equatable {
        public var id: String
        /// healthy, probing, unhealthy, unresponsive, or draining.
        public var state: String
        public var slotsUsed: Int
        public var slots: Int
        public var memoryUsedMb: UInt64
        public var memoryMb: Int
        public var inFlight: Int
        public var lastSeenSecondsAgo: Double
        public var warmActions: Int
    }

    public struct Controller: Codable, Sendable, Equatable {
        public var id: String
        public var connected: Bool
        public var inFlight: Int
        public var parked: Int
    }

    public struct NamespaceWaiting: Codable, Sendable, Equatable {
        public var namespace: String
        public var waiting: Int
    }

    public struct Gauges: Codable, Sendable, Equatable {
        public var waiting: Int
        public var waitingBytes: Int
        public var inFlight: Int
        public var parkedAnswers: Int
        public var controllersConnected: Int
        public var invokers: Int
        public var slots: Int
        public var slotsFree: Int
        public var memoryMb: UInt64
        public var memoryFreeMb: UInt64
    }

    public var version: String
    public var startedAt: String
    public var uptimeSeconds: Double
    /// starting, running, draining or stopped.
    public var state: String
    public var strategy: String
    /// Settings in force, by configuration key; secrets are never listed.
    public var configuration: [String: String]
    /// Every counter of the exit summary, by its summary name.
    public var counters: [String: Int]
    public var gauges: Gauges
    public var invokers: [Invoker]
    public var controllers: [Controller]
    /// Most waiting first; at most `waitingNamespacesShown`, the rest summed in `waitingOtherNamespaces`.
    public var waitingByNamespace: [NamespaceWaiting]
    public var waitingOtherNamespaces: Int
    public var overflow: OverflowStatus?
    /// The placement trace being recorded; null when none is.
    public var trace: TraceStatus?
    public var loop: Loop
    /// This broker's view of its cluster; null on a single node.
    public var cluster: ClusterStatus?

    public struct Loop: Codable, Sendable, Equatable {
        /// Seconds since the loop's last tick (null before the first).
        public var lastTickSecondsAgo: Double?
        public var slowTurns: Int
        public var lateTicks: Int
    }

    /// Namespaces listed by name in `waitingByNamespace`.
    public static let waitingNamespacesShown = 50

    public init(feed: MonitorFeed, now: Date = Date()) {
        let snapshot = feed.snapshot
        let broker = snapshot.broker
        version = feed.version
        startedAt = ISO8601DateFormatter().string(from: feed.startedAt)
        uptimeSeconds = max(0, now.timeIntervalSince(feed.startedAt))
        state = snapshot.state.rawValue
        strategy = snapshot.strategy
        configuration = Dictionary(feed.configuration.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
        counters = Dictionary(snapshot.counters.fields, uniquingKeysWith: { _, last in last })
        gauges = Gauges(waiting: broker.waiting, waitingBytes: broker.waitingBytes, inFlight: broker.inFlight,
                        parkedAnswers: broker.parkedAnswers, controllersConnected: broker.connectedControllers,
                        invokers: broker.invokers.count, slots: broker.slots, slotsFree: broker.freeSlots,
                        memoryMb: broker.memoryMB, memoryFreeMb: broker.freeMemoryMB)
        invokers = broker.invokers.map { invoker in
            Invoker(id: invoker.id, state: invoker.draining ? "draining" : invoker.health.rawValue,
                    slotsUsed: Int(invoker.slotsUsed), slots: Int(invoker.slots), memoryUsedMb: invoker.memoryUsedMB,
                    memoryMb: Int(invoker.memoryMB), inFlight: invoker.inFlight,
                    lastSeenSecondsAgo: invoker.sinceLastSeen.seconds, warmActions: invoker.warmActions)
        }
        controllers = broker.controllers.map { Controller(id: $0.id, connected: $0.connected, inFlight: $0.inFlight, parked: $0.parked) }
        let shown = broker.waitingByNamespace.prefix(Self.waitingNamespacesShown)
        waitingByNamespace = shown.map { NamespaceWaiting(namespace: $0.namespace, waiting: $0.waiting) }
        waitingOtherNamespaces = broker.waitingByNamespace.dropFirst(shown.count).map(\.waiting).reduce(0, +)
        overflow = snapshot.overflow
        trace = snapshot.trace
        loop = Loop(lastTickSecondsAgo: feed.sinceLastBeat?.seconds, slowTurns: snapshot.slowTurns, lateTicks: snapshot.lateTicks)
        cluster = feed.cluster
    }

    public func json() -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        // Encoding plain values cannot fail.
        return (try? encoder.encode(self)) ?? Data("{}".utf8)
    }

    public static func decode(_ data: Data) throws -> StatusDocument {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(StatusDocument.self, from: data)
    }
}
