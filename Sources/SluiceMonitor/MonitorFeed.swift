import Foundation
import SluiceCore
import Synchronization

/// What the broker loop publishes for the monitoring endpoint (docs/OPERATIONS.md): the
/// core's counters and tables, and what only the shell knows (strategy, overflow store, the
/// loop's own health).
public struct MonitorSnapshot: Sendable {
    public enum State: String, Sendable, Codable {
        /// Bound, recovering the overflow store: not ready yet.
        case starting
        case running
        /// Shutting down: new work is refused, in-flight work finishes.
        case draining
        case stopped
    }

    public var state = State.starting
    public var strategy = ""
    public var counters = BrokerCounters()
    public var broker = BrokerSnapshot()
    public var overflow: OverflowStatus?
    /// The placement trace being recorded (docs/TRACES.md); nil: none.
    public var trace: TraceStatus?
    /// Loop turns longer than the slow threshold, and ticks that came late, since start.
    public var slowTurns = 0
    public var lateTicks = 0

    public init() {}
}

/// This broker's view of its cluster, as `/status` shows it (docs/CLUSTER.md); absent on a
/// single node.
public struct ClusterStatus: Sendable, Equatable, Codable {
    public struct Member: Sendable, Equatable, Codable {
        public var id: String
        public var state: String
        public var incarnation: String
        public var controllerEndpoint: String
        public var invokerEndpoint: String
        public var invokers: Int
        public var slots: Int

        public init(id: String, state: String, incarnation: String, controllerEndpoint: String, invokerEndpoint: String,
                    invokers: Int, slots: Int) {
            self.id = id
            self.state = state
            self.incarnation = incarnation
            self.controllerEndpoint = controllerEndpoint
            self.invokerEndpoint = invokerEndpoint
            self.invokers = invokers
            self.slots = slots
        }
    }

    public var name: String
    public var incarnation: String
    public var etcdReachable: Bool
    public var members: [Member]

    public init(name: String, incarnation: String, etcdReachable: Bool, members: [Member]) {
        self.name = name
        self.incarnation = incarnation
        self.etcdReachable = etcdReachable
        self.members = members
    }
}

/// The overflow store as the monitor shows it; nil in a snapshot: in-memory store.
public struct OverflowStatus: Sendable, Equatable, Codable {
    public var store: String
    public var records: Int
    public var bytes: Int
    public var budgetBytes: Int?
    /// Why the store was abandoned (§ "Overflow" in docs/ARCHITECTURE.md), nil while it works.
    public var broken: String?

    public init(store: String, records: Int, bytes: Int, budgetBytes: Int?, broken: String?) {
        self.store = store
        self.records = records
        self.bytes = bytes
        self.budgetBytes = budgetBytes
        self.broken = broken
    }
}

/// The placement trace as `/status` shows it: where, how much, and why it stopped if it did.
public struct TraceStatus: Sendable, Equatable, Codable {
    public var path: String
    public var records: Int
    public var bytes: Int
    public var segments: Int
    public var dropped: Int
    public var stopped: String?

    public init(path: String, records: Int, bytes: Int, segments: Int, dropped: Int, stopped: String?) {
        self.path = path
        self.records = records
        self.bytes = bytes
        self.segments = segments
        self.dropped = dropped
        self.stopped = stopped
    }
}

/// One configuration setting in force, as `/status` shows it (never a secret).
public struct ConfigurationEntry: Sendable, Equatable {
    public var key: String
    public var value: String

    public init(_ key: String, _ value: String) {
        self.key = key
        self.value = value
    }
}

/// The only state the loop thread shares with the monitoring endpoint. The loop writes (a
/// snapshot a few times a second, samples and a heartbeat every tick); HTTP requests read.
/// Scraping never waits for the loop, and the loop never waits for a scrape longer than a copy.
public final class MonitorFeed: Sendable {
    public let version: String
    public let startedAt: Date
    public let configuration: [ConfigurationEntry]
    /// How long without a loop tick before `/healthz` fails.
    public let stallAfter: Duration
    let origin = ContinuousClock.now
    private let latest = Mutex(MonitorSnapshot())
    private let clusterStatus = Mutex<ClusterStatus?>(nil)
    private let pending = Mutex(PendingSamples())
    /// Nanoseconds from `origin` to the loop's latest tick; -1 before the first.
    private let lastBeat = Atomic<Int64>(-1)

    public init(version: String, configuration: [ConfigurationEntry], stallAfter: Duration = .seconds(5), startedAt: Date = Date()) {
        self.version = version
        self.configuration = configuration
        self.stallAfter = stallAfter
        self.startedAt = startedAt
    }

    /// Loop thread: the latest state.
    public func publish(_ snapshot: MonitorSnapshot) {
        latest.withLock { $0 = snapshot }
    }

    /// Loop thread: changes only the state (start-up done, shutdown begun, stopped).
    public func setState(_ state: MonitorSnapshot.State) {
        latest.withLock { $0.state = state }
    }

    /// Loop thread: the loop is alive (called every tick).
    public func beat() {
        lastBeat.store(Int64(clamping: origin.duration(to: .now).nanoseconds), ordering: .releasing)
    }

    /// Loop thread: durations measured since the last call, for the histograms.
    public func record(latencies: LatencySamples, turns: [UInt64], tickLateness: [UInt64]) {
        guard !latencies.isEmpty || !turns.isEmpty || !tickLateness.isEmpty else { return }
        pending.withLock { pending in
            pending.add(latencies.waited, to: \.waited)
            pending.add(latencies.ran, to: \.ran)
            pending.add(latencies.answered, to: \.answered)
            pending.add(turns, to: \.turns)
            pending.add(tickLateness, to: \.tickLateness)
            pending.dropped += latencies.dropped
        }
    }

    public var snapshot: MonitorSnapshot { latest.withLock { $0 } }

    /// The cluster view, published by the broker's membership (not the loop).
    public var cluster: ClusterStatus? {
        get { clusterStatus.withLock { $0 } }
    }

    public func publish(cluster: ClusterStatus?) { clusterStatus.withLock { $0 = cluster } }

    /// Time since the loop's last tick; nil before its first.
    public var sinceLastBeat: Duration? {
        let beat = lastBeat.load(ordering: .acquiring)
        guard beat >= 0 else { return nil }
        let current = Int64(clamping: origin.duration(to: .now).nanoseconds)
        return .nanoseconds(max(0, current - beat))
    }

    func takeSamples() -> PendingSamples {
        pending.withLock { pending in
            defer { pending = PendingSamples() }
            return pending
        }
    }
}

/// Samples waiting for the metrics side, bounded: a monitor nobody reads holds at most
/// `capacity` per kind, and counts what it did not keep.
struct PendingSamples {
    var waited: [UInt64] = []
    var ran: [UInt64] = []
    var answered: [UInt64] = []
    var turns: [UInt64] = []
    var tickLateness: [UInt64] = []
    var dropped = 0
    static let capacity = 1 << 20

    mutating func add(_ samples: [UInt64], to kind: WritableKeyPath<PendingSamples, [UInt64]>) {
        let room = max(0, Self.capacity - self[keyPath: kind].count)
        self[keyPath: kind].append(contentsOf: samples.prefix(room))
        dropped += max(0, samples.count - room)
    }
}

extension Duration {
    /// Seconds as a Double, for JSON and Prometheus.
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}
